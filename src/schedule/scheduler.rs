//! The running Quartz cluster member: the three loops of a started Quartz scheduler and
//! the fires they hand to the fire handler.
//!
//! - trigger loop (`QuartzSchedulerThread`): wait for a free fire slot, acquire what is due
//!   within the idle-wait look-ahead, sleep until the first acquired fire time, fire, run
//!   each fire as its own task; with nothing due, sleep the randomised idle wait unless
//!   woken by a misfire or recovery pass (Quartz's in-process "scheduling changed" signal);
//! - cluster manager (`ClusterManager`): check in every `clusterCheckinInterval`, recover
//!   failed members;
//! - misfire handler (`MisfireHandler`): one pass per `misfireThreshold`, 50 ms while more
//!   misfires remain.
//!
//! All waits are deadlines (`tokio::time`), never polling; a database failure is logged
//! and retried after `dbRetryInterval`. Shutdown stops acquiring, lets running fires end
//! (bounded), then releases our claims and removes our state row when nothing of ours
//! still executes.

use super::job;
use super::jobstore::{Acquired, FireOutcome, Fired, JobStore};
use super::options::Options;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

/// How long shutdown waits for running fires before cleaning up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A started scheduler (a cluster member); stop it with [`Running::shutdown`].
pub struct Running {
    jobstore: Arc<JobStore>,
    stop: watch::Sender<bool>,
    slots: Arc<Semaphore>,
    thread_count: u32,
    loops: Vec<JoinHandle<()>>,
}

struct Shared {
    jobstore: Arc<JobStore>,
    options: Options,
    slots: Arc<Semaphore>,
    /// Quartz's `signalSchedulingChangeImmediately`: wakes the trigger loop's idle wait.
    changed: Notify,
    stop: watch::Receiver<bool>,
}

/// Starts the member: first check-in, then the three loops.
pub async fn start(store: Store, options: Options) -> Running {
    let instance_id = options.resolve_instance_id(super::jobstore::now_ms());
    let jobstore = Arc::new(JobStore::new(store, &options, instance_id));
    let thread_count = options.thread_count.clamp(1, 10_000) as u32;
    let slots = Arc::new(Semaphore::new(thread_count as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Quartz's ClusterManager.initialize(): the first check-in happens before anything fires.
    let first_done = match jobstore.check_in(true).await {
        Ok(recovered) => {
            info!(
                instance = jobstore.instance_id(),
                recovered, "Quartz cluster member checked in"
            );
            true
        }
        Err(e) => {
            error!(instance = jobstore.instance_id(), error = %e, "first Quartz check-in failed; retrying");
            false
        }
    };
    let shared = Arc::new(Shared {
        jobstore: jobstore.clone(),
        options,
        slots: slots.clone(),
        changed: Notify::new(),
        stop: stop_rx,
    });
    let loops = vec![
        tokio::spawn(cluster_loop(shared.clone(), !first_done)),
        tokio::spawn(misfire_loop(shared.clone())),
        tokio::spawn(trigger_loop(shared)),
    ];
    Running {
        jobstore,
        stop: stop_tx,
        slots,
        thread_count,
        loops,
    }
}

impl Running {
    pub fn instance_id(&self) -> &str {
        self.jobstore.instance_id()
    }

    /// Stops acquiring, waits (bounded) for running fires, releases our claims.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for l in self.loops {
            if let Err(e) = l.await {
                error!(error = %e, "a Quartz loop ended abnormally");
            }
        }
        match tokio::time::timeout(SHUTDOWN_GRACE, self.slots.acquire_many(self.thread_count)).await
        {
            Ok(_) => {}
            Err(_) => {
                warn!("schedule fires still running after {SHUTDOWN_GRACE:?}; shutting down anyway")
            }
        }
        match self.jobstore.shutdown_cleanup().await {
            Ok(()) => info!(
                instance = self.jobstore.instance_id(),
                "Quartz cluster member stopped"
            ),
            Err(e) => {
                warn!(error = %e, "Quartz shutdown clean-up failed; peers recover our claims once we are stale")
            }
        }
    }
}

/// Sleeps `d` unless stopped first; returns false when stopped.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    let slept = tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.wait_for(|s| *s) => false,
    };
    slept && !*stop.borrow()
}

async fn cluster_loop(shared: Arc<Shared>, mut first: bool) {
    let mut stop = shared.stop.clone();
    let interval = shared.options.checkin_interval.as_millis() as i64;
    let mut failures = 0u32;
    loop {
        let since = super::jobstore::now_ms() - shared.jobstore.last_checkin();
        let mut wait = Duration::from_millis((interval - since).max(100) as u64);
        if failures > 0 {
            wait = wait.max(shared.options.db_retry_interval);
        }
        if !pause(&mut stop, wait).await {
            return;
        }
        match shared.jobstore.check_in(first).await {
            Ok(recovered) => {
                if failures > 0 {
                    info!("Quartz check-in works again");
                }
                failures = 0;
                first = false;
                if recovered {
                    shared.changed.notify_one();
                }
            }
            Err(e) => {
                failures += 1;
                error!(error = %e, failures, "Quartz cluster check-in failed");
            }
        }
    }
}

async fn misfire_loop(shared: Arc<Shared>) {
    let mut stop = shared.stop.clone();
    let threshold = shared.options.misfire_threshold;
    let mut failures = 0u32;
    loop {
        let started = tokio::time::Instant::now();
        let wait = match shared.jobstore.recover_misfires().await {
            Ok(pass) => {
                failures = 0;
                if pass.handled > 0 {
                    shared.changed.notify_one();
                }
                if pass.more_remain {
                    Duration::from_millis(50)
                } else {
                    threshold
                        .saturating_sub(started.elapsed())
                        .max(Duration::from_millis(50))
                }
            }
            Err(e) => {
                failures += 1;
                error!(error = %e, failures, "Quartz misfire handling failed");
                shared
                    .options
                    .db_retry_interval
                    .max(Duration::from_millis(50))
            }
        };
        if !pause(&mut stop, wait).await {
            return;
        }
    }
}

/// A small xorshift for the idle-wait jitter (no need for a crypto-grade source).
fn jitter(max: Duration, seed: &mut u64) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    Duration::from_millis(*seed % (max.as_millis() as u64).max(1))
}

async fn trigger_loop(shared: Arc<Shared>) {
    let mut stop = shared.stop.clone();
    let opts = &shared.options;
    let idle = opts.idle_wait;
    let window = opts.batch_time_window.as_millis() as i64;
    let mut seed = (super::jobstore::now_ms() as u64) | 1;
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        if failures > 1 && !pause(&mut stop, opts.db_retry_interval).await {
            return;
        }
        // blockForAvailableThreads
        let free = loop {
            let n = shared.slots.available_permits();
            if n > 0 {
                break n;
            }
            tokio::select! {
                p = shared.slots.acquire() => drop(p),
                _ = stop.wait_for(|s| *s) => return,
            }
        };
        let now = super::jobstore::now_ms();
        let max = free.min(opts.batch_max_count).max(1);
        let batch = match shared
            .jobstore
            .acquire_next_triggers(now + idle.as_millis() as i64, max, window)
            .await
        {
            Ok(b) => {
                failures = 0;
                b
            }
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    error!(error = %e, "acquiring Quartz triggers failed");
                } else {
                    debug!(error = %e, failures, "acquiring Quartz triggers failed again");
                }
                if failures == 1 && !pause(&mut stop, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        let Some(first) = batch.first() else {
            let wait = idle.saturating_sub(jitter(opts.idle_wait_jitter, &mut seed));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shared.changed.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            continue;
        };
        debug!(
            count = batch.len(),
            first_fire_time = first.fire_time(),
            "acquired Quartz triggers"
        );
        // Sleep until the first acquired trigger is due (a deadline, not a poll).
        let until_due = first.fire_time() - super::jobstore::now_ms();
        if until_due > 0 && !pause(&mut stop, Duration::from_millis(until_due as u64)).await {
            // Quartz leaves its claims on halt; our shutdown clean-up releases them.
            return;
        }
        fire(&shared, batch).await;
    }
}

async fn fire(shared: &Arc<Shared>, batch: Vec<Acquired>) {
    let js = &shared.jobstore;
    match js.triggers_fired(&batch).await {
        Ok(outcomes) => {
            for o in outcomes {
                match o {
                    FireOutcome::Fired(f) => spawn_job(shared, f).await,
                    FireOutcome::Refused(a) => {
                        debug!(trigger = %a.trigger.key, "acquired trigger changed before firing; releasing it");
                        if let Err(e) = js.release_acquired(&a).await {
                            warn!(trigger = %a.trigger.key, error = %e, "releasing an acquired trigger failed; peers recover it if we stop");
                        }
                    }
                    FireOutcome::Lost(_) => {}
                }
            }
        }
        Err(e) => {
            error!(error = %e, "firing acquired Quartz triggers failed; checking whether the fire committed");
            for a in &batch {
                match js.resolve_uncertain_fire(a).await {
                    Ok(Some(f)) => spawn_job(shared, f).await,
                    Ok(None) => {}
                    Err(e) => {
                        warn!(trigger = %a.trigger.key, error = %e, "cannot tell whether the fire committed; peers recover the claim if needed")
                    }
                }
            }
        }
    }
}

async fn spawn_job(shared: &Arc<Shared>, f: Fired) {
    let permit = match shared.slots.clone().acquire_owned().await {
        Ok(p) => p,
        Err(_) => return,
    };
    let shared = shared.clone();
    tokio::spawn(async move {
        match job::execute(&shared.jobstore, &f).await {
            Ok(outcome) => debug!(trigger = %f.trigger, ?outcome, "schedule fire handled"),
            // Quartz swallows job exceptions: this fire is lost, the trigger goes on.
            Err(e) => {
                error!(trigger = %f.trigger, scheduled_fire_time = f.scheduled_fire_time, error = %e, "schedule fire failed")
            }
        }
        let mut stop = shared.stop.clone();
        loop {
            match shared.jobstore.triggered_job_complete(&f).await {
                Ok(()) => break,
                Err(e) => {
                    warn!(trigger = %f.trigger, error = %e, "completing a Quartz fire failed; retrying");
                    if !pause(&mut stop, shared.options.db_retry_interval).await {
                        if let Err(e) = shared.jobstore.triggered_job_complete(&f).await {
                            warn!(trigger = %f.trigger, error = %e, "completing a Quartz fire at shutdown failed");
                        }
                        break;
                    }
                }
            }
        }
        drop(permit);
    });
}
