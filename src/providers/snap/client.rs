//! The SNAP glue iFortepay and NICEPAY share: the B2B access token (RSA), the
//! symmetric HMAC-SHA512 request signature, the SNAP headers, and "refresh the token
//! once and resend" on `401xx01`/`401xx03`.
//!
//! Everything protocol-specific that NOTES.md marks unconfirmed is a setting here:
//! the token separator, a relative or absolute `EndpointUrl`, and a path prefix left
//! out of the signed path (NICEPAY's SDK signs without `/nicepay`).
//!
//! A resend after a token refresh reuses the message's `X-EXTERNAL-ID` (DESIGN.md
//! rule 3): the first attempt was refused as unauthorised, so it was not processed.
//!
//! A call that can move money carries a [`SendGate`]: [`SnapClient::call`] passes it
//! after the token fetch and the signing, immediately before each write (the first
//! attempt and the resend), and writes nothing when the fence refuses.

use std::time::Duration;

use reqwest::Method;
use rsa::RsaPrivateKey;
use serde::Deserialize;

use super::answer::{verdict, CallKind, SnapAnswer, Verdict};
use crate::config::{EndpointUrlMode, HttpSettings};
use crate::domain::{ExternalId, Provider, Secret};
use crate::providers::http::{self, OutgoingRequest, SendGate, Sent, Transport};
use crate::providers::token::{AccessToken, TokenCache};
use crate::providers::{Outcome, ProviderError};
use crate::snap::{self, timestamp::TimestampFormat};

/// A message id for calls kirim makes on its own (the profile check, CLI reads).
pub fn fresh_external_id() -> ExternalId {
    ExternalId::fresh(chrono::Utc::now().timestamp_millis())
}

/// Header names (lower case: HTTP/1 names are case-insensitive and `http` stores
/// them lower-cased).
pub mod headers {
    pub const CONTENT_TYPE: &str = "content-type";
    pub const AUTHORIZATION: &str = "authorization";
    pub const X_TIMESTAMP: &str = "x-timestamp";
    pub const X_SIGNATURE: &str = "x-signature";
    pub const X_CLIENT_KEY: &str = "x-client-key";
    pub const X_PARTNER_ID: &str = "x-partner-id";
    pub const X_EXTERNAL_ID: &str = "x-external-id";
    pub const CHANNEL_ID: &str = "channel-id";
    pub const ORIGIN: &str = "origin";
}

/// The `EndpointUrl` of a SNAP string-to-sign: the full URL, or the path and query
/// without `unsigned_path_prefix` (when the path starts with it as whole segments).
pub fn endpoint_for_signing(
    mode: EndpointUrlMode,
    unsigned_path_prefix: &str,
    req: &OutgoingRequest,
) -> String {
    match mode {
        EndpointUrlMode::Absolute => req.url().as_str().to_owned(),
        EndpointUrlMode::Relative => {
            let full = req.path_and_query();
            let prefix = unsigned_path_prefix.trim_end_matches('/');
            match full.strip_prefix(prefix) {
                Some(rest) if !prefix.is_empty() && rest.starts_with('/') => rest.to_owned(),
                _ => full,
            }
        }
    }
}

/// Static configuration of one SNAP credential.
pub struct SnapConfig {
    pub provider: Provider,
    pub http: HttpSettings,
    pub client_id: String,
    pub client_secret: Secret,
    pub private_key: RsaPrivateKey,
    pub token_path: &'static str,
    pub token_separator: String,
    pub endpoint_url_mode: EndpointUrlMode,
    /// Left out of the signed path when the request path starts with it.
    pub unsigned_path_prefix: String,
}

/// One signed SNAP call to make.
#[derive(Debug, Clone)]
pub struct SnapCall<'a> {
    pub method: Method,
    pub path: &'a str,
    /// Serialised once; hashed and sent as is.
    pub body: Vec<u8>,
    pub external_id: &'a str,
    pub channel_id: &'a str,
    /// Set for calls that can move money; reads (inquiry, balance, profile) pass none.
    pub gate: Option<SendGate<'a>>,
}

/// Token endpoint response. `expiresIn` is a number for most providers and the
/// string `"900"` for NICEPAY.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<serde_json::Value>,
}

/// Parse `expiresIn` given as a number or a numeric string.
pub fn parse_expires_in(v: Option<&serde_json::Value>) -> Option<Duration> {
    let secs = match v? {
        serde_json::Value::Number(n) => n.as_u64()?,
        serde_json::Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// The SNAP glue of one provider credential: pooled client, token cache, signer.
pub struct SnapClient {
    cfg: SnapConfig,
    client: reqwest::Client,
    tokens: TokenCache,
    /// How `X-TIMESTAMP` is written on the token call and every request.
    timestamp_format: TimestampFormat,
    /// Headers a provider's configuration adds to every service call (not the
    /// token call), after the SNAP ones: iFortepay's optional `ORIGIN`.
    extra_headers: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for SnapClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapClient")
            .field("provider", &self.cfg.provider)
            .field("base_url", &self.cfg.http.base_url)
            .field("client_id", &self.cfg.client_id)
            .finish_non_exhaustive()
    }
}

impl SnapClient {
    pub fn new(cfg: SnapConfig) -> Result<Self, ProviderError> {
        let client = http::build_client(cfg.provider, &cfg.http)?;
        // Fail at start, not on the first payout, if the base URL is not a URL.
        http::join_url(cfg.provider, &cfg.http.base_url, cfg.token_path)?;
        let tokens = TokenCache::new(
            format!("{}:{}", cfg.provider, cfg.client_id),
            Duration::from_secs(cfg.http.token_refresh_margin_secs),
        );
        Ok(SnapClient {
            cfg,
            client,
            tokens,
            timestamp_format: TimestampFormat::default(),
            extra_headers: Vec::new(),
        })
    }

    /// Send `name: value` on every service call (not the token call). A value that
    /// is not visible ASCII is a configuration error here, at start, not on the
    /// first payout.
    pub fn with_header(mut self, name: &'static str, value: &str) -> Result<Self, ProviderError> {
        reqwest::header::HeaderValue::from_str(value).map_err(|_| {
            ProviderError::Config(format!(
                "{}: header {name} has a value that is not visible ASCII",
                self.cfg.provider
            ))
        })?;
        self.extra_headers.push((name, value.to_owned()));
        Ok(self)
    }

    /// Write `X-TIMESTAMP` in `format` (on the token call and every request). The
    /// default is the millisecond form iFortepay documents; NICEPAY sets
    /// [`TimestampFormat::Seconds`] ("String 25", nicepay-payout-inquiry.txt:14).
    /// A builder rather than a [`SnapConfig`] field so every existing
    /// `SnapConfig { .. }` keeps what it sends today.
    pub fn with_timestamp_format(mut self, format: TimestampFormat) -> Self {
        self.timestamp_format = format;
        self
    }

    pub fn timestamp_format(&self) -> TimestampFormat {
        self.timestamp_format
    }

    pub fn provider(&self) -> Provider {
        self.cfg.provider
    }

    pub fn client_id(&self) -> &str {
        &self.cfg.client_id
    }

    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// The `EndpointUrl` of the string-to-sign for a request.
    pub fn endpoint_for_signing(&self, req: &OutgoingRequest) -> String {
        endpoint_for_signing(
            self.cfg.endpoint_url_mode,
            &self.cfg.unsigned_path_prefix,
            req,
        )
    }

    /// A valid token from the cache, or a new one.
    pub async fn token(&self) -> Result<AccessToken, ProviderError> {
        self.tokens.get(|| self.fetch_token()).await
    }

    /// Ask the provider for a new token (`POST …/access-token/b2b`).
    pub async fn fetch_token(&self) -> Result<AccessToken, ProviderError> {
        let url = http::join_url(
            self.cfg.provider,
            &self.cfg.http.base_url,
            self.cfg.token_path,
        )?;
        let body = br#"{"grantType":"client_credentials"}"#.to_vec();
        let ts = self.timestamp_format.now();
        let string_to_sign =
            snap::token_string_to_sign(&self.cfg.client_id, &self.cfg.token_separator, &ts);
        let signature = snap::rsa_sign(&self.cfg.private_key, &string_to_sign);
        let mut req = OutgoingRequest::new(Method::POST, url, body);
        req.header(headers::CONTENT_TYPE, "application/json")?;
        req.header(headers::X_CLIENT_KEY, &self.cfg.client_id)?;
        req.header(headers::X_TIMESTAMP, &ts)?;
        req.header(headers::X_SIGNATURE, &signature)?;
        let (transport, _) = http::send(&self.client, req).await;
        token_from_transport(&transport)
    }

    /// Sign and send one call; on an invalid-token answer refresh the token once
    /// and resend. `Err` only when nothing was processed (no token could be had, or
    /// the call's [`SendGate`] refused).
    pub async fn call(&self, call: &SnapCall<'_>) -> Result<Sent, ProviderError> {
        let started = std::time::Instant::now();
        let token = self.token().await?;
        let request = self.signed(call, &token)?;
        // Last thing before the write: the token wait and the signing are behind us.
        if let Some(gate) = &call.gate {
            gate.pass(false).await?;
        }
        let (transport, _) = http::send(&self.client, request).await;
        let rejected = matches!(&transport, Transport::Response(raw) if may_want_new_token(raw) && SnapAnswer::from_raw(raw).wants_new_token());
        if !rejected {
            return Ok(Sent {
                transport,
                latency: started.elapsed(),
            });
        }
        tracing::info!(provider = %self.cfg.provider, path = call.path, "token rejected; refreshing once");
        let fresh = self
            .tokens
            .refresh_if_current(&token.value, || self.fetch_token())
            .await?;
        let request = self.signed(call, &fresh)?;
        // The refresh may have waited long: ask again. The first attempt reached the
        // provider (and was refused), so a refusal here says `sent_before`.
        if let Some(gate) = &call.gate {
            gate.pass(true).await?;
        }
        let (transport, _) = http::send(&self.client, request).await;
        Ok(Sent {
            transport,
            latency: started.elapsed(),
        })
    }

    fn signed(
        &self,
        call: &SnapCall<'_>,
        token: &AccessToken,
    ) -> Result<OutgoingRequest, ProviderError> {
        let url = http::join_url(self.cfg.provider, &self.cfg.http.base_url, call.path)?;
        let mut req = OutgoingRequest::new(call.method.clone(), url, call.body.clone());
        let ts = self.timestamp_format.now();
        let endpoint = self.endpoint_for_signing(&req);
        let signature = snap::sign_service(
            self.cfg.client_secret.expose(),
            call.method.as_str(),
            &endpoint,
            token.value.expose(),
            req.body(),
            &ts,
        );
        req.header(headers::CONTENT_TYPE, "application/json")?;
        req.secret_header(
            headers::AUTHORIZATION,
            &format!("Bearer {}", token.value.expose()),
        )?;
        req.header(headers::X_TIMESTAMP, &ts)?;
        req.header(headers::X_SIGNATURE, &signature)?;
        req.header(headers::X_PARTNER_ID, &self.cfg.client_id)?;
        req.header(headers::X_EXTERNAL_ID, call.external_id)?;
        req.header(headers::CHANNEL_ID, call.channel_id)?;
        for &(name, ref value) in &self.extra_headers {
            req.header(name, value)?;
        }
        Ok(req)
    }
}

/// Whether an answer can carry `401xx01`/`401xx03` at all, without parsing it: the
/// HTTP status is 401, or the body holds the digits `401` or a `\u` escape (a code
/// could be written with escaped digits). Every other answer skips the parse the
/// provider's mapping does anyway.
fn may_want_new_token(raw: &http::RawResponse) -> bool {
    raw.status == 401
        || raw
            .body
            .windows(3)
            .any(|w| w == b"401" || w.starts_with(b"\\u"))
}

/// Map a token endpoint answer to a token or an error. A token request moves no
/// money, so every failure that is not a definite "no" is retryable.
pub fn token_from_transport(transport: &Transport) -> Result<AccessToken, ProviderError> {
    let fail = http::token_error;
    let answer = SnapAnswer::from_raw(http::token_response(transport)?);
    match verdict(&answer, CallKind::Read) {
        Verdict::Accepted { .. } => {}
        Verdict::Decided(outcome) => return Err(fail(outcome, answer.code_raw)),
        Verdict::NotFound | Verdict::TokenRejected => {
            return Err(fail(
                Outcome::FinalFailure {
                    code: answer.code_raw.clone().unwrap_or_default(),
                    message: answer.message.clone().unwrap_or_default(),
                },
                answer.code_raw,
            ))
        }
    }
    let parsed: Option<TokenResponse> = answer
        .json
        .clone()
        .and_then(|j| serde_json::from_value(j).ok());
    let (token, lifetime) = match parsed {
        Some(TokenResponse {
            access_token: Some(t),
            expires_in,
        }) if !t.is_empty() => (t, parse_expires_in(expires_in.as_ref())),
        _ => {
            return Err(fail(
                Outcome::Retryable {
                    delay_hint: None,
                    reason: "token response without accessToken".into(),
                },
                answer.code_raw,
            ))
        }
    };
    // SNAP tokens live 900 s; assume so when the provider does not say.
    let lifetime = lifetime.unwrap_or(Duration::from_secs(900));
    Ok(AccessToken::new(Secret::new(token), lifetime))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::providers::http::RawResponse;

    fn raw(status: u16, body: serde_json::Value) -> Transport {
        Transport::Response(RawResponse {
            status,
            retry_after: None,
            body: body.to_string().into_bytes(),
        })
    }

    fn client(mode: EndpointUrlMode, prefix: &str) -> SnapClient {
        let key = crate::snap::keys::load_private_key(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/sandbox/nicepay_private.pem"
        )))
        .unwrap();
        SnapClient::new(SnapConfig {
            provider: crate::providers::nicepay::ID,
            http: HttpSettings {
                base_url: "https://dev.nicepay.co.id/nicepay".into(),
                connect_timeout_ms: 1000,
                request_timeout_ms: 1000,
                token_refresh_margin_secs: 60,
            },
            client_id: "IONPAYTEST".into(),
            client_secret: Secret::new("s"),
            private_key: key,
            token_path: "/v1.0/access-token/b2b",
            token_separator: "|".into(),
            endpoint_url_mode: mode,
            unsigned_path_prefix: prefix.into(),
        })
        .unwrap()
    }

    #[test]
    fn the_token_check_parses_only_answers_that_can_carry_a_token_code() {
        let answer = |status: u16, body: &str| RawResponse {
            status,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        };
        let cases = [
            (200, r#"{"responseCode":"2001800"}"#, false),
            (401, r#"{"responseCode":"4011800"}"#, true),
            // A provider whose HTTP status does not follow the code is still caught.
            (200, r#"{"responseCode":"4011801"}"#, true),
            (200, r#"{"responseCode":"\u0034011801"}"#, true),
            (500, "", false),
        ];
        for (status, body, expected) in cases {
            let raw = answer(status, body);
            assert_eq!(may_want_new_token(&raw), expected, "{status} {body}");
            // Never a false negative: every answer the full parse says wants a new
            // token passes the cheap check.
            if SnapAnswer::from_raw(&raw).wants_new_token() {
                assert!(may_want_new_token(&raw), "{status} {body}");
            }
        }
        let escaped = answer(200, r#"{"responseCode":"\u0034011801"}"#);
        assert!(SnapAnswer::from_raw(&escaped).wants_new_token());
    }

    #[test]
    fn endpoint_url_modes_and_unsigned_prefix() {
        let url =
            reqwest::Url::parse("https://dev.nicepay.co.id/nicepay/api/v1.0/transfer/inquiry?x=1")
                .unwrap();
        let req = OutgoingRequest::new(Method::POST, url, Vec::new());
        assert_eq!(
            client(EndpointUrlMode::Relative, "/nicepay").endpoint_for_signing(&req),
            "/api/v1.0/transfer/inquiry?x=1"
        );
        assert_eq!(
            client(EndpointUrlMode::Relative, "").endpoint_for_signing(&req),
            "/nicepay/api/v1.0/transfer/inquiry?x=1"
        );
        assert_eq!(
            client(EndpointUrlMode::Absolute, "/nicepay").endpoint_for_signing(&req),
            "https://dev.nicepay.co.id/nicepay/api/v1.0/transfer/inquiry?x=1"
        );
        // A prefix that only matches part of a segment is not stripped.
        assert_eq!(
            client(EndpointUrlMode::Relative, "/nice").endpoint_for_signing(&req),
            "/nicepay/api/v1.0/transfer/inquiry?x=1"
        );
    }

    #[test]
    fn expires_in_number_or_string() {
        assert_eq!(
            parse_expires_in(Some(&json!(900))),
            Some(Duration::from_secs(900))
        );
        assert_eq!(
            parse_expires_in(Some(&json!("900"))),
            Some(Duration::from_secs(900))
        );
        assert_eq!(parse_expires_in(Some(&json!("soon"))), None);
        assert_eq!(parse_expires_in(None), None);
    }

    #[test]
    fn token_answers() {
        let ok = token_from_transport(&raw(
            200,
            json!({"responseCode": "2007300", "accessToken": "abc", "tokenType": "Bearer", "expiresIn": "900"}),
        ))
        .unwrap();
        assert_eq!(ok.value.expose(), "abc");
        assert_eq!(ok.lifetime, Duration::from_secs(900));

        let bad_sig = token_from_transport(&raw(
            401,
            json!({"responseCode": "4017300", "responseMessage": "Unauthorized"}),
        ))
        .unwrap_err();
        // A refused token request is a refusal of our credentials, not of a payout.
        assert!(matches!(
            bad_sig,
            ProviderError::Call {
                outcome: Outcome::Refused { .. },
                ..
            }
        ));
        let down = token_from_transport(&raw(500, json!({"responseCode": "5007300"}))).unwrap_err();
        assert!(matches!(
            down,
            ProviderError::Call {
                outcome: Outcome::Retryable { .. },
                ..
            }
        ));
        let err = token_from_transport(&Transport::MaybeSent {
            reason: "reset".into(),
        })
        .unwrap_err();
        assert!(matches!(
            err,
            ProviderError::Call {
                outcome: Outcome::Retryable { .. },
                ..
            }
        ));
    }
}
