//! The engine's send fence: the last check before a request that can move money
//! leaves, and the place a two-step provider's first reference is persisted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::State;
use crate::ledger::{
    now_ms, HistoryEntry, Ledger, Payout, PayoutId, Transition, TransitionOutcome,
};
use crate::providers::SendFence;

/// The engine's [`SendFence`]: the send deadline, the ledger version re-check,
/// and persisting a first step's reference before the next step.
pub struct LedgerFence {
    ledger: Ledger,
    id: PayoutId,
    actor: String,
    deadline_ms: i64,
    version: AtomicU64,
    reference: Mutex<Option<String>>,
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
        }
    }

    /// The record's version as this fence last wrote or checked it.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
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
