//! Reconciliation sweep: find the payouts whose due time has passed and push the
//! job their state calls for (inquiry for PENDING/UNKNOWN/NEEDS_REVIEW/SUBMITTING,
//! submission for an ACCEPTED payout whose job was lost).
//!
//! # Cost and safety
//! - O(due): one `ZRANGEBYSCORE … LIMIT` on the due index, never a scan of all
//!   payouts.
//! - Several replicas: each tick is claimed once with `SET NX` on a per-tick key
//!   (apalis-cron fires on every replica), and each claimed payout's due time is
//!   pushed forward atomically inside the claim script, so two sweeps can never
//!   hand out the same payout in one tick.

use std::time::Duration;

use redis::AsyncCommands;

use std::collections::{HashMap, HashSet};

use crate::domain::{Money, Provider, State};
use crate::jobs::apply::{self, claim_inquiries, ApplyError, Reported};
use crate::jobs::{job_for, Job, Queue, QueueError};
use crate::ledger::{now_ms, HistoryEntry, Ledger, LedgerError, PayoutId, PayoutKind};
use crate::lifecycle::{Event, Policy, Report};
use crate::providers::Providers;
use crate::providers::{HistoryQuery, Outcome};

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Payouts claimed from the due index.
    pub claimed: usize,
    /// Jobs pushed.
    pub enqueued: usize,
    /// Stale index entries (final payouts) removed.
    pub dropped: usize,
    /// Payouts settled straight from history-list pages (no per-payout inquiry).
    pub settled_by_history: usize,
    /// History-list pages fetched.
    pub history_pages: usize,
}

/// The sweep's knobs.
#[derive(Clone)]
pub struct Sweeper {
    pub ledger: Ledger,
    pub queue: Queue,
    pub batch: usize,
    /// How long a claimed payout is hidden from other sweeps.
    pub lease: Duration,
    /// Provider clients, for batch settlement from history lists (may be empty).
    pub providers: Providers,
    /// Use history lists when at least this many payouts of a provider are due (0 = never).
    pub history_batch_min: usize,
    /// The lifecycle's timing rules (history rows are decided like any other news).
    pub policy: Policy,
}

impl std::fmt::Debug for Sweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweeper")
            .field("batch", &self.batch)
            .finish()
    }
}

/// History-list page size (iFortepay: an integer of at most two digits, NOTES.md
/// corrections), and iFortepay's 3-month window (a little under).
const HISTORY_PAGE: u32 = 99;
const HISTORY_WINDOW_MS: i64 = 89 * 24 * 3600 * 1000;

/// Whether a history-list error is the provider (or kirim's own check) refusing the
/// request, not a passing transport problem: such a refusal repeats on every sweep.
fn history_refused(e: &crate::providers::ProviderError) -> bool {
    use crate::providers::ProviderError as E;
    match e {
        E::Validation(_) | E::Config(_) => true,
        E::Call { outcome, .. } => matches!(
            outcome,
            Outcome::Refused { .. } | Outcome::FinalFailure { .. }
        ),
        E::Fenced { .. } | E::Unsupported { .. } => false,
    }
}

impl Sweeper {
    /// Run one sweep now, whatever the tick (used by `kirim reconcile --once`).
    /// Loops over batches until no due payout is left.
    pub async fn sweep_once(&self) -> Result<SweepReport, SweepError> {
        let mut report = SweepReport::default();
        loop {
            let now = now_ms();
            let claimed = self
                .ledger
                .claim_due(now, self.batch, self.lease.as_millis() as i64)
                .await?;
            let n = claimed.len();
            report.claimed += n;
            let claimed = self.settle_from_history(claimed, &mut report).await?;
            let mut jobs = Vec::with_capacity(n);
            let mut inquiries = Vec::new();
            let mut stale = Vec::new();
            for (id, state, kind) in claimed {
                match job_for(&id, state, kind) {
                    Some(Job::Inquiry { payout }) => inquiries.push(payout),
                    Some(job) => jobs.push(job),
                    None => stale.push(id.to_string()),
                }
            }
            // At most one inquiry job per payout is queued at a time: under a
            // backlog the next lease must not add another copy of the due set.
            let won = claim_inquiries(&self.ledger, &inquiries).await?;
            jobs.extend(
                inquiries
                    .into_iter()
                    .zip(won)
                    .filter(|(_, won)| *won)
                    .map(|(payout, _)| Job::Inquiry { payout }),
            );
            report.enqueued += jobs.len();
            self.queue.push_many(jobs).await?;
            if !stale.is_empty() {
                let mut conn = self.ledger.connection();
                let removed: usize = conn.zrem(self.ledger.keys().due(), &stale).await?;
                report.dropped += removed;
            }
            if n < self.batch {
                return Ok(report);
            }
        }
    }

    /// Batch settlement: for each provider with a history list and enough due
    /// PENDING/UNKNOWN transfers, read history pages covering their creation times
    /// and settle every payout the history shows as final. Returns the claims still
    /// needing a job. Pages are bounded by the number of due payouts (O(due)), and a
    /// payout the pages do not show falls back to a per-payout inquiry.
    async fn settle_from_history(
        &self,
        claimed: Vec<(PayoutId, State, PayoutKind)>,
        report: &mut SweepReport,
    ) -> Result<Vec<(PayoutId, State, PayoutKind)>, SweepError> {
        if self.history_batch_min == 0 {
            return Ok(claimed);
        }
        let mut rest = Vec::with_capacity(claimed.len());
        let mut groups: HashMap<Provider, Vec<PayoutId>> = HashMap::new();
        for (id, state, kind) in claimed {
            let settleable = kind == PayoutKind::Transfer
                && matches!(state, State::Pending | State::Unknown | State::NeedsReview)
                && self.providers.contains_key(&id.provider);
            if settleable {
                groups.entry(id.provider).or_default().push(id.clone());
            }
            rest.push((id, state, kind));
        }
        let mut settled: HashSet<PayoutId> = HashSet::new();
        for (provider, ids) in groups {
            if ids.len() < self.history_batch_min {
                continue;
            }
            let Some(client) = self.providers.get(&provider) else {
                continue;
            };
            let now = now_ms();
            let mut oldest = now;
            let mut wanted: HashMap<String, (PayoutId, Money)> = HashMap::new();
            for id in &ids {
                if let Some(p) = self.ledger.get(id).await? {
                    if now - p.meta.created_at < HISTORY_WINDOW_MS {
                        oldest = oldest.min(p.meta.created_at);
                        wanted.insert(id.reference.to_string(), (id.clone(), p.details.amount));
                    }
                }
            }
            if wanted.is_empty() {
                continue;
            }
            let fmt = |ms: i64| {
                crate::snap::timestamp::format(
                    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default(),
                )
            };
            let max_pages = wanted.len().div_ceil(HISTORY_PAGE as usize) * 4 + 1;
            let mut page = 1u32;
            while !wanted.is_empty() && (page as usize) <= max_pages {
                let external_id = crate::domain::ExternalId::fresh(now);
                let query = HistoryQuery {
                    from: fmt(oldest - 60_000),
                    to: fmt(now + 60_000),
                    page,
                    page_size: HISTORY_PAGE,
                    external_id,
                };
                let result = match client.history(&query).await {
                    Ok(r) => r,
                    Err(e) => {
                        // A refused history list means batch settlement never runs:
                        // an operator must see it (warn, and an alert in /metrics).
                        tracing::warn!(error = %e, %provider, "history list refused or unavailable; falling back to inquiries");
                        if history_refused(&e) {
                            crate::metrics::count_alert_now(
                                &self.ledger,
                                provider,
                                "history_list_refused",
                            )
                            .await;
                        }
                        break;
                    }
                };
                report.history_pages += 1;
                for entry in &result.entries {
                    // Only a statement about the transaction is a report; a refused
                    // or unreadable row falls back to a per-payout inquiry.
                    let report_of = match &entry.outcome {
                        Outcome::Success { .. } => Report::Final(State::Succeeded),
                        Outcome::Cancelled { .. } => Report::Final(State::Cancelled),
                        Outcome::FinalFailure { .. } => Report::Final(State::Failed),
                        Outcome::InProgress { .. }
                        | Outcome::Retryable { .. }
                        | Outcome::Unknown { .. }
                        | Outcome::NotFound
                        | Outcome::NeverReached { .. }
                        | Outcome::Refused { .. } => continue,
                    };
                    let Some((id, amount)) = wanted.remove(&entry.partner_reference) else {
                        continue;
                    };
                    let mut h = HistoryEntry::new("history", now_ms());
                    h.actor = Some("sweep".into());
                    h.outcome = Some(entry.outcome.label().into());
                    h.note = Some(format!("transaction history page {page}"));
                    let event = Event::HistoryRow {
                        report: report_of,
                        amount_matches: entry.amount == amount,
                    };
                    if let Reported::Applied { to, .. } =
                        apply::report(&self.ledger, &self.queue, &self.policy, &id, &event, h)
                            .await?
                    {
                        if to.is_final() {
                            settled.insert(id);
                            report.settled_by_history += 1;
                        }
                    }
                }
                if !result.has_more {
                    break;
                }
                page += 1;
            }
        }
        Ok(rest
            .into_iter()
            .filter(|(id, _, _)| !settled.contains(id))
            .collect())
    }

    /// Run the sweep for `tick` (unix seconds) unless another replica already did.
    /// Returns `None` when this replica lost the tick.
    pub async fn sweep_tick(&self, tick: u64) -> Result<Option<SweepReport>, SweepError> {
        let mut conn = self.ledger.connection();
        let won: bool = redis::cmd("SET")
            .arg(self.ledger.keys().sweep_tick(tick))
            .arg(self.queue_name_tag())
            .arg("NX")
            .arg("EX")
            .arg(3600)
            .query_async::<Option<String>>(&mut conn)
            .await?
            .is_some();
        if !won {
            return Ok(None);
        }
        self.sweep_once().await.map(Some)
    }

    fn queue_name_tag(&self) -> String {
        format!("{}-{}", hostname(), std::process::id())
    }
}

/// Best-effort host name for worker names and sweep markers.
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
