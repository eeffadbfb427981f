//! Canonical JSON for Singapay v2.0 request signatures.
//!
//! Singapay hashes a *canonical* form of the body, not the bytes sent: object keys
//! sorted recursively by their UTF-8 bytes, no insignificant whitespace, non-ASCII
//! characters and `/` written as-is (PHP's `JSON_UNESCAPED_UNICODE |
//! JSON_UNESCAPED_SLASHES`, JavaScript's `JSON.stringify`). Strings use the short
//! escapes `\" \\ \n \r \t \b \f` and `\u00XX` for other control characters.
//! Numbers print as JavaScript would: an integral float (`50000.0`) prints as
//! `50000`. Checked against `../shared/vectors/singapay-v2.json`.

pub use crate::snap::canonical::canonical_json;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_recursively_and_keeps_unicode_and_slashes() {
        let v = json!({"z": {"y": 1, "a": [ {"d": 1, "c": 2} ]}, "é": "Café/x", "A": 1.0});
        assert_eq!(
            canonical_json(&v),
            r#"{"A":1,"z":{"a":[{"c":2,"d":1}],"y":1},"é":"Café/x"}"#
        );
        assert_eq!(
            canonical_json(&json!({"s": "a\u{1}b"})),
            r#"{"s":"a\u0001b"}"#
        );
        assert_eq!(canonical_json(&json!({"f": 1.5})), r#"{"f":1.5}"#);
    }
}
