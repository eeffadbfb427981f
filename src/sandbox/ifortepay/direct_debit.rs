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

/// Direct debit payment host-to-host (54), checked field by field against the request
/// table of ifortepay-direct-debit-payment.txt (line cited at each check); the gate
/// before it verifies the asymmetric signature and partner id (see `service_check`).
/// The answers follow the samples: with OTP `additionalInfo.chargeToken` (:136-145),
/// without OTP `additionalInfo.amount`/`currency` (:161-171), both `2005400`; a
/// repeated `partnerReferenceNo` is `409 4095401` (SNAP's duplicate code; the page
/// shows no error table). With OTP (`additionalInfo.isWithOtp` =
/// `Y`) the answer carries a chargeToken and the payment stays initiated (01); the
/// OTP step itself is not simulated. Without OTP it settles like a transfer; the
/// magic amounts in [`magic`] make it pending, refunded or failed.
pub(super) async fn debit_payment(State(state): State<AppState>, req: Checked) -> Reply {
    let (ep, f, o) = (req.ep, req.problem(), req.obj()?);
    // The request table, ifortepay-direct-debit-payment.txt:16-37.
    let reference = o.req("partnerReferenceNo", 64).map_err(f)?; // :17 M 64
    o.req("bankCardToken", 560).map_err(f)?; // :18 M 560
    o.req("chargeToken", 50).map_err(f)?; // :19 M 50, "null" on this step
    let amount = o.amount("amount", "amount").map_err(f)?; // :20-22 value 16,2 + IDR
    if let Some(Value::Array(params)) = req.body.get("urlParam") {
        for (i, item) in params.iter().enumerate() {
            let path = format!("urlParam[{i}]");
            let it = array_item(item, &path).map_err(f)?;
            it.req("url", 512).map_err(f)?; // :24 M 512
            it.req_one_of("type", &["PAY_NOTIFY"]).map_err(f)?; // :25 M, PAY_NOTIFY
        }
    }
    o.opt("pointOfInitiation", 20).map_err(f)?; // :27 O 20
    if let Some(Value::Array(opts)) = req.body.get("payOptionDetails") {
        for (i, item) in opts.iter().enumerate() {
            let path = format!("payOptionDetails[{i}]");
            let it = array_item(item, &path).map_err(f)?;
            it.req("payMethod", 64).map_err(f)?; // :29 M 64
            it.req("payOption", 64).map_err(f)?; // :30 M 64
        }
    }
    let ai = o.opt_obj("additionalInfo", "additionalInfo").map_err(f)?;
    let with_otp = match ai {
        // :32 M, "Y" with OTP / "N" without (length 5, values Y | N).
        Some(ai) => ai.req_one_of("isWithOtp", &["Y", "N"]).map_err(f)? == "Y",
        None => false,
    };
    let remarks = match ai {
        Some(ai) => ai.opt("remarks", 64).map_err(f)?.map(str::to_owned), // :33 O 64
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

/// Direct debit status (55). No seed document describes its request: the fields
/// are SNAP's debit-status ones (`originalPartnerReferenceNo` mandatory,
/// `originalReferenceNo` optional and then checked, `serviceCode` 54), and the
/// `latestTransactionStatus` codes are NOTES.md's (lines 84-85: 00 success, 01
/// initiated, 03 pending, 04 refunded, 06 failed, 07 not found). By
/// `originalPartnerReferenceNo`. Unknown references
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
