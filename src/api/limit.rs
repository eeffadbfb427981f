//! The API rate limit per API key, shared by every `kirim serve` replica.
//!
//! A per-process bucket lets N replicas behind a load balancer admit N× the
//! configured rate. Here the state lives in Redis (one key per API client, under
//! [`Keys::rate_limit`]) and one Lua script checks and updates it atomically, so
//! the limit holds across replicas. The clock is Redis's own (`TIME`), so replicas
//! whose clocks disagree still share one schedule.
//!
//! The algorithm is GCRA (generic cell rate algorithm), which behaves like a token
//! bucket refilled at `rate_limit_per_sec` holding `rate_limit_burst` tokens, but
//! stores a single number: the theoretical arrival time (TAT) of the next request.
//! A request at `now` is admitted when `max(TAT, now) + interval - burst × interval
//! <= now`, and then moves TAT on by one interval. The key expires when the bucket
//! would be full again, so idle clients cost nothing.
//!
//! If Redis cannot be asked, the request is let through (and a warning logged):
//! the limit protects capacity, it is not a correctness rule, and every endpoint
//! behind it needs Redis anyway.

use redis::Script;

use crate::keys::Keys;
use crate::redis_conn::RedisConn;

/// The GCRA step. KEYS[1]: the client's TAT key. ARGV[1]: the emission interval
/// and ARGV[2] the burst tolerance, both in microseconds. Returns `{1, 0}` when
/// admitted, `{0, µs to wait}` when not.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = math.max(tonumber(stored), now)
end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
  'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
";

/// A rate limit per API client, kept in Redis.
#[derive(Debug)]
pub struct RateLimiter {
    conn: RedisConn,
    keys: Keys,
    script: Script,
    /// Microseconds between two requests at the sustained rate.
    interval_us: f64,
    /// Microseconds of credit a full bucket holds (`burst × interval`).
    tolerance_us: f64,
}

impl RateLimiter {
    /// `per_sec` sustained requests per second and `burst` at once, per client
    /// (both at least 1).
    pub fn new(conn: RedisConn, keys: Keys, per_sec: u32, burst: u32) -> Self {
        let interval_us = 1_000_000.0 / f64::from(per_sec.max(1));
        RateLimiter {
            conn,
            keys,
            script: Script::new(GCRA),
            interval_us,
            tolerance_us: interval_us * f64::from(burst.max(1)),
        }
    }

    /// Take one request's worth for `who`; `Err(seconds)` says when to retry
    /// (at least 1, for `Retry-After`).
    pub async fn take(&self, who: &str) -> Result<(), u64> {
        let mut conn = self.conn.clone();
        let answer: redis::RedisResult<(i64, i64)> = self
            .script
            .key(self.keys.rate_limit(who))
            .arg(self.interval_us)
            .arg(self.tolerance_us)
            .invoke_async(&mut conn)
            .await;
        match answer {
            Ok((1, _)) => Ok(()),
            Ok((_, wait_us)) => Err(retry_after_secs(wait_us)),
            Err(e) => {
                tracing::warn!(error = %e, "rate limit not checked (Redis); request let through");
                Ok(())
            }
        }
    }
}

/// Whole seconds to wait, rounded up, at least 1.
fn retry_after_secs(wait_us: i64) -> u64 {
    let wait = u64::try_from(wait_us).unwrap_or(0);
    wait.div_ceil(1_000_000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(0), 1);
        assert_eq!(retry_after_secs(1), 1);
        assert_eq!(retry_after_secs(1_000_000), 1);
        assert_eq!(retry_after_secs(1_000_001), 2);
        assert_eq!(retry_after_secs(-5), 1);
    }
}
