//! The durable pipeline end to end: a real Redis, the sandbox over real HTTP, the
//! real worker runtime (apalis). Every test asserts on the ledger *and* on the
//! sandbox's booking counter, the oracle for "never paid twice".

use std::time::Duration;

use crate::common::{transfer, App};
use kirim::domain::State;
use kirim::jobs::dead;
use kirim::ledger::{now_ms, HistoryEntry, Transition};
use kirim::sandbox::magic;

const OK_ACCOUNT: &str = "8753293240";
const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_provider_pays_once_and_succeeds() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    app.start_worker().await;
    let mut ids = Vec::new();
    for p in kirim::providers::builtin_ids() {
        let e = app
            .client
            .enqueue_transfer(&transfer(p, &format!("OK-{p}"), OK_ACCOUNT))
            .await
            .unwrap();
        ids.push(e.id);
    }
    for id in &ids {
        app.wait_state(id, State::Succeeded, T).await;
        assert_eq!(
            app.booked(id.provider, id.reference.as_str()).await,
            1,
            "{id}"
        );
        let p = app.client.ledger().get(id).await.unwrap().unwrap();
        assert_eq!(p.external_ids.len(), 1, "one submission, one X-EXTERNAL-ID");
        assert!(
            p.meta.provider_reference.is_some(),
            "{id}: provider reference kept"
        );
        let h = app.client.ledger().history(id).await.unwrap();
        assert!(
            h.iter()
                .any(|e| e.event == "request" && e.latency_ms.is_some()),
            "audited request"
        );
    }
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outcome_classes_map_to_final_states() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    app.start_worker().await;
    let cancel = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "CXL-1",
            magic::ALWAYS_CANCEL,
        ))
        .await
        .unwrap();
    let invalid = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "BAD-1",
            magic::INVALID_ACCOUNT,
        ))
        .await
        .unwrap();
    let funds = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "NSF-1",
            magic::INSUFFICIENT_FUNDS,
        ))
        .await
        .unwrap();
    app.wait_state(&cancel.id, State::Cancelled, T).await;
    app.wait_state(&invalid.id, State::Failed, T).await;
    app.wait_state(&funds.id, State::Failed, T).await;
    let p = app.client.ledger().get(&invalid.id).await.unwrap().unwrap();
    assert_eq!(
        p.meta.response_code.as_deref(),
        Some("4041811"),
        "the provider's code is kept"
    );
    let p = app.client.ledger().get(&funds.id).await.unwrap().unwrap();
    assert_eq!(p.meta.response_code.as_deref(), Some("4031814"));
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_payouts_are_settled_by_reconciliation() {
    let mut app = App::spawn(|c| c.settlement_delay_ms = 3_600_000, |_| {}).await;
    app.start_worker().await;
    let e = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "PND-1",
            OK_ACCOUNT,
        ))
        .await
        .unwrap();
    let n = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::nicepay::ID,
            "PND-2",
            OK_ACCOUNT,
        ))
        .await
        .unwrap();
    app.wait_state(&e.id, State::Pending, T).await;
    app.wait_state(&n.id, State::Pending, T).await;
    // The provider settles; only polling can tell us (no callbacks configured).
    app.settle_sandbox().await;
    app.wait_state(&e.id, State::Succeeded, T).await;
    app.wait_state(&n.id, State::Succeeded, T).await;
    let h = app.client.ledger().history(&e.id).await.unwrap();
    assert!(
        h.iter().any(|x| x.event == "inquiry"),
        "settled by an inquiry"
    );
    assert_eq!(
        app.booked(kirim::providers::ifortepay::ID, "PND-1").await,
        1
    );
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn error_after_booking_is_unknown_then_inquired_never_resent() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    app.fault("ifortepay.transfer", "error_500_after", Some(1))
        .await;
    app.fault("nicepay.approve", "close_after", Some(1)).await;
    app.fault("singapay.transfer_v2", "error_500_after", Some(1))
        .await;
    app.start_worker().await;
    let mut ids = Vec::new();
    for p in kirim::providers::builtin_ids() {
        ids.push(
            app.client
                .enqueue_transfer(&transfer(p, &format!("UNK-{p}"), OK_ACCOUNT))
                .await
                .unwrap()
                .id,
        );
    }
    for id in &ids {
        app.wait_state(id, State::Succeeded, T).await;
        assert_eq!(
            app.booked(id.provider, id.reference.as_str()).await,
            1,
            "{id} booked once"
        );
        let h = app.client.ledger().history(id).await.unwrap();
        assert!(
            h.iter().any(|x| x.to == Some(State::Unknown)),
            "{id} went through UNKNOWN: {h:?}"
        );
        let p = app.client.ledger().get(id).await.unwrap().unwrap();
        assert_eq!(p.meta.submissions, 1, "{id} was never sent again");
    }
    app.stop_worker().await;
}

/// Singapay v1.0, the default (the seed document): no client reference, so the
/// sandbox books by the transaction id it issued, which kirim keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn singapay_v1_pays_once_under_the_issued_transaction_id() {
    let mut app = App::spawn(|_| {}, |s| s.providers.set("singapay", "api_version", "v1")).await;
    app.start_worker().await;
    let id = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::singapay::ID,
            "V1-OK-1",
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
        .id;
    app.wait_state(&id, State::Succeeded, T).await;
    let p = app.client.ledger().get(&id).await.unwrap().unwrap();
    let tx = p
        .meta
        .provider_reference
        .clone()
        .expect("transaction id kept");
    assert_eq!(app.booked(id.provider, &tx).await, 1);
    assert_eq!(
        app.booked(id.provider, id.reference.as_str()).await,
        0,
        "the partner reference is not sent (v1.0 `notes` is Alphabetic)"
    );
    assert_eq!(p.meta.submissions, 1);
    app.stop_worker().await;
}

/// Singapay v1.0 has no status endpoint: a payout whose answer was lost goes to
/// NEEDS_REVIEW with its history, is never sent again, and opens no circuit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn singapay_v1_lost_answer_goes_to_review_and_is_never_resent() {
    let mut app = App::spawn(|_| {}, |s| s.providers.set("singapay", "api_version", "v1")).await;
    app.fault("singapay.transfer_v1", "error_500_after", Some(1))
        .await;
    app.start_worker().await;
    let id = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::singapay::ID,
            "V1-LOST-1",
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
        .id;
    app.wait_state(&id, State::NeedsReview, T).await;
    let h = app.client.ledger().history(&id).await.unwrap();
    assert!(
        h.iter().any(|x| x.to == Some(State::Unknown)),
        "went through UNKNOWN: {h:?}"
    );
    assert!(
        h.iter().any(|x| x.to == Some(State::NeedsReview)
            && x.note
                .as_deref()
                .is_some_and(|m| m.contains("no status inquiry"))),
        "the review says why: {h:?}"
    );
    // Later ticks change nothing: still in review, still one submission.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let p = app.client.ledger().get(&id).await.unwrap().unwrap();
    assert_eq!(p.state, State::NeedsReview);
    assert_eq!(p.meta.submissions, 1, "never sent again");
    assert_eq!(p.external_ids.len(), 1);
    let mut conn = app.client.ledger().connection();
    let circuits = kirim::circuit::read_all(&mut conn, app.client.ledger().keys())
        .await
        .unwrap();
    assert!(
        circuits
            .get(&kirim::providers::singapay::ID)
            .is_none_or(|c| c.opened_total == 0),
        "no circuit signal: {circuits:?}"
    );
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn not_received_is_submitted_once_more_with_the_same_reference() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    app.fault("ifortepay.transfer", "error_500_before", Some(1))
        .await;
    app.start_worker().await;
    let e = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "NF-1",
            OK_ACCOUNT,
        ))
        .await
        .unwrap();
    app.wait_state(&e.id, State::Succeeded, T).await;
    let p = app.client.ledger().get(&e.id).await.unwrap().unwrap();
    assert_eq!(
        p.meta.submissions, 2,
        "resubmitted once after a definite not-found"
    );
    assert_eq!(
        p.external_ids.len(),
        2,
        "each submission had its own X-EXTERNAL-ID"
    );
    assert_ne!(p.external_ids[0], p.external_ids[1]);
    assert_eq!(app.booked(kirim::providers::ifortepay::ID, "NF-1").await, 1);
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limits_and_expired_tokens_are_retried() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    app.fault("ifortepay.transfer", "too_many_requests", Some(2))
        .await;
    app.start_worker().await;
    let e = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "RL-1",
            OK_ACCOUNT,
        ))
        .await
        .unwrap();
    app.wait_state(&e.id, State::Succeeded, T).await;
    let h = app.client.ledger().history(&e.id).await.unwrap();
    let retries = h
        .iter()
        .filter(|x| x.outcome.as_deref() == Some("retryable"))
        .count();
    assert_eq!(retries, 2, "two 429s, two retries: {h:?}");
    assert_eq!(app.booked(kirim::providers::ifortepay::ID, "RL-1").await, 1);

    // Expire every token at the provider: the next payout refreshes and goes through.
    let r = app
        .admin
        .post(app.sandbox.url("/admin/tokens/expire"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let e2 = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "TOK-1",
            OK_ACCOUNT,
        ))
        .await
        .unwrap();
    app.wait_state(&e2.id, State::Succeeded, T).await;
    assert_eq!(
        app.booked(kirim::providers::ifortepay::ID, "TOK-1").await,
        1
    );
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exhausted_retries_go_to_dead_letters_and_can_be_redriven() {
    let mut app = App::spawn(|_| {}, |s| s.worker.retry_window_secs = 1).await;
    app.fault("nicepay.registration", "too_many_requests", None)
        .await;
    app.start_worker().await;
    let e = app
        .client
        .enqueue_transfer(&transfer(kirim::providers::nicepay::ID, "DL-1", OK_ACCOUNT))
        .await
        .unwrap();
    let ledger = app.client.ledger().clone();
    crate::common::wait_for("a dead letter", T, || async {
        !dead::list(&ledger).await.unwrap().is_empty()
    })
    .await;
    let letters = dead::list(&ledger).await.unwrap();
    assert_eq!(letters[0].payout, e.id);
    let p = ledger.get(&e.id).await.unwrap().unwrap();
    assert_eq!(p.state, State::Accepted, "never sent, so still ACCEPTED");
    assert!(p.meta.dead);
    assert_eq!(app.booked(kirim::providers::nicepay::ID, "DL-1").await, 0);
    app.clear_faults().await;
    let r = dead::retry(
        &ledger,
        app.client.queue(),
        app.client.policy(),
        letters[0].id,
        "ops-test",
    )
    .await
    .unwrap();
    assert!(matches!(r, dead::Redrive::Requeued(_)), "{r:?}");
    app.wait_state(&e.id, State::Succeeded, T).await;
    assert_eq!(app.booked(kirim::providers::nicepay::ID, "DL-1").await, 1);
    let h = ledger.history(&e.id).await.unwrap();
    let redrive = h
        .iter()
        .find(|x| x.event == "dead_letter_retry")
        .expect("audited re-drive");
    assert_eq!(redrive.actor.as_deref(), Some("ops-test"));
    assert!(dead::list(&ledger).await.unwrap().is_empty());
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payout_found_submitting_is_inquired_not_resent() {
    // Simulate a worker that died mid-send: the payout is SUBMITTING, its request
    // reached the provider (booked), and the answer was lost.
    let mut app = App::spawn(|_| {}, |_| {}).await;
    app.fault("ifortepay.transfer", "close_after", Some(1))
        .await;
    let e = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "CR-1",
            OK_ACCOUNT,
        ))
        .await
        .unwrap();
    let ledger = app.client.ledger().clone();
    // Send it "by hand" up to SUBMITTING, as the crashed worker did, then book it.
    let p = ledger.get(&e.id).await.unwrap().unwrap();
    let mut meta = p.meta.clone();
    meta.submissions = 1;
    meta.submitted_at = Some(now_ms() - 3_600_000);
    let applied = ledger
        .transition(
            &p,
            Transition {
                to: State::Submitting,
                meta,
                entry: HistoryEntry::new("submit", now_ms()),
                due_at: Some(now_ms()),
                allocate_external_id: true,
                dead_letter: None,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        applied,
        kirim::ledger::TransitionOutcome::Applied { .. }
    ));
    let providers = kirim::providers::build_all(&app.settings.providers).unwrap();
    let p = ledger.get(&e.id).await.unwrap().unwrap();
    let req = kirim::providers::TransferRequest {
        partner_reference: p.details.partner_reference.clone(),
        amount: p.details.amount,
        beneficiary: p.details.beneficiary.clone().unwrap(),
        remark: None,
        external_id: kirim::domain::ExternalId::parse(&p.external_ids[0]).unwrap(),
        transaction_date: kirim::snap::timestamp::now(),
        earlier_send_unknown: false,
        fence: Default::default(),
    };
    let ex = providers[&kirim::providers::ifortepay::ID]
        .transfer(&req)
        .await
        .unwrap();
    assert!(matches!(
        ex.outcome,
        kirim::providers::Outcome::Unknown { .. }
    ));
    assert_eq!(app.booked(kirim::providers::ifortepay::ID, "CR-1").await, 1);
    // Now the worker (re)starts and finds the payout SUBMITTING.
    app.start_worker().await;
    app.wait_state(&e.id, State::Succeeded, T).await;
    let p = ledger.get(&e.id).await.unwrap().unwrap();
    assert_eq!(p.meta.submissions, 1, "never sent again");
    assert_eq!(app.booked(kirim::providers::ifortepay::ID, "CR-1").await, 1);
    let h = ledger.history(&e.id).await.unwrap();
    assert!(h.iter().any(|x| x.event == "recovered"), "{h:?}");
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_shutdown_loses_nothing() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    // Slow provider, so the shutdown lands while jobs are in flight and queued.
    let r = app
        .admin
        .post(app.sandbox.url("/admin/faults"))
        .json(&serde_json::json!({"endpoint": "ifortepay.transfer", "kind": "latency", "latency_ms": 200}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let orders: Vec<_> = (0..120)
        .map(|i| {
            transfer(
                kirim::providers::ifortepay::ID,
                &format!("GS-{i}"),
                OK_ACCOUNT,
            )
        })
        .collect();
    app.client.enqueue_transfers(&orders).await.unwrap();
    app.start_worker().await;
    let ledger = app.client.ledger().clone();
    crate::common::wait_for("some payouts done", T, || async {
        ledger.count_by_state().await.unwrap()[&State::Succeeded] >= 10
    })
    .await;
    app.stop_worker().await;
    let counts = ledger.count_by_state().await.unwrap();
    assert_eq!(
        counts[&State::Submitting],
        0,
        "in-flight jobs finished before exit: {counts:?}"
    );
    assert!(
        counts[&State::Accepted] > 0,
        "the shutdown came before the end: {counts:?}"
    );
    // A new worker finishes the rest from the queue (not from the sweep's safety net,
    // which would only fire after stuck_after_secs).
    app.start_worker().await;
    crate::common::wait_for("all payouts succeeded", Duration::from_secs(60), || async {
        ledger.count_by_state().await.unwrap()[&State::Succeeded] == 120
    })
    .await;
    for i in 0..120 {
        assert_eq!(
            app.booked(kirim::providers::ifortepay::ID, &format!("GS-{i}"))
                .await,
            1
        );
    }
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backlog_beyond_the_apalis_fetch_limit_drains() {
    // ≥ 8,000 due jobs at once break apalis' fetch script (APALIS.md pitfall 4).
    // kirim pushes jobs due now straight to the active list (none in `:scheduled`)
    // and promotes delayed ones in chunks; 10,000 queued payouts must all drain.
    let mut app = App::spawn(|_| {}, |s| s.worker.concurrency = 64).await;
    let orders: Vec<_> = (0..10_000)
        .map(|i| {
            transfer(
                kirim::providers::ifortepay::ID,
                &format!("BL-{i}"),
                OK_ACCOUNT,
            )
        })
        .collect();
    let results = app.client.enqueue_transfers(&orders).await.unwrap();
    assert!(results.iter().all(|r| r.is_ok()));
    let depth = app
        .client
        .queue()
        .depth(kirim::jobs::Lane::Transfer)
        .await
        .unwrap();
    assert_eq!(depth.active, 10_000);
    assert_eq!(
        depth.scheduled, 0,
        "jobs due now skip apalis' :scheduled set"
    );
    app.start_worker().await;
    let ledger = app.client.ledger().clone();
    crate::common::wait_for("the backlog to drain", Duration::from_secs(240), || async {
        ledger.count_by_state().await.unwrap()[&State::Succeeded] == 10_000
    })
    .await;
    app.stop_worker().await;
}

/// A NICEPAY transfer whose first registration is booked but answered 500, with
/// the worker running.
async fn enqueue_with_a_lost_registration_answer(
    app: &mut App,
    reference: &str,
) -> kirim::client::Enqueued {
    app.fault("nicepay.registration", "error_500_after", Some(1))
        .await;
    app.start_worker().await;
    app.client
        .enqueue_transfer(&transfer(
            kirim::providers::nicepay::ID,
            reference,
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nicepay_lost_registration_answer_recovers_without_paying_twice() {
    // Regression (found by the crash test): a NICEPAY registration whose answer was
    // lost left the payout UNKNOWN forever, because the inquiry needs the
    // registration's reference. Now: no reference means no approve was ever sent,
    // so it is "not received"; the resubmission is answered 409 with the existing
    // reference... which the documents do not show: see the end of the test.
    let mut app = App::spawn(|_| {}, |_| {}).await;
    let e = enqueue_with_a_lost_registration_answer(&mut app, "NLR-1").await;
    app.wait_state(&e.id, State::Succeeded, T).await;
    let p = app.client.ledger().get(&e.id).await.unwrap().unwrap();
    assert_eq!(p.meta.submissions, 2);
    // The first registration's duplicate answer (409) names no reference (the
    // documents show none), so kirim registered once more under a derived
    // reference recorded in the ledger and approved only that one: the first
    // stays registered and unapproved (no money), the derived one is paid once.
    assert_eq!(app.booked(kirim::providers::nicepay::ID, "NLR-1").await, 0);
    let recorded = p.meta.provider_reference.clone().expect("recorded");
    let derived = recorded
        .split_once('#')
        .map(|(_, d)| d)
        .expect("derived form");
    assert_eq!(
        kirim::providers::nicepay::transformers::payout_reference_of(derived),
        "NLR-1"
    );
    assert_eq!(app.booked(kirim::providers::nicepay::ID, derived).await, 1);
    app.stop_worker().await;
}

/// The same lost registration answer with `redis.durability = "none"`: the ledger
/// may have forgotten steps it took (a machine crash rolls records back), so the
/// derived-registration recovery, safe only if it remembers every registration it
/// recorded, does not run. The duplicate answer parks the payout for an operator;
/// nothing is approved. (With it, the mode-`none` chaos run paid 128 NICEPAY
/// payouts twice.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nicepay_lost_registration_answer_is_parked_not_derived_when_the_ledger_may_forget() {
    let mut app = App::spawn(
        |_| {},
        |s| s.redis.durability = kirim::durability::Durability::None,
    )
    .await;
    let e = enqueue_with_a_lost_registration_answer(&mut app, "NLR-2").await;
    app.wait_state(&e.id, State::NeedsReview, T).await;
    let p = app.client.ledger().get(&e.id).await.unwrap().unwrap();
    assert!(
        p.meta
            .provider_reference
            .as_deref()
            .is_none_or(|r| !r.contains('#')),
        "no derived registration: {:?}",
        p.meta.provider_reference
    );
    assert_eq!(app.booked(kirim::providers::nicepay::ID, "NLR-2").await, 0);
    let books = app.sandbox.state().all_bookings();
    assert!(
        books
            .iter()
            .filter(|b| b.payout_reference() == "NLR-2")
            .all(|b| b.booked_count == 0),
        "nothing approved: {books:?}"
    );
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn beneficiary_name_check_before_transfer() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    app.start_worker().await;
    // The sandbox names every account "SANDBOX ACCOUNT <last 4 digits>".
    let mut good = transfer(kirim::providers::ifortepay::ID, "NAME-OK", OK_ACCOUNT);
    good.beneficiary.name = "Sandbox  account 3240".into();
    good.verify_beneficiary_name = true;
    let mut bad = transfer(kirim::providers::ifortepay::ID, "NAME-BAD", OK_ACCOUNT);
    bad.verify_beneficiary_name = true;
    let g = app.client.enqueue_transfer(&good).await.unwrap();
    let b = app.client.enqueue_transfer(&bad).await.unwrap();
    app.wait_state(&g.id, State::Succeeded, T).await;
    app.wait_state(&b.id, State::Failed, T).await;
    let p = app.client.ledger().get(&b.id).await.unwrap().unwrap();
    assert_eq!(p.meta.response_code.as_deref(), Some("NAME_MISMATCH"));
    assert!(p
        .meta
        .response_message
        .as_deref()
        .unwrap()
        .contains("SANDBOX ACCOUNT 3240"));
    assert_eq!(
        app.booked(kirim::providers::ifortepay::ID, "NAME-BAD")
            .await,
        0,
        "nothing sent on a mismatch"
    );
    let h = app.client.ledger().history(&g.id).await.unwrap();
    assert!(h.iter().any(|e| e.event == "account_inquiry"));
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_deletes_finished_job_data_but_keeps_the_ledger() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    app.start_worker().await;
    app.enqueue_ifortepay("RET", 20, OK_ACCOUNT).await;
    let ledger = app.client.ledger().clone();
    app.wait_for_count(State::Succeeded, 20, T).await;
    app.stop_worker().await;
    let queue = app.client.queue();
    assert!(queue.finished_count().await.unwrap() >= 20);
    // Nothing is old enough for a one-hour retention...
    assert_eq!(
        queue
            .apply_retention(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    // ...everything finished is older than "now + 1 s".
    tokio::time::sleep(Duration::from_millis(1100)).await; // apalis stamps done_at in whole seconds
    let removed = queue.apply_retention(Duration::ZERO).await.unwrap();
    assert!(removed >= 20, "removed {removed}");
    assert_eq!(queue.finished_count().await.unwrap(), 0);
    let mut conn = ledger.connection();
    let cfg = queue.apalis_config(kirim::jobs::Lane::Transfer);
    let data: u64 = redis::cmd("HLEN")
        .arg(cfg.job_data_hash())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(data, 0, "job payloads deleted");
    assert_eq!(
        ledger.count_by_state().await.unwrap()[&State::Succeeded],
        20,
        "the ledger is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn direct_debit_payment_without_otp_and_no_card_token_leaks() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    app.start_worker().await;
    let token = "card_.eyJpYXQiOjE3MjE4OTM3NDQsInNlY3JldCI6dHJ1ZX0.sig-kirim-test";
    let order = kirim::client::PaymentOrder {
        provider: kirim::providers::ifortepay::ID,
        partner_reference: kirim::domain::PartnerReference::parse("DD-1").unwrap(),
        amount: kirim::domain::Money::parse("15000.00", "amount").unwrap(),
        bank_card_token: kirim::domain::Secret::new(token),
        with_otp: false,
        pay_option: "BRI".into(),
        remarks: Some("Testing Remarks".into()),
    };
    let e = app.client.enqueue_payment(&order).await.unwrap();
    assert!(
        !app.client.enqueue_payment(&order).await.unwrap().created,
        "idempotent"
    );
    app.wait_state(&e.id, State::Succeeded, T).await;
    let view = app.client.status(&e.id).await.unwrap().unwrap();
    let json = serde_json::to_string(&view).unwrap();
    assert!(
        !json.contains(token),
        "the card token never appears in status or audit"
    );
    assert!(!json.contains("sig-kirim-test"));
    assert!(
        !format!("{order:?}").contains(token),
        "Debug redacts it too"
    );
    app.stop_worker().await;

    // Issue 13: the token does not outlive the payment, not even on disk.
    assert!(
        app.client
            .ledger()
            .card_token(&e.id)
            .await
            .unwrap()
            .is_none(),
        "deleted with the final state"
    );
    let conn = redis::Client::open(app.redis.url()).unwrap();
    let mut c = conn.get_multiplexed_async_connection().await.unwrap();
    let dir: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("dir")
        .query_async(&mut c)
        .await
        .unwrap();
    let _: String = redis::cmd("BGREWRITEAOF")
        .query_async(&mut c)
        .await
        .unwrap();
    crate::common::wait_for("the AOF rewrite finished", T, || {
        let mut c = c.clone();
        async move {
            let info: String = redis::cmd("INFO")
                .arg("persistence")
                .query_async(&mut c)
                .await
                .unwrap_or_default();
            info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0")
        }
    })
    .await;
    let _: () = redis::cmd("SAVE").query_async(&mut c).await.unwrap();
    let mut files = vec![std::path::PathBuf::from(&dir[1])];
    let mut grepped = 0;
    while let Some(f) = files.pop() {
        if f.is_dir() {
            files.extend(std::fs::read_dir(&f).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let bytes = std::fs::read(&f).unwrap();
        grepped += bytes.len();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the card token is in {}",
            f.display()
        );
    }
    assert!(grepped > 0, "the AOF and RDB files were read");
}

/// Issue 13: X-EXTERNAL-IDs must not depend on Redis history. A second deployment
/// (a fresh namespace: staging, or a restored Redis) using the same provider
/// credentials on the same day used to count from one again and get `409xx00`
/// for every message.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fresh_namespace_does_not_reuse_external_ids_the_provider_has_seen() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    let mut seen = std::collections::HashSet::new();
    for round in 0..2 {
        if round == 1 {
            app.settings.redis.namespace = format!("{{kirim-fresh-{}}}", now_ms());
            app.client = kirim::Client::connect(&app.settings).await.unwrap();
        }
        app.start_worker().await;
        let mut ids = Vec::new();
        for i in 0..6 {
            let p = kirim::providers::builtin_ids()[i % 3];
            let e = app
                .client
                .enqueue_transfer(&transfer(p, &format!("NS-{round}-{i}"), OK_ACCOUNT))
                .await
                .unwrap();
            ids.push(e.id);
        }
        for id in &ids {
            app.wait_state(id, State::Succeeded, T).await;
            let p = app.client.ledger().get(id).await.unwrap().unwrap();
            assert_eq!(
                p.external_ids.len(),
                1,
                "{id}: one message, accepted at once"
            );
            for ext in &p.external_ids {
                assert!(seen.insert(ext.clone()), "{id}: {ext} reused");
            }
        }
        app.stop_worker().await;
    }
}
