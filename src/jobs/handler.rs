//! What a job does: read the payout, ask the lifecycle what to do
//! ([`crate::lifecycle::decide`]), compare-and-set, act. The engine holds no rule
//! of its own; it performs I/O:
//!
//! - **Snapshot.** A transfer job pushed right after its create carries the
//!   record as created ([`crate::ledger::Created`]). The engine decides on it
//!   without reading; only a decision to send is taken from it, because the
//!   fence's compare-and-set on the created version is what proves it current.
//!   When that compare-and-set is lost nothing was sent, and the engine reads the
//!   record and decides again, as for a job without a snapshot.
//! - **Send.** After winning ACCEPTED → SUBMITTING (with the X-EXTERNAL-ID
//!   persisted in the same step) it sends through a [`LedgerFence`]: the provider
//!   client asks the fence immediately before writing the request, and the fence
//!   refuses once the send deadline (shorter than the grace other workers wait)
//!   has passed or the ledger version moved on. A two-step provider's first
//!   reference (NICEPAY registration) is written to the ledger by the fence before
//!   the second step goes out.
//! - **Inquire.** Ask the provider for the status and hand the answer to `decide`.
//! - **Circuit.** Before acting, the provider's circuit breaker is consulted: while
//!   it is open nothing is attempted (and no retry is spent); a half-open breaker
//!   is probed with a cheap call.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::circuit::{Breakers, Permit, Signal};
use crate::domain::{ExternalId, Provider, State};
use crate::jobs::apply::{self, follow_up, now, release_inquiry};
pub use crate::jobs::fence::LedgerFence;
use crate::jobs::fence::{Deferred, DeferredOutcome};
use crate::jobs::{Job, Observer, Queue, QueueError};
use crate::ledger::{
    now_ms, Created, HistoryEntry, Ledger, LedgerError, Payout, PayoutId, PayoutKind, Transition,
    TransitionOutcome,
};
use crate::lifecycle::{decide, Action, Decision, Event, Health, NotSent, Policy, Write};
use crate::providers::{
    AccountInquiryRequest, Exchange, FenceHandle, Outcome, PaymentRequest, PayoutProvider,
    ProviderError, StatusQuery, TransferRequest,
};

/// The providers a worker can reach.
pub use crate::providers::Providers;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("no provider client for {0} (disabled or not configured)")]
    NoProvider(Provider),
    #[error("payout {0} kept changing under us; will retry")]
    Contended(PayoutId),
    #[error("payout {0}: the move to SUBMITTING may not have been written ({1}); nothing was sent, will retry")]
    Unwritten(PayoutId, String),
    /// The job's snapshot of the record (see [`Job::Transfer`]) was stale and
    /// nothing was sent. [`Engine::execute`] reads and decides again; it never
    /// returns this.
    #[error("the job's snapshot of the payout was stale; nothing was sent")]
    StaleSnapshot,
}

impl From<apply::ApplyError> for EngineError {
    fn from(e: apply::ApplyError) -> Self {
        match e {
            apply::ApplyError::Ledger(e) => EngineError::Ledger(e),
            apply::ApplyError::Queue(e) => EngineError::Queue(e),
            apply::ApplyError::Contended(id) => EngineError::Contended(id),
        }
    }
}

/// What executing a job led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The payout moved to this state (or was re-written in it).
    Moved(State),
    /// Nothing to do (final, missing, parked, not due, or another job is on it).
    Nothing,
    /// A retry was scheduled after this delay.
    Retrying(Duration),
    /// Parked in the dead-letter list.
    DeadLettered,
}

/// Everything a job needs. Shared by all handlers of a worker process.
pub struct Engine {
    pub ledger: Ledger,
    pub queue: Queue,
    pub providers: Providers,
    pub policy: Policy,
    /// Recorded as the actor in the audit trail.
    pub actor: String,
    /// Told about every provider call and alert (the worker passes its metrics
    /// recorder, which flushes to Redis).
    pub observer: Arc<dyn Observer>,
    /// Per-provider circuit breakers of this process.
    pub breakers: Breakers,
    /// Attempts of a job that fails for infrastructure reasons (Redis) before it
    /// is dead-lettered (apalis ignores its own cap, APALIS.md pitfall 3).
    pub max_attempts: u32,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("actor", &self.actor)
            .finish()
    }
}

const MAX_CAS_ROUNDS: usize = 5;

fn exchange_entry(event: &str, ex: &Exchange, actor: &str) -> HistoryEntry {
    let mut e = HistoryEntry::new(event, now_ms());
    e.outcome = Some(ex.outcome.label().to_owned());
    e.response_code = ex.response_code.clone();
    e.message = ex.response_message.clone().or_else(|| match &ex.outcome {
        Outcome::Unknown { reason }
        | Outcome::Retryable { reason, .. }
        | Outcome::NeverReached { reason } => Some(reason.clone()),
        Outcome::Cancelled { reason, .. } => Some(reason.clone()),
        Outcome::FinalFailure { message, .. } | Outcome::Refused { message, .. } => {
            Some(message.clone())
        }
        Outcome::Success { .. } | Outcome::InProgress { .. } | Outcome::NotFound => None,
    });
    e.http_status = ex.http_status;
    e.latency_ms = Some(ex.latency.as_millis() as u64);
    e.detail = ex.audit.clone();
    e.actor = Some(actor.to_owned());
    e
}

fn signal(h: Health) -> Signal {
    match h {
        Health::Answered => Signal::Ok,
        Health::Unreachable => Signal::ConnectFailure,
        Health::Refusing => Signal::Refused,
    }
}

impl Engine {
    fn provider(&self, p: Provider) -> Result<&Arc<dyn PayoutProvider>, EngineError> {
        self.providers.get(&p).ok_or(EngineError::NoProvider(p))
    }

    /// Execute one job: re-read the payout and take the step the lifecycle decides.
    /// Compare-and-set conflicts are resolved by re-reading, a bounded number of times.
    pub async fn execute(&self, job: &Job) -> Result<Step, EngineError> {
        let id = job.payout();
        if let Job::Inquiry { .. } = job {
            // This job is running: the next inquiry for the payout may be queued.
            release_inquiry(&self.ledger, id).await?;
        }
        // The record as created, if the job carries it and it is the job's payout.
        // A name check needs the record's history first, so it always reads.
        let mut snapshot = job
            .created()
            .filter(|c| !c.doc.verify_beneficiary_name && c.doc.id() == *id)
            .map(Created::payout);
        for _ in 0..MAX_CAS_ROUNDS {
            let from_snapshot = snapshot.is_some();
            let p = match snapshot.take() {
                Some(p) => p,
                None => match self.ledger.get(id).await? {
                    Some(p) => p,
                    None => {
                        tracing::warn!(payout = %id, "job for a payout that is not in the ledger");
                        return Ok(Step::Nothing);
                    }
                },
            };
            if p.state.is_final() || p.meta.dead {
                return Ok(Step::Nothing);
            }
            let paused_until = self.paused_until(p.id.provider).await;
            let event = Event::Picked { paused_until };
            let d = decide(&p, &event, &self.policy, now());
            if from_snapshot && deferrable(&d).is_none() {
                // The snapshot only serves the fenced send, whose compare-and-set
                // proves it current; anything else is decided on the record.
                continue;
            }
            if p.state == State::Accepted && matches!(d.action, Action::Send { .. }) {
                if let Some(step) = self.verify_beneficiary(&p).await? {
                    return Ok(step);
                }
            }
            let mut entry = HistoryEntry::new(event_name(&d), now_ms());
            entry.actor = Some(self.actor.clone());
            if let Some((w, resume)) = deferrable(&d) {
                return match self.submit(&p, &d, w, entry, resume, from_snapshot).await {
                    // Nothing was sent: the record moved since it was created.
                    Err(EngineError::StaleSnapshot) if from_snapshot => continue,
                    other => other,
                };
            }
            let Some(after) = self.write(&p, &d, entry).await? else {
                continue;
            };
            if let Some(step) = self.act(after, &d).await? {
                return Ok(step);
            }
        }
        Err(EngineError::Contended(id.clone()))
    }

    /// The circuit's answer for `provider`: `Some(until)` while paused. A half-open
    /// circuit is probed here with a cheap call.
    async fn paused_until(&self, provider: Provider) -> Option<i64> {
        match self.breakers.permit(provider, now_ms()) {
            Permit::Allow => None,
            Permit::Paused { retry_at_ms } => Some(retry_at_ms),
            Permit::Probe => {
                let signal = match self.providers.get(&provider) {
                    Some(client) => {
                        crate::circuit::probe(client.as_ref(), &ExternalId::fresh(now_ms())).await
                    }
                    None => Signal::ConnectFailure,
                };
                self.observe(provider, signal).await;
                match self.breakers.permit(provider, now_ms()) {
                    Permit::Paused { retry_at_ms } => Some(retry_at_ms),
                    Permit::Allow | Permit::Probe => None,
                }
            }
        }
    }

    async fn observe(&self, provider: Provider, s: Signal) {
        if self.breakers.record(provider, s, now_ms()).is_some() {
            let state = self.breakers.state(provider);
            tracing::warn!(%provider, ?state, "provider circuit changed");
            let mut conn = self.ledger.connection();
            if let Err(e) = self
                .breakers
                .publish(&mut conn, self.ledger.keys(), provider)
                .await
            {
                tracing::warn!(error = %e, %provider, "could not publish the circuit state");
            }
        }
    }

    /// Apply a decision's ledger write, its alert and its health signal.
    async fn write(
        &self,
        p: &Payout,
        d: &Decision,
        entry: HistoryEntry,
    ) -> Result<Option<Payout>, EngineError> {
        self.signal(p, d, &entry).await;
        Ok(apply::write(&self.ledger, p, d, entry).await?)
    }

    /// Index a newly recorded provider reference for providers whose notifications
    /// name only it. Best effort: without the entry a notification still finds the
    /// payout by a bounded scan (`callbacks`), and the payout is still inquired.
    /// A final payout leaves the index (a late notification about it changes nothing).
    async fn index_provider_reference(&self, before: &Payout, after: &Payout) {
        let Some(r) = after.meta.provider_reference.as_deref() else {
            return;
        };
        let indexes = self
            .providers
            .get(&after.id.provider)
            .is_some_and(|c| c.notifies_by_provider_reference());
        if !indexes {
            return;
        }
        let result = if after.state.is_final() {
            self.ledger
                .unindex_provider_reference(after.id.provider.as_str(), r)
                .await
        } else if before.meta.provider_reference.as_deref() != Some(r) {
            self.ledger.index_provider_reference(&after.id, r).await
        } else {
            Ok(())
        };
        if let Err(e) = result {
            tracing::warn!(payout = %after.id, error = %e, "could not update the provider reference index");
        }
    }

    /// A decision to send whose move to SUBMITTING the send fence writes right
    /// before the request (see [`crate::jobs::fence`]): between reading the record
    /// and the request, one ledger round trip instead of a write and a re-check.
    async fn submit(
        &self,
        p: &Payout,
        d: &Decision,
        w: &Write,
        entry: HistoryEntry,
        resume: bool,
        from_snapshot: bool,
    ) -> Result<Step, EngineError> {
        self.signal(p, d, &entry).await;
        let entry = apply::noted(d, entry);
        let ext = ExternalId::fresh(entry.at).as_str().to_owned();
        let transition = apply::transition_for(p, w, entry)?;
        let after = apply::applied(p, w, p.version + 1, Some(ext.clone()));
        let deferred = Deferred {
            before: p.clone(),
            transition,
            external_id: ext.clone(),
            from_snapshot,
        };
        Box::pin(self.send(after, ext, resume, Some(deferred))).await
    }

    /// A decision's alert and health signal.
    async fn signal(&self, p: &Payout, d: &Decision, entry: &HistoryEntry) {
        if let Some(alert) = d.alert {
            self.observer.alert(p.id.provider, alert.as_str());
            tracing::warn!(payout = %p.id, provider = %p.id.provider, alert = alert.as_str(), code = ?entry.response_code, note = %d.note, "alert");
        }
        if let Some(h) = d.health {
            self.observe(p.id.provider, signal(h)).await;
        }
    }

    /// Act on an applied decision. `None` → re-read and decide again.
    async fn act(&self, p: Payout, d: &Decision) -> Result<Option<Step>, EngineError> {
        let parked = d.write.as_ref().is_some_and(|w| w.park.is_some());
        match d.action {
            Action::Send { resume } => {
                let Some(ext) = p.external_ids.last().cloned() else {
                    return Ok(Some(Step::Nothing));
                };
                Box::pin(self.send(p, ext, resume, None)).await.map(Some)
            }
            Action::Inquire => Box::pin(self.inquire(p)).await.map(Some),
            Action::Enqueue { at } => {
                follow_up(&self.ledger, &self.queue, &p, d.action).await?;
                let delay = Duration::from_millis((at - now_ms()).max(0) as u64);
                Ok(Some(Step::Retrying(delay)))
            }
            Action::None if parked => Ok(Some(Step::DeadLettered)),
            Action::None if d.write.is_some() => Ok(Some(Step::Moved(p.state))),
            Action::None => Ok(Some(Step::Nothing)),
        }
    }

    /// Beneficiary account inquiry before a transfer whose producer asked for a
    /// name check. `Some(step)` ends the job; `None` means go ahead. Nothing here
    /// moves money, so a failure to ask is retried later.
    async fn verify_beneficiary(&self, p: &Payout) -> Result<Option<Step>, EngineError> {
        let Some(b) = p
            .details
            .beneficiary
            .as_ref()
            .filter(|_| p.details.verify_beneficiary_name)
        else {
            return Ok(None);
        };
        if p.meta.submissions > 0 {
            return Ok(None); // checked before the first submission
        }
        let provider = self.provider(p.id.provider)?;
        let external_id = ExternalId::fresh(now_ms());
        let req = AccountInquiryRequest {
            bank_code: b.bank_code.clone(),
            account_no: b.account_no.clone(),
            external_id,
        };
        let mut entry = HistoryEntry::new("account_inquiry", now_ms());
        entry.actor = Some(self.actor.clone());
        entry.external_id = Some(req.external_id.as_str().to_owned());
        let (code, message) = match provider.account_inquiry(&req).await {
            Ok(info) if names_match(&b.name, &info.account_name) => {
                entry.note = Some(format!("account holder '{}' matches", info.account_name));
                self.ledger.append_history(&p.id, &entry).await?;
                return Ok(None);
            }
            Ok(info) => (
                "NAME_MISMATCH".to_owned(),
                format!(
                    "beneficiary.name '{}' does not match the account holder '{}'",
                    b.name, info.account_name
                ),
            ),
            Err(ProviderError::Unsupported { .. }) => {
                entry.note = Some("the provider has no account inquiry; name not verified".into());
                self.ledger.append_history(&p.id, &entry).await?;
                return Ok(None);
            }
            Err(ProviderError::Validation(f)) => ("INVALID_REQUEST".into(), f.to_string()),
            Err(ProviderError::Call {
                outcome: Outcome::FinalFailure { code, message },
                ..
            }) => (code, message),
            Err(e) => {
                // Could not ask: try again later, like any "not sent".
                entry.outcome = Some("retryable".into());
                entry.message = Some(e.to_string());
                self.ledger.append_history(&p.id, &entry).await?;
                let delay = self.policy.backoff.delay_unit(0, None, now().jitter);
                self.queue
                    .push(
                        crate::jobs::job_for(&p.id, p.state, p.details.kind)
                            .unwrap_or(Job::transfer(p.id.clone())),
                        Some(delay.max(Duration::from_secs(1))),
                    )
                    .await?;
                return Ok(Some(Step::Retrying(delay)));
            }
        };
        // A definite refusal before anything was sent: FAILED straight from ACCEPTED.
        entry.response_code = Some(code.clone());
        entry.message = Some(message.clone());
        let mut meta = p.meta.clone();
        meta.updated_at = now_ms();
        meta.response_code = Some(code);
        meta.response_message = Some(message);
        meta.next_check_at = None;
        let t = Transition {
            to: State::Failed,
            meta,
            entry,
            due_at: None,
            allocate_external_id: false,
            dead_letter: None,
        };
        Ok(match self.ledger.transition(p, t).await? {
            TransitionOutcome::Applied { .. } => Some(Step::Moved(State::Failed)),
            _ => Some(Step::Nothing),
        })
    }

    /// Send the payout and record the answer. `p` is SUBMITTING with `ext`: already
    /// written, or, with `deferred`, written by the fence before the request.
    async fn send(
        &self,
        p: Payout,
        ext: String,
        resume: bool,
        deferred: Option<Deferred>,
    ) -> Result<Step, EngineError> {
        let provider = self.provider(p.id.provider)?;
        let mut fence = LedgerFence::new(
            self.ledger.clone(),
            &p,
            self.actor.clone(),
            now_ms() + self.policy.send_deadline.as_millis() as i64,
        );
        let from_snapshot = deferred.as_ref().is_some_and(|d| d.from_snapshot);
        if let Some(d) = deferred {
            fence = fence.with_deferred(d);
        }
        let fence = Arc::new(fence);
        let handle = FenceHandle::new(fence.clone());
        let result = match ExternalId::parse(&ext) {
            Err(e) => Err(ProviderError::Validation(e)),
            Ok(external_id) => {
                self.call_provider(provider.as_ref(), &p, external_id, handle, resume)
                    .await
            }
        };
        let (event, entry) = match result {
            Ok(ex) => {
                self.observer.exchange(
                    p.id.provider,
                    p.details.kind.as_str(),
                    ex.outcome.label(),
                    ex.latency,
                );
                let mut entry = exchange_entry("request", &ex, &self.actor);
                entry.external_id = Some(ext);
                (Event::Submitted(ex.outcome.clone()), Some((entry, ex)))
            }
            Err(e) => {
                let ns = match e {
                    ProviderError::Validation(_) | ProviderError::Unsupported { .. } => {
                        NotSent::Invalid(e.to_string())
                    }
                    ProviderError::Config(_) | ProviderError::Call { .. } => {
                        NotSent::Config(e.to_string())
                    }
                    ProviderError::Fenced {
                        ref reason,
                        sent_before,
                    } => NotSent::Fenced {
                        reason: reason.clone(),
                        sent_before,
                    },
                };
                (Event::NotSent(ns), None)
            }
        };
        let mut view = p;
        match fence.deferred_outcome() {
            (DeferredOutcome::Written, _) => {}
            (DeferredOutcome::NotAttempted, Some(d)) => {
                // The client stopped before asking the fence. Write the move now, so the
                // trail reads "submit" then what stopped it, as for any failed send.
                // Stopping before the fence is normal when nothing left (a refused
                // connection, a token call that failed); any other answer means a
                // client sent without asking.
                if matches!(&event, Event::Submitted(o)
                    if !matches!(o, Outcome::NeverReached { .. } | Outcome::Retryable { .. }))
                {
                    tracing::error!(payout = %view.id, provider = %view.id.provider,
                        "the provider client answered without asking the send fence");
                }
                let from_snapshot = d.from_snapshot;
                match self
                    .ledger
                    .transition_with_external_id(&d.before, d.transition, Some(d.external_id))
                    .await?
                {
                    TransitionOutcome::Applied { version, .. } => fence.set_version(version),
                    // Someone else moved it; nothing was sent.
                    _ if from_snapshot => return Err(EngineError::StaleSnapshot),
                    _ => return Ok(Step::Nothing),
                }
            }
            (DeferredOutcome::NotAttempted, None) => return Ok(Step::Nothing),
            (DeferredOutcome::Lost, _) if from_snapshot => {
                // The job's snapshot of the record was stale (a re-run after a
                // crash, a callback, an operator): nothing was sent, and what the
                // fence refused is no news about the payout. Read and decide again.
                return Err(EngineError::StaleSnapshot);
            }
            (DeferredOutcome::Lost, _) => {
                // Another actor moved the record first; nothing was sent. The news
                // ("not sent") goes to the lifecycle against the record as it is now.
                return match self.ledger.get(&view.id).await? {
                    Some(now) => self.record(now, event, entry).await,
                    None => Ok(Step::Nothing),
                };
            }
            (DeferredOutcome::Failed(e), _) => {
                return Err(EngineError::Unwritten(view.id.clone(), e));
            }
        }
        // The fence may have moved the record (first step's reference); start from it.
        view.version = fence.version();
        if let Some(r) = fence.reference() {
            view.meta.provider_reference = Some(r);
        }
        self.record(view, event, entry).await
    }

    async fn call_provider(
        &self,
        provider: &dyn PayoutProvider,
        p: &Payout,
        external_id: ExternalId,
        fence: FenceHandle,
        resume: bool,
    ) -> Result<Exchange, ProviderError> {
        match p.details.kind {
            PayoutKind::Transfer => {
                let Some(b) = &p.details.beneficiary else {
                    return Err(ProviderError::Validation(crate::domain::FieldError::new(
                        "beneficiary",
                        "is mandatory for a transfer",
                    )));
                };
                let req = TransferRequest {
                    partner_reference: p.details.partner_reference.clone(),
                    amount: p.details.amount,
                    beneficiary: b.clone(),
                    remark: p.details.remark.clone(),
                    external_id,
                    transaction_date: crate::snap::timestamp::format(
                        chrono::DateTime::from_timestamp_millis(p.meta.created_at)
                            .unwrap_or_default(),
                    ),
                    // Only where the ledger cannot have forgotten a later step
                    // (see `Policy::ledger_keeps_history`).
                    earlier_send_unknown: p.meta.unknown_since.is_some()
                        && self.policy.ledger_keeps_history,
                    fence,
                };
                match (&p.meta.provider_reference, resume) {
                    (Some(reference), true) => {
                        match provider.resume_transfer(&req, reference).await {
                            Err(ProviderError::Unsupported { .. }) => provider.transfer(&req).await,
                            other => other,
                        }
                    }
                    _ => provider.transfer(&req).await,
                }
            }
            PayoutKind::Payment => {
                let token =
                    self.ledger.card_token(&p.id).await.map_err(|e| {
                        ProviderError::Config(format!("card token unreadable: {e}"))
                    })?;
                match (&p.details.payment, token) {
                    (Some(d), Some(token)) => {
                        let req = PaymentRequest {
                            partner_reference: p.details.partner_reference.clone(),
                            amount: p.details.amount,
                            bank_card_token: token,
                            with_otp: d.with_otp,
                            pay_option: d.pay_option.clone(),
                            remarks: d.remarks.clone(),
                            external_id,
                            fence,
                        };
                        provider.payment(&req).await
                    }
                    _ => Err(ProviderError::Validation(crate::domain::FieldError::new(
                        "bankCardToken",
                        "is mandatory for a payment",
                    ))),
                }
            }
        }
    }

    /// Hand a provider answer to the lifecycle and apply it; on a lost
    /// compare-and-set re-read and decide again (the answer is still news).
    async fn record(
        &self,
        mut view: Payout,
        event: Event,
        exchange: Option<(HistoryEntry, Exchange)>,
    ) -> Result<Step, EngineError> {
        for round in 0..MAX_CAS_ROUNDS {
            if round > 0 {
                match self.ledger.get(&view.id).await? {
                    Some(p) => view = p,
                    None => return Ok(Step::Nothing),
                }
            }
            let mut p = view.clone();
            let mut entry = match &exchange {
                Some((entry, ex)) => {
                    // Keep what the answer carried, whatever it means: NICEPAY's inquiry
                    // needs the registration's reference even after an unknown outcome.
                    if let Some(r) = ex.reference() {
                        p.meta.provider_reference = Some(r.to_owned());
                    }
                    if ex.response_code.is_some() {
                        p.meta.response_code = ex.response_code.clone();
                        p.meta.response_message = ex.response_message.clone();
                    }
                    entry.clone()
                }
                None => {
                    let mut e = HistoryEntry::new(event.name(), now_ms());
                    e.actor = Some(self.actor.clone());
                    if let Event::NotSent(ns) = &event {
                        e.message = Some(format!("{ns:?}"));
                    }
                    e
                }
            };
            let d = decide(&p, &event, &self.policy, now());
            if d.write.is_none() && round == 0 && view.state != State::Submitting {
                entry.event = "late_response".into();
            }
            entry.at = now_ms();
            if let Some((w, resume)) = deferrable(&d) {
                return self.submit(&p, &d, w, entry, resume, false).await;
            }
            let Some(after) = self.write(&p, &d, entry).await? else {
                continue;
            };
            self.index_provider_reference(&view, &after).await;
            return match d.action {
                Action::Send { resume } => match after.external_ids.last().cloned() {
                    Some(ext) => Box::pin(self.send(after, ext, resume, None)).await,
                    None => Ok(Step::Nothing),
                },
                _ => Ok(self.act(after, &d).await?.unwrap_or(Step::Nothing)),
            };
        }
        Err(EngineError::Contended(view.id.clone()))
    }

    /// Ask the provider what happened, and hand the answer to the lifecycle.
    async fn inquire(&self, p: Payout) -> Result<Step, EngineError> {
        let provider = self.provider(p.id.provider)?;
        let external_id = ExternalId::fresh(now_ms());
        let ext = external_id.as_str().to_owned();
        let query = StatusQuery {
            partner_reference: p.details.partner_reference.clone(),
            provider_reference: p.meta.provider_reference.clone(),
            amount: p.details.amount,
            beneficiary_account_no: p.details.beneficiary.as_ref().map(|b| b.account_no.clone()),
            transaction_date: crate::snap::timestamp::format(
                chrono::DateTime::from_timestamp_millis(p.meta.created_at).unwrap_or_default(),
            ),
            external_id,
        };
        let result = match p.details.kind {
            PayoutKind::Transfer => provider.transfer_status(&query).await,
            PayoutKind::Payment => provider.payment_status(&query).await,
        };
        let ex = match result {
            Ok(ex) => ex,
            // The provider has no inquiry for it: the lifecycle decides (NEEDS_REVIEW).
            Err(e @ ProviderError::Unsupported { .. }) => Exchange::bare(
                Outcome::Refused {
                    code: crate::lifecycle::NO_STATUS_INQUIRY.into(),
                    message: e.to_string(),
                },
                Duration::ZERO,
            ),
            // The inquiry could not even be asked: a refusal of our own making, never
            // a statement about the transaction.
            Err(e) => Exchange::bare(
                Outcome::Refused {
                    code: "NOT_SENT".into(),
                    message: format!("inquiry not sent: {e}"),
                },
                Duration::ZERO,
            ),
        };
        self.observer
            .exchange(p.id.provider, "inquiry", ex.outcome.label(), ex.latency);
        let mut entry = exchange_entry("inquiry", &ex, &self.actor);
        entry.external_id = Some(ext);
        let event = Event::Inquired(ex.outcome.clone());
        self.record(p, event, Some((entry, ex))).await
    }
}

/// A decision whose move to SUBMITTING the send fence can write: a send after a
/// write to SUBMITTING that records a new X-EXTERNAL-ID and parks nothing.
fn deferrable(d: &Decision) -> Option<(&Write, bool)> {
    let Action::Send { resume } = d.action else {
        return None;
    };
    d.write
        .as_ref()
        .filter(|w| w.to == State::Submitting && w.allocate_external_id && w.park.is_none())
        .map(|w| (w, resume))
}

fn event_name(d: &Decision) -> &'static str {
    match d.action {
        Action::Send { .. } => "submit",
        Action::Inquire => "recovered",
        Action::Enqueue { .. } => "paused",
        Action::None => "picked",
    }
}

/// Account-holder names as banks return them differ in case, spacing and
/// punctuation, and are often truncated; compare letters and digits only, and
/// accept one being a word-prefix of the other.
pub fn names_match(given: &str, holder: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .map(|w| {
                w.chars()
                    .filter(|c| c.is_alphanumeric())
                    .collect::<String>()
                    .to_uppercase()
            })
            .filter(|w| !w.is_empty())
            .collect()
    };
    let (a, b) = (words(given), words(holder));
    let n = a.len().min(b.len());
    n > 0 && a[..n] == b[..n]
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
