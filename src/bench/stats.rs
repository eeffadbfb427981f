//! Pure helpers of the benchmark: percentiles, `INFO` parsing and `/proc` parsing.
//! Kept free of I/O so they are unit-tested.

use std::collections::BTreeMap;

use serde::Serialize;

/// Nearest-rank percentile (`q` in 0..=100) of an ascending slice; `None` when empty.
pub fn percentile(sorted: &[i64], q: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let q = q.clamp(0.0, 100.0);
    // Nearest rank: the smallest value with at least q% of the data at or below it.
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    sorted.get(idx).copied()
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub p50: i64,
    pub p95: i64,
    pub p99: i64,
    pub max: i64,
    pub mean: f64,
}

impl Summary {
    /// Summarise `values` (sorted in place).
    pub fn of(values: &mut [i64]) -> Summary {
        values.sort_unstable();
        let count = values.len();
        if count == 0 {
            return Summary::default();
        }
        let sum: i128 = values.iter().map(|v| *v as i128).sum();
        Summary {
            count,
            p50: percentile(values, 50.0).unwrap_or(0),
            p95: percentile(values, 95.0).unwrap_or(0),
            p99: percentile(values, 99.0).unwrap_or(0),
            max: values.last().copied().unwrap_or(0),
            mean: sum as f64 / count as f64,
        }
    }
}

/// `INFO` text → field → value (section headers and blank lines skipped).
pub fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// One field of an `INFO` map as a number.
pub fn info_f64(info: &BTreeMap<String, String>, key: &str) -> f64 {
    info.get(key).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// `INFO commandstats` → command name (lowercase, `|` for subcommands) → calls.
/// Lines look like `cmdstat_evalsha:calls=12,usec=340,usec_per_call=28.33,…`.
pub fn parse_commandstats(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("cmdstat_") else {
            continue;
        };
        let Some((name, fields)) = rest.split_once(':') else {
            continue;
        };
        let calls = fields
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "calls")
            .and_then(|(_, v)| v.parse().ok());
        if let Some(calls) = calls {
            out.insert(name.to_owned(), calls);
        }
    }
    out
}

/// `after − before` per command, dropping commands that did not run in between.
pub fn diff_counts(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, a)| {
            let d = a.saturating_sub(before.get(k).copied().unwrap_or(0));
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// CPU ticks (utime + stime) from the text of `/proc/<pid>/stat`. The command
/// name (field 2) may contain spaces and parentheses, so fields are counted from
/// the last `)`.
pub fn parse_proc_stat_ticks(text: &str) -> Option<u64> {
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state(3) ppid(4) … utime is field 14, stime 15 → indexes 11, 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `kB` field of `/proc/<pid>/status` (e.g. `VmHWM`, `VmRSS`), in kB.
pub fn parse_status_kb(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Throughput over the middle of a run: the rate between the 10th and 90th
/// percentile completion times, which ignores start-up and the last stragglers.
/// `done_at` must be sorted ascending (ms).
pub fn steady_rate(done_at: &[i64]) -> Option<f64> {
    if done_at.len() < 10 {
        return None;
    }
    let lo = percentile(done_at, 10.0)?;
    let hi = percentile(done_at, 90.0)?;
    let n = done_at.iter().filter(|t| **t > lo && **t <= hi).count();
    if hi <= lo {
        return None;
    }
    Some(n as f64 * 1000.0 / (hi - lo) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        let small = [10, 20, 30, 40];
        assert_eq!(percentile(&small, 50.0), Some(20));
        assert_eq!(percentile(&small, 51.0), Some(30));
    }

    #[test]
    fn summary_sorts_and_averages() {
        let mut v = vec![5, 1, 4, 2, 3];
        let s = Summary::of(&mut v);
        assert_eq!((s.count, s.p50, s.max), (5, 3, 5));
        assert!((s.mean - 3.0).abs() < 1e-9);
        assert_eq!(Summary::of(&mut []), Summary::default());
    }

    #[test]
    fn commandstats_parse_and_diff() {
        let before = parse_commandstats(
            "# Commandstats\r\ncmdstat_evalsha:calls=10,usec=100,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\ncmdstat_hgetall:calls=3,usec=3\r\n",
        );
        let after = parse_commandstats(
            "# Commandstats\r\ncmdstat_evalsha:calls=25,usec=300\r\ncmdstat_hgetall:calls=3,usec=3\r\ncmdstat_client|setname:calls=2,usec=1\r\n",
        );
        assert_eq!(before.get("evalsha"), Some(&10));
        let d = diff_counts(&before, &after);
        assert_eq!(d.get("evalsha"), Some(&15));
        assert_eq!(d.get("hgetall"), None);
        assert_eq!(d.get("client|setname"), Some(&2));
    }

    #[test]
    fn info_fields() {
        let info =
            parse_info("# Memory\r\nused_memory:1024\r\nused_memory_human:1.00K\r\n\r\n# CPU\r\nused_cpu_sys:1.5\r\n");
        assert_eq!(info_f64(&info, "used_memory"), 1024.0);
        assert_eq!(info_f64(&info, "used_cpu_sys"), 1.5);
        assert_eq!(info_f64(&info, "missing"), 0.0);
    }

    #[test]
    fn proc_stat_with_odd_name() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
        let stat = "4242 (kirim (w) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_proc_stat_ticks(stat), Some(300));
        assert_eq!(parse_proc_stat_ticks("garbage"), None);
    }

    #[test]
    fn status_kb() {
        let status = "Name:\tkirim\nVmPeak:\t  100 kB\nVmHWM:\t   23456 kB\nVmRSS:\t 20000 kB\n";
        assert_eq!(parse_status_kb(status, "VmHWM"), Some(23456));
        assert_eq!(parse_status_kb(status, "VmRSS"), Some(20000));
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
    }

    #[test]
    fn steady_rate_middle() {
        // 1 per ms over 1000 ms → 1000/s.
        let v: Vec<i64> = (0..1000).collect();
        let r = steady_rate(&v).unwrap_or(0.0);
        assert!((r - 1000.0).abs() < 20.0, "{r}");
        assert_eq!(steady_rate(&[1, 2, 3]), None);
    }
}
