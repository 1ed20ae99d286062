//! Checks the PostgreSQL side of the test harness: a private server comes up (as an
//! unprivileged account when the tests run as root), upstream's PostgreSQL DDL loads for
//! every supported version, the faults the kit offers (freeze, crash, restart) behave,
//! and nothing is left behind afterwards.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use dsmaster::testkit::{Postgres, SchemaVersion, DS_USER};
use tokio::time::Instant;

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
}

#[tokio::test]
async fn postgres_starts_loads_schema_survives_faults_and_cleans_up() {
    init_tracing();
    let started = Instant::now();
    let mut pg = Postgres::start().await.expect("PostgreSQL starts");
    let dir = pg.dir().to_path_buf();
    let port = pg.port();
    assert_ne!(port, 5432, "must never use the system PostgreSQL port");

    for (name, version, expected) in [
        ("ds_202", SchemaVersion::V2_0_2, "2.0.2"),
        ("ds_205", SchemaVersion::V2_0_5, "2.0.5"),
    ] {
        let jdbc = pg
            .create_ds_database(name, version)
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
        assert_eq!(jdbc, format!("jdbc:postgresql://127.0.0.1:{port}/{name}"));
        assert_eq!(
            pg.url(name),
            format!("postgresql://ds_user:dolphinscheduler@127.0.0.1:{port}/{name}")
        );

        // As the DS user, with its password, as the master would.
        let version_row = pg
            .ds_psql(name, "SELECT version FROM t_ds_version")
            .await
            .expect("t_ds_version readable");
        assert_eq!(version_row, expected, "{name}");

        // Upstream's DDL names the Quartz tables unquoted, so PostgreSQL folds them.
        let tables = pg
            .psql(
                name,
                "SELECT to_regclass('t_ds_command') IS NOT NULL, \
                        to_regclass('qrtz_locks') IS NOT NULL, \
                        to_regclass('qrtz_triggers') IS NOT NULL",
            )
            .await
            .expect("catalog readable");
        assert_eq!(tables, "t\tt\tt", "{name}");

        let owner = pg
            .psql(
                name,
                "SELECT tableowner FROM pg_tables WHERE tablename = 't_ds_command'",
            )
            .await
            .expect("pg_tables readable");
        assert_eq!(
            owner, DS_USER,
            "{name}: the DS user owns the tables it loaded"
        );

        let restart_time = pg
            .psql(
                name,
                "SELECT column_name FROM information_schema.columns \
                 WHERE table_name = 't_ds_process_instance' AND column_name = 'restart_time'",
            )
            .await
            .expect("information_schema readable");
        assert_eq!(restart_time, "restart_time", "{name}");

        let admins = pg
            .ds_psql(
                name,
                "SELECT COUNT(*) FROM t_ds_user WHERE user_name = 'admin'",
            )
            .await
            .expect("t_ds_user readable");
        assert_eq!(admins, "1", "{name}: upstream's default admin row");
    }
    println!(
        "start + two DDL loads took {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // Reloading into an existing database must be refused, not wipe it.
    assert!(pg
        .create_ds_database("ds_205", SchemaVersion::V2_0_5)
        .await
        .is_err());
    assert!(pg
        .create_ds_database("bad-name", SchemaVersion::V2_0_5)
        .await
        .is_err());
    // A failing statement is an error, not an empty answer.
    assert!(pg
        .psql("ds_205", "SELECT * FROM no_such_table")
        .await
        .is_err());

    // A frozen server accepts nothing; thawed, it answers again.
    pg.suspend();
    let frozen = tokio::time::timeout(Duration::from_secs(2), pg.psql("ds_205", "SELECT 1")).await;
    assert!(frozen.is_err(), "a suspended server answered: {frozen:?}");
    pg.resume();
    assert_eq!(pg.psql("ds_205", "SELECT 1").await.expect("thawed"), "1");

    // An acknowledged commit survives a crash (fsync is off, but the kernel has it).
    pg.ds_psql(
        "ds_205",
        "INSERT INTO t_ds_command (command_type, process_definition_code, worker_group) \
         VALUES (0, 42, 'default')",
    )
    .await
    .expect("command inserted");
    pg.restart(true).await.expect("restarts after a crash");
    assert_eq!(pg.port(), port);
    let commands = pg
        .ds_psql(
            "ds_205",
            "SELECT COUNT(*) FROM t_ds_command WHERE process_definition_code = 42",
        )
        .await
        .expect("t_ds_command readable after the crash");
    assert_eq!(commands, "1");

    pg.restart(false).await.expect("restarts cleanly");
    assert_eq!(
        pg.ds_psql("ds_202", "SELECT version FROM t_ds_version")
            .await
            .expect("readable after a clean restart"),
        "2.0.2"
    );

    pg.stop().await;
    assert_gone(&dir);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still answers after stop"
    );
}

/// Panicking tests only get `Drop`, so it alone must clean up; and a server started for
/// peers answers the DS user on the peer address too (any 127/8 address stands in for
/// the test network's host side here, no namespace needed).
#[tokio::test]
async fn peers_reach_it_and_drop_cleans_up() {
    init_tracing();
    let peer = Ipv4Addr::new(127, 0, 0, 2);
    let pg = Postgres::start_for_peers(peer)
        .await
        .expect("PostgreSQL starts for peers");
    let (dir, port) = (pg.dir().to_path_buf(), pg.port());
    let jdbc = pg
        .create_ds_database("ds_peer", SchemaVersion::V2_0_5)
        .await
        .expect("DS database");
    assert_eq!(jdbc, format!("jdbc:postgresql://127.0.0.2:{port}/ds_peer"));
    // The DS user logs in with its password over the peer address, as a Java API server
    // in a namespace would (the kit's own psql helper always uses loopback).
    let url = pg
        .url("ds_peer")
        .replace("@127.0.0.1:", &format!("@{peer}:"));
    let output = tokio::process::Command::new("psql")
        .args(["--no-psqlrc", "--tuples-only", "--no-align", "--command"])
        .arg("SELECT version FROM t_ds_version")
        .arg(&url)
        .output()
        .await
        .expect("psql runs");
    assert!(
        output.status.success(),
        "{url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "2.0.5");

    drop(pg);
    assert_gone(&dir);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still answers after drop"
    );
}

fn assert_gone(dir: &Path) {
    assert!(!dir.exists(), "{} was not removed", dir.display());
}
