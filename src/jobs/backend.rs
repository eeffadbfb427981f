//! The backend kirim's workers fetch from: apalis-redis' queue layout, fetch and
//! push, with kirim's own worker bookkeeping and acknowledgement.
//!
//! Why not `apalis_redis::RedisStorage` as is: its acknowledgement
//! (`handle_results.lua`) writes SREM + SADD + HSET for every job, three of the
//! ~20 Redis commands a payout costs, and `RedisStorage` offers no way to replace
//! it. Here a batch of finished jobs is acknowledged by [`lane_ack.lua`]: a few
//! commands per batch, whatever its size. What it keeps: the job leaves its
//! worker's in-flight set and enters the lane's `:done` set, as before; what it
//! changes: the finish time goes to one sorted set per lane (`:done_at`, which
//! retention reads) instead of each job's meta hash, whose `status` stays as the
//! fetch left it for a Done job.
//!
//! Registration, heartbeat and orphan recovery keep apalis-redis' rules and keys
//! (the lane watch, the console and `reenqueue` all read them), in scripts of our
//! own so each heartbeat is one round trip. Everything else (the fetch, the
//! push, the middleware) is apalis-redis' and apalis-core's.

use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apalis_codec::json::JsonCodec;
use apalis_core::backend::finalize::Durable;
use apalis_core::backend::persistence::{Persisted, Persistence, TaskEvent, TaskPersistLayer};
use apalis_core::backend::{Backend, BackendConfig, TaskResult, WireFormatBackend};
use apalis_core::task::status::Status;
use apalis_core::task::Task;
use apalis_core::worker::context::WorkerContext;
use apalis_redis::{Config, Error, RedisTask};
use redis::Script;
use serde_json::Value;
use ulid::Ulid;

use crate::redis_conn::RedisConn;

use super::Job;

static ACK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lane_ack.lua")));
static REGISTER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lane_register.lua")));
static HEARTBEAT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lane_heartbeat.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lane_release.lua")));

/// apalis-redis' list of queues (its dashboards read it).
const QUEUES_LIST: &str = "core:apalis:queues:list";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// The sorted set of a lane's finished jobs by finish time (unix seconds).
pub fn done_at_key(config: &Config) -> String {
    format!("{}_at", config.done_jobs_set())
}

/// What one lane's workers do with Redis (see the module doc).
#[derive(Clone)]
pub struct LanePersistence {
    conn: RedisConn,
    config: Arc<Config>,
}

impl std::fmt::Debug for LanePersistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanePersistence")
            .field("queue", &self.config.queue)
            .finish_non_exhaustive()
    }
}

/// The arguments of one [`lane_ack.lua`] call for `results`.
fn ack_args(now: u64, results: &[&TaskResult<Value>]) -> Result<Vec<String>, Error> {
    let done: Vec<String> = results
        .iter()
        .filter(|r| r.status == Status::Done)
        .map(|r| r.task_id.to_string())
        .collect();
    let mut args = Vec::with_capacity(2 + done.len());
    args.push(now.to_string());
    args.push(done.len().to_string());
    args.extend(done);
    for r in results.iter().filter(|r| r.status != Status::Done) {
        let result = serde_json::to_string(&r.result).map_err(Error::Json)?;
        args.push(r.task_id.to_string());
        args.push(r.status.to_string());
        args.push(r.attempt.to_string());
        args.push(result);
    }
    Ok(args)
}

impl Persistence for LanePersistence {
    type Compact = Vec<u8>;
    type Response = Value;
    type Error = Error;

    async fn register(&mut self, worker: &WorkerContext) -> Result<(), Error> {
        let _: i64 = REGISTER
            .key(self.config.workers_set())
            .key(self.config.active_jobs_list())
            .key(self.config.signal_list())
            .key(self.config.inflight_jobs_set())
            .key(self.config.worker_metadata_key(worker))
            .key(QUEUES_LIST)
            .arg(unix_now())
            .arg(worker.name())
            .arg(self.config.orphaned_duration().as_secs())
            .arg(worker.get_service())
            .invoke_async(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn heartbeat(&mut self, worker: &WorkerContext) -> Result<(), Error> {
        let now = unix_now();
        let expired = now.saturating_sub(self.config.orphaned_duration().as_secs());
        let n: u64 = HEARTBEAT
            .key(self.config.workers_set())
            .key(self.config.active_jobs_list())
            .key(self.config.signal_list())
            .key(self.config.inflight_jobs_set())
            .arg(now)
            .arg(worker.name())
            .arg(expired)
            .invoke_async(&mut self.conn)
            .await?;
        if n > 0 {
            tracing::info!(
                queue = %self.config.queue,
                jobs = n,
                "re-queued the jobs of a worker that stopped beating"
            );
        }
        Ok(())
    }

    async fn fetch_next(&mut self, worker: &WorkerContext) -> Result<Vec<RedisTask>, Error> {
        apalis_redis::queries::fetch_next(&mut self.conn, worker, &self.config).await
    }

    async fn reenqueue_abandoned(
        &mut self,
        tasks: Vec<RedisTask>,
        worker: &WorkerContext,
    ) -> Result<u64, Error> {
        if tasks.is_empty() {
            return Ok(0);
        }
        let mut call = RELEASE.prepare_invoke();
        call.key(self.config.inflight_set_for(worker))
            .key(self.config.active_jobs_list())
            .key(self.config.signal_list())
            .key(self.config.job_meta_hash());
        for task in &tasks {
            if let Some(id) = task.task_id() {
                call.arg(id.to_string());
            }
        }
        Ok(call.invoke_async(&mut self.conn).await?)
    }

    async fn handle_events(
        &mut self,
        events: Vec<TaskEvent<Value>>,
        worker: &WorkerContext,
    ) -> Result<(), Error> {
        let results: Vec<&TaskResult<Value>> = events
            .iter()
            .filter_map(|e| match e {
                TaskEvent::Complete(r) => Some(r),
                // Leases are off (`lock_tasks(false)`, jobs::Queue::new): no lock
                // events are sent, and none would mean anything here.
                _ => None,
            })
            .collect();
        if results.is_empty() {
            return Ok(());
        }
        let mut call = ACK.prepare_invoke();
        call.key(self.config.inflight_set_for(worker))
            .key(self.config.done_jobs_set())
            .key(done_at_key(&self.config))
            .key(self.config.dead_jobs_set())
            .key(self.config.scheduled_jobs_set())
            .key(self.config.job_meta_hash());
        for arg in ack_args(unix_now(), &results)? {
            call.arg(arg);
        }
        let _: u64 = call.invoke_async(&mut self.conn).await?;
        Ok(())
    }

    async fn push_tasks(&mut self, tasks: Vec<Task<Vec<u8>>>) -> Result<(), Error> {
        apalis_redis::queries::push_tasks(&mut self.conn, &self.config, &tasks).await?;
        Ok(())
    }
}

/// One lane's backend for apalis workers.
pub struct LaneBackend {
    persist: Persisted<LanePersistence>,
    codec: JsonCodec,
}

impl std::fmt::Debug for LaneBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaneBackend")
            .field("queue", &self.persist.config.queue)
            .finish_non_exhaustive()
    }
}

impl Clone for LaneBackend {
    fn clone(&self) -> Self {
        LaneBackend::new(self.persist.conn.clone(), (*self.persist.config).clone())
    }
}

impl LaneBackend {
    pub fn new(conn: RedisConn, config: Config) -> LaneBackend {
        LaneBackend {
            persist: Persisted::new(LanePersistence {
                conn,
                config: Arc::new(config),
            }),
            codec: JsonCodec::default(),
        }
    }

    fn heartbeat_interval(&self) -> Duration {
        self.persist.config.heartbeat_interval
    }
}

impl Backend for LaneBackend {
    type Task = RedisTask;
    type Error = Error;

    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Error>> {
        let every = self.heartbeat_interval();
        self.persist.poll_ready(cx, worker, every)
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<RedisTask, Error>>> {
        self.persist.poll_next(cx, worker)
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Error>> {
        // A stopped worker stays in the workers set until it is declared dead, so
        // whatever is left in its in-flight set (a job that outlived the shutdown
        // timeout) is re-queued by the next heartbeat of another worker.
        self.persist.poll_close(cx, worker)
    }
}

impl BackendConfig for LaneBackend {
    type Args = Job;
    type Id = Ulid;
    type Kind = Durable;
    type Config = Config;
    type Layer = TaskPersistLayer<JsonCodec<Value>, Value>;

    fn config(&self) -> &Config {
        &self.persist.config
    }

    fn middleware(&mut self, _worker: &mut WorkerContext) -> Self::Layer {
        let batch = self.persist.config.batch_size;
        let persist_results = self.persist.config.persist_results;
        let lock_tasks = self.persist.config.lock_tasks;
        self.persist
            .layer(JsonCodec::<Value>::default(), batch)
            .persist_results(persist_results)
            .lock_tasks(lock_tasks)
    }
}

impl WireFormatBackend for LaneBackend {
    type Codec = JsonCodec;
    type Compact = Vec<u8>;

    fn codec(&self) -> &JsonCodec {
        &self.codec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apalis_core::task::task_id::TaskId;

    fn result(id: Ulid, status: Status, attempt: usize) -> TaskResult<Value> {
        TaskResult {
            task_id: TaskId::from_ulid(id),
            attempt,
            status,
            result: Ok(Value::Null),
        }
    }

    #[test]
    fn done_jobs_go_first_as_bare_ids_and_the_rest_in_groups_of_four() {
        let (a, b, c) = (Ulid::generate(), Ulid::generate(), Ulid::generate());
        let rs = [
            result(a, Status::Done, 1),
            result(b, Status::Failed, 2),
            result(c, Status::Done, 1),
        ];
        let refs: Vec<&TaskResult<Value>> = rs.iter().collect();
        let args = ack_args(1_700_000_000, &refs).unwrap();
        assert_eq!(args[0], "1700000000");
        assert_eq!(args[1], "2");
        assert_eq!(args[2], a.to_string());
        assert_eq!(args[3], c.to_string());
        assert_eq!(args[4], b.to_string());
        assert_eq!(args[5], "Failed");
        assert_eq!(args[6], "2");
        assert_eq!(args.len(), 2 + 2 + 4);
    }
}
