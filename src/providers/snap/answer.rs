//! Reading a SNAP answer (iFortepay, NICEPAY): the `responseCode` in the body, the
//! HTTP status, and what the two together mean before a provider looks at its own
//! status fields. Pure: the provider transformers call [`verdict`] and then map
//! their status field; only [`crate::snap::ResponseCode::classify`] decides classes.
//!
//! # When the HTTP status and the body disagree
//! The body's `responseCode` wins when it parses (an HTTP 200 carrying `5001800` is a
//! server error; an HTTP 500 carrying `2021800` was accepted). Without one, the HTTP
//! status decides, conservatively: anything that might hide an accepted transfer
//! (2xx without a code, 408, 409, 5xx) is an unknown outcome on a transactional call.
//!
//! # A refused request is not a failed transaction (DESIGN rule 9)
//! Auth, signature, header, route and gateway refusals become [`Outcome::Refused`]:
//! the code classes of [`CodeClass::Refused`], a 4xx whose `responseMessage` names a
//! request header, and a bare HTTP 4xx without a usable code (a WAF's HTML 403, a
//! route's 404). On a status inquiry ([`CallKind::Inquiry`]) no answer about the
//! *request* is a statement about the transaction, so every "no" it gets is a
//! refusal ([`on_inquiry`]); only the transaction's own status field, read by the
//! provider's mapping, may finalise a payout.

use std::time::Duration;

use serde_json::Value;

use crate::domain::{FieldError, Money};
use crate::providers::http::{Answer, RawResponse};
use crate::providers::{Balance, Outcome};
use crate::snap::{CodeClass, ResponseCode};

/// The parts of a SNAP answer every mapping needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapAnswer {
    pub http_status: u16,
    pub retry_after: Option<Duration>,
    /// The body, when it is JSON.
    pub json: Option<Value>,
    /// `responseCode` as sent, if any.
    pub code_raw: Option<String>,
    /// `responseCode` parsed, when it is a valid SNAP code.
    pub code: Option<ResponseCode>,
    pub message: Option<String>,
}

impl SnapAnswer {
    pub fn from_raw(raw: &RawResponse) -> Self {
        Self::new(raw.status, raw.retry_after, raw.json())
    }

    pub fn new(http_status: u16, retry_after: Option<Duration>, json: Option<Value>) -> Self {
        let code_raw = json
            .as_ref()
            .and_then(|j| j.get("responseCode"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let code = code_raw
            .as_deref()
            .and_then(|c| c.parse::<ResponseCode>().ok());
        let message = json
            .as_ref()
            .and_then(|j| j.get("responseMessage"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        SnapAnswer {
            http_status,
            retry_after,
            json,
            code_raw,
            code,
            message,
        }
    }

    /// The class of the answer per the body's code (if any).
    pub fn class(&self) -> Option<CodeClass> {
        self.code.map(|c| c.classify())
    }

    /// Whether the provider asks for a new token (`401xx01`, `401xx03`).
    pub fn wants_new_token(&self) -> bool {
        self.class() == Some(CodeClass::RefreshToken)
    }

    /// A string field at a dotted path (`additionalInfo.status`).
    pub fn str_at(&self, path: &str) -> Option<&str> {
        let mut v = self.json.as_ref()?;
        for part in path.split('.') {
            v = v.get(part)?;
        }
        v.as_str()
    }

    fn code_or_http(&self) -> String {
        self.code_raw
            .clone()
            .unwrap_or_else(|| format!("HTTP{}", self.http_status))
    }

    fn message_or_default(&self) -> String {
        self.message
            .clone()
            .unwrap_or_else(|| "(no responseMessage)".to_owned())
    }
}

/// Whether a call can move money, and whether it asks about one transaction.
/// Decides how an answer we cannot read, a "no" and a "not found" are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Transfer, payment, registration, approve: an unreadable answer is an unknown
    /// outcome.
    Transactional,
    /// Reads that are not about one transaction (balance, profile, account
    /// inquiry, history list, token): an unreadable answer can be asked again.
    Read,
    /// A status inquiry about one transaction, answered by the SNAP service(s)
    /// `services`. Read like [`CallKind::Read`], except that a refusal is never a
    /// failure of the transaction ([`on_inquiry`]) and `404xx01` is "not found"
    /// only when it comes from one of these services: the same code from a
    /// gateway or from the token service (73) says nothing about the transaction
    /// (review M5).
    Inquiry { services: &'static [u8] },
}

/// The request headers a refusal may name (ifortepay-transfer-interbank.txt:33-39,
/// nicepay-payout-inquiry.txt:12-17, and `X-CLIENT-KEY`/`X-CLIENT-ID` of the token
/// calls, NOTES.md:11,106). A 4xx naming one refuses the request, not the transfer.
const HEADER_NAMES: [&str; 8] = [
    "x-timestamp",
    "x-signature",
    "x-partner-id",
    "x-external-id",
    "channel-id",
    "authorization",
    "x-client-key",
    "x-client-id",
];

/// Whether a response message names a request header (case-insensitive), e.g.
/// `"Invalid Field Format X-TIMESTAMP"`.
pub fn names_a_header(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    HEADER_NAMES.iter().any(|h| lower.contains(h))
}

/// A request-level decision as it stands on a status inquiry: the inquiry was
/// refused, the transaction is not failed. A "no" to an inquiry (bad signature,
/// a WAF, an invalid field of the inquiry body, even "insufficient funds" from a
/// confused gateway) leaves the payout where it was (review C1); only the
/// transaction's own status field may finalise it. Everything else is unchanged.
pub fn on_inquiry(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::FinalFailure { code, message } => Outcome::Refused { code, message },
        other => other,
    }
}

pub use crate::providers::verdict::Verdict;

/// Classify an answer. See the module doc for the precedence rules.
pub fn verdict(answer: &SnapAnswer, kind: CallKind) -> Verdict {
    match answer.code {
        Some(code) => by_code(answer, code, kind),
        None => by_http_status(answer, kind),
    }
}

fn by_code(answer: &SnapAnswer, code: ResponseCode, kind: CallKind) -> Verdict {
    let reason = || format!("{}: {}", answer.code_or_http(), answer.message_or_default());
    let refused = || Outcome::Refused {
        code: answer.code_or_http(),
        message: answer.message_or_default(),
    };
    let outcome = match code.classify() {
        CodeClass::Success => return Verdict::Accepted { in_progress: false },
        CodeClass::InProgress => return Verdict::Accepted { in_progress: true },
        CodeClass::RefreshToken => return Verdict::TokenRejected,
        CodeClass::NotFound => match kind {
            CallKind::Inquiry { services } if !services.contains(&code.service) => refused(),
            CallKind::Inquiry { .. } | CallKind::Transactional | CallKind::Read => {
                return Verdict::NotFound
            }
        },
        CodeClass::Retryable => Outcome::Retryable {
            delay_hint: answer.retry_after,
            reason: reason(),
        },
        // "Invalid field X-TIMESTAMP" is about our headers (clock, signing), not
        // about the transaction the body describes.
        CodeClass::FinalFailure if answer.message.as_deref().is_some_and(names_a_header) => {
            refused()
        }
        CodeClass::FinalFailure => Outcome::FinalFailure {
            code: answer.code_or_http(),
            message: answer.message_or_default(),
        },
        CodeClass::Refused => refused(),
        CodeClass::UnknownOutcome => unknown_or_retry(kind, reason()),
    };
    Verdict::Decided(for_call(kind, outcome))
}

/// A decision by code or HTTP status, as it applies to a call of `kind`.
fn for_call(kind: CallKind, outcome: Outcome) -> Outcome {
    match kind {
        CallKind::Inquiry { .. } => on_inquiry(outcome),
        CallKind::Transactional | CallKind::Read => outcome,
    }
}

/// An answer that cannot tell whether the provider acted: unknown on a call that
/// can move money (inquire, never resend), retryable on a read.
pub fn unknown_or_retry(kind: CallKind, reason: String) -> Outcome {
    match kind {
        CallKind::Transactional => Outcome::Unknown { reason },
        CallKind::Read | CallKind::Inquiry { .. } => Outcome::Retryable {
            delay_hint: None,
            reason,
        },
    }
}

/// No usable `responseCode`: decide by the HTTP status.
fn by_http_status(answer: &SnapAnswer, kind: CallKind) -> Verdict {
    let status = answer.http_status;
    let what = if answer.json.is_some() {
        "a JSON body without a valid responseCode"
    } else {
        "a body that is not JSON"
    };
    let reason = match &answer.code_raw {
        Some(raw) => format!("HTTP {status} with malformed responseCode {raw:?}"),
        None => format!("HTTP {status} with {what}"),
    };
    let outcome = match status {
        429 => Outcome::Retryable {
            delay_hint: answer.retry_after,
            reason,
        },
        // A proxy, WAF or router refusing the request (an HTML 403, a route's 404):
        // without a SNAP code nothing was said about the transaction.
        400..=407 | 410..=428 | 430..=499 => Outcome::Refused {
            code: format!("HTTP{status}"),
            message: reason,
        },
        // 2xx without a code, 1xx/3xx, 408, 409, 5xx: it may have been accepted.
        _ => unknown_or_retry(kind, reason),
    };
    Verdict::Decided(for_call(kind, outcome))
}

/// Find a `{value, currency}` amount at a path of a JSON value.
pub fn amount_at(v: &Value, key: &str) -> Option<Result<Money, FieldError>> {
    let a = v.get(key)?;
    let value = a
        .get("value")
        .and_then(Value::as_str)
        .or_else(|| a.as_str())?;
    Some(Money::parse(value, key))
}

/// Balance answer → available balance. Reads `accountInfos[0].availableBalance`
/// (SNAP), else its `amount`, else a top-level `availableBalance`/`amount`.
pub fn balance_result(answer: &SnapAnswer) -> Result<Balance, Outcome> {
    match verdict(answer, CallKind::Read) {
        Verdict::Accepted { .. } => {}
        Verdict::NotFound => {
            return Err(Outcome::FinalFailure {
                code: answer.code_raw.clone().unwrap_or_default(),
                message: answer.message.clone().unwrap_or_default(),
            })
        }
        Verdict::TokenRejected => {
            return Err(Outcome::Retryable {
                delay_hint: None,
                reason: "access token rejected after a refresh".into(),
            })
        }
        Verdict::Decided(o) => return Err(o),
    }
    let json = answer.json.as_ref();
    let info = json
        .and_then(|j| j.get("accountInfos"))
        .and_then(|a| a.get(0))
        .or(json);
    let found =
        info.and_then(|i| amount_at(i, "availableBalance").or_else(|| amount_at(i, "amount")));
    match found {
        Some(Ok(available)) => Ok(Balance {
            available,
            currency: "IDR".to_owned(),
        }),
        Some(Err(e)) => Err(Outcome::Retryable {
            delay_hint: None,
            reason: format!("balance answer has a malformed amount: {e}"),
        }),
        None => Err(Outcome::Retryable {
            delay_hint: None,
            reason: "balance answer without an amount".into(),
        }),
    }
}

impl Answer for SnapAnswer {
    fn from_raw(raw: &RawResponse) -> Self {
        SnapAnswer::from_raw(raw)
    }
    fn code(&self) -> Option<String> {
        self.code_raw.clone()
    }
    fn message(&self) -> Option<String> {
        self.message.clone()
    }
    fn into_json(self) -> Option<Value> {
        self.json
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ans(status: u16, body: Option<Value>) -> SnapAnswer {
        SnapAnswer::new(status, None, body)
    }

    #[test]
    fn body_code_wins_over_http_status() {
        let a = ans(
            200,
            Some(json!({"responseCode": "5001800", "responseMessage": "x"})),
        );
        assert!(matches!(
            verdict(&a, CallKind::Transactional),
            Verdict::Decided(Outcome::Unknown { .. })
        ));
        let a = ans(500, Some(json!({"responseCode": "2021800"})));
        assert_eq!(
            verdict(&a, CallKind::Transactional),
            Verdict::Accepted { in_progress: true }
        );
    }

    #[test]
    fn unparsable_body_falls_back_to_http_status() {
        let cases = [
            (200, CallKind::Transactional, "unknown"),
            (200, CallKind::Read, "retryable"),
            (500, CallKind::Transactional, "unknown"),
            (504, CallKind::Transactional, "unknown"),
            (409, CallKind::Transactional, "unknown"),
            (429, CallKind::Transactional, "retryable"),
            // A gateway's or router's refusal says nothing about the transaction.
            (400, CallKind::Transactional, "refused"),
            (401, CallKind::Transactional, "refused"),
            (403, CallKind::Transactional, "refused"),
            (404, CallKind::Read, "refused"),
            (405, CallKind::Transactional, "refused"),
            (410, CallKind::Transactional, "refused"),
            (499, CallKind::Transactional, "refused"),
            (408, CallKind::Transactional, "unknown"),
            (408, CallKind::Read, "retryable"),
            (429, CallKind::Read, "retryable"),
            (500, INQ, "retryable"),
            (403, INQ, "refused"),
        ];
        for (status, kind, label) in cases {
            let Verdict::Decided(o) = verdict(&ans(status, None), kind) else {
                panic!("{status}: not decided");
            };
            assert_eq!(o.label(), label, "{status} {kind:?}");
        }
        // A JSON body whose code is malformed also falls back.
        let a = ans(200, Some(json!({"responseCode": "20018"})));
        assert!(matches!(
            verdict(&a, CallKind::Transactional),
            Verdict::Decided(Outcome::Unknown { .. })
        ));
    }

    const INQ: CallKind = CallKind::Inquiry { services: &[13] };

    fn label(v: Verdict) -> &'static str {
        match v {
            Verdict::Accepted { .. } => "accepted",
            Verdict::NotFound => "not_found",
            Verdict::TokenRejected => "token",
            Verdict::Decided(o) => o.label(),
        }
    }

    fn coded(status: u16, code: &str, message: &str) -> SnapAnswer {
        ans(
            status,
            Some(json!({"responseCode": code, "responseMessage": message})),
        )
    }

    #[test]
    fn refusals_of_the_request_on_a_submission() {
        let cases = [
            ("4011800", "Unauthorized. Signature", "refused"),
            ("4011802", "Unauthorized", "refused"),
            ("4041800", "Not Found", "refused"),
            ("4041816", "Partner Not Found", "refused"),
            ("4041817", "Invalid Terminal", "refused"),
            ("4041818", "Inconsistent Request", "refused"),
            // A header named in a 400 is our clock or signing, not the body.
            ("4001801", "Invalid Field Format [X-TIMESTAMP]", "refused"),
            ("4001802", "Invalid Mandatory Field x-partner-id", "refused"),
            ("4001801", "invalid channel-id", "refused"),
            ("4031801", "Authorization header missing", "refused"),
            // The business answers stay final.
            (
                "4001801",
                "Invalid Field Format amount.value",
                "final_failure",
            ),
            (
                "4001802",
                "Invalid Mandatory Field beneficiaryAccountNo",
                "final_failure",
            ),
            ("4031814", "Insufficient Funds", "final_failure"),
            (
                "4031802",
                "Exceeds Transaction Amount Limit",
                "final_failure",
            ),
            ("4041811", "Invalid Account", "final_failure"),
            // A duplicate X-EXTERNAL-ID is "the provider has it": inquire, never refuse.
            ("4091800", "Conflict X-EXTERNAL-ID", "unknown"),
            ("4011801", "Invalid token X-SIGNATURE", "token"),
            ("4291800", "Too Many Requests X-PARTNER-ID", "retryable"),
        ];
        for (code, message, expect) in cases {
            let got = label(verdict(&coded(400, code, message), CallKind::Transactional));
            assert_eq!(got, expect, "{code} {message}");
        }
        let Verdict::Decided(o) = verdict(
            &coded(401, "4011800", "Unauthorized. Signature"),
            CallKind::Transactional,
        ) else {
            panic!("not decided");
        };
        assert_eq!(
            o,
            Outcome::Refused {
                code: "4011800".into(),
                message: "Unauthorized. Signature".into()
            }
        );
    }

    #[test]
    fn on_an_inquiry_no_request_level_no_fails_the_transaction() {
        let cases = [
            (401, "4011300", "Unauthorized. Signature", "refused"),
            (
                400,
                "4001301",
                "Invalid Field Format X-TIMESTAMP",
                "refused",
            ),
            (
                400,
                "4001302",
                "Invalid Mandatory Field originPartnerReferenceNo",
                "refused",
            ),
            (403, "4031314", "Insufficient Funds", "refused"),
            (404, "4041311", "Invalid Account", "refused"),
            (404, "4041300", "Not Found", "refused"),
            // Only the status service's own "not found" is believed (review M5).
            (404, "4041301", "Transaction Not Found", "not_found"),
            (404, "4047301", "Transaction Not Found", "refused"),
            (404, "4040001", "Not Found", "refused"),
            (404, "4041801", "Transaction Not Found", "refused"),
            (401, "4011301", "Invalid Token", "token"),
            (429, "4291300", "Too Many Requests", "retryable"),
            (500, "5001300", "General Error", "retryable"),
            (409, "4091300", "Conflict", "retryable"),
            (200, "2001300", "Successful", "accepted"),
        ];
        for (status, code, message, expect) in cases {
            let got = label(verdict(&coded(status, code, message), INQ));
            assert_eq!(got, expect, "{code} {message}");
        }
        // Several services may answer a status inquiry.
        let two = CallKind::Inquiry { services: &[0, 36] };
        for code in ["4040001", "4043601"] {
            assert_eq!(label(verdict(&coded(404, code, "x"), two)), "not_found");
        }
        // Off an inquiry, the caller decides what a 404xx01 means.
        for kind in [CallKind::Transactional, CallKind::Read] {
            assert_eq!(
                label(verdict(&coded(404, "4047301", "x"), kind)),
                "not_found"
            );
        }
    }

    #[test]
    fn the_inquiry_helper_only_turns_a_no_into_a_refusal() {
        assert_eq!(
            on_inquiry(Outcome::FinalFailure {
                code: "c".into(),
                message: "m".into()
            }),
            Outcome::Refused {
                code: "c".into(),
                message: "m".into()
            }
        );
        for o in [
            Outcome::NotFound,
            Outcome::Unknown { reason: "r".into() },
            Outcome::Success { reference: None },
            Outcome::Cancelled {
                reference: None,
                reason: "r".into(),
            },
        ] {
            assert_eq!(on_inquiry(o.clone()), o);
        }
        assert!(names_a_header("invalid x-signature"));
        assert!(names_a_header("X-EXTERNAL-ID is mandatory"));
        assert!(!names_a_header("Unauthorized. Signature"));
        assert!(!names_a_header("Invalid Field Format amount"));
    }

    #[test]
    fn classes() {
        let cases = [
            ("2001800", "accepted"),
            ("4041801", "not_found"),
            ("4011801", "token"),
            ("4011803", "token"),
            ("4291800", "retryable"),
            ("4041811", "final_failure"),
            ("4031814", "final_failure"),
            ("4091801", "unknown"),
            ("5041800", "unknown"),
            ("4011800", "refused"),
            ("4041800", "refused"),
        ];
        for (code, expect) in cases {
            let v = verdict(
                &ans(200, Some(json!({"responseCode": code}))),
                CallKind::Transactional,
            );
            assert_eq!(label(v), expect, "{code}");
        }
    }

    #[test]
    fn retry_after_becomes_the_hint() {
        let a = SnapAnswer::new(
            429,
            Some(Duration::from_secs(3)),
            Some(json!({"responseCode": "4291800"})),
        );
        assert_eq!(
            verdict(&a, CallKind::Transactional),
            Verdict::Decided(Outcome::Retryable {
                delay_hint: Some(Duration::from_secs(3)),
                reason: "4291800: (no responseMessage)".into()
            })
        );
    }
}
