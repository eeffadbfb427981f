//! The Singapay client (v1.0 and v2.0) against the sandbox.

use super::*;

#[tokio::test]
async fn singapay_v2_transfer_inquiry_and_duplicate() {
    let mut env = spawn().await;
    env.sgp.api_version = kirim::providers::singapay::SingapayApiVersion::V2;
    let c = env.singapay();
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
    // SP010 BeneficiaryAccountNotFound (Singapay's published meaning): final.
    assert!(matches!(&inv.outcome, Outcome::FinalFailure { code, .. } if code == "SP010"));
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
    let mut env = spawn().await;
    env.sgp.api_version = kirim::providers::singapay::SingapayApiVersion::V2;
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

/// The documented v1.0 is the default (config/default.toml).
#[tokio::test]
async fn singapay_v1_is_the_default_and_books_by_transaction_id() {
    let env = spawn().await;
    let c = env.singapay();
    assert_eq!(
        c.api_version(),
        kirim::providers::singapay::SingapayApiVersion::V1
    );
    let v1 = |reference: &str| {
        let mut t = transfer(reference, OK_ACCOUNT, 11_000);
        t.remark = Some("Payout November".into());
        t
    };
    let req = v1("SP-V1-1");
    let ex = c.transfer(&req).await.unwrap();
    assert_eq!(label(&ex), "in_progress", "{ex:?}");
    let id = ex.reference().map(str::to_owned).expect("transaction id");
    // No client reference in v1.0: the partner reference is not sent as `notes`
    // ("Alphabetic"); the sandbox books by the transaction id it issued.
    assert_eq!(env.booked("singapay", "SP-V1-1").await, 0);
    assert_eq!(env.booked("singapay", &id).await, 1);
    assert!(matches!(
        c.transfer_status(&status_query(&req, &ex)).await,
        Err(ProviderError::Unsupported { .. })
    ));
    env.fault("singapay.transfer_v1", "error_500_after").await;
    let ex = c.transfer(&v1("SP-V1-2")).await.unwrap();
    assert_eq!(label(&ex), "unknown");
    // 429 is never final.
    env.fault("singapay.transfer_v1", "too_many_requests").await;
    let ex = c.transfer(&v1("SP-V1-3")).await.unwrap();
    assert_eq!(label(&ex), "retryable", "{ex:?}");
}

/// kirim's v1.0 request has the field set, JSON types and header set of the
/// document's sample (tests/fixtures/singapay_v1_transfer_request.json), minus the
/// optional `password`.
#[test]
fn singapay_v1_request_matches_the_documented_sample() {
    use kirim::providers::singapay::transformers::v1_transfer_request;
    let sample: serde_json::Value = serde_json::from_str(include_str!(
        "../../fixtures/singapay_v1_transfer_request.json"
    ))
    .expect("fixture is JSON");
    let mut req = transfer("SP-V1-DOC", "63434554", 11_000);
    req.remark = Some("lorem ipsum".into());
    let ours = serde_json::to_value(v1_transfer_request(&req).expect("valid")).expect("json");
    let (doc, ours) = (
        sample.as_object().expect("object"),
        ours.as_object().expect("object"),
    );
    let kind = |v: &serde_json::Value| match v {
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Null => "null",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    };
    let doc_fields: std::collections::BTreeMap<_, _> = doc
        .iter()
        .filter(|(k, _)| k.as_str() != "password")
        .map(|(k, v)| (k.clone(), kind(v)))
        .collect();
    let our_fields: std::collections::BTreeMap<_, _> =
        ours.iter().map(|(k, v)| (k.clone(), kind(v))).collect();
    assert_eq!(our_fields, doc_fields);
    assert_eq!(ours["amount"], doc["amount"]);
    assert_eq!(ours["currency"], doc["currency"]);
    assert_eq!(ours["notes"], doc["notes"]);
}
