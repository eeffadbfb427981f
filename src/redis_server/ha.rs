//! A replicated Redis for tests and the chaos run: a primary, replicas and three
//! sentinels (`redis-server --sentinel`) as real processes on loopback, each in its
//! own temporary directory. A node can be SIGKILLed, its append-only file cut back
//! (what a machine crash loses from the page cache) and started again on the same
//! port and directory; the sentinels then make it a replica of whoever they promoted.
//!
//! The server binary is [`server_binary`] (`KIRIM_REDIS_SERVER`, default
//! `redis-server`), so the same topology runs on Valkey (`valkey-server`), which has
//! `WAITAOF` where Debian's Redis 7.0 does not.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, ping, server_binary, HarnessError};
use crate::config::SentinelSettings;

/// The name the sentinels monitor the primary under.
pub const MASTER_NAME: &str = "kirim-ha";

/// One `redis-server` that can be killed and started again where it was.
pub struct RedisNode {
    dir: tempfile::TempDir,
    port: u16,
    binary: String,
    args: Vec<String>,
    child: Option<Child>,
}

impl RedisNode {
    /// Start `binary` on a free port with `args` (the port, bind address, directory
    /// and `--protected-mode no` are added).
    pub fn start(binary: &str, args: &[String]) -> Result<RedisNode, HarnessError> {
        let mut last = String::new();
        // A port found free can be taken before the server binds it; try a few.
        for _ in 0..5 {
            let mut node = RedisNode {
                dir: tempfile::tempdir().map_err(|e| HarnessError::Start(e.to_string()))?,
                port: free_port().map_err(|e| HarnessError::Start(e.to_string()))?,
                binary: binary.to_owned(),
                args: args.to_vec(),
                child: None,
            };
            match node.restart() {
                Ok(()) => return Ok(node),
                Err(e) => last = e.to_string(),
            }
        }
        Err(HarnessError::Start(last))
    }

    /// Start the process again on the same port and directory (after [`Self::kill`]).
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.kill();
        let mut child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--protected-mode", "no"])
            .args(&self.args)
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| HarnessError::Start(format!("spawn {}: {e}", self.binary)))?;
        // PING answers +PONG only once the data set is loaded.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !ping(self.port) {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(HarnessError::Start(format!(
                    "{} exited at start on port {}: {status}",
                    self.binary, self.port
                )));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HarnessError::Start(format!(
                    "{} not ready on port {}",
                    self.binary, self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL the process (nothing is flushed).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, as the sentinels name it.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The multi-part AOF's last incremental file (Redis ≥ 7: the manifest's
    /// `type i` entries), the one a crash cuts.
    pub fn last_incr_aof(&self) -> Option<PathBuf> {
        let adir = self.dir.path().join("appendonlydir");
        let manifest = std::fs::read_dir(&adir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "manifest"))?;
        let text = std::fs::read_to_string(manifest).ok()?;
        text.lines()
            .filter(|l| {
                l.split_whitespace()
                    .collect::<Vec<_>>()
                    .ends_with(&["type", "i"])
            })
            .filter_map(|l| l.split_whitespace().nth(1))
            .next_back()
            .map(|f| adir.join(f))
    }

    /// Size of the largest incremental AOF file now (0 when there is none).
    pub fn incr_aof_len(&self) -> u64 {
        std::fs::read_dir(self.dir.path().join("appendonlydir"))
            .ok()
            .and_then(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".incr.aof"))
                    .filter_map(|e| e.metadata().ok().map(|m| m.len()))
                    .max()
            })
            .unwrap_or(0)
    }
}

impl Drop for RedisNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A sentinel process, killed on drop.
pub struct SentinelNode {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl SentinelNode {
    fn start(binary: &str, primary_port: u16) -> Result<SentinelNode, HarnessError> {
        let dir = tempfile::tempdir().map_err(|e| HarnessError::Start(e.to_string()))?;
        let port = free_port().map_err(|e| HarnessError::Start(e.to_string()))?;
        let conf = dir.path().join("sentinel.conf");
        // A sentinel rewrites its configuration file: each gets its own directory.
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {dir}\n\
                 sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                 sentinel failover-timeout {MASTER_NAME} 4000\n\
                 sentinel parallel-syncs {MASTER_NAME} 1\n",
                dir = dir.path().display()
            ),
        )
        .map_err(|e| HarnessError::Start(format!("sentinel.conf: {e}")))?;
        let child = Command::new(binary)
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| HarnessError::Start(format!("spawn {binary} --sentinel: {e}")))?;
        Ok(SentinelNode {
            port,
            child,
            _dir: dir,
        })
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for SentinelNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct HaOptions {
    /// The server binary ([`server_binary`] by default).
    pub binary: String,
    /// Replicas of the first primary (at least one).
    pub replicas: usize,
    /// Arguments every data node gets (persistence settings, say).
    pub node_args: Vec<String>,
}

impl Default for HaOptions {
    fn default() -> Self {
        HaOptions {
            binary: server_binary(),
            replicas: 1,
            node_args: Vec::new(),
        }
    }
}

/// A primary, its replicas and three sentinels watching them.
pub struct HaTopology {
    /// Data nodes; `nodes[0]` was the first primary.
    pub nodes: Vec<RedisNode>,
    pub sentinels: Vec<SentinelNode>,
}

/// One command on a fresh connection to `url`.
pub async fn query<T: redis::FromRedisValue>(url: &str, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    cmd.query_async(&mut conn).await
}

/// Poll `cond` every 50 ms until it holds; an error naming `what` after `timeout`.
async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut cond: F) -> Result<(), HarnessError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(HarnessError::Start(format!(
                "timed out after {timeout:?} waiting for {what}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl HaTopology {
    /// Start the nodes, wait until every replica is in sync and every sentinel
    /// knows the replicas and two peers (what a failover needs).
    pub async fn start(opts: &HaOptions) -> Result<HaTopology, HarnessError> {
        // No 5 s wait for more replicas before a full sync (the default).
        let mut args: Vec<String> = vec!["--repl-diskless-sync-delay".into(), "0".into()];
        args.extend(opts.node_args.iter().cloned());
        let primary = RedisNode::start(&opts.binary, &args)?;
        let primary_port = primary.port();
        let mut nodes = vec![primary];
        for _ in 0..opts.replicas.max(1) {
            let mut a = args.clone();
            a.extend([
                "--replicaof".into(),
                "127.0.0.1".into(),
                primary_port.to_string(),
            ]);
            let replica = RedisNode::start(&opts.binary, &a)?;
            let url = replica.url();
            wait_until("a replica to sync", Duration::from_secs(30), || {
                let url = url.clone();
                async move {
                    query::<String>(&url, redis::cmd("INFO").arg("replication"))
                        .await
                        .is_ok_and(|info| info.contains("master_link_status:up"))
                }
            })
            .await?;
            nodes.push(replica);
        }
        let want = nodes.len() - 1;
        let sentinels = (0..3)
            .map(|_| SentinelNode::start(&opts.binary, primary_port))
            .collect::<Result<Vec<_>, _>>()?;
        for s in &sentinels {
            let url = s.url();
            wait_until(
                "a sentinel to see the replicas and the other sentinels",
                Duration::from_secs(30),
                || {
                    let url = url.clone();
                    async move {
                        let replicas: redis::RedisResult<Vec<redis::Value>> = query(
                            &url,
                            redis::cmd("SENTINEL").arg("replicas").arg(MASTER_NAME),
                        )
                        .await;
                        let peers: redis::RedisResult<Vec<redis::Value>> = query(
                            &url,
                            redis::cmd("SENTINEL").arg("sentinels").arg(MASTER_NAME),
                        )
                        .await;
                        matches!((replicas, peers), (Ok(r), Ok(p)) if r.len() >= want && p.len() >= 2)
                    }
                },
            )
            .await?;
        }
        Ok(HaTopology { nodes, sentinels })
    }

    /// `[redis.sentinel]` for kirim.
    pub fn sentinel_settings(&self) -> SentinelSettings {
        SentinelSettings {
            master_name: MASTER_NAME.to_owned(),
            nodes: self.sentinels.iter().map(SentinelNode::url).collect(),
        }
    }

    /// `host:port` the sentinels name as primary now (the first that answers).
    pub async fn primary_addr(&self) -> Option<String> {
        for s in &self.sentinels {
            let cmd = redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(MASTER_NAME)
                .clone();
            if let Ok(Some((host, port))) = query::<Option<(String, u16)>>(&s.url(), &cmd).await {
                return Some(format!("{host}:{port}"));
            }
        }
        None
    }

    /// The node the sentinels name as primary.
    pub async fn primary_index(&self) -> Option<usize> {
        let addr = self.primary_addr().await?;
        self.nodes.iter().position(|n| n.addr() == addr)
    }

    /// Wait until the sentinels name a primary other than `old`; returns it.
    pub async fn wait_for_new_primary(
        &self,
        old: &str,
        timeout: Duration,
    ) -> Result<String, HarnessError> {
        wait_until("the sentinels to promote a replica", timeout, || async {
            self.primary_addr().await.is_some_and(|a| a != old)
        })
        .await?;
        self.primary_addr()
            .await
            .ok_or_else(|| HarnessError::Start("the sentinels name no primary".into()))
    }

    /// Wait until the primary named by the sentinels has `n` replicas online.
    pub async fn wait_for_replicas(&self, n: usize, timeout: Duration) -> Result<(), HarnessError> {
        wait_until("replicas to attach to the primary", timeout, || async {
            let Some(addr) = self.primary_addr().await else {
                return false;
            };
            query::<String>(
                &format!("redis://{addr}"),
                redis::cmd("INFO").arg("replication"),
            )
            .await
            .is_ok_and(|info| connected_replicas(&info) >= n)
        })
        .await
    }
}

/// `connected_slaves:` from `INFO replication`.
fn connected_replicas(info: &str) -> usize {
    info.lines()
        .find_map(|l| l.trim().strip_prefix("connected_slaves:"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `(major, minor)` of a server binary, from `BINARY --version` (`v=7.0.15`).
pub fn binary_version(binary: &str) -> Option<(u32, u32)> {
    let out = Command::new(binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_replicas_reads_info() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=…\r\n";
        assert_eq!(connected_replicas(info), 2);
        assert_eq!(connected_replicas("role:master\r\n"), 0);
    }
}
