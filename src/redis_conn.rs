//! kirim's one Redis connection, built from `[redis]` settings: a plain `url`, or
//! the current primary of a Redis Sentinel master that is followed across failovers.
//!
//! # Why a wrapper and not the `redis` crate's Sentinel client alone
//! `redis::sentinel` (crate feature `sentinel`) can *find* the primary: it asks the
//! sentinels for the master's address and checks with `ROLE` that the node it names
//! really is a primary. What it hands back is a [`redis::Client`] bound to that one
//! address. A [`ConnectionManager`] built from it reconnects to the same address
//! forever: after a failover it would keep knocking on a dead primary, or on the old
//! primary demoted to a read-only replica (every write answered `READONLY`).
//!
//! The ledger and the apalis queue take their connection as a value that is cloned
//! into every storage, worker and maintenance loop (`RedisStorage<T, Conn>` is generic
//! over any `ConnectionLike + Clone`). Rebuilding all of them on a failover would mean
//! restarting the process's object graph; instead [`RedisConn`] *is* that value: a
//! cheap clone of a shared cell holding the current `ConnectionManager`. On a failure
//! that can mean "the primary moved" it re-asks the sentinels, and when they name a
//! different primary it swaps a new `ConnectionManager` into the cell. Every clone
//! (ledger, queues, workers, sweep, API) then talks to the new primary on its next
//! command. Nothing else in kirim knows about Sentinel.
//!
//! # What triggers a re-resolve
//! - a connection error (refused, reset, dropped, timed out): the primary may be dead;
//! - a `READONLY` answer (also inside a script or a `MULTI`): we reached a replica,
//!   typically the old primary after it came back and was demoted;
//! - a `NOREPLICAS` answer: a primary that `min-replicas-to-write` has cut off
//!   (usually the losing side of a partition, about to be replaced).
//!
//! Re-resolves are single-flight and at most one per [`MIN_REFRESH_INTERVAL`], so a
//! burst of failing commands costs the sentinels one lookup. Until the sentinels have
//! promoted a replica (`down-after-milliseconds` plus the election) they still name the
//! dead primary; its `ROLE` check fails, the cell keeps the old connection, and the
//! next failing command tries again.
//!
//! # What is retried here, and what is not
//! A command answered `READONLY`/`NOREPLICAS`, or refused before a connection existed,
//! certainly did not run; it is sent once more if the sentinels named another
//! primary. A command whose connection broke after it was written may or may not have
//! run, so its error goes back to the caller unchanged: the ledger's compare-and-set
//! and the worker's retries decide what to do with an unknown outcome, as they already
//! do for any Redis error. A switchover (`SENTINEL FAILOVER`) therefore costs each
//! connection one error: the sentinels close the demoted node's client connections
//! (`CLIENT KILL TYPE normal`), and the next command goes to the new primary.
//!
//! # What a failover can still lose
//! Replication is asynchronous. A write the old primary acknowledged but had not yet
//! sent to the replica is gone after the replica is promoted; this module cannot bring
//! it back (see deploy/README.md, "Sentinel"; only waiting for a replica, `WAIT`,
//! before acknowledging closes that window).
//!
//! With a plain `url` the same type wraps one `ConnectionManager`, which reconnects by
//! itself; a refused write (`READONLY`, `NOREPLICAS`) rebuilds it, re-resolving DNS
//! for a Service or proxy that has moved to the new primary.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{
    Client, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, RedisResult,
    ServerErrorKind, Value,
};

use crate::config::RedisSettings;

/// At most one sentinel lookup per this interval, however many commands fail.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_millis(200);
/// Reconnect attempts of a primary's `ConnectionManager` before its commands fail
/// (and make [`RedisConn`] ask the sentinels).
const SENTINEL_RECONNECT_RETRIES: usize = 1;
/// A lookup that takes longer than this (unreachable sentinels) is abandoned.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The Redis connection shared by the ledger, the queues and every loop of a process.
/// Cheap to clone; all clones follow the same primary.
#[derive(Clone)]
pub struct RedisConn {
    shared: Arc<Shared>,
}

struct Current {
    generation: u64,
    manager: ConnectionManager,
    address: String,
}

struct Shared {
    current: RwLock<Current>,
    db: i64,
    /// Held while resolving: one lookup at a time.
    refresh: tokio::sync::Mutex<Refresh>,
}

struct Refresh {
    source: Source,
    last_attempt: Option<Instant>,
}

enum Source {
    /// `redis.url` as given.
    Direct(Client),
    /// Ask these sentinels for `master`'s primary; connect with `node`'s db/credentials.
    Sentinel {
        sentinel: Box<Sentinel>,
        master: String,
        node: SentinelNodeConnectionInfo,
    },
}

/// What a failed (or oddly answered) command says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    /// The node refused the write (`READONLY`: it is a replica; `NOREPLICAS`: a
    /// primary cut off from its replicas by `min-replicas-to-write`): the command did
    /// not run. Re-resolve, and resend if the sentinels name another primary.
    Refused,
    /// Nothing was sent (connection refused). Re-resolve and resend.
    NotConnected,
    /// The connection broke or timed out; the command may have run. Re-resolve only.
    Broken,
}

impl fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConn")
            .field("primary", &self.primary())
            .field("db", &self.shared.db)
            .finish()
    }
}

impl RedisConn {
    /// Connect as `settings` say: through the sentinels when `redis.sentinel` is set,
    /// else to `redis.url`.
    pub async fn connect(settings: &RedisSettings) -> RedisResult<RedisConn> {
        let info = settings.url.as_str().into_connection_info()?;
        let db = info.redis_settings().db();
        let mut source = match &settings.sentinel {
            None => Source::Direct(Client::open(info)?),
            Some(s) => Source::Sentinel {
                sentinel: Box::new(Sentinel::build(s.nodes.clone())?),
                master: s.master_name.clone(),
                node: SentinelNodeConnectionInfo::default()
                    .set_redis_connection_info(info.redis_settings().clone()),
            },
        };
        let client = source.resolve().await?;
        let address = client.get_connection_info().addr().to_string();
        let manager = source.manager(&client).await?;
        tracing::info!(primary = %address, sentinel = settings.sentinel.is_some(), "connected to redis");
        Ok(RedisConn {
            shared: Arc::new(Shared {
                current: RwLock::new(Current {
                    generation: 0,
                    manager,
                    address,
                }),
                db,
                refresh: tokio::sync::Mutex::new(Refresh {
                    source,
                    last_attempt: None,
                }),
            }),
        })
    }

    /// `host:port` of the node this connection currently talks to.
    pub fn primary(&self) -> String {
        match self.shared.current.read() {
            Ok(c) => c.address.clone(),
            Err(poisoned) => poisoned.into_inner().address.clone(),
        }
    }

    /// How many times the connection has moved to another node (or been rebuilt).
    pub fn switches(&self) -> u64 {
        self.shared.snapshot().0
    }
}

impl Source {
    /// A `ConnectionManager` for `client`. Through Sentinel it gives up reconnecting
    /// quickly: while its reconnect loop runs, every command waits on it (the crate's
    /// default, 6 retries with exponential backoff, is about 6 s), and only a failed
    /// command tells [`RedisConn`] to ask the sentinels. With a plain URL the crate's
    /// defaults are kept: there is nowhere else to go.
    async fn manager(&self, client: &Client) -> RedisResult<ConnectionManager> {
        match self {
            Source::Direct(_) => client.get_connection_manager().await,
            Source::Sentinel { .. } => {
                let config = ConnectionManagerConfig::new()
                    .set_number_of_retries(SENTINEL_RECONNECT_RETRIES)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(200));
                client.get_connection_manager_with_config(config).await
            }
        }
    }

    /// A client for the node to talk to now.
    async fn resolve(&mut self) -> RedisResult<Client> {
        match self {
            Source::Direct(client) => Ok(client.clone()),
            Source::Sentinel {
                sentinel,
                master,
                node,
            } => {
                // Asks the sentinels in turn and checks with ROLE that the node they
                // name is a primary.
                match tokio::time::timeout(
                    RESOLVE_TIMEOUT,
                    sentinel.async_master_for(master, Some(node)),
                )
                .await
                {
                    Ok(found) => found,
                    Err(_) => Err(RedisError::from((
                        ErrorKind::Io,
                        "sentinel lookup timed out",
                    ))),
                }
            }
        }
    }
}

impl Shared {
    fn snapshot(&self) -> (u64, ConnectionManager) {
        let c = match self.current.read() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        (c.generation, c.manager.clone())
    }

    /// Re-resolve after `trouble` seen on generation `seen`. True when the caller
    /// should resend (a newer connection is in place and the command did not run).
    async fn recover(&self, seen: u64, trouble: Trouble) -> bool {
        let mut refresh = self.refresh.lock().await;
        if self.snapshot().0 != seen {
            // Someone else already moved us while we waited for the lock.
            return trouble != Trouble::Broken;
        }
        if refresh
            .last_attempt
            .is_some_and(|t| t.elapsed() < MIN_REFRESH_INTERVAL)
        {
            return false;
        }
        refresh.last_attempt = Some(Instant::now());
        let direct = matches!(refresh.source, Source::Direct(_));
        if direct && trouble != Trouble::Refused {
            // A plain URL: the ConnectionManager reconnects to it by itself.
            return false;
        }
        let client = match refresh.source.resolve().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, ?trouble, "redis: could not find the primary (yet)");
                return false;
            }
        };
        let address = client.get_connection_info().addr().to_string();
        let old = match self.current.read() {
            Ok(c) => c.address.clone(),
            Err(p) => p.into_inner().address.clone(),
        };
        if address == old && !direct {
            // Same primary (it was a blip, or the sentinels have not failed over yet).
            return false;
        }
        let manager = match refresh.source.manager(&client).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, primary = %address, "redis: cannot connect to the primary");
                return false;
            }
        };
        tracing::warn!(from = %old, to = %address, ?trouble, "redis: switched to the current primary");
        let mut current = match self.current.write() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        current.generation += 1;
        current.manager = manager;
        current.address = address;
        trouble != Trouble::Broken
    }
}

/// Error codes with which a node refuses a write without running it.
const REFUSALS: [&str; 2] = ["READONLY", "NOREPLICAS"];

fn trouble_of_error(e: &RedisError) -> Option<Trouble> {
    let text = e.to_string();
    if e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
        || e.code().is_some_and(|c| REFUSALS.contains(&c))
        // A script's write on a replica, or a MULTI aborted by one: the code is
        // ERR/EXECABORT and the refusal is in the text.
        || REFUSALS.iter().any(|r| text.contains(r))
    {
        return Some(Trouble::Refused);
    }
    if e.is_connection_refusal() {
        return Some(Trouble::NotConnected);
    }
    if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error()
    {
        return Some(Trouble::Broken);
    }
    None
}

fn trouble_of_value(v: &Value) -> Option<Trouble> {
    match v {
        Value::ServerError(e)
            if e.kind() == Some(ServerErrorKind::ReadOnly)
                || REFUSALS.contains(&e.code())
                || e.details()
                    .is_some_and(|d| REFUSALS.iter().any(|r| d.contains(r))) =>
        {
            Some(Trouble::Refused)
        }
        _ => None,
    }
}

fn trouble_of<T>(result: &RedisResult<T>, values: impl Fn(&T) -> bool) -> Option<Trouble> {
    match result {
        Ok(v) if values(v) => Some(Trouble::Refused),
        Ok(_) => None,
        Err(e) => trouble_of_error(e),
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (generation, mut conn) = self.shared.snapshot();
            let result = conn.req_packed_command(cmd).await;
            let Some(trouble) = trouble_of(&result, |v| trouble_of_value(v).is_some()) else {
                return result;
            };
            if self.shared.recover(generation, trouble).await {
                let (_, mut conn) = self.shared.snapshot();
                return conn.req_packed_command(cmd).await;
            }
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (generation, mut conn) = self.shared.snapshot();
            let result = conn.req_packed_commands(pipeline, offset, count).await;
            let Some(trouble) = trouble_of(&result, |vs: &Vec<Value>| {
                vs.iter().any(|v| trouble_of_value(v).is_some())
            }) else {
                return result;
            };
            if self.shared.recover(generation, trouble).await {
                let (_, mut conn) = self.shared.snapshot();
                return conn.req_packed_commands(pipeline, offset, count).await;
            }
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.shared.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readonly_is_recognised_in_every_shape() {
        let plain = RedisError::from((
            ErrorKind::Server(ServerErrorKind::ReadOnly),
            "You can't write against a read only replica.",
        ));
        assert_eq!(trouble_of_error(&plain), Some(Trouble::Refused));
        let in_script = RedisError::from((
            ErrorKind::Server(ServerErrorKind::ResponseError),
            "Error",
            "READONLY You can't write against a read only replica. script: abc".to_owned(),
        ));
        assert_eq!(trouble_of_error(&in_script), Some(Trouble::Refused));
        let isolated = RedisError::from((
            ErrorKind::Server(ServerErrorKind::ResponseError),
            "NOREPLICAS",
            "Not enough good replicas to write.".to_owned(),
        ));
        assert_eq!(trouble_of_error(&isolated), Some(Trouble::Refused));
        let other = RedisError::from((
            ErrorKind::Server(ServerErrorKind::ResponseError),
            "WRONGTYPE",
        ));
        assert_eq!(trouble_of_error(&other), None);
    }

    #[test]
    fn broken_connections_are_not_resent() {
        let io = RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        ));
        assert_eq!(trouble_of_error(&io), Some(Trouble::Broken));
        let refused = RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        assert_eq!(trouble_of_error(&refused), Some(Trouble::NotConnected));
    }
}
