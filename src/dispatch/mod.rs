//! Dispatch: the global priority queue of tasks waiting for a worker, worker selection from
//! the live registry view, and sending TASK_EXECUTE_REQUEST over the one long-lived link per
//! worker (workers answer only on the connection a task arrived on, so links are reused for
//! every frame to that worker).
//!
//! Order is upstream's effective `TaskPriority` order: process instance priority, process
//! instance id, task instance id. A task whose group has no usable worker waits until the
//! registry view changes (or a back-off deadline passes), never in a fixed polling loop.
//!
//! The service loop only orders and picks; each send (dial, the dispatch row, the frame) runs
//! as a task of its own, so a worker that is slow to answer a dial, or a slow database write,
//! delays only the tasks bound for it, never dispatch to other workers. A failed send comes
//! back to the queue after a back-off of its own.

use crate::protocol::{Command, Connector, Link, TaskExecuteRequestCommand, TaskExecutionContext};
use crate::registry::WorkerMap;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
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
    /// A send attempt ended: sent, or dropped for good.
    Done(i32),
    /// A send attempt failed; the task is queued again (after its back-off).
    Retry(Queued),
}

/// A queued task and how many send attempts failed so far (its back-off).
struct Queued {
    item: Box<DispatchItem>,
    failures: u32,
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
/// the next frame to it happened to reconnect (upstream leaves that gap open). When the worker
/// leaves the registry the link is reset, so nothing still queued for it arrives after its
/// tasks were re-run.
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
            let mut workers = keeper.workers.clone();
            loop {
                tokio::select! {
                    _ = link.closed() => {}
                    gone = workers.wait_for(|m| !is_registered(m, &host)) => {
                        if gone.is_ok() {
                            // Its tasks are failed over and run elsewhere: a request still in
                            // the socket (behind a partition) must never reach it later.
                            tracing::info!(%host, "worker left the registry; its link is reset");
                            link.abort();
                        }
                        if let Ok(mut w) = keeper.watched.lock() {
                            w.remove(&host);
                        }
                        return;
                    }
                }
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
            me: tx.downgrade(),
            workers,
            connector: connector.clone(),
            queue: BinaryHeap::new(),
            items: HashMap::new(),
            in_flight: HashSet::new(),
            cancelled: HashSet::new(),
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
    /// For send attempts to report back (weak: the service ends with the last handle).
    me: mpsc::WeakUnboundedSender<Msg>,
    workers: watch::Receiver<WorkerMap>,
    connector: Connector,
    queue: BinaryHeap<Key>,
    items: HashMap<i32, Queued>,
    /// Tasks with a send attempt running.
    in_flight: HashSet<i32>,
    /// In-flight tasks cancelled meanwhile: not queued again if their attempt fails.
    cancelled: HashSet<i32>,
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
            Msg::Submit(item) => self.enqueue(Queued { item, failures: 0 }),
            Msg::Cancel(id) => {
                self.items.remove(&id);
                if self.in_flight.contains(&id) {
                    self.cancelled.insert(id);
                }
            }
            Msg::Done(id) => {
                self.in_flight.remove(&id);
                self.cancelled.remove(&id);
            }
            Msg::Retry(queued) => {
                let id = queued.item.task_instance_id;
                self.in_flight.remove(&id);
                if !self.cancelled.remove(&id) {
                    self.enqueue(queued);
                }
            }
        }
    }

    fn enqueue(&mut self, queued: Queued) {
        let item = &queued.item;
        let key = Reverse((
            item.process_instance_priority,
            item.process_instance_id,
            item.task_instance_id,
        ));
        let id = item.task_instance_id;
        if self.in_flight.contains(&id) {
            return;
        }
        if self.items.insert(id, queued).is_none() {
            self.queue.push(key);
        }
    }

    /// Starts a send for every queued task that has a usable worker, in queue order;
    /// returns true if some had none.
    async fn drain(&mut self) -> bool {
        let mut waiting = Vec::new();
        while let Some(key) = self.queue.pop() {
            let id = key.0 .2;
            let Some(queued) = self.items.remove(&id) else {
                continue;
            };
            let candidates = {
                let db = self.db_groups.read().map(|g| g.clone()).unwrap_or_default();
                usable_workers(&self.workers.borrow(), &db, &queued.item.worker_group)
            };
            if candidates.is_empty() {
                tracing::debug!(task_instance_id = id, group = %queued.item.worker_group, "task waits for a usable worker");
                self.items.insert(id, queued);
                waiting.push(key);
                continue;
            }
            let start = self
                .cursor
                .entry(queued.item.worker_group.clone())
                .or_insert(0);
            let first = *start % candidates.len();
            *start = start.wrapping_add(1);
            self.in_flight.insert(id);
            let attempt = Attempt {
                keeper: self.keeper.clone(),
                connector: self.connector.clone(),
                store: self.store.clone(),
                me: self.me.clone(),
            };
            tokio::spawn(attempt.run(queued, candidates, first));
        }
        let stalled = !waiting.is_empty();
        self.queue.extend(waiting);
        stalled
    }
}

/// One send of one task, off the service loop.
struct Attempt {
    keeper: Keeper,
    connector: Connector,
    store: Option<crate::store::Store>,
    me: mpsc::WeakUnboundedSender<Msg>,
}

impl Attempt {
    async fn run(self, mut queued: Queued, candidates: Vec<String>, first: usize) {
        let id = queued.item.task_instance_id;
        let report = match self.send(&queued.item, &candidates, first).await {
            Ok(d) => {
                (queued.item.notify)(d);
                Msg::Done(id)
            }
            Err(NotSent::Drop(reason)) => {
                tracing::warn!(task_instance_id = id, %reason, "task not dispatched: its instance is not ours any more");
                Msg::Done(id)
            }
            Err(NotSent::Wait(reason)) => {
                queued.failures = queued.failures.saturating_add(1);
                let pause = Duration::from_millis(100)
                    .saturating_mul(1 << queued.failures.min(6))
                    .min(Duration::from_secs(5));
                tracing::debug!(task_instance_id = id, %reason, retry_in = ?pause, "task waits for a worker");
                tokio::time::sleep(pause).await;
                Msg::Retry(queued)
            }
        };
        if let Some(tx) = self.me.upgrade() {
            let _ = tx.send(report);
        }
    }

    async fn send(
        &self,
        item: &DispatchItem,
        candidates: &[String],
        first: usize,
    ) -> Result<Dispatched, NotSent> {
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

    /// A listener whose accept queue is full and never drained: the kernel drops further
    /// SYNs, so a dial to it hangs until the connector's timeout (a worker that is alive in
    /// the registry but does not answer).
    fn black_hole() -> (socket2::Socket, Vec<std::net::TcpStream>, String) {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
        s.bind(&any.into()).expect("bind");
        s.listen(0).expect("listen");
        let addr = s.local_addr().expect("local").as_socket().expect("inet");
        let mut fill = Vec::new();
        for _ in 0..4 {
            if let Ok(c) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                fill.push(c);
            }
        }
        (s, fill, addr.to_string())
    }

    fn item(id: i32, group: &str, done: mpsc::UnboundedSender<(i32, String)>) -> DispatchItem {
        DispatchItem {
            process_instance_priority: 0,
            process_instance_id: id,
            task_instance_id: id,
            worker_group: group.to_string(),
            context: TaskExecutionContext::default(),
            notify: Arc::new(move |d: Dispatched| {
                let _ = done.send((d.task_instance_id, d.host));
            }),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_worker_that_does_not_answer_delays_only_its_own_tasks() {
        let (_hole, _fill, silent) = black_hole();
        let live = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let live_addr = live.local_addr().expect("addr").to_string();
        // The live worker accepts and keeps its connections (reading is not needed).
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((c, _)) = live.accept().await {
                held.push(c);
            }
        });
        let mut map = WorkerMap::new();
        map.insert(
            "silent".to_string(),
            [(silent.clone(), hb(0))].into_iter().collect(),
        );
        map.insert(
            "live".to_string(),
            [(live_addr.clone(), hb(0))].into_iter().collect(),
        );
        let (_workers_tx, workers) = watch::channel(map);
        let (inbound, _inbound_rx) = mpsc::channel(16);
        let connector = Connector::new(
            crate::protocol::LinkOptions {
                connect_timeout: Duration::from_secs(3),
                ..crate::protocol::LinkOptions::default()
            },
            inbound,
        );
        let dispatcher = Dispatcher::start(connector, workers, None);
        let (done, mut sent) = mpsc::unbounded_channel();
        // The silent worker's task first (queue order), then the live worker's.
        dispatcher.submit(item(1, "silent", done.clone()));
        dispatcher.submit(item(2, "live", done.clone()));
        let first = tokio::time::timeout(Duration::from_millis(1500), sent.recv())
            .await
            .expect("the live worker's task is sent while the other dial hangs")
            .expect("notice");
        assert_eq!(first, (2, live_addr));
        // Cancelled while its dial hangs: not queued again when the dial times out.
        dispatcher.cancel(1);
        assert!(
            tokio::time::timeout(Duration::from_secs(4), sent.recv())
                .await
                .is_err(),
            "the silent worker's task is never reported sent"
        );
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
