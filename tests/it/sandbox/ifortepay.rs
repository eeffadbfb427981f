//! iFortepay over real HTTP: every endpoint, the transfer table, settlement, callbacks.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::sandbox::helpers::*;

pub fn transfer_body(reference: &str, account: &str, value: &str) -> Value {
    json!({
        "partnerReferenceNo": reference,
        "amount": {"value": value, "currency": "IDR"},
        "beneficiaryAccountName": "Test BCA",
        "beneficiaryAccountNo": account,
        "beneficiaryAddress": "Jl. Kelapa Gading No. 1 Surabaya",
        "beneficiaryBankCode": "014",
        "currency": "IDR",
        "customerReference": "123",
        "sourceAccountNo": "123812939120",
        "transactionDate": "2022-11-09T14:00:00+07:00",
        "feeType": "OUR",
        "originatorInfos": [{
            "originatorCustomerNo": "053229281239",
            "originatorCustomerName": "Jotaro Kujo",
            "originatorBankCode": "014"
        }],
        "additionalInfo": {
            "remark": "Transfer ke bank BCA",
            "transactionPurpose": "1",
            "beneficiaryCountry": "ID",
            "beneficiaryCity": "1101",
            "senderCountry": "ID",
            "senderCity": "1101",
            "isVirtualAccount": "N"
        }
    })
}

const TRANSFER: &str = "/api/v1.2/transfer-interbank";

#[tokio::test]
async fn token_is_verified_with_the_merchant_public_key() {
    let sb = spawn(|_| {}).await;
    let ifp = sb.ifortepay();
    let (s, v) = ifp.send(ifp.token_req()).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (200, Some("2007300")),
        "{v}"
    );
    assert_eq!(v["tokenType"], "Bearer");
    assert_eq!(v["expiresIn"], 900);

    // Signed with the NICEPAY key: mismatch.
    let mut other = ifp.clone();
    other.key_file = "nicepay_private.pem";
    let (s, v) = other.send(other.token_req()).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (401, Some("4017300")),
        "{v}"
    );

    let (s, v) = ifp
        .send(ifp.token_req().set("X-CLIENT-KEY", "SOMEONE"))
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (401, Some("4017300")),
        "{v}"
    );
    let (s, v) = ifp.send(ifp.token_req().remove("X-TIMESTAMP")).await;
    assert_eq!(
        (s, v["responseMessage"].as_str()),
        (400, Some("Missing Mandatory Field X-TIMESTAMP")),
        "{v}"
    );
    let (s, v) = ifp
        .send(ifp.token_req().set("X-TIMESTAMP", "yesterday"))
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (400, Some("4007301")),
        "{v}"
    );
    let mut bad = ifp.token_req();
    bad.body = r#"{"grantType":"password"}"#.into();
    let (s, v) = ifp.send(bad).await;
    assert_eq!(
        (s, v["responseMessage"].as_str()),
        (400, Some("Invalid Field Format grantType")),
        "{v}"
    );
}

#[tokio::test]
async fn profile_balance_and_account_inquiry() {
    let sb = spawn(|_| {}).await;
    let ifp = sb.ifortepay();
    let token = ifp.token().await;

    let req = ifp
        .build(&token, reqwest::Method::GET, "/api/v1.0/profile", "")
        .remove("X-EXTERNAL-ID")
        .remove("CHANNEL-ID");
    let (s, v) = ifp.send(req).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["responseCode"], "2000000");
    assert_eq!(v["detailData"]["businessAccountNumber"], "123812939120");

    let (s, v) = ifp
        .post(
            &token,
            "/api/v1.0/balance-inquiry",
            &json!({"accountNo": "123812939120", "balanceType": "cash"}),
        )
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (200, Some("2001100")),
        "{v}"
    );
    assert_eq!(
        v["accountInfos"][0]["availableBalance"]["value"],
        "10000000000.00"
    );
    let (s, v) = ifp
        .post(
            &token,
            "/api/v1.0/balance-inquiry",
            &json!({"accountNo": "999"}),
        )
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (404, Some("4041111")),
        "{v}"
    );

    let body = json!({"beneficiaryBankCode": "014", "beneficiaryAccountNo": "8753293240", "partnerReferenceNo": "INQ-1"});
    let (s, v) = ifp
        .post(&token, "/api/v1.0/account-inquiry-external", &body)
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (200, Some("2001600")),
        "{v}"
    );
    assert_eq!(v["beneficiaryAccountName"], "SANDBOX ACCOUNT 3240");
    let body = json!({"beneficiaryBankCode": "014", "beneficiaryAccountNo": "9000000002"});
    let (s, v) = ifp
        .post(&token, "/api/v1.0/account-inquiry-external", &body)
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (404, Some("4041611")),
        "{v}"
    );
    let (s, v) = ifp
        .post(
            &token,
            "/api/v1.0/account-inquiry-external",
            &json!({"beneficiaryAccountNo": "1"}),
        )
        .await;
    assert_eq!(
        (s, v["responseMessage"].as_str()),
        (400, Some("Missing Mandatory Field beneficiaryBankCode")),
        "{v}"
    );

    // History detail of type INQUIRY finds the inquiry by its partnerReferenceNo.
    let body = json!({"originPartnerReferenceNo": "INQ-1", "additionalInfo": {"type": "INQUIRY"}});
    let (s, v) = ifp
        .post(&token, "/api/v1.0/transaction-history-detail", &body)
        .await;
    assert_eq!(
        (s, v["beneficiaryAccountNo"].as_str()),
        (200, Some("8753293240")),
        "{v}"
    );
}

#[tokio::test]
async fn transfer_books_init_debits_amount_plus_fee_and_refuses_duplicates() {
    let sb = spawn(|_| {}).await;
    let ifp = sb.ifortepay();
    let token = ifp.token().await;
    let r = reference("IFP");
    let (s, v) = ifp
        .post(
            &token,
            TRANSFER,
            &transfer_body(&r, "8753293240", "10000.00"),
        )
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (202, Some("2021800")),
        "{v}"
    );
    assert_eq!(v["additionalInfo"]["status"], "INIT");
    assert_eq!(v["additionalInfo"]["fee"]["value"], "3000.00");
    assert!(v["referenceNo"].as_str().unwrap().starts_with("STI"));
    assert_eq!(sb.booked("ifortepay", &r).await, 1);
    let (_, bal) = sb.admin_get("/admin/balances").await;
    assert_eq!(bal["ifortepay"], "9999987000.00");

    // Same partnerReferenceNo, new X-EXTERNAL-ID: 409xx01, nothing booked again.
    let (s, v) = ifp
        .post(
            &token,
            TRANSFER,
            &transfer_body(&r, "8753293240", "10000.00"),
        )
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (409, Some("4091801")),
        "{v}"
    );
    let (_, b) = sb.admin_get(&format!("/admin/bookings/{r}")).await;
    assert_eq!(
        (b["booked_count"].as_u64(), b["duplicate_attempts"].as_u64()),
        (Some(1), Some(1)),
        "{b}"
    );

    // Same X-EXTERNAL-ID the same day: 409xx00.
    let first = ifp.build(
        &token,
        reqwest::Method::POST,
        TRANSFER,
        &transfer_body(&reference("IFP"), "1", "10000.00").to_string(),
    );
    let ext = first.header("X-EXTERNAL-ID");
    assert_eq!(ifp.send(first).await.0, 202);
    let again = ifp
        .build(
            &token,
            reqwest::Method::POST,
            TRANSFER,
            &transfer_body(&reference("IFP"), "1", "10000.00").to_string(),
        )
        .set("X-EXTERNAL-ID", &ext);
    let (s, v) = ifp.send(again).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (409, Some("4091800")),
        "{v}"
    );
}

#[tokio::test]
async fn transfer_validation_names_each_field() {
    let sb = spawn(|_| {}).await;
    let ifp = sb.ifortepay();
    let token = ifp.token().await;
    type Edit = fn(&mut Value);
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "4001802",
            |b| drop(b.as_object_mut().unwrap().remove("beneficiaryAccountName")),
            "Missing Mandatory Field beneficiaryAccountName",
        ),
        (
            "4001802",
            |b| drop(b.as_object_mut().unwrap().remove("partnerReferenceNo")),
            "Missing Mandatory Field partnerReferenceNo",
        ),
        (
            "4001801",
            |b| b["partnerReferenceNo"] = json!("x".repeat(65)),
            "Invalid Field Format partnerReferenceNo",
        ),
        (
            "4001802",
            |b| drop(b.as_object_mut().unwrap().remove("amount")),
            "Missing Mandatory Field amount",
        ),
        (
            "4001801",
            |b| b["amount"]["value"] = json!("10000.001"),
            "Invalid Field Format amount.value",
        ),
        (
            "4001801",
            |b| b["amount"]["value"] = json!(10000),
            "Invalid Field Format amount.value",
        ),
        (
            "4001801",
            |b| b["amount"]["currency"] = json!("USD"),
            "Invalid Field Format amount.currency",
        ),
        (
            "4001801",
            |b| b["beneficiaryAccountNo"] = json!("1".repeat(35)),
            "Invalid Field Format beneficiaryAccountNo",
        ),
        (
            "4001801",
            |b| b["beneficiaryAddress"] = json!("a".repeat(101)),
            "Invalid Field Format beneficiaryAddress",
        ),
        (
            "4001802",
            |b| drop(b.as_object_mut().unwrap().remove("beneficiaryBankCode")),
            "Missing Mandatory Field beneficiaryBankCode",
        ),
        (
            "4001801",
            |b| b["beneficiaryBankCode"] = json!("123456789"),
            "Invalid Field Format beneficiaryBankCode",
        ),
        (
            "4001801",
            |b| b["beneficiaryEmail"] = json!("a".repeat(51)),
            "Invalid Field Format beneficiaryEmail",
        ),
        (
            "4001801",
            |b| b["customerReference"] = json!("a".repeat(31)),
            "Invalid Field Format customerReference",
        ),
        (
            "4001801",
            |b| b["sourceAccountNo"] = json!("999999"),
            "Invalid Field Format sourceAccountNo",
        ),
        (
            "4001802",
            |b| drop(b.as_object_mut().unwrap().remove("sourceAccountNo")),
            "Missing Mandatory Field sourceAccountNo",
        ),
        (
            "4001801",
            |b| b["transactionDate"] = json!("09/11/2022"),
            "Invalid Field Format transactionDate",
        ),
        (
            "4001801",
            |b| b["feeType"] = json!("BEN"),
            "Invalid Field Format feeType",
        ),
        (
            "4001802",
            |b| drop(b.as_object_mut().unwrap().remove("originatorInfos")),
            "Missing Mandatory Field originatorInfos",
        ),
        (
            "4001802",
            |b| {
                drop(
                    b["originatorInfos"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("originatorBankCode"),
                )
            },
            "Missing Mandatory Field originatorInfos[0].originatorBankCode",
        ),
        (
            "4001802",
            |b| drop(b.as_object_mut().unwrap().remove("additionalInfo")),
            "Missing Mandatory Field additionalInfo",
        ),
        (
            "4001801",
            |b| b["additionalInfo"] = json!("x"),
            "Invalid Field Format additionalInfo",
        ),
        (
            "4001801",
            |b| b["additionalInfo"]["transactionPurpose"] = json!("4"),
            "Invalid Field Format additionalInfo.transactionPurpose",
        ),
        (
            "4001802",
            |b| {
                drop(
                    b["additionalInfo"]
                        .as_object_mut()
                        .unwrap()
                        .remove("senderCity"),
                )
            },
            "Missing Mandatory Field additionalInfo.senderCity",
        ),
        (
            "4001801",
            |b| b["additionalInfo"]["isVirtualAccount"] = json!("X"),
            "Invalid Field Format additionalInfo.isVirtualAccount",
        ),
        (
            "4001801",
            |b| b["additionalInfo"]["remark"] = json!("bonus!"),
            "Invalid Field Format additionalInfo.remark",
        ),
        (
            "4001801",
            |b| b["additionalInfo"]["senderDateOfBirth"] = json!("17-08-1992"),
            "Invalid Field Format additionalInfo.senderDateOfBirth",
        ),
        (
            "4001801",
            |b| b["additionalInfo"]["senderJob"] = json!("astronaut"),
            "Invalid Field Format additionalInfo.senderJob",
        ),
        (
            "4031802",
            |b| b["amount"]["value"] = json!("9999.99"),
            "Exceeds Transaction Amount Limit",
        ),
        (
            "4031802",
            |b| b["amount"]["value"] = json!("250000000.01"),
            "Exceeds Transaction Amount Limit",
        ),
        (
            "4041811",
            |b| b["beneficiaryAccountNo"] = json!("9000000002"),
            "Invalid Account",
        ),
        (
            "4031814",
            |b| b["beneficiaryAccountNo"] = json!("9000000003"),
            "Insufficient Funds",
        ),
    ];
    for (code, edit, message) in cases {
        let mut body = transfer_body(&reference("VAL"), "8753293240", "10000.00");
        edit(&mut body);
        let (s, v) = ifp.post(&token, TRANSFER, &body).await;
        assert_eq!(v["responseCode"], code, "{message}: {v}");
        assert_eq!(v["responseMessage"], message, "{v}");
        assert_eq!(s.to_string(), code[..3], "{v}");
        assert_eq!(
            sb.booked(
                "ifortepay",
                body["partnerReferenceNo"].as_str().unwrap_or("none")
            )
            .await,
            0
        );
    }
    // Both limits are inclusive.
    for value in ["10000.00", "250000000.00"] {
        let (s, v) = ifp
            .post(
                &token,
                TRANSFER,
                &transfer_body(&reference("LIM"), "8753293240", value),
            )
            .await;
        assert_eq!(s, 202, "{v}");
    }
}

#[tokio::test]
async fn balance_runs_out() {
    let sb = spawn(|c| c.ifortepay.initial_balance = "20000.00".into()).await;
    let ifp = sb.ifortepay();
    let token = ifp.token().await;
    let (s, _) = ifp
        .post(
            &token,
            TRANSFER,
            &transfer_body(&reference("BAL"), "1", "17000.00"),
        )
        .await;
    assert_eq!(s, 202);
    let r = reference("BAL");
    let (s, v) = ifp
        .post(&token, TRANSFER, &transfer_body(&r, "1", "10000.00"))
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (403, Some("4031814")),
        "{v}"
    );
    assert_eq!(sb.booked("ifortepay", &r).await, 0);
}

#[tokio::test]
async fn snap_gate_rejects_bad_token_signature_and_headers() {
    let sb = spawn(|_| {}).await;
    let ifp = sb.ifortepay();
    let token = ifp.token().await;
    let body = transfer_body(&reference("GATE"), "1", "10000.00").to_string();
    let build = || ifp.build(&token, reqwest::Method::POST, TRANSFER, &body);
    let check = |expected: &'static str| {
        move |(s, v): (u16, Value)| {
            assert_eq!(v["responseCode"], expected, "{v}");
            assert_eq!(s.to_string(), expected[..3]);
        }
    };

    let mut tampered = build();
    tampered.body = tampered.body.replace("10000.00", "90000.00");
    check("4011800")(ifp.send(tampered).await);
    check("4011803")(
        ifp.send(build().set("Authorization", "Bearer not-issued-here"))
            .await,
    );
    check("4011801")(ifp.send(build().set("Authorization", "Basic abc")).await);
    check("4011800")(ifp.send(build().set("X-PARTNER-ID", "OTHER")).await);
    check("4001801")(ifp.send(build().set("CHANNEL-ID", "web")).await);
    check("4001801")(ifp.send(build().set("X-EXTERNAL-ID", "12ab")).await);
    check("4001802")(ifp.send(build().remove("X-EXTERNAL-ID")).await);
    check("4001802")(ifp.send(build().remove("X-SIGNATURE")).await);
    // Signed with the full URL instead of the relative path.
    let abs = format!("{}{}{TRANSFER}", ifp.base, ifp.prefix);
    check("4011800")(
        ifp.send(ifp.build_signed_as(
            &token,
            reqwest::Method::POST,
            &format!("/ifortepay{TRANSFER}"),
            &abs,
            &body,
        ))
        .await,
    );
    // A NICEPAY token is not an iFortepay token.
    let np_token = sb.nicepay().token().await;
    check("4011803")(
        ifp.send(ifp.build(&np_token, reqwest::Method::POST, TRANSFER, &body))
            .await,
    );

    // Pretty-printed raw body: the signature covers minify(raw bytes).
    let pretty =
        serde_json::to_string_pretty(&transfer_body(&reference("GATE"), "1", "10000.00")).unwrap();
    let (s, v) = ifp
        .send(ifp.build(&token, reqwest::Method::POST, TRANSFER, &pretty))
        .await;
    assert_eq!(s, 202, "{v}");

    // Expired token: 401xx01 (refresh), then a fresh token works.
    sb.admin_post("/admin/tokens/expire", json!({})).await;
    check("4011801")(ifp.send(build()).await);
    let fresh = ifp.token().await;
    let (s, v) = ifp
        .post(
            &fresh,
            TRANSFER,
            &transfer_body(&reference("GATE"), "1", "10000.00"),
        )
        .await;
    assert_eq!(s, 202, "{v}");
}

#[tokio::test]
async fn settlement_success_cancel_stuck_and_history() {
    let sb = spawn(|_| {}).await;
    let ifp = sb.ifortepay();
    let token = ifp.token().await;
    let ok = reference("SET");
    let cancel = reference("SET");
    let stuck = reference("SET");
    for (r, account) in [
        (&ok, "8753293240"),
        (&cancel, "9000000001"),
        (&stuck, "9000000004"),
    ] {
        let (s, v) = ifp
            .post(&token, TRANSFER, &transfer_body(r, account, "100000.00"))
            .await;
        assert_eq!(s, 202, "{v}");
    }
    let (_, bal) = sb.admin_get("/admin/balances").await;
    assert_eq!(bal["ifortepay"], "9999691000.00");
    assert_eq!(sb.settle().await, 2);
    let (_, bal) = sb.admin_get("/admin/balances").await;
    assert_eq!(
        bal["ifortepay"], "9999794000.00",
        "the cancelled transfer was refunded"
    );

    let detail = |r: String| {
        let ifp = ifp.clone();
        let token = token.clone();
        async move {
            let body =
                json!({"originPartnerReferenceNo": r, "additionalInfo": {"type": "SEND_MONEY"}});
            ifp.post(&token, "/api/v1.0/transaction-history-detail", &body)
                .await
        }
    };
    let (s, v) = detail(ok.clone()).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (200, Some("2001300")),
        "{v}"
    );
    assert_eq!(v["additionalInfo"]["status"], "SUCCESS");
    let (_, v) = detail(cancel.clone()).await;
    assert_eq!(v["additionalInfo"]["status"], "CANCELLED");
    assert_eq!(
        v["additionalInfo"]["cancelledReason"],
        "External Server Error"
    );
    let (_, v) = detail(stuck.clone()).await;
    assert_eq!(v["additionalInfo"]["status"], "INIT");
    let (s, v) = detail("never-sent".into()).await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (404, Some("4041301")),
        "{v}"
    );
    let (s, v) = ifp
        .post(
            &token,
            "/api/v1.0/transaction-history-detail",
            &json!({"originPartnerReferenceNo": ok, "additionalInfo": {"type": "X"}}),
        )
        .await;
    assert_eq!(
        (s, v["responseMessage"].as_str()),
        (400, Some("Invalid Field Format additionalInfo.type"))
    );

    // History list: paging, filter, 3-month limit.
    let from = "2020-01-01T00:00:00+07:00";
    let now = jakarta_now();
    let list = |extra: Value| {
        let mut body = json!({"fromDateTime": from, "toDateTime": now, "pageSize": 2});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let today = &now[..10];
    let recent = format!("{today}T00:00:00+07:00");
    let (s, v) = ifp
        .post(
            &token,
            "/api/v1.0/transaction-history-list",
            &list(json!({"fromDateTime": recent})),
        )
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (200, Some("2001200")),
        "{v}"
    );
    assert_eq!(v["detailData"].as_array().unwrap().len(), 2);
    assert_eq!(v["additionalInfo"]["totalData"], 3);
    assert_eq!(v["additionalInfo"]["totalPage"], 2);
    let (_, v) = ifp
        .post(
            &token,
            "/api/v1.0/transaction-history-list",
            &list(json!({"fromDateTime": recent, "pageNumber": 2})),
        )
        .await;
    assert_eq!(v["detailData"].as_array().unwrap().len(), 1);
    let (_, v) = ifp
        .post(
            &token,
            "/api/v1.0/transaction-history-list",
            &list(json!({"fromDateTime": recent, "filter": "CANCELLED"})),
        )
        .await;
    assert_eq!(
        v["detailData"][0]["additionalInfo"]["partnerReferenceNo"],
        cancel
    );
    let (s, v) = ifp
        .post(
            &token,
            "/api/v1.0/transaction-history-list",
            &list(json!({})),
        )
        .await;
    assert_eq!(
        (s, v["responseMessage"].as_str()),
        (400, Some("Invalid Field Format toDateTime")),
        "{v}"
    );
    let (s, v) = ifp
        .post(
            &token,
            "/api/v1.0/transaction-history-list",
            &json!({"toDateTime": now}),
        )
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (400, Some("4001202")),
        "{v}"
    );
}

#[tokio::test]
async fn zero_delay_and_cancel_ratio() {
    let sb = spawn(|c| c.settlement_delay_ms = 0).await;
    let ifp = sb.ifortepay();
    let token = ifp.token().await;
    let (s, v) = ifp
        .post(
            &token,
            TRANSFER,
            &transfer_body(&reference("ZERO"), "1", "10000.00"),
        )
        .await;
    assert_eq!(
        (s, v["responseCode"].as_str()),
        (200, Some("2001800")),
        "{v}"
    );
    assert_eq!(v["additionalInfo"]["status"], "SUCCESS");
    let (_, v) = ifp
        .post(
            &token,
            TRANSFER,
            &transfer_body(&reference("ZERO"), "9000000001", "10000.00"),
        )
        .await;
    assert_eq!(
        (
            v["responseCode"].as_str(),
            v["additionalInfo"]["status"].as_str()
        ),
        (Some("2001800"), Some("CANCELLED"))
    );
    let (_, v) = ifp
        .post(
            &token,
            TRANSFER,
            &transfer_body(&reference("ZERO"), "9000000004", "10000.00"),
        )
        .await;
    assert_eq!(
        v["responseCode"], "2021800",
        "stuck stays INIT even with zero delay"
    );

    let sb = spawn(|c| {
        c.settlement_delay_ms = 0;
        c.cancel_ratio = 1.0;
    })
    .await;
    let ifp = sb.ifortepay();
    let token = ifp.token().await;
    let (_, v) = ifp
        .post(
            &token,
            TRANSFER,
            &transfer_body(&reference("RATIO"), "1", "10000.00"),
        )
        .await;
    assert_eq!(v["additionalInfo"]["status"], "CANCELLED");
    let (_, v) = ifp
        .post(
            &token,
            TRANSFER,
            &transfer_body(&reference("RATIO"), "9000000005", "10000.00"),
        )
        .await;
    assert_eq!(
        v["additionalInfo"]["status"], "SUCCESS",
        "magic success beats the ratio"
    );
}

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

#[tokio::test]
async fn signed_callback_on_final_status_is_retried_until_200() {
    let mut rx = receiver("/callbacks/ifortepay", 1, Arc::new(verify_ifortepay)).await;
    let url = rx.url.clone();
    let sb = spawn(move |c| {
        c.ifortepay.callback_url = url;
        // The settler (not /admin/settle) drives this one.
        c.settlement_delay_ms = 50;
    })
    .await;
    let ifp = sb.ifortepay();
    let token = ifp.token().await;
    let r = reference("CB");
    ifp.post(
        &token,
        TRANSFER,
        &transfer_body(&r, "8753293240", "10000.00"),
    )
    .await;
    let first = rx.next().await;
    assert!(first.valid, "signature verified by the test's own HMAC");
    assert_eq!(hdr(&first.headers, "X-VERSION"), "1.0");
    assert_eq!(first.json["partnerReferenceNo"], r);
    assert_eq!(first.json["additionalInfo"]["status"], "SUCCESS");
    let retry = rx.next().await; // the receiver answered 500 to the first one
    assert!(retry.valid);
    assert_eq!(retry.json["partnerReferenceNo"], r);
    let log = sb.callbacks_until(2).await;
    let attempts: Vec<(u64, u64)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["attempt"].as_u64().unwrap(),
                e["http_status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(attempts, vec![(1, 500), (2, 200)]);
}
