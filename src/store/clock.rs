//! Wall-clock conversion for DATETIME columns.
//!
//! Connector/J renders every `java.util.Date` in the server session's zone, so rows written by
//! Java masters and by the API server hold local wall-clock values of that zone. We read the
//! session's offset from UTC once at connect time and convert instants with it, truncating to
//! whole seconds as the columns have no fractional part.

use chrono::{DateTime, Duration, NaiveDateTime, Timelike, Utc};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    offset_seconds: i64,
}

impl Clock {
    pub fn from_offset_seconds(offset_seconds: i64) -> Clock {
        Clock { offset_seconds }
    }

    /// The current time as the database stores it.
    pub fn now(&self) -> NaiveDateTime {
        self.to_db(Utc::now())
    }

    pub fn to_db(&self, t: DateTime<Utc>) -> NaiveDateTime {
        let local = t.naive_utc() + Duration::seconds(self.offset_seconds);
        local.with_nanosecond(0).unwrap_or(local)
    }

    /// The wall-clock time in the session zone, keeping milliseconds (instance names).
    pub fn wall(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.naive_utc() + Duration::seconds(self.offset_seconds)
    }

    pub fn from_db(&self, t: NaiveDateTime) -> DateTime<Utc> {
        (t - Duration::seconds(self.offset_seconds)).and_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn round_trips_at_whole_seconds() {
        let c = Clock::from_offset_seconds(8 * 3600);
        let t = Utc.with_ymd_and_hms(2023, 11, 14, 22, 13, 20).unwrap();
        let db = c.to_db(t);
        assert_eq!(db.to_string(), "2023-11-15 06:13:20");
        assert_eq!(c.from_db(db), t);
    }
}
