use super::*;
use crate::domain::Beneficiary;
use crate::domain::{AccountNumber, BankCode, ExternalId, PartnerReference};

fn transfer(amount: &str) -> TransferRequest {
    TransferRequest {
        partner_reference: PartnerReference::parse("TRX-2026-000001").unwrap(),
        amount: Money::parse(amount, "amount").unwrap(),
        beneficiary: Beneficiary {
            account_no: AccountNumber::parse("1234567890").unwrap(),
            bank_code: BankCode::parse("014").unwrap(),
            name: String::new(),
            email: None,
            phone: None,
            address: None,
            residence: None,
            customer_type: None,
        },
        remark: Some("Payout gaji/BONUS".into()),
        external_id: ExternalId::parse("1").unwrap(),
        transaction_date: "2026-01-01T00:00:00+07:00".into(),
        earlier_send_unknown: false,
        fence: Default::default(),
    }
}

fn ans(status: u16, body: Value) -> SingapayAnswer {
    SingapayAnswer::new(status, None, Some(body))
}

/// The field names of the SDK's live test (`bank_account_number`, no
/// `beneficiary_account_number`) and the Laravel documentation (`notes`, no `remark`).
#[test]
fn v2_body_uses_the_public_field_names() {
    let body = v2_transfer_body(&transfer("50000"), "01J5XW8LD0R6M9CJEXAMPLE01").unwrap();
    assert_eq!(
        super::super::signature::canonical_json(&body),
        "{\"account_id\":\"01J5XW8LD0R6M9CJEXAMPLE01\",\"amount\":50000,\"bank_account_number\":\"1234567890\",\"bank_code\":\"014\",\"notes\":\"Payout gaji/BONUS\",\"reference_number\":\"TRX-2026-000001\"}"
    );
    let e = v2_transfer_body(&transfer("50000.50"), "a").unwrap_err();
    assert_eq!(e.field, "amount");
    assert!(e.rule.contains("whole rupiah"));
    let e = v2_transfer_body(&transfer("5000"), "a").unwrap_err();
    assert_eq!(e.field, "amount");
}

#[test]
fn codes() {
    let cases = [
        (500, "SP001", "unknown"),
        (400, "SP001", "unknown"),
        (409, "SP004", "unknown"),
        (504, "SP005", "unknown"),
        (400, "SP005", "unknown"),
        // SP002 GeneralFailure and SP019 GeneralError say nothing about the transfer.
        (400, "SP002", "unknown"),
        (400, "SP019", "unknown"),
        (403, "SP003", "final_failure"),
        (403, "SP006", "final_failure"),
        (403, "SP007", "final_failure"),
        // SP010 BeneficiaryAccountNotFound: final, not "too many requests".
        (404, "SP010", "final_failure"),
        (422, "SP018", "final_failure"),
        // A transient HTTP status is never final, whatever the code.
        (429, "SP010", "retryable"),
        (429, "SP003", "retryable"),
        (503, "SP018", "unknown"),
        (401, "SP013", "retryable"),
    ];
    for (http, code, label) in cases {
        let a = ans(
            http,
            json!({"status": http, "success": false, "response_code": code}),
        );
        assert_eq!(v2_transfer_outcome(&a).label(), label, "{code}");
    }
    let a = ans(
        404,
        json!({"success": false, "response_code": "SP009", "data": {"transaction_status": {"code": "07"}}}),
    );
    assert_eq!(v2_inquiry_outcome(&a), Outcome::NotFound);
    // SP009 TransactionNotFound without a status code: not found, never failed.
    let a = ans(404, json!({"success": false, "response_code": "SP009"}));
    assert_eq!(v2_inquiry_outcome(&a), Outcome::NotFound);
    // Unparsable body on a transfer: unknown.
    assert_eq!(
        v2_transfer_outcome(&SingapayAnswer::new(200, None, None)).label(),
        "unknown"
    );
    assert_eq!(
        v2_transfer_outcome(&SingapayAnswer::new(502, None, None)).label(),
        "unknown"
    );
}

#[test]
fn v2_status_table() {
    let cases = [
        ("00", "success"),
        ("01", "in_progress"),
        ("02", "in_progress"),
        ("03", "in_progress"),
        ("04", "cancelled"),
        ("05", "cancelled"),
        ("06", "final_failure"),
        ("07", "not_found"),
    ];
    for (code, label) in cases {
        let a = ans(
            200,
            json!({"success": true, "response_code": "SP000", "data": {"transaction_id": "36000001", "transaction_status": {"code": code}}}),
        );
        assert_eq!(v2_inquiry_outcome(&a).label(), label, "{code}");
    }
    let ok = ans(
        200,
        json!({"success": true, "response_code": "SP000", "data": {"transaction_id": 36000001, "transaction_status": {"code": "01"}}}),
    );
    assert_eq!(
        v2_transfer_outcome(&ok),
        Outcome::InProgress {
            reference: Some("36000001".into())
        }
    );
}

#[test]
fn v1_seed_example_nested_envelope() {
    let a = ans(
        200,
        json!({"status": 200, "success": true, "data": {"status": 200, "success": true, "data": {"id": "4565456565", "status": "success"}}}),
    );
    assert_eq!(
        v1_transfer_outcome(&a),
        Outcome::Success {
            reference: Some("4565456565".into())
        }
    );
    let err = ans(
        401,
        json!({"status": 401, "success": false, "error": {"code": 401, "message": "Unauthorized partner, please sign in"}}),
    );
    assert!(err.wants_new_token());
    // `transfer()`'s remark has a slash, which v1.0's Alphabetic `notes` refuses:
    // without a remark there are no notes.
    let mut bare = transfer("11000");
    bare.remark = None;
    let body = v1_transfer_request(&bare).unwrap();
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        r#"{"amount":"11000.00","currency":"IDR","bank_swift_code":"014","bank_account_number":"1234567890"}"#
    );
    let mut t = transfer("11000");
    t.remark = Some("lorem ipsum".into());
    let body = v1_transfer_request(&t).unwrap();
    assert_eq!(body.notes.as_deref(), Some("lorem ipsum"));
}

/// v1's `notes` is "Alphabetic": never the partner reference, and a remark with
/// digits or punctuation is refused at the door, named.
#[test]
fn v1_notes_are_alphabetic() {
    let mut t = transfer("11000");
    t.remark = None;
    let body = v1_transfer_request(&t).unwrap();
    assert_eq!(body.notes, None, "never the partner reference");
    for bad in ["TRX-2026-000001", "Payout gaji/BONUS", "two  spaces", " "] {
        t.remark = Some(bad.into());
        let e = v1_transfer_request(&t).map(|b| b.notes).unwrap_err();
        assert_eq!(e.field, "remark", "{bad:?}");
    }
    t.remark = Some("Payout gaji BONUS".into());
    let body = v1_transfer_request(&t).unwrap();
    assert_eq!(body.notes.as_deref(), Some("Payout gaji BONUS"));
}

#[test]
fn token_answer() {
    let a = ans(
        200,
        json!({"status": 200, "success": true, "data": {"access_token": "t", "expires_in": "900"}}),
    );
    assert_eq!(
        token_result(&a).unwrap(),
        ("t".into(), Some(Duration::from_secs(900)))
    );
    // The token call refused: our credentials, not a failed transfer.
    let bad = ans(401, json!({"success": false, "response_code": "SP016"}));
    assert_eq!(token_result(&bad).unwrap_err().label(), "refused");
    let bare = ans(401, json!({"success": false}));
    assert_eq!(token_result(&bare).unwrap_err().label(), "refused");
}

#[test]
fn refused_requests_on_a_transfer() {
    for (http, code, message) in [
        (401, "SP016", "Signature invalid"),
        (404, "SP020", "Merchant account not found"),
        (403, "SP017", "Unauthorized IP"),
        (400, "SP012", "Invalid X-Signature"),
        (422, "SP018", "x-timestamp is mandatory"),
        (400, "SP012", "Missing Authorization"),
    ] {
        let a = ans(
            http,
            json!({"success": false, "response_code": code, "response_message": message}),
        );
        assert_eq!(
            v2_transfer_outcome(&a),
            Outcome::Refused {
                code: code.into(),
                message: message.into()
            },
            "{code} {message}"
        );
        assert_eq!(v1_transfer_outcome(&a).label(), "refused", "{code}");
    }
    // A bare 4xx (a WAF's HTML 403, a route's 404, a 401 still refused after the
    // one token refresh) says nothing about the transfer.
    for status in [400, 401, 403, 404, 405, 451] {
        let o = v2_transfer_outcome(&SingapayAnswer::new(status, None, None));
        assert_eq!(
            o,
            Outcome::Refused {
                code: format!("HTTP{status}"),
                message: "(no response_message)".into()
            }
        );
    }
    // An unrecognised code with a 4xx is a bare 4xx.
    let odd = ans(403, json!({"success": false, "response_code": "SP099"}));
    assert_eq!(v2_transfer_outcome(&odd).label(), "refused");
    // 408, 409, 5xx: may have been booked.
    for status in [408, 409, 500, 504] {
        let o = v2_transfer_outcome(&SingapayAnswer::new(status, None, None));
        assert_eq!(o.label(), "unknown", "HTTP {status}");
    }
    // The business answers stay final.
    let body = ans(
        422,
        json!({"success": false, "response_code": "SP018", "response_message": "amount is mandatory"}),
    );
    assert_eq!(v2_transfer_outcome(&body).label(), "final_failure");
    let funds = ans(403, json!({"success": false, "response_code": "SP006"}));
    assert_eq!(
        v2_transfer_outcome(&funds),
        Outcome::FinalFailure {
            code: "SP006".into(),
            message: "(no response_message)".into()
        }
    );
    // SP009 on a transfer is no refusal of it: inquire.
    let nf = ans(404, json!({"success": false, "response_code": "SP009"}));
    assert_eq!(v2_transfer_outcome(&nf).label(), "unknown");
    assert_eq!(v1_transfer_outcome(&nf).label(), "unknown");
}

#[test]
fn no_request_level_no_fails_the_transfer_on_an_inquiry() {
    for (http, code) in [
        (401, "SP016"),
        (422, "SP018"),
        (403, "SP006"),
        (404, "SP010"),
        (404, "SP020"),
    ] {
        let a = ans(http, json!({"success": false, "response_code": code}));
        assert_eq!(
            v2_inquiry_outcome(&a),
            Outcome::Refused {
                code: code.into(),
                message: "(no response_message)".into()
            },
            "{code}"
        );
    }
    for status in [401, 403, 404] {
        let o = v2_inquiry_outcome(&SingapayAnswer::new(status, None, None));
        assert_eq!(o.label(), "refused", "HTTP {status}");
    }
    for (status, code) in [
        (500, "SP001"),
        (504, "SP005"),
        (429, "SP010"),
        (400, "SP002"),
    ] {
        let a = ans(status, json!({"success": false, "response_code": code}));
        assert_eq!(v2_inquiry_outcome(&a).label(), "retryable", "{code}");
    }
    let nf = ans(404, json!({"success": false, "response_code": "SP009"}));
    assert_eq!(v2_inquiry_outcome(&nf), Outcome::NotFound);
    // An unrecognised code on an inquiry is inconclusive.
    let odd = ans(404, json!({"success": false, "response_code": "SP099"}));
    assert_eq!(v2_inquiry_outcome(&odd).label(), "unknown");
    // Only the transaction's status finalises.
    let failed = ans(
        200,
        json!({"success": true, "response_code": "SP000", "data": {"transaction_status": {"code": "06", "description": "rejected by bank"}}}),
    );
    assert_eq!(
        v2_inquiry_outcome(&failed),
        Outcome::FinalFailure {
            code: "06".into(),
            message: "rejected by bank".into()
        }
    );
}
