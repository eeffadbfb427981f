//! What a provider's answer means for the payout: the shared taxonomy every
//! provider mapping produces and the decision core reads.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a provider call means for the payout. Every provider answer maps into
/// exactly one of these, with no wildcard arms in the mappings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Money moved (transfer SUCCESS, debit executed).
    Success { reference: Option<String> },
    /// Accepted, not final (INIT, 202, pending). Reconcile later.
    InProgress { reference: Option<String> },
    /// Accepted earlier, then cancelled by the provider (iFortepay CANCELLED, NICEPAY
    /// cancelled/rejected, Singapay cancelled/refunded): final, no money moved.
    Cancelled {
        reference: Option<String>,
        reason: String,
    },
    /// A definite "no" before any money moved (validation, limits, funds, invalid account).
    FinalFailure { code: String, message: String },
    /// The provider did not act; safe to send the same message again after a delay.
    Retryable {
        #[serde(default, with = "crate::domain::millis::option")]
        delay_hint: Option<Duration>,
        reason: String,
    },
    /// We cannot tell whether the provider acted. Inquire; never resend.
    Unknown { reason: String },
    /// The provider (or a gateway in front of it) refused *this request* — its
    /// signature, token, headers, format or route — without saying anything about
    /// the transaction. Never final for a payout: a refused submission stays unsent,
    /// a refused inquiry leaves the payout where it was; both raise an alert and
    /// count against the provider's circuit breaker (DESIGN rule 9).
    Refused { code: String, message: String },
    /// Inquiry only: the provider has no record of this transaction.
    NotFound,
    /// Inquiry only, and certain: no earlier submission of this payout can have
    /// moved money, whatever reached the provider (NICEPAY: no registration
    /// reference was recorded, and no approve is ever sent without one). A new
    /// submission is safe at once and does not count as a resubmission.
    NeverReached { reason: String },
}

impl std::fmt::Display for Outcome {
    /// A sentence for errors and logs (not Rust `Debug`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Success { reference } => match reference {
                Some(r) => write!(f, "success (provider reference {r})"),
                None => f.write_str("success"),
            },
            Outcome::InProgress { .. } => f.write_str("in progress"),
            Outcome::Cancelled { reason, .. } => write!(f, "cancelled: {reason}"),
            Outcome::FinalFailure { code, message } => {
                write!(f, "refused the transaction ({code}: {message})")
            }
            Outcome::Retryable { reason, .. } => write!(f, "not processed, retry later: {reason}"),
            Outcome::Unknown { reason } => write!(f, "outcome unknown: {reason}"),
            Outcome::Refused { code, message } => write!(f, "request refused ({code}: {message})"),
            Outcome::NotFound => f.write_str("no such transaction"),
            Outcome::NeverReached { reason } => write!(f, "never reached the provider: {reason}"),
        }
    }
}

impl Outcome {
    /// Stable label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Success { .. } => "success",
            Outcome::InProgress { .. } => "in_progress",
            Outcome::Cancelled { .. } => "cancelled",
            Outcome::FinalFailure { .. } => "final_failure",
            Outcome::Retryable { .. } => "retryable",
            Outcome::Unknown { .. } => "unknown",
            Outcome::NotFound => "not_found",
            Outcome::NeverReached { .. } => "never_reached",
            Outcome::Refused { .. } => "refused",
        }
    }
}
