//! Parsing API request bodies into domain types, field by field, so that every
//! error names the JSON field (`beneficiary.accountNo`) and the rule.

use serde_json::Value;

use crate::client::{PaymentOrder, TransferOrder};
use crate::domain::{
    AccountNumber, BankCode, Beneficiary, Currency, CustomerType, FieldError, Money,
    PartnerReference, Provider, Residence, Secret,
};

use super::ApiError;

fn parse_json(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::BadBody("the body must be a JSON object".into())),
        Err(e) => Err(ApiError::BadBody(e.to_string())),
    }
}

fn string_at<'a>(
    obj: &'a serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(FieldError::new(path, "must be a string")),
    }
}

fn required<'a>(
    obj: &'a serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, FieldError> {
    string_at(obj, key, path)?.ok_or_else(|| FieldError::new(path, "is mandatory"))
}

fn amount(obj: &serde_json::Map<String, Value>) -> Result<Money, FieldError> {
    match obj.get("amount") {
        Some(Value::Object(a)) => {
            if let Some(c) = string_at(a, "currency", "amount.currency")? {
                Currency::parse(c, "amount.currency")?;
            }
            Money::parse(required(a, "value", "amount.value")?, "amount.value")
        }
        Some(Value::String(s)) => Money::parse(s, "amount"),
        Some(_) => Err(FieldError::new(
            "amount",
            "must be {\"value\": \"10000.00\", \"currency\": \"IDR\"} or a decimal string",
        )),
        None => Err(FieldError::new("amount", "is mandatory")),
    }
}

fn reference(
    obj: &serde_json::Map<String, Value>,
    idem: Option<&str>,
) -> Result<PartnerReference, FieldError> {
    match (
        string_at(obj, "partnerReferenceNo", "partnerReferenceNo")?,
        idem,
    ) {
        (Some(r), _) => PartnerReference::parse(r),
        (None, Some(k)) => PartnerReference::parse_field(k, "Idempotency-Key"),
        (None, None) => Err(FieldError::new(
            "partnerReferenceNo",
            "is mandatory (or send an Idempotency-Key header to use as the reference)",
        )),
    }
}

/// `beneficiary.customerType`, also accepted as `beneficiary.customer_type`; the
/// error names the key that was sent.
fn customer_type(b: &serde_json::Map<String, Value>) -> Result<Option<CustomerType>, FieldError> {
    let camel = string_at(b, "customerType", "beneficiary.customerType")?;
    let snake = string_at(b, "customer_type", "beneficiary.customer_type")?;
    match (camel, snake) {
        (Some(_), Some(_)) => Err(FieldError::new(
            "beneficiary.customerType",
            "give customerType or customer_type, not both",
        )),
        (Some(v), None) => CustomerType::parse_field(v, "beneficiary.customerType").map(Some),
        (None, Some(v)) => CustomerType::parse_field(v, "beneficiary.customer_type").map(Some),
        (None, None) => Ok(None),
    }
}

pub fn transfer_order(body: &[u8], idem: Option<&str>) -> Result<TransferOrder, ApiError> {
    let obj = parse_json(body)?;
    let provider: Provider = required(&obj, "provider", "provider")?.parse()?;
    let b = match obj.get("beneficiary") {
        Some(Value::Object(b)) => b,
        Some(_) => return Err(FieldError::new("beneficiary", "must be an object").into()),
        None => return Err(FieldError::new("beneficiary", "is mandatory").into()),
    };
    let name = required(b, "name", "beneficiary.name")?;
    if name.trim().is_empty() {
        return Err(
            FieldError::new("beneficiary.name", "is mandatory and must not be empty").into(),
        );
    }
    let verify = match obj.get("verifyBeneficiaryName") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(v)) => *v,
        Some(_) => {
            return Err(FieldError::new("verifyBeneficiaryName", "must be true or false").into())
        }
    };
    Ok(TransferOrder {
        provider,
        partner_reference: reference(&obj, idem)?,
        amount: amount(&obj)?,
        beneficiary: Beneficiary {
            account_no: AccountNumber::parse_field(
                required(b, "accountNo", "beneficiary.accountNo")?,
                "beneficiary.accountNo",
            )?,
            bank_code: BankCode::parse_field(
                required(b, "bankCode", "beneficiary.bankCode")?,
                "beneficiary.bankCode",
            )?,
            name: name.to_owned(),
            email: string_at(b, "email", "beneficiary.email")?.map(str::to_owned),
            phone: string_at(b, "phone", "beneficiary.phone")?.map(str::to_owned),
            address: string_at(b, "address", "beneficiary.address")?.map(str::to_owned),
            residence: string_at(b, "residence", "beneficiary.residence")?
                .map(|v| Residence::parse_field(v, "beneficiary.residence"))
                .transpose()?,
            customer_type: customer_type(b)?,
        },
        remark: string_at(&obj, "remark", "remark")?.map(str::to_owned),
        verify_beneficiary_name: verify,
    })
}

/// `default_provider`: the provider a body without `provider` means (the first
/// registered one offering direct debit).
pub fn payment_order(
    body: &[u8],
    idem: Option<&str>,
    default_provider: Option<Provider>,
) -> Result<PaymentOrder, ApiError> {
    let obj = parse_json(body)?;
    let provider: Provider = match string_at(&obj, "provider", "provider")? {
        Some(name) => name.parse()?,
        None => default_provider.ok_or_else(|| {
            FieldError::new("provider", "is mandatory: no provider offers direct debit")
        })?,
    };
    let with_otp = match obj.get("withOtp") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(v)) => *v,
        Some(_) => return Err(FieldError::new("withOtp", "must be true or false").into()),
    };
    Ok(PaymentOrder {
        provider,
        partner_reference: reference(&obj, idem)?,
        amount: amount(&obj)?,
        bank_card_token: Secret::new(required(&obj, "bankCardToken", "bankCardToken")?),
        with_otp,
        pay_option: string_at(&obj, "payOption", "payOption")?
            .unwrap_or("BRI")
            .to_owned(),
        remarks: string_at(&obj, "remarks", "remarks")?.map(str::to_owned),
    })
}

pub fn account_inquiry(body: &[u8]) -> Result<(Provider, BankCode, AccountNumber), ApiError> {
    let obj = parse_json(body)?;
    Ok((
        required(&obj, "provider", "provider")?.parse()?,
        BankCode::parse_field(required(&obj, "bankCode", "bankCode")?, "bankCode")?,
        AccountNumber::parse_field(required(&obj, "accountNo", "accountNo")?, "accountNo")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(beneficiary: Value) -> Vec<u8> {
        json!({
            "provider": "nicepay",
            "partnerReferenceNo": "REQ-1",
            "amount": {"value": "15000.00", "currency": "IDR"},
            "beneficiary": beneficiary,
        })
        .to_string()
        .into_bytes()
    }

    fn field_error(r: Result<TransferOrder, ApiError>) -> FieldError {
        match r {
            Err(ApiError::Invalid(e)) => e,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn residence_and_customer_type_are_read_by_name() {
        let base = json!({"accountNo": "8753293240", "bankCode": "014", "name": "PT Maju"});
        let o = transfer_order(&body(base.clone()), None).unwrap();
        assert_eq!(
            (o.beneficiary.residence, o.beneficiary.customer_type),
            (None, None)
        );
        for key in ["customerType", "customer_type"] {
            let mut b = base.clone();
            b["residence"] = json!("non_resident");
            b[key] = json!("company");
            let o = transfer_order(&body(b), None).unwrap();
            assert_eq!(o.beneficiary.residence, Some(Residence::NonResident));
            assert_eq!(o.beneficiary.customer_type, Some(CustomerType::Company));
        }
        let mut b = base.clone();
        b["customerType"] = json!("company");
        b["customer_type"] = json!("company");
        let e = field_error(transfer_order(&body(b), None));
        assert_eq!(e.field, "beneficiary.customerType");
        let mut b = base;
        b["residence"] = json!(true);
        let e = field_error(transfer_order(&body(b), None));
        assert_eq!(e.to_string(), "beneficiary.residence: must be a string");
    }
}
