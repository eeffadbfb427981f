//! What the console reads, built on the ledger's, queue's, circuit's and
//! metrics' public reads. No writes here except the console's own samples.
//!
//! The ledger has no secondary indexes (by provider, date or account), by design:
//! every write path stays one small Lua script. So the filtered payout list scans
//! the per-state sets with SSCAN (cheap: members are `provider:reference`, so the
//! provider filter needs no record read) and reads at most [`SCAN_CAP`] records per
//! query; an exact reference is looked up directly. The page says when the cap was
//! hit. Per-provider counts on the overview scan set members only, capped likewise.
//!
//! Throughput and success rate come from **samples** of the cumulative final-state
//! counts (final states never change, so their counts only grow) and of the
//! provider call counters, written by the console itself at most every
//! [`SAMPLE_EVERY_MS`] while someone has the overview open (it polls), kept two
//! hours. A period nobody watched has no samples and shows as a gap.

use std::collections::BTreeMap;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use crate::circuit::PublishedState;
use crate::client::Client;
use crate::domain::{Provider, State};
use crate::jobs::{Lane, QueueDepth};
use crate::ledger::{HistoryEntry, LedgerError, Payout, PayoutId};
use crate::metrics::ProviderCalls;

/// Most records one payout-list query reads.
pub const SCAN_CAP: usize = 5_000;
/// Most set members counted per state for the per-provider breakdown.
pub const COUNT_CAP: usize = 200_000;
/// Minimum spacing of overview samples.
pub const SAMPLE_EVERY_MS: i64 = 10_000;
/// How long samples are kept.
const SAMPLE_KEEP_MS: i64 = 2 * 3600 * 1000;

/// A console read that failed (Redis, a corrupt record, the queue).
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("queue: {0}")]
    Queue(#[from] crate::jobs::QueueError),
}

fn samples_key(client: &Client) -> String {
    client.ledger().keys().console_samples()
}

/// One sample: cumulative counts at `t`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub t: i64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Per provider: calls, calls that were errors, latency sum (µs), latency count.
    #[serde(default)]
    pub calls: BTreeMap<Provider, ProviderCalls>,
}

/// Everything the overview shows.
#[derive(Debug, Clone)]
pub struct Overview {
    pub by_state: BTreeMap<State, u64>,
    /// Per state and provider; `None` when a set was larger than [`COUNT_CAP`].
    pub by_state_provider: BTreeMap<State, Option<BTreeMap<Provider, u64>>>,
    pub dead_letters: u64,
    pub due: u64,
    pub lag_secs: f64,
    pub queues: Vec<(Lane, QueueDepth)>,
    pub circuits: BTreeMap<Provider, PublishedState>,
    pub calls: BTreeMap<Provider, ProviderCalls>,
    /// Samples of the last hour, oldest first.
    pub samples: Vec<Sample>,
    pub now: i64,
}

/// One minute of the throughput chart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Minute {
    pub succeeded: u64,
    pub not_succeeded: u64,
    /// Samples covered this minute (otherwise it is a gap).
    pub seen: bool,
}

/// Per-minute finals over the last 60 minutes, from consecutive samples. A minute
/// is attributed the growth between the last sample before it ends and the last
/// sample before the previous minute ends.
pub fn minutes(samples: &[Sample], now: i64) -> Vec<Minute> {
    let mut out = vec![Minute::default(); 60];
    for w in samples.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let age = now - b.t;
        if !(0..60 * 60_000).contains(&age) {
            continue;
        }
        let slot = 59 - (age / 60_000) as usize;
        let m = &mut out[slot];
        m.seen = true;
        m.succeeded += b.succeeded.saturating_sub(a.succeeded);
        m.not_succeeded += (b.failed + b.cancelled).saturating_sub(a.failed + a.cancelled);
    }
    out
}

/// The provider's calls in the sampled window (last minus first sample), or the
/// cumulative counters when there is no window yet.
pub fn windowed_calls(o: &Overview, p: Provider) -> (ProviderCalls, bool) {
    let now = o.calls.get(&p).cloned().unwrap_or_default();
    match o.samples.first() {
        Some(first) if o.samples.len() > 1 => {
            let then = first.calls.get(&p).cloned().unwrap_or_default();
            (now.minus(&then), true)
        }
        _ => (now, false),
    }
}

async fn provider_breakdown(
    client: &Client,
    state: State,
) -> Result<Option<BTreeMap<Provider, u64>>, QueryError> {
    let mut counts: BTreeMap<Provider, u64> = BTreeMap::new();
    let mut cursor = 0;
    let mut seen = 0usize;
    loop {
        let (next, ids) = client.ledger().list(state, cursor, 1000).await?;
        seen += ids.len();
        for id in ids {
            *counts.entry(id.provider).or_default() += 1;
        }
        if seen > COUNT_CAP {
            return Ok(None);
        }
        cursor = next;
        if cursor == 0 {
            return Ok(Some(counts));
        }
    }
}

/// Per-provider counts of the final states, which can be large, re-counted at most
/// every [`FINAL_COUNTS_TTL_MS`] however many overviews are open. (The totals per
/// state are always exact: SCARD.)
#[derive(Debug, Default)]
pub struct FinalCountsCache(std::sync::Mutex<Option<(i64, Breakdown)>>);

type Breakdown = BTreeMap<State, Option<BTreeMap<Provider, u64>>>;

/// How long per-provider counts of final states are reused.
pub const FINAL_COUNTS_TTL_MS: i64 = 30_000;

impl FinalCountsCache {
    fn get(&self, now: i64) -> Option<Breakdown> {
        let g = self.0.lock().ok()?;
        g.as_ref()
            .filter(|(at, _)| now - at < FINAL_COUNTS_TTL_MS)
            .map(|(_, b)| b.clone())
    }

    fn put(&self, now: i64, b: &Breakdown) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some((now, b.clone()));
        }
    }
}

/// Read everything the overview shows, and record a sample if one is due.
pub async fn overview(client: &Client, cache: &FinalCountsCache) -> Result<Overview, QueryError> {
    let ledger = client.ledger();
    let now = crate::ledger::now_ms();
    let by_state = ledger.count_by_state().await?;
    let mut by_state_provider = BTreeMap::new();
    for s in State::ALL.into_iter().filter(|s| !s.is_final()) {
        by_state_provider.insert(s, provider_breakdown(client, s).await?);
    }
    let finals = match cache.get(now) {
        Some(b) => b,
        None => {
            let mut b = Breakdown::new();
            for s in State::ALL.into_iter().filter(|s| s.is_final()) {
                b.insert(s, provider_breakdown(client, s).await?);
            }
            cache.put(now, &b);
            b
        }
    };
    by_state_provider.extend(finals);
    let mut conn = ledger.connection();
    let dead_letters: u64 = conn.hlen(ledger.keys().dead()).await?;
    let due = ledger.due_count(now).await?;
    let lag_secs = match ledger.oldest_due().await? {
        Some(t) if t < now => (now - t) as f64 / 1000.0,
        _ => 0.0,
    };
    let mut queues = Vec::new();
    for lane in Lane::ALL {
        queues.push((lane, client.queue().depth(lane).await?));
    }
    let circuits = crate::circuit::read_all(&mut conn, ledger.keys()).await?;
    let calls = crate::metrics::provider_calls(ledger).await?;
    let get = |s: State| by_state.get(&s).copied().unwrap_or(0);
    let current = Sample {
        t: now,
        succeeded: get(State::Succeeded),
        failed: get(State::Failed),
        cancelled: get(State::Cancelled),
        calls: calls.clone(),
    };
    let samples = record_and_read_samples(client, current, now).await?;
    Ok(Overview {
        by_state,
        by_state_provider,
        dead_letters,
        due,
        lag_secs,
        queues,
        circuits,
        calls,
        samples,
        now,
    })
}

async fn record_and_read_samples(
    client: &Client,
    current: Sample,
    now: i64,
) -> Result<Vec<Sample>, QueryError> {
    let key = samples_key(client);
    let mut conn = client.ledger().connection();
    let last: Vec<(String, f64)> = conn.zrevrange_withscores(&key, 0, 0).await?;
    let due = last
        .first()
        .map_or(true, |(_, t)| now - (*t as i64) >= SAMPLE_EVERY_MS);
    if due {
        let member = serde_json::to_string(&current).map_err(LedgerError::from)?;
        let _: () = redis::pipe()
            .zadd(&key, member, now)
            .ignore()
            .zrembyscore(&key, "-inf", now - SAMPLE_KEEP_MS)
            .ignore()
            .query_async(&mut conn)
            .await?;
    }
    let raw: Vec<String> = conn
        .zrangebyscore(&key, now - 60 * 60_000 - SAMPLE_EVERY_MS, "+inf")
        .await?;
    let mut v: Vec<Sample> = raw
        .iter()
        .filter_map(|r| serde_json::from_str(r).ok())
        .collect();
    if !due {
        // Show the present even between samples.
        v.push(current);
    }
    v.sort_by_key(|s| s.t);
    Ok(v)
}

/// The payout-list filter, as parsed from the query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub state: Option<State>,
    pub provider: Option<Provider>,
    /// Created at or after (ms).
    pub from_ms: Option<i64>,
    /// Created before (ms).
    pub to_ms: Option<i64>,
    /// Reference or account number (substring).
    pub search: Option<String>,
}

impl Filter {
    fn matches(&self, p: &Payout) -> bool {
        if self.from_ms.is_some_and(|f| p.meta.created_at < f) {
            return false;
        }
        if self.to_ms.is_some_and(|t| p.meta.created_at >= t) {
            return false;
        }
        if let Some(q) = &self.search {
            let q = q.to_ascii_lowercase();
            let in_ref = p.id.reference.as_str().to_ascii_lowercase().contains(&q);
            let in_account = p
                .details
                .beneficiary
                .as_ref()
                .is_some_and(|b| !q.is_empty() && b.account_no.as_str().contains(&q));
            if !in_ref && !in_account {
                return false;
            }
        }
        true
    }
}

/// One page of payouts, newest first.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Payout>,
    pub total: usize,
    /// The scan stopped at [`SCAN_CAP`] records: there may be more matches.
    pub capped: bool,
}

/// Payouts matching `f`, page `page` (from 0) of `per_page`, newest first.
pub async fn list(
    client: &Client,
    f: &Filter,
    page: usize,
    per_page: usize,
) -> Result<Page, QueryError> {
    let ledger = client.ledger();
    let mut found: Vec<Payout> = Vec::new();
    let mut read = 0usize;
    let mut capped = false;
    // An exact reference is found without scanning.
    if let Some(q) = &f.search {
        if let Ok(r) = crate::domain::PartnerReference::parse(q) {
            for p in f
                .provider
                .map_or(crate::providers::builtin_ids(), |p| vec![p])
            {
                if let Some(x) = ledger.get(&PayoutId::new(p, r.clone())).await? {
                    if f.state.map_or(true, |s| s == x.state) && f.matches(&x) {
                        found.push(x);
                    }
                }
            }
        }
    }
    let exact: Vec<PayoutId> = found.iter().map(|p| p.id.clone()).collect();
    let states = f.state.map_or(State::ALL.to_vec(), |s| vec![s]);
    'scan: for s in states {
        let mut cursor = 0;
        loop {
            let (next, ids) = ledger.list(s, cursor, 500).await?;
            for id in ids {
                if f.provider.is_some_and(|p| p != id.provider) || exact.contains(&id) {
                    continue;
                }
                if read >= SCAN_CAP {
                    capped = true;
                    break 'scan;
                }
                read += 1;
                if let Some(x) = ledger.get(&id).await? {
                    if f.matches(&x) {
                        found.push(x);
                    }
                }
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    found.sort_by(|a, b| {
        b.meta
            .created_at
            .cmp(&a.meta.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    let total = found.len();
    let items = found
        .into_iter()
        .skip(page.saturating_mul(per_page))
        .take(per_page)
        .collect();
    Ok(Page {
        items,
        total,
        capped,
    })
}

/// The last `n` provider answers of a payout (its review evidence), newest first.
pub fn evidence(history: &[HistoryEntry], n: usize) -> Vec<&HistoryEntry> {
    history
        .iter()
        .rev()
        .filter(|e| {
            e.response_code.is_some()
                || e.http_status.is_some()
                || e.outcome.is_some()
                || e.event.starts_with("callback")
        })
        .take(n)
        .collect()
}

/// An account number with all but its last four digits hidden.
pub fn mask_account(account: &str) -> String {
    let n = account.chars().count();
    if n <= 4 {
        return "•".repeat(n);
    }
    let tail: String = account.chars().skip(n - 4).collect();
    format!("{}{tail}", "•".repeat(n - 4))
}

/// A copy of a recorded request/response with anything account-, card- or
/// secret-like masked, on top of the redaction the audit trail already does:
/// a page must never show a full account number or card token.
pub fn mask_detail(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let lk = k.to_ascii_lowercase();
                    let masked = if ["token", "secret", "signature", "password", "card", "otp"]
                        .iter()
                        .any(|w| lk.contains(w))
                    {
                        match v {
                            Value::Null => Value::Null,
                            _ => Value::String("[redacted]".into()),
                        }
                    } else if lk.contains("account") && !lk.contains("name") {
                        match v {
                            Value::String(s) => Value::String(mask_account(s)),
                            Value::Number(n) => Value::String(mask_account(&n.to_string())),
                            other => mask_detail(other),
                        }
                    } else {
                        mask_detail(v)
                    };
                    (k.clone(), masked)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(mask_detail).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accounts_keep_only_the_last_four_digits() {
        assert_eq!(mask_account("8753293240"), "••••••3240");
        assert_eq!(mask_account("123"), "•••");
    }

    #[test]
    fn details_mask_accounts_tokens_and_secrets_at_any_depth() {
        let v = json!({
            "beneficiaryAccountNo": "8753293240",
            "beneficiaryAccountName": "Budi",
            "additionalInfo": {"bankCardToken": "tok_123", "sourceAccountNo": 1234567890u64},
            "rows": [{"accessToken": "abc"}],
            "responseCode": "2001800"
        });
        let m = mask_detail(&v);
        let s = m.to_string();
        assert!(
            !s.contains("8753293240") && !s.contains("1234567890"),
            "{s}"
        );
        assert!(!s.contains("tok_123") && !s.contains("abc"), "{s}");
        assert_eq!(m["beneficiaryAccountName"], "Budi");
        assert_eq!(m["responseCode"], "2001800");
        assert_eq!(m["beneficiaryAccountNo"], "••••••3240");
    }

    fn sample(t: i64, s: u64, f: u64) -> Sample {
        Sample {
            t,
            succeeded: s,
            failed: f,
            ..Default::default()
        }
    }

    #[test]
    fn minutes_are_growth_between_samples() {
        let now = 100 * 60_000;
        let v = vec![
            sample(now - 125_000, 10, 1),
            sample(now - 65_000, 15, 2),
            sample(now - 5_000, 18, 2),
        ];
        let m = minutes(&v, now);
        assert_eq!(m.len(), 60);
        assert_eq!(
            m[59],
            Minute {
                succeeded: 3,
                not_succeeded: 0,
                seen: true
            }
        );
        assert_eq!(
            m[58],
            Minute {
                succeeded: 5,
                not_succeeded: 1,
                seen: true
            }
        );
        assert!(!m[0].seen);
    }
}
