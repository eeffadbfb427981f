//! Domain types shared by the producers, the API, the CLI, the workers and the
//! provider clients. Each type can only hold a valid value ("parse, don't validate");
//! every parse error names the field and the rule it broke.

mod beneficiary;
pub mod external_id;
pub mod millis;
pub mod money;
pub mod outcome;
mod provider;
mod secret;
mod state;

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use beneficiary::{CustomerType, Residence};
pub use money::{Amount, Currency, Money};
pub use outcome::Outcome;
pub use provider::Provider;
pub use secret::Secret;
pub use state::State;

/// A bad input value: which field, which rule. Never carries the value itself when
/// the value could be a secret; for ordinary fields callers may add it to the rule.
#[derive(Debug, Clone, Error, PartialEq, Eq, Serialize, Deserialize)]
#[error("{field}: {rule}")]
pub struct FieldError {
    /// Dotted path of the field, e.g. `amount.value` or `additionalInfo.transactionPurpose`.
    pub field: String,
    /// The rule, in words a user can act on.
    pub rule: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

fn check_len(value: &str, field: &str, max: usize) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "is mandatory and must not be empty"));
    }
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr, $check:expr, $rule:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parse, naming `field` in the error.
            pub fn parse_field(value: &str, field: &str) -> Result<Self, FieldError> {
                check_len(value, field, $max)?;
                let ok: fn(char) -> bool = $check;
                if !value.chars().all(ok) {
                    return Err(FieldError::new(field, $rule));
                }
                Ok($name(value.to_owned()))
            }

            /// Parse with the default field name.
            pub fn parse(value: &str) -> Result<Self, FieldError> {
                Self::parse_field(value, $field)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(
    /// `partnerReferenceNo`: the business idempotency key of a payout, chosen by the
    /// producer, unique per transaction. 40 characters is the tightest provider limit
    /// (NICEPAY); letters, digits, `-`, `_` and `.` keep it safe in URLs and Redis keys.
    PartnerReference,
    "partnerReferenceNo",
    40,
    |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'),
    "may contain only letters, digits, '-', '_' and '.'"
);

string_newtype!(
    /// Beneficiary account number: digits only, up to 25 (NICEPAY's limit; iFortepay allows 34).
    AccountNumber,
    "beneficiaryAccountNo",
    25,
    |c| c.is_ascii_digit(),
    "must contain digits only"
);

string_newtype!(
    /// Bank code (`014`) or SWIFT-style code (`BBRINJA`): up to 8 letters or digits.
    BankCode,
    "beneficiaryBankCode",
    8,
    |c| c.is_ascii_alphanumeric(),
    "must contain only letters and digits"
);

string_newtype!(
    /// `X-EXTERNAL-ID`: a numeric message id, unique per partner per day, at most
    /// 36 digits (NICEPAY allows 40, iFortepay's examples use 13–14).
    ExternalId,
    "X-EXTERNAL-ID",
    36,
    |c| c.is_ascii_digit(),
    "must be numeric"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_reference_rules() {
        assert!(PartnerReference::parse("INV-2026.11_01").is_ok());
        let e = PartnerReference::parse("").unwrap_err();
        assert_eq!(e.field, "partnerReferenceNo");
        assert!(e.rule.contains("mandatory"));
        let e = PartnerReference::parse(&"x".repeat(41)).unwrap_err();
        assert!(e.rule.contains("at most 40"));
        let e = PartnerReference::parse("a b").unwrap_err();
        assert!(e.rule.contains("only letters"));
    }

    #[test]
    fn account_and_bank() {
        assert!(AccountNumber::parse("8753293240").is_ok());
        assert_eq!(
            AccountNumber::parse("87a").unwrap_err().to_string(),
            "beneficiaryAccountNo: must contain digits only"
        );
        assert!(BankCode::parse("BBRINJA").is_ok());
        assert!(BankCode::parse("014-").is_err());
        assert!(ExternalId::parse("1672977134961").is_ok());
        assert!(ExternalId::parse("12a").is_err());
    }

    #[test]
    fn beneficiary_stored_before_residence_and_customer_type_still_reads() {
        let old =
            r#"{"account_no":"8753293240","bank_code":"014","name":"Budi","phone":"0812345678"}"#;
        let b: Beneficiary = serde_json::from_str(old).unwrap();
        assert_eq!((b.residence, b.customer_type), (None, None));
        // Absent values are not written, so the stored form of such a payout is unchanged.
        assert_eq!(serde_json::to_string(&b).unwrap(), old);
        let b = Beneficiary {
            residence: Some(Residence::NonResident),
            customer_type: Some(CustomerType::Company),
            ..b
        };
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["residence"], "non_resident");
        assert_eq!(v["customer_type"], "company");
        assert_eq!(serde_json::from_value::<Beneficiary>(v).unwrap(), b);
    }
}

/// The beneficiary of a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beneficiary {
    pub account_no: AccountNumber,
    pub bank_code: BankCode,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Where the beneficiary lives, when the producer said. Absent in payouts
    /// stored before it existed (they read as `None`); a provider that needs it
    /// then uses its merchant-level default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residence: Option<Residence>,
    /// Individual, company or government, when the producer said (`None` as for
    /// [`Beneficiary::residence`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_type: Option<CustomerType>,
}
