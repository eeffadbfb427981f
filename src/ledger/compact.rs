//! Compaction: final payouts move to their cold form ([`super::cold`]) once they
//! have been final for a while.
//!
//! transition.lua puts every payout that becomes final in the cold index (a
//! sorted set by the time it became final). [`Ledger::compact_final`] reads the
//! ones final for long enough, a pipelined round trip per [`CHUNK`], builds each
//! cold form here, and writes it with compact.lua, which refuses a record that
//! moved since it was read (so an audit entry appended in between is never lost:
//! the payout stays in the index and the next pass reads it again).

use super::cold::ColdRecord;
use super::{Ledger, LedgerError};

/// Payouts read and written per round trip.
const CHUNK: usize = 500;

/// What one compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compaction {
    /// Records now in their cold form.
    pub compacted: u64,
    /// Records that moved between the read and the write (left for the next pass).
    pub moved: u64,
    /// Ids dropped from the index with nothing to do: already cold, gone, or a
    /// record whose fields are not what the ledger writes (logged; left as it is).
    pub skipped: u64,
}

/// The fields of one record as read for compaction, as the bytes Redis holds
/// (the cold form keeps text only, and never one changed by a lossy decoding).
struct Read {
    state: Option<Vec<u8>>,
    version: Option<Vec<u8>>,
    doc: Option<Vec<u8>>,
    meta: Option<Vec<u8>>,
    ext: Option<Vec<u8>>,
    created: Option<Vec<u8>>,
    last: Option<Vec<u8>>,
    cold: bool,
    list: Vec<Vec<u8>>,
}

/// A field's bytes as the text they are, or why not.
fn text(field: &str, v: &[u8]) -> Result<String, String> {
    String::from_utf8(v.to_vec()).map_err(|_| format!("field `{field}` is not UTF-8"))
}

impl Read {
    /// How many fields the record held: state, version, fp and kind (compact.lua
    /// checks those two itself) and the ones the cold form holds.
    fn fields(&self) -> usize {
        let held = [&self.doc, &self.meta, &self.ext, &self.created, &self.last];
        4 + held.iter().filter(|f| f.is_some()).count()
    }

    /// The cold form, or why this record gets none.
    fn cold_form(&self) -> Result<Vec<u8>, String> {
        let (Some(doc), Some(meta)) = (&self.doc, &self.meta) else {
            return Err("no doc or meta field".into());
        };
        let mut trail = Vec::with_capacity(self.list.len() + 3);
        if let Some(c) = &self.created {
            trail.push(text("created", c)?);
        }
        for e in &self.list {
            trail.push(text("history", e)?);
        }
        if let Some(l) = &self.last {
            let l = text("last", l)?;
            trail.extend(l.split('\n').filter(|e| !e.is_empty()).map(str::to_owned));
        }
        ColdRecord {
            doc: text("doc", doc)?,
            meta: text("meta", meta)?,
            ext: self
                .ext
                .as_deref()
                .map(|e| text("ext", e))
                .transpose()?
                .unwrap_or_default(),
            trail,
        }
        .encode()
        .map_err(|e| e.to_string())
    }
}

impl Ledger {
    /// Move the payouts that became final before `final_before_ms` to their cold
    /// form, at most `max` of them (whole chunks) per call.
    pub async fn compact_final(
        &self,
        final_before_ms: i64,
        max: usize,
    ) -> Result<Compaction, LedgerError> {
        let mut done = Compaction::default();
        let mut seen = 0usize;
        while seen < max {
            let mut conn = self.conn.clone();
            let ids: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                .arg(self.keys.cold())
                .arg("-inf")
                .arg(format!("({final_before_ms}"))
                .arg("LIMIT")
                .arg(0)
                .arg(CHUNK)
                .query_async(&mut conn)
                .await?;
            if ids.is_empty() {
                break;
            }
            seen += ids.len();
            let pass = self.compact_ids(&ids).await?;
            done.compacted += pass.compacted;
            done.moved += pass.moved;
            done.skipped += pass.skipped;
            if pass.compacted + pass.skipped == 0 {
                // Every one moved under our feet: leave them to the next pass
                // rather than spin on a busy chunk.
                break;
            }
        }
        Ok(done)
    }

    /// Compact these payouts (ids from the cold index).
    async fn compact_ids(&self, ids: &[String]) -> Result<Compaction, LedgerError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HMGET").arg(self.keys.payout(id)).arg(&[
                "state", "version", "doc", "meta", "ext", "created", "last", "z",
            ]);
            pipe.lrange(self.keys.history(id), 0, -1);
        }
        let replies: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
        if replies.len() != ids.len() * 2 {
            return Err(LedgerError::Corrupt {
                id: ids.first().cloned().unwrap_or_default(),
                detail: format!("{} replies for {} reads", replies.len(), ids.len() * 2),
            });
        }
        let mut reads = Vec::with_capacity(ids.len());
        for pair in replies.chunks_exact(2) {
            let f: Vec<Option<Vec<u8>>> =
                redis::from_redis_value(pair[0].clone()).map_err(redis::RedisError::from)?;
            let list: Vec<Vec<u8>> =
                redis::from_redis_value(pair[1].clone()).map_err(redis::RedisError::from)?;
            let mut f = f.into_iter();
            let mut next = || f.next().flatten();
            reads.push(Read {
                state: next(),
                version: next(),
                doc: next(),
                meta: next(),
                ext: next(),
                created: next(),
                last: next(),
                cold: next().is_some(),
                list,
            });
        }

        // EVALSHA in a pipeline does not load the script on NOSCRIPT; load it first.
        self.compact.prepare_invoke().load_async(&mut conn).await?;
        let mut pipe = redis::pipe();
        for (id, r) in ids.iter().zip(&reads) {
            let form = if r.cold || r.state.is_none() {
                Vec::new()
            } else {
                match r.cold_form() {
                    Ok(form) => form,
                    Err(why) => {
                        tracing::warn!(payout = %id, %why, "compaction: record left as it is");
                        Vec::new()
                    }
                }
            };
            let mut invocation = self.compact.prepare_invoke();
            invocation
                .key(self.keys.payout(id))
                .key(self.keys.history(id))
                .key(self.keys.cold())
                .arg(id)
                .arg(r.version.as_deref().unwrap_or(b""))
                .arg(r.list.len())
                .arg(if r.last.as_ref().is_some_and(|l| !l.is_empty()) {
                    "1"
                } else {
                    "0"
                })
                .arg(form)
                .arg(r.fields());
            pipe.invoke_script(&invocation);
        }
        let results: Vec<i64> = pipe.query_async(&mut conn).await?;
        let mut done = Compaction::default();
        for (id, r) in ids.iter().zip(results) {
            match r {
                1 => done.compacted += 1,
                -1 => done.moved += 1,
                -2 => {
                    tracing::warn!(payout = %id, "compaction: the record holds a field the cold form does not keep; left as it is");
                    done.skipped += 1;
                }
                _ => done.skipped += 1,
            }
        }
        Ok(done)
    }
}

impl Ledger {
    /// Final payouts waiting for their cold form, and when the longest-waiting
    /// one became final (ms), for `/metrics`.
    pub async fn compaction_backlog(&self) -> Result<(u64, Option<i64>), LedgerError> {
        let mut conn = self.conn.clone();
        let (n, oldest): (u64, Vec<(String, f64)>) = redis::pipe()
            .zcard(self.keys.cold())
            .cmd("ZRANGE")
            .arg(self.keys.cold())
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await?;
        Ok((n, oldest.first().map(|(_, t)| *t as i64)))
    }

    /// Put every final payout that is not in its cold form in the cold index, as
    /// if it had become final at the epoch (payouts settled before compaction
    /// existed, `kirim compact --all`). Returns how many were added.
    pub async fn index_final_for_compaction(&self) -> Result<u64, LedgerError> {
        let mut conn = self.conn.clone();
        let mut added = 0u64;
        for state in crate::domain::State::ALL
            .into_iter()
            .filter(|s| s.is_final())
        {
            let mut cursor = 0u64;
            loop {
                let (next, ids) = self.list(state, cursor, CHUNK).await?;
                let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
                if !ids.is_empty() {
                    let mut pipe = redis::pipe();
                    for id in &ids {
                        pipe.hexists(self.keys.payout(id), "z");
                    }
                    let cold: Vec<bool> = pipe.query_async(&mut conn).await?;
                    let warm: Vec<&String> = ids
                        .iter()
                        .zip(cold)
                        .filter(|(_, c)| !c)
                        .map(|(id, _)| id)
                        .collect();
                    if !warm.is_empty() {
                        let mut zadd = redis::cmd("ZADD");
                        zadd.arg(self.keys.cold()).arg("NX");
                        for id in &warm {
                            zadd.arg(0).arg(id.as_str());
                        }
                        let n: u64 = zadd.query_async(&mut conn).await?;
                        added += n;
                    }
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(added)
    }
}
