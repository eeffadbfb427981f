//! The built-in sandbox: one HTTP server that speaks iFortepay, NICEPAY and Singapay
//! the way `../shared/providers/` describes, so the demo, the tests and the
//! benchmarks need no real provider.
//!
//! It verifies signatures, issues expiring tokens, keeps balances, books transfers
//! INIT and settles them to SUCCESS or CANCELLED after a configurable delay (a
//! background settler), sends signed callbacks with retries, and injects faults per
//! endpoint. `docs/sandbox.md` is the user guide; this page is the map.
//!
//! # Layout
//! - [`config`]: `config/sandbox.toml` and the keys/secrets it points at.
//! - [`state`]: the in-memory books (tokens, X-EXTERNAL-IDs, bookings, balances, the
//!   settlement schedule) and the "never paid twice" oracle.
//! - [`faults`]: fault rules per endpoint, from config and the admin endpoint,
//!   including `respond` (a canned status, headers and raw body, e.g. an HTML WAF page).
//! - [`clock`]: the sandbox's "now" (settlement, token expiry, timestamp freshness,
//!   callback timestamps), which tests move forward instead of sleeping.
//! - [`magic`]: beneficiary accounts with deterministic outcomes.
//! - [`snap_auth`], [`fields`]: the SNAP gate (token, headers, HMAC) and body checks.
//! - [`ifortepay`], [`nicepay`], [`singapay`]: one router per provider.
//! - [`callbacks`]: signed notifications on final status, retried until HTTP 200.
//! - [`admin`]: the loopback admin API (bookings oracle, faults, settle, callbacks).
//! - [`canonical_json`]: Singapay v2.0's canonical body for signatures.
//!
//! # Routing (one port, three providers; matches `config/default.toml`)
//! `/ifortepay/…`, `/nicepay/…`, `/singapay/…` and `/admin/…`. The SNAP signed
//! `EndpointUrl` is the path and query *as received* minus the provider's
//! `unsigned_path_prefix` (`/nicepay` for NICEPAY, nothing for the others).
//!
//! # State
//! Everything lives in memory and is lost on restart. No lock is held across an
//! `.await`; see [`state`].
//!
//! # Test controls beyond fault rules
//! - **Time**: [`SandboxHandle::advance_clock`] (or `PUT /admin/clock
//!   {"offset_ms": N}`) moves the sandbox's clock forward: bookings whose
//!   `settlement_delay_ms` has then passed are settled before it returns, tokens
//!   expire, and a client `X-TIMESTAMP` that was fresh falls outside
//!   `max_clock_skew_secs`. See [`clock`].
//! - **Provider down**: [`SandboxHandle::set_refusing`]`(true)` closes the listening
//!   socket (and every open connection, once its in-flight request is answered), so
//!   clients get "connection refused" (reqwest: `is_connect()`);
//!   `set_refusing(false)` binds the same address again. The admin API shares the
//!   port, so this switch is on the handle only.
//! - **Canned answers**: a `respond` fault rule, see [`faults`].
//!
//! # In a test
//! ```no_run
//! # async fn demo() -> Result<(), kirim::sandbox::SandboxError> {
//! let mut cfg = kirim::sandbox::SandboxConfig::repo_default()?;
//! cfg.port = 0;
//! cfg.settlement_delay_ms = 0;
//! let sandbox = kirim::sandbox::Sandbox::start(cfg).await?;
//! let base = sandbox.url("/ifortepay"); // http://127.0.0.1:PORT/ifortepay
//! # let _ = base;
//! sandbox.advance_clock(std::time::Duration::from_secs(60)); // settle, expire tokens
//! sandbox.set_refusing(true).await?; // clients now see "connection refused"
//! sandbox.set_refusing(false).await?;
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

pub mod admin;
mod books;
pub mod callbacks;
pub mod canonical_json;
pub mod clock;
pub mod config;
pub mod faults;
pub mod fields;
pub mod ifortepay;
pub mod magic;
pub mod nicepay;
pub mod singapay;
pub mod snap_auth;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Json, Router};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

pub use config::SandboxConfig;
pub use faults::{Endpoint, FaultKind, FaultRule};
pub use state::{AppState, Booking, CallbackRecord};

use faults::FaultKind as K;
use snap_auth::SnapError;
use state::State;

/// Why the sandbox could not start.
#[derive(Debug, Error)]
pub enum SandboxError {
    /// A bad setting, key file or secret file; names the key, never a secret value.
    #[error("sandbox configuration: {0}")]
    Config(String),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The server has shut down (a control call after `shutdown` or a crash).
    #[error("the sandbox server has stopped")]
    Stopped,
}

/// Entry point: [`Sandbox::start`].
pub struct Sandbox;

impl Sandbox {
    /// Bind `cfg.bind:cfg.port` (port 0 = any free port), start the server, the
    /// settler and the callback dispatcher, and return at once.
    ///
    /// # Errors
    /// Configuration (keys, secrets, values) or bind failures.
    pub async fn start(cfg: SandboxConfig) -> Result<SandboxHandle, SandboxError> {
        for rule in &cfg.faults {
            rule.validate()
                .map_err(|e| SandboxError::Config(format!("faults: {e}")))?;
        }
        let creds = cfg.resolve()?;
        let addr = SocketAddr::new(cfg.bind, cfg.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (cb_tx, cb_rx) = mpsc::unbounded_channel();
        let grace = Duration::from_millis(cfg.shutdown_grace_ms);
        let state: AppState = Arc::new(State::new(cfg, creds, cb_tx, shutdown_rx.clone()));

        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        tasks.spawn(settler(state.clone()));
        tasks.spawn(callbacks::dispatcher(state.clone(), cb_rx));
        tasks.spawn(serve(
            Listener {
                socket: Some(listener),
                addr: local,
            },
            router(state.clone()),
            shutdown_rx,
            grace,
            control_rx,
        ));
        tracing::info!(%local, "sandbox listening");
        Ok(SandboxHandle {
            addr: local,
            state,
            shutdown_tx,
            control_tx,
            tasks,
        })
    }

    /// Start and run until `signal` completes, then shut down gracefully (the CLI
    /// passes ctrl-c/SIGTERM; tests may pass their own future).
    pub async fn run_until_stopped(
        cfg: SandboxConfig,
        signal: impl Future<Output = ()>,
    ) -> Result<(), SandboxError> {
        let handle = Sandbox::start(cfg).await?;
        signal.await;
        tracing::info!("sandbox shutting down");
        handle.shutdown().await;
        Ok(())
    }
}

/// A running sandbox. Dropping it stops the server (without waiting);
/// [`SandboxHandle::shutdown`] waits for in-flight requests.
pub struct SandboxHandle {
    addr: SocketAddr,
    state: AppState,
    shutdown_tx: watch::Sender<bool>,
    control_tx: mpsc::UnboundedSender<Control>,
    tasks: JoinSet<()>,
}

impl SandboxHandle {
    /// The address actually bound (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR{path}`, e.g. `url("/ifortepay")` for a client base URL.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The books, for in-process assertions (tests may also use `/admin`).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Move the sandbox clock forward by `by`; returns the total offset from the
    /// wall clock. Before it returns, every booking due by the new "now" is settled
    /// (its callback queued). Tokens and `X-TIMESTAMP` freshness follow the new time.
    pub fn advance_clock(&self, by: Duration) -> Duration {
        self.state.advance_clock(by)
    }

    /// Set the sandbox clock's offset from the wall clock (what
    /// `PUT /admin/clock` does); settles what is then due.
    pub fn set_clock_offset(&self, offset: Duration) {
        self.state.set_clock_offset(offset);
    }

    /// How far the sandbox clock is ahead of the wall clock.
    pub fn clock_offset(&self) -> Duration {
        self.state.clock.offset()
    }

    /// The sandbox's "now" (Jakarta time), as its answers and callbacks carry it.
    pub fn now(&self) -> chrono::DateTime<chrono::FixedOffset> {
        self.state.now()
    }

    /// Refuse (`true`) or accept again (`false`) TCP connections, for every
    /// provider and the admin API alike.
    ///
    /// `true` closes the listening socket, then closes every open connection (idle
    /// keep-alive ones at once, busy ones after their answer; after
    /// `shutdown_grace_ms` the rest are dropped) and returns once all are closed: from
    /// then on a client's connect fails with "connection refused" (reqwest:
    /// `err.is_connect()`). `false` binds [`SandboxHandle::addr`] again. Both are
    /// idempotent. Bookings, tokens and faults are kept.
    ///
    /// # Errors
    /// [`SandboxError::Bind`] if the address cannot be bound again (another process
    /// took the port meanwhile), [`SandboxError::Stopped`] after shutdown.
    pub async fn set_refusing(&self, refusing: bool) -> Result<(), SandboxError> {
        let (ack_tx, ack_rx) = oneshot::channel();
        self.control_tx
            .send(Control::Refuse(refusing, ack_tx))
            .map_err(|_| SandboxError::Stopped)?;
        match ack_rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(SandboxError::Bind {
                addr: self.addr,
                source,
            }),
            Err(_) => Err(SandboxError::Stopped),
        }
    }

    /// Stop accepting, let in-flight requests finish (up to `shutdown_grace_ms`),
    /// stop the settler and the callback dispatcher.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}

/// Every route of every provider plus the admin API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(ifortepay::routes(state.clone()))
        .merge(nicepay::routes(state.clone()))
        .merge(singapay::routes(state.clone()))
        .merge(admin::routes(state))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(json!({"responseCode": "4040000", "responseMessage": "Not Found"})),
            )
        })
}

/// Wrap one endpoint's handler in the fault layer.
pub(crate) fn guarded(
    state: &AppState,
    ep: Endpoint,
    route: MethodRouter<AppState>,
) -> MethodRouter<AppState> {
    // The endpoint travels with the request too, for extractors that gate by it.
    route
        .layer(axum::Extension(ep))
        .layer(middleware::from_fn_with_state(
            (state.clone(), ep),
            fault_layer,
        ))
}

/// Set on every request: fires to drop the connection without a response.
#[derive(Clone, Default)]
pub(crate) struct ConnKill(Arc<Notify>);

/// Apply the fault drawn for this request around the real handler.
async fn fault_layer(
    AxState((state, ep)): AxState<(AppState, Endpoint)>,
    req: Request,
    next: Next,
) -> Response {
    let Some(fault) = state.faults.draw(ep) else {
        return next.run(req).await;
    };
    tracing::debug!(endpoint = ep.name(), kind = ?fault.kind, "fault injected");
    match fault.kind {
        K::Latency => tokio::time::sleep(Duration::from_millis(fault.latency_ms)).await,
        K::Hang => {
            let mut shutdown = state.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(state.cfg.hang_max_ms)) => {}
                _ = crate::sandbox::stopped(&mut shutdown) => {}
            }
            return fault_response(ep, 504, 0, "Timeout");
        }
        K::TooManyRequests => return fault_response(ep, 429, 0, "Too Many Requests"),
        K::Respond => {
            if fault.latency_ms > 0 {
                tokio::time::sleep(Duration::from_millis(fault.latency_ms)).await;
            }
            return match fault.canned {
                Some(c) => (c.status, c.headers, c.body).into_response(),
                // Unreachable: rules are validated when added.
                None => fault_response(ep, 500, 1, "Internal Server Error"),
            };
        }
        K::Error500Before => return fault_response(ep, 500, 1, "Internal Server Error"),
        K::Error500After | K::CloseAfter | K::MalformedJson => {}
        K::BadSignature | K::Duplicate | K::OutOfOrder => {}
    }
    let kill = req.extensions().get::<ConnKill>().cloned();
    let response = next.run(req).await;
    match fault.kind {
        K::Error500After => fault_response(ep, 500, 1, "Internal Server Error"),
        K::CloseAfter => match kill {
            Some(kill) => {
                kill.0.notify_one();
                // The connection task drops the socket; this future is dropped with it.
                std::future::pending::<()>().await;
                response
            }
            None => fault_response(ep, 500, 1, "Internal Server Error"),
        },
        K::MalformedJson => {
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            let cut = bytes.slice(..bytes.len() / 2);
            (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from(cut),
            )
                .into_response()
        }
        _ => response,
    }
}

/// An error answer in the endpoint's provider dialect.
fn fault_response(ep: Endpoint, http: u16, case: u8, message: &str) -> Response {
    match ep.provider() {
        crate::providers::singapay::ID => singapay::fault_response(http, message),
        _ => SnapError::new(ep, http, case, message).into_response(),
    }
}

/// Commands from [`SandboxHandle`] to the accept loop.
enum Control {
    /// Close (`true`) or re-open (`false`) the listening socket; acknowledged once done.
    Refuse(bool, oneshot::Sender<std::io::Result<()>>),
}

/// The listening socket, absent while connections are refused.
struct Listener {
    socket: Option<TcpListener>,
    addr: SocketAddr,
}

impl Listener {
    async fn accept(&self) -> std::io::Result<(TcpStream, SocketAddr)> {
        match &self.socket {
            Some(l) => l.accept().await,
            None => std::future::pending().await,
        }
    }
}

/// The accept loop. Our own (not `axum::serve`) so that a fault can drop a single
/// connection mid-request and the handle can close and re-open the listener.
async fn serve(
    mut listener: Listener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let mut conns = JoinSet::new();
    // Flips to `true` while refusing: open connections finish and close.
    let (closing, _) = watch::channel(false);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(serve_connection(
                        stream,
                        router.clone(),
                        shutdown.clone(),
                        closing.subscribe(),
                        grace,
                    ));
                }
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            Some(Control::Refuse(refuse, ack)) = control.recv() => {
                let result = if refuse {
                    if listener.socket.take().is_some() {
                        tracing::info!(addr = %listener.addr, "sandbox refusing connections");
                        closing.send_replace(true);
                        drain(&mut conns, grace).await;
                        closing.send_replace(false);
                    }
                    Ok(())
                } else if listener.socket.is_none() {
                    TcpListener::bind(listener.addr).await.map(|socket| {
                        tracing::info!(addr = %listener.addr, "sandbox accepting connections again");
                        listener.socket = Some(socket);
                    })
                } else {
                    Ok(())
                };
                let _ = ack.send(result);
            }
            _ = crate::sandbox::stopped(&mut shutdown) => break,
        }
    }
    drop(listener);
    drain(&mut conns, grace + Duration::from_secs(1)).await;
}

/// Wait up to `limit` for every connection task to end, then abort the rest.
async fn drain(conns: &mut JoinSet<()>, limit: Duration) {
    let all = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(limit, all).await.is_err() {
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
    mut closing: watch::Receiver<bool>,
    grace: Duration,
) {
    let _ = stream.set_nodelay(true);
    let kill = ConnKill::default();
    let tag = kill.clone();
    let service = router.map_request(move |mut req: axum::http::Request<Incoming>| {
        req.extensions_mut().insert(tag.clone());
        req
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        // Dropping `conn` closes the socket without a response: the client sees EOF.
        _ = kill.0.notified() => {}
        _ = crate::sandbox::stopped(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(grace, conn.as_mut()).await;
        }
        // Refusing connections: finish the request in flight, then close.
        _ = crate::sandbox::stopped(&mut closing) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(grace, conn.as_mut()).await;
        }
    }
}

/// Settle bookings as they fall due; sleeps until the next due time (converted
/// from the sandbox clock to real time; a clock move wakes it to recompute).
async fn settler(state: AppState) {
    let mut shutdown = state.shutdown.clone();
    loop {
        state.settle_due(false);
        let next = state.next_due().map(|at| state.clock.to_real(at));
        let wait = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wait => {}
            _ = state.settle_wakeup.notified() => {}
            _ = crate::sandbox::stopped(&mut shutdown) => break,
        }
    }
}

/// Resolves once shutdown is signalled (or the handle is gone). The watch guard is
/// dropped inside, so callers' futures stay `Send`.
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Point every configured provider at its counterpart here (`/NAME` under the
/// sandbox's address), as tests, the demo and the bench do.
pub fn point_providers_at(
    providers: &mut crate::config::ProvidersSettings,
    sandbox: &SandboxHandle,
) {
    let names: Vec<String> = providers.names().map(str::to_owned).collect();
    for name in names {
        providers.set(&name, "base_url", sandbox.url(&format!("/{name}")));
    }
}
