//! Our Quartz member under bad rows and a stalled database: rows it must not act on are left
//! exactly as they were, a job whose name carries no schedule id fails only its own fires,
//! a long-misfired trigger of a deleted schedule is moved and then deletes itself, the
//! Quartz tables DolphinScheduler never uses may be missing, and a database that freezes
//! for a few seconds delays fires without losing or repeating any (they are less than the
//! 60 s misfire threshold late).

use dsmaster::schedule::{self, CronExpression, CronTrigger, JavaZone, Options};
use dsmaster::store::{ConnectOptions, Store};
use dsmaster::testkit::cluster::init_test_logging;
use dsmaster::testkit::{MariaDb, SchemaVersion};
use mysql_async::prelude::*;
use std::time::Duration;

const CLASS: &str = "org.apache.dolphinscheduler.service.quartz.ProcessScheduleJob";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[allow(clippy::too_many_arguments)]
async fn trigger(
    conn: &mut mysql_async::Conn,
    name: &str,
    group: &str,
    class: &str,
    kind: &str,
    cron: &str,
    next: i64,
    start: i64,
    end: i64,
) {
    conn.exec_drop(
        "INSERT INTO QRTZ_JOB_DETAILS (SCHED_NAME, JOB_NAME, JOB_GROUP, JOB_CLASS_NAME, IS_DURABLE, IS_NONCONCURRENT, IS_UPDATE_DATA, REQUESTS_RECOVERY, JOB_DATA) VALUES ('DolphinScheduler', ?, ?, ?, '0', '0', '0', '0', '')",
        (name, group, class),
    )
    .await
    .unwrap();
    conn.exec_drop(
        "INSERT INTO QRTZ_TRIGGERS (SCHED_NAME, TRIGGER_NAME, TRIGGER_GROUP, JOB_NAME, JOB_GROUP, NEXT_FIRE_TIME, PREV_FIRE_TIME, PRIORITY, TRIGGER_STATE, TRIGGER_TYPE, START_TIME, END_TIME, MISFIRE_INSTR, JOB_DATA) VALUES ('DolphinScheduler', ?, ?, ?, ?, ?, -1, 5, 'WAITING', ?, ?, ?, 2, '')",
        (name, group, name, group, next, kind, start, end),
    )
    .await
    .unwrap();
    if kind == "CRON" {
        conn.exec_drop(
            "INSERT INTO QRTZ_CRON_TRIGGERS (SCHED_NAME, TRIGGER_NAME, TRIGGER_GROUP, CRON_EXPRESSION, TIME_ZONE_ID) VALUES ('DolphinScheduler', ?, ?, ?, 'UTC')",
            (name, group, cron),
        )
        .await
        .unwrap();
    }
}

async fn count(conn: &mut mysql_async::Conn, sql: &str) -> i64 {
    conn.query_first::<i64, _>(sql).await.unwrap().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_missing_tables_and_a_stalled_database() {
    init_test_logging();
    let db = MariaDb::start().await.expect("MariaDB");
    db.create_ds_database("ds", SchemaVersion::V2_0_5)
        .await
        .expect("schema");
    let mut conn = db.root_conn(Some("ds")).await.unwrap();
    conn.query_drop(
        "INSERT INTO t_ds_process_definition (code, name, version, project_code, release_state, user_id, flag, tenant_id, create_time, update_time) VALUES (77, 'wf', 1, 1, 1, 1, 1, -1, NOW(), NOW())",
    )
    .await
    .unwrap();
    conn.query_drop(
        "INSERT INTO t_ds_schedules (id, process_definition_code, start_time, end_time, crontab, failure_strategy, user_id, release_state, warning_type, create_time, update_time) VALUES (1, 77, NOW(), NOW(), '*/2 * * * * ? *', 1, 1, 1, 0, NOW(), NOW())",
    )
    .await
    .unwrap();
    let cron = "*/2 * * * * ? *";
    let start = (now_ms() / 2000 + 2) * 2000;
    let end = start + 20_000;
    let due = start;
    // The good schedule, and rows that are not ours to fire.
    trigger(
        &mut conn,
        "job_1",
        "jobgroup_1",
        CLASS,
        "CRON",
        cron,
        due,
        start,
        end,
    )
    .await;
    trigger(
        &mut conn,
        "job_2",
        "jobgroup_1",
        CLASS,
        "CRON",
        "not a cron",
        due,
        start,
        end,
    )
    .await;
    trigger(
        &mut conn,
        "job_3",
        "jobgroup_1",
        "com.example.OtherJob",
        "CRON",
        cron,
        due,
        start,
        end,
    )
    .await;
    trigger(
        &mut conn,
        "job_4",
        "jobgroup_1",
        CLASS,
        "SIMPLE",
        "",
        due,
        start,
        end,
    )
    .await;
    trigger(
        &mut conn,
        "job_x",
        "jobgroup_1",
        CLASS,
        "CRON",
        cron,
        due,
        start,
        end,
    )
    .await;
    // Misfired since 2022, and its schedule row is gone: moved by the misfire handler, then
    // its first fire deletes the job (ProcessScheduleJob's self-cleaning).
    let y2022 = 1_640_966_400_000;
    trigger(
        &mut conn,
        "job_5",
        "jobgroup_1",
        CLASS,
        "CRON",
        cron,
        y2022,
        y2022,
        end,
    )
    .await;
    // A database upgraded from 1.3.x may lack the tables DolphinScheduler never uses.
    for t in [
        "QRTZ_SIMPLE_TRIGGERS",
        "QRTZ_SIMPROP_TRIGGERS",
        "QRTZ_BLOB_TRIGGERS",
        "QRTZ_CALENDARS",
        "QRTZ_PAUSED_TRIGGER_GRPS",
    ] {
        conn.query_drop(format!("DROP TABLE {t}")).await.unwrap();
    }

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

    // Freeze the database for 6 s in the middle of the schedule's window.
    let pause_at = start + 6_000;
    tokio::time::sleep(Duration::from_millis((pause_at - now_ms()).max(0) as u64)).await;
    db.suspend();
    tokio::time::sleep(Duration::from_secs(6)).await;
    db.resume();

    // Every fire of job_1 once, then its rows go (end time reached).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left = count(
            &mut conn,
            "SELECT COUNT(*) FROM QRTZ_TRIGGERS WHERE TRIGGER_NAME IN ('job_1', 'job_x', 'job_5')",
        )
        .await;
        let fired = count(&mut conn, "SELECT COUNT(*) FROM QRTZ_FIRED_TRIGGERS").await;
        if left == 0 && fired == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job_1/job_x/job_5 still scheduled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let times: Vec<i64> = conn
        .query("SELECT CAST(UNIX_TIMESTAMP(schedule_time) AS SIGNED) * 1000 FROM t_ds_command ORDER BY schedule_time")
        .await
        .unwrap();
    let t = CronTrigger {
        cron: CronExpression::parse(cron).unwrap(),
        zone: JavaZone::resolve("UTC"),
        start_ms: start,
        end_ms: Some(end),
    };
    let mut expected = Vec::new();
    let mut next = t.first_fire_time();
    while let Some(n) = next {
        expected.push(n);
        next = t.fire_time_after(n);
    }
    assert_eq!(times, expected, "every fire once despite the stall");

    // The rows that are not DolphinScheduler cron schedules were never touched.
    let untouched: Vec<(String, String, i64, i64)> = conn
        .query("SELECT TRIGGER_NAME, TRIGGER_STATE, NEXT_FIRE_TIME, PREV_FIRE_TIME FROM QRTZ_TRIGGERS ORDER BY TRIGGER_NAME")
        .await
        .unwrap();
    assert_eq!(
        untouched,
        vec![
            ("job_2".to_string(), "WAITING".to_string(), due, -1),
            ("job_3".to_string(), "WAITING".to_string(), due, -1),
            ("job_4".to_string(), "WAITING".to_string(), due, -1),
        ]
    );
    member.shutdown().await;
    drop(conn);
    store.close().await;
    db.stop().await;
}
