//! A guard against a wedged queue lane.
//!
//! Seen in the Sentinel failover runs under load (tests/sentinel.rs, Valkey with
//! `WAITAOF`): an apalis worker restarted while the connection was moving to the new
//! primary registered itself, then never fetched again. It held no job and reported
//! no error, so the monitor had nothing to restart, and its lane's jobs waited in
//! `:active` for ever while the other lanes worked.
//!
//! The worker process records when each lane last started a job and how many it is
//! running. A lane with jobs waiting, none running, that has started none for
//! `worker.stall_secs` is wedged (a busy lane, even one whose jobs hang on a
//! provider, is not: its jobs end by their own timeouts). Then the process
//! stops its apalis workers (gracefully: in-flight jobs finish) and starts fresh
//! ones. Nothing in the ledger depends on it; a payout's job is just picked up again.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::jobs::{Lane, Queue};
use crate::ledger::now_ms;

/// When each lane last started a job (epoch ms), and how many it is running.
#[derive(Debug)]
pub struct LaneActivity {
    last: [AtomicI64; 3],
    running: [AtomicI64; 3],
}

/// A job being run; [`LaneActivity::running`] counts it until dropped.
#[derive(Debug)]
pub struct Running<'a> {
    activity: &'a LaneActivity,
    lane: Lane,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.activity.running[index(self.lane)].fetch_sub(1, Ordering::Relaxed);
    }
}

fn index(lane: Lane) -> usize {
    match lane {
        Lane::Transfer => 0,
        Lane::Inquiry => 1,
        Lane::Payment => 2,
    }
}

impl LaneActivity {
    pub fn new(now_ms: i64) -> Self {
        LaneActivity {
            last: [
                AtomicI64::new(now_ms),
                AtomicI64::new(now_ms),
                AtomicI64::new(now_ms),
            ],
            running: [AtomicI64::new(0), AtomicI64::new(0), AtomicI64::new(0)],
        }
    }

    /// A job of `lane` started; it counts as running until the guard is dropped.
    pub fn started(&self, lane: Lane, now_ms: i64) -> Running<'_> {
        self.last[index(lane)].fetch_max(now_ms, Ordering::Relaxed);
        self.running[index(lane)].fetch_add(1, Ordering::Relaxed);
        Running {
            activity: self,
            lane,
        }
    }

    /// Jobs of `lane` running now.
    pub fn running(&self, lane: Lane) -> i64 {
        self.running[index(lane)].load(Ordering::Relaxed)
    }

    /// Fresh workers: every lane counts as active from `now_ms`.
    pub fn reset(&self, now_ms: i64) {
        for l in &self.last {
            l.store(now_ms, Ordering::Relaxed);
        }
    }

    pub fn last_start(&self, lane: Lane) -> i64 {
        self.last[index(lane)].load(Ordering::Relaxed)
    }
}

/// A lane that has jobs waiting, runs none, and started none for longer than `after`.
pub fn is_stalled(
    waiting: u64,
    running: i64,
    last_start_ms: i64,
    now_ms: i64,
    after: Duration,
) -> bool {
    waiting > 0 && running <= 0 && now_ms.saturating_sub(last_start_ms) > after.as_millis() as i64
}

/// A wedged lane, as found by [`watch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    pub lane: Lane,
    pub waiting: u64,
    pub idle_ms: i64,
}

/// Check the lanes every `after / 4` until one is stalled (returns it) or `stop`
/// turns true (returns `None`). A Redis error skips a round: a lane cannot be
/// judged without its queue length, and Redis trouble has its own handling.
pub async fn watch(
    queue: &Queue,
    activity: &LaneActivity,
    after: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Option<Stall> {
    let every = (after / 4).max(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return None,
        }
        if *stop.borrow() {
            return None;
        }
        for lane in Lane::ALL {
            let Ok(depth) = queue.depth(lane).await else {
                continue;
            };
            // Read the time after the queue: a job started while we asked is seen.
            let last = activity.last_start(lane);
            let now = now_ms();
            if is_stalled(depth.active, activity.running(lane), last, now, after) {
                return Some(Stall {
                    lane,
                    waiting: depth.active,
                    idle_ms: now - last,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_is_stalled_only_with_work_waiting_past_the_limit() {
        let after = Duration::from_secs(10);
        assert!(!is_stalled(0, 0, 0, 60_000, after), "nothing waiting");
        assert!(
            !is_stalled(5, 0, 55_000, 60_000, after),
            "started a job 5 s ago"
        );
        assert!(
            !is_stalled(5, 0, 50_000, 60_000, after),
            "exactly at the limit"
        );
        assert!(
            !is_stalled(5, 2, 0, 60_000, after),
            "busy, even if for long"
        );
        assert!(is_stalled(5, 0, 49_999, 60_000, after));
    }

    #[test]
    fn activity_moves_forward_only_and_resets_for_fresh_workers() {
        let a = LaneActivity::new(1_000);
        let first = a.started(Lane::Inquiry, 5_000);
        drop(a.started(Lane::Inquiry, 4_000));
        assert_eq!(a.last_start(Lane::Inquiry), 5_000);
        assert_eq!(a.running(Lane::Inquiry), 1);
        drop(first);
        assert_eq!(a.running(Lane::Inquiry), 0);
        assert_eq!(a.last_start(Lane::Transfer), 1_000);
        a.reset(9_000);
        for lane in Lane::ALL {
            assert_eq!(a.last_start(lane), 9_000);
        }
    }
}
