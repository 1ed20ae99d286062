//! The fire handler: what DolphinScheduler's `ProcessScheduleJob.execute` does when a
//! schedule's trigger fires (2.0.x, `dolphinscheduler-service/.../quartz/ProcessScheduleJob.java`).
//!
//! 1. schedule row missing or OFFLINE → delete the Quartz job (this self-cleaning is what
//!    removes the rows the 2.0.1–2.0.5 API server leaves behind on offline);
//! 2. workflow definition OFFLINE → nothing (job kept);
//! 3. otherwise insert one SCHEDULER command: `schedule_time` = scheduled fire time,
//!    `start_time` = actual fire time, the schedule's `environment_code` ignored (DB default
//!    -1), empty worker group → `default`.
//!
//! Ids come from the Quartz names (`job_<scheduleId>` / `jobgroup_<projectId>`), exactly the
//! values upstream stored in JOB_DATA, so JOB_DATA is never parsed.

use super::jobstore::{Fired, JobStore};
use crate::store::quartz::{QuartzKey, ScheduledCommand};
use tracing::{info, warn};

/// What one fire did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A SCHEDULER command was inserted (its id).
    Command(u64),
    /// Schedule missing or offline: the Quartz job was deleted.
    JobDeleted,
    /// Workflow definition offline: nothing written.
    DefinitionOffline,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "Quartz job {0} is not named like a DolphinScheduler schedule (job_<id> / jobgroup_<id>)"
    )]
    Names(QuartzKey),
    #[error("schedule {schedule_id} refers to workflow definition {code}, which does not exist")]
    NoDefinition { schedule_id: i64, code: i64 },
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    JobStore(#[from] super::jobstore::Error),
}

/// `(projectId, scheduleId)` from the job key.
pub fn ids_of(job: &QuartzKey) -> Option<(i64, i64)> {
    let schedule = job.name.strip_prefix("job_")?.parse().ok()?;
    let project = job.group.strip_prefix("jobgroup_")?.parse().ok()?;
    Some((project, schedule))
}

/// Runs the fire handler for one fired trigger.
pub async fn execute(jobstore: &JobStore, fired: &Fired) -> Result<Outcome, Error> {
    let store = jobstore.store();
    let (project_id, schedule_id) =
        ids_of(&fired.job).ok_or_else(|| Error::Names(fired.job.clone()))?;
    info!(
        schedule_id,
        project_id,
        scheduled_fire_time = fired.scheduled_fire_time,
        fire_time = fired.fire_time,
        "schedule fired"
    );
    metrics::counter!(crate::metrics::SCHEDULE_FIRES).increment(1);
    if fired.fire_time >= fired.scheduled_fire_time {
        let late = (fired.fire_time - fired.scheduled_fire_time) as u64;
        crate::metrics::observe(
            crate::metrics::SCHEDULE_FIRE_DELAY,
            std::time::Duration::from_millis(late),
        );
    }
    let schedule = match store.schedule_for_fire(schedule_id).await? {
        Some(s) if s.release_state != 0 => s,
        _ => {
            warn!(
                project_id,
                schedule_id, "schedule missing or offline; deleting its Quartz job"
            );
            jobstore.delete_job(&fired.job).await?;
            return Ok(Outcome::JobDeleted);
        }
    };
    let code = schedule.process_definition_code;
    let Some((version, release)) = store.definition_release(code).await? else {
        return Err(Error::NoDefinition { schedule_id, code });
    };
    if release == 0 {
        warn!(
            project_id,
            schedule_id,
            definition_code = code,
            "workflow definition offline; no command created"
        );
        return Ok(Outcome::DefinitionOffline);
    }
    let worker_group = schedule
        .worker_group
        .clone()
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| "default".to_string());
    let id = store
        .insert_scheduler_command(&ScheduledCommand {
            process_definition_code: code,
            process_definition_version: version,
            failure_strategy: schedule.failure_strategy,
            warning_type: schedule.warning_type,
            warning_group_id: schedule.warning_group_id,
            schedule_time_ms: fired.scheduled_fire_time,
            start_time_ms: fired.fire_time,
            executor_id: schedule.user_id,
            process_instance_priority: schedule.process_instance_priority,
            worker_group,
        })
        .await?;
    info!(
        schedule_id,
        command_id = id,
        definition_code = code,
        "SCHEDULER command created"
    );
    Ok(Outcome::Command(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_names() {
        let k = |n: &str, g: &str| QuartzKey {
            name: n.into(),
            group: g.into(),
        };
        assert_eq!(ids_of(&k("job_4", "jobgroup_3")), Some((3, 4)));
        assert_eq!(ids_of(&k("job_x", "jobgroup_3")), None);
        assert_eq!(ids_of(&k("job_4", "group_3")), None);
    }
}
