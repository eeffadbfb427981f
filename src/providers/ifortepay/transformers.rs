//! iFortepay wire types and the pure mapping between them and kirim's types: request
//! building with every rule of the provider tables, and answers mapped into
//! [`Outcome`]. No I/O here; tests need no network.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::settings::IfortepayMerchant;
use crate::domain::{Amount, FieldError, Money};
use crate::providers::snap::answer::{amount_at, verdict, CallKind, SnapAnswer, Verdict};
use crate::providers::validate;
pub use crate::providers::verdict::token_rejected;
use crate::providers::{
    AccountInfo, AccountInquiryRequest, HistoryPage, HistoryQuery, HistoryRow, Outcome,
    PaymentRequest, StatusQuery, TransferRequest,
};
use crate::snap::timestamp;

/// Transfer limits of the interbank document (IDR).
pub const MIN_TRANSFER: u64 = 10_000;
pub const MAX_TRANSFER: u64 = 250_000_000;

/// `feeType`: OUR (fee charged to sender) is the only supported value.
pub const FEE_TYPE_OUR: &str = "OUR";

// ---------------------------------------------------------------------------
// Transfer interbank v1.2 (service 18)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayOriginator {
    pub originator_customer_no: String,
    pub originator_customer_name: String,
    pub originator_bank_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayTransferAdditionalInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    pub transaction_purpose: String,
    pub beneficiary_country: String,
    pub beneficiary_city: String,
    pub sender_country: String,
    pub sender_city: String,
    pub is_virtual_account: String,
}

/// The request body of `POST /api/v1.2/transfer-interbank`, fields in the order of
/// the provider's example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayTransferRequest {
    pub partner_reference_no: String,
    pub amount: Amount,
    pub beneficiary_account_name: String,
    pub beneficiary_account_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beneficiary_address: Option<String>,
    pub beneficiary_bank_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beneficiary_email: Option<String>,
    pub currency: String,
    pub source_account_no: String,
    pub transaction_date: String,
    pub fee_type: String,
    pub originator_infos: Vec<IfortepayOriginator>,
    pub additional_info: IfortepayTransferAdditionalInfo,
}

fn remark_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ',' | ' ')
}

/// `transactionDate`: ISO-8601, at most 25 characters, so seconds precision in
/// Jakarta time (`2022-11-09T14:00:00+07:00`).
pub fn transaction_date(value: &str) -> Result<String, FieldError> {
    let at = validate::iso_datetime("transactionDate", value)?;
    Ok(at
        .with_timezone(&timestamp::jakarta())
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string())
}

/// Check the merchant defaults from config against the request table (run once at
/// start and again per request, since both are cheap).
pub fn validate_merchant(m: &IfortepayMerchant) -> Result<(), FieldError> {
    validate::mandatory("sourceAccountNo", &m.source_account_no, 19)?;
    validate::mandatory(
        "originatorInfos.originatorCustomerNo",
        &m.originator_customer_no,
        34,
    )?;
    validate::mandatory(
        "originatorInfos.originatorCustomerName",
        &m.originator_customer_name,
        100,
    )?;
    validate::mandatory(
        "originatorInfos.originatorBankCode",
        &m.originator_bank_code,
        8,
    )?;
    validate::one_of(
        "additionalInfo.transactionPurpose",
        &m.transaction_purpose,
        &["1", "2", "3"],
    )?;
    validate::mandatory(
        "additionalInfo.beneficiaryCountry",
        &m.beneficiary_country,
        50,
    )?;
    validate::mandatory("additionalInfo.beneficiaryCity", &m.beneficiary_city, 50)?;
    validate::mandatory("additionalInfo.senderCountry", &m.sender_country, 50)?;
    validate::mandatory("additionalInfo.senderCity", &m.sender_city, 50)?;
    validate::one_of(
        "additionalInfo.isVirtualAccount",
        &m.is_virtual_account,
        &["Y", "N"],
    )?;
    validate::one_of("feeType", &m.fee_type, &[FEE_TYPE_OUR])?;
    Ok(())
}

/// Build and validate a transfer body from the payout and the merchant defaults.
pub fn transfer_request(
    req: &TransferRequest,
    merchant: &IfortepayMerchant,
) -> Result<IfortepayTransferRequest, FieldError> {
    validate_merchant(merchant)?;
    validate::mandatory("partnerReferenceNo", req.partner_reference.as_str(), 64)?;
    validate::amount_between(
        "amount.value",
        req.amount,
        Money::from_rupiah(MIN_TRANSFER),
        Money::from_rupiah(MAX_TRANSFER),
    )?;
    let b = &req.beneficiary;
    validate::mandatory("beneficiaryAccountName", &b.name, 100)?;
    validate::mandatory("beneficiaryAccountNo", b.account_no.as_str(), 34)?;
    validate::mandatory("beneficiaryBankCode", b.bank_code.as_str(), 8)?;
    if let Some(a) = &b.address {
        validate::max_len("beneficiaryAddress", a, 100)?;
    }
    if let Some(e) = &b.email {
        validate::max_len("beneficiaryEmail", e, 50)?;
        if !e.contains('@') {
            return Err(FieldError::new(
                "beneficiaryEmail",
                "must be an email address",
            ));
        }
    }
    if let Some(r) = &req.remark {
        validate::max_len("additionalInfo.remark", r, 100)?;
        validate::charset(
            "additionalInfo.remark",
            r,
            remark_char,
            "may contain only letters, digits, spaces, '-', '.' and ','",
        )?;
    }
    let transaction_date = transaction_date(&req.transaction_date)?;
    Ok(IfortepayTransferRequest {
        partner_reference_no: req.partner_reference.as_str().to_owned(),
        amount: Amount::idr(req.amount),
        beneficiary_account_name: b.name.clone(),
        beneficiary_account_no: b.account_no.as_str().to_owned(),
        beneficiary_address: b.address.clone().filter(|a| !a.is_empty()),
        beneficiary_bank_code: b.bank_code.as_str().to_owned(),
        beneficiary_email: b.email.clone().filter(|e| !e.is_empty()),
        currency: "IDR".to_owned(),
        source_account_no: merchant.source_account_no.clone(),
        transaction_date,
        fee_type: merchant.fee_type.clone(),
        originator_infos: vec![IfortepayOriginator {
            originator_customer_no: merchant.originator_customer_no.clone(),
            originator_customer_name: merchant.originator_customer_name.clone(),
            originator_bank_code: merchant.originator_bank_code.clone(),
        }],
        additional_info: IfortepayTransferAdditionalInfo {
            remark: req.remark.clone().filter(|r| !r.is_empty()),
            transaction_purpose: merchant.transaction_purpose.clone(),
            beneficiary_country: merchant.beneficiary_country.clone(),
            beneficiary_city: merchant.beneficiary_city.clone(),
            sender_country: merchant.sender_country.clone(),
            sender_city: merchant.sender_city.clone(),
            is_virtual_account: merchant.is_virtual_account.clone(),
        },
    })
}

/// `additionalInfo.status` of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfortepayStatus {
    /// Accepted, being processed.
    Init,
    /// Money sent.
    Success,
    /// Failed; balance refunded.
    Cancelled,
}

impl FromStr for IfortepayStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "INIT" => Ok(IfortepayStatus::Init),
            "SUCCESS" => Ok(IfortepayStatus::Success),
            "CANCELLED" => Ok(IfortepayStatus::Cancelled),
            other => Err(format!("unrecognised iFortepay status {other:?}")),
        }
    }
}

/// The status → outcome table. No wildcard: a new status breaks the build.
pub fn status_outcome(
    status: IfortepayStatus,
    reference: Option<String>,
    cancel_reason: String,
) -> Outcome {
    match status {
        IfortepayStatus::Init => Outcome::InProgress { reference },
        IfortepayStatus::Success => Outcome::Success { reference },
        IfortepayStatus::Cancelled => Outcome::Cancelled {
            reference,
            reason: cancel_reason,
        },
    }
}

/// The provider's reference of an answer, if any.
pub fn reference(answer: &SnapAnswer) -> Option<String> {
    answer
        .str_at("referenceNo")
        .or_else(|| answer.str_at("originalReferenceNo"))
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
}

/// Status of an accepted answer: `additionalInfo.status`, or a top-level `status`
/// (history detail), mapped; absent means accepted, not yet confirmed.
fn accepted_outcome(answer: &SnapAnswer) -> Outcome {
    let reference = reference(answer);
    let status = answer
        .str_at("additionalInfo.status")
        .or_else(|| answer.str_at("status"));
    let Some(status) = status else {
        // Accepted without a status: in progress until an inquiry confirms it.
        return Outcome::InProgress { reference };
    };
    match status.parse::<IfortepayStatus>() {
        Ok(s) => {
            let reason = answer
                .str_at("additionalInfo.cancelledReason")
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .or_else(|| answer.message.clone())
                .unwrap_or_else(|| "CANCELLED".to_owned());
            status_outcome(s, reference, reason)
        }
        Err(reason) => Outcome::Unknown { reason },
    }
}

/// A transfer answer → outcome. Refusals of the request (signature, headers, a
/// route) are [`Outcome::Refused`]; only a business "no" is final.
pub fn transfer_outcome(answer: &SnapAnswer) -> Outcome {
    match verdict(answer, CallKind::Transactional) {
        Verdict::Accepted { .. } => accepted_outcome(answer),
        Verdict::NotFound => not_found_on_submission(answer),
        Verdict::TokenRejected => token_rejected(),
        Verdict::Decided(o) => o,
    }
}

/// `404xx01` "transaction not found" answering a submission is no statement that
/// the submission was refused: NOTES.md:51 gives it a meaning only on an inquiry,
/// and it may come from a gateway or the token service (review M5). Inquire.
fn not_found_on_submission(answer: &SnapAnswer) -> Outcome {
    Outcome::Unknown {
        reason: format!(
            "{} on a submission: {}",
            answer.code_raw.as_deref().unwrap_or("404xx01"),
            answer.message.as_deref().unwrap_or("(no responseMessage)")
        ),
    }
}

// ---------------------------------------------------------------------------
// Transaction history detail (service 13) = transfer status
// ---------------------------------------------------------------------------

/// The service of the history detail's own codes (NOTES.md:62,77; the sandbox
/// answers `4041301`): only its `404xx01` means "iFortepay never received it".
pub const HISTORY_DETAIL_SERVICE: u8 = 13;

/// How a history detail answer is read: a status inquiry of service 13.
const HISTORY_DETAIL: CallKind = CallKind::Inquiry {
    services: &[HISTORY_DETAIL_SERVICE],
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IfortepayHistoryDetailAdditionalInfo {
    /// `SEND_MONEY` (transfers) or `INQUIRY`.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayHistoryDetailRequest {
    /// Spelled "origin", not "original".
    pub origin_partner_reference_no: String,
    pub additional_info: IfortepayHistoryDetailAdditionalInfo,
}

pub fn history_detail_request(q: &StatusQuery) -> IfortepayHistoryDetailRequest {
    IfortepayHistoryDetailRequest {
        origin_partner_reference_no: q.partner_reference.as_str().to_owned(),
        additional_info: IfortepayHistoryDetailAdditionalInfo {
            kind: "SEND_MONEY".to_owned(),
        },
    }
}

/// A history detail answer → outcome. `4041301` means iFortepay never received it;
/// a refused inquiry ([`Outcome::Refused`]) leaves the payout where it was (review C1);
/// only the record's status (CANCELLED) finalises it.
pub fn history_detail_outcome(answer: &SnapAnswer) -> Outcome {
    match verdict(answer, HISTORY_DETAIL) {
        Verdict::Accepted { .. } => {
            let found = answer
                .json
                .as_ref()
                .and_then(|j| j.get("detailData").or(Some(j)))
                .map(|d| SnapAnswer::new(answer.http_status, None, Some(d.clone())));
            match found {
                // The record may sit at the top level or under `detailData`.
                Some(inner)
                    if inner.str_at("additionalInfo.status").is_some()
                        || inner.str_at("status").is_some() =>
                {
                    let mut inner = inner;
                    inner.message = answer.message.clone();
                    accepted_outcome(&inner)
                }
                _ => accepted_outcome(answer),
            }
        }
        Verdict::NotFound => Outcome::NotFound,
        Verdict::TokenRejected => token_rejected(),
        Verdict::Decided(o) => o,
    }
}

// ---------------------------------------------------------------------------
// Account inquiry (service 16)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayAccountInquiryRequest {
    pub beneficiary_bank_code: String,
    pub beneficiary_account_no: String,
}

pub fn account_inquiry_request(
    req: &AccountInquiryRequest,
) -> Result<IfortepayAccountInquiryRequest, FieldError> {
    validate::mandatory("beneficiaryBankCode", req.bank_code.as_str(), 8)?;
    validate::mandatory("beneficiaryAccountNo", req.account_no.as_str(), 34)?;
    Ok(IfortepayAccountInquiryRequest {
        beneficiary_bank_code: req.bank_code.as_str().to_owned(),
        beneficiary_account_no: req.account_no.as_str().to_owned(),
    })
}

/// Account inquiry answer → the account, or the outcome explaining why not
/// (`404xx11` invalid account is a final failure; a `404xx01` "transaction not
/// found" says nothing about the account and is a refusal of the request).
pub fn account_inquiry_result(
    answer: &SnapAnswer,
    asked: &AccountInquiryRequest,
) -> Result<AccountInfo, Outcome> {
    match verdict(answer, CallKind::Read) {
        Verdict::Accepted { .. } => {
            let name = answer.str_at("beneficiaryAccountName").unwrap_or_default();
            if name.is_empty() {
                return Err(Outcome::Retryable {
                    delay_hint: None,
                    reason: "account inquiry answer without beneficiaryAccountName".into(),
                });
            }
            Ok(AccountInfo {
                account_no: answer
                    .str_at("beneficiaryAccountNo")
                    .unwrap_or(asked.account_no.as_str())
                    .to_owned(),
                account_name: name.to_owned(),
                bank_code: answer
                    .str_at("beneficiaryBankCode")
                    .unwrap_or(asked.bank_code.as_str())
                    .to_owned(),
            })
        }
        Verdict::NotFound => Err(Outcome::Refused {
            code: answer.code_raw.clone().unwrap_or_default(),
            message: answer.message.clone().unwrap_or_default(),
        }),
        Verdict::TokenRejected => Err(token_rejected()),
        Verdict::Decided(o) => Err(o),
    }
}

// ---------------------------------------------------------------------------
// Balance inquiry (service 11)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayBalanceRequest {
    pub account_no: String,
    pub balance_type: String,
    pub additional_info: serde_json::Map<String, Value>,
}

pub use crate::providers::snap::answer::balance_result;

pub fn balance_request(source_account_no: &str) -> IfortepayBalanceRequest {
    IfortepayBalanceRequest {
        account_no: source_account_no.to_owned(),
        balance_type: "cash".to_owned(),
        additional_info: serde_json::Map::new(),
    }
}

// ---------------------------------------------------------------------------
// Merchant profile
// ---------------------------------------------------------------------------

/// What kirim uses from `GET /api/v1.0/profile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantProfile {
    /// The one valid `sourceAccountNo`.
    pub business_account_number: String,
    /// The whole `detailData`, redacted, for the CLI.
    pub detail: Value,
}

pub fn profile_result(answer: &SnapAnswer) -> Result<MerchantProfile, Outcome> {
    match verdict(answer, CallKind::Read) {
        Verdict::Accepted { .. } => {}
        Verdict::NotFound => {
            return Err(Outcome::FinalFailure {
                code: answer.code_raw.clone().unwrap_or_default(),
                message: answer.message.clone().unwrap_or_default(),
            })
        }
        Verdict::TokenRejected => return Err(token_rejected()),
        Verdict::Decided(o) => return Err(o),
    }
    let detail = answer
        .json
        .as_ref()
        .and_then(|j| j.get("detailData"))
        .cloned();
    let number = detail
        .as_ref()
        .and_then(|d| d.get("businessAccountNumber"))
        .and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        });
    match (number, detail) {
        (Some(n), Some(d)) if !n.is_empty() => Ok(MerchantProfile {
            business_account_number: n,
            detail: crate::providers::audit::redact(&d),
        }),
        _ => Err(Outcome::Retryable {
            delay_hint: None,
            reason: "profile answer without detailData.businessAccountNumber".into(),
        }),
    }
}

// ---------------------------------------------------------------------------
// Transaction history list (service 12)
// ---------------------------------------------------------------------------

/// History periods are limited to three months (overview document).
pub const HISTORY_MAX_MONTHS: u32 = 3;
pub const HISTORY_MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayHistoryListRequest {
    pub from_date_time: String,
    pub to_date_time: String,
    pub page_size: String,
    pub page_number: String,
    pub additional_info: IfortepayHistoryDetailAdditionalInfo,
}

pub fn history_list_request(q: &HistoryQuery) -> Result<IfortepayHistoryListRequest, FieldError> {
    let from = validate::iso_datetime("fromDateTime", &q.from)?;
    let to = validate::iso_datetime("toDateTime", &q.to)?;
    validate::period("fromDateTime", from, "toDateTime", to, HISTORY_MAX_MONTHS)?;
    if q.page_size == 0 || q.page_size > HISTORY_MAX_PAGE_SIZE {
        return Err(FieldError::new(
            "pageSize",
            format!("must be between 1 and {HISTORY_MAX_PAGE_SIZE}"),
        ));
    }
    if q.page == 0 {
        return Err(FieldError::new("pageNumber", "must be at least 1"));
    }
    let fmt = |d: chrono::DateTime<chrono::FixedOffset>| {
        d.with_timezone(&timestamp::jakarta())
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    };
    Ok(IfortepayHistoryListRequest {
        from_date_time: fmt(from),
        to_date_time: fmt(to),
        page_size: q.page_size.to_string(),
        page_number: q.page.to_string(),
        additional_info: IfortepayHistoryDetailAdditionalInfo {
            kind: "SEND_MONEY".to_owned(),
        },
    })
}

/// One history item → entry. Reads `partnerReferenceNo`, `referenceNo`, `amount`,
/// and the status at `status` or `additionalInfo.status`.
fn history_entry(item: &Value) -> Option<HistoryRow> {
    let a = SnapAnswer::new(200, None, Some(item.clone()));
    // SNAP history items put the references at the top or under additionalInfo.
    let partner_reference = a
        .str_at("partnerReferenceNo")
        .or_else(|| a.str_at("additionalInfo.partnerReferenceNo"))?
        .to_owned();
    let provider_reference = a
        .str_at("referenceNo")
        .or_else(|| a.str_at("additionalInfo.referenceNo"))
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let amount = amount_at(item, "amount")?.ok()?;
    let outcome = match a
        .str_at("additionalInfo.status")
        .or_else(|| a.str_at("status"))
    {
        Some(s) => match s.parse::<IfortepayStatus>() {
            Ok(st) => {
                let reason = a
                    .str_at("additionalInfo.cancelledReason")
                    .unwrap_or("CANCELLED")
                    .to_owned();
                status_outcome(st, provider_reference.clone(), reason)
            }
            Err(reason) => Outcome::Unknown { reason },
        },
        None => Outcome::Unknown {
            reason: "history entry without a status".into(),
        },
    };
    Some(HistoryRow {
        partner_reference,
        provider_reference,
        amount,
        outcome,
    })
}

/// History list answer → a page. Items that cannot be read are skipped (and
/// counted in the log by the caller): a history page is a shortcut, the
/// per-transfer inquiry remains the authority.
pub fn history_list_result(
    answer: &SnapAnswer,
    asked: &HistoryQuery,
) -> Result<(HistoryPage, usize), Outcome> {
    match verdict(answer, CallKind::Read) {
        Verdict::Accepted { .. } => {}
        Verdict::NotFound => {
            return Ok((
                HistoryPage {
                    entries: Vec::new(),
                    has_more: false,
                },
                0,
            ))
        }
        Verdict::TokenRejected => return Err(token_rejected()),
        Verdict::Decided(o) => return Err(o),
    }
    let items = answer
        .json
        .as_ref()
        .and_then(|j| j.get("detailData"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut skipped = 0;
    let mut entries = Vec::with_capacity(items.len());
    for item in &items {
        match history_entry(item) {
            Some(e) => entries.push(e),
            None => skipped += 1,
        }
    }
    let json = answer.json.as_ref();
    let num = |v: Option<&Value>| {
        v.and_then(|x| {
            x.as_u64()
                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let total_pages = num(json.and_then(|j| j.pointer("/additionalInfo/totalPage")))
        .or_else(|| num(json.and_then(|j| j.pointer("/additionalInfo/totalPages"))))
        .or_else(|| num(json.and_then(|j| j.get("totalPage"))));
    let has_more = match (
        json.and_then(|j| {
            j.get("hasMore")
                .or_else(|| j.pointer("/additionalInfo/hasMore"))
        })
        .and_then(Value::as_bool),
        total_pages,
    ) {
        (Some(b), _) => b,
        (None, Some(total)) => u64::from(asked.page) < total,
        (None, None) => items.len() as u64 >= u64::from(asked.page_size),
    };
    Ok((HistoryPage { entries, has_more }, skipped))
}

// ---------------------------------------------------------------------------
// Direct debit payment (service 54) and status (service 55)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayPayOption {
    pub pay_method: String,
    pub pay_option: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayDebitAdditionalInfo {
    pub is_with_otp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remarks: Option<String>,
}

/// `POST /v1.0/debit/payment-host-to-host`. Holds the card token: never `Debug`-print
/// it outside this module's tests (the field is a plain string on the wire).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayDebitRequest {
    pub partner_reference_no: String,
    pub bank_card_token: String,
    /// Literally `"null"` on the first step, per the document.
    pub charge_token: String,
    pub amount: Amount,
    pub pay_option_details: Vec<IfortepayPayOption>,
    pub additional_info: IfortepayDebitAdditionalInfo,
}

impl std::fmt::Debug for IfortepayDebitRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IfortepayDebitRequest")
            .field("partner_reference_no", &self.partner_reference_no)
            .field("bank_card_token", &"[redacted]")
            .field("amount", &self.amount)
            .finish_non_exhaustive()
    }
}

pub fn debit_request(req: &PaymentRequest) -> Result<IfortepayDebitRequest, FieldError> {
    validate::mandatory("partnerReferenceNo", req.partner_reference.as_str(), 64)?;
    if req.bank_card_token.is_empty() {
        return Err(FieldError::new(
            "bankCardToken",
            "is mandatory and must not be empty",
        ));
    }
    if req.bank_card_token.expose().chars().count() > 560 {
        return Err(FieldError::new(
            "bankCardToken",
            "must be at most 560 characters",
        ));
    }
    validate::positive("amount.value", req.amount)?;
    validate::mandatory("payOptionDetails.payOption", &req.pay_option, 64)?;
    validate::charset(
        "payOptionDetails.payOption",
        &req.pay_option,
        |c| c.is_ascii_alphanumeric() || c == '_',
        "may contain only letters, digits and '_'",
    )?;
    if let Some(r) = &req.remarks {
        validate::max_len("additionalInfo.remarks", r, 64)?;
    }
    Ok(IfortepayDebitRequest {
        partner_reference_no: req.partner_reference.as_str().to_owned(),
        bank_card_token: req.bank_card_token.expose().to_owned(),
        charge_token: "null".to_owned(),
        amount: Amount::idr(req.amount),
        pay_option_details: vec![IfortepayPayOption {
            pay_method: "DEBIT_CARD".to_owned(),
            pay_option: req.pay_option.clone(),
        }],
        additional_info: IfortepayDebitAdditionalInfo {
            is_with_otp: if req.with_otp { "Y" } else { "N" }.to_owned(),
            remarks: req.remarks.clone().filter(|r| !r.is_empty()),
        },
    })
}

/// A debit answer → outcome and, with OTP, the charge token the OTP step needs.
/// With OTP a success means "OTP sent": the payment is in progress until verified.
pub fn debit_outcome(answer: &SnapAnswer, with_otp: bool) -> (Outcome, Option<String>) {
    match verdict(answer, CallKind::Transactional) {
        Verdict::Accepted { in_progress } => {
            let reference = reference(answer);
            let charge = answer
                .str_at("additionalInfo.chargeToken")
                .filter(|c| !c.is_empty() && *c != "null")
                .map(str::to_owned);
            if with_otp || in_progress {
                (Outcome::InProgress { reference }, charge)
            } else {
                (Outcome::Success { reference }, charge)
            }
        }
        Verdict::NotFound => (not_found_on_submission(answer), None),
        Verdict::TokenRejected => (token_rejected(), None),
        Verdict::Decided(o) => (o, None),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayDebitStatusRequest {
    pub original_partner_reference_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_reference_no: Option<String>,
    pub service_code: String,
    pub amount: Amount,
}

pub fn debit_status_request(q: &StatusQuery) -> IfortepayDebitStatusRequest {
    IfortepayDebitStatusRequest {
        original_partner_reference_no: q.partner_reference.as_str().to_owned(),
        original_reference_no: q.provider_reference.clone(),
        service_code: "54".to_owned(),
        amount: Amount::idr(q.amount),
    }
}

/// `latestTransactionStatus` of a direct debit (NOTES.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebitStatus {
    Success,
    Initiated,
    Pending,
    Refunded,
    Failed,
    NotFound,
}

impl FromStr for DebitStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "00" => Ok(DebitStatus::Success),
            "01" => Ok(DebitStatus::Initiated),
            "03" => Ok(DebitStatus::Pending),
            "04" => Ok(DebitStatus::Refunded),
            "06" => Ok(DebitStatus::Failed),
            "07" => Ok(DebitStatus::NotFound),
            other => Err(format!(
                "unrecognised debit latestTransactionStatus {other:?}"
            )),
        }
    }
}

pub fn debit_status_outcome_of(
    status: DebitStatus,
    reference: Option<String>,
    desc: String,
) -> Outcome {
    match status {
        DebitStatus::Success => Outcome::Success { reference },
        DebitStatus::Initiated | DebitStatus::Pending => Outcome::InProgress { reference },
        DebitStatus::Refunded => Outcome::Cancelled {
            reference,
            reason: desc,
        },
        DebitStatus::Failed => Outcome::FinalFailure {
            code: "06".to_owned(),
            message: desc,
        },
        DebitStatus::NotFound => Outcome::NotFound,
    }
}

/// The service of the debit status's own codes (NOTES.md:64; the sandbox answers
/// `4045501` with `latestTransactionStatus` 07).
pub const DEBIT_STATUS_SERVICE: u8 = 55;

/// A debit status answer → outcome. Only `latestTransactionStatus` (06 failed, 04
/// refunded) finalises; a refused inquiry is [`Outcome::Refused`] (review C1).
pub fn debit_status_outcome(answer: &SnapAnswer) -> Outcome {
    let kind = CallKind::Inquiry {
        services: &[DEBIT_STATUS_SERVICE],
    };
    match verdict(answer, kind) {
        Verdict::Accepted { .. } => {
            let reference = answer
                .str_at("originalReferenceNo")
                .or_else(|| answer.str_at("referenceNo"))
                .map(str::to_owned);
            let desc = answer
                .str_at("transactionStatusDesc")
                .map(str::to_owned)
                .or_else(|| answer.message.clone())
                .unwrap_or_default();
            match answer
                .str_at("latestTransactionStatus")
                .map(str::parse::<DebitStatus>)
            {
                Some(Ok(s)) => debit_status_outcome_of(s, reference, desc),
                Some(Err(reason)) => Outcome::Unknown { reason },
                None => Outcome::Unknown {
                    reason: "debit status answer without latestTransactionStatus".into(),
                },
            }
        }
        Verdict::NotFound => Outcome::NotFound,
        Verdict::TokenRejected => token_rejected(),
        Verdict::Decided(o) => o,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::Beneficiary;
    use crate::domain::{AccountNumber, BankCode, ExternalId, PartnerReference};

    pub(crate) fn merchant() -> IfortepayMerchant {
        IfortepayMerchant {
            source_account_no: "123812939120".into(),
            originator_customer_no: "053229281239".into(),
            originator_customer_name: "PT Kirim".into(),
            originator_bank_code: "014".into(),
            sender_country: "ID".into(),
            sender_city: "3173".into(),
            beneficiary_country: "ID".into(),
            beneficiary_city: "3173".into(),
            transaction_purpose: "3".into(),
            is_virtual_account: "N".into(),
            fee_type: "OUR".into(),
        }
    }

    pub(crate) fn transfer(amount: u64) -> TransferRequest {
        TransferRequest {
            partner_reference: PartnerReference::parse("INV-1").unwrap(),
            amount: Money::from_rupiah(amount),
            beneficiary: Beneficiary {
                account_no: AccountNumber::parse("8753293240").unwrap(),
                bank_code: BankCode::parse("014").unwrap(),
                name: "Test BCA".into(),
                email: None,
                phone: None,
                address: None,
            },
            remark: Some("Gaji Nov, 2026.".into()),
            external_id: ExternalId::parse("1672977134961").unwrap(),
            transaction_date: "2022-11-09T07:00:00.123Z".into(),
            fence: Default::default(),
        }
    }

    fn answer(status: u16, body: Value) -> SnapAnswer {
        SnapAnswer::new(status, None, Some(body))
    }

    #[test]
    fn transfer_body_has_every_mandatory_field() {
        let body = transfer_request(&transfer(10_000), &merchant()).unwrap();
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["amount"], json!({"value": "10000.00", "currency": "IDR"}));
        assert_eq!(v["transactionDate"], "2022-11-09T14:00:00+07:00");
        assert_eq!(v["feeType"], "OUR");
        assert_eq!(v["sourceAccountNo"], "123812939120");
        assert_eq!(v["originatorInfos"][0]["originatorBankCode"], "014");
        assert_eq!(v["additionalInfo"]["transactionPurpose"], "3");
        assert_eq!(v["additionalInfo"]["isVirtualAccount"], "N");
        assert_eq!(v["additionalInfo"]["senderCity"], "3173");
        assert!(v.get("beneficiaryEmail").is_none());
        let text = serde_json::to_string(&body).unwrap();
        assert!(
            text.starts_with("{\"partnerReferenceNo\":\"INV-1\",\"amount\":"),
            "{text}"
        );
    }

    #[test]
    fn transfer_validation_names_field_and_rule() {
        let m = merchant();
        let cases: Vec<(TransferRequest, IfortepayMerchant, &str, &str)> = vec![
            (
                transfer(9_999),
                m.clone(),
                "amount.value",
                "between 10000.00 and 250000000.00",
            ),
            (transfer(250_000_001), m.clone(), "amount.value", "between"),
            (
                {
                    let mut t = transfer(10_000);
                    t.remark = Some("50% off!".into());
                    t
                },
                m.clone(),
                "additionalInfo.remark",
                "only letters",
            ),
            (
                {
                    let mut t = transfer(10_000);
                    t.remark = Some("x".repeat(101));
                    t
                },
                m.clone(),
                "additionalInfo.remark",
                "at most 100",
            ),
            (
                {
                    let mut t = transfer(10_000);
                    t.beneficiary.name = String::new();
                    t
                },
                m.clone(),
                "beneficiaryAccountName",
                "mandatory",
            ),
            (
                {
                    let mut t = transfer(10_000);
                    t.transaction_date = "yesterday".into();
                    t
                },
                m.clone(),
                "transactionDate",
                "ISO-8601",
            ),
            (
                transfer(10_000),
                IfortepayMerchant {
                    transaction_purpose: "4".into(),
                    ..m.clone()
                },
                "additionalInfo.transactionPurpose",
                "\"1\", \"2\", \"3\"",
            ),
            (
                transfer(10_000),
                IfortepayMerchant {
                    fee_type: "BEN".into(),
                    ..m.clone()
                },
                "feeType",
                "\"OUR\"",
            ),
            (
                transfer(10_000),
                IfortepayMerchant {
                    is_virtual_account: "yes".into(),
                    ..m.clone()
                },
                "additionalInfo.isVirtualAccount",
                "\"Y\", \"N\"",
            ),
            (
                transfer(10_000),
                IfortepayMerchant {
                    source_account_no: "1".repeat(20),
                    ..m.clone()
                },
                "sourceAccountNo",
                "at most 19",
            ),
            (
                transfer(10_000),
                IfortepayMerchant {
                    sender_city: String::new(),
                    ..m.clone()
                },
                "additionalInfo.senderCity",
                "mandatory",
            ),
        ];
        for (req, m, field, rule) in cases {
            let e = transfer_request(&req, &m).unwrap_err();
            assert_eq!(e.field, field, "{e}");
            assert!(e.rule.contains(rule), "{field}: {}", e.rule);
        }
        assert!(transfer_request(&transfer(250_000_000), &merchant()).is_ok());
    }

    #[test]
    fn status_table() {
        let r = Some("STI1".to_owned());
        assert_eq!(
            status_outcome(IfortepayStatus::Init, r.clone(), String::new()),
            Outcome::InProgress {
                reference: r.clone()
            }
        );
        assert_eq!(
            status_outcome(IfortepayStatus::Success, r.clone(), String::new()),
            Outcome::Success {
                reference: r.clone()
            }
        );
        assert_eq!(
            status_outcome(IfortepayStatus::Cancelled, r.clone(), "x".into()),
            Outcome::Cancelled {
                reference: r,
                reason: "x".into()
            }
        );
        assert!("DONE".parse::<IfortepayStatus>().is_err());
    }

    #[test]
    fn transfer_answers() {
        let pending = answer(
            200,
            json!({"responseCode": "2021800", "referenceNo": "STI1", "additionalInfo": {"status": "INIT"}}),
        );
        assert_eq!(
            transfer_outcome(&pending),
            Outcome::InProgress {
                reference: Some("STI1".into())
            }
        );
        let ok = answer(
            200,
            json!({"responseCode": "2001800", "referenceNo": "STI1", "additionalInfo": {"status": "SUCCESS"}}),
        );
        assert_eq!(transfer_outcome(&ok).label(), "success");
        let cancelled = answer(
            200,
            json!({"responseCode": "2001800", "additionalInfo": {"status": "CANCELLED", "cancelledReason": "External Server Error"}}),
        );
        assert_eq!(
            transfer_outcome(&cancelled),
            Outcome::Cancelled {
                reference: None,
                reason: "External Server Error".into()
            }
        );
        let odd = answer(
            200,
            json!({"responseCode": "2001800", "additionalInfo": {"status": "HELD"}}),
        );
        assert_eq!(transfer_outcome(&odd).label(), "unknown");
        let invalid = answer(
            404,
            json!({"responseCode": "4041811", "responseMessage": "Invalid Account"}),
        );
        assert_eq!(
            transfer_outcome(&invalid),
            Outcome::FinalFailure {
                code: "4041811".into(),
                message: "Invalid Account".into()
            }
        );
        for code in ["4091800", "4091801", "5001800", "5041800"] {
            assert_eq!(
                transfer_outcome(&answer(500, json!({"responseCode": code}))).label(),
                "unknown"
            );
        }
        assert_eq!(
            transfer_outcome(&answer(429, json!({"responseCode": "4291800"}))).label(),
            "retryable"
        );
        assert_eq!(
            transfer_outcome(&answer(401, json!({"responseCode": "4011801"}))).label(),
            "retryable"
        );
        let malformed = SnapAnswer::new(200, None, None);
        assert_eq!(transfer_outcome(&malformed).label(), "unknown");
    }

    #[test]
    fn history_detail_answers() {
        let found = answer(
            200,
            json!({"responseCode": "2001300", "referenceNo": "STI9", "status": "SUCCESS"}),
        );
        assert_eq!(
            history_detail_outcome(&found),
            Outcome::Success {
                reference: Some("STI9".into())
            }
        );
        let nested = answer(
            200,
            json!({"responseCode": "2001300", "detailData": {"referenceNo": "STI9", "additionalInfo": {"status": "INIT"}}}),
        );
        assert_eq!(history_detail_outcome(&nested).label(), "in_progress");
        let missing = answer(404, json!({"responseCode": "4041301"}));
        assert_eq!(history_detail_outcome(&missing), Outcome::NotFound);
        let q = StatusQuery {
            partner_reference: PartnerReference::parse("INV-1").unwrap(),
            provider_reference: None,
            amount: Money::from_rupiah(10_000),
            beneficiary_account_no: Some(AccountNumber::parse("1").unwrap()),
            transaction_date: "2022-11-09T14:00:00+07:00".into(),
            external_id: ExternalId::parse("1").unwrap(),
        };
        assert_eq!(
            serde_json::to_string(&history_detail_request(&q)).unwrap(),
            r#"{"originPartnerReferenceNo":"INV-1","additionalInfo":{"type":"SEND_MONEY"}}"#
        );
    }

    fn refused(code: &str) -> impl Fn(&Outcome) -> bool + '_ {
        move |o| matches!(o, Outcome::Refused { code: c, .. } if c == code)
    }

    #[test]
    fn a_refused_inquiry_is_not_a_failed_transfer() {
        // Review C1: a bad signature on the inquiry once marked the payout FAILED.
        let o = history_detail_outcome(&answer(401, json!({"responseCode": "4011300"})));
        assert_eq!(
            o,
            Outcome::Refused {
                code: "4011300".into(),
                message: "(no responseMessage)".into()
            }
        );
        // A WAF's HTML 403 (no JSON at all), on both inquiries.
        let html = SnapAnswer::new(403, None, None);
        assert!(refused("HTTP403")(&history_detail_outcome(&html)));
        assert!(refused("HTTP403")(&debit_status_outcome(&html)));
        // Every request-level "no" on the inquiry is a refusal, even a business code.
        for (status, code) in [
            (400, "4001301"),
            (400, "4001302"),
            (401, "4011302"),
            (403, "4031314"),
            (404, "4041311"),
            (404, "4041300"),
            (404, "4041318"),
        ] {
            let o = history_detail_outcome(&answer(status, json!({"responseCode": code})));
            assert!(refused(code)(&o), "{code}: {o:?}");
        }
        let clock = answer(
            400,
            json!({"responseCode": "4001301", "responseMessage": "Invalid Field Format X-TIMESTAMP"}),
        );
        assert_eq!(history_detail_outcome(&clock).label(), "refused");
        // Only the record's own status finalises.
        let cancelled = answer(
            200,
            json!({"responseCode": "2001300", "status": "CANCELLED", "additionalInfo": {"cancelledReason": "Bank rejected"}}),
        );
        assert_eq!(
            history_detail_outcome(&cancelled),
            Outcome::Cancelled {
                reference: None,
                reason: "Bank rejected".into()
            }
        );
        // Could not ask: ask again later.
        for code in ["5001300", "5041300", "4291300"] {
            assert_eq!(
                history_detail_outcome(&answer(500, json!({"responseCode": code}))).label(),
                "retryable",
                "{code}"
            );
        }
        assert_eq!(
            history_detail_outcome(&answer(401, json!({"responseCode": "4011301"}))).label(),
            "retryable",
            "token rejected after a refresh"
        );
    }

    #[test]
    fn not_found_only_from_the_status_service() {
        // Review M5: 404xx01 is "never received" only from the service asked.
        let own = answer(404, json!({"responseCode": "4041301"}));
        assert_eq!(history_detail_outcome(&own), Outcome::NotFound);
        for code in ["4041801", "4047301", "4040001", "4045501"] {
            let o = history_detail_outcome(&answer(404, json!({"responseCode": code})));
            assert!(refused(code)(&o), "{code}: {o:?}");
        }
        let own = answer(
            404,
            json!({"responseCode": "4045501", "latestTransactionStatus": "07"}),
        );
        assert_eq!(debit_status_outcome(&own), Outcome::NotFound);
        for code in ["4041301", "4047301", "4045401"] {
            let o = debit_status_outcome(&answer(404, json!({"responseCode": code})));
            assert!(refused(code)(&o), "{code}: {o:?}");
        }
        // A submission never reads 404xx01 as final: inquire.
        let t = transfer_outcome(&answer(404, json!({"responseCode": "4041801"})));
        assert_eq!(t.label(), "unknown", "{t:?}");
        let (d, _) = debit_outcome(&answer(404, json!({"responseCode": "4045401"})), false);
        assert_eq!(d.label(), "unknown", "{d:?}");
    }

    #[test]
    fn submissions_refused_versus_failed() {
        // A route's 404 is no statement about the payment.
        let (o, charge) = debit_outcome(
            &answer(
                404,
                json!({"responseCode": "4040000", "responseMessage": "Not Found"}),
            ),
            false,
        );
        assert_eq!(
            o,
            Outcome::Refused {
                code: "4040000".into(),
                message: "Not Found".into()
            }
        );
        assert_eq!(charge, None);
        let (o, _) = debit_outcome(&SnapAnswer::new(404, None, None), true);
        assert!(refused("HTTP404")(&o), "{o:?}");
        for (status, code, message) in [
            (401, "4011800", "Unauthorized. Signature"),
            (401, "4011802", "Unauthorized"),
            (404, "4041816", "Partner Not Found"),
            (404, "4041817", "Invalid Terminal"),
            (404, "4041818", "Inconsistent Request"),
            (400, "4001801", "Invalid Field Format X-EXTERNAL-ID"),
            (400, "4001802", "Invalid Mandatory Field CHANNEL-ID"),
        ] {
            let o = transfer_outcome(&answer(
                status,
                json!({"responseCode": code, "responseMessage": message}),
            ));
            assert!(refused(code)(&o), "{code}: {o:?}");
        }
        for status in [400, 401, 403, 404, 405, 451] {
            let o = transfer_outcome(&SnapAnswer::new(status, None, None));
            assert_eq!(o.label(), "refused", "HTTP {status}");
        }
        // 408, 409, 5xx and a 2xx without a code may hide a booked transfer.
        for status in [200, 408, 409, 500, 502, 504] {
            let o = transfer_outcome(&SnapAnswer::new(status, None, None));
            assert_eq!(o.label(), "unknown", "HTTP {status}");
        }
        // The business answers stay final.
        let funds = answer(
            403,
            json!({"responseCode": "4031814", "responseMessage": "Insufficient Funds"}),
        );
        assert_eq!(
            transfer_outcome(&funds),
            Outcome::FinalFailure {
                code: "4031814".into(),
                message: "Insufficient Funds".into()
            }
        );
        for code in ["4001801", "4001802", "4031802", "4031815", "4041811"] {
            let o = transfer_outcome(&answer(
                400,
                json!({"responseCode": code, "responseMessage": "amount.value"}),
            ));
            assert_eq!(o.label(), "final_failure", "{code}");
        }
        let (o, _) = debit_outcome(&answer(403, json!({"responseCode": "4035414"})), false);
        assert_eq!(o.label(), "final_failure");
    }

    #[test]
    fn account_inquiry_refusals() {
        let asked = AccountInquiryRequest {
            bank_code: BankCode::parse("014").unwrap(),
            account_no: AccountNumber::parse("8753293240").unwrap(),
            external_id: ExternalId::parse("1").unwrap(),
        };
        for code in ["4011600", "4041601", "4041616", "4047301"] {
            let e = account_inquiry_result(&answer(404, json!({"responseCode": code})), &asked)
                .unwrap_err();
            assert_eq!(e.label(), "refused", "{code}");
        }
    }

    #[test]
    fn account_balance_profile() {
        let asked = AccountInquiryRequest {
            bank_code: BankCode::parse("014").unwrap(),
            account_no: AccountNumber::parse("8753293240").unwrap(),
            external_id: ExternalId::parse("1").unwrap(),
        };
        let ok = answer(
            200,
            json!({"responseCode": "2001600", "beneficiaryAccountName": "SDR EREN", "beneficiaryAccountNo": "8753293240"}),
        );
        assert_eq!(
            account_inquiry_result(&ok, &asked).unwrap().account_name,
            "SDR EREN"
        );
        let invalid = answer(
            404,
            json!({"responseCode": "4041611", "responseMessage": "Invalid Account"}),
        );
        assert_eq!(
            account_inquiry_result(&invalid, &asked)
                .unwrap_err()
                .label(),
            "final_failure"
        );

        let bal = answer(
            200,
            json!({"responseCode": "2001100", "accountInfos": [{"availableBalance": {"value": "1000.00", "currency": "IDR"}}]}),
        );
        assert_eq!(balance_result(&bal).unwrap().available.to_wire(), "1000.00");

        let prof = answer(
            200,
            json!({"responseCode": "2000000", "detailData": {"businessAccountNumber": "123812939120", "secretKey": "s"}}),
        );
        let p = profile_result(&prof).unwrap();
        assert_eq!(p.business_account_number, "123812939120");
        assert_eq!(p.detail["secretKey"], "[redacted]");
    }

    #[test]
    fn history_list() {
        let q = HistoryQuery {
            from: "2026-01-01T00:00:00+07:00".into(),
            to: "2026-03-01T00:00:00+07:00".into(),
            page: 1,
            page_size: 2,
            external_id: ExternalId::parse("1").unwrap(),
        };
        assert!(history_list_request(&q).is_ok());
        let too_long = HistoryQuery {
            to: "2026-04-02T00:00:00+07:00".into(),
            ..q.clone()
        };
        assert_eq!(
            history_list_request(&too_long).unwrap_err().field,
            "toDateTime"
        );
        let a = answer(
            200,
            json!({"responseCode": "2001200", "detailData": [
                {"partnerReferenceNo": "A", "referenceNo": "R1", "amount": {"value": "10000.00", "currency": "IDR"}, "status": "SUCCESS"},
                {"partnerReferenceNo": "B", "amount": {"value": "20000.00", "currency": "IDR"}, "additionalInfo": {"status": "CANCELLED"}},
                {"amount": {"value": "30000.00", "currency": "IDR"}, "status": "INIT", "additionalInfo": {"partnerReferenceNo": "C", "referenceNo": "R3"}},
                {"nonsense": true}
            ]}),
        );
        let (page, skipped) = history_list_result(&a, &q).unwrap();
        assert_eq!(skipped, 1);
        assert_eq!(page.entries.len(), 3);
        assert_eq!(page.entries[2].provider_reference.as_deref(), Some("R3"));
        assert_eq!(page.entries[0].outcome.label(), "success");
        assert_eq!(page.entries[1].outcome.label(), "cancelled");
        assert!(
            page.has_more,
            "a full page without paging info may have more"
        );
    }

    #[test]
    fn debit() {
        let req = PaymentRequest {
            partner_reference: PartnerReference::parse("QA-1").unwrap(),
            amount: Money::from_rupiah(15_000),
            bank_card_token: crate::domain::Secret::new("card_.abc"),
            with_otp: true,
            pay_option: "BRI".into(),
            remarks: None,
            external_id: ExternalId::parse("1").unwrap(),
            fence: Default::default(),
        };
        let body = debit_request(&req).unwrap();
        assert!(!format!("{body:?}").contains("card_.abc"));
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["chargeToken"], "null");
        assert_eq!(v["additionalInfo"]["isWithOtp"], "Y");
        let ok = answer(
            200,
            json!({"responseCode": "2005400", "referenceNo": "R", "additionalInfo": {"chargeToken": "CHARGE_X::0146"}}),
        );
        let (o, charge) = debit_outcome(&ok, true);
        assert_eq!(o.label(), "in_progress");
        assert_eq!(charge.as_deref(), Some("CHARGE_X::0146"));
        let (o, _) = debit_outcome(&ok, false);
        assert_eq!(o.label(), "success");
        let empty = PaymentRequest {
            bank_card_token: crate::domain::Secret::new(""),
            ..req
        };
        assert_eq!(debit_request(&empty).unwrap_err().field, "bankCardToken");
        for (code, label) in [
            ("00", "success"),
            ("01", "in_progress"),
            ("03", "in_progress"),
            ("04", "cancelled"),
            ("06", "final_failure"),
            ("07", "not_found"),
        ] {
            let a = answer(
                200,
                json!({"responseCode": "2005500", "latestTransactionStatus": code}),
            );
            assert_eq!(debit_status_outcome(&a).label(), label, "{code}");
        }
    }
}
