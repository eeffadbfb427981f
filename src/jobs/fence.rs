//! The engine's send fence: the last check before a request that can move money
//! leaves, and the place a two-step provider's first reference is persisted.
//!
//! A first submission's move to SUBMITTING is written *by the fence*: the engine
//! decides it from the record it read, hands it over as a [`Deferred`] move, and the
//! fence applies it (compare-and-set on the version read, X-EXTERNAL-ID recorded)
//! immediately before the request is written. One round trip persists SUBMITTING
//! with the id and proves the record has not moved since it was read; nothing is
//! sent unless it was applied.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::State;
use crate::ledger::{
    now_ms, HistoryEntry, Ledger, Payout, PayoutId, Transition, TransitionOutcome,
};
use crate::providers::SendFence;

/// A move to SUBMITTING decided from `before` but not written yet (see the module
/// documentation). `external_id` is the id the request carries.
#[derive(Debug, Clone)]
pub struct Deferred {
    pub before: Payout,
    pub transition: Transition,
    pub external_id: String,
    /// `before` is the job's snapshot of the record as created, not a read: a
    /// lost compare-and-set means "read and decide again", not news.
    pub from_snapshot: bool,
}

/// What became of a fence's [`Deferred`] move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeferredOutcome {
    /// No deferred move (it was written before the send started), or it was applied.
    Written,
    /// The provider stopped before asking the fence: the move was not attempted.
    NotAttempted,
    /// The compare-and-set was lost: another actor moved the record. Nothing was sent.
    Lost,
    /// Redis failed: the move may or may not have been applied. Nothing was sent.
    Failed(String),
}

/// The engine's [`SendFence`]: the send deadline, the ledger version re-check,
/// and persisting a first step's reference before the next step.
pub struct LedgerFence {
    ledger: Ledger,
    id: PayoutId,
    actor: String,
    deadline_ms: i64,
    version: AtomicU64,
    reference: Mutex<Option<String>>,
    pending: Mutex<Option<Deferred>>,
    outcome: Mutex<DeferredOutcome>,
}

impl LedgerFence {
    pub fn new(ledger: Ledger, p: &Payout, actor: String, deadline_ms: i64) -> Self {
        LedgerFence {
            ledger,
            id: p.id.clone(),
            actor,
            deadline_ms,
            version: AtomicU64::new(p.version),
            reference: Mutex::new(None),
            pending: Mutex::new(None),
            outcome: Mutex::new(DeferredOutcome::Written),
        }
    }

    /// A fence that writes `move_` (SUBMITTING) at the first [`SendFence::before_send`].
    pub fn with_deferred(self, move_: Deferred) -> Self {
        self.version.store(move_.before.version, Ordering::SeqCst);
        if let Ok(mut o) = self.outcome.lock() {
            *o = DeferredOutcome::NotAttempted;
        }
        if let Ok(mut p) = self.pending.lock() {
            *p = Some(move_);
        }
        self
    }

    /// What became of the deferred move, and the move itself if it was never attempted.
    pub fn deferred_outcome(&self) -> (DeferredOutcome, Option<Deferred>) {
        let outcome = self
            .outcome
            .lock()
            .map(|o| o.clone())
            .unwrap_or(DeferredOutcome::Failed("fence state poisoned".into()));
        let pending = self.pending.lock().ok().and_then(|mut p| p.take());
        (outcome, pending)
    }

    fn set_outcome(&self, o: DeferredOutcome) {
        if let Ok(mut cur) = self.outcome.lock() {
            *cur = o;
        }
    }

    /// Apply the deferred move: `Ok(true)` applied, `Ok(false)` none pending.
    async fn write_deferred(&self, step: &'static str) -> Result<bool, String> {
        let Some(d) = self.pending.lock().ok().and_then(|mut p| p.take()) else {
            return Ok(false);
        };
        match self
            .ledger
            .transition_with_external_id(&d.before, d.transition, Some(d.external_id))
            .await
        {
            Ok(TransitionOutcome::Applied { version, .. }) => {
                self.version.store(version, Ordering::SeqCst);
                self.set_outcome(DeferredOutcome::Written);
                Ok(true)
            }
            Ok(other) => {
                self.set_outcome(DeferredOutcome::Lost);
                Err(format!(
                    "{step}: the ledger moved on before SUBMITTING was written ({other:?})"
                ))
            }
            Err(e) => {
                self.set_outcome(DeferredOutcome::Failed(e.to_string()));
                Err(format!("{step}: could not write SUBMITTING: {e}"))
            }
        }
    }

    /// The record's version as this fence last wrote or checked it.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    /// Record `version` as the record's (the engine wrote the deferred move itself).
    pub fn set_version(&self, version: u64) {
        self.version.store(version, Ordering::SeqCst);
    }

    /// The first step's reference, once persisted.
    pub fn reference(&self) -> Option<String> {
        self.reference.lock().ok().and_then(|r| r.clone())
    }

    fn deadline_passed(&self) -> Option<String> {
        let late = now_ms() - self.deadline_ms;
        (late > 0).then(|| format!("send deadline passed {late} ms ago"))
    }
}

#[async_trait]
impl SendFence for LedgerFence {
    async fn before_send(&self, step: &'static str) -> Result<(), String> {
        if let Some(why) = self.deadline_passed() {
            return Err(format!("{step}: {why}"));
        }
        if self.write_deferred(step).await? {
            // The compare-and-set just proved the version; only durability is left.
            return self
                .ledger
                .confirm_durable()
                .await
                .map_err(|e| format!("{step}: the SUBMITTING record is not durable yet: {e}"));
        }
        match self.ledger.version(&self.id).await {
            Ok(Some(v)) if v == self.version() => self
                .ledger
                .confirm_durable()
                .await
                .map_err(|e| format!("{step}: the SUBMITTING record is not durable yet: {e}")),
            Ok(Some(v)) => Err(format!(
                "{step}: the ledger moved on (version {} → {v})",
                self.version()
            )),
            Ok(None) => Err(format!("{step}: the payout is gone from the ledger")),
            Err(e) => Err(format!("{step}: cannot re-check the ledger: {e}")),
        }
    }

    async fn first_step_done(&self, provider_reference: &str) -> Result<(), String> {
        // Persist first, whatever the deadline: the reference is what lets a
        // recovered payout ask the provider instead of registering again.
        let p = match self.ledger.get(&self.id).await {
            Ok(Some(p)) => p,
            Ok(None) => return Err("the payout is gone from the ledger".into()),
            Err(e) => return Err(format!("cannot read the ledger: {e}")),
        };
        if p.version != self.version() || p.state != State::Submitting {
            return Err(format!(
                "the ledger moved on ({} v{}) before the first step's reference was recorded",
                p.state, p.version
            ));
        }
        let mut meta = p.meta.clone();
        meta.updated_at = now_ms();
        meta.provider_reference = Some(provider_reference.to_owned());
        let mut entry = HistoryEntry::new("first_step", now_ms());
        entry.actor = Some(self.actor.clone());
        entry.note = Some(format!(
            "registered with provider reference {provider_reference}; recorded before the next step"
        ));
        let t = Transition {
            to: State::Submitting,
            meta,
            entry,
            due_at: None,
            allocate_external_id: false,
            dead_letter: None,
        };
        // A self-move keeps the due entry only if given; keep SUBMITTING's.
        let t = Transition {
            due_at: p.meta.next_check_at,
            ..t
        };
        match self.ledger.transition(&p, t).await {
            Ok(TransitionOutcome::Applied { version, .. }) => {
                self.version.store(version, Ordering::SeqCst);
                if let Ok(mut r) = self.reference.lock() {
                    *r = Some(provider_reference.to_owned());
                }
            }
            Ok(other) => return Err(format!("could not record the reference: {other:?}")),
            Err(e) => return Err(format!("could not record the reference: {e}")),
        }
        match self.deadline_passed() {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }
}
