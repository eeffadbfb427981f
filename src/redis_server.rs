//! A Redis server for tests and the demo — never a mock.
//!
//! [`TestRedis::start`] picks, in order:
//! 1. `REDIS_URL` when set (a shared server; callers isolate with a unique namespace);
//! 2. [`server_binary`] (`redis-server`, or `KIRIM_REDIS_SERVER`) from `PATH`, started on a free port in a temporary directory and
//!    stopped when the handle is dropped (a drop guard, like mini-redis's `DbDropGuard`);
//! 3. with the `testcontainers` cargo feature, a `redis:7` container started through
//!    the `testcontainers` crate (removed when the handle is dropped);
//! 4. otherwise an error that says how to get Redis (and, with the feature, why no
//!    container could be started: typically no Docker engine answers).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

pub mod ha;

/// The server binary tests start: `KIRIM_REDIS_SERVER` (e.g. `valkey-server`) or
/// `redis-server`.
pub fn server_binary() -> String {
    std::env::var("KIRIM_REDIS_SERVER")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "redis-server".to_owned())
}

#[derive(Debug, Error)]
pub enum HarnessError {
    #[error(
        "no Redis available: set REDIS_URL, or install redis-server \
         (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis), \
         or build with `--features testcontainers` and start a Docker engine"
    )]
    NoRedis,
    /// The container fallback (feature `testcontainers`) could not start Redis.
    #[error(
        "no Redis available: set REDIS_URL or install redis-server; \
         the redis:7 container did not start either ({0})"
    )]
    Container(String),
    #[error("redis-server did not start: {0}")]
    Start(String),
}

enum Backing {
    External,
    Process {
        child: Child,
        _dir: tempfile::TempDir,
    },
    #[cfg(feature = "testcontainers")]
    Container(container::Handle),
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
        if which(&server_binary()) {
            return Self::spawn_local(&[]);
        }
        Self::spawn_container()
    }

    /// Start a private `redis-server` from PATH with extra arguments
    /// (e.g. `["--appendonly", "yes"]`).
    pub fn spawn_local(extra_args: &[&str]) -> Result<TestRedis, HarnessError> {
        let mut last_err = String::new();
        // A port found free can be taken before redis binds it; try a few times.
        for _ in 0..5 {
            let port = free_port().map_err(|e| HarnessError::Start(e.to_string()))?;
            let dir = tempfile::tempdir().map_err(|e| HarnessError::Start(e.to_string()))?;
            let mut child = Command::new(server_binary())
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

    #[cfg(feature = "testcontainers")]
    fn spawn_container() -> Result<TestRedis, HarnessError> {
        let handle = container::Handle::start().map_err(HarnessError::Container)?;
        let redis = TestRedis {
            url: format!("redis://{}:{}", handle.host, handle.port),
            backing: Backing::Container(handle),
        };
        Ok(redis)
    }

    #[cfg(not(feature = "testcontainers"))]
    fn spawn_container() -> Result<TestRedis, HarnessError> {
        Err(HarnessError::NoRedis)
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
            #[cfg(feature = "testcontainers")]
            Backing::Container(handle) => handle.stop(),
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

/// The container fallback, through the `testcontainers` crate.
///
/// `TestRedis` is synchronous and is created and dropped both inside and outside
/// tokio runtimes (tests, `kirim demo`), so the container lives on a thread of its
/// own with its own runtime: start, report the address, wait for the stop signal,
/// remove the container. No runtime is ever entered from inside another.
#[cfg(feature = "testcontainers")]
mod container {
    use std::sync::mpsc;
    use std::thread::JoinHandle;

    use testcontainers::core::{IntoContainerPort, WaitFor};
    use testcontainers::runners::AsyncRunner;
    use testcontainers::{GenericImage, ImageExt};

    /// A running `redis:7` container; [`Handle::stop`] removes it.
    pub(super) struct Handle {
        pub(super) host: String,
        pub(super) port: u16,
        stop: Option<mpsc::Sender<()>>,
        thread: Option<JoinHandle<()>>,
    }

    impl Handle {
        /// Start the container (AOF with `appendfsync always`, as the default
        /// `redis.durability = "fsync"` requires) and wait until Redis is ready.
        /// The error says why, e.g. that no Docker engine answers.
        pub(super) fn start() -> Result<Handle, String> {
            let (ready_tx, ready_rx) = mpsc::channel::<Result<(String, u16), String>>();
            let (stop_tx, stop_rx) = mpsc::channel::<()>();
            let thread = std::thread::Builder::new()
                .name("redis-container".into())
                .spawn(move || run(ready_tx, stop_rx))
                .map_err(|e| format!("cannot start a thread: {e}"))?;
            match ready_rx.recv() {
                Ok(Ok((host, port))) => Ok(Handle {
                    host,
                    port,
                    stop: Some(stop_tx),
                    thread: Some(thread),
                }),
                Ok(Err(e)) => {
                    let _ = thread.join();
                    Err(e)
                }
                Err(_) => {
                    let _ = thread.join();
                    Err("the container thread ended without an answer".into())
                }
            }
        }

        /// Remove the container and wait for that to finish.
        pub(super) fn stop(&mut self) {
            self.stop.take();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn run(ready: mpsc::Sender<Result<(String, u16), String>>, stop: mpsc::Receiver<()>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready.send(Err(format!("cannot start a tokio runtime: {e}")));
                return;
            }
        };
        runtime.block_on(async move {
            let request = GenericImage::new("redis", "7")
                .with_exposed_port(6379.tcp())
                .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
                .with_cmd([
                    "redis-server",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                ]);
            let container = match request.start().await {
                Ok(c) => c,
                Err(e) => {
                    let _ = ready.send(Err(format!("testcontainers: {e}")));
                    return;
                }
            };
            let address = async {
                let host = container.get_host().await?.to_string();
                let port = container.get_host_port_ipv4(6379.tcp()).await?;
                Ok::<_, testcontainers::TestcontainersError>((host, port))
            }
            .await
            .map_err(|e| format!("testcontainers: {e}"));
            let started = address.is_ok();
            let _ = ready.send(address);
            if started {
                // Blocks this thread (and its runtime) until the handle is stopped or
                // dropped: nothing else runs here.
                let _ = stop.recv();
            }
            if let Err(e) = container.rm().await {
                eprintln!("redis container not removed: {e}");
            }
        });
    }
}
