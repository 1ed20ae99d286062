//! SQL for the Quartz 2.3 JDBC job-store tables (`QRTZ_*`) and the schedule fire handler.
//!
//! The statements are Quartz's `StdJDBCConstants` in meaning: the table prefix and the
//! quoted scheduler name are substituted into the text (Quartz does the same, so they are
//! not bind parameters), booleans are written as `'0'`/`'1'` as Connector/J's `setBoolean`
//! does into the VARCHAR(1) columns, and times are epoch milliseconds. Every protocol step
//! runs in a [`QuartzTx`] whose first statement is the row lock, as `StdRowLockSemaphore`
//! does; the protocol logic itself lives in `crate::schedule`.

use super::db::{DbError, FromValue, Row, Tx, Value};
use super::{Error, Result, SqlContext, Store};
use crate::params;

/// Table prefix and scheduler name as they appear in the SQL text.
#[derive(Debug, Clone)]
pub struct QuartzTables {
    prefix: String,
    /// The scheduler name as a quoted SQL literal.
    sched: String,
}

impl QuartzTables {
    pub fn new(prefix: &str, scheduler_name: &str) -> QuartzTables {
        QuartzTables {
            prefix: prefix.to_string(),
            sched: format!("'{}'", scheduler_name.replace('\'', "''")),
        }
    }

    /// Replaces `{P}` with the prefix and `{S}` with the quoted scheduler name.
    fn sql(&self, template: &str) -> String {
        template
            .replace("{P}", &self.prefix)
            .replace("{S}", &self.sched)
    }
}

/// `(TRIGGER_NAME, TRIGGER_GROUP)` or `(JOB_NAME, JOB_GROUP)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuartzKey {
    pub name: String,
    pub group: String,
}

impl std::fmt::Display for QuartzKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.group, self.name)
    }
}

/// One `QRTZ_TRIGGERS` row (JOB_DATA not read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerRow {
    pub key: QuartzKey,
    pub job: QuartzKey,
    pub description: Option<String>,
    /// Raw column: NULL or ≤ 0 means "none".
    pub next_fire_time: Option<i64>,
    pub prev_fire_time: Option<i64>,
    pub priority: i64,
    pub state: String,
    pub trigger_type: String,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub calendar_name: Option<String>,
    pub misfire_instr: i64,
}

impl TriggerRow {
    /// NEXT_FIRE_TIME as Quartz reads it (values ≤ 0 are "none").
    pub fn next(&self) -> Option<i64> {
        self.next_fire_time.filter(|t| *t > 0)
    }
}

/// One `QRTZ_FIRED_TRIGGERS` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredRow {
    pub entry_id: String,
    pub trigger: QuartzKey,
    pub instance_name: String,
    pub fired_time: i64,
    pub sched_time: i64,
    pub priority: i64,
    pub state: String,
    pub job: Option<QuartzKey>,
    pub is_nonconcurrent: bool,
    pub requests_recovery: bool,
}

/// One `QRTZ_SCHEDULER_STATE` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerStateRow {
    pub instance_name: String,
    pub last_checkin_time: i64,
    pub checkin_interval: i64,
}

/// What the fire handler reads from `t_ds_schedules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRow {
    pub id: i64,
    pub process_definition_code: i64,
    pub release_state: i64,
    pub failure_strategy: i64,
    pub warning_type: i64,
    pub warning_group_id: i64,
    pub user_id: i64,
    pub process_instance_priority: Option<i64>,
    pub worker_group: Option<String>,
}

/// The `t_ds_command` row `ProcessScheduleJob` inserts (SCHEDULER command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledCommand {
    pub process_definition_code: i64,
    pub process_definition_version: i64,
    pub failure_strategy: i64,
    pub warning_type: i64,
    pub warning_group_id: i64,
    /// Quartz's scheduled fire time (epoch ms).
    pub schedule_time_ms: i64,
    /// When the job ran (epoch ms).
    pub start_time_ms: i64,
    pub executor_id: i64,
    pub process_instance_priority: Option<i64>,
    pub worker_group: String,
}

fn bad(table: &'static str, column: &'static str, reason: String) -> Error {
    Error::BadValue {
        table,
        id: 0,
        column,
        reason,
    }
}

/// Column `idx` of `row`, or a `BadValue` error naming the table and column (never panics).
fn col<T: FromValue>(
    row: &Row,
    idx: usize,
    table: &'static str,
    column: &'static str,
) -> Result<T> {
    match row.get_opt::<T, usize>(idx) {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(bad(table, column, format!("unreadable value: {e}"))),
        None => Err(bad(table, column, "column missing from the result".into())),
    }
}

/// A boolean column: VARCHAR(1) '0'/'1' on MySQL, BOOL on PostgreSQL; NULL is false.
fn col_bool(row: &Row, idx: usize, table: &'static str, column: &'static str) -> Result<bool> {
    let v: Option<bool> = col(row, idx, table, column)?;
    Ok(v.unwrap_or(false))
}

fn flag(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

const TRIGGER_COLUMNS: &str = "TRIGGER_NAME, TRIGGER_GROUP, JOB_NAME, JOB_GROUP, DESCRIPTION, NEXT_FIRE_TIME, PREV_FIRE_TIME, PRIORITY, TRIGGER_STATE, TRIGGER_TYPE, START_TIME, END_TIME, CALENDAR_NAME, MISFIRE_INSTR";

fn trigger_from_row(row: &Row) -> Result<TriggerRow> {
    const T: &str = "QRTZ_TRIGGERS";
    let positive = |v: Option<i64>| v.filter(|t| *t > 0);
    Ok(TriggerRow {
        key: QuartzKey {
            name: col(row, 0, T, "TRIGGER_NAME")?,
            group: col(row, 1, T, "TRIGGER_GROUP")?,
        },
        job: QuartzKey {
            name: col(row, 2, T, "JOB_NAME")?,
            group: col(row, 3, T, "JOB_GROUP")?,
        },
        description: col(row, 4, T, "DESCRIPTION")?,
        next_fire_time: col(row, 5, T, "NEXT_FIRE_TIME")?,
        prev_fire_time: positive(col(row, 6, T, "PREV_FIRE_TIME")?),
        priority: col::<Option<i64>>(row, 7, T, "PRIORITY")?.unwrap_or(5),
        state: col(row, 8, T, "TRIGGER_STATE")?,
        trigger_type: col(row, 9, T, "TRIGGER_TYPE")?,
        start_time: col(row, 10, T, "START_TIME")?,
        end_time: positive(col(row, 11, T, "END_TIME")?),
        calendar_name: col(row, 12, T, "CALENDAR_NAME")?,
        misfire_instr: col::<Option<i64>>(row, 13, T, "MISFIRE_INSTR")?.unwrap_or(0),
    })
}

fn fired_from_row(row: &Row) -> Result<FiredRow> {
    const T: &str = "QRTZ_FIRED_TRIGGERS";
    let job_name: Option<String> = col(row, 8, T, "JOB_NAME")?;
    let job_group: Option<String> = col(row, 9, T, "JOB_GROUP")?;
    Ok(FiredRow {
        entry_id: col(row, 0, T, "ENTRY_ID")?,
        trigger: QuartzKey {
            name: col(row, 1, T, "TRIGGER_NAME")?,
            group: col(row, 2, T, "TRIGGER_GROUP")?,
        },
        instance_name: col(row, 3, T, "INSTANCE_NAME")?,
        fired_time: col(row, 4, T, "FIRED_TIME")?,
        sched_time: col(row, 5, T, "SCHED_TIME")?,
        priority: col(row, 6, T, "PRIORITY")?,
        state: col(row, 7, T, "STATE")?,
        job: job_name
            .zip(job_group)
            .map(|(name, group)| QuartzKey { name, group }),
        is_nonconcurrent: col_bool(row, 10, T, "IS_NONCONCURRENT")?,
        requests_recovery: col_bool(row, 11, T, "REQUESTS_RECOVERY")?,
    })
}

const FIRED_COLUMNS: &str = "ENTRY_ID, TRIGGER_NAME, TRIGGER_GROUP, INSTANCE_NAME, FIRED_TIME, SCHED_TIME, PRIORITY, STATE, JOB_NAME, JOB_GROUP, IS_NONCONCURRENT, REQUESTS_RECOVERY";

/// One Quartz job-store transaction (autocommit off). Dropped without [`Self::commit`]
/// it rolls back, as `JobStoreSupport` does on any failure.
pub struct QuartzTx {
    tx: Tx,
    /// Rows changed by the last [`QuartzTx::exec`].
    affected: u64,
    t: QuartzTables,
    /// Checked again right before COMMIT.
    fence: Option<crate::registry::Fence>,
}

impl Store {
    /// Starts a Quartz transaction on a pooled connection.
    pub async fn quartz_begin(&self, tables: &QuartzTables) -> Result<QuartzTx> {
        let tx = self
            .begin(|| "starting a Quartz transaction".into())
            .await?;
        Ok(QuartzTx {
            tx,
            affected: 0,
            t: tables.clone(),
            fence: self.owner().map(|o| o.fence.clone()),
        })
    }

    /// The misfire handler's look-ahead (`countMisfiredTriggersInState`), outside any
    /// transaction so that it takes no snapshot for the locked pass that follows.
    pub async fn quartz_count_misfired(&self, t: &QuartzTables, misfire_time: i64) -> Result<i64> {
        let mut conn = self.conn().await?;
        let n: Option<i64> = conn
            .first(
                &t.sql("SELECT COUNT(TRIGGER_NAME) FROM {P}TRIGGERS WHERE SCHED_NAME = {S} AND NOT (MISFIRE_INSTR = -1) AND NEXT_FIRE_TIME < ? AND TRIGGER_STATE = 'WAITING' AND TRIGGER_TYPE = 'CRON' AND CALENDAR_NAME IS NULL"),
                params![misfire_time],
            )
            .await
            .ctx(|| "counting misfired Quartz triggers".into())?;
        Ok(n.unwrap_or(0))
    }

    /// `t_ds_schedules` row by id (`ProcessScheduleJob` step 1).
    pub async fn schedule_for_fire(&self, id: i64) -> Result<Option<ScheduleRow>> {
        const T: &str = "t_ds_schedules";
        let mut conn = self.conn().await?;
        let row: Option<Row> = conn
            .first(
                "SELECT id, process_definition_code, release_state, failure_strategy, warning_type, warning_group_id, user_id, process_instance_priority, worker_group FROM t_ds_schedules WHERE id = ?",
                params![id],
            )
            .await
            .ctx(|| format!("reading schedule {id}"))?;
        let Some(row) = row else { return Ok(None) };
        let int = |idx, c| -> Result<i64> { Ok(col::<Option<i64>>(&row, idx, T, c)?.unwrap_or(0)) };
        Ok(Some(ScheduleRow {
            id: int(0, "id")?,
            process_definition_code: int(1, "process_definition_code")?,
            release_state: int(2, "release_state")?,
            failure_strategy: int(3, "failure_strategy")?,
            warning_type: int(4, "warning_type")?,
            warning_group_id: int(5, "warning_group_id")?,
            user_id: int(6, "user_id")?,
            process_instance_priority: col(&row, 7, T, "process_instance_priority")?,
            worker_group: col(&row, 8, T, "worker_group")?,
        }))
    }

    /// `(version, release_state)` of a workflow definition by code (`ProcessScheduleJob`
    /// step 2); `None` when the definition is gone.
    pub async fn definition_release(&self, code: i64) -> Result<Option<(i64, i64)>> {
        const T: &str = "t_ds_process_definition";
        let mut conn = self.conn().await?;
        let row: Option<Row> = conn
            .first(
                "SELECT version, release_state FROM t_ds_process_definition WHERE code = ?",
                params![code],
            )
            .await
            .ctx(|| format!("reading workflow definition {code}"))?;
        let Some(row) = row else { return Ok(None) };
        let version: Option<i64> = col(&row, 0, T, "version")?;
        let release: Option<i64> = col(&row, 1, T, "release_state")?;
        Ok(Some((version.unwrap_or(0), release.unwrap_or(0))))
    }

    /// Inserts the SCHEDULER command; NULL fields are omitted so column defaults apply
    /// (`environment_code` -1, `command_param` NULL), as MyBatis-Plus does upstream.
    pub async fn insert_scheduler_command(&self, c: &ScheduledCommand) -> Result<u64> {
        let clock = *self.clock();
        let at = |ms: i64| {
            let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
            clock.to_db(t)
        };
        let mut columns = vec![
            "command_type",
            "process_definition_code",
            "process_definition_version",
            "process_instance_id",
            "task_depend_type",
            "failure_strategy",
            "warning_type",
            "warning_group_id",
            "schedule_time",
            "start_time",
            "executor_id",
            "update_time",
            "worker_group",
            "dry_run",
        ];
        let mut values: Vec<Value> = vec![
            6.into(),
            c.process_definition_code.into(),
            c.process_definition_version.into(),
            0.into(),
            2.into(),
            c.failure_strategy.into(),
            c.warning_type.into(),
            c.warning_group_id.into(),
            at(c.schedule_time_ms).into(),
            at(c.start_time_ms).into(),
            c.executor_id.into(),
            clock.now().into(),
            c.worker_group.clone().into(),
            0.into(),
        ];
        if let Some(p) = c.process_instance_priority {
            columns.push("process_instance_priority");
            values.push(p.into());
        }
        let sql = format!(
            "INSERT INTO t_ds_command ({}) VALUES ({})",
            columns.join(", "),
            vec!["?"; columns.len()].join(", ")
        );
        let mut conn = self.conn().await?;
        let (_, id) = conn.insert(&sql, values).await.ctx(|| {
            format!(
                "inserting the SCHEDULER command of definition {}",
                c.process_definition_code
            )
        })?;
        self.signal_command();
        Ok(id.and_then(|id| u64::try_from(id).ok()).unwrap_or(0))
    }
}

impl QuartzTx {
    /// Runs a statement and keeps its changed-row count in `affected`.
    async fn exec(&mut self, sql: &str, params: Vec<Value>) -> std::result::Result<(), DbError> {
        self.affected = self.tx.exec(sql, params).await?;
        Ok(())
    }

    pub async fn commit(self) -> Result<()> {
        if let Some(f) = &self.fence {
            f.check().map_err(super::Error::Fenced)?;
        }
        self.tx
            .commit()
            .await
            .ctx(|| "committing a Quartz transaction".into())
    }

    pub async fn rollback(self) -> Result<()> {
        self.tx
            .rollback()
            .await
            .ctx(|| "rolling back a Quartz transaction".into())
    }

    /// `StdRowLockSemaphore.executeSQL`: `SELECT … FOR UPDATE` on the lock row, inserting the
    /// row when missing. Returns false when neither worked (caller retries like Quartz).
    pub async fn lock(&mut self, lock_name: &str) -> Result<bool> {
        let select = self
            .t
            .sql("SELECT * FROM {P}LOCKS WHERE SCHED_NAME = {S} AND LOCK_NAME = ? FOR UPDATE");
        let found: Option<Row> = self
            .tx
            .first(&select, params![lock_name])
            .await
            .ctx(|| format!("locking Quartz row lock {lock_name}"))?;
        if found.is_some() {
            return Ok(true);
        }
        let insert = self
            .t
            .sql("INSERT INTO {P}LOCKS(SCHED_NAME, LOCK_NAME) VALUES ({S}, ?)");
        // In a savepoint on PostgreSQL: a duplicate key there would abort the transaction.
        match self.tx.exec_tolerant(&insert, params![lock_name]).await {
            Ok(n) => Ok(n == 1),
            // A peer inserted it concurrently (duplicate key): retry the locking read.
            Err(e) => {
                tracing::debug!(lock = lock_name, error = %e, "inserting the Quartz lock row");
                Ok(false)
            }
        }
    }

    /// `selectTriggerToAcquire`: WAITING triggers due by `no_later_than` and not misfired
    /// (narrowed to calendar-free cron triggers, the only kind we fire).
    pub async fn select_triggers_to_acquire(
        &mut self,
        no_later_than: i64,
        misfire_time: i64,
        max_count: usize,
    ) -> Result<Vec<QuartzKey>> {
        let sql = self.t.sql(&format!(
            "SELECT TRIGGER_NAME, TRIGGER_GROUP, NEXT_FIRE_TIME, PRIORITY FROM {{P}}TRIGGERS WHERE SCHED_NAME = {{S}} AND TRIGGER_STATE = 'WAITING' AND TRIGGER_TYPE = 'CRON' AND CALENDAR_NAME IS NULL AND NEXT_FIRE_TIME <= ? AND (MISFIRE_INSTR = -1 OR (MISFIRE_INSTR != -1 AND NEXT_FIRE_TIME >= ?)) ORDER BY NEXT_FIRE_TIME ASC, PRIORITY DESC LIMIT {}",
            max_count.max(1)
        ));
        let rows: Vec<(String, String)> = self
            .tx
            .all::<(String, String, Option<i64>, Option<i64>)>(
                &sql,
                params![no_later_than, misfire_time],
            )
            .await
            .map(|rows| rows.into_iter().map(|(n, g, _, _)| (n, g)).collect())
            .ctx(|| "selecting Quartz triggers to acquire".into())?;
        Ok(rows
            .into_iter()
            .map(|(name, group)| QuartzKey { name, group })
            .collect())
    }

    /// `selectMisfiredTriggersInState(WAITING)` (calendar-free cron triggers): up to
    /// `max + 1` keys (one more tells "more remain").
    pub async fn select_misfired(
        &mut self,
        misfire_time: i64,
        max: usize,
    ) -> Result<Vec<QuartzKey>> {
        let sql = self.t.sql(&format!(
            "SELECT TRIGGER_NAME, TRIGGER_GROUP FROM {{P}}TRIGGERS WHERE SCHED_NAME = {{S}} AND NOT (MISFIRE_INSTR = -1) AND NEXT_FIRE_TIME < ? AND TRIGGER_STATE = 'WAITING' AND TRIGGER_TYPE = 'CRON' AND CALENDAR_NAME IS NULL ORDER BY NEXT_FIRE_TIME ASC, PRIORITY DESC LIMIT {}",
            max + 1
        ));
        let rows: Vec<(String, String)> = self
            .tx
            .all(&sql, params![misfire_time])
            .await
            .ctx(|| "selecting misfired Quartz triggers".into())?;
        Ok(rows
            .into_iter()
            .map(|(name, group)| QuartzKey { name, group })
            .collect())
    }

    pub async fn select_trigger(&mut self, key: &QuartzKey) -> Result<Option<TriggerRow>> {
        let sql = self.t.sql(&format!(
            "SELECT {TRIGGER_COLUMNS} FROM {{P}}TRIGGERS WHERE SCHED_NAME = {{S}} AND TRIGGER_NAME = ? AND TRIGGER_GROUP = ?"
        ));
        let row: Option<Row> = self
            .tx
            .first(&sql, params![&key.name, &key.group])
            .await
            .ctx(|| format!("reading Quartz trigger {key}"))?;
        row.as_ref().map(trigger_from_row).transpose()
    }

    /// `(CRON_EXPRESSION, TIME_ZONE_ID)` of a cron trigger.
    pub async fn select_cron(
        &mut self,
        key: &QuartzKey,
    ) -> Result<Option<(String, Option<String>)>> {
        let sql = self.t.sql(
            "SELECT CRON_EXPRESSION, TIME_ZONE_ID FROM {P}CRON_TRIGGERS WHERE SCHED_NAME = {S} AND TRIGGER_NAME = ? AND TRIGGER_GROUP = ?",
        );
        self.tx
            .first(&sql, params![&key.name, &key.group])
            .await
            .ctx(|| format!("reading Quartz cron trigger {key}"))
    }

    /// `JOB_CLASS_NAME` of a job, `None` when the job row is gone.
    pub async fn select_job_class(&mut self, job: &QuartzKey) -> Result<Option<String>> {
        let sql = self.t.sql(
            "SELECT JOB_CLASS_NAME FROM {P}JOB_DETAILS WHERE SCHED_NAME = {S} AND JOB_NAME = ? AND JOB_GROUP = ?",
        );
        self.tx
            .first(&sql, params![&job.name, &job.group])
            .await
            .ctx(|| format!("reading Quartz job {job}"))
    }

    /// `selectTriggerState`: `None` when the trigger is gone (Quartz's "DELETED").
    pub async fn select_trigger_state(&mut self, key: &QuartzKey) -> Result<Option<String>> {
        let sql = self.t.sql(
            "SELECT TRIGGER_STATE FROM {P}TRIGGERS WHERE SCHED_NAME = {S} AND TRIGGER_NAME = ? AND TRIGGER_GROUP = ?",
        );
        self.tx
            .first(&sql, params![&key.name, &key.group])
            .await
            .ctx(|| format!("reading the state of Quartz trigger {key}"))
    }

    /// `updateTriggerStateFromOtherState`: rows changed.
    pub async fn update_trigger_state_from(
        &mut self,
        key: &QuartzKey,
        new: &str,
        old: &str,
    ) -> Result<u64> {
        let sql = self.t.sql(
            "UPDATE {P}TRIGGERS SET TRIGGER_STATE = ? WHERE SCHED_NAME = {S} AND TRIGGER_NAME = ? AND TRIGGER_GROUP = ? AND TRIGGER_STATE = ?",
        );
        self.exec(&sql, params![new, &key.name, &key.group, old])
            .await
            .ctx(|| format!("setting Quartz trigger {key} {old} -> {new}"))?;
        Ok(self.affected)
    }

    /// `insertFiredTrigger` for an acquired trigger (job columns NULL, flags '0').
    pub async fn insert_fired_acquired(
        &mut self,
        entry_id: &str,
        key: &QuartzKey,
        instance_id: &str,
        fired_time: i64,
        sched_time: i64,
        priority: i64,
    ) -> Result<()> {
        let sql = self.t.sql(
            "INSERT INTO {P}FIRED_TRIGGERS (SCHED_NAME, ENTRY_ID, TRIGGER_NAME, TRIGGER_GROUP, INSTANCE_NAME, FIRED_TIME, SCHED_TIME, STATE, JOB_NAME, JOB_GROUP, IS_NONCONCURRENT, REQUESTS_RECOVERY, PRIORITY) VALUES({S}, ?, ?, ?, ?, ?, ?, 'ACQUIRED', NULL, NULL, '0', '0', ?)",
        );
        self.exec(
            &sql,
            params![
                entry_id,
                &key.name,
                &key.group,
                instance_id,
                fired_time,
                sched_time,
                priority
            ],
        )
        .await
        .ctx(|| format!("inserting the fired-trigger row {entry_id} for {key}"))
    }

    /// The fired row with this ENTRY_ID, if it still exists.
    pub async fn select_fired(&mut self, entry_id: &str) -> Result<Option<FiredRow>> {
        let sql = self.t.sql(&format!(
            "SELECT {FIRED_COLUMNS} FROM {{P}}FIRED_TRIGGERS WHERE SCHED_NAME = {{S}} AND ENTRY_ID = ?"
        ));
        let row: Option<Row> = self
            .tx
            .first(&sql, params![entry_id])
            .await
            .ctx(|| format!("reading fired-trigger row {entry_id}"))?;
        row.as_ref().map(fired_from_row).transpose()
    }

    /// `updateFiredTrigger` to EXECUTING.
    pub async fn update_fired_executing(
        &mut self,
        entry_id: &str,
        instance_id: &str,
        fired_time: i64,
        sched_time: i64,
        job: &QuartzKey,
    ) -> Result<()> {
        let sql = self.t.sql(
            "UPDATE {P}FIRED_TRIGGERS SET INSTANCE_NAME = ?, FIRED_TIME = ?, SCHED_TIME = ?, STATE = 'EXECUTING', JOB_NAME = ?, JOB_GROUP = ?, IS_NONCONCURRENT = ?, REQUESTS_RECOVERY = ? WHERE SCHED_NAME = {S} AND ENTRY_ID = ?",
        );
        self.exec(
            &sql,
            params![
                instance_id,
                fired_time,
                sched_time,
                &job.name,
                &job.group,
                flag(false),
                flag(false),
                entry_id
            ],
        )
        .await
        .ctx(|| format!("marking fired-trigger row {entry_id} EXECUTING"))
    }

    /// `updateTrigger` (skip-data variant) + `CronTriggerPersistenceDelegate.updateExtendedTriggerProperties`:
    /// rewrites the trigger row from `row` and the cron row with the same values.
    pub async fn store_cron_trigger(
        &mut self,
        row: &TriggerRow,
        cron: &str,
        zone_id: &str,
    ) -> Result<()> {
        let sql = self.t.sql(
            "UPDATE {P}TRIGGERS SET JOB_NAME = ?, JOB_GROUP = ?, DESCRIPTION = ?, NEXT_FIRE_TIME = ?, PREV_FIRE_TIME = ?, TRIGGER_STATE = ?, TRIGGER_TYPE = ?, START_TIME = ?, END_TIME = ?, CALENDAR_NAME = ?, MISFIRE_INSTR = ?, PRIORITY = ? WHERE SCHED_NAME = {S} AND TRIGGER_NAME = ? AND TRIGGER_GROUP = ?",
        );
        let params: Vec<Value> = vec![
            row.job.name.clone().into(),
            row.job.group.clone().into(),
            row.description.clone().into(),
            row.next().unwrap_or(-1).into(),
            row.prev_fire_time.unwrap_or(-1).into(),
            row.state.clone().into(),
            row.trigger_type.clone().into(),
            row.start_time.into(),
            row.end_time.unwrap_or(0).into(),
            row.calendar_name.clone().into(),
            row.misfire_instr.into(),
            row.priority.into(),
            row.key.name.clone().into(),
            row.key.group.clone().into(),
        ];
        self.exec(&sql, params)
            .await
            .ctx(|| format!("updating Quartz trigger {}", row.key))?;
        let sql = self.t.sql(
            "UPDATE {P}CRON_TRIGGERS SET CRON_EXPRESSION = ?, TIME_ZONE_ID = ? WHERE SCHED_NAME = {S} AND TRIGGER_NAME = ? AND TRIGGER_GROUP = ?",
        );
        self.exec(&sql, params![cron, zone_id, &row.key.name, &row.key.group])
            .await
            .ctx(|| format!("updating Quartz cron trigger {}", row.key))
    }

    /// Whether the trigger's group (or all groups) is paused. DolphinScheduler never pauses,
    /// and databases upgraded from 1.3.x may lack the table: an unreadable table is "no".
    pub async fn is_group_paused(&mut self, group: &str) -> Result<bool> {
        let sql = self.t.sql(
            "SELECT TRIGGER_GROUP FROM {P}PAUSED_TRIGGER_GRPS WHERE SCHED_NAME = {S} AND (TRIGGER_GROUP = ? OR TRIGGER_GROUP = '_$_ALL_GROUPS_PAUSED_$_')",
        );
        match self.tx.first_tolerant::<String>(&sql, params![group]).await {
            Ok(r) => Ok(r.is_some()),
            Err(e) if e.is_server_error() => {
                tracing::debug!(group, error = %e, "paused-groups table unreadable; treating the group as not paused");
                Ok(false)
            }
            Err(e) => Err(Error::Sql {
                context: format!("checking whether Quartz group {group} is paused"),
                source: e,
            }),
        }
    }

    pub async fn delete_fired(&mut self, entry_id: &str) -> Result<()> {
        let sql = self
            .t
            .sql("DELETE FROM {P}FIRED_TRIGGERS WHERE SCHED_NAME = {S} AND ENTRY_ID = ?");
        self.exec(&sql, params![entry_id])
            .await
            .ctx(|| format!("deleting fired-trigger row {entry_id}"))
    }

    /// `selectTriggerStatus`'s NEXT_FIRE_TIME: `None` when the trigger is gone,
    /// `Some(None)` when it has no next fire time (≤ 0).
    pub async fn select_next_fire_time(&mut self, key: &QuartzKey) -> Result<Option<Option<i64>>> {
        let sql = self.t.sql(
            "SELECT NEXT_FIRE_TIME FROM {P}TRIGGERS WHERE SCHED_NAME = {S} AND TRIGGER_NAME = ? AND TRIGGER_GROUP = ?",
        );
        let r: Option<Option<i64>> = self
            .tx
            .first(&sql, params![&key.name, &key.group])
            .await
            .ctx(|| format!("reading the next fire time of Quartz trigger {key}"))?;
        Ok(r.map(|v| v.filter(|t| *t > 0)))
    }

    /// `removeTrigger` for a cron trigger: cron row (after the simple row, as Quartz tries
    /// the delegates in order; a missing SIMPLE table is tolerated), trigger row, then the
    /// job when it was non-durable and has no trigger left. Returns whether a trigger row
    /// was deleted.
    pub async fn remove_trigger(&mut self, key: &QuartzKey, job: &QuartzKey) -> Result<bool> {
        let simple = self.t.sql(
            "DELETE FROM {P}SIMPLE_TRIGGERS WHERE SCHED_NAME = {S} AND TRIGGER_NAME = ? AND TRIGGER_GROUP = ?",
        );
        let simple_hit = match self
            .tx
            .exec_tolerant(&simple, params![&key.name, &key.group])
            .await
        {
            Ok(n) => n > 0,
            Err(e) if e.is_server_error() => {
                tracing::debug!(trigger = %key, error = %e, "no SIMPLE_TRIGGERS table to clean");
                false
            }
            Err(e) => {
                return Err(Error::Sql {
                    context: format!("deleting Quartz simple trigger {key}"),
                    source: e,
                })
            }
        };
        if !simple_hit {
            let cron = self.t.sql(
                "DELETE FROM {P}CRON_TRIGGERS WHERE SCHED_NAME = {S} AND TRIGGER_NAME = ? AND TRIGGER_GROUP = ?",
            );
            self.exec(&cron, params![&key.name, &key.group])
                .await
                .ctx(|| format!("deleting Quartz cron trigger {key}"))?;
        }
        let trig = self.t.sql(
            "DELETE FROM {P}TRIGGERS WHERE SCHED_NAME = {S} AND TRIGGER_NAME = ? AND TRIGGER_GROUP = ?",
        );
        self.exec(&trig, params![&key.name, &key.group])
            .await
            .ctx(|| format!("deleting Quartz trigger {key}"))?;
        let removed = self.affected > 0;
        if removed {
            let count = self.t.sql(
                "SELECT COUNT(TRIGGER_NAME) FROM {P}TRIGGERS WHERE SCHED_NAME = {S} AND JOB_NAME = ? AND JOB_GROUP = ?",
            );
            let left: Option<i64> = self
                .tx
                .first(&count, params![&job.name, &job.group])
                .await
                .ctx(|| format!("counting the triggers of Quartz job {job}"))?;
            if left.unwrap_or(0) == 0 {
                let durable = self.t.sql(
                    "SELECT IS_DURABLE FROM {P}JOB_DETAILS WHERE SCHED_NAME = {S} AND JOB_NAME = ? AND JOB_GROUP = ?",
                );
                let d: Option<Row> = self
                    .tx
                    .first(&durable, params![&job.name, &job.group])
                    .await
                    .ctx(|| format!("reading Quartz job {job}"))?;
                let is_durable = match &d {
                    Some(row) => col_bool(row, 0, "QRTZ_JOB_DETAILS", "IS_DURABLE")?,
                    None => true,
                };
                if !is_durable {
                    self.delete_job_row(job).await?;
                }
            }
        }
        Ok(removed)
    }

    /// Trigger keys of a job (`selectTriggerKeysForJob`).
    pub async fn select_triggers_for_job(&mut self, job: &QuartzKey) -> Result<Vec<QuartzKey>> {
        let sql = self.t.sql(
            "SELECT TRIGGER_NAME, TRIGGER_GROUP FROM {P}TRIGGERS WHERE SCHED_NAME = {S} AND JOB_NAME = ? AND JOB_GROUP = ?",
        );
        let rows: Vec<(String, String)> =
            self.tx
                .all(&sql, params![&job.name, &job.group])
                .await
                .ctx(|| format!("listing the triggers of Quartz job {job}"))?;
        Ok(rows
            .into_iter()
            .map(|(name, group)| QuartzKey { name, group })
            .collect())
    }

    /// Deletes the job row; returns whether it existed.
    pub async fn delete_job_row(&mut self, job: &QuartzKey) -> Result<bool> {
        let sql = self.t.sql(
            "DELETE FROM {P}JOB_DETAILS WHERE SCHED_NAME = {S} AND JOB_NAME = ? AND JOB_GROUP = ?",
        );
        self.exec(&sql, params![&job.name, &job.group])
            .await
            .ctx(|| format!("deleting Quartz job {job}"))?;
        Ok(self.affected > 0)
    }

    pub async fn select_scheduler_states(&mut self) -> Result<Vec<SchedulerStateRow>> {
        let sql = self.t.sql(
            "SELECT INSTANCE_NAME, LAST_CHECKIN_TIME, CHECKIN_INTERVAL FROM {P}SCHEDULER_STATE WHERE SCHED_NAME = {S}",
        );
        let rows: Vec<(String, i64, i64)> = self
            .tx
            .all(&sql, params![])
            .await
            .ctx(|| "reading Quartz scheduler states".into())?;
        Ok(rows
            .into_iter()
            .map(
                |(instance_name, last_checkin_time, checkin_interval)| SchedulerStateRow {
                    instance_name,
                    last_checkin_time,
                    checkin_interval,
                },
            )
            .collect())
    }

    /// `selectFiredTriggerInstanceNames`.
    pub async fn select_fired_instance_names(&mut self) -> Result<Vec<String>> {
        let sql = self
            .t
            .sql("SELECT DISTINCT INSTANCE_NAME FROM {P}FIRED_TRIGGERS WHERE SCHED_NAME = {S}");
        self.tx
            .all(&sql, params![])
            .await
            .ctx(|| "reading the instances owning fired triggers".into())
    }

    /// `updateSchedulerState` then `insertSchedulerState` when no row was updated.
    pub async fn check_in(&mut self, instance_id: &str, now: i64, interval: i64) -> Result<()> {
        let sql = self.t.sql(
            "UPDATE {P}SCHEDULER_STATE SET LAST_CHECKIN_TIME = ? WHERE SCHED_NAME = {S} AND INSTANCE_NAME = ?",
        );
        self.exec(&sql, params![now, instance_id])
            .await
            .ctx(|| format!("checking in Quartz instance {instance_id}"))?;
        if self.affected == 0 {
            let sql = self.t.sql(
                "INSERT INTO {P}SCHEDULER_STATE (SCHED_NAME, INSTANCE_NAME, LAST_CHECKIN_TIME, CHECKIN_INTERVAL) VALUES({S}, ?, ?, ?)",
            );
            self.exec(&sql, params![instance_id, now, interval])
                .await
                .ctx(|| format!("inserting the Quartz state row of {instance_id}"))?;
        }
        Ok(())
    }

    pub async fn delete_scheduler_state(&mut self, instance_id: &str) -> Result<()> {
        let sql = self
            .t
            .sql("DELETE FROM {P}SCHEDULER_STATE WHERE SCHED_NAME = {S} AND INSTANCE_NAME = ?");
        self.exec(&sql, params![instance_id])
            .await
            .ctx(|| format!("deleting the Quartz state row of {instance_id}"))
    }

    /// `selectInstancesFiredTriggerRecords`.
    pub async fn select_fired_of_instance(&mut self, instance_id: &str) -> Result<Vec<FiredRow>> {
        let sql = self.t.sql(&format!(
            "SELECT {FIRED_COLUMNS} FROM {{P}}FIRED_TRIGGERS WHERE SCHED_NAME = {{S}} AND INSTANCE_NAME = ?"
        ));
        let rows: Vec<Row> = self
            .tx
            .all(&sql, params![instance_id])
            .await
            .ctx(|| format!("reading the fired triggers of {instance_id}"))?;
        rows.iter().map(fired_from_row).collect()
    }

    /// Whether any fired row references the trigger.
    pub async fn has_fired_for_trigger(&mut self, key: &QuartzKey) -> Result<bool> {
        let sql = self.t.sql(
            "SELECT ENTRY_ID FROM {P}FIRED_TRIGGERS WHERE SCHED_NAME = {S} AND TRIGGER_NAME = ? AND TRIGGER_GROUP = ?",
        );
        let r: Option<String> = self
            .tx
            .first(&sql, params![&key.name, &key.group])
            .await
            .ctx(|| format!("reading the fired rows of Quartz trigger {key}"))?;
        Ok(r.is_some())
    }

    /// Deletes `instance_id`'s ACQUIRED claims on a trigger (used when the trigger is deleted).
    pub async fn delete_acquired_claims(
        &mut self,
        key: &QuartzKey,
        instance_id: &str,
    ) -> Result<()> {
        let sql = self.t.sql(
            "DELETE FROM {P}FIRED_TRIGGERS WHERE SCHED_NAME = {S} AND TRIGGER_NAME = ? AND TRIGGER_GROUP = ? AND INSTANCE_NAME = ? AND STATE = 'ACQUIRED'",
        );
        self.exec(&sql, params![&key.name, &key.group, instance_id])
            .await
            .ctx(|| format!("deleting our claims on Quartz trigger {key}"))
    }

    /// `deleteFiredTriggers(instanceId)`.
    pub async fn delete_fired_of_instance(&mut self, instance_id: &str) -> Result<()> {
        let sql = self
            .t
            .sql("DELETE FROM {P}FIRED_TRIGGERS WHERE SCHED_NAME = {S} AND INSTANCE_NAME = ?");
        self.exec(&sql, params![instance_id])
            .await
            .ctx(|| format!("deleting the fired triggers of {instance_id}"))
    }

    /// `updateTriggerStatesForJobFromOtherState` (non-concurrent bookkeeping in recovery).
    pub async fn update_job_trigger_states_from(
        &mut self,
        job: &QuartzKey,
        new: &str,
        old: &str,
    ) -> Result<()> {
        let sql = self.t.sql(
            "UPDATE {P}TRIGGERS SET TRIGGER_STATE = ? WHERE SCHED_NAME = {S} AND JOB_NAME = ? AND JOB_GROUP = ? AND TRIGGER_STATE = ?",
        );
        self.exec(&sql, params![new, &job.name, &job.group, old])
            .await
            .ctx(|| format!("setting the triggers of Quartz job {job} {old} -> {new}"))
    }
}
