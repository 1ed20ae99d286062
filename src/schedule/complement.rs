//! The dates a complement-data (backfill) run covers: DolphinScheduler's
//! `CronUtils.getSelfFireDateList(start, end, schedules)`
//! (`dolphinscheduler-service/.../quartz/cron/CronUtils.java`), which the master uses to
//! pick each complement instance's `schedule_time` and the API uses to split parallel runs.
//!
//! Behaviour kept as upstream, version by version (spec schedules.md §6.4):
//! - the crontabs are those of the workflow's ONLINE schedules, evaluated in the JVM zone
//!   (not the schedule's zone); none → one pseudo schedule `0 0 0 * * ? *`;
//! - per schedule, every cron time `t` with `from < t < to` (iterating Quartz's
//!   `getNextValidTimeAfter` from `from`), lists concatenated in schedule order, neither
//!   sorted nor de-duplicated (callers look dates up by exact equality);
//! - 2.0.0–2.0.2: `from = start − 1 s`, `to = end − 1 s` (start ≤ t < end − 1 s);
//!   2.0.3+: `to = end + 1 s` (start ≤ t ≤ end);
//! - 2.0.0–2.0.7: `start == end` gives `[start]` whatever the cron; 2.0.8+ lets cron decide;
//! - an unparsable crontab contributes nothing (upstream logs and returns an empty list).

use super::calendar::JavaZone;
use super::cron::CronExpression;

/// The pseudo schedule used when a workflow has no online schedule.
pub const DEFAULT_CRON: &str = "0 0 0 * * ? *";

/// Which release's list rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// `to = end + 1 s` (2.0.3+) instead of `end − 1 s`.
    pub closed_end: bool,
    /// `start == end` → `[start]` (2.0.0–2.0.7).
    pub start_equals_end_shortcut: bool,
}

impl Rules {
    /// Rules of a 2.0.x release (`"2.0.5"`); unknown or later releases get 2.0.8+'s.
    pub fn for_release(release: &str) -> Rules {
        let patch: Option<u32> = release
            .trim()
            .strip_prefix("2.0.")
            .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok());
        match patch {
            Some(p) => Rules {
                closed_end: p >= 3,
                start_equals_end_shortcut: p <= 7,
            },
            None => Rules {
                closed_end: true,
                start_equals_end_shortcut: false,
            },
        }
    }
}

/// `getSelfFireDateList(start, end, schedules)` in epoch ms; `zone` = the JVM zone.
pub fn self_fire_date_list(
    start_ms: i64,
    end_ms: i64,
    crontabs: &[&str],
    zone: JavaZone,
    rules: Rules,
) -> Vec<i64> {
    if rules.start_equals_end_shortcut && start_ms == end_ms {
        return vec![start_ms];
    }
    let from = start_ms - 1000;
    let to = if rules.closed_end {
        end_ms + 1000
    } else {
        end_ms - 1000
    };
    let default = [DEFAULT_CRON];
    let crontabs = if crontabs.is_empty() {
        &default[..]
    } else {
        crontabs
    };
    let mut out = Vec::new();
    for text in crontabs {
        let cron = match CronExpression::parse(text) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "complement dates: crontab skipped");
                continue;
            }
        };
        let mut t = from;
        while let Some(next) = cron.next_after_in(t, zone) {
            if next >= to {
                break;
            }
            out.push(next);
            t = next;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    const JAN1: i64 = 1_704_067_200_000; // 2024-01-01T00:00Z

    fn utc() -> JavaZone {
        JavaZone::Fixed(0)
    }

    #[test]
    fn closed_and_right_open_intervals() {
        let r205 = Rules::for_release("2.0.5");
        let r202 = Rules::for_release("2.0.2");
        assert_eq!(
            self_fire_date_list(JAN1, JAN1 + 2 * DAY, &[], utc(), r205),
            vec![JAN1, JAN1 + DAY, JAN1 + 2 * DAY]
        );
        assert_eq!(
            self_fire_date_list(JAN1, JAN1 + 2 * DAY, &[], utc(), r202),
            vec![JAN1, JAN1 + DAY]
        );
    }

    #[test]
    fn start_equals_end_shortcut_by_version() {
        let noon = JAN1 + DAY / 2;
        assert_eq!(
            self_fire_date_list(noon, noon, &[], utc(), Rules::for_release("2.0.7")),
            vec![noon]
        );
        assert!(
            self_fire_date_list(noon, noon, &[], utc(), Rules::for_release("2.0.8")).is_empty()
        );
    }

    #[test]
    fn schedules_concatenate_unsorted_and_bad_crons_add_nothing() {
        let list = self_fire_date_list(
            JAN1,
            JAN1 + DAY,
            &["0 0 12 * * ? *", "0 0 6 * * ? *", "not a cron"],
            utc(),
            Rules::for_release("2.0.5"),
        );
        assert_eq!(list, vec![JAN1 + DAY / 2, JAN1 + DAY / 4]);
    }

    #[test]
    fn evaluated_in_the_given_zone() {
        // Midnight in Shanghai is 16:00Z the day before.
        let list = self_fire_date_list(
            JAN1,
            JAN1 + DAY,
            &[],
            JavaZone::resolve("Asia/Shanghai"),
            Rules::for_release("2.0.5"),
        );
        assert_eq!(list, vec![JAN1 + 16 * 3_600_000]);
    }
}
