//! The payout lifecycle: one pure function that says what news about a payout
//! means for it (DESIGN.md rule 8).
//!
//! ```text
//!   read the payout ──► decide(payout, event, policy, now) ──► compare-and-set ──► act
//!        ▲                        (this module, no I/O)          (ledger, Lua)     (send, inquire,
//!        └──────────────── re-read on a lost compare-and-set ◄───────────────────  enqueue, alert)
//! ```
//!
//! Every way news arrives is an [`Event`]: a job picking the payout up, the answer
//! to a submission or an inquiry, a history-list row, a verified callback, an
//! operator's resolution, a dead-letter re-drive. The worker's engine, the
//! reconciliation sweep, the callback receivers and `kirim review resolve` all call
//! [`decide`] and then apply the [`Decision`] with one compare-and-set; none of them
//! holds a rule of its own. The rules, in one place:
//!
//! - **Forward only.** A decision never asks for an edge [`State::can_move_to`]
//!   forbids; final states never change.
//! - **Unknown means inquire, never resend** (rule 4). The only way back to
//!   SUBMITTING from an unresolved payout is a definite "not found" on an UNKNOWN
//!   payout, after the grace, at most `max_resubmits` times (rule 12), and never
//!   past the review horizon.
//! - **A refused request is not a failed transaction** (rule 9). Only a provider
//!   statement about the transaction (a final status, a business refusal of the
//!   submission) finalises; [`Outcome::Refused`] leaves the payout where it was and
//!   alerts.
//! - **Callbacks are trusted only as far as their signature reaches** (rule 10): a
//!   body-covering signature may settle a submitted payout; a header-only one only
//!   makes the payout due for an inquiry now. No callback finalises a payout that
//!   was never submitted; a callback about an ACCEPTED payout stops its send.
//! - **Provider trouble pauses the provider, not the payouts** (rule 13): "not
//!   sent" is retried with backoff for `retry_window`, not a handful of attempts;
//!   while the provider's circuit is open nothing is attempted or burned.

mod decide;
pub mod policy;
mod steps;

#[cfg(test)]
mod tests;

pub use decide::{decide, MAX_CERTAIN_RESUBMITS};
pub use policy::Policy;

use crate::domain::Outcome;
use crate::domain::State;
use crate::ledger::PayoutMeta;

/// "Now", as the decision needs it: the clock, and a uniform draw in `[0, 1)`
/// for backoff jitter (so [`decide`] stays a pure function of its inputs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    pub ms: i64,
    pub jitter: f64,
}

impl Now {
    pub fn at(ms: i64) -> Self {
        Now { ms, jitter: 0.5 }
    }
}

/// The `code` of the [`Outcome::Refused`] the worker records when a provider has no
/// status inquiry for a payout ([`crate::providers::ProviderError::Unsupported`]):
/// not a refusal by the provider, so no alert and no circuit signal.
pub const NO_STATUS_INQUIRY: &str = "NO_STATUS_INQUIRY";

/// How far a callback's signature reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trust {
    /// The signature covers the body (iFortepay, Singapay): its status may settle.
    Body,
    /// The signature covers only headers (NICEPAY: `clientId|X-TIMESTAMP`): the body
    /// may be a replay's, so it only triggers an inquiry.
    HeadersOnly,
}

/// What a callback or a history row says about the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Report {
    Final(State),
    InProgress,
}

/// Why nothing was sent for a submission that was attempted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSent {
    /// The payout's own data cannot be sent (a field breaks a provider rule).
    Invalid(String),
    /// Our configuration (key, URL): the operator must act.
    Config(String),
    /// The send fence refused; `sent_before` when an earlier step of the same
    /// submission reached the provider (NICEPAY registration).
    Fenced { reason: String, sent_before: bool },
}

/// Every way news about a payout arrives.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A job runs for the payout. `paused_until` is set while the provider's
    /// circuit is open.
    Picked { paused_until: Option<i64> },
    /// The answer to the submission this worker sent.
    Submitted(Outcome),
    /// The submission was not sent.
    NotSent(NotSent),
    /// The answer to a status inquiry.
    Inquired(Outcome),
    /// A row of the provider's transaction history list. `amount_matches` is false
    /// when the row's amount differs from the payout's.
    HistoryRow {
        report: Report,
        amount_matches: bool,
    },
    /// A callback whose signature verified.
    Callback { trust: Trust, report: Report },
    /// An operator resolves a NEEDS_REVIEW payout.
    Operator { to: State },
    /// An operator re-drives the payout's dead letter.
    Redrive,
    /// An operator adopts a transaction found in the provider's books but not in
    /// the ledger (`kirim recon adopt`): the record was just created from the
    /// operator's details. The provider already has it, so it is inquired, never sent.
    Adopted,
}

impl Event {
    /// Short name for the audit trail.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Picked { .. } => "picked",
            Event::Submitted(_) => "request",
            Event::NotSent(_) => "not_sent",
            Event::Inquired(_) => "inquiry",
            Event::HistoryRow { .. } => "history",
            Event::Callback { .. } => "callback",
            Event::Operator { .. } => "review",
            Event::Redrive => "dead_letter_retry",
            Event::Adopted => "adopted",
        }
    }
}

/// The ledger write a decision asks for (applied with one compare-and-set).
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub to: State,
    pub meta: PayoutMeta,
    /// Due time in the index, or `None` to leave it (final states).
    pub due_at: Option<i64>,
    /// Allocate and persist an X-EXTERNAL-ID with this write (a submission).
    pub allocate_external_id: bool,
    /// Park the payout: write a dead letter with this reason in the same step.
    pub park: Option<String>,
}

/// What to do once the write (if any) is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing more.
    None,
    /// Send the submission now. `resume`: the first step of a two-step provider is
    /// known to be done (NICEPAY registration), continue from there.
    Send { resume: bool },
    /// Ask the provider for the status now (in this job).
    Inquire,
    /// Queue a job for this payout at the given time (ms): a submission for
    /// ACCEPTED, an inquiry otherwise.
    Enqueue { at: i64 },
}

/// Alerts: counted in `/metrics` and logged with the provider and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alert {
    /// A status inquiry was refused (auth, signature, WAF, route).
    InquiryRefused,
    /// A submission was refused for configuration reasons.
    SubmissionRefused,
    /// The send fence stopped a late send.
    Fenced,
    /// A callback reported something about a payout that was never sent.
    CallbackBeforeSend,
    /// A verified report contradicts a final state.
    Contradiction,
    /// A history row's amount differs from the payout's.
    AmountMismatch,
    /// "Not found" after the resubmissions allowed: an operator must look.
    NotFoundAfterResubmit,
    /// Parked in the dead-letter list.
    Parked,
}

impl Alert {
    pub fn as_str(self) -> &'static str {
        match self {
            Alert::InquiryRefused => "inquiry_refused",
            Alert::SubmissionRefused => "submission_refused",
            Alert::Fenced => "fenced",
            Alert::CallbackBeforeSend => "callback_before_send",
            Alert::Contradiction => "contradiction",
            Alert::AmountMismatch => "amount_mismatch",
            Alert::NotFoundAfterResubmit => "not_found_after_resubmit",
            Alert::Parked => "parked",
        }
    }
}

/// What the provider's circuit breaker should learn from an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The provider answered (whatever it said about the payout).
    Answered,
    /// Nothing reached it (connect refused, 429, token unavailable).
    Unreachable,
    /// It refused our requests (signature, auth, route): configuration.
    Refusing,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The ledger write, or `None` when the payout stays exactly as it is (the
    /// event is only recorded in the audit trail, or not at all).
    pub write: Option<Write>,
    pub action: Action,
    pub alert: Option<Alert>,
    pub health: Option<Health>,
    /// Why, for the audit trail.
    pub note: String,
    /// `false` when the event changes nothing and need not be audited (a job that
    /// found nothing to do).
    pub audit: bool,
}

impl Decision {
    fn nothing(note: impl Into<String>) -> Self {
        Decision {
            write: None,
            action: Action::None,
            alert: None,
            health: None,
            note: note.into(),
            audit: false,
        }
    }

    fn record(note: impl Into<String>) -> Self {
        Decision {
            audit: true,
            ..Decision::nothing(note)
        }
    }

    fn write(w: Write, action: Action, note: impl Into<String>) -> Self {
        Decision {
            write: Some(w),
            action,
            alert: None,
            health: None,
            note: note.into(),
            audit: true,
        }
    }

    fn alert(mut self, a: Alert) -> Self {
        self.alert = Some(a);
        self
    }

    fn health(mut self, h: Health) -> Self {
        self.health = Some(h);
        self
    }

    /// The state the payout will be in once the decision is applied.
    pub fn next_state(&self, current: State) -> State {
        self.write.as_ref().map(|w| w.to).unwrap_or(current)
    }
}
