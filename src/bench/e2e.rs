//! End to end: N transfers through W `kirim worker` processes against the sandbox,
//! and the same N jobs through W no-op workers on the same apalis configuration.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use futures::stream::{self, StreamExt, TryStreamExt};
use redis::aio::ConnectionManager;
use serde::Serialize;

use super::env::BenchEnv;
use super::procs::{self, ProcUsage, Spawn, Workers};
use super::redis_stats::{snapshot, RedisDelta};
use super::stats::{steady_rate, Summary};
use crate::client::{Client, TransferOrder};
use crate::config::Settings;
use crate::domain::{
    AccountNumber, BankCode, Beneficiary, Money, PartnerReference, Provider, State,
};
use crate::jobs::{Job, Lane, Queue, PUSH_CHUNK};
use crate::ledger::{now_ms, Ledger, PayoutId};

/// Which providers the transfers go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ProviderMix {
    /// iFortepay only (one signed HTTP call per transfer).
    Ifortepay,
    /// Round-robin over iFortepay, NICEPAY (two calls: register + approve) and Singapay.
    All,
}

impl ProviderMix {
    pub(super) fn provider(self, i: usize) -> Provider {
        match self {
            ProviderMix::Ifortepay => crate::providers::ifortepay::ID,
            ProviderMix::All => [
                crate::providers::ifortepay::ID,
                crate::providers::nicepay::ID,
                crate::providers::singapay::ID,
            ][i % 3],
        }
    }
}

/// One end-to-end configuration.
#[derive(Debug, Clone, Serialize)]
pub struct E2eOptions {
    pub transfers: usize,
    pub workers: usize,
    pub concurrency: usize,
    pub poll_ms: u64,
    pub mix: ProviderMix,
    /// Concurrent producer tasks, each enqueueing chunks of 1,000.
    pub producers: usize,
    /// Runtime threads of each worker process ([`worker_threads`]).
    pub worker_threads: usize,
}

/// What one run (pipeline or bare queue) measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// `pipeline` or `bare`.
    pub kind: &'static str,
    pub items: usize,
    pub completed: usize,
    pub enqueue_secs: f64,
    /// Enqueue start → last item final (s).
    pub total_secs: f64,
    /// items / total_secs.
    pub total_rate: f64,
    /// Items finished after enqueue ended / (last final − enqueue end).
    pub after_enqueue_rate: f64,
    /// Rate between the 10th and 90th percentile completion (pipeline only).
    pub steady_rate: Option<f64>,
    /// Enqueue → final (ms), from the ledger (pipeline only).
    pub latency_ms: Option<Summary>,
    pub redis: RedisDelta,
    pub redis_calls_per_item: f64,
    pub scripts_per_item: f64,
    pub net_bytes_per_item: f64,
    /// used_memory growth per item (ledger record, history, job data, sets).
    pub memory_bytes_per_item: f64,
    /// Pipeline only: used_memory growth per item once retention has deleted the
    /// finished jobs' data (what a final payout costs for as long as it is kept).
    pub memory_after_retention_bytes_per_item: Option<f64>,
    /// Pipeline only: the same once compaction has moved every final payout to
    /// its cold form (what a final payout costs from a minute after it settled).
    pub memory_after_compaction_bytes_per_item: Option<f64>,
    /// Pipeline only: what that compaction pass cost.
    pub compaction: Option<CompactionCost>,
    pub redis_cpu_secs: f64,
    pub workers: ProcUsage,
    /// The benchmark process: producer, progress polling and the in-process sandbox.
    pub driver_cpu_secs: f64,
    /// Final states reached (pipeline) — anything but SUCCEEDED is reported.
    pub states: BTreeMap<String, u64>,
}

/// One compaction pass over every payout of a run ([`Ledger::compact_final`]).
#[derive(Debug, Clone, Serialize)]
pub struct CompactionCost {
    pub compacted: u64,
    pub secs: f64,
    /// Redis' CPU per payout compacted (µs).
    pub redis_cpu_us_per_item: f64,
    /// The compacting process' CPU per payout compacted (µs): reading, deflating.
    pub cpu_us_per_item: f64,
}

/// Pipeline and bare queue for one worker count.
#[derive(Debug, Clone, Serialize)]
pub struct E2eReport {
    pub options: E2eOptions,
    pub pipeline: RunReport,
    pub bare: RunReport,
    /// pipeline.total_rate / bare.total_rate.
    pub ratio: f64,
}

fn order(mix: ProviderMix, run: &str, i: usize) -> anyhow::Result<TransferOrder> {
    Ok(TransferOrder {
        provider: mix.provider(i),
        partner_reference: PartnerReference::parse(&format!("B{run}-{i:09}"))?,
        amount: Money::parse("150000", "amount")?,
        beneficiary: Beneficiary {
            account_no: AccountNumber::parse(&format!("8{:09}", i % 1_000_000_000))?,
            bank_code: BankCode::parse("014")?,
            name: "Budi Santoso".into(),
            email: None,
            // NICEPAY's registration requires a phone (beneficiaryPhone).
            phone: Some("081234567890".into()),
            address: None,
            residence: None,
            customer_type: None,
        },
        remark: Some("bench".into()),
        verify_beneficiary_name: false,
    })
}

pub(super) fn spawn_workers(
    env: &BenchEnv,
    s: &Settings,
    n: usize,
    sub: &[&str],
) -> anyhow::Result<Workers> {
    let mut args = env.global_args();
    args.extend(sub.iter().map(|a| (*a).to_owned()));
    args.extend(["--concurrency".to_owned(), s.worker.concurrency.to_string()]);
    let mut child_env = env.child_env(s);
    child_env.push((
        "KIRIM_WORKER__THREADS".into(),
        worker_threads(s.worker.threads, n).to_string(),
    ));
    let how = Spawn {
        exe: env.exe.clone(),
        args,
        env: child_env,
    };
    Workers::spawn(n, &how).context("start worker processes")
}

/// Runtime threads per worker process: `worker.threads` when set, otherwise the
/// cores shared out among the `n` processes (at least one each), as one would
/// deploy them on this machine.
pub fn worker_threads(configured: usize, n: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    (cores / n.max(1)).max(1)
}

/// Wait until `n` processes × every lane registered with apalis.
pub(super) async fn wait_registered(
    conn: &mut ConnectionManager,
    queue: &Queue,
    workers: &mut Workers,
    n: usize,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut pipe = redis::pipe();
        for lane in Lane::ALL {
            pipe.zcard(queue.apalis_config(lane).workers_set());
        }
        let counts: Vec<usize> = pipe.query_async(conn).await?;
        if counts.iter().all(|c| *c >= n) {
            return Ok(());
        }
        if !workers.all_alive() {
            bail!("a worker process exited during start-up (see its stderr above)");
        }
        if Instant::now() > deadline {
            bail!("workers did not register within 30 s ({counts:?} of {n} per lane)");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Poll `count` until it reaches `target`; fail if nothing moves for 60 s.
/// Returns the wall-clock ms when it did and how many polls were made.
pub(super) async fn wait_done<F, Fut>(
    workers: &mut Workers,
    target: usize,
    every: Duration,
    mut count: F,
) -> anyhow::Result<(i64, u64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let mut polls = 0u64;
    let mut last = 0usize;
    let mut last_move = Instant::now();
    loop {
        let n = count().await?;
        polls += 1;
        if n >= target {
            return Ok((now_ms(), polls));
        }
        if n != last {
            last = n;
            last_move = Instant::now();
        }
        if last_move.elapsed() > Duration::from_secs(60) {
            bail!("no progress for 60 s: {n} of {target} done");
        }
        if !workers.all_alive() {
            bail!("a worker process died: {n} of {target} done");
        }
        tokio::time::sleep(every).await;
    }
}

fn per(n: f64, items: usize) -> f64 {
    if items == 0 {
        0.0
    } else {
        n / items as f64
    }
}

fn rate(items: usize, ms: i64) -> f64 {
    if ms <= 0 {
        0.0
    } else {
        items as f64 * 1000.0 / ms as f64
    }
}

/// The payout pipeline: ledger create + job, worker submits, sandbox answers SUCCESS.
/// A short tag of the run's namespace, for references unique to the run.
pub(crate) fn run_tag(namespace: &str) -> String {
    namespace
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .rev()
        .take(6)
        .collect()
}

pub async fn run_pipeline(env: &BenchEnv, o: &E2eOptions) -> anyhow::Result<RunReport> {
    let (s, sandbox) = env.begin_run(o.concurrency, o.poll_ms).await?;
    let client = Client::connect(&s).await?;
    let ledger = client.ledger().clone();
    let mut conn = env.conn();
    let tag = run_tag(&s.redis.namespace);
    let orders: Vec<TransferOrder> = (0..o.transfers)
        .map(|i| order(o.mix, &tag, i))
        .collect::<anyhow::Result<_>>()?;

    let mut workers = spawn_workers(env, &s, o.workers, &["worker", "--no-sweep"])?;
    wait_registered(&mut conn, client.queue(), &mut workers, o.workers).await?;

    let cpu0 = procs::self_cpu_secs();
    let before = snapshot(&mut conn).await?;
    let t0 = now_ms();
    let chunks: Vec<Vec<TransferOrder>> = orders.chunks(PUSH_CHUNK).map(|c| c.to_vec()).collect();
    stream::iter(chunks)
        .map(|chunk| {
            let client = client.clone();
            async move {
                // A producer retries a chunk refused as not durable (same references,
                // so idempotent): with `replicas_fsync` a replica's fsync of a large
                // chunk can miss the wait's timeout on a slow disk.
                let mut refused = 0;
                let results = loop {
                    match client.enqueue_transfers(&chunk).await {
                        Err(crate::client::ClientError::Ledger(
                            crate::ledger::LedgerError::NotDurable(_),
                        )) if refused < 100 => refused += 1,
                        other => break other?,
                    }
                };
                for r in results {
                    r?;
                }
                Ok::<(), anyhow::Error>(())
            }
        })
        .buffer_unordered(o.producers.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    let t_enq = now_ms();

    let finals = [State::Succeeded, State::Failed, State::Cancelled];
    let keys: Vec<String> = finals
        .iter()
        .map(|st| ledger.keys().state_set(*st))
        .collect();
    let waited = wait_done(&mut workers, o.transfers, Duration::from_millis(10), || {
        let mut c = conn.clone();
        let keys = keys.clone();
        async move {
            let mut pipe = redis::pipe();
            for k in &keys {
                pipe.scard(k);
            }
            let v: Vec<usize> = pipe.query_async(&mut c).await?;
            Ok(v.iter().sum())
        }
    })
    .await;
    let polls = match waited {
        Ok((_, polls)) => polls,
        Err(e) => {
            let states = ledger.count_by_state().await.unwrap_or_default();
            bail!("{e}; payouts by state: {states:?}");
        }
    };
    let usage = workers.usage();
    let after = snapshot(&mut conn).await?;
    let driver_cpu = procs::self_cpu_secs() - cpu0;
    workers.stop(Duration::from_secs(10));
    sandbox.shutdown().await;

    let own = [("scard".to_owned(), polls * keys.len() as u64)]
        .into_iter()
        .collect();
    let redis = RedisDelta::between(&before, &after, &own);

    // Latency and completion times from the ledger.
    let ids: Vec<String> = orders
        .iter()
        .map(|o| PayoutId::new(o.provider, o.partner_reference.clone()).to_string())
        .collect();
    let (mut latencies, mut done_at, states) = read_outcomes(&ledger, &ids).await?;
    let kept = memory_after_retention(&client, &mut conn).await?;
    let (compaction, cold) = compact_all(&ledger, &mut conn).await?;
    let last = done_at.iter().copied().max().unwrap_or(t_enq);
    let after_enq = done_at.iter().filter(|t| **t > t_enq).count();
    done_at.sort_unstable();
    let items = o.transfers;
    Ok(RunReport {
        kind: "pipeline",
        items,
        completed: done_at.len(),
        enqueue_secs: (t_enq - t0) as f64 / 1000.0,
        total_secs: (last - t0) as f64 / 1000.0,
        total_rate: rate(items, last - t0),
        after_enqueue_rate: rate(after_enq, last - t_enq),
        steady_rate: steady_rate(&done_at),
        latency_ms: Some(Summary::of(&mut latencies)),
        redis_calls_per_item: per(redis.all_calls as f64, items),
        scripts_per_item: per(redis.scripts as f64, items),
        net_bytes_per_item: per(redis.net_bytes as f64, items),
        memory_bytes_per_item: per(redis.used_memory as f64, items),
        memory_after_retention_bytes_per_item: Some(per(kept - before.used_memory, items)),
        memory_after_compaction_bytes_per_item: Some(per(cold - before.used_memory, items)),
        compaction: Some(compaction),
        redis_cpu_secs: redis.cpu_secs,
        redis,
        workers: usage,
        driver_cpu_secs: driver_cpu,
        states,
    })
}

/// Redis' used_memory after retention has deleted every finished job (the
/// workers are stopped, so every ack is in). Retention deletes jobs finished
/// before the current whole second, so it runs once that second has passed.
async fn memory_after_retention(
    client: &Client,
    conn: &mut ConnectionManager,
) -> anyhow::Result<f64> {
    let next_second = 1000 - now_ms().rem_euclid(1000) + 10;
    tokio::time::sleep(Duration::from_millis(next_second as u64)).await;
    client
        .queue()
        .apply_retention(Duration::ZERO)
        .await
        .context("retention after the run")?;
    Ok(snapshot(conn).await?.used_memory)
}

/// Compact every final payout now, and Redis' used_memory after.
async fn compact_all(
    ledger: &Ledger,
    conn: &mut ConnectionManager,
) -> anyhow::Result<(CompactionCost, f64)> {
    let redis0 = snapshot(conn).await?.cpu_secs;
    let cpu0 = procs::self_cpu_secs();
    let t0 = std::time::Instant::now();
    let done = ledger
        .compact_final(i64::MAX, usize::MAX)
        .await
        .context("compaction after the run")?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = procs::self_cpu_secs() - cpu0;
    let after = snapshot(conn).await?;
    let n = done.compacted.max(1) as f64;
    let cost = CompactionCost {
        compacted: done.compacted,
        secs,
        redis_cpu_us_per_item: (after.cpu_secs - redis0) * 1e6 / n,
        cpu_us_per_item: cpu * 1e6 / n,
    };
    Ok((cost, after.used_memory))
}

type Outcomes = (Vec<i64>, Vec<i64>, BTreeMap<String, u64>);

/// Per payout: enqueue→final latency (the `created` entry → the entry that made
/// it final) and the final time; plus a count of states.
async fn read_outcomes(ledger: &Ledger, ids: &[String]) -> anyhow::Result<Outcomes> {
    let mut latencies = Vec::with_capacity(ids.len());
    let mut done_at = Vec::with_capacity(ids.len());
    let mut states: BTreeMap<String, u64> = BTreeMap::new();
    for (state, trail) in ledger.trails(ids).await? {
        *states.entry(state.unwrap_or_default()).or_default() += 1;
        let created = trail.first().map(|e| e.at);
        let finished = trail
            .iter()
            .find(|e| e.to.is_some_and(State::is_final))
            .map(|e| e.at);
        if let (Some(created), Some(finished)) = (created, finished) {
            latencies.push(finished - created);
            done_at.push(finished);
        }
    }
    Ok((latencies, done_at, states))
}

/// The bare queue: the same number of jobs through no-op workers.
pub async fn run_bare(env: &BenchEnv, o: &E2eOptions) -> anyhow::Result<RunReport> {
    let (s, sandbox) = env.begin_run(o.concurrency, o.poll_ms).await?;
    let ledger = Ledger::connect(&s.redis).await?;
    let queue = Queue::new(
        ledger.connection(),
        ledger.keys(),
        &crate::jobs::QueueOptions::from_settings(&s),
    );
    let mut conn = env.conn();
    let tag = "bare";
    let jobs: Vec<Job> = (0..o.transfers)
        .map(|i| {
            let o = order(o.mix, tag, i)?;
            Ok(Job::transfer(PayoutId::new(
                o.provider,
                o.partner_reference,
            )))
        })
        .collect::<anyhow::Result<_>>()?;

    let mut workers = spawn_workers(env, &s, o.workers, &["bench", "--noop-worker"])?;
    wait_registered(&mut conn, &queue, &mut workers, o.workers).await?;

    let done_key = queue.apalis_config(Lane::Transfer).done_jobs_set();
    let cpu0 = procs::self_cpu_secs();
    let before = snapshot(&mut conn).await?;
    let t0 = now_ms();
    let chunks: Vec<Vec<Job>> = jobs.chunks(PUSH_CHUNK).map(|c| c.to_vec()).collect();
    stream::iter(chunks)
        .map(|chunk| {
            let queue = queue.clone();
            async move { queue.push_many(chunk).await }
        })
        .buffer_unordered(o.producers.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    let t_enq = now_ms();
    let mut c = conn.clone();
    let done_at_enq: usize = redis::cmd("SCARD")
        .arg(&done_key)
        .query_async(&mut c)
        .await?;
    let (t_done, polls) = wait_done(&mut workers, o.transfers, Duration::from_millis(5), || {
        let mut c = conn.clone();
        let key = done_key.clone();
        async move {
            let n: usize = redis::cmd("SCARD").arg(&key).query_async(&mut c).await?;
            Ok(n)
        }
    })
    .await?;
    let usage = workers.usage();
    let after = snapshot(&mut conn).await?;
    let driver_cpu = procs::self_cpu_secs() - cpu0;
    workers.stop(Duration::from_secs(10));
    sandbox.shutdown().await;
    let own = [("scard".to_owned(), polls + 1)].into_iter().collect();
    let redis = RedisDelta::between(&before, &after, &own);
    let items = o.transfers;
    Ok(RunReport {
        kind: "bare",
        items,
        completed: items,
        enqueue_secs: (t_enq - t0) as f64 / 1000.0,
        total_secs: (t_done - t0) as f64 / 1000.0,
        total_rate: rate(items, t_done - t0),
        after_enqueue_rate: rate(items.saturating_sub(done_at_enq), t_done - t_enq),
        steady_rate: None,
        latency_ms: None,
        redis_calls_per_item: per(redis.all_calls as f64, items),
        scripts_per_item: per(redis.scripts as f64, items),
        net_bytes_per_item: per(redis.net_bytes as f64, items),
        memory_bytes_per_item: per(redis.used_memory as f64, items),
        memory_after_retention_bytes_per_item: None,
        memory_after_compaction_bytes_per_item: None,
        compaction: None,
        redis_cpu_secs: redis.cpu_secs,
        redis,
        workers: usage,
        driver_cpu_secs: driver_cpu,
        states: BTreeMap::new(),
    })
}

/// Pipeline then bare queue, same options.
pub async fn run_e2e(env: &BenchEnv, o: &E2eOptions) -> anyhow::Result<E2eReport> {
    let pipeline = run_pipeline(env, o)
        .await
        .with_context(|| format!("payout pipeline, {} worker processes", o.workers))?;
    let bare = run_bare(env, o)
        .await
        .with_context(|| format!("bare queue, {} worker processes", o.workers))?;
    let ratio = if bare.total_rate > 0.0 {
        pipeline.total_rate / bare.total_rate
    } else {
        0.0
    };
    Ok(E2eReport {
        options: o.clone(),
        pipeline,
        bare,
        ratio,
    })
}
