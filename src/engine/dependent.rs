//! DEPENDENT tasks: whether other workflows (or one of their tasks) ran successfully over a
//! date range relative to the business date (workflow-execution.md 3.8).
//!
//! The date arithmetic and the combination rules are pure functions here; the item
//! evaluation reads `t_ds_process_instance` / `t_ds_task_instance` through the store. The
//! workflow actor re-evaluates a waiting task on a deadline and when a local workflow ends,
//! and finishes it in the same evaluation that sees every model decided (2.0.5 needs one
//! more state-wheel tick for that; see docs/deviations.md).

use crate::model::ExecutionStatus;
use crate::store::json::{DependentItem, DependentParameters, DependentRelation};
use crate::store::{Store, TaskParams};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use std::collections::HashMap;

/// Upstream `DependResult` (NON_EXEC is never produced by 2.0.5's DEPENDENT path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependResult {
    Success,
    Failed,
    Waiting,
}

/// One closed interval `[start, end]` of business time (end at `.999` of its second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateInterval {
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
}

/// How `last24Hours` is computed: 2.0.0-2.0.7 (`getSpecialLastDayInterval`: the 24 hours from
/// 01:00 of the previous day to 00:59 of the business day, whatever the business hour) or
/// 2.0.8+ (the 24 whole hours before the business hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Last24Hours {
    #[default]
    UpTo207,
    From208,
}

impl Last24Hours {
    /// The rule of the cluster's schema version (`t_ds_version` patch number).
    pub fn for_patch(patch: Option<u32>) -> Last24Hours {
        match patch {
            Some(p) if p >= 8 => Last24Hours::From208,
            _ => Last24Hours::UpTo207,
        }
    }
}

fn end_of(t: NaiveDateTime) -> NaiveDateTime {
    t + Duration::milliseconds(999)
}

fn hour_interval(t: NaiveDateTime) -> DateInterval {
    let start = t
        .date()
        .and_time(NaiveTime::from_hms_opt(t.hour(), 0, 0).unwrap_or(NaiveTime::MIN));
    DateInterval {
        start,
        end: end_of(start + Duration::minutes(59) + Duration::seconds(59)),
    }
}

fn day_interval(d: NaiveDate) -> DateInterval {
    let start = d.and_time(NaiveTime::MIN);
    DateInterval {
        start,
        end: end_of(start + Duration::hours(23) + Duration::minutes(59) + Duration::seconds(59)),
    }
}

/// Every day from `first` to `last`, both included, oldest first.
fn days(first: NaiveDate, last: NaiveDate) -> Vec<DateInterval> {
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .map(day_interval)
        .collect()
}

fn monday_of(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// Upstream `DependentUtils.getDateIntervalList` for one `dateValue` (weeks start on Monday;
/// times are the database's wall clock, as the JVM's default zone is for upstream). Unknown
/// values give no interval, which makes the item FAILED.
pub fn date_intervals(
    business: NaiveDateTime,
    date_value: &str,
    last24: Last24Hours,
) -> Vec<DateInterval> {
    let hours_back = |n: i64| -> Vec<DateInterval> {
        (1..=n)
            .rev()
            .map(|i| hour_interval(business - Duration::hours(i)))
            .collect()
    };
    let days_back = |n: i64| -> Vec<DateInterval> {
        (1..=n)
            .rev()
            .map(|i| day_interval(business.date() - Duration::days(i)))
            .collect()
    };
    let today = business.date();
    let last_monday = monday_of(today) - Duration::days(7);
    let last_month_end = first_of_month(today) - Duration::days(1);
    let last_month_begin = first_of_month(last_month_end);
    match date_value {
        "currentHour" => vec![hour_interval(business)],
        "last1Hour" => hours_back(1),
        "last2Hours" => hours_back(2),
        "last3Hours" => hours_back(3),
        "last24Hours" => match last24 {
            Last24Hours::From208 => hours_back(24),
            Last24Hours::UpTo207 => {
                let h = i64::from(business.hour());
                (h..=h + 23)
                    .rev()
                    .map(|i| hour_interval(business - Duration::hours(i)))
                    .collect()
            }
        },
        "today" => vec![day_interval(today)],
        "last1Days" => days_back(1),
        "last2Days" => days_back(2),
        "last3Days" => days_back(3),
        "last7Days" => days_back(7),
        "thisWeek" => days(monday_of(today), today),
        "lastWeek" => days(last_monday, last_monday + Duration::days(6)),
        "lastMonday" => days(last_monday, last_monday),
        "lastTuesday" => one(last_monday + Duration::days(1)),
        "lastWednesday" => one(last_monday + Duration::days(2)),
        "lastThursday" => one(last_monday + Duration::days(3)),
        "lastFriday" => one(last_monday + Duration::days(4)),
        "lastSaturday" => one(last_monday + Duration::days(5)),
        "lastSunday" => one(last_monday + Duration::days(6)),
        "thisMonth" => days(first_of_month(today), today),
        "lastMonth" => days(last_month_begin, last_month_end),
        "lastMonthBegin" => one(last_month_begin),
        "lastMonthEnd" => one(last_month_end),
        _ => Vec::new(),
    }
}

fn one(d: NaiveDate) -> Vec<DateInterval> {
    vec![day_interval(d)]
}

/// Upstream `DependentUtils.getDependResultForRelation`: AND fails on any failure, else waits
/// on any wait; OR succeeds on any success, else waits on any wait. An empty AND succeeds and
/// an empty OR fails, as the Java code does.
pub fn combine(relation: Option<DependentRelation>, results: &[DependResult]) -> DependResult {
    match relation.unwrap_or(DependentRelation::AND) {
        DependentRelation::AND => {
            if results.contains(&DependResult::Failed) {
                DependResult::Failed
            } else if results.contains(&DependResult::Waiting) {
                DependResult::Waiting
            } else {
                DependResult::Success
            }
        }
        DependentRelation::OR => {
            if results.contains(&DependResult::Success) {
                DependResult::Success
            } else if results.contains(&DependResult::Waiting) {
                DependResult::Waiting
            } else {
                DependResult::Failed
            }
        }
    }
}

/// A finished state's verdict; anything unfinished waits.
pub fn by_state(state: Option<ExecutionStatus>) -> DependResult {
    match state {
        Some(s) if s.is_success() => DependResult::Success,
        Some(s) if s.is_finished() => DependResult::Failed,
        _ => DependResult::Waiting,
    }
}

/// The DEPENDENT task's parameters as upstream reads them from the task definition.
pub fn parse(task_params: Option<&str>) -> Result<DependentParameters, String> {
    let params = TaskParams::parse(task_params).map_err(|e| format!("task_params: {}", e.0))?;
    match params.dependence().map_err(|e| e.0)? {
        Some(d) => Ok(d),
        None => Err("task_params have no dependence".to_string()),
    }
}

/// One DEPENDENT task in flight: its business date and the item verdicts already final
/// (upstream caches them per `DependentExecute`, keyed by the item's four fields).
#[derive(Debug, Clone)]
pub struct DependentRun {
    pub params: DependentParameters,
    pub business: NaiveDateTime,
    decided: HashMap<String, DependResult>,
}

fn item_key(item: &DependentItem) -> String {
    format!(
        "{}-{}-{}-{}",
        item.definition_code,
        item.dep_task_code,
        item.cycle.as_deref().unwrap_or(""),
        item.date_value.as_deref().unwrap_or("")
    )
}

impl DependentRun {
    pub fn new(params: DependentParameters, business: NaiveDateTime) -> DependentRun {
        DependentRun {
            params,
            business,
            decided: HashMap::new(),
        }
    }

    /// Evaluates every model (items still waiting are read again); `Some(result)` once no
    /// model waits any more, combined by the top relation.
    pub async fn evaluate(
        &mut self,
        store: &Store,
        last24: Last24Hours,
    ) -> crate::store::Result<Option<DependResult>> {
        let mut models = Vec::with_capacity(self.params.depend_task_list.len());
        for model in self.params.depend_task_list.clone() {
            let mut items = Vec::with_capacity(model.depend_item_list.len());
            for item in &model.depend_item_list {
                let key = item_key(item);
                let r = match self.decided.get(&key) {
                    Some(r) => *r,
                    None => {
                        let r = evaluate_item(store, item, self.business, last24).await?;
                        if r != DependResult::Waiting {
                            self.decided.insert(key, r);
                        }
                        r
                    }
                };
                items.push(r);
            }
            models.push(combine(model.relation, &items));
        }
        if models.contains(&DependResult::Waiting) {
            return Ok(None);
        }
        Ok(Some(combine(self.params.relation, &models)))
    }
}

/// Upstream `DependentExecute.calculateResultForTasks`: the first interval whose verdict is
/// not SUCCESS decides; an interval without any instance makes the item wait.
async fn evaluate_item(
    store: &Store,
    item: &DependentItem,
    business: NaiveDateTime,
    last24: Last24Hours,
) -> crate::store::Result<DependResult> {
    let intervals = date_intervals(business, item.date_value.as_deref().unwrap_or(""), last24);
    let mut result = DependResult::Failed;
    for interval in intervals {
        let Some(instance) = store
            .find_last_process_in_interval(item.definition_code, interval.start, interval.end)
            .await?
        else {
            return Ok(DependResult::Waiting);
        };
        result = if item.dep_task_code == 0 {
            by_state(instance.state)
        } else {
            let tasks = store.find_valid_task_instances(instance.id).await?;
            match tasks.iter().find(|t| t.task_code == item.dep_task_code) {
                Some(t) => by_state(t.state),
                None if instance.state.is_some_and(|s| s.is_finished()) => DependResult::Failed,
                None => DependResult::Waiting,
            }
        };
        if result != DependResult::Success {
            break;
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn fmt(list: &[DateInterval]) -> Vec<(String, String)> {
        list.iter()
            .map(|i| {
                (
                    i.start.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
                    i.end.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
                )
            })
            .collect()
    }

    fn days_of(list: &[DateInterval]) -> Vec<String> {
        for i in list {
            assert_eq!(i.start.time(), NaiveTime::MIN);
            assert_eq!(
                i.end.format("%H:%M:%S%.3f").to_string(),
                "23:59:59.999",
                "day intervals end at the last millisecond"
            );
        }
        list.iter()
            .map(|i| i.start.format("%Y-%m-%d").to_string())
            .collect()
    }

    const UP: Last24Hours = Last24Hours::UpTo207;

    #[test]
    fn hours() {
        let d = t("2019-02-05 10:20:30");
        assert_eq!(
            fmt(&date_intervals(d, "currentHour", UP)),
            vec![(
                "2019-02-05 10:00:00.000".into(),
                "2019-02-05 10:59:59.999".into()
            )]
        );
        let starts = |v: &str| -> Vec<String> {
            date_intervals(d, v, UP)
                .iter()
                .map(|i| i.start.format("%d %H").to_string())
                .collect()
        };
        assert_eq!(starts("last1Hour"), vec!["05 09"]);
        assert_eq!(starts("last2Hours"), vec!["05 08", "05 09"]);
        assert_eq!(starts("last3Hours"), vec!["05 07", "05 08", "05 09"]);
        // Crossing midnight.
        let early = t("2019-02-05 00:30:00");
        assert_eq!(
            fmt(&date_intervals(early, "last1Hour", UP)),
            vec![(
                "2019-02-04 23:00:00.000".into(),
                "2019-02-04 23:59:59.999".into()
            )]
        );
    }

    #[test]
    fn last_24_hours_differs_by_version() {
        let d = t("2019-02-05 10:20:30");
        let old = date_intervals(d, "last24Hours", Last24Hours::UpTo207);
        assert_eq!(old.len(), 24);
        assert_eq!(old[0].start, t("2019-02-04 01:00:00"));
        assert_eq!(old[23].start, t("2019-02-05 00:00:00"));
        assert_eq!(
            date_intervals(t("2019-02-05 23:59:00"), "last24Hours", UP),
            old,
            "<= 2.0.7 ignores the business hour"
        );
        let new = date_intervals(d, "last24Hours", Last24Hours::From208);
        assert_eq!(new.len(), 24);
        assert_eq!(new[0].start, t("2019-02-04 10:00:00"));
        assert_eq!(new[23].start, t("2019-02-05 09:00:00"));
        assert_eq!(
            fmt(&new[23..]),
            vec![(
                "2019-02-05 09:00:00.000".into(),
                "2019-02-05 09:59:59.999".into()
            )]
        );
        assert_eq!(Last24Hours::for_patch(Some(5)), Last24Hours::UpTo207);
        assert_eq!(Last24Hours::for_patch(Some(7)), Last24Hours::UpTo207);
        assert_eq!(Last24Hours::for_patch(Some(8)), Last24Hours::From208);
        assert_eq!(Last24Hours::for_patch(None), Last24Hours::UpTo207);
    }

    #[test]
    fn days_and_weeks() {
        let d = t("2019-02-05 00:00:00"); // a Tuesday
        assert_eq!(days_of(&date_intervals(d, "today", UP)), vec!["2019-02-05"]);
        assert_eq!(
            days_of(&date_intervals(d, "last1Days", UP)),
            vec!["2019-02-04"]
        );
        assert_eq!(
            days_of(&date_intervals(d, "last2Days", UP)),
            vec!["2019-02-03", "2019-02-04"]
        );
        assert_eq!(
            days_of(&date_intervals(d, "last3Days", UP)),
            vec!["2019-02-02", "2019-02-03", "2019-02-04"]
        );
        let seven = days_of(&date_intervals(d, "last7Days", UP));
        assert_eq!(seven.first().map(String::as_str), Some("2019-01-29"));
        assert_eq!(seven.last().map(String::as_str), Some("2019-02-04"));
        assert_eq!(seven.len(), 7);
        assert_eq!(
            days_of(&date_intervals(d, "thisWeek", UP)),
            vec!["2019-02-04", "2019-02-05"]
        );
        let sunday = t("2019-02-10 12:00:00");
        let last_week = days_of(&date_intervals(sunday, "lastWeek", UP));
        assert_eq!(
            last_week,
            vec![
                "2019-01-28",
                "2019-01-29",
                "2019-01-30",
                "2019-01-31",
                "2019-02-01",
                "2019-02-02",
                "2019-02-03"
            ]
        );
        assert_eq!(days_of(&date_intervals(sunday, "thisWeek", UP)).len(), 7);
        for (v, day) in [
            ("lastMonday", "2019-01-28"),
            ("lastTuesday", "2019-01-29"),
            ("lastWednesday", "2019-01-30"),
            ("lastThursday", "2019-01-31"),
            ("lastFriday", "2019-02-01"),
            ("lastSaturday", "2019-02-02"),
            ("lastSunday", "2019-02-03"),
        ] {
            assert_eq!(days_of(&date_intervals(sunday, v, UP)), vec![day], "{v}");
            assert_eq!(days_of(&date_intervals(d, v, UP)), vec![day], "{v}");
        }
    }

    #[test]
    fn months() {
        let d = t("2019-03-03 08:00:00");
        assert_eq!(
            days_of(&date_intervals(d, "thisMonth", UP)),
            vec!["2019-03-01", "2019-03-02", "2019-03-03"]
        );
        let last = days_of(&date_intervals(d, "lastMonth", UP));
        assert_eq!(last.len(), 28);
        assert_eq!(last[0], "2019-02-01");
        assert_eq!(last[27], "2019-02-28");
        assert_eq!(
            days_of(&date_intervals(d, "lastMonthBegin", UP)),
            vec!["2019-02-01"]
        );
        assert_eq!(
            days_of(&date_intervals(d, "lastMonthEnd", UP)),
            vec!["2019-02-28"]
        );
        let jan = t("2020-01-15 00:00:00");
        assert_eq!(
            days_of(&date_intervals(jan, "lastMonthEnd", UP)),
            vec!["2019-12-31"]
        );
        assert!(date_intervals(d, "nextYear", UP).is_empty());
        assert!(date_intervals(d, "", UP).is_empty());
    }

    #[test]
    fn relations() {
        use DependResult::*;
        let and = Some(DependentRelation::AND);
        let or = Some(DependentRelation::OR);
        assert_eq!(combine(and, &[Success, Failed, Waiting]), Failed);
        assert_eq!(combine(and, &[Success, Waiting]), Waiting);
        assert_eq!(combine(and, &[Success, Success]), Success);
        assert_eq!(combine(and, &[]), Success);
        assert_eq!(combine(or, &[Failed, Waiting, Success]), Success);
        assert_eq!(combine(or, &[Failed, Waiting]), Waiting);
        assert_eq!(combine(or, &[Failed]), Failed);
        assert_eq!(combine(or, &[]), Failed);
        assert_eq!(combine(None, &[Failed]), Failed);
        // Scenario 12: M1 = a:SUCCESS AND b:FAILED, M2 = a:SUCCESS.
        let m1 = combine(and, &[Success, Failed]);
        let m2 = combine(and, &[Success]);
        assert_eq!(combine(or, &[m1, m2]), Success);
        assert_eq!(combine(and, &[m1, m2]), Failed);
    }

    #[test]
    fn states() {
        assert_eq!(
            by_state(Some(ExecutionStatus::FORCED_SUCCESS)),
            DependResult::Success
        );
        assert_eq!(by_state(Some(ExecutionStatus::KILL)), DependResult::Failed);
        assert_eq!(by_state(Some(ExecutionStatus::PAUSE)), DependResult::Failed);
        assert_eq!(
            by_state(Some(ExecutionStatus::READY_STOP)),
            DependResult::Waiting
        );
        assert_eq!(by_state(None), DependResult::Waiting);
    }

    #[test]
    fn params_from_either_form() {
        let def = r#"{"dependence":{"relation":"AND","dependTaskList":[{"relation":"AND","dependItemList":[{"projectCode":1,"definitionCode":2,"depTaskCode":0,"cycle":"day","dateValue":"today"}]}]}}"#;
        let p = parse(Some(def)).unwrap();
        assert_eq!(p.depend_task_list[0].depend_item_list[0].definition_code, 2);
        assert!(parse(Some("{nope")).is_err());
        assert!(parse(Some(r#"{"rawScript":"x"}"#)).is_err());
        assert!(parse(Some(r#"{"dependence":"{broken"}"#)).is_err());
    }
}
