//! What a provider's notifications look like to kirim: where the reference is,
//! how the signature and its timestamp are checked, what the status means (read
//! with the provider's own status table, the one its client uses), and how far
//! the signature reaches. Each provider folder implements [`Webhook`]; the one
//! receiver (`crate::callbacks`, route `/callbacks/{provider}`) runs them all.

use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::Value;

use crate::domain::Outcome;
use crate::lifecycle::{Report, Trust};
use crate::snap;

/// How far an `X-TIMESTAMP` may be from now before a callback is treated as a replay.
pub const MAX_SKEW: Duration = Duration::from_secs(600);

pub trait Webhook: Send + Sync {
    /// JSON pointers where the partner reference may be; the first present wins.
    fn references(&self) -> &'static [&'static str];

    /// JSON pointers where the provider's own transaction id may be, for
    /// notifications that carry no partner reference (Singapay v1.0 transfers have
    /// none): the payout is then found by the provider reference its answer gave.
    fn provider_references(&self) -> &'static [&'static str] {
        &[]
    }

    /// Check `signature` over the request; `Err` says why not (never the key).
    fn verify(
        &self,
        timestamp: &str,
        signature: &str,
        headers: &HeaderMap,
        body: &[u8],
        parsed: &Value,
    ) -> Result<(), &'static str>;

    /// `timestamp` is close enough to now (not a replay). SNAP ISO-8601 by default.
    fn fresh(&self, timestamp: &str) -> bool {
        fresh_iso(timestamp)
    }

    /// The provider's status in the body, read with its status table.
    fn outcome(&self, body: &Value) -> Option<Outcome>;

    /// How far the signature reaches.
    fn trust(&self) -> Trust;

    /// Further paths the provider is known to post to, besides `/callbacks/{id}`.
    fn extra_paths(&self) -> &'static [&'static str] {
        &[]
    }
}

/// What a notification's outcome reports to the lifecycle. A status the
/// provider's table maps to "no such executed transaction" (NICEPAY 03,
/// registered but not approved) is reported as still in progress: the
/// notification itself shows the provider knows the payout.
pub fn report(outcome: &Outcome) -> Option<Report> {
    use crate::domain::State;
    match outcome {
        Outcome::Success { .. } => Some(Report::Final(State::Succeeded)),
        Outcome::Cancelled { .. } => Some(Report::Final(State::Cancelled)),
        Outcome::FinalFailure { .. } => Some(Report::Final(State::Failed)),
        Outcome::InProgress { .. } | Outcome::NotFound => Some(Report::InProgress),
        Outcome::Retryable { .. }
        | Outcome::Unknown { .. }
        | Outcome::Refused { .. }
        | Outcome::NeverReached { .. } => None,
    }
}

/// An ISO-8601 `X-TIMESTAMP` within [`MAX_SKEW`] of now.
pub fn fresh_iso(ts: &str) -> bool {
    match snap::timestamp::parse(ts) {
        Ok(at) => {
            (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
                .num_seconds()
                .unsigned_abs()
                <= MAX_SKEW.as_secs()
        }
        Err(_) => false,
    }
}

/// A Unix-seconds timestamp within [`MAX_SKEW`] of now.
pub fn fresh_unix(ts: &str) -> bool {
    ts.parse::<i64>()
        .map(|t| (chrono::Utc::now().timestamp() - t).unsigned_abs() <= MAX_SKEW.as_secs())
        .unwrap_or(false)
}

/// A header's value, if present and text.
pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}
