//! Java time-zone resolution and a lenient Gregorian calendar, as far as Quartz's cron
//! arithmetic observes them.
//!
//! Quartz evaluates cron expressions by setting fields of a `java.util.GregorianCalendar`
//! one at a time and reading them back. Two Java behaviours decide the results on DST days,
//! so they are reproduced here rather than taken from a date library:
//! - fields are lenient: any value is accepted and normalised when read (second 60 is the
//!   next minute, day 32 is in the next month, month 12 is January of the next year);
//! - a local wall-clock time is turned into an instant with `ZoneInfo.getOffsetsByWall`:
//!   a time inside a DST gap keeps the offset in force before the gap (02:30 becomes 03:30
//!   of the new offset), a time inside an overlap takes the offset after the transition
//!   (the later instant).
//!
//! Zone ids are resolved like `java.util.TimeZone.getTimeZone`: tz database names, Java's
//! legacy three-letter aliases, custom `GMT+hh:mm` offsets, and `GMT` for anything unknown.
//! chrono-tz supplies the offsets only.

use chrono::{DateTime, LocalResult, Offset, TimeZone};
use chrono_tz::Tz;

const MS_PER_DAY: i64 = 86_400_000;

/// A time zone as Java resolves an id: a tz database zone or a fixed custom offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JavaZone {
    Named(Tz),
    /// Custom `GMT±hh:mm` zone: offset in seconds east of UTC.
    Fixed(i32),
}

/// Java's legacy short ids that the tz database does not carry under the same name
/// (`sun.util.calendar.ZoneInfoFile`'s alias table, as in Java 8 to 21).
const JAVA_SHORT_IDS: &[(&str, &str)] = &[
    ("ACT", "Australia/Darwin"),
    ("AET", "Australia/Sydney"),
    ("AGT", "America/Argentina/Buenos_Aires"),
    ("ART", "Africa/Cairo"),
    ("AST", "America/Anchorage"),
    ("BET", "America/Sao_Paulo"),
    ("BST", "Asia/Dhaka"),
    ("CAT", "Africa/Harare"),
    ("CNT", "America/St_Johns"),
    ("CST", "America/Chicago"),
    ("CTT", "Asia/Shanghai"),
    ("EAT", "Africa/Addis_Ababa"),
    ("ECT", "Europe/Paris"),
    ("IET", "America/Indiana/Indianapolis"),
    ("IST", "Asia/Kolkata"),
    ("JST", "Asia/Tokyo"),
    ("MIT", "Pacific/Apia"),
    ("NET", "Asia/Yerevan"),
    ("NST", "Pacific/Auckland"),
    ("PLT", "Asia/Karachi"),
    ("PNT", "America/Phoenix"),
    ("PRT", "America/Puerto_Rico"),
    ("PST", "America/Los_Angeles"),
    ("SST", "Pacific/Guadalcanal"),
    ("VST", "Asia/Ho_Chi_Minh"),
];

impl JavaZone {
    /// Resolves an id the way `TimeZone.getTimeZone(id)` does; unknown ids become GMT, as
    /// in Java (so a bad `TIME_ZONE_ID` row is evaluated in UTC, never rejected).
    pub fn resolve(id: &str) -> JavaZone {
        Self::try_resolve(id).unwrap_or(JavaZone::Named(Tz::GMT))
    }

    /// Like [`Self::resolve`] but says when Java would have fallen back to GMT.
    pub fn try_resolve(id: &str) -> Option<JavaZone> {
        // Java checks EST/MST/HST first: fixed offsets, whatever the tz database says.
        match id {
            "EST" => return Some(JavaZone::Fixed(-5 * 3600)),
            "MST" => return Some(JavaZone::Fixed(-7 * 3600)),
            "HST" => return Some(JavaZone::Fixed(-10 * 3600)),
            _ => {}
        }
        if let Some((_, target)) = JAVA_SHORT_IDS.iter().find(|(k, _)| *k == id) {
            return target.parse::<Tz>().ok().map(JavaZone::Named);
        }
        if let Ok(tz) = id.parse::<Tz>() {
            return Some(JavaZone::Named(tz));
        }
        parse_custom_gmt(id).map(JavaZone::Fixed)
    }

    /// The id Java would report for this zone (custom offsets normalised to `GMT+08:00`).
    pub fn java_id(&self) -> String {
        match self {
            JavaZone::Named(tz) => tz.name().to_string(),
            JavaZone::Fixed(0) => "GMT".to_string(),
            JavaZone::Fixed(secs) => {
                let sign = if *secs < 0 { '-' } else { '+' };
                let a = secs.unsigned_abs();
                format!("GMT{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
            }
        }
    }

    /// Total offset (raw + DST) in milliseconds at a UTC instant.
    pub fn offset_at_utc(&self, utc_ms: i64) -> i64 {
        match self {
            JavaZone::Fixed(secs) => i64::from(*secs) * 1000,
            JavaZone::Named(tz) => match DateTime::from_timestamp_millis(utc_ms) {
                Some(dt) => {
                    i64::from(
                        tz.offset_from_utc_datetime(&dt.naive_utc())
                            .fix()
                            .local_minus_utc(),
                    ) * 1000
                }
                None => 0,
            },
        }
    }

    /// The instant of a local wall-clock time (milliseconds of the local time line), with
    /// Java's gap and overlap rules (module doc).
    pub fn utc_from_wall(&self, wall_ms: i64) -> i64 {
        let tz = match self {
            JavaZone::Fixed(secs) => return wall_ms - i64::from(*secs) * 1000,
            JavaZone::Named(tz) => tz,
        };
        let Some(naive) = DateTime::from_timestamp_millis(wall_ms).map(|d| d.naive_utc()) else {
            return wall_ms;
        };
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(dt) => dt.timestamp_millis(),
            LocalResult::Ambiguous(a, b) => a.timestamp_millis().max(b.timestamp_millis()),
            LocalResult::None => {
                // In a gap: find the transition (first instant whose wall time passes
                // `wall_ms`) and use the offset in force just before it.
                let (mut lo, mut hi) = (wall_ms - 16 * 3_600_000, wall_ms + 16 * 3_600_000);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if mid + self.offset_at_utc(mid) > wall_ms {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
                wall_ms - self.offset_at_utc(hi - 1)
            }
        }
    }
}

/// Java's custom zone syntax: `GMT` followed by `+h`, `+hh`, `+hmm`, `+hhmm`, `+h:mm` or
/// `+hh:mm` (hours ≤ 23, minutes ≤ 59). Returns seconds east of UTC.
fn parse_custom_gmt(id: &str) -> Option<i32> {
    let rest = id.strip_prefix("GMT")?;
    let (sign, body) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return None,
    };
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || b == b':') {
        return None;
    }
    let (h, m) = match body.split_once(':') {
        Some((h, m)) if (1..=2).contains(&h.len()) && m.len() == 2 => {
            (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?)
        }
        Some(_) => return None,
        None => match body.len() {
            1 | 2 => (body.parse::<i32>().ok()?, 0),
            3 | 4 => {
                let split = body.len() - 2;
                (
                    body[..split].parse::<i32>().ok()?,
                    body[split..].parse::<i32>().ok()?,
                )
            }
            _ => return None,
        },
    };
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..=12).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month 1..=12, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

pub fn is_leap_year(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Length of a month (1..=12); `None` outside that range (Quartz throws there).
pub fn last_day_of_month(month: i64, year: i64) -> Option<i64> {
    Some(match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => return None,
    })
}

/// Calendar fields, named like `java.util.Calendar`'s (month is 0-based, as in Java).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Year = 0,
    Month = 1,
    DayOfMonth = 2,
    HourOfDay = 3,
    Minute = 4,
    Second = 5,
    Millisecond = 6,
}

/// The subset of a lenient `GregorianCalendar` that Quartz's `getTimeAfter` drives: set
/// fields freely, read them back normalised (reading resolves the wall time in the zone).
#[derive(Debug, Clone)]
pub struct LenientCalendar {
    zone: JavaZone,
    fields: [i64; 7],
    time: i64,
    dirty: bool,
}

impl LenientCalendar {
    pub fn at(zone: JavaZone, utc_ms: i64) -> Self {
        let mut c = LenientCalendar {
            zone,
            fields: [0; 7],
            time: 0,
            dirty: false,
        };
        c.set_time(utc_ms);
        c
    }

    pub fn set_time(&mut self, utc_ms: i64) {
        self.time = utc_ms;
        let wall = utc_ms + self.zone.offset_at_utc(utc_ms);
        let days = wall.div_euclid(MS_PER_DAY);
        let tod = wall.rem_euclid(MS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        self.fields = [
            y,
            m - 1,
            d,
            tod / 3_600_000,
            (tod / 60_000) % 60,
            (tod / 1000) % 60,
            tod % 1000,
        ];
        self.dirty = false;
    }

    pub fn set(&mut self, field: Field, value: i64) {
        self.fields[field as usize] = value;
        self.dirty = true;
    }

    pub fn get(&mut self, field: Field) -> i64 {
        self.complete();
        self.fields[field as usize]
    }

    /// 1 = Sunday … 7 = Saturday, as `Calendar.DAY_OF_WEEK`.
    pub fn day_of_week(&mut self) -> i64 {
        self.complete();
        let [y, m, d, ..] = self.fields;
        // 1970-01-01 was a Thursday (5).
        (days_from_civil(y, m + 1, d) + 4).rem_euclid(7) + 1
    }

    pub fn time_ms(&mut self) -> i64 {
        self.complete();
        self.time
    }

    /// `Calendar.add(YEAR, n)`: normalise, move the year, pin the day to the month's end.
    pub fn add_years(&mut self, n: i64) {
        self.complete();
        self.fields[Field::Year as usize] += n;
        let (y, m) = (self.fields[0], self.fields[1] + 1);
        if let Some(last) = last_day_of_month(m, y) {
            if self.fields[2] > last {
                self.fields[2] = last;
            }
        }
        self.dirty = true;
    }

    fn complete(&mut self) {
        if !self.dirty {
            return;
        }
        let [y, m, d, h, mi, s, ms] = self.fields;
        let year = y + m.div_euclid(12);
        let month = m.rem_euclid(12) + 1;
        let mut days = days_from_civil(year, month, 1) + (d - 1);
        let tod = h * 3_600_000 + mi * 60_000 + s * 1000 + ms;
        days += tod.div_euclid(MS_PER_DAY);
        let wall = days * MS_PER_DAY + tod.rem_euclid(MS_PER_DAY);
        let utc = self.zone.utc_from_wall(wall);
        self.set_time(utc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-1000, -1, 0, 1, 59, 60, 10_957, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }

    #[test]
    fn java_zone_ids() {
        assert_eq!(
            JavaZone::resolve("GMT+8").java_id(),
            "GMT+08:00",
            "custom ids normalise"
        );
        assert_eq!(
            JavaZone::resolve("GMT-0530"),
            JavaZone::Fixed(-(5 * 3600 + 1800))
        );
        assert_eq!(
            JavaZone::resolve("CTT"),
            JavaZone::Named(Tz::Asia__Shanghai)
        );
        assert_eq!(JavaZone::resolve("EST"), JavaZone::Fixed(-5 * 3600));
        assert_eq!(JavaZone::resolve("Nowhere/Land"), JavaZone::Named(Tz::GMT));
        assert!(JavaZone::try_resolve("Nowhere/Land").is_none());
        assert!(JavaZone::try_resolve("GMT+24").is_none());
    }

    #[test]
    fn gap_and_overlap_follow_java() {
        let ny = JavaZone::Named(Tz::America__New_York);
        // 2024-03-10 02:30 (gap) -> 07:30Z (pre-transition offset -05:00).
        let wall = days_from_civil(2024, 3, 10) * MS_PER_DAY + 2 * 3_600_000 + 1_800_000;
        assert_eq!(ny.utc_from_wall(wall), 1_710_055_800_000);
        // 2024-11-03 01:30 (overlap) -> the later instant, 06:30Z.
        let wall = days_from_civil(2024, 11, 3) * MS_PER_DAY + 3_600_000 + 1_800_000;
        assert_eq!(ny.utc_from_wall(wall), 1_730_615_400_000);
    }

    #[test]
    fn lenient_fields_normalise() {
        let mut c = LenientCalendar::at(JavaZone::Fixed(0), 1_704_067_200_000); // 2024-01-01
        c.set(Field::DayOfMonth, 32);
        assert_eq!(c.get(Field::Month), 1);
        assert_eq!(c.get(Field::DayOfMonth), 1);
        c.set(Field::Month, 12);
        assert_eq!(c.get(Field::Year), 2025);
        assert_eq!(c.get(Field::Month), 0);
        assert_eq!(c.day_of_week(), 4); // 2025-01-01 was a Wednesday
    }
}
