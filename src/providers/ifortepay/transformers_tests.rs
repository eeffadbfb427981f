use serde_json::{json, Value};

use super::*;

fn answer(status: u16, body: Value) -> SnapAnswer {
    SnapAnswer::new(status, None, Some(body))
}

#[test]
fn status_table() {
    let r = Some("STI1".to_owned());
    assert_eq!(
        status_outcome(IfortepayStatus::Init, r.clone(), String::new()),
        Outcome::InProgress {
            reference: r.clone()
        }
    );
    assert_eq!(
        status_outcome(IfortepayStatus::Success, r.clone(), String::new()),
        Outcome::Success {
            reference: r.clone()
        }
    );
    assert_eq!(
        status_outcome(IfortepayStatus::Cancelled, r.clone(), "x".into()),
        Outcome::Cancelled {
            reference: r,
            reason: "x".into()
        }
    );
    assert!("DONE".parse::<IfortepayStatus>().is_err());
}

fn refused(code: &str) -> impl Fn(&Outcome) -> bool + '_ {
    move |o| matches!(o, Outcome::Refused { code: c, .. } if c == code)
}

#[test]
fn a_refused_inquiry_is_not_a_failed_transfer() {
    // Review C1: a bad signature on the inquiry once marked the payout FAILED.
    let o = history_detail_outcome(&answer(401, json!({"responseCode": "4011300"})));
    assert_eq!(
        o,
        Outcome::Refused {
            code: "4011300".into(),
            message: "(no responseMessage)".into()
        }
    );
    // A WAF's HTML 403 (no JSON at all), on both inquiries.
    let html = SnapAnswer::new(403, None, None);
    assert!(refused("HTTP403")(&history_detail_outcome(&html)));
    assert!(refused("HTTP403")(&debit_status_outcome(&html)));
    // Every request-level "no" on the inquiry is a refusal, even a business code.
    for (status, code) in [
        (400, "4001301"),
        (400, "4001302"),
        (401, "4011302"),
        (403, "4031314"),
        (404, "4041311"),
        (404, "4041300"),
        (404, "4041318"),
    ] {
        let o = history_detail_outcome(&answer(status, json!({"responseCode": code})));
        assert!(refused(code)(&o), "{code}: {o:?}");
    }
    let clock = answer(
        400,
        json!({"responseCode": "4001301", "responseMessage": "Invalid Field Format X-TIMESTAMP"}),
    );
    assert_eq!(history_detail_outcome(&clock).label(), "refused");
    // Only the record's own status finalises.
    let cancelled = answer(
        200,
        json!({"responseCode": "2001300", "status": "CANCELLED", "additionalInfo": {"cancelledReason": "Bank rejected"}}),
    );
    assert_eq!(
        history_detail_outcome(&cancelled),
        Outcome::Cancelled {
            reference: None,
            reason: "Bank rejected".into()
        }
    );
    // Could not ask: ask again later.
    for code in ["5001300", "5041300", "4291300"] {
        assert_eq!(
            history_detail_outcome(&answer(500, json!({"responseCode": code}))).label(),
            "retryable",
            "{code}"
        );
    }
    assert_eq!(
        history_detail_outcome(&answer(401, json!({"responseCode": "4011301"}))).label(),
        "retryable",
        "token rejected after a refresh"
    );
}

#[test]
fn not_found_only_from_the_status_service() {
    // Review M5: 404xx01 is "never received" only from the service asked.
    let own = answer(404, json!({"responseCode": "4041301"}));
    assert_eq!(history_detail_outcome(&own), Outcome::NotFound);
    for code in ["4041801", "4047301", "4040001", "4045501"] {
        let o = history_detail_outcome(&answer(404, json!({"responseCode": code})));
        assert!(refused(code)(&o), "{code}: {o:?}");
    }
    let own = answer(
        404,
        json!({"responseCode": "4045501", "latestTransactionStatus": "07"}),
    );
    assert_eq!(debit_status_outcome(&own), Outcome::NotFound);
    for code in ["4041301", "4047301", "4045401"] {
        let o = debit_status_outcome(&answer(404, json!({"responseCode": code})));
        assert!(refused(code)(&o), "{code}: {o:?}");
    }
    // A submission never reads 404xx01 as final: inquire.
    let t = transfer_outcome(&answer(404, json!({"responseCode": "4041801"})));
    assert_eq!(t.label(), "unknown", "{t:?}");
    let (d, _) = debit_outcome(&answer(404, json!({"responseCode": "4045401"})), false);
    assert_eq!(d.label(), "unknown", "{d:?}");
}

#[test]
fn submissions_refused_versus_failed() {
    // A route's 404 is no statement about the payment.
    let (o, charge) = debit_outcome(
        &answer(
            404,
            json!({"responseCode": "4040000", "responseMessage": "Not Found"}),
        ),
        false,
    );
    assert_eq!(
        o,
        Outcome::Refused {
            code: "4040000".into(),
            message: "Not Found".into()
        }
    );
    assert_eq!(charge, None);
    let (o, _) = debit_outcome(&SnapAnswer::new(404, None, None), true);
    assert!(refused("HTTP404")(&o), "{o:?}");
    for (status, code, message) in [
        (401, "4011800", "Unauthorized. Signature"),
        (401, "4011802", "Unauthorized"),
        (404, "4041816", "Partner Not Found"),
        (404, "4041817", "Invalid Terminal"),
        (404, "4041818", "Inconsistent Request"),
        (400, "4001801", "Invalid Field Format X-EXTERNAL-ID"),
        (400, "4001802", "Invalid Mandatory Field CHANNEL-ID"),
    ] {
        let o = transfer_outcome(&answer(
            status,
            json!({"responseCode": code, "responseMessage": message}),
        ));
        assert!(refused(code)(&o), "{code}: {o:?}");
    }
    for status in [400, 401, 403, 404, 405, 451] {
        let o = transfer_outcome(&SnapAnswer::new(status, None, None));
        assert_eq!(o.label(), "refused", "HTTP {status}");
    }
    // 408, 409, 5xx and a 2xx without a code may hide a booked transfer.
    for status in [200, 408, 409, 500, 502, 504] {
        let o = transfer_outcome(&SnapAnswer::new(status, None, None));
        assert_eq!(o.label(), "unknown", "HTTP {status}");
    }
    // The business answers stay final.
    let funds = answer(
        403,
        json!({"responseCode": "4031814", "responseMessage": "Insufficient Funds"}),
    );
    assert_eq!(
        transfer_outcome(&funds),
        Outcome::FinalFailure {
            code: "4031814".into(),
            message: "Insufficient Funds".into()
        }
    );
    for code in ["4001801", "4001802", "4031802", "4031815", "4041811"] {
        let o = transfer_outcome(&answer(
            400,
            json!({"responseCode": code, "responseMessage": "amount.value"}),
        ));
        assert_eq!(o.label(), "final_failure", "{code}");
    }
    let (o, _) = debit_outcome(&answer(403, json!({"responseCode": "4035414"})), false);
    assert_eq!(o.label(), "final_failure");
}
