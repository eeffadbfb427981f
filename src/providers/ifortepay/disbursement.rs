//! iFortepay disbursement (served from the Senmo hosts): transfer, history detail
//! (the transfer status), account and balance inquiry, merchant profile and history
//! list. Wire types and pure mappings; re-exported by [`super::transformers`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::settings::IfortepayMerchant;
use super::transformers::{
    accepted_outcome, not_found_on_submission, status_outcome, IfortepayStatus,
};
use crate::domain::{Amount, FieldError, Money};
use crate::providers::snap::answer::{amount_at, verdict, CallKind, SnapAnswer, Verdict};
use crate::providers::validate;
use crate::providers::verdict::token_rejected;
use crate::providers::{
    AccountInfo, AccountInquiryRequest, HistoryPage, HistoryQuery, HistoryRow, Outcome,
    StatusQuery, TransferRequest,
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
/// `pageSize` is "Int, length 2" in iFortepay's public history-list table
/// (NOTES.md, Corrections 2026-12-01: "`pageSize` is an integer of at most two
/// digits"), so at most 99.
pub const HISTORY_MAX_PAGE_SIZE: u32 = 99;

/// The history-list body. Only fields a source shows (NOTES.md iFortepay row
/// "History list": `fromDateTime`, `toDateTime`, `pageSize`, `partnerReferenceNo`,
/// `filter`): `pageSize` is a JSON integer; no source shows a page number, so none
/// is sent and only the first page can be asked (see [`history_list_request`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IfortepayHistoryListRequest {
    pub from_date_time: String,
    pub to_date_time: String,
    pub page_size: u32,
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
    // No source shows a page number for the history list, so kirim sends none:
    // page 1 is the only page it can ask for (callers stop at `has_more: false`).
    if q.page != 1 {
        return Err(FieldError::new(
            "pageNumber",
            "iFortepay's history list documents no page number; only page 1 can be read",
        ));
    }
    let fmt = |d: chrono::DateTime<chrono::FixedOffset>| {
        d.with_timezone(&timestamp::jakarta())
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    };
    Ok(IfortepayHistoryListRequest {
        from_date_time: fmt(from),
        to_date_time: fmt(to),
        page_size: q.page_size,
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
    _asked: &HistoryQuery,
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
    // Without a documented page number there is no next page to ask for: a row
    // this page does not show falls back to the per-transfer inquiry.
    let has_more = false;
    Ok((HistoryPage { entries, has_more }, skipped))
}

#[cfg(test)]
#[path = "disbursement_tests.rs"]
mod tests;
