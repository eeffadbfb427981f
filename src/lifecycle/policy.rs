//! The timing rules [`super::decide`] applies (built from settings by `jobs`).

use std::collections::HashMap;
use std::time::Duration;

use crate::domain::Provider;
use crate::retry::{schedule_delay, Backoff};

/// Timing rules for submissions and reconciliation.
#[derive(Debug, Clone)]
pub struct Policy {
    pub backoff: Backoff,
    /// "Not sent" (connect refused, 429, refused for configuration) is retried for
    /// this long from the first such failure; then the payout is parked.
    pub retry_window: Duration,
    /// Reconciliation polling delays; the last repeats.
    pub schedule: Vec<Duration>,
    /// Unresolved longer than this → NEEDS_REVIEW.
    pub horizon: Duration,
    /// Per-provider schedule and horizon, overriding the two above.
    pub per_provider: HashMap<Provider, (Vec<Duration>, Duration)>,
    /// UNKNOWN for at least this long before a "not found" allows a resubmission.
    pub not_found_grace: Duration,
    /// Resubmissions allowed after proven "not found" (default 1); then NEEDS_REVIEW.
    pub max_resubmits: u32,
    /// A SUBMITTING payout younger than this may still be in flight: other workers
    /// leave it alone for this long.
    pub submit_grace: Duration,
    /// The worker that won SUBMITTING must put the request on the wire within this
    /// (shorter than `submit_grace`), or not send at all.
    pub send_deadline: Duration,
    /// Safety net: an ACCEPTED payout not picked up by then is re-driven by the sweep.
    pub stuck_after: Duration,
    /// Whatever the ledger recorded stays recorded (`redis.durability` is not
    /// `none`). Recoveries that rely on the ledger remembering every step it took
    /// (NICEPAY's derived registration after its own lost answer) run only then:
    /// with `none`, a machine crash can roll a record back past a registration
    /// whose approve already went out, and the derived one was paid twice (chaos
    /// run, docs/crash-test.md).
    pub ledger_keeps_history: bool,
}

impl Policy {
    /// Delay before check number `checks` for `provider`.
    pub fn check_delay(&self, provider: Provider, checks: u32) -> Duration {
        match self.per_provider.get(&provider) {
            Some((schedule, _)) => schedule_delay(schedule, checks),
            None => schedule_delay(&self.schedule, checks),
        }
    }

    /// How long `provider`'s payouts may stay unresolved before review.
    pub fn horizon_for(&self, provider: Provider) -> Duration {
        self.per_provider
            .get(&provider)
            .map(|(_, h)| *h)
            .unwrap_or(self.horizon)
    }
}

/// The send deadline leaves one request timeout of the grace for the request
/// itself to be answered: a request written at the deadline is answered (or timed
/// out) before the other workers' grace ends. Never less than half the grace.
pub fn send_deadline(submit_grace: Duration, request_timeout: Duration) -> Duration {
    submit_grace
        .saturating_sub(request_timeout)
        .max(submit_grace / 2)
}

pub(crate) fn secs(v: &[u64]) -> Vec<Duration> {
    v.iter().map(|x| Duration::from_secs(*x)).collect()
}
