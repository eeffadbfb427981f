//! The demo's terminal output: the live table, the summary and its pointers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::scenario::Case;
use super::{Stack, DEMO_API_KEY};
use crate::domain::State;
use crate::ledger::{HistoryEntry, Payout, PayoutId};

/// What the summary shows for one payout.
pub(super) struct Row {
    pub(super) case: Case,
    pub(super) id: PayoutId,
    pub(super) payout: Option<Payout>,
    pub(super) history: Vec<HistoryEntry>,
    /// How many times the sandbox booked (moved money for) this reference.
    pub(super) booked: u32,
}

impl Row {
    fn state(&self) -> Option<State> {
        self.payout.as_ref().map(|p| p.state)
    }

    pub(super) fn is_final(&self) -> bool {
        self.state().is_some_and(State::is_final)
    }

    fn ok(&self) -> bool {
        self.state() == Some(self.case.expected) && self.booked <= 1
    }

    /// The states it went through, e.g. `SUBMITTING→UNKNOWN→PENDING→SUCCEEDED`.
    fn path(&self) -> String {
        let mut out: Vec<&str> = Vec::new();
        for e in &self.history {
            if let Some(to) = e.to.filter(|s| *s != State::Accepted || !out.is_empty()) {
                if out.last() != Some(&to.as_str()) {
                    out.push(to.as_str());
                }
            }
        }
        out.join("→")
    }

    /// How the final state was learned: the submit response, an inquiry or a callback.
    fn settled_by(&self) -> &str {
        self.history
            .iter()
            .rev()
            .find(|e| e.to.is_some_and(State::is_final))
            .map(|e| e.event.as_str())
            .unwrap_or("-")
    }

    fn seconds(&self) -> Option<f64> {
        let p = self.payout.as_ref()?;
        let end = self
            .history
            .iter()
            .rev()
            .find(|e| e.to.is_some_and(State::is_final))?
            .at;
        Some((end - p.meta.created_at).max(0) as f64 / 1000.0)
    }
}

/// The live table: counts by state per provider.
pub(super) fn progress_table(rows: &[Row], elapsed: Duration) -> Vec<String> {
    const COLS: [(State, &str); 8] = [
        (State::Accepted, "ACCEPT"),
        (State::Submitting, "SUBMIT"),
        (State::Pending, "PENDING"),
        (State::Unknown, "UNKNOWN"),
        (State::NeedsReview, "REVIEW"),
        (State::Succeeded, "SUCCESS"),
        (State::Cancelled, "CANCEL"),
        (State::Failed, "FAILED"),
    ];
    let mut lines = Vec::new();
    let mut head = format!("{:<9}", "provider");
    for (_, name) in COLS {
        let _ = write!(head, " {name:>7}");
    }
    let _ = write!(head, " {:>5}", "final");
    lines.push(head);
    let mut totals = [0usize; 8];
    let (mut all_final, mut all) = (0, 0);
    for p in crate::providers::builtin_ids() {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.case.provider == p).collect();
        let mut line = format!("{:<9}", p.as_str());
        for (i, (s, _)) in COLS.iter().enumerate() {
            let n = mine.iter().filter(|r| r.state() == Some(*s)).count();
            totals[i] += n;
            let _ = write!(line, " {n:>7}");
        }
        let f = mine.iter().filter(|r| r.is_final()).count();
        all_final += f;
        all += mine.len();
        let _ = write!(line, " {:>5}", format!("{f}/{}", mine.len()));
        lines.push(line);
    }
    let mut line = format!("{:<9}", "total");
    for n in totals {
        let _ = write!(line, " {n:>7}");
    }
    let _ = write!(line, " {:>5}", format!("{all_final}/{all}"));
    lines.push(line);
    lines.push(format!("elapsed {:.1} s", elapsed.as_secs_f64()));
    lines
}

/// Plain one-line progress for logs and pipes.
pub(super) fn progress_line(rows: &[Row], elapsed: Duration) -> String {
    let mut counts: BTreeMap<State, usize> = BTreeMap::new();
    for r in rows {
        if let Some(s) = r.state() {
            *counts.entry(s).or_default() += 1;
        }
    }
    let finals = rows.iter().filter(|r| r.is_final()).count();
    let mut line = format!(
        "[{:>5.1}s] final {finals}/{}:",
        elapsed.as_secs_f64(),
        rows.len()
    );
    for (s, n) in counts {
        let _ = write!(line, " {}={n}", s.as_str());
    }
    line
}

fn table(head: &[&str], body: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in body {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(c.chars().count());
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        s
    };
    let mut out = line(head.to_vec());
    out.push('\n');
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    out.push('\n');
    for row in body {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

fn summary(rows: &[Row]) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                if r.ok() { "ok" } else { "MISMATCH" }.to_owned(),
                r.case.reference.clone(),
                r.case.provider.as_str().to_owned(),
                r.case.amount.to_owned(),
                r.case.expected.as_str().to_owned(),
                r.state().map_or("-", State::as_str).to_owned(),
                r.settled_by().to_owned(),
                r.seconds().map_or("-".into(), |s| format!("{s:.1}s")),
                r.booked.to_string(),
                r.payout
                    .as_ref()
                    .map(|p| p.external_ids.join(","))
                    .unwrap_or_default(),
                r.path(),
                r.case.story.to_owned(),
            ]
        })
        .collect();
    table(
        &[
            "",
            "reference",
            "provider",
            "amount",
            "expected",
            "actual",
            "via",
            "time",
            "booked",
            "X-EXTERNAL-ID",
            "states",
            "what happened",
        ],
        &body,
    )
}

/// Print the summary and pointers; true if every payout is as expected.
pub(super) fn report(stack: &Stack, rows: &[Row]) -> bool {
    println!();
    print!("{}", summary(rows));
    let bad: Vec<&Row> = rows.iter().filter(|r| !r.ok()).collect();
    let api = &stack.api_url;
    let example = rows
        .iter()
        .find(|r| r.case.fault.is_some())
        .or(rows.first())
        .map(|r| r.case.reference.clone())
        .unwrap_or_default();
    println!();
    println!("Try (while the stack is up; `kirim demo --keep-running` keeps it up):");
    println!("  curl -s -H 'X-API-Key: {DEMO_API_KEY}' {api}/v1/transfers/{example}");
    println!(
        "  curl -s -H 'X-API-Key: {DEMO_API_KEY}' '{api}/v1/transfers?state=SUCCEEDED&limit=5'"
    );
    println!("  curl -s {api}/metrics");
    println!(
        "  KIRIM_REDIS__URL={} KIRIM_REDIS__NAMESPACE='{}' kirim status {example}",
        stack.settings.redis.url, stack.settings.redis.namespace
    );
    println!();
    if bad.is_empty() {
        println!(
            "All {} payouts reached their expected state, and the sandbox booked none twice.",
            rows.len()
        );
        true
    } else {
        println!("{} payout(s) did not reach the expected state:", bad.len());
        for r in bad {
            println!(
                "  {} ({}): expected {}, is {}, booked {} time(s)",
                r.case.reference,
                r.case.provider,
                r.case.expected.as_str(),
                r.state().map_or("missing", State::as_str),
                r.booked
            );
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(&["a", "bbb"], &[vec!["xxxx".into(), "y".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "a     bbb");
        assert_eq!(lines[2], "xxxx  y");
    }
}
