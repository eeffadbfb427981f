//! The ledger: one Redis record per payout, keyed by (provider, partnerReferenceNo),
//! the single source of truth for what kirim has done.
//!
//! # Invariants
//! - **Ledger first.** [`Ledger::create`] runs before any job is pushed. A job only
//!   names a payout; the record says what to do with it.
//! - **Compare-and-set, forward only.** [`Ledger::transition`] is one Lua script that
//!   checks the record's version (so two workers acting on the same payout cannot
//!   both win) and the allowed-edge table from [`State::can_move_to`] (so no code
//!   path can move a payout backwards or out of a final state).
//! - **X-EXTERNAL-ID persisted before sending.** The same script can allocate the
//!   next id from the per-partner daily counter and append it to the record, in the
//!   same atomic step that moves the payout to SUBMITTING.
//! - **Every non-final payout is in the due index.** Whatever crashes, the sweep will
//!   find the payout again when its due time passes.
//! - **Append-only history.** Every transition appends an entry; nothing rewrites it.
//!   Entries never hold secrets (card tokens live in a separate field that no read
//!   path returns, deleted by the final transition). Compaction changes where a
//!   final payout's entries are kept (its cold form), never their text.
//!
//! # Layout
//! - `record`: the payout record, its audit entries and events (types).
//! - `write`: creating payouts and moving them (the Lua scripts).
//! - `read`: reading records, histories, state sets and the due index.
//! - `cold`, `compact`: a final payout's cold form (one deflated field) and the
//!   pass that moves final payouts to it.
//!
//! Per-state sets are kept for the lasting states only ([`has_state_set`]).

use std::fmt;

use redis::Script;
use thiserror::Error;

use crate::domain::State;
use crate::durability::{ServerFacts, Verdict, WaitFor};
use crate::keys::Keys;
use crate::redis_conn::RedisConn;

mod cold;
mod compact;
mod read;
mod record;
mod write;

pub use cold::{ColdError, ColdRecord};
pub use compact::Compaction;
pub use record::{
    CreateOutcome, Created, HistoryEntry, NewPayout, PaymentDetails, Payout, PayoutDetails,
    PayoutEvent, PayoutId, PayoutKind, PayoutMeta, Transition, TransitionOutcome, CREATED_VERSION,
};

/// Milliseconds since the Unix epoch (the ledger's clock unit).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The ledger's clock `ago` before now (ms; the epoch's start for an age past it),
/// e.g. the cutoff of [`Ledger::compact_final`].
pub fn ms_ago(ago: std::time::Duration) -> i64 {
    now_ms().saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX))
}

#[derive(Debug, Error)]
pub enum LedgerError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("ledger record {id} is corrupt: {detail}")]
    Corrupt { id: String, detail: String },
    #[error("encode: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("not durable: {0}")]
    NotDurable(#[from] crate::durability::NotDurable),
    #[error("{0}")]
    DurabilityRefused(String),
}

/// Handle to the ledger. Cheap to clone (one multiplexed connection).
#[derive(Clone)]
pub struct Ledger {
    conn: RedisConn,
    keys: Keys,
    create: Script,
    transition: Script,
    compact: Script,
    claim: Script,
    scan_due: Script,
    append: Script,
    /// What a write that must survive waits for (`redis.durability`).
    wait: WaitFor,
    /// Whether a final transition writes its application event to the outbox
    /// (off when `notify.url` is empty: nothing would ever deliver it).
    outbox: bool,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("namespace", &self.keys.namespace())
            .finish()
    }
}

fn transition_script() -> Script {
    let pairs: Vec<String> = State::allowed_pairs()
        .into_iter()
        .map(|(a, b)| format!("['{}>{}']=true", a.as_str(), b.as_str()))
        .collect();
    let sets: Vec<String> = State::ALL
        .into_iter()
        .filter(|s| has_state_set(*s))
        .map(|s| format!("['{}']=true", s.as_str()))
        .collect();
    let src = include_str!("transition.lua")
        .replace("__ALLOWED__", &format!("{{{}}}", pairs.join(",")))
        .replace("__SETS__", &format!("{{{}}}", sets.join(",")));
    Script::new(&src)
}

/// Whether the ledger keeps a set of the payouts in `state`.
///
/// ACCEPTED and SUBMITTING keep none: they are transient (a payout passes through
/// both in milliseconds), and keeping them cost a SADD at every create and a
/// SMOVE at every submission. A payout in either is in the due index or, parked,
/// has a dead letter; [`Ledger::list`] and [`Ledger::count_by_state`] find them
/// there (scan_due.lua), at O(non-final payouts) per call instead of O(1).
pub fn has_state_set(state: State) -> bool {
    !matches!(state, State::Accepted | State::Submitting)
}

impl Ledger {
    pub fn new(conn: RedisConn, keys: Keys) -> Self {
        Ledger {
            conn,
            keys,
            create: Script::new(include_str!("create.lua")),
            transition: transition_script(),
            compact: Script::new(include_str!("compact.lua")),
            claim: Script::new(include_str!("claim_due.lua")),
            scan_due: Script::new(include_str!("scan_due.lua")),
            append: Script::new(include_str!("append.lua")),
            wait: WaitFor::nothing(),
            outbox: true,
        }
    }

    /// Write the notification outbox with every final transition (the default),
    /// or not at all (`notify.url` empty: no one delivers the events, so writing
    /// them would only cost two commands per payout and memory forever).
    pub fn with_outbox(mut self, on: bool) -> Self {
        self.outbox = on;
        self
    }

    /// Whether final transitions write the outbox ([`Self::with_outbox`]).
    pub fn writes_outbox(&self) -> bool {
        self.outbox
    }

    /// Wait for `wait` after every enqueue and before every send (`redis.durability`).
    pub fn with_durability(mut self, wait: WaitFor) -> Self {
        self.wait = wait;
        self
    }

    /// [`Self::with_durability`], then [`Self::check_durability`]: refuse a server
    /// that cannot honour the setting, warn where kirim cannot tell.
    pub async fn durable(self, wait: WaitFor) -> Result<Self, LedgerError> {
        let ledger = self.with_durability(wait);
        match ledger.check_durability().await? {
            Verdict::Matches => {}
            Verdict::Warn(why) => tracing::warn!("{why}"),
            Verdict::Refuse(why) => return Err(LedgerError::DurabilityRefused(why)),
        }
        Ok(ledger)
    }

    /// Read the server's persistence and replication facts and judge them against
    /// the durability setting (call at start-up; see [`crate::durability`]).
    pub async fn check_durability(&self) -> Result<Verdict, LedgerError> {
        let mut conn = self.conn.clone();
        let config = |name: &'static str| {
            let mut c = redis::cmd("CONFIG");
            c.arg("GET").arg(name);
            c
        };
        let mut facts = ServerFacts::default();
        if let Ok(v) = config("appendonly")
            .query_async::<Vec<String>>(&mut conn)
            .await
        {
            facts.appendonly = v.get(1).cloned();
        }
        if let Ok(v) = config("appendfsync")
            .query_async::<Vec<String>>(&mut conn)
            .await
        {
            facts.appendfsync = v.get(1).cloned();
        }
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        facts.version = info_field(&info, "redis_version").and_then(|v| {
            let mut it = v.split('.').map(|n| n.parse::<u32>().ok());
            Some((it.next()??, it.next()??))
        });
        let repl: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        facts.connected_replicas =
            info_field(&repl, "connected_slaves").and_then(|n| n.parse().ok());
        Ok(crate::durability::verdict(&self.wait, &facts))
    }

    /// Wait until the writes made so far on the ledger's connection reached the
    /// replicas the setting asks for (modes `replicas*`; otherwise nothing). The
    /// send fence calls this right before a request that can move money.
    pub async fn confirm_durable(&self) -> Result<(), LedgerError> {
        let Some(cmd) = self.wait.command() else {
            return Ok(());
        };
        let mut conn = self.conn.clone();
        let reply: redis::Value = cmd.query_async(&mut conn).await?;
        self.wait.check(&reply)?;
        Ok(())
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A connection for other modules (queue, sweep) that share the ledger's.
    pub fn connection(&self) -> RedisConn {
        self.conn.clone()
    }
}

/// One `field:value` line of an `INFO` reply.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}
