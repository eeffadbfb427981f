//! `kirim keygen --out DIR`: the iFortepay "Generate Private-Public Key Pair" API, offline.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;

use crate::snap::keys;

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory to write private.pem and public.pem into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let private = args.out.join("private.pem");
    let public = args.out.join("public.pem");
    for p in [&private, &public] {
        if p.exists() && !args.force {
            bail!("{} already exists; pass --force to overwrite", p.display());
        }
    }
    let pair = keys::generate_key_pair()?;
    write_private(&private, &pair.private_pem)?;
    std::fs::write(&public, &pair.public_pem)
        .with_context(|| format!("cannot write {}", public.display()))?;
    eprintln!(
        "wrote {} (keep secret) and {} (send to the provider)",
        private.display(),
        public.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Create the private key file with mode 0600 from the start, so it is never
/// readable by others, not even for an instant.
fn write_private(path: &std::path::Path, pem: &str) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(pem.as_bytes())?;
    Ok(())
}
