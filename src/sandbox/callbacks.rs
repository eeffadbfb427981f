//! Signed notifications on final status, retried with backoff until the receiver
//! answers HTTP 200 (up to `callbacks.max_attempts`).
//!
//! | provider | URL setting | headers | signature |
//! |---|---|---|---|
//! | iFortepay | `ifortepay.callback_url` | `X-TIMESTAMP`, `X-SIGNATURE`, `X-VERSION: 1.0` | base64 HMAC-SHA512(clientSecret, `callbackUrl:1.0:sha256hex(minify(body)):X-TIMESTAMP`) |
//! | NICEPAY | `nicepay.notify_url` | `X-TIMESTAMP`, `X-SIGNATURE`, `X-CLIENT-KEY` | base64 SHA256withRSA(nicepay_server_private.pem, `clientId|X-TIMESTAMP`) |
//! | Singapay | `singapay.webhook_url` | `X-Timestamp` (unix s), `X-Signature`, `Authorization: Bearer` | lowerhex HMAC-SHA512(clientSecret, `POST:{webhook path}:{bearer token}:sha256hex(php-normalised body):X-Timestamp`) |
//!
//! Callback faults (endpoints `callbacks.ifortepay|nicepay|singapay`):
//! `bad_signature` corrupts the signature of the first attempt only (the retry is
//! signed correctly, so a receiver that rejects it still gets the notification),
//! `duplicate` delivers the final notification twice, `out_of_order` follows the
//! final notification with a stale earlier status (INIT / 08 / 01). Every attempt is
//! logged for `GET /admin/callbacks`.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::faults::Endpoint;
use super::state::{AppState, Booking, CallbackRecord, Kind, Settled, Status};
use super::{ifortepay, nicepay, singapay};
use crate::snap::{self, timestamp};

/// Receive final statuses and deliver each in its own task.
pub(crate) async fn dispatcher(state: AppState, mut rx: mpsc::UnboundedReceiver<Settled>) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_millis(state.cfg.callbacks.timeout_ms))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the callback HTTP client; callbacks disabled");
            return;
        }
    };
    let mut shutdown = state.shutdown.clone();
    let mut deliveries = JoinSet::new();
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(settled) => {
                    deliveries.spawn(deliver(state.clone(), client.clone(), settled.booking));
                }
                None => break,
            },
            Some(_) = deliveries.join_next(), if !deliveries.is_empty() => {}
            _ = crate::sandbox::stopped(&mut shutdown) => break,
        }
    }
    deliveries.abort_all();
}

fn target(state: &AppState, b: &Booking) -> Option<(String, Endpoint)> {
    let (url, ep) = match (b.provider, b.kind) {
        (crate::providers::ifortepay::ID, Kind::Transfer) => (
            &state.cfg.ifortepay.callback_url,
            Endpoint::CallbackIfortepay,
        ),
        // Direct debit notify (service 56) is not simulated.
        (crate::providers::ifortepay::ID, _) => return None,
        (crate::providers::nicepay::ID, _) => {
            (&state.cfg.nicepay.notify_url, Endpoint::CallbackNicepay)
        }
        (crate::providers::singapay::ID, _) => {
            (&state.cfg.singapay.webhook_url, Endpoint::CallbackSingapay)
        }
        // A provider the sandbox does not simulate has no callbacks.
        _ => return None,
    };
    (!url.is_empty()).then(|| (url.clone(), ep))
}

async fn deliver(state: AppState, client: reqwest::Client, b: Booking) {
    let Some((url, ep)) = target(&state, &b) else {
        return;
    };
    let faults = state.faults.draw_all(ep);
    let names: Vec<String> = faults.iter().map(|k| format!("{k:?}")).collect();
    let mut messages = vec![b.status];
    if faults.contains(&super::FaultKind::Duplicate) {
        messages.push(b.status);
    }
    if faults.contains(&super::FaultKind::OutOfOrder) {
        // An out-of-order delivery carries the stale status: still in progress.
        messages.push(Status::Init);
    }
    let mut bad_signature = faults.contains(&super::FaultKind::BadSignature);
    let mut shutdown = state.shutdown.clone();
    for status in messages {
        for attempt in 1..=state.cfg.callbacks.max_attempts {
            let Some((body, headers, wire_status)) = build(&state, &b, status, &url, bad_signature)
            else {
                return;
            };
            bad_signature = false;
            let mut req = client
                .post(&url)
                .header("Content-Type", "application/json")
                .body(body);
            for (k, v) in &headers {
                req = req.header(*k, v);
            }
            let result = req.send().await;
            let (http_status, error) = match &result {
                Ok(r) => (Some(r.status().as_u16()), None),
                Err(e) => (None, Some(e.to_string())),
            };
            state.log_callback(CallbackRecord {
                provider: b.provider,
                reference: b.reference.clone(),
                url: url.clone(),
                status: wire_status,
                attempt,
                faults: names.clone(),
                http_status,
                error,
                at: timestamp::format(state.now()),
            });
            if http_status == Some(200) {
                break;
            }
            if attempt == state.cfg.callbacks.max_attempts {
                tracing::warn!(provider = %b.provider, reference = %b.reference, "callback not acknowledged; giving up");
                break;
            }
            let backoff = state
                .cfg
                .callbacks
                .retry_base_ms
                .saturating_mul(1 << (attempt - 1).min(16));
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(backoff)) => {}
                _ = crate::sandbox::stopped(&mut shutdown) => return,
            }
        }
    }
}

/// Body text, extra headers and the wire status of one delivery attempt.
type Delivery = (String, Vec<(&'static str, String)>, String);

/// Body bytes, extra headers and the wire status for one attempt.
fn build(
    state: &AppState,
    b: &Booking,
    status: Status,
    url: &str,
    corrupt: bool,
) -> Option<Delivery> {
    Some(match b.provider {
        crate::providers::ifortepay::ID => {
            let body = ifortepay::callback_body(b, status);
            let text = body.to_string();
            let ts = timestamp::format(state.now());
            let secret = state.creds.ifortepay.client_secret.expose();
            let message = snap::callback_string_to_sign(url, "1.0", text.as_bytes(), &ts);
            let sig = if corrupt {
                snap::hmac_sign(&format!("{secret}-wrong"), &message)
            } else {
                snap::hmac_sign(secret, &message)
            };
            let headers = vec![
                ("X-TIMESTAMP", ts),
                ("X-SIGNATURE", sig),
                ("X-VERSION", "1.0".into()),
            ];
            (text, headers, ifortepay::status_str(status).to_owned())
        }
        crate::providers::nicepay::ID => {
            let c = &state.cfg.nicepay;
            let body = nicepay::notify_body(b, status, &c.merchant_id);
            let ts = timestamp::format(state.now());
            let mut message = format!("{}{}{ts}", c.client_id, c.token_separator);
            if corrupt {
                message.push_str("-wrong");
            }
            let sig = snap::rsa_sign(&state.creds.nicepay.server_private_key, &message);
            let headers = vec![
                ("X-TIMESTAMP", ts),
                ("X-SIGNATURE", sig),
                ("X-CLIENT-KEY", c.client_id.clone()),
            ];
            (
                body.to_string(),
                headers,
                nicepay::status_code(status).0.to_owned(),
            )
        }
        crate::providers::singapay::ID => {
            let view = Booking {
                status,
                ..b.clone()
            };
            let mut data = singapay::v2_data(&view, &state.cfg.singapay.account_id);
            if b.kind == Kind::TransferV1 {
                // A v1.0 transfer has no reference of the merchant's
                // (singapay-disbursement-transfer.txt: the request has no such field),
                // so its notification names the transaction by `transaction_id` only.
                if let Some(d) = data.as_object_mut() {
                    d.remove("reference_number");
                }
                data["api_version"] = json!("v1.0");
                data["notes"] = b.extra.get("notes").cloned().unwrap_or(Value::Null);
            }
            // Singapay's public SDK (aliziodev/singapay-js, src/webhooks/verify.ts):
            // `event:"disbursement"`, headers X-Signature, X-Timestamp and an
            // Authorization bearer token Singapay generates; the signature is the
            // request scheme over the callback path.
            let body = json!({"event": "disbursement", "data": data});
            let ts = state.now().timestamp().to_string();
            let secret = state.creds.singapay.client_secret.expose();
            let token = format!("sandbox-webhook-{}", state.next_id());
            let message = webhook_string_to_sign(url, &token, &body, &ts);
            let sig = if corrupt {
                singapay::hmac_hex(&format!("{secret}-wrong"), &message)
            } else {
                singapay::hmac_hex(secret, &message)
            };
            let wire = singapay::v2_status(&view).0.to_owned();
            (
                body.to_string(),
                vec![
                    ("X-Timestamp", ts),
                    ("X-Signature", sig),
                    ("Authorization", format!("Bearer {token}")),
                ],
                wire,
            )
        }
        // `target` has no URL for a provider the sandbox does not simulate.
        _ => return None,
    })
}

/// Singapay webhook string-to-sign (public SDK `aliziodev/singapay-js`,
/// `src/webhooks/verify.ts`): `POST:{callback path}:{token}:sha256hex(normalised
/// body):X-Timestamp`, the body normalised as the official PHP sample does.
pub fn webhook_string_to_sign(url: &str, token: &str, body: &Value, ts: &str) -> String {
    use crate::providers::singapay::webhook as w;
    let normalised = w::php_normalised(body).unwrap_or_default();
    w::string_to_sign(
        &w::endpoint_of(url),
        token,
        &snap::sha256_hex(normalised.as_bytes()),
        ts,
    )
}
