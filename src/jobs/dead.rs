//! The dead-letter list: payouts kirim gave up on (not sent for the whole retry
//! window, provider misconfigured), parked for an operator.
//!
//! apalis has its own `:dead` set, but it ignores `max_attempts` (APALIS.md pitfall
//! 3) and knows nothing of payouts. kirim's list is keyed by a sequence number and
//! names the payout. Parking and writing the letter are one atomic step (the
//! transition script writes both). `kirim dead retry ID` re-drives the payout
//! through the lifecycle ([`Event::Redrive`]), so a payout whose outcome is unknown
//! goes to inquiry, never to a resend.

use redis::AsyncCommands;

use crate::domain::State;
use crate::jobs::apply::{report, ApplyError, Reported};
use crate::jobs::{job_for, DeadLetter, Job, Queue};
use crate::ledger::{now_ms, HistoryEntry, Ledger, LedgerError, PayoutId};
use crate::lifecycle::{Event, Policy};

/// Record a dead letter for a job that failed for infrastructure reasons (its
/// payout stays where it is, in the due index).
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
    Final(State),
    NoSuchLetter,
}

/// Re-drive dead letter `id`: the lifecycle clears the payout's dead flag (audited,
/// with `actor`) and queues the job its *current state* calls for — UNKNOWN and
/// SUBMITTING go to inquiry, only ACCEPTED is submitted.
pub async fn retry(
    ledger: &Ledger,
    queue: &Queue,
    policy: &Policy,
    id: u64,
    actor: &str,
) -> Result<Redrive, ApplyError> {
    let mut conn = ledger.connection();
    let raw: Option<String> = conn.hget(ledger.keys().dead(), id).await?;
    let Some(letter) = raw.and_then(|r| serde_json::from_str::<DeadLetter>(&r).ok()) else {
        return Ok(Redrive::NoSuchLetter);
    };
    let mut entry = HistoryEntry::new("dead_letter_retry", now_ms());
    entry.actor = Some(actor.to_owned());
    entry.note = Some(format!(
        "re-driven from dead letter {id} ({})",
        letter.reason
    ));
    let outcome = report(
        ledger,
        queue,
        policy,
        &letter.payout,
        &Event::Redrive,
        entry,
    )
    .await?;
    let _: () = conn.hdel(ledger.keys().dead(), id).await?;
    Ok(match outcome {
        Reported::Missing => Redrive::NoSuchLetter,
        Reported::Applied { to, decision, .. } if decision.write.is_some() => {
            match job_for(&letter.payout, to, crate::ledger::PayoutKind::Transfer) {
                // The kind only matters for ACCEPTED; report the lane actually used.
                Some(Job::Inquiry { payout }) => Redrive::Requeued(Job::Inquiry { payout }),
                Some(_) => Redrive::Requeued(match letter.job.as_str() {
                    "payment" => Job::Payment {
                        payout: letter.payout.clone(),
                    },
                    _ => Job::transfer(letter.payout.clone()),
                }),
                None => Redrive::Final(to),
            }
        }
        Reported::Applied { to, .. } => Redrive::Final(to),
    })
}
