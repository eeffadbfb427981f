//! Typed, layered, secret-aware configuration.
//!
//! Layers, later wins: `config/default.toml` → an optional file given with
//! `--config` → `KIRIM_…` environment variables (`__` separates sections, e.g.
//! `KIRIM_REDIS__URL`, `KIRIM_PROVIDERS__IFORTEPAY__CLIENT_SECRET`).
//!
//! Secrets (client secrets, API keys, passwords) are never read from a config file:
//! a secret key found in a file is a start-up error. They come from the environment,
//! or from a file *path* (`client_secret_file`) so that Kubernetes secrets and Docker
//! secrets mount cleanly. Private keys are always paths.
//!
//! Everything is validated at start; an error names the key and the rule.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::Secret;

mod load;
mod provider_sections;

pub use self::load::{config_dir, resolve_secret, PROVIDER_SECRET_KEYS};
pub use self::provider_sections::{
    EndpointUrlMode, HttpSettings, ProviderSection, ProvidersSettings,
};

/// A configuration problem, naming the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration key `{key}`: {rule}")]
    Invalid { key: String, rule: String },
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, rule: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            rule: rule.into(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, coloured on a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub redis: RedisSettings,
    pub log: LogSettings,
    pub worker: WorkerSettings,
    pub reconcile: ReconcileSettings,
    pub api: ApiSettings,
    pub notify: NotifySettings,
    pub providers: ProvidersSettings,
    /// The operator console at `/ui` (optional section; no users = nobody can log in).
    #[serde(default)]
    pub console: ConsoleSettings,
}

/// What a console user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsoleRole {
    /// Sees every page; every action is refused (server-side).
    Viewer,
    /// May also resolve reviews, re-drive dead letters and redeliver notifications.
    Operator,
}

impl ConsoleRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleRole::Viewer => "viewer",
            ConsoleRole::Operator => "operator",
        }
    }
}

/// One console user. Separate from API keys: people, not applications.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleUser {
    /// Login name, also the actor recorded in the audit trail.
    pub name: String,
    pub role: ConsoleRole,
    /// PHC string of the password (argon2id), from `kirim console hash-password`.
    /// A hash is not a secret, so it may live in a config file (like `api.keys`).
    pub password_hash: String,
}

/// `[console]`: users and the session signing key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// Serve the console at `/ui` in `kirim serve`.
    pub enabled: bool,
    /// How long a login lasts.
    pub session_ttl_secs: u64,
    /// HMAC key signing session cookies (environment only:
    /// KIRIM_CONSOLE__SESSION_KEY, or `session_key_file`). Without one each process
    /// makes a random key: sessions then end on restart and do not cross replicas.
    #[serde(skip_serializing)]
    pub session_key: Option<Secret>,
    pub session_key_file: Option<PathBuf>,
    /// Mark the session cookie `Secure` (HTTPS only). Turn on behind TLS.
    pub secure_cookie: bool,
    pub users: Vec<ConsoleUser>,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            enabled: true,
            session_ttl_secs: 8 * 3600,
            session_key: None,
            session_key_file: None,
            secure_cookie: false,
            users: Vec::new(),
        }
    }
}

impl ConsoleSettings {
    /// The configured session key, if any.
    pub fn session_key(&self) -> Result<Option<Secret>, ConfigError> {
        if self.session_key.as_ref().is_some_and(|k| !k.is_empty())
            || self.session_key_file.is_some()
        {
            resolve_secret(
                &self.session_key,
                &self.session_key_file,
                "console.session_key",
            )
            .map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Application notifications: a signed POST when a payout reaches a final state.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// Where to POST events; empty disables notifications.
    pub url: String,
    /// HMAC-SHA256 key for `X-Kirim-Signature` (environment only: KIRIM_NOTIFY__SECRET).
    #[serde(default, skip_serializing)]
    pub secret: Option<Secret>,
    pub secret_file: Option<PathBuf>,
    pub max_attempts: u32,
    pub timeout_ms: u64,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
}

impl NotifySettings {
    pub fn secret(&self) -> Result<Secret, ConfigError> {
        resolve_secret(&self.secret, &self.secret_file, "notify.secret")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every kirim key (one slot of one primary; see deploy/README.md).
    pub namespace: String,
    /// What must be durable before an enqueue is answered and before a send:
    /// `fsync` (the server's `appendfsync always`, checked at start), `replicas`
    /// (`WAIT`), `replicas_fsync` (`WAITAOF`, Redis ≥ 7.2) or `none`.
    #[serde(default)]
    pub durability: crate::durability::Durability,
    /// Replicas that must acknowledge a write in the `replicas*` modes.
    #[serde(default = "default_replicas")]
    pub replicas: u32,
    /// How long a write waits for them (below the connection's 500 ms response timeout).
    #[serde(default = "default_replica_timeout_ms")]
    pub replica_timeout_ms: u64,
    /// Find the primary through Redis Sentinel instead of `url`'s host (see
    /// `redis_conn`). `url` still gives the database number and credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel: Option<SentinelSettings>,
}

fn default_replicas() -> u32 {
    1
}

fn default_replica_timeout_ms() -> u64 {
    200
}

/// The top-level sections of [`Settings`]: the only `KIRIM_<SECTION>__*`
/// environment variables read as configuration.
pub const CONFIG_SECTIONS: &[&str] = &[
    "redis",
    "log",
    "worker",
    "reconcile",
    "api",
    "notify",
    "providers",
    "console",
];

impl RedisSettings {
    /// What the ledger waits for after a write that must survive.
    pub fn wait_for(&self) -> crate::durability::WaitFor {
        crate::durability::WaitFor {
            mode: self.durability,
            replicas: self.replicas,
            timeout: Duration::from_millis(self.replica_timeout_ms),
        }
    }
}

/// `[redis.sentinel]`: which sentinels to ask for the primary of which master.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelSettings {
    /// The name the sentinels monitor the primary under (`sentinel monitor NAME …`).
    pub master_name: String,
    /// Sentinel addresses, `redis://host:26379` (credentials for the sentinels
    /// themselves go in these URLs).
    pub nodes: Vec<String>,
}

impl SentinelSettings {
    fn validate(&self, url: &str) -> Result<(), ConfigError> {
        if url.starts_with("rediss://") {
            return Err(ConfigError::invalid(
                "redis.url",
                "TLS (rediss://) through Sentinel is not supported by this build",
            ));
        }
        if self.master_name.is_empty() {
            return Err(ConfigError::invalid(
                "redis.sentinel.master_name",
                "must not be empty",
            ));
        }
        if self.nodes.is_empty() {
            return Err(ConfigError::invalid(
                "redis.sentinel.nodes",
                "must list at least one sentinel",
            ));
        }
        if let Some(bad) = self.nodes.iter().find(|n| !n.starts_with("redis://")) {
            return Err(ConfigError::invalid(
                "redis.sentinel.nodes",
                format!("{bad:?} must start with redis://"),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `tracing` env-filter directive, e.g. `info,kirim=debug`. `RUST_LOG` wins.
    pub filter: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Jobs handled at once per worker process.
    pub concurrency: usize,
    /// How often an idle worker polls Redis (APALIS.md pitfall 5).
    pub poll_interval_ms: u64,
    /// Attempts per job before it is dead-lettered (kirim enforces this, not apalis).
    pub max_attempts: u32,
    /// Full-jitter exponential backoff base and cap.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// A payout that could not be sent (connection refused, 429, refused for
    /// configuration) is retried for this long before it is dead-lettered.
    #[serde(default = "default_retry_window_secs")]
    pub retry_window_secs: u64,
    /// Heartbeat interval; an orphaned job is re-run after `heartbeat × missed`.
    pub heartbeat_secs: u64,
    pub missed_heartbeats: u32,
    /// How long shutdown waits for in-flight jobs.
    pub shutdown_timeout_secs: u64,
    /// How long finished apalis job data is kept (retention).
    pub finished_job_ttl_secs: u64,
    /// A payout final for this long is moved to its cold form
    /// ([`crate::ledger::ColdRecord`]) by the housekeeping pass.
    #[serde(default = "default_compact_final_after_secs")]
    pub compact_final_after_secs: u64,
    /// How often one replica runs housekeeping (retention, then compaction).
    #[serde(default = "default_housekeeping_secs")]
    pub housekeeping_secs: u64,
    /// A lane with jobs waiting that started none for this long gets fresh
    /// apalis workers ([`crate::lane_watch`]).
    #[serde(default = "default_stall_secs")]
    pub stall_secs: u64,
    /// Runtime threads of a `kirim worker` process; 0 means one per core. With as
    /// many worker processes as cores, 1 saves the cross-thread wake-ups.
    #[serde(default)]
    pub threads: usize,
}

fn default_housekeeping_secs() -> u64 {
    60
}

fn default_compact_final_after_secs() -> u64 {
    60
}

fn default_retry_window_secs() -> u64 {
    1800
}

fn default_stall_secs() -> u64 {
    30
}

fn default_max_resubmits() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSettings {
    /// Seconds between sweeps.
    pub tick_secs: u64,
    /// Delays between polls of one payout; the last repeats.
    pub schedule_secs: Vec<u64>,
    /// After this long unresolved, a payout becomes NEEDS_REVIEW.
    pub horizon_secs: u64,
    /// An UNKNOWN payout reported "not found" is resubmitted only after this long.
    pub not_found_grace_secs: u64,
    /// How many times a payout proven "not found" may be resubmitted; then NEEDS_REVIEW.
    #[serde(default = "default_max_resubmits")]
    pub max_resubmits: u32,
    /// Most payouts one sweep enqueues.
    pub batch: usize,
    /// Safety net: an ACCEPTED payout whose job has not run by then is re-driven.
    pub stuck_after_secs: u64,
    /// Run the sweep inside `kirim worker` too (safe on every replica: once per tick).
    pub in_worker: bool,
    /// A SUBMITTING payout younger than this may still be in flight; default:
    /// three request timeouts plus 5 s.
    #[serde(default)]
    pub submit_grace_secs: Option<u64>,
    /// Per-provider schedule and horizon, e.g. `[reconcile.providers.nicepay]`.
    #[serde(default)]
    pub providers: std::collections::BTreeMap<crate::domain::Provider, ProviderSchedule>,
    /// Settle due iFortepay payouts with history-list pages when at least this many
    /// are due in one sweep (0 = never; per-payout inquiry only).
    #[serde(default)]
    pub history_batch_min: usize,
}

/// A provider's own polling schedule and review horizon.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSchedule {
    pub schedule_secs: Vec<u64>,
    pub horizon_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    pub bind: String,
    /// API keys, stored as lowercase hex SHA-256 of the key (hashes are not secrets).
    #[serde(default)]
    pub keys: Vec<ApiKey>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Sustained requests per second per API key, and the burst above it.
    pub rate_limit_per_sec: u32,
    pub rate_limit_burst: u32,
}

/// One API client: a name for the audit trail and the SHA-256 of its key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub name: String,
    pub sha256: String,
}

impl Settings {
    /// Rules serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.api.max_body_bytes == 0 {
            return Err(ConfigError::invalid(
                "api.max_body_bytes",
                "must be at least 1 (every request would be refused as too large)",
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.filter) {
            return Err(ConfigError::invalid(
                "log.filter",
                format!("not a tracing filter directive: {e}"),
            ));
        }
        if !(1..=400).contains(&self.redis.replica_timeout_ms) {
            return Err(ConfigError::invalid(
                "redis.replica_timeout_ms",
                "must be 1 to 400 (below the Redis connection's 500 ms response timeout)",
            ));
        }
        if !self.redis.url.starts_with("redis://") && !self.redis.url.starts_with("rediss://") {
            return Err(ConfigError::invalid(
                "redis.url",
                "must start with redis:// or rediss://",
            ));
        }
        if self.redis.namespace.is_empty() {
            return Err(ConfigError::invalid("redis.namespace", "must not be empty"));
        }
        if let Some(sentinel) = &self.redis.sentinel {
            sentinel.validate(&self.redis.url)?;
        }
        let w = &self.worker;
        if w.concurrency == 0 || w.concurrency > 10_000 {
            return Err(ConfigError::invalid(
                "worker.concurrency",
                "must be between 1 and 10000",
            ));
        }
        if w.max_attempts == 0 {
            return Err(ConfigError::invalid(
                "worker.max_attempts",
                "must be at least 1",
            ));
        }
        if w.poll_interval_ms == 0 {
            return Err(ConfigError::invalid(
                "worker.poll_interval_ms",
                "must be at least 1",
            ));
        }
        if w.backoff_base_ms == 0 || w.backoff_max_ms < w.backoff_base_ms {
            return Err(ConfigError::invalid(
                "worker.backoff_max_ms",
                "must be at least worker.backoff_base_ms, which must be positive",
            ));
        }
        if w.heartbeat_secs == 0 || w.missed_heartbeats == 0 {
            return Err(ConfigError::invalid(
                "worker.heartbeat_secs",
                "heartbeat_secs and missed_heartbeats must be positive",
            ));
        }
        let r = &self.reconcile;
        if r.schedule_secs.is_empty() || r.schedule_secs.contains(&0) {
            return Err(ConfigError::invalid(
                "reconcile.schedule_secs",
                "must list at least one positive delay",
            ));
        }
        for (p, ps) in &r.providers {
            if ps.schedule_secs.is_empty() || ps.schedule_secs.contains(&0) {
                return Err(ConfigError::invalid(
                    format!("reconcile.providers.{p}.schedule_secs"),
                    "must list at least one positive delay",
                ));
            }
        }
        if r.tick_secs == 0 || r.batch == 0 {
            return Err(ConfigError::invalid(
                "reconcile.tick_secs",
                "tick_secs and batch must be positive",
            ));
        }
        for name in self.providers.names() {
            let http = self.providers.http(name)?;
            if !http.base_url.starts_with("http://") && !http.base_url.starts_with("https://") {
                return Err(ConfigError::invalid(
                    format!("providers.{name}.base_url"),
                    "must start with http:// or https://",
                ));
            }
            if http.connect_timeout_ms == 0 || http.request_timeout_ms == 0 {
                return Err(ConfigError::invalid(
                    format!("providers.{name}.request_timeout_ms"),
                    "connect and request timeouts must be positive",
                ));
            }
        }
        for (i, k) in self.api.keys.iter().enumerate() {
            if k.sha256.len() != 64 || !k.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ConfigError::invalid(
                    format!("api.keys[{i}].sha256"),
                    "must be 64 hex digits (sha256sum of the key)",
                ));
            }
        }
        for (i, u) in self.console.users.iter().enumerate() {
            if u.name.trim().is_empty() || u.name.len() > 64 {
                return Err(ConfigError::invalid(
                    format!("console.users[{i}].name"),
                    "must be 1 to 64 characters",
                ));
            }
            if argon2::PasswordHash::new(&u.password_hash).is_err() {
                return Err(ConfigError::invalid(
                    format!("console.users[{i}].password_hash"),
                    "must be a PHC string from `kirim console hash-password`",
                ));
            }
        }
        if self.console.session_ttl_secs == 0 {
            return Err(ConfigError::invalid(
                "console.session_ttl_secs",
                "must be positive",
            ));
        }
        Ok(())
    }

    /// Orphaned-job recovery bound: heartbeat × missed heartbeats.
    pub fn orphan_recovery_bound(&self) -> Duration {
        Duration::from_secs(self.worker.heartbeat_secs * u64::from(self.worker.missed_heartbeats))
    }
}

#[cfg(test)]
mod tests;
