//! `dsmaster bench failover`: how long from a master's death until its running workflows are
//! owned by the surviving master, and whether any of their tasks ran twice.
//!
//! Master A runs alone while N workflows start (one long shell task, then a short one), each
//! on a stand-in worker process; once every first task is running, master B starts and A is
//! SIGKILLed. Timed from the kill, by polling the instance rows every 20 ms:
//! - *detection*: until the first instance is handed over (`host` no longer A's): the session
//!   timeout, mostly;
//! - *hand-over*: from that first instance to the last (the failover lock is held by then);
//! - *owned*: from the first hand-over until every instance names B (its command taken and
//!   its actor running with the running task rebound on the worker).
//!
//! Then every workflow must finish SUCCESS with each task run once, counted from the workers'
//! own records.

use crate::testkit::chaos::check;
use crate::testkit::chaos::procs::{MasterKind, MasterProc};
use crate::testkit::cluster::LocalCluster;
use crate::testkit::netns::TestNet;
use crate::testkit::{fixtures, SchemaVersion};
use mysql_async::prelude::Queryable;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Workflows running on the master that dies.
    pub instances: usize,
    /// How long each workflow's first task runs (it must outlast the failover).
    pub task_secs: u64,
    /// `registry.session.timeout.ms` of every process.
    pub session_timeout: Duration,
    pub binary: PathBuf,
    pub masters: MasterKind,
}

/// The figures.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub instances: usize,
    pub detection: Option<Duration>,
    pub hand_over: Option<Duration>,
    pub owned: Option<Duration>,
    pub success: usize,
    pub executed_twice: usize,
    pub wall: Duration,
}

impl Report {
    pub fn print(&self, options: &Options) {
        let secs = |d: Option<Duration>| {
            d.map_or("never".to_string(), |d| format!("{:.3} s", d.as_secs_f64()))
        };
        println!(
            "failover of {} running workflows, {} masters, session timeout {} ms",
            self.instances,
            options.masters.name(),
            options.session_timeout.as_millis()
        );
        println!(
            "  kill -> first instance handed over (detection): {}",
            secs(self.detection)
        );
        println!(
            "  first -> last instance handed over:             {}",
            secs(self.hand_over)
        );
        println!(
            "  first hand-over -> all owned by the survivor:   {}",
            secs(self.owned)
        );
        println!(
            "  afterwards: {} of {} SUCCESS, {} tasks executed twice, whole run {:.1} s",
            self.success,
            self.instances,
            self.executed_twice,
            self.wall.as_secs_f64()
        );
    }
}

fn err(what: &str) -> impl Fn(mysql_async::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Runs the benchmark.
pub async fn run(options: &Options) -> Result<Report, String> {
    let started = Instant::now();
    let net = TestNet::shared().map_err(|e| e.to_string())?;
    let cluster = LocalCluster::start_with_java_peers(SchemaVersion::V2_0_5)
        .await
        .map_err(|e| format!("cluster: {e}"))?;
    let dir = tempfile::Builder::new()
        .prefix("dsmaster-bench-failover-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let result = drive(&cluster, net, dir.path(), options).await;
    cluster.stop().await;
    result.map(|mut r| {
        r.wall = started.elapsed();
        r
    })
}

async fn drive(
    cluster: &LocalCluster,
    net: &'static TestNet,
    dir: &std::path::Path,
    options: &Options,
) -> Result<Report, String> {
    let fixture = dir.join("failover.json");
    super::chain::write_script_fixture(
        &fixture,
        &[&format!("sleep {}", options.task_secs), "true"],
        4_300_000_009_001,
    )
    .map_err(|e| e.to_string())?;
    let wf = cluster
        .import(&fixture)
        .await
        .map_err(|e| e.to_string())?
        .remove(0);
    let new_master = |name: &str| {
        MasterProc::new(
            net,
            options.masters,
            name,
            cluster.conf_dir.path(),
            &dir.join(name),
            &options.binary,
            options.session_timeout,
        )
        .map_err(|e| e.to_string())
    };
    let mut a = new_master("master-a")?;
    a.spawn(cluster).await.map_err(|e| e.to_string())?;
    a.wait_serving().await.map_err(|e| e.to_string())?;
    let mut workers = crate::testkit::chaos::procs::start_two_workers(
        net,
        cluster.conf_dir.path(),
        dir,
        &options.binary,
        options.session_timeout,
        Duration::from_secs(2),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut conn = cluster.conn().await.map_err(|e| e.to_string())?;
    let mut fixture_conn = cluster.db_conn().await.map_err(|e| e.to_string())?;
    for _ in 0..options.instances {
        fixtures::insert_start_command(&mut fixture_conn, &wf)
            .await
            .map_err(|e| e.to_string())?;
    }
    // Every first task running on a worker.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let running: Option<i64> = conn
            .query_first("SELECT COUNT(*) FROM t_ds_task_instance WHERE state = 1")
            .await
            .map_err(err("counting running tasks"))?;
        if usize::try_from(running.unwrap_or(0)).unwrap_or(0) >= options.instances {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {running:?} of {} first tasks running after 300 s",
                options.instances
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut b = new_master("master-b")?;
    b.spawn(cluster).await.map_err(|e| e.to_string())?;
    b.wait_serving().await.map_err(|e| e.to_string())?;
    let a_addr: String = conn
        .query_first("SELECT host FROM t_ds_process_instance LIMIT 1")
        .await
        .map_err(err("reading the owner"))?
        .unwrap_or_default();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let killed = Instant::now();
    a.kill().await;
    let mut report = Report {
        instances: options.instances,
        ..Report::default()
    };
    let mut first_handed = None;
    let deadline = killed + Duration::from_secs(180);
    loop {
        let (on_a, on_b): (i64, i64) = conn
            .exec_first(
                "SELECT COALESCE(SUM(host = ?), 0), COALESCE(SUM(host = ?), 0) FROM t_ds_process_instance",
                (&a_addr, &b.addr),
            )
            .await
            .map_err(err("polling owners"))?
            .unwrap_or((0, 0));
        let now = Instant::now();
        let n = i64::try_from(options.instances).unwrap_or(i64::MAX);
        if on_a < n && first_handed.is_none() {
            first_handed = Some(now);
            report.detection = Some(now - killed);
        }
        if on_a == 0 && report.hand_over.is_none() {
            if let Some(f) = first_handed {
                report.hand_over = Some(now - f);
            }
        }
        if on_b == n {
            if let Some(f) = first_handed {
                report.owned = Some(now - f);
            }
            break;
        }
        if now > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Everything ends; nothing ran twice.
    let deadline = Instant::now() + Duration::from_secs(options.task_secs + 180);
    loop {
        let open: Option<i64> = conn
            .query_first(format!(
                "SELECT COUNT(*) FROM t_ds_process_instance WHERE state IN ({})",
                check::NOT_FINAL
            ))
            .await
            .map_err(err("polling states"))?;
        if open == Some(0) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let success: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM t_ds_process_instance WHERE state = 7")
        .await
        .map_err(err("counting successes"))?;
    report.success = usize::try_from(success.unwrap_or(0)).unwrap_or(0);
    let tasks: Vec<(i32, i32, i64)> = conn
        .query("SELECT id, process_instance_id, task_code FROM t_ds_task_instance")
        .await
        .map_err(err("reading task rows"))?;
    let task_of: HashMap<i32, (i32, i64)> =
        tasks.into_iter().map(|(id, p, c)| (id, (p, c))).collect();
    let dirs: Vec<&std::path::Path> = workers.iter().map(|w| w.records_dir()).collect();
    let mut runs: HashMap<(i32, i64), usize> = HashMap::new();
    for run in check::runs_since(&dirs, 0).map_err(|e| e.to_string())? {
        let key = task_of
            .get(&run.task_instance_id)
            .copied()
            .unwrap_or((0, -i64::from(run.task_instance_id)));
        *runs.entry(key).or_default() += 1;
    }
    report.executed_twice = runs.values().filter(|n| **n > 1).count();
    b.kill().await;
    for w in &mut workers {
        w.kill().await;
    }
    Ok(report)
}
