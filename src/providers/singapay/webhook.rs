//! Singapay webhooks: hex HMAC-SHA512(clientSecret,
//! `webhookUrl:sha256(canonical(body)):X-Timestamp`) with a Unix-seconds
//! timestamp; status in `data.transaction_status.code` (the client's v2 table).

use axum::http::HeaderMap;
use serde_json::Value;

use super::settings::SingapaySettings;
use super::transformers::{v2_status_outcome, V2Status};
use crate::config::ConfigError;
use crate::domain::{Outcome, Secret};
use crate::lifecycle::Trust;
use crate::providers::webhook::{fresh_unix, Webhook};
use crate::snap;

pub struct SingapayWebhook {
    secret: Secret,
    webhook_url: String,
}

impl SingapayWebhook {
    pub fn new(settings: &SingapaySettings) -> Result<Self, ConfigError> {
        Ok(SingapayWebhook {
            secret: settings.client_secret()?,
            webhook_url: settings.webhook_url.clone(),
        })
    }
}

impl Webhook for SingapayWebhook {
    fn references(&self) -> &'static [&'static str] {
        &["/data/reference_number"]
    }

    fn verify(
        &self,
        timestamp: &str,
        signature: &str,
        _headers: &HeaderMap,
        _body: &[u8],
        parsed: &Value,
    ) -> Result<(), &'static str> {
        let canonical = snap::canonical::canonical_json(parsed);
        let message = format!(
            "{}:{}:{timestamp}",
            self.webhook_url,
            snap::sha256_hex(canonical.as_bytes())
        );
        let expected = hex::encode(snap::hmac_sha512(
            self.secret.expose().as_bytes(),
            message.as_bytes(),
        ));
        let given = signature.trim().to_ascii_lowercase();
        let same = expected.len() == given.len()
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                expected.as_bytes(),
                given.as_bytes(),
            ));
        same.then_some(()).ok_or("signature does not verify")
    }

    fn fresh(&self, timestamp: &str) -> bool {
        fresh_unix(timestamp)
    }

    fn outcome(&self, body: &Value) -> Option<Outcome> {
        let data = body.get("data")?;
        let code = data
            .pointer("/transaction_status/code")
            .and_then(Value::as_str)
            .or_else(|| data.get("status_code").and_then(Value::as_str))?;
        let status: V2Status = code.parse().ok()?;
        let desc = data
            .pointer("/transaction_status/description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Some(v2_status_outcome(status, None, desc))
    }

    /// The HMAC covers sha256(canonical(body)).
    fn trust(&self) -> Trust {
        Trust::Body
    }
}
