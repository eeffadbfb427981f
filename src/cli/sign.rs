//! `kirim sign token|service|service-rsa`: the iFortepay "Generate Signature" APIs,
//! offline. Each prints only the signature on stdout; `--explain` adds the
//! string-to-sign and the body hash on stderr, which is how a signature mismatch
//! with a provider gets found.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::snap::{self, keys, timestamp};

#[derive(Debug, Subcommand)]
pub enum SignCommand {
    /// Access-token signature: base64(SHA256withRSA(key, clientId|X-TIMESTAMP)).
    Token(TokenArgs),
    /// Symmetric service signature: base64(HMAC-SHA512(secret, METHOD:path:token:sha256(body):ts)).
    Service(ServiceArgs),
    /// Asymmetric service signature: base64(SHA256withRSA(key, METHOD:path:sha256(body):ts)).
    ServiceRsa(ServiceRsaArgs),
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[arg(long)]
    pub client_id: String,
    /// X-TIMESTAMP exactly as it will be sent (default: now, Jakarta time).
    #[arg(long)]
    pub timestamp: Option<String>,
    #[arg(long)]
    pub private_key: PathBuf,
    /// Separator between client id and timestamp (SNAP: '|').
    #[arg(long, default_value = "|")]
    pub separator: String,
    /// Also print the string-to-sign on stderr.
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// HTTP method (upper-cased before signing).
    #[arg(long)]
    pub method: String,
    /// EndpointUrl: the path with its query string, e.g. /api/v1.2/transfer-interbank.
    #[arg(long)]
    pub path: String,
    /// Access token, without the "Bearer " prefix.
    #[arg(long)]
    pub access_token: String,
    /// Client secret; prefer the KIRIM_CLIENT_SECRET environment variable.
    #[arg(long, env = "KIRIM_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
    #[arg(long)]
    pub timestamp: Option<String>,
    /// JSON body to hash ('-' for stdin); minified first. No body = empty string.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct ServiceRsaArgs {
    #[arg(long)]
    pub method: String,
    #[arg(long)]
    pub path: String,
    #[arg(long)]
    pub timestamp: Option<String>,
    #[arg(long)]
    pub private_key: PathBuf,
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    #[arg(long)]
    pub explain: bool,
}

pub fn run(cmd: SignCommand) -> anyhow::Result<ExitCode> {
    let signature = match cmd {
        SignCommand::Token(a) => {
            let key = keys::load_private_key(&a.private_key)?;
            let ts = a.timestamp.unwrap_or_else(timestamp::now);
            let sts = snap::token_string_to_sign(&a.client_id, &a.separator, &ts);
            if a.explain {
                eprintln!("string-to-sign: {sts}");
            }
            snap::rsa_sign(&key, &sts)
        }
        SignCommand::Service(a) => {
            let body = read_body(a.body_file.as_deref())?;
            let ts = a.timestamp.unwrap_or_else(timestamp::now);
            let sts = snap::service_string_to_sign(
                &a.method,
                &a.path,
                &a.access_token,
                body.as_bytes(),
                &ts,
            );
            if a.explain {
                explain(&body, &sts);
            }
            snap::hmac_sign(&a.client_secret, &sts)
        }
        SignCommand::ServiceRsa(a) => {
            let key = keys::load_private_key(&a.private_key)?;
            let body = read_body(a.body_file.as_deref())?;
            let ts = a.timestamp.unwrap_or_else(timestamp::now);
            let sts = snap::service_rsa_string_to_sign(&a.method, &a.path, body.as_bytes(), &ts);
            if a.explain {
                explain(&body, &sts);
            }
            snap::rsa_sign(&key, &sts)
        }
    };
    println!("{signature}");
    Ok(ExitCode::SUCCESS)
}

fn explain(minified: &str, sts: &str) {
    eprintln!("minified body: {minified}");
    eprintln!("body sha256:   {}", snap::sha256_hex(minified.as_bytes()));
    eprintln!("string-to-sign: {sts}");
}

/// Read and minify the body. A UTF-8 byte-order mark (added by some editors) is
/// not part of the JSON and is dropped.
fn read_body(path: Option<&Path>) -> anyhow::Result<String> {
    let Some(path) = path else {
        return Ok(String::new());
    };
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("cannot read stdin")?;
        buf
    } else {
        std::fs::read(path).with_context(|| format!("cannot read body file {}", path.display()))?
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("body file {} is not valid UTF-8", path.display()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    snap::minify(text).with_context(|| format!("body file {}", path.display()))
}
