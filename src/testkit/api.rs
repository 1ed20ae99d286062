//! Stands in for the API server's control actions (2.0.5 `ExecutorServiceImpl`), so tests can
//! drive a running master as a user would: stop and pause update the instance row and then
//! send one STATE_EVENT_REQUEST to the instance's host; recover, rerun and start-from-failed
//! insert commands. Test support only; the real API server arrives with the conformance suite.

use super::Error;
use crate::model::{CommandType, ExecutionStatus};
use crate::params;
use crate::protocol::{Command, Connector, Dialect, LinkOptions, StateEventChangeCommand};
use crate::store::db::{Conn, DbError};

fn sql(e: DbError) -> Error {
    Error::Fixture(format!("API stand-in: {e}"))
}

/// STOP (READY_STOP) or PAUSE (READY_PAUSE) of a running instance, as the API does it.
pub async fn stop_or_pause(
    conn: &mut Conn,
    instance_id: i32,
    pause: bool,
    dialect: Dialect,
) -> Result<(), Error> {
    let (cmd, state) = if pause {
        (CommandType::PAUSE, ExecutionStatus::READY_PAUSE)
    } else {
        (CommandType::STOP, ExecutionStatus::READY_STOP)
    };
    let append = match conn.dialect() {
        crate::store::Dialect::Mysql => "CONCAT(COALESCE(history_cmd, ''), ',', ?)",
        crate::store::Dialect::Postgres => "COALESCE(history_cmd, '') || ',' || CAST(? AS TEXT)",
    };
    conn.exec(
        &format!(
            "UPDATE t_ds_process_instance SET command_type = ?, state = ?, history_cmd = {append} WHERE id = ?"
        ),
        params![cmd.code(), state.code(), cmd.name(), instance_id],
    )
    .await
    .map_err(sql)?;
    let host: Option<Option<String>> = conn
        .first(
            "SELECT host FROM t_ds_process_instance WHERE id = ?",
            params![instance_id],
        )
        .await
        .map_err(sql)?;
    let host = host
        .flatten()
        .ok_or_else(|| Error::Fixture(format!("instance {instance_id} has no host")))?;
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let connector = Connector::new(
        LinkOptions {
            dialect,
            ..LinkOptions::default()
        },
        tx,
    );
    let link = connector
        .link(&host)
        .await
        .map_err(|e| Error::Fixture(format!("API stand-in cannot reach {host}: {e}")))?;
    link.send(Command::StateEvent(StateEventChangeCommand::new(
        instance_id,
        0,
        state,
        instance_id,
        0,
    )))
    .map_err(|e| Error::Fixture(format!("API stand-in send: {e}")))?;
    // The frame is fire-and-forget; give the writer a moment before the link drops.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    Ok(())
}

/// RECOVER_SUSPENDED_PROCESS, START_FAILURE_TASK_PROCESS or REPEAT_RUNNING for an instance.
pub async fn command_for_instance(
    conn: &mut Conn,
    instance_id: i32,
    kind: CommandType,
) -> Result<i32, Error> {
    let row: Option<(i64, i32, i32)> = conn
        .first(
            "SELECT process_definition_code, process_definition_version, executor_id FROM t_ds_process_instance WHERE id = ?",
            params![instance_id],
        )
        .await
        .map_err(sql)?;
    let (code, version, executor) =
        row.ok_or_else(|| Error::Fixture(format!("instance {instance_id} not found")))?;
    let (_, id) = conn
        .insert(
        "INSERT INTO t_ds_command (command_type, process_definition_code, process_definition_version, process_instance_id, \
         command_param, task_depend_type, failure_strategy, warning_type, warning_group_id, start_time, executor_id, \
         update_time, process_instance_priority, worker_group, environment_code, dry_run) \
         VALUES (?, ?, ?, ?, ?, 2, 1, 0, 0, NOW(), ?, NOW(), 2, 'default', -1, 0)",
        params![
            kind.code(),
            code,
            version,
            instance_id,
            format!("{{\"ProcessInstanceId\":{instance_id}}}"),
            executor,
        ],
    )
    .await
    .map_err(sql)?;
    Ok(id.and_then(|id| i32::try_from(id).ok()).unwrap_or(0))
}
