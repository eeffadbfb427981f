//! Long-running processes: `kirim worker` and `kirim serve`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::api::{ApiServer, ApiState};
use crate::callbacks::CallbackState;
use crate::client::Client;
use crate::config::Settings;
use crate::worker::{WorkerOptions, WorkerRuntime};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Jobs run at once per job kind (default: worker.concurrency from config).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Do not run the reconciliation sweep scheduler in this process.
    #[arg(long)]
    pub no_sweep: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default: api.bind from config).
    #[arg(long)]
    pub bind: Option<String>,
}

pub async fn worker(settings: Settings, a: WorkerArgs) -> anyhow::Result<ExitCode> {
    let providers = crate::providers::build_all(&settings.providers)?;
    let options = WorkerOptions {
        concurrency: a.concurrency.unwrap_or(settings.worker.concurrency),
        with_sweep: settings.reconcile.in_worker && !a.no_sweep,
    };
    tracing::info!(
        concurrency = options.concurrency,
        threads = settings.worker.threads,
        sweep = options.with_sweep,
        providers = providers.len(),
        orphan_recovery_secs = settings.orphan_recovery_bound().as_secs(),
        "starting worker"
    );
    let runtime = WorkerRuntime::build(settings, providers, options).await?;
    runtime.run_until_stopped(super::shutdown_signal()).await?;
    tracing::info!("worker stopped");
    Ok(ExitCode::SUCCESS)
}

pub async fn serve(settings: Settings, a: ServeArgs) -> anyhow::Result<ExitCode> {
    let providers = crate::providers::build_all(&settings.providers)?;
    let client = Client::connect(&settings).await?;
    let mut state = ApiState::new(&settings, client.clone(), providers);
    state.console =
        crate::console::ConsoleState::from_settings(&settings, client.clone())?.map(Arc::new);
    let callbacks = Arc::new(CallbackState::from_settings(&settings, client));
    state.callbacks = Some(callbacks.clone());
    let console = state.console.is_some();
    let bind = a.bind.unwrap_or_else(|| settings.api.bind.clone());
    let server = ApiServer::build(&bind, state, settings.api.max_body_bytes)
        .await
        .map_err(|e| anyhow::anyhow!("api.bind (or --bind) {bind:?}: cannot listen: {e}"))?;
    for warning in
        crate::callbacks::callback_url_warnings(&callbacks, &settings, server.local_addr()?.port())
    {
        tracing::warn!("{warning}");
    }
    tracing::info!(addr = %server.local_addr()?, console, "API listening (console: /ui)");
    server.run_until_stopped(super::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
