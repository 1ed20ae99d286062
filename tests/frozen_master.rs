//! A master frozen past its ZooKeeper session (SIGSTOP, as a long GC pause or a VM stall
//! would) must not act again when it resumes: its peer has failed its workflows over, so
//! every write and every frame of the resumed master would run tasks twice or leave rows
//! behind. Two `dsmaster run` processes share one private cluster with a 5 s session
//! timeout; stand-in workers record every task request they receive.

use dsmaster::model::ExecutionStatus;
use dsmaster::testkit::chaos::procs::conf_for;
use dsmaster::testkit::cluster::{init_test_logging, LocalCluster};
use dsmaster::testkit::worker::{Behaviour, StandInWorker};
use dsmaster::testkit::{signal_process, SchemaVersion, Signal};
use mysql_async::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

const WORKFLOWS: usize = 40;
const SESSION_TIMEOUT_MS: u64 = 5000;
/// Longer than the session timeout plus the peer's reaction.
const FROZEN_FOR: Duration = Duration::from_secs(12);

struct Master {
    child: std::process::Child,
    log: PathBuf,
    addr: String,
}

impl Master {
    fn start(cluster: &LocalCluster, dir: &Path, ip: &str) -> Master {
        // Each master gets an address of its own (127.0.0.1, 127.0.0.2): masters compute
        // their slot from the host part, so two on one address would share a slot (as
        // upstream's do) and half the commands would wait for a master that has the other.
        let port = conf_for(
            cluster.conf_dir.path(),
            dir,
            ip.parse().expect("ip"),
            Duration::from_millis(SESSION_TIMEOUT_MS),
        )
        .expect("conf dir");
        let log = dir.join("master.log");
        let out = std::fs::File::create(&log).expect("log");
        let err = out.try_clone().expect("log");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_dsmaster"))
            .args(["run", "--conf-dir"])
            .arg(dir)
            .env("RUST_LOG", "info")
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn dsmaster");
        Master {
            child,
            log,
            addr: format!("{ip}:{port}"),
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.log_text().contains("master registered and serving") {
            assert!(
                Instant::now() < deadline,
                "master {} did not start:\n{}",
                self.addr,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn signal(&self, sig: Signal) {
        let pid = self.child.id();
        assert!(signal_process(pid, sig), "kill -{sig:?} {pid}");
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = self.child.id();
            signal_process(pid, Signal::Cont);
            signal_process(pid, Signal::Term);
            for _ in 0..100 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn start_worker(cluster: &LocalCluster) -> StandInWorker {
    let options = dsmaster::config::Options::load(cluster.conf_dir.path()).expect("conf");
    let settings = dsmaster::server::Settings::from_options(&options).expect("settings");
    StandInWorker::start(
        &settings.registry,
        "default",
        settings.link.clone(),
        Behaviour::RunShell,
        Duration::from_secs(1),
    )
    .await
    .expect("worker")
}

/// States of a task or instance that still needs an owner or a worker.
const NOT_FINAL: &str = "0, 1, 2, 4, 10, 11, 12";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_frozen_past_its_session_never_acts_again() {
    init_test_logging();
    let started = Instant::now();
    let cluster = LocalCluster::start(SchemaVersion::V2_0_5)
        .await
        .expect("cluster");
    let dirs = tempfile::tempdir().expect("tempdir");
    let frozen = Master::start(&cluster, &dirs.path().join("a"), "127.0.0.1");
    frozen.wait_serving().await;
    let peer = Master::start(&cluster, &dirs.path().join("b"), "127.0.0.2");
    peer.wait_serving().await;
    let workers = [start_worker(&cluster).await, start_worker(&cluster).await];

    let wf = cluster
        .import(Path::new("fixtures/workflows/chain-3-slow.json"))
        .await
        .expect("import")
        .remove(0);
    for _ in 0..WORKFLOWS {
        cluster.start_workflow(&wf).await.expect("command");
    }

    // Freeze the first master while it runs several workflows.
    let mut conn = cluster.conn().await.expect("conn");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running: Option<i64> = conn
            .exec_first(
                format!("SELECT COUNT(*) FROM t_ds_process_instance WHERE host = ? AND state IN ({NOT_FINAL})"),
                (&frozen.addr,),
            )
            .await
            .unwrap();
        if running.unwrap_or(0) >= 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first master never ran workflows:\n{}",
            frozen.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    frozen.signal(Signal::Stop);
    tokio::time::sleep(FROZEN_FOR).await;
    frozen.signal(Signal::Cont);

    // Everything ends, on the peer.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let open: Option<i64> = conn
            .query_first(format!(
                "SELECT COUNT(*) FROM t_ds_process_instance WHERE state IN ({NOT_FINAL})"
            ))
            .await
            .unwrap();
        let total: Option<i64> = conn
            .query_first("SELECT COUNT(*) FROM t_ds_process_instance")
            .await
            .unwrap();
        if open == Some(0) && total == Some(WORKFLOWS as i64) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open:?} of {total:?} instances still not final (stuck)\n--- frozen master ---\n{}\n--- peer ---\n{}",
            frozen.log_text(),
            peer.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let states: Vec<(i32, i32)> = conn
        .query("SELECT id, state FROM t_ds_process_instance ORDER BY id")
        .await
        .unwrap();
    assert!(
        states
            .iter()
            .all(|(_, s)| *s == ExecutionStatus::SUCCESS as i32),
        "every workflow succeeds: {states:?}"
    );
    let dangling: Vec<(i32, i32, i32)> = conn
        .query(format!(
            "SELECT t.id, t.process_instance_id, t.state FROM t_ds_task_instance t \
             JOIN t_ds_process_instance p ON p.id = t.process_instance_id \
             WHERE p.state NOT IN ({NOT_FINAL}) AND t.state IN ({NOT_FINAL})"
        ))
        .await
        .unwrap();
    assert!(
        dangling.is_empty(),
        "non-final task rows under final instances: {dangling:?}"
    );

    // No task ran twice: every request the workers received, by (instance, task code).
    let rows: Vec<(i32, i32, i64)> = conn
        .query("SELECT id, process_instance_id, task_code FROM t_ds_task_instance")
        .await
        .unwrap();
    let task_of: HashMap<i32, (i32, i64)> =
        rows.into_iter().map(|(id, p, c)| (id, (p, c))).collect();
    let mut runs: HashMap<(i32, i64), Vec<i32>> = HashMap::new();
    for w in &workers {
        for e in w.events().into_iter().filter(|e| !e.result) {
            let key = task_of
                .get(&e.task_instance_id)
                .copied()
                .unwrap_or((e.process_instance_id, -i64::from(e.task_instance_id)));
            runs.entry(key).or_default().push(e.task_instance_id);
        }
    }
    let twice: Vec<_> = runs.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(twice.is_empty(), "tasks executed twice: {twice:?}");
    assert_eq!(runs.len(), WORKFLOWS * 3, "every task ran once");

    // The resumed master stopped by itself, saying why.
    let mut frozen = frozen;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = frozen.child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "the resumed master did not exit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        !status.success(),
        "a master that lost its session exits non-zero"
    );
    assert!(
        frozen.log_text().contains("registry session lost"),
        "{}",
        frozen.log_text()
    );

    let taken: Option<i64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM t_ds_process_instance WHERE history_cmd LIKE '%RECOVER_TOLERANCE_FAULT_PROCESS%'",
            (),
        )
        .await
        .unwrap();
    assert!(
        taken.unwrap_or(0) > 0,
        "the peer failed the frozen master's workflows over"
    );
    eprintln!("frozen master test took {:?}", started.elapsed());
    for w in workers {
        w.stop().await;
    }
    drop(peer);
    drop(frozen);
    cluster.stop().await;
}
