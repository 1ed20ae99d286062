//! Dispatch: the global priority queue of tasks waiting for a worker, worker selection from
//! the live registry view, and sending TASK_EXECUTE_REQUEST over the one long-lived link per
//! worker (workers answer only on the connection a task arrived on, so links are reused for
//! every frame to that worker).
//!
//! Order is upstream's effective `TaskPriority` order: process instance priority, process
//! instance id, task instance id. A task whose group has no usable worker waits until the
//! registry view changes (or a back-off deadline passes), never in a fixed polling loop.

use crate::protocol::{Command, Connector, Link, TaskExecuteRequestCommand, TaskExecutionContext};
use crate::registry::WorkerMap;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Called once a task's request was written to a worker.
pub type Notify = Arc<dyn Fn(Dispatched) + Send + Sync>;

/// A task that reached a worker.
#[derive(Clone)]
pub struct Dispatched {
    pub task_instance_id: i32,
    /// The worker's registry address `ip:port` (what `t_ds_task_instance.host` holds).
    pub host: String,
    pub link: Link,
    /// The row's `host` and `submit_time` were written before the request went out.
    pub written: Option<chrono::NaiveDateTime>,
}

/// One task waiting for a worker.
pub struct DispatchItem {
    /// Process instance priority code (0 highest); NULL priorities count as MEDIUM.
    pub process_instance_priority: i32,
    pub process_instance_id: i32,
    pub task_instance_id: i32,
    pub worker_group: String,
    pub context: TaskExecutionContext,
    pub notify: Notify,
}

enum Msg {
    Submit(Box<DispatchItem>),
    Cancel(i32),
}

/// Cheap handle to the dispatcher service.
#[derive(Clone)]
pub struct Dispatcher {
    tx: mpsc::UnboundedSender<Msg>,
    connector: Connector,
    keeper: Keeper,
    db_groups: DbGroups,
}

/// Worker groups defined in `t_ds_worker_group` (name to `addr_list`).
type DbGroups = Arc<std::sync::RwLock<HashMap<String, Vec<String>>>>;

/// Keeps the link to every worker we dispatched to alive: when one drops while the worker is
/// still registered, it dials again (with back-off) and announces the new link, so owners of
/// tasks on that worker can send PROCESS_HOST_UPDATE. A Java worker answers only on the
/// connection its task is bound to, so without this a result would wait on the worker until
/// the next frame to it happened to reconnect (upstream leaves that gap open).
#[derive(Clone)]
struct Keeper {
    connector: Connector,
    workers: watch::Receiver<WorkerMap>,
    watched: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    reconnected: tokio::sync::broadcast::Sender<String>,
}

impl Keeper {
    fn watch(&self, host: &str, link: Link) {
        let fresh = match self.watched.lock() {
            Ok(mut w) => w.insert(host.to_string()),
            Err(_) => false,
        };
        if !fresh {
            return;
        }
        let keeper = self.clone();
        let host = host.to_string();
        tokio::spawn(async move {
            let mut link = link;
            loop {
                link.closed().await;
                let mut pause = Duration::from_millis(200);
                loop {
                    if !is_registered(&keeper.workers.borrow(), &host) {
                        tracing::info!(%host, "worker left the registry; its link is not kept");
                        if let Ok(mut w) = keeper.watched.lock() {
                            w.remove(&host);
                        }
                        return;
                    }
                    match keeper.connector.link(&host).await {
                        Ok(l) => {
                            tracing::info!(%host, "worker link re-established");
                            let _ = keeper.reconnected.send(host.clone());
                            link = l;
                            break;
                        }
                        Err(crate::protocol::LinkError::Shutdown { .. }) => return,
                        Err(e) => {
                            tracing::warn!(%host, error = %e, retry_in = ?pause, "worker link lost; reconnecting");
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(Duration::from_secs(10));
                        }
                    }
                }
            }
        });
    }
}

fn is_registered(map: &WorkerMap, host: &str) -> bool {
    map.values().any(|group| group.contains_key(host))
}

impl Dispatcher {
    /// Starts the service on the current runtime.
    /// With a `store`, each task row gets its worker and submit time *before* the request is
    /// sent (a conditional write that fails once the instance is not ours): a master that
    /// takes the instance over then knows the task is on that worker and rebinds it instead
    /// of running it a second time.
    pub fn start(
        connector: Connector,
        workers: watch::Receiver<WorkerMap>,
        store: Option<crate::store::Store>,
    ) -> Dispatcher {
        let (tx, rx) = mpsc::unbounded_channel();
        let keeper = Keeper {
            connector: connector.clone(),
            workers: workers.clone(),
            watched: Arc::default(),
            reconnected: tokio::sync::broadcast::channel(64).0,
        };
        let db_groups: DbGroups = Arc::default();
        let service = Service {
            db_groups: db_groups.clone(),
            keeper: keeper.clone(),
            rx,
            workers,
            connector: connector.clone(),
            queue: BinaryHeap::new(),
            items: HashMap::new(),
            cursor: HashMap::new(),
            store,
        };
        tokio::spawn(service.run());
        Dispatcher {
            tx,
            connector,
            keeper,
            db_groups,
        }
    }

    /// The worker groups of `t_ds_worker_group` (upstream re-reads them every 10 s): a group
    /// named there resolves to the listed addresses that are alive, replacing the registry's
    /// group of that name whenever that intersection is not empty.
    pub fn set_db_groups(&self, groups: HashMap<String, Vec<String>>) {
        if let Ok(mut g) = self.db_groups.write() {
            *g = groups;
        }
    }

    /// Worker addresses whose link was re-established after a loss.
    pub fn reconnections(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.keeper.reconnected.subscribe()
    }

    pub fn submit(&self, item: DispatchItem) {
        if self.tx.send(Msg::Submit(Box::new(item))).is_err() {
            tracing::warn!("dispatcher stopped; task not queued");
        }
    }

    /// Removes a task that has not been sent yet (stop, pause); harmless if it was sent.
    pub fn cancel(&self, task_instance_id: i32) {
        let _ = self.tx.send(Msg::Cancel(task_instance_id));
    }

    /// Sends a frame to a worker over its long-lived link (kill, host update).
    pub async fn send_to(
        &self,
        host: &str,
        command: Command,
    ) -> Result<(), crate::protocol::LinkError> {
        let link = self.connector.link(host).await?;
        link.send(command)
    }
}

type Key = Reverse<(i32, i32, i32)>;

struct Service {
    db_groups: DbGroups,
    keeper: Keeper,
    rx: mpsc::UnboundedReceiver<Msg>,
    workers: watch::Receiver<WorkerMap>,
    connector: Connector,
    queue: BinaryHeap<Key>,
    items: HashMap<i32, Box<DispatchItem>>,
    /// Round-robin position per worker group.
    cursor: HashMap<String, usize>,
    store: Option<crate::store::Store>,
}

/// Why a task was not sent.
enum NotSent {
    /// No worker now (or a passing error): the task waits.
    Wait(String),
    /// The instance is no longer ours (or the fence refuses): the task is dropped.
    Drop(String),
}

impl Service {
    async fn run(mut self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let stalled = self.drain().await;
            if stalled {
                tokio::select! {
                    msg = self.rx.recv() => match msg {
                        Some(m) => self.accept(m),
                        None => return,
                    },
                    changed = self.workers.changed() => {
                        if changed.is_err() { return; }
                        backoff = Duration::from_millis(100);
                    }
                    _ = tokio::time::sleep(backoff) => {
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            } else {
                backoff = Duration::from_millis(100);
                match self.rx.recv().await {
                    Some(m) => self.accept(m),
                    None => return,
                }
            }
            while let Ok(m) = self.rx.try_recv() {
                self.accept(m);
            }
        }
    }

    fn accept(&mut self, msg: Msg) {
        match msg {
            Msg::Submit(item) => {
                let key = Reverse((
                    item.process_instance_priority,
                    item.process_instance_id,
                    item.task_instance_id,
                ));
                if self.items.insert(item.task_instance_id, item).is_none() {
                    self.queue.push(key);
                }
            }
            Msg::Cancel(id) => {
                self.items.remove(&id);
            }
        }
    }

    /// Sends every queued task that has a usable worker; returns true if some had none.
    async fn drain(&mut self) -> bool {
        let mut waiting = Vec::new();
        while let Some(key) = self.queue.pop() {
            let id = key.0 .2;
            let Some(item) = self.items.remove(&id) else {
                continue;
            };
            match self.send(&item).await {
                Ok(d) => (item.notify)(d),
                Err(NotSent::Drop(reason)) => {
                    tracing::warn!(task_instance_id = id, %reason, "task not dispatched: its instance is not ours any more");
                }
                Err(NotSent::Wait(reason)) => {
                    tracing::debug!(task_instance_id = id, group = %item.worker_group, %reason, "task waits for a worker");
                    self.items.insert(id, item);
                    waiting.push(key);
                }
            }
        }
        let stalled = !waiting.is_empty();
        self.queue.extend(waiting);
        stalled
    }

    async fn send(&mut self, item: &DispatchItem) -> Result<Dispatched, NotSent> {
        let candidates = {
            let db = self.db_groups.read().map(|g| g.clone()).unwrap_or_default();
            usable_workers(&self.workers.borrow(), &db, &item.worker_group)
        };
        if candidates.is_empty() {
            return Err(NotSent::Wait(format!(
                "no usable worker in group {:?}",
                item.worker_group
            )));
        }
        let start = self.cursor.entry(item.worker_group.clone()).or_insert(0);
        let first = *start % candidates.len();
        *start = start.wrapping_add(1);
        // Built once, in the cluster's dialect (2.0.6+ contexts carry endTime), escaped in one
        // pass; every attempt below sends the same bytes.
        let dialect = self.connector.options().dialect;
        let body = TaskExecuteRequestCommand::body_for(&item.context, dialect)
            .map_err(|e| NotSent::Wait(e.to_string()))?;
        let mut last_error = String::new();
        for i in 0..candidates.len() {
            let host = &candidates[(first + i) % candidates.len()];
            match self.connector.link(host).await {
                Ok(link) => {
                    let written = match &self.store {
                        None => None,
                        Some(store) => {
                            let at = store.clock().now();
                            match store
                                .update_task_dispatched(item.task_instance_id, host, at)
                                .await
                            {
                                Ok(()) => Some(at),
                                Err(e) if e.is_ownership() => {
                                    return Err(NotSent::Drop(e.to_string()))
                                }
                                Err(e) => return Err(NotSent::Wait(e.to_string())),
                            }
                        }
                    };
                    match link.send(Command::Other(
                        crate::protocol::CommandType::TaskExecuteRequest,
                        body.clone(),
                    )) {
                        Ok(()) => {
                            self.keeper.watch(host, link.clone());
                            return Ok(Dispatched {
                                task_instance_id: item.task_instance_id,
                                host: host.clone(),
                                link,
                                written,
                            });
                        }
                        Err(e) => last_error = format!("sending to {host}: {e}"),
                    }
                }
                Err(e) => last_error = format!("connecting to {host}: {e}"),
            }
            tracing::warn!(task_instance_id = item.task_instance_id, %host, error = %last_error, "dispatch attempt failed");
        }
        Err(NotSent::Wait(last_error))
    }
}

/// Workers of a group that may take tasks: a decodable heartbeat whose status is NORMAL (0),
/// as upstream's default LowerWeight selector requires. Sorted for a stable rotation. A group
/// defined in `t_ds_worker_group` is its listed addresses that are alive (in any registry
/// group), when there are any; otherwise the registry group of that name.
fn usable_workers(map: &WorkerMap, db: &HashMap<String, Vec<String>>, group: &str) -> Vec<String> {
    let group = if group.trim().is_empty() {
        "default"
    } else {
        group
    };
    let healthy = |hb: &Option<crate::registry::Heartbeat>| {
        hb.as_ref().map(|h| h.server_status == 0).unwrap_or(false)
    };
    if let Some(listed) = db.get(group) {
        let mut live: Vec<String> = map
            .values()
            .flat_map(|g| g.iter())
            .filter(|(addr, hb)| listed.contains(addr) && healthy(hb))
            .map(|(addr, _)| addr.clone())
            .collect();
        live.sort();
        live.dedup();
        if !live.is_empty() {
            return live;
        }
    }
    let empty = BTreeMap::new();
    map.get(group)
        .unwrap_or(&empty)
        .iter()
        .filter(|(_, hb)| healthy(hb))
        .map(|(addr, _)| addr.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Heartbeat;

    fn hb(status: i32) -> Option<Heartbeat> {
        let mut h = Heartbeat::decode("0.1,0.2,0.5,8.0,4.0,0.3,1,2,0,42,100,100,0").ok()?;
        h.server_status = status;
        Some(h)
    }

    #[test]
    fn groups_from_the_registry_and_the_database() {
        let mut map = WorkerMap::new();
        let mut default = BTreeMap::new();
        default.insert("10.0.0.1:1234".to_string(), hb(0));
        default.insert("10.0.0.2:1234".to_string(), hb(1)); // ABNORMAL
        default.insert("10.0.0.3:1234".to_string(), None); // undecodable
        map.insert("default".to_string(), default);
        let mut db = HashMap::new();
        assert_eq!(usable_workers(&map, &db, ""), vec!["10.0.0.1:1234"]);
        db.insert(
            "gpu".to_string(),
            vec!["10.0.0.1:1234".to_string(), "10.0.0.9:1234".to_string()],
        );
        assert_eq!(usable_workers(&map, &db, "gpu"), vec!["10.0.0.1:1234"]);
        db.insert("none-alive".to_string(), vec!["10.0.0.9:1234".to_string()]);
        assert!(usable_workers(&map, &db, "none-alive").is_empty());
    }
}
