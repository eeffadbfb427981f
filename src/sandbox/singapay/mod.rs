//! Singapay (its own API, not SNAP), under `/singapay`.
//!
//! | method | path | fault name |
//! |---|---|---|
//! | POST | `/singapay/api/v1.1/access-token/b2b` | `singapay.token` |
//! | POST | `/singapay/api/v1.0/disbursements/transfer/{account_id}` | `singapay.transfer_v1` |
//! | POST | `/singapay/api/v2.0/disbursement/transfer` | `singapay.transfer_v2` |
//! | POST | `/singapay/api/v2.0/disbursement/{account_id}/inquiry-status` | `singapay.inquiry_status` |
//!
//! **Token**: headers `X-PARTNER-ID` (API key), `X-CLIENT-ID`, `X-Signature` =
//! lowerhex(HMAC-SHA512(clientSecret, `{clientId}_{clientSecret}_{YYYYMMDD}`)), the
//! date in Asia/Jakarta (the day before and after are accepted too, for clocks near
//! midnight); body `{"grant_type":"client_credentials"}` (`grantType` accepted).
//!
//! **v1.0 transfer** (singapay-disbursement-transfer.txt, the seed document):
//! headers `X-PARTNER-ID`, `Authorization: Bearer …`, `Accept: application/json`
//! (all "Mandatory" there); no request signature, no client reference. Each call
//! books a new transaction keyed by the `transaction_id` the sandbox issues (the
//! document's response field; it gives the request no reference of its own), so a
//! resend books again, as the real v1.0 would. `notes` must be Alphabetic.
//!
//! **v2.0** (not in the seed document; Singapay's public SDK `aliziodev/singapay-js`):
//! headers `X-PARTNER-ID`, `Authorization: Bearer …`, `X-Timestamp` (unix
//! seconds) and `X-Signature` = lowerhex(HMAC-SHA512(clientSecret,
//! `METHOD:path?query:token:sha256hex(canonical_json(body)):X-Timestamp`)); see
//! [`v2_signature`] and [`super::canonical_json`]. The path is the one received
//! minus `unsigned_path_prefix` (default none: `/singapay/api/v2.0/...`). Body
//! `reference_number`, `account_id`, `bank_code`, `bank_account_number`, integer
//! `amount` ≥ 10,000, optional `notes` (SDK `test/e2e/money-out.test.ts`; a
//! `beneficiary_account_number` or `bank_swift_code` is refused SP018 there too).
//!
//! **Envelope** (both versions): success `{"status":200,"success":true,
//! "response_code":"SP000","response_message":"Success","data":{…}}`; errors
//! `{"status":H,"success":false,"response_code":"SPxxx","response_message":M,
//! "error":{"code":H,"message":M}}`. Codes carry the meanings Singapay publishes
//! (SDK `src/response-code.ts`); the HTTP statuses are the sandbox's choice except
//! 422 for SP018 (SDK e2e test) and 401 for the document's unauthorized example.
//!
//! | code | HTTP | meaning ([P]) | sandbox uses it for |
//! |---|---|---|---|
//! | SP000 | 200 | Success | success |
//! | SP001 | 500 | TransactionFailure | injected 500 |
//! | SP003 | 403 | InsufficientBalance | balance below amount + fee |
//! | SP004 | 409 | DuplicateReferenceNumber | v2 `reference_number` seen before |
//! | SP005 | 504 | Timeout | injected 504 |
//! | SP009 | 404 | TransactionNotFound | inquiry for an unknown reference (code 07) |
//! | SP010 | 404 | BeneficiaryAccountNotFound | the invalid-account magic number |
//! | SP013 | 401 | Unauthorized (token) | missing, unknown or expired token |
//! | SP015 | 403 | Forbidden | wrong `X-PARTNER-ID` / client id |
//! | SP016 | 401 | SignatureInvalid | token or v2 signature does not verify |
//! | SP018 | 422 | ValidationError | a missing or malformed field (message names it) |
//! | SP019 | 429 | GeneralError | injected 429 (no published too-many-requests code) |
//! | SP020 | 404 | MerchantAccountNotFound | unknown `account_id` |

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Duration as ChronoDuration;
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sha2::Sha512;
use subtle::ConstantTimeEq;

use super::canonical_json::canonical_json;
use super::fields::{digits, FieldProblem, Obj};
use super::magic;
use super::snap_auth::header;
use super::state::{
    wire, AppState, BookError, Booking, Kind, Plan, State as Books, Status, TokenError,
};
use super::{guarded, Endpoint};
use crate::domain::Provider;
use crate::snap::{sha256_hex, timestamp};

const P: Provider = crate::providers::singapay::ID;

pub fn routes(state: AppState) -> Router {
    use Endpoint as E;
    Router::new()
        .route(
            "/singapay/api/v1.1/access-token/b2b",
            guarded(&state, E::SingapayToken, post(token)),
        )
        .route(
            "/singapay/api/v1.0/disbursements/transfer/{account_id}",
            guarded(&state, E::SingapayTransferV1, post(transfer_v1)),
        )
        .route(
            "/singapay/api/v2.0/disbursement/transfer",
            guarded(&state, E::SingapayTransferV2, post(transfer_v2)),
        )
        .route(
            "/singapay/api/v2.0/disbursement/{account_id}/inquiry-status",
            guarded(&state, E::SingapayInquiryStatus, post(inquiry_status)),
        )
        .with_state(state)
}

/// A Singapay error answer.
#[derive(Debug, Clone)]
pub struct SpError {
    pub http: u16,
    pub code: &'static str,
    pub message: String,
}

impl SpError {
    fn new(http: u16, code: &'static str, message: impl Into<String>) -> SpError {
        SpError {
            http,
            code,
            message: message.into(),
        }
    }
    fn field(p: FieldProblem) -> SpError {
        match p {
            FieldProblem::Missing(f) => {
                SpError::new(422, "SP018", format!("Missing mandatory field {f}"))
            }
            FieldProblem::Invalid(f) => {
                SpError::new(422, "SP018", format!("Invalid field format {f}"))
            }
        }
    }
    fn forbidden(message: &str) -> SpError {
        SpError::new(403, "SP015", message)
    }
    fn bad_signature() -> SpError {
        SpError::new(401, "SP016", "Invalid signature")
    }
}

impl IntoResponse for SpError {
    fn into_response(self) -> Response {
        error_response(self.http, self.code, &self.message, None)
    }
}

fn error_response(http: u16, code: &str, message: &str, data: Option<Value>) -> Response {
    let status = StatusCode::from_u16(http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = json!({
        "status": http,
        "success": false,
        "response_code": code,
        "response_message": message,
        "error": {"code": http, "message": message},
    });
    if let Some(d) = data {
        body["data"] = d;
    }
    (status, Json(body)).into_response()
}

/// Injected faults in the Singapay envelope (429 → SP019, 500 → SP001, 504 → SP005).
pub(crate) fn fault_response(http: u16, message: &str) -> Response {
    let code = match http {
        429 => "SP019",
        504 => "SP005",
        _ => "SP001",
    };
    error_response(http, code, message, None)
}

fn ok(data: Value) -> Response {
    Json(json!({
        "status": 200,
        "success": true,
        "response_code": "SP000",
        "response_message": "Success",
        "data": data,
    }))
    .into_response()
}

type Reply = Result<Response, SpError>;

/// `lowerhex(HMAC-SHA512(secret, message))`.
pub fn hmac_hex(secret: &str, message: &str) -> String {
    hex::encode(crate::snap::hmac_sha512(
        secret.as_bytes(),
        message.as_bytes(),
    ))
}

/// Constant-time check of a lowercase-hex HMAC-SHA512.
fn verify_hex(secret: &str, message: &str, given_hex: &str) -> bool {
    let Ok(given) = hex::decode(given_hex.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha512>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(message.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// The v2.0 string-to-sign: `METHOD:endpoint:token:sha256hex(canonical(body)):ts`.
pub fn v2_string_to_sign(
    method: &str,
    endpoint: &str,
    token: &str,
    body: &Value,
    ts: &str,
) -> String {
    format!(
        "{}:{endpoint}:{token}:{}:{ts}",
        method.to_ascii_uppercase(),
        sha256_hex(canonical_json(body).as_bytes())
    )
}

/// The v2.0 request signature (lowercase hex).
pub fn v2_signature(
    secret: &str,
    method: &str,
    endpoint: &str,
    token: &str,
    body: &Value,
    ts: &str,
) -> String {
    hmac_hex(
        secret,
        &v2_string_to_sign(method, endpoint, token, body, ts),
    )
}

/// The token signature for one Jakarta date (`YYYYMMDD`).
pub fn token_signature(client_id: &str, secret: &str, yyyymmdd: &str) -> String {
    hmac_hex(secret, &format!("{client_id}_{secret}_{yyyymmdd}"))
}

fn eq_ct(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Reply {
    let c = &state.cfg.singapay;
    let creds = &state.creds.singapay;
    let api_key = header(&headers, "X-PARTNER-ID")
        .ok_or_else(|| SpError::field(FieldProblem::Missing("X-PARTNER-ID".into())))?;
    let client = header(&headers, "X-CLIENT-ID")
        .ok_or_else(|| SpError::field(FieldProblem::Missing("X-CLIENT-ID".into())))?;
    let sig = header(&headers, "X-Signature")
        .ok_or_else(|| SpError::field(FieldProblem::Missing("X-Signature".into())))?;
    if !eq_ct(api_key, creds.api_key.expose()) || client != c.client_id {
        return Err(SpError::forbidden("Invalid credentials"));
    }
    let today = state.now().date_naive();
    let secret = creds.client_secret.expose();
    let valid = [
        today - ChronoDuration::days(1),
        today,
        today + ChronoDuration::days(1),
    ]
    .iter()
    .any(|d| {
        let msg = format!("{client}_{secret}_{}", d.format("%Y%m%d"));
        verify_hex(secret, &msg, sig)
    });
    if !valid {
        return Err(SpError::bad_signature());
    }
    let parsed: Value = serde_json::from_slice(&body)
        .map_err(|_| SpError::new(422, "SP018", "Body is not JSON"))?;
    let grant = parsed.get("grant_type").or_else(|| parsed.get("grantType"));
    match grant {
        Some(Value::String(g)) if g == "client_credentials" => {}
        None | Some(Value::Null) => {
            return Err(SpError::field(FieldProblem::Missing("grant_type".into())))
        }
        Some(_) => return Err(SpError::field(FieldProblem::Invalid("grant_type".into()))),
    }
    let (token, ttl) = state.issue_token(P);
    Ok(Json(json!({
        "status": 200,
        "success": true,
        "data": {"access_token": token, "token_type": "Bearer", "expires_in": ttl.to_string()},
    }))
    .into_response())
}

/// API key and bearer token, common to every call after the token.
fn check_key_and_token<'h>(state: &Books, headers: &'h HeaderMap) -> Result<&'h str, SpError> {
    let api_key = header(headers, "X-PARTNER-ID")
        .ok_or_else(|| SpError::field(FieldProblem::Missing("X-PARTNER-ID".into())))?;
    let auth = header(headers, "Authorization")
        .ok_or_else(|| SpError::field(FieldProblem::Missing("Authorization".into())))?;
    let token = auth
        .strip_prefix("Bearer ")
        .map(str::trim)
        .ok_or_else(|| SpError::new(401, "SP013", "Invalid access token"))?;
    state.check_token(P, token).map_err(|e| match e {
        TokenError::Expired => SpError::new(401, "SP013", "Access token expired"),
        TokenError::Unknown => SpError::new(401, "SP013", "Invalid access token"),
    })?;
    if !eq_ct(api_key, state.creds.singapay.api_key.expose()) {
        return Err(SpError::forbidden("Unauthorized partner"));
    }
    Ok(token)
}

/// v2.0 gate: key, token, X-Timestamp within the skew, signature; returns the body.
fn gate_v2(
    state: &Books,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, SpError> {
    let token = check_key_and_token(state, headers)?;
    let ts = header(headers, "X-Timestamp")
        .ok_or_else(|| SpError::field(FieldProblem::Missing("X-Timestamp".into())))?;
    let sig = header(headers, "X-Signature")
        .ok_or_else(|| SpError::field(FieldProblem::Missing("X-Signature".into())))?;
    let secs: i64 = ts
        .parse()
        .map_err(|_| SpError::field(FieldProblem::Invalid("X-Timestamp".into())))?;
    if (state.now().timestamp() - secs).unsigned_abs() > state.cfg.max_clock_skew_secs {
        return Err(SpError::field(FieldProblem::Invalid("X-Timestamp".into())));
    }
    let parsed: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|_| SpError::new(422, "SP018", "Body is not JSON"))?
    };
    let full = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or_else(|| uri.path());
    let endpoint = full
        .strip_prefix(state.cfg.singapay.unsigned_path_prefix.as_str())
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(full);
    let message = v2_string_to_sign(method.as_str(), endpoint, token, &parsed, ts);
    if !verify_hex(state.creds.singapay.client_secret.expose(), &message, sig) {
        return Err(SpError::bad_signature());
    }
    if !parsed.is_object() {
        return Err(SpError::new(422, "SP018", "Body is not a JSON object"));
    }
    Ok(parsed)
}

fn check_account(state: &Books, account_id: &str) -> Result<(), SpError> {
    if account_id != state.cfg.singapay.account_id {
        return Err(SpError::new(404, "SP020", "Merchant account not found"));
    }
    Ok(())
}

fn book_error(e: BookError) -> SpError {
    match e {
        BookError::Duplicate => SpError::new(409, "SP004", "Duplicate reference_number"),
        BookError::InsufficientFunds => SpError::new(403, "SP003", "Insufficient balance"),
    }
}

fn new_booking(
    state: &Books,
    kind: Kind,
    reference: String,
    account: &str,
    bank: &str,
    amount: Decimal,
    extra: Value,
) -> Booking {
    let now = state.now();
    Booking {
        provider: P,
        kind,
        plan: state.plan_for(P, &reference, account),
        reference,
        provider_reference: format!("{}", 36_000_000 + state.next_id()),
        booked_count: 0,
        duplicate_attempts: 0,
        status: Status::Init,
        amount,
        fee: state.creds.singapay.fee,
        beneficiary_account_no: account.to_owned(),
        beneficiary_bank_code: bank.to_owned(),
        beneficiary_name: format!(
            "SANDBOX ACCOUNT {}",
            &account[account.len().saturating_sub(4)..]
        ),
        transaction_date: timestamp::format(now),
        created_at: now,
        final_at: None,
        cancelled_reason: None,
        debits_balance: true,
        extra,
        settle_at: None,
    }
}

fn v1_status(s: Status) -> &'static str {
    match s {
        Status::Registered | Status::Init | Status::Pending => "pending",
        Status::Success => "success",
        Status::Cancelled
        | Status::Voided
        | Status::Rejected
        | Status::Failed
        | Status::Refunded => "failed",
    }
}

/// v1.0 transfer, as the seed document describes it.
async fn transfer_v1(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    check_key_and_token(&state, &headers)?;
    if !header(&headers, "Accept").is_some_and(|a| a.contains("application/json")) {
        // [D] header table: `Accept | application/json | Mandatory`.
        return Err(SpError::new(
            422,
            "SP018",
            "Invalid field format Accept (must be application/json)",
        ));
    }
    check_account(&state, &account_id)?;
    let parsed: Value = serde_json::from_slice(&body)
        .map_err(|_| SpError::new(422, "SP018", "Body is not JSON"))?;
    let o = Obj::root(&parsed).map_err(SpError::field)?;
    // [D] `password | Alphanumeric | - | 12`: optional, at most 12.
    o.opt("password", 12).map_err(SpError::field)?;
    // [D] `bank_account_number | Numeric | Mandatory`.
    let account = o.req("bank_account_number", 34).map_err(SpError::field)?;
    if !digits(account) {
        return Err(SpError::field(FieldProblem::Invalid(
            "bank_account_number".into(),
        )));
    }
    // [D] `notes | Alphabetic | -`; the sample is "lorem ipsum": letters and spaces.
    let notes = o.opt("notes", 255).map_err(SpError::field)?;
    if notes.is_some_and(|n| !n.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')) {
        return Err(SpError::field(FieldProblem::Invalid("notes".into())));
    }
    // [D] `amount | Numeric | Mandatory`; the sample sends the string "11000.00".
    let amount = o.number_or_string("amount").map_err(SpError::field)?;
    // [D] `currency | Alphabetic | -`; the sample "IDR".
    o.opt_one_of("currency", &["IDR"]).map_err(SpError::field)?;
    // [D] `bank_swift_code | … | Mandatory | 8`.
    let swift = o.req("bank_swift_code", 8).map_err(SpError::field)?;
    if account == magic::INVALID_ACCOUNT {
        return Err(SpError::new(404, "SP010", "Beneficiary account not found"));
    }
    // No client reference in [D]: the booking is keyed by the transaction id the
    // sandbox issues, so every call books again.
    let booking = new_booking(
        &state,
        Kind::TransferV1,
        String::new(),
        account,
        swift,
        amount,
        json!({"notes": notes}),
    );
    let reference = booking.provider_reference.clone();
    let plan = state.plan_for(P, &reference, account);
    let b = state
        .book(
            Booking {
                reference,
                plan,
                ..booking
            },
            true,
        )
        .map_err(book_error)?;
    let balance = state.balance(P);
    let ms = |t: chrono::DateTime<chrono::FixedOffset>| t.timestamp_millis();
    Ok(ok(json!({
        "transaction_id": b.provider_reference,
        "status": v1_status(b.status),
        "bank_code": b.beneficiary_bank_code,
        "bank_account_number": b.beneficiary_account_no,
        "bank_account_name": b.beneficiary_name,
        "post_timestamp": ms(b.created_at),
        "processed_timestamp": b.final_at.map(ms),
        "notes": notes,
        "amount": {"value": wire(b.amount), "currency": "IDR"},
        "fees": [{"name": "transfer service fee", "value": wire(b.fee), "currency": "IDR"}],
        "total_amount": {"value": wire(b.amount + b.fee), "currency": "IDR"},
        "source_account": {"account_id": account_id},
        "balance_after": {"value": wire(balance), "currency": "IDR"},
    })))
}

/// v2.0 `transaction_status`: code and description.
pub fn v2_status(b: &Booking) -> (&'static str, &'static str) {
    match b.status {
        Status::Init if b.plan == Plan::Stuck => ("03", "Pending"),
        Status::Registered | Status::Init => ("01", "Initiated"),
        Status::Pending => ("03", "Pending"),
        Status::Success => ("00", "Success"),
        Status::Refunded => ("04", "Refunded"),
        Status::Cancelled | Status::Voided | Status::Rejected => ("05", "Cancelled"),
        Status::Failed => ("06", "Failed"),
    }
}

/// The v2.0 transaction view (transfer answer, inquiry answer, webhook data).
pub(crate) fn v2_data(b: &Booking, account_id: &str) -> Value {
    let (code, desc) = v2_status(b);
    json!({
        "reference_number": b.reference,
        "transaction_id": b.provider_reference,
        "account_id": account_id,
        "transaction_status": {"code": code, "description": desc},
        "amount": {"value": wire(b.amount), "currency": "IDR"},
        "fee": {"value": wire(b.fee), "currency": "IDR"},
        "bank_code": b.beneficiary_bank_code,
        "bank_account_number": b.beneficiary_account_no,
        "bank_account_name": b.beneficiary_name,
        "notes": b.extra.get("remark"),
        "created_at": b.created_at.timestamp_millis(),
        "processed_at": b.final_at.map(|t| t.timestamp_millis()),
    })
}

/// v2.0 transfer with `reference_number` (duplicate → SP004).
async fn transfer_v2(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let parsed = gate_v2(&state, &method, &uri, &headers, &body)?;
    let o = Obj::root(&parsed).map_err(SpError::field)?;
    let reference = o.req("reference_number", 64).map_err(SpError::field)?;
    let account_id = o.req("account_id", 64).map_err(SpError::field)?;
    let bank = o.req("bank_code", 8).map_err(SpError::field)?;
    // [P] SDK e2e test: `bank_account_number` (a `bank_swift_code` is refused SP018).
    let account = o.req("bank_account_number", 34).map_err(SpError::field)?;
    if !digits(account) {
        return Err(SpError::field(FieldProblem::Invalid(
            "bank_account_number".into(),
        )));
    }
    if parsed.get("bank_swift_code").is_some() || parsed.get("beneficiary_account_number").is_some()
    {
        return Err(SpError::new(422, "SP018", "Unknown field for transfer"));
    }
    // [P] "The gateway enforces a 10,000 minimum; 5,000 answers `422 amount`";
    // the SDK sends a plain integer.
    let amount = match parsed.get("amount") {
        Some(Value::Number(n)) if n.as_u64().is_some() => {
            Decimal::from(n.as_u64().map_or(0, |v| v))
        }
        None | Some(Value::Null) => {
            return Err(SpError::field(FieldProblem::Missing("amount".into())))
        }
        Some(_) => return Err(SpError::field(FieldProblem::Invalid("amount".into()))),
    };
    if amount < Decimal::from(10_000u64) {
        return Err(SpError::new(422, "SP018", "amount must be at least 10000"));
    }
    // [P] Laravel documentation: optional `notes`.
    let remark = o.opt("notes", 100).map_err(SpError::field)?;
    check_account(&state, account_id)?;
    if account == magic::INVALID_ACCOUNT {
        return Err(SpError::new(404, "SP010", "Beneficiary account not found"));
    }
    let booking = new_booking(
        &state,
        Kind::Transfer,
        reference.to_owned(),
        account,
        bank,
        amount,
        json!({"remark": remark}),
    );
    let b = state.book(booking, false).map_err(book_error)?;
    Ok(ok(v2_data(&b, account_id)))
}

/// v2.0 inquiry-status by `reference_number`; unknown → 404 SP009
/// (TransactionNotFound, SDK `src/response-code.ts`) with code 07 ([N]).
async fn inquiry_status(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let parsed = gate_v2(&state, &method, &uri, &headers, &body)?;
    check_account(&state, &account_id)?;
    let o = Obj::root(&parsed).map_err(SpError::field)?;
    let reference = o.req("reference_number", 64).map_err(SpError::field)?;
    match state.get(P, Kind::Transfer, reference) {
        Some(b) => Ok(ok(v2_data(&b, &account_id))),
        None => Ok(error_response(
            404,
            "SP009",
            "Transaction not found",
            Some(json!({
                "reference_number": reference,
                "transaction_status": {"code": "07", "description": "Not Found"},
            })),
        )),
    }
}
