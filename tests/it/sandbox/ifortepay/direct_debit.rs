//! iFortepay direct debit over HTTP, with and without OTP.

use super::*;

#[tokio::test]
async fn direct_debit_with_and_without_otp() {
    let sb = spawn(|_| {}).await;
    let mut ifp = sb.ifortepay();
    ifp.channel = "DD003".into();
    let token = ifp.token().await;
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
