//! The lifecycle's invariants, over every state × event × outcome: enumerated
//! exhaustively for the interesting points, and with proptest over arbitrary
//! bookkeeping and clocks.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::domain::{Money, PartnerReference, Provider, State};
use crate::ledger::{Payout, PayoutDetails, PayoutId, PayoutKind, PayoutMeta};
use crate::retry::Backoff;

const GRACE_MS: i64 = 120_000;
const HORIZON_MS: i64 = 48 * 3600 * 1000;

fn policy() -> Policy {
    Policy {
        backoff: Backoff {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
        },
        retry_window: Duration::from_secs(1800),
        schedule: [10, 30, 60, 300, 900]
            .iter()
            .map(|s| Duration::from_secs(*s))
            .collect(),
        horizon: Duration::from_millis(HORIZON_MS as u64),
        per_provider: Default::default(),
        not_found_grace: Duration::from_millis(GRACE_MS as u64),
        max_resubmits: 1,
        submit_grace: Duration::from_secs(50),
        send_deadline: Duration::from_secs(35),
        stuck_after: Duration::from_secs(300),
        ledger_keeps_history: true,
    }
}

fn payout(state: State, meta: PayoutMeta, provider: Provider) -> Payout {
    let reference = PartnerReference::parse("REF0001").expect("valid reference");
    Payout {
        id: PayoutId::new(provider, reference.clone()),
        state,
        version: 7,
        details: PayoutDetails {
            kind: PayoutKind::Transfer,
            provider,
            partner_reference: reference,
            amount: Money::parse("15000.00", "amount").expect("valid amount"),
            beneficiary: None,
            remark: None,
            payment: None,
            verify_beneficiary_name: false,
        },
        meta,
        external_ids: Vec::new(),
    }
}

fn outcomes() -> Vec<Outcome> {
    vec![
        Outcome::Success {
            reference: Some("R1".into()),
        },
        Outcome::InProgress { reference: None },
        Outcome::Cancelled {
            reference: None,
            reason: "cancelled".into(),
        },
        Outcome::FinalFailure {
            code: "4031814".into(),
            message: "Insufficient Funds".into(),
        },
        Outcome::Retryable {
            delay_hint: None,
            reason: "connect refused".into(),
        },
        Outcome::Unknown {
            reason: "timeout".into(),
        },
        Outcome::NotFound,
        Outcome::NeverReached {
            reason: "no reference".into(),
        },
        Outcome::Refused {
            code: "4011300".into(),
            message: "Unauthorized. Signature".into(),
        },
    ]
}

fn reports() -> Vec<Report> {
    let mut v: Vec<Report> = State::ALL.into_iter().map(Report::Final).collect();
    v.push(Report::InProgress);
    v
}

/// Every event kind with every outcome, report, trust and operator target.
fn events() -> Vec<Event> {
    let mut v = vec![
        Event::Picked { paused_until: None },
        Event::Picked {
            paused_until: Some(i64::MAX / 4),
        },
        Event::Redrive,
        Event::Adopted,
        Event::NotSent(NotSent::Invalid("amount: too small".into())),
        Event::NotSent(NotSent::Config("no key".into())),
        Event::NotSent(NotSent::Fenced {
            reason: "late".into(),
            sent_before: false,
        }),
        Event::NotSent(NotSent::Fenced {
            reason: "late".into(),
            sent_before: true,
        }),
    ];
    for o in outcomes() {
        v.push(Event::Submitted(o.clone()));
        v.push(Event::Inquired(o));
    }
    for r in reports() {
        for trust in [Trust::Body, Trust::HeadersOnly] {
            v.push(Event::Callback { trust, report: r });
        }
        for amount_matches in [true, false] {
            v.push(Event::HistoryRow {
                report: r,
                amount_matches,
            });
        }
    }
    for to in State::ALL {
        v.push(Event::Operator { to });
    }
    v
}

/// The invariants every decision must keep.
fn check(p: &Payout, e: &Event, pol: &Policy, now: Now, d: &Decision) {
    let ctx = || format!("{} × {e:?} → {d:?}", p.state);
    if let Some(w) = &d.write {
        // Forward only: the same table the Lua script enforces.
        assert!(p.state.can_move_to(w.to), "forbidden edge: {}", ctx());
        // Every non-final, non-parked payout stays findable in the due index.
        if !w.to.is_final() && w.park.is_none() {
            assert!(
                w.due_at.is_some(),
                "non-final without a due time: {}",
                ctx()
            );
        }
        // A submission always persists a fresh X-EXTERNAL-ID before sending.
        assert_eq!(
            w.to == State::Submitting && p.state != State::Submitting,
            w.allocate_external_id,
            "{}",
            ctx()
        );
        // Resubmissions are capped (rule 12).
        if w.meta.resubmits > p.meta.resubmits {
            assert!(w.meta.resubmits <= pol.max_resubmits, "{}", ctx());
        }
        if w.park.is_some() {
            assert!(w.meta.dead, "{}", ctx());
        }
        // A refused request never finalises (rule 9).
        if matches!(
            e,
            Event::Inquired(Outcome::Refused { .. }) | Event::Submitted(Outcome::Refused { .. })
        ) {
            assert!(!w.to.is_final(), "refusal finalised: {}", ctx());
        }
        // Callbacks: never from the body without a body signature, never on a
        // payout never submitted (rule 10).
        if let Event::Callback { trust, .. } = e {
            if w.to.is_final() {
                assert_eq!(*trust, Trust::Body, "{}", ctx());
                assert_ne!(p.state, State::Accepted, "{}", ctx());
            }
        }
        // History rows settle only unresolved payouts, never a submission in flight.
        if let Event::HistoryRow { .. } = e {
            assert!(
                matches!(
                    p.state,
                    State::Pending | State::Unknown | State::NeedsReview
                ),
                "{}",
                ctx()
            );
        }
    }
    if p.state.is_final() {
        assert!(d.write.is_none(), "final state changed: {}", ctx());
        assert!(matches!(d.action, Action::None), "{}", ctx());
    }
    // Never resend while the outcome is unknown (rule 4, rule 12).
    if let Action::Send { .. } = d.action {
        let w = d.write.as_ref().expect("a send follows a write");
        assert_eq!(w.to, State::Submitting, "{}", ctx());
        match p.state {
            State::Accepted => {
                assert!(matches!(e, Event::Picked { .. }), "{}", ctx());
                assert!(!p.meta.dead, "{}", ctx());
            }
            State::Unknown => {
                match e {
                    // Certain that nothing moved: no grace, no allowance used.
                    Event::Inquired(Outcome::NeverReached { .. }) => {
                        assert_eq!(w.meta.resubmits, p.meta.resubmits, "{}", ctx());
                    }
                    Event::Inquired(Outcome::NotFound) => {
                        let since = p.meta.unknown_since.unwrap_or(now.ms);
                        assert!(
                            now.ms - since >= GRACE_MS,
                            "resent within the grace: {}",
                            ctx()
                        );
                        assert!(p.meta.resubmits < pol.max_resubmits, "{}", ctx());
                    }
                    other => panic!("resent from UNKNOWN on {other:?}: {}", ctx()),
                }
                let unresolved = p.meta.unresolved_since.unwrap_or(now.ms);
                assert!(now.ms - unresolved < HORIZON_MS, "{}", ctx());
            }
            other => panic!("send from {other}: {}", ctx()),
        }
    }
    // A dead payout is only woken by a re-drive or a provider report.
    if p.meta.dead && matches!(e, Event::Picked { .. }) {
        assert!(d.write.is_none(), "{}", ctx());
    }
}

fn meta_strategy() -> impl Strategy<Value = PayoutMeta> {
    let t = 0i64..400_000_000i64;
    (
        (0u32..4, 0u32..12, 0u32..8, 0u32..3, any::<bool>()),
        (
            proptest::option::of(t.clone()),
            proptest::option::of(t.clone()),
            proptest::option::of(t.clone()),
            proptest::option::of(t.clone()),
            proptest::option::of(t.clone()),
            proptest::option::of(t),
        ),
        proptest::option::of("[A-Z0-9]{4,8}"),
    )
        .prop_map(
            |(
                (submissions, retries, checks, resubmits, dead),
                (submitted_at, unresolved, unknown_since, next_check, not_sent, not_before),
                reference,
            )| PayoutMeta {
                created_at: 0,
                updated_at: 0,
                submissions,
                retries,
                checks,
                provider_reference: reference,
                response_code: None,
                response_message: None,
                submitted_at,
                unresolved_since: unresolved,
                unknown_since,
                next_check_at: next_check,
                dead,
                resubmits,
                certain_resubmits: 0,
                not_sent_since: not_sent,
                not_before,
            },
        )
}

#[test]
fn every_state_times_every_event_keeps_the_invariants() {
    let pol = policy();
    let events = events();
    let metas = [
        PayoutMeta::default(),
        PayoutMeta {
            unknown_since: Some(0),
            unresolved_since: Some(0),
            submitted_at: Some(0),
            ..Default::default()
        },
        PayoutMeta {
            unknown_since: Some(0),
            unresolved_since: Some(0),
            resubmits: 1,
            ..Default::default()
        },
        PayoutMeta {
            dead: true,
            ..Default::default()
        },
    ];
    let nows = [0, GRACE_MS - 1, GRACE_MS, HORIZON_MS + 1];
    let mut n = 0;
    for state in State::ALL {
        for e in &events {
            for meta in &metas {
                for now in nows {
                    let p = payout(state, meta.clone(), Provider::named("ifortepay"));
                    let now = Now::at(now);
                    let d = decide(&p, e, &pol, now);
                    check(&p, e, &pol, now, &d);
                    n += 1;
                }
            }
        }
    }
    assert!(n > 8 * 60 * 4 * 4 - 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn decisions_keep_the_invariants(
        state in proptest::sample::select(State::ALL.to_vec()),
        e in proptest::sample::select(events()),
        meta in meta_strategy(),
        now in 0i64..500_000_000,
        jitter in 0.0f64..1.0,
        provider in proptest::sample::select(vec![Provider::named("ifortepay"), Provider::named("nicepay"), Provider::named("singapay")]),
    ) {
        let pol = policy();
        let p = payout(state, meta, provider);
        let now = Now { ms: now, jitter };
        let d = decide(&p, &e, &pol, now);
        check(&p, &e, &pol, now, &d);
    }
}

#[test]
fn a_refused_status_check_leaves_a_pending_payout_pending_and_alerts() {
    let p = payout(
        State::Pending,
        PayoutMeta {
            unresolved_since: Some(0),
            ..Default::default()
        },
        Provider::named("ifortepay"),
    );
    let refused = Outcome::Refused {
        code: "HTTP403".into(),
        message: "<html>Forbidden</html>".into(),
    };
    let d = decide(&p, &Event::Inquired(refused), &policy(), Now::at(60_000));
    assert_eq!(d.next_state(p.state), State::Pending);
    assert_eq!(d.alert, Some(Alert::InquiryRefused));
    assert_eq!(d.health, Some(Health::Refusing));
}

#[test]
fn not_found_resubmits_once_then_needs_review() {
    let pol = policy();
    let meta = PayoutMeta {
        unknown_since: Some(0),
        unresolved_since: Some(0),
        ..Default::default()
    };
    let p = payout(State::Unknown, meta, Provider::named("ifortepay"));
    let d = decide(
        &p,
        &Event::Inquired(Outcome::NotFound),
        &pol,
        Now::at(GRACE_MS),
    );
    assert_eq!(d.action, Action::Send { resume: false });
    let w = d.write.expect("resubmission writes");
    assert_eq!(w.meta.resubmits, 1);
    assert_eq!(
        w.meta.checks, 0,
        "the schedule starts again after a resubmission"
    );
    // The resubmission ends UNKNOWN again; the provider still has nothing.
    let again = payout(
        State::Unknown,
        PayoutMeta {
            unknown_since: Some(GRACE_MS),
            ..w.meta
        },
        Provider::named("ifortepay"),
    );
    let d = decide(
        &again,
        &Event::Inquired(Outcome::NotFound),
        &pol,
        Now::at(3 * GRACE_MS),
    );
    assert_eq!(d.next_state(State::Unknown), State::NeedsReview);
    assert_eq!(d.alert, Some(Alert::NotFoundAfterResubmit));
}

#[test]
fn the_first_resubmission_is_due_when_the_grace_ends() {
    let pol = policy();
    let p = payout(
        State::Unknown,
        PayoutMeta {
            unknown_since: Some(0),
            unresolved_since: Some(0),
            checks: 4,
            ..Default::default()
        },
        Provider::named("ifortepay"),
    );
    // Check number 5 would be 900 s later; the grace ends at 120 s.
    let d = decide(
        &p,
        &Event::Inquired(Outcome::NotFound),
        &pol,
        Now::at(100_000),
    );
    let w = d.write.expect("reschedule");
    assert_eq!(w.due_at, Some(GRACE_MS));
}

#[test]
fn a_header_only_callback_never_settles_and_inquires() {
    for state in [State::Pending, State::Unknown, State::NeedsReview] {
        let p = payout(state, PayoutMeta::default(), Provider::named("nicepay"));
        for report in reports() {
            let d = decide(
                &p,
                &Event::Callback {
                    trust: Trust::HeadersOnly,
                    report,
                },
                &policy(),
                Now::at(5_000),
            );
            assert_eq!(d.next_state(state), state);
            assert_eq!(d.action, Action::Inquire);
            assert_eq!(d.write.and_then(|w| w.due_at), Some(5_000));
        }
    }
}

#[test]
fn a_callback_about_an_unsent_payout_stops_the_send() {
    let p = payout(
        State::Accepted,
        PayoutMeta::default(),
        Provider::named("ifortepay"),
    );
    let d = decide(
        &p,
        &Event::Callback {
            trust: Trust::Body,
            report: Report::Final(State::Succeeded),
        },
        &policy(),
        Now::at(1_000),
    );
    assert_eq!(d.next_state(State::Accepted), State::Unknown);
    assert_eq!(d.action, Action::Inquire);
    // …and the UNKNOWN payout is not resent before the grace.
    let w = d.write.expect("write");
    let p = payout(State::Unknown, w.meta, Provider::named("ifortepay"));
    let d = decide(
        &p,
        &Event::Inquired(Outcome::NotFound),
        &policy(),
        Now::at(2_000),
    );
    assert!(!matches!(d.action, Action::Send { .. }));
}

#[test]
fn not_sent_is_retried_for_the_window_then_parked() {
    let pol = policy();
    let retry = Event::Submitted(Outcome::Retryable {
        delay_hint: None,
        reason: "connect refused".into(),
    });
    let p = payout(
        State::Submitting,
        PayoutMeta {
            not_sent_since: Some(0),
            retries: 50,
            ..Default::default()
        },
        Provider::named("singapay"),
    );
    let d = decide(&p, &retry, &pol, Now::at(1_799_000));
    assert!(matches!(d.action, Action::Enqueue { .. }), "{d:?}");
    assert!(d.write.as_ref().is_some_and(|w| w.park.is_none()));
    let d = decide(&p, &retry, &pol, Now::at(1_800_000));
    assert!(d.write.as_ref().is_some_and(|w| w.park.is_some()), "{d:?}");
}

#[test]
fn a_paused_provider_burns_no_attempt() {
    let p = payout(
        State::Accepted,
        PayoutMeta::default(),
        Provider::named("ifortepay"),
    );
    let d = decide(
        &p,
        &Event::Picked {
            paused_until: Some(10_000),
        },
        &policy(),
        Now::at(1_000),
    );
    let w = d.write.expect("reschedule");
    assert_eq!(w.to, State::Accepted);
    assert_eq!(w.meta.retries, 0);
    assert_eq!(w.meta.submissions, 0);
    assert_eq!(d.action, Action::Enqueue { at: 10_000 });
}

#[test]
fn a_submission_refused_for_configuration_is_not_failed() {
    let p = payout(
        State::Submitting,
        PayoutMeta::default(),
        Provider::named("ifortepay"),
    );
    let d = decide(
        &p,
        &Event::Submitted(Outcome::Refused {
            code: "4011800".into(),
            message: "Unauthorized. Signature".into(),
        }),
        &policy(),
        Now::at(1_000),
    );
    assert_eq!(d.next_state(State::Submitting), State::Accepted);
    assert_eq!(d.alert, Some(Alert::SubmissionRefused));
}

/// Regression (CI crash run): a NICEPAY registration answered 500 twice, the
/// payout used its one resubmission on a synthetic "not found" and went to
/// NEEDS_REVIEW although no approve — hence no money — could have moved.
#[test]
fn never_reached_resubmits_without_using_the_allowance_until_the_horizon() {
    let pol = policy();
    let meta = PayoutMeta {
        unknown_since: Some(0),
        unresolved_since: Some(0),
        resubmits: pol.max_resubmits,
        ..Default::default()
    };
    let p = payout(State::Unknown, meta.clone(), Provider::named("nicepay"));
    let never = Event::Inquired(Outcome::NeverReached {
        reason: "no reference recorded".into(),
    });
    // Within the grace and with the allowance spent: still a new submission.
    let d = decide(&p, &never, &pol, Now::at(1_000));
    assert_eq!(d.action, Action::Send { resume: false });
    let w = d.write.expect("a submission writes");
    assert_eq!(w.to, State::Submitting);
    assert_eq!(w.meta.resubmits, pol.max_resubmits);
    // A plain "not found" in the same position goes to an operator.
    let d = decide(
        &p,
        &Event::Inquired(Outcome::NotFound),
        &pol,
        Now::at(GRACE_MS),
    );
    assert_eq!(d.next_state(State::Unknown), State::NeedsReview);
    // Past the horizon even a certain answer goes to an operator.
    let d = decide(&p, &never, &pol, Now::at(HORIZON_MS));
    assert_eq!(d.next_state(State::Unknown), State::NeedsReview);
    assert_eq!(d.action, Action::None);
}

/// Issue 16: NICEPAY answers a duplicate registration without the existing
/// reference, so every inquiry is `NeverReached` and, before the bound, every one
/// led to a new submission until the horizon (hundreds of registrations, UNKNOWN
/// for 48 h). Certain resubmissions are now bounded; then the allowance, then an
/// operator.
#[test]
fn never_reached_resubmissions_are_bounded() {
    let pol = policy();
    let never = Event::Inquired(Outcome::NeverReached {
        reason: "no reference recorded".into(),
    });
    let mut meta = PayoutMeta {
        unknown_since: Some(0),
        unresolved_since: Some(0),
        ..Default::default()
    };
    let mut sends = 0;
    let mut at = 1_000;
    for _ in 0..200 {
        let p = payout(State::Unknown, meta.clone(), Provider::named("nicepay"));
        let d = decide(&p, &never, &pol, Now::at(at));
        let Some(w) = d.write else { break };
        if w.to == State::NeedsReview {
            break;
        }
        if matches!(d.action, Action::Send { .. }) {
            sends += 1;
        }
        // The submission's answer is again unknown: back to UNKNOWN, inquire.
        meta = w.meta;
        meta.unknown_since = Some(at);
        at += GRACE_MS;
    }
    assert!(
        sends <= MAX_CERTAIN_RESUBMITS + pol.max_resubmits,
        "submitted {sends} times on NeverReached"
    );
    let p = payout(State::Unknown, meta, Provider::named("nicepay"));
    let d = decide(&p, &never, &pol, Now::at(at));
    assert_eq!(d.next_state(State::Unknown), State::NeedsReview);
}

/// A provider without a status inquiry (Singapay v1.0): an UNKNOWN payout goes to
/// an operator at once, never resent, and the provider's health is not touched; a
/// PENDING one keeps waiting for its callback.
#[test]
fn no_status_inquiry_sends_unknown_to_review_without_alarming_the_circuit() {
    let no_inquiry = Outcome::Refused {
        code: NO_STATUS_INQUIRY.into(),
        message: "singapay does not support transfer status".into(),
    };
    let meta = PayoutMeta {
        unknown_since: Some(0),
        unresolved_since: Some(0),
        ..Default::default()
    };
    let sp = Provider::named("singapay");
    let p = payout(State::Unknown, meta.clone(), sp);
    let d = decide(
        &p,
        &Event::Inquired(no_inquiry.clone()),
        &policy(),
        Now::at(60_000),
    );
    assert_eq!(d.next_state(p.state), State::NeedsReview);
    assert!(!matches!(d.action, Action::Send { .. }));
    assert_eq!(d.health, None);
    assert_eq!(d.alert, None);
    let p = payout(State::Pending, meta, sp);
    let d = decide(&p, &Event::Inquired(no_inquiry), &policy(), Now::at(60_000));
    assert_eq!(d.next_state(p.state), State::Pending);
    assert_eq!(d.health, None);
}
