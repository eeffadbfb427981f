//! The one receiver of provider callbacks (served by `kirim serve`):
//! `POST /callbacks/{provider}`, plus any further path a provider's webhook names
//! (NICEPAY's `/api/v1.0/transfer/notify`). Each provider folder says how its
//! notifications are verified and read (`providers::webhook::Webhook`); this file
//! only runs them.
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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as AxPath, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::client::Client;
use crate::config::Settings;
use crate::domain::{PartnerReference, Provider, State};
use crate::jobs::apply::Reported;
use crate::ledger::{now_ms, HistoryEntry, PayoutId};
use crate::lifecycle::{Action, Event, Policy, Report, Trust};
use crate::providers::webhook::{self, header, Webhook};
use crate::providers::Registry;

pub use crate::providers::webhook::MAX_SKEW;

/// What the receiver needs: the ledger, the lifecycle's timing rules and the
/// webhook of every enabled provider that sends notifications.
pub struct CallbackState {
    pub client: Client,
    pub webhooks: HashMap<Provider, Arc<dyn Webhook>>,
    /// The lifecycle's timing rules.
    pub policy: Policy,
}

impl std::fmt::Debug for CallbackState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackState")
            .field("webhooks", &self.webhooks.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl CallbackState {
    /// From settings, with the built-in providers.
    pub fn from_settings(settings: &Settings, client: Client) -> Self {
        Self::with_registry(&Registry::builtin(), settings, client)
    }

    /// From settings and a registry; a provider whose key cannot be loaded
    /// refuses every callback (logged once here).
    pub fn with_registry(registry: &Registry, settings: &Settings, client: Client) -> Self {
        CallbackState {
            client,
            webhooks: registry.webhooks(&settings.providers),
            policy: Policy::from_settings(settings),
        }
    }
}

type Shared = Arc<CallbackState>;

/// The keys of a provider section that give the URL the provider calls back.
const CALLBACK_URL_KEYS: &[&str] = &["callback_url", "webhook_url", "notify_url"];

/// Why a configured callback URL will not reach this server as registered: the
/// URL is part of the callback signature, so a wrong one makes every genuine
/// callback fail verification (401) silently. `port` is the one `kirim serve`
/// listens on.
pub fn callback_url_warnings(state: &CallbackState, settings: &Settings, port: u16) -> Vec<String> {
    let mut out = Vec::new();
    for (provider, hook) in &state.webhooks {
        let Some(section) = settings.providers.section(provider.as_str()) else {
            continue;
        };
        for key in CALLBACK_URL_KEYS {
            let Some(url) = section.text(key) else {
                continue;
            };
            let name = format!("providers.{provider}.{key}");
            let Ok(parsed) = reqwest::Url::parse(url) else {
                out.push(format!("{name} = {url:?} is not a URL"));
                continue;
            };
            let ours = format!("/callbacks/{provider}");
            let path = parsed.path();
            if path != ours && !hook.extra_paths().contains(&path) {
                out.push(format!(
                    "{name} = {url:?}: kirim serve receives {provider}'s callbacks at {ours}, not {path}; \
                     unless a proxy rewrites the path, set it to …{ours} here and where it is registered with the provider"
                ));
            }
            if parsed.port_or_known_default() != Some(port) {
                out.push(format!(
                    "{name} = {url:?} names port {}, but kirim serve listens on {port}; \
                     if nothing forwards it, {provider} cannot reach kirim, and the URL is part of the callback signature",
                    parsed
                        .port_or_known_default()
                        .map_or_else(|| "none".to_owned(), |p| p.to_string())
                ));
            }
        }
    }
    out
}

pub fn routes<S>(state: Shared) -> Router<S> {
    let mut router = Router::new().route("/callbacks/{provider}", post(by_name));
    for (provider, hook) in &state.webhooks {
        for path in hook.extra_paths() {
            let provider = *provider;
            router = router.route(
                path,
                post(
                    move |AxState(s): AxState<Shared>, headers: HeaderMap, body: Bytes| async move {
                        receive(&s, provider, &headers, &body).await
                    },
                ),
            );
        }
    }
    router.with_state(state)
}

async fn by_name(
    AxState(s): AxState<Shared>,
    AxPath(name): AxPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(provider) = s
        .webhooks
        .keys()
        .copied()
        .find(|p| p.as_str() == name.as_str())
    else {
        return (
            StatusCode::NOT_FOUND,
            Json(
                json!({"responseCode": "4040000", "responseMessage": "No such callback receiver"}),
            ),
        )
            .into_response();
    };
    receive(&s, provider, &headers, &body).await
}

fn reference_of(body: &Value, pointers: &[&str]) -> Option<PartnerReference> {
    pointers
        .iter()
        .find_map(|p| body.pointer(p).and_then(Value::as_str))
        .and_then(|s| PartnerReference::parse(s).ok())
}

/// States in which a payout may be waiting for a notification.
const AWAITING: [State; 3] = [State::Pending, State::Unknown, State::Submitting];
/// How many ledger ids one match by provider reference may look at.
const MAX_MATCH_SCAN: usize = 200_000;

/// The payout a notification names only by the provider's own id (a Singapay
/// v1.0 transfer carries no reference of ours): the payout of this provider whose
/// recorded provider reference is that id. The engine indexes such ids when it
/// records them; without an entry, a scan of the in-flight payouts bounded by
/// [`MAX_MATCH_SCAN`]. (The scan alone, one read per payout in flight, made every
/// webhook of a 10,000-payout chaos run slower than the sender's 2 s timeout, and
/// 2,367 Singapay v1 payouts stayed PENDING.)
async fn by_provider_reference(
    s: &CallbackState,
    provider: Provider,
    pointers: &[&str],
    body: &Value,
) -> Result<Option<(PartnerReference, String)>, crate::ledger::LedgerError> {
    let Some(wanted) = pointers.iter().find_map(|p| match body.pointer(p) {
        Some(Value::String(v)) if !v.is_empty() => Some(v.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }) else {
        return Ok(None);
    };
    let ledger = s.client.ledger();
    // The index the engine keeps for such providers: one lookup.
    if let Some(r) = ledger
        .by_provider_reference(provider.as_str(), &wanted)
        .await?
        .and_then(|r| PartnerReference::parse(&r).ok())
    {
        return Ok(Some((r, wanted)));
    }
    // Not indexed (recorded before the index existed, or its write failed): scan.
    let mut looked = 0usize;
    for state in AWAITING {
        let mut cursor = 0;
        loop {
            let (next, ids) = ledger.list(state, cursor, 500).await?;
            for id in ids.into_iter().filter(|id| id.provider == provider) {
                looked += 1;
                if let Some(p) = ledger.get(&id).await? {
                    if p.meta.provider_reference.as_deref() == Some(wanted.as_str()) {
                        return Ok(Some((id.reference, wanted)));
                    }
                }
            }
            if next == 0 || looked >= MAX_MATCH_SCAN {
                break;
            }
            cursor = next;
        }
    }
    tracing::warn!(provider = %provider, provider_reference = %wanted, looked, "a notification names a provider reference no in-flight payout has");
    Ok(None)
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

/// The common path of every callback: parse, check headers, verify, check the
/// timestamp, then apply. Anything unverified is refused (and inquired).
async fn receive(
    s: &CallbackState,
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let Some(hook) = s.webhooks.get(&provider) else {
        return (StatusCode::NOT_FOUND, "no such callback receiver").into_response();
    };
    let refs = hook.references();
    let Some(v) = parse(body) else {
        return bad_body();
    };
    let (Some(ts), Some(sig)) = (
        header(headers, "x-timestamp"),
        header(headers, "x-signature"),
    ) else {
        return refuse(s, provider, &v, refs, "missing X-TIMESTAMP or X-SIGNATURE").await;
    };
    if let Err(why) = hook.verify(ts, sig, headers, body, &v) {
        return refuse(s, provider, &v, refs, why).await;
    }
    if !hook.fresh(ts) {
        return refuse(
            s,
            provider,
            &v,
            refs,
            "X-TIMESTAMP too far from now (replay?)",
        )
        .await;
    }
    let reported = hook.outcome(&v).as_ref().and_then(webhook::report);
    // Matched by the provider's own id: that id's index entry goes once the
    // payout is final.
    let mut indexed: Option<String> = None;
    let reference = match reference_of(&v, refs) {
        Some(r) => Some(r),
        None => match by_provider_reference(s, provider, hook.provider_references(), &v).await {
            Ok(found) => found.map(|(r, wanted)| {
                indexed = Some(wanted);
                r
            }),
            Err(e) => {
                tracing::error!(error = %e, "ledger read failed matching a callback");
                return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
            }
        },
    };
    let (Some(reference), Some(reported)) = (reference, reported) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"responseCode": "4000002", "responseMessage": "Missing reference or status"})),
        )
            .into_response();
    };
    let id = PayoutId::new(provider, reference);
    let response = apply(s, &id, hook.trust(), reported, v).await;
    if let Some(provider_reference) = indexed {
        let ledger = s.client.ledger();
        if let Ok(Some(p)) = ledger.get(&id).await {
            if p.state.is_final() {
                if let Err(e) = ledger
                    .unindex_provider_reference(provider.as_str(), &provider_reference)
                    .await
                {
                    tracing::warn!(payout = %id, error = %e, "could not update the provider reference index");
                }
            }
        }
    }
    response
}
