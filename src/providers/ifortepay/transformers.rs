//! iFortepay wire types and the pure mapping between them and kirim's types: request
//! building with every rule of the provider tables, and answers mapped into
//! [`Outcome`]. No I/O here; tests need no network.
//!
//! The products live in their own files (`disbursement.rs` and `direct_debit.rs`)
//! and are re-exported here; this file keeps what they share: the transfer status
//! table (also read by the webhook), the reference of an answer and the reading of
//! a submission's `404xx01`.

use std::str::FromStr;

pub use super::direct_debit::*;
pub use super::disbursement::*;
use crate::providers::snap::answer::SnapAnswer;
pub use crate::providers::verdict::token_rejected;
use crate::providers::Outcome;

/// `additionalInfo.status` of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfortepayStatus {
    /// Accepted, being processed.
    Init,
    /// Money sent.
    Success,
    /// Failed; balance refunded.
    Cancelled,
}

impl FromStr for IfortepayStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "INIT" => Ok(IfortepayStatus::Init),
            "SUCCESS" => Ok(IfortepayStatus::Success),
            "CANCELLED" => Ok(IfortepayStatus::Cancelled),
            other => Err(format!("unrecognised iFortepay status {other:?}")),
        }
    }
}

/// The status → outcome table. No wildcard: a new status breaks the build.
pub fn status_outcome(
    status: IfortepayStatus,
    reference: Option<String>,
    cancel_reason: String,
) -> Outcome {
    match status {
        IfortepayStatus::Init => Outcome::InProgress { reference },
        IfortepayStatus::Success => Outcome::Success { reference },
        IfortepayStatus::Cancelled => Outcome::Cancelled {
            reference,
            reason: cancel_reason,
        },
    }
}

/// The provider's reference of an answer, if any.
pub fn reference(answer: &SnapAnswer) -> Option<String> {
    answer
        .str_at("referenceNo")
        .or_else(|| answer.str_at("originalReferenceNo"))
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
}

/// Status of an accepted answer: `additionalInfo.status`, or a top-level `status`
/// (history detail), mapped; absent means accepted, not yet confirmed.
pub(super) fn accepted_outcome(answer: &SnapAnswer) -> Outcome {
    let reference = reference(answer);
    let status = answer
        .str_at("additionalInfo.status")
        .or_else(|| answer.str_at("status"));
    let Some(status) = status else {
        // Accepted without a status: in progress until an inquiry confirms it.
        return Outcome::InProgress { reference };
    };
    match status.parse::<IfortepayStatus>() {
        Ok(s) => {
            let reason = answer
                .str_at("additionalInfo.cancelledReason")
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .or_else(|| answer.message.clone())
                .unwrap_or_else(|| "CANCELLED".to_owned());
            status_outcome(s, reference, reason)
        }
        Err(reason) => Outcome::Unknown { reason },
    }
}

/// `404xx01` "transaction not found" answering a submission is no statement that
/// the submission was refused: NOTES.md:51 gives it a meaning only on an inquiry,
/// and it may come from a gateway or the token service (review M5). Inquire.
pub(super) fn not_found_on_submission(answer: &SnapAnswer) -> Outcome {
    Outcome::Unknown {
        reason: format!(
            "{} on a submission: {}",
            answer.code_raw.as_deref().unwrap_or("404xx01"),
            answer.message.as_deref().unwrap_or("(no responseMessage)")
        ),
    }
}

#[cfg(test)]
#[path = "transformers_tests.rs"]
mod tests;
