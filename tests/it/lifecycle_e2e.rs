//! End-to-end tests for issue 11's remaining defects (5: fence the send; 6:
//! provider outages do not burn payouts). Real Redis, the real sandbox over HTTP,
//! real workers (in-process, and `kirim worker` processes killed with SIGKILL).
//! The three tests are independent and run concurrently; the outage test (60 s of
//! refused connections) sets the file's wall time.

use std::time::{Duration, Instant};

use crate::common::{transfer, wait_for, App, WorkerProcess};
use kirim::circuit::CircuitState;
use kirim::client::Client;
use kirim::domain::{Provider, State};
use kirim::ledger::{HistoryEntry, Payout, PayoutId};
use kirim::sandbox::{Booking, FaultRule, SandboxHandle};
use serde_json::json;

const OK_ACCOUNT: &str = "8753293240";

fn rule(v: serde_json::Value) -> FaultRule {
    let r: FaultRule = serde_json::from_value(v).expect("fault rule");
    r.validate().expect("valid fault rule");
    r
}

async fn payout(client: &Client, id: &PayoutId) -> Payout {
    client
        .ledger()
        .get(id)
        .await
        .expect("ledger")
        .expect("payout exists")
}

async fn history(client: &Client, id: &PayoutId) -> Vec<HistoryEntry> {
    client.ledger().history(id).await.expect("history")
}

fn trail(h: &[HistoryEntry]) -> String {
    h.iter()
        .map(|e| serde_json::to_string(e).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// The sandbox's records for `reference` at `provider` (read in-process: the admin
/// API shares the port that `set_refusing` closes).
fn bookings(sandbox: &SandboxHandle, provider: Provider, reference: &str) -> Vec<Booking> {
    sandbox
        .state()
        .bookings_for(reference)
        .into_iter()
        .filter(|b| b.provider == provider)
        .collect()
}

/// Whether the sandbox ever accepted a request carrying X-EXTERNAL-ID `id` (it
/// records an id once the request passed authentication, before anything is
/// booked). Probing registers the id, so only ask about ids kirim will never use
/// again.
fn external_id_reached(sandbox: &SandboxHandle, provider: Provider, id: &str) -> bool {
    !sandbox.state().record_external_id(provider, id)
}

async fn alert_count(client: &Client, provider: Provider, kind: &str) -> u64 {
    let ledger = client.ledger();
    let mut conn = ledger.connection();
    let n: Option<u64> = redis::cmd("HGET")
        .arg(format!("{}:metrics:alerts", ledger.keys().namespace()))
        .arg(format!("{provider}|{kind}"))
        .query_async(&mut conn)
        .await
        .expect("redis");
    n.unwrap_or(0)
}

/// Defect 5: the worker that won SUBMITTING but is stalled past the send deadline
/// (here: its access-token fetch answers after the deadline) gives up without
/// writing the transfer, records why, and the payout is sent later, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_stalled_past_the_send_deadline_never_sends() {
    let mut app = App::spawn(
        |_| {},
        |s| {
            // A token fetch may take up to 5 s; the grace other workers wait is 4 s,
            // so the send deadline is max(4 s - 5 s, 4 s / 2) = 2 s.
            s.providers.set("ifortepay", "request_timeout_ms", 5_000u64);
            s.reconcile.submit_grace_secs = Some(4);
        },
    )
    .await;
    let deadline = app.client.policy().send_deadline;
    assert_eq!(deadline, Duration::from_secs(2), "test premise");
    // The stall: the token answers 1.5 s after the deadline, well inside the
    // request timeout (so it is a slow success, not a failure).
    let stall_ms = 3_500u64;
    assert!(Duration::from_millis(stall_ms) > deadline);
    app.sandbox.state().faults.replace(vec![rule(json!({
        "endpoint": "ifortepay.token", "kind": "latency", "latency_ms": stall_ms
    }))]);

    let id = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "STALL-1",
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
        .id;
    app.start_worker().await;

    // The stalled attempt ends with a `not_sent` entry naming the fence. Until
    // then the provider must not have booked anything (bookings are read before
    // the history, so a booking by the later attempt cannot be mistaken for one).
    let (client, sandbox) = (app.client.clone(), &app.sandbox);
    wait_for(
        "the stalled submission to be fenced",
        Duration::from_secs(30),
        || {
            let (client, id) = (client.clone(), id.clone());
            async move {
                let booked = bookings(sandbox, kirim::providers::ifortepay::ID, "STALL-1");
                let h = history(&client, &id).await;
                let fenced = h.iter().any(|e| e.event == "not_sent");
                assert!(
                    fenced || booked.is_empty(),
                    "booked while the stalled worker held SUBMITTING: {booked:?}\n  {}",
                    trail(&h)
                );
                fenced
            }
        },
    )
    .await;
    let h = history(&app.client, &id).await;
    let fenced = h.iter().find(|e| e.event == "not_sent").unwrap();
    let msg = fenced.message.as_deref().unwrap_or_default();
    assert!(
        msg.contains("Fenced")
            && msg.contains("ifortepay.transfer: send deadline passed")
            && msg.contains("sent_before: false"),
        "the audit trail says why nothing was sent: {msg}\n  {}",
        trail(&h)
    );
    assert!(
        fenced
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("fenced"),
        "{fenced:?}"
    );
    assert_eq!(fenced.from, Some(State::Submitting));
    assert_eq!(
        fenced.to,
        Some(State::Accepted),
        "nothing reached the provider: back to ACCEPTED for a later attempt"
    );
    // The fenced attempt really was past the deadline when it gave up.
    let submit = h
        .iter()
        .find(|e| e.event == "submit" && e.to == Some(State::Submitting))
        .expect("a submit entry");
    assert!(
        fenced.at - submit.at >= deadline.as_millis() as i64,
        "fenced {} ms after SUBMITTING",
        fenced.at - submit.at
    );

    // The stall is over (the token came); lift the fault and let it finish.
    app.clear_faults().await;
    app.wait_state(&id, State::Succeeded, Duration::from_secs(30))
        .await;

    let p = payout(&app.client, &id).await;
    let h = history(&app.client, &id).await;
    assert!(
        p.meta.submissions >= 2 && p.external_ids.len() >= 2,
        "a fenced submission and the one that went out: {:?}\n  {}",
        p.meta,
        trail(&h)
    );
    // The oracle: the fenced submission's X-EXTERNAL-ID never reached the provider;
    // the one that booked did.
    let (stalled, sent) = (&p.external_ids[0], p.external_ids.last().unwrap());
    assert!(
        external_id_reached(&app.sandbox, kirim::providers::ifortepay::ID, sent),
        "control: the successful submission's id was seen"
    );
    assert!(
        !external_id_reached(&app.sandbox, kirim::providers::ifortepay::ID, stalled),
        "the stalled worker wrote its transfer after the send deadline\n  {}",
        trail(&h)
    );
    let b = bookings(&app.sandbox, kirim::providers::ifortepay::ID, "STALL-1");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].booked_count, 1, "booked exactly once");
    assert_eq!(b[0].duplicate_attempts, 0, "no second transfer arrived");
    let client = app.client.clone();
    wait_for(
        "the fenced alert in /metrics",
        Duration::from_secs(10),
        || {
            let client = client.clone();
            async move { alert_count(&client, kirim::providers::ifortepay::ID, "fenced").await >= 1 }
        },
    )
    .await;
    println!("audit trail of {id}:\n  {}", trail(&h));
    app.stop_worker().await;
}

/// Defect 5, two-step provider: a worker SIGKILLed after NICEPAY answered the
/// registration (and its reference was recorded) but before approve completed.
/// The next worker asks NICEPAY about the recorded reference instead of
/// registering again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigkill_between_nicepay_registration_and_approve_does_not_register_twice() {
    let redis = crate::common::redis();
    let sandbox = crate::common::sandbox(|_| {}).await;
    let mut settings = crate::common::settings_for(&redis);
    crate::common::point_at(&mut settings, &sandbox);
    let client = Client::connect(&settings).await.expect("client");
    let env = crate::common::worker_env(
        &settings,
        &sandbox,
        &[
            // Approve is slow but answered well inside the request timeout: the
            // worker is killed while waiting for it, not by a timeout.
            ("KIRIM_PROVIDERS__NICEPAY__REQUEST_TIMEOUT_MS", "15000"),
            ("KIRIM_RECONCILE__SUBMIT_GRACE_SECS", "5"),
        ],
    );
    let approve_latency = Duration::from_secs(4);
    sandbox.state().faults.replace(vec![rule(json!({
        "endpoint": "nicepay.approve", "kind": "latency",
        "latency_ms": approve_latency.as_millis() as u64, "times": 1
    }))]);

    let mut first = WorkerProcess::spawn("e2e-nicepay-first", &env);
    let reference = "KILL-NICEPAY-1";
    let id = client
        .enqueue_transfer(&transfer(
            kirim::providers::nicepay::ID,
            reference,
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
        .id;

    // Kill point: approve has reached NICEPAY (its one-shot latency rule was
    // drawn) and is not answered yet, so the registration was answered before it.
    let s = &sandbox;
    wait_for(
        "approve in flight",
        Duration::from_secs(30),
        || async move { s.state().faults.list().is_empty() },
    )
    .await;
    let approve_arrived = Instant::now();
    first.sigkill();
    let registered = bookings(&sandbox, kirim::providers::nicepay::ID, reference);
    assert_eq!(registered.len(), 1, "registered");
    assert_eq!(
        registered[0].booked_count, 0,
        "killed before approve completed (the kill point is right)"
    );
    let at_kill = payout(&client, &id).await;
    assert_eq!(at_kill.state, State::Submitting);

    let _second = WorkerProcess::spawn("e2e-nicepay-second", &env);
    let c = client.clone();
    wait_for("the payout to be final", Duration::from_secs(60), || {
        let (c, id) = (c.clone(), id.clone());
        async move { payout(&c, &id).await.state.is_final() }
    })
    .await;
    // Let the killed worker's approve (if NICEPAY still processes it) land before
    // counting bookings: a bounded wait for a request already in flight.
    tokio::time::sleep_until((approve_arrived + approve_latency + Duration::from_secs(1)).into())
        .await;

    let p = payout(&client, &id).await;
    let h = history(&client, &id).await;
    assert_eq!(p.state, State::Succeeded, "{:?}\n  {}", p.meta, trail(&h));
    let b = bookings(&sandbox, kirim::providers::nicepay::ID, reference);
    assert_eq!(b.len(), 1);
    assert_eq!(
        b[0].duplicate_attempts,
        0,
        "NICEPAY saw a second registration for {reference}\n  {}",
        trail(&h)
    );
    assert_eq!(b[0].booked_count, 1, "booked exactly once");
    assert_eq!(
        at_kill.meta.provider_reference.as_deref(),
        Some(b[0].provider_reference.as_str()),
        "the registration's referenceNo was in the ledger before approve was sent"
    );
    assert_eq!(
        h.iter().filter(|e| e.event == "first_step").count(),
        1,
        "one registration recorded\n  {}",
        trail(&h)
    );
    assert_eq!(
        p.meta.provider_reference.as_deref(),
        Some(b[0].provider_reference.as_str())
    );
    // Each message kirim sent has its own X-EXTERNAL-ID in the audit trail (an
    // inquiry answered "not found" and the resubmission it led to are two).
    let sent: Vec<&str> = h
        .iter()
        .filter(|e| matches!(e.event.as_str(), "inquiry" | "request"))
        .filter_map(|e| e.external_id.as_deref())
        .collect();
    let distinct: std::collections::BTreeSet<_> = sent.iter().collect();
    assert_eq!(
        distinct.len(),
        sent.len(),
        "an X-EXTERNAL-ID appears on two messages in the audit trail\n  {}",
        trail(&h)
    );
    println!("audit trail of {id}:\n  {}", trail(&h));
}

/// Defect 6: 60 s of refused connections. The circuit opens, payouts wait (not
/// burned, not dead-lettered, never FAILED); after the outage every payout is
/// final, paid once. Takes ~105 s: the breaker's cool-down reaches 40 s during the
/// outage, and payouts that find it half-open are paused until the probe's timeout
/// (30 s) even when the probe succeeds at once (`Breakers::acquire`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sixty_second_outage_ends_with_every_payout_final_and_none_dead_lettered() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    app.start_worker().await;
    let outage = Duration::from_secs(60);
    app.sandbox.set_refusing(true).await.expect("refusing");
    let started = Instant::now();
    let n = 30;
    let orders: Vec<_> = (0..n)
        .map(|i| {
            transfer(
                kirim::providers::builtin_ids()[i % 3],
                &format!("OUT-{i}"),
                OK_ACCOUNT,
            )
        })
        .collect();
    let ids: Vec<PayoutId> = app
        .client
        .enqueue_transfers(&orders)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.expect("enqueued").id)
        .collect();
    assert_eq!(ids.len(), n);

    let ledger = app.client.ledger().clone();
    let mut conn = ledger.connection();
    let mut opened = std::collections::BTreeSet::new();
    while started.elapsed() < outage {
        let dead = kirim::jobs::dead::list(&ledger).await.unwrap();
        assert!(
            dead.is_empty(),
            "dead-lettered {:?} into the outage: {dead:?}",
            started.elapsed()
        );
        let counts = ledger.count_by_state().await.unwrap();
        for s in [State::Failed, State::Cancelled, State::Succeeded] {
            assert_eq!(counts[&s], 0, "{s} during the outage: {counts:?}");
        }
        for (p, st) in kirim::circuit::read_all(&mut conn, ledger.keys())
            .await
            .unwrap()
        {
            if st.state == CircuitState::Open {
                opened.insert(p);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await; // sampling period, not a sync point
    }
    assert_eq!(
        opened.len(),
        3,
        "every provider's circuit opened during the outage: {opened:?}"
    );
    let mut retries = Vec::new();
    for id in &ids {
        let p = payout(&app.client, id).await;
        assert!(!p.meta.dead, "{id} parked");
        retries.push(p.meta.retries);
    }
    let max_retries = retries.iter().copied().max().unwrap_or(0);
    // Without the circuit a 50–500 ms backoff spends a retry every ~0.3 s: ~200
    // per payout in 60 s. Paused payouts spend none.
    assert!(
        max_retries <= 10,
        "payouts burned retries while the provider was paused: {retries:?}"
    );

    app.sandbox
        .set_refusing(false)
        .await
        .expect("accepting again");
    let lifted = Instant::now();
    // Every payout final, noting when the last circuit closed on the way.
    let mut closed_after = None;
    loop {
        let c = ledger.count_by_state().await.unwrap();
        let finals: u64 = State::ALL
            .iter()
            .filter(|s| s.is_final())
            .map(|s| c[s])
            .sum();
        if finals == n as u64 {
            break;
        }
        if closed_after.is_none() {
            let cs = kirim::circuit::read_all(&mut conn, ledger.keys())
                .await
                .unwrap();
            if cs.values().all(|s| s.state == CircuitState::Closed) {
                closed_after = Some(lifted.elapsed());
            }
        }
        assert!(
            lifted.elapsed() < Duration::from_secs(150),
            "not all final 150 s after the outage: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovery = lifted.elapsed();
    let counts = ledger.count_by_state().await.unwrap();
    assert_eq!(counts[&State::Succeeded], n as u64, "{counts:?}");
    assert!(kirim::jobs::dead::list(&ledger).await.unwrap().is_empty());
    for (i, id) in ids.iter().enumerate() {
        let b = bookings(&app.sandbox, id.provider, &format!("OUT-{i}"));
        assert_eq!(b.len(), 1, "{id}");
        assert_eq!(
            b[0].booked_count, 1,
            "{id} booked {} times",
            b[0].booked_count
        );
    }
    let mut conn = ledger.connection();
    let c = kirim::circuit::read_all(&mut conn, ledger.keys())
        .await
        .unwrap();
    for p in kirim::providers::builtin_ids() {
        assert_eq!(c[&p].state, CircuitState::Closed, "{p}: {c:?}");
        assert!(c[&p].opened_total >= 1);
    }
    println!(
        "outage: {n} payouts, max retries during the outage {max_retries}; after the outage: circuits closed at {:.1} s, all final at {:.1} s",
        closed_after.unwrap_or_default().as_secs_f64(),
        recovery.as_secs_f64()
    );
    app.stop_worker().await;
}
