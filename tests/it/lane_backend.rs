//! kirim's lane backend (src/jobs/backend.rs) against a real Redis: finished jobs
//! are acknowledged per batch into the lane's `:done` set and finish-time index,
//! nothing stays in flight, and the ack script's rules hold one by one.

use std::time::Duration;

use redis::AsyncCommands;

use crate::common::{App, OK_ACCOUNT};
use kirim::domain::State;
use kirim::jobs::backend::done_at_key;
use kirim::jobs::Lane;

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finished_jobs_are_acknowledged_into_done_and_the_finish_index() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    app.start_worker().await;
    app.enqueue_ifortepay("ACK", 30, OK_ACCOUNT).await;
    let ledger = app.client.ledger().clone();
    let queue = app.client.queue().clone();
    let cfg = queue.apalis_config(Lane::Transfer).clone();
    let mut conn = ledger.connection();
    crate::common::wait_for("all succeeded and acknowledged", T, || {
        let ledger = ledger.clone();
        let mut conn = conn.clone();
        let done = cfg.done_jobs_set();
        async move {
            let ok = ledger.count_by_state().await.unwrap()[&State::Succeeded] == 30;
            let acked: u64 = conn.scard(&done).await.unwrap();
            ok && acked == 30
        }
    })
    .await;
    let done: Vec<String> = conn.smembers(cfg.done_jobs_set()).await.unwrap();
    let indexed: u64 = conn.zcard(done_at_key(&cfg)).await.unwrap();
    assert_eq!(indexed, 30, "every finished job has a finish time");
    for id in &done {
        let at: Option<f64> = conn.zscore(done_at_key(&cfg), id).await.unwrap();
        assert!(at.is_some_and(|t| t > 1.6e9), "{id}: {at:?}");
        // The batched ack writes nothing per job into the job's meta hash.
        let meta_done_at: Option<String> = conn
            .hget(format!("{}:{id}", cfg.job_meta_hash()), "done_at")
            .await
            .unwrap();
        assert_eq!(meta_done_at, None, "{id}");
    }
    // Nothing is left in any worker's in-flight set.
    let inflight: Vec<String> = conn
        .keys(format!("{}:*", cfg.inflight_jobs_set()))
        .await
        .unwrap();
    for key in inflight {
        let n: u64 = conn.scard(&key).await.unwrap();
        assert_eq!(n, 0, "{key}");
    }
    app.stop_worker().await;
}

/// The ack script called as the backend calls it, on keys of a test's own.
async fn ack(conn: &mut kirim::redis_conn::RedisConn, ns: &str, args: &[&str]) -> u64 {
    let script = redis::Script::new(include_str!("../../src/jobs/lane_ack.lua"));
    let mut call = script.prepare_invoke();
    for k in ["inflight", "done", "done_at", "dead", "scheduled", "meta"] {
        call.key(format!("{ns}:{k}"));
    }
    for a in args {
        call.arg(*a);
    }
    call.invoke_async(conn).await.expect("ack script runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ack_skips_jobs_no_longer_in_flight_and_keeps_apalis_rules_for_the_rest() {
    let redis = crate::common::redis();
    let settings = crate::common::settings_for(&redis);
    let ledger = kirim::ledger::Ledger::connect(&settings.redis)
        .await
        .unwrap();
    let mut conn = ledger.connection();
    let ns = settings.redis.namespace.clone();
    let inflight = format!("{ns}:inflight");
    let _: () = conn
        .sadd(&inflight, &["held", "failing", "killed"])
        .await
        .unwrap();

    // "gone" was re-queued by orphan recovery meanwhile: not acknowledged.
    let n = ack(
        &mut conn,
        &ns,
        &[
            "1700000000",
            "2",
            "held",
            "gone",
            "failing",
            "Failed",
            "1",
            "{\"Err\":\"boom\"}",
            "killed",
            "Killed",
            "3",
            "{\"Err\":\"panic\"}",
        ],
    )
    .await;
    assert_eq!(n, 3);
    let done: Vec<String> = conn.smembers(format!("{ns}:done")).await.unwrap();
    assert_eq!(done, vec!["held".to_owned()]);
    let at: Option<f64> = conn.zscore(format!("{ns}:done_at"), "held").await.unwrap();
    assert_eq!(at, Some(1_700_000_000.0));
    let gone: Option<f64> = conn.zscore(format!("{ns}:done_at"), "gone").await.unwrap();
    assert_eq!(gone, None);
    // Failed at attempt 1: retried at now + 1 s, as apalis-redis does.
    let retry: Option<f64> = conn
        .zscore(format!("{ns}:scheduled"), "failing")
        .await
        .unwrap();
    assert_eq!(retry, Some(1_700_000_001.0));
    let status: Option<String> = conn
        .hget(format!("{ns}:meta:failing"), "status")
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("Failed"));
    // Killed: dead, with a finish time for retention.
    let dead: Vec<String> = conn.smembers(format!("{ns}:dead")).await.unwrap();
    assert_eq!(dead, vec!["killed".to_owned()]);
    let killed_at: Option<f64> = conn
        .zscore(format!("{ns}:done_at"), "killed")
        .await
        .unwrap();
    assert_eq!(killed_at, Some(1_700_000_000.0));
    let left: u64 = conn.scard(&inflight).await.unwrap();
    assert_eq!(left, 0);
}
