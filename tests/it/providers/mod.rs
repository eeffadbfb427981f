//! The provider clients against the sandbox, in-process, over real HTTP.
//!
//! Every test starts its own sandbox on port 0 (its own books), builds the clients
//! from `config/default.toml` pointed at it, injects faults through `/admin/faults`
//! and asks `/admin/bookings/{reference}` how many times a payout was booked — the
//! "never paid twice" oracle. No sleeps: settlement is forced with `/admin/settle`,
//! token expiry with `/admin/tokens/expire`.
//!
//! One module per provider, plus [`fence`] for the send fence across providers;
//! the shared harness ([`Env`]) is here.

mod fence;
mod ifortepay;
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
