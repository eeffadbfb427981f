//! The building blocks every rule in [`decide`](fn@super::decide) is made of: the
//! writes that finalise, submit, retry later, park or reschedule a payout. Pure.

use std::time::Duration;

use super::{Action, Alert, Decision, Now, Policy, Write};
use crate::domain::State;
use crate::ledger::{Payout, PayoutKind, PayoutMeta};

pub(super) fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

pub(super) fn meta_at(p: &Payout, now: Now) -> PayoutMeta {
    let mut m = p.meta.clone();
    m.updated_at = now.ms;
    m
}

pub(super) fn set_reference(meta: &mut PayoutMeta, reference: &Option<String>) {
    if reference.is_some() {
        meta.provider_reference = reference.clone();
    }
}

/// Final state `to`, out of the due index.
pub(super) fn finalise(mut meta: PayoutMeta, to: State, note: impl Into<String>) -> Decision {
    meta.next_check_at = None;
    meta.not_before = None;
    Decision::write(
        Write {
            to,
            meta,
            due_at: None,
            allocate_external_id: false,
            park: None,
        },
        Action::None,
        note,
    )
}

/// Unresolved with an unknown outcome: inquire from the first step of the schedule.
pub(super) fn unknown(p: &Payout, mut meta: PayoutMeta, policy: &Policy, now: Now) -> Write {
    meta.unresolved_since.get_or_insert(now.ms);
    meta.unknown_since = Some(now.ms);
    meta.checks = 0;
    meta.not_before = None;
    let first = now.ms + ms(policy.check_delay(p.id.provider, 0));
    meta.next_check_at = Some(first);
    Write {
        to: State::Unknown,
        meta,
        due_at: Some(first),
        allocate_external_id: false,
        park: None,
    }
}

/// ACCEPTED/UNKNOWN → SUBMITTING with a fresh X-EXTERNAL-ID, then send.
pub(super) fn submit(
    p: &Payout,
    mut meta: PayoutMeta,
    policy: &Policy,
    now: Now,
    note: &str,
) -> Decision {
    meta.submissions += 1;
    meta.submitted_at = Some(now.ms);
    meta.not_before = None;
    meta.checks = 0;
    meta.next_check_at = Some(now.ms + ms(policy.submit_grace));
    // A two-step provider whose first step is recorded continues from there.
    let resume = p.details.kind == PayoutKind::Transfer && meta.provider_reference.is_some();
    Decision::write(
        Write {
            to: State::Submitting,
            meta,
            due_at: Some(now.ms + ms(policy.submit_grace)),
            allocate_external_id: true,
            park: None,
        },
        Action::Send { resume },
        note,
    )
}

/// Nothing reached the provider: back to ACCEPTED with backoff, until the retry
/// window (counted from the first such failure) is spent; then park.
pub(super) fn retry_later(
    p: &Payout,
    mut meta: PayoutMeta,
    hint: Option<Duration>,
    policy: &Policy,
    now: Now,
    why: &str,
) -> Decision {
    let since = *meta.not_sent_since.get_or_insert(now.ms);
    if now.ms - since >= ms(policy.retry_window) {
        return park(
            meta,
            State::Accepted,
            format!(
                "not sent for {} s ({why}): retries exhausted",
                (now.ms - since) / 1000
            ),
        );
    }
    meta.retries += 1;
    let delay = policy
        .backoff
        .delay_unit(meta.retries - 1, hint, now.jitter);
    let at = now.ms + ms(delay);
    meta.not_before = Some(at);
    meta.next_check_at = Some(at);
    let _ = p;
    Decision::write(
        Write {
            to: State::Accepted,
            meta,
            due_at: Some(at + ms(policy.stuck_after)),
            allocate_external_id: false,
            park: None,
        },
        Action::Enqueue { at },
        format!("not sent ({why}); retrying in {} ms", delay.as_millis()),
    )
}

/// Park in the dead-letter list (one atomic step with the letter).
pub(super) fn park(mut meta: PayoutMeta, to: State, reason: String) -> Decision {
    meta.dead = true;
    meta.next_check_at = None;
    Decision::write(
        Write {
            to,
            meta,
            due_at: None,
            allocate_external_id: false,
            park: Some(reason.clone()),
        },
        Action::None,
        format!("dead-lettered: {reason}"),
    )
    .alert(Alert::Parked)
}

/// Keep polling from the schedule; past the horizon → NEEDS_REVIEW. `at_most`
/// pulls the next check earlier (the end of the not-found grace).
pub(super) fn reschedule(
    p: &Payout,
    mut meta: PayoutMeta,
    mut to: State,
    policy: &Policy,
    now: Now,
    at_most: Option<i64>,
    note: impl Into<String>,
) -> Decision {
    let mut note = note.into();
    let since = *meta.unresolved_since.get_or_insert(now.ms);
    if to != State::NeedsReview && now.ms - since >= ms(policy.horizon_for(p.id.provider)) {
        to = State::NeedsReview;
        note = format!("{note}; unresolved past the review horizon: needs an operator");
    }
    let mut next = now.ms + ms(policy.check_delay(p.id.provider, meta.checks));
    if let Some(limit) = at_most {
        next = next.min(limit.max(now.ms));
    }
    meta.next_check_at = Some(next);
    Decision::write(
        Write {
            to,
            meta,
            due_at: Some(next),
            allocate_external_id: false,
            park: None,
        },
        Action::None,
        note,
    )
}
