//! The admin API: a loopback tool for tests, demos and benchmarks. No auth — bind
//! the sandbox to loopback (the default).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/admin/health` | `{"ok":true}` |
//! | GET | `/admin/bookings` | every booking (array) |
//! | GET | `/admin/bookings/{reference}` | one booking `{provider, kind, reference, booked_count, status, …}`; `?provider=` / `?kind=` disambiguate (409 if several match, 404 if none) |
//! | GET | `/admin/balances` | balance per provider |
//! | GET | `/admin/faults` | active fault rules (with remaining `times`) |
//! | PUT | `/admin/faults` | replace all rules with the JSON array given (`[]` clears) |
//! | POST | `/admin/faults` | add one rule |
//! | DELETE | `/admin/faults` | clear all rules |
//! | POST | `/admin/settle` | settle every scheduled booking now → `{"settled": n}` |
//! | POST | `/admin/tokens/expire` | expire every issued token now → `{"expired": n}` |
//! | GET | `/admin/callbacks` | callback delivery log (one entry per attempt) |
//! | GET | `/admin/clock` | `{"offset_ms": N, "now": "2026-01-31T10:11:40.123+07:00"}` |
//! | PUT | `/admin/clock` | `{"offset_ms": N}` sets the sandbox clock N ms ahead of the wall clock, settles what is then due; answers like GET |
//!
//! Fault rules take the kinds of [`FaultKind`](super::faults::FaultKind), `respond`
//! included (`{"endpoint": "ifortepay.history_detail", "kind": "respond", "status":
//! 401, "body": "{\"responseCode\":\"4011300\", …}"}`). Refusing connections has no
//! route (the admin API shares the port): use `SandboxHandle::set_refusing`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::faults::FaultRule;
use super::state::{wire, AppState};
use crate::domain::Provider;
use crate::snap::timestamp;

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/admin/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/admin/bookings", get(bookings))
        .route("/admin/bookings/{reference}", get(booking))
        .route("/admin/balances", get(balances))
        .route(
            "/admin/faults",
            get(faults)
                .put(replace_faults)
                .post(add_fault)
                .delete(clear_faults),
        )
        .route("/admin/settle", post(settle))
        .route("/admin/tokens/expire", post(expire_tokens))
        .route("/admin/callbacks", get(callbacks))
        .route("/admin/clock", get(clock).put(set_clock))
        .with_state(state)
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

async fn bookings(State(state): State<AppState>) -> Response {
    Json(state.all_bookings()).into_response()
}

#[derive(Debug, Deserialize)]
struct BookingFilter {
    provider: Option<String>,
    kind: Option<String>,
}

async fn booking(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    Query(filter): Query<BookingFilter>,
) -> Response {
    let simulated = |p: Provider| {
        if crate::providers::builtin_ids().contains(&p) {
            Ok(p)
        } else {
            Err(format!(
                "provider: the sandbox simulates {}",
                crate::providers::Registry::builtin().names()
            ))
        }
    };
    let provider = match filter.provider.as_deref().map(|name| {
        name.parse::<Provider>()
            .map_err(|e| e.to_string())
            .and_then(simulated)
    }) {
        Some(Err(e)) => return bad_request(e.to_string()),
        Some(Ok(p)) => Some(p),
        None => None,
    };
    let matches: Vec<_> = state
        .bookings_for(&reference)
        .into_iter()
        .filter(|b| provider.map_or(true, |p| b.provider == p))
        .filter(|b| {
            filter.kind.as_deref().map_or(true, |k| {
                serde_json::to_value(b.kind).is_ok_and(|v| v == json!(k))
            })
        })
        .collect();
    match matches.as_slice() {
        [] => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no booking with this reference", "reference": reference, "booked_count": 0})),
        )
            .into_response(),
        [one] => Json(one).into_response(),
        _ => (
            StatusCode::CONFLICT,
            Json(json!({"error": "several bookings match; add ?provider= or ?kind=", "matches": matches})),
        )
            .into_response(),
    }
}

async fn balances(State(state): State<AppState>) -> Response {
    let v: serde_json::Map<String, serde_json::Value> = crate::providers::builtin_ids()
        .into_iter()
        .map(|p| (p.as_str().to_owned(), json!(wire(state.balance(p)))))
        .collect();
    Json(v).into_response()
}

async fn faults(State(state): State<AppState>) -> Response {
    Json(state.faults.list()).into_response()
}

async fn replace_faults(
    State(state): State<AppState>,
    Json(rules): Json<Vec<FaultRule>>,
) -> Response {
    for r in &rules {
        if let Err(e) = r.validate() {
            return bad_request(e);
        }
    }
    state.faults.replace(rules);
    Json(state.faults.list()).into_response()
}

async fn add_fault(State(state): State<AppState>, Json(rule): Json<FaultRule>) -> Response {
    if let Err(e) = rule.validate() {
        return bad_request(e);
    }
    state.faults.push(rule);
    Json(state.faults.list()).into_response()
}

async fn clear_faults(State(state): State<AppState>) -> Response {
    state.faults.replace(Vec::new());
    Json(json!([])).into_response()
}

async fn settle(State(state): State<AppState>) -> Response {
    Json(json!({"settled": state.settle_due(true)})).into_response()
}

async fn expire_tokens(State(state): State<AppState>) -> Response {
    Json(json!({"expired": state.expire_tokens()})).into_response()
}

async fn callbacks(State(state): State<AppState>) -> Response {
    Json(state.callback_log()).into_response()
}

/// `PUT /admin/clock` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    offset_ms: u64,
}

async fn clock(State(state): State<AppState>) -> Response {
    let offset_ms = u64::try_from(state.clock.offset().as_millis()).unwrap_or(u64::MAX);
    Json(json!({"offset_ms": offset_ms, "now": timestamp::format(state.now())})).into_response()
}

async fn set_clock(State(state): State<AppState>, Json(body): Json<ClockBody>) -> Response {
    state.set_clock_offset(Duration::from_millis(body.offset_ms));
    clock(State(state)).await
}
