//! Request-body field checks that name the field: the provider tables' "M"/"O",
//! lengths and allowed values, over a parsed `serde_json::Value`.
//!
//! Working on `Value` rather than typed structs is deliberate: the sandbox must tell
//! "missing" (`400xx02`) from "wrong type or too long" (`400xx01`) and name the exact
//! dotted field, which a serde derive error does not do reliably.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::domain::Money;

/// A field problem: missing (mandatory, absent/null/empty) or invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldProblem {
    Missing(String),
    Invalid(String),
}

pub type FieldResult<T> = Result<T, FieldProblem>;

/// A JSON object plus the dotted path leading to it, for error names.
#[derive(Clone, Copy)]
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    prefix: &'a str,
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

impl<'a> Obj<'a> {
    /// The root object. `value` must be an object (the SNAP gate guarantees it).
    pub fn root(value: &'a Value) -> FieldResult<Obj<'a>> {
        value
            .as_object()
            .map(|map| Obj { map, prefix: "" })
            .ok_or_else(|| FieldProblem::Invalid("body".into()))
    }

    fn present(&self, name: &str) -> Option<&'a Value> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(v) => Some(v),
        }
    }

    /// Mandatory string of at most `max` characters.
    pub fn req(&self, name: &str, max: usize) -> FieldResult<&'a str> {
        self.opt(name, max)?
            .ok_or_else(|| FieldProblem::Missing(join(self.prefix, name)))
    }

    /// Optional string of at most `max` characters.
    pub fn opt(&self, name: &str, max: usize) -> FieldResult<Option<&'a str>> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.as_str())),
            Some(_) => Err(FieldProblem::Invalid(join(self.prefix, name))),
        }
    }

    /// Mandatory string among `allowed`.
    pub fn req_one_of(&self, name: &str, allowed: &[&str]) -> FieldResult<&'a str> {
        let v = self.req(name, 64)?;
        if allowed.contains(&v) {
            Ok(v)
        } else {
            Err(FieldProblem::Invalid(join(self.prefix, name)))
        }
    }

    /// Optional string among `allowed`.
    pub fn opt_one_of(&self, name: &str, allowed: &[&str]) -> FieldResult<Option<&'a str>> {
        match self.opt(name, 64)? {
            Some(v) if !allowed.contains(&v) => Err(FieldProblem::Invalid(join(self.prefix, name))),
            other => Ok(other),
        }
    }

    /// Mandatory nested object; `path` is where its own fields are reported.
    pub fn req_obj(&self, name: &str, path: &'a str) -> FieldResult<Obj<'a>> {
        self.opt_obj(name, path)?
            .ok_or_else(|| FieldProblem::Missing(join(self.prefix, name)))
    }

    /// Optional nested object.
    pub fn opt_obj(&self, name: &str, path: &'a str) -> FieldResult<Option<Obj<'a>>> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj { map, prefix: path })),
            Some(_) => Err(FieldProblem::Invalid(join(self.prefix, name))),
        }
    }

    /// Mandatory non-empty array of objects.
    pub fn req_array(&self, name: &str) -> FieldResult<&'a Vec<Value>> {
        match self.present(name) {
            None => Err(FieldProblem::Missing(join(self.prefix, name))),
            Some(Value::Array(a)) if a.is_empty() => {
                Err(FieldProblem::Missing(join(self.prefix, name)))
            }
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(FieldProblem::Invalid(join(self.prefix, name))),
        }
    }

    /// A SNAP amount object `{value: "10000.00", currency: "IDR"}` (`16,2`).
    pub fn amount(&self, name: &str, path: &'a str) -> FieldResult<Decimal> {
        let amount = self.req_obj(name, path)?;
        let value = amount.req("value", 19)?;
        let money = Money::parse(value, "value")
            .map_err(|_| FieldProblem::Invalid(format!("{path}.value")))?;
        amount.req_one_of("currency", &["IDR"])?;
        Ok(money.as_decimal())
    }

    /// Optional non-negative integer, as a JSON number or a digit string, at most `max`.
    pub fn opt_uint(&self, name: &str, max: u64) -> FieldResult<Option<u64>> {
        let field = join(self.prefix, name);
        let n = match self.present(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) if digits(s) => s.parse().ok(),
            Some(_) => None,
        };
        match n {
            Some(n) if n <= max => Ok(Some(n)),
            _ => Err(FieldProblem::Invalid(field)),
        }
    }

    /// A Singapay amount: a JSON number or a decimal string, positive.
    pub fn number_or_string(&self, name: &str) -> FieldResult<Decimal> {
        let field = join(self.prefix, name);
        let text = match self.present(name) {
            None => return Err(FieldProblem::Missing(field)),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(FieldProblem::Invalid(field)),
        };
        let money = Money::parse(&text, name).map_err(|_| FieldProblem::Invalid(field.clone()))?;
        if money.as_decimal().is_zero() {
            return Err(FieldProblem::Invalid(field));
        }
        Ok(money.as_decimal())
    }
}

/// A nested object inside an array, reported as `name[i]`.
pub fn array_item<'a>(item: &'a Value, path: &'a str) -> FieldResult<Obj<'a>> {
    item.as_object()
        .map(|map| Obj { map, prefix: path })
        .ok_or_else(|| FieldProblem::Invalid(path.to_owned()))
}

/// Digits only.
pub fn digits(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_invalid_and_nested_names() {
        let v =
            json!({"a": "", "b": 5, "c": {"value": "1.234", "currency": "IDR"}, "d": "toolong"});
        let o = Obj::root(&v).unwrap();
        assert_eq!(o.req("a", 5), Err(FieldProblem::Missing("a".into())));
        assert_eq!(o.req("b", 5), Err(FieldProblem::Invalid("b".into())));
        assert_eq!(o.req("d", 3), Err(FieldProblem::Invalid("d".into())));
        assert_eq!(
            o.amount("c", "c"),
            Err(FieldProblem::Invalid("c.value".into()))
        );
        assert_eq!(o.amount("z", "z"), Err(FieldProblem::Missing("z".into())));
        let v = json!({"x": {"y": {}}});
        let x = Obj::root(&v).unwrap().req_obj("x", "x").unwrap();
        assert_eq!(
            x.req_obj("y", "x.y").unwrap().req("q", 1),
            Err(FieldProblem::Missing("x.y.q".into()))
        );
    }
}
