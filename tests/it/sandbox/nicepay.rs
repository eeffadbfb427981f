//! NICEPAY over real HTTP: token, registration → approve → inquiry, cancel, reject,
//! balance, notifications.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::sandbox::helpers::*;

const REG: &str = "/api/v1.0/transfer/registration";
const APPROVE: &str = "/api/v1.0/transfer/approve";
const INQUIRY: &str = "/api/v1.0/transfer/inquiry";
const CANCEL: &str = "/api/v1.0/transfer/cancel";
const REJECT: &str = "/api/v1.0/transfer/reject";

fn registration(reference: &str, account: &str) -> Value {
    json!({
        "merchantId": "IONPAYTEST",
        "msId": "MS0001",
        "partnerReferenceNo": reference,
        "beneficiaryAccountNo": account,
        "beneficiaryName": "John Doe",
        "beneficiaryPhone": "08123456789",
        "beneficiaryCustomerResidence": "1",
        "beneficiaryCustomerType": "1",
        "beneficiaryPostalCode": "12345",
        "payoutMethod": "0",
        "beneficiaryBankCode": "BMRI",
        "description": "payout",
        "reservedDt": "",
        "reservedTm": "",
        "amount": {"value": "25000.00", "currency": "IDR"}
    })
}

fn follow_up(reg: &Value) -> Value {
    json!({
        "merchantId": "IONPAYTEST",
        "originalReferenceNo": reg["referenceNo"],
        "originalPartnerReferenceNo": reg["partnerReferenceNo"],
        "beneficiaryAccountNo": reg["beneficiaryAccountNo"],
    })
}

#[tokio::test]
async fn token_channel_and_path_without_prefix() {
    let sb = spawn(|_| {}).await;
    let np = sb.nicepay();
    let (s, v) = np.send(np.token_req()).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (200, Some("2007300")),
        "{v}"
    );
    assert_eq!(v["expiresIn"], "900", "NICEPAY sends expiresIn as a string");
    let token = v["accessToken"].as_str().unwrap().to_owned();

    let body = registration(&reference("NP"), "1234567890").to_string();
    // Signed over the path WITH /nicepay: mismatch.
    let full = format!("/nicepay{REG}");
    let (s, v) = np
        .send(np.build_signed_as(&token, reqwest::Method::POST, &full, &full, &body))
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (401, Some("4010000")),
        "{v}"
    );
    // CHANNEL-ID must be client id + "01".
    let (s, v) = np
        .send(
            np.build(&token, reqwest::Method::POST, REG, &body)
                .set("CHANNEL-ID", "IONPAYTEST"),
        )
        .await;
    assert_eq!(
        (s, v["responseMessage"].as_str()),
        (400, Some("Invalid Field Format CHANNEL-ID")),
        "{v}"
    );
    let (s, v) = np
        .send(np.build(&token, reqwest::Method::POST, REG, &body))
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (200, Some("2000000")),
        "{v}"
    );
}

#[tokio::test]
async fn registration_approve_inquiry_and_the_booking_counter() {
    let sb = spawn(|_| {}).await;
    let np = sb.nicepay();
    let token = np.token().await;
    let r = reference("NP");
    let (s, reg) = np.post(&token, REG, &registration(&r, "1234567890")).await;
    assert_eq!(s, 200, "{reg}");
    assert_eq!(reg["latestTransactionStatus"], "03");
    assert_eq!(
        sb.booked("nicepay", &r).await,
        0,
        "registration moves no money"
    );

    let (s, v) = np.post(&token, INQUIRY, &follow_up(&reg)).await;
    assert_eq!(
        (s, v["latestTransactionStatus"].as_str()),
        (200, Some("03")),
        "{v}"
    );
    assert_eq!(v["beneficiaryCustomerResidence"], "1");

    let (s, v) = np.post(&token, APPROVE, &follow_up(&reg)).await;
    assert_eq!(
        (s, v["latestTransactionStatus"].as_str()),
        (200, Some("08")),
        "{v}"
    );
    assert_eq!(sb.booked("nicepay", &r).await, 1);
    let (_, bal) = sb.admin_get("/admin/balances").await;
    assert_eq!(bal["nicepay"], "9999975000.00");

    // A second approve is a duplicate (inquire), never a second booking.
    let (s, v) = np.post(&token, APPROVE, &follow_up(&reg)).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (409, Some("4090001")),
        "{v}"
    );
    assert_eq!(sb.booked("nicepay", &r).await, 1);
    // Cancel after approve is not permitted.
    let (s, v) = np.post(&token, CANCEL, &follow_up(&reg)).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (403, Some("4030015")),
        "{v}"
    );

    sb.settle().await;
    let (_, v) = np.post(&token, INQUIRY, &follow_up(&reg)).await;
    assert_eq!(v["latestTransactionStatus"], "00");

    let (s, v) = np.post(&token, REG, &registration(&r, "1234567890")).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (409, Some("4090001")),
        "{v}"
    );

    let mut unknown = follow_up(&reg);
    unknown["originalPartnerReferenceNo"] = json!("nope");
    let (s, v) = np.post(&token, INQUIRY, &unknown).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (404, Some("4040001")),
        "{v}"
    );

    let (s, v) = np
        .post(
            &token,
            "/api/v1.0/balance-inquiry",
            &json!({"accountNo": "IONPAYTEST"}),
        )
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (200, Some("2001100")),
        "{v}"
    );
    assert_eq!(
        v["accountInfos"][0]["availableBalance"]["value"],
        "9999975000.00"
    );
}

#[tokio::test]
async fn cancel_reject_failures_and_validation() {
    let sb = spawn(|_| {}).await;
    let np = sb.nicepay();
    let token = np.token().await;
    let (_, a) = np
        .post(&token, REG, &registration(&reference("NP"), "1"))
        .await;
    let (s, v) = np.post(&token, CANCEL, &follow_up(&a)).await;
    assert_eq!(
        (s, v["latestTransactionStatus"].as_str()),
        (200, Some("04")),
        "{v}"
    );
    let (s, v) = np.post(&token, APPROVE, &follow_up(&a)).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (403, Some("4030015")),
        "{v}"
    );
    let (_, b) = np
        .post(&token, REG, &registration(&reference("NP"), "1"))
        .await;
    let (_, v) = np.post(&token, REJECT, &follow_up(&b)).await;
    assert_eq!(v["latestTransactionStatus"], "05");

    // Magic accounts: always cancel → 09 after settlement (refunded), insufficient at approve.
    let (_, c) = np
        .post(&token, REG, &registration(&reference("NP"), "9000000001"))
        .await;
    np.post(&token, APPROVE, &follow_up(&c)).await;
    sb.settle().await;
    let (_, v) = np.post(&token, INQUIRY, &follow_up(&c)).await;
    assert_eq!(v["latestTransactionStatus"], "09");
    let (_, d) = np
        .post(&token, REG, &registration(&reference("NP"), "9000000003"))
        .await;
    let (s, v) = np.post(&token, APPROVE, &follow_up(&d)).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (403, Some("4030014")),
        "{v}"
    );
    let (s, v) = np
        .post(&token, REG, &registration(&reference("NP"), "9000000002"))
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (404, Some("4040011")),
        "{v}"
    );
    let (_, bal) = sb.admin_get("/admin/balances").await;
    assert_eq!(bal["nicepay"], "10000000000.00");

    type Edit = fn(&mut Value);
    let cases: Vec<(Edit, &str)> = vec![
        (
            |b| drop(b.as_object_mut().unwrap().remove("beneficiaryName")),
            "Missing Mandatory Field beneficiaryName",
        ),
        (
            |b| b["merchantId"] = json!("OTHER"),
            "Invalid Field Format merchantId",
        ),
        (
            |b| b["partnerReferenceNo"] = json!("x".repeat(41)),
            "Invalid Field Format partnerReferenceNo",
        ),
        (
            |b| b["beneficiaryAccountNo"] = json!("1".repeat(26)),
            "Invalid Field Format beneficiaryAccountNo",
        ),
        (
            |b| b["beneficiaryBankCode"] = json!("BMRI1"),
            "Invalid Field Format beneficiaryBankCode",
        ),
        (
            |b| b["beneficiaryCustomerType"] = json!("4"),
            "Invalid Field Format beneficiaryCustomerType",
        ),
        (
            |b| b["amount"]["value"] = json!("1,000"),
            "Invalid Field Format amount.value",
        ),
    ];
    for (edit, message) in cases {
        let mut body = registration(&reference("NPV"), "1");
        edit(&mut body);
        let (s, v) = np.post(&token, REG, &body).await;
        assert_eq!(
            (s, v["responseMessage"].as_str()),
            (400, Some(message)),
            "{v}"
        );
    }
}

#[tokio::test]
async fn notification_is_signed_with_the_nicepay_server_key() {
    let mut rx = receiver("/callbacks/nicepay", 0, Arc::new(verify_nicepay)).await;
    let url = rx.url.clone();
    let sb = spawn(move |c| c.nicepay.notify_url = url).await;
    let np = sb.nicepay();
    let token = np.token().await;
    let (_, reg) = np
        .post(&token, REG, &registration(&reference("NPN"), "1234567890"))
        .await;
    np.post(&token, APPROVE, &follow_up(&reg)).await;
    sb.settle().await;
    let got = rx.next().await;
    assert!(
        got.valid,
        "verified with nicepay_server_public.pem by the test's own RSA"
    );
    assert_eq!(hdr(&got.headers, "X-CLIENT-KEY"), "IONPAYTEST");
    assert_eq!(got.json["latestTransactionStatus"], "00");
    assert_eq!(
        got.json["originalPartnerReferenceNo"],
        reg["partnerReferenceNo"]
    );
}

/// Issue 16: a repeated partnerReferenceNo is `409xx01` naming nothing (no source
/// shows more; before, the sandbox invented `referenceNo`), and an `X-TIMESTAMP`
/// that is not the document's 25-character form is refused on the token call and
/// on every service (nicepay-payout-inquiry.txt:14).
#[tokio::test]
async fn duplicate_registration_names_nothing_and_the_timestamp_is_25_characters() {
    let sb = spawn(|_| {}).await;
    let np = sb.nicepay();
    let token = np.token().await;
    let r = reference("NP");
    let (s, _) = np.post(&token, REG, &registration(&r, "1234567890")).await;
    assert_eq!(s, 200);
    let (s, v) = np.post(&token, REG, &registration(&r, "1234567890")).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (409, Some("4090001")),
        "{v}"
    );
    assert!(v.get("referenceNo").is_none(), "{v}");
    assert!(v.get("originalReferenceNo").is_none(), "{v}");

    // payoutMethod is mandatory.
    let mut body = registration(&reference("NP"), "1234567890");
    body.as_object_mut().unwrap().remove("payoutMethod");
    let (s, v) = np.post(&token, REG, &body).await;
    assert_eq!(
        (s, v["responseMessage"].as_str()),
        (400, Some("Missing Mandatory Field payoutMethod")),
        "{v}"
    );

    // Milliseconds (29 characters) are refused, on the token call too.
    let millis = jakarta_now();
    assert_eq!(millis.len(), 29);
    let (s, v) = np.send(np.token_req().set("X-TIMESTAMP", &millis)).await;
    assert_eq!(
        (s, v["responseMessage"].as_str()),
        (400, Some("Invalid Field Format X-TIMESTAMP")),
        "{v}"
    );
    let body = registration(&reference("NP"), "1234567890").to_string();
    let (s, v) = np
        .send(
            np.build(&token, reqwest::Method::POST, REG, &body)
                .set("X-TIMESTAMP", &millis),
        )
        .await;
    assert_eq!(
        (s, v["responseMessage"].as_str()),
        (400, Some("Invalid Field Format X-TIMESTAMP")),
        "{v}"
    );
    for bad in [
        "2022-03-21T10:11:40Z",
        "2022-03-21T03:11:40+00:00",
        "20220321T10:11:40+07:00",
    ] {
        assert!(!kirim::sandbox::nicepay::valid_timestamp(bad), "{bad}");
    }
    assert!(kirim::sandbox::nicepay::valid_timestamp(
        "2022-03-21T10:11:40+07:00"
    ));
}

/// Issue 16 point 5: `beneficiaryPhone` is mandatory (NICEPAY's registration page:
/// "beneficiaryPhone | String | 20 | Mandatory"); residence and customer type take
/// only the documented codes (nicepay-payout-inquiry.txt:32-33) and are kept in
/// the booking as sent, for tests to read back.
#[tokio::test]
async fn registration_needs_a_phone_and_keeps_residence_and_customer_type() {
    let sb = spawn(|_| {}).await;
    let np = sb.nicepay();
    let token = np.token().await;

    for phone in [None, Some(json!("")), Some(json!(null))] {
        let r = reference("NPP");
        let mut body = registration(&r, "1234567890");
        match &phone {
            None => drop(body.as_object_mut().unwrap().remove("beneficiaryPhone")),
            Some(v) => body["beneficiaryPhone"] = v.clone(),
        }
        let (s, v) = np.post(&token, REG, &body).await;
        assert_eq!(
            (s, v["responseCode"].as_str(), v["responseMessage"].as_str()),
            (
                400,
                Some("4000002"),
                Some("Missing Mandatory Field beneficiaryPhone")
            ),
            "{phone:?}: {v}"
        );
        let (s, _) = sb
            .admin_get(&format!("/admin/bookings/{r}?provider=nicepay"))
            .await;
        assert_eq!(s, 404, "a refused registration records nothing");
    }
    let mut body = registration(&reference("NPP"), "1234567890");
    body["beneficiaryPhone"] = json!("1".repeat(21));
    let (s, v) = np.post(&token, REG, &body).await;
    assert_eq!(
        (s, v["responseMessage"].as_str()),
        (400, Some("Invalid Field Format beneficiaryPhone")),
        "{v}"
    );
    for (field, bad) in [
        ("beneficiaryCustomerResidence", "3"),
        ("beneficiaryCustomerResidence", "ID"),
        ("beneficiaryCustomerType", "0"),
        ("beneficiaryCustomerType", "company"),
    ] {
        let mut body = registration(&reference("NPP"), "1234567890");
        body[field] = json!(bad);
        let (s, v) = np.post(&token, REG, &body).await;
        let want = format!("Invalid Field Format {field}");
        assert_eq!(
            (s, v["responseMessage"].as_str()),
            (400, Some(want.as_str())),
            "{field}={bad}: {v}"
        );
    }

    // A company abroad: kept as sent, and answered by the inquiry.
    let r = reference("NPP");
    let mut body = registration(&r, "1234567890");
    body["beneficiaryCustomerResidence"] = json!("2");
    body["beneficiaryCustomerType"] = json!("2");
    body["beneficiaryPhone"] = json!("628123456789");
    let (s, reg) = np.post(&token, REG, &body).await;
    assert_eq!(s, 200, "{reg}");
    let (s, b) = sb
        .admin_get(&format!("/admin/bookings/{r}?provider=nicepay"))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["extra"],
        json!({
            "beneficiaryPhone": "628123456789",
            "beneficiaryCustomerResidence": "2",
            "beneficiaryCustomerType": "2",
        }),
        "{b}"
    );
    let (_, v) = np.post(&token, INQUIRY, &follow_up(&reg)).await;
    assert_eq!(v["beneficiaryCustomerResidence"], "2", "{v}");
    assert_eq!(v["beneficiaryCustomerType"], "2", "{v}");
}
