//! NICEPAY SNAP payout wire types and their pure mapping to kirim's types.
//!
//! A NICEPAY transfer is two messages: registration (records the payout, status 03,
//! no money moves) and approve (executes it). Their message ids derive from the
//! payout's fixed-width `X-EXTERNAL-ID` by appending one step digit
//! ([`registration_external_id`], [`approve_external_id`]).

use std::str::FromStr;

use serde::Serialize;

use super::settings::NicepaySettings;
use crate::domain::{Amount, CustomerType, ExternalId, FieldError, Residence};
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

/// The derived registration's message id (see
/// [`derived_partner_reference`]): the payout's id plus `3`.
pub fn derived_registration_external_id(id: &ExternalId) -> String {
    format!("{}3", id.as_str())
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
    /// Mandatory: see [`PHONE_MANDATORY`].
    pub beneficiary_phone: String,
    /// The payout's [`Residence`] ([`residence_code`]), else the merchant default.
    pub beneficiary_customer_residence: String,
    /// The payout's [`CustomerType`] ([`customer_type_code`]), else the merchant default.
    pub beneficiary_customer_type: String,
    /// Sent always: NICEPAY's public material marks it mandatory (see
    /// [`NicepaySettings::payout_method`]).
    pub payout_method: String,
    pub beneficiary_bank_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub amount: Amount,
}

/// `beneficiaryCustomerResidence` codes, nicepay-payout-inquiry.txt:32
/// ("1: Indonesia 2: Non Indonesia"; the registration sends the same field).
pub const RESIDENCE_CODES: &[&str] = &["1", "2"];

/// `beneficiaryCustomerType` codes, nicepay-payout-inquiry.txt:33 ("1: Personal
/// 2: Company 3: Government").
pub const CUSTOMER_TYPE_CODES: &[&str] = &["1", "2", "3"];

/// NICEPAY's `beneficiaryCustomerResidence` code for a [`Residence`]
/// (nicepay-payout-inquiry.txt:32: "1: Indonesia 2: Non Indonesia").
pub fn residence_code(r: Residence) -> &'static str {
    match r {
        Residence::Resident => "1",
        Residence::NonResident => "2",
    }
}

/// NICEPAY's `beneficiaryCustomerType` code for a [`CustomerType`]
/// (nicepay-payout-inquiry.txt:33: "1: Personal 2: Company 3: Government").
pub fn customer_type_code(t: CustomerType) -> &'static str {
    match t {
        CustomerType::Individual => "1",
        CustomerType::Company => "2",
        CustomerType::Government => "3",
    }
}

/// Why a registration without `beneficiaryPhone` is refused: NICEPAY's public
/// registration page (docs.nicepay.co.id, "Registration - API Payout (Disbursement)
/// SNAP") lists "beneficiaryPhone | String | 20 | Mandatory", and every NICEPAY SDK
/// sends one (review 2026-12-01 §3, §6 #6; NOTES.md Corrections).
pub const PHONE_MANDATORY: &str = "is mandatory for nicepay (beneficiaryPhone, \
    String 20 Mandatory on NICEPAY's SNAP payout registration page)";

/// Values `payoutMethod` may take (NICEPAY v2 payout page: 0 overbooking, 1 online,
/// 2 SKN, 3 RTGS, 4 cashout).
pub const PAYOUT_METHODS: &[&str] = &["0", "1", "2", "3", "4"];

/// Check the merchant-level settings against the field table.
pub fn validate_merchant(s: &NicepaySettings) -> Result<(), FieldError> {
    validate::mandatory("merchantId", &s.merchant_id, 10)?;
    validate::max_len("msId", &s.ms_id, 20)?;
    validate::one_of(
        "beneficiaryCustomerResidence",
        &s.beneficiary_customer_residence,
        RESIDENCE_CODES,
    )?;
    validate::one_of(
        "beneficiaryCustomerType",
        &s.beneficiary_customer_type,
        CUSTOMER_TYPE_CODES,
    )?;
    validate::one_of("payoutMethod", &s.payout_method, PAYOUT_METHODS)?;
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
    let phone = req
        .beneficiary
        .phone
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| FieldError::new("beneficiary.phone", PHONE_MANDATORY))?;
    // At most 15 digits (E.164), stricter than the page's String 20.
    validate::digits("beneficiaryPhone", phone, 15)?;
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
        beneficiary_phone: phone.to_owned(),
        beneficiary_customer_residence: match req.beneficiary.residence {
            Some(r) => residence_code(r).to_owned(),
            None => s.beneficiary_customer_residence.clone(),
        },
        beneficiary_customer_type: match req.beneficiary.customer_type {
            Some(t) => customer_type_code(t).to_owned(),
            None => s.beneficiary_customer_type.clone(),
        },
        payout_method: s.payout_method.clone(),
        beneficiary_bank_code: req.beneficiary.bank_code.as_str().to_owned(),
        description: req.remark.clone().filter(|d| !d.is_empty()),
        amount: Amount::idr(req.amount),
    })
}

/// Separates the registration's `referenceNo` from the derived
/// `partnerReferenceNo` it was registered under, in the one provider reference the
/// ledger records ([`RecordedReference`]).
pub const DERIVED_SEPARATOR: char = '#';

/// Recorded as the provider reference when NICEPAY reports a registration under
/// the payout's partnerReferenceNo that this ledger never sent (a producer's
/// re-offer after the ledger lost the payout, or another system using the same
/// credentials): it may be approved, and without its referenceNo it can be neither
/// asked about nor approved, so the payout goes to an operator.
pub const FOREIGN_REGISTRATION: &str = "?foreign-registration";

/// The partnerReferenceNo of the re-registration kirim makes when an earlier
/// registration's answer was lost and NICEPAY answers a duplicate without naming
/// it: the payout's reference, `R`, and the time of day (HHMMSSmmm) of this
/// submission's message id — new for every submission, so a re-registration whose
/// own answer is lost is followed by another (the lifecycle bounds how many),
/// never by a second unnamed duplicate. `None` when that would pass NICEPAY's 40.
pub fn derived_partner_reference(
    partner_reference: &str,
    external_id: &ExternalId,
) -> Option<String> {
    // ExternalId: YYYYMMDD HHMMSSmmm (Jakarta), process tag, sequence.
    let time = external_id.as_str().get(8..17)?;
    let d = format!("{partner_reference}R{time}");
    (d.len() <= 40).then_some(d)
}

/// The payout reference a (possibly derived) registration reference belongs to.
pub fn payout_reference_of(registration_reference: &str) -> &str {
    match registration_reference.len().checked_sub(10) {
        Some(cut)
            if registration_reference.as_bytes()[cut] == b'R'
                && registration_reference[cut + 1..]
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            &registration_reference[..cut]
        }
        _ => registration_reference,
    }
}

/// What the ledger's provider reference says for NICEPAY: the registration's
/// `referenceNo`, and the partnerReferenceNo it was registered under when that is a
/// derived one (`referenceNo#derived`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedReference<'a> {
    pub reference_no: &'a str,
    pub derived_partner_reference: Option<&'a str>,
}

impl<'a> RecordedReference<'a> {
    pub fn parse(recorded: &'a str) -> Self {
        match recorded.split_once(DERIVED_SEPARATOR) {
            Some((r, d)) if !d.is_empty() => RecordedReference {
                reference_no: r,
                derived_partner_reference: Some(d),
            },
            _ => RecordedReference {
                reference_no: recorded,
                derived_partner_reference: None,
            },
        }
    }

    /// The form recorded in the ledger.
    pub fn encode(reference_no: &str, derived: Option<&str>) -> String {
        match derived {
            Some(d) => format!("{reference_no}{DERIVED_SEPARATOR}{d}"),
            None => reference_no.to_owned(),
        }
    }

    /// The partnerReferenceNo NICEPAY knows this registration by.
    pub fn partner_reference<'b>(&'b self, payout_reference: &'b str) -> &'b str {
        self.derived_partner_reference.unwrap_or(payout_reference)
    }
}

/// An outcome naming the registration by its bare `referenceNo` names it by the
/// `recorded` form instead, so the ledger keeps the derived partnerReferenceNo.
pub fn keep_recorded(outcome: Outcome, recorded: &str) -> Outcome {
    let bare = RecordedReference::parse(recorded).reference_no;
    let fix = |r: Option<String>| match r {
        Some(r) if r == bare => Some(recorded.to_owned()),
        other => other,
    };
    match outcome {
        Outcome::Success { reference } => Outcome::Success {
            reference: fix(reference),
        },
        Outcome::InProgress { reference } => Outcome::InProgress {
            reference: fix(reference),
        },
        Outcome::Cancelled { reference, reason } => Outcome::Cancelled {
            reference: fix(reference),
            reason,
        },
        other => other,
    }
}

/// What a registration answer means for the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// Registered: approve `reference` next.
    Registered { reference: String },
    /// `409xx01` naming no registration: one with this partnerReferenceNo exists
    /// (ours: the ledger refuses a reused reference with other details), its answer
    /// was lost, and it was never approved (an approve needs its reference, which
    /// kirim records before any approve and then never registers again). No public
    /// source shows this answer carrying the existing reference (review §6 #9).
    DuplicateUnnamed,
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
        // SDK tests read the registration's id as `originalReferenceNo`
        // (NOTES.md Corrections): accept either name when one is given.
        return match reference(answer) {
            Some(reference) => Registration::Registered { reference },
            None => Registration::DuplicateUnnamed,
        };
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

/// `recorded`: the provider reference as the ledger holds it ([`RecordedReference`]).
pub fn approve_request(
    s: &NicepaySettings,
    req: &TransferRequest,
    recorded: &str,
) -> NicepayFollowUpRequest {
    let r = RecordedReference::parse(recorded);
    NicepayFollowUpRequest {
        merchant_id: s.merchant_id.clone(),
        original_reference_no: r.reference_no.to_owned(),
        original_partner_reference_no: r
            .partner_reference(req.partner_reference.as_str())
            .to_owned(),
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
    let r = RecordedReference::parse(reference);
    validate::mandatory("originalReferenceNo", r.reference_no, 40)?;
    Ok(NicepayFollowUpRequest {
        merchant_id: s.merchant_id.clone(),
        original_reference_no: r.reference_no.to_owned(),
        original_partner_reference_no: r.partner_reference(q.partner_reference.as_str()).to_owned(),
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
#[path = "transformers_tests.rs"]
mod tests;
