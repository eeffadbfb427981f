//! Provider callback receivers (served by `kirim serve`).
//!
//! | route | provider | verification |
//! |---|---|---|
//! | `POST /callbacks/ifortepay` | iFortepay disbursement | HMAC-SHA512(clientSecret, `callbackUrl:X-VERSION:sha256(minify(body)):X-TIMESTAMP`) |
//! | `POST /callbacks/nicepay` (also `/api/v1.0/transfer/notify`) | NICEPAY transfer notify | SHA256withRSA(NICEPAY key, `clientId|X-TIMESTAMP`) |
//! | `POST /callbacks/singapay` | Singapay webhook | hex HMAC-SHA512(clientSecret, `webhookUrl:sha256(canonical(body)):X-Timestamp`) |
//!
//! A callback is a shortcut, never the only path, and it is news like any other:
//! the lifecycle ([`crate::lifecycle::decide`]) says what it may change, by how far
//! its signature reaches ([`Trust`]). A body-covering signature (iFortepay,
//! Singapay) may settle a submitted payout; NICEPAY's header-only signature only
//! makes the payout due for an inquiry now. No callback finalises a payout never
//! submitted: one about an ACCEPTED payout stops its send and inquires. Duplicates
//! and late, out-of-order deliveries are recorded and otherwise ignored. A callback
//! whose signature fails is refused (401) and counted
//! (`kirim_alerts_total{kind="callback_refused"}`), without an audit entry, and
//! triggers at most one inquiry per payout per minute.

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
use crate::config::Settings;
use crate::domain::{PartnerReference, Provider, Secret, State};
use crate::jobs::apply::Reported;
use crate::ledger::{now_ms, HistoryEntry, PayoutId};
use crate::lifecycle::{Action, Event, Policy, Report, Trust};
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
    /// The lifecycle's timing rules.
    pub policy: Policy,
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
            policy: Policy::from_settings(settings),
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
pub fn ifortepay_status(body: &Value) -> Option<Report> {
    match body
        .pointer("/additionalInfo/status")
        .and_then(Value::as_str)?
    {
        "SUCCESS" => Some(Report::Final(State::Succeeded)),
        "CANCELLED" => Some(Report::Final(State::Cancelled)),
        "INIT" => Some(Report::InProgress),
        _ => None,
    }
}

/// NICEPAY `latestTransactionStatus`: 00 success, 03/08 pending, 04 cancelled,
/// 05 rejected, 09 failed.
pub fn nicepay_status(body: &Value) -> Option<Report> {
    match body
        .get("latestTransactionStatus")
        .and_then(Value::as_str)?
    {
        "00" => Some(Report::Final(State::Succeeded)),
        "04" | "05" => Some(Report::Final(State::Cancelled)),
        "09" => Some(Report::Final(State::Failed)),
        "03" | "08" => Some(Report::InProgress),
        _ => None,
    }
}

/// Singapay `transaction_status.code`: 00 success, 01/02/03 in progress,
/// 04 refunded and 05 cancelled (no money moved), 06 failed.
pub fn singapay_status(data: &Value) -> Option<Report> {
    let code = data
        .pointer("/transaction_status/code")
        .and_then(Value::as_str)
        .or_else(|| data.get("status_code").and_then(Value::as_str))?;
    match code {
        "00" => Some(Report::Final(State::Succeeded)),
        "04" | "05" => Some(Report::Final(State::Cancelled)),
        "06" => Some(Report::Final(State::Failed)),
        "01" | "02" | "03" => Some(Report::InProgress),
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

/// How often one payout's refused callbacks may trigger an inquiry.
pub const REFUSED_CALLBACK_INTERVAL: Duration = Duration::from_secs(60);

/// A callback whose signature did not verify: refuse it. It costs a counter, not
/// an audit entry, and at most one coalesced inquiry per payout per
/// [`REFUSED_CALLBACK_INTERVAL`] (DESIGN rule 10): a stranger's spam must not grow
/// the ledger or burn the provider's rate limit.
async fn refuse(
    s: &CallbackState,
    provider: Provider,
    body: &Value,
    pointers: &[&str],
    why: &str,
) -> Response {
    tracing::warn!(provider = %provider, reason = why, "callback refused");
    let ledger = s.client.ledger();
    crate::metrics::count_alert_now(ledger, provider, "callback_refused").await;
    if let Some(reference) = reference_of(body, pointers) {
        let id = PayoutId::new(provider, reference);
        if let Err(e) = inquire_at_most_once(s, &id).await {
            tracing::warn!(error = %e, payout = %id, "could not queue an inquiry for a refused callback");
        }
    }
    (StatusCode::UNAUTHORIZED, Json(json!({"responseCode": "4010000", "responseMessage": "Unauthorized. Invalid signature"}))).into_response()
}

async fn inquire_at_most_once(
    s: &CallbackState,
    id: &PayoutId,
) -> Result<(), crate::jobs::apply::ApplyError> {
    let ledger = s.client.ledger();
    let mut conn = ledger.connection();
    let first: Option<String> = redis::cmd("SET")
        .arg(ledger.keys().refused_callback_marker(&id.to_string()))
        .arg(1)
        .arg("NX")
        .arg("PX")
        .arg(REFUSED_CALLBACK_INTERVAL.as_millis() as u64)
        .query_async(&mut conn)
        .await?;
    if first.is_none() {
        return Ok(());
    }
    match ledger.get(id).await? {
        Some(p) if !p.state.is_final() && p.state != State::Accepted && !p.meta.dead => {
            crate::jobs::apply::follow_up(ledger, s.client.queue(), &p, Action::Inquire).await
        }
        _ => Ok(()),
    }
}

/// Apply a verified report through the lifecycle: what it may change depends on
/// how far the signature reaches ([`Trust`]); everything is audited.
pub async fn apply(
    s: &CallbackState,
    id: &PayoutId,
    trust: Trust,
    reported: Report,
    detail: Value,
) -> Response {
    let mut entry = HistoryEntry::new("callback", now_ms());
    entry.actor = Some(format!("callback:{}", id.provider));
    entry.detail = Some(detail);
    let event = Event::Callback {
        trust,
        report: reported,
    };
    let result = crate::jobs::apply::report(
        s.client.ledger(),
        s.client.queue(),
        &s.policy,
        id,
        &event,
        entry,
    )
    .await;
    match result {
        Ok(Reported::Applied { decision, .. }) => {
            if let Some(alert) = decision.alert {
                tracing::warn!(payout = %id, alert = alert.as_str(), note = %decision.note, "callback alert");
                crate::metrics::count_alert_now(s.client.ledger(), id.provider, alert.as_str())
                    .await;
            }
            ok()
        }
        Ok(Reported::Missing) => (
            StatusCode::NOT_FOUND,
            Json(json!({"responseCode": "4040001", "responseMessage": "Transaction Not Found"})),
        )
            .into_response(),
        Err(crate::jobs::apply::ApplyError::Contended(_)) => {
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
    status: fn(&Value) -> Option<Report>,
    /// How far the signature reaches.
    trust: Trust,
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
    apply(
        s,
        &PayoutId::new(r.provider, reference),
        r.trust,
        reported,
        v,
    )
    .await
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
        // The HMAC covers sha256(minify(body)).
        trust: Trust::Body,
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
        // SHA256withRSA over `clientId|X-TIMESTAMP` only: a captured header pair can
        // be replayed with any body, so the body only triggers an inquiry.
        trust: Trust::HeadersOnly,
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
        // The HMAC covers sha256(canonical(body)).
        trust: Trust::Body,
    };
    receive(&s, r, &headers, &body).await
}
