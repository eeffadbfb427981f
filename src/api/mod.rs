//! `kirim serve`: the HTTP API for applications in any language, health and
//! metrics endpoints, and (see [`crate::callbacks`]) the provider callback receivers.
//!
//! `router()` is separate from binding so tests can drive it over a real socket on
//! port 0 ([`ApiServer::build`]) exactly as production does.

mod errors;
mod limit;
mod openapi;
mod requests;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use errors::ApiError;

use crate::client::Client;
use crate::config::Settings;
use crate::domain::{PartnerReference, Provider, State};
use crate::ledger::{now_ms, PayoutId};
use crate::providers::AccountInquiryRequest;
use crate::providers::{Capability, Providers, Registry};
use limit::RateLimiter;

/// Shared state of the API server.
pub struct ApiState {
    pub client: Client,
    pub providers: Providers,
    /// The providers the API accepts (and lists in its OpenAPI document).
    pub registry: Registry,
    /// The providers' sections (which bank code each takes).
    pub provider_settings: crate::config::ProvidersSettings,
    keys: Vec<(String, [u8; 32])>,
    limiter: RateLimiter,
    pub callbacks: Option<Arc<crate::callbacks::CallbackState>>,
    /// The operator console at `/ui`, when enabled.
    pub console: Option<Arc<crate::console::ConsoleState>>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl ApiState {
    pub fn new(settings: &Settings, client: Client, providers: Providers) -> Self {
        let keys = settings
            .api
            .keys
            .iter()
            .filter_map(|k| {
                let raw = hex::decode(&k.sha256).ok()?;
                let arr: [u8; 32] = raw.try_into().ok()?;
                Some((k.name.clone(), arr))
            })
            .collect();
        let limiter = RateLimiter::new(
            client.ledger().connection(),
            client.ledger().keys().clone(),
            settings.api.rate_limit_per_sec,
            settings.api.rate_limit_burst,
        );
        ApiState {
            client,
            providers,
            registry: Registry::builtin(),
            provider_settings: settings.providers.clone(),
            keys,
            limiter,
            callbacks: None,
            console: None,
        }
    }

    /// Which API client is calling, from `Authorization: Bearer KEY` or `X-API-Key`.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let key = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::to_owned)
            })
            .ok_or(ApiError::Unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(key.trim().as_bytes()).into();
        let mut found = None;
        for (name, hash) in &self.keys {
            if bool::from(hash.ct_eq(&digest)) {
                found = Some(name.clone());
            }
        }
        let name = found.ok_or(ApiError::Unauthorized)?;
        self.limiter
            .take(&name)
            .await
            .map_err(ApiError::RateLimited)?;
        Ok(name)
    }
}

type Shared = Arc<ApiState>;

/// All routes.
pub fn router(state: Shared, max_body: usize) -> Router {
    let mut r = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi_json))
        .route("/v1/transfers", post(create_transfer).get(list_payouts))
        .route("/v1/transfers/{reference}", get(get_payout))
        .route("/v1/payments", post(create_payment))
        .route("/v1/payments/{reference}", get(get_payout))
        .route("/v1/account-inquiries", post(account_inquiry));
    if let Some(cb) = state.callbacks.clone() {
        r = r.merge(crate::callbacks::routes(cb));
    }
    if let Some(console) = state.console.clone() {
        r = r.merge(crate::console::router(console));
    }
    r.layer(DefaultBodyLimit::max(max_body)).with_state(state)
}

async fn readyz(AxState(s): AxState<Shared>) -> Response {
    let mut conn = s.client.ledger().connection();
    match redis::cmd("PING").query_async::<String>(&mut conn).await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("redis: {e}")).into_response(),
    }
}

async fn metrics(AxState(s): AxState<Shared>) -> Response {
    match crate::metrics::render(s.client.ledger(), s.client.queue()).await {
        Ok(text) => (
            StatusCode::OK,
            [("content-type", crate::metrics::CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("metrics: {e}")).into_response(),
    }
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else {
            ApiError::BadBody(e.body_text())
        }
    })
}

/// The `Idempotency-Key` header, checked but not yet bound (a request refused as
/// invalid must not burn its key).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(key) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = key.to_str().ok().filter(|k| !k.is_empty() && k.len() <= 64);
    key.map(Some).ok_or_else(|| {
        ApiError::Invalid(crate::domain::FieldError::new(
            "Idempotency-Key",
            "must be 1 to 64 visible ASCII characters",
        ))
    })
}

/// Bind a valid request's `Idempotency-Key` to its body: the same key with a
/// different body is refused; the same key and body returns the original payout
/// (through the ledger's own idempotency).
async fn bind_idempotency(
    s: &ApiState,
    who: &str,
    key: Option<&str>,
    body: &[u8],
) -> Result<(), ApiError> {
    let Some(key) = key else {
        return Ok(());
    };
    let digest = hex::encode(Sha256::digest(body));
    let redis_key = s.client.ledger().keys().idempotency(who, key);
    let mut conn = s.client.ledger().connection();
    let set: Option<String> = redis::cmd("SET")
        .arg(&redis_key)
        .arg(&digest)
        .arg("NX")
        .arg("EX")
        .arg(86_400)
        .query_async(&mut conn)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if set.is_none() {
        let stored: Option<String> = redis::cmd("GET")
            .arg(&redis_key)
            .query_async(&mut conn)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if stored.as_deref() != Some(digest.as_str()) {
            return Err(ApiError::IdempotencyMismatch);
        }
    }
    Ok(())
}

async fn openapi_json(AxState(s): AxState<Shared>) -> Json<serde_json::Value> {
    Json(openapi::document(&s.registry))
}

impl ApiState {
    /// `provider` is registered (and offers `needs`, when given); otherwise a
    /// field error listing the providers that would do.
    fn registered(
        &self,
        provider: Provider,
        needs: Option<Capability>,
    ) -> Result<Provider, ApiError> {
        let fits = |m: &dyn crate::providers::ProviderModule| {
            needs.map_or(true, |c| m.capabilities().contains(&c))
        };
        if self.registry.get(provider).is_some_and(fits) {
            return Ok(provider);
        }
        let names: Vec<&str> = self
            .registry
            .modules()
            .filter(|m| fits(*m))
            .map(|m| m.id().as_str())
            .collect();
        Err(ApiError::Invalid(crate::domain::FieldError::new(
            "provider",
            format!("must be one of {}", names.join(", ")),
        )))
    }
}

async fn create_transfer(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let who = s.authenticate(&headers).await?;
    let body = body_bytes(body)?;
    let key = idempotency_key(&headers)?;
    let mut order = requests::transfer_order(&body, key)?;
    s.registered(order.provider, None)?;
    // Everything the payout will be held to, before the key is bound: the bank
    // code this provider takes, kirim's own rules, then the provider's.
    crate::admit::admit_transfer(&s.registry, &s.provider_settings, &s.providers, &mut order)?;
    bind_idempotency(&s, &who, key, &body).await?;
    let e = s.client.enqueue_transfer(&order).await?;
    let status = if e.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(e)).into_response())
}

async fn create_payment(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let who = s.authenticate(&headers).await?;
    let body = body_bytes(body)?;
    let key = idempotency_key(&headers)?;
    let default = s
        .registry
        .modules()
        .find(|m| m.capabilities().contains(&Capability::DirectDebit))
        .map(|m| m.id());
    let order = requests::payment_order(&body, key, default)?;
    s.registered(order.provider, Some(Capability::DirectDebit))?;
    Client::payment_payout(&order)?;
    if let Some(provider) = s.providers.get(&order.provider) {
        provider.payment_ready()?;
    }
    bind_idempotency(&s, &who, key, &body).await?;
    let e = s.client.enqueue_payment(&order).await?;
    let status = if e.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(e)).into_response())
}

#[derive(Debug, Deserialize)]
struct GetQuery {
    provider: Option<String>,
}

async fn get_payout(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Path(reference): Path<String>,
    Query(q): Query<GetQuery>,
) -> Result<Response, ApiError> {
    s.authenticate(&headers).await?;
    let reference = PartnerReference::parse(&reference)?;
    let providers: Vec<Provider> = match q.provider {
        Some(p) => vec![s.registered(p.parse()?, None)?],
        None => s.registry.ids(),
    };
    for p in providers {
        if let Some(view) = s
            .client
            .status(&PayoutId::new(p, reference.clone()))
            .await?
        {
            return Ok(Json(view).into_response());
        }
    }
    Err(ApiError::NotFound)
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
    cursor: Option<u64>,
    limit: Option<usize>,
}

async fn list_payouts(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    s.authenticate(&headers).await?;
    let state: State = q
        .state
        .as_deref()
        .ok_or_else(|| {
            crate::domain::FieldError::new("state", "is mandatory (e.g. ?state=PENDING)")
        })?
        .parse()?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(crate::domain::FieldError::new("limit", "must be between 1 and 1000").into());
    }
    let (next, ids) = s
        .client
        .ledger()
        .list(state, q.cursor.unwrap_or(0), limit)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(p) = s
            .client
            .ledger()
            .get(&id)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
        {
            items.push(p);
        }
    }
    Ok(Json(serde_json::json!({
        "items": items,
        "nextCursor": if next == 0 { None } else { Some(next) },
    }))
    .into_response())
}

async fn account_inquiry(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    s.authenticate(&headers).await?;
    let body = body_bytes(body)?;
    let (provider, bank_code, account_no) = requests::account_inquiry(&body)?;
    let client = s
        .providers
        .get(&provider)
        .ok_or(ApiError::ProviderUnavailable(format!(
            "{provider} is not enabled"
        )))?;
    let external_id = crate::domain::ExternalId::fresh(now_ms());
    let req = AccountInquiryRequest {
        bank_code,
        account_no,
        external_id,
    };
    let info = client.account_inquiry(&req).await?;
    Ok(Json(info).into_response())
}

/// A bound API server.
pub struct ApiServer {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer").finish()
    }
}

impl ApiServer {
    /// Bind `bind` (port 0 allowed) and build the router.
    pub async fn build(bind: &str, state: ApiState, max_body: usize) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        Ok(ApiServer {
            listener,
            router: router(Arc::new(state), max_body),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` resolves; in-flight requests finish first.
    pub async fn run_until_stopped<F>(self, shutdown: F) -> std::io::Result<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}
