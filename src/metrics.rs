//! Metrics in the Prometheus text format.
//!
//! Workers count provider calls and their latency in memory ([`Recorder`]) and
//! flush the counts to Redis once a second (one pipelined round trip, not one per
//! payout). Any `kirim serve` renders `/metrics` from Redis, so one scrape shows the
//! whole deployment: counters from every worker plus gauges read at scrape time
//! (queue depth per job kind, payouts by state, UNKNOWN and NEEDS_REVIEW, dead
//! letters, reconciliation lag, each provider's circuit breaker as published by
//! [`crate::circuit`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use redis::AsyncCommands;

use crate::domain::{Provider, State};
use crate::jobs::{Lane, Queue};
use crate::ledger::{now_ms, Ledger};

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
    /// `submission_refused`, `callback_refused`, `fenced`), never request data, so
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

/// Render every metric for a scrape.
pub async fn render(
    ledger: &Ledger,
    queue: &Queue,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let mut out = String::new();
    let keys = ledger.keys();
    let mut conn = ledger.connection();

    out.push_str("# HELP kirim_queue_depth Jobs waiting in the queue, by job kind and part.\n");
    out.push_str("# TYPE kirim_queue_depth gauge\n");
    for lane in Lane::ALL {
        let d = queue.depth(lane).await?;
        let k = lane.as_str();
        let _ = writeln!(
            out,
            "kirim_queue_depth{{kind=\"{k}\",part=\"ready\"}} {}",
            d.active
        );
        let _ = writeln!(
            out,
            "kirim_queue_depth{{kind=\"{k}\",part=\"scheduled\"}} {}",
            d.scheduled
        );
    }

    let counts = ledger.count_by_state().await?;
    out.push_str(
        "# HELP kirim_payouts Payouts in the ledger, by state.\n# TYPE kirim_payouts gauge\n",
    );
    for (state, n) in &counts {
        let _ = writeln!(out, "kirim_payouts{{state=\"{}\"}} {n}", state.as_str());
    }
    let get = |s: State| counts.get(&s).copied().unwrap_or(0);
    out.push_str("# HELP kirim_payouts_unknown Payouts whose outcome is unknown (being inquired).\n# TYPE kirim_payouts_unknown gauge\n");
    let _ = writeln!(out, "kirim_payouts_unknown {}", get(State::Unknown));
    out.push_str("# HELP kirim_payouts_needs_review Payouts waiting for an operator.\n# TYPE kirim_payouts_needs_review gauge\n");
    let _ = writeln!(
        out,
        "kirim_payouts_needs_review {}",
        get(State::NeedsReview)
    );

    let dead: u64 = conn.hlen(keys.dead()).await?;
    out.push_str("# HELP kirim_dead_letters Dead letters waiting for kirim dead retry.\n# TYPE kirim_dead_letters gauge\n");
    let _ = writeln!(out, "kirim_dead_letters {dead}");

    let now = now_ms();
    let due = ledger.due_count(now).await?;
    let lag = match ledger.oldest_due().await? {
        Some(t) if t < now => (now - t) as f64 / 1000.0,
        _ => 0.0,
    };
    out.push_str("# HELP kirim_reconcile_due Payouts whose next check is overdue.\n# TYPE kirim_reconcile_due gauge\n");
    let _ = writeln!(out, "kirim_reconcile_due {due}");
    out.push_str("# HELP kirim_reconcile_lag_seconds How far behind its due time the oldest check is.\n# TYPE kirim_reconcile_lag_seconds gauge\n");
    let _ = writeln!(out, "kirim_reconcile_lag_seconds {lag:.3}");

    if let Ok((date, recon)) = recon_counts(ledger).await {
        if !recon.is_empty() {
            out.push_str("# HELP kirim_recon_transactions Provider transactions of the latest `kirim recon report`, by verdict (orphan: unknown to the ledger; mismatch: another final state or amount).\n# TYPE kirim_recon_transactions gauge\n");
            let date = date.unwrap_or_default();
            for ((p, v), n) in &recon {
                let _ = writeln!(
                    out,
                    "kirim_recon_transactions{{provider=\"{p}\",verdict=\"{v}\",date=\"{date}\"}} {n}"
                );
            }
        }
    }

    let jobs: BTreeMap<String, u64> = conn.hgetall(keys.metrics_jobs()).await?;
    out.push_str("# HELP kirim_provider_calls_total Provider calls by provider, operation and outcome.\n# TYPE kirim_provider_calls_total counter\n");
    for (field, n) in &jobs {
        let mut parts = field.splitn(3, '|');
        if let (Some(p), Some(op), Some(o)) = (parts.next(), parts.next(), parts.next()) {
            let _ = writeln!(
                out,
                "kirim_provider_calls_total{{provider=\"{p}\",op=\"{op}\",outcome=\"{o}\"}} {n}"
            );
        }
    }
    let lat: BTreeMap<String, u64> = conn.hgetall(keys.metrics_latency()).await?;
    out.push_str("# HELP kirim_provider_latency_seconds Provider call latency.\n# TYPE kirim_provider_latency_seconds histogram\n");
    let mut series: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
    for (field, n) in lat {
        let mut parts = field.splitn(3, '|');
        if let (Some(p), Some(op), Some(k)) = (parts.next(), parts.next(), parts.next()) {
            series
                .entry((p.to_owned(), op.to_owned()))
                .or_default()
                .insert(k.to_owned(), n);
        }
    }
    for ((p, op), m) in series {
        for le in BUCKETS {
            let n = m.get(&le.to_string()).copied().unwrap_or(0);
            let _ = writeln!(out, "kirim_provider_latency_seconds_bucket{{provider=\"{p}\",op=\"{op}\",le=\"{le}\"}} {n}");
        }
        let count = m.get("count").copied().unwrap_or(0);
        let _ = writeln!(out, "kirim_provider_latency_seconds_bucket{{provider=\"{p}\",op=\"{op}\",le=\"+Inf\"}} {count}");
        let sum = m.get("sum_us").copied().unwrap_or(0) as f64 / 1e6;
        let _ = writeln!(
            out,
            "kirim_provider_latency_seconds_sum{{provider=\"{p}\",op=\"{op}\"}} {sum:.6}"
        );
        let _ = writeln!(
            out,
            "kirim_provider_latency_seconds_count{{provider=\"{p}\",op=\"{op}\"}} {count}"
        );
    }

    render_circuits(&mut out, &crate::circuit::read_all(&mut conn, keys).await?);

    let alerts: BTreeMap<String, u64> = conn.hgetall(keys.metrics_alerts()).await?;
    out.push_str("# HELP kirim_alerts_total Conditions an operator should look at, by provider and kind.\n# TYPE kirim_alerts_total counter\n");
    for (field, n) in &alerts {
        if let Some((p, kind)) = field.split_once('|') {
            let _ = writeln!(
                out,
                "kirim_alerts_total{{provider=\"{p}\",kind=\"{kind}\"}} {n}"
            );
        }
    }
    Ok(out)
}

/// The circuit-breaker series. Every provider gets a line: one never published is
/// closed with no openings, so a dashboard never shows a gap for a healthy provider.
pub fn render_circuits(
    out: &mut String,
    published: &BTreeMap<Provider, crate::circuit::PublishedState>,
) {
    use crate::circuit::PublishedState;
    let states: Vec<PublishedState> = crate::providers::builtin_ids()
        .iter()
        .map(|p| {
            published
                .get(p)
                .cloned()
                .unwrap_or_else(|| PublishedState::never_published(*p))
        })
        .collect();
    out.push_str("# HELP kirim_provider_circuit_state Circuit breaker per provider: 0 closed, 1 half-open, 2 open.\n# TYPE kirim_provider_circuit_state gauge\n");
    for s in &states {
        let _ = writeln!(
            out,
            "kirim_provider_circuit_state{{provider=\"{}\"}} {}",
            s.provider,
            s.state.gauge()
        );
    }
    out.push_str("# HELP kirim_provider_circuit_opened_total Times a provider's circuit breaker opened, across all workers.\n# TYPE kirim_provider_circuit_opened_total counter\n");
    for s in &states {
        let _ = writeln!(
            out,
            "kirim_provider_circuit_opened_total{{provider=\"{}\"}} {}",
            s.provider, s.opened_total
        );
    }
}

/// The counts `kirim recon report` last recorded: `(provider, verdict) → n`, and
/// the day they are for (a hash `provider|verdict`, written by `recon::report`).
async fn recon_counts(
    ledger: &Ledger,
) -> Result<(Option<String>, BTreeMap<(String, String), u64>), redis::RedisError> {
    let mut conn = ledger.connection();
    let all: BTreeMap<String, String> = conn.hgetall(ledger.keys().recon_counts()).await?;
    let mut out = BTreeMap::new();
    let mut date = None;
    for (k, v) in all {
        if k == "date" {
            date = Some(v);
            continue;
        }
        if let (Some((p, verdict)), Ok(n)) = (k.split_once('|'), v.parse()) {
            out.insert((p.to_owned(), verdict.to_owned()), n);
        }
    }
    Ok((date, out))
}
