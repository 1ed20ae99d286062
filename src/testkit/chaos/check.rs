//! The row check after a round: every instance final, no task executed twice (counted from
//! the workers' own records, not from the rows the masters wrote), no task row left open
//! under a final instance, nothing left in `t_ds_command`, nothing new in
//! `t_ds_error_command`.

use crate::testkit::worker::parse_record_line;
use crate::testkit::Error;
use mysql_async::prelude::Queryable;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// Instance and task states that still need an owner or a worker (2.0.5 `ExecutionStatus`:
/// submitted, running, ready to pause/stop, waiting for a thread or a dependency, delayed).
pub const NOT_FINAL: &str = "0, 1, 2, 4, 10, 11, 12";
const SUCCESS: i32 = 7;

/// What one round left behind.
#[derive(Debug, Default, Clone)]
pub struct RoundCheck {
    /// Workflows started this round (start commands confirmed).
    pub expected: usize,
    /// Start commands whose insert failed without an answer: each may or may not have
    /// been written.
    pub uncertain: usize,
    /// Instances created for them.
    pub instances: usize,
    pub success: usize,
    /// Final instances that did not succeed: (id, state).
    pub other_final: Vec<(i32, i32)>,
    /// Instances not final when the check ran: (id, state).
    pub not_final: Vec<(i32, i32)>,
    /// Task executions recorded by the workers.
    pub executions: usize,
    /// Tasks executed more than once where an earlier run's worker was not lost: what no
    /// master may do. One line per task.
    pub twice: Vec<String>,
    /// Extra executions of tasks whose earlier run was on a worker this round killed or cut
    /// off: upstream re-runs those too (the worker is dead as far as the cluster can tell).
    pub reruns_worker_lost: usize,
    /// Task rows still open under a final instance: (task id, instance id, state).
    pub orphan_rows: Vec<(i32, i32, i32)>,
    pub leftover_commands: usize,
    pub error_commands: usize,
}

impl RoundCheck {
    /// Workflows whose command vanished without an instance or an error row.
    pub fn lost(&self) -> usize {
        self.expected
            .saturating_sub(self.instances + self.leftover_commands + self.error_commands)
    }

    /// Whether the round is clean: everything succeeded, nothing twice, nothing left.
    pub fn clean(&self) -> bool {
        self.instances >= self.expected
            && self.instances <= self.expected + self.uncertain
            && self.success == self.instances
            && self.twice.is_empty()
            && self.orphan_rows.is_empty()
            && self.leftover_commands == 0
            && self.error_commands == 0
    }
}

/// One execution a worker recorded: which incarnation ran it, and when the request came.
#[derive(Debug, Clone)]
pub struct Run {
    /// The worker incarnation (its record file's stem, `worker-1-2`).
    pub worker: String,
    pub at_ms: i64,
    pub task_instance_id: i32,
}

/// Reads every record file under `dirs`: requests for instances above `first_instance`.
pub fn runs_since(dirs: &[&Path], first_instance: i32) -> Result<Vec<Run>, Error> {
    let mut runs = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("reading a record dir", e))?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("rec") {
                continue;
            }
            let worker = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            for (at_ms, result, pid, tid) in text.lines().filter_map(parse_record_line) {
                if !result && pid > first_instance {
                    runs.push(Run {
                        worker: worker.clone(),
                        at_ms,
                        task_instance_id: tid,
                    });
                }
            }
        }
    }
    Ok(runs)
}

fn sql(what: &'static str) -> impl Fn(mysql_async::Error) -> Error {
    move |e| Error::Fixture(format!("chaos check, {what}: {e}"))
}

/// Checks the instances above `first_instance` (this round's).
///
/// `lost_workers`: worker incarnations this round killed or cut off; `errors_before`: the
/// error-command count when the round started.
pub async fn check_round(
    conn: &mut mysql_async::Conn,
    first_instance: i32,
    expected: usize,
    uncertain: usize,
    errors_before: usize,
    record_dirs: &[&Path],
    lost_workers: &HashSet<String>,
) -> Result<RoundCheck, Error> {
    let mut check = RoundCheck {
        expected,
        uncertain,
        ..RoundCheck::default()
    };
    let instances: Vec<(i32, i32)> = conn
        .exec(
            "SELECT id, state FROM t_ds_process_instance WHERE id > ? ORDER BY id",
            (first_instance,),
        )
        .await
        .map_err(sql("instances"))?;
    let not_final: HashSet<i32> = NOT_FINAL
        .split(", ")
        .filter_map(|s| s.parse().ok())
        .collect();
    check.instances = instances.len();
    for (id, state) in instances {
        if state == SUCCESS {
            check.success += 1;
        } else if not_final.contains(&state) {
            check.not_final.push((id, state));
        } else {
            check.other_final.push((id, state));
        }
    }
    check.orphan_rows = conn
        .exec(
            format!(
                "SELECT t.id, t.process_instance_id, t.state FROM t_ds_task_instance t \
                 JOIN t_ds_process_instance p ON p.id = t.process_instance_id \
                 WHERE p.id > ? AND p.state NOT IN ({NOT_FINAL}) AND t.state IN ({NOT_FINAL})"
            ),
            (first_instance,),
        )
        .await
        .map_err(sql("orphan task rows"))?;
    let leftover: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM t_ds_command")
        .await
        .map_err(sql("commands"))?;
    check.leftover_commands = usize::try_from(leftover.unwrap_or(0)).unwrap_or(0);
    let errors: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM t_ds_error_command")
        .await
        .map_err(sql("error commands"))?;
    check.error_commands = usize::try_from(errors.unwrap_or(0))
        .unwrap_or(0)
        .saturating_sub(errors_before);

    let tasks: Vec<(i32, i32, i64, String)> = conn
        .exec(
            "SELECT id, process_instance_id, task_code, name FROM t_ds_task_instance \
             WHERE process_instance_id > ?",
            (first_instance,),
        )
        .await
        .map_err(sql("task rows"))?;
    let task_of: HashMap<i32, (i32, i64, String)> = tasks
        .into_iter()
        .map(|(id, p, c, n)| (id, (p, c, n)))
        .collect();
    let runs = runs_since(record_dirs, first_instance)?;
    check.executions = runs.len();
    let mut by_task: BTreeMap<(i32, i64), (String, Vec<Run>)> = BTreeMap::new();
    for run in runs {
        let (key, name) = match task_of.get(&run.task_instance_id) {
            Some((p, c, n)) => ((*p, *c), n.clone()),
            // A request for a row that no longer exists: keyed by itself, so it is
            // counted but never merged with another task's runs.
            None => (
                (0, -i64::from(run.task_instance_id)),
                format!("row {} (missing)", run.task_instance_id),
            ),
        };
        by_task
            .entry(key)
            .or_insert_with(|| (name, Vec::new()))
            .1
            .push(run);
    }
    for ((pid, _), (name, mut runs)) in by_task {
        if runs.len() < 2 {
            continue;
        }
        runs.sort_by_key(|r| r.at_ms);
        let earlier = &runs[..runs.len() - 1];
        if earlier.iter().all(|r| lost_workers.contains(&r.worker)) {
            check.reruns_worker_lost += earlier.len();
        } else {
            let detail: Vec<String> = runs
                .iter()
                .map(|r| format!("row {} on {}", r.task_instance_id, r.worker))
                .collect();
            check
                .twice
                .push(format!("instance {pid} task {name}: {}", detail.join(", ")));
        }
    }
    Ok(check)
}
