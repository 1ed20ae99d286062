//! Timed schedules end to end: QRTZ rows written the way the API server writes them (the
//! recorded rows as template), our master started from its conf dir with the stand-in
//! worker; the trigger fires every 2 s until its end time, each fire becomes a SCHEDULER
//! command and a workflow instance that succeeds with `schedule_time` = the fire time, and
//! after the last fire Quartz's completion removes the trigger and its job.

use chrono::TimeZone;
use dsmaster::params;
use dsmaster::schedule::golden::{self, Value};
use dsmaster::schedule::{CronExpression, CronTrigger, JavaZone};
use dsmaster::store::Dialect;
use dsmaster::testkit::cluster::{init_test_logging, LocalCluster};
use dsmaster::testkit::worker::Behaviour;
use dsmaster::testkit::SchemaVersion;
use std::path::Path;
use std::time::Duration;

const CRON: &str = "*/2 * * * * ? *";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_schedule_fires_workflows_until_its_end_time() {
    fires_until_end_time(Dialect::Mysql).await;
}

/// The same on PostgreSQL: lower-case Quartz tables, boolean flags and bytea job data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_schedule_fires_workflows_until_its_end_time_on_postgresql() {
    fires_until_end_time(Dialect::Postgres).await;
}

async fn fires_until_end_time(dialect: Dialect) {
    init_test_logging();
    let mut c = match dialect {
        Dialect::Mysql => LocalCluster::start(SchemaVersion::V2_0_5).await,
        Dialect::Postgres => LocalCluster::start_postgres(SchemaVersion::V2_0_5).await,
    }
    .expect("cluster");
    let wf = c
        .import(Path::new("fixtures/workflows/chain-1.json"))
        .await
        .expect("import")
        .remove(0);
    let mut conn = c.db_conn().await.unwrap();
    let project_id: i64 = conn
        .first(
            "SELECT id FROM t_ds_project WHERE code = ?",
            params![wf.project_code],
        )
        .await
        .unwrap()
        .expect("project");
    let day_later = match dialect {
        Dialect::Mysql => "NOW() + INTERVAL 1 DAY",
        Dialect::Postgres => "NOW() + INTERVAL '1 day'",
    };
    let (_, schedule_id) = conn.insert(
        &format!("INSERT INTO t_ds_schedules (process_definition_code, start_time, end_time, timezone_id, crontab, failure_strategy, user_id, release_state, warning_type, worker_group, create_time, update_time) VALUES (?, NOW(), {day_later}, 'Asia/Shanghai', ?, 1, 1, 1, 0, 'default', NOW(), NOW())"),
        params![wf.definition_code, CRON],
    )
    .await
    .unwrap();
    let schedule_id = schedule_id.expect("schedule id");

    // The API server's rows for this schedule, from the recorded job_4 rows.
    let a2 = golden::load_fixture()
        .expect("golden")
        .into_iter()
        .find(|s| s.name == "A2")
        .expect("A2");
    let job_data = a2
        .rows("QRTZ_JOB_DETAILS")
        .iter()
        .find(|r| r.get("JOB_NAME") == Some(&Value::Text("job_4".into())))
        .and_then(|r| r.get("JOB_DATA").cloned())
        .expect("job_4 JOB_DATA");
    let Value::Blob(job_data) = job_data else {
        panic!("JOB_DATA is a blob")
    };
    let (name, group) = (
        format!("job_{schedule_id}"),
        format!("jobgroup_{project_id}"),
    );
    let now = chrono::Utc::now().timestamp_millis();
    // Start 10 s ahead (master start-up), on an even second; three fires until the end.
    let start = (now / 2000 + 5) * 2000;
    let end = start + 4000;
    let trigger = CronTrigger {
        cron: CronExpression::parse(CRON).unwrap(),
        zone: JavaZone::resolve("Asia/Shanghai"),
        start_ms: start,
        end_ms: Some(end),
    };
    let first = trigger.first_fire_time().expect("first fire");
    assert_eq!(first, start);
    conn.exec(
        "INSERT INTO QRTZ_JOB_DETAILS (SCHED_NAME, JOB_NAME, JOB_GROUP, DESCRIPTION, JOB_CLASS_NAME, IS_DURABLE, IS_NONCONCURRENT, IS_UPDATE_DATA, REQUESTS_RECOVERY, JOB_DATA) VALUES ('DolphinScheduler', ?, ?, NULL, 'org.apache.dolphinscheduler.service.quartz.ProcessScheduleJob', '0', '0', '0', '0', ?)",
        params![&name, &group, job_data],
    )
    .await
    .unwrap();
    conn.exec(
        "INSERT INTO QRTZ_TRIGGERS (SCHED_NAME, TRIGGER_NAME, TRIGGER_GROUP, JOB_NAME, JOB_GROUP, DESCRIPTION, NEXT_FIRE_TIME, PREV_FIRE_TIME, PRIORITY, TRIGGER_STATE, TRIGGER_TYPE, START_TIME, END_TIME, CALENDAR_NAME, MISFIRE_INSTR, JOB_DATA) VALUES ('DolphinScheduler', ?, ?, ?, ?, NULL, ?, -1, 5, 'WAITING', 'CRON', ?, ?, NULL, 2, '')",
        params![&name, &group, &name, &group, first, start, end],
    )
    .await
    .unwrap();
    conn.exec(
        "INSERT INTO QRTZ_CRON_TRIGGERS (SCHED_NAME, TRIGGER_NAME, TRIGGER_GROUP, CRON_EXPRESSION, TIME_ZONE_ID) VALUES ('DolphinScheduler', ?, ?, ?, 'Asia/Shanghai')",
        params![&name, &group, CRON],
    )
    .await
    .unwrap();

    c.start_master().await.expect("master");
    c.start_worker(Behaviour::RunShell).await.expect("worker");

    // Three instances, all SUCCESS, scheduled at start, start+2 s, start+4 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let rows = loop {
        // schedule_time is wall-clock time in the master's zone (this machine's, on both
        // servers here: the private MariaDB runs in the system zone).
        let rows: Vec<(i64, i64, Option<i64>, i64)> = conn
            .all::<(i64, i64, Option<chrono::NaiveDateTime>, i64)>(
                "SELECT id, state, schedule_time, command_type FROM t_ds_process_instance WHERE process_definition_code = ? ORDER BY schedule_time",
                params![wf.definition_code],
            )
            .await
            .unwrap()
            .into_iter()
            .map(|(id, state, at, ty)| {
                let ms = at.and_then(|t| {
                    chrono::Local
                        .from_local_datetime(&t)
                        .single()
                        .map(|t| t.timestamp_millis())
                });
                (id, state, ms, ty)
            })
            .collect();
        if rows.len() >= 3 && rows.iter().all(|r| r.1 == 7) {
            break rows;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "three scheduled instances did not all succeed: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let times: Vec<Option<i64>> = rows.iter().map(|r| r.2).collect();
    assert_eq!(
        times,
        vec![Some(start), Some(start + 2000), Some(start + 4000)],
        "schedule_time = each fire time, no more fires after the end time"
    );
    assert!(
        rows.iter().all(|r| r.3 == 6),
        "command type SCHEDULER: {rows:?}"
    );
    let commands: i64 = conn
        .first(
            "SELECT COUNT(*) FROM t_ds_command WHERE command_type = 6",
            params![],
        )
        .await
        .unwrap()
        .unwrap_or(0);
    let instances: i64 = conn
        .first(
            "SELECT COUNT(*) FROM t_ds_process_instance WHERE process_definition_code = ?",
            params![wf.definition_code],
        )
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(
        (commands, instances),
        (0, 3),
        "each command consumed once, one instance per fire"
    );

    // The last fire had no successor: completion removed the trigger and the job.
    for table in ["QRTZ_TRIGGERS", "QRTZ_CRON_TRIGGERS", "QRTZ_JOB_DETAILS"] {
        let col = if table == "QRTZ_JOB_DETAILS" {
            "JOB_NAME"
        } else {
            "TRIGGER_NAME"
        };
        let n: i64 = conn
            .first(
                &format!("SELECT COUNT(*) FROM {table} WHERE {col} = ?"),
                params![&name],
            )
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0, "{table} still holds the finished schedule");
    }
    let fired: i64 = conn
        .first("SELECT COUNT(*) FROM QRTZ_FIRED_TRIGGERS", params![])
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(fired, 0);
    let members: i64 = conn
        .first("SELECT COUNT(*) FROM QRTZ_SCHEDULER_STATE", params![])
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(members, 1, "our master is a checked-in Quartz member");
    drop(conn);
    // Graceful stop removes our state row (docs/deviations.md).
    let master = c.master.take().expect("master");
    master.shutdown().await;
    let mut conn = c.db_conn().await.unwrap();
    let members: i64 = conn
        .first("SELECT COUNT(*) FROM QRTZ_SCHEDULER_STATE", params![])
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(members, 0);
    drop(conn);
    c.stop().await;
}
