//! Checks the test harness itself: private servers come up, upstream's schema
//! loads for every supported version, and nothing is left behind afterwards.
//! Every other integration test relies on these guarantees.

use std::path::Path;

use dsmaster::testkit::{MariaDb, SchemaVersion, ZooKeeper, DS_USER};
use mysql_async::prelude::Queryable;

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
}

#[tokio::test]
async fn servers_start_load_schema_and_clean_up() {
    init_tracing();
    let (db, zk) = tokio::join!(MariaDb::start(), ZooKeeper::start());
    let db = db.expect("MariaDB starts");
    let zk = zk.expect("ZooKeeper starts");
    let db_dir = db.dir().to_path_buf();
    let zk_dir = zk.dir().to_path_buf();
    assert_ne!(db.port(), 3306, "must never use the system MariaDB port");

    for (name, version, expected) in [
        ("ds_202", SchemaVersion::V2_0_2, "2.0.2"),
        ("ds_205", SchemaVersion::V2_0_5, "2.0.5"),
    ] {
        let jdbc = db
            .create_ds_database(name, version)
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
        assert_eq!(
            jdbc,
            format!(
                "jdbc:mysql://127.0.0.1:{}/{name}?useUnicode=true&characterEncoding=UTF-8",
                db.port()
            )
        );

        // Connect as the DS user, as the master would.
        let pool = mysql_async::Pool::new(db.ds_url(name).as_str());
        let mut conn = pool.get_conn().await.expect("ds_user connects");
        let versions: Vec<String> = conn
            .query("SELECT version FROM t_ds_version")
            .await
            .expect("t_ds_version readable");
        assert_eq!(versions, vec![expected.to_string()], "{name}");

        let restart_time: Option<String> = conn
            .exec_first(
                "SELECT column_name FROM information_schema.columns \
                 WHERE table_schema = ? AND table_name = 't_ds_process_instance' \
                 AND column_name = 'restart_time'",
                (name,),
            )
            .await
            .expect("information_schema readable");
        assert_eq!(restart_time.as_deref(), Some("restart_time"), "{name}");

        let admins: Option<u64> = conn
            .query_first("SELECT COUNT(*) FROM t_ds_user WHERE user_name = 'admin'")
            .await
            .expect("t_ds_user readable");
        assert_eq!(admins, Some(1), "{name}: upstream's default admin row");
        drop(conn);
        pool.disconnect().await.expect("pool closes");
    }

    // Reloading into an existing database must be refused, not wipe it.
    assert!(db
        .create_ds_database("ds_205", SchemaVersion::V2_0_5)
        .await
        .is_err());
    assert!(db
        .create_ds_database("bad-name", SchemaVersion::V2_0_5)
        .await
        .is_err());

    // The DS user is scoped to DS databases.
    let mut root = mysql_async::Conn::new(
        mysql_async::Opts::from_url(&db.root_url("mysql")).expect("valid URL"),
    )
    .await
    .expect("root connects");
    let grants: Vec<String> = root
        .query(format!("SHOW GRANTS FOR '{DS_USER}'@'%'"))
        .await
        .expect("grants readable");
    assert!(grants.iter().any(|g| g.contains("`ds_202`")), "{grants:?}");
    root.disconnect().await.expect("root disconnects");

    assert_eq!(zk.four_letter("ruok").await.expect("ruok"), "imok");
    let mntr = zk.four_letter("mntr").await.expect("mntr");
    assert!(mntr.contains("zk_server_state\tstandalone"), "{mntr}");

    db.stop().await;
    zk.stop().await;
    assert_gone(&db_dir);
    assert_gone(&zk_dir);
}

/// Panicking tests only get `Drop`, so it alone must clean up.
#[tokio::test]
async fn drop_kills_servers_and_removes_dirs() {
    init_tracing();
    let (db, zk) = tokio::join!(MariaDb::start(), ZooKeeper::start());
    let db = db.expect("MariaDB starts");
    let mut zk = zk.expect("ZooKeeper starts");
    let (db_dir, db_port) = (db.dir().to_path_buf(), db.port());
    let (zk_dir, zk_port) = (zk.dir().to_path_buf(), zk.port());

    // A crash-restart keeps the port and answers again.
    zk.restart(true).await.expect("ZooKeeper restarts");
    assert_eq!(zk.port(), zk_port);
    assert_eq!(zk.four_letter("ruok").await.expect("ruok"), "imok");

    drop(db);
    drop(zk);
    assert_gone(&db_dir);
    assert_gone(&zk_dir);
    for port in [db_port, zk_port] {
        assert!(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err(),
            "port {port} still answers after drop"
        );
    }
}

fn assert_gone(dir: &Path) {
    assert!(!dir.exists(), "{} still exists", dir.display());
}
