//! `kirim bench`: end-to-end benchmark (see [`crate::bench`]). Prints a table, or
//! JSON with `--json`. Not a test: nothing here asserts a speed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use crate::bench::e2e::{run_e2e, E2eOptions, E2eReport, ProviderMix, RunReport};
use crate::bench::env::BenchEnv;
use crate::bench::open_loop::{run_open_loop, OpenLoopOptions, OpenLoopReport};
use crate::bench::scale::{run_memory, run_sweep_case, MemoryReport, SweepCase};
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Open loop: offer this many payouts per second through `kirim serve` (POST
    /// /v1/transfers) for --duration seconds, instead of the backlog runs.
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// Seconds of offering for --rate.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub duration: f64,
    /// Requests in flight at most for --rate (HTTP connections to the API).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Transfers per run (the bare queue gets as many no-op jobs).
    #[arg(long, default_value_t = 20_000)]
    pub transfers: usize,
    /// Worker processes; a list (1,2,4) runs each count in turn.
    #[arg(long, value_delimiter = ',', default_value = "2")]
    pub workers: Vec<usize>,
    /// Jobs in flight per lane per worker process (default: worker.concurrency).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Idle poll interval of the workers, ms (default: worker.poll_interval_ms).
    #[arg(long)]
    pub poll_interval_ms: Option<u64>,
    /// Where the transfers go.
    #[arg(long, value_enum, default_value = "ifortepay")]
    pub providers: ProviderMix,
    /// Concurrent producer tasks (each enqueues chunks of 1,000 via bulk intake).
    #[arg(long, default_value_t = 2)]
    pub producers: usize,
    /// Also measure Redis memory per ledger record (writes --records via the create path).
    #[arg(long)]
    pub memory: bool,
    /// Records written for --memory (the figure is extrapolated to 1,000,000).
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
    /// Also time the reconciliation sweep: 1,000 due among 1,000, then among --not-due more.
    #[arg(long)]
    pub sweep: bool,
    /// Entries due later in the index for --sweep.
    #[arg(long, default_value_t = 1_000_000)]
    pub not_due: usize,
    /// Skip the end-to-end runs (only --memory / --sweep).
    #[arg(long)]
    pub no_e2e: bool,
    /// What the ledger waits for (redis.durability): the private Redis is started
    /// to match (`fsync`: appendfsync always; `none`: everysec; `replicas`: a
    /// primary with appendfsync everysec plus one replica, WAIT 1).
    #[arg(long, value_enum)]
    pub durability: Option<crate::durability::Durability>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Extra arguments for the benchmark's private Redis servers, as one string
    /// (e.g. "--hash-max-listpack-value 1024"); ignored with REDIS_URL.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub redis_args: Option<String>,
    /// Run each sandbox alone on the last core, and the driver, Redis, workers and
    /// API on the others (Linux): the figures show kirim's own ceiling.
    #[arg(long)]
    pub pin_sandbox: bool,
    /// Internal: run as a no-op worker process of the bare-queue run.
    #[arg(long, hide = true)]
    pub noop_worker: bool,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    /// `--pin-sandbox`: the sandbox's core and the others'.
    #[serde(skip_serializing_if = "Option::is_none")]
    pinned: Option<crate::bench::pin::Split>,
    e2e: Vec<E2eReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    open_loop: Vec<OpenLoopReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<MemoryReport>,
    sweep: Vec<SweepCase>,
}

pub async fn run(
    settings: Settings,
    a: BenchArgs,
    config: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    if a.noop_worker {
        let concurrency = a.concurrency.unwrap_or(settings.worker.concurrency);
        crate::bench::noop::run_noop_worker(settings, concurrency, super::shutdown_signal())
            .await?;
        return Ok(ExitCode::SUCCESS);
    }
    let concurrency = a.concurrency.unwrap_or(settings.worker.concurrency);
    let settings_threads = settings.worker.threads;
    let poll_ms = a
        .poll_interval_ms
        .unwrap_or(settings.worker.poll_interval_ms);
    let durability = a.durability.unwrap_or(settings.redis.durability);
    // Before anything is started: Redis and the workers inherit this process's cores.
    let split = if a.pin_sandbox {
        let split = crate::bench::pin::Split::of(&crate::bench::pin::allowed_cpus()?)?;
        split.confine_process()?;
        Some(split)
    } else {
        None
    };
    let server_args: Vec<String> = a
        .redis_args
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let mut env = BenchEnv::start_with(settings, config, durability, &server_args).await?;
    env.sandbox_cpu = split.as_ref().map(|s| s.sandbox);
    if let (Some(split), false) = (&split, a.json) {
        println!(
            "pinned: the sandbox alone on CPU {}; the driver, Redis, workers and API on CPU {:?}",
            split.sandbox, split.rest
        );
    }
    if !a.json {
        println!(
            "kirim bench: Redis {} ({}{}), redis.durability = {durability}, in-process sandbox per run (SUCCESS at once)",
            env.redis.url(),
            if server_args.is_empty() || !env.redis.is_private() {
                String::new()
            } else {
                format!("{} ", server_args.join(" "))
            },
            if env.redis.is_private() {
                "private"
            } else {
                "REDIS_URL, shared: figures include other clients"
            }
        );
    }
    let mut report = Report {
        pinned: split.clone(),
        ..Report::default()
    };
    if let Some(rate) = a.rate {
        for &w in &a.workers {
            let o = OpenLoopOptions {
                rate,
                duration_secs: a.duration,
                workers: w.max(1),
                concurrency,
                poll_ms,
                mix: a.providers,
                connections: a.connections.max(1),
            };
            let n = o.requests()?;
            if !a.json {
                eprintln!(
                    "running open loop W={} C={}: {rate}/s for {} s = {n} payouts ({:?}) …",
                    o.workers, o.concurrency, o.duration_secs, o.mix
                );
            }
            report.open_loop.push(
                run_open_loop(&env, &o)
                    .await
                    .with_context(|| format!("open loop, {} worker processes", o.workers))?,
            );
        }
    } else if !a.no_e2e {
        for &w in &a.workers {
            let o = E2eOptions {
                transfers: a.transfers,
                workers: w.max(1),
                concurrency,
                poll_ms,
                mix: a.providers,
                producers: a.producers,
                worker_threads: crate::bench::e2e::worker_threads(settings_threads, w.max(1)),
            };
            if !a.json {
                eprintln!(
                    "running W={} C={} N={} ({:?}) …",
                    o.workers, o.concurrency, o.transfers, o.mix
                );
            }
            report.e2e.push(run_e2e(&env, &o).await?);
        }
    }
    if a.memory {
        report.memory = Some(
            run_memory(&env, a.records)
                .await
                .context("ledger memory run")?,
        );
    }
    if a.sweep {
        for not_due in [0, a.not_due] {
            report
                .sweep
                .push(run_sweep_case(&env, 1000, not_due, 7).await?);
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &Report) {
    print_open_loop(&r.open_loop);
    if let Some(first) = r.e2e.first() {
        let o = &first.options;
        println!(
            "\nEnd to end: {} transfers ({}), concurrency {} per lane per process, poll {} ms, {} producers",
            o.transfers,
            match o.mix {
                ProviderMix::Ifortepay => "iFortepay only",
                ProviderMix::All => "iFortepay/NICEPAY/Singapay round-robin",
            },
            o.concurrency,
            o.poll_ms,
            o.producers
        );
        println!(
            "{:>2} | {:>22} | {:>16} | {:>5} | {:>16} | {:>9} | {:>8} | {:>12}",
            "W",
            "pipeline tx/s tot/aft/st",
            "bare jobs/s tot/aft",
            "ratio",
            "latency p50/95/99",
            "cmds/tx",
            "bytes/tx",
            "wrk CPU/RSS"
        );
        for e in &r.e2e {
            let p = &e.pipeline;
            let b = &e.bare;
            let lat = p.latency_ms.unwrap_or_default();
            println!(
                "{:>2} | {:>6.0} /{:>6.0} /{:>6.0} | {:>7.0} /{:>7.0} | {:>5.2} | {:>5}/{:>5}/{:>5} | {:>9.1} | {:>8.0} | {:>5.1}s/{:>4.0}M",
                e.options.workers,
                p.total_rate,
                p.after_enqueue_rate,
                p.steady_rate.unwrap_or(0.0),
                b.total_rate,
                b.after_enqueue_rate,
                e.ratio,
                lat.p50,
                lat.p95,
                lat.p99,
                p.redis_calls_per_item,
                p.net_bytes_per_item,
                p.workers.cpu_secs,
                p.workers.peak_rss_mib,
            );
        }
        for e in &r.e2e {
            println!(
                "\nW={} ({} runtime thread(s) each):",
                e.options.workers, e.options.worker_threads
            );
            print_run(&e.pipeline);
            print_run(&e.bare);
        }
    }
    if let Some(m) = &r.memory {
        println!(
            "\nLedger memory: {} ACCEPTED records via Ledger::create: used_memory +{} bytes = {:.0} bytes/record, {:.1} keys/record → {:.0} MiB per 1,000,000 records (extrapolated); {:.0} creates/s",
            m.records, m.used_memory_delta, m.bytes_per_record, m.keys_per_record, m.mib_per_million, m.creates_per_sec
        );
        println!(
            "Transfer job per record (data, apalis metadata, active list): {:.0} bytes with the record as created in it, {:.0} bytes naming the payout only",
            m.job_bytes_with_snapshot, m.job_bytes_without_snapshot
        );
        let c = &m.count_by_state_micros;
        println!(
            "Ledger::count_by_state (/metrics, console) over {} ACCEPTED records: {} / {} / {} µs min/median/max of {}",
            m.records, c.min, c.median, c.max, c.reps
        );
    }
    if !r.sweep.is_empty() {
        println!("\nReconciliation sweep (Sweeper::sweep_once, batch 1000):");
        println!(
            "{:>6} | {:>10} | {:>10} | {:>8} | {:>22}",
            "due", "not due", "index", "claimed", "µs min/median/max"
        );
        for c in &r.sweep {
            println!(
                "{:>6} | {:>10} | {:>10} | {:>8} | {:>6}/{:>7}/{:>7} ({} reps)",
                c.due,
                c.not_due,
                c.index_size,
                c.claimed,
                c.micros.min,
                c.micros.median,
                c.micros.max,
                c.micros.reps
            );
        }
    }
}

fn print_run(p: &RunReport) {
    println!(
        "  {:<8} {} items in {:.2} s (enqueue {:.2} s): {:.0}/s total, {:.0}/s after enqueue{}",
        p.kind,
        p.completed,
        p.total_secs,
        p.enqueue_secs,
        p.total_rate,
        p.after_enqueue_rate,
        p.steady_rate
            .map(|s| format!(", {s:.0}/s steady (p10→p90)"))
            .unwrap_or_default()
    );
    if let Some(l) = p.latency_ms {
        println!(
            "           enqueue→final ms: p50 {} p95 {} p99 {} max {} mean {:.0}",
            l.p50, l.p95, l.p99, l.max, l.mean
        );
    }
    if p.states.keys().any(|k| k != "SUCCEEDED") {
        println!("           states: {:?}", p.states);
    }
    println!(
        "           Redis: {:.1} commands/item ({:.2} scripts), {:.0} bytes/item on the wire, +{:.0} bytes/item memory, {:.2} s Redis CPU",
        p.redis_calls_per_item, p.scripts_per_item, p.net_bytes_per_item, p.memory_bytes_per_item, p.redis_cpu_secs
    );
    if let Some(kept) = p.memory_after_retention_bytes_per_item {
        println!("           memory kept per item once retention has run: +{kept:.0} bytes");
    }
    if let (Some(cold), Some(c)) = (p.memory_after_compaction_bytes_per_item, &p.compaction) {
        println!(
            "           … and once compaction has run: +{cold:.0} bytes ({} compacted in {:.2} s: {:.1} µs Redis CPU, {:.1} µs compactor CPU each)",
            c.compacted, c.secs, c.redis_cpu_us_per_item, c.cpu_us_per_item
        );
    }
    println!(
        "           workers: {:.2} s CPU, peak RSS {:.0} MiB (max) / {:.0} MiB (sum); driver+sandbox {:.2} s CPU",
        p.workers.cpu_secs, p.workers.peak_rss_mib, p.workers.total_peak_rss_mib, p.driver_cpu_secs
    );
    let top: Vec<String> = p
        .redis
        .commands
        .iter()
        .take(14)
        .map(|(k, n)| format!("{k} {:.2}", *n as f64 / p.items.max(1) as f64))
        .collect();
    println!("           per item: {}", top.join(", "));
}

fn print_open_loop(runs: &[OpenLoopReport]) {
    let Some(first) = runs.first() else {
        return;
    };
    let o = &first.options;
    println!(
        "\nOpen loop through kirim serve: {}/s for {} s ({}), concurrency {} per lane per process, poll {} ms, ≤ {} connections",
        o.rate,
        o.duration_secs,
        match o.mix {
            ProviderMix::Ifortepay => "iFortepay only",
            ProviderMix::All => "iFortepay/NICEPAY/Singapay round-robin",
        },
        o.concurrency,
        o.poll_ms,
        o.connections
    );
    println!(
        "{:>2} | {:>15} | {:>13} | {:>5} | {:>21} | {:>23} | {:>12}",
        "W",
        "offered/achieved",
        "ok/final",
        "late",
        "API ms p50/p99/max",
        "→final ms p50/95/99/max",
        "CPU µs/payout wrk/api"
    );
    for r in runs {
        let api = r.api_us;
        let f = r.enqueue_to_final_ms;
        println!(
            "{:>2} | {:>7.0}/{:>7.0} | {:>6}/{:>6} | {:>5} | {:>6.2}/{:>6.2}/{:>7.1} | {:>5}/{:>5}/{:>5}/{:>5} | {:>6.0}/{:>5.0}",
            r.options.workers,
            r.offered_rate,
            r.achieved_rate,
            r.accepted,
            r.completed,
            r.late_starts,
            api.p50 as f64 / 1000.0,
            api.p99 as f64 / 1000.0,
            api.max as f64 / 1000.0,
            f.p50,
            f.p95,
            f.p99,
            f.max,
            r.worker_cpu_us_per_payout,
            r.api_cpu_us_per_payout,
        );
    }
    for r in runs {
        println!(
            "\nW={}: {} offered, {} accepted, {} final ({:.0}/s completion); late starts {} (start lag µs p50 {} p99 {} max {})",
            r.options.workers,
            r.offered,
            r.accepted,
            r.completed,
            r.completion_rate,
            r.late_starts,
            r.start_lag_us.p50,
            r.start_lag_us.p99,
            r.start_lag_us.max
        );
        println!(
            "      API ms: p50 {:.2} p95 {:.2} p99 {:.2} max {:.2}; request→final ms: p50 {} p95 {} p99 {} max {} mean {:.1}",
            r.api_us.p50 as f64 / 1000.0,
            r.api_us.p95 as f64 / 1000.0,
            r.api_us.p99 as f64 / 1000.0,
            r.api_us.max as f64 / 1000.0,
            r.enqueue_to_final_ms.p50,
            r.enqueue_to_final_ms.p95,
            r.enqueue_to_final_ms.p99,
            r.enqueue_to_final_ms.max,
            r.enqueue_to_final_ms.mean
        );
        if !r.errors.is_empty() {
            println!("      not accepted: {:?}", r.errors);
        }
        if r.states.keys().any(|k| k != "SUCCEEDED") {
            println!("      states: {:?}", r.states);
        }
        println!(
            "      CPU: workers {:.2} s, kirim serve {:.2} s (peak RSS {:.0} MiB), driver+sandbox {:.2} s, Redis {:.2} s; {:.1} Redis commands/payout",
            r.worker_cpu_secs,
            r.api_cpu_secs,
            r.api_peak_rss_mib,
            r.driver_cpu_secs,
            r.redis_cpu_secs,
            r.redis_calls_per_payout
        );
    }
}
