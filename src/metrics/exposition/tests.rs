use super::*;

fn s(v: &str) -> String {
    v.to_owned()
}

/// A quiet deployment: one queued transfer, one provider call, nothing else.
fn small() -> Snapshot {
    let mut latency = Latency {
        count: 3,
        sum_us: 1_250_000,
        ..Latency::default()
    };
    // One call of 20 ms, one of 300 ms, one of 20 s: cumulative, as flushed.
    for (i, le) in BUCKETS.iter().enumerate() {
        latency.cumulative[i] = [0.02, 0.3].iter().filter(|v| **v <= *le).count() as u64;
    }
    Snapshot {
        queue_depth: vec![("transfer", 1, 0)],
        payouts: vec![("ACCEPTED", 1)],
        payouts_unknown: 0,
        payouts_needs_review: 0,
        dead_letters: 0,
        reconcile_due: 2,
        reconcile_lag_seconds: 1.5,
        compaction_backlog: 3,
        compaction_oldest_seconds: 42.0,
        recon_date: String::new(),
        recon: BTreeMap::new(),
        provider_calls: [((s("nicepay"), s("transfer"), s("success")), 3)].into(),
        latency: [((s("nicepay"), s("transfer")), latency)].into(),
        circuits: vec![(s("nicepay"), 2, 1)],
        alerts: BTreeMap::new(),
    }
}

#[test]
fn encodes_openmetrics_with_the_same_names_and_labels() {
    let text = small().encode().expect("encode");
    let expected = "\
# HELP kirim_queue_depth Jobs waiting in the queue, by job kind and part.
# TYPE kirim_queue_depth gauge
kirim_queue_depth{kind=\"transfer\",part=\"ready\"} 1
kirim_queue_depth{kind=\"transfer\",part=\"scheduled\"} 0
# HELP kirim_payouts Payouts in the ledger, by state.
# TYPE kirim_payouts gauge
kirim_payouts{state=\"ACCEPTED\"} 1
# HELP kirim_payouts_unknown Payouts whose outcome is unknown (being inquired).
# TYPE kirim_payouts_unknown gauge
kirim_payouts_unknown 0
# HELP kirim_payouts_needs_review Payouts waiting for an operator.
# TYPE kirim_payouts_needs_review gauge
kirim_payouts_needs_review 0
# HELP kirim_dead_letters Dead letters waiting for kirim dead retry.
# TYPE kirim_dead_letters gauge
kirim_dead_letters 0
# HELP kirim_reconcile_due Payouts whose next check is overdue.
# TYPE kirim_reconcile_due gauge
kirim_reconcile_due 2
# HELP kirim_reconcile_lag_seconds How far behind its due time the oldest check is.
# TYPE kirim_reconcile_lag_seconds gauge
# UNIT kirim_reconcile_lag_seconds seconds
kirim_reconcile_lag_seconds 1.5
# HELP kirim_compaction_backlog Final payouts waiting for their cold form (compacted once final for worker.compact_final_after_secs).
# TYPE kirim_compaction_backlog gauge
kirim_compaction_backlog 3
# HELP kirim_compaction_oldest_seconds How long the longest-waiting of them has been final.
# TYPE kirim_compaction_oldest_seconds gauge
# UNIT kirim_compaction_oldest_seconds seconds
kirim_compaction_oldest_seconds 42.0
# HELP kirim_provider_calls Provider calls by provider, operation and outcome.
# TYPE kirim_provider_calls counter
kirim_provider_calls_total{provider=\"nicepay\",op=\"transfer\",outcome=\"success\"} 3
# HELP kirim_provider_latency_seconds Provider call latency.
# TYPE kirim_provider_latency_seconds histogram
# UNIT kirim_provider_latency_seconds seconds
kirim_provider_latency_seconds_sum{provider=\"nicepay\",op=\"transfer\"} 1.25
kirim_provider_latency_seconds_count{provider=\"nicepay\",op=\"transfer\"} 3
kirim_provider_latency_seconds_bucket{le=\"0.005\",provider=\"nicepay\",op=\"transfer\"} 0
kirim_provider_latency_seconds_bucket{le=\"0.01\",provider=\"nicepay\",op=\"transfer\"} 0
kirim_provider_latency_seconds_bucket{le=\"0.025\",provider=\"nicepay\",op=\"transfer\"} 1
kirim_provider_latency_seconds_bucket{le=\"0.05\",provider=\"nicepay\",op=\"transfer\"} 1
kirim_provider_latency_seconds_bucket{le=\"0.1\",provider=\"nicepay\",op=\"transfer\"} 1
kirim_provider_latency_seconds_bucket{le=\"0.25\",provider=\"nicepay\",op=\"transfer\"} 1
kirim_provider_latency_seconds_bucket{le=\"0.5\",provider=\"nicepay\",op=\"transfer\"} 2
kirim_provider_latency_seconds_bucket{le=\"1.0\",provider=\"nicepay\",op=\"transfer\"} 2
kirim_provider_latency_seconds_bucket{le=\"2.5\",provider=\"nicepay\",op=\"transfer\"} 2
kirim_provider_latency_seconds_bucket{le=\"10.0\",provider=\"nicepay\",op=\"transfer\"} 2
kirim_provider_latency_seconds_bucket{le=\"+Inf\",provider=\"nicepay\",op=\"transfer\"} 3
# HELP kirim_provider_circuit_state Circuit breaker per provider: 0 closed, 1 half-open, 2 open.
# TYPE kirim_provider_circuit_state gauge
kirim_provider_circuit_state{provider=\"nicepay\"} 2
# HELP kirim_provider_circuit_opened Times a provider's circuit breaker opened, across all workers.
# TYPE kirim_provider_circuit_opened counter
kirim_provider_circuit_opened_total{provider=\"nicepay\"} 1
# HELP kirim_alerts Conditions an operator should look at, by provider and kind.
# TYPE kirim_alerts counter
# EOF
";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn recon_family_appears_only_after_a_report() {
    assert!(!small()
        .encode()
        .expect("encode")
        .contains("kirim_recon_transactions"));
    let mut snap = small();
    snap.recon_date = s("2026-12-01");
    snap.recon.insert((s("ifortepay"), s("orphan")), 1);
    let text = snap.encode().expect("encode");
    assert!(
        text.contains("\n# TYPE kirim_recon_transactions gauge\nkirim_recon_transactions{provider=\"ifortepay\",verdict=\"orphan\",date=\"2026-12-01\"} 1\n"),
        "{text}"
    );
}

#[test]
fn label_values_from_redis_are_escaped() {
    let mut snap = small();
    snap.alerts
        .insert((s("evil\"} x{a=\"1\\\n"), s("fenced")), 1);
    let text = snap.encode().expect("encode");
    assert!(
        text.contains(
            "kirim_alerts_total{provider=\"evil\\\"} x{a=\\\"1\\\\\\n\",kind=\"fenced\"} 1\n"
        ),
        "{text}"
    );
}

#[test]
fn cumulative_buckets_become_per_bucket_counts() {
    let mut l = Latency {
        count: 4,
        ..Latency::default()
    };
    l.cumulative = [0, 1, 1, 2, 2, 2, 3, 3, 3, 3];
    let (count, buckets) = l.encoded();
    assert_eq!(count, 4);
    let per: Vec<u64> = buckets.iter().map(|(_, n)| *n).collect();
    assert_eq!(per, [0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1]);
    let bounds: Vec<f64> = buckets.iter().map(|(le, _)| *le).collect();
    assert_eq!(bounds[..BUCKETS.len()], BUCKETS);
    assert_eq!(bounds[BUCKETS.len()], f64::INFINITY);
}

#[test]
fn a_scrape_between_a_flushs_increments_stays_monotonic() {
    // A flush raised the low buckets but not yet the higher ones or the count.
    let mut l = Latency {
        count: 1,
        ..Latency::default()
    };
    l.cumulative = [2, 2, 2, 1, 1, 1, 1, 1, 1, 1];
    let (count, buckets) = l.encoded();
    let mut cumulative = 0;
    let running: Vec<u64> = buckets
        .iter()
        .map(|(_, n)| {
            cumulative += n;
            cumulative
        })
        .collect();
    assert_eq!(running, [2; BUCKETS.len() + 1]);
    assert_eq!(count, 2, "+Inf equals _count");
}

#[test]
fn empty_families_are_still_described() {
    let text = Snapshot::default().encode().expect("encode");
    for line in [
        "# TYPE kirim_provider_calls counter",
        "# TYPE kirim_provider_latency_seconds histogram",
        "# TYPE kirim_alerts counter",
        "# TYPE kirim_provider_circuit_opened counter",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
}
