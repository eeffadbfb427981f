//! The dead-letter list: jobs kirim gave up on (retries exhausted, provider
//! misconfigured), parked for an operator.
//!
//! apalis has its own `:dead` set, but it ignores `max_attempts` (APALIS.md pitfall
//! 3) and knows nothing of payouts. kirim's list is keyed by a sequence number and
//! names the payout; `kirim dead retry ID` re-drives it through the state machine,
//! so a payout whose outcome is unknown goes to inquiry, never to a resend.

use redis::AsyncCommands;

use crate::jobs::handler::{job_for, DeadLetter};
use crate::jobs::{Job, Queue};
use crate::ledger::{
    now_ms, HistoryEntry, Ledger, LedgerError, PayoutId, State, Transition, TransitionOutcome,
};

/// Record a dead letter for `payout`.
pub async fn record(
    ledger: &Ledger,
    payout: &PayoutId,
    job: &str,
    reason: &str,
) -> Result<u64, LedgerError> {
    let mut conn = ledger.connection();
    let keys = ledger.keys();
    let id: u64 = conn.incr(keys.dead_seq(), 1).await?;
    let letter = DeadLetter {
        id,
        payout: payout.clone(),
        job: job.to_owned(),
        reason: reason.to_owned(),
        at: now_ms(),
    };
    let _: () = conn
        .hset(keys.dead(), id, serde_json::to_string(&letter)?)
        .await?;
    Ok(id)
}

/// All dead letters, oldest first.
pub async fn list(ledger: &Ledger) -> Result<Vec<DeadLetter>, LedgerError> {
    let mut conn = ledger.connection();
    let all: std::collections::HashMap<u64, String> = conn.hgetall(ledger.keys().dead()).await?;
    let mut v: Vec<DeadLetter> = all
        .values()
        .filter_map(|s| serde_json::from_str(s).ok())
        .collect();
    v.sort_by_key(|d| d.id);
    Ok(v)
}

/// Outcome of a re-drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redrive {
    /// The job pushed, by kind.
    Requeued(Job),
    /// The payout is final by now; the letter was removed.
    AlreadyFinal(State),
    NoSuchLetter,
}

/// Re-drive dead letter `id`: clear the payout's dead flag (audited, with `actor`)
/// and push the job its *current state* calls for — UNKNOWN/SUBMITTING go to
/// inquiry, only ACCEPTED is submitted.
pub async fn retry(
    ledger: &Ledger,
    queue: &Queue,
    id: u64,
    actor: &str,
) -> Result<Redrive, crate::jobs::handler::EngineError> {
    let mut conn = ledger.connection();
    let raw: Option<String> = conn
        .hget(ledger.keys().dead(), id)
        .await
        .map_err(LedgerError::from)?;
    let Some(letter) = raw.and_then(|r| serde_json::from_str::<DeadLetter>(&r).ok()) else {
        return Ok(Redrive::NoSuchLetter);
    };
    for _ in 0..5 {
        let Some(p) = ledger.get(&letter.payout).await? else {
            return Ok(Redrive::NoSuchLetter);
        };
        if p.state.is_final() {
            let _: () = conn
                .hdel(ledger.keys().dead(), id)
                .await
                .map_err(LedgerError::from)?;
            return Ok(Redrive::AlreadyFinal(p.state));
        }
        let now = now_ms();
        let mut meta = p.meta.clone();
        meta.dead = false;
        meta.retries = 0;
        meta.updated_at = now;
        let mut entry = HistoryEntry::new("dead_letter_retry", now);
        entry.actor = Some(actor.to_owned());
        entry.note = Some(format!(
            "re-driven from dead letter {id} ({})",
            letter.reason
        ));
        let t = Transition {
            to: p.state,
            meta,
            entry,
            due_at: Some(now + 60_000),
            allocate_external_id: false,
        };
        match ledger.transition(&p, t).await? {
            TransitionOutcome::Applied { .. } => {
                let Some(job) = job_for(&p.id, p.state, p.details.kind) else {
                    return Ok(Redrive::AlreadyFinal(p.state));
                };
                queue.push(job.clone(), None).await?;
                let _: () = conn
                    .hdel(ledger.keys().dead(), id)
                    .await
                    .map_err(LedgerError::from)?;
                return Ok(Redrive::Requeued(job));
            }
            TransitionOutcome::Conflict { .. } => continue,
            TransitionOutcome::Forbidden { state } => return Ok(Redrive::AlreadyFinal(state)),
            TransitionOutcome::Missing => return Ok(Redrive::NoSuchLetter),
        }
    }
    Err(crate::jobs::handler::EngineError::Contended(letter.payout))
}
