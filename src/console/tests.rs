//! Unit tests of the console's request parsing and settings.

use axum::http::{HeaderMap, HeaderValue};

use super::access::submitted_csrf;
use super::auth;
use super::handlers::{parse_filter, ListQuery};
use crate::config::Settings;

#[test]
fn csrf_is_read_from_header_or_form() {
    let mut h = HeaderMap::new();
    assert_eq!(submitted_csrf(&h, b"note=x&csrf=abc&state=FAILED"), "abc");
    assert_eq!(submitted_csrf(&h, b"note=x"), "");
    h.insert("x-csrf-token", HeaderValue::from_static("hdr"));
    assert_eq!(submitted_csrf(&h, b"csrf=abc"), "hdr");
}

fn repo_default() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")
}

#[test]
fn console_settings_are_validated_and_the_key_stays_out_of_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = dir.path().join("x.toml");
    let load = |text: &str| {
        std::fs::write(&extra, text).expect("write");
        Settings::load_from(&repo_default(), Some(&extra), false)
    };
    let err = load("[console]\nsession_key = \"hunter2\"\n").expect_err("secret in a file");
    assert!(err.to_string().contains("console.session_key"), "{err}");
    assert!(!err.to_string().contains("hunter2"));
    let err = load(
        "[[console.users]]\nname = \"a\"\nrole = \"operator\"\npassword_hash = \"plaintext\"\n",
    )
    .expect_err("not a hash");
    assert!(
        err.to_string().contains("console.users[0].password_hash"),
        "{err}"
    );
    let err = load("[[console.users]]\nname = \"a\"\nrole = \"admin\"\npassword_hash = \"x\"\n")
        .expect_err("unknown role");
    assert!(err.to_string().contains("admin"), "{err}");
    let hash = auth::hash_password("pw").expect("hash");
    let ok = load(&format!(
        "[[console.users]]\nname = \"a\"\nrole = \"viewer\"\npassword_hash = \"{hash}\"\n"
    ))
    .expect("valid");
    assert_eq!(ok.console.users[0].role, crate::config::ConsoleRole::Viewer);
    assert!(ok.console.enabled);
}

#[test]
fn date_filters_are_jakarta_days() {
    let q = ListQuery {
        from: "2026-12-01".into(),
        to: "2026-12-01".into(),
        ..Default::default()
    };
    let f = parse_filter(&q).expect("valid");
    // 2026-12-01T00:00+07:00 = 2026-11-30T17:00Z.
    assert_eq!(f.from_ms, Some(1_796_058_000_000));
    assert_eq!(f.to_ms.zip(f.from_ms).map(|(t, a)| t - a), Some(86_400_000));
    let bad = ListQuery {
        state: "PAID".into(),
        ..Default::default()
    };
    assert!(parse_filter(&bad).is_err());
}
