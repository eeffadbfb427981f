//! The SNAP gate every iFortepay and NICEPAY call passes: access-token issuance
//! (SHA256withRSA over `clientId{sep}X-TIMESTAMP`) and the checks of a transactional
//! call, in this order:
//!
//! 1. mandatory headers present (`400xx02 Missing Mandatory Field <header>`);
//! 2. bearer token issued here for this provider and not expired (`401xx01` expired,
//!    `401xx03` unknown);
//! 3. `X-TIMESTAMP` ISO-8601 within `max_clock_skew_secs` (`400xx01`);
//! 4. `X-PARTNER-ID` = client id (`401xx00`), `CHANNEL-ID` as configured (`400xx01`);
//! 5. `X-SIGNATURE` = base64 HMAC-SHA512 over
//!    `METHOD:path?query:token:sha256hex(minify(raw body)):X-TIMESTAMP` (`401xx00`),
//!    where the path is the one received minus the provider's `unsigned_path_prefix`;
//! 6. `X-EXTERNAL-ID` numeric, at most 40 digits (`400xx01`), not seen today
//!    (`409xx00`). It is recorded only here, after authentication: a request refused
//!    earlier (or by a 429/500-before fault) did not reach the provider, so the
//!    client may resend the same message id.
//!
//! Errors are [`SnapError`]: `{"responseCode","responseMessage"}` with the HTTP
//! status equal to the code's first three digits.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::{FromRequest, OriginalUri, Request};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::faults::Endpoint;
use super::fields::{FieldProblem, Obj};
use super::state::{wire, AppState, State, TokenError};
use crate::config::EndpointUrlMode;
use crate::domain::Secret;
use crate::snap::{self, timestamp, ResponseCode};
use rust_decimal::Decimal;

/// A SNAP error answer.
#[derive(Debug, Clone)]
pub struct SnapError {
    pub http: u16,
    pub service: u8,
    pub case: u8,
    pub message: String,
}

impl SnapError {
    pub fn new(ep: Endpoint, http: u16, case: u8, message: impl Into<String>) -> SnapError {
        SnapError {
            http,
            service: ep.service(),
            case,
            message: message.into(),
        }
    }
    /// `400xx02 Missing Mandatory Field <field>`.
    pub fn missing(ep: Endpoint, field: &str) -> SnapError {
        Self::new(ep, 400, 2, format!("Missing Mandatory Field {field}"))
    }
    /// `400xx01 Invalid Field Format <field>`.
    pub fn invalid(ep: Endpoint, field: &str) -> SnapError {
        Self::new(ep, 400, 1, format!("Invalid Field Format {field}"))
    }
    /// A body-field problem as `400xx02` / `400xx01`.
    pub fn field(ep: Endpoint, problem: FieldProblem) -> SnapError {
        match problem {
            FieldProblem::Missing(f) => Self::missing(ep, &f),
            FieldProblem::Invalid(f) => Self::invalid(ep, &f),
        }
    }
    pub fn code(&self) -> String {
        ResponseCode::new(self.http, self.service, self.case).to_string()
    }
}

impl IntoResponse for SnapError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            Json(json!({"responseCode": self.code(), "responseMessage": self.message})),
        )
            .into_response()
    }
}

/// A SNAP success (or in-progress) answer: `fields` plus `responseCode`/`responseMessage`.
pub fn snap_ok(ep: Endpoint, http: u16, message: &str, fields: Value) -> Response {
    let mut body = json!({
        "responseCode": ResponseCode::new(http, ep.service(), 0).to_string(),
        "responseMessage": message,
    });
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), fields) {
        b.extend(extra);
    }
    let status = StatusCode::from_u16(http).unwrap_or(StatusCode::OK);
    (status, Json(body)).into_response()
}

/// A header as text; a header that is not visible ASCII counts as absent.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn required<'a>(ep: Endpoint, headers: &'a HeaderMap, name: &str) -> Result<&'a str, SnapError> {
    header(headers, name).ok_or_else(|| SnapError::missing(ep, name))
}

/// Parse `X-TIMESTAMP` and check it is within the allowed skew.
fn check_timestamp(state: &State, ep: Endpoint, value: &str) -> Result<(), SnapError> {
    let at = timestamp::parse(value).map_err(|_| SnapError::invalid(ep, "X-TIMESTAMP"))?;
    let skew = (state.now().timestamp() - at.timestamp()).unsigned_abs();
    if skew > state.cfg.max_clock_skew_secs {
        return Err(SnapError::invalid(ep, "X-TIMESTAMP"));
    }
    Ok(())
}

/// What the token endpoint checks against.
pub struct TokenCheck<'a> {
    pub client_id: &'a str,
    pub separator: &'a str,
    pub public_key: &'a rsa::RsaPublicKey,
}

/// Verify an access-token request; `Ok` means issue a token.
pub fn verify_token_request(
    state: &State,
    ep: Endpoint,
    check: &TokenCheck<'_>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), SnapError> {
    let client_key = required(ep, headers, "X-CLIENT-KEY")?;
    let ts = required(ep, headers, "X-TIMESTAMP")?;
    let sig = required(ep, headers, "X-SIGNATURE")?;
    check_timestamp(state, ep, ts)?;
    if client_key != check.client_id {
        return Err(SnapError::new(ep, 401, 0, "Unauthorized. Unknown client"));
    }
    snap::verify_access_token(check.public_key, client_key, check.separator, ts, sig)
        .map_err(|_| SnapError::new(ep, 401, 0, "Unauthorized. Signature"))?;
    let parsed: Value =
        serde_json::from_slice(body).map_err(|_| SnapError::new(ep, 400, 0, "Bad Request"))?;
    match parsed.get("grantType") {
        None | Some(Value::Null) => Err(SnapError::missing(ep, "grantType")),
        Some(Value::String(g)) if g == "client_credentials" => Ok(()),
        Some(_) => Err(SnapError::invalid(ep, "grantType")),
    }
}

/// How a service request is signed.
pub enum ServiceSignature<'a> {
    /// Symmetric: a bearer token issued here, and base64 HMAC-SHA512 (this secret)
    /// over `METHOD:EndpointUrl:token:sha256hex(minify(body)):X-TIMESTAMP`.
    Hmac(&'a Secret),
    /// Asymmetric: no token; base64 SHA256withRSA, verified with this public key,
    /// over `METHOD:EndpointUrl:sha256hex(minify(body)):X-TIMESTAMP` (iFortepay
    /// direct debit: ifortepay-direct-debit-payment.txt:42-47 carry no
    /// `Authorization` and a 344-character signature; NOTES.md, Corrections).
    Rsa(&'a rsa::RsaPublicKey),
}

/// What a transactional call is checked against.
pub struct ServiceCheck<'a> {
    /// The expected `X-PARTNER-ID`.
    pub client_id: &'a str,
    pub signature: ServiceSignature<'a>,
    /// Expected CHANNEL-ID; `None` = not required (checked if present is not needed).
    pub channel_id: Option<Cow<'a, str>>,
    pub unsigned_path_prefix: &'a str,
    /// X-EXTERNAL-ID mandatory (transactional calls) or optional (profile).
    pub external_id_required: bool,
}

/// Run checks 1–6 and parse the body (an empty body parses as `{}`); the
/// signature's EndpointUrl is the relative path.
pub fn verify_service_request(
    state: &State,
    ep: Endpoint,
    check: &ServiceCheck<'_>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, SnapError> {
    verify_service_request_as(
        state,
        ep,
        check,
        EndpointUrlMode::Relative,
        method,
        uri,
        headers,
        body,
    )
}

/// [`verify_service_request`] with the EndpointUrl form a provider's router asks
/// for ([`SignedUrlForm`]). `Absolute` rebuilds the URL the client called from
/// the `Host` header: `http://{Host}{path?query}` (a real provider knows its own
/// host; the sandbox only knows what the client connected to).
#[allow(clippy::too_many_arguments)]
pub fn verify_service_request_as(
    state: &State,
    ep: Endpoint,
    check: &ServiceCheck<'_>,
    form: EndpointUrlMode,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, SnapError> {
    let auth = match check.signature {
        ServiceSignature::Hmac(_) => Some(required(ep, headers, "Authorization")?),
        ServiceSignature::Rsa(_) => None,
    };
    let ts = required(ep, headers, "X-TIMESTAMP")?;
    let sig = required(ep, headers, "X-SIGNATURE")?;
    let partner = required(ep, headers, "X-PARTNER-ID")?;
    let external_id = if check.external_id_required {
        Some(required(ep, headers, "X-EXTERNAL-ID")?)
    } else {
        header(headers, "X-EXTERNAL-ID")
    };
    let channel = match &check.channel_id {
        Some(_) => Some(required(ep, headers, "CHANNEL-ID")?),
        None => None,
    };

    let token = match auth {
        Some(auth) => {
            let token = auth
                .strip_prefix("Bearer ")
                .map(str::trim)
                .ok_or_else(|| SnapError::new(ep, 401, 1, "Invalid Token (B2B)"))?;
            state
                .check_token(ep.provider(), token)
                .map_err(|e| match e {
                    TokenError::Expired => SnapError::new(ep, 401, 1, "Invalid Token (B2B)"),
                    TokenError::Unknown => SnapError::new(ep, 401, 3, "Token Not Found (B2B)"),
                })?;
            Some(token)
        }
        None => None,
    };
    check_timestamp(state, ep, ts)?;
    if partner != check.client_id {
        return Err(SnapError::new(
            ep,
            401,
            0,
            "Unauthorized. Unknown X-PARTNER-ID",
        ));
    }
    if let (Some(expected), Some(got)) = (check.channel_id.as_deref(), channel) {
        if expected != got {
            return Err(SnapError::invalid(ep, "CHANNEL-ID"));
        }
    }

    let text = std::str::from_utf8(body).map_err(|_| SnapError::new(ep, 400, 0, "Bad Request"))?;
    let full = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or_else(|| uri.path());
    let endpoint_url = match form {
        EndpointUrlMode::Relative => full
            .strip_prefix(check.unsigned_path_prefix)
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(full)
            .to_owned(),
        EndpointUrlMode::Absolute => {
            let host = header(headers, "Host").unwrap_or("");
            format!("http://{host}{full}")
        }
    };
    let verified = match (&check.signature, token) {
        (ServiceSignature::Hmac(secret), Some(token)) => snap::verify_service(
            secret.expose(),
            method.as_str(),
            &endpoint_url,
            token,
            text,
            ts,
            sig,
        ),
        (ServiceSignature::Rsa(key), _) => {
            snap::verify_service_rsa(key, method.as_str(), &endpoint_url, text, ts, sig)
        }
        (ServiceSignature::Hmac(_), None) => Err(snap::VerifyError::Mismatch),
    };
    verified.map_err(|_| SnapError::new(ep, 401, 0, "Unauthorized. Signature"))?;

    if let Some(id) = external_id {
        if id.is_empty() || id.len() > 40 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SnapError::invalid(ep, "X-EXTERNAL-ID"));
        }
        if !state.record_external_id(ep.provider(), id) {
            return Err(SnapError::new(ep, 409, 0, "Conflict"));
        }
    }

    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(SnapError::new(
            ep,
            400,
            0,
            "Bad Request. Body is not a JSON object",
        )),
    }
}

/// A SNAP service request that passed its provider's gate (checks 1–6 of
/// [`verify_service_request`]): the route's endpoint and the JSON body.
///
/// Extracting it reads the endpoint [`guarded`](super::guarded) put on the
/// request, the method, the path as sent, the headers and the raw body, and runs
/// the provider's gate on them; a refused request is answered with the gate's
/// error, exactly as a handler returning it would be.
pub(crate) struct Checked {
    pub ep: Endpoint,
    pub body: Value,
}

impl Checked {
    /// Field problems answered as this endpoint's `400xx01`/`400xx02`.
    pub fn problem(&self) -> impl Fn(FieldProblem) -> SnapError + Copy {
        let ep = self.ep;
        move |p| SnapError::field(ep, p)
    }

    /// The body as an object.
    pub fn obj(&self) -> Result<Obj<'_>, SnapError> {
        Obj::root(&self.body).map_err(self.problem())
    }
}

/// What a SNAP provider's service requests are checked against; set on its
/// router (`Router::layer(Extension(SnapGate(service_check)))`).
#[derive(Clone, Copy)]
pub(crate) struct SnapGate(pub fn(&State, Endpoint) -> ServiceCheck<'_>);

/// Which EndpointUrl form a SNAP provider's router verifies, read per request from
/// the sandbox's settings (`Router::layer(Extension(SignedUrlForm(…)))`). Absent:
/// the relative path.
#[derive(Clone, Copy)]
pub(crate) struct SignedUrlForm(pub fn(&State) -> EndpointUrlMode);

/// A SNAP amount object in IDR.
pub(crate) fn amount_json(d: Decimal) -> Value {
    json!({"value": wire(d), "currency": "IDR"})
}

/// The SNAP balance-inquiry answer (shared with NICEPAY).
pub(crate) fn balance_answer(
    state: &State,
    ep: Endpoint,
    reference: Option<&str>,
    account: &str,
    name: &str,
) -> Response {
    let available = state.balance(ep.provider());
    snap_ok(
        ep,
        200,
        "Successful",
        json!({
            "referenceNo": format!("BAL{:014}", state.next_id()),
            "partnerReferenceNo": reference,
            "accountNo": account,
            "name": name,
            "accountInfos": [{
                "balanceType": "cash",
                "amount": amount_json(available),
                "floatAmount": amount_json(Decimal::ZERO),
                "holdAmount": amount_json(Decimal::ZERO),
                "availableBalance": amount_json(available),
                "ledgerBalance": amount_json(available),
                "currentMultilateralLimit": amount_json(Decimal::ZERO),
                "status": "0001",
            }],
        }),
    )
}

impl FromRequest<AppState> for Checked {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        // Only a route not built with `guarded`, or a Singapay route (not SNAP),
        // lacks a SNAP gate: a sandbox bug.
        let Some(ep) = req.extensions().get::<Endpoint>().copied() else {
            return Err(StatusCode::INTERNAL_SERVER_ERROR.into_response());
        };
        // Each SNAP provider's router carries what its service requests are
        // checked against.
        let Some(SnapGate(service_check)) = req.extensions().get::<SnapGate>().copied() else {
            return Err(StatusCode::INTERNAL_SERVER_ERROR.into_response());
        };
        let method = req.method().clone();
        let uri = req
            .extensions()
            .get::<OriginalUri>()
            .map_or_else(|| req.uri().clone(), |u| u.0.clone());
        let form = req
            .extensions()
            .get::<SignedUrlForm>()
            .map_or(EndpointUrlMode::Relative, |SignedUrlForm(f)| f(state));
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let check = service_check(state, ep);
        let body =
            verify_service_request_as(state, ep, &check, form, &method, &uri, &headers, &body)
                .map_err(IntoResponse::into_response)?;
        Ok(Checked { ep, body })
    }
}
