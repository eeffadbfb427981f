//! Compaction against a real Redis: a final payout's cold form reads back as the
//! record it replaced, byte for byte; nothing but final payouts is compacted; an
//! entry written between the read and the write is never lost.

use std::collections::BTreeSet;

use kirim::client::{Client, TransferOrder};
use kirim::domain::{PartnerReference, State};
use kirim::ledger::{
    now_ms, ColdRecord, Compaction, HistoryEntry, Ledger, Payout, PayoutId, Transition,
    TransitionOutcome,
};

fn order(reference: &str) -> TransferOrder {
    crate::ledger::order(reference, "150000")
}

async fn setup() -> (kirim::redis_server::TestRedis, Client) {
    crate::ledger::setup().await
}

/// Move `id` to `to`, with an entry carrying a provider-like answer.
async fn step(ledger: &Ledger, id: &PayoutId, to: State, event: &str, ext: bool) -> Payout {
    let p = ledger.get(id).await.unwrap().unwrap();
    let mut entry = HistoryEntry::new(event, now_ms());
    entry.message = Some("Successful — line one\nline two".into());
    entry.detail = Some(serde_json::json!({
        "responseCode": "2001800",
        "amount": {"value": "150000.00", "currency": "IDR"},
        "additionalInfo": {"beneficiaryAccountName": "Budi Santoso", "fee": {"value": "3000.00"}},
    }));
    let t = Transition {
        to,
        meta: p.meta.clone(),
        entry,
        due_at: (!to.is_final()).then(|| now_ms() + 60_000),
        allocate_external_id: ext,
        dead_letter: None,
    };
    let TransitionOutcome::Applied { .. } = ledger.transition(&p, t).await.unwrap() else {
        panic!("{id} → {to} applies");
    };
    ledger.get(id).await.unwrap().unwrap()
}

/// A payout sent, then found in progress, then settled: a history list and a
/// `last` field, the layout with every place an entry can wait.
async fn settled(client: &Client, reference: &str) -> PayoutId {
    let ledger = client.ledger();
    let id = client.enqueue_transfer(&order(reference)).await.unwrap().id;
    step(ledger, &id, State::Submitting, "submit", true).await;
    step(ledger, &id, State::Pending, "request", false).await;
    step(ledger, &id, State::Succeeded, "inquiry", false).await;
    id
}

/// The trail's entries as the record holds them (texts, oldest first).
async fn raw_trail(ledger: &Ledger, id: &PayoutId) -> Vec<String> {
    let mut conn = ledger.connection();
    let key = id.to_string();
    let (created, last): (Option<String>, Option<String>) = redis::cmd("HMGET")
        .arg(ledger.keys().payout(&key))
        .arg("created")
        .arg("last")
        .query_async(&mut conn)
        .await
        .unwrap();
    let list: Vec<String> = redis::cmd("LRANGE")
        .arg(ledger.keys().history(&key))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    created
        .into_iter()
        .chain(list)
        .chain(
            last.unwrap_or_default()
                .split('\n')
                .filter(|e| !e.is_empty())
                .map(str::to_owned),
        )
        .collect()
}

async fn fields(ledger: &Ledger, id: &PayoutId) -> BTreeSet<String> {
    let mut conn = ledger.connection();
    let keys: Vec<String> = redis::cmd("HKEYS")
        .arg(ledger.keys().payout(&id.to_string()))
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.into_iter().collect()
}

async fn memory(ledger: &Ledger, id: &PayoutId) -> u64 {
    let mut conn = ledger.connection();
    let key = id.to_string();
    let mut total = 0;
    for k in [ledger.keys().payout(&key), ledger.keys().history(&key)] {
        let n: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(k)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut conn)
            .await
            .unwrap();
        total += n.unwrap_or(0);
    }
    total
}

#[tokio::test]
async fn a_compacted_payout_reads_as_before_byte_for_byte_in_less_room() {
    let (_r, client) = setup().await;
    let ledger = client.ledger();
    let id = settled(&client, "COLD-1").await;
    let before = ledger.get(&id).await.unwrap().unwrap();
    let history = ledger.history(&id).await.unwrap();
    let texts = raw_trail(ledger, &id).await;
    assert_eq!(
        texts.len(),
        4,
        "created, one in the list, two waiting in last"
    );
    let room = memory(ledger, &id).await;

    let done = ledger.compact_final(now_ms() + 1, 1000).await.unwrap();
    assert_eq!(
        done,
        Compaction {
            compacted: 1,
            moved: 0,
            skipped: 0
        }
    );
    let kept: BTreeSet<String> = ["fp", "kind", "state", "version", "z"]
        .map(String::from)
        .into();
    assert_eq!(fields(ledger, &id).await, kept);
    assert_eq!(ledger.get(&id).await.unwrap().unwrap(), before);
    assert_eq!(ledger.history(&id).await.unwrap(), history);
    assert_eq!(
        ledger
            .trails(&[id.to_string()])
            .await
            .unwrap()
            .pop()
            .unwrap(),
        (Some("SUCCEEDED".to_owned()), history.clone())
    );
    // Byte for byte: the cold form holds the very texts the record held.
    let mut conn = ledger.connection();
    let z: Vec<u8> = redis::cmd("HGET")
        .arg(ledger.keys().payout(&id.to_string()))
        .arg("z")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(ColdRecord::decode(&z).unwrap().trail, texts);
    let cold_room = memory(ledger, &id).await;
    assert!(
        cold_room * 10 < room * 7,
        "{cold_room} bytes cold, {room} before"
    );

    // A second pass has nothing left to do.
    let again = ledger.compact_final(i64::MAX, 1000).await.unwrap();
    assert_eq!(again, Compaction::default());
}

#[tokio::test]
async fn only_payouts_final_before_the_cutoff_are_compacted() {
    let (_r, client) = setup().await;
    let ledger = client.ledger();
    let old = settled(&client, "COLD-OLD").await;
    let cutoff = now_ms() + 1;
    // Final after the cutoff: waits for a later pass.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let young = settled(&client, "COLD-YOUNG").await;
    // Not final: never in the cold index.
    let open = client
        .enqueue_transfer(&order("COLD-OPEN"))
        .await
        .unwrap()
        .id;
    step(ledger, &open, State::Submitting, "submit", true).await;
    let open_fields = fields(ledger, &open).await;

    let done = ledger.compact_final(cutoff, 1000).await.unwrap();
    assert_eq!(done.compacted, 1);
    assert!(fields(ledger, &old).await.contains("z"));
    assert!(!fields(ledger, &young).await.contains("z"));

    let done = ledger.compact_final(i64::MAX, 1000).await.unwrap();
    assert_eq!(done.compacted, 1, "the young one, and not the open one");
    assert!(fields(ledger, &young).await.contains("z"));
    assert_eq!(fields(ledger, &open).await, open_fields);
    assert_eq!(
        ledger.get(&open).await.unwrap().unwrap().state,
        State::Submitting
    );
}

#[tokio::test]
async fn an_entry_appended_after_compaction_follows_the_trail() {
    let (_r, client) = setup().await;
    let ledger = client.ledger();
    let id = settled(&client, "COLD-LATE").await;
    let mut want = ledger.history(&id).await.unwrap();
    ledger.compact_final(i64::MAX, 1000).await.unwrap();

    let late = HistoryEntry::new("callback_refused", now_ms());
    ledger.append_history(&id, &late).await.unwrap();
    want.push(late);
    assert_eq!(ledger.history(&id).await.unwrap(), want);
}

#[tokio::test]
async fn a_compacted_payout_stays_final_and_its_reference_taken() {
    let (_r, client) = setup().await;
    let ledger = client.ledger();
    let id = settled(&client, "COLD-FINAL").await;
    ledger.compact_final(i64::MAX, 1000).await.unwrap();
    let p = ledger.get(&id).await.unwrap().unwrap();
    let t = Transition {
        to: State::Failed,
        meta: p.meta.clone(),
        entry: HistoryEntry::new("late", now_ms()),
        due_at: None,
        allocate_external_id: false,
        dead_letter: None,
    };
    assert_eq!(
        ledger.transition(&p, t).await.unwrap(),
        TransitionOutcome::Forbidden {
            state: State::Succeeded
        }
    );
    let again = client.enqueue_transfer(&order("COLD-FINAL")).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.state, State::Succeeded);
    assert!(fields(ledger, &id).await.contains("z"));
}

#[tokio::test]
async fn a_record_with_a_field_the_cold_form_does_not_keep_is_left_whole() {
    let (_r, client) = setup().await;
    let ledger = client.ledger();
    let id = settled(&client, "COLD-ODD").await;
    let mut conn = ledger.connection();
    // A field some other version (or a hand) wrote: compaction must not drop it.
    let _: i64 = redis::cmd("HSET")
        .arg(ledger.keys().payout(&id.to_string()))
        .arg("operator_note")
        .arg("checked with the bank")
        .query_async(&mut conn)
        .await
        .unwrap();
    let before = fields(ledger, &id).await;
    let history = ledger.history(&id).await.unwrap();
    let done = ledger.compact_final(i64::MAX, 1000).await.unwrap();
    assert_eq!(
        done,
        Compaction {
            compacted: 0,
            moved: 0,
            skipped: 1
        }
    );
    assert_eq!(fields(ledger, &id).await, before);
    assert_eq!(ledger.history(&id).await.unwrap(), history);
    // Out of the index: not read again every pass.
    let again = ledger.compact_final(i64::MAX, 1000).await.unwrap();
    assert_eq!(again, Compaction::default());
}

#[tokio::test]
async fn a_record_whose_text_is_not_utf8_is_left_whole() {
    let (_r, client) = setup().await;
    let ledger = client.ledger();
    let id = settled(&client, "COLD-BYTES").await;
    let key = ledger.keys().payout(&id.to_string());
    let mut conn = ledger.connection();
    // Damaged by hand: the cold form keeps text only, never a lossy copy of it.
    let _: i64 = redis::cmd("HSET")
        .arg(&key)
        .arg("created")
        .arg(b"{\"at\":1,\"note\":\"\xff\"}".as_slice())
        .query_async(&mut conn)
        .await
        .unwrap();
    let before = fields(ledger, &id).await;
    let done = ledger.compact_final(i64::MAX, 1000).await.unwrap();
    assert_eq!((done.compacted, done.skipped), (0, 1));
    assert_eq!(fields(ledger, &id).await, before);
    let created: Vec<u8> = redis::cmd("HGET")
        .arg(&key)
        .arg("created")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(created.contains(&0xff), "the damaged bytes are still there");
}

#[tokio::test]
async fn a_record_that_moved_after_it_was_read_is_left_for_the_next_pass() {
    let (_r, client) = setup().await;
    let ledger = client.ledger();
    let id = settled(&client, "COLD-RACE").await;
    let key = id.to_string();
    let p = ledger.get(&id).await.unwrap().unwrap();
    let script = redis::Script::new(include_str!("../../src/ledger/compact.lua"));
    let mut conn = ledger.connection();
    let list_len: u64 = redis::cmd("LLEN")
        .arg(ledger.keys().history(&key))
        .query_async(&mut conn)
        .await
        .unwrap();
    let call = |version: String, len: u64, held: &'static str| {
        let mut inv = script.prepare_invoke();
        inv.key(ledger.keys().payout(&key))
            .key(ledger.keys().history(&key))
            .key(ledger.keys().cold())
            .arg(&key)
            .arg(version)
            .arg(len)
            .arg(held)
            .arg(b"\x01stale".as_slice())
            .arg(9);
        inv
    };
    let before = fields(ledger, &id).await;
    // What an append between the read and the write changes: the list length, or
    // whether `last` holds an entry; and a version the record no longer has.
    for (version, len, held) in [
        (p.version.to_string(), list_len - 1, "1"),
        (p.version.to_string(), list_len, "0"),
        ((p.version - 1).to_string(), list_len, "1"),
    ] {
        let r: i64 = call(version, len, held)
            .invoke_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(r, -1);
        assert_eq!(fields(ledger, &id).await, before, "nothing written");
    }
    // Still in the index: the next pass compacts it from a fresh read.
    let done = ledger.compact_final(i64::MAX, 1000).await.unwrap();
    assert_eq!(done.compacted, 1);
    assert!(ledger.history(&id).await.unwrap().len() == 4);
}

/// Whether every payout `{prefix}-0..n` (iFortepay) is in its cold form.
async fn all_cold(ledger: &Ledger, prefix: &str, n: usize) -> bool {
    let mut conn = ledger.connection();
    let mut pipe = redis::pipe();
    for i in 0..n {
        let id = PayoutId::new(
            kirim::providers::ifortepay::ID,
            PartnerReference::parse(&format!("{prefix}-{i}")).unwrap(),
        );
        pipe.hexists(ledger.keys().payout(&id.to_string()), "z");
    }
    let cold: Vec<bool> = pipe.query_async(&mut conn).await.unwrap();
    cold.iter().all(|c| *c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_compacts_settled_payouts_and_the_api_reads_them_whole() {
    use std::time::Duration;
    let mut app = crate::common::App::spawn(
        |_| {},
        |s| {
            s.worker.compact_final_after_secs = 0;
            s.worker.housekeeping_secs = 1;
        },
    )
    .await;
    app.start_worker().await;
    app.enqueue_ifortepay("COLDW", 12, crate::common::OK_ACCOUNT)
        .await;
    app.wait_for_count(State::Succeeded, 12, Duration::from_secs(30))
        .await;
    let ledger = app.client.ledger().clone();
    crate::common::wait_for("every payout cold", Duration::from_secs(15), || {
        let ledger = ledger.clone();
        async move { all_cold(&ledger, "COLDW", 12).await }
    })
    .await;
    app.stop_worker().await;

    let api = crate::common::Api::start(&app.settings).await;
    let http = reqwest::Client::new();
    let (status, body) = crate::api::get(&http, &api.url("/v1/transfers/COLDW-3")).await;
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(body["state"], "SUCCEEDED", "{body}");
    assert_eq!(body["details"]["partner_reference"], "COLDW-3", "{body}");
    let history = body["history"].as_array().expect("history");
    let events: Vec<&str> = history
        .iter()
        .map(|e| e["event"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(events.first(), Some(&"created"), "{body}");
    let last = history.last().unwrap();
    assert_eq!(last["to"], "SUCCEEDED", "{body}");
    // The provider's answer, kept whole in the cold form.
    assert_eq!(last["detail"]["partnerReferenceNo"], "COLDW-3", "{body}");
    assert!(
        !body["external_ids"].as_array().unwrap().is_empty(),
        "{body}"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kirim_compact_all_compacts_payouts_settled_before_compaction_existed() {
    use std::time::Duration;
    let mut app = crate::common::App::spawn(|_| {}, |_| {}).await;
    app.start_worker().await;
    app.enqueue_ifortepay("COLDOLD", 8, crate::common::OK_ACCOUNT)
        .await;
    app.wait_for_count(State::Succeeded, 8, Duration::from_secs(30))
        .await;
    app.stop_worker().await;
    let ledger = app.client.ledger().clone();
    // As a ledger written before compaction: no cold index.
    let mut conn = ledger.connection();
    let _: i64 = redis::cmd("DEL")
        .arg(ledger.keys().cold())
        .query_async(&mut conn)
        .await
        .unwrap();
    let before = ledger
        .history(&PayoutId::new(
            kirim::providers::ifortepay::ID,
            PartnerReference::parse("COLDOLD-5").unwrap(),
        ))
        .await
        .unwrap();

    let run = |args: &'static [&'static str]| {
        let env = crate::common::worker_env(&app.settings, &app.sandbox, &[]);
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kirim"))
                .args(args)
                .envs(env)
                .env("KIRIM_LOG__FILTER", "warn")
                .output()
                .await
                .expect("kirim runs");
            assert!(out.status.success(), "{out:?}");
            serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("JSON report")
        }
    };
    // Without --all there is nothing indexed to compact.
    let r = run(&["compact", "--older-than-secs", "0", "--json"]).await;
    assert_eq!(r["compacted"], 0, "{r}");
    let r = run(&["compact", "--all", "--older-than-secs", "0", "--json"]).await;
    assert_eq!(r["indexed"], 8, "{r}");
    assert_eq!(r["compacted"], 8, "{r}");
    assert!(all_cold(&ledger, "COLDOLD", 8).await);
    let after = ledger
        .history(&PayoutId::new(
            kirim::providers::ifortepay::ID,
            PartnerReference::parse("COLDOLD-5").unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(after, before);
    // Run again: nothing left, nothing indexed twice.
    let r = run(&["compact", "--all", "--older-than-secs", "0", "--json"]).await;
    assert_eq!(
        (r["indexed"].as_u64(), r["compacted"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );
}
