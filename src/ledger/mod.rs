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
//!   path returns, deleted by the final transition).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::domain::{Beneficiary, FieldError, Money, PartnerReference, Provider, Secret, State};
use crate::durability::{ServerFacts, Verdict, WaitFor};
use crate::keys::Keys;
use crate::redis_conn::RedisConn;

/// Creates per pipelined round trip in [`Ledger::create_many`].
const CREATE_PIPELINE: usize = 200;

/// Milliseconds since the Unix epoch (the ledger's clock unit).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
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
    /// First "not sent" failure of the current streak (the retry window counts from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_sent_since: Option<i64>,
    /// ACCEPTED: do not submit before this (backoff or a paused provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
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

/// What a producer hands to [`Ledger::create`].
#[derive(Debug, Clone)]
pub struct NewPayout {
    pub details: PayoutDetails,
    /// Direct debit only. Stored in its own field, never returned by reads.
    pub card_token: Option<Secret>,
}

/// Result of [`Ledger::create`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// A new payout; its job must now be pushed.
    Created,
    /// The same reference with the same details already exists: nothing to do.
    Existing(State),
    /// The same reference exists with different details (SNAP's 404xx18).
    Conflict(State),
}

/// Result of [`Ledger::transition`].
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
    fn new(p: &Payout, to: State, meta: &PayoutMeta, at: i64) -> Self {
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

/// Handle to the ledger. Cheap to clone (one multiplexed connection).
#[derive(Clone)]
pub struct Ledger {
    conn: RedisConn,
    keys: Keys,
    create: Script,
    transition: Script,
    claim: Script,
    /// What a write that must survive waits for (`redis.durability`).
    wait: WaitFor,
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
    let src =
        include_str!("transition.lua").replace("__ALLOWED__", &format!("{{{}}}", pairs.join(",")));
    Script::new(&src)
}

impl Ledger {
    pub fn new(conn: RedisConn, keys: Keys) -> Self {
        Ledger {
            conn,
            keys,
            create: Script::new(include_str!("create.lua")),
            transition: transition_script(),
            claim: Script::new(include_str!("claim_due.lua")),
            wait: WaitFor::nothing(),
        }
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

    /// Record a new payout (ACCEPTED, due at `due_at` as a safety net), or report the
    /// existing one with the same reference.
    pub async fn create(
        &self,
        new: &NewPayout,
        now: i64,
        due_at: i64,
    ) -> Result<CreateOutcome, LedgerError> {
        let (id, invocation) = self.create_invocation(new, now, due_at)?;
        let mut conn = self.conn.clone();
        let Some(wait) = self.wait.command() else {
            let reply: Vec<String> = invocation.invoke_async(&mut conn).await?;
            return create_outcome(id, &reply);
        };
        // The write and its WAIT in one pipeline: the same connection, so the WAIT
        // covers this write even if the connection was re-established before.
        self.create.prepare_invoke().load_async(&mut conn).await?;
        let (reply, acked): (Vec<String>, redis::Value) = redis::pipe()
            .invoke_script(&invocation)
            .add_command(wait)
            .query_async(&mut conn)
            .await?;
        self.wait.check(&acked)?;
        create_outcome(id, &reply)
    }

    /// [`Ledger::create`] for many payouts in one round trip (bulk intake). Each
    /// create is still its own atomic script, run in order, so a reference that
    /// appears twice is created once and reported as existing the second time.
    /// Results keep the input order.
    pub async fn create_many(
        &self,
        news: &[NewPayout],
        now: i64,
        due_at: i64,
    ) -> Result<Vec<Result<CreateOutcome, LedgerError>>, LedgerError> {
        if news.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        // EVALSHA in a pipeline does not load the script on NOSCRIPT; load it first.
        self.create.prepare_invoke().load_async(&mut conn).await?;
        let mut out = Vec::with_capacity(news.len());
        // Bounded pipelines: the shared multiplexed connection has a response
        // timeout (500 ms by default) that one huge pipeline could exceed on a busy server.
        for chunk in news.chunks(CREATE_PIPELINE) {
            let mut ids = Vec::with_capacity(chunk.len());
            let mut pipe = redis::pipe();
            for new in chunk {
                let (id, invocation) = self.create_invocation(new, now, due_at)?;
                pipe.invoke_script(&invocation);
                ids.push(id);
            }
            let wait = self.wait.command();
            if let Some(wait) = &wait {
                pipe.add_command(wait.clone());
            }
            let mut replies: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
            if wait.is_some() {
                let acked = replies.pop().unwrap_or(redis::Value::Nil);
                self.wait.check(&acked)?;
            }
            let replies: Vec<Vec<String>> = replies
                .into_iter()
                .map(redis::from_redis_value)
                .collect::<Result<_, _>>()
                .map_err(|e| LedgerError::Corrupt {
                    id: String::new(),
                    detail: format!("create reply: {e}"),
                })?;
            if replies.len() != ids.len() {
                return Err(LedgerError::Corrupt {
                    id: String::new(),
                    detail: format!("{} replies to {} creates", replies.len(), ids.len()),
                });
            }
            out.extend(
                ids.into_iter()
                    .zip(replies)
                    .map(|(id, reply)| create_outcome(id, &reply)),
            );
        }
        Ok(out)
    }

    fn create_invocation(
        &self,
        new: &NewPayout,
        now: i64,
        due_at: i64,
    ) -> Result<(String, redis::ScriptInvocation<'_>), LedgerError> {
        let id = new.details.id().to_string();
        let meta = PayoutMeta {
            created_at: now,
            updated_at: now,
            next_check_at: Some(due_at),
            ..Default::default()
        };
        let mut entry = HistoryEntry::new("created", now);
        entry.to = Some(State::Accepted);
        let mut invocation = self.create.prepare_invoke();
        invocation
            .key(self.keys.payout(&id))
            .key(self.keys.history(&id))
            .key(self.keys.due())
            .key(self.keys.state_set(State::Accepted))
            .arg(new.details.fingerprint())
            .arg(serde_json::to_string(&new.details)?)
            .arg(serde_json::to_string(&meta)?)
            .arg(serde_json::to_string(&entry)?)
            .arg(due_at)
            .arg(&id)
            .arg(new.details.kind.as_str())
            .arg(new.card_token.as_ref().map(|s| s.expose()).unwrap_or(""));
        Ok((id, invocation))
    }

    /// Read one payout.
    pub async fn get(&self, id: &PayoutId) -> Result<Option<Payout>, LedgerError> {
        let mut conn = self.conn.clone();
        let key = self.keys.payout(&id.to_string());
        let fields: BTreeMap<String, String> = conn.hgetall(&key).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_payout(id, &fields).map(Some)
    }

    /// The card token of a direct-debit payout (for the worker only).
    pub async fn card_token(&self, id: &PayoutId) -> Result<Option<Secret>, LedgerError> {
        let mut conn = self.conn.clone();
        let v: Option<String> = conn
            .hget(self.keys.payout(&id.to_string()), "secret")
            .await?;
        Ok(v.map(Secret::new))
    }

    /// Apply a transition if the record is still at `payout.version`.
    pub async fn transition(
        &self,
        payout: &Payout,
        t: Transition,
    ) -> Result<TransitionOutcome, LedgerError> {
        let id = payout.id.to_string();
        let now = t.entry.at;
        let external_id = if t.allocate_external_id {
            crate::domain::ExternalId::fresh(now).as_str().to_owned()
        } else {
            String::new()
        };
        let mut entry = t.entry;
        entry.from = Some(payout.state);
        entry.to = Some(t.to);
        if t.allocate_external_id && entry.external_id.is_none() {
            entry.external_id = Some("__EXTID__".into());
        }
        let (event_id, event_json) = if t.to.is_final() && !payout.state.is_final() {
            let ev = PayoutEvent::new(payout, t.to, &t.meta, now);
            (ev.id.clone(), serde_json::to_string(&ev)?)
        } else {
            (String::new(), String::new())
        };
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .transition
            .key(self.keys.payout(&id))
            .key(self.keys.history(&id))
            .key(self.keys.due())
            .key(self.keys.events())
            .key(self.keys.events_due())
            .key(self.keys.dead())
            .key(self.keys.dead_seq())
            .arg(payout.version.to_string())
            .arg(t.to.as_str())
            .arg(serde_json::to_string(&t.meta)?)
            .arg(serde_json::to_string(&entry)?)
            .arg(t.due_at.map(|d| d.to_string()).unwrap_or_default())
            .arg(&id)
            .arg(self.keys.state_prefix())
            .arg(&external_id)
            .arg(&event_id)
            .arg(&event_json)
            .arg(now)
            .arg(t.dead_letter.as_deref().unwrap_or(""))
            .invoke_async(&mut conn)
            .await?;
        let state_at = |i: usize| -> State {
            reply
                .get(i)
                .and_then(|s| s.parse().ok())
                .unwrap_or(payout.state)
        };
        let version_at =
            |i: usize| -> u64 { reply.get(i).and_then(|s| s.parse().ok()).unwrap_or(0) };
        Ok(match reply.first().map(String::as_str) {
            Some("ok") => TransitionOutcome::Applied {
                version: version_at(2),
                external_id: reply.get(3).filter(|s| !s.is_empty()).cloned(),
            },
            Some("conflict") => TransitionOutcome::Conflict {
                state: state_at(1),
                version: version_at(2),
            },
            Some("forbidden") => TransitionOutcome::Forbidden { state: state_at(1) },
            _ => TransitionOutcome::Missing,
        })
    }

    /// The record's current version (the send fence's cheap re-check).
    pub async fn version(&self, id: &PayoutId) -> Result<Option<u64>, LedgerError> {
        let mut conn = self.conn.clone();
        let v: Option<u64> = conn
            .hget(self.keys.payout(&id.to_string()), "version")
            .await?;
        Ok(v)
    }

    /// Append an audit entry without changing state (requests, refused callbacks, notes).
    pub async fn append_history(
        &self,
        id: &PayoutId,
        entry: &HistoryEntry,
    ) -> Result<(), LedgerError> {
        let mut conn = self.conn.clone();
        let _: i64 = conn
            .rpush(
                self.keys.history(&id.to_string()),
                serde_json::to_string(entry)?,
            )
            .await?;
        Ok(())
    }

    /// The whole audit trail, oldest first.
    pub async fn history(&self, id: &PayoutId) -> Result<Vec<HistoryEntry>, LedgerError> {
        let mut conn = self.conn.clone();
        let raw: Vec<String> = conn
            .lrange(self.keys.history(&id.to_string()), 0, -1)
            .await?;
        raw.iter()
            .map(|r| serde_json::from_str(r).map_err(LedgerError::from))
            .collect()
    }

    /// Payout ids in `state`, `count` at a time from `cursor` (0 to start; 0 back = done).
    pub async fn list(
        &self,
        state: State,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<PayoutId>), LedgerError> {
        let mut conn = self.conn.clone();
        let (next, ids): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg(self.keys.state_set(state))
            .arg(cursor)
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await?;
        Ok((next, ids.iter().filter_map(|s| s.parse().ok()).collect()))
    }

    /// How many payouts are in each state.
    pub async fn count_by_state(&self) -> Result<BTreeMap<State, u64>, LedgerError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for s in State::ALL {
            pipe.scard(self.keys.state_set(s));
        }
        let counts: Vec<u64> = pipe.query_async(&mut conn).await?;
        Ok(State::ALL.into_iter().zip(counts).collect())
    }

    /// Claim up to `limit` payouts whose due time has passed (see claim_due.lua).
    pub async fn claim_due(
        &self,
        now: i64,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<(PayoutId, State, PayoutKind)>, LedgerError> {
        let mut conn = self.conn.clone();
        let flat: Vec<String> = self
            .claim
            .key(self.keys.due())
            .arg(now)
            .arg(limit)
            .arg(lease_ms)
            .arg(self.keys.payout_prefix())
            .invoke_async(&mut conn)
            .await?;
        let mut out = Vec::with_capacity(flat.len() / 3);
        for chunk in flat.chunks(3) {
            let (Some(id), Some(state), Some(kind)) = (chunk.first(), chunk.get(1), chunk.get(2))
            else {
                continue;
            };
            let (Ok(id), Ok(state)) = (id.parse::<PayoutId>(), state.parse::<State>()) else {
                continue; // removed record: the entry is dropped by the next transition or ignored
            };
            let kind = if kind == "payment" {
                PayoutKind::Payment
            } else {
                PayoutKind::Transfer
            };
            out.push((id, state, kind));
        }
        Ok(out)
    }

    /// Number of entries in the due index whose time has passed (reconciliation lag).
    pub async fn due_count(&self, now: i64) -> Result<u64, LedgerError> {
        let mut conn = self.conn.clone();
        Ok(conn.zcount(self.keys.due(), "-inf", now).await?)
    }

    /// Oldest due time in the index, if any.
    pub async fn oldest_due(&self) -> Result<Option<i64>, LedgerError> {
        let mut conn = self.conn.clone();
        let v: Vec<(String, f64)> = conn.zrange_withscores(self.keys.due(), 0, 0).await?;
        Ok(v.first().map(|(_, s)| *s as i64))
    }
}

/// The reply of create.lua as a [`CreateOutcome`].
fn create_outcome(id: String, reply: &[String]) -> Result<CreateOutcome, LedgerError> {
    let state = |s: Option<&String>| -> Result<State, LedgerError> {
        s.and_then(|s| s.parse().ok())
            .ok_or_else(|| LedgerError::Corrupt {
                id: id.clone(),
                detail: "bad state".into(),
            })
    };
    match reply.first().map(String::as_str) {
        Some("created") => Ok(CreateOutcome::Created),
        Some("exists") => Ok(CreateOutcome::Existing(state(reply.get(1))?)),
        Some("conflict") => Ok(CreateOutcome::Conflict(state(reply.get(1))?)),
        _ => Err(LedgerError::Corrupt {
            detail: format!("unexpected create reply {reply:?}"),
            id,
        }),
    }
}

fn parse_payout(id: &PayoutId, f: &BTreeMap<String, String>) -> Result<Payout, LedgerError> {
    let corrupt = |detail: &str| LedgerError::Corrupt {
        id: id.to_string(),
        detail: detail.to_owned(),
    };
    let state = f
        .get("state")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| corrupt("state"))?;
    let version = f
        .get("version")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| corrupt("version"))?;
    let details: PayoutDetails = serde_json::from_str(f.get("doc").ok_or_else(|| corrupt("doc"))?)
        .map_err(|e| corrupt(&e.to_string()))?;
    let meta: PayoutMeta = serde_json::from_str(f.get("meta").ok_or_else(|| corrupt("meta"))?)
        .map_err(|e| corrupt(&e.to_string()))?;
    let external_ids = f
        .get("ext")
        .map(|s| {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Payout {
        id: id.clone(),
        state,
        version,
        details,
        meta,
        external_ids,
    })
}

/// One `field:value` line of an `INFO` reply.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}
