//! Operator commands: `kirim reconcile [--once]`, `kirim compact [--all]`,
//! `kirim dead list|retry`.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::config::Settings;
use crate::jobs::dead::{self, Redrive};
use crate::jobs::Queue;
use crate::ledger::Ledger;
use crate::sweep::Sweeper;

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Run one sweep now and exit (otherwise: one sweep per tick until stopped).
    #[arg(long)]
    pub once: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Compact payouts final for at least this long (default:
    /// worker.compact_final_after_secs).
    #[arg(long)]
    pub older_than_secs: Option<u64>,
    /// Also every final payout settled before compaction existed (scans the
    /// final states' sets once).
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, serde::Serialize)]
struct CompactReport {
    indexed: u64,
    compacted: u64,
    moved: u64,
    skipped: u64,
}

pub async fn compact(settings: &Settings, a: CompactArgs) -> anyhow::Result<ExitCode> {
    let (ledger, _) = connect(settings).await?;
    let indexed = if a.all {
        ledger.index_final_for_compaction().await?
    } else {
        0
    };
    let after = a
        .older_than_secs
        .unwrap_or(settings.worker.compact_final_after_secs);
    let before = crate::ledger::ms_ago(Duration::from_secs(after));
    let done = ledger.compact_final(before, usize::MAX).await?;
    let report = CompactReport {
        indexed,
        compacted: done.compacted,
        moved: done.moved,
        skipped: done.skipped,
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        if a.all {
            println!("{indexed} final payout(s) settled before compaction existed were indexed");
        }
        println!(
            "compacted {} final payout(s); {} moved while being read (left for the next pass); {} had nothing to do",
            report.compacted, report.moved, report.skipped
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum DeadCommand {
    /// List dead letters.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Re-drive a dead letter through the state machine (audited).
    Retry {
        id: u64,
        /// Who is re-driving it (recorded in the audit trail).
        #[arg(long, env = "USER", default_value = "operator")]
        actor: String,
    },
}

async fn connect(settings: &Settings) -> anyhow::Result<(Ledger, Queue)> {
    let ledger = Ledger::connect(&settings.redis)
        .await?
        .with_outbox(!settings.notify.url.is_empty());
    let queue = Queue::new(
        ledger.connection(),
        ledger.keys(),
        &crate::jobs::QueueOptions::from_settings(settings),
    );
    Ok((ledger, queue))
}

pub async fn reconcile(settings: &Settings, a: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let (ledger, queue) = connect(settings).await?;
    let sweeper = Sweeper {
        ledger,
        queue,
        batch: settings.reconcile.batch,
        lease: crate::worker::sweep_lease(settings),
        providers: crate::providers::build_all(&settings.providers)?,
        history_batch_min: settings.reconcile.history_batch_min,
        policy: crate::lifecycle::Policy::from_settings(settings),
    };
    if a.once {
        let report = sweeper.sweep_once().await?;
        if a.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            println!(
                "claimed {} due payout(s), settled {} from {} history page(s), enqueued {} job(s), dropped {} stale entr(ies)",
                report.claimed, report.settled_by_history, report.history_pages, report.enqueued, report.dropped
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let tick = settings.reconcile.tick_secs.max(1);
    let shutdown = super::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let next = (now / tick + 1) * tick;
        let wait = Duration::from_secs(next - now);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {
                match sweeper.sweep_tick(next).await {
                    Ok(Some(r)) => tracing::info!(claimed = r.claimed, enqueued = r.enqueued, "sweep"),
                    Ok(None) => tracing::debug!(tick = next, "another replica swept this tick"),
                    Err(e) => tracing::warn!(error = %e, "sweep failed"),
                }
            }
            _ = &mut shutdown => return Ok(ExitCode::SUCCESS),
        }
    }
}

pub async fn dead_cmd(settings: &Settings, cmd: DeadCommand) -> anyhow::Result<ExitCode> {
    let (ledger, queue) = connect(settings).await?;
    match cmd {
        DeadCommand::List { json } => {
            let letters = dead::list(&ledger).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
            } else {
                for d in &letters {
                    // The provider's own words tell a wrong separator from a wrong
                    // URL mode from an unknown key: show them with the reason.
                    let said = match ledger.get(&d.payout).await? {
                        Some(p) => match (&p.meta.response_code, &p.meta.response_message) {
                            (Some(code), message) => format!(
                                "  [provider said {code}: {}]",
                                message.as_deref().unwrap_or("")
                            ),
                            (None, _) => String::new(),
                        },
                        None => String::new(),
                    };
                    println!("{:>6}  {}  {:<9} {}{said}", d.id, d.payout, d.job, d.reason);
                }
                eprintln!("{} dead letter(s)", letters.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        DeadCommand::Retry { id, actor } => match dead::retry(
            &ledger,
            &queue,
            &crate::lifecycle::Policy::from_settings(settings),
            id,
            &actor,
        )
        .await?
        {
            Redrive::Requeued(job) => {
                println!("re-driven: {} job for {}", job.kind(), job.payout());
                Ok(ExitCode::SUCCESS)
            }
            Redrive::Final(state) => {
                println!("payout is already {state}; dead letter removed");
                Ok(ExitCode::SUCCESS)
            }
            Redrive::NoSuchLetter => {
                eprintln!("error: no dead letter {id}");
                Ok(ExitCode::from(2))
            }
        },
    }
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List application notifications with their delivery state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Deliver an event again (e.g. after the receiver was fixed).
    Redeliver { id: String },
}

pub async fn events_cmd(settings: &Settings, cmd: EventsCommand) -> anyhow::Result<ExitCode> {
    let (ledger, _queue) = connect(settings).await?;
    match cmd {
        EventsCommand::List { json } => {
            let events = crate::notify::list(&ledger).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&events)?);
            } else {
                for e in &events {
                    let d = &e.delivery;
                    let state = if d.delivered_at.is_some() {
                        "delivered"
                    } else if d.parked {
                        "parked"
                    } else {
                        "pending"
                    };
                    println!(
                        "{}  {state:<9} attempts={} last={:?}",
                        e.id, d.attempts, d.last_status
                    );
                }
                eprintln!("{} event(s)", events.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        EventsCommand::Redeliver { id } => {
            if crate::notify::redeliver(&ledger, &id).await? {
                println!("{id} scheduled for delivery");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: no event {id}");
                Ok(ExitCode::from(2))
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Payouts unresolved past the horizon, waiting for an operator.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Settle a NEEDS_REVIEW payout by hand (audited).
    Resolve {
        /// `provider:reference` or just the reference.
        reference: String,
        #[arg(long)]
        state: String,
        /// Why: a ticket, a bank statement line, the provider's answer.
        #[arg(long)]
        note: String,
        #[arg(long, env = "USER", default_value = "operator")]
        actor: String,
    },
}

pub async fn review_cmd(settings: &Settings, cmd: ReviewCommand) -> anyhow::Result<ExitCode> {
    use crate::client::Client;
    use crate::domain::State;
    let client = Client::connect(settings).await?;
    match cmd {
        ReviewCommand::List { json } => {
            let items = client.list(State::NeedsReview, 10_000).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else {
                for p in &items {
                    println!(
                        "{}  {} IDR  checks={}  last={} {}",
                        p.id,
                        p.details.amount,
                        p.meta.checks,
                        p.meta.response_code.as_deref().unwrap_or("-"),
                        p.meta.response_message.as_deref().unwrap_or("")
                    );
                }
                eprintln!("{} payout(s) need review", items.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        ReviewCommand::Resolve {
            reference,
            state,
            note,
            actor,
        } => {
            let to: State = state.parse()?;
            let ids = super::status::candidate_ids(&reference, None)?;
            for id in ids {
                if client.ledger().get(&id).await?.is_some() {
                    let s = client.resolve_review(&id, to, &actor, &note).await?;
                    println!("{id} resolved as {s} by {actor}");
                    return Ok(ExitCode::SUCCESS);
                }
            }
            eprintln!("error: no payout {reference}");
            Ok(ExitCode::from(2))
        }
    }
}
