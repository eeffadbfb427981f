//! The Singapay client (v1.0 and v2.0) against the sandbox.

use super::*;

#[tokio::test]
async fn singapay_v2_transfer_inquiry_and_duplicate() {
    let env = spawn().await;
    let c = env.singapay();
    assert_eq!(
        c.api_version(),
        kirim::providers::singapay::SingapayApiVersion::V2
    );
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
    env.sgp.api_version = kirim::providers::singapay::SingapayApiVersion::V1;
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
