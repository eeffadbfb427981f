//! `kirim bench --pin-sandbox`: the sandbox on a core of its own, everything else
//! (the driver, Redis, the worker and API processes) on the other cores, so the
//! figures show what kirim itself sustains when the provider costs it nothing.
//!
//! Linux only (`sched_setaffinity`); elsewhere the option is refused.

use std::future::Future;

use anyhow::{bail, Context as _};

use crate::sandbox::{Sandbox, SandboxConfig, SandboxHandle};

/// The cores this process may run on now.
pub fn allowed_cpus() -> anyhow::Result<Vec<usize>> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; the call fills it.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).context("sched_getaffinity");
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            // SAFETY: `cpu` is below CPU_SETSIZE.
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .collect())
    }
    #[cfg(not(target_os = "linux"))]
    bail!("--pin-sandbox needs Linux (sched_setaffinity)")
}

#[cfg(target_os = "linux")]
fn set_affinity(tid: libc::pid_t, cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: as above; CPU_SET writes inside the set for cpu < CPU_SETSIZE.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu < libc::CPU_SETSIZE as usize {
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
    }
    let rc = unsafe { libc::sched_setaffinity(tid, std::mem::size_of_val(&set), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The split of the cores: the last allowed one for the sandbox, the rest for
/// everything else. Refused with fewer than two cores.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Split {
    pub sandbox: usize,
    pub rest: Vec<usize>,
}

impl Split {
    pub fn of(cpus: &[usize]) -> anyhow::Result<Split> {
        match cpus.split_last() {
            Some((&sandbox, rest)) if !rest.is_empty() => Ok(Split {
                sandbox,
                rest: rest.to_vec(),
            }),
            _ => bail!(
                "--pin-sandbox needs at least two cores to split (this process may use {:?})",
                cpus
            ),
        }
    }

    /// Move every thread of this process onto `rest`. Processes started later
    /// (Redis, workers, `kirim serve`) inherit the mask of the thread that starts them.
    pub fn confine_process(&self) -> anyhow::Result<()> {
        #[cfg(target_os = "linux")]
        {
            let tasks = std::fs::read_dir("/proc/self/task").context("read /proc/self/task")?;
            for task in tasks {
                let task = task.context("read /proc/self/task")?;
                let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
                    continue;
                };
                // A thread that ended meanwhile is no error.
                match set_affinity(tid, &self.rest) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                    Err(e) => return Err(e).context("sched_setaffinity"),
                }
            }
            Ok(())
        }
        #[cfg(not(target_os = "linux"))]
        bail!("--pin-sandbox needs Linux (sched_setaffinity)")
    }
}

/// The sandbox of one benchmark run: on the caller's runtime, or on a runtime of
/// its own whose threads are pinned to one core.
pub struct BenchSandbox {
    // Dropped in this order: the handle (tells the sandbox to stop), then its runtime.
    handle: SandboxHandle,
    runtime: Option<OwnRuntime>,
}

/// A runtime owned inside another runtime's context, where dropping it normally
/// would panic: it is shut down in the background instead.
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl BenchSandbox {
    pub async fn start(cfg: SandboxConfig, pin: Option<usize>) -> anyhow::Result<BenchSandbox> {
        let Some(cpu) = pin else {
            return Ok(BenchSandbox {
                handle: Sandbox::start(cfg).await?,
                runtime: None,
            });
        };
        let runtime = pinned_runtime(cpu)?;
        let handle = on(&runtime, Sandbox::start(cfg)).await??;
        Ok(BenchSandbox {
            handle,
            runtime: Some(OwnRuntime(Some(runtime))),
        })
    }

    pub fn handle(&self) -> &SandboxHandle {
        &self.handle
    }

    pub async fn shutdown(self) {
        let BenchSandbox { handle, runtime } = self;
        match runtime.as_ref().and_then(|r| r.0.as_ref()) {
            Some(rt) => {
                let _ = on(rt, handle.shutdown()).await;
            }
            None => handle.shutdown().await,
        }
    }
}

/// Run `fut` on `rt` and wait for it from the caller's runtime.
async fn on<F>(rt: &tokio::runtime::Runtime, fut: F) -> anyhow::Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.spawn(fut).await.context("sandbox runtime task")
}

fn pinned_runtime(cpu: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    #[cfg(target_os = "linux")]
    {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kirim-sandbox")
            .on_thread_start(move || {
                if let Err(e) = set_affinity(0, &[cpu]) {
                    tracing::warn!(error = %e, cpu, "could not pin a sandbox thread");
                }
            })
            .enable_all()
            .build()
            .context("start the sandbox's runtime")
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cpu;
        bail!("--pin-sandbox needs Linux (sched_setaffinity)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_core_goes_to_the_sandbox_and_one_core_is_refused() {
        assert_eq!(
            Split::of(&[0, 1]).unwrap(),
            Split {
                sandbox: 1,
                rest: vec![0]
            }
        );
        assert_eq!(
            Split::of(&[2, 5, 7]).unwrap(),
            Split {
                sandbox: 7,
                rest: vec![2, 5]
            }
        );
        let err = Split::of(&[3]).unwrap_err().to_string();
        assert!(err.contains("at least two cores"), "{err}");
        assert!(Split::of(&[]).is_err());
    }
}
