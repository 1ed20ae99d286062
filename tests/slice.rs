//! The foundation's vertical slice, end to end against a real MariaDB (and PostgreSQL) and
//! ZooKeeper: a
//! two-task workflow written as the API server writes it, started by a START_PROCESS command,
//! run by our master through a stand-in worker speaking the wire protocol, ending SUCCESS
//! with the rows a Java 2.0.5 master leaves.

use dsmaster::model::ExecutionStatus;
use dsmaster::params;
use dsmaster::store::db::Row;
use dsmaster::store::Dialect;
use dsmaster::testkit::cluster::{init_test_logging, LocalCluster};
use dsmaster::testkit::worker::Behaviour;
use dsmaster::testkit::SchemaVersion;
use std::path::Path;
use std::time::Duration;

async fn run_slice(schema: SchemaVersion, dialect: Dialect) {
    init_test_logging();
    let mut cluster = match dialect {
        Dialect::Mysql => LocalCluster::start(schema).await,
        Dialect::Postgres => LocalCluster::start_postgres(schema).await,
    }
    .expect("cluster");
    let master_addr = cluster.start_master().await.expect("master").addr.clone();
    cluster
        .start_worker(Behaviour::RunShell)
        .await
        .expect("worker");
    let worker_addr = cluster
        .worker
        .as_ref()
        .map(|w| w.addr().to_string())
        .unwrap();
    let wf = cluster
        .import(Path::new("fixtures/workflows/shell-a-b.json"))
        .await
        .expect("import")
        .remove(0);
    let command = cluster.start_workflow(&wf).await.expect("command");
    let (id, state) = cluster
        .wait_for_end(wf.definition_code, Duration::from_secs(60), |_| {})
        .await
        .expect("workflow ends");
    assert_eq!(state, ExecutionStatus::SUCCESS);

    let mut conn = cluster.db_conn().await.expect("conn");
    let left: Option<i64> = conn
        .first(
            "SELECT COUNT(*) FROM t_ds_command WHERE id = ?",
            params![command],
        )
        .await
        .unwrap();
    assert_eq!(left, Some(0), "the command is consumed");
    let errors: Option<i64> = conn
        .first("SELECT COUNT(*) FROM t_ds_error_command", params![])
        .await
        .unwrap();
    assert_eq!(errors, Some(0));

    // The process instance row, as a 2.0.5 master leaves it.
    let row: Row = conn
        .first(
            "SELECT name, state, run_times, host, command_type, recovery, history_cmd, is_sub_process, start_time, end_time \
             FROM t_ds_process_instance WHERE id = ?",
            params![id],
        )
        .await
        .unwrap()
        .unwrap();
    let name: String = row.get("name").unwrap();
    assert!(name.starts_with("shell-a-b-1-"), "instance name {name}");
    assert_eq!(row.get::<i32, _>("state"), Some(7));
    assert_eq!(row.get::<i32, _>("run_times"), Some(1));
    assert_eq!(row.get::<String, _>("host"), Some(master_addr.clone()));
    assert_eq!(row.get::<i32, _>("command_type"), Some(0), "START_PROCESS");
    assert_eq!(row.get::<i32, _>("recovery"), Some(0), "recovery NO");
    assert_eq!(
        row.get::<String, _>("history_cmd").as_deref(),
        Some("START_PROCESS")
    );
    assert_eq!(row.get::<i32, _>("is_sub_process"), Some(0));
    let start: Option<chrono::NaiveDateTime> = row.get("start_time").unwrap();
    let end: Option<chrono::NaiveDateTime> = row.get("end_time").unwrap();
    assert!(start.is_some() && end.is_some() && start <= end);

    // Task instances: A then B, both SUCCESS on the worker, with codes and versions.
    let tasks: Vec<Row> = conn
        .all(
            "SELECT name, task_type, task_code, task_definition_version, state, host, flag, log_path, task_params \
             FROM t_ds_task_instance WHERE process_instance_id = ? ORDER BY id",
            params![id],
        )
        .await
        .unwrap();
    assert_eq!(tasks.len(), 2);
    for (i, (t, expected)) in tasks.iter().zip(["A", "B"]).enumerate() {
        let name: String = t.get("name").unwrap();
        assert_eq!(name, expected);
        assert_eq!(t.get::<String, _>("task_type").as_deref(), Some("SHELL"));
        assert_eq!(t.get::<i64, _>("task_code"), Some(wf.task_codes[i]));
        assert_eq!(t.get::<i32, _>("task_definition_version"), Some(1));
        assert_eq!(t.get::<i32, _>("state"), Some(7), "task {name} SUCCESS");
        assert_eq!(
            t.get::<String, _>("host").as_deref(),
            Some(worker_addr.as_str())
        );
        assert_eq!(t.get::<i32, _>("flag"), Some(1), "valid row");
        assert!(
            t.get::<Option<String>, _>("log_path").flatten().is_some(),
            "log path from the worker's ack"
        );
        let params: String = t.get("task_params").unwrap();
        let params: serde_json::Value = serde_json::from_str(&params).unwrap();
        assert_eq!(
            params["dependence"], "{}",
            "dependence stored as a JSON string"
        );
        assert_eq!(
            params["conditionResult"]
                .as_str()
                .map(|s| s.starts_with('{')),
            Some(true)
        );
        assert!(params["waitStartTimeout"].is_null());
    }
    let times: Vec<(Option<chrono::NaiveDateTime>, Option<chrono::NaiveDateTime>, Option<chrono::NaiveDateTime>)> = conn
        .all(
            "SELECT submit_time, start_time, end_time FROM t_ds_task_instance WHERE process_instance_id = ? ORDER BY id",
            params![id],
        )
        .await
        .unwrap();
    for (submit, start, end) in &times {
        assert!(submit.is_some() && start.is_some() && end.is_some());
    }
    assert!(times[0].2 <= times[1].1, "B starts after A ended");
    drop(conn);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shell_tasks_run_to_success_on_2_0_5_schema() {
    run_slice(SchemaVersion::V2_0_5, Dialect::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shell_tasks_run_to_success_on_2_0_5_postgresql_schema() {
    run_slice(SchemaVersion::V2_0_5, Dialect::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shell_tasks_run_to_success_on_2_0_2_postgresql_schema() {
    run_slice(SchemaVersion::V2_0_2, Dialect::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shell_tasks_run_to_success_on_2_0_2_schema() {
    run_slice(SchemaVersion::V2_0_2, Dialect::Mysql).await;
}
