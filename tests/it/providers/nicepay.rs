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
