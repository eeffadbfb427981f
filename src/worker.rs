//! The worker process: apalis workers running [`Engine::execute`], plus the
//! maintenance loops the queue needs, all stopped by one shutdown signal.
//!
//! - **Unique names** (host, pid, random suffix, restart count): apalis refuses a
//!   same-name restart within 30 s and does not deregister on shutdown (pitfall 6).
//! - **Supervised restart**: any Redis error ends an apalis worker; the monitor
//!   restarts it with a fresh name (`should_restart` → true unless shutting down).
//! - **Polling**: `poll_with_interval` so idle workers pick work up in milliseconds
//!   rather than on the 30 s heartbeat (pitfall 5).
//! - **Orphans**: heartbeat × missed heartbeats (settings) bounds how long a job of
//!   a SIGKILLed worker waits before another worker re-runs it (pitfall 1).
//! - **Promoter**: promotes due scheduled jobs in chunks before apalis' fetch sees
//!   too many at once (pitfall 4).
//! - **Retention**: deletes finished job data after `finished_job_ttl_secs` (pitfall 7),
//!   and moves payouts final for `compact_final_after_secs` to their cold form.
//! - **Sweep**: an apalis-cron schedule fires every tick on every replica; the
//!   per-tick key makes only one replica sweep.
//! - **Graceful shutdown**: stop fetching, let in-flight jobs finish (up to
//!   `shutdown_timeout_secs`), and put fetched-but-unstarted jobs back on the queue.
//! - **Wedged lanes**: a lane with jobs waiting that started none for
//!   `stall_secs` gets fresh apalis workers ([`crate::lane_watch`]).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument as _;

use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use rand::RngExt;
use redis::AsyncCommands;

use crate::config::Settings;
use crate::jobs::handler::{Engine, EngineError, Step};
use crate::jobs::{Job, Lane, Queue, QueueOptions};
use crate::lane_watch::{LaneActivity, Stall};
use crate::ledger::{now_ms, Ledger};
use crate::lifecycle::Policy;
use crate::providers::Providers;
use crate::sweep::{hostname, Sweeper};

/// How a worker process is started.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub concurrency: usize,
    /// Run the reconciliation sweep scheduler in this process too.
    pub with_sweep: bool,
}

/// A built worker process, ready to run.
pub struct WorkerRuntime {
    settings: Settings,
    engine: Arc<Engine>,
    recorder: Arc<crate::metrics::Recorder>,
    queue: Queue,
    sweeper: Sweeper,
    options: WorkerOptions,
    names: Arc<Mutex<Vec<(Lane, String)>>>,
}

impl std::fmt::Debug for WorkerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerRuntime")
            .field("options", &self.options)
            .finish()
    }
}

/// How long a payout claimed by a sweep is hidden from other sweeps: long enough
/// for its job to run, short enough that a lost job is retried soon.
pub fn sweep_lease(settings: &Settings) -> Duration {
    Duration::from_secs((settings.reconcile.tick_secs * 4).max(30))
}

/// A worker name nobody else uses: host, pid, random suffix.
pub fn unique_name(role: &str) -> String {
    let suffix: u32 = rand::rng().random();
    format!(
        "kirim-{role}-{}-{}-{suffix:08x}",
        hostname(),
        std::process::id()
    )
}

async fn handle_job(
    job: Job,
    engine: Data<Arc<Engine>>,
    activity: Data<Arc<LaneActivity>>,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let _running = activity.started(Lane::of(&job), now_ms());
    let span = tracing::info_span!("job", kind = job.kind(), payout = %job.payout(), attempt = attempt.current());
    // `Instrument`, not `span.enter()`: a guard held across `.await` would leave this
    // span entered on whatever task the thread runs next (issue 12, logs naming the
    // wrong payout).
    handle_in_span(job, engine, attempt).instrument(span).await
}

async fn handle_in_span(
    job: Job,
    engine: Data<Arc<Engine>>,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    match engine.execute(&job).await {
        Ok(step) => {
            if let Step::DeadLettered = step {
                tracing::warn!(payout = %job.payout(), "dead-lettered");
            }
            Ok(())
        }
        Err(err) => {
            // Infrastructure trouble (Redis, contention). The ledger is unchanged or
            // consistent; retry through apalis, but cap attempts ourselves (apalis
            // ignores max_attempts) and park the payout for an operator at the cap.
            tracing::warn!(error = %err, "job failed");
            if attempt.current() >= engine.max_attempts as usize {
                let reason = format!("job failed {} times: {err}", attempt.current());
                if let Err(e) =
                    crate::jobs::dead::record(&engine.ledger, job.payout(), job.kind(), &reason)
                        .await
                {
                    tracing::error!(error = %e, "could not record dead letter");
                }
                return Err(Box::new(AbortError::new(err)));
            }
            Err(Box::new(err))
        }
    }
}

/// apalis-cron schedule: every `secs` seconds, aligned to the epoch so that all
/// replicas fire on the same tick values (the per-tick key relies on that).
#[derive(Debug, Clone, Copy)]
struct EverySeconds(u64);

impl apalis_cron::Schedule<chrono::Utc> for EverySeconds {
    fn next_tick(&mut self, _tz: &chrono::Utc) -> Option<Tick<chrono::Utc>> {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let n = self.0.max(1);
        Some(Tick::new((now / n + 1) * n))
    }
}

async fn handle_tick(
    tick: Tick<chrono::Utc>,
    sweeper: Data<Arc<Sweeper>>,
) -> Result<(), BoxDynError> {
    match sweeper.sweep_tick(tick.get_timestamp()).await {
        Ok(Some(r)) if r.claimed > 0 => {
            tracing::info!(
                claimed = r.claimed,
                enqueued = r.enqueued,
                "reconciliation sweep"
            );
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "sweep failed");
            Ok(()) // the next tick tries again; the due index keeps everything
        }
    }
}

impl WorkerRuntime {
    /// Connect to Redis and assemble the engine.
    pub async fn build(
        settings: Settings,
        providers: Providers,
        options: WorkerOptions,
    ) -> Result<Self, EngineError> {
        let ledger = Ledger::from_settings(&settings).await?;
        let queue = Queue::new(
            ledger.connection(),
            ledger.keys(),
            &QueueOptions::from_settings(&settings),
        );
        let recorder = Arc::new(crate::metrics::Recorder::default());
        let engine = Arc::new(Engine {
            ledger: ledger.clone(),
            queue: queue.clone(),
            providers,
            policy: Policy::from_settings(&settings),
            actor: unique_name("worker"),
            observer: recorder.clone(),
            breakers: crate::circuit::Breakers::new(crate::circuit::BreakerConfig::default()),
            max_attempts: settings.worker.max_attempts,
        });
        let sweeper = Sweeper {
            ledger,
            queue: queue.clone(),
            batch: settings.reconcile.batch,
            lease: sweep_lease(&settings),
            providers: engine.providers.clone(),
            history_batch_min: settings.reconcile.history_batch_min,
            policy: engine.policy.clone(),
        };
        Ok(WorkerRuntime {
            settings,
            engine,
            recorder,
            queue,
            sweeper,
            options,
            names: Arc::new(Mutex::new(Vec::new())),
        })
    }

    pub fn engine(&self) -> Arc<Engine> {
        self.engine.clone()
    }

    /// Run until `shutdown` resolves, then stop gracefully.
    pub async fn run_until_stopped<F>(self, shutdown: F) -> anyhow::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);

        // Drain any backlog of due scheduled jobs before apalis' fetch sees it.
        let promoted = self.queue.promote_due().await?;
        if promoted > 0 {
            tracing::info!(promoted, "promoted due jobs before start");
        }
        let promoter = tokio::spawn(promoter_loop(
            self.queue.clone(),
            Duration::from_millis(self.settings.worker.poll_interval_ms.max(20)),
            stop_rx.clone(),
        ));
        let flusher = tokio::spawn(flush_loop(
            self.recorder.clone(),
            self.engine.ledger.clone(),
            stop_rx.clone(),
        ));
        let notifier = match crate::notify::Notifier::from_settings(
            &self.settings.notify,
            self.engine.ledger.clone(),
        ) {
            Ok(Some(n)) => Some(tokio::spawn(notify_loop(n, stop_rx.clone()))),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "notifications disabled");
                None
            }
        };
        let retention = tokio::spawn(retention_loop(
            self.queue.clone(),
            self.engine.ledger.clone(),
            Duration::from_secs(self.settings.worker.finished_job_ttl_secs),
            Duration::from_secs(self.settings.worker.compact_final_after_secs),
            Duration::from_secs(self.settings.worker.housekeeping_secs.max(1)),
            stop_rx.clone(),
        ));

        // The caller's shutdown, as a flag every generation of workers can wait on.
        let (user_tx, user_rx) = tokio::sync::watch::channel(false);
        let asked = tokio::spawn(async move {
            shutdown.await;
            let _ = user_tx.send(true);
        });
        let activity = Arc::new(LaneActivity::new(now_ms()));
        let stall_after = Duration::from_secs(self.settings.worker.stall_secs.max(1));
        let result = loop {
            activity.reset(now_ms());
            let monitor = self.monitor(activity.clone());
            let (trip_tx, trip_rx) = tokio::sync::oneshot::channel::<Stall>();
            let watcher = {
                let (queue, activity, stop) =
                    (self.queue.clone(), activity.clone(), user_rx.clone());
                tokio::spawn(async move {
                    if let Some(stall) =
                        crate::lane_watch::watch(&queue, &activity, stall_after, stop).await
                    {
                        let _ = trip_tx.send(stall);
                    }
                })
            };
            let tripped = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let signal = {
                let (mut user, tripped) = (user_rx.clone(), tripped.clone());
                async move {
                    tokio::select! {
                        _ = async { while !*user.borrow_and_update() {
                            if user.changed().await.is_err() { break; }
                        } } => tracing::info!("shutdown requested: finishing in-flight jobs"),
                        Ok(stall) = trip_rx => {
                            tripped.store(true, std::sync::atomic::Ordering::SeqCst);
                            tracing::error!(
                                lane = stall.lane.as_str(),
                                waiting = stall.waiting,
                                idle_ms = stall.idle_ms,
                                "lane wedged: jobs waiting and none started; restarting the workers"
                            );
                        }
                    }
                    Ok(())
                }
            };
            let r = monitor.run_with_signal(signal).await;
            watcher.abort();
            if *user_rx.borrow() || r.is_err() || !tripped.load(std::sync::atomic::Ordering::SeqCst)
            {
                break r;
            }
        };
        asked.abort();
        let _ = stop_tx.send(true);
        let _ = promoter.await;
        let _ = flusher.await;
        if let Some(n) = notifier {
            let _ = n.await;
        }
        let _ = retention.await;
        // Belt and braces: anything still in one of our in-flight sets was fetched
        // but not finished; put it back so another worker runs it now.
        let released = self.release_inflight().await.unwrap_or(0);
        if released > 0 {
            tracing::info!(released, "returned unstarted jobs to the queue");
        }
        result.map_err(|e| anyhow::anyhow!("worker monitor: {e}"))
    }

    /// The apalis workers (one per lane, supervised) and the sweep schedule.
    fn monitor(&self, activity: Arc<LaneActivity>) -> Monitor {
        let poll = Duration::from_millis(self.settings.worker.poll_interval_ms);
        let concurrency = self.options.concurrency.max(1);
        let mut monitor = Monitor::new();
        for lane in Lane::ALL {
            let storage = self.queue.worker_backend(lane);
            let engine = self.engine.clone();
            let names = self.names.clone();
            let activity = activity.clone();
            monitor = monitor.register(move |restarts| {
                let name = format!("{}-r{restarts}", unique_name(lane.as_str()));
                if let Ok(mut n) = names.lock() {
                    n.push((lane, name.clone()));
                }
                WorkerBuilder::new(name)
                    .backend(storage.clone().poll_with_interval(poll))
                    .concurrency(concurrency)
                    .data(engine.clone())
                    .data(activity.clone())
                    .catch_panic()
                    .parallelize(tokio::spawn)
                    .build(handle_job)
            });
        }
        monitor = monitor
            .should_restart(|ctx, err| {
                tracing::warn!(worker = ctx.name(), error = %err, "worker stopped; restarting with a fresh name");
                true
            })
            .shutdown_timeout(Duration::from_secs(self.settings.worker.shutdown_timeout_secs));
        if self.options.with_sweep {
            let sweeper = Arc::new(self.sweeper.clone());
            let tick = self.settings.reconcile.tick_secs;
            monitor = monitor.register(move |restarts| {
                WorkerBuilder::new(format!("{}-r{restarts}", unique_name("sweep")))
                    .backend(CronScheduler::new(EverySeconds(tick)))
                    .data(sweeper.clone())
                    .build(handle_tick)
            });
        }
        monitor
    }

    async fn release_inflight(&self) -> Result<usize, redis::RedisError> {
        let names: Vec<(Lane, String)> = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        let mut conn = self.engine.ledger.connection();
        let mut total = 0;
        for (lane, name) in names {
            let cfg = self.queue.apalis_config(lane);
            let set = format!("{}:{name}", cfg.inflight_jobs_set());
            let ids: Vec<String> = conn.smembers(&set).await?;
            for chunk in ids.chunks(500) {
                let _: () = redis::pipe()
                    .atomic()
                    .rpush(cfg.active_jobs_list(), chunk)
                    .ignore()
                    .srem(&set, chunk)
                    .ignore()
                    .query_async(&mut conn)
                    .await?;
                total += chunk.len();
            }
        }
        Ok(total)
    }
}

async fn promoter_loop(
    queue: Queue,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = queue.promote_due().await {
                    tracing::warn!(error = %e, "promoting due jobs failed");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

async fn notify_loop(n: crate::notify::Notifier, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = n.deliver_due().await {
                    tracing::warn!(error = %e, "notification delivery failed");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

async fn flush_loop(
    recorder: Arc<crate::metrics::Recorder>,
    ledger: Ledger,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.changed() => true,
        };
        if let Err(e) = recorder.flush(&ledger).await {
            tracing::debug!(error = %e, "metrics flush failed");
        }
        if stopping {
            return;
        }
    }
}

/// Payouts moved to their cold form per housekeeping tick at most (a backlog
/// beyond it waits for the next minute).
const COMPACT_PER_TICK: usize = 500_000;

async fn retention_loop(
    queue: Queue,
    ledger: Ledger,
    ttl: Duration,
    compact_after: Duration,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    // The lease runs out just before the next tick, so one replica per tick works.
    let lease_secs = every.as_secs().saturating_sub(5).max(1);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // One replica per tick does the work.
                let mut conn = ledger.connection();
                let won: Option<String> = redis::cmd("SET")
                    .arg(ledger.keys().lease("retention"))
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(lease_secs)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or(None);
                if won.is_some() {
                    match queue.apply_retention(ttl).await {
                        Ok(n) if n > 0 => tracing::info!(removed = n, "retention: deleted finished job data"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "retention failed"),
                    }
                    match ledger.compact_final(crate::ledger::ms_ago(compact_after), COMPACT_PER_TICK).await {
                        Ok(c) if c.compacted + c.moved > 0 => tracing::info!(
                            compacted = c.compacted,
                            moved = c.moved,
                            "compaction: final payouts moved to their cold form"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "compaction failed"),
                    }
                }
            }
            _ = stop.changed() => return,
        }
    }
}
