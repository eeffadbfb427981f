//! The HTTP API end to end: a real Redis, the sandbox, an in-process worker and
//! `kirim serve` on port 0, driven with reqwest over real HTTP. Also `/metrics`
//! scraped and parsed, and `kirim demo` through the real binary.
//!
//! `requests`: idempotency, validation, auth, paging, the shared rate limit, account
//! inquiry, health and the OpenAPI document; `metrics`: payouts settling and
//! showing in status, list and `/metrics`.

mod metrics;
mod requests;

use std::time::Duration;

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
        // NICEPAY's registration requires a phone.
        "beneficiary": {"accountNo": account, "bankCode": "014", "name": "Budi Santoso",
                        "phone": "081234567890"},
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

pub(crate) async fn get(http: &reqwest::Client, url: &str) -> (StatusCode, Value) {
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
