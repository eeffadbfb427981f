//! Retry delays: exponential backoff with full jitter.
//!
//! `delay = random(0, min(cap, base × 2^attempt))` (the "full jitter" of the AWS
//! architecture blog). Each call draws from the thread RNG, so concurrent jobs do
//! not march in lockstep — unlike tower's `ExponentialBackoff`, whose RNG state is
//! shared per process (APALIS.md, "Crates").
//!
//! Why not `backon`: the lifecycle decides retries as a pure function of the
//! attempt number and an injected jitter (`Backoff::delay_unit`, property-tested
//! without an RNG), and the retry itself is a delayed job in Redis, not a loop in
//! this process. backon's builders yield delays from an iterator with its own
//! state and retry futures in place, which fits neither.

use std::time::Duration;

use rand::RngExt;

/// Backoff policy; pure apart from the RNG it is handed.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// The ceiling for retry number `attempt` (0-based): `min(cap, base × 2^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u64.checked_shl(attempt.min(32)).unwrap_or(u64::MAX);
        let ms = (self.base.as_millis() as u64).saturating_mul(factor);
        Duration::from_millis(ms.min(self.cap.as_millis() as u64))
    }

    /// A full-jitter delay for retry number `attempt`, never below `floor`
    /// (a provider's Retry-After hint).
    pub fn delay<R: RngExt + ?Sized>(
        &self,
        attempt: u32,
        floor: Option<Duration>,
        rng: &mut R,
    ) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        let drawn = Duration::from_millis(rng.random_range(0..=ceiling));
        match floor {
            Some(f) if f > drawn => f.min(self.cap.max(f)),
            _ => drawn,
        }
    }
}

impl Backoff {
    /// [`Backoff::delay`] with the random draw given as `unit` in `[0, 1)`, so a
    /// pure caller (the lifecycle's `decide`) can take its randomness as input.
    pub fn delay_unit(&self, attempt: u32, floor: Option<Duration>, unit: f64) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as f64;
        let drawn = Duration::from_millis((ceiling * unit.clamp(0.0, 1.0)) as u64);
        match floor {
            Some(f) if f > drawn => f.min(self.cap.max(f)),
            _ => drawn,
        }
    }
}

/// Reconciliation polling: the delay before check number `checks` (0-based), from
/// the configured schedule; the last entry repeats.
pub fn schedule_delay(schedule: &[Duration], checks: u32) -> Duration {
    let i = (checks as usize).min(schedule.len().saturating_sub(1));
    schedule.get(i).copied().unwrap_or(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn ceiling_doubles_then_caps() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(4), Duration::from_secs(1));
        assert_eq!(b.ceiling(200), Duration::from_secs(1));
    }

    #[test]
    fn delays_are_jittered_within_ceiling_and_respect_floor() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(10),
        };
        let mut rng = StdRng::seed_from_u64(7);
        let draws: Vec<_> = (0..200).map(|_| b.delay(5, None, &mut rng)).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_millis(3200)));
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert!(distinct.len() > 100, "full jitter spreads delays");
        let d = b.delay(0, Some(Duration::from_secs(2)), &mut rng);
        assert_eq!(d, Duration::from_secs(2));
    }

    #[test]
    fn schedule_repeats_last() {
        let s = [Duration::from_secs(10), Duration::from_secs(30)];
        assert_eq!(schedule_delay(&s, 0), Duration::from_secs(10));
        assert_eq!(schedule_delay(&s, 1), Duration::from_secs(30));
        assert_eq!(schedule_delay(&s, 9), Duration::from_secs(30));
    }
}
