//! Row-level conformance of our Quartz cluster member with the recorded rows of a Java
//! 2.0.5 master (`fixtures/quartz/quartz-rows-2.0.5.txt`), on a private MariaDB with
//! upstream's schema: seeded with the API server's rows (stage A2), our member must leave
//! the rows of stage B (check-in, misfire handling, acquisition), C (inside the first fire),
//! D (after it), F (after the fire that finds the schedule offline and deletes its job) and
//! G (after shutdown), with fire times and instance ids replaced by placeholders. Fire times
//! are then checked against the cron arithmetic separately. (Stage E, inside the
//! self-deleting fire, has no point where a test can hold our job; F checks its outcome.)

use dsmaster::schedule::golden::{self, Row, Stage, Value};
use dsmaster::schedule::{self, CronExpression, JavaZone, Options};
use dsmaster::store::{ConnectOptions, Store};
use dsmaster::testkit::cluster::init_test_logging;
use dsmaster::testkit::{MariaDb, SchemaVersion};
use mysql_async::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

type Tables = BTreeMap<String, Vec<Row>>;

/// The t_ds_command columns ProcessScheduleJob decides.
type CommandRow = (
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    String,
    i64,
    i64,
    Option<String>,
);

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Inserts every row of `stage` (the API server's output) into the database.
async fn seed(conn: &mut mysql_async::Conn, stage: &Stage) {
    // Parents first (foreign keys).
    for table in [
        "QRTZ_JOB_DETAILS",
        "QRTZ_TRIGGERS",
        "QRTZ_CRON_TRIGGERS",
        "QRTZ_LOCKS",
    ] {
        for row in stage.rows(table) {
            let cols: Vec<&str> = row.keys().map(String::as_str).collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                cols.join(", "),
                vec!["?"; cols.len()].join(", ")
            );
            let params: Vec<mysql_async::Value> = row
                .values()
                .map(|v| match v {
                    Value::Null => mysql_async::Value::NULL,
                    Value::Text(t) => t.clone().into(),
                    Value::Blob(b) => b.clone().into(),
                })
                .collect();
            conn.exec_drop(sql, params)
                .await
                .expect("seeding a golden row");
        }
    }
}

/// The current rows of the given tables, as the dump renders them.
async fn snapshot(conn: &mut mysql_async::Conn, tables: &[&str]) -> Tables {
    let mut out = Tables::new();
    for table in tables {
        let rows: Vec<mysql_async::Row> = conn
            .query(format!("SELECT * FROM {table}"))
            .await
            .expect("reading a QRTZ table");
        let mut list = Vec::new();
        for row in rows {
            let mut r = Row::new();
            for (i, c) in row.columns_ref().iter().enumerate() {
                let name = c.name_str().to_string();
                let v = match row.as_ref(i) {
                    None | Some(mysql_async::Value::NULL) => Value::Null,
                    Some(mysql_async::Value::Bytes(b)) if name == "JOB_DATA" => {
                        Value::Blob(b.clone())
                    }
                    Some(mysql_async::Value::Bytes(b)) => {
                        Value::Text(String::from_utf8_lossy(b).into())
                    }
                    Some(mysql_async::Value::Int(n)) => Value::Text(n.to_string()),
                    Some(mysql_async::Value::UInt(n)) => Value::Text(n.to_string()),
                    Some(other) => Value::Text(format!("{other:?}")),
                };
                r.insert(name, v);
            }
            list.push(r);
        }
        out.insert(table.to_string(), list);
    }
    out
}

fn text(row: &Row, col: &str) -> String {
    match row.get(col) {
        Some(Value::Text(t)) => t.clone(),
        other => panic!("{col}: {other:?}"),
    }
}

fn int(row: &Row, col: &str) -> i64 {
    text(row, col).parse().expect("number")
}

/// Replaces run-dependent values with placeholders; trigger times equal to the seed's
/// (unchanged by the member) are kept.
fn normalise(tables: &Tables, seed: &Stage) -> Tables {
    let mut out = Tables::new();
    for (table, rows) in tables {
        let mut list: Vec<Row> = rows
            .iter()
            .map(|row| {
                let mut r = row.clone();
                let mut placeholder = |col: &str, tag: &str| {
                    if r.contains_key(col) {
                        r.insert(col.into(), Value::Text(tag.into()));
                    }
                };
                match table.as_str() {
                    "QRTZ_TRIGGERS" => {
                        let seeded = seed
                            .rows(table)
                            .iter()
                            .find(|s| s.get("TRIGGER_NAME") == row.get("TRIGGER_NAME"));
                        for col in ["NEXT_FIRE_TIME", "PREV_FIRE_TIME"] {
                            let v = row.get(col);
                            let keep = matches!(v, Some(Value::Text(t)) if t.parse::<i64>().is_ok_and(|n| n <= 0))
                                || seeded.and_then(|s| s.get(col)) == v;
                            if !keep {
                                placeholder(col, "<time>");
                            }
                        }
                    }
                    "QRTZ_FIRED_TRIGGERS" => {
                        placeholder("ENTRY_ID", "<instance><counter>");
                        placeholder("INSTANCE_NAME", "<instance>");
                        placeholder("FIRED_TIME", "<time>");
                        placeholder("SCHED_TIME", "<time>");
                    }
                    "QRTZ_SCHEDULER_STATE" => {
                        placeholder("INSTANCE_NAME", "<instance>");
                        placeholder("LAST_CHECKIN_TIME", "<time>");
                    }
                    _ => {}
                }
                r
            })
            .collect();
        list.sort();
        out.insert(table.clone(), list);
    }
    out
}

/// Compares the tables the golden stage lists (minus `except`).
async fn assert_stage(
    conn: &mut mysql_async::Conn,
    golden: &Stage,
    seed: &Stage,
    except: &[&str],
) -> Tables {
    let tables: Vec<&str> = golden
        .tables
        .keys()
        .map(String::as_str)
        .filter(|t| !except.contains(t))
        .collect();
    let ours = snapshot(conn, &tables).await;
    let want: Tables = golden
        .tables
        .iter()
        .filter(|(t, _)| !except.contains(&t.as_str()))
        .map(|(t, r)| (t.clone(), r.clone()))
        .collect();
    let (a, b) = (normalise(&ours, seed), normalise(&want, seed));
    for table in &tables {
        assert_eq!(
            a.get(*table),
            b.get(*table),
            "stage {}: {table} differs from the Java master's rows",
            golden.name
        );
    }
    // Own fired rows carry our instance id as ENTRY_ID prefix, like Quartz's.
    for f in ours.get("QRTZ_FIRED_TRIGGERS").into_iter().flatten() {
        let (entry, inst) = (text(f, "ENTRY_ID"), text(f, "INSTANCE_NAME"));
        assert!(
            entry.starts_with(&inst) && entry[inst.len()..].parse::<i64>().is_ok(),
            "{entry}"
        );
    }
    ours
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !probe().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn count(db: &MariaDb, sql: &str) -> i64 {
    let mut c = db.root_conn(Some("ds")).await.unwrap();
    c.query_first::<i64, _>(sql).await.unwrap().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_leaves_the_rows_a_java_master_leaves() {
    init_test_logging();
    // Stay clear of job_1's hourly fire at :15 (it would add a fire the recording has not).
    let minute = (now_ms() / 60_000) % 60;
    if (14..=15).contains(&minute) {
        tokio::time::sleep(Duration::from_secs(((16 - minute) * 60) as u64)).await;
    }
    let stages = golden::load_fixture().expect("golden rows");
    let stage = |n: &str| stages.iter().find(|s| s.name == n).cloned().expect(n);
    let (a2, b, c_, d, f, g) = (
        stage("A2"),
        stage("B"),
        stage("C"),
        stage("D"),
        stage("F"),
        stage("G"),
    );

    let db = MariaDb::start().await.expect("MariaDB");
    db.create_ds_database("ds", SchemaVersion::V2_0_5)
        .await
        .expect("schema");
    let mut conn = db.root_conn(Some("ds")).await.unwrap();
    seed(&mut conn, &a2).await;
    for (id, code) in [
        (1, 4300000000001i64),
        (2, 4300000000002),
        (3, 4300000000003),
        (4, 4300000000004),
    ] {
        conn.exec_drop(
            "INSERT INTO t_ds_process_definition (code, name, version, project_code, release_state, user_id, flag, tenant_id, create_time, update_time) VALUES (?, ?, 3, 1, 1, 1, 1, -1, NOW(), NOW())",
            (code, format!("wf{id}")),
        )
        .await
        .unwrap();
        conn.exec_drop(
            "INSERT INTO t_ds_schedules (id, process_definition_code, start_time, end_time, timezone_id, crontab, failure_strategy, user_id, release_state, warning_type, warning_group_id, process_instance_priority, worker_group, environment_code, create_time, update_time) VALUES (?, ?, '2022-01-01 00:00:00', '2122-01-01 00:00:00', 'Asia/Shanghai', '0 0 * * * ? *', 1, 1, 1, 0, NULL, 2, '', 7, NOW(), NOW())",
            (id, code),
        )
        .await
        .unwrap();
    }

    let store = Store::connect(&ConnectOptions {
        dialect: dsmaster::store::Dialect::Mysql,
        url: db.ds_url("ds"),
        max_connections: 8,
        min_idle: 1,
        server_timezone: None,
        jvm_offset_seconds: None,
    })
    .await
    .expect("store");
    let options = Options {
        jvm_zone: JavaZone::resolve("Asia/Shanghai"),
        ..Options::default()
    };
    let started = now_ms();
    let member = schedule::start(store.clone(), options).await;

    // Stage B: checked in, misfires moved, job_4's next fire acquired.
    wait_for("job_4 to be acquired", Duration::from_secs(20), || async {
        count(
            &db,
            "SELECT COUNT(*) FROM QRTZ_FIRED_TRIGGERS WHERE STATE = 'ACQUIRED'",
        )
        .await
            == 1
    })
    .await;
    let ours = assert_stage(&mut conn, &b, &a2, &[]).await;
    let at_b = now_ms();
    let trig = |t: &Tables, name: &str| -> Row {
        t["QRTZ_TRIGGERS"]
            .iter()
            .find(|r| text(r, "TRIGGER_NAME") == name)
            .cloned()
            .expect(name)
    };
    let job4 = trig(&ours, "job_4");
    let first_fire = int(&job4, "NEXT_FIRE_TIME");
    assert_eq!(first_fire % 15_000, 0);
    assert!(
        first_fire > started && first_fire <= at_b + 30_000,
        "first fire {first_fire}"
    );
    assert_eq!(
        int(&ours["QRTZ_FIRED_TRIGGERS"][0], "SCHED_TIME"),
        first_fire
    );
    let shanghai = chrono_tz::Tz::Asia__Shanghai;
    for (name, cron) in [("job_1", "0 15 * * * ? *"), ("job_2", "0 30 1 L * ? *")] {
        let c = CronExpression::parse(cron).unwrap();
        let got = int(&trig(&ours, name), "NEXT_FIRE_TIME");
        let expect = [
            c.next_after(started - 1000, shanghai),
            c.next_after(at_b, shanghai),
        ];
        assert!(
            expect.contains(&Some(got)),
            "{name}: {got} not in {expect:?}"
        );
    }
    let state = &ours["QRTZ_SCHEDULER_STATE"][0];
    assert_eq!(text(state, "INSTANCE_NAME"), member.instance_id());
    assert!((int(state, "LAST_CHECKIN_TIME") - at_b).abs() < 6_000);

    // Stage C: inside the first execution (fired, not completed). The job is held there by
    // a table lock on t_ds_command, which its insert waits for.
    let mut locker = db.root_conn(Some("ds")).await.unwrap();
    locker
        .query_drop("LOCK TABLES t_ds_command WRITE")
        .await
        .unwrap();
    wait_for(
        "the first fire to be executing",
        Duration::from_secs(40),
        || async {
            count(
                &db,
                "SELECT COUNT(*) FROM QRTZ_FIRED_TRIGGERS WHERE STATE = 'EXECUTING'",
            )
            .await
                == 1
                && count(
                    &db,
                    "SELECT COUNT(*) FROM QRTZ_FIRED_TRIGGERS WHERE STATE = 'ACQUIRED'",
                )
                .await
                    == 1
        },
    )
    .await;
    let ours = assert_stage(&mut conn, &c_, &a2, &[]).await;
    let executing = ours["QRTZ_FIRED_TRIGGERS"]
        .iter()
        .find(|r| text(r, "STATE") == "EXECUTING")
        .cloned()
        .expect("executing row");
    assert_eq!(int(&executing, "SCHED_TIME"), first_fire);
    assert!(int(&executing, "FIRED_TIME") >= first_fire);
    locker.query_drop("UNLOCK TABLES").await.unwrap();
    drop(locker);

    // Stage D: fired once (a SCHEDULER command), next fire re-acquired.
    wait_for("the first fire to complete", Duration::from_secs(40), || async {
        count(&db, "SELECT COUNT(*) FROM t_ds_command").await == 1
            && count(&db, "SELECT COUNT(*) FROM QRTZ_FIRED_TRIGGERS WHERE STATE = 'ACQUIRED'").await == 1
            && count(&db, "SELECT COUNT(*) FROM QRTZ_FIRED_TRIGGERS").await == 1
            && count(&db, "SELECT COUNT(*) FROM QRTZ_TRIGGERS WHERE TRIGGER_NAME = 'job_4' AND PREV_FIRE_TIME > 0").await == 1
    })
    .await;
    let ours = assert_stage(&mut conn, &d, &a2, &[]).await;
    let job4 = trig(&ours, "job_4");
    assert_eq!(int(&job4, "PREV_FIRE_TIME"), first_fire);
    assert_eq!(int(&job4, "NEXT_FIRE_TIME"), first_fire + 15_000);
    let cmd: CommandRow = conn
        .query_first("SELECT command_type, process_definition_code, process_definition_version, process_instance_id, task_depend_type, failure_strategy, warning_group_id, process_instance_priority, worker_group, environment_code, executor_id, command_param FROM t_ds_command")
        .await
        .unwrap()
        .expect("command");
    assert_eq!(
        (cmd.0, cmd.1, cmd.2, cmd.3, cmd.4, cmd.5, cmd.6, cmd.7, cmd.8.as_str(), cmd.9, cmd.10, cmd.11.clone()),
        (6, 4300000000004, 3, 0, 2, 1, 0, Some(2), "default", -1, 1, None),
        "SCHEDULER command as ProcessScheduleJob writes it (environment code ignored, empty worker group -> default)"
    );
    let schedule_time: Option<chrono::NaiveDateTime> = conn
        .query_first("SELECT schedule_time FROM t_ds_command")
        .await
        .unwrap()
        .flatten();
    let fire_dt = chrono::DateTime::from_timestamp_millis(first_fire).unwrap();
    assert_eq!(
        schedule_time,
        Some(store.clock().to_db(fire_dt)),
        "schedule_time = scheduled fire time"
    );

    // Stage F: schedule offline; the next fire deletes the job's rows, no new command.
    conn.query_drop("UPDATE t_ds_schedules SET release_state = 0 WHERE id = 4")
        .await
        .unwrap();
    wait_for(
        "job_4 to delete itself",
        Duration::from_secs(40),
        || async {
            count(
                &db,
                "SELECT COUNT(*) FROM QRTZ_JOB_DETAILS WHERE JOB_NAME = 'job_4'",
            )
            .await
                == 0
                && count(&db, "SELECT COUNT(*) FROM QRTZ_FIRED_TRIGGERS").await == 0
        },
    )
    .await;
    assert_stage(&mut conn, &f, &a2, &[]).await;
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM QRTZ_CRON_TRIGGERS WHERE TRIGGER_NAME = 'job_4'"
        )
        .await,
        0
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM t_ds_command").await, 1);

    // Stage G: shutdown. Quartz leaves its state row for peers to expire; we remove ours
    // (docs/deviations.md), everything else is as the Java master leaves it.
    member.shutdown().await;
    assert_stage(&mut conn, &g, &a2, &["QRTZ_SCHEDULER_STATE"]).await;
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM QRTZ_SCHEDULER_STATE").await,
        0
    );
    drop(conn);
    store.close().await;
    db.stop().await;
}

/// Inserts a fired-trigger row of another member.
async fn claim(conn: &mut mysql_async::Conn, now: i64, instance: &str, trigger: &str, state: &str) {
    let entry = format!("{instance}{now}{trigger}");
    let group = if trigger == "job_2" {
        "jobgroup_2"
    } else {
        "jobgroup_1"
    };
    let (job_name, job_group) = if state == "EXECUTING" {
        (Some(trigger), Some(group))
    } else {
        (None, None)
    };
    conn.exec_drop(
        "INSERT INTO QRTZ_FIRED_TRIGGERS (SCHED_NAME, ENTRY_ID, TRIGGER_NAME, TRIGGER_GROUP, INSTANCE_NAME, FIRED_TIME, SCHED_TIME, PRIORITY, STATE, JOB_NAME, JOB_GROUP, IS_NONCONCURRENT, REQUESTS_RECOVERY) VALUES ('DolphinScheduler', ?, ?, ?, ?, ?, ?, 5, ?, ?, ?, '0', '0')",
        (entry, trigger, group, instance, now - 70_000, now + 600_000, state, job_name, job_group),
    )
    .await
    .unwrap();
}

/// Cluster recovery: claims of a member whose check-in is stale, of an orphan (fired rows
/// without a state row, seen at our first check-in) and of a peer that stops checking in
/// while we run go back to WAITING; their fired rows and state rows are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_failed_members_claims() {
    init_test_logging();
    let stages = golden::load_fixture().expect("golden rows");
    let a2 = stages.iter().find(|s| s.name == "A2").cloned().expect("A2");
    let db = MariaDb::start().await.expect("MariaDB");
    db.create_ds_database("ds", SchemaVersion::V2_0_5)
        .await
        .expect("schema");
    let mut conn = db.root_conn(Some("ds")).await.unwrap();
    seed(&mut conn, &a2).await;
    let now = now_ms();
    // A dead member (checked in a minute ago) holding job_3 and executing job_1.
    conn.query_drop(format!(
        "INSERT INTO QRTZ_SCHEDULER_STATE VALUES ('DolphinScheduler', 'deadhost1', {}, 5000)",
        now - 60_000
    ))
    .await
    .unwrap();
    conn.query_drop("UPDATE QRTZ_TRIGGERS SET TRIGGER_STATE = 'ACQUIRED' WHERE TRIGGER_NAME IN ('job_3', 'job_2')")
        .await
        .unwrap();
    claim(&mut conn, now, "deadhost1", "job_3", "ACQUIRED").await;
    claim(&mut conn, now, "deadhost1", "job_1", "EXECUTING").await;
    // An orphan: fired rows, no state row.
    claim(&mut conn, now, "orphanhost2", "job_2", "ACQUIRED").await;

    let store = Store::connect(&ConnectOptions {
        dialect: dsmaster::store::Dialect::Mysql,
        url: db.ds_url("ds"),
        max_connections: 4,
        min_idle: 1,
        server_timezone: None,
        jvm_offset_seconds: None,
    })
    .await
    .expect("store");
    let member = schedule::start(store.clone(), Options::default()).await;
    // The first check-in ran inside start().
    let states: Vec<(String, String)> = conn
        .query("SELECT TRIGGER_NAME, TRIGGER_STATE FROM QRTZ_TRIGGERS WHERE TRIGGER_NAME IN ('job_2', 'job_3') ORDER BY TRIGGER_NAME")
        .await
        .unwrap();
    assert_eq!(
        states,
        vec![
            ("job_2".into(), "WAITING".into()),
            ("job_3".into(), "WAITING".into())
        ]
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM QRTZ_FIRED_TRIGGERS WHERE INSTANCE_NAME IN ('deadhost1', 'orphanhost2')").await,
        0
    );
    let members: Vec<String> = conn
        .query("SELECT INSTANCE_NAME FROM QRTZ_SCHEDULER_STATE")
        .await
        .unwrap();
    assert_eq!(members, vec![member.instance_id().to_string()]);

    // A live peer that stops checking in: recovered by a later check-in (~12.5 s).
    let fresh = now_ms();
    conn.query_drop(format!(
        "INSERT INTO QRTZ_SCHEDULER_STATE (SCHED_NAME, INSTANCE_NAME, LAST_CHECKIN_TIME, CHECKIN_INTERVAL) VALUES ('DolphinScheduler', 'latehost3', {fresh}, 5000)"
    ))
    .await
    .unwrap();
    conn.query_drop(
        "UPDATE QRTZ_TRIGGERS SET TRIGGER_STATE = 'ACQUIRED' WHERE TRIGGER_NAME = 'job_3'",
    )
    .await
    .unwrap();
    claim(&mut conn, now, "latehost3", "job_3", "ACQUIRED").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM QRTZ_SCHEDULER_STATE WHERE INSTANCE_NAME = 'latehost3'"
        )
        .await,
        1,
        "not stale yet"
    );
    wait_for(
        "latehost3 to be recovered",
        Duration::from_secs(20),
        || async {
            count(
                &db,
                "SELECT COUNT(*) FROM QRTZ_SCHEDULER_STATE WHERE INSTANCE_NAME = 'latehost3'",
            )
            .await
                == 0
        },
    )
    .await;
    assert!(now_ms() - fresh >= 12_500, "recovered only once stale");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM QRTZ_TRIGGERS WHERE TRIGGER_NAME = 'job_3' AND TRIGGER_STATE = 'WAITING'").await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM QRTZ_FIRED_TRIGGERS WHERE INSTANCE_NAME = 'latehost3'"
        )
        .await,
        0
    );
    member.shutdown().await;
    drop(conn);
    store.close().await;
    db.stop().await;
}
