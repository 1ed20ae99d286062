//! The workflow DAG of one process instance: nodes from the task definitions, edges from the
//! relation log, the sub-graph chosen by start nodes and depend type, and the frontier
//! computation (which nodes may run once some are complete).
//!
//! Semantics follow upstream's `DagHelper` (shared/spec/workflow-execution.md section 3):
//! plain tasks, forbidden nodes, and the branches of CONDITIONS and SWITCH nodes, which the
//! workflow actor decides (`engine::logic`) and hands in as a [`Branch`]: the successors to
//! take and the ones to skip, whose skipping spreads to nodes left with no live predecessor.

use crate::model::{Flag, TaskDependType};
use crate::store::{self, TaskDefinition};
use petgraph::graphmap::DiGraphMap;
use petgraph::Direction;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone)]
pub struct Node {
    pub definition: TaskDefinition,
    pub forbidden: bool,
}

#[derive(Debug, Clone, Default)]
pub struct WorkflowDag {
    pub nodes: HashMap<i64, Node>,
    graph: DiGraphMap<i64, ()>,
}

/// The outcome of a CONDITIONS or SWITCH node: where the run goes on and what it never reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Branch {
    pub take: Vec<i64>,
    pub skip: Vec<i64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DagError {
    #[error("the relations of this definition contain a cycle through task {0}")]
    Cycle(i64),
    #[error("no task is left to run after choosing the start nodes")]
    Empty,
}

impl WorkflowDag {
    /// Builds the selected sub-graph. `start_codes` are the user's start nodes
    /// (`StartNodeList`), `recovery_codes` the task codes of `StartNodeIdList`.
    pub fn build(
        dag: &store::Dag,
        start_codes: &[i64],
        recovery_codes: &[i64],
        depend_type: TaskDependType,
    ) -> Result<WorkflowDag, DagError> {
        // A node exists for every post code whose definition was found.
        let mut deps: HashMap<i64, Vec<i64>> = HashMap::new();
        for r in &dag.relations {
            if r.post_task_code == 0 || !dag.tasks.contains_key(&r.post_task_code) {
                continue;
            }
            let e = deps.entry(r.post_task_code).or_default();
            if r.pre_task_code != 0 && !e.contains(&r.pre_task_code) {
                e.push(r.pre_task_code);
            }
        }
        let selected = select_nodes(&deps, start_codes, recovery_codes, depend_type);
        if selected.is_empty() {
            return Err(DagError::Empty);
        }
        let selected_set: HashSet<i64> = selected.iter().copied().collect();
        let mut graph = DiGraphMap::new();
        let mut nodes = HashMap::new();
        for code in &selected {
            graph.add_node(*code);
            if let Some(def) = dag.tasks.get(code) {
                nodes.insert(
                    *code,
                    Node {
                        definition: def.clone(),
                        forbidden: def.flag == Flag::NO,
                    },
                );
            }
        }
        for code in &selected {
            for pre in deps.get(code).into_iter().flatten() {
                if selected_set.contains(pre) {
                    graph.add_edge(*pre, *code, ());
                }
            }
        }
        if let Err(cycle) = petgraph::algo::toposort(&graph, None) {
            return Err(DagError::Cycle(cycle.node_id()));
        }
        Ok(WorkflowDag { nodes, graph })
    }

    pub fn contains(&self, code: i64) -> bool {
        self.nodes.contains_key(&code)
    }

    pub fn predecessors(&self, code: i64) -> impl Iterator<Item = i64> + '_ {
        self.graph.neighbors_directed(code, Direction::Incoming)
    }

    pub fn successors(&self, code: i64) -> impl Iterator<Item = i64> + '_ {
        self.graph.neighbors_directed(code, Direction::Outgoing)
    }

    /// Nodes with no incoming edge in the selected sub-graph, in code order.
    pub fn roots(&self) -> Vec<i64> {
        let mut roots: Vec<i64> = self
            .graph
            .nodes()
            .filter(|n| self.predecessors(*n).next().is_none())
            .collect();
        roots.sort_unstable();
        roots
    }

    /// Upstream `parsePostNodes`: the nodes that may start now, given the complete and
    /// skipped sets. Forbidden and complete nodes are walked through; a node all of whose
    /// predecessors are skipped is skipped too. After a CONDITIONS node, `branch` names the
    /// candidates (its chosen branch) and the nodes to skip (the other branch).
    pub fn runnable_after(
        &self,
        pre: Option<i64>,
        complete: &HashSet<i64>,
        skipped: &mut HashSet<i64>,
        branch: Option<&Branch>,
    ) -> Vec<i64> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let candidates = match (pre, branch) {
            (None, _) => self.roots(),
            (Some(_), Some(b)) => {
                for code in &b.skip {
                    if self.contains(*code) {
                        self.skip(*code, skipped);
                    }
                }
                b.take
                    .iter()
                    .copied()
                    .filter(|c| self.contains(*c))
                    .collect()
            }
            (Some(code), None) => {
                let mut s: Vec<i64> = self.successors(code).collect();
                s.sort_unstable();
                s
            }
        };
        self.walk(candidates, complete, skipped, &mut seen, &mut out);
        out
    }

    /// Upstream `setTaskNodeSkip`: the node, and every successor whose predecessors are all
    /// skipped.
    fn skip(&self, code: i64, skipped: &mut HashSet<i64>) {
        if !skipped.insert(code) {
            return;
        }
        let next: Vec<i64> = self.successors(code).collect();
        for n in next {
            if self.predecessors(n).all(|d| skipped.contains(&d)) {
                self.skip(n, skipped);
            }
        }
    }

    fn walk(
        &self,
        candidates: Vec<i64>,
        complete: &HashSet<i64>,
        skipped: &mut HashSet<i64>,
        seen: &mut HashSet<i64>,
        out: &mut Vec<i64>,
    ) {
        for n in candidates {
            if !seen.insert(n) || skipped.contains(&n) {
                continue;
            }
            let mut preds = self.predecessors(n).peekable();
            if preds.peek().is_some() && self.predecessors(n).all(|d| skipped.contains(&d)) {
                self.skip(n, skipped);
                continue;
            }
            let deps_done = self
                .predecessors(n)
                .all(|d| complete.contains(&d) || self.is_forbidden(d) || skipped.contains(&d));
            if !deps_done {
                continue;
            }
            if self.is_forbidden(n) || complete.contains(&n) {
                let mut next: Vec<i64> = self.successors(n).collect();
                next.sort_unstable();
                self.walk(next, complete, skipped, seen, out);
                continue;
            }
            out.push(n);
        }
    }

    pub fn is_forbidden(&self, code: i64) -> bool {
        self.nodes.get(&code).map(|n| n.forbidden).unwrap_or(false)
    }
}

/// Upstream `generateFlowNodeListByStartNode`: which nodes of the full graph take part.
fn select_nodes(
    deps: &HashMap<i64, Vec<i64>>,
    start_codes: &[i64],
    recovery_codes: &[i64],
    depend_type: TaskDependType,
) -> Vec<i64> {
    let mut all: Vec<i64> = deps.keys().copied().collect();
    all.sort_unstable();
    if depend_type != TaskDependType::TASK_POST && start_codes.is_empty() {
        return Vec::new();
    }
    let starts: Vec<i64> = if depend_type == TaskDependType::TASK_POST && !recovery_codes.is_empty()
    {
        recovery_codes.to_vec()
    } else {
        start_codes.to_vec()
    };
    if starts.is_empty() {
        return all;
    }
    let mut children: HashMap<i64, Vec<i64>> = HashMap::new();
    for (post, pres) in deps {
        for pre in pres {
            children.entry(*pre).or_default().push(*post);
        }
    }
    let mut out: Vec<i64> = Vec::new();
    let mut seen = HashSet::new();
    for start in starts {
        if !deps.contains_key(&start) {
            tracing::warn!(
                task_code = start,
                "start node is not part of the definition; skipped"
            );
            continue;
        }
        let mut stack = vec![start];
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            out.push(n);
            match depend_type {
                TaskDependType::TASK_ONLY => {}
                TaskDependType::TASK_POST => {
                    stack.extend(children.get(&n).into_iter().flatten().copied());
                }
                TaskDependType::TASK_PRE => {
                    if n == start || !recovery_codes.contains(&n) {
                        stack.extend(deps.get(&n).into_iter().flatten().copied());
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Priority, TimeoutFlag};
    use crate::store::Relation;

    fn def(code: i64, flag: Flag) -> TaskDefinition {
        TaskDefinition {
            code,
            version: 1,
            name: format!("t{code}"),
            project_code: 1,
            task_type: "SHELL".into(),
            task_params: None,
            flag,
            task_priority: Priority::MEDIUM,
            worker_group: None,
            environment_code: -1,
            fail_retry_times: 0,
            fail_retry_interval: 0,
            timeout_flag: TimeoutFlag::CLOSE,
            timeout_notify_strategy: None,
            timeout: 0,
            delay_time: 0,
        }
    }

    fn rel(pre: i64, post: i64) -> Relation {
        Relation {
            pre_task_code: pre,
            pre_task_version: 1,
            post_task_code: post,
            post_task_version: 1,
        }
    }

    fn dag(edges: &[(i64, i64)], forbidden: &[i64]) -> store::Dag {
        let mut d = store::Dag::default();
        for (pre, post) in edges {
            d.relations.push(rel(*pre, *post));
            for c in [*pre, *post] {
                if c != 0 {
                    let flag = if forbidden.contains(&c) {
                        Flag::NO
                    } else {
                        Flag::YES
                    };
                    d.tasks.insert(c, def(c, flag));
                }
            }
        }
        d
    }

    #[test]
    fn chain_runs_in_order() {
        let d = WorkflowDag::build(
            &dag(&[(0, 1), (1, 2), (2, 3)], &[]),
            &[],
            &[],
            TaskDependType::TASK_POST,
        )
        .unwrap();
        let mut done = HashSet::new();
        assert_eq!(
            d.runnable_after(None, &done, &mut HashSet::new(), None),
            vec![1]
        );
        done.insert(1);
        assert_eq!(
            d.runnable_after(Some(1), &done, &mut HashSet::new(), None),
            vec![2]
        );
        done.insert(2);
        assert_eq!(
            d.runnable_after(Some(2), &done, &mut HashSet::new(), None),
            vec![3]
        );
        done.insert(3);
        assert!(d
            .runnable_after(Some(3), &done, &mut HashSet::new(), None)
            .is_empty());
    }

    #[test]
    fn diamond_waits_for_both_parents() {
        let d = WorkflowDag::build(
            &dag(&[(0, 1), (1, 2), (1, 3), (2, 4), (3, 4)], &[]),
            &[],
            &[],
            TaskDependType::TASK_POST,
        )
        .unwrap();
        let mut done: HashSet<i64> = [1, 2].into_iter().collect();
        assert!(d
            .runnable_after(Some(2), &done, &mut HashSet::new(), None)
            .is_empty());
        done.insert(3);
        assert_eq!(
            d.runnable_after(Some(3), &done, &mut HashSet::new(), None),
            vec![4]
        );
    }

    #[test]
    fn forbidden_nodes_are_walked_through() {
        let d = WorkflowDag::build(
            &dag(&[(0, 1), (1, 2), (2, 3)], &[2]),
            &[],
            &[],
            TaskDependType::TASK_POST,
        )
        .unwrap();
        let done: HashSet<i64> = [1].into_iter().collect();
        assert_eq!(
            d.runnable_after(Some(1), &done, &mut HashSet::new(), None),
            vec![3]
        );
    }

    #[test]
    fn conditions_branch_skips_the_other_side() {
        // 1 -> 2 (conditions) -> 3 (success branch) -> 5 ; 2 -> 4 (failed branch) -> 5
        let d = WorkflowDag::build(
            &dag(&[(0, 1), (1, 2), (2, 3), (2, 4), (3, 5), (4, 5)], &[]),
            &[],
            &[],
            TaskDependType::TASK_POST,
        )
        .unwrap();
        let done: HashSet<i64> = [1, 2].into_iter().collect();
        let mut skipped = HashSet::new();
        let branch = Branch {
            take: vec![4],
            skip: vec![3],
        };
        assert_eq!(
            d.runnable_after(Some(2), &done, &mut skipped, Some(&branch)),
            vec![4]
        );
        assert!(skipped.contains(&3));
        // 5 waits for 4 only: 3 is skipped.
        let done: HashSet<i64> = [1, 2, 4].into_iter().collect();
        assert_eq!(
            d.runnable_after(Some(4), &done, &mut skipped, None),
            vec![5]
        );
        // A node whose every parent is skipped is skipped itself.
        let mut skipped: HashSet<i64> = HashSet::new();
        let only = Branch {
            take: vec![],
            skip: vec![3, 4],
        };
        assert!(d
            .runnable_after(Some(2), &done, &mut skipped, Some(&only))
            .is_empty());
        assert!(skipped.contains(&5));
    }

    #[test]
    fn start_nodes_select_sub_graphs() {
        let d = dag(&[(0, 1), (1, 2), (2, 3)], &[]);
        let post = WorkflowDag::build(&d, &[2], &[], TaskDependType::TASK_POST).unwrap();
        assert_eq!(post.roots(), vec![2]);
        assert!(!post.contains(1));
        let only = WorkflowDag::build(&d, &[2], &[], TaskDependType::TASK_ONLY).unwrap();
        assert_eq!(only.nodes.len(), 1);
        let pre = WorkflowDag::build(&d, &[2], &[], TaskDependType::TASK_PRE).unwrap();
        assert_eq!(pre.roots(), vec![1]);
        assert!(!pre.contains(3));
        assert_eq!(
            WorkflowDag::build(&d, &[], &[], TaskDependType::TASK_ONLY).unwrap_err(),
            DagError::Empty
        );
    }
}
