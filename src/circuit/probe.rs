//! Probes: one cheap call that asks whether a provider answers, mapped to a
//! [`Signal`].

use super::Signal;
use crate::domain::{ExternalId, Money, PartnerReference};
use crate::providers::{Outcome, PayoutProvider, ProviderError, StatusQuery};

/// A reference no producer can have chosen (producers' references are theirs; this
/// one is only used to ask "do you answer?"), for providers without a balance call.
pub(super) const PROBE_REFERENCE: &str = "kirim-circuit-probe";

/// One cheap call to find out whether `provider` answers: `balance`, or, where the
/// provider has no balance call (Singapay), a status inquiry for a reference that
/// does not exist, or, where it has no status inquiry either (Singapay v1.0, the
/// default), a fresh access token. None can move money.
///
/// - answered → [`Signal::Ok`] (for the inquiry, any statement about the
///   transaction, "not found" included);
/// - transport trouble ([`Outcome::Retryable`], [`Outcome::Unknown`], a fenced or
///   unbuilt request) → [`Signal::ConnectFailure`];
/// - the request was refused ([`Outcome::Refused`], [`Outcome::FinalFailure`],
///   configuration) → [`Signal::Refused`].
///
/// When the provider has none of these calls the probe returns `Ok`: it cannot
/// tell, and a breaker that could never close would pause the provider for ever;
/// the next real requests decide instead (they re-open it after
/// `failures_to_open`). A provider that only has a token call is probed with it:
/// otherwise every cool-down of an outage would close its breaker at once and the
/// paused payouts would spend their retries on a provider that is still down.
pub async fn probe(provider: &dyn PayoutProvider, external_id: &ExternalId) -> Signal {
    match provider.balance(external_id).await {
        Ok(_) => Signal::Ok,
        Err(ProviderError::Unsupported { .. }) => inquiry_probe(provider, external_id).await,
        Err(e) => error_signal(&e),
    }
}

async fn inquiry_probe(provider: &dyn PayoutProvider, external_id: &ExternalId) -> Signal {
    let (Ok(reference), Ok(amount)) = (
        PartnerReference::parse(PROBE_REFERENCE),
        Money::parse("10000.00", "amount"),
    ) else {
        return Signal::Ok;
    };
    let query = StatusQuery {
        partner_reference: reference,
        provider_reference: None,
        amount,
        beneficiary_account_no: None,
        transaction_date: crate::snap::timestamp::now(),
        external_id: external_id.clone(),
    };
    match provider.transfer_status(&query).await {
        Ok(ex) => outcome_signal(&ex.outcome, Signal::Ok),
        Err(ProviderError::Unsupported { .. }) => token_probe(provider).await,
        Err(e) => error_signal(&e),
    }
}

/// A fresh access token (not cached): answered → `Ok`; a refused or unreachable
/// token call → its signal; no token call → `Ok` (cannot tell).
async fn token_probe(provider: &dyn PayoutProvider) -> Signal {
    match provider.fresh_token().await {
        Ok(_) => Signal::Ok,
        Err(e) => error_signal(&e),
    }
}

/// Map an outcome; `answered` is what a statement about the transaction means.
pub(super) fn outcome_signal(o: &Outcome, answered: Signal) -> Signal {
    match o {
        Outcome::Retryable { .. } | Outcome::Unknown { .. } => Signal::ConnectFailure,
        Outcome::Refused { .. } => Signal::Refused,
        Outcome::FinalFailure { .. } => answered,
        Outcome::Success { .. }
        | Outcome::InProgress { .. }
        | Outcome::Cancelled { .. }
        | Outcome::NotFound => answered,
        // Nothing was asked of the provider.
        Outcome::NeverReached { .. } => Signal::Ok,
    }
}

pub(super) fn error_signal(e: &ProviderError) -> Signal {
    match e {
        // For a balance call a "final failure" is the provider refusing us.
        ProviderError::Call { outcome, .. } => outcome_signal(outcome, Signal::Refused),
        ProviderError::Config(_) => Signal::Refused,
        ProviderError::Validation(_) | ProviderError::Fenced { .. } => Signal::ConnectFailure,
        ProviderError::Unsupported { .. } => Signal::Ok,
    }
}
