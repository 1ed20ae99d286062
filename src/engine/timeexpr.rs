//! `$[...]` time expressions, evaluated as the 2.0.5 master does when it cures global
//! parameters (`dolphinscheduler-common/.../utils/ParameterUtils.java`, `dateTemplateParse`,
//! and `.../utils/placeholder/TimePlaceholderUtils.java`, tag 2.0.5).
//!
//! [`replace`] finds every `$[expr]` whose `expr` has no `$` and no `]` (left to right, not
//! nested), leaves single-digit ones (`$[1]`) alone and replaces the others by
//! [`evaluate`]`(expr)`. Any failure aborts the whole replacement: upstream rethrows it out of
//! `curingGlobalParams`, and the command becomes an error command. The forms:
//!
//! | expression | value |
//! |---|---|
//! | `timestamp(e)` | `e` evaluated, formatted, read back as `yyyyMMddHHmmss` in the JVM zone: epoch seconds |
//! | `add_months(fmt,N)` | base + N calendar months (day pinned to the month's end), formatted with `fmt` |
//! | `month_begin(fmt,N)` / `month_end(fmt,N)` | first / last day of the base's month, + N days |
//! | `week_begin(fmt,N)` / `week_end(fmt,N)` | Monday / Sunday of the base's Monday-to-Sunday week, + N days |
//! | `fmt+N` / `fmt-N` | base ± N days; `N` may be `a/b...` (a fraction of a day, in whole minutes) |
//! | anything else | the base formatted with the whole expression as the pattern |
//!
//! `N` is an integer expression in Java `int` arithmetic ([`calculate`], upstream's own
//! shunting-yard with its quirks: `-3+2` is `-5`, unknown characters are operators that
//! yield 0). Times of day are kept by the day and month functions. Patterns are
//! `java.time` patterns ([`pattern`]). The function names are matched as prefixes and their
//! brackets are not checked (upstream cuts the name, one character, and the last character).
//!
//! Dates behave as `java.util.Date` instants in the JVM zone ([`JavaZone`]): minute offsets
//! are instant arithmetic (an hour earlier across a DST change is 60 real minutes), day and
//! month steps keep the wall time (`Calendar.add`), and wall times are turned back into
//! instants with `java.time`'s rules when parsed (`DateUtils.parse`) and `Calendar`'s when
//! set.
//!
//! 2.0.6+ adds `this_day`, `last_day`, `year_week`, `month_first_day`, … (`TimePlaceholderUtils`
//! of 3.x): they are not 2.0.5 forms, and like any unknown text they are taken as a pattern
//! here, as in 2.0.5 (where e.g. `this_day(yyyyMMdd)` fails on the unknown letter `t`).

pub mod pattern;

use crate::schedule::calendar::JavaZone;
use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, Duration, Months, NaiveDateTime, TimeZone};

/// Why an expression cannot be evaluated (upstream throws; the value is never half-replaced).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A function form without exactly two comma-separated arguments, or too short to cut.
    #[error("expression not valid: {0}")]
    NotValid(String),
    /// The integer expression cannot be computed (empty stack, overflowing literal, `/0`).
    #[error("cannot calculate '{expr}': {reason}")]
    Arithmetic { expr: String, reason: &'static str },
    #[error("date pattern '{pattern}': {source}")]
    Pattern {
        pattern: String,
        #[source]
        source: pattern::Error,
    },
    /// `timestamp(...)`: the inner value does not read as `yyyyMMddHHmmss`.
    #[error("timestamp of '{0}': not a yyyyMMddHHmmss time")]
    Timestamp(String),
    #[error("date out of range in '{0}'")]
    OutOfRange(String),
    /// A `\` at the end of a value (Java's `appendReplacement` escape).
    #[error("character to be escaped is missing in '{0}'")]
    Escape(String),
}

/// Replaces the `$[...]` expressions of `text` (upstream `dateTemplateParse`), relative to
/// `base`, a wall-clock time in `zone`.
pub fn replace(text: &str, base: NaiveDateTime, zone: JavaZone) -> Result<String, Error> {
    let base = Moment::parsed(base, zone);
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find("$[") {
        let start = from + found;
        let body = start + 2;
        let len = text[body..].find(['$', ']']).unwrap_or(text.len() - body);
        if len == 0 || !text[body + len..].starts_with(']') {
            // No match here; the scan goes on one character later.
            from = start + 1;
            continue;
        }
        let expr = &text[body..body + len];
        let end = body + len + 1;
        from = end;
        let mut chars = expr.chars();
        if matches!((chars.next(), chars.next()), (Some(c), None) if c.is_ascii_digit()) {
            continue;
        }
        out.push_str(&text[copied..start]);
        push_unescaped(&mut out, &base.evaluate(expr)?)?;
        copied = end;
    }
    out.push_str(&text[copied..]);
    Ok(out)
}

/// One expression (upstream `calculateTime`), relative to `base`, a wall-clock time in `zone`.
pub fn evaluate(expr: &str, base: NaiveDateTime, zone: JavaZone) -> Result<String, Error> {
    Moment::parsed(base, zone).evaluate(expr)
}

/// Java `Matcher.appendReplacement`: `\x` stands for `x`. (`$` cannot occur: the expression
/// excludes it and patterns only print their own characters, digits and English words.)
fn push_unescaped(out: &mut String, value: &str) -> Result<(), Error> {
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) => out.push(n),
                None => return Err(Error::Escape(value.to_string())),
            }
        } else {
            out.push(c);
        }
    }
    Ok(())
}

/// A `java.util.Date` seen through the JVM zone.
#[derive(Debug, Clone, Copy)]
struct Moment {
    utc_ms: i64,
    zone: JavaZone,
}

impl Moment {
    /// `DateUtils.parse` (`LocalDateTime` → `Date` with `atZone`): a time in a DST gap moves
    /// forward by the gap, a time in an overlap takes the earlier instant.
    fn parsed(wall: NaiveDateTime, zone: JavaZone) -> Moment {
        let wall_ms = wall.and_utc().timestamp_millis();
        let utc_ms = match zone {
            JavaZone::Named(tz) => match tz.from_local_datetime(&wall) {
                LocalResult::Single(t) => t.timestamp_millis(),
                LocalResult::Ambiguous(a, b) => a.timestamp_millis().min(b.timestamp_millis()),
                LocalResult::None => zone.utc_from_wall(wall_ms),
            },
            JavaZone::Fixed(_) => zone.utc_from_wall(wall_ms),
        };
        Moment { utc_ms, zone }
    }

    /// A wall time set on a `Calendar` (its own gap and overlap rules).
    fn set(&self, wall: NaiveDateTime) -> Moment {
        Moment {
            utc_ms: self.zone.utc_from_wall(wall.and_utc().timestamp_millis()),
            zone: self.zone,
        }
    }

    fn wall(&self, expr: &str) -> Result<NaiveDateTime, Error> {
        let ms = self.utc_ms + self.zone.offset_at_utc(self.utc_ms);
        DateTime::from_timestamp_millis(ms)
            .map(|d| d.naive_utc())
            .ok_or_else(|| Error::OutOfRange(expr.to_string()))
    }

    fn add_minutes(&self, minutes: i32, expr: &str) -> Result<Moment, Error> {
        let utc_ms = self
            .utc_ms
            .checked_add(i64::from(minutes) * 60_000)
            .ok_or_else(|| Error::OutOfRange(expr.to_string()))?;
        Ok(Moment {
            utc_ms,
            zone: self.zone,
        })
    }

    fn add_days(&self, days: i32, expr: &str) -> Result<Moment, Error> {
        let wall = self
            .wall(expr)?
            .checked_add_signed(Duration::days(i64::from(days)))
            .ok_or_else(|| Error::OutOfRange(expr.to_string()))?;
        Ok(self.set(wall))
    }

    fn add_months(&self, months: i32, expr: &str) -> Result<Moment, Error> {
        let wall = self.wall(expr)?;
        let step = Months::new(months.unsigned_abs());
        let moved = if months >= 0 {
            wall.checked_add_months(step)
        } else {
            wall.checked_sub_months(step)
        };
        moved
            .map(|w| self.set(w))
            .ok_or_else(|| Error::OutOfRange(expr.to_string()))
    }

    /// Moves the wall date by a function of it, keeping the time of day.
    fn with_date(
        &self,
        expr: &str,
        f: impl FnOnce(chrono::NaiveDate) -> Option<chrono::NaiveDate>,
    ) -> Result<Moment, Error> {
        let wall = self.wall(expr)?;
        let date = f(wall.date()).ok_or_else(|| Error::OutOfRange(expr.to_string()))?;
        Ok(self.set(date.and_time(wall.time())))
    }

    fn format(&self, fmt: &str, expr: &str) -> Result<String, Error> {
        pattern::format(fmt, self.wall(expr)?).map_err(|source| Error::Pattern {
            pattern: fmt.to_string(),
            source,
        })
    }

    /// Upstream `calculateTime`.
    fn evaluate(&self, expr: &str) -> Result<String, Error> {
        if expr.starts_with("timestamp") {
            let inner = cut(expr, "timestamp")?;
            let (at, fmt) = self.time_expression(inner)?;
            let text = at.format(fmt, expr)?;
            let wall = read_parameter_time(&text).ok_or_else(|| Error::Timestamp(text.clone()))?;
            // Java's `getTime() / 1000` truncates toward zero.
            return Ok((Moment::parsed(wall, self.zone).utc_ms / 1000).to_string());
        }
        let (at, fmt) = self.time_expression(expr)?;
        at.format(fmt, expr)
    }

    /// Upstream `calcTimeExpression`: the moment and the pattern to print it with.
    fn time_expression<'e>(&self, expr: &'e str) -> Result<(Moment, &'e str), Error> {
        type Anchor = fn(chrono::NaiveDate) -> Option<chrono::NaiveDate>;
        let functions: [(&str, Option<Anchor>); 5] = [
            ("add_months", None),
            ("month_begin", Some(first_day_of_month as Anchor)),
            ("month_end", Some(last_day_of_month as Anchor)),
            ("week_begin", Some(monday as Anchor)),
            ("week_end", Some(sunday as Anchor)),
        ];
        for (name, anchor) in functions {
            if !expr.starts_with(name) {
                continue;
            }
            let args = java_split_comma(cut(expr, name)?);
            let [fmt, n] = args.as_slice() else {
                return Err(Error::NotValid(expr.to_string()));
            };
            let n = calculate(n)?;
            let at = match anchor {
                None => self.add_months(n, expr)?,
                Some(f) => self.with_date(expr, f)?.add_days(n, expr)?,
            };
            return Ok((at, fmt));
        }
        self.shifted(expr)
    }

    /// Upstream `calcMinutes(String, Date)`: `fmt+N` / `fmt-N` (the last `+`, else the last
    /// `-`, followed by a digit); otherwise the whole expression is the pattern.
    fn shifted<'e>(&self, expr: &'e str) -> Result<(Moment, &'e str), Error> {
        let (at, sign) = if let Some(i) = expr.rfind('+') {
            (i, 1)
        } else if let Some(i) = expr.rfind('-') {
            (i, -1)
        } else {
            return Ok((*self, expr));
        };
        let rest = &expr[at + 1..];
        match rest.chars().next() {
            // `charAt(index + 1)` past the end throws.
            None => Err(Error::NotValid(expr.to_string())),
            Some(c) if c.is_ascii_digit() => {
                let minutes = day_fraction_minutes(rest)?;
                let moment = self.add_minutes(minutes.wrapping_mul(sign), expr)?;
                Ok((moment, &expr[..at]))
            }
            Some(_) => Ok((*self, expr)),
        }
    }
}

/// `name(args)` → `args`: upstream drops the name, one more character and the last one.
fn cut<'e>(expr: &'e str, name: &str) -> Result<&'e str, Error> {
    let rest = &expr[name.len()..];
    let mut chars = rest.char_indices();
    let from = match chars.next() {
        Some((_, c)) => c.len_utf8(),
        None => return Err(Error::NotValid(expr.to_string())),
    };
    let to = match rest.char_indices().last() {
        Some((i, _)) if i >= from => i,
        _ => return Err(Error::NotValid(expr.to_string())),
    };
    Ok(&rest[from..to])
}

/// Java `String.split(",")`: trailing empty parts are dropped.
fn java_split_comma(s: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(',').collect();
    if parts.len() > 1 {
        while parts.last() == Some(&"") {
            parts.pop();
        }
    }
    parts
}

fn days_from_monday(d: chrono::NaiveDate) -> u64 {
    u64::from(d.weekday().num_days_from_monday())
}

fn first_day_of_month(d: chrono::NaiveDate) -> Option<chrono::NaiveDate> {
    d.with_day(1)
}

/// `DateUtils.getMonday`: the Monday of the Monday-to-Sunday week.
fn monday(d: chrono::NaiveDate) -> Option<chrono::NaiveDate> {
    d.checked_sub_days(chrono::Days::new(days_from_monday(d)))
}

/// `DateUtils.getSunday`: the Sunday ending the Monday-to-Sunday week.
fn sunday(d: chrono::NaiveDate) -> Option<chrono::NaiveDate> {
    d.checked_add_days(chrono::Days::new(6 - days_from_monday(d)))
}

fn last_day_of_month(d: chrono::NaiveDate) -> Option<chrono::NaiveDate> {
    d.with_day(1)?
        .checked_add_months(Months::new(1))?
        .pred_opt()
}

/// Upstream `calcMinutes(String)`: `N` days in minutes; `a/b/...` divides `60*24*(a)`.
fn day_fraction_minutes(expr: &str) -> Result<i32, Error> {
    match expr.find('/') {
        None => calculate(&format!("60*24*({expr})")),
        Some(i) => calculate(&format!("60*24*({}){}", &expr[..i], &expr[i..])),
    }
}

/// `yyyyMMddHHmmss` read as `java.time` reads it strictly: exactly 14 digits, a valid
/// time; a day past the month's end is pulled back to its last day (SMART resolver).
pub(crate) fn read_parameter_time(s: &str) -> Option<NaiveDateTime> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let year = i32::try_from(num(0..4)?).ok().filter(|y| *y >= 1)?;
    let (month, day) = (num(4..6)?, num(6..8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let first = chrono::NaiveDate::from_ymd_opt(year, month, 1)?;
    let last = last_day_of_month(first)?.day();
    let date = first.with_day(day.min(last))?;
    date.and_hms_opt(num(8..10)?, num(10..12)?, num(12..14)?)
}

/// Upstream `TimePlaceholderUtils.calculate`: Java `int` arithmetic on `+ - * /` and
/// parentheses, with its parser's quirks kept (module doc).
pub fn calculate(expression: &str) -> Result<i32, Error> {
    let fail = |reason| Error::Arithmetic {
        expr: expression.to_string(),
        reason,
    };
    // commons-lang `trim`: control characters and spaces at both ends.
    let trimmed = expression.trim_matches(|c: char| c <= ' ');
    // Unary signs become `P` / `N`; the check sees signs already rewritten.
    let mut chars: Vec<char> = trimmed.chars().collect();
    for i in 0..chars.len() {
        let unary = i == 0 || matches!(chars[i - 1], '+' | '-' | '*' | '/' | '(');
        match chars[i] {
            '-' if unary => chars[i] = 'N',
            '+' if unary => chars[i] = 'P',
            _ => {}
        }
    }
    // Tokens: runs of digits, every other character alone.
    let mut tokens: Vec<String> = Vec::new();
    let mut number = String::new();
    for c in chars {
        if c.is_ascii_digit() {
            number.push(c);
        } else {
            if !number.is_empty() {
                tokens.push(std::mem::take(&mut number));
            }
            tokens.push(c.to_string());
        }
    }
    if !number.is_empty() {
        tokens.push(number);
    }
    // To postfix.
    let is_number = |t: &str| t.starts_with(|c: char| c.is_ascii_digit());
    let pops_before = |top: &str, cur: &str| match top {
        "*" | "/" => matches!(cur, "*" | "/" | "+" | "-"),
        "+" | "-" => matches!(cur, "+" | "-"),
        _ => false,
    };
    let mut postfix: Vec<String> = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    for t in tokens {
        if is_number(&t) {
            postfix.push(t);
            continue;
        }
        match t.as_str() {
            "(" => stack.push(t),
            ")" => loop {
                match stack.pop() {
                    Some(top) if top == "(" => break,
                    Some(top) => postfix.push(top),
                    None => return Err(fail("unbalanced ')'")),
                }
            },
            _ => {
                while let Some(top) = stack.last() {
                    if !pops_before(top, &t) {
                        break;
                    }
                    postfix.extend(stack.pop());
                }
                stack.push(t);
            }
        }
    }
    while let Some(top) = stack.pop() {
        postfix.push(top);
    }
    // Evaluate.
    let mut values: Vec<i32> = Vec::new();
    for t in postfix {
        if is_number(&t) {
            values.push(t.parse().map_err(|_| fail("number out of int range"))?);
            continue;
        }
        let back = values.pop().ok_or_else(|| fail("missing operand"))?;
        let op = t.chars().next().unwrap_or(' ');
        let front = if matches!(op, 'P' | 'N') {
            0
        } else {
            values.pop().ok_or_else(|| fail("missing operand"))?
        };
        values.push(match op {
            'P' | '+' => front.wrapping_add(back),
            'N' | '-' => front.wrapping_sub(back),
            '*' => front.wrapping_mul(back),
            '/' if back == 0 => return Err(fail("division by zero")),
            '/' => front.wrapping_div(back),
            // Anything else (spaces, letters, a stray '(') is an operator yielding 0.
            _ => 0,
        });
    }
    values.pop().ok_or_else(|| fail("empty expression"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn shanghai() -> JavaZone {
        JavaZone::resolve("Asia/Shanghai")
    }

    fn utc() -> JavaZone {
        JavaZone::resolve("UTC")
    }

    /// Upstream's own test date: Sunday 2017-01-01 01:01:01 in Asia/Shanghai.
    fn ev(expr: &str) -> Result<String, Error> {
        evaluate(expr, t("2017-01-01 01:01:01"), shanghai())
    }

    #[test]
    fn day_and_minute_offsets() {
        assert_eq!(ev("yyyy").unwrap(), "2017");
        assert_eq!(ev("yyyyMMdd").unwrap(), "20170101");
        assert_eq!(ev("yyyyMMdd+7*1").unwrap(), "20170108");
        assert_eq!(ev("yyyyMMdd-7*1").unwrap(), "20161225");
        assert_eq!(ev("yyyyMMdd+1").unwrap(), "20170102");
        assert_eq!(ev("yyyyMMdd-1").unwrap(), "20161231");
        assert_eq!(ev("yyyyMMddHH+1/24").unwrap(), "2017010102");
        assert_eq!(ev("yyyyMMddHH-1/24").unwrap(), "2017010100");
        assert_eq!(ev("yyyy-MM-dd-1").unwrap(), "2016-12-31");
        // The last '-' is followed by a letter: the whole text is the pattern.
        assert_eq!(ev("yyyy-MM-dd").unwrap(), "2017-01-01");
        assert_eq!(ev("yyyy:***").unwrap(), "2017:***");
        // The last '+' wins over any '-'; what precedes it is the pattern.
        assert_eq!(ev("yyyyMMdd-1+1").unwrap(), "20170102-1");
        // '+' followed by a non-digit: the whole text is the pattern, '-' is not looked at.
        assert!(matches!(ev("yyyyMMdd-1+b"), Err(Error::Pattern { .. })));
        assert!(matches!(ev("yyyyMMdd+"), Err(Error::NotValid(_))));
        assert!(matches!(ev("yyyyMMdd-"), Err(Error::NotValid(_))));
    }

    #[test]
    fn functions() {
        assert_eq!(ev("add_months(yyyyMMdd,12*1)").unwrap(), "20180101");
        assert_eq!(ev("add_months(yyyyMMdd,-12*1)").unwrap(), "20160101");
        assert_eq!(ev("month_begin(yyyyMMdd, 1)").unwrap(), "20170102");
        assert_eq!(ev("month_end(yyyyMMdd, -1)").unwrap(), "20170130");
        // The Monday-to-Sunday week of Sunday 1 January 2017 starts on 26 December.
        assert_eq!(ev("week_begin(yyyyMMdd, 1)").unwrap(), "20161227");
        assert_eq!(ev("week_end(yyyyMMdd, -1)").unwrap(), "20161231");
        assert_eq!(ev("week_begin(yyyyMMdd,0)").unwrap(), "20161226");
        assert_eq!(ev("week_end(yyyyMMdd,0)").unwrap(), "20170101");
        // Times of day are kept.
        assert_eq!(ev("month_end(yyyyMMddHHmmss,0)").unwrap(), "20170131010101");
        let leap = |e| evaluate(e, t("2024-03-31 10:00:00"), utc());
        assert_eq!(leap("add_months(yyyy-MM-dd,-1)").unwrap(), "2024-02-29");
        assert_eq!(leap("add_months(yyyyMMdd,-13)").unwrap(), "20230228");
        assert_eq!(leap("month_end(yyyyMMdd,0)").unwrap(), "20240331");
        assert_eq!(leap("month_begin(yyyyMMdd,-1)").unwrap(), "20240229");
        // Not exactly two arguments.
        assert!(matches!(
            ev("add_months(yyyyMMdd)"),
            Err(Error::NotValid(_))
        ));
        assert!(matches!(
            ev("add_months(yyyyMMdd,)"),
            Err(Error::NotValid(_))
        ));
        assert!(matches!(
            ev("add_months(yyyy,MM,1)"),
            Err(Error::NotValid(_))
        ));
        assert!(matches!(ev("add_months"), Err(Error::NotValid(_))));
        // Brackets are not checked: the name, one character and the last are cut.
        assert_eq!(ev("add_months yyyyMMdd,1 ").unwrap(), "20170201");
        // An empty pattern prints nothing.
        assert_eq!(ev("add_months(,1)").unwrap(), "");
        // 3.x forms are no functions in 2.0.5: patterns with unknown letters.
        assert!(matches!(
            ev("this_day(yyyyMMdd)"),
            Err(Error::Pattern { .. })
        ));
    }

    #[test]
    fn timestamps_are_epoch_seconds_in_the_jvm_zone() {
        assert_eq!(ev("timestamp(yyyyMMdd00mmss)").unwrap(), "1483200061");
        assert_eq!(
            ev("timestamp(month_begin(yyyyMMddHHmmss, 1))").unwrap(),
            "1483290061"
        );
        assert_eq!(
            ev("timestamp(month_end(yyyyMMddHHmmss, -1))").unwrap(),
            "1485709261"
        );
        assert_eq!(
            ev("timestamp(week_begin(yyyyMMddHHmmss, 1))").unwrap(),
            "1482771661"
        );
        assert_eq!(
            ev("timestamp(week_end(yyyyMMdd000000, -1))").unwrap(),
            "1483113600"
        );
        assert_eq!(ev("timestamp(yyyyMMddHHmmss)").unwrap(), "1483203661");
        assert!(matches!(
            ev("timestamp(yyyyMMdd)"),
            Err(Error::Timestamp(_))
        ));
        assert!(matches!(ev("timestamp()"), Err(Error::Timestamp(_))));
        assert!(matches!(ev("timestamp"), Err(Error::NotValid(_))));
        let before_epoch = evaluate("timestamp(yyyyMMddHHmmss)", t("1969-12-31 23:59:59"), utc());
        assert_eq!(before_epoch.unwrap(), "-1");
    }

    #[test]
    fn replace_in_text() {
        let base = t("2020-12-01 12:30:00");
        let text = "'$[1]' '$[add_months(yyyyMMdd,12*2)]' '$[add_months(yyyyMMdd,-12*2)]' \
                    '$[add_months(yyyyMMdd,3)]' '$[add_months(yyyyMMdd,-4)]' '$[yyyyMMdd+7*2]' \
                    '$[yyyyMMdd-7*2]' '$[yyyyMMdd+3]' '$[0]' '$[yyyyMMdd-3]' '$[HHmmss+2/24]' \
                    '$[HHmmss-1/24]' '$[HHmmss+3/24/60]' '$[HHmmss-2/24/60]' '$[3]'";
        assert_eq!(
            replace(text, base, shanghai()).unwrap(),
            "'$[1]' '20221201' '20181201' '20210301' '20200801' '20201215' '20201117' \
             '20201204' '$[0]' '20201128' '143000' '113000' '123300' '122800' '$[3]'"
        );
        let r = |s| replace(s, base, utc());
        assert_eq!(r("$[yyyy]test1$[yyyy:***]").unwrap(), "2020test12020:***");
        // No '$' and no ']' inside; an empty body is no match; the scan resumes.
        assert_eq!(r("$[a$[yyyy]").unwrap(), "$[a2020");
        assert_eq!(r("$[]$[MM]").unwrap(), "$[]12");
        assert_eq!(r("$[yyyy").unwrap(), "$[yyyy");
        assert_eq!(r("$[12]").unwrap(), "12");
        assert_eq!(r("x${y}").unwrap(), "x${y}");
        // A backslash escapes the next character of the result, as `appendReplacement` does.
        assert_eq!(r("$[yyyy\\MM]").unwrap(), "202012");
        assert!(matches!(r("$[yyyy\\]"), Err(Error::Escape(_))));
        // One failure fails the whole text.
        assert!(r("$[yyyy] $[bogus]").is_err());
    }

    #[test]
    fn dst_minutes_are_real_minutes_and_days_keep_the_wall_time() {
        let ny = JavaZone::resolve("America/New_York");
        // 2024-03-10 03:30 EDT; one hour earlier is 01:30 EST (02:xx does not exist).
        let base = t("2024-03-10 03:30:00");
        assert_eq!(evaluate("HHmm-1/24", base, ny).unwrap(), "0130");
        // `-1` is 1440 real minutes too: 02:30 EST the day before.
        assert_eq!(evaluate("ddHHmm-1", base, ny).unwrap(), "090230");
        // The week functions step calendar days: the Monday keeps 03:30.
        assert_eq!(
            evaluate("week_begin(ddHHmm,0)", base, ny).unwrap(),
            "040330"
        );
        assert_eq!(
            evaluate("week_begin(ddHHmm,7)", base, ny).unwrap(),
            "110330"
        );
        // Epoch seconds of 03:30 EDT (07:30 UTC).
        assert_eq!(
            evaluate("timestamp(yyyyMMddHHmmss)", base, ny).unwrap(),
            "1710055800"
        );
    }

    #[test]
    fn integer_expressions_as_upstream_computes_them() {
        assert_eq!(calculate("1+2*3").unwrap(), 7);
        assert_eq!(calculate("(1+2)*3").unwrap(), 9);
        assert_eq!(calculate(" 12*2 ").unwrap(), 24);
        assert_eq!(calculate("-4").unwrap(), -4);
        assert_eq!(calculate("60*24*(-1)").unwrap(), -1440);
        assert_eq!(calculate("7/2").unwrap(), 3);
        assert_eq!(calculate("-7/2").unwrap(), -3);
        assert_eq!(calculate("60*24*(1)/24/60").unwrap(), 1);
        // Unary signs bind last: -3+2 is -(3+2).
        assert_eq!(calculate("-3+2").unwrap(), -5);
        assert_eq!(calculate("2*-3").unwrap(), -6);
        // Left to right for equal precedence.
        assert_eq!(calculate("8-2-1").unwrap(), 5);
        assert_eq!(calculate("8/2/2").unwrap(), 2);
        // Inner spaces are operators that yield 0.
        assert_eq!(calculate("1 2").unwrap(), 0);
        // `int` wraps.
        assert_eq!(calculate("2147483647+1").unwrap(), i32::MIN);
        assert!(calculate("2147483648").is_err());
        assert!(calculate("1/0").is_err());
        assert!(calculate("").is_err());
        assert!(calculate("1)").is_err());
        // The second '-' follows an 'N', which is no operator: a binary minus short of an operand.
        assert!(calculate("--3").is_err());
    }
}
