//! `kirim sandbox [--port 8080] [--config config/sandbox.toml]`: run the built-in
//! provider sandbox until ctrl-c or SIGTERM, then shut down gracefully.
//!
//! `--config` is kirim's global flag; for this subcommand it names the *sandbox*
//! configuration file (default `config/sandbox.toml`), not a worker config layer.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::sandbox::{Sandbox, SandboxConfig};

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Port to listen on (overrides the config file; 0 = any free port).
    #[arg(long)]
    pub port: Option<u16>,
}

pub fn run(args: SandboxArgs, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let path = config.unwrap_or_else(|| crate::config::config_dir().join("sandbox.toml"));
    let mut cfg = SandboxConfig::load(&path)?;
    if let Some(port) = args.port {
        cfg.port = port;
    }
    crate::telemetry::init(crate::config::LogFormat::Human, "info");
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(async {
        let handle = Sandbox::start(cfg).await?;
        eprintln!("kirim sandbox listening on {}", handle.url(""));
        shutdown_signal().await;
        eprintln!("shutting down");
        handle.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// ctrl-c, or SIGTERM on Unix (what `docker stop` and Kubernetes send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
