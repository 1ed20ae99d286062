//! Live view of the workers registered under `/nodes/worker/<group>/<ip:port>`, each with its
//! decoded heartbeat, published on a `tokio::sync::watch` channel as a [`WorkerMap`].
//!
//! This file owns worker *discovery* (spec `registry.md` §6.1 sources 1 and 2): the Java
//! master's `ServerNodeManager` keeps `group → {ip:port}` and `ip:port → heartbeat` from a
//! TreeCache; we keep the same two facts in one map. Merging with `t_ds_worker_group` rows
//! and host selection belong to the store and the dispatcher, not here.
//!
//! Membership is driven by ZooKeeper one-shot watches only (no polling): a child watch on
//! `/nodes/worker`, a child watch per group directory and a data watch per worker node. One-shot
//! watches work against every server version (3.4 included, unlike persistent recursive
//! watches) and are re-registered by the client after a reconnect with the last seen zxid, so
//! changes made while we were disconnected are still delivered. Every armed watch carries a
//! generation number; a watch that fires after its target was dropped or re-armed is ignored,
//! so no duplicate watches accumulate.
//!
//! Group names are published trimmed and lower-cased (what Java workers write anyway); a
//! heartbeat that does not decode (13 or 14 fields, Java number syntax) is published as `None`
//! with one warning per bad streak, never a crash.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tokio::sync::watch;
use zookeeper_client as zk;

use super::heartbeat::Heartbeat;

/// `group → (ip:port → heartbeat)`; `None` = node present but its data does not decode
/// (empty right after a reconnect, malformed, or an unknown generation).
pub type WorkerMap = BTreeMap<String, BTreeMap<String, Option<Heartbeat>>>;

/// Parent of all worker group directories (relative to the namespace).
pub const WORKERS_PATH: &str = "/nodes/worker";

/// Normalised worker group name, as Java workers register it: trimmed, lower-cased, blank →
/// `default`.
pub fn normalize_group(group: &str) -> String {
    let g = group.trim().to_lowercase();
    if g.is_empty() {
        "default".to_string()
    } else {
        g
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Root,
    Group(String),
    Node(String, String),
}

impl Target {
    fn path(&self) -> String {
        match self {
            Target::Root => WORKERS_PATH.to_string(),
            Target::Group(g) => format!("{WORKERS_PATH}/{g}"),
            Target::Node(g, n) => format!("{WORKERS_PATH}/{g}/{n}"),
        }
    }
}

/// A fired watch (`Some(event)`) or a retry timer (`None`) for a target armed at `gen`.
type Wake = (Target, u64, Option<zk::WatchedEvent>);

#[derive(Default)]
struct NodeState {
    gen: u64,
    heartbeat: Option<Heartbeat>,
    bad: bool,
}

#[derive(Default)]
struct GroupState {
    gen: u64,
    nodes: BTreeMap<String, NodeState>,
}

struct Tree {
    client: zk::Client,
    next_gen: u64,
    root_gen: u64,
    groups: BTreeMap<String, GroupState>,
    pending: FuturesUnordered<BoxFuture<'static, Wake>>,
}

/// Why the watch loop ends.
struct Terminated;

const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Runs until the session ends: keeps `tx` equal to the current worker tree.
pub(super) async fn watch_workers(client: zk::Client, tx: watch::Sender<WorkerMap>) {
    let mut tree = Tree {
        client,
        next_gen: 1,
        root_gen: 0,
        groups: BTreeMap::new(),
        pending: FuturesUnordered::new(),
    };
    let mut todo = VecDeque::from([Target::Root]);
    loop {
        if tree.process(&mut todo).await.is_err() {
            tracing::info!("worker watch stopped: ZooKeeper session ended");
            return;
        }
        tree.publish(&tx);
        let Some((target, gen, event)) = tree.pending.next().await else {
            // Nothing armed: cannot happen while the root is watched or retried.
            tokio::time::sleep(RETRY_DELAY).await;
            todo.push_back(Target::Root);
            continue;
        };
        if let Some(event) = &event {
            if event.event_type == zk::EventType::Session && event.session_state.is_terminated() {
                tracing::info!(state = ?event.session_state, "worker watch stopped");
                return;
            }
            // Anything else (node events; the client sends no other state events to one-shot
            // watches) re-arms the target.
            tracing::trace!(path = %event.path, kind = ?event.event_type, "worker registry event");
        }
        if tree.current_gen(&target) == Some(gen) {
            todo.push_back(target);
        }
    }
}

fn is_terminal(err: &zk::Error) -> bool {
    matches!(
        err,
        zk::Error::SessionExpired | zk::Error::ClientClosed | zk::Error::AuthFailed
    )
}

impl Tree {
    fn gen(&mut self) -> u64 {
        self.next_gen += 1;
        self.next_gen
    }

    fn current_gen(&self, target: &Target) -> Option<u64> {
        match target {
            Target::Root => Some(self.root_gen),
            Target::Group(g) => self.groups.get(g).map(|s| s.gen),
            Target::Node(g, n) => self.groups.get(g)?.nodes.get(n).map(|s| s.gen),
        }
    }

    fn push_watch(&mut self, target: Target, gen: u64, watcher: zk::OneshotWatcher) {
        self.pending.push(
            async move {
                let event = watcher.changed().await;
                (target, gen, Some(event))
            }
            .boxed(),
        );
    }

    fn push_retry(&mut self, target: Target, err: &zk::Error) {
        tracing::warn!(path = %target.path(), error = %err, "worker registry read failed; retrying");
        let gen = self.current_gen(&target).unwrap_or(0);
        self.pending.push(
            async move {
                tokio::time::sleep(RETRY_DELAY).await;
                (target, gen, None)
            }
            .boxed(),
        );
    }

    async fn process(&mut self, todo: &mut VecDeque<Target>) -> Result<(), Terminated> {
        while let Some(target) = todo.pop_front() {
            match &target {
                Target::Root => self.arm_root(todo).await?,
                Target::Group(g) => {
                    let g = g.clone();
                    self.arm_group(&g, todo).await?
                }
                Target::Node(g, n) => {
                    let (g, n) = (g.clone(), n.clone());
                    self.arm_node(&g, &n).await?
                }
            }
        }
        Ok(())
    }

    async fn arm_root(&mut self, todo: &mut VecDeque<Target>) -> Result<(), Terminated> {
        let client = self.client.clone();
        match client.list_and_watch_children(WORKERS_PATH).await {
            Ok((children, watcher)) => {
                let gen = self.gen();
                self.root_gen = gen;
                self.push_watch(Target::Root, gen, watcher);
                self.groups.retain(|g, _| children.contains(g));
                for g in children {
                    if !self.groups.contains_key(&g) {
                        self.groups.insert(g.clone(), GroupState::default());
                        todo.push_back(Target::Group(g));
                    }
                }
                Ok(())
            }
            Err(zk::Error::NoNode) => {
                // `/nodes/worker` is created at connect; if someone removed it, wait for it.
                self.groups.clear();
                match client.check_and_watch_stat(WORKERS_PATH).await {
                    Ok((Some(_), _)) => {
                        todo.push_back(Target::Root);
                        Ok(())
                    }
                    Ok((None, watcher)) => {
                        let gen = self.gen();
                        self.root_gen = gen;
                        self.push_watch(Target::Root, gen, watcher);
                        Ok(())
                    }
                    Err(err) if is_terminal(&err) => Err(Terminated),
                    Err(err) => {
                        self.push_retry(Target::Root, &err);
                        Ok(())
                    }
                }
            }
            Err(err) if is_terminal(&err) => Err(Terminated),
            Err(err) => {
                self.push_retry(Target::Root, &err);
                Ok(())
            }
        }
    }

    async fn arm_group(
        &mut self,
        group: &str,
        todo: &mut VecDeque<Target>,
    ) -> Result<(), Terminated> {
        if !self.groups.contains_key(group) {
            return Ok(());
        }
        let target = Target::Group(group.to_string());
        let client = self.client.clone();
        match client.list_and_watch_children(&target.path()).await {
            Ok((children, watcher)) => {
                let gen = self.gen();
                self.push_watch(target, gen, watcher);
                let Some(state) = self.groups.get_mut(group) else {
                    return Ok(());
                };
                state.gen = gen;
                state.nodes.retain(|n, _| children.contains(n));
                for n in children {
                    if !state.nodes.contains_key(&n) {
                        state.nodes.insert(n.clone(), NodeState::default());
                        todo.push_back(Target::Node(group.to_string(), n));
                    }
                }
                Ok(())
            }
            Err(zk::Error::NoNode) => {
                // Group directory removed (never done by Java); the root watch sees it again
                // if it comes back.
                self.groups.remove(group);
                Ok(())
            }
            Err(err) if is_terminal(&err) => Err(Terminated),
            Err(err) => {
                self.push_retry(target, &err);
                Ok(())
            }
        }
    }

    async fn arm_node(&mut self, group: &str, node: &str) -> Result<(), Terminated> {
        let present = self
            .groups
            .get(group)
            .is_some_and(|g| g.nodes.contains_key(node));
        if !present {
            return Ok(());
        }
        let target = Target::Node(group.to_string(), node.to_string());
        let path = target.path();
        let client = self.client.clone();
        match client.get_and_watch_data(&path).await {
            Ok((data, _stat, watcher)) => {
                let gen = self.gen();
                self.push_watch(target, gen, watcher);
                let Some(state) = self
                    .groups
                    .get_mut(group)
                    .and_then(|g| g.nodes.get_mut(node))
                else {
                    return Ok(());
                };
                state.gen = gen;
                let text = String::from_utf8_lossy(&data);
                match Heartbeat::decode(&text) {
                    Ok(hb) => {
                        state.heartbeat = Some(hb);
                        state.bad = false;
                    }
                    Err(err) => {
                        if text.is_empty() {
                            tracing::debug!(%path, "worker heartbeat empty (reconnect or old worker)");
                        } else if !state.bad {
                            tracing::warn!(%path, error = %err, "worker heartbeat does not decode; worker kept without heartbeat");
                        }
                        state.bad = !text.is_empty();
                        state.heartbeat = None;
                    }
                }
                Ok(())
            }
            Err(zk::Error::NoNode) => {
                if let Some(g) = self.groups.get_mut(group) {
                    g.nodes.remove(node);
                }
                Ok(())
            }
            Err(err) if is_terminal(&err) => Err(Terminated),
            Err(err) => {
                self.push_retry(target, &err);
                Ok(())
            }
        }
    }

    fn snapshot(&self) -> WorkerMap {
        let mut map = WorkerMap::new();
        for (group, state) in &self.groups {
            let entry = map.entry(normalize_group(group)).or_default();
            for (node, ns) in &state.nodes {
                entry
                    .entry(node.clone())
                    .or_insert_with(|| ns.heartbeat.clone());
            }
        }
        map
    }

    fn publish(&self, tx: &watch::Sender<WorkerMap>) {
        let snapshot = self.snapshot();
        tx.send_if_modified(|current| {
            if *current == snapshot {
                false
            } else {
                tracing::debug!(
                    groups = snapshot.len(),
                    workers = snapshot.values().map(BTreeMap::len).sum::<usize>(),
                    "worker registry view updated"
                );
                *current = snapshot;
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_normalised() {
        assert_eq!(normalize_group("  GPU "), "gpu");
        assert_eq!(normalize_group(""), "default");
        assert_eq!(normalize_group("   "), "default");
        assert_eq!(normalize_group("default"), "default");
    }
}
