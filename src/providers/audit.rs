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

fn is_secret_normalised(k: &str) -> bool {
    REDACTED_KEYS.contains(&k) || REDACTED_FRAGMENTS.iter().any(|f| k.contains(f))
}

fn is_secret_key(key: &str) -> bool {
    // Every key of every audited body passes through here: normalise short ASCII
    // keys (all real ones) on the stack instead of allocating a String each.
    let mut buf = [0u8; 64];
    if key.is_ascii() && key.len() <= buf.len() {
        let mut n = 0;
        for b in key.bytes().filter(|b| *b != b'_' && *b != b'-') {
            buf[n] = b.to_ascii_lowercase();
            n += 1;
        }
        if let Ok(k) = std::str::from_utf8(&buf[..n]) {
            return is_secret_normalised(k);
        }
    }
    is_secret_normalised(&normalise(key))
}

/// Replace secret values in place.
fn redact_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) && !v.is_null() {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    redact_in_place(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_in_place),
        _ => {}
    }
}

/// `value` with secret values replaced.
pub fn redacted(mut value: Value) -> Value {
    redact_in_place(&mut value);
    value
}

/// A copy of `value` with secret values replaced.
pub fn redact(value: &Value) -> Value {
    let mut out = value.clone();
    redact_in_place(&mut out);
    out
}

/// The audit form of a raw body: redacted JSON, or for a body that is not JSON a
/// short note (its length), since an unparsed body could hold anything.
pub fn audit_body(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            redact_in_place(&mut v);
            Some(v)
        }
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
    fn secret_keys_match_whatever_the_spelling() {
        for k in [
            "accessToken",
            "ACCESS_TOKEN",
            "x-signature",
            "Client-Secret",
            "pin",
            "merchantTokenId",
            "privateKeyPem",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["responseCode", "referenceNo", "pinCode2"] {
            assert_eq!(is_secret_key(k), is_secret_normalised(&normalise(k)), "{k}");
        }
        assert!(!is_secret_key("responseCode"));
        let long = format!("{}Token", "x".repeat(80));
        assert!(is_secret_key(&long));
        assert!(is_secret_key("tökenSecret"));
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
