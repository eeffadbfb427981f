//! One line per provider: build the enabled clients from settings.

use std::collections::HashMap;
use std::sync::Arc;

use super::ifortepay::IfortepayClient;
use super::nicepay::NicepayClient;
use super::singapay::SingapayClient;
use super::{PayoutProvider, ProviderError};
use crate::config::ProvidersSettings;
use crate::domain::Provider;

/// The enabled providers, ready to share across workers (each holds one pooled
/// HTTP client and one token cache). The same shape as the worker's provider set.
pub type Providers = HashMap<Provider, Arc<dyn PayoutProvider>>;

/// Build every enabled provider. Fails on the first misconfigured one (missing
/// secret or key file, bad URL, invalid merchant defaults), naming the key; no
/// network call is made here.
pub fn build_all(settings: &ProvidersSettings) -> Result<Providers, ProviderError> {
    let mut out: Providers = HashMap::new();
    if settings.ifortepay.enabled {
        out.insert(
            Provider::Ifortepay,
            Arc::new(IfortepayClient::new(&settings.ifortepay)?),
        );
    }
    if settings.nicepay.enabled {
        out.insert(
            Provider::Nicepay,
            Arc::new(NicepayClient::new(&settings.nicepay)?),
        );
    }
    if settings.singapay.enabled {
        out.insert(
            Provider::Singapay,
            Arc::new(SingapayClient::new(&settings.singapay)?),
        );
    }
    Ok(out)
}
