//! Reconciliation at scale (issue 6): polling, callbacks (alone, together, duplicated,
//! out of order, forged), UNKNOWN and NEEDS_REVIEW, batch settlement from history
//! lists, once-per-tick sweeps, and application notifications. Real Redis, the real
//! sandbox over HTTP, the real API server for callbacks.
//!
//! `callbacks`: callbacks alone, together with polling, forged and replayed, and the
//! application's notifications; `polling`: polling alone, NEEDS_REVIEW, sweeps,
//! history batches, refused status checks and resubmission.

mod callbacks;
mod polling;

use std::sync::Arc;
use std::time::Duration;

use crate::common::App;
use kirim::api::{ApiServer, ApiState};
use kirim::callbacks::CallbackState;
use kirim::sweep::Sweeper;

const OK_ACCOUNT: &str = "8753293240";
const T: Duration = Duration::from_secs(30);

/// Redis, an API for callbacks, a sandbox that calls it back, and settings that
/// verify those callbacks. `poll` false makes polling too slow to matter.
async fn callback_app(poll: bool, tune: impl FnOnce(&mut kirim::sandbox::SandboxConfig)) -> App {
    callback_app_with(poll, tune, |_| {}).await
}

/// [`callback_app`] with kirim's settings tuned too.
async fn callback_app_with(
    poll: bool,
    tune: impl FnOnce(&mut kirim::sandbox::SandboxConfig),
    tune_settings: impl FnOnce(&mut kirim::config::Settings),
) -> App {
    // Reserve the API port first: the sandbox needs the callback URLs at start,
    // and kirim needs them to verify signatures.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api_addr = listener.local_addr().unwrap();
    drop(listener);
    let base = format!("http://{api_addr}");
    let (ifp, nic, sgp) = (
        format!("{base}/callbacks/ifortepay"),
        format!("{base}/callbacks/nicepay"),
        format!("{base}/callbacks/singapay"),
    );
    let (i2, s2) = (ifp.clone(), sgp.clone());
    let mut app = App::spawn(
        move |c| {
            c.settlement_delay_ms = 3_600_000;
            c.ifortepay.callback_url = i2;
            c.nicepay.notify_url = nic;
            c.singapay.webhook_url = s2;
            c.callbacks.retry_base_ms = 50;
            tune(c);
        },
        move |s| {
            s.providers.set("ifortepay", "callback_url", ifp);
            s.providers.set("singapay", "webhook_url", sgp);
            s.api.bind = api_addr.to_string();
            if !poll {
                s.reconcile.schedule_secs = vec![3600];
            }
            tune_settings(s);
        },
    )
    .await;
    let providers = kirim::providers::build_all(&app.settings.providers).unwrap();
    let mut state = ApiState::new(&app.settings, app.client.clone(), providers);
    state.callbacks = Some(Arc::new(CallbackState::from_settings(
        &app.settings,
        app.client.clone(),
    )));
    let server = ApiServer::build(&app.settings.api.bind, state, 65536)
        .await
        .unwrap();
    tokio::spawn(server.run_until_stopped(std::future::pending()));
    app.start_worker().await;
    app
}

fn events(h: &[kirim::ledger::HistoryEntry], event: &str) -> usize {
    h.iter().filter(|e| e.event == event).count()
}

fn sweeper(
    app: &App,
    providers: kirim::jobs::handler::Providers,
    history_batch_min: usize,
) -> Sweeper {
    Sweeper {
        ledger: app.client.ledger().clone(),
        queue: app.client.queue().clone(),
        batch: 1000,
        lease: Duration::from_secs(60),
        providers,
        history_batch_min,
        policy: app.client.policy().clone(),
    }
}
