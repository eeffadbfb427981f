//! Per-provider circuit breakers (DESIGN rule 13: provider trouble pauses the
//! provider, not the payouts).
//!
//! When a provider stops answering (connection refused, gateway down) or refuses
//! every request (expired credentials, a rotated key), sending more payouts to it
//! only burns retry budgets and dead-letters payouts (review D3). A breaker counts
//! consecutive bad [`Signal`]s per provider; at the threshold it *opens*, and the
//! engine keeps payouts where they are ([`Permit::Paused`]) instead of failing them.
//! After a cool-down exactly one caller gets [`Permit::Probe`]; its answer closes
//! the breaker or re-opens it with a doubled cool-down.
//!
//! The breaker is pure state behind a mutex: every method takes `now_ms` from the
//! caller, so tests drive time by hand and no decision depends on the wall clock.
//! Each worker process has its own [`Breakers`] (no Redis round trip per payout);
//! [`Breakers::publish`] writes the state to one Redis hash per provider when it
//! changes, so `kirim serve` (`/metrics`) and `kirim status` can show it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use redis::aio::ConnectionLike;
use serde::{Deserialize, Serialize};

use crate::domain::{ExternalId, Money, PartnerReference, Provider};
use crate::keys::Keys;
use crate::providers::{Outcome, PayoutProvider, ProviderError, StatusQuery};

/// What one provider call told us about the provider's health.
/// While a half-open probe is out, other callers look again after this long.
pub const PROBE_RECHECK_MS: i64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The provider answered (whatever it said about the transaction).
    Ok,
    /// Nothing usable came back: connect error, timeout, 5xx, gateway error.
    ConnectFailure,
    /// The provider refused the request itself: auth, signature, config, format.
    Refused,
}

impl Signal {
    /// Stable label for output (`kirim provider NAME health --probe`).
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Ok => "ok",
            Signal::ConnectFailure => "connect_failure",
            Signal::Refused => "refused",
        }
    }
}

/// Why a breaker opened: the kind of the signal that tripped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    ConnectFailure,
    Refused,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ConnectFailure => "connect_failure",
            Reason::Refused => "refused",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "connect_failure" => Ok(Reason::ConnectFailure),
            "refused" => Ok(Reason::Refused),
            other => Err(format!("unknown circuit reason {other:?}")),
        }
    }
}

/// What the engine may do with a payout for this provider right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Closed: send.
    Allow,
    /// Half-open: this caller, and only this one, may send one request; report its
    /// result with [`Breakers::record`].
    Probe,
    /// Open (or half-open with a probe in flight): do not send; leave the payout
    /// where it is and look again at `retry_at_ms`.
    Paused { retry_at_ms: i64 },
}

/// The state of one provider's breaker. Times are milliseconds since the epoch,
/// as passed in by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    /// Paused from `since` until `until` (the end of the cool-down).
    Open {
        since: i64,
        until: i64,
        reason: Reason,
    },
    /// The cool-down is over and a probe has been handed out.
    HalfOpen,
}

impl BreakerState {
    /// The state without its data, as published and rendered.
    pub fn kind(&self) -> CircuitState {
        match self {
            BreakerState::Closed => CircuitState::Closed,
            BreakerState::Open { .. } => CircuitState::Open,
            BreakerState::HalfOpen => CircuitState::HalfOpen,
        }
    }
}

/// The state of a breaker without its data: the published `state` field and the
/// `kirim_provider_circuit_state` gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    Closed,
    HalfOpen,
    Open,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::HalfOpen => "half_open",
            CircuitState::Open => "open",
        }
    }

    /// Gauge value: 0 closed, 1 half-open, 2 open (higher is worse, so one alert
    /// rule `> 0` catches both paused states).
    pub fn gauge(self) -> u8 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::HalfOpen => 1,
            CircuitState::Open => 2,
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CircuitState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "closed" => Ok(CircuitState::Closed),
            "half_open" => Ok(CircuitState::HalfOpen),
            "open" => Ok(CircuitState::Open),
            other => Err(format!("unknown circuit state {other:?}")),
        }
    }
}

/// A change of state, returned by [`Breakers::record`] and [`Breakers::acquire`]
/// so the engine knows when to log, alert and [`Breakers::publish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub provider: Provider,
    pub from: BreakerState,
    pub to: BreakerState,
    pub at_ms: i64,
}

/// Breaker tuning. The engine builds it from settings; `Default` holds the
/// documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive `ConnectFailure`/`Refused` signals that open a closed breaker.
    /// 0 is treated as 1.
    pub failures_to_open: u32,
    /// The first cool-down after opening.
    pub cooldown_initial_ms: i64,
    /// Cap of the cool-down, which doubles at each failed probe.
    pub cooldown_max_ms: i64,
    /// How long a handed-out probe may stay unanswered before another caller gets
    /// one: a worker that dies mid-probe must not pause the provider for ever.
    pub probe_timeout_ms: i64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures_to_open: 5,
            cooldown_initial_ms: 5_000,
            cooldown_max_ms: 60_000,
            probe_timeout_ms: 30_000,
        }
    }
}

impl BreakerConfig {
    fn normalised(mut self) -> Self {
        self.failures_to_open = self.failures_to_open.max(1);
        self.cooldown_initial_ms = self.cooldown_initial_ms.max(0);
        self.cooldown_max_ms = self.cooldown_max_ms.max(self.cooldown_initial_ms);
        self.probe_timeout_ms = self.probe_timeout_ms.max(0);
        self
    }
}

#[derive(Debug, Clone)]
struct Entry {
    state: BreakerState,
    /// Consecutive bad signals since the last `Ok`.
    failures: u32,
    /// The cool-down of the current (or last) open period.
    cooldown_ms: i64,
    /// Half-open: when the current probe was handed out.
    probe_at: i64,
    /// When the state last changed (the published `since`/`updated_at`).
    changed_at: i64,
    /// Bumped at every change; `published` is the version last written to Redis.
    version: u64,
    published: u64,
    /// Openings not yet added to the published `opened_total`.
    unpublished_opens: u64,
}

impl Entry {
    fn new(cfg: &BreakerConfig) -> Self {
        Entry {
            state: BreakerState::Closed,
            failures: 0,
            cooldown_ms: cfg.cooldown_initial_ms,
            probe_at: 0,
            changed_at: 0,
            version: 0,
            published: 0,
            unpublished_opens: 0,
        }
    }

    fn open(&mut self, reason: Reason, cooldown_ms: i64, now_ms: i64) {
        self.cooldown_ms = cooldown_ms;
        self.state = BreakerState::Open {
            since: now_ms,
            until: now_ms.saturating_add(cooldown_ms),
            reason,
        };
        self.unpublished_opens += 1;
    }
}

struct Inner {
    cfg: BreakerConfig,
    /// Indexed by [`slot`]; one mutex per provider so providers never contend.
    entries: [Mutex<Entry>; 3],
    /// Who wrote a published state (pid and a random tag), for operators.
    instance: String,
}

/// One breaker per provider for one worker process. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Breakers {
    inner: Arc<Inner>,
}

impl fmt::Debug for Breakers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breakers")
            .field("cfg", &self.inner.cfg)
            .field("instance", &self.inner.instance)
            .finish()
    }
}

fn slot(p: Provider) -> usize {
    match p {
        Provider::Ifortepay => 0,
        Provider::Nicepay => 1,
        Provider::Singapay => 2,
    }
}

impl Breakers {
    pub fn new(cfg: BreakerConfig) -> Self {
        let cfg = cfg.normalised();
        let tag: u16 = rand::random();
        Breakers {
            inner: Arc::new(Inner {
                cfg,
                entries: [
                    Mutex::new(Entry::new(&cfg)),
                    Mutex::new(Entry::new(&cfg)),
                    Mutex::new(Entry::new(&cfg)),
                ],
                instance: format!("{}-{tag:04x}", std::process::id()),
            }),
        }
    }

    pub fn config(&self) -> BreakerConfig {
        self.inner.cfg
    }

    fn entry(&self, p: Provider) -> MutexGuard<'_, Entry> {
        // A panic while holding the lock cannot leave an Entry half-updated in a
        // way that matters more than pausing payouts would; keep going.
        self.inner.entries[slot(p)]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// May a payout be sent to `p` now? See [`Breakers::acquire`], which also
    /// reports the open → half-open transition this call may cause.
    pub fn permit(&self, p: Provider, now_ms: i64) -> Permit {
        self.acquire(p, now_ms).0
    }

    /// [`Breakers::permit`] plus the transition it caused: when the cool-down is
    /// over, the first caller moves the breaker to half-open and gets
    /// [`Permit::Probe`]; everyone else is paused until the probe answers or
    /// `probe_timeout_ms` passes (then the next caller gets a new probe).
    pub fn acquire(&self, p: Provider, now_ms: i64) -> (Permit, Option<Transition>) {
        let cfg = self.inner.cfg;
        let mut e = self.entry(p);
        match e.state {
            BreakerState::Closed => (Permit::Allow, None),
            BreakerState::Open { until, .. } if now_ms < until => {
                (Permit::Paused { retry_at_ms: until }, None)
            }
            BreakerState::Open { .. } => {
                let from = e.state;
                e.state = BreakerState::HalfOpen;
                e.probe_at = now_ms;
                e.changed_at = now_ms;
                e.version += 1;
                let t = Transition {
                    provider: p,
                    from,
                    to: e.state,
                    at_ms: now_ms,
                };
                (Permit::Probe, Some(t))
            }
            BreakerState::HalfOpen => {
                let deadline = e.probe_at.saturating_add(cfg.probe_timeout_ms);
                if now_ms >= deadline {
                    e.probe_at = now_ms;
                    (Permit::Probe, None)
                } else {
                    // Look again soon: the probe usually answers in milliseconds,
                    // and waiting for its whole timeout left payouts paused ~30 s
                    // after the provider was back (found by the 60-s outage test).
                    (
                        Permit::Paused {
                            retry_at_ms: deadline.min(now_ms.saturating_add(PROBE_RECHECK_MS)),
                        },
                        None,
                    )
                }
            }
        }
    }

    /// Report what a call to `p` showed. Returns the transition when the state
    /// changed.
    ///
    /// - Closed: `Ok` resets the count; a bad signal counts, and the
    ///   `failures_to_open`-th in a row opens the breaker for `cooldown_initial_ms`.
    /// - Half-open: the first signal is taken as the probe's answer. `Ok` closes
    ///   (and resets the cool-down); a bad signal re-opens with the cool-down
    ///   doubled, capped at `cooldown_max_ms`.
    /// - Open: ignored. Only requests sent before the breaker opened can answer
    ///   now, and the cool-down stands regardless of what they say.
    pub fn record(&self, p: Provider, s: Signal, now_ms: i64) -> Option<Transition> {
        let cfg = self.inner.cfg;
        let mut e = self.entry(p);
        let from = e.state;
        let reason = match s {
            Signal::Ok => None,
            Signal::ConnectFailure => Some(Reason::ConnectFailure),
            Signal::Refused => Some(Reason::Refused),
        };
        match (from, reason) {
            (BreakerState::Open { .. }, _) => return None,
            (BreakerState::Closed, None) => {
                e.failures = 0;
                return None;
            }
            (BreakerState::Closed, Some(r)) => {
                e.failures = e.failures.saturating_add(1);
                if e.failures < cfg.failures_to_open {
                    return None;
                }
                e.open(r, cfg.cooldown_initial_ms, now_ms);
            }
            (BreakerState::HalfOpen, None) => {
                e.failures = 0;
                e.cooldown_ms = cfg.cooldown_initial_ms;
                e.state = BreakerState::Closed;
            }
            (BreakerState::HalfOpen, Some(r)) => {
                e.failures = e.failures.saturating_add(1);
                let next = e.cooldown_ms.saturating_mul(2).min(cfg.cooldown_max_ms);
                e.open(r, next, now_ms);
            }
        }
        e.changed_at = now_ms;
        e.version += 1;
        Some(Transition {
            provider: p,
            from,
            to: e.state,
            at_ms: now_ms,
        })
    }

    pub fn state(&self, p: Provider) -> BreakerState {
        self.entry(p).state
    }

    /// Consecutive bad signals since the last `Ok`.
    pub fn consecutive_failures(&self, p: Provider) -> u32 {
        self.entry(p).failures
    }

    /// What [`Breakers::publish`] would write for `p` now.
    pub fn snapshot(&self, p: Provider) -> PublishedState {
        let e = self.entry(p);
        self.published_form(p, &e)
    }

    fn published_form(&self, p: Provider, e: &Entry) -> PublishedState {
        let (since_ms, until_ms, reason) = match e.state {
            BreakerState::Closed => (e.changed_at, None, None),
            BreakerState::Open {
                since,
                until,
                reason,
            } => (since, Some(until), Some(reason)),
            BreakerState::HalfOpen => (
                e.changed_at,
                Some(e.probe_at.saturating_add(self.inner.cfg.probe_timeout_ms)),
                None,
            ),
        };
        PublishedState {
            provider: p,
            state: e.state.kind(),
            since_ms,
            until_ms,
            reason,
            consecutive_failures: e.failures,
            cooldown_ms: e.cooldown_ms,
            updated_at_ms: e.changed_at,
            opened_total: 0,
            instance: self.inner.instance.clone(),
        }
    }

    /// Write `p`'s state to its Redis hash ([`Keys::circuit`]) if it changed since
    /// the last successful publish; otherwise do nothing (no Redis work), so the
    /// engine may call it after every [`Breakers::record`] that returned `Some`,
    /// or more often, at no cost while the state stands.
    ///
    /// Several processes share the hash: a write older (`updated_at`) than the one
    /// stored is dropped, so a late publish cannot hide a newer transition. Every
    /// opening is added to `opened_total` even then. Returns whether the state
    /// fields were written.
    pub async fn publish<C: ConnectionLike + Send>(
        &self,
        conn: &mut C,
        keys: &Keys,
        p: Provider,
    ) -> Result<bool, redis::RedisError> {
        let (snap, version, opens) = {
            let mut e = self.entry(p);
            if e.version == e.published && e.unpublished_opens == 0 {
                return Ok(false);
            }
            let opens = std::mem::take(&mut e.unpublished_opens);
            (self.published_form(p, &e), e.version, opens)
        };
        let script = redis::Script::new(PUBLISH_LUA);
        let res: Result<i64, _> = script
            .key(keys.circuit(p))
            .arg(snap.updated_at_ms)
            .arg(snap.state.as_str())
            .arg(snap.since_ms)
            .arg(snap.until_ms.map(|u| u.to_string()).unwrap_or_default())
            .arg(snap.reason.map(Reason::as_str).unwrap_or(""))
            .arg(snap.consecutive_failures)
            .arg(snap.cooldown_ms)
            .arg(&snap.instance)
            .arg(opens)
            .invoke_async(conn)
            .await;
        let mut e = self.entry(p);
        match res {
            Ok(written) => {
                e.published = e.published.max(version);
                Ok(written == 1)
            }
            Err(err) => {
                e.unpublished_opens += opens;
                Err(err)
            }
        }
    }
}

/// KEYS[1] the provider's hash; ARGV updated_at, state, since, until, reason,
/// failures, cooldown_ms, instance, opens. Newest `updated_at` wins; openings
/// always count.
const PUBLISH_LUA: &str = r#"
local opens = tonumber(ARGV[9])
if opens > 0 then redis.call('HINCRBY', KEYS[1], 'opened_total', opens) end
local cur = tonumber(redis.call('HGET', KEYS[1], 'updated_at'))
if cur and cur > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[1], 'state', ARGV[2], 'since', ARGV[3],
  'until', ARGV[4], 'reason', ARGV[5], 'failures', ARGV[6], 'cooldown_ms', ARGV[7],
  'instance', ARGV[8])
return 1
"#;

/// A provider's breaker as last published by any process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedState {
    pub provider: Provider,
    pub state: CircuitState,
    /// When the current state began (ms).
    pub since_ms: i64,
    /// Open: end of the cool-down. Half-open: when the probe in flight expires.
    pub until_ms: Option<i64>,
    /// Open: the kind of signal that opened it.
    pub reason: Option<Reason>,
    pub consecutive_failures: u32,
    pub cooldown_ms: i64,
    /// The publishing process's time of the transition (ms).
    pub updated_at_ms: i64,
    /// Openings (closed → open and half-open → open) across all processes.
    pub opened_total: u64,
    /// The process that wrote the state (pid-tag); empty if never written.
    pub instance: String,
}

impl PublishedState {
    /// What a provider whose breaker was never published is: closed.
    pub fn never_published(provider: Provider) -> Self {
        PublishedState {
            provider,
            state: CircuitState::Closed,
            since_ms: 0,
            until_ms: None,
            reason: None,
            consecutive_failures: 0,
            cooldown_ms: 0,
            updated_at_ms: 0,
            opened_total: 0,
            instance: String::new(),
        }
    }

    fn parse(
        provider: Provider,
        h: &std::collections::HashMap<String, String>,
    ) -> Result<Self, String> {
        fn num<T: FromStr>(
            h: &std::collections::HashMap<String, String>,
            f: &str,
        ) -> Result<T, String> {
            match h.get(f).map(String::as_str) {
                None | Some("") => "0".parse().map_err(|_| format!("field {f}")),
                Some(v) => v.parse().map_err(|_| format!("field {f}: {v:?}")),
            }
        }
        let state = match h.get("state") {
            Some(s) => s.parse()?,
            // No state written (only a counter): nothing has paused the provider.
            None => CircuitState::Closed,
        };
        let until_ms = match h.get("until").map(String::as_str) {
            None | Some("") => None,
            Some(v) => Some(v.parse().map_err(|_| format!("field until: {v:?}"))?),
        };
        let reason = match h.get("reason").map(String::as_str) {
            None | Some("") => None,
            Some(v) => Some(v.parse()?),
        };
        Ok(PublishedState {
            provider,
            state,
            since_ms: num(h, "since")?,
            until_ms,
            reason,
            consecutive_failures: num(h, "failures")?,
            cooldown_ms: num(h, "cooldown_ms")?,
            updated_at_ms: num(h, "updated_at")?,
            opened_total: num(h, "opened_total")?,
            instance: h.get("instance").cloned().unwrap_or_default(),
        })
    }

    /// One line for operators, e.g. `open since … until … (connect_failure, 5 failures)`.
    pub fn describe(&self) -> String {
        let at = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(crate::snap::timestamp::format)
                .unwrap_or_else(|| ms.to_string())
        };
        match self.state {
            CircuitState::Closed => "closed".to_owned(),
            CircuitState::Open => format!(
                "open since {} until {} ({}, {} consecutive failures, cool-down {} s)",
                at(self.since_ms),
                self.until_ms.map(at).unwrap_or_default(),
                self.reason.map(Reason::as_str).unwrap_or("?"),
                self.consecutive_failures,
                self.cooldown_ms / 1000
            ),
            CircuitState::HalfOpen => format!(
                "half-open since {} (probing; {} consecutive failures)",
                at(self.since_ms),
                self.consecutive_failures
            ),
        }
    }
}

/// Every provider's published breaker state, one pipelined round trip. Providers
/// whose hash does not exist are absent (see [`PublishedState::never_published`]).
/// A hash with unreadable fields is an error naming the key.
pub async fn read_all<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &Keys,
) -> Result<BTreeMap<Provider, PublishedState>, redis::RedisError> {
    let mut pipe = redis::pipe();
    for p in Provider::ALL {
        pipe.hgetall(keys.circuit(p));
    }
    let hashes: Vec<std::collections::HashMap<String, String>> = pipe.query_async(conn).await?;
    let mut out = BTreeMap::new();
    for (p, h) in Provider::ALL.into_iter().zip(hashes) {
        if h.is_empty() {
            continue;
        }
        let st = PublishedState::parse(p, &h).map_err(|why| {
            redis::RedisError::from((
                redis::ErrorKind::Parse,
                "unreadable circuit state",
                format!("{}: {why}", keys.circuit(p)),
            ))
        })?;
        out.insert(p, st);
    }
    Ok(out)
}

/// A reference no producer can have chosen (producers' references are theirs; this
/// one is only used to ask "do you answer?"), for providers without a balance call.
const PROBE_REFERENCE: &str = "kirim-circuit-probe";

/// One cheap call to find out whether `provider` answers: `balance`, or, where the
/// provider has no balance call (Singapay), a status inquiry for a reference that
/// does not exist. Neither can move money.
///
/// - answered → [`Signal::Ok`] (for the inquiry, any statement about the
///   transaction, "not found" included);
/// - transport trouble ([`Outcome::Retryable`], [`Outcome::Unknown`], a fenced or
///   unbuilt request) → [`Signal::ConnectFailure`];
/// - the request was refused ([`Outcome::Refused`], [`Outcome::FinalFailure`],
///   configuration) → [`Signal::Refused`].
///
/// When the provider has neither call the probe returns `Ok`: it cannot tell, and
/// a breaker that could never close would pause the provider for ever; the next
/// real requests decide instead (they re-open it after `failures_to_open`).
pub async fn probe(provider: &dyn PayoutProvider, external_id: &ExternalId) -> Signal {
    match provider.balance(external_id).await {
        Ok(_) => Signal::Ok,
        Err(ProviderError::Unsupported { .. }) => inquiry_probe(provider, external_id).await,
        Err(e) => error_signal(&e),
    }
}

async fn inquiry_probe(provider: &dyn PayoutProvider, external_id: &ExternalId) -> Signal {
    let (Ok(reference), Ok(amount)) = (
        PartnerReference::parse(PROBE_REFERENCE),
        Money::parse("10000.00", "amount"),
    ) else {
        return Signal::Ok;
    };
    let query = StatusQuery {
        partner_reference: reference,
        provider_reference: None,
        amount,
        beneficiary_account_no: None,
        transaction_date: crate::snap::timestamp::now(),
        external_id: external_id.clone(),
    };
    match provider.transfer_status(&query).await {
        Ok(ex) => outcome_signal(&ex.outcome, Signal::Ok),
        Err(ProviderError::Unsupported { .. }) => Signal::Ok,
        Err(e) => error_signal(&e),
    }
}

/// Map an outcome; `answered` is what a statement about the transaction means.
fn outcome_signal(o: &Outcome, answered: Signal) -> Signal {
    match o {
        Outcome::Retryable { .. } | Outcome::Unknown { .. } => Signal::ConnectFailure,
        Outcome::Refused { .. } => Signal::Refused,
        Outcome::FinalFailure { .. } => answered,
        Outcome::Success { .. }
        | Outcome::InProgress { .. }
        | Outcome::Cancelled { .. }
        | Outcome::NotFound => answered,
        // Nothing was asked of the provider.
        Outcome::NeverReached { .. } => Signal::Ok,
    }
}

fn error_signal(e: &ProviderError) -> Signal {
    match e {
        // For a balance call a "final failure" is the provider refusing us.
        ProviderError::Call { outcome, .. } => outcome_signal(outcome, Signal::Refused),
        ProviderError::Config(_) => Signal::Refused,
        ProviderError::Validation(_) | ProviderError::Fenced { .. } => Signal::ConnectFailure,
        ProviderError::Unsupported { .. } => Signal::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Provider = Provider::Ifortepay;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            failures_to_open: 3,
            cooldown_initial_ms: 5_000,
            cooldown_max_ms: 12_000,
            probe_timeout_ms: 1_000,
        }
    }

    fn open_at(b: &Breakers, now: i64) -> Transition {
        for _ in 1..b.config().failures_to_open {
            assert_eq!(b.record(P, Signal::ConnectFailure, now), None);
        }
        b.record(P, Signal::ConnectFailure, now).expect("opens")
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = BreakerConfig::default();
        assert_eq!(c.failures_to_open, 5);
        assert_eq!(c.cooldown_initial_ms, 5_000);
        assert_eq!(c.cooldown_max_ms, 60_000);
    }

    #[test]
    fn opens_at_the_threshold_not_before() {
        let b = Breakers::new(cfg());
        assert_eq!(b.record(P, Signal::ConnectFailure, 0), None);
        assert_eq!(b.record(P, Signal::Refused, 1), None);
        assert_eq!(b.state(P), BreakerState::Closed);
        assert_eq!(b.permit(P, 2), Permit::Allow);
        let t = b
            .record(P, Signal::Refused, 3)
            .expect("third failure opens");
        assert_eq!(t.from, BreakerState::Closed);
        assert_eq!(
            t.to,
            BreakerState::Open {
                since: 3,
                until: 5_003,
                reason: Reason::Refused
            }
        );
        assert_eq!(t.provider, P);
        assert_eq!(b.state(P), t.to);
        assert_eq!(b.consecutive_failures(P), 3);
    }

    #[test]
    fn ok_while_closed_resets_the_count() {
        let b = Breakers::new(cfg());
        b.record(P, Signal::ConnectFailure, 0);
        b.record(P, Signal::ConnectFailure, 0);
        assert_eq!(b.record(P, Signal::Ok, 0), None);
        assert_eq!(b.consecutive_failures(P), 0);
        b.record(P, Signal::ConnectFailure, 0);
        b.record(P, Signal::ConnectFailure, 0);
        assert_eq!(b.state(P), BreakerState::Closed);
        assert!(b.record(P, Signal::ConnectFailure, 0).is_some());
    }

    #[test]
    fn providers_are_independent() {
        let b = Breakers::new(cfg());
        open_at(&b, 0);
        assert_eq!(b.permit(Provider::Nicepay, 1), Permit::Allow);
        assert_eq!(b.state(Provider::Singapay), BreakerState::Closed);
    }

    #[test]
    fn paused_until_the_cool_down_ends() {
        let b = Breakers::new(cfg());
        open_at(&b, 100);
        for now in [100, 2_000, 5_099] {
            assert_eq!(b.permit(P, now), Permit::Paused { retry_at_ms: 5_100 });
        }
        assert_eq!(b.permit(P, 5_100), Permit::Probe);
    }

    /// Regression (60-s outage test): with the default 30-s probe timeout, the
    /// payouts paused behind a probe slept the whole 30 s although the probe
    /// answered at once.
    #[test]
    fn behind_a_probe_callers_look_again_within_a_second() {
        let b = Breakers::new(BreakerConfig {
            probe_timeout_ms: 30_000,
            ..cfg()
        });
        open_at(&b, 0);
        assert_eq!(b.acquire(P, 5_000).0, Permit::Probe);
        assert_eq!(
            b.permit(P, 5_001),
            Permit::Paused {
                retry_at_ms: 5_001 + PROBE_RECHECK_MS
            }
        );
        b.record(P, Signal::Ok, 5_050);
        assert_eq!(b.permit(P, 5_001 + PROBE_RECHECK_MS), Permit::Allow);
    }

    #[test]
    fn exactly_one_probe_then_paused_until_it_answers_or_times_out() {
        let b = Breakers::new(cfg());
        let opened = open_at(&b, 0);
        let (permit, t) = b.acquire(P, 5_000);
        assert_eq!(permit, Permit::Probe);
        let t = t.expect("open → half-open is a transition");
        assert_eq!((t.from, t.to), (opened.to, BreakerState::HalfOpen));
        // Everyone else waits for the probe (or its timeout).
        assert_eq!(
            b.acquire(P, 5_001),
            (Permit::Paused { retry_at_ms: 6_000 }, None)
        );
        assert_eq!(b.permit(P, 5_999), Permit::Paused { retry_at_ms: 6_000 });
        // The prober died: after probe_timeout_ms one new caller gets a probe.
        assert_eq!(b.acquire(P, 6_000), (Permit::Probe, None));
        assert_eq!(b.permit(P, 6_001), Permit::Paused { retry_at_ms: 7_000 });
    }

    #[test]
    fn probe_ok_closes_and_resets() {
        let b = Breakers::new(cfg());
        open_at(&b, 0);
        assert_eq!(b.permit(P, 5_000), Permit::Probe);
        let t = b.record(P, Signal::Ok, 5_100).expect("closes");
        assert_eq!(
            (t.from, t.to),
            (BreakerState::HalfOpen, BreakerState::Closed)
        );
        assert_eq!(b.permit(P, 5_101), Permit::Allow);
        assert_eq!(b.consecutive_failures(P), 0);
        // The cool-down starts again from the initial value after a close.
        let t = open_at(&b, 10_000);
        assert_eq!(
            t.to,
            BreakerState::Open {
                since: 10_000,
                until: 15_000,
                reason: Reason::ConnectFailure
            }
        );
    }

    #[test]
    fn probe_failure_reopens_with_doubled_cool_down_capped() {
        let b = Breakers::new(cfg());
        open_at(&b, 0);
        let mut now = 5_000;
        // 5 s → 10 s → 12 s (cap) → 12 s.
        for (cooldown, reason, signal) in [
            (10_000, Reason::ConnectFailure, Signal::ConnectFailure),
            (12_000, Reason::Refused, Signal::Refused),
            (12_000, Reason::ConnectFailure, Signal::ConnectFailure),
        ] {
            assert_eq!(b.permit(P, now), Permit::Probe);
            let t = b.record(P, signal, now + 10).expect("re-opens");
            assert_eq!(t.from, BreakerState::HalfOpen);
            assert_eq!(
                t.to,
                BreakerState::Open {
                    since: now + 10,
                    until: now + 10 + cooldown,
                    reason
                }
            );
            assert_eq!(
                b.permit(P, now + 11),
                Permit::Paused {
                    retry_at_ms: now + 10 + cooldown
                }
            );
            now += 10 + cooldown;
        }
    }

    #[test]
    fn signals_while_open_are_ignored() {
        let b = Breakers::new(cfg());
        let opened = open_at(&b, 0);
        assert_eq!(b.record(P, Signal::Ok, 1), None);
        assert_eq!(b.record(P, Signal::ConnectFailure, 2), None);
        assert_eq!(b.state(P), opened.to);
        assert_eq!(b.permit(P, 3), Permit::Paused { retry_at_ms: 5_000 });
    }

    #[test]
    fn zero_threshold_means_one() {
        let b = Breakers::new(BreakerConfig {
            failures_to_open: 0,
            ..cfg()
        });
        assert!(b.record(P, Signal::Refused, 0).is_some());
    }

    #[test]
    fn clones_share_state() {
        let b = Breakers::new(cfg());
        let c = b.clone();
        open_at(&b, 0);
        assert_eq!(c.permit(P, 1), Permit::Paused { retry_at_ms: 5_000 });
    }

    #[test]
    fn snapshot_carries_what_is_published() {
        let b = Breakers::new(cfg());
        open_at(&b, 7);
        let s = b.snapshot(P);
        assert_eq!(s.state, CircuitState::Open);
        assert_eq!((s.since_ms, s.until_ms), (7, Some(5_007)));
        assert_eq!(s.reason, Some(Reason::ConnectFailure));
        assert_eq!(s.consecutive_failures, 3);
        assert_eq!(s.updated_at_ms, 7);
        assert_eq!(CircuitState::Open.gauge(), 2);
        assert_eq!(CircuitState::HalfOpen.gauge(), 1);
        assert_eq!(CircuitState::Closed.gauge(), 0);
        for k in [
            CircuitState::Closed,
            CircuitState::HalfOpen,
            CircuitState::Open,
        ] {
            assert_eq!(k.as_str().parse::<CircuitState>(), Ok(k));
        }
    }

    /// A provider with neither a balance call nor a status inquiry (Singapay v1).
    struct Mute;

    #[async_trait::async_trait]
    impl PayoutProvider for Mute {
        fn provider(&self) -> Provider {
            Provider::Singapay
        }
        async fn transfer(
            &self,
            _: &crate::providers::TransferRequest,
        ) -> Result<crate::providers::Exchange, ProviderError> {
            Err(ProviderError::Config("not used".into()))
        }
        async fn transfer_status(
            &self,
            _: &StatusQuery,
        ) -> Result<crate::providers::Exchange, ProviderError> {
            Err(ProviderError::Unsupported {
                provider: Provider::Singapay,
                operation: "transfer status",
            })
        }
        async fn account_inquiry(
            &self,
            _: &crate::providers::AccountInquiryRequest,
        ) -> Result<crate::providers::AccountInfo, ProviderError> {
            Err(ProviderError::Config("not used".into()))
        }
        async fn balance(
            &self,
            _: &ExternalId,
        ) -> Result<crate::providers::Balance, ProviderError> {
            Err(ProviderError::Unsupported {
                provider: Provider::Singapay,
                operation: "balance inquiry",
            })
        }
    }

    #[tokio::test]
    async fn a_provider_that_cannot_be_probed_lets_real_traffic_decide() {
        let id = ExternalId::parse("1").unwrap();
        assert_eq!(probe(&Mute, &id).await, Signal::Ok);
    }

    #[test]
    fn outcome_mapping() {
        let refused = Outcome::Refused {
            code: "4010000".into(),
            message: "unauthorized".into(),
        };
        let call = |outcome| ProviderError::Call {
            operation: "balance",
            outcome,
            response_code: None,
        };
        assert_eq!(
            error_signal(&call(Outcome::Retryable {
                delay_hint: None,
                reason: "connect".into()
            })),
            Signal::ConnectFailure
        );
        assert_eq!(
            error_signal(&call(Outcome::Unknown {
                reason: "timeout".into()
            })),
            Signal::ConnectFailure
        );
        assert_eq!(error_signal(&call(refused.clone())), Signal::Refused);
        assert_eq!(
            error_signal(&call(Outcome::FinalFailure {
                code: "4031800".into(),
                message: "x".into()
            })),
            Signal::Refused
        );
        assert_eq!(
            error_signal(&ProviderError::Config("key".into())),
            Signal::Refused
        );
        // An inquiry that names the transaction means the provider answered.
        assert_eq!(outcome_signal(&Outcome::NotFound, Signal::Ok), Signal::Ok);
        assert_eq!(outcome_signal(&refused, Signal::Ok), Signal::Refused);
        assert!(PartnerReference::parse(PROBE_REFERENCE).is_ok());
    }
}
