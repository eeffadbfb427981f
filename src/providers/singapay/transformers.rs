//! Singapay wire types and the pure mapping of its answers into [`Outcome`].
//!
//! Singapay is not SNAP: answers are an envelope `{status, success, response_code,
//! response_message, data | error}`. `response_code` decides when it is one we know
//! (SP001/SP005 "outcome unknown", SP004 duplicate reference, SP013 refresh the token
//! are from NOTES.md; the others follow the sandbox's numbering and are marked so);
//! otherwise the `success` flag and the HTTP status decide, conservatively.
//!
//! As for SNAP (DESIGN rule 9, [`crate::providers::snap::answer`]): a refusal of the
//! request (SP003 unauthorized, SP011 unknown `account_id`, a header named in the
//! message, a bare HTTP 4xx) is [`Outcome::Refused`], never a failed transfer, and on
//! the inquiry no request-level "no" is a statement about the transfer.

use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::domain::{FieldError, Money};
use crate::providers::http::{Answer, RawResponse};
use crate::providers::snap::answer::{names_a_header, on_inquiry, unknown_or_retry, CallKind};
use crate::providers::validate;
use crate::providers::verdict::{token_rejected, Verdict};
use crate::providers::{Outcome, StatusQuery, TransferRequest};

impl Answer for SingapayAnswer {
    fn from_raw(raw: &RawResponse) -> Self {
        SingapayAnswer::from_raw(raw)
    }
    fn code(&self) -> Option<String> {
        self.code.clone()
    }
    fn message(&self) -> Option<String> {
        self.message.clone()
    }
}

/// The parts of a Singapay answer every mapping needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SingapayAnswer {
    pub http_status: u16,
    pub retry_after: Option<Duration>,
    pub json: Option<Value>,
    /// `response_code` as sent (`SP004`).
    pub code: Option<String>,
    pub message: Option<String>,
}

impl SingapayAnswer {
    pub fn from_raw(raw: &RawResponse) -> Self {
        Self::new(raw.status, raw.retry_after, raw.json())
    }

    pub fn new(http_status: u16, retry_after: Option<Duration>, json: Option<Value>) -> Self {
        let get = |k: &str| {
            json.as_ref()
                .and_then(|j| j.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let code = get("response_code");
        let message = get("response_message").or_else(|| {
            json.as_ref()
                .and_then(|j| j.pointer("/error/message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        SingapayAnswer {
            http_status,
            retry_after,
            json,
            code,
            message,
        }
    }

    /// A string (or number, as text) at a JSON pointer (`/data/transaction_id`).
    pub fn text_at(&self, pointer: &str) -> Option<String> {
        match self.json.as_ref()?.pointer(pointer)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn success_flag(&self) -> Option<bool> {
        self.json.as_ref()?.get("success")?.as_bool()
    }

    /// SP013, or an HTTP 401 without a code we know: ask for a new token once.
    pub fn wants_new_token(&self) -> bool {
        match self.code.as_deref().map(str::parse::<SpCode>) {
            Some(Ok(SpCode::TokenInvalid)) => true,
            Some(Ok(_)) => false,
            Some(Err(_)) | None => self.http_status == 401,
        }
    }

    fn code_or_http(&self) -> String {
        self.code
            .clone()
            .unwrap_or_else(|| format!("HTTP{}", self.http_status))
    }

    fn message_or_default(&self) -> String {
        self.message
            .clone()
            .unwrap_or_else(|| "(no response_message)".into())
    }
}

/// Singapay response codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpCode {
    /// SP000 success (sandbox numbering).
    Success,
    /// SP001 general error: outcome unknown (NOTES.md).
    GeneralError,
    /// SP002 invalid or missing field (sandbox numbering).
    InvalidField,
    /// SP003 unauthorized: API key, client id or signature (sandbox numbering;
    /// NOTES.md:143 gives the provider's SP003 as insufficient balance, M7).
    Unauthorized,
    /// SP004 duplicate `reference_number` (NOTES.md).
    Duplicate,
    /// SP005 timeout: outcome unknown (NOTES.md).
    Timeout,
    /// SP006 insufficient balance (sandbox numbering).
    InsufficientBalance,
    /// SP007 invalid beneficiary account (sandbox numbering).
    InvalidAccount,
    /// SP008 transaction not found (sandbox numbering).
    NotFound,
    /// SP010 too many requests (sandbox numbering).
    TooManyRequests,
    /// SP011 unknown `account_id` (sandbox numbering).
    UnknownAccount,
    /// SP013 access token invalid or expired (NOTES.md).
    TokenInvalid,
}

impl FromStr for SpCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "SP000" => Ok(SpCode::Success),
            "SP001" => Ok(SpCode::GeneralError),
            "SP002" => Ok(SpCode::InvalidField),
            "SP003" => Ok(SpCode::Unauthorized),
            "SP004" => Ok(SpCode::Duplicate),
            "SP005" => Ok(SpCode::Timeout),
            "SP006" => Ok(SpCode::InsufficientBalance),
            "SP007" => Ok(SpCode::InvalidAccount),
            "SP008" => Ok(SpCode::NotFound),
            "SP010" => Ok(SpCode::TooManyRequests),
            "SP011" => Ok(SpCode::UnknownAccount),
            "SP013" => Ok(SpCode::TokenInvalid),
            other => Err(format!("unrecognised Singapay response_code {other:?}")),
        }
    }
}

/// The inquiry-status call. Singapay codes carry no service part, so SP008 is the
/// only "not found" there is.
pub const INQUIRY: CallKind = CallKind::Inquiry { services: &[] };

/// Classify an answer: the code when known (exhaustive), else `success` and HTTP status.
/// `SpCode::NotFound` is [`Verdict::NotFound`] on every call; a submission reads it
/// as unknown ([`not_found_on_submission`]).
pub fn verdict(a: &SingapayAnswer, kind: CallKind) -> Verdict {
    let reason = || format!("{}: {}", a.code_or_http(), a.message_or_default());
    let refused = || Outcome::Refused {
        code: a.code_or_http(),
        message: a.message_or_default(),
    };
    let final_failure = || Outcome::FinalFailure {
        code: a.code_or_http(),
        message: a.message_or_default(),
    };
    let outcome = match a.code.as_deref().map(str::parse::<SpCode>) {
        Some(Ok(code)) => match code {
            SpCode::Success => return Verdict::Accepted { in_progress: false },
            SpCode::NotFound => return Verdict::NotFound,
            SpCode::TokenInvalid => return Verdict::TokenRejected,
            SpCode::GeneralError | SpCode::Timeout => unknown_or_retry(kind, reason()),
            // "The provider already has this reference": inquire.
            SpCode::Duplicate => Outcome::Unknown { reason: reason() },
            // Our API key, client id or signature; our configured `account_id`
            // (a path segment): refusals of the request, not of the transfer.
            SpCode::Unauthorized | SpCode::UnknownAccount => refused(),
            // An invalid field that is a header (X-Timestamp, X-Signature, …) is
            // our clock or signing, not the body.
            SpCode::InvalidField if a.message.as_deref().is_some_and(names_a_header) => refused(),
            SpCode::InvalidField | SpCode::InsufficientBalance | SpCode::InvalidAccount => {
                final_failure()
            }
            SpCode::TooManyRequests => Outcome::Retryable {
                delay_hint: a.retry_after,
                reason: reason(),
            },
        },
        // No code we know: the `success` flag and the HTTP status decide.
        Some(Err(_)) | None => match (a.http_status, a.success_flag()) {
            (200..=299, Some(true)) => return Verdict::Accepted { in_progress: false },
            (429, _) => Outcome::Retryable {
                delay_hint: a.retry_after,
                reason: reason(),
            },
            // A bare 4xx (a 401 still refused after the one token refresh, a
            // gateway's 403, a route's 404): nothing was said about the transfer.
            (400..=407 | 410..=428 | 430..=499, _) => refused(),
            // 2xx without success=true, 1xx/3xx, 408, 409, 5xx, unreadable bodies.
            _ => unknown_or_retry(kind, format!("{} (no usable response)", reason())),
        },
    };
    Verdict::Decided(match kind {
        CallKind::Inquiry { .. } => on_inquiry(outcome),
        CallKind::Transactional | CallKind::Read => outcome,
    })
}

/// SP008 "not found" answering a transfer: not a refusal of it (and its meaning is
/// unconfirmed, M7). Inquire.
fn not_found_on_submission(a: &SingapayAnswer) -> Outcome {
    Outcome::Unknown {
        reason: format!(
            "{} on a transfer: {}",
            a.code_or_http(),
            a.message_or_default()
        ),
    }
}

// ---------------------------------------------------------------------------
// Token
// ---------------------------------------------------------------------------

/// `data.access_token` and `data.expires_in` (a string) of a token answer.
pub fn token_result(a: &SingapayAnswer) -> Result<(String, Option<Duration>), Outcome> {
    match verdict(a, CallKind::Read) {
        Verdict::Accepted { .. } => {}
        Verdict::Decided(o) => return Err(o),
        // The token call itself refused: our credentials, not any transfer.
        Verdict::NotFound | Verdict::TokenRejected => {
            return Err(Outcome::Refused {
                code: a.code_or_http(),
                message: a.message_or_default(),
            })
        }
    }
    let token = a
        .text_at("/data/access_token")
        .ok_or_else(|| Outcome::Retryable {
            delay_hint: None,
            reason: "token answer without data.access_token".into(),
        })?;
    let expires = a
        .json
        .as_ref()
        .and_then(|j| j.pointer("/data/expires_in"))
        .and_then(|v| crate::providers::snap::client::parse_expires_in(Some(v)));
    Ok((token, expires))
}

// ---------------------------------------------------------------------------
// v1.0 transfer (the seed document)
// ---------------------------------------------------------------------------

/// `POST /api/v1.0/disbursements/transfer/{account_id}`. No client reference exists
/// in v1.0; `notes` carries the partnerReferenceNo so an operator (and the
/// sandbox) can match a transfer whose answer was lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SingapayV1TransferRequest {
    pub amount: String,
    pub currency: String,
    pub bank_swift_code: String,
    pub bank_account_number: String,
    pub notes: String,
}

pub fn v1_transfer_request(req: &TransferRequest) -> Result<SingapayV1TransferRequest, FieldError> {
    validate::positive("amount", req.amount)?;
    validate::mandatory("bank_swift_code", req.beneficiary.bank_code.as_str(), 8)?;
    validate::digits(
        "bank_account_number",
        req.beneficiary.account_no.as_str(),
        34,
    )?;
    Ok(SingapayV1TransferRequest {
        amount: req.amount.to_wire(),
        currency: "IDR".into(),
        bank_swift_code: req.beneficiary.bank_code.as_str().to_owned(),
        bank_account_number: req.beneficiary.account_no.as_str().to_owned(),
        notes: req.partner_reference.as_str().to_owned(),
    })
}

/// v1.0 `data.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V1Status {
    Success,
    Pending,
    Failed,
}

impl FromStr for V1Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "success" => Ok(V1Status::Success),
            "pending" => Ok(V1Status::Pending),
            "failed" => Ok(V1Status::Failed),
            other => Err(format!("unrecognised Singapay v1.0 status {other:?}")),
        }
    }
}

pub fn v1_status_outcome(s: V1Status, reference: Option<String>) -> Outcome {
    match s {
        V1Status::Success => Outcome::Success { reference },
        V1Status::Pending => Outcome::InProgress { reference },
        V1Status::Failed => Outcome::FinalFailure {
            code: "failed".into(),
            message: "Singapay v1.0 transfer status failed".into(),
        },
    }
}

/// The transaction id: `data.transaction_id` or `data.id`; the seed's example nests
/// a second envelope (`data.data.id`), which is read too.
pub fn reference(a: &SingapayAnswer) -> Option<String> {
    [
        "/data/transaction_id",
        "/data/id",
        "/data/data/transaction_id",
        "/data/data/id",
    ]
    .iter()
    .find_map(|p| a.text_at(p))
}

pub fn v1_transfer_outcome(a: &SingapayAnswer) -> Outcome {
    match verdict(a, CallKind::Transactional) {
        Verdict::Accepted { .. } => {
            // The seed's example nests a second envelope whose `status` is the HTTP
            // status (a number); the transaction status is the innermost string.
            let str_at = |p: &str| {
                a.json
                    .as_ref()
                    .and_then(|j| j.pointer(p))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let status = str_at("/data/data/status").or_else(|| str_at("/data/status"));
            match status.as_deref().map(str::parse::<V1Status>) {
                Some(Ok(s)) => v1_status_outcome(s, reference(a)),
                Some(Err(reason)) => Outcome::Unknown { reason },
                None => Outcome::InProgress {
                    reference: reference(a),
                },
            }
        }
        Verdict::NotFound => not_found_on_submission(a),
        Verdict::TokenRejected => token_rejected(),
        Verdict::Decided(o) => o,
    }
}

// ---------------------------------------------------------------------------
// v2.0 transfer and inquiry-status
// ---------------------------------------------------------------------------

/// The v2.0 transfer body. A JSON value, because it is sent in canonical form.
/// `amount` is an integer number of rupiah, as in the public vectors.
pub fn v2_transfer_body(req: &TransferRequest, account_id: &str) -> Result<Value, FieldError> {
    validate::mandatory("reference_number", req.partner_reference.as_str(), 64)?;
    validate::mandatory("account_id", account_id, 64)?;
    validate::mandatory("bank_code", req.beneficiary.bank_code.as_str(), 8)?;
    validate::digits(
        "beneficiary_account_number",
        req.beneficiary.account_no.as_str(),
        34,
    )?;
    validate::positive("amount", req.amount)?;
    let amount = whole_rupiah(req.amount)?;
    let mut body = json!({
        "reference_number": req.partner_reference.as_str(),
        "account_id": account_id,
        "bank_code": req.beneficiary.bank_code.as_str(),
        "beneficiary_account_number": req.beneficiary.account_no.as_str(),
        "amount": amount,
    });
    if !req.beneficiary.name.is_empty() {
        validate::max_len("beneficiary_name", &req.beneficiary.name, 100)?;
        body["beneficiary_name"] = json!(req.beneficiary.name);
    }
    if let Some(r) = req.remark.as_deref().filter(|r| !r.is_empty()) {
        validate::max_len("remark", r, 100)?;
        body["remark"] = json!(r);
    }
    Ok(body)
}

fn whole_rupiah(m: Money) -> Result<u64, FieldError> {
    let d = m.as_decimal();
    if !d.fract().is_zero() {
        return Err(FieldError::new(
            "amount",
            "must be whole rupiah (Singapay v2.0 takes an integer)",
        ));
    }
    use rust_decimal::prelude::ToPrimitive;
    d.trunc()
        .to_u64()
        .ok_or_else(|| FieldError::new("amount", "is too large"))
}

pub fn v2_inquiry_body(q: &StatusQuery) -> Value {
    json!({"reference_number": q.partner_reference.as_str()})
}

/// v2.0 `transaction_status.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V2Status {
    Success,
    Initiated,
    Paying,
    Pending,
    Refunded,
    Cancelled,
    Failed,
    NotFound,
}

impl FromStr for V2Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "00" => Ok(V2Status::Success),
            "01" => Ok(V2Status::Initiated),
            "02" => Ok(V2Status::Paying),
            "03" => Ok(V2Status::Pending),
            "04" => Ok(V2Status::Refunded),
            "05" => Ok(V2Status::Cancelled),
            "06" => Ok(V2Status::Failed),
            "07" => Ok(V2Status::NotFound),
            other => Err(format!(
                "unrecognised Singapay transaction_status.code {other:?}"
            )),
        }
    }
}

/// The v2.0 status table. No wildcard.
pub fn v2_status_outcome(s: V2Status, reference: Option<String>, desc: String) -> Outcome {
    match s {
        V2Status::Success => Outcome::Success { reference },
        V2Status::Initiated | V2Status::Paying | V2Status::Pending => {
            Outcome::InProgress { reference }
        }
        V2Status::Refunded => Outcome::Cancelled {
            reference,
            reason: format!("refunded: {desc}"),
        },
        V2Status::Cancelled => Outcome::Cancelled {
            reference,
            reason: format!("cancelled: {desc}"),
        },
        V2Status::Failed => Outcome::FinalFailure {
            code: "06".into(),
            message: desc,
        },
        V2Status::NotFound => Outcome::NotFound,
    }
}

fn v2_status(a: &SingapayAnswer) -> Option<Result<V2Status, String>> {
    a.text_at("/data/transaction_status/code")
        .map(|c| c.parse::<V2Status>())
}

fn v2_accepted(a: &SingapayAnswer) -> Outcome {
    let desc = a
        .text_at("/data/transaction_status/description")
        .unwrap_or_default();
    match v2_status(a) {
        Some(Ok(s)) => v2_status_outcome(s, reference(a), desc),
        Some(Err(reason)) => Outcome::Unknown { reason },
        None => Outcome::InProgress {
            reference: reference(a),
        },
    }
}

pub fn v2_transfer_outcome(a: &SingapayAnswer) -> Outcome {
    match verdict(a, CallKind::Transactional) {
        Verdict::Accepted { .. } => match v2_accepted(a) {
            // A transfer answer cannot say "not found"; do not let it look like one.
            Outcome::NotFound => Outcome::Unknown {
                reason: "transfer answered with status 07 (not found)".into(),
            },
            other => other,
        },
        Verdict::NotFound => not_found_on_submission(a),
        Verdict::TokenRejected => token_rejected(),
        Verdict::Decided(o) => o,
    }
}

pub fn v2_inquiry_outcome(a: &SingapayAnswer) -> Outcome {
    // An error envelope may still carry transaction_status 07.
    if matches!(v2_status(a), Some(Ok(V2Status::NotFound))) {
        return Outcome::NotFound;
    }
    match verdict(a, INQUIRY) {
        Verdict::Accepted { .. } => v2_accepted(a),
        Verdict::NotFound => Outcome::NotFound,
        Verdict::TokenRejected => token_rejected(),
        Verdict::Decided(o) => o,
    }
}

#[cfg(test)]
#[path = "transformers_tests.rs"]
mod tests;
