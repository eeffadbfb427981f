//! iFortepay: disbursement (served from the Senmo hosts) and direct debit, under
//! `/ifortepay`.
//!
//! | method | path | service | fault name |
//! |---|---|---|---|
//! | POST | `/ifortepay/api/v1.0/access-token/b2b` | 73 | `ifortepay.token` |
//! | POST | `/ifortepay/api/v1.0/account-inquiry-external` | 16 | `ifortepay.account_inquiry` |
//! | POST | `/ifortepay/api/v1.0/balance-inquiry` | 11 | `ifortepay.balance` |
//! | POST | `/ifortepay/api/v1.2/transfer-interbank` | 18 | `ifortepay.transfer` |
//! | POST | `/ifortepay/api/v1.0/transaction-history-list` | 12 | `ifortepay.history_list` |
//! | POST | `/ifortepay/api/v1.0/transaction-history-detail` | 13 | `ifortepay.history_detail` |
//! | GET  | `/ifortepay/api/v1.0/profile` | 00 | `ifortepay.profile` |
//! | POST | `/ifortepay/v1.0/debit/payment-host-to-host` | 54 | `ifortepay.debit_payment` |
//! | POST | `/ifortepay/v1.0/debit/status` | 55 | `ifortepay.debit_status` |
//!
//! Disbursement calls need `CHANNEL-ID` = `channel_id` (`api`), direct debit calls
//! `debit_channel_id` (`DD003`); the profile needs no X-EXTERNAL-ID or CHANNEL-ID.
//! Transfers follow the request table of ifortepay-transfer-interbank.txt field by
//! field; see [`transfer`] for the order of checks.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Months;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::fields::{array_item, digits, FieldProblem, Obj};
use super::magic;
use super::snap_auth::{self, snap_ok, ServiceCheck, SnapError, TokenCheck};
use super::state::{wire, AppState, BookError, Booking, Kind, Plan, State as Books, Status};
use super::{guarded, Endpoint};
use crate::domain::Provider;
use crate::snap::timestamp;

const P: Provider = crate::providers::ifortepay::ID;

/// Smallest and largest transfer (IDR), from the transfer-interbank page.
pub const MIN_TRANSFER: i64 = 10_000;
pub const MAX_TRANSFER: i64 = 250_000_000;

pub fn routes(state: AppState) -> Router {
    use Endpoint as E;
    Router::new()
        .route(
            "/ifortepay/api/v1.0/access-token/b2b",
            guarded(&state, E::IfortepayToken, post(token)),
        )
        .route(
            "/ifortepay/api/v1.0/account-inquiry-external",
            guarded(&state, E::IfortepayAccountInquiry, post(account_inquiry)),
        )
        .route(
            "/ifortepay/api/v1.0/balance-inquiry",
            guarded(&state, E::IfortepayBalance, post(balance)),
        )
        .route(
            "/ifortepay/api/v1.2/transfer-interbank",
            guarded(&state, E::IfortepayTransfer, post(transfer)),
        )
        .route(
            "/ifortepay/api/v1.0/transaction-history-list",
            guarded(&state, E::IfortepayHistoryList, post(history_list)),
        )
        .route(
            "/ifortepay/api/v1.0/transaction-history-detail",
            guarded(&state, E::IfortepayHistoryDetail, post(history_detail)),
        )
        .route(
            "/ifortepay/api/v1.0/profile",
            guarded(&state, E::IfortepayProfile, get(profile)),
        )
        .route(
            "/ifortepay/v1.0/debit/payment-host-to-host",
            guarded(&state, E::IfortepayDebitPayment, post(debit_payment)),
        )
        .route(
            "/ifortepay/v1.0/debit/status",
            guarded(&state, E::IfortepayDebitStatus, post(debit_status)),
        )
        .with_state(state)
}

type Reply = Result<Response, SnapError>;

/// The wire value of `additionalInfo.status`.
pub fn status_str(s: Status) -> &'static str {
    match s {
        Status::Registered | Status::Init | Status::Pending => "INIT",
        Status::Success => "SUCCESS",
        Status::Cancelled
        | Status::Voided
        | Status::Rejected
        | Status::Failed
        | Status::Refunded => "CANCELLED",
    }
}

fn amount_json(d: Decimal) -> Value {
    json!({"value": wire(d), "currency": "IDR"})
}

fn gate(
    state: &Books,
    ep: Endpoint,
    channel: Option<&str>,
    external_required: bool,
    req: (&Method, &axum::http::Uri, &HeaderMap, &[u8]),
) -> Result<Value, SnapError> {
    let c = &state.cfg.ifortepay;
    snap_auth::verify_service_request(
        state,
        ep,
        &ServiceCheck {
            client_id: &c.client_id,
            secret: &state.creds.ifortepay.client_secret,
            channel_id: channel,
            unsigned_path_prefix: &c.unsigned_path_prefix,
            external_id_required: external_required,
        },
        req.0,
        req.1,
        req.2,
        req.3,
    )
}

async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Reply {
    let ep = Endpoint::IfortepayToken;
    let c = &state.cfg.ifortepay;
    snap_auth::verify_token_request(
        &state,
        ep,
        &TokenCheck {
            client_id: &c.client_id,
            separator: &c.token_separator,
            public_key: &state.creds.ifortepay.public_key,
        },
        &headers,
        &body,
    )?;
    let (token, ttl) = state.issue_token(P);
    Ok(snap_ok(
        ep,
        200,
        "Successful",
        json!({"accessToken": token, "tokenType": "Bearer", "expiresIn": ttl}),
    ))
}

fn account_name(account: &str) -> String {
    let tail: String = account
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("SANDBOX ACCOUNT {tail}")
}

async fn account_inquiry(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let ep = Endpoint::IfortepayAccountInquiry;
    let channel = state.cfg.ifortepay.channel_id.clone();
    let body = gate(
        &state,
        ep,
        Some(&channel),
        true,
        (&method, &uri, &headers, &body),
    )?;
    let f = |p| SnapError::field(ep, p);
    let o = Obj::root(&body).map_err(f)?;
    let bank = o.req("beneficiaryBankCode", 8).map_err(f)?;
    let account = o.req("beneficiaryAccountNo", 34).map_err(f)?;
    if !digits(account) {
        return Err(SnapError::invalid(ep, "beneficiaryAccountNo"));
    }
    let reference = o.opt("partnerReferenceNo", 64).map_err(f)?;
    if account == magic::INVALID_ACCOUNT {
        return Err(SnapError::new(ep, 404, 11, "Invalid Account"));
    }
    let answer = json!({
        "referenceNo": format!("INQ{:014}", state.next_id()),
        "partnerReferenceNo": reference,
        "beneficiaryAccountName": account_name(account),
        "beneficiaryAccountNo": account,
        "beneficiaryBankCode": bank,
        "beneficiaryBankName": format!("BANK {bank}"),
        "currency": "IDR",
    });
    if let Some(r) = reference {
        let mut record = answer.clone();
        record["dateTime"] = json!(timestamp::format(state.now()));
        super::faults::lock(&state.books)
            .inquiries
            .insert(r.to_owned(), record);
    }
    Ok(snap_ok(ep, 200, "Successful", answer))
}

async fn balance(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let ep = Endpoint::IfortepayBalance;
    let c = &state.cfg.ifortepay;
    let body = gate(
        &state,
        ep,
        Some(&c.channel_id),
        true,
        (&method, &uri, &headers, &body),
    )?;
    let f = |p| SnapError::field(ep, p);
    let o = Obj::root(&body).map_err(f)?;
    let account = o.opt("accountNo", 34).map_err(f)?;
    if account.is_some_and(|a| a != c.business_account_number) {
        return Err(SnapError::new(ep, 404, 11, "Invalid Account"));
    }
    o.opt("balanceType", 20).map_err(f)?;
    let reference = o.opt("partnerReferenceNo", 64).map_err(f)?;
    Ok(balance_answer(
        &state,
        ep,
        reference,
        &c.business_account_number,
        &c.business_name,
    ))
}

/// The SNAP balance-inquiry answer (shared with NICEPAY).
pub(crate) fn balance_answer(
    state: &Books,
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

const IDENTITY_TYPES: &[&str] = &[
    "ktp",
    "driving license",
    "passport",
    "bank account",
    "limited stay visa",
];
const JOBS: &[&str] = &[
    "housewife",
    "entrepreneur",
    "employee",
    "government_employee",
    "foundation_board",
    "indonesian_migrant_worker",
    "company",
    "others",
];

fn one_of_ci(o: &Obj<'_>, name: &str, path: &str, allowed: &[&str]) -> Result<(), FieldProblem> {
    match o.opt(name, 64)? {
        Some(v) if !allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) => {
            Err(FieldProblem::Invalid(format!("{path}.{name}")))
        }
        _ => Ok(()),
    }
}

/// Every check of the transfer-interbank request table, in table order; the first
/// failure is answered (`400xx02` missing / `400xx01` invalid, naming the field).
fn validate_transfer(o: &Obj<'_>, business_account: &str) -> Result<TransferFields, FieldProblem> {
    let reference = o.req("partnerReferenceNo", 64)?.to_owned();
    let amount = o.amount("amount", "amount")?;
    let name = o.req("beneficiaryAccountName", 100)?.to_owned();
    let account = o.req("beneficiaryAccountNo", 34)?.to_owned();
    if !digits(&account) {
        return Err(FieldProblem::Invalid("beneficiaryAccountNo".into()));
    }
    o.opt("beneficiaryAddress", 100)?;
    let bank = o.req("beneficiaryBankCode", 8)?.to_owned();
    o.opt("beneficiaryBankName", 50)?;
    o.opt("beneficiaryEmail", 50)?;
    o.opt_one_of("currency", &["IDR"])?;
    o.opt("customerReference", 30)?;
    let source = o.req("sourceAccountNo", 19)?;
    if source != business_account {
        return Err(FieldProblem::Invalid("sourceAccountNo".into()));
    }
    let date = o.req("transactionDate", 25)?.to_owned();
    if timestamp::parse(&date).is_err() {
        return Err(FieldProblem::Invalid("transactionDate".into()));
    }
    o.opt_one_of("feeType", &["OUR"])?;
    let originators = o.req_array("originatorInfos")?;
    for (i, item) in originators.iter().enumerate() {
        let path = format!("originatorInfos[{i}]");
        let it = array_item(item, &path)?;
        it.req("originatorCustomerNo", 34)?;
        it.req("originatorBankCode", 8)?;
        it.req("originatorCustomerName", 100)?;
    }
    let ai = o.req_obj("additionalInfo", "additionalInfo")?;
    if let Some(remark) = ai.opt("remark", 100)? {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ',' | ' ');
        if !remark.chars().all(ok) {
            return Err(FieldProblem::Invalid("additionalInfo.remark".into()));
        }
    }
    ai.req_one_of("transactionPurpose", &["1", "2", "3"])?;
    ai.req("beneficiaryCountry", 64)?;
    ai.req("beneficiaryCity", 64)?;
    ai.req("senderCountry", 64)?;
    ai.req("senderCity", 64)?;
    ai.opt("senderPlaceOfBirth", 64)?;
    if let Some(dob) = ai.opt("senderDateOfBirth", 10)? {
        if chrono::NaiveDate::parse_from_str(dob, "%Y-%m-%d").is_err() {
            return Err(FieldProblem::Invalid(
                "additionalInfo.senderDateOfBirth".into(),
            ));
        }
    }
    one_of_ci(&ai, "senderIdentityType", "additionalInfo", IDENTITY_TYPES)?;
    ai.opt("senderAddress", 255)?;
    if let Some(id) = ai.opt("senderIdentityNo", 50)? {
        if !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(FieldProblem::Invalid(
                "additionalInfo.senderIdentityNo".into(),
            ));
        }
    }
    one_of_ci(&ai, "senderJob", "additionalInfo", JOBS)?;
    ai.opt_one_of("direction", &["DOMESTIC"])?;
    ai.opt("originCountryOfTransaction", 64)?;
    ai.opt("senderNickName", 100)?;
    ai.opt("senderTaxpayerRegistration", 64)?;
    ai.opt("sourceOfFund", 64)?;
    ai.opt("senderPhoneNumber", 32)?;
    ai.opt_one_of("senderGender", &["Male", "Female"])?;
    ai.opt_one_of("isVirtualAccount", &["Y", "N"])?;
    Ok(TransferFields {
        reference,
        amount,
        name,
        account,
        bank,
        date,
    })
}

struct TransferFields {
    reference: String,
    amount: Decimal,
    name: String,
    account: String,
    bank: String,
    date: String,
}

/// Transfer interbank. After the SNAP gate: field checks, then the amount limits
/// (`403xx02`), the magic invalid account (`404xx11`), then booking: a repeated
/// partnerReferenceNo is `409xx01`, too little balance for amount + fee `403xx14`.
/// Booked transfers answer `2021800` INIT, or `2001800` with the final status when
/// `settlement_delay_ms` is 0.
async fn transfer(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let ep = Endpoint::IfortepayTransfer;
    let c = &state.cfg.ifortepay;
    let body = gate(
        &state,
        ep,
        Some(&c.channel_id),
        true,
        (&method, &uri, &headers, &body),
    )?;
    let f = |p| SnapError::field(ep, p);
    let o = Obj::root(&body).map_err(f)?;
    let t = validate_transfer(&o, &c.business_account_number).map_err(f)?;
    if t.amount < Decimal::from(MIN_TRANSFER) || t.amount > Decimal::from(MAX_TRANSFER) {
        return Err(SnapError::new(
            ep,
            403,
            2,
            "Exceeds Transaction Amount Limit",
        ));
    }
    if t.account == magic::INVALID_ACCOUNT {
        return Err(SnapError::new(ep, 404, 11, "Invalid Account"));
    }
    let now = state.now();
    let booking = Booking {
        provider: P,
        kind: Kind::Transfer,
        plan: state.plan_for(P, &t.reference, &t.account),
        reference: t.reference,
        provider_reference: format!("STI{}{:011}", now.format("%y%m%d"), state.next_id()),
        booked_count: 0,
        duplicate_attempts: 0,
        status: Status::Init,
        amount: t.amount,
        fee: state.creds.ifortepay.fee,
        beneficiary_account_no: t.account,
        beneficiary_bank_code: t.bank,
        beneficiary_name: t.name,
        transaction_date: t.date,
        created_at: now,
        final_at: None,
        cancelled_reason: None,
        debits_balance: true,
        extra: json!({
            "sourceAccountNo": body.get("sourceAccountNo"),
            "originatorInfos": body.get("originatorInfos"),
            "additionalInfo": body.get("additionalInfo"),
        }),
        settle_at: None,
    };
    let booked = state.book(booking, false).map_err(|e| match e {
        BookError::Duplicate => SnapError::new(ep, 409, 1, "Duplicate partnerReferenceNo"),
        BookError::InsufficientFunds => SnapError::new(ep, 403, 14, "Insufficient Funds"),
    })?;
    let (http, message) = if booked.status.is_final() {
        (200, "Successful")
    } else {
        (202, "Request In Progress")
    };
    Ok(snap_ok(ep, http, message, transfer_body(&booked)))
}

/// The transfer answer body (also the core of history detail).
fn transfer_body(b: &Booking) -> Value {
    let req_ai = b
        .extra
        .get("additionalInfo")
        .cloned()
        .unwrap_or(Value::Null);
    let pick = |k: &str| req_ai.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "referenceNo": b.provider_reference,
        "partnerReferenceNo": b.reference,
        "amount": amount_json(b.amount),
        "beneficiaryAccountNo": b.beneficiary_account_no,
        "beneficiaryBankCode": b.beneficiary_bank_code,
        "sourceAccountNo": b.extra.get("sourceAccountNo"),
        "transactionDate": b.transaction_date,
        "additionalInfo": {
            "beneficiaryAccountName": b.beneficiary_name,
            "fee": amount_json(b.fee),
            "status": status_str(b.status),
            "cancelledReason": b.cancelled_reason.clone().unwrap_or_default(),
            "transactionPurpose": pick("transactionPurpose"),
            "beneficiaryCountry": pick("beneficiaryCountry"),
            "beneficiaryCity": pick("beneficiaryCity"),
            "senderCountry": pick("senderCountry"),
            "senderCity": pick("senderCity"),
            "direction": "DOMESTIC",
            "isVirtualAccount": req_ai.get("isVirtualAccount").cloned().unwrap_or(json!("N")),
            "executionDate": null,
        },
        "originatorInfos": b.extra.get("originatorInfos"),
    })
}

/// The disbursement callback body, as the transfer-interbank page shows it.
pub(crate) fn callback_body(b: &Booking, status: Status) -> Value {
    let req_ai = b
        .extra
        .get("additionalInfo")
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "referenceNo": b.provider_reference,
        "partnerReferenceNo": b.reference,
        "amount": amount_json(b.amount),
        "beneficiaryAccountNo": b.beneficiary_account_no,
        "beneficiaryBankCode": b.beneficiary_bank_code,
        "sourceAccountNo": b.extra.get("sourceAccountNo"),
        "additionalInfo": {
            "beneficiaryAccountName": b.beneficiary_name,
            "fee": amount_json(b.fee),
            "status": status_str(status),
            "cancelledReason": if status == Status::Cancelled { b.cancelled_reason.clone().unwrap_or_default() } else { String::new() },
            "additionalInfo": {
                "direction": "DOMESTIC",
                "transactionPurpose": req_ai.get("transactionPurpose"),
                "isVirtualAccount": req_ai.get("isVirtualAccount").cloned().unwrap_or(json!("N")),
            },
        },
        "originatorInfos": b.extra.get("originatorInfos"),
    })
}

/// History list: `fromDateTime`..`toDateTime` (at most 3 months apart), newest
/// last; `pageSize` (1–100, default 10) and `pageNumber` (from 1); optional `filter`
/// = INIT | SUCCESS | CANCELLED. Paging facts are in `additionalInfo`.
async fn history_list(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let ep = Endpoint::IfortepayHistoryList;
    let c = &state.cfg.ifortepay;
    let body = gate(
        &state,
        ep,
        Some(&c.channel_id),
        true,
        (&method, &uri, &headers, &body),
    )?;
    let f = |p| SnapError::field(ep, p);
    let o = Obj::root(&body).map_err(f)?;
    let reference = o.opt("partnerReferenceNo", 64).map_err(f)?;
    let from = o.req("fromDateTime", 35).map_err(f)?;
    let from = timestamp::parse(from).map_err(|_| SnapError::invalid(ep, "fromDateTime"))?;
    let to = o.req("toDateTime", 35).map_err(f)?;
    let to = timestamp::parse(to).map_err(|_| SnapError::invalid(ep, "toDateTime"))?;
    if to < from
        || from
            .checked_add_months(Months::new(3))
            .map_or(true, |limit| to > limit)
    {
        return Err(SnapError::invalid(ep, "toDateTime"));
    }
    let page_size = o.opt_uint("pageSize", 100).map_err(f)?.unwrap_or(10).max(1);
    let page_number = o
        .opt_uint("pageNumber", u64::from(u32::MAX))
        .map_err(f)?
        .unwrap_or(1)
        .max(1);
    let filter = o
        .opt_one_of("filter", &["INIT", "SUCCESS", "CANCELLED"])
        .map_err(f)?;
    let all: Vec<Booking> = state
        .all_bookings()
        .into_iter()
        .filter(|b| b.provider == P && b.kind == Kind::Transfer)
        .filter(|b| b.created_at >= from && b.created_at <= to)
        .filter(|b| filter.map_or(true, |s| status_str(b.status) == s))
        .collect();
    let total = all.len() as u64;
    let skip = (page_number - 1).saturating_mul(page_size);
    let page: Vec<Value> = all
        .iter()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(usize::try_from(page_size).unwrap_or(usize::MAX))
        .map(|b| {
            json!({
                "dateTime": timestamp::format(b.created_at),
                "amount": amount_json(b.amount),
                "remark": b.extra.pointer("/additionalInfo/remark"),
                "sourceOfFunds": [{"source": "BALANCE", "amount": amount_json(b.amount + b.fee)}],
                "status": status_str(b.status),
                "type": "SEND_MONEY",
                "additionalInfo": {
                    "referenceNo": b.provider_reference,
                    "partnerReferenceNo": b.reference,
                    "beneficiaryAccountNo": b.beneficiary_account_no,
                    "beneficiaryBankCode": b.beneficiary_bank_code,
                    "fee": amount_json(b.fee),
                    "status": status_str(b.status),
                },
            })
        })
        .collect();
    Ok(snap_ok(
        ep,
        200,
        "Successful",
        json!({
            "referenceNo": format!("HIS{:014}", state.next_id()),
            "partnerReferenceNo": reference,
            "detailData": page,
            "additionalInfo": {
                "pageNumber": page_number,
                "pageSize": page_size,
                "totalData": total,
                "totalPage": total.div_ceil(page_size),
            },
        }),
    ))
}

/// History detail of one transfer (`additionalInfo.type` SEND_MONEY) or account
/// inquiry (INQUIRY) by `originPartnerReferenceNo`; unknown → `4041301`.
async fn history_detail(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let ep = Endpoint::IfortepayHistoryDetail;
    let c = &state.cfg.ifortepay;
    let body = gate(
        &state,
        ep,
        Some(&c.channel_id),
        true,
        (&method, &uri, &headers, &body),
    )?;
    let f = |p| SnapError::field(ep, p);
    let o = Obj::root(&body).map_err(f)?;
    let origin = o.req("originPartnerReferenceNo", 64).map_err(f)?;
    let ai = o.req_obj("additionalInfo", "additionalInfo").map_err(f)?;
    let kind = ai
        .req_one_of("type", &["SEND_MONEY", "INQUIRY"])
        .map_err(f)?;
    let not_found = || SnapError::new(ep, 404, 1, "Transaction Not Found");
    if kind == "INQUIRY" {
        let record = super::faults::lock(&state.books)
            .inquiries
            .get(origin)
            .cloned()
            .ok_or_else(not_found)?;
        let mut fields = record;
        fields["type"] = json!("INQUIRY");
        fields["originPartnerReferenceNo"] = json!(origin);
        return Ok(snap_ok(ep, 200, "Successful", fields));
    }
    let b = state.get(P, Kind::Transfer, origin).ok_or_else(not_found)?;
    let mut fields = transfer_body(&b);
    fields["originPartnerReferenceNo"] = json!(origin);
    fields["type"] = json!("SEND_MONEY");
    fields["status"] = json!(status_str(b.status));
    fields["dateTime"] = json!(timestamp::format(b.created_at));
    Ok(snap_ok(ep, 200, "Successful", fields))
}

/// Merchant profile: `detailData.businessAccountNumber` is the `sourceAccountNo`.
async fn profile(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let ep = Endpoint::IfortepayProfile;
    let c = &state.cfg.ifortepay;
    gate(&state, ep, None, false, (&method, &uri, &headers, &body))?;
    Ok(snap_ok(
        ep,
        200,
        "Successful",
        json!({
            "detailData": {
                "clientId": c.client_id,
                "businessName": c.business_name,
                "brandName": c.business_name,
                "businessAccountNumber": c.business_account_number,
                "status": "ACTIVE",
            }
        }),
    ))
}

/// The direct-debit `latestTransactionStatus`.
pub fn debit_status_code(s: Status) -> (&'static str, &'static str) {
    match s {
        Status::Success => ("00", "Success"),
        Status::Registered | Status::Init => ("01", "Initiated"),
        Status::Pending => ("03", "Pending"),
        Status::Refunded => ("04", "Refunded"),
        Status::Failed | Status::Cancelled | Status::Voided | Status::Rejected => ("06", "Failed"),
    }
}

/// Direct debit payment host-to-host (54). With OTP (`additionalInfo.isWithOtp` =
/// `Y`) the answer carries a chargeToken and the payment stays initiated (01); the
/// OTP step itself is not simulated. Without OTP it settles like a transfer; the
/// magic amounts in [`magic`] make it pending, refunded or failed.
async fn debit_payment(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let ep = Endpoint::IfortepayDebitPayment;
    let c = &state.cfg.ifortepay;
    let body = gate(
        &state,
        ep,
        Some(&c.debit_channel_id),
        true,
        (&method, &uri, &headers, &body),
    )?;
    let f = |p| SnapError::field(ep, p);
    let o = Obj::root(&body).map_err(f)?;
    let reference = o.req("partnerReferenceNo", 64).map_err(f)?;
    o.req("bankCardToken", 560).map_err(f)?;
    o.req("chargeToken", 50).map_err(f)?;
    let amount = o.amount("amount", "amount").map_err(f)?;
    if let Some(Value::Array(params)) = body.get("urlParam") {
        for (i, item) in params.iter().enumerate() {
            let path = format!("urlParam[{i}]");
            let it = array_item(item, &path).map_err(f)?;
            it.req("url", 512).map_err(f)?;
            it.req_one_of("type", &["PAY_NOTIFY"]).map_err(f)?;
        }
    }
    o.opt("pointOfInitiation", 20).map_err(f)?;
    if let Some(Value::Array(opts)) = body.get("payOptionDetails") {
        for (i, item) in opts.iter().enumerate() {
            let path = format!("payOptionDetails[{i}]");
            let it = array_item(item, &path).map_err(f)?;
            it.req("payMethod", 64).map_err(f)?;
            it.req("payOption", 64).map_err(f)?;
        }
    }
    let ai = o.opt_obj("additionalInfo", "additionalInfo").map_err(f)?;
    let with_otp = match ai {
        Some(ai) => ai.req_one_of("isWithOtp", &["Y", "N"]).map_err(f)? == "Y",
        None => false,
    };
    let remarks = match ai {
        Some(ai) => ai.opt("remarks", 64).map_err(f)?.map(str::to_owned),
        None => None,
    };
    let amount_wire = wire(amount);
    let (status, plan) = if with_otp {
        (Status::Init, Plan::Stuck)
    } else {
        match amount_wire.as_str() {
            magic::DEBIT_PENDING => (Status::Pending, Plan::Stuck),
            magic::DEBIT_REFUNDED => (Status::Init, Plan::Refund),
            magic::DEBIT_FAILED => (Status::Init, Plan::Fail),
            _ => (Status::Init, Plan::Succeed),
        }
    };
    let charge_token = with_otp.then(|| {
        format!(
            "CHARGE_{:032X}::{:04}",
            rand::random::<u128>(),
            state.next_id() % 10_000
        )
    });
    let booking = Booking {
        provider: P,
        kind: Kind::Debit,
        reference: reference.to_owned(),
        provider_reference: format!("{:032x}", rand::random::<u128>()),
        booked_count: 0,
        duplicate_attempts: 0,
        status,
        plan,
        amount,
        fee: Decimal::ZERO,
        beneficiary_account_no: String::new(),
        beneficiary_bank_code: String::new(),
        beneficiary_name: String::new(),
        transaction_date: timestamp::format(state.now()),
        created_at: state.now(),
        final_at: None,
        cancelled_reason: None,
        debits_balance: false,
        extra: json!({"remarks": remarks, "withOtp": with_otp}),
        settle_at: None,
    };
    let b = state.book(booking, false).map_err(|e| match e {
        BookError::Duplicate => SnapError::new(ep, 409, 1, "Duplicate partnerReferenceNo"),
        BookError::InsufficientFunds => SnapError::new(ep, 403, 14, "Insufficient Funds"),
    })?;
    let additional = match charge_token {
        Some(token) => json!({"chargeToken": token, "remarks": remarks}),
        None => json!({"amount": wire(amount), "currency": "IDR", "remarks": remarks}),
    };
    Ok(snap_ok(
        ep,
        200,
        "Successful",
        json!({
            "referenceNo": b.provider_reference,
            "partnerReferenceNo": b.reference,
            "additionalInfo": additional,
        }),
    ))
}

/// Direct debit status (55) by `originalPartnerReferenceNo`. Unknown references
/// answer HTTP 404 `4045501` *and* `latestTransactionStatus` `07`.
async fn debit_status(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let ep = Endpoint::IfortepayDebitStatus;
    let c = &state.cfg.ifortepay;
    let body = gate(
        &state,
        ep,
        Some(&c.debit_channel_id),
        true,
        (&method, &uri, &headers, &body),
    )?;
    let f = |p| SnapError::field(ep, p);
    let o = Obj::root(&body).map_err(f)?;
    let reference = o.req("originalPartnerReferenceNo", 64).map_err(f)?;
    let provider_ref = o.opt("originalReferenceNo", 64).map_err(f)?;
    o.opt_one_of("serviceCode", &["54"]).map_err(f)?;
    let found = state
        .get(P, Kind::Debit, reference)
        .filter(|b| provider_ref.map_or(true, |r| r == b.provider_reference));
    let Some(b) = found else {
        let body = json!({
            "responseCode": SnapError::new(ep, 404, 1, "").code(),
            "responseMessage": "Transaction Not Found",
            "originalPartnerReferenceNo": reference,
            "serviceCode": "54",
            "latestTransactionStatus": "07",
            "transactionStatusDesc": "Not Found",
        });
        return Ok((axum::http::StatusCode::NOT_FOUND, Json(body)).into_response());
    };
    let (code, desc) = debit_status_code(b.status);
    Ok(snap_ok(
        ep,
        200,
        "Successful",
        json!({
            "originalPartnerReferenceNo": b.reference,
            "originalReferenceNo": b.provider_reference,
            "serviceCode": "54",
            "latestTransactionStatus": code,
            "transactionStatusDesc": desc,
            "amount": amount_json(b.amount),
            "transAmount": amount_json(b.amount),
            "paidTime": b.final_at.map(timestamp::format),
        }),
    ))
}
