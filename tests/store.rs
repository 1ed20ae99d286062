//! The store against upstream's real DDL, 2.0.2 and 2.0.5 schemas side by side in one private
//! MariaDB, and the same again on a private PostgreSQL with upstream's PostgreSQL DDL: every
//! row type is written the way the API server (or a Java master) writes it and
//! read back through the store, and what the store writes is read back raw. Also the write
//! rules other components rely on: updates never write NULL, the start transaction is atomic
//! and decides races, error commands copy exactly upstream's columns.
//!
//! One server per test, so everything runs inside one test, schema by schema; each step's
//! assertion names the schema and the step.

use chrono::NaiveDateTime;
use dsmaster::engine::construct;
use dsmaster::model::*;
use dsmaster::params;
use dsmaster::store::db::{Conn, Dialect, Pool, PoolOptions, Row};
use dsmaster::store::{
    self, AckWrite, Alert, ConnectOptions, HandleOutcome, NextCommand, ProcessInstanceMap,
    ResultWrite, Store,
};
use dsmaster::testkit::cluster::init_test_logging;
use dsmaster::testkit::fixtures::{self, ImportedWorkflow};
use dsmaster::testkit::{MariaDb, Postgres, SchemaVersion};
use std::collections::HashSet;
use std::path::Path;

fn t(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("test timestamp")
}

fn utc() -> dsmaster::schedule::calendar::JavaZone {
    dsmaster::schedule::calendar::JavaZone::resolve("UTC")
}

/// The private server under test: the same checks run on both.
enum TestDb {
    Maria(MariaDb),
    Pg(Postgres),
}

impl TestDb {
    fn dialect(&self) -> Dialect {
        match self {
            TestDb::Maria(_) => Dialect::Mysql,
            TestDb::Pg(_) => Dialect::Postgres,
        }
    }

    fn url(&self, name: &str) -> String {
        match self {
            TestDb::Maria(d) => d.ds_url(name),
            TestDb::Pg(d) => d.url(name),
        }
    }

    async fn create_ds_database(&self, name: &str, schema: SchemaVersion) {
        match self {
            TestDb::Maria(d) => d.create_ds_database(name, schema).await.map(|_| ()),
            TestDb::Pg(d) => d.create_ds_database(name, schema).await.map(|_| ()),
        }
        .expect("database")
    }

    /// A connection for the raw statements of the checks (the API server's side).
    async fn conn(&self, name: &str) -> Conn {
        match self {
            TestDb::Maria(d) => Conn::Mysql(d.root_conn(Some(name)).await.expect("root conn")),
            TestDb::Pg(_) => Pool::new(
                Dialect::Postgres,
                &PoolOptions {
                    url: self.url(name),
                    max_connections: 1,
                    min_idle: 0,
                },
            )
            .expect("pool")
            .conn()
            .await
            .expect("conn"),
        }
    }

    async fn stop(self) {
        match self {
            TestDb::Maria(d) => d.stop().await,
            TestDb::Pg(d) => d.stop().await,
        }
    }
}

async fn store_for(db: &TestDb, name: &str) -> Store {
    Store::connect(&ConnectOptions {
        dialect: db.dialect(),
        url: db.url(name),
        max_connections: 4,
        min_idle: 0,
        server_timezone: None,
        jvm_offset_seconds: None,
    })
    .await
    .expect("connect")
}

/// A START_PROCESS command with every column set, as the 2.0.5 API server inserts it.
async fn insert_full_command(conn: &mut Conn, wf: &ImportedWorkflow, command_type: i32) -> i32 {
    let (_, new_id) = conn.insert(
        "INSERT INTO t_ds_command (command_type, process_definition_code, process_definition_version, \
         process_instance_id, command_param, task_depend_type, failure_strategy, warning_type, \
         warning_group_id, schedule_time, start_time, executor_id, update_time, \
         process_instance_priority, worker_group, environment_code, dry_run) \
         VALUES (?, ?, ?, 5, '{\"StartParams\":\"{}\"}', 2, 1, 3, 1, '2024-02-01 00:00:00', \
         '2024-02-02 10:00:00', 1, '2024-02-02 10:00:01', 1, 'wg1', 77, 1)",
        params![command_type, wf.definition_code, wf.definition_version],
    )
    .await
    .expect("insert command");
    new_id.expect("command id") as i32
}

async fn next_command(store: &Store) -> NextCommand {
    store
        .find_one_command(0, 1, &HashSet::new())
        .await
        .expect("find_one_command")
        .expect("a command is queued")
}

async fn count(conn: &mut Conn, sql: &str) -> i64 {
    conn.first(sql, params![]).await.expect(sql).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_round_trips_on_both_schemas() {
    init_test_logging();
    let db = TestDb::Maria(MariaDb::start().await.expect("mariadb"));
    round_trips(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_round_trips_on_postgresql() {
    init_test_logging();
    let db = TestDb::Pg(Postgres::start().await.expect("postgresql"));
    round_trips(db).await;
}

async fn round_trips(db: TestDb) {
    for (schema, name) in [
        (SchemaVersion::V2_0_2, "ds_202"),
        (SchemaVersion::V2_0_5, "ds_205"),
    ] {
        db.create_ds_database(name, schema).await;
        let store = store_for(&db, name).await;
        let mut conn = db.conn(name).await;
        let v = store.schema_version().await.expect("schema version");
        assert_eq!(v.version, schema.as_str());
        assert!(
            v.has_restart_time,
            "{schema}: restart_time exists from 2.0.2"
        );

        let wf = fixtures::import_file(
            &mut conn,
            Path::new("fixtures/workflows/shell-a-b.json"),
            "default",
        )
        .await
        .expect("import")
        .remove(0);

        definitions(&store, &wf, schema).await;
        let instance_id = commands_and_instances(&store, &mut conn, &wf, schema).await;
        task_instances(&store, &mut conn, instance_id, &wf, schema).await;
        error_commands(&store, &mut conn, &wf, schema).await;
        reference_rows(&store, &mut conn, instance_id, &wf, schema).await;
        alerts_and_links(&store, &mut conn, schema).await;
        store.close().await;
    }
    schema_detection(&db).await;
    db.stop().await;
}

async fn definitions(store: &Store, wf: &ImportedWorkflow, schema: SchemaVersion) {
    let def = store
        .find_process_definition(wf.definition_code, wf.definition_version)
        .await
        .expect("definition")
        .expect("definition exists");
    assert_eq!(def.name, "shell-a-b", "{schema}");
    assert_eq!(def.project_code, wf.project_code);
    assert_eq!(def.user_id, Some(1));
    assert!(def.global_param_list().expect("global params").is_empty());
    assert_eq!(
        store
            .find_process_definition(wf.definition_code, 0)
            .await
            .unwrap()
            .map(|d| d.version),
        Some(1),
        "{schema}: version 0 is the current definition"
    );
    assert!(store
        .find_process_definition(wf.definition_code, 9)
        .await
        .unwrap()
        .is_none());
    let dag = store
        .load_dag(wf.definition_code, wf.definition_version)
        .await
        .expect("dag");
    assert_eq!(dag.relations.len(), 2, "{schema}");
    let a = &dag.tasks[&wf.task_codes[0]];
    assert_eq!((a.name.as_str(), a.task_type.as_str()), ("A", "SHELL"));
    assert_eq!(a.flag, Flag::YES);
    assert_eq!(a.task_priority, Priority::MEDIUM);
    assert_eq!(a.timeout_flag, TimeoutFlag::CLOSE);
    assert_eq!(a.fail_retry_interval, 1);
    let params = a.params().expect("task params");
    assert_eq!(params.raw_script(), Some("echo hello from A"));
    assert!(params.local_params().unwrap().is_empty());
    assert_eq!(params.dependence().unwrap(), Some(Default::default()));
}

/// Command intake, the start transaction, and process-instance columns.
async fn commands_and_instances(
    store: &Store,
    conn: &mut Conn,
    wf: &ImportedWorkflow,
    schema: SchemaVersion,
) -> i32 {
    let command_id = insert_full_command(conn, wf, 0).await;
    let NextCommand::Command(cmd) = next_command(store).await else {
        panic!("{schema}: the command decodes");
    };
    assert_eq!(cmd.id, command_id);
    assert_eq!(cmd.command_type, CommandType::START_PROCESS);
    assert_eq!(cmd.process_instance_id, 5);
    assert_eq!(cmd.task_depend_type, Some(TaskDependType::TASK_POST));
    assert_eq!(cmd.failure_strategy, FailureStrategy::CONTINUE);
    assert_eq!(cmd.warning_type, WarningType::ALL);
    assert_eq!(cmd.warning_group_id, Some(1));
    assert_eq!(cmd.schedule_time, Some(t("2024-02-01 00:00:00")));
    assert_eq!(cmd.start_time, Some(t("2024-02-02 10:00:00")));
    assert_eq!(cmd.process_instance_priority, Some(Priority::HIGH));
    assert_eq!(cmd.worker_group.as_deref(), Some("wg1"));
    assert_eq!((cmd.environment_code, cmd.dry_run), (77, 1));
    assert!(cmd.command_params().unwrap().contains("StartParams"));

    let def = store
        .find_process_definition(wf.definition_code, wf.definition_version)
        .await
        .unwrap()
        .unwrap();
    let now = t("2024-02-02 10:00:05");
    let built = construct::new_process_instance(&cmd, &def, "10.0.0.9:5678", now, "x", utc())
        .expect("instance builds");
    let HandleOutcome::Started(started) = store
        .start_instance(cmd.id, built.clone())
        .await
        .expect("start")
    else {
        panic!("{schema}: first start wins");
    };
    assert!(started.id > 0);
    assert_eq!(
        count(
            conn,
            &format!("SELECT COUNT(*) FROM t_ds_command WHERE id = {command_id}")
        )
        .await,
        0,
        "{schema}: command deleted with the insert"
    );
    // A second start of the same command loses and writes nothing.
    let before = count(conn, "SELECT COUNT(*) FROM t_ds_process_instance").await;
    assert_eq!(
        store.start_instance(cmd.id, built.clone()).await.unwrap(),
        HandleOutcome::Lost,
        "{schema}"
    );
    assert_eq!(
        count(conn, "SELECT COUNT(*) FROM t_ds_process_instance").await,
        before,
        "{schema}: the losing insert is rolled back"
    );

    // Read back through the store: the same row, id filled in.
    let read = store
        .find_process_instance(started.id)
        .await
        .unwrap()
        .expect("instance row");
    assert_eq!(&read, started.as_ref(), "{schema}: instance round trip");
    // And raw: codes, the literal columns Java readers see, the unmapped defaults.
    let row: Row = conn
        .first(
            "SELECT state, recovery, command_type, history_cmd, flag, is_sub_process, worker_group, \
             warning_type, failure_strategy, process_instance_priority, restart_time, update_time, \
             next_process_instance_id FROM t_ds_process_instance WHERE id = ?",
            params![started.id],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<i32, _>("state"), Some(1));
    assert_eq!(row.get::<i32, _>("recovery"), Some(0));
    assert_eq!(row.get::<i32, _>("command_type"), Some(0));
    assert_eq!(
        row.get::<String, _>("history_cmd").as_deref(),
        Some("START_PROCESS")
    );
    assert_eq!(row.get::<i32, _>("flag"), Some(1), "unmapped, DDL default");
    assert_eq!(row.get::<i32, _>("is_sub_process"), Some(0));
    assert_eq!(row.get::<String, _>("worker_group").as_deref(), Some("wg1"));
    assert_eq!(row.get::<i32, _>("warning_type"), Some(3));
    assert_eq!(row.get::<i32, _>("failure_strategy"), Some(1));
    assert_eq!(row.get::<i32, _>("process_instance_priority"), Some(1));
    assert_eq!(
        row.get::<Option<NaiveDateTime>, _>("restart_time"),
        Some(Some(now))
    );
    // MySQL's DDL fills update_time itself (ON UPDATE CURRENT_TIMESTAMP); PostgreSQL's has no
    // default, and neither master writes the column, so there it stays NULL as under Java.
    let update_time = row.get::<Option<NaiveDateTime>, _>("update_time").flatten();
    assert_eq!(
        update_time.is_some(),
        conn.dialect() == Dialect::Mysql,
        "{schema}: update_time {update_time:?}"
    );
    assert_eq!(row.get::<i32, _>("next_process_instance_id"), Some(0));

    // Never-NULL: a state change without an end time keeps the end time already written.
    store
        .update_process_state(started.id, ExecutionStatus::FAILURE, Some(now))
        .await
        .unwrap();
    store
        .update_process_state(started.id, ExecutionStatus::RUNNING_EXECUTION, None)
        .await
        .unwrap();
    let (state, end): (i32, Option<NaiveDateTime>) = conn
        .first(
            "SELECT state, end_time FROM t_ds_process_instance WHERE id = ?",
            params![started.id],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((state, end), (1, Some(now)), "{schema}: end_time kept");
    store
        .update_process_var_pool(
            started.id,
            r#"[{"prop":"x","direct":"OUT","type":"VARCHAR","value":"1"}]"#,
        )
        .await
        .unwrap();
    let read = store
        .find_process_instance(started.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.var_pool_list().unwrap()[0].prop, "x");
    started.id
}

async fn task_instances(
    store: &Store,
    conn: &mut Conn,
    instance_id: i32,
    wf: &ImportedWorkflow,
    schema: SchemaVersion,
) {
    let instance = store
        .find_process_instance(instance_id)
        .await
        .unwrap()
        .unwrap();
    let dag = store
        .load_dag(wf.definition_code, wf.definition_version)
        .await
        .unwrap();
    let node = &dag.tasks[&wf.task_codes[0]];
    let mut task = construct::new_task_instance(node, &instance, Some("export A=1".into()));
    task.var_pool = Some(r#"[{"prop":"p","direct":"IN","type":"VARCHAR","value":"v"}]"#.into());
    let id = store
        .insert_task_instance(&task)
        .await
        .expect("insert task");
    task.id = id;
    let read = store.find_valid_task_instances(instance_id).await.unwrap();
    assert_eq!(
        read,
        vec![task.clone()],
        "{schema}: task instance round trip"
    );
    // The instance form: logic keys as strings of JSON, readable both ways.
    let raw: String = conn
        .first(
            "SELECT task_params FROM t_ds_task_instance WHERE id = ?",
            params![id],
        )
        .await
        .unwrap()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert!(v["dependence"].is_string() && v["conditionResult"].is_string());
    let params = read[0].params().unwrap();
    assert_eq!(
        params.condition_result().unwrap().map(|c| c.success_node),
        Some(vec![])
    );

    let now = t("2024-02-02 10:01:00");
    store
        .update_task_dispatched(id, "10.0.0.5:1234", now)
        .await
        .unwrap();
    store
        .update_task_ack(
            id,
            &AckWrite {
                state: Some(ExecutionStatus::RUNNING_EXECUTION),
                submit_time: None,
                start_time: Some(now),
                host: None,
                execute_path: Some("/tmp/exec".into()),
                log_path: Some("/tmp/1.log".into()),
            },
        )
        .await
        .unwrap();
    store
        .update_task_result(
            id,
            &ResultWrite {
                state: Some(ExecutionStatus::SUCCESS),
                end_time: Some(now),
                pid: Some(42),
                app_link: Some("app_1".into()),
                var_pool: None,
                task_params: None,
            },
        )
        .await
        .unwrap();
    // Nothing was written as NULL: host from dispatch, var_pool and task_params from insert.
    let row: Row = conn
        .first(
            "SELECT host, submit_time, state, pid, app_link, var_pool, task_params, log_path, \
             environment_config, first_submit_time FROM t_ds_task_instance WHERE id = ?",
            params![id],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.get::<String, _>("host").as_deref(),
        Some("10.0.0.5:1234"),
        "{schema}"
    );
    assert_eq!(row.get::<i32, _>("state"), Some(7));
    assert_eq!(row.get::<i32, _>("pid"), Some(42));
    assert_eq!(
        row.get::<String, _>("var_pool"),
        task.var_pool,
        "{schema}: var_pool kept"
    );
    assert_eq!(row.get::<String, _>("task_params"), task.task_params);
    assert_eq!(
        row.get::<String, _>("log_path").as_deref(),
        Some("/tmp/1.log")
    );
    assert_eq!(
        row.get::<String, _>("environment_config").as_deref(),
        Some("export A=1")
    );
    assert_eq!(
        row.get::<Option<NaiveDateTime>, _>("first_submit_time"),
        Some(None),
        "left NULL by insert"
    );
    store
        .update_task_state(id, ExecutionStatus::FAILURE, None, None)
        .await
        .unwrap();
    let after = store.find_valid_task_instances(instance_id).await.unwrap();
    assert_eq!(after[0].end_time, Some(now), "{schema}: end_time kept");
    assert_eq!(after[0].start_time, Some(now));
    store.invalidate_task_instance(id).await.unwrap();
    assert!(store
        .find_valid_task_instances(instance_id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .find_all_task_instances(instance_id)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn error_commands(
    store: &Store,
    conn: &mut Conn,
    wf: &ImportedWorkflow,
    schema: SchemaVersion,
) {
    // A decodable command moved with upstream's columns: no worker_group, no version or
    // instance id (ErrorCommand does not copy them).
    let id = insert_full_command(conn, wf, 0).await;
    let NextCommand::Command(cmd) = next_command(store).await else {
        panic!("{schema}: decodes");
    };
    store
        .move_to_error_command(&cmd, "process instance is null")
        .await
        .expect("move");
    store
        .move_to_error_command(&cmd, "process instance is null (again)")
        .await
        .expect("moving twice is harmless");
    let row: Row = conn
        .first("SELECT * FROM t_ds_error_command WHERE id = ?", params![id])
        .await
        .unwrap()
        .expect("error row");
    assert_eq!(row.get::<i32, _>("command_type"), Some(0));
    assert_eq!(
        row.get::<i64, _>("process_definition_code"),
        Some(wf.definition_code)
    );
    assert_eq!(
        row.get::<i32, _>("process_definition_version"),
        Some(0),
        "not copied"
    );
    assert_eq!(
        row.get::<i32, _>("process_instance_id"),
        Some(0),
        "not copied"
    );
    assert_eq!(
        row.get::<Option<String>, _>("worker_group"),
        Some(None),
        "{schema}: worker_group is not copied upstream"
    );
    assert_eq!(
        row.get::<String, _>("command_param").as_deref(),
        Some("{\"StartParams\":\"{}\"}")
    );
    assert_eq!(row.get::<i32, _>("executor_id"), Some(1));
    assert_eq!(row.get::<i32, _>("task_depend_type"), Some(2));
    assert_eq!(row.get::<i32, _>("failure_strategy"), Some(1));
    assert_eq!(row.get::<i32, _>("warning_type"), Some(3));
    assert_eq!(row.get::<i32, _>("warning_group_id"), Some(1));
    assert_eq!(
        row.get::<NaiveDateTime, _>("schedule_time"),
        Some(t("2024-02-01 00:00:00"))
    );
    assert_eq!(
        row.get::<NaiveDateTime, _>("start_time"),
        Some(t("2024-02-02 10:00:00"))
    );
    assert_eq!(
        row.get::<NaiveDateTime, _>("update_time"),
        Some(t("2024-02-02 10:00:01"))
    );
    assert_eq!(row.get::<i32, _>("process_instance_priority"), Some(1));
    assert_eq!(row.get::<i64, _>("environment_code"), Some(77));
    assert_eq!(row.get::<i32, _>("dry_run"), Some(1));
    assert!(row
        .get::<String, _>("message")
        .is_some_and(|m| m.starts_with("process instance is null")));
    assert_eq!(
        count(
            conn,
            &format!("SELECT COUNT(*) FROM t_ds_command WHERE id = {id}")
        )
        .await,
        0
    );

    // A row that does not decode: the error names table, id and column; SQL copies it raw.
    let bad = insert_full_command(conn, wf, 11).await;
    let NextCommand::Broken { id: broken, error } = next_command(store).await else {
        panic!("{schema}: command type 11 must not decode");
    };
    assert_eq!(broken, bad);
    let message = error.to_string();
    assert!(
        message.contains("t_ds_command")
            && message.contains(&format!("id {bad}"))
            && message.contains("command_type")
            && message.contains("11"),
        "{schema}: {message}"
    );
    store
        .move_broken_command(bad, &message)
        .await
        .expect("move broken");
    store
        .move_broken_command(bad, &message)
        .await
        .expect("moving a gone command again is harmless");
    let (ty, msg, wg): (i32, String, Option<String>) = conn
        .first(
            "SELECT command_type, message, worker_group FROM t_ds_error_command WHERE id = ?",
            params![bad],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((ty, msg.as_str(), wg), (11, message.as_str(), None));
    assert_eq!(
        count(conn, "SELECT COUNT(*) FROM t_ds_command").await,
        0,
        "{schema}"
    );
}

async fn reference_rows(
    store: &Store,
    conn: &mut Conn,
    instance_id: i32,
    wf: &ImportedWorkflow,
    schema: SchemaVersion,
) {
    // Schedules as ScheduleServiceImpl inserts them (offline), then released.
    conn.exec(&format!(
        "INSERT INTO t_ds_schedules (process_definition_code, start_time, end_time, timezone_id, \
         crontab, failure_strategy, user_id, release_state, warning_type, warning_group_id, \
         process_instance_priority, worker_group, environment_code, create_time, update_time) VALUES \
         ({code}, '2024-01-01 00:00:00', '2124-01-01 00:00:00', 'Asia/Shanghai', '0 0 * * * ? *', 1, 1, 0, 0, 0, 2, 'default', -1, NOW(), NOW()), \
         ({code}, '2024-01-01 00:00:00', '2124-01-01 00:00:00', NULL, '0 30 1 * * ? *', 0, 1, 1, 2, 1, NULL, '', 5, NOW(), NOW())",
        code = wf.definition_code
    ), params![])
    .await
    .unwrap();
    let online = store
        .find_release_schedules(wf.definition_code)
        .await
        .unwrap();
    assert_eq!(online.len(), 1, "{schema}: only released schedules");
    let s = &online[0];
    assert_eq!(s.crontab, "0 30 1 * * ? *");
    assert_eq!(s.release_state, ReleaseState::ONLINE);
    assert_eq!(s.failure_strategy, FailureStrategy::END);
    assert_eq!(s.warning_type, WarningType::FAILURE);
    assert_eq!(s.process_instance_priority, None);
    assert_eq!(s.environment_code, Some(5));
    assert_eq!(s.end_time, t("2124-01-01 00:00:00"));
    let first = store.find_schedule(s.id - 1).await.unwrap().unwrap();
    assert_eq!(first.timezone_id.as_deref(), Some("Asia/Shanghai"));

    // Worker groups: addr_list split, newest update first.
    conn.exec("INSERT INTO t_ds_worker_group (name, addr_list, create_time, update_time) VALUES \
         ('old', '10.0.0.1:1234', NOW(), '2024-01-01 00:00:00'), \
         ('new', '10.0.0.2:1234,10.0.0.3:1234', NOW(), '2024-06-01 00:00:00'), ('none', NULL, NOW(), NULL)", params![])
    .await
    .unwrap();
    let groups = store.worker_groups().await.unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    // The same ORDER BY as upstream's mapper: MySQL sorts NULL last when descending,
    // PostgreSQL first, and the Java master sees exactly that on each.
    let (expected, newest, none) = match conn.dialect() {
        Dialect::Mysql => (vec!["new", "old", "none"], 0, 2),
        Dialect::Postgres => (vec!["none", "new", "old"], 1, 0),
    };
    assert_eq!(names, expected, "{schema}");
    assert_eq!(
        groups[newest].addr_list,
        vec!["10.0.0.2:1234", "10.0.0.3:1234"]
    );
    assert!(groups[none].addr_list.is_empty());

    // Environment as EnvironmentServiceImpl writes it.
    conn.exec("INSERT INTO t_ds_environment (code, name, config, description, operator, create_time, update_time) \
         VALUES (4500000000001, 'env', 'export JAVA_HOME=/opt/java', 'd', 1, NOW(), NOW())", params![])
    .await
    .unwrap();
    let env = store
        .find_environment(4500000000001)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(env.config.as_deref(), Some("export JAVA_HOME=/opt/java"));
    assert_eq!(env.operator, Some(1));
    assert_eq!(
        store
            .environment_config(4500000000001)
            .await
            .unwrap()
            .as_deref(),
        Some("export JAVA_HOME=/opt/java")
    );
    assert!(store.find_environment(1).await.unwrap().is_none());

    // Tenant joined with its queue; a tenant whose queue is gone is not found (inner join).
    let tenant_id = fixtures::ensure_tenant(conn, "default").await.unwrap();
    let tenant = store.find_tenant(tenant_id).await.unwrap().unwrap();
    assert_eq!(tenant.tenant_code.as_deref(), Some("default"));
    assert_eq!(
        (tenant.queue_id, tenant.queue.as_deref()),
        (Some(1), Some("default"))
    );
    let (_, new_id) = conn.insert("INSERT INTO t_ds_tenant (tenant_code, description, queue_id, create_time, update_time) \
         VALUES ('orphan', '', 99, NOW(), NOW())", params![])
    .await
    .unwrap();
    let orphan = new_id.unwrap() as i32;
    assert!(
        store.find_tenant(orphan).await.unwrap().is_none(),
        "{schema}"
    );
    let q = store.find_queue(1).await.unwrap().unwrap();
    assert_eq!(
        (q.queue_name.as_deref(), q.queue.as_deref()),
        (Some("default"), Some("default"))
    );

    // The admin user of the DDL; a general user with a queue, as UsersServiceImpl writes.
    let admin = store.find_user(1).await.unwrap().unwrap();
    assert_eq!(admin.user_name.as_deref(), Some("admin"));
    assert_eq!(admin.user_type, Some(UserType::ADMIN_USER));
    assert_eq!((admin.tenant_id, admin.state), (Some(0), Some(1)));
    let (_, new_id) = conn.insert(
        "INSERT INTO t_ds_user (user_name, user_password, user_type, email, phone, tenant_id, \
         create_time, update_time, queue, state) VALUES ('bob', 'x', 1, 'b@x', '', ?, NOW(), NOW(), 'q1', 1)",
        params![tenant_id],
    )
    .await
    .unwrap();
    let bob = store
        .find_user(new_id.unwrap() as i32)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob.user_type, Some(UserType::GENERAL_USER));
    assert_eq!(bob.queue.as_deref(), Some("q1"));
    let tq = store
        .tenant_for(-1, Some(bob.id), bob.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (tq.tenant_code.as_str(), tq.queue.as_deref()),
        ("default", Some("q1")),
        "{schema}: owner's tenant, executor's queue"
    );

    // Project (written by the fixture import) and the alert join.
    let project = store
        .find_project_by_code(wf.project_code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(project.flag, Some(Flag::YES));
    assert_eq!(project.user_id, Some(1));
    let pu = store
        .find_project_user_of_instance(instance_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pu.project_id, project.id);
    assert_eq!(pu.project_code, wf.project_code);
    assert_eq!(pu.user_name.as_deref(), Some("admin"));

    let group = store.find_alert_group(1).await.unwrap().unwrap();
    assert_eq!(
        group.group_name.as_deref(),
        Some("default admin warning group")
    );
    assert_eq!(group.alert_instance_ids.as_deref(), Some("1,2"));

    // Resources, UDFs and a data source as the API server writes them.
    conn.exec("INSERT INTO t_ds_resources (alias, file_name, description, user_id, type, size, create_time, \
         update_time, pid, full_name, is_directory) VALUES \
         ('a.sh', 'a.sh', '', 1, 0, 12, NOW(), NOW(), -1, '/a.sh', '0'), \
         ('u.jar', 'u.jar', '', 1, 1, 99, NOW(), NOW(), -1, '/u.jar', '0')", params![])
    .await
    .unwrap();
    let file = store
        .find_resource_by_full_name("/a.sh", ResourceType::FILE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(file.file_name.as_deref(), Some("a.sh"));
    assert_eq!(file.is_directory, Some(false));
    assert!(store
        .find_resource_by_full_name("/a.sh", ResourceType::UDF)
        .await
        .unwrap()
        .is_none());
    let both = store
        .find_resources(&[file.id + 1, file.id, 9999])
        .await
        .unwrap();
    assert_eq!(both.len(), 2);
    assert_eq!(both[1].resource_type, Some(ResourceType::UDF));
    assert_eq!(
        store.find_resource(file.id).await.unwrap(),
        Some(file.clone())
    );
    let database = match conn.dialect() {
        Dialect::Mysql => "`database`",
        Dialect::Postgres => "database",
    };
    let (_, new_id) = conn.insert(
        &format!("INSERT INTO t_ds_udfs (user_id, func_name, class_name, type, arg_types, {database}, description, \
         resource_id, resource_name, create_time, update_time) VALUES (1, 'f', 'com.x.F', 0, 'int', 'db', '', ?, '/u.jar', NOW(), NOW())"),
        params![file.id + 1],
    )
    .await
    .unwrap();
    let udf_id = new_id.unwrap() as i32;
    let udfs = store.find_udfs(&[udf_id]).await.unwrap();
    assert_eq!(udfs[0].udf_type, UdfType::HIVE);
    assert_eq!(udfs[0].resource_name, "/u.jar");
    assert_eq!(udfs[0].database.as_deref(), Some("db"));
    let (_, new_id) = conn.insert("INSERT INTO t_ds_datasource (name, note, type, user_id, connection_params, create_time, update_time) \
         VALUES ('pg', 'n', 1, 1, '{\"address\":\"jdbc:postgresql://h:5432\",\"user\":\"u\",\"password\":\"p\"}', NOW(), NOW())", params![])
    .await
    .unwrap();
    let ds = store
        .find_datasource(new_id.unwrap() as i32)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ds.db_type, DbType::POSTGRESQL);
    assert!(
        ds.connection_params.contains("jdbc:postgresql"),
        "{schema}: verbatim"
    );

    // An unknown code in a reference table is an error naming the cell, not a panic.
    conn.exec("UPDATE t_ds_datasource SET type = 42", params![])
        .await
        .unwrap();
    let err = store.find_datasource(ds.id).await.unwrap_err().to_string();
    assert!(
        err.contains("t_ds_datasource") && err.contains("column type") && err.contains("42"),
        "{schema}: {err}"
    );
}

async fn alerts_and_links(store: &Store, conn: &mut Conn, schema: SchemaVersion) {
    let now = t("2024-02-03 08:00:00");
    let alert = Alert {
        title: Some("start process success".into()),
        content: Some("[{\"processId\":1}]".into()),
        alertgroup_id: 1,
        create_time: Some(now),
        ..Alert::default()
    };
    let id = store.insert_alert(&alert).await.unwrap();
    let row: Row = conn
        .first("SELECT * FROM t_ds_alert WHERE id = ?", params![id])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.get::<i32, _>("alert_status"),
        Some(0),
        "{schema}: default"
    );
    assert_eq!(
        row.get::<Option<NaiveDateTime>, _>("update_time"),
        Some(None),
        "left NULL"
    );
    assert_eq!(row.get::<i32, _>("alertgroup_id"), Some(1));
    let read = store.find_alert(id).await.unwrap().unwrap();
    assert_eq!(read.alert_status, Some(AlertStatus::WAIT_EXECUTION));
    assert_eq!(
        (read.title, read.content),
        (alert.title.clone(), alert.content.clone())
    );

    let down = Alert {
        title: Some("Fault tolerance warning".into()),
        content: Some("[{\"type\":\"MASTER\",\"host\":\"/nodes/master/h:1\",\"event\":\"SERVER_DOWN\",\"warningLevel\":\"SERIOUS\"}]".into()),
        alertgroup_id: 1,
        ..Alert::default()
    };
    assert!(store.insert_alert_unless_pending(&down).await.unwrap());
    assert!(
        !store.insert_alert_unless_pending(&down).await.unwrap(),
        "{schema}: one pending alert per content"
    );
    conn.exec("UPDATE t_ds_alert SET alert_status = 1", params![])
        .await
        .unwrap();
    assert!(
        store.insert_alert_unless_pending(&down).await.unwrap(),
        "sent ones do not count"
    );

    // Sub-process links: insert, update (child known), both look-ups.
    let mut link = ProcessInstanceMap {
        id: 0,
        parent_process_instance_id: 10,
        parent_task_instance_id: 20,
        process_instance_id: 0,
    };
    link.id = store.insert_process_instance_map(&link).await.unwrap();
    let raw: (i32, i32, i32) = conn
        .first(
            "SELECT parent_process_instance_id, parent_task_instance_id, process_instance_id \
             FROM t_ds_relation_process_instance WHERE id = ?",
            params![link.id],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw, (10, 20, 0), "{schema}: 0 written, not NULL");
    link.process_instance_id = 30;
    store.update_process_instance_map(&link).await.unwrap();
    assert_eq!(
        store
            .find_process_instance_map_by_parent(10, 20)
            .await
            .unwrap(),
        Some(link)
    );
    assert_eq!(
        store.find_process_instance_map_by_child(30).await.unwrap(),
        Some(link)
    );
    assert!(store
        .find_process_instance_map_by_child(31)
        .await
        .unwrap()
        .is_none());
}

/// `schema_version` on a 2.0.1-like schema (no restart_time) and a foreign version.
async fn schema_detection(db: &TestDb) {
    db.create_ds_database("ds_old", SchemaVersion::V2_0_2).await;
    let mut conn = db.conn("ds_old").await;
    conn.exec(
        "ALTER TABLE t_ds_process_instance DROP COLUMN restart_time",
        params![],
    )
    .await
    .unwrap();
    let store = store_for(db, "ds_old").await;
    let v = store
        .schema_version()
        .await
        .expect("2.0.1-like schema is served");
    assert!(!v.has_restart_time);
    // Inserts and reads then leave restart_time out.
    let wf = fixtures::import_file(
        &mut conn,
        Path::new("fixtures/workflows/shell-a-b.json"),
        "default",
    )
    .await
    .unwrap()
    .remove(0);
    let cmd_id = fixtures::insert_start_command(&mut conn, &wf)
        .await
        .unwrap();
    let NextCommand::Command(cmd) = next_command(&store).await else {
        panic!("decodes");
    };
    assert_eq!(cmd.id, cmd_id);
    let def = store
        .find_process_definition(wf.definition_code, wf.definition_version)
        .await
        .unwrap()
        .unwrap();
    let built =
        construct::new_process_instance(&cmd, &def, "h:1", t("2024-01-01 00:00:00"), "x", utc())
            .unwrap();
    let HandleOutcome::Started(p) = store.start_instance(cmd.id, built).await.unwrap() else {
        panic!("starts without restart_time");
    };
    let read = store.find_process_instance(p.id).await.unwrap().unwrap();
    assert_eq!(read.restart_time, None);
    store.close().await;

    db.create_ds_database("ds_future", SchemaVersion::V2_0_5)
        .await;
    let mut conn = db.conn("ds_future").await;
    conn.exec("UPDATE t_ds_version SET version = '3.0.0'", params![])
        .await
        .unwrap();
    let store = store_for(db, "ds_future").await;
    let err = store.schema_version().await.expect_err("3.0.0 is refused");
    assert!(matches!(err, store::Error::UnsupportedSchema(_)));
    let text = err.to_string();
    assert!(
        text.contains("3.0.0") && text.contains("2.0.0-2.0.9"),
        "refusal says what was found and what is served: {text}"
    );
    store.close().await;

    // Not a DolphinScheduler 2.0 schema at all: refused, naming what is missing.
    conn.exec("DROP TABLE t_ds_error_command", params![])
        .await
        .unwrap();
    let store = store_for(db, "ds_future").await;
    let err = store
        .schema_version()
        .await
        .expect_err("a schema without t_ds_error_command is refused");
    let text = err.to_string();
    assert!(
        matches!(err, store::Error::UnsupportedSchema(_))
            && text.contains("missing table(s) t_ds_error_command"),
        "{text}"
    );
    store.close().await;
}
