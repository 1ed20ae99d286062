//! One actor per workflow instance: everything about the instance (worker acks and results,
//! dispatch notices, API state events) arrives on its single channel, so ordering is never a
//! question. The actor keeps the instance, its DAG and its task instances in memory and writes
//! the database only where the API server or a restarted master must see it; it answers a
//! worker only after the row it reported is durable.

use super::construct;
use super::dag::WorkflowDag;
use super::{Error, Instances};
use crate::dispatch::{DispatchItem, Dispatched, Dispatcher};
use crate::model::{ExecutionStatus, FailureStrategy, Priority};
use crate::protocol::{
    Command, DbTaskAckCommand, DbTaskResponseCommand, Link, TaskExecuteAckCommand,
    TaskExecuteResponseCommand, TaskExecutionContext,
};
use crate::store::{
    AckWrite, ProcessDefinition, ProcessInstance, ResultWrite, Store, TaskInstance, TenantQueue,
};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn, Instrument};

/// Everything the actor reacts to.
pub enum Event {
    Ack {
        ack: TaskExecuteAckCommand,
        link: Link,
    },
    Result {
        result: TaskExecuteResponseCommand,
        link: Link,
    },
    Dispatched(Dispatched),
    /// STATE_EVENT_REQUEST for the instance itself (API stop/pause): re-read the row.
    ProcessStateChange,
    /// TASK_KILL_RESPONSE from the worker that ran the task.
    KillResponse {
        response: crate::protocol::TaskKillResponseCommand,
        link: Link,
    },
    /// The retry interval of a failed task (by its failed row's id) has passed.
    RetryDue(i32),
    /// A task taken over while it was dispatched but not yet acknowledged has had
    /// [`REBIND_CONFIRM_WAIT`] to report from its worker.
    RebindCheck(i32),
    /// The link to this worker (`ip:port`) was lost and dialed again.
    WorkerReconnected(String),
    /// This worker's registry node disappeared.
    WorkerLost(String),
    /// Write a dispatch (host, submit_time) that no ACK has carried yet.
    FlushDispatch(i32),
    /// The instance's `timeout` minutes have passed since its start.
    ProcessTimeout,
    /// A task's definition timeout has passed since it started (WARN / WARNFAILED alert).
    TaskTimeout(i32),
    /// TASK_STATE_CHANGE for one of our task instances: a SUB_PROCESS child was created or
    /// finished (from this master or, as STATE_EVENT_REQUEST, from another one).
    TaskStateChange(i32),
    /// The slow safety poll of a SUB_PROCESS task (covers a lost child notification).
    SubProcessPoll(i32),
    /// The re-check deadline of waiting DEPENDENT tasks.
    DependentTimer,
    /// Another workflow on this master ended: waiting DEPENDENT tasks may be decided now.
    DependencyEnded,
}

/// How long a task taken over dispatched but unacknowledged may stay silent before it is run
/// again: three of a 2.0.5 worker's default resend periods
/// (`worker.retry.report.task.statues.interval`, 10 s).
pub(crate) const REBIND_CONFIRM_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a task taken over queued, with no worker in its row, waits for a worker to claim
/// it before it is dispatched: one 2.0.5 worker resend period (10 s) and a margin. A Java
/// master records the worker only when the ACK comes back, so a row it had sent but whose
/// ACK it never wrote looks exactly like a row still in its queue.
pub(crate) const UNRECORDED_CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(12);

/// What becomes of a task taken over without proof that a worker has it, if none reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unreported {
    /// Rebound to the worker its row names: run it again (NEED_FAULT_TOLERANCE, new row).
    RunAgain,
    /// Asked every worker of its group: it was never sent, so dispatch this row.
    Dispatch,
}

/// What every workflow actor shares with the rest of the master.
#[derive(Clone)]
pub(crate) struct Runtime {
    pub store: Store,
    pub dispatcher: Dispatcher,
    pub instances: Instances,
    /// Our `ip:port`.
    pub host: String,
    pub features: Features,
    /// Live workers (heartbeat startup times decide whether a dispatched task still runs).
    pub workers: tokio::sync::watch::Receiver<crate::registry::WorkerMap>,
}

/// Behaviour that depends on the cluster's release (read once from `t_ds_version`) and on
/// the Java processes' surroundings.
#[derive(Debug, Clone, Copy)]
pub struct Features {
    pub last24: super::dependent::Last24Hours,
    /// Complement date-list rules of the release.
    pub complement: crate::schedule::complement::Rules,
    /// The zone the Java processes run in (`dsmaster.jvm.timezone`): complement dates are
    /// cron times in it, as upstream evaluates them in the JVM default zone.
    pub jvm_zone: crate::schedule::calendar::JavaZone,
}

impl Default for Features {
    /// 2.0.5's rules in UTC.
    fn default() -> Self {
        Features {
            last24: super::dependent::Last24Hours::default(),
            complement: crate::schedule::complement::Rules::for_release("2.0.5"),
            jvm_zone: crate::schedule::calendar::JavaZone::resolve("UTC"),
        }
    }
}

/// How often a waiting DEPENDENT task reads its dependencies again (they may run on another
/// master, which tells nobody). Upstream polls every state-wheel tick (5 s); this is a
/// deadline armed only while some dependent task of the instance waits.
const DEPENDENT_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Safety poll of a SUB_PROCESS task whose child's end notification might have been lost
/// (fire-and-forget frames between masters); the notification is the normal path.
const SUB_PROCESS_POLL: std::time::Duration = std::time::Duration::from_secs(30);

/// A SUB_PROCESS task in flight.
#[derive(Debug, Clone, Default)]
struct SubRun {
    /// READY_STOP was sent to the child.
    stop_sent: bool,
}

/// How long a dispatch write may wait for the task's ACK to carry it (one UPDATE instead of
/// two per task); the UI sees the worker's host at most this late.
const DISPATCH_WRITE_DELAY: std::time::Duration = std::time::Duration::from_millis(300);

/// How long an actor retries the write of its instance's end before it gives the instance
/// up (to the orphan sweep, which takes it back through the recovery path).
const FINISH_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Worker acknowledgement status codes carried in DB_TASK_ACK / DB_TASK_RESPONSE.
const REPLY_SUCCESS: i32 = ExecutionStatus::SUCCESS as i32;
const REPLY_FAILURE: i32 = ExecutionStatus::FAILURE as i32;

pub(crate) struct Workflow {
    store: Store,
    /// Our `ip:port` (PROCESS_HOST_UPDATE names it).
    host: String,
    /// Rebuilt from rows (recovery, failover) rather than freshly created.
    resumed: bool,
    dispatcher: Dispatcher,
    instances: Instances,
    instance: ProcessInstance,
    definition: ProcessDefinition,
    dag: WorkflowDag,
    /// Task instances of this run by id (valid rows only).
    tasks: HashMap<i32, TaskInstance>,
    /// Valid task instance id per task code.
    by_code: HashMap<i64, i32>,
    complete: HashSet<i64>,
    failed: HashSet<i64>,
    active: HashSet<i32>,
    /// Failed task rows waiting for their retry deadline (they keep the instance running).
    retrying: HashSet<i32>,
    /// Tasks taken over without an acknowledgement, until a worker reports.
    unconfirmed: HashMap<i32, Unreported>,
    /// Nodes a CONDITIONS outcome rules out (never get task instances, never fail).
    skipped: HashSet<i64>,
    /// Dispatched tasks whose host and submit_time are in memory but not yet in the row.
    unwritten_dispatch: HashSet<i32>,
    /// When the result being handled reached this actor (a hop's start), while it is handled.
    result_at: Option<tokio::time::Instant>,
    /// Tasks submitted by a result, with that hop's start, until their dispatch notice.
    hop_started: HashMap<i32, tokio::time::Instant>,
    tenant: Option<Option<TenantQueue>>,
    /// Tasks that ended inside the master and still need `task_finished` (kept as a queue so
    /// finishing a task never recurses into submitting its successors).
    pending: Vec<i32>,
    tx: mpsc::Sender<Event>,
    features: Features,
    /// Running SUB_PROCESS tasks by task instance id.
    subs: HashMap<i32, SubRun>,
    /// Waiting DEPENDENT tasks by task instance id.
    dependents: HashMap<i32, super::dependent::DependentRun>,
    dependent_timer_armed: bool,
    /// The complement date list of a complement instance (empty otherwise).
    complement_dates: Vec<chrono::NaiveDateTime>,
    workers: tokio::sync::watch::Receiver<crate::registry::WorkerMap>,
    /// Set when this master may no longer act for the instance (the fence refused, or the
    /// row names another owner): the actor stops without another write.
    abandoned: bool,
}

impl Workflow {
    /// Spawns the actor for a freshly started instance and registers it in the exec map.
    pub(crate) fn spawn(
        rt: Runtime,
        instance: ProcessInstance,
        definition: ProcessDefinition,
        resumed: bool,
    ) {
        let Runtime {
            store,
            dispatcher,
            instances,
            host,
            features,
            workers,
        } = rt;
        let (tx, rx) = mpsc::channel(1024);
        instances.register(instance.id, tx.clone());
        let span = tracing::info_span!("workflow", process_instance_id = instance.id);
        metrics::counter!(crate::metrics::WORKFLOWS_STARTED).increment(1);
        let wf = Workflow {
            store,
            host,
            resumed,
            dispatcher,
            instances,
            instance,
            definition,
            dag: WorkflowDag::default(),
            tasks: HashMap::new(),
            by_code: HashMap::new(),
            complete: HashSet::new(),
            failed: HashSet::new(),
            active: HashSet::new(),
            retrying: HashSet::new(),
            unconfirmed: HashMap::new(),
            skipped: HashSet::new(),
            unwritten_dispatch: HashSet::new(),
            result_at: None,
            hop_started: HashMap::new(),
            tenant: None,
            pending: Vec::new(),
            tx,
            features,
            subs: HashMap::new(),
            dependents: HashMap::new(),
            dependent_timer_armed: false,
            complement_dates: Vec::new(),
            workers,
            abandoned: false,
        };
        tokio::spawn(wf.run(rx).instrument(span));
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Event>) {
        let id = self.instance.id;
        if let Err(e) = self.start().await {
            self.check_ownership();
            if !self.abandoned {
                error!(error = %e, "workflow could not start; the instance fails");
                self.finish(ExecutionStatus::FAILURE).await;
            }
        }
        while !self.is_finished() && !self.abandoned {
            let Some(event) = rx.recv().await else { break };
            if let Err(e) = self.handle(event).await {
                error!(error = %e, "event handling failed");
            }
            self.check_ownership();
        }
        if self.abandoned {
            for task in &self.active {
                self.dispatcher.cancel(*task);
            }
            warn!("workflow actor stops without writing: this master no longer owns the instance");
        }
        self.instances.remove(id);
        debug!("workflow actor ended");
    }

    /// Stops acting for the instance once the store refuses our writes for good.
    fn check_ownership(&mut self) {
        if !self.abandoned && self.store.fence_lost() {
            self.abandoned = true;
        }
    }

    /// Records a failed write: an ownership refusal ends the actor.
    fn note(&mut self, e: &crate::store::Error) {
        if e.is_ownership() {
            self.abandoned = true;
        }
    }

    fn is_finished(&self) -> bool {
        self.instance
            .state
            .map(|s| s.is_finished())
            .unwrap_or(false)
    }

    async fn start(&mut self) -> Result<(), Error> {
        let dag = self
            .store
            .load_dag(self.definition.code, self.definition.version)
            .await?;
        let params = construct::parse_command_param(self.instance.command_param.as_deref())?;
        let depend = self
            .instance
            .task_depend_type
            .unwrap_or(crate::model::TaskDependType::TASK_POST);
        let recovery_codes = if self.resumed {
            self.recovery_codes(&params).await?
        } else {
            Vec::new()
        };
        self.dag = WorkflowDag::build(
            &dag,
            &construct::start_codes(&params),
            &recovery_codes,
            depend,
        )?;
        info!(
            name = ?self.instance.name,
            tasks = self.dag.nodes.len(),
            resumed = self.resumed,
            "workflow started"
        );
        self.init_complement().await?;
        if self.resumed {
            self.load_task_instances().await?;
        }
        self.arm_process_timeout();
        self.submit_post_nodes(None).await;
        self.settle().await;
        Ok(())
    }

    /// Runs `task_finished` for tasks the master ended itself, then recomputes the state.
    async fn settle(&mut self) {
        while let Some(id) = self.pending.pop() {
            self.task_finished(id).await;
        }
        self.update_state().await;
    }

    async fn handle(&mut self, event: Event) -> Result<(), Error> {
        let outcome = match event {
            Event::Dispatched(d) => self.on_dispatched(d).await,
            Event::Ack { ack, link } => self.on_ack(ack, link).await,
            Event::Result { result, link } => self.on_result(result, link).await,
            Event::ProcessStateChange => self.on_process_state_change().await,
            Event::KillResponse { response, link } => self.on_kill_response(response, link).await,
            Event::RetryDue(id) => self.on_retry_due(id).await,
            Event::RebindCheck(id) => self.on_rebind_check(id).await,
            Event::WorkerReconnected(host) => {
                self.rebind_tasks_on(&host).await;
                Ok(())
            }
            Event::FlushDispatch(id) => self.flush_dispatch(id).await,
            Event::ProcessTimeout => self.on_process_timeout().await,
            Event::TaskTimeout(id) => self.on_task_timeout(id).await,
            Event::WorkerLost(host) => {
                self.fail_over_tasks_on(&host).await;
                Ok(())
            }
            Event::TaskStateChange(id) => {
                if self.subs.contains_key(&id) {
                    self.poll_sub_process(id).await;
                } else if self.dependents.contains_key(&id) {
                    self.evaluate_dependents().await;
                }
                Ok(())
            }
            Event::SubProcessPoll(id) => {
                if self.subs.contains_key(&id) {
                    self.poll_sub_process(id).await;
                    if self.subs.contains_key(&id) {
                        self.arm_sub_process_poll(id);
                    }
                }
                Ok(())
            }
            Event::DependentTimer => {
                self.dependent_timer_armed = false;
                self.evaluate_dependents().await;
                Ok(())
            }
            Event::DependencyEnded => {
                if !self.dependents.is_empty() {
                    self.evaluate_dependents().await;
                }
                Ok(())
            }
        };
        self.settle().await;
        // A hop is measured from the result that opened it to the dispatch of what it
        // released; the successors were submitted while settling.
        self.result_at = None;
        outcome
    }

    /// Creates and submits the task instances that may start after `pre` completed.
    async fn submit_post_nodes(&mut self, pre: Option<i64>) {
        let branch = pre.and_then(|code| {
            self.conditions_branch(code)
                .or_else(|| self.switch_branch(code))
        });
        let mut runnable =
            self.dag
                .runnable_after(pre, &self.complete, &mut self.skipped, branch.as_ref());
        // Upstream queues tasks that become runnable together by task priority (HIGHEST
        // first) and submits from the head, which decides their ids and dispatch order.
        runnable.sort_by_key(|code| {
            self.dag
                .nodes
                .get(code)
                .map(|n| n.definition.task_priority.code())
                .unwrap_or(crate::model::Priority::MEDIUM.code())
        });
        for code in runnable {
            if self.by_code.contains_key(&code) {
                continue;
            }
            if let Err(e) = self.submit_task(code).await {
                error!(task_code = code, error = %e, "task could not be submitted");
                self.failed.insert(code);
            }
        }
    }

    async fn submit_task(&mut self, code: i64) -> Result<(), Error> {
        let Some(node) = self.dag.nodes.get(&code).map(|n| n.definition.clone()) else {
            return Err(Error::NoDefinition(code));
        };
        let env_code = node.environment_code;
        let env = if env_code >= 0 {
            self.store.environment_config(env_code).await?
        } else {
            None
        };
        let mut task = construct::new_task_instance(&node, &self.instance, env);
        task.var_pool = self.pre_var_pool(code);
        self.insert_and_dispatch(task).await
    }

    /// Inserts a new task row (state decided by the instance's state, as upstream's
    /// `getSubmitTaskState`) and hands it to dispatch.
    async fn insert_and_dispatch(&mut self, mut task: TaskInstance) -> Result<(), Error> {
        let code = task.task_code;
        let instance_state = self
            .instance
            .state
            .unwrap_or(ExecutionStatus::RUNNING_EXECUTION);
        // Upstream's `checkProcessStrategy`: under failure strategy END, a task created while
        // a valid row of the instance has failed for good is created KILL (this happens when
        // a CONDITIONS node follows the failed task, so the instance did not end).
        let ended_by_failure = self.instance.failure_strategy == Some(FailureStrategy::END)
            && self.tasks.values().any(|t| {
                t.flag != Some(crate::model::Flag::NO)
                    && t.state == Some(ExecutionStatus::FAILURE)
                    && t.retry_times >= t.max_retry_times
            });
        task.state = Some(match instance_state {
            ExecutionStatus::READY_PAUSE => ExecutionStatus::PAUSE,
            ExecutionStatus::READY_STOP => ExecutionStatus::KILL,
            _ if ended_by_failure => ExecutionStatus::KILL,
            _ => ExecutionStatus::SUBMITTED_SUCCESS,
        });
        let id = match self.store.insert_task_instance(&task).await {
            Ok(id) => id,
            Err(e) => {
                self.note(&e);
                return Err(e.into());
            }
        };
        task.id = id;
        self.by_code.insert(code, id);
        let state = task.state.unwrap_or(ExecutionStatus::SUBMITTED_SUCCESS);
        info!(task_instance_id = id, task = ?task.name, state = %state, "task instance submitted");
        self.tasks.insert(id, task);
        // Created paused or killed: a worker task completes at once and its successors never
        // run. CONDITIONS, SWITCH and DEPENDENT run all the same: upstream's processors set
        // them RUNNING_EXECUTION on submit whatever state the row was created with.
        let runs_anyway = ["CONDITIONS", "SWITCH", "DEPENDENT"]
            .iter()
            .any(|t| self.tasks[&id].task_type.eq_ignore_ascii_case(t));
        if state.is_finished() && !runs_anyway {
            self.complete.insert(code);
            return Ok(());
        }
        self.dispatch_task(id).await
    }

    /// Hands an existing, not yet finished task row to dispatch (or ends it here when it
    /// cannot run on a worker).
    async fn dispatch_task(&mut self, id: i32) -> Result<(), Error> {
        let Some(task) = self.tasks.get(&id).cloned() else {
            return Err(Error::NotLoaded(id));
        };
        let Some(node) = self
            .dag
            .nodes
            .get(&task.task_code)
            .map(|n| n.definition.clone())
        else {
            return Err(Error::NoDefinition(task.task_code));
        };
        if task.task_type.eq_ignore_ascii_case("CONDITIONS") {
            self.run_conditions(id, &node).await;
            return Ok(());
        }
        if task.task_type.eq_ignore_ascii_case("SWITCH") {
            self.run_switch(id, &node).await;
            return Ok(());
        }
        if task.task_type.eq_ignore_ascii_case("SUB_PROCESS") {
            self.start_sub_process(id, &node).await;
            return Ok(());
        }
        if task.task_type.eq_ignore_ascii_case("DEPENDENT") {
            self.start_dependent(id, &node).await;
            return Ok(());
        }
        if crate::model::is_master_side_task(&task.task_type) {
            warn!(task_type = %task.task_type, "unknown logic task type; the task fails");
            self.finish_task_locally(id, ExecutionStatus::FAILURE).await;
            return Ok(());
        }
        let Some(tenant) = self.tenant().await? else {
            warn!(
                task_instance_id = id,
                "no tenant resolves for this workflow; the task fails"
            );
            self.finish_task_locally(id, ExecutionStatus::FAILURE).await;
            return Ok(());
        };
        let context = self.context(&task, &node, &tenant);
        self.active.insert(id);
        if let Some(at) = self.result_at {
            self.hop_started.insert(id, at);
        }
        let tx = self.tx.clone();
        self.dispatcher.submit(DispatchItem {
            process_instance_priority: self
                .instance
                .process_instance_priority
                .unwrap_or(Priority::MEDIUM)
                .code(),
            process_instance_id: self.instance.id,
            task_instance_id: id,
            worker_group: task
                .worker_group
                .clone()
                .unwrap_or_else(|| "default".into()),
            context,
            notify: Arc::new(move |d| match tx.try_send(Event::Dispatched(d)) {
                Ok(()) => {}
                // Never dropped: the notice waits for room (the dispatcher does not).
                Err(mpsc::error::TrySendError::Full(event)) => {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(event).await;
                    });
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    debug!("workflow ended before its dispatch notice")
                }
            }),
        });
        Ok(())
    }

    /// Task codes of the `StartNodeIdList` task instance ids (recover suspended / failed).
    async fn recovery_codes(&self, params: &HashMap<String, String>) -> Result<Vec<i64>, Error> {
        let Some(ids) = params.get("StartNodeIdList") else {
            return Ok(Vec::new());
        };
        let ids: Vec<i32> = ids
            .split(',')
            .filter_map(|x| x.trim().parse().ok())
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let all = self.store.find_all_task_instances(self.instance.id).await?;
        Ok(all
            .iter()
            .filter(|t| ids.contains(&t.id))
            .map(|t| t.task_code)
            .collect())
    }

    /// Rebuilds memory from the valid task rows (upstream `initTaskQueue` + the recovery
    /// rules of master-lifecycle 6.6): finished rows seed the complete and error sets;
    /// running rows on a worker get PROCESS_HOST_UPDATE so their results come to us;
    /// queued rows are dispatched again; fault-tolerance rows are replaced by new rows.
    async fn load_task_instances(&mut self) -> Result<(), Error> {
        let mut rows = self
            .store
            .find_valid_task_instances(self.instance.id)
            .await?;
        // Upstream lists newest start first and lets the last one win per code.
        rows.reverse();
        let mut redispatch = Vec::new();
        let mut replace = Vec::new();
        for t in rows {
            if !self.dag.contains(t.task_code) {
                continue;
            }
            let state = t.state.unwrap_or(ExecutionStatus::SUBMITTED_SUCCESS);
            self.by_code.insert(t.task_code, t.id);
            match state {
                ExecutionStatus::NEED_FAULT_TOLERANCE => replace.push(t.id),
                s if s.is_finished() => {
                    self.complete.insert(t.task_code);
                    if s.is_failure() {
                        self.failed.insert(t.task_code);
                    }
                }
                // Logic tasks (DEPENDENT carries the master's address) run here again.
                ExecutionStatus::RUNNING_EXECUTION | ExecutionStatus::DELAY_EXECUTION
                    if t.host.as_deref().is_some_and(|h| !h.is_empty())
                        && !crate::model::is_master_side_task(&t.task_type) =>
                {
                    self.rebind_on_resume(&t).await;
                }
                // Dispatched by the previous owner (the row names the worker, written before
                // the request went out) to a worker that has run since before: the worker has
                // it, so it is rebound, never sent a second time.
                ExecutionStatus::SUBMITTED_SUCCESS if self.dispatched_to_live_worker(&t) => {
                    info!(task_instance_id = t.id, host = ?t.host, "task dispatched by the previous owner; rebinding instead of dispatching again");
                    self.rebind_on_resume(&t).await;
                    self.expect_report(t.id, Unreported::RunAgain, REBIND_CONFIRM_WAIT);
                }
                // Queued by the previous owner with no worker recorded: a Java master writes
                // the worker only with its ACK, so it may have sent the task all the same.
                // Every live worker of the group is pointed here; one that has the task resends
                // its ACK within a resend period, else the row is dispatched.
                ExecutionStatus::SUBMITTED_SUCCESS if self.maybe_sent_unrecorded(&t) => {
                    info!(task_instance_id = t.id, "task queued by the previous owner without a worker; asking the workers before dispatching it");
                    self.ask_workers(&t).await;
                    self.expect_report(t.id, Unreported::Dispatch, UNRECORDED_CLAIM_WAIT);
                }
                _ => redispatch.push(t.id),
            }
            self.tasks.insert(t.id, t);
        }
        for id in redispatch {
            self.mark_first_submit(id).await;
            self.dispatch_task(id).await?;
        }
        for id in replace {
            self.next_attempt(id).await?;
        }
        Ok(())
    }

    /// A row submitted again in place (recovery): upstream's `submitTaskInstanceToDB` gives
    /// it its earlier submit time as first submit time when it has none yet.
    async fn mark_first_submit(&mut self, id: i32) {
        let Some(t) = self.tasks.get(&id) else { return };
        let (None, Some(_), Some(state)) = (t.first_submit_time, t.submit_time, t.state) else {
            return;
        };
        if let Err(e) = self.rewrite_in_place(id, state).await {
            warn!(task_instance_id = id, error = %e, "could not record the task's first submit time");
        }
    }

    /// A failed-over instance's task row that names a worker, with a submit time after that
    /// worker's registry startup (upstream's rule for tasks that need no failover).
    fn dispatched_to_live_worker(&self, t: &TaskInstance) -> bool {
        if self.instance.command_type
            != Some(crate::model::CommandType::RECOVER_TOLERANCE_FAULT_PROCESS)
            || crate::model::is_master_side_task(&t.task_type)
        {
            return false;
        }
        let (Some(host), Some(submit)) =
            (t.host.as_deref().filter(|h| !h.is_empty()), t.submit_time)
        else {
            return false;
        };
        let since = self.store.clock().from_db(submit).timestamp_millis();
        crate::failover::task_alive(
            &crate::failover::startups_of(&self.workers.borrow()),
            host,
            since,
        )
    }

    /// A rebound task whose worker never acknowledged it may never have got it: the previous
    /// owner writes the dispatch row *before* it sends, and a master that froze in between
    /// (then fenced) never sent. Unless the worker reports (its ACK is resent every 10 s by a
    /// 2.0.5 worker once the host update points it here) within `wait`, `otherwise` says what
    /// happens: a rebound task is run again on a new row ([`REBIND_CONFIRM_WAIT`]), a queued
    /// one nobody claimed is dispatched ([`UNRECORDED_CLAIM_WAIT`]).
    fn expect_report(&mut self, id: i32, otherwise: Unreported, wait: std::time::Duration) {
        self.unconfirmed.insert(id, otherwise);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = tx.send(Event::RebindCheck(id)).await;
        });
    }

    /// A failed-over instance's queued worker task whose row names no worker (see
    /// [`UNRECORDED_CLAIM_WAIT`]).
    fn maybe_sent_unrecorded(&self, t: &TaskInstance) -> bool {
        self.instance.command_type
            == Some(crate::model::CommandType::RECOVER_TOLERANCE_FAULT_PROCESS)
            && !crate::model::is_master_side_task(&t.task_type)
            && t.host.as_deref().map_or(true, str::is_empty)
    }

    /// PROCESS_HOST_UPDATE for `t` to every live worker of its group: the one that has it
    /// (if any) sends its ACK and result here from now on; the others only note the address.
    async fn ask_workers(&mut self, t: &TaskInstance) {
        self.active.insert(t.id);
        let group = t.worker_group.clone().unwrap_or_else(|| "default".into());
        let workers: Vec<String> = self
            .workers
            .borrow()
            .get(&group)
            .map(|g| g.keys().cloned().collect())
            .unwrap_or_default();
        for host in workers {
            let update = Command::HostUpdate(crate::protocol::HostUpdateCommand {
                task_instance_id: t.id,
                process_host: Some(self.host.clone()),
            });
            if let Err(e) = self.dispatcher.send_to(&host, update).await {
                debug!(task_instance_id = t.id, %host, error = %e, "host update not delivered");
            }
        }
    }

    async fn on_rebind_check(&mut self, id: i32) -> Result<(), Error> {
        let Some(otherwise) = self.unconfirmed.remove(&id) else {
            return Ok(());
        };
        if !self.active.contains(&id) {
            return Ok(());
        }
        let Some(task) = self.tasks.get(&id) else {
            return Ok(());
        };
        if task.state != Some(ExecutionStatus::SUBMITTED_SUCCESS) {
            return Ok(());
        }
        if otherwise == Unreported::Dispatch {
            info!(task_instance_id = id, wait = ?UNRECORDED_CLAIM_WAIT, "no worker claimed the queued task; dispatching it");
            return self.dispatch_task(id).await;
        }
        warn!(task_instance_id = id, host = ?task.host, wait = ?REBIND_CONFIRM_WAIT, "a task taken over unacknowledged never reported from its worker; running it again");
        // As for a task whose worker vanished: NEED_FAULT_TOLERANCE, then a new attempt.
        self.finish_task_locally(id, ExecutionStatus::NEED_FAULT_TOLERANCE)
            .await;
        Ok(())
    }

    /// Takes over a task that runs on a worker: it stays active and the worker is told with
    /// PROCESS_HOST_UPDATE to send its ack and result here.
    async fn rebind_on_resume(&mut self, t: &TaskInstance) {
        self.active.insert(t.id);
        let host = t.host.clone().unwrap_or_default();
        let update = Command::HostUpdate(crate::protocol::HostUpdateCommand {
            task_instance_id: t.id,
            process_host: Some(self.host.clone()),
        });
        if let Err(e) = self.dispatcher.send_to(&host, update).await {
            warn!(task_instance_id = t.id, %host, error = %e, "host update not delivered; the worker keeps the result until it is");
        }
    }

    async fn tenant(&mut self) -> Result<Option<TenantQueue>, Error> {
        if let Some(t) = &self.tenant {
            return Ok(t.clone());
        }
        let t = self
            .store
            .tenant_for(
                self.instance.tenant_id,
                self.definition.user_id,
                self.instance.executor_id,
            )
            .await?;
        self.tenant = Some(t.clone());
        Ok(t)
    }

    /// The TASK_EXECUTE_REQUEST context, filled as upstream's builder fills it for tasks
    /// whose parameters need no data-source or resource look-ups.
    fn context(
        &self,
        task: &TaskInstance,
        node: &crate::store::TaskDefinition,
        tenant: &TenantQueue,
    ) -> TaskExecutionContext {
        let clock = self.store.clock();
        let to_utc = |t: Option<chrono::NaiveDateTime>| -> Option<DateTime<Utc>> {
            t.map(|t| clock.from_db(t))
        };
        let timeout_on = node.timeout_flag == crate::model::TimeoutFlag::OPEN;
        let strategy = if timeout_on {
            node.timeout_notify_strategy
        } else {
            None
        };
        let fails = matches!(
            strategy,
            Some(
                crate::model::TaskTimeoutStrategy::FAILED
                    | crate::model::TaskTimeoutStrategy::WARNFAILED
            )
        );
        TaskExecutionContext {
            task_instance_id: task.id,
            task_name: task.name.clone(),
            first_submit_time: to_utc(task.first_submit_time),
            start_time: to_utc(task.start_time),
            task_type: Some(task.task_type.clone()),
            host: task.host.clone(),
            log_path: task.log_path.clone(),
            process_define_code: Some(self.definition.code),
            process_define_version: self.definition.version,
            process_instance_id: self.instance.id,
            schedule_time: to_utc(self.instance.schedule_time),
            global_params: self.instance.global_params.clone(),
            executor_id: self.instance.executor_id,
            cmd_type_if_complement: if super::complement::is_complement(
                self.instance.history_cmd.as_deref(),
            ) {
                crate::model::CommandType::COMPLEMENT_DATA.code()
            } else {
                self.instance.command_type.map(|c| c.code()).unwrap_or(0)
            },
            tenant_code: Some(tenant.tenant_code.clone()),
            queue: tenant.queue.clone(),
            project_code: self.definition.project_code,
            task_params: node.task_params.clone(),
            environment_config: task.environment_config.clone(),
            task_timeout_strategy: strategy,
            task_timeout: if fails {
                (i64::from(node.timeout) * 60).min(i64::from(i32::MAX)) as i32
            } else {
                i32::MAX
            },
            worker_group: task.worker_group.clone(),
            delay_time: task.delay_time,
            var_pool: task.var_pool.clone(),
            dry_run: task.dry_run,
            ..TaskExecutionContext::default()
        }
    }

    fn pre_var_pool(&self, code: i64) -> Option<String> {
        let preds: Vec<(Option<chrono::NaiveDateTime>, &str)> = self
            .dag
            .predecessors(code)
            .filter_map(|p| self.by_code.get(&p))
            .filter_map(|id| self.tasks.get(id))
            .filter_map(|t| t.var_pool.as_deref().map(|v| (t.end_time, v)))
            .collect();
        construct::merge_var_pools(&preds)
    }

    async fn on_dispatched(&mut self, d: Dispatched) -> Result<(), Error> {
        let now = self.store.clock().now();
        let Some(task) = self.tasks.get_mut(&d.task_instance_id) else {
            return Ok(());
        };
        if task.state.map(|s| s.is_finished()).unwrap_or(false) {
            return Ok(());
        }
        task.host = Some(d.host.clone());
        task.submit_time = Some(d.written.unwrap_or(now));
        debug!(task_instance_id = d.task_instance_id, host = %d.host, "task dispatched");
        metrics::counter!(crate::metrics::TASKS_DISPATCHED).increment(1);
        if let Some(from) = self.hop_started.remove(&d.task_instance_id) {
            crate::metrics::observe(crate::metrics::TASK_HOP, from.elapsed());
        }
        if d.written.is_some() {
            return Ok(());
        }
        self.unwritten_dispatch.insert(d.task_instance_id);
        let tx = self.tx.clone();
        let id = d.task_instance_id;
        tokio::spawn(async move {
            tokio::time::sleep(DISPATCH_WRITE_DELAY).await;
            let _ = tx.send(Event::FlushDispatch(id)).await;
        });
        Ok(())
    }

    /// The dispatch write no ACK carried in time (or before a result or a kill).
    async fn flush_dispatch(&mut self, id: i32) -> Result<(), Error> {
        if !self.unwritten_dispatch.remove(&id) {
            return Ok(());
        }
        let Some(task) = self.tasks.get(&id) else {
            return Ok(());
        };
        let (Some(host), Some(at)) = (task.host.clone(), task.submit_time) else {
            return Ok(());
        };
        self.store
            .update_task_dispatched(id, &host, at)
            .await
            .map_err(Error::from)
    }

    async fn on_ack(&mut self, ack: TaskExecuteAckCommand, link: Link) -> Result<(), Error> {
        let id = ack.task_instance_id;
        self.unconfirmed.remove(&id);
        let reply = |status: i32| {
            let _ = link.send(Command::DbTaskAck(DbTaskAckCommand {
                task_instance_id: id,
                status,
            }));
        };
        let clock = *self.store.clock();
        let Some(task) = self.tasks.get_mut(&id) else {
            // Unknown task of an instance we own: upstream answers SUCCESS so the worker stops.
            reply(REPLY_SUCCESS);
            return Ok(());
        };
        let finished = task.state.map(|s| s.is_finished()).unwrap_or(false);
        let Some(status) = ExecutionStatus::from_code(i64::from(ack.status)).ok() else {
            warn!(
                task_instance_id = id,
                status = ack.status,
                "ack with an unknown status; ignored"
            );
            reply(REPLY_SUCCESS);
            return Ok(());
        };
        if finished {
            // A late or resent ack must never regress a finished task.
            reply(REPLY_SUCCESS);
            return Ok(());
        }
        let submit_time = if self.unwritten_dispatch.remove(&id) {
            task.submit_time
        } else {
            None
        };
        let write = AckWrite {
            state: Some(status),
            submit_time,
            start_time: ack.start_time.map(|t| clock.to_db(t)),
            host: Some(worker_host(
                &link,
                ack.host.as_deref(),
                task.host.as_deref(),
            )),
            execute_path: ack.execute_path.clone(),
            log_path: ack.log_path.clone(),
        };
        match self.store.update_task_ack(id, &write).await {
            Ok(()) => {
                task.state = write.state;
                task.start_time = write.start_time.or(task.start_time);
                task.host = write.host.clone();
                task.execute_path = write.execute_path.or(task.execute_path.take());
                task.log_path = write.log_path.or(task.log_path.take());
                info!(task_instance_id = id, state = %status, "task acknowledged by worker");
                metrics::counter!(crate::metrics::TASKS_ACKED).increment(1);
                let started = (status == ExecutionStatus::RUNNING_EXECUTION)
                    .then_some(task.start_time)
                    .flatten();
                reply(REPLY_SUCCESS);
                if let Some(start) = started {
                    self.arm_task_timeout(id, task_code_of(&self.tasks, id), start);
                }
                Ok(())
            }
            Err(e) => {
                if e.is_ownership() {
                    // Not ours any more: no answer, the worker keeps resending to the owner.
                    self.abandoned = true;
                } else {
                    reply(REPLY_FAILURE);
                }
                Err(e.into())
            }
        }
    }

    async fn on_result(
        &mut self,
        result: TaskExecuteResponseCommand,
        link: Link,
    ) -> Result<(), Error> {
        let id = result.task_instance_id;
        self.unconfirmed.remove(&id);
        let reply = |status: i32| {
            let _ = link.send(Command::DbTaskResponse(DbTaskResponseCommand {
                task_instance_id: id,
                status,
            }));
        };
        let clock = *self.store.clock();
        let Some(task) = self.tasks.get_mut(&id) else {
            reply(REPLY_SUCCESS);
            return Ok(());
        };
        let Some(status) = ExecutionStatus::from_code(i64::from(result.status)).ok() else {
            warn!(
                task_instance_id = id,
                status = result.status,
                "result with an unknown status; answered FAILURE"
            );
            reply(REPLY_FAILURE);
            return Ok(());
        };
        if task.state.map(|s| s.is_finished()).unwrap_or(false) {
            // Resent result: already durable; answer again so the worker stops resending.
            reply(REPLY_SUCCESS);
            return Ok(());
        }
        let write = ResultWrite {
            state: Some(status),
            end_time: Some(
                result
                    .end_time
                    .map(|t| clock.to_db(t))
                    .unwrap_or_else(|| clock.now()),
            ),
            pid: Some(result.process_id),
            app_link: result.app_ids.clone(),
            var_pool: result.var_pool.clone(),
            task_params: construct::change_out_params(
                task.task_params.as_deref(),
                result.var_pool.as_deref(),
            ),
        };
        if self.unwritten_dispatch.contains(&id) {
            // The ACK never came (or came late): the row needs its host first.
            self.flush_dispatch(id).await?;
        }
        let Some(task) = self.tasks.get_mut(&id) else {
            return Ok(());
        };
        if let Err(e) = self.store.update_task_result(id, &write).await {
            if e.is_ownership() {
                self.abandoned = true;
            } else {
                reply(REPLY_FAILURE);
            }
            return Err(e.into());
        }
        task.state = write.state;
        task.end_time = write.end_time;
        task.pid = result.process_id;
        task.app_link = write.app_link.clone();
        task.var_pool = write.var_pool.clone();
        if write.task_params.is_some() {
            task.task_params = write.task_params.clone();
        }
        reply(REPLY_SUCCESS);
        info!(task_instance_id = id, state = %status, "task finished on worker");
        task_finished_metric(status);
        self.result_at = Some(tokio::time::Instant::now());
        self.active.insert(id);
        self.pending.push(id);
        Ok(())
    }

    /// A task the master ends itself (tenant missing, unsupported type).
    async fn finish_task_locally(&mut self, id: i32, state: ExecutionStatus) {
        let now = self.store.clock().now();
        if let Err(e) = self
            .store
            .update_task_state(id, state, None, Some(now))
            .await
        {
            self.note(&e);
            error!(task_instance_id = id, error = %e, "could not record the task's end");
        }
        if let Some(t) = self.tasks.get_mut(&id) {
            t.state = Some(state);
            t.end_time = Some(now);
        }
        task_finished_metric(state);
        self.active.insert(id);
        self.pending.push(id);
    }

    async fn task_finished(&mut self, id: i32) {
        self.active.remove(&id);
        let Some(task) = self.tasks.get(&id).cloned() else {
            return;
        };
        let state = task.state.unwrap_or(ExecutionStatus::FAILURE);
        let code = task.task_code;
        let is_conditions = task.task_type.eq_ignore_ascii_case("CONDITIONS");
        let feeds_conditions = self.dag.successors(code).any(|n| self.is_conditions(n));
        if is_conditions || (state.is_failure() && feeds_conditions && !self.can_retry(&task)) {
            // A CONDITIONS node walks its chosen branch whatever its outcome, and a failure
            // it judges is not a workflow failure (upstream keeps both out of the error map).
            self.complete.insert(code);
            self.submit_post_nodes(Some(code)).await;
        } else if state.is_success() {
            self.complete.insert(code);
            if let Some(pool) = task
                .var_pool
                .as_deref()
                .filter(|p| !p.is_empty() && *p != "[]")
            {
                self.instance.var_pool = Some(pool.to_string());
                if let Err(e) = self
                    .store
                    .update_process_var_pool(self.instance.id, pool)
                    .await
                {
                    self.note(&e);
                    error!(error = %e, "could not record the instance's var pool");
                }
            }
            self.submit_post_nodes(Some(code)).await;
        } else if state.is_failure() && self.can_retry(&task) {
            self.schedule_retry(&task);
        } else if state.is_failure() {
            self.complete.insert(code);
            self.failed.insert(code);
            if self.instance.failure_strategy == Some(FailureStrategy::END) {
                self.kill_all().await;
            }
        } else {
            // PAUSE, KILL, STOP: complete; successors do not run.
            self.complete.insert(code);
        }
    }

    /// Upstream `getProcessInstanceState` (2.0.5 order), from memory.
    fn compute_state(&self) -> ExecutionStatus {
        let s = self
            .instance
            .state
            .unwrap_or(ExecutionStatus::RUNNING_EXECUTION);
        if !self.active.is_empty() || !self.retrying.is_empty() {
            return match s {
                ExecutionStatus::READY_STOP
                | ExecutionStatus::READY_PAUSE
                | ExecutionStatus::WAITING_THREAD
                | ExecutionStatus::DELAY_EXECUTION => s,
                _ => ExecutionStatus::RUNNING_EXECUTION,
            };
        }
        let states: Vec<ExecutionStatus> = self.tasks.values().filter_map(|t| t.state).collect();
        match s {
            ExecutionStatus::READY_PAUSE => {
                return if states.contains(&ExecutionStatus::PAUSE) || !self.complement_end() {
                    ExecutionStatus::PAUSE
                } else {
                    ExecutionStatus::SUCCESS
                }
            }
            ExecutionStatus::READY_STOP => {
                return if !self.complement_end()
                    || states.iter().any(|s| {
                        matches!(
                            s,
                            ExecutionStatus::STOP
                                | ExecutionStatus::KILL
                                | ExecutionStatus::FAILURE
                        )
                    }) {
                    ExecutionStatus::STOP
                } else {
                    ExecutionStatus::SUCCESS
                }
            }
            _ => {}
        }
        if !self.failed.is_empty() {
            return ExecutionStatus::FAILURE;
        }
        if s == ExecutionStatus::RUNNING_EXECUTION {
            return if states.contains(&ExecutionStatus::KILL) {
                ExecutionStatus::FAILURE
            } else {
                ExecutionStatus::SUCCESS
            };
        }
        s
    }

    async fn update_state(&mut self) {
        if self.abandoned {
            return;
        }
        let next = self.compute_state();
        if Some(next) == self.instance.state {
            return;
        }
        if next.is_finished() {
            self.finish(next).await;
        } else {
            self.instance.state = Some(next);
            if let Err(e) = self
                .store
                .update_own_process_state(self.instance.id, next, None)
                .await
            {
                self.note(&e);
                error!(error = %e, "could not record the instance state");
            }
        }
    }

    /// Writes the final state and end time in one statement and leaves the exec map. The
    /// write is retried (the database may be restarting) until it lands; an actor never
    /// leaves an instance unfinished while it can still own it. When the instance turns out
    /// not to be ours, or the database stays away past [`FINISH_PATIENCE`], the actor gives
    /// the instance up without a final state: the orphan sweep of intake hands it over
    /// through the recovery path once the database answers again.
    async fn finish(&mut self, state: ExecutionStatus) {
        let now = self.store.clock().now();
        let started = tokio::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(200);
        loop {
            match self
                .store
                .update_own_process_state(self.instance.id, state, Some(now))
                .await
            {
                Ok(()) => break,
                Err(e) if e.is_ownership() => {
                    warn!(error = %e, "instance not ours any more; its end is not recorded here");
                    self.abandoned = true;
                    return;
                }
                Err(e) if started.elapsed() >= FINISH_PATIENCE => {
                    error!(error = %e, waited = ?started.elapsed(), "could not record the instance's end; giving the instance up for the orphan sweep");
                    self.abandoned = true;
                    return;
                }
                Err(e) => {
                    warn!(error = %e, retry_in = ?pause, "could not record the instance's end; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
        self.instance.state = Some(state);
        self.instance.end_time = Some(now);
        info!(state = %state, "workflow finished");
        metrics::counter!(crate::metrics::WORKFLOWS_FINISHED, "state" => state.name()).increment(1);
        if super::alert::is_due(&self.instance, state) {
            if let Err(e) = self.write_alert(state).await {
                error!(error = %e, "could not write the workflow's alert");
            }
        }
        if let Err(e) = self.chain_complement(state).await {
            error!(error = %e, "could not create the next complement command");
        }
        if self.instance.is_sub_process == Some(crate::model::Flag::YES) {
            self.notify_parent(state).await;
        }
        // Dependent tasks of other workflows here may be waiting for this one.
        let me = self.instance.id;
        let instances = self.instances.clone();
        tokio::spawn(async move {
            let senders: Vec<mpsc::Sender<Event>> = instances
                .inner
                .lock()
                .map(|m| {
                    m.iter()
                        .filter(|(id, _)| **id != me)
                        .map(|(_, tx)| tx.clone())
                        .collect()
                })
                .unwrap_or_default();
            for tx in senders {
                let _ = tx.try_send(Event::DependencyEnded);
            }
        });
    }

    /// The end-of-workflow alert row (the alert server sends it).
    async fn write_alert(&self, state: ExecutionStatus) -> Result<(), Error> {
        let project = self
            .store
            .find_project_user_of_instance(self.instance.id)
            .await?;
        let project = project
            .map(|p| super::alert::Project {
                id: p.project_id,
                code: p.project_code,
                name: p.project_name,
                owner: p.user_name,
            })
            .unwrap_or(super::alert::Project {
                id: 0,
                code: 0,
                name: None,
                owner: None,
            });
        let clock = *self.store.clock();
        let mut tasks: Vec<&TaskInstance> = self.tasks.values().collect();
        tasks.sort_by_key(|t| t.id);
        let content = super::alert::content(
            &self.instance,
            state,
            self.instance.name.as_deref().unwrap_or_default(),
            &project,
            &tasks,
            |t| clock.from_db(t),
            false,
        );
        let alert = crate::store::reference::Alert {
            title: Some(super::alert::title(self.instance.command_type, state)),
            content: Some(content),
            alertgroup_id: self.instance.warning_group_id.unwrap_or(0),
            create_time: Some(clock.now()),
            ..Default::default()
        };
        self.store.insert_alert(&alert).await?;
        info!("workflow alert written");
        Ok(())
    }

    /// API stop or pause: the API wrote READY_STOP / READY_PAUSE into the row; read it.
    async fn on_process_state_change(&mut self) -> Result<(), Error> {
        let Some(row) = self.store.find_process_instance(self.instance.id).await? else {
            return Ok(());
        };
        if let Some(state) = row.state {
            info!(state = %state, "instance state changed by another component");
            self.instance.state = Some(state);
        }
        self.instance.command_type = row.command_type;
        self.instance.history_cmd = row.history_cmd;
        if self.instance.state == Some(ExecutionStatus::READY_STOP) {
            self.kill_all().await;
        }
        if self.instance.state == Some(ExecutionStatus::READY_PAUSE) {
            // A failed task waiting for its retry is not retried while paused: 2.0.5 waits
            // out the interval and then rewrites the row as PAUSE; we do that at once
            // (deviation: the pause does not take up to a whole retry interval).
            let waiting: Vec<i32> = self.retrying.iter().copied().collect();
            for id in waiting {
                self.on_retry_due(id).await?;
            }
        }
        Ok(())
    }

    /// Upstream `failoverWorker` for our tasks on a vanished worker: NEED_FAULT_TOLERANCE,
    /// then resubmitted at once on a new row (the old row stays as history).
    async fn fail_over_tasks_on(&mut self, worker: &str) {
        let on_worker: Vec<i32> = self
            .active
            .iter()
            .copied()
            .filter(|id| self.tasks.get(id).and_then(|t| t.host.as_deref()) == Some(worker))
            .collect();
        for id in on_worker {
            warn!(task_instance_id = id, %worker, "task needs fault tolerance: its worker is gone");
            self.finish_task_locally(id, ExecutionStatus::NEED_FAULT_TOLERANCE)
                .await;
        }
    }

    /// Sends PROCESS_HOST_UPDATE for every running task of ours on `worker`, so the worker
    /// binds them to our new link and its resent results reach us.
    async fn rebind_tasks_on(&self, worker: &str) {
        for id in &self.active {
            let Some(task) = self.tasks.get(id) else {
                continue;
            };
            if task.host.as_deref() != Some(worker) {
                continue;
            }
            let update = Command::HostUpdate(crate::protocol::HostUpdateCommand::new(
                *id,
                self.host.clone(),
            ));
            match self.dispatcher.send_to(worker, update).await {
                Ok(()) => info!(task_instance_id = *id, %worker, "task rebound to the new link"),
                Err(e) => {
                    warn!(task_instance_id = *id, %worker, error = %e, "host update not delivered")
                }
            }
        }
    }

    fn is_conditions(&self, code: i64) -> bool {
        self.dag
            .nodes
            .get(&code)
            .is_some_and(|n| n.definition.task_type.eq_ignore_ascii_case("CONDITIONS"))
    }

    /// After a finished CONDITIONS node: its chosen branch and the branch it rules out
    /// (`conditionResult.successNode` / `failedNode` of the definition).
    fn conditions_branch(&self, code: i64) -> Option<super::dag::Branch> {
        if !self.is_conditions(code) {
            return None;
        }
        let state = self
            .by_code
            .get(&code)
            .and_then(|id| self.tasks.get(id))
            .and_then(|t| t.state)?;
        let params = self.dag.nodes.get(&code)?.definition.task_params.clone()?;
        let result = super::logic::condition_result(&params);
        let (take, skip) = if state.is_success() {
            (result.success, result.failed)
        } else {
            (result.failed, result.success)
        };
        Some(super::dag::Branch { take, skip })
    }

    /// Where upstream's master logs a task it runs itself, and what it writes into the row's
    /// `log_path` (2.0.5 `LogUtils.getTaskLogPath`: the master's log base, `logs` under its
    /// working directory, then `<definition code>_<version>/<instance id>/<task id>.log`).
    fn logic_log_path(&self, id: i32) -> String {
        let base = std::env::current_dir()
            .unwrap_or_default()
            .join("logs")
            .join(format!(
                "{}_{}",
                self.instance.process_definition_code, self.instance.process_definition_version
            ))
            .join(self.instance.id.to_string())
            .join(format!("{id}.log"));
        base.to_string_lossy().into_owned()
    }

    /// Upstream `ConditionTaskProcessor`: judge the listed tasks' states now and finish at
    /// once, on this master (host = our address).
    async fn run_conditions(&mut self, id: i32, node: &crate::store::TaskDefinition) {
        let states: HashMap<i64, ExecutionStatus> = self
            .by_code
            .iter()
            .filter_map(|(code, tid)| {
                self.tasks
                    .get(tid)
                    .and_then(|t| t.state)
                    .map(|s| (*code, s))
            })
            .collect();
        let outcome = super::logic::judge_conditions(node.task_params.as_deref(), &states);
        let now = self.store.clock().now();
        let log_path = self.logic_log_path(id);
        if let Err(e) = self
            .store
            .update_logic_task(id, outcome, &self.host, now, None, &log_path)
            .await
        {
            error!(task_instance_id = id, error = %e, "could not record the conditions result");
        }
        if let Some(t) = self.tasks.get_mut(&id) {
            t.state = Some(outcome);
            t.host = Some(self.host.clone());
            t.start_time = Some(now);
            t.log_path = Some(log_path.clone());
            t.end_time = Some(now);
        }
        info!(task_instance_id = id, state = %outcome, "conditions judged");
        self.active.insert(id);
        self.pending.push(id);
    }

    /// After a successful SWITCH: the chosen branch from the row's stored `switchResult`.
    fn switch_branch(&self, code: i64) -> Option<super::dag::Branch> {
        let task = self.by_code.get(&code).and_then(|id| self.tasks.get(id))?;
        if !task.task_type.eq_ignore_ascii_case("SWITCH")
            || !task.state.is_some_and(|s| s.is_success())
        {
            return None;
        }
        let (take, skip) = super::logic::switch_branch(task.task_params.as_deref())?;
        Some(super::dag::Branch { take, skip })
    }

    /// Upstream `SwitchTaskProcessor`: evaluate the branches against the instance's global
    /// parameters over the task's var pool, record the choice in the row's task_params and
    /// finish at once on this master.
    async fn run_switch(&mut self, id: i32, node: &crate::store::TaskDefinition) {
        let mut params: HashMap<String, String> = HashMap::new();
        let props = |text: Option<&str>| -> Vec<(String, String)> {
            text.and_then(|t| serde_json::from_str::<Vec<serde_json::Value>>(t).ok())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| {
                    let name = p.get("prop")?.as_str()?.to_string();
                    let value = match p.get("value") {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(serde_json::Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    };
                    Some((name, value))
                })
                .collect()
        };
        let var_pool = self.tasks.get(&id).and_then(|t| t.var_pool.clone());
        params.extend(props(var_pool.as_deref()));
        params.extend(props(self.instance.global_params.as_deref()));
        let outcome = super::logic::run_switch(node.task_params.as_deref(), &params);
        let task_params = self
            .tasks
            .get(&id)
            .and_then(|t| t.task_params.clone())
            .map(
                |text| match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(serde_json::Value::Object(mut map)) => {
                        map.insert(
                            "switchResult".into(),
                            serde_json::Value::String(outcome.switch_result.clone()),
                        );
                        serde_json::Value::Object(map).to_string()
                    }
                    _ => text,
                },
            );
        let now = self.store.clock().now();
        let log_path = self.logic_log_path(id);
        if let Err(e) = self
            .store
            .update_logic_task(
                id,
                outcome.state,
                &self.host,
                now,
                task_params.clone(),
                &log_path,
            )
            .await
        {
            error!(task_instance_id = id, error = %e, "could not record the switch result");
        }
        if let Some(t) = self.tasks.get_mut(&id) {
            t.state = Some(outcome.state);
            t.host = Some(self.host.clone());
            t.start_time = Some(now);
            t.log_path = Some(log_path.clone());
            t.end_time = Some(now);
            if task_params.is_some() {
                t.task_params = task_params;
            }
        }
        info!(task_instance_id = id, state = %outcome.state, branch = outcome.chosen, "switch decided");
        self.active.insert(id);
        self.pending.push(id);
    }

    /// A deadline `timeout` minutes after the instance's start (alert only; upstream does not
    /// stop the workflow).
    fn arm_process_timeout(&self) {
        let (Some(start), true) = (self.instance.start_time, self.instance.timeout > 0) else {
            return;
        };
        let due = self.store.clock().from_db(start)
            + chrono::Duration::minutes(i64::from(self.instance.timeout));
        let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = tx.send(Event::ProcessTimeout).await;
        });
    }

    /// A deadline for a started task whose definition has timeout OPEN with WARN or
    /// WARNFAILED (2.0.5 alerts for both; FAILED is the worker's to enforce).
    fn arm_task_timeout(&self, id: i32, code: Option<i64>, start: chrono::NaiveDateTime) {
        let Some(node) = code.and_then(|c| self.dag.nodes.get(&c)) else {
            return;
        };
        let def = &node.definition;
        let warns = matches!(
            def.timeout_notify_strategy,
            Some(
                crate::model::TaskTimeoutStrategy::WARN
                    | crate::model::TaskTimeoutStrategy::WARNFAILED
            )
        );
        if def.timeout_flag != crate::model::TimeoutFlag::OPEN || !warns || def.timeout <= 0 {
            return;
        }
        let due =
            self.store.clock().from_db(start) + chrono::Duration::minutes(i64::from(def.timeout));
        let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = tx.send(Event::TaskTimeout(id)).await;
        });
    }

    async fn on_process_timeout(&mut self) -> Result<(), Error> {
        if self.is_finished() {
            return Ok(());
        }
        let clock = *self.store.clock();
        let content = super::alert::process_timeout_content(
            &self.instance,
            self.definition.project_code,
            self.instance.name.as_deref().unwrap_or_default(),
            |t| clock.from_db(t),
        );
        warn!("workflow timed out; alert written (the workflow goes on, as upstream)");
        self.timeout_alert("Process Timeout Warn", content).await
    }

    async fn on_task_timeout(&mut self, id: i32) -> Result<(), Error> {
        let Some(task) = self.tasks.get(&id).cloned() else {
            return Ok(());
        };
        if task.state.is_some_and(|s| s.is_finished()) {
            return Ok(());
        }
        let strategy = self
            .dag
            .nodes
            .get(&task.task_code)
            .and_then(|n| n.definition.timeout_notify_strategy);
        if strategy == Some(crate::model::TaskTimeoutStrategy::FAILED) {
            // 2.0.5: FAILED means the processor's TIMEOUT action and no alert. Only logic
            // tasks arm this deadline (the worker enforces its own tasks' timeouts).
            if self.dependents.remove(&id).is_some() {
                warn!(task_instance_id = id, "dependent task timed out; it fails");
                self.finish_task_locally(id, ExecutionStatus::FAILURE).await;
            } else if self.subs.contains_key(&id) {
                warn!(
                    task_instance_id = id,
                    "sub-process task timed out; its child is stopped"
                );
                self.stop_child(id).await;
            }
            return Ok(());
        }
        let clock = *self.store.clock();
        let content = super::alert::task_timeout_content(
            &self.instance,
            self.definition.project_code,
            self.instance.name.as_deref().unwrap_or_default(),
            &task,
            |t| clock.from_db(t),
        );
        warn!(task_instance_id = id, "task timed out; alert written");
        self.timeout_alert("Task Timeout Warn", content).await
    }

    async fn timeout_alert(&self, title: &str, content: String) -> Result<(), Error> {
        let now = self.store.clock().now();
        let alert = crate::store::reference::Alert {
            title: Some(title.to_string()),
            content: Some(content),
            alertgroup_id: self.instance.warning_group_id.unwrap_or(0),
            create_time: Some(now),
            update_time: Some(now),
            ..Default::default()
        };
        self.store
            .insert_alert(&alert)
            .await
            .map(|_| ())
            .map_err(Error::from)
    }

    /// Upstream `taskCanRetry` (2.0.5): a failed worker task with attempts left, unless the
    /// instance is being stopped.
    fn can_retry(&self, task: &TaskInstance) -> bool {
        if task.task_type.eq_ignore_ascii_case("SUB_PROCESS") {
            return false;
        }
        if self.instance.state == Some(ExecutionStatus::READY_STOP) {
            return false;
        }
        match task.state {
            Some(ExecutionStatus::NEED_FAULT_TOLERANCE) => true,
            Some(ExecutionStatus::FAILURE) => task.retry_times < task.max_retry_times,
            _ => false,
        }
    }

    /// Arms a deadline `retry_interval` minutes after the failure (a timer, not a poll).
    fn schedule_retry(&mut self, task: &TaskInstance) {
        self.retrying.insert(task.id);
        let wait = if task.state == Some(ExecutionStatus::NEED_FAULT_TOLERANCE) {
            std::time::Duration::ZERO
        } else {
            std::time::Duration::from_secs(u64::try_from(task.retry_interval).unwrap_or(0) * 60)
        };
        info!(
            task_instance_id = task.id,
            attempt = task.retry_times + 1,
            of = task.max_retry_times,
            in_secs = wait.as_secs(),
            "task failed; retry scheduled"
        );
        let tx = self.tx.clone();
        let id = task.id;
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = tx.send(Event::RetryDue(id)).await;
        });
    }

    /// Retry due: the API may have forced the failed row to success meanwhile (honoured as
    /// upstream does); otherwise the row becomes history and a new attempt is inserted.
    async fn on_retry_due(&mut self, id: i32) -> Result<(), Error> {
        if !self.retrying.remove(&id) {
            return Ok(());
        }
        let Some(old) = self.tasks.get(&id).cloned() else {
            return Ok(());
        };
        if let Ok(Some(row)) = self.store.find_task_instance(id).await {
            if row.state == Some(ExecutionStatus::FORCED_SUCCESS) {
                info!(
                    task_instance_id = id,
                    "failed task forced to success; its successors run"
                );
                if let Some(t) = self.tasks.get_mut(&id) {
                    t.state = Some(ExecutionStatus::FORCED_SUCCESS);
                }
                self.complete.insert(old.task_code);
                self.submit_post_nodes(Some(old.task_code)).await;
                return Ok(());
            }
        }
        self.next_attempt(id).await
    }

    /// Upstream `submitTaskInstanceToDB` (2.0.5) for a failed or fault-tolerance row: the
    /// row becomes history (`flag = 0`) and a new one is inserted with the same definition,
    /// `retry_times + 1` (unchanged for NEED_FAULT_TOLERANCE), no host, times or paths.
    async fn next_attempt(&mut self, id: i32) -> Result<(), Error> {
        if matches!(
            self.instance.state,
            Some(ExecutionStatus::READY_PAUSE | ExecutionStatus::READY_STOP)
        ) {
            return self.end_attempt_in_place(id).await;
        }
        let Some(old) = self.tasks.remove(&id) else {
            return Ok(());
        };
        self.store.invalidate_task_instance(id).await?;
        let retry_times = if old.state == Some(ExecutionStatus::NEED_FAULT_TOLERANCE) {
            old.retry_times
        } else {
            old.retry_times + 1
        };
        let fresh = TaskInstance {
            id: 0,
            retry_times,
            submit_time: None,
            start_time: None,
            end_time: None,
            host: None,
            execute_path: None,
            log_path: None,
            pid: 0,
            app_link: None,
            flag: Some(crate::model::Flag::YES),
            ..old
        };
        self.insert_and_dispatch(fresh).await
    }

    /// Upstream `submitTaskInstanceToDB` for a failed row while the instance is READY_PAUSE
    /// (or READY_STOP): no new attempt; the failed row itself becomes PAUSE (KILL), keeping
    /// its retry count, and gets its submit time as first submit time when it had none. The
    /// task then counts as complete, so the instance can end PAUSE and a later recovery
    /// resumes this same row with the attempts it had left.
    async fn end_attempt_in_place(&mut self, id: i32) -> Result<(), Error> {
        let Some(code) = self.tasks.get(&id).map(|t| t.task_code) else {
            return Ok(());
        };
        let state = if self.instance.state == Some(ExecutionStatus::READY_STOP) {
            ExecutionStatus::KILL
        } else {
            ExecutionStatus::PAUSE
        };
        self.rewrite_in_place(id, state).await?;
        info!(task_instance_id = id, state = %state, "failed task waiting for its retry ends in place");
        self.complete.insert(code);
        Ok(())
    }

    /// Upstream `submitTaskInstanceToDB` on a row it keeps: the row's new state and, when it
    /// has none yet, its submit time as first submit time; written, then kept in memory.
    async fn rewrite_in_place(
        &mut self,
        id: i32,
        state: ExecutionStatus,
    ) -> Result<(), crate::store::Error> {
        let Some(t) = self.tasks.get(&id) else {
            return Ok(());
        };
        let first_submit = t
            .first_submit_time
            .is_none()
            .then_some(t.submit_time)
            .flatten();
        if let Err(e) = self
            .store
            .resubmit_task_in_place(id, state, first_submit)
            .await
        {
            self.note(&e);
            return Err(e);
        }
        if let Some(t) = self.tasks.get_mut(&id) {
            t.state = Some(state);
            if first_submit.is_some() {
                t.first_submit_time = first_submit;
            }
        }
        Ok(())
    }

    /// A worker killed the task: it ends KILL unless it already finished otherwise (upstream
    /// `persist(STOP)`); the worker stops resending once it gets TASK_KILL_RESPONSE_ACK
    /// (2.0.8 behaviour; never sent to 2.0.0-2.0.2 workers, whose ordinal 17 is HEART_BEAT).
    async fn on_kill_response(
        &mut self,
        response: crate::protocol::TaskKillResponseCommand,
        link: Link,
    ) -> Result<(), Error> {
        let id = response.task_instance_id;
        if let Some(task) = self.tasks.get(&id) {
            if !task.state.is_some_and(|s| s.is_finished()) {
                self.finish_task_locally(id, ExecutionStatus::KILL).await;
            }
        }
        if link.dialect() != crate::protocol::Dialect::A {
            let _ = link.send(Command::TaskKillResponseAck(
                crate::protocol::TaskKillAckCommand::success(id),
            ));
        }
        Ok(())
    }

    /// Upstream `killAllTasks`: tasks not yet on a worker are killed here, the others get a
    /// TASK_KILL_REQUEST on the worker's link and end when the worker reports.
    async fn kill_all(&mut self) {
        // Failed tasks waiting for a retry will not get one.
        for id in std::mem::take(&mut self.retrying) {
            if let Some(t) = self.tasks.get(&id) {
                self.complete.insert(t.task_code);
                self.failed.insert(t.task_code);
            }
        }
        let active: Vec<i32> = self.active.iter().copied().collect();
        for id in active {
            let Some(task) = self.tasks.get(&id).cloned() else {
                continue;
            };
            if self.subs.contains_key(&id) {
                // The child stops; its end (STOP/KILL...) becomes this task's state.
                self.stop_child(id).await;
                continue;
            }
            if self.dependents.remove(&id).is_some() {
                self.finish_task_locally(id, ExecutionStatus::KILL).await;
                continue;
            }
            match task.host.as_deref().filter(|h| !h.is_empty()) {
                None => {
                    self.dispatcher.cancel(id);
                    self.finish_task_locally(id, ExecutionStatus::KILL).await;
                }
                Some(host) => {
                    let kill = Command::TaskKillRequest(crate::protocol::TaskKillRequestCommand {
                        task_instance_id: id,
                    });
                    if let Err(e) = self.dispatcher.send_to(host, kill).await {
                        warn!(task_instance_id = id, %host, error = %e, "kill request not delivered");
                    }
                }
            }
        }
    }
}

/// The worker address to record: the registry address we dialed (the link's peer), as the
/// Java master records its dispatch connection's remote address.
fn worker_host(link: &Link, reported: Option<&str>, dispatched: Option<&str>) -> String {
    if let Some(d) = dispatched {
        return d.to_string();
    }
    if let Some(r) = reported.filter(|r| !r.is_empty()) {
        return r.to_string();
    }
    link.peer().to_string()
}

fn task_code_of(tasks: &HashMap<i32, TaskInstance>, id: i32) -> Option<i64> {
    tasks.get(&id).map(|t| t.task_code)
}

/// SUB_PROCESS, DEPENDENT and complement data (workflow-execution.md 3.8, 3.9;
/// master-lifecycle.md 4 and 5).
impl Workflow {
    /// Upstream `initTaskQueue` for complement instances: the date list from the instance's
    /// own `complementStartDate/EndDate` and the definition's online schedules; the instance
    /// takes the first date as its schedule time, with globals cured for it.
    async fn init_complement(&mut self) -> Result<(), Error> {
        if !super::complement::is_complement(self.instance.history_cmd.as_deref())
            || self.instance.is_sub_process == Some(crate::model::Flag::YES)
        {
            return Ok(());
        }
        let Some((start, end)) = super::complement::range(self.instance.command_param.as_deref())
        else {
            warn!("complement instance without a readable complementStartDate/EndDate");
            return Ok(());
        };
        let schedules = self
            .store
            .find_release_schedules(self.definition.code)
            .await?;
        let crontabs: Vec<&str> = schedules.iter().map(|s| s.crontab.as_str()).collect();
        self.complement_dates = super::complement::date_list(
            start,
            end,
            &crontabs,
            *self.store.clock(),
            self.features.jvm_zone,
            self.features.complement,
        );
        info!(dates = self.complement_dates.len(), "complement date list");
        let Some(first) = self.complement_dates.first().copied() else {
            return Ok(());
        };
        let globals = construct::cure_global_params(
            self.definition.global_params.as_deref(),
            &HashMap::new(),
            crate::model::CommandType::COMPLEMENT_DATA,
            Some(first),
            self.store.clock().now(),
            self.features.jvm_zone,
        )?;
        self.instance.schedule_time = Some(first);
        if globals.is_some() {
            self.instance.global_params = globals.clone();
        }
        self.store
            .update_schedule_time(self.instance.id, first, globals)
            .await
            .map_err(Error::from)
    }

    fn complement_end(&self) -> bool {
        super::complement::is_complement_end(
            self.instance.history_cmd.as_deref(),
            self.instance.command_param.as_deref(),
            self.instance.schedule_time,
        )
    }

    /// Upstream `processComplementData`: after a successful complement instance that is not
    /// at its last date, a COMPLEMENT_DATA command for the next date.
    async fn chain_complement(&self, state: ExecutionStatus) -> Result<(), Error> {
        if !super::complement::is_complement(self.instance.history_cmd.as_deref())
            || self.instance.is_sub_process == Some(crate::model::Flag::YES)
            || !state.is_success()
        {
            return Ok(());
        }
        let Some(current) = self.instance.schedule_time else {
            return Ok(());
        };
        let Some(next) = super::complement::next_date(&self.complement_dates, current) else {
            info!("complement finished its last date");
            return Ok(());
        };
        let now = self.store.clock().now();
        let i = &self.instance;
        let command = crate::store::NewCommand {
            command_type: crate::model::CommandType::COMPLEMENT_DATA,
            process_definition_code: i.process_definition_code,
            process_definition_version: i.process_definition_version,
            process_instance_id: 0,
            command_param: Some(super::complement::next_command_param(
                i.command_param.as_deref(),
                next,
            )),
            task_depend_type: i.task_depend_type,
            failure_strategy: i.failure_strategy,
            warning_type: i.warning_type,
            warning_group_id: i.warning_group_id,
            schedule_time: Some(next),
            start_time: now,
            update_time: now,
            executor_id: i.executor_id,
            process_instance_priority: i.process_instance_priority,
            worker_group: i.worker_group.clone(),
            environment_code: i.environment_code,
            dry_run: i.dry_run,
        };
        let id = self.store.insert_command(&command).await?;
        info!(command_id = id, next = %next, "complement continues with the next date");
        Ok(())
    }

    /// SUB_PROCESS submit (`createSubWorkProcess`): the relation row and the child's command;
    /// the task then waits for the child, as RUNNING_EXECUTION once the child exists.
    async fn start_sub_process(&mut self, id: i32, node: &crate::store::TaskDefinition) {
        if let Err(e) = self.create_child(id, node).await {
            error!(task_instance_id = id, error = %e, "sub-process could not be started; the task fails");
            self.finish_task_locally(id, ExecutionStatus::FAILURE).await;
            return;
        }
        self.active.insert(id);
        self.subs.insert(id, SubRun::default());
        self.arm_sub_process_poll(id);
        self.poll_sub_process(id).await;
    }

    async fn create_child(
        &mut self,
        id: i32,
        node: &crate::store::TaskDefinition,
    ) -> Result<(), Error> {
        let Some(task) = self.tasks.get(&id).cloned() else {
            return Err(Error::NotLoaded(id));
        };
        let child_code = crate::store::TaskParams::parse(node.task_params.as_deref())
            .map_err(|e| Error::TaskParams { id, reason: e.0 })?
            .process_definition_code()
            .ok_or_else(|| Error::TaskParams {
                id,
                reason: "no processDefinitionCode".into(),
            })?;
        let child_version = self
            .store
            .current_definition_version(child_code)
            .await?
            .ok_or(Error::NoChildDefinition(child_code))?;
        let parent_id = self.instance.id;
        let existing = self
            .store
            .find_process_instance_map_by_parent(parent_id, id)
            .await?;
        if existing.is_some()
            && self.instance.command_type
                == Some(crate::model::CommandType::RECOVER_TOLERANCE_FAULT_PROCESS)
        {
            // Fault-tolerance recovery: the child was requested before.
            return Ok(());
        }
        let map = match existing {
            Some(m) => m,
            None => self.new_relation(&task).await?,
        };
        let child = if map.process_instance_id != 0 {
            self.store
                .find_process_instance(map.process_instance_id)
                .await?
                .map(|c| c.id)
        } else {
            None
        };
        let father = super::subprocess::father_params(
            node.task_params.as_deref(),
            self.instance.global_params.as_deref(),
        );
        let param = super::subprocess::child_command_param(&map, &self.instance, &father);
        let now = self.store.clock().now();
        let command = super::subprocess::child_command(
            &self.instance,
            &task,
            (child_code, child_version),
            child,
            param,
            now,
        );
        if let Some(group) = self.definition.warning_group_id {
            self.store
                .set_definition_warning_group(child_code, group)
                .await?;
        }
        if let Some(child) = child {
            self.store
                .update_process_state(child, ExecutionStatus::RUNNING_EXECUTION, None)
                .await?;
        }
        let command_id = self.store.insert_command(&command).await?;
        info!(
            task_instance_id = id,
            command_id,
            command_type = %command.command_type,
            child = ?child,
            "sub-process command created"
        );
        Ok(())
    }

    /// The relation row of a new SUB_PROCESS task: a rerun re-points the row of the same-named
    /// task of the previous run (re-using its child); otherwise a new row without child.
    async fn new_relation(
        &self,
        task: &TaskInstance,
    ) -> Result<crate::store::ProcessInstanceMap, Error> {
        let parent_id = self.instance.id;
        if self.instance.command_type == Some(crate::model::CommandType::REPEAT_RUNNING) {
            let history = self.store.find_all_task_instances(parent_id).await?;
            for old in history
                .iter()
                .filter(|t| t.flag == Some(crate::model::Flag::NO) && t.name == task.name)
            {
                if let Some(mut m) = self
                    .store
                    .find_process_instance_map_by_parent(parent_id, old.id)
                    .await?
                {
                    m.parent_task_instance_id = task.id;
                    self.store.update_process_instance_map(&m).await?;
                    return Ok(m);
                }
            }
        }
        let mut m = crate::store::ProcessInstanceMap {
            id: 0,
            parent_process_instance_id: parent_id,
            parent_task_instance_id: task.id,
            process_instance_id: 0,
        };
        m.id = self.store.insert_process_instance_map(&m).await?;
        Ok(m)
    }

    fn arm_sub_process_poll(&self, id: i32) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SUB_PROCESS_POLL).await;
            let _ = tx.send(Event::SubProcessPoll(id)).await;
        });
    }

    /// Upstream `SubTaskProcessor.runTask`: RUNNING_EXECUTION once the child exists; the
    /// child's state once it is finished.
    async fn poll_sub_process(&mut self, id: i32) {
        let Some(map) = self
            .store
            .find_process_instance_map_by_parent(self.instance.id, id)
            .await
            .unwrap_or_else(|e| {
                warn!(task_instance_id = id, error = %e, "reading the sub-process link");
                None
            })
        else {
            return;
        };
        if map.process_instance_id == 0 {
            return;
        }
        let now = self.store.clock().now();
        let log_path = self.logic_log_path(id);
        let state = self.tasks.get(&id).and_then(|t| t.state);
        if state.is_some_and(|s| s.is_finished()) {
            self.subs.remove(&id);
            return;
        }
        if state != Some(ExecutionStatus::RUNNING_EXECUTION) {
            if let Err(e) = self
                .store
                .update_logic_task_started(id, None, now, &log_path)
                .await
            {
                error!(task_instance_id = id, error = %e, "could not record the sub-process start");
            }
            if let Some(t) = self.tasks.get_mut(&id) {
                t.state = Some(ExecutionStatus::RUNNING_EXECUTION);
                t.start_time = Some(now);
                t.log_path = Some(log_path.clone());
            }
            info!(
                task_instance_id = id,
                child = map.process_instance_id,
                "sub-process child exists"
            );
            if let Some(node) = self
                .tasks
                .get(&id)
                .and_then(|t| self.dag.nodes.get(&t.task_code))
            {
                let node = node.definition.clone();
                self.arm_logic_timeout(id, &node, now);
            }
        }
        let child = match self
            .store
            .find_process_instance(map.process_instance_id)
            .await
        {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                warn!(task_instance_id = id, error = %e, "reading the sub-process child");
                return;
            }
        };
        let child_state = child.state.unwrap_or(ExecutionStatus::RUNNING_EXECUTION);
        if child_state.is_finished() {
            if let Err(e) = self
                .store
                .update_task_state(id, child_state, None, Some(now))
                .await
            {
                error!(task_instance_id = id, error = %e, "could not record the sub-process end");
            }
            if let Some(t) = self.tasks.get_mut(&id) {
                t.state = Some(child_state);
                t.end_time = Some(now);
            }
            info!(task_instance_id = id, state = %child_state, "sub-process finished");
            self.subs.remove(&id);
            self.pending.push(id);
            return;
        }
        let stopping = self.instance.state == Some(ExecutionStatus::READY_STOP);
        if stopping && !self.subs.get(&id).is_some_and(|s| s.stop_sent) {
            // Stopped before the child existed: stop it now that it does.
            self.stop_child(id).await;
        }
    }

    /// Upstream `SubTaskProcessor.killTask`: the child goes READY_STOP and its master is told
    /// (directly when the child runs here, by STATE_EVENT_REQUEST otherwise).
    async fn stop_child(&mut self, id: i32) {
        let Ok(Some(map)) = self
            .store
            .find_process_instance_map_by_parent(self.instance.id, id)
            .await
        else {
            return;
        };
        if map.process_instance_id == 0 {
            return;
        }
        let Ok(Some(child)) = self
            .store
            .find_process_instance(map.process_instance_id)
            .await
        else {
            return;
        };
        if child.state.is_some_and(|s| s.is_finished())
            || self
                .tasks
                .get(&id)
                .and_then(|t| t.state)
                .is_some_and(|s| s.is_finished())
        {
            return;
        }
        if let Err(e) = self
            .store
            .update_process_state(child.id, ExecutionStatus::READY_STOP, None)
            .await
        {
            error!(child = child.id, error = %e, "could not stop the sub-process child");
            return;
        }
        if let Some(s) = self.subs.get_mut(&id) {
            s.stop_sent = true;
        }
        info!(
            task_instance_id = id,
            child = child.id,
            "sub-process child told to stop"
        );
        if let Some(tx) = self.instances.get(child.id) {
            tokio::spawn(async move {
                let _ = tx.send(Event::ProcessStateChange).await;
            });
            return;
        }
        let Some(host) = child.host.filter(|h| !h.is_empty()) else {
            return;
        };
        let event = crate::protocol::StateEventChangeCommand::new(
            self.instance.id,
            id,
            ExecutionStatus::READY_STOP,
            child.id,
            0,
        );
        if let Err(e) = self
            .dispatcher
            .send_to(&host, Command::StateEvent(event))
            .await
        {
            warn!(child = child.id, %host, error = %e, "stop request to the child's master not delivered");
        }
    }

    /// A sub-process child ended: wake its parent's SUB_PROCESS task, directly when the
    /// parent runs here, by STATE_EVENT_REQUEST to the parent's master otherwise (upstream
    /// `EventExecuteService` notification).
    async fn notify_parent(&self, state: ExecutionStatus) {
        let map = match self
            .store
            .find_process_instance_map_by_child(self.instance.id)
            .await
        {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(e) => {
                warn!(error = %e, "reading the parent link of a finished sub-process");
                return;
            }
        };
        let (parent, task) = (map.parent_process_instance_id, map.parent_task_instance_id);
        if let Some(tx) = self.instances.get(parent) {
            tokio::spawn(async move {
                let _ = tx.send(Event::TaskStateChange(task)).await;
            });
            return;
        }
        let host = match self.store.find_process_instance(parent).await {
            Ok(Some(p)) => p.host.filter(|h| !h.is_empty()),
            _ => None,
        };
        let Some(host) = host else {
            return;
        };
        if host == self.host {
            // Ours by address but not running here (e.g. already ended): nothing to wake.
            return;
        }
        let event =
            crate::protocol::StateEventChangeCommand::new(self.instance.id, 0, state, parent, task);
        if let Err(e) = self
            .dispatcher
            .send_to(&host, Command::StateEvent(event))
            .await
        {
            warn!(parent, %host, error = %e, "sub-process end not delivered to the parent's master");
        }
    }

    /// A timeout deadline for a DEPENDENT or SUB_PROCESS task from its start, whatever the
    /// strategy (WARN/WARNFAILED alert, FAILED acts on the task; upstream checks these on
    /// every state-wheel tick).
    fn arm_logic_timeout(
        &self,
        id: i32,
        node: &crate::store::TaskDefinition,
        start: chrono::NaiveDateTime,
    ) {
        if node.timeout_flag != crate::model::TimeoutFlag::OPEN
            || node.timeout <= 0
            || node.timeout_notify_strategy.is_none()
        {
            return;
        }
        let due =
            self.store.clock().from_db(start) + chrono::Duration::minutes(i64::from(node.timeout));
        let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = tx.send(Event::TaskTimeout(id)).await;
        });
    }

    /// DEPENDENT submit: running on this master from now, business date fixed (the instance's
    /// schedule time, else now), then evaluated at once.
    async fn start_dependent(&mut self, id: i32, node: &crate::store::TaskDefinition) {
        let now = self.store.clock().now();
        let log_path = self.logic_log_path(id);
        if let Err(e) = self
            .store
            .update_logic_task_started(id, Some(&self.host), now, &log_path)
            .await
        {
            error!(task_instance_id = id, error = %e, "could not record the dependent start");
        }
        if let Some(t) = self.tasks.get_mut(&id) {
            t.state = Some(ExecutionStatus::RUNNING_EXECUTION);
            t.host = Some(self.host.clone());
            t.start_time = Some(now);
            t.log_path = Some(log_path.clone());
        }
        let params = match super::dependent::parse(node.task_params.as_deref()) {
            Ok(p) => p,
            Err(e) => {
                error!(task_instance_id = id, error = %e, "dependent task parameters unreadable; the task fails");
                self.finish_task_locally(id, ExecutionStatus::FAILURE).await;
                return;
            }
        };
        let business = self.instance.schedule_time.unwrap_or(now);
        self.arm_logic_timeout(id, node, now);
        self.active.insert(id);
        self.dependents
            .insert(id, super::dependent::DependentRun::new(params, business));
        self.evaluate_dependents().await;
    }

    /// Evaluates every waiting DEPENDENT task; decided ones finish now, the others wait for
    /// the next deadline (or for a workflow here to end).
    async fn evaluate_dependents(&mut self) {
        let ids: Vec<i32> = self.dependents.keys().copied().collect();
        for id in ids {
            let Some(mut run) = self.dependents.remove(&id) else {
                continue;
            };
            match run.evaluate(&self.store, self.features.last24).await {
                Ok(Some(result)) => {
                    let state = if result == super::dependent::DependResult::Success {
                        ExecutionStatus::SUCCESS
                    } else {
                        ExecutionStatus::FAILURE
                    };
                    info!(task_instance_id = id, state = %state, "dependencies decided");
                    self.finish_task_locally(id, state).await;
                }
                Ok(None) => {
                    self.dependents.insert(id, run);
                }
                Err(e) => {
                    warn!(task_instance_id = id, error = %e, "dependencies could not be read; retried");
                    self.dependents.insert(id, run);
                }
            }
        }
        if !self.dependents.is_empty() && !self.dependent_timer_armed {
            self.dependent_timer_armed = true;
            let tx = self.tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(DEPENDENT_RECHECK).await;
                let _ = tx.send(Event::DependentTimer).await;
            });
        }
    }
}

/// Counts a task that reached a final state.
fn task_finished_metric(state: ExecutionStatus) {
    if state.is_finished() {
        metrics::counter!(crate::metrics::TASKS_FINISHED, "state" => state.name()).increment(1);
    }
}
