//! The operator console in a real headless Chromium: a real Redis, the sandbox,
//! an in-process worker and `kirim serve` (with the console) on port 0.
//!
//! Chromium must be installed (Debian's `chromium`; .ci/run installs it). A missing
//! browser fails these tests, it never skips them.
//!
//! `KIRIM_CONSOLE_SCREENSHOTS=docs/console cargo test --test console` also writes
//! the README's 1280×800 screenshots of every page.

use std::time::Duration;

use crate::common::{transfer, wait_for, App};
use crate::console_support::{with_console_users, Server, Ui, OPERATOR, VIEWER};
use kirim::domain::State;
use kirim::jobs::dead;
use kirim::ledger::PayoutId;
use kirim::sandbox::magic;

const T: Duration = Duration::from_secs(40);
const OK_ACCOUNT: &str = "8753293240";

async fn history_has(app: &App, id: &PayoutId, event: &str, actor: &str) -> bool {
    app.client
        .ledger()
        .history(id)
        .await
        .expect("history")
        .iter()
        .any(|e| e.event == event && e.actor.as_deref() == Some(actor))
}

/// The whole console as operator and viewer: log in, live overview, find a
/// payout by reference and read its timeline, resolve a NEEDS_REVIEW payout,
/// re-drive a dead letter, redeliver a notification; CSRF and role refusals
/// change nothing. Every action is checked in the ledger, not only on the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operator_console_in_a_real_browser() {
    let mut app = App::spawn(
        |_| {},
        |s| {
            s.reconcile.horizon_secs = 2;
            s.worker.retry_window_secs = 1;
            // Notifications on, to a receiver that never answers (discard port):
            // every final payout's event is written and waits.
            s.notify.url = "http://127.0.0.1:9/hook".into();
            s.notify.secret = Some(kirim::domain::Secret::new("console-notify"));
            with_console_users(s);
        },
    )
    .await;
    // NICEPAY refuses with 429 until cleared: its payout is dead-lettered.
    app.fault("nicepay.registration", "too_many_requests", None)
        .await;
    app.start_worker().await;

    let mut orders = vec![
        transfer(kirim::providers::ifortepay::ID, "CON-OK-1", OK_ACCOUNT),
        transfer(kirim::providers::ifortepay::ID, "CON-STUCK-1", magic::STUCK),
        transfer(kirim::providers::ifortepay::ID, "CON-STUCK-2", magic::STUCK),
        transfer(kirim::providers::nicepay::ID, "CON-DL-1", OK_ACCOUNT),
        transfer(kirim::providers::singapay::ID, "CON-SG-1", "1234567890"),
        transfer(
            kirim::providers::ifortepay::ID,
            "CON-BAD-1",
            magic::INVALID_ACCOUNT,
        ),
        transfer(
            kirim::providers::singapay::ID,
            "CON-CXL-1",
            magic::ALWAYS_CANCEL,
        ),
    ];
    for i in 2..=6 {
        orders.push(transfer(
            kirim::providers::ifortepay::ID,
            &format!("CON-OK-{i}"),
            "0987654321",
        ));
    }
    let mut ids = std::collections::BTreeMap::new();
    for o in &orders {
        let e = app.client.enqueue_transfer(o).await.expect("enqueue");
        ids.insert(o.partner_reference.as_str().to_owned(), e.id);
    }
    let id = |r: &str| ids[r].clone();
    app.wait_state(&id("CON-OK-1"), State::Succeeded, T).await;
    app.wait_state(&id("CON-BAD-1"), State::Failed, T).await;
    app.wait_state(&id("CON-STUCK-1"), State::NeedsReview, T)
        .await;
    app.wait_state(&id("CON-STUCK-2"), State::NeedsReview, T)
        .await;
    let ledger = app.client.ledger().clone();
    wait_for("a dead letter", T, || async {
        !dead::list(&ledger).await.expect("dead list").is_empty()
    })
    .await;
    app.clear_faults().await;
    assert_eq!(app.state(&id("CON-DL-1")).await, Some(State::Accepted));

    let server = Server::start(&app.settings).await;
    let ui = Ui::launch(&server.url).await;

    // Not logged in: any console page leads to the login form.
    ui.goto("/ui/payouts").await;
    ui.wait("the login redirect", "location.pathname === '/ui/login'")
        .await;
    ui.login(OPERATOR).await;

    // ---- Overview: counts, and live refresh without a reload.
    ui.goto("/ui/").await;
    ui.wait_text("#states", "NEEDS_REVIEW").await;
    assert_eq!(
        ui.text("#states td[data-state=NEEDS_REVIEW]").await.trim(),
        "2"
    );
    ui.wait_text("#providers", "ifortepay").await;
    ui.js::<bool>("(window.__sameDocument = true)").await;
    let live = app
        .client
        .enqueue_transfer(&transfer(
            kirim::providers::ifortepay::ID,
            "CON-LIVE-1",
            OK_ACCOUNT,
        ))
        .await
        .expect("enqueue")
        .id;
    app.wait_state(&live, State::Succeeded, T).await;
    let succeeded = app.client.ledger().count_by_state().await.expect("counts")[&State::Succeeded];
    ui.wait(
        "the overview to refresh itself",
        &format!(
            "window.__sameDocument === true && document.querySelector('#states td[data-state=SUCCEEDED]').innerText.trim() === '{succeeded}'"
        ),
    )
    .await;

    // ---- Payouts: find one by reference, open its timeline.
    ui.goto("/ui/payouts").await;
    ui.wait("the payout list", "!!document.querySelector('#payouts')")
        .await;
    ui.shot("payouts").await;
    ui.type_into("#q", "CON-OK-1").await;
    ui.click("#search").await;
    ui.wait(
        "the search result",
        "location.search.includes('q=CON-OK-1') && document.querySelectorAll('#payouts a.ref').length === 1",
    )
    .await;
    ui.click("#payouts a.ref").await;
    ui.wait_text("#payout-state", "SUCCEEDED").await;
    let timeline = ui.text("#timeline").await;
    assert!(timeline.contains("ACCEPTED → SUBMITTING"), "{timeline}");
    assert!(timeline.contains("SUBMITTING → SUCCEEDED"), "{timeline}");
    let p = app
        .client
        .ledger()
        .get(&id("CON-OK-1"))
        .await
        .expect("get")
        .expect("payout");
    let ext = p.external_ids.first().expect("an X-EXTERNAL-ID");
    assert!(ui.text("#external-ids").await.contains(ext.as_str()));
    assert!(timeline.contains(ext.as_str()), "{timeline}");
    // The account is masked everywhere on the page, the raw HTML included.
    assert_eq!(ui.text("#account").await.trim(), "••••••3240");
    let html = ui.page.content().await.expect("content");
    assert!(
        !html.contains(OK_ACCOUNT),
        "full account number on the page"
    );
    ui.shot("payout").await;
    // Search by account number finds the payouts paid to it.
    ui.goto("/ui/payouts?q=0987654321&state=SUCCEEDED").await;
    ui.wait_text("#result-count", "5 payout(s)").await;
    // Filters by provider and created date (Jakarta days), and pages.
    ui.goto("/ui/payouts?provider=singapay").await;
    ui.wait_text("#result-count", "2 payout(s)").await;
    let jakarta = chrono::FixedOffset::east_opt(7 * 3600).expect("offset");
    let today = chrono::Utc::now().with_timezone(&jakarta).date_naive();
    let tomorrow = today.succ_opt().expect("date");
    ui.goto(&format!("/ui/payouts?from={tomorrow}")).await;
    ui.wait_text("#result-count", "0 payout(s)").await;
    ui.goto(&format!("/ui/payouts?from={today}&to={today}&per=5"))
        .await;
    ui.wait_text("#result-count", "13 payout(s)").await;
    assert_eq!(ui.count("#payouts a.ref").await, 5);
    assert!(ui.text(".pager").await.contains("page 1 of 3"));
    ui.click("#next-page").await;
    ui.wait_text(".pager", "page 2 of 3").await;
    assert_eq!(ui.count("#payouts a.ref").await, 5);

    // ---- Review: the mandatory note is enforced by the server, not only the form.
    ui.goto("/ui/review").await;
    ui.wait(
        "two review cases",
        "document.querySelectorAll('section.case').length === 2",
    )
    .await;
    assert!(ui
        .text("section.case[data-ref=CON-STUCK-1]")
        .await
        .contains("Evidence"));
    ui.shot("review").await;
    let csrf: String = ui
        .js("document.querySelector('meta[name=csrf-token]').content")
        .await
        .expect("csrf meta");
    let resolve_1 = "/ui/review/ifortepay/CON-STUCK-1/resolve";
    let status = ui
        .post_from_page(resolve_1, &format!("csrf={csrf}&state=SUCCEEDED&note=+"))
        .await;
    assert_eq!(status, 0, "an opaque redirect back to the queue (303)");
    assert_eq!(
        app.state(&id("CON-STUCK-1")).await,
        Some(State::NeedsReview)
    );
    ui.goto("/ui/review").await;
    ui.wait_text("#flash", "not resolved").await;
    assert!(ui.text("#flash").await.contains("note"));

    // CSRF: no token, or a wrong one, is refused and changes nothing.
    let no_token = ui
        .post_from_page(resolve_1, "state=SUCCEEDED&note=paid")
        .await;
    assert_eq!(no_token, 403);
    let wrong = ui
        .post_from_page(
            resolve_1,
            "csrf=0000000000000000000000000000000000000000000000000000000000000000&state=SUCCEEDED&note=paid",
        )
        .await;
    assert_eq!(wrong, 403);
    assert_eq!(
        app.state(&id("CON-STUCK-1")).await,
        Some(State::NeedsReview)
    );
    assert!(!history_has(&app, &id("CON-STUCK-1"), "review", "operator:alice").await);

    // Resolve through the form.
    ui.goto("/ui/review").await;
    ui.wait(
        "the review form",
        "!!document.querySelector('section.case[data-ref=CON-STUCK-1] form.resolve')",
    )
    .await;
    ui.set_value(
        "section.case[data-ref=CON-STUCK-1] select[name=state]",
        "SUCCEEDED",
    )
    .await;
    ui.type_into(
        "section.case[data-ref=CON-STUCK-1] input[name=note]",
        "iFortepay ticket 4411: paid",
    )
    .await;
    ui.click("section.case[data-ref=CON-STUCK-1] button[type=submit]")
        .await;
    ui.wait_text("#flash", "resolved as SUCCEEDED by alice")
        .await;
    assert_eq!(app.state(&id("CON-STUCK-1")).await, Some(State::Succeeded));
    let h = app
        .client
        .ledger()
        .history(&id("CON-STUCK-1"))
        .await
        .expect("history");
    let review = h
        .iter()
        .find(|e| e.event == "review")
        .expect("review entry");
    assert_eq!(review.actor.as_deref(), Some("operator:alice"));
    assert!(
        review
            .note
            .as_deref()
            .is_some_and(|n| n.starts_with("iFortepay ticket 4411: paid")),
        "{review:?}"
    );
    assert_eq!(ui.count("section.case").await, 1);

    // ---- Dead letters: retry one through the page; the payout is then paid.
    ui.goto("/ui/dead").await;
    ui.wait_text("#dead", "nicepay:CON-DL-1").await;
    ui.shot("dead-letters").await;
    ui.click("#dead tbody tr form button").await;
    ui.wait_text("#flash", "job queued for nicepay:CON-DL-1")
        .await;
    app.wait_state(&id("CON-DL-1"), State::Succeeded, T).await;
    assert_eq!(
        app.booked(kirim::providers::nicepay::ID, "CON-DL-1").await,
        1
    );
    assert!(history_has(&app, &id("CON-DL-1"), "dead_letter_retry", "operator:alice").await);
    assert!(dead::list(app.client.ledger())
        .await
        .expect("dead")
        .is_empty());

    // ---- Notifications: the receiver never answers, so every event waits.
    ui.goto("/ui/notifications").await;
    ui.wait(
        "the undelivered events",
        "document.querySelectorAll('#events tbody tr form').length > 0",
    )
    .await;
    ui.shot("notifications").await;
    let first_event = ui.text("#events tbody tr td.mono").await;
    ui.click("#events tbody tr form button").await;
    ui.wait_text("#flash", "scheduled for delivery").await;
    assert!(ui.text("#flash").await.contains(first_event.trim()));

    // The overview once more, for its screenshot with everything above in it.
    ui.goto("/ui/").await;
    ui.wait_text("#states", "NEEDS_REVIEW").await;
    ui.shot("overview").await;

    // ---- Viewer: sees everything, can do nothing (checked by the server).
    ui.logout().await;
    ui.login(VIEWER).await;
    ui.goto("/ui/review").await;
    ui.wait_text("section.case[data-ref=CON-STUCK-2]", "Read-only")
        .await;
    assert_eq!(ui.count("form.resolve").await, 0);
    let viewer_csrf: String = ui
        .js("document.querySelector('meta[name=csrf-token]').content")
        .await
        .expect("csrf meta");
    let refused = ui
        .post_from_page(
            "/ui/review/ifortepay/CON-STUCK-2/resolve",
            &format!("csrf={viewer_csrf}&state=FAILED&note=viewer+tries"),
        )
        .await;
    assert_eq!(
        refused, 403,
        "a viewer's POST with a valid token is still refused"
    );
    assert_eq!(
        app.state(&id("CON-STUCK-2")).await,
        Some(State::NeedsReview)
    );
    assert!(!history_has(&app, &id("CON-STUCK-2"), "review", "operator:victor").await);
    ui.goto("/ui/dead").await;
    ui.wait("the dead-letter page", "!!document.querySelector('#dead')")
        .await;
    assert_eq!(ui.count("#retry-all").await, 0);

    ui.close().await;
    server.stop().await;
    app.stop_worker().await;
}

/// The access rules over plain HTTP: cookie flags, login CSRF, forged and
/// missing sessions, logout revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_csrf_over_http() {
    let app = App::spawn(|_| {}, with_console_users).await;
    let server = Server::start(&app.settings).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    // Unauthenticated: GET → login, POST → 403.
    let r = http.get(server.url("/ui/")).send().await.expect("get");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui/login");
    let r = http
        .post(server.url("/ui/dead/retry-all"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);

    // The login form binds its token to a pre-login cookie.
    let r = http
        .get(server.url("/ui/login"))
        .send()
        .await
        .expect("login page");
    let pre = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("kirim_console_login="))
        .expect("pre-login cookie")
        .to_owned();
    let nonce = pre
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("nonce");
    let html = r.text().await.expect("body");
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("login csrf")
        .to_owned();
    let form = |csrf: &str, pw: &str| format!("user=alice&password={pw}&csrf={csrf}");
    let login = |body: String| {
        http.post(server.url("/ui/login"))
            .header("cookie", format!("kirim_console_login={nonce}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    assert_eq!(
        login(form("bad", OPERATOR.1)).await.expect("post").status(),
        403
    );
    assert_eq!(
        login(form(&token, "wrong")).await.expect("post").status(),
        401
    );
    let ok = login(form(&token, OPERATOR.1)).await.expect("post");
    assert_eq!(ok.status(), 303);
    let session = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("kirim_console="))
        .expect("session cookie")
        .to_owned();
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(session.contains("Path=/ui"), "{session}");
    let cookie = session.split(';').next().expect("pair").to_owned();

    let page = http
        .get(server.url("/ui/dead"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("alice"));
    assert!(!html.contains("console-test-session-key"));

    // Password guessing is throttled per user name, right password or not.
    for _ in 0..10 {
        let r = login(format!("user=victor&password=guess&csrf={token}"))
            .await
            .expect("post");
        assert_eq!(r.status(), 401);
    }
    let r = login(format!("user=victor&password={}&csrf={token}", VIEWER.1))
        .await
        .expect("post");
    assert_eq!(r.status(), 429, "throttled");

    // A forged cookie (another user, same signature) is no session.
    let forged = cookie.replacen("YWxpY2U", "dmljdG9y", 1);
    let r = http
        .get(server.url("/ui/"))
        .header("cookie", forged)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 303);

    // Logout revokes the session server-side, even if the cookie is kept.
    let csrf = html
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf meta")
        .to_owned();
    let r = http
        .post(server.url("/ui/logout"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 303);
    let r = http
        .get(server.url("/ui/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 303, "revoked session");
    server.stop().await;
}
