//! iFortepay (disbursement served from the Senmo hosts, and direct debit): the HTTP
//! glue. Endpoints, channel ids and the source-account check live here; request
//! bodies and the mapping of answers to [`Outcome`] live in [`transformers`].
//!
//! | API (overview table)            | here                                   |
//! |---------------------------------|----------------------------------------|
//! | key pair / signature generation | offline: `kirim keygen`, `kirim sign`  |
//! | access token B2B (73)           | [`IfortepayClient::token`]             |
//! | account inquiry (16)            | `account_inquiry`                      |
//! | balance inquiry (11)            | `balance`                              |
//! | transfer interbank v1.2 (18)    | `transfer`                             |
//! | history list (12)               | `history`                              |
//! | history detail (13)             | `transfer_status`                      |
//! | merchant profile                | [`IfortepayClient::profile`]           |
//! | direct debit payment (54)       | `payment`; status (55) `payment_status`|
//!
//! `sourceAccountNo` must be the profile's `businessAccountNumber`; the first
//! transfer checks the configured one against the profile once and caches the
//! result, so a wrong config fails loudly (a configuration error) instead of
//! failing every payout with `4001801`.
//!
//! The transfer and the direct-debit payment pass the request's fence
//! ([`SendGate`]) after the token, the profile check and the signing, immediately
//! before the write (DESIGN.md rule 11); reads pass none.

mod direct_debit;
mod disbursement;
pub mod settings;
pub mod transformers;
pub mod webhook;

use async_trait::async_trait;
use reqwest::Method;
use tokio::sync::OnceCell;

pub use self::settings::{IfortepayDebitSettings, IfortepayMerchant, IfortepaySettings};
use self::transformers as tf;
use super::http::{self, SendGate, Sent};
use super::snap::answer::SnapAnswer;
use super::snap::asymmetric::{AsymmetricClient, AsymmetricConfig};
use super::snap::client::{fresh_external_id, SnapCall, SnapClient, SnapConfig};
use super::token::AccessToken;
use super::{
    AccountInfo, AccountInquiryRequest, Balance, Exchange, HistoryPage, HistoryQuery, Outcome,
    PaymentRequest, PayoutProvider, ProviderError, StatusQuery, TransferRequest,
};
use crate::domain::{ExternalId, Provider};
use crate::snap::keys;

pub use transformers::MerchantProfile;

/// API paths, relative to `base_url`.
pub mod paths {
    pub const TOKEN: &str = "/api/v1.0/access-token/b2b";
    pub const ACCOUNT_INQUIRY: &str = "/api/v1.0/account-inquiry-external";
    pub const BALANCE: &str = "/api/v1.0/balance-inquiry";
    pub const TRANSFER: &str = "/api/v1.2/transfer-interbank";
    pub const HISTORY_LIST: &str = "/api/v1.0/transaction-history-list";
    pub const HISTORY_DETAIL: &str = "/api/v1.0/transaction-history-detail";
    pub const PROFILE: &str = "/api/v1.0/profile";
    pub const DEBIT_PAYMENT: &str = "/v1.0/debit/payment-host-to-host";
    pub const DEBIT_STATUS: &str = "/v1.0/debit/status";
}

/// The iFortepay client: one pooled HTTP client and one token cache.
#[derive(Debug)]
pub struct IfortepayClient {
    snap: SnapClient,
    settings: IfortepaySettings,
    /// Set once the configured source account matched the profile.
    source_checked: OnceCell<()>,
    /// Direct debit's own signer (`[providers.ifortepay.direct_debit]`), if configured.
    debit: Option<DebitChannel>,
}

/// Direct debit: its own partner id, key and host, RSA-signed without a token.
#[derive(Debug)]
struct DebitChannel {
    client: AsymmetricClient,
    channel_id: String,
}

/// What to say when direct debit is used without its section.
const DEBIT_NOT_CONFIGURED: &str = "providers.ifortepay.direct_debit is not configured: \
     direct debit needs its own partner_id (X-PARTNER-ID, `IFP…`) and private_key_path \
     (the key registered for its RSA signature), ifortepay-direct-debit-payment.txt:42-47";

/// Whether a `responseCode` is SNAP's `401xx00` (unauthorized, which covers a bad
/// signature): HTTP 401, any service, case `00`.
fn is_unauthorized(code: &str) -> bool {
    code.len() == 7 && code.starts_with("401") && code.ends_with("00")
}

/// What to try after a signature refusal. The two unconfirmed points of
/// iFortepay's signatures are settings (NOTES.md: "EndpointUrl … unconfirmed",
/// "separator `|`; one iFortepay page shows `:` — unconfirmed"), so a `401xx00`
/// names them, with their values, instead of a bare "Unauthorized".
pub fn signature_diagnosis(settings: &IfortepaySettings) -> String {
    use crate::config::EndpointUrlMode as M;
    let (mode, other_mode) = match settings.endpoint_url_mode {
        M::Absolute => ("absolute", "relative"),
        M::Relative => ("relative", "absolute"),
    };
    let sep = settings.token_separator.as_str();
    let other_sep = if sep == ":" { "|" } else { ":" };
    format!(
        "kirim diagnosis: a signature refusal; check providers.ifortepay.endpoint_url_mode \
         (now \"{mode}\", try \"{other_mode}\") and providers.ifortepay.token_separator \
         (now \"{sep}\", try \"{other_sep}\"), then the client secret and the registered \
         public key; `kirim sign service --explain` / `kirim sign token --explain` print the \
         strings to sign"
    )
}

/// A `401xx00` refusal with the [`signature_diagnosis`] after the provider's own
/// message; every other outcome unchanged.
fn diagnosed(outcome: Outcome, settings: &IfortepaySettings) -> Outcome {
    with_diagnosis(outcome, || signature_diagnosis(settings))
}

/// A `401xx00` refusal with `diagnosis()` after the provider's own message.
fn with_diagnosis(outcome: Outcome, diagnosis: impl FnOnce() -> String) -> Outcome {
    match outcome {
        Outcome::Refused { code, message } | Outcome::FinalFailure { code, message }
            if is_unauthorized(&code) =>
        {
            Outcome::Refused {
                message: format!("{message} — {}", diagnosis()),
                code,
            }
        }
        other => other,
    }
}

impl DebitChannel {
    fn new(
        settings: &IfortepaySettings,
        dd: &IfortepayDebitSettings,
    ) -> Result<Self, ProviderError> {
        let private_key = keys::load_private_key(&dd.private_key_path).map_err(|e| {
            ProviderError::Config(format!(
                "providers.ifortepay.direct_debit.private_key_path: {e}"
            ))
        })?;
        let mut http = settings.http.clone();
        if let Some(url) = &dd.base_url {
            http.base_url = url.clone();
        }
        let client = AsymmetricClient::new(AsymmetricConfig {
            provider: ID,
            http,
            partner_id: dd.partner_id.clone(),
            private_key,
            endpoint_url_mode: dd.endpoint_url_mode,
            timestamp_format: crate::snap::timestamp::TimestampFormat::default(),
        })?;
        Ok(DebitChannel {
            client,
            channel_id: dd.channel_id.clone(),
        })
    }

    /// POST one RSA-signed direct-debit call.
    async fn send(
        &self,
        path: &str,
        body: Vec<u8>,
        external_id: &ExternalId,
        gate: Option<SendGate<'_>>,
    ) -> Result<Sent, ProviderError> {
        self.client
            .call(&SnapCall {
                method: Method::POST,
                path,
                body,
                external_id: external_id.as_str(),
                channel_id: &self.channel_id,
                gate,
            })
            .await
    }
}

/// What to try after a direct-debit signature refusal (`401xx00`): its EndpointUrl
/// form is unconfirmed too (the debit page is silent), and its key and partner id
/// are direct debit's own.
pub fn debit_signature_diagnosis(dd: &IfortepayDebitSettings) -> String {
    use crate::config::EndpointUrlMode as M;
    let (mode, other_mode) = match dd.endpoint_url_mode {
        M::Absolute => ("absolute", "relative"),
        M::Relative => ("relative", "absolute"),
    };
    format!(
        "kirim diagnosis: a direct-debit signature refusal; check \
         providers.ifortepay.direct_debit.endpoint_url_mode (now \"{mode}\", try \
         \"{other_mode}\"), that partner_id ({}) is the direct-debit X-PARTNER-ID, and that \
         the public half of direct_debit.private_key_path is the key registered for direct debit",
        dd.partner_id
    )
}

impl IfortepayClient {
    /// Build from settings: resolves the client secret, loads the private key and
    /// checks the merchant defaults. Errors name the configuration key.
    pub fn new(settings: &IfortepaySettings) -> Result<Self, ProviderError> {
        let client_secret = settings
            .client_secret()
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        let private_key = keys::load_private_key(&settings.private_key_path).map_err(|e| {
            ProviderError::Config(format!("providers.ifortepay.private_key_path: {e}"))
        })?;
        tf::validate_merchant(&settings.merchant)
            .map_err(|e| ProviderError::Config(format!("providers.ifortepay.merchant: {e}")))?;
        let snap = SnapClient::new(SnapConfig {
            provider: crate::providers::ifortepay::ID,
            http: settings.http.clone(),
            client_id: settings.client_id.clone(),
            client_secret,
            private_key,
            token_path: paths::TOKEN,
            token_separator: settings.token_separator.clone(),
            endpoint_url_mode: settings.endpoint_url_mode,
            unsigned_path_prefix: String::new(),
        })?;
        // ORIGIN is Optional (ifortepay-transfer-interbank.txt:38): sent on the
        // disbursement service calls only when configured.
        let snap = match &settings.origin {
            Some(origin) => {
                settings::check_origin(origin).map_err(|e| ProviderError::Config(e.to_string()))?;
                snap.with_header(super::snap::client::headers::ORIGIN, origin)?
            }
            None => snap,
        };
        let debit = match &settings.direct_debit {
            Some(dd) => Some(DebitChannel::new(settings, dd)?),
            None => None,
        };
        Ok(IfortepayClient {
            snap,
            settings: settings.clone(),
            source_checked: OnceCell::new(),
            debit,
        })
    }

    fn call_error(
        &self,
        operation: &'static str,
        outcome: Outcome,
        answer: Option<&SnapAnswer>,
    ) -> ProviderError {
        ProviderError::Call {
            operation,
            outcome: diagnosed(outcome, &self.settings),
            response_code: answer.and_then(|a| a.code_raw.clone()),
        }
    }

    /// An error of a call (its token request included) with the signature
    /// diagnosis on a `401xx00`.
    fn diagnose_error(&self, e: ProviderError) -> ProviderError {
        match e {
            ProviderError::Call {
                operation,
                outcome,
                response_code,
            } => ProviderError::Call {
                operation,
                outcome: diagnosed(outcome, &self.settings),
                response_code,
            },
            other => other,
        }
    }

    /// The SNAP glue (token cache statistics for tests and the CLI).
    pub fn snap(&self) -> &SnapClient {
        &self.snap
    }

    /// The cached access token, fetching one if needed.
    pub async fn token(&self) -> Result<AccessToken, ProviderError> {
        self.snap.token().await
    }

    /// `GET /api/v1.0/profile`.
    pub async fn profile(&self) -> Result<MerchantProfile, ProviderError> {
        let id = fresh_external_id();
        let sent = self
            .snap
            .call(&SnapCall {
                method: Method::GET,
                path: paths::PROFILE,
                body: Vec::new(),
                external_id: id.as_str(),
                channel_id: &self.settings.channel_id,
                gate: None,
            })
            .await
            .map_err(|e| self.diagnose_error(e))?;
        let Some(answer) = sent.answer::<SnapAnswer>() else {
            return Err(self.call_error("merchant profile", read_failure(&sent), None));
        };
        tf::profile_result(&answer)
            .map_err(|o| self.call_error("merchant profile", o, Some(&answer)))
    }

    /// Check `merchant.source_account_no` against the profile, once.
    async fn ensure_source_account(&self) -> Result<(), ProviderError> {
        self.source_checked
            .get_or_try_init(|| async {
                let profile = self.profile().await?;
                if profile.business_account_number != self.settings.merchant.source_account_no {
                    return Err(ProviderError::Config(format!(
                        "providers.ifortepay.merchant.source_account_no ({}) is not the profile's businessAccountNumber ({})",
                        self.settings.merchant.source_account_no, profile.business_account_number
                    )));
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        external_id: &ExternalId,
        channel_id: &str,
        gate: Option<SendGate<'_>>,
    ) -> Result<Sent, ProviderError> {
        self.snap
            .call(&SnapCall {
                method,
                path,
                body,
                external_id: external_id.as_str(),
                channel_id,
                gate,
            })
            .await
            .map_err(|e| self.diagnose_error(e))
    }
}

/// A read whose response never arrived: try again (reads move no money).
fn read_failure(sent: &Sent) -> Outcome {
    match sent.transport.failure_outcome() {
        Some(Outcome::Unknown { reason }) => Outcome::Retryable {
            delay_hint: None,
            reason,
        },
        Some(other) => other,
        None => Outcome::Retryable {
            delay_hint: None,
            reason: "no response".into(),
        },
    }
}

impl IfortepayClient {
    /// POST a transactional call and map its answer with `outcome`: a call that
    /// could not be sent is retryable, a lost answer is classified by transport, a
    /// refused fence is `Err(Fenced)`.
    async fn exchange(
        &self,
        path: &str,
        body: Vec<u8>,
        external_id: &ExternalId,
        channel_id: &str,
        gate: Option<SendGate<'_>>,
        outcome: fn(&SnapAnswer) -> Outcome,
    ) -> Result<Exchange, ProviderError> {
        let sent = match self
            .send(Method::POST, path, body, external_id, channel_id, gate)
            .await
        {
            Ok(sent) => sent,
            Err(e) => return super::retryable_as_exchange(e),
        };
        Ok(match sent.answer::<SnapAnswer>() {
            Some(answer) => sent.answered(
                diagnosed(outcome(&answer), &self.settings),
                tf::reference(&answer),
                answer,
            ),
            None => sent.exchange::<SnapAnswer>(sent.failure_outcome(), None),
        })
    }
}

#[async_trait]
impl PayoutProvider for IfortepayClient {
    fn check_transfer(&self, req: &TransferRequest) -> Result<(), crate::domain::FieldError> {
        tf::transfer_request(req, &self.settings.merchant).map(drop)
    }

    async fn fresh_token(&self) -> Result<AccessToken, ProviderError> {
        self.snap.fetch_token().await
    }

    async fn merchant_profile(&self) -> Result<serde_json::Value, ProviderError> {
        let profile = self.profile().await?;
        serde_json::to_value(profile)
            .map_err(|e| ProviderError::Config(format!("cannot print the profile: {e}")))
    }

    fn provider(&self) -> Provider {
        crate::providers::ifortepay::ID
    }

    async fn transfer(&self, req: &TransferRequest) -> Result<Exchange, ProviderError> {
        // Validate first: nothing invalid reaches the network, not even the profile check.
        let body = tf::transfer_request(req, &self.settings.merchant)?;
        if let Err(e) = self.ensure_source_account().await {
            return super::retryable_as_exchange(e);
        }
        self.exchange(
            paths::TRANSFER,
            http::json_body(&body)?,
            &req.external_id,
            &self.settings.channel_id,
            Some(SendGate {
                fence: &req.fence,
                step: "ifortepay.transfer",
                sent_before: false,
            }),
            tf::transfer_outcome,
        )
        .await
    }

    async fn transfer_status(&self, query: &StatusQuery) -> Result<Exchange, ProviderError> {
        let body = tf::history_detail_request(query);
        self.exchange(
            paths::HISTORY_DETAIL,
            http::json_body(&body)?,
            &query.external_id,
            &self.settings.channel_id,
            None,
            tf::history_detail_outcome,
        )
        .await
    }

    async fn account_inquiry(
        &self,
        req: &AccountInquiryRequest,
    ) -> Result<AccountInfo, ProviderError> {
        let body = tf::account_inquiry_request(req)?;
        let sent = self
            .send(
                Method::POST,
                paths::ACCOUNT_INQUIRY,
                http::json_body(&body)?,
                &req.external_id,
                &self.settings.channel_id,
                None,
            )
            .await?;
        let Some(answer) = sent.answer::<SnapAnswer>() else {
            return Err(self.call_error("account inquiry", read_failure(&sent), None));
        };
        tf::account_inquiry_result(&answer, req)
            .map_err(|o| self.call_error("account inquiry", o, Some(&answer)))
    }

    async fn balance(&self, external_id: &ExternalId) -> Result<Balance, ProviderError> {
        let body = tf::balance_request(&self.settings.merchant.source_account_no);
        let sent = self
            .send(
                Method::POST,
                paths::BALANCE,
                http::json_body(&body)?,
                external_id,
                &self.settings.channel_id,
                None,
            )
            .await?;
        let Some(answer) = sent.answer::<SnapAnswer>() else {
            return Err(self.call_error("balance inquiry", read_failure(&sent), None));
        };
        tf::balance_result(&answer)
            .map_err(|o| self.call_error("balance inquiry", o, Some(&answer)))
    }

    async fn history(&self, query: &HistoryQuery) -> Result<HistoryPage, ProviderError> {
        let body = tf::history_list_request(query)?;
        let sent = self
            .send(
                Method::POST,
                paths::HISTORY_LIST,
                http::json_body(&body)?,
                &query.external_id,
                &self.settings.channel_id,
                None,
            )
            .await?;
        let Some(answer) = sent.answer::<SnapAnswer>() else {
            return Err(self.call_error("history list", read_failure(&sent), None));
        };
        let (page, skipped) = tf::history_list_result(&answer, query)
            .map_err(|o| self.call_error("history list", o, Some(&answer)))?;
        if skipped > 0 {
            tracing::warn!(
                skipped,
                "iFortepay history list: entries without reference, amount or status skipped"
            );
        }
        Ok(page)
    }

    fn payment_ready(&self) -> Result<(), ProviderError> {
        self.debit().map(drop)
    }

    async fn payment(&self, req: &PaymentRequest) -> Result<Exchange, ProviderError> {
        let body = tf::debit_request(req)?;
        let gate = SendGate {
            fence: &req.fence,
            step: "ifortepay.debit_payment",
            sent_before: false,
        };
        let sent = match self
            .debit()?
            .send(
                paths::DEBIT_PAYMENT,
                http::json_body(&body)?,
                &req.external_id,
                Some(gate),
            )
            .await
        {
            Ok(sent) => sent,
            Err(e) => return super::retryable_as_exchange(e),
        };
        Ok(match sent.answer::<SnapAnswer>() {
            Some(answer) => {
                let (outcome, charge) = tf::debit_outcome(&answer, req.with_otp);
                let outcome = self.debit_diagnosed(outcome);
                let mut ex = sent.answered(outcome, tf::reference(&answer), answer);
                ex.charge_token = charge.map(crate::domain::Secret::new);
                ex
            }
            None => sent.exchange::<SnapAnswer>(sent.failure_outcome(), None),
        })
    }

    async fn payment_status(&self, query: &StatusQuery) -> Result<Exchange, ProviderError> {
        let body = tf::debit_status_request(query);
        let sent = match self
            .debit()?
            .send(
                paths::DEBIT_STATUS,
                http::json_body(&body)?,
                &query.external_id,
                None,
            )
            .await
        {
            Ok(sent) => sent,
            Err(e) => return super::retryable_as_exchange(e),
        };
        Ok(match sent.answer::<SnapAnswer>() {
            Some(answer) => sent.answered(
                self.debit_diagnosed(tf::debit_status_outcome(&answer)),
                tf::reference(&answer),
                answer,
            ),
            None => sent.exchange::<SnapAnswer>(sent.failure_outcome(), None),
        })
    }
}

impl IfortepayClient {
    /// Direct debit's signer, or the configuration error naming its section.
    fn debit(&self) -> Result<&DebitChannel, ProviderError> {
        self.debit
            .as_ref()
            .ok_or_else(|| ProviderError::Config(DEBIT_NOT_CONFIGURED.to_owned()))
    }

    /// A direct-debit `401xx00` with [`debit_signature_diagnosis`].
    fn debit_diagnosed(&self, outcome: Outcome) -> Outcome {
        match &self.settings.direct_debit {
            Some(dd) => with_diagnosis(outcome, || debit_signature_diagnosis(dd)),
            None => outcome,
        }
    }
}

/// This provider's id.
pub const ID: Provider = Provider::named("ifortepay");

/// iFortepay in the provider registry.
pub fn module() -> crate::providers::module::ModuleParts<IfortepaySettings> {
    use crate::providers::Capability;
    use std::sync::Arc;
    crate::providers::module::ModuleParts {
        id: ID,
        title: "iFortepay",
        capabilities: &[
            Capability::DirectDebit,
            Capability::HistoryList,
            Capability::AccountInquiry,
            Capability::Balance,
            Capability::Callbacks,
        ],
        check: IfortepaySettings::validate,
        build: |s| Ok(Arc::new(IfortepayClient::new(s)?)),
        webhook: Some(|s| Ok(Arc::new(webhook::IfortepayWebhook::new(s)?))),
        bank_scheme: |_| Some(crate::banks::BankScheme::BankIndonesia),
    }
}
