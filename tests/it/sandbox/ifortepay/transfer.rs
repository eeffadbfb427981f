//! iFortepay transfer interbank: booking, duplicates, the request table field by
//! field, and the balance running out.

use super::*;

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
