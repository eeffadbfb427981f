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
    pub endpoint_url_mode: EndpointUrlMode,
    /// `|` per SNAP; `:` per one iFortepay page (unconfirmed).
    pub token_separator: String,
    /// The URL iFortepay calls back, as registered; part of the callback signature.
    pub callback_url: String,
    /// `ORIGIN` of disbursement calls: "Origin domain registered on the iFortepay
    /// system", **Optional** in the transfer header table
    /// (ifortepay-transfer-interbank.txt:38); the samples send
    /// `ORIGIN: https://www.mcpayment.id` (:107, :151). Unset (the default): not sent.
    /// Set it to the domain registered with iFortepay, as an origin
    /// (`https://host[:port]`, no path).
    #[serde(default)]
    pub origin: Option<String>,
    pub merchant: IfortepayMerchant,
    /// `[providers.ifortepay.direct_debit]`: direct debit's own partner id, key and
    /// (optionally) host. Absent: direct debit payments are refused at the door.
    #[serde(default)]
    pub direct_debit: Option<IfortepayDebitSettings>,
}

/// Direct debit's own credentials. The samples in ifortepay-direct-debit-payment.txt
/// (lines 42-47, 84-89) carry no `Authorization` header, a 344-character
/// (RSA-2048) `X-SIGNATURE` and an `X-Partner-Id` of the form `IFP2024078302`,
/// unlike disbursement (`MCPD…`, HMAC-SHA512 with a B2B token): an asymmetric
/// SHA256withRSA service signature under its own partner id (NOTES.md,
/// Corrections 2026-12-01).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IfortepayDebitSettings {
    /// `X-PARTNER-ID` of direct debit calls (`IFP…` in the samples).
    pub partner_id: String,
    /// The merchant key whose public half is registered for direct debit.
    pub private_key_path: PathBuf,
    /// `CHANNEL-ID` (`DD003` in the samples).
    #[serde(default = "default_debit_channel_id")]
    pub channel_id: String,
    /// Direct debit's host. The documents name none apart from disbursement's, so
    /// unset means `providers.ifortepay.base_url`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The EndpointUrl form of the signature. The debit page is silent; the
    /// disbursement page says "full URL" (ifortepay-transfer-interbank.txt:35), so
    /// `absolute` is the default and `relative` (the SNAP standard's path) works too.
    #[serde(default = "default_debit_endpoint_url_mode")]
    pub endpoint_url_mode: EndpointUrlMode,
}

fn default_debit_channel_id() -> String {
    "DD003".to_owned()
}

fn default_debit_endpoint_url_mode() -> EndpointUrlMode {
    EndpointUrlMode::Absolute
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

/// `origin` must be an origin as a browser writes it (`https://www.mcpayment.id`):
/// http or https, a host, an optional port, no path, query or credentials.
pub(crate) fn check_origin(origin: &str) -> Result<(), ConfigError> {
    const KEY: &str = "providers.ifortepay.origin";
    const RULE: &str = "must be an origin like \"https://www.mcpayment.id\" \
         (http or https, a host, an optional port; no path, query or user)";
    let url = reqwest::Url::parse(origin).map_err(|_| ConfigError::invalid(KEY, RULE))?;
    let serialised = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || serialised != origin {
        return Err(ConfigError::invalid(KEY, RULE));
    }
    Ok(())
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
        if let Some(origin) = &self.origin {
            check_origin(origin)?;
        }
        if let Some(dd) = &self.direct_debit {
            if dd.partner_id.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "providers.ifortepay.direct_debit.partner_id",
                    "must not be empty (the X-PARTNER-ID iFortepay gave for direct debit, `IFP…`)",
                ));
            }
            if dd.channel_id.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "providers.ifortepay.direct_debit.channel_id",
                    "must not be empty (`DD003` in the document's samples)",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_origin;

    #[test]
    fn origin_is_an_origin() {
        for ok in [
            "https://www.mcpayment.id",
            "http://127.0.0.1:8080",
            "https://pay.example.co.id:8443",
        ] {
            assert!(check_origin(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "www.mcpayment.id",
            "https://www.mcpayment.id/",
            "https://www.mcpayment.id/pay",
            "https://www.mcpayment.id?x=1",
            "https://user@www.mcpayment.id",
            "ftp://www.mcpayment.id",
            "https://www.mcpayment.id\n",
        ] {
            let err = check_origin(bad).expect_err(bad).to_string();
            assert!(err.contains("providers.ifortepay.origin"), "{bad}: {err}");
        }
    }
}
