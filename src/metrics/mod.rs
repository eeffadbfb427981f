//! Metrics, exposed in the OpenMetrics text format ([`exposition`]).
//!
//! Workers count provider calls and their latency in memory ([`Recorder`]) and
//! flush the counts to Redis once a second (one pipelined round trip, not one per
//! payout). Any `kirim serve` renders `/metrics` from Redis, so one scrape shows the
//! whole deployment: counters from every worker plus gauges read at scrape time
//! (queue depth per job kind, payouts by state, UNKNOWN and NEEDS_REVIEW, dead
//! letters, reconciliation lag, each provider's circuit breaker as published by
//! [`crate::circuit`]).
//!
//! The exposition itself is the `prometheus-client` crate's text encoder: a scrape
//! reads a snapshot of every metric from Redis and encodes it as the registry's
//! collector (see [`exposition`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use redis::AsyncCommands;

use crate::domain::Provider;
use crate::ledger::Ledger;

pub mod exposition;

pub use exposition::{render, CONTENT_TYPE};

/// Latency histogram bucket bounds, seconds.
pub const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Hist {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_us: u64,
}

/// In-process counters, flushed to Redis by [`Recorder::flush`].
#[derive(Default)]
pub struct Recorder {
    outcomes: Mutex<HashMap<(Provider, &'static str, &'static str), u64>>,
    latency: Mutex<HashMap<(Provider, &'static str), Hist>>,
    alerts: Mutex<HashMap<(Provider, &'static str), u64>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

/// Count one alert straight into Redis, for processes without a flushing
/// [`Recorder`] (`kirim serve`'s callback receivers). One HINCRBY; best effort.
pub async fn count_alert_now(ledger: &Ledger, provider: Provider, kind: &str) {
    let mut conn = ledger.connection();
    let r: Result<i64, _> = conn
        .hincr(
            ledger.keys().metrics_alerts(),
            format!("{provider}|{kind}"),
            1,
        )
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "could not count an alert");
    }
}

impl crate::jobs::Observer for Recorder {
    fn exchange(
        &self,
        provider: Provider,
        op: &'static str,
        outcome: &'static str,
        latency: Duration,
    ) {
        self.record(provider, op, outcome, latency);
    }
    fn alert(&self, provider: Provider, kind: &'static str) {
        Recorder::alert(self, provider, kind);
    }
}

impl Recorder {
    /// Count one provider call: `op` is `transfer`, `inquiry` or `payment`.
    pub fn record(
        &self,
        provider: Provider,
        op: &'static str,
        outcome: &'static str,
        latency: Duration,
    ) {
        if let Ok(mut m) = self.outcomes.lock() {
            *m.entry((provider, op, outcome)).or_default() += 1;
        }
        if let Ok(mut m) = self.latency.lock() {
            let h = m.entry((provider, op)).or_default();
            let secs = latency.as_secs_f64();
            for (i, le) in BUCKETS.iter().enumerate() {
                if secs <= *le {
                    h.buckets[i] += 1;
                }
            }
            h.count += 1;
            h.sum_us += latency.as_micros() as u64;
        }
    }

    /// Count one alert: something an operator should look at that is not a
    /// provider call outcome. `kind` is a fixed label (`inquiry_refused`,
    /// `submission_refused`, `callback_refused`, `fenced`,
    /// `history_list_refused`), never request data, so
    /// the series stay few. Rendered as `kirim_alerts_total{provider,kind}`.
    pub fn alert(&self, provider: Provider, kind: &'static str) {
        if let Ok(mut m) = self.alerts.lock() {
            *m.entry((provider, kind)).or_default() += 1;
        }
    }

    /// Move the in-memory counts to Redis (HINCRBY), emptying them.
    pub async fn flush(&self, ledger: &Ledger) -> Result<(), redis::RedisError> {
        let outcomes = self
            .outcomes
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default();
        let latency = self
            .latency
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default();
        let alerts = self
            .alerts
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default();
        if outcomes.is_empty() && latency.is_empty() && alerts.is_empty() {
            return Ok(());
        }
        let keys = ledger.keys();
        let mut pipe = redis::pipe();
        for ((p, op, outcome), n) in outcomes {
            pipe.hincr(keys.metrics_jobs(), format!("{p}|{op}|{outcome}"), n)
                .ignore();
        }
        for ((p, op), h) in latency {
            for (i, le) in BUCKETS.iter().enumerate() {
                if h.buckets[i] > 0 {
                    pipe.hincr(
                        keys.metrics_latency(),
                        format!("{p}|{op}|{le}"),
                        h.buckets[i],
                    )
                    .ignore();
                }
            }
            pipe.hincr(keys.metrics_latency(), format!("{p}|{op}|count"), h.count)
                .ignore();
            pipe.hincr(keys.metrics_latency(), format!("{p}|{op}|sum_us"), h.sum_us)
                .ignore();
        }
        for ((p, kind), n) in alerts {
            pipe.hincr(keys.metrics_alerts(), format!("{p}|{kind}"), n)
                .ignore();
        }
        let mut conn = ledger.connection();
        pipe.query_async::<()>(&mut conn).await
    }
}

/// One provider's call totals across the deployment (what the console's health
/// table shows): calls, calls that did not get an answer about the transaction
/// (`retryable`, `unknown`, `refused`), and the latency sum and count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProviderCalls {
    pub calls: u64,
    pub errors: u64,
    pub latency_sum_us: u64,
    pub latency_count: u64,
}

impl ProviderCalls {
    /// `self - earlier`, for a rate over a window.
    pub fn minus(&self, earlier: &ProviderCalls) -> ProviderCalls {
        ProviderCalls {
            calls: self.calls.saturating_sub(earlier.calls),
            errors: self.errors.saturating_sub(earlier.errors),
            latency_sum_us: self.latency_sum_us.saturating_sub(earlier.latency_sum_us),
            latency_count: self.latency_count.saturating_sub(earlier.latency_count),
        }
    }
}

/// Per-provider call totals from the counters workers flush to Redis.
pub async fn provider_calls(
    ledger: &Ledger,
) -> Result<BTreeMap<Provider, ProviderCalls>, redis::RedisError> {
    let keys = ledger.keys();
    let mut conn = ledger.connection();
    let jobs: BTreeMap<String, u64> = conn.hgetall(keys.metrics_jobs()).await?;
    let lat: BTreeMap<String, u64> = conn.hgetall(keys.metrics_latency()).await?;
    let mut out: BTreeMap<Provider, ProviderCalls> = BTreeMap::new();
    for (field, n) in &jobs {
        let mut parts = field.splitn(3, '|');
        if let (Some(Ok(p)), Some(_op), Some(o)) = (
            parts.next().map(str::parse::<Provider>),
            parts.next(),
            parts.next(),
        ) {
            let e = out.entry(p).or_default();
            e.calls += n;
            if matches!(o, "retryable" | "unknown" | "refused") {
                e.errors += n;
            }
        }
    }
    for (field, n) in &lat {
        let mut parts = field.splitn(3, '|');
        if let (Some(Ok(p)), Some(_op), Some(k)) = (
            parts.next().map(str::parse::<Provider>),
            parts.next(),
            parts.next(),
        ) {
            let e = out.entry(p).or_default();
            match k {
                "count" => e.latency_count += n,
                "sum_us" => e.latency_sum_us += n,
                _ => {}
            }
        }
    }
    Ok(out)
}
