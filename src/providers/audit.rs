//! What of a provider answer goes into the audit trail: the response body with every
//! token, secret and card token replaced by `"[redacted]"`.
//!
//! Redaction is by key name, recursively, case-insensitively, so a provider that
//! nests a token somewhere new (`data.access_token`, `additionalInfo.chargeToken`) is
//! still covered. The list errs on the side of hiding: an audit entry missing a
//! harmless field costs nothing, a leaked card token costs a lot.

use serde_json::Value;

/// Keys whose values are never recorded (compared lower-cased, `_` and `-` removed).
const REDACTED_KEYS: &[&str] = &[
    "accesstoken",
    "token",
    "refreshtoken",
    "bankcardtoken",
    "chargetoken",
    "cardtoken",
    "clientsecret",
    "secret",
    "password",
    "pin",
    "otp",
    "signature",
    "xsignature",
    "authorization",
    "apikey",
];

/// The placeholder written instead of a secret value.
pub const REDACTED: &str = "[redacted]";

fn normalise(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Fragments that make any key secret (`secretKey`, `merchantToken`, `apiPassword`).
const REDACTED_FRAGMENTS: &[&str] = &["token", "secret", "password", "signature", "privatekey"];

fn is_secret_key(key: &str) -> bool {
    let k = normalise(key);
    REDACTED_KEYS.contains(&k.as_str()) || REDACTED_FRAGMENTS.iter().any(|f| k.contains(f))
}

/// A copy of `value` with secret values replaced.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let v = if is_secret_key(k) && !v.is_null() {
                    Value::String(REDACTED.to_owned())
                } else {
                    redact(v)
                };
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// The audit form of a raw body: redacted JSON, or for a body that is not JSON a
/// short note (its length), since an unparsed body could hold anything.
pub fn audit_body(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Some(redact(&v)),
        Err(_) => Some(serde_json::json!({ "unparsable_body_bytes": body.len() })),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn redacts_nested_secrets_keeps_the_rest() {
        let v = json!({
            "responseCode": "2005400",
            "accessToken": "eyJ",
            "data": {"access_token": "abc", "expires_in": "900"},
            "additionalInfo": {"chargeToken": "CHARGE_X::0146", "remarks": "ok"},
            "items": [{"bankCardToken": "card_x"}],
            "referenceNo": "STI1"
        });
        let r = redact(&v);
        let text = r.to_string();
        for secret in ["eyJ", "abc", "CHARGE_X", "card_x"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(r["referenceNo"], "STI1");
        assert_eq!(r["data"]["expires_in"], "900");
        assert_eq!(r["additionalInfo"]["remarks"], "ok");
        assert_eq!(r["additionalInfo"]["chargeToken"], REDACTED);
    }

    #[test]
    fn unparsable_body_is_summarised() {
        assert_eq!(
            audit_body(b"{oops"),
            Some(json!({"unparsable_body_bytes": 5}))
        );
        assert_eq!(audit_body(b""), None);
    }
}
