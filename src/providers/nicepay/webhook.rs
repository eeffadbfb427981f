//! NICEPAY transfer notifications: SHA256withRSA(NICEPAY's key,
//! `clientId|X-TIMESTAMP`), status in `latestTransactionStatus` (the client's
//! table). The signature covers only the headers, so a captured pair can be
//! replayed with any body: the body only makes the payout due for an inquiry.

use axum::http::HeaderMap;
use rsa::RsaPublicKey;
use serde_json::Value;

use super::settings::NicepaySettings;
use super::transformers::{status_outcome, NicepayStatus};
use crate::config::ConfigError;
use crate::domain::Outcome;
use crate::lifecycle::Trust;
use crate::providers::webhook::Webhook;
use crate::snap;

pub struct NicepayWebhook {
    client_id: String,
    separator: String,
    public_key: RsaPublicKey,
}

impl NicepayWebhook {
    pub fn new(settings: &NicepaySettings) -> Result<Self, ConfigError> {
        let path = settings.public_key_path.as_ref().ok_or_else(|| {
            ConfigError::invalid(
                "providers.nicepay.public_key_path",
                "is required to verify NICEPAY's notifications",
            )
        })?;
        let public_key = snap::keys::load_public_key(path).map_err(|e| {
            ConfigError::invalid("providers.nicepay.public_key_path", e.to_string())
        })?;
        Ok(NicepayWebhook {
            client_id: settings.client_id.clone(),
            separator: settings.token_separator.clone(),
            public_key,
        })
    }
}

impl Webhook for NicepayWebhook {
    fn references(&self) -> &'static [&'static str] {
        &["/originalPartnerReferenceNo", "/partnerReferenceNo"]
    }

    fn verify(
        &self,
        timestamp: &str,
        signature: &str,
        _headers: &HeaderMap,
        _body: &[u8],
        _parsed: &Value,
    ) -> Result<(), &'static str> {
        let message = snap::token_string_to_sign(&self.client_id, &self.separator, timestamp);
        snap::rsa_verify(&self.public_key, &message, signature)
            .map_err(|_| "signature does not verify")
    }

    fn outcome(&self, body: &Value) -> Option<Outcome> {
        let status: NicepayStatus = body
            .get("latestTransactionStatus")
            .and_then(Value::as_str)?
            .parse()
            .ok()?;
        let desc = body
            .get("transactionStatusDesc")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Some(status_outcome(status, None, desc))
    }

    fn trust(&self) -> Trust {
        Trust::HeadersOnly
    }

    /// The path NICEPAY's documents give for transfer notifications.
    fn extra_paths(&self) -> &'static [&'static str] {
        &["/api/v1.0/transfer/notify"]
    }
}
