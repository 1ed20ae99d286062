//! Complement data (backfill), master side (master-lifecycle.md 4): the date list of a
//! complement instance, the "complement end" test, and the `command_param` of the command that
//! chains the next date. Pure functions; the workflow actor does the reads and writes.
//!
//! Dates are the database's wall-clock times (upstream evaluates them in the JVM's default
//! zone, which a Java master shares with its JDBC session).

use chrono::{Duration, NaiveDateTime, NaiveTime};
use serde_json::{Map, Value};

/// `complementStartDate` / `complementEndDate` format.
pub const DATE_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// The cron upstream uses when a definition has no online schedule (`DEFAULT_CRON_STRING`).
pub const DEFAULT_CRON: &str = "0 0 0 * * ? *";

/// Why the date list cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComplementError {
    #[error(
        "complement over the cron schedule {0:?} needs the Quartz cron port, which is not wired into this build"
    )]
    CronUnavailable(String),
}

/// "The next fire time strictly after `after`", the one operation of Quartz's
/// `CronExpression` the date list needs.
pub trait NextFire {
    fn next_after(&self, after: NaiveDateTime) -> Option<NaiveDateTime>;
}

/// `0 0 0 * * ? *`: every midnight.
pub struct DailyMidnight;

impl NextFire for DailyMidnight {
    fn next_after(&self, after: NaiveDateTime) -> Option<NaiveDateTime> {
        let next_day = after.date().succ_opt()?;
        Some(next_day.and_time(NaiveTime::MIN))
    }
}

/// Adapts a fire-time function on epoch milliseconds (the shape of a Quartz port's
/// `next_after(after_ms, tz)`) to database wall-clock times, through the database clock.
pub struct EpochFire<F> {
    next_after_ms: F,
    clock: crate::store::Clock,
}

impl<F: Fn(i64) -> Option<i64>> EpochFire<F> {
    pub fn new(clock: crate::store::Clock, next_after_ms: F) -> Self {
        EpochFire {
            next_after_ms,
            clock,
        }
    }
}

impl<F: Fn(i64) -> Option<i64>> NextFire for EpochFire<F> {
    fn next_after(&self, after: NaiveDateTime) -> Option<NaiveDateTime> {
        let ms = self.clock.from_db(after).timestamp_millis();
        let next = (self.next_after_ms)(ms)?;
        let utc = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(next)?;
        Some(self.clock.to_db(utc))
    }
}

/// The fire-time source of one schedule's crontab; `Ok(None)` for an expression that does
/// not parse (upstream's `getSelfFireDateList` logs it and that schedule adds no date).
#[allow(clippy::type_complexity)]
pub fn fire_times_for(
    crontab: &str,
    clock: crate::store::Clock,
) -> Result<Option<Box<dyn NextFire + Send + Sync>>, ComplementError> {
    if crontab.split_whitespace().collect::<Vec<_>>()
        == DEFAULT_CRON.split_whitespace().collect::<Vec<_>>()
    {
        return Ok(Some(Box::new(DailyMidnight)));
    }
    let _ = clock;
    // cron: wire crate::schedule::cron here at merge, replacing the error below with:
    //   let Ok(cron) = crate::schedule::cron::CronExpression::parse(crontab) else {
    //       tracing::error!(crontab, "schedule cron does not parse; it adds no complement date");
    //       return Ok(None);
    //   };
    //   Ok(Some(Box::new(EpochFire::new(clock, move |ms| cron.next_after(ms, <tz>)))))
    // with <tz> the zone the database clock stands for (upstream: the JVM default zone).
    Err(ComplementError::CronUnavailable(crontab.to_string()))
}

/// Upstream `CronUtils.getSelfFireDateList(start, end, schedules)` (2.0.3-2.0.7): the fire
/// times of every schedule inside the closed interval `[start, end]`, schedules concatenated
/// in order (not sorted, not de-duplicated); `start == end` gives `[start]` whatever the cron.
/// The caller passes [`DailyMidnight`] when the definition has no online schedule (and
/// nothing for schedules whose cron does not parse).
pub fn fire_date_list(
    start: NaiveDateTime,
    end: NaiveDateTime,
    schedules: &[&dyn NextFire],
) -> Vec<NaiveDateTime> {
    if start == end {
        return vec![start];
    }
    let from = start - Duration::seconds(1);
    let to = end + Duration::seconds(1);
    let mut out = Vec::new();
    for s in schedules {
        let mut at = from;
        while let Some(next) = s.next_after(at) {
            if next >= to {
                break;
            }
            out.push(next);
            at = next;
        }
    }
    out
}

/// Upstream `ProcessInstance.isComplementData`: the first command of the instance's history
/// was COMPLEMENT_DATA.
pub fn is_complement(history_cmd: Option<&str>) -> bool {
    history_cmd.is_some_and(|h| h.starts_with("COMPLEMENT_DATA"))
}

pub fn parse_date(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text.trim(), DATE_FORMAT).ok()
}

/// The `complementStartDate` / `complementEndDate` pair of an instance's `command_param`.
pub fn range(command_param: Option<&str>) -> Option<(NaiveDateTime, NaiveDateTime)> {
    let params = crate::store::CommandParam::parse(command_param).ok()?;
    let start = parse_date(&params.get("complementStartDate")?)?;
    let end = parse_date(&params.get("complementEndDate")?)?;
    Some((start, end))
}

/// Upstream `isComplementEnd`: the instance's date is its `complementEndDate` (true for
/// instances that are not complements).
pub fn is_complement_end(
    history_cmd: Option<&str>,
    command_param: Option<&str>,
    schedule_time: Option<NaiveDateTime>,
) -> bool {
    if !is_complement(history_cmd) {
        return true;
    }
    let end = crate::store::CommandParam::parse(command_param)
        .ok()
        .and_then(|p| p.get("complementEndDate"))
        .and_then(|e| parse_date(&e));
    matches!((end, schedule_time), (Some(e), Some(s)) if e == s)
}

/// The date after `current` in `list`, when `current` is in it and not last.
pub fn next_date(list: &[NaiveDateTime], current: NaiveDateTime) -> Option<NaiveDateTime> {
    let i = list.iter().position(|d| *d == current)?;
    list.get(i + 1).copied()
}

/// `command_param` of the next COMPLEMENT_DATA command (`createComplementDataCommand`): the
/// instance's parameters as Java's `Map<String, String>` re-serialises them (every value a
/// string, key order kept), without `StartNodeIdList`, with `complementStartDate` replaced by
/// the next date when the key exists.
pub fn next_command_param(command_param: Option<&str>, next: NaiveDateTime) -> String {
    let map: Map<String, Value> = command_param
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    let mut out = Map::new();
    for (k, v) in map {
        if k == "StartNodeIdList" {
            continue;
        }
        let v = match v {
            Value::String(s) => Value::String(s),
            Value::Null => Value::Null,
            other => Value::String(other.to_string()),
        };
        let v = if k == "complementStartDate" {
            Value::String(next.format(DATE_FORMAT).to_string())
        } else {
            v
        };
        out.insert(k, v);
    }
    Value::Object(out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        parse_date(s).unwrap()
    }

    struct Every6h;
    impl NextFire for Every6h {
        fn next_after(&self, after: NaiveDateTime) -> Option<NaiveDateTime> {
            let base = after.date().and_time(NaiveTime::MIN);
            (1..=5)
                .map(|i| base + Duration::hours(6 * i))
                .find(|c| *c > after)
        }
    }

    #[test]
    fn no_schedule_is_one_date_per_midnight_closed_interval() {
        let list = fire_date_list(
            t("2024-01-01 00:00:00"),
            t("2024-01-03 00:00:00"),
            &[&DailyMidnight],
        );
        assert_eq!(
            list,
            vec![
                t("2024-01-01 00:00:00"),
                t("2024-01-02 00:00:00"),
                t("2024-01-03 00:00:00")
            ]
        );
        // Start and end inside days: only the midnights in between.
        let list = fire_date_list(
            t("2024-01-01 10:00:00"),
            t("2024-01-03 09:00:00"),
            &[&DailyMidnight],
        );
        assert_eq!(
            list,
            vec![t("2024-01-02 00:00:00"), t("2024-01-03 00:00:00")]
        );
        // start == end: that date, whatever the cron says.
        let one = t("2024-01-01 10:00:00");
        assert_eq!(fire_date_list(one, one, &[]), vec![one]);
        // Schedules whose cron does not parse add nothing (no fallback to the default).
        assert!(fire_date_list(t("2024-01-01 00:00:00"), t("2024-01-03 00:00:00"), &[]).is_empty());
        // End before start: nothing.
        assert!(fire_date_list(
            t("2024-01-03 00:00:00"),
            t("2024-01-01 00:00:00"),
            &[&DailyMidnight]
        )
        .is_empty());
    }

    #[test]
    fn schedules_concatenate_unsorted() {
        let six: &dyn NextFire = &Every6h;
        let midnight: &dyn NextFire = &DailyMidnight;
        let list = fire_date_list(
            t("2024-01-01 00:00:00"),
            t("2024-01-01 12:00:00"),
            &[six, midnight],
        );
        assert_eq!(
            list,
            vec![
                t("2024-01-01 00:00:00"),
                t("2024-01-01 06:00:00"),
                t("2024-01-01 12:00:00"),
                t("2024-01-01 00:00:00")
            ]
        );
    }

    #[test]
    fn default_cron_needs_no_port_others_do() {
        let clock = crate::store::Clock::from_offset_seconds(0);
        assert!(matches!(
            fire_times_for("0 0 0 * * ? *", clock),
            Ok(Some(_))
        ));
        assert!(matches!(
            fire_times_for(" 0 0 0  * * ? * ", clock),
            Ok(Some(_))
        ));
        assert_eq!(
            fire_times_for("0 0 6 * * ? *", clock).err(),
            Some(ComplementError::CronUnavailable("0 0 6 * * ? *".into()))
        );
    }

    #[test]
    fn epoch_adapter_works_in_database_time() {
        // Every whole UTC hour, seen from a database 8 hours east of UTC.
        let clock = crate::store::Clock::from_offset_seconds(8 * 3600);
        let hourly = EpochFire::new(clock, |ms| Some((ms / 3_600_000 + 1) * 3_600_000));
        assert_eq!(
            hourly.next_after(t("2024-01-01 08:30:00")),
            Some(t("2024-01-01 09:00:00"))
        );
        let list = fire_date_list(
            t("2024-01-01 08:00:00"),
            t("2024-01-01 10:00:00"),
            &[&hourly],
        );
        assert_eq!(
            list,
            vec![
                t("2024-01-01 08:00:00"),
                t("2024-01-01 09:00:00"),
                t("2024-01-01 10:00:00")
            ]
        );
    }

    #[test]
    fn end_and_next() {
        let p = r#"{"complementStartDate":"2024-01-01 00:00:00","complementEndDate":"2024-01-03 00:00:00"}"#;
        let h = Some("COMPLEMENT_DATA");
        assert!(!is_complement_end(
            h,
            Some(p),
            Some(t("2024-01-02 00:00:00"))
        ));
        assert!(is_complement_end(
            h,
            Some(p),
            Some(t("2024-01-03 00:00:00"))
        ));
        assert!(!is_complement_end(h, Some(p), None));
        assert!(is_complement_end(Some("START_PROCESS"), Some(p), None));
        assert!(is_complement(Some(
            "COMPLEMENT_DATA,RECOVER_TOLERANCE_FAULT_PROCESS"
        )));
        assert!(!is_complement(Some("START_PROCESS,COMPLEMENT_DATA")));
        assert!(!is_complement(None));
        assert_eq!(
            range(Some(p)),
            Some((t("2024-01-01 00:00:00"), t("2024-01-03 00:00:00")))
        );
        assert_eq!(range(Some("{}")), None);
        let list = [t("2024-01-01 00:00:00"), t("2024-01-02 00:00:00")];
        assert_eq!(next_date(&list, list[0]), Some(list[1]));
        assert_eq!(next_date(&list, list[1]), None);
        assert_eq!(next_date(&list, t("2023-01-01 00:00:00")), None);
    }

    #[test]
    fn next_param_is_a_string_map() {
        let p = r#"{"complementStartDate":"2024-01-01 00:00:00","complementEndDate":"2024-01-03 00:00:00","StartNodeIdList":"4","n":5}"#;
        assert_eq!(
            next_command_param(Some(p), t("2024-01-02 00:00:00")),
            r#"{"complementStartDate":"2024-01-02 00:00:00","complementEndDate":"2024-01-03 00:00:00","n":"5"}"#
        );
        assert_eq!(
            next_command_param(Some(r#"{"x":"y"}"#), t("2024-01-02 00:00:00")),
            r#"{"x":"y"}"#,
            "only an existing complementStartDate is replaced"
        );
    }
}
