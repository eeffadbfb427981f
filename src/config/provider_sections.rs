//! The `[providers.NAME]` sections: kept as loaded until each provider's module
//! parses its own, plus the HTTP keys every provider shares.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[providers.NAME]`: one section per provider, each read by its own module
/// (`providers::registry`); this file knows only the keys every provider shares.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct ProvidersSettings(BTreeMap<String, ProviderSection>);

/// One provider's section, kept as loaded until its module parses it.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct ProviderSection(figment::value::Dict);

impl std::fmt::Debug for ProviderSection {
    /// Keys only: a section may hold a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl ProviderSection {
    /// `enabled = true`; a section without it is off.
    pub fn enabled(&self) -> bool {
        match self.0.get("enabled") {
            Some(figment::value::Value::Bool(_, on)) => *on,
            // From the environment every value is text.
            Some(figment::value::Value::String(_, text)) => text.trim() == "true",
            _ => false,
        }
    }

    /// The section as the provider's own settings type; errors name the key
    /// (`providers.NAME.key`) and the rule.
    pub fn parse<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        // Lossy, as the whole configuration is: a value from the environment is
        // text ("5000") even where the provider expects a number.
        Figment::from(figment::providers::Serialized::defaults(&self.0))
            .extract_lossy::<T>()
            .map_err(|e| {
                let mut key = format!("providers.{name}");
                for part in e.path.iter() {
                    key.push('.');
                    key.push_str(part);
                }
                ConfigError::invalid(key, e.kind.to_string())
            })
    }

    /// A top-level text value (`base_url`, `client_id`).
    pub fn text(&self, key: &str) -> Option<&str> {
        match self.0.get(key) {
            Some(figment::value::Value::String(_, v)) => Some(v.as_str()),
            _ => None,
        }
    }

    /// The keys naming files (`*_path`, `*_file`) with their values, sub-sections
    /// included as dotted keys (`direct_debit.private_key_path`).
    pub fn file_keys(&self) -> Vec<(String, PathBuf)> {
        fn walk(dict: &figment::value::Dict, prefix: &str, out: &mut Vec<(String, PathBuf)>) {
            for (k, v) in dict {
                let key = format!("{prefix}{k}");
                match v {
                    figment::value::Value::Dict(_, inner) => walk(inner, &format!("{key}."), out),
                    figment::value::Value::String(_, s)
                        if k.ends_with("_path") || k.ends_with("_file") =>
                    {
                        out.push((key, PathBuf::from(s)));
                    }
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.0, "", &mut out);
        out
    }

    /// Set `dotted_key` (e.g. `base_url`, `merchant.sender_city`): for tests, the
    /// demo and the bench, which point providers at the sandbox.
    pub fn set(&mut self, dotted_key: &str, value: impl Into<figment::value::Value>) {
        let mut parts: Vec<&str> = dotted_key.split('.').collect();
        let last = parts.pop().unwrap_or(dotted_key);
        let mut dict = &mut self.0;
        for part in parts {
            let entry = dict
                .entry(part.to_owned())
                .or_insert_with(|| figment::value::Value::from(figment::value::Dict::new()));
            if !matches!(entry, figment::value::Value::Dict(..)) {
                *entry = figment::value::Value::from(figment::value::Dict::new());
            }
            let figment::value::Value::Dict(_, inner) = entry else {
                return;
            };
            dict = inner;
        }
        dict.insert(last.to_owned(), value.into());
    }
}

impl ProviderSection {
    /// Remove a top-level key (a sub-section such as `direct_debit` included).
    pub fn remove(&mut self, key: &str) {
        self.0.remove(key);
    }
}

impl ProvidersSettings {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn section(&self, name: &str) -> Option<&ProviderSection> {
        self.0.get(name)
    }

    /// The section, created empty if missing.
    pub fn section_mut(&mut self, name: &str) -> &mut ProviderSection {
        self.0.entry(name.to_owned()).or_default()
    }

    /// Set one key of one provider's section (see [`ProviderSection::set`]).
    pub fn set(&mut self, name: &str, dotted_key: &str, value: impl Into<figment::value::Value>) {
        self.section_mut(name).set(dotted_key, value);
    }

    /// One provider's section as its settings type; a missing section is an error
    /// naming it.
    pub fn parse<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        self.section(name)
            .ok_or_else(|| ConfigError::invalid(format!("providers.{name}"), "section is missing"))?
            .parse(name)
    }

    /// The HTTP keys every provider shares.
    pub fn http(&self, name: &str) -> Result<HttpSettings, ConfigError> {
        self.parse(name)
    }

    /// Names of the enabled sections.
    pub fn enabled(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(|(_, s)| s.enabled())
            .map(|(n, _)| n.as_str())
    }
}

/// How the SNAP `EndpointUrl` in the string-to-sign is formed (NOTES.md: unconfirmed
/// for iFortepay, whose page says "full URL").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EndpointUrlMode {
    /// Path and query only: `/api/v1.2/transfer-interbank`.
    #[default]
    Relative,
    /// Scheme, host, path and query.
    Absolute,
}

/// Settings every HTTP provider shares (flattened into each provider's section).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HttpSettings {
    pub base_url: String,
    #[serde(deserialize_with = "number_or_text")]
    pub connect_timeout_ms: u64,
    #[serde(deserialize_with = "number_or_text")]
    pub request_timeout_ms: u64,
    /// Refresh a cached token this long before it expires.
    #[serde(deserialize_with = "number_or_text")]
    pub token_refresh_margin_secs: u64,
}

/// A whole number given as a number or as text (`"2000"`, as every environment
/// value is). Needed where a section is flattened: serde then buffers the values
/// and figment's lossy conversion no longer applies.
fn number_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    match Either::deserialize(d)? {
        Either::Number(n) => Ok(n),
        Either::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("expected a whole number, found {t:?}"))),
    }
}

impl HttpSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}
