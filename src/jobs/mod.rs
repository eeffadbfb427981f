//! Jobs and the apalis queue they travel on.
//!
//! A job only *names* a payout; the ledger record decides what happens (a job for
//! a payout that is already final does nothing). That makes every job idempotent,
//! which the queue needs: apalis is at-least-once, re-runs orphaned jobs from
//! attempt 1, and can run a stalled job twice (APALIS.md pitfall 2).
//!
//! [`Queue`] wraps `apalis_redis::RedisStorage` and works around the measured
//! pitfalls: a job due now goes straight to the active list (push_now.lua) instead
//! of apalis' `:scheduled` detour, delayed jobs are promoted in bounded chunks
//! (pitfall 4: ≥ 8,000 due jobs wedge the fetch script), bulk pushes go in chunks,
//! and finished job data is deleted after a retention period (pitfall 7).

pub mod apply;
pub mod backend;
pub mod dead;
pub mod fence;
mod from_settings;
pub mod handler;

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_redis::{Config as RedisQueueConfig, RedisStorage};
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};

use crate::domain::State;
use crate::keys::Keys;
use crate::ledger::{Created, PayoutId, PayoutKind};
use crate::redis_conn::RedisConn;

/// The work kirim's workers do. One queue carries all kinds; `kirim worker` runs them all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Submit a transfer (disbursement).
    Transfer {
        payout: PayoutId,
        /// The record as created, when the producer that created it pushed this
        /// job (see [`Created`]): the worker decides on it without a read, and its
        /// compare-and-set on the created version sends nothing if the record has
        /// moved (a re-run after a crash, a callback, an operator); then it reads
        /// the record and decides again. Jobs pushed by the sweep, retries and
        /// re-drives carry none and read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        created: Option<Box<Created>>,
    },
    /// Transaction status inquiry for a PENDING/UNKNOWN payout.
    Inquiry { payout: PayoutId },
    /// Submit a direct-debit payment.
    Payment { payout: PayoutId },
}

impl Job {
    /// A transfer job without a snapshot: the worker reads the record.
    pub fn transfer(payout: PayoutId) -> Job {
        Job::Transfer {
            payout,
            created: None,
        }
    }

    pub fn payout(&self) -> &PayoutId {
        match self {
            Job::Transfer { payout, .. } | Job::Inquiry { payout } | Job::Payment { payout } => {
                payout
            }
        }
    }

    /// The record as created, if this job carries it.
    pub fn created(&self) -> Option<&Created> {
        match self {
            Job::Transfer {
                created: Some(c), ..
            } => Some(c),
            _ => None,
        }
    }

    /// This job with `created` attached, if it is a transfer (other kinds read).
    pub fn with_created(self, snapshot: Created) -> Job {
        match self {
            Job::Transfer { payout, .. } => Job::Transfer {
                payout,
                created: Some(Box::new(snapshot)),
            },
            other => other,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Job::Transfer { .. } => "transfer",
            Job::Inquiry { .. } => "inquiry",
            Job::Payment { .. } => "payment",
        }
    }
}

/// The job that moves a payout forward from `state`.
pub fn job_for(id: &PayoutId, state: State, kind: PayoutKind) -> Option<Job> {
    match state {
        State::Accepted => Some(match kind {
            PayoutKind::Transfer => Job::transfer(id.clone()),
            PayoutKind::Payment => Job::Payment { payout: id.clone() },
        }),
        State::Submitting | State::Pending | State::Unknown | State::NeedsReview => {
            Some(Job::Inquiry { payout: id.clone() })
        }
        State::Succeeded | State::Cancelled | State::Failed => None,
    }
}

/// Jobs promoted per call of promote.lua; far below the ~8,000 that break `unpack`.
pub const PROMOTE_CHUNK: usize = 1000;
/// Jobs per push script call.
pub const PUSH_CHUNK: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("push: {0}")]
    Push(String),
}

/// Which apalis queue a job travels on. Separate queues keep reconciliation
/// (inquiries) from waiting behind a bulk transfer backlog, and give a depth per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    Transfer,
    Inquiry,
    Payment,
}

impl Lane {
    pub const ALL: [Lane; 3] = [Lane::Transfer, Lane::Inquiry, Lane::Payment];

    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Transfer => "transfer",
            Lane::Inquiry => "inquiry",
            Lane::Payment => "payment",
        }
    }

    pub fn of(job: &Job) -> Lane {
        match job {
            Job::Transfer { .. } => Lane::Transfer,
            Job::Inquiry { .. } => Lane::Inquiry,
            Job::Payment { .. } => Lane::Payment,
        }
    }
}

#[derive(Clone)]
struct LaneQueue {
    storage: RedisStorage<Job, RedisConn>,
    config: RedisQueueConfig,
}

/// The apalis queues (one per [`Lane`]) plus kirim's own maintenance of them.
#[derive(Clone)]
pub struct Queue {
    lanes: [LaneQueue; 3],
    conn: RedisConn,
    promote: Script,
    push_now: Script,
    retention: Script,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("transfer", &self.lanes[0].config.queue)
            .finish()
    }
}

/// A dead-letter record (`kirim dead list`). `id` must stay the first field: the
/// transition script assigns it by rewriting the serialised `{"id":0,` prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: u64,
    pub payout: PayoutId,
    pub job: String,
    pub reason: String,
    pub at: i64,
}

/// What the engine tells the outside about its provider calls. The worker passes
/// its metrics recorder; the engine does not know where the numbers go.
pub trait Observer: Send + Sync {
    /// One provider call: `op` is `transfer`, `payment` or `inquiry`, `outcome`
    /// the outcome's label.
    fn exchange(
        &self,
        provider: crate::domain::Provider,
        op: &'static str,
        outcome: &'static str,
        latency: Duration,
    );
    /// One alert of a fixed kind (`inquiry_refused`, `fenced`, …).
    fn alert(&self, provider: crate::domain::Provider, kind: &'static str);
}

/// Settings of the apalis queue that kirim chooses.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    pub heartbeat: Duration,
    pub missed_heartbeats: usize,
    pub batch_size: usize,
}

impl QueueOptions {
    /// The queue options a deployment uses, from settings.
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        QueueOptions {
            heartbeat: Duration::from_secs(settings.worker.heartbeat_secs),
            missed_heartbeats: settings.worker.missed_heartbeats as usize,
            batch_size: settings.worker.concurrency.clamp(10, 200),
        }
    }
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            heartbeat: Duration::from_secs(5),
            missed_heartbeats: 3,
            batch_size: 50,
        }
    }
}

impl Queue {
    pub fn new(conn: RedisConn, keys: &Keys, opts: &QueueOptions) -> Self {
        let lane = |lane: Lane| {
            let config = RedisQueueConfig::default()
                .queue(keys.queue(lane.as_str()))
                .heartbeat_interval(opts.heartbeat)
                .missed_heartbeats(opts.missed_heartbeats)
                .batch_size(opts.batch_size)
                // Task locking only adds an O(queue) LREM per fetched job (APALIS.md:
                // 10x slower); orphan recovery works from the per-worker in-flight sets
                // either way, and the ledger makes a duplicate run harmless.
                .lock_tasks(false)
                // Must stay true: in apalis-core 1.0 this flag is what sends the ack
                // (TaskPersistService::should_ack). Without it a finished job is never
                // removed from the worker's in-flight set nor added to `:done`, so the
                // set grows without bound, retention finds nothing to delete, and a
                // restart (release_inflight) or orphan recovery re-queues every job the
                // worker ever ran.
                .persist_results(true)
                .emit_events(false);
            LaneQueue {
                storage: RedisStorage::new(conn.clone()).with_config(config.clone()),
                config,
            }
        };
        Queue {
            lanes: [
                lane(Lane::Transfer),
                lane(Lane::Inquiry),
                lane(Lane::Payment),
            ],
            conn,
            promote: Script::new(include_str!("promote.lua")),
            push_now: Script::new(include_str!("push_now.lua")),
            retention: Script::new(include_str!("retention.lua")),
        }
    }

    fn lane(&self, lane: Lane) -> &LaneQueue {
        match lane {
            Lane::Transfer => &self.lanes[0],
            Lane::Inquiry => &self.lanes[1],
            Lane::Payment => &self.lanes[2],
        }
    }

    /// The apalis storage of one lane, for pushing delayed jobs.
    pub fn storage(&self, lane: Lane) -> RedisStorage<Job, RedisConn> {
        self.lane(lane).storage.clone()
    }

    /// The backend one lane's workers run on ([`backend::LaneBackend`]: batched
    /// acknowledgements).
    pub fn worker_backend(&self, lane: Lane) -> backend::LaneBackend {
        backend::LaneBackend::new(self.conn.clone(), self.lane(lane).config.clone())
    }

    pub fn apalis_config(&self, lane: Lane) -> &RedisQueueConfig {
        &self.lane(lane).config
    }

    /// Push one job to run now (or after `delay`). A job due now goes straight to
    /// the lane's active list; a delayed one through apalis' `:scheduled` set.
    pub async fn push(&self, job: Job, delay: Option<Duration>) -> Result<(), QueueError> {
        let lane = Lane::of(&job);
        let Some(d) = delay else {
            self.push_now(lane, std::slice::from_ref(&job)).await?;
            return Ok(());
        };
        let mut storage = self.storage(lane);
        storage
            .push_task(TaskBuilder::new(job).run_after(d).build())
            .await
            .map_err(|e| QueueError::Push(e.to_string()))?;
        Ok(())
    }

    /// Push many jobs to run now, in bounded chunks per lane, straight to each
    /// lane's active list (never through `:scheduled`).
    pub async fn push_many(&self, jobs: Vec<Job>) -> Result<(), QueueError> {
        for lane in Lane::ALL {
            let mine: Vec<Job> = jobs
                .iter()
                .filter(|j| Lane::of(j) == lane)
                .cloned()
                .collect();
            for chunk in mine.chunks(PUSH_CHUNK) {
                self.push_now(lane, chunk).await?;
            }
        }
        Ok(())
    }

    /// One push_now.lua call: `jobs` (at most [`PUSH_CHUNK`]) onto `lane`'s active
    /// list, written as apalis' own push writes a job without a run time.
    async fn push_now(&self, lane: Lane, jobs: &[Job]) -> Result<usize, QueueError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let cfg = &self.lane(lane).config;
        let mut invocation = self.push_now.prepare_invoke();
        invocation
            .key(cfg.job_data_hash())
            .key(cfg.active_jobs_list())
            .key(cfg.signal_list())
            .key(cfg.job_meta_hash());
        for job in jobs {
            // apalis-redis stores `JsonCodec<Vec<u8>>` output and names tasks by ULID.
            let data = serde_json::to_vec(job).map_err(|e| QueueError::Push(e.to_string()))?;
            invocation.arg(ulid::Ulid::generate().to_string()).arg(data);
        }
        let mut conn = self.conn.clone();
        Ok(invocation.invoke_async(&mut conn).await?)
    }

    /// Promote due scheduled jobs of every lane, in chunks. Returns how many moved.
    pub async fn promote_due(&self) -> Result<usize, QueueError> {
        let mut total = 0;
        for lane in Lane::ALL {
            total += self.promote_lane(lane).await?;
        }
        Ok(total)
    }

    async fn promote_lane(&self, lane: Lane) -> Result<usize, QueueError> {
        let cfg = &self.lane(lane).config;
        let mut total = 0;
        loop {
            let mut conn = self.conn.clone();
            let now = chrono::Utc::now().timestamp();
            let n: usize = self
                .promote
                .key(cfg.scheduled_jobs_set())
                .key(cfg.active_jobs_list())
                .key(cfg.signal_list())
                .arg(now)
                .arg(PROMOTE_CHUNK)
                .invoke_async(&mut conn)
                .await?;
            total += n;
            if n < PROMOTE_CHUNK {
                return Ok(total);
            }
        }
    }

    /// Queue depth of one lane: jobs waiting to run now, scheduled for later, dead.
    pub async fn depth(&self, lane: Lane) -> Result<QueueDepth, QueueError> {
        let cfg = &self.lane(lane).config;
        let mut conn = self.conn.clone();
        let now = chrono::Utc::now().timestamp();
        let (active, scheduled_due, scheduled, dead): (u64, u64, u64, u64) = redis::pipe()
            .llen(cfg.active_jobs_list())
            .zcount(cfg.scheduled_jobs_set(), 0, now)
            .zcard(cfg.scheduled_jobs_set())
            .scard(cfg.dead_jobs_set())
            .query_async(&mut conn)
            .await?;
        Ok(QueueDepth {
            active,
            scheduled_due,
            scheduled,
            dead,
        })
    }

    /// Delete finished job data older than `ttl` (apalis keeps it forever).
    /// Walks the done and dead sets with SSCAN, so each call costs O(finished jobs)
    /// spread over small batches.
    pub async fn apply_retention(&self, ttl: Duration) -> Result<u64, QueueError> {
        let cutoff = chrono::Utc::now().timestamp() - ttl.as_secs() as i64;
        let mut removed = 0u64;
        for lane in Lane::ALL {
            let cfg = &self.lane(lane).config;
            for set in [cfg.done_jobs_set(), cfg.dead_jobs_set()] {
                let mut cursor = 0u64;
                loop {
                    let mut conn = self.conn.clone();
                    let (next, ids): (u64, Vec<String>) = redis::cmd("SSCAN")
                        .arg(&set)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut conn)
                        .await?;
                    if !ids.is_empty() {
                        let n: u64 = self
                            .retention
                            .key(cfg.done_jobs_set())
                            .key(cfg.dead_jobs_set())
                            .key(cfg.job_data_hash())
                            .key(cfg.job_meta_hash())
                            .key(backend::done_at_key(cfg))
                            .arg(cutoff)
                            .arg(&ids)
                            .invoke_async(&mut conn)
                            .await?;
                        removed += n;
                    }
                    cursor = next;
                    if cursor == 0 {
                        break;
                    }
                }
            }
        }
        Ok(removed)
    }

    /// Number of finished jobs whose data is still stored, all lanes.
    pub async fn finished_count(&self) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let mut n = 0;
        for lane in Lane::ALL {
            let c: u64 = conn.scard(self.lane(lane).config.done_jobs_set()).await?;
            n += c;
        }
        Ok(n)
    }
}

/// Sizes of the apalis queue's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    pub active: u64,
    pub scheduled_due: u64,
    pub scheduled: u64,
    pub dead: u64,
}
