//! What a provider's answer means before its provider-specific status fields are
//! read: one type for every provider (SNAP and Singapay classify into it).

use super::Outcome;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx with a success code (`in_progress` when the code itself says the
    /// request is still being processed, SNAP `202xx00`): read the provider's
    /// status fields next.
    Accepted { in_progress: bool },
    /// The provider's "not found" code. On an inquiry (from the expected service,
    /// for SNAP) the transaction is unknown to the provider; on other calls the
    /// caller decides (a submission never reads it as final).
    NotFound,
    /// The access token was refused even after one refresh.
    TokenRejected,
    /// Decided by the code or the HTTP status alone.
    Decided(Outcome),
}

/// The provider refused our token twice (once after a refresh): nothing was
/// processed, try again later.
pub fn token_rejected() -> Outcome {
    Outcome::Retryable {
        delay_hint: None,
        reason: "access token rejected after a refresh".to_owned(),
    }
}
