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
//!   [`dead::retry`] (`kirim dead retry`), a redelivery is
//!   [`crate::notify::redeliver`] (`kirim events redeliver`). The console adds no
//!   decision of its own; the operator's name is the actor in the audit trail.
//! - **Access** ([`auth`]): console users (not API keys) with a role, viewer or
//!   operator; signed HttpOnly SameSite=Strict session cookies; a CSRF token on
//!   every POST. [`guard`] enforces all of it in one place, before any handler:
//!   no session → the login page (403 for a POST); a POST without the session's
//!   token → 403; a POST by a viewer → 403. Handlers re-check the role too.
//!   Every action and login is logged (`kirim::console::audit`) and kept in a
//!   capped Redis list.

pub mod auth;
pub mod pages;
pub mod queries;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Form, Path, Query, Request, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::Markup;
use redis::AsyncCommands;
use serde::Deserialize;
use sha2::Digest as _;

use self::auth::{User, LOGIN_COOKIE, SESSION_COOKIE};
use self::pages::Flash;
use crate::client::{Client, PayoutView};
use crate::config::{ConfigError, ConsoleUser, Settings};
use crate::domain::State;
use crate::domain::{PartnerReference, Provider};
use crate::jobs::dead::{self, Redrive};
use crate::ledger::{now_ms, HistoryEntry, PayoutId};

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

/// The submitted CSRF token: the `X-CSRF-Token` header, else the form field `csrf`.
fn submitted_csrf(headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(v) = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        return v.to_owned();
    }
    std::str::from_utf8(body)
        .ok()
        .and_then(|b| {
            b.split('&')
                .find_map(|kv| kv.strip_prefix("csrf="))
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// Authentication, CSRF and role checks for every protected route, in one place.
async fn guard(AxState(s): AxState<Shared>, req: Request, next: Next) -> Response {
    let user = match s.user(req.headers()).await {
        Ok(u) => u,
        Err(e) => return internal(e),
    };
    let is_get = matches!(*req.method(), Method::GET | Method::HEAD);
    let Some(user) = user else {
        if !is_get {
            return forbidden("Your session has ended; log in again. Nothing was changed.");
        }
        if req.headers().contains_key("hx-request") {
            // An htmx poll would follow a redirect and swap the login page into the
            // fragment; tell htmx to leave the page instead.
            return (StatusCode::UNAUTHORIZED, [("hx-redirect", "/ui/login")]).into_response();
        }
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui/login")]).into_response();
    };
    if is_get {
        let mut req = req;
        req.extensions_mut().insert(user);
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
        return forbidden("The form is too large.");
    };
    let token = submitted_csrf(&parts.headers, &bytes);
    if !s.signer.csrf_ok("session", &user.sid, &token) {
        s.audit(&user.name, "refused_csrf", parts.uri.path(), "403")
            .await;
        return forbidden(
            "The form's security token is missing or wrong (CSRF). Nothing was changed; reload the page and try again.",
        );
    }
    if parts.uri.path() != "/ui/logout" && !user.can_act() {
        s.audit(&user.name, "refused_role", parts.uri.path(), "403")
            .await;
        return forbidden(&format!(
            "Your role ({}) can look but not act. Nothing was changed.",
            user.role.as_str()
        ));
    }
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(user);
    next.run(req).await
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

async fn login_page(AxState(s): AxState<Shared>, headers: HeaderMap) -> Response {
    login_form(&s, &headers, StatusCode::OK, None)
}

/// The login form. Its token is bound to the pre-login cookie, which is kept if
/// the browser already has one (several tabs, a reload, a prefetch all agree).
fn login_form(
    s: &ConsoleState,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let nonce = auth::cookie(headers, LOGIN_COOKIE)
        .filter(|n| n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
        .unwrap_or_else(auth::random_token);
    let csrf = s.signer.csrf("login", &nonce);
    let mut r = (status, pages::login(&csrf, error, s.users.is_empty())).into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, s.cookie(LOGIN_COOKIE, &nonce, 600));
    r
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn login(
    AxState(s): AxState<Shared>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let nonce = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if nonce.is_empty() || !s.signer.csrf_ok("login", nonce, &f.csrf) {
        return forbidden(
            "The login form's security token is missing or wrong (CSRF). Reload the login page.",
        );
    }
    // Guessing is throttled per user name (whether or not it exists).
    let failures_key = s
        .client
        .ledger()
        .keys()
        .console_login_failures(&hex::encode(sha2::Sha256::digest(f.user.as_bytes())));
    let mut conn = s.client.ledger().connection();
    let failures: Option<u64> = match conn.get(&failures_key).await {
        Ok(n) => n,
        Err(e) => return internal(e),
    };
    if failures.unwrap_or(0) >= LOGIN_MAX_FAILURES {
        s.audit(&f.user, "login_throttled", "", "429").await;
        return login_form(
            &s,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed logins for this user; try again in 15 minutes."),
        );
    }
    // Hashing is deliberately slow: keep it off the async workers.
    let users = s.users.clone();
    let (name, password) = (f.user.clone(), f.password);
    let found = tokio::task::spawn_blocking(move || {
        auth::check_login(&users, &name, &password).map(|u| u.name.clone())
    })
    .await
    .ok()
    .flatten();
    let Some(name) = found else {
        let counted: Result<(), _> = redis::pipe()
            .incr(&failures_key, 1)
            .ignore()
            .expire(&failures_key, LOGIN_WINDOW_SECS as i64)
            .ignore()
            .query_async(&mut conn)
            .await;
        if let Err(e) = counted {
            tracing::warn!(error = %e, "failed login not counted");
        }
        s.audit(&f.user, "login_failed", "", "401").await;
        return login_form(
            &s,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("Wrong user or password."),
        );
    };
    let cleared: Result<(), _> = conn.del(&failures_key).await;
    if let Err(e) = cleared {
        tracing::warn!(error = %e, "failed-login counter not cleared");
    }
    let sid = auth::random_token();
    let exp = now_ms() + (s.ttl_secs as i64) * 1000;
    let value = s.signer.session_cookie(&name, &sid, exp);
    s.audit(&name, "login", "", "ok").await;
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui/")]).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        s.cookie(SESSION_COOKIE, &value, s.ttl_secs),
    );
    r.headers_mut()
        .append(header::SET_COOKIE, s.cookie(LOGIN_COOKIE, "", 0));
    r
}

async fn logout(AxState(s): AxState<Shared>, Extension(me): Extension<User>) -> Response {
    let mut conn = s.client.ledger().connection();
    let r: Result<(), _> = conn
        .set_ex(s.revoked_key(&me.sid), 1, s.ttl_secs.max(1))
        .await;
    if let Err(e) = r {
        return internal(e);
    }
    s.audit(&me.name, "logout", "", "ok").await;
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui/login")]).into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, s.cookie(SESSION_COOKIE, "", 0));
    r
}

// ---- pages ----

async fn overview(AxState(s): AxState<Shared>, Extension(me): Extension<User>) -> Response {
    match queries::overview(&s.client, &s.final_counts).await {
        Ok(o) => pages::overview(&me, &o).into_response(),
        Err(e) => internal(e),
    }
}

async fn overview_live(AxState(s): AxState<Shared>) -> Response {
    match queries::overview(&s.client, &s.final_counts).await {
        Ok(o) => pages::overview_live(&o).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    per: Option<usize>,
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

fn parse_filter(q: &ListQuery) -> Result<queries::Filter, String> {
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

async fn payouts(
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

async fn payout(
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

async fn review(
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
struct ResolveForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    note: String,
}

async fn resolve(
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

async fn dead_letters(
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

async fn dead_retry(
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

async fn dead_retry_all(AxState(s): AxState<Shared>, Extension(me): Extension<User>) -> Response {
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

async fn notifications(
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

async fn redeliver(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_is_read_from_header_or_form() {
        let mut h = HeaderMap::new();
        assert_eq!(submitted_csrf(&h, b"note=x&csrf=abc&state=FAILED"), "abc");
        assert_eq!(submitted_csrf(&h, b"note=x"), "");
        h.insert("x-csrf-token", HeaderValue::from_static("hdr"));
        assert_eq!(submitted_csrf(&h, b"csrf=abc"), "hdr");
    }

    fn repo_default() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")
    }

    #[test]
    fn console_settings_are_validated_and_the_key_stays_out_of_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let extra = dir.path().join("x.toml");
        let load = |text: &str| {
            std::fs::write(&extra, text).expect("write");
            Settings::load_from(&repo_default(), Some(&extra), false)
        };
        let err = load("[console]\nsession_key = \"hunter2\"\n").expect_err("secret in a file");
        assert!(err.to_string().contains("console.session_key"), "{err}");
        assert!(!err.to_string().contains("hunter2"));
        let err = load(
            "[[console.users]]\nname = \"a\"\nrole = \"operator\"\npassword_hash = \"plaintext\"\n",
        )
        .expect_err("not a hash");
        assert!(
            err.to_string().contains("console.users[0].password_hash"),
            "{err}"
        );
        let err =
            load("[[console.users]]\nname = \"a\"\nrole = \"admin\"\npassword_hash = \"x\"\n")
                .expect_err("unknown role");
        assert!(err.to_string().contains("admin"), "{err}");
        let hash = auth::hash_password("pw").expect("hash");
        let ok = load(&format!(
            "[[console.users]]\nname = \"a\"\nrole = \"viewer\"\npassword_hash = \"{hash}\"\n"
        ))
        .expect("valid");
        assert_eq!(ok.console.users[0].role, crate::config::ConsoleRole::Viewer);
        assert!(ok.console.enabled);
    }

    #[test]
    fn date_filters_are_jakarta_days() {
        let q = ListQuery {
            from: "2026-12-01".into(),
            to: "2026-12-01".into(),
            ..Default::default()
        };
        let f = parse_filter(&q).expect("valid");
        // 2026-12-01T00:00+07:00 = 2026-11-30T17:00Z.
        assert_eq!(f.from_ms, Some(1_796_058_000_000));
        assert_eq!(f.to_ms.zip(f.from_ms).map(|(t, a)| t - a), Some(86_400_000));
        let bad = ListQuery {
            state: "PAID".into(),
            ..Default::default()
        };
        assert!(parse_filter(&bad).is_err());
    }
}
