//! Java `DateTimeFormatter.ofPattern(p).format(localDateTime)`, the formatter that 2.0.5's
//! `DateUtils.format` (`dolphinscheduler-common/.../utils/DateUtils.java`) applies to every
//! `$[...]` result. Note it is `java.time`, not `SimpleDateFormat`: `u` is the year, `Y` and
//! `w` are week-based, `[` `]` open and close optional sections and `{` `}` `#` are reserved.
//!
//! Scope: every pattern letter Java 8–17 accepts for a `LocalDateTime`, in the `en_US` locale
//! (the JVM default under `LANG=C`/`C.UTF-8`/`en_US.*`): English texts, weeks that start on
//! Sunday with one minimal day in the first week. Zone and offset letters (`VvzOXxZ`) cannot
//! be printed from a local date-time: Java throws, so do we, except inside an optional section,
//! which Java then prints as nothing. Letters Java does not know are an error, as in Java.

use chrono::{Datelike, NaiveDateTime, Timelike, Weekday};

/// Why a pattern cannot format a date-time (Java throws `IllegalArgumentException` while
/// parsing the pattern, or `DateTimeException` while printing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("unknown pattern letter: {0}")]
    UnknownLetter(char),
    #[error("too many pattern letters: {0}")]
    TooMany(char),
    #[error("pattern includes reserved character: '{0}'")]
    Reserved(char),
    #[error("pattern ends with an incomplete string literal")]
    OpenLiteral,
    #[error("pattern has ']' without a previous '['")]
    UnbalancedOptional,
    #[error("pad letter 'p' must be followed by a pattern letter")]
    BadPad,
    #[error("cannot print '{0}' of a date-time without zone")]
    NoZone(char),
    #[error("value {value} does not fit {width} characters")]
    TooWide { value: String, width: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Literal(String),
    Field { letter: char, count: usize },
    Padded { width: usize, inner: Box<Item> },
    Optional(Vec<Item>),
}

/// Formats `t` with Java pattern `pattern`.
pub fn format(pattern: &str, t: NaiveDateTime) -> Result<String, Error> {
    let items = parse(pattern)?;
    let mut out = String::new();
    for item in &items {
        print(item, t, &mut out)?;
    }
    Ok(out)
}

fn parse(pattern: &str) -> Result<Vec<Item>, Error> {
    let chars: Vec<char> = pattern.chars().collect();
    // A stack of open optional sections; the bottom is the top level.
    let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
    let mut pos = 0;
    while pos < chars.len() {
        let c = chars[pos];
        if c.is_ascii_alphabetic() {
            let start = pos;
            while pos < chars.len() && chars[pos] == c {
                pos += 1;
            }
            let mut count = pos - start;
            let mut letter = c;
            let mut pad = 0;
            if c == 'p' {
                match chars.get(pos) {
                    Some(&n) if n.is_ascii_alphabetic() => {
                        pad = count;
                        let s = pos;
                        while pos < chars.len() && chars[pos] == n {
                            pos += 1;
                        }
                        count = pos - s;
                        letter = n;
                    }
                    _ => return Err(Error::BadPad),
                }
            }
            check_field(letter, count)?;
            let field = Item::Field { letter, count };
            let item = if pad > 0 {
                Item::Padded {
                    width: pad,
                    inner: Box::new(field),
                }
            } else {
                field
            };
            current(&mut stack).push(item);
            continue;
        }
        match c {
            '\'' => {
                let mut lit = String::new();
                pos += 1;
                let mut closed = false;
                while pos < chars.len() {
                    if chars[pos] == '\'' {
                        if chars.get(pos + 1) == Some(&'\'') {
                            lit.push('\'');
                            pos += 2;
                            continue;
                        }
                        closed = true;
                        pos += 1;
                        break;
                    }
                    lit.push(chars[pos]);
                    pos += 1;
                }
                if !closed {
                    return Err(Error::OpenLiteral);
                }
                // `''` alone is one quote.
                if lit.is_empty() {
                    lit.push('\'');
                }
                current(&mut stack).push(Item::Literal(lit));
                continue;
            }
            '[' => stack.push(Vec::new()),
            ']' => {
                if stack.len() < 2 {
                    return Err(Error::UnbalancedOptional);
                }
                let section = stack.pop().unwrap_or_default();
                current(&mut stack).push(Item::Optional(section));
            }
            '{' | '}' | '#' => return Err(Error::Reserved(c)),
            other => current(&mut stack).push(Item::Literal(other.to_string())),
        }
        pos += 1;
    }
    // Unclosed optional sections end with the pattern.
    while stack.len() > 1 {
        let section = stack.pop().unwrap_or_default();
        current(&mut stack).push(Item::Optional(section));
    }
    Ok(stack.pop().unwrap_or_default())
}

fn current(stack: &mut [Vec<Item>]) -> &mut Vec<Item> {
    // The stack always holds the top level.
    let last = stack.len() - 1;
    &mut stack[last]
}

/// The letter counts `DateTimeFormatterBuilder.appendPattern` accepts.
fn check_field(letter: char, count: usize) -> Result<(), Error> {
    let max = match letter {
        'G' | 'Q' | 'q' | 'M' | 'L' | 'E' | 'e' | 'c' => 5,
        'y' | 'u' | 'Y' | 'A' | 'n' | 'N' => 19,
        'w' | 'd' | 'H' | 'h' | 'K' | 'k' | 'm' | 's' => 2,
        'W' | 'F' | 'a' => 1,
        'D' => 3,
        'S' => 9,
        'V' | 'v' | 'z' | 'O' | 'X' | 'x' | 'Z' => 5,
        other => return Err(Error::UnknownLetter(other)),
    };
    if count > max || (letter == 'c' && count == 2) {
        return Err(Error::TooMany(letter));
    }
    Ok(())
}

fn print(item: &Item, t: NaiveDateTime, out: &mut String) -> Result<(), Error> {
    match item {
        Item::Literal(s) => out.push_str(s),
        Item::Field { letter, count } => out.push_str(&field(*letter, *count, t)?),
        Item::Padded { width, inner } => {
            let mut s = String::new();
            print(inner, t, &mut s)?;
            let n = s.chars().count();
            if n > *width {
                return Err(Error::TooWide {
                    value: s,
                    width: *width,
                });
            }
            out.push_str(&" ".repeat(width - n));
            out.push_str(&s);
        }
        Item::Optional(items) => {
            let mut s = String::new();
            for i in items {
                match print(i, t, &mut s) {
                    Ok(()) => {}
                    // A field the date-time lacks makes the whole section print nothing.
                    Err(Error::NoZone(_)) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            out.push_str(&s);
        }
    }
    Ok(())
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Text in Java's three widths: 4 letters full, 5 narrow (first letter), fewer short.
fn text(full: &str, count: usize) -> String {
    match count {
        4 => full.to_string(),
        5 => full.chars().take(1).collect(),
        _ => full.chars().take(3).collect(),
    }
}

/// Zero-padded to `width` (a minus sign in front of negative values, as Java's NORMAL style).
fn padded(value: i64, width: usize) -> String {
    let digits = value.unsigned_abs().to_string();
    let zeros = width.saturating_sub(digits.len());
    let sign = if value < 0 { "-" } else { "" };
    format!("{sign}{}{digits}", "0".repeat(zeros))
}

/// A year printed as Java's `y`/`u`/`Y` runs: two letters keep the last two digits; four
/// and more pad and add `+` when the value is wider than the run.
fn year(value: i64, count: usize) -> String {
    if count == 2 {
        return padded(value.rem_euclid(100), 2);
    }
    let s = padded(value, count);
    if count >= 4 && value >= 0 && value.to_string().len() > count {
        return format!("+{s}");
    }
    s
}

/// Days since Sunday (0..=6): the `en_US` week starts on Sunday.
fn from_sunday(d: Weekday) -> i64 {
    i64::from(d.num_days_from_sunday())
}

/// `en_US` week-based year and week of that year (Sunday start, 1 minimal day: week 1 is
/// the week holding 1 January).
fn week_based(t: NaiveDateTime) -> (i64, i64) {
    let date = t.date();
    let saturday = date + chrono::Duration::days(6 - from_sunday(date.weekday()));
    let wby = saturday.year();
    let jan1 = chrono::NaiveDate::from_ymd_opt(wby, 1, 1).unwrap_or(date);
    let week1 = jan1 - chrono::Duration::days(from_sunday(jan1.weekday()));
    (i64::from(wby), (date - week1).num_days() / 7 + 1)
}

fn field(letter: char, count: usize, t: NaiveDateTime) -> Result<String, Error> {
    let n = |v: i64| -> String {
        match count {
            1 => v.to_string(),
            _ => padded(v, count),
        }
    };
    let hour = i64::from(t.hour());
    Ok(match letter {
        'G' => {
            let (short, long, narrow) = if t.year() >= 1 {
                ("AD", "Anno Domini", "A")
            } else {
                ("BC", "Before Christ", "B")
            };
            match count {
                4 => long.into(),
                5 => narrow.into(),
                _ => short.into(),
            }
        }
        'u' => year(i64::from(t.year()), count),
        'y' => {
            let y = i64::from(t.year());
            year(if y >= 1 { y } else { 1 - y }, count)
        }
        'Y' => year(week_based(t).0, count),
        'Q' | 'q' => {
            let q = i64::from(t.month0() / 3 + 1);
            match count {
                1 | 2 => n(q),
                3 => format!("Q{q}"),
                4 => format!(
                    "{q}{} quarter",
                    ["st", "nd", "rd", "th"][usize::try_from(q - 1).unwrap_or(3)]
                ),
                _ => q.to_string(),
            }
        }
        'M' | 'L' => match count {
            1 | 2 => n(i64::from(t.month())),
            c => text(MONTHS[t.month0() as usize], c),
        },
        'w' => n(week_based(t).1),
        'W' => {
            let first = t.date().with_day(1).unwrap_or(t.date());
            ((i64::from(t.day()) + from_sunday(first.weekday()) - 1) / 7 + 1).to_string()
        }
        'E' => text(DAYS[t.weekday().num_days_from_monday() as usize], count),
        'e' | 'c' => match count {
            1 | 2 => n(from_sunday(t.weekday()) + 1),
            c => text(DAYS[t.weekday().num_days_from_monday() as usize], c),
        },
        'F' => ((i64::from(t.day()) - 1) % 7 + 1).to_string(),
        'a' => if hour < 12 { "AM" } else { "PM" }.into(),
        'H' => n(hour),
        'k' => n(if hour == 0 { 24 } else { hour }),
        'K' => n(hour % 12),
        'h' => n(if hour % 12 == 0 { 12 } else { hour % 12 }),
        'm' => n(i64::from(t.minute())),
        's' => n(i64::from(t.second())),
        'd' => n(i64::from(t.day())),
        'D' => n(i64::from(t.ordinal())),
        'S' => {
            let nanos = format!("{:09}", t.nanosecond().min(999_999_999));
            nanos.chars().take(count).collect()
        }
        'A' => n(i64::from(t.num_seconds_from_midnight()) * 1000
            + i64::from(t.nanosecond().min(999_999_999) / 1_000_000)),
        'n' => n(i64::from(t.nanosecond().min(999_999_999))),
        'N' => n(i64::from(t.num_seconds_from_midnight()) * 1_000_000_000
            + i64::from(t.nanosecond().min(999_999_999))),
        other => return Err(Error::NoZone(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    #[test]
    fn numeric_fields() {
        let d = t("2017-01-01 01:02:03.045");
        assert_eq!(format("yyyyMMddHHmmss", d).unwrap(), "20170101010203");
        assert_eq!(
            format("yyyy-MM-dd HH:mm:ss.SSS", d).unwrap(),
            "2017-01-01 01:02:03.045"
        );
        assert_eq!(format("y/M/d H:m:s", d).unwrap(), "2017/1/1 1:2:3");
        assert_eq!(format("yy uuuu yyyyy", d).unwrap(), "17 2017 02017");
        assert_eq!(format("D DD DDD", d).unwrap(), "1 01 001");
        assert_eq!(
            format("hh KK kk a", t("2017-01-01 00:30:00")).unwrap(),
            "12 00 24 AM"
        );
        assert_eq!(
            format("h K k a", t("2017-01-01 13:30:00")).unwrap(),
            "1 1 13 PM"
        );
        assert_eq!(format("S SS SSSSSS", d).unwrap(), "0 04 045000");
        assert_eq!(format("A", d).unwrap(), "3723045");
    }

    #[test]
    fn texts_in_english() {
        let d = t("2024-03-05 00:00:00"); // a Tuesday
        assert_eq!(format("MMM MMMM MMMMM", d).unwrap(), "Mar March M");
        assert_eq!(format("E EEE EEEE EEEEE", d).unwrap(), "Tue Tue Tuesday T");
        assert_eq!(
            format("G GGGG Q QQ QQQ QQQQ", d).unwrap(),
            "AD Anno Domini 1 01 Q1 1st quarter"
        );
        assert_eq!(format("e ee c ccc", d).unwrap(), "3 03 3 Tue");
    }

    #[test]
    fn week_fields_follow_en_us() {
        // 2024-12-31 is a Tuesday; its Sunday-to-Saturday week holds 1 January 2025.
        let d = t("2024-12-31 00:00:00");
        assert_eq!(format("YYYY-ww", d).unwrap(), "2025-01");
        assert_eq!(format("yyyy", d).unwrap(), "2024");
        // 2024-01-06 is the Saturday of week 1; the 7th starts week 2.
        assert_eq!(format("Y w", t("2024-01-06 00:00:00")).unwrap(), "2024 1");
        assert_eq!(format("Y w", t("2024-01-07 00:00:00")).unwrap(), "2024 2");
        // March 2024 starts on a Friday: the 3rd (Sunday) is in week 2 of the month.
        assert_eq!(format("W", t("2024-03-02 00:00:00")).unwrap(), "1");
        assert_eq!(format("W", t("2024-03-03 00:00:00")).unwrap(), "2");
        assert_eq!(format("F", t("2024-03-08 00:00:00")).unwrap(), "1");
    }

    #[test]
    fn literals_and_sections() {
        let d = t("2020-12-01 12:30:00");
        assert_eq!(format("yyyy'T'MM", d).unwrap(), "2020T12");
        assert_eq!(format("''yyyy''", d).unwrap(), "'2020'");
        assert_eq!(format("'it''s' yyyy", d).unwrap(), "it's 2020");
        assert_eq!(format("yyyy年MM月dd日", d).unwrap(), "2020年12月01日");
        assert_eq!(format("yyyy:***", d).unwrap(), "2020:***");
        assert_eq!(format("12", d).unwrap(), "12");
        assert_eq!(format("", d).unwrap(), "");
        assert_eq!(format("yyyy[MM]", d).unwrap(), "202012");
        assert_eq!(format("yyyy[MM", d).unwrap(), "202012");
        assert_eq!(format("yyyy[ z]", d).unwrap(), "2020");
        assert_eq!(format("ppH", d).unwrap(), "12");
        assert_eq!(format("pppH", t("2020-12-01 02:00:00")).unwrap(), "  2");
    }

    #[test]
    fn java_rejects_these() {
        let d = t("2020-12-01 12:30:00");
        assert_eq!(format("yyyyMMddb", d), Err(Error::UnknownLetter('b')));
        assert_eq!(format("HHH", d), Err(Error::TooMany('H')));
        assert_eq!(format("aa", d), Err(Error::TooMany('a')));
        assert_eq!(format("MMMMMM", d), Err(Error::TooMany('M')));
        assert_eq!(format("cc", d), Err(Error::TooMany('c')));
        assert_eq!(format("yyyy#", d), Err(Error::Reserved('#')));
        assert_eq!(format("yyyy{", d), Err(Error::Reserved('{')));
        assert_eq!(format("'open", d), Err(Error::OpenLiteral));
        assert_eq!(format("yyyy]", d), Err(Error::UnbalancedOptional));
        assert_eq!(format("yyyy z", d), Err(Error::NoZone('z')));
        assert_eq!(format("p-", d), Err(Error::BadPad));
        assert!(matches!(
            format("pH", t("2020-12-01 12:00:00")),
            Err(Error::TooWide { .. })
        ));
    }
}
