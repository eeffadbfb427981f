//! The breaker state machine: one [`Breakers`] per worker process, pure state
//! behind a mutex per provider, driven by the caller's clock.

use std::collections::HashMap;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{BreakerConfig, BreakerState, Permit, Reason, Signal, Transition, PROBE_RECHECK_MS};
use crate::domain::Provider;

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) state: BreakerState,
    /// Consecutive bad signals since the last `Ok`.
    pub(super) failures: u32,
    /// The cool-down of the current (or last) open period.
    pub(super) cooldown_ms: i64,
    /// Half-open: when the current probe was handed out.
    pub(super) probe_at: i64,
    /// When the state last changed (the published `since`/`updated_at`).
    pub(super) changed_at: i64,
    /// Bumped at every change; `published` is the version last written to Redis.
    pub(super) version: u64,
    pub(super) published: u64,
    /// Openings not yet added to the published `opened_total`.
    pub(super) unpublished_opens: u64,
}

impl Entry {
    fn new(cfg: &BreakerConfig) -> Self {
        Entry {
            state: BreakerState::Closed,
            failures: 0,
            cooldown_ms: cfg.cooldown_initial_ms,
            probe_at: 0,
            changed_at: 0,
            version: 0,
            published: 0,
            unpublished_opens: 0,
        }
    }

    fn open(&mut self, reason: Reason, cooldown_ms: i64, now_ms: i64) {
        self.cooldown_ms = cooldown_ms;
        self.state = BreakerState::Open {
            since: now_ms,
            until: now_ms.saturating_add(cooldown_ms),
            reason,
        };
        self.unpublished_opens += 1;
    }
}

pub(super) struct Inner {
    pub(super) cfg: BreakerConfig,
    /// One entry per provider, created on first use (providers come from the
    /// registry, not a fixed list). The critical sections are a few field reads.
    pub(super) entries: Mutex<HashMap<Provider, Entry>>,
    /// Who wrote a published state (pid and a random tag), for operators.
    pub(super) instance: String,
}

/// One breaker per provider for one worker process. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Breakers {
    pub(super) inner: Arc<Inner>,
}

impl fmt::Debug for Breakers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breakers")
            .field("cfg", &self.inner.cfg)
            .field("instance", &self.inner.instance)
            .finish()
    }
}

/// The lock on one provider's entry.
pub(super) struct EntryGuard<'a> {
    map: MutexGuard<'a, HashMap<Provider, Entry>>,
    provider: Provider,
}

impl Deref for EntryGuard<'_> {
    type Target = Entry;
    fn deref(&self) -> &Entry {
        // Inserted by `Breakers::entry` before the guard is made.
        &self.map[&self.provider]
    }
}

impl DerefMut for EntryGuard<'_> {
    fn deref_mut(&mut self) -> &mut Entry {
        self.map
            .get_mut(&self.provider)
            .expect("inserted by Breakers::entry")
    }
}

impl Breakers {
    pub fn new(cfg: BreakerConfig) -> Self {
        let cfg = cfg.normalised();
        let tag: u16 = rand::random();
        Breakers {
            inner: Arc::new(Inner {
                cfg,
                entries: Mutex::new(HashMap::new()),
                instance: format!("{}-{tag:04x}", std::process::id()),
            }),
        }
    }

    pub fn config(&self) -> BreakerConfig {
        self.inner.cfg
    }

    pub(super) fn entry(&self, p: Provider) -> EntryGuard<'_> {
        // A panic while holding the lock cannot leave an Entry half-updated in a
        // way that matters more than pausing payouts would; keep going.
        let mut map = self.inner.entries.lock().unwrap_or_else(|e| e.into_inner());
        let cfg = self.inner.cfg;
        map.entry(p).or_insert_with(|| Entry::new(&cfg));
        EntryGuard { map, provider: p }
    }

    /// May a payout be sent to `p` now? See [`Breakers::acquire`], which also
    /// reports the open → half-open transition this call may cause.
    pub fn permit(&self, p: Provider, now_ms: i64) -> Permit {
        self.acquire(p, now_ms).0
    }

    /// [`Breakers::permit`] plus the transition it caused: when the cool-down is
    /// over, the first caller moves the breaker to half-open and gets
    /// [`Permit::Probe`]; everyone else is paused until the probe answers or
    /// `probe_timeout_ms` passes (then the next caller gets a new probe).
    pub fn acquire(&self, p: Provider, now_ms: i64) -> (Permit, Option<Transition>) {
        let cfg = self.inner.cfg;
        let mut e = self.entry(p);
        match e.state {
            BreakerState::Closed => (Permit::Allow, None),
            BreakerState::Open { until, .. } if now_ms < until => {
                (Permit::Paused { retry_at_ms: until }, None)
            }
            BreakerState::Open { .. } => {
                let from = e.state;
                e.state = BreakerState::HalfOpen;
                e.probe_at = now_ms;
                e.changed_at = now_ms;
                e.version += 1;
                let t = Transition {
                    provider: p,
                    from,
                    to: e.state,
                    at_ms: now_ms,
                };
                (Permit::Probe, Some(t))
            }
            BreakerState::HalfOpen => {
                let deadline = e.probe_at.saturating_add(cfg.probe_timeout_ms);
                if now_ms >= deadline {
                    e.probe_at = now_ms;
                    (Permit::Probe, None)
                } else {
                    // Look again soon: the probe usually answers in milliseconds,
                    // and waiting for its whole timeout left payouts paused ~30 s
                    // after the provider was back (found by the 60-s outage test).
                    (
                        Permit::Paused {
                            retry_at_ms: deadline.min(now_ms.saturating_add(PROBE_RECHECK_MS)),
                        },
                        None,
                    )
                }
            }
        }
    }

    /// Report what a call to `p` showed. Returns the transition when the state
    /// changed.
    ///
    /// - Closed: `Ok` resets the count; a bad signal counts, and the
    ///   `failures_to_open`-th in a row opens the breaker for `cooldown_initial_ms`.
    /// - Half-open: the first signal is taken as the probe's answer. `Ok` closes
    ///   (and resets the cool-down); a bad signal re-opens with the cool-down
    ///   doubled, capped at `cooldown_max_ms`.
    /// - Open: ignored. Only requests sent before the breaker opened can answer
    ///   now, and the cool-down stands regardless of what they say.
    pub fn record(&self, p: Provider, s: Signal, now_ms: i64) -> Option<Transition> {
        let cfg = self.inner.cfg;
        let mut e = self.entry(p);
        let from = e.state;
        let reason = match s {
            Signal::Ok => None,
            Signal::ConnectFailure => Some(Reason::ConnectFailure),
            Signal::Refused => Some(Reason::Refused),
        };
        match (from, reason) {
            (BreakerState::Open { .. }, _) => return None,
            (BreakerState::Closed, None) => {
                e.failures = 0;
                return None;
            }
            (BreakerState::Closed, Some(r)) => {
                e.failures = e.failures.saturating_add(1);
                if e.failures < cfg.failures_to_open {
                    return None;
                }
                e.open(r, cfg.cooldown_initial_ms, now_ms);
            }
            (BreakerState::HalfOpen, None) => {
                e.failures = 0;
                e.cooldown_ms = cfg.cooldown_initial_ms;
                e.state = BreakerState::Closed;
            }
            (BreakerState::HalfOpen, Some(r)) => {
                e.failures = e.failures.saturating_add(1);
                let next = e.cooldown_ms.saturating_mul(2).min(cfg.cooldown_max_ms);
                e.open(r, next, now_ms);
            }
        }
        e.changed_at = now_ms;
        e.version += 1;
        Some(Transition {
            provider: p,
            from,
            to: e.state,
            at_ms: now_ms,
        })
    }

    pub fn state(&self, p: Provider) -> BreakerState {
        self.entry(p).state
    }

    /// Consecutive bad signals since the last `Ok`.
    pub fn consecutive_failures(&self, p: Provider) -> u32 {
        self.entry(p).failures
    }
}
