//! `kirim demo`: Redis, the sandbox, workers, the reconciler and the API in one
//! process, a realistic batch through the HTTP API, a live table and a summary.
//! Exit code 0 only if every payout reached its expected final state.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::config::Settings;
use crate::demo::DemoOptions;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// A small batch (one payout of each kind of outcome) instead of the realistic one.
    #[arg(long)]
    pub quick: bool,
    /// Fail (exit code 1) if payouts are not final after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
    /// Sandbox time from booking to final status, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub settlement_delay_ms: u64,
    /// Address of the demo's API (port 0 = a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub api_bind: String,
    /// Keep Redis, the sandbox, the workers and the API running after the summary,
    /// until Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
    /// Plain progress lines even on a terminal (no redrawing).
    #[arg(long)]
    pub plain: bool,
}

pub async fn run(settings: Settings, a: DemoArgs) -> anyhow::Result<ExitCode> {
    let opts = DemoOptions {
        quick: a.quick,
        timeout: Duration::from_secs(a.timeout_secs),
        settlement_delay: Duration::from_millis(a.settlement_delay_ms),
        api_bind: a.api_bind,
        keep_running: a.keep_running,
        plain: a.plain,
    };
    let ok = crate::demo::run(settings, opts, super::shutdown_signal()).await?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
