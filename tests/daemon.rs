//! The tarball host's path, for real: `scripts/package.sh` packs this build, the tarball is
//! unpacked into a fresh install directory, and `bin/dsmaster-daemon.sh` starts, reports and
//! stops a real dsmaster process on a private MariaDB and ZooKeeper, which runs a workflow to
//! SUCCESS in between. A conf dir that cannot load makes `start` fail with its reason.

use dsmaster::model::ExecutionStatus;
use dsmaster::server::http::check;
use dsmaster::testkit::cluster::{init_test_logging, LocalCluster};
use dsmaster::testkit::worker::Behaviour;
use dsmaster::testkit::{free_port, SchemaVersion};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use tokio::time::Instant;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Packs the test build of the binary and unpacks the tarball under `into`; returns the
/// install directory.
fn package_and_unpack(into: &Path) -> PathBuf {
    let dist = into.join("dist");
    let out = Command::new(repo().join("scripts/package.sh"))
        .env("DSMASTER_BINARY", env!("CARGO_BIN_EXE_dsmaster"))
        .env("DSMASTER_DIST_DIR", &dist)
        .output()
        .expect("package.sh runs");
    assert!(out.status.success(), "package.sh: {}", text(&out));
    let tarball = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("package.sh prints the tarball")
        .to_string();
    let untar = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(into)
        .output()
        .expect("tar runs");
    assert!(untar.status.success(), "tar: {}", text(&untar));
    let name = Path::new(&tarball)
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".tar.gz"))
        .expect("tarball name")
        .to_string();
    into.join(name)
}

fn daemon(home: &Path, action: &str) -> Output {
    Command::new(home.join("bin/dsmaster-daemon.sh"))
        .args([action, "master-server"])
        .env("STOP_TIMEOUT", "20")
        .output()
        .expect("daemon script runs")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_script_starts_reports_and_stops_a_packaged_master() {
    init_test_logging();
    let mut c = LocalCluster::start(SchemaVersion::V2_0_5)
        .await
        .expect("cluster");
    let dir = tempfile::tempdir().expect("tempdir");
    let home = package_and_unpack(dir.path());
    for f in [
        "bin/dsmaster",
        "bin/dsmaster-daemon.sh",
        "systemd/dsmaster.service",
    ] {
        assert!(home.join(f).exists(), "the tarball holds {f}");
    }

    // The cluster's conf dir stands in for the Java master's own.
    let conf = home.join("conf");
    std::fs::remove_dir_all(&conf).unwrap();
    std::fs::create_dir(&conf).unwrap();
    for entry in std::fs::read_dir(c.conf_dir.path()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), conf.join(entry.file_name())).unwrap();
    }
    let port = free_port().unwrap();
    let mut ours = std::fs::read_to_string(conf.join("dsmaster.properties")).unwrap();
    ours.push_str(&format!(
        "dsmaster.metrics.port={port}\ndsmaster.metrics.host=127.0.0.1\n"
    ));
    std::fs::write(conf.join("dsmaster.properties"), ours).unwrap();

    let started = daemon(&home, "start");
    assert!(started.status.success(), "start: {}", text(&started));
    let pid_file = home.join("pid/dolphinscheduler-master-server.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    assert!(alive(pid));
    let logs: Vec<_> = std::fs::read_dir(home.join("logs"))
        .expect("logs dir")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        logs.iter()
            .any(|l| l.starts_with("dolphinscheduler-master-server-") && l.ends_with(".out")),
        "{logs:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while check(port, "/health/ready").await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the daemon's master never got ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let status = daemon(&home, "status");
    assert!(status.status.success(), "status: {}", text(&status));
    assert!(text(&status).contains(&format!("RUNNING (process {pid})")));
    let again = daemon(&home, "start");
    assert!(!again.status.success(), "a second start: {}", text(&again));
    assert!(text(&again).contains("Stop it first"), "{}", text(&again));

    c.start_worker(Behaviour::RunShell).await.expect("worker");
    let state = c
        .run_to_end(
            Path::new("fixtures/workflows/demo-a-b.json"),
            Duration::from_secs(60),
        )
        .await
        .expect("demo-a-b runs");
    assert_eq!(state, ExecutionStatus::SUCCESS);

    let stopped = daemon(&home, "stop");
    assert!(stopped.status.success(), "stop: {}", text(&stopped));
    assert!(
        !text(&stopped).contains("kill -9"),
        "a graceful stop: {}",
        text(&stopped)
    );
    assert!(!alive(pid), "the process is gone after stop");
    assert!(!pid_file.exists(), "stop removes the pid file");
    let log = std::fs::read_dir(home.join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect::<String>();
    assert!(log.contains("master stopped"), "{log}");
    let status = daemon(&home, "status");
    assert!(!status.status.success());
    assert!(text(&status).contains("STOP"), "{}", text(&status));

    // A conf dir that cannot load: start fails and says why.
    std::fs::write(
        conf.join("master.properties"),
        "master.listen.port=not-a-port\n",
    )
    .unwrap();
    let bad = daemon(&home, "start");
    assert!(!bad.status.success(), "{}", text(&bad));
    assert!(text(&bad).contains("master.listen.port"), "{}", text(&bad));
    assert!(!pid_file.exists());
    c.stop().await;
}
