//! Writes: creating payouts (create.lua) and moving them (transition.lua), plus
//! audit entries that change no state.

use super::{
    CreateOutcome, HistoryEntry, Ledger, LedgerError, NewPayout, Payout, PayoutEvent, PayoutId,
    PayoutMeta, Transition, TransitionOutcome,
};
use crate::domain::State;

/// Creates per pipelined round trip in [`Ledger::create_many`].
const CREATE_PIPELINE: usize = 200;

impl Ledger {
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
        let meta = PayoutMeta::created(now, due_at);
        let mut entry = HistoryEntry::new("created", now);
        entry.to = Some(State::Accepted);
        let mut invocation = self.create.prepare_invoke();
        invocation
            .key(self.keys.payout(&id))
            .key(self.keys.history(&id))
            .key(self.keys.due())
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

    /// Apply a transition if the record is still at `payout.version`.
    pub async fn transition(
        &self,
        payout: &Payout,
        t: Transition,
    ) -> Result<TransitionOutcome, LedgerError> {
        let external_id = t.allocate_external_id.then(|| {
            crate::domain::ExternalId::fresh(t.entry.at)
                .as_str()
                .to_owned()
        });
        self.transition_with_external_id(payout, t, external_id)
            .await
    }

    /// [`Self::transition`] with the X-EXTERNAL-ID chosen by the caller (made from the
    /// clock like any other, [`crate::domain::ExternalId::fresh`]), for a submission
    /// whose request is built before its move to SUBMITTING is written (the send
    /// fence writes it). Recorded only when `t.allocate_external_id`.
    pub async fn transition_with_external_id(
        &self,
        payout: &Payout,
        t: Transition,
        external_id: Option<String>,
    ) -> Result<TransitionOutcome, LedgerError> {
        let id = payout.id.to_string();
        let now = t.entry.at;
        let external_id = match (t.allocate_external_id, external_id) {
            (true, Some(ext)) => ext,
            (true, None) => crate::domain::ExternalId::fresh(now).as_str().to_owned(),
            (false, _) => String::new(),
        };
        let mut entry = t.entry;
        entry.from = Some(payout.state);
        entry.to = Some(t.to);
        if t.allocate_external_id && entry.external_id.is_none() {
            entry.external_id = Some("__EXTID__".into());
        }
        let (event_id, event_json) = if self.outbox && t.to.is_final() && !payout.state.is_final() {
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
            .key(self.keys.cold())
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

    /// Append an audit entry without changing state (requests, refused callbacks, notes).
    /// The record's pending `last` entry (see transition.lua) goes to the list first,
    /// so the trail stays in order.
    /// Remember that `provider_reference` (the provider's own id) is payout `id`'s.
    pub async fn index_provider_reference(
        &self,
        id: &PayoutId,
        provider_reference: &str,
    ) -> Result<(), LedgerError> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("HSET")
            .arg(self.keys.provider_reference_index(id.provider.as_str()))
            .arg(provider_reference)
            .arg(id.reference.as_str())
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// The payout whose provider reference is `provider_reference`, if indexed.
    pub async fn by_provider_reference(
        &self,
        provider: &str,
        provider_reference: &str,
    ) -> Result<Option<String>, LedgerError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("HGET")
            .arg(self.keys.provider_reference_index(provider))
            .arg(provider_reference)
            .query_async(&mut conn)
            .await?)
    }

    /// Forget the index entry of a payout that is final (retention of the index).
    pub async fn unindex_provider_reference(
        &self,
        provider: &str,
        provider_reference: &str,
    ) -> Result<(), LedgerError> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("HDEL")
            .arg(self.keys.provider_reference_index(provider))
            .arg(provider_reference)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    pub async fn append_history(
        &self,
        id: &PayoutId,
        entry: &HistoryEntry,
    ) -> Result<(), LedgerError> {
        let mut conn = self.conn.clone();
        let id = id.to_string();
        let _: i64 = self
            .append
            .key(self.keys.payout(&id))
            .key(self.keys.history(&id))
            .arg(serde_json::to_string(entry)?)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
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
