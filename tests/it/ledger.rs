//! The ledger against a real Redis: idempotent create, compare-and-set, forward-only
//! transitions, X-EXTERNAL-ID allocation, the due index and its claims.

use std::collections::HashSet;

use kirim::client::{Client, ClientError, TransferOrder};
use kirim::domain::{
    AccountNumber, BankCode, Beneficiary, ExternalId, Money, PartnerReference, State,
};
use kirim::ledger::{now_ms, HistoryEntry, Ledger, PayoutId, Transition, TransitionOutcome};

pub(crate) fn order(reference: &str, amount: &str) -> TransferOrder {
    TransferOrder {
        provider: kirim::providers::ifortepay::ID,
        partner_reference: PartnerReference::parse(reference).unwrap(),
        amount: Money::parse(amount, "amount").unwrap(),
        beneficiary: Beneficiary {
            account_no: AccountNumber::parse("8753293240").unwrap(),
            bank_code: BankCode::parse("014").unwrap(),
            name: "Budi Santoso".into(),
            email: None,
            phone: None,
            address: None,
            residence: None,
            customer_type: None,
        },
        remark: Some("gaji".into()),
        verify_beneficiary_name: false,
    }
}

pub(crate) async fn setup() -> (kirim::redis_server::TestRedis, Client) {
    let redis = crate::common::redis();
    let settings = crate::common::settings_for(&redis);
    let client = Client::connect(&settings).await.unwrap();
    (redis, client)
}

#[tokio::test]
async fn harness_gives_a_real_redis() {
    let redis = crate::common::redis();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");
    if let Some(pid) = redis.pid() {
        drop(redis);
        // The drop guard killed and reaped the server.
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}

#[tokio::test]
async fn enqueue_is_idempotent_and_refuses_different_details() {
    let (_r, client) = setup().await;
    let first = client
        .enqueue_transfer(&order("INV-1", "150000"))
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(first.state, State::Accepted);
    let again = client
        .enqueue_transfer(&order("INV-1", "150000.00"))
        .await
        .unwrap();
    assert!(
        !again.created,
        "same details: the existing payout, nothing new"
    );
    let depth = client
        .queue()
        .depth(kirim::jobs::Lane::Transfer)
        .await
        .unwrap();
    assert_eq!(depth.active, 1, "only one job was pushed");
    let err = client
        .enqueue_transfer(&order("INV-1", "150001"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("different details"));
    let h = client.ledger().history(&first.id).await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].event, "created");
}

#[tokio::test]
async fn jobs_due_now_skip_the_scheduled_set_and_look_like_apalis_own() {
    use kirim::jobs::{Job, Lane};
    let (_r, client) = setup().await;
    let queue = client.queue();
    let job = |r: &str| Job::transfer(format!("ifortepay:{r}").parse().unwrap());
    queue.push(job("NOW-1"), None).await.unwrap();
    queue
        .push_many(vec![job("NOW-2"), job("NOW-3")])
        .await
        .unwrap();
    // apalis' own push (a delayed job) for comparison.
    queue
        .push(job("LATER"), Some(std::time::Duration::from_secs(3600)))
        .await
        .unwrap();
    let depth = queue.depth(Lane::Transfer).await.unwrap();
    assert_eq!((depth.active, depth.scheduled), (3, 1));

    let cfg = queue.apalis_config(Lane::Transfer);
    let mut conn = client.ledger().connection();
    let active: Vec<String> = redis::cmd("LRANGE")
        .arg(cfg.active_jobs_list())
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let scheduled: Vec<String> = redis::cmd("ZRANGE")
        .arg(cfg.scheduled_jobs_set())
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let meta_conn = conn.clone();
    let meta = |id: String| {
        let mut conn = meta_conn.clone();
        let key = format!("{}:{id}", cfg.job_meta_hash());
        async move {
            let m: std::collections::BTreeMap<String, String> = redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap();
            m
        }
    };
    let theirs = meta(scheduled[0].clone()).await;
    for id in &active {
        assert!(id.parse::<ulid::Ulid>().is_ok(), "task ids are ULIDs: {id}");
        assert_eq!(
            meta(id.clone()).await,
            theirs,
            "same metadata as apalis' push"
        );
        let data: String = redis::cmd("HGET")
            .arg(cfg.job_data_hash())
            .arg(id)
            .query_async(&mut conn)
            .await
            .unwrap();
        let decoded: Job = serde_json::from_str(&data).unwrap();
        assert!(matches!(decoded, Job::Transfer { .. }));
    }
}

#[tokio::test]
async fn transitions_are_cas_and_forward_only() {
    let (_r, client) = setup().await;
    let e = client
        .enqueue_transfer(&order("INV-2", "20000"))
        .await
        .unwrap();
    let ledger: &Ledger = client.ledger();
    let p = ledger.get(&e.id).await.unwrap().unwrap();
    let now = now_ms();
    let t = |to| Transition {
        to,
        meta: p.meta.clone(),
        entry: HistoryEntry::new("test", now),
        due_at: Some(now + 1000),
        allocate_external_id: to == State::Submitting,
        dead_letter: None,
    };
    // Two racers from the same version: exactly one wins.
    let (a, b) = tokio::join!(
        ledger.transition(&p, t(State::Submitting)),
        ledger.transition(&p, t(State::Submitting))
    );
    let wins = [a.unwrap(), b.unwrap()]
        .into_iter()
        .filter(|o| matches!(o, TransitionOutcome::Applied { .. }))
        .count();
    assert_eq!(wins, 1);
    let p2 = ledger.get(&e.id).await.unwrap().unwrap();
    assert_eq!(p2.state, State::Submitting);
    assert_eq!(
        p2.external_ids.len(),
        1,
        "the X-EXTERNAL-ID was persisted with the move"
    );
    let ext = &p2.external_ids[0];
    assert!(
        ext.chars().all(|c| c.is_ascii_digit()) && ext.len() == kirim::domain::external_id::WIDTH,
        "{ext}"
    );
    // Forward only: SUBMITTING → SUCCEEDED → anything is refused.
    let t2 = |p: &kirim::ledger::Payout, to| Transition {
        to,
        meta: p.meta.clone(),
        entry: HistoryEntry::new("test", now),
        due_at: None,
        allocate_external_id: false,
        dead_letter: None,
    };
    assert!(matches!(
        ledger
            .transition(&p2, t2(&p2, State::Succeeded))
            .await
            .unwrap(),
        TransitionOutcome::Applied { .. }
    ));
    let p3 = ledger.get(&e.id).await.unwrap().unwrap();
    for to in State::ALL {
        let r = ledger.transition(&p3, t2(&p3, to)).await.unwrap();
        assert!(
            matches!(r, TransitionOutcome::Forbidden { .. }),
            "{to}: {r:?}"
        );
    }
    // A stale version is a conflict, not an overwrite.
    assert!(matches!(
        ledger
            .transition(&p2, t2(&p2, State::Failed))
            .await
            .unwrap(),
        TransitionOutcome::Conflict { .. }
    ));
    let counts = ledger.count_by_state().await.unwrap();
    assert_eq!(counts[&State::Succeeded], 1);
    assert_eq!(counts[&State::Accepted], 0);
    let due = ledger.due_count(now_ms() + 10_000_000).await.unwrap();
    assert_eq!(due, 0, "final payouts leave the due index");
}

#[test]
fn external_ids_are_unique_across_concurrent_allocators() {
    let handles: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(|| {
                (0..1000)
                    .map(|_| ExternalId::fresh(now_ms()).as_str().to_owned())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = HashSet::new();
    for h in handles {
        for id in h.join().expect("allocator thread") {
            assert!(all.insert(id), "duplicate X-EXTERNAL-ID");
        }
    }
    assert_eq!(all.len(), 8000);
}

#[tokio::test]
async fn claims_hand_out_each_due_payout_once() {
    let (_r, client) = setup().await;
    let ledger = client.ledger().clone();
    for i in 0..50 {
        client
            .enqueue_transfer(&order(&format!("D-{i}"), "20000"))
            .await
            .unwrap();
    }
    // Everything was created due at now + stuck_after; claim as if that time had come.
    let later = now_ms() + 10 * 60 * 1000;
    let (a, b) = tokio::join!(
        ledger.claim_due(later, 30, 60_000),
        ledger.claim_due(later, 30, 60_000)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let ids: Vec<PayoutId> = a
        .iter()
        .chain(b.iter())
        .map(|(id, _, _)| id.clone())
        .collect();
    let set: HashSet<_> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), 50, "all due payouts claimed");
    assert_eq!(set.len(), 50, "none claimed twice");
    assert!(
        ledger
            .claim_due(later, 100, 60_000)
            .await
            .unwrap()
            .is_empty(),
        "leased until later"
    );
}

#[tokio::test]
async fn the_outbox_is_written_only_when_notifications_are_on() {
    // notify.url empty: nothing delivers events, so a final transition writes none;
    // notify.url set: the final transition writes its event in the same script.
    for url in ["", "http://127.0.0.1:9/hook"] {
        let redis = crate::common::redis();
        let mut settings = crate::common::settings_for(&redis);
        settings.notify.url = url.into();
        let client = Client::connect(&settings).await.unwrap();
        let ledger = client.ledger();
        assert_eq!(ledger.writes_outbox(), !url.is_empty());
        let e = client
            .enqueue_transfer(&order("OUTBOX-1", "1000"))
            .await
            .unwrap();
        let p = ledger.get(&e.id).await.unwrap().unwrap();
        let t = |to, meta| Transition {
            to,
            meta,
            entry: HistoryEntry::new("test", now_ms()),
            due_at: None,
            allocate_external_id: false,
            dead_letter: None,
        };
        let TransitionOutcome::Applied { .. } = ledger
            .transition(&p, t(State::Failed, p.meta.clone()))
            .await
            .unwrap()
        else {
            panic!("ACCEPTED → FAILED applies");
        };
        let mut conn = ledger.connection();
        let events: u64 = redis::cmd("HLEN")
            .arg(ledger.keys().events())
            .query_async(&mut conn)
            .await
            .unwrap();
        let due: u64 = redis::cmd("ZCARD")
            .arg(ledger.keys().events_due())
            .query_async(&mut conn)
            .await
            .unwrap();
        let expected = u64::from(!url.is_empty());
        assert_eq!((events, due), (expected, expected), "notify.url = {url:?}");
    }
}

#[tokio::test]
async fn lasting_states_keep_sets_and_transient_ones_are_found_through_the_due_index() {
    let (_r, client) = setup().await;
    let ledger = client.ledger();
    let mut conn = ledger.connection();
    let members = |state: State| {
        let mut conn = ledger.connection();
        let key = ledger.keys().state_set(state);
        async move {
            let mut m: Vec<String> = redis::cmd("SMEMBERS")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap();
            m.sort();
            m
        }
    };
    let step = |p: kirim::ledger::Payout, to: State, park: bool| async move {
        let mut meta = p.meta.clone();
        meta.dead = park;
        let t = Transition {
            to,
            meta,
            entry: HistoryEntry::new("test", now_ms()),
            due_at: (!park).then(|| now_ms() + 60_000),
            allocate_external_id: false,
            dead_letter: park.then(|| {
                format!(
                    r#"{{"id":0,"payout":"{}","job":"transfer","reason":"test","at":0}}"#,
                    p.id
                )
            }),
        };
        let TransitionOutcome::Applied { .. } = ledger.transition(&p, t).await.unwrap() else {
            panic!("{} → {to} applies", p.state);
        };
        ledger.get(&p.id).await.unwrap().unwrap()
    };
    let mut ids = Vec::new();
    for i in 0..5 {
        let e = client
            .enqueue_transfer(&order(&format!("SETS-{i}"), "1000"))
            .await
            .unwrap();
        ids.push(e.id);
    }
    let get = |i: usize| {
        let id = ids[i].clone();
        async move { ledger.get(&id).await.unwrap().unwrap() }
    };
    // 0: SUBMITTING; 1, 2: ACCEPTED; 3: ACCEPTED, parked (out of the due index, with
    // its letter); 4: SUBMITTING → UNKNOWN → SUBMITTING (a resubmission) → PENDING.
    step(get(0).await, State::Submitting, false).await;
    step(get(3).await, State::Accepted, true).await;
    let p4 = step(get(4).await, State::Submitting, false).await;
    let p4 = step(p4, State::Unknown, false).await;
    assert_eq!(members(State::Unknown).await, vec![ids[4].to_string()]);
    let p4 = step(p4, State::Submitting, false).await;
    assert!(
        members(State::Unknown).await.is_empty(),
        "left UNKNOWN's set"
    );
    step(p4, State::Pending, false).await;

    for transient in [State::Accepted, State::Submitting] {
        let exists: u64 = redis::cmd("EXISTS")
            .arg(ledger.keys().state_set(transient))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(exists, 0, "no set is kept for {transient}");
    }
    assert_eq!(members(State::Pending).await, vec![ids[4].to_string()]);

    // Listing pages through the due index (one entry per page here), then the parked.
    let list_all = |state: State| async move {
        let mut out = Vec::new();
        let mut cursor = 0;
        let mut pages = 0;
        loop {
            let (next, page) = ledger.list(state, cursor, 1).await.unwrap();
            out.extend(page.into_iter().map(|id| id.to_string()));
            pages += 1;
            assert!(pages < 20, "the listing ends");
            if next == 0 {
                break;
            }
            cursor = next;
        }
        out.sort();
        out
    };
    let mut accepted = vec![ids[1].to_string(), ids[2].to_string(), ids[3].to_string()];
    accepted.sort();
    assert_eq!(list_all(State::Accepted).await, accepted);
    assert_eq!(list_all(State::Submitting).await, vec![ids[0].to_string()]);
    assert_eq!(list_all(State::Pending).await, vec![ids[4].to_string()]);
    let counts = ledger.count_by_state().await.unwrap();
    assert_eq!(counts[&State::Accepted], 3);
    assert_eq!(counts[&State::Submitting], 1);
    assert_eq!(counts[&State::Pending], 1);
    assert_eq!(counts[&State::Unknown], 0);
    assert_eq!(counts.values().sum::<u64>(), 5);
}

#[tokio::test]
async fn an_accepted_payout_is_one_key_and_its_history_starts_with_created() {
    let (_r, client) = setup().await;
    let ledger = client.ledger();
    let e = client
        .enqueue_transfer(&order("ONEKEY-1", "1000"))
        .await
        .unwrap();
    let id = e.id.to_string();
    let mut conn = ledger.connection();
    let list: bool = redis::cmd("EXISTS")
        .arg(ledger.keys().history(&id))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!list, "no history list while ACCEPTED");
    let p = ledger.get(&e.id).await.unwrap().unwrap();
    let t = Transition {
        to: State::Failed,
        meta: p.meta.clone(),
        entry: HistoryEntry::new("test", now_ms()),
        due_at: None,
        allocate_external_id: false,
        dead_letter: None,
    };
    ledger.transition(&p, t).await.unwrap();
    let h = ledger.history(&e.id).await.unwrap();
    let events: Vec<&str> = h.iter().map(|x| x.event.as_str()).collect();
    assert_eq!(events, ["created", "test"]);
    assert_eq!(h[1].to, Some(State::Failed));

    // A record written before this layout (its "created" entry in the list, no
    // `created` field) reads the same.
    let _: i64 = redis::cmd("HDEL")
        .arg(ledger.keys().payout(&id))
        .arg("created")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: i64 = redis::cmd("LPUSH")
        .arg(ledger.keys().history(&id))
        .arg(serde_json::to_string(&h[0]).unwrap())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(ledger.history(&e.id).await.unwrap(), h);
}

#[tokio::test]
async fn the_latest_entry_waits_in_the_record_and_the_trail_stays_in_order() {
    let (_r, client) = setup().await;
    let ledger = client.ledger();
    let e = client
        .enqueue_transfer(&order("LAST-1", "1000"))
        .await
        .unwrap();
    let id = e.id.to_string();
    let mut conn = ledger.connection();
    let list_len = |conn: &mut kirim::redis_conn::RedisConn| {
        let mut conn = conn.clone();
        let key = ledger.keys().history(&id);
        async move {
            let n: u64 = redis::cmd("LLEN")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap();
            n
        }
    };
    let pid = e.id.clone();
    let step = |to: State, event: &'static str| {
        let pid = pid.clone();
        async move {
            let p = ledger.get(&pid).await.unwrap().unwrap();
            let t = Transition {
                to,
                meta: p.meta.clone(),
                entry: HistoryEntry::new(event, now_ms()),
                due_at: (!to.is_final()).then(|| now_ms() + 60_000),
                allocate_external_id: false,
                dead_letter: None,
            };
            let TransitionOutcome::Applied { .. } = ledger.transition(&p, t).await.unwrap() else {
                panic!("→ {to} applies");
            };
        }
    };
    step(State::Submitting, "submit").await;
    assert_eq!(
        list_len(&mut conn).await,
        0,
        "SUBMITTING: the entry is in the record"
    );
    let events = |h: Vec<HistoryEntry>| h.into_iter().map(|x| x.event).collect::<Vec<_>>();
    assert_eq!(
        events(ledger.history(&e.id).await.unwrap()),
        ["created", "submit"]
    );
    ledger
        .append_history(&e.id, &HistoryEntry::new("note", now_ms()))
        .await
        .unwrap();
    step(State::Pending, "pending").await;
    step(State::Pending, "still_pending").await;
    assert_eq!(
        events(ledger.history(&e.id).await.unwrap()),
        ["created", "submit", "note", "pending", "still_pending"]
    );
    step(State::Succeeded, "succeeded").await;
    let h = ledger.history(&e.id).await.unwrap();
    assert_eq!(
        events(h.clone()),
        [
            "created",
            "submit",
            "note",
            "pending",
            "still_pending",
            "succeeded"
        ]
    );
    assert_eq!(h[5].to, Some(State::Succeeded));
    assert_eq!(
        list_len(&mut conn).await,
        3,
        "a final payout's last two entries stay in the record"
    );
    let last: Option<String> = redis::cmd("HGET")
        .arg(ledger.keys().payout(&id))
        .arg("last")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(last.as_deref().map(|l| l.lines().count()), Some(2));
    // An entry appended after the final move (a late answer) goes after both.
    ledger
        .append_history(&e.id, &HistoryEntry::new("late_response", now_ms()))
        .await
        .unwrap();
    assert_eq!(
        events(ledger.history(&e.id).await.unwrap()),
        [
            "created",
            "submit",
            "note",
            "pending",
            "still_pending",
            "succeeded",
            "late_response"
        ]
    );
    assert_eq!(list_len(&mut conn).await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_sent_once_and_settled_keeps_its_whole_trail_in_its_record() {
    let (_r, client) = setup().await;
    let ledger = client.ledger();
    let e = client
        .enqueue_transfer(&order("TAIL-1", "1000"))
        .await
        .unwrap();
    let mut conn = ledger.connection();
    for (to, event) in [(State::Submitting, "submit"), (State::Succeeded, "request")] {
        let p = ledger.get(&e.id).await.unwrap().unwrap();
        let mut entry = HistoryEntry::new(event, now_ms());
        // A provider message with a line break stays one entry.
        entry.message = Some("first line\nsecond line".into());
        let t = Transition {
            to,
            meta: p.meta.clone(),
            entry,
            due_at: (!to.is_final()).then(|| now_ms() + 60_000),
            allocate_external_id: false,
            dead_letter: None,
        };
        let TransitionOutcome::Applied { .. } = ledger.transition(&p, t).await.unwrap() else {
            panic!("→ {to} applies");
        };
    }
    let exists: u64 = redis::cmd("EXISTS")
        .arg(ledger.keys().history(&e.id.to_string()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        exists, 0,
        "no history list for ACCEPTED → SUBMITTING → final"
    );
    let h = ledger.history(&e.id).await.unwrap();
    let events: Vec<_> = h.iter().map(|x| x.event.as_str()).collect();
    assert_eq!(events, ["created", "submit", "request"]);
    assert_eq!(h[2].to, Some(State::Succeeded));
    assert_eq!(h[2].message.as_deref(), Some("first line\nsecond line"));
}
