//! Singapay wire types and the pure mapping of its answers into [`Outcome`].
//!
//! Singapay is not SNAP: answers are an envelope `{status, success, response_code,
//! response_message, data | error}`. A transient HTTP status (429, 5xx) is never
//! final; otherwise `response_code` decides when it is one Singapay publishes (see
//! [`SpCode`], each with its source); otherwise the `success` flag and the HTTP
//! status decide, conservatively.
//!
//! As for SNAP (DESIGN rule 9, [`crate::providers::snap::answer`]): a refusal of the
//! request (SP016 signature, SP020 unknown `account_id`, a header named in the
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
    fn into_json(self) -> Option<Value> {
        self.json
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

/// Singapay `response_code`s with the provider's published meanings. Source for
/// every code: Singapay's public SDK `aliziodev/singapay-js`, `src/response-code.ts`
/// (`ResponseCode`, `shouldInquireStatus` = SP001/SP005, `requiresTokenRefresh` =
/// SP013); SP001/SP004/SP005/SP013 also in NOTES.md. The outcome each one gets is
/// kirim's reading (docs/conformance/singapay.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpCode {
    /// SP000 Success.
    Success,
    /// SP001 TransactionFailure: outcome unknown, inquire (SDK `shouldInquireStatus`).
    TransactionFailure,
    /// SP002 GeneralFailure: says nothing about the transfer; never final.
    GeneralFailure,
    /// SP003 InsufficientBalance.
    InsufficientBalance,
    /// SP004 DuplicateReferenceNumber: the provider already has it; inquire.
    DuplicateReference,
    /// SP005 Timeout: outcome unknown, inquire (SDK `shouldInquireStatus`).
    Timeout,
    /// SP006 ExceedBeneficiaryLimit.
    ExceedBeneficiaryLimit,
    /// SP007 ExceedAccountLimit.
    ExceedAccountLimit,
    /// SP008 InvalidReferenceNumber: our reference refused (a request-level no).
    InvalidReference,
    /// SP009 TransactionNotFound.
    TransactionNotFound,
    /// SP010 BeneficiaryAccountNotFound.
    BeneficiaryAccountNotFound,
    /// SP011 BeneficiaryVendorNotActive.
    BeneficiaryVendorNotActive,
    /// SP012 BadRequest.
    BadRequest,
    /// SP013 Unauthorized: refresh the token once (SDK `requiresTokenRefresh`).
    TokenInvalid,
    /// SP014 NotFound (a route or resource, not a transaction).
    NotFound,
    /// SP015 Forbidden.
    Forbidden,
    /// SP016 SignatureInvalid.
    SignatureInvalid,
    /// SP017 UnauthorizedIp.
    UnauthorizedIp,
    /// SP018 ValidationError (HTTP 422).
    ValidationError,
    /// SP019 GeneralError: never final.
    GeneralError,
    /// SP020 MerchantAccountNotFound: our configured `account_id`.
    MerchantAccountNotFound,
    /// SP403 AccountCredentialRequired.
    AccountCredentialRequired,
}

impl FromStr for SpCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use SpCode::*;
        Ok(match s {
            "SP000" => Success,
            "SP001" => TransactionFailure,
            "SP002" => GeneralFailure,
            "SP003" => InsufficientBalance,
            "SP004" => DuplicateReference,
            "SP005" => Timeout,
            "SP006" => ExceedBeneficiaryLimit,
            "SP007" => ExceedAccountLimit,
            "SP008" => InvalidReference,
            "SP009" => TransactionNotFound,
            "SP010" => BeneficiaryAccountNotFound,
            "SP011" => BeneficiaryVendorNotActive,
            "SP012" => BadRequest,
            "SP013" => TokenInvalid,
            "SP014" => NotFound,
            "SP015" => Forbidden,
            "SP016" => SignatureInvalid,
            "SP017" => UnauthorizedIp,
            "SP018" => ValidationError,
            "SP019" => GeneralError,
            "SP020" => MerchantAccountNotFound,
            "SP403" => AccountCredentialRequired,
            other => return Err(format!("unrecognised Singapay response_code {other:?}")),
        })
    }
}

/// The inquiry-status call. Singapay codes carry no service part; SP009 is its
/// "not found".
pub const INQUIRY: CallKind = CallKind::Inquiry { services: &[] };

/// Classify an answer. Precedence:
/// 1. a transient HTTP status (429, 5xx) is never final, whatever the code says;
/// 2. a published code (exhaustive, no wildcard);
/// 3. otherwise the `success` flag and the HTTP status, conservatively; on an
///    inquiry an unrecognised code is inconclusive (Unknown), never a failure.
///
/// `SpCode::TransactionNotFound` is [`Verdict::NotFound`] on every call; a
/// submission reads it as unknown ([`not_found_on_submission`]).
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
    let code = a.code.as_deref().map(str::parse::<SpCode>);
    let outcome = match (a.http_status, code) {
        (_, Some(Ok(SpCode::TokenInvalid))) => return Verdict::TokenRejected,
        // Transient answers: never a statement about the transfer.
        (429, _) => Outcome::Retryable {
            delay_hint: a.retry_after,
            reason: reason(),
        },
        (500..=599, _) => unknown_or_retry(kind, reason()),
        (_, Some(Ok(code))) => {
            use SpCode::*;
            match code {
                Success => return Verdict::Accepted { in_progress: false },
                TransactionNotFound => return Verdict::NotFound,
                TokenInvalid => return Verdict::TokenRejected,
                TransactionFailure | Timeout | GeneralFailure | GeneralError => {
                    unknown_or_retry(kind, reason())
                }
                // "The provider already has this reference": inquire.
                DuplicateReference => Outcome::Unknown { reason: reason() },
                // Our credentials, signature, IP, configured account or reference
                // format: refusals of the request, not of the transfer.
                InvalidReference
                | NotFound
                | Forbidden
                | SignatureInvalid
                | UnauthorizedIp
                | MerchantAccountNotFound
                | AccountCredentialRequired => refused(),
                // An invalid field that is a header (X-Timestamp, X-Signature, …) is
                // our clock or signing, not the body.
                BadRequest | ValidationError
                    if a.message.as_deref().is_some_and(names_a_header) =>
                {
                    refused()
                }
                BadRequest
                | ValidationError
                | InsufficientBalance
                | ExceedBeneficiaryLimit
                | ExceedAccountLimit
                | BeneficiaryAccountNotFound
                | BeneficiaryVendorNotActive => final_failure(),
            }
        }
        (_, Some(Err(_))) if matches!(kind, CallKind::Inquiry { .. }) => Outcome::Unknown {
            reason: format!("{} (unrecognised code on an inquiry)", reason()),
        },
        // No code we know: the `success` flag and the HTTP status decide.
        (_, Some(Err(_)) | None) => match (a.http_status, a.success_flag()) {
            (200..=299, Some(true)) => return Verdict::Accepted { in_progress: false },
            // A bare 4xx (a 401 still refused after the one token refresh, a
            // gateway's 403, a route's 404): nothing was said about the transfer.
            (400..=407 | 410..=428 | 430..=499, _) => refused(),
            // 2xx without success=true, 1xx/3xx, 408, 409, unreadable bodies.
            _ => unknown_or_retry(kind, format!("{} (no usable response)", reason())),
        },
    };
    Verdict::Decided(match kind {
        CallKind::Inquiry { .. } => on_inquiry(outcome),
        CallKind::Transactional | CallKind::Read => outcome,
    })
}

/// SP009 "transaction not found" answering a transfer: not a refusal of it. Inquire.
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

/// `POST /api/v1.0/disbursements/transfer/{account_id}` (singapay-disbursement-transfer.txt).
/// The document's body: `password` (optional, 12), `bank_account_number` (M,
/// numeric), `notes` (optional, "Alphabetic"), `amount` (M; the sample sends the
/// string `"11000.00"`), `currency` (optional; the sample `"IDR"`), `bank_swift_code`
/// (M, 8; example `BBRINJA`). No client reference exists in v1.0: `notes` carries
/// the producer's remark only when it is alphabetic (letters and spaces, as the
/// sample `"lorem ipsum"`), never the partner reference (digits, hyphens). A lost
/// answer is resolved by an operator (the lifecycle's NEEDS_REVIEW), never by a
/// resend. `password` is not sent (kirim has no per-transfer password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SingapayV1TransferRequest {
    pub amount: String,
    pub currency: String,
    pub bank_swift_code: String,
    pub bank_account_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// "Alphabetic" as the document's sample shows it: ASCII letters and single spaces.
fn alphabetic(s: &str) -> bool {
    !s.trim().is_empty()
        && s.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
        && !s.contains("  ")
}

pub fn v1_transfer_request(req: &TransferRequest) -> Result<SingapayV1TransferRequest, FieldError> {
    validate::positive("amount", req.amount)?;
    validate::mandatory("bank_swift_code", req.beneficiary.bank_code.as_str(), 8)?;
    validate::digits(
        "bank_account_number",
        req.beneficiary.account_no.as_str(),
        34,
    )?;
    let notes = match req.remark.as_deref().filter(|r| !r.is_empty()) {
        None => None,
        Some(r) if alphabetic(r) => Some(r.to_owned()),
        Some(_) => {
            return Err(FieldError::new(
                "remark",
                "Singapay v1.0 sends it as notes, which is Alphabetic: letters and spaces only",
            ))
        }
    };
    Ok(SingapayV1TransferRequest {
        amount: req.amount.to_wire(),
        currency: "IDR".into(),
        bank_swift_code: req.beneficiary.bank_code.as_str().to_owned(),
        bank_account_number: req.beneficiary.account_no.as_str().to_owned(),
        notes,
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

/// Singapay v2.0's published minimum transfer (public SDK `aliziodev/singapay-js`,
/// `test/e2e/money-out.test.ts`: "The gateway enforces a 10,000 minimum; 5,000
/// answers `422 amount`").
pub const V2_MIN_AMOUNT: u64 = 10_000;

/// The v2.0 transfer body, with the field names Singapay's public material shows
/// (`aliziodev/singapay-js` `test/e2e/money-out.test.ts` sends `reference_number`,
/// `amount` (an integer), `bank_account_number`, `bank_code` ("three digits or
/// SWIFT"), and the SDK adds `account_id`; the Laravel sibling's documentation adds
/// `notes`). A JSON value, because it is sent in canonical form.
pub fn v2_transfer_body(req: &TransferRequest, account_id: &str) -> Result<Value, FieldError> {
    validate::mandatory("reference_number", req.partner_reference.as_str(), 64)?;
    validate::mandatory("account_id", account_id, 64)?;
    validate::mandatory("bank_code", req.beneficiary.bank_code.as_str(), 8)?;
    validate::digits(
        "bank_account_number",
        req.beneficiary.account_no.as_str(),
        34,
    )?;
    validate::positive("amount", req.amount)?;
    let amount = whole_rupiah(req.amount)?;
    if amount < V2_MIN_AMOUNT {
        return Err(FieldError::new(
            "amount",
            "Singapay v2.0 takes at least 10000 (IDR)",
        ));
    }
    let mut body = json!({
        "reference_number": req.partner_reference.as_str(),
        "account_id": account_id,
        "bank_code": req.beneficiary.bank_code.as_str(),
        "bank_account_number": req.beneficiary.account_no.as_str(),
        "amount": amount,
    });
    if let Some(r) = req.remark.as_deref().filter(|r| !r.is_empty()) {
        validate::max_len("remark", r, 100)?;
        body["notes"] = json!(r);
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
