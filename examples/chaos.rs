//! The chaos run (issue 13, item 6): N payouts offered through the HTTP API while
//! `kirim worker` processes are SIGKILLed, the Redis primary is SIGKILLed (and, where
//! it runs `appendfsync everysec`, loses the last second of its AOF, as in a machine
//! crash; in the `replicas` modes the sentinels fail over to a replica and the old
//! primary comes back as a replica), the providers are down for a while,
//! forged and duplicated callbacks arrive and the sandbox answers 429/500/timeouts
//! and drops connections. Afterwards the sandbox's books are compared with the
//! ledger. `scripts/chaos.sh` builds and runs it; docs/crash-test.md has results.
//!
//! ```text
//! cargo run --release --example chaos -- --payouts 10000 --durability all
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use futures::StreamExt;
use kirim::client::Client;
use kirim::config::Settings;
use kirim::domain::{Provider, State};
use kirim::durability::Durability;
use kirim::ledger::{Ledger, PayoutId};
use kirim::redis_server::ha::{binary_version, HaOptions, HaTopology, RedisNode};
use kirim::redis_server::server_binary;
use kirim::sandbox::state::{Kind, Status};
use kirim::sandbox::{Booking, FaultRule, Sandbox, SandboxConfig, SandboxHandle};
use rand::RngExt;
use serde_json::json;

const API_KEY: &str = "kirim-demo-key";
const ACCOUNT: &str = "8753293240";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Modes {
    Fsync,
    None,
    Replicas,
    #[value(name = "replicas_fsync")]
    ReplicasFsync,
    All,
}

#[derive(Debug, Parser)]
#[command(about = "kirim chaos run: SIGKILLs, a Redis crash, a provider outage, forged callbacks")]
struct Args {
    /// Payouts offered per durability mode (spread over the three providers).
    #[arg(long, default_value_t = 10_000)]
    payouts: usize,
    /// Which durability mode(s) to run.
    #[arg(long, value_enum, default_value_t = Modes::All)]
    durability: Modes,
    /// How long the providers refuse connections.
    #[arg(long, default_value_t = 60)]
    outage_secs: u64,
    /// `kirim worker` processes kept running.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// The kirim binary (default: next to this example, i.e. target/<profile>/kirim).
    #[arg(long)]
    kirim: Option<PathBuf>,
    /// Concurrent API clients offering payouts.
    #[arg(long, default_value_t = 32)]
    producers: usize,
    /// Give up waiting for all payouts to be final after this long (after the faults end).
    #[arg(long, default_value_t = 900)]
    settle_deadline_secs: u64,
    /// The server for mode `replicas_fsync`, which needs `WAITAOF` (Redis ≥ 7.2 or
    /// Valkey); default: `valkey-server` when on PATH, else the Redis server.
    #[arg(long)]
    waitaof_server: Option<String>,
}

#[derive(Debug, Default)]
struct Report {
    mode: &'static str,
    offered: usize,
    acknowledged: usize,
    booked_twice: usize,
    lost: usize,
    lost_booked: usize,
    not_final: usize,
    wrongly_final: usize,
    in_ledger_not_acked: usize,
    booked_not_in_ledger: usize,
    succeeded: usize,
    cancelled_or_failed: usize,
    worker_kills: usize,
    /// Workers that exited by themselves and were started again.
    worker_exits: usize,
    aof_bytes_dropped: u64,
    /// Seconds from the primary's SIGKILL to the sentinels naming a new one (`replicas` modes).
    failover_secs: Option<f64>,
    forged_sent: u64,
    forged_accepted: u64,
    duplicate_callbacks: usize,
    bad_signature_callbacks: usize,
    not_final_states: std::collections::BTreeMap<String, usize>,
    /// Final payouts in their cold form at the end (compacted during the run).
    cold: usize,
    /// Final payouts whose audit trail does not read back or lacks the move to
    /// their final state.
    trail_bad: usize,
    offer_secs: f64,
    settle_secs: f64,
    secs: f64,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The ledger Redis: one server (`fsync`, `none`) or a primary with two replicas
/// and three sentinels (`replicas`, `replicas_fsync`).
enum Store {
    Single(RedisNode),
    Ha(HaTopology),
}

impl Store {
    async fn start(mode: Durability, binary: &str) -> anyhow::Result<Store> {
        let fsync = appendfsync(mode);
        let node_args: Vec<String> = [
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            fsync,
            // No rewrite mid-run: the tail we cut must be in the last incr file.
            "--auto-aof-rewrite-percentage",
            "0",
            "--aof-load-truncated",
            "yes",
        ]
        .map(str::to_owned)
        .to_vec();
        Ok(match mode {
            Durability::Fsync | Durability::None => {
                Store::Single(RedisNode::start(binary, &node_args).context("start redis-server")?)
            }
            Durability::Replicas | Durability::ReplicasFsync => Store::Ha(
                HaTopology::start(&HaOptions {
                    binary: binary.to_owned(),
                    replicas: 2,
                    node_args,
                })
                .await
                .context("start a primary, two replicas and three sentinels")?,
            ),
        })
    }

    /// The first primary (what kirim's URL names; in Sentinel mode only its db counts).
    fn first(&self) -> &RedisNode {
        match self {
            Store::Single(n) => n,
            Store::Ha(t) => &t.nodes[0],
        }
    }
}

/// What each node runs: `always` where the mode relies on the server's own fsync
/// (`fsync`; `replicas_fsync`, whose `WAITAOF` would otherwise wait up to a second
/// for every write), `everysec` where it does not (`none`; `replicas`, which relies
/// on a replica's copy).
fn appendfsync(mode: Durability) -> &'static str {
    match mode {
        Durability::Fsync | Durability::ReplicasFsync => "always",
        Durability::None | Durability::Replicas => "everysec",
    }
}

/// The `kirim worker` processes.
struct Fleet {
    bin: PathBuf,
    root: PathBuf,
    env: Vec<(String, String)>,
    children: Vec<Child>,
    killed: usize,
    /// Workers that exited on their own (not SIGKILLed by us).
    exited: Vec<String>,
    /// Each worker's stderr goes to a file here.
    logs: PathBuf,
    spawned: usize,
}

impl Fleet {
    fn spawn(&mut self) -> anyhow::Result<()> {
        self.spawned += 1;
        let log = self.logs.join(format!("worker-{}.log", self.spawned));
        let stderr =
            std::fs::File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let child = Command::new(&self.bin)
            .args(["worker", "--concurrency", "16"])
            .current_dir(&self.root)
            .env_remove("RUST_LOG")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("spawn {}", self.bin.display()))?;
        self.children.push(child);
        Ok(())
    }

    /// Replace workers that exited on their own (e.g. Redis gone at start-up), as
    /// a process supervisor (systemd, Kubernetes) would.
    fn keep(&mut self, n: usize) -> anyhow::Result<()> {
        let mut exited = Vec::new();
        self.children.retain_mut(|c| match c.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                exited.push(format!("pid {}: {status}", c.id()));
                false
            }
            Err(_) => false,
        });
        for e in exited {
            eprintln!("worker exited on its own ({e}); starting another");
            self.exited.push(e);
        }
        while self.children.len() < n {
            self.spawn()?;
        }
        Ok(())
    }

    fn kill_one(&mut self) {
        if self.children.is_empty() {
            return;
        }
        let i = rand::rng().random_range(0..self.children.len());
        let mut c = self.children.remove(i);
        let _ = c.kill(); // SIGKILL
        let _ = c.wait();
        self.killed += 1;
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn rule(endpoint: &str, kind: &str, p: f64) -> anyhow::Result<FaultRule> {
    let mut v = json!({"endpoint": endpoint, "kind": kind, "probability": p});
    if kind == "latency" {
        v["latency_ms"] = json!(100);
    }
    serde_json::from_value(v).with_context(|| format!("fault rule {endpoint} {kind}"))
}

fn faults() -> anyhow::Result<Vec<FaultRule>> {
    [
        ("ifortepay.transfer", "too_many_requests", 0.05),
        ("ifortepay.transfer", "error_500_after", 0.05),
        ("ifortepay.transfer", "close_after", 0.05),
        ("ifortepay.transfer", "hang", 0.02),
        ("nicepay.registration", "error_500_after", 0.05),
        ("nicepay.approve", "too_many_requests", 0.05),
        ("nicepay.approve", "close_after", 0.05),
        ("nicepay.approve", "hang", 0.02),
        ("singapay.transfer_v2", "too_many_requests", 0.05),
        ("singapay.transfer_v2", "error_500_after", 0.05),
        ("singapay.transfer_v2", "close_after", 0.05),
        ("singapay.transfer_v2", "hang", 0.02),
        ("*", "error_500_before", 0.02),
        ("*", "latency", 0.1),
        ("callbacks.*", "duplicate", 0.3),
        ("callbacks.*", "bad_signature", 0.1),
    ]
    .into_iter()
    .map(|(e, k, p)| rule(e, k, p))
    .collect()
}

fn reference(i: usize) -> String {
    format!("CHAOS-{i:06}")
}

fn provider_of(i: usize) -> Provider {
    let ids = kirim::providers::builtin_ids();
    ids[i % ids.len()]
}

/// What the sandbox's books say about one payout: every record of it summed (a
/// NICEPAY payout whose registration answer was lost has an unapproved registration
/// and one under a derived `{reference}R…`, mapped back by
/// [`Booking::payout_reference`], as tests/it/crash.rs does), and the status of the
/// record that moved money (else of any record).
#[derive(Debug, Clone, Copy)]
struct PayoutBooks {
    /// Money-moving records over all of the payout's records (1 = paid once).
    booked: u32,
    status: Status,
}

impl PayoutBooks {
    fn paid(&self) -> bool {
        self.booked > 0 && self.status == Status::Success
    }
}

/// The books per payout: `(provider, kind, payout reference)`.
fn books_by_payout(books: &[Booking]) -> HashMap<(Provider, Kind, String), PayoutBooks> {
    let mut by: HashMap<(Provider, Kind, String), PayoutBooks> = HashMap::new();
    for b in books {
        let key = (b.provider, b.kind, b.payout_reference().to_owned());
        match by.get_mut(&key) {
            None => {
                by.insert(
                    key,
                    PayoutBooks {
                        booked: b.booked_count,
                        status: b.status,
                    },
                );
            }
            Some(p) => {
                if p.booked == 0 && b.booked_count > 0 {
                    p.status = b.status;
                }
                p.booked += b.booked_count;
            }
        }
    }
    by
}

/// Payout `i`'s transfer in the books, if the provider has any record of it.
fn transfer_books(
    by: &HashMap<(Provider, Kind, String), PayoutBooks>,
    i: usize,
) -> Option<PayoutBooks> {
    by.get(&(provider_of(i), Kind::Transfer, reference(i)))
        .copied()
}

fn payout_id(i: usize) -> anyhow::Result<PayoutId> {
    format!("{}:{}", provider_of(i), reference(i))
        .parse()
        .map_err(|e| anyhow!("payout id {i}: {e:?}"))
}

/// POST /v1/transfers until the API acknowledges (201/200) or `deadline`.
async fn offer(http: &reqwest::Client, api: &str, i: usize, deadline: Instant) -> bool {
    let body = json!({
        "provider": provider_of(i).to_string(),
        "partnerReferenceNo": reference(i),
        "amount": {"value": "150000.00", "currency": "IDR"},
        // NICEPAY's registration requires a phone.
        "beneficiary": {"accountNo": ACCOUNT, "bankCode": "014", "name": "Budi Santoso",
                        "phone": "081234567890"},
        "remark": "chaos"
    });
    loop {
        let r = http
            .post(format!("{api}/v1/transfers"))
            .header("X-API-Key", API_KEY)
            .json(&body)
            .send()
            .await;
        match r {
            Ok(resp) if resp.status().as_u16() == 201 || resp.status().as_u16() == 200 => {
                return true
            }
            Ok(resp) if resp.status().is_client_error() && resp.status().as_u16() != 429 => {
                eprintln!(
                    "offer {}: refused {} {}",
                    reference(i),
                    resp.status(),
                    resp.text().await.unwrap_or_default()
                );
                return false;
            }
            _ => {}
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A callback claiming a final status, with a signature nobody made.
async fn forge(http: &reqwest::Client, api: &str, i: usize) -> Option<u16> {
    let now = chrono::Utc::now();
    let snap_ts = now
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600)?)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string();
    let r = reference(i);
    let (path, body, ts) = match provider_of(i) {
        kirim::providers::ifortepay::ID => (
            "/callbacks/ifortepay",
            json!({"partnerReferenceNo": r, "additionalInfo": {"status": "CANCELLED"}}),
            snap_ts,
        ),
        kirim::providers::nicepay::ID => (
            "/callbacks/nicepay",
            json!({"originalPartnerReferenceNo": r, "latestTransactionStatus": "04"}),
            snap_ts,
        ),
        _ => (
            "/callbacks/singapay",
            json!({"data": {"reference_number": r, "transaction_status": {"code": "05"}}}),
            now.timestamp().to_string(),
        ),
    };
    let resp = http
        .post(format!("{api}{path}"))
        .header("X-TIMESTAMP", ts)
        .header("X-SIGNATURE", "Zm9yZ2VkLXNpZ25hdHVyZQ==")
        .header("X-VERSION", "1.0")
        .json(&body)
        .send()
        .await
        .ok()?;
    Some(resp.status().as_u16())
}

fn settings_for(
    root: &Path,
    store: &Store,
    namespace: &str,
    mode: Durability,
) -> anyhow::Result<Settings> {
    let mut s = Settings::load_from(&root.join("config/default.toml"), None, false)
        .map_err(|e| anyhow!("config/default.toml: {e}"))?;
    s.redis.url = store.first().url();
    s.redis.namespace = namespace.to_owned();
    s.redis.durability = mode;
    if let Store::Ha(t) = store {
        s.redis.sentinel = Some(t.sentinel_settings());
        s.redis.replicas = 1;
    }
    // Singapay v2: a v1.0 transfer carries no reference of ours, so a resend could
    // not be told from a new transfer by anyone — kirim never resends one (it waits
    // for the webhook), and this oracle could not attribute its bookings. v1's
    // webhook matching has its own test (reconcile::callbacks).
    s.providers.set("singapay", "api_version", "v2");
    s.api.rate_limit_per_sec = 1_000_000;
    s.api.rate_limit_burst = 1_000_000;
    // Key and secret paths in default.toml resolve beside it (config/).
    Ok(s)
}

fn worker_env(settings: &Settings, sandbox: &SandboxHandle) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(sentinel) = &settings.redis.sentinel {
        env.push((
            "KIRIM_REDIS__SENTINEL__MASTER_NAME".to_owned(),
            sentinel.master_name.clone(),
        ));
        env.push((
            "KIRIM_REDIS__SENTINEL__NODES".to_owned(),
            serde_json::to_string(&sentinel.nodes).unwrap_or_default(),
        ));
        env.push((
            "KIRIM_REDIS__REPLICAS".to_owned(),
            settings.redis.replicas.to_string(),
        ));
    }
    env.extend(
        [
            ("KIRIM_REDIS__URL", settings.redis.url.clone()),
            ("KIRIM_REDIS__NAMESPACE", settings.redis.namespace.clone()),
            (
                "KIRIM_REDIS__DURABILITY",
                settings.redis.durability.to_string(),
            ),
            (
                "KIRIM_PROVIDERS__IFORTEPAY__BASE_URL",
                sandbox.url("/ifortepay"),
            ),
            (
                "KIRIM_PROVIDERS__NICEPAY__BASE_URL",
                sandbox.url("/nicepay"),
            ),
            (
                "KIRIM_PROVIDERS__SINGAPAY__BASE_URL",
                sandbox.url("/singapay"),
            ),
            (
                "KIRIM_PROVIDERS__IFORTEPAY__REQUEST_TIMEOUT_MS",
                "1500".into(),
            ),
            (
                "KIRIM_PROVIDERS__NICEPAY__REQUEST_TIMEOUT_MS",
                "1500".into(),
            ),
            (
                "KIRIM_PROVIDERS__SINGAPAY__REQUEST_TIMEOUT_MS",
                "1500".into(),
            ),
            ("KIRIM_WORKER__HEARTBEAT_SECS", "1".into()),
            ("KIRIM_WORKER__MISSED_HEARTBEATS", "2".into()),
            ("KIRIM_WORKER__POLL_INTERVAL_MS", "20".into()),
            ("KIRIM_WORKER__BACKOFF_BASE_MS", "100".into()),
            ("KIRIM_WORKER__BACKOFF_MAX_MS", "2000".into()),
            ("KIRIM_WORKER__MAX_ATTEMPTS", "200".into()),
            ("KIRIM_WORKER__SHUTDOWN_TIMEOUT_SECS", "2".into()),
            ("KIRIM_WORKER__STALL_SECS", "10".into()),
            // Compaction all through the run: records move to their cold form while
            // late callbacks append to them, workers are killed and Redis fails over.
            ("KIRIM_WORKER__COMPACT_FINAL_AFTER_SECS", "0".into()),
            ("KIRIM_WORKER__HOUSEKEEPING_SECS", "2".into()),
            ("KIRIM_PROVIDERS__SINGAPAY__API_VERSION", "v2".into()),
            ("KIRIM_RECONCILE__TICK_SECS", "1".into()),
            ("KIRIM_RECONCILE__SCHEDULE_SECS", "[1]".into()),
            (
                "KIRIM_RECONCILE__PROVIDERS__NICEPAY__SCHEDULE_SECS",
                "[1]".into(),
            ),
            ("KIRIM_RECONCILE__NOT_FOUND_GRACE_SECS", "0".into()),
            ("KIRIM_RECONCILE__SUBMIT_GRACE_SECS", "3".into()),
            ("KIRIM_RECONCILE__STUCK_AFTER_SECS", "5".into()),
            ("KIRIM_LOG__FILTER", "error".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v)),
    );
    env
}

/// Wait until `cond` holds, polling; false after `timeout`.
async fn wait_until<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Ledger states of payouts `0..n` (None = not in the ledger); None overall on a Redis error.
async fn ledger_states(ledger: &Ledger, n: usize) -> anyhow::Result<Vec<Option<State>>> {
    let ids = (0..n).map(payout_id).collect::<anyhow::Result<Vec<_>>>()?;
    let got: Vec<_> = futures::stream::iter(ids.iter())
        .map(|id| async move { ledger.get(id).await.map(|p| p.map(|p| p.state)) })
        .buffered(64)
        .collect()
        .await;
    got.into_iter()
        .map(|r| r.map_err(|e| anyhow!("ledger: {e}")))
        .collect()
}

/// Every final payout's trail reads back (through its cold form if compacted)
/// and holds the move to its final state.
async fn check_trails(
    ledger: &Ledger,
    states: &[Option<State>],
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut conn = ledger.connection();
    for (i, s) in states.iter().enumerate() {
        let Some(st) = s.filter(|s| s.is_final()) else {
            continue;
        };
        let id = payout_id(i)?;
        let cold: bool = redis::cmd("HEXISTS")
            .arg(ledger.keys().payout(&id.to_string()))
            .arg("z")
            .query_async(&mut conn)
            .await?;
        report.cold += usize::from(cold);
        let ok = match ledger.history(&id).await {
            Ok(h) => h.iter().any(|e| e.to == Some(st)),
            Err(e) => {
                eprintln!("trail of {id} does not read: {e}");
                false
            }
        };
        if !ok {
            report.trail_bad += 1;
        }
    }
    Ok(())
}

async fn run_mode(
    args: &Args,
    mode: Durability,
    server: &str,
    bin: &Path,
    root: &Path,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let n = args.payouts;
    let mut report = Report {
        mode: mode.as_str(),
        offered: n,
        ..Report::default()
    };
    let mut store = Store::start(mode, server).await?;
    let api_port = free_port()?;
    let api = format!("http://127.0.0.1:{api_port}");

    let mut cfg = SandboxConfig::repo_default().map_err(|e| anyhow!("sandbox config: {e}"))?;
    cfg.port = 0;
    cfg.settlement_delay_ms = 500;
    cfg.cancel_ratio = 0.02;
    cfg.hang_max_ms = 5_000;
    cfg.shutdown_grace_ms = 200;
    cfg.callbacks.max_attempts = 5;
    cfg.callbacks.retry_base_ms = 200;
    cfg.callbacks.timeout_ms = 2_000;
    cfg.ifortepay.callback_url = format!("{api}/callbacks/ifortepay");
    cfg.nicepay.notify_url = format!("{api}/callbacks/nicepay");
    cfg.singapay.webhook_url = format!("{api}/callbacks/singapay");
    cfg.faults = faults()?;
    let sandbox = Sandbox::start(cfg)
        .await
        .map_err(|e| anyhow!("sandbox: {e}"))?;

    // The API's stuck-payout deadline must match the workers' sweep.
    let namespace = format!("chaos-{}-{}", mode.as_str(), std::process::id());
    let mut settings = settings_for(root, &store, &namespace, mode)?;
    settings.reconcile.stuck_after_secs = 5;
    settings.reconcile.submit_grace_secs = Some(3);
    let p = &mut settings.providers;
    p.set(
        "ifortepay",
        "callback_url",
        format!("{api}/callbacks/ifortepay"),
    );
    p.set(
        "singapay",
        "webhook_url",
        format!("{api}/callbacks/singapay"),
    );
    kirim::sandbox::point_providers_at(p, &sandbox);

    // The API server, in process.
    let client = Client::connect(&settings)
        .await
        .map_err(|e| anyhow!("client: {e}"))?;
    let providers =
        kirim::providers::build_all(&settings.providers).map_err(|e| anyhow!("providers: {e}"))?;
    let mut state = kirim::api::ApiState::new(&settings, client.clone(), providers);
    state.callbacks = Some(Arc::new(kirim::callbacks::CallbackState::from_settings(
        &settings,
        client.clone(),
    )));
    let server = kirim::api::ApiServer::build(
        &format!("127.0.0.1:{api_port}"),
        state,
        settings.api.max_body_bytes,
    )
    .await
    .context("API binds")?;
    let (api_stop, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api_task = tokio::spawn(async move {
        let _ = server
            .run_until_stopped(async move {
                let _ = api_stopped.await;
            })
            .await;
    });

    let worker_logs = std::env::temp_dir().join(format!("kirim-chaos-{namespace}"));
    std::fs::create_dir_all(&worker_logs).context("worker log directory")?;
    eprintln!("[{mode}] worker logs in {}", worker_logs.display());
    let fleet = Arc::new(Mutex::new(Fleet {
        bin: bin.to_owned(),
        root: root.to_owned(),
        env: worker_env(&settings, &sandbox),
        children: Vec::new(),
        killed: 0,
        exited: Vec::new(),
        logs: worker_logs.clone(),
        spawned: 0,
    }));
    fleet
        .lock()
        .map_err(|_| anyhow!("fleet lock"))?
        .keep(args.workers)?;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("http client")?;
    let acked: Arc<Vec<AtomicBool>> = Arc::new((0..n).map(|_| AtomicBool::new(false)).collect());
    let acked_count = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let stop_chaos = Arc::new(AtomicBool::new(false));

    // Producers.
    let offer_deadline = Instant::now() + Duration::from_secs(600 + n as u64 / 10);
    let mut producers = Vec::new();
    for _ in 0..args.producers {
        let (http, api, acked, acked_count, next) = (
            http.clone(),
            api.clone(),
            acked.clone(),
            acked_count.clone(),
            next.clone(),
        );
        producers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                if offer(&http, &api, i, offer_deadline).await {
                    acked[i].store(true, Ordering::Relaxed);
                    acked_count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    // Worker SIGKILLs at random moments.
    let killer = {
        let (fleet, stop, workers) = (fleet.clone(), stop_chaos.clone(), args.workers);
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let pause = rand::rng().random_range(1_000..4_000);
                tokio::time::sleep(Duration::from_millis(pause)).await; // a random moment
                let Ok(mut f) = fleet.lock() else { break };
                f.kill_one();
                if let Err(e) = f.keep(workers) {
                    eprintln!("respawn: {e:#}");
                }
            }
        })
    };

    // Forged callbacks about payouts already offered.
    let forged_sent = Arc::new(AtomicU64::new(0));
    let forged_accepted = Arc::new(AtomicU64::new(0));
    let forger = {
        let (http, api, next, stop) = (http.clone(), api.clone(), next.clone(), stop_chaos.clone());
        let (sent, accepted) = (forged_sent.clone(), forged_accepted.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let upto = next.load(Ordering::Relaxed).min(n);
                if upto > 0 {
                    let i = rand::rng().random_range(0..upto);
                    if let Some(status) = forge(&http, &api, i).await {
                        sent.fetch_add(1, Ordering::Relaxed);
                        if (200..300).contains(&status) {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // AOF size samples, to know what the last second wrote.
    let samples: Arc<Mutex<VecDeque<(Instant, u64)>>> = Arc::new(Mutex::new(VecDeque::new()));
    let sampler = {
        let (samples, stop) = (samples.clone(), stop_chaos.clone());
        // The node killed below is the first primary (no failover happens before).
        let adir = store.first().dir().to_owned();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let size = std::fs::read_dir(adir.join("appendonlydir"))
                    .ok()
                    .and_then(|d| {
                        d.filter_map(Result::ok)
                            .filter(|e| e.file_name().to_string_lossy().ends_with(".incr.aof"))
                            .filter_map(|e| e.metadata().ok().map(|m| m.len()))
                            .max()
                    })
                    .unwrap_or(0);
                if let Ok(mut s) = samples.lock() {
                    s.push_back((Instant::now(), size));
                    while s.len() > 100 {
                        s.pop_front();
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // 1. SIGKILL of the Redis primary once a third of the payouts are acknowledged.
    // (At least 3 s in, so the AOF tail that a machine crash loses is a full second.)
    let third = n / 3;
    wait_until(Duration::from_secs(600), || async {
        acked_count.load(Ordering::Relaxed) >= third && started.elapsed() >= Duration::from_secs(3)
    })
    .await;
    let old_primary = store.first().addr();
    let node = match &mut store {
        Store::Single(n) => n,
        Store::Ha(t) => &mut t.nodes[0],
    };
    node.kill();
    let killed_at = Instant::now();
    if appendfsync(mode) == "everysec" {
        // A machine crash: the page cache's last second never reached the disk.
        // (With `appendfsync always` nothing acknowledged sits in the page cache.)
        let file = node.last_incr_aof().context("no incr AOF file")?;
        let now_len = std::fs::metadata(&file).context("AOF size")?.len();
        let then_len = samples
            .lock()
            .map_err(|_| anyhow!("samples lock"))?
            .iter()
            .filter(|(t, _)| killed_at.duration_since(*t) >= Duration::from_secs(1))
            .map(|(_, s)| *s)
            .next_back()
            .unwrap_or(now_len);
        let keep = then_len.min(now_len);
        if let Ok(s) = samples.lock() {
            eprintln!(
                "[{mode}] {} AOF samples, first {:?} ago: {:?}",
                s.len(),
                s.front().map(|(t, _)| killed_at.duration_since(*t)),
                s.iter().rev().take(25).map(|(_, b)| *b).collect::<Vec<_>>()
            );
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_len(keep))
            .context("truncate AOF")?;
        report.aof_bytes_dropped = now_len - keep;
        eprintln!(
            "[{mode}] {}: {now_len} bytes, cut to {keep} (its size 1 s before the kill)",
            file.display()
        );
    }
    if let Store::Ha(t) = &store {
        let new = t
            .wait_for_new_primary(&old_primary, Duration::from_secs(60))
            .await
            .context("the sentinels did not fail over")?;
        report.failover_secs = Some(killed_at.elapsed().as_secs_f64());
        eprintln!(
            "[{mode}] sentinels named {new} after {:.1}s",
            killed_at.elapsed().as_secs_f64()
        );
    }
    // Back on the same port and directory: a single server reloads its AOF; a
    // failed-over primary is made a replica of the new one by the sentinels.
    match &mut store {
        Store::Single(n) => n.restart(),
        Store::Ha(t) => t.nodes[0].restart(),
    }
    .context("restart the killed node")?;
    eprintln!(
        "[{}] redis SIGKILLed at {} acknowledged, {} AOF bytes dropped, back after {:.1}s",
        mode,
        acked_count.load(Ordering::Relaxed),
        report.aof_bytes_dropped,
        killed_at.elapsed().as_secs_f64()
    );

    // 2. Provider outage once two thirds are acknowledged.
    let two_thirds = 2 * n / 3;
    wait_until(Duration::from_secs(600), || async {
        acked_count.load(Ordering::Relaxed) >= two_thirds
    })
    .await;
    sandbox
        .set_refusing(true)
        .await
        .map_err(|e| anyhow!("outage: {e}"))?;
    eprintln!("[{mode}] providers down for {}s", args.outage_secs);
    tokio::time::sleep(Duration::from_secs(args.outage_secs)).await; // the outage lasts
    sandbox
        .set_refusing(false)
        .await
        .map_err(|e| anyhow!("outage end: {e}"))?;

    for p in producers {
        let _ = p.await;
    }
    report.offer_secs = started.elapsed().as_secs_f64();
    stop_chaos.store(true, Ordering::Relaxed);
    let _ = killer.await;
    let _ = forger.await;
    let _ = sampler.await;
    report.acknowledged = acked_count.load(Ordering::Relaxed);
    report.forged_sent = forged_sent.load(Ordering::Relaxed);
    report.forged_accepted = forged_accepted.load(Ordering::Relaxed);

    // All faults lifted.
    sandbox.state().faults.replace(Vec::new());
    {
        let mut f = fleet.lock().map_err(|_| anyhow!("fleet lock"))?;
        f.keep(args.workers)?;
        report.worker_kills = f.killed;
    }
    let settle_start = Instant::now();
    let ledger = client.ledger().clone();

    // Lost: acknowledged, yet not in the ledger after the Redis restart. Count, then re-offer.
    let states = ledger_states(&ledger, n).await?;
    let bookings = books_by_payout(&sandbox.state().all_bookings());
    let mut lost = Vec::new();
    for (i, s) in states.iter().enumerate() {
        if acked[i].load(Ordering::Relaxed) && s.is_none() {
            lost.push(i);
            if transfer_books(&bookings, i).is_some_and(|p| p.booked > 0) {
                report.lost_booked += 1;
            }
        }
    }
    report.lost = lost.len();
    eprintln!(
        "[{mode}] offered {n}, acknowledged {}, lost {} ({} of them booked at the provider); re-offering",
        report.acknowledged, report.lost, report.lost_booked
    );
    let reoffer_deadline = Instant::now() + Duration::from_secs(120);
    futures::stream::iter(lost.iter())
        .for_each_concurrent(16, |&i| {
            let (http, api) = (&http, &api);
            async move {
                if !offer(http, api, i, reoffer_deadline).await {
                    eprintln!("re-offer of {} not acknowledged", reference(i));
                }
            }
        })
        .await;

    // Wait for every ledger payout to be final.
    let all_final = wait_until(Duration::from_secs(args.settle_deadline_secs), || async {
        if let Ok(mut f) = fleet.lock() {
            if let Err(e) = f.keep(args.workers) {
                eprintln!("respawn: {e:#}");
            }
        }
        match ledger.count_by_state().await {
            Ok(c) => {
                // NEEDS_REVIEW waits for an operator: not final, but nothing to wait for.
                c.iter()
                    .filter(|(s, _)| !s.is_final() && **s != State::NeedsReview)
                    .map(|(_, k)| *k)
                    .sum::<u64>()
                    == 0
            }
            Err(_) => false,
        }
    })
    .await;
    if !all_final {
        eprintln!(
            "[{mode}] not all final after {}s",
            args.settle_deadline_secs
        );
    }
    // The sandbox settles after settlement_delay_ms; let callbacks drain (bounded).
    wait_until(Duration::from_secs(10), || async {
        sandbox
            .state()
            .all_bookings()
            .iter()
            .all(|b| b.status != Status::Init)
    })
    .await;
    report.settle_secs = settle_start.elapsed().as_secs_f64();
    report.worker_exits = fleet.lock().map(|f| f.exited.len()).unwrap_or(0);

    // The oracle: the sandbox's books against the ledger.
    let states = ledger_states(&ledger, n).await?;
    // Per payout, not per record: a NICEPAY payout paid through a derived
    // registration is one payout paid once, and one booked under both its own and a
    // derived reference is booked twice.
    let by_payout = books_by_payout(&sandbox.state().all_bookings());
    report.booked_twice = by_payout.values().filter(|p| p.booked > 1).count();
    report.duplicate_callbacks = sandbox
        .state()
        .callback_log()
        .iter()
        .filter(|c| c.faults.iter().any(|f| f == "Duplicate"))
        .count();
    report.bad_signature_callbacks = sandbox
        .state()
        .callback_log()
        .iter()
        .filter(|c| c.faults.iter().any(|f| f == "BadSignature"))
        .count();
    for (i, s) in states.iter().enumerate() {
        let booking = transfer_books(&by_payout, i);
        let paid = booking.is_some_and(|p| p.paid());
        match s {
            None => {
                if booking.is_some_and(|p| p.booked > 0) {
                    report.booked_not_in_ledger += 1;
                }
            }
            Some(st) if !st.is_final() => {
                report.not_final += 1;
                *report.not_final_states.entry(st.to_string()).or_default() += 1;
                if report.not_final <= 3 {
                    if let Ok(id) = payout_id(i) {
                        let h = ledger.history(&id).await.unwrap_or_default();
                        eprintln!(
                            "not final: {id} {st}\n  {}",
                            h.iter()
                                .map(|e| serde_json::to_string(e).unwrap_or_default())
                                .collect::<Vec<_>>()
                                .join("\n  ")
                        );
                    }
                }
            }
            Some(State::Succeeded) => {
                report.succeeded += 1;
                if !paid {
                    report.wrongly_final += 1;
                    eprintln!(
                        "wrongly final: {} SUCCEEDED, sandbox {:?}",
                        reference(i),
                        booking
                    );
                }
            }
            Some(_) => {
                report.cancelled_or_failed += 1;
                if paid {
                    report.wrongly_final += 1;
                    eprintln!(
                        "wrongly final: {} {:?}, sandbox {:?}",
                        reference(i),
                        s,
                        booking
                    );
                }
            }
        }
        if s.is_some() && !acked[i].load(Ordering::Relaxed) {
            report.in_ledger_not_acked += 1;
        }
    }
    check_trails(&ledger, &states, &mut report).await?;
    report.secs = started.elapsed().as_secs_f64();
    print_table(std::slice::from_ref(&report));

    let _ = api_stop.send(());
    let _ = api_task.await;
    drop(fleet);
    sandbox.shutdown().await;
    drop(store);
    Ok(report)
}

fn print_table(reports: &[Report]) {
    println!();
    println!("| mode | offered | acknowledged | booked twice | lost | not final | wrongly final | duration |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in reports {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} s |",
            r.mode,
            r.offered,
            r.acknowledged,
            r.booked_twice,
            r.lost,
            r.not_final,
            r.wrongly_final,
            r.secs
        );
    }
    println!();
    for r in reports {
        println!(
            "{}: {} SUCCEEDED, {} CANCELLED/FAILED; lost {} (of them booked at the provider {}); \
             AOF bytes dropped {}; failover {}; worker SIGKILLs {} (exited by themselves {}); forged callbacks {} (accepted {}); \
             duplicated callbacks {} (bad signature {}); not final by state {:?}; in ledger though not acknowledged {}; booked but not in ledger {}; \
             compacted {} (trails that do not read back {}); offering {:.0} s, settling {:.0} s",
            r.mode,
            r.succeeded,
            r.cancelled_or_failed,
            r.lost,
            r.lost_booked,
            r.aof_bytes_dropped,
            r.failover_secs
                .map(|s| format!("{s:.1} s"))
                .unwrap_or_else(|| "none (restarted in place)".into()),
            r.worker_kills,
            r.worker_exits,
            r.forged_sent,
            r.forged_accepted,
            r.duplicate_callbacks,
            r.bad_signature_callbacks,
            r.not_final_states,
            r.in_ledger_not_acked,
            r.booked_not_in_ledger,
            r.cold,
            r.trail_bad,
            r.offer_secs,
            r.settle_secs
        );
    }
}

fn kirim_bin(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(p) = &args.kirim {
        return Ok(p.clone());
    }
    // target/<profile>/examples/chaos → target/<profile>/kirim
    let exe = std::env::current_exe().context("current exe")?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("kirim"))
        .context("no parent directory")?;
    if !bin.is_file() {
        bail!(
            "{} not found: build it (cargo build --release) or pass --kirim",
            bin.display()
        );
    }
    Ok(bin)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> ExitCode {
    let args = Args::parse();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = match kirim_bin(&args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("chaos: {e:#}");
            return ExitCode::from(2);
        }
    };
    let modes = match args.durability {
        Modes::Fsync => vec![Durability::Fsync],
        Modes::None => vec![Durability::None],
        Modes::Replicas => vec![Durability::Replicas],
        Modes::ReplicasFsync => vec![Durability::ReplicasFsync],
        Modes::All => vec![
            Durability::Fsync,
            Durability::None,
            Durability::Replicas,
            Durability::ReplicasFsync,
        ],
    };
    let waitaof_server = args.waitaof_server.clone().or_else(|| {
        ["valkey-server".to_owned(), server_binary()]
            .into_iter()
            .find(|b| binary_version(b).is_some_and(|v| v >= (7, 2)))
    });
    let mut reports = Vec::new();
    for mode in modes {
        let server = match (mode, &waitaof_server) {
            (Durability::ReplicasFsync, Some(s)) => s.clone(),
            (Durability::ReplicasFsync, None) if args.durability == Modes::All => {
                eprintln!(
                    "[{mode}] not run: it needs WAITAOF (Redis 7.2+ or Valkey) and none is installed \
                     (Debian 12: apt-get install -t bookworm-backports valkey-server)"
                );
                continue;
            }
            _ => server_binary(),
        };
        eprintln!(
            "[{mode}] {} payouts, {} workers, {}s outage, {server}",
            args.payouts, args.workers, args.outage_secs
        );
        match run_mode(&args, mode, &server, &bin, &root).await {
            Ok(r) => reports.push(r),
            Err(e) => {
                eprintln!("chaos [{mode}]: {e:#}");
                print_table(&reports);
                return ExitCode::from(2);
            }
        }
    }
    print_table(&reports);
    let failed = reports.iter().any(|r| {
        r.booked_twice > 0
            || r.wrongly_final > 0
            || r.forged_accepted > 0
            || r.trail_bad > 0
            || (r.mode != Durability::None.as_str() && r.lost > 0)
    });
    if failed {
        eprintln!("chaos: FAILED (booked twice, wrongly final, forged callback accepted, a trail that does not read, or a durable mode lost a payout)");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
