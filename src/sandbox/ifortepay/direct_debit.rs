//! iFortepay direct debit: payment host-to-host (54) and its status (55).

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{Reply, P};
use crate::sandbox::fields::array_item;
use crate::sandbox::magic;
use crate::sandbox::snap_auth::{amount_json, snap_ok, Checked, SnapError};
use crate::sandbox::state::{wire, AppState, BookError, Booking, Kind, Plan, Status};
use crate::snap::timestamp;

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
pub(super) async fn debit_payment(State(state): State<AppState>, req: Checked) -> Reply {
    let (ep, f, o) = (req.ep, req.problem(), req.obj()?);
    let reference = o.req("partnerReferenceNo", 64).map_err(f)?;
    o.req("bankCardToken", 560).map_err(f)?;
    o.req("chargeToken", 50).map_err(f)?;
    let amount = o.amount("amount", "amount").map_err(f)?;
    if let Some(Value::Array(params)) = req.body.get("urlParam") {
        for (i, item) in params.iter().enumerate() {
            let path = format!("urlParam[{i}]");
            let it = array_item(item, &path).map_err(f)?;
            it.req("url", 512).map_err(f)?;
            it.req_one_of("type", &["PAY_NOTIFY"]).map_err(f)?;
        }
    }
    o.opt("pointOfInitiation", 20).map_err(f)?;
    if let Some(Value::Array(opts)) = req.body.get("payOptionDetails") {
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
pub(super) async fn debit_status(State(state): State<AppState>, req: Checked) -> Reply {
    let (ep, f, o) = (req.ep, req.problem(), req.obj()?);
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
