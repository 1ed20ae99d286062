//! The Quartz 2.3 clustered JDBC job-store protocol (`JobStoreSupport` + `StdJDBCDelegate`
//! semantics) for one cluster member: acquisition, firing, completion, release, misfire
//! handling, cluster check-in and recovery, job deletion, and our shutdown clean-up.
//!
//! Each public operation is one database transaction whose first statement is the row lock
//! Quartz takes for it (`TRIGGER_ACCESS`, or `STATE_ACCESS` then `TRIGGER_ACCESS`), so Java
//! members and we serialise on the same rows. Differences from Quartz are all on the safe
//! side and invisible to Java members (see `docs/deviations.md`): we act only on cron
//! triggers of DolphinScheduler's job class, check our own claim before firing, and read
//! misfire candidates only after taking the lock.

use super::calendar::JavaZone;
use super::cron::{CronExpression, CronTrigger, MisfireInstruction};
use super::options::Options;
use crate::store::quartz::{FiredRow, QuartzKey, QuartzTables, QuartzTx, TriggerRow};
use crate::store::{self, Store};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tracing::{debug, info, warn};

/// The job class of every DolphinScheduler schedule.
pub const JOB_CLASS: &str = "org.apache.dolphinscheduler.service.quartz.ProcessScheduleJob";

pub const LOCK_TRIGGER_ACCESS: &str = "TRIGGER_ACCESS";
pub const LOCK_STATE_ACCESS: &str = "STATE_ACCESS";

pub const STATE_WAITING: &str = "WAITING";
pub const STATE_ACQUIRED: &str = "ACQUIRED";
pub const STATE_EXECUTING: &str = "EXECUTING";
pub const STATE_COMPLETE: &str = "COMPLETE";
pub const STATE_PAUSED: &str = "PAUSED";
pub const STATE_BLOCKED: &str = "BLOCKED";
pub const STATE_PAUSED_BLOCKED: &str = "PAUSED_BLOCKED";

/// Wall clock in epoch milliseconds (Quartz's `System.currentTimeMillis()`).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("could not obtain Quartz lock {lock} after {attempts} attempts")]
    Lock { lock: &'static str, attempts: u32 },
}

pub type Result<T> = std::result::Result<T, Error>;

/// A trigger this member acquired (row as loaded, our fired-row id).
#[derive(Debug, Clone)]
pub struct Acquired {
    pub trigger: TriggerRow,
    pub cron: String,
    pub zone_id: String,
    pub entry_id: String,
}

impl Acquired {
    /// The scheduled fire time (the NEXT_FIRE_TIME we acquired).
    pub fn fire_time(&self) -> i64 {
        self.trigger.next().unwrap_or(0)
    }
}

/// A trigger fired by us: the job must run, then [`JobStore::triggered_job_complete`].
#[derive(Debug, Clone)]
pub struct Fired {
    pub trigger: QuartzKey,
    pub job: QuartzKey,
    pub entry_id: String,
    /// Quartz `scheduledFireTime`.
    pub scheduled_fire_time: i64,
    /// Quartz `fireTime` (when the firing transaction ran).
    pub fire_time: i64,
    /// The trigger's next fire time after this fire; `None` → the trigger is deleted on
    /// completion (`DELETE_TRIGGER`).
    pub next_fire_time: Option<i64>,
}

/// The outcome of firing one acquired trigger.
#[derive(Debug, Clone)]
pub enum FireOutcome {
    Fired(Fired),
    /// Quartz would not fire it (trigger changed/gone, job gone): release it.
    Refused(Acquired),
    /// Our claim is gone (a peer recovered us): touch nothing.
    Lost(Acquired),
}

/// What a misfire pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MisfirePass {
    pub handled: usize,
    pub more_remain: bool,
    pub earliest_new_time: Option<i64>,
}

/// Why a trigger row is not ours to act on.
enum Loaded {
    Gone,
    Foreign(String),
    Cron(Box<(TriggerRow, CronTrigger, String, String)>),
}

/// One member of the Quartz cluster, bound to its instance id.
pub struct JobStore {
    store: Store,
    tables: QuartzTables,
    instance_id: String,
    misfire_threshold: i64,
    checkin_interval: i64,
    max_misfires: usize,
    jvm_zone: JavaZone,
    /// `JobStoreSupport.ftrCtr`: fired-record ids are instance id + this counter.
    entry_counter: AtomicI64,
    /// Time of our previous check-in (`lastCheckin`).
    last_checkin: AtomicI64,
}

impl JobStore {
    pub fn new(store: Store, options: &Options, instance_id: String) -> JobStore {
        let now = now_ms();
        JobStore {
            store,
            tables: QuartzTables::new(&options.table_prefix, &options.scheduler_name),
            instance_id,
            misfire_threshold: options.misfire_threshold.as_millis() as i64,
            checkin_interval: options.checkin_interval.as_millis() as i64,
            max_misfires: options.max_misfires_per_pass,
            jvm_zone: options.jvm_zone,
            entry_counter: AtomicI64::new(now),
            last_checkin: AtomicI64::new(now),
        }
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn last_checkin(&self) -> i64 {
        self.last_checkin.load(Ordering::Relaxed)
    }

    fn next_entry_id(&self) -> String {
        let n = self.entry_counter.fetch_add(1, Ordering::Relaxed);
        format!("{}{}", self.instance_id, n)
    }

    fn misfire_time(&self, now: i64) -> i64 {
        if self.misfire_threshold > 0 {
            now - self.misfire_threshold
        } else {
            now
        }
    }

    /// A transaction holding `lock`. Quartz 2.3.0's `StdRowLockSemaphore` makes at most 3
    /// attempts, 1 s apart; we do the same, but each attempt after a failed locking read in
    /// a fresh transaction (after a deadlock rollback MySQL would run the retried read in
    /// autocommit mode, which would not hold the lock).
    async fn begin_locked(&self, lock: &'static str) -> Result<QuartzTx> {
        let mut last = None;
        for attempt in 1..=LOCK_ATTEMPTS {
            let mut tx = self.store.quartz_begin(&self.tables).await?;
            match tx.lock(lock).await {
                Ok(true) => return Ok(tx),
                Ok(false) => {}
                Err(e) => {
                    debug!(lock, attempt, error = %e, "Quartz lock not obtained");
                    last = Some(e);
                }
            }
            drop(tx);
            if attempt < LOCK_ATTEMPTS {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Err(match last {
            Some(e) => e.into(),
            None => Error::Lock {
                lock,
                attempts: LOCK_ATTEMPTS,
            },
        })
    }

    /// Loads a trigger with its cron row, or says why we leave it alone.
    async fn load(&self, tx: &mut QuartzTx, key: &QuartzKey) -> Result<Loaded> {
        let Some(row) = tx.select_trigger(key).await? else {
            return Ok(Loaded::Gone);
        };
        if row.trigger_type != "CRON" {
            return Ok(Loaded::Foreign(format!(
                "trigger type {}",
                row.trigger_type
            )));
        }
        if let Some(cal) = &row.calendar_name {
            return Ok(Loaded::Foreign(format!("uses Quartz calendar {cal}")));
        }
        let Some((text, zone_id)) = tx.select_cron(key).await? else {
            return Ok(Loaded::Foreign("no QRTZ_CRON_TRIGGERS row".into()));
        };
        let zone_id = zone_id.unwrap_or_default();
        match self.cron_trigger(&row, &text, &zone_id) {
            Ok(trigger) => Ok(Loaded::Cron(Box::new((row, trigger, text, zone_id)))),
            Err(e) => Ok(Loaded::Foreign(e.to_string())),
        }
    }

    /// The trigger arithmetic of a row as `CronTriggerImpl` would load it.
    fn cron_trigger(
        &self,
        row: &TriggerRow,
        text: &str,
        zone_id: &str,
    ) -> std::result::Result<CronTrigger, super::cron::CronError> {
        let cron = CronExpression::parse(text)?;
        // Quartz falls back to the JVM zone when the column is empty.
        let zone = if zone_id.trim().is_empty() {
            self.jvm_zone
        } else {
            JavaZone::resolve(zone_id)
        };
        // CronTriggerImpl.setStartTime drops the milliseconds.
        let start_ms = row.start_time - row.start_time.rem_euclid(1000);
        Ok(CronTrigger {
            cron,
            zone,
            start_ms,
            end_ms: row.end_time,
        })
    }

    /// `acquireNextTriggers(noLaterThan, maxCount, timeWindow)` under TRIGGER_ACCESS.
    pub async fn acquire_next_triggers(
        &self,
        no_later_than: i64,
        max_count: usize,
        time_window: i64,
    ) -> Result<Vec<Acquired>> {
        let mut tx = self.begin_locked(LOCK_TRIGGER_ACCESS).await?;
        let mut acquired = Vec::new();
        for pass in 1..=3 {
            let now = now_ms();
            let keys = tx
                .select_triggers_to_acquire(
                    no_later_than + time_window,
                    self.misfire_time(now),
                    max_count,
                )
                .await?;
            if keys.is_empty() {
                break;
            }
            let mut batch_end = no_later_than;
            for key in keys {
                let (row, text, zone_id) = match self.load(&mut tx, &key).await? {
                    Loaded::Gone => continue,
                    Loaded::Foreign(why) => {
                        debug!(trigger = %key, why, "leaving a trigger that is not a DolphinScheduler cron schedule");
                        continue;
                    }
                    Loaded::Cron(b) => {
                        let (row, _, text, zone) = *b;
                        (row, text, zone)
                    }
                };
                match tx.select_job_class(&row.job).await? {
                    Some(class) if class == JOB_CLASS => {}
                    Some(class) => {
                        debug!(trigger = %key, class, "leaving a trigger of a foreign job class");
                        continue;
                    }
                    None => continue,
                }
                let Some(next) = row.next() else { continue };
                if next > batch_end {
                    break;
                }
                if tx
                    .update_trigger_state_from(&key, STATE_ACQUIRED, STATE_WAITING)
                    .await?
                    == 0
                {
                    continue;
                }
                let entry_id = self.next_entry_id();
                tx.insert_fired_acquired(
                    &entry_id,
                    &key,
                    &self.instance_id,
                    now_ms(),
                    next,
                    row.priority,
                )
                .await?;
                if acquired.is_empty() {
                    batch_end = next.max(now_ms()) + time_window;
                }
                acquired.push(Acquired {
                    trigger: row,
                    cron: text,
                    zone_id,
                    entry_id,
                });
                if acquired.len() >= max_count {
                    break;
                }
            }
            if !acquired.is_empty() || pass == 3 {
                break;
            }
        }
        tx.commit().await?;
        Ok(acquired)
    }

    /// `triggersFired` for a batch, in one transaction under TRIGGER_ACCESS.
    pub async fn triggers_fired(&self, batch: &[Acquired]) -> Result<Vec<FireOutcome>> {
        let mut tx = self.begin_locked(LOCK_TRIGGER_ACCESS).await?;
        let mut out = Vec::with_capacity(batch.len());
        for a in batch {
            out.push(self.trigger_fired(&mut tx, a).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn trigger_fired(&self, tx: &mut QuartzTx, a: &Acquired) -> Result<FireOutcome> {
        let key = &a.trigger.key;
        // Our claim must still be ours: a peer that thought us dead may have released it
        // and another member may hold it now (spec §4.11).
        match tx.select_fired(&a.entry_id).await? {
            Some(f) if f.instance_name == self.instance_id && f.state == STATE_ACQUIRED => {}
            other => {
                warn!(trigger = %key, entry = %a.entry_id, found = ?other.map(|f| (f.instance_name, f.state)),
                    "our claim on the trigger is gone (recovered by a peer); not firing it");
                return Ok(FireOutcome::Lost(a.clone()));
            }
        }
        if tx.select_trigger_state(key).await?.as_deref() != Some(STATE_ACQUIRED) {
            return Ok(FireOutcome::Refused(a.clone()));
        }
        match tx.select_job_class(&a.trigger.job).await? {
            Some(c) if c == JOB_CLASS => {}
            _ => return Ok(FireOutcome::Refused(a.clone())),
        }
        let Ok(trigger) = self.cron_trigger(&a.trigger, &a.cron, &a.zone_id) else {
            return Ok(FireOutcome::Refused(a.clone()));
        };
        let scheduled = a.fire_time();
        let now = now_ms();
        tx.update_fired_executing(
            &a.entry_id,
            &self.instance_id,
            now,
            scheduled,
            &a.trigger.job,
        )
        .await?;
        // CronTriggerImpl.triggered: computed from the acquired (in-memory) trigger.
        let next = trigger.fire_time_after(scheduled);
        let mut row = a.trigger.clone();
        row.prev_fire_time = Some(scheduled);
        row.next_fire_time = next;
        row.state = if next.is_some() {
            STATE_WAITING
        } else {
            STATE_COMPLETE
        }
        .to_string();
        tx.store_cron_trigger(&row, &a.cron, &a.zone_id).await?;
        Ok(FireOutcome::Fired(Fired {
            trigger: key.clone(),
            job: a.trigger.job.clone(),
            entry_id: a.entry_id.clone(),
            scheduled_fire_time: scheduled,
            fire_time: now,
            next_fire_time: next,
        }))
    }

    /// `releaseAcquiredTrigger`: back to WAITING and our fired row deleted — only while the
    /// claim is still ours (never flips a peer's claim).
    pub async fn release_acquired(&self, a: &Acquired) -> Result<()> {
        let mut tx = self.begin_locked(LOCK_TRIGGER_ACCESS).await?;
        match tx.select_fired(&a.entry_id).await? {
            Some(f) if f.instance_name == self.instance_id && f.state == STATE_ACQUIRED => {
                tx.update_trigger_state_from(&a.trigger.key, STATE_WAITING, STATE_ACQUIRED)
                    .await?;
                tx.delete_fired(&a.entry_id).await?;
            }
            _ => {}
        }
        tx.commit().await?;
        Ok(())
    }

    /// After a failed firing transaction: whether it committed after all (our fired row is
    /// EXECUTING) — then the job must run — or not (release as Quartz does).
    pub async fn resolve_uncertain_fire(&self, a: &Acquired) -> Result<Option<Fired>> {
        let mut tx = self.begin_locked(LOCK_TRIGGER_ACCESS).await?;
        let found: Option<FiredRow> = tx.select_fired(&a.entry_id).await?;
        let result = match found {
            Some(f) if f.instance_name == self.instance_id && f.state == STATE_EXECUTING => {
                let next = tx.select_next_fire_time(&a.trigger.key).await?.flatten();
                Some(Fired {
                    trigger: a.trigger.key.clone(),
                    job: a.trigger.job.clone(),
                    entry_id: a.entry_id.clone(),
                    scheduled_fire_time: f.sched_time,
                    fire_time: f.fired_time,
                    next_fire_time: next,
                })
            }
            Some(f) if f.instance_name == self.instance_id && f.state == STATE_ACQUIRED => {
                tx.update_trigger_state_from(&a.trigger.key, STATE_WAITING, STATE_ACQUIRED)
                    .await?;
                tx.delete_fired(&a.entry_id).await?;
                None
            }
            _ => None,
        };
        tx.commit().await?;
        Ok(result)
    }

    /// `triggeredJobComplete`: delete the trigger (and its job) when it cannot fire again,
    /// then our fired row.
    pub async fn triggered_job_complete(&self, f: &Fired) -> Result<()> {
        let mut tx = self.begin_locked(LOCK_TRIGGER_ACCESS).await?;
        if f.next_fire_time.is_none() {
            if let Some(None) = tx.select_next_fire_time(&f.trigger).await? {
                tx.remove_trigger(&f.trigger, &f.job).await?;
            }
        }
        tx.delete_fired(&f.entry_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `QuartzExecutors.deleteJob` as the fire handler calls it: every trigger of the job
    /// (cron row, trigger row), then the job row. Returns whether anything was deleted.
    pub async fn delete_job(&self, job: &QuartzKey) -> Result<bool> {
        let mut tx = self.begin_locked(LOCK_TRIGGER_ACCESS).await?;
        let mut any = false;
        for key in tx.select_triggers_for_job(job).await? {
            any |= tx.remove_trigger(&key, job).await?;
            // A claim of ours on the deleted trigger can never fire; drop it now rather than
            // at its fire time (Quartz leaves it until then; nobody else reads it).
            tx.delete_acquired_claims(&key, &self.instance_id).await?;
        }
        any |= tx.delete_job_row(job).await?;
        tx.commit().await?;
        Ok(any)
    }

    /// One misfire-handler pass (`doRecoverMisfires`).
    pub async fn recover_misfires(&self) -> Result<MisfirePass> {
        let now = now_ms();
        let misfire_time = self.misfire_time(now);
        if self
            .store
            .quartz_count_misfired(&self.tables, misfire_time)
            .await?
            == 0
        {
            return Ok(MisfirePass::default());
        }
        let mut tx = self.begin_locked(LOCK_TRIGGER_ACCESS).await?;
        let keys = tx.select_misfired(misfire_time, self.max_misfires).await?;
        let more_remain = keys.len() > self.max_misfires;
        let mut pass = MisfirePass {
            more_remain,
            ..MisfirePass::default()
        };
        for key in keys.iter().take(self.max_misfires) {
            let (mut row, trigger, text, zone_id) = match self.load(&mut tx, key).await? {
                Loaded::Cron(b) => *b,
                Loaded::Gone => continue,
                Loaded::Foreign(why) => {
                    debug!(trigger = %key, why, "not handling the misfire of a foreign trigger");
                    continue;
                }
            };
            if tx.select_job_class(&row.job).await?.is_none() {
                // Quartz fails the whole pass here ("job referenced by the trigger does not
                // exist"); we leave this one trigger alone.
                warn!(trigger = %key, job = %row.job, "misfired trigger without its job row; left alone");
                continue;
            }
            let instruction = MisfireInstruction::from_code(row.misfire_instr)
                .unwrap_or(MisfireInstruction::Smart);
            let missed = row.next();
            let next = trigger.next_after_misfire(instruction, missed, now_ms());
            row.next_fire_time = next;
            row.state = match next {
                None => STATE_COMPLETE.to_string(),
                Some(_) if tx.is_group_paused(&key.group).await? => STATE_PAUSED.to_string(),
                Some(_) => STATE_WAITING.to_string(),
            };
            info!(trigger = %key, missed = ?missed, next = ?next, "misfired trigger moved (DO_NOTHING skips missed fires)");
            tx.store_cron_trigger(&row, &text, &zone_id).await?;
            pass.handled += 1;
            if let Some(n) = next {
                pass.earliest_new_time = Some(pass.earliest_new_time.map_or(n, |e| e.min(n)));
            }
        }
        tx.commit().await?;
        // Only a pass that made progress may ask for an immediate next one: triggers we
        // leave alone (foreign job class, bad cron) must not make the handler spin.
        pass.more_remain &= pass.handled > 0;
        Ok(pass)
    }

    /// One cluster check-in (`doCheckin`); returns whether instances were recovered.
    pub async fn check_in(&self, first: bool) -> Result<bool> {
        if !first {
            let mut tx = self.store.quartz_begin(&self.tables).await?;
            let failed = self.find_failed_instances(&mut tx, false).await?;
            let now = now_ms();
            tx.check_in(&self.instance_id, now, self.checkin_interval)
                .await?;
            tx.commit().await?;
            self.last_checkin.store(now, Ordering::Relaxed);
            if failed.is_empty() {
                return Ok(false);
            }
        }
        let mut tx = self.begin_locked(LOCK_STATE_ACCESS).await?;
        let failed = self.find_failed_instances(&mut tx, first).await?;
        if first {
            let now = now_ms();
            tx.check_in(&self.instance_id, now, self.checkin_interval)
                .await?;
            self.last_checkin.store(now, Ordering::Relaxed);
        }
        let recovered = !failed.is_empty();
        if recovered {
            lock_in(&mut tx, LOCK_TRIGGER_ACCESS).await?;
            self.cluster_recover(&mut tx, &failed).await?;
        }
        tx.commit().await?;
        Ok(recovered)
    }

    /// `findFailedInstances`: stale peers (+ ourselves and orphans on the first check-in).
    async fn find_failed_instances(&self, tx: &mut QuartzTx, first: bool) -> Result<Vec<String>> {
        let now = now_ms();
        let last = self.last_checkin.load(Ordering::Relaxed);
        let states = tx.select_scheduler_states().await?;
        let mut failed = Vec::new();
        let mut found_self = false;
        for s in &states {
            if s.instance_name == self.instance_id {
                found_self = true;
                if first {
                    failed.push(s.instance_name.clone());
                }
            } else {
                let failed_if_after =
                    s.last_checkin_time + s.checkin_interval.max(now - last) + 7500;
                if failed_if_after < now {
                    failed.push(s.instance_name.clone());
                }
            }
        }
        if first {
            let known: BTreeSet<&str> = states.iter().map(|s| s.instance_name.as_str()).collect();
            for name in tx.select_fired_instance_names().await? {
                if !known.contains(name.as_str()) {
                    info!(instance = %name, "found orphaned Quartz fired triggers");
                    failed.push(name);
                }
            }
        }
        if !found_self && !first {
            warn!(instance = %self.instance_id, "this Quartz instance was recovered by another member while still active");
        }
        Ok(failed)
    }

    /// `clusterRecover`: release the failed instances' claims, drop their fired rows, remove
    /// COMPLETE triggers nobody fires any more, delete their state rows.
    async fn cluster_recover(&self, tx: &mut QuartzTx, failed: &[String]) -> Result<()> {
        for instance in failed {
            let fired = tx.select_fired_of_instance(instance).await?;
            let mut keys: BTreeSet<QuartzKey> = BTreeSet::new();
            let (mut acquired, mut other) = (0, 0);
            for f in &fired {
                keys.insert(f.trigger.clone());
                if let Some(job) = &f.job {
                    if f.state == STATE_BLOCKED {
                        tx.update_job_trigger_states_from(job, STATE_WAITING, STATE_BLOCKED)
                            .await?;
                    } else if f.state == STATE_PAUSED_BLOCKED {
                        tx.update_job_trigger_states_from(job, STATE_PAUSED, STATE_PAUSED_BLOCKED)
                            .await?;
                    }
                }
                if f.state == STATE_ACQUIRED {
                    tx.update_trigger_state_from(&f.trigger, STATE_WAITING, STATE_ACQUIRED)
                        .await?;
                    acquired += 1;
                } else {
                    if f.requests_recovery {
                        warn!(instance = %instance, trigger = %f.trigger,
                            "fired trigger requests recovery; dsmaster does not schedule Quartz recovery triggers (never used by DolphinScheduler)");
                    }
                    other += 1;
                }
                if f.is_nonconcurrent {
                    if let Some(job) = &f.job {
                        tx.update_job_trigger_states_from(job, STATE_WAITING, STATE_BLOCKED)
                            .await?;
                        tx.update_job_trigger_states_from(job, STATE_PAUSED, STATE_PAUSED_BLOCKED)
                            .await?;
                    }
                }
            }
            tx.delete_fired_of_instance(instance).await?;
            let mut completed = 0;
            for key in &keys {
                if tx.select_trigger_state(key).await?.as_deref() == Some(STATE_COMPLETE)
                    && !tx.has_fired_for_trigger(key).await?
                {
                    if let Some(row) = tx.select_trigger(key).await? {
                        if tx.remove_trigger(key, &row.job).await? {
                            completed += 1;
                        }
                    }
                }
            }
            if instance != &self.instance_id {
                tx.delete_scheduler_state(instance).await?;
            }
            info!(instance = %instance, acquired, other, completed, "recovered a failed Quartz instance");
        }
        Ok(())
    }

    /// Our graceful-shutdown clean-up: release our ACQUIRED claims and, when no fire of
    /// ours is still executing, delete our state row (peers need not wait for staleness).
    pub async fn shutdown_cleanup(&self) -> Result<()> {
        let mut tx = self.begin_locked(LOCK_STATE_ACCESS).await?;
        lock_in(&mut tx, LOCK_TRIGGER_ACCESS).await?;
        let mine = tx.select_fired_of_instance(&self.instance_id).await?;
        let mut executing = 0;
        for f in &mine {
            if f.state == STATE_ACQUIRED {
                tx.update_trigger_state_from(&f.trigger, STATE_WAITING, STATE_ACQUIRED)
                    .await?;
                tx.delete_fired(&f.entry_id).await?;
            } else {
                executing += 1;
            }
        }
        if executing == 0 {
            tx.delete_scheduler_state(&self.instance_id).await?;
        } else {
            warn!(executing, "fires still executing at shutdown; leaving our Quartz state row for peers to recover");
        }
        tx.commit().await?;
        Ok(())
    }
}

/// `StdRowLockSemaphore` (2.3.0): at most 3 attempts.
const LOCK_ATTEMPTS: u32 = 3;

/// Takes a second lock inside `tx` (STATE_ACCESS is held): retried only while the lock row
/// has to be created; a failed locking read fails the operation (the caller retries it).
async fn lock_in(tx: &mut QuartzTx, lock: &'static str) -> Result<()> {
    for attempt in 1..=LOCK_ATTEMPTS {
        if tx.lock(lock).await? {
            return Ok(());
        }
        if attempt < LOCK_ATTEMPTS {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    Err(Error::Lock {
        lock,
        attempts: LOCK_ATTEMPTS,
    })
}
