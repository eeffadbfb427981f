//! Money: rupiah amounts that can only hold valid values.
//!
//! Amounts are `rust_decimal::Decimal`, never floats. The wire form is a string with
//! exactly two decimals (`"10000.00"`), as every SNAP provider expects. Parsing is
//! strict: a negative amount, a third decimal, exponent notation or more than 16
//! integer digits (the `16,2` of the provider tables) is an error, not a rounding.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::FieldError;

/// ISO-4217 currency. Only IDR is supported; the type exists so that adding a
/// currency is a compile-time decision, not a string comparison scattered around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Currency {
    #[default]
    Idr,
}

impl Currency {
    pub fn as_str(self) -> &'static str {
        match self {
            Currency::Idr => "IDR",
        }
    }

    /// Parse a currency code; `field` names the input in the error.
    pub fn parse(value: &str, field: &str) -> Result<Self, FieldError> {
        match value {
            "IDR" => Ok(Currency::Idr),
            _ => Err(FieldError::new(
                field,
                "must be IDR (the only supported currency)",
            )),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s, "currency").map_err(serde::de::Error::custom)
    }
}

/// A non-negative rupiah amount with at most two decimals and at most 16 integer digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

/// Most integer digits an amount may have (`16,2` in the provider tables).
pub const MAX_INTEGER_DIGITS: usize = 16;

impl Money {
    /// Parse the wire or user form. `field` names the input in the error.
    pub fn parse(value: &str, field: &str) -> Result<Self, FieldError> {
        let (int, frac) = match value.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (value, None),
        };
        if value.starts_with('-') {
            return Err(FieldError::new(field, "must not be negative"));
        }
        if value.contains(['e', 'E']) {
            return Err(FieldError::new(
                field,
                "must be a plain decimal, not exponent notation",
            ));
        }
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldError::new(
                field,
                "must be digits with an optional '.' and up to two decimals, e.g. 10000.00",
            ));
        }
        if int.len() > MAX_INTEGER_DIGITS {
            return Err(FieldError::new(
                field,
                "must have at most 16 integer digits",
            ));
        }
        if let Some(f) = frac {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(FieldError::new(
                    field,
                    "must be digits with an optional '.' and up to two decimals, e.g. 10000.00",
                ));
            }
            if f.len() > 2 {
                return Err(FieldError::new(field, "must have at most two decimals"));
            }
        }
        let d = Decimal::from_str(value)
            .map_err(|_| FieldError::new(field, "is not a decimal number"))?;
        Ok(Money(d))
    }

    /// From a decimal already in hand (e.g. a config value); same rules as [`Money::parse`].
    pub fn from_decimal(d: Decimal, field: &str) -> Result<Self, FieldError> {
        if d.is_sign_negative() && !d.is_zero() {
            return Err(FieldError::new(field, "must not be negative"));
        }
        if d.normalize().scale() > 2 {
            return Err(FieldError::new(field, "must have at most two decimals"));
        }
        Money::parse(&Money(d.abs()).to_wire(), field)
    }

    /// Whole rupiah.
    pub fn from_rupiah(rupiah: u64) -> Self {
        Money(Decimal::from(rupiah))
    }

    pub fn zero() -> Self {
        Money(Decimal::ZERO)
    }

    pub fn as_decimal(&self) -> Decimal {
        self.0
    }

    /// The wire form, exactly two decimals: `10000.00`.
    pub fn to_wire(&self) -> String {
        let mut d = self.0;
        d.rescale(2);
        d.to_string()
    }

    pub fn checked_add(&self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(&self, other: Money) -> Option<Money> {
        let r = self.0.checked_sub(other.0)?;
        (!r.is_sign_negative() || r.is_zero()).then_some(Money(r))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_wire())
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_wire())
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Money::parse(&s, "amount").map_err(serde::de::Error::custom)
    }
}

/// The SNAP `{ "value": "10000.00", "currency": "IDR" }` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    pub value: Money,
    pub currency: Currency,
}

impl Amount {
    pub fn idr(value: Money) -> Self {
        Amount {
            value,
            currency: Currency::Idr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_has_two_decimals() {
        assert_eq!(Money::parse("10000", "a").unwrap().to_wire(), "10000.00");
        assert_eq!(Money::parse("10000.5", "a").unwrap().to_wire(), "10000.50");
        assert_eq!(Money::parse("0.01", "a").unwrap().to_wire(), "0.01");
        assert_eq!(Money::from_rupiah(250_000_000).to_wire(), "250000000.00");
    }

    #[test]
    fn rejects_bad_amounts_naming_field_and_rule() {
        let cases = [
            ("-1.00", "negative"),
            ("1.001", "two decimals"),
            ("1e5", "exponent"),
            ("12345678901234567.00", "16 integer digits"),
            ("", "digits"),
            ("1.", "digits"),
            (".5", "digits"),
            ("1,000.00", "digits"),
            ("+5", "digits"),
            (" 5", "digits"),
        ];
        for (input, rule) in cases {
            let err = Money::parse(input, "amount.value").unwrap_err();
            assert_eq!(err.field, "amount.value");
            assert!(err.rule.contains(rule), "{input}: {}", err.rule);
        }
        assert!(Money::parse("1234567890123456.99", "a").is_ok());
    }

    #[test]
    fn serde_round_trip() {
        let a = Amount::idr(Money::parse("15000", "x").unwrap());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"value":"15000.00","currency":"IDR"}"#);
        let back: Amount = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert!(serde_json::from_str::<Amount>(r#"{"value":"1.00","currency":"USD"}"#).is_err());
    }

    #[test]
    fn arithmetic_is_exact() {
        let a = Money::parse("0.10", "a").unwrap();
        let b = Money::parse("0.20", "a").unwrap();
        assert_eq!(a.checked_add(b).unwrap().to_wire(), "0.30");
        assert!(a.checked_sub(b).is_none());
    }
}
