//! The payout state machine (DESIGN.md, "the one rule").
//!
//! ```text
//! ACCEPTED → UNKNOWN      (a verified callback names it: stop the send, inquire)
//! ACCEPTED → SUBMITTING → PENDING            (provider said INIT / 202 / in progress)
//!                       → SUCCEEDED | CANCELLED | FAILED
//!                       → UNKNOWN            (timeout, 5xx, 409, crash while SUBMITTING)
//!                       → ACCEPTED           (only when the provider provably did not act:
//!                                             connect refused, 429, nothing sent)
//! PENDING | UNKNOWN → SUCCEEDED | CANCELLED | FAILED   (inquiry or verified callback)
//! PENDING | UNKNOWN → NEEDS_REVIEW                     (unresolved past the horizon)
//! NEEDS_REVIEW → SUCCEEDED | CANCELLED | FAILED        (inquiry, callback or operator)
//! UNKNOWN → SUBMITTING   only after an inquiry proved the provider never received it
//! ```
//! A state may also "transition" to itself to record a reschedule or an attempt.
//! Final states never change. The same table is enforced twice: here (pure, unit
//! tested) and inside the Lua compare-and-set script, so that no code path — not
//! even a buggy one — can move a payout backwards.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    Accepted,
    Submitting,
    Pending,
    Unknown,
    NeedsReview,
    Succeeded,
    Cancelled,
    Failed,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Accepted,
        State::Submitting,
        State::Pending,
        State::Unknown,
        State::NeedsReview,
        State::Succeeded,
        State::Cancelled,
        State::Failed,
    ];

    /// The spelling in Redis, the CLI and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Accepted => "ACCEPTED",
            State::Submitting => "SUBMITTING",
            State::Pending => "PENDING",
            State::Unknown => "UNKNOWN",
            State::NeedsReview => "NEEDS_REVIEW",
            State::Succeeded => "SUCCEEDED",
            State::Cancelled => "CANCELLED",
            State::Failed => "FAILED",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, State::Succeeded | State::Cancelled | State::Failed)
    }

    /// May a payout move from `self` to `to`?
    pub fn can_move_to(self, to: State) -> bool {
        use State::*;
        if self == to {
            return !self.is_final();
        }
        match (self, to) {
            (Accepted, Submitting) => true,
            (Accepted, Failed) => true, // rejected before sending (validation)
            // A verified callback shows the provider knows a payout we believe unsent:
            // stop the send and inquire (DESIGN rule 10).
            (Accepted, Unknown) => true,
            (Submitting, Pending | Succeeded | Cancelled | Failed | Unknown | Accepted) => true,
            (Pending | Unknown, Succeeded | Cancelled | Failed | NeedsReview) => true,
            (Pending, Unknown) => false,
            (Unknown, Pending) => true, // inquiry: the provider has it and it is in progress
            (Unknown, Submitting) => true, // only after a definite "not found"
            (NeedsReview, Succeeded | Cancelled | Failed) => true,
            (NeedsReview, Pending) => false,
            _ => false,
        }
    }

    /// Every allowed (from, to) pair, for the Lua script's table.
    pub fn allowed_pairs() -> Vec<(State, State)> {
        let mut v = Vec::new();
        for a in State::ALL {
            for b in State::ALL {
                if a.can_move_to(b) {
                    v.push((a, b));
                }
            }
        }
        v
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = crate::domain::FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let up = s.to_ascii_uppercase();
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == up)
            .ok_or_else(|| {
                crate::domain::FieldError::new(
                    "state",
                    "must be one of ACCEPTED, SUBMITTING, PENDING, UNKNOWN, NEEDS_REVIEW, SUCCEEDED, CANCELLED, FAILED",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::State::*;
    use super::*;

    #[test]
    fn final_states_never_change() {
        for f in [Succeeded, Cancelled, Failed] {
            for to in State::ALL {
                assert!(!f.can_move_to(to), "{f} -> {to}");
            }
        }
    }

    #[test]
    fn unknown_outcome_never_goes_back_to_accepted() {
        // Rule 4: unknown means inquire, never resend from scratch.
        assert!(!Unknown.can_move_to(Accepted));
        assert!(!Pending.can_move_to(Accepted));
        assert!(!Pending.can_move_to(Submitting));
        assert!(Unknown.can_move_to(Submitting));
    }

    #[test]
    fn the_drawn_edges_exist() {
        for (a, b) in [
            (Accepted, Submitting),
            (Submitting, Pending),
            (Submitting, Succeeded),
            (Submitting, Cancelled),
            (Submitting, Failed),
            (Submitting, Unknown),
            (Pending, Succeeded),
            (Unknown, Cancelled),
            (Pending, NeedsReview),
            (NeedsReview, Succeeded),
        ] {
            assert!(a.can_move_to(b), "{a} -> {b}");
        }
        assert!(!Accepted.can_move_to(Pending));
        assert!(!NeedsReview.can_move_to(Accepted));
    }

    #[test]
    fn parse_round_trip() {
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>().unwrap(), s);
        }
        assert_eq!("needs_review".parse::<State>().unwrap(), NeedsReview);
        assert!("DONE".parse::<State>().is_err());
    }
}
