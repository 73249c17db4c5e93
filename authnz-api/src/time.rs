//! Timestamp helpers shared by the protocol and the backends.
//!
//! The wire form is Python's `datetime.isoformat()` (PROTOCOL.md 1.6); SQLite stores
//! `YYYY-MM-DD HH:MM:SS.ffffff` text (PROTOCOL.md 8.2).

use chrono::{NaiveDateTime, Timelike};

/// Drop sub-microsecond precision.
pub fn truncate_micros(t: NaiveDateTime) -> NaiveDateTime {
    let nanos = t.nanosecond();
    // Keep leap-second nanos (>= 1e9) as chrono represents them.
    let truncated = nanos - nanos % 1_000;
    t.with_nanosecond(truncated).unwrap_or(t)
}

/// Python `isoformat()`: `YYYY-MM-DDTHH:MM:SS[.ffffff]`, fraction omitted when
/// the microsecond value is zero.
pub fn to_isoformat(t: &NaiveDateTime) -> String {
    if t.nanosecond() / 1_000 == 0 {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    }
}

/// The SQLite text form written by upstream: always six fractional digits,
/// space separator.
pub fn to_sqlite_text(t: &NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// Parse a datetime stored as text by upstream or by us (space or `T`
/// separator, optional fraction of 1-9 digits).
pub fn parse_stored_text(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(truncate_micros(t));
        }
    }
    None
}

/// Serde helpers writing datetimes in the wire form (PROTOCOL.md 1.6).
pub mod iso {
    use chrono::NaiveDateTime;
    use serde::Serializer;

    /// Serialize a datetime as Python `isoformat()`.
    pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::to_isoformat(t))
    }

    /// Optional datetimes: `null` when absent.
    pub mod option {
        use chrono::NaiveDateTime;
        use serde::Serializer;

        /// Serialize an optional datetime as Python `isoformat()` or `null`.
        pub fn serialize<S: Serializer>(
            t: &Option<NaiveDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::super::to_isoformat(t)),
                None => s.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> NaiveDateTime {
        parse_stored_text(s).expect("valid")
    }

    #[test]
    fn isoformat_omits_zero_fraction() {
        assert_eq!(
            to_isoformat(&dt("2030-01-01 00:00:00.000000")),
            "2030-01-01T00:00:00"
        );
        assert_eq!(
            to_isoformat(&dt("2030-01-01 00:00:00.5")),
            "2030-01-01T00:00:00.500000"
        );
    }

    #[test]
    fn sqlite_text_has_six_digits() {
        assert_eq!(
            to_sqlite_text(&dt("2030-01-01T00:00:00")),
            "2030-01-01 00:00:00.000000"
        );
        assert_eq!(
            to_sqlite_text(&dt("2030-01-01T01:02:03.000004")),
            "2030-01-01 01:02:03.000004"
        );
    }

    #[test]
    fn truncates_to_micros() {
        let t = dt("2030-01-01T00:00:00.123456789");
        assert_eq!(to_isoformat(&t), "2030-01-01T00:00:00.123456");
    }
}
