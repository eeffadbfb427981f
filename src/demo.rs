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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io::{IsTerminal, Write as _};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::{ApiServer, ApiState};
use crate::callbacks::CallbackState;
use crate::client::Client;
use crate::config::{ApiKey, Settings};
use crate::domain::{PartnerReference, Provider, State};
use crate::ledger::{HistoryEntry, Payout, PayoutId};
use crate::redis_server::{unique_namespace, TestRedis};
use crate::sandbox::{magic, Sandbox, SandboxConfig, SandboxHandle};
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

/// What one demo payout is.
#[derive(Debug, Clone)]
enum What {
    Transfer {
        account: &'static str,
        bank: &'static str,
        name: &'static str,
    },
    /// iFortepay direct debit (no OTP).
    Payment,
}

/// A sandbox fault that makes this payout's first request go wrong.
#[derive(Debug, Clone, Copy)]
struct Fault {
    endpoint: &'static str,
    kind: &'static str,
}

/// One payout of the batch, with the state it must end in.
#[derive(Debug, Clone)]
struct Case {
    reference: String,
    provider: Provider,
    amount: &'static str,
    what: What,
    expected: State,
    fault: Option<Fault>,
    story: &'static str,
}

const BENEFICIARIES: [(&str, &str, &str); 6] = [
    ("8753293240", "014", "Budi Santoso"),
    ("1234567890", "008", "Siti Rahmawati"),
    ("0987654321", "009", "Agus Wijaya"),
    ("5550001112", "002", "Dewi Lestari"),
    ("7001234567", "014", "Rina Kusuma"),
    ("3141592653", "451", "Hendra Gunawan"),
];

const AMOUNTS: [&str; 6] = [
    "150000.00",
    "2750000.00",
    "48500.50",
    "1000000.00",
    "325000.00",
    "12500000.00",
];

fn short(p: Provider) -> &'static str {
    match p {
        Provider::Ifortepay => "IFP",
        Provider::Nicepay => "NCP",
        Provider::Singapay => "SGP",
    }
}

/// The batch: per provider some successes, a cancellation and a refusal, plus one
/// payout per provider whose outcome a fault makes unknown.
fn batch(quick: bool) -> Vec<Case> {
    let mut cases = Vec::new();
    let successes = if quick { 1 } else { 4 };
    for (pi, p) in Provider::ALL.into_iter().enumerate() {
        let mut n = 0;
        let mut next_ref = || {
            n += 1;
            format!("DEMO-{}-{n:03}", short(p))
        };
        // The faulted payout first: its endpoint's next request is the one that fails.
        let fault = match p {
            Provider::Ifortepay => (
                Fault {
                    endpoint: "ifortepay.transfer",
                    kind: "error_500_after",
                },
                "HTTP 500 after booking; inquired",
            ),
            Provider::Nicepay => (
                Fault {
                    endpoint: "nicepay.approve",
                    kind: "close_after",
                },
                "connection dropped after booking; inquired",
            ),
            Provider::Singapay => (
                Fault {
                    endpoint: "singapay.transfer_v2",
                    kind: "hang",
                },
                "timed out; not found; resubmitted",
            ),
        };
        if !quick || p == Provider::Ifortepay || p == Provider::Singapay {
            let (acc, bank, name) = BENEFICIARIES[pi];
            cases.push(Case {
                reference: next_ref(),
                provider: p,
                amount: "500000.00",
                what: What::Transfer {
                    account: acc,
                    bank,
                    name,
                },
                expected: State::Succeeded,
                fault: Some(fault.0),
                story: fault.1,
            });
        }
        for i in 0..successes {
            let (acc, bank, name) = BENEFICIARIES[(pi + i + 1) % BENEFICIARIES.len()];
            cases.push(Case {
                reference: next_ref(),
                provider: p,
                amount: AMOUNTS[(pi * 2 + i) % AMOUNTS.len()],
                what: What::Transfer {
                    account: acc,
                    bank,
                    name,
                },
                expected: State::Succeeded,
                fault: None,
                story: "paid",
            });
        }
        if !quick || p == Provider::Ifortepay {
            // NICEPAY reports a cancelled (refunded) transfer as 09 "Failed".
            let (expected, story) = match p {
                Provider::Nicepay => (State::Failed, "cancelled (NICEPAY reports 09)"),
                _ => (State::Cancelled, "cancelled by the provider"),
            };
            cases.push(Case {
                reference: next_ref(),
                provider: p,
                amount: "75000.00",
                what: What::Transfer {
                    account: magic::ALWAYS_CANCEL,
                    bank: "014",
                    name: "Joko Susilo",
                },
                expected,
                fault: None,
                story,
            });
        }
        if !quick || p == Provider::Nicepay {
            cases.push(Case {
                reference: next_ref(),
                provider: p,
                amount: "99000.00",
                what: What::Transfer {
                    account: magic::INVALID_ACCOUNT,
                    bank: "014",
                    name: "Nama Salah",
                },
                expected: State::Failed,
                fault: None,
                story: "invalid account",
            });
        }
        if !quick && p == Provider::Singapay {
            cases.push(Case {
                reference: next_ref(),
                provider: p,
                amount: "4200000.00",
                what: What::Transfer {
                    account: magic::INSUFFICIENT_FUNDS,
                    bank: "009",
                    name: "Wahyu Pratama",
                },
                expected: State::Failed,
                fault: None,
                story: "insufficient funds",
            });
        }
        if !quick && p == Provider::Ifortepay {
            cases.push(Case {
                reference: "DEMO-DD-001".into(),
                provider: p,
                amount: "250000.00",
                what: What::Payment,
                expected: State::Succeeded,
                fault: None,
                story: "direct debit (no OTP)",
            });
        }
    }
    cases
}

/// Everything the demo started; [`Stack::stop`] stops it in order.
struct Stack {
    redis: TestRedis,
    sandbox: SandboxHandle,
    settings: Settings,
    client: Client,
    api_url: String,
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

fn request_body(c: &Case) -> (&'static str, Value) {
    match &c.what {
        What::Transfer {
            account,
            bank,
            name,
        } => (
            "/v1/transfers",
            json!({
                "provider": c.provider.as_str(),
                "partnerReferenceNo": c.reference,
                "amount": {"value": c.amount, "currency": "IDR"},
                "beneficiary": {"accountNo": account, "bankCode": bank, "name": name},
                "remark": "kirim demo",
            }),
        ),
        What::Payment => (
            "/v1/payments",
            json!({
                "provider": c.provider.as_str(),
                "partnerReferenceNo": c.reference,
                "amount": {"value": c.amount, "currency": "IDR"},
                // A sandbox card token (the sandbox accepts any opaque token).
                "bankCardToken": "demo-card-token-0001",
                "payOption": "BRI",
                "remarks": "kirim demo",
            }),
        ),
    }
}

/// POST one payout through the API with the demo key.
async fn submit(http: &reqwest::Client, api: &str, c: &Case) -> anyhow::Result<PayoutId> {
    let (path, body) = request_body(c);
    let resp = http
        .post(format!("{api}{path}"))
        .header("X-API-Key", DEMO_API_KEY)
        .header("Idempotency-Key", &c.reference)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {path} for {}", c.reference))?;
    let status = resp.status();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "POST {path} for {} answered {status}: {answer}",
            c.reference
        );
    }
    Ok(PayoutId::new(
        c.provider,
        PartnerReference::parse(&c.reference)?,
    ))
}

async fn add_fault(
    http: &reqwest::Client,
    sandbox: &SandboxHandle,
    f: Fault,
) -> anyhow::Result<()> {
    let resp = http
        .post(sandbox.url("/admin/faults"))
        .json(&json!({"endpoint": f.endpoint, "kind": f.kind, "times": 1}))
        .send()
        .await
        .context("sandbox admin")?;
    if !resp.status().is_success() {
        bail!(
            "sandbox refused fault {} {}: {}",
            f.endpoint,
            f.kind,
            resp.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// Wait until every injected fault has fired (so no other payout meets one).
async fn faults_consumed(http: &reqwest::Client, sandbox: &SandboxHandle) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rules: Value = http
            .get(sandbox.url("/admin/faults"))
            .send()
            .await
            .context("sandbox admin")?
            .json()
            .await
            .context("sandbox admin")?;
        if rules.as_array().is_some_and(Vec::is_empty) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the injected faults never fired: {rules}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the summary shows for one payout.
struct Row {
    case: Case,
    id: PayoutId,
    payout: Option<Payout>,
    history: Vec<HistoryEntry>,
    /// How many times the sandbox booked (moved money for) this reference.
    booked: u32,
}

impl Row {
    fn state(&self) -> Option<State> {
        self.payout.as_ref().map(|p| p.state)
    }

    fn is_final(&self) -> bool {
        self.state().is_some_and(State::is_final)
    }

    fn ok(&self) -> bool {
        self.state() == Some(self.case.expected) && self.booked <= 1
    }

    /// The states it went through, e.g. `SUBMITTING→UNKNOWN→PENDING→SUCCEEDED`.
    fn path(&self) -> String {
        let mut out: Vec<&str> = Vec::new();
        for e in &self.history {
            if let Some(to) = e.to.filter(|s| *s != State::Accepted || !out.is_empty()) {
                if out.last() != Some(&to.as_str()) {
                    out.push(to.as_str());
                }
            }
        }
        out.join("→")
    }

    /// How the final state was learned: the submit response, an inquiry or a callback.
    fn settled_by(&self) -> &str {
        self.history
            .iter()
            .rev()
            .find(|e| e.to.is_some_and(State::is_final))
            .map(|e| e.event.as_str())
            .unwrap_or("-")
    }

    fn seconds(&self) -> Option<f64> {
        let p = self.payout.as_ref()?;
        let end = self
            .history
            .iter()
            .rev()
            .find(|e| e.to.is_some_and(State::is_final))?
            .at;
        Some((end - p.meta.created_at).max(0) as f64 / 1000.0)
    }
}

/// The live table: counts by state per provider.
fn progress_table(rows: &[Row], elapsed: Duration) -> Vec<String> {
    const COLS: [(State, &str); 8] = [
        (State::Accepted, "ACCEPT"),
        (State::Submitting, "SUBMIT"),
        (State::Pending, "PENDING"),
        (State::Unknown, "UNKNOWN"),
        (State::NeedsReview, "REVIEW"),
        (State::Succeeded, "SUCCESS"),
        (State::Cancelled, "CANCEL"),
        (State::Failed, "FAILED"),
    ];
    let mut lines = Vec::new();
    let mut head = format!("{:<9}", "provider");
    for (_, name) in COLS {
        let _ = write!(head, " {name:>7}");
    }
    let _ = write!(head, " {:>5}", "final");
    lines.push(head);
    let mut totals = [0usize; 8];
    let (mut all_final, mut all) = (0, 0);
    for p in Provider::ALL {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.case.provider == p).collect();
        let mut line = format!("{:<9}", p.as_str());
        for (i, (s, _)) in COLS.iter().enumerate() {
            let n = mine.iter().filter(|r| r.state() == Some(*s)).count();
            totals[i] += n;
            let _ = write!(line, " {n:>7}");
        }
        let f = mine.iter().filter(|r| r.is_final()).count();
        all_final += f;
        all += mine.len();
        let _ = write!(line, " {:>5}", format!("{f}/{}", mine.len()));
        lines.push(line);
    }
    let mut line = format!("{:<9}", "total");
    for n in totals {
        let _ = write!(line, " {n:>7}");
    }
    let _ = write!(line, " {:>5}", format!("{all_final}/{all}"));
    lines.push(line);
    lines.push(format!("elapsed {:.1} s", elapsed.as_secs_f64()));
    lines
}

/// Plain one-line progress for logs and pipes.
fn progress_line(rows: &[Row], elapsed: Duration) -> String {
    let mut counts: BTreeMap<State, usize> = BTreeMap::new();
    for r in rows {
        if let Some(s) = r.state() {
            *counts.entry(s).or_default() += 1;
        }
    }
    let finals = rows.iter().filter(|r| r.is_final()).count();
    let mut line = format!(
        "[{:>5.1}s] final {finals}/{}:",
        elapsed.as_secs_f64(),
        rows.len()
    );
    for (s, n) in counts {
        let _ = write!(line, " {}={n}", s.as_str());
    }
    line
}

async fn refresh(client: &Client, rows: &mut [Row]) -> anyhow::Result<()> {
    for r in rows.iter_mut() {
        if r.is_final() {
            continue;
        }
        r.payout = client.ledger().get(&r.id).await?;
        if r.is_final() {
            r.history = client.ledger().history(&r.id).await?;
        }
    }
    Ok(())
}

fn table(head: &[&str], body: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in body {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(c.chars().count());
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        s
    };
    let mut out = line(head.to_vec());
    out.push('\n');
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    out.push('\n');
    for row in body {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

fn summary(rows: &[Row]) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                if r.ok() { "ok" } else { "MISMATCH" }.to_owned(),
                r.case.reference.clone(),
                r.case.provider.as_str().to_owned(),
                r.case.amount.to_owned(),
                r.case.expected.as_str().to_owned(),
                r.state().map_or("-", State::as_str).to_owned(),
                r.settled_by().to_owned(),
                r.seconds().map_or("-".into(), |s| format!("{s:.1}s")),
                r.booked.to_string(),
                r.payout
                    .as_ref()
                    .map(|p| p.external_ids.join(","))
                    .unwrap_or_default(),
                r.path(),
                r.case.story.to_owned(),
            ]
        })
        .collect();
    table(
        &[
            "",
            "reference",
            "provider",
            "amount",
            "expected",
            "actual",
            "via",
            "time",
            "booked",
            "X-EXTERNAL-ID",
            "states",
            "what happened",
        ],
        &body,
    )
}

/// Run the demo; `Ok(true)` when every payout reached its expected state.
pub async fn run<F>(settings: Settings, opts: DemoOptions, shutdown: F) -> anyhow::Result<bool>
where
    F: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let mut out = std::io::stdout();
    let live = !opts.plain && out.is_terminal();
    let cases = batch(opts.quick);
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
        r = drive(&stack, &cases, &opts, live, started) => r,
        _ = &mut shutdown => {
            interrupted = true;
            Err(anyhow::anyhow!("interrupted"))
        }
    };
    let ok = match result {
        Ok(rows) => report(&stack, &rows),
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

/// Enqueue the batch and follow it until every payout is final or time runs out.
async fn drive(
    stack: &Stack,
    cases: &[Case],
    opts: &DemoOptions,
    live: bool,
    started: Instant,
) -> anyhow::Result<Vec<Row>> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    // An account inquiry first: the synchronous API call.
    let inquiry = http
        .post(format!("{}/v1/account-inquiries", stack.api_url))
        .header("X-API-Key", DEMO_API_KEY)
        .json(&json!({"provider": "ifortepay", "bankCode": "014", "accountNo": "8753293240"}))
        .send()
        .await
        .context("account inquiry")?;
    let status = inquiry.status();
    let info: Value = inquiry.json().await.unwrap_or(Value::Null);
    println!(
        "account inquiry 014/8753293240 via ifortepay: {status} {}",
        info.get("account_name")
            .and_then(Value::as_str)
            .unwrap_or("?")
    );

    let mut rows = Vec::with_capacity(cases.len());
    // Faulted payouts go first, alone on their endpoints, so the fault hits them.
    for c in cases.iter().filter(|c| c.fault.is_some()) {
        if let Some(f) = c.fault {
            add_fault(&http, &stack.sandbox, f).await?;
        }
        rows.push(Row {
            case: c.clone(),
            id: submit(&http, &stack.api_url, c).await?,
            payout: None,
            history: Vec::new(),
            booked: 0,
        });
    }
    faults_consumed(&http, &stack.sandbox).await?;
    for c in cases.iter().filter(|c| c.fault.is_none()) {
        rows.push(Row {
            case: c.clone(),
            id: submit(&http, &stack.api_url, c).await?,
            payout: None,
            history: Vec::new(),
            booked: 0,
        });
    }
    // Same order as the batch in the summary.
    rows.sort_by_key(|r| cases.iter().position(|c| c.reference == r.case.reference));
    println!(
        "enqueued {} payouts through POST /v1/transfers and /v1/payments",
        rows.len()
    );
    println!();

    let deadline = Instant::now() + opts.timeout;
    let mut drawn = 0usize;
    let mut last_line = Instant::now() - Duration::from_secs(10);
    let mut stdout = std::io::stdout();
    loop {
        refresh(&stack.client, &mut rows).await?;
        let done = rows.iter().all(Row::is_final);
        let elapsed = started.elapsed();
        if live {
            let lines = progress_table(&rows, elapsed);
            let mut buf = String::new();
            if drawn > 0 {
                let _ = write!(buf, "\x1b[{drawn}A");
            }
            for l in &lines {
                let _ = writeln!(buf, "\x1b[2K{l}");
            }
            drawn = lines.len();
            let _ = stdout.write_all(buf.as_bytes());
            let _ = stdout.flush();
        } else if done || last_line.elapsed() >= Duration::from_secs(1) {
            println!("{}", progress_line(&rows, elapsed));
            last_line = Instant::now();
        }
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !live {
        println!();
        for l in progress_table(&rows, started.elapsed()) {
            println!("{l}");
        }
    }
    for r in rows.iter_mut() {
        // Histories of payouts that did not finish, for the summary.
        if !r.is_final() {
            r.history = stack.client.ledger().history(&r.id).await?;
        }
        // The sandbox's books: the never-paid-twice oracle.
        r.booked = stack
            .sandbox
            .state()
            .bookings_for(r.case.reference.as_str())
            .iter()
            .filter(|b| b.provider == r.case.provider)
            .map(|b| b.booked_count)
            .sum();
    }
    Ok(rows)
}

/// Print the summary and pointers; true if every payout is as expected.
fn report(stack: &Stack, rows: &[Row]) -> bool {
    println!();
    print!("{}", summary(rows));
    let bad: Vec<&Row> = rows.iter().filter(|r| !r.ok()).collect();
    let api = &stack.api_url;
    let example = rows
        .iter()
        .find(|r| r.case.fault.is_some())
        .or(rows.first())
        .map(|r| r.case.reference.clone())
        .unwrap_or_default();
    println!();
    println!("Try (while the stack is up; `kirim demo --keep-running` keeps it up):");
    println!("  curl -s -H 'X-API-Key: {DEMO_API_KEY}' {api}/v1/transfers/{example}");
    println!(
        "  curl -s -H 'X-API-Key: {DEMO_API_KEY}' '{api}/v1/transfers?state=SUCCEEDED&limit=5'"
    );
    println!("  curl -s {api}/metrics");
    println!(
        "  KIRIM_REDIS__URL={} KIRIM_REDIS__NAMESPACE='{}' kirim status {example}",
        stack.settings.redis.url, stack.settings.redis.namespace
    );
    println!();
    if bad.is_empty() {
        println!(
            "All {} payouts reached their expected state, and the sandbox booked none twice.",
            rows.len()
        );
        true
    } else {
        println!("{} payout(s) did not reach the expected state:", bad.len());
        for r in bad {
            println!(
                "  {} ({}): expected {}, is {}, booked {} time(s)",
                r.case.reference,
                r.case.provider,
                r.case.expected.as_str(),
                r.state().map_or("missing", State::as_str),
                r.booked
            );
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_provider_and_outcome() {
        for quick in [false, true] {
            let b = batch(quick);
            for p in Provider::ALL {
                assert!(b.iter().any(|c| c.provider == p), "{p} in batch");
            }
            for s in [State::Succeeded, State::Cancelled, State::Failed] {
                assert!(
                    b.iter().any(|c| c.expected == s),
                    "{s:?} expected somewhere"
                );
            }
            assert!(b.iter().any(|c| c.fault.is_some()));
            let mut refs: Vec<_> = b
                .iter()
                .map(|c| (c.provider, c.reference.clone()))
                .collect();
            refs.sort();
            refs.dedup();
            assert_eq!(refs.len(), b.len(), "references are unique");
            // One fault per endpoint, or a fault could hit the wrong payout.
            let mut eps: Vec<_> = b
                .iter()
                .filter_map(|c| c.fault)
                .map(|f| f.endpoint)
                .collect();
            let n = eps.len();
            eps.sort();
            eps.dedup();
            assert_eq!(eps.len(), n);
        }
        assert!(batch(false).len() >= 20, "the default batch is realistic");
    }

    #[test]
    fn tables_align() {
        let t = table(&["a", "bbb"], &[vec!["xxxx".into(), "y".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "a     bbb");
        assert_eq!(lines[2], "xxxx  y");
    }
}
