//! The `kirim` command line. `bin/kirim.rs` only calls [`main`]; each subcommand
//! lives in its own file and returns `anyhow::Result` so errors print once, on
//! stderr, with a non-zero exit code.

mod bench;
mod console;
mod demo;
mod doctor;
mod enqueue;
mod keygen;
mod ops;
mod provider;
mod recon;
mod run;
mod sandbox;
mod sign;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{LogFormat, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "kirim",
    version,
    about = "Durable payout worker for SNAP-BI providers"
)]
pub struct Cli {
    /// Extra configuration file layered over config/default.toml.
    #[arg(long, global = true, env = "KIRIM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format: human (terminal) or json (deployments).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole system in one command: Redis, sandbox, workers, reconciler, API and a batch.
    Demo(demo::DemoArgs),
    /// Generate an RSA-2048 key pair for SNAP (private.pem is PKCS#8, mode 0600).
    Keygen(keygen::KeygenArgs),
    /// Compute SNAP signatures offline (access token, HMAC service, RSA service).
    #[command(subcommand)]
    Sign(sign::SignCommand),
    /// Record a payout in the ledger and queue its job.
    #[command(subcommand)]
    Enqueue(enqueue::EnqueueCommand),
    /// Show one payout with its audit trail.
    Status(status::StatusArgs),
    /// List payouts in a state.
    List(status::ListArgs),
    /// Run the reconciliation sweep (once, or every tick).
    Reconcile(ops::ReconcileArgs),
    /// Move final payouts to their cold form now (the workers do it every minute).
    Compact(ops::CompactArgs),
    /// Inspect and re-drive dead letters.
    #[command(subcommand)]
    Dead(ops::DeadCommand),
    /// The day-end check of the providers' books against the ledger.
    #[command(subcommand)]
    Recon(recon::ReconCommand),
    /// Payouts that need an operator: list, resolve.
    #[command(subcommand)]
    Review(ops::ReviewCommand),
    /// Application notifications: list, redeliver.
    #[command(subcommand)]
    Events(ops::EventsCommand),
    /// Run workers for every job kind (and, by default, the reconciliation sweep).
    Worker(run::WorkerArgs),
    /// Serve the HTTP API, the operator console (/ui), provider callbacks, health and metrics.
    Serve(run::ServeArgs),
    /// Operator console helpers: hash-password.
    #[command(subcommand)]
    Console(console::ConsoleCommand),
    /// Run the built-in provider sandbox (iFortepay, NICEPAY, Singapay) with fault injection.
    Sandbox(sandbox::SandboxArgs),
    /// Call one provider by hand: token, profile, balance, account-inquiry, history, transfer-status, health.
    Provider(provider::ProviderArgs),
    /// End-to-end benchmark: W worker processes against the sandbox vs the bare queue.
    Bench(bench::BenchArgs),
}

/// Parse arguments, run the command, map errors to exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes, each said once: a cause whose text the message
/// already contains (`#[error("configuration: {0}")]` over `#[from]`) is skipped.
fn one_line(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Settings with every `[providers.*]` section checked by its provider.
fn checked_settings(config: Option<&std::path::Path>) -> anyhow::Result<Settings> {
    let settings = Settings::load(config)?;
    crate::providers::Registry::builtin().check(&settings.providers)?;
    Ok(settings)
}

fn load_settings(cli: &Cli) -> anyhow::Result<Settings> {
    let settings = checked_settings(cli.config.as_deref())?;
    crate::telemetry::init(
        cli.log_format.unwrap_or(settings.log.format),
        &settings.log.filter,
    );
    Ok(settings)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    runtime_with_threads(0)
}

/// A multi-thread runtime with `threads` worker threads (0: tokio's default, one
/// per core).
fn runtime_with_threads(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        builder.worker_threads(threads);
    }
    Ok(builder.enable_all().build()?)
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Keygen(args) => {
            crate::telemetry::init(cli.log_format.unwrap_or_default(), "warn");
            keygen::run(args)
        }
        Command::Console(cmd) => {
            crate::telemetry::init(cli.log_format.unwrap_or_default(), "warn");
            console::run(cmd)
        }
        Command::Sign(cmd) => {
            crate::telemetry::init(cli.log_format.unwrap_or_default(), "warn");
            sign::run(cmd)
        }
        Command::Sandbox(args) => {
            crate::telemetry::init(cli.log_format.unwrap_or_default(), "info");
            sandbox::run(args, cli.config)
        }
        Command::Provider(args) => {
            crate::telemetry::init(cli.log_format.unwrap_or_default(), "warn");
            provider::run(args, cli.config)
        }
        Command::Demo(args) => {
            // The live table owns the terminal: only errors are logged (RUST_LOG wins).
            let settings = checked_settings(cli.config.as_deref())?;
            crate::telemetry::init(cli.log_format.unwrap_or(settings.log.format), "error");
            runtime()?.block_on(demo::run(settings, args))
        }
        _ => {
            let settings = load_settings(&cli)?;
            let threads = match cli.command {
                // The benchmark's no-op workers run as the real ones do.
                Command::Worker(_) => settings.worker.threads,
                Command::Bench(ref b) if b.noop_worker => settings.worker.threads,
                _ => 0,
            };
            runtime_with_threads(threads)?.block_on(async move {
                match cli.command {
                    Command::Enqueue(c) => enqueue::run(&settings, c).await,
                    Command::Status(a) => status::status(&settings, a).await,
                    Command::List(a) => status::list(&settings, a).await,
                    Command::Reconcile(a) => ops::reconcile(&settings, a).await,
                    Command::Compact(a) => ops::compact(&settings, a).await,
                    Command::Dead(c) => ops::dead_cmd(&settings, c).await,
                    Command::Events(c) => ops::events_cmd(&settings, c).await,
                    Command::Review(c) => ops::review_cmd(&settings, c).await,
                    Command::Recon(c) => recon::run(&settings, c).await,
                    Command::Worker(a) => run::worker(settings, a).await,
                    Command::Serve(a) => run::serve(settings, a).await,
                    Command::Bench(a) => bench::run(settings, a, cli.config).await,
                    Command::Keygen(_)
                    | Command::Console(_)
                    | Command::Demo(_)
                    | Command::Sign(_)
                    | Command::Sandbox(_)
                    | Command::Provider(_) => {
                        unreachable!("handled above")
                    }
                }
            })
        }
    }
}
