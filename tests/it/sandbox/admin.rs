//! The admin API and the server's lifecycle.

use std::time::Duration;

use kirim::sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

use crate::sandbox::helpers::*;
use crate::sandbox::ifortepay::transfer_body;

#[tokio::test]
async fn bookings_oracle_and_ambiguity() {
    let sb = spawn(|_| {}).await;
    let (s, v) = sb.admin_get("/admin/health").await;
    assert_eq!((s, v), (200, json!({"ok": true})));
    let ifp = sb.ifortepay();
    let token = ifp.token().await;
    ifp.post(
        &token,
        "/api/v1.2/transfer-interbank",
        &transfer_body("SHARED-1", "1", "10000.00"),
    )
    .await;
    let sp = sb.singapay();
    let sp_token = sp.token().await;
    sp.v2_transfer(&sp_token, &sp.v2_body("SHARED-1", "1"))
        .await;

    let (s, v) = sb.admin_get("/admin/bookings/SHARED-1").await;
    assert_eq!(s, 409, "two providers hold this reference: {v}");
    let (s, v) = sb
        .admin_get("/admin/bookings/SHARED-1?provider=ifortepay")
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            v["provider"].as_str(),
            v["reference"].as_str(),
            v["booked_count"].as_u64(),
            v["status"].as_str()
        ),
        (Some("ifortepay"), Some("SHARED-1"), Some(1), Some("INIT"))
    );
    let (s, v) = sb.admin_get("/admin/bookings/unknown-ref").await;
    assert_eq!((s, v["booked_count"].as_u64()), (404, Some(0)));
    let (_, all) = sb.admin_get("/admin/bookings").await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (s, _) = sb
        .admin_get("/admin/bookings/SHARED-1?provider=paypal")
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn graceful_shutdown_ends_hung_requests_and_frees_the_port() {
    let mut cfg = SandboxConfig::repo_default().unwrap();
    cfg.port = 0;
    cfg.hang_max_ms = 60_000;
    cfg.shutdown_grace_ms = 200;
    cfg.ifortepay.callback_url = String::new();
    let handle = Sandbox::start(cfg).await.unwrap();
    let url = handle.url("/ifortepay/api/v1.0/access-token/b2b");
    let http = reqwest::Client::new();
    http.put(handle.url("/admin/faults"))
        .json(&json!([{"endpoint": "ifortepay.token", "kind": "hang", "times": 1}]))
        .send()
        .await
        .unwrap();
    let faults_url = handle.url("/admin/faults");
    let in_flight = tokio::spawn({
        let http = http.clone();
        async move { http.post(url).send().await }
    });
    // The request is inside the hang once it has consumed the one-shot rule.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let active: serde_json::Value = http
            .get(&faults_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if active == json!([]) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request never reached the sandbox"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::timeout(Duration::from_secs(5), handle.shutdown())
        .await
        .expect("shutdown must not wait for the 60 s hang");
    let answer = in_flight.await.unwrap();
    // Either the hung handler answered 504 during the grace period, or the
    // connection was closed: never a hang.
    if let Ok(resp) = answer {
        assert_eq!(resp.status(), 504);
    }

    // run_until_stopped with our own trigger.
    let mut cfg = SandboxConfig::repo_default().unwrap();
    cfg.port = 0;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(Sandbox::run_until_stopped(cfg, async {
        let _ = rx.await;
    }));
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn bad_config_is_refused_naming_the_key() {
    let mut cfg = SandboxConfig::repo_default().unwrap();
    cfg.port = 0;
    cfg.cancel_ratio = 2.0;
    let err = Sandbox::start(cfg).await.err().unwrap().to_string();
    assert!(err.contains("cancel_ratio"), "{err}");
    let mut cfg = SandboxConfig::repo_default().unwrap();
    cfg.port = 0;
    cfg.nicepay.client_secret_file = Some("/nonexistent/secret".into());
    let err = Sandbox::start(cfg).await.err().unwrap().to_string();
    assert!(err.contains("nicepay.client_secret"), "{err}");
}
