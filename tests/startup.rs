//! Start-up with bad surroundings: a missing conf dir, an unreachable database, an unreachable
//! ZooKeeper. Each is a clear error naming what was tried, after retrying for the configured
//! `dsmaster.startup.timeout`, never a panic. And a host short of resources: the master runs
//! but leaves commands alone.

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

/// Upstream's `checkResource`: on a host below `master.reserved.memory` (or above
/// `master.max.cpuload.avg`) the master registers and serves but takes no commands; they stay
/// in `t_ds_command` for a master with room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_host_takes_no_commands() {
    use dsmaster::testkit::cluster::LocalCluster;
    use mysql_async::prelude::*;

    init_test_logging();
    let mut c = LocalCluster::start(SchemaVersion::V2_0_5)
        .await
        .expect("cluster");
    let props = c.conf_dir.path().join("master.properties");
    let text = std::fs::read_to_string(&props).unwrap();
    std::fs::write(
        &props,
        text.replace(
            "master.reserved.memory=0.01",
            "master.reserved.memory=1000000",
        ),
    )
    .unwrap();
    c.start_master().await.expect("master");
    let wf = c
        .import(std::path::Path::new("fixtures/workflows/shell-a-b.json"))
        .await
        .expect("import")
        .remove(0);
    let command = c.start_workflow(&wf).await.expect("command");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut conn = c.conn().await.unwrap();
    let left: Option<i32> = conn
        .exec_first("SELECT id FROM t_ds_command WHERE id = ?", (command,))
        .await
        .unwrap();
    let instances: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM t_ds_process_instance")
        .await
        .unwrap();
    assert_eq!(
        left,
        Some(command),
        "the command must stay for another master"
    );
    assert_eq!(instances, Some(0));
    drop(conn);
    c.stop().await;
}
