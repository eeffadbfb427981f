//! Known-answer tests for `kirim sign` and `kirim keygen`, run through the real
//! binary. Vectors come from outside the crate: the public SNAP demo vectors
//! (tests/fixtures/vectors/, copied from ../shared/vectors/) and our own made with
//! openssl and Python (tests/fixtures/make-own-vectors.sh).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(name)).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn kirim(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kirim"));
    cmd.args(args).env_remove("KIRIM_CLIENT_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("kirim runs")
}

fn stdout_line(out: &Output) -> String {
    assert!(
        out.status.success(),
        "kirim failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(
        s.lines().count(),
        1,
        "stdout must be only the signature: {s:?}"
    );
    s.trim_end().to_owned()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("fixture field {k}"))
}

#[test]
fn public_snap_vectors() {
    let v = load("vectors/snap-midtrans-demo.json");
    let key = fixtures()
        .join("vectors")
        .join(s(&v, "private_key_pem_file"));
    let key = key.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();

    let t = &v["access_token_asymmetric"];
    let out = kirim(
        &[
            "sign",
            "token",
            "--client-id",
            s(t, "client_key"),
            "--timestamp",
            s(t, "timestamp"),
            "--private-key",
            key,
        ],
        &[],
    );
    assert_eq!(stdout_line(&out), s(t, "expected"));

    let h = &v["symmetric"];
    let body = dir.path().join("sym.json");
    std::fs::write(&body, s(h, "body_pretty")).unwrap();
    let out = kirim(
        &[
            "sign",
            "service",
            "--method",
            s(h, "method"),
            "--path",
            s(h, "endpoint_url"),
            "--access-token",
            s(h, "access_token"),
            "--timestamp",
            s(h, "timestamp"),
            "--body-file",
            body.to_str().unwrap(),
            "--explain",
        ],
        &[("KIRIM_CLIENT_SECRET", s(h, "client_secret"))],
    );
    assert_eq!(stdout_line(&out), s(h, "expected"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(s(h, "body_sha256_hex")), "{stderr}");
    assert!(stderr.contains("string-to-sign: POST:/v1.0/qr/qr-mpm-generate:myaccesstoken:"));

    let r = &v["transaction_asymmetric"];
    let body = dir.path().join("asym.json");
    std::fs::write(&body, s(r, "body_pretty")).unwrap();
    let out = kirim(
        &[
            "sign",
            "service-rsa",
            "--method",
            s(r, "method"),
            "--path",
            s(r, "endpoint_url"),
            "--timestamp",
            s(r, "timestamp"),
            "--private-key",
            key,
            "--body-file",
            body.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(stdout_line(&out), s(r, "expected"));
}

#[test]
fn own_vectors_unicode_get_query_tabs() {
    let v = load("own-vectors.json");
    let key = fixtures().join(s(&v, "private_key_pem_file"));
    let key = key.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ts = s(&v, "timestamp");
    for case in v["service"].as_array().unwrap() {
        let body_text = s(&v["bodies"], s(case, "body"));
        let mut args = vec![
            "sign",
            "service",
            "--method",
            s(case, "method"),
            "--path",
            s(case, "path"),
            "--access-token",
            s(&v, "access_token"),
            "--client-secret",
            s(&v, "client_secret"),
            "--timestamp",
            ts,
        ];
        let body = dir.path().join(format!("{}.json", s(case, "name")));
        let body_str = body.to_str().unwrap().to_owned();
        if !body_text.is_empty() {
            std::fs::write(&body, body_text).unwrap();
            args.extend(["--body-file", body_str.as_str()]);
        }
        let out = kirim(&args, &[]);
        assert_eq!(
            stdout_line(&out),
            s(case, "expected"),
            "{}",
            s(case, "name")
        );
        // The library agrees on the minified bytes too.
        assert_eq!(kirim::snap::minify(body_text).unwrap(), s(case, "minified"));
    }
    for case in v["service_rsa"].as_array().unwrap() {
        let body_text = s(&v["bodies"], s(case, "body"));
        let body = dir.path().join(format!("rsa-{}.json", s(case, "name")));
        std::fs::write(&body, body_text).unwrap();
        let out = kirim(
            &[
                "sign",
                "service-rsa",
                "--method",
                s(case, "method"),
                "--path",
                s(case, "path"),
                "--timestamp",
                ts,
                "--private-key",
                key,
                "--body-file",
                body.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(
            stdout_line(&out),
            s(case, "expected"),
            "rsa {}",
            s(case, "name")
        );
    }
    for case in v["token"].as_array().unwrap() {
        let out = kirim(
            &[
                "sign",
                "token",
                "--client-id",
                s(case, "client_id"),
                "--timestamp",
                s(case, "timestamp"),
                "--private-key",
                key,
            ],
            &[],
        );
        assert_eq!(stdout_line(&out), s(case, "expected"));
    }
}

#[test]
fn library_verifies_what_it_signs_against_public_vectors() {
    let v = load("vectors/snap-midtrans-demo.json");
    let key =
        kirim::snap::keys::load_private_key(&fixtures().join("vectors/midtrans-demo-key.pem"))
            .unwrap();
    let public = key.to_public_key();
    let t = &v["access_token_asymmetric"];
    kirim::snap::verify_access_token(
        &public,
        s(t, "client_key"),
        "|",
        s(t, "timestamp"),
        s(t, "expected"),
    )
    .unwrap();
    assert!(kirim::snap::verify_access_token(
        &public,
        "other",
        "|",
        s(t, "timestamp"),
        s(t, "expected")
    )
    .is_err());
    let h = &v["symmetric"];
    kirim::snap::verify_service(
        s(h, "client_secret"),
        "POST",
        s(h, "endpoint_url"),
        s(h, "access_token"),
        s(h, "body_pretty"),
        s(h, "timestamp"),
        s(h, "expected"),
    )
    .unwrap();
    let r = &v["transaction_asymmetric"];
    kirim::snap::verify_service_rsa(
        &public,
        "POST",
        s(r, "endpoint_url"),
        s(r, "body_pretty"),
        s(r, "timestamp"),
        s(r, "expected"),
    )
    .unwrap();
    let tampered = s(r, "body_pretty").replace("accept", "reject");
    assert!(kirim::snap::verify_service_rsa(
        &public,
        "POST",
        s(r, "endpoint_url"),
        &tampered,
        s(r, "timestamp"),
        s(r, "expected")
    )
    .is_err());
}

#[test]
fn errors_go_to_stderr_with_nonzero_exit() {
    let out = kirim(
        &[
            "sign",
            "token",
            "--client-id",
            "x",
            "--timestamp",
            "t",
            "--private-key",
            "/nonexistent.pem",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.pem"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"a\": }").unwrap();
    let out = kirim(
        &[
            "sign",
            "service",
            "--method",
            "POST",
            "--path",
            "/x",
            "--access-token",
            "t",
            "--timestamp",
            "t",
            "--body-file",
            bad.to_str().unwrap(),
        ],
        &[("KIRIM_CLIENT_SECRET", "topsecret")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not valid JSON"), "{err}");
    assert!(!err.contains("topsecret"));

    // No secret at all: clap names the missing argument.
    let out = kirim(
        &[
            "sign",
            "service",
            "--method",
            "GET",
            "--path",
            "/x",
            "--access-token",
            "t",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--client-secret"));
}

#[test]
fn keygen_writes_usable_pair_with_private_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("keys");
    let out = kirim(&["keygen", "--out", out_dir.to_str().unwrap()], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let private = out_dir.join("private.pem");
    let text = std::fs::read_to_string(&private).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // A signature made with the new key verifies with the public half, and openssl
    // (outside the crate) agrees the private key is a 2048-bit RSA key.
    let sig = stdout_line(&kirim(
        &[
            "sign",
            "token",
            "--client-id",
            "C",
            "--timestamp",
            "T",
            "--private-key",
            private.to_str().unwrap(),
        ],
        &[],
    ));
    let public = kirim::snap::keys::load_public_key(&out_dir.join("public.pem")).unwrap();
    kirim::snap::verify_access_token(&public, "C", "|", "T", &sig).unwrap();
    if let Ok(o) = Command::new("openssl")
        .args(["pkey", "-in", private.to_str().unwrap(), "-noout", "-text"])
        .output()
    {
        if o.status.success() {
            assert!(String::from_utf8_lossy(&o.stdout).contains("2048 bit"));
        }
    }
    // Refuses to overwrite without --force.
    let again = kirim(&["keygen", "--out", out_dir.to_str().unwrap()], &[]);
    assert!(!again.status.success());
}

#[test]
fn configuration_errors_name_the_key() {
    // An environment override is validated like the file.
    let out = kirim(
        &["list", "--state", "PENDING"],
        &[("KIRIM_WORKER__CONCURRENCY", "0")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("worker.concurrency"), "{err}");

    // A secret written in a config file is refused, naming the key, never echoing it.
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("extra.toml");
    std::fs::write(
        &extra,
        "[providers.ifortepay]\nclient_secret = \"s3cr3t-value\"\n",
    )
    .unwrap();
    let out = kirim(
        &[
            "--config",
            extra.to_str().unwrap(),
            "list",
            "--state",
            "PENDING",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("providers.ifortepay.client_secret"), "{err}");
    assert!(!err.contains("s3cr3t-value"));

    // Bad user input names the field and the rule.
    let out = kirim(&["list", "--state", "DONE"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("state: must be one of"));
}

#[test]
fn bad_enqueue_input_is_named_once_before_any_connection() {
    // No Redis is listening on this port: the input error must come first.
    let out = kirim(
        &[
            "enqueue",
            "transfer",
            "--provider",
            "ifortepay",
            "--reference",
            "R-1",
            "--amount",
            "1.001",
            "--bank-code",
            "014",
            "--account-no",
            "8753293240",
            "--name",
            "Budi",
        ],
        &[("KIRIM_REDIS__URL", "redis://127.0.0.1:1")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("amount: must have at most two decimals")
            .count(),
        1,
        "{err}"
    );
}

/// Issue 12: `KIRIM_BANK_CARD_TOKEN` (the documented way to pass a card token) and a
/// stray `KIRIM_SANDBOX__*` used to stop every command with "unknown field";
/// only `KIRIM_<SECTION>__…` of kirim's own sections is configuration.
#[test]
fn kirim_variables_outside_the_config_sections_are_not_configuration() {
    let out = kirim(
        &[
            "enqueue",
            "transfer",
            "--provider",
            "ifortepay",
            "--reference",
            "ENV-1",
            "--amount",
            "150000",
            "--bank-code",
            "01!",
            "--account-no",
            "8753293240",
            "--name",
            "Budi Santoso",
        ],
        &[
            ("KIRIM_BANK_CARD_TOKEN", "card_.token"),
            ("KIRIM_SANDBOX__PORT", "9999"),
            ("KIRIM_REDIS__NAMESPACE", "{env-test}"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!err.contains("unknown field"), "{err}");
    assert!(
        err.contains("bank-code"),
        "the input error, after the config loaded: {err}"
    );
    // A real section key with a bad value is still read, and refused by name.
    let out = kirim(
        &["list", "--state", "PENDING"],
        &[("KIRIM_REDIS__REPLICA_TIMEOUT_MS", "0")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("redis.replica_timeout_ms"), "{err}");
}

/// Issue 12: a configuration error is printed once, as a sentence.
#[test]
fn cli_errors_print_once() {
    let out = kirim(
        &["list", "--state", "PENDING"],
        &[("KIRIM_WORKER__CONCURRENCY", "many")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(
        err.to_lowercase().matches("concurrency").count(),
        1,
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "{err}"
    );
}

/// `kirim enqueue transfer` passes the same door as `POST /v1/transfers`: the
/// provider's own rules (NICEPAY's mandatory beneficiaryPhone) before any
/// connection, and the bank code this provider takes (NICEPAY's `CENA` for BI's
/// `014`) in what is stored. Before, the CLI skipped both: the worker refused the
/// first, and NICEPAY would have refused the second.
#[tokio::test]
async fn cli_enqueue_passes_the_providers_door() {
    fn args(reference: &str, phone: Option<&str>) -> Vec<String> {
        let mut a = vec![
            "enqueue",
            "transfer",
            "--provider",
            "nicepay",
            "--reference",
            reference,
            "--amount",
            "150000",
            "--bank-code",
            "014",
            "--account-no",
            "8753293240",
            "--name",
            "Budi Santoso",
            "--json",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        if let Some(p) = phone {
            a.extend(["--phone".to_owned(), p.to_owned()]);
        }
        a
    }
    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let out = kirim(
        &refs(&args("CLI-NP-1", None)),
        &[("KIRIM_REDIS__URL", "redis://127.0.0.1:1")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("beneficiary.phone"), "{err}");

    let redis = crate::common::redis();
    let settings = crate::common::settings_for(&redis);
    let env = [
        ("KIRIM_REDIS__URL", settings.redis.url.as_str()),
        ("KIRIM_REDIS__NAMESPACE", settings.redis.namespace.as_str()),
    ];
    let out = kirim(&refs(&args("CLI-NP-2", Some("081234567890"))), &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client = kirim::client::Client::connect(&settings)
        .await
        .expect("client");
    let id: kirim::ledger::PayoutId = "nicepay:CLI-NP-2".parse().expect("id");
    let p = client
        .ledger()
        .get(&id)
        .await
        .expect("ledger")
        .expect("stored");
    let bank = p.details.beneficiary.expect("beneficiary").bank_code;
    assert_eq!(bank.as_str(), "CENA");
}
