//! Circuit breakers against a real Redis: what one process publishes, every other
//! process (`kirim serve`'s `/metrics`, `kirim status`) reads; and the probe
//! helper against the sandbox.

use kirim::circuit::{probe, read_all, BreakerConfig, Breakers, CircuitState, Reason, Signal};
use kirim::client::Client;
use kirim::domain::Provider;
use kirim::metrics::{render, Recorder};
use kirim::providers::snap::client::fresh_external_id;
use redis::AsyncCommands;

const P: Provider = kirim::providers::nicepay::ID;

fn open(b: &Breakers, p: Provider, now: i64) {
    for _ in 0..b.config().failures_to_open {
        b.record(p, Signal::ConnectFailure, now);
    }
    assert!(matches!(
        b.state(p),
        kirim::circuit::BreakerState::Open { .. }
    ));
}

#[tokio::test]
async fn publish_then_read_all_round_trips_and_writes_only_on_change() {
    let redis = crate::common::redis();
    let settings = crate::common::settings_for(&redis);
    let client = Client::connect(&settings).await.expect("connect");
    let keys = client.ledger().keys().clone();
    let mut conn = client.ledger().connection();

    let b = Breakers::new(BreakerConfig::default());
    // Closed and never changed: nothing to write, nothing published.
    assert!(!b.publish(&mut conn, &keys, P).await.unwrap());
    assert!(read_all(&mut conn, &keys).await.unwrap().is_empty());

    open(&b, P, 1_000);
    assert!(b.publish(&mut conn, &keys, P).await.unwrap());
    let all = read_all(&mut conn, &keys).await.unwrap();
    assert_eq!(all.len(), 1, "only the provider that changed: {all:?}");
    let s = &all[&P];
    assert_eq!(s.state, CircuitState::Open);
    assert_eq!(s.since_ms, 1_000);
    assert_eq!(s.until_ms, Some(6_000));
    assert_eq!(s.reason, Some(Reason::ConnectFailure));
    assert_eq!(s.consecutive_failures, 5);
    assert_eq!(s.cooldown_ms, 5_000);
    assert_eq!(s.updated_at_ms, 1_000);
    assert_eq!(s.opened_total, 1);
    assert!(!s.instance.is_empty());
    let mut expected = b.snapshot(P);
    expected.opened_total = 1;
    assert_eq!(*s, expected);

    // Unchanged since the last publish: no Redis work (the key stays deleted).
    let _: () = conn.del(keys.circuit(P)).await.unwrap();
    assert!(!b.publish(&mut conn, &keys, P).await.unwrap());
    let exists: bool = conn.exists(keys.circuit(P)).await.unwrap();
    assert!(!exists);

    // open → half-open → closed, each published.
    assert_eq!(b.permit(P, 6_000), kirim::circuit::Permit::Probe);
    assert!(b.publish(&mut conn, &keys, P).await.unwrap());
    let s = read_all(&mut conn, &keys).await.unwrap()[&P].clone();
    assert_eq!(s.state, CircuitState::HalfOpen);
    assert_eq!(s.since_ms, 6_000);
    assert!(b.record(P, Signal::Ok, 6_100).is_some());
    assert!(b.publish(&mut conn, &keys, P).await.unwrap());
    let s = read_all(&mut conn, &keys).await.unwrap()[&P].clone();
    assert_eq!(s.state, CircuitState::Closed);
    assert_eq!((s.until_ms, s.reason), (None, None));
    assert_eq!(s.consecutive_failures, 0);
    assert_eq!(s.updated_at_ms, 6_100);
}

#[tokio::test]
async fn an_older_publish_does_not_hide_a_newer_one_but_every_opening_counts() {
    let redis = crate::common::redis();
    let settings = crate::common::settings_for(&redis);
    let client = Client::connect(&settings).await.expect("connect");
    let keys = client.ledger().keys().clone();
    let mut conn = client.ledger().connection();

    let newer = Breakers::new(BreakerConfig::default());
    let older = Breakers::new(BreakerConfig::default());
    open(&newer, P, 2_000);
    open(&older, P, 1_000);
    assert!(newer.publish(&mut conn, &keys, P).await.unwrap());
    assert!(!older.publish(&mut conn, &keys, P).await.unwrap());
    let s = read_all(&mut conn, &keys).await.unwrap()[&P].clone();
    assert_eq!(s.since_ms, 2_000);
    assert_eq!(s.instance, newer.snapshot(P).instance);
    assert_eq!(s.opened_total, 2);
}

#[tokio::test]
async fn an_unreadable_hash_is_an_error_naming_the_key() {
    let redis = crate::common::redis();
    let settings = crate::common::settings_for(&redis);
    let client = Client::connect(&settings).await.expect("connect");
    let keys = client.ledger().keys().clone();
    let mut conn = client.ledger().connection();
    let _: () = conn
        .hset(
            keys.circuit(kirim::providers::singapay::ID),
            "state",
            "sideways",
        )
        .await
        .unwrap();
    let err = read_all(&mut conn, &keys).await.unwrap_err();
    assert!(
        err.to_string()
            .contains(&keys.circuit(kirim::providers::singapay::ID)),
        "{err}"
    );
}

#[tokio::test]
async fn metrics_show_circuit_state_openings_and_alerts() {
    let redis = crate::common::redis();
    let settings = crate::common::settings_for(&redis);
    let client = Client::connect(&settings).await.expect("connect");
    let keys = client.ledger().keys().clone();
    let mut conn = client.ledger().connection();

    let b = Breakers::new(BreakerConfig::default());
    open(&b, P, 1_000);
    b.publish(&mut conn, &keys, P).await.unwrap();
    open(&b, kirim::providers::singapay::ID, 1_000);
    b.permit(kirim::providers::singapay::ID, 6_000);
    b.publish(&mut conn, &keys, kirim::providers::singapay::ID)
        .await
        .unwrap();

    let rec = Recorder::default();
    rec.alert(P, "submission_refused");
    rec.alert(P, "submission_refused");
    rec.alert(kirim::providers::ifortepay::ID, "callback_refused");
    rec.flush(client.ledger()).await.unwrap();

    let text = render(client.ledger(), client.queue())
        .await
        .expect("render");
    for line in [
        "# TYPE kirim_provider_circuit_state gauge",
        "kirim_provider_circuit_state{provider=\"ifortepay\"} 0",
        "kirim_provider_circuit_state{provider=\"nicepay\"} 2",
        "kirim_provider_circuit_state{provider=\"singapay\"} 1",
        "# TYPE kirim_provider_circuit_opened counter",
        "kirim_provider_circuit_opened_total{provider=\"ifortepay\"} 0",
        "kirim_provider_circuit_opened_total{provider=\"nicepay\"} 1",
        "kirim_provider_circuit_opened_total{provider=\"singapay\"} 1",
        "# TYPE kirim_alerts counter",
        "kirim_alerts_total{provider=\"nicepay\",kind=\"submission_refused\"} 2",
        "kirim_alerts_total{provider=\"ifortepay\",kind=\"callback_refused\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[tokio::test]
async fn probe_maps_answers_refusals_and_connect_failures() {
    let sandbox = crate::common::sandbox(|_| {}).await;
    let redis = crate::common::redis();
    let mut settings = crate::common::settings_for(&redis);
    crate::common::point_at(&mut settings, &sandbox);

    let providers = kirim::providers::build_all(&settings.providers).expect("providers");
    // iFortepay and NICEPAY answer a balance inquiry; Singapay has none and is
    // probed with a status inquiry for a reference that does not exist.
    for p in kirim::providers::builtin_ids() {
        let signal = probe(providers[&p].as_ref(), &fresh_external_id()).await;
        assert_eq!(signal, Signal::Ok, "{p}");
    }

    // Nothing listens: a connect failure.
    let mut down = settings.providers.clone();
    let names: Vec<String> = down.names().map(str::to_owned).collect();
    for name in &names {
        down.set(name, "base_url", "http://127.0.0.1:1/");
    }
    let down_settings = down.clone();
    let down = kirim::providers::build_all(&down).expect("providers");
    for p in kirim::providers::builtin_ids() {
        let signal = probe(down[&p].as_ref(), &fresh_external_id()).await;
        assert_eq!(signal, Signal::ConnectFailure, "{p}");
    }

    // Singapay v1.0 (the default) has no status inquiry: probed with a token call,
    // so a provider that is down does not close its breaker.
    let sgp = kirim::providers::singapay::ID;
    for (mut providers, want) in [
        (settings.providers.clone(), Signal::Ok),
        (down_settings.clone(), Signal::ConnectFailure),
    ] {
        providers.set("singapay", "api_version", "v1");
        let built = kirim::providers::build_all(&providers).expect("providers");
        assert_eq!(
            probe(built[&sgp].as_ref(), &fresh_external_id()).await,
            want
        );
    }

    // Credentials the provider does not know: refused.
    let mut wrong = settings.providers.clone();
    wrong.set("ifortepay", "client_id", "MCPD99999999");
    let wrong = kirim::providers::build_all(&wrong).expect("providers");
    let signal = probe(
        wrong[&kirim::providers::ifortepay::ID].as_ref(),
        &fresh_external_id(),
    )
    .await;
    assert_eq!(signal, Signal::Refused);
}
