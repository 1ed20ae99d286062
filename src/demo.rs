//! `dsmaster demo`: a throw-away cluster on this machine runs one workflow to its end.

// The demo reports wall-clock durations of real processes.
#![allow(clippy::disallowed_types)]

use anyhow::{bail, Context};
use dsmaster::model::ExecutionStatus;
use dsmaster::testkit::cluster::LocalCluster;
use dsmaster::testkit::worker::Behaviour;
use dsmaster::testkit::SchemaVersion;
use std::path::Path;
use std::time::{Duration, Instant};

pub async fn run(workflow: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    println!("== starting private MariaDB and ZooKeeper, loading upstream's 2.0.5 schema");
    let mut cluster = LocalCluster::start(SchemaVersion::V2_0_5)
        .await
        .context("bringing up MariaDB and ZooKeeper")?;
    let outcome = drive(&mut cluster, workflow).await;
    println!("== stopping everything");
    cluster.stop().await;
    let (state, tasks) = outcome?;
    println!(
        "== workflow finished {state} with {tasks} task(s) in {:.1}s (whole demo)",
        started.elapsed().as_secs_f64()
    );
    if !state.is_success() {
        bail!("the workflow ended {state}");
    }
    Ok(())
}

async fn drive(
    cluster: &mut LocalCluster,
    workflow: &Path,
) -> anyhow::Result<(ExecutionStatus, usize)> {
    let master = cluster.start_master().await.context("starting dsmaster")?;
    println!(
        "== dsmaster serving at {} (wire dialect {})",
        master.addr,
        master.dialect.label()
    );
    let worker = cluster
        .start_worker(Behaviour::RunShell)
        .await
        .context("starting the stand-in worker")?;
    println!("== stand-in worker registered at {}", worker.addr());
    let imported = cluster
        .import(workflow)
        .await
        .with_context(|| format!("importing {}", workflow.display()))?;
    let Some(wf) = imported.first().cloned() else {
        bail!("{} holds no workflow", workflow.display());
    };
    let command = cluster.start_workflow(&wf).await?;
    println!(
        "== START_PROCESS command {command} inserted for workflow {:?}",
        wf.name
    );
    let run_started = Instant::now();
    let mut count = 0;
    let (id, state) = cluster
        .wait_for_end(wf.definition_code, Duration::from_secs(60), |tasks| {
            count = tasks.len();
            for t in tasks {
                let state = ExecutionStatus::from_code(i64::from(t.state))
                    .map(|s| s.name())
                    .unwrap_or("?");
                println!(
                    "   {:>8.3}s  task {:<4} {:<8} {:<20} host {}",
                    run_started.elapsed().as_secs_f64(),
                    t.id,
                    t.name,
                    state,
                    t.host.as_deref().unwrap_or("-")
                );
            }
        })
        .await?;
    println!(
        "== process instance {id}: {state} after {:.3}s",
        run_started.elapsed().as_secs_f64()
    );
    Ok((state, count))
}
