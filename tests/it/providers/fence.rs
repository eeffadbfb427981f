//! The send fence (DESIGN.md rule 11; review H3, H4): what each provider's client
//! sends, or does not, when the engine's fence refuses.

use super::*;

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
    // v2.0 first (reference-keyed bookings, an inquiry); v1.0, the default, below.
    env.sgp.api_version = kirim::providers::singapay::SingapayApiVersion::V2;
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
    // Booked; not final until the debit status says 00 (no-OTP 2005400).
    assert_eq!(label(&ex), "in_progress", "{ex:?}");
    assert_eq!(env.booked("ifortepay", "FENCE-DD-1").await, 1);

    // Singapay v1.0 (no client reference: the sandbox books by the transaction id
    // it issues, so a request that never arrived leaves no record at all).
    env.sgp.api_version = kirim::providers::singapay::SingapayApiVersion::V1;
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
    let mut env = spawn().await;
    // The resend after a refresh is the same for v1.0 and v2.0; v2.0's bookings
    // are keyed by the reference this test checks.
    env.sgp.api_version = kirim::providers::singapay::SingapayApiVersion::V2;
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
