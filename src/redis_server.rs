//! A Redis server for tests and the demo — never a mock.
//!
//! [`TestRedis::start`] picks, in order:
//! 1. `REDIS_URL` when set (a shared server; callers isolate with a unique namespace);
//! 2. `redis-server` from `PATH`, started on a free port in a temporary directory and
//!    stopped when the handle is dropped (a drop guard, like mini-redis's `DbDropGuard`);
//! 3. a `redis:7` container when a Docker engine answers (`docker info`);
//! 4. otherwise an error that says how to install Redis.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum HarnessError {
    #[error(
        "no Redis available: set REDIS_URL, or install redis-server \
         (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis), \
         or start a Docker engine"
    )]
    NoRedis,
    #[error("redis-server did not start: {0}")]
    Start(String),
}

enum Backing {
    External,
    Process {
        child: Child,
        _dir: tempfile::TempDir,
    },
    Container {
        id: String,
    },
}

/// A running Redis that tests or the demo can use. Dropping it stops what it started.
pub struct TestRedis {
    url: String,
    backing: Backing,
}

impl TestRedis {
    /// Find or start a Redis server (see the module docs for the order).
    pub fn start() -> Result<TestRedis, HarnessError> {
        if let Ok(url) = std::env::var("REDIS_URL") {
            if !url.is_empty() {
                return Ok(TestRedis {
                    url,
                    backing: Backing::External,
                });
            }
        }
        if which("redis-server") {
            return Self::spawn_local(&[]);
        }
        if docker_answers() {
            return Self::spawn_container();
        }
        Err(HarnessError::NoRedis)
    }

    /// Start a private `redis-server` from PATH with extra arguments
    /// (e.g. `["--appendonly", "yes"]`).
    pub fn spawn_local(extra_args: &[&str]) -> Result<TestRedis, HarnessError> {
        let mut last_err = String::new();
        // A port found free can be taken before redis binds it; try a few times.
        for _ in 0..5 {
            let port = free_port().map_err(|e| HarnessError::Start(e.to_string()))?;
            let dir = tempfile::tempdir().map_err(|e| HarnessError::Start(e.to_string()))?;
            let mut child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                ])
                // The default `redis.durability = "fsync"` asks for this, and
                // kirim checks it at start-up.
                .args(["--appendonly", "yes", "--appendfsync", "always"])
                .args(["--protected-mode", "no"])
                .args(extra_args)
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| HarnessError::Start(format!("spawn redis-server: {e}")))?;
            let url = format!("redis://127.0.0.1:{port}");
            if wait_ready(port, Duration::from_secs(10), &mut child) {
                return Ok(TestRedis {
                    url,
                    backing: Backing::Process { child, _dir: dir },
                });
            }
            let _ = child.kill();
            let _ = child.wait();
            last_err = format!("not ready on port {port}");
        }
        Err(HarnessError::Start(last_err))
    }

    fn spawn_container() -> Result<TestRedis, HarnessError> {
        let out = Command::new("docker")
            .args(["run", "-d", "--rm", "-p", "127.0.0.1::6379", "redis:7"])
            .output()
            .map_err(|e| HarnessError::Start(e.to_string()))?;
        if !out.status.success() {
            return Err(HarnessError::Start(
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let port_out = Command::new("docker")
            .args(["port", &id, "6379/tcp"])
            .output()
            .map_err(|e| HarnessError::Start(e.to_string()))?;
        let mapping = String::from_utf8_lossy(&port_out.stdout).to_string();
        let port: u16 = mapping
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| {
                HarnessError::Start(format!("cannot read mapped port from {mapping:?}"))
            })?;
        let redis = TestRedis {
            url: format!("redis://127.0.0.1:{port}"),
            backing: Backing::Container { id },
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if ping(port) {
                return Ok(redis);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(HarnessError::Start("container did not answer PING".into()))
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether this handle owns the server (false for `REDIS_URL`).
    pub fn is_private(&self) -> bool {
        !matches!(self.backing, Backing::External)
    }

    /// The pid of the private `redis-server`, if any.
    pub fn pid(&self) -> Option<u32> {
        match &self.backing {
            Backing::Process { child, .. } => Some(child.id()),
            _ => None,
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        match &mut self.backing {
            Backing::External => {}
            Backing::Process { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Backing::Container { id } => {
                let _ = Command::new("docker")
                    .args(["rm", "-f", id.as_str()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// A namespace unique to this process and call, for isolating tests on a shared server.
pub fn unique_namespace(prefix: &str) -> String {
    use rand::RngExt;
    let n: u64 = rand::rng().random();
    format!("{{{prefix}-{}-{n:x}}}", std::process::id())
}

fn which(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(bin).is_file()))
        .unwrap_or(false)
}

fn docker_answers() -> bool {
    which("docker")
        && Command::new("docker")
            .arg("info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Raw RESP PING; avoids needing an async runtime in `Drop`-friendly code.
fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

fn wait_ready(port: u16, timeout: Duration, child: &mut Child) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false; // exited (port taken, bad args)
        }
        if ping(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
