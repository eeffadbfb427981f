//! Every fault kind as a client sees it, plus the admin fault API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::sandbox::helpers::*;
use crate::sandbox::ifortepay::transfer_body;

const TRANSFER: &str = "/api/v1.2/transfer-interbank";

fn rule(kind: &str) -> serde_json::Value {
    json!([{"endpoint": "ifortepay.transfer", "kind": kind, "times": 1}])
}

#[tokio::test]
async fn http_faults_as_seen_by_a_client() {
    let sb = spawn(|_| {}).await;
    let ifp = sb.ifortepay();
    let token = ifp.token().await;
    let send = |r: &str| {
        ifp.build(
            &token,
            reqwest::Method::POST,
            TRANSFER,
            &transfer_body(r, "1", "10000.00").to_string(),
        )
    };

    // 500 before booking: nothing booked.
    sb.set_faults(rule("error_500_before")).await;
    let r = reference("F");
    let (s, v) = ifp.send(send(&r)).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (500, Some("5001801")),
        "{v}"
    );
    assert_eq!(sb.booked("ifortepay", &r).await, 0);

    // 500 after booking: booked once, the client only sees the 500.
    sb.set_faults(rule("error_500_after")).await;
    let r = reference("F");
    let (s, v) = ifp.send(send(&r)).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (500, Some("5001801")),
        "{v}"
    );
    assert_eq!(sb.booked("ifortepay", &r).await, 1);

    // Connection closed after booking: a transport error, but booked.
    sb.set_faults(rule("close_after")).await;
    let r = reference("F");
    let err = ifp
        .send_raw(send(&r))
        .await
        .expect_err("the connection must be dropped");
    assert!(!err.is_timeout(), "{err:?}");
    assert_eq!(sb.booked("ifortepay", &r).await, 1);

    // 429: not processed, and the same message (same X-EXTERNAL-ID) may be resent.
    sb.set_faults(rule("too_many_requests")).await;
    let r = reference("F");
    let req = send(&r);
    let (s, v) = ifp.send(req.clone()).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (429, Some("4291800")),
        "{v}"
    );
    assert_eq!(sb.booked("ifortepay", &r).await, 0);
    let (s, v) = ifp.send(req).await;
    assert_eq!(s, 202, "the resend is accepted: {v}");

    // Malformed JSON after booking.
    sb.set_faults(rule("malformed_json")).await;
    let r = reference("F");
    let resp = ifp.send_raw(send(&r)).await.unwrap();
    assert_eq!(resp.status(), 202);
    let text = resp.text().await.unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );
    assert_eq!(sb.booked("ifortepay", &r).await, 1);

    // Latency.
    sb.set_faults(
        json!([{"endpoint": "ifortepay.*", "kind": "latency", "latency_ms": 300, "times": 1}]),
    )
    .await;
    let started = Instant::now();
    let (s, _) = ifp.send(send(&reference("F"))).await;
    assert_eq!(s, 202);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Hang until the client times out: nothing booked.
    sb.set_faults(rule("hang")).await;
    let r = reference("F");
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = ifp
        .send_with(&impatient, send(&r))
        .await
        .expect_err("must time out");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(sb.booked("ifortepay", &r).await, 0);

    // `times` expired: back to normal.
    let (s, _) = ifp.send(send(&reference("F"))).await;
    assert_eq!(s, 202);
    let (_, active) = sb.admin_get("/admin/faults").await;
    assert_eq!(active, json!([]));
}

#[tokio::test]
async fn faults_from_config_probability_and_dialects() {
    let sb = spawn(|c| {
        c.faults = vec![kirim::sandbox::FaultRule {
            endpoint: "singapay.transfer_v2".into(),
            kind: kirim::sandbox::FaultKind::TooManyRequests,
            latency_ms: None,
            times: Some(1),
            probability: None,
            status: None,
            body: None,
            content_type: None,
            headers: None,
        }];
    })
    .await;
    let sp = sb.singapay();
    let token = sp.token().await;
    let (s, v) = sp
        .v2_transfer(&token, &sp.v2_body(&reference("SPF"), "1"))
        .await;
    // Singapay publishes no too-many-requests code (SP010 is
    // BeneficiaryAccountNotFound): the sandbox answers 429 with SP019 GeneralError.
    assert_eq!(
        (s, v["response_code"].as_str()),
        (429, Some("SP019")),
        "{v}"
    );
    sb.set_faults(json!([{"endpoint": "singapay.*", "kind": "error_500_before", "times": 1}]))
        .await;
    let (s, v) = sp.v2_inquiry(&token, "x").await;
    assert_eq!(
        (s, v["response_code"].as_str()),
        (500, Some("SP001")),
        "{v}"
    );

    // NICEPAY errors keep the SNAP format with its service code.
    sb.set_faults(json!([{"endpoint": "nicepay.balance", "kind": "too_many_requests"}]))
        .await;
    let np = sb.nicepay();
    let np_token = np.token().await;
    let (s, v) = np
        .post(&np_token, "/api/v1.0/balance-inquiry", &json!({}))
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (429, Some("4291100")),
        "{v}"
    );

    // Seeded probability: the same seed gives the same pattern.
    let pattern = |seed: u64| async move {
        let sb = spawn(move |c| c.seed = seed).await;
        sb.set_faults(json!([{"endpoint": "ifortepay.token", "kind": "too_many_requests", "probability": 0.5}])).await;
        let ifp = sb.ifortepay();
        let mut out = Vec::new();
        for _ in 0..16 {
            out.push(ifp.send(ifp.token_req()).await.0);
        }
        out
    };
    let a = pattern(7).await;
    assert_eq!(a, pattern(7).await);
    assert!(a.contains(&429) && a.contains(&200), "{a:?}");

    // Bad rules are refused with a reason.
    let resp = sb
        .http
        .put(sb.url("/admin/faults"))
        .json(&json!([{"endpoint": "nope", "kind": "hang"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = sb
        .http
        .post(sb.url("/admin/faults"))
        .json(&json!({"endpoint": "ifortepay.transfer", "kind": "duplicate"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = sb
        .http
        .delete(sb.url("/admin/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn callback_faults_bad_signature_duplicate_out_of_order() {
    let mut rx = receiver("/callbacks/ifortepay", 0, Arc::new(verify_ifortepay)).await;
    let url = rx.url.clone();
    let sb = spawn(move |c| c.ifortepay.callback_url = url).await;
    let ifp = sb.ifortepay();
    let token = ifp.token().await;

    sb.set_faults(
        json!([{"endpoint": "callbacks.ifortepay", "kind": "bad_signature", "times": 1}]),
    )
    .await;
    let r = reference("CBF");
    ifp.post(&token, TRANSFER, &transfer_body(&r, "1", "10000.00"))
        .await;
    sb.settle().await;
    let bad = rx.next().await;
    assert!(!bad.valid, "first delivery carries a corrupted signature");
    let retry = rx.next().await;
    assert!(
        retry.valid,
        "the retry after the receiver's 401 is signed correctly"
    );
    assert_eq!(retry.json["partnerReferenceNo"], r);

    sb.set_faults(json!([{"endpoint": "callbacks.ifortepay", "kind": "duplicate", "times": 1}]))
        .await;
    let r = reference("CBF");
    ifp.post(&token, TRANSFER, &transfer_body(&r, "1", "10000.00"))
        .await;
    sb.settle().await;
    let one = rx.next().await;
    let two = rx.next().await;
    assert!(one.valid && two.valid);
    assert_eq!(
        (
            one.json["partnerReferenceNo"].clone(),
            two.json["partnerReferenceNo"].clone()
        ),
        (json!(r), json!(r))
    );
    assert_eq!(
        one.json["additionalInfo"]["status"],
        two.json["additionalInfo"]["status"]
    );

    sb.set_faults(json!([{"endpoint": "callbacks.ifortepay", "kind": "out_of_order", "times": 1}]))
        .await;
    let r = reference("CBF");
    ifp.post(
        &token,
        TRANSFER,
        &transfer_body(&r, "9000000001", "10000.00"),
    )
    .await;
    sb.settle().await;
    let last = rx.next().await;
    let stale = rx.next().await;
    assert_eq!(last.json["additionalInfo"]["status"], "CANCELLED");
    assert_eq!(
        stale.json["additionalInfo"]["status"], "INIT",
        "a stale status after the final one"
    );
    assert!(stale.valid);
    let log = sb.callbacks_until(6).await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["faults"] == json!(["OutOfOrder"])),
        "{log}"
    );
}
