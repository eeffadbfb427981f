//! Field rules the provider tables state (mandatory, length, allowed values,
//! charset, ranges). Every check returns a [`FieldError`] naming the wire field and
//! the rule, so an operator reading "additionalInfo.remark: may contain only …"
//! knows what to fix. The transformers call these before building a request;
//! nothing that fails them reaches the network.

use chrono::{DateTime, FixedOffset, Months};

use crate::domain::{FieldError, Money};
use crate::snap::timestamp;

/// Non-empty and at most `max` characters.
pub fn mandatory(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "is mandatory and must not be empty"));
    }
    max_len(field, value, max)
}

/// At most `max` characters (an empty optional value passes).
pub fn max_len(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// Exactly one of `allowed`.
pub fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), FieldError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    let list = allowed
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    Err(FieldError::new(field, format!("must be one of {list}")))
}

/// Every character satisfies `ok`; `rule` says which characters are allowed.
pub fn charset(
    field: &str,
    value: &str,
    ok: fn(char) -> bool,
    rule: &str,
) -> Result<(), FieldError> {
    if value.chars().all(ok) {
        Ok(())
    } else {
        Err(FieldError::new(field, rule.to_owned()))
    }
}

/// Digits only (and non-empty).
pub fn digits(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    mandatory(field, value, max)?;
    charset(
        field,
        value,
        |c| c.is_ascii_digit(),
        "must contain digits only",
    )
}

/// `min <= amount <= max`.
pub fn amount_between(
    field: &str,
    amount: Money,
    min: Money,
    max: Money,
) -> Result<(), FieldError> {
    if amount < min || amount > max {
        return Err(FieldError::new(
            field,
            format!(
                "must be between {} and {} IDR",
                min.to_wire(),
                max.to_wire()
            ),
        ));
    }
    Ok(())
}

/// A positive amount.
pub fn positive(field: &str, amount: Money) -> Result<(), FieldError> {
    if amount == Money::zero() {
        return Err(FieldError::new(field, "must be greater than zero"));
    }
    Ok(())
}

/// An ISO-8601 timestamp with an offset.
pub fn iso_datetime(field: &str, value: &str) -> Result<DateTime<FixedOffset>, FieldError> {
    timestamp::parse(value).map_err(|_| {
        FieldError::new(
            field,
            "must be ISO-8601 with an offset, e.g. 2026-01-31T10:11:40+07:00",
        )
    })
}

/// A period of at most `months` months, `from` before `to`.
pub fn period(
    from_field: &str,
    from: DateTime<FixedOffset>,
    to_field: &str,
    to: DateTime<FixedOffset>,
    months: u32,
) -> Result<(), FieldError> {
    if from > to {
        return Err(FieldError::new(
            to_field,
            format!("must not be before {from_field}"),
        ));
    }
    let limit = from
        .checked_add_months(Months::new(months))
        .ok_or_else(|| FieldError::new(from_field, "is out of range"))?;
    if to > limit {
        return Err(FieldError::new(
            to_field,
            format!("the period must be at most {months} months"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_name_field() {
        assert_eq!(
            mandatory("a", " ", 3).unwrap_err().rule,
            "is mandatory and must not be empty"
        );
        assert!(mandatory("a", "abcd", 3)
            .unwrap_err()
            .rule
            .contains("at most 3"));
        assert!(one_of("feeType", "BEN", &["OUR"])
            .unwrap_err()
            .rule
            .contains("\"OUR\""));
        assert!(digits("x", "12a", 5).is_err());
        let f = iso_datetime("f", "2026-01-01T00:00:00+07:00").unwrap();
        let t = iso_datetime("t", "2026-04-01T00:00:00+07:00").unwrap();
        assert!(period("f", f, "t", t, 3).is_ok());
        let t2 = iso_datetime("t", "2026-04-01T00:00:01+07:00").unwrap();
        assert!(period("f", f, "t", t2, 3)
            .unwrap_err()
            .rule
            .contains("3 months"));
        assert!(period("f", t, "t", f, 3)
            .unwrap_err()
            .rule
            .contains("before"));
    }
}
