//! The `kirim` command line. `bin/kirim.rs` only calls [`main`]; each subcommand
//! lives in its own file and returns `anyhow::Result` so errors print once, on
//! stderr, with a non-zero exit code.

mod keygen;
mod sandbox;
mod sign;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::LogFormat;

#[derive(Debug, Parser)]
#[command(name = "kirim", version, about = "Durable payout worker for SNAP-BI providers")]
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
    /// Generate an RSA-2048 key pair for SNAP (private.pem is PKCS#8, mode 0600).
    Keygen(keygen::KeygenArgs),
    /// Compute SNAP signatures offline (access token, HMAC service, RSA service).
    #[command(subcommand)]
    Sign(sign::SignCommand),
    /// Run the built-in provider sandbox (iFortepay, NICEPAY, Singapay) with fault injection.
    Sandbox(sandbox::SandboxArgs),
}

/// Parse arguments, run the command, map errors to exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.log_format.unwrap_or_default();
    crate::telemetry::init(format, "warn");
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Sign(cmd) => sign::run(cmd),
        Command::Sandbox(args) => sandbox::run(args, cli.config),
    }
}
