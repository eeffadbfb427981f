//! The sandbox's ledger of money movements: bookings per reference, balances and
//! the settlement schedule, and what settling a booking does.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use rust_decimal::Decimal;
use serde::Serialize;
use tokio::time::Instant;

use crate::domain::Provider;

/// Which records a reference is unique among.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// iFortepay transfer interbank, NICEPAY payout, Singapay v2.0 transfer.
    Transfer,
    /// iFortepay direct debit payment.
    Debit,
    /// Singapay v1.0 transfer (indexed by `notes`).
    TransferV1,
}

/// Where a booking stands. Each provider module maps these to its own wire values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// NICEPAY: registered, waiting for approve or reject. Nothing booked yet.
    Registered,
    /// Booked, money on its way.
    Init,
    /// Direct debit: pending at the bank.
    Pending,
    Success,
    /// Booked, then failed; the balance was refunded.
    Cancelled,
    /// NICEPAY: cancelled before approve.
    Voided,
    /// NICEPAY: rejected before approve.
    Rejected,
    /// Direct debit: failed.
    Failed,
    /// Direct debit: succeeded, then refunded.
    Refunded,
}

impl Status {
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Registered | Status::Init | Status::Pending)
    }
}

/// What the settler will do with a booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Succeed,
    Cancel,
    /// Never settles (magic account `9000000004`, debit `30003.00`).
    Stuck,
    /// Direct debit: succeed, then report refunded.
    Refund,
    /// Direct debit: fail.
    Fail,
}

/// One reference's record. Serialised as-is by `GET /admin/bookings`.
#[derive(Debug, Clone, Serialize)]
pub struct Booking {
    pub provider: Provider,
    pub kind: Kind,
    pub reference: String,
    /// The provider's own reference (`referenceNo`, `transaction_id`).
    pub provider_reference: String,
    /// Money-moving records created for this reference (the oracle).
    pub booked_count: u32,
    /// Requests that reused the reference and were refused as duplicates.
    pub duplicate_attempts: u32,
    pub status: Status,
    pub plan: Plan,
    pub amount: Decimal,
    pub fee: Decimal,
    pub beneficiary_account_no: String,
    pub beneficiary_bank_code: String,
    pub beneficiary_name: String,
    /// As sent by the client (`transactionDate`), or the booking time.
    pub transaction_date: String,
    pub created_at: DateTime<FixedOffset>,
    pub final_at: Option<DateTime<FixedOffset>>,
    pub cancelled_reason: Option<String>,
    /// Whether booking debits the merchant balance (payouts) or not (direct debit,
    /// where money comes *in* from a card).
    pub debits_balance: bool,
    /// Provider-specific request fields echoed in answers and callbacks.
    pub extra: serde_json::Value,
    /// Due time on the sandbox clock ([`Clock::instant`](super::clock::Clock::instant)).
    #[serde(skip)]
    pub(crate) settle_at: Option<Instant>,
}

impl Booking {
    /// The payout this record belongs to: its reference, or for a NICEPAY
    /// registration under a derived reference the payout's
    /// ([`crate::providers::payout_reference_of`]).
    pub fn payout_reference(&self) -> &str {
        crate::providers::payout_reference_of(self.provider, &self.reference)
    }
}

/// Bookings, balances and the settlement schedule. One lock: a booking and its
/// balance movement must change together.
pub(crate) struct Books {
    pub bookings: HashMap<(Provider, Kind, String), Booking>,
    pub balances: HashMap<Provider, Decimal>,
    /// Due time (sandbox clock) → booking key, for the settler (O(due) per pass).
    pub due: BTreeMap<(Instant, u64), (Provider, Kind, String)>,
    /// iFortepay account inquiries by partnerReferenceNo (history detail type INQUIRY).
    pub inquiries: HashMap<String, serde_json::Value>,
    pub(super) seq: u64,
}

impl Books {
    /// Put a booking on the settlement schedule at `now + delay` (sandbox clock);
    /// returns its due time.
    pub(super) fn schedule(
        &mut self,
        key: (Provider, Kind, String),
        now: Instant,
        delay: Duration,
    ) -> Instant {
        let at = now + delay;
        self.seq += 1;
        self.due.insert((at, self.seq), key);
        at
    }

    /// Whether `at` is the first due time (the settler must wake up earlier).
    pub(super) fn is_earliest(&self, at: Option<Instant>) -> bool {
        match (at, self.due.first_key_value()) {
            (Some(at), Some((&(first, _), _))) => at <= first,
            _ => false,
        }
    }
}

/// Outcome of trying to book.
pub(crate) enum BookError {
    /// The reference exists already (409xx01 / SP004).
    Duplicate,
    /// Balance too low (403xx14 / SP003).
    InsufficientFunds,
}

/// Why a NICEPAY approve did not book.
pub(crate) enum ApproveError {
    NotRegistered(Status),
    InsufficientFunds,
}

/// Apply a booking's plan. Called with the books lock held.
pub(super) fn settle_locked(books: &mut Books, b: &mut Booking, now: DateTime<FixedOffset>) {
    b.settle_at = None;
    match b.plan {
        Plan::Stuck => return,
        Plan::Succeed => b.status = Status::Success,
        Plan::Refund => b.status = Status::Refunded,
        Plan::Fail => b.status = Status::Failed,
        Plan::Cancel => {
            b.status = Status::Cancelled;
            b.cancelled_reason = Some("External Server Error".into());
            if b.debits_balance {
                *books.balances.entry(b.provider).or_default() += b.amount + b.fee;
            }
        }
    }
    b.final_at = Some(now);
}

/// Format a decimal with exactly two places (the SNAP wire form).
pub fn wire(d: Decimal) -> String {
    let mut d = d;
    d.rescale(2);
    d.to_string()
}
