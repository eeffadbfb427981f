//! Who a beneficiary is, per payout: where they live ([`Residence`]) and what kind
//! of party they are ([`CustomerType`]). Both are optional on a payout; a provider
//! that needs them falls back to its merchant-level default when a payout gives none.
//!
//! The value sets are NICEPAY's, the only provider that asks: its payout inquiry
//! document (`nicepay-payout-inquiry.txt`, response table) gives
//! "beneficiaryCustomerResidence … 1: Indonesia 2: Non Indonesia" and
//! "beneficiaryCustomerType … 1: Personal 2: Company 3: Government", and its public
//! registration page (docs.nicepay.co.id, "Registration - API Payout (Disbursement)
//! SNAP") sends the same two fields. kirim names the values in words; the wire codes
//! are the provider's business (`providers::nicepay::transformers`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::FieldError;

/// Where the beneficiary lives. Stored and accepted as `resident` / `non_resident`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Residence {
    /// Lives in Indonesia (NICEPAY "1: Indonesia").
    Resident,
    /// Lives abroad (NICEPAY "2: Non Indonesia").
    NonResident,
}

/// What kind of party the beneficiary is. Stored and accepted as `individual` /
/// `company` / `government`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerType {
    /// A person (NICEPAY "1: Personal").
    Individual,
    /// A company (NICEPAY "2: Company").
    Company,
    /// A government body (NICEPAY "3: Government").
    Government,
}

impl Residence {
    pub const ALL: [Residence; 2] = [Residence::Resident, Residence::NonResident];

    pub fn as_str(self) -> &'static str {
        match self {
            Residence::Resident => "resident",
            Residence::NonResident => "non_resident",
        }
    }

    /// Parse, naming `field` and the allowed values in the error.
    pub fn parse_field(value: &str, field: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == value)
            .ok_or_else(|| FieldError::new(field, one_of(Self::ALL.map(Self::as_str))))
    }
}

impl CustomerType {
    pub const ALL: [CustomerType; 3] = [
        CustomerType::Individual,
        CustomerType::Company,
        CustomerType::Government,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CustomerType::Individual => "individual",
            CustomerType::Company => "company",
            CustomerType::Government => "government",
        }
    }

    /// Parse, naming `field` and the allowed values in the error.
    pub fn parse_field(value: &str, field: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == value)
            .ok_or_else(|| FieldError::new(field, one_of(Self::ALL.map(Self::as_str))))
    }
}

fn one_of<const N: usize>(values: [&str; N]) -> String {
    format!("must be one of: {}", values.join(", "))
}

impl FromStr for Residence {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Residence::parse_field(s, "beneficiary.residence")
    }
}

impl FromStr for CustomerType {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CustomerType::parse_field(s, "beneficiary.customerType")
    }
}

impl fmt::Display for Residence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CustomerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for r in Residence::ALL {
            assert_eq!(r.as_str().parse::<Residence>(), Ok(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        for t in CustomerType::ALL {
            assert_eq!(t.as_str().parse::<CustomerType>(), Ok(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }

    #[test]
    fn errors_name_the_field_and_the_allowed_values() {
        let e = Residence::parse_field("1", "beneficiary.residence").unwrap_err();
        assert_eq!(
            e.to_string(),
            "beneficiary.residence: must be one of: resident, non_resident"
        );
        let e = CustomerType::parse_field("Company", "beneficiary.customerType").unwrap_err();
        assert_eq!(
            e.to_string(),
            "beneficiary.customerType: must be one of: individual, company, government"
        );
    }
}
