//! NICEPAY SNAP payout, under `/nicepay`.
//!
//! | method | path | service | fault name |
//! |---|---|---|---|
//! | POST | `/nicepay/v1.0/access-token/b2b` | 73 | `nicepay.token` |
//! | POST | `/nicepay/api/v1.0/transfer/registration` | 00 | `nicepay.registration` |
//! | POST | `/nicepay/api/v1.0/transfer/approve` | 00 | `nicepay.approve` |
//! | POST | `/nicepay/api/v1.0/transfer/inquiry` | 00 | `nicepay.inquiry` |
//! | POST | `/nicepay/api/v1.0/transfer/cancel` | 00 | `nicepay.cancel` |
//! | POST | `/nicepay/api/v1.0/transfer/reject` | 00 | `nicepay.reject` |
//! | POST | `/nicepay/api/v1.0/balance-inquiry` | 11 | `nicepay.balance` |
//!
//! `X-TIMESTAMP` must be the 25-character form of nicepay-payout-inquiry.txt:14
//! ([`valid_timestamp`]), on the token call too.
//! `CHANNEL-ID` must be client id + `01` (`IONPAYTEST01`). The signed path leaves
//! out `unsigned_path_prefix` (`/nicepay`), as NICEPAY's SDK does (unconfirmed).
//!
//! Flow: registration records the payout (status 03, nothing booked) → approve
//! books it (debits amount + fee, status 08 "in process") → the settler makes it 00
//! success or 09 failed (refunded). Cancel (04) and reject (05) are allowed only
//! before approve (`403xx15` after); a second approve is `409xx01` (already
//! processed: inquire), never a second booking.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::fields::{digits, Obj};
use super::magic;
use super::snap_auth::{
    self, amount_json, balance_answer, snap_ok, Checked, ServiceCheck, ServiceSignature, SnapError,
    SnapGate, TokenCheck,
};
use super::state::{
    AppState, ApproveError, BookError, Booking, Kind, Plan, State as Books, Status,
};
use super::{guarded, Endpoint};
use crate::domain::Provider;
use crate::snap::timestamp;

const P: Provider = crate::providers::nicepay::ID;

pub fn routes(state: AppState) -> Router {
    use Endpoint as E;
    Router::new()
        .route(
            "/nicepay/v1.0/access-token/b2b",
            guarded(&state, E::NicepayToken, post(token)),
        )
        .route(
            "/nicepay/api/v1.0/transfer/registration",
            guarded(&state, E::NicepayRegistration, post(registration)),
        )
        .route(
            "/nicepay/api/v1.0/transfer/approve",
            guarded(&state, E::NicepayApprove, post(approve)),
        )
        .route(
            "/nicepay/api/v1.0/transfer/inquiry",
            guarded(&state, E::NicepayInquiry, post(inquiry)),
        )
        .route(
            "/nicepay/api/v1.0/transfer/cancel",
            guarded(&state, E::NicepayCancel, post(cancel)),
        )
        .route(
            "/nicepay/api/v1.0/transfer/reject",
            guarded(&state, E::NicepayReject, post(reject)),
        )
        .route(
            "/nicepay/api/v1.0/balance-inquiry",
            guarded(&state, E::NicepayBalance, post(balance)),
        )
        .layer(axum::Extension(SnapGate(service_check)))
        .layer(axum::middleware::from_fn(nicepay_timestamp))
        .with_state(state)
}

/// The endpoint a NICEPAY path names (for the service code of a refusal).
fn endpoint_of(path: &str) -> Endpoint {
    use Endpoint as E;
    let last = path.rsplit('/').next().unwrap_or_default();
    match last {
        "b2b" => E::NicepayToken,
        "registration" => E::NicepayRegistration,
        "approve" => E::NicepayApprove,
        "inquiry" => E::NicepayInquiry,
        "cancel" => E::NicepayCancel,
        "reject" => E::NicepayReject,
        _ => E::NicepayBalance,
    }
}

/// Whether `value` is NICEPAY's `X-TIMESTAMP`: nicepay-payout-inquiry.txt:14,
/// "X-TIMESTAMP | String | 25 | Mandatory | … format YYYYMMDDTHH:mm:ss+07:00. Time must
/// be in GMT+7 (Jakarta time). 2022-03-21T10:11:40+07:00." Exactly 25 characters,
/// seconds precision (no fraction), offset `+07:00`. The document's own pattern
/// omits the date hyphens, its example has them; the example (and NICEPAY's SDKs,
/// `%Y-%m-%dT%H:%M:%S%:z`) is what is checked.
pub fn valid_timestamp(value: &str) -> bool {
    value.len() == 25
        && value.ends_with("+07:00")
        && chrono::DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%:z").is_ok()
}

/// Every NICEPAY request, token call included (the same header table): an
/// `X-TIMESTAMP` of any other form is `400xx01 Invalid Field Format X-TIMESTAMP`.
/// A missing one is left to the SNAP gate (`400xx02`).
async fn nicepay_timestamp(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let bad = snap_auth::header(req.headers(), "X-TIMESTAMP").is_some_and(|t| !valid_timestamp(t));
    if bad {
        return SnapError::invalid(endpoint_of(req.uri().path()), "X-TIMESTAMP").into_response();
    }
    next.run(req).await
}

type Reply = Result<Response, SnapError>;

/// `latestTransactionStatus` and its description.
pub fn status_code(s: Status) -> (&'static str, &'static str) {
    match s {
        Status::Registered => ("03", "Pending"),
        Status::Init | Status::Pending => ("08", "In Process"),
        Status::Success => ("00", "Success"),
        Status::Voided => ("04", "Cancelled"),
        Status::Rejected => ("05", "Rejected"),
        Status::Cancelled | Status::Failed | Status::Refunded => ("09", "Failed"),
    }
}

/// What the SNAP gate checks a NICEPAY service request against (see
/// [`Checked`]): every service alike; `CHANNEL-ID` is the client id + `01`.
pub(super) fn service_check(state: &Books, _: Endpoint) -> ServiceCheck<'_> {
    let c = &state.cfg.nicepay;
    ServiceCheck {
        client_id: &c.client_id,
        signature: ServiceSignature::Hmac(&state.creds.nicepay.client_secret),
        channel_id: Some(format!("{}01", c.client_id).into()),
        unsigned_path_prefix: &c.unsigned_path_prefix,
        external_id_required: true,
    }
}

async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Reply {
    let ep = Endpoint::NicepayToken;
    let c = &state.cfg.nicepay;
    snap_auth::verify_token_request(
        &state,
        ep,
        &TokenCheck {
            client_id: &c.client_id,
            separator: &c.token_separator,
            public_key: &state.creds.nicepay.public_key,
        },
        &headers,
        &body,
    )?;
    let (token, ttl) = state.issue_token(P);
    // NICEPAY sends expiresIn as a string.
    Ok(snap_ok(
        ep,
        200,
        "Successful",
        json!({"accessToken": token, "tokenType": "Bearer", "expiresIn": ttl.to_string()}),
    ))
}

fn check_merchant(state: &Books, ep: Endpoint, o: &Obj<'_>) -> Result<(), SnapError> {
    let m = o
        .req("merchantId", 10)
        .map_err(|p| SnapError::field(ep, p))?;
    if m != state.cfg.nicepay.merchant_id {
        return Err(SnapError::invalid(ep, "merchantId"));
    }
    Ok(())
}

async fn registration(State(state): State<AppState>, req: Checked) -> Reply {
    let (ep, f, o) = (req.ep, req.problem(), req.obj()?);
    check_merchant(&state, ep, &o)?;
    o.opt("msId", 20).map_err(f)?;
    let reference = o.req("partnerReferenceNo", 40).map_err(f)?;
    let account = o.req("beneficiaryAccountNo", 25).map_err(f)?;
    if !digits(account) {
        return Err(SnapError::invalid(ep, "beneficiaryAccountNo"));
    }
    let name = o.req("beneficiaryName", 100).map_err(f)?;
    // [P] NICEPAY's registration page (docs.nicepay.co.id, "Registration - API
    // Payout (Disbursement) SNAP"): "beneficiaryPhone | String | 20 | Mandatory";
    // every NICEPAY SDK sends one. Missing → `400xx02`, longer → `400xx01`.
    let phone = o.req("beneficiaryPhone", 20).map_err(f)?;
    // Both "String 2 Mandatory"; the values are nicepay-payout-inquiry.txt:32-33
    // ("1: Indonesia 2: Non Indonesia"; "1: Personal 2: Company 3: Government").
    let residence = o
        .req_one_of("beneficiaryCustomerResidence", &["1", "2"])
        .map_err(f)?;
    let customer_type = o
        .req_one_of("beneficiaryCustomerType", &["1", "2", "3"])
        .map_err(f)?;
    o.opt("beneficiaryPostalCode", 10).map_err(f)?;
    // [P] every NICEPAY SDK sends it (python-nicepay SNAP payout test
    // `.setPayoutMethod("1")`); NICEPAY's v2 page marks it Required with values
    // 0 overbooking, 1 online, 2 SKN, 3 RTGS, 4 cashout. Mandatory here.
    o.req_one_of("payoutMethod", &["0", "1", "2", "3", "4"])
        .map_err(f)?;
    let bank = o.req("beneficiaryBankCode", 4).map_err(f)?;
    o.opt("description", 100).map_err(f)?;
    o.opt("reservedDt", 8).map_err(f)?;
    o.opt("reservedTm", 6).map_err(f)?;
    let amount = o.amount("amount", "amount").map_err(f)?;
    if amount.is_zero() {
        return Err(SnapError::invalid(ep, "amount.value"));
    }
    if account == magic::INVALID_ACCOUNT {
        return Err(SnapError::new(ep, 404, 11, "Invalid Account"));
    }
    let now = state.now();
    let booking = Booking {
        provider: P,
        kind: Kind::Transfer,
        reference: reference.to_owned(),
        provider_reference: format!(
            "{}{}{:010}",
            state.cfg.nicepay.merchant_id,
            now.format("%y%m%d"),
            state.next_id()
        ),
        booked_count: 0,
        duplicate_attempts: 0,
        status: Status::Registered,
        plan: state.plan_for(P, reference, account),
        amount,
        fee: state.creds.nicepay.fee,
        beneficiary_account_no: account.to_owned(),
        beneficiary_bank_code: bank.to_owned(),
        beneficiary_name: name.to_owned(),
        transaction_date: timestamp::format(now),
        created_at: now,
        final_at: None,
        cancelled_reason: None,
        debits_balance: true,
        // As sent, for the inquiry answer and for tests (`GET /admin/bookings`).
        extra: json!({
            "beneficiaryPhone": phone,
            "beneficiaryCustomerResidence": residence,
            "beneficiaryCustomerType": customer_type,
        }),
        settle_at: None,
    };
    let b = match state.register(booking) {
        Ok(b) => b,
        Err(BookError::Duplicate) => {
            // NOTES.md (SNAP codes): a repeated partnerReferenceNo is `409xx01`.
            // What else the answer carries is in no source (review §6 #9, NOTES.md
            // Corrections: "do not rely on it naming the existing reference"), so it
            // carries nothing else: no referenceNo, no status.
            let body = json!({
                "responseCode": crate::snap::ResponseCode::new(409, ep.service(), 1).to_string(),
                "responseMessage": "Duplicate partnerReferenceNo",
            });
            return Ok((axum::http::StatusCode::CONFLICT, axum::Json(body)).into_response());
        }
        Err(BookError::InsufficientFunds) => {
            return Err(SnapError::new(ep, 403, 14, "Insufficient Funds"))
        }
    };
    let (code, desc) = status_code(b.status);
    Ok(snap_ok(
        ep,
        200,
        "Successful",
        json!({
            "referenceNo": b.provider_reference,
            "partnerReferenceNo": b.reference,
            "beneficiaryAccountNo": b.beneficiary_account_no,
            "beneficiaryName": b.beneficiary_name,
            "beneficiaryBankCode": b.beneficiary_bank_code,
            "amount": amount_json(b.amount),
            "transactionDate": b.transaction_date,
            "latestTransactionStatus": code,
            "transactionStatusDesc": desc,
        }),
    ))
}

/// The body fields every follow-up call (approve, inquiry, cancel, reject) names.
fn find(state: &Books, ep: Endpoint, o: &Obj<'_>) -> Result<Booking, SnapError> {
    let f = |p| SnapError::field(ep, p);
    check_merchant(state, ep, o)?;
    let provider_ref = o.req("originalReferenceNo", 40).map_err(f)?;
    let reference = o.req("originalPartnerReferenceNo", 40).map_err(f)?;
    state
        .get(P, Kind::Transfer, reference)
        .filter(|b| b.provider_reference == provider_ref)
        .ok_or_else(|| SnapError::new(ep, 404, 1, "Transaction Not Found"))
}

fn status_body(b: &Booking) -> Value {
    let (code, desc) = status_code(b.status);
    json!({
        "originalReferenceNo": b.provider_reference,
        "originalPartnerReferenceNo": b.reference,
        "beneficiaryAccountNo": b.beneficiary_account_no,
        "beneficiaryName": b.beneficiary_name,
        "beneficiaryCustomerResidence": b.extra.get("beneficiaryCustomerResidence"),
        "beneficiaryCustomerType": b.extra.get("beneficiaryCustomerType"),
        "beneficiaryBankCode": b.beneficiary_bank_code,
        "amount": amount_json(b.amount),
        "transactionDate": b.transaction_date,
        "latestTransactionStatus": code,
        "transactionStatusDesc": desc,
    })
}

/// The notification body (same shape as an inquiry answer, plus merchantId).
pub(crate) fn notify_body(b: &Booking, status: Status, merchant_id: &str) -> Value {
    let mut v = status_body(&Booking {
        status,
        ..b.clone()
    });
    v["merchantId"] = json!(merchant_id);
    v
}

async fn approve(State(state): State<AppState>, req: Checked) -> Reply {
    let (ep, o) = (req.ep, req.obj()?);
    let b = find(&state, ep, &o)?;
    let approved = state
        .approve(P, &b.reference)
        .ok_or_else(|| SnapError::new(ep, 404, 1, "Transaction Not Found"))?;
    let b = approved.map_err(|e| match e {
        ApproveError::InsufficientFunds => SnapError::new(ep, 403, 14, "Insufficient Funds"),
        ApproveError::NotRegistered(Status::Voided | Status::Rejected) => {
            SnapError::new(ep, 403, 15, "Transaction Not Permitted")
        }
        ApproveError::NotRegistered(_) => {
            SnapError::new(ep, 409, 1, "Duplicate: transaction already approved")
        }
    })?;
    Ok(snap_ok(ep, 200, "Successful", status_body(&b)))
}

async fn inquiry(State(state): State<AppState>, req: Checked) -> Reply {
    let (ep, f, o) = (req.ep, req.problem(), req.obj()?);
    let b = find(&state, ep, &o)?;
    let account = o.req("beneficiaryAccountNo", 25).map_err(f)?;
    if account != b.beneficiary_account_no {
        return Err(SnapError::new(ep, 404, 1, "Transaction Not Found"));
    }
    Ok(snap_ok(ep, 200, "Successful", status_body(&b)))
}

async fn cancel(State(state): State<AppState>, req: Checked) -> Reply {
    void(Status::Voided, &state, &req)
}

async fn reject(State(state): State<AppState>, req: Checked) -> Reply {
    void(Status::Rejected, &state, &req)
}

/// Cancel or reject a registered (not yet approved) payout.
fn void(to: Status, state: &Books, req: &Checked) -> Reply {
    let (ep, o) = (req.ep, req.obj()?);
    let b = find(state, ep, &o)?;
    let now = state.now();
    let changed = state
        .update(P, Kind::Transfer, &b.reference, |_, b| {
            if b.status != Status::Registered {
                return None;
            }
            b.status = to;
            b.plan = Plan::Stuck;
            b.final_at = Some(now);
            Some(b.clone())
        })
        .flatten()
        .ok_or_else(|| SnapError::new(ep, 403, 15, "Transaction Not Permitted"))?;
    Ok(snap_ok(ep, 200, "Successful", status_body(&changed)))
}

async fn balance(State(state): State<AppState>, req: Checked) -> Reply {
    let (ep, f, o) = (req.ep, req.problem(), req.obj()?);
    let merchant = state.cfg.nicepay.merchant_id.clone();
    if o.opt("accountNo", 34)
        .map_err(f)?
        .is_some_and(|a| a != merchant)
    {
        return Err(SnapError::new(ep, 404, 11, "Invalid Account"));
    }
    let reference = o.opt("partnerReferenceNo", 64).map_err(f)?;
    Ok(balance_answer(&state, ep, reference, &merchant, &merchant))
}
