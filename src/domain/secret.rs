//! A secret string that cannot leak through `Debug`, `Display` or serialisation.
//!
//! Built on the `secrecy` crate: the value lives in a [`SecretString`], which
//! zeroizes its memory on drop and only hands the value out through
//! [`ExposeSecret`]. `Secret` adds what kirim's call sites need on top: a
//! `[redacted]` `Debug`/`Display`, `Deserialize` (settings, API bodies) and a
//! constant-time `PartialEq`.
//!
//! There is deliberately no `Serialize`: a struct that holds a `Secret` cannot be
//! written to JSON, TOML or a job payload unless the field is skipped
//! (`#[serde(skip_serializing)]`, as the settings do), so a secret cannot reach
//! `kirim config show`, an audit entry or Redis by accident.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use subtle::ConstantTimeEq;

/// A secret string: `Debug`/`Display` print `[redacted]`, it cannot be serialised,
/// and its memory is zeroized on drop. Use [`Secret::expose`] at the point of use.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wrap a value. A `String` is moved into the secret (shrunk to fit, so the
    /// buffer that is zeroized on drop is the only copy this call leaves).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }
    /// The secret value. Call only where it is used (signing, headers).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl Default for Secret {
    fn default() -> Self {
        Secret::new(String::new())
    }
}

/// Equal when the values are equal, compared in constant time (the length is not
/// hidden). Used by tests and by `PartialEq` derives of types that hold a secret.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose()
            .as_bytes()
            .ct_eq(other.expose().as_bytes())
            .into()
    }
}

impl Eq for Secret {}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(s.expose(), "hunter2");
        assert!(!s.is_empty());
        assert!(Secret::default().is_empty());
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("b"));
        assert_ne!(Secret::new("a"), Secret::new("ab"));
    }

    #[test]
    fn deserialises_from_a_string() {
        let s: Secret = serde_json::from_str("\"tok\"").expect("a JSON string");
        assert_eq!(s.expose(), "tok");
    }

    /// A settings-like struct that holds a secret serialises without it: the
    /// field must be skipped (there is no `Serialize` for `Secret` to fall back on).
    #[test]
    fn a_struct_holding_a_secret_serialises_without_the_value() {
        #[derive(Serialize, Deserialize)]
        struct Holder {
            client_id: String,
            #[serde(default, skip_serializing)]
            client_secret: Option<Secret>,
        }
        let h: Holder =
            serde_json::from_str(r#"{"client_id":"c1","client_secret":"s3cr3t-value"}"#)
                .expect("valid JSON");
        assert_eq!(
            h.client_secret.as_ref().map(Secret::expose),
            Some("s3cr3t-value")
        );
        let json = serde_json::to_string(&h).expect("serialises");
        assert!(!json.contains("s3cr3t-value"), "{json}");
        assert!(json.contains("c1"), "{json}");
        let debug = format!("{:?}", h.client_secret);
        assert!(!debug.contains("s3cr3t-value"), "{debug}");
    }
}
