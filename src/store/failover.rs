//! The rows of failover: which hosts own unfinished instances, handing an instance over
//! (`host = 'NULL'` plus a RECOVER_TOLERANCE_FAULT_PROCESS command, in one transaction as
//! upstream's `processNeedFailoverProcessInstances`), and taking one back (`recover_instance`).

use super::db::Row;
use super::rows::ProcessInstance;
use super::sql::{Insert, Update};
use super::{Result, SqlContext, Store};
use crate::model::{CommandType, ExecutionStatus, FailureStrategy, TaskDependType};
use crate::params;

/// What a recovery command does to a task row (upstream `initTaskInstance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskReset {
    /// Back to SUBMITTED_SUCCESS, same row (paused tasks).
    Resubmit(i32),
    /// `flag = 0`: the row becomes history and a new one will be created.
    Invalidate(i32),
}

/// Upstream `stateArray`: the states of an instance or task that still needs an owner.
pub const NEEDS_OWNER: [ExecutionStatus; 5] = [
    ExecutionStatus::SUBMITTED_SUCCESS,
    ExecutionStatus::RUNNING_EXECUTION,
    ExecutionStatus::DELAY_EXECUTION,
    ExecutionStatus::READY_PAUSE,
    ExecutionStatus::READY_STOP,
];

fn states_sql() -> String {
    NEEDS_OWNER
        .iter()
        .map(|s| s.code().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// `SELECT DISTINCT host` of instances that still need an owner.
    pub async fn hosts_with_unfinished_instances(&self) -> Result<Vec<String>> {
        let mut conn = self.conn().await?;
        let hosts: Vec<Option<String>> = conn
            .all(
                &format!(
                    "SELECT DISTINCT host FROM t_ds_process_instance WHERE state IN ({})",
                    states_sql()
                ),
                params![],
            )
            .await
            .ctx(|| "reading hosts of unfinished instances".into())?;
        Ok(hosts.into_iter().flatten().collect())
    }

    /// Unfinished instances owned by `host`, by id.
    pub async fn unfinished_instances_of(&self, host: &str) -> Result<Vec<ProcessInstance>> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .all(
                &format!(
                    "SELECT * FROM t_ds_process_instance WHERE host = ? AND state IN ({}) ORDER BY id",
                    states_sql()
                ),
                params![host],
            )
            .await
            .ctx(|| format!("reading unfinished instances of {host}"))?;
        let has = self.has_restart_time();
        rows.into_iter()
            .map(|r| ProcessInstance::from_row(r, has))
            .collect()
    }

    /// Hands an instance over: `host = 'NULL'` (the literal text upstream writes) and a
    /// RECOVER_TOLERANCE_FAULT_PROCESS command, atomically. Returns false (and writes
    /// nothing) if the instance no longer names `from_host` or has finished meanwhile, so
    /// two masters failing over the same host cannot both queue a recovery.
    pub async fn hand_over_instance(&self, p: &ProcessInstance, from_host: &str) -> Result<bool> {
        let now = self.clock.now();
        let mut tx = self
            .begin(|| format!("starting the failover of instance {}", p.id))
            .await?;
        let released = tx
            .exec(
                &format!(
                    "UPDATE t_ds_process_instance SET host = 'NULL' WHERE id = ? AND host = ? AND state IN ({})",
                    states_sql()
                ),
                params![p.id, from_host],
            )
            .await
            .ctx(|| format!("releasing instance {}", p.id))?;
        if released != 1 {
            tx.rollback()
                .await
                .ctx(|| "rolling back a failover".into())?;
            return Ok(false);
        }
        let insert = Insert::default()
            .val(
                "command_type",
                CommandType::RECOVER_TOLERANCE_FAULT_PROCESS.code(),
            )
            .val("process_definition_code", p.process_definition_code)
            .val("process_definition_version", p.process_definition_version)
            .val("process_instance_id", p.id)
            .val(
                "command_param",
                format!("{{\"ProcessInstanceId\":{}}}", p.id),
            )
            .val("task_depend_type", TaskDependType::TASK_POST.code())
            .val("failure_strategy", FailureStrategy::CONTINUE.code())
            .opt("warning_type", p.warning_type.map(|w| w.code()))
            .opt("warning_group_id", p.warning_group_id)
            .opt("schedule_time", p.schedule_time)
            .val("start_time", now)
            .val("update_time", now)
            .val("executor_id", p.executor_id)
            .val("dry_run", p.dry_run);
        let (sql, params) = insert.build("t_ds_command");
        tx.insert(&sql, params)
            .await
            .ctx(|| format!("queueing the recovery of instance {}", p.id))?;
        self.fence_check()?;
        tx.commit()
            .await
            .ctx(|| format!("committing the failover of instance {}", p.id))?;
        self.signal_command();
        Ok(true)
    }

    /// Takes an instance for this master while handling a recovery command: the changed
    /// columns of the instance and the checked DELETE of the command in one transaction.
    /// Returns false if another master deleted the command first.
    pub async fn recover_instance(
        &self,
        command_id: i32,
        p: &ProcessInstance,
        resets: &[TaskReset],
    ) -> Result<bool> {
        let mut update = Update::default()
            .opt("command_param", p.command_param.clone())
            .opt("start_time", p.start_time)
            .opt("host", p.host.clone())
            .opt("recovery", p.recovery.map(|r| r.code()))
            .opt("command_type", p.command_type.map(|c| c.code()))
            .opt("history_cmd", p.history_cmd.clone())
            .opt("state", p.state.map(|s| s.code()))
            .opt("schedule_time", p.schedule_time)
            .opt("global_params", p.global_params.clone())
            .val("run_times", p.run_times);
        if self.has_restart_time() {
            update = update.opt("restart_time", p.restart_time);
        }
        let (sql, params) = update.build("t_ds_process_instance", p.id);
        let mut statements = vec![(sql, params, format!("taking instance {}", p.id))];
        for reset in resets {
            let (sql, id) = match reset {
                TaskReset::Resubmit(id) => {
                    ("UPDATE t_ds_task_instance SET state = 0 WHERE id = ?", *id)
                }
                TaskReset::Invalidate(id) => {
                    ("UPDATE t_ds_task_instance SET flag = 0 WHERE id = ?", *id)
                }
            };
            statements.push((
                sql.to_string(),
                params![id],
                format!("resetting task instance {id}"),
            ));
        }
        Ok(self
            .with_command_taken(command_id, statements, true)
            .await?
            .is_some())
    }

    /// A task instance is superseded (retry, fault tolerance): `flag = 0`.
    pub async fn invalidate_task_instance(&self, id: i32) -> Result<()> {
        let mut conn = self.conn().await?;
        conn.exec(
            "UPDATE t_ds_task_instance SET flag = 0 WHERE id = ?",
            params![id],
        )
        .await
        .ctx(|| format!("invalidating task instance {id}"))
        .map(|_| ())
    }
}
