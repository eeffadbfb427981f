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
        // NICEPAY's registration requires a phone (see nicepay_fields_are_checked_at_the_door).
        "beneficiary": {"accountNo": "8753293240", "bankCode": "014", "name": "Budi Santoso",
                        "phone": "081234567890"},
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

/// GET /v1/transfers/{reference}?provider=…: status and body.
async fn get_transfer(api: &common::Api, reference: &str, provider: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(api.url(&format!("/v1/transfers/{reference}?provider={provider}")))
        .header("X-API-Key", KEY)
        .send()
        .await
        .expect("API reachable");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Issue 16 point 5: NICEPAY's registration page marks `beneficiaryPhone`
/// mandatory, so a NICEPAY transfer without a phone is refused at the door, naming
/// `beneficiary.phone`, with nothing recorded and its Idempotency-Key left free;
/// residence and customer type are checked against their values.
#[tokio::test]
async fn nicepay_fields_are_checked_at_the_door() {
    let redis = common::redis();
    let settings = common::settings_for(&redis);
    let api = common::Api::start(&settings).await;

    for phone in [None, Some(json!(null))] {
        let mut b = transfer("nicepay", "DOOR-NP-1", "15000.00");
        match &phone {
            None => drop(b["beneficiary"].as_object_mut().unwrap().remove("phone")),
            Some(v) => b["beneficiary"]["phone"] = v.clone(),
        }
        let answer = post(&api, &b, Some("door-np-key")).await;
        assert_eq!(refused(&answer), "beneficiary.phone", "{phone:?}");
        let rule = answer.1["error"]["rule"].as_str().unwrap_or("");
        assert!(
            rule.starts_with("is mandatory for nicepay (beneficiaryPhone"),
            "{}",
            answer.1
        );
    }
    // Nothing was recorded ...
    assert_eq!(get_transfer(&api, "DOOR-NP-1", "nicepay").await.0, 404);
    // ... and the key is still free: the same key with the phone is accepted.
    let good = post(
        &api,
        &transfer("nicepay", "DOOR-NP-1", "15000.00"),
        Some("door-np-key"),
    )
    .await;
    assert_eq!(good.0, 201, "{}", good.1);
    // Other providers do not ask for a phone.
    let mut b = transfer("ifortepay", "DOOR-NP-2", "15000.00");
    b["beneficiary"].as_object_mut().unwrap().remove("phone");
    assert_eq!(post(&api, &b, None).await.0, 201);

    // Residence and customer type: the field and the allowed values are named.
    for (key, value, field, values) in [
        (
            "residence",
            "ID",
            "beneficiary.residence",
            "resident, non_resident",
        ),
        (
            "customerType",
            "2",
            "beneficiary.customerType",
            "individual, company, government",
        ),
        (
            "customer_type",
            "Company",
            "beneficiary.customer_type",
            "individual, company, government",
        ),
    ] {
        let mut b = transfer("nicepay", "DOOR-NP-3", "15000.00");
        b["beneficiary"][key] = json!(value);
        let answer = post(&api, &b, None).await;
        assert_eq!(refused(&answer), field, "{key}={value}");
        let rule = answer.1["error"]["rule"].as_str().unwrap_or("");
        assert_eq!(rule, format!("must be one of: {values}"), "{}", answer.1);
    }
    let mut b = transfer("nicepay", "DOOR-NP-3", "15000.00");
    b["beneficiary"]["residence"] = json!(1);
    assert_eq!(
        refused(&post(&api, &b, None).await),
        "beneficiary.residence"
    );
    assert_eq!(get_transfer(&api, "DOOR-NP-3", "nicepay").await.0, 404);

    // Accepted values are kept with the payout.
    let mut b = transfer("nicepay", "DOOR-NP-4", "15000.00");
    b["beneficiary"]["residence"] = json!("non_resident");
    b["beneficiary"]["customerType"] = json!("government");
    assert_eq!(post(&api, &b, None).await.0, 201);
    let (status, r) = get_transfer(&api, "DOOR-NP-4", "nicepay").await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        r.pointer("/details/beneficiary/residence"),
        Some(&json!("non_resident")),
        "{r}"
    );
    assert_eq!(
        r.pointer("/details/beneficiary/customer_type"),
        Some(&json!("government")),
        "{r}"
    );
    api.stop().await;
}

/// Issue 16 point 5: before, every NICEPAY beneficiary was declared with the
/// merchant's one residence and customer type ("1"/"1": a resident individual).
/// A company enqueued through the HTTP API now reaches NICEPAY (the sandbox, read
/// back from its books) as customer type 2 company; a payout that says nothing
/// still gets the configured default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_beneficiary_reaches_nicepay_as_a_company() {
    let mut app = common::App::spawn(|_| {}, |_| {}).await;
    let api = common::Api::start(&app.settings).await;
    app.start_worker().await;

    let mut company = transfer("nicepay", "DOOR-NP-CO", "15000.00");
    company["beneficiary"]["customerType"] = json!("company");
    company["beneficiary"]["residence"] = json!("non_resident");
    company["beneficiary"]["name"] = json!("PT Maju Jaya");
    let (status, body) = post(&api, &company, None).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(&api, &transfer("nicepay", "DOOR-NP-IN", "15000.00"), None).await;
    assert_eq!(status, 201, "{body}");

    let nicepay = kirim::providers::nicepay::ID;
    for reference in ["DOOR-NP-CO", "DOOR-NP-IN"] {
        common::wait_for(
            &format!("{reference} approved at the sandbox"),
            std::time::Duration::from_secs(30),
            || async { app.booked(nicepay, reference).await == 1 },
        )
        .await;
    }
    let extra = |reference: &'static str| {
        let (admin, url) = (
            app.admin.clone(),
            app.sandbox
                .url(&format!("/admin/bookings/{reference}?provider=nicepay")),
        );
        async move {
            let b: Value = admin
                .get(url)
                .send()
                .await
                .expect("admin reachable")
                .json()
                .await
                .expect("booking JSON");
            b["extra"].clone()
        }
    };
    assert_eq!(
        extra("DOOR-NP-CO").await,
        json!({
            "beneficiaryPhone": "081234567890",
            "beneficiaryCustomerResidence": "2",
            "beneficiaryCustomerType": "2",
        })
    );
    // The merchant defaults (config/default.toml: "1" Indonesia, "1" personal).
    assert_eq!(
        extra("DOOR-NP-IN").await,
        json!({
            "beneficiaryPhone": "081234567890",
            "beneficiaryCustomerResidence": "1",
            "beneficiaryCustomerType": "1",
        })
    );
    api.stop().await;
    app.stop_worker().await;
}
