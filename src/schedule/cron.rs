//! Quartz 2.3 cron expressions and cron-trigger arithmetic.
//!
//! Written from the behaviour of `org.quartz.CronExpression` (parse rules and error cases,
//! `getTimeAfter`) and `org.quartz.impl.triggers.CronTriggerImpl` (start/end clamps,
//! `getFireTimeAfter`, misfire instructions). In a mixed cluster every member must compute
//! the same next fire time from the same row, so the quirks are kept on purpose: values
//! that Quartz silently accepts (`5X` reads as `5`) are accepted here, the `*` marker value
//! 99 sits in the sets as it does in Java, and the walk over calendar fields mirrors
//! Quartz's field-by-field search on a lenient calendar ([`super::calendar`]), which is what
//! decides DST-day results.

use super::calendar::{last_day_of_month, Field, JavaZone, LenientCalendar};
use chrono::Datelike;
use std::collections::BTreeSet;

/// Marker for `?` in day-of-month / day-of-week sets (Quartz's `NO_SPEC_INT`).
const NO_SPEC: i64 = 98;
/// Marker for `*` (Quartz's `ALL_SPEC_INT`); also added to a set next to the real values.
const ALL_SPEC: i64 = 99;

/// Field positions in the expression, in Quartz's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Second = 0,
    Minute = 1,
    Hour = 2,
    DayOfMonth = 3,
    Month = 4,
    DayOfWeek = 5,
    Year = 6,
}

const KINDS: [Kind; 7] = [
    Kind::Second,
    Kind::Minute,
    Kind::Hour,
    Kind::DayOfMonth,
    Kind::Month,
    Kind::DayOfWeek,
    Kind::Year,
];

/// Why Quartz would reject an expression; the message is Quartz's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression '{expression}': {message}")]
pub struct CronError {
    pub expression: String,
    pub message: String,
}

/// Internal parse failure before the expression text is attached.
struct Fail(String);

fn fail<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail(msg.into()))
}

/// A parsed Quartz cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpression {
    text: String,
    sets: [BTreeSet<i64>; 7],
    last_day_of_week: bool,
    nth_day_of_week: i64,
    last_day_of_month: bool,
    nearest_weekday: bool,
    last_day_offset: i64,
    /// Quartz's `MAX_YEAR`: the current year + 100 when the class is loaded.
    max_year: i64,
}

impl CronExpression {
    /// Parses with Quartz's acceptance rules (`new CronExpression(text)` succeeds exactly
    /// when this does; the text is upper-cased first, as Quartz does).
    pub fn parse(expr: &str) -> Result<Self, CronError> {
        let upper = expr.to_uppercase();
        let mut c = CronExpression {
            text: upper.clone(),
            sets: Default::default(),
            last_day_of_week: false,
            nth_day_of_week: 0,
            last_day_of_month: false,
            nearest_weekday: false,
            last_day_offset: 0,
            max_year: i64::from(chrono::Utc::now().year()) + 100,
        };
        c.build(&upper).map_err(|Fail(message)| CronError {
            expression: expr.to_string(),
            message,
        })?;
        Ok(c)
    }

    /// `CronExpression.isValidExpression`.
    pub fn is_valid(expr: &str) -> bool {
        Self::parse(expr).is_ok()
    }

    /// The expression text as Quartz keeps it (upper case).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Quartz `getTimeAfter`: next fire time strictly after `after_ms` (epoch ms), evaluated
    /// in `tz`.
    pub fn next_after(&self, after_ms: i64, tz: chrono_tz::Tz) -> Option<i64> {
        self.next_after_in(after_ms, JavaZone::Named(tz))
    }

    fn set(&self, k: Kind) -> &BTreeSet<i64> {
        &self.sets[k as usize]
    }

    fn set_mut(&mut self, k: Kind) -> &mut BTreeSet<i64> {
        &mut self.sets[k as usize]
    }

    fn build(&mut self, expression: &str) -> Result<(), Fail> {
        let tokens: Vec<&str> = expression
            .split([' ', '\t'])
            .filter(|t| !t.is_empty())
            .collect();
        let mut on = 0usize;
        for tok in &tokens {
            if on > Kind::Year as usize {
                break;
            }
            let kind = KINDS[on];
            let has_l = tok.contains('L') && tok.chars().count() > 1 && tok.contains(',');
            if kind == Kind::DayOfMonth && has_l {
                return fail("Support for specifying 'L' and 'LW' with other days of the month is not implemented");
            }
            if kind == Kind::DayOfWeek && has_l {
                return fail(
                    "Support for specifying 'L' with other days of the week is not implemented",
                );
            }
            if kind == Kind::DayOfWeek && tok.matches('#').count() > 1 {
                return fail("Support for specifying multiple \"nth\" days is not implemented.");
            }
            for v in tok.split(',').filter(|v| !v.is_empty()) {
                let chars: Vec<char> = v.chars().collect();
                self.store_values(&chars, kind)?;
            }
            on += 1;
        }
        if on <= Kind::DayOfWeek as usize {
            return fail("Unexpected end of expression.");
        }
        if on <= Kind::Year as usize {
            self.store_values(&['*'], Kind::Year)?;
        }
        let dom_spec = !self.set(Kind::DayOfMonth).contains(&NO_SPEC);
        let dow_spec = !self.set(Kind::DayOfWeek).contains(&NO_SPEC);
        if (!dom_spec || dow_spec) && (!dow_spec || dom_spec) {
            return fail("Support for specifying both a day-of-week AND a day-of-month parameter is not implemented.");
        }
        Ok(())
    }

    /// One comma-separated element of a field (Quartz `storeExpressionVals`).
    fn store_values(&mut self, s: &[char], kind: Kind) -> Result<(), Fail> {
        let text: String = s.iter().collect();
        let mut i = 0;
        while i < s.len() && (s[i] == ' ' || s[i] == '\t') {
            i += 1;
        }
        if i >= s.len() {
            return Ok(());
        }
        let mut c = s[i];
        if c.is_ascii_uppercase() && text != "L" && text != "LW" && !is_last_offset_form(&text) {
            let mut sub = substr(s, i, i + 3)?;
            let sval;
            let mut eval = -1;
            match kind {
                Kind::Month => {
                    sval = month_number(&sub) + 1;
                    if sval <= 0 {
                        return fail(format!("Invalid Month value: '{sub}'"));
                    }
                    if s.len() > i + 3 && s[i + 3] == '-' {
                        i += 4;
                        sub = substr(s, i, i + 3)?;
                        eval = month_number(&sub) + 1;
                        if eval <= 0 {
                            return fail(format!("Invalid Month value: '{sub}'"));
                        }
                    }
                }
                Kind::DayOfWeek => {
                    sval = day_number(&sub);
                    if sval < 0 {
                        return fail(format!("Invalid Day-of-Week value: '{sub}'"));
                    }
                    if s.len() > i + 3 {
                        c = s[i + 3];
                        if c == '-' {
                            i += 4;
                            sub = substr(s, i, i + 3)?;
                            eval = day_number(&sub);
                            if eval < 0 {
                                return fail(format!("Invalid Day-of-Week value: '{sub}'"));
                            }
                        } else if c == '#' {
                            i += 4;
                            self.nth_day_of_week = parse_nth(s, i)?;
                        } else if c == 'L' {
                            self.last_day_of_week = true;
                        }
                    }
                }
                _ => return fail(format!("Illegal characters for this position: '{sub}'")),
            }
            let incr = if eval != -1 { 1 } else { 0 };
            return self.add_to_set(sval, eval, incr, kind);
        }
        if c == '?' {
            i += 1;
            if i + 1 < s.len() && s[i] != ' ' && s[i + 1] != '\t' {
                return fail(format!("Illegal character after '?': {}", s[i]));
            }
            if kind != Kind::DayOfWeek && kind != Kind::DayOfMonth {
                return fail("'?' can only be specified for Day-of-Month or Day-of-Week.");
            }
            if kind == Kind::DayOfWeek && !self.last_day_of_month {
                match self.set(Kind::DayOfMonth).last() {
                    None => return fail("Illegal cron expression format (no day-of-month)"),
                    Some(&NO_SPEC) => {
                        return fail("'?' can only be specified for Day-of-Month -OR- Day-of-Week.")
                    }
                    Some(_) => {}
                }
            }
            return self.add_to_set(NO_SPEC, -1, 0, kind);
        }
        if c == '*' || c == '/' {
            if c == '*' && i + 1 >= s.len() {
                return self.add_to_set(ALL_SPEC, -1, 0, kind);
            } else if c == '/' && (i + 1 >= s.len() || s[i + 1] == ' ' || s[i + 1] == '\t') {
                return fail("'/' must be followed by an integer.");
            } else if c == '*' {
                i += 1;
            }
            c = char_at(s, i)?;
            let incr = if c == '/' {
                i += 1;
                if i >= s.len() {
                    return fail("Unexpected end of string.");
                }
                let incr = java_parse_int(&s[i..].iter().collect::<String>())?;
                check_increment_range(incr, kind)?;
                incr
            } else {
                1
            };
            return self.add_to_set(ALL_SPEC, -1, incr, kind);
        }
        if c == 'L' {
            i += 1;
            if kind == Kind::DayOfMonth {
                self.last_day_of_month = true;
            }
            if kind == Kind::DayOfWeek {
                self.add_to_set(7, 7, 0, kind)?;
            }
            if kind == Kind::DayOfMonth && s.len() > i {
                if s[i] == '-' {
                    let (value, pos) = get_value(0, s, i + 1)?;
                    self.last_day_offset = value;
                    if value > 30 {
                        return fail("Offset from last day must be <= 30");
                    }
                    i = pos;
                }
                if s.len() > i && s[i] == 'W' {
                    self.nearest_weekday = true;
                }
            }
            return Ok(());
        }
        if c.is_ascii_digit() {
            let mut val = digit(c)?;
            i += 1;
            if i >= s.len() {
                return self.add_to_set(val, -1, -1, kind);
            }
            if s[i].is_ascii_digit() {
                let (v, pos) = get_value(val, s, i)?;
                val = v;
                i = pos;
            }
            return self.check_next(i, s, val, kind);
        }
        fail(format!("Unexpected character: {c}"))
    }

    /// What may follow a number (Quartz `checkNext`).
    fn check_next(&mut self, pos: usize, s: &[char], val: i64, kind: Kind) -> Result<(), Fail> {
        let mut i = pos;
        if i >= s.len() {
            return self.add_to_set(val, -1, -1, kind);
        }
        match s[i] {
            'L' => {
                if kind != Kind::DayOfWeek {
                    return fail(format!("'L' option is not valid here. (pos={i})"));
                }
                if !(1..=7).contains(&val) {
                    return fail("Day-of-Week values must be between 1 and 7");
                }
                self.last_day_of_week = true;
                self.set_mut(kind).insert(val);
                Ok(())
            }
            'W' => {
                if kind != Kind::DayOfMonth {
                    return fail(format!("'W' option is not valid here. (pos={i})"));
                }
                self.nearest_weekday = true;
                if val > 31 {
                    return fail("The 'W' option does not make sense with values larger than 31 (max number of days in a month)");
                }
                self.set_mut(kind).insert(val);
                Ok(())
            }
            '#' => {
                if kind != Kind::DayOfWeek {
                    return fail(format!("'#' option is not valid here. (pos={i})"));
                }
                self.nth_day_of_week = parse_nth(s, i + 1)?;
                self.set_mut(kind).insert(val);
                Ok(())
            }
            '-' => {
                i += 1;
                let v = digit(char_at(s, i)?)?;
                let mut end = v;
                i += 1;
                if i >= s.len() {
                    return self.add_to_set(val, end, 1, kind);
                }
                if s[i].is_ascii_digit() {
                    let (e, pos) = get_value(v, s, i)?;
                    end = e;
                    i = pos;
                }
                if i < s.len() && s[i] == '/' {
                    i += 1;
                    let v2 = digit(char_at(s, i)?)?;
                    i += 1;
                    if i >= s.len() {
                        return self.add_to_set(val, end, v2, kind);
                    }
                    if s[i].is_ascii_digit() {
                        let (v3, _) = get_value(v2, s, i)?;
                        self.add_to_set(val, end, v3, kind)
                    } else {
                        self.add_to_set(val, end, v2, kind)
                    }
                } else {
                    self.add_to_set(val, end, 1, kind)
                }
            }
            '/' => {
                if i + 1 >= s.len() || s[i + 1] == ' ' || s[i + 1] == '\t' {
                    return fail("'/' must be followed by an integer.");
                }
                i += 1;
                let v2 = digit(s[i])?;
                i += 1;
                if i >= s.len() {
                    check_increment_range(v2, kind)?;
                    return self.add_to_set(val, -1, v2, kind);
                }
                let c = s[i];
                if c.is_ascii_digit() {
                    let (v3, _) = get_value(v2, s, i)?;
                    check_increment_range(v3, kind)?;
                    self.add_to_set(val, -1, v3, kind)
                } else {
                    fail(format!("Unexpected character '{c}' after '/'"))
                }
            }
            _ => self.add_to_set(val, -1, 0, kind),
        }
    }

    /// Quartz `addToSet`: range checks, then a single value or a stepped (wrapping) range.
    fn add_to_set(&mut self, val: i64, end: i64, incr: i64, kind: Kind) -> Result<(), Fail> {
        let bad = match kind {
            Kind::Second | Kind::Minute => {
                (!(0..=59).contains(&val) || end > 59) && val != ALL_SPEC
            }
            Kind::Hour => (!(0..=23).contains(&val) || end > 23) && val != ALL_SPEC,
            Kind::DayOfMonth => {
                (!(1..=31).contains(&val) || end > 31) && val != ALL_SPEC && val != NO_SPEC
            }
            Kind::Month => (!(1..=12).contains(&val) || end > 12) && val != ALL_SPEC,
            Kind::DayOfWeek => {
                (val == 0 || val > 7 || end > 7) && val != ALL_SPEC && val != NO_SPEC
            }
            Kind::Year => false,
        };
        if bad {
            return fail(match kind {
                Kind::Second | Kind::Minute => "Minute and Second values must be between 0 and 59",
                Kind::Hour => "Hour values must be between 0 and 23",
                Kind::DayOfMonth => "Day of month values must be between 1 and 31",
                Kind::Month => "Month values must be between 1 and 12",
                _ => "Day-of-Week values must be between 1 and 7",
            });
        }
        let max_year = self.max_year;
        let set = self.set_mut(kind);
        if (incr == 0 || incr == -1) && val != ALL_SPEC {
            // Quartz stores -1 as NO_SPEC; unreachable with its parser, kept for parity.
            set.insert(if val != -1 { val } else { NO_SPEC });
            return Ok(());
        }
        let mut incr = incr;
        let mut start = val;
        let mut stop = end;
        if val == ALL_SPEC && incr <= 0 {
            incr = 1;
            set.insert(ALL_SPEC);
        }
        let (default_start, default_stop) = match kind {
            Kind::Second | Kind::Minute => (0, 59),
            Kind::Hour => (0, 23),
            Kind::DayOfMonth => (1, 31),
            Kind::Month => (1, 12),
            Kind::DayOfWeek => (1, 7),
            Kind::Year => (1970, max_year),
        };
        if stop == -1 {
            stop = default_stop;
        }
        if start == -1 || start == ALL_SPEC {
            start = default_start;
        }
        let mut max = -1;
        if stop < start {
            max = match kind {
                Kind::Second | Kind::Minute => 60,
                Kind::Hour => 24,
                Kind::Month => 12,
                Kind::DayOfWeek => 7,
                Kind::DayOfMonth => 31,
                Kind::Year => {
                    return fail("Illegal cron expression format (java.lang.IllegalArgumentException: Start year must be less than stop year)")
                }
            };
            stop += max;
        }
        let mut i = start;
        while i <= stop {
            // Years past 3000 can never fire (getTimeAfter gives up after 2999); one
            // stand-in value keeps the set's answers identical without storing millions.
            if kind == Kind::Year && i > 3001 {
                set.insert(3001);
                break;
            }
            if max == -1 {
                set.insert(i);
            } else {
                let mut i2 = i % max;
                if i2 == 0 && matches!(kind, Kind::Month | Kind::DayOfWeek | Kind::DayOfMonth) {
                    i2 = max;
                }
                set.insert(i2);
            }
            i += incr;
        }
        Ok(())
    }

    /// Quartz `getTimeAfter` in a Java-resolved zone.
    pub fn next_after_in(&self, after_ms: i64, zone: JavaZone) -> Option<i64> {
        let secs = self.set(Kind::Second);
        let mins = self.set(Kind::Minute);
        let hours = self.set(Kind::Hour);
        let doms = self.set(Kind::DayOfMonth);
        let months = self.set(Kind::Month);
        let dows = self.set(Kind::DayOfWeek);
        let years = self.set(Kind::Year);
        // Quartz would throw on an empty set; such an expression never fires.
        let doms_needed = !self.last_day_of_month;
        if [secs, mins, hours, months, dows, years]
            .iter()
            .any(|s| s.is_empty())
            || (doms_needed && doms.is_empty())
        {
            return None;
        }
        let first = |s: &BTreeSet<i64>| s.first().copied().unwrap_or(0);
        let tail = |s: &BTreeSet<i64>, from: i64| s.range(from..).next().copied();

        let after_time = after_ms + 1000;
        let mut cl = LenientCalendar::at(zone, after_time);
        cl.set(Field::Millisecond, 0);

        loop {
            if cl.get(Field::Year) > 2999 {
                return None;
            }
            // Seconds.
            let mut sec = cl.get(Field::Second);
            let mut min = cl.get(Field::Minute);
            match tail(secs, sec) {
                Some(s) => sec = s,
                None => {
                    sec = first(secs);
                    min += 1;
                    cl.set(Field::Minute, min);
                }
            }
            cl.set(Field::Second, sec);

            // Minutes.
            min = cl.get(Field::Minute);
            let mut hr = cl.get(Field::HourOfDay);
            let mut t = -1;
            match tail(mins, min) {
                Some(m) => {
                    t = min;
                    min = m;
                }
                None => {
                    min = first(mins);
                    hr += 1;
                }
            }
            if min != t {
                cl.set(Field::Second, 0);
                cl.set(Field::Minute, min);
                set_calendar_hour(&mut cl, hr);
                continue;
            }
            cl.set(Field::Minute, min);

            // Hours.
            hr = cl.get(Field::HourOfDay);
            let mut day = cl.get(Field::DayOfMonth);
            t = -1;
            match tail(hours, hr) {
                Some(h) => {
                    t = hr;
                    hr = h;
                }
                None => {
                    hr = first(hours);
                    day += 1;
                }
            }
            if hr != t {
                cl.set(Field::Second, 0);
                cl.set(Field::Minute, 0);
                cl.set(Field::DayOfMonth, day);
                set_calendar_hour(&mut cl, hr);
                continue;
            }
            cl.set(Field::HourOfDay, hr);

            // Days.
            day = cl.get(Field::DayOfMonth);
            let mut mon = cl.get(Field::Month) + 1;
            t = -1;
            let mut tmon = mon;
            let dom_spec = !doms.contains(&NO_SPEC);
            let dow_spec = !dows.contains(&NO_SPEC);
            if dom_spec && !dow_spec {
                let year = cl.get(Field::Year);
                let ldom = last_day_of_month(mon, year)?;
                if self.last_day_of_month {
                    t = day;
                    day = ldom - self.last_day_offset;
                    if !self.nearest_weekday {
                        if t > day {
                            mon += 1;
                            if mon > 12 {
                                mon = 1;
                                tmon = 3333;
                                cl.add_years(1);
                            }
                            day = 1;
                        }
                    } else {
                        day = nearest_weekday(zone, year, mon, day, ldom);
                        if weekday_instant(zone, year, mon, day, hr, min, sec) < after_time {
                            day = 1;
                            mon += 1;
                        }
                    }
                } else if self.nearest_weekday {
                    t = day;
                    day = first(doms);
                    day = nearest_weekday(zone, year, mon, day, ldom);
                    if weekday_instant(zone, year, mon, day, hr, min, sec) < after_time {
                        day = first(doms);
                        mon += 1;
                    }
                } else if let Some(d) = tail(doms, day) {
                    t = day;
                    day = d;
                    if day > ldom {
                        day = first(doms);
                        mon += 1;
                    }
                } else {
                    day = first(doms);
                    mon += 1;
                }
                if day != t || mon != tmon {
                    cl.set(Field::Second, 0);
                    cl.set(Field::Minute, 0);
                    cl.set(Field::HourOfDay, 0);
                    cl.set(Field::DayOfMonth, day);
                    cl.set(Field::Month, mon - 1);
                    continue;
                }
            } else if dow_spec && !dom_spec {
                let year = cl.get(Field::Year);
                let ldom = last_day_of_month(mon, year)?;
                if self.last_day_of_week {
                    let dow = first(dows);
                    let cdow = cl.day_of_week();
                    let mut add = 0;
                    if cdow < dow {
                        add = dow - cdow;
                    }
                    if cdow > dow {
                        add = dow + (7 - cdow);
                    }
                    if day + add > ldom {
                        cl.set(Field::Second, 0);
                        cl.set(Field::Minute, 0);
                        cl.set(Field::HourOfDay, 0);
                        cl.set(Field::DayOfMonth, 1);
                        cl.set(Field::Month, mon);
                        continue;
                    }
                    while day + add + 7 <= ldom {
                        add += 7;
                    }
                    day += add;
                    if add > 0 {
                        cl.set(Field::Second, 0);
                        cl.set(Field::Minute, 0);
                        cl.set(Field::HourOfDay, 0);
                        cl.set(Field::DayOfMonth, day);
                        cl.set(Field::Month, mon - 1);
                        continue;
                    }
                } else if self.nth_day_of_week != 0 {
                    let dow = first(dows);
                    let cdow = cl.day_of_week();
                    let mut add = 0;
                    if cdow < dow {
                        add = dow - cdow;
                    } else if cdow > dow {
                        add = dow + (7 - cdow);
                    }
                    let shifted = add > 0;
                    day += add;
                    let mut week_of_month = day / 7;
                    if day % 7 > 0 {
                        week_of_month += 1;
                    }
                    add = (self.nth_day_of_week - week_of_month) * 7;
                    day += add;
                    if add < 0 || day > ldom {
                        cl.set(Field::Second, 0);
                        cl.set(Field::Minute, 0);
                        cl.set(Field::HourOfDay, 0);
                        cl.set(Field::DayOfMonth, 1);
                        cl.set(Field::Month, mon);
                        continue;
                    } else if add > 0 || shifted {
                        cl.set(Field::Second, 0);
                        cl.set(Field::Minute, 0);
                        cl.set(Field::HourOfDay, 0);
                        cl.set(Field::DayOfMonth, day);
                        cl.set(Field::Month, mon - 1);
                        continue;
                    }
                } else {
                    let cdow = cl.day_of_week();
                    let dow = tail(dows, cdow).unwrap_or_else(|| first(dows));
                    let mut add = 0;
                    if cdow < dow {
                        add = dow - cdow;
                    }
                    if cdow > dow {
                        add = dow + (7 - cdow);
                    }
                    if day + add > ldom {
                        cl.set(Field::Second, 0);
                        cl.set(Field::Minute, 0);
                        cl.set(Field::HourOfDay, 0);
                        cl.set(Field::DayOfMonth, 1);
                        cl.set(Field::Month, mon);
                        continue;
                    } else if add > 0 {
                        cl.set(Field::Second, 0);
                        cl.set(Field::Minute, 0);
                        cl.set(Field::HourOfDay, 0);
                        cl.set(Field::DayOfMonth, day + add);
                        cl.set(Field::Month, mon - 1);
                        continue;
                    }
                }
            } else {
                // Rejected by the parser; Quartz throws here.
                return None;
            }
            cl.set(Field::DayOfMonth, day);

            // Months.
            mon = cl.get(Field::Month) + 1;
            let mut year = cl.get(Field::Year);
            t = -1;
            if year > self.max_year {
                return None;
            }
            match tail(months, mon) {
                Some(m) => {
                    t = mon;
                    mon = m;
                }
                None => {
                    mon = first(months);
                    year += 1;
                }
            }
            if mon != t {
                cl.set(Field::Second, 0);
                cl.set(Field::Minute, 0);
                cl.set(Field::HourOfDay, 0);
                cl.set(Field::DayOfMonth, 1);
                cl.set(Field::Month, mon - 1);
                cl.set(Field::Year, year);
                continue;
            }
            cl.set(Field::Month, mon - 1);

            // Years.
            year = cl.get(Field::Year);
            let y = tail(years, year)?;
            if y != year {
                cl.set(Field::Second, 0);
                cl.set(Field::Minute, 0);
                cl.set(Field::HourOfDay, 0);
                cl.set(Field::DayOfMonth, 1);
                cl.set(Field::Month, 0);
                cl.set(Field::Year, y);
                continue;
            }
            cl.set(Field::Year, y);
            return Some(cl.time_ms());
        }
    }
}

/// Quartz `setCalendarHour`: if the hour reads back differently (it fell into a DST gap),
/// set the next hour instead.
fn set_calendar_hour(cl: &mut LenientCalendar, hour: i64) {
    cl.set(Field::HourOfDay, hour);
    if cl.get(Field::HourOfDay) != hour && hour != 24 {
        cl.set(Field::HourOfDay, hour + 1);
    }
}

/// The `W` rule: move a Saturday/Sunday to the nearest weekday without leaving the month.
/// Quartz reads the weekday from a calendar set to that date at midnight in the zone.
fn nearest_weekday(zone: JavaZone, year: i64, mon: i64, day: i64, ldom: i64) -> i64 {
    let mut tcal = LenientCalendar::at(zone, 0);
    tcal.set(Field::Millisecond, 0);
    tcal.set(Field::Second, 0);
    tcal.set(Field::Minute, 0);
    tcal.set(Field::HourOfDay, 0);
    tcal.set(Field::DayOfMonth, day);
    tcal.set(Field::Month, mon - 1);
    tcal.set(Field::Year, year);
    let dow = tcal.day_of_week();
    match dow {
        7 if day == 1 => day + 2,
        7 => day - 1,
        1 if day == ldom => day - 2,
        1 => day + 1,
        _ => day,
    }
}

/// The instant Quartz compares with the search start in the `W` branches. Quartz's
/// scratch calendar starts from "now", so its millisecond field is the current
/// millisecond; we use 0, which gives the same answer for the whole-second times
/// triggers work with.
fn weekday_instant(
    zone: JavaZone,
    year: i64,
    mon: i64,
    day: i64,
    hr: i64,
    min: i64,
    sec: i64,
) -> i64 {
    let mut tcal = LenientCalendar::at(zone, 0);
    tcal.set(Field::Millisecond, 0);
    tcal.set(Field::Second, sec);
    tcal.set(Field::Minute, min);
    tcal.set(Field::HourOfDay, hr);
    tcal.set(Field::DayOfMonth, day);
    tcal.set(Field::Month, mon - 1);
    tcal.set(Field::Year, year);
    tcal.time_ms()
}

/// `^L-[0-9]*W?$`: day-of-month forms that must not be read as a month/day name.
fn is_last_offset_form(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("L-") else {
        return false;
    };
    let rest = rest.strip_suffix('W').unwrap_or(rest);
    rest.bytes().all(|b| b.is_ascii_digit())
}

fn substr(s: &[char], from: usize, to: usize) -> Result<String, Fail> {
    if to > s.len() || from > to {
        return fail(format!(
            "Illegal cron expression format (java.lang.StringIndexOutOfBoundsException: begin {from}, end {to}, length {})",
            s.len()
        ));
    }
    Ok(s[from..to].iter().collect())
}

fn char_at(s: &[char], i: usize) -> Result<char, Fail> {
    s.get(i).copied().ok_or_else(|| {
        Fail(format!(
            "Illegal cron expression format (java.lang.StringIndexOutOfBoundsException: index {i}, length {})",
            s.len()
        ))
    })
}

/// `Integer.parseInt(String.valueOf(c))`.
fn digit(c: char) -> Result<i64, Fail> {
    c.to_digit(10).map(i64::from).ok_or_else(|| {
        Fail(format!(
            "Illegal cron expression format (java.lang.NumberFormatException: For input string: \"{c}\")"
        ))
    })
}

/// `Integer.parseInt`: optional sign, decimal digits, 32-bit range.
fn java_parse_int(s: &str) -> Result<i64, Fail> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let ok = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    match s.parse::<i32>() {
        Ok(v) if ok => Ok(i64::from(v)),
        _ => fail(format!(
            "Illegal cron expression format (java.lang.NumberFormatException: For input string: \"{s}\")"
        )),
    }
}

/// Quartz `getValue`: the number starting with digit `v` and continuing at `i`; the
/// position after it (one past the end when the number ends the string, as in Quartz).
fn get_value(v: i64, s: &[char], mut i: usize) -> Result<(i64, usize), Fail> {
    let mut c = char_at(s, i)?;
    let mut num = v.to_string();
    while c.is_ascii_digit() {
        num.push(c);
        i += 1;
        if i >= s.len() {
            break;
        }
        c = s[i];
    }
    let pos = if i < s.len() { i } else { i + 1 };
    Ok((java_parse_int(&num)?, pos))
}

/// The number after `#` (1..=5).
fn parse_nth(s: &[char], i: usize) -> Result<i64, Fail> {
    let rest: String = s.get(i..).unwrap_or(&[]).iter().collect();
    match java_parse_int(&rest) {
        Ok(n) if (1..=5).contains(&n) => Ok(n),
        _ => fail("A numeric value between 1 and 5 must follow the '#' option"),
    }
}

fn check_increment_range(incr: i64, kind: Kind) -> Result<(), Fail> {
    let (limit, label) = match kind {
        Kind::Second | Kind::Minute => (59, 60),
        Kind::Hour => (23, 24),
        Kind::DayOfMonth => (31, 31),
        Kind::DayOfWeek => (7, 7),
        Kind::Month => (12, 12),
        Kind::Year => return Ok(()),
    };
    if incr > limit {
        return fail(format!("Increment > {label} : {incr}"));
    }
    Ok(())
}

fn month_number(s: &str) -> i64 {
    const M: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    M.iter().position(|m| *m == s).map_or(-1, |p| p as i64)
}

fn day_number(s: &str) -> i64 {
    const D: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    D.iter().position(|d| *d == s).map_or(-1, |p| p as i64 + 1)
}

/// Quartz's misfire instructions for cron triggers (`QRTZ_TRIGGERS.MISFIRE_INSTR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MisfireInstruction {
    /// -1: never misfires; every missed time is fired.
    Ignore,
    /// 0: for cron triggers the same as `FireOnceNow`.
    Smart,
    /// 1: fire once now, then continue on schedule.
    FireOnceNow,
    /// 2 (DolphinScheduler): skip missed times, wait for the next one after now.
    DoNothing,
}

impl MisfireInstruction {
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            -1 => Self::Ignore,
            0 => Self::Smart,
            1 => Self::FireOnceNow,
            2 => Self::DoNothing,
            _ => return None,
        })
    }
}

/// The time-related state of a cron trigger row, with `CronTriggerImpl`'s arithmetic.
#[derive(Debug, Clone)]
pub struct CronTrigger {
    pub cron: CronExpression,
    pub zone: JavaZone,
    /// `START_TIME` (epoch ms).
    pub start_ms: i64,
    /// `END_TIME`; `None` when the column is ≤ 0.
    pub end_ms: Option<i64>,
}

impl CronTrigger {
    /// `getFireTimeAfter(after)`: the next cron time after `after`, clamped to start/end.
    pub fn fire_time_after(&self, after_ms: i64) -> Option<i64> {
        let mut after = after_ms;
        if self.start_ms > after {
            after = self.start_ms - 1000;
        }
        if let Some(end) = self.end_ms {
            if after >= end {
                return None;
            }
        }
        let pot = self.cron.next_after_in(after, self.zone)?;
        match self.end_ms {
            Some(end) if pot > end => None,
            _ => Some(pot),
        }
    }

    /// `computeFirstFireTime`: the first cron time at or after the start time.
    pub fn first_fire_time(&self) -> Option<i64> {
        self.fire_time_after(self.start_ms - 1000)
    }

    /// `updateAfterMisfire`: the new NEXT_FIRE_TIME for a misfired trigger at `now_ms`.
    /// `Ignore` triggers are never handed to the misfire handler; they keep `current`.
    pub fn next_after_misfire(
        &self,
        instruction: MisfireInstruction,
        current: Option<i64>,
        now_ms: i64,
    ) -> Option<i64> {
        match instruction {
            MisfireInstruction::Ignore => current,
            MisfireInstruction::Smart | MisfireInstruction::FireOnceNow => Some(now_ms),
            MisfireInstruction::DoNothing => self.fire_time_after(now_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text: parse never panics, and a parsed expression evaluates without panicking.
        #[test]
        fn never_panics(text in "[0-9A-Z*?/,#LW \\-]{0,40}", after in 0i64..4_102_444_800_000) {
            if let Ok(c) = CronExpression::parse(&text) {
                let _ = c.next_after_in(after, JavaZone::Named(chrono_tz::Tz::America__New_York));
            }
        }
    }

    fn field(options: &'static [&'static str]) -> impl Strategy<Value = String> {
        proptest::sample::select(options).prop_map(str::to_string)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// Plausible expressions in DST zones: evaluation terminates and moves forward.
        #[test]
        fn evaluation_terminates_and_advances(
            sec in field(&["0", "*/7", "30", "0,15,45", "5-10"]),
            min in field(&["0", "*/20", "30", "59", "10-50/10"]),
            hour in field(&["*", "2", "1,2,3", "0", "22-2", "*/5"]),
            day in field(&["?", "*", "L", "15W", "1W", "LW", "L-3", "31", "29", "1/10"]),
            month in field(&["*", "2", "MAR,NOV", "10-12", "*/3"]),
            dow in field(&["?", "*", "MON-FRI", "6L", "1#5", "SAT-MON", "L"]),
            year in field(&["", "*", "2025-2030", "2099"]),
            zone in field(&["America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Apia", "America/Sao_Paulo"]),
            after in 946_684_800_000i64..2_524_608_000_000,
        ) {
            let text = format!("{sec} {min} {hour} {day} {month} {dow} {year}");
            if let Ok(c) = CronExpression::parse(&text) {
                let zone = JavaZone::resolve(&zone);
                let mut t = after;
                for _ in 0..3 {
                    match c.next_after_in(t, zone) {
                        Some(n) => {
                            prop_assert!(n > t, "{text}: {n} after {t}");
                            t = n;
                        }
                        None => break,
                    }
                }
            }
        }
    }

    fn utc_next(expr: &str, after: i64) -> Option<i64> {
        CronExpression::parse(expr)
            .unwrap()
            .next_after(after, chrono_tz::Tz::UTC)
    }

    #[test]
    fn simple_forms() {
        // 2024-01-01T00:00:00Z
        let t0 = 1_704_067_200_000;
        assert_eq!(utc_next("0 0 * * * ? *", t0), Some(t0 + 3_600_000));
        assert_eq!(utc_next("*/2 * * * * ? *", t0), Some(t0 + 2000));
        assert_eq!(utc_next("0/15 * * * * ?", t0 + 1), Some(t0 + 15_000));
    }

    #[test]
    fn parse_quirks_match_quartz() {
        assert!(
            CronExpression::is_valid("5X * * * * ?"),
            "Quartz reads 5X as 5"
        );
        assert!(!CronExpression::is_valid("0 0 0 * *"));
        assert!(!CronExpression::is_valid("0 0 0 L,3 * ?"));
        assert!(!CronExpression::is_valid("0 0 0 ? * 1#1,2#2"));
        assert!(!CronExpression::is_valid("*/61 * * * * ?"));
        assert!(!CronExpression::is_valid("0 0 0 ? * MON#6"));
        assert!(!CronExpression::is_valid("0 0 0 L-31 * ?"));
        assert!(CronExpression::is_valid("0 0 0 ? * L"));
        assert!(CronExpression::is_valid("0 0 0 l * ?"), "case-insensitive");
        let e = CronExpression::parse("0 0 25 * * ? *").unwrap_err();
        assert_eq!(e.message, "Hour values must be between 0 and 23");
    }

    #[test]
    fn trigger_clamps() {
        let t = CronTrigger {
            cron: CronExpression::parse("0 0 * * * ? *").unwrap(),
            zone: JavaZone::Fixed(0),
            start_ms: 1_704_067_200_000,
            end_ms: Some(1_704_067_200_000 + 2 * 3_600_000),
        };
        assert_eq!(t.first_fire_time(), Some(1_704_067_200_000));
        assert_eq!(
            t.fire_time_after(1_704_067_200_000),
            Some(1_704_067_200_000 + 3_600_000)
        );
        assert_eq!(t.fire_time_after(1_704_067_200_000 + 2 * 3_600_000), None);
        assert_eq!(
            t.next_after_misfire(
                MisfireInstruction::DoNothing,
                None,
                1_704_067_200_000 + 60_000
            ),
            Some(1_704_067_200_000 + 3_600_000)
        );
    }
}
