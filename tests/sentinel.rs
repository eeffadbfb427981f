//! High availability on Redis Sentinel, against real processes: a primary, a replica
//! and three sentinels (`redis-server --sentinel`) on loopback. kirim connects through
//! the sentinels; the primary is SIGKILLed while payouts flow through a faulty sandbox;
//! the sentinels promote the replica and kirim must follow.
//!
//! What is asserted is what the design guarantees with asynchronous replication:
//! - no reference is booked twice, whatever was lost;
//! - every payout acknowledged after the failover is in the ledger;
//! - every payout in the ledger ends final, and after the producer re-enqueues what
//!   it cannot find (its documented duty), every acknowledged payout is final;
//! - every kirim connection (producer, worker) moved to the new primary.
//!
//! Payouts acknowledged by the old primary shortly before the kill can be lost (they
//! had not reached the replica): the test counts and prints them but does not fail on
//! them. That loss is what the `WAIT`-based durability setting removes.
//!
//! `SENTINEL_PAYOUTS` sets the run size (default 300; `SENTINEL_PAYOUTS=2000` for the
//! run recorded in docs/crash-test.md). The `replicas` and `replicas_fsync` runs
//! (`WAIT 1`, `WAITAOF 1 1`; the latter on Valkey or Redis ≥ 7.2) assert that no
//! acknowledged payout was lost at all.

#[path = "it/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{transfer, wait_for, wait_until};
use kirim::client::Client;
use kirim::config::Settings;
use kirim::domain::State;
use kirim::durability::Durability;
use kirim::ledger::PayoutId;
use kirim::redis_server::ha::{binary_version, query, HaOptions, HaTopology, MASTER_NAME};
use kirim::redis_server::{server_binary, TestRedis};
use kirim::sandbox::FaultRule;
use kirim::worker::{WorkerOptions, WorkerRuntime};
use serde_json::json;

/// Concurrent producers: several enqueues are in flight when the primary dies.
const PRODUCERS: usize = 8;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The topology a failover run needs for `mode`, on `binary`.
///
/// - `fsync`: every node `appendfsync always` (what kirim checks at start-up), one replica.
/// - `replicas`: `appendfsync everysec` (a replica's acknowledgement is the guarantee).
/// - `replicas_fsync`: `appendfsync always` on every node: `WAITAOF` waits for the
///   fsync, which `everysec` would make up to a second late for every write.
///
/// The `replicas` modes get two replicas, so that after the failover the promoted
/// node still has a replica to acknowledge writes.
async fn topology(mode: Durability, binary: &str) -> HaTopology {
    let t0 = Instant::now();
    let fsync = if mode == Durability::Replicas {
        "everysec"
    } else {
        "always"
    };
    let node_args = ["--save", "", "--appendonly", "yes", "--appendfsync", fsync]
        .map(str::to_owned)
        .to_vec();
    let replicas = if mode == Durability::Fsync { 1 } else { 2 };
    let t = HaTopology::start(&HaOptions {
        binary: binary.to_owned(),
        replicas,
        node_args,
    })
    .await
    .expect("primary, replicas and sentinels start");
    eprintln!(
        "topology ({binary}, {replicas} replicas) ready in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    t
}

fn settings(topology: &HaTopology, sandbox: &kirim::sandbox::SandboxHandle) -> Settings {
    let mut s = common::settings_for_url(&topology.nodes[0].url(), true);
    common::point_at(&mut s, sandbox);
    // The URL's host is ignored in Sentinel mode; db and credentials still come from it.
    s.redis.sentinel = Some(topology.sentinel_settings());
    s.worker.heartbeat_secs = 1;
    s.worker.missed_heartbeats = 2;
    s.worker.max_attempts = 50;
    s.worker.shutdown_timeout_secs = 2;
    // A lane wedged by a failover gets fresh workers quickly (see lane_watch).
    s.worker.stall_secs = 5;
    s.reconcile.submit_grace_secs = Some(3);
    s.reconcile.stuck_after_secs = 5;
    let names: Vec<String> = s.providers.names().map(str::to_owned).collect();
    for name in &names {
        s.providers.set(name, "request_timeout_ms", 1_500u64);
    }
    s
}

struct Worker {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    conn: kirim::redis_conn::RedisConn,
}

async fn start_worker(settings: &Settings) -> Worker {
    let providers = kirim::providers::build_all(&settings.providers).expect("providers");
    let rt = WorkerRuntime::build(
        settings.clone(),
        providers,
        WorkerOptions {
            concurrency: 16,
            with_sweep: true,
        },
    )
    .await
    .expect("worker connects through the sentinels");
    let conn = rt.engine().ledger.connection();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        // The worker may end with a Redis error from the dead primary during
        // shutdown; what matters is the ledger, checked below.
        if let Err(e) = rt
            .run_until_stopped(async move {
                let _ = rx.await;
            })
            .await
        {
            eprintln!("worker ended with: {e}");
        }
    });
    Worker { stop, task, conn }
}

/// When the producer got its `Ok` for a reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Acked {
    /// Before the sentinels named the new primary (the old one may have answered).
    BeforeFailover,
    /// The enqueue started after the new primary was known.
    AfterFailover,
}

/// `fsync` (the default): the replica may lag, so payouts acknowledged by the old
/// primary just before the kill may be lost (counted, not failed on); nothing is
/// paid twice and the producer's re-offer settles them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_killed_mid_run_is_followed_and_nothing_is_paid_twice() {
    failover_run(Durability::Fsync, &server_binary()).await;
}

/// `replicas` (`WAIT 1`): no acknowledged payout may be lost in the failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_durability_replicas_a_failover_loses_no_acknowledged_payout() {
    failover_run(Durability::Replicas, &server_binary()).await;
}

/// A server with `WAITAOF` (Redis ≥ 7.2 or Valkey): `KIRIM_WAITAOF_SERVER`, else
/// `valkey-server` on PATH, else the test server if it is recent enough.
fn waitaof_server() -> Option<String> {
    let capable = |b: &str| binary_version(b).is_some_and(|v| v >= (7, 2));
    if let Ok(b) = std::env::var("KIRIM_WAITAOF_SERVER") {
        assert!(
            capable(&b),
            "KIRIM_WAITAOF_SERVER={b} is not a server with WAITAOF (Redis 7.2+ or Valkey)"
        );
        return Some(b);
    }
    ["valkey-server".to_owned(), server_binary()]
        .into_iter()
        .find(|b| capable(b))
}

/// `replicas_fsync` (`WAITAOF 1 1`): on a server that has `WAITAOF`, no acknowledged
/// payout may be lost in the failover. Without one (Debian 12's Redis is 7.0), kirim
/// must refuse the setting at start-up by name; `KIRIM_REQUIRE_WAITAOF=1` (CI, which
/// installs Valkey) makes the missing server a failure instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_durability_replicas_fsync_a_failover_loses_no_acknowledged_payout() {
    match waitaof_server() {
        Some(binary) => failover_run(Durability::ReplicasFsync, &binary).await,
        None => {
            assert!(
                std::env::var("KIRIM_REQUIRE_WAITAOF").is_err(),
                "KIRIM_REQUIRE_WAITAOF is set but no server with WAITAOF was found \
                 (apt-get install -t bookworm-backports valkey-server)"
            );
            let redis = TestRedis::start().expect("redis");
            let mut s = common::settings_for(&redis);
            s.redis.durability = Durability::ReplicasFsync;
            s.redis.replicas = 1;
            let err = Client::connect(&s)
                .await
                .expect_err("replicas_fsync on a server without WAITAOF is refused");
            let msg = err.to_string();
            assert!(
                msg.contains("replicas_fsync") && msg.contains("WAITAOF"),
                "{msg}"
            );
            eprintln!(
                "no server with WAITAOF here: checked the refusal only ({msg}); \
                 install valkey-server for the failover run"
            );
        }
    }
}

/// One failover run at a time: three topologies at once on two cores make the
/// sentinels see slow nodes as down and fail over again and again.
static ONE_RUN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn failover_run(mode: Durability, binary: &str) {
    let _one = ONE_RUN.lock().await;
    if std::env::var_os("RUST_LOG").is_some() {
        // The workers' own account (switches, restarts, wedged lanes) on stderr.
        kirim::telemetry::init(kirim::config::LogFormat::Human, "warn");
    }
    let payouts = env_usize("SENTINEL_PAYOUTS", 300);
    let kill_at = payouts / 3;
    let started = Instant::now();
    let durability = mode.as_str();
    // In the `replicas` modes every ledger write waits for one replica (`WAIT 1`
    // or `WAITAOF 1 1`), so the failover may lose no acknowledged payout.
    let wait_for_replica = mode != Durability::Fsync;
    let mut topology = topology(mode, binary).await;
    let old_primary = topology
        .primary_addr()
        .await
        .expect("sentinels name a primary");
    let rule = |endpoint: &str, kind: &str, p: f64| -> FaultRule {
        serde_json::from_value(json!({"endpoint": endpoint, "kind": kind, "probability": p}))
            .expect("rule")
    };
    let sandbox = common::sandbox(|c| {
        c.faults = vec![
            rule("ifortepay.transfer", "close_after", 0.1),
            rule("ifortepay.transfer", "error_500_after", 0.1),
            rule("nicepay.approve", "close_after", 0.1),
            rule("singapay.transfer_v2", "error_500_after", 0.1),
            rule("singapay.transfer_v2", "too_many_requests", 0.1),
        ];
    })
    .await;
    let mut settings = settings(&topology, &sandbox);
    settings.redis.durability = mode;
    if wait_for_replica {
        settings.redis.replicas = 1;
    }
    let client = Client::connect(&settings)
        .await
        .expect("producer connects through the sentinels");
    assert_eq!(client.ledger().connection().primary(), old_primary);
    let worker = start_worker(&settings).await;

    // The producers: `PRODUCERS` concurrent callers, each retrying an error with the
    // same reference (idempotent) until it is acknowledged, as producers must.
    let acked: Arc<Mutex<BTreeMap<String, Acked>>> = Arc::default();
    let acked_count = Arc::new(AtomicUsize::new(0));
    let failed_over = Arc::new(AtomicBool::new(false));
    let enqueue_errors = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let client = client.clone();
            let acked = acked.clone();
            let acked_count = acked_count.clone();
            let failed_over = failed_over.clone();
            let enqueue_errors = enqueue_errors.clone();
            let next = next.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= payouts {
                        return;
                    }
                    let provider = kirim::providers::builtin_ids()[i % 3];
                    let reference = format!("HA-{i}");
                    let order = transfer(provider, &reference, "8753293240");
                    loop {
                        let phase = if failed_over.load(Ordering::SeqCst) {
                            Acked::AfterFailover
                        } else {
                            Acked::BeforeFailover
                        };
                        match client.enqueue_transfer(&order).await {
                            Ok(_) => {
                                let id = format!("{provider}:{reference}");
                                acked.lock().expect("acked").insert(id, phase);
                                acked_count.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            Err(_) => {
                                enqueue_errors.fetch_add(1, Ordering::SeqCst);
                                // Producer backoff while Redis is failing over.
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                    }
                }
            })
        })
        .collect();

    // Kill the primary a third of the way in, while payouts are being created,
    // submitted and settled.
    wait_for(
        "a third of the payouts acknowledged",
        Duration::from_secs(60),
        || {
            let n = acked_count.load(Ordering::SeqCst);
            async move { n >= kill_at }
        },
    )
    .await;
    let primary = topology.primary_index().await.expect("the primary is ours");
    topology.nodes[primary].kill();
    let killed_at = Instant::now();
    eprintln!(
        "killed the primary after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let acked_at_kill = acked_count.load(Ordering::SeqCst);
    topology
        .wait_for_new_primary(&old_primary, Duration::from_secs(60))
        .await
        .expect("the sentinels promote a replica");
    failed_over.store(true, Ordering::SeqCst);
    let failover = killed_at.elapsed();

    wait_for(
        "the producer to follow the new primary",
        Duration::from_secs(30),
        // The current primary, not necessarily `replica_addr`: on a loaded machine
        // the sentinels may fail over a second time.
        || async {
            topology.primary_addr().await.as_deref()
                == Some(client.ledger().connection().primary().as_str())
        },
    )
    .await;
    let followed = killed_at.elapsed();
    // What was in flight: the new primary's view right after the failover.
    let in_flight: BTreeMap<State, u64> = client
        .ledger()
        .count_by_state()
        .await
        .map(|c| {
            c.into_iter()
                .filter(|(s, n)| !s.is_final() && *n > 0)
                .collect()
        })
        .unwrap_or_default();
    for p in producers {
        p.await.expect("producer finished");
    }
    let produced_in = started.elapsed();

    // kirim's connections follow: both the producer's and the worker's talk to the
    // new primary (they switch on their first failing command).
    wait_for(
        "kirim to follow the new primary",
        Duration::from_secs(30),
        || async {
            let now = topology.primary_addr().await.unwrap_or_default();
            client.ledger().connection().primary() == now && worker.conn.primary() == now
        },
    )
    .await;

    let ledger = client.ledger().clone();
    let acked: BTreeMap<String, Acked> = acked.lock().expect("acked").clone();
    let ids: Vec<(PayoutId, Acked)> = acked
        .iter()
        .map(|(k, v)| (k.parse().expect("payout id"), *v))
        .collect();

    // Which acknowledged payouts does the ledger still know?
    let mut lost: Vec<(PayoutId, Acked)> = Vec::new();
    for (id, phase) in &ids {
        if ledger.get(id).await.expect("ledger read").is_none() {
            lost.push((id.clone(), *phase));
        }
    }
    let lost_after = lost
        .iter()
        .filter(|(_, p)| *p == Acked::AfterFailover)
        .count();
    let lost_booked = lost
        .iter()
        .filter(|(id, _)| {
            sandbox
                .state()
                .all_bookings()
                .iter()
                .any(|b| b.reference == id.reference.as_str())
        })
        .count();
    assert_eq!(
        lost_after, 0,
        "payouts acknowledged by the new primary were lost: {lost:?}"
    );
    if wait_for_replica {
        assert!(
            lost.is_empty(),
            "durability replicas: acknowledged payouts lost in the failover: {lost:?}"
        );
    }
    // A lost NICEPAY payout the provider had already registered and approved,
    // offered again, cannot be resolved automatically: NICEPAY's duplicate answer
    // names no registration and its inquiry needs one (tests/it/reoffer.rs). It
    // goes to NEEDS_REVIEW, paid once.
    let review_expected: Vec<PayoutId> =
        lost.iter()
            .map(|(id, _)| id.clone())
            .filter(|id| {
                id.provider == kirim::providers::nicepay::ID
                    && sandbox.state().all_bookings().iter().any(|b| {
                        b.payout_reference() == id.reference.as_str() && b.booked_count > 0
                    })
            })
            .collect();

    // The producer's duty for what it cannot find again: enqueue it again, same reference.
    for (id, _) in &lost {
        let order = transfer(id.provider, id.reference.as_str(), "8753293240");
        client.enqueue_transfer(&order).await.expect("re-enqueue");
    }

    // Everything settles: turn the faults off and wait for every payout to be final.
    sandbox.state().faults.replace(Vec::new());
    let deadline = Duration::from_secs(90 + payouts as u64 / 10);
    let settle_started = Instant::now();
    let settled = wait_until(deadline, || async {
        let r = ledger.count_by_state().await;
        match r {
            Ok(c) => {
                State::ALL
                    .iter()
                    .filter(|s| s.is_final())
                    .map(|s| c[s])
                    .sum::<u64>()
                    + c[&State::NeedsReview]
                    == ids.len() as u64
                    && c[&State::NeedsReview] <= review_expected.len() as u64
            }
            Err(_) => false,
        }
    })
    .await;
    if !settled {
        // What did not settle, for the next reader of a failed run.
        let counts = ledger.count_by_state().await;
        panic!(
            "timed out after {deadline:?} waiting for every acknowledged payout to be final: \
             {} payouts, by state {counts:?}, NEEDS_REVIEW expected at most {}",
            ids.len(),
            review_expected.len()
        );
    }
    let settled_in = settle_started.elapsed();

    // The oracle: the sandbox's books.
    let bookings = sandbox.state().all_bookings();
    let twice: Vec<_> = bookings
        .iter()
        .filter(|b| b.booked_count > 1)
        .map(|b| b.reference.clone())
        .collect();
    assert!(twice.is_empty(), "booked twice: {twice:?}");
    let counts = ledger.count_by_state().await.expect("counts");
    for id in &review_expected {
        let state = ledger.get(id).await.expect("ledger").map(|p| p.state);
        assert!(
            matches!(state, Some(State::NeedsReview | State::Succeeded)),
            "{id}: {state:?}"
        );
    }
    assert_eq!(
        counts[&State::Succeeded] + counts[&State::NeedsReview],
        payouts as u64,
        "every payout paid (the sandbox settles all to SUCCESS): {counts:?}"
    );
    // One booked (money-moving) record per payout. A NICEPAY registration whose
    // answer was lost stays unapproved (booked_count 0) and the payout is paid
    // through a derived registration (`{reference}R…`).
    let mut paid: std::collections::HashSet<String> = std::collections::HashSet::new();
    for b in bookings.iter().filter(|b| b.booked_count > 0) {
        let payout = b.payout_reference();
        assert!(paid.insert(payout.to_owned()), "{payout} booked twice");
    }
    assert_eq!(paid.len(), payouts, "one booked record per payout");
    assert!(
        bookings
            .iter()
            .all(|b| b.booked_count > 0 || b.provider == kirim::providers::nicepay::ID),
        "only NICEPAY registrations may stay unapproved"
    );

    let _ = worker.stop.send(());
    let _ = worker.task.await;
    eprintln!(
        "sentinel failover ({durability}): {payouts} payouts, primary killed after {acked_at_kill} acknowledged, \
         failover seen after {:.1} s (non-final then: {in_flight:?}), producer on the new primary after {:.1} s, {} enqueue errors retried, producer done in {:.1} s, \
         acknowledged then lost: {} (before failover; {lost_booked} of them already booked, \
         re-enqueued, paid once; NICEPAY ones parked for review: {}), lost after failover: {lost_after}, booked twice: {}, \
         settled in {:.1} s, total {:.1} s; connections switched: producer {}, worker {}",
        failover.as_secs_f64(),
        followed.as_secs_f64(),
        enqueue_errors.load(Ordering::SeqCst),
        produced_in.as_secs_f64(),
        lost.len(),
        review_expected.len(),
        twice.len(),
        settled_in.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        client.ledger().connection().switches(),
        worker.conn.switches(),
    );
}

/// A switchover (`SENTINEL FAILOVER`) demotes the old primary and the sentinels close
/// its client connections (`CLIENT KILL TYPE normal`). A command that was on such a
/// connection may or may not have run, so kirim returns that one error to its caller
/// (who retries, as for any Redis error) but has already asked the sentinels: the
/// retry goes to the new primary and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switchover_costs_at_most_one_error_then_writes_go_to_the_new_primary() {
    let topology = topology(Durability::Fsync, &server_binary()).await;
    let sandbox = common::sandbox(|_| {}).await;
    let settings = settings(&topology, &sandbox);
    let client = Client::connect(&settings)
        .await
        .expect("connects through the sentinels");
    let old_primary = client.ledger().connection().primary();
    client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "SW-1",
            "8753293240",
        ))
        .await
        .expect("enqueue on the first primary");

    let _: String = query(
        &topology.sentinels[0].url(),
        redis::cmd("SENTINEL").arg("failover").arg(MASTER_NAME),
    )
    .await
    .expect("SENTINEL FAILOVER accepted");
    let replica_addr = topology.nodes[1].addr();
    wait_for(
        "the sentinels to name the replica",
        Duration::from_secs(30),
        || async { topology.primary_addr().await.as_deref() == Some(replica_addr.as_str()) },
    )
    .await;
    let old_url = topology.nodes[0].url();
    wait_for(
        "the old primary to be demoted",
        Duration::from_secs(30),
        || {
            let url = old_url.clone();
            async move {
                query::<String>(&url, redis::cmd("INFO").arg("replication"))
                    .await
                    .is_ok_and(|info| info.contains("role:slave"))
            }
        },
    )
    .await;
    assert_eq!(
        client.ledger().connection().primary(),
        old_primary,
        "nothing failed yet, so kirim has not moved"
    );

    let order = transfer(kirim::providers::ifortepay::ID, "SW-2", "8753293240");
    let mut errors = Vec::new();
    loop {
        match client.enqueue_transfer(&order).await {
            Ok(_) => break,
            Err(e) => {
                errors.push(e.to_string());
                assert!(errors.len() <= 1, "more than one error: {errors:?}");
            }
        }
    }
    assert_eq!(client.ledger().connection().primary(), replica_addr);
    assert_eq!(client.ledger().connection().switches(), 1);
    for reference in ["SW-1", "SW-2"] {
        let id: PayoutId = format!("ifortepay:{reference}").parse().expect("id");
        assert!(
            client.ledger().get(&id).await.expect("read").is_some(),
            "{reference} is on the new primary"
        );
    }
    let new_primary_says: String = query(
        &format!("redis://{replica_addr}"),
        redis::cmd("INFO").arg("replication"),
    )
    .await
    .expect("new primary answers");
    assert!(new_primary_says.contains("role:master"));
    eprintln!("switchover: errors seen by the caller: {errors:?}");
}

/// `[redis.sentinel]` from a file, and the same from the environment (how the
/// deploy examples set it); a sentinel list without addresses is refused by name.
#[test]
fn sentinel_settings_load_from_a_file_and_the_environment() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let default = root.join("config/default.toml");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("ha.toml");
    std::fs::write(
        &file,
        "[redis.sentinel]\nmaster_name = \"kirim\"\n\
         nodes = [\"redis://10.0.0.1:26379\", \"redis://10.0.0.2:26379\"]\n",
    )
    .expect("write");
    let s = Settings::load_from(&default, Some(&file), false).expect("loads");
    let sentinel = s.redis.sentinel.expect("sentinel section");
    assert_eq!(sentinel.master_name, "kirim");
    assert_eq!(sentinel.nodes.len(), 2);

    std::fs::write(
        &file,
        "[redis.sentinel]\nmaster_name = \"kirim\"\nnodes = []\n",
    )
    .expect("write");
    let err = Settings::load_from(&default, Some(&file), false).expect_err("refused");
    assert!(err.to_string().contains("redis.sentinel.nodes"), "{err}");

    // The only test in this binary that reads the environment.
    std::env::set_var("KIRIM_REDIS__SENTINEL__MASTER_NAME", "kirim-env");
    std::env::set_var(
        "KIRIM_REDIS__SENTINEL__NODES",
        "[\"redis://s0:26379\", \"redis://s1:26379\", \"redis://s2:26379\"]",
    );
    let s = Settings::load_from(&default, None, true).expect("loads from env");
    std::env::remove_var("KIRIM_REDIS__SENTINEL__MASTER_NAME");
    std::env::remove_var("KIRIM_REDIS__SENTINEL__NODES");
    let sentinel = s.redis.sentinel.expect("sentinel from env");
    assert_eq!(sentinel.master_name, "kirim-env");
    assert_eq!(
        sentinel.nodes,
        ["redis://s0:26379", "redis://s1:26379", "redis://s2:26379"]
    );
}
