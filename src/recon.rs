//! The day-end three-way check (`kirim recon report --date D`): every transaction
//! a provider's history list shows for one Jakarta day, against the ledger.
//!
//! - **orphan**: the provider has a transaction whose `partnerReferenceNo` the
//!   ledger does not know (a payout lost with Redis' tail, sent by another system
//!   with the same credentials, or a namespace mix-up);
//! - **mismatch**: the ledger knows it in a final state other than the provider's
//!   final one, or final while the provider still processes it, or for another
//!   amount — the cases finance must look at;
//! - **behind**: the provider is final, the ledger not yet (normal lag: the
//!   reconciliation sweep will settle it);
//! - **matched**: same final state and amount.
//!
//! Providers without a history list (NICEPAY, Singapay) are reported as not
//! checked. The counts of the latest report are kept in Redis and rendered in
//! `/metrics` as `kirim_recon_transactions{provider,verdict}`.

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone};
use serde::{Deserialize, Serialize};

use crate::domain::{ExternalId, Money, PartnerReference, Provider, State};
use crate::ledger::{now_ms, Ledger, LedgerError, PayoutId};
use crate::providers::{HistoryQuery, Outcome, PayoutProvider, ProviderError};

/// Entries per history page.
const PAGE: u32 = 99;
/// A runaway provider cannot keep the report going for ever: 86,400 one-second
/// windows of 99 rows each would be 8.5 million transactions a day.
const MAX_QUERIES: u32 = 200_000;

/// Split a window of whole seconds in two halves that share their middle second:
/// the history list takes its times to the second (`HH:MM:SS`), and a row late in
/// a second is still inside a window that starts at that second. `None` once the
/// window spans one second.
fn split(
    from: chrono::DateTime<chrono::FixedOffset>,
    to: chrono::DateTime<chrono::FixedOffset>,
) -> Option<(Window, Window)> {
    let secs = (to - from).num_seconds();
    if secs <= 1 {
        return None;
    }
    let mid = from + chrono::Duration::seconds(secs / 2);
    Some(((from, mid), (mid, to)))
}

type Window = (
    chrono::DateTime<chrono::FixedOffset>,
    chrono::DateTime<chrono::FixedOffset>,
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Orphan,
    Mismatch,
    Behind,
    Matched,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::Orphan,
        Verdict::Mismatch,
        Verdict::Behind,
        Verdict::Matched,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Orphan => "orphan",
            Verdict::Mismatch => "mismatch",
            Verdict::Behind => "behind",
            Verdict::Matched => "matched",
        }
    }
}

/// One provider transaction and what the ledger says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub provider: Provider,
    pub partner_reference: String,
    pub provider_reference: Option<String>,
    pub provider_amount: Money,
    /// The provider's word: `SUCCEEDED`, `CANCELLED`, `FAILED` or `IN_PROGRESS`.
    pub provider_state: String,
    pub ledger_state: Option<State>,
    pub ledger_amount: Option<Money>,
    pub verdict: Verdict,
    /// Why it is not matched, in words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub why: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconReport {
    /// The Jakarta day, `YYYY-MM-DD`.
    pub date: String,
    /// Lines that need a look (everything but `matched`).
    pub lines: Vec<Line>,
    /// Counts per provider and verdict.
    pub counts: BTreeMap<String, BTreeMap<String, u64>>,
    /// Providers whose transactions could not be listed, and why.
    pub not_checked: BTreeMap<String, String>,
}

impl ReconReport {
    pub fn count(&self, provider: Provider, v: Verdict) -> u64 {
        self.counts
            .get(provider.as_str())
            .and_then(|m| m.get(v.as_str()))
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    #[error(transparent)]
    Apply(#[from] crate::jobs::apply::ApplyError),
    #[error("{id} is already in the ledger ({state}): nothing to adopt")]
    AlreadyKnown { id: PayoutId, state: State },
    #[error("note: an adoption needs a note saying why (the provider's evidence)")]
    NoNote,
}

/// Adopt an orphan: record the transaction the provider has (with the details the
/// operator takes from the provider's report or the books) and let the lifecycle
/// inquire it — it is never sent. Audited as `adopted` with the operator's name and
/// note. The due time is set ahead so no sweep sends the fresh record before the
/// adoption moves it to UNKNOWN.
pub async fn adopt(
    client: &crate::client::Client,
    order: &crate::client::TransferOrder,
    actor: &str,
    note: &str,
) -> Result<crate::jobs::apply::Reported, ReconError> {
    if note.trim().is_empty() {
        return Err(ReconError::NoNote);
    }
    let new = crate::client::Client::transfer_payout(order)?;
    let id = new.details.id();
    let ledger = client.ledger();
    if let Some(p) = ledger.get(&id).await? {
        return Err(ReconError::AlreadyKnown { id, state: p.state });
    }
    let now = now_ms();
    match ledger.create(&new, now, now + 600_000).await? {
        crate::ledger::CreateOutcome::Created => {}
        crate::ledger::CreateOutcome::Existing(state)
        | crate::ledger::CreateOutcome::Conflict(state) => {
            return Err(ReconError::AlreadyKnown { id, state })
        }
    }
    let mut entry = crate::ledger::HistoryEntry::new("adopted", now);
    entry.actor = Some(actor.to_owned());
    entry.note = Some(note.to_owned());
    Ok(crate::jobs::apply::report(
        ledger,
        client.queue(),
        client.policy(),
        &id,
        &crate::lifecycle::Event::Adopted,
        entry,
    )
    .await?)
}

fn provider_state(o: &Outcome) -> Option<State> {
    match o {
        Outcome::Success { .. } => Some(State::Succeeded),
        Outcome::Cancelled { .. } => Some(State::Cancelled),
        Outcome::FinalFailure { .. } => Some(State::Failed),
        _ => None,
    }
}

/// Judge one history row against the ledger's record (if any).
pub fn judge(
    provider: Provider,
    entry: &crate::providers::HistoryRow,
    ledger: Option<(State, Money)>,
) -> Line {
    let theirs = provider_state(&entry.outcome);
    let (verdict, why) = match (ledger, theirs) {
        (None, _) => (
            Verdict::Orphan,
            "the ledger has no payout with this reference".to_owned(),
        ),
        (Some((_, amount)), _) if amount != entry.amount => (
            Verdict::Mismatch,
            format!(
                "amount: provider {} vs ledger {}",
                entry.amount.to_wire(),
                amount.to_wire()
            ),
        ),
        (Some((ours, _)), Some(t)) if ours == t => (Verdict::Matched, String::new()),
        (Some((ours, _)), Some(t)) if ours.is_final() => {
            (Verdict::Mismatch, format!("provider {t}, ledger {ours}"))
        }
        (Some((ours, _)), Some(t)) => (
            Verdict::Behind,
            format!("provider {t}, ledger still {ours}"),
        ),
        (Some((ours, _)), None) if ours.is_final() => (
            Verdict::Mismatch,
            format!("provider still processing, ledger {ours}"),
        ),
        (Some(_), None) => (Verdict::Matched, String::new()),
    };
    Line {
        provider,
        partner_reference: entry.partner_reference.clone(),
        provider_reference: entry.provider_reference.clone(),
        provider_amount: entry.amount,
        provider_state: theirs.map_or("IN_PROGRESS", State::as_str).to_owned(),
        ledger_state: ledger.map(|(s, _)| s),
        ledger_amount: ledger.map(|(_, a)| a),
        verdict,
        why,
    }
}

/// Build the report for `date` (a Jakarta day) over `providers`, and record its
/// counts for `/metrics`.
pub async fn report(
    ledger: &Ledger,
    providers: &[(Provider, &dyn PayoutProvider)],
    date: NaiveDate,
) -> Result<ReconReport, ReconError> {
    let mut out = ReconReport {
        date: date.to_string(),
        ..Default::default()
    };
    let jakarta = crate::snap::timestamp::jakarta();
    let start = date
        .and_hms_opt(0, 0, 0)
        .and_then(|d| jakarta.from_local_datetime(&d).single());
    let Some(start) = start else {
        return Ok(out);
    };
    // Whole seconds: the history list's times are `HH:MM:SS`.
    let end = start + chrono::Duration::days(1) - chrono::Duration::seconds(1);
    for &(provider, client) in providers {
        let counts = out.counts.entry(provider.as_str().to_owned()).or_default();
        for v in Verdict::ALL {
            counts.insert(v.as_str().to_owned(), 0);
        }
        // No source shows how to read past a history list's first page (no page
        // number, no paging fields in the answer: docs/conformance/ifortepay.md),
        // and a page holds at most 99 rows (pageSize, Int 2). So the day is read
        // in time windows: a full page means the window may hold more, and it is
        // split in two and each half read again, down to one second.
        let mut windows = vec![(start, end)];
        let mut seen = std::collections::HashSet::new();
        let mut queries = 0u32;
        while let Some((from, to)) = windows.pop() {
            queries += 1;
            if queries > MAX_QUERIES {
                out.not_checked.insert(
                    provider.as_str().into(),
                    format!("stopped after {MAX_QUERIES} history queries; the day is incomplete"),
                );
                break;
            }
            let query = HistoryQuery {
                from: crate::snap::timestamp::format(from),
                to: crate::snap::timestamp::format(to),
                page: 1,
                page_size: PAGE,
                external_id: ExternalId::fresh(now_ms()),
            };
            let listed = match client.history(&query).await {
                Ok(p) => p,
                Err(ProviderError::Unsupported { .. }) => {
                    out.not_checked
                        .insert(provider.as_str().into(), "no history list".into());
                    out.counts.remove(provider.as_str());
                    break;
                }
                Err(e) => {
                    out.not_checked.insert(
                        provider.as_str().into(),
                        format!("history {} … {}: {e}", query.from, query.to),
                    );
                    break;
                }
            };
            let full = listed.has_more || listed.entries.len() >= PAGE as usize;
            if full {
                if let Some((left, right)) = split(from, to) {
                    // Right first on the stack's bottom: the day is read in order.
                    windows.push(right);
                    windows.push(left);
                    continue;
                }
                out.not_checked.insert(
                    provider.as_str().into(),
                    format!(
                        "more than {PAGE} transactions within one second at {}: the history list \
                         shows only its first page, so some may be missing from this report",
                        query.from
                    ),
                );
            }
            for entry in &listed.entries {
                // Windows meet at their edges; a row on an edge is judged once.
                if !seen.insert(entry.partner_reference.clone()) {
                    continue;
                }
                let known = match PartnerReference::parse(&entry.partner_reference) {
                    Ok(r) => ledger
                        .get(&PayoutId::new(provider, r))
                        .await?
                        .map(|p| (p.state, p.details.amount)),
                    Err(_) => None,
                };
                let line = judge(provider, entry, known);
                if let Some(c) = out
                    .counts
                    .get_mut(provider.as_str())
                    .and_then(|m| m.get_mut(line.verdict.as_str()))
                {
                    *c += 1;
                }
                if line.verdict != Verdict::Matched {
                    out.lines.push(line);
                }
            }
        }
    }
    record(ledger, &out).await?;
    Ok(out)
}

/// Keep the latest report's counts for `/metrics` (a hash `provider|verdict`).
async fn record(ledger: &Ledger, r: &ReconReport) -> Result<(), ReconError> {
    let mut conn = ledger.connection();
    let key = ledger.keys().recon_counts();
    let mut pipe = redis::pipe();
    pipe.atomic().del(&key).ignore();
    for (p, m) in &r.counts {
        for (v, n) in m {
            pipe.hset(&key, format!("{p}|{v}"), *n).ignore();
        }
    }
    pipe.hset(&key, "date", &r.date).ignore();
    let _: () = pipe.query_async(&mut conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::HistoryRow;

    fn entry(o: Outcome, amount: &str) -> HistoryRow {
        HistoryRow {
            partner_reference: "R-1".into(),
            provider_reference: Some("P-1".into()),
            amount: Money::parse(amount, "amount").expect("amount"),
            outcome: o,
        }
    }

    fn money(a: &str) -> Money {
        Money::parse(a, "amount").expect("amount")
    }

    #[test]
    fn windows_split_in_whole_seconds_sharing_their_middle() {
        let at = |s: &str| crate::snap::timestamp::parse(s).unwrap();
        let (l, r) = split(
            at("2026-12-02T00:00:00+07:00"),
            at("2026-12-02T00:00:09+07:00"),
        )
        .unwrap();
        assert_eq!(
            (l.0, l.1),
            (
                at("2026-12-02T00:00:00+07:00"),
                at("2026-12-02T00:00:04+07:00")
            )
        );
        assert_eq!(
            (r.0, r.1),
            (
                at("2026-12-02T00:00:04+07:00"),
                at("2026-12-02T00:00:09+07:00")
            )
        );
        assert!(split(
            at("2026-12-02T00:00:00+07:00"),
            at("2026-12-02T00:00:01+07:00")
        )
        .is_none());
    }

    #[test]
    fn verdicts() {
        let ok = Outcome::Success { reference: None };
        let p = crate::providers::ifortepay::ID;
        assert_eq!(
            judge(p, &entry(ok.clone(), "100"), None).verdict,
            Verdict::Orphan
        );
        assert_eq!(
            judge(
                p,
                &entry(ok.clone(), "100"),
                Some((State::Succeeded, money("100")))
            )
            .verdict,
            Verdict::Matched
        );
        let wrong = judge(
            p,
            &entry(ok.clone(), "100"),
            Some((State::Failed, money("100"))),
        );
        assert_eq!(wrong.verdict, Verdict::Mismatch);
        assert!(
            wrong.why.contains("SUCCEEDED") && wrong.why.contains("FAILED"),
            "{}",
            wrong.why
        );
        assert_eq!(
            judge(
                p,
                &entry(ok.clone(), "100"),
                Some((State::Pending, money("100")))
            )
            .verdict,
            Verdict::Behind
        );
        assert_eq!(
            judge(p, &entry(ok, "100"), Some((State::Succeeded, money("101")))).verdict,
            Verdict::Mismatch
        );
        let init = Outcome::InProgress { reference: None };
        assert_eq!(
            judge(
                p,
                &entry(init.clone(), "100"),
                Some((State::Cancelled, money("100")))
            )
            .verdict,
            Verdict::Mismatch
        );
        assert_eq!(
            judge(p, &entry(init, "100"), Some((State::Pending, money("100")))).verdict,
            Verdict::Matched
        );
    }
}
