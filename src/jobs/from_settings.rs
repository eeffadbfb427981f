//! What is built from settings here, so the modules below know nothing of
//! configuration: the lifecycle's timing rules, and the ledger's connection.

use std::time::Duration;

use crate::lifecycle::policy::{secs, send_deadline};
use crate::lifecycle::Policy;
use crate::providers::Registry;
use crate::retry::Backoff;

impl Policy {
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        let request_timeout = Registry::longest_request_timeout(&s.providers);
        // Three of the longest requests (token fetch, send, one refresh and resend) plus slack.
        let submit_grace = s
            .reconcile
            .submit_grace_secs
            .map(Duration::from_secs)
            .unwrap_or(request_timeout * 3 + Duration::from_secs(5));
        Policy {
            backoff: Backoff {
                base: Duration::from_millis(s.worker.backoff_base_ms),
                cap: Duration::from_millis(s.worker.backoff_max_ms),
            },
            retry_window: Duration::from_secs(s.worker.retry_window_secs),
            schedule: secs(&s.reconcile.schedule_secs),
            horizon: Duration::from_secs(s.reconcile.horizon_secs),
            per_provider: s
                .reconcile
                .providers
                .iter()
                .map(|(p, ps)| {
                    (
                        *p,
                        (
                            secs(&ps.schedule_secs),
                            Duration::from_secs(ps.horizon_secs),
                        ),
                    )
                })
                .collect(),
            not_found_grace: Duration::from_secs(s.reconcile.not_found_grace_secs),
            max_resubmits: s.reconcile.max_resubmits,
            submit_grace,
            send_deadline: send_deadline(submit_grace, request_timeout),
            stuck_after: Duration::from_secs(s.reconcile.stuck_after_secs),
            ledger_keeps_history: s.redis.durability != crate::durability::Durability::None,
        }
    }
}

impl crate::ledger::Ledger {
    /// Connect as `[redis]` says, wait as `redis.durability` says, and write the
    /// notification outbox only when `notify.url` is set: the ledger of every process
    /// that moves payouts (worker, API, operator commands).
    pub async fn from_settings(
        settings: &crate::config::Settings,
    ) -> Result<Self, crate::ledger::LedgerError> {
        Ok(Self::connect(&settings.redis)
            .await?
            .durable(settings.redis.wait_for())
            .await?
            .with_outbox(!settings.notify.url.is_empty()))
    }

    /// Connect as `[redis]` says (a URL, or the primary Sentinel names) and use its
    /// namespace.
    pub async fn connect(
        settings: &crate::config::RedisSettings,
    ) -> Result<Self, crate::ledger::LedgerError> {
        let conn = crate::redis_conn::RedisConn::connect(settings).await?;
        Ok(crate::ledger::Ledger::new(
            conn,
            crate::keys::Keys::new(&settings.namespace),
        ))
    }
}
