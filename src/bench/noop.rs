//! The bare queue: the same apalis configuration as `kirim worker` — the same
//! [`Queue`] (lock_tasks(false), batch size, heartbeat), the same worker builder
//! (poll interval, concurrency, catch_panic, parallelize), the same promoter loop,
//! one worker per lane — with a handler that does nothing. Run as real processes
//! (`kirim bench --noop-worker`), so the comparison with the payout pipeline
//! differs only in what the handler does.

use std::time::Duration;

use apalis::prelude::*;

use crate::config::Settings;
use crate::jobs::QueueOptions;
use crate::jobs::{Job, Lane, Queue};
use crate::ledger::Ledger;
use crate::worker::unique_name;

async fn noop(_job: Job) -> Result<(), BoxDynError> {
    Ok(())
}

/// Run no-op workers for every lane until `shutdown` resolves.
pub async fn run_noop_worker<F>(
    settings: Settings,
    concurrency: usize,
    shutdown: F,
) -> anyhow::Result<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let ledger = Ledger::connect(&settings.redis).await?;
    let queue = Queue::new(
        ledger.connection(),
        ledger.keys(),
        &QueueOptions::from_settings(&settings),
    );
    let poll = Duration::from_millis(settings.worker.poll_interval_ms);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let promoter = {
        let queue = queue.clone();
        let every = Duration::from_millis(settings.worker.poll_interval_ms.max(20));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = queue.promote_due().await {
                            tracing::warn!(error = %e, "promoting due jobs failed");
                        }
                    }
                    _ = stop_rx.changed() => return,
                }
            }
        })
    };
    let mut monitor = Monitor::new();
    for lane in Lane::ALL {
        let storage = queue.worker_backend(lane);
        monitor = monitor.register(move |restarts| {
            WorkerBuilder::new(format!("{}-r{restarts}", unique_name(lane.as_str())))
                .backend(storage.clone().poll_with_interval(poll))
                .concurrency(concurrency.max(1))
                .catch_panic()
                .parallelize(tokio::spawn)
                .build(noop)
        });
    }
    let result = monitor
        .should_restart(|_, _| true)
        .shutdown_timeout(Duration::from_secs(settings.worker.shutdown_timeout_secs))
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await;
    let _ = stop_tx.send(true);
    let _ = promoter.await;
    result.map_err(|e| anyhow::anyhow!("no-op worker monitor: {e}"))
}
