//! Sandbox throughput: signed iFortepay transfer requests per second over real HTTP.
//!
//! `cargo bench --bench sandbox` (optionally `-- TOTAL CONCURRENCY`, default 40000 64).
//! The sandbox runs in-process on 127.0.0.1:0 with its normal settlement delay
//! (so the settler runs too) and callbacks off; the load generator (reqwest, one
//! pooled client, HMAC signing per request) shares the machine, so the figure is a
//! lower bound for the sandbox alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kirim::sandbox::{Sandbox, SandboxConfig};
use kirim::snap;
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let total: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(40_000);
    let concurrency: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(run(total, concurrency));
}

async fn run(total: u64, concurrency: u64) {
    let mut cfg = SandboxConfig::repo_default().expect("config/sandbox.toml");
    cfg.port = 0;
    cfg.settlement_delay_ms = 1_000;
    cfg.ifortepay.callback_url = String::new();
    cfg.ifortepay.initial_balance = "999999999999999.00".into();
    let sandbox = Sandbox::start(cfg).await.expect("sandbox");
    let base = sandbox.url("/ifortepay");
    let key =
        snap::keys::load_private_key(std::path::Path::new("config/sandbox/ifortepay_private.pem"))
            .expect("key");
    let secret = std::fs::read_to_string("config/sandbox/ifortepay_client_secret").expect("secret");
    let secret = secret.trim().to_owned();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency as usize)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");

    let ts = snap::timestamp::now();
    let token_resp: serde_json::Value = http
        .post(format!("{base}/api/v1.0/access-token/b2b"))
        .header("X-CLIENT-KEY", "MCPD00000012")
        .header("X-TIMESTAMP", &ts)
        .header(
            "X-SIGNATURE",
            snap::sign_access_token(&key, "MCPD00000012", &ts),
        )
        .json(&json!({"grantType": "client_credentials"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let token = token_resp["accessToken"]
        .as_str()
        .expect("accessToken")
        .to_owned();

    let next = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, base, token, secret, next, failures) = (
            http.clone(),
            base.clone(),
            token.clone(),
            secret.clone(),
            next.clone(),
            failures.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let body = json!({
                    "partnerReferenceNo": format!("BENCH-{n}"),
                    "amount": {"value": "10000.00", "currency": "IDR"},
                    "beneficiaryAccountName": "Bench",
                    "beneficiaryAccountNo": "8753293240",
                    "beneficiaryBankCode": "014",
                    "sourceAccountNo": "123812939120",
                    "transactionDate": "2026-01-01T10:00:00+07:00",
                    "feeType": "OUR",
                    "originatorInfos": [{"originatorCustomerNo": "1", "originatorCustomerName": "K", "originatorBankCode": "014"}],
                    "additionalInfo": {"transactionPurpose": "1", "beneficiaryCountry": "ID", "beneficiaryCity": "3173", "senderCountry": "ID", "senderCity": "3173"}
                })
                .to_string();
                let ts = snap::timestamp::now();
                let path = "/ifortepay/api/v1.2/transfer-interbank";
                let sig = snap::sign_service(&secret, "POST", path, &token, body.as_bytes(), &ts);
                let resp = http
                    .post(format!("{base}/api/v1.2/transfer-interbank"))
                    .header("Content-Type", "application/json")
                    .header("Authorization", format!("Bearer {token}"))
                    .header("X-TIMESTAMP", ts)
                    .header("X-SIGNATURE", sig)
                    .header("X-PARTNER-ID", "MCPD00000012")
                    .header("X-EXTERNAL-ID", format!("{}", 1_000_000_000 + n))
                    .header("CHANNEL-ID", "api")
                    .body(body)
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status().as_u16() == 202 => {
                        let _ = r.bytes().await;
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = started.elapsed();
    let failed = failures.load(Ordering::Relaxed);
    println!(
        "sandbox transfer-interbank: {total} requests, concurrency {concurrency}, {:.2} s, {:.0} req/s, {failed} failures",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    sandbox.shutdown().await;
}
