//! `dsmaster bench chain`: task-hop latency, throughput, command pickup latency, memory and
//! CPU of our master, on a private cluster of this machine.
//!
//! The master runs as its own process (`dsmaster run --conf-dir`, the operator's path) so its
//! resident memory and CPU time are its own. Stand-in workers answer at once and timestamp
//! every request they receive and every result they send; a *hop* is the time from a task's
//! result leaving the worker to the next task's request arriving at a worker, which is the
//! master's whole share of a task transition (persist, reply, compute, insert, dispatch).

use crate::model::ExecutionStatus;
use crate::testkit::cluster::LocalCluster;
use crate::testkit::worker::{Behaviour, StandInWorker, WorkerEvent};
use crate::testkit::{fixtures, SchemaVersion};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Tasks per workflow (a linear chain).
    pub tasks: usize,
    /// Workflows started at once.
    pub workflows: usize,
    /// Stand-in workers.
    pub workers: usize,
    /// The `dsmaster` binary to run as the master (normally this executable).
    pub master_binary: PathBuf,
    /// Which master runs the workflows.
    pub master: MasterKind,
    /// Upstream's Java worker (compat/upstream) instead of the stand-ins: real task runs;
    /// hop latency cannot be timestamped inside it, so only whole-run figures are reported.
    pub java_worker: bool,
    /// The cluster's database server.
    pub database: crate::store::Dialect,
}

/// The master under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKind {
    /// `dsmaster run --conf-dir` as its own process.
    Dsmaster,
    /// Upstream's MasterServer from Maven Central (see compat/upstream), same cluster.
    Java,
}

/// The figures, printed as a table.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub hops: usize,
    pub hop_p50_ms: f64,
    pub hop_p99_ms: f64,
    pub pickup_ms: f64,
    pub wall_s: f64,
    pub transitions_per_s: f64,
    pub master_rss_mib: f64,
    pub master_peak_rss_mib: f64,
    pub master_cpu_s: f64,
}

/// Writes a chain workflow of `tasks` tasks that do nothing, in the API server's export format.
pub fn write_chain_fixture(path: &Path, tasks: usize, definition_code: i64) -> std::io::Result<()> {
    write_script_fixture(path, &vec!["true"; tasks], definition_code)
}

/// Writes a chain workflow of shell tasks running `scripts` in order.
pub fn write_script_fixture(
    path: &Path,
    scripts: &[&str],
    definition_code: i64,
) -> std::io::Result<()> {
    let tasks = scripts.len();
    let project = 4_200_000_000_001i64;
    let code = |i: usize| 4_500_000_000_000i64 + i as i64;
    let mut defs = Vec::new();
    let mut rels = Vec::new();
    for (i, script) in scripts.iter().enumerate() {
        defs.push(serde_json::json!({
            "code": code(i), "name": format!("t{i:04}"), "version": 1, "projectCode": project, "userId": 1,
            "taskType": "SHELL",
            "taskParams": {"resourceList": [], "localParams": [], "rawScript": script, "dependence": {},
                           "conditionResult": {"successNode": [""], "failedNode": [""]}, "waitStartTimeout": {}, "switchResult": {}},
            "flag": "YES", "taskPriority": "MEDIUM", "workerGroup": "default", "environmentCode": -1,
            "failRetryTimes": 0, "failRetryInterval": 1, "timeoutFlag": "CLOSE", "timeout": 0, "delayTime": 0, "resourceIds": ""
        }));
        let pre = if i == 0 { 0 } else { code(i - 1) };
        rels.push(serde_json::json!({
            "name": "", "processDefinitionVersion": 1, "projectCode": project, "processDefinitionCode": definition_code,
            "preTaskCode": pre, "preTaskVersion": if i == 0 { 0 } else { 1 }, "postTaskCode": code(i), "postTaskVersion": 1,
            "conditionType": "NONE", "conditionParams": {}
        }));
    }
    let wf = serde_json::json!([{
        "processDefinition": {"code": definition_code, "name": format!("chain-{tasks}"), "version": 1,
            "releaseState": "ONLINE", "projectCode": project, "globalParams": "[]", "flag": "YES", "userId": 1,
            "projectName": "dsmaster-bench", "locations": "[]", "timeout": 0, "tenantId": -1, "warningGroupId": 0},
        "processTaskRelationList": rels,
        "taskDefinitionList": defs,
        "schedule": null
    }]);
    std::fs::write(path, serde_json::to_vec_pretty(&wf)?)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Resident and peak memory (MiB) and CPU seconds of a process, from /proc.
fn process_figures(pid: u32) -> (f64, f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat: indexes 11 and 12 after the ')'.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0, cpu)
}

/// Runs the benchmark and returns its figures.
pub async fn run(options: &Options) -> Result<Report, String> {
    // Upstream's Java servers run in namespaces of the test network (testkit::netns).
    let java_peers = options.java_worker || matches!(options.master, MasterKind::Java);
    let cluster = match (java_peers, options.database) {
        (true, db) => LocalCluster::start_with_java_peers_on(SchemaVersion::V2_0_5, db).await,
        (false, crate::store::Dialect::Mysql) => LocalCluster::start(SchemaVersion::V2_0_5).await,
        (false, crate::store::Dialect::Postgres) => {
            LocalCluster::start_postgres(SchemaVersion::V2_0_5).await
        }
    };
    let cluster = cluster.map_err(|e| format!("cluster: {e}"))?;
    let result = drive(&cluster, options).await;
    cluster.stop().await;
    result
}

async fn drive(cluster: &LocalCluster, options: &Options) -> Result<Report, String> {
    let conf = cluster.conf_dir.path();
    let mut rust_master = None;
    let mut java_master = None;
    let pid = match options.master {
        MasterKind::Dsmaster => {
            let child = tokio::process::Command::new(&options.master_binary)
                .arg("run")
                .arg("--conf-dir")
                .arg(conf)
                .env(
                    "RUST_LOG",
                    std::env::var("DSMASTER_BENCH_MASTER_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("starting {}: {e}", options.master_binary.display()))?;
            let pid = child.id().unwrap_or(0);
            rust_master = Some(child);
            pid
        }
        MasterKind::Java => {
            let m = crate::testkit::java::JavaMaster::start(cluster, "2.0.5")
                .await
                .map_err(|e| format!("starting the Java master: {e}"))?;
            let pid = m.pid().unwrap_or(0);
            java_master = Some(m);
            pid
        }
    };
    let loaded = crate::config::Options::load(conf).map_err(|e| e.to_string())?;
    let settings = crate::server::Settings::from_options(&loaded).map_err(|e| e.to_string())?;
    let mut workers: Vec<StandInWorker> = Vec::new();
    let mut java_worker = None;
    let tenant = if options.java_worker {
        java_worker = Some(
            crate::testkit::java::JavaWorker::start(cluster, "2.0.5")
                .await
                .map_err(|e| format!("starting the Java worker: {e}"))?,
        );
        crate::testkit::java::os_user()
            .await
            .map_err(|e| e.to_string())?
    } else {
        "default".to_string()
    };
    for _ in 0..if options.java_worker {
        0
    } else {
        options.workers.max(1)
    } {
        workers.push(
            StandInWorker::start_on(
                cluster.host_ip(),
                &settings.registry,
                "default",
                settings.link.clone(),
                Behaviour::Succeed,
                Duration::from_secs(10),
            )
            .await
            .map_err(|e| e.to_string())?,
        );
    }
    let fixture = conf.join("chain.json");
    let definition_code = 4_300_000_001_000i64;
    write_chain_fixture(&fixture, options.tasks, definition_code).map_err(|e| e.to_string())?;
    let mut conn = cluster.db_conn().await.map_err(|e| e.to_string())?;
    let wf = fixtures::import_file(&mut conn, &fixture, &tenant)
        .await
        .map_err(|e| e.to_string())?
        .remove(0);
    // Let the master register and see the workers before the clock starts.
    wait_master_registered(&settings).await?;
    let started = Instant::now();
    let commands_at = tokio::time::Instant::now();
    for _ in 0..options.workflows {
        fixtures::insert_start_command(&mut conn, &wf)
            .await
            .map_err(|e| e.to_string())?;
    }
    let deadline = Duration::from_secs(600);
    loop {
        let finished: Option<i64> = conn
            .first(
                "SELECT COUNT(*) FROM t_ds_process_instance WHERE process_definition_code = ? AND state IN (5, 6, 7, 9)",
                crate::params![definition_code],
            )
            .await
            .map_err(|e| e.to_string())?;
        if finished.unwrap_or(0) as usize >= options.workflows {
            break;
        }
        if started.elapsed() > deadline {
            return Err("workflows did not finish within 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = started.elapsed().as_secs_f64();
    let (rss, peak, cpu) = process_figures(pid);
    let mut events: Vec<WorkerEvent> = workers.iter().flat_map(|w| w.events()).collect();
    events.sort_by_key(|e| e.at);
    let mut last_result: HashMap<i32, tokio::time::Instant> = HashMap::new();
    let mut first_request: HashMap<i32, tokio::time::Instant> = HashMap::new();
    let mut hops = Vec::new();
    for e in &events {
        if e.result {
            last_result.insert(e.process_instance_id, e.at);
        } else {
            first_request.entry(e.process_instance_id).or_insert(e.at);
            if let Some(prev) = last_result.remove(&e.process_instance_id) {
                hops.push((e.at - prev).as_secs_f64() * 1000.0);
            }
        }
    }
    hops.sort_by(|a, b| a.total_cmp(b));
    let mut pickups: Vec<f64> = first_request
        .values()
        .map(|t| (*t - commands_at).as_secs_f64() * 1000.0)
        .collect();
    pickups.sort_by(|a, b| a.total_cmp(b));
    let ok: Option<i64> = conn
        .first(
            "SELECT COUNT(*) FROM t_ds_process_instance WHERE process_definition_code = ? AND state = ?",
            crate::params![definition_code, ExecutionStatus::SUCCESS.code()],
        )
        .await
        .map_err(|e| e.to_string())?;
    if ok.unwrap_or(0) as usize != options.workflows {
        return Err(format!(
            "only {ok:?} of {} workflows succeeded",
            options.workflows
        ));
    }
    drop(conn);
    for w in workers {
        w.stop().await;
    }
    if let Some(w) = java_worker {
        w.stop().await;
    }
    if let Some(mut m) = rust_master {
        let _ = m.start_kill();
        let _ = m.wait().await;
    }
    if let Some(m) = java_master {
        m.stop().await;
    }
    Ok(Report {
        hops: hops.len(),
        hop_p50_ms: percentile(&hops, 50.0),
        hop_p99_ms: percentile(&hops, 99.0),
        pickup_ms: percentile(&pickups, 50.0),
        wall_s: wall,
        transitions_per_s: (options.tasks * options.workflows) as f64 / wall,
        master_rss_mib: rss,
        master_peak_rss_mib: peak,
        master_cpu_s: cpu,
    })
}

async fn wait_master_registered(settings: &crate::server::Settings) -> Result<(), String> {
    let registry = crate::registry::Registry::connect(&settings.registry)
        .await
        .map_err(|e| e.to_string())?;
    let mut masters = registry.masters();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while masters.borrow().is_empty() {
        if tokio::time::timeout_at(deadline, masters.changed())
            .await
            .is_err()
        {
            return Err("the master did not register within 60 s".into());
        }
    }
    // Both masters create their node and then sleep 1 s before they take commands
    // (upstream's registration order); wait that out and a moment more to see the workers'
    // nodes, so pickup latency measures the command poll, not the master's start.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Ok(())
}

/// Prints dsmaster's figures beside the Java master's, with the ratio (how many times
/// better dsmaster is; >1 means dsmaster wins).
pub fn print_comparison(options: &Options, ours: &Report, java: &Report) {
    let workers = if options.java_worker {
        "upstream's Java worker".to_string()
    } else {
        format!("{} stand-in worker(s)", options.workers)
    };
    println!(
        "chain benchmark on {}: {} workflow(s) x {} task(s), {workers}; Java master = upstream MasterServer (2.0.3 server jar on 2.0.5 libraries)",
        options.database.name(),
        options.workflows,
        options.tasks
    );
    println!("| figure | dsmaster | Java master | ratio |");
    println!("|---|---|---|---|");
    let lower = |name: &str, a: f64, b: f64, digits: usize| {
        if a <= 0.0 || b <= 0.0 {
            // Not measured (the Java worker cannot timestamp hops for us).
            println!("| {name} | n/a | n/a | |");
            return;
        }
        println!("| {name} | {a:.digits$} | {b:.digits$} | {:.1}x |", b / a);
    };
    lower(
        "task hop latency p50 (ms)",
        ours.hop_p50_ms,
        java.hop_p50_ms,
        2,
    );
    lower(
        "task hop latency p99 (ms)",
        ours.hop_p99_ms,
        java.hop_p99_ms,
        2,
    );
    lower(
        "command pickup latency p50 (ms)",
        ours.pickup_ms,
        java.pickup_ms,
        1,
    );
    lower("wall time (s)", ours.wall_s, java.wall_s, 2);
    let ratio = if java.transitions_per_s > 0.0 {
        ours.transitions_per_s / java.transitions_per_s
    } else {
        f64::INFINITY
    };
    println!(
        "| task transitions/s | {:.0} | {:.0} | {ratio:.1}x |",
        ours.transitions_per_s, java.transitions_per_s
    );
    lower(
        "master peak RSS (MiB)",
        ours.master_peak_rss_mib,
        java.master_peak_rss_mib,
        1,
    );
    lower(
        "master CPU time (s)",
        ours.master_cpu_s,
        java.master_cpu_s,
        2,
    );
}

impl Report {
    pub fn print(&self, options: &Options) {
        println!(
            "chain benchmark on {}: {} workflow(s) x {} task(s), {} stand-in worker(s)",
            options.database.name(),
            options.workflows,
            options.tasks,
            options.workers
        );
        println!("| figure | dsmaster |");
        println!("|---|---|");
        println!("| task hop latency p50 (ms) | {:.2} |", self.hop_p50_ms);
        println!("| task hop latency p99 (ms) | {:.2} |", self.hop_p99_ms);
        println!("| hops measured | {} |", self.hops);
        println!(
            "| command pickup latency p50 (ms) | {:.1} |",
            self.pickup_ms
        );
        println!("| wall time (s) | {:.2} |", self.wall_s);
        println!("| task transitions/s | {:.0} |", self.transitions_per_s);
        println!("| master RSS at end (MiB) | {:.1} |", self.master_rss_mib);
        println!(
            "| master peak RSS (MiB) | {:.1} |",
            self.master_peak_rss_mib
        );
        println!("| master CPU time (s) | {:.2} |", self.master_cpu_s);
    }
}
