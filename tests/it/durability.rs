//! `redis.durability` against real redis-server processes: the start-up check,
//! and replica acknowledgement (`WAIT`) before an enqueue is answered and before
//! money is sent (issue 13).

use std::time::Duration;

use crate::common::{transfer, wait_for, Api};
use kirim::client::{Client, ClientError};
use kirim::domain::State;
use kirim::durability::Durability;
use kirim::ledger::LedgerError;
use kirim::redis_server::TestRedis;
use kirim::worker::{WorkerOptions, WorkerRuntime};

const OK_ACCOUNT: &str = "8753293240";
const T: Duration = Duration::from_secs(30);

fn port_of(r: &TestRedis) -> String {
    r.url().rsplit(':').next().expect("port").to_owned()
}

async fn info(r: &TestRedis, section: &str) -> String {
    let client = redis::Client::open(r.url()).expect("url");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    redis::cmd("INFO")
        .arg(section)
        .query_async(&mut c)
        .await
        .expect("INFO")
}

/// A replica of `primary`, started and caught up.
async fn replica_of(primary: &TestRedis) -> TestRedis {
    let port = port_of(primary);
    let replica = TestRedis::spawn_local(&["--replicaof", "127.0.0.1", &port]).expect("replica");
    wait_for("the replica's link is up", T, || async {
        info(&replica, "replication")
            .await
            .contains("master_link_status:up")
    })
    .await;
    // And the primary counts it (what `WAIT` answers from).
    wait_for("the primary to list the replica online", T, || async {
        info(primary, "replication").await.contains("state=online")
    })
    .await;
    replica
}

#[tokio::test]
async fn fsync_mode_refuses_a_server_that_fsyncs_every_second() {
    let lax = TestRedis::spawn_local(&["--appendfsync", "everysec"]).expect("redis");
    let mut settings = crate::common::settings_for(&lax);
    assert_eq!(settings.redis.durability, Durability::Fsync, "the default");
    match Client::connect(&settings).await {
        Err(ClientError::Ledger(LedgerError::DurabilityRefused(why))) => {
            assert!(why.contains("appendfsync everysec"), "{why}");
            assert!(why.contains("redis.durability"), "names the setting: {why}");
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    // Knowingly weaker: starts (with a warning).
    settings.redis.durability = Durability::None;
    Client::connect(&settings)
        .await
        .expect("none starts anywhere");
    // The servers the tests start match the default.
    let strict = crate::common::redis();
    Client::connect(&crate::common::settings_for(&strict))
        .await
        .expect("appendfsync always matches fsync");
}

#[tokio::test]
async fn replicas_fsync_needs_waitaof() {
    let primary = crate::common::redis();
    let version = info(&primary, "server").await;
    let mut settings = crate::common::settings_for(&primary);
    settings.redis.durability = Durability::ReplicasFsync;
    let r = Client::connect(&settings).await;
    if version.contains("redis_version:7.0") || version.contains("redis_version:6.") {
        match r {
            Err(ClientError::Ledger(LedgerError::DurabilityRefused(why))) => {
                assert!(why.contains("WAITAOF"), "{why}")
            }
            other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
        }
    } else {
        // 7.2+: starts; with no replica it warns, and a write is refused.
        let client = r.expect("7.2 supports WAITAOF");
        let e = client
            .enqueue_transfer(&transfer(
                kirim::providers::ifortepay::ID,
                "WAITAOF-1",
                OK_ACCOUNT,
            ))
            .await
            .expect_err("no replica fsynced");
        assert!(e.to_string().contains("replicas"), "{e}");
    }
}

/// Enqueues are answered only once a replica has the payout; without one the
/// API says 503 and which setting is in play, and the same request succeeds once
/// a replica is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_mode_acknowledges_an_enqueue_only_once_a_replica_has_it() {
    let primary = crate::common::redis();
    let replica = replica_of(&primary).await;
    let mut settings = crate::common::settings_for(&primary);
    settings.redis.durability = Durability::Replicas;
    settings.redis.replicas = 1;
    let client = Client::connect(&settings).await.expect("client");
    let ok = client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "DUR-1",
            OK_ACCOUNT,
        ))
        .await
        .expect("a replica acknowledged");
    let on_replica = redis::Client::open(replica.url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("replica connection");
    let mut c = on_replica.clone();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:payout:*", settings.redis.namespace))
        .query_async(&mut c)
        .await
        .expect("KEYS");
    assert_eq!(keys.len(), 1, "the acknowledged payout is on the replica");
    assert_eq!(
        client.ledger().get(&ok.id).await.unwrap().map(|p| p.state),
        Some(State::Accepted)
    );

    // The replica goes away: enqueues are not acknowledged.
    drop(replica);
    wait_for("the primary sees no replica", T, || async {
        info(&primary, "replication")
            .await
            .contains("connected_slaves:0")
    })
    .await;
    let e = client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "DUR-2",
            OK_ACCOUNT,
        ))
        .await
        .expect_err("no replica acknowledged");
    assert!(
        matches!(e, ClientError::Ledger(LedgerError::NotDurable(_))),
        "{e}"
    );
    assert!(e.to_string().contains("redis.durability"), "{e}");

    let sandbox = crate::common::sandbox(|_| {}).await;
    crate::common::point_at(&mut settings, &sandbox);
    let api = Api::start(&settings).await;
    let http = reqwest::Client::new();
    let body = serde_json::json!({
        "provider": "ifortepay",
        "partnerReferenceNo": "DUR-3",
        "amount": {"value": "150000.00", "currency": "IDR"},
        "beneficiary": {"accountNo": OK_ACCOUNT, "bankCode": "014", "name": "Budi Santoso"}
    });
    let send = || {
        http.post(api.url("/v1/transfers"))
            .header("X-API-Key", "kirim-demo-key")
            .json(&body)
            .send()
    };
    let resp = send().await.expect("API answers");
    assert_eq!(resp.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let err: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(err["error"]["code"], "not_durable", "{err}");

    // A replica again: the same request is acknowledged. (Retried as a producer
    // does after a 503: right after its sync a replica can still miss one
    // `WAIT`'s 200 ms on a loaded machine.)
    let _replica = replica_of(&primary).await;
    // Each refused attempt waits out WAIT's timeout, which paces the retries.
    let deadline = std::time::Instant::now() + T;
    let status = loop {
        let status = send().await.expect("API answers").status();
        if status.is_success() || std::time::Instant::now() > deadline {
            break status;
        }
        assert_eq!(
            status,
            reqwest::StatusCode::SERVICE_UNAVAILABLE,
            "only not_durable may be answered meanwhile"
        );
    };
    assert!(status.is_success(), "{status}");
    api.stop().await;
}

/// The SUBMITTING record must be on a replica before the request leaves: with no
/// replica the worker does not send (the payout goes back to ACCEPTED with
/// backoff); with one it pays, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_mode_sends_nothing_until_a_replica_has_the_submission() {
    let primary = crate::common::redis();
    let sandbox = crate::common::sandbox(|_| {}).await;
    let mut settings = crate::common::settings_for(&primary);
    crate::common::point_at(&mut settings, &sandbox);
    settings.redis.durability = Durability::Replicas;
    settings.redis.replicas = 1;
    // Enqueue while a replica is there.
    let replica = replica_of(&primary).await;
    let client = Client::connect(&settings).await.expect("client");
    let e = client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "DUR-SEND-1",
            OK_ACCOUNT,
        ))
        .await
        .expect("enqueued");
    drop(replica);
    wait_for("the primary sees no replica", T, || async {
        info(&primary, "replication")
            .await
            .contains("connected_slaves:0")
    })
    .await;

    let providers = kirim::providers::build_all(&settings.providers).expect("providers");
    let rt = WorkerRuntime::build(
        settings.clone(),
        providers,
        WorkerOptions {
            concurrency: 4,
            with_sweep: true,
        },
    )
    .await
    .expect("a worker starts (with a warning) without its replica");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(async move {
        rt.run_until_stopped(async move {
            let _ = rx.await;
        })
        .await
        .expect("worker ran");
    });

    let ledger = client.ledger().clone();
    wait_for("the fence refused a send", T, || async {
        ledger
            .history(&e.id)
            .await
            .unwrap_or_default()
            .iter()
            .any(|h| {
                h.message.as_deref().unwrap_or("").contains("not durable")
                    || h.note.as_deref().unwrap_or("").contains("not durable")
            })
    })
    .await;
    let booked = |reference: &'static str| {
        let sandbox = &sandbox;
        async move {
            sandbox
                .state()
                .bookings_for(reference)
                .iter()
                .map(|b| b.booked_count)
                .sum::<u32>()
        }
    };
    assert_eq!(
        booked("DUR-SEND-1").await,
        0,
        "nothing sent without a replica"
    );

    let _replica = replica_of(&primary).await;
    wait_for("the payout succeeds once a replica is back", T, || async {
        client
            .ledger()
            .get(&e.id)
            .await
            .ok()
            .flatten()
            .map(|p| p.state)
            == Some(State::Succeeded)
    })
    .await;
    assert_eq!(booked("DUR-SEND-1").await, 1, "paid once");
    let _ = tx.send(());
    worker.await.expect("worker task");
}
