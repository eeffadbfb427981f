//! `kirim recon report`: the providers' books against the ledger, over the real
//! HTTP stack against the sandbox and a real Redis (issue 13, provider-side orphans).

use std::time::Duration;

use crate::common::{transfer, App};
use kirim::domain::{
    AccountNumber, BankCode, Beneficiary, ExternalId, Money, PartnerReference, State,
};
use kirim::ledger::{now_ms, HistoryEntry, Transition};
use kirim::providers::TransferRequest;
use kirim::recon::{self, Verdict};

const OK_ACCOUNT: &str = "8753293240";
const T: Duration = Duration::from_secs(30);

fn direct(reference: &str) -> TransferRequest {
    TransferRequest {
        partner_reference: PartnerReference::parse(reference).expect("reference"),
        amount: Money::parse("150000", "amount").expect("amount"),
        beneficiary: Beneficiary {
            account_no: AccountNumber::parse(OK_ACCOUNT).expect("account"),
            bank_code: BankCode::parse("014").expect("bank"),
            name: "Budi Santoso".into(),
            email: None,
            phone: None,
            address: None,
            residence: None,
            customer_type: None,
        },
        remark: Some("sent outside kirim".into()),
        external_id: ExternalId::fresh(now_ms()),
        transaction_date: kirim::snap::timestamp::now(),
        earlier_send_unknown: false,
        fence: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_day_end_report_finds_orphans_and_wrong_final_states() {
    let mut app = App::spawn(|_| {}, |_| {}).await;
    let providers = kirim::providers::build_all(&app.settings.providers).expect("providers");
    let ifortepay = providers[&kirim::providers::ifortepay::ID].clone();

    // A payout the ledger marked FAILED that the provider did book.
    let wrong = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "RECON-WRONG",
            OK_ACCOUNT,
        ))
        .await
        .expect("enqueue");
    let ledger = app.client.ledger().clone();
    for to in [State::Submitting, State::Failed] {
        let p = ledger.get(&wrong.id).await.unwrap().expect("payout");
        ledger
            .transition(
                &p,
                Transition {
                    to,
                    meta: p.meta.clone(),
                    entry: HistoryEntry::new("test", now_ms()),
                    due_at: None,
                    allocate_external_id: to == State::Submitting,
                    dead_letter: None,
                },
            )
            .await
            .expect("transition");
    }
    ifortepay
        .transfer(&direct("RECON-WRONG"))
        .await
        .expect("booked at the provider");
    // A transfer the ledger never heard of.
    ifortepay
        .transfer(&direct("RECON-ORPHAN"))
        .await
        .expect("booked at the provider");

    // Three ordinary payouts.
    app.start_worker().await;
    let mut ok = Vec::new();
    for i in 0..3 {
        ok.push(
            app.client
                .enqueue_transfer(&transfer(
                    kirim::providers::ifortepay::ID,
                    &format!("RECON-OK-{i}"),
                    OK_ACCOUNT,
                ))
                .await
                .expect("enqueue")
                .id,
        );
    }
    for id in &ok {
        app.wait_state(id, State::Succeeded, T).await;
    }
    app.stop_worker().await;

    let today = chrono::Utc::now()
        .with_timezone(&kirim::snap::timestamp::jakarta())
        .date_naive();
    let mut list: Vec<_> = providers.iter().map(|(p, c)| (*p, c.as_ref())).collect();
    list.sort_by_key(|(p, _)| p.as_str());
    let r = recon::report(&ledger, &list, today).await.expect("report");

    let p = kirim::providers::ifortepay::ID;
    assert_eq!(r.count(p, Verdict::Orphan), 1, "{r:#?}");
    assert_eq!(r.count(p, Verdict::Mismatch), 1, "{r:#?}");
    assert_eq!(r.count(p, Verdict::Matched), 3, "{r:#?}");
    let orphan = r
        .lines
        .iter()
        .find(|l| l.verdict == Verdict::Orphan)
        .expect("orphan line");
    assert_eq!(orphan.partner_reference, "RECON-ORPHAN");
    assert_eq!(orphan.ledger_state, None);
    let mismatch = r
        .lines
        .iter()
        .find(|l| l.verdict == Verdict::Mismatch)
        .expect("mismatch line");
    assert_eq!(mismatch.partner_reference, "RECON-WRONG");
    assert_eq!(mismatch.ledger_state, Some(State::Failed));
    // NICEPAY and Singapay have no history list: said, not silently skipped.
    assert!(r.not_checked.contains_key("nicepay"), "{:?}", r.not_checked);
    assert!(
        r.not_checked.contains_key("singapay"),
        "{:?}",
        r.not_checked
    );

    // The counts reach /metrics.
    let metrics = kirim::metrics::render(&ledger, app.client.queue())
        .await
        .expect("metrics");
    assert!(
        metrics.contains("kirim_recon_transactions{provider=\"ifortepay\",verdict=\"orphan\"")
            && metrics.contains("} 1"),
        "{metrics}"
    );

    // Adopt the orphan: recorded, inquired (never sent), then final.
    let order = transfer(kirim::providers::ifortepay::ID, "RECON-ORPHAN", OK_ACCOUNT);
    let none = recon::adopt(&app.client, &order, "ops:ayu", " ").await;
    assert!(matches!(none, Err(recon::ReconError::NoNote)), "{none:?}");
    recon::adopt(
        &app.client,
        &order,
        "ops:ayu",
        "in iFortepay's history, booked 150000.00",
    )
    .await
    .expect("adopted");
    let again = recon::adopt(&app.client, &order, "ops:ayu", "twice").await;
    assert!(
        matches!(again, Err(recon::ReconError::AlreadyKnown { .. })),
        "{again:?}"
    );
    let id = kirim::ledger::PayoutId::new(
        kirim::providers::ifortepay::ID,
        order.partner_reference.clone(),
    );
    app.start_worker().await;
    app.wait_state(&id, State::Succeeded, T).await;
    app.stop_worker().await;
    assert_eq!(
        app.booked(kirim::providers::ifortepay::ID, "RECON-ORPHAN")
            .await,
        1,
        "adopted, never sent again"
    );
    let history = ledger.history(&id).await.expect("history");
    let adopted = history
        .iter()
        .find(|e| e.event == "adopted")
        .expect("an adopted entry");
    assert_eq!(adopted.actor.as_deref(), Some("ops:ayu"));
    assert_eq!(adopted.to, Some(State::Unknown));
    assert!(
        !history.iter().any(|e| e.event == "request"),
        "no submission was made: {history:?}"
    );
    let r = recon::report(&ledger, &list, today).await.expect("report");
    assert_eq!(r.count(p, Verdict::Orphan), 0, "{r:#?}");
}

/// A day with more transactions than one history page holds (99: pageSize is
/// "Int 2", and no source shows a page number) is read in time windows split
/// until each answer is not full: every one of 250 transactions is judged once.
/// Before, the report saw the first 99 and called the day checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_day_with_more_than_one_page_is_read_whole() {
    let app = App::spawn(|_| {}, |_| {}).await;
    let providers = kirim::providers::build_all(&app.settings.providers).expect("providers");
    let ifortepay = providers[&kirim::providers::ifortepay::ID].clone();
    const N: usize = 250;
    for i in 0..N {
        // 50 a second on the provider's clock: more than a page's worth within
        // five seconds, never more than a page within one.
        if i > 0 && i % 50 == 0 {
            app.sandbox.advance_clock(Duration::from_secs(1));
        }
        ifortepay
            .transfer(&direct(&format!("RECON-MANY-{i}")))
            .await
            .expect("booked at the provider");
    }
    let today = chrono::Utc::now()
        .with_timezone(&kirim::snap::timestamp::jakarta())
        .date_naive();
    let list = vec![(kirim::providers::ifortepay::ID, ifortepay.as_ref())];
    let r = recon::report(app.client.ledger(), &list, today)
        .await
        .expect("report");
    let p = kirim::providers::ifortepay::ID;
    assert_eq!(
        r.count(p, Verdict::Orphan),
        N as u64,
        "{:?} {:?} lines {}",
        r.not_checked,
        r.counts,
        r.lines.len()
    );
    let mut refs: Vec<&str> = r
        .lines
        .iter()
        .map(|l| l.partner_reference.as_str())
        .collect();
    refs.sort_unstable();
    refs.dedup();
    assert_eq!(refs.len(), N, "each transaction once");
    assert!(r.not_checked.is_empty(), "{:?}", r.not_checked);
}
