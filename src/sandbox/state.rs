//! The sandbox's books, all in memory: issued tokens, X-EXTERNAL-IDs seen today,
//! bookings per reference, balances, and the settlement schedule.
//!
//! Nothing survives a restart; that is the point of a sandbox. Each map sits behind
//! its own `std::sync::Mutex` (not Tokio's): every critical section is a few hash
//! map operations with no `.await` inside, so a blocking lock is cheaper than an
//! async one and cannot be held across a suspension point by construction.
//!
//! # The "never paid twice" oracle
//! A *booking* is a money-moving record: an iFortepay transfer or direct debit, a
//! NICEPAY payout at approve, a Singapay transfer. `booked_count` counts how many
//! times one reference was booked. The provider rules (409xx01 / SP004 on a repeated
//! reference) keep it at 1 for every API except Singapay v1.0, which has no client
//! reference: its bookings are indexed by `notes` and every call books again, so a
//! client that resends a v1.0 transfer shows up as `booked_count: 2`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

use super::books::settle_locked;
pub use super::books::{wire, Booking, Kind, Plan, Status};
pub(crate) use super::books::{ApproveError, BookError, Books};
use super::clock::Clock;
use super::config::{Resolved, SandboxConfig};
use super::faults::{lock, Faults};
use super::magic;
use crate::domain::Provider;

/// Shared, cheap-to-clone handle on everything the handlers need.
pub type AppState = Arc<State>;

/// Everything the sandbox knows.
pub struct State {
    pub cfg: SandboxConfig,
    pub(crate) creds: Resolved,
    pub faults: Faults,
    /// The sandbox's "now" (wall clock + an offset tests can move); see [`Clock`].
    pub clock: Clock,
    tokens: Mutex<HashMap<String, IssuedToken>>,
    external_ids: Mutex<HashMap<Provider, (NaiveDate, HashSet<String>)>>,
    pub(crate) books: Mutex<Books>,
    /// Wakes the settler when a booking with an earlier due time is added.
    pub(crate) settle_wakeup: Notify,
    /// Final statuses waiting for callback delivery.
    pub(crate) callbacks_tx: mpsc::UnboundedSender<Settled>,
    pub(crate) callback_log: Mutex<Vec<CallbackRecord>>,
    counter: AtomicU64,
    /// Flips to `true` once on shutdown; hung handlers and background tasks watch it.
    pub(crate) shutdown: watch::Receiver<bool>,
}

#[derive(Debug, Clone, Copy)]
struct IssuedToken {
    provider: Provider,
    expires_at: Instant,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Issued by this sandbox but expired (401xx01, Singapay SP013).
    Expired,
    /// Never issued here, or issued for another provider (401xx03, Singapay SP013).
    Unknown,
}

/// A booking that reached a final status, handed to the callback dispatcher.
#[derive(Debug, Clone)]
pub struct Settled {
    pub booking: Booking,
}

/// One callback delivery attempt, for `GET /admin/callbacks`.
#[derive(Debug, Clone, Serialize)]
pub struct CallbackRecord {
    pub provider: Provider,
    pub reference: String,
    pub url: String,
    /// The status the notification carried (provider wire value).
    pub status: String,
    pub attempt: u32,
    /// Injected callback faults applied to this message.
    pub faults: Vec<String>,
    /// HTTP status of the answer, if any.
    pub http_status: Option<u16>,
    /// Transport error, if no answer.
    pub error: Option<String>,
    pub at: String,
}

impl State {
    pub(crate) fn new(
        cfg: SandboxConfig,
        creds: Resolved,
        callbacks_tx: mpsc::UnboundedSender<Settled>,
        shutdown: watch::Receiver<bool>,
    ) -> State {
        let balances = HashMap::from([
            (
                crate::providers::ifortepay::ID,
                creds.ifortepay.initial_balance,
            ),
            (crate::providers::nicepay::ID, creds.nicepay.initial_balance),
            (
                crate::providers::singapay::ID,
                creds.singapay.initial_balance,
            ),
        ]);
        State {
            faults: Faults::new(cfg.faults.clone(), cfg.seed),
            clock: Clock::new(),
            cfg,
            creds,
            tokens: Mutex::new(HashMap::new()),
            external_ids: Mutex::new(HashMap::new()),
            books: Mutex::new(Books {
                bookings: HashMap::new(),
                balances,
                due: BTreeMap::new(),
                inquiries: HashMap::new(),
                seq: 0,
            }),
            settle_wakeup: Notify::new(),
            callbacks_tx,
            callback_log: Mutex::new(Vec::new()),
            counter: AtomicU64::new(1),
            shutdown,
        }
    }

    /// A fresh number for provider references and tokens.
    pub fn next_id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// The current time in Jakarta, on the sandbox clock.
    pub fn now(&self) -> DateTime<FixedOffset> {
        self.clock.now()
    }

    /// Move the sandbox clock forward by `by` and settle what is then due; returns
    /// the new offset.
    pub fn advance_clock(&self, by: Duration) -> Duration {
        let offset = self.clock.advance(by);
        self.clock_moved();
        offset
    }

    /// Set the sandbox clock's offset from the wall clock and settle what is then due.
    pub fn set_clock_offset(&self, offset: Duration) {
        self.clock.set_offset(offset);
        self.clock_moved();
    }

    fn clock_moved(&self) {
        self.settle_due(false);
        // The settler sleeps until a due time in real time; make it recompute.
        self.settle_wakeup.notify_one();
    }

    /// Issue a bearer token for `provider`; returns the token and its lifetime.
    pub fn issue_token(&self, provider: Provider) -> (String, u64) {
        let ttl = self.cfg.token_ttl_secs;
        let n = self.next_id();
        let nonce: u64 = rand::random();
        let token = format!("sbx-{}-{n}-{nonce:016x}", provider.as_str());
        let mut tokens = lock(&self.tokens);
        let now = self.clock.instant();
        if tokens.len() > 100_000 {
            tokens.retain(|_, t| t.expires_at > now);
        }
        tokens.insert(
            token.clone(),
            IssuedToken {
                provider,
                expires_at: now + Duration::from_secs(ttl),
            },
        );
        (token, ttl)
    }

    /// Check a bearer token (without the `Bearer ` prefix).
    pub fn check_token(&self, provider: Provider, token: &str) -> Result<(), TokenError> {
        let tokens = lock(&self.tokens);
        match tokens.get(token) {
            Some(t) if t.provider != provider => Err(TokenError::Unknown),
            Some(t) if t.expires_at <= self.clock.instant() => Err(TokenError::Expired),
            Some(_) => Ok(()),
            None => Err(TokenError::Unknown),
        }
    }

    /// Expire every issued token now (`POST /admin/tokens/expire`): the next call
    /// gets 401xx01, so clients' refresh paths can be tested without waiting.
    pub fn expire_tokens(&self) -> usize {
        let mut tokens = lock(&self.tokens);
        let now = self.clock.instant();
        for t in tokens.values_mut() {
            t.expires_at = now;
        }
        tokens.len()
    }

    /// Record an X-EXTERNAL-ID; `false` if it was already used today (Jakarta date).
    pub fn record_external_id(&self, provider: Provider, id: &str) -> bool {
        let today = self.now().date_naive();
        let mut ids = lock(&self.external_ids);
        let (day, set) = ids
            .entry(provider)
            .or_insert_with(|| (today, HashSet::new()));
        if *day != today {
            *day = today;
            set.clear();
        }
        set.insert(id.to_owned())
    }

    /// Deterministic "does this ordinary booking cancel?" from seed and reference,
    /// independent of request order.
    fn draws_cancel(&self, provider: Provider, reference: &str) -> bool {
        if self.cfg.cancel_ratio <= 0.0 {
            return false;
        }
        let digest = Sha256::digest(format!("{}:{provider}:{reference}", self.cfg.seed));
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        let x = u64::from_be_bytes(first) as f64 / u64::MAX as f64;
        x < self.cfg.cancel_ratio
    }

    /// The settlement plan of a transfer to `account`.
    pub fn plan_for(&self, provider: Provider, reference: &str, account: &str) -> Plan {
        match account {
            magic::ALWAYS_CANCEL => Plan::Cancel,
            magic::STUCK => Plan::Stuck,
            magic::ALWAYS_SUCCESS => Plan::Succeed,
            _ if self.draws_cancel(provider, reference) => Plan::Cancel,
            _ => Plan::Succeed,
        }
    }

    pub fn balance(&self, provider: Provider) -> Decimal {
        lock(&self.books)
            .balances
            .get(&provider)
            .copied()
            .unwrap_or_default()
    }

    /// Book a money-moving record: check the reference, debit `amount + fee`, and
    /// schedule settlement. With zero delay the booking is settled before this
    /// returns, so the answer can carry the final status.
    ///
    /// `repeatable` (Singapay v1.0) books again under an existing reference instead
    /// of refusing it.
    pub(crate) fn book(
        &self,
        mut booking: Booking,
        repeatable: bool,
    ) -> Result<Booking, BookError> {
        let key = (booking.provider, booking.kind, booking.reference.clone());
        let total = if booking.debits_balance {
            booking.amount + booking.fee
        } else {
            Decimal::ZERO
        };
        let delay = self.cfg.settlement_delay();
        let now = self.clock.instant();
        let mut books = lock(&self.books);
        if let Some(existing) = books.bookings.get_mut(&key) {
            if !repeatable {
                existing.duplicate_attempts += 1;
                return Err(BookError::Duplicate);
            }
            booking.booked_count = existing.booked_count;
        }
        let balance = books.balances.entry(booking.provider).or_default();
        if booking.beneficiary_account_no == magic::INSUFFICIENT_FUNDS || *balance < total {
            return Err(BookError::InsufficientFunds);
        }
        *balance -= total;
        booking.booked_count += 1;
        booking.settle_at = None;
        if booking.status == Status::Init && booking.plan != Plan::Stuck {
            if delay.is_zero() {
                settle_locked(&mut books, &mut booking, self.now());
            } else {
                booking.settle_at = Some(books.schedule(key.clone(), now, delay));
            }
        }
        let earliest = books.is_earliest(booking.settle_at);
        books.bookings.insert(key, booking.clone());
        drop(books);
        if earliest {
            self.settle_wakeup.notify_one();
        }
        if booking.status.is_final() {
            self.emit_final(&booking);
        }
        Ok(booking)
    }

    /// Insert or replace a record that moves no money (NICEPAY registration).
    pub(crate) fn register(&self, booking: Booking) -> Result<Booking, BookError> {
        let key = (booking.provider, booking.kind, booking.reference.clone());
        let mut books = lock(&self.books);
        if let Some(existing) = books.bookings.get_mut(&key) {
            existing.duplicate_attempts += 1;
            return Err(BookError::Duplicate);
        }
        books.bookings.insert(key, booking.clone());
        Ok(booking)
    }

    /// Read one booking (settling whatever is due on the sandbox clock first).
    pub fn get(&self, provider: Provider, kind: Kind, reference: &str) -> Option<Booking> {
        self.settle_due(false);
        lock(&self.books)
            .bookings
            .get(&(provider, kind, reference.to_owned()))
            .cloned()
    }

    /// Change a booking under the lock; `f` returns whatever the caller needs. The
    /// closure must not block.
    pub(crate) fn update<R>(
        &self,
        provider: Provider,
        kind: Kind,
        reference: &str,
        f: impl FnOnce(&mut Books, &mut Booking) -> R,
    ) -> Option<R> {
        self.settle_due(false);
        let key = (provider, kind, reference.to_owned());
        let mut books = lock(&self.books);
        let mut booking = books.bookings.remove(&key)?;
        let r = f(&mut books, &mut booking);
        books.bookings.insert(key, booking);
        Some(r)
    }

    /// NICEPAY approve: turn a registration into a booking (debit, schedule).
    pub(crate) fn approve(
        &self,
        provider: Provider,
        reference: &str,
    ) -> Option<Result<Booking, ApproveError>> {
        let delay = self.cfg.settlement_delay();
        let now = self.now();
        let now_instant = self.clock.instant();
        let result = self.update(provider, Kind::Transfer, reference, |books, b| {
            if b.status != Status::Registered {
                return Err(ApproveError::NotRegistered(b.status));
            }
            let total = b.amount + b.fee;
            let balance = books.balances.entry(provider).or_default();
            if b.beneficiary_account_no == magic::INSUFFICIENT_FUNDS || *balance < total {
                return Err(ApproveError::InsufficientFunds);
            }
            *balance -= total;
            b.booked_count += 1;
            b.status = Status::Init;
            if b.plan != Plan::Stuck {
                if delay.is_zero() {
                    settle_locked(books, b, now);
                } else {
                    let key = (provider, Kind::Transfer, reference.to_owned());
                    b.settle_at = Some(books.schedule(key, now_instant, delay));
                }
            }
            Ok((b.clone(), books.is_earliest(b.settle_at)))
        })?;
        let result = result.map(|(b, earliest)| {
            if earliest {
                self.settle_wakeup.notify_one();
            }
            b
        });
        if let Ok(b) = &result {
            if b.status.is_final() {
                self.emit_final(b);
            }
        }
        Some(result)
    }

    /// Settle every booking due at `now`; with `force`, everything scheduled
    /// (`POST /admin/settle`). Returns how many were settled.
    pub fn settle_due(&self, force: bool) -> usize {
        let now_instant = self.clock.instant();
        let now = self.now();
        let mut settled = Vec::new();
        {
            let mut books = lock(&self.books);
            while let Some((&(at, seq), _)) = books.due.first_key_value() {
                if !force && at > now_instant {
                    break;
                }
                let Some(key) = books.due.remove(&(at, seq)) else {
                    break;
                };
                let Some(mut b) = books.bookings.remove(&key) else {
                    continue;
                };
                if b.settle_at == Some(at) && !b.status.is_final() {
                    settle_locked(&mut books, &mut b, now);
                    settled.push(b.clone());
                }
                books.bookings.insert(key, b);
            }
        }
        for b in &settled {
            self.emit_final(b);
        }
        settled.len()
    }

    /// When the next booking falls due (sandbox clock), if any.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        lock(&self.books)
            .due
            .first_key_value()
            .map(|(&(at, _), _)| at)
    }

    fn emit_final(&self, booking: &Booking) {
        // The receiver lives as long as the server; if it is gone we are shutting
        // down and a lost callback is fine.
        let _ = self.callbacks_tx.send(Settled {
            booking: booking.clone(),
        });
    }

    /// Every booking, for the admin endpoint (sorted for stable output).
    pub fn all_bookings(&self) -> Vec<Booking> {
        self.settle_due(false);
        let mut v: Vec<Booking> = lock(&self.books).bookings.values().cloned().collect();
        v.sort_by(|a, b| (a.created_at, &a.reference).cmp(&(b.created_at, &b.reference)));
        v
    }

    /// Bookings with this reference at any provider.
    pub fn bookings_for(&self, reference: &str) -> Vec<Booking> {
        self.settle_due(false);
        let mut v: Vec<Booking> = lock(&self.books)
            .bookings
            .values()
            .filter(|b| b.reference == reference)
            .cloned()
            .collect();
        v.sort_by_key(|b| (b.provider, b.kind));
        v
    }

    pub(crate) fn log_callback(&self, record: CallbackRecord) {
        lock(&self.callback_log).push(record);
    }

    pub fn callback_log(&self) -> Vec<CallbackRecord> {
        lock(&self.callback_log).clone()
    }
}
