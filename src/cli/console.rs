//! `kirim console hash-password`: the `password_hash` of a `[[console.users]]` entry.

use std::io::Read;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ConsoleCommand {
    /// Read a password on stdin and print its argon2id hash for `[[console.users]]`.
    HashPassword,
}

pub fn run(cmd: ConsoleCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConsoleCommand::HashPassword => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input)?;
            // One trailing newline (from `echo` or a terminal) is not part of the password.
            let password = input
                .strip_suffix('\n')
                .map(|p| p.strip_suffix('\r').unwrap_or(p))
                .unwrap_or(&input);
            if password.is_empty() {
                anyhow::bail!("no password on stdin (printf '%s' \"$PASSWORD\" | kirim console hash-password)");
            }
            let hash = crate::console::auth::hash_password(password).map_err(anyhow::Error::msg)?;
            println!("{hash}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
