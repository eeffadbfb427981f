//! The send fence writes a first submission's move to SUBMITTING, with its
//! X-EXTERNAL-ID, immediately before the request (one compare-and-set on the
//! version the engine read): the record is SUBMITTING with the request's id when
//! the request leaves, and nothing leaves when the record moved in between.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kirim::client::Client;
use kirim::domain::{ExternalId, Outcome, Provider, State};
use kirim::jobs::handler::{Engine, Step};
use kirim::jobs::{Job, Observer};
use kirim::ledger::{now_ms, HistoryEntry, Ledger, PayoutId, Transition, TransitionOutcome};
use kirim::lifecycle::Policy;
use kirim::providers::{
    AccountInfo, AccountInquiryRequest, Balance, Exchange, PayoutProvider, ProviderError,
    StatusQuery, TransferRequest,
};

const PROVIDER: Provider = kirim::providers::ifortepay::ID;

/// What the provider saw when it was about to write a request.
#[derive(Debug, Clone)]
struct Seen {
    state: State,
    external_ids: Vec<String>,
    request_external_id: String,
}

/// A provider client that asks the fence like the real ones and records what the
/// ledger says at the moment it would write the request. With `interfere`, another
/// actor (a callback) moves the payout after the engine read it and before the fence.
struct Spy {
    ledger: Ledger,
    interfere: bool,
    seen: Mutex<Vec<Seen>>,
}

#[async_trait]
impl PayoutProvider for Spy {
    fn provider(&self) -> Provider {
        PROVIDER
    }

    async fn transfer(&self, req: &TransferRequest) -> Result<Exchange, ProviderError> {
        let id = PayoutId::new(PROVIDER, req.partner_reference.clone());
        if self.interfere {
            let p = self.ledger.get(&id).await.unwrap().unwrap();
            let t = Transition {
                to: State::Unknown,
                meta: p.meta.clone(),
                entry: HistoryEntry::new("callback", now_ms()),
                due_at: Some(now_ms() + 60_000),
                allocate_external_id: false,
                dead_letter: None,
            };
            let moved = self.ledger.transition(&p, t).await.unwrap();
            assert!(matches!(moved, TransitionOutcome::Applied { .. }));
        }
        req.fence
            .before_send("spy.transfer")
            .await
            .map_err(|reason| ProviderError::Fenced {
                reason,
                sent_before: false,
            })?;
        let p = self.ledger.get(&id).await.unwrap().unwrap();
        self.seen.lock().unwrap().push(Seen {
            state: p.state,
            external_ids: p.external_ids,
            request_external_id: req.external_id.as_str().to_owned(),
        });
        Ok(Exchange::bare(
            Outcome::Success { reference: None },
            Duration::ZERO,
        ))
    }

    async fn transfer_status(&self, _q: &StatusQuery) -> Result<Exchange, ProviderError> {
        Ok(Exchange::bare(Outcome::NotFound, Duration::ZERO))
    }

    async fn account_inquiry(
        &self,
        _req: &AccountInquiryRequest,
    ) -> Result<AccountInfo, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: PROVIDER,
            operation: "account inquiry",
        })
    }

    async fn balance(&self, _external_id: &ExternalId) -> Result<Balance, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: PROVIDER,
            operation: "balance",
        })
    }
}

struct Quiet;

impl Observer for Quiet {
    fn exchange(&self, _: Provider, _: &'static str, _: &'static str, _: Duration) {}
    fn alert(&self, _: Provider, _: &'static str) {}
}

async fn engine_with_spy(
    interfere: bool,
) -> (kirim::redis_server::TestRedis, Client, Engine, Arc<Spy>) {
    let redis = crate::common::redis();
    let settings = crate::common::settings_for(&redis);
    let client = Client::connect(&settings).await.unwrap();
    let spy = Arc::new(Spy {
        ledger: client.ledger().clone(),
        interfere,
        seen: Mutex::new(Vec::new()),
    });
    let mut providers = kirim::providers::Providers::new();
    providers.insert(PROVIDER, spy.clone() as Arc<dyn PayoutProvider>);
    let engine = Engine {
        ledger: client.ledger().clone(),
        queue: client.queue().clone(),
        providers,
        policy: Policy::from_settings(&settings),
        actor: "test-worker".into(),
        observer: Arc::new(Quiet),
        breakers: kirim::circuit::Breakers::new(kirim::circuit::BreakerConfig::default()),
        max_attempts: settings.worker.max_attempts,
    };
    (redis, client, engine, spy)
}

#[tokio::test]
async fn the_request_leaves_with_submitting_and_its_external_id_already_written() {
    let (_r, client, engine, spy) = engine_with_spy(false).await;
    let e = client
        .enqueue_transfer(&crate::common::transfer(PROVIDER, "FW-1", "8753293240"))
        .await
        .unwrap();
    let step = engine
        .execute(&Job::Transfer {
            payout: e.id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(step, Step::Moved(State::Succeeded));
    let seen = spy.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one request");
    assert_eq!(seen[0].state, State::Submitting, "{seen:?}");
    assert_eq!(
        seen[0].external_ids.last(),
        Some(&seen[0].request_external_id),
        "the request's X-EXTERNAL-ID is in the ledger before it leaves"
    );
    let h = client.ledger().history(&e.id).await.unwrap();
    let submit = h
        .iter()
        .find(|x| x.to == Some(State::Submitting))
        .expect("a submit entry");
    assert_eq!(
        submit.external_id.as_deref(),
        Some(seen[0].request_external_id.as_str())
    );
}

#[tokio::test]
async fn nothing_leaves_when_the_record_moved_after_it_was_read() {
    let (_r, client, engine, spy) = engine_with_spy(true).await;
    let e = client
        .enqueue_transfer(&crate::common::transfer(PROVIDER, "FW-2", "8753293240"))
        .await
        .unwrap();
    let step = engine
        .execute(&Job::Transfer {
            payout: e.id.clone(),
        })
        .await
        .unwrap();
    assert!(
        spy.seen.lock().unwrap().is_empty(),
        "no request was written"
    );
    let p = client.ledger().get(&e.id).await.unwrap().unwrap();
    assert_eq!(
        p.state,
        State::Unknown,
        "the other actor's move stands ({step:?})"
    );
    assert!(p.external_ids.is_empty(), "no submission was recorded");
    let h = client.ledger().history(&e.id).await.unwrap();
    assert!(
        h.iter().all(|x| x.to != Some(State::Submitting)),
        "never SUBMITTING: {h:?}"
    );
}
