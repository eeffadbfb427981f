//! `kirim bench` for real, asserting no speed: the open-loop run offers payouts
//! through `kirim serve` on a real Redis with real worker processes, and every
//! figure it reports must add up.

use std::path::{Path, PathBuf};

use kirim::bench::e2e::ProviderMix;
use kirim::bench::env::BenchEnv;
use kirim::bench::open_loop::{run_open_loop, OpenLoopOptions};
use kirim::bench::stats::Summary;
use kirim::config::Settings;
use kirim::durability::Durability;

fn ordered(what: &str, s: &Summary, count: usize) {
    assert_eq!(s.count, count, "{what}: {s:?}");
    assert!(
        s.p50 <= s.p95 && s.p95 <= s.p99 && s.p99 <= s.max,
        "{what} percentiles out of order: {s:?}"
    );
    assert!(s.p50 >= 0, "{what}: {s:?}");
}

/// The repository's default configuration.
fn default_settings() -> Settings {
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    Settings::load_from(&default, None, false).expect("default config loads")
}

/// The benchmark's world on the default configuration, durability `none`.
async fn bench_env() -> BenchEnv {
    let mut env = BenchEnv::start(default_settings(), None, Durability::None)
        .await
        .expect("bench environment starts");
    // The test binary is not `kirim`: workers and `kirim serve` are the real binary.
    env.exe = PathBuf::from(env!("CARGO_BIN_EXE_kirim"));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_offers_every_payout_through_the_api_and_each_completes() {
    let env = bench_env().await;
    let o = OpenLoopOptions {
        rate: 50.0,
        duration_secs: 1.5,
        workers: 1,
        concurrency: 8,
        poll_ms: 20,
        mix: ProviderMix::All,
        connections: 8,
    };
    let r = run_open_loop(&env, &o).await.expect("open-loop run");

    assert_eq!(r.offered, 75);
    assert_eq!(r.accepted, r.offered, "not accepted: {:?}", r.errors);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.completed, r.offered);
    assert_eq!(
        r.states.get("SUCCEEDED").copied(),
        Some(75),
        "states: {:?}",
        r.states
    );
    assert_eq!(r.states.values().sum::<u64>(), 75);
    assert!(r.late_starts <= r.offered);
    ordered("start lag", &r.start_lag_us, r.offered);
    ordered("API latency", &r.api_us, r.accepted);
    ordered("request → final", &r.enqueue_to_final_ms, r.completed);
    assert!(r.achieved_rate > 0.0 && r.completion_rate > 0.0, "{r:?}");
    assert!(r.worker_cpu_secs > 0.0 && r.api_cpu_secs >= 0.0, "{r:?}");
    assert!(r.redis_calls_per_payout > 0.0, "{r:?}");

    // The report is what `--json` prints.
    let json = serde_json::to_value(&r).expect("report serialises");
    assert_eq!(json["enqueue_to_final_ms"]["count"], 75);
    assert_eq!(json["options"]["rate"], 50.0);
}

/// Names of the threads of process `pid` (Linux `/proc`).
fn thread_names(pid: u32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_threads_sets_the_runtime_threads_of_a_worker_process() {
    let redis = crate::common::redis();
    let sandbox = crate::common::sandbox(|_| {}).await;
    let mut settings = crate::common::settings_for(&redis);
    crate::common::point_at(&mut settings, &sandbox);
    for threads in [1usize, 3] {
        let env = crate::common::worker_env(
            &settings,
            &sandbox,
            &[("KIRIM_WORKER__THREADS", &threads.to_string())],
        );
        let worker = crate::common::WorkerProcess::spawn("worker-threads", &env);
        let pid = worker.pid();
        // Registered with apalis means the runtime is up and running the lanes.
        let runtime_threads = || {
            thread_names(pid)
                .iter()
                // tokio's worker threads ("tokio-rt-worker", "tokio-runtime-worker"
                // in older versions; 15 characters in /proc).
                .filter(|n| n.starts_with("tokio-r") && n.contains("-w"))
                .count()
        };
        crate::common::wait_for(
            "the worker's runtime threads",
            std::time::Duration::from_secs(20),
            || async { runtime_threads() >= threads },
        )
        .await;
        assert_eq!(
            runtime_threads(),
            threads,
            "threads: {:?}",
            thread_names(pid)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_sandbox_runs_on_its_core_alone_and_answers() {
    use kirim::bench::pin::{allowed_cpus, BenchSandbox, Split};
    let Ok(split) = Split::of(&allowed_cpus().expect("affinity readable")) else {
        // One core: `--pin-sandbox` refuses (tested in the unit tests); nothing to pin.
        return;
    };
    let cfg = kirim::bench::env::sandbox_config().expect("sandbox config");
    let sandbox = BenchSandbox::start(cfg, Some(split.sandbox))
        .await
        .expect("pinned sandbox starts");
    // It answers over real HTTP.
    let resp = reqwest::get(sandbox.handle().url("/admin/bookings"))
        .await
        .expect("sandbox answers");
    assert!(resp.status().is_success(), "{}", resp.status());
    // Its runtime thread may run on the sandbox's core only.
    let me = std::process::id();
    let mut pinned = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{me}/task")).expect("/proc") {
        let path = task.expect("task").path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if name.trim() == "kirim-sandbox" {
            let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
            let allowed = status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_owned());
            pinned.push(allowed);
        }
    }
    assert!(!pinned.is_empty(), "no kirim-sandbox thread");
    for allowed in pinned {
        assert_eq!(allowed, Some(split.sandbox.to_string()));
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_run_reports_memory_before_and_after_retention() {
    use kirim::bench::e2e::{run_e2e, E2eOptions};
    let env = bench_env().await;
    let o = E2eOptions {
        transfers: 300,
        workers: 1,
        concurrency: 8,
        poll_ms: 20,
        mix: ProviderMix::Ifortepay,
        producers: 1,
        worker_threads: 1,
    };
    let r = run_e2e(&env, &o).await.expect("backlog run");
    let p = &r.pipeline;
    assert_eq!(p.completed, 300);
    assert_eq!(
        p.states.get("SUCCEEDED").copied(),
        Some(300),
        "{:?}",
        p.states
    );
    let kept = p
        .memory_after_retention_bytes_per_item
        .expect("the pipeline run measures memory after retention");
    // Retention deleted the jobs' data and meta, and kept the ledger.
    assert!(kept > 0.0, "{kept}");
    assert!(
        kept < p.memory_bytes_per_item,
        "{kept} vs {}",
        p.memory_bytes_per_item
    );
    // Compaction moved every final payout to its cold form, in less room.
    let cold = p
        .memory_after_compaction_bytes_per_item
        .expect("the pipeline run measures memory after compaction");
    let c = p.compaction.as_ref().expect("the pipeline run compacts");
    assert_eq!(c.compacted, 300);
    assert!(
        cold > 0.0 && cold < kept,
        "{cold} after compaction vs {kept}"
    );
    assert_eq!(r.bare.memory_after_retention_bytes_per_item, None);
    assert!(r.bare.compaction.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_args_reach_the_private_server() {
    if std::env::var("REDIS_URL").is_ok_and(|u| !u.is_empty()) {
        // A shared server is never reconfigured by the benchmark.
        return;
    }
    let base = default_settings();
    let args = ["--hash-max-listpack-value".to_owned(), "1024".to_owned()];
    for durability in [Durability::Fsync, Durability::None] {
        let env = BenchEnv::start_with(base.clone(), None, durability, &args)
            .await
            .expect("bench environment starts");
        let mut conn = env.conn();
        let got: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("hash-max-listpack-value")
            .query_async(&mut conn)
            .await
            .expect("CONFIG GET");
        assert_eq!(
            got,
            vec!["hash-max-listpack-value", "1024"],
            "{durability:?}"
        );
    }
}
