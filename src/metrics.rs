//! The figures the master exports, by name, with their help text and histogram buckets.
//!
//! Code anywhere in the crate records through the `metrics` facade with these names; that
//! costs nothing until [`install`] sets the process-wide Prometheus recorder, which happens
//! only when `dsmaster.metrics.port` starts the HTTP server (`server::http`). Gauges that
//! are a reading of state (workflows in memory, the registry session, commands waiting)
//! are set by the server just before each scrape rather than kept up to date on the hot
//! path.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Workflow instances whose actor runs in this process.
pub const WORKFLOWS_RUNNING: &str = "dsmaster_workflows_running";
/// Workflow actors started (new instances and resumed ones).
pub const WORKFLOWS_STARTED: &str = "dsmaster_workflows_started_total";
/// Workflow instances that reached a final state here, by `state`.
pub const WORKFLOWS_FINISHED: &str = "dsmaster_workflows_finished_total";
/// Commands taken from `t_ds_command` (an instance was created or resumed for them).
pub const COMMANDS_TAKEN: &str = "dsmaster_commands_taken_total";
/// Commands moved to `t_ds_error_command`.
pub const COMMANDS_FAILED: &str = "dsmaster_commands_failed_total";
/// Rows in `t_ds_command` (every master's), read at scrape time.
pub const COMMANDS_WAITING: &str = "dsmaster_commands_waiting";
/// From a command's `update_time` to the moment this master took it.
pub const COMMAND_PICKUP: &str = "dsmaster_command_pickup_seconds";
/// From a task's result reaching the workflow to the next task's request written to a worker.
pub const TASK_HOP: &str = "dsmaster_task_hop_seconds";
/// Task requests written to a worker's link.
pub const TASKS_DISPATCHED: &str = "dsmaster_tasks_dispatched_total";
/// Task acknowledgements made durable.
pub const TASKS_ACKED: &str = "dsmaster_tasks_acked_total";
/// Task instances that reached a final state, by `state`.
pub const TASKS_FINISHED: &str = "dsmaster_tasks_finished_total";
/// Open protocol links, by `direction`: `out` (dialed by us: workers) or `in` (accepted).
pub const LINKS_OPEN: &str = "dsmaster_links_open";
/// 1 while this master holds its ZooKeeper session (the write fence is open), else 0.
pub const REGISTRY_SESSION: &str = "dsmaster_registry_session_up";
/// Our master slot index (`-1` without one) and the number of masters it is out of.
pub const MASTER_SLOT: &str = "dsmaster_master_slot";
pub const MASTERS: &str = "dsmaster_masters";
/// Database statements by `op` (`exec`, `insert`, `query`, `commit`, `rollback`).
pub const DB_STATEMENT: &str = "dsmaster_db_statement_seconds";
/// Failed database statements by `op`.
pub const DB_ERRORS: &str = "dsmaster_db_errors_total";
/// Quartz triggers this master fired (a SCHEDULER command was inserted, or the fire was
/// dropped because the schedule or workflow is offline).
pub const SCHEDULE_FIRES: &str = "dsmaster_schedule_fires_total";
/// From a trigger's scheduled fire time to the moment we fired it.
pub const SCHEDULE_FIRE_DELAY: &str = "dsmaster_schedule_fire_delay_seconds";
/// Always 1, labelled with `version`, the wire `dialect` and the `database` server.
pub const INFO: &str = "dsmaster_info";

/// Latency buckets from half a millisecond (a hop, a statement) to a minute (a pickup after
/// an outage), in seconds.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// The process-wide recorder, installed on first use. Several masters in one process (tests)
/// share it.
pub fn install() -> Result<&'static PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| format!("installing the metrics recorder: {e}"))?;
            describe();
            Ok(handle)
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!(
        WORKFLOWS_RUNNING,
        "Workflow instances whose actor runs in this master"
    );
    describe_counter!(
        WORKFLOWS_STARTED,
        "Workflow actors started (new or resumed instances)"
    );
    describe_counter!(
        WORKFLOWS_FINISHED,
        "Workflow instances that reached a final state, by state"
    );
    describe_counter!(COMMANDS_TAKEN, "Commands taken from t_ds_command");
    describe_counter!(COMMANDS_FAILED, "Commands moved to t_ds_error_command");
    describe_gauge!(
        COMMANDS_WAITING,
        "Rows in t_ds_command (all masters), read at scrape time"
    );
    describe_histogram!(
        COMMAND_PICKUP,
        Unit::Seconds,
        "From a command's update_time to this master taking it (DATETIME: whole seconds on MySQL)"
    );
    describe_histogram!(
        TASK_HOP,
        Unit::Seconds,
        "From a task result reaching its workflow to the next task request written to a worker"
    );
    describe_counter!(TASKS_DISPATCHED, "Task requests written to a worker link");
    describe_counter!(TASKS_ACKED, "Task acknowledgements made durable");
    describe_counter!(
        TASKS_FINISHED,
        "Task instances that reached a final state, by state"
    );
    describe_gauge!(
        LINKS_OPEN,
        "Open protocol links by direction (out: dialed, to workers)"
    );
    describe_gauge!(REGISTRY_SESSION, "1 while the ZooKeeper session is held");
    describe_gauge!(MASTER_SLOT, "This master's slot index, -1 without one");
    describe_gauge!(MASTERS, "Masters registered in ZooKeeper (the slot count)");
    describe_histogram!(
        DB_STATEMENT,
        Unit::Seconds,
        "Database statement latency by op"
    );
    describe_counter!(DB_ERRORS, "Failed database statements by op");
    describe_counter!(SCHEDULE_FIRES, "Quartz triggers fired by this master");
    describe_histogram!(
        SCHEDULE_FIRE_DELAY,
        Unit::Seconds,
        "From a trigger's scheduled fire time to its firing"
    );
    describe_gauge!(INFO, "Build and cluster facts as labels");
    // Counters without labels show 0 from the first scrape, not only after their first event.
    for name in [
        WORKFLOWS_STARTED,
        COMMANDS_TAKEN,
        COMMANDS_FAILED,
        TASKS_DISPATCHED,
        TASKS_ACKED,
        SCHEDULE_FIRES,
    ] {
        metrics::counter!(name).increment(0);
    }
}

/// Records a duration into a histogram, in seconds.
pub fn observe(name: &'static str, elapsed: std::time::Duration) {
    metrics::histogram!(name).record(elapsed.as_secs_f64());
}
