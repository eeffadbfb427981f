//! The rules. One function per kind of event; each returns a [`Decision`] and
//! touches nothing but its arguments.

use super::steps::{
    finalise, meta_at, ms, park, reschedule, retry_later, set_reference, submit, unknown,
};
use super::{Action, Alert, Decision, Event, Health, NotSent, Now, Policy, Report, Trust, Write};
use crate::domain::Outcome;
use crate::domain::State;
use crate::ledger::{Payout, PayoutMeta};

/// How many times a payout is submitted again on an inquiry's proof that nothing
/// earlier could have moved money ([`Outcome::NeverReached`]), without using the
/// `max_resubmits` allowance.
pub const MAX_CERTAIN_RESUBMITS: u32 = 3;

/// A job that finds `not_before`/`next_check_at` this close to now runs anyway:
/// delayed jobs have one-second resolution and may run up to a second early
/// (APALIS.md).
const EARLY_SLACK_MS: i64 = 1_500;

/// What `event` means for payout `p` under `policy` at `now`. Pure.
pub fn decide(p: &Payout, event: &Event, policy: &Policy, now: Now) -> Decision {
    match event {
        Event::Picked { paused_until } => picked(p, *paused_until, policy, now),
        Event::Submitted(o) => submitted(p, o, policy, now),
        Event::NotSent(n) => not_sent(p, n, policy, now),
        Event::Inquired(o) => inquired(p, o, policy, now),
        Event::HistoryRow {
            report,
            amount_matches,
        } => history_row(p, *report, *amount_matches, now),
        Event::Callback { trust, report } => callback(p, *trust, *report, policy, now),
        Event::Operator { to } => operator(p, *to, now),
        Event::Redrive => redrive(p, policy, now),
        Event::Adopted => adopted(p, policy, now),
    }
}

/// A record created for a transaction the provider already has: inquire at once.
fn adopted(p: &Payout, policy: &Policy, now: Now) -> Decision {
    if p.state != State::Accepted || p.meta.submissions > 0 {
        return Decision::record(format!(
            "adoption ignored: the payout is {} and was submitted {} times",
            p.state, p.meta.submissions
        ));
    }
    let mut w = unknown(p, meta_at(p, now), policy, now);
    w.due_at = Some(now.ms);
    w.meta.next_check_at = Some(now.ms);
    Decision::write(
        w,
        Action::Inquire,
        "adopted from the provider's books: inquiring, never sending",
    )
}

fn picked(p: &Payout, paused_until: Option<i64>, policy: &Policy, now: Now) -> Decision {
    if p.state.is_final() {
        return Decision::nothing(format!("already {}", p.state));
    }
    if p.meta.dead {
        return Decision::nothing("parked in the dead-letter list");
    }
    let paused = paused_until.filter(|u| *u > now.ms);
    match p.state {
        State::Accepted => {
            if let Some(until) = paused {
                let mut meta = meta_at(p, now);
                meta.not_sent_since.get_or_insert(now.ms);
                meta.not_before = Some(until);
                meta.next_check_at = Some(until);
                return Decision::write(
                    Write {
                        to: State::Accepted,
                        meta,
                        due_at: Some(until + ms(policy.stuck_after)),
                        allocate_external_id: false,
                        park: None,
                    },
                    Action::Enqueue { at: until },
                    "provider paused (circuit open): not attempted, no retry spent",
                );
            }
            if p.meta
                .not_before
                .is_some_and(|t| t > now.ms + EARLY_SLACK_MS)
            {
                return Decision::nothing("backoff pending; its delayed job brings it back");
            }
            submit(p, meta_at(p, now), policy, now, "submit")
        }
        State::Submitting => {
            let since = p.meta.submitted_at.unwrap_or(p.meta.updated_at);
            if now.ms - since < ms(policy.submit_grace) {
                return Decision::nothing("SUBMITTING within the grace: possibly in flight");
            }
            let w = unknown(p, meta_at(p, now), policy, now);
            Decision::write(
                w,
                Action::Inquire,
                "found SUBMITTING past the grace period (crash mid-send?): outcome unknown, inquiring",
            )
        }
        State::Pending | State::Unknown | State::NeedsReview => {
            if let Some(until) = paused {
                let mut meta = meta_at(p, now);
                meta.next_check_at = Some(until);
                return Decision::write(
                    Write {
                        to: p.state,
                        meta,
                        due_at: Some(until),
                        allocate_external_id: false,
                        park: None,
                    },
                    Action::None,
                    "provider paused (circuit open): inquiry postponed",
                );
            }
            // An inquiry job runs whenever it was queued: at most one is queued per
            // payout at a time (the inquiry marker), so early ones cannot multiply.
            Decision {
                action: Action::Inquire,
                ..Decision::nothing("due: inquire")
            }
        }
        State::Succeeded | State::Cancelled | State::Failed => {
            Decision::nothing(format!("already {}", p.state))
        }
    }
}

fn submitted(p: &Payout, o: &Outcome, policy: &Policy, now: Now) -> Decision {
    if p.state != State::Submitting {
        return Decision::record(format!(
            "late answer: the payout is {} by now; the answer stays in the audit trail",
            p.state
        ));
    }
    let mut meta = meta_at(p, now);
    let reached = !matches!(
        o,
        Outcome::Retryable { .. } | Outcome::Refused { .. } | Outcome::NeverReached { .. }
    );
    if reached {
        meta.not_sent_since = None;
        meta.retries = 0;
    }
    match o {
        Outcome::Success { reference } => {
            set_reference(&mut meta, reference);
            finalise(meta, State::Succeeded, "provider: success").health(Health::Answered)
        }
        Outcome::Cancelled { reference, reason } => {
            set_reference(&mut meta, reference);
            meta.response_message = Some(reason.clone());
            finalise(meta, State::Cancelled, "provider: cancelled").health(Health::Answered)
        }
        Outcome::FinalFailure { code, message } => {
            meta.response_code = Some(code.clone());
            meta.response_message = Some(message.clone());
            finalise(meta, State::Failed, "provider refused the transaction")
                .health(Health::Answered)
        }
        Outcome::InProgress { reference } => {
            set_reference(&mut meta, reference);
            meta.unresolved_since.get_or_insert(now.ms);
            meta.checks = 0;
            let first = now.ms + ms(policy.check_delay(p.id.provider, 0));
            meta.next_check_at = Some(first);
            Decision::write(
                Write {
                    to: State::Pending,
                    meta,
                    due_at: Some(first),
                    allocate_external_id: false,
                    park: None,
                },
                Action::None,
                "provider: in progress",
            )
            .health(Health::Answered)
        }
        // A submission answered "not found" is not a definite no: inquire.
        Outcome::Unknown { .. } | Outcome::NotFound => Decision::write(
            unknown(p, meta, policy, now),
            Action::None,
            "outcome unknown: inquiring, never resending",
        ),
        Outcome::Retryable { delay_hint, reason } => {
            retry_later(p, meta, *delay_hint, policy, now, reason).health(Health::Unreachable)
        }
        // Never an answer to a send; if it were, nothing reached the provider.
        Outcome::NeverReached { reason } => retry_later(p, meta, None, policy, now, reason),
        Outcome::Refused { code, message } => retry_later(
            p,
            meta,
            None,
            policy,
            now,
            &format!("refused {code}: {message}"),
        )
        .alert(Alert::SubmissionRefused)
        .health(Health::Refusing),
    }
}

fn not_sent(p: &Payout, n: &NotSent, policy: &Policy, now: Now) -> Decision {
    if p.state != State::Submitting {
        return Decision::record(format!("not sent, and the payout is {} by now", p.state));
    }
    let mut meta = meta_at(p, now);
    match n {
        NotSent::Invalid(why) => {
            meta.response_code = Some("INVALID_REQUEST".into());
            meta.response_message = Some(why.clone());
            finalise(meta, State::Failed, format!("not sent: {why}"))
        }
        NotSent::Config(why) => park(
            meta,
            State::Accepted,
            format!("provider configuration: {why}"),
        )
        .health(Health::Refusing),
        NotSent::Fenced {
            reason,
            sent_before: false,
        } => retry_later(p, meta, None, policy, now, &format!("fenced: {reason}"))
            .alert(Alert::Fenced),
        NotSent::Fenced {
            reason,
            sent_before: true,
        } => {
            meta.response_message = Some(format!("fenced after a first step: {reason}"));
            Decision::write(
                unknown(p, meta, policy, now),
                Action::None,
                format!("fenced after a first step was sent ({reason}): inquiring"),
            )
            .alert(Alert::Fenced)
        }
    }
}

fn inquired(p: &Payout, o: &Outcome, policy: &Policy, now: Now) -> Decision {
    if !matches!(
        p.state,
        State::Pending | State::Unknown | State::NeedsReview
    ) {
        return Decision::record(format!("inquiry answer ignored: the payout is {}", p.state));
    }
    let mut meta = meta_at(p, now);
    meta.checks += 1;
    match o {
        Outcome::Success { reference } => {
            set_reference(&mut meta, reference);
            finalise(meta, State::Succeeded, "inquiry: success").health(Health::Answered)
        }
        Outcome::Cancelled { reference, reason } => {
            set_reference(&mut meta, reference);
            meta.response_message = Some(reason.clone());
            finalise(meta, State::Cancelled, "inquiry: cancelled").health(Health::Answered)
        }
        Outcome::FinalFailure { code, message } => {
            meta.response_code = Some(code.clone());
            meta.response_message = Some(message.clone());
            finalise(meta, State::Failed, "inquiry: the transaction failed")
                .health(Health::Answered)
        }
        Outcome::InProgress { reference } => {
            set_reference(&mut meta, reference);
            let to = if p.state == State::Unknown {
                State::Pending
            } else {
                p.state
            };
            reschedule(p, meta, to, policy, now, None, "inquiry: in progress")
                .health(Health::Answered)
        }
        Outcome::NotFound => not_found(p, meta, policy, now, false).health(Health::Answered),
        Outcome::NeverReached { .. } => not_found(p, meta, policy, now, true),
        Outcome::Unknown { reason } => reschedule(
            p,
            meta,
            p.state,
            policy,
            now,
            None,
            format!("inquiry inconclusive: {reason}"),
        ),
        Outcome::Retryable { reason, .. } => reschedule(
            p,
            meta,
            p.state,
            policy,
            now,
            None,
            format!("inquiry not answered: {reason}"),
        )
        .health(Health::Unreachable),
        Outcome::Refused { code, message } if code == super::NO_STATUS_INQUIRY => {
            no_status_inquiry(p, meta, policy, now, message)
        }
        Outcome::Refused { code, message } => reschedule(
            p,
            meta,
            p.state,
            policy,
            now,
            None,
            format!("inquiry refused ({code}: {message}): the payout stays as it was"),
        )
        .alert(Alert::InquiryRefused)
        .health(Health::Refusing),
    }
}

/// The provider has no status inquiry for this payout (Singapay v1.0): asking again
/// can never answer, and it says nothing about the provider's health. An UNKNOWN
/// payout goes to an operator now, with its history as the evidence (a callback may
/// still settle it); a PENDING one (the provider acknowledged it) waits for its
/// callback until the review horizon. Never a resend (rule 4).
fn no_status_inquiry(
    p: &Payout,
    meta: PayoutMeta,
    policy: &Policy,
    now: Now,
    why: &str,
) -> Decision {
    let to = match p.state {
        State::Unknown => State::NeedsReview,
        other => other,
    };
    let note = if to == State::NeedsReview && p.state != State::NeedsReview {
        format!("no status inquiry ({why}): the outcome cannot be asked; needs an operator")
    } else {
        format!("no status inquiry ({why}): waiting for a callback")
    };
    reschedule(p, meta, to, policy, now, None, note)
}

/// The provider has no record of the payout. `certain`: no earlier submission can
/// have moved money ([`Outcome::NeverReached`]), so a new one needs neither the
/// grace period nor a resubmission of the allowance; the horizon still holds.
fn not_found(p: &Payout, meta: PayoutMeta, policy: &Policy, now: Now, certain: bool) -> Decision {
    if p.state != State::Unknown {
        // PENDING: the provider acknowledged it earlier; keep asking.
        return reschedule(p, meta, p.state, policy, now, None, "inquiry: not found");
    }
    let unresolved = meta.unresolved_since.unwrap_or(now.ms);
    let past_horizon = now.ms - unresolved >= ms(policy.horizon_for(p.id.provider));
    // Bounded (issue 16): a provider that keeps answering the submission without
    // the reference its inquiry needs (NICEPAY's unnamed duplicate registration)
    // would otherwise be submitted again at every check until the horizon. Past
    // the bound a certain answer is a plain "not found": the allowance, then an
    // operator.
    if certain && !past_horizon && meta.certain_resubmits < MAX_CERTAIN_RESUBMITS {
        let mut meta = meta;
        meta.certain_resubmits += 1;
        return submit(
            p,
            meta,
            policy,
            now,
            "no earlier submission can have moved money: submitting again with the same reference",
        );
    }
    if meta.resubmits >= policy.max_resubmits || past_horizon {
        let mut meta = meta;
        meta.unresolved_since.get_or_insert(now.ms);
        let next = now.ms + ms(policy.check_delay(p.id.provider, meta.checks));
        meta.next_check_at = Some(next);
        return Decision::write(
            Write {
                to: State::NeedsReview,
                meta,
                due_at: Some(next),
                allocate_external_id: false,
                park: None,
            },
            Action::None,
            if past_horizon {
                "inquiry: not found, past the review horizon: needs an operator"
            } else {
                "inquiry: still not found after the allowed resubmissions: needs an operator"
            },
        )
        .alert(Alert::NotFoundAfterResubmit);
    }
    let unknown_since = meta.unknown_since.unwrap_or(now.ms);
    let grace_end = unknown_since + ms(policy.not_found_grace);
    if now.ms >= grace_end {
        let mut meta = meta;
        meta.resubmits += 1;
        return submit(
            p,
            meta,
            policy,
            now,
            "provider has no record after the grace period: resubmitting with the same reference",
        );
    }
    reschedule(
        p,
        meta,
        p.state,
        policy,
        now,
        Some(grace_end),
        "inquiry: not found, within the grace period",
    )
}

fn history_row(p: &Payout, report: Report, amount_matches: bool, now: Now) -> Decision {
    if !matches!(
        p.state,
        State::Pending | State::Unknown | State::NeedsReview
    ) {
        // Never SUBMITTING (a page may predate a resubmission) nor ACCEPTED.
        return Decision::nothing(format!("history row ignored: the payout is {}", p.state));
    }
    if !amount_matches {
        return Decision::record("history row ignored: its amount differs from the payout's")
            .alert(Alert::AmountMismatch);
    }
    match report {
        Report::Final(to) if to.is_final() => {
            finalise(meta_at(p, now), to, "settled from the transaction history")
        }
        Report::Final(_) | Report::InProgress => Decision::nothing("history: still in progress"),
    }
}

fn callback(p: &Payout, trust: Trust, report: Report, policy: &Policy, now: Now) -> Decision {
    if p.state.is_final() {
        return match report {
            Report::Final(s) if s == p.state => Decision::record(format!("duplicate: already {s}")),
            Report::Final(s) => Decision::record(format!(
                "reports {s} but the payout is {}: final states never change",
                p.state
            ))
            .alert(Alert::Contradiction),
            Report::InProgress => Decision::record(format!(
                "reports in progress but the payout is {}: late, ignored",
                p.state
            )),
        };
    }
    match p.state {
        // Never sent (or sent and classified "nothing reached the provider"), yet the
        // provider knows the reference: stop the send and ask.
        State::Accepted => {
            let mut meta = meta_at(p, now);
            meta.dead = false;
            let mut w = unknown(p, meta, policy, now);
            w.due_at = Some(now.ms);
            w.meta.next_check_at = Some(now.ms);
            Decision::write(
                w,
                Action::Inquire,
                "a callback names a payout not sent yet: send stopped, inquiring",
            )
            .alert(Alert::CallbackBeforeSend)
        }
        State::Submitting => match (trust, report) {
            (Trust::Body, Report::Final(to)) if to.is_final() => {
                finalise(meta_at(p, now), to, "settled by a verified callback")
            }
            _ => Decision::record(
                "callback while the submission is in flight: its answer or recovery settles it",
            ),
        },
        State::Pending | State::Unknown | State::NeedsReview => match (trust, report) {
            (Trust::Body, Report::Final(to)) if to.is_final() => {
                finalise(meta_at(p, now), to, "settled by a verified callback")
            }
            (Trust::Body, _) if p.state == State::Unknown => {
                let mut meta = meta_at(p, now);
                meta.unknown_since = None;
                let due = meta.next_check_at.unwrap_or(now.ms);
                Decision::write(
                    Write {
                        to: State::Pending,
                        meta,
                        due_at: Some(due),
                        allocate_external_id: false,
                        park: None,
                    },
                    Action::None,
                    "callback: the provider has it, in progress",
                )
            }
            (Trust::Body, _) => Decision::record("callback: in progress"),
            (Trust::HeadersOnly, _) => {
                let mut meta = meta_at(p, now);
                meta.next_check_at = Some(now.ms);
                Decision::write(
                    Write {
                        to: p.state,
                        meta,
                        due_at: Some(now.ms),
                        allocate_external_id: false,
                        park: None,
                    },
                    Action::Inquire,
                    "the callback's signature does not cover its body: inquiring instead of settling",
                )
            }
        },
        State::Succeeded | State::Cancelled | State::Failed => {
            Decision::nothing(format!("already {}", p.state))
        }
    }
}

fn operator(p: &Payout, to: State, now: Now) -> Decision {
    if !to.is_final() {
        return Decision::nothing("an operator resolves to SUCCEEDED, CANCELLED or FAILED");
    }
    if p.state != State::NeedsReview {
        return Decision::nothing(format!(
            "payout is {}, only NEEDS_REVIEW payouts are resolved by hand",
            p.state
        ));
    }
    finalise(meta_at(p, now), to, "resolved by an operator")
}

fn redrive(p: &Payout, policy: &Policy, now: Now) -> Decision {
    if p.state.is_final() {
        return Decision::nothing(format!("already {}", p.state));
    }
    let mut meta = meta_at(p, now);
    meta.dead = false;
    meta.retries = 0;
    meta.not_sent_since = None;
    meta.not_before = None;
    meta.next_check_at = Some(now.ms);
    let due = match p.state {
        State::Accepted => now.ms + ms(policy.stuck_after),
        _ => now.ms,
    };
    Decision::write(
        Write {
            to: p.state,
            meta,
            due_at: Some(due),
            allocate_external_id: false,
            park: None,
        },
        Action::Enqueue { at: now.ms },
        "re-driven from the dead-letter list",
    )
}
