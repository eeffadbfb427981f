//! iFortepay disbursement (the Senmo hosts): account inquiry, transfer
//! interbank, its callback body, and the transaction history list and detail.

use axum::extract::State;
use chrono::Months;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{status_str, Reply, MAX_TRANSFER, MIN_TRANSFER, P};
use crate::sandbox::fields::{array_item, digits, FieldProblem, Obj};
use crate::sandbox::magic;
use crate::sandbox::snap_auth::{amount_json, snap_ok, Checked, SnapError};
use crate::sandbox::state::{AppState, BookError, Booking, Kind, Status};
use crate::snap::timestamp;

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

pub(super) async fn account_inquiry(State(state): State<AppState>, req: Checked) -> Reply {
    let (ep, f, o) = (req.ep, req.problem(), req.obj()?);
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
        crate::sandbox::faults::lock(&state.books)
            .inquiries
            .insert(r.to_owned(), record);
    }
    Ok(snap_ok(ep, 200, "Successful", answer))
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
pub(super) async fn transfer(State(state): State<AppState>, req: Checked) -> Reply {
    let (ep, f, o) = (req.ep, req.problem(), req.obj()?);
    let c = &state.cfg.ifortepay;
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
            "sourceAccountNo": req.body.get("sourceAccountNo"),
            "originatorInfos": req.body.get("originatorInfos"),
            "additionalInfo": req.body.get("additionalInfo"),
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

/// History list (service 12): `fromDateTime`..`toDateTime` (at most 3 months
/// apart), newest last; `pageSize` and `filter` as the sources type them.
///
/// Sources, field by field:
/// - period ≤ 3 months: ifortepay-disbursement-overview.txt:190 ("in the specified
///   period (maximum 3 months)").
/// - `pageSize`: NOTES.md, Corrections 2026-12-01 ("`pageSize` is an integer of at
///   most two digits"), iFortepay's public table "pageSize | O | Int | 2". A string
///   (`"100"`), a fraction or three digits is refused `4001201 Invalid Field Format
///   pageSize`. Default when absent: not documented; 10 here.
/// - `filter`: the same correction ("`filter` is an object"). Its members are not in
///   any source we have, so an object is accepted and not interpreted; anything
///   else is refused `4001201 Invalid Field Format filter`.
/// - page number: no source shows one. A `pageNumber` field is ignored (as an
///   undocumented field would be): every answer is the first page.
/// - The answer's paging facts (`additionalInfo.totalData`, `totalPage`) are not in
///   any source either: they are given for people reading the answer, and the
///   client does not rely on them.
pub(super) async fn history_list(State(state): State<AppState>, req: Checked) -> Reply {
    let (ep, f, o) = (req.ep, req.problem(), req.obj()?);
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
    // Int, length 2 (NOTES.md corrections; [P] "pageSize | O | Int | 2").
    let page_size = match req.body.get("pageSize") {
        None | Some(Value::Null) => 10,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n @ 1..=99) => n,
            _ => return Err(SnapError::invalid(ep, "pageSize")),
        },
        Some(_) => return Err(SnapError::invalid(ep, "pageSize")),
    };
    // An object (NOTES.md corrections); its members are undocumented.
    match req.body.get("filter") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => return Err(SnapError::invalid(ep, "filter")),
    }
    let all: Vec<Booking> = state
        .all_bookings()
        .into_iter()
        .filter(|b| b.provider == P && b.kind == Kind::Transfer)
        .filter(|b| b.created_at >= from && b.created_at <= to)
        .collect();
    let total = all.len() as u64;
    let page: Vec<Value> = all
        .iter()
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
                "pageSize": page_size,
                "totalData": total,
                "totalPage": total.div_ceil(page_size),
            },
        }),
    ))
}

/// History detail of one transfer (`additionalInfo.type` SEND_MONEY) or account
/// inquiry (INQUIRY) by `originPartnerReferenceNo`; unknown → `4041301`.
pub(super) async fn history_detail(State(state): State<AppState>, req: Checked) -> Reply {
    let (ep, f, o) = (req.ep, req.problem(), req.obj()?);
    let origin = o.req("originPartnerReferenceNo", 64).map_err(f)?;
    let ai = o.req_obj("additionalInfo", "additionalInfo").map_err(f)?;
    let kind = ai
        .req_one_of("type", &["SEND_MONEY", "INQUIRY"])
        .map_err(f)?;
    let not_found = || SnapError::new(ep, 404, 1, "Transaction Not Found");
    if kind == "INQUIRY" {
        let record = crate::sandbox::faults::lock(&state.books)
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
