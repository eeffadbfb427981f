//! Requests: idempotency, validation, auth, paging, the shared rate limit, account
//! inquiry, health and the OpenAPI document.

use std::collections::BTreeSet;

use super::{error_field, get, post, transfer_body, KEY, OK_ACCOUNT};
use crate::common::{Api, App};
use kirim::jobs::Lane;
use kirim::sandbox::magic;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_validation_auth_and_pagination() {
    // No worker: jobs stay queued, so "nothing new enqueued" is observable.
    let app = App::spawn(|_| {}, |_| {}).await;
    let api = Api::start(&app.settings).await;
    let http = reqwest::Client::new();
    let transfers = api.url("/v1/transfers");
    let depth = || async {
        app.client
            .queue()
            .depth(Lane::Transfer)
            .await
            .expect("depth")
            .active
    };

    // Create, then the same request again: 200, same id, no second job.
    let body = transfer_body("ifortepay", "API-IDEM-1", OK_ACCOUNT, "150000.00");
    let (s, first) = post(&http, &transfers, &body, Some("idem-1")).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(first["id"], "ifortepay:API-IDEM-1");
    assert_eq!(first["state"], "ACCEPTED");
    assert_eq!(first["created"], true);
    assert_eq!(depth().await, 1);
    let (s, again) = post(&http, &transfers, &body, Some("idem-1")).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["created"], false);
    // Without the header too: the ledger is idempotent on the reference.
    let (s, _) = post(&http, &transfers, &body, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(depth().await, 1, "nothing new was enqueued");

    // The same Idempotency-Key with a different body.
    let other = transfer_body("ifortepay", "API-IDEM-2", OK_ACCOUNT, "150000.00");
    let (s, e) = post(&http, &transfers, &other, Some("idem-1")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "idempotency_key_reused");

    // The same reference with different details.
    let changed = transfer_body("ifortepay", "API-IDEM-1", OK_ACCOUNT, "150001.00");
    let (s, e) = post(&http, &transfers, &changed, None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "conflict");
    assert_eq!(depth().await, 1);

    // Validation errors name the field.
    let mut bad = transfer_body("ifortepay", "API-BAD-1", OK_ACCOUNT, "12.345");
    let (s, e) = post(&http, &transfers, &bad, None).await;
    assert_eq!(error_field(s, &e), "amount.value");
    bad["amount"]["value"] = json!("-5");
    let (s, e) = post(&http, &transfers, &bad, None).await;
    assert_eq!(error_field(s, &e), "amount.value");
    let mut missing = transfer_body("ifortepay", "API-BAD-2", OK_ACCOUNT, "1000.00");
    missing["beneficiary"]
        .as_object_mut()
        .expect("object")
        .remove("accountNo");
    let (s, e) = post(&http, &transfers, &missing, None).await;
    assert_eq!(error_field(s, &e), "beneficiary.accountNo");
    let (s, e) = post(
        &http,
        &transfers,
        &transfer_body("paypal", "API-BAD-3", OK_ACCOUNT, "1000.00"),
        None,
    )
    .await;
    assert_eq!(error_field(s, &e), "provider");
    let (s, e) = post(
        &http,
        &transfers,
        &transfer_body("ifortepay", "bad reference!", OK_ACCOUNT, "1000.00"),
        None,
    )
    .await;
    assert_eq!(error_field(s, &e), "partnerReferenceNo");
    // Malformed JSON.
    let resp = http
        .post(&transfers)
        .header("X-API-Key", KEY)
        .header("content-type", "application/json")
        .body("{\"provider\": \"ifortepay\", ")
        .send()
        .await
        .expect("API reachable");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let e: Value = resp.json().await.expect("JSON error");
    assert_eq!(e["error"]["code"], "invalid_request", "{e}");
    // A body over api.max_body_bytes.
    let mut huge = transfer_body("ifortepay", "API-BIG-1", OK_ACCOUNT, "1000.00");
    huge["remark"] = json!("x".repeat(app.settings.api.max_body_bytes + 1));
    let (s, e) = post(&http, &transfers, &huge, None).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    assert_eq!(e["error"]["code"], "too_large");
    assert_eq!(depth().await, 1, "nothing invalid was enqueued");

    // Authentication.
    let resp = http
        .post(&transfers)
        .json(&body)
        .send()
        .await
        .expect("API reachable");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let e: Value = resp.json().await.expect("JSON error");
    assert_eq!(e["error"]["code"], "unauthorized");
    for (header, value) in [
        ("X-API-Key", "wrong-key"),
        ("Authorization", "Bearer wrong-key"),
        ("Authorization", "Basic a2lyaW0tZGVtby1rZXk="),
    ] {
        let resp = http
            .get(api.url("/v1/transfers/API-IDEM-1"))
            .header(header, value)
            .send()
            .await
            .expect("API reachable");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{header}: {value}");
    }
    let resp = http
        .get(api.url("/v1/transfers?state=ACCEPTED"))
        .send()
        .await
        .expect("API reachable");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // Pagination: enough payouts for several pages, followed through nextCursor.
    let orders: Vec<_> = (0..200)
        .map(|i| {
            crate::common::transfer(
                kirim::providers::nicepay::ID,
                &format!("API-PAGE-{i:03}"),
                OK_ACCOUNT,
            )
        })
        .collect();
    for r in app.client.enqueue_transfers(&orders).await.expect("bulk") {
        r.expect("enqueued");
    }
    let mut seen = BTreeSet::new();
    let mut cursor: Option<u64> = None;
    let mut pages = 0;
    loop {
        let url = match cursor {
            Some(c) => api.url(&format!("/v1/transfers?state=ACCEPTED&limit=25&cursor={c}")),
            None => api.url("/v1/transfers?state=ACCEPTED&limit=25"),
        };
        let (s, page) = get(&http, &url).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        pages += 1;
        for item in page["items"].as_array().expect("items") {
            assert_eq!(item["state"], "ACCEPTED");
            seen.insert(item["id"].as_str().expect("id").to_owned());
        }
        match page["nextCursor"].as_u64() {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 100, "pagination terminates");
    }
    assert_eq!(seen.len(), 201, "every ACCEPTED payout listed exactly once");
    assert!(pages > 1, "more than one page ({pages})");
    let (s, e) = get(&http, &api.url("/v1/transfers?state=NOPE")).await;
    assert_eq!(error_field(s, &e), "state");
    let (s, e) = get(&http, &api.url("/v1/transfers?state=ACCEPTED&limit=0")).await;
    assert_eq!(error_field(s, &e), "limit");
    let (s, _) = get(&http, &api.url("/v1/transfers/NO-SUCH-REF")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    api.stop().await;
}

/// The limit lives in Redis: two `kirim serve` instances on one Redis share one
/// budget per API key (per-process buckets would admit twice the burst).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limit_is_shared_by_replicas_and_answers_429_with_retry_after() {
    let app = App::spawn(|_| {}, |_| {}).await;
    let mut settings = app.settings.clone();
    settings.api.rate_limit_per_sec = 1;
    settings.api.rate_limit_burst = 2;
    let replicas = [Api::start(&settings).await, Api::start(&settings).await];
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    let started = std::time::Instant::now();
    // Alternate between the two replicas: a, b, a, b, a, b.
    for i in 0..6 {
        let url = replicas[i % 2].url("/v1/transfers/NO-SUCH-REF");
        let resp = http
            .get(&url)
            .header("X-API-Key", KEY)
            .send()
            .await
            .expect("API reachable");
        let status = resp.status();
        statuses.push(status);
        if status == StatusCode::TOO_MANY_REQUESTS {
            retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let e: Value = resp.json().await.expect("JSON error");
            assert_eq!(e["error"]["code"], "rate_limited");
        }
    }
    let elapsed = started.elapsed();
    // The burst (2) passes (404: no such payout), one request on each replica.
    assert_eq!(
        &statuses[..2],
        &[StatusCode::NOT_FOUND, StatusCode::NOT_FOUND]
    );
    // Then the shared bucket is empty for both: at 1/s, at most one more request
    // per whole second elapsed gets through (per-process buckets would pass 4).
    let passed = statuses
        .iter()
        .filter(|s| **s == StatusCode::NOT_FOUND)
        .count();
    let refilled = usize::try_from(elapsed.as_secs()).unwrap_or(usize::MAX);
    assert!(passed <= 2 + refilled, "{statuses:?} in {elapsed:?}");
    if elapsed.as_secs() == 0 {
        assert_eq!(statuses[2], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
        assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    }
    let secs = retry_after.expect("a 429 with a numeric Retry-After");
    assert!((1..=2).contains(&secs), "Retry-After {secs}");
    // Health and metrics are not rate limited (no key needed).
    for _ in 0..5 {
        let r = http
            .get(replicas[0].url("/healthz"))
            .send()
            .await
            .expect("up");
        assert_eq!(r.status(), StatusCode::OK);
    }
    for api in replicas {
        api.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn account_inquiry_health_and_openapi() {
    let app = App::spawn(|_| {}, |_| {}).await;
    let api = Api::start(&app.settings).await;
    let http = reqwest::Client::new();

    for p in ["ifortepay", "nicepay", "singapay"] {
        let (s, info) = post(
            &http,
            &api.url("/v1/account-inquiries"),
            &json!({"provider": p, "bankCode": "014", "accountNo": OK_ACCOUNT}),
            None,
        )
        .await;
        if s == StatusCode::OK {
            assert_eq!(info["account_no"], OK_ACCOUNT, "{p}: {info}");
            assert!(
                !info["account_name"].as_str().unwrap_or("").is_empty(),
                "{p}: {info}"
            );
        } else {
            // A provider without an account-inquiry endpoint says so, as JSON.
            assert!(info["error"]["code"].is_string(), "{p}: {s} {info}");
        }
    }
    let (s, info) = post(
        &http,
        &api.url("/v1/account-inquiries"),
        &json!({"provider": "ifortepay", "bankCode": "014", "accountNo": OK_ACCOUNT}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{info}");
    let (s, e) = post(
        &http,
        &api.url("/v1/account-inquiries"),
        &json!({"provider": "ifortepay", "bankCode": "014", "accountNo": magic::INVALID_ACCOUNT}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "provider_refused", "{e}");
    let (s, e) = post(
        &http,
        &api.url("/v1/account-inquiries"),
        &json!({"provider": "ifortepay", "bankCode": "014"}),
        None,
    )
    .await;
    assert_eq!(error_field(s, &e), "accountNo");

    let r = http.get(api.url("/healthz")).send().await.expect("up");
    assert_eq!(r.status(), StatusCode::OK);
    let r = http.get(api.url("/readyz")).send().await.expect("up");
    assert_eq!(r.status(), StatusCode::OK, "Redis is reachable");

    let doc: Value = http
        .get(api.url("/openapi.json"))
        .send()
        .await
        .expect("up")
        .json()
        .await
        .expect("openapi.json is JSON");
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/v1/transfers",
        "/v1/transfers/{reference}",
        "/v1/payments",
        "/v1/account-inquiries",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "openapi lists {p}");
    }
    // Every $ref points at a schema that exists.
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap_or("");
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {name}"
        );
    }
    api.stop().await;
}
