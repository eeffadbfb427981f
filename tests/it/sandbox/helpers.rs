//! Test harness: spawn the sandbox on 127.0.0.1:0, and sign requests *by hand* with
//! the hmac/sha2/rsa crates (never kirim::snap), so the sandbox and kirim's clients
//! cannot share a signing mistake unnoticed.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{FixedOffset, Utc};
use hmac::{Hmac, Mac};
use kirim::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};
use tokio::sync::{mpsc, Mutex};

pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn read_secret(name: &str) -> String {
    std::fs::read_to_string(repo(&format!("config/sandbox/{name}")))
        .unwrap()
        .trim()
        .to_owned()
}

// ---------------------------------------------------------------- own crypto

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn hmac512(secret: &str, msg: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(msg.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

pub fn hmac_b64(secret: &str, msg: &str) -> String {
    B64.encode(hmac512(secret, msg))
}

pub fn hmac_hex(secret: &str, msg: &str) -> String {
    hex::encode(hmac512(secret, msg))
}

pub fn rsa_sign(private_pem_file: &str, msg: &str) -> String {
    let pem = std::fs::read_to_string(repo(&format!("config/sandbox/{private_pem_file}"))).unwrap();
    let key = RsaPrivateKey::from_pkcs8_pem(&pem).unwrap();
    B64.encode(
        SigningKey::<Sha256>::new(key)
            .sign(msg.as_bytes())
            .to_bytes(),
    )
}

pub fn rsa_verify(public_pem_file: &str, msg: &str, sig_b64: &str) -> bool {
    let pem = std::fs::read_to_string(repo(&format!("config/sandbox/{public_pem_file}"))).unwrap();
    let key = RsaPublicKey::from_public_key_pem(&pem).unwrap();
    let Ok(raw) = B64.decode(sig_b64) else {
        return false;
    };
    let Ok(sig) = Signature::try_from(raw.as_slice()) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(key)
        .verify(msg.as_bytes(), &sig)
        .is_ok()
}

/// Own canonical JSON (sorted keys by bytes, no whitespace, unicode and `/` raw).
pub fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            let parts: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(k).unwrap(),
                        canonical(&m[*k])
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => serde_json::to_string(other).unwrap(),
    }
}

/// NICEPAY's `X-TIMESTAMP`: 25 characters, no milliseconds
/// (nicepay-payout-inquiry.txt:14).
pub fn jakarta_now_secs() -> String {
    Utc::now()
        .with_timezone(&FixedOffset::east_opt(7 * 3600).unwrap())
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

pub fn jakarta_now() -> String {
    Utc::now()
        .with_timezone(&FixedOffset::east_opt(7 * 3600).unwrap())
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

static EXT: AtomicU64 = AtomicU64::new(1);

/// A fresh numeric X-EXTERNAL-ID.
pub fn ext_id() -> String {
    format!(
        "{}{:06}",
        1_700_000_000u64,
        EXT.fetch_add(1, Ordering::Relaxed)
    )
}

static REF: AtomicU64 = AtomicU64::new(1);

/// A fresh partnerReferenceNo.
pub fn reference(prefix: &str) -> String {
    format!("{prefix}-{:06}", REF.fetch_add(1, Ordering::Relaxed))
}

// ---------------------------------------------------------------- sandbox

pub struct TestSandbox {
    pub handle: SandboxHandle,
    pub http: reqwest::Client,
}

/// Defaults for tests: port 0, settlement only through `/admin/settle` (60 s delay),
/// callbacks off, fast callback retries. `tweak` adjusts before start.
pub async fn spawn(tweak: impl FnOnce(&mut SandboxConfig)) -> TestSandbox {
    let mut cfg = SandboxConfig::repo_default().unwrap();
    cfg.port = 0;
    cfg.settlement_delay_ms = 60_000;
    cfg.cancel_ratio = 0.0;
    cfg.hang_max_ms = 3_000;
    cfg.shutdown_grace_ms = 500;
    cfg.callbacks.retry_base_ms = 10;
    cfg.callbacks.timeout_ms = 2_000;
    cfg.ifortepay.callback_url = String::new();
    cfg.nicepay.notify_url = String::new();
    cfg.singapay.webhook_url = String::new();
    tweak(&mut cfg);
    let handle = Sandbox::start(cfg).await.unwrap();
    TestSandbox {
        handle,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    }
}

/// Status and body (JSON, or the raw text as a JSON string when not JSON).
pub async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v)
}

impl TestSandbox {
    pub fn url(&self, path: &str) -> String {
        self.handle.url(path)
    }

    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        read(self.http.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        read(
            self.http
                .post(self.url(path))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn set_faults(&self, rules: Value) {
        let (s, v) = read(
            self.http
                .put(self.url("/admin/faults"))
                .json(&rules)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }

    /// The callback log once it has at least `n` entries (polls for up to 10 s: the
    /// sandbox logs an attempt after the receiver has answered).
    pub async fn callbacks_until(&self, n: usize) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (_, log) = self.admin_get("/admin/callbacks").await;
            if log.as_array().map_or(0, Vec::len) >= n {
                return log;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "callback log stuck at {log}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn settle(&self) -> u64 {
        self.admin_post("/admin/settle", json!({})).await.1["settled"]
            .as_u64()
            .unwrap()
    }

    /// `booked_count` of a reference at a provider (0 when unknown).
    pub async fn booked(&self, provider: &str, reference: &str) -> u64 {
        let (s, v) = self
            .admin_get(&format!("/admin/bookings/{reference}?provider={provider}"))
            .await;
        if s == 404 {
            return 0;
        }
        v["booked_count"].as_u64().unwrap()
    }

    pub fn ifortepay(&self) -> Snap {
        Snap {
            base: self.url(""),
            prefix: "/ifortepay",
            token_path: "/api/v1.0/access-token/b2b",
            unsigned_prefix: "",
            client_id: "MCPD00000012".into(),
            secret: read_secret("ifortepay_client_secret"),
            key_file: "ifortepay_private.pem",
            channel: "api".into(),
            // The document's form: "Use full URL including all parameters"
            // (ifortepay-transfer-interbank.txt:35), the sandbox's default.
            absolute: true,
            rsa_key_file: None,
            http: self.http.clone(),
        }
    }

    /// iFortepay direct debit: its own partner id (`IFP…`), `DD003`, and a
    /// SHA256withRSA service signature without a token
    /// (ifortepay-direct-debit-payment.txt:42-47).
    pub fn ifortepay_debit(&self) -> Snap {
        Snap {
            client_id: "IFP2024078302".into(),
            channel: "DD003".into(),
            rsa_key_file: Some("ifortepay_debit_private.pem"),
            ..self.ifortepay()
        }
    }

    pub fn nicepay(&self) -> Snap {
        Snap {
            base: self.url(""),
            prefix: "/nicepay",
            token_path: "/v1.0/access-token/b2b",
            unsigned_prefix: "/nicepay",
            client_id: "IONPAYTEST".into(),
            secret: read_secret("nicepay_client_secret"),
            key_file: "nicepay_private.pem",
            channel: "IONPAYTEST01".into(),
            absolute: false,
            rsa_key_file: None,
            http: self.http.clone(),
        }
    }

    pub fn singapay(&self) -> Singa {
        Singa {
            base: self.url(""),
            client_id: "singapay-sandbox-client".into(),
            secret: read_secret("singapay_client_secret"),
            api_key: read_secret("singapay_api_key"),
            account_id: "01J5XW8LD0R6M9CJEXAMPLE01".into(),
            http: self.http.clone(),
        }
    }
}

// ---------------------------------------------------------------- SNAP client

/// A hand-rolled SNAP client (iFortepay or NICEPAY).
#[derive(Clone)]
pub struct Snap {
    pub base: String,
    pub prefix: &'static str,
    pub token_path: &'static str,
    pub unsigned_prefix: &'static str,
    pub client_id: String,
    pub secret: String,
    pub key_file: &'static str,
    pub channel: String,
    /// Sign the full URL (`{base}{prefix}{path}`) instead of the relative path.
    pub absolute: bool,
    /// Sign service requests with this private key (SHA256withRSA, no token, no
    /// `Authorization`) instead of HMAC-SHA512.
    pub rsa_key_file: Option<&'static str>,
    pub http: reqwest::Client,
}

/// A signed request that a test may still tamper with.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: reqwest::Method,
    pub path: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Req {
    pub fn set(mut self, name: &str, value: &str) -> Req {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn remove(mut self, name: &str) -> Req {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }
    pub fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

impl Snap {
    /// The provider's `X-TIMESTAMP` form (NICEPAY: seconds, 25 characters).
    pub fn now(&self) -> String {
        if self.prefix == "/nicepay" {
            jakarta_now_secs()
        } else {
            jakarta_now()
        }
    }

    /// Access-token request, signed with the merchant's private key.
    pub fn token_req(&self) -> Req {
        let ts = self.now();
        let sig = rsa_sign(self.key_file, &format!("{}|{ts}", self.client_id));
        Req {
            method: reqwest::Method::POST,
            path: format!("{}{}", self.prefix, self.token_path),
            body: r#"{"grantType":"client_credentials"}"#.into(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-CLIENT-KEY".into(), self.client_id.clone()),
                ("X-TIMESTAMP".into(), ts),
                ("X-SIGNATURE".into(), sig),
            ],
        }
    }

    pub async fn token(&self) -> String {
        let (s, v) = self.send(self.token_req()).await;
        assert_eq!(s, 200, "{v}");
        v["accessToken"].as_str().unwrap().to_owned()
    }

    /// A fully signed service request: `path` is below the provider prefix.
    pub fn build(&self, token: &str, method: reqwest::Method, path: &str, body: &str) -> Req {
        let full = format!("{}{path}", self.prefix);
        let signed_path = if self.absolute {
            format!("{}{full}", self.base)
        } else {
            full.strip_prefix(self.unsigned_prefix)
                .unwrap_or(&full)
                .to_owned()
        };
        self.build_signed_as(token, method, &full, &signed_path, body)
    }

    /// Like [`Snap::build`] but signing `signed_path` (to test path mistakes).
    pub fn build_signed_as(
        &self,
        token: &str,
        method: reqwest::Method,
        full: &str,
        signed_path: &str,
        body: &str,
    ) -> Req {
        let ts = self.now();
        let minified = minify(body);
        let digest = sha256_hex(minified.as_bytes());
        let method_name = method.as_str().to_owned();
        let mut headers = vec![("Content-Type".into(), "application/json".into())];
        match self.rsa_key_file {
            Some(key) => headers.push((
                "X-SIGNATURE".into(),
                rsa_sign(key, &format!("{method_name}:{signed_path}:{digest}:{ts}")),
            )),
            None => {
                headers.push(("Authorization".into(), format!("Bearer {token}")));
                headers.push((
                    "X-SIGNATURE".into(),
                    hmac_b64(
                        &self.secret,
                        &format!("{method_name}:{signed_path}:{token}:{digest}:{ts}"),
                    ),
                ));
            }
        }
        headers.extend([
            ("X-TIMESTAMP".into(), ts),
            ("X-PARTNER-ID".into(), self.client_id.clone()),
            ("X-EXTERNAL-ID".into(), ext_id()),
            ("CHANNEL-ID".into(), self.channel.clone()),
        ]);
        Req {
            method,
            path: full.to_owned(),
            body: body.to_owned(),
            headers,
        }
    }

    pub async fn send_raw(&self, req: Req) -> reqwest::Result<reqwest::Response> {
        self.send_with(&self.http, req).await
    }

    pub async fn send_with(
        &self,
        http: &reqwest::Client,
        req: Req,
    ) -> reqwest::Result<reqwest::Response> {
        let mut rb = http
            .request(req.method.clone(), format!("{}{}", self.base, req.path))
            .body(req.body.clone());
        for (k, v) in &req.headers {
            rb = rb.header(k, v);
        }
        rb.send().await
    }

    pub async fn send(&self, req: Req) -> (u16, Value) {
        read(self.send_raw(req).await.unwrap()).await
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let req = self.build(token, reqwest::Method::POST, path, &body.to_string());
        self.send(req).await
    }
}

/// Own whitespace remover (outside strings), enough for test bodies.
pub fn minify(body: &str) -> String {
    let mut out = String::new();
    let (mut in_str, mut esc) = (false, false);
    for c in body.chars() {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if !c.is_whitespace() {
            if c == '"' {
                in_str = true;
            }
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------- Singapay client

#[derive(Clone)]
pub struct Singa {
    pub base: String,
    pub client_id: String,
    pub secret: String,
    pub api_key: String,
    pub account_id: String,
    pub http: reqwest::Client,
}

impl Singa {
    pub fn token_signature(&self) -> String {
        let date = Utc::now()
            .with_timezone(&FixedOffset::east_opt(7 * 3600).unwrap())
            .format("%Y%m%d");
        hmac_hex(
            &self.secret,
            &format!("{}_{}_{date}", self.client_id, self.secret),
        )
    }

    pub async fn token_with(&self, api_key: &str, sig: &str) -> (u16, Value) {
        read(
            self.http
                .post(format!("{}/singapay/api/v1.1/access-token/b2b", self.base))
                .header("X-PARTNER-ID", api_key)
                .header("X-CLIENT-ID", &self.client_id)
                .header("X-Signature", sig)
                .json(&json!({"grant_type": "client_credentials"}))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn token(&self) -> String {
        let (s, v) = self
            .token_with(&self.api_key.clone(), &self.token_signature())
            .await;
        assert_eq!(s, 200, "{v}");
        v["data"]["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn v1_transfer(&self, token: &str, account_id: &str, body: &Value) -> (u16, Value) {
        read(
            self.http
                .post(format!(
                    "{}/singapay/api/v1.0/disbursements/transfer/{account_id}",
                    self.base
                ))
                .header("X-PARTNER-ID", &self.api_key)
                .header("Authorization", format!("Bearer {token}"))
                .header("Accept", "application/json")
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A signed v2.0 call; `path` is the full path (`/singapay/api/v2.0/...`).
    pub fn v2_request(&self, token: &str, path: &str, body: &Value) -> reqwest::RequestBuilder {
        let ts = Utc::now().timestamp().to_string();
        let string_to_sign = format!(
            "POST:{path}:{token}:{}:{ts}",
            sha256_hex(canonical(body).as_bytes())
        );
        self.http
            .post(format!("{}{path}", self.base))
            .header("X-PARTNER-ID", &self.api_key)
            .header("Authorization", format!("Bearer {token}"))
            .header("X-Timestamp", ts)
            .header("X-Signature", hmac_hex(&self.secret, &string_to_sign))
            // Pretty-printed on purpose: the signature covers the canonical form.
            .header("Content-Type", "application/json")
            .body(serde_json::to_string_pretty(body).unwrap())
    }

    pub async fn v2(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        read(self.v2_request(token, path, body).send().await.unwrap()).await
    }

    pub async fn v2_transfer(&self, token: &str, body: &Value) -> (u16, Value) {
        self.v2(token, "/singapay/api/v2.0/disbursement/transfer", body)
            .await
    }

    pub async fn v2_inquiry(&self, token: &str, reference: &str) -> (u16, Value) {
        let path = format!(
            "/singapay/api/v2.0/disbursement/{}/inquiry-status",
            self.account_id
        );
        self.v2(token, &path, &json!({"reference_number": reference}))
            .await
    }

    pub fn v2_body(&self, reference: &str, account: &str) -> Value {
        json!({
            "reference_number": reference,
            "account_id": self.account_id,
            "bank_code": "014",
            "bank_account_number": account,
            "amount": 50000,
            "notes": "Payout gaji/BONUS",
        })
    }
}

// ---------------------------------------------------------------- callback receiver

/// One received callback.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: String,
    pub json: Value,
    /// Whether the test's own verification accepted the signature.
    pub valid: bool,
}

pub type CheckFn = Arc<dyn Fn(&str, &HeaderMap, &str) -> bool + Send + Sync>;

/// A tiny axum receiver: verifies each callback with `verify(url, headers, body)`,
/// answers 200 when valid (and after `fail_first` forced 500s), 401 otherwise, and
/// reports every delivery on a channel the test awaits.
pub struct Receiver {
    pub url: String,
    pub rx: mpsc::UnboundedReceiver<Received>,
}

pub async fn receiver(path: &str, fail_first: usize, verify: CheckFn) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    let failures = Arc::new(Mutex::new(fail_first));
    let own_url = url.clone();
    let app = axum::Router::new().route(
        path,
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            let failures = failures.clone();
            let verify = verify.clone();
            let url = own_url.clone();
            async move {
                let body = String::from_utf8(body.to_vec()).unwrap();
                let valid = verify(&url, &headers, &body);
                let json = serde_json::from_str(&body).unwrap_or(Value::Null);
                let _ = tx.send(Received {
                    headers,
                    body,
                    json,
                    valid,
                });
                let mut f = failures.lock().await;
                if *f > 0 {
                    *f -= 1;
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                if valid {
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::UNAUTHORIZED
                }
            }
        }),
    );
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Receiver { url, rx }
}

impl Receiver {
    /// The next delivery (fails the test after 10 s).
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("no callback within 10 s")
            .expect("receiver closed")
    }
}

pub fn hdr(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// iFortepay callback check with own HMAC.
pub fn verify_ifortepay(url: &str, h: &HeaderMap, body: &str) -> bool {
    let msg = format!(
        "{url}:{}:{}:{}",
        hdr(h, "X-VERSION"),
        sha256_hex(minify(body).as_bytes()),
        hdr(h, "X-TIMESTAMP")
    );
    hmac_b64(&read_secret("ifortepay_client_secret"), &msg) == hdr(h, "X-SIGNATURE")
}

/// NICEPAY notify check with own RSA (the sandbox's public key).
pub fn verify_nicepay(_url: &str, h: &HeaderMap, _body: &str) -> bool {
    let msg = format!("IONPAYTEST|{}", hdr(h, "X-TIMESTAMP"));
    rsa_verify("nicepay_server_public.pem", &msg, &hdr(h, "X-SIGNATURE"))
}

/// Singapay webhook check with own HMAC and canonical JSON.
/// Singapay's webhook scheme as its public SDK verifies it (`aliziodev/singapay-js`,
/// `src/webhooks/verify.ts`), written here independently of kirim:
/// lowerhex HMAC-SHA512(clientSecret, `POST:{callback path}:{bearer token}:
/// sha256hex(body):X-Timestamp`), the body hash over the sorted-key form (the
/// sandbox's bodies carry no empty object, so that is the PHP-normalised form) or
/// the raw bytes.
pub fn verify_singapay(url: &str, h: &HeaderMap, body: &str) -> bool {
    let v: Value = serde_json::from_str(body).unwrap();
    let u = reqwest::Url::parse(url).unwrap();
    let endpoint = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    };
    let authorization = hdr(h, "Authorization");
    let Some(token) = authorization.strip_prefix("Bearer ") else {
        return false;
    };
    let ts = hdr(h, "X-Timestamp");
    let secret = read_secret("singapay_client_secret");
    [
        sha256_hex(canonical(&v).as_bytes()),
        sha256_hex(body.as_bytes()),
    ]
    .iter()
    .any(|hash| {
        hmac_hex(&secret, &format!("POST:{endpoint}:{token}:{hash}:{ts}")) == hdr(h, "X-Signature")
    })
}
