//! Statements of the logic tasks and commands the master runs itself: the commands it creates
//! (sub-process children, complement chaining), the sub-process child's construction, the
//! instance look-ups of DEPENDENT tasks, and the complement instance's schedule time.

use super::db::Row;
use super::rows::{NewCommand, ProcessInstance};
use super::sql::{Insert, Update};
use super::{Result, SqlContext, Store};
use crate::model::ExecutionStatus;
use crate::params;
use chrono::NaiveDateTime;

/// States upstream's `queryLastRunningProcess` treats as running (2.0.5 `stateArray`).
const RUNNING_STATES: [ExecutionStatus; 5] = [
    ExecutionStatus::SUBMITTED_SUCCESS,
    ExecutionStatus::RUNNING_EXECUTION,
    ExecutionStatus::DELAY_EXECUTION,
    ExecutionStatus::READY_PAUSE,
    ExecutionStatus::READY_STOP,
];

impl Store {
    /// Inserts a command for any master to take; returns its id.
    pub async fn insert_command(&self, c: &NewCommand) -> Result<i32> {
        let insert = Insert::default()
            .val("command_type", c.command_type.code())
            .val("process_definition_code", c.process_definition_code)
            .val("process_definition_version", c.process_definition_version)
            .val("process_instance_id", c.process_instance_id)
            .opt("command_param", c.command_param.clone())
            .opt("task_depend_type", c.task_depend_type.map(|t| t.code()))
            .opt("failure_strategy", c.failure_strategy.map(|t| t.code()))
            .opt("warning_type", c.warning_type.map(|t| t.code()))
            .opt("warning_group_id", c.warning_group_id)
            .opt("schedule_time", c.schedule_time)
            .val("start_time", c.start_time)
            .val("executor_id", c.executor_id)
            .val("update_time", c.update_time)
            .opt(
                "process_instance_priority",
                c.process_instance_priority.map(|p| p.code()),
            )
            .opt("worker_group", c.worker_group.clone())
            .opt("environment_code", c.environment_code)
            .val("dry_run", c.dry_run);
        let (sql, params) = insert.build("t_ds_command");
        let mut conn = self.conn().await?;
        let (_, id) = conn.insert(&sql, params).await.ctx(|| {
            format!(
                "inserting a {} command for definition {}",
                c.command_type, c.process_definition_code
            )
        })?;
        self.signal_command();
        Ok(id.and_then(|id| i32::try_from(id).ok()).unwrap_or(0))
    }

    /// Upstream `updateSubProcessDefinitionByParent`: the child definition takes the parent
    /// definition's alert group.
    pub async fn set_definition_warning_group(
        &self,
        definition_code: i64,
        warning_group_id: i32,
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        conn.exec(
            "UPDATE t_ds_process_definition SET warning_group_id = ? WHERE code = ?",
            params![warning_group_id, definition_code],
        )
        .await
        .ctx(|| format!("setting the alert group of process definition {definition_code}"))
        .map(|_| ())
    }

    /// Current version of a definition (`queryByCode`), `None` when it does not exist.
    pub async fn current_definition_version(&self, code: i64) -> Result<Option<i32>> {
        let mut conn = self.conn().await?;
        let v: Option<Option<i32>> = conn
            .first(
                "SELECT version FROM t_ds_process_definition WHERE code = ?",
                params![code],
            )
            .await
            .ctx(|| format!("reading process definition {code}"))?;
        Ok(v.map(|v| v.unwrap_or(0)))
    }

    /// Starts a sub-process child in one transaction: inserts the instance, writes the child
    /// id into its `command_param` (when `param_with_id` gives one), points the relation row
    /// `map_id` at it, and takes the command (checked delete, as [`Store::start_instance`]).
    pub async fn start_sub_instance(
        &self,
        command_id: i32,
        mut instance: ProcessInstance,
        param_with_id: impl Fn(i32) -> Option<String>,
        map: Option<crate::store::ProcessInstanceMap>,
    ) -> Result<Option<ProcessInstance>> {
        let mut tx = self
            .begin(|| format!("starting the transaction for command {command_id}"))
            .await?;
        let (sql, params) = self
            .process_instance_insert(&instance)
            .build("t_ds_process_instance");
        let (_, id) = tx
            .insert(&sql, params)
            .await
            .ctx(|| format!("inserting the sub-process instance of command {command_id}"))?;
        let id = id.and_then(|i| i32::try_from(i).ok()).unwrap_or(0);
        instance.id = id;
        if let Some(param) = param_with_id(id) {
            let (sql, params) = Update::default()
                .val("command_param", param.clone())
                .build("t_ds_process_instance", id);
            tx.exec(&sql, params)
                .await
                .ctx(|| format!("writing the child id into process instance {id}"))?;
            instance.command_param = Some(param);
        }
        if let Some(mut m) = map {
            m.process_instance_id = id;
            tx.exec(
                "UPDATE t_ds_relation_process_instance SET parent_process_instance_id = ?, \
                 parent_task_instance_id = ?, process_instance_id = ? WHERE id = ?",
                params![
                    m.parent_process_instance_id,
                    m.parent_task_instance_id,
                    m.process_instance_id,
                    m.id
                ],
            )
            .await
            .ctx(|| format!("linking sub-process instance {id}"))?;
        }
        let deleted = tx
            .exec("DELETE FROM t_ds_command WHERE id = ?", params![command_id])
            .await
            .ctx(|| format!("deleting command {command_id}"))?;
        if deleted != 1 {
            tx.rollback()
                .await
                .ctx(|| format!("rolling back command {command_id}"))?;
            return Ok(None);
        }
        self.fence_check()?;
        tx.commit()
            .await
            .ctx(|| format!("committing command {command_id}"))?;
        Ok(Some(instance))
    }

    /// The instance a DEPENDENT item looks at for one date interval (upstream
    /// `DependentExecute.findLastProcessInterval`): the newest running one whose schedule or
    /// start time is in the interval; else the scheduled (by schedule time) or manual (no
    /// schedule time, by start time) one that ended last.
    pub async fn find_last_process_in_interval(
        &self,
        definition_code: i64,
        start: NaiveDateTime,
        end: NaiveDateTime,
    ) -> Result<Option<ProcessInstance>> {
        let has_restart = self.has_restart_time();
        let mut conn = self.conn().await?;
        let states: Vec<String> = RUNNING_STATES
            .iter()
            .map(|s| s.code().to_string())
            .collect();
        let running: Option<Row> = conn
            .first(
                &format!(
                    "SELECT * FROM t_ds_process_instance WHERE process_definition_code = ? \
                     AND state IN ({}) AND ((schedule_time >= ? AND schedule_time <= ?) \
                     OR (start_time >= ? AND start_time <= ?)) ORDER BY start_time DESC LIMIT 1",
                    states.join(", ")
                ),
                params![definition_code, start, end, start, end],
            )
            .await
            .ctx(|| format!("reading running instances of definition {definition_code}"))?;
        if let Some(row) = running {
            return ProcessInstance::from_row(row, has_restart).map(Some);
        }
        let scheduled: Option<Row> = conn
            .first(
                "SELECT * FROM t_ds_process_instance WHERE process_definition_code = ? \
                 AND schedule_time >= ? AND schedule_time <= ? ORDER BY end_time DESC LIMIT 1",
                params![definition_code, start, end],
            )
            .await
            .ctx(|| format!("reading scheduled instances of definition {definition_code}"))?;
        let manual: Option<Row> = conn
            .first(
                "SELECT * FROM t_ds_process_instance WHERE process_definition_code = ? \
                 AND schedule_time IS NULL AND start_time >= ? AND start_time <= ? \
                 ORDER BY end_time DESC LIMIT 1",
                params![definition_code, start, end],
            )
            .await
            .ctx(|| format!("reading manual instances of definition {definition_code}"))?;
        let scheduled = scheduled
            .map(|r| ProcessInstance::from_row(r, has_restart))
            .transpose()?;
        let manual = manual
            .map(|r| ProcessInstance::from_row(r, has_restart))
            .transpose()?;
        Ok(match (manual, scheduled) {
            (None, s) => s,
            (m, None) => m,
            // A missing end time counts as the oldest (upstream throws on it).
            (Some(m), Some(s)) => {
                if m.end_time > s.end_time {
                    Some(m)
                } else {
                    Some(s)
                }
            }
        })
    }

    /// A complement instance's date and the globals cured for it.
    pub async fn update_schedule_time(
        &self,
        id: i32,
        schedule_time: NaiveDateTime,
        global_params: Option<String>,
    ) -> Result<()> {
        let update = Update::default()
            .val("schedule_time", schedule_time)
            .opt("global_params", global_params);
        let (sql, params) = update.build("t_ds_process_instance", id);
        let mut conn = self.conn().await?;
        conn.exec(&sql, params)
            .await
            .ctx(|| format!("updating t_ds_process_instance id {id}"))
            .map(|_| ())
    }

    /// A logic task starts on this master (DEPENDENT: host, RUNNING_EXECUTION, start time;
    /// SUB_PROCESS: RUNNING_EXECUTION and start time, no host) with its log path.
    pub async fn update_logic_task_started(
        &self,
        id: i32,
        host: Option<&str>,
        start_time: NaiveDateTime,
        log_path: &str,
    ) -> Result<()> {
        let update = Update::default()
            .val("state", ExecutionStatus::RUNNING_EXECUTION.code())
            .opt("host", host.map(str::to_string))
            .val("start_time", start_time)
            .val("log_path", log_path.to_string());
        let (sql, params) = update.build("t_ds_task_instance", id);
        let mut conn = self.conn().await?;
        conn.exec(&sql, params)
            .await
            .ctx(|| format!("updating t_ds_task_instance id {id}"))
            .map(|_| ())
    }
}
