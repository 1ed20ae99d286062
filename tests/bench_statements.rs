//! Database statements per task, counted by MariaDB itself.
//!
//! `cargo test --release --test bench_statements -- --ignored --nocapture`
//!
//! A private MariaDB (used by nothing else) runs our master with a stand-in worker that
//! succeeds at once. For a 1-task and a 10-task chain (`fixtures/workflows/chain-*.json`) the
//! global `Com_*`, `Questions` and `Handler_*` counters are read before the START_PROCESS
//! command is inserted and after the instance has finished (plus a short settle time). The
//! benchmark's own statements (the insert and the polling) run on one monitor connection
//! whose *session* counters are subtracted, and the idle background of the master (command
//! polling every second, worker groups every ten seconds) is measured over a window of the
//! same length with no workflow and subtracted too. What remains is the workflow's cost.
//!
//! The same on PostgreSQL (`statements_per_task_on_postgresql`): the server's own
//! `pg_stat_statements`, filtered to the master's database user (the benchmark polls as the
//! superuser), with the idle window subtracted the same way.
//!
//! Printed, never asserted: the figures are recorded in BENCHMARKS.md.

use dsmaster::testkit::cluster::{init_test_logging, LocalCluster};
use dsmaster::testkit::fixtures::{self, ImportedWorkflow};
use dsmaster::testkit::worker::Behaviour;
use dsmaster::testkit::SchemaVersion;
use mysql_async::prelude::*;
use mysql_async::Conn;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// Counters reported, in table order.
const COUNTERS: [&str; 17] = [
    "Com_select",
    "Com_insert",
    "Com_update",
    "Com_delete",
    "Com_begin",
    "Com_commit",
    "Com_rollback",
    "Com_stmt_prepare",
    "Com_stmt_execute",
    "Com_stmt_close",
    "Questions",
    "Handler_read_key",
    "Handler_read_next",
    "Handler_read_rnd_next",
    "Handler_write",
    "Handler_update",
    "Handler_delete",
];

/// Time after the final state for trailing writes (the same in the idle window).
const SETTLE: Duration = Duration::from_millis(1500);

type Counters = BTreeMap<String, i64>;

async fn status(conn: &mut Conn, scope: &str) -> Counters {
    let rows: Vec<(String, String)> = conn
        .query(format!("SHOW {scope} STATUS"))
        .await
        .expect("SHOW STATUS");
    rows.into_iter()
        .filter(|(k, _)| COUNTERS.contains(&k.as_str()))
        .map(|(k, v)| (k, v.parse().unwrap_or(0)))
        .collect()
}

fn minus(a: &Counters, b: &Counters) -> Counters {
    COUNTERS
        .iter()
        .map(|k| {
            let k = k.to_string();
            let v = a.get(&k).copied().unwrap_or(0) - b.get(&k).copied().unwrap_or(0);
            (k, v)
        })
        .collect()
}

/// Snapshot at the start of a window: session counters of the monitor, then global ones.
async fn begin(mon: &mut Conn) -> (Counters, Counters, Instant) {
    let s0 = status(mon, "SESSION").await;
    let g0 = status(mon, "GLOBAL").await;
    (s0, g0, Instant::now())
}

/// Counters of everyone but the monitor connection since `begin`, and the window length.
async fn end(mon: &mut Conn, start: (Counters, Counters, Instant)) -> (Counters, Duration) {
    let (s0, g0, started) = start;
    let took = started.elapsed();
    let g1 = status(mon, "GLOBAL").await;
    let s1 = status(mon, "SESSION").await;
    (minus(&minus(&g1, &g0), &minus(&s1, &s0)), took)
}

/// Runs one workflow on the monitor connection: insert the command, poll until the
/// instance is finished, settle.
async fn run_workflow(mon: &mut Conn, wf: &ImportedWorkflow) {
    mon.exec_drop(
        "INSERT INTO t_ds_command (command_type, process_definition_code, process_definition_version, \
         process_instance_id, command_param, task_depend_type, failure_strategy, warning_type, \
         warning_group_id, start_time, executor_id, update_time, process_instance_priority, \
         worker_group, environment_code, dry_run) \
         VALUES (0, ?, ?, 0, '{}', 2, 1, 0, 0, NOW(), 1, NOW(), 2, 'default', -1, 0)",
        (wf.definition_code, wf.definition_version),
    )
    .await
    .expect("command");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state: Option<Option<i32>> = mon
            .exec_first(
                "SELECT state FROM t_ds_process_instance WHERE process_definition_code = ? ORDER BY id DESC LIMIT 1",
                (wf.definition_code,),
            )
            .await
            .expect("poll");
        if state.flatten() == Some(7) {
            break;
        }
        assert!(Instant::now() < deadline, "{} did not succeed", wf.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(SETTLE).await;
}

fn per(c: &Counters, k: &str) -> i64 {
    c.get(k).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn statements_per_task() {
    init_test_logging();
    let mut cluster = LocalCluster::start(SchemaVersion::V2_0_5)
        .await
        .expect("cluster");
    cluster.start_master().await.expect("master");
    cluster
        .start_worker(Behaviour::Succeed)
        .await
        .expect("worker");
    let one = cluster
        .import(Path::new("fixtures/workflows/chain-1.json"))
        .await
        .expect("import")
        .remove(0);
    let ten = cluster
        .import(Path::new("fixtures/workflows/chain-10.json"))
        .await
        .expect("import")
        .remove(0);
    let mut mon = cluster.conn().await.expect("monitor connection");
    // Warm up: start-up sweeps done, prepared statements cached, one run of each shape.
    tokio::time::sleep(Duration::from_secs(3)).await;
    run_workflow(&mut mon, &one).await;

    let mut results = Vec::new();
    for wf in [&one, &ten] {
        let start = begin(&mut mon).await;
        run_workflow(&mut mon, wf).await;
        let (run, took) = end(&mut mon, start).await;
        let start = begin(&mut mon).await;
        tokio::time::sleep(took).await;
        let (idle, _) = end(&mut mon, start).await;
        let net = minus(&run, &idle);
        results.push((wf.name.clone(), wf.task_codes.len(), took, run, idle, net));
    }

    println!("\nDatabase statements of our master per workflow (MariaDB global counters, idle background and the benchmark's own session subtracted)\n");
    print!("| counter |");
    for (name, tasks, took, ..) in &results {
        print!(
            " {name} ({tasks} task{}, {:.1} s): run | idle | net |",
            if *tasks == 1 { "" } else { "s" },
            took.as_secs_f64()
        );
    }
    println!(" per extra task |");
    print!("|---|");
    for _ in &results {
        print!("---:|---:|---:|");
    }
    println!("---:|");
    let (_, n1, _, _, _, net1) = &results[0];
    let (_, n10, _, _, _, net10) = &results[1];
    let extra = (*n10 - *n1) as f64;
    for k in COUNTERS {
        print!("| {k} |");
        for (_, _, _, run, idle, net) in &results {
            print!(" {} | {} | {} |", per(run, k), per(idle, k), per(net, k));
        }
        println!(" {:.1} |", (per(net10, k) - per(net1, k)) as f64 / extra);
    }
    let reads = |c: &Counters| per(c, "Com_select");
    let writes = |c: &Counters| per(c, "Com_insert") + per(c, "Com_update") + per(c, "Com_delete");
    println!();
    for (name, tasks, _, _, _, net) in &results {
        println!(
            "{name}: {} statements ({} reads, {} writes) for {tasks} task(s)",
            reads(net) + writes(net),
            reads(net),
            writes(net)
        );
    }
    println!(
        "per extra task: {:.1} reads, {:.1} writes",
        (reads(net10) - reads(net1)) as f64 / extra,
        (writes(net10) - writes(net1)) as f64 / extra
    );
    drop(mon);
    cluster.stop().await;
}

/// Calls and rows of the master's user by statement kind (first keyword), from
/// `pg_stat_statements`.
async fn pg_counters(mon: &mut dsmaster::store::db::Conn) -> Counters {
    let rows: Vec<(String, i64, i64)> = mon
        .all(
            "SELECT upper(split_part(ltrim(query), ' ', 1)), CAST(sum(calls) AS BIGINT), CAST(sum(rows) AS BIGINT) \
             FROM pg_stat_statements WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = 'ds_user') \
             AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) GROUP BY 1",
            dsmaster::params![],
        )
        .await
        .expect("pg_stat_statements");
    let mut c = Counters::new();
    for (kind, calls, rows) in rows {
        *c.entry(format!("{kind} calls")).or_default() += calls;
        *c.entry(format!("{kind} rows")).or_default() += rows;
        *c.entry("all statements".into()).or_default() += calls;
    }
    c
}

fn minus_all(a: &Counters, b: &Counters) -> Counters {
    a.keys()
        .chain(b.keys())
        .map(|k| {
            (
                k.clone(),
                a.get(k).copied().unwrap_or(0) - b.get(k).copied().unwrap_or(0),
            )
        })
        .collect()
}

async fn run_workflow_pg(mon: &mut dsmaster::store::db::Conn, wf: &ImportedWorkflow) {
    fixtures::insert_start_command(mon, wf)
        .await
        .expect("command");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state: Option<Option<i32>> = mon
            .first(
                "SELECT state FROM t_ds_process_instance WHERE process_definition_code = ? ORDER BY id DESC LIMIT 1",
                dsmaster::params![wf.definition_code],
            )
            .await
            .expect("poll");
        if state.flatten() == Some(7) {
            break;
        }
        assert!(Instant::now() < deadline, "{} did not succeed", wf.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(SETTLE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn statements_per_task_on_postgresql() {
    use dsmaster::store::db::{Dialect, Pool, PoolOptions};
    use dsmaster::testkit::cluster::ClusterDb;
    init_test_logging();
    let mut cluster = LocalCluster::start_postgres(SchemaVersion::V2_0_5)
        .await
        .expect("cluster");
    let ClusterDb::Postgres(pg) = &cluster.db else {
        unreachable!("a PostgreSQL cluster")
    };
    let mut mon = Pool::new(
        Dialect::Postgres,
        &PoolOptions {
            url: pg.superuser_url(&cluster.database),
            max_connections: 1,
            min_idle: 0,
        },
    )
    .expect("pool")
    .conn()
    .await
    .expect("monitor connection");
    mon.exec(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
        dsmaster::params![],
    )
    .await
    .expect("pg_stat_statements (shared_preload_libraries)");
    cluster.start_master().await.expect("master");
    cluster
        .start_worker(Behaviour::Succeed)
        .await
        .expect("worker");
    let one = cluster
        .import(Path::new("fixtures/workflows/chain-1.json"))
        .await
        .expect("import")
        .remove(0);
    let ten = cluster
        .import(Path::new("fixtures/workflows/chain-10.json"))
        .await
        .expect("import")
        .remove(0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    run_workflow_pg(&mut mon, &one).await;

    let mut results = Vec::new();
    for wf in [&one, &ten] {
        let c0 = pg_counters(&mut mon).await;
        let started = Instant::now();
        run_workflow_pg(&mut mon, wf).await;
        let took = started.elapsed();
        let run = minus_all(&pg_counters(&mut mon).await, &c0);
        let c0 = pg_counters(&mut mon).await;
        tokio::time::sleep(took).await;
        let idle = minus_all(&pg_counters(&mut mon).await, &c0);
        let net = minus_all(&run, &idle);
        results.push((wf.name.clone(), wf.task_codes.len(), took, net));
    }
    println!("\nDatabase statements of our master per workflow on PostgreSQL (pg_stat_statements of the master's user, idle background subtracted)\n");
    let keys: std::collections::BTreeSet<String> =
        results.iter().flat_map(|r| r.3.keys().cloned()).collect();
    print!("| counter |");
    for (name, tasks, took, _) in &results {
        print!(" {name} ({tasks} task(s), {:.1} s) |", took.as_secs_f64());
    }
    println!(" per extra task |");
    println!("|---|---:|---:|---:|");
    let extra = (results[1].1 - results[0].1) as f64;
    for k in keys {
        let a = per(&results[0].3, &k);
        let b = per(&results[1].3, &k);
        // The DDL load ran as the same user: kinds the workflows never used stay out.
        if (a, b) == (0, 0) || k.starts_with("/*") {
            continue;
        }
        println!("| {k} | {a} | {b} | {:.1} |", (b - a) as f64 / extra);
    }
    drop(mon);
    cluster.stop().await;
}
