//! `[providers.singapay]`: the section this provider reads.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{resolve_secret, ConfigError, HttpSettings};
use crate::domain::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum SingapayApiVersion {
    /// v1.0 transfer, the seed document (singapay-disbursement-transfer.txt): the
    /// default. No client reference and no status inquiry: a lost answer goes to
    /// an operator (NEEDS_REVIEW), never resent.
    #[default]
    #[serde(rename = "v1")]
    V1,
    /// v2.0 transfer with `reference_number` and inquiry-status. Not in the seed
    /// document; its fields follow Singapay's public SDK (docs/conformance/singapay.md).
    #[serde(rename = "v2")]
    V2,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SingapaySettings {
    pub enabled: bool,
    #[serde(flatten)]
    pub http: HttpSettings,
    pub client_id: String,
    #[serde(default, skip_serializing)]
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    /// The `X-PARTNER-ID` API key.
    #[serde(default, skip_serializing)]
    pub api_key: Option<Secret>,
    pub api_key_file: Option<PathBuf>,
    pub account_id: String,
    pub api_version: SingapayApiVersion,
    /// Our webhook URL as registered with Singapay; its path (and query) is the
    /// `ENDPOINT` of the webhook signature.
    pub webhook_url: String,
}

impl SingapaySettings {
    pub fn client_secret(&self) -> Result<Secret, ConfigError> {
        resolve_secret(
            &self.client_secret,
            &self.client_secret_file,
            "providers.singapay.client_secret",
        )
    }
    pub fn api_key(&self) -> Result<Secret, ConfigError> {
        resolve_secret(
            &self.api_key,
            &self.api_key_file,
            "providers.singapay.api_key",
        )
    }
}
