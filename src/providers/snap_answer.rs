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

use std::time::Duration;

use serde_json::Value;

use super::http::RawResponse;
use super::{Balance, Outcome};
use crate::domain::{FieldError, Money};
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

/// Whether a call can move money. Decides how an answer we cannot read is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Transfer, payment, approve: an unreadable answer is an unknown outcome.
    Transactional,
    /// Reads (inquiries, balance, profile, history): an unreadable answer can be
    /// asked again.
    Read,
}

/// What a SNAP answer means, before provider-specific status fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx with a success code (`in_progress` for 202xx00): read the provider's
    /// status fields next.
    Accepted { in_progress: bool },
    /// `404xx01`: the transaction is unknown to the provider.
    NotFound,
    /// `401xx01`/`401xx03` even after one refresh.
    TokenRejected,
    /// Decided by the code or the HTTP status alone.
    Decided(Outcome),
}

/// Classify an answer. See the module doc for the precedence rules.
pub fn verdict(answer: &SnapAnswer, kind: CallKind) -> Verdict {
    if let Some(class) = answer.class() {
        return match class {
            CodeClass::Success => Verdict::Accepted { in_progress: false },
            CodeClass::InProgress => Verdict::Accepted { in_progress: true },
            CodeClass::NotFound => Verdict::NotFound,
            CodeClass::RefreshToken => Verdict::TokenRejected,
            CodeClass::Retryable => Verdict::Decided(Outcome::Retryable {
                delay_hint: answer.retry_after,
                reason: format!("{}: {}", answer.code_or_http(), answer.message_or_default()),
            }),
            CodeClass::FinalFailure => Verdict::Decided(Outcome::FinalFailure {
                code: answer.code_or_http(),
                message: answer.message_or_default(),
            }),
            CodeClass::UnknownOutcome => Verdict::Decided(unknown_or_retry(
                kind,
                format!("{}: {}", answer.code_or_http(), answer.message_or_default()),
            )),
        };
    }
    by_http_status(answer, kind)
}

fn unknown_or_retry(kind: CallKind, reason: String) -> Outcome {
    match kind {
        CallKind::Transactional => Outcome::Unknown { reason },
        CallKind::Read => Outcome::Retryable {
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
        // A proxy or gateway refusing the request before the provider saw it.
        400..=407 | 410..=428 | 430..=499 => Outcome::FinalFailure {
            code: format!("HTTP{status}"),
            message: reason,
        },
        // 2xx without a code, 1xx/3xx, 408, 409, 5xx: it may have been accepted.
        _ => unknown_or_retry(kind, reason),
    };
    Verdict::Decided(outcome)
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
            (400, CallKind::Transactional, "final_failure"),
            (404, CallKind::Read, "final_failure"),
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
        ];
        for (code, expect) in cases {
            let v = verdict(
                &ans(200, Some(json!({"responseCode": code}))),
                CallKind::Transactional,
            );
            let got = match v {
                Verdict::Accepted { .. } => "accepted",
                Verdict::NotFound => "not_found",
                Verdict::TokenRejected => "token",
                Verdict::Decided(o) => o.label(),
            };
            assert_eq!(got, expect, "{code}");
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
