//! A payout the ledger lost (Redis' tail, a restore) after the provider had booked
//! it, offered again by its producer with the same reference: kirim must find the
//! booking, never pay a second time (issue 13: "a lost payout that the provider had
//! already booked, re-offered"). The loss is staged exactly: the provider books the
//! transfer through kirim's own client while the ledger never hears of it.

use std::time::Duration;

use crate::common::{transfer, App};
use kirim::domain::State;
use kirim::providers::TransferRequest;

const OK_ACCOUNT: &str = "8753293240";
const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_payout_offered_again_after_the_provider_booked_it_is_not_paid_twice() {
    let mut app = App::spawn(|c| c.settlement_delay_ms = 0, |_| {}).await;
    let providers = kirim::providers::build_all(&app.settings.providers).expect("providers");
    let mut ids = Vec::new();
    for p in kirim::providers::builtin_ids() {
        let order = transfer(p, &format!("LOST-{p}"), OK_ACCOUNT);
        // What the lost ledger had sent: booked (and, with no delay, paid).
        let direct = TransferRequest::for_check(
            order.partner_reference.clone(),
            order.amount,
            order.beneficiary.clone(),
            order.remark.clone(),
        );
        providers[&p]
            .transfer(&direct)
            .await
            .expect("booked at the provider");
        ids.push((p, order));
    }
    app.start_worker().await;
    let mut enqueued = Vec::new();
    for (p, order) in &ids {
        let id = app
            .client
            .enqueue_transfer(order)
            .await
            .expect("re-offered")
            .id;
        enqueued.push((*p, id));
    }
    for (p, id) in &enqueued {
        let state = app.wait_final_or_review(id, T).await;
        let bookings: u32 = app
            .sandbox
            .state()
            .all_bookings()
            .iter()
            .filter(|b| b.provider == *p)
            .filter(|b| {
                b.reference == id.reference.as_str()
                    || kirim::providers::nicepay::transformers::payout_reference_of(&b.reference)
                        == id.reference.as_str()
            })
            .map(|b| b.booked_count)
            .sum();
        assert_eq!(bookings, 1, "{p}: paid once, ended {state:?}");
        if *p == kirim::providers::nicepay::ID {
            // NICEPAY's duplicate answer names no registration, and its inquiry
            // needs one: the payout cannot be resolved automatically and goes to an
            // operator. Before, kirim registered under a derived reference and
            // approved it: paid twice.
            assert_eq!(state, State::NeedsReview, "{p}");
            let h = app.client.ledger().history(id).await.expect("history");
            assert!(
                h.iter()
                    .any(|e| e.note.as_deref().is_some_and(|n| n.contains("never sent"))),
                "{p}: the review says why: {h:?}"
            );
        } else {
            // iFortepay and Singapay v2 name the booking by our reference: found
            // by an inquiry and settled.
            assert_eq!(state, State::Succeeded, "{p}");
        }
    }
    app.stop_worker().await;
}
