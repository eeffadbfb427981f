//! Who is using the console, and proof that a form came from the console itself.
//!
//! - **Passwords** are argon2id PHC strings in `[[console.users]]`; the plaintext
//!   never leaves the login handler. An unknown user name costs the same hash
//!   check as a wrong password, so timing does not tell which names exist.
//! - **Sessions** are stateless signed cookies: `name.expiry.sid.mac`, where the
//!   mac is HMAC-SHA256 over the rest with the session key. The role is *not* in
//!   the cookie: it is looked up in the configuration on every request, so a user
//!   removed or demoted loses the rights at the next restart of `kirim serve`.
//!   Logging out revokes the `sid` in Redis until the cookie would have expired.
//! - **CSRF**: every POST carries a token derived from the session id
//!   (HMAC("csrf|sid")), in a form field or the `X-CSRF-Token` header. A page on
//!   another site can make the browser send the cookie (it cannot here anyway:
//!   SameSite=Strict) but cannot read the token. The login form, which has no
//!   session yet, is bound the same way to a short-lived pre-login cookie.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::{ConsoleRole, ConsoleUser};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "kirim_console";
/// The pre-login cookie binding the login form's CSRF token.
pub const LOGIN_COOKIE: &str = "kirim_console_login";

/// A logged-in console user, as every handler sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub role: ConsoleRole,
    /// The session id (what CSRF tokens and logout are bound to).
    pub sid: String,
    /// This session's CSRF token, for the forms on the page.
    pub csrf: String,
}

impl User {
    /// Operators act; viewers only look.
    pub fn can_act(&self) -> bool {
        self.role == ConsoleRole::Operator
    }
}

/// Hash a password for `[[console.users]] password_hash` (argon2id, random salt).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// A hash nobody's password matches, checked for unknown user names so a wrong
/// name and a wrong password take the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("kirim-console-no-such-user").unwrap_or_default())
}

/// The user `name` if `password` is theirs.
pub fn check_login<'a>(
    users: &'a [ConsoleUser],
    name: &str,
    password: &str,
) -> Option<&'a ConsoleUser> {
    let user = users.iter().find(|u| u.name == name);
    let hash = user.map_or(dummy_hash(), |u| u.password_hash.as_str());
    let ok = PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false);
    if ok {
        user
    } else {
        None
    }
}

/// Signs and checks session cookies and CSRF tokens with one key.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer([redacted])")
    }
}

/// A random URL-safe token of 16 bytes.
pub fn random_token() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

impl Signer {
    /// A signer with the configured key.
    pub fn new(key: &[u8]) -> Self {
        Signer { key: key.to_vec() }
    }

    /// A signer with a random key (no `console.session_key` configured).
    pub fn random() -> Self {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        Signer::new(&k)
    }

    fn mac(&self, parts: &[&str]) -> String {
        // HMAC accepts keys of any length; the error case cannot happen.
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        for p in parts {
            m.update(p.as_bytes());
            m.update(b"\x1f");
        }
        hex::encode(m.finalize().into_bytes())
    }

    /// The cookie value for `name`'s new session `sid`, valid until `exp_ms`.
    pub fn session_cookie(&self, name: &str, sid: &str, exp_ms: i64) -> String {
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name);
        let exp = exp_ms.to_string();
        let mac = self.mac(&["session", &n, &exp, sid]);
        format!("{n}.{exp}.{sid}.{mac}")
    }

    /// `(name, sid, exp_ms)` of a cookie with a valid signature that has not expired.
    pub fn open_session(&self, cookie: &str, now_ms: i64) -> Option<(String, String, i64)> {
        let mut it = cookie.split('.');
        let (n, exp, sid, mac) = (it.next()?, it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        let want = self.mac(&["session", n, exp, sid]);
        if !bool::from(want.as_bytes().ct_eq(mac.as_bytes())) {
            return None;
        }
        let exp: i64 = exp.parse().ok()?;
        if exp <= now_ms {
            return None;
        }
        let name = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(n)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())?;
        Some((name, sid.to_owned(), exp))
    }

    /// The CSRF token of session `sid` (or of pre-login nonce `sid` with `scope` "login").
    pub fn csrf(&self, scope: &str, sid: &str) -> String {
        self.mac(&["csrf", scope, sid])
    }

    /// A cookie value carrying a one-time message to the next page (signed, so
    /// nobody else can make the console display their text).
    pub fn seal_flash(&self, ok: bool, message: &str) -> String {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}|{message}", if ok { "ok" } else { "err" }));
        let mac = self.mac(&["flash", &b]);
        format!("{b}.{mac}")
    }

    /// `(ok, message)` from a [`Signer::seal_flash`] value.
    pub fn open_flash(&self, value: &str) -> Option<(bool, String)> {
        let (b, mac) = value.split_once('.')?;
        if !bool::from(self.mac(&["flash", b]).as_bytes().ct_eq(mac.as_bytes())) {
            return None;
        }
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b)
            .ok()
            .and_then(|v| String::from_utf8(v).ok())?;
        let (kind, msg) = text.split_once('|')?;
        Some((kind == "ok", msg.to_owned()))
    }

    /// Constant-time check of a submitted CSRF token.
    pub fn csrf_ok(&self, scope: &str, sid: &str, token: &str) -> bool {
        !token.is_empty()
            && bool::from(
                self.csrf(scope, sid)
                    .as_bytes()
                    .ct_eq(token.trim().as_bytes()),
            )
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, scoped to the console.
pub fn set_cookie(name: &str, value: &str, max_age_secs: u64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Vec<ConsoleUser> {
        vec![ConsoleUser {
            name: "alice".into(),
            role: ConsoleRole::Operator,
            password_hash: hash_password("correct horse").expect("hash"),
        }]
    }

    #[test]
    fn passwords_verify_only_for_the_right_user() {
        let u = users();
        assert_eq!(
            check_login(&u, "alice", "correct horse").map(|x| x.name.as_str()),
            Some("alice")
        );
        assert!(check_login(&u, "alice", "wrong").is_none());
        assert!(check_login(&u, "bob", "correct horse").is_none());
        assert!(u[0].password_hash.starts_with("$argon2id$"));
    }

    #[test]
    fn session_cookies_are_signed_and_expire() {
        let s = Signer::new(b"key-one");
        let c = s.session_cookie("alice", "sid1", 2_000);
        assert_eq!(
            s.open_session(&c, 1_000),
            Some(("alice".into(), "sid1".into(), 2_000))
        );
        assert_eq!(s.open_session(&c, 2_000), None, "expired");
        assert_eq!(Signer::new(b"key-two").open_session(&c, 1_000), None);
        // Changing the name, the expiry or the sid breaks the signature.
        let forged = c.replacen(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("alice"),
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("admin"),
            1,
        );
        assert_eq!(s.open_session(&forged, 1_000), None);
        assert_eq!(s.open_session(&c.replace("2000", "9999"), 1_000), None);
        assert_eq!(s.open_session("garbage", 1_000), None);
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session_and_scope() {
        let s = Signer::new(b"k");
        let t = s.csrf("session", "sid1");
        assert!(s.csrf_ok("session", "sid1", &t));
        assert!(!s.csrf_ok("session", "sid2", &t));
        assert!(!s.csrf_ok("login", "sid1", &t));
        assert!(!s.csrf_ok("session", "sid1", ""));
        assert!(!s.csrf_ok("session", "sid1", "deadbeef"));
    }

    #[test]
    fn cookies_are_read_from_the_header() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            axum::http::HeaderValue::from_static("a=1; kirim_console=x.y.z.w; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("x.y.z.w"));
        assert_eq!(cookie(&h, "c"), None);
        let sc = set_cookie(SESSION_COOKIE, "v", 60, false);
        assert!(sc.contains("HttpOnly") && sc.contains("SameSite=Strict"));
    }
}
