//! `Duration` as whole milliseconds in serialised output.
//!
//! serde's own `Duration` format is `{"secs":1,"nanos":500000000}`, which is what
//! `kirim provider …` printed for an exchange's latency and retry hint. Fields that
//! use `#[serde(with = "crate::domain::millis")]` (or `millis::option`) write
//! `1500` instead. Reading accepts both forms, so anything written before the
//! change still parses.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Either form on the way in: milliseconds, or serde's `{secs, nanos}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyDuration {
    Millis(u64),
    Std(Duration),
}

impl From<AnyDuration> for Duration {
    fn from(d: AnyDuration) -> Self {
        match d {
            AnyDuration::Millis(ms) => Duration::from_millis(ms),
            AnyDuration::Std(d) => d,
        }
    }
}

fn as_millis(d: &Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(as_millis(d))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    AnyDuration::deserialize(d).map(Duration::from)
}

/// The same for `Option<Duration>` (`null` when absent).
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&as_millis(d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<AnyDuration>::deserialize(d).map(|o| o.map(Duration::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Timed {
        #[serde(with = "super")]
        latency: Duration,
        #[serde(default, with = "super::option")]
        hint: Option<Duration>,
    }

    #[test]
    fn durations_print_as_milliseconds_and_read_back_in_both_forms() {
        let t = Timed {
            latency: Duration::from_millis(1500),
            hint: Some(Duration::from_secs(2)),
        };
        let json = serde_json::to_string(&t).expect("serialises");
        assert_eq!(json, r#"{"latency":1500,"hint":2000}"#);
        assert!(!json.contains("nanos"));
        assert_eq!(serde_json::from_str::<Timed>(&json).expect("reads"), t);
        let old = r#"{"latency":{"secs":1,"nanos":500000000},"hint":null}"#;
        let back: Timed = serde_json::from_str(old).expect("reads the old form");
        assert_eq!(back.latency, Duration::from_millis(1500));
        assert_eq!(back.hint, None);
    }
}
