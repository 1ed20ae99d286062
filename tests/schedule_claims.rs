//! Claim safety of our job store (docs/deviations.md 20 and 21), driven step by step on a
//! private MariaDB seeded with the API server's recorded rows:
//! - a claim a peer took over (after wrongly recovering us) is neither fired nor released;
//! - graceful shutdown returns our own ACQUIRED claims to WAITING and removes our state row.

use dsmaster::schedule::golden;
use dsmaster::schedule::jobstore::{FireOutcome, JobStore};
use dsmaster::schedule::Options;
use dsmaster::store::{ConnectOptions, Store};
use dsmaster::testkit::cluster::init_test_logging;
use dsmaster::testkit::{MariaDb, SchemaVersion};
use mysql_async::prelude::*;

async fn seed(conn: &mut mysql_async::Conn) {
    let stages = golden::load_fixture().expect("golden rows");
    let a2 = stages.iter().find(|s| s.name == "A2").expect("A2");
    for table in [
        "QRTZ_JOB_DETAILS",
        "QRTZ_TRIGGERS",
        "QRTZ_CRON_TRIGGERS",
        "QRTZ_LOCKS",
    ] {
        for row in a2.rows(table) {
            let cols: Vec<&str> = row.keys().map(String::as_str).collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                cols.join(", "),
                vec!["?"; cols.len()].join(", ")
            );
            let params: Vec<mysql_async::Value> = row
                .values()
                .map(|v| match v {
                    golden::Value::Null => mysql_async::Value::NULL,
                    golden::Value::Text(t) => t.clone().into(),
                    golden::Value::Blob(b) => b.clone().into(),
                })
                .collect();
            conn.exec_drop(sql, params).await.expect("seed");
        }
    }
}

type TriggerView = (String, i64, i64);

async fn job4(conn: &mut mysql_async::Conn) -> TriggerView {
    conn.query_first(
        "SELECT TRIGGER_STATE, NEXT_FIRE_TIME, PREV_FIRE_TIME FROM QRTZ_TRIGGERS WHERE TRIGGER_NAME = 'job_4'",
    )
    .await
    .unwrap()
    .expect("job_4")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_claims_are_not_fired_and_shutdown_releases_ours() {
    init_test_logging();
    let db = MariaDb::start().await.expect("MariaDB");
    db.create_ds_database("ds", SchemaVersion::V2_0_5)
        .await
        .expect("schema");
    let mut conn = db.root_conn(Some("ds")).await.unwrap();
    seed(&mut conn).await;
    let now = chrono::Utc::now().timestamp_millis();
    let due = (now / 15_000 + 2) * 15_000;
    conn.exec_drop(
        "UPDATE QRTZ_TRIGGERS SET NEXT_FIRE_TIME = ? WHERE TRIGGER_NAME = 'job_4'",
        (due,),
    )
    .await
    .unwrap();
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
    let js = JobStore::new(store.clone(), &Options::default(), "me1".into());
    js.check_in(true).await.expect("check-in");

    // Acquire job_4, then a peer takes the claim over (as after a false failure detection).
    let acquired = js
        .acquire_next_triggers(now + 60_000, 10, 0)
        .await
        .expect("acquire");
    assert_eq!(acquired.len(), 1);
    assert_eq!(acquired[0].trigger.key.name, "job_4");
    assert_eq!(acquired[0].fire_time(), due);
    assert!(acquired[0].entry_id.starts_with("me1"));
    conn.exec_drop(
        "UPDATE QRTZ_FIRED_TRIGGERS SET INSTANCE_NAME = 'peer2', ENTRY_ID = 'peer21' WHERE ENTRY_ID = ?",
        (&acquired[0].entry_id,),
    )
    .await
    .unwrap();
    let before = job4(&mut conn).await;
    let outcomes = js.triggers_fired(&acquired).await.expect("fire");
    assert!(
        matches!(outcomes[0], FireOutcome::Lost(_)),
        "{:?}",
        outcomes[0]
    );
    js.release_acquired(&acquired[0]).await.expect("release");
    assert_eq!(
        job4(&mut conn).await,
        before,
        "the peer's claim is untouched"
    );
    let peer_rows: i64 = conn
        .query_first("SELECT COUNT(*) FROM QRTZ_FIRED_TRIGGERS WHERE INSTANCE_NAME = 'peer2' AND STATE = 'ACQUIRED'")
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(peer_rows, 1);

    // The peer gives it back; we acquire it again and shut down before it is due.
    conn.query_drop("DELETE FROM QRTZ_FIRED_TRIGGERS")
        .await
        .unwrap();
    conn.query_drop(
        "UPDATE QRTZ_TRIGGERS SET TRIGGER_STATE = 'WAITING' WHERE TRIGGER_NAME = 'job_4'",
    )
    .await
    .unwrap();
    let acquired = js
        .acquire_next_triggers(now + 60_000, 10, 0)
        .await
        .expect("acquire again");
    assert_eq!(acquired.len(), 1);
    assert_eq!(job4(&mut conn).await.0, "ACQUIRED");
    js.shutdown_cleanup().await.expect("shutdown clean-up");
    assert_eq!(job4(&mut conn).await, ("WAITING".to_string(), due, -1));
    let left: (i64, i64) = conn
        .query_first("SELECT (SELECT COUNT(*) FROM QRTZ_FIRED_TRIGGERS), (SELECT COUNT(*) FROM QRTZ_SCHEDULER_STATE)")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left, (0, 0));
    drop(conn);
    store.close().await;
    db.stop().await;
}
