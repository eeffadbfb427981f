//! Reads: one record, its audit trail, the state sets and the due index.

use std::collections::BTreeMap;
use std::fmt;

use redis::AsyncCommands;

use super::{
    HistoryEntry, Ledger, LedgerError, Payout, PayoutDetails, PayoutId, PayoutKind, PayoutMeta,
};
use crate::domain::{Secret, State};

impl Ledger {
    /// Read one payout: only the fields a [`Payout`] holds (not the fingerprint, the
    /// `created` entry or a card token).
    pub async fn get(&self, id: &PayoutId) -> Result<Option<Payout>, LedgerError> {
        const FIELDS: [&str; 6] = ["state", "version", "doc", "meta", "ext", "z"];
        let mut conn = self.conn.clone();
        let key = self.keys.payout(&id.to_string());
        let values: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(&key)
            .arg(&FIELDS[..])
            .query_async(&mut conn)
            .await?;
        let mut values = values.into_iter();
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        for name in &FIELDS[..5] {
            if let Some(v) = values.next().flatten() {
                fields.insert((*name).to_owned(), utf8(id, name, v)?);
            }
        }
        if let Some(z) = values.next().flatten() {
            // A final payout in its cold form (ledger/cold.rs).
            let cold = cold(id, &z)?;
            fields.insert("doc".into(), cold.doc);
            fields.insert("meta".into(), cold.meta);
            fields.insert("ext".into(), cold.ext);
        }
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

    /// The record's current version (the send fence's cheap re-check).
    pub async fn version(&self, id: &PayoutId) -> Result<Option<u64>, LedgerError> {
        let mut conn = self.conn.clone();
        let v: Option<u64> = conn
            .hget(self.keys.payout(&id.to_string()), "version")
            .await?;
        Ok(v)
    }

    /// The whole audit trail, oldest first.
    /// The record's `created` entry (create.lua keeps it in the record) comes first,
    /// then the history list, then the record's `last` entry (a non-final payout's
    /// latest, see transition.lua); records written before that layout have them in
    /// the list.
    pub async fn history(&self, id: &PayoutId) -> Result<Vec<HistoryEntry>, LedgerError> {
        let mut conn = self.conn.clone();
        let key = id.to_string();
        // One MULTI: compaction (or an append) between the two reads would
        // otherwise show a trail with entries missing or twice.
        let (fields, raw): (Vec<Option<Vec<u8>>>, Vec<String>) = redis::pipe()
            .atomic()
            .add_command(
                redis::cmd("HMGET")
                    .arg(self.keys.payout(&key))
                    .arg(&["created", "last", "z"])
                    .clone(),
            )
            .lrange(self.keys.history(&key), 0, -1)
            .query_async(&mut conn)
            .await?;
        let kept = Kept::read(id, fields)?;
        trail(id, &kept, &raw)
    }

    /// The state and audit trail of many payouts, a pipelined round trip per 500
    /// (`kirim bench` reads every payout's trail after a run). A payout that does
    /// not exist gives no state and an empty trail.
    pub async fn trails(
        &self,
        ids: &[String],
    ) -> Result<Vec<(Option<String>, Vec<HistoryEntry>)>, LedgerError> {
        let mut conn = self.conn.clone();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut pipe = redis::pipe();
            // Atomic, as in `history`.
            pipe.atomic();
            for id in chunk {
                pipe.cmd("HMGET")
                    .arg(self.keys.payout(id))
                    .arg(&["created", "last", "z", "state"]);
                pipe.lrange(self.keys.history(id), 0, -1);
            }
            let replies: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
            for (id, pair) in chunk.iter().zip(replies.chunks(2)) {
                let (Some(fields), Some(list)) = (pair.first(), pair.get(1)) else {
                    continue;
                };
                let mut fields: Vec<Option<Vec<u8>>> =
                    redis::from_redis_value(fields.clone()).map_err(redis::RedisError::from)?;
                let list: Vec<String> =
                    redis::from_redis_value(list.clone()).map_err(redis::RedisError::from)?;
                let state = fields
                    .pop()
                    .flatten()
                    .map(|s| String::from_utf8_lossy(&s).into_owned());
                let kept = Kept::read(id, fields)?;
                out.push((state, trail(id, &kept, &list)?));
            }
        }
        Ok(out)
    }

    /// Payout ids in `state`, `count` at a time from `cursor` (0 to start; 0 back = done).
    ///
    /// A lasting state pages through its set (SSCAN). ACCEPTED and SUBMITTING keep
    /// no set ([`super::has_state_set`]): they page through the due index by rank,
    /// `count` entries per call (a page may hold fewer ids than `count`, or none),
    /// then the parked ones; an entry that moves while the listing runs may be
    /// missed or seen twice, as with SSCAN.
    pub async fn list(
        &self,
        state: State,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<PayoutId>), LedgerError> {
        if !super::has_state_set(state) {
            let (next, found) = self.scan_due(cursor, count, &[state]).await?;
            return Ok((next, found.into_iter().map(|(id, _)| id).collect()));
        }
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
    ///
    /// O(1) per lasting state (SCARD); ACCEPTED and SUBMITTING are counted over the
    /// due index and the dead letters, 1,000 entries per script call,
    /// so a call costs O(non-final payouts) but never blocks Redis for long.
    pub async fn count_by_state(&self) -> Result<BTreeMap<State, u64>, LedgerError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        let lasting: Vec<State> = State::ALL
            .into_iter()
            .filter(|s| super::has_state_set(*s))
            .collect();
        for s in &lasting {
            pipe.scard(self.keys.state_set(*s));
        }
        let counts: Vec<u64> = pipe.query_async(&mut conn).await?;
        let mut out: BTreeMap<State, u64> = State::ALL.into_iter().map(|s| (s, 0)).collect();
        out.extend(lasting.into_iter().zip(counts));
        let transient: Vec<State> = State::ALL
            .into_iter()
            .filter(|s| !super::has_state_set(*s))
            .collect();
        let mut cursor = 0;
        loop {
            let (next, found) = self.scan_due(cursor, COUNT_CHUNK, &transient).await?;
            for (_, state) in found {
                *out.entry(state).or_default() += 1;
            }
            if next == 0 {
                return Ok(out);
            }
            cursor = next;
        }
    }

    /// One call of scan_due.lua: payouts in `states` among `count` due-index
    /// entries from rank `cursor` (and, on the last call, the parked ones).
    async fn scan_due(
        &self,
        cursor: u64,
        count: usize,
        states: &[State],
    ) -> Result<(u64, Vec<(PayoutId, State)>), LedgerError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.scan_due.prepare_invoke();
        invocation
            .key(self.keys.due())
            .key(self.keys.dead())
            .arg(self.keys.payout_prefix())
            .arg(cursor)
            .arg(count.max(1));
        for s in states {
            invocation.arg(s.as_str());
        }
        let flat: Vec<String> = invocation.invoke_async(&mut conn).await?;
        let next = flat.first().and_then(|c| c.parse().ok()).unwrap_or(0);
        let found = flat
            .get(1..)
            .unwrap_or_default()
            .chunks(2)
            .filter_map(|pair| match pair {
                [id, state] => Some((id.parse().ok()?, state.parse().ok()?)),
                _ => None,
            })
            .collect();
        Ok((next, found))
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

/// Due-index entries per scan_due.lua call when counting ACCEPTED and SUBMITTING.
const COUNT_CHUNK: usize = 1000;

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

/// The parts of a payout's audit trail kept in its record: the `created` entry,
/// what waits in `last`, and the cold form's trail (a compacted final payout).
struct Kept {
    created: Option<String>,
    last: Option<String>,
    cold: Vec<String>,
}

impl Kept {
    /// From HMGET created, last, z.
    fn read(id: &dyn fmt::Display, fields: Vec<Option<Vec<u8>>>) -> Result<Kept, LedgerError> {
        let mut f = fields.into_iter();
        let mut next = || f.next().flatten();
        let created = next().map(|v| utf8(id, "created", v)).transpose()?;
        let last = next().map(|v| utf8(id, "last", v)).transpose()?;
        let cold = match next() {
            Some(z) => cold(id, &z)?.trail,
            None => Vec::new(),
        };
        Ok(Kept {
            created,
            last,
            cold,
        })
    }
}

fn utf8(id: &dyn fmt::Display, field: &str, v: Vec<u8>) -> Result<String, LedgerError> {
    String::from_utf8(v).map_err(|_| LedgerError::Corrupt {
        id: id.to_string(),
        detail: format!("field `{field}` is not UTF-8"),
    })
}

fn cold(id: &dyn fmt::Display, z: &[u8]) -> Result<super::ColdRecord, LedgerError> {
    super::ColdRecord::decode(z).map_err(|e| LedgerError::Corrupt {
        id: id.to_string(),
        detail: format!("cold form: {e}"),
    })
}

/// A payout's audit trail from where it is kept, oldest first: the record's
/// `created` entry, the history list, then what still waits in the record's `last`
/// field (one entry, or two for a final payout, newline-separated: transition.lua;
/// compact JSON holds no raw newline). A compacted final payout keeps all of that
/// in its cold form, and the list then holds only entries appended after the
/// compaction (append.lua finds no `last` to push first).
fn trail(
    id: &dyn fmt::Display,
    kept: &Kept,
    list: &[String],
) -> Result<Vec<HistoryEntry>, LedgerError> {
    let waiting = kept
        .last
        .iter()
        .flat_map(|l| l.split('\n'))
        .filter(|e| !e.is_empty());
    kept.cold
        .iter()
        .map(String::as_str)
        .chain(kept.created.as_deref())
        .chain(list.iter().map(String::as_str))
        .chain(waiting)
        .map(|r| {
            serde_json::from_str(r).map_err(|e| LedgerError::Corrupt {
                id: id.to_string(),
                detail: format!("audit entry: {e}"),
            })
        })
        .collect()
}
