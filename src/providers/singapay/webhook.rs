//! Singapay webhooks, verified the way Singapay signs them. Source: Singapay's
//! public SDK `aliziodev/singapay-js`, `src/webhooks/verify.ts` ("SingaPay signs
//! webhooks with the same colon-separated scheme as money-out requests"):
//!
//! ```text
//! string_to_sign = "POST:{ENDPOINT}:{ACCESS_TOKEN}:{sha256hex(body)}:{X-Timestamp}"
//! X-Signature    = lowerhex(HMAC-SHA512(client_secret, string_to_sign))
//! ```
//!
//! - `ENDPOINT`: the callback path (and query) as registered, not the full URL
//!   (the path of `providers.singapay.webhook_url`);
//! - `ACCESS_TOKEN`: from the webhook's own `Authorization: Bearer …` header (a
//!   token Singapay generated, not ours); a webhook without one is refused;
//! - the body hash is over the PHP-normalised body first ([`php_normalised`]:
//!   recursively key-sorted, an empty object as `[]`, an object keyed `"0".."n-1"`
//!   as an array), then over the raw bytes;
//! - `X-Timestamp`: Unix seconds, within [`crate::providers::webhook::MAX_SKEW`].
//!
//! Status in `data.transaction_status.code` (the v2 table).

use axum::http::HeaderMap;
use serde_json::Value;

use super::settings::SingapaySettings;
use super::transformers::{v2_status_outcome, V2Status};
use crate::config::ConfigError;
use crate::domain::{Outcome, Secret};
use crate::lifecycle::Trust;
use crate::providers::webhook::{fresh_unix, Webhook};
use crate::snap;

/// Deepest nesting accepted before the signature is checked (the SDK's limit).
const MAX_DEPTH: usize = 64;

pub struct SingapayWebhook {
    secret: Secret,
    /// The signed `ENDPOINT`: the path and query of `webhook_url`.
    endpoint: String,
}

/// The path (and query) of a configured webhook URL; a bare path is taken as is.
pub fn endpoint_of(webhook_url: &str) -> String {
    match reqwest::Url::parse(webhook_url) {
        Ok(u) => match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        },
        Err(_) => webhook_url.to_owned(),
    }
}

impl SingapayWebhook {
    pub fn new(settings: &SingapaySettings) -> Result<Self, ConfigError> {
        Ok(SingapayWebhook {
            secret: settings.client_secret()?,
            endpoint: endpoint_of(&settings.webhook_url),
        })
    }
}

/// The string to sign, given the body hash.
pub fn string_to_sign(endpoint: &str, token: &str, body_sha256_hex: &str, ts: &str) -> String {
    format!("POST:{endpoint}:{token}:{body_sha256_hex}:{ts}")
}

/// The body as the official PHP sample re-encodes it (recursive `ksort`,
/// `json_encode` with unescaped unicode and slashes); `None` past [`MAX_DEPTH`].
pub fn php_normalised(v: &Value) -> Option<String> {
    fn go(v: &Value, depth: usize, out: &mut String) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match v {
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    go(item, depth + 1, out)?;
                }
                out.push(']');
            }
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                let list = entries.is_empty()
                    || entries
                        .iter()
                        .enumerate()
                        .all(|(i, (k, _))| **k == i.to_string());
                out.push(if list { '[' } else { '{' });
                for (i, (k, item)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if !list {
                        out.push_str(&serde_json::to_string(k).ok()?);
                        out.push(':');
                    }
                    go(item, depth + 1, out)?;
                }
                out.push(if list { ']' } else { '}' });
            }
            scalar => out.push_str(&serde_json::to_string(scalar).ok()?),
        }
        Some(())
    }
    let mut out = String::new();
    go(v, 0, &mut out)?;
    Some(out)
}

impl Webhook for SingapayWebhook {
    fn references(&self) -> &'static [&'static str] {
        &["/data/reference_number"]
    }

    /// A v1.0 transfer has no `reference_number` (singapay-disbursement-transfer.txt:
    /// the request carries none); its answer's `transaction_id` is what kirim
    /// recorded as the provider reference.
    fn provider_references(&self) -> &'static [&'static str] {
        &["/data/transaction_id"]
    }

    fn verify(
        &self,
        timestamp: &str,
        signature: &str,
        headers: &HeaderMap,
        body: &[u8],
        parsed: &Value,
    ) -> Result<(), &'static str> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .and_then(|a| {
                a.strip_prefix("Bearer ")
                    .or_else(|| a.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or("missing Authorization bearer token (part of the signature)")?;
        let normalised = php_normalised(parsed).ok_or("body nests too deep")?;
        let given = signature.trim().to_ascii_lowercase();
        let matches = |hash: String| {
            let expected = hex::encode(snap::hmac_sha512(
                self.secret.expose().as_bytes(),
                string_to_sign(&self.endpoint, token, &hash, timestamp).as_bytes(),
            ));
            expected.len() == given.len()
                && bool::from(subtle::ConstantTimeEq::ct_eq(
                    expected.as_bytes(),
                    given.as_bytes(),
                ))
        };
        (matches(snap::sha256_hex(normalised.as_bytes())) || matches(snap::sha256_hex(body)))
            .then_some(())
            .ok_or("signature does not verify")
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

    /// The HMAC covers sha256 of the body.
    fn trust(&self) -> Trust {
        Trust::Body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn php_normalisation() {
        let v = json!({"b": {}, "a": [1, {"y": "é/x", "x": null}], "c": {"1": 2, "0": 1}});
        assert_eq!(
            php_normalised(&v).as_deref(),
            Some(r#"{"a":[1,{"x":null,"y":"é/x"}],"b":[],"c":[1,2]}"#)
        );
        assert_eq!(
            endpoint_of("http://127.0.0.1:8090/callbacks/singapay?x=1"),
            "/callbacks/singapay?x=1"
        );
    }
}
