//! A master restarted mid-workflow picks up where it left off: the new incarnation's
//! failover sweep hands its previous incarnation's instance over (host 'NULL' + a
//! RECOVER_TOLERANCE_FAULT_PROCESS command), intake takes it back, PROCESS_HOST_UPDATE
//! rebinds the running task on the worker, whose resent result reaches the new master.

use dsmaster::model::ExecutionStatus;
use dsmaster::params;
use dsmaster::store::Dialect;
use dsmaster::testkit::cluster::{init_test_logging, LocalCluster};
use dsmaster::testkit::worker::Behaviour;
use dsmaster::testkit::SchemaVersion;
use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_master_finishes_the_running_workflow() {
    restart_mid_workflow(Dialect::Mysql).await;
}

/// The hand-over and recovery transactions on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_master_finishes_the_running_workflow_on_postgresql() {
    restart_mid_workflow(Dialect::Postgres).await;
}

async fn restart_mid_workflow(dialect: Dialect) {
    init_test_logging();
    let mut cluster = match dialect {
        Dialect::Mysql => LocalCluster::start(SchemaVersion::V2_0_5).await,
        Dialect::Postgres => LocalCluster::start_postgres(SchemaVersion::V2_0_5).await,
    }
    .expect("cluster");
    cluster.start_master().await.expect("master");
    cluster
        .start_worker(Behaviour::RunShell)
        .await
        .expect("worker");
    let wf = cluster
        .import(Path::new("fixtures/workflows/shell-slow-a-b.json"))
        .await
        .expect("import")
        .remove(0);
    cluster.start_workflow(&wf).await.expect("command");

    // Wait until A runs on the worker (it sleeps 3 s), then restart the master.
    let mut conn = cluster.db_conn().await.expect("conn");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let running: Option<i64> = conn
            .first(
                "SELECT COUNT(*) FROM t_ds_task_instance WHERE name = 'A' AND state = 1",
                params![],
            )
            .await
            .unwrap();
        if running == Some(1) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "task A never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let old = cluster.master.take().expect("running master");
    let addr = old.addr.clone();
    old.shutdown().await;
    cluster.start_master().await.expect("master again");
    assert_eq!(cluster.master.as_ref().unwrap().addr, addr, "same identity");

    let (id, state) = cluster
        .wait_for_end(wf.definition_code, Duration::from_secs(60), |_| {})
        .await
        .expect("workflow ends");
    assert_eq!(state, ExecutionStatus::SUCCESS);
    let row: (i32, String, String) = conn
        .first(
            "SELECT recovery, history_cmd, host FROM t_ds_process_instance WHERE id = ?",
            params![id],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.0, 1, "recovery flag");
    assert_eq!(row.1, "START_PROCESS,RECOVER_TOLERANCE_FAULT_PROCESS");
    assert_eq!(row.2, addr);
    let tasks: Vec<(String, i32, i32)> = conn
        .all(
            "SELECT name, state, flag FROM t_ds_task_instance WHERE process_instance_id = ? ORDER BY id",
            params![id],
        )
        .await
        .unwrap();
    assert_eq!(
        tasks,
        vec![("A".to_string(), 7, 1), ("B".to_string(), 7, 1)],
        "A ran once (not re-dispatched), B after it"
    );
    let commands: Option<i64> = conn
        .first("SELECT COUNT(*) FROM t_ds_command", params![])
        .await
        .unwrap();
    let errors: Option<i64> = conn
        .first("SELECT COUNT(*) FROM t_ds_error_command", params![])
        .await
        .unwrap();
    assert_eq!((commands, errors), (Some(0), Some(0)));
    drop(conn);
    cluster.stop().await;
}
