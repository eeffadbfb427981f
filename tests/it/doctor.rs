//! `kirim provider NAME doctor` through the real binary against the sandbox:
//! healthy when every step passes, and the first refusal names the setting to
//! try (issue 16, point 8).

use std::process::Command;

use serde_json::Value;

use crate::common;

/// Run the doctor for `provider` with the sandbox as its base URL and `env` on top.
fn doctor(provider: &str, base_url: &str, env: &[(&str, &str)]) -> (bool, Value) {
    let upper = provider.to_ascii_uppercase();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kirim"));
    cmd.args(["provider", provider, "doctor"])
        .env(format!("KIRIM_PROVIDERS__{upper}__BASE_URL"), base_url)
        .env(
            format!("KIRIM_PROVIDERS__{upper}__REQUEST_TIMEOUT_MS"),
            "5000",
        );
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("kirim runs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor prints JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

fn verdicts(report: &Value) -> Vec<(String, String)> {
    report["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| {
                    (
                        s["step"].as_str().unwrap_or_default().to_owned(),
                        s["verdict"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_against_the_sandbox_and_names_the_setting_behind_a_refusal() {
    let sandbox = common::sandbox(|_| {}).await;
    let base = sandbox.url("/ifortepay");

    let (ok, report) = doctor("ifortepay", &base, &[]);
    assert!(ok, "{report:#}");
    assert_eq!(report["healthy"], true, "{report:#}");
    let steps = verdicts(&report);
    let names: Vec<&str> = steps.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        names,
        ["config", "token", "profile", "signed_inquiry"],
        "{report:#}"
    );
    assert!(steps.iter().all(|(_, v)| v == "ok"), "{report:#}");

    // The wrong separator in the token's string to sign: the token is refused,
    // and the diagnosis names `token_separator`.
    let (ok, report) = doctor(
        "ifortepay",
        &base,
        &[("KIRIM_PROVIDERS__IFORTEPAY__TOKEN_SEPARATOR", "#")],
    );
    assert!(!ok, "{report:#}");
    assert_eq!(
        verdicts(&report).last(),
        Some(&("token".to_owned(), "refused".to_owned())),
        "{report:#}"
    );
    let diagnosis = report["diagnosis"].as_str().unwrap_or_default();
    assert!(diagnosis.contains("token_separator"), "{diagnosis}");

    // The wrong client secret: the token is granted, the signed call is refused,
    // and the diagnosis names the signature settings.
    let dir = tempfile::tempdir().expect("temp dir");
    let wrong = dir.path().join("secret");
    std::fs::write(&wrong, "not-the-secret\n").expect("write");
    let wrong = wrong.display().to_string();
    let (ok, report) = doctor(
        "ifortepay",
        &base,
        &[("KIRIM_PROVIDERS__IFORTEPAY__CLIENT_SECRET_FILE", &wrong)],
    );
    assert!(!ok, "{report:#}");
    let last = verdicts(&report).last().cloned();
    assert!(
        matches!(last, Some((_, ref v)) if v == "refused"),
        "{report:#}"
    );
    let diagnosis = report["diagnosis"].as_str().unwrap_or_default();
    assert!(
        diagnosis.contains("endpoint_url_mode") && diagnosis.contains("client_secret"),
        "{diagnosis}"
    );
    // The secret itself is never printed.
    assert!(!report.to_string().contains("not-the-secret"));

    // Nothing listens: a failed step that points at base_url.
    let (ok, report) = doctor("nicepay", "http://127.0.0.1:1", &[]);
    assert!(!ok, "{report:#}");
    let diagnosis = report["diagnosis"].as_str().unwrap_or_default();
    assert!(diagnosis.contains("base_url"), "{diagnosis}");
}

/// `kirim serve` warns at start-up when a configured callback URL cannot reach it
/// as registered (the URL is part of the callback signature).
#[tokio::test]
async fn callback_urls_that_do_not_reach_this_server_are_named() {
    let redis = common::redis();
    let mut settings = common::settings_for(&redis);
    let client = kirim::client::Client::connect(&settings)
        .await
        .expect("client");
    let state = kirim::callbacks::CallbackState::from_settings(&settings, client.clone());
    // default.toml registers …:8090/callbacks/NAME, as `kirim serve` listens.
    assert_eq!(
        kirim::callbacks::callback_url_warnings(&state, &settings, 8090),
        Vec::<String>::new()
    );
    let elsewhere = kirim::callbacks::callback_url_warnings(&state, &settings, 9000);
    assert!(
        elsewhere
            .iter()
            .any(|w| w.contains("providers.ifortepay.callback_url") && w.contains("9000")),
        "{elsewhere:?}"
    );
    assert!(
        elsewhere
            .iter()
            .any(|w| w.contains("providers.singapay.webhook_url")),
        "{elsewhere:?}"
    );
    settings.providers.set(
        "ifortepay",
        "callback_url",
        "http://127.0.0.1:8090/hooks/ifp",
    );
    let state = kirim::callbacks::CallbackState::from_settings(&settings, client);
    let wrong_path = kirim::callbacks::callback_url_warnings(&state, &settings, 8090);
    assert!(
        wrong_path
            .iter()
            .any(|w| w.contains("/callbacks/ifortepay") && w.contains("/hooks/ifp")),
        "{wrong_path:?}"
    );
}
