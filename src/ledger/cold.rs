//! The cold form of a final payout: what a final record no longer changes
//! (its details, meta, X-EXTERNAL-IDs and whole audit trail) deflated into one
//! field, `z`, by [`super::Ledger::compact_final`].
//!
//! A final payout is read rarely (the API, the console, an audit) and kept for as
//! long as the ledger is: most of its memory is its audit trail, which for a
//! settled transfer is mostly the provider's redacted answer (BENCHMARKS.md,
//! "Performance, round five"). Deflated, the same bytes take about 40 % of the
//! room. Nothing is dropped: every entry comes back byte for byte.
//!
//! Format: one version byte ([`FORMAT_DEFLATE_JSON`]), then raw deflate of
//! `{"doc":…,"meta":…,"ext":"…","trail":[…]}`, where `doc`, `meta` and each trail
//! entry are the record's own JSON texts, embedded as they are.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The only format so far: deflated JSON.
const FORMAT_DEFLATE_JSON: u8 = 1;

/// Deflate level: compaction runs off the hot path, once per payout, so it takes
/// the default ratio rather than the fastest level (BENCHMARKS.md, round five).
const LEVEL: u8 = 6;

/// A cold form never inflates past this; a record that claims more is corrupt.
const MAX_INFLATED: usize = 1 << 20;

/// Why a cold form could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum ColdError {
    #[error("field `{0}` is not valid JSON: {1}")]
    NotJson(&'static str, String),
    #[error("field `{0}` does not keep its text as JSON (whitespace around it)")]
    NotVerbatim(&'static str),
    #[error("unknown cold format {0}")]
    Format(u8),
    #[error("empty cold form")]
    Empty,
    #[error("cannot inflate: {0}")]
    Inflate(String),
    #[error("cold JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// What a final record keeps in its cold form, as the texts the record held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdRecord {
    /// The `doc` field (the payout's details, JSON).
    pub doc: String,
    /// The `meta` field (JSON).
    pub meta: String,
    /// The `ext` field (comma-separated X-EXTERNAL-IDs).
    pub ext: String,
    /// The whole audit trail, oldest first (each entry compact JSON).
    pub trail: Vec<String>,
}

#[derive(Serialize)]
struct ColdRef<'a> {
    doc: &'a RawValue,
    meta: &'a RawValue,
    ext: &'a str,
    trail: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct ColdOwned<'a> {
    #[serde(borrow)]
    doc: &'a RawValue,
    #[serde(borrow)]
    meta: &'a RawValue,
    ext: String,
    #[serde(borrow)]
    trail: Vec<&'a RawValue>,
}

/// `text` as JSON embedded verbatim; refused if it is not JSON or would not come
/// back byte for byte.
fn raw<'a>(field: &'static str, text: &'a str) -> Result<&'a RawValue, ColdError> {
    let v: &RawValue =
        serde_json::from_str(text).map_err(|e| ColdError::NotJson(field, e.to_string()))?;
    if v.get() != text {
        return Err(ColdError::NotVerbatim(field));
    }
    Ok(v)
}

impl ColdRecord {
    /// The cold form's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, ColdError> {
        let cold = ColdRef {
            doc: raw("doc", &self.doc)?,
            meta: raw("meta", &self.meta)?,
            ext: &self.ext,
            trail: self
                .trail
                .iter()
                .map(|e| raw("trail", e))
                .collect::<Result<_, _>>()?,
        };
        let json = serde_json::to_vec(&cold)?;
        let mut out = Vec::with_capacity(json.len() / 2);
        out.push(FORMAT_DEFLATE_JSON);
        out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(&json, LEVEL));
        Ok(out)
    }

    /// Read a cold form back.
    pub fn decode(bytes: &[u8]) -> Result<ColdRecord, ColdError> {
        let (&format, body) = bytes.split_first().ok_or(ColdError::Empty)?;
        if format != FORMAT_DEFLATE_JSON {
            return Err(ColdError::Format(format));
        }
        let json = miniz_oxide::inflate::decompress_to_vec_with_limit(body, MAX_INFLATED)
            .map_err(|e| ColdError::Inflate(format!("{:?}", e.status)))?;
        let cold: ColdOwned<'_> = serde_json::from_slice(&json)?;
        Ok(ColdRecord {
            doc: cold.doc.get().to_owned(),
            meta: cold.meta.get().to_owned(),
            ext: cold.ext,
            trail: cold.trail.iter().map(|e| e.get().to_owned()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ColdRecord {
        ColdRecord {
            doc: r#"{"kind":"transfer","amount":"150000.00","remark":"é \"q\" \\ \u0001"}"#.into(),
            meta: r#"{"created_at":1,"submissions":1}"#.into(),
            ext: "20261203013838737812379001337,20261203013838737812379001338".into(),
            trail: vec![
                r#"{"at":1,"event":"created","to":"ACCEPTED"}"#.into(),
                r#"{"at":2,"event":"submit","note":"line\nbreak"}"#.into(),
                r#"{"at":3,"event":"request","detail":{"a":[1,2.50,null]}}"#.into(),
            ],
        }
    }

    #[test]
    fn a_cold_form_gives_back_every_text_byte_for_byte() {
        let rec = sample();
        let bytes = rec.encode().unwrap();
        assert_eq!(bytes[0], FORMAT_DEFLATE_JSON);
        assert_eq!(ColdRecord::decode(&bytes).unwrap(), rec);
    }

    #[test]
    fn a_trail_of_repetitive_json_shrinks() {
        let mut rec = sample();
        for i in 0..6 {
            rec.trail.push(format!(
                r#"{{"at":{i},"event":"request","detail":{{"beneficiaryAccountNo":"8000002616","responseMessage":"Successful"}}}}"#
            ));
        }
        let plain: usize = rec.doc.len()
            + rec.meta.len()
            + rec.ext.len()
            + rec.trail.iter().map(String::len).sum::<usize>();
        let cold = rec.encode().unwrap().len();
        assert!(cold * 2 < plain, "{cold} bytes cold for {plain} plain");
    }

    #[test]
    fn a_field_that_is_not_json_or_not_verbatim_is_refused_by_name() {
        let mut rec = sample();
        rec.trail[1] = "{not json".into();
        let e = rec.encode().unwrap_err();
        assert!(matches!(e, ColdError::NotJson("trail", _)), "{e}");
        let mut rec = sample();
        rec.meta = " {\"a\":1}".into();
        assert!(matches!(
            rec.encode().unwrap_err(),
            ColdError::NotVerbatim("meta")
        ));
    }

    #[test]
    fn a_damaged_or_unknown_cold_form_is_an_error_not_a_panic() {
        let bytes = sample().encode().unwrap();
        assert!(matches!(ColdRecord::decode(&[]), Err(ColdError::Empty)));
        let mut other = bytes.clone();
        other[0] = 9;
        assert!(matches!(
            ColdRecord::decode(&other),
            Err(ColdError::Format(9))
        ));
        assert!(ColdRecord::decode(&bytes[..bytes.len() / 2]).is_err());
        let mut flipped = bytes.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        assert!(ColdRecord::decode(&flipped).is_err());
    }
}
