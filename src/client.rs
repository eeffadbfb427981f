//! `kirim::Client`: the producer API (enqueue and query), used by applications
//! written in Rust, by the CLI and by the HTTP API.
//!
//! Enqueue is idempotent on (provider, partnerReferenceNo): the ledger record is
//! written first (atomically, refusing a different payout under the same
//! reference), and only a newly created record gets a job. A crash between the two
//! leaves an ACCEPTED payout in the due index, which the sweep re-drives after
//! `reconcile.stuck_after_secs` — ledger first means nothing is lost.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::config::Settings;
use crate::domain::{Beneficiary, FieldError, Money, PartnerReference, Provider, Secret, State};
use crate::jobs::{job_for, Job, Queue, QueueError};
use crate::ledger::{
    now_ms, CreateOutcome, Created, HistoryEntry, Ledger, LedgerError, NewPayout, PaymentDetails,
    Payout, PayoutDetails, PayoutId, PayoutKind,
};

#[derive(Debug, Error)]
pub enum ClientError {
    /// Bad input; names the field and the rule.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// Same reference, different details (SNAP 404xx18 "inconsistent request").
    #[error("payout {id} already exists with different details (state {state}); use a new partnerReferenceNo")]
    Conflict { id: PayoutId, state: State },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// A transfer as a producer asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferOrder {
    pub provider: Provider,
    pub partner_reference: PartnerReference,
    pub amount: Money,
    pub beneficiary: Beneficiary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    #[serde(default)]
    pub verify_beneficiary_name: bool,
}

/// A direct-debit payment as a producer asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentOrder {
    pub provider: Provider,
    pub partner_reference: PartnerReference,
    pub amount: Money,
    pub bank_card_token: Secret,
    #[serde(default)]
    pub with_otp: bool,
    pub pay_option: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remarks: Option<String>,
}

/// What enqueue returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enqueued {
    pub id: PayoutId,
    pub state: State,
    /// False when the same payout already existed (nothing new was enqueued).
    pub created: bool,
}

/// A payout with its audit trail, as `kirim status` and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct PayoutView {
    #[serde(flatten)]
    pub payout: Payout,
    pub history: Vec<HistoryEntry>,
}

/// Producer handle. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    ledger: Ledger,
    queue: Queue,
    stuck_after: Duration,
    policy: crate::lifecycle::Policy,
}

fn check_text(value: &Option<String>, field: &str, max: usize) -> Result<(), FieldError> {
    if let Some(v) = value {
        if v.chars().count() > max {
            return Err(FieldError::new(
                field,
                format!("must be at most {max} characters"),
            ));
        }
        // NUL, CR/LF, tabs and other control characters never reach a provider
        // (header and log injection, and every provider's character rules).
        if v.chars().any(char::is_control) {
            return Err(FieldError::new(
                field,
                "must not contain control characters (line breaks, tabs, NUL)",
            ));
        }
    }
    Ok(())
}

/// A new payout's reference is used in URL paths (`GET /v1/transfers/{ref}`,
/// provider status paths): no `.` at the start and no `..` anywhere. (Checked
/// when a payout is accepted, not when a stored one is read.)
fn check_reference(reference: &PartnerReference) -> Result<(), FieldError> {
    let r = reference.as_str();
    if r.starts_with('.') || r.contains("..") {
        return Err(FieldError::new(
            "partnerReferenceNo",
            "must not start with '.' or contain '..' (it is used in URL paths)",
        ));
    }
    Ok(())
}

/// A phone number as E.164 allows: an optional `+` and 6 to 15 digits.
fn check_phone(value: &Option<String>, field: &str) -> Result<(), FieldError> {
    let Some(v) = value else {
        return Ok(());
    };
    let digits = v.strip_prefix('+').unwrap_or(v);
    if !(6..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::new(
            field,
            "must be an optional '+' and 6 to 15 digits (E.164)",
        ));
    }
    Ok(())
}

impl Client {
    /// Connect using the settings' Redis URL and namespace.
    pub async fn connect(settings: &Settings) -> Result<Self, ClientError> {
        let ledger = Ledger::from_settings(settings).await?;
        let queue = Queue::new(
            ledger.connection(),
            ledger.keys(),
            &crate::jobs::QueueOptions::from_settings(settings),
        );
        Ok(Client::new(
            ledger,
            queue,
            crate::lifecycle::Policy::from_settings(settings),
        ))
    }

    pub fn new(ledger: Ledger, queue: Queue, policy: crate::lifecycle::Policy) -> Self {
        Client {
            ledger,
            queue,
            stuck_after: policy.stuck_after,
            policy,
        }
    }

    /// The lifecycle's timing rules this client decides with.
    pub fn policy(&self) -> &crate::lifecycle::Policy {
        &self.policy
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    pub fn transfer_payout(order: &TransferOrder) -> Result<NewPayout, ClientError> {
        if order.amount == Money::zero() {
            return Err(FieldError::new("amount", "must be greater than zero").into());
        }
        if order.beneficiary.name.trim().is_empty() {
            return Err(
                FieldError::new("beneficiary.name", "is mandatory and must not be empty").into(),
            );
        }
        check_text(
            &Some(order.beneficiary.name.clone()),
            "beneficiary.name",
            100,
        )?;
        check_text(&order.remark, "remark", 100)?;
        check_text(&order.beneficiary.email, "beneficiary.email", 50)?;
        check_text(&order.beneficiary.address, "beneficiary.address", 100)?;
        check_phone(&order.beneficiary.phone, "beneficiary.phone")?;
        check_reference(&order.partner_reference)?;
        Ok(NewPayout {
            details: PayoutDetails {
                kind: PayoutKind::Transfer,
                provider: order.provider,
                partner_reference: order.partner_reference.clone(),
                amount: order.amount,
                beneficiary: Some(order.beneficiary.clone()),
                remark: order.remark.clone(),
                payment: None,
                verify_beneficiary_name: order.verify_beneficiary_name,
            },
            card_token: None,
        })
    }

    async fn enqueue(&self, new: NewPayout) -> Result<Enqueued, ClientError> {
        let id = new.details.id();
        let now = now_ms();
        let due_at = now + self.stuck_after.as_millis() as i64;
        match self.ledger.create(&new, now, due_at).await? {
            CreateOutcome::Created => {
                if let Some(job) = job_for(&id, State::Accepted, new.details.kind) {
                    let job = job.with_created(Created::new(new.details, now, due_at));
                    self.queue.push(job, None).await?;
                }
                Ok(Enqueued {
                    id,
                    state: State::Accepted,
                    created: true,
                })
            }
            CreateOutcome::Existing(state) => Ok(Enqueued {
                id,
                state,
                created: false,
            }),
            CreateOutcome::Conflict(state) => Err(ClientError::Conflict { id, state }),
        }
    }

    /// Record a transfer and enqueue its job (idempotent on the reference).
    pub async fn enqueue_transfer(&self, order: &TransferOrder) -> Result<Enqueued, ClientError> {
        self.enqueue(Self::transfer_payout(order)?).await
    }

    /// Record many transfers and push their jobs in bounded chunks (bulk intake).
    /// Per-order results keep the input order; a conflict does not stop the batch.
    ///
    /// Each chunk of up to [`crate::jobs::PUSH_CHUNK`] orders is written to the
    /// ledger in one pipelined round trip (one atomic create script per order), and
    /// only then are that chunk's jobs pushed: ledger first, as for one order.
    pub async fn enqueue_transfers(
        &self,
        orders: &[TransferOrder],
    ) -> Result<Vec<Result<Enqueued, ClientError>>, ClientError> {
        let mut results: Vec<Option<Result<Enqueued, ClientError>>> =
            orders.iter().map(|_| None).collect();
        let mut valid: Vec<(usize, NewPayout)> = Vec::with_capacity(orders.len());
        for (i, order) in orders.iter().enumerate() {
            match Self::transfer_payout(order) {
                Ok(n) => valid.push((i, n)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        for chunk in valid.chunks(crate::jobs::PUSH_CHUNK) {
            let news: Vec<NewPayout> = chunk.iter().map(|(_, n)| n.clone()).collect();
            let now = now_ms();
            let due_at = now + self.stuck_after.as_millis() as i64;
            let outcomes = self.ledger.create_many(&news, now, due_at).await?;
            let mut jobs: Vec<Job> = Vec::with_capacity(chunk.len());
            for ((i, new), outcome) in chunk.iter().zip(outcomes) {
                let id = new.details.id();
                results[*i] = Some(match outcome? {
                    CreateOutcome::Created => {
                        // Only a payout this call created: its record is exactly this.
                        jobs.push(Job::transfer(id.clone()).with_created(Created::new(
                            new.details.clone(),
                            now,
                            due_at,
                        )));
                        Ok(Enqueued {
                            id,
                            state: State::Accepted,
                            created: true,
                        })
                    }
                    CreateOutcome::Existing(state) => Ok(Enqueued {
                        id,
                        state,
                        created: false,
                    }),
                    CreateOutcome::Conflict(state) => Err(ClientError::Conflict { id, state }),
                });
            }
            self.queue.push_many(jobs).await?;
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(ClientError::Invalid(FieldError::new(
                        "order",
                        "was not processed",
                    )))
                })
            })
            .collect())
    }

    /// Record a direct-debit payment and enqueue its job.
    pub async fn enqueue_payment(&self, order: &PaymentOrder) -> Result<Enqueued, ClientError> {
        self.enqueue(Self::payment_payout(order)?).await
    }

    /// The payment a valid order records; errors name the field and the rule.
    pub fn payment_payout(order: &PaymentOrder) -> Result<NewPayout, ClientError> {
        // With OTP, the debit answer only means "OTP sent" and the payment waits for
        // the customer's code (a verify step kirim does not implement): such a
        // payout would poll "in progress" until the review horizon. Refuse it here.
        if order.with_otp {
            return Err(FieldError::new(
                "withOtp",
                "payments that need an OTP are not supported yet (kirim has no OTP verification step); send withOtp false",
            )
            .into());
        }
        if order.amount == Money::zero() {
            return Err(FieldError::new("amount", "must be greater than zero").into());
        }
        let token = order.bank_card_token.expose();
        if token.is_empty() {
            return Err(
                FieldError::new("bankCardToken", "is mandatory and must not be empty").into(),
            );
        }
        if token.chars().count() > 560 {
            return Err(FieldError::new("bankCardToken", "must be at most 560 characters").into());
        }
        check_reference(&order.partner_reference)?;
        check_text(&Some(order.pay_option.clone()), "payOption", 64)?;
        if order.pay_option.is_empty() {
            return Err(FieldError::new("payOption", "is mandatory, at most 64 characters").into());
        }
        check_text(&order.remarks, "remarks", 64)?;
        Ok(NewPayout {
            details: PayoutDetails {
                kind: PayoutKind::Payment,
                provider: order.provider,
                partner_reference: order.partner_reference.clone(),
                amount: order.amount,
                beneficiary: None,
                remark: None,
                payment: Some(PaymentDetails {
                    with_otp: order.with_otp,
                    pay_option: order.pay_option.clone(),
                    remarks: order.remarks.clone(),
                    card_token_sha256: hex::encode(Sha256::digest(token.as_bytes())),
                }),
                verify_beneficiary_name: false,
            },
            card_token: Some(order.bank_card_token.clone()),
        })
    }

    /// A payout and its audit trail.
    pub async fn status(&self, id: &PayoutId) -> Result<Option<PayoutView>, ClientError> {
        let Some(payout) = self.ledger.get(id).await? else {
            return Ok(None);
        };
        let history = self.ledger.history(id).await?;
        Ok(Some(PayoutView { payout, history }))
    }

    /// Resolve a NEEDS_REVIEW payout by hand (after checking with the provider or
    /// the bank): audited with who did it and why. Only final states are allowed.
    pub async fn resolve_review(
        &self,
        id: &PayoutId,
        to: State,
        actor: &str,
        note: &str,
    ) -> Result<State, ClientError> {
        if !to.is_final() {
            return Err(FieldError::new("state", "must be SUCCEEDED, CANCELLED or FAILED").into());
        }
        if actor.trim().is_empty() {
            return Err(FieldError::new("actor", "is mandatory: who resolves it").into());
        }
        if note.trim().is_empty() {
            return Err(
                FieldError::new("note", "is mandatory: why (ticket, bank statement, ...)").into(),
            );
        }
        let mut entry = HistoryEntry::new("review", now_ms());
        entry.actor = Some(format!("operator:{actor}"));
        entry.note = Some(note.to_owned());
        let event = crate::lifecycle::Event::Operator { to };
        match crate::jobs::apply::report(&self.ledger, &self.queue, &self.policy, id, &event, entry)
            .await
        {
            Ok(crate::jobs::apply::Reported::Missing) => {
                Err(FieldError::new("reference", "no such payout").into())
            }
            Ok(crate::jobs::apply::Reported::Applied {
                to: now, decision, ..
            }) => {
                if decision.write.is_none() {
                    return Err(FieldError::new("reference", decision.note).into());
                }
                Ok(now)
            }
            Err(crate::jobs::apply::ApplyError::Contended(_)) => {
                Err(FieldError::new("reference", "payout kept changing; try again").into())
            }
            Err(crate::jobs::apply::ApplyError::Ledger(e)) => Err(e.into()),
            Err(crate::jobs::apply::ApplyError::Queue(e)) => Err(e.into()),
        }
    }

    /// Up to `limit` payouts in `state` (unordered; see [`Ledger::list`]).
    pub async fn list(&self, state: State, limit: usize) -> Result<Vec<Payout>, ClientError> {
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            let (next, ids) = self.ledger.list(state, cursor, 500).await?;
            for id in ids {
                if out.len() >= limit {
                    return Ok(out);
                }
                if let Some(p) = self.ledger.get(&id).await? {
                    out.push(p);
                }
            }
            cursor = next;
            if cursor == 0 {
                return Ok(out);
            }
        }
    }
}
