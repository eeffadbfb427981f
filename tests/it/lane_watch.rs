//! The wedged-lane guard against a real Redis: jobs waiting in a lane that nobody
//! starts are reported; a lane that keeps starting jobs is not.

use std::sync::Arc;
use std::time::Duration;

use kirim::client::Client;
use kirim::jobs::Lane;
use kirim::lane_watch::{watch, LaneActivity};
use kirim::ledger::now_ms;
use kirim::redis_server::TestRedis;

use crate::common::{settings_for, transfer};

#[tokio::test]
async fn a_lane_with_waiting_jobs_that_starts_none_is_reported_and_a_working_one_is_not() {
    let redis = TestRedis::start().expect("redis");
    let settings = settings_for(&redis);
    // The producer alone: the job is enqueued, and no worker will ever fetch it.
    let client = Client::connect(&settings).await.expect("client");
    client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "WEDGE-1",
            "8753293240",
        ))
        .await
        .expect("enqueue");
    let queue = client.queue().clone();
    assert_eq!(queue.depth(Lane::Transfer).await.expect("depth").active, 1);

    // A lane that keeps starting jobs is not wedged, however long its queue waits.
    let after = Duration::from_millis(400);
    let activity = Arc::new(LaneActivity::new(now_ms()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let busy = {
        let activity = activity.clone();
        tokio::spawn(async move {
            for _ in 0..30 {
                drop(activity.started(Lane::Transfer, now_ms()));
                tokio::time::sleep(Duration::from_millis(50)).await; // the pace of a working lane
            }
            let _ = stop_tx.send(true);
        })
    };
    let verdict = watch(&queue, &activity, after, stop_rx).await;
    busy.await.expect("busy lane task");
    assert_eq!(verdict, None, "a lane starting jobs is not wedged");

    // Nobody starts the waiting job: the lane is reported, with what waits.
    let activity = LaneActivity::new(now_ms());
    let (_keep, stop_rx) = tokio::sync::watch::channel(false);
    let stall = tokio::time::timeout(
        Duration::from_secs(10),
        watch(&queue, &activity, after, stop_rx),
    )
    .await
    .expect("reported well within 10 s")
    .expect("a stall");
    assert_eq!(stall.lane, Lane::Transfer);
    assert_eq!(stall.waiting, 1);
    assert!(stall.idle_ms > after.as_millis() as i64, "{stall:?}");

    // A job that runs (here: for longer than the limit) is not a wedge either.
    let activity = Arc::new(LaneActivity::new(now_ms()));
    let running = activity.started(Lane::Transfer, now_ms());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1_500)).await; // three times the limit
        let _ = stop_tx.send(true);
    });
    assert_eq!(watch(&queue, &activity, after, stop_rx).await, None);
    stopper.await.expect("stopper");
    drop(running);
}
