//! The breaker's published form: one Redis hash per provider ([`Keys::circuit`]),
//! written by [`Breakers::publish`] and read by `kirim serve` and `kirim status`.

use std::collections::BTreeMap;
use std::str::FromStr;

use redis::aio::ConnectionLike;
use serde::{Deserialize, Serialize};

use super::breaker::Entry;
use super::{BreakerState, Breakers, CircuitState, Reason};
use crate::domain::Provider;
use crate::keys::Keys;

impl Breakers {
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
    for p in crate::providers::builtin_ids() {
        pipe.hgetall(keys.circuit(p));
    }
    let hashes: Vec<std::collections::HashMap<String, String>> = pipe.query_async(conn).await?;
    let mut out = BTreeMap::new();
    for (p, h) in crate::providers::builtin_ids().into_iter().zip(hashes) {
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
