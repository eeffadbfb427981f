//! SNAP calls signed with the asymmetric service signature: SHA256withRSA over
//! `METHOD:EndpointUrl:lowerhex(SHA-256(minify(body))):X-TIMESTAMP`, with no access
//! token and no `Authorization` header. iFortepay direct debit is such an API: its
//! samples (ifortepay-direct-debit-payment.txt:42-47) carry `X-TIMESTAMP`, a
//! 344-character `X-SIGNATURE` (a 256-byte RSA-2048 signature in base64),
//! `X-Partner-Id`, `CHANNEL-ID`, `X-EXTERNAL-ID` and `Content-Type` — nothing else.
//!
//! A call that can move money carries a [`SendGate`], passed after the signing,
//! immediately before the write (DESIGN.md rule 11). There is no token to refresh,
//! so a call is written at most once.

use rsa::RsaPrivateKey;

use super::client::{endpoint_for_signing, headers, SnapCall};
use crate::config::{EndpointUrlMode, HttpSettings};
use crate::domain::Provider;
use crate::providers::http::{self, OutgoingRequest, Sent};
use crate::providers::ProviderError;
use crate::snap::{self, timestamp::TimestampFormat};

/// Static configuration of one asymmetric SNAP credential.
pub struct AsymmetricConfig {
    pub provider: Provider,
    pub http: HttpSettings,
    /// `X-PARTNER-ID`.
    pub partner_id: String,
    pub private_key: RsaPrivateKey,
    pub endpoint_url_mode: EndpointUrlMode,
    pub timestamp_format: TimestampFormat,
}

/// A pooled HTTP client that signs each request with the merchant's RSA key.
pub struct AsymmetricClient {
    cfg: AsymmetricConfig,
    client: reqwest::Client,
}

impl std::fmt::Debug for AsymmetricClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsymmetricClient")
            .field("provider", &self.cfg.provider)
            .field("base_url", &self.cfg.http.base_url)
            .field("partner_id", &self.cfg.partner_id)
            .finish_non_exhaustive()
    }
}

impl AsymmetricClient {
    pub fn new(cfg: AsymmetricConfig) -> Result<Self, ProviderError> {
        let client = http::build_client(cfg.provider, &cfg.http)?;
        // Fail at start, not on the first payment, if the base URL is not a URL.
        http::join_url(cfg.provider, &cfg.http.base_url, "/")?;
        Ok(AsymmetricClient { cfg, client })
    }

    pub fn partner_id(&self) -> &str {
        &self.cfg.partner_id
    }

    /// Sign and send one call. `Err` only when nothing was written (the URL could
    /// not be built or the call's [`SendGate`] refused).
    pub async fn call(&self, call: &SnapCall<'_>) -> Result<Sent, ProviderError> {
        let started = std::time::Instant::now();
        let request = self.signed(call)?;
        if let Some(gate) = &call.gate {
            gate.pass(false).await?;
        }
        let (transport, _) = http::send(&self.client, request).await;
        Ok(Sent {
            transport,
            latency: started.elapsed(),
        })
    }

    /// The request as it would be written: for tests and `kirim sign --explain`.
    pub fn signed(&self, call: &SnapCall<'_>) -> Result<OutgoingRequest, ProviderError> {
        let url = http::join_url(self.cfg.provider, &self.cfg.http.base_url, call.path)?;
        let mut req = OutgoingRequest::new(call.method.clone(), url, call.body.clone());
        let ts = self.cfg.timestamp_format.now();
        let endpoint = endpoint_for_signing(self.cfg.endpoint_url_mode, "", &req);
        let signature = snap::sign_service_rsa(
            &self.cfg.private_key,
            call.method.as_str(),
            &endpoint,
            req.body(),
            &ts,
        );
        req.header(headers::CONTENT_TYPE, "application/json")?;
        req.header(headers::X_TIMESTAMP, &ts)?;
        req.header(headers::X_SIGNATURE, &signature)?;
        req.header(headers::X_PARTNER_ID, &self.cfg.partner_id)?;
        req.header(headers::X_EXTERNAL_ID, call.external_id)?;
        req.header(headers::CHANNEL_ID, call.channel_id)?;
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use reqwest::Method;

    use super::*;

    fn client(mode: EndpointUrlMode) -> AsymmetricClient {
        let key = crate::snap::keys::load_private_key(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/sandbox/ifortepay_debit_private.pem"
        )))
        .unwrap();
        AsymmetricClient::new(AsymmetricConfig {
            provider: crate::providers::ifortepay::ID,
            http: HttpSettings {
                base_url: "https://api-stage.senmo.id".into(),
                connect_timeout_ms: 1000,
                request_timeout_ms: 1000,
                token_refresh_margin_secs: 60,
            },
            partner_id: "IFP2024078302".into(),
            private_key: key,
            endpoint_url_mode: mode,
            timestamp_format: TimestampFormat::default(),
        })
        .unwrap()
    }

    /// The header set and signature size of the document's samples
    /// (ifortepay-direct-debit-payment.txt:42-47): no Authorization, a 344-character
    /// signature that the public half verifies over the documented string.
    #[test]
    fn header_set_and_signature_of_the_samples() {
        let body = br#"{"partnerReferenceNo":"QA-20240731-006"}"#.to_vec();
        for (mode, signed_url) in [
            (
                EndpointUrlMode::Absolute,
                "https://api-stage.senmo.id/v1.0/debit/payment-host-to-host",
            ),
            (
                EndpointUrlMode::Relative,
                "/v1.0/debit/payment-host-to-host",
            ),
        ] {
            let req = client(mode)
                .signed(&SnapCall {
                    method: Method::POST,
                    path: "/v1.0/debit/payment-host-to-host",
                    body: body.clone(),
                    external_id: "16144400187635",
                    channel_id: "DD003",
                    gate: None,
                })
                .unwrap();
            let mut names: Vec<&str> = req.header_names().collect();
            names.sort_unstable();
            assert_eq!(
                names,
                [
                    "channel-id",
                    "content-type",
                    "x-external-id",
                    "x-partner-id",
                    "x-signature",
                    "x-timestamp"
                ]
            );
            let sig = req.header_value("x-signature").unwrap();
            assert_eq!(sig.len(), 344, "{sig}");
            let public = crate::snap::keys::load_public_key(std::path::Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/config/sandbox/ifortepay_debit_public.pem"
            )))
            .unwrap();
            let ts = req.header_value("x-timestamp").unwrap();
            crate::snap::verify_service_rsa(
                &public,
                "POST",
                signed_url,
                std::str::from_utf8(&body).unwrap(),
                &ts,
                &sig,
            )
            .unwrap();
            assert_eq!(
                req.header_value("x-partner-id").as_deref(),
                Some("IFP2024078302")
            );
        }
    }
}
