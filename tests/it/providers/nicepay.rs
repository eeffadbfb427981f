//! The NICEPAY client against the sandbox.

use super::*;

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

    // A registration whose answer was lost: registering again is answered 409
    // naming nothing (all any source shows). Before issue 16 the client stopped
    // there (unknown, no reference: the worker re-registered at every check); now
    // it registers once more under a derived reference, records it, and approves
    // that one. Booked once; the orphan stays registered, never approved.
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
    // A duplicate this ledger cannot have made (it never lost an answer for this
    // payout: a producer's re-offer after the ledger lost it) is not re-registered:
    // the existing one may be approved. It goes to an operator.
    let mut foreign = lost.clone();
    foreign.external_id = ext();
    let refused = c.transfer(&foreign).await.unwrap();
    assert_eq!(label(&refused), "unknown", "{refused:?}");
    assert_eq!(
        refused.reference(),
        Some(kirim::providers::nicepay::transformers::FOREIGN_REGISTRATION)
    );
    // The resubmission of the ledger's own lost registration (the payout went
    // through UNKNOWN) registers under a derived reference.
    let mut resubmission = lost.clone();
    resubmission.external_id = ext(); // a new message, the same partnerReferenceNo
    resubmission.earlier_send_unknown = true;
    let again = c.transfer(&resubmission).await.unwrap();
    assert_eq!(label(&again), "in_progress", "{again:?}");
    let recorded = again.reference().expect("reference recorded").to_owned();
    let derived = kirim::providers::nicepay::transformers::derived_partner_reference(
        "NP-LOST-1",
        &resubmission.external_id,
    )
    .expect("short enough");
    assert!(
        recorded.ends_with(&format!("#{derived}")),
        "the ledger keeps the derived partnerReferenceNo: {recorded}"
    );
    assert_eq!(
        kirim::providers::nicepay::transformers::payout_reference_of(&derived),
        "NP-LOST-1"
    );
    assert_eq!(
        env.booked("nicepay", "NP-LOST-1").await,
        0,
        "orphan never approved"
    );
    assert_eq!(env.booked("nicepay", &derived).await, 1);
    // The inquiry asks about the derived registration and keeps the recorded form.
    let st = c
        .transfer_status(&status_query(&resubmission, &again))
        .await
        .unwrap();
    assert_eq!(label(&st), "in_progress", "{st:?}");
    assert_eq!(st.reference(), Some(recorded.as_str()));
    // A third submission (say the approve's answer was lost too) resumes: approve
    // of the recorded registration only, never a third registration.
    let mut third = lost.clone();
    third.external_id = ext();
    let ex3 = c.resume_transfer(&third, &recorded).await.unwrap();
    assert_eq!(label(&ex3), "unknown", "already approved: 409, inquire");
    assert_eq!(env.booked("nicepay", &derived).await, 1);
    assert_eq!(env.booked("nicepay", "NP-LOST-1").await, 0);
}

/// What the capture server answers NICEPAY: a token, else an inquiry's status.
fn nicepay_answer(seen: &Seen) -> Value {
    if seen.path.ends_with("/access-token/b2b") {
        json!({"responseCode": "2007300", "accessToken": "t0k", "tokenType": "Bearer", "expiresIn": "900"})
    } else {
        json!({"responseCode": "2000000", "responseMessage": "Successful", "originalReferenceNo": "R", "latestTransactionStatus": "08"})
    }
}

/// Point 5 of issue 16: kirim's inquiry has the documented field set, value
/// types and header set (tests/fixtures/nicepay-inquiry-request.json, written from
/// nicepay-payout-inquiry.txt), and its X-TIMESTAMP has the documented form on the
/// token call and the request (25 characters; before issue 16 kirim sent 29).
#[tokio::test]
async fn nicepay_inquiry_matches_the_documented_request() {
    let fixture: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/nicepay-inquiry-request.json"
    )))
    .expect("fixture is JSON");
    let env = spawn().await;
    let (base, seen) = capture_server("/nicepay", nicepay_answer).await;
    let mut s = env.ncp.clone();
    s.http.base_url = base;
    let c = NicepayClient::new(&s).expect("nicepay client");
    let req = transfer("ORD0001", OK_ACCOUNT, 50_000);
    let mut q = status_query(&req, &Exchange::bare(Outcome::NotFound, Default::default()));
    q.provider_reference = Some("IONPAYTEST02202203211011401234".into());
    c.transfer_status(&q).await.expect("inquiry answered");

    let seen = seen.lock().expect("log").clone();
    assert_eq!(seen.len(), 2, "token, then inquiry: {seen:?}");
    let (token, inquiry) = (&seen[0], &seen[1]);
    assert_eq!(token.path, "/nicepay/v1.0/access-token/b2b");
    assert_eq!(inquiry.path, "/nicepay/api/v1.0/transfer/inquiry");
    let doc_ts = fixture["headers"]["X-TIMESTAMP"]
        .as_str()
        .expect("documented");
    for r in [token, inquiry] {
        let ts = r.header("x-timestamp").expect("X-TIMESTAMP sent");
        assert_eq!(ts.len(), doc_ts.len(), "{ts} vs documented {doc_ts}");
        assert!(kirim::sandbox::nicepay::valid_timestamp(ts), "{ts}");
    }

    // Header set: every documented header, and only those (HTTP adds its own
    // transport headers, which are not the document's business).
    let documented: std::collections::BTreeSet<String> = fixture["headers"]
        .as_object()
        .expect("headers")
        .keys()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    let sent = inquiry.header_names();
    assert_eq!(sent, documented);
    let header = |name: &str| inquiry.header(name).unwrap_or_default().to_owned();
    assert_eq!(header("channel-id"), fixture["headers"]["CHANNEL-ID"]);
    assert_eq!(header("x-partner-id"), fixture["headers"]["X-PARTNER-ID"]);
    assert!(header("x-external-id").chars().all(|c| c.is_ascii_digit()));
    assert!(header("x-external-id").len() <= 40);

    // Body: the same field set and value types as the document's table.
    let body: Value = serde_json::from_slice(&inquiry.body).expect("JSON body");
    let doc = fixture["body"].as_object().expect("body");
    let ours = body.as_object().expect("object");
    let keys = |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<Vec<_>>();
    let (mut a, mut b) = (keys(ours), keys(doc));
    a.sort();
    b.sort();
    assert_eq!(a, b, "field set");
    for (k, v) in doc {
        assert_eq!(json_type(&ours[k]), json_type(v), "type of {k}");
    }
    // Lengths from the table: merchantId 10, the references 40, account 25.
    for (k, max) in [
        ("merchantId", 10),
        ("originalReferenceNo", 40),
        ("originalPartnerReferenceNo", 40),
        ("beneficiaryAccountNo", 25),
    ] {
        assert!(
            ours[k]
                .as_str()
                .is_some_and(|v| !v.is_empty() && v.len() <= max),
            "{k}"
        );
    }
}
