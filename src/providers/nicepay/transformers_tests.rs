use serde_json::{json, Value};

use super::*;
use crate::config::{EndpointUrlMode, HttpSettings};
use crate::domain::{AccountNumber, BankCode, Money, PartnerReference};
use crate::domain::{Beneficiary, CustomerType, Residence};

fn settings() -> NicepaySettings {
    NicepaySettings {
        enabled: true,
        http: HttpSettings {
            base_url: "http://x".into(),
            connect_timeout_ms: 1,
            request_timeout_ms: 1,
            token_refresh_margin_secs: 1,
        },
        client_id: "IONPAYTEST".into(),
        client_secret: None,
        client_secret_file: None,
        private_key_path: "k".into(),
        public_key_path: None,
        endpoint_url_mode: EndpointUrlMode::Relative,
        token_separator: "|".into(),
        unsigned_path_prefix: "/nicepay".into(),
        merchant_id: "IONPAYTEST".into(),
        ms_id: "MS0001".into(),
        beneficiary_customer_residence: "1".into(),
        beneficiary_customer_type: "1".into(),
        payout_method: "1".into(),
    }
}

fn transfer() -> TransferRequest {
    TransferRequest {
        partner_reference: PartnerReference::parse("NP-1").unwrap(),
        amount: Money::from_rupiah(50_000),
        beneficiary: Beneficiary {
            account_no: AccountNumber::parse("5345000060").unwrap(),
            bank_code: BankCode::parse("CENA").unwrap(),
            name: "Budi".into(),
            email: None,
            phone: Some("08123456789".into()),
            address: None,
            residence: None,
            customer_type: None,
        },
        remark: Some("payout".into()),
        external_id: ExternalId::parse("123456789012345678").unwrap(),
        transaction_date: "2026-01-01T00:00:00+07:00".into(),
        earlier_send_unknown: false,
        fence: Default::default(),
    }
}

fn answer(status: u16, body: Value) -> SnapAnswer {
    SnapAnswer::new(status, None, Some(body))
}

#[test]
fn message_ids_append_a_step_digit() {
    let id = ExternalId::parse("123").unwrap();
    assert_eq!(registration_external_id(&id), "1231");
    assert_eq!(approve_external_id(&id), "1232");
}

#[test]
fn registration_body_and_rules() {
    let body = registration_request(&transfer(), &settings()).unwrap();
    let v = serde_json::to_value(&body).unwrap();
    assert_eq!(v["merchantId"], "IONPAYTEST");
    assert_eq!(v["msId"], "MS0001");
    assert_eq!(v["amount"], json!({"value": "50000.00", "currency": "IDR"}));
    assert_eq!(v["beneficiaryCustomerResidence"], "1");

    let mut t = transfer();
    t.amount = Money::from_rupiah(1_000_000_000);
    assert_eq!(
        registration_request(&t, &settings()).unwrap_err().field,
        "amount.value"
    );
    let mut t = transfer();
    t.beneficiary.bank_code = BankCode::parse("12345").unwrap();
    let e = registration_request(&t, &settings()).unwrap_err();
    assert_eq!(e.field, "beneficiaryBankCode");
    assert!(e.rule.contains("at most 4"));
    let mut t = transfer();
    t.beneficiary.phone = Some("+62-81".into());
    assert_eq!(
        registration_request(&t, &settings()).unwrap_err().field,
        "beneficiaryPhone"
    );
    let s = NicepaySettings {
        beneficiary_customer_type: "4".into(),
        ..settings()
    };
    assert_eq!(
        registration_request(&transfer(), &s).unwrap_err().field,
        "beneficiaryCustomerType"
    );
    let mut t = transfer();
    t.external_id = ExternalId::parse(&"9".repeat(36)).unwrap();
    assert!(
        registration_request(&t, &settings()).is_ok(),
        "36 + 1 digits fit in 40"
    );
}

/// nicepay-payout-inquiry.txt:32-33: residence "1: Indonesia 2: Non Indonesia",
/// customer type "1: Personal 2: Company 3: Government".
#[test]
fn residence_and_customer_type_map_to_the_documented_codes() {
    assert_eq!(residence_code(Residence::Resident), "1");
    assert_eq!(residence_code(Residence::NonResident), "2");
    assert_eq!(customer_type_code(CustomerType::Individual), "1");
    assert_eq!(customer_type_code(CustomerType::Company), "2");
    assert_eq!(customer_type_code(CustomerType::Government), "3");
    // Every value maps to a documented code, and no two values share one.
    let r: Vec<_> = Residence::ALL.map(residence_code).into();
    assert_eq!(r, RESIDENCE_CODES);
    let t: Vec<_> = CustomerType::ALL.map(customer_type_code).into();
    assert_eq!(t, CUSTOMER_TYPE_CODES);
}

#[test]
fn a_payouts_residence_and_customer_type_win_over_the_merchant_defaults() {
    // No per-payout value: the merchant defaults are sent.
    let s = NicepaySettings {
        beneficiary_customer_residence: "2".into(),
        beneficiary_customer_type: "3".into(),
        ..settings()
    };
    let v = serde_json::to_value(registration_request(&transfer(), &s).unwrap()).unwrap();
    assert_eq!(v["beneficiaryCustomerResidence"], "2");
    assert_eq!(v["beneficiaryCustomerType"], "3");
    // A company abroad, given on the payout, is declared as such.
    let mut t = transfer();
    t.beneficiary.residence = Some(Residence::NonResident);
    t.beneficiary.customer_type = Some(CustomerType::Company);
    let v = serde_json::to_value(registration_request(&t, &settings()).unwrap()).unwrap();
    assert_eq!(v["beneficiaryCustomerResidence"], "2");
    assert_eq!(v["beneficiaryCustomerType"], "2");
    t.beneficiary.residence = Some(Residence::Resident);
    t.beneficiary.customer_type = Some(CustomerType::Individual);
    let v = serde_json::to_value(registration_request(&t, &s).unwrap()).unwrap();
    assert_eq!(v["beneficiaryCustomerResidence"], "1");
    assert_eq!(v["beneficiaryCustomerType"], "1");
}

#[test]
fn beneficiary_phone_is_mandatory_and_sent() {
    let v = serde_json::to_value(registration_request(&transfer(), &settings()).unwrap()).unwrap();
    assert_eq!(v["beneficiaryPhone"], "08123456789");
    for phone in [None, Some(String::new())] {
        let mut t = transfer();
        t.beneficiary.phone = phone.clone();
        let e = registration_request(&t, &settings()).unwrap_err();
        assert_eq!(e.field, "beneficiary.phone", "{phone:?}");
        assert!(
            e.rule
                .starts_with("is mandatory for nicepay (beneficiaryPhone"),
            "{e}"
        );
    }
    // The format rule is unchanged: digits only, at most 15.
    let mut t = transfer();
    t.beneficiary.phone = Some("1".repeat(16));
    assert_eq!(
        registration_request(&t, &settings()).unwrap_err().field,
        "beneficiaryPhone"
    );
}

#[test]
fn status_table_is_exhaustive() {
    let r = Some("R".to_owned());
    let cases = [
        ("00", "success"),
        ("03", "not_found"),
        ("04", "cancelled"),
        ("05", "cancelled"),
        ("08", "in_progress"),
        ("09", "final_failure"),
    ];
    for (code, label) in cases {
        let s: NicepayStatus = code.parse().unwrap();
        assert_eq!(
            status_outcome(s, r.clone(), "d".into()).label(),
            label,
            "{code}"
        );
    }
    assert!("07".parse::<NicepayStatus>().is_err());
}

#[test]
fn answers() {
    let reg = answer(
        200,
        json!({"responseCode": "2000000", "referenceNo": "IONPAYTEST2601010000000001", "latestTransactionStatus": "03"}),
    );
    assert_eq!(
        registration_result(&reg),
        Registration::Registered {
            reference: "IONPAYTEST2601010000000001".into()
        }
    );
    // A duplicate naming no registration (all any source shows): re-register
    // under a derived reference, never approve blindly.
    let dup = answer(409, json!({"responseCode": "4090001"}));
    assert_eq!(registration_result(&dup), Registration::DuplicateUnnamed);
    // One that does name it (under either name) continues with approve.
    let named = answer(
        409,
        json!({"responseCode": "4090001", "originalReferenceNo": "R1"}),
    );
    assert_eq!(
        registration_result(&named),
        Registration::Registered {
            reference: "R1".into()
        }
    );
    let approved = answer(
        200,
        json!({"responseCode": "2000000", "originalReferenceNo": "R", "latestTransactionStatus": "08"}),
    );
    assert_eq!(
        approve_outcome(&approved),
        Outcome::InProgress {
            reference: Some("R".into())
        }
    );
    let again = answer(409, json!({"responseCode": "4090001"}));
    assert_eq!(approve_outcome(&again).label(), "unknown");
    let odd = answer(
        200,
        json!({"responseCode": "2000000", "latestTransactionStatus": "42"}),
    );
    assert_eq!(inquiry_outcome(&odd).label(), "unknown");
    let missing = answer(404, json!({"responseCode": "4040001"}));
    assert_eq!(inquiry_outcome(&missing), Outcome::NotFound);
    let not_permitted = answer(
        403,
        json!({"responseCode": "4030015", "responseMessage": "Transaction Not Permitted"}),
    );
    assert_eq!(cancel_outcome(&not_permitted).label(), "final_failure");
}

#[test]
fn approve_answered_03_is_unknown_not_pending() {
    // Review M8: PENDING never resubmits; UNKNOWN inquires, reads 03 as not
    // found and approves again.
    let a = answer(
        200,
        json!({"responseCode": "2000000", "originalReferenceNo": "R", "latestTransactionStatus": "03"}),
    );
    assert_eq!(
        approve_outcome(&a),
        Outcome::Unknown {
            reason: "approve answered 03: registered, not approved".into()
        }
    );
    // The other statuses of an approve answer are read as before.
    for (code, label) in [
        ("00", "success"),
        ("08", "in_progress"),
        ("09", "final_failure"),
        ("04", "cancelled"),
    ] {
        let a = answer(
            200,
            json!({"responseCode": "2000000", "latestTransactionStatus": code}),
        );
        assert_eq!(approve_outcome(&a).label(), label, "{code}");
    }
    // Cancel keeps its reading of 03 (the registration is still there).
    assert_eq!(cancel_outcome(&a).label(), "in_progress");
}

#[test]
fn refused_requests() {
    let refused = |o: &Outcome| matches!(o, Outcome::Refused { .. });
    // Submissions: credentials, headers and routes refuse the request only.
    for (status, code, message) in [
        (401, "4010000", "Unauthorized. Signature"),
        (404, "4040000", "Not Found"),
        (404, "4040016", "Partner Not Found"),
        (400, "4000001", "Invalid Field Format X-TIMESTAMP"),
    ] {
        let a = answer(
            status,
            json!({"responseCode": code, "responseMessage": message}),
        );
        assert!(
            matches!(registration_result(&a), Registration::Stop(ref o) if refused(o)),
            "{code}"
        );
        assert!(refused(&approve_outcome(&a)), "{code}");
    }
    let html = SnapAnswer::new(403, None, None);
    assert!(refused(&approve_outcome(&html)));
    // The business answers stay final.
    let funds = answer(
        403,
        json!({"responseCode": "4030014", "responseMessage": "Insufficient Funds"}),
    );
    assert_eq!(
        registration_result(&funds),
        Registration::Stop(Outcome::FinalFailure {
            code: "4030014".into(),
            message: "Insufficient Funds".into()
        })
    );
    assert_eq!(approve_outcome(&funds).label(), "final_failure");
    // 404xx01 on a submission: inquire, never final.
    let nf = answer(404, json!({"responseCode": "4040001"}));
    assert!(
        matches!(
            registration_result(&nf),
            Registration::Stop(Outcome::Unknown { .. })
        ),
        "{:?}",
        registration_result(&nf)
    );
    assert_eq!(approve_outcome(&nf).label(), "unknown");
}

#[test]
fn inquiry_refusals_and_not_found() {
    // Review C1: no request-level "no" fails the transfer.
    for (status, code) in [
        (401, "4010000"),
        (401, "4013600"),
        (400, "4000002"),
        (403, "4030014"),
        (404, "4040011"),
        (404, "4040018"),
    ] {
        let o = inquiry_outcome(&answer(status, json!({"responseCode": code})));
        assert!(
            matches!(&o, Outcome::Refused { code: c, .. } if c == code),
            "{code}: {o:?}"
        );
    }
    assert_eq!(
        inquiry_outcome(&SnapAnswer::new(403, None, None)).label(),
        "refused"
    );
    // Review M5: "not found" only from the inquiry's own service.
    for code in ["4040001", "4043601"] {
        assert_eq!(
            inquiry_outcome(&answer(404, json!({"responseCode": code}))),
            Outcome::NotFound,
            "{code}"
        );
    }
    for code in ["4047301", "4041801", "4041101"] {
        assert_eq!(
            inquiry_outcome(&answer(404, json!({"responseCode": code}))).label(),
            "refused",
            "{code}"
        );
    }
    // Only the status field finalises.
    for (code, label) in [
        ("09", "final_failure"),
        ("04", "cancelled"),
        ("05", "cancelled"),
        ("03", "not_found"),
    ] {
        let a = answer(
            200,
            json!({"responseCode": "2000000", "latestTransactionStatus": code}),
        );
        assert_eq!(inquiry_outcome(&a).label(), label, "{code}");
    }
}
