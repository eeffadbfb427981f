//! Every rule a payout will be held to is checked at the door (issue 16, point 9):
//! `POST /v1/transfers` refuses, naming the field, what kirim or the provider
//! would refuse later, and a refused request does not burn its Idempotency-Key.

use serde_json::{json, Value};

use crate::common;

const KEY: &str = "kirim-demo-key";

fn transfer(provider: &str, reference: &str, amount: &str) -> Value {
    json!({
        "provider": provider,
        "partnerReferenceNo": reference,
        "amount": {"value": amount, "currency": "IDR"},
        "beneficiary": {"accountNo": "8753293240", "bankCode": "014", "name": "Budi Santoso"},
    })
}

async fn post(api: &common::Api, body: &Value, idem: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(api.url("/v1/transfers"))
        .header("X-API-Key", KEY)
        .json(body);
    if let Some(k) = idem {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().await.expect("API reachable");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The field a 400 names.
fn refused(answer: &(u16, Value)) -> String {
    assert_eq!(answer.0, 400, "{}", answer.1);
    answer.1["error"]["field"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn provider_rules_are_checked_before_a_payout_is_accepted() {
    let redis = common::redis();
    let settings = common::settings_for(&redis);
    let api = common::Api::start(&settings).await;

    // iFortepay's transfer minimum (10,000.00, transfer-interbank page).
    let small = post(&api, &transfer("ifortepay", "DOOR-1", "9999.00"), None).await;
    assert_eq!(refused(&small), "amount.value");
    // NICEPAY takes 4-letter bank codes (beneficiaryBankCode, length 4): a bank
    // the directory does not know, given as 8 characters, is refused by NICEPAY's
    // rule at the door (a bank it knows is translated, below).
    let mut b = transfer("nicepay", "DOOR-2", "15000.00");
    b["beneficiary"]["bankCode"] = json!("ABCDIDJX");
    assert_eq!(refused(&post(&api, &b, None).await), "beneficiaryBankCode");
    // Singapay v1.0 (the default): `notes` is Alphabetic, so a remark with digits
    // or punctuation is refused here, not by the provider. (Whole rupiah is a
    // v2.0 rule: providers::ifortepay::validation_errors_name_field_and_rule_and_send_nothing.)
    let mut b = transfer("singapay", "DOOR-3", "15000.50");
    b["remark"] = json!("Gaji-Nov 2026");
    assert_eq!(refused(&post(&api, &b, None).await), "remark");

    // Control characters never reach a provider.
    let mut b = transfer("ifortepay", "DOOR-4", "15000.00");
    b["beneficiary"]["name"] = json!("Budi\r\nX-Injected: 1");
    assert_eq!(refused(&post(&api, &b, None).await), "beneficiary.name");
    let mut b = transfer("ifortepay", "DOOR-5", "15000.00");
    b["remark"] = json!("gaji\u{0}");
    assert_eq!(refused(&post(&api, &b, None).await), "remark");
    // A phone number is E.164-shaped and bounded.
    for phone in ["12ab45678", "+1234567890123456", "12"] {
        let mut b = transfer("ifortepay", "DOOR-6", "15000.00");
        b["beneficiary"]["phone"] = json!(phone);
        assert_eq!(
            refused(&post(&api, &b, None).await),
            "beneficiary.phone",
            "{phone}"
        );
    }
    // References are path-safe.
    for reference in ["..", "a..b", ".hidden"] {
        let b = transfer("ifortepay", reference, "15000.00");
        assert_eq!(
            refused(&post(&api, &b, None).await),
            "partnerReferenceNo",
            "{reference}"
        );
    }

    // A refused request does not bind its Idempotency-Key: the corrected request
    // with the same key is accepted (not 422 "key reused with another body").
    let bad = post(
        &api,
        &transfer("ifortepay", "DOOR-7", "9999.00"),
        Some("door-key-1"),
    )
    .await;
    assert_eq!(refused(&bad), "amount.value");
    let good = post(
        &api,
        &transfer("ifortepay", "DOOR-7", "15000.00"),
        Some("door-key-1"),
    )
    .await;
    assert_eq!(good.0, 201, "{}", good.1);
    // Once bound, the key still refuses another body.
    let other = post(
        &api,
        &transfer("ifortepay", "DOOR-8", "15000.00"),
        Some("door-key-1"),
    )
    .await;
    assert_eq!(other.0, 422, "{}", other.1);

    // One bank identity from the producer (BI code, BIC or NICEPAY code); each
    // provider's own code in the payout.
    for (provider, given, stored) in [
        ("nicepay", "014", "CENA"),
        ("nicepay", "BMRIIDJA", "BMRI"),
        ("ifortepay", "CENAIDJA", "014"),
        ("ifortepay", "BNIN", "009"),
    ] {
        let reference = format!("DOOR-BANK-{provider}-{given}");
        let mut b = transfer(provider, &reference, "15000.00");
        b["beneficiary"]["bankCode"] = json!(given);
        let (status, body) = post(&api, &b, None).await;
        assert_eq!(status, 201, "{body}");
        let r: Value = reqwest::Client::new()
            .get(api.url(&format!("/v1/transfers/{reference}?provider={provider}")))
            .header("X-API-Key", KEY)
            .send()
            .await
            .expect("API reachable")
            .json()
            .await
            .expect("json");
        assert_eq!(
            r.pointer("/details/beneficiary/bank_code"),
            Some(&json!(stored)),
            "{provider} {given}: {r}"
        );
    }

    // Nothing refused was recorded.
    for reference in ["DOOR-1", "DOOR-2", "DOOR-3", "DOOR-4"] {
        let r = reqwest::Client::new()
            .get(api.url(&format!("/v1/transfers/{reference}")))
            .header("X-API-Key", KEY)
            .send()
            .await
            .expect("API reachable");
        assert_eq!(r.status().as_u16(), 404, "{reference}");
    }
    api.stop().await;
}

/// A payment that needs an OTP is refused at the door: kirim has no OTP
/// verification step, and such a payout would poll "in progress" until review.
#[tokio::test]
async fn payments_that_need_an_otp_are_refused_at_the_door() {
    let redis = common::redis();
    let settings = common::settings_for(&redis);
    let api = common::Api::start(&settings).await;
    let r = reqwest::Client::new()
        .post(api.url("/v1/payments"))
        .header("X-API-Key", KEY)
        .json(&json!({
            "partnerReferenceNo": "DOOR-OTP-1",
            "amount": {"value": "15000.00", "currency": "IDR"},
            "bankCardToken": "card-token-for-the-test",
            "withOtp": true,
        }))
        .send()
        .await
        .expect("API reachable");
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(refused(&(status, body.clone())), "withOtp", "{body}");
    assert!(!body.to_string().contains("card-token-for-the-test"));
    api.stop().await;
}

/// A payment iFortepay could never sign (no `[providers.ifortepay.direct_debit]`:
/// direct debit's own partner id and key) is refused at the door naming the
/// section, nothing is stored, and the Idempotency-Key stays free.
#[tokio::test]
async fn payments_without_direct_debit_credentials_are_refused_at_the_door() {
    let redis = common::redis();
    let mut settings = common::settings_for(&redis);
    settings
        .providers
        .section_mut("ifortepay")
        .remove("direct_debit");
    let api = common::Api::start(&settings).await;
    let pay = |key: &str| {
        reqwest::Client::new()
            .post(api.url("/v1/payments"))
            .header("X-API-Key", KEY)
            .header("Idempotency-Key", key)
            .json(&json!({
                "partnerReferenceNo": "DOOR-DD-1",
                "amount": {"value": "15000.00", "currency": "IDR"},
                "bankCardToken": "card-token-for-the-test",
                "payOption": "BRI",
            }))
            .send()
    };
    let r = pay("dd-key-1").await.expect("API reachable");
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 502, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("providers.ifortepay.direct_debit"),
        "{body}"
    );
    assert!(!body.to_string().contains("card-token-for-the-test"));
    let r = reqwest::Client::new()
        .get(api.url("/v1/payments/DOOR-DD-1?provider=ifortepay"))
        .header("X-API-Key", KEY)
        .send()
        .await
        .expect("API reachable");
    assert_eq!(r.status().as_u16(), 404);
    api.stop().await;
}
