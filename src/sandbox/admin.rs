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

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::faults::FaultRule;
use super::state::{wire, AppState};
use crate::domain::Provider;

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
    let provider = match filter.provider.as_deref().map(str::parse::<Provider>) {
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
    let v: serde_json::Map<String, serde_json::Value> = Provider::ALL
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
