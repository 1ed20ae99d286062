//! Wall-clock conversion for DATETIME columns.
//!
//! Connector/J renders every `java.util.Date` in the server session's zone, so rows written by
//! Java masters and by the API server hold local wall-clock values of that zone. We read the
//! session's offset from UTC once at connect time and convert instants with it, truncating to
//! whole seconds as the columns have no fractional part. PostgreSQL's `timestamp` columns keep
//! fractions, and pgjdbc sends a `Date`'s milliseconds, so there the clock keeps milliseconds.

use chrono::{DateTime, Duration, NaiveDateTime, Timelike, Utc};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    offset_seconds: i64,
    keep_millis: bool,
}

impl Clock {
    pub fn from_offset_seconds(offset_seconds: i64) -> Clock {
        Clock {
            offset_seconds,
            keep_millis: false,
        }
    }

    /// The same clock writing milliseconds (PostgreSQL, as pgjdbc writes them).
    pub fn with_millis(self) -> Clock {
        Clock {
            keep_millis: true,
            ..self
        }
    }

    /// The current time as the database stores it.
    pub fn now(&self) -> NaiveDateTime {
        self.to_db(Utc::now())
    }

    pub fn to_db(&self, t: DateTime<Utc>) -> NaiveDateTime {
        let local = t.naive_utc() + Duration::seconds(self.offset_seconds);
        let nanos = if self.keep_millis {
            local.nanosecond() / 1_000_000 * 1_000_000
        } else {
            0
        };
        local.with_nanosecond(nanos).unwrap_or(local)
    }

    /// The wall-clock time in the session zone, keeping milliseconds (instance names).
    pub fn wall(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.naive_utc() + Duration::seconds(self.offset_seconds)
    }

    pub fn from_db(&self, t: NaiveDateTime) -> DateTime<Utc> {
        (t - Duration::seconds(self.offset_seconds)).and_utc()
    }
}

/// Seconds east of UTC for the zone spellings that need no zone database: `UTC`, `GMT`, `Z`,
/// `GMT+8`, `UTC-05:30`, `+08:00`, `-0500`.
pub fn fixed_offset_seconds(zone: &str) -> Option<i64> {
    let z = zone.trim();
    let rest = ["UTC", "GMT", "UT", "Z"]
        .iter()
        .find_map(|p| z.strip_prefix(p))
        .unwrap_or(z);
    if rest.is_empty() {
        return Some(0);
    }
    let (sign, digits) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return None,
    };
    let (h, m) = match digits.split_once(':') {
        Some((h, m)) => (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?),
        None if digits.len() == 4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
        None => (digits.parse().ok()?, 0),
    };
    (h <= 18 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn fixed_offsets() {
        assert_eq!(fixed_offset_seconds("UTC"), Some(0));
        assert_eq!(fixed_offset_seconds("GMT+8"), Some(8 * 3600));
        assert_eq!(fixed_offset_seconds("UTC-05:30"), Some(-(5 * 3600 + 1800)));
        assert_eq!(fixed_offset_seconds("+0800"), Some(8 * 3600));
        assert_eq!(fixed_offset_seconds("Asia/Shanghai"), None);
        assert_eq!(fixed_offset_seconds("GMT+99"), None);
    }

    #[test]
    fn round_trips_at_whole_seconds() {
        let c = Clock::from_offset_seconds(8 * 3600);
        let t = Utc.with_ymd_and_hms(2023, 11, 14, 22, 13, 20).unwrap();
        let db = c.to_db(t);
        assert_eq!(db.to_string(), "2023-11-15 06:13:20");
        assert_eq!(c.from_db(db), t);
    }

    #[test]
    fn postgres_clock_keeps_milliseconds_only() {
        let t = Utc.timestamp_nanos(1_700_000_000_123_456_789);
        let whole = Clock::from_offset_seconds(0).to_db(t);
        assert_eq!(whole.to_string(), "2023-11-14 22:13:20");
        let millis = Clock::from_offset_seconds(0).with_millis().to_db(t);
        assert_eq!(millis.to_string(), "2023-11-14 22:13:20.123");
    }
}
