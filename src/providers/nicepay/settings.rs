//! `[providers.nicepay]`: the section this provider reads.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{resolve_secret, ConfigError, EndpointUrlMode, HttpSettings};
use crate::domain::Secret;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NicepaySettings {
    pub enabled: bool,
    #[serde(flatten)]
    pub http: HttpSettings,
    pub client_id: String,
    #[serde(default, skip_serializing)]
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    pub private_key_path: PathBuf,
    /// NICEPAY's public key, verifying its notifications.
    pub public_key_path: Option<PathBuf>,
    pub endpoint_url_mode: EndpointUrlMode,
    pub token_separator: String,
    /// Path prefix (e.g. `/nicepay`) left out of the signed path, as NICEPAY's SDK does (unconfirmed).
    pub unsigned_path_prefix: String,
    pub merchant_id: String,
    pub ms_id: String,
    /// The default `beneficiaryCustomerResidence`: sent with a registration whose
    /// payout gives no `beneficiary.residence` (a payout's own value wins). "1"
    /// Indonesia, "2" abroad (nicepay-payout-inquiry.txt:32); default "1". The key
    /// keeps its name so existing configurations load.
    #[serde(default = "default_one")]
    pub beneficiary_customer_residence: String,
    /// The default `beneficiaryCustomerType`, for a payout without
    /// `beneficiary.customerType`: "1" personal, "2" company, "3" government
    /// (nicepay-payout-inquiry.txt:33); default "1".
    #[serde(default = "default_one")]
    pub beneficiary_customer_type: String,
    /// `payoutMethod` sent with every registration: NICEPAY's public material sends
    /// it always (python-nicepay's SNAP payout test `.setPayoutMethod("1")`; the v2
    /// page marks it Required: 0 overbooking, 1 online, 2 SKN, 3 RTGS, 4 cashout).
    /// Default "1" (online transfer).
    #[serde(default = "default_one")]
    pub payout_method: String,
}

fn default_one() -> String {
    "1".to_owned()
}

impl NicepaySettings {
    pub fn client_secret(&self) -> Result<Secret, ConfigError> {
        resolve_secret(
            &self.client_secret,
            &self.client_secret_file,
            "providers.nicepay.client_secret",
        )
    }
}
