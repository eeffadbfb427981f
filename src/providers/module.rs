//! What a provider module is: the `ProviderModule` trait every provider folder
//! implements (usually through `ModuleParts`), and the capabilities it declares.
//! The registry (`registry.rs`) lists the modules; this file lists none.

use std::sync::Arc;

use super::webhook::Webhook;
use super::{PayoutProvider, ProviderError};
use crate::banks::BankScheme;
use crate::config::{ConfigError, ProviderSection};
use crate::domain::Provider;

/// What a provider can do, beyond transfers and transfer inquiries (which every
/// provider must offer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Direct debit payments (`POST /v1/payments`).
    DirectDebit,
    /// A history list the sweep settles from and `kirim recon` reads.
    HistoryList,
    /// Beneficiary account inquiry (name check).
    AccountInquiry,
    Balance,
    /// Signed status notifications at `/callbacks/{provider}`.
    Callbacks,
    /// A registered transfer can be cancelled before approval.
    Cancel,
}

/// One provider, as the registry knows it. Implemented once per provider folder.
pub trait ProviderModule: Send + Sync + 'static {
    fn id(&self) -> Provider;

    /// How the provider is named to people (`iFortepay`).
    fn title(&self) -> &'static str;

    fn capabilities(&self) -> &'static [Capability];

    /// Check `[providers.NAME]` without building anything that touches the
    /// network; errors name the key and the rule.
    fn check(&self, section: &ProviderSection) -> Result<(), ConfigError>;

    /// The client the workers use. No network call is made here.
    fn build(&self, section: &ProviderSection) -> Result<Arc<dyn PayoutProvider>, ProviderError>;

    /// Which bank code the provider's documents ask for, if kirim should translate
    /// the producer's (`crate::banks`); `None` passes the code through.
    fn bank_scheme(&self, section: &ProviderSection) -> Option<BankScheme> {
        let _ = section;
        None
    }

    /// The verifier of the provider's notifications, if it sends any. A webhook
    /// whose key cannot be loaded refuses every callback (the error is logged).
    fn webhook(&self, section: &ProviderSection) -> Option<Result<Arc<dyn Webhook>, ConfigError>> {
        let _ = section;
        None
    }
}

/// Builds a provider's webhook verifier from its settings.
pub type MakeWebhook<S> = fn(&S) -> Result<Arc<dyn Webhook>, ConfigError>;

/// A provider module from its parts: what each built-in provider folder declares
/// (`module()`). The section is parsed into `S` once per call; `check` adds the
/// rules parsing cannot express.
pub struct ModuleParts<S> {
    pub id: Provider,
    pub title: &'static str,
    pub capabilities: &'static [Capability],
    pub check: fn(&S) -> Result<(), ConfigError>,
    pub build: fn(&S) -> Result<Arc<dyn PayoutProvider>, ProviderError>,
    pub webhook: Option<MakeWebhook<S>>,
    /// Which bank code the provider takes, from its settings (`None`: as given).
    pub bank_scheme: fn(&S) -> Option<BankScheme>,
}

impl<S: serde::de::DeserializeOwned + 'static> ProviderModule for ModuleParts<S> {
    fn id(&self) -> Provider {
        self.id
    }

    fn title(&self) -> &'static str {
        self.title
    }

    fn capabilities(&self) -> &'static [Capability] {
        self.capabilities
    }

    fn check(&self, section: &ProviderSection) -> Result<(), ConfigError> {
        (self.check)(&section.parse(self.id.as_str())?)
    }

    fn build(&self, section: &ProviderSection) -> Result<Arc<dyn PayoutProvider>, ProviderError> {
        let settings: S = section
            .parse(self.id.as_str())
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        (self.build)(&settings)
    }

    fn bank_scheme(&self, section: &ProviderSection) -> Option<BankScheme> {
        (self.bank_scheme)(&section.parse(self.id.as_str()).ok()?)
    }

    fn webhook(&self, section: &ProviderSection) -> Option<Result<Arc<dyn Webhook>, ConfigError>> {
        let make = self.webhook?;
        Some(section.parse(self.id.as_str()).and_then(|s: S| make(&s)))
    }
}
