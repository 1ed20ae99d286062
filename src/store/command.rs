//! `t_ds_command` intake and `t_ds_error_command`.
//!
//! Commands are not claimed or locked: like the Java master, each master only takes commands
//! whose `id % master_count == slot`, and the checked DELETE inside the start transaction
//! decides a race between two masters (the loser rolls back and moves on).

use super::db::{Dialect, Row, Value};
use super::rows::{CommandRow, ProcessInstance};
use super::sql::Insert;
use super::{Result, SqlContext, Store};
use crate::params;
use std::collections::HashSet;

/// The next command of our slot: decoded, or a row whose columns do not decode (which must
/// go to the error table so it stops blocking the queue).
#[derive(Debug)]
pub enum NextCommand {
    Command(CommandRow),
    Broken { id: i32, error: Box<super::Error> },
}

/// What became of a command the engine tried to start.
#[derive(Debug, Clone, PartialEq)]
pub enum HandleOutcome {
    /// The instance row exists (id filled in) and the command is gone.
    Started(Box<ProcessInstance>),
    /// Another master deleted the command first; nothing was written.
    Lost,
}

impl Store {
    /// The first command of our slot in upstream's order (priority, then id; NULL priority
    /// first as MySQL sorts it), paging through the table `size` rows at a time. Commands in
    /// `skip` (ones this master cannot run yet) are passed over.
    pub async fn find_one_command(
        &self,
        slot: usize,
        size: usize,
        skip: &HashSet<i32>,
    ) -> Result<Option<NextCommand>> {
        Ok(self
            .find_commands(slot, size, skip, 1)
            .await?
            .into_iter()
            .next())
    }

    /// Up to `limit` commands of slot `slot` of `size` (`id % size == slot`), in upstream's
    /// order (`process_instance_priority, id`), skipping `skip`. Rows that do not decode are
    /// returned as [`NextCommand::Broken`] so the caller can move them aside.
    pub async fn find_commands(
        &self,
        slot: usize,
        size: usize,
        skip: &HashSet<i32>,
        limit: usize,
    ) -> Result<Vec<NextCommand>> {
        let mut found = Vec::new();
        if size == 0 || limit == 0 {
            return Ok(found);
        }
        let mut conn = self.conn().await?;
        // Our share of a page is about a 1/size of it; skipped rows make pages longer.
        let page = (limit * size).max(1) as u64;
        let mut offset = 0u64;
        loop {
            let rows: Vec<Row> = conn
                .all(
                    "SELECT * FROM t_ds_command ORDER BY process_instance_priority, id ASC LIMIT ? OFFSET ?",
                    params![page, offset],
                )
                .await
                .ctx(|| "reading t_ds_command".into())?;
            let last_page = (rows.len() as u64) < page;
            for row in rows {
                let Some(Ok(id)) = row.get_opt::<i32, _>("id") else {
                    continue;
                };
                if (id as usize) % size != slot || skip.contains(&id) {
                    continue;
                }
                found.push(match CommandRow::from_row(row) {
                    Ok(c) => NextCommand::Command(c),
                    Err(error) => NextCommand::Broken {
                        id,
                        error: Box::new(error),
                    },
                });
                if found.len() >= limit {
                    return Ok(found);
                }
            }
            if last_page {
                return Ok(found);
            }
            offset += page;
        }
    }

    /// Runs `statements` and then deletes the command, in one transaction. With `checked`, a
    /// DELETE that finds no row (another master took the command) rolls everything back and
    /// returns `None`. Returns the inserted id of each INSERT (`None` for other statements)
    /// otherwise.
    pub(crate) async fn with_command_taken(
        &self,
        command_id: i32,
        statements: Vec<(String, Vec<Value>, String)>,
        checked: bool,
    ) -> Result<Option<Vec<Option<i64>>>> {
        let mut tx = self
            .begin(|| format!("starting the transaction for command {command_id}"))
            .await?;
        let mut ids = Vec::with_capacity(statements.len());
        for (sql, params, what) in statements {
            let id = if sql.trim_start().starts_with("INSERT") {
                tx.insert(&sql, params).await.ctx(|| what)?.1
            } else {
                tx.exec(&sql, params).await.ctx(|| what)?;
                None
            };
            ids.push(id);
        }
        let deleted = tx
            .exec("DELETE FROM t_ds_command WHERE id = ?", params![command_id])
            .await
            .ctx(|| format!("deleting command {command_id}"))?;
        if checked && deleted != 1 {
            tx.rollback()
                .await
                .ctx(|| format!("rolling back command {command_id}"))?;
            return Ok(None);
        }
        self.fence_check()?;
        tx.commit()
            .await
            .ctx(|| format!("committing command {command_id}"))?;
        Ok(Some(ids))
    }

    /// Moves a command whose row does not decode to `t_ds_error_command`, copying the columns
    /// in SQL so nothing has to be interpreted.
    /// Rows in `t_ds_command` (every master's). Also the health check's proof that the
    /// database answers, so it reads past the write fence: it writes nothing.
    pub async fn count_commands(&self) -> Result<i64> {
        let mut conn = self
            .pool
            .conn()
            .await
            .ctx(|| "taking a connection to count commands".into())?;
        let n: Option<Option<i64>> = conn
            .first("SELECT COUNT(*) FROM t_ds_command", params![])
            .await
            .ctx(|| "counting t_ds_command".into())?;
        Ok(n.flatten().unwrap_or(0))
    }

    pub async fn move_broken_command(&self, id: i32, message: &str) -> Result<()> {
        metrics::counter!(crate::metrics::COMMANDS_FAILED).increment(1);
        let ignore = match self.dialect() {
            Dialect::Mysql => ("INSERT IGNORE", ""),
            Dialect::Postgres => ("INSERT", " ON CONFLICT (id) DO NOTHING"),
        };
        let copy = "INTO t_ds_error_command (id, command_type, executor_id, \
             process_definition_code, command_param, warning_type, warning_group_id, schedule_time, \
             task_depend_type, failure_strategy, start_time, update_time, environment_code, \
             process_instance_priority, dry_run, message) \
             SELECT id, command_type, executor_id, process_definition_code, command_param, \
             warning_type, warning_group_id, schedule_time, task_depend_type, failure_strategy, \
             start_time, update_time, environment_code, process_instance_priority, dry_run, ? \
             FROM t_ds_command WHERE id = ?";
        self.with_command_taken(
            id,
            vec![(
                format!("{} {copy}{}", ignore.0, ignore.1),
                params![message, id],
                format!("copying command {id} to t_ds_error_command"),
            )],
            false,
        )
        .await
        .map(|_| ())
    }

    /// Whether command `id` is still in `t_ds_command` (read back after a commit whose
    /// outcome the connection did not report).
    pub async fn command_exists(&self, id: i32) -> Result<bool> {
        let mut conn = self.conn().await?;
        let n: Option<i64> = conn
            .first(
                "SELECT COUNT(*) FROM t_ds_command WHERE id = ?",
                params![id],
            )
            .await
            .ctx(|| format!("reading back command {id}"))?;
        Ok(n.unwrap_or(0) > 0)
    }

    /// The instance a new-instance command created, found by its name (which carries the
    /// start time to the millisecond) and host: the read-back of an ambiguous commit.
    pub async fn find_instance_by_name(
        &self,
        name: &str,
        host: &str,
    ) -> Result<Option<ProcessInstance>> {
        let mut conn = self.conn().await?;
        let row: Option<Row> = conn
            .first(
                "SELECT * FROM t_ds_process_instance WHERE name = ? AND host = ? ORDER BY id DESC LIMIT 1",
                params![name, host],
            )
            .await
            .ctx(|| format!("reading back instance {name:?}"))?;
        row.map(|r| ProcessInstance::from_row(r, self.has_restart_time()))
            .transpose()
    }

    /// Inserts the new process instance and deletes the command in one transaction.
    /// `instance.id` is filled in on success.
    pub async fn start_instance(
        &self,
        command_id: i32,
        mut instance: ProcessInstance,
    ) -> Result<HandleOutcome> {
        let (sql, params) = self
            .process_instance_insert(&instance)
            .build("t_ds_process_instance");
        let what = format!("inserting the process instance of command {command_id}");
        let Some(ids) = self
            .with_command_taken(command_id, vec![(sql, params, what)], true)
            .await?
        else {
            return Ok(HandleOutcome::Lost);
        };
        let id = ids.first().copied().flatten().unwrap_or(0);
        instance.id = i32::try_from(id).unwrap_or(0);
        Ok(HandleOutcome::Started(Box::new(instance)))
    }

    /// Moves a command that cannot start to `t_ds_error_command` (same id, upstream's copied
    /// columns, the message) and deletes it, in one transaction. Repeating it is harmless.
    pub async fn move_to_error_command(&self, cmd: &CommandRow, message: &str) -> Result<()> {
        metrics::counter!(crate::metrics::COMMANDS_FAILED).increment(1);
        let now = self.clock.now();
        let insert = Insert::default()
            .val("id", cmd.id)
            .val("command_type", cmd.command_type.code())
            .opt("executor_id", cmd.executor_id)
            .val("process_definition_code", cmd.process_definition_code)
            .opt("command_param", cmd.command_param.clone())
            .val("warning_type", cmd.warning_type.code())
            .opt("warning_group_id", cmd.warning_group_id)
            .opt("schedule_time", cmd.schedule_time)
            .opt("task_depend_type", cmd.task_depend_type.map(|t| t.code()))
            .val("failure_strategy", cmd.failure_strategy.code())
            .opt("start_time", cmd.start_time)
            .val("update_time", cmd.update_time.unwrap_or(now))
            .val("environment_code", cmd.environment_code)
            .opt(
                "process_instance_priority",
                cmd.process_instance_priority.map(|p| p.code()),
            )
            .val("dry_run", cmd.dry_run)
            .val("message", message.to_string());
        let (sql, params) = insert.build("t_ds_error_command");
        let sql = match self.dialect() {
            Dialect::Mysql => format!("{sql} ON DUPLICATE KEY UPDATE message = VALUES(message)"),
            Dialect::Postgres => {
                format!("{sql} ON CONFLICT (id) DO UPDATE SET message = EXCLUDED.message")
            }
        };
        let what = format!("inserting error command {}", cmd.id);
        self.with_command_taken(cmd.id, vec![(sql, params, what)], false)
            .await
            .map(|_| ())
    }
}
