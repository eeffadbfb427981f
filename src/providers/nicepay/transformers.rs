//! NICEPAY SNAP payout wire types and their pure mapping to kirim's types.
//!
//! A NICEPAY transfer is two messages: registration (records the payout, status 03,
//! no money moves) and approve (executes it). Their message ids derive from the
//! payout's fixed-width `X-EXTERNAL-ID` by appending one step digit
//! ([`registration_external_id`], [`approve_external_id`]).

use std::str::FromStr;

use serde::Serialize;

use super::settings::NicepaySettings;
use crate::domain::{Amount, ExternalId, FieldError};
use crate::providers::snap::answer::{verdict, CallKind, SnapAnswer, Verdict};
use crate::providers::validate;
use crate::providers::verdict::token_rejected;
use crate::providers::{Outcome, StatusQuery, TransferRequest};

/// `amount.value` is at most 12 characters (`999999999.99`).
pub const MAX_AMOUNT_CHARS: usize = 12;

/// The registration message id: the payout's id plus `1`.
pub fn registration_external_id(id: &ExternalId) -> String {
    format!("{}1", id.as_str())
}

/// The approve message id: the payout's id plus `2`.
pub fn approve_external_id(id: &ExternalId) -> String {
    format!("{}2", id.as_str())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NicepayRegistrationRequest {
    pub merchant_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ms_id: String,
    pub partner_reference_no: String,
    pub beneficiary_account_no: String,
    pub beneficiary_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beneficiary_phone: Option<String>,
    pub beneficiary_customer_residence: String,
    pub beneficiary_customer_type: String,
    pub beneficiary_bank_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub amount: Amount,
}

/// Check the merchant-level settings against the field table.
pub fn validate_merchant(s: &NicepaySettings) -> Result<(), FieldError> {
    validate::mandatory("merchantId", &s.merchant_id, 10)?;
    validate::max_len("msId", &s.ms_id, 20)?;
    validate::one_of(
        "beneficiaryCustomerResidence",
        &s.beneficiary_customer_residence,
        &["1", "2"],
    )?;
    validate::one_of(
        "beneficiaryCustomerType",
        &s.beneficiary_customer_type,
        &["1", "2", "3"],
    )?;
    Ok(())
}

/// Build and validate a registration body.
pub fn registration_request(
    req: &TransferRequest,
    s: &NicepaySettings,
) -> Result<NicepayRegistrationRequest, FieldError> {
    validate_merchant(s)?;
    validate::mandatory("partnerReferenceNo", req.partner_reference.as_str(), 40)?;
    validate::digits(
        "beneficiaryAccountNo",
        req.beneficiary.account_no.as_str(),
        25,
    )?;
    validate::mandatory("beneficiaryName", &req.beneficiary.name, 100)?;
    validate::mandatory("beneficiaryBankCode", req.beneficiary.bank_code.as_str(), 4)?;
    if let Some(p) = req.beneficiary.phone.as_deref().filter(|p| !p.is_empty()) {
        validate::digits("beneficiaryPhone", p, 15)?;
    }
    if let Some(d) = &req.remark {
        validate::max_len("description", d, 100)?;
    }
    validate::positive("amount.value", req.amount)?;
    if req.amount.to_wire().len() > MAX_AMOUNT_CHARS {
        return Err(FieldError::new(
            "amount.value",
            "must be at most 12 characters (999999999.99)",
        ));
    }
    // The derived message ids must stay within NICEPAY's 40 digits.
    if registration_external_id(&req.external_id).len() > 40 {
        return Err(FieldError::new(
            "X-EXTERNAL-ID",
            "must be at most 39 digits (NICEPAY appends a step digit)",
        ));
    }
    Ok(NicepayRegistrationRequest {
        merchant_id: s.merchant_id.clone(),
        ms_id: s.ms_id.clone(),
        partner_reference_no: req.partner_reference.as_str().to_owned(),
        beneficiary_account_no: req.beneficiary.account_no.as_str().to_owned(),
        beneficiary_name: req.beneficiary.name.clone(),
        beneficiary_phone: req.beneficiary.phone.clone().filter(|p| !p.is_empty()),
        beneficiary_customer_residence: s.beneficiary_customer_residence.clone(),
        beneficiary_customer_type: s.beneficiary_customer_type.clone(),
        beneficiary_bank_code: req.beneficiary.bank_code.as_str().to_owned(),
        description: req.remark.clone().filter(|d| !d.is_empty()),
        amount: Amount::idr(req.amount),
    })
}

/// What a registration answer means for the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// Registered: approve `reference` next.
    Registered { reference: String },
    /// Stop here with this outcome (refused, unknown, retry later).
    Stop(Outcome),
}

pub fn registration_result(answer: &SnapAnswer) -> Registration {
    // 409xx01 "duplicate partnerReferenceNo" that names the existing registration:
    // it is ours (the ledger refuses a reused reference with other details), and a
    // registration alone moves no money, so continue with approve. No approve can
    // have been sent for it: the engine records a registration's reference before
    // any approve (`SendFence::first_step_done`), and once one is recorded the next
    // submission resumes (approve only) and never registers again.
    if answer
        .code_raw
        .as_deref()
        .is_some_and(|c| c.starts_with("409") && c.ends_with("01"))
    {
        if let Some(reference) = reference(answer) {
            return Registration::Registered { reference };
        }
    }
    match verdict(answer, CallKind::Transactional) {
        Verdict::Accepted { .. } => match reference(answer) {
            Some(reference) => Registration::Registered { reference },
            None => Registration::Stop(Outcome::Unknown {
                reason: "registration accepted without referenceNo".into(),
            }),
        },
        Verdict::NotFound => Registration::Stop(not_found_on_submission(answer)),
        Verdict::TokenRejected => Registration::Stop(token_rejected()),
        Verdict::Decided(o) => Registration::Stop(o),
    }
}

/// `referenceNo` (registration) or `originalReferenceNo` (the others).
pub fn reference(answer: &SnapAnswer) -> Option<String> {
    answer
        .str_at("referenceNo")
        .or_else(|| answer.str_at("originalReferenceNo"))
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
}

/// `404xx01` answering a registration or an approve is no refusal of it: NOTES.md:51
/// gives the code a meaning only on an inquiry, and it may come from a gateway or
/// the token service (review M5). Inquire.
fn not_found_on_submission(answer: &SnapAnswer) -> Outcome {
    Outcome::Unknown {
        reason: format!(
            "{} on a submission: {}",
            answer.code_raw.as_deref().unwrap_or("404xx01"),
            answer.message.as_deref().unwrap_or("(no responseMessage)")
        ),
    }
}

/// Approve, inquiry and cancel all name the registration the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NicepayFollowUpRequest {
    pub merchant_id: String,
    pub original_reference_no: String,
    pub original_partner_reference_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beneficiary_account_no: Option<String>,
}

pub fn approve_request(
    s: &NicepaySettings,
    req: &TransferRequest,
    reference: &str,
) -> NicepayFollowUpRequest {
    NicepayFollowUpRequest {
        merchant_id: s.merchant_id.clone(),
        original_reference_no: reference.to_owned(),
        original_partner_reference_no: req.partner_reference.as_str().to_owned(),
        beneficiary_account_no: None,
    }
}

/// Inquiry needs the registration's reference; without one NICEPAY cannot be asked.
pub fn inquiry_request(
    s: &NicepaySettings,
    q: &StatusQuery,
) -> Result<NicepayFollowUpRequest, FieldError> {
    let reference = q
        .provider_reference
        .as_deref()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            FieldError::new(
                "originalReferenceNo",
                "is mandatory: the registration's referenceNo",
            )
        })?;
    validate::mandatory("originalReferenceNo", reference, 40)?;
    Ok(NicepayFollowUpRequest {
        merchant_id: s.merchant_id.clone(),
        original_reference_no: reference.to_owned(),
        original_partner_reference_no: q.partner_reference.as_str().to_owned(),
        beneficiary_account_no: Some(
            q.beneficiary_account_no
                .as_ref()
                .ok_or_else(|| {
                    FieldError::new("beneficiaryAccountNo", "is mandatory for a NICEPAY inquiry")
                })?
                .as_str()
                .to_owned(),
        ),
    })
}

pub fn cancel_request(
    s: &NicepaySettings,
    q: &StatusQuery,
) -> Result<NicepayFollowUpRequest, FieldError> {
    let mut r = inquiry_request(s, q)?;
    r.beneficiary_account_no = None;
    Ok(r)
}

/// `latestTransactionStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NicepayStatus {
    /// 00
    Success,
    /// 03: registered, awaiting approve or reject.
    Pending,
    /// 04
    Cancelled,
    /// 05
    Rejected,
    /// 08: in process / suspect: NICEPAY does not know yet.
    Suspect,
    /// 09
    Failed,
}

impl FromStr for NicepayStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "00" => Ok(NicepayStatus::Success),
            "03" => Ok(NicepayStatus::Pending),
            "04" => Ok(NicepayStatus::Cancelled),
            "05" => Ok(NicepayStatus::Rejected),
            "08" => Ok(NicepayStatus::Suspect),
            "09" => Ok(NicepayStatus::Failed),
            other => Err(format!(
                "unrecognised NICEPAY latestTransactionStatus {other:?}"
            )),
        }
    }
}

/// The status table. No wildcard: a new status breaks the build.
///
/// 03 means "registered, never approved": the approve message did not reach NICEPAY,
/// so no money can have moved. It is reported as [`Outcome::NotFound`] — the
/// provider has no *executed* transfer — which lets the worker resubmit; for a payout
/// with a known registration reference it resubmits with
/// [`crate::providers::PayoutProvider::resume_transfer`] (approve only).
pub fn status_outcome(status: NicepayStatus, reference: Option<String>, desc: String) -> Outcome {
    match status {
        NicepayStatus::Success => Outcome::Success { reference },
        NicepayStatus::Pending => Outcome::NotFound,
        NicepayStatus::Suspect => Outcome::InProgress { reference },
        NicepayStatus::Cancelled => Outcome::Cancelled {
            reference,
            reason: format!("cancelled: {desc}"),
        },
        NicepayStatus::Rejected => Outcome::Cancelled {
            reference,
            reason: format!("rejected: {desc}"),
        },
        NicepayStatus::Failed => Outcome::FinalFailure {
            code: "09".to_owned(),
            message: desc,
        },
    }
}

fn accepted_status(answer: &SnapAnswer, pending_is_in_progress: bool) -> Outcome {
    let reference = reference(answer);
    let desc = answer
        .str_at("transactionStatusDesc")
        .map(str::to_owned)
        .or_else(|| answer.message.clone())
        .unwrap_or_default();
    match answer
        .str_at("latestTransactionStatus")
        .map(str::parse::<NicepayStatus>)
    {
        Some(Ok(NicepayStatus::Pending)) if pending_is_in_progress => {
            Outcome::InProgress { reference }
        }
        Some(Ok(s)) => status_outcome(s, reference, desc),
        Some(Err(reason)) => Outcome::Unknown { reason },
        // Accepted without a status: in progress until an inquiry says more.
        None => Outcome::InProgress { reference },
    }
}

/// The approve answer. `409xx01` (already approved) is unknown: inquire.
///
/// An accepted approve that still reports 03 ("registered, awaiting approve",
/// NOTES.md:99) did not say the transfer was approved. It is not in progress: a
/// PENDING payout never resubmits, so it would wait for review (review M8). It is
/// unknown: the exchange keeps the registration's reference, the inquiry then
/// reads 03 as not found and the worker approves again (approve is idempotent at
/// NICEPAY: a second one is `409xx01`).
pub fn approve_outcome(answer: &SnapAnswer) -> Outcome {
    match verdict(answer, CallKind::Transactional) {
        Verdict::Accepted { .. } => match accepted_status(answer, false) {
            // Only 03 maps to NotFound in the status table.
            Outcome::NotFound => Outcome::Unknown {
                reason: "approve answered 03: registered, not approved".into(),
            },
            other => other,
        },
        Verdict::NotFound => not_found_on_submission(answer),
        Verdict::TokenRejected => token_rejected(),
        Verdict::Decided(o) => o,
    }
}

/// The services whose `404xx01` means "NICEPAY has no such registration": 00, the
/// code NICEPAY's payout endpoints answer with in its SDK examples (and the
/// sandbox, `sandbox/faults.rs` `Endpoint::service`), and 36, SNAP's transfer
/// status inquiry (NOTES.md:63). The token service's 73, or any other, is a
/// refusal of the inquiry (review M5).
pub const INQUIRY_SERVICES: &[u8] = &[0, 36];

/// The inquiry answer. `404xx01` of [`INQUIRY_SERVICES`]: NICEPAY has no such
/// registration. A refused inquiry is [`Outcome::Refused`] (review C1); only the
/// status field (09 failed, 04 cancelled, 05 rejected) finalises.
pub fn inquiry_outcome(answer: &SnapAnswer) -> Outcome {
    let kind = CallKind::Inquiry {
        services: INQUIRY_SERVICES,
    };
    match verdict(answer, kind) {
        Verdict::Accepted { .. } => accepted_status(answer, false),
        Verdict::NotFound => Outcome::NotFound,
        Verdict::TokenRejected => token_rejected(),
        Verdict::Decided(o) => o,
    }
}

/// The cancel answer: [`Outcome::Cancelled`] when the registration is now cancelled;
/// a refusal (`403xx15`: already approved) is a [`Outcome::FinalFailure`] *of the
/// cancel*, the transfer itself is unchanged.
pub fn cancel_outcome(answer: &SnapAnswer) -> Outcome {
    match verdict(answer, CallKind::Transactional) {
        Verdict::Accepted { .. } => accepted_status(answer, true),
        Verdict::NotFound => Outcome::NotFound,
        Verdict::TokenRejected => token_rejected(),
        Verdict::Decided(o) => o,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NicepayBalanceAdditionalInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ms_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NicepayBalanceRequest {
    pub account_no: String,
    pub additional_info: NicepayBalanceAdditionalInfo,
}

pub fn balance_request(s: &NicepaySettings) -> NicepayBalanceRequest {
    NicepayBalanceRequest {
        account_no: s.merchant_id.clone(),
        additional_info: NicepayBalanceAdditionalInfo {
            ms_id: s.ms_id.clone(),
        },
    }
}

pub use crate::providers::snap::answer::balance_result;

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::config::{EndpointUrlMode, HttpSettings};
    use crate::domain::Beneficiary;
    use crate::domain::{AccountNumber, BankCode, Money, PartnerReference};

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
            },
            remark: Some("payout".into()),
            external_id: ExternalId::parse("123456789012345678").unwrap(),
            transaction_date: "2026-01-01T00:00:00+07:00".into(),
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
        let dup = answer(409, json!({"responseCode": "4090001"}));
        assert_eq!(
            registration_result(&dup),
            Registration::Stop(Outcome::Unknown {
                reason: "4090001: (no responseMessage)".into()
            })
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
}
