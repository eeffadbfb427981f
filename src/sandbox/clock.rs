//! The sandbox's "now": the wall clock plus an offset that tests can move forward.
//!
//! Every time the sandbox *reasons about* goes through [`Clock`]: booking and final
//! timestamps, settlement due times (INIT → final after `settlement_delay_ms`), token
//! expiry, the `X-TIMESTAMP` / `X-Timestamp` freshness window, the X-EXTERNAL-ID day,
//! and the timestamps of callbacks and the callback log. Durations that only pace
//! the server itself (the `latency` and `hang` faults, callback retry back-off,
//! shutdown grace) stay in real time: they are how long a client waits, not what
//! time the provider thinks it is.
//!
//! Moving the clock — [`SandboxHandle::advance_clock`](super::SandboxHandle::advance_clock),
//! [`SandboxHandle::set_clock_offset`](super::SandboxHandle::set_clock_offset) or
//! `PUT /admin/clock {"offset_ms": N}` — settles every booking that is then due
//! before it returns, so a test that advances past `settlement_delay_ms` reads
//! SUCCESS (or CANCELLED) at once, without sleeping. Reads re-check due bookings
//! against the clock too, so a booking is never reported INIT after its due time.
//!
//! The offset is never negative: the sandbox's "now" is never before the wall
//! clock. Setting a smaller offset moves it back toward the wall clock; what was
//! settled or expired stays so.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use tokio::time::Instant;

use crate::snap::timestamp;

/// Wall clock plus an offset (milliseconds, lock-free).
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicU64,
}

impl Clock {
    pub fn new() -> Clock {
        Clock::default()
    }

    /// How far the sandbox's "now" is ahead of the wall clock.
    pub fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Set the offset (saturating at `u64::MAX` milliseconds).
    pub fn set_offset(&self, offset: Duration) {
        let ms = u64::try_from(offset.as_millis()).unwrap_or(u64::MAX);
        self.offset_ms.store(ms, Ordering::SeqCst);
    }

    /// Move "now" forward by `by`; returns the new offset.
    pub fn advance(&self, by: Duration) -> Duration {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let prev = self
            .offset_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |ms| {
                Some(ms.saturating_add(by))
            })
            .unwrap_or_else(|ms| ms);
        Duration::from_millis(prev.saturating_add(by))
    }

    /// The sandbox's wall-clock time, in Jakarta (UTC+7) as the providers answer.
    pub fn now(&self) -> DateTime<FixedOffset> {
        let offset = chrono::Duration::from_std(self.offset()).unwrap_or(chrono::Duration::MAX);
        let utc = Utc::now()
            .checked_add_signed(offset)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        utc.with_timezone(&timestamp::jakarta())
    }

    /// The sandbox's monotonic "now", for due times and expiries.
    pub fn instant(&self) -> Instant {
        self.from_real(Instant::now())
    }

    /// A real instant seen on the sandbox clock.
    pub fn from_real(&self, real: Instant) -> Instant {
        real.checked_add(self.offset()).unwrap_or(real)
    }

    /// When, in real time, the sandbox clock reaches `at` (for timers).
    pub fn to_real(&self, at: Instant) -> Instant {
        at.checked_sub(self.offset()).unwrap_or_else(Instant::now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_both_clocks() {
        let c = Clock::new();
        let wall = c.now();
        let mono = c.instant();
        assert_eq!(c.advance(Duration::from_secs(90)), Duration::from_secs(90));
        assert_eq!(
            c.advance(Duration::from_millis(500)),
            Duration::from_millis(90_500)
        );
        assert!(c.now() - wall >= chrono::Duration::milliseconds(90_500));
        assert!(c.instant() - mono >= Duration::from_millis(90_500));
        let at = c.instant();
        assert!(c.to_real(at) <= Instant::now());
        c.set_offset(Duration::ZERO);
        assert_eq!(c.offset(), Duration::ZERO);
    }
}
