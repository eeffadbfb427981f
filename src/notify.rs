//! Application notifications: when a payout reaches a final state, kirim POSTs an
//! event to the configured URL.
//!
//! - **Never lost**: the event is written to an outbox (`{ns}:events`) by the same
//!   Lua script that moves the payout to its final state.
//! - **Stable id** (`evt_<provider>_<reference>_<state>`, also in `X-Kirim-Event-Id`),
//!   so receivers de-duplicate; a payout has at most one final event.
//! - **Signed**: `X-Kirim-Signature: <hex HMAC-SHA256(secret, body)>`.
//! - **Retried** with full-jitter backoff until a 2xx or `max_attempts`; then parked.
//!   `kirim events redeliver ID` sends it again (e.g. after the receiver is fixed).
//! - **Once across replicas**: due events are claimed with a lease (score bump),
//!   like the reconciliation sweep.

use std::time::Duration;

use hmac::{Hmac, Mac};
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::NotifySettings;
use crate::domain::Secret;
use crate::ledger::{now_ms, Ledger, LedgerError};
use crate::retry::Backoff;

const CLAIM: &str = r#"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[3]), id)
end
return ids
"#;

/// Delivery bookkeeping of one event (`kirim events list`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Gave up after `max_attempts`; only `redeliver` sends it again.
    #[serde(default)]
    pub parked: bool,
}

/// One event with its delivery state.
#[derive(Debug, Clone, Serialize)]
pub struct EventStatus {
    pub id: String,
    pub event: serde_json::Value,
    pub delivery: Delivery,
}

fn deliveries_key(ledger: &Ledger) -> String {
    ledger.keys().event_deliveries()
}

/// hex(HMAC-SHA256(secret, body)).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Delivers due events.
#[derive(Clone)]
pub struct Notifier {
    ledger: Ledger,
    http: reqwest::Client,
    url: String,
    secret: Secret,
    max_attempts: u32,
    backoff: Backoff,
    claim: Script,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("url", &self.url).finish()
    }
}

impl Notifier {
    /// `None` when notifications are off (no URL).
    pub fn from_settings(
        s: &NotifySettings,
        ledger: Ledger,
    ) -> Result<Option<Self>, crate::config::ConfigError> {
        if s.url.is_empty() {
            return Ok(None);
        }
        let secret = s.secret()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(s.timeout_ms))
            .build()
            .map_err(|e| crate::config::ConfigError::Invalid {
                key: "notify.url".into(),
                rule: e.to_string(),
            })?;
        Ok(Some(Notifier {
            ledger,
            http,
            url: s.url.clone(),
            secret,
            max_attempts: s.max_attempts.max(1),
            backoff: Backoff {
                base: Duration::from_millis(s.backoff_base_ms.max(1)),
                cap: Duration::from_millis(s.backoff_max_ms.max(s.backoff_base_ms.max(1))),
            },
            claim: Script::new(CLAIM),
        }))
    }

    /// Deliver every event that is due now. Returns how many were delivered.
    pub async fn deliver_due(&self) -> Result<usize, LedgerError> {
        let mut conn = self.ledger.connection();
        let ids: Vec<String> = self
            .claim
            .key(self.ledger.keys().events_due())
            .arg(now_ms())
            .arg(100)
            .arg(60_000)
            .invoke_async(&mut conn)
            .await?;
        let mut delivered = 0;
        let results = futures::future::join_all(ids.iter().map(|id| self.deliver_one(id))).await;
        for r in results {
            if r? {
                delivered += 1;
            }
        }
        Ok(delivered)
    }

    async fn deliver_one(&self, id: &str) -> Result<bool, LedgerError> {
        let mut conn = self.ledger.connection();
        let body: Option<String> = conn.hget(self.ledger.keys().events(), id).await?;
        let Some(body) = body else {
            let _: () = conn.zrem(self.ledger.keys().events_due(), id).await?;
            return Ok(false);
        };
        let raw: Option<String> = conn.hget(deliveries_key(&self.ledger), id).await?;
        let mut d: Delivery = raw
            .and_then(|r| serde_json::from_str(&r).ok())
            .unwrap_or_default();
        d.attempts += 1;
        let result = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-Kirim-Event-Id", id)
            .header(
                "X-Kirim-Signature",
                sign(self.secret.expose(), body.as_bytes()),
            )
            .body(body)
            .send()
            .await;
        let ok = match result {
            Ok(r) => {
                d.last_status = Some(r.status().as_u16());
                d.last_error = None;
                r.status().is_success()
            }
            Err(e) => {
                d.last_status = None;
                d.last_error = Some(if e.is_timeout() {
                    "timeout".into()
                } else {
                    "connection failed".into()
                });
                false
            }
        };
        let mut pipe = redis::pipe();
        if ok {
            d.delivered_at = Some(now_ms());
            pipe.zrem(self.ledger.keys().events_due(), id).ignore();
        } else if d.attempts >= self.max_attempts {
            d.parked = true;
            pipe.zrem(self.ledger.keys().events_due(), id).ignore();
            tracing::warn!(
                event = id,
                attempts = d.attempts,
                "notification parked after max attempts"
            );
        } else {
            let delay = self.backoff.delay(d.attempts - 1, None, &mut rand::rng());
            pipe.zadd(
                self.ledger.keys().events_due(),
                id,
                now_ms() + delay.as_millis() as i64,
            )
            .ignore();
        }
        pipe.hset(deliveries_key(&self.ledger), id, serde_json::to_string(&d)?)
            .ignore();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(ok)
    }
}

/// Schedule event `id` for delivery now, whatever happened before (audited in its
/// delivery record). Returns false if there is no such event.
pub async fn redeliver(ledger: &Ledger, id: &str) -> Result<bool, LedgerError> {
    let mut conn = ledger.connection();
    let exists: bool = conn.hexists(ledger.keys().events(), id).await?;
    if !exists {
        return Ok(false);
    }
    let raw: Option<String> = conn.hget(deliveries_key(ledger), id).await?;
    let mut d: Delivery = raw
        .and_then(|r| serde_json::from_str(&r).ok())
        .unwrap_or_default();
    d.parked = false;
    d.attempts = 0;
    let _: () = redis::pipe()
        .zadd(ledger.keys().events_due(), id, now_ms())
        .ignore()
        .hset(deliveries_key(ledger), id, serde_json::to_string(&d)?)
        .ignore()
        .query_async(&mut conn)
        .await?;
    Ok(true)
}

/// Every event with its delivery state.
pub async fn list(ledger: &Ledger) -> Result<Vec<EventStatus>, LedgerError> {
    let mut conn = ledger.connection();
    let events: std::collections::BTreeMap<String, String> =
        conn.hgetall(ledger.keys().events()).await?;
    let deliveries: std::collections::HashMap<String, String> =
        conn.hgetall(deliveries_key(ledger)).await?;
    Ok(events
        .into_iter()
        .map(|(id, body)| EventStatus {
            delivery: deliveries
                .get(&id)
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or_default(),
            event: serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
            id,
        })
        .collect())
}
