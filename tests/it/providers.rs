//! The provider clients against the sandbox, in-process, over real HTTP.
//!
//! Every test starts its own sandbox on port 0 (its own books), builds the clients
//! from `config/default.toml` pointed at it, injects faults through `/admin/faults`
//! and asks `/admin/bookings/{reference}` how many times a payout was booked — the
//! "never paid twice" oracle. No sleeps: settlement is forced with `/admin/settle`,
//! token expiry with `/admin/tokens/expire`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use kirim::config::{Settings, SingapayApiVersion};
use kirim::domain::{AccountNumber, BankCode, Beneficiary, ExternalId, Money, PartnerReference};
use kirim::providers::ifortepay::IfortepayClient;
use kirim::providers::nicepay::NicepayClient;
use kirim::providers::singapay::SingapayClient;
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
    p.ifortepay.http.base_url = sandbox.url("/ifortepay");
    p.nicepay.http.base_url = sandbox.url("/nicepay");
    p.singapay.http.base_url = sandbox.url("/singapay");
    for http in [
        &mut p.ifortepay.http,
        &mut p.nicepay.http,
        &mut p.singapay.http,
    ] {
        http.request_timeout_ms = 5_000;
        http.connect_timeout_ms = 1_000;
    }
    Env {
        sandbox,
        settings,
        admin: reqwest::Client::new(),
    }
}

impl Env {
    fn ifortepay(&self) -> IfortepayClient {
        IfortepayClient::new(&self.settings.providers.ifortepay).expect("ifortepay client")
    }
    fn nicepay(&self) -> NicepayClient {
        NicepayClient::new(&self.settings.providers.nicepay).expect("nicepay client")
    }
    fn singapay(&self) -> SingapayClient {
        SingapayClient::new(&self.settings.providers.singapay).expect("singapay client")
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
            phone: None,
            address: None,
        },
        remark: Some("Payout Nov 2026".into()),
        external_id: ext(),
        transaction_date: kirim::snap::timestamp::now(),
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
// iFortepay
// ---------------------------------------------------------------------------

#[tokio::test]
async fn ifortepay_transfer_books_once_and_inquiry_follows_it_to_success() {
    let env = spawn().await;
    let c = env.ifortepay();
    let req = transfer("IFP-OK-1", magic::ALWAYS_SUCCESS, 10_000);
    let ex = c.transfer(&req).await.unwrap();
    assert_eq!(label(&ex), "in_progress", "{ex:?}");
    assert_eq!(ex.response_code.as_deref(), Some("2021800"));
    assert_eq!(ex.http_status, Some(202));
    assert!(ex.reference().is_some_and(|r| r.starts_with("STI")));
    assert_eq!(env.booked("ifortepay", "IFP-OK-1").await, 1);

    let q = status_query(&req, &ex);
    assert_eq!(label(&c.transfer_status(&q).await.unwrap()), "in_progress");
    env.settle().await;
    let st = c.transfer_status(&status_query(&req, &ex)).await.unwrap();
    assert_eq!(
        st.outcome,
        Outcome::Success {
            reference: ex.reference().map(str::to_owned)
        }
    );
    // The audit trail holds the answer, never a token.
    let audit = st.audit.unwrap().to_string();
    assert!(
        audit.contains("SUCCESS") && !audit.contains("sbx-"),
        "{audit}"
    );
}

#[tokio::test]
async fn ifortepay_zero_delay_and_cancel_and_history() {
    let env = spawn_with(|c| c.settlement_delay_ms = 0).await;
    let c = env.ifortepay();
    let ok = c
        .transfer(&transfer("IFP-NOW-1", OK_ACCOUNT, 20_000))
        .await
        .unwrap();
    assert_eq!(label(&ok), "success", "{ok:?}");
    let cancelled = c
        .transfer(&transfer("IFP-NOW-2", magic::ALWAYS_CANCEL, 20_000))
        .await
        .unwrap();
    assert!(
        matches!(cancelled.outcome, Outcome::Cancelled { .. }),
        "{cancelled:?}"
    );

    let now = chrono::Utc::now();
    let page = c
        .history(&HistoryQuery {
            from: kirim::snap::timestamp::format(now - chrono::Duration::days(1)),
            to: kirim::snap::timestamp::format(now + chrono::Duration::days(1)),
            page: 1,
            page_size: 10,
            external_id: ext(),
        })
        .await
        .unwrap();
    let by_ref = |r: &str| {
        page.entries
            .iter()
            .find(|e| e.partner_reference == r)
            .map(|e| e.outcome.label())
    };
    assert_eq!(by_ref("IFP-NOW-1"), Some("success"));
    assert_eq!(by_ref("IFP-NOW-2"), Some("cancelled"));
    assert!(!page.has_more);
    // A period over three months never reaches the network.
    let too_long = c
        .history(&HistoryQuery {
            from: "2026-01-01T00:00:00+07:00".into(),
            to: "2026-04-02T00:00:00+07:00".into(),
            page: 1,
            page_size: 10,
            external_id: ext(),
        })
        .await;
    assert!(matches!(too_long, Err(ProviderError::Validation(e)) if e.field == "toDateTime"));
}

#[tokio::test]
async fn ifortepay_definite_refusals_are_final_and_book_nothing() {
    let env = spawn().await;
    let c = env.ifortepay();
    let ex = c
        .transfer(&transfer("IFP-INV-1", magic::INVALID_ACCOUNT, 10_000))
        .await
        .unwrap();
    assert_eq!(
        ex.outcome,
        Outcome::FinalFailure {
            code: "4041811".into(),
            message: "Invalid Account".into()
        }
    );
    let ex = c
        .transfer(&transfer("IFP-NSF-1", magic::INSUFFICIENT_FUNDS, 10_000))
        .await
        .unwrap();
    assert!(
        matches!(&ex.outcome, Outcome::FinalFailure { code, .. } if code == "4031814"),
        "{ex:?}"
    );
    assert_eq!(env.booked("ifortepay", "IFP-INV-1").await, 0);
    assert_eq!(env.booked("ifortepay", "IFP-NSF-1").await, 0);
    // Unknown to the provider: the inquiry says so.
    let req = transfer("IFP-NEVER", OK_ACCOUNT, 10_000);
    let st = c
        .transfer_status(&status_query(
            &req,
            &Exchange::bare(Outcome::NotFound, Default::default()),
        ))
        .await
        .unwrap();
    assert_eq!(st.outcome, Outcome::NotFound);
}

#[tokio::test]
async fn ifortepay_fault_kinds_map_to_the_right_outcome() {
    let env = spawn().await;
    let c = env.ifortepay();
    // Warm up: token and the source-account check, so faults hit the transfer.
    c.balance(&ext()).await.unwrap();
    let cases = [
        ("error_500_after", "unknown", 1),
        ("close_after", "unknown", 1),
        ("malformed_json", "unknown", 1),
        ("error_500_before", "unknown", 0),
        ("too_many_requests", "retryable", 0),
    ];
    for (i, (kind, outcome, booked)) in cases.into_iter().enumerate() {
        let reference = format!("IFP-FAULT-{i}");
        env.fault("ifortepay.transfer", kind).await;
        let req = transfer(&reference, OK_ACCOUNT, 10_000);
        let ex = c.transfer(&req).await.unwrap();
        assert_eq!(label(&ex), outcome, "{kind}: {ex:?}");
        assert_eq!(env.booked("ifortepay", &reference).await, booked, "{kind}");
        // The inquiry resolves it: booked → in progress, not booked → not found.
        let st = c.transfer_status(&status_query(&req, &ex)).await.unwrap();
        let expect = if booked == 1 {
            "in_progress"
        } else {
            "not_found"
        };
        assert_eq!(label(&st), expect, "{kind} inquiry");
    }
}

#[tokio::test]
async fn ifortepay_hang_past_the_request_timeout_is_unknown() {
    let mut env = spawn().await;
    env.settings.providers.ifortepay.http.request_timeout_ms = 600;
    let c = env.ifortepay();
    c.balance(&ext()).await.unwrap();
    env.fault("ifortepay.transfer", "hang").await;
    let ex = c
        .transfer(&transfer("IFP-HANG-1", OK_ACCOUNT, 10_000))
        .await
        .unwrap();
    match &ex.outcome {
        Outcome::Unknown { reason } => assert!(reason.contains("timed out"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(ex.http_status.is_none());
}

#[tokio::test]
async fn ifortepay_duplicate_reference_is_unknown_and_never_booked_twice() {
    let env = spawn().await;
    let c = env.ifortepay();
    let first = transfer("IFP-DUP-1", OK_ACCOUNT, 10_000);
    assert_eq!(label(&c.transfer(&first).await.unwrap()), "in_progress");
    // Same reference, a new message id (a worker resubmitting): 409xx01 → unknown.
    let mut again = first.clone();
    again.external_id = ext();
    let ex = c.transfer(&again).await.unwrap();
    assert_eq!(label(&ex), "unknown");
    assert_eq!(ex.response_code.as_deref(), Some("4091801"));
    // Same message id again: 409xx00 → unknown.
    let ex = c.transfer(&again).await.unwrap();
    assert_eq!(ex.response_code.as_deref(), Some("4091800"));
    assert_eq!(env.booked("ifortepay", "IFP-DUP-1").await, 1);
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    let mut env = spawn().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let closed = format!("http://127.0.0.1:{port}");
    env.settings.providers.ifortepay.http.base_url = format!("{closed}/ifortepay");
    env.settings.providers.nicepay.http.base_url = format!("{closed}/nicepay");
    env.settings.providers.singapay.http.base_url = format!("{closed}/singapay");
    let providers = build_all(&env.settings.providers).unwrap();
    assert_eq!(providers.len(), 3);
    for (p, client) in &providers {
        let ex = client
            .transfer(&transfer("REFUSED-1", OK_ACCOUNT, 10_000))
            .await
            .unwrap();
        match &ex.outcome {
            Outcome::Retryable { reason, .. } => {
                assert!(reason.contains("nothing sent"), "{p}: {reason}")
            }
            other => panic!("{p}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn ifortepay_token_single_flight_and_refresh_on_401() {
    let env = spawn().await;
    let c = Arc::new(env.ifortepay());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move { c.balance(&ext()).await }));
    }
    for t in tasks {
        assert_eq!(
            t.await.unwrap().unwrap().available.to_wire(),
            "10000000000.00"
        );
    }
    assert_eq!(
        c.snap().tokens().fetch_count(),
        1,
        "one token for 50 callers"
    );
    assert_eq!(env.expire_tokens().await, 1, "the sandbox issued one token");

    // Every cached token is now expired at the provider: the next callers get
    // 401xx01, refresh exactly once between them, and retry.
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move { c.balance(&ext()).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(c.snap().tokens().fetch_count(), 2);
    assert_eq!(env.expire_tokens().await, 2, "exactly one refresh");

    // A transfer answered 401xx01 refreshes, resends the same message and books once.
    let ex = c
        .transfer(&transfer("IFP-TOK-1", OK_ACCOUNT, 10_000))
        .await
        .unwrap();
    assert_eq!(label(&ex), "in_progress");
    assert_eq!(c.snap().tokens().fetch_count(), 3);
    assert_eq!(env.booked("ifortepay", "IFP-TOK-1").await, 1);
}

#[tokio::test]
async fn ifortepay_reads_account_balance_profile() {
    let env = spawn().await;
    let c = env.ifortepay();
    let info = c
        .account_inquiry(&AccountInquiryRequest {
            bank_code: BankCode::parse("014").unwrap(),
            account_no: AccountNumber::parse(OK_ACCOUNT).unwrap(),
            external_id: ext(),
        })
        .await
        .unwrap();
    assert!(info.account_name.starts_with("SANDBOX ACCOUNT"), "{info:?}");
    let err = c
        .account_inquiry(&AccountInquiryRequest {
            bank_code: BankCode::parse("014").unwrap(),
            account_no: AccountNumber::parse(magic::INVALID_ACCOUNT).unwrap(),
            external_id: ext(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Call { outcome: Outcome::FinalFailure { code, .. }, .. } if code == "4041611"),
        "{err:?}"
    );
    let profile = c.profile().await.unwrap();
    assert_eq!(profile.business_account_number, "123812939120");
    let before = c.balance(&ext()).await.unwrap().available;
    c.transfer(&transfer("IFP-BAL-1", OK_ACCOUNT, 10_000))
        .await
        .unwrap();
    let after = c.balance(&ext()).await.unwrap().available;
    // Amount plus the 3,000.00 fee.
    assert_eq!(before.checked_sub(after).unwrap().to_wire(), "13000.00");
    // A read that meets a 500 is retryable.
    env.fault("ifortepay.balance", "error_500_before").await;
    let err = c.balance(&ext()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ProviderError::Call {
                outcome: Outcome::Retryable { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn ifortepay_source_account_is_checked_against_the_profile() {
    let mut env = spawn().await;
    env.settings.providers.ifortepay.merchant.source_account_no = "999".into();
    let c = env.ifortepay();
    let err = c
        .transfer(&transfer("IFP-SRC-1", OK_ACCOUNT, 10_000))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Config(m) if m.contains("businessAccountNumber")),
        "{err:?}"
    );
    assert_eq!(env.booked("ifortepay", "IFP-SRC-1").await, 0);
}

#[tokio::test]
async fn ifortepay_direct_debit_with_and_without_otp() {
    let env = spawn().await;
    let c = env.ifortepay();
    let card = "card_.eyJpYXQiOjE3MjE4OTM3NDQsImlzcyI6IkJhbmsgQlJJIn0.secret-card-token";
    let pay = |reference: &str, with_otp: bool, amount: &str| PaymentRequest {
        partner_reference: PartnerReference::parse(reference).unwrap(),
        amount: Money::parse(amount, "amount").unwrap(),
        bank_card_token: kirim::domain::Secret::new(card),
        with_otp,
        pay_option: "BRI".into(),
        remarks: Some("Testing Remarks".into()),
        external_id: ext(),
        fence: Default::default(),
    };
    let otp = c.payment(&pay("DD-OTP-1", true, "15000.00")).await.unwrap();
    assert_eq!(label(&otp), "in_progress", "{otp:?}");
    let charge = otp.charge_token.clone().expect("charge token");
    assert!(charge.expose().starts_with("CHARGE_"));
    let shown = format!("{otp:?} {}", otp.audit.clone().unwrap());
    assert!(
        !shown.contains(charge.expose()) && !shown.contains(card),
        "{shown}"
    );

    let direct = c
        .payment(&pay("DD-NOOTP-1", false, "15000.00"))
        .await
        .unwrap();
    assert_eq!(label(&direct), "success", "{direct:?}");
    let failing = c
        .payment(&pay("DD-FAIL-1", false, magic::DEBIT_FAILED))
        .await
        .unwrap();
    env.settle().await;
    let status = |reference: &str, ex: &Exchange| StatusQuery {
        partner_reference: PartnerReference::parse(reference).unwrap(),
        provider_reference: ex.reference().map(str::to_owned),
        amount: Money::from_rupiah(15_000),
        beneficiary_account_no: None,
        transaction_date: kirim::snap::timestamp::now(),
        external_id: ext(),
    };
    assert_eq!(
        label(
            &c.payment_status(&status("DD-NOOTP-1", &direct))
                .await
                .unwrap()
        ),
        "success"
    );
    assert_eq!(
        label(&c.payment_status(&status("DD-OTP-1", &otp)).await.unwrap()),
        "in_progress"
    );
    assert_eq!(
        label(
            &c.payment_status(&status("DD-FAIL-1", &failing))
                .await
                .unwrap()
        ),
        "final_failure"
    );
    let none = Exchange::bare(Outcome::NotFound, Default::default());
    assert_eq!(
        c.payment_status(&status("DD-NONE", &none))
            .await
            .unwrap()
            .outcome,
        Outcome::NotFound
    );
    // Validation: an empty card token never leaves the process.
    let mut bad = pay("DD-BAD-1", false, "15000.00");
    bad.bank_card_token = kirim::domain::Secret::new("");
    assert!(
        matches!(c.payment(&bad).await, Err(ProviderError::Validation(e)) if e.field == "bankCardToken")
    );
}

/// Nothing invalid reaches the network: the base URL is a listener that counts
/// connections, and it sees none.
#[tokio::test]
async fn validation_errors_name_field_and_rule_and_send_nothing() {
    let mut env = spawn().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let server = tokio::spawn(async move {
        while let Ok((_sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    env.settings.providers.ifortepay.http.base_url = format!("http://{addr}");
    env.settings.providers.nicepay.http.base_url = format!("http://{addr}");
    env.settings.providers.singapay.http.base_url = format!("http://{addr}");
    let i = env.ifortepay();
    let n = env.nicepay();
    let s = env.singapay();

    let mut small = transfer("VAL-1", OK_ACCOUNT, 9_999);
    let e = expect_validation(i.transfer(&small).await);
    assert_eq!(
        (
            e.field.as_str(),
            e.rule.contains("between 10000.00 and 250000000.00")
        ),
        ("amount.value", true)
    );
    small.amount = Money::from_rupiah(250_000_001);
    assert_eq!(
        expect_validation(i.transfer(&small).await).field,
        "amount.value"
    );
    let mut remark = transfer("VAL-2", OK_ACCOUNT, 10_000);
    remark.remark = Some("50% off!".into());
    let e = expect_validation(i.transfer(&remark).await);
    assert_eq!(e.field, "additionalInfo.remark");
    assert!(
        e.rule.contains("only letters, digits, spaces"),
        "{}",
        e.rule
    );
    let mut nameless = transfer("VAL-3", OK_ACCOUNT, 10_000);
    nameless.beneficiary.name.clear();
    assert_eq!(
        expect_validation(i.transfer(&nameless).await).field,
        "beneficiaryAccountName"
    );
    let mut bank = transfer("VAL-4", OK_ACCOUNT, 10_000);
    bank.beneficiary.bank_code = BankCode::parse("CENAIDJA").unwrap();
    assert_eq!(
        expect_validation(n.transfer(&bank).await).field,
        "beneficiaryBankCode"
    );
    let mut cents = transfer("VAL-5", OK_ACCOUNT, 10_000);
    cents.amount = Money::parse("10000.50", "amount").unwrap();
    assert_eq!(expect_validation(s.transfer(&cents).await).field, "amount");

    // Merchant defaults are checked when the client is built.
    let mut bad = env.settings.providers.ifortepay.clone();
    bad.merchant.transaction_purpose = "4".into();
    let err = IfortepayClient::new(&bad).unwrap_err();
    assert!(
        err.to_string()
            .contains("additionalInfo.transactionPurpose"),
        "{err}"
    );
    let mut bad = env.settings.providers.ifortepay.clone();
    bad.merchant.fee_type = "BEN".into();
    assert!(IfortepayClient::new(&bad)
        .unwrap_err()
        .to_string()
        .contains("feeType"));
    let mut bad = env.settings.providers.ifortepay.clone();
    bad.merchant.is_virtual_account = "yes".into();
    assert!(IfortepayClient::new(&bad)
        .unwrap_err()
        .to_string()
        .contains("isVirtualAccount"));

    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "nothing reached the network"
    );
    server.abort();
    // And the sandbox booked nothing either.
    assert_eq!(env.booked("ifortepay", "VAL-1").await, 0);
}

fn expect_validation(r: Result<Exchange, ProviderError>) -> kirim::domain::FieldError {
    match r {
        Err(ProviderError::Validation(e)) => e,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// NICEPAY
// ---------------------------------------------------------------------------

#[tokio::test]
async fn nicepay_registration_then_approve_then_inquiry() {
    let env = spawn().await;
    let c = env.nicepay();
    let req = transfer("NP-OK-1", magic::ALWAYS_SUCCESS, 50_000);
    let ex = c.transfer(&req).await.unwrap();
    assert_eq!(label(&ex), "in_progress", "{ex:?}");
    assert!(ex.reference().is_some_and(|r| r.starts_with("IONPAYTEST")));
    assert_eq!(env.booked("nicepay", "NP-OK-1").await, 1);
    env.settle().await;
    let st = c.transfer_status(&status_query(&req, &ex)).await.unwrap();
    assert_eq!(label(&st), "success", "{st:?}");
    let failed = transfer("NP-FAIL-1", magic::ALWAYS_CANCEL, 50_000);
    let fx = c.transfer(&failed).await.unwrap();
    env.settle().await;
    let st = c
        .transfer_status(&status_query(&failed, &fx))
        .await
        .unwrap();
    assert!(
        matches!(&st.outcome, Outcome::FinalFailure { code, .. } if code == "09"),
        "{st:?}"
    );
    let inv = c
        .transfer(&transfer("NP-INV-1", magic::INVALID_ACCOUNT, 50_000))
        .await
        .unwrap();
    assert!(
        matches!(&inv.outcome, Outcome::FinalFailure { code, .. } if code == "4040011"),
        "{inv:?}"
    );
    assert_eq!(
        c.balance(&ext()).await.unwrap().available.to_wire(),
        "9999950000.00"
    );
}

#[tokio::test]
async fn nicepay_lost_approve_is_resolved_by_inquiry_never_by_a_second_registration() {
    let env = spawn().await;
    let c = env.nicepay();
    // Approve processed, answer lost (500 after booking): unknown, with the reference.
    env.fault("nicepay.approve", "error_500_after").await;
    let req = transfer("NP-LOST-1", OK_ACCOUNT, 50_000);
    let ex = c.transfer(&req).await.unwrap();
    assert_eq!(label(&ex), "unknown");
    let reference = ex.reference().expect("reference kept").to_owned();
    assert_eq!(env.booked("nicepay", "NP-LOST-1").await, 1);
    let st = c.transfer_status(&status_query(&req, &ex)).await.unwrap();
    assert_eq!(label(&st), "in_progress", "approved: 08 in process");
    // Resuming (approve again) is refused as a duplicate: still one booking.
    let mut again = req.clone();
    again.external_id = ext();
    let ex2 = c.resume_transfer(&again, &reference).await.unwrap();
    assert_eq!(label(&ex2), "unknown");
    assert_eq!(env.booked("nicepay", "NP-LOST-1").await, 1);

    // Approve never processed (500 before): the inquiry says 03 → not found, and
    // resuming approves the existing registration.
    env.fault("nicepay.approve", "error_500_before").await;
    let req = transfer("NP-LOST-2", OK_ACCOUNT, 50_000);
    let ex = c.transfer(&req).await.unwrap();
    assert_eq!(label(&ex), "unknown");
    assert_eq!(env.booked("nicepay", "NP-LOST-2").await, 0);
    let st = c.transfer_status(&status_query(&req, &ex)).await.unwrap();
    assert_eq!(st.outcome, Outcome::NotFound);
    let mut again = req.clone();
    again.external_id = ext();
    let ex2 = c
        .resume_transfer(&again, ex.reference().unwrap())
        .await
        .unwrap();
    assert_eq!(label(&ex2), "in_progress");
    assert_eq!(env.booked("nicepay", "NP-LOST-2").await, 1);

    // Connection closed after the approve booked: unknown; inquiry finds it.
    env.fault("nicepay.approve", "close_after").await;
    let req = transfer("NP-LOST-3", OK_ACCOUNT, 50_000);
    let ex = c.transfer(&req).await.unwrap();
    assert_eq!(label(&ex), "unknown");
    assert_eq!(
        label(&c.transfer_status(&status_query(&req, &ex)).await.unwrap()),
        "in_progress"
    );
    assert_eq!(env.booked("nicepay", "NP-LOST-3").await, 1);
}

#[tokio::test]
async fn nicepay_cancel_before_approve_and_token_refresh() {
    let env = spawn().await;
    let c = env.nicepay();
    env.fault("nicepay.approve", "too_many_requests").await;
    let req = transfer("NP-CXL-1", OK_ACCOUNT, 50_000);
    let ex = c.transfer(&req).await.unwrap();
    assert_eq!(label(&ex), "retryable");
    let q = status_query(&req, &ex);
    let cx = c.cancel_transfer(&q).await.unwrap();
    assert!(matches!(cx.outcome, Outcome::Cancelled { .. }), "{cx:?}");
    let st = c.transfer_status(&status_query(&req, &ex)).await.unwrap();
    assert!(matches!(st.outcome, Outcome::Cancelled { .. }), "{st:?}");
    assert_eq!(env.booked("nicepay", "NP-CXL-1").await, 0);

    assert_eq!(c.snap().tokens().fetch_count(), 1);
    env.expire_tokens().await;
    let ex = c
        .transfer(&transfer("NP-TOK-1", OK_ACCOUNT, 50_000))
        .await
        .unwrap();
    assert_eq!(label(&ex), "in_progress");
    assert_eq!(c.snap().tokens().fetch_count(), 2);
    assert_eq!(env.booked("nicepay", "NP-TOK-1").await, 1);
    // A status query without the registration's reference cannot be sent, and
    // without it no approve can have been sent either: "not received".
    let mut q = status_query(&req, &ex);
    q.provider_reference = None;
    assert_eq!(
        label(&c.transfer_status(&q).await.unwrap()),
        "never_reached"
    );

    // A registration whose answer was lost: registering again is answered 409 with
    // the existing reference, and the client continues with approve. Booked once.
    env.fault("nicepay.registration", "error_500_after").await;
    let lost = transfer("NP-LOST-1", OK_ACCOUNT, 50_000);
    let ex = c.transfer(&lost).await.unwrap();
    assert_eq!(label(&ex), "unknown");
    assert!(
        ex.reference().is_none(),
        "the answer carrying the reference was lost"
    );
    assert_eq!(
        env.booked("nicepay", "NP-LOST-1").await,
        0,
        "registered, not approved"
    );
    let mut resubmission = lost.clone();
    resubmission.external_id = ext(); // a new message, the same partnerReferenceNo
    let again = c.transfer(&resubmission).await.unwrap();
    assert_eq!(label(&again), "in_progress", "{again:?}");
    assert!(again.reference().is_some());
    assert_eq!(env.booked("nicepay", "NP-LOST-1").await, 1);
}

// ---------------------------------------------------------------------------
// Singapay
// ---------------------------------------------------------------------------

#[tokio::test]
async fn singapay_v2_transfer_inquiry_and_duplicate() {
    let env = spawn().await;
    let c = env.singapay();
    assert_eq!(c.api_version(), SingapayApiVersion::V2);
    let req = transfer("SP-OK-1", magic::ALWAYS_SUCCESS, 50_000);
    let ex = c.transfer(&req).await.unwrap();
    assert_eq!(label(&ex), "in_progress", "{ex:?}");
    assert_eq!(ex.response_code.as_deref(), Some("SP000"));
    env.settle().await;
    assert_eq!(
        label(&c.transfer_status(&status_query(&req, &ex)).await.unwrap()),
        "success"
    );
    let dup = c.transfer(&req).await.unwrap();
    assert_eq!(label(&dup), "unknown");
    assert_eq!(dup.response_code.as_deref(), Some("SP004"));
    assert_eq!(env.booked("singapay", "SP-OK-1").await, 1);
    let never = transfer("SP-NEVER", OK_ACCOUNT, 50_000);
    let st = c
        .transfer_status(&status_query(
            &never,
            &Exchange::bare(Outcome::NotFound, Default::default()),
        ))
        .await
        .unwrap();
    assert_eq!(st.outcome, Outcome::NotFound);
    let inv = c
        .transfer(&transfer("SP-INV-1", magic::INVALID_ACCOUNT, 50_000))
        .await
        .unwrap();
    assert!(matches!(&inv.outcome, Outcome::FinalFailure { code, .. } if code == "SP007"));
    let cx = c
        .transfer(&transfer("SP-CXL-1", magic::ALWAYS_CANCEL, 50_000))
        .await
        .unwrap();
    env.settle().await;
    let st = c
        .transfer_status(&status_query(
            &transfer("SP-CXL-1", magic::ALWAYS_CANCEL, 50_000),
            &cx,
        ))
        .await
        .unwrap();
    assert!(matches!(st.outcome, Outcome::Cancelled { .. }), "{st:?}");
}

#[tokio::test]
async fn singapay_faults_and_token_refresh() {
    let env = spawn().await;
    let c = env.singapay();
    let cases = [
        ("error_500_after", "unknown", 1),
        ("close_after", "unknown", 1),
        ("malformed_json", "unknown", 1),
        ("too_many_requests", "retryable", 0),
    ];
    for (i, (kind, outcome, booked)) in cases.into_iter().enumerate() {
        let reference = format!("SP-FAULT-{i}");
        env.fault("singapay.transfer_v2", kind).await;
        let req = transfer(&reference, OK_ACCOUNT, 50_000);
        let ex = c.transfer(&req).await.unwrap();
        assert_eq!(label(&ex), outcome, "{kind}: {ex:?}");
        assert_eq!(env.booked("singapay", &reference).await, booked, "{kind}");
        let st = c.transfer_status(&status_query(&req, &ex)).await.unwrap();
        let expect = if booked == 1 {
            "in_progress"
        } else {
            "not_found"
        };
        assert_eq!(label(&st), expect, "{kind} inquiry");
    }
    assert_eq!(c.tokens().fetch_count(), 1);
    env.expire_tokens().await;
    let ex = c
        .transfer(&transfer("SP-TOK-1", OK_ACCOUNT, 50_000))
        .await
        .unwrap();
    assert_eq!(label(&ex), "in_progress", "{ex:?}");
    assert_eq!(
        c.tokens().fetch_count(),
        2,
        "SP013 → one refresh and a retry"
    );
    assert_eq!(env.booked("singapay", "SP-TOK-1").await, 1);
    assert!(matches!(
        c.balance(&ext()).await,
        Err(ProviderError::Unsupported { .. })
    ));
}

#[tokio::test]
async fn singapay_v1_transfer_as_the_seed_describes() {
    let mut env = spawn().await;
    env.settings.providers.singapay.api_version = SingapayApiVersion::V1;
    let c = env.singapay();
    let req = transfer("SP-V1-1", OK_ACCOUNT, 11_000);
    let ex = c.transfer(&req).await.unwrap();
    assert_eq!(label(&ex), "in_progress", "{ex:?}");
    assert!(ex.reference().is_some());
    // v1.0 carries the reference only in `notes`; the sandbox books by it.
    assert_eq!(env.booked("singapay", "SP-V1-1").await, 1);
    assert!(matches!(
        c.transfer_status(&status_query(&req, &ex)).await,
        Err(ProviderError::Unsupported { .. })
    ));
    env.fault("singapay.transfer_v1", "error_500_after").await;
    let ex = c
        .transfer(&transfer("SP-V1-2", OK_ACCOUNT, 11_000))
        .await
        .unwrap();
    assert_eq!(label(&ex), "unknown");
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

// ---------------------------------------------------------------------------
// The send fence (DESIGN.md rule 11; review H3, H4)
// ---------------------------------------------------------------------------

/// The engine's side of the fence, for tests: `before_send` lets `budget` requests
/// through and refuses the rest; `first_step_done` records the reference and
/// refuses when `refuse_first_step` is set.
struct TestFence {
    budget: AtomicUsize,
    refuse_first_step: AtomicBool,
    steps: Mutex<Vec<&'static str>>,
    references: Mutex<Vec<String>>,
}

impl TestFence {
    fn new(budget: usize, refuse_first_step: bool) -> Arc<Self> {
        Arc::new(TestFence {
            budget: AtomicUsize::new(budget),
            refuse_first_step: AtomicBool::new(refuse_first_step),
            steps: Mutex::new(Vec::new()),
            references: Mutex::new(Vec::new()),
        })
    }
    /// Refuses every send.
    fn closed() -> Arc<Self> {
        Self::new(0, false)
    }
    fn open() -> Arc<Self> {
        Self::new(usize::MAX, false)
    }
    fn handle(self: &Arc<Self>) -> FenceHandle {
        FenceHandle::new(self.clone())
    }
    fn steps(&self) -> Vec<&'static str> {
        self.steps.lock().unwrap().clone()
    }
    fn references(&self) -> Vec<String> {
        self.references.lock().unwrap().clone()
    }
}

#[async_trait]
impl SendFence for TestFence {
    async fn before_send(&self, step: &'static str) -> Result<(), String> {
        self.steps.lock().unwrap().push(step);
        match self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1))
        {
            Ok(_) => Ok(()),
            Err(_) => Err(format!("{step}: submission deadline passed")),
        }
    }
    async fn first_step_done(&self, provider_reference: &str) -> Result<(), String> {
        self.references
            .lock()
            .unwrap()
            .push(provider_reference.to_owned());
        if self.refuse_first_step.load(Ordering::SeqCst) {
            Err("the ledger moved on".into())
        } else {
            Ok(())
        }
    }
}

fn expect_fenced(r: Result<Exchange, ProviderError>) -> bool {
    match r {
        Err(ProviderError::Fenced {
            reason,
            sent_before,
        }) => {
            assert!(!reason.is_empty());
            sent_before
        }
        other => panic!("expected Fenced, got {other:?}"),
    }
}

impl Env {
    /// Every record the sandbox holds for `reference` (any provider, any kind): a
    /// request that never arrived leaves none, not even a NICEPAY registration.
    async fn records(&self, reference: &str) -> Vec<Value> {
        let all: Vec<Value> = self
            .admin
            .get(self.sandbox.url("/admin/bookings"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.into_iter()
            .filter(|b| b["reference"] == reference)
            .collect()
    }

    async fn record(&self, provider: &str, reference: &str) -> Value {
        self.admin
            .get(
                self.sandbox
                    .url(&format!("/admin/bookings/{reference}?provider={provider}")),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_closed_fence_sends_nothing_for_any_provider() {
    let mut env = spawn().await;
    let i = env.ifortepay();
    let n = env.nicepay();
    let s = env.singapay();

    // Each request is tried behind a closed fence, then sent again unchanged (same
    // X-EXTERNAL-ID, same reference) through an open one. The second send books:
    // had the first reached the sandbox, it would have been refused as a duplicate.
    for (name, client, reference, step) in [
        (
            "ifortepay",
            &i as &dyn PayoutProvider,
            "FENCE-IF-1",
            "ifortepay.transfer",
        ),
        (
            "nicepay",
            &n as &dyn PayoutProvider,
            "FENCE-NP-1",
            "nicepay.registration",
        ),
        (
            "singapay",
            &s as &dyn PayoutProvider,
            "FENCE-SP-1",
            "singapay.transfer_v2",
        ),
    ] {
        let fence = TestFence::closed();
        let mut req = transfer(reference, OK_ACCOUNT, 50_000);
        req.fence = fence.handle();
        assert!(!expect_fenced(client.transfer(&req).await), "{name}");
        assert_eq!(fence.steps(), vec![step], "{name}");
        assert!(fence.references().is_empty(), "{name}");
        assert!(
            env.records(reference).await.is_empty(),
            "{name}: the sandbox saw nothing"
        );
        let open = TestFence::open();
        req.fence = open.handle();
        let ex = client.transfer(&req).await.unwrap();
        assert_eq!(label(&ex), "in_progress", "{name}: {ex:?}");
        assert_eq!(env.booked(name, reference).await, 1, "{name}");
        assert_eq!(
            env.record(name, reference).await["duplicate_attempts"],
            0,
            "{name}"
        );
    }

    // iFortepay direct debit.
    let fence = TestFence::closed();
    let mut pay = PaymentRequest {
        partner_reference: PartnerReference::parse("FENCE-DD-1").unwrap(),
        amount: Money::from_rupiah(15_000),
        bank_card_token: kirim::domain::Secret::new("card_.eyJpYXQiOjE3MjE4OTM3NDR9.tok"),
        with_otp: false,
        pay_option: "BRI".into(),
        remarks: None,
        external_id: ext(),
        fence: fence.handle(),
    };
    assert!(!expect_fenced(i.payment(&pay).await));
    assert_eq!(fence.steps(), vec!["ifortepay.debit_payment"]);
    assert!(env.records("FENCE-DD-1").await.is_empty());
    pay.fence = TestFence::open().handle();
    let ex = i.payment(&pay).await.unwrap();
    assert_eq!(label(&ex), "success", "{ex:?}");
    assert_eq!(env.booked("ifortepay", "FENCE-DD-1").await, 1);

    // Singapay v1.0 (no client reference: the sandbox books by `notes`).
    env.settings.providers.singapay.api_version = SingapayApiVersion::V1;
    let s1 = env.singapay();
    let fence = TestFence::closed();
    let mut req = transfer("FENCE-SP-V1", OK_ACCOUNT, 11_000);
    req.fence = fence.handle();
    assert!(!expect_fenced(s1.transfer(&req).await));
    assert_eq!(fence.steps(), vec!["singapay.transfer_v1"]);
    assert!(env.records("FENCE-SP-V1").await.is_empty());

    // Reads are never fenced: an inquiry for a fenced payout still asks.
    let q = status_query(&req, &Exchange::bare(Outcome::NotFound, Default::default()));
    assert_eq!(
        s.transfer_status(&q).await.unwrap().outcome,
        Outcome::NotFound
    );
}

#[tokio::test]
async fn a_fence_closing_during_a_token_refresh_stops_the_resend() {
    let env = spawn().await;
    let i = env.ifortepay();
    let s = env.singapay();
    // Warm the token caches (and the iFortepay profile check).
    i.transfer(&transfer("FENCE-WARM-1", OK_ACCOUNT, 50_000))
        .await
        .unwrap();
    s.transfer(&transfer("FENCE-WARM-2", OK_ACCOUNT, 50_000))
        .await
        .unwrap();
    env.expire_tokens().await;
    for (name, client, reference) in [
        ("ifortepay", &i as &dyn PayoutProvider, "FENCE-TOK-IF"),
        ("singapay", &s as &dyn PayoutProvider, "FENCE-TOK-SP"),
    ] {
        // The first attempt passes (and is refused: expired token); the fence
        // closes while the token is refreshed, so the resend is not written.
        let fence = TestFence::new(1, false);
        let mut req = transfer(reference, OK_ACCOUNT, 50_000);
        req.fence = fence.handle();
        assert!(
            expect_fenced(client.transfer(&req).await),
            "{name}: the first attempt reached the provider"
        );
        assert_eq!(fence.steps().len(), 2, "{name}: {:?}", fence.steps());
        assert_eq!(env.booked(name, reference).await, 0, "{name}");
    }
}

#[tokio::test]
async fn nicepay_approve_waits_for_the_recorded_reference_and_resume_approves_once() {
    let env = spawn().await;
    let c = env.nicepay();
    // The engine records the registration's reference, then refuses (its deadline
    // passed): registration sent once, approve never asked for.
    let fence = TestFence::new(usize::MAX, true);
    let mut req = transfer("FENCE-NP-2", OK_ACCOUNT, 50_000);
    req.fence = fence.handle();
    assert!(
        expect_fenced(c.transfer(&req).await),
        "the registration reached NICEPAY"
    );
    assert_eq!(fence.steps(), vec!["nicepay.registration"]);
    let recorded = fence.references();
    assert_eq!(recorded.len(), 1);
    let reference = recorded[0].clone();
    let rec = env.record("nicepay", "FENCE-NP-2").await;
    assert_eq!(rec["status"], "REGISTERED", "{rec}");
    assert_eq!(rec["booked_count"], 0);
    assert_eq!(rec["provider_reference"], reference.as_str());

    // With the reference recorded, the inquiry asks NICEPAY (03: registered, never
    // approved → not found) instead of answering a synthetic "not found".
    let mut q = status_query(&req, &Exchange::bare(Outcome::NotFound, Default::default()));
    q.provider_reference = Some(reference.clone());
    let st = c.transfer_status(&q).await.unwrap();
    assert_eq!(st.outcome, Outcome::NotFound);
    assert!(st.http_status.is_some(), "NICEPAY was asked: {st:?}");

    // A resume behind a closed fence sends nothing either (and nothing of this
    // submission reached NICEPAY).
    let closed = TestFence::closed();
    let mut resume = req.clone();
    resume.external_id = ext();
    resume.fence = closed.handle();
    assert!(!expect_fenced(c.resume_transfer(&resume, &reference).await));
    assert_eq!(closed.steps(), vec!["nicepay.approve"]);
    assert_eq!(env.booked("nicepay", "FENCE-NP-2").await, 0);

    // The next submission resumes with the recorded reference: approved once, no
    // second registration.
    let open = TestFence::open();
    resume.external_id = ext();
    resume.fence = open.handle();
    let ex = c.resume_transfer(&resume, &reference).await.unwrap();
    assert_eq!(label(&ex), "in_progress", "{ex:?}");
    assert_eq!(ex.reference(), Some(reference.as_str()));
    assert_eq!(open.steps(), vec!["nicepay.approve"]);
    assert!(
        open.references().is_empty(),
        "no registration, no first step"
    );
    let rec = env.record("nicepay", "FENCE-NP-2").await;
    assert_eq!(rec["booked_count"], 1, "{rec}");
    assert_eq!(rec["duplicate_attempts"], 0, "registered once: {rec}");

    // An open fence sees both steps, and the reference before the approve.
    let open = TestFence::open();
    let mut req = transfer("FENCE-NP-3", OK_ACCOUNT, 50_000);
    req.fence = open.handle();
    let ex = c.transfer(&req).await.unwrap();
    assert_eq!(label(&ex), "in_progress");
    assert_eq!(
        open.steps(),
        vec!["nicepay.registration", "nicepay.approve"]
    );
    assert_eq!(open.references(), vec![ex.reference().unwrap().to_owned()]);
    assert_eq!(env.booked("nicepay", "FENCE-NP-3").await, 1);
}

#[tokio::test]
async fn nicepay_status_without_reference_is_never_reached_other_invalid_queries_are_errors() {
    let env = spawn().await;
    let c = env.nicepay();
    let req = transfer("NP-Q-1", OK_ACCOUNT, 50_000);
    let mut q = status_query(&req, &Exchange::bare(Outcome::NotFound, Default::default()));
    for none in [None, Some(String::new())] {
        q.provider_reference = none;
        let st = c.transfer_status(&q).await.unwrap();
        assert!(
            matches!(st.outcome, Outcome::NeverReached { .. }),
            "{:?}",
            st.outcome
        );
        assert_eq!(st.http_status, None, "nothing to ask NICEPAY with");
    }

    q.provider_reference = Some("IONPAYTEST0000000000000000001".into());
    q.beneficiary_account_no = None;
    match c.transfer_status(&q).await {
        Err(ProviderError::Validation(e)) => assert_eq!(e.field, "beneficiaryAccountNo"),
        other => panic!("expected a validation error, got {other:?}"),
    }

    q.beneficiary_account_no = Some(req.beneficiary.account_no.clone());
    q.provider_reference = Some("R".repeat(41));
    match c.transfer_status(&q).await {
        Err(ProviderError::Validation(e)) => assert_eq!(e.field, "originalReferenceNo"),
        other => panic!("expected a validation error, got {other:?}"),
    }
}
