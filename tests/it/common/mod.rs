//! Shared test helpers: a real Redis (never a mock) and settings pointing at it.
#![allow(dead_code)]

use std::path::Path;

use kirim::config::Settings;
use kirim::redis_server::{unique_namespace, TestRedis};

/// Settings from config/default.toml with Redis pointed at `redis` and a namespace
/// unique to the test (so tests can share a `REDIS_URL` server).
/// An account the sandbox books and settles as SUCCESS.
pub const OK_ACCOUNT: &str = "8753293240";

pub fn settings_for(redis: &TestRedis) -> Settings {
    settings_for_url(redis.url(), redis.is_private())
}

/// [`settings_for`] a server at `url`; `private`: the test started it (and so set
/// it up for the default `redis.durability`).
pub fn settings_for_url(url: &str, private: bool) -> Settings {
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let mut s = Settings::load_from(&default, None, false).expect("default config loads");
    s.redis.url = url.to_owned();
    s.redis.namespace = unique_namespace("test");
    if !private {
        // A server from REDIS_URL is not ours to configure: do not demand its
        // `appendfsync always` (the private servers the tests start have it).
        s.redis.durability = kirim::durability::Durability::None;
    }
    s
}

pub fn redis() -> TestRedis {
    TestRedis::start().unwrap_or_else(|e| panic!("{e}"))
}

use std::future::Future;
use std::time::Duration;

use kirim::client::{Client, TransferOrder};
use kirim::domain::{
    AccountNumber, BankCode, Beneficiary, Money, PartnerReference, Provider, State,
};
use kirim::ledger::PayoutId;
use kirim::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use kirim::worker::{WorkerOptions, WorkerRuntime};
use serde_json::{json, Value};

/// Wait until `cond` holds, checking every 20 ms, failing after `timeout`.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    if !wait_until(timeout, cond).await {
        panic!("timed out waiting for {what}");
    }
}

/// Poll `cond` until it holds (true) or `timeout` passes (false), for a caller
/// that has more to say than [`wait_for`]'s message when it does not.
pub async fn wait_until<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A sandbox on port 0 with the given tuning; callbacks go nowhere unless set.
pub async fn sandbox(tune: impl FnOnce(&mut SandboxConfig)) -> SandboxHandle {
    let mut cfg = SandboxConfig::repo_default().expect("sandbox config");
    cfg.port = 0;
    cfg.settlement_delay_ms = 0;
    cfg.cancel_ratio = 0.0;
    cfg.shutdown_grace_ms = 100;
    cfg.ifortepay.callback_url = String::new();
    cfg.nicepay.notify_url = String::new();
    cfg.singapay.webhook_url = String::new();
    cfg.callbacks.max_attempts = 3;
    tune(&mut cfg);
    Sandbox::start(cfg).await.expect("sandbox starts")
}

/// Point provider base URLs at the sandbox and make timings test-sized.
pub fn point_at(settings: &mut Settings, sandbox: &SandboxHandle) {
    let p = &mut settings.providers;
    kirim::sandbox::point_providers_at(p, sandbox);
    // The shared end-to-end tests tell one story for every provider: a status
    // inquiry settles a payout, and the sandbox's booking counter, keyed by the
    // partner reference, proves it was paid once. Singapay v1.0 (the default, the
    // seed document) has neither a status inquiry nor a client reference, so these
    // tests pin v2 as the demo does; v1.0 has its own tests
    // (`providers::singapay`, `pipeline::singapay_v1_*`).
    p.set("singapay", "api_version", "v2");
    let names: Vec<String> = p.names().map(str::to_owned).collect();
    for name in &names {
        p.set(name, "request_timeout_ms", 2_000u64);
        p.set(name, "connect_timeout_ms", 1_000u64);
    }
    settings.worker.poll_interval_ms = 20;
    settings.worker.backoff_base_ms = 50;
    settings.worker.backoff_max_ms = 500;
    settings.reconcile.tick_secs = 1;
    settings.reconcile.schedule_secs = vec![1];
    settings.reconcile.not_found_grace_secs = 0;
    settings.reconcile.providers.clear();
}

/// Redis + sandbox + an in-process worker + a producer client.
pub struct App {
    pub redis: TestRedis,
    pub sandbox: SandboxHandle,
    pub settings: Settings,
    pub client: Client,
    pub admin: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    worker: Option<tokio::task::JoinHandle<()>>,
}

impl App {
    pub async fn spawn(
        tune_sandbox: impl FnOnce(&mut SandboxConfig),
        tune: impl FnOnce(&mut Settings),
    ) -> App {
        let redis = redis();
        let sandbox = sandbox(tune_sandbox).await;
        let mut settings = settings_for(&redis);
        point_at(&mut settings, &sandbox);
        tune(&mut settings);
        let client = Client::connect(&settings).await.expect("client connects");
        App {
            redis,
            sandbox,
            settings,
            client,
            admin: reqwest::Client::new(),
            stop: None,
            worker: None,
        }
    }

    /// Enqueue `n` iFortepay transfers `{prefix}-0` … to `account` in one bulk call;
    /// every one must be accepted.
    pub async fn enqueue_ifortepay(&self, prefix: &str, n: usize, account: &str) {
        let orders: Vec<_> = (0..n)
            .map(|i| {
                transfer(
                    kirim::providers::ifortepay::ID,
                    &format!("{prefix}-{i}"),
                    account,
                )
            })
            .collect();
        for r in self
            .client
            .enqueue_transfers(&orders)
            .await
            .expect("enqueue")
        {
            r.expect("accepted");
        }
    }

    /// Wait (up to `timeout`) until exactly `n` payouts are in `state`.
    pub async fn wait_for_count(&self, state: State, n: u64, timeout: Duration) {
        let ledger = self.client.ledger().clone();
        wait_for(&format!("{n} payouts {state:?}"), timeout, || async {
            ledger.count_by_state().await.expect("count")[&state] == n
        })
        .await;
    }

    /// Start an in-process worker (all job kinds, with the sweep).
    pub async fn start_worker(&mut self) {
        let providers = kirim::providers::build_all(&self.settings.providers).expect("providers");
        let rt = WorkerRuntime::build(
            self.settings.clone(),
            providers,
            WorkerOptions {
                concurrency: 16,
                with_sweep: true,
            },
        )
        .await
        .expect("worker builds");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(tx);
        self.worker = Some(tokio::spawn(async move {
            rt.run_until_stopped(async move {
                let _ = rx.await;
            })
            .await
            .expect("worker ran");
        }));
    }

    /// Graceful stop (as on SIGTERM), waiting for it to finish.
    pub async fn stop_worker(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.worker.take() {
            h.await.expect("worker task");
        }
    }

    pub async fn fault(&self, endpoint: &str, kind: &str, times: Option<u32>) {
        let mut rule = json!({"endpoint": endpoint, "kind": kind});
        if let Some(t) = times {
            rule["times"] = json!(t);
        }
        let r = self
            .admin
            .post(self.sandbox.url("/admin/faults"))
            .json(&rule)
            .send()
            .await
            .expect("admin reachable");
        assert!(
            r.status().is_success(),
            "fault refused: {}",
            r.text().await.unwrap_or_default()
        );
    }

    pub async fn clear_faults(&self) {
        let r = self
            .admin
            .put(self.sandbox.url("/admin/faults"))
            .json(&json!([]))
            .send()
            .await
            .expect("admin reachable");
        assert!(r.status().is_success());
    }

    /// How many times the sandbox booked `reference` (the never-paid-twice oracle).
    pub async fn booked(&self, provider: Provider, reference: &str) -> u64 {
        let v: Value = self
            .admin
            .get(
                self.sandbox
                    .url(&format!("/admin/bookings/{reference}?provider={provider}")),
            )
            .send()
            .await
            .expect("admin reachable")
            .json()
            .await
            .unwrap_or(Value::Null);
        v["booked_count"].as_u64().unwrap_or(0)
    }

    pub async fn settle_sandbox(&self) {
        let r = self
            .admin
            .post(self.sandbox.url("/admin/settle"))
            .send()
            .await
            .expect("admin");
        assert!(r.status().is_success());
    }

    pub async fn state(&self, id: &PayoutId) -> Option<State> {
        self.client
            .ledger()
            .get(id)
            .await
            .expect("ledger")
            .map(|p| p.state)
    }

    /// Wait until the payout is final or parked for review; its state then.
    pub async fn wait_final_or_review(&self, id: &PayoutId, timeout: Duration) -> State {
        let what = format!("{id} to be final or in review");
        wait_for(&what, timeout, || async {
            self.state(id)
                .await
                .is_some_and(|s| s.is_final() || s == State::NeedsReview)
        })
        .await;
        self.state(id).await.expect("payout")
    }

    pub async fn wait_state(&self, id: &PayoutId, want: State, timeout: Duration) {
        let what = format!("{id} to reach {want}");
        wait_for(&what, timeout, || async {
            self.state(id).await == Some(want)
        })
        .await;
    }
}

pub fn transfer(provider: Provider, reference: &str, account: &str) -> TransferOrder {
    TransferOrder {
        provider,
        partner_reference: PartnerReference::parse(reference).expect("reference"),
        amount: Money::parse("150000", "amount").expect("amount"),
        beneficiary: Beneficiary {
            account_no: AccountNumber::parse(account).expect("account"),
            bank_code: BankCode::parse("014").expect("bank"),
            name: "Budi Santoso".into(),
            email: None,
            // NICEPAY's registration requires a phone (beneficiaryPhone).
            phone: Some("081234567890".into()),
            address: None,
            residence: None,
            customer_type: None,
        },
        remark: Some("Gaji November".into()),
        verify_beneficiary_name: false,
    }
}

/// An in-process `kirim serve` on port 0 (with the callback receivers).
pub struct Api {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Api {
    /// Serve the API for `settings` as `kirim serve` does (callback receivers, and
    /// the console at `/ui`).
    pub async fn start(settings: &Settings) -> Api {
        let client = Client::connect(settings).await.expect("client connects");
        let providers = kirim::providers::build_all(&settings.providers).expect("providers");
        let mut state = kirim::api::ApiState::new(settings, client.clone(), providers);
        state.callbacks = Some(std::sync::Arc::new(
            kirim::callbacks::CallbackState::from_settings(settings, client.clone()),
        ));
        state.console = kirim::console::ConsoleState::from_settings(settings, client)
            .expect("console settings")
            .map(std::sync::Arc::new);
        let server =
            kirim::api::ApiServer::build("127.0.0.1:0", state, settings.api.max_body_bytes)
                .await
                .expect("API binds");
        let url = format!("http://{}", server.local_addr().expect("local addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run_until_stopped(async move {
                    let _ = rx.await;
                })
                .await
                .expect("API served");
        });
        Api {
            url,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Graceful stop, waiting for in-flight requests.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("API task");
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Environment for a `kirim worker` child process that shares `settings`' Redis and
/// namespace and talks to `sandbox`, with the test-sized timings of [`point_at`]
/// (plus a 1 s × 2 heartbeat, so a SIGKILLed worker's jobs are re-run after 2 s).
/// `extra` entries are appended and win over the defaults.
pub fn worker_env(
    settings: &Settings,
    sandbox: &SandboxHandle,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("KIRIM_REDIS__URL".into(), settings.redis.url.clone()),
        (
            "KIRIM_REDIS__NAMESPACE".into(),
            settings.redis.namespace.clone(),
        ),
        (
            "KIRIM_PROVIDERS__IFORTEPAY__BASE_URL".into(),
            sandbox.url("/ifortepay"),
        ),
        (
            "KIRIM_PROVIDERS__NICEPAY__BASE_URL".into(),
            sandbox.url("/nicepay"),
        ),
        (
            "KIRIM_PROVIDERS__SINGAPAY__BASE_URL".into(),
            sandbox.url("/singapay"),
        ),
        // As in `point_at`: the shared stories need Singapay's v2.0 inquiry.
        ("KIRIM_PROVIDERS__SINGAPAY__API_VERSION".into(), "v2".into()),
    ];
    let defaults = [
        ("KIRIM_PROVIDERS__IFORTEPAY__REQUEST_TIMEOUT_MS", "2000"),
        ("KIRIM_PROVIDERS__NICEPAY__REQUEST_TIMEOUT_MS", "2000"),
        ("KIRIM_PROVIDERS__SINGAPAY__REQUEST_TIMEOUT_MS", "2000"),
        ("KIRIM_WORKER__HEARTBEAT_SECS", "1"),
        ("KIRIM_WORKER__MISSED_HEARTBEATS", "2"),
        ("KIRIM_WORKER__POLL_INTERVAL_MS", "20"),
        ("KIRIM_WORKER__BACKOFF_BASE_MS", "50"),
        ("KIRIM_WORKER__BACKOFF_MAX_MS", "500"),
        ("KIRIM_WORKER__SHUTDOWN_TIMEOUT_SECS", "2"),
        ("KIRIM_RECONCILE__TICK_SECS", "1"),
        ("KIRIM_RECONCILE__SCHEDULE_SECS", "[1]"),
        ("KIRIM_RECONCILE__PROVIDERS__NICEPAY__SCHEDULE_SECS", "[1]"),
        ("KIRIM_RECONCILE__NOT_FOUND_GRACE_SECS", "0"),
        ("KIRIM_RECONCILE__STUCK_AFTER_SECS", "5"),
        ("KIRIM_LOG__FILTER", "warn"),
    ];
    env.extend(
        defaults
            .iter()
            .chain(extra.iter())
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

/// A `kirim worker` child process (the real binary). Killed with SIGKILL when
/// dropped. Its stderr goes to `log` (under the test's target tmp dir) for
/// post-mortems.
pub struct WorkerProcess {
    child: Option<std::process::Child>,
    pub log: std::path::PathBuf,
}

impl WorkerProcess {
    /// Start `kirim worker --concurrency 8` with `env` (see [`worker_env`]); `name`
    /// names the log file.
    pub fn spawn(name: &str, env: &[(String, String)]) -> WorkerProcess {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let log = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}-{}.log", std::process::id()));
        let stderr = std::fs::File::create(&log).expect("worker log file");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_kirim"))
            .args(["worker", "--concurrency", "8"])
            .current_dir(root)
            .env_remove("RUST_LOG")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("kirim worker starts");
        WorkerProcess {
            child: Some(child),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// SIGKILL (no chance to clean up) and reap.
    pub fn sigkill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.sigkill();
    }
}
