//! Callbacks alone and with polling, duplicated, out of order, forged and replayed;
//! the application's notifications of final states.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{callback_app, callback_app_with, events, OK_ACCOUNT, T};
use crate::common::{transfer, App};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use kirim::domain::State;
use kirim::sandbox::magic;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn settles_by_callback_alone() {
    let mut app = callback_app(false, |_| {}).await;
    let mut ids = Vec::new();
    for p in kirim::providers::builtin_ids() {
        ids.push(
            app.client
                .enqueue_transfer(&transfer(p, &format!("CB-{p}"), OK_ACCOUNT))
                .await
                .unwrap()
                .id,
        );
    }
    let cx = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "CB-CX",
            magic::ALWAYS_CANCEL,
        ))
        .await
        .unwrap()
        .id;
    for id in ids.iter().chain([&cx]) {
        app.wait_state(id, State::Pending, T).await;
    }
    app.settle_sandbox().await;
    for id in &ids {
        app.wait_state(id, State::Succeeded, T).await;
        let h = app.client.ledger().history(id).await.unwrap();
        assert_eq!(events(&h, "callback"), 1, "{id}: its callback arrived");
        if id.provider == kirim::providers::nicepay::ID {
            // A header-only signature never settles from the body: the
            // notification made the payout due and an inquiry settled it.
            assert!(
                events(&h, "inquiry") >= 1,
                "{id}: inquired after the notification"
            );
        } else {
            assert_eq!(events(&h, "inquiry"), 0, "{id}: no polling happened");
        }
    }
    app.wait_state(&cx, State::Cancelled, T).await;
    app.stop_worker().await;
}

/// Singapay v1.0 has no status inquiry, so its webhook is how a pending transfer
/// ends; and a v1.0 transfer has no reference of ours, so the webhook names it by
/// the `transaction_id` the transfer's answer gave, which kirim recorded. Before,
/// such a webhook matched nothing (it was read by `reference_number`) and the
/// payout waited for review.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_singapay_v1_webhook_settles_its_payout_by_transaction_id() {
    let mut app = callback_app_with(
        false,
        |_| {},
        |s| s.providers.set("singapay", "api_version", "v1"),
    )
    .await;
    let id = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::singapay::ID,
            "CB-V1-1",
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
        .id;
    app.wait_state(&id, State::Pending, T).await;
    // The engine indexed Singapay's id, so the webhook finds the payout with one
    // lookup instead of a scan of everything in flight.
    let ledger = app.client.ledger().clone();
    let pending = ledger.get(&id).await.unwrap().unwrap();
    let tx = pending
        .meta
        .provider_reference
        .expect("transaction id kept");
    assert_eq!(
        ledger.by_provider_reference("singapay", &tx).await.unwrap(),
        Some("CB-V1-1".to_owned())
    );
    app.settle_sandbox().await;
    app.wait_state(&id, State::Succeeded, T).await;
    let h = app.client.ledger().history(&id).await.unwrap();
    assert_eq!(events(&h, "callback"), 1, "settled by its webhook: {h:?}");
    assert_eq!(app.booked(id.provider, &tx).await, 1);
    // Final: out of the index (a late webhook changes nothing).
    crate::common::wait_for("the index entry to go", T, || async {
        ledger
            .by_provider_reference("singapay", &tx)
            .await
            .unwrap()
            .is_none()
    })
    .await;
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicated_and_out_of_order_callbacks_with_polling() {
    let mut app = callback_app(true, |c| {
        c.faults = vec![
            serde_json::from_value(
                serde_json::json!({"endpoint": "callbacks.*", "kind": "duplicate"}),
            )
            .unwrap(),
            serde_json::from_value(
                serde_json::json!({"endpoint": "callbacks.*", "kind": "out_of_order"}),
            )
            .unwrap(),
        ];
    })
    .await;
    let ok = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "DUP-1",
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
        .id;
    let cx = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "DUP-2",
            magic::ALWAYS_CANCEL,
        ))
        .await
        .unwrap()
        .id;
    // NICEPAY reports the sandbox's cancellations as 09 (failed).
    let nf = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::nicepay::ID,
            "DUP-3",
            magic::ALWAYS_CANCEL,
        ))
        .await
        .unwrap()
        .id;
    for id in [&ok, &cx, &nf] {
        app.wait_state(id, State::Pending, T).await;
    }
    app.settle_sandbox().await;
    app.wait_state(&ok, State::Succeeded, T).await;
    app.wait_state(&cx, State::Cancelled, T).await;
    app.wait_state(&nf, State::Failed, T).await;
    // The duplicate and the stale INIT arrive after the final one: both are recorded
    // and ignored, and the state never moves again.
    let ledger = app.client.ledger().clone();
    for id in [&ok, &cx] {
        crate::common::wait_for("the late callbacks to be recorded", T, || async {
            events(&ledger.history(id).await.unwrap(), "callback_ignored") >= 2
        })
        .await;
    }
    // NICEPAY's signature does not cover the body: its notifications only trigger
    // inquiries (the FAILED came from one), and all three are recorded.
    crate::common::wait_for("the NICEPAY notifications to be recorded", T, || async {
        let h = ledger.history(&nf).await.unwrap();
        events(&h, "callback") + events(&h, "callback_ignored") >= 3
    })
    .await;
    assert!(events(&ledger.history(&nf).await.unwrap(), "inquiry") >= 1);
    assert_eq!(app.state(&ok).await, Some(State::Succeeded));
    assert_eq!(app.state(&cx).await, Some(State::Cancelled));
    assert_eq!(app.state(&nf).await, Some(State::Failed));
    assert_eq!(
        app.booked(kirim::providers::ifortepay::ID, "DUP-1").await,
        1
    );
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_resolved_by_callback() {
    let mut app = callback_app(false, |_| {}).await;
    app.fault("ifortepay.transfer", "error_500_after", Some(1))
        .await;
    let id = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "UNK-CB",
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
        .id;
    app.wait_state(&id, State::Unknown, T).await;
    app.settle_sandbox().await;
    app.wait_state(&id, State::Succeeded, T).await;
    let h = app.client.ledger().history(&id).await.unwrap();
    assert_eq!(events(&h, "callback"), 1);
    assert_eq!(
        app.booked(kirim::providers::ifortepay::ID, "UNK-CB").await,
        1
    );
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_and_replayed_callbacks_are_refused() {
    let mut app = callback_app(false, |_| {}).await;
    let id = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "FORGE-1",
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
        .id;
    app.wait_state(&id, State::Pending, T).await;
    let url = app
        .settings
        .providers
        .section("ifortepay")
        .and_then(|p| p.text("callback_url"))
        .expect("callback_url")
        .to_owned();
    let body = serde_json::json!({"partnerReferenceNo": "FORGE-1", "referenceNo": "X",
        "additionalInfo": {"status": "SUCCESS"}})
    .to_string();
    let send = |sig: String, ts: String, body: String| {
        let url = url.clone();
        async move {
            reqwest::Client::new()
                .post(&url)
                .header("Content-Type", "application/json")
                .header("X-TIMESTAMP", ts)
                .header("X-SIGNATURE", sig)
                .header("X-VERSION", "1.0")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let ts = kirim::snap::timestamp::now();
    let sign = |secret: &str, body: &str, ts: &str| {
        let msg = kirim::snap::callback_string_to_sign(
            &url,
            "1.0",
            kirim::snap::minify(body).unwrap().as_bytes(),
            ts,
        );
        kirim::snap::hmac_sign(secret, &msg)
    };
    let real = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/sandbox/ifortepay_client_secret"
    ))
    .unwrap()
    .trim()
    .to_owned();
    // Signed with the wrong secret.
    assert_eq!(
        send(sign("guess", &body, &ts), ts.clone(), body.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    // Re-signed: a valid signature over another body, sent with a tampered body.
    let other = body.replace("SUCCESS", "INIT");
    assert_eq!(
        send(sign(&real, &other, &ts), ts.clone(), body.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    // Replayed: valid signature, but an hour-old timestamp.
    let old = kirim::snap::timestamp::format(chrono::Utc::now() - chrono::Duration::hours(1));
    assert_eq!(
        send(sign(&real, &body, &old), old.clone(), body.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.state(&id).await,
        Some(State::Pending),
        "nothing trusted"
    );
    // Refusals cost a counter, not an audit entry…
    let h = app.client.ledger().history(&id).await.unwrap();
    assert_eq!(events(&h, "callback_refused"), 0);
    let ledger = app.client.ledger().clone();
    let mut conn = ledger.connection();
    let refused: Option<u64> = redis::cmd("HGET")
        .arg(format!("{}:metrics:alerts", ledger.keys().namespace()))
        .arg("ifortepay|callback_refused")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(refused, Some(3));
    // …and the three refusals triggered one coalesced inquiry (the provider still says INIT).
    crate::common::wait_for("an inquiry after the refusals", T, || async {
        events(&ledger.history(&id).await.unwrap(), "inquiry") >= 1
    })
    .await;
    assert_eq!(app.state(&id).await, Some(State::Pending));
    // The genuine callback still works.
    assert_eq!(
        send(sign(&real, &body, &ts), ts.clone(), body.clone()).await,
        StatusCode::OK
    );
    assert_eq!(app.state(&id).await, Some(State::Succeeded));
    app.stop_worker().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn final_states_are_notified_signed_retried_and_redeliverable() {
    #[derive(Default)]
    struct Seen {
        hits: AtomicUsize,
        ok: Mutex<Vec<(String, String, String)>>,
    }
    let seen = Arc::new(Seen::default());
    let s2 = seen.clone();
    let receiver = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let seen = s2.clone();
            async move {
                // Fail the first delivery: kirim must retry.
                if seen.hits.fetch_add(1, Ordering::SeqCst) == 0 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                seen.ok
                    .lock()
                    .unwrap()
                    .push((h("x-kirim-event-id"), h("x-kirim-signature"), body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let mut app = App::spawn(
        |_| {},
        move |s| {
            s.notify.url = hook;
            s.notify.secret = Some(kirim::domain::Secret::new("notify-secret"));
            s.notify.backoff_base_ms = 50;
            s.notify.backoff_max_ms = 200;
        },
    )
    .await;
    app.start_worker().await;
    let id = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "EVT-1",
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
        .id;
    app.wait_state(&id, State::Succeeded, T).await;
    crate::common::wait_for("a delivered notification", T, || async {
        !seen.ok.lock().unwrap().is_empty()
    })
    .await;
    let (event_id, sig, body) = seen.ok.lock().unwrap()[0].clone();
    assert_eq!(event_id, "evt_ifortepay_EVT-1_succeeded");
    assert_eq!(
        sig,
        kirim::notify::sign("notify-secret", body.as_bytes()),
        "HMAC-SHA256 over the body"
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["type"], "payout.succeeded");
    assert_eq!(v["amount"], "150000.00");
    assert!(
        seen.hits.load(Ordering::SeqCst) >= 2,
        "first attempt failed, then retried"
    );
    let listed = kirim::notify::list(app.client.ledger()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].delivery.delivered_at.is_some());
    // Redeliver on request: the same event id arrives again.
    assert!(kirim::notify::redeliver(app.client.ledger(), &event_id)
        .await
        .unwrap());
    crate::common::wait_for("the redelivery", T, || async {
        seen.ok.lock().unwrap().len() >= 2
    })
    .await;
    assert_eq!(seen.ok.lock().unwrap()[1].0, event_id);
    app.stop_worker().await;
}

/// NICEPAY signs notifications over `clientId|X-TIMESTAMP` only (issue 11, defect
/// 3): one captured header pair replayed with another payout's body must change
/// nothing — it only triggers an inquiry — and a payout never sent is never
/// finalised by a callback.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_nicepay_notification_with_another_body_changes_nothing() {
    let mut app = callback_app(false, |_| {}).await;
    let a = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::nicepay::ID,
            "RPL-A",
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
        .id;
    let b = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::nicepay::ID,
            "RPL-B",
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
        .id;
    app.wait_state(&a, State::Pending, T).await;
    app.wait_state(&b, State::Pending, T).await;
    // One genuine header pair, as NICEPAY would send it for any notification now.
    let key = kirim::snap::keys::load_private_key(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/sandbox/nicepay_server_private.pem"
    )))
    .unwrap();
    let ts = kirim::snap::timestamp::now();
    let n: kirim::providers::nicepay::NicepaySettings =
        app.settings.providers.parse("nicepay").unwrap();
    let sig = kirim::snap::rsa_sign(
        &key,
        &kirim::snap::token_string_to_sign(&n.client_id, &n.token_separator, &ts),
    );
    let url = format!("http://{}/callbacks/nicepay", app.settings.api.bind);
    let post = |reference: &str, status: &str| {
        let body = serde_json::json!({
            "originalPartnerReferenceNo": reference,
            "latestTransactionStatus": status,
        });
        reqwest::Client::new()
            .post(&url)
            .header("X-TIMESTAMP", &ts)
            .header("X-SIGNATURE", &sig)
            .json(&body)
            .send()
    };
    for status in ["00", "04", "09"] {
        assert!(post("RPL-B", status).await.unwrap().status().is_success());
    }
    // The provider still says INIT for both: the inquiries keep them PENDING.
    let ledger = app.client.ledger().clone();
    crate::common::wait_for("an inquiry triggered by the notification", T, || async {
        events(&ledger.history(&b).await.unwrap(), "inquiry") >= 1
    })
    .await;
    assert_eq!(app.state(&a).await, Some(State::Pending));
    assert_eq!(app.state(&b).await, Some(State::Pending));
    // A payout never sent: the same headers with "09" must not make it FAILED.
    app.stop_worker().await;
    let c = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::nicepay::ID,
            "RPL-C",
            OK_ACCOUNT,
        ))
        .await
        .unwrap()
        .id;
    assert!(post("RPL-C", "09").await.unwrap().status().is_success());
    let st = app.state(&c).await;
    assert!(
        !matches!(
            st,
            Some(State::Failed | State::Succeeded | State::Cancelled)
        ),
        "a callback finalised a payout never sent: {st:?}"
    );
    assert_eq!(app.booked(kirim::providers::nicepay::ID, "RPL-C").await, 0);
}
