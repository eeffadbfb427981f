use serde_json::json;

use super::*;
use crate::domain::Beneficiary;
use crate::domain::{AccountNumber, BankCode, ExternalId, PartnerReference};

pub(crate) fn merchant() -> IfortepayMerchant {
    IfortepayMerchant {
        source_account_no: "123812939120".into(),
        originator_customer_no: "053229281239".into(),
        originator_customer_name: "PT Kirim".into(),
        originator_bank_code: "014".into(),
        sender_country: "ID".into(),
        sender_city: "3173".into(),
        beneficiary_country: "ID".into(),
        beneficiary_city: "3173".into(),
        transaction_purpose: "3".into(),
        is_virtual_account: "N".into(),
        fee_type: "OUR".into(),
    }
}

pub(crate) fn transfer(amount: u64) -> TransferRequest {
    TransferRequest {
        partner_reference: PartnerReference::parse("INV-1").unwrap(),
        amount: Money::from_rupiah(amount),
        beneficiary: Beneficiary {
            account_no: AccountNumber::parse("8753293240").unwrap(),
            bank_code: BankCode::parse("014").unwrap(),
            name: "Test BCA".into(),
            email: None,
            phone: None,
            address: None,
            residence: None,
            customer_type: None,
        },
        remark: Some("Gaji Nov, 2026.".into()),
        external_id: ExternalId::parse("1672977134961").unwrap(),
        transaction_date: "2022-11-09T07:00:00.123Z".into(),
        earlier_send_unknown: false,
        fence: Default::default(),
    }
}

fn answer(status: u16, body: Value) -> SnapAnswer {
    SnapAnswer::new(status, None, Some(body))
}

#[test]
fn transfer_body_has_every_mandatory_field() {
    let body = transfer_request(&transfer(10_000), &merchant()).unwrap();
    let v = serde_json::to_value(&body).unwrap();
    assert_eq!(v["amount"], json!({"value": "10000.00", "currency": "IDR"}));
    assert_eq!(v["transactionDate"], "2022-11-09T14:00:00+07:00");
    assert_eq!(v["feeType"], "OUR");
    assert_eq!(v["sourceAccountNo"], "123812939120");
    assert_eq!(v["originatorInfos"][0]["originatorBankCode"], "014");
    assert_eq!(v["additionalInfo"]["transactionPurpose"], "3");
    assert_eq!(v["additionalInfo"]["isVirtualAccount"], "N");
    assert_eq!(v["additionalInfo"]["senderCity"], "3173");
    assert!(v.get("beneficiaryEmail").is_none());
    let text = serde_json::to_string(&body).unwrap();
    assert!(
        text.starts_with("{\"partnerReferenceNo\":\"INV-1\",\"amount\":"),
        "{text}"
    );
}

#[test]
fn transfer_validation_names_field_and_rule() {
    let m = merchant();
    let cases: Vec<(TransferRequest, IfortepayMerchant, &str, &str)> = vec![
        (
            transfer(9_999),
            m.clone(),
            "amount.value",
            "between 10000.00 and 250000000.00",
        ),
        (transfer(250_000_001), m.clone(), "amount.value", "between"),
        (
            {
                let mut t = transfer(10_000);
                t.remark = Some("50% off!".into());
                t
            },
            m.clone(),
            "additionalInfo.remark",
            "only letters",
        ),
        (
            {
                let mut t = transfer(10_000);
                t.remark = Some("x".repeat(101));
                t
            },
            m.clone(),
            "additionalInfo.remark",
            "at most 100",
        ),
        (
            {
                let mut t = transfer(10_000);
                t.beneficiary.name = String::new();
                t
            },
            m.clone(),
            "beneficiaryAccountName",
            "mandatory",
        ),
        (
            {
                let mut t = transfer(10_000);
                t.transaction_date = "yesterday".into();
                t
            },
            m.clone(),
            "transactionDate",
            "ISO-8601",
        ),
        (
            transfer(10_000),
            IfortepayMerchant {
                transaction_purpose: "4".into(),
                ..m.clone()
            },
            "additionalInfo.transactionPurpose",
            "\"1\", \"2\", \"3\"",
        ),
        (
            transfer(10_000),
            IfortepayMerchant {
                fee_type: "BEN".into(),
                ..m.clone()
            },
            "feeType",
            "\"OUR\"",
        ),
        (
            transfer(10_000),
            IfortepayMerchant {
                is_virtual_account: "yes".into(),
                ..m.clone()
            },
            "additionalInfo.isVirtualAccount",
            "\"Y\", \"N\"",
        ),
        (
            transfer(10_000),
            IfortepayMerchant {
                source_account_no: "1".repeat(20),
                ..m.clone()
            },
            "sourceAccountNo",
            "at most 19",
        ),
        (
            transfer(10_000),
            IfortepayMerchant {
                sender_city: String::new(),
                ..m.clone()
            },
            "additionalInfo.senderCity",
            "mandatory",
        ),
    ];
    for (req, m, field, rule) in cases {
        let e = transfer_request(&req, &m).unwrap_err();
        assert_eq!(e.field, field, "{e}");
        assert!(e.rule.contains(rule), "{field}: {}", e.rule);
    }
    assert!(transfer_request(&transfer(250_000_000), &merchant()).is_ok());
}

#[test]
fn transfer_answers() {
    let pending = answer(
        200,
        json!({"responseCode": "2021800", "referenceNo": "STI1", "additionalInfo": {"status": "INIT"}}),
    );
    assert_eq!(
        transfer_outcome(&pending),
        Outcome::InProgress {
            reference: Some("STI1".into())
        }
    );
    let ok = answer(
        200,
        json!({"responseCode": "2001800", "referenceNo": "STI1", "additionalInfo": {"status": "SUCCESS"}}),
    );
    assert_eq!(transfer_outcome(&ok).label(), "success");
    let cancelled = answer(
        200,
        json!({"responseCode": "2001800", "additionalInfo": {"status": "CANCELLED", "cancelledReason": "External Server Error"}}),
    );
    assert_eq!(
        transfer_outcome(&cancelled),
        Outcome::Cancelled {
            reference: None,
            reason: "External Server Error".into()
        }
    );
    let odd = answer(
        200,
        json!({"responseCode": "2001800", "additionalInfo": {"status": "HELD"}}),
    );
    assert_eq!(transfer_outcome(&odd).label(), "unknown");
    let invalid = answer(
        404,
        json!({"responseCode": "4041811", "responseMessage": "Invalid Account"}),
    );
    assert_eq!(
        transfer_outcome(&invalid),
        Outcome::FinalFailure {
            code: "4041811".into(),
            message: "Invalid Account".into()
        }
    );
    for code in ["4091800", "4091801", "5001800", "5041800"] {
        assert_eq!(
            transfer_outcome(&answer(500, json!({"responseCode": code}))).label(),
            "unknown"
        );
    }
    assert_eq!(
        transfer_outcome(&answer(429, json!({"responseCode": "4291800"}))).label(),
        "retryable"
    );
    assert_eq!(
        transfer_outcome(&answer(401, json!({"responseCode": "4011801"}))).label(),
        "retryable"
    );
    let malformed = SnapAnswer::new(200, None, None);
    assert_eq!(transfer_outcome(&malformed).label(), "unknown");
}

#[test]
fn history_detail_answers() {
    let found = answer(
        200,
        json!({"responseCode": "2001300", "referenceNo": "STI9", "status": "SUCCESS"}),
    );
    assert_eq!(
        history_detail_outcome(&found),
        Outcome::Success {
            reference: Some("STI9".into())
        }
    );
    let nested = answer(
        200,
        json!({"responseCode": "2001300", "detailData": {"referenceNo": "STI9", "additionalInfo": {"status": "INIT"}}}),
    );
    assert_eq!(history_detail_outcome(&nested).label(), "in_progress");
    let missing = answer(404, json!({"responseCode": "4041301"}));
    assert_eq!(history_detail_outcome(&missing), Outcome::NotFound);
    let q = StatusQuery {
        partner_reference: PartnerReference::parse("INV-1").unwrap(),
        provider_reference: None,
        amount: Money::from_rupiah(10_000),
        beneficiary_account_no: Some(AccountNumber::parse("1").unwrap()),
        transaction_date: "2022-11-09T14:00:00+07:00".into(),
        external_id: ExternalId::parse("1").unwrap(),
    };
    assert_eq!(
        serde_json::to_string(&history_detail_request(&q)).unwrap(),
        r#"{"originPartnerReferenceNo":"INV-1","additionalInfo":{"type":"SEND_MONEY"}}"#
    );
}

#[test]
fn account_inquiry_refusals() {
    let asked = AccountInquiryRequest {
        bank_code: BankCode::parse("014").unwrap(),
        account_no: AccountNumber::parse("8753293240").unwrap(),
        external_id: ExternalId::parse("1").unwrap(),
    };
    for code in ["4011600", "4041601", "4041616", "4047301"] {
        let e = account_inquiry_result(&answer(404, json!({"responseCode": code})), &asked)
            .unwrap_err();
        assert_eq!(e.label(), "refused", "{code}");
    }
}

#[test]
fn account_balance_profile() {
    let asked = AccountInquiryRequest {
        bank_code: BankCode::parse("014").unwrap(),
        account_no: AccountNumber::parse("8753293240").unwrap(),
        external_id: ExternalId::parse("1").unwrap(),
    };
    let ok = answer(
        200,
        json!({"responseCode": "2001600", "beneficiaryAccountName": "SDR EREN", "beneficiaryAccountNo": "8753293240"}),
    );
    assert_eq!(
        account_inquiry_result(&ok, &asked).unwrap().account_name,
        "SDR EREN"
    );
    let invalid = answer(
        404,
        json!({"responseCode": "4041611", "responseMessage": "Invalid Account"}),
    );
    assert_eq!(
        account_inquiry_result(&invalid, &asked)
            .unwrap_err()
            .label(),
        "final_failure"
    );

    let bal = answer(
        200,
        json!({"responseCode": "2001100", "accountInfos": [{"availableBalance": {"value": "1000.00", "currency": "IDR"}}]}),
    );
    assert_eq!(balance_result(&bal).unwrap().available.to_wire(), "1000.00");

    let prof = answer(
        200,
        json!({"responseCode": "2000000", "detailData": {"businessAccountNumber": "123812939120", "secretKey": "s"}}),
    );
    let p = profile_result(&prof).unwrap();
    assert_eq!(p.business_account_number, "123812939120");
    assert_eq!(p.detail["secretKey"], "[redacted]");
}

#[test]
fn history_list() {
    let q = HistoryQuery {
        from: "2026-01-01T00:00:00+07:00".into(),
        to: "2026-03-01T00:00:00+07:00".into(),
        page: 1,
        page_size: 2,
        external_id: ExternalId::parse("1").unwrap(),
    };
    // pageSize is "Int, length 2" (NOTES.md corrections): a JSON integer, ≤ 99,
    // and no page number (no source shows one).
    let body = serde_json::to_value(history_list_request(&q).unwrap()).unwrap();
    assert_eq!(body["pageSize"], json!(2));
    assert!(body.get("pageNumber").is_none(), "{body}");
    let max = HistoryQuery {
        page_size: 99,
        ..q.clone()
    };
    assert_eq!(
        serde_json::to_value(history_list_request(&max).unwrap()).unwrap()["pageSize"],
        json!(99)
    );
    for bad in [
        HistoryQuery {
            page_size: 100,
            ..q.clone()
        },
        HistoryQuery {
            page_size: 0,
            ..q.clone()
        },
    ] {
        assert_eq!(history_list_request(&bad).unwrap_err().field, "pageSize");
    }
    let page_two = HistoryQuery {
        page: 2,
        ..q.clone()
    };
    assert_eq!(
        history_list_request(&page_two).unwrap_err().field,
        "pageNumber"
    );
    let too_long = HistoryQuery {
        to: "2026-04-02T00:00:00+07:00".into(),
        ..q.clone()
    };
    assert_eq!(
        history_list_request(&too_long).unwrap_err().field,
        "toDateTime"
    );
    let a = answer(
        200,
        json!({"responseCode": "2001200", "detailData": [
            {"partnerReferenceNo": "A", "referenceNo": "R1", "amount": {"value": "10000.00", "currency": "IDR"}, "status": "SUCCESS"},
            {"partnerReferenceNo": "B", "amount": {"value": "20000.00", "currency": "IDR"}, "additionalInfo": {"status": "CANCELLED"}},
            {"amount": {"value": "30000.00", "currency": "IDR"}, "status": "INIT", "additionalInfo": {"partnerReferenceNo": "C", "referenceNo": "R3"}},
            {"nonsense": true}
        ]}),
    );
    let (page, skipped) = history_list_result(&a, &q).unwrap();
    assert_eq!(skipped, 1);
    assert_eq!(page.entries.len(), 3);
    assert_eq!(page.entries[2].provider_reference.as_deref(), Some("R3"));
    assert_eq!(page.entries[0].outcome.label(), "success");
    assert_eq!(page.entries[1].outcome.label(), "cancelled");
    assert!(
        !page.has_more,
        "no documented page number: there is no next page to ask for"
    );
}
