//! The benchmark's world: a Redis of its own (or `REDIS_URL`), the in-process
//! sandbox answering SUCCESS at once, and the settings/environment that point
//! `kirim worker` child processes at both.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use redis::aio::ConnectionManager;

use super::pin::BenchSandbox;
use crate::config::Settings;
use crate::durability::Durability;
use crate::redis_server::{unique_namespace, TestRedis};
use crate::sandbox::SandboxConfig;

/// Redis and base settings shared by every run of one `kirim bench`. Each run gets
/// a fresh sandbox ([`BenchEnv::begin_run`]): after the keyspace is flushed the
/// X-EXTERNAL-ID counters start again at 1, and a sandbox that saw the previous
/// run's ids would refuse them as repeated (409).
pub struct BenchEnv {
    pub redis: TestRedis,
    /// The replica in `--durability replicas`.
    pub replica: Option<TestRedis>,
    /// Settings pointed at `redis`, key paths made absolute.
    pub settings: Settings,
    /// The `kirim` binary (this executable).
    pub exe: PathBuf,
    /// `--config` given to the benchmark, passed on to the workers.
    pub config: Option<PathBuf>,
    /// `--pin-sandbox`: the core each run's sandbox runs on alone.
    pub sandbox_cpu: Option<usize>,
    conn: ConnectionManager,
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

/// The sandbox of a benchmark run: `config/sandbox.toml` (or the built-in one),
/// answering SUCCESS at once.
pub fn sandbox_config() -> anyhow::Result<SandboxConfig> {
    let local = crate::config::config_dir().join("sandbox.toml");
    let mut cfg = if local.exists() {
        SandboxConfig::load(&local)?
    } else {
        SandboxConfig::repo_default()?
    };
    cfg.port = 0;
    // Answer the final status at once: SUCCESS for every transfer.
    cfg.settlement_delay_ms = 0;
    cfg.cancel_ratio = 0.0;
    cfg.shutdown_grace_ms = 200;
    cfg.faults.clear();
    cfg.ifortepay.callback_url = String::new();
    cfg.nicepay.notify_url = String::new();
    cfg.singapay.webhook_url = String::new();
    // Enough money for millions of transfers.
    let plenty = "999999999999999.00".to_owned();
    cfg.ifortepay.initial_balance = plenty.clone();
    cfg.nicepay.initial_balance = plenty.clone();
    cfg.singapay.initial_balance = plenty;
    Ok(cfg)
}

impl BenchEnv {
    /// Start Redis (private unless `REDIS_URL` is set).
    pub async fn start(
        base: Settings,
        config: Option<PathBuf>,
        durability: Durability,
    ) -> anyhow::Result<BenchEnv> {
        Self::start_with(base, config, durability, &[]).await
    }

    /// [`BenchEnv::start`], with `server_args` added to every private server's
    /// command line (`kirim bench --redis-args`, e.g. `--hash-max-listpack-value 1024`).
    pub async fn start_with(
        base: Settings,
        config: Option<PathBuf>,
        durability: Durability,
        server_args: &[String],
    ) -> anyhow::Result<BenchEnv> {
        let external = std::env::var("REDIS_URL").is_ok_and(|u| !u.is_empty());
        let with = |mode_args: &[&str]| -> Vec<String> {
            mode_args
                .iter()
                .map(|a| (*a).to_owned())
                .chain(server_args.iter().cloned())
                .collect()
        };
        let spawn = |args: Vec<String>| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            TestRedis::spawn_local(&args)
        };
        let (redis, replica) = match durability {
            _ if external => (TestRedis::start()?, None),
            // The private server's defaults: appendonly yes, appendfsync always.
            Durability::Fsync if server_args.is_empty() => (TestRedis::start()?, None),
            Durability::Fsync => (spawn(with(&[]))?, None),
            Durability::None => (spawn(with(&["--appendfsync", "everysec"]))?, None),
            Durability::Replicas | Durability::ReplicasFsync => {
                // `WAITAOF` waits for fsyncs, which `everysec` makes up to a second late.
                let fsync = if durability == Durability::ReplicasFsync {
                    "always"
                } else {
                    "everysec"
                };
                let primary = spawn(with(&["--appendfsync", fsync]))?;
                let port = primary
                    .url()
                    .rsplit(':')
                    .next()
                    .unwrap_or("6379")
                    .to_owned();
                let replica = spawn(with(&[
                    "--appendfsync",
                    fsync,
                    "--replicaof",
                    "127.0.0.1",
                    &port,
                ]))?;
                wait_for_link(&replica).await?;
                wait_for_ack(&primary, durability).await?;
                (primary, Some(replica))
            }
        };
        let mut settings = base;
        settings.redis.url = redis.url().to_owned();
        settings.redis.durability = durability;
        settings.notify.url = String::new();
        let names: Vec<String> = settings.providers.names().map(str::to_owned).collect();
        for name in names {
            let section = settings.providers.section_mut(&name);
            for (key, path) in section.file_keys() {
                section.set(&key, absolute(&path).display().to_string());
            }
        }
        // The driver's own connection does bulk work (FLUSHALL, big ZADDs, INFO):
        // give it more than the default 500 ms response timeout.
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(std::time::Duration::from_secs(30)));
        let conn = redis::Client::open(redis.url())?
            .get_connection_manager_with_config(cfg)
            .await
            .context("connect to the benchmark's Redis")?;
        Ok(BenchEnv {
            redis,
            replica,
            settings,
            exe: std::env::current_exe().context("locate the kirim binary")?,
            config,
            sandbox_cpu: None,
            conn,
        })
    }

    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Settings for one run: a fresh namespace, the given concurrency and poll interval.
    pub fn run_settings(&self, concurrency: usize, poll_ms: u64) -> Settings {
        let mut s = self.settings.clone();
        s.redis.namespace = unique_namespace("bench");
        s.worker.concurrency = concurrency.max(1);
        s.worker.poll_interval_ms = poll_ms;
        s
    }

    /// A clean start for one end-to-end run: empty keyspace, a fresh sandbox, and
    /// settings (fresh namespace) pointed at both.
    pub async fn begin_run(
        &self,
        concurrency: usize,
        poll_ms: u64,
    ) -> anyhow::Result<(Settings, BenchSandbox)> {
        self.reset().await?;
        let sandbox = BenchSandbox::start(sandbox_config()?, self.sandbox_cpu).await?;
        let mut s = self.run_settings(concurrency, poll_ms);
        crate::sandbox::point_providers_at(&mut s.providers, sandbox.handle());
        Ok((s, sandbox))
    }

    /// Empty the server between runs, so memory and speed do not depend on what
    /// ran before. Only when the server is our own; a shared `REDIS_URL` is left alone.
    pub async fn reset(&self) -> anyhow::Result<()> {
        if !self.redis.is_private() {
            return Ok(());
        }
        let mut conn = self.conn();
        let _: () = redis::cmd("FLUSHALL")
            .arg("ASYNC")
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// The `KIRIM_…` variables that make a child `kirim` use `s` (no secrets: the
    /// providers' secrets stay in the files the settings name).
    pub fn child_env(&self, s: &Settings) -> Vec<(String, String)> {
        let mut env = vec![
            ("KIRIM_REDIS__URL".into(), s.redis.url.clone()),
            ("KIRIM_REDIS__NAMESPACE".into(), s.redis.namespace.clone()),
            (
                "KIRIM_REDIS__DURABILITY".into(),
                s.redis.durability.as_str().into(),
            ),
            ("KIRIM_LOG__FILTER".into(), "warn".into()),
            ("RUST_LOG".into(), "warn".into()),
            (
                "KIRIM_WORKER__CONCURRENCY".into(),
                s.worker.concurrency.to_string(),
            ),
            (
                "KIRIM_WORKER__POLL_INTERVAL_MS".into(),
                s.worker.poll_interval_ms.to_string(),
            ),
            ("KIRIM_NOTIFY__URL".into(), String::new()),
            ("KIRIM_RECONCILE__IN_WORKER".into(), "false".into()),
        ];
        for name in s.providers.names() {
            let Some(section) = s.providers.section(name) else {
                continue;
            };
            let upper = name.to_ascii_uppercase();
            if let Some(url) = section.text("base_url") {
                env.push((
                    format!("KIRIM_PROVIDERS__{upper}__BASE_URL"),
                    url.to_owned(),
                ));
            }
            for (key, path) in section.file_keys() {
                env.push((
                    format!(
                        "KIRIM_PROVIDERS__{upper}__{}",
                        key.replace('.', "__").to_ascii_uppercase()
                    ),
                    path.display().to_string(),
                ));
            }
        }
        env
    }

    /// Arguments before the subcommand (`--config` when the benchmark got one).
    pub fn global_args(&self) -> Vec<String> {
        match &self.config {
            Some(c) => vec!["--config".into(), absolute(c).display().to_string()],
            None => Vec::new(),
        }
    }
}

/// Wait (up to 30 s) until `replica` reports its link to the primary up.
/// Until a write on the primary is acknowledged the way the mode waits (`WAIT 1` /
/// `WAITAOF 1 1`): a replica that has just synced is still rewriting its AOF and
/// acknowledges no fsync for a moment, and the benchmark's first bulk enqueue would
/// be refused as not durable.
async fn wait_for_ack(primary: &TestRedis, durability: Durability) -> anyhow::Result<()> {
    let client = redis::Client::open(primary.url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let wait = crate::durability::WaitFor {
        mode: durability,
        replicas: 1,
        timeout: std::time::Duration::from_millis(200),
    };
    let Some(cmd) = wait.command() else {
        return Ok(());
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, reply): ((), redis::Value) = redis::pipe()
            .cmd("SET")
            .arg("kirim-bench:probe")
            .arg(1)
            .ignore()
            .add_command(cmd.clone())
            .query_async(&mut conn)
            .await
            .map(|(v,): (redis::Value,)| ((), v))?;
        if wait.check(&reply).is_ok() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("the benchmark's replica did not acknowledge writes ({durability})");
        }
    }
}

async fn wait_for_link(replica: &TestRedis) -> anyhow::Result<()> {
    let client = redis::Client::open(replica.url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut conn)
            .await?;
        if info.contains("master_link_status:up") {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("the benchmark's replica did not connect to its primary");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
