//! Test controls beyond the classic fault kinds: canned `respond` answers, refusing
//! connections, and the sandbox clock.

use std::time::Duration;

use serde_json::{json, Value};

use crate::sandbox::helpers::*;
use crate::sandbox::ifortepay::transfer_body;

const TRANSFER: &str = "/api/v1.2/transfer-interbank";
const DETAIL: &str = "/api/v1.0/transaction-history-detail";
const UNAUTHORIZED: &str =
    r#"{"responseCode":"4011300","responseMessage":"Unauthorized. Signature"}"#;
const WAF: &str =
    "<html><head><title>403 Forbidden</title></head><body><h1>Request blocked</h1></body></html>";

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn booking_status(sb: &TestSandbox, reference: &str) -> Value {
    let (s, v) = sb
        .admin_get(&format!("/admin/bookings/{reference}?provider=ifortepay"))
        .await;
    assert_eq!(s, 200, "{v}");
    v["status"].clone()
}

#[tokio::test]
async fn respond_answers_json_before_anything_is_processed_for_times_requests() {
    let sb = spawn(|_| {}).await;
    let ifp = sb.ifortepay();
    let token = ifp.token().await;
    sb.set_faults(json!([{
        "endpoint": "ifortepay.transfer", "kind": "respond", "status": 401,
        "body": UNAUTHORIZED, "times": 2
    }]))
    .await;
    let (_, active) = sb.admin_get("/admin/faults").await;
    assert_eq!(active[0]["status"], 401, "{active}");
    assert_eq!(active[0]["body"], UNAUTHORIZED);

    let r = reference("RSP");
    let req = ifp.build(
        &token,
        reqwest::Method::POST,
        TRANSFER,
        &transfer_body(&r, "1", "10000.00").to_string(),
    );
    for _ in 0..2 {
        let resp = ifp.send_raw(req.clone()).await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(header(&resp, "content-type"), "application/json");
        assert_eq!(
            resp.text().await.unwrap(),
            UNAUTHORIZED,
            "sent byte for byte"
        );
        assert_eq!(sb.booked("ifortepay", &r).await, 0, "nothing booked");
    }
    // Nothing was processed, not even the X-EXTERNAL-ID: the same message is accepted
    // once the rule's two answers are used up, and the rule is gone.
    let (s, v) = ifp.send(req).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(sb.booked("ifortepay", &r).await, 1);
    assert_eq!(sb.admin_get("/admin/faults").await.1, json!([]));

    // Before anything: even an unsigned request with no token gets the canned answer.
    sb.set_faults(json!([{
        "endpoint": "ifortepay.history_detail", "kind": "respond", "status": 401,
        "body": UNAUTHORIZED
    }]))
    .await;
    let resp = sb
        .http
        .post(sb.url(&format!("/ifortepay{DETAIL}")))
        .body("not even JSON")
        .send()
        .await
        .unwrap();
    let (s, v) = read(resp).await;
    assert_eq!(
        (s, v["responseCode"].as_str(), v["responseMessage"].as_str()),
        (401, Some("4011300"), Some("Unauthorized. Signature"))
    );
}

#[tokio::test]
async fn respond_answers_an_html_waf_page_from_config() {
    let html_rule: kirim::sandbox::FaultRule = serde_json::from_value(json!({
        "endpoint": "ifortepay.*", "kind": "respond", "status": 403,
        "content_type": "text/html", "headers": {"Retry-After": "30"},
        "body": WAF, "times": 1
    }))
    .unwrap();
    let sb = spawn(move |c| c.faults = vec![html_rule]).await;
    let ifp = sb.ifortepay();
    // The token call is an ifortepay.* endpoint: it gets the page.
    let resp = ifp.send_raw(ifp.token_req()).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(header(&resp, "content-type"), "text/html");
    assert_eq!(header(&resp, "retry-after"), "30");
    assert_eq!(resp.text().await.unwrap(), WAF);

    // `times = 1` used up: normal answers, and a transfer books once.
    let token = ifp.token().await;
    sb.set_faults(json!([{
        "endpoint": "ifortepay.transfer", "kind": "respond", "status": 403,
        "content_type": "text/html", "body": WAF
    }]))
    .await;
    let r = reference("WAF");
    let (s, v) = ifp
        .post(&token, TRANSFER, &transfer_body(&r, "1", "10000.00"))
        .await;
    assert_eq!((s, v), (403, json!(WAF)));
    assert_eq!(sb.booked("ifortepay", &r).await, 0);

    // Rules that cannot answer are refused with a reason.
    for bad in [
        json!([{"endpoint": "ifortepay.transfer", "kind": "respond"}]),
        json!([{"endpoint": "ifortepay.transfer", "kind": "respond", "status": 1000}]),
        json!([{"endpoint": "ifortepay.transfer", "kind": "respond", "status": 200, "headers": {"bad name": "x"}}]),
        json!([{"endpoint": "ifortepay.transfer", "kind": "error_500_before", "status": 500}]),
        json!([{"endpoint": "callbacks.ifortepay", "kind": "respond", "status": 500}]),
    ] {
        let (s, v) = read(
            sb.http
                .put(sb.url("/admin/faults"))
                .json(&bad)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 400, "{bad} → {v}");
    }
    let resp = sb
        .http
        .put(sb.url("/admin/faults"))
        .json(&json!([{"endpoint": "*", "kind": "respond", "status": 500, "typo": 1}]))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_client_error(),
        "unknown fields are refused"
    );
}

#[tokio::test]
async fn refusing_connections_gives_connect_errors_until_switched_off() {
    let sb = spawn(|_| {}).await;
    let ifp = sb.ifortepay();
    let token = ifp.token().await; // the shared client now holds a pooled connection
    let r = reference("DOWN");
    let (s, _) = ifp
        .post(&token, TRANSFER, &transfer_body(&r, "1", "10000.00"))
        .await;
    assert_eq!(s, 202);

    sb.handle.set_refusing(true).await.unwrap();
    sb.handle.set_refusing(true).await.unwrap(); // idempotent
                                                 // The pooled client and a fresh one alike.
    let fresh = reqwest::Client::new();
    for http in [&sb.http, &fresh] {
        let err = ifp
            .send_with(http, ifp.token_req())
            .await
            .expect_err("the sandbox refuses connections");
        assert!(err.is_connect(), "{err:?}");
        let err = http
            .get(sb.url("/admin/health"))
            .send()
            .await
            .expect_err("admin shares the port");
        assert!(err.is_connect(), "{err:?}");
    }

    sb.handle.set_refusing(false).await.unwrap();
    sb.handle.set_refusing(false).await.unwrap();
    let (s, v) = sb.admin_get("/admin/health").await;
    assert_eq!((s, v), (200, json!({"ok": true})));
    // Same port, same books and tokens.
    assert_eq!(sb.booked("ifortepay", &r).await, 1);
    let (s, v) = ifp
        .post(
            &token,
            TRANSFER,
            &transfer_body(&reference("UP"), "1", "10000.00"),
        )
        .await;
    assert_eq!(s, 202, "{v}");
}

#[tokio::test]
async fn advancing_the_clock_settles_bookings_and_ages_timestamps() {
    // 60 s settlement delay (test default), 300 s skew, 900 s tokens.
    let sb = spawn(|c| {
        c.max_clock_skew_secs = 300;
        c.token_ttl_secs = 900;
    })
    .await;
    let ifp = sb.ifortepay();
    let token = ifp.token().await;
    let r = reference("CLK");
    let (s, _) = ifp
        .post(&token, TRANSFER, &transfer_body(&r, "1", "10000.00"))
        .await;
    assert_eq!(s, 202);
    assert_eq!(booking_status(&sb, &r).await, "INIT");

    let before = sb.handle.now();
    assert_eq!(
        sb.handle.advance_clock(Duration::from_secs(59)),
        Duration::from_secs(59)
    );
    assert_eq!(booking_status(&sb, &r).await, "INIT", "not due yet");
    sb.handle.advance_clock(Duration::from_secs(2));
    assert_eq!(booking_status(&sb, &r).await, "SUCCESS", "due: settled");
    assert!(sb.handle.now() - before >= chrono::Duration::seconds(61));

    // The provider's own status answer agrees, and its final time is on the clock.
    let body = json!({"originPartnerReferenceNo": r, "additionalInfo": {"type": "SEND_MONEY"}});
    let (s, v) = ifp.post(&token, DETAIL, &body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "SUCCESS", "{v}");

    // A request signed now is fresh; after the clock moves past the skew it is stale.
    let req = ifp.build(&token, reqwest::Method::POST, DETAIL, &body.to_string());
    let (s, v) = ifp.send(req.clone()).await;
    assert_eq!(s, 200, "{v}");
    sb.handle.advance_clock(Duration::from_secs(300));
    let stale = req.set("X-EXTERNAL-ID", &ext_id());
    let (s, v) = ifp.send(stale).await;
    assert_eq!(
        (s, v["responseMessage"].as_str()),
        (400, Some("Invalid Field Format X-TIMESTAMP")),
        "{v}"
    );

    // PUT /admin/clock sets the offset; GET reads it. Past the token lifetime the
    // token has expired (the request itself is signed on the sandbox clock).
    let (s, v) = read(
        sb.http
            .put(sb.url("/admin/clock"))
            .json(&json!({"offset_ms": 901_000}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, &v["offset_ms"]), (200, &json!(901_000)), "{v}");
    let (_, v) = sb.admin_get("/admin/clock").await;
    assert_eq!(v["offset_ms"], 901_000);
    let sandbox_now = v["now"].as_str().unwrap().to_owned();
    let req = ifp
        .build(&token, reqwest::Method::POST, DETAIL, &body.to_string())
        .set("X-TIMESTAMP", &sandbox_now);
    // (re-signed with the moved timestamp)
    let req = resign(&ifp, &token, req);
    let (s, v) = ifp.send(req).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (401, Some("4011301")),
        "{v}"
    );
    let resp = sb
        .http
        .put(sb.url("/admin/clock"))
        .json(&json!({"offset_ms": -1}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error());
}

/// Sign `req` again for its (changed) X-TIMESTAMP, by hand.
fn resign(ifp: &Snap, token: &str, req: Req) -> Req {
    let ts = req.header("X-TIMESTAMP");
    let msg = format!(
        "{}:{}:{token}:{}:{ts}",
        req.method.as_str(),
        req.path,
        sha256_hex(minify(&req.body).as_bytes())
    );
    let sig = hmac_b64(&ifp.secret, &msg);
    req.set("X-SIGNATURE", &sig)
}
