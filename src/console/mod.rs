//! The operator console: server-rendered pages at `/ui` on the same server as the
//! HTTP API (`kirim serve`), for the people who watch payouts all day.
//!
//! - **Pages**: overview (live counts, throughput chart, reconciliation lag, queue
//!   depths, provider health), payouts (filtered, paginated) and one payout with
//!   its audit trail as a timeline, the review queue, dead letters, notifications.
//!   HTML from [`pages`] (maud); the only JavaScript is htmx, served from the
//!   binary ([`STATIC_HTMX`]), used for the live overview. No CDN, no build chain.
//! - **Actions go through the same functions as the CLI**: resolving a review is
//!   [`Client::resolve_review`] (`kirim review resolve`), a re-drive is
//!   [`crate::jobs::dead::retry`] (`kirim dead retry`), a redelivery is
//!   [`crate::notify::redeliver`] (`kirim events redeliver`). The console adds no
//!   decision of its own; the operator's name is the actor in the audit trail.
//! - **Access** ([`auth`]): console users (not API keys) with a role, viewer or
//!   operator; signed HttpOnly SameSite=Strict session cookies; a CSRF token on
//!   every POST. `access::guard` enforces all of it in one place, before any handler:
//!   no session → the login page (403 for a POST); a POST without the session's
//!   token → 403; a POST by a viewer → 403. Handlers re-check the role too.
//!   Every action and login is logged (`kirim::console::audit`) and kept in a
//!   capped Redis list.

pub mod auth;
pub mod pages;
pub mod queries;

mod access;
mod handlers;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::Markup;
use redis::AsyncCommands;

use self::access::{guard, login, login_page, logout};
use self::auth::{User, SESSION_COOKIE};
use self::handlers::{
    dead_letters, dead_retry, dead_retry_all, notifications, overview, overview_live, payout,
    payouts, redeliver, resolve, review,
};
use self::pages::Flash;
use crate::client::Client;
use crate::config::{ConfigError, ConsoleUser, Settings};
use crate::ledger::now_ms;

/// htmx 2 (Zero-Clause BSD, <https://htmx.org>), vendored from the npm package.
pub const STATIC_HTMX: &str = include_str!("static/htmx.min.js");
/// The console's stylesheet.
pub const STATIC_CSS: &str = include_str!("static/console.css");

/// Payouts per page of the list, unless `per` (5 to 200) says otherwise.
const PER_PAGE: usize = 50;
/// Failed logins per user name within [`LOGIN_WINDOW_SECS`] before logins pause.
const LOGIN_MAX_FAILURES: u64 = 10;
const LOGIN_WINDOW_SECS: u64 = 900;
/// Largest form a console POST may carry.
const MAX_FORM: usize = 16 * 1024;
/// Console audit entries kept in Redis.
const AUDIT_KEEP: isize = 10_000;
const FLASH_COOKIE: &str = "kirim_console_flash";

/// Everything the console's handlers share.
pub struct ConsoleState {
    client: Client,
    users: Vec<ConsoleUser>,
    signer: auth::Signer,
    ttl_secs: u64,
    secure: bool,
    final_counts: queries::FinalCountsCache,
}

impl std::fmt::Debug for ConsoleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleState")
            .field("users", &self.users.len())
            .finish()
    }
}

impl ConsoleState {
    /// The console for `settings`, or `None` when `console.enabled` is false.
    /// Without a configured session key each process signs with a random one.
    pub fn from_settings(settings: &Settings, client: Client) -> Result<Option<Self>, ConfigError> {
        let c = &settings.console;
        if !c.enabled {
            return Ok(None);
        }
        let signer = match c.session_key()? {
            Some(k) => auth::Signer::new(k.expose().as_bytes()),
            None => {
                if !c.users.is_empty() {
                    tracing::warn!("console.session_key is not set: sessions are signed with a random key and end when this process stops");
                }
                auth::Signer::random()
            }
        };
        Ok(Some(ConsoleState {
            client,
            users: c.users.clone(),
            signer,
            ttl_secs: c.session_ttl_secs,
            secure: c.secure_cookie,
            final_counts: queries::FinalCountsCache::default(),
        }))
    }

    fn revoked_key(&self, sid: &str) -> String {
        self.client.ledger().keys().console_revoked(sid)
    }

    /// The logged-in user of this request, if the session is valid and not revoked.
    async fn user(&self, headers: &HeaderMap) -> Result<Option<User>, redis::RedisError> {
        let Some(raw) = auth::cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let Some((name, sid, _exp)) = self.signer.open_session(raw, now_ms()) else {
            return Ok(None);
        };
        // The role comes from the configuration, never from the cookie.
        let Some(u) = self.users.iter().find(|u| u.name == name) else {
            return Ok(None);
        };
        let mut conn = self.client.ledger().connection();
        let revoked: bool = conn.exists(self.revoked_key(&sid)).await?;
        if revoked {
            return Ok(None);
        }
        Ok(Some(User {
            name: u.name.clone(),
            role: u.role,
            csrf: self.signer.csrf("session", &sid),
            sid,
        }))
    }

    /// Log an action and keep it in the console's audit list (best effort: the
    /// action itself is already in the payout's audit trail where it has one).
    async fn audit(&self, user: &str, action: &str, target: &str, result: &str) {
        tracing::info!(target: "kirim::console::audit", user, action, target, result, "console action");
        let key = self.client.ledger().keys().console_audit();
        let entry = serde_json::json!({
            "at": now_ms(), "user": user, "action": action, "target": target, "result": result,
        })
        .to_string();
        let mut conn = self.client.ledger().connection();
        let r: Result<(), _> = redis::pipe()
            .lpush(&key, entry)
            .ignore()
            .ltrim(&key, 0, AUDIT_KEEP - 1)
            .ignore()
            .query_async(&mut conn)
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "console audit list not written");
        }
    }

    fn cookie(&self, name: &str, value: &str, max_age: u64) -> HeaderValue {
        HeaderValue::from_str(&auth::set_cookie(name, value, max_age, self.secure))
            .unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

type Shared = Arc<ConsoleState>;

/// The console's routes, all under `/ui`, ready to merge into the API router.
pub fn router<S: Clone + Send + Sync + 'static>(state: Shared) -> Router<S> {
    let protected = Router::new()
        .route("/ui", get(overview))
        .route("/ui/", get(overview))
        .route("/ui/overview/live", get(overview_live))
        .route("/ui/payouts", get(payouts))
        .route("/ui/payouts/{provider}/{reference}", get(payout))
        .route("/ui/review", get(review))
        .route("/ui/review/{provider}/{reference}/resolve", post(resolve))
        .route("/ui/dead", get(dead_letters))
        .route("/ui/dead/{id}/retry", post(dead_retry))
        .route("/ui/dead/retry-all", post(dead_retry_all))
        .route("/ui/notifications", get(notifications))
        .route("/ui/notifications/{id}/redeliver", post(redeliver))
        .route("/ui/logout", post(logout))
        .layer(middleware::from_fn_with_state(state.clone(), guard));
    Router::new()
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/static/htmx.min.js", get(htmx_js))
        .route("/ui/static/console.css", get(css))
        .merge(protected)
        .with_state(state)
}

async fn htmx_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        STATIC_HTMX,
    )
        .into_response()
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STATIC_CSS,
    )
        .into_response()
}

fn forbidden(message: &str) -> Response {
    (StatusCode::FORBIDDEN, pages::bare("Refused (403)", message)).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "console request failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        pages::bare(
            "Something went wrong (500)",
            "The console could not read from Redis; see the server log.",
        ),
    )
        .into_response()
}

/// Render `markup`, showing and clearing a pending flash message.
fn page(
    s: &ConsoleState,
    headers: &HeaderMap,
    render: impl FnOnce(Option<&Flash>) -> Markup,
) -> Response {
    let flash = auth::cookie(headers, FLASH_COOKIE)
        .and_then(|v| s.signer.open_flash(v))
        .map(|(ok, m)| if ok { Flash::Ok(m) } else { Flash::Err(m) });
    let mut r = render(flash.as_ref()).into_response();
    if flash.is_some() {
        r.headers_mut()
            .append(header::SET_COOKIE, s.cookie(FLASH_COOKIE, "", 0));
    }
    r
}

/// 303 to `to`, with a message for the next page (post/redirect/get).
fn redirect_with(s: &ConsoleState, to: &str, ok: bool, message: &str) -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        s.cookie(FLASH_COOKIE, &s.signer.seal_flash(ok, message), 60),
    );
    r
}

// ---- login ----
