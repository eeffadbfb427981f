//! Provider callback receivers (served by `kirim serve`).
//!
//! | route | provider | verification |
//! |---|---|---|
//! | `POST /callbacks/ifortepay` | iFortepay disbursement | HMAC-SHA512(clientSecret, `callbackUrl:X-VERSION:sha256(minify(body)):X-TIMESTAMP`) |
//! | `POST /callbacks/nicepay` (also `/api/v1.0/transfer/notify`) | NICEPAY transfer notify | SHA256withRSA(NICEPAY key, `clientId|X-TIMESTAMP`) |
//! | `POST /callbacks/singapay` | Singapay webhook | hex HMAC-SHA512(clientSecret, `webhookUrl:sha256(canonical(body)):X-Timestamp`) |
//!
//! A callback is a shortcut, never the only path: it applies only forward moves
//! (PENDING/UNKNOWN/SUBMITTING/NEEDS_REVIEW → final), so duplicates and late,
//! out-of-order deliveries are recorded in the audit trail and otherwise ignored.
//! A callback whose signature fails is refused (401), recorded, and triggers an
//! inquiry for that payout instead of being trusted. Every accepted callback is
//! answered 200 as soon as the ledger write is done.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rsa::RsaPublicKey;
use serde_json::{json, Value};

use crate::client::Client;
use crate::config::{Secret, Settings};
use crate::domain::{PartnerReference, Provider};
use crate::jobs::Job;
use crate::ledger::{now_ms, HistoryEntry, PayoutId, Settled, State};
use crate::snap;

/// How far an `X-TIMESTAMP` may be from now before a callback is treated as a replay.
pub const MAX_SKEW: Duration = Duration::from_secs(600);

/// What the receivers need: the ledger, and the keys that verify each provider.
pub struct CallbackState {
    pub client: Client,
    pub ifortepay_secret: Option<Secret>,
    pub ifortepay_callback_url: String,
    pub nicepay_client_id: String,
    pub nicepay_separator: String,
    pub nicepay_public_key: Option<RsaPublicKey>,
    pub singapay_secret: Option<Secret>,
    pub singapay_webhook_url: String,
}

impl std::fmt::Debug for CallbackState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackState").finish()
    }
}

impl CallbackState {
    /// From settings; a provider whose key cannot be loaded refuses every callback.
    pub fn from_settings(settings: &Settings, client: Client) -> Self {
        let p = &settings.providers;
        let nicepay_public_key = p
            .nicepay
            .public_key_path
            .as_ref()
            .and_then(|path| match snap::keys::load_public_key(path) {
                Ok(k) => Some(k),
                Err(e) => {
                    tracing::warn!(error = %e, "NICEPAY public key not loaded; notifications will be refused");
                    None
                }
            });
        CallbackState {
            client,
            ifortepay_secret: p.ifortepay.client_secret().ok(),
            ifortepay_callback_url: p.ifortepay.callback_url.clone(),
            nicepay_client_id: p.nicepay.client_id.clone(),
            nicepay_separator: p.nicepay.token_separator.clone(),
            nicepay_public_key,
            singapay_secret: p.singapay.client_secret().ok(),
            singapay_webhook_url: p.singapay.webhook_url.clone(),
        }
    }
}

type Shared = Arc<CallbackState>;

pub fn routes<S>(state: Shared) -> Router<S> {
    Router::new()
        .route("/callbacks/ifortepay", post(ifortepay))
        .route("/callbacks/nicepay", post(nicepay))
        .route("/api/v1.0/transfer/notify", post(nicepay))
        .route("/callbacks/singapay", post(singapay))
        .with_state(state)
}

/// What a verified callback says about a payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported {
    Final(State),
    InProgress,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn fresh(ts: &str) -> bool {
    match snap::timestamp::parse(ts) {
        Ok(at) => {
            (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
                .num_seconds()
                .unsigned_abs()
                <= MAX_SKEW.as_secs()
        }
        Err(_) => false,
    }
}

fn fresh_unix(ts: &str) -> bool {
    ts.parse::<i64>()
        .map(|t| (chrono::Utc::now().timestamp() - t).unsigned_abs() <= MAX_SKEW.as_secs())
        .unwrap_or(false)
}

fn reference_of(body: &Value, pointers: &[&str]) -> Option<PartnerReference> {
    pointers
        .iter()
        .find_map(|p| body.pointer(p).and_then(Value::as_str))
        .and_then(|s| PartnerReference::parse(s).ok())
}

/// iFortepay: `additionalInfo.status` INIT | SUCCESS | CANCELLED.
pub fn ifortepay_status(body: &Value) -> Option<Reported> {
    match body
        .pointer("/additionalInfo/status")
        .and_then(Value::as_str)?
    {
        "SUCCESS" => Some(Reported::Final(State::Succeeded)),
        "CANCELLED" => Some(Reported::Final(State::Cancelled)),
        "INIT" => Some(Reported::InProgress),
        _ => None,
    }
}

/// NICEPAY `latestTransactionStatus`: 00 success, 03/08 pending, 04 cancelled,
/// 05 rejected, 09 failed.
pub fn nicepay_status(body: &Value) -> Option<Reported> {
    match body
        .get("latestTransactionStatus")
        .and_then(Value::as_str)?
    {
        "00" => Some(Reported::Final(State::Succeeded)),
        "04" | "05" => Some(Reported::Final(State::Cancelled)),
        "09" => Some(Reported::Final(State::Failed)),
        "03" | "08" => Some(Reported::InProgress),
        _ => None,
    }
}

/// Singapay `transaction_status.code`: 00 success, 01/02/03 in progress,
/// 04 refunded and 05 cancelled (no money moved), 06 failed.
pub fn singapay_status(data: &Value) -> Option<Reported> {
    let code = data
        .pointer("/transaction_status/code")
        .and_then(Value::as_str)
        .or_else(|| data.get("status_code").and_then(Value::as_str))?;
    match code {
        "00" => Some(Reported::Final(State::Succeeded)),
        "04" | "05" => Some(Reported::Final(State::Cancelled)),
        "06" => Some(Reported::Final(State::Failed)),
        "01" | "02" | "03" => Some(Reported::InProgress),
        _ => None,
    }
}

fn ok() -> Response {
    (
        StatusCode::OK,
        Json(json!({"responseCode": "2000000", "responseMessage": "Successful"})),
    )
        .into_response()
}

/// A callback whose signature did not verify: refuse it, record it on the payout
/// if the body names one, and inquire instead of trusting it.
async fn refuse(
    s: &CallbackState,
    provider: Provider,
    body: &Value,
    pointers: &[&str],
    why: &str,
) -> Response {
    tracing::warn!(provider = %provider, reason = why, "callback refused");
    if let Some(reference) = reference_of(body, pointers) {
        let id = PayoutId::new(provider, reference);
        if let Ok(Some(p)) = s.client.ledger().get(&id).await {
            let mut e = HistoryEntry::new("callback_refused", now_ms());
            e.actor = Some(format!("callback:{provider}"));
            e.note = Some(format!("{why}; not trusted, inquiring instead"));
            let _ = s.client.ledger().append_history(&id, &e).await;
            if !p.state.is_final() {
                let _ = s
                    .client
                    .queue()
                    .push(Job::Inquiry { payout: id }, None)
                    .await;
            }
        }
    }
    (StatusCode::UNAUTHORIZED, Json(json!({"responseCode": "4010000", "responseMessage": "Unauthorized. Invalid signature"}))).into_response()
}

/// Apply a verified report to the ledger: forward moves only, everything audited.
pub async fn apply(
    s: &CallbackState,
    id: &PayoutId,
    reported: Reported,
    detail: Value,
) -> Response {
    let mut entry = HistoryEntry::new("callback", now_ms());
    entry.actor = Some(format!("callback:{}", id.provider));
    entry.detail = Some(detail);
    let to = match reported {
        Reported::Final(t) => t,
        Reported::InProgress => {
            entry.event = "callback_ignored".into();
            entry.note = Some("reports in progress; nothing to change".into());
            return match s.client.ledger().append_history(id, &entry).await {
                Ok(()) => ok(),
                Err(e) => {
                    tracing::error!(error = %e, "ledger write failed for a callback");
                    (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response()
                }
            };
        }
    };
    match s.client.ledger().settle(id, to, entry, None).await {
        Ok(Settled::Applied(_)) | Ok(Settled::AlreadyThere) => ok(),
        Ok(Settled::Refused(state)) => {
            if state.is_final() {
                tracing::error!(payout = %id, state = %state, reported = %to, "callback contradicts a final state");
            }
            ok()
        }
        Ok(Settled::Missing) => (
            StatusCode::NOT_FOUND,
            Json(json!({"responseCode": "4040001", "responseMessage": "Transaction Not Found"})),
        )
            .into_response(),
        Ok(Settled::Contended) => {
            (StatusCode::SERVICE_UNAVAILABLE, "contended; retry").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "ledger write failed for a callback");
            (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response()
        }
    }
}

fn parse(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

fn bad_body() -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"responseCode": "4000001", "responseMessage": "Invalid body"})),
    )
        .into_response()
}

/// What differs per provider: where the reference is, how the signature and the
/// timestamp are checked, and how the status reads.
struct Receiver<'a> {
    provider: Provider,
    refs: &'a [&'a str],
    /// Verify `sig` over the request; `Err` says why not.
    verify: &'a (dyn Fn(&str, &str) -> Result<(), &'static str> + Sync),
    fresh: fn(&str) -> bool,
    status: fn(&Value) -> Option<Reported>,
}

/// The common path of every callback: parse, check headers, verify, check the
/// timestamp, then apply. Anything unverified is refused (and inquired).
async fn receive(s: &CallbackState, r: Receiver<'_>, headers: &HeaderMap, body: &[u8]) -> Response {
    let Some(v) = parse(body) else {
        return bad_body();
    };
    let (Some(ts), Some(sig)) = (
        header(headers, "x-timestamp"),
        header(headers, "x-signature"),
    ) else {
        return refuse(
            s,
            r.provider,
            &v,
            r.refs,
            "missing X-TIMESTAMP or X-SIGNATURE",
        )
        .await;
    };
    if let Err(why) = (r.verify)(ts, sig) {
        return refuse(s, r.provider, &v, r.refs, why).await;
    }
    if !(r.fresh)(ts) {
        return refuse(
            s,
            r.provider,
            &v,
            r.refs,
            "X-TIMESTAMP too far from now (replay?)",
        )
        .await;
    }
    let (Some(reference), Some(reported)) = (reference_of(&v, r.refs), (r.status)(&v)) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"responseCode": "4000002", "responseMessage": "Missing reference or status"})),
        )
            .into_response();
    };
    apply(s, &PayoutId::new(r.provider, reference), reported, v).await
}

async fn ifortepay(AxState(s): AxState<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let version = header(&headers, "x-version").unwrap_or("1.0").to_owned();
    let text = String::from_utf8_lossy(&body).into_owned();
    let verify = |ts: &str, sig: &str| -> Result<(), &'static str> {
        let secret = s
            .ifortepay_secret
            .as_ref()
            .ok_or("no iFortepay client secret configured")?;
        let minified = snap::minify::minify_unchecked(&text);
        let message = snap::callback_string_to_sign(
            &s.ifortepay_callback_url,
            &version,
            minified.as_bytes(),
            ts,
        );
        snap::hmac_verify(secret.expose(), &message, sig).map_err(|_| "signature does not verify")
    };
    let r = Receiver {
        provider: Provider::Ifortepay,
        refs: &["/partnerReferenceNo"],
        verify: &verify,
        fresh,
        status: ifortepay_status,
    };
    receive(&s, r, &headers, &body).await
}

async fn nicepay(AxState(s): AxState<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let verify = |ts: &str, sig: &str| -> Result<(), &'static str> {
        let key = s
            .nicepay_public_key
            .as_ref()
            .ok_or("no NICEPAY public key configured")?;
        let message = snap::token_string_to_sign(&s.nicepay_client_id, &s.nicepay_separator, ts);
        snap::rsa_verify(key, &message, sig).map_err(|_| "signature does not verify")
    };
    let r = Receiver {
        provider: Provider::Nicepay,
        refs: &["/originalPartnerReferenceNo", "/partnerReferenceNo"],
        verify: &verify,
        fresh,
        status: nicepay_status,
    };
    receive(&s, r, &headers, &body).await
}

async fn singapay(AxState(s): AxState<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed: Option<Value> = parse(&body);
    let verify = |ts: &str, sig: &str| -> Result<(), &'static str> {
        let secret = s
            .singapay_secret
            .as_ref()
            .ok_or("no Singapay client secret configured")?;
        let v = parsed.as_ref().ok_or("body is not JSON")?;
        let canonical = snap::canonical::canonical_json(v);
        let message = format!(
            "{}:{}:{ts}",
            s.singapay_webhook_url,
            snap::sha256_hex(canonical.as_bytes())
        );
        let expected = hex::encode(snap::hmac_sha512(
            secret.expose().as_bytes(),
            message.as_bytes(),
        ));
        let given = sig.trim().to_ascii_lowercase();
        let same = expected.len() == given.len()
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                expected.as_bytes(),
                given.as_bytes(),
            ));
        same.then_some(()).ok_or("signature does not verify")
    };
    let r = Receiver {
        provider: Provider::Singapay,
        refs: &["/data/reference_number"],
        verify: &verify,
        fresh: fresh_unix,
        status: |v| singapay_status(v.get("data").unwrap_or(&Value::Null)),
    };
    receive(&s, r, &headers, &body).await
}
