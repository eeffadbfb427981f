//! The HTTP transport every provider shares: one pooled rustls client per provider,
//! requests whose body is fixed before it is signed, and a precise answer to the
//! question the worker cares about most — *could the provider have acted?*
//!
//! # Why the transport classifies failures
//! A transfer that failed before any byte left this process can be sent again; one
//! that failed after the request may have reached the provider must never be sent
//! again without an inquiry (DESIGN.md rule 4). [`Transport`] therefore has three
//! cases and no "error": a response, [`Transport::NotSent`] (connection refused, DNS,
//! TLS handshake, connect timeout: hyper reports these as *connect* errors, raised
//! before the request is written) and [`Transport::MaybeSent`] (everything else:
//! request timeout, connection reset or EOF while awaiting the answer, a body that
//! could not be read).
//!
//! # Why the body is bytes
//! SNAP signs `sha256(body)`. [`OutgoingRequest::body`] is serialised once; the
//! signature is computed over those bytes and the same bytes are handed to reqwest,
//! so a serializer change can never make the hashed and the sent body differ.
//!
//! # Why money-moving requests pass a gate
//! The worker that won a submission may have waited long (token fetches, the
//! profile check, a paused VM) and another worker may have taken the payout over
//! since (DESIGN.md rule 11). A request that can move money therefore carries a
//! [`SendGate`]; the client passes it after the token, the profile check and the
//! signing, immediately before [`send`], so nothing slow sits between the engine's
//! last word and the bytes on the wire.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Url};

use super::{Exchange, FenceHandle, Outcome, ProviderError};
use crate::config::HttpSettings;
use crate::domain::Provider;

/// Build the pooled client of one provider: rustls, connect and request timeouts
/// from its settings. Cloning a `reqwest::Client` shares the pool.
pub fn build_client(
    provider: Provider,
    http: &HttpSettings,
) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(http.connect_timeout())
        .timeout(http.request_timeout())
        .pool_idle_timeout(Duration::from_secs(60))
        // Redirects would re-send a signed transactional body to another URL.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kirim/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            ProviderError::Config(format!(
                "providers.{provider}: cannot build HTTP client: {e}"
            ))
        })
}

/// Join a base URL (which may carry a path, e.g. the sandbox's `/ifortepay`) and an
/// API path (`/api/v1.0/profile`).
pub fn join_url(provider: Provider, base: &str, path: &str) -> Result<Url, ProviderError> {
    let joined = format!("{}{}", base.trim_end_matches('/'), path);
    Url::parse(&joined).map_err(|e| {
        ProviderError::Config(format!("providers.{provider}.base_url: not a URL ({e})"))
    })
}

/// The engine's fence for one money-moving request (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct SendGate<'a> {
    pub fence: &'a FenceHandle,
    /// Names the request for [`crate::providers::SendFence::before_send`]
    /// (`nicepay.approve`, …).
    pub step: &'static str,
    /// Whether an earlier request of the same submission already reached the
    /// provider (NICEPAY: the registration, before the approve).
    pub sent_before: bool,
}

impl SendGate<'_> {
    /// Ask the fence; call it immediately before [`send`]. `resend` is true for the
    /// resend after a token refresh: the first attempt reached the provider.
    /// `Err(Fenced)` → write nothing.
    pub async fn pass(&self, resend: bool) -> Result<(), ProviderError> {
        self.fence
            .before_send(self.step)
            .await
            .map_err(|reason| ProviderError::Fenced {
                reason,
                sent_before: self.sent_before || resend,
            })
    }
}

/// A request whose body bytes are final. Headers are added by the signer; the body
/// cannot change after construction.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    method: Method,
    url: Url,
    body: Vec<u8>,
    headers: HeaderMap,
}

impl OutgoingRequest {
    /// `body` is exactly what will be hashed and sent; empty for a GET.
    pub fn new(method: Method, url: Url, body: Vec<u8>) -> Self {
        OutgoingRequest {
            method,
            url,
            body,
            headers: HeaderMap::new(),
        }
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The bytes to hash for the signature — the same bytes [`send`] sends.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Path plus query, as SNAP's relative `EndpointUrl`.
    pub fn path_and_query(&self) -> String {
        match self.url.query() {
            Some(q) => format!("{}?{}", self.url.path(), q),
            None => self.url.path().to_owned(),
        }
    }

    /// The names of the headers set so far (lower case).
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.headers.keys().map(HeaderName::as_str)
    }

    /// A header's value, if set and visible ASCII (sensitive values included:
    /// for tests and `--explain`, never for logs).
    pub fn header_value(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Add a header. Values we build are ASCII; a value that is not (a bad config
    /// value) is a configuration error, never a panic.
    pub fn header(&mut self, name: &'static str, value: &str) -> Result<(), ProviderError> {
        let v = HeaderValue::from_str(value).map_err(|_| {
            ProviderError::Config(format!(
                "header {name} has a value that is not visible ASCII"
            ))
        })?;
        self.headers.insert(HeaderName::from_static(name), v);
        Ok(())
    }

    /// Add a header holding a secret (marked sensitive so it is never printed).
    pub fn secret_header(&mut self, name: &'static str, value: &str) -> Result<(), ProviderError> {
        let mut v = HeaderValue::from_str(value).map_err(|_| {
            ProviderError::Config(format!(
                "header {name} has a value that is not visible ASCII"
            ))
        })?;
        v.set_sensitive(true);
        self.headers.insert(HeaderName::from_static(name), v);
        Ok(())
    }
}

/// A response that arrived in full.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// `Retry-After`, in seconds or as an HTTP date, if present and sensible.
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// What happened to one request on the wire.
#[derive(Debug, Clone)]
pub enum Transport {
    Response(RawResponse),
    /// Failed before the request could have reached the provider: safe to resend.
    NotSent {
        reason: String,
    },
    /// May have reached the provider: the outcome is unknown.
    MaybeSent {
        reason: String,
    },
}

impl Transport {
    /// The outcome of a transport failure (`None` for a response).
    pub fn failure_outcome(&self) -> Option<Outcome> {
        match self {
            Transport::Response(_) => None,
            Transport::NotSent { reason } => Some(Outcome::Retryable {
                delay_hint: None,
                reason: reason.clone(),
            }),
            Transport::MaybeSent { reason } => Some(Outcome::Unknown {
                reason: reason.clone(),
            }),
        }
    }
}

/// How one provider's answer body names its response code and message.
pub trait Answer: Sized {
    fn from_raw(raw: &RawResponse) -> Self;
    /// The response code as sent (`2021800`, `SP004`).
    fn code(&self) -> Option<String>;
    fn message(&self) -> Option<String>;
    /// The parsed body, given up for the audit trail (`None` when it is not JSON).
    fn into_json(self) -> Option<serde_json::Value>;
}

/// What a call produced: a transport result and the wall time of all attempts.
#[derive(Debug, Clone)]
pub struct Sent {
    pub transport: Transport,
    pub latency: Duration,
}

impl Sent {
    /// The answer, if a response arrived.
    pub fn answer<A: Answer>(&self) -> Option<A> {
        match &self.transport {
            Transport::Response(raw) => Some(A::from_raw(raw)),
            Transport::NotSent { .. } | Transport::MaybeSent { .. } => None,
        }
    }

    /// The outcome when no answer arrived: not sent is retryable, a lost answer
    /// is unknown (inquire, never resend).
    pub fn failure_outcome(&self) -> Outcome {
        self.transport
            .failure_outcome()
            .unwrap_or(Outcome::Unknown {
                reason: "no response".into(),
            })
    }

    /// The exchange to record for an answer already read: outcome, code, message,
    /// status and the redacted body, taken from `answer` (the body is parsed once
    /// per call, not again here).
    pub fn answered<A: Answer>(
        &self,
        outcome: Outcome,
        provider_reference: Option<String>,
        answer: A,
    ) -> Exchange {
        let mut ex = Exchange::bare(outcome, self.latency);
        if let Transport::Response(raw) = &self.transport {
            ex.response_code = answer.code();
            ex.response_message = answer.message();
            ex.http_status = Some(raw.status);
            ex.audit = match answer.into_json() {
                Some(json) => Some(super::audit::redacted(json)),
                None => super::audit::audit_body(&raw.body),
            };
        }
        ex.provider_reference = provider_reference;
        ex
    }

    /// The exchange to record: outcome, code, message, status and the redacted body
    /// (the body parsed here; [`Sent::answered`] when the caller has the answer).
    pub fn exchange<A: Answer>(
        &self,
        outcome: Outcome,
        provider_reference: Option<String>,
    ) -> Exchange {
        match self.answer::<A>() {
            Some(answer) => self.answered(outcome, provider_reference, answer),
            None => {
                let mut ex = Exchange::bare(outcome, self.latency);
                ex.provider_reference = provider_reference;
                ex
            }
        }
    }
}

/// The error of an access-token request. A token request moves no money, so a
/// transport failure is always retryable.
pub fn token_error(outcome: Outcome, response_code: Option<String>) -> ProviderError {
    ProviderError::Call {
        operation: "access token",
        outcome,
        response_code,
    }
}

/// The response to an access-token request, or the (retryable) error of one that
/// got none.
pub fn token_response(transport: &Transport) -> Result<&RawResponse, ProviderError> {
    match transport {
        Transport::Response(raw) => Ok(raw),
        Transport::NotSent { reason } | Transport::MaybeSent { reason } => Err(token_error(
            Outcome::Retryable {
                delay_hint: None,
                reason: reason.clone(),
            },
            None,
        )),
    }
}

/// Serialise a request body once (it is hashed and sent as is).
pub fn json_body<T: serde::Serialize>(body: &T) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(body)
        .map_err(|e| ProviderError::Config(format!("cannot serialise request: {e}")))
}

/// Send one request and read the whole answer. Never fails: every failure is
/// classified as [`Transport::NotSent`] or [`Transport::MaybeSent`].
pub async fn send(client: &reqwest::Client, req: OutgoingRequest) -> (Transport, Duration) {
    let started = Instant::now();
    let OutgoingRequest {
        method,
        url,
        body,
        headers,
    } = req;
    let builder = client.request(method, url).headers(headers).body(body);
    let response = match builder.send().await {
        Ok(r) => r,
        Err(e) => return (classify_send_error(&e), started.elapsed()),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let transport = match response.bytes().await {
        Ok(b) => Transport::Response(RawResponse {
            status,
            retry_after,
            body: b.to_vec(),
        }),
        Err(e) => Transport::MaybeSent {
            reason: format!(
                "HTTP {status}: response body could not be read: {}",
                error_chain(&e)
            ),
        },
    };
    (transport, started.elapsed())
}

/// Connect errors (refused, DNS, TLS handshake, connect timeout) happen before the
/// request is written; anything else may have reached the provider.
pub fn classify_send_error(e: &reqwest::Error) -> Transport {
    let reason = error_chain(e);
    if e.is_connect() {
        Transport::NotSent {
            reason: format!("connect failed (nothing sent): {reason}"),
        }
    } else if e.is_builder() {
        // The request was never built, so nothing left the process.
        Transport::NotSent {
            reason: format!("request could not be built: {reason}"),
        }
    } else if e.is_timeout() {
        Transport::MaybeSent {
            reason: format!("timed out after the request was sent: {reason}"),
        }
    } else {
        Transport::MaybeSent {
            reason: format!("connection failed after the request was sent: {reason}"),
        }
    }
}

/// The error and its sources on one line. reqwest errors carry the URL (no secrets:
/// credentials travel in headers), never header values or bodies.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

/// `Retry-After: 5` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`, capped at one hour
/// so a bogus header cannot park a job for days.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    const CAP: Duration = Duration::from_secs(3600);
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(CAP));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = at.signed_duration_since(chrono::Utc::now());
    Some(delta.to_std().unwrap_or(Duration::ZERO).min(CAP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("999999"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn join_keeps_base_path() {
        let u = join_url(
            crate::providers::ifortepay::ID,
            "http://h:1/ifortepay/",
            "/api/v1.0/profile",
        )
        .unwrap();
        assert_eq!(u.as_str(), "http://h:1/ifortepay/api/v1.0/profile");
        assert!(join_url(crate::providers::ifortepay::ID, "nope", "/x").is_err());
    }

    #[test]
    fn path_and_query() {
        let u = Url::parse("http://h/a/b?x=1&y=2").unwrap();
        let r = OutgoingRequest::new(Method::GET, u, Vec::new());
        assert_eq!(r.path_and_query(), "/a/b?x=1&y=2");
    }

    #[tokio::test]
    async fn refused_connection_is_not_sent() {
        // Bind then drop: the port is closed (nothing listens), so connect is refused.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = reqwest::Client::new();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/x")).unwrap();
        let (t, _) = send(
            &client,
            OutgoingRequest::new(Method::POST, url, b"{}".to_vec()),
        )
        .await;
        assert!(matches!(t, Transport::NotSent { .. }), "{t:?}");
        assert!(matches!(
            t.failure_outcome(),
            Some(Outcome::Retryable { .. })
        ));
    }

    #[tokio::test]
    async fn reset_after_request_is_maybe_sent() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            // Read the request, then hang up without answering.
            let _ = sock.read(&mut buf).await.unwrap();
            drop(sock);
        });
        let client = reqwest::Client::new();
        let url = Url::parse(&format!("http://{addr}/x")).unwrap();
        let (t, _) = send(
            &client,
            OutgoingRequest::new(Method::POST, url, b"{}".to_vec()),
        )
        .await;
        server.await.unwrap();
        assert!(matches!(t, Transport::MaybeSent { .. }), "{t:?}");
        assert!(matches!(t.failure_outcome(), Some(Outcome::Unknown { .. })));
    }
}
