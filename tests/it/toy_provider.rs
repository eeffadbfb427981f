//! A fourth provider that lives only in this file: the proof that adding a
//! provider is one module and one registration line (ARCHITECTURE.md, "Adding a
//! provider"). "Toy" is a made-up HTTP API (`POST /pay`, `GET /pay/{ref}`,
//! HMAC-signed notifications) served by a fake below. Nothing in `src/` knows it:
//! the registry built here (`Registry::builtin().with(ToyModule)`) is handed to the
//! worker, the API and the callback receiver, as `kirim` does with the built-ins.
//!
//! It shows a toy payout taking both paths a real one takes: answered PENDING and
//! settled by the sweep's inquiry, and answered PENDING and settled by a signed
//! notification at `/callbacks/toy` (a forged one is refused).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::{Path, State as AxState};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use kirim::callbacks::CallbackState;
use kirim::config::{ConfigError, ProviderSection, Settings};
use kirim::domain::{ExternalId, Outcome, Provider, State};
use kirim::lifecycle::Trust;
use kirim::providers::webhook::Webhook;
use kirim::providers::{
    AccountInfo, AccountInquiryRequest, Balance, Capability, Exchange, PayoutProvider,
    ProviderError, ProviderModule, Registry, StatusQuery, TransferRequest,
};
use kirim::worker::{WorkerOptions, WorkerRuntime};
use serde_json::{json, Value};

use crate::common;

const TOY: Provider = Provider::named("toy");
const SECRET: &str = "toy-webhook-secret";

// ---------------------------------------------------------------------------
// The provider module: what would be `src/providers/toy/` in the product.
// ---------------------------------------------------------------------------

/// `[providers.toy]`.
#[derive(Debug, Clone, serde::Deserialize)]
struct ToySettings {
    base_url: String,
    request_timeout_ms: u64,
    webhook_secret: String,
}

struct ToyModule;

impl ProviderModule for ToyModule {
    fn id(&self) -> Provider {
        TOY
    }
    fn title(&self) -> &'static str {
        "Toy"
    }
    fn capabilities(&self) -> &'static [Capability] {
        &[Capability::Callbacks]
    }
    fn check(&self, section: &ProviderSection) -> Result<(), ConfigError> {
        let s: ToySettings = section.parse("toy")?;
        if s.webhook_secret.is_empty() {
            return Err(ConfigError::invalid(
                "providers.toy.webhook_secret",
                "must not be empty",
            ));
        }
        Ok(())
    }
    fn build(&self, section: &ProviderSection) -> Result<Arc<dyn PayoutProvider>, ProviderError> {
        let s: ToySettings = section
            .parse("toy")
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(s.request_timeout_ms))
            .build()
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        Ok(Arc::new(ToyClient {
            http,
            base: s.base_url,
        }))
    }
    fn webhook(&self, section: &ProviderSection) -> Option<Result<Arc<dyn Webhook>, ConfigError>> {
        Some(
            section
                .parse::<ToySettings>("toy")
                .map(|s| Arc::new(ToyWebhook(s.webhook_secret)) as Arc<dyn Webhook>),
        )
    }
}

struct ToyClient {
    http: reqwest::Client,
    base: String,
}

/// The toy's status table: `PAID` | `PENDING` | `REJECTED`.
fn toy_outcome(status: &str, id: Option<String>) -> Outcome {
    match status {
        "PAID" => Outcome::Success { reference: id },
        "PENDING" => Outcome::InProgress { reference: id },
        "REJECTED" => Outcome::FinalFailure {
            code: "REJECTED".into(),
            message: "rejected by toy".into(),
        },
        other => Outcome::Unknown {
            reason: format!("unrecognised toy status {other:?}"),
        },
    }
}

impl ToyClient {
    async fn exchange(&self, req: reqwest::RequestBuilder) -> Exchange {
        let started = Instant::now();
        let outcome = match req.send().await {
            Err(e) if e.is_connect() => Outcome::Retryable {
                delay_hint: None,
                reason: e.to_string(),
            },
            Err(e) => Outcome::Unknown {
                reason: e.to_string(),
            },
            Ok(r) if r.status() == 404 => Outcome::NotFound,
            Ok(r) => match r.json::<Value>().await {
                Ok(v) => toy_outcome(
                    v["status"].as_str().unwrap_or_default(),
                    v["id"].as_str().map(str::to_owned),
                ),
                Err(e) => Outcome::Unknown {
                    reason: e.to_string(),
                },
            },
        };
        Exchange::bare(outcome, started.elapsed())
    }
}

#[async_trait]
impl PayoutProvider for ToyClient {
    fn provider(&self) -> Provider {
        TOY
    }

    async fn transfer(&self, req: &TransferRequest) -> Result<Exchange, ProviderError> {
        req.fence
            .before_send("toy.pay")
            .await
            .map_err(|reason| ProviderError::Fenced {
                reason,
                sent_before: false,
            })?;
        let body = json!({"ref": req.partner_reference.as_str(), "amount": req.amount.to_string()});
        Ok(self
            .exchange(self.http.post(format!("{}/pay", self.base)).json(&body))
            .await)
    }

    async fn transfer_status(&self, q: &StatusQuery) -> Result<Exchange, ProviderError> {
        let url = format!("{}/pay/{}", self.base, q.partner_reference.as_str());
        Ok(self.exchange(self.http.get(url)).await)
    }

    async fn account_inquiry(
        &self,
        _req: &AccountInquiryRequest,
    ) -> Result<AccountInfo, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: TOY,
            operation: "account inquiry",
        })
    }

    async fn balance(&self, _external_id: &ExternalId) -> Result<Balance, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: TOY,
            operation: "balance",
        })
    }
}

/// Toy notifications: `X-SIGNATURE` = hex HMAC-SHA512(secret, `X-TIMESTAMP:body`).
struct ToyWebhook(String);

fn toy_signature(secret: &str, ts: &str, body: &[u8]) -> String {
    let mut message = format!("{ts}:").into_bytes();
    message.extend_from_slice(body);
    hex::encode(kirim::snap::hmac_sha512(secret.as_bytes(), &message))
}

impl Webhook for ToyWebhook {
    fn references(&self) -> &'static [&'static str] {
        &["/ref"]
    }
    fn verify(
        &self,
        timestamp: &str,
        signature: &str,
        _headers: &HeaderMap,
        body: &[u8],
        _parsed: &Value,
    ) -> Result<(), &'static str> {
        (toy_signature(&self.0, timestamp, body) == signature)
            .then_some(())
            .ok_or("signature does not verify")
    }
    fn outcome(&self, body: &Value) -> Option<Outcome> {
        Some(toy_outcome(body["status"].as_str()?, None))
    }
    fn trust(&self) -> Trust {
        Trust::Body
    }
}

// ---------------------------------------------------------------------------
// The fake Toy server.
// ---------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Fake {
    /// reference → (status, times booked)
    book: Arc<Mutex<HashMap<String, (String, u32)>>>,
}

async fn fake_pay(AxState(f): AxState<Fake>, Json(v): Json<Value>) -> Json<Value> {
    let reference = v["ref"].as_str().unwrap_or_default().to_owned();
    let mut book = f.book.lock().unwrap_or_else(|e| e.into_inner());
    let entry = book
        .entry(reference.clone())
        .or_insert(("PENDING".into(), 0));
    entry.1 += 1;
    Json(json!({"status": entry.0, "id": format!("TOY-{reference}")}))
}

async fn fake_status(
    AxState(f): AxState<Fake>,
    Path(reference): Path<String>,
) -> Result<Json<Value>, axum::http::StatusCode> {
    let book = f.book.lock().unwrap_or_else(|e| e.into_inner());
    let (status, _) = book
        .get(&reference)
        .ok_or(axum::http::StatusCode::NOT_FOUND)?;
    Ok(Json(
        json!({"status": status, "id": format!("TOY-{reference}")}),
    ))
}

impl Fake {
    fn set(&self, reference: &str, status: &str) {
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = book.get_mut(reference) {
            entry.0 = status.into();
        }
    }
    fn times_booked(&self, reference: &str) -> u32 {
        let book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        book.get(reference).map_or(0, |e| e.1)
    }
}

async fn serve_fake() -> (Fake, String) {
    let fake = Fake::default();
    let app = Router::new()
        .route("/pay", post(fake_pay))
        .route("/pay/{reference}", get(fake_status))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (fake, url)
}

// ---------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fourth_provider_is_one_module_and_one_registration_line() {
    let redis = common::redis();
    let (fake, fake_url) = serve_fake().await;
    let mut settings: Settings = common::settings_for(&redis);
    // The built-ins stay configured (their sandbox is not running: nothing here
    // sends to them).
    let p = &mut settings.providers;
    p.set("toy", "enabled", true);
    p.set("toy", "base_url", fake_url.clone());
    p.set("toy", "connect_timeout_ms", 1_000u64);
    p.set("toy", "request_timeout_ms", 2_000u64);
    p.set("toy", "token_refresh_margin_secs", 0u64);
    p.set("toy", "webhook_secret", SECRET);
    settings.reconcile.tick_secs = 1;
    settings.reconcile.schedule_secs = vec![1];
    settings.reconcile.in_worker = true;
    settings.worker.poll_interval_ms = 20;
    settings.validate().expect("settings valid");

    // The one registration line.
    let registry = Registry::builtin().with(ToyModule);

    // Without it, the section is refused by name.
    let e = Registry::builtin().check(&settings.providers).unwrap_err();
    assert!(e.to_string().contains("providers.toy"), "{e}");
    registry
        .check(&settings.providers)
        .expect("toy section valid");
    let mut bad = settings.providers.clone();
    bad.set("toy", "webhook_secret", "");
    let e = registry.check(&bad).unwrap_err();
    assert!(
        e.to_string().contains("providers.toy.webhook_secret"),
        "{e}"
    );

    // Worker and API, each given the registry's view, as `kirim worker`/`serve` are.
    let providers = registry.build(&settings.providers).expect("providers");
    assert!(providers.contains_key(&TOY));
    let runtime = WorkerRuntime::build(
        settings.clone(),
        providers.clone(),
        WorkerOptions {
            concurrency: 8,
            with_sweep: true,
        },
    )
    .await
    .expect("worker builds");
    let (stop_worker, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(async move {
        runtime
            .run_until_stopped(async move {
                let _ = stopped.await;
            })
            .await
    });
    let client = kirim::client::Client::connect(&settings)
        .await
        .expect("client");
    let mut state = kirim::api::ApiState::new(&settings, client.clone(), providers);
    state.registry = registry.clone();
    state.callbacks = Some(Arc::new(CallbackState::with_registry(
        &registry,
        &settings,
        client.clone(),
    )));
    let server = kirim::api::ApiServer::build("127.0.0.1:0", state, settings.api.max_body_bytes)
        .await
        .expect("API binds");
    let api = format!("http://{}", server.local_addr().expect("addr"));
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api_task = tokio::spawn(server.run_until_stopped(async move {
        let _ = api_stopped.await;
    }));
    let http = reqwest::Client::new();

    // The OpenAPI document lists it.
    let doc: Value = http
        .get(format!("{api}/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let listed = &doc["components"]["schemas"]["TransferRequest"]["properties"]["provider"]["enum"];
    assert!(
        listed.as_array().is_some_and(|a| a.contains(&json!("toy"))),
        "{listed}"
    );

    let enqueue = |reference: &'static str| {
        let http = http.clone();
        let api = api.clone();
        async move {
            let r = http
                .post(format!("{api}/v1/transfers"))
                .header("X-API-Key", "kirim-demo-key")
                .json(&json!({
                    "provider": "toy",
                    "partnerReferenceNo": reference,
                    "amount": {"value": "150000.00", "currency": "IDR"},
                    "beneficiary": {"accountNo": "8753293240", "bankCode": "014", "name": "Budi"},
                }))
                .send()
                .await
                .expect("enqueue");
            assert_eq!(r.status(), 201, "{:?}", r.text().await);
        }
    };
    let state_of = |reference: &'static str| {
        let client = client.clone();
        async move {
            let id = kirim::ledger::PayoutId::new(
                TOY,
                kirim::domain::PartnerReference::parse(reference).expect("reference"),
            );
            client
                .status(&id)
                .await
                .ok()
                .flatten()
                .map(|v| v.payout.state)
        }
    };
    let t = Duration::from_secs(30);

    // 1. Answered PENDING, settled by the sweep's inquiry.
    enqueue("TOY-POLL-1").await;
    common::wait_for("TOY-POLL-1 pending", t, || async {
        state_of("TOY-POLL-1").await == Some(State::Pending)
    })
    .await;
    fake.set("TOY-POLL-1", "PAID");
    common::wait_for("TOY-POLL-1 settled by inquiry", t, || async {
        state_of("TOY-POLL-1").await == Some(State::Succeeded)
    })
    .await;
    assert_eq!(fake.times_booked("TOY-POLL-1"), 1);

    // 2. Answered PENDING, settled by a signed notification; a forged one is refused.
    enqueue("TOY-CB-1").await;
    common::wait_for("TOY-CB-1 pending", t, || async {
        state_of("TOY-CB-1").await == Some(State::Pending)
    })
    .await;
    let body = json!({"ref": "TOY-CB-1", "status": "PAID"}).to_string();
    let ts = kirim::snap::timestamp::now();
    let post = |sig: String| {
        http.post(format!("{api}/callbacks/toy"))
            .header("X-TIMESTAMP", ts.clone())
            .header("X-SIGNATURE", sig)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };
    let forged = post(toy_signature("not-the-secret", &ts, body.as_bytes()))
        .await
        .expect("post");
    assert_eq!(forged.status(), 401);
    assert_eq!(state_of("TOY-CB-1").await, Some(State::Pending));
    let signed = post(toy_signature(SECRET, &ts, body.as_bytes()))
        .await
        .expect("post");
    assert_eq!(signed.status(), 200, "{:?}", signed.text().await);
    assert_eq!(state_of("TOY-CB-1").await, Some(State::Succeeded));
    assert_eq!(fake.times_booked("TOY-CB-1"), 1);

    let _ = stop_api.send(());
    let _ = stop_worker.send(());
    let _ = api_task.await;
    let _ = worker.await;
}
