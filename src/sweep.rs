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

use crate::jobs::handler::job_for;
use crate::jobs::{Queue, QueueError};
use crate::ledger::{now_ms, Ledger, LedgerError};

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
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
}

/// The sweep's knobs.
#[derive(Debug, Clone)]
pub struct Sweeper {
    pub ledger: Ledger,
    pub queue: Queue,
    pub batch: usize,
    /// How long a claimed payout is hidden from other sweeps.
    pub lease: Duration,
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
            let mut jobs = Vec::with_capacity(n);
            let mut stale = Vec::new();
            for (id, state, kind) in claimed {
                match job_for(&id, state, kind) {
                    Some(job) => jobs.push(job),
                    None => stale.push(id.to_string()),
                }
            }
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
