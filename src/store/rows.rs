//! Typed rows of the tables the master reads and writes.
//!
//! Field names follow the column names. Integer-coded columns are `model` enums; a code the
//! enum does not know is an [`Error::BadValue`] naming table, id and column, never a panic.
//! Nullable columns are `Option`s so that "never write NULL" (MyBatis-Plus NOT_NULL strategy)
//! is visible in the types.

use super::db::{FromValue, Row};
use super::{Error, Result};
use crate::model::{
    CommandType, ExecutionStatus, FailureStrategy, Flag, Priority, TaskDependType,
    TaskTimeoutStrategy, TimeoutFlag, UnknownCode, WarningType,
};
use chrono::NaiveDateTime;

/// Reads columns out of one row, turning every failure into an error that names the cell.
pub(crate) struct Cells {
    row: Row,
    table: &'static str,
    id: i64,
}

impl Cells {
    pub(crate) fn new(row: Row, table: &'static str) -> Cells {
        let mut cells = Cells { row, table, id: 0 };
        if let Some(Ok(Some(id))) = cells.row.get_opt::<Option<i64>, _>("id") {
            cells.id = id;
        }
        cells
    }

    fn bad(&self, column: &'static str, reason: impl Into<String>) -> Error {
        Error::BadValue {
            table: self.table,
            id: self.id,
            column,
            reason: reason.into(),
        }
    }

    pub(crate) fn get<T: FromValue>(&mut self, column: &'static str) -> Result<T> {
        match self.row.take_opt::<T, _>(column) {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(self.bad(column, e.to_string())),
            None => Err(self.bad(column, "column missing from the result")),
        }
    }

    pub(crate) fn code<E>(
        &mut self,
        column: &'static str,
        from: fn(i64) -> std::result::Result<E, UnknownCode>,
    ) -> Result<E> {
        let raw: Option<i64> = self.get(column)?;
        let raw = raw.ok_or_else(|| self.bad(column, "NULL where a code is required"))?;
        from(raw).map_err(|e| self.bad(column, e.to_string()))
    }

    pub(crate) fn opt_code<E>(
        &mut self,
        column: &'static str,
        from: fn(i64) -> std::result::Result<E, UnknownCode>,
    ) -> Result<Option<E>> {
        let raw: Option<i64> = self.get(column)?;
        raw.map(|r| from(r).map_err(|e| self.bad(column, e.to_string())))
            .transpose()
    }
}

/// `t_ds_command` (and the shape copied into `t_ds_error_command`).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRow {
    pub id: i32,
    pub command_type: CommandType,
    pub process_definition_code: i64,
    pub process_definition_version: i32,
    pub process_instance_id: i32,
    pub command_param: Option<String>,
    pub task_depend_type: Option<TaskDependType>,
    pub failure_strategy: FailureStrategy,
    pub warning_type: WarningType,
    pub warning_group_id: Option<i32>,
    pub schedule_time: Option<NaiveDateTime>,
    pub start_time: Option<NaiveDateTime>,
    pub executor_id: Option<i32>,
    pub update_time: Option<NaiveDateTime>,
    pub process_instance_priority: Option<Priority>,
    pub worker_group: Option<String>,
    pub environment_code: i64,
    pub dry_run: i32,
}

/// A command row to insert: the columns upstream's `Command` entity writes. Not a
/// [`CommandRow`] without its id: the optional columns here are left out of the INSERT, so
/// the schema's defaults apply as they do for MyBatis-Plus, where a row read back always has
/// a value.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCommand {
    pub command_type: CommandType,
    pub process_definition_code: i64,
    pub process_definition_version: i32,
    pub process_instance_id: i32,
    pub command_param: Option<String>,
    pub task_depend_type: Option<TaskDependType>,
    pub failure_strategy: Option<FailureStrategy>,
    pub warning_type: Option<WarningType>,
    pub warning_group_id: Option<i32>,
    pub schedule_time: Option<NaiveDateTime>,
    pub start_time: NaiveDateTime,
    pub update_time: NaiveDateTime,
    pub executor_id: i32,
    pub process_instance_priority: Option<Priority>,
    pub worker_group: Option<String>,
    pub environment_code: Option<i64>,
    pub dry_run: i32,
}

impl CommandRow {
    pub(crate) fn from_row(row: Row) -> Result<CommandRow> {
        let mut c = Cells::new(row, "t_ds_command");
        Ok(CommandRow {
            id: c.get("id")?,
            command_type: c.code("command_type", CommandType::from_code)?,
            process_definition_code: c.get("process_definition_code")?,
            process_definition_version: c
                .get::<Option<i32>>("process_definition_version")?
                .unwrap_or(0),
            process_instance_id: c.get::<Option<i32>>("process_instance_id")?.unwrap_or(0),
            command_param: c.get("command_param")?,
            task_depend_type: c.opt_code("task_depend_type", TaskDependType::from_code)?,
            failure_strategy: c
                .opt_code("failure_strategy", FailureStrategy::from_code)?
                .unwrap_or(FailureStrategy::END),
            warning_type: c
                .opt_code("warning_type", WarningType::from_code)?
                .unwrap_or(WarningType::NONE),
            warning_group_id: c.get("warning_group_id")?,
            schedule_time: c.get("schedule_time")?,
            start_time: c.get("start_time")?,
            executor_id: c.get("executor_id")?,
            update_time: c.get("update_time")?,
            process_instance_priority: c
                .opt_code("process_instance_priority", Priority::from_code)?,
            worker_group: c.get("worker_group")?,
            environment_code: c.get::<Option<i64>>("environment_code")?.unwrap_or(-1),
            dry_run: c.get::<Option<i32>>("dry_run")?.unwrap_or(0),
        })
    }
}

/// The columns of `t_ds_process_definition(_log)` the master uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessDefinition {
    pub code: i64,
    pub name: String,
    pub version: i32,
    pub project_code: i64,
    pub user_id: Option<i32>,
    pub global_params: Option<String>,
    pub timeout: i32,
    pub tenant_id: i32,
    pub warning_group_id: Option<i32>,
}

impl ProcessDefinition {
    pub(crate) fn from_row(row: Row, table: &'static str) -> Result<ProcessDefinition> {
        let mut c = Cells::new(row, table);
        Ok(ProcessDefinition {
            code: c.get("code")?,
            name: c.get::<Option<String>>("name")?.unwrap_or_default(),
            version: c.get::<Option<i32>>("version")?.unwrap_or(0),
            project_code: c.get("project_code")?,
            user_id: c.get("user_id")?,
            global_params: c.get("global_params")?,
            timeout: c.get::<Option<i32>>("timeout")?.unwrap_or(0),
            tenant_id: c.get::<Option<i32>>("tenant_id")?.unwrap_or(-1),
            warning_group_id: c.get("warning_group_id")?,
        })
    }
}

/// One edge (or root declaration when `pre_task_code` is 0) of `t_ds_process_task_relation_log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relation {
    pub pre_task_code: i64,
    pub pre_task_version: i32,
    pub post_task_code: i64,
    pub post_task_version: i32,
}

/// The columns of `t_ds_task_definition_log` the master uses.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDefinition {
    pub code: i64,
    pub version: i32,
    pub name: String,
    pub project_code: i64,
    pub task_type: String,
    pub task_params: Option<String>,
    pub flag: Flag,
    pub task_priority: Priority,
    pub worker_group: Option<String>,
    pub environment_code: i64,
    pub fail_retry_times: i32,
    pub fail_retry_interval: i32,
    pub timeout_flag: TimeoutFlag,
    pub timeout_notify_strategy: Option<TaskTimeoutStrategy>,
    pub timeout: i32,
    pub delay_time: i32,
}

impl TaskDefinition {
    pub(crate) fn from_row(row: Row) -> Result<TaskDefinition> {
        let mut c = Cells::new(row, "t_ds_task_definition_log");
        Ok(TaskDefinition {
            code: c.get("code")?,
            version: c.get::<Option<i32>>("version")?.unwrap_or(0),
            name: c.get::<Option<String>>("name")?.unwrap_or_default(),
            project_code: c.get("project_code")?,
            task_type: c.get::<String>("task_type")?.to_ascii_uppercase(),
            task_params: c.get("task_params")?,
            flag: c.opt_code("flag", Flag::from_code)?.unwrap_or(Flag::YES),
            task_priority: c
                .opt_code("task_priority", Priority::from_code)?
                .unwrap_or(Priority::MEDIUM),
            worker_group: c.get("worker_group")?,
            environment_code: c.get::<Option<i64>>("environment_code")?.unwrap_or(-1),
            fail_retry_times: c.get::<Option<i32>>("fail_retry_times")?.unwrap_or(0),
            fail_retry_interval: c.get::<Option<i32>>("fail_retry_interval")?.unwrap_or(0),
            timeout_flag: c
                .opt_code("timeout_flag", TimeoutFlag::from_code)?
                .unwrap_or(TimeoutFlag::CLOSE),
            timeout_notify_strategy: c
                .opt_code("timeout_notify_strategy", TaskTimeoutStrategy::from_code)?,
            timeout: c.get::<Option<i32>>("timeout")?.unwrap_or(0),
            delay_time: c.get::<Option<i32>>("delay_time")?.unwrap_or(0),
        })
    }
}

/// `t_ds_process_instance`, as the master keeps it in memory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcessInstance {
    pub id: i32,
    pub name: Option<String>,
    pub process_definition_code: i64,
    pub process_definition_version: i32,
    pub state: Option<ExecutionStatus>,
    pub recovery: Option<Flag>,
    pub start_time: Option<NaiveDateTime>,
    pub end_time: Option<NaiveDateTime>,
    pub run_times: i32,
    pub host: Option<String>,
    pub command_type: Option<CommandType>,
    pub command_param: Option<String>,
    pub task_depend_type: Option<TaskDependType>,
    pub max_try_times: i32,
    pub failure_strategy: Option<FailureStrategy>,
    pub warning_type: Option<WarningType>,
    pub warning_group_id: Option<i32>,
    pub schedule_time: Option<NaiveDateTime>,
    pub command_start_time: Option<NaiveDateTime>,
    pub global_params: Option<String>,
    pub is_sub_process: Option<Flag>,
    pub executor_id: i32,
    pub history_cmd: Option<String>,
    pub process_instance_priority: Option<Priority>,
    pub worker_group: Option<String>,
    pub environment_code: Option<i64>,
    pub timeout: i32,
    pub tenant_id: i32,
    pub var_pool: Option<String>,
    pub dry_run: i32,
    /// Absent from the 2.0.0/2.0.1 schema; the store only names it when the schema has it.
    pub restart_time: Option<NaiveDateTime>,
}

impl ProcessInstance {
    pub(crate) fn from_row(row: Row, has_restart_time: bool) -> Result<ProcessInstance> {
        let mut c = Cells::new(row, "t_ds_process_instance");
        Ok(ProcessInstance {
            id: c.get("id")?,
            name: c.get("name")?,
            process_definition_code: c.get("process_definition_code")?,
            process_definition_version: c
                .get::<Option<i32>>("process_definition_version")?
                .unwrap_or(0),
            state: c.opt_code("state", ExecutionStatus::from_code)?,
            recovery: c.opt_code("recovery", Flag::from_code)?,
            start_time: c.get("start_time")?,
            end_time: c.get("end_time")?,
            run_times: c.get::<Option<i32>>("run_times")?.unwrap_or(0),
            host: c.get("host")?,
            command_type: c.opt_code("command_type", CommandType::from_code)?,
            command_param: c.get("command_param")?,
            task_depend_type: c.opt_code("task_depend_type", TaskDependType::from_code)?,
            max_try_times: c.get::<Option<i32>>("max_try_times")?.unwrap_or(0),
            failure_strategy: c.opt_code("failure_strategy", FailureStrategy::from_code)?,
            warning_type: c.opt_code("warning_type", WarningType::from_code)?,
            warning_group_id: c.get("warning_group_id")?,
            schedule_time: c.get("schedule_time")?,
            command_start_time: c.get("command_start_time")?,
            global_params: c.get("global_params")?,
            is_sub_process: c.opt_code("is_sub_process", Flag::from_code)?,
            executor_id: c.get::<Option<i32>>("executor_id")?.unwrap_or(0),
            history_cmd: c.get("history_cmd")?,
            process_instance_priority: c
                .opt_code("process_instance_priority", Priority::from_code)?,
            worker_group: c.get("worker_group")?,
            environment_code: c.get("environment_code")?,
            timeout: c.get::<Option<i32>>("timeout")?.unwrap_or(0),
            tenant_id: c.get::<Option<i32>>("tenant_id")?.unwrap_or(-1),
            var_pool: c.get("var_pool")?,
            dry_run: c.get::<Option<i32>>("dry_run")?.unwrap_or(0),
            restart_time: if has_restart_time {
                c.get("restart_time")?
            } else {
                None
            },
        })
    }
}

/// `t_ds_task_instance`, as the master keeps it in memory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskInstance {
    pub id: i32,
    pub name: Option<String>,
    pub task_type: String,
    pub task_code: i64,
    pub task_definition_version: i32,
    pub process_instance_id: i32,
    pub state: Option<ExecutionStatus>,
    pub submit_time: Option<NaiveDateTime>,
    pub start_time: Option<NaiveDateTime>,
    pub end_time: Option<NaiveDateTime>,
    pub host: Option<String>,
    pub execute_path: Option<String>,
    pub log_path: Option<String>,
    pub alert_flag: Option<Flag>,
    pub retry_times: i32,
    pub pid: i32,
    pub app_link: Option<String>,
    pub task_params: Option<String>,
    pub flag: Option<Flag>,
    pub retry_interval: i32,
    pub max_retry_times: i32,
    pub task_instance_priority: Option<Priority>,
    pub worker_group: Option<String>,
    pub environment_code: Option<i64>,
    pub environment_config: Option<String>,
    pub executor_id: i32,
    pub first_submit_time: Option<NaiveDateTime>,
    pub delay_time: i32,
    pub var_pool: Option<String>,
    pub dry_run: i32,
}

impl TaskInstance {
    pub(crate) fn from_row(row: Row) -> Result<TaskInstance> {
        let mut c = Cells::new(row, "t_ds_task_instance");
        Ok(TaskInstance {
            id: c.get("id")?,
            name: c.get("name")?,
            task_type: c.get::<Option<String>>("task_type")?.unwrap_or_default(),
            task_code: c.get("task_code")?,
            task_definition_version: c
                .get::<Option<i32>>("task_definition_version")?
                .unwrap_or(0),
            process_instance_id: c.get::<Option<i32>>("process_instance_id")?.unwrap_or(0),
            state: c.opt_code("state", ExecutionStatus::from_code)?,
            submit_time: c.get("submit_time")?,
            start_time: c.get("start_time")?,
            end_time: c.get("end_time")?,
            host: c.get("host")?,
            execute_path: c.get("execute_path")?,
            log_path: c.get("log_path")?,
            alert_flag: c.opt_code("alert_flag", Flag::from_code)?,
            retry_times: c.get::<Option<i32>>("retry_times")?.unwrap_or(0),
            pid: c.get::<Option<i32>>("pid")?.unwrap_or(0),
            app_link: c.get("app_link")?,
            task_params: c.get("task_params")?,
            flag: c.opt_code("flag", Flag::from_code)?,
            retry_interval: c.get::<Option<i32>>("retry_interval")?.unwrap_or(0),
            max_retry_times: c.get::<Option<i32>>("max_retry_times")?.unwrap_or(0),
            task_instance_priority: c.opt_code("task_instance_priority", Priority::from_code)?,
            worker_group: c.get("worker_group")?,
            environment_code: c.get("environment_code")?,
            environment_config: c.get("environment_config")?,
            executor_id: c.get::<Option<i32>>("executor_id")?.unwrap_or(0),
            first_submit_time: c.get("first_submit_time")?,
            delay_time: c.get::<Option<i32>>("delay_time")?.unwrap_or(0),
            var_pool: c.get("var_pool")?,
            dry_run: c.get::<Option<i32>>("dry_run")?.unwrap_or(0),
        })
    }
}
