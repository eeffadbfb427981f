//! What a job does: read the payout from the ledger and take the one step its state
//! allows. This is where DESIGN.md's rules turn into code:
//!
//! - ACCEPTED → move to SUBMITTING *with a freshly allocated X-EXTERNAL-ID* in one
//!   compare-and-set, then send. Only the job that wins the CAS sends.
//! - SUBMITTING found by a job → another job is sending, or one crashed mid-send.
//!   Within `submit_grace` we leave it (the due index brings it back); after it the
//!   payout becomes UNKNOWN and we inquire. We never send again from here.
//! - PENDING / UNKNOWN / NEEDS_REVIEW → inquire. Only a definite "not found" on an
//!   UNKNOWN payout older than `not_found_grace` allows one new submission with the
//!   same partnerReferenceNo.
//! - Final states → nothing.
//!
//! Retries are classified by the provider's [`Outcome`]: retryable (nothing
//! reached the provider) goes back to ACCEPTED with full-jitter backoff until the
//! attempt cap, then to the dead-letter list; unknown goes to UNKNOWN and inquiry.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::{ExternalId, Provider};
use crate::jobs::{Job, Queue, QueueError};
use crate::ledger::{
    now_ms, HistoryEntry, Ledger, LedgerError, Payout, PayoutId, PayoutKind, PayoutMeta, State,
    Transition, TransitionOutcome,
};
use crate::providers::{
    AccountInquiryRequest, Exchange, Outcome, PaymentRequest, PayoutProvider, ProviderError,
    StatusQuery, TransferRequest,
};
use crate::retry::{schedule_delay, Backoff};

/// The providers a worker can reach.
pub type ProviderSet = HashMap<Provider, Arc<dyn PayoutProvider>>;

/// Timing rules for jobs and reconciliation, from settings.
#[derive(Debug, Clone)]
pub struct Policy {
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// Reconciliation polling delays; the last repeats.
    pub schedule: Vec<Duration>,
    /// Unresolved longer than this → NEEDS_REVIEW.
    pub horizon: Duration,
    /// Per-provider schedule and horizon, overriding the two above.
    pub per_provider: HashMap<Provider, (Vec<Duration>, Duration)>,
    /// UNKNOWN for at least this long before a "not found" allows resubmission.
    pub not_found_grace: Duration,
    /// A SUBMITTING payout younger than this may still be in flight.
    pub submit_grace: Duration,
    /// Safety net: an ACCEPTED payout not picked up by then is re-driven by the sweep.
    pub stuck_after: Duration,
}

impl Policy {
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        let request_timeout = Duration::from_millis(
            [
                s.providers.ifortepay.http.request_timeout_ms,
                s.providers.nicepay.http.request_timeout_ms,
                s.providers.singapay.http.request_timeout_ms,
            ]
            .into_iter()
            .max()
            .unwrap_or(15_000),
        );
        Policy {
            max_attempts: s.worker.max_attempts,
            backoff: Backoff {
                base: Duration::from_millis(s.worker.backoff_base_ms),
                cap: Duration::from_millis(s.worker.backoff_max_ms),
            },
            schedule: secs(&s.reconcile.schedule_secs),
            horizon: Duration::from_secs(s.reconcile.horizon_secs),
            per_provider: s
                .reconcile
                .providers
                .iter()
                .map(|(p, ps)| {
                    (
                        *p,
                        (
                            secs(&ps.schedule_secs),
                            Duration::from_secs(ps.horizon_secs),
                        ),
                    )
                })
                .collect(),
            not_found_grace: Duration::from_secs(s.reconcile.not_found_grace_secs),
            // Three of the longest requests (token fetch, send, one refresh and resend) plus slack.
            submit_grace: s
                .reconcile
                .submit_grace_secs
                .map(Duration::from_secs)
                .unwrap_or(request_timeout * 3 + Duration::from_secs(5)),
            stuck_after: Duration::from_secs(s.reconcile.stuck_after_secs),
        }
    }
}

fn secs(v: &[u64]) -> Vec<Duration> {
    v.iter().map(|x| Duration::from_secs(*x)).collect()
}

impl Policy {
    /// Delay before check number `checks` for `provider`.
    pub fn check_delay(&self, provider: Provider, checks: u32) -> Duration {
        match self.per_provider.get(&provider) {
            Some((schedule, _)) => schedule_delay(schedule, checks),
            None => schedule_delay(&self.schedule, checks),
        }
    }

    /// How long `provider`'s payouts may stay unresolved before review.
    pub fn horizon_for(&self, provider: Provider) -> Duration {
        self.per_provider
            .get(&provider)
            .map(|(_, h)| *h)
            .unwrap_or(self.horizon)
    }
}

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
}

/// What executing a job led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The payout moved to this state.
    Moved(State),
    /// Nothing to do (final, missing, parked, or another job is on it).
    Nothing,
    /// A retry was scheduled after this delay.
    Retrying(Duration),
    /// Parked in the dead-letter list.
    DeadLettered,
}

/// A dead-letter record (`kirim dead list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: u64,
    pub payout: PayoutId,
    pub job: String,
    pub reason: String,
    pub at: i64,
}

/// Everything a job needs. Shared by all handlers of a worker process.
pub struct Engine {
    pub ledger: Ledger,
    pub queue: Queue,
    pub providers: ProviderSet,
    pub policy: Policy,
    /// Recorded as the actor in the audit trail.
    pub actor: String,
    /// Provider call counts and latencies (flushed to Redis by the worker).
    pub metrics: Arc<crate::metrics::Recorder>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("actor", &self.actor)
            .finish()
    }
}

const MAX_CAS_ROUNDS: usize = 5;

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

fn exchange_entry(event: &str, now: i64, ex: &Exchange, actor: &str) -> HistoryEntry {
    let mut e = HistoryEntry::new(event, now);
    e.outcome = Some(ex.outcome.label().to_owned());
    e.response_code = ex.response_code.clone();
    e.message = ex.response_message.clone().or_else(|| match &ex.outcome {
        Outcome::Unknown { reason } | Outcome::Retryable { reason, .. } => Some(reason.clone()),
        Outcome::Cancelled { reason, .. } => Some(reason.clone()),
        Outcome::FinalFailure { message, .. } => Some(message.clone()),
        _ => None,
    });
    e.http_status = ex.http_status;
    e.latency_ms = Some(ex.latency.as_millis() as u64);
    e.detail = ex.audit.clone();
    e.actor = Some(actor.to_owned());
    e
}

impl Engine {
    fn provider(&self, p: Provider) -> Result<&Arc<dyn PayoutProvider>, EngineError> {
        self.providers.get(&p).ok_or(EngineError::NoProvider(p))
    }

    /// Execute one job: re-read the payout and take the step its state allows.
    /// Compare-and-set conflicts (another job moved the payout) are resolved by
    /// re-reading, a bounded number of times.
    pub async fn execute(&self, job: &Job) -> Result<Step, EngineError> {
        let id = job.payout();
        for _ in 0..MAX_CAS_ROUNDS {
            let Some(p) = self.ledger.get(id).await? else {
                tracing::warn!(payout = %id, "job for a payout that is not in the ledger");
                return Ok(Step::Nothing);
            };
            if p.meta.dead {
                return Ok(Step::Nothing);
            }
            let step = match p.state {
                State::Accepted => self.submit(p).await?,
                State::Submitting => self.recover_submitting(p).await?,
                State::Pending | State::Unknown | State::NeedsReview => self.inquire(p).await?,
                State::Succeeded | State::Cancelled | State::Failed => Some(Step::Nothing),
            };
            if let Some(step) = step {
                return Ok(step);
            }
        }
        Err(EngineError::Contended(id.clone()))
    }

    /// Apply a transition; `Ok(None)` means "lost the race, re-read".
    async fn apply(
        &self,
        p: &Payout,
        t: Transition,
    ) -> Result<Option<(u64, Option<String>)>, EngineError> {
        let to = t.to;
        match self.ledger.transition(p, t).await? {
            TransitionOutcome::Applied {
                version,
                external_id,
            } => {
                tracing::debug!(payout = %p.id, from = %p.state, to = %to, "transition");
                Ok(Some((version, external_id)))
            }
            TransitionOutcome::Conflict { .. } => Ok(None),
            TransitionOutcome::Forbidden { state } => {
                tracing::warn!(payout = %p.id, from = %state, to = %to, "forbidden transition refused");
                Ok(None)
            }
            TransitionOutcome::Missing => Ok(None),
        }
    }

    /// Beneficiary account inquiry before a transfer whose producer asked for a
    /// name check. `Some(step)` ends the job (refused, or retry later); `None` means
    /// go ahead. Nothing here moves money, so every failure is safe to retry.
    async fn verify_beneficiary(&self, p: &Payout) -> Result<Option<Option<Step>>, EngineError> {
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
        let now = now_ms();
        let ext = self.ledger.next_external_id(p.id.provider, now).await?;
        let Ok(external_id) = ExternalId::parse(&ext) else {
            return Ok(None);
        };
        let req = AccountInquiryRequest {
            bank_code: b.bank_code.clone(),
            account_no: b.account_no.clone(),
            external_id,
        };
        let mut entry = HistoryEntry::new("account_inquiry", now_ms());
        entry.actor = Some(self.actor.clone());
        entry.external_id = Some(ext);
        let mut meta = p.meta.clone();
        meta.updated_at = now_ms();
        let (to, code, message) = match provider.account_inquiry(&req).await {
            Ok(info) if names_match(&b.name, &info.account_name) => {
                entry.note = Some(format!("account holder '{}' matches", info.account_name));
                self.ledger.append_history(&p.id, &entry).await?;
                return Ok(None);
            }
            Ok(info) => (
                State::Failed,
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
            Err(ProviderError::Validation(f)) => {
                (State::Failed, "INVALID_REQUEST".into(), f.to_string())
            }
            Err(ProviderError::Call {
                outcome: Outcome::FinalFailure { code, message },
                ..
            }) => (State::Failed, code, message),
            Err(e) => {
                // Could not ask: try again later, like any retryable step.
                entry.outcome = Some("retryable".into());
                entry.message = Some(e.to_string());
                return Ok(Some(
                    self.retry_later(p.clone(), meta, entry, None)
                        .await
                        .map(Some)?,
                ));
            }
        };
        entry.response_code = Some(code.clone());
        entry.message = Some(message.clone());
        meta.response_code = Some(code);
        meta.response_message = Some(message);
        let t = Transition {
            to,
            meta,
            entry,
            due_at: None,
            allocate_external_id: false,
        };
        Ok(Some(self.apply(p, t).await?.map(|_| Step::Moved(to))))
    }

    /// ACCEPTED → SUBMITTING (+ X-EXTERNAL-ID) → send → record the outcome.
    async fn submit(&self, p: Payout) -> Result<Option<Step>, EngineError> {
        if let Some(step) = self.verify_beneficiary(&p).await? {
            return Ok(step);
        }
        let now = now_ms();
        let mut meta = p.meta.clone();
        meta.submissions += 1;
        meta.submitted_at = Some(now);
        meta.updated_at = now;
        let mut entry = HistoryEntry::new("submit", now);
        entry.actor = Some(self.actor.clone());
        let t = Transition {
            to: State::Submitting,
            meta: meta.clone(),
            entry,
            due_at: Some(now + ms(self.policy.submit_grace)),
            allocate_external_id: true,
        };
        let Some((version, Some(ext))) = self.apply(&p, t).await? else {
            return Ok(None);
        };
        let p = Payout {
            state: State::Submitting,
            version,
            meta,
            external_ids: {
                let mut v = p.external_ids.clone();
                v.push(ext.clone());
                v
            },
            ..p
        };
        self.send(p, ext).await.map(Some)
    }

    /// Send the payout (it is SUBMITTING with `ext` persisted) and record the result.
    async fn send(&self, p: Payout, ext: String) -> Result<Step, EngineError> {
        let provider = self.provider(p.id.provider)?;
        let external_id = match ExternalId::parse(&ext) {
            Ok(e) => e,
            Err(e) => return self.finish_not_sent(p, ProviderError::Validation(e)).await,
        };
        let result = match p.details.kind {
            PayoutKind::Transfer => match &p.details.beneficiary {
                Some(b) => {
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
                        fence: Default::default(),
                    };
                    // A two-step provider whose first step is known to have been done
                    // (NICEPAY registration) continues from there; registering again
                    // would only be refused as a duplicate.
                    match &p.meta.provider_reference {
                        Some(reference) if p.meta.submissions > 1 => {
                            match provider.resume_transfer(&req, reference).await {
                                Err(ProviderError::Unsupported { .. }) => {
                                    provider.transfer(&req).await
                                }
                                other => other,
                            }
                        }
                        _ => provider.transfer(&req).await,
                    }
                }
                None => Err(ProviderError::Validation(crate::domain::FieldError::new(
                    "beneficiary",
                    "is mandatory for a transfer",
                ))),
            },
            PayoutKind::Payment => {
                let token = self.ledger.card_token(&p.id).await?;
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
                            fence: Default::default(),
                        };
                        provider.payment(&req).await
                    }
                    _ => Err(ProviderError::Validation(crate::domain::FieldError::new(
                        "bankCardToken",
                        "is mandatory for a payment",
                    ))),
                }
            }
        };
        match result {
            Ok(ex) => {
                self.metrics.record(
                    p.id.provider,
                    p.details.kind.as_str(),
                    ex.outcome.label(),
                    ex.latency,
                );
                self.record_submission(p, ex).await
            }
            Err(e) => self.finish_not_sent(p, e).await,
        }
    }

    /// Nothing reached the provider: validation → FAILED; configuration → parked.
    async fn finish_not_sent(&self, p: Payout, err: ProviderError) -> Result<Step, EngineError> {
        let now = now_ms();
        let mut meta = p.meta.clone();
        meta.updated_at = now;
        let mut entry = HistoryEntry::new("not_sent", now);
        entry.actor = Some(self.actor.clone());
        entry.message = Some(err.to_string());
        match err {
            ProviderError::Validation(_) | ProviderError::Unsupported { .. } => {
                meta.response_code = Some("INVALID_REQUEST".into());
                meta.response_message = Some(err.to_string());
                let t = Transition {
                    to: State::Failed,
                    meta,
                    entry,
                    due_at: None,
                    allocate_external_id: false,
                };
                Ok(match self.apply(&p, t).await? {
                    Some(_) => Step::Moved(State::Failed),
                    None => Step::Nothing,
                })
            }
            ProviderError::Config(_)
            | ProviderError::Call { .. }
            | ProviderError::Fenced { .. } => {
                self.park(p, meta, entry, State::Accepted, "provider configuration")
                    .await
            }
        }
    }

    /// Map the answer to a submission onto the state machine.
    async fn record_submission(&self, p: Payout, ex: Exchange) -> Result<Step, EngineError> {
        let now = now_ms();
        let mut meta = p.meta.clone();
        meta.updated_at = now;
        meta.response_code = ex.response_code.clone().or(meta.response_code);
        meta.response_message = ex.response_message.clone().or(meta.response_message);
        // Keep any provider reference the answer carried, even on an unknown outcome:
        // NICEPAY's inquiry cannot be made without the registration's reference.
        meta.provider_reference = ex
            .reference()
            .map(str::to_owned)
            .or(meta.provider_reference);
        let entry = exchange_entry("request", now, &ex, &self.actor);
        let first_check = now + ms(self.policy.check_delay(p.id.provider, 0));
        let (to, due) = match &ex.outcome {
            Outcome::Success { reference } => {
                meta.provider_reference = reference.clone().or(meta.provider_reference);
                (State::Succeeded, None)
            }
            Outcome::InProgress { reference } => {
                meta.provider_reference = reference.clone().or(meta.provider_reference);
                meta.unresolved_since.get_or_insert(now);
                meta.next_check_at = Some(first_check);
                (State::Pending, Some(first_check))
            }
            Outcome::Cancelled { reference, .. } => {
                meta.provider_reference = reference.clone().or(meta.provider_reference);
                (State::Cancelled, None)
            }
            Outcome::FinalFailure { code, message } => {
                meta.response_code = Some(code.clone());
                meta.response_message = Some(message.clone());
                (State::Failed, None)
            }
            // A submission answered "not found" is not a definite no: inquire.
            Outcome::Unknown { .. } | Outcome::NotFound | Outcome::Refused { .. } => {
                meta.unresolved_since.get_or_insert(now);
                meta.unknown_since = Some(now);
                meta.next_check_at = Some(first_check);
                (State::Unknown, Some(first_check))
            }
            Outcome::Retryable { delay_hint, .. } => {
                return self.retry_later(p, meta, entry, *delay_hint).await;
            }
        };
        meta.retries = 0;
        let t = Transition {
            to,
            meta,
            entry,
            due_at: due,
            allocate_external_id: false,
        };
        Ok(match self.apply(&p, t).await? {
            Some(_) => Step::Moved(to),
            // Someone (an inquiry after our grace ran out) moved it: our answer is
            // still in the audit trail; the next inquiry settles it.
            None => {
                self.ledger
                    .append_history(
                        &p.id,
                        &exchange_entry("late_response", now, &ex, &self.actor),
                    )
                    .await?;
                Step::Nothing
            }
        })
    }

    /// SUBMITTING → ACCEPTED and a delayed job, or the dead-letter list at the cap.
    async fn retry_later(
        &self,
        p: Payout,
        mut meta: PayoutMeta,
        entry: HistoryEntry,
        hint: Option<Duration>,
    ) -> Result<Step, EngineError> {
        meta.retries += 1;
        if meta.retries >= self.policy.max_attempts {
            return self
                .park(p, meta, entry, State::Accepted, "retries exhausted")
                .await;
        }
        let delay = self
            .policy
            .backoff
            .delay(meta.retries - 1, hint, &mut rand::thread_rng());
        let now = now_ms();
        let due = now + ms(delay) + ms(self.policy.stuck_after);
        meta.next_check_at = Some(now + ms(delay));
        let t = Transition {
            to: State::Accepted,
            meta,
            entry,
            due_at: Some(due),
            allocate_external_id: false,
        };
        if self.apply(&p, t).await?.is_none() {
            return Ok(Step::Nothing);
        }
        let job = match p.details.kind {
            PayoutKind::Transfer => Job::Transfer {
                payout: p.id.clone(),
            },
            PayoutKind::Payment => Job::Payment {
                payout: p.id.clone(),
            },
        };
        self.queue.push(job, Some(delay)).await?;
        Ok(Step::Retrying(delay))
    }

    /// Move to `to`, flag the payout dead, drop it from the due index and record a
    /// dead letter an operator can re-drive with `kirim dead retry`.
    async fn park(
        &self,
        p: Payout,
        mut meta: PayoutMeta,
        mut entry: HistoryEntry,
        to: State,
        reason: &str,
    ) -> Result<Step, EngineError> {
        meta.dead = true;
        entry.note = Some(format!("dead-lettered: {reason}"));
        let t = Transition {
            to,
            meta,
            entry,
            due_at: None,
            allocate_external_id: false,
        };
        if self.apply(&p, t).await?.is_none() {
            return Ok(Step::Nothing);
        }
        crate::jobs::dead::record(&self.ledger, &p.id, kind_job(p.details.kind), reason).await?;
        Ok(Step::DeadLettered)
    }

    /// A job found the payout SUBMITTING.
    async fn recover_submitting(&self, p: Payout) -> Result<Option<Step>, EngineError> {
        let now = now_ms();
        let since = p.meta.submitted_at.unwrap_or(p.meta.updated_at);
        if now - since < ms(self.policy.submit_grace) {
            // Possibly still in flight in another worker; the due index (set to
            // submitted_at + grace when it entered SUBMITTING) brings it back.
            return Ok(Some(Step::Nothing));
        }
        let mut meta = p.meta.clone();
        meta.updated_at = now;
        meta.unresolved_since.get_or_insert(now);
        meta.unknown_since = Some(now);
        let mut entry = HistoryEntry::new("recovered", now);
        entry.actor = Some(self.actor.clone());
        entry.note = Some(
            "found SUBMITTING past the grace period (crash mid-send?): outcome unknown, inquiring"
                .into(),
        );
        let t = Transition {
            to: State::Unknown,
            meta: meta.clone(),
            entry,
            due_at: Some(now + ms(self.policy.check_delay(p.id.provider, 0))),
            allocate_external_id: false,
        };
        let Some((version, _)) = self.apply(&p, t).await? else {
            return Ok(None);
        };
        let p = Payout {
            state: State::Unknown,
            version,
            meta,
            ..p
        };
        self.inquire(p).await
    }

    /// Ask the provider what happened, and settle or reschedule.
    async fn inquire(&self, p: Payout) -> Result<Option<Step>, EngineError> {
        let provider = self.provider(p.id.provider)?;
        let now = now_ms();
        let ext = self.ledger.next_external_id(p.id.provider, now).await?;
        let external_id = match ExternalId::parse(&ext) {
            Ok(e) => e,
            Err(_) => return Ok(Some(Step::Nothing)),
        };
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
        let now = now_ms();
        let ex = match result {
            Ok(ex) => ex,
            Err(e) => Exchange::bare(
                Outcome::Unknown {
                    reason: format!("inquiry not sent: {e}"),
                },
                Duration::ZERO,
            ),
        };
        self.metrics
            .record(p.id.provider, "inquiry", ex.outcome.label(), ex.latency);
        let mut entry = exchange_entry("inquiry", now, &ex, &self.actor);
        entry.external_id = Some(ext);
        let mut meta = p.meta.clone();
        meta.updated_at = now;
        meta.checks += 1;
        meta.provider_reference = ex
            .reference()
            .map(str::to_owned)
            .or(meta.provider_reference);
        let (to, due) = match &ex.outcome {
            Outcome::Success { reference } => {
                meta.provider_reference = reference.clone().or(meta.provider_reference);
                (State::Succeeded, None)
            }
            Outcome::Cancelled { reference, reason } => {
                meta.provider_reference = reference.clone().or(meta.provider_reference);
                meta.response_message = Some(reason.clone());
                (State::Cancelled, None)
            }
            Outcome::FinalFailure { code, message } => {
                meta.response_code = Some(code.clone());
                meta.response_message = Some(message.clone());
                (State::Failed, None)
            }
            Outcome::NotFound
                if p.state == State::Unknown
                    && now - meta.unknown_since.unwrap_or(now)
                        >= ms(self.policy.not_found_grace) =>
            {
                return self.resubmit(p, meta, entry).await;
            }
            Outcome::InProgress { reference } => {
                meta.provider_reference = reference.clone().or(meta.provider_reference);
                let to = if p.state == State::Unknown {
                    State::Pending
                } else {
                    p.state
                };
                return self.reschedule(p, meta, entry, to).await;
            }
            Outcome::NotFound
            | Outcome::Unknown { .. }
            | Outcome::Retryable { .. }
            | Outcome::Refused { .. } => {
                let st = p.state;
                return self.reschedule(p, meta, entry, st).await;
            }
        };
        let t = Transition {
            to,
            meta,
            entry,
            due_at: due,
            allocate_external_id: false,
        };
        Ok(self.apply(&p, t).await?.map(|_| Step::Moved(to)))
    }

    /// Keep polling: next due time from the schedule; past the horizon → NEEDS_REVIEW.
    async fn reschedule(
        &self,
        p: Payout,
        mut meta: PayoutMeta,
        mut entry: HistoryEntry,
        mut to: State,
    ) -> Result<Option<Step>, EngineError> {
        let now = now_ms();
        let since = *meta.unresolved_since.get_or_insert(now);
        if to != State::NeedsReview && now - since >= ms(self.policy.horizon_for(p.id.provider)) {
            to = State::NeedsReview;
            entry.note = Some("unresolved past the review horizon: needs an operator".into());
        }
        let next = now + ms(self.policy.check_delay(p.id.provider, meta.checks));
        meta.next_check_at = Some(next);
        let t = Transition {
            to,
            meta,
            entry,
            due_at: Some(next),
            allocate_external_id: false,
        };
        Ok(self.apply(&p, t).await?.map(|_| Step::Moved(to)))
    }

    /// UNKNOWN + provider definitely has no record (after the grace period):
    /// submit once more with the same partnerReferenceNo and a new X-EXTERNAL-ID.
    async fn resubmit(
        &self,
        p: Payout,
        mut meta: PayoutMeta,
        mut entry: HistoryEntry,
    ) -> Result<Option<Step>, EngineError> {
        let now = now_ms();
        meta.submissions += 1;
        meta.submitted_at = Some(now);
        entry.note = Some(
            "provider has no record after the grace period: resubmitting with the same reference"
                .into(),
        );
        // The inquiry's own id stays in the entry's note; the new submission id is allocated here.
        let inquiry_id = entry.external_id.take();
        if let Some(i) = inquiry_id {
            entry.note = Some(format!(
                "{} (inquiry X-EXTERNAL-ID {i})",
                entry.note.unwrap_or_default()
            ));
        }
        let t = Transition {
            to: State::Submitting,
            meta: meta.clone(),
            entry,
            due_at: Some(now + ms(self.policy.submit_grace)),
            allocate_external_id: true,
        };
        let Some((version, Some(ext))) = self.apply(&p, t).await? else {
            return Ok(None);
        };
        let p = Payout {
            state: State::Submitting,
            version,
            meta,
            ..p
        };
        self.send(p, ext).await.map(Some)
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

fn kind_job(kind: PayoutKind) -> &'static str {
    match kind {
        PayoutKind::Transfer => "transfer",
        PayoutKind::Payment => "payment",
    }
}

/// The job that moves a payout forward from `state`.
pub fn job_for(id: &PayoutId, state: State, kind: PayoutKind) -> Option<Job> {
    match state {
        State::Accepted => Some(match kind {
            PayoutKind::Transfer => Job::Transfer { payout: id.clone() },
            PayoutKind::Payment => Job::Payment { payout: id.clone() },
        }),
        State::Submitting | State::Pending | State::Unknown | State::NeedsReview => {
            Some(Job::Inquiry { payout: id.clone() })
        }
        State::Succeeded | State::Cancelled | State::Failed => None,
    }
}

#[cfg(test)]
mod tests {
    use super::names_match;

    #[test]
    fn name_matching_ignores_case_spacing_punctuation_and_truncation() {
        assert!(names_match("Budi  Santoso", "BUDI SANTOSO"));
        assert!(names_match("Budi Santoso, S.Kom", "BUDI SANTOSO SKOM"));
        assert!(names_match(
            "Muhammad Abdurrahman Wahid",
            "MUHAMMAD ABDURRAHMAN"
        ));
        assert!(!names_match("Budi Santoso", "SITI AMINAH"));
        assert!(!names_match("", "SITI"));
        assert!(!names_match("Bud", "BUDI SANTOSO"), "whole words only");
    }
}
