//! Singapay over real HTTP: token, v1.0 and v2.0 transfers, inquiry-status, webhook,
//! and the v2.0 signature vectors.

use std::sync::Arc;

use kirim::sandbox::canonical_json::canonical_json;
use kirim::sandbox::singapay::v2_signature;
use serde_json::{json, Value};

use crate::sandbox::helpers::*;

#[test]
fn v2_signature_reproduces_the_shared_vectors() {
    let text = std::fs::read_to_string(repo("tests/it/sandbox/singapay-v2.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let secret = doc["secret"].as_str().unwrap();
    let token = doc["access_token"].as_str().unwrap();
    let method = doc["method"].as_str().unwrap();
    let endpoint = doc["endpoint"].as_str().unwrap();
    let ts = doc["timestamp"].to_string();
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 8);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let payload = &v["payload"];
        let normalized = v["normalized_json"].as_str().unwrap();
        assert_eq!(
            canonical_json(payload),
            normalized,
            "{name}: sandbox canonical form"
        );
        assert_eq!(
            canonical(payload),
            normalized,
            "{name}: test's own canonical form"
        );
        assert_eq!(
            sha256_hex(normalized.as_bytes()),
            v["hashed_body"].as_str().unwrap(),
            "{name}"
        );
        let expected = v["expected_signature"].as_str().unwrap();
        assert_eq!(
            v2_signature(secret, method, endpoint, token, payload, &ts),
            expected,
            "{name}: sandbox"
        );
        let own = format!(
            "{method}:{endpoint}:{token}:{}:{ts}",
            sha256_hex(normalized.as_bytes())
        );
        assert_eq!(hmac_hex(secret, &own), expected, "{name}: own HMAC");
    }
}

#[tokio::test]
async fn token_scheme() {
    let sb = spawn(|_| {}).await;
    let sp = sb.singapay();
    let (s, v) = sp.token_with(&sp.api_key, &sp.token_signature()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["token_type"], "Bearer");
    assert_eq!(v["data"]["expires_in"], "900");
    let (s, v) = sp.token_with(&sp.api_key, &hmac_hex("wrong", "x")).await;
    assert_eq!(
        (s, v["response_code"].as_str()),
        (401, Some("SP016")),
        "{v}"
    );
    let (s, v) = sp.token_with("not-the-key", &sp.token_signature()).await;
    // Wrong API key: SP015 Forbidden (Singapay's published meaning; SP003 is
    // InsufficientBalance there).
    assert_eq!(
        (s, v["error"]["code"].as_u64(), v["response_code"].as_str()),
        (403, Some(403), Some("SP015")),
        "{v}"
    );
}

#[tokio::test]
async fn v1_transfer_as_the_seed_describes_and_double_booking_shows() {
    let sb = spawn(|_| {}).await;
    let sp = sb.singapay();
    let token = sp.token().await;
    let body = json!({
        "password": "s0M3$tROn6.p",
        "amount": "11000.00",
        "currency": "IDR",
        "bank_swift_code": "BBRINJA",
        "bank_account_number": "63434554",
        "notes": "lorem ipsum"
    });
    let (s, v) = sp.v1_transfer(&token, &sp.account_id.clone(), &body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["success"], true);
    assert_eq!(v["data"]["status"], "pending");
    assert_eq!(v["data"]["total_amount"]["value"], "13000.00");
    assert_eq!(v["data"]["balance_after"]["value"], "9999987000.00");
    // v1.0 has no reference: sending it again books again, under a new transaction id.
    let first = v["data"]["transaction_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (_, again) = sp.v1_transfer(&token, &sp.account_id.clone(), &body).await;
    let second = again["data"]["transaction_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(first, second);
    assert_eq!(sb.booked("singapay", &first).await, 1);
    assert_eq!(sb.booked("singapay", &second).await, 1);
    // `notes` is Alphabetic ([D]): a partner reference there is refused.
    let mut bad = body.clone();
    bad["notes"] = json!("REF-V1-1");
    let (s, v) = sp.v1_transfer(&token, &sp.account_id.clone(), &bad).await;
    assert_eq!(
        (s, v["response_code"].as_str()),
        (422, Some("SP018")),
        "{v}"
    );

    let (s, v) = sp.v1_transfer(&token, "someone-else", &body).await;
    assert_eq!(
        (s, v["response_code"].as_str()),
        (404, Some("SP020")),
        "{v}"
    );
    let mut missing = body.clone();
    missing.as_object_mut().unwrap().remove("bank_swift_code");
    let (s, v) = sp
        .v1_transfer(&token, &sp.account_id.clone(), &missing)
        .await;
    assert_eq!(
        (s, v["error"]["message"].as_str()),
        (422, Some("Missing mandatory field bank_swift_code")),
        "{v}"
    );
    let mut long_pw = body.clone();
    long_pw["password"] = json!("x".repeat(13));
    let (s, v) = sp
        .v1_transfer(&token, &sp.account_id.clone(), &long_pw)
        .await;
    assert_eq!(
        (s, v["response_message"].as_str()),
        (422, Some("Invalid field format password")),
        "{v}"
    );
    let no_accept = sp
        .http
        .post(sb.url(&format!(
            "/singapay/api/v1.0/disbursements/transfer/{}",
            sp.account_id
        )))
        .header("X-PARTNER-ID", &sp.api_key)
        .header("Authorization", format!("Bearer {token}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    // SP018 ValidationError is 422 (SDK e2e test).
    assert_eq!(no_accept.status(), 422);
    let (s, _) = sp.v1_transfer("bogus", &sp.account_id.clone(), &body).await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn v2_transfer_inquiry_and_errors() {
    let sb = spawn(|_| {}).await;
    let sp = sb.singapay();
    let token = sp.token().await;
    let r = reference("SP2");
    let (s, v) = sp.v2_transfer(&token, &sp.v2_body(&r, "1234567890")).await;
    assert_eq!(
        (s, v["response_code"].as_str()),
        (200, Some("SP000")),
        "{v}"
    );
    assert_eq!(v["data"]["transaction_status"]["code"], "01");
    assert_eq!(sb.booked("singapay", &r).await, 1);
    let (s, v) = sp.v2_transfer(&token, &sp.v2_body(&r, "1234567890")).await;
    assert_eq!(
        (s, v["response_code"].as_str()),
        (409, Some("SP004")),
        "{v}"
    );
    assert_eq!(sb.booked("singapay", &r).await, 1);

    let (s, v) = sp.v2_inquiry(&token, &r).await;
    assert_eq!(
        (s, v["data"]["transaction_status"]["code"].as_str()),
        (200, Some("01")),
        "{v}"
    );
    sb.settle().await;
    let (_, v) = sp.v2_inquiry(&token, &r).await;
    assert_eq!(v["data"]["transaction_status"]["code"], "00");
    let (s, v) = sp.v2_inquiry(&token, "never").await;
    assert_eq!(
        (
            s,
            v["response_code"].as_str(),
            v["data"]["transaction_status"]["code"].as_str()
        ),
        (404, Some("SP009"), Some("07")),
        "{v}"
    );

    let stuck = reference("SP2");
    sp.v2_transfer(&token, &sp.v2_body(&stuck, "9000000004"))
        .await;
    let cancelled = reference("SP2");
    sp.v2_transfer(&token, &sp.v2_body(&cancelled, "9000000001"))
        .await;
    sb.settle().await;
    assert_eq!(
        sp.v2_inquiry(&token, &stuck).await.1["data"]["transaction_status"]["code"],
        "03"
    );
    assert_eq!(
        sp.v2_inquiry(&token, &cancelled).await.1["data"]["transaction_status"]["code"],
        "05"
    );

    let (s, v) = sp
        .v2_transfer(&token, &sp.v2_body(&reference("SP2"), "9000000002"))
        .await;
    assert_eq!(
        (s, v["response_code"].as_str()),
        (404, Some("SP010")),
        "{v}"
    );
    let (s, v) = sp
        .v2_transfer(&token, &sp.v2_body(&reference("SP2"), "9000000003"))
        .await;
    assert_eq!(
        (s, v["response_code"].as_str()),
        (403, Some("SP003")),
        "{v}"
    );
    let mut body = sp.v2_body(&reference("SP2"), "1");
    body.as_object_mut().unwrap().remove("reference_number");
    let (s, v) = sp.v2_transfer(&token, &body).await;
    assert_eq!(
        (s, v["response_message"].as_str()),
        (422, Some("Missing mandatory field reference_number")),
        "{v}"
    );
    // The field names of Singapay's public material: the old derived names and an
    // amount under the 10,000 minimum are refused (SDK e2e test).
    let mut body = sp.v2_body(&reference("SP2"), "1");
    body["beneficiary_account_number"] = body["bank_account_number"].clone();
    assert_eq!(
        sp.v2_transfer(&token, &body).await,
        (
            422,
            json!({"status": 422, "success": false, "response_code": "SP018",
                "response_message": "Unknown field for transfer",
                "error": {"code": 422, "message": "Unknown field for transfer"}})
        )
    );
    let mut body = sp.v2_body(&reference("SP2"), "1");
    body["amount"] = json!(5000);
    let (s, v) = sp.v2_transfer(&token, &body).await;
    assert_eq!(
        (s, v["response_code"].as_str()),
        (422, Some("SP018")),
        "{v}"
    );
    let mut body = sp.v2_body(&reference("SP2"), "1");
    body["account_id"] = json!("other");
    assert_eq!(
        sp.v2_transfer(&token, &body).await.1["response_code"],
        "SP020"
    );

    // Signature over a different body → SP016.
    let signed = sp.v2_body(&reference("SP2"), "1");
    let req = sp.v2_request(&token, "/singapay/api/v2.0/disbursement/transfer", &signed);
    let mut other = signed.clone();
    other["amount"] = json!(99999);
    let (s, v) = read(req.body(other.to_string()).send().await.unwrap()).await;
    assert_eq!(
        (s, v["response_code"].as_str()),
        (401, Some("SP016")),
        "{v}"
    );
    // Expired token → SP013 (refresh).
    sb.admin_post("/admin/tokens/expire", json!({})).await;
    let (s, v) = sp
        .v2_transfer(&token, &sp.v2_body(&reference("SP2"), "1"))
        .await;
    assert_eq!(
        (s, v["response_code"].as_str()),
        (401, Some("SP013")),
        "{v}"
    );
}

#[tokio::test]
async fn webhook_is_signed_over_the_canonical_body() {
    let mut rx = receiver("/callbacks/singapay", 0, Arc::new(verify_singapay)).await;
    let url = rx.url.clone();
    let sb = spawn(move |c| {
        c.singapay.webhook_url = url;
        c.settlement_delay_ms = 0;
    })
    .await;
    let sp = sb.singapay();
    let token = sp.token().await;
    let r = reference("SPW");
    let (_, v) = sp.v2_transfer(&token, &sp.v2_body(&r, "1234567890")).await;
    assert_eq!(
        v["data"]["transaction_status"]["code"], "00",
        "zero delay: final at once"
    );
    let got = rx.next().await;
    assert!(
        got.valid,
        "verified by the test's own HMAC and canonical JSON"
    );
    assert_eq!(got.json["event"], "disbursement");
    assert_eq!(got.json["data"]["reference_number"], r);
    assert_eq!(got.json["data"]["transaction_status"]["code"], "00");
}
