//! The workflow runtime: command intake, one actor per workflow instance, and the routing of
//! worker frames and state events to the actor that owns the instance.
//!
//! Intake takes commands of this master's slot from `t_ds_command` (re-checking at once after
//! a command, and on a 1 s deadline when the table had nothing for us, as upstream does: the
//! API server inserts commands without telling any master). Each started instance gets a
//! [`workflow::Workflow`] actor registered in [`Instances`], the equivalent of upstream's exec
//! map; frames for instances not in the map are dropped without a reply, as a 2.0.5 master
//! does, so the worker keeps resending until the owning master has the instance loaded.

pub mod alert;
pub mod complement;
pub mod construct;
pub mod dag;
pub mod dependent;
mod error;
pub mod expr;
pub mod logic;
pub mod subprocess;
pub mod timeexpr;
mod workflow;

pub use error::Error;
pub use workflow::Event;

use crate::dispatch::Dispatcher;
use crate::model::{CommandType, ExecutionStatus};
use crate::protocol::{Command, Inbound};
use crate::registry::MasterSlot;
use crate::store::{HandleOutcome, NextCommand, ProcessInstance, Store};
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

/// The exec map: process instance id to the channel of its actor.
#[derive(Clone, Default)]
pub struct Instances {
    inner: Arc<Mutex<HashMap<i32, mpsc::Sender<Event>>>>,
}

impl Instances {
    fn register(&self, id: i32, tx: mpsc::Sender<Event>) {
        if let Ok(mut m) = self.inner.lock() {
            m.insert(id, tx);
        }
    }

    fn remove(&self, id: i32) {
        if let Ok(mut m) = self.inner.lock() {
            m.remove(&id);
        }
    }

    fn get(&self, id: i32) -> Option<mpsc::Sender<Event>> {
        self.inner.lock().ok().and_then(|m| m.get(&id).cloned())
    }

    /// Whether this master runs the instance now.
    pub fn contains(&self, id: i32) -> bool {
        self.inner
            .lock()
            .map(|m| m.contains_key(&id))
            .unwrap_or(false)
    }

    /// How many workflow instances this master runs now.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the engine needs from the rest of the master.
pub struct Deps {
    pub store: Store,
    pub dispatcher: Dispatcher,
    /// Our `ip:port`, written to `t_ds_process_instance.host`.
    pub host: String,
    pub slot: watch::Receiver<Option<MasterSlot>>,
    /// Live workers from the registry (a vanished worker's tasks are failed over).
    pub workers: watch::Receiver<crate::registry::WorkerMap>,
    /// For dead-server entries of vanished workers.
    pub registry: crate::registry::Registry,
    /// Load and memory limits under which intake takes commands (upstream `checkResource`).
    pub resources: crate::registry::metrics::ResourceCheck,
    /// The Java processes' zone (`dsmaster.jvm.timezone`), for complement date lists.
    pub jvm_zone: crate::schedule::calendar::JavaZone,
    /// `dsmaster.command.poll.interval`: intake's wait after a look that found nothing.
    pub command_poll_interval: Duration,
    /// `master.fetch.command.num`: how many commands one look takes.
    pub fetch_command_num: usize,
}

/// The running engine.
pub struct Engine {
    pub instances: Instances,
}

impl Engine {
    /// Starts command intake and the inbound router. Both stop when `stop` turns true.
    pub fn start(
        deps: Deps,
        instances: Instances,
        inbound: mpsc::Receiver<Inbound>,
        stop: watch::Receiver<bool>,
    ) -> (Engine, tokio::task::JoinHandle<()>) {
        tokio::spawn(route(inbound, instances.clone()));
        tokio::spawn(announce_reconnections(
            deps.dispatcher.reconnections(),
            instances.clone(),
        ));
        tokio::spawn(announce_lost_workers(
            deps.workers.clone(),
            deps.registry.clone(),
            instances.clone(),
        ));
        let intake = Intake {
            store: deps.store,
            dispatcher: deps.dispatcher,
            host: deps.host,
            slot: deps.slot,
            workers: deps.workers.clone(),
            orphans: Orphans::default(),
            instances: instances.clone(),
            skip: HashSet::new(),
            features: workflow::Features {
                jvm_zone: deps.jvm_zone,
                ..workflow::Features::default()
            },
            resources: deps.resources,
            poll_interval: deps.command_poll_interval,
            fetch_num: deps.fetch_command_num.max(1),
        };
        let handle = tokio::spawn(intake.run(stop));
        (Engine { instances }, handle)
    }
}

/// Tells every running workflow when a worker's registry node disappears, so each fails over
/// its tasks there (upstream `failoverWorker`: every master, for the workflows it runs).
async fn announce_lost_workers(
    mut workers: watch::Receiver<crate::registry::WorkerMap>,
    registry: crate::registry::Registry,
    instances: Instances,
) {
    let hosts = |m: &crate::registry::WorkerMap| -> HashSet<String> {
        m.values().flat_map(|g| g.keys().cloned()).collect()
    };
    let mut known = hosts(&workers.borrow());
    while workers.changed().await.is_ok() {
        let now = hosts(&workers.borrow());
        for gone in known.difference(&now) {
            warn!(worker = %gone, "worker left the registry; its running tasks are failed over");
            if let Err(e) = registry.mark_dead("worker", gone).await {
                warn!(worker = %gone, error = %e, "could not record the dead worker");
            }
            broadcast(&instances, || Event::WorkerLost(gone.clone())).await;
        }
        known = now;
    }
}

async fn broadcast(instances: &Instances, event: impl Fn() -> Event) {
    let senders: Vec<mpsc::Sender<Event>> = instances
        .inner
        .lock()
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    for tx in senders {
        let _ = tx.send(event()).await;
    }
}

/// Tells every running workflow that a worker link came back, so each can rebind its tasks.
async fn announce_reconnections(
    mut rx: tokio::sync::broadcast::Receiver<String>,
    instances: Instances,
) {
    loop {
        let host = match rx.recv().await {
            Ok(h) => h,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                warn!(missed = n, "reconnection notices dropped");
                continue;
            }
            Err(_) => return,
        };
        broadcast(&instances, || Event::WorkerReconnected(host.clone())).await;
    }
}

/// Routes every decoded frame from any connection to the owning workflow actor.
async fn route(mut inbound: mpsc::Receiver<Inbound>, instances: Instances) {
    let mut overflow = Overflow::default();
    while let Some(Inbound { link, command, .. }) = inbound.recv().await {
        let (instance_id, event) = match command {
            Command::TaskExecuteAck(ack) => (ack.process_instance_id, Event::Ack { ack, link }),
            Command::TaskExecuteResponse(result) => {
                (result.process_instance_id, Event::Result { result, link })
            }
            Command::StateEvent(ev) => {
                // Upstream `StateEventProcessor`: a task-level event is a TASK_STATE_CHANGE
                // (a sub-process child ended), a process-level one a PROCESS_STATE_CHANGE.
                let event = if ev.dest_task_instance_id != 0 {
                    Event::TaskStateChange(ev.dest_task_instance_id)
                } else {
                    Event::ProcessStateChange
                };
                (ev.dest_process_instance_id, event)
            }
            Command::TaskKillResponse(response) => (
                response.process_instance_id,
                Event::KillResponse { response, link },
            ),
            Command::CacheExpire(_) => continue, // we keep no Spring-style caches
            other => {
                debug!(peer = %link.peer(), command = ?std::mem::discriminant(&other), "frame without a master-side handler dropped");
                continue;
            }
        };
        match instances.get(instance_id) {
            Some(tx) => overflow.deliver(instance_id, &tx, event),
            None => debug!(
                process_instance_id = instance_id,
                "frame for an instance this master does not run; dropped"
            ),
        }
    }
}

/// Delivery that never waits on one workflow: a frame for an actor whose channel is full goes
/// to a forwarder task of that instance, which waits for room; every later frame for the
/// instance follows through the same forwarder (until the actor ends), so each actor still
/// sees its frames in arrival order, and the router goes on with the other workflows' frames.
#[derive(Default)]
struct Overflow {
    backlog: HashMap<i32, mpsc::UnboundedSender<Event>>,
}

impl Overflow {
    fn deliver(&mut self, id: i32, tx: &mpsc::Sender<Event>, event: Event) {
        let event = match self.backlog.get(&id) {
            Some(fwd) => match fwd.send(event) {
                Ok(()) => return,
                // The forwarder ended with its actor.
                Err(mpsc::error::SendError(event)) => {
                    self.backlog.remove(&id);
                    event
                }
            },
            None => event,
        };
        match tx.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => {
                debug!(process_instance_id = id, "workflow ended; frame dropped")
            }
            Err(mpsc::error::TrySendError::Full(event)) => {
                debug!(
                    process_instance_id = id,
                    "workflow busy; its frames queue aside"
                );
                self.backlog.retain(|_, f| !f.is_closed());
                let (fwd, mut rx) = mpsc::unbounded_channel();
                let _ = fwd.send(event);
                let tx = tx.clone();
                tokio::spawn(async move {
                    // Stays until the actor ends: a forwarder that left while frames were
                    // still on their way could let a later frame overtake them.
                    while let Some(event) = rx.recv().await {
                        if tx.send(event).await.is_err() {
                            return;
                        }
                    }
                });
                self.backlog.insert(id, fwd);
            }
        }
    }
}

/// How often intake looks for instances it owns that have no actor (a commit whose outcome
/// was lost with the connection, an actor that gave its instance up).
const ORPHAN_SWEEP: Duration = Duration::from_secs(10);

/// State of the orphan sweep: instances seen without an actor in the previous pass (an
/// instance is handed over only when two passes in a row agree, so an actor that finishes
/// between the read and the check is never mistaken for an orphan).
#[derive(Default)]
struct Orphans {
    suspects: HashSet<i32>,
    last: Option<tokio::time::Instant>,
}

/// Which instances of `unfinished` (ids owned by us, not final) to hand over now, given the
/// previous pass's suspects and whether an actor runs each; updates the suspects.
fn orphans_due(
    unfinished: &[i32],
    has_actor: impl Fn(i32) -> bool,
    suspects: &mut HashSet<i32>,
) -> Vec<i32> {
    let now: HashSet<i32> = unfinished
        .iter()
        .copied()
        .filter(|id| !has_actor(*id))
        .collect();
    let mut due: Vec<i32> = now.intersection(suspects).copied().collect();
    due.sort_unstable();
    *suspects = now
        .difference(&due.iter().copied().collect())
        .copied()
        .collect();
    due
}

struct Intake {
    store: Store,
    dispatcher: Dispatcher,
    host: String,
    slot: watch::Receiver<Option<MasterSlot>>,
    /// Live workers (failover decisions for orphans, task rebinding on resume).
    workers: watch::Receiver<crate::registry::WorkerMap>,
    orphans: Orphans,
    instances: Instances,
    /// Commands this master cannot run yet, left for a master that can.
    skip: HashSet<i32>,
    features: workflow::Features,
    resources: crate::registry::metrics::ResourceCheck,
    poll_interval: Duration,
    /// `master.fetch.command.num`: commands taken per look.
    fetch_num: usize,
}

/// New instances constructed at once within one intake batch (each takes a connection).
const START_CONCURRENCY: usize = 8;

/// A new sub-process child, constructed, waiting for [`Intake::start_child`].
struct ChildStart {
    cmd: crate::store::CommandRow,
    instance: ProcessInstance,
    definition: crate::store::ProcessDefinition,
    link: subprocess::SubLink,
}

/// A command that creates a new top-level instance (the kind intake starts concurrently).
fn is_plain_start(cmd: &crate::store::CommandRow) -> bool {
    matches!(
        cmd.command_type,
        CommandType::START_PROCESS
            | CommandType::START_CURRENT_TASK_PROCESS
            | CommandType::SCHEDULER
            | CommandType::COMPLEMENT_DATA
    ) && cmd.process_instance_id == 0
        && subprocess::sub_link(cmd.command_param.as_deref()).is_none()
}

impl Intake {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        match self.store.schema_version().await {
            Ok(v) => {
                self.features.last24 = dependent::Last24Hours::for_patch(v.patch());
                if let Some(p) = v.patch() {
                    self.features.complement =
                        crate::schedule::complement::Rules::for_release(&format!("2.0.{p}"));
                }
            }
            Err(e) => {
                warn!(error = %e, "schema version unreadable; 2.0.5 rules for dependent dates")
            }
        }
        let mut failures = 0u32;
        let mut paused = false;
        loop {
            if *stop.borrow() {
                return;
            }
            if self.store.fence_lost() {
                warn!("registry session lost: command intake stops");
                return;
            }
            if self
                .orphans
                .last
                .map_or(true, |t| t.elapsed() >= ORPHAN_SWEEP)
            {
                self.orphans.last = Some(tokio::time::Instant::now());
                if let Err(e) = self.sweep_orphans().await {
                    warn!(error = %e, "orphan sweep failed; retrying next time");
                }
            }
            let slot = *self.slot.borrow();
            let overload = self.resources.check();
            if overload.is_overloaded() != paused {
                paused = !paused;
                if paused {
                    warn!(
                        load_average = ?overload.load,
                        available_memory_gib = ?overload.available_memory_gib,
                        "host over master.max.cpuload.avg / under master.reserved.memory: command intake paused"
                    );
                } else {
                    info!("host back within its limits: command intake resumed");
                }
            }
            let idle = match slot {
                None => true,
                Some(_) if paused => true,
                Some(slot) => match self.step(slot).await {
                    Ok(took) => {
                        failures = 0;
                        !took
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        error!(error = %e, "command intake failed; retrying");
                        true
                    }
                },
            };
            if idle {
                // Nothing found: look again after the poll interval, or at once when this
                // process inserts a command itself (sub-process child, complement chaining,
                // failover hand-over, a schedule fire). After failures, back off by seconds.
                let wait = if failures > 0 {
                    Duration::from_millis(1000 * u64::from(failures.min(10)))
                } else {
                    self.poll_interval
                };
                let signal = self.store.command_signal();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = signal.notified(), if failures == 0 && !paused => {}
                    _ = self.slot.changed() => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }

    /// Takes up to `master.fetch.command.num` of our slot's commands; returns whether any
    /// was found. New workflows (start, schedule, complement; not sub-process children) are
    /// constructed concurrently, each in its own transaction, so one that fails goes to the
    /// error table alone; every other command is handled one by one, in queue order.
    async fn step(&mut self, slot: MasterSlot) -> crate::store::Result<bool> {
        let page = self
            .store
            .find_commands(slot.index, slot.size, &self.skip, self.fetch_num)
            .await?;
        if page.is_empty() {
            return Ok(false);
        }
        let mut plain = Vec::new();
        for next in page {
            match next {
                NextCommand::Command(cmd) if is_plain_start(&cmd) => plain.push(cmd),
                other => {
                    self.handle(other).await?;
                }
            }
        }
        if plain.is_empty() {
            return Ok(true);
        }
        // Distinct creation instants, so instance names (which end in the instant's
        // milliseconds) differ within the batch and a read-back finds the right one.
        let base = chrono::Utc::now();
        let this = &*self;
        let outcomes: Vec<crate::store::Result<Option<ChildStart>>> =
            futures::stream::iter(plain.into_iter().enumerate())
                .map(|(i, cmd)| {
                    let at = base + chrono::Duration::milliseconds(i as i64);
                    async move { this.start_new(&cmd, at).await }
                })
                .buffer_unordered(START_CONCURRENCY)
                .collect()
                .await;
        let mut first_error = None;
        for outcome in outcomes {
            match outcome {
                Ok(None) => {}
                // Not expected for a plain start; handled like any child command.
                Ok(Some(child)) => {
                    if let Err(e) = self.start_child(child).await {
                        first_error.get_or_insert(e);
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(true),
        }
    }

    /// Handles one command read from the queue; returns whether one was taken.
    async fn handle(&mut self, next: NextCommand) -> crate::store::Result<bool> {
        let cmd = match next {
            NextCommand::Command(c) => c,
            NextCommand::Broken { id, error } => {
                error!(command_id = id, %error, "command row does not decode; moved to t_ds_error_command");
                self.store
                    .move_broken_command(id, &error.to_string())
                    .await?;
                return Ok(true);
            }
        };
        // Any type naming an existing instance resumes it (sub-process commands for an
        // existing child carry the parent's current type, e.g. RECOVER_SUSPENDED_PROCESS).
        match cmd.command_type {
            CommandType::START_PROCESS
            | CommandType::START_CURRENT_TASK_PROCESS
            | CommandType::SCHEDULER
            | CommandType::COMPLEMENT_DATA
                if cmd.process_instance_id == 0 => {}
            CommandType::START_PROCESS
            | CommandType::START_CURRENT_TASK_PROCESS
            | CommandType::SCHEDULER
            | CommandType::COMPLEMENT_DATA
            | CommandType::RECOVER_TOLERANCE_FAULT_PROCESS
            | CommandType::RECOVER_SUSPENDED_PROCESS
            | CommandType::START_FAILURE_TASK_PROCESS
            | CommandType::REPEAT_RUNNING
            | CommandType::RECOVER_WAITING_THREAD => return self.resume(cmd).await,
            _ => {
                warn!(command_id = cmd.id, command_type = %cmd.command_type, "command type not supported yet; left in t_ds_command");
                self.skip.insert(cmd.id);
                return Ok(true);
            }
        }
        if let Some(child) = self.start_new(&cmd, chrono::Utc::now()).await? {
            return self.start_child(child).await;
        }
        Ok(true)
    }

    /// A command that creates a new instance: constructs it as of `now_utc` and takes the
    /// command in one transaction, then spawns its actor. A sub-process child is returned
    /// for [`Intake::start_child`], which needs the parent's link.
    async fn start_new(
        &self,
        cmd: &crate::store::CommandRow,
        now_utc: chrono::DateTime<chrono::Utc>,
    ) -> crate::store::Result<Option<ChildStart>> {
        let Some(definition) = self
            .store
            .find_process_definition(cmd.process_definition_code, cmd.process_definition_version)
            .await?
        else {
            warn!(
                command_id = cmd.id,
                code = cmd.process_definition_code,
                "process definition not found"
            );
            self.store
                .move_to_error_command(cmd, "process instance is null")
                .await?;
            return Ok(None);
        };
        let clock = *self.store.clock();
        let now = clock.to_db(now_utc);
        let suffix = construct::name_suffix(clock.wall(now_utc));
        let instance = match construct::new_process_instance(
            cmd,
            &definition,
            &self.host,
            now,
            &suffix,
            self.features.jvm_zone,
        ) {
            Ok(mut i) => {
                if let Some(link) = subprocess::sub_link(cmd.command_param.as_deref()) {
                    return Ok(Some(ChildStart {
                        cmd: cmd.clone(),
                        instance: i,
                        definition,
                        link,
                    }));
                }
                i.is_sub_process = Some(crate::model::Flag::NO);
                i
            }
            Err(e) => {
                warn!(command_id = cmd.id, error = %e, "command cannot start");
                self.store
                    .move_to_error_command(cmd, &e.to_string())
                    .await?;
                return Ok(None);
            }
        };
        let name = instance.name.clone().unwrap_or_default();
        let outcome = match self.store.start_instance(cmd.id, instance).await {
            Ok(o) => o,
            Err(e) if e.is_ownership() => return Err(e),
            Err(e) => {
                // The connection may have died after the server committed: read back.
                match self.read_back_new(cmd.id, &name).await {
                    Some(p) => {
                        warn!(command_id = cmd.id, process_instance_id = p.id, error = %e, "commit reported failed but had succeeded; the instance runs");
                        HandleOutcome::Started(Box::new(p))
                    }
                    None => return Err(e),
                }
            }
        };
        match outcome {
            HandleOutcome::Started(instance) => {
                let instance = *instance;
                info!(
                    command_id = cmd.id,
                    process_instance_id = instance.id,
                    "command handled"
                );
                debug_assert_eq!(instance.state, Some(ExecutionStatus::RUNNING_EXECUTION));
                self.command_taken(cmd);
                workflow::Workflow::spawn(self.runtime(), instance, definition, false);
            }
            HandleOutcome::Lost => {
                info!(command_id = cmd.id, "another master took the command first");
            }
        }
        Ok(None)
    }

    /// Commands that name an existing instance (upstream `constructProcessInstance` for
    /// types 2, 3, 4 and 7): take the instance, reset its task rows as upstream does, and
    /// rebuild its actor from the rows.
    async fn resume(&mut self, cmd: crate::store::CommandRow) -> crate::store::Result<bool> {
        let Some(mut p) = self
            .store
            .find_process_instance(cmd.process_instance_id)
            .await?
        else {
            warn!(
                command_id = cmd.id,
                process_instance_id = cmd.process_instance_id,
                "instance to recover not found"
            );
            self.store
                .move_to_error_command(&cmd, "process instance is null")
                .await?;
            return Ok(true);
        };
        if self.instances.get(p.id).is_some() {
            warn!(
                command_id = cmd.id,
                process_instance_id = p.id,
                "instance already runs here; command left for later"
            );
            self.skip.insert(cmd.id);
            return Ok(true);
        }
        let Some(definition) = self
            .store
            .find_process_definition(p.process_definition_code, p.process_definition_version)
            .await?
        else {
            self.store
                .move_to_error_command(&cmd, "process instance is null")
                .await?;
            return Ok(true);
        };
        let mut params = match construct::parse_command_param(cmd.command_param.as_deref()) {
            Ok(m) => m,
            Err(e) => {
                self.store
                    .move_to_error_command(&cmd, &e.to_string())
                    .await?;
                return Ok(true);
            }
        };
        let now = self.store.clock().now();
        // master-lifecycle §3.3 step 1: a command with parameters re-cures the instance's
        // globals from the definition, as COMPLEMENT_DATA for a complement instance; only a
        // rerun applies the command's start-up and father params. Before the merge below,
        // with the instance's schedule time before the command's replaces it.
        if cmd
            .command_param
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty())
        {
            let complement = complement::is_complement(p.history_cmd.as_deref());
            let cmd_type = if complement {
                CommandType::COMPLEMENT_DATA
            } else {
                cmd.command_type
            };
            let overrides = if cmd_type == CommandType::REPEAT_RUNNING {
                construct::start_overrides(&params)
            } else {
                HashMap::new()
            };
            match construct::cure_global_params(
                definition.global_params.as_deref(),
                &overrides,
                cmd_type,
                p.schedule_time,
                now,
                self.features.jvm_zone,
            ) {
                // A NULL result is not written (upstream's update skips nulls).
                Ok(Some(cured)) => p.global_params = Some(cured),
                Ok(None) => {}
                Err(e) => {
                    warn!(command_id = cmd.id, process_instance_id = p.id, error = %e, "global parameters cannot be cured");
                    self.store
                        .move_to_error_command(&cmd, &e.to_string())
                        .await?;
                    return Ok(true);
                }
            }
        }
        if let Ok(stored) = construct::parse_command_param(p.command_param.as_deref()) {
            for (k, v) in stored {
                params.entry(k).or_insert(v);
            }
        }
        let mut resets = Vec::new();
        let valid = self.store.find_valid_task_instances(p.id).await?;
        // Upstream re-serialises its `Map<String, String>` in insertion order: the command's
        // keys, then the instance's missing ones, `StartNodeIdList` (re-put) last.
        let keys = |raw: Option<&str>| -> Vec<String> {
            raw.and_then(|t| {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(t).ok()
            })
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
        };
        let mut order = keys(cmd.command_param.as_deref());
        for k in keys(p.command_param.as_deref()) {
            if !order.contains(&k) {
                order.push(k);
            }
        }
        let write_params = |params: &HashMap<String, String>| {
            let last = "StartNodeIdList";
            let mut map = serde_json::Map::new();
            for k in order.iter().filter(|k| k.as_str() != last) {
                if let Some(v) = params.get(k) {
                    map.insert(k.clone(), serde_json::Value::String(v.clone()));
                }
            }
            let mut rest: Vec<(&String, &String)> = params
                .iter()
                .filter(|(k, _)| k.as_str() != last && !order.contains(k))
                .collect();
            rest.sort();
            for (k, v) in rest {
                map.insert(k.clone(), serde_json::Value::String(v.clone()));
            }
            if let Some(v) = params.get(last) {
                map.insert(last.to_string(), serde_json::Value::String(v.clone()));
            }
            serde_json::Value::Object(map).to_string()
        };
        let link = subprocess::sub_link(cmd.command_param.as_deref());
        if link.is_some() {
            // A sub-process command for an existing child: the child keeps the command's
            // parameters and (2.0.3+) the parent's globals first.
            p.command_param = cmd.command_param.clone();
            if let Some(parent_id) = link.as_ref().and_then(|l| l.parent_instance_id) {
                if let Some(parent) = self.store.find_process_instance(parent_id).await? {
                    p.global_params = Some(subprocess::join_global_params(
                        parent.global_params.as_deref(),
                        p.global_params.as_deref(),
                    ));
                }
            }
        }
        match cmd.command_type {
            CommandType::RECOVER_TOLERANCE_FAULT_PROCESS => {
                p.recovery = Some(crate::model::Flag::YES);
            }
            CommandType::COMPLEMENT_DATA => {
                // Only when a complement command names an existing instance: its valid rows
                // become history.
                resets.extend(
                    valid
                        .iter()
                        .map(|t| crate::store::TaskReset::Invalidate(t.id)),
                );
                p.state = Some(ExecutionStatus::RUNNING_EXECUTION);
            }
            CommandType::RECOVER_WAITING_THREAD
            | CommandType::START_PROCESS
            | CommandType::START_CURRENT_TASK_PROCESS
            | CommandType::SCHEDULER => {
                // Upstream's default branch: the named instance runs again as it is.
                p.state = Some(ExecutionStatus::RUNNING_EXECUTION);
            }
            CommandType::RECOVER_SUSPENDED_PROCESS | CommandType::START_FAILURE_TASK_PROCESS => {
                let wanted: &[ExecutionStatus] =
                    if cmd.command_type == CommandType::RECOVER_SUSPENDED_PROCESS {
                        &[ExecutionStatus::PAUSE, ExecutionStatus::KILL]
                    } else {
                        &[
                            ExecutionStatus::FAILURE,
                            ExecutionStatus::KILL,
                            ExecutionStatus::NEED_FAULT_TOLERANCE,
                        ]
                    };
                let mut ids = Vec::new();
                for state in wanted {
                    for t in valid.iter().filter(|t| t.state == Some(*state)) {
                        ids.push(t.id.to_string());
                        let sub = t.task_type.eq_ignore_ascii_case("SUB_PROCESS");
                        let s = t.state.unwrap_or(ExecutionStatus::SUBMITTED_SUCCESS);
                        resets.push(if !sub && (s.is_cancel() || s.is_failure()) {
                            crate::store::TaskReset::Invalidate(t.id)
                        } else {
                            crate::store::TaskReset::Resubmit(t.id)
                        });
                    }
                }
                params.remove("StartNodeIdList");
                params.insert("StartNodeIdList".into(), ids.join(","));
                p.command_param = Some(write_params(&params));
                p.run_times += 1;
                p.state = Some(ExecutionStatus::RUNNING_EXECUTION);
            }
            _ => {
                // REPEAT_RUNNING: every valid row becomes history; the run starts over.
                resets.extend(
                    valid
                        .iter()
                        .map(|t| crate::store::TaskReset::Invalidate(t.id)),
                );
                if params.remove("StartNodeIdList").is_some() {
                    p.command_param = Some(write_params(&params));
                }
                p.start_time = Some(now);
                p.run_times += 1;
                p.state = Some(ExecutionStatus::RUNNING_EXECUTION);
            }
        }
        p.host = Some(self.host.clone());
        p.restart_time = Some(now);
        p.command_type = Some(cmd.command_type);
        p.history_cmd = Some(match p.history_cmd.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => format!("{h},{}", cmd.command_type.name()),
            None => cmd.command_type.name().to_string(),
        });
        if let Some(t) = cmd.schedule_time {
            p.schedule_time = Some(t);
        }
        let taken = match self.store.recover_instance(cmd.id, &p, &resets).await {
            Ok(taken) => taken,
            Err(e) if e.is_ownership() => return Err(e),
            Err(e) => {
                // A lost connection may hide a successful commit: the command gone and the
                // instance naming us means we took it.
                let taken = matches!(self.store.command_exists(cmd.id).await, Ok(false))
                    && matches!(
                        self.store.find_process_instance(p.id).await,
                        Ok(Some(ref row)) if row.host.as_deref() == Some(self.host.as_str())
                    );
                if !taken {
                    return Err(e);
                }
                warn!(command_id = cmd.id, process_instance_id = p.id, error = %e, "commit reported failed but had succeeded; the instance resumes");
                true
            }
        };
        if !taken {
            info!(command_id = cmd.id, "another master took the command first");
            return Ok(true);
        }
        if let Some(mut map) = link.as_ref().and_then(|l| l.map) {
            map.process_instance_id = p.id;
            self.store.update_process_instance_map(&map).await?;
        }
        info!(command_id = cmd.id, process_instance_id = p.id, command_type = %cmd.command_type, "instance taken over");
        self.command_taken(&cmd);
        workflow::Workflow::spawn(self.runtime(), p, definition, true);
        self.wake_parent(&link);
        Ok(true)
    }

    /// A sub-process command that creates its child (upstream `handleCommand` +
    /// `setSubProcessParam`): the child is a sub-process with the parent's globals first, its
    /// `command_param` gets its own id, and the relation row points at it, in the transaction
    /// that takes the command.
    async fn start_child(&mut self, child: ChildStart) -> crate::store::Result<bool> {
        let ChildStart {
            cmd,
            mut instance,
            definition,
            link,
        } = child;
        let cmd = &cmd;
        instance.is_sub_process = Some(if link.fills_child_id {
            crate::model::Flag::YES
        } else {
            crate::model::Flag::NO
        });
        if let Some(parent_id) = link.parent_instance_id {
            match self.store.find_process_instance(parent_id).await? {
                Some(parent) => {
                    instance.global_params = Some(subprocess::join_global_params(
                        parent.global_params.as_deref(),
                        instance.global_params.as_deref(),
                    ));
                }
                None => warn!(
                    command_id = cmd.id,
                    parent_id, "sub-process command names a parent that does not exist"
                ),
            }
        }
        let raw = cmd.command_param.clone();
        let fills = link.fills_child_id;
        let started = self
            .store
            .start_sub_instance(
                cmd.id,
                instance,
                |id| fills.then(|| subprocess::child_param_with_id(raw.as_deref(), id)),
                link.map,
            )
            .await?;
        let Some(instance) = started else {
            info!(command_id = cmd.id, "another master took the command first");
            return Ok(true);
        };
        info!(
            command_id = cmd.id,
            process_instance_id = instance.id,
            parent = ?link.parent_instance_id,
            "sub-process instance started"
        );
        self.command_taken(cmd);
        workflow::Workflow::spawn(self.runtime(), instance, definition, false);
        self.wake_parent(&Some(link));
        Ok(true)
    }

    /// Counts a taken command and how long it waited (its `update_time` is the API server's
    /// insert time; DATETIME keeps whole seconds on MySQL).
    fn command_taken(&self, cmd: &crate::store::CommandRow) {
        metrics::counter!(crate::metrics::COMMANDS_TAKEN).increment(1);
        if let Some(at) = cmd.update_time {
            let waited = (self.store.clock().now() - at).to_std().unwrap_or_default();
            crate::metrics::observe(crate::metrics::COMMAND_PICKUP, waited);
        }
    }

    fn runtime(&self) -> workflow::Runtime {
        workflow::Runtime {
            store: self.store.clone(),
            dispatcher: self.dispatcher.clone(),
            instances: self.instances.clone(),
            host: self.host.clone(),
            features: self.features,
            workers: self.workers.clone(),
        }
    }

    /// After a failed commit of a new instance: the command gone and an instance of ours
    /// with the name we built means the commit went through.
    async fn read_back_new(&self, command_id: i32, name: &str) -> Option<ProcessInstance> {
        if name.is_empty() || !matches!(self.store.command_exists(command_id).await, Ok(false)) {
            return None;
        }
        self.store
            .find_instance_by_name(name, &self.host)
            .await
            .ok()
            .flatten()
            .filter(|p| !self.instances.contains(p.id))
    }

    /// Instances naming us as host, not final, with no actor here (two passes in a row) are
    /// handed over through the failover path (`host = 'NULL'` plus a recovery command, tasks
    /// on vanished workers marked for fault tolerance); intake then takes them back like any
    /// recovery command. Runs inside intake, so it never races a start.
    async fn sweep_orphans(&mut self) -> crate::store::Result<()> {
        let unfinished = self.store.unfinished_instances_of(&self.host).await?;
        let ids: Vec<i32> = unfinished.iter().map(|p| p.id).collect();
        let due = orphans_due(
            &ids,
            |id| self.instances.contains(id),
            &mut self.orphans.suspects,
        );
        if due.is_empty() {
            return Ok(());
        }
        let workers = crate::failover::startups_of(&self.workers.borrow());
        for p in unfinished.iter().filter(|p| due.contains(&p.id)) {
            match crate::failover::hand_over(&self.store, &workers, p, &self.host).await {
                Ok(true) => warn!(
                    process_instance_id = p.id,
                    "instance of ours without an actor handed over for recovery"
                ),
                Ok(false) => {}
                Err(e) => warn!(process_instance_id = p.id, error = %e, "orphan hand-over failed"),
            }
        }
        Ok(())
    }

    /// When the parent of a child we just started runs here, its SUB_PROCESS task learns at
    /// once that the child exists (a parent on another master polls or is told at the end).
    fn wake_parent(&self, link: &Option<subprocess::SubLink>) {
        let Some(map) = link.as_ref().and_then(|l| l.map) else {
            return;
        };
        if let Some(tx) = self.instances.get(map.parent_process_instance_id) {
            let task = map.parent_task_instance_id;
            tokio::spawn(async move {
                let _ = tx.send(Event::TaskStateChange(task)).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: Option<Event>) -> i32 {
        match e {
            Some(Event::TaskStateChange(n)) => n,
            _ => -1,
        }
    }

    #[tokio::test]
    async fn a_busy_workflow_does_not_stall_the_others_and_keeps_its_order() {
        let mut overflow = Overflow::default();
        let (busy_tx, mut busy_rx) = mpsc::channel(1);
        let (idle_tx, mut idle_rx) = mpsc::channel(4);
        // Nobody reads the busy actor's channel yet: five frames, one fits.
        for n in 0..5 {
            overflow.deliver(1, &busy_tx, Event::TaskStateChange(n));
        }
        overflow.deliver(2, &idle_tx, Event::TaskStateChange(100));
        assert_eq!(code(idle_rx.try_recv().ok()), 100, "delivered at once");
        // Later frames of the busy instance queue behind the earlier ones.
        overflow.deliver(1, &busy_tx, Event::TaskStateChange(5));
        for n in 0..6 {
            assert_eq!(code(busy_rx.recv().await), n, "arrival order kept");
        }
        // The actor ends: its forwarder goes, frames for it are dropped, others unaffected.
        drop(busy_rx);
        tokio::task::yield_now().await;
        overflow.deliver(1, &busy_tx, Event::TaskStateChange(6));
        overflow.deliver(2, &idle_tx, Event::TaskStateChange(101));
        assert_eq!(code(idle_rx.recv().await), 101);
    }

    #[test]
    fn an_orphan_is_handed_over_on_the_second_pass_only() {
        let mut suspects = HashSet::new();
        let running = |id: i32| id == 2;
        assert!(orphans_due(&[1, 2, 3], running, &mut suspects).is_empty());
        assert_eq!(suspects, HashSet::from([1, 3]));
        // 3 finished (or got an actor) in between: only 1 is due; 4 becomes a suspect.
        assert_eq!(orphans_due(&[1, 2, 4], running, &mut suspects), vec![1]);
        assert_eq!(suspects, HashSet::from([4]));
        assert_eq!(orphans_due(&[4], |_| false, &mut suspects), vec![4]);
        assert!(suspects.is_empty());
    }
}
