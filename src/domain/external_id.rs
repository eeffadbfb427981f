//! Fresh `X-EXTERNAL-ID`s that are unique per provider and day without any
//! shared state.
//!
//! The providers want a numeric message id that is unique per partner per day
//! (NOTES.md, "Timestamps and ids"). A per-day counter in Redis is not enough: a
//! restored Redis, the loss of the AOF tail or a second deployment (staging) with
//! the same credentials counts again from one and repeats ids the provider has
//! already seen (`409xx00`). An id here is
//!
//! ```text
//! YYYYMMDD HHMMSSmmm TTTTTT SSSSSS      (29 digits, Jakarta time)
//! date     time      tag    sequence
//! ```
//!
//! - date and time of day to the millisecond, in Jakarta time (UTC+7, no daylight
//!   saving), so the ids of a restored or second deployment never repeat earlier
//!   ones as long as the clock moves forward;
//! - a tag drawn at random once per process (10⁶ values), so two processes
//!   allocating in the same millisecond differ;
//! - a per-process sequence (mod 10⁶), so one process allocating many ids in one
//!   millisecond does too.
//!
//! Two ids can only be equal if two processes drew the same tag *and* allocate in
//! the same millisecond with the same sequence number (or one process's clock is
//! stepped back and its sequence has wrapped to the same value): not impossible,
//! but far rarer than the failures above, and a repeated id is answered `409xx00`,
//! which kirim treats as "inquire", never as a reason to pay again. 29 digits
//! leave room for a step digit (NICEPAY registration/approve) within the SNAP
//! limit of 36.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset};
use rand::RngExt;

use super::ExternalId;

/// Width of a fresh id.
pub const WIDTH: usize = 29;

static TAG: OnceLock<u32> = OnceLock::new();
static SEQUENCE: AtomicU32 = AtomicU32::new(0);

fn tag() -> u32 {
    *TAG.get_or_init(|| rand::rng().random_range(0..1_000_000))
}

impl ExternalId {
    /// A fresh message id for `now_ms` (Unix milliseconds).
    pub fn fresh(now_ms: i64) -> ExternalId {
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) % 1_000_000;
        ExternalId::compose(now_ms, tag(), seq)
    }

    /// The id's layout, for a given tag and sequence (tests, and [`Self::fresh`]).
    pub fn compose(now_ms: i64, tag: u32, seq: u32) -> ExternalId {
        let jakarta = FixedOffset::east_opt(7 * 3600).unwrap_or_else(|| unreachable!("+07:00"));
        let at = DateTime::from_timestamp_millis(now_ms.max(0))
            .unwrap_or_default()
            .with_timezone(&jakarta);
        let id = format!(
            "{}{:06}{:06}",
            at.format("%Y%m%d%H%M%S%3f"),
            tag % 1_000_000,
            seq % 1_000_000
        );
        // 29 digits by construction: always a valid id.
        ExternalId::parse(&id).unwrap_or_else(|e| unreachable!("{id}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn layout_is_jakarta_date_time_tag_sequence() {
        // 2026-12-01T17:30:00.123Z is 2026-12-02 00:30:00.123 in Jakarta.
        let ms = 1_796_146_200_123;
        let id = ExternalId::compose(ms, 42, 7);
        assert_eq!(id.as_str(), "20261202003000123000042000007");
        assert_eq!(id.as_str().len(), WIDTH);
    }

    #[test]
    fn one_process_never_repeats_within_a_millisecond() {
        let ids: HashSet<String> = (0..50_000)
            .map(|_| ExternalId::fresh(1_796_146_200_123).as_str().to_owned())
            .collect();
        assert_eq!(ids.len(), 50_000);
    }

    #[test]
    fn later_time_never_reuses_an_earlier_id() {
        let a = ExternalId::compose(1_796_146_200_123, 1, 1);
        let b = ExternalId::compose(1_796_146_200_124, 1, 1);
        assert_ne!(a, b);
        assert!(b.as_str() > a.as_str(), "ids sort by time");
    }
}
