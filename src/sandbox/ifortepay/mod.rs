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
//! The service signature's EndpointUrl is verified in the form the sandbox's
//! `ifortepay.endpoint_url_mode` names, default `absolute`: "Use full URL including
//! all parameters" (ifortepay-transfer-interbank.txt:35; NOTES.md: unconfirmed, so
//! `relative` is a setting the sandbox verifies too).
//!
//! Disbursement calls need `CHANNEL-ID` = `channel_id` (`api`), direct debit calls
//! `debit_channel_id` (`DD003`); the profile needs no X-EXTERNAL-ID or CHANNEL-ID.
//! Direct debit is signed with SHA256withRSA under its own partner id
//! (`debit_partner_id`, `IFP…`) and carries no token: the samples in
//! ifortepay-direct-debit-payment.txt:42-47 and 84-89 have no `Authorization`
//! header and a 344-character `X-SIGNATURE`.
//! Transfers follow the request table of ifortepay-transfer-interbank.txt field by
//! field; see [`transfer`] for the order of checks.

mod direct_debit;
mod disbursement;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::snap_auth::{
    self, balance_answer, snap_ok, Checked, ServiceCheck, ServiceSignature, SignedUrlForm,
    SnapError, SnapGate, TokenCheck,
};
use super::state::{AppState, State as Books, Status};
use super::{guarded, Endpoint};
use crate::domain::Provider;
pub use direct_debit::debit_status_code;
use direct_debit::{debit_payment, debit_status};
pub(crate) use disbursement::callback_body;
use disbursement::{account_inquiry, history_detail, history_list, transfer};

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
        .layer(axum::Extension(SnapGate(service_check)))
        .layer(axum::Extension(SignedUrlForm(|s: &Books| {
            s.cfg.ifortepay.endpoint_url_mode
        })))
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

/// What the SNAP gate checks an iFortepay service request against (see
/// [`Checked`]): direct debit needs `CHANNEL-ID` = `debit_channel_id`, the
/// profile neither X-EXTERNAL-ID nor CHANNEL-ID, every other call `channel_id`.
pub(super) fn service_check(state: &Books, ep: Endpoint) -> ServiceCheck<'_> {
    let c = &state.cfg.ifortepay;
    let hmac = ServiceSignature::Hmac(&state.creds.ifortepay.client_secret);
    match ep {
        // Direct debit's own partner id and RSA key, no token
        // (ifortepay-direct-debit-payment.txt:42-47; NOTES.md, Corrections).
        Endpoint::IfortepayDebitPayment | Endpoint::IfortepayDebitStatus => ServiceCheck {
            client_id: &c.debit_partner_id,
            signature: ServiceSignature::Rsa(&state.creds.ifortepay.debit_public_key),
            channel_id: Some(c.debit_channel_id.as_str().into()),
            unsigned_path_prefix: &c.unsigned_path_prefix,
            external_id_required: true,
        },
        Endpoint::IfortepayProfile => ServiceCheck {
            client_id: &c.client_id,
            signature: hmac,
            channel_id: None,
            unsigned_path_prefix: &c.unsigned_path_prefix,
            external_id_required: false,
        },
        _ => ServiceCheck {
            client_id: &c.client_id,
            signature: hmac,
            channel_id: Some(c.channel_id.as_str().into()),
            unsigned_path_prefix: &c.unsigned_path_prefix,
            external_id_required: true,
        },
    }
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

async fn balance(State(state): State<AppState>, req: Checked) -> Reply {
    let (ep, f, o) = (req.ep, req.problem(), req.obj()?);
    let c = &state.cfg.ifortepay;
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

/// Merchant profile: `detailData.businessAccountNumber` is the `sourceAccountNo`.
async fn profile(State(state): State<AppState>, req: Checked) -> Reply {
    let ep = req.ep;
    let c = &state.cfg.ifortepay;
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
