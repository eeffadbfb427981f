//! Access to the console: the one guard in front of every protected route
//! (session, CSRF, role), logging in and logging out.

use axum::body::Body;
use axum::extract::{Form, Request, State as AxState};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use redis::AsyncCommands;
use serde::Deserialize;
use sha2::Digest as _;

use super::auth::{self, User, LOGIN_COOKIE, SESSION_COOKIE};
use super::{
    forbidden, internal, pages, ConsoleState, Shared, LOGIN_MAX_FAILURES, LOGIN_WINDOW_SECS,
    MAX_FORM,
};
use crate::ledger::now_ms;

/// The submitted CSRF token: the `X-CSRF-Token` header, else the form field `csrf`.
pub(super) fn submitted_csrf(headers: &HeaderMap, body: &[u8]) -> String {
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
pub(super) async fn guard(AxState(s): AxState<Shared>, req: Request, next: Next) -> Response {
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

pub(super) async fn login_page(AxState(s): AxState<Shared>, headers: HeaderMap) -> Response {
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
pub(super) struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

pub(super) async fn login(
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

pub(super) async fn logout(
    AxState(s): AxState<Shared>,
    Extension(me): Extension<User>,
) -> Response {
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
