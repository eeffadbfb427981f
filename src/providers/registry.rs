//! The provider registry: the one list of providers kirim knows.
//!
//! Each provider folder exports one [`ProviderModule`]; [`Registry::builtin`]
//! lists them, one line each. Everything else asks the registry: which sections of
//! `[providers.*]` are valid, which clients to build, which webhook verifies
//! `/callbacks/{provider}`, what each provider can do, the names the API, the CLI
//! and the OpenAPI document accept. A fourth provider is one folder and one line
//! here (ARCHITECTURE.md, "Adding a provider"; `tests/it/toy_provider.rs` registers
//! one that lives only in the tests).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::webhook::Webhook;
use super::{PayoutProvider, ProviderError};
use crate::banks::BankScheme;
use crate::config::{ConfigError, ProviderSection, ProvidersSettings};
use crate::domain::Provider;

/// The enabled providers, ready to share across workers (each holds one pooled
/// HTTP client and one token cache).
pub type Providers = HashMap<Provider, Arc<dyn PayoutProvider>>;

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

/// The providers kirim knows, in registration order.
#[derive(Clone, Default)]
pub struct Registry {
    modules: Vec<Arc<dyn ProviderModule>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.ids()).finish()
    }
}

impl Registry {
    /// The providers kirim ships: one line per provider.
    pub fn builtin() -> Self {
        Registry::default()
            .with(super::ifortepay::module())
            .with(super::nicepay::module())
            .with(super::singapay::module())
    }

    /// Add a provider (a later one with the same id replaces the earlier).
    pub fn with(mut self, module: impl ProviderModule) -> Self {
        let id = module.id();
        self.modules.retain(|m| m.id() != id);
        self.modules.push(Arc::new(module));
        self
    }

    pub fn get(&self, id: Provider) -> Option<&dyn ProviderModule> {
        self.modules
            .iter()
            .find(|m| m.id() == id)
            .map(|m| m.as_ref())
    }

    pub fn modules(&self) -> impl Iterator<Item = &dyn ProviderModule> {
        self.modules.iter().map(|m| m.as_ref())
    }

    pub fn ids(&self) -> Vec<Provider> {
        self.modules.iter().map(|m| m.id()).collect()
    }

    /// The ids as `a, b, c` for error messages.
    pub fn names(&self) -> String {
        self.ids()
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every `[providers.NAME]` names a registered provider, and every enabled one
    /// is valid.
    pub fn check(&self, settings: &ProvidersSettings) -> Result<(), ConfigError> {
        for name in settings.names() {
            let Some(module) = self.modules.iter().find(|m| m.id().as_str() == name) else {
                return Err(ConfigError::invalid(
                    format!("providers.{name}"),
                    format!("unknown provider; known: {}", self.names()),
                ));
            };
            if let Some(section) = settings.section(name).filter(|s| s.enabled()) {
                module.check(section)?;
            }
        }
        Ok(())
    }

    /// Build every enabled provider. Fails on the first misconfigured one, naming
    /// the key; no network call is made here.
    pub fn build(&self, settings: &ProvidersSettings) -> Result<Providers, ProviderError> {
        let mut out = Providers::new();
        for module in &self.modules {
            if let Some(section) = settings
                .section(module.id().as_str())
                .filter(|s| s.enabled())
            {
                out.insert(module.id(), module.build(section)?);
            }
        }
        Ok(out)
    }

    /// Build one provider, enabled or not (the CLI's manual checks).
    pub fn build_one(
        &self,
        settings: &ProvidersSettings,
        id: Provider,
    ) -> Result<Arc<dyn PayoutProvider>, ProviderError> {
        let module = self.get(id).ok_or_else(|| {
            ProviderError::Config(format!("{id}: unknown provider; known: {}", self.names()))
        })?;
        let section = settings
            .section(id.as_str())
            .ok_or_else(|| ProviderError::Config(format!("providers.{id}: section is missing")))?;
        module.build(section)
    }

    /// The webhook verifier of every enabled provider that sends notifications.
    pub fn webhooks(&self, settings: &ProvidersSettings) -> HashMap<Provider, Arc<dyn Webhook>> {
        let mut out = HashMap::new();
        for module in &self.modules {
            let Some(section) = settings
                .section(module.id().as_str())
                .filter(|s| s.enabled())
            else {
                continue;
            };
            match module.webhook(section) {
                Some(Ok(w)) => {
                    out.insert(module.id(), w);
                }
                Some(Err(e)) => {
                    tracing::warn!(provider = %module.id(), error = %e, "webhook not configured; its callbacks will be refused");
                }
                None => {}
            }
        }
        out
    }

    /// The longest request timeout of any configured provider (the lifecycle's
    /// in-flight grace is built from it); 15 s when none is configured.
    pub fn longest_request_timeout(settings: &ProvidersSettings) -> Duration {
        settings
            .names()
            .filter_map(|n| settings.http(n).ok())
            .map(|h| h.request_timeout())
            .max()
            .unwrap_or(Duration::from_secs(15))
    }
}

/// Build every enabled built-in provider (`Registry::builtin().build`).
pub fn build_all(settings: &ProvidersSettings) -> Result<Providers, ProviderError> {
    Registry::builtin().build(settings)
}

/// The ids of the built-in providers, in registration order (status pages,
/// metrics and reports that list every provider).
pub fn builtin_ids() -> Vec<Provider> {
    Registry::builtin().ids()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn settings() -> Settings {
        let default = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        Settings::load_from(&default, None, false).expect("default config")
    }

    #[test]
    fn the_builtin_registry_checks_and_builds_the_default_sections() {
        let s = settings();
        let r = Registry::builtin();
        r.check(&s.providers).expect("valid");
        let built = r.build(&s.providers).expect("built");
        let mut ids: Vec<&str> = built.keys().map(|p| p.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["ifortepay", "nicepay", "singapay"]);
        assert_eq!(r.webhooks(&s.providers).len(), 3);
    }

    /// Environment values are text; a provider's flattened HTTP keys still parse.
    #[test]
    fn text_values_from_the_environment_parse_in_every_section() {
        let mut s = settings();
        s.providers.set("nicepay", "request_timeout_ms", "2500");
        s.providers.set("nicepay", "enabled", "true");
        let r = Registry::builtin();
        r.check(&s.providers).expect("valid");
        assert!(r
            .build(&s.providers)
            .expect("built")
            .contains_key(&super::super::nicepay::ID));
        assert_eq!(
            Registry::longest_request_timeout(&s.providers),
            Duration::from_millis(15_000).max(Duration::from_millis(2_500))
        );
    }

    #[test]
    fn an_unknown_section_or_name_is_refused_naming_the_known_ones() {
        let mut s = settings();
        s.providers.set("paypal", "enabled", true);
        let e = Registry::builtin()
            .check(&s.providers)
            .unwrap_err()
            .to_string();
        assert!(e.contains("providers.paypal"), "{e}");
        assert!(e.contains("ifortepay, nicepay, singapay"), "{e}");
    }

    #[test]
    fn a_disabled_provider_is_not_built_and_has_no_webhook() {
        let mut s = settings();
        s.providers.set("singapay", "enabled", false);
        let r = Registry::builtin();
        assert!(!r
            .build(&s.providers)
            .expect("built")
            .contains_key(&super::super::singapay::ID));
        assert!(!r
            .webhooks(&s.providers)
            .contains_key(&super::super::singapay::ID));
    }
}
