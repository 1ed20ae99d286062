//! DATETIME values follow the JDBC URL's `serverTimezone` as Connector/J does for the Java
//! master, whatever the database server's own zone.

use chrono::TimeZone;
use dsmaster::store::{ConnectOptions, Store};
use dsmaster::testkit::{MariaDb, SchemaVersion};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_follows_server_timezone() {
    let db = MariaDb::start().await.expect("MariaDB");
    db.create_ds_database("tz", SchemaVersion::V2_0_5)
        .await
        .unwrap();
    let epoch = chrono::Utc.timestamp_opt(0, 0).unwrap();
    for (zone, expected) in [
        (None, "1970-01-01 00:00:00"), // the private server runs in UTC
        (Some("GMT+8"), "1970-01-01 08:00:00"),
        (Some("+05:30"), "1970-01-01 05:30:00"),
    ] {
        let store = Store::connect(&ConnectOptions {
            dialect: dsmaster::store::Dialect::Mysql,
            url: db.ds_url("tz"),
            max_connections: 2,
            min_idle: 0,
            server_timezone: zone.map(str::to_string),
            jvm_offset_seconds: None,
        })
        .await
        .expect("store");
        assert_eq!(store.clock().to_db(epoch).to_string(), expected, "{zone:?}");
        store.close().await;
    }
    db.stop().await;
}
