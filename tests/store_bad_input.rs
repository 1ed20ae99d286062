//! Bad rows written by someone else, end to end: our master started from a conf dir against
//! upstream's schema, a stand-in worker, and rows that a buggy API server, a hand-edited
//! database or a newer release could leave behind. Whatever the row, the master must not
//! stop serving: a command that cannot run goes to `t_ds_error_command` with a message an
//! operator can act on, a workflow that cannot run a task ends FAILURE, and the next valid
//! command still runs to SUCCESS.
//!
//! Upstream 2.0.5 for comparison: an unknown enum code in a column makes MyBatis-Plus throw
//! when the row is read (shared/spec/database.md section 3), so a Java master fails on that
//! command page every second until someone deletes the row by hand. We move such a row aside.

use dsmaster::model::ExecutionStatus;
use dsmaster::params;
use dsmaster::testkit::cluster::{init_test_logging, LocalCluster};
use dsmaster::testkit::fixtures::ImportedWorkflow;
use dsmaster::testkit::worker::Behaviour;
use dsmaster::testkit::SchemaVersion;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

async fn cluster(schema: SchemaVersion) -> LocalCluster {
    init_test_logging();
    let mut cluster = LocalCluster::start_on_test_db(schema)
        .await
        .expect("cluster");
    cluster.start_master().await.expect("master");
    cluster
        .start_worker(Behaviour::RunShell)
        .await
        .expect("worker");
    cluster
}

async fn import(cluster: &LocalCluster, file: &str) -> ImportedWorkflow {
    cluster
        .import(Path::new(file))
        .await
        .expect("import")
        .remove(0)
}

/// A command as the API server writes it, with the columns under test overridden.
async fn insert_command(
    cluster: &LocalCluster,
    definition_code: i64,
    command_type: i32,
    failure_strategy: i32,
    command_param: &str,
) -> i32 {
    let mut conn = cluster.db_conn().await.expect("conn");
    let (_, id) = conn.insert(
        "INSERT INTO t_ds_command (command_type, process_definition_code, process_definition_version, \
         process_instance_id, command_param, task_depend_type, failure_strategy, warning_type, \
         warning_group_id, start_time, executor_id, update_time, process_instance_priority, \
         worker_group, environment_code, dry_run) \
         VALUES (?, ?, 1, 0, ?, 2, ?, 0, 0, NOW(), 1, NOW(), 2, 'default', -1, 0)",
        params![command_type, definition_code, command_param, failure_strategy],
    )
    .await
    .expect("insert command");
    id.expect("id") as i32
}

/// Waits for the command to land in `t_ds_error_command`; returns its message.
async fn error_message(cluster: &LocalCluster, id: i32) -> String {
    let mut conn = cluster.db_conn().await.expect("conn");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let row: Option<Option<String>> = conn
            .first(
                "SELECT message FROM t_ds_error_command WHERE id = ?",
                params![id],
            )
            .await
            .expect("read error command");
        if let Some(message) = row {
            let left: Option<i64> = conn
                .first(
                    "SELECT COUNT(*) FROM t_ds_command WHERE id = ?",
                    params![id],
                )
                .await
                .unwrap();
            assert_eq!(left, Some(0), "command {id} left t_ds_command");
            return message.unwrap_or_default();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "command {id} never reached t_ds_error_command"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn instances_of(cluster: &LocalCluster, code: i64) -> i64 {
    let mut conn = cluster.db_conn().await.expect("conn");
    conn.first(
        "SELECT COUNT(*) FROM t_ds_process_instance WHERE process_definition_code = ?",
        params![code],
    )
    .await
    .unwrap()
    .unwrap_or(0)
}

async fn run_to_end(cluster: &LocalCluster, wf: &ImportedWorkflow) -> (i32, ExecutionStatus) {
    cluster.start_workflow(wf).await.expect("command");
    cluster
        .wait_for_end(wf.definition_code, WAIT, |_| {})
        .await
        .expect("workflow ends")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_commands_go_to_the_error_table_and_the_master_keeps_serving() {
    let cluster = cluster(SchemaVersion::V2_0_5).await;
    let wf = import(&cluster, "fixtures/workflows/shell-a-b.json").await;

    // Unknown integer codes: the row does not decode; the message names table, id, column.
    let id = insert_command(&cluster, wf.definition_code, 11, 1, "{}").await;
    let m = error_message(&cluster, id).await;
    assert!(
        m.contains("t_ds_command") && m.contains(&format!("id {id}")) && m.contains("command_type"),
        "{m}"
    );
    let id = insert_command(&cluster, wf.definition_code, 0, 7, "{}").await;
    let m = error_message(&cluster, id).await;
    assert!(
        m.contains("t_ds_command")
            && m.contains(&format!("id {id}"))
            && m.contains("failure_strategy")
            && m.contains('7'),
        "{m}"
    );

    // command_param that is not a JSON object.
    let id = insert_command(&cluster, wf.definition_code, 0, 1, "{\"StartParams\":").await;
    let m = error_message(&cluster, id).await;
    assert!(m.contains("command_param"), "{m}");

    // A definition that does not exist: upstream's message.
    let id = insert_command(&cluster, 4399999999999, 0, 1, "{}").await;
    assert_eq!(
        error_message(&cluster, id).await,
        "process instance is null"
    );
    assert_eq!(instances_of(&cluster, wf.definition_code).await, 0);

    // The master still serves.
    let (_, state) = run_to_end(&cluster, &wf).await;
    assert_eq!(state, ExecutionStatus::SUCCESS);

    // global_params that are not JSON (both the current and the _log row, as an API
    // edit would leave them).
    let mut conn = cluster.db_conn().await.unwrap();
    for table in ["t_ds_process_definition", "t_ds_process_definition_log"] {
        conn.exec(
            &format!("UPDATE {table} SET global_params = '[{{\"prop\":' WHERE code = ?"),
            params![wf.definition_code],
        )
        .await
        .unwrap();
    }
    let id = insert_command(&cluster, wf.definition_code, 0, 1, "{}").await;
    let m = error_message(&cluster, id).await;
    assert!(m.contains("global_params"), "{m}");
    assert_eq!(instances_of(&cluster, wf.definition_code).await, 1);

    for table in ["t_ds_process_definition", "t_ds_process_definition_log"] {
        conn.exec(
            &format!("UPDATE {table} SET global_params = '[]' WHERE code = ?"),
            params![wf.definition_code],
        )
        .await
        .unwrap();
    }
    let slow = import(&cluster, "fixtures/workflows/shell-slow-a-b.json").await;
    let (_, state) = run_to_end(&cluster, &slow).await;
    assert_eq!(state, ExecutionStatus::SUCCESS, "still serving at the end");
    let errors: Option<i64> = conn
        .first("SELECT COUNT(*) FROM t_ds_error_command", params![])
        .await
        .unwrap();
    assert_eq!(errors, Some(5));
    drop(conn);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_tenant_fails_the_workflow_and_bad_task_params_reach_the_worker() {
    let cluster = cluster(SchemaVersion::V2_0_2).await;
    let wf = import(&cluster, "fixtures/workflows/shell-a-b.json").await;
    let mut conn = cluster.db_conn().await.unwrap();

    // Tenant 99 does not exist and the owner (admin, tenant_id 0) has none either:
    // upstream sets the task FAILURE without dispatching it, and the instance fails.
    for table in ["t_ds_process_definition", "t_ds_process_definition_log"] {
        conn.exec(
            &format!("UPDATE {table} SET tenant_id = 99 WHERE code = ?"),
            params![wf.definition_code],
        )
        .await
        .unwrap();
    }
    let (id, state) = run_to_end(&cluster, &wf).await;
    assert_eq!(state, ExecutionStatus::FAILURE);
    let tasks: Vec<(String, i32, Option<String>)> = conn
        .all(
            "SELECT name, state, host FROM t_ds_task_instance WHERE process_instance_id = ? ORDER BY id",
            params![id],
        )
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1, "B never starts after A failed: {tasks:?}");
    assert_eq!((tasks[0].0.as_str(), tasks[0].1), ("A", 6), "task FAILURE");
    let end: Option<Option<chrono::NaiveDateTime>> = conn
        .first(
            "SELECT end_time FROM t_ds_process_instance WHERE id = ?",
            params![id],
        )
        .await
        .unwrap();
    assert!(
        end.flatten().is_some(),
        "the failed instance has an end time"
    );

    // Unparseable task_params of A: upstream passes the definition's text to the worker
    // unchanged (TaskExecutionContextBuilder copies it) and the worker decides; the master
    // does not fail the task itself. The stand-in worker reads no rawScript from it and runs
    // an empty script, so here the workflow succeeds; a real worker reports FAILURE.
    let slow = import(&cluster, "fixtures/workflows/shell-slow-a-b.json").await;
    conn.exec(
        "UPDATE t_ds_task_definition_log SET task_params = '{\"rawScript\": oops' WHERE code = ?",
        params![slow.task_codes[0]],
    )
    .await
    .unwrap();
    let (id, state) = run_to_end(&cluster, &slow).await;
    assert!(state.is_finished());
    assert_eq!(state, ExecutionStatus::SUCCESS, "the worker got the task");
    let rows: Vec<(String, i32)> = conn
        .all(
            "SELECT name, state FROM t_ds_task_instance WHERE process_instance_id = ? ORDER BY id",
            params![id],
        )
        .await
        .unwrap();
    assert_eq!(rows, vec![("A".to_string(), 7), ("B".to_string(), 7)]);
    drop(conn);
    cluster.stop().await;
}

/// Java readers of the task instance row (a Java master after failover, the API's
/// dependency views) parse `task_params` as a JSON object. For a definition whose
/// `task_params` is not JSON, upstream's `TaskNode.getTaskParams()` stores
/// `{"conditionResult":"null","dependence":"null","switchResult":"null","waitStartTimeout":null}`
/// (the bad text is replaced by an empty map). Our engine currently stores the bad text
/// verbatim (`construct::instance_task_params`); `TaskParams::instance_text` has the
/// upstream rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_task_params_are_stored_as_upstream_does() {
    let cluster = cluster(SchemaVersion::V2_0_5).await;
    let wf = import(&cluster, "fixtures/workflows/shell-a-b.json").await;
    let mut conn = cluster.db_conn().await.unwrap();
    conn.exec(
        "UPDATE t_ds_task_definition_log SET task_params = 'not json' WHERE code = ?",
        params![wf.task_codes[0]],
    )
    .await
    .unwrap();
    let (id, _) = run_to_end(&cluster, &wf).await;
    let params: Option<String> = conn
        .first(
            "SELECT task_params FROM t_ds_task_instance WHERE process_instance_id = ? ORDER BY id LIMIT 1",
            params![id],
        )
        .await
        .unwrap()
        .flatten();
    let v: serde_json::Value =
        serde_json::from_str(params.as_deref().unwrap_or("")).expect("a JSON object");
    assert_eq!(v["dependence"], "null");
    assert_eq!(v["conditionResult"], "null");
    assert_eq!(v["switchResult"], "null");
    assert!(v["waitStartTimeout"].is_null());
    drop(conn);
    cluster.stop().await;
}

/// The database freezes (SIGSTOP) while task A runs, then comes back: the workflow still
/// ends SUCCESS, with exactly one instance and one row per task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_freeze_mid_run_loses_and_duplicates_nothing() {
    let cluster = cluster(SchemaVersion::V2_0_5).await;
    let wf = import(&cluster, "fixtures/workflows/shell-slow-a-b.json").await;
    let command = cluster.start_workflow(&wf).await.expect("command");
    // Wait until A runs on the worker (state RUNNING_EXECUTION), then freeze for 4 s.
    let mut conn = cluster.db_conn().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let running: Option<i64> = conn
            .first(
                "SELECT COUNT(*) FROM t_ds_task_instance WHERE state = 1",
                params![],
            )
            .await
            .unwrap();
        if running == Some(1) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "A never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(conn);
    cluster.db.suspend();
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.db.resume();

    let (id, state) = cluster
        .wait_for_end(wf.definition_code, WAIT, |_| {})
        .await
        .expect("workflow ends");
    assert_eq!(state, ExecutionStatus::SUCCESS);
    let mut conn = cluster.db_conn().await.unwrap();
    let counts: (i64, i64, i64, i64) = conn
        .first(
            "SELECT (SELECT COUNT(*) FROM t_ds_process_instance), \
             (SELECT COUNT(*) FROM t_ds_task_instance WHERE process_instance_id = ?), \
             (SELECT COUNT(*) FROM t_ds_command WHERE id = ?), \
             (SELECT COUNT(*) FROM t_ds_error_command)",
            params![id, command],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        counts,
        (1, 2, 0, 0),
        "instances, tasks, command left, errors"
    );
    let states: Vec<i32> = conn
        .all(
            "SELECT state FROM t_ds_task_instance WHERE process_instance_id = ? ORDER BY id",
            params![id],
        )
        .await
        .unwrap();
    assert_eq!(states, vec![7, 7]);
    drop(conn);
    cluster.stop().await;
}

/// Commands arrive together and are taken in one intake batch (`master.fetch.command.num`
/// is 10): the one whose definition is missing and the one that does not decode go to the
/// error table alone; the others all start, once each, and succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_command_in_a_batch_goes_aside_alone() {
    let cluster = cluster(SchemaVersion::V2_0_5).await;
    let wf = import(&cluster, "fixtures/workflows/shell-a-b.json").await;
    let mut conn = cluster.db_conn().await.expect("conn");
    // One statement, so every row is visible to the same look at the table.
    let row = |code: i64, command_type: i32| {
        format!(
            "({command_type}, {code}, 1, 0, '{{}}', 2, 1, 0, 0, NOW(), 1, NOW(), 2, 'default', -1, 0)"
        )
    };
    let rows = [
        row(wf.definition_code, 0),
        row(wf.definition_code, 0),
        row(4399999999999, 0),
        row(wf.definition_code, 0),
        row(wf.definition_code, 11),
        row(wf.definition_code, 0),
    ];
    // The first id of a multi-row insert (MySQL's last-insert-id, PostgreSQL's first
    // RETURNING row).
    let (_, first) = conn.insert(&format!(
        "INSERT INTO t_ds_command (command_type, process_definition_code, process_definition_version, \
         process_instance_id, command_param, task_depend_type, failure_strategy, warning_type, \
         warning_group_id, start_time, executor_id, update_time, process_instance_priority, \
         worker_group, environment_code, dry_run) VALUES {}",
        rows.join(", ")
    ), params![])
    .await
    .expect("insert commands");
    let first = first.expect("id") as i32;
    assert_eq!(
        error_message(&cluster, first + 2).await,
        "process instance is null"
    );
    assert!(error_message(&cluster, first + 4)
        .await
        .contains("command_type"));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let done: Option<i64> = conn
            .first(
                "SELECT COUNT(*) FROM t_ds_process_instance WHERE process_definition_code = ? AND state = ?",
                params![wf.definition_code, ExecutionStatus::SUCCESS as i32],
            )
            .await
            .unwrap();
        if done == Some(4) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{done:?} of 4 instances succeeded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        instances_of(&cluster, wf.definition_code).await,
        4,
        "none twice"
    );
    let (left, errors): (Option<i64>, Option<i64>) = (
        conn.first("SELECT COUNT(*) FROM t_ds_command", params![])
            .await
            .unwrap(),
        conn.first("SELECT COUNT(*) FROM t_ds_error_command", params![])
            .await
            .unwrap(),
    );
    assert_eq!((left, errors), (Some(0), Some(2)));
    drop(conn);
    cluster.stop().await;
}
