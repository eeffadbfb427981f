//! Singapay (its own API, not SNAP): the HTTP glue. Token, the v1.0 transfer of the
//! seed document, and the v2.0 transfer with `reference_number` plus inquiry-status.
//!
//! # Why v1.0 is the default
//! v1.0 is the API the seed document (singapay-disbursement-transfer.txt) describes.
//! It carries no client reference and the document gives it no status endpoint: a
//! v1.0 transfer whose answer is lost (timeout, reset, 5xx) is never resent; the
//! status inquiry answers [`ProviderError::Unsupported`] and the lifecycle sends the
//! payout to NEEDS_REVIEW with its history as the evidence. v2.0 (`reference_number`,
//! duplicate → `SP004`, inquiry-status) is not in the seed document; it is kept
//! behind `providers.singapay.api_version = "v2"` with the field names Singapay's
//! public SDK shows (docs/conformance/singapay.md).
//!
//! Both transfers pass the request's fence ([`SendGate`]) after the token and the
//! signing, immediately before the write, and again before the resend after a token
//! refresh (DESIGN.md rule 11); the inquiry passes none.
//!
//! Singapay has no balance or account-inquiry API in the documents; those
//! operations answer [`ProviderError::Unsupported`].

pub mod settings;
pub mod signature;
pub mod transformers;
pub mod webhook;

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;

pub use self::settings::{SingapayApiVersion, SingapaySettings};
use self::transformers::{self as tf, SingapayAnswer};
use super::http::{self, OutgoingRequest, SendGate, Sent, Transport};
use super::token::{AccessToken, TokenCache};
use super::{
    AccountInfo, AccountInquiryRequest, Balance, Exchange, PayoutProvider, ProviderError,
    StatusQuery, TransferRequest,
};
use crate::domain::{ExternalId, Provider, Secret};
use crate::snap::timestamp;

/// API paths, relative to `base_url`.
pub mod paths {
    pub const TOKEN: &str = "/api/v1.1/access-token/b2b";
    /// Followed by `/{account_id}`.
    pub const TRANSFER_V1: &str = "/api/v1.0/disbursements/transfer";
    pub const TRANSFER_V2: &str = "/api/v2.0/disbursement/transfer";
    /// `/api/v2.0/disbursement/{account_id}/inquiry-status`.
    pub fn inquiry_v2(account_id: &str) -> String {
        format!("/api/v2.0/disbursement/{account_id}/inquiry-status")
    }
}

/// Header names (lower case; HTTP header names are case-insensitive).
mod headers {
    pub const CONTENT_TYPE: &str = "content-type";
    pub const ACCEPT: &str = "accept";
    pub const AUTHORIZATION: &str = "authorization";
    pub const X_PARTNER_ID: &str = "x-partner-id";
    pub const X_CLIENT_ID: &str = "x-client-id";
    pub const X_SIGNATURE: &str = "x-signature";
    pub const X_TIMESTAMP: &str = "x-timestamp";
}

/// The Singapay client.
pub struct SingapayClient {
    settings: SingapaySettings,
    client: reqwest::Client,
    client_secret: Secret,
    api_key: Secret,
    tokens: TokenCache,
}

impl std::fmt::Debug for SingapayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingapayClient")
            .field("base_url", &self.settings.http.base_url)
            .field("client_id", &self.settings.client_id)
            .field("api_version", &self.settings.api_version)
            .finish_non_exhaustive()
    }
}

impl SingapayClient {
    pub fn new(settings: &SingapaySettings) -> Result<Self, ProviderError> {
        let client_secret = settings
            .client_secret()
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        let api_key = settings
            .api_key()
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        if settings.account_id.trim().is_empty() {
            return Err(ProviderError::Config(
                "providers.singapay.account_id: must not be empty".into(),
            ));
        }
        let client = http::build_client(crate::providers::singapay::ID, &settings.http)?;
        http::join_url(
            crate::providers::singapay::ID,
            &settings.http.base_url,
            paths::TOKEN,
        )?;
        Ok(SingapayClient {
            tokens: TokenCache::new(
                format!("singapay:{}", settings.client_id),
                Duration::from_secs(settings.http.token_refresh_margin_secs),
            ),
            settings: settings.clone(),
            client,
            client_secret,
            api_key,
        })
    }

    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    pub fn api_version(&self) -> SingapayApiVersion {
        self.settings.api_version
    }

    /// The cached access token, fetching one if needed.
    pub async fn token(&self) -> Result<AccessToken, ProviderError> {
        self.tokens.get(|| self.fetch_token()).await
    }

    /// `POST /api/v1.1/access-token/b2b`.
    pub async fn fetch_token(&self) -> Result<AccessToken, ProviderError> {
        let url = http::join_url(
            crate::providers::singapay::ID,
            &self.settings.http.base_url,
            paths::TOKEN,
        )?;
        let date = chrono::Utc::now()
            .with_timezone(&timestamp::jakarta())
            .format("%Y%m%d")
            .to_string();
        let sig = signature::token_signature(
            &self.settings.client_id,
            self.client_secret.expose(),
            &date,
        );
        let mut req = OutgoingRequest::new(
            Method::POST,
            url,
            br#"{"grant_type":"client_credentials"}"#.to_vec(),
        );
        req.header(headers::CONTENT_TYPE, "application/json")?;
        req.header(headers::ACCEPT, "application/json")?;
        req.secret_header(headers::X_PARTNER_ID, self.api_key.expose())?;
        req.header(headers::X_CLIENT_ID, &self.settings.client_id)?;
        req.header(headers::X_SIGNATURE, &sig)?;
        let (transport, _) = http::send(&self.client, req).await;
        let answer = SingapayAnswer::from_raw(http::token_response(&transport)?);
        let (token, lifetime) =
            tf::token_result(&answer).map_err(|o| http::token_error(o, answer.code.clone()))?;
        Ok(AccessToken::new(
            Secret::new(token),
            lifetime.unwrap_or(Duration::from_secs(900)),
        ))
    }

    /// Send a request built for a token; on SP013 (or a bare 401) refresh once and
    /// resend. A money-moving request passes `gate` immediately before each write.
    async fn call<F>(&self, gate: Option<SendGate<'_>>, build: F) -> Result<Sent, ProviderError>
    where
        F: Fn(&AccessToken) -> Result<OutgoingRequest, ProviderError>,
    {
        let started = std::time::Instant::now();
        let token = self.token().await?;
        let request = build(&token)?;
        if let Some(gate) = &gate {
            gate.pass(false).await?;
        }
        let (transport, _) = http::send(&self.client, request).await;
        let rejected = matches!(&transport, Transport::Response(raw) if SingapayAnswer::from_raw(raw).wants_new_token());
        if !rejected {
            return Ok(Sent {
                transport,
                latency: started.elapsed(),
            });
        }
        tracing::info!("singapay token rejected; refreshing once");
        let fresh = self
            .tokens
            .refresh_if_current(&token.value, || self.fetch_token())
            .await?;
        let request = build(&fresh)?;
        // The first attempt reached Singapay (refused): a refusal now says so.
        if let Some(gate) = &gate {
            gate.pass(true).await?;
        }
        let (transport, _) = http::send(&self.client, request).await;
        Ok(Sent {
            transport,
            latency: started.elapsed(),
        })
    }

    /// A v2.0 request: canonical body, `X-Timestamp` in Unix seconds, hex signature.
    fn v2_request(
        &self,
        path: &str,
        body: &serde_json::Value,
        token: &AccessToken,
    ) -> Result<OutgoingRequest, ProviderError> {
        let url = http::join_url(
            crate::providers::singapay::ID,
            &self.settings.http.base_url,
            path,
        )?;
        let canonical = signature::canonical_json(body).into_bytes();
        let mut req = OutgoingRequest::new(Method::POST, url, canonical);
        let ts = chrono::Utc::now().timestamp().to_string();
        let endpoint = req.path_and_query();
        let sig = signature::v2_signature(
            self.client_secret.expose(),
            "POST",
            &endpoint,
            token.value.expose(),
            req.body(),
            &ts,
        );
        req.header(headers::CONTENT_TYPE, "application/json")?;
        req.header(headers::ACCEPT, "application/json")?;
        req.secret_header(
            headers::AUTHORIZATION,
            &format!("Bearer {}", token.value.expose()),
        )?;
        req.secret_header(headers::X_PARTNER_ID, self.api_key.expose())?;
        req.header(headers::X_TIMESTAMP, &ts)?;
        req.header(headers::X_SIGNATURE, &sig)?;
        Ok(req)
    }

    /// The v1.0 request of the seed: API key, bearer token, `Accept`; no signature.
    fn v1_request(
        &self,
        body: &[u8],
        token: &AccessToken,
    ) -> Result<OutgoingRequest, ProviderError> {
        let path = format!("{}/{}", paths::TRANSFER_V1, self.settings.account_id);
        let url = http::join_url(
            crate::providers::singapay::ID,
            &self.settings.http.base_url,
            &path,
        )?;
        let mut req = OutgoingRequest::new(Method::POST, url, body.to_vec());
        req.header(headers::CONTENT_TYPE, "application/json")?;
        req.header(headers::ACCEPT, "application/json")?;
        req.secret_header(
            headers::AUTHORIZATION,
            &format!("Bearer {}", token.value.expose()),
        )?;
        req.secret_header(headers::X_PARTNER_ID, self.api_key.expose())?;
        Ok(req)
    }

    /// Transfer with the v1.0 API regardless of the configured version.
    pub async fn transfer_v1(&self, req: &TransferRequest) -> Result<Exchange, ProviderError> {
        let body = serde_json::to_vec(&tf::v1_transfer_request(req)?)
            .map_err(|e| ProviderError::Config(format!("cannot serialise request: {e}")))?;
        let gate = SendGate {
            fence: &req.fence,
            step: "singapay.transfer_v1",
            sent_before: false,
        };
        let sent = match self.call(Some(gate), |t| self.v1_request(&body, t)).await {
            Ok(s) => s,
            Err(e) => return super::retryable_as_exchange(e),
        };
        Ok(match sent.answer::<SingapayAnswer>() {
            Some(a) => sent.answered(tf::v1_transfer_outcome(&a), tf::reference(&a), a),
            None => sent.exchange::<SingapayAnswer>(sent.failure_outcome(), None),
        })
    }

    /// Transfer with the v2.0 API regardless of the configured version.
    pub async fn transfer_v2(&self, req: &TransferRequest) -> Result<Exchange, ProviderError> {
        let body = tf::v2_transfer_body(req, &self.settings.account_id)?;
        let gate = SendGate {
            fence: &req.fence,
            step: "singapay.transfer_v2",
            sent_before: false,
        };
        let sent = match self
            .call(Some(gate), |t| {
                self.v2_request(paths::TRANSFER_V2, &body, t)
            })
            .await
        {
            Ok(s) => s,
            Err(e) => return super::retryable_as_exchange(e),
        };
        Ok(match sent.answer::<SingapayAnswer>() {
            Some(a) => sent.answered(tf::v2_transfer_outcome(&a), tf::reference(&a), a),
            None => sent.exchange::<SingapayAnswer>(sent.failure_outcome(), None),
        })
    }
}

#[async_trait]
impl PayoutProvider for SingapayClient {
    /// A v1.0 transfer carries no reference of ours: its webhook names only
    /// Singapay's `transaction_id` (see `webhook::provider_references`).
    fn notifies_by_provider_reference(&self) -> bool {
        self.settings.api_version == SingapayApiVersion::V1
    }

    fn check_transfer(&self, req: &TransferRequest) -> Result<(), crate::domain::FieldError> {
        match self.settings.api_version {
            SingapayApiVersion::V2 => {
                tf::v2_transfer_body(req, &self.settings.account_id).map(drop)
            }
            SingapayApiVersion::V1 => tf::v1_transfer_request(req).map(drop),
        }
    }

    async fn fresh_token(&self) -> Result<AccessToken, ProviderError> {
        SingapayClient::fetch_token(self).await
    }

    fn provider(&self) -> Provider {
        crate::providers::singapay::ID
    }

    async fn transfer(&self, req: &TransferRequest) -> Result<Exchange, ProviderError> {
        match self.settings.api_version {
            SingapayApiVersion::V2 => self.transfer_v2(req).await,
            SingapayApiVersion::V1 => self.transfer_v1(req).await,
        }
    }

    async fn transfer_status(&self, query: &StatusQuery) -> Result<Exchange, ProviderError> {
        match self.settings.api_version {
            SingapayApiVersion::V2 => {}
            SingapayApiVersion::V1 => {
                return Err(ProviderError::Unsupported {
                    provider: crate::providers::singapay::ID,
                    operation: "transfer status (the v1.0 document has no status endpoint and no client reference)",
                })
            }
        }
        let body = tf::v2_inquiry_body(query);
        let path = paths::inquiry_v2(&self.settings.account_id);
        let sent = match self.call(None, |t| self.v2_request(&path, &body, t)).await {
            Ok(s) => s,
            Err(e) => return super::retryable_as_exchange(e),
        };
        Ok(match sent.answer::<SingapayAnswer>() {
            Some(a) => sent.answered(tf::v2_inquiry_outcome(&a), tf::reference(&a), a),
            None => sent.exchange::<SingapayAnswer>(sent.failure_outcome(), None),
        })
    }

    async fn account_inquiry(
        &self,
        req: &AccountInquiryRequest,
    ) -> Result<AccountInfo, ProviderError> {
        let _ = req;
        Err(ProviderError::Unsupported {
            provider: crate::providers::singapay::ID,
            operation: "account inquiry",
        })
    }

    async fn balance(&self, external_id: &ExternalId) -> Result<Balance, ProviderError> {
        let _ = external_id;
        Err(ProviderError::Unsupported {
            provider: crate::providers::singapay::ID,
            operation: "balance inquiry",
        })
    }
}

/// This provider's id.
pub const ID: Provider = Provider::named("singapay");

/// Singapay in the provider registry.
pub fn module() -> crate::providers::module::ModuleParts<SingapaySettings> {
    use crate::providers::Capability;
    use std::sync::Arc;
    crate::providers::module::ModuleParts {
        id: ID,
        title: "Singapay",
        capabilities: &[
            Capability::AccountInquiry,
            Capability::Balance,
            Capability::Callbacks,
        ],
        check: |s| s.client_secret().and(s.api_key()).map(drop),
        build: |s| Ok(Arc::new(SingapayClient::new(s)?)),
        webhook: Some(|s| Ok(Arc::new(webhook::SingapayWebhook::new(s)?))),
        bank_scheme: |s| match s.api_version {
            SingapayApiVersion::V1 => Some(crate::banks::BankScheme::Swift),
            SingapayApiVersion::V2 => Some(crate::banks::BankScheme::BankIndonesia),
        },
    }
}
