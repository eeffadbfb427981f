//! iFortepay direct debit over HTTP, with and without OTP.

use super::*;

#[tokio::test]
async fn direct_debit_with_and_without_otp() {
    let sb = spawn(|_| {}).await;
    let ifp = sb.ifortepay_debit();
    // Direct debit carries no token (ifortepay-direct-debit-payment.txt:42-47).
    let token = String::new();
    let body = |r: &str, otp: &str, value: &str| {
        json!({
            "partnerReferenceNo": r,
            "bankCardToken": "card_.eyJpYXQiOjE3MjE4OTM3NDR9.sig",
            "chargeToken": "null",
            "amount": {"currency": "IDR", "value": value},
            "pointOfInitiation": "Web app",
            "payOptionDetails": [{"payOption": "BRI", "payMethod": "DEBIT_CARD"}],
            "urlParam": [{"type": "PAY_NOTIFY", "isDeepLink": "N", "url": "https://example.com/notify"}],
            "additionalInfo": {"isWithOtp": otp, "remarks": "Testing Remarks"}
        })
    };
    const PAY: &str = "/v1.0/debit/payment-host-to-host";
    const STATUS: &str = "/v1.0/debit/status";
    let otp = reference("DD");
    let (s, v) = ifp.post(&token, PAY, &body(&otp, "Y", "15000.00")).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (200, Some("2005400")),
        "{v}"
    );
    assert!(v["additionalInfo"]["chargeToken"]
        .as_str()
        .unwrap()
        .starts_with("CHARGE_"));
    let plain = reference("DD");
    let (_, v) = ifp.post(&token, PAY, &body(&plain, "N", "15000.00")).await;
    assert_eq!(
        (
            v["additionalInfo"]["amount"].as_str(),
            v["additionalInfo"]["currency"].as_str()
        ),
        (Some("15000.00"), Some("IDR"))
    );
    let failed = reference("DD");
    ifp.post(&token, PAY, &body(&failed, "N", "60006.00")).await;
    let (s, v) = ifp.post(&token, PAY, &body(&plain, "N", "15000.00")).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (409, Some("4095401")),
        "{v}"
    );
    let (s, v) = ifp
        .post(&token, PAY, &json!({"partnerReferenceNo": reference("DD")}))
        .await;
    assert_eq!(
        (s, v["responseMessage"].as_str()),
        (400, Some("Missing Mandatory Field bankCardToken")),
        "{v}"
    );
    let mut wrong_channel = ifp.clone();
    wrong_channel.channel = "api".into();
    let (s, v) = wrong_channel
        .post(&token, PAY, &body(&reference("DD"), "N", "15000.00"))
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (400, Some("4005401")),
        "{v}"
    );

    let status = |r: &str| json!({"originalPartnerReferenceNo": r, "serviceCode": "54"});
    let (s, v) = ifp.post(&token, STATUS, &status(&plain)).await;
    assert_eq!(
        (
            s,
            v["responseCode"].as_str(),
            v["latestTransactionStatus"].as_str()
        ),
        (200, Some("2005500"), Some("01")),
        "{v}"
    );
    sb.settle().await;
    let (_, v) = ifp.post(&token, STATUS, &status(&plain)).await;
    assert_eq!(v["latestTransactionStatus"], "00");
    let (_, v) = ifp.post(&token, STATUS, &status(&otp)).await;
    assert_eq!(
        v["latestTransactionStatus"], "01",
        "OTP payments wait for the OTP step"
    );
    let (_, v) = ifp.post(&token, STATUS, &status(&failed)).await;
    assert_eq!(v["latestTransactionStatus"], "06");
    let (s, v) = ifp.post(&token, STATUS, &status("nope")).await;
    assert_eq!(
        (
            s,
            v["responseCode"].as_str(),
            v["latestTransactionStatus"].as_str()
        ),
        (404, Some("4045501"), Some("07")),
        "{v}"
    );
}

/// Direct debit is signed the way the document's samples are: SHA256withRSA under
/// its own partner id, no token. The disbursement scheme (HMAC-SHA512 with a B2B
/// token and the `MCPD…` client id) that kirim used before is refused, and so is
/// an RSA signature under the disbursement partner id or over the wrong URL form.
#[tokio::test]
async fn direct_debit_needs_its_own_rsa_signature_and_partner_id() {
    let sb = spawn(|_| {}).await;
    const PAY: &str = "/v1.0/debit/payment-host-to-host";
    let body = |r: &str| {
        json!({
            "partnerReferenceNo": r,
            "bankCardToken": "card_.eyJpYXQiOjE3MjE4OTM3NDR9.sig",
            "chargeToken": "null",
            "amount": {"currency": "IDR", "value": "15000.00"},
            "payOptionDetails": [{"payOption": "BRI", "payMethod": "DEBIT_CARD"}],
            "additionalInfo": {"isWithOtp": "N"}
        })
    };

    // The old way: HMAC with the disbursement token and credentials.
    let mut hmac = sb.ifortepay();
    hmac.channel = "DD003".into();
    let token = hmac.token().await;
    let (s, v) = hmac.post(&token, PAY, &body(&reference("DD"))).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (401, Some("4015400")),
        "{v}"
    );

    // RSA, but under the disbursement client id.
    let mut wrong_partner = sb.ifortepay_debit();
    wrong_partner.client_id = "MCPD00000012".into();
    let (s, v) = wrong_partner.post("", PAY, &body(&reference("DD"))).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (401, Some("4015400")),
        "{v}"
    );

    // RSA with the disbursement key (not the one registered for direct debit).
    let mut wrong_key = sb.ifortepay_debit();
    wrong_key.rsa_key_file = Some("ifortepay_private.pem");
    let (s, v) = wrong_key.post("", PAY, &body(&reference("DD"))).await;
    assert_eq!(
        (s, v["responseMessage"].as_str()),
        (401, Some("Unauthorized. Signature")),
        "{v}"
    );

    // RSA over the relative path while the sandbox verifies the document's full URL.
    let mut relative = sb.ifortepay_debit();
    relative.absolute = false;
    let (s, _) = relative.post("", PAY, &body(&reference("DD"))).await;
    assert_eq!(s, 401);

    // The documented way: accepted, and nothing was booked by the refusals above.
    let ok = reference("DD");
    let debit = sb.ifortepay_debit();
    let req = debit.build("", reqwest::Method::POST, PAY, &body(&ok).to_string());
    assert!(req.header("Authorization").is_empty());
    assert_eq!(req.header("X-SIGNATURE").len(), 344);
    let (s, v) = debit.send(req).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (200, Some("2005400")),
        "{v}"
    );
    assert_eq!(sb.booked("ifortepay", &ok).await, 1);
}
