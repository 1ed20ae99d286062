//! Start-up with bad surroundings: a missing conf dir, an unreachable database, an unreachable
//! ZooKeeper. Each is a clear error naming what was tried, after retrying for the configured
//! `dsmaster.startup.timeout`, never a panic.

use dsmaster::config::Options;
use dsmaster::server::{self, Settings};
use dsmaster::testkit::cluster::{init_test_logging, write_conf_dir};
use dsmaster::testkit::{free_port, MariaDb, SchemaVersion};
use std::time::Duration;
use tokio::time::Instant;

fn settings(dir: &std::path::Path) -> Settings {
    std::fs::write(
        dir.join("dsmaster.properties"),
        "dsmaster.host=127.0.0.1\ndsmaster.startup.timeout=2\n",
    )
    .unwrap();
    Settings::from_options(&Options::load(dir).expect("conf dir loads")).expect("settings")
}

#[test]
fn missing_conf_dir_names_the_path() {
    let err = Options::load(std::path::Path::new("/nonexistent/dsmaster-conf")).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/dsmaster-conf"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_database_gives_up_naming_host_and_port() {
    init_test_logging();
    let dir = tempfile::tempdir().unwrap();
    let db_port = free_port().unwrap();
    let zk_port = free_port().unwrap();
    let jdbc = format!("jdbc:mysql://127.0.0.1:{db_port}/dolphinscheduler?useUnicode=true");
    write_conf_dir(dir.path(), &jdbc, &format!("127.0.0.1:{zk_port}")).unwrap();
    let started = Instant::now();
    let err = match server::start(settings(dir.path())).await {
        Ok(_) => panic!("a master without a database must not start"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{db_port}")), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "gave up in time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_zookeeper_gives_up_naming_the_servers() {
    init_test_logging();
    let db = MariaDb::start().await.expect("MariaDB");
    let jdbc = db
        .create_ds_database("ds", SchemaVersion::V2_0_5)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let zk_port = free_port().unwrap();
    write_conf_dir(dir.path(), &jdbc, &format!("127.0.0.1:{zk_port}")).unwrap();
    let err = match server::start(settings(dir.path())).await {
        Ok(_) => panic!("a master without ZooKeeper must not start"),
        Err(e) => e,
    };
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{zk_port}")),
        "{err}"
    );
    db.stop().await;
}
