//! iFortepay direct debit: payment (service 54) and its status (service 55). Wire
//! types and pure mappings; re-exported by [`super::transformers`].

use std::str::FromStr;

use serde::Serialize;

use super::transformers::{not_found_on_submission, reference};
use crate::domain::{Amount, FieldError};
use crate::providers::snap::answer::{verdict, CallKind, SnapAnswer, Verdict};
use crate::providers::validate;
use crate::providers::verdict::token_rejected;
use crate::providers::{Outcome, PaymentRequest, StatusQuery};

// ---------------------------------------------------------------------------
// Direct debit payment (service 54) and status (service 55)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayPayOption {
    pub pay_method: String,
    pub pay_option: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayDebitAdditionalInfo {
    pub is_with_otp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remarks: Option<String>,
}

/// `POST /v1.0/debit/payment-host-to-host`. Holds the card token: never `Debug`-print
/// it outside this module's tests (the field is a plain string on the wire).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayDebitRequest {
    pub partner_reference_no: String,
    pub bank_card_token: String,
    /// Literally `"null"` on the first step, per the document.
    pub charge_token: String,
    pub amount: Amount,
    pub pay_option_details: Vec<IfortepayPayOption>,
    pub additional_info: IfortepayDebitAdditionalInfo,
}

impl std::fmt::Debug for IfortepayDebitRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IfortepayDebitRequest")
            .field("partner_reference_no", &self.partner_reference_no)
            .field("bank_card_token", &"[redacted]")
            .field("amount", &self.amount)
            .finish_non_exhaustive()
    }
}

pub fn debit_request(req: &PaymentRequest) -> Result<IfortepayDebitRequest, FieldError> {
    validate::mandatory("partnerReferenceNo", req.partner_reference.as_str(), 64)?;
    if req.bank_card_token.is_empty() {
        return Err(FieldError::new(
            "bankCardToken",
            "is mandatory and must not be empty",
        ));
    }
    if req.bank_card_token.expose().chars().count() > 560 {
        return Err(FieldError::new(
            "bankCardToken",
            "must be at most 560 characters",
        ));
    }
    validate::positive("amount.value", req.amount)?;
    validate::mandatory("payOptionDetails.payOption", &req.pay_option, 64)?;
    validate::charset(
        "payOptionDetails.payOption",
        &req.pay_option,
        |c| c.is_ascii_alphanumeric() || c == '_',
        "may contain only letters, digits and '_'",
    )?;
    if let Some(r) = &req.remarks {
        validate::max_len("additionalInfo.remarks", r, 64)?;
    }
    Ok(IfortepayDebitRequest {
        partner_reference_no: req.partner_reference.as_str().to_owned(),
        bank_card_token: req.bank_card_token.expose().to_owned(),
        charge_token: "null".to_owned(),
        amount: Amount::idr(req.amount),
        pay_option_details: vec![IfortepayPayOption {
            pay_method: "DEBIT_CARD".to_owned(),
            pay_option: req.pay_option.clone(),
        }],
        additional_info: IfortepayDebitAdditionalInfo {
            is_with_otp: if req.with_otp { "Y" } else { "N" }.to_owned(),
            remarks: req.remarks.clone().filter(|r| !r.is_empty()),
        },
    })
}

/// A debit answer → outcome and, with OTP, the charge token the OTP step needs.
/// With OTP a success means "OTP sent": the payment is in progress until verified.
pub fn debit_outcome(answer: &SnapAnswer, _with_otp: bool) -> (Outcome, Option<String>) {
    match verdict(answer, CallKind::Transactional) {
        Verdict::Accepted { .. } => {
            let reference = reference(answer);
            let charge = answer
                .str_at("additionalInfo.chargeToken")
                .filter(|c| !c.is_empty() && *c != "null")
                .map(str::to_owned);
            // `2005400` is not a final status with or without OTP: the no-OTP answer
            // in ifortepay-direct-debit-payment.txt:147-171 has no status field, and
            // NOTES.md (Corrections 2026-12-01) says "`2005400` without OTP is not a
            // final status". The payout stays in progress until the debit status
            // (55) says `00`.
            (Outcome::InProgress { reference }, charge)
        }
        Verdict::NotFound => (not_found_on_submission(answer), None),
        Verdict::TokenRejected => (token_rejected(), None),
        Verdict::Decided(o) => (o, None),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayDebitStatusRequest {
    pub original_partner_reference_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_reference_no: Option<String>,
    pub service_code: String,
    pub amount: Amount,
}

pub fn debit_status_request(q: &StatusQuery) -> IfortepayDebitStatusRequest {
    IfortepayDebitStatusRequest {
        original_partner_reference_no: q.partner_reference.as_str().to_owned(),
        original_reference_no: q.provider_reference.clone(),
        service_code: "54".to_owned(),
        amount: Amount::idr(q.amount),
    }
}

/// `latestTransactionStatus` of a direct debit (NOTES.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebitStatus {
    Success,
    Initiated,
    Pending,
    Refunded,
    Failed,
    NotFound,
}

impl FromStr for DebitStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "00" => Ok(DebitStatus::Success),
            "01" => Ok(DebitStatus::Initiated),
            "03" => Ok(DebitStatus::Pending),
            "04" => Ok(DebitStatus::Refunded),
            "06" => Ok(DebitStatus::Failed),
            "07" => Ok(DebitStatus::NotFound),
            other => Err(format!(
                "unrecognised debit latestTransactionStatus {other:?}"
            )),
        }
    }
}

pub fn debit_status_outcome_of(
    status: DebitStatus,
    reference: Option<String>,
    desc: String,
) -> Outcome {
    match status {
        DebitStatus::Success => Outcome::Success { reference },
        DebitStatus::Initiated | DebitStatus::Pending => Outcome::InProgress { reference },
        DebitStatus::Refunded => Outcome::Cancelled {
            reference,
            reason: desc,
        },
        DebitStatus::Failed => Outcome::FinalFailure {
            code: "06".to_owned(),
            message: desc,
        },
        DebitStatus::NotFound => Outcome::NotFound,
    }
}

/// The service of the debit status's own codes (NOTES.md:64; the sandbox answers
/// `4045501` with `latestTransactionStatus` 07).
pub const DEBIT_STATUS_SERVICE: u8 = 55;

/// A debit status answer → outcome. Only `latestTransactionStatus` (06 failed, 04
/// refunded) finalises; a refused inquiry is [`Outcome::Refused`] (review C1).
pub fn debit_status_outcome(answer: &SnapAnswer) -> Outcome {
    let kind = CallKind::Inquiry {
        services: &[DEBIT_STATUS_SERVICE],
    };
    match verdict(answer, kind) {
        Verdict::Accepted { .. } => {
            let reference = answer
                .str_at("originalReferenceNo")
                .or_else(|| answer.str_at("referenceNo"))
                .map(str::to_owned);
            let desc = answer
                .str_at("transactionStatusDesc")
                .map(str::to_owned)
                .or_else(|| answer.message.clone())
                .unwrap_or_default();
            match answer
                .str_at("latestTransactionStatus")
                .map(str::parse::<DebitStatus>)
            {
                Some(Ok(s)) => debit_status_outcome_of(s, reference, desc),
                Some(Err(reason)) => Outcome::Unknown { reason },
                None => Outcome::Unknown {
                    reason: "debit status answer without latestTransactionStatus".into(),
                },
            }
        }
        Verdict::NotFound => Outcome::NotFound,
        Verdict::TokenRejected => token_rejected(),
        Verdict::Decided(o) => o,
    }
}

#[cfg(test)]
#[path = "direct_debit_tests.rs"]
mod tests;
