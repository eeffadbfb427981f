//! Canonical JSON for Singapay v2.0 request signatures.
//!
//! Singapay hashes a *canonical* form of the body, not the bytes sent: object keys
//! sorted recursively by their UTF-8 bytes, no insignificant whitespace, non-ASCII
//! characters and `/` written as-is (PHP's `JSON_UNESCAPED_UNICODE |
//! JSON_UNESCAPED_SLASHES`, JavaScript's `JSON.stringify`). Strings use the short
//! escapes `\" \\ \n \r \t \b \f` and `\u00XX` for other control characters.
//! Numbers print as JavaScript would: an integral float (`50000.0`) prints as
//! `50000`. Checked against `../shared/vectors/singapay-v2.json`.

use serde_json::Value;

/// The canonical text of `value`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            match n.as_f64() {
                Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 1e15 => {
                    // `as i64` is exact: |f| < 1e15 and integral.
                    out.push_str(&(f as i64).to_string());
                }
                _ => out.push_str(&n.to_string()),
            }
        }
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

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
