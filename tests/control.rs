//! Workflow control end to end (real MariaDB and ZooKeeper, our master, the stand-in worker):
//! retries, failure strategies, stop, pause and recover, rerun — driven the way the API server
//! drives a master (rows, commands and STATE_EVENT_REQUEST frames).

use dsmaster::model::{CommandType, ExecutionStatus, FailureStrategy};
use dsmaster::params;
use dsmaster::testkit::cluster::{init_test_logging, LocalCluster};
use dsmaster::testkit::fixtures::{self, ImportedWorkflow};
use dsmaster::testkit::worker::Behaviour;
use dsmaster::testkit::{api, SchemaVersion};
use std::path::Path;
use std::time::Duration;

type TaskRow = (String, i32, i32, i32);

async fn cluster() -> LocalCluster {
    init_test_logging();
    let mut c = LocalCluster::start_on_test_db(SchemaVersion::V2_0_5)
        .await
        .expect("cluster");
    c.start_master().await.expect("master");
    c.start_worker(Behaviour::RunShell).await.expect("worker");
    c
}

async fn import(c: &LocalCluster, file: &str) -> ImportedWorkflow {
    c.import(Path::new(file)).await.expect("import").remove(0)
}

/// (name, state, flag, retry_times) of every row, by id.
async fn tasks(c: &LocalCluster, instance: i32) -> Vec<TaskRow> {
    let mut conn = c.db_conn().await.unwrap();
    conn.all(
        "SELECT name, state, flag, retry_times FROM t_ds_task_instance WHERE process_instance_id = ? ORDER BY id",
        params![instance],
    )
    .await
    .unwrap()
}

async fn wait_task_running(c: &LocalCluster, name: &str) -> i32 {
    let mut conn = c.db_conn().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let row: Option<i32> = conn
            .first(
                "SELECT process_instance_id FROM t_ds_task_instance WHERE name = ? AND state = 1",
                params![name],
            )
            .await
            .unwrap();
        if let Some(id) = row {
            return id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task {name} never ran"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

fn s(name: &str, state: ExecutionStatus, flag: i32, retry: i32) -> TaskRow {
    (name.to_string(), state.code(), flag, retry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_task_succeeds_on_retry() {
    let c = cluster().await;
    let wf = import(&c, "fixtures/workflows/shell-retry.json").await;
    c.start_workflow(&wf).await.unwrap();
    let (id, state) = c
        .wait_for_end(wf.definition_code, Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    assert_eq!(state, ExecutionStatus::SUCCESS);
    assert_eq!(
        tasks(&c, id).await,
        vec![
            s("A", ExecutionStatus::FAILURE, 0, 0),
            s("A", ExecutionStatus::SUCCESS, 1, 1),
            s("B", ExecutionStatus::SUCCESS, 1, 0),
        ],
        "2.0.5 retries insert a new row and keep the failed one as history"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_strategy_continue_runs_independent_branches() {
    let c = cluster().await;
    let wf = import(&c, "fixtures/workflows/shell-fail-branch.json").await;
    c.start_workflow(&wf).await.unwrap();
    let (id, state) = c
        .wait_for_end(wf.definition_code, Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    assert_eq!(state, ExecutionStatus::FAILURE);
    let mut rows = tasks(&c, id).await;
    rows.sort();
    assert_eq!(
        rows,
        vec![
            s("A", ExecutionStatus::FAILURE, 1, 0),
            s("C", ExecutionStatus::SUCCESS, 1, 0)
        ],
        "B never runs after its failed parent; C finishes"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_strategy_end_kills_the_rest() {
    let c = cluster().await;
    let wf = import(&c, "fixtures/workflows/shell-fail-branch.json").await;
    let mut conn = c.db_conn().await.unwrap();
    fixtures::insert_start_command_with(&mut conn, &wf, FailureStrategy::END)
        .await
        .unwrap();
    let (id, state) = c
        .wait_for_end(wf.definition_code, Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    assert_eq!(state, ExecutionStatus::FAILURE);
    let mut rows = tasks(&c, id).await;
    rows.sort();
    assert_eq!(
        rows,
        vec![
            s("A", ExecutionStatus::FAILURE, 1, 0),
            s("C", ExecutionStatus::KILL, 1, 0)
        ]
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_mid_run_kills_the_running_task() {
    let c = cluster().await;
    let wf = import(&c, "fixtures/workflows/shell-slow-a-b.json").await;
    c.start_workflow(&wf).await.unwrap();
    let id = wait_task_running(&c, "A").await;
    let mut conn = c.db_conn().await.unwrap();
    api::stop_or_pause(&mut conn, id, false, c.master.as_ref().unwrap().dialect)
        .await
        .unwrap();
    let (_, state) = c
        .wait_for_end(wf.definition_code, Duration::from_secs(30), |_| {})
        .await
        .unwrap();
    assert_eq!(state, ExecutionStatus::STOP);
    assert_eq!(
        tasks(&c, id).await,
        vec![s("A", ExecutionStatus::KILL, 1, 0)]
    );
    let history: Option<String> = conn
        .first(
            "SELECT history_cmd FROM t_ds_process_instance WHERE id = ?",
            params![id],
        )
        .await
        .unwrap();
    assert_eq!(history.as_deref(), Some("START_PROCESS,STOP"));
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_then_recover_finishes_the_workflow() {
    let c = cluster().await;
    let wf = import(&c, "fixtures/workflows/shell-slow-a-b.json").await;
    c.start_workflow(&wf).await.unwrap();
    let id = wait_task_running(&c, "A").await;
    let mut conn = c.db_conn().await.unwrap();
    api::stop_or_pause(&mut conn, id, true, c.master.as_ref().unwrap().dialect)
        .await
        .unwrap();
    let (_, state) = c
        .wait_for_end(wf.definition_code, Duration::from_secs(30), |_| {})
        .await
        .unwrap();
    assert_eq!(state, ExecutionStatus::PAUSE);
    assert_eq!(
        tasks(&c, id).await,
        vec![
            s("A", ExecutionStatus::SUCCESS, 1, 0),
            s("B", ExecutionStatus::PAUSE, 1, 0)
        ],
        "the running task completes; the next one is created paused"
    );
    api::command_for_instance(&mut conn, id, CommandType::RECOVER_SUSPENDED_PROCESS)
        .await
        .unwrap();
    // The instance leaves PAUSE once the master takes the command.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let st: Option<i32> = conn
            .first(
                "SELECT state FROM t_ds_process_instance WHERE id = ?",
                params![id],
            )
            .await
            .unwrap();
        if st == Some(ExecutionStatus::SUCCESS.code()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "recovered instance did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        tasks(&c, id).await,
        vec![
            s("A", ExecutionStatus::SUCCESS, 1, 0),
            s("B", ExecutionStatus::SUCCESS, 1, 0)
        ],
        "the paused row itself is resubmitted"
    );
    let row: (i32, String) = conn
        .first(
            "SELECT run_times, history_cmd FROM t_ds_process_instance WHERE id = ?",
            params![id],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row,
        (
            2,
            "START_PROCESS,PAUSE,RECOVER_SUSPENDED_PROCESS".to_string()
        )
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_keeps_old_rows_as_history() {
    let c = cluster().await;
    let wf = import(&c, "fixtures/workflows/shell-a-b.json").await;
    c.start_workflow(&wf).await.unwrap();
    let (id, state) = c
        .wait_for_end(wf.definition_code, Duration::from_secs(30), |_| {})
        .await
        .unwrap();
    assert_eq!(state, ExecutionStatus::SUCCESS);
    let mut conn = c.db_conn().await.unwrap();
    api::command_for_instance(&mut conn, id, CommandType::REPEAT_RUNNING)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let pending: Option<i64> = conn
            .first("SELECT COUNT(*) FROM t_ds_command", params![])
            .await
            .unwrap();
        if pending != Some(0) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "rerun command never taken"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let done: Option<i64> = conn
            .first(
                "SELECT COUNT(*) FROM t_ds_task_instance WHERE process_instance_id = ? AND flag = 1 AND state = 7",
                params![id],
            )
            .await
            .unwrap();
        let st: Option<i32> = conn
            .first(
                "SELECT state FROM t_ds_process_instance WHERE id = ?",
                params![id],
            )
            .await
            .unwrap();
        if done == Some(2) && st == Some(7) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rerun did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows = tasks(&c, id).await;
    assert_eq!(
        rows,
        vec![
            s("A", ExecutionStatus::SUCCESS, 0, 0),
            s("B", ExecutionStatus::SUCCESS, 0, 0),
            s("A", ExecutionStatus::SUCCESS, 1, 0),
            s("B", ExecutionStatus::SUCCESS, 1, 0),
        ]
    );
    let run_times: Option<i32> = conn
        .first(
            "SELECT run_times FROM t_ds_process_instance WHERE id = ?",
            params![id],
        )
        .await
        .unwrap();
    assert_eq!(run_times, Some(2));
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_worker_link_is_redialed_and_tasks_rebound() {
    let c = cluster().await;
    let wf = import(&c, "fixtures/workflows/shell-slow-a-b.json").await;
    c.start_workflow(&wf).await.unwrap();
    let id = wait_task_running(&c, "A").await;
    c.worker.as_ref().unwrap().drop_connections().await.unwrap();
    let (id2, state) = c
        .wait_for_end(wf.definition_code, Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    assert_eq!((id2, state), (id, ExecutionStatus::SUCCESS));
    assert_eq!(
        tasks(&c, id).await,
        vec![
            s("A", ExecutionStatus::SUCCESS, 1, 0),
            s("B", ExecutionStatus::SUCCESS, 1, 0)
        ],
        "A's result reached us over the new link; nothing ran twice"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_of_a_vanished_worker_is_resubmitted_elsewhere() {
    let mut c = cluster().await;
    let wf = import(&c, "fixtures/workflows/shell-slow-a-b.json").await;
    c.start_workflow(&wf).await.unwrap();
    let id = wait_task_running(&c, "A").await;
    // The worker dies (its node goes); another one is there to take the task.
    let first = c.worker.take().unwrap();
    c.start_worker(Behaviour::RunShell).await.unwrap();
    first.stop().await;
    let (_, state) = c
        .wait_for_end(wf.definition_code, Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    assert_eq!(state, ExecutionStatus::SUCCESS);
    assert_eq!(
        tasks(&c, id).await,
        vec![
            s("A", ExecutionStatus::NEED_FAULT_TOLERANCE, 0, 0),
            s("A", ExecutionStatus::SUCCESS, 1, 0),
            s("B", ExecutionStatus::SUCCESS, 1, 0),
        ],
        "2.0.5: the fault-tolerance row becomes history; the new row keeps retry_times"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_route_to_the_branch_their_dependence_picks() {
    let c = cluster().await;
    for (file, a, cond, ran) in [
        (
            "fixtures/workflows/conditions-a-fails.json",
            ExecutionStatus::FAILURE,
            ExecutionStatus::FAILURE,
            "C",
        ),
        (
            "fixtures/workflows/conditions-a-succeeds.json",
            ExecutionStatus::SUCCESS,
            ExecutionStatus::SUCCESS,
            "B",
        ),
    ] {
        let wf = import(&c, file).await;
        c.start_workflow(&wf).await.unwrap();
        let (id, state) = c
            .wait_for_end(wf.definition_code, Duration::from_secs(60), |_| {})
            .await
            .unwrap();
        assert_eq!(
            state,
            ExecutionStatus::SUCCESS,
            "{file}: a judged failure does not fail the workflow"
        );
        assert_eq!(
            tasks(&c, id).await,
            vec![
                s("A", a, 1, 0),
                s("COND", cond, 1, 0),
                s(ran, ExecutionStatus::SUCCESS, 1, 0)
            ],
            "{file}: only the chosen branch runs"
        );
        let mut conn = c.db_conn().await.unwrap();
        let host: Option<String> = conn
            .first("SELECT host FROM t_ds_task_instance WHERE process_instance_id = ? AND name = 'COND'", params![id])
            .await
            .unwrap();
        assert_eq!(
            host.as_deref(),
            Some(c.master.as_ref().unwrap().addr.as_str()),
            "judged on the master"
        );
    }
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_follows_the_global_parameter() {
    let c = cluster().await;
    for (file, ran, location) in [
        ("fixtures/workflows/switch-x-5.json", "B", 0),
        ("fixtures/workflows/switch-x-0.json", "C", 1),
    ] {
        let wf = import(&c, file).await;
        c.start_workflow(&wf).await.unwrap();
        let (id, state) = c
            .wait_for_end(wf.definition_code, Duration::from_secs(60), |_| {})
            .await
            .unwrap();
        assert_eq!(state, ExecutionStatus::SUCCESS, "{file}");
        assert_eq!(
            tasks(&c, id).await,
            vec![
                s("A", ExecutionStatus::SUCCESS, 1, 0),
                s("SW", ExecutionStatus::SUCCESS, 1, 0),
                s(ran, ExecutionStatus::SUCCESS, 1, 0)
            ],
            "{file}: only the chosen branch runs"
        );
        let mut conn = c.db_conn().await.unwrap();
        let params: Option<String> = conn
            .first("SELECT task_params FROM t_ds_task_instance WHERE process_instance_id = ? AND name = 'SW'", params![id])
            .await
            .unwrap();
        let params: serde_json::Value = serde_json::from_str(&params.unwrap()).unwrap();
        let stored: serde_json::Value =
            serde_json::from_str(params["switchResult"].as_str().unwrap()).unwrap();
        assert_eq!(
            stored["resultConditionLocation"], location,
            "{file}: the decision is written back as a JSON string"
        );
    }
    c.stop().await;
}

/// Takes just over a minute: DolphinScheduler timeouts are whole minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_write_warn_alerts_and_the_workflow_goes_on() {
    let c = cluster().await;
    let wf = import(&c, "fixtures/workflows/timeout-warn.json").await;
    c.start_workflow(&wf).await.unwrap();
    let (_, state) = c
        .wait_for_end(wf.definition_code, Duration::from_secs(120), |_| {})
        .await
        .unwrap();
    assert_eq!(
        state,
        ExecutionStatus::SUCCESS,
        "a timeout alert does not stop the workflow"
    );
    let mut conn = c.db_conn().await.unwrap();
    let titles: Vec<String> = conn
        .all("SELECT title FROM t_ds_alert ORDER BY title", params![])
        .await
        .unwrap();
    assert_eq!(titles, vec!["Process Timeout Warn", "Task Timeout Warn"]);
    let content: Option<String> = conn
        .first(
            "SELECT content FROM t_ds_alert WHERE title = 'Task Timeout Warn'",
            params![],
        )
        .await
        .unwrap();
    let content: serde_json::Value = serde_json::from_str(&content.unwrap()).unwrap();
    assert_eq!(content[0]["event"], "TIME_OUT");
    assert_eq!(content[0]["taskName"], "A");
    c.stop().await;
}
