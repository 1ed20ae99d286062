//! Dates inside command bodies: the GMT+8 string codec and the epoch-millis codec.
//!
//! Upstream annotates the `java.util.Date` fields of its command classes with
//! `@JsonFormat(pattern = "yyyy-MM-dd HH:mm:ss", timezone = "GMT+8")` (e.g.
//! `TaskExecuteAckCommand.startTime`, `TaskExecutionContext.firstSubmitTime`), so on the wire
//! they are second-precision strings in UTC+08:00 whatever the JVM's or our time zone is
//! (spec §5). Jackson also reads an epoch-millis number into such a field, and an unannotated
//! `Date` is written as epoch millis. Both codecs here therefore read the same three shapes
//! (pattern string, number, null) and differ only in what they write.
//!
//! Use with `#[serde(with = "date::gmt8")]` or `#[serde(with = "date::epoch_millis")]` on an
//! `Option<DateTime<Utc>>` field.

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc,
};
use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

/// The wire pattern, `yyyy-MM-dd HH:mm:ss` in chrono's notation.
pub const PATTERN: &str = "%Y-%m-%d %H:%M:%S";

/// Upstream's fixed `GMT+8`.
pub fn gmt8() -> FixedOffset {
    // 8 hours is always a valid offset; the fallback only satisfies the type checker.
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// A date string that is neither the wire pattern nor epoch millis.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {0:?}: expected \"yyyy-MM-dd HH:mm:ss\" (GMT+8) or epoch milliseconds")]
pub struct DateError(pub String);

/// Formats an instant as upstream writes it: `yyyy-MM-dd HH:mm:ss` in UTC+08:00, sub-second
/// part dropped.
pub fn format_gmt8(t: DateTime<Utc>) -> String {
    let mut buf = [0u8; 19];
    match write_gmt8(t, &mut buf) {
        Some(s) => s.to_string(),
        None => t.with_timezone(&gmt8()).format(PATTERN).to_string(),
    }
}

/// [`format_gmt8`] without chrono's pattern interpreter and without allocating, for the
/// years 0000–9999 (`None` otherwise: chrono then writes a sign and more digits).
pub(crate) fn write_gmt8(t: DateTime<Utc>, buf: &mut [u8; 19]) -> Option<&str> {
    let local = t.with_timezone(&gmt8()).naive_local();
    let year = u32::try_from(local.year()).ok().filter(|y| *y <= 9999)?;
    let fields = [
        (0, year / 100),
        (2, year % 100),
        (5, local.month()),
        (8, local.day()),
        (11, local.hour()),
        (14, local.minute()),
        (17, local.second()),
    ];
    *buf = *b"0000-00-00 00:00:00";
    for (at, v) in fields {
        // Every value is below 100 here.
        buf[at] = b'0' + (v / 10 % 10) as u8;
        buf[at + 1] = b'0' + (v % 10) as u8;
    }
    std::str::from_utf8(buf).ok()
}

/// The exact `yyyy-MM-dd HH:mm:ss` shape, parsed without chrono's pattern interpreter; `None`
/// for anything else (including invalid dates and leap seconds), which the general path then
/// judges.
fn parse_gmt8_exact(s: &str) -> Option<NaiveDateTime> {
    let b: &[u8; 19] = s.as_bytes().try_into().ok()?;
    if [b[4], b[7], b[10], b[13], b[16]] != *b"-- ::" {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?.and_hms_opt(
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )
}

/// Parses a wire date string: the pattern in UTC+08:00 (an optional fractional-seconds tail
/// is tolerated, as Java's lenient `SimpleDateFormat` ignores trailing text), or a string of
/// digits as epoch millis.
pub fn parse_gmt8(s: &str) -> Result<DateTime<Utc>, DateError> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .ok()
            .and_then(from_epoch_millis)
            .ok_or_else(|| DateError(s.to_string()));
    }
    let naive = parse_gmt8_exact(t)
        .map(Ok)
        .unwrap_or_else(|| NaiveDateTime::parse_from_str(t, PATTERN))
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"))
        .map_err(|_| DateError(s.to_string()))?;
    gmt8()
        .from_local_datetime(&naive)
        .single()
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| DateError(s.to_string()))
}

/// Epoch milliseconds to an instant; `None` if out of chrono's range.
pub fn from_epoch_millis(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(ms)
}

/// Reads pattern strings, numbers (epoch ms), empty strings and null.
struct DateVisitor;

impl<'de> Visitor<'de> for DateVisitor {
    type Value = Option<DateTime<Utc>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a \"yyyy-MM-dd HH:mm:ss\" string, epoch milliseconds or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(DateVisitor)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        from_epoch_millis(v)
            .map(Some)
            .ok_or_else(|| E::custom(format!("epoch millis {v} out of range")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        let v =
            i64::try_from(v).map_err(|_| E::custom(format!("epoch millis {v} out of range")))?;
        self.visit_i64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.trim().is_empty() {
            return Ok(None);
        }
        parse_gmt8(v).map(Some).map_err(E::custom)
    }
}

fn deserialize_any_date<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    d.deserialize_option(DateVisitor)
}

/// `@JsonFormat(pattern = "yyyy-MM-dd HH:mm:ss", timezone = "GMT+8")` dates.
pub mod gmt8 {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(t) => {
                let mut buf = [0u8; 19];
                match write_gmt8(*t, &mut buf) {
                    Some(text) => s.serialize_str(text),
                    None => s.serialize_str(&format_gmt8(*t)),
                }
            }
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        deserialize_any_date(d)
    }
}

/// Unannotated `java.util.Date` fields: epoch milliseconds.
pub mod epoch_millis {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(t) => s.serialize_i64(t.timestamp_millis()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        deserialize_any_date(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct D {
        #[serde(with = "gmt8", default)]
        t: Option<DateTime<Utc>>,
        #[serde(with = "epoch_millis", default)]
        m: Option<DateTime<Utc>>,
    }

    fn at(ms: i64) -> Option<DateTime<Utc>> {
        from_epoch_millis(ms)
    }

    #[test]
    fn writes_gmt8_whatever_the_instant() {
        let d = D {
            t: at(1_700_000_000_999),
            m: at(1_700_000_000_000),
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"t":"2023-11-15 06:13:20","m":1700000000000}"#
        );
        let none = D { t: None, m: None };
        assert_eq!(
            serde_json::to_string(&none).unwrap(),
            r#"{"t":null,"m":null}"#
        );
    }

    #[test]
    fn fast_paths_agree_with_chrono() {
        let chrono_fmt = |t: DateTime<Utc>| t.with_timezone(&gmt8()).format(PATTERN).to_string();
        let chrono_parse = |s: &str| {
            NaiveDateTime::parse_from_str(s, PATTERN)
                .ok()
                .and_then(|n| gmt8().from_local_datetime(&n).single())
                .map(|d| d.with_timezone(&Utc))
        };
        let mut ms: i64 = -62_167_248_000_000; // 0000-01-01 08:00:00 GMT+8, minus a bit below
        let step = 7_919_113_457_309; // ~251 years, odd seconds and millis
        while ms < 260_000_000_000_000 {
            for t in [at(ms), at(ms - 29_000), at(ms + 86_399_999)]
                .into_iter()
                .flatten()
            {
                let s = format_gmt8(t);
                assert_eq!(s, chrono_fmt(t), "{ms}");
                assert_eq!(parse_gmt8(&s).ok(), chrono_parse(&s), "{s}");
            }
            ms += step;
        }
        for s in [
            "2023-02-29 00:00:00",
            "2023-13-01 00:00:00",
            "2023-12-31 23:59:60",
            "2023-12-31 24:00:00",
            "2024-02-29 23:59:59",
            "+2023-1-01 00:00:0",
            "2023-01-01T00:00:00",
            "2023-01-01 00:00:0x",
            "0000-01-01 00:00:00",
            "9999-12-31 23:59:59",
        ] {
            assert_eq!(parse_gmt8(s).ok(), chrono_parse(s), "{s}");
        }
    }

    #[test]
    fn reads_every_shape() {
        let cases = [
            (r#"{"t":"2023-11-15 06:13:20"}"#, at(1_700_000_000_000)),
            (r#"{"t":1700000000000}"#, at(1_700_000_000_000)),
            (r#"{"t":"1700000000000"}"#, at(1_700_000_000_000)),
            (r#"{"t":"2023-11-15 06:13:20.5"}"#, at(1_700_000_000_500)),
            (r#"{"t":null}"#, None),
            (r#"{"t":""}"#, None),
            (r#"{}"#, None),
        ];
        for (json, want) in cases {
            let d: D = serde_json::from_str(json).unwrap();
            assert_eq!(d.t, want, "{json}");
        }
        let d: D = serde_json::from_str(r#"{"m":"2023-11-15 06:13:20"}"#).unwrap();
        assert_eq!(d.m, at(1_700_000_000_000));
        assert!(serde_json::from_str::<D>(r#"{"t":"15/11/2023"}"#).is_err());
        assert!(serde_json::from_str::<D>(r#"{"t":true}"#).is_err());
    }
}
