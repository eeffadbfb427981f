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

use super::module::ProviderModule;
use super::webhook::Webhook;
use super::{PayoutProvider, ProviderError};
use crate::config::{ConfigError, ProvidersSettings};
use crate::domain::Provider;

/// The enabled providers, ready to share across workers (each holds one pooled
/// HTTP client and one token cache).
pub type Providers = HashMap<Provider, Arc<dyn PayoutProvider>>;

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
