//! Complement data (backfill), master side (master-lifecycle.md 4): the date list of a
//! complement instance, the "complement end" test, and the `command_param` of the command that
//! chains the next date. Pure functions; the workflow actor does the reads and writes.
//!
//! Dates are the database's wall-clock times (upstream evaluates them in the JVM's default
//! zone, which a Java master shares with its JDBC session).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use crate::schedule::calendar::JavaZone;
use crate::schedule::complement::{self_fire_date_list, Rules};

/// `complementStartDate` / `complementEndDate` format.
pub const DATE_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// The dates of a complement instance: upstream `CronUtils.getSelfFireDateList(start, end,
/// schedules)` over the crontabs of the workflow's online schedules (none → every midnight),
/// evaluated in the JVM zone with the cluster release's rules (`schedule::complement`, on the
/// Quartz-exact cron port). `start`, `end` and the result are database wall-clock times,
/// converted through the database clock.
pub fn date_list(
    start: NaiveDateTime,
    end: NaiveDateTime,
    crontabs: &[&str],
    clock: crate::store::Clock,
    zone: JavaZone,
    rules: Rules,
) -> Vec<NaiveDateTime> {
    let ms = |t: NaiveDateTime| clock.from_db(t).timestamp_millis();
    self_fire_date_list(ms(start), ms(end), crontabs, zone, rules)
        .into_iter()
        .filter_map(|m| DateTime::<Utc>::from_timestamp_millis(m).map(|u| clock.to_db(u)))
        .collect()
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
    let mut out = crate::store::json::java_string_map(command_param, "StartNodeIdList");
    if let Some(v) = out.get_mut("complementStartDate") {
        *v = Value::String(next.format(DATE_FORMAT).to_string());
    }
    Value::Object(out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        parse_date(s).unwrap()
    }

    #[test]
    fn date_list_in_database_time() {
        let clock = crate::store::Clock::from_offset_seconds(8 * 3600);
        let zone = JavaZone::resolve("Asia/Shanghai");
        let rules = Rules::for_release("2.0.5");
        // No online schedule: every midnight, closed interval.
        assert_eq!(
            date_list(
                t("2024-01-01 00:00:00"),
                t("2024-01-03 00:00:00"),
                &[],
                clock,
                zone,
                rules
            ),
            vec![
                t("2024-01-01 00:00:00"),
                t("2024-01-02 00:00:00"),
                t("2024-01-03 00:00:00")
            ]
        );
        // Two schedules: concatenated, not sorted; a crontab that does not parse adds nothing.
        assert_eq!(
            date_list(
                t("2024-01-01 00:00:00"),
                t("2024-01-01 12:00:00"),
                &["0 0 */6 * * ? *", "not a cron", "0 0 0 * * ? *"],
                clock,
                zone,
                rules
            ),
            vec![
                t("2024-01-01 00:00:00"),
                t("2024-01-01 06:00:00"),
                t("2024-01-01 12:00:00"),
                t("2024-01-01 00:00:00")
            ]
        );
        // start == end: that date, whatever the cron (2.0.0-2.0.7).
        let one = t("2024-01-01 10:00:00");
        assert_eq!(date_list(one, one, &[], clock, zone, rules), vec![one]);
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
