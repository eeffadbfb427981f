//! Canonical JSON as Singapay v2.0 signs it: object keys sorted recursively by
//! their bytes, no whitespace, strings escaped minimally (unicode and `/` as is,
//! PHP's `JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES`), numbers as JavaScript
//! prints them. One implementation for the client, the sandbox and the webhook
//! receiver.
//!
//! Written out explicitly rather than relying on `serde_json::Map` ordering: with
//! serde_json's `preserve_order` feature (which any dependency may switch on) the
//! map keeps insertion order and the signature would silently change.

use serde_json::Value;

/// The canonical text of `value`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
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
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        Value::String(s) => write_str(s, out),
        // Numbers print as JavaScript's JSON.stringify would: an integral float
        // (`50000.0`) prints as `50000`.
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 1e15 => {
                // `as i64` is exact: |f| < 1e15 and integral.
                out.push_str(&(f as i64).to_string());
            }
            _ => out.push_str(&n.to_string()),
        },
        Value::Bool(_) | Value::Null => out.push_str(&value.to_string()),
    }
}

fn write_str(s: &str, out: &mut String) {
    // serde_json escapes only what JSON requires (quotes, backslash, controls).
    out.push_str(&Value::String(s.to_owned()).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singapay_public_vectors() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/vectors/singapay-v2.json");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let secret = v["secret"].as_str().unwrap();
        for case in v["vectors"].as_array().unwrap() {
            let canonical = canonical_json(&case["payload"]);
            assert_eq!(
                canonical,
                case["normalized_json"].as_str().unwrap(),
                "{}",
                case["name"]
            );
            let hash = crate::snap::sha256_hex(canonical.as_bytes());
            assert_eq!(hash, case["hashed_body"].as_str().unwrap());
            let msg = format!(
                "{}:{}:{}:{hash}:{}",
                v["method"].as_str().unwrap(),
                v["endpoint"].as_str().unwrap(),
                v["access_token"].as_str().unwrap(),
                v["timestamp"]
            );
            let sig = hex::encode(crate::snap::hmac_sha512(secret.as_bytes(), msg.as_bytes()));
            assert_eq!(
                sig,
                case["expected_signature"].as_str().unwrap(),
                "{}",
                case["name"]
            );
        }
    }
}
