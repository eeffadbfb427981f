//! Worker processes under test: the real `kirim` binary started W times, their CPU
//! time and peak RSS read from `/proc` before they exit, and a graceful stop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::stats::{parse_proc_stat_ticks, parse_status_kb};

/// How to start one worker process.
#[derive(Debug, Clone)]
pub struct Spawn {
    pub exe: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// CPU and memory of a set of processes.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcUsage {
    /// User + system CPU seconds, summed over the processes.
    pub cpu_secs: f64,
    /// Largest peak RSS (VmHWM) of any one process, MiB.
    pub peak_rss_mib: f64,
    /// Sum of the peak RSS of all processes, MiB.
    pub total_peak_rss_mib: f64,
}

/// Running worker processes; killed on drop if not stopped.
pub struct Workers {
    children: Vec<Child>,
}

/// Clock ticks per second for `/proc/<pid>/stat` (sysconf(_SC_CLK_TCK); 100 on Linux).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds and peak RSS (MiB) of one process, from `/proc`.
pub fn usage_of(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let ticks = parse_proc_stat_ticks(&stat)?;
    let hwm = parse_status_kb(&status, "VmHWM").unwrap_or(0);
    Some((ticks as f64 / clock_ticks(), hwm as f64 / 1024.0))
}

impl Workers {
    /// Start `n` processes.
    pub fn spawn(n: usize, how: &Spawn) -> std::io::Result<Workers> {
        let mut children = Vec::with_capacity(n);
        for _ in 0..n {
            let child = Command::new(&how.exe)
                .args(&how.args)
                .envs(how.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()?;
            children.push(child);
        }
        Ok(Workers { children })
    }

    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// Whether every process is still running.
    pub fn all_alive(&mut self) -> bool {
        self.children
            .iter_mut()
            .all(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// CPU and peak RSS so far (read while the processes are alive).
    pub fn usage(&self) -> ProcUsage {
        let mut u = ProcUsage::default();
        for pid in self.pids() {
            if let Some((cpu, rss)) = usage_of(pid) {
                u.cpu_secs += cpu;
                u.peak_rss_mib = u.peak_rss_mib.max(rss);
                u.total_peak_rss_mib += rss;
            }
        }
        u
    }

    /// SIGTERM (graceful shutdown), then SIGKILL whatever is left after `grace`.
    pub fn stop(mut self, grace: Duration) {
        for pid in self.pids() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let deadline = Instant::now() + grace;
        for child in &mut self.children {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill_all();
    }

    fn kill_all(&mut self) {
        for child in &mut self.children {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// CPU seconds of this process so far (the benchmark driver and the in-process sandbox).
pub fn self_cpu_secs() -> f64 {
    usage_of(std::process::id()).map(|u| u.0).unwrap_or(0.0)
}
