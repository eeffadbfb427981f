//! SNAP-BI signing toolkit: the three signatures, their verification, body
//! minification, timestamps, keys and response codes.
//!
//! Everything here is pure (no I/O besides reading key files in [`keys`]), so the
//! sandbox, the provider clients, the callback receiver and the `kirim sign` CLI all
//! share one implementation and one set of known-answer tests.
//!
//! The string-to-sign builders are public on purpose: `kirim sign --explain` prints
//! them, because comparing strings-to-sign is how signature mismatches get debugged.

pub mod canonical;
pub mod keys;
pub mod minify;
pub mod response_code;
pub mod timestamp;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256, Sha512};
use thiserror::Error;

pub use minify::{minify, MinifyError};
pub use response_code::{CodeClass, ResponseCode, ResponseCodeError};

type HmacSha512 = Hmac<Sha512>;

/// A signature that did not verify. Deliberately carries no detail: telling a
/// caller *why* a signature failed helps forgers more than integrators.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("signature is not valid base64")]
    NotBase64,
    #[error("signature does not match")]
    Mismatch,
}

/// `lowerhex(SHA-256(bytes))`, the body digest inside every SNAP string-to-sign.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The access-token string-to-sign: `clientId + separator + X-TIMESTAMP`.
///
/// The separator is `|` in the SNAP standard; one iFortepay page shows `:`
/// (unconfirmed), so callers pass it from per-provider settings.
pub fn token_string_to_sign(client_id: &str, separator: &str, timestamp: &str) -> String {
    format!("{client_id}{separator}{timestamp}")
}

/// The symmetric (HMAC-SHA512) service string-to-sign. `minified_body` must already
/// be minified (it is hashed as given) — sign exactly the bytes that are sent.
pub fn service_string_to_sign(
    method: &str,
    endpoint_url: &str,
    access_token: &str,
    minified_body: &[u8],
    timestamp: &str,
) -> String {
    format!(
        "{}:{}:{}:{}:{}",
        method.to_ascii_uppercase(),
        endpoint_url,
        access_token,
        sha256_hex(minified_body),
        timestamp
    )
}

/// The asymmetric (SHA256withRSA) service string-to-sign.
pub fn service_rsa_string_to_sign(
    method: &str,
    endpoint_url: &str,
    minified_body: &[u8],
    timestamp: &str,
) -> String {
    format!(
        "{}:{}:{}:{}",
        method.to_ascii_uppercase(),
        endpoint_url,
        sha256_hex(minified_body),
        timestamp
    )
}

/// base64(SHA256withRSA(key, message)), RSASSA-PKCS1-v1_5.
pub fn rsa_sign(key: &RsaPrivateKey, message: &str) -> String {
    let signer = SigningKey::<Sha256>::new(key.clone());
    B64.encode(signer.sign(message.as_bytes()).to_bytes())
}

/// Verify a base64 SHA256withRSA signature.
pub fn rsa_verify(
    key: &RsaPublicKey,
    message: &str,
    signature_b64: &str,
) -> Result<(), VerifyError> {
    let raw = B64
        .decode(signature_b64.trim())
        .map_err(|_| VerifyError::NotBase64)?;
    let sig = Signature::try_from(raw.as_slice()).map_err(|_| VerifyError::Mismatch)?;
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(message.as_bytes(), &sig)
        .map_err(|_| VerifyError::Mismatch)
}

/// Raw HMAC-SHA512 bytes.
pub fn hmac_sha512(secret: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = HmacSha512::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// base64(HMAC-SHA512(secret, message)).
pub fn hmac_sign(secret: &str, message: &str) -> String {
    B64.encode(hmac_sha512(secret.as_bytes(), message.as_bytes()))
}

/// Verify a base64 HMAC-SHA512 signature in constant time.
pub fn hmac_verify(secret: &str, message: &str, signature_b64: &str) -> Result<(), VerifyError> {
    let given = B64
        .decode(signature_b64.trim())
        .map_err(|_| VerifyError::NotBase64)?;
    let mut mac = HmacSha512::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    // `verify_slice` compares in constant time (subtle).
    mac.verify_slice(&given).map_err(|_| VerifyError::Mismatch)
}

/// Access-token signature: base64(SHA256withRSA(key, `clientId|X-TIMESTAMP`)).
pub fn sign_access_token(key: &RsaPrivateKey, client_id: &str, timestamp: &str) -> String {
    rsa_sign(key, &token_string_to_sign(client_id, "|", timestamp))
}

/// Verify an access-token signature (the sandbox's token endpoint).
pub fn verify_access_token(
    key: &RsaPublicKey,
    client_id: &str,
    separator: &str,
    timestamp: &str,
    signature: &str,
) -> Result<(), VerifyError> {
    rsa_verify(
        key,
        &token_string_to_sign(client_id, separator, timestamp),
        signature,
    )
}

/// Symmetric service signature over an already-minified body.
pub fn sign_service(
    client_secret: &str,
    method: &str,
    endpoint_url: &str,
    access_token: &str,
    minified_body: &[u8],
    timestamp: &str,
) -> String {
    hmac_sign(
        client_secret,
        &service_string_to_sign(method, endpoint_url, access_token, minified_body, timestamp),
    )
}

/// Verify a symmetric service signature. `raw_body` is minified here, as the
/// receiver of a request must do before hashing.
pub fn verify_service(
    client_secret: &str,
    method: &str,
    endpoint_url: &str,
    access_token: &str,
    raw_body: &str,
    timestamp: &str,
    signature: &str,
) -> Result<(), VerifyError> {
    let body = minify::minify_unchecked(raw_body);
    hmac_verify(
        client_secret,
        &service_string_to_sign(
            method,
            endpoint_url,
            access_token,
            body.as_bytes(),
            timestamp,
        ),
        signature,
    )
}

/// Asymmetric service signature over an already-minified body.
pub fn sign_service_rsa(
    key: &RsaPrivateKey,
    method: &str,
    endpoint_url: &str,
    minified_body: &[u8],
    timestamp: &str,
) -> String {
    rsa_sign(
        key,
        &service_rsa_string_to_sign(method, endpoint_url, minified_body, timestamp),
    )
}

/// Verify an asymmetric service signature; `raw_body` is minified here.
pub fn verify_service_rsa(
    key: &RsaPublicKey,
    method: &str,
    endpoint_url: &str,
    raw_body: &str,
    timestamp: &str,
    signature: &str,
) -> Result<(), VerifyError> {
    let body = minify::minify_unchecked(raw_body);
    rsa_verify(
        key,
        &service_rsa_string_to_sign(method, endpoint_url, body.as_bytes(), timestamp),
        signature,
    )
}

/// The iFortepay disbursement callback string-to-sign:
/// `callbackUrl:X-VERSION:lowerhex(SHA-256(minify(body))):X-TIMESTAMP`.
pub fn callback_string_to_sign(
    callback_url: &str,
    version: &str,
    minified_body: &[u8],
    timestamp: &str,
) -> String {
    format!(
        "{callback_url}:{version}:{}:{timestamp}",
        sha256_hex(minified_body)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_verify_accepts_own_and_rejects_tampered() {
        let s = service_string_to_sign("post", "/a", "tok", b"{}", "2024-01-01T00:00:00+07:00");
        assert!(s.starts_with("POST:/a:tok:"));
        let sig = hmac_sign("secret", &s);
        assert_eq!(hmac_verify("secret", &s, &sig), Ok(()));
        assert_eq!(hmac_verify("other", &s, &sig), Err(VerifyError::Mismatch));
        assert_eq!(
            hmac_verify("secret", &s, "%%%"),
            Err(VerifyError::NotBase64)
        );
    }

    #[test]
    fn empty_body_hash_is_hash_of_empty_string() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
