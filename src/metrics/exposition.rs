//! `/metrics`: one scrape reads a [`Snapshot`] of every metric from Redis (what
//! the workers flushed, plus gauges read now), then the `prometheus-client`
//! crate's OpenMetrics text encoder writes it out, with `Snapshot` as the
//! registry's only [`Collector`]. Nothing is kept in memory between scrapes, so
//! any `kirim serve` shows the whole deployment.
//!
//! The encoder names counters `<family>_total` (families are registered without
//! the suffix), escapes label values, and ends the text with `# EOF`.

use std::collections::BTreeMap;
use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use redis::AsyncCommands;

use super::BUCKETS;
use crate::circuit::PublishedState;
use crate::domain::{Provider, State};
use crate::jobs::{Lane, Queue};
use crate::ledger::{now_ms, Ledger};

/// The `Content-Type` of [`render`]'s text (OpenMetrics 1.0.0).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Render every metric for a scrape, in the OpenMetrics text format.
pub async fn render(
    ledger: &Ledger,
    queue: &Queue,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let snapshot = Snapshot::read(ledger, queue).await?;
    Ok(snapshot.encode()?)
}

/// Label pairs of one series, in the order they are written.
type Labels = Vec<(&'static str, String)>;

/// Every metric's values at one instant, as read from Redis.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Snapshot {
    /// `(kind, ready, scheduled)` per job kind.
    queue_depth: Vec<(&'static str, u64, u64)>,
    /// `(state, payouts)`.
    payouts: Vec<(&'static str, u64)>,
    payouts_unknown: u64,
    payouts_needs_review: u64,
    dead_letters: u64,
    reconcile_due: u64,
    reconcile_lag_seconds: f64,
    /// Final payouts waiting for their cold form, and how long the oldest has been final.
    compaction_backlog: u64,
    compaction_oldest_seconds: f64,
    /// The day of the latest `kirim recon report` (empty if it did not say).
    recon_date: String,
    /// `(provider, verdict) → transactions`.
    recon: BTreeMap<(String, String), u64>,
    /// `(provider, op, outcome) → calls`.
    provider_calls: BTreeMap<(String, String, String), u64>,
    /// `(provider, op) → latency`.
    latency: BTreeMap<(String, String), Latency>,
    /// `(provider, state gauge, times opened)`, one per provider.
    circuits: Vec<(String, u8, u64)>,
    /// `(provider, kind) → alerts`.
    alerts: BTreeMap<(String, String), u64>,
}

/// One latency series as stored in Redis: bucket counts are *cumulative*
/// (`cumulative[i]` counts calls of at most `BUCKETS[i]` seconds), as
/// [`super::Recorder::record`] counts them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Latency {
    cumulative: [u64; BUCKETS.len()],
    count: u64,
    sum_us: u64,
}

impl Latency {
    /// The histogram as the encoder takes it: its count and the *per-bucket*
    /// counts, ending with the `+Inf` bucket (the encoder sums them back up into
    /// cumulative `_bucket` lines).
    ///
    /// A flush is several HINCRBYs, so a scrape can land between two of them and
    /// see a lower bucket (or a bucket and the count) ahead of a higher one; each
    /// bound then shows the highest count at or below it, and the count at least
    /// the last bucket, so the buckets stay monotonic and `+Inf` equals `_count`.
    fn encoded(&self) -> (u64, Vec<(f64, u64)>) {
        let mut buckets = Vec::with_capacity(BUCKETS.len() + 1);
        let mut below = 0u64;
        for (le, cumulative) in BUCKETS.iter().zip(self.cumulative) {
            let at_most = cumulative.max(below);
            buckets.push((*le, at_most - below));
            below = at_most;
        }
        let count = self.count.max(below);
        buckets.push((f64::INFINITY, count - below));
        (count, buckets)
    }
}

/// A histogram whose buckets are already counted (per bucket, not cumulative).
#[derive(Debug)]
struct ConstHistogram {
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for ConstHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

impl Snapshot {
    /// Read every metric from Redis.
    pub(crate) async fn read(
        ledger: &Ledger,
        queue: &Queue,
    ) -> Result<Snapshot, Box<dyn std::error::Error + Send + Sync>> {
        let keys = ledger.keys();
        let mut conn = ledger.connection();
        let mut s = Snapshot::default();

        for lane in Lane::ALL {
            let d = queue.depth(lane).await?;
            s.queue_depth.push((lane.as_str(), d.active, d.scheduled));
        }

        let counts = ledger.count_by_state().await?;
        s.payouts = counts.iter().map(|(st, n)| (st.as_str(), *n)).collect();
        let get = |st: State| counts.get(&st).copied().unwrap_or(0);
        s.payouts_unknown = get(State::Unknown);
        s.payouts_needs_review = get(State::NeedsReview);

        s.dead_letters = conn.hlen(keys.dead()).await?;

        let now = now_ms();
        s.reconcile_due = ledger.due_count(now).await?;
        s.reconcile_lag_seconds = match ledger.oldest_due().await? {
            Some(t) if t < now => (now - t) as f64 / 1000.0,
            _ => 0.0,
        };
        let (backlog, oldest) = ledger.compaction_backlog().await?;
        s.compaction_backlog = backlog;
        s.compaction_oldest_seconds = match oldest {
            Some(t) if t < now => (now - t) as f64 / 1000.0,
            _ => 0.0,
        };

        // Best effort, as before: a malformed recon hash hides only its family.
        if let Ok((date, recon)) = recon_counts(ledger).await {
            s.recon_date = date.unwrap_or_default();
            s.recon = recon;
        }

        let jobs: BTreeMap<String, u64> = conn.hgetall(keys.metrics_jobs()).await?;
        for (field, n) in jobs {
            let mut parts = field.splitn(3, '|');
            if let (Some(p), Some(op), Some(o)) = (parts.next(), parts.next(), parts.next()) {
                s.provider_calls
                    .insert((p.to_owned(), op.to_owned(), o.to_owned()), n);
            }
        }

        let bounds: Vec<String> = BUCKETS.iter().map(f64::to_string).collect();
        let lat: BTreeMap<String, u64> = conn.hgetall(keys.metrics_latency()).await?;
        for (field, n) in lat {
            let mut parts = field.splitn(3, '|');
            if let (Some(p), Some(op), Some(k)) = (parts.next(), parts.next(), parts.next()) {
                let series = s.latency.entry((p.to_owned(), op.to_owned())).or_default();
                match k {
                    "count" => series.count = n,
                    "sum_us" => series.sum_us = n,
                    le => {
                        if let Some(i) = bounds.iter().position(|b| b == le) {
                            series.cumulative[i] = n;
                        }
                    }
                }
            }
        }

        s.circuits = circuit_rows(&crate::circuit::read_all(&mut conn, keys).await?);

        let alerts: BTreeMap<String, u64> = conn.hgetall(keys.metrics_alerts()).await?;
        for (field, n) in alerts {
            if let Some((p, kind)) = field.split_once('|') {
                s.alerts.insert((p.to_owned(), kind.to_owned()), n);
            }
        }
        Ok(s)
    }

    /// The OpenMetrics text of this snapshot, `# EOF` included.
    pub(crate) fn encode(self) -> Result<String, fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

/// The circuit-breaker rows. Every provider gets one: a provider never
/// published is closed with no openings, so a dashboard never shows a gap for a
/// healthy provider.
fn circuit_rows(published: &BTreeMap<Provider, PublishedState>) -> Vec<(String, u8, u64)> {
    crate::providers::builtin_ids()
        .iter()
        .map(|p| {
            let s = published
                .get(p)
                .cloned()
                .unwrap_or_else(|| PublishedState::never_published(*p));
            (s.provider.to_string(), s.state.gauge(), s.opened_total)
        })
        .collect()
}

/// Write one family: its `# HELP`/`# TYPE` (even with no series, so dashboards
/// and alerts see the family before the first event), then each labelled series.
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric_type: MetricType,
    series: impl IntoIterator<Item = (Labels, M)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, unit, metric_type)?;
    for (labels, metric) in series {
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Write a family of one unlabelled series.
fn single<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric: M,
) -> fmt::Result {
    let family = encoder.encode_descriptor(name, help, unit, metric.metric_type())?;
    metric.encode(family)
}

fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let gauge = MetricType::Gauge;
        let counter = MetricType::Counter;
        family(
            &mut e,
            "kirim_queue_depth",
            "Jobs waiting in the queue, by job kind and part.",
            None,
            gauge,
            self.queue_depth
                .iter()
                .flat_map(|(kind, ready, scheduled)| {
                    [
                        (labels([("kind", kind), ("part", "ready")]), *ready),
                        (labels([("kind", kind), ("part", "scheduled")]), *scheduled),
                    ]
                })
                .map(|(l, n)| (l, ConstGauge::new(n))),
        )?;
        family(
            &mut e,
            "kirim_payouts",
            "Payouts in the ledger, by state.",
            None,
            gauge,
            self.payouts
                .iter()
                .map(|(state, n)| (labels([("state", state)]), ConstGauge::new(*n))),
        )?;
        single(
            &mut e,
            "kirim_payouts_unknown",
            "Payouts whose outcome is unknown (being inquired).",
            None,
            ConstGauge::new(self.payouts_unknown),
        )?;
        single(
            &mut e,
            "kirim_payouts_needs_review",
            "Payouts waiting for an operator.",
            None,
            ConstGauge::new(self.payouts_needs_review),
        )?;
        single(
            &mut e,
            "kirim_dead_letters",
            "Dead letters waiting for kirim dead retry.",
            None,
            ConstGauge::new(self.dead_letters),
        )?;
        single(
            &mut e,
            "kirim_reconcile_due",
            "Payouts whose next check is overdue.",
            None,
            ConstGauge::new(self.reconcile_due),
        )?;
        single(
            &mut e,
            "kirim_reconcile_lag",
            "How far behind its due time the oldest check is.",
            Some(&Unit::Seconds),
            ConstGauge::new(self.reconcile_lag_seconds),
        )?;
        single(
            &mut e,
            "kirim_compaction_backlog",
            "Final payouts waiting for their cold form (compacted once final for worker.compact_final_after_secs).",
            None,
            ConstGauge::new(self.compaction_backlog),
        )?;
        single(
            &mut e,
            "kirim_compaction_oldest",
            "How long the longest-waiting of them has been final.",
            Some(&Unit::Seconds),
            ConstGauge::new(self.compaction_oldest_seconds),
        )?;
        if !self.recon.is_empty() {
            family(
                &mut e,
                "kirim_recon_transactions",
                "Provider transactions of the latest `kirim recon report`, by verdict (orphan: unknown to the ledger; mismatch: another final state or amount).",
                None,
                gauge,
                self.recon.iter().map(|((p, v), n)| {
                    (
                        labels([("provider", p), ("verdict", v), ("date", &self.recon_date)]),
                        ConstGauge::new(*n),
                    )
                }),
            )?;
        }
        family(
            &mut e,
            "kirim_provider_calls",
            "Provider calls by provider, operation and outcome.",
            None,
            counter,
            self.provider_calls.iter().map(|((p, op, o), n)| {
                (
                    labels([("provider", p), ("op", op), ("outcome", o)]),
                    ConstCounter::new(*n),
                )
            }),
        )?;
        family(
            &mut e,
            "kirim_provider_latency",
            "Provider call latency.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
            self.latency.iter().map(|((p, op), l)| {
                let (count, buckets) = l.encoded();
                (
                    labels([("provider", p), ("op", op)]),
                    ConstHistogram {
                        sum: l.sum_us as f64 / 1e6,
                        count,
                        buckets,
                    },
                )
            }),
        )?;
        family(
            &mut e,
            "kirim_provider_circuit_state",
            "Circuit breaker per provider: 0 closed, 1 half-open, 2 open.",
            None,
            gauge,
            self.circuits.iter().map(|(p, state, _)| {
                (
                    labels([("provider", p)]),
                    ConstGauge::new(u64::from(*state)),
                )
            }),
        )?;
        family(
            &mut e,
            "kirim_provider_circuit_opened",
            "Times a provider's circuit breaker opened, across all workers.",
            None,
            counter,
            self.circuits
                .iter()
                .map(|(p, _, opened)| (labels([("provider", p)]), ConstCounter::new(*opened))),
        )?;
        family(
            &mut e,
            "kirim_alerts",
            "Conditions an operator should look at, by provider and kind.",
            None,
            counter,
            self.alerts.iter().map(|((p, kind), n)| {
                (
                    labels([("provider", p), ("kind", kind)]),
                    ConstCounter::new(*n),
                )
            }),
        )
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

#[cfg(test)]
mod tests;
