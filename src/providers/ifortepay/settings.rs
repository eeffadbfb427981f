//! `[providers.ifortepay]`: the section this provider reads (the registry hands
//! it over as loaded; `config` knows only the shared HTTP keys).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{resolve_secret, ConfigError, EndpointUrlMode, HttpSettings};
use crate::domain::Secret;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IfortepaySettings {
    pub enabled: bool,
    #[serde(flatten)]
    pub http: HttpSettings,
    pub client_id: String,
    #[serde(default, skip_serializing)]
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    pub private_key_path: PathBuf,
    /// Public key that verifies callbacks signed with RSA (not used by HMAC callbacks).
    pub channel_id: String,
    /// CHANNEL-ID for direct debit (`DD003` in the examples).
    pub debit_channel_id: String,
    pub endpoint_url_mode: EndpointUrlMode,
    /// `|` per SNAP; `:` per one iFortepay page (unconfirmed).
    pub token_separator: String,
    /// The URL iFortepay calls back, as registered; part of the callback signature.
    pub callback_url: String,
    pub merchant: IfortepayMerchant,
}

/// Merchant-level transfer fields supplied from config, not by each producer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IfortepayMerchant {
    /// Must equal the profile's `businessAccountNumber`.
    pub source_account_no: String,
    pub originator_customer_no: String,
    pub originator_customer_name: String,
    pub originator_bank_code: String,
    pub sender_country: String,
    pub sender_city: String,
    pub beneficiary_country: String,
    pub beneficiary_city: String,
    /// "1" business, "2" education, "3" other.
    pub transaction_purpose: String,
    /// `additionalInfo.isVirtualAccount`: "Y" or "N" (default "N").
    #[serde(default = "default_is_virtual_account")]
    pub is_virtual_account: String,
    /// `feeType`: "OUR" (fee charged to sender) is the only value iFortepay supports.
    #[serde(default = "default_fee_type")]
    pub fee_type: String,
}

fn default_is_virtual_account() -> String {
    "N".to_owned()
}

fn default_fee_type() -> String {
    "OUR".to_owned()
}

impl IfortepaySettings {
    pub fn client_secret(&self) -> Result<Secret, ConfigError> {
        resolve_secret(
            &self.client_secret,
            &self.client_secret_file,
            "providers.ifortepay.client_secret",
        )
    }
}

impl IfortepaySettings {
    /// Rules serde cannot express; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.client_secret()?;
        if !matches!(self.merchant.transaction_purpose.as_str(), "1" | "2" | "3") {
            return Err(ConfigError::invalid(
                "providers.ifortepay.merchant.transaction_purpose",
                "must be \"1\", \"2\" or \"3\"",
            ));
        }
        Ok(())
    }
}
