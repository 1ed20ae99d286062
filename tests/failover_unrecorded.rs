//! Taking over a workflow from a master that sent a task but never recorded where: a Java
//! 2.0.x master writes a task's worker only when the worker's ACK comes back, so if it dies
//! in between, the row is SUBMITTED_SUCCESS with no host, exactly like a row still in its
//! queue. Upstream's new owner dispatches it again and the task runs twice. We point every
//! live worker of the group at us first (PROCESS_HOST_UPDATE); the one that has the task
//! resends its ACK within a resend period, and only a task nobody claims is dispatched.
//!
//! The dead Java master is played by our own master stopped mid-task, with the rows then
//! put back to what the Java master would have left.

use dsmaster::model::ExecutionStatus;
use dsmaster::testkit::cluster::{init_test_logging, LocalCluster};
use dsmaster::testkit::worker::Behaviour;
use dsmaster::testkit::SchemaVersion;
use mysql_async::prelude::*;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// No master listens here and none is registered: the previous owner is dead.
const DEAD_MASTER: &str = "127.0.0.1:1";

async fn wait_task_state(conn: &mut mysql_async::Conn, name: &str, state: i32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: Option<i64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM t_ds_task_instance WHERE name = ? AND state = ?",
                (name, state),
            )
            .await
            .unwrap();
        if n == Some(1) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "task {name} never reached state {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Leaves the rows as a Java master dying between send and ACK would: the task queued with
/// no worker and no start, the instance owned by a master that is gone.
async fn as_left_by_a_dead_java_master(conn: &mut mysql_async::Conn) {
    conn.query_drop(
        "UPDATE t_ds_task_instance SET state = 0, host = NULL, start_time = NULL, \
         execute_path = NULL, log_path = NULL WHERE name = 'A'",
    )
    .await
    .unwrap();
    conn.exec_drop("UPDATE t_ds_process_instance SET host = ?", (DEAD_MASTER,))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_sent_but_unrecorded_is_claimed_by_its_worker_not_run_again() {
    init_test_logging();
    let mut cluster = LocalCluster::start(SchemaVersion::V2_0_5)
        .await
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
    let mut conn = cluster.conn().await.expect("conn");
    // A (3 s) runs on the worker; the master dies.
    wait_task_state(&mut conn, "A", 1).await;
    cluster.master.take().expect("master").shutdown().await;
    as_left_by_a_dead_java_master(&mut conn).await;

    let started = Instant::now();
    cluster.start_master().await.expect("the new owner");
    let (id, state) = cluster
        .wait_for_end(wf.definition_code, Duration::from_secs(60), |_| {})
        .await
        .expect("workflow ends");
    assert_eq!(state, ExecutionStatus::SUCCESS);
    let worker = cluster.worker.as_ref().expect("worker");
    let a_runs = worker
        .events()
        .iter()
        .filter(|e| !e.result && e.process_instance_id == id)
        .count();
    assert_eq!(a_runs, 2, "A and B each ran once (A was not sent again)");
    let rows: Vec<(String, i32)> = conn
        .exec(
            "SELECT name, state FROM t_ds_task_instance WHERE process_instance_id = ? ORDER BY id",
            (id,),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "no new row for A: {rows:?}");
    // The same row took A's result (the stand-in's ACK was already confirmed by the master
    // that died, so only its result came back; a 2.0.5 worker would resend its ACK too).
    assert_eq!(rows[0].1, 7, "A succeeded on its first row: {rows:?}");
    eprintln!("taken over and finished in {:?}", started.elapsed());
    drop(conn);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_task_no_worker_claims_is_dispatched_after_one_resend_period() {
    init_test_logging();
    let mut cluster = LocalCluster::start(SchemaVersion::V2_0_5)
        .await
        .expect("cluster");
    // No worker yet: A is created and waits in the queue.
    cluster.start_master().await.expect("master");
    let wf = cluster
        .import(Path::new("fixtures/workflows/shell-slow-a-b.json"))
        .await
        .expect("import")
        .remove(0);
    cluster.start_workflow(&wf).await.expect("command");
    let mut conn = cluster.conn().await.expect("conn");
    wait_task_state(&mut conn, "A", 0).await;
    cluster.master.take().expect("master").shutdown().await;
    as_left_by_a_dead_java_master(&mut conn).await;

    cluster
        .start_worker(Behaviour::RunShell)
        .await
        .expect("worker");
    let started = Instant::now();
    cluster.start_master().await.expect("the new owner");
    let (id, state) = cluster
        .wait_for_end(wf.definition_code, Duration::from_secs(90), |_| {})
        .await
        .expect("workflow ends");
    assert_eq!(state, ExecutionStatus::SUCCESS);
    let took = started.elapsed();
    let runs = cluster
        .worker
        .as_ref()
        .expect("worker")
        .events()
        .iter()
        .filter(|e| !e.result && e.process_instance_id == id)
        .count();
    assert_eq!(runs, 2, "A and B each ran once");
    // A waited one resend period for a claim, then ran (3 s), then B.
    assert!(
        took >= Duration::from_secs(12),
        "dispatched after the wait: {took:?}"
    );
    drop(conn);
    cluster.stop().await;
}
