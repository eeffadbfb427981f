//! The HTTP API end to end: a real Redis, the sandbox, an in-process worker and
//! `kirim serve` on port 0, driven with reqwest over real HTTP. Also `/metrics`
//! scraped and parsed, and `kirim demo` through the real binary.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::common::{wait_for, Api, App};
use kirim::jobs::Lane;
use kirim::sandbox::magic;
use reqwest::StatusCode;
use serde_json::{json, Value};

const KEY: &str = "kirim-demo-key";
const OK_ACCOUNT: &str = "8753293240";
const T: Duration = Duration::from_secs(30);

fn transfer_body(provider: &str, reference: &str, account: &str, amount: &str) -> Value {
    json!({
        "provider": provider,
        "partnerReferenceNo": reference,
        "amount": {"value": amount, "currency": "IDR"},
        "beneficiary": {"accountNo": account, "bankCode": "014", "name": "Budi Santoso"},
        "remark": "Gaji November"
    })
}

/// POST with the demo key; returns status and JSON body.
async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    idem: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = http.post(url).header("X-API-Key", KEY).json(body);
    if let Some(k) = idem {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().await.expect("API reachable");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get(http: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let resp = http
        .get(url)
        .header("Authorization", format!("Bearer {KEY}"))
        .send()
        .await
        .expect("API reachable");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The field an error names, checking the error envelope on the way.
fn error_field(status: StatusCode, body: &Value) -> String {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"]["field"].as_str().unwrap_or("").to_owned()
}

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

/// One sample of the Prometheus text format.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parse the Prometheus text exposition format (0.0.4): `# HELP`/`# TYPE`
/// comments, then `name{label="value",…} value` lines. Panics on anything else.
fn parse_prometheus(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let mut parts = rest.trim_start().splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "bad TYPE line: {line}"
                    );
                    types.insert(name.to_owned(), kind.to_owned());
                }
                (Some("HELP"), Some(_), _) => {}
                _ => {} // other comments are allowed
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("value is not a float: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                (name, parse_labels(body, line))
            }
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name: {line}"
        );
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    (types, samples)
}

fn parse_labels(body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad label in {line}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => panic!("dangling escape in {line}"),
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end.unwrap_or_else(|| panic!("unterminated label value in {line}"));
        labels.insert(key.trim_start_matches(',').to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

/// The family a sample belongs to: OpenMetrics names a counter family without
/// its `_total` suffix (`# TYPE kirim_alerts counter`, `kirim_alerts_total …`).
fn family(name: &str) -> &str {
    for suffix in ["_bucket", "_sum", "_count", "_total"] {
        if let Some(base) = name.strip_suffix(suffix) {
            return base;
        }
    }
    name
}

async fn scrape(http: &reqwest::Client, api: &Api) -> (BTreeMap<String, String>, Vec<Sample>) {
    let resp = http.get(api.url("/metrics")).send().await.expect("up");
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(
        ct, "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "content-type"
    );
    let text = resp.text().await.expect("body");
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics ends with # EOF:\n{text}"
    );
    let (types, samples) = parse_prometheus(&text);
    for s in &samples {
        assert!(
            types.contains_key(s.name.as_str()) || types.contains_key(family(&s.name)),
            "{} has no # TYPE",
            s.name
        );
    }
    (types, samples)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

fn sum(samples: &[Sample], name: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payouts_settle_and_show_in_status_list_and_metrics() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    let api = Api::start(&app.settings).await;
    let http = reqwest::Client::new();

    // Before any work: every gauge is there, and zero.
    let (types, samples) = scrape(&http, &api).await;
    assert_eq!(
        types.get("kirim_queue_depth").map(String::as_str),
        Some("gauge")
    );
    assert_eq!(
        types
            .get("kirim_provider_latency_seconds")
            .map(String::as_str),
        Some("histogram")
    );
    // Counter families are named without `_total`; their samples carry it.
    for counter in ["kirim_provider_calls", "kirim_alerts"] {
        assert_eq!(
            types.get(counter).map(String::as_str),
            Some("counter"),
            "{counter}"
        );
    }
    for lane in Lane::ALL {
        for part in ["ready", "scheduled"] {
            assert_eq!(
                value(
                    &samples,
                    "kirim_queue_depth",
                    &[("kind", lane.as_str()), ("part", part)]
                ),
                Some(0.0),
                "{lane:?} {part}"
            );
        }
    }
    assert_eq!(value(&samples, "kirim_payouts_unknown", &[]), Some(0.0));
    assert_eq!(value(&samples, "kirim_dead_letters", &[]), Some(0.0));

    // Queue work with no worker: the depth shows it.
    let mut refs = Vec::new();
    for p in ["ifortepay", "nicepay", "singapay"] {
        let r = format!("API-OK-{p}");
        let (s, e) = post(
            &http,
            &api.url("/v1/transfers"),
            &transfer_body(p, &r, OK_ACCOUNT, "250000.00"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
        refs.push((p, r));
    }
    let (s, e) = post(
        &http,
        &api.url("/v1/transfers"),
        &transfer_body("ifortepay", "API-CXL-1", magic::ALWAYS_CANCEL, "10000.00"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, e) = post(
        &http,
        &api.url("/v1/payments"),
        &json!({"partnerReferenceNo": "API-DD-1", "amount": {"value": "50000.00"},
                "bankCardToken": "card-token-1"}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (_, samples) = scrape(&http, &api).await;
    assert_eq!(
        value(
            &samples,
            "kirim_queue_depth",
            &[("kind", "transfer"), ("part", "ready")]
        ),
        Some(4.0)
    );
    assert_eq!(
        value(
            &samples,
            "kirim_queue_depth",
            &[("kind", "payment"), ("part", "ready")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "kirim_payouts", &[("state", "ACCEPTED")]),
        Some(5.0)
    );

    app.start_worker().await;

    // GET by reference: state and audit trail once settled.
    for (p, r) in &refs {
        let url = api.url(&format!("/v1/transfers/{r}"));
        wait_for(&format!("{r} SUCCEEDED over HTTP"), T, || async {
            get(&http, &url).await.1["state"] == "SUCCEEDED"
        })
        .await;
        let (s, view) = get(&http, &url).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(view["id"], format!("{p}:{r}"));
        assert_eq!(view["details"]["amount"], "250000.00", "{view}");
        let history = view["history"].as_array().expect("history");
        assert_eq!(history[0]["event"], "created", "{view}");
        assert!(
            history.iter().any(|h| h["event"] == "request"),
            "the provider request is audited: {view}"
        );
        assert!(
            history.iter().any(|h| h["to"] == "SUCCEEDED"),
            "the final move is audited: {view}"
        );
        assert_eq!(view["external_ids"].as_array().map(Vec::len), Some(1));
        // Scoped to its provider too.
        let (s, _) = get(&http, &api.url(&format!("/v1/transfers/{r}?provider={p}"))).await;
        assert_eq!(s, StatusCode::OK);
    }
    let cancel = api.url("/v1/transfers/API-CXL-1");
    wait_for("API-CXL-1 CANCELLED", T, || async {
        get(&http, &cancel).await.1["state"] == "CANCELLED"
    })
    .await;
    let dd = api.url("/v1/payments/API-DD-1");
    wait_for("API-DD-1 SUCCEEDED", T, || async {
        get(&http, &dd).await.1["state"] == "SUCCEEDED"
    })
    .await;
    let (_, view) = get(&http, &dd).await;
    assert!(
        !view.to_string().contains("card-token-1"),
        "the card token is never returned"
    );

    let (s, page) = get(&http, &api.url("/v1/transfers?state=SUCCEEDED")).await;
    assert_eq!(s, StatusCode::OK);
    let listed: BTreeSet<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(listed.len(), 4, "{page}");
    assert!(listed.contains("ifortepay:API-OK-ifortepay"));
    assert!(page["nextCursor"].is_null());

    // Metrics after the worker's flush (every second): await, never sleep.
    let deadline = tokio::time::Instant::now() + T;
    let samples = loop {
        let (_, samples) = scrape(&http, &api).await;
        let calls = sum(&samples, "kirim_provider_calls_total");
        let count = sum(&samples, "kirim_provider_latency_seconds_count");
        if calls >= 5.0 && count >= 5.0 {
            break samples;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "provider calls never flushed: {calls}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        value(&samples, "kirim_payouts", &[("state", "SUCCEEDED")]),
        Some(4.0)
    );
    assert_eq!(
        value(&samples, "kirim_payouts", &[("state", "CANCELLED")]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "kirim_payouts", &[("state", "ACCEPTED")]),
        Some(0.0)
    );
    assert_eq!(
        value(&samples, "kirim_payouts_needs_review", &[]),
        Some(0.0)
    );
    for p in ["ifortepay", "nicepay", "singapay"] {
        let calls: f64 = samples
            .iter()
            .filter(|s| {
                s.name == "kirim_provider_calls_total"
                    && s.labels.get("provider").map(String::as_str) == Some(p)
            })
            .map(|s| s.value)
            .sum();
        assert!(calls >= 1.0, "{p} calls counted");
    }
    assert!(value(
        &samples,
        "kirim_provider_calls_total",
        &[("provider", "ifortepay"), ("op", "payment")]
    )
    .is_some_and(|v| v >= 1.0));
    // Histogram buckets are cumulative and end at +Inf = count.
    let buckets: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == "kirim_provider_latency_seconds_bucket"
                && s.labels.get("provider").map(String::as_str) == Some("nicepay")
                && s.labels.get("op").map(String::as_str) == Some("transfer")
        })
        .collect();
    assert_eq!(buckets.len(), kirim::metrics::BUCKETS.len() + 1);
    assert!(buckets.windows(2).all(|w| w[0].value <= w[1].value));
    assert_eq!(
        buckets.last().map(|b| b.labels["le"].as_str()),
        Some("+Inf")
    );
    assert_eq!(
        buckets.last().map(|b| b.value),
        value(
            &samples,
            "kirim_provider_latency_seconds_count",
            &[("provider", "nicepay"), ("op", "transfer")]
        )
    );
    assert!(value(&samples, "kirim_reconcile_lag_seconds", &[]).is_some_and(|v| v >= 0.0));

    app.stop_worker().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kirim_demo_exits_zero() {
    let root = env!("CARGO_MANIFEST_DIR");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kirim"))
        .args(["demo", "--quick", "--plain", "--timeout-secs", "50"])
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), child)
        .await
        .expect("kirim demo finished within 90 s")
        .expect("kirim demo ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kirim demo failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(stdout.contains("reached their expected state"), "{stdout}");
    for p in ["ifortepay", "nicepay", "singapay"] {
        assert!(stdout.contains(p), "{p} in the summary");
    }
    assert!(
        stdout.contains("UNKNOWN"),
        "an unknown outcome was reconciled"
    );
    assert!(stdout.contains("kirim-demo-key"), "pointers printed");
}
