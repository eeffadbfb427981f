use std::path::Path;

use super::load::EnvStrings;
use super::*;

fn repo_default() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")
}

/// Issue 12: settings that would break every request or every log line are
/// refused by name.
#[test]
fn zero_body_limit_and_bad_log_filter_are_refused_by_name() {
    let mut s = Settings::load_from(&repo_default(), None, false).unwrap();
    s.api.max_body_bytes = 0;
    let e = s.validate().expect_err("refused").to_string();
    assert!(e.contains("api.max_body_bytes"), "{e}");
    let mut s = Settings::load_from(&repo_default(), None, false).unwrap();
    s.log.filter = "kirim=[".into();
    let e = s.validate().expect_err("refused").to_string();
    assert!(e.contains("log.filter"), "{e}");
}

#[test]
fn default_config_loads_and_validates() {
    let s = Settings::load_from(&repo_default(), None, false).unwrap();
    assert!(s.worker.concurrency > 0);
    let names: Vec<&str> = s.providers.names().collect();
    assert_eq!(names, ["ifortepay", "nicepay", "singapay"]);
    assert!(s
        .providers
        .section("ifortepay")
        .is_some_and(|p| p.text("client_secret").is_none()));
}

#[test]
fn a_provider_section_parses_with_keys_named() {
    #[derive(Debug, serde::Deserialize)]
    struct Merchant {
        #[allow(dead_code)]
        sender_city: u32,
    }
    #[derive(Debug, serde::Deserialize)]
    struct Section {
        #[allow(dead_code)]
        merchant: Merchant,
    }
    let mut s = Settings::load_from(&repo_default(), None, false).unwrap();
    s.providers
        .set("ifortepay", "merchant.sender_city", "Jakarta");
    let e = s
        .providers
        .parse::<Section>("ifortepay")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("providers.ifortepay.merchant.sender_city"),
        "{e}"
    );
    let e = s
        .providers
        .parse::<Section>("nosuch")
        .unwrap_err()
        .to_string();
    assert!(e.contains("providers.nosuch"), "{e}");
    // Debug shows keys, never values (a section may hold a secret).
    s.providers
        .set("ifortepay", "client_secret", "s3cr3t-value");
    assert!(!format!("{:?}", s.providers).contains("s3cr3t-value"));
}

#[test]
fn secret_in_file_is_refused_naming_key() {
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("x.toml");
    std::fs::write(&extra, "[providers.nicepay]\nclient_secret = \"oops\"\n").unwrap();
    let err = Settings::load_from(&repo_default(), Some(&extra), false).unwrap_err();
    assert!(
        err.to_string().contains("providers.nicepay.client_secret"),
        "{err}"
    );
    assert!(!err.to_string().contains("oops"));
}

#[test]
fn invalid_values_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("x.toml");
    std::fs::write(&extra, "[worker]\nconcurrency = 0\n").unwrap();
    let err = Settings::load_from(&repo_default(), Some(&extra), false).unwrap_err();
    assert!(err.to_string().contains("worker.concurrency"), "{err}");
    std::fs::write(&extra, "[worker]\nconcurrency = \"many\"\n").unwrap();
    let err = Settings::load_from(&repo_default(), Some(&extra), false).unwrap_err();
    assert!(err.to_string().contains("concurrency"), "{err}");
    std::fs::write(&extra, "[worker]\nconcurency = 3\n").unwrap();
    let err = Settings::load_from(&repo_default(), Some(&extra), false).unwrap_err();
    assert!(err.to_string().contains("concurency"), "{err}");
}

fn env(vars: &[(&str, &str)]) -> Option<EnvStrings> {
    Some(EnvStrings {
        vars: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    })
}

/// Issue 12: `KIRIM_PROVIDERS__IFORTEPAY__MERCHANT__SOURCE_ACCOUNT_NO=0012345678`
/// is a string setting given digits; numeric settings still take numbers, and
/// arrays still parse.
#[test]
fn numeric_looking_env_values_fill_string_and_numeric_settings() {
    let s = Settings::load_layers(
        &repo_default(),
        None,
        env(&[
            (
                "providers.ifortepay.merchant.source_account_no",
                "0012345678",
            ),
            ("providers.ifortepay.client_id", "1234567890"),
            ("providers.ifortepay.merchant.sender_city", "3171"),
            ("providers.ifortepay.token_separator", ":"),
            ("providers.ifortepay.request_timeout_ms", "4321"),
            ("providers.nicepay.enabled", "false"),
            ("worker.concurrency", "7"),
            ("reconcile.in_worker", "false"),
            ("reconcile.schedule_secs", "[5, 10]"),
            ("reconcile.submit_grace_secs", "45"),
        ]),
    )
    .expect("loads");
    #[derive(serde::Deserialize)]
    struct Merchant {
        source_account_no: String,
        sender_city: String,
    }
    #[derive(serde::Deserialize)]
    struct Ifp {
        client_id: String,
        token_separator: String,
        merchant: Merchant,
        request_timeout_ms: u64,
    }
    let i: Ifp = s.providers.parse("ifortepay").expect("parses");
    assert_eq!(i.merchant.source_account_no, "0012345678");
    assert_eq!(i.client_id, "1234567890");
    assert_eq!(i.merchant.sender_city, "3171");
    assert_eq!(i.token_separator, ":");
    // A provider's own numeric key from the environment is text; it still parses,
    // also where the shared HTTP keys are flattened into a provider's section.
    assert_eq!(i.request_timeout_ms, 4321);
    assert_eq!(
        s.providers
            .http("ifortepay")
            .expect("http")
            .request_timeout_ms,
        4321
    );
    assert!(!s.providers.enabled().any(|n| n == "nicepay"));
    assert_eq!(s.worker.concurrency, 7);
    assert!(!s.reconcile.in_worker);
    assert_eq!(s.reconcile.schedule_secs, vec![5, 10]);
    assert_eq!(s.reconcile.submit_grace_secs, Some(45));

    let err = Settings::load_layers(
        &repo_default(),
        None,
        env(&[("worker.concurrency", "many")]),
    )
    .expect_err("not a number");
    let text = err.to_string();
    assert!(text.contains("KIRIM_WORKER__CONCURRENCY"), "{text}");
}

/// Issue 12: a relative `*_file`/`*_path` in a config file is relative to that
/// file, whatever the working directory; absolute paths and environment values
/// are taken as written.
#[test]
fn relative_paths_in_a_config_file_resolve_beside_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("secret.txt"), "s3cr3t\n").expect("write");
    let extra = dir.path().join("site.toml");
    std::fs::write(
        &extra,
        "[providers.ifortepay]\nclient_secret_file = \"secret.txt\"\n\
         private_key_path = \"/abs/key.pem\"\n\
         [providers.nicepay]\nclient_secret_file = \"sub/../nicepay\"\n",
    )
    .expect("write");
    // The cargo test working directory is the package root, not `dir`.
    assert_ne!(std::env::current_dir().ok().as_deref(), Some(dir.path()));
    let s = Settings::load_layers(
        &repo_default(),
        Some(&extra),
        env(&[("providers.singapay.api_key_file", "from-env/key")]),
    )
    .expect("loads");
    let text = |name: &str, key: &str| {
        s.providers
            .section(name)
            .and_then(|p| p.text(key))
            .map(PathBuf::from)
    };
    let secret_file = text("ifortepay", "client_secret_file");
    assert_eq!(secret_file, Some(dir.path().join("secret.txt")));
    let secret = resolve_secret(&None, &secret_file, "providers.ifortepay.client_secret");
    assert_eq!(secret.expect("readable").expose(), "s3cr3t");
    assert_eq!(
        text("ifortepay", "private_key_path"),
        Some(PathBuf::from("/abs/key.pem"))
    );
    assert_eq!(
        text("nicepay", "client_secret_file"),
        Some(dir.path().join("sub/../nicepay"))
    );
    assert_eq!(
        text("singapay", "api_key_file"),
        Some(PathBuf::from("from-env/key"))
    );
    // default.toml's own relative paths resolve beside default.toml.
    let config_dir = repo_default().parent().map(Path::to_path_buf);
    let key = text("nicepay", "private_key_path").expect("set");
    assert_eq!(
        key.parent(),
        config_dir.map(|d| d.join("sandbox")).as_deref()
    );
    assert!(key.exists());
}

#[test]
fn secret_resolution_from_file_and_missing() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s");
    std::fs::write(&f, "abc\n").unwrap();
    let s = resolve_secret(&None, &Some(f), "providers.x.client_secret").unwrap();
    assert_eq!(s.expose(), "abc");
    assert_eq!(format!("{s:?}"), "[redacted]");
    let err = resolve_secret(&None, &None, "providers.x.client_secret").unwrap_err();
    assert!(
        err.to_string()
            .contains("KIRIM_PROVIDERS__X__CLIENT_SECRET"),
        "{err}"
    );
}
