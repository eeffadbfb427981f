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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_offers_every_payout_through_the_api_and_each_completes() {
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let base = Settings::load_from(&default, None, false).expect("default config loads");
    let mut env = BenchEnv::start(base, None, Durability::None)
        .await
        .expect("bench environment starts");
    // The test binary is not `kirim`: workers and `kirim serve` are the real binary.
    env.exe = PathBuf::from(env!("CARGO_BIN_EXE_kirim"));
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
