//! `kirim demo`: the whole system in one process, on a fresh machine.
//!
//! 1. **Redis**: `REDIS_URL`, else `redis-server` from `PATH` in a temporary
//!    directory, else a container ([`TestRedis`]); a namespace unique to the run.
//! 2. **Sandbox** (in-process, free port): settles after `settlement_delay`, and
//!    sends its callbacks to the demo's own API, so both callbacks and polling
//!    take effect.
//! 3. **Workers** ([`WorkerRuntime`] with the reconciliation sweep on a short
//!    schedule) and the **API** ([`ApiServer`] with the callback receivers).
//! 4. A **batch** across all three providers, sent through the HTTP API with the
//!    demo key: successes, cancellations, refusals, and three payouts whose
//!    outcome is made unknown by a sandbox fault (500 after booking, connection
//!    dropped after booking, a request that times out) and then reconciled.
//! 5. A **live table** of states per provider (redrawn in place on a terminal,
//!    plain lines otherwise), then a **summary** and pointers.
//!
//! The run succeeds only if every payout reaches the state it is expected to.

mod driver;
mod report;
mod scenario;

use std::future::Future;
use std::io::{IsTerminal, Write as _};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::{ApiServer, ApiState};
use crate::callbacks::CallbackState;
use crate::client::Client;
use crate::config::{ApiKey, Settings};
use crate::redis_server::{unique_namespace, TestRedis};
use crate::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use crate::worker::{WorkerOptions, WorkerRuntime};

/// The public demo API key (its SHA-256 is in `config/default.toml`).
pub const DEMO_API_KEY: &str = "kirim-demo-key";
/// The demo's operator-console login (added to the demo process's settings only).
pub const DEMO_CONSOLE_USER: &str = "demo";
pub const DEMO_CONSOLE_PASSWORD: &str = "kirim-demo";

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// A small batch (one of each interesting case) instead of the realistic one.
    pub quick: bool,
    /// Give up (non-zero exit) when payouts are still not final after this long.
    pub timeout: Duration,
    /// Booking → final status in the sandbox.
    pub settlement_delay: Duration,
    /// Address for the API (`127.0.0.1:0` = a free port).
    pub api_bind: String,
    /// Keep the stack up after the summary until `shutdown` resolves.
    pub keep_running: bool,
    /// Force plain progress lines even on a terminal.
    pub plain: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            quick: false,
            timeout: Duration::from_secs(60),
            settlement_delay: Duration::from_secs(2),
            api_bind: "127.0.0.1:0".into(),
            keep_running: false,
            plain: false,
        }
    }
}

/// Everything the demo started; [`Stack::stop`] stops it in order.
pub(super) struct Stack {
    pub(super) redis: TestRedis,
    pub(super) sandbox: SandboxHandle,
    pub(super) settings: Settings,
    pub(super) client: Client,
    pub(super) api_url: String,
    worker_stop: Option<oneshot::Sender<()>>,
    worker: Option<JoinHandle<anyhow::Result<()>>>,
    api_stop: Option<oneshot::Sender<()>>,
    api: Option<JoinHandle<std::io::Result<()>>>,
}

impl Stack {
    async fn stop(mut self) {
        if let Some(tx) = self.api_stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.api.take() {
            let _ = h.await;
        }
        if let Some(tx) = self.worker_stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.worker.take() {
            match h.await {
                Ok(Err(e)) => eprintln!("worker: {e:#}"),
                Err(e) => eprintln!("worker task: {e}"),
                Ok(Ok(())) => {}
            }
        }
        self.sandbox.shutdown().await;
        drop(self.redis);
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn sandbox_config(settings_dir: &std::path::Path) -> anyhow::Result<SandboxConfig> {
    let path = settings_dir.join("sandbox.toml");
    if path.exists() {
        Ok(SandboxConfig::load(&path)?)
    } else {
        Ok(SandboxConfig::repo_default()?)
    }
}

/// Start Redis, the sandbox, the workers and the API.
async fn start(mut settings: Settings, opts: &DemoOptions) -> anyhow::Result<Stack> {
    let redis = tokio::task::spawn_blocking(TestRedis::start)
        .await
        .context("starting Redis")??;
    settings.redis.url = redis.url().to_owned();
    settings.redis.namespace = unique_namespace("kirim-demo");

    // The sandbox calls back into the API and the API's clients call the sandbox,
    // so the API's address is fixed first.
    let (host, port) = match opts.api_bind.rsplit_once(':') {
        Some((h, p)) => (
            h.to_owned(),
            p.parse::<u16>()
                .with_context(|| format!("--api-bind {}: bad port", opts.api_bind))?,
        ),
        None => bail!("--api-bind {}: expected HOST:PORT", opts.api_bind),
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let port = if port == 0 { free_port()? } else { port };
        let api_base = format!("http://{host}:{port}");
        let mut cfg = sandbox_config(&crate::config::config_dir())?;
        cfg.port = 0;
        cfg.settlement_delay_ms = opts.settlement_delay.as_millis() as u64;
        cfg.cancel_ratio = 0.0;
        cfg.hang_max_ms = 10_000;
        cfg.shutdown_grace_ms = 500;
        cfg.faults.clear();
        cfg.ifortepay.callback_url = format!("{api_base}/callbacks/ifortepay");
        cfg.nicepay.notify_url = format!("{api_base}/callbacks/nicepay");
        cfg.singapay.webhook_url = format!("{api_base}/callbacks/singapay");
        let sandbox = Sandbox::start(cfg.clone()).await?;

        let mut s = settings.clone();
        tune(&mut s, &sandbox, &cfg);
        if !s.console.users.iter().any(|u| u.name == DEMO_CONSOLE_USER) {
            s.console.users.push(crate::config::ConsoleUser {
                name: DEMO_CONSOLE_USER.into(),
                role: crate::config::ConsoleRole::Operator,
                password_hash: crate::console::auth::hash_password(DEMO_CONSOLE_PASSWORD)
                    .map_err(anyhow::Error::msg)?,
            });
        }
        let client = Client::connect(&s).await?;
        let providers = crate::providers::build_all(&s.providers)?;
        let mut state = ApiState::new(&s, client.clone(), providers);
        state.console =
            crate::console::ConsoleState::from_settings(&s, client.clone())?.map(Arc::new);
        state.callbacks = Some(Arc::new(CallbackState::from_settings(&s, client.clone())));
        let server =
            match ApiServer::build(&format!("{host}:{port}"), state, s.api.max_body_bytes).await {
                Ok(server) => server,
                Err(e) if attempts < 5 && opts.api_bind.ends_with(":0") => {
                    tracing::debug!(error = %e, "API port taken; trying another");
                    sandbox.shutdown().await;
                    continue;
                }
                Err(e) => {
                    sandbox.shutdown().await;
                    return Err(e).with_context(|| format!("cannot bind the API on {host}:{port}"));
                }
            };
        let (api_tx, api_rx) = oneshot::channel::<()>();
        let api = tokio::spawn(server.run_until_stopped(async move {
            let _ = api_rx.await;
        }));

        let worker_providers = crate::providers::build_all(&s.providers)?;
        let runtime = WorkerRuntime::build(
            s.clone(),
            worker_providers,
            WorkerOptions {
                concurrency: 16,
                with_sweep: true,
            },
        )
        .await?;
        let (worker_tx, worker_rx) = oneshot::channel::<()>();
        let worker = tokio::spawn(runtime.run_until_stopped(async move {
            let _ = worker_rx.await;
        }));
        return Ok(Stack {
            redis,
            sandbox,
            settings: s,
            client,
            api_url: api_base,
            worker_stop: Some(worker_tx),
            worker: Some(worker),
            api_stop: Some(api_tx),
            api: Some(api),
        });
    }
}

/// Point the user's settings at the demo's sandbox and API, with demo timings.
fn tune(s: &mut Settings, sandbox: &SandboxHandle, cfg: &SandboxConfig) {
    let p = &mut s.providers;
    crate::sandbox::point_providers_at(p, sandbox);
    let names: Vec<String> = p.names().map(str::to_owned).collect();
    for name in &names {
        p.set(name, "enabled", true);
        // Short enough that the "timeout" payout is visible, long enough for RSA.
        p.set(name, "request_timeout_ms", 2_000u64);
        p.set(name, "connect_timeout_ms", 1_000u64);
    }
    p.set(
        "ifortepay",
        "callback_url",
        cfg.ifortepay.callback_url.clone(),
    );
    p.set("singapay", "webhook_url", cfg.singapay.webhook_url.clone());
    // The demo's Singapay story (timeout → not found → resubmitted) needs the v2.0
    // inquiry; the default is the documented v1.0 (docs/conformance/singapay.md).
    p.set("singapay", "api_version", "v2");
    s.worker.poll_interval_ms = 20;
    s.worker.backoff_base_ms = 100;
    s.worker.backoff_max_ms = 1_000;
    s.worker.shutdown_timeout_secs = 5;
    s.reconcile.tick_secs = 1;
    s.reconcile.schedule_secs = vec![1, 2, 5];
    s.reconcile.not_found_grace_secs = 2;
    s.reconcile.in_worker = true;
    // Demo events must not reach a real application.
    s.notify.url = String::new();
    let digest = hex::encode(Sha256::digest(DEMO_API_KEY.as_bytes()));
    if !s.api.keys.iter().any(|k| k.sha256 == digest) {
        s.api.keys.push(ApiKey {
            name: "demo".into(),
            sha256: digest,
        });
    }
    s.api.rate_limit_per_sec = s.api.rate_limit_per_sec.max(1_000);
    s.api.rate_limit_burst = s.api.rate_limit_burst.max(2_000);
}

/// Run the demo; `Ok(true)` when every payout reached its expected state.
pub async fn run<F>(settings: Settings, opts: DemoOptions, shutdown: F) -> anyhow::Result<bool>
where
    F: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let mut out = std::io::stdout();
    let live = !opts.plain && out.is_terminal();
    let cases = scenario::batch(opts.quick);
    println!(
        "kirim demo: {} payouts across iFortepay, NICEPAY and Singapay",
        cases.len()
    );
    let stack = start(settings, &opts).await?;
    println!(
        "  redis    {}{}",
        stack.settings.redis.url,
        if stack.redis.is_private() {
            " (private, temporary)"
        } else {
            " (REDIS_URL)"
        }
    );
    println!(
        "  sandbox  {}  (settles after {:.1} s)",
        stack.sandbox.url(""),
        opts.settlement_delay.as_secs_f64()
    );
    println!("  api      {}  (key {DEMO_API_KEY})", stack.api_url);
    println!(
        "  console  {}/ui/  (log in as {DEMO_CONSOLE_USER} / {DEMO_CONSOLE_PASSWORD})",
        stack.api_url
    );
    println!(
        "  workers  16 per job kind, reconciliation every {} s",
        stack.settings.reconcile.tick_secs
    );
    println!();

    tokio::pin!(shutdown);
    let mut interrupted = false;
    let result = tokio::select! {
        r = driver::drive(&stack, &cases, &opts, live, started) => r,
        _ = &mut shutdown => {
            interrupted = true;
            Err(anyhow::anyhow!("interrupted"))
        }
    };
    let ok = match result {
        Ok(rows) => report::report(&stack, &rows),
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            false
        }
    };
    if opts.keep_running && !interrupted {
        println!(
            "Operator console: {}/ui/  (user {DEMO_CONSOLE_USER}, password {DEMO_CONSOLE_PASSWORD}, role operator)",
            stack.api_url
        );
        println!("The stack stays up; press Ctrl-C to stop.");
        let _ = out.flush();
        shutdown.await;
    }
    stack.stop().await;
    Ok(ok)
}
