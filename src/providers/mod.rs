//! The one provider interface the worker talks to, and the shared outcome taxonomy
//! every provider maps into.
//!
//! A provider lives in its own module with two halves (hyperswitch's habit):
//! `mod.rs`/`client.rs` is the HTTP glue (URLs, headers, signing, token cache), and
//! `transformers.rs` holds only serde wire types and the pure mapping from provider
//! answers to [`Outcome`]. Only [`Outcome`] decides whether the worker retries,
//! inquires or stops.
//!
//! "The provider said no" is data ([`Outcome::FinalFailure`], [`Outcome::Cancelled`]);
//! "we could not tell" is [`Outcome::Unknown`]; "nothing was sent" is a
//! [`ProviderError`].

pub mod audit;
pub mod http;
pub mod ifortepay;
pub mod module;
pub mod nicepay;
pub mod registry;
pub mod singapay;
pub mod snap;
pub mod token;
pub mod validate;
pub mod verdict;
pub mod webhook;

pub use crate::domain::Outcome;
pub use module::{Capability, ModuleParts, ProviderModule};
pub use registry::{build_all, builtin_ids, Providers, Registry};

/// The payout (its partnerReferenceNo) that a transaction `provider` booked under
/// `booked_reference` belongs to. Every provider books a payout under the payout's
/// own reference, except NICEPAY after a lost registration answer: kirim then
/// registers once more under a derived `{reference}R{HHMMSSmmm}`
/// ([`nicepay::transformers::derived_partner_reference`]), which maps back here.
/// Oracles that hold a provider's books against the ledger (the crash test, the
/// Sentinel failover test, the chaos run) count money per payout through this.
pub fn payout_reference_of(provider: Provider, booked_reference: &str) -> &str {
    if provider == nicepay::ID {
        nicepay::transformers::payout_reference_of(booked_reference)
    } else {
        booked_reference
    }
}

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::{
    AccountNumber, BankCode, Beneficiary, ExternalId, FieldError, Money, PartnerReference,
    Provider, Secret,
};

/// One request/response exchange with a provider, as the worker records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub outcome: Outcome,
    /// Provider response code as sent (`2021800`, `SP004`, …), if any.
    pub response_code: Option<String>,
    pub response_message: Option<String>,
    /// Transport status, if a response arrived.
    pub http_status: Option<u16>,
    /// Wall time of the call(s).
    #[serde(with = "crate::domain::millis")]
    pub latency: Duration,
    /// The response body with secrets and tokens redacted, for the audit trail.
    pub audit: Option<serde_json::Value>,
    /// Direct debit with OTP: the token the OTP step needs. A secret.
    #[serde(skip)]
    pub charge_token: Option<Secret>,
    /// The provider's own reference when the answer carried one, whatever the
    /// outcome. Persist it: NICEPAY's inquiry and approve need it, and an unknown
    /// outcome after a NICEPAY registration is resolved through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_reference: Option<String>,
}

impl Exchange {
    /// An exchange with only an outcome (e.g. a transport failure).
    pub fn bare(outcome: Outcome, latency: Duration) -> Self {
        Exchange {
            outcome,
            response_code: None,
            response_message: None,
            http_status: None,
            latency,
            audit: None,
            charge_token: None,
            provider_reference: None,
        }
    }

    /// The provider reference: the one in the outcome, else the one recorded.
    pub fn reference(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Success { reference }
            | Outcome::InProgress { reference }
            | Outcome::Cancelled { reference, .. } => reference.as_deref(),
            Outcome::FinalFailure { .. }
            | Outcome::Retryable { .. }
            | Outcome::Unknown { .. }
            | Outcome::NotFound
            | Outcome::NeverReached { .. }
            | Outcome::Refused { .. } => None,
        }
        .or(self.provider_reference.as_deref())
    }
}

/// The engine's hold on a submission (DESIGN rule 11, "fence the send").
///
/// A provider client calls [`SendFence::before_send`] immediately before it writes
/// a request that can move money (after the token fetch, the profile check and the
/// signing), and again before a resend after a token refresh. A two-step provider
/// calls [`SendFence::first_step_done`] with the first step's reference (NICEPAY's
/// registration `referenceNo`) and sends the second step only when it returns `Ok`:
/// the engine persists the reference in the ledger first.
#[async_trait]
pub trait SendFence: Send + Sync {
    /// `Ok` → write the request now. `Err(reason)` → do not send (the deadline has
    /// passed, or the ledger moved on).
    async fn before_send(&self, step: &'static str) -> Result<(), String>;
    /// The first step of a two-step submission answered with `provider_reference`.
    /// `Err(reason)` → do not send the next step.
    async fn first_step_done(&self, provider_reference: &str) -> Result<(), String>;
}

/// A fence that always allows (tools and tests that drive a provider directly).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFence;

#[async_trait]
impl SendFence for NoFence {
    async fn before_send(&self, _step: &'static str) -> Result<(), String> {
        Ok(())
    }
    async fn first_step_done(&self, _provider_reference: &str) -> Result<(), String> {
        Ok(())
    }
}

/// The fence a request carries. Not data: skipped by serde, equal to any other
/// handle, so request types stay comparable and serialisable.
#[derive(Clone, Default)]
pub struct FenceHandle(pub Option<std::sync::Arc<dyn SendFence>>);

impl FenceHandle {
    pub fn new(fence: std::sync::Arc<dyn SendFence>) -> Self {
        FenceHandle(Some(fence))
    }

    /// See [`SendFence::before_send`]; always `Ok` without a fence.
    pub async fn before_send(&self, step: &'static str) -> Result<(), String> {
        match &self.0 {
            Some(f) => f.before_send(step).await,
            None => Ok(()),
        }
    }

    /// See [`SendFence::first_step_done`]; always `Ok` without a fence.
    pub async fn first_step_done(&self, provider_reference: &str) -> Result<(), String> {
        match &self.0 {
            Some(f) => f.first_step_done(provider_reference).await,
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for FenceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "FenceHandle(set)"
        } else {
            "FenceHandle(none)"
        })
    }
}

impl PartialEq for FenceHandle {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for FenceHandle {}

/// Nothing was sent: the request could not be built.
#[derive(Debug, Error)]
pub enum ProviderError {
    /// Bad input; names the field and the rule. Nothing reached the network.
    // Not `#[from]`: that would also make the FieldError the error's source, and
    // `{:#}` would print the field and rule twice.
    #[error("invalid request: {0}")]
    Validation(FieldError),
    /// The [`SendFence`] refused: the request was not written. `sent_before` says
    /// whether an earlier step of the same submission was (NICEPAY registration).
    #[error("not sent: {reason}")]
    Fenced { reason: String, sent_before: bool },
    /// The provider has no such operation.
    #[error("{provider} does not support {operation}")]
    Unsupported {
        provider: Provider,
        operation: &'static str,
    },
    /// Misconfiguration (missing key, bad URL); names the key.
    #[error("provider configuration: {0}")]
    Config(String),
    /// A non-transactional call (balance, profile, history, account inquiry) that
    /// did not give a usable answer. `outcome` says whether retrying can help.
    #[error("{operation} failed: {outcome}")]
    Call {
        operation: &'static str,
        outcome: Outcome,
        response_code: Option<String>,
    },
}

impl From<FieldError> for ProviderError {
    fn from(e: FieldError) -> Self {
        ProviderError::Validation(e)
    }
}

/// A transfer (disbursement) as the worker asks for it. Merchant-level fields come
/// from each provider's settings, not from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRequest {
    pub partner_reference: PartnerReference,
    pub amount: Money,
    pub beneficiary: Beneficiary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// The message id for this submission, allocated and persisted by the ledger
    /// before the call. Fixed width, so a provider needing several messages
    /// (NICEPAY registration + approve) may append one step digit and stay unique.
    pub external_id: ExternalId,
    /// When the payout was accepted (`transactionDate`), RFC 3339.
    pub transaction_date: String,
    /// An earlier send of this payout may have reached the provider without an
    /// answer (the ledger took it through UNKNOWN). False on a first send and on
    /// a payout its producer offered again after the ledger lost it: a duplicate
    /// the provider then reports is not this ledger's own.
    #[serde(default)]
    pub earlier_send_unknown: bool,
    /// The engine's hold on this submission; see [`SendFence`].
    #[serde(skip)]
    pub fence: FenceHandle,
}

impl TransferRequest {
    /// The request a transfer would be sent as now, for
    /// [`PayoutProvider::check_transfer`] at enqueue (a fresh message id, today's
    /// date, no fence).
    pub fn for_check(
        partner_reference: PartnerReference,
        amount: Money,
        beneficiary: Beneficiary,
        remark: Option<String>,
    ) -> Self {
        let now = chrono::Utc::now();
        TransferRequest {
            partner_reference,
            amount,
            beneficiary,
            remark,
            external_id: ExternalId::fresh(now.timestamp_millis()),
            transaction_date: crate::snap::timestamp::format(
                now.with_timezone(&crate::snap::timestamp::jakarta()),
            ),
            earlier_send_unknown: false,
            fence: FenceHandle::default(),
        }
    }
}

/// What the worker knows when it asks "what happened to this transfer?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusQuery {
    pub partner_reference: PartnerReference,
    /// The provider's own reference, when a response carried one.
    pub provider_reference: Option<String>,
    pub amount: Money,
    /// Transfers only (NICEPAY's inquiry requires it); `None` for direct debits.
    pub beneficiary_account_no: Option<AccountNumber>,
    pub transaction_date: String,
    /// A fresh message id for the inquiry itself.
    pub external_id: ExternalId,
}

/// Direct debit payment (iFortepay service 54).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentRequest {
    pub partner_reference: PartnerReference,
    pub amount: Money,
    /// The registered card's token. A secret: redacted in Debug, logs and audit.
    pub bank_card_token: Secret,
    pub with_otp: bool,
    /// Card issuer, e.g. `BRI`.
    pub pay_option: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remarks: Option<String>,
    pub external_id: ExternalId,
    /// The engine's hold on this submission; see [`SendFence`].
    #[serde(skip)]
    pub fence: FenceHandle,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInquiryRequest {
    pub bank_code: BankCode,
    pub account_no: AccountNumber,
    pub external_id: ExternalId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub account_no: String,
    pub account_name: String,
    pub bank_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub available: Money,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    /// RFC 3339; the provider limits the period (iFortepay: 3 months).
    pub from: String,
    pub to: String,
    pub page: u32,
    pub page_size: u32,
    pub external_id: ExternalId,
}

/// One transaction in a history list, already mapped to an outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub partner_reference: String,
    pub provider_reference: Option<String>,
    pub amount: Money,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub entries: Vec<HistoryRow>,
    pub has_more: bool,
}

/// What the worker needs from a payment provider. Implementations are cheap to
/// share (`Arc<dyn PayoutProvider>`): one pooled HTTP client and one token cache each.
#[async_trait]
pub trait PayoutProvider: Send + Sync + 'static {
    fn provider(&self) -> Provider;

    /// Submit a transfer. `Err` only when nothing was sent.
    async fn transfer(&self, req: &TransferRequest) -> Result<Exchange, ProviderError>;

    /// The provider's own field rules for this transfer (amount limits, lengths,
    /// character classes), checked at the door — `POST /v1/transfers` — so a payout
    /// the provider would refuse is never accepted. Builds the request the provider
    /// would get; sends nothing.
    fn check_transfer(&self, req: &TransferRequest) -> Result<(), FieldError> {
        let _ = req;
        Ok(())
    }

    /// Transfer status inquiry. [`Outcome::NotFound`] means the provider never received it.
    async fn transfer_status(&self, query: &StatusQuery) -> Result<Exchange, ProviderError>;

    /// Beneficiary account inquiry (name check).
    async fn account_inquiry(
        &self,
        req: &AccountInquiryRequest,
    ) -> Result<AccountInfo, ProviderError>;

    async fn balance(&self, external_id: &ExternalId) -> Result<Balance, ProviderError>;

    /// History list, where the provider has one (iFortepay).
    async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, ProviderError> {
        let _ = query;
        Err(ProviderError::Unsupported {
            provider: self.provider(),
            operation: "history list",
        })
    }

    /// Whether direct-debit payments can be sent with this configuration, checked
    /// at the door (`POST /v1/payments`) so a payment that could never be sent is
    /// not accepted. Errors name the configuration key.
    fn payment_ready(&self) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Whether this provider's notifications may name a payout only by the
    /// provider's own id (Singapay v1.0 transfers carry no reference of ours). The
    /// engine then indexes the id when an answer records it, so a notification
    /// finds its payout with one lookup instead of a scan of everything in flight.
    fn notifies_by_provider_reference(&self) -> bool {
        false
    }

    /// Direct debit payment, where supported (iFortepay).
    async fn payment(&self, req: &PaymentRequest) -> Result<Exchange, ProviderError> {
        let _ = req;
        Err(ProviderError::Unsupported {
            provider: self.provider(),
            operation: "direct debit payment",
        })
    }

    /// Continue a transfer the provider already registered, where the provider has
    /// a two-step flow (NICEPAY: approve the registration `provider_reference`).
    /// The worker calls this instead of [`PayoutProvider::transfer`] when an
    /// earlier [`Exchange::provider_reference`] shows the first step was done, so
    /// a registration is never repeated blindly.
    async fn resume_transfer(
        &self,
        req: &TransferRequest,
        provider_reference: &str,
    ) -> Result<Exchange, ProviderError> {
        let _ = (req, provider_reference);
        Err(ProviderError::Unsupported {
            provider: self.provider(),
            operation: "resume transfer",
        })
    }

    /// Cancel a registered, not yet approved transfer, where supported (NICEPAY).
    async fn cancel_transfer(&self, query: &StatusQuery) -> Result<Exchange, ProviderError> {
        let _ = query;
        Err(ProviderError::Unsupported {
            provider: self.provider(),
            operation: "cancel transfer",
        })
    }

    /// Fetch a fresh access token (`kirim provider NAME token`), where the
    /// provider uses tokens.
    async fn fresh_token(&self) -> Result<token::AccessToken, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: self.provider(),
            operation: "access token",
        })
    }

    /// The merchant profile, where the provider has one (iFortepay).
    async fn merchant_profile(&self) -> Result<serde_json::Value, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: self.provider(),
            operation: "merchant profile",
        })
    }

    /// Direct debit status, where supported.
    async fn payment_status(&self, query: &StatusQuery) -> Result<Exchange, ProviderError> {
        let _ = query;
        Err(ProviderError::Unsupported {
            provider: self.provider(),
            operation: "direct debit status",
        })
    }
}

/// For a call that can move money: a failure to get a token (or the profile check)
/// means nothing was sent. A transient one is an [`Outcome::Retryable`] exchange, a
/// refusal an [`Outcome::Refused`] one; both leave the payout unsent. Other errors
/// (validation, configuration) stay errors.
pub(crate) fn retryable_as_exchange(err: ProviderError) -> Result<Exchange, ProviderError> {
    match err {
        ProviderError::Call {
            operation,
            outcome: Outcome::Retryable { delay_hint, reason },
            response_code,
        } => {
            let mut ex = Exchange::bare(
                Outcome::Retryable {
                    delay_hint,
                    reason: format!("{operation}: {reason}"),
                },
                Duration::ZERO,
            );
            ex.response_code = response_code;
            Ok(ex)
        }
        // The token request (or the profile check) was refused: our credentials or
        // signature. Nothing was sent; the engine treats it as a refused submission
        // (stays unsent, alerts, counts against the provider's circuit).
        ProviderError::Call {
            operation,
            outcome: Outcome::Refused { code, message },
            response_code,
        } => {
            let mut ex = Exchange::bare(
                Outcome::Refused {
                    code,
                    message: format!("{operation}: {message}"),
                },
                Duration::ZERO,
            );
            ex.response_code = response_code;
            Ok(ex)
        }
        other => Err(other),
    }
}

#[cfg(test)]
mod payout_reference_tests {
    use super::*;

    /// Only NICEPAY books under a derived reference; the same shape at another
    /// provider is that payout's own reference.
    #[test]
    fn payout_reference_of_maps_nicepay_derived_registrations_only() {
        let external = ExternalId::parse("20261201143015007000010000001").expect("id");
        let derived = nicepay::transformers::derived_partner_reference("INV-7", &external)
            .expect("short enough");
        assert_eq!(derived, "INV-7R143015007");
        assert_eq!(payout_reference_of(nicepay::ID, &derived), "INV-7");
        assert_eq!(payout_reference_of(nicepay::ID, "INV-7"), "INV-7");
        assert_eq!(payout_reference_of(ifortepay::ID, &derived), derived);
        assert_eq!(payout_reference_of(singapay::ID, &derived), derived);
    }
}
