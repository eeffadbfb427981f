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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::Secret;

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
}

fn default_retry_window_secs() -> u64 {
    1800
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

/// `[providers.NAME]`: one section per provider, each read by its own module
/// (`providers::registry`); this file knows only the keys every provider shares.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct ProvidersSettings(BTreeMap<String, ProviderSection>);

/// One provider's section, kept as loaded until its module parses it.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct ProviderSection(figment::value::Dict);

impl std::fmt::Debug for ProviderSection {
    /// Keys only: a section may hold a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl ProviderSection {
    /// `enabled = true`; a section without it is off.
    pub fn enabled(&self) -> bool {
        match self.0.get("enabled") {
            Some(figment::value::Value::Bool(_, on)) => *on,
            // From the environment every value is text.
            Some(figment::value::Value::String(_, text)) => text.trim() == "true",
            _ => false,
        }
    }

    /// The section as the provider's own settings type; errors name the key
    /// (`providers.NAME.key`) and the rule.
    pub fn parse<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        // Lossy, as the whole configuration is: a value from the environment is
        // text ("5000") even where the provider expects a number.
        Figment::from(figment::providers::Serialized::defaults(&self.0))
            .extract_lossy::<T>()
            .map_err(|e| {
                let mut key = format!("providers.{name}");
                for part in e.path.iter() {
                    key.push('.');
                    key.push_str(part);
                }
                ConfigError::invalid(key, e.kind.to_string())
            })
    }

    /// A top-level text value (`base_url`, `client_id`).
    pub fn text(&self, key: &str) -> Option<&str> {
        match self.0.get(key) {
            Some(figment::value::Value::String(_, v)) => Some(v.as_str()),
            _ => None,
        }
    }

    /// The top-level keys naming files (`*_path`, `*_file`) with their values.
    pub fn file_keys(&self) -> Vec<(String, PathBuf)> {
        self.0
            .iter()
            .filter(|(k, _)| k.ends_with("_path") || k.ends_with("_file"))
            .filter_map(|(k, v)| match v {
                figment::value::Value::String(_, s) => Some((k.clone(), PathBuf::from(s))),
                _ => None,
            })
            .collect()
    }

    /// Set `dotted_key` (e.g. `base_url`, `merchant.sender_city`): for tests, the
    /// demo and the bench, which point providers at the sandbox.
    pub fn set(&mut self, dotted_key: &str, value: impl Into<figment::value::Value>) {
        let mut parts: Vec<&str> = dotted_key.split('.').collect();
        let last = parts.pop().unwrap_or(dotted_key);
        let mut dict = &mut self.0;
        for part in parts {
            let entry = dict
                .entry(part.to_owned())
                .or_insert_with(|| figment::value::Value::from(figment::value::Dict::new()));
            if !matches!(entry, figment::value::Value::Dict(..)) {
                *entry = figment::value::Value::from(figment::value::Dict::new());
            }
            let figment::value::Value::Dict(_, inner) = entry else {
                return;
            };
            dict = inner;
        }
        dict.insert(last.to_owned(), value.into());
    }
}

impl ProvidersSettings {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn section(&self, name: &str) -> Option<&ProviderSection> {
        self.0.get(name)
    }

    /// The section, created empty if missing.
    pub fn section_mut(&mut self, name: &str) -> &mut ProviderSection {
        self.0.entry(name.to_owned()).or_default()
    }

    /// Set one key of one provider's section (see [`ProviderSection::set`]).
    pub fn set(&mut self, name: &str, dotted_key: &str, value: impl Into<figment::value::Value>) {
        self.section_mut(name).set(dotted_key, value);
    }

    /// One provider's section as its settings type; a missing section is an error
    /// naming it.
    pub fn parse<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        self.section(name)
            .ok_or_else(|| ConfigError::invalid(format!("providers.{name}"), "section is missing"))?
            .parse(name)
    }

    /// The HTTP keys every provider shares.
    pub fn http(&self, name: &str) -> Result<HttpSettings, ConfigError> {
        self.parse(name)
    }

    /// Names of the enabled sections.
    pub fn enabled(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(|(_, s)| s.enabled())
            .map(|(n, _)| n.as_str())
    }
}

/// How the SNAP `EndpointUrl` in the string-to-sign is formed (NOTES.md: unconfirmed
/// for iFortepay, whose page says "full URL").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EndpointUrlMode {
    /// Path and query only: `/api/v1.2/transfer-interbank`.
    #[default]
    Relative,
    /// Scheme, host, path and query.
    Absolute,
}

/// Settings every HTTP provider shares (flattened into each provider's section).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HttpSettings {
    pub base_url: String,
    #[serde(deserialize_with = "number_or_text")]
    pub connect_timeout_ms: u64,
    #[serde(deserialize_with = "number_or_text")]
    pub request_timeout_ms: u64,
    /// Refresh a cached token this long before it expires.
    #[serde(deserialize_with = "number_or_text")]
    pub token_refresh_margin_secs: u64,
}

/// A whole number given as a number or as text (`"2000"`, as every environment
/// value is). Needed where a section is flattened: serde then buffers the values
/// and figment's lossy conversion no longer applies.
fn number_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    match Either::deserialize(d)? {
        Either::Number(n) => Ok(n),
        Either::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("expected a whole number, found {t:?}"))),
    }
}

impl HttpSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// Keys that hold secrets and therefore must not come from a file.
const SECRET_KEYS: &[&str] = &["notify.secret", "console.session_key"];

/// Keys of a provider section that hold secrets (`providers.NAME.KEY`).
pub const PROVIDER_SECRET_KEYS: &[&str] = &["client_secret", "api_key", "private_key"];

/// Resolve a secret from its value or its file.
pub fn resolve_secret(
    value: &Option<Secret>,
    file: &Option<PathBuf>,
    key: &str,
) -> Result<Secret, ConfigError> {
    if let Some(v) = value {
        if !v.is_empty() {
            return Ok(v.clone());
        }
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::invalid(
                format!("{key}_file"),
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}_file"),
                format!("{} is empty", path.display()),
            ));
        }
        return Ok(Secret::new(trimmed));
    }
    Err(ConfigError::invalid(
        key,
        format!(
            "is required: set KIRIM_{} or {key}_file",
            key.to_ascii_uppercase().replace('.', "__")
        ),
    ))
}

/// The `KIRIM_<SECTION>__…` variables, keyed `section.key` after `split("__")`.
///
/// Only `KIRIM_<SECTION>__…` variables of kirim's own sections are configuration:
/// `KIRIM_BANK_CARD_TOKEN`, `KIRIM_CONFIG`, the sandbox's `KIRIM_SANDBOX__*` and the
/// like are read elsewhere (or by someone else) and must not stop every command
/// with "unknown field".
fn kirim_env() -> Env {
    Env::prefixed("KIRIM_").split("__").filter(|key| {
        // Seen after `split`, so `redis.url`; a bare `bank_card_token` has no section.
        let key = key.as_str().to_ascii_lowercase().replace("__", ".");
        key.split_once('.')
            .is_some_and(|(section, _)| CONFIG_SECTIONS.contains(&section))
    })
}

/// Environment variables whose scalar values stay strings.
///
/// figment's [`Env`] parses every value: `1234567890` becomes an integer, `true` a
/// boolean, `007` the number 7, and a `String` setting (an account number, a
/// client id, a city code) then refuses it unless it is quoted as `'"1234567890"'`.
/// Here a scalar is kept exactly as written; numeric and boolean settings still
/// accept it because [`Settings::load_from`] extracts lossily (a numeric string
/// is a number where a number is expected). Arrays and tables
/// (`KIRIM_RECONCILE__SCHEDULE_SECS=[10,30]`) are parsed as before.
struct EnvStrings {
    /// `(dotted key, value as written)`.
    vars: Vec<(String, String)>,
}

impl EnvStrings {
    /// This process's `KIRIM_<SECTION>__…` variables.
    fn from_process() -> Self {
        let vars = kirim_env()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v))
            .collect();
        EnvStrings { vars }
    }
}

impl figment::Provider for EnvStrings {
    /// Errors name the variable as it is set: `KIRIM_WORKER__CONCURRENCY`.
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment variable").interpolater(|_, keys| {
            let name: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
            format!("KIRIM_{}", name.join("__"))
        })
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        use figment::value::{Dict, Value};
        let mut dict = Dict::new();
        for (key, raw) in &self.vars {
            let value = match raw.parse::<Value>() {
                Ok(v @ (Value::Array(..) | Value::Dict(..))) => v,
                _ => Value::from(raw.clone()),
            };
            insert_nested(&mut dict, key, value);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// Put `value` at the dotted `key` of `dict`, making tables on the way; a later
/// variable for the same key wins, as in figment's own `Env`.
fn insert_nested(dict: &mut figment::value::Dict, key: &str, value: figment::value::Value) {
    use figment::value::{Dict, Value};
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_nested(inner, rest, value);
            }
        }
    }
}

/// Make relative `*_file` and `*_path` values from a config file relative to that
/// file's directory, so `kirim worker --config /etc/kirim/prod.toml` finds
/// `client_secret_file = "secrets/ifortepay"` beside the file whatever the working
/// directory. Values from the environment and absolute paths are left as written
/// (an environment value has no file to be relative to: it stays relative to the
/// working directory).
///
/// Generic over the settings tree: any key ending in `_file` or `_path`, in any
/// section, so a new provider's key files need no code here.
fn resolve_relative_paths(figment: Figment) -> Result<Figment, ConfigError> {
    let mut found = Vec::new();
    for section in CONFIG_SECTIONS {
        if let Ok(value) = figment.find_value(section) {
            collect_path_values(&value, section, &mut found);
        }
    }
    let mut resolved = Vec::new();
    for (key, tag, text) in found {
        let path = Path::new(&text);
        if text.is_empty() || path.is_absolute() {
            continue;
        }
        let source = figment
            .get_metadata(tag)
            .and_then(|m| m.source.as_ref())
            .and_then(|s| s.file_path());
        let Some(dir) = source.and_then(Path::parent) else {
            continue;
        };
        let joined = dir.join(path);
        let Some(joined) = joined.to_str() else {
            return Err(ConfigError::invalid(
                key,
                format!("{} is not valid UTF-8", joined.display()),
            ));
        };
        resolved.push((key, joined.to_owned()));
    }
    Ok(resolved.into_iter().fold(figment, |f, (key, path)| {
        f.merge(Serialized::default(&key, path))
    }))
}

/// Every string under `value` whose key ends in `_file` or `_path`, with its dotted
/// key and the tag that says where it came from.
fn collect_path_values(
    value: &figment::value::Value,
    key: &str,
    out: &mut Vec<(String, figment::value::Tag, String)>,
) {
    use figment::value::Value;
    match value {
        Value::Dict(_, dict) => {
            for (k, v) in dict {
                collect_path_values(v, &format!("{key}.{k}"), out);
            }
        }
        Value::String(tag, text) if key.ends_with("_file") || key.ends_with("_path") => {
            out.push((key.to_owned(), *tag, text.clone()));
        }
        _ => {}
    }
}

/// The directory holding `default.toml`: `KIRIM_CONFIG_DIR`, else `./config`.
pub fn config_dir() -> PathBuf {
    std::env::var_os("KIRIM_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("config"))
}

impl Settings {
    /// Load `default.toml` from [`config_dir`], then `extra`, then the environment.
    pub fn load(extra: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_from(&config_dir().join("default.toml"), extra, true)
    }

    /// Load from explicit files; `use_env` adds the `KIRIM_` environment layer.
    pub fn load_from(
        default: &Path,
        extra: Option<&Path>,
        use_env: bool,
    ) -> Result<Settings, ConfigError> {
        Self::load_layers(default, extra, use_env.then(EnvStrings::from_process))
    }

    /// [`Settings::load_from`] with the environment layer given (tests pass their
    /// own instead of changing the process environment).
    fn load_layers(
        default: &Path,
        extra: Option<&Path>,
        env: Option<EnvStrings>,
    ) -> Result<Settings, ConfigError> {
        if !default.exists() {
            return Err(ConfigError::invalid(
                "(file)",
                format!(
                    "{} not found; run from the repository root or set KIRIM_CONFIG_DIR",
                    default.display()
                ),
            ));
        }
        let mut figment = Figment::new().merge(Toml::file_exact(default));
        if let Some(extra) = extra {
            if !extra.exists() {
                return Err(ConfigError::invalid(
                    "(file)",
                    format!("{} not found", extra.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(extra));
        }
        if let Some(env) = env {
            figment = figment.merge(env);
        }
        let figment = resolve_relative_paths(figment)?;
        let provider_names: Vec<String> = match figment.find_value("providers") {
            Ok(figment::value::Value::Dict(_, d)) => d.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let provider_secrets = provider_names.iter().flat_map(|name| {
            PROVIDER_SECRET_KEYS
                .iter()
                .map(move |k| format!("providers.{name}.{k}"))
        });
        let all_secret_keys: Vec<String> = SECRET_KEYS
            .iter()
            .map(|k| (*k).to_owned())
            .chain(provider_secrets)
            .collect();
        for key in &all_secret_keys {
            let key = key.as_str();
            if let Some(meta) = figment.find_metadata(key) {
                if meta.source.as_ref().and_then(|s| s.file_path()).is_some() {
                    return Err(ConfigError::invalid(
                        key,
                        "secrets must not be written in a config file; use the environment or the *_file key",
                    ));
                }
            }
        }
        // Lossy: a numeric setting also accepts a numeric string ("32"), which is
        // what every environment value is (see `EnvStrings`).
        let settings: Settings = figment
            .extract_lossy()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        settings.validate()?;
        Ok(settings)
    }

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
mod tests {
    use super::*;

    fn repo_default() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")
    }

    /// Issue 12: settings that would break every request or every log line are
    /// refused by name.
    #[test]
    fn zero_body_limit_and_bad_log_filter_are_refused_by_name() {
        let mut s = Settings::load_from(&repo_default(), None, false).unwrap();
        s.api.max_body_bytes = 0;
        let e = s.validate().expect_err("refused").to_string();
        assert!(e.contains("api.max_body_bytes"), "{e}");
        let mut s = Settings::load_from(&repo_default(), None, false).unwrap();
        s.log.filter = "kirim=[".into();
        let e = s.validate().expect_err("refused").to_string();
        assert!(e.contains("log.filter"), "{e}");
    }

    #[test]
    fn default_config_loads_and_validates() {
        let s = Settings::load_from(&repo_default(), None, false).unwrap();
        assert!(s.worker.concurrency > 0);
        let names: Vec<&str> = s.providers.names().collect();
        assert_eq!(names, ["ifortepay", "nicepay", "singapay"]);
        assert!(s
            .providers
            .section("ifortepay")
            .is_some_and(|p| p.text("client_secret").is_none()));
    }

    #[test]
    fn a_provider_section_parses_with_keys_named() {
        #[derive(Debug, serde::Deserialize)]
        struct Merchant {
            #[allow(dead_code)]
            sender_city: u32,
        }
        #[derive(Debug, serde::Deserialize)]
        struct Section {
            #[allow(dead_code)]
            merchant: Merchant,
        }
        let mut s = Settings::load_from(&repo_default(), None, false).unwrap();
        s.providers
            .set("ifortepay", "merchant.sender_city", "Jakarta");
        let e = s
            .providers
            .parse::<Section>("ifortepay")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("providers.ifortepay.merchant.sender_city"),
            "{e}"
        );
        let e = s
            .providers
            .parse::<Section>("nosuch")
            .unwrap_err()
            .to_string();
        assert!(e.contains("providers.nosuch"), "{e}");
        // Debug shows keys, never values (a section may hold a secret).
        s.providers
            .set("ifortepay", "client_secret", "s3cr3t-value");
        assert!(!format!("{:?}", s.providers).contains("s3cr3t-value"));
    }

    #[test]
    fn secret_in_file_is_refused_naming_key() {
        let dir = tempfile::tempdir().unwrap();
        let extra = dir.path().join("x.toml");
        std::fs::write(&extra, "[providers.nicepay]\nclient_secret = \"oops\"\n").unwrap();
        let err = Settings::load_from(&repo_default(), Some(&extra), false).unwrap_err();
        assert!(
            err.to_string().contains("providers.nicepay.client_secret"),
            "{err}"
        );
        assert!(!err.to_string().contains("oops"));
    }

    #[test]
    fn invalid_values_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let extra = dir.path().join("x.toml");
        std::fs::write(&extra, "[worker]\nconcurrency = 0\n").unwrap();
        let err = Settings::load_from(&repo_default(), Some(&extra), false).unwrap_err();
        assert!(err.to_string().contains("worker.concurrency"), "{err}");
        std::fs::write(&extra, "[worker]\nconcurrency = \"many\"\n").unwrap();
        let err = Settings::load_from(&repo_default(), Some(&extra), false).unwrap_err();
        assert!(err.to_string().contains("concurrency"), "{err}");
        std::fs::write(&extra, "[worker]\nconcurency = 3\n").unwrap();
        let err = Settings::load_from(&repo_default(), Some(&extra), false).unwrap_err();
        assert!(err.to_string().contains("concurency"), "{err}");
    }

    fn env(vars: &[(&str, &str)]) -> Option<EnvStrings> {
        Some(EnvStrings {
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        })
    }

    /// Issue 12: `KIRIM_PROVIDERS__IFORTEPAY__MERCHANT__SOURCE_ACCOUNT_NO=0012345678`
    /// is a string setting given digits; numeric settings still take numbers, and
    /// arrays still parse.
    #[test]
    fn numeric_looking_env_values_fill_string_and_numeric_settings() {
        let s = Settings::load_layers(
            &repo_default(),
            None,
            env(&[
                (
                    "providers.ifortepay.merchant.source_account_no",
                    "0012345678",
                ),
                ("providers.ifortepay.client_id", "1234567890"),
                ("providers.ifortepay.merchant.sender_city", "3171"),
                ("providers.ifortepay.token_separator", ":"),
                ("providers.ifortepay.request_timeout_ms", "4321"),
                ("providers.nicepay.enabled", "false"),
                ("worker.concurrency", "7"),
                ("reconcile.in_worker", "false"),
                ("reconcile.schedule_secs", "[5, 10]"),
                ("reconcile.submit_grace_secs", "45"),
            ]),
        )
        .expect("loads");
        #[derive(serde::Deserialize)]
        struct Merchant {
            source_account_no: String,
            sender_city: String,
        }
        #[derive(serde::Deserialize)]
        struct Ifp {
            client_id: String,
            token_separator: String,
            merchant: Merchant,
            request_timeout_ms: u64,
        }
        let i: Ifp = s.providers.parse("ifortepay").expect("parses");
        assert_eq!(i.merchant.source_account_no, "0012345678");
        assert_eq!(i.client_id, "1234567890");
        assert_eq!(i.merchant.sender_city, "3171");
        assert_eq!(i.token_separator, ":");
        // A provider's own numeric key from the environment is text; it still parses,
        // also where the shared HTTP keys are flattened into a provider's section.
        assert_eq!(i.request_timeout_ms, 4321);
        assert_eq!(
            s.providers
                .http("ifortepay")
                .expect("http")
                .request_timeout_ms,
            4321
        );
        assert!(!s.providers.enabled().any(|n| n == "nicepay"));
        assert_eq!(s.worker.concurrency, 7);
        assert!(!s.reconcile.in_worker);
        assert_eq!(s.reconcile.schedule_secs, vec![5, 10]);
        assert_eq!(s.reconcile.submit_grace_secs, Some(45));

        let err = Settings::load_layers(
            &repo_default(),
            None,
            env(&[("worker.concurrency", "many")]),
        )
        .expect_err("not a number");
        let text = err.to_string();
        assert!(text.contains("KIRIM_WORKER__CONCURRENCY"), "{text}");
    }

    /// Issue 12: a relative `*_file`/`*_path` in a config file is relative to that
    /// file, whatever the working directory; absolute paths and environment values
    /// are taken as written.
    #[test]
    fn relative_paths_in_a_config_file_resolve_beside_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("secret.txt"), "s3cr3t\n").expect("write");
        let extra = dir.path().join("site.toml");
        std::fs::write(
            &extra,
            "[providers.ifortepay]\nclient_secret_file = \"secret.txt\"\n\
             private_key_path = \"/abs/key.pem\"\n\
             [providers.nicepay]\nclient_secret_file = \"sub/../nicepay\"\n",
        )
        .expect("write");
        // The cargo test working directory is the package root, not `dir`.
        assert_ne!(std::env::current_dir().ok().as_deref(), Some(dir.path()));
        let s = Settings::load_layers(
            &repo_default(),
            Some(&extra),
            env(&[("providers.singapay.api_key_file", "from-env/key")]),
        )
        .expect("loads");
        let text = |name: &str, key: &str| {
            s.providers
                .section(name)
                .and_then(|p| p.text(key))
                .map(PathBuf::from)
        };
        let secret_file = text("ifortepay", "client_secret_file");
        assert_eq!(secret_file, Some(dir.path().join("secret.txt")));
        let secret = resolve_secret(&None, &secret_file, "providers.ifortepay.client_secret");
        assert_eq!(secret.expect("readable").expose(), "s3cr3t");
        assert_eq!(
            text("ifortepay", "private_key_path"),
            Some(PathBuf::from("/abs/key.pem"))
        );
        assert_eq!(
            text("nicepay", "client_secret_file"),
            Some(dir.path().join("sub/../nicepay"))
        );
        assert_eq!(
            text("singapay", "api_key_file"),
            Some(PathBuf::from("from-env/key"))
        );
        // default.toml's own relative paths resolve beside default.toml.
        let config_dir = repo_default().parent().map(Path::to_path_buf);
        let key = text("nicepay", "private_key_path").expect("set");
        assert_eq!(
            key.parent(),
            config_dir.map(|d| d.join("sandbox")).as_deref()
        );
        assert!(key.exists());
    }

    #[test]
    fn secret_resolution_from_file_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s");
        std::fs::write(&f, "abc\n").unwrap();
        let s = resolve_secret(&None, &Some(f), "providers.x.client_secret").unwrap();
        assert_eq!(s.expose(), "abc");
        assert_eq!(format!("{s:?}"), "[redacted]");
        let err = resolve_secret(&None, &None, "providers.x.client_secret").unwrap_err();
        assert!(
            err.to_string()
                .contains("KIRIM_PROVIDERS__X__CLIENT_SECRET"),
            "{err}"
        );
    }
}
