//! iFortepay disbursement callbacks: HMAC-SHA512(clientSecret,
//! `callbackUrl:X-VERSION:sha256(minify(body)):X-TIMESTAMP`), status in
//! `additionalInfo.status` (INIT | SUCCESS | CANCELLED, the client's table).

use axum::http::HeaderMap;
use serde_json::Value;

use super::settings::IfortepaySettings;
use super::transformers::{status_outcome, IfortepayStatus};
use crate::domain::{Outcome, Secret};
use crate::lifecycle::Trust;
use crate::providers::webhook::{header, Webhook};
use crate::snap;

pub struct IfortepayWebhook {
    secret: Secret,
    callback_url: String,
}

impl IfortepayWebhook {
    pub fn new(settings: &IfortepaySettings) -> Result<Self, crate::config::ConfigError> {
        Ok(IfortepayWebhook {
            secret: settings.client_secret()?,
            callback_url: settings.callback_url.clone(),
        })
    }
}

impl Webhook for IfortepayWebhook {
    fn references(&self) -> &'static [&'static str] {
        &["/partnerReferenceNo"]
    }

    fn verify(
        &self,
        timestamp: &str,
        signature: &str,
        headers: &HeaderMap,
        body: &[u8],
        _parsed: &Value,
    ) -> Result<(), &'static str> {
        let version = header(headers, "x-version").unwrap_or("1.0");
        let text = String::from_utf8_lossy(body);
        let minified = snap::minify::minify_unchecked(&text);
        let message = snap::callback_string_to_sign(
            &self.callback_url,
            version,
            minified.as_bytes(),
            timestamp,
        );
        snap::hmac_verify(self.secret.expose(), &message, signature)
            .map_err(|_| "signature does not verify")
    }

    fn outcome(&self, body: &Value) -> Option<Outcome> {
        let status: IfortepayStatus = body
            .pointer("/additionalInfo/status")
            .and_then(Value::as_str)?
            .parse()
            .ok()?;
        let reason = body
            .pointer("/additionalInfo/cancelledReason")
            .and_then(Value::as_str)
            .unwrap_or("cancelled")
            .to_owned();
        Some(status_outcome(status, None, reason))
    }

    /// The HMAC covers sha256(minify(body)).
    fn trust(&self) -> Trust {
        Trust::Body
    }
}
