//! The payout record and what is stored with it: identity, details, bookkeeping,
//! audit entries, application events and transition requests.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{Beneficiary, FieldError, Money, PartnerReference, Provider, Secret, State};

/// (provider, partnerReferenceNo): the identity of a payout.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayoutId {
    pub provider: Provider,
    pub reference: PartnerReference,
}

impl PayoutId {
    pub fn new(provider: Provider, reference: PartnerReference) -> Self {
        PayoutId {
            provider,
            reference,
        }
    }
}

impl fmt::Display for PayoutId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider, self.reference)
    }
}

impl FromStr for PayoutId {
    type Err = FieldError;
    /// `provider:reference`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (p, r) = s
            .split_once(':')
            .ok_or_else(|| FieldError::new("payout", "must be provider:partnerReferenceNo"))?;
        Ok(PayoutId::new(p.parse()?, PartnerReference::parse(r)?))
    }
}

impl Serialize for PayoutId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PayoutId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What kind of money movement a payout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayoutKind {
    /// Disbursement to a beneficiary account.
    Transfer,
    /// Direct debit from a registered card.
    Payment,
}

impl PayoutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutKind::Transfer => "transfer",
            PayoutKind::Payment => "payment",
        }
    }
}

/// Direct-debit specifics (the card token is stored apart, see [`NewPayout::card_token`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDetails {
    pub with_otp: bool,
    pub pay_option: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remarks: Option<String>,
    /// SHA-256 of the card token, so idempotent enqueue can compare without storing it twice.
    pub card_token_sha256: String,
}

/// The immutable part of a payout: what the producer asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutDetails {
    pub kind: PayoutKind,
    pub provider: Provider,
    pub partner_reference: PartnerReference,
    pub amount: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beneficiary: Option<Beneficiary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentDetails>,
    /// Run a beneficiary account inquiry first and refuse on a name mismatch.
    #[serde(default)]
    pub verify_beneficiary_name: bool,
}

impl PayoutDetails {
    pub fn id(&self) -> PayoutId {
        PayoutId::new(self.provider, self.partner_reference.clone())
    }

    /// Fingerprint for idempotent enqueue: same reference + same fingerprint = same payout.
    pub fn fingerprint(&self) -> String {
        // serde_json writes struct fields in declaration order, so this is stable.
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
    }
}

/// The mutable bookkeeping of a payout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutMeta {
    pub created_at: i64,
    pub updated_at: i64,
    /// Requests sent to the provider that could have moved money.
    #[serde(default)]
    pub submissions: u32,
    /// Consecutive retryable failures of the current step.
    #[serde(default)]
    pub retries: u32,
    /// Status inquiries made.
    #[serde(default)]
    pub checks: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<i64>,
    /// First time the payout became PENDING or UNKNOWN (the review horizon counts from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unresolved_since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check_at: Option<i64>,
    /// Parked in the dead-letter list; the sweep leaves it alone until re-driven.
    #[serde(default)]
    pub dead: bool,
    /// Resubmissions after a proven "not found" (capped by `reconcile.max_resubmits`).
    #[serde(default)]
    pub resubmits: u32,
    /// Submissions made because an inquiry proved no earlier one could have moved
    /// money (`Outcome::NeverReached`); bounded by `lifecycle::MAX_CERTAIN_RESUBMITS`.
    #[serde(default)]
    pub certain_resubmits: u32,
    /// First "not sent" failure of the current streak (the retry window counts from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_sent_since: Option<i64>,
    /// ACCEPTED: do not submit before this (backoff or a paused provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
}

impl PayoutMeta {
    /// The bookkeeping `create.lua` stores with a new payout: created now, due at
    /// `due_at` as a safety net. [`Created`] relies on this being the one place
    /// that builds it.
    pub fn created(now: i64, due_at: i64) -> Self {
        PayoutMeta {
            created_at: now,
            updated_at: now,
            next_check_at: Some(due_at),
            ..Default::default()
        }
    }
}

/// The version `create.lua` gives a new record. Every transition adds one, and
/// records are never deleted, so a record at this version is exactly as created.
pub const CREATED_VERSION: u64 = 1;

/// A transfer exactly as [`Ledger::create`](super::Ledger::create) wrote it:
/// ACCEPTED at [`CREATED_VERSION`], no X-EXTERNAL-ID yet. The producer puts it in
/// the job it pushes after a create, so the worker can decide on it without
/// reading the record first. It is only ever a *claim* about the record: the move
/// to SUBMITTING is a compare-and-set on [`CREATED_VERSION`], which fails (and
/// nothing is sent) as soon as anything moved the record since it was created.
///
/// Compact on purpose (it sits in the job's data until retention): the details,
/// and the two instants [`PayoutMeta::created`] builds the bookkeeping from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    pub doc: PayoutDetails,
    /// `meta.created_at` (ms).
    pub at: i64,
    /// The due time the record was created with (ms).
    pub due: i64,
}

impl Created {
    /// The snapshot of a record that `create` wrote at `now` with `due_at`.
    pub fn new(doc: PayoutDetails, now: i64, due_at: i64) -> Self {
        Created {
            doc,
            at: now,
            due: due_at,
        }
    }

    /// The payout as created.
    pub fn payout(&self) -> Payout {
        Payout {
            id: self.doc.id(),
            state: State::Accepted,
            version: CREATED_VERSION,
            details: self.doc.clone(),
            meta: PayoutMeta::created(self.at, self.due),
            external_ids: Vec::new(),
        }
    }
}

/// One line of the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: i64,
    /// `created`, `transition`, `request`, `inquiry`, `callback`, `review`, `dead_letter`, …
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Redacted provider response, or callback body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// Who did it: a worker name, `callback:ifortepay`, `operator:alice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl HistoryEntry {
    pub fn new(event: &str, at: i64) -> Self {
        HistoryEntry {
            at,
            event: event.to_owned(),
            ..Default::default()
        }
    }
}

/// A payout as read from the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub id: PayoutId,
    pub state: State,
    pub version: u64,
    pub details: PayoutDetails,
    pub meta: PayoutMeta,
    /// Every X-EXTERNAL-ID allocated for a submission, oldest first.
    pub external_ids: Vec<String>,
}

/// What a producer hands to [`Ledger::create`](super::Ledger::create).
#[derive(Debug, Clone)]
pub struct NewPayout {
    pub details: PayoutDetails,
    /// Direct debit only. Stored in its own field, never returned by reads.
    pub card_token: Option<Secret>,
}

/// Result of [`Ledger::create`](super::Ledger::create).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// A new payout; its job must now be pushed.
    Created,
    /// The same reference with the same details already exists: nothing to do.
    Existing(State),
    /// The same reference exists with different details (SNAP's 404xx18).
    Conflict(State),
}

/// Result of [`Ledger::transition`](super::Ledger::transition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// Applied; `external_id` is set when one was allocated.
    Applied {
        version: u64,
        external_id: Option<String>,
    },
    /// Someone else changed the record first; re-read and decide again.
    Conflict { state: State, version: u64 },
    /// The edge is not in the state machine; nothing changed.
    Forbidden { state: State },
    /// No such payout.
    Missing,
}

/// The application notification for a payout that reached a final state. Its id
/// is stable (`payout id + final state`) so receivers can de-duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutEvent {
    pub id: String,
    /// `payout.succeeded`, `payout.cancelled` or `payout.failed`.
    #[serde(rename = "type")]
    pub kind: String,
    pub payout: PayoutId,
    pub provider: Provider,
    pub partner_reference: PartnerReference,
    pub state: State,
    pub amount: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_message: Option<String>,
    pub occurred_at: i64,
}

impl PayoutEvent {
    pub(super) fn new(p: &Payout, to: State, meta: &PayoutMeta, at: i64) -> Self {
        PayoutEvent {
            id: format!("evt_{}_{}", p.id, to.as_str().to_ascii_lowercase()).replace(':', "_"),
            kind: format!("payout.{}", to.as_str().to_ascii_lowercase()),
            payout: p.id.clone(),
            provider: p.id.provider,
            partner_reference: p.id.reference.clone(),
            state: to,
            amount: p.details.amount,
            provider_reference: meta.provider_reference.clone(),
            response_code: meta.response_code.clone(),
            response_message: meta.response_message.clone(),
            occurred_at: at,
        }
    }
}

/// A transition request: the target state and the bookkeeping to store with it.
#[derive(Debug, Clone)]
pub struct Transition {
    pub to: State,
    pub meta: PayoutMeta,
    pub entry: HistoryEntry,
    /// New due time (ms) in the index, or `None` to remove the payout from it.
    pub due_at: Option<i64>,
    /// Allocate the next X-EXTERNAL-ID and persist it with this transition.
    pub allocate_external_id: bool,
    /// Park: the dead-letter record (JSON whose first field is `"id":0`; the script
    /// assigns the id) written in the same atomic step.
    pub dead_letter: Option<String>,
}
