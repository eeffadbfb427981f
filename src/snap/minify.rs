//! JSON minification for SNAP body hashes.
//!
//! SNAP signs `lowerhex(SHA-256(minify(body)))`. The provider minifies the bytes it
//! *received*, so kirim must remove exactly the whitespace a JSON parser would ignore
//! and nothing else: key order, string contents, escape spellings (`\u00e9` stays
//! `\u00e9`) and number spellings (`1.50` stays `1.50`) are preserved byte for byte.
//! Re-serialising through a JSON library would break every one of those, which is why
//! this is a scanner and not a `serde_json::to_string(&value)`.

use thiserror::Error;

/// Why a body could not be minified.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MinifyError {
    /// The body is not valid JSON; `detail` comes from the parser and names the position.
    #[error("body is not valid JSON: {detail}")]
    InvalidJson { detail: String },
}

/// Remove insignificant whitespace from a JSON document.
///
/// An empty (or all-whitespace) body minifies to the empty string: SNAP hashes the
/// empty string for requests without a body.
///
/// # Errors
/// [`MinifyError::InvalidJson`] when the input is not a JSON document; the signature
/// of an invalid body is meaningless, so we refuse rather than guess.
pub fn minify(body: &str) -> Result<String, MinifyError> {
    if body.trim().is_empty() {
        return Ok(String::new());
    }
    serde_json::from_str::<serde::de::IgnoredAny>(body).map_err(|e| MinifyError::InvalidJson {
        detail: e.to_string(),
    })?;
    Ok(minify_unchecked(body))
}

/// Minify without validating first. The input must already be known to be JSON
/// (for example, bytes kirim serialised itself); on other input the result is
/// unspecified but never panics.
pub fn minify_unchecked(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut in_string = false;
    let mut escaped = false;
    for ch in body.chars() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else {
            match ch {
                ' ' | '\t' | '\n' | '\r' => {}
                '"' => {
                    in_string = true;
                    out.push(ch);
                }
                _ => out.push(ch),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_whitespace_between_tokens_only() {
        let body = "{\n\t\"a\" : \"x y\\t\" ,\r\n \"b\": [ 1.50 , 2e3 ] }";
        assert_eq!(minify(body).unwrap(), "{\"a\":\"x y\\t\",\"b\":[1.50,2e3]}");
    }

    #[test]
    fn keeps_escapes_and_unicode_as_written() {
        let body = r#"{ "n": "Caf\u00e9 \"q\" \\ ", "u": "Café — ok" }"#;
        assert_eq!(
            minify(body).unwrap(),
            r#"{"n":"Caf\u00e9 \"q\" \\ ","u":"Café — ok"}"#
        );
    }

    #[test]
    fn keeps_key_order() {
        assert_eq!(minify(r#"{ "z":1, "a":2 }"#).unwrap(), r#"{"z":1,"a":2}"#);
    }

    #[test]
    fn empty_body_is_empty_string() {
        assert_eq!(minify("").unwrap(), "");
        assert_eq!(minify(" \n").unwrap(), "");
    }

    #[test]
    fn invalid_json_is_refused() {
        assert!(matches!(
            minify("{\"a\": }"),
            Err(MinifyError::InvalidJson { .. })
        ));
        assert!(minify("{\"a\": \"unterminated}").is_err());
    }
}
