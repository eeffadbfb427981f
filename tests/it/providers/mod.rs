//! The provider clients against the sandbox, in-process, over real HTTP.
//!
//! Every test starts its own sandbox on port 0 (its own books), builds the clients
//! from `config/default.toml` pointed at it, injects faults through `/admin/faults`
//! and asks `/admin/bookings/{reference}` how many times a payout was booked — the
//! "never paid twice" oracle. No sleeps: settlement is forced with `/admin/settle`,
//! token expiry with `/admin/tokens/expire`.
//!
//! One module per provider, plus [`fence`] for the send fence across providers
//! and [`ifortepay_samples`] for iFortepay's documented request samples; the shared
//! harness ([`Env`]) and the [`capture_server`] the sample tests send to are here.

mod fence;
mod ifortepay;
mod ifortepay_samples;
mod nicepay;
mod singapay;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use kirim::config::Settings;
use kirim::domain::{AccountNumber, BankCode, Beneficiary, ExternalId, Money, PartnerReference};
use kirim::providers::ifortepay::IfortepayClient;
use kirim::providers::ifortepay::IfortepaySettings;
use kirim::providers::nicepay::NicepayClient;
use kirim::providers::nicepay::NicepaySettings;
use kirim::providers::singapay::SingapayClient;
use kirim::providers::singapay::SingapaySettings;
use kirim::providers::{
    build_all, AccountInquiryRequest, Exchange, FenceHandle, HistoryQuery, Outcome, PaymentRequest,
    PayoutProvider, ProviderError, SendFence, StatusQuery, TransferRequest,
};
use kirim::sandbox::magic;
use kirim::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

struct Env {
    sandbox: SandboxHandle,
    settings: Settings,
    /// Each provider's section as its client reads it; tests change these.
    ifp: IfortepaySettings,
    ncp: NicepaySettings,
    sgp: SingapaySettings,
    admin: reqwest::Client,
}

/// A sandbox that never settles on its own (tests settle with `/admin/settle`) and
/// never cancels at random.
async fn spawn() -> Env {
    spawn_with(|_| {}).await
}

async fn spawn_with(tune: impl FnOnce(&mut SandboxConfig)) -> Env {
    let mut cfg = SandboxConfig::repo_default().expect("sandbox config");
    cfg.port = 0;
    cfg.settlement_delay_ms = 3_600_000;
    cfg.cancel_ratio = 0.0;
    cfg.shutdown_grace_ms = 100;
    // Callbacks go to a closed port: not under test here.
    cfg.ifortepay.callback_url = "http://127.0.0.1:9/cb".into();
    cfg.nicepay.notify_url = "http://127.0.0.1:9/cb".into();
    cfg.singapay.webhook_url = "http://127.0.0.1:9/cb".into();
    cfg.callbacks.max_attempts = 1;
    tune(&mut cfg);
    let sandbox = Sandbox::start(cfg).await.expect("sandbox starts");
    let mut settings = Settings::load_from(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml"),
        None,
        false,
    )
    .expect("default config");
    let p = &mut settings.providers;
    kirim::sandbox::point_providers_at(p, &sandbox);
    for name in ["ifortepay", "nicepay", "singapay"] {
        p.set(name, "request_timeout_ms", 5_000u64);
        p.set(name, "connect_timeout_ms", 1_000u64);
    }
    Env {
        ifp: p.parse("ifortepay").expect("ifortepay section"),
        ncp: p.parse("nicepay").expect("nicepay section"),
        sgp: p.parse("singapay").expect("singapay section"),
        sandbox,
        settings,
        admin: reqwest::Client::new(),
    }
}

impl Env {
    fn ifortepay(&self) -> IfortepayClient {
        IfortepayClient::new(&self.ifp).expect("ifortepay client")
    }
    fn nicepay(&self) -> NicepayClient {
        NicepayClient::new(&self.ncp).expect("nicepay client")
    }
    fn singapay(&self) -> SingapayClient {
        SingapayClient::new(&self.sgp).expect("singapay client")
    }

    async fn fault(&self, endpoint: &str, kind: &str) {
        let r = self
            .admin
            .post(self.sandbox.url("/admin/faults"))
            .json(&json!({"endpoint": endpoint, "kind": kind, "times": 1}))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "fault rule refused: {}",
            r.text().await.unwrap()
        );
    }

    /// How many times `reference` was booked (0 when unknown to the sandbox).
    async fn booked(&self, provider: &str, reference: &str) -> u64 {
        let v: Value = self
            .admin
            .get(
                self.sandbox
                    .url(&format!("/admin/bookings/{reference}?provider={provider}")),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["booked_count"].as_u64().unwrap_or(0)
    }

    async fn settle(&self) {
        let r = self
            .admin
            .post(self.sandbox.url("/admin/settle"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// Expire every token; returns how many were ever issued.
    async fn expire_tokens(&self) -> u64 {
        let v: Value = self
            .admin
            .post(self.sandbox.url("/admin/tokens/expire"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["expired"].as_u64().unwrap()
    }
}

static SEQ: AtomicUsize = AtomicUsize::new(1);

/// A unique numeric message id (per test process).
fn ext() -> ExternalId {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let millis = chrono::Utc::now().timestamp_millis();
    ExternalId::parse(&format!("{millis}{n:06}")).unwrap()
}

fn transfer(reference: &str, account: &str, amount: u64) -> TransferRequest {
    TransferRequest {
        partner_reference: PartnerReference::parse(reference).unwrap(),
        amount: Money::from_rupiah(amount),
        beneficiary: Beneficiary {
            account_no: AccountNumber::parse(account).unwrap(),
            bank_code: BankCode::parse("014").unwrap(),
            name: "Budi Santoso".into(),
            email: None,
            // NICEPAY's registration requires a phone (beneficiaryPhone).
            phone: Some("081234567890".into()),
            address: None,
            residence: None,
            customer_type: None,
        },
        // Letters and spaces: Singapay v1.0's `notes` is Alphabetic.
        remark: Some("Payout November".into()),
        external_id: ext(),
        transaction_date: kirim::snap::timestamp::now(),
        earlier_send_unknown: false,
        fence: Default::default(),
    }
}

fn status_query(req: &TransferRequest, ex: &Exchange) -> StatusQuery {
    StatusQuery {
        partner_reference: req.partner_reference.clone(),
        provider_reference: ex.reference().map(str::to_owned),
        amount: req.amount,
        beneficiary_account_no: Some(req.beneficiary.account_no.clone()),
        transaction_date: req.transaction_date.clone(),
        external_id: ext(),
    }
}

fn label(ex: &Exchange) -> &'static str {
    ex.outcome.label()
}

const OK_ACCOUNT: &str = "8753293240";

// ---------------------------------------------------------------------------
// Capture server: what kirim puts on the wire, for the documented-sample tests
// ---------------------------------------------------------------------------

/// One HTTP request as the capture server saw it (header names lower-cased).
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Headers the HTTP client adds on its own: transport, not the document's business.
const TRANSPORT_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "accept",
    "accept-encoding",
    "user-agent",
    "connection",
];

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The header names sent, lower case, without [`TRANSPORT_HEADERS`].
    fn header_names(&self) -> std::collections::BTreeSet<String> {
        self.headers
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !TRANSPORT_HEADERS.contains(&k.as_str()))
            .collect()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A one-purpose HTTP/1.1 server recording what kirim sends and answering each
/// request with `answer(request)` (the HTTP status is its `responseCode`'s first
/// three digits, as SNAP has it; `Connection: close`, one request per connection). Returns its base URL (`http://127.0.0.1:port{base_path}`) and the
/// log, in arrival order.
async fn capture_server(
    base_path: &str,
    answer: fn(&Seen) -> Value,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head_end, head) = loop {
                let Ok(n) = sock.read(&mut chunk).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break (i + 4, String::from_utf8_lossy(&buf[..i]).to_string());
                }
            };
            let mut lines = head.split("\r\n");
            let mut request_line = lines.next().unwrap_or_default().split(' ');
            let method = request_line.next().unwrap_or_default().to_owned();
            let path = request_line.next().unwrap_or_default().to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let Ok(n) = sock.read(&mut chunk).await else {
                    return;
                };
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[head_end..(head_end + len).min(buf.len())].to_vec();
            let request = Seen {
                method,
                path,
                headers,
                body,
            };
            let reply = answer(&request);
            // SNAP: the HTTP status is the responseCode's first three digits.
            let status = reply["responseCode"]
                .as_str()
                .and_then(|c| c.get(..3))
                .and_then(|c| c.parse::<u16>().ok())
                .unwrap_or(200);
            let reply = reply.to_string();
            log.lock().expect("log").push(request);
            let reply = format!(
                "HTTP/1.1 {status} Captured\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
        }
    });
    (format!("http://{addr}{base_path}"), seen)
}

/// A JSON value's type, as the documents' tables name them.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[tokio::test]
async fn secrets_stay_out_of_debug_and_errors() {
    let env = spawn().await;
    let secret = std::fs::read_to_string("config/sandbox/ifortepay_client_secret").unwrap();
    let c = env.ifortepay();
    let t = c.token().await.unwrap();
    let shown = format!("{c:?} {t:?} {}", t.masked());
    assert!(!shown.contains(secret.trim()), "{shown}");
    assert!(!shown.contains(t.value.expose()), "{shown}");
    let s = env.singapay();
    let key = std::fs::read_to_string("config/sandbox/singapay_api_key").unwrap();
    assert!(!format!("{s:?}").contains(key.trim()));
}
