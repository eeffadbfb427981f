//! NICEPAY SNAP payout (IONPAY): the HTTP glue. Token, registration → approve,
//! inquiry, cancel and balance; bodies and mappings live in [`transformers`].
//!
//! # Never register twice blindly
//! [`PayoutProvider::transfer`] registers and then approves. Every exchange carries
//! the registration's reference ([`Exchange::provider_reference`]) as soon as
//! NICEPAY gave one, so the worker can persist it:
//! - approve answered → its outcome (08 in process → in progress, 00 success, …);
//! - approve lost (timeout, reset, 5xx, 409) → unknown, with the reference: the
//!   inquiry answers it, and no second registration is attempted;
//! - inquiry says 03 (registered, never approved) → [`Outcome::NotFound`] for the
//!   transfer; after the not-found grace the worker resubmits with
//!   [`PayoutProvider::resume_transfer`], which approves the existing registration
//!   instead of registering again. How NICEPAY answers a second approve of one
//!   registration is not documented, so kirim bounds it: at most
//!   `reconcile.max_resubmits` resumptions, then an operator (NEEDS_REVIEW);
//! - no reference recorded at all → [`Outcome::NeverReached`]: no approve can have
//!   been sent, so a new registration with the same `partnerReferenceNo` is safe
//!   and does not use the resubmission allowance.
//!
//! # Fenced steps (DESIGN.md rule 11, review H4)
//! Registration and approve each pass the request's fence immediately before the
//! write. Between them the registration's reference goes to
//! [`crate::providers::SendFence::first_step_done`], and approve is sent only once
//! the engine has it in the ledger: a worker killed after that point leaves a
//! payout whose reference is known, so the inquiry can ask NICEPAY about it. A
//! refusal after the registration answers `Fenced { sent_before: true }`.
//!
//! `CHANNEL-ID` is the client id + `01`. The signed path leaves out
//! `unsigned_path_prefix` (`/nicepay`), as NICEPAY's SDK does (unconfirmed; a setting).

pub mod settings;
pub mod transformers;
pub mod webhook;

use async_trait::async_trait;
use reqwest::Method;

pub use self::settings::NicepaySettings;
use self::transformers as tf;
use super::http::{self, SendGate, Sent};
use super::snap::answer::SnapAnswer;
use super::snap::client::{SnapCall, SnapClient, SnapConfig};
use super::token::AccessToken;
use super::{
    AccountInfo, AccountInquiryRequest, Balance, Exchange, Outcome, PayoutProvider, ProviderError,
    StatusQuery, TransferRequest,
};
use crate::domain::{ExternalId, Provider};
use crate::snap::keys;
use crate::snap::timestamp::TimestampFormat;

/// API paths, relative to `base_url` (which ends in `/nicepay` for the real hosts).
pub mod paths {
    pub const TOKEN: &str = "/v1.0/access-token/b2b";
    pub const REGISTRATION: &str = "/api/v1.0/transfer/registration";
    pub const APPROVE: &str = "/api/v1.0/transfer/approve";
    pub const INQUIRY: &str = "/api/v1.0/transfer/inquiry";
    pub const CANCEL: &str = "/api/v1.0/transfer/cancel";
    pub const BALANCE: &str = "/api/v1.0/balance-inquiry";
}

/// The NICEPAY client.
#[derive(Debug)]
pub struct NicepayClient {
    snap: SnapClient,
    settings: NicepaySettings,
    channel_id: String,
}

impl NicepayClient {
    pub fn new(settings: &NicepaySettings) -> Result<Self, ProviderError> {
        let client_secret = settings
            .client_secret()
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        let private_key = keys::load_private_key(&settings.private_key_path).map_err(|e| {
            ProviderError::Config(format!("providers.nicepay.private_key_path: {e}"))
        })?;
        tf::validate_merchant(settings)
            .map_err(|e| ProviderError::Config(format!("providers.nicepay: {e}")))?;
        let snap = SnapClient::new(SnapConfig {
            provider: crate::providers::nicepay::ID,
            http: settings.http.clone(),
            client_id: settings.client_id.clone(),
            client_secret,
            private_key,
            token_path: paths::TOKEN,
            token_separator: settings.token_separator.clone(),
            endpoint_url_mode: settings.endpoint_url_mode,
            unsigned_path_prefix: settings.unsigned_path_prefix.clone(),
        })?
        // nicepay-payout-inquiry.txt:14: X-TIMESTAMP "String | 25 | … 2022-03-21T10:11:40+07:00":
        // seconds, no milliseconds, on the token call and every request.
        .with_timestamp_format(TimestampFormat::Seconds);
        Ok(NicepayClient {
            snap,
            channel_id: format!("{}01", settings.client_id),
            settings: settings.clone(),
        })
    }

    pub fn snap(&self) -> &SnapClient {
        &self.snap
    }

    pub async fn token(&self) -> Result<AccessToken, ProviderError> {
        self.snap.token().await
    }

    async fn send(
        &self,
        path: &str,
        body: Vec<u8>,
        external_id: &str,
        gate: Option<SendGate<'_>>,
    ) -> Result<Sent, ProviderError> {
        self.snap
            .call(&SnapCall {
                method: Method::POST,
                path,
                body,
                external_id,
                channel_id: &self.channel_id,
                gate,
            })
            .await
    }

    /// The registration under the payout's partnerReferenceNo exists at NICEPAY but
    /// its answer was lost, and NICEPAY's duplicate answer does not name it (no
    /// public source shows a 409 carrying the existing reference). It was never
    /// approved (an approve needs its reference; kirim records a reference before
    /// any approve and never registers again once one is recorded), and a
    /// registration moves no money, so register once more under a derived
    /// partnerReferenceNo ([`tf::derived_partner_reference`]) and approve *that*
    /// one. The derived reference is recorded in the ledger with the new
    /// registration's referenceNo ([`tf::RecordedReference`]) before approve, like
    /// any first step. The orphan stays registered, never approved (status 03);
    /// kirim cannot cancel it without its referenceNo. Each submission derives a
    /// new reference, so a derived registration whose own answer is lost leads to
    /// another on the next submission; the lifecycle bounds how many
    /// (`lifecycle::decide`, certain resubmissions).
    async fn register_derived(&self, req: &TransferRequest) -> Result<Exchange, ProviderError> {
        let Some(derived) =
            tf::derived_partner_reference(req.partner_reference.as_str(), &req.external_id)
        else {
            return Ok(Exchange::bare(
                Outcome::Unknown {
                    reason: "NICEPAY answered a duplicate registration without its referenceNo, and the partnerReferenceNo is too long for a derived one".into(),
                },
                std::time::Duration::ZERO,
            ));
        };
        let mut body = tf::registration_request(req, &self.settings)?;
        body.partner_reference_no = derived.clone();
        // The first registration of this submission reached NICEPAY: sent_before.
        let (sent, answer) = match self
            .register(
                req,
                &body,
                &tf::derived_registration_external_id(&req.external_id),
                "nicepay.registration.derived",
                true,
            )
            .await?
        {
            Ok(answered) => answered,
            Err(unanswered) => return Ok(unanswered),
        };
        let recorded = |r: String| tf::RecordedReference::encode(&r, Some(&derived));
        match tf::registration_result(&answer) {
            tf::Registration::Stop(outcome) => Ok(sent.exchange::<SnapAnswer>(
                outcome,
                tf::reference(&answer).map(recorded),
            )),
            tf::Registration::DuplicateUnnamed => Ok(sent.exchange::<SnapAnswer>(
                Outcome::Unknown {
                    reason: format!(
                        "NICEPAY answered duplicate registrations of {} and {derived} without naming either; neither was approved",
                        req.partner_reference.as_str()
                    ),
                },
                None,
            )),
            tf::Registration::Registered { reference } => {
                let reference = recorded(reference);
                tracing::info!(partner_reference = %req.partner_reference, %reference, "NICEPAY re-registered under a derived reference; approving");
                self.record_then_approve(req, &reference, sent.latency).await
            }
        }
    }

    /// The engine records the registration's reference before approve can move
    /// money; if it cannot (deadline passed, ledger moved on), approve is not sent.
    async fn record_then_approve(
        &self,
        req: &TransferRequest,
        reference: &str,
        registration_latency: std::time::Duration,
    ) -> Result<Exchange, ProviderError> {
        req.fence
            .first_step_done(reference)
            .await
            .map_err(|reason| ProviderError::Fenced {
                reason,
                sent_before: true,
            })?;
        let mut ex = self.approve(req, reference, true).await?;
        ex.latency += registration_latency;
        Ok(ex)
    }

    /// Send one registration through the fence. `Ok(Ok(..))`: NICEPAY answered;
    /// `Ok(Err(exchange))`: not sent, or the answer was lost (the exchange to
    /// record); `Err`: nothing sent (fenced, invalid).
    async fn register(
        &self,
        req: &TransferRequest,
        body: &tf::NicepayRegistrationRequest,
        external_id: &str,
        step: &'static str,
        sent_before: bool,
    ) -> Result<Result<(Sent, SnapAnswer), Exchange>, ProviderError> {
        let sent = match self
            .send(
                paths::REGISTRATION,
                http::json_body(body)?,
                external_id,
                Some(SendGate {
                    fence: &req.fence,
                    step,
                    sent_before,
                }),
            )
            .await
        {
            Ok(sent) => sent,
            Err(e) => return super::retryable_as_exchange(e).map(Err),
        };
        Ok(match sent.answer::<SnapAnswer>() {
            Some(answer) => Ok((sent, answer)),
            None => Err(sent.exchange::<SnapAnswer>(sent.failure_outcome(), None)),
        })
    }

    /// Approve a registration. Every exchange carries `reference`. `sent_before`:
    /// the registration was sent by this same submission (`transfer`), not by an
    /// earlier one (`resume_transfer`).
    async fn approve(
        &self,
        req: &TransferRequest,
        reference: &str,
        sent_before: bool,
    ) -> Result<Exchange, ProviderError> {
        let body = tf::approve_request(&self.settings, req, reference);
        let sent = match self
            .send(
                paths::APPROVE,
                http::json_body(&body)?,
                &tf::approve_external_id(&req.external_id),
                Some(SendGate {
                    fence: &req.fence,
                    step: "nicepay.approve",
                    sent_before,
                }),
            )
            .await
        {
            Ok(sent) => sent,
            Err(e) => {
                let mut ex = super::retryable_as_exchange(e)?;
                ex.provider_reference = Some(reference.to_owned());
                return Ok(ex);
            }
        };
        let outcome = match sent.answer::<SnapAnswer>() {
            Some(answer) => tf::approve_outcome(&answer),
            None => sent.failure_outcome(),
        };
        let outcome = tf::keep_recorded(outcome, reference);
        Ok(sent.exchange::<SnapAnswer>(outcome, Some(reference.to_owned())))
    }
}

/// A registration this ledger did not make ([`tf::FOREIGN_REGISTRATION`]): its
/// outcome cannot be asked (the inquiry needs its referenceNo) and it must not be
/// approved or registered again, so an operator decides (NEEDS_REVIEW).
fn foreign_registration() -> Outcome {
    Outcome::Refused {
        code: crate::lifecycle::NO_STATUS_INQUIRY.into(),
        message: "NICEPAY holds a registration under this partnerReferenceNo that this ledger never sent; its referenceNo is unknown, so it can be neither asked about nor approved: look it up in NICEPAY's dashboard".into(),
    }
}

#[async_trait]
impl PayoutProvider for NicepayClient {
    fn check_transfer(&self, req: &TransferRequest) -> Result<(), crate::domain::FieldError> {
        tf::registration_request(req, &self.settings).map(drop)
    }

    async fn fresh_token(&self) -> Result<AccessToken, ProviderError> {
        self.snap.fetch_token().await
    }

    fn provider(&self) -> Provider {
        crate::providers::nicepay::ID
    }

    async fn transfer(&self, req: &TransferRequest) -> Result<Exchange, ProviderError> {
        let body = tf::registration_request(req, &self.settings)?;
        let (sent, answer) = match self
            .register(
                req,
                &body,
                &tf::registration_external_id(&req.external_id),
                "nicepay.registration",
                false,
            )
            .await?
        {
            Ok(answered) => answered,
            Err(unanswered) => return Ok(unanswered),
        };
        match tf::registration_result(&answer) {
            tf::Registration::Stop(outcome) => {
                Ok(sent.exchange::<SnapAnswer>(outcome, tf::reference(&answer)))
            }
            // Not ours: this ledger never sent a registration whose answer it
            // lost, so the existing one was made elsewhere (or by a ledger that lost
            // the payout) and may be approved. Registering again would pay twice.
            tf::Registration::DuplicateUnnamed if !req.earlier_send_unknown => {
                tracing::warn!(partner_reference = %req.partner_reference, "NICEPAY holds a registration under this partnerReferenceNo that this ledger never sent; not registering again");
                Ok(sent.exchange::<SnapAnswer>(
                    Outcome::Unknown {
                        reason: "NICEPAY already holds a registration under this partnerReferenceNo that this ledger never sent (another system, or a ledger that lost the payout); it may be approved, so kirim registers nothing more".into(),
                    },
                    Some(tf::FOREIGN_REGISTRATION.to_owned()),
                ))
            }
            tf::Registration::DuplicateUnnamed => {
                let mut ex = self.register_derived(req).await?;
                ex.latency += sent.latency;
                Ok(ex)
            }
            tf::Registration::Registered { reference } => {
                tracing::debug!(partner_reference = %req.partner_reference, %reference, "NICEPAY registered; approving");
                self.record_then_approve(req, &reference, sent.latency)
                    .await
            }
        }
    }

    async fn resume_transfer(
        &self,
        req: &TransferRequest,
        provider_reference: &str,
    ) -> Result<Exchange, ProviderError> {
        if provider_reference == tf::FOREIGN_REGISTRATION {
            return Ok(Exchange::bare(
                foreign_registration(),
                std::time::Duration::ZERO,
            ));
        }
        crate::providers::validate::mandatory(
            "originalReferenceNo",
            tf::RecordedReference::parse(provider_reference).reference_no,
            40,
        )?;
        // The registration belongs to an earlier submission: if the fence refuses,
        // nothing of *this* submission reached NICEPAY.
        self.approve(req, provider_reference, false).await
    }

    async fn transfer_status(&self, query: &StatusQuery) -> Result<Exchange, ProviderError> {
        if query.provider_reference.as_deref() == Some(tf::FOREIGN_REGISTRATION) {
            return Ok(Exchange::bare(
                foreign_registration(),
                std::time::Duration::ZERO,
            ));
        }
        let recorded = matches!(query.provider_reference.as_deref(), Some(r) if !r.is_empty());
        if !recorded {
            // Without the registration's reference NICEPAY cannot be asked. But no
            // money can have moved: only an approve moves it, an approve needs that
            // reference, and the engine records the reference (`first_step_done`)
            // before any approve is sent. No recorded reference, no approve. For the
            // worker that is "not received": it may submit again with the same
            // partnerReferenceNo; a registration that did arrive answers 409 with its
            // reference and the flow continues to approve.
            return Ok(Exchange::bare(
                Outcome::NeverReached {
                    reason:
                        "no NICEPAY referenceNo recorded, so no approve was sent: no money moved"
                            .into(),
                },
                std::time::Duration::ZERO,
            ));
        }
        // Any other invalid query (no beneficiary account, a reference too long) says
        // nothing about the transfer: an error, never a "not found" that would lead
        // to a resubmission.
        let body = tf::inquiry_request(&self.settings, query)?;
        let sent = match self
            .send(
                paths::INQUIRY,
                http::json_body(&body)?,
                query.external_id.as_str(),
                None,
            )
            .await
        {
            Ok(sent) => sent,
            Err(e) => return super::retryable_as_exchange(e),
        };
        let outcome = match sent.answer::<SnapAnswer>() {
            Some(answer) => tf::inquiry_outcome(&answer),
            None => sent.failure_outcome(),
        };
        let outcome = match query.provider_reference.as_deref() {
            Some(recorded) => tf::keep_recorded(outcome, recorded),
            None => outcome,
        };
        Ok(sent.exchange::<SnapAnswer>(outcome, query.provider_reference.clone()))
    }

    async fn cancel_transfer(&self, query: &StatusQuery) -> Result<Exchange, ProviderError> {
        let body = tf::cancel_request(&self.settings, query)?;
        let sent = match self
            .send(
                paths::CANCEL,
                http::json_body(&body)?,
                query.external_id.as_str(),
                None,
            )
            .await
        {
            Ok(sent) => sent,
            Err(e) => return super::retryable_as_exchange(e),
        };
        let outcome = match sent.answer::<SnapAnswer>() {
            Some(answer) => tf::cancel_outcome(&answer),
            None => sent.failure_outcome(),
        };
        let outcome = match query.provider_reference.as_deref() {
            Some(recorded) => tf::keep_recorded(outcome, recorded),
            None => outcome,
        };
        Ok(sent.exchange::<SnapAnswer>(outcome, query.provider_reference.clone()))
    }

    async fn account_inquiry(
        &self,
        req: &AccountInquiryRequest,
    ) -> Result<AccountInfo, ProviderError> {
        let _ = req;
        Err(ProviderError::Unsupported {
            provider: crate::providers::nicepay::ID,
            operation: "account inquiry",
        })
    }

    async fn balance(&self, external_id: &ExternalId) -> Result<Balance, ProviderError> {
        let body = tf::balance_request(&self.settings);
        let sent = self
            .send(
                paths::BALANCE,
                http::json_body(&body)?,
                external_id.as_str(),
                None,
            )
            .await?;
        let Some(answer) = sent.answer::<SnapAnswer>() else {
            let outcome = match sent.failure_outcome() {
                Outcome::Unknown { reason } => Outcome::Retryable {
                    delay_hint: None,
                    reason,
                },
                other => other,
            };
            return Err(ProviderError::Call {
                operation: "balance inquiry",
                outcome,
                response_code: None,
            });
        };
        tf::balance_result(&answer).map_err(|outcome| ProviderError::Call {
            operation: "balance inquiry",
            outcome,
            response_code: answer.code_raw.clone(),
        })
    }
}

/// This provider's id.
pub const ID: Provider = Provider::named("nicepay");

/// NICEPAY in the provider registry.
pub fn module() -> crate::providers::module::ModuleParts<NicepaySettings> {
    use crate::providers::Capability;
    use std::sync::Arc;
    crate::providers::module::ModuleParts {
        id: ID,
        title: "NICEPAY",
        capabilities: &[
            Capability::AccountInquiry,
            Capability::Balance,
            Capability::Callbacks,
            Capability::Cancel,
        ],
        check: |s| s.client_secret().map(drop),
        build: |s| Ok(Arc::new(NicepayClient::new(s)?)),
        webhook: Some(|s| Ok(Arc::new(webhook::NicepayWebhook::new(s)?))),
        bank_scheme: |_| Some(crate::banks::BankScheme::Nicepay),
    }
}
