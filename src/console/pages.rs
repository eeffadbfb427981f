//! The console's HTML, as maud templates (checked at compile time, escaped by
//! default). No page shows a secret, a card token or a full account number:
//! accounts go through [`mask_account`], recorded provider exchanges through
//! [`mask_detail`], and card tokens are never read at all.

use maud::{html, Markup, DOCTYPE};

use super::auth::User;
use super::queries::{
    evidence, mask_account, mask_detail, minutes, windowed_calls, Filter, Overview, Page,
};
use crate::circuit::CircuitState;
use crate::client::PayoutView;
use crate::domain::Provider;
use crate::domain::State;
use crate::jobs::DeadLetter;
use crate::ledger::{HistoryEntry, Payout};
use crate::notify::EventStatus;

/// A message above the content after an action.
#[derive(Debug, Clone)]
pub enum Flash {
    Ok(String),
    Err(String),
}

/// `YYYY-MM-DD HH:MM:SS` in Jakarta time (WIB), the providers' clock.
pub fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&crate::snap::timestamp::jakarta())
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| ms.to_string())
}

fn state_class(s: State) -> &'static str {
    match s {
        State::Succeeded => "st st-ok",
        State::Failed | State::Cancelled => "st st-bad",
        State::Unknown | State::NeedsReview => "st st-warn",
        State::Accepted | State::Submitting | State::Pending => "st st-run",
    }
}

fn state_badge(s: State) -> Markup {
    html! { span class=(state_class(s)) { (s.as_str()) } }
}

/// The payout page's URL.
pub fn payout_href(p: &crate::ledger::PayoutId) -> String {
    format!("/ui/payouts/{}/{}", p.provider, p.reference)
}

/// Every page but the login: navigation, who is logged in, the logout button.
pub fn layout(me: &User, title: &str, active: &str, flash: Option<&Flash>, body: Markup) -> Markup {
    let nav = [
        ("overview", "/ui/", "Overview"),
        ("payouts", "/ui/payouts", "Payouts"),
        ("review", "/ui/review", "Review queue"),
        ("dead", "/ui/dead", "Dead letters"),
        ("notifications", "/ui/notifications", "Notifications"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(me.csrf);
                title { (title) " · kirim console" }
                link rel="stylesheet" href="/ui/static/console.css";
                script src="/ui/static/htmx.min.js" defer {}
            }
            body hx-headers=(format!(r#"{{"X-CSRF-Token": "{}"}}"#, me.csrf)) {
                header.top {
                    a.brand href="/ui/" { "kirim" span { "console" } }
                    nav {
                        @for (key, href, label) in nav {
                            a href=(href) class=@if key == active { "on" } { (label) }
                        }
                    }
                    div.me {
                        span #whoami { (me.name) }
                        span class=(format!("role role-{}", me.role.as_str())) { (me.role.as_str()) }
                        form method="post" action="/ui/logout" {
                            input type="hidden" name="csrf" value=(me.csrf);
                            button.link type="submit" { "Log out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    @match flash {
                        Some(Flash::Ok(m)) => div.flash.ok #flash role="status" { (m) },
                        Some(Flash::Err(m)) => div.flash.err #flash role="alert" { (m) },
                        None => {},
                    }
                    (body)
                }
            }
        }
    }
}

/// The login form (its CSRF token bound to the pre-login cookie).
pub fn login(csrf: &str, error: Option<&str>, no_users: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Log in · kirim console" }
                link rel="stylesheet" href="/ui/static/console.css";
            }
            body.login {
                form.card method="post" action="/ui/login" {
                    div.brand { "kirim" span { "console" } }
                    @if let Some(e) = error { div.flash.err #flash role="alert" { (e) } }
                    @if no_users {
                        p.muted { "No console users are configured: add [[console.users]] (see README, Operator console)." }
                    }
                    input type="hidden" name="csrf" value=(csrf);
                    label { "User" input #user name="user" autocomplete="username" required autofocus; }
                    label { "Password" input #password name="password" type="password" autocomplete="current-password" required; }
                    button #login type="submit" { "Log in" }
                }
            }
        }
    }
}

fn count_link(n: u64, href: &str, label: &str, warn: bool) -> Markup {
    html! {
        a.tile class=@if warn && n > 0 { "warn" } href=(href) {
            span.n { (n) } span.l { (label) }
        }
    }
}

fn chart(o: &Overview) -> Markup {
    let m = minutes(&o.samples, o.now);
    let max = m
        .iter()
        .map(|x| x.succeeded + x.not_succeeded)
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, bw) = (600.0_f64, 120.0_f64, 10.0_f64);
    let total_ok: u64 = m.iter().map(|x| x.succeeded).sum();
    let total_bad: u64 = m.iter().map(|x| x.not_succeeded).sum();
    let total = total_ok + total_bad;
    let rate = if total > 0 {
        format!("{:.1}%", total_ok as f64 * 100.0 / total as f64)
    } else {
        "–".to_owned()
    };
    let seen = m.iter().filter(|x| x.seen).count();
    html! {
        div.chart {
            div.chart-head {
                span { b #throughput { (total) } " final in the last hour" }
                span { "success rate " b #success-rate { (rate) } }
                span.muted { (seen) " of 60 minutes sampled" }
            }
            svg width="100%" viewBox=(format!("0 0 {w} {}", h + 16.0)) role="img" aria-label="Payouts finalised per minute, last hour" {
                line x1="0" y1=(h) x2=(w) y2=(h) stroke="#cbd5e1" {}
                @for (i, x) in m.iter().enumerate() {
                    @let xpos = i as f64 * bw;
                    @let ok_h = x.succeeded as f64 / max as f64 * (h - 4.0);
                    @let bad_h = x.not_succeeded as f64 / max as f64 * (h - 4.0);
                    @if !x.seen {
                        rect x=(xpos + 1.0) y=(h - 2.0) width=(bw - 2.0) height="2" fill="#e2e8f0" {}
                    } @else {
                        rect x=(xpos + 1.0) y=(h - ok_h) width=(bw - 2.0) height=(ok_h) fill="#16a34a" {
                            title { (x.succeeded) " succeeded" }
                        }
                        rect x=(xpos + 1.0) y=(h - ok_h - bad_h) width=(bw - 2.0) height=(bad_h) fill="#dc2626" {
                            title { (x.not_succeeded) " failed or cancelled" }
                        }
                    }
                }
                text x="0" y=(h + 14.0) font-size="10" fill="#64748b" { "−60 min" }
                text x=(w) y=(h + 14.0) font-size="10" fill="#64748b" text-anchor="end" { "now" }
            }
        }
    }
}

/// The part of the overview that refreshes itself (htmx polls it every 5 s).
pub fn overview_live(o: &Overview) -> Markup {
    let get = |s: State| o.by_state.get(&s).copied().unwrap_or(0);
    html! {
        div #live hx-get="/ui/overview/live" hx-trigger="every 5s" hx-swap="outerHTML" {
            div.tiles {
                (count_link(get(State::Unknown), "/ui/payouts?state=UNKNOWN", "UNKNOWN", true))
                (count_link(get(State::NeedsReview), "/ui/review", "NEEDS_REVIEW", true))
                (count_link(o.dead_letters, "/ui/dead", "dead letters", true))
                div.tile { span.n #lag { (format!("{:.1} s", o.lag_secs)) } span.l { "reconciliation lag (" (o.due) " due)" } }
            }
            div.grid2 {
                section {
                    h2 { "Payouts by state and provider" }
                    table #states {
                        thead { tr { th { "state" } @for p in crate::providers::builtin_ids() { th.num { (p.as_str()) } } th.num { "total" } } }
                        tbody {
                            @for s in State::ALL {
                                tr {
                                    td { a href=(format!("/ui/payouts?state={}", s.as_str())) { (state_badge(s)) } }
                                    @for p in crate::providers::builtin_ids() {
                                        td.num {
                                            @match o.by_state_provider.get(&s).and_then(|m| m.as_ref()) {
                                                Some(m) => (m.get(&p).copied().unwrap_or(0)),
                                                None => "…",
                                            }
                                        }
                                    }
                                    td.num data-state=(s.as_str()) { b { (get(s)) } }
                                }
                            }
                        }
                    }
                }
                section {
                    h2 { "Throughput" }
                    (chart(o))
                    h2 { "Queues" }
                    table {
                        thead { tr { th { "job kind" } th.num { "ready" } th.num { "scheduled" } th.num { "due now" } } }
                        tbody {
                            @for (lane, d) in &o.queues {
                                tr { td { (lane.as_str()) } td.num { (d.active) } td.num { (d.scheduled) } td.num { (d.scheduled_due) } }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "Providers" }
                table #providers {
                    thead { tr { th { "provider" } th { "circuit" } th.num { "calls" } th.num { "error rate" } th.num { "mean latency" } th { "window" } } }
                    tbody {
                        @for p in crate::providers::builtin_ids() {
                            @let c = o.circuits.get(&p).cloned().unwrap_or_else(|| crate::circuit::PublishedState::never_published(p));
                            @let (calls, windowed) = windowed_calls(o, p);
                            tr {
                                td { (p.as_str()) }
                                td {
                                    span class=(match c.state { CircuitState::Closed => "st st-ok", CircuitState::HalfOpen => "st st-warn", CircuitState::Open => "st st-bad" }) { (c.state.as_str()) }
                                    @if c.state != CircuitState::Closed { " " span.muted { (c.describe()) } }
                                }
                                td.num { (calls.calls) }
                                td.num { @if calls.calls > 0 { (format!("{:.1}%", calls.errors as f64 * 100.0 / calls.calls as f64)) } @else { "–" } }
                                td.num { @if calls.latency_count > 0 { (format!("{} ms", calls.latency_sum_us / calls.latency_count / 1000)) } @else { "–" } }
                                td.muted { @if windowed { "sampled, ≤ 1 h" } @else { "since start" } }
                            }
                        }
                    }
                }
                p.muted { "Updated " (at(o.now)) " WIB · refreshes every 5 s" }
            }
        }
    }
}

/// The overview page: the live part plus the layout.
pub fn overview(me: &User, o: &Overview) -> Markup {
    layout(me, "Overview", "overview", None, overview_live(o))
}

fn provider_options(selected: Option<Provider>) -> Markup {
    html! {
        option value="" { "any provider" }
        @for p in crate::providers::builtin_ids() {
            option value=(p.as_str()) selected[selected == Some(p)] { (p.as_str()) }
        }
    }
}

fn amount_cell(p: &Payout) -> String {
    format!("{} {}", p.details.amount, "IDR")
}

/// The query string of `f` and `page`, for pagination links.
pub fn filter_query(raw: &[(&str, String)], page: usize) -> String {
    let mut parts: Vec<String> = raw
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    parts.push(format!("page={page}"));
    parts.join("&")
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The filtered, paginated payout list.
pub fn payouts(
    me: &User,
    f: &Filter,
    raw: &[(&str, String)],
    page: &Page,
    page_no: usize,
    per_page: usize,
) -> Markup {
    let val = |k: &str| {
        raw.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let pages = page.total.div_ceil(per_page).max(1);
    let body = html! {
        form.filters #filters method="get" action="/ui/payouts" {
            input #q name="q" placeholder="reference or account number" value=(val("q"));
            select name="state" #state-filter {
                option value="" { "any state" }
                @for s in State::ALL { option value=(s.as_str()) selected[f.state == Some(s)] { (s.as_str()) } }
            }
            select name="provider" { (provider_options(f.provider)) }
            label.inline { "from" input type="date" name="from" value=(val("from")); }
            label.inline { "to" input type="date" name="to" value=(val("to")); }
            button #search type="submit" { "Search" }
            a.button.ghost href="/ui/payouts" { "Clear" }
        }
        p.muted #result-count {
            (page.total) " payout(s)"
            @if page.capped { " among the first " (super::queries::SCAN_CAP) " read — narrow the filter (state, provider) to see all" }
        }
        table #payouts {
            thead { tr { th { "reference" } th { "provider" } th { "state" } th.num { "amount" } th { "beneficiary" } th { "created (WIB)" } } }
            tbody {
                @for p in &page.items {
                    tr {
                        td { a.ref href=(payout_href(&p.id)) { (p.id.reference.as_str()) } }
                        td { (p.id.provider.as_str()) }
                        td { (state_badge(p.state)) }
                        td.num { (amount_cell(p)) }
                        td {
                            @if let Some(b) = &p.details.beneficiary {
                                (b.name) " · " (b.bank_code.as_str()) " " span.mono { (mask_account(b.account_no.as_str())) }
                            } @else { span.muted { "direct debit" } }
                        }
                        td { (at(p.meta.created_at)) }
                    }
                }
                @if page.items.is_empty() { tr { td colspan="6" .muted { "No payout matches." } } }
            }
        }
        nav.pager {
            @if page_no > 0 { a href=(format!("/ui/payouts?{}", filter_query(raw, page_no - 1))) { "← newer" } }
            span { "page " (page_no + 1) " of " (pages) }
            @if page_no + 1 < pages { a #next-page href=(format!("/ui/payouts?{}", filter_query(raw, page_no + 1))) { "older →" } }
        }
    };
    layout(me, "Payouts", "payouts", None, body)
}

fn entry_title(e: &HistoryEntry) -> String {
    match (e.from, e.to) {
        (Some(a), Some(b)) if a != b => format!("{} · {} → {}", e.event, a, b),
        (_, Some(b)) if e.event == "created" => format!("created · {b}"),
        _ => e.event.clone(),
    }
}

fn timeline_entry(e: &HistoryEntry) -> Markup {
    html! {
        li class=(if e.event.ends_with("_ignored") { "ignored" } else { "" }) {
            div.when { (at(e.at)) }
            div.what {
                b { (entry_title(e)) }
                @if let Some(a) = &e.actor { " " span.actor { "by " (a) } }
            }
            div.facts {
                @if let Some(x) = &e.external_id { span { "X-EXTERNAL-ID " code { (x) } } }
                @if let Some(o) = &e.outcome { span { "outcome " code { (o) } } }
                @if let Some(c) = &e.response_code { span { "code " code { (c) } } }
                @if let Some(s) = e.http_status { span { "HTTP " (s) } }
                @if let Some(l) = e.latency_ms { span { (l) " ms" } }
            }
            @if let Some(m) = &e.message { div.msg { (m) } }
            @if let Some(n) = &e.note { div.note { "Note: " (n) } }
            @if let Some(d) = &e.detail {
                details {
                    summary { "request / response (redacted)" }
                    pre { (serde_json::to_string_pretty(&mask_detail(d)).unwrap_or_default()) }
                }
            }
        }
    }
}

/// One payout: details, X-EXTERNAL-IDs and the audit trail as a timeline.
pub fn payout(me: &User, v: &PayoutView, flash: Option<&Flash>) -> Markup {
    let p = &v.payout;
    let body = html! {
        div.grid2 {
            section {
                h2 { "Details" }
                dl.kv #details {
                    dt { "state" } dd #payout-state { (state_badge(p.state)) }
                    dt { "provider" } dd { (p.id.provider.as_str()) }
                    dt { "partnerReferenceNo" } dd.mono { (p.id.reference.as_str()) }
                    dt { "kind" } dd { (p.details.kind.as_str()) }
                    dt { "amount" } dd { (amount_cell(p)) }
                    @if let Some(b) = &p.details.beneficiary {
                        dt { "beneficiary" } dd { (b.name) }
                        dt { "bank" } dd { (b.bank_code.as_str()) }
                        dt { "account" } dd.mono #account { (mask_account(b.account_no.as_str())) }
                    }
                    @if let Some(pay) = &p.details.payment {
                        dt { "card" } dd.muted { "token stored apart; never shown" }
                        dt { "pay option" } dd { (pay.pay_option) }
                    }
                    @if let Some(r) = &p.details.remark { dt { "remark" } dd { (r) } }
                    dt { "created" } dd { (at(p.meta.created_at)) " WIB" }
                    dt { "updated" } dd { (at(p.meta.updated_at)) " WIB" }
                    @if let Some(r) = &p.meta.provider_reference { dt { "provider reference" } dd.mono { (r) } }
                    @if let Some(c) = &p.meta.response_code {
                        dt { "last answer" } dd { code { (c) } " " (p.meta.response_message.as_deref().unwrap_or("")) }
                    }
                    dt { "submissions / checks" } dd { (p.meta.submissions) " / " (p.meta.checks) }
                    @if p.meta.dead { dt { "dead letter" } dd { a href="/ui/dead" { "parked — see dead letters" } } }
                }
                h2 { "X-EXTERNAL-IDs" }
                @if p.external_ids.is_empty() { p.muted { "None allocated yet (nothing was sent)." } }
                ul.mono #external-ids { @for x in &p.external_ids { li { (x) } } }
                @if p.state == State::NeedsReview {
                    p { a.button href="/ui/review" { "Resolve in the review queue" } }
                }
            }
            section {
                h2 { "Audit trail" }
                ol.timeline #timeline {
                    @for e in &v.history { (timeline_entry(e)) }
                }
            }
        }
    };
    layout(me, &format!("Payout {}", p.id), "payouts", flash, body)
}

/// NEEDS_REVIEW payouts with their evidence; resolve forms for operators only.
pub fn review(me: &User, items: &[PayoutView], flash: Option<&Flash>) -> Markup {
    let body = html! {
        p.muted { "Payouts still unresolved past the review horizon. Check with the provider or the bank statement, then settle by hand; the resolution is audited with your name, exactly like " code { "kirim review resolve" } "." }
        @if items.is_empty() { p #review-empty { "Nothing needs review." } }
        @for v in items {
            @let p = &v.payout;
            section.case data-ref=(p.id.reference.as_str()) {
                h2 { a href=(payout_href(&p.id)) { (p.id.to_string()) } " " (state_badge(p.state)) }
                p { (amount_cell(p)) @if let Some(b) = &p.details.beneficiary { " to " (b.name) " · " (b.bank_code.as_str()) " " span.mono { (mask_account(b.account_no.as_str())) } } " · " (p.meta.checks) " checks · unresolved since " (p.meta.unresolved_since.map(at).unwrap_or_else(|| "?".into())) }
                h3 { "Evidence: the last provider answers" }
                table.evidence {
                    thead { tr { th { "when" } th { "event" } th { "outcome" } th { "code" } th { "message" } th.num { "HTTP" } th.num { "latency" } } }
                    tbody {
                        @for e in evidence(&v.history, 3) {
                            tr {
                                td { (at(e.at)) }
                                td { (e.event) }
                                td { (e.outcome.as_deref().unwrap_or("")) }
                                td { code { (e.response_code.as_deref().unwrap_or("")) } }
                                td { (e.message.as_deref().unwrap_or("")) }
                                td.num { (e.http_status.map(|s| s.to_string()).unwrap_or_default()) }
                                td.num { (e.latency_ms.map(|l| format!("{l} ms")).unwrap_or_default()) }
                            }
                        }
                    }
                }
                @if me.can_act() {
                    form.resolve method="post" action=(format!("{}/resolve", payout_href(&p.id).replace("/ui/payouts/", "/ui/review/"))) {
                        input type="hidden" name="csrf" value=(me.csrf);
                        select name="state" required {
                            option value="" { "resolve as…" }
                            option value="SUCCEEDED" { "SUCCEEDED (paid)" }
                            option value="FAILED" { "FAILED (not paid)" }
                            option value="CANCELLED" { "CANCELLED" }
                        }
                        input name="note" placeholder="note: ticket, bank statement line… (mandatory)" required size="50";
                        button type="submit" { "Resolve" }
                    }
                } @else {
                    p.muted.readonly { "Read-only: your role (viewer) cannot resolve." }
                }
            }
        }
    };
    layout(me, "Review queue", "review", flash, body)
}

/// Dead letters; retry buttons for operators only.
pub fn dead(me: &User, letters: &[DeadLetter], flash: Option<&Flash>) -> Markup {
    let body = html! {
        p.muted { "Payouts kirim gave up sending (the retry window ran out, or the provider is misconfigured). A re-drive goes through the state machine, like " code { "kirim dead retry" } ": an unknown outcome is inquired, never resent." }
        @if me.can_act() && !letters.is_empty() {
            form method="post" action="/ui/dead/retry-all" {
                input type="hidden" name="csrf" value=(me.csrf);
                button #retry-all type="submit" { "Retry all " (letters.len()) }
            }
        }
        table #dead {
            thead { tr { th.num { "#" } th { "payout" } th { "job" } th { "reason" } th { "parked (WIB)" } th {} } }
            tbody {
                @for d in letters {
                    tr data-id=(d.id) {
                        td.num { (d.id) }
                        td { a href=(payout_href(&d.payout)) { (d.payout.to_string()) } }
                        td { (d.job) }
                        td { (d.reason) }
                        td { (at(d.at)) }
                        td {
                            @if me.can_act() {
                                form method="post" action=(format!("/ui/dead/{}/retry", d.id)) {
                                    input type="hidden" name="csrf" value=(me.csrf);
                                    button.small type="submit" { "Retry" }
                                }
                            }
                        }
                    }
                }
                @if letters.is_empty() { tr { td colspan="6" .muted #dead-empty { "No dead letters." } } }
            }
        }
    };
    layout(me, "Dead letters", "dead", flash, body)
}

/// Undelivered notifications; redeliver buttons for operators only.
pub fn notifications(
    me: &User,
    events: &[EventStatus],
    total: usize,
    flash: Option<&Flash>,
) -> Markup {
    let body = html! {
        p.muted { "Signed application notifications not yet delivered (" (events.len()) " of " (total) " events). Redeliver after the receiver is fixed, like " code { "kirim events redeliver" } "." }
        table #events {
            thead { tr { th { "event" } th { "payout" } th { "state" } th.num { "attempts" } th { "last result" } th {} } }
            tbody {
                @for e in events {
                    tr {
                        td.mono { (e.id) }
                        td { (e.event.get("payout").and_then(|v| v.as_str()).unwrap_or("")) }
                        td { @if e.delivery.parked { span.st.st-bad { "parked" } } @else { span.st.st-run { "pending" } } }
                        td.num { (e.delivery.attempts) }
                        td {
                            @if let Some(s) = e.delivery.last_status { "HTTP " (s) " " }
                            (e.delivery.last_error.as_deref().unwrap_or(""))
                        }
                        td {
                            @if me.can_act() {
                                form method="post" action=(format!("/ui/notifications/{}/redeliver", e.id)) {
                                    input type="hidden" name="csrf" value=(me.csrf);
                                    button.small type="submit" { "Redeliver" }
                                }
                            }
                        }
                    }
                }
                @if events.is_empty() { tr { td colspan="6" .muted { "Every event was delivered." } } }
            }
        }
    };
    layout(me, "Notifications", "notifications", flash, body)
}

/// A bare error page (403, 404) inside the layout.
pub fn problem(me: &User, title: &str, message: &str) -> Markup {
    layout(
        me,
        title,
        "",
        Some(&Flash::Err(message.to_owned())),
        html! { p { a href="/ui/" { "Back to the overview" } } },
    )
}

/// A plain page for refusals before anyone is known (no layout, no user data).
pub fn bare(title: &str, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (title) } link rel="stylesheet" href="/ui/static/console.css"; }
            body.login { div.card { h1 { (title) } p #problem { (message) } p { a href="/ui/login" { "Log in" } } } }
        }
    }
}
