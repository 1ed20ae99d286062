//! Failover: giving the workflows of dead masters (and of this master's previous
//! incarnation) to whichever master takes the recovery command.
//!
//! As upstream 2.0.5 (`FailoverExecuteThread` + `MasterRegistryClient.failoverMaster`): find
//! hosts that own unfinished instances but have no node under `/nodes/master`, plus our own
//! address; for each, under the Curator lock `/lock/failover/masters/<host>`, mark the tasks
//! whose worker is gone NEED_FAULT_TOLERANCE and hand each instance over (`host = 'NULL'` and
//! a RECOVER_TOLERANCE_FAULT_PROCESS command). Instances restarted by the current incarnation
//! of a live master are left alone. The sweep runs at start, whenever the master list
//! changes, and every `master.failover.interval`; it is idempotent, so repeats are harmless.

use crate::model::ExecutionStatus;
use crate::registry::{self, Registry};
use crate::store::Store;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{error, info, warn};

pub struct Sweeper {
    pub store: Store,
    pub registry: Registry,
    /// Our `ip:port`.
    pub own_addr: String,
    /// Our heartbeat `startupTime` (epoch ms).
    pub own_startup_ms: i64,
    pub interval: Duration,
    /// Instances this incarnation runs (never handed over).
    pub running: crate::engine::Instances,
}

impl Sweeper {
    /// Runs sweeps until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut masters = self.registry.masters();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                changed = masters.changed() => if changed.is_err() { return },
                _ = stop.wait_for(|s| *s) => return,
            }
            match self.sweep(false).await {
                Ok(0) => {}
                Ok(n) => info!(instances = n, "failover handed instances over"),
                Err(e) => error!(error = %e, "failover sweep failed; will retry"),
            }
        }
    }

    /// One pass; returns how many instances were handed over. `startup` is the pass made
    /// before command intake starts: every unfinished instance naming our address then
    /// belongs to a previous incarnation, whatever its `restart_time` says.
    pub async fn sweep(&self, startup: bool) -> Result<usize, String> {
        let hosts = self
            .store
            .hosts_with_unfinished_instances()
            .await
            .map_err(|e| e.to_string())?;
        let live: Vec<String> = self.registry.masters().borrow().clone();
        let mut total = 0;
        for host in hosts {
            if host == "NULL" || host.is_empty() {
                continue;
            }
            let own = host == self.own_addr;
            if !own && live.iter().any(|m| m == &host) {
                continue;
            }
            let lock = self
                .registry
                .lock(&registry::lock::failover_master_lock(&host))
                .await
                .map_err(|e| format!("failover lock for {host}: {e}"))?;
            let result = self.failover_master(&host, own, startup).await;
            if let Err(e) = lock.release().await {
                warn!(%host, error = %e, "releasing the failover lock");
            }
            total += result?;
        }
        Ok(total)
    }

    async fn failover_master(&self, host: &str, own: bool, startup: bool) -> Result<usize, String> {
        let instances = self
            .store
            .unfinished_instances_of(host)
            .await
            .map_err(|e| e.to_string())?;
        let clock = *self.store.clock();
        let workers = worker_startups(&self.registry);
        let mut handed = 0;
        for p in instances {
            if own && !startup {
                // Instances this incarnation runs are ours to keep; so is anything it may
                // have just started (restart_time has whole seconds only).
                if self.running.contains(p.id) {
                    continue;
                }
                match p.restart_time {
                    Some(rt)
                        if clock.from_db(rt).timestamp_millis() >= self.own_startup_ms - 1000 =>
                    {
                        continue
                    }
                    _ => {}
                }
            }
            if hand_over(&self.store, &workers, &p, host).await? {
                info!(process_instance_id = p.id, from = %host, "instance handed over for recovery");
                handed += 1;
            }
        }
        Ok(handed)
    }
}

/// Hands one unfinished instance of `host` over (upstream `failoverMaster` for one instance):
/// its tasks whose worker is gone, or restarted since the task began, become
/// NEED_FAULT_TOLERANCE; a task whose worker is alive and started before the task keeps its
/// row (the new owner rebinds it with PROCESS_HOST_UPDATE and takes its result). Then
/// `host = 'NULL'` and a RECOVER_TOLERANCE_FAULT_PROCESS command, checked against `host`.
/// Returns whether this call handed it over.
pub async fn hand_over(
    store: &Store,
    workers: &HashMap<String, i64>,
    p: &crate::store::ProcessInstance,
    host: &str,
) -> Result<bool, String> {
    let clock = *store.clock();
    let tasks = store
        .find_valid_task_instances(p.id)
        .await
        .map_err(|e| e.to_string())?;
    for t in tasks {
        let Some(state) = t.state else { continue };
        if state.is_finished() {
            continue;
        }
        let (Some(task_host), Some(submit)) = (t.host.as_deref(), t.submit_time) else {
            continue;
        };
        let since = clock
            .from_db(t.start_time.unwrap_or(submit))
            .timestamp_millis();
        if task_alive(workers, task_host, since) {
            continue;
        }
        store
            .failover_task_state(t.id, ExecutionStatus::NEED_FAULT_TOLERANCE)
            .await
            .map_err(|e| e.to_string())?;
        info!(task_instance_id = t.id, worker = %task_host, "task needs fault tolerance");
    }
    store
        .hand_over_instance(p, host)
        .await
        .map_err(|e| e.to_string())
}

/// Upstream `checkTaskInstanceNeedFailover`, inverted: the task's worker is registered and
/// started no later than `since_ms` (when the task was submitted or started).
///
/// `since_ms` comes from a DATETIME column, whole seconds with the fraction cut off, while
/// the startup time has milliseconds: a task sent in the very second its worker started would
/// look older than the worker and run a second time (2.0.5 compares the same way and does
/// that). Only registered workers get tasks, so a task of that second is on this worker:
/// whole seconds are compared.
pub fn task_alive(workers: &HashMap<String, i64>, worker: &str, since_ms: i64) -> bool {
    workers
        .get(worker)
        .map(|startup| since_ms >= startup.div_euclid(1000) * 1000)
        .unwrap_or(false)
}

/// Live workers' `ip:port` to their heartbeat startup time (epoch ms).
pub fn worker_startups(registry: &Registry) -> HashMap<String, i64> {
    startups_of(&registry.workers().borrow())
}

/// [`worker_startups`] of a registry view.
pub fn startups_of(map: &crate::registry::WorkerMap) -> HashMap<String, i64> {
    let map = map.clone();
    map.into_values()
        .flat_map(|group| group.into_iter())
        .filter_map(|(addr, hb)| hb.map(|h| (addr, h.startup_time)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_kept_only_on_a_worker_that_started_before_it() {
        let workers: HashMap<String, i64> = [("10.0.0.1:1234".to_string(), 1_456)].into();
        assert!(task_alive(&workers, "10.0.0.1:1234", 2_000));
        // Submitted in the second the worker started (the column keeps whole seconds).
        assert!(task_alive(&workers, "10.0.0.1:1234", 1_000));
        assert!(!task_alive(&workers, "10.0.0.1:1234", 999));
        assert!(!task_alive(&workers, "10.0.0.2:1234", 5_000));
    }
}
