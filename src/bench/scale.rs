//! Scale figures that need no workers: Redis memory per ledger record, and the
//! reconciliation sweep's cost against the size of the due index.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::env::BenchEnv;
use super::redis_stats::snapshot;
use super::stats::Summary;
use crate::domain::{AccountNumber, BankCode, Beneficiary, Money, PartnerReference};
use crate::jobs::Queue;
use crate::ledger::{now_ms, Ledger, NewPayout, PayoutDetails, PayoutKind};
use crate::sweep::Sweeper;

/// Redis memory taken by ledger records written through [`Ledger::create`].
#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    pub records: usize,
    pub used_memory_delta: i64,
    pub bytes_per_record: f64,
    /// bytes_per_record × 1,000,000 (an extrapolation, not a measurement).
    pub mib_per_million: f64,
    pub keys_per_record: f64,
    pub write_secs: f64,
    pub creates_per_sec: f64,
    /// used_memory growth per job of the transfer jobs the producer pushes after
    /// each create (apalis data field + metadata hash + active-list entry), with
    /// the record as created in the job ([`crate::ledger::Created`]) ...
    pub job_bytes_with_snapshot: f64,
    /// ... and the same job naming only the payout.
    pub job_bytes_without_snapshot: f64,
    /// `Ledger::count_by_state` (what `/metrics` and the console call) with the
    /// records in the due index: µs of wall time over 5 calls.
    pub count_by_state_micros: SummaryMicros,
}

/// One sweep configuration: `due` real payouts due now among `not_due` entries due later.
#[derive(Debug, Clone, Serialize)]
pub struct SweepCase {
    pub due: usize,
    pub not_due: usize,
    pub index_size: u64,
    pub claimed: usize,
    pub enqueued: usize,
    /// `Sweeper::sweep_once` wall time over the repetitions (µs).
    pub micros: SummaryMicros,
}

/// Min / median / max of the repetitions, µs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SummaryMicros {
    pub reps: usize,
    pub min: i64,
    pub median: i64,
    pub max: i64,
}

fn new_payout(reference: &str, i: usize) -> anyhow::Result<NewPayout> {
    Ok(NewPayout {
        details: PayoutDetails {
            kind: PayoutKind::Transfer,
            provider: crate::providers::ifortepay::ID,
            partner_reference: PartnerReference::parse(reference)?,
            amount: Money::parse("150000", "amount")?,
            beneficiary: Some(Beneficiary {
                account_no: AccountNumber::parse(&format!("8{:09}", i % 1_000_000_000))?,
                bank_code: BankCode::parse("014")?,
                name: "Budi Santoso".into(),
                email: None,
                phone: None,
                address: None,
                residence: None,
                customer_type: None,
            }),
            remark: Some("bench".into()),
            payment: None,
            verify_beneficiary_name: false,
        },
        card_token: None,
    })
}

/// Write `n` records with `due_at`, 64 creates in flight.
async fn create_many(ledger: &Ledger, prefix: &str, n: usize, due_at: i64) -> anyhow::Result<()> {
    stream::iter(0..n)
        .map(|i| async move {
            let p = new_payout(&format!("{prefix}-{i:09}"), i)?;
            ledger.create(&p, now_ms(), due_at).await?;
            Ok::<(), anyhow::Error>(())
        })
        .buffer_unordered(64)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// `records` ACCEPTED payouts through the create path; used_memory before/after.
pub async fn run_memory(env: &BenchEnv, records: usize) -> anyhow::Result<MemoryReport> {
    env.reset().await?;
    let s = env.run_settings(1, 50);
    let ledger = Ledger::connect(&s.redis).await?;
    let mut conn = env.conn();
    let keys0: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await?;
    let before = snapshot(&mut conn).await?;
    let started = Instant::now();
    create_many(&ledger, "MEM", records, now_ms() + 300_000).await?;
    let secs = started.elapsed().as_secs_f64();
    let after = snapshot(&mut conn).await?;
    let keys1: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await?;
    let delta = (after.used_memory - before.used_memory) as i64;
    let per = delta as f64 / records.max(1) as f64;
    let mut counts = Vec::with_capacity(5);
    for _ in 0..5 {
        let t = Instant::now();
        let c = ledger.count_by_state().await?;
        counts.push(t.elapsed().as_micros() as i64);
        anyhow::ensure!(
            c.get(&crate::domain::State::Accepted) == Some(&(records as u64)),
            "count_by_state: {c:?}"
        );
    }
    counts.sort_unstable();
    let count_by_state_micros = SummaryMicros {
        reps: counts.len(),
        min: counts[0],
        median: counts[counts.len() / 2],
        max: counts[counts.len() - 1],
    };
    // The jobs, measured apart: with the snapshot as `Client::enqueue_transfers`
    // pushes them, then (other payouts) without it, as the sweep pushes them.
    let queue = Queue::new(
        ledger.connection(),
        ledger.keys(),
        &crate::jobs::QueueOptions::from_settings(&s),
    );
    let now = now_ms();
    let mut job_bytes = [0.0; 2];
    for (k, with) in [(0, true), (1, false)] {
        let jobs = (0..records)
            .map(|i| {
                let p = new_payout(&format!("JOB{k}-{i:09}"), i)?;
                let job = crate::jobs::Job::transfer(p.details.id());
                Ok(if with {
                    job.with_created(crate::ledger::Created::new(p.details, now, now + 300_000))
                } else {
                    job
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let m0 = snapshot(&mut conn).await?;
        queue.push_many(jobs).await?;
        let m1 = snapshot(&mut conn).await?;
        job_bytes[k] = (m1.used_memory - m0.used_memory) as f64 / records.max(1) as f64;
    }
    Ok(MemoryReport {
        records,
        used_memory_delta: delta,
        bytes_per_record: per,
        mib_per_million: per * 1_000_000.0 / (1024.0 * 1024.0),
        keys_per_record: (keys1.saturating_sub(keys0)) as f64 / records.max(1) as f64,
        write_secs: secs,
        creates_per_sec: records as f64 / secs.max(1e-9),
        job_bytes_with_snapshot: job_bytes[0],
        job_bytes_without_snapshot: job_bytes[1],
        count_by_state_micros,
    })
}

/// Fill the due index with `n` entries due in ten days (not real payouts: the
/// sweep never reaches them, which is the point), 10,000 per ZADD.
async fn fill_not_due(
    ledger: &Ledger,
    mut conn: redis::aio::ConnectionManager,
    n: usize,
) -> anyhow::Result<()> {
    let far = now_ms() + 10 * 86_400_000;
    let key = ledger.keys().due();
    let mut i = 0;
    while i < n {
        let end = (i + 10_000).min(n);
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(&key);
        for j in i..end {
            cmd.arg(far + (j % 1000) as i64)
                .arg(format!("ifortepay:NOTDUE-{j:09}"));
        }
        let _: u64 = cmd.query_async(&mut conn).await?;
        i = end;
    }
    Ok(())
}

/// Time `Sweeper::sweep_once` with `due` payouts due among `not_due` others, `reps` times.
pub async fn run_sweep_case(
    env: &BenchEnv,
    due: usize,
    not_due: usize,
    reps: usize,
) -> anyhow::Result<SweepCase> {
    env.reset().await?;
    let s = env.run_settings(1, 50);
    let ledger = Ledger::connect(&s.redis).await?;
    let queue = Queue::new(
        ledger.connection(),
        ledger.keys(),
        &crate::jobs::QueueOptions::from_settings(&s),
    );
    let sweeper = Sweeper {
        ledger: ledger.clone(),
        queue,
        batch: s.reconcile.batch,
        lease: Duration::from_secs(60),
        providers: Default::default(),
        history_batch_min: 0,
        policy: crate::lifecycle::Policy::from_settings(&s),
    };
    create_many(&ledger, "DUE", due, now_ms() - 60_000).await?;
    fill_not_due(&ledger, env.conn(), not_due).await?;
    let ids: Vec<String> = (0..due).map(|i| format!("ifortepay:DUE-{i:09}")).collect();
    let mut conn = env.conn();
    let index_size: u64 = redis::cmd("ZCARD")
        .arg(ledger.keys().due())
        .query_async(&mut conn)
        .await?;
    let mut times = Vec::with_capacity(reps);
    let mut last = Default::default();
    for _ in 0..reps.max(1) {
        // Make the real payouts due again (the previous sweep leased them for 60 s).
        let past = now_ms() - 60_000;
        for chunk in ids.chunks(10_000) {
            let mut cmd = redis::cmd("ZADD");
            cmd.arg(ledger.keys().due()).arg("XX");
            for id in chunk {
                cmd.arg(past).arg(id);
            }
            let _: u64 = cmd.query_async(&mut conn).await?;
        }
        let started = Instant::now();
        last = sweeper.sweep_once().await?;
        times.push(started.elapsed().as_micros() as i64);
    }
    let summary = Summary::of(&mut times);
    Ok(SweepCase {
        due,
        not_due,
        index_size,
        claimed: last.claimed,
        enqueued: last.enqueued,
        micros: SummaryMicros {
            reps: times.len(),
            min: times.first().copied().unwrap_or(0),
            median: summary.p50,
            max: summary.max,
        },
    })
}
