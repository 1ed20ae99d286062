//! Process and task instance rows: the writes other components must see, each naming only
//! the columns that changed (shared/spec/database.md section 6 lists when each must be
//! current), plus the reads used to rebuild a workflow after a restart.

use super::db::Row;
use super::rows::{ProcessInstance, TaskInstance};
use super::sql::{Insert, Update};
use super::{Result, SqlContext, Store};
use crate::model::ExecutionStatus;
use crate::params;
use chrono::NaiveDateTime;

/// The columns written when a worker acknowledges a task.
#[derive(Debug, Clone, Default)]
pub struct AckWrite {
    pub state: Option<ExecutionStatus>,
    /// The dispatch time, when the dispatch write was folded into this one.
    pub submit_time: Option<NaiveDateTime>,
    pub start_time: Option<NaiveDateTime>,
    pub host: Option<String>,
    pub execute_path: Option<String>,
    pub log_path: Option<String>,
}

/// The columns written when a worker reports a task's end.
#[derive(Debug, Clone, Default)]
pub struct ResultWrite {
    pub state: Option<ExecutionStatus>,
    pub end_time: Option<NaiveDateTime>,
    pub pid: Option<i32>,
    pub app_link: Option<String>,
    pub var_pool: Option<String>,
    pub task_params: Option<String>,
}

impl Store {
    pub(crate) fn process_instance_insert(&self, p: &ProcessInstance) -> Insert {
        let insert = Insert::default()
            .opt("name", p.name.clone())
            .val("process_definition_code", p.process_definition_code)
            .val("process_definition_version", p.process_definition_version)
            .opt("state", p.state.map(|s| s.code()))
            .opt("recovery", p.recovery.map(|s| s.code()))
            .opt("start_time", p.start_time)
            .opt("end_time", p.end_time)
            .val("run_times", p.run_times)
            .opt("host", p.host.clone())
            .opt("command_type", p.command_type.map(|s| s.code()))
            .opt("command_param", p.command_param.clone())
            .opt("task_depend_type", p.task_depend_type.map(|s| s.code()))
            .val("max_try_times", p.max_try_times)
            .opt("failure_strategy", p.failure_strategy.map(|s| s.code()))
            .opt("warning_type", p.warning_type.map(|s| s.code()))
            .opt("warning_group_id", p.warning_group_id)
            .opt("schedule_time", p.schedule_time)
            .opt("command_start_time", p.command_start_time)
            .opt("global_params", p.global_params.clone())
            .opt("is_sub_process", p.is_sub_process.map(|s| s.code()))
            .val("executor_id", p.executor_id)
            .opt("history_cmd", p.history_cmd.clone())
            .opt(
                "process_instance_priority",
                p.process_instance_priority.map(|s| s.code()),
            )
            .opt("worker_group", p.worker_group.clone())
            .opt("environment_code", p.environment_code)
            .val("timeout", p.timeout)
            .val("tenant_id", p.tenant_id)
            .opt("var_pool", p.var_pool.clone())
            .val("dry_run", p.dry_run);
        if self.has_restart_time() {
            insert.opt("restart_time", p.restart_time)
        } else {
            insert
        }
    }

    /// [`Store::update_process_state`] for the instance this master runs: applies only while
    /// the row still names us as host (a peer that failed us over has changed it), else
    /// [`super::Error::NotOwner`].
    pub async fn update_own_process_state(
        &self,
        id: i32,
        state: ExecutionStatus,
        end_time: Option<NaiveDateTime>,
    ) -> Result<()> {
        let update = Update::default()
            .val("state", state.code())
            .opt("end_time", end_time);
        self.exec_owned_update("t_ds_process_instance", id, update)
            .await
    }

    /// Sets the instance's state, and its end time in the same statement when it finished
    /// (the Java master needs two UPDATEs for this). Unconditional: also used on instances
    /// run elsewhere (a sub-process child being stopped).
    pub async fn update_process_state(
        &self,
        id: i32,
        state: ExecutionStatus,
        end_time: Option<NaiveDateTime>,
    ) -> Result<()> {
        let update = Update::default()
            .val("state", state.code())
            .opt("end_time", end_time);
        self.exec_update("t_ds_process_instance", id, update).await
    }

    /// The instance's var pool after a task succeeded (last success wins, as upstream).
    pub async fn update_process_var_pool(&self, id: i32, var_pool: &str) -> Result<()> {
        let update = Update::default().val("var_pool", var_pool.to_string());
        self.exec_owned_update("t_ds_process_instance", id, update)
            .await
    }

    /// Inserts a new task instance; returns its id.
    pub async fn insert_task_instance(&self, t: &TaskInstance) -> Result<i32> {
        let insert = Insert::default()
            .opt("name", t.name.clone())
            .val("task_type", t.task_type.clone())
            .val("task_code", t.task_code)
            .val("task_definition_version", t.task_definition_version)
            .val("process_instance_id", t.process_instance_id)
            .opt("state", t.state.map(|s| s.code()))
            .opt("submit_time", t.submit_time)
            .opt("start_time", t.start_time)
            .opt("end_time", t.end_time)
            .opt("host", t.host.clone())
            .opt("execute_path", t.execute_path.clone())
            .opt("log_path", t.log_path.clone())
            .opt("alert_flag", t.alert_flag.map(|s| s.code()))
            .val("retry_times", t.retry_times)
            .val("pid", t.pid)
            .opt("app_link", t.app_link.clone())
            .opt("task_params", t.task_params.clone())
            .opt("flag", t.flag.map(|s| s.code()))
            .val("retry_interval", t.retry_interval)
            .val("max_retry_times", t.max_retry_times)
            .opt(
                "task_instance_priority",
                t.task_instance_priority.map(|s| s.code()),
            )
            .opt("worker_group", t.worker_group.clone())
            .opt("environment_code", t.environment_code)
            .opt("environment_config", t.environment_config.clone())
            .val("executor_id", t.executor_id)
            .opt("first_submit_time", t.first_submit_time)
            .val("delay_time", t.delay_time)
            .opt("var_pool", t.var_pool.clone())
            .val("dry_run", t.dry_run);
        let (sql, params) = match self.owner() {
            Some(o) => insert.build_if_owned(
                "t_ds_task_instance",
                t.process_instance_id,
                &o.addr,
                self.dialect(),
            ),
            None => insert.build("t_ds_task_instance"),
        };
        let mut conn = self.conn().await?;
        self.fence_check()?;
        let (inserted, id) = conn.insert(&sql, params).await.ctx(|| {
            format!(
                "inserting task instance {:?} of process instance {}",
                t.name, t.process_instance_id
            )
        })?;
        if inserted == 0 {
            return Err(super::Error::NotOwner {
                table: "t_ds_process_instance",
                id: t.process_instance_id,
                owner: self.owner().map(|o| o.addr.clone()).unwrap_or_default(),
            });
        }
        Ok(id.and_then(|id| i32::try_from(id).ok()).unwrap_or(0))
    }

    /// Dispatch succeeded: the worker and the time (2.0.2+ upstream, so the UI can kill the
    /// task and show its log host before the worker acknowledges).
    pub async fn update_task_dispatched(
        &self,
        id: i32,
        host: &str,
        submit_time: NaiveDateTime,
    ) -> Result<()> {
        let update = Update::default()
            .val("host", host.to_string())
            .val("submit_time", submit_time);
        self.exec_owned_update("t_ds_task_instance", id, update)
            .await
    }

    pub async fn update_task_ack(&self, id: i32, w: &AckWrite) -> Result<()> {
        let update = Update::default()
            .opt("state", w.state.map(|s| s.code()))
            .opt("submit_time", w.submit_time)
            .opt("start_time", w.start_time)
            .opt("host", w.host.clone())
            .opt("execute_path", w.execute_path.clone())
            .opt("log_path", w.log_path.clone());
        self.exec_owned_update("t_ds_task_instance", id, update)
            .await
    }

    pub async fn update_task_result(&self, id: i32, w: &ResultWrite) -> Result<()> {
        let update = Update::default()
            .opt("state", w.state.map(|s| s.code()))
            .opt("end_time", w.end_time)
            .opt("pid", w.pid)
            .opt("app_link", w.app_link.clone())
            .opt("var_pool", w.var_pool.clone())
            .opt("task_params", w.task_params.clone());
        self.exec_owned_update("t_ds_task_instance", id, update)
            .await
    }

    /// Any task column change the engine decides on its own (kill without host, tenant
    /// missing, logic tasks): state plus optional times.
    pub async fn update_task_state(
        &self,
        id: i32,
        state: ExecutionStatus,
        start_time: Option<NaiveDateTime>,
        end_time: Option<NaiveDateTime>,
    ) -> Result<()> {
        let update = Update::default()
            .val("state", state.code())
            .opt("start_time", start_time)
            .opt("end_time", end_time);
        self.exec_owned_update("t_ds_task_instance", id, update)
            .await
    }

    /// Upstream `submitTaskInstanceToDB` on a row it keeps (a failed row while the instance
    /// is READY_PAUSE/READY_STOP, or a row resubmitted after recovery): the row's new state
    /// and, when the row had none, its first submit time (upstream copies `submit_time`
    /// into `first_submit_time` at that point). `first_submit_time` None leaves the column.
    pub async fn resubmit_task_in_place(
        &self,
        id: i32,
        state: ExecutionStatus,
        first_submit_time: Option<NaiveDateTime>,
    ) -> Result<()> {
        let update = Update::default()
            .val("state", state.code())
            .opt("first_submit_time", first_submit_time);
        self.exec_owned_update("t_ds_task_instance", id, update)
            .await
    }

    /// A task state set by failover on an instance of another (dead) master: unconditional.
    pub async fn failover_task_state(&self, id: i32, state: ExecutionStatus) -> Result<()> {
        let update = Update::default().val("state", state.code());
        self.exec_update("t_ds_task_instance", id, update).await
    }

    /// A task the master runs and ends at once (CONDITIONS, SWITCH): its outcome, the
    /// master as host, `at` as start and end time, its log path and (SWITCH) its
    /// task_params with the decision, in one statement.
    pub async fn update_logic_task(
        &self,
        id: i32,
        state: ExecutionStatus,
        host: &str,
        at: NaiveDateTime,
        task_params: Option<String>,
        log_path: &str,
    ) -> Result<()> {
        let update = Update::default()
            .val("state", state.code())
            .val("host", host.to_string())
            .val("start_time", at)
            .val("end_time", at)
            .val("log_path", log_path.to_string())
            .opt("task_params", task_params);
        self.exec_owned_update("t_ds_task_instance", id, update)
            .await
    }

    pub async fn find_task_instance(&self, id: i32) -> Result<Option<TaskInstance>> {
        let mut conn = self.conn().await?;
        let row: Option<Row> = conn
            .first("SELECT * FROM t_ds_task_instance WHERE id = ?", params![id])
            .await
            .ctx(|| format!("reading task instance {id}"))?;
        row.map(TaskInstance::from_row).transpose()
    }

    pub async fn find_process_instance(&self, id: i32) -> Result<Option<ProcessInstance>> {
        let mut conn = self.conn().await?;
        let row: Option<Row> = conn
            .first(
                "SELECT * FROM t_ds_process_instance WHERE id = ?",
                params![id],
            )
            .await
            .ctx(|| format!("reading process instance {id}"))?;
        row.map(|r| ProcessInstance::from_row(r, self.has_restart_time()))
            .transpose()
    }

    /// Valid (`flag = 1`) task instances of a process instance, newest start first as upstream.
    pub async fn find_valid_task_instances(
        &self,
        process_instance_id: i32,
    ) -> Result<Vec<TaskInstance>> {
        self.task_instances(process_instance_id, true).await
    }

    /// Every task instance of a process instance (history rows included), by id.
    pub async fn find_all_task_instances(
        &self,
        process_instance_id: i32,
    ) -> Result<Vec<TaskInstance>> {
        self.task_instances(process_instance_id, false).await
    }

    async fn task_instances(
        &self,
        process_instance_id: i32,
        valid_only: bool,
    ) -> Result<Vec<TaskInstance>> {
        let sql = if valid_only {
            "SELECT * FROM t_ds_task_instance WHERE process_instance_id = ? AND flag = 1 ORDER BY start_time DESC, id"
        } else {
            "SELECT * FROM t_ds_task_instance WHERE process_instance_id = ? ORDER BY id"
        };
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .all(sql, params![process_instance_id])
            .await
            .ctx(|| format!("reading task instances of process instance {process_instance_id}"))?;
        rows.into_iter().map(TaskInstance::from_row).collect()
    }

    /// An UPDATE of a row of a workflow this master runs: the process instance itself, or
    /// one of its task instances. With a fence installed it applies only while the process
    /// instance names our address as host; a row left unchanged is told apart from a row
    /// we no longer own by reading the owner back.
    async fn exec_owned_update(&self, table: &'static str, id: i32, update: Update) -> Result<()> {
        let Some(owner) = self.owner() else {
            return self.exec_update(table, id, update).await;
        };
        if update.is_empty() {
            return Ok(());
        }
        let addr = owner.addr.clone();
        let (sql, params) = update.build_if_owned(table, id, &addr);
        let mut conn = self.conn().await?;
        self.fence_check()?;
        let changed = conn
            .exec(&sql, params)
            .await
            .ctx(|| format!("updating {table} id {id}"))?;
        if changed > 0 {
            return Ok(());
        }
        let host_sql = if table == "t_ds_process_instance" {
            "SELECT host FROM t_ds_process_instance WHERE id = ?"
        } else {
            "SELECT p.host FROM t_ds_task_instance t JOIN t_ds_process_instance p ON p.id = t.process_instance_id WHERE t.id = ?"
        };
        let host: Option<Option<String>> = conn
            .first(host_sql, params![id])
            .await
            .ctx(|| format!("reading the owner of {table} id {id}"))?;
        match host.flatten() {
            Some(h) if h == addr => Ok(()),
            _ => Err(super::Error::NotOwner {
                table,
                id,
                owner: addr,
            }),
        }
    }

    async fn exec_update(&self, table: &'static str, id: i32, update: Update) -> Result<()> {
        if update.is_empty() {
            return Ok(());
        }
        let (sql, params) = update.build(table, id);
        let mut conn = self.conn().await?;
        self.fence_check()?;
        conn.exec(&sql, params)
            .await
            .ctx(|| format!("updating {table} id {id}"))
            .map(|_| ())
    }
}
