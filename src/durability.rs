//! What must be durable before kirim answers an enqueue and before it sends a
//! request that can move money (`redis.durability`).
//!
//! | mode | an acknowledged enqueue / a send waits for | survives |
//! |---|---|---|
//! | `fsync` (default) | the ledger Redis' own `appendfsync always` (checked at start) | a machine crash of the Redis host |
//! | `replicas` | `WAIT replicas timeout` after the ledger write | the loss of the primary (failover) |
//! | `replicas_fsync` | `WAITAOF 1 replicas timeout` (Redis ≥ 7.2) | both |
//! | `none` | nothing | a process crash only: `appendfsync everysec` loses up to a second of acknowledged payouts on a machine crash |
//!
//! A mode the server cannot honour is refused at start-up with the setting to
//! change; where the server hides its configuration (`CONFIG` renamed), kirim
//! warns and goes on.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `redis.durability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Durability {
    /// The Redis server fsyncs every write before it answers.
    #[default]
    Fsync,
    /// `replicas` replicas acknowledged the write (`WAIT`).
    Replicas,
    /// The primary and `replicas` replicas fsynced the write (`WAITAOF`).
    ReplicasFsync,
    /// Whatever the server does.
    None,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Fsync => "fsync",
            Durability::Replicas => "replicas",
            Durability::ReplicasFsync => "replicas_fsync",
            Durability::None => "none",
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the ledger waits for after a write that must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitFor {
    pub mode: Durability,
    /// Replicas that must acknowledge (modes `replicas`, `replicas_fsync`).
    pub replicas: u32,
    /// How long to wait for them; below the connection's response timeout.
    pub timeout: Duration,
}

impl WaitFor {
    /// No waiting (modes `fsync` and `none`).
    pub fn nothing() -> Self {
        WaitFor {
            mode: Durability::None,
            replicas: 0,
            timeout: Duration::ZERO,
        }
    }

    /// Whether a write is followed by `WAIT`/`WAITAOF`.
    pub fn waits(&self) -> bool {
        matches!(self.mode, Durability::Replicas | Durability::ReplicasFsync)
    }

    /// The command that waits, for a pipeline after the write.
    pub fn command(&self) -> Option<redis::Cmd> {
        let ms = self.timeout.as_millis() as u64;
        match self.mode {
            Durability::Replicas => {
                let mut c = redis::cmd("WAIT");
                c.arg(self.replicas).arg(ms);
                Some(c)
            }
            Durability::ReplicasFsync => {
                let mut c = redis::cmd("WAITAOF");
                c.arg(1).arg(self.replicas).arg(ms);
                Some(c)
            }
            Durability::Fsync | Durability::None => None,
        }
    }

    /// Check the reply of [`Self::command`]: `WAIT` answers the replica count,
    /// `WAITAOF` `[local, replicas]`.
    pub fn check(&self, reply: &redis::Value) -> Result<(), NotDurable> {
        let int = |v: &redis::Value| match v {
            redis::Value::Int(n) => *n,
            _ => -1,
        };
        let (local, acked) = match (self.mode, reply) {
            (Durability::ReplicasFsync, redis::Value::Array(v)) if v.len() == 2 => {
                (int(&v[0]), int(&v[1]))
            }
            (Durability::Replicas, v) => (1, int(v)),
            _ => (-1, -1),
        };
        if local >= 1 && acked >= i64::from(self.replicas) {
            return Ok(());
        }
        Err(NotDurable {
            mode: self.mode,
            acked: acked.max(0) as u32,
            wanted: self.replicas,
            local_fsynced: local >= 1,
            timeout: self.timeout,
        })
    }
}

/// A write that did not reach the durability the deployment asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotDurable {
    pub mode: Durability,
    pub acked: u32,
    pub wanted: u32,
    pub local_fsynced: bool,
    pub timeout: Duration,
}

impl fmt::Display for NotDurable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the write reached {} of {} replicas{} within {} ms (redis.durability = \"{}\", redis.replicas = {}): \
             not acknowledged; check the replicas' link to the primary or change redis.durability",
            self.acked,
            self.wanted,
            if self.mode == Durability::ReplicasFsync && !self.local_fsynced {
                " and was not fsynced locally"
            } else {
                ""
            },
            self.timeout.as_millis(),
            self.mode,
            self.wanted,
        )
    }
}

impl std::error::Error for NotDurable {}

/// What the server is configured to do, against what the setting asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Matches,
    /// The deployment can lose what the setting promises: refuse to start.
    Refuse(String),
    /// Cannot tell or weaker on purpose (`none`): start, and say so.
    Warn(String),
}

/// The facts [`verdict`] needs, as read from the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFacts {
    /// `CONFIG GET appendonly` / `appendfsync`; `None` when `CONFIG` is refused.
    pub appendonly: Option<String>,
    pub appendfsync: Option<String>,
    /// `INFO server` redis_version, e.g. (7, 0).
    pub version: Option<(u32, u32)>,
    /// `INFO replication` connected_slaves.
    pub connected_replicas: Option<u32>,
}

/// Decide whether a server honours the setting.
pub fn verdict(w: &WaitFor, f: &ServerFacts) -> Verdict {
    match w.mode {
        Durability::Fsync => match (f.appendonly.as_deref(), f.appendfsync.as_deref()) {
            (Some("yes"), Some("always")) => Verdict::Matches,
            (Some(aof), Some(fsync)) => Verdict::Refuse(format!(
                "redis.durability = \"fsync\" needs the ledger Redis to fsync every write, but it runs with \
                 appendonly {aof}, appendfsync {fsync}: an acknowledged payout could be lost in a machine crash. \
                 Set `appendonly yes` and `appendfsync always` on the server, or choose redis.durability = \
                 \"replicas\" (WAIT) or, knowingly, \"none\""
            )),
            _ => Verdict::Warn(
                "redis.durability = \"fsync\": the server refuses CONFIG GET, so kirim cannot check \
                 `appendfsync always`; make sure it is set"
                    .into(),
            ),
        },
        Durability::Replicas | Durability::ReplicasFsync => {
            if w.mode == Durability::ReplicasFsync && f.version.is_some_and(|v| v < (7, 2)) {
                let (a, b) = f.version.unwrap_or_default();
                return Verdict::Refuse(format!(
                    "redis.durability = \"replicas_fsync\" needs WAITAOF (Redis 7.2 or later); the server is {a}.{b}. \
                     Upgrade it, or choose \"replicas\" (WAIT) with \"fsync\" on every replica"
                ));
            }
            if w.mode == Durability::ReplicasFsync && f.appendonly.as_deref() == Some("no") {
                return Verdict::Refuse(
                    "redis.durability = \"replicas_fsync\" waits for the primary's own fsync (WAITAOF 1 …), \
                     but the server runs with appendonly no, so WAITAOF refuses every call. Set `appendonly yes` \
                     (and `appendfsync always`) on the primary and its replicas, or choose \"replicas\""
                        .into(),
                );
            }
            if w.replicas == 0 {
                return Verdict::Refuse(format!(
                    "redis.durability = \"{}\" with redis.replicas = 0 waits for nothing; set redis.replicas to 1 or more",
                    w.mode
                ));
            }
            if w.mode == Durability::ReplicasFsync
                && f.appendfsync.as_deref().is_some_and(|v| v != "always")
            {
                // Measured on Valkey 8 (tests/sentinel.rs, 8 producers): with `everysec`
                // the first 100 payouts took 21.9 s to be acknowledged.
                return Verdict::Warn(format!(
                    "redis.durability = \"replicas_fsync\" waits for an fsync on the primary and a replica, but the \
                     primary runs with appendfsync {}: every enqueue and every send waits for the next \
                     once-a-second fsync. Set `appendfsync always` on the primary and its replicas",
                    f.appendfsync.as_deref().unwrap_or("?")
                ));
            }
            match f.connected_replicas {
                Some(n) if n >= w.replicas => Verdict::Matches,
                Some(n) => Verdict::Warn(format!(
                    "redis.durability = \"{}\" wants {} replicas but {n} are connected now: enqueues and sends \
                     are refused until enough replicas acknowledge",
                    w.mode, w.replicas
                )),
                None => Verdict::Warn("cannot read INFO replication; replica acknowledgements are still required".into()),
            }
        }
        Durability::None => Verdict::Warn(
            "redis.durability = \"none\": kirim does not wait for any fsync or replica; a Redis machine crash \
             or failover can lose acknowledged payouts"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(mode: Durability, replicas: u32) -> WaitFor {
        WaitFor {
            mode,
            replicas,
            timeout: Duration::from_millis(200),
        }
    }

    #[test]
    fn fsync_needs_appendfsync_always() {
        let mut f = ServerFacts {
            appendonly: Some("yes".into()),
            appendfsync: Some("everysec".into()),
            ..Default::default()
        };
        match verdict(&w(Durability::Fsync, 0), &f) {
            Verdict::Refuse(why) => {
                assert!(why.contains("appendfsync everysec"), "{why}");
                assert!(why.contains("redis.durability"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        f.appendfsync = Some("always".into());
        assert_eq!(verdict(&w(Durability::Fsync, 0), &f), Verdict::Matches);
        f.appendonly = Some("no".into());
        assert!(matches!(
            verdict(&w(Durability::Fsync, 0), &f),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            verdict(&w(Durability::Fsync, 0), &ServerFacts::default()),
            Verdict::Warn(_)
        ));
    }

    #[test]
    fn waitaof_needs_redis_7_2() {
        let f = ServerFacts {
            version: Some((7, 0)),
            connected_replicas: Some(1),
            ..Default::default()
        };
        assert!(matches!(
            verdict(&w(Durability::ReplicasFsync, 1), &f),
            Verdict::Refuse(_)
        ));
        assert_eq!(verdict(&w(Durability::Replicas, 1), &f), Verdict::Matches);
        assert!(matches!(
            verdict(&w(Durability::Replicas, 2), &f),
            Verdict::Warn(_)
        ));
        assert!(matches!(
            verdict(&w(Durability::Replicas, 0), &f),
            Verdict::Refuse(_)
        ));
    }

    #[test]
    fn waitaof_needs_the_aof_and_is_slow_without_fsync_always() {
        let mut f = ServerFacts {
            version: Some((7, 2)),
            connected_replicas: Some(1),
            appendonly: Some("yes".into()),
            appendfsync: Some("always".into()),
        };
        let a = w(Durability::ReplicasFsync, 1);
        assert_eq!(verdict(&a, &f), Verdict::Matches);
        f.appendfsync = Some("everysec".into());
        match verdict(&a, &f) {
            Verdict::Warn(why) => assert!(why.contains("appendfsync always"), "{why}"),
            other => panic!("{other:?}"),
        }
        f.appendonly = Some("no".into());
        match verdict(&a, &f) {
            Verdict::Refuse(why) => assert!(why.contains("appendonly yes"), "{why}"),
            other => panic!("{other:?}"),
        }
        // `replicas` (WAIT) does not need the primary's AOF.
        assert_eq!(verdict(&w(Durability::Replicas, 1), &f), Verdict::Matches);
    }

    #[test]
    fn wait_replies_are_checked() {
        let r = w(Durability::Replicas, 1);
        assert!(r.check(&redis::Value::Int(1)).is_ok());
        let e = r.check(&redis::Value::Int(0)).expect_err("0 of 1");
        assert!(e.to_string().contains("0 of 1 replicas"), "{e}");
        let a = w(Durability::ReplicasFsync, 1);
        let ok = redis::Value::Array(vec![redis::Value::Int(1), redis::Value::Int(1)]);
        assert!(a.check(&ok).is_ok());
        let no_local = redis::Value::Array(vec![redis::Value::Int(0), redis::Value::Int(1)]);
        assert!(a.check(&no_local).is_err());
    }
}
