//! `X-TIMESTAMP` values.
//!
//! SNAP providers expect ISO-8601 with an explicit offset; iFortepay shows
//! milliseconds (`yyyy-MM-ddTHH:mm:ss.SSSTZD`). Jakarta time (+07:00, no daylight
//! saving) is the form every provider accepts, so that is what kirim sends. Incoming
//! timestamps (callbacks, the sandbox) may carry any offset, `Z` included.

use chrono::{DateTime, FixedOffset, SecondsFormat, TimeZone, Utc};
use thiserror::Error;

/// Asia/Jakarta is UTC+7 all year round.
pub fn jakarta() -> FixedOffset {
    // 7 * 3600 is well inside the ±24 h range `east_opt` accepts.
    FixedOffset::east_opt(7 * 3600).expect("+07:00 is a valid offset")
}

/// The current time as an `X-TIMESTAMP`, e.g. `2026-11-21T10:11:40.123+07:00`.
pub fn now() -> String {
    format(Utc::now())
}

/// Format an instant as a Jakarta-time `X-TIMESTAMP` with milliseconds.
pub fn format<Tz: TimeZone>(at: DateTime<Tz>) -> String {
    at.with_timezone(&jakarta())
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// How a provider wants its outgoing `X-TIMESTAMP` written: a per-provider
/// property of the SNAP client (review 2026-12-01 §1.2, issue 16 point 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampFormat {
    /// `2026-01-31T10:11:40.007+07:00` (29 characters): iFortepay documents
    /// `yyyy-MM-ddTHH:mm:ss.SSSTZD` (ifortepay-transfer-interbank.txt, X-TIMESTAMP).
    #[default]
    Millis,
    /// `2026-01-31T10:11:40+07:00` (25 characters): NICEPAY documents "String 25 …
    /// 2022-03-21T10:11:40+07:00" (nicepay-payout-inquiry.txt:14).
    Seconds,
}

impl TimestampFormat {
    /// Format `at` in Jakarta time in this form.
    pub fn format<Tz: TimeZone>(self, at: DateTime<Tz>) -> String {
        let secs = match self {
            TimestampFormat::Millis => SecondsFormat::Millis,
            TimestampFormat::Seconds => SecondsFormat::Secs,
        };
        at.with_timezone(&jakarta()).to_rfc3339_opts(secs, false)
    }

    /// The current time in this form.
    pub fn now(self) -> String {
        self.format(Utc::now())
    }
}

/// A timestamp that could not be parsed.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "X-TIMESTAMP {value:?} is not ISO-8601 with an offset (e.g. 2026-01-31T10:11:40.000+07:00)"
)]
pub struct TimestampError {
    /// The rejected input.
    pub value: String,
}

/// Parse an ISO-8601 timestamp with any offset (`Z`, `+07:00`, `+0700`), with or
/// without fractional seconds.
pub fn parse(value: &str) -> Result<DateTime<FixedOffset>, TimestampError> {
    DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map_err(|_| TimestampError {
            value: value.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_jakarta_with_millis() {
        let at = Utc.with_ymd_and_hms(2026, 1, 31, 3, 11, 40).unwrap()
            + chrono::Duration::milliseconds(7);
        assert_eq!(format(at), "2026-01-31T10:11:40.007+07:00");
    }

    #[test]
    fn seconds_form_is_nicepays_25_characters() {
        let at = Utc.with_ymd_and_hms(2022, 3, 21, 3, 11, 40).unwrap()
            + chrono::Duration::milliseconds(7);
        // nicepay-payout-inquiry.txt:14: "String | 25 | … 2022-03-21T10:11:40+07:00".
        assert_eq!(
            TimestampFormat::Seconds.format(at),
            "2022-03-21T10:11:40+07:00"
        );
        assert_eq!(TimestampFormat::Seconds.now().len(), 25);
        assert_eq!(TimestampFormat::Millis.format(at), format(at));
    }

    #[test]
    fn now_round_trips() {
        let s = now();
        assert!(s.ends_with("+07:00"), "{s}");
        assert!(parse(&s).is_ok());
    }

    #[test]
    fn parses_any_offset() {
        let a = parse("2024-03-01T08:27:49.024Z").unwrap();
        let b = parse("2024-03-01T15:27:49.024+07:00").unwrap();
        let c = parse("2024-03-01T15:27:49.024+0700").unwrap();
        let d = parse("2024-03-01T03:27:49.024-05:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(c, d);
        assert!(parse("2022-03-21T10:11:40+07:00").is_ok());
    }

    #[test]
    fn rejects_missing_offset_and_garbage() {
        assert!(parse("2024-03-01T08:27:49").is_err());
        assert!(parse("yesterday").is_err());
    }
}
