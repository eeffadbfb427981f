//! SNAP `responseCode`: HTTP status (3 digits) + service code (2) + case code (2),
//! and its classification into the outcome taxonomy that decides what a worker does.
//!
//! The classification is the single place where "retry", "inquire" and "stop" are
//! decided for SNAP providers. It is deliberately conservative: any code it does not
//! recognise as a definite answer is an [`CodeClass::UnknownOutcome`], because
//! treating an unknown answer as a failure could make an operator resend a payout
//! that was in fact booked.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A parsed SNAP response code, e.g. `2001800` = HTTP 200, service 18, case 00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponseCode {
    /// The HTTP status the code claims (may differ from the transport status).
    pub http_status: u16,
    /// The SNAP service code (18 = interbank transfer, 73 = access token, …).
    pub service: u8,
    /// The case code within the status (00 = generic, 01 = invalid field, …).
    pub case: u8,
}

/// What kind of answer a response code is, and therefore what the worker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeClass {
    /// The provider did it (2xx xx 00 except 202). Record the result.
    Success,
    /// Accepted, not final yet (202xx00). Reconcile later.
    InProgress,
    /// The provider did not act; safe to try again after a delay (429).
    Retryable,
    /// Our access token is invalid or unknown (401xx01, 401xx03): refresh once and retry.
    RefreshToken,
    /// A definite business "no" about the transaction (validation of the body,
    /// limits, funds, invalid account).
    FinalFailure,
    /// The provider refused *this request* (unauthorized, signature, partner or
    /// terminal unknown, inconsistent request, a route that does not exist) and said
    /// nothing about the transaction. Never final for a payout (DESIGN rule 9);
    /// always worth an alert: it points at our configuration or a gateway.
    Refused,
    /// "Transaction not found" (404xx01). Only the status service's own code means
    /// "the provider never received it"; the caller checks the service
    /// ([`ResponseCode::service`]) before believing it.
    NotFound,
    /// We cannot tell whether the provider acted (5xx, 504, 409 duplicates, codes we
    /// do not recognise). Inquire; never resend blindly.
    UnknownOutcome,
}

impl CodeClass {
    /// The spelling used in logs, metrics and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeClass::Success => "success",
            CodeClass::InProgress => "in_progress",
            CodeClass::Retryable => "retryable",
            CodeClass::RefreshToken => "refresh_token",
            CodeClass::FinalFailure => "final_failure",
            CodeClass::Refused => "refused",
            CodeClass::NotFound => "not_found",
            CodeClass::UnknownOutcome => "unknown_outcome",
        }
    }
}

/// A `responseCode` that is not seven ASCII digits with a plausible HTTP status.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("responseCode {value:?} is malformed: {rule}")]
pub struct ResponseCodeError {
    pub value: String,
    pub rule: &'static str,
}

impl FromStr for ResponseCode {
    type Err = ResponseCodeError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let err = |rule| ResponseCodeError {
            value: value.to_owned(),
            rule,
        };
        if value.len() != 7 {
            return Err(err("must be exactly 7 digits"));
        }
        if !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("must contain digits only"));
        }
        // All seven bytes are ASCII digits, so these parses cannot fail.
        let http_status: u16 = value[0..3].parse().map_err(|_| err("bad HTTP status"))?;
        let service: u8 = value[3..5].parse().map_err(|_| err("bad service code"))?;
        let case: u8 = value[5..7].parse().map_err(|_| err("bad case code"))?;
        if !(100..=599).contains(&http_status) {
            return Err(err("HTTP status part must be between 100 and 599"));
        }
        Ok(ResponseCode {
            http_status,
            service,
            case,
        })
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:03}{:02}{:02}",
            self.http_status, self.service, self.case
        )
    }
}

impl ResponseCode {
    /// Build a code (used by the sandbox to answer).
    pub fn new(http_status: u16, service: u8, case: u8) -> Self {
        ResponseCode {
            http_status,
            service,
            case,
        }
    }

    /// Classify per the NOTES.md response-code table (shared/providers/NOTES.md:42-57),
    /// corrected by DESIGN rule 9: the rows NOTES.md calls "final failure, alert"
    /// (401xx00 at :46, 404xx18 at :53) are refusals of the request, not of the
    /// transaction, and so are the other codes that cannot be about the transaction.
    /// The service code never changes the class; "not found" is checked against the
    /// service by the caller ([`crate::providers::snap::answer::verdict`]).
    pub fn classify(&self) -> CodeClass {
        match (self.http_status, self.case) {
            (202, _) => CodeClass::InProgress,
            (200..=299, _) => CodeClass::Success,
            // Invalid token / token not found: refresh once and resend (NOTES.md:47).
            (401, 1) | (401, 3) => CodeClass::RefreshToken,
            // Every other 401 (00 unauthorized incl. signature, 02 …) is about our
            // credentials, never about the transaction.
            (401, _) => CodeClass::Refused,
            (404, 1) => CodeClass::NotFound,
            // 00: a bare "Not Found" is a route, not a record. 16 partner not found,
            // 17 terminal not found, 18 inconsistent request (NOTES.md:53): the
            // request does not match our configuration or an earlier message.
            (404, 0) | (404, 16) | (404, 17) | (404, 18) => CodeClass::Refused,
            // A request timeout may hide an accepted transfer, like 5xx.
            (408, _) => CodeClass::UnknownOutcome,
            (409, _) => CodeClass::UnknownOutcome,
            (429, _) => CodeClass::Retryable,
            // 400 (the body), 403 (limits, funds, not permitted) and the remaining 404
            // cases (invalid account, …) are the provider's business answer.
            (400 | 403 | 404, _) => CodeClass::FinalFailure,
            // No SNAP business refusal uses another 4xx (405 function not supported,
            // 406, 407, 410…): a refusal of the request.
            (400..=499, _) => CodeClass::Refused,
            (500..=599, _) => CodeClass::UnknownOutcome,
            _ => CodeClass::UnknownOutcome,
        }
    }

    /// Codes that point at our configuration or a gateway rather than the payout:
    /// every refusal of the request. An operator should be alerted.
    pub fn needs_alert(&self) -> bool {
        self.classify() == CodeClass::Refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(code: &str) -> CodeClass {
        code.parse::<ResponseCode>().unwrap().classify()
    }

    #[test]
    fn parses_parts() {
        let c: ResponseCode = "2021800".parse().unwrap();
        assert_eq!(c, ResponseCode::new(202, 18, 0));
        assert_eq!(c.to_string(), "2021800");
    }

    #[test]
    fn every_row_of_the_notes_table() {
        // (code, class) for service 18; the service code never changes the class.
        let rows = [
            ("2001800", CodeClass::Success),
            ("2021800", CodeClass::InProgress),
            ("4001800", CodeClass::FinalFailure),
            ("4001801", CodeClass::FinalFailure),
            ("4001802", CodeClass::FinalFailure),
            ("4011800", CodeClass::Refused),
            ("4011801", CodeClass::RefreshToken),
            ("4011802", CodeClass::Refused),
            ("4011803", CodeClass::RefreshToken),
            ("4031802", CodeClass::FinalFailure),
            ("4031814", CodeClass::FinalFailure),
            ("4031801", CodeClass::FinalFailure),
            ("4031805", CodeClass::FinalFailure),
            ("4031809", CodeClass::FinalFailure),
            ("4031815", CodeClass::FinalFailure),
            ("4031818", CodeClass::FinalFailure),
            ("4041800", CodeClass::Refused),
            ("4041801", CodeClass::NotFound),
            ("4041811", CodeClass::FinalFailure),
            ("4041816", CodeClass::Refused),
            ("4041817", CodeClass::Refused),
            ("4041818", CodeClass::Refused),
            ("4051800", CodeClass::Refused),
            ("4081800", CodeClass::UnknownOutcome),
            ("4091800", CodeClass::UnknownOutcome),
            ("4091801", CodeClass::UnknownOutcome),
            ("4291800", CodeClass::Retryable),
            ("5001800", CodeClass::UnknownOutcome),
            ("5001801", CodeClass::UnknownOutcome),
            ("5001802", CodeClass::UnknownOutcome),
            ("5041800", CodeClass::UnknownOutcome),
        ];
        for (code, expected) in rows {
            assert_eq!(class(code), expected, "{code}");
        }
        assert_eq!(class("2007300"), CodeClass::Success);
        assert_eq!(class("4017301"), CodeClass::RefreshToken);
    }

    #[test]
    fn alerts() {
        assert!("4011800".parse::<ResponseCode>().unwrap().needs_alert());
        assert!("4041818".parse::<ResponseCode>().unwrap().needs_alert());
        assert!("4041800".parse::<ResponseCode>().unwrap().needs_alert());
        assert!("4011802".parse::<ResponseCode>().unwrap().needs_alert());
        assert!(!"4041811".parse::<ResponseCode>().unwrap().needs_alert());
        assert!(!"4031814".parse::<ResponseCode>().unwrap().needs_alert());
        assert!(!"4011801".parse::<ResponseCode>().unwrap().needs_alert());
    }

    #[test]
    fn refusals_of_the_request_are_not_failures_of_the_transaction() {
        for code in [
            "4011300", "4017300", "4015502", "4041316", "4040017", "4045518",
        ] {
            assert_eq!(class(code), CodeClass::Refused, "{code}");
        }
        // The business answers stay final.
        for code in ["4031814", "4041811", "4001801", "4001802", "4031802"] {
            assert_eq!(class(code), CodeClass::FinalFailure, "{code}");
        }
    }

    #[test]
    fn malformed_codes() {
        for bad in [
            "",
            "200180",
            "20018000",
            "20018a0",
            " 200180",
            "0001800",
            "9991800",
            "２００１８００",
        ] {
            let err = bad.parse::<ResponseCode>().unwrap_err();
            assert_eq!(err.value, bad);
        }
    }

    #[test]
    fn unrecognised_statuses_are_unknown_not_failure() {
        assert_eq!(class("3021800"), CodeClass::UnknownOutcome);
        assert_eq!(class("1001800"), CodeClass::UnknownOutcome);
    }
}
