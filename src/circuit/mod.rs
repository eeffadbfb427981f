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
//!
//! - `breaker`: the per-provider state machine ([`Breakers`]).
//! - `publish`: the published form in Redis ([`PublishedState`], [`read_all`]).
//! - `probe`: one cheap call that asks whether a provider answers ([`probe()`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::Provider;

mod breaker;
mod probe;
mod publish;
#[cfg(test)]
mod tests;

pub use breaker::Breakers;
pub use probe::probe;
pub use publish::{read_all, PublishedState};

/// While a half-open probe is out, other callers look again after this long.
pub const PROBE_RECHECK_MS: i64 = 1_000;

/// What one provider call told us about the provider's health.
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
    pub(crate) fn normalised(mut self) -> Self {
        self.failures_to_open = self.failures_to_open.max(1);
        self.cooldown_initial_ms = self.cooldown_initial_ms.max(0);
        self.cooldown_max_ms = self.cooldown_max_ms.max(self.cooldown_initial_ms);
        self.probe_timeout_ms = self.probe_timeout_ms.max(0);
        self
    }
}
