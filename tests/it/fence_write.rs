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
use kirim::ledger::{
    now_ms, HistoryEntry, Ledger, PayoutId, Transition, TransitionOutcome, CREATED_VERSION,
};
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
    let step = engine.execute(&Job::transfer(e.id.clone())).await.unwrap();
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
    let step = engine.execute(&Job::transfer(e.id.clone())).await.unwrap();
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

/// The job the producer pushed for payout `id` (decoded from apalis' data hash).
async fn pushed_job(client: &Client, id: &PayoutId) -> Job {
    let cfg = client.queue().apalis_config(kirim::jobs::Lane::Transfer);
    let mut conn = client.ledger().connection();
    let all: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(cfg.job_data_hash())
        .query_async(&mut conn)
        .await
        .unwrap();
    all.values()
        .map(|raw| serde_json::from_str::<Job>(raw).unwrap())
        .find(|j| j.payout() == id)
        .expect("the producer pushed a job for the payout")
}

/// Move the record from its current version without changing its state's
/// meaning: what a crashed earlier run, a callback or an operator leaves behind.
async fn move_record(ledger: &Ledger, id: &PayoutId, to: State, allocate_external_id: bool) {
    let p = ledger.get(id).await.unwrap().unwrap();
    let mut meta = p.meta.clone();
    if to == State::Submitting {
        meta.submissions += 1;
        meta.submitted_at = Some(now_ms());
    }
    let t = Transition {
        to,
        meta,
        entry: HistoryEntry::new("elsewhere", now_ms()),
        due_at: Some(now_ms() + 60_000),
        allocate_external_id,
        dead_letter: None,
    };
    let moved = ledger.transition(&p, t).await.unwrap();
    assert!(
        matches!(moved, TransitionOutcome::Applied { .. }),
        "{moved:?}"
    );
}

#[tokio::test]
async fn the_job_pushed_at_create_carries_the_record_as_created() {
    let (_r, client, _engine, _spy) = engine_with_spy(false).await;
    let e = client
        .enqueue_transfer(&crate::common::transfer(PROVIDER, "FW-S1", "8753293240"))
        .await
        .unwrap();
    let bulk = client
        .enqueue_transfers(&[crate::common::transfer(PROVIDER, "FW-S2", "8753293240")])
        .await
        .unwrap();
    let bulk_id = bulk[0].as_ref().unwrap().id.clone();
    for id in [&e.id, &bulk_id] {
        let job = pushed_job(&client, id).await;
        let created = job
            .created()
            .expect("a job pushed at create carries the record");
        let record = client.ledger().get(id).await.unwrap().unwrap();
        assert_eq!(
            created.payout(),
            record,
            "the snapshot is the record as created"
        );
        assert_eq!(record.version, CREATED_VERSION);
    }
}

#[tokio::test]
async fn a_stale_snapshot_of_a_payout_already_submitting_sends_nothing() {
    // A re-run of the job after a crash mid-send: the record is SUBMITTING with
    // the first run's X-EXTERNAL-ID. Deciding on the job's snapshot alone would
    // send a second time; the fence's compare-and-set on the created version
    // refuses, the engine reads the record and leaves the in-flight send alone.
    let (_r, client, engine, spy) = engine_with_spy(false).await;
    let e = client
        .enqueue_transfer(&crate::common::transfer(PROVIDER, "FW-S3", "8753293240"))
        .await
        .unwrap();
    let job = pushed_job(&client, &e.id).await;
    assert!(job.created().is_some());
    move_record(client.ledger(), &e.id, State::Submitting, true).await;
    let before = client.ledger().get(&e.id).await.unwrap().unwrap();

    let step = engine.execute(&job).await.unwrap();
    assert!(spy.seen.lock().unwrap().is_empty(), "nothing was sent");
    assert_eq!(
        step,
        Step::Nothing,
        "SUBMITTING within the grace is left alone"
    );
    let after = client.ledger().get(&e.id).await.unwrap().unwrap();
    assert_eq!(after, before, "the record is untouched");
    assert_eq!(after.external_ids.len(), 1, "no second X-EXTERNAL-ID");
}

#[tokio::test]
async fn a_stale_snapshot_of_a_payout_still_accepted_is_read_again_and_sent_once() {
    // The record moved (version 2) but is still ACCEPTED: the snapshot's
    // compare-and-set fails, the engine reads the record and sends it from there.
    let (_r, client, engine, spy) = engine_with_spy(false).await;
    let e = client
        .enqueue_transfer(&crate::common::transfer(PROVIDER, "FW-S4", "8753293240"))
        .await
        .unwrap();
    let job = pushed_job(&client, &e.id).await;
    move_record(client.ledger(), &e.id, State::Accepted, false).await;

    let step = engine.execute(&job).await.unwrap();
    assert_eq!(step, Step::Moved(State::Succeeded));
    let seen = spy.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one request: {seen:?}");
    assert_eq!(seen[0].state, State::Submitting);
    let p = client.ledger().get(&e.id).await.unwrap().unwrap();
    assert_eq!(p.state, State::Succeeded);
    assert_eq!(
        p.version,
        CREATED_VERSION + 3,
        "moved, SUBMITTING, SUCCEEDED: the send started from the record read, not the snapshot"
    );
    assert_eq!(p.external_ids, vec![seen[0].request_external_id.clone()]);
}

#[tokio::test]
async fn a_stale_snapshot_of_a_final_payout_does_nothing() {
    let (_r, client, engine, spy) = engine_with_spy(false).await;
    let e = client
        .enqueue_transfer(&crate::common::transfer(PROVIDER, "FW-S5", "8753293240"))
        .await
        .unwrap();
    let job = pushed_job(&client, &e.id).await;
    // The first run went through; apalis runs the job again (APALIS.md pitfall 2).
    assert_eq!(
        engine.execute(&job).await.unwrap(),
        Step::Moved(State::Succeeded)
    );
    assert_eq!(engine.execute(&job).await.unwrap(), Step::Nothing);
    assert_eq!(spy.seen.lock().unwrap().len(), 1, "sent once");
}
