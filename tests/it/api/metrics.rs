//! Payouts settling and showing in status, list and `/metrics` (scraped and parsed).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{get, post, transfer_body, OK_ACCOUNT, T};
use crate::common::{wait_for, Api, App};
use kirim::jobs::Lane;
use kirim::sandbox::magic;
use reqwest::StatusCode;
use serde_json::json;

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

    // Every final payout waits for its cold form (compact_final_after_secs: 60 s)...
    let finals: f64 = ["SUCCEEDED", "CANCELLED", "FAILED"]
        .iter()
        .filter_map(|st| value(&samples, "kirim_payouts", &[("state", st)]))
        .sum();
    assert!(finals >= 5.0, "{finals}");
    assert_eq!(
        value(&samples, "kirim_compaction_backlog", &[]),
        Some(finals)
    );
    assert!(value(&samples, "kirim_compaction_oldest_seconds", &[]).is_some_and(|v| v >= 0.0));
    // ... until a compaction pass has run.
    app.stop_worker().await;
    let done = app
        .client
        .ledger()
        .compact_final(i64::MAX, 1000)
        .await
        .unwrap();
    assert_eq!(done.compacted as f64, finals);
    let (_, samples) = scrape(&http, &api).await;
    assert_eq!(value(&samples, "kirim_compaction_backlog", &[]), Some(0.0));
    assert_eq!(
        value(&samples, "kirim_compaction_oldest_seconds", &[]),
        Some(0.0)
    );
    api.stop().await;
}
