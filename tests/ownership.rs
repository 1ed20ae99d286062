//! The takeover side is safe even when a stale master's write slips past its fence: a
//! workflow's own rows are written only while the process instance names the writer as host,
//! and a lost fence refuses every statement. Against a private MariaDB.

use dsmaster::model::ExecutionStatus;
use dsmaster::registry::{Fence, Fenced};
use dsmaster::store::{ConnectOptions, Error, Store, TaskInstance};
use dsmaster::testkit::cluster::init_test_logging;
use dsmaster::testkit::{MariaDb, SchemaVersion};
use mysql_async::prelude::*;

const US: &str = "10.0.0.1:5678";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_writes_change_nothing_once_the_instance_has_another_owner() {
    init_test_logging();
    let db = MariaDb::start().await.expect("mariadb");
    db.create_ds_database("ds", SchemaVersion::V2_0_5)
        .await
        .expect("database");
    let store = Store::connect(&ConnectOptions {
        dialect: dsmaster::store::Dialect::Mysql,
        url: db.ds_url("ds"),
        max_connections: 2,
        min_idle: 0,
        server_timezone: None,
        jvm_offset_seconds: None,
    })
    .await
    .expect("connect");
    store.schema_version().await.expect("schema");
    let fence = Fence::open();
    store.install_fence(fence.clone(), US);
    let mut conn = db.root_conn(Some("ds")).await.expect("conn");
    conn.exec_drop(
        "INSERT INTO t_ds_process_instance (name, process_definition_code, process_definition_version, state, host, start_time, executor_id, tenant_id) VALUES ('p', 1, 1, 1, ?, NOW(), 1, -1)",
        (US,),
    )
    .await
    .unwrap();
    let pid = conn.last_insert_id().unwrap() as i32;
    let task = TaskInstance {
        name: Some("A".into()),
        task_type: "SHELL".into(),
        task_code: 7,
        task_definition_version: 1,
        process_instance_id: pid,
        state: Some(ExecutionStatus::SUBMITTED_SUCCESS),
        ..TaskInstance::default()
    };

    // While ours: writes apply (a write that changes nothing is still ours).
    let tid = store.insert_task_instance(&task).await.expect("insert");
    assert!(tid > 0);
    store
        .update_task_dispatched(tid, "127.0.0.1:1234", store.clock().now())
        .await
        .expect("dispatch write");
    store
        .update_own_process_state(pid, ExecutionStatus::RUNNING_EXECUTION, None)
        .await
        .expect("unchanged but ours");

    // A peer fails us over.
    conn.exec_drop(
        "UPDATE t_ds_process_instance SET host = 'NULL' WHERE id = ?",
        (pid,),
    )
    .await
    .unwrap();
    let refused = |r: Result<(), Error>| matches!(r, Err(Error::NotOwner { .. }));
    assert!(refused(
        store
            .update_own_process_state(pid, ExecutionStatus::SUCCESS, Some(store.clock().now()))
            .await
    ));
    assert!(refused(
        store
            .update_task_state(tid, ExecutionStatus::SUCCESS, None, None)
            .await
    ));
    assert!(matches!(
        store.insert_task_instance(&task).await,
        Err(Error::NotOwner { .. })
    ));
    let rows: Vec<(i32, i32)> = conn
        .exec(
            "SELECT id, state FROM t_ds_task_instance WHERE process_instance_id = ?",
            (pid,),
        )
        .await
        .unwrap();
    assert_eq!(rows, vec![(tid, 0)], "no stale row and no stale state");
    let state: Option<i32> = conn
        .exec_first(
            "SELECT state FROM t_ds_process_instance WHERE id = ?",
            (pid,),
        )
        .await
        .unwrap();
    assert_eq!(state, Some(1));

    // The failover's own writes are not owner-guarded.
    store
        .failover_task_state(tid, ExecutionStatus::NEED_FAULT_TOLERANCE)
        .await
        .expect("failover write");

    // A lost fence refuses everything, reads included.
    fence.lose();
    assert!(matches!(
        store.find_process_instance(pid).await,
        Err(Error::Fenced(Fenced::Lost))
    ));
    store.close().await;
    db.stop().await;
}
