//! A provider's id: a short lowercase name (`ifortepay`). Not a list: the
//! provider registry (`providers::registry`) is the only list of providers, so a
//! provider can be added without touching this file (even one that lives only in
//! the tests). Boundaries that take a name from a user (the API, the CLI) check
//! it against the registry.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::FieldError;

/// Distinct names a process will intern. Ids come from configuration, the
/// registry and the ledger; a flood of made-up names from outside must not grow
/// memory without bound.
const MAX_NAMES: usize = 256;

/// One provider. Copy, compared and hashed by name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Provider(&'static str);

impl Provider {
    /// A provider id known at compile time (each provider folder's `ID`).
    /// The name must follow the rule [`Provider::from_str`] checks.
    pub const fn named(name: &'static str) -> Provider {
        Provider(name)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

fn interned() -> &'static Mutex<HashSet<&'static str>> {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    NAMES.get_or_init(|| Mutex::new(HashSet::new()))
}

impl FromStr for Provider {
    type Err = FieldError;

    /// A name of 1 to 32 characters, lowercase letters, digits and `_`, starting
    /// with a letter (upper case is folded). Whether such a provider exists is
    /// the registry's question.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase();
        let valid = (1..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(FieldError::new(
                "provider",
                "must be a provider name: 1 to 32 lowercase letters, digits or _",
            ));
        }
        let mut names = interned()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = names.get(name.as_str()) {
            return Ok(Provider(known));
        }
        if names.len() >= MAX_NAMES {
            return Err(FieldError::new(
                "provider",
                "is not a provider this process knows",
            ));
        }
        let leaked: &'static str = Box::leak(name.into_boxed_str());
        names.insert(leaked);
        Ok(Provider(leaked))
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Provider {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Provider {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOY: Provider = Provider::named("toy");

    #[test]
    fn parses_folds_case_and_equals_the_constant() {
        assert_eq!("TOY".parse::<Provider>().unwrap(), TOY);
        assert_eq!(" toy ".parse::<Provider>().unwrap().as_str(), "toy");
        let json = serde_json::to_string(&TOY).unwrap();
        assert_eq!(json, "\"toy\"");
        assert_eq!(serde_json::from_str::<Provider>("\"toy\"").unwrap(), TOY);
    }

    #[test]
    fn refuses_names_that_are_not_names() {
        for bad in ["", "1abc", "a-b", "a b", "ä", &"x".repeat(33)] {
            assert_eq!(
                bad.parse::<Provider>().unwrap_err().field,
                "provider",
                "{bad:?}"
            );
        }
    }
}
