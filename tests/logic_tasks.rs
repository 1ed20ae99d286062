//! Logic tasks and commands end to end (real MariaDB and ZooKeeper, our master, the stand-in
//! worker): SUB_PROCESS, DEPENDENT, COMPLEMENT_DATA and RECOVER_WAITING_THREAD, checked on the
//! rows the API server and other masters read.

use dsmaster::model::ExecutionStatus;
use dsmaster::params;
use dsmaster::testkit::cluster::{init_test_logging, LocalCluster};
use dsmaster::testkit::fixtures::ImportedWorkflow;
use dsmaster::testkit::worker::Behaviour;
use dsmaster::testkit::{api, SchemaVersion};
use std::path::Path;
use std::time::Duration;

async fn cluster() -> LocalCluster {
    init_test_logging();
    let mut c = LocalCluster::start_on_test_db(SchemaVersion::V2_0_5)
        .await
        .expect("cluster");
    c.start_master().await.expect("master");
    c.start_worker(Behaviour::RunShell).await.expect("worker");
    c
}

async fn import(c: &LocalCluster, file: &str) -> Vec<ImportedWorkflow> {
    c.import(Path::new(file)).await.expect("import")
}

/// (name, state, flag) of every task row of an instance, by id.
async fn tasks(c: &LocalCluster, instance: i32) -> Vec<(String, i32, i32)> {
    let mut conn = c.db_conn().await.unwrap();
    conn.all(
        "SELECT name, state, flag FROM t_ds_task_instance WHERE process_instance_id = ? ORDER BY id",
        params![instance],
    )
    .await
    .unwrap()
}

fn row(name: &str, state: ExecutionStatus) -> (String, i32, i32) {
    (name.to_string(), state.code(), 1)
}

async fn wait_task_state(c: &LocalCluster, name: &str, state: ExecutionStatus) -> (i32, i32) {
    let mut conn = c.db_conn().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r: Option<(i32, i32)> = conn
            .first(
                "SELECT id, process_instance_id FROM t_ds_task_instance WHERE name = ? AND state = ? ORDER BY id DESC",
                params![name, state.code()],
            )
            .await
            .unwrap();
        if let Some(r) = r {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task {name} never reached {state}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn count(c: &LocalCluster, sql: &str) -> i64 {
    let mut conn = c.db_conn().await.unwrap();
    conn.first(sql, params![]).await.unwrap().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_process_runs_the_child_and_takes_its_outcome() {
    let c = cluster().await;
    let mut conn = c.db_conn().await.unwrap();

    // 1. Success, with the parent's global passed down as upstream does.
    let wfs = import(&c, "fixtures/workflows/logic-sub-ok.json").await;
    let (child_wf, parent_wf) = (&wfs[0], &wfs[1]);
    c.start_workflow(parent_wf).await.unwrap();
    let (parent, state) = c
        .wait_for_end(parent_wf.definition_code, Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    assert_eq!(state, ExecutionStatus::SUCCESS);
    assert_eq!(
        tasks(&c, parent).await,
        vec![
            row("S", ExecutionStatus::SUCCESS),
            row("T", ExecutionStatus::SUCCESS)
        ]
    );
    let s_row: (i32, Option<String>, Option<String>) = conn
        .first(
            "SELECT id, host, start_time FROM t_ds_task_instance WHERE process_instance_id = ? AND name = 'S'",
            params![parent],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s_row.1, None, "SUB_PROCESS rows carry no host");
    assert!(
        s_row.2.is_some(),
        "the task got its start time once the child existed"
    );
    let map: (i32, i32, i32) = conn
        .first(
            "SELECT id, parent_task_instance_id, process_instance_id FROM t_ds_relation_process_instance WHERE parent_process_instance_id = ?",
            params![parent],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(map.1, s_row.0);
    let child = map.2;
    let child_row: (i64, i32, i32, i32, String, Option<String>, String) = conn
        .first(
            "SELECT process_definition_code, state, is_sub_process, command_type, command_param, global_params, history_cmd FROM t_ds_process_instance WHERE id = ?",
            params![child],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(child_row.0, child_wf.definition_code);
    assert_eq!(child_row.1, ExecutionStatus::SUCCESS.code());
    assert_eq!(child_row.2, 1, "is_sub_process");
    assert_eq!(child_row.3, 0, "first command of the parent's history");
    assert_eq!(
        child_row.4,
        format!(
            r#"{{"id":"{}","parentProcessInstanceId":"{parent}","parentTaskInstanceId":"{}","fatherParams":"{{\"x\":\"from-parent\"}}","processInstanceId":"{child}"}}"#,
            map.0, s_row.0
        )
    );
    assert_eq!(
        child_row.5.as_deref(),
        Some(
            r#"[{"prop":"x","direct":"IN","type":"VARCHAR","value":"from-parent"},{"prop":"y","direct":"IN","type":"VARCHAR","value":"child-y"}]"#
        ),
        "parent globals first, then the child's own"
    );
    assert_eq!(child_row.6, "START_PROCESS");
    assert_eq!(
        tasks(&c, child).await,
        vec![
            row("CA", ExecutionStatus::SUCCESS),
            row("CB", ExecutionStatus::SUCCESS)
        ]
    );

    // 2. The child fails: the sub-process task fails without retry, the parent fails.
    let wfs = import(&c, "fixtures/workflows/logic-sub-fail.json").await;
    let (child_wf, parent_wf) = (&wfs[0], &wfs[1]);
    c.start_workflow(parent_wf).await.unwrap();
    let (parent, state) = c
        .wait_for_end(parent_wf.definition_code, Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    assert_eq!(state, ExecutionStatus::FAILURE);
    assert_eq!(
        tasks(&c, parent).await,
        vec![row("S", ExecutionStatus::FAILURE)],
        "never retried although fail_retry_times = 2; T never runs"
    );
    let (_, child_state) = c
        .wait_for_end(child_wf.definition_code, Duration::from_secs(5), |_| {})
        .await
        .unwrap();
    assert_eq!(child_state, ExecutionStatus::FAILURE);

    // 3. Stopping the parent stops the child.
    let wfs = import(&c, "fixtures/workflows/logic-sub-slow.json").await;
    let (child_wf, parent_wf) = (&wfs[0], &wfs[1]);
    c.start_workflow(parent_wf).await.unwrap();
    let (_, child) = wait_task_state(&c, "CA", ExecutionStatus::RUNNING_EXECUTION).await;
    let (_, parent) = wait_task_state(&c, "S", ExecutionStatus::RUNNING_EXECUTION).await;
    let began = tokio::time::Instant::now();
    api::stop_or_pause(&mut conn, parent, false, c.master.as_ref().unwrap().dialect)
        .await
        .unwrap();
    let (_, state) = c
        .wait_for_end(parent_wf.definition_code, Duration::from_secs(30), |_| {})
        .await
        .unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "the child was killed, not waited for"
    );
    assert_eq!(state, ExecutionStatus::STOP);
    assert_eq!(
        tasks(&c, parent).await,
        vec![row("S", ExecutionStatus::STOP)]
    );
    let (id, child_state) = c
        .wait_for_end(child_wf.definition_code, Duration::from_secs(5), |_| {})
        .await
        .unwrap();
    assert_eq!((id, child_state), (child, ExecutionStatus::STOP));
    assert_eq!(
        tasks(&c, child).await,
        vec![row("CA", ExecutionStatus::KILL)]
    );

    assert_eq!(count(&c, "SELECT COUNT(*) FROM t_ds_command").await, 0);
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM t_ds_error_command").await,
        0
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependent_waits_for_the_other_workflow_and_ends_promptly() {
    let c = cluster().await;
    let mut conn = c.db_conn().await.unwrap();
    let wfs = import(&c, "fixtures/workflows/logic-dep.json").await;
    let (upstream, waiter, upstream_fails, waiter_fails) = (&wfs[0], &wfs[1], &wfs[2], &wfs[3]);

    // No instance of the upstream workflow today yet: the dependent task waits.
    c.start_workflow(waiter).await.unwrap();
    let (d_id, waiter_id) = wait_task_state(&c, "D", ExecutionStatus::RUNNING_EXECUTION).await;
    let host: Option<String> = conn
        .first(
            "SELECT host FROM t_ds_task_instance WHERE id = ?",
            params![d_id],
        )
        .await
        .unwrap();
    assert_eq!(
        host.as_deref(),
        Some(c.master.as_ref().unwrap().addr.as_str())
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let st: Option<i32> = conn
        .first(
            "SELECT state FROM t_ds_task_instance WHERE id = ?",
            params![d_id],
        )
        .await
        .unwrap();
    assert_eq!(st, Some(ExecutionStatus::RUNNING_EXECUTION.code()));

    // The upstream workflow runs (slowly) and succeeds: the dependent task follows at once.
    c.start_workflow(upstream).await.unwrap();
    let (up_id, up_state) = c
        .wait_for_end(upstream.definition_code, Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    assert_eq!(up_state, ExecutionStatus::SUCCESS);
    let (id, state) = c
        .wait_for_end(waiter.definition_code, Duration::from_secs(30), |_| {})
        .await
        .unwrap();
    assert_eq!((id, state), (waiter_id, ExecutionStatus::SUCCESS));
    assert_eq!(
        tasks(&c, waiter_id).await,
        vec![
            row("D", ExecutionStatus::SUCCESS),
            row("AFTER", ExecutionStatus::SUCCESS)
        ]
    );
    let ends: Option<(chrono::NaiveDateTime, chrono::NaiveDateTime)> = conn
        .first(
            "SELECT p.end_time, t.end_time FROM t_ds_process_instance p, t_ds_task_instance t WHERE p.id = ? AND t.id = ?",
            params![up_id, d_id],
        )
        .await
        .unwrap();
    let (up_end, d_end) = ends.expect("both end times");
    let gap = (d_end - up_end).num_seconds();
    assert!(
        (0..=2).contains(&gap),
        "dependent ended {gap} s after its dependency (2.0.5: up to one 5 s wheel tick)"
    );

    // A failed dependency fails the dependent task and its workflow.
    c.start_workflow(waiter_fails).await.unwrap();
    wait_task_state(&c, "D", ExecutionStatus::RUNNING_EXECUTION).await;
    c.start_workflow(upstream_fails).await.unwrap();
    let (id, state) = c
        .wait_for_end(
            waiter_fails.definition_code,
            Duration::from_secs(30),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(state, ExecutionStatus::FAILURE);
    assert_eq!(
        tasks(&c, id).await,
        vec![row("D", ExecutionStatus::FAILURE)]
    );

    // Scheduled runs: the business date is the schedule time. `last1Days` of 2019-02-05 is
    // 2019-02-04, where the upstream workflow has a scheduled run (found by schedule_time).
    let waiter_yesterday = &wfs[4];
    for (wf, at) in [
        (upstream, "2019-02-04 10:00:00"),
        (waiter_yesterday, "2019-02-05 00:00:00"),
    ] {
        conn.exec(
            "INSERT INTO t_ds_command (command_type, process_definition_code, process_definition_version, process_instance_id, command_param, task_depend_type, failure_strategy, warning_type, warning_group_id, schedule_time, start_time, executor_id, update_time, process_instance_priority, worker_group, dry_run) \
             VALUES (6, ?, ?, 0, '{}', 2, 1, 0, 0, ?, NOW(), 1, NOW(), 2, 'default', 0)",
            params![wf.definition_code, wf.definition_version, at],
        )
        .await
        .unwrap();
        let (_, state) = c
            .wait_for_end(wf.definition_code, Duration::from_secs(30), |_| {})
            .await
            .unwrap();
        assert_eq!(state, ExecutionStatus::SUCCESS, "{at}");
    }
    c.stop().await;
}

/// Inserts a COMPLEMENT_DATA command as the 2.0.5 API server does (one per chunk).
async fn complement_command(
    conn: &mut dsmaster::store::db::Conn,
    wf: &ImportedWorkflow,
    start: &str,
    end: &str,
) {
    let param = format!(r#"{{"complementStartDate":"{start}","complementEndDate":"{end}"}}"#);
    conn.exec(
        "INSERT INTO t_ds_command (command_type, process_definition_code, process_definition_version, process_instance_id, command_param, task_depend_type, failure_strategy, warning_type, warning_group_id, start_time, executor_id, update_time, process_instance_priority, worker_group, environment_code, dry_run) \
         VALUES (5, ?, ?, 0, ?, 2, 1, 0, 0, NOW(), 1, NOW(), 2, 'default', -1, 0)",
        params![wf.definition_code, wf.definition_version, param],
    )
    .await
    .unwrap();
}

/// `schedule_time` as `yyyy-MM-dd HH:mm:ss` text (the store's cell conversion formats it
/// so on both servers).
type InstanceRow = (i32, Option<String>, i32, String, Option<String>, String);

async fn instances_of(c: &LocalCluster, code: i64) -> Vec<InstanceRow> {
    let mut conn = c.db_conn().await.unwrap();
    conn.all(
        "SELECT id, schedule_time, state, command_param, global_params, history_cmd \
         FROM t_ds_process_instance WHERE process_definition_code = ? ORDER BY id",
        params![code],
    )
    .await
    .unwrap()
}

async fn wait_instances_done(c: &LocalCluster, code: i64, n: usize) -> Vec<InstanceRow> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows = instances_of(c, code).await;
        let pending = count(c, "SELECT COUNT(*) FROM t_ds_command").await;
        if rows.len() >= n && pending == 0 && rows.iter().all(|r| r.2 == 7) {
            return rows;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "complement did not finish: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complement_runs_one_instance_per_date_then_recover_waiting_thread() {
    let c = cluster().await;
    let mut conn = c.db_conn().await.unwrap();
    let wf = import(&c, "fixtures/workflows/logic-complement.json")
        .await
        .remove(0);

    // Serial: one command; the master chains one instance per day.
    complement_command(&mut conn, &wf, "2024-01-01 00:00:00", "2024-01-03 00:00:00").await;
    let rows = wait_instances_done(&c, wf.definition_code, 3).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    let dates: Vec<&str> = rows.iter().filter_map(|r| r.1.as_deref()).collect();
    assert_eq!(
        dates,
        vec![
            "2024-01-01 00:00:00",
            "2024-01-02 00:00:00",
            "2024-01-03 00:00:00"
        ]
    );
    assert_eq!(
        rows[0].3,
        r#"{"complementStartDate":"2024-01-01 00:00:00","complementEndDate":"2024-01-03 00:00:00"}"#
    );
    assert_eq!(
        rows[1].3,
        r#"{"complementStartDate":"2024-01-02 00:00:00","complementEndDate":"2024-01-03 00:00:00"}"#
    );
    let biz: Vec<String> = rows
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_str(r.4.as_deref().unwrap()).unwrap();
            v[0]["value"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(biz, vec!["20231231", "20240101", "20240102"]);
    assert!(rows.iter().all(|r| r.5 == "COMPLEMENT_DATA"));
    let serial: Option<i64> = conn
        .first(
            "SELECT COUNT(*) FROM t_ds_process_instance a JOIN t_ds_process_instance b ON b.id = a.id + 1 \
             WHERE a.process_definition_code = ? AND b.process_definition_code = ? AND b.start_time < a.end_time",
            params![wf.definition_code, wf.definition_code],
        )
        .await
        .unwrap();
    assert_eq!(serial, Some(0), "each date starts after the previous ended");

    // Parallel (2.0.5 API: one command per chunk; each chunk chains on its own).
    complement_command(&mut conn, &wf, "2024-02-01 00:00:00", "2024-02-02 00:00:00").await;
    complement_command(&mut conn, &wf, "2024-02-03 00:00:00", "2024-02-03 00:00:00").await;
    let rows = wait_instances_done(&c, wf.definition_code, 6).await;
    let mut dates: Vec<&str> = rows[3..].iter().filter_map(|r| r.1.as_deref()).collect();
    dates.sort();
    assert_eq!(
        dates,
        vec![
            "2024-02-01 00:00:00",
            "2024-02-02 00:00:00",
            "2024-02-03 00:00:00"
        ]
    );

    // RECOVER_WAITING_THREAD names an existing instance: it runs again as it is.
    let last = rows[2].0;
    conn.exec(
        "UPDATE t_ds_process_instance SET state = 10 WHERE id = ?",
        params![last],
    )
    .await
    .unwrap();
    conn.exec(
        "INSERT INTO t_ds_command (command_type, process_definition_code, process_definition_version, process_instance_id, command_param, task_depend_type, failure_strategy, warning_type, start_time, executor_id, update_time, dry_run) \
         VALUES (10, ?, ?, ?, ?, 2, 1, 0, NOW(), 1, NOW(), 0)",
        params![wf.definition_code, wf.definition_version, last, format!(r#"{{"WaitingThreadInstanceId":"{last}"}}"#)],
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r: Option<(i32, String, i32)> = conn
            .first(
                "SELECT state, history_cmd, run_times FROM t_ds_process_instance WHERE id = ?",
                params![last],
            )
            .await
            .unwrap();
        if let Some((7, history, run_times)) = &r {
            assert_eq!(history, "COMPLEMENT_DATA,RECOVER_WAITING_THREAD");
            assert_eq!(*run_times, 1);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waiting-thread instance not recovered: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(&c, "SELECT COUNT(*) FROM t_ds_command").await, 0);
    assert_eq!(
        instances_of(&c, wf.definition_code).await.len(),
        6,
        "the last date does not chain again"
    );
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM t_ds_error_command").await,
        0
    );
    c.stop().await;
}

/// The parent runs on another master: our child tells it by STATE_EVENT_REQUEST when it ends;
/// and a parent here is woken by such a frame from the child's master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_process_across_masters() {
    use dsmaster::protocol::link::serve;
    use dsmaster::protocol::{Command, Connector, LinkOptions, StateEventChangeCommand};
    let c = cluster().await;
    let mut conn = c.db_conn().await.unwrap();
    let dialect = c.master.as_ref().unwrap().dialect;
    let wfs = import(&c, "fixtures/workflows/logic-sub-ok.json").await;
    let child_wf = &wfs[0];

    // A stand-in for the parent's (Java) master: it only records the frames it gets.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = listener.local_addr().unwrap().to_string();
    let (tx, mut frames) = tokio::sync::mpsc::channel(16);
    let token = tokio_util::sync::CancellationToken::new();
    tokio::spawn(serve(
        listener,
        LinkOptions {
            dialect,
            ..LinkOptions::default()
        },
        tx,
        token.clone(),
    ));
    // What that master's ProcessService wrote for its SUB_PROCESS task.
    let (_, new_id) = conn.insert(
        "INSERT INTO t_ds_process_instance (name, process_definition_code, process_definition_version, state, host, command_type, history_cmd, global_params, start_time, run_times, executor_id, is_sub_process) \
         VALUES ('remote-parent', 4300000000101, 1, 1, ?, 0, 'START_PROCESS', ?, NOW(), 1, 1, 0)",
        params![other.as_str(), r#"[{"prop":"x","direct":"IN","type":"VARCHAR","value":"remote"}]"#],
    )
    .await
    .unwrap();
    let parent = new_id.unwrap() as i32;
    let (_, new_id) = conn.insert(
        "INSERT INTO t_ds_task_instance (name, task_type, task_code, task_definition_version, process_instance_id, state, flag) VALUES ('S', 'SUB_PROCESS', 4400000000111, 1, ?, 0, 1)",
        params![parent],
    )
    .await
    .unwrap();
    let task = new_id.unwrap() as i32;
    let (_, new_id) = conn.insert(
        "INSERT INTO t_ds_relation_process_instance (parent_process_instance_id, parent_task_instance_id, process_instance_id) VALUES (?, ?, 0)",
        params![parent, task],
    )
    .await
    .unwrap();
    let map = new_id.unwrap() as i32;
    conn.exec(
        "INSERT INTO t_ds_command (command_type, process_definition_code, process_definition_version, process_instance_id, command_param, task_depend_type, failure_strategy, warning_type, warning_group_id, start_time, executor_id, update_time, process_instance_priority, worker_group, environment_code, dry_run) \
         VALUES (0, ?, 1, 0, ?, 2, 1, 0, 0, NOW(), 1, NOW(), 2, 'default', -1, 0)",
        params![child_wf.definition_code, format!(r#"{{"id":{map},"parentProcessInstanceId":{parent},"parentTaskInstanceId":{task},"processInstanceId":0}}"#)],
    )
    .await
    .unwrap();
    let (child, state) = c
        .wait_for_end(child_wf.definition_code, Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    assert_eq!(state, ExecutionStatus::SUCCESS);
    let linked: Option<i32> = conn
        .first(
            "SELECT process_instance_id FROM t_ds_relation_process_instance WHERE id = ?",
            params![map],
        )
        .await
        .unwrap();
    assert_eq!(linked, Some(child));
    let globals: Option<String> = conn
        .first(
            "SELECT global_params FROM t_ds_process_instance WHERE id = ?",
            params![child],
        )
        .await
        .unwrap();
    assert_eq!(
        globals.as_deref(),
        Some(
            r#"[{"prop":"x","direct":"IN","type":"VARCHAR","value":"remote"},{"prop":"y","direct":"IN","type":"VARCHAR","value":"child-y"}]"#
        )
    );
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let Some(inbound) = frames.recv().await else {
                panic!("stand-in master stopped")
            };
            if let Command::StateEvent(ev) = inbound.command {
                return ev;
            }
        }
    })
    .await
    .expect("the parent's master was told");
    assert_eq!(
        got,
        StateEventChangeCommand::new(child, 0, ExecutionStatus::SUCCESS, parent, task)
    );
    token.cancel();

    // The other direction: our parent, whose child's master reports the end by frame.
    let wfs = import(&c, "fixtures/workflows/logic-sub-slow.json").await;
    let (child_wf, parent_wf) = (&wfs[0], &wfs[1]);
    c.start_workflow(parent_wf).await.unwrap();
    let (s_id, parent) = wait_task_state(&c, "S", ExecutionStatus::RUNNING_EXECUTION).await;
    let child: i32 = conn
        .first(
            "SELECT process_instance_id FROM t_ds_relation_process_instance WHERE parent_task_instance_id = ?",
            params![s_id],
        )
        .await
        .unwrap()
        .unwrap();
    let began = tokio::time::Instant::now();
    // As the child's master writes the end, then tells the parent's master.
    conn.exec(
        "UPDATE t_ds_process_instance SET state = 7, end_time = NOW() WHERE id = ?",
        params![child],
    )
    .await
    .unwrap();
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let connector = Connector::new(
        LinkOptions {
            dialect,
            ..LinkOptions::default()
        },
        tx,
    );
    let link = connector
        .link(&c.master.as_ref().unwrap().addr)
        .await
        .unwrap();
    link.send(Command::StateEvent(StateEventChangeCommand::new(
        child,
        0,
        ExecutionStatus::SUCCESS,
        parent,
        s_id,
    )))
    .unwrap();
    let (id, state) = c
        .wait_for_end(parent_wf.definition_code, Duration::from_secs(20), |_| {})
        .await
        .unwrap();
    assert_eq!((id, state), (parent, ExecutionStatus::SUCCESS));
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "woken by the frame, not by the safety poll"
    );
    assert_eq!(
        tasks(&c, parent).await,
        vec![
            row("S", ExecutionStatus::SUCCESS),
            row("T", ExecutionStatus::SUCCESS)
        ]
    );
    let _ = child_wf;
    c.stop().await;
}

/// START_FAILURE_TASK_PROCESS on a parent whose child failed: the SUB_PROCESS row is kept and
/// resubmitted, and the existing child is recovered with the parent's command type (upstream
/// `createSubWorkProcess` with an existing child).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_process_failed_child_recovers_with_its_parent() {
    use dsmaster::model::CommandType;
    let c = cluster().await;
    let mut conn = c.db_conn().await.unwrap();
    let wfs = import(&c, "fixtures/workflows/logic-sub-fail.json").await;
    let (child_wf, parent_wf) = (&wfs[0], &wfs[1]);
    c.start_workflow(parent_wf).await.unwrap();
    let (parent, state) = c
        .wait_for_end(parent_wf.definition_code, Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    assert_eq!(state, ExecutionStatus::FAILURE);
    let (child, _) = c
        .wait_for_end(child_wf.definition_code, Duration::from_secs(5), |_| {})
        .await
        .unwrap();
    // The user fixes the child's task, then recovers the parent from its failed task.
    for table in ["t_ds_task_definition", "t_ds_task_definition_log"] {
        conn.exec(
            &format!("UPDATE {table} SET task_params = REPLACE(task_params, 'exit 3', 'echo fixed') WHERE code = 4400000000221"),
            params![],
        )
        .await
        .unwrap();
    }
    api::command_for_instance(&mut conn, parent, CommandType::START_FAILURE_TASK_PROCESS)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let st: Option<i32> = conn
            .first(
                "SELECT state FROM t_ds_process_instance WHERE id = ?",
                params![parent],
            )
            .await
            .unwrap();
        if st == Some(ExecutionStatus::SUCCESS.code()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "recovered parent did not finish: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        tasks(&c, parent).await,
        vec![
            row("S", ExecutionStatus::SUCCESS),
            row("T", ExecutionStatus::SUCCESS)
        ],
        "the SUB_PROCESS row itself is resubmitted, never invalidated"
    );
    let child_row: (i32, String, i32) = conn
        .first(
            "SELECT state, history_cmd, run_times FROM t_ds_process_instance WHERE id = ?",
            params![child],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        child_row,
        (
            ExecutionStatus::SUCCESS.code(),
            "START_PROCESS,START_FAILURE_TASK_PROCESS".to_string(),
            2
        )
    );
    assert_eq!(
        tasks(&c, child).await,
        vec![
            ("CA".to_string(), ExecutionStatus::FAILURE.code(), 0),
            row("CA", ExecutionStatus::SUCCESS)
        ]
    );
    let (map, s_id, failed_ca): (i32, i32, i32) = conn
        .first(
            "SELECT r.id, r.parent_task_instance_id, t.id FROM t_ds_relation_process_instance r, t_ds_task_instance t \
             WHERE r.process_instance_id = ? AND t.process_instance_id = r.process_instance_id AND t.flag = 0",
            params![child],
        )
        .await
        .unwrap()
        .unwrap();
    let child_param: Option<String> = conn
        .first(
            "SELECT command_param FROM t_ds_process_instance WHERE id = ?",
            params![child],
        )
        .await
        .unwrap();
    assert_eq!(
        child_param.unwrap(),
        format!(
            r#"{{"id":"{map}","parentProcessInstanceId":"{parent}","parentTaskInstanceId":"{s_id}","processInstanceId":"{child}","StartNodeIdList":"{failed_ca}"}}"#
        ),
        "the command's keys in order, as strings, StartNodeIdList last"
    );
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM t_ds_relation_process_instance").await,
        1
    );
    assert_eq!(
        count(&c, "SELECT COUNT(*) FROM t_ds_process_instance").await,
        2,
        "no second child"
    );
    c.stop().await;
}

/// A complement over a workflow with online cron schedules runs one instance per cron time
/// inside the closed interval (upstream `CronUtils.getSelfFireDateList`, Quartz's arithmetic);
/// an offline schedule does not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complement_follows_the_online_cron_schedules() {
    let c = cluster().await;
    let mut conn = c.db_conn().await.unwrap();
    let wf = import(&c, "fixtures/workflows/logic-complement.json")
        .await
        .remove(0);
    for (crontab, release_state) in [("0 0 6,18 * * ? *", 1), ("0 30 * * * ? *", 0)] {
        conn.exec(
            "INSERT INTO t_ds_schedules (process_definition_code, start_time, end_time, timezone_id, crontab, failure_strategy, user_id, release_state, warning_type, warning_group_id, process_instance_priority, worker_group, environment_code, create_time, update_time) \
             VALUES (?, '2020-01-01 00:00:00', '2030-01-01 00:00:00', 'UTC', ?, 1, 1, ?, 0, 0, 2, 'default', -1, NOW(), NOW())",
            params![wf.definition_code, crontab, release_state],
        )
        .await
        .unwrap();
    }
    complement_command(&mut conn, &wf, "2024-03-01 00:00:00", "2024-03-02 06:00:00").await;
    let rows = wait_instances_done(&c, wf.definition_code, 3).await;
    let dates: Vec<&str> = rows.iter().filter_map(|r| r.1.as_deref()).collect();
    assert_eq!(
        dates,
        vec![
            "2024-03-01 06:00:00",
            "2024-03-01 18:00:00",
            "2024-03-02 06:00:00"
        ]
    );
    drop(conn);
    c.stop().await;
}
