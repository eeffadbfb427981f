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
        },
        remark: Some("Payout gaji/BONUS".into()),
        external_id: ExternalId::parse("1").unwrap(),
        transaction_date: "2026-01-01T00:00:00+07:00".into(),
        fence: Default::default(),
    }
}

fn ans(status: u16, body: Value) -> SingapayAnswer {
    SingapayAnswer::new(status, None, Some(body))
}

#[test]
fn v2_body_matches_the_realistic_vector() {
    let body = v2_transfer_body(&transfer("50000"), "01J5XW8LD0R6M9CJEXAMPLE01").unwrap();
    assert_eq!(
        super::super::signature::canonical_json(&body),
        "{\"account_id\":\"01J5XW8LD0R6M9CJEXAMPLE01\",\"amount\":50000,\"bank_code\":\"014\",\"beneficiary_account_number\":\"1234567890\",\"reference_number\":\"TRX-2026-000001\",\"remark\":\"Payout gaji/BONUS\"}"
    );
    let e = v2_transfer_body(&transfer("50000.50"), "a").unwrap_err();
    assert_eq!(e.field, "amount");
    assert!(e.rule.contains("whole rupiah"));
}

#[test]
fn codes() {
    let cases = [
        (500, "SP001", "unknown"),
        (409, "SP004", "unknown"),
        (504, "SP005", "unknown"),
        (400, "SP002", "final_failure"),
        (403, "SP006", "final_failure"),
        (404, "SP007", "final_failure"),
        (429, "SP010", "retryable"),
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
        json!({"success": false, "response_code": "SP008", "data": {"transaction_status": {"code": "07"}}}),
    );
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
    let body = v1_transfer_request(&transfer("11000")).unwrap();
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        r#"{"amount":"11000.00","currency":"IDR","bank_swift_code":"014","bank_account_number":"1234567890","notes":"TRX-2026-000001"}"#
    );
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
    let bad = ans(401, json!({"success": false, "response_code": "SP003"}));
    assert_eq!(token_result(&bad).unwrap_err().label(), "refused");
    let bare = ans(401, json!({"success": false}));
    assert_eq!(token_result(&bare).unwrap_err().label(), "refused");
}

#[test]
fn refused_requests_on_a_transfer() {
    for (http, code, message) in [
        (401, "SP003", "Unauthorized"),
        (404, "SP011", "Unknown account_id"),
        (400, "SP002", "Invalid X-Signature"),
        (400, "SP002", "x-timestamp is mandatory"),
        (400, "SP002", "Missing Authorization"),
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
        400,
        json!({"success": false, "response_code": "SP002", "response_message": "amount is mandatory"}),
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
    // SP008 on a transfer is no refusal of it: inquire.
    let nf = ans(404, json!({"success": false, "response_code": "SP008"}));
    assert_eq!(v2_transfer_outcome(&nf).label(), "unknown");
    assert_eq!(v1_transfer_outcome(&nf).label(), "unknown");
}

#[test]
fn no_request_level_no_fails_the_transfer_on_an_inquiry() {
    for (http, code) in [
        (401, "SP003"),
        (400, "SP002"),
        (403, "SP006"),
        (404, "SP007"),
        (404, "SP011"),
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
    for (status, code) in [(500, "SP001"), (504, "SP005"), (429, "SP010")] {
        let a = ans(status, json!({"success": false, "response_code": code}));
        assert_eq!(v2_inquiry_outcome(&a).label(), "retryable", "{code}");
    }
    let nf = ans(404, json!({"success": false, "response_code": "SP008"}));
    assert_eq!(v2_inquiry_outcome(&nf), Outcome::NotFound);
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
