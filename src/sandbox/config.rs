//! Sandbox settings (`config/sandbox.toml`) and the ready-to-use credentials built
//! from them.
//!
//! The sandbox plays the *provider* side, so it holds the other halves of what
//! kirim's client config (`config/default.toml`) holds: the merchants' **public**
//! keys (to verify access-token signatures), the shared HMAC secrets, and for
//! NICEPAY the provider's own **private** key (to sign notifications). Secrets are
//! only ever read from files named by path (or `KIRIM_SANDBOX__…` variables); they
//! are wrapped in [`Secret`] so they cannot reach a log line.
//!
//! Every point NOTES.md marks unconfirmed on the client side is a setting here too
//! (token separator, the path prefix left out of the signed path), so the sandbox can
//! be switched to whatever a real provider turns out to do.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use rsa::{RsaPrivateKey, RsaPublicKey};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::faults::FaultRule;
use super::SandboxError;
use crate::config::{resolve_secret, EndpointUrlMode};
use crate::domain::{Money, Secret};
use crate::snap::keys;

/// The whole sandbox configuration, as written in `config/sandbox.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Address to bind; loopback by default (the admin endpoints have no auth).
    #[serde(default = "default_bind")]
    pub bind: IpAddr,
    /// Port; 0 picks a free one (tests), the real one is on [`super::SandboxHandle`].
    pub port: u16,
    /// Seed of every random choice (cancel draws, probabilistic faults), so a run
    /// with the same seed and the same request order replays exactly.
    pub seed: u64,
    /// Time from booking (INIT) to the final status. 0 = answer the final status at once.
    pub settlement_delay_ms: u64,
    /// Share of ordinary transfers that settle CANCELLED instead of SUCCESS (0.0–1.0).
    pub cancel_ratio: f64,
    /// Lifetime of an issued access token.
    pub token_ttl_secs: u64,
    /// Largest accepted difference between a request timestamp and the sandbox clock.
    pub max_clock_skew_secs: u64,
    /// The "hang" fault gives up after this long (answers 504) if the client has not.
    pub hang_max_ms: u64,
    /// On shutdown, in-flight requests get this long to finish.
    pub shutdown_grace_ms: u64,
    pub callbacks: CallbackSettings,
    pub ifortepay: IfortepaySandbox,
    pub nicepay: NicepaySandbox,
    pub singapay: SingapaySandbox,
    /// Faults active from the start; the admin endpoint can change them at runtime.
    #[serde(default)]
    pub faults: Vec<FaultRule>,
}

fn default_bind() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// How callbacks are retried.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackSettings {
    /// Deliveries per callback (first try included) while the answer is not 200.
    pub max_attempts: u32,
    /// Backoff before retry n is `retry_base_ms × 2^(n-1)`.
    pub retry_base_ms: u64,
    /// Per-attempt HTTP timeout.
    pub timeout_ms: u64,
}

/// iFortepay (disbursement on the Senmo hosts, plus direct debit).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IfortepaySandbox {
    pub client_id: String,
    #[serde(default, skip_serializing)]
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    /// The merchant's public key: verifies the access-token signature.
    pub public_key_path: PathBuf,
    /// CHANNEL-ID of disbursement calls (`api`).
    pub channel_id: String,
    /// CHANNEL-ID of direct-debit calls (`DD003`, ifortepay-direct-debit-payment.txt:45).
    pub debit_channel_id: String,
    /// X-PARTNER-ID of direct-debit calls: `IFP2024078302` in the document's samples
    /// (ifortepay-direct-debit-payment.txt:44), not the disbursement client id.
    #[serde(default = "document_debit_partner_id")]
    pub debit_partner_id: String,
    /// The merchant's direct-debit public key: verifies the SHA256withRSA service
    /// signature of direct-debit calls.
    pub debit_public_key_path: PathBuf,
    /// `|` per SNAP; one iFortepay page shows `:` (unconfirmed).
    pub token_separator: String,
    /// Leading path left out of the signed EndpointUrl ("" = the path as received).
    #[serde(default)]
    pub unsigned_path_prefix: String,
    /// Which EndpointUrl form of the service signature this sandbox accepts.
    /// Default `absolute`: ifortepay-transfer-interbank.txt:35, X-SIGNATURE, "Notes:
    /// (1) Use full URL including all parameters". NOTES.md calls it unconfirmed
    /// (SNAP sources sign the relative path), so `relative` is verifiable too.
    #[serde(default = "document_endpoint_url_mode")]
    pub endpoint_url_mode: EndpointUrlMode,
    /// The profile's `businessAccountNumber`; transfers must use it as `sourceAccountNo`.
    pub business_account_number: String,
    pub business_name: String,
    pub initial_balance: String,
    /// Fee debited with every transfer (`additionalInfo.fee`).
    pub fee: String,
    /// Where final transfer statuses are POSTed ("" = no callbacks).
    #[serde(default)]
    pub callback_url: String,
}

/// The direct-debit partner id of the document's samples.
fn document_debit_partner_id() -> String {
    "IFP2024078302".to_owned()
}

/// The iFortepay document's EndpointUrl form (ifortepay-transfer-interbank.txt:35).
fn document_endpoint_url_mode() -> EndpointUrlMode {
    EndpointUrlMode::Absolute
}

/// NICEPAY SNAP payout.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NicepaySandbox {
    pub client_id: String,
    #[serde(default, skip_serializing)]
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    pub public_key_path: PathBuf,
    /// NICEPAY's own key: signs notifications (kirim verifies with the public half).
    pub server_private_key_path: PathBuf,
    pub token_separator: String,
    /// NICEPAY's SDK signs the path without `/nicepay` (unconfirmed).
    #[serde(default)]
    pub unsigned_path_prefix: String,
    pub merchant_id: String,
    pub initial_balance: String,
    pub fee: String,
    /// Where notifications are POSTed ("" = none).
    #[serde(default)]
    pub notify_url: String,
}

/// Singapay (its own API, not SNAP).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SingapaySandbox {
    pub client_id: String,
    #[serde(default, skip_serializing)]
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    #[serde(default, skip_serializing)]
    pub api_key: Option<Secret>,
    pub api_key_file: Option<PathBuf>,
    /// The merchant's `account_id` (in the v1.0 path and the v2.0 body).
    pub account_id: String,
    #[serde(default)]
    pub unsigned_path_prefix: String,
    pub initial_balance: String,
    pub fee: String,
    /// Where final statuses are POSTed ("" = none).
    #[serde(default)]
    pub webhook_url: String,
}

impl SandboxConfig {
    /// Load a TOML file, then `KIRIM_SANDBOX__…` environment overrides
    /// (`KIRIM_SANDBOX__IFORTEPAY__CLIENT_SECRET`, `KIRIM_SANDBOX__PORT`).
    ///
    /// # Errors
    /// A missing file, a bad value (naming the key) or a secret written in the file.
    pub fn load(path: &Path) -> Result<SandboxConfig, SandboxError> {
        if !path.exists() {
            return Err(SandboxError::Config(format!(
                "{} not found",
                path.display()
            )));
        }
        let figment = Figment::new()
            .merge(Toml::file_exact(path))
            .merge(Env::prefixed("KIRIM_SANDBOX__").split("__"));
        for key in [
            "ifortepay.client_secret",
            "nicepay.client_secret",
            "singapay.client_secret",
            "singapay.api_key",
        ] {
            if let Some(meta) = figment.find_metadata(key) {
                if meta.source.as_ref().and_then(|s| s.file_path()).is_some() {
                    return Err(SandboxError::Config(format!(
                        "`{key}`: secrets must not be written in a config file; use `{key}_file`"
                    )));
                }
            }
        }
        let cfg: SandboxConfig = figment
            .extract()
            .map_err(|e| SandboxError::Config(e.to_string()))?;
        Ok(cfg)
    }

    /// The repository's `config/sandbox.toml` (tests and benches start from it).
    pub fn repo_default() -> Result<SandboxConfig, SandboxError> {
        Self::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sandbox.toml"))
    }

    /// Check the values serde cannot and load keys and secrets.
    pub(crate) fn resolve(&self) -> Result<Resolved, SandboxError> {
        let bad = |key: &str, rule: &str| SandboxError::Config(format!("`{key}`: {rule}"));
        if !(0.0..=1.0).contains(&self.cancel_ratio) {
            return Err(bad("cancel_ratio", "must be between 0.0 and 1.0"));
        }
        if self.token_ttl_secs == 0 {
            return Err(bad("token_ttl_secs", "must be positive"));
        }
        if self.callbacks.max_attempts == 0 {
            return Err(bad("callbacks.max_attempts", "must be at least 1"));
        }
        let money = |v: &str, key: &str| -> Result<Decimal, SandboxError> {
            Money::parse(v, key)
                .map(|m| m.as_decimal())
                .map_err(|e| SandboxError::Config(format!("`{key}`: {}", e.rule)))
        };
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let path = |p: &Path| -> PathBuf {
            // Relative paths are relative to the working directory, like
            // config/default.toml; fall back to the repository root so tests and
            // benches work from any directory.
            if p.is_relative() && !p.exists() && manifest.join(p).exists() {
                manifest.join(p)
            } else {
                p.to_owned()
            }
        };
        let secret = |v: &Option<Secret>, f: &Option<PathBuf>, key: &str| {
            resolve_secret(v, &f.as_deref().map(path), key)
                .map_err(|e| SandboxError::Config(e.to_string()))
        };
        let i = &self.ifortepay;
        let n = &self.nicepay;
        let s = &self.singapay;
        let key_err = |e: keys::KeyError| SandboxError::Config(e.to_string());
        Ok(Resolved {
            ifortepay: IfortepayCreds {
                client_secret: secret(
                    &i.client_secret,
                    &i.client_secret_file,
                    "ifortepay.client_secret",
                )?,
                public_key: keys::load_public_key(&path(&i.public_key_path)).map_err(key_err)?,
                debit_public_key: keys::load_public_key(&path(&i.debit_public_key_path))
                    .map_err(key_err)?,
                initial_balance: money(&i.initial_balance, "ifortepay.initial_balance")?,
                fee: money(&i.fee, "ifortepay.fee")?,
            },
            nicepay: NicepayCreds {
                client_secret: secret(
                    &n.client_secret,
                    &n.client_secret_file,
                    "nicepay.client_secret",
                )?,
                public_key: keys::load_public_key(&path(&n.public_key_path)).map_err(key_err)?,
                server_private_key: keys::load_private_key(&path(&n.server_private_key_path))
                    .map_err(key_err)?,
                initial_balance: money(&n.initial_balance, "nicepay.initial_balance")?,
                fee: money(&n.fee, "nicepay.fee")?,
            },
            singapay: SingapayCreds {
                client_secret: secret(
                    &s.client_secret,
                    &s.client_secret_file,
                    "singapay.client_secret",
                )?,
                api_key: secret(&s.api_key, &s.api_key_file, "singapay.api_key")?,
                initial_balance: money(&s.initial_balance, "singapay.initial_balance")?,
                fee: money(&s.fee, "singapay.fee")?,
            },
        })
    }

    pub fn settlement_delay(&self) -> Duration {
        Duration::from_millis(self.settlement_delay_ms)
    }
}

/// Keys, secrets and amounts parsed once at start.
pub(crate) struct Resolved {
    pub ifortepay: IfortepayCreds,
    pub nicepay: NicepayCreds,
    pub singapay: SingapayCreds,
}

pub(crate) struct IfortepayCreds {
    pub client_secret: Secret,
    pub public_key: RsaPublicKey,
    pub debit_public_key: RsaPublicKey,
    pub initial_balance: Decimal,
    pub fee: Decimal,
}

pub(crate) struct NicepayCreds {
    pub client_secret: Secret,
    pub public_key: RsaPublicKey,
    pub server_private_key: RsaPrivateKey,
    pub initial_balance: Decimal,
    pub fee: Decimal,
}

pub(crate) struct SingapayCreds {
    pub client_secret: Secret,
    pub api_key: Secret,
    pub initial_balance: Decimal,
    pub fee: Decimal,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_config_loads_and_resolves() {
        let cfg = SandboxConfig::repo_default().unwrap();
        let r = cfg.resolve().unwrap();
        assert_eq!(r.ifortepay.fee, Decimal::new(300000, 2));
        assert_eq!(format!("{:?}", r.singapay.api_key), "[redacted]");
    }

    #[test]
    fn secret_in_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sandbox.toml"),
        )
        .unwrap()
        .replace("[nicepay]\n", "[nicepay]\nclient_secret = \"leak-me\"\n");
        std::fs::write(&p, text).unwrap();
        let err = SandboxConfig::load(&p).unwrap_err().to_string();
        assert!(err.contains("nicepay.client_secret"), "{err}");
        assert!(!err.contains("leak-me"));
    }
}
