//! Polling alone, NEEDS_REVIEW, once-per-tick sweeps, batch settlement from history
//! pages, refused status checks and resubmission after "not found".

use super::{events, sweeper, OK_ACCOUNT, T};
use crate::common::{transfer, App};
use kirim::domain::State;
use kirim::sandbox::magic;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn settles_by_polling_alone() {
    let mut app = App::spawn(|c| c.settlement_delay_ms = 3_600_000, |_| {}).await;
    app.start_worker().await;
    let ok = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::singapay::ID,
            "POLL-OK",
            OK_ACCOUNT,
        ))
        .await
        .unwrap();
    let cx = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "POLL-CX",
            magic::ALWAYS_CANCEL,
        ))
        .await
        .unwrap();
    app.wait_state(&ok.id, State::Pending, T).await;
    app.wait_state(&cx.id, State::Pending, T).await;
    app.settle_sandbox().await;
    app.wait_state(&ok.id, State::Succeeded, T).await;
    app.wait_state(&cx.id, State::Cancelled, T).await;
    let h = app.client.ledger().history(&cx.id).await.unwrap();
    assert!(events(&h, "inquiry") >= 1);
    assert_eq!(events(&h, "callback"), 0);
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn needs_review_is_reached_and_resolved_by_an_operator() {
    let mut app = App::spawn(|_| {}, |s| s.reconcile.horizon_secs = 2).await;
    app.start_worker().await;
    let id = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "STUCK-1",
            magic::STUCK,
        ))
        .await
        .unwrap()
        .id;
    app.wait_state(&id, State::NeedsReview, T).await;
    // Still polled at the last interval, never failed automatically.
    let listed = app.client.list(State::NeedsReview, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    let err = app
        .client
        .resolve_review(&id, State::Succeeded, "alice", " ")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("note"), "{err}");
    app.client
        .resolve_review(
            &id,
            State::Cancelled,
            "alice",
            "bank statement 2026-11-21 shows no debit",
        )
        .await
        .unwrap();
    assert_eq!(app.state(&id).await, Some(State::Cancelled));
    let h = app.client.ledger().history(&id).await.unwrap();
    let review = h.iter().find(|e| e.event == "review").unwrap();
    assert_eq!(review.actor.as_deref(), Some("operator:alice"));
    assert!(review.note.as_deref().unwrap().contains("bank statement"));
    // A resolved payout cannot be resolved again.
    assert!(app
        .client
        .resolve_review(&id, State::Succeeded, "bob", "oops")
        .await
        .is_err());
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_reconcilers_never_poll_the_same_payout_twice_in_a_tick() {
    let app = App::spawn(|_| {}, |s| s.reconcile.stuck_after_secs = 0).await;
    let orders: Vec<_> = (0..300)
        .map(|i| {
            transfer(
                kirim::providers::ifortepay::ID,
                &format!("TR-{i}"),
                OK_ACCOUNT,
            )
        })
        .collect();
    app.client.enqueue_transfers(&orders).await.unwrap();
    // Drop the jobs the enqueue pushed so only the sweeps' jobs are counted.
    let mut conn = app.client.ledger().connection();
    let cfg = app
        .client
        .queue()
        .apalis_config(kirim::jobs::Lane::Transfer)
        .clone();
    let _: () = redis::cmd("DEL")
        .arg(cfg.active_jobs_list())
        .query_async(&mut conn)
        .await
        .unwrap();
    let (a, b) = (
        sweeper(&app, Default::default(), 0),
        sweeper(&app, Default::default(), 0),
    );
    let tick = 1_800_000_000;
    let (ra, rb) = tokio::join!(a.sweep_tick(tick), b.sweep_tick(tick));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(
        ra.is_some() ^ rb.is_some(),
        "exactly one replica sweeps a tick"
    );
    let report = ra.or(rb).unwrap();
    assert_eq!(report.claimed, 300);
    // And two sweeps running at once (different ticks) split the work.
    let orders: Vec<_> = (0..300)
        .map(|i| {
            transfer(
                kirim::providers::nicepay::ID,
                &format!("TR2-{i}"),
                OK_ACCOUNT,
            )
        })
        .collect();
    app.client.enqueue_transfers(&orders).await.unwrap();
    let _: () = redis::cmd("DEL")
        .arg(cfg.active_jobs_list())
        .query_async(&mut conn)
        .await
        .unwrap();
    let (ra, rb) = tokio::join!(a.sweep_once(), b.sweep_once());
    assert_eq!(
        ra.unwrap().claimed + rb.unwrap().claimed,
        300,
        "each due payout claimed once"
    );
    let depth = app
        .client
        .queue()
        .depth(kirim::jobs::Lane::Transfer)
        .await
        .unwrap();
    assert_eq!(
        depth.active, 300,
        "one job per due payout from the two concurrent sweeps"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_settlement_from_history_pages() {
    let mut app = App::spawn(
        |c| c.settlement_delay_ms = 3_600_000,
        |s| s.reconcile.schedule_secs = vec![3600],
    )
    .await;
    app.start_worker().await;
    app.enqueue_ifortepay("HB", 40, OK_ACCOUNT).await;
    let ledger = app.client.ledger().clone();
    app.wait_for_count(State::Pending, 40, T).await;
    app.stop_worker().await;
    app.settle_sandbox().await;
    // Make them all due now, then sweep once with batch settlement on.
    let mut conn = ledger.connection();
    let ids: Vec<String> = (0..40).map(|i| format!("ifortepay:HB-{i}")).collect();
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.zadd(ledger.keys().due(), id, kirim::ledger::now_ms() - 1000)
            .ignore();
    }
    let _: () = pipe.query_async(&mut conn).await.unwrap();
    let providers = kirim::providers::build_all(&app.settings.providers).unwrap();
    let report = sweeper(&app, providers, 20).sweep_once().await.unwrap();
    assert_eq!(report.claimed, 40);
    assert_eq!(report.settled_by_history, 40, "{report:?}");
    assert!(
        report.history_pages >= 1 && report.history_pages <= 3,
        "{report:?}"
    );
    assert_eq!(report.enqueued, 0, "no per-payout inquiry needed");
    assert_eq!(
        ledger.count_by_state().await.unwrap()[&State::Succeeded],
        40
    );
    let h = ledger.history(&ids[0].parse().unwrap()).await.unwrap();
    assert_eq!(events(&h, "history"), 1);
}

/// Issue 16 point 7: a refused history list (here the strict sandbox's own
/// `4001201 Invalid Field Format pageSize`, injected) is not silent: the sweep
/// falls back to inquiries and counts `history_list_refused` for /metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_history_list_falls_back_and_is_counted() {
    let mut app = App::spawn(
        |c| c.settlement_delay_ms = 3_600_000,
        |s| s.reconcile.schedule_secs = vec![3600],
    )
    .await;
    app.start_worker().await;
    let orders: Vec<_> = (0..3)
        .map(|i| {
            transfer(
                kirim::providers::ifortepay::ID,
                &format!("HR-{i}"),
                OK_ACCOUNT,
            )
        })
        .collect();
    app.client.enqueue_transfers(&orders).await.unwrap();
    let ledger = app.client.ledger().clone();
    crate::common::wait_for("all PENDING", T, || async {
        ledger.count_by_state().await.unwrap()[&State::Pending] == 3
    })
    .await;
    app.stop_worker().await;
    let rule = serde_json::json!({"endpoint": "ifortepay.history_list", "kind": "respond", "status": 400,
        "body": "{\"responseCode\":\"4001201\",\"responseMessage\":\"Invalid Field Format pageSize\"}"});
    let r = app
        .admin
        .put(app.sandbox.url("/admin/faults"))
        .json(&serde_json::json!([rule]))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let mut conn = ledger.connection();
    let mut pipe = redis::pipe();
    for i in 0..3 {
        pipe.zadd(
            ledger.keys().due(),
            format!("ifortepay:HR-{i}"),
            kirim::ledger::now_ms() - 1000,
        )
        .ignore();
    }
    let _: () = pipe.query_async(&mut conn).await.unwrap();
    let providers = kirim::providers::build_all(&app.settings.providers).unwrap();
    let report = sweeper(&app, providers, 2).sweep_once().await.unwrap();
    assert_eq!(report.claimed, 3);
    assert_eq!(report.settled_by_history, 0, "{report:?}");
    assert_eq!(report.enqueued, 3, "each falls back to an inquiry");
    let refused: Option<u64> = redis::cmd("HGET")
        .arg(format!("{}:metrics:alerts", ledger.keys().namespace()))
        .arg("ifortepay|history_list_refused")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(refused, Some(1));
}

/// A refused status check (issue 11, defect 2) — a signature refusal after a
/// secret rotation, a WAF's HTML 403, a route 404 — leaves a booked payout
/// PENDING; once the provider answers again it is SUCCEEDED.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_status_check_never_fails_a_booked_payout() {
    let mut app = App::spawn(|c| c.settlement_delay_ms = 3_600_000, |_| {}).await;
    app.start_worker().await;
    let id = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "REFUSED-1",
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
        .id;
    app.wait_state(&id, State::Pending, T).await;
    let refusals = [
        serde_json::json!({"endpoint": "ifortepay.history_detail", "kind": "respond", "status": 401,
            "body": "{\"responseCode\":\"4011300\",\"responseMessage\":\"Unauthorized. Signature\"}"}),
        serde_json::json!({"endpoint": "ifortepay.history_detail", "kind": "respond", "status": 403,
            "content_type": "text/html", "body": "<html><body>Request blocked</body></html>"}),
        serde_json::json!({"endpoint": "ifortepay.history_detail", "kind": "respond", "status": 404,
            "content_type": "text/plain", "body": "404 page not found"}),
    ];
    let ledger = app.client.ledger().clone();
    for rule in refusals {
        let before = events(&ledger.history(&id).await.unwrap(), "inquiry");
        let r = app
            .admin
            .put(app.sandbox.url("/admin/faults"))
            .json(&serde_json::json!([rule]))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        crate::common::wait_for("two refused inquiries", T, || async {
            events(&ledger.history(&id).await.unwrap(), "inquiry") >= before + 2
        })
        .await;
        assert_eq!(app.state(&id).await, Some(State::Pending), "{rule}");
    }
    let h = ledger.history(&id).await.unwrap();
    assert!(h
        .iter()
        .any(|e| e.event == "inquiry" && e.outcome.as_deref() == Some("refused")));
    app.clear_faults().await;
    app.settle_sandbox().await;
    app.wait_state(&id, State::Succeeded, T).await;
    assert_eq!(
        app.booked(kirim::providers::ifortepay::ID, "REFUSED-1")
            .await,
        1
    );
    app.stop_worker().await;
}

/// "Not found → resubmit" at most once (issue 11, defect 4): a provider that
/// never receives the payout gets it twice, then the payout waits for an operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn not_found_is_resubmitted_once_then_needs_review() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    app.fault("ifortepay.transfer", "error_500_before", None)
        .await;
    app.start_worker().await;
    let id = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "NF-ONCE",
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
        .id;
    app.wait_state(&id, State::NeedsReview, T).await;
    let p = app.client.ledger().get(&id).await.unwrap().unwrap();
    assert_eq!(p.meta.submissions, 2, "one submission and one resubmission");
    assert_eq!(p.meta.resubmits, 1);
    assert_eq!(
        app.booked(kirim::providers::ifortepay::ID, "NF-ONCE").await,
        0
    );
    app.stop_worker().await;
}
