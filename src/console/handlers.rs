//! The console's pages and actions, one handler per route.

use axum::extract::{Form, Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

use super::auth::User;
use super::{
    forbidden, internal, page, pages, queries, redirect_with, ConsoleState, Shared, PER_PAGE,
};
use crate::client::{Client, PayoutView};
use crate::domain::{PartnerReference, Provider, State};
use crate::jobs::dead::{self, Redrive};
use crate::ledger::{now_ms, HistoryEntry, PayoutId};

pub(super) async fn overview(
    AxState(s): AxState<Shared>,
    Extension(me): Extension<User>,
) -> Response {
    match queries::overview(&s.client, &s.final_counts).await {
        Ok(o) => pages::overview(&me, &o).into_response(),
        Err(e) => internal(e),
    }
}

pub(super) async fn overview_live(AxState(s): AxState<Shared>) -> Response {
    match queries::overview(&s.client, &s.final_counts).await {
        Ok(o) => pages::overview_live(&o).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    pub(super) state: String,
    #[serde(default)]
    pub(super) provider: String,
    #[serde(default)]
    pub(super) from: String,
    #[serde(default)]
    pub(super) to: String,
    #[serde(default)]
    pub(super) q: String,
    #[serde(default)]
    pub(super) page: Option<usize>,
    #[serde(default)]
    pub(super) per: Option<usize>,
}

/// Midnight in Jakarta of a `YYYY-MM-DD` date, in ms.
fn jakarta_midnight(date: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    let t = d
        .and_hms_opt(0, 0, 0)?
        .and_local_timezone(crate::snap::timestamp::jakarta())
        .single()?;
    Some(t.timestamp_millis())
}

pub(super) fn parse_filter(q: &ListQuery) -> Result<queries::Filter, String> {
    let state = match q.state.trim() {
        "" => None,
        s => Some(s.parse::<State>().map_err(|e| e.to_string())?),
    };
    let provider = match q.provider.trim() {
        "" => None,
        p => Some(p.parse::<Provider>().map_err(|e| e.to_string())?),
    };
    let from_ms = match q.from.trim() {
        "" => None,
        d => Some(jakarta_midnight(d).ok_or("from: expected a date YYYY-MM-DD")?),
    };
    let to_ms = match q.to.trim() {
        "" => None,
        // "to" is inclusive of that day.
        d => Some(jakarta_midnight(d).ok_or("to: expected a date YYYY-MM-DD")? + 86_400_000),
    };
    let search = match q.q.trim() {
        "" => None,
        s => Some(s.to_owned()),
    };
    Ok(queries::Filter {
        state,
        provider,
        from_ms,
        to_ms,
        search,
    })
}

pub(super) async fn payouts(
    AxState(s): AxState<Shared>,
    Extension(me): Extension<User>,
    Query(q): Query<ListQuery>,
) -> Response {
    let f = match parse_filter(&q) {
        Ok(f) => f,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                pages::problem(&me, "Payouts", &format!("Bad filter: {e}")),
            )
                .into_response()
        }
    };
    let page_no = q.page.unwrap_or(0);
    let per_page = q.per.unwrap_or(PER_PAGE).clamp(5, 200);
    let raw = [
        ("q", q.q.clone()),
        ("state", q.state.clone()),
        ("provider", q.provider.clone()),
        ("from", q.from.clone()),
        ("to", q.to.clone()),
        (
            "per",
            q.per.map(|_| per_page.to_string()).unwrap_or_default(),
        ),
    ];
    match queries::list(&s.client, &f, page_no, per_page).await {
        Ok(page) => pages::payouts(&me, &f, &raw, &page, page_no, per_page).into_response(),
        Err(e) => internal(e),
    }
}

fn payout_id(provider: &str, reference: &str) -> Option<PayoutId> {
    Some(PayoutId::new(
        provider.parse().ok()?,
        PartnerReference::parse(reference).ok()?,
    ))
}

pub(super) async fn payout(
    AxState(s): AxState<Shared>,
    Extension(me): Extension<User>,
    headers: HeaderMap,
    Path((provider, reference)): Path<(String, String)>,
) -> Response {
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            pages::problem(&me, "Not found", "No such payout."),
        )
            .into_response()
    };
    let Some(id) = payout_id(&provider, &reference) else {
        return not_found();
    };
    match s.client.status(&id).await {
        Ok(Some(v)) => page(&s, &headers, |f| pages::payout(&me, &v, f)),
        Ok(None) => not_found(),
        Err(e) => internal(e),
    }
}

async fn review_items(client: &Client) -> Result<Vec<PayoutView>, crate::client::ClientError> {
    let mut out = Vec::new();
    for p in client.list(State::NeedsReview, 500).await? {
        if let Some(v) = client.status(&p.id).await? {
            out.push(v);
        }
    }
    out.sort_by_key(|v| (v.payout.meta.unresolved_since, v.payout.id.clone()));
    Ok(out)
}

pub(super) async fn review(
    AxState(s): AxState<Shared>,
    Extension(me): Extension<User>,
    headers: HeaderMap,
) -> Response {
    match review_items(&s.client).await {
        Ok(items) => page(&s, &headers, |f| pages::review(&me, &items, f)),
        Err(e) => internal(e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ResolveForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    note: String,
}

pub(super) async fn resolve(
    AxState(s): AxState<Shared>,
    Extension(me): Extension<User>,
    Path((provider, reference)): Path<(String, String)>,
    Form(f): Form<ResolveForm>,
) -> Response {
    if !me.can_act() {
        return forbidden("Your role cannot resolve payouts.");
    }
    let Some(id) = payout_id(&provider, &reference) else {
        return redirect_with(&s, "/ui/review", false, "No such payout.");
    };
    let to: State = match f.state.parse() {
        Ok(st) => st,
        Err(_) => {
            return redirect_with(
                &s,
                "/ui/review",
                false,
                "Choose SUCCEEDED, FAILED or CANCELLED.",
            )
        }
    };
    // The same function `kirim review resolve` calls: note and final state checked
    // there, the transition decided by the lifecycle and audited with the name.
    match s.client.resolve_review(&id, to, &me.name, &f.note).await {
        Ok(now) => {
            s.audit(&me.name, "resolve", &id.to_string(), now.as_str())
                .await;
            redirect_with(
                &s,
                "/ui/review",
                true,
                &format!("{id} resolved as {now} by {}.", me.name),
            )
        }
        Err(crate::client::ClientError::Invalid(e)) => {
            s.audit(&me.name, "resolve_refused", &id.to_string(), &e.to_string())
                .await;
            redirect_with(&s, "/ui/review", false, &format!("{id} not resolved: {e}"))
        }
        Err(e) => internal(e),
    }
}

pub(super) async fn dead_letters(
    AxState(s): AxState<Shared>,
    Extension(me): Extension<User>,
    headers: HeaderMap,
) -> Response {
    match dead::list(s.client.ledger()).await {
        Ok(letters) => page(&s, &headers, |f| pages::dead(&me, &letters, f)),
        Err(e) => internal(e),
    }
}

/// Re-drive one letter exactly as `kirim dead retry` does; the message to show.
async fn redrive(
    s: &ConsoleState,
    me: &User,
    id: u64,
) -> Result<String, crate::jobs::apply::ApplyError> {
    let actor = format!("operator:{}", me.name);
    let r = dead::retry(
        s.client.ledger(),
        s.client.queue(),
        s.client.policy(),
        id,
        &actor,
    )
    .await?;
    let msg = match &r {
        Redrive::Requeued(job) => format!(
            "Dead letter {id}: {} job queued for {}.",
            job.kind(),
            job.payout()
        ),
        Redrive::Final(state) => {
            format!("Dead letter {id}: the payout is already {state}; letter removed.")
        }
        Redrive::NoSuchLetter => format!("No dead letter {id}."),
    };
    s.audit(&me.name, "dead_retry", &id.to_string(), &msg).await;
    Ok(msg)
}

pub(super) async fn dead_retry(
    AxState(s): AxState<Shared>,
    Extension(me): Extension<User>,
    Path(id): Path<u64>,
) -> Response {
    if !me.can_act() {
        return forbidden("Your role cannot re-drive dead letters.");
    }
    match redrive(&s, &me, id).await {
        Ok(msg) => redirect_with(&s, "/ui/dead", true, &msg),
        Err(e) => redirect_with(
            &s,
            "/ui/dead",
            false,
            &format!("Dead letter {id} not re-driven: {e}"),
        ),
    }
}

pub(super) async fn dead_retry_all(
    AxState(s): AxState<Shared>,
    Extension(me): Extension<User>,
) -> Response {
    if !me.can_act() {
        return forbidden("Your role cannot re-drive dead letters.");
    }
    let letters = match dead::list(s.client.ledger()).await {
        Ok(l) => l,
        Err(e) => return internal(e),
    };
    let (mut ok, mut failed) = (0, 0);
    for d in &letters {
        match redrive(&s, &me, d.id).await {
            Ok(_) => ok += 1,
            Err(e) => {
                failed += 1;
                tracing::warn!(letter = d.id, error = %e, "console re-drive failed");
            }
        }
    }
    redirect_with(
        &s,
        "/ui/dead",
        failed == 0,
        &format!("Re-drove {ok} dead letter(s); {failed} failed."),
    )
}

pub(super) async fn notifications(
    AxState(s): AxState<Shared>,
    Extension(me): Extension<User>,
    headers: HeaderMap,
) -> Response {
    match crate::notify::list(s.client.ledger()).await {
        Ok(all) => {
            let total = all.len();
            let pending: Vec<_> = all
                .into_iter()
                .filter(|e| e.delivery.delivered_at.is_none())
                .collect();
            page(&s, &headers, |f| {
                pages::notifications(&me, &pending, total, f)
            })
        }
        Err(e) => internal(e),
    }
}

pub(super) async fn redeliver(
    AxState(s): AxState<Shared>,
    Extension(me): Extension<User>,
    Path(id): Path<String>,
) -> Response {
    if !me.can_act() {
        return forbidden("Your role cannot redeliver notifications.");
    }
    let ledger = s.client.ledger();
    match crate::notify::redeliver(ledger, &id).await {
        Ok(true) => {
            // Record who asked on the payout's own trail too.
            let payout = crate::notify::list(ledger)
                .await
                .ok()
                .and_then(|all| all.into_iter().find(|e| e.id == id))
                .and_then(|e| {
                    e.event
                        .get("payout")
                        .and_then(|v| v.as_str())
                        .and_then(|p| p.parse::<PayoutId>().ok())
                });
            if let Some(pid) = payout {
                let mut entry = HistoryEntry::new("notification_redeliver", now_ms());
                entry.actor = Some(format!("operator:{}", me.name));
                entry.note = Some(format!("notification {id} scheduled for redelivery"));
                if let Err(e) = ledger.append_history(&pid, &entry).await {
                    tracing::warn!(error = %e, "redelivery not recorded in the audit trail");
                }
            }
            s.audit(&me.name, "redeliver", &id, "scheduled").await;
            redirect_with(
                &s,
                "/ui/notifications",
                true,
                &format!("{id} scheduled for delivery."),
            )
        }
        Ok(false) => redirect_with(&s, "/ui/notifications", false, &format!("No event {id}.")),
        Err(e) => internal(e),
    }
}
