//! The imperative shell around [`crate::lifecycle::decide`]: read → decide →
//! compare-and-set → act. The worker's engine, the sweep's history settlement,
//! callbacks, `kirim review resolve` and dead-letter re-drives all come through
//! here, so none of them holds a rule of its own.

use std::time::Duration;

use redis::AsyncCommands;

use crate::jobs::{job_for, DeadLetter, Job, Queue, QueueError};
use crate::ledger::{
    now_ms, HistoryEntry, Ledger, LedgerError, Payout, PayoutId, Transition, TransitionOutcome,
};
use crate::lifecycle::{decide, Action, Decision, Event, Now, Policy, Write};

/// How long an inquiry marker lives if its job never starts (a lost job).
pub const INQUIRY_MARKER_TTL: Duration = Duration::from_secs(120);

/// Compare-and-set rounds before giving up on a payout that keeps changing.
const ROUNDS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("payout {0} kept changing under us; try again")]
    Contended(PayoutId),
}

impl From<redis::RedisError> for ApplyError {
    fn from(e: redis::RedisError) -> Self {
        ApplyError::Ledger(LedgerError::Redis(e))
    }
}

/// "Now" for a decision: the wall clock and a fresh jitter draw.
pub fn now() -> Now {
    Now {
        ms: now_ms(),
        jitter: rand::random::<f64>(),
    }
}

/// The audit line for `d`: `entry` with its note completed from the decision.
pub fn noted(d: &Decision, mut entry: HistoryEntry) -> HistoryEntry {
    entry.note = Some(match entry.note.take() {
        Some(n) if !d.note.is_empty() => format!("{n}; {}", d.note),
        Some(n) => n,
        None => d.note.clone(),
    });
    entry
}

/// The ledger transition that applies `w` to `p` (`entry` already [`noted`]).
pub fn transition_for(
    p: &Payout,
    w: &Write,
    entry: HistoryEntry,
) -> Result<Transition, LedgerError> {
    let dead_letter = match &w.park {
        Some(reason) => Some(serde_json::to_string(&DeadLetter {
            id: 0,
            payout: p.id.clone(),
            job: p.details.kind.as_str().to_owned(),
            reason: reason.clone(),
            at: entry.at,
        })?),
        None => None,
    };
    Ok(Transition {
        to: w.to,
        meta: w.meta.clone(),
        entry,
        due_at: w.due_at,
        allocate_external_id: w.allocate_external_id,
        dead_letter,
    })
}

/// `p` as it is once `w` has been applied at `version` (with `external_id`, if one
/// was recorded).
pub fn applied(p: &Payout, w: &Write, version: u64, external_id: Option<String>) -> Payout {
    let mut next = p.clone();
    next.state = w.to;
    next.version = version;
    next.meta = w.meta.clone();
    next.external_ids.extend(external_id);
    next
}

/// Write `d` for `p` with one compare-and-set. `entry` is the audit line (its note
/// is completed from the decision). Returns the payout as it is after the write,
/// or `None` when the compare-and-set was lost (re-read and decide again).
pub async fn write(
    ledger: &Ledger,
    p: &Payout,
    d: &Decision,
    entry: HistoryEntry,
) -> Result<Option<Payout>, LedgerError> {
    let entry = noted(d, entry);
    let Some(w) = &d.write else {
        if d.audit {
            ledger.append_history(&p.id, &entry).await?;
        }
        return Ok(Some(p.clone()));
    };
    let t = transition_for(p, w, entry)?;
    Ok(match ledger.transition(p, t).await? {
        TransitionOutcome::Applied {
            version,
            external_id,
        } => Some(applied(p, w, version, external_id)),
        TransitionOutcome::Forbidden { state } => {
            tracing::error!(payout = %p.id, from = %state, to = %w.to, "forbidden transition refused by the ledger");
            None
        }
        TransitionOutcome::Conflict { .. } | TransitionOutcome::Missing => None,
    })
}

/// Queue the follow-up job an applied decision asks for, from outside a worker:
/// [`Action::Inquire`] becomes an inquiry job now, [`Action::Enqueue`] the job the
/// payout's state calls for at that time. Inquiries are queued at most once per
/// payout at a time.
pub async fn follow_up(
    ledger: &Ledger,
    queue: &Queue,
    p: &Payout,
    action: Action,
) -> Result<(), ApplyError> {
    let now = now_ms();
    let (at, job) = match action {
        Action::None | Action::Send { .. } => return Ok(()),
        Action::Inquire => (
            now,
            Job::Inquiry {
                payout: p.id.clone(),
            },
        ),
        Action::Enqueue { at } => match job_for(&p.id, p.state, p.details.kind) {
            Some(job) => (at, job),
            None => return Ok(()),
        },
    };
    let delay = (at > now).then(|| Duration::from_millis((at - now) as u64));
    if matches!(job, Job::Inquiry { .. }) && !claim_inquiry(ledger, &p.id).await? {
        return Ok(()); // one is already queued
    }
    queue.push(job, delay).await?;
    Ok(())
}

/// Take the "inquiry queued" marker for `id`; `false` when one is already queued.
pub async fn claim_inquiry(ledger: &Ledger, id: &PayoutId) -> Result<bool, LedgerError> {
    let mut conn = ledger.connection();
    let set: Option<String> = redis::cmd("SET")
        .arg(ledger.keys().inquiry_marker(&id.to_string()))
        .arg(1)
        .arg("NX")
        .arg("PX")
        .arg(INQUIRY_MARKER_TTL.as_millis() as u64)
        .query_async(&mut conn)
        .await?;
    Ok(set.is_some())
}

/// Many markers in one round trip (the sweep); `true` where this caller won.
pub async fn claim_inquiries(ledger: &Ledger, ids: &[PayoutId]) -> Result<Vec<bool>, LedgerError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.cmd("SET")
            .arg(ledger.keys().inquiry_marker(&id.to_string()))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(INQUIRY_MARKER_TTL.as_millis() as u64);
    }
    let mut conn = ledger.connection();
    let replies: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
    Ok(replies.into_iter().map(|r| r.is_some()).collect())
}

/// The inquiry job for `id` has started: the next one may be queued.
pub async fn release_inquiry(ledger: &Ledger, id: &PayoutId) -> Result<(), LedgerError> {
    let mut conn = ledger.connection();
    let _: i64 = conn
        .del(ledger.keys().inquiry_marker(&id.to_string()))
        .await?;
    Ok(())
}

/// What [`report`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Reported {
    /// Decided and applied; the payout was in `from` and is now in `to`.
    Applied {
        from: crate::domain::State,
        to: crate::domain::State,
        decision: Box<Decision>,
    },
    Missing,
}

/// News from outside a worker (callback, history row, operator, re-drive):
/// read → decide → compare-and-set → follow up, with bounded re-reads.
pub async fn report(
    ledger: &Ledger,
    queue: &Queue,
    policy: &Policy,
    id: &PayoutId,
    event: &Event,
    entry: HistoryEntry,
) -> Result<Reported, ApplyError> {
    for _ in 0..ROUNDS {
        let Some(p) = ledger.get(id).await? else {
            return Ok(Reported::Missing);
        };
        let d = decide(&p, event, policy, now());
        let mut e = entry.clone();
        e.at = now_ms();
        if d.write.is_none() {
            // Recorded, changed nothing: a duplicate, a late or out-of-order report.
            e.event = format!("{}_ignored", e.event);
        }
        if let Some(after) = write(ledger, &p, &d, e).await? {
            follow_up(ledger, queue, &after, d.action).await?;
            return Ok(Reported::Applied {
                from: p.state,
                to: after.state,
                decision: Box::new(d),
            });
        }
    }
    Err(ApplyError::Contended(id.clone()))
}
