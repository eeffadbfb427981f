//! Unit tests of fault rules: matching, triggers and canned answers.

use super::*;

fn rule(endpoint: &str, kind: FaultKind) -> FaultRule {
    FaultRule {
        endpoint: endpoint.into(),
        kind,
        latency_ms: None,
        times: None,
        probability: None,
        status: None,
        body: None,
        content_type: None,
        headers: None,
    }
}

#[test]
fn times_expire_and_wildcards_match() {
    let mut r = rule("ifortepay.*", FaultKind::TooManyRequests);
    r.times = Some(2);
    let f = Faults::new(vec![r], 1);
    assert!(f.draw(Endpoint::NicepayApprove).is_none());
    assert!(f.draw(Endpoint::IfortepayTransfer).is_some());
    assert!(f.draw(Endpoint::IfortepayBalance).is_some());
    assert!(f.draw(Endpoint::IfortepayTransfer).is_none());
    assert!(f.list().is_empty());
}

#[test]
fn probability_is_seeded() {
    let mut r = rule("*", FaultKind::Error500Before);
    r.probability = Some(0.5);
    let run = |seed| {
        let f = Faults::new(vec![r.clone()], seed);
        (0..64)
            .map(|_| f.draw(Endpoint::SingapayToken).is_some())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn validation_names_the_problem() {
    assert!(rule("nope", FaultKind::Hang)
        .validate()
        .unwrap_err()
        .contains("unknown"));
    assert!(rule("callbacks.nicepay", FaultKind::Hang)
        .validate()
        .is_err());
    assert!(rule("ifortepay.transfer", FaultKind::Duplicate)
        .validate()
        .is_err());
    assert!(rule("ifortepay.transfer", FaultKind::Latency)
        .validate()
        .is_err());
    assert!(rule("callbacks.singapay", FaultKind::OutOfOrder)
        .validate()
        .is_ok());
}

#[test]
fn respond_rules_are_checked_and_default_their_content_type() {
    let parse = |v: serde_json::Value| serde_json::from_value::<FaultRule>(v);
    let r = parse(serde_json::json!({
        "endpoint": "ifortepay.history_detail", "kind": "respond", "status": 401,
        "body": "{\"responseCode\":\"4011300\",\"responseMessage\":\"Unauthorized. Signature\"}"
    }))
    .unwrap();
    assert!(r.validate().is_ok());
    let c = r.canned().unwrap();
    assert_eq!(c.status, StatusCode::UNAUTHORIZED);
    assert_eq!(c.headers[header::CONTENT_TYPE], "application/json");

    let mut html = rule("*", FaultKind::Respond);
    html.status = Some(403);
    html.body = Some("<html>blocked</html>".into());
    assert_eq!(
        html.canned().unwrap().headers[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    html.content_type = Some("text/html".into());
    html.headers = Some(BTreeMap::from([("Retry-After".into(), "30".into())]));
    let c = html.canned().unwrap();
    assert_eq!(c.headers[header::CONTENT_TYPE], "text/html");
    assert_eq!(c.headers["retry-after"], "30");
    html.headers = Some(BTreeMap::from([("content-type".into(), "x/y".into())]));
    assert!(html.validate().unwrap_err().contains("twice"));

    assert!(rule("*", FaultKind::Respond)
        .validate()
        .unwrap_err()
        .contains("status"));
    let mut bad = rule("*", FaultKind::Respond);
    bad.status = Some(42);
    assert!(bad.validate().is_err());
    bad.status = Some(200);
    bad.headers = Some(BTreeMap::from([("bad name".into(), "x".into())]));
    assert!(bad.validate().is_err());
    assert!(rule("callbacks.nicepay", FaultKind::Respond)
        .validate()
        .is_err());
    let mut stray = rule("*", FaultKind::Error500Before);
    stray.body = Some("x".into());
    assert!(stray.validate().unwrap_err().contains("`respond` only"));
    assert!(parse(
        serde_json::json!({"endpoint": "*", "kind": "respond", "status": 500, "bogus": 1})
    )
    .is_err());
}
