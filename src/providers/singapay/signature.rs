//! Singapay's two signatures (not SNAP): the token signature and the v2.0 request
//! signature over a canonical JSON body. Pure; checked against the public vectors in
//! `tests/fixtures/vectors/singapay-v2.json`.
//!
//! The client sends the canonical text itself as the body, so the bytes hashed are
//! the bytes sent — whatever the receiver's canonicaliser does, it gets back the
//! same text.

use crate::snap::{hmac_sha512, sha256_hex};

/// Canonical JSON (keys sorted by bytes, no whitespace): one implementation for
/// the client, the sandbox and the webhook receiver.
pub use crate::snap::canonical::canonical_json;

/// lowercase hex HMAC-SHA512.
pub fn hmac_hex(secret: &str, message: &str) -> String {
    hex::encode(hmac_sha512(secret.as_bytes(), message.as_bytes()))
}

/// The v2.0 string-to-sign: `METHOD:endpoint:token:sha256hex(canonical body):unixSeconds`.
pub fn v2_string_to_sign(
    method: &str,
    endpoint: &str,
    token: &str,
    canonical_body: &[u8],
    ts: &str,
) -> String {
    format!(
        "{}:{endpoint}:{token}:{}:{ts}",
        method.to_ascii_uppercase(),
        sha256_hex(canonical_body)
    )
}

/// The v2.0 request signature (`X-Signature`).
pub fn v2_signature(
    secret: &str,
    method: &str,
    endpoint: &str,
    token: &str,
    canonical_body: &[u8],
    ts: &str,
) -> String {
    hmac_hex(
        secret,
        &v2_string_to_sign(method, endpoint, token, canonical_body, ts),
    )
}

/// The token signature: `hex(HMAC-SHA512(secret, "{clientId}_{secret}_{YYYYMMDD}"))`,
/// the date in Asia/Jakarta.
pub fn token_signature(client_id: &str, secret: &str, yyyymmdd: &str) -> String {
    hmac_hex(secret, &format!("{client_id}_{secret}_{yyyymmdd}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every vector of the public set: canonical text, body hash and signature.
    #[test]
    fn reproduces_public_vectors() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/vectors/singapay-v2.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let secret = v["secret"].as_str().unwrap();
        let token = v["access_token"].as_str().unwrap();
        let method = v["method"].as_str().unwrap();
        let endpoint = v["endpoint"].as_str().unwrap();
        let ts = v["timestamp"].to_string();
        let cases = v["vectors"].as_array().unwrap();
        assert!(cases.len() >= 8);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let canonical = canonical_json(&case["payload"]);
            assert_eq!(
                canonical,
                case["normalized_json"].as_str().unwrap(),
                "{name}"
            );
            assert_eq!(
                sha256_hex(canonical.as_bytes()),
                case["hashed_body"].as_str().unwrap(),
                "{name}"
            );
            assert_eq!(
                v2_signature(secret, method, endpoint, token, canonical.as_bytes(), &ts),
                case["expected_signature"].as_str().unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn control_characters() {
        let v = serde_json::json!({"s": "a\u{1}b"});
        assert_eq!(canonical_json(&v), r#"{"s":"a\u0001b"}"#);
    }
}
