//! ZooKeeper registry: how this master appears to, and sees, the rest of a DolphinScheduler
//! 2.0.x cluster (spec `registry.md`; registration order: `master-lifecycle.md` §1.3).
//!
//! Java peers decide from ZooKeeper alone whether a master is alive (its ephemeral node
//! exists), which slot of the command table it owns (§5) and where workers are. To be
//! indistinguishable from a Java master we create the same nodes, with the same modes, ACLs and
//! heartbeat text, in the same order, and we stop processing in the same situations.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`Options`], [`Registry`]: connection, namespace, base nodes, master/worker registration, heartbeat ticks, self-fencing ([`Registry::lost`]) |
//! | [`fence`] | the lease that says whether this master may still write or send (checked by the store and the links) |
//! | [`heartbeat`] | the heartbeat text: 13/14 fields, Java number formatting and parsing |
//! | [`metrics`] | host CPU/memory/load/disk figures from `/proc` |
//! | [`slot`] | the Java master order and our slot (pure), and the `/nodes/master` watch that recomputes it |
//! | [`workers`] | the live worker map from `/nodes/worker` |
//! | [`lock`] | Curator-compatible mutexes |
//!
//! ZooKeeper versions: the client declares server version 3.4.14 ([`ZK_WIRE_VERSION`]), so it
//! speaks exactly the operation set of the Java side's 3.4.14 client (plain CREATE, one-shot
//! watches) and works against 3.4 servers as well as 3.5–3.9 ones. Keep it that way: no
//! containers, TTL nodes, persistent watches or multi-create, and never drop an unfired
//! one-shot watcher while the session is in use (the client then sends REMOVE_WATCHES, on which
//! a 3.4 server closes the connection).
//!
//! Paths in this module are relative to the namespace (`/dolphinscheduler` by default): the
//! client is chrooted, so `/nodes/master` is the znode `/dolphinscheduler/nodes/master`.
//!
//! Session policy (spec §8.2/§8.4): a transient disconnect is tolerated (the heartbeat is
//! rewritten in full on reconnect, where Java writes an empty string); session expiry, closing,
//! or a disconnect lasting (about) the negotiated session timeout — counted so that we stop no
//! later than the server can expire us, see [`LostReason::DisconnectedTooLong`] — resolve
//! [`Registry::lost`], as does
//! our node vanishing or a `/dead-servers/master_<ip:port>` entry appearing. The node is
//! never silently re-created: peers are already failing our workflows over, so the server
//! must stop processing and may only come back as a new incarnation (a new [`Registry`]).

pub mod fence;
pub mod heartbeat;
pub mod lock;
pub mod metrics;
pub mod slot;
pub mod workers;

use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::AbortHandle;
use zookeeper_client as zk;

pub use fence::{Fence, Fenced};
pub use heartbeat::{java_double_to_string, Heartbeat, HeartbeatFormat};
pub use lock::RegistryLock;
pub use slot::{master_order, slot_of, MasterSlot};
pub use workers::WorkerMap;

use metrics::Sampler;

/// Persistent parent of the master nodes.
pub const MASTERS_PATH: &str = "/nodes/master";
/// Persistent parent of the worker group directories.
pub const WORKERS_PATH: &str = workers::WORKERS_PATH;
/// Persistent parent of the dead-server markers.
pub const DEAD_SERVERS_PATH: &str = "/dead-servers";

/// How long registration waits for its own node to show up in `/nodes/master` (Java waits
/// forever; the node was just created by us, so this only trips on a broken server).
const VISIBILITY_LIMIT: Duration = Duration::from_secs(30);
/// Pause after our node is visible, before purging our dead-server markers (lets peers finish
/// handling the REMOVE of our previous incarnation).
const DEAD_SERVER_PURGE_DELAY: Duration = Duration::from_secs(1);
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// The ZooKeeper server version we declare to `zookeeper-client`: that of the client every
/// DolphinScheduler 2.0.x release ships (spec §9). It makes the crate use the 3.4 operation
/// set, which ZooKeeper 3.4 servers require and 3.5+ servers still accept.
pub const ZK_WIRE_VERSION: (u32, u32, u32) = (3, 4, 14);

/// Connection and heartbeat settings (`registry.properties` plus the master's own keys).
#[derive(Clone, Debug)]
pub struct Options {
    /// Connect string `host:port[,host:port…][/chroot]` (`registry.servers`).
    pub servers: String,
    /// Curator namespace (`registry.namespace`, default `dolphinscheduler`); empty = none.
    pub namespace: String,
    /// Requested session timeout (`registry.session.timeout.ms`, default 30 s).
    pub session_timeout: Duration,
    /// `registry.connection.timeout.ms` (default 7.5 s). Curator uses it as its connect
    /// timeout; here it is the client's idle limit after which a silent connection counts as
    /// broken and another server is tried. Zero = the client's default (2/5 of the session
    /// timeout).
    pub connection_timeout: Duration,
    /// How long [`Registry::connect`] waits for the first session
    /// (`registry.block.until.connected.wait`, default 600 ms).
    pub block_until_connected: Duration,
    /// `user:password` for the `digest` scheme (`registry.digest`); nodes are then created
    /// with the creator-all ACL. `None` or empty = world:anyone ALL.
    pub digest: Option<String>,
    /// Heartbeat field count the Java peers expect.
    pub heartbeat: HeartbeatFormat,
    /// `master.heartbeat.interval` (default 10 s).
    pub heartbeat_interval: Duration,
    /// `master.max.cpuload.avg`; `-1` = available processors × 2.
    pub max_cpuload_avg: f64,
    /// `master.reserved.memory` in GiB (default 0.3).
    pub reserved_memory: f64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            servers: "127.0.0.1:2181".to_string(),
            namespace: "dolphinscheduler".to_string(),
            session_timeout: Duration::from_secs(30),
            connection_timeout: Duration::from_millis(7500),
            block_until_connected: Duration::from_millis(600),
            digest: None,
            heartbeat: HeartbeatFormat::Fields13,
            heartbeat_interval: Duration::from_secs(10),
            max_cpuload_avg: -1.0,
            reserved_memory: 0.3,
        }
    }
}

/// Registry failures, each naming what was being done and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to ZooKeeper at {servers}: {source}")]
    Connect {
        servers: String,
        #[source]
        source: zk::Error,
    },
    #[error("cannot connect to ZooKeeper at {servers}: no session within {waited:?}")]
    ConnectTimeout { servers: String, waited: Duration },
    #[error("invalid registry namespace {0:?}")]
    Namespace(String),
    #[error("ZooKeeper {op} {path} failed: {source}")]
    Zk {
        op: &'static str,
        path: String,
        #[source]
        source: zk::Error,
    },
    #[error("invalid server address {addr:?}: expected IPv4 ip:port")]
    Address { addr: String },
    #[error("a master is already registered by this registry as {addr}")]
    AlreadyRegistered { addr: String },
    #[error("our node {path} did not appear under {MASTERS_PATH} within {waited:?}")]
    NotVisible { path: String, waited: Duration },
    #[error("registry session unusable: {0}")]
    Lost(LostReason),
}

fn zk_err<'a>(op: &'static str, path: &'a str) -> impl FnOnce(zk::Error) -> Error + 'a {
    move |source| Error::Zk {
        op,
        path: path.to_string(),
        source,
    }
}

/// Why this master must stop processing (see [`Registry::lost`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostReason {
    /// The ZooKeeper session expired: our node is gone and peers fail us over.
    SessionExpired,
    /// The session was closed.
    SessionClosed,
    /// Authentication failed (wrong digest).
    AuthFailed,
    /// Disconnected for so long that the server may be expiring the session: the negotiated
    /// session timeout counted from the last moment the server can have heard from us (the
    /// disconnect report minus the client's detection lag). Curator's LOST counts the whole
    /// timeout from the report, which in a silent partition ends after the server expired the
    /// session and peers began failing this master over.
    DisconnectedTooLong,
    /// Our master node vanished (deleted by someone, or expired).
    NodeRemoved,
    /// `/dead-servers/master_<ip:port>` names us: a peer failed us over.
    DeclaredDead,
    /// No request of ours was answered for a whole session timeout (the process was frozen,
    /// or the network silent): the server has expired the session or is about to.
    Unconfirmed,
}

impl fmt::Display for LostReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LostReason::SessionExpired => "ZooKeeper session expired",
            LostReason::SessionClosed => "ZooKeeper session closed",
            LostReason::AuthFailed => "ZooKeeper authentication failed",
            LostReason::DisconnectedTooLong => {
                "disconnected from ZooKeeper for (about) the session timeout"
            }
            LostReason::NodeRemoved => "our master node was removed",
            LostReason::DeclaredDead => "a dead-server entry names this master",
            LostReason::Unconfirmed => "no proof of our session for a whole session timeout",
        })
    }
}

/// What [`Registry::register_master`] created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterRegistration {
    /// `ip:port`, the identity written to `t_ds_process_instance.host`.
    pub addr: String,
    /// `/nodes/master/<ip:port>` (relative to the namespace).
    pub path: String,
    /// Epoch ms of this incarnation (heartbeat `startupTime`).
    pub startup_time: i64,
}

/// A (stand-in) worker node registered through a [`Registry`]. The node and its heartbeat
/// belong to the registry: they last until [`WorkerRegistration::deregister`],
/// [`Registry::deregister`] or the end of the session, whether or not this handle is kept.
#[derive(Debug)]
pub struct WorkerRegistration {
    registry: Registry,
    group: String,
    addr: String,
    path: String,
    startup_time: i64,
    waiting: Arc<AtomicI32>,
}

impl WorkerRegistration {
    /// Normalised group name.
    pub fn group(&self) -> &str {
        &self.group
    }
    /// `ip:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }
    /// `/nodes/worker/<group>/<ip:port>`.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// Heartbeat `startupTime`.
    pub fn startup_time(&self) -> i64 {
        self.startup_time
    }
    /// Waiting-task count reported from the next tick on.
    pub fn set_waiting_tasks(&self, count: i32) {
        self.waiting.store(count, Ordering::Relaxed);
    }
    /// Stop this worker's heartbeat and delete its node.
    pub async fn deregister(self) -> Result<(), Error> {
        self.registry.deregister_worker(&self.path).await
    }
}

/// State shared with the background tasks (they never hold the [`Registry`] itself, so
/// dropping the last handle stops them).
pub(crate) struct Shared {
    pub(crate) client: zk::Client,
    pub(crate) opts: Options,
    pub(crate) acls: zk::Acls<'static>,
    lost_tx: watch::Sender<Option<LostReason>>,
    pub(crate) workers_tx: watch::Sender<WorkerMap>,
    pub(crate) masters_tx: watch::Sender<Vec<String>>,
    pub(crate) slot_tx: watch::Sender<Option<MasterSlot>>,
    pub(crate) local_ip_tx: watch::Sender<Option<String>>,
    reconnected: Notify,
    /// This session's fence: armed by the master registration, lost with the session.
    fence: Fence,
}

impl Shared {
    fn signal_lost(&self, reason: LostReason) {
        self.fence.lose();
        let first = self.lost_tx.send_if_modified(|v| {
            if v.is_none() {
                *v = Some(reason);
                true
            } else {
                false
            }
        });
        if first {
            tracing::error!(%reason, "registry lost: this master must stop processing");
        }
    }

    fn is_lost(&self) -> Option<LostReason> {
        *self.lost_tx.borrow()
    }
}

struct OwnMaster {
    registration: MasterRegistration,
    tasks: Vec<AbortHandle>,
}

impl Drop for OwnMaster {
    fn drop(&mut self) {
        self.tasks.iter().for_each(AbortHandle::abort);
    }
}

struct OwnWorker {
    path: String,
    task: AbortHandle,
}

impl Drop for OwnWorker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Inner {
    shared: Arc<Shared>,
    tasks: Vec<AbortHandle>,
    master: tokio::sync::Mutex<Option<OwnMaster>>,
    workers: Mutex<Vec<OwnWorker>>,
    local_ip: Mutex<Option<String>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.tasks.iter().for_each(AbortHandle::abort);
    }
}

/// Handle on the registry connection; cheap to clone. Background tasks (session monitor,
/// master and worker watches, heartbeat) stop when the last clone is dropped, which also
/// closes the session.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("servers", &self.inner.shared.opts.servers)
            .field("namespace", &self.inner.shared.opts.namespace)
            .field("session", &self.inner.shared.client.session_id())
            .finish()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `ip` of an `ip:port` address; IPv6 and missing/invalid ports are refused (Java peers
/// split on `:`).
fn split_addr(addr: &str) -> Result<(&str, u16), Error> {
    let bad = || Error::Address {
        addr: addr.to_string(),
    };
    let (ip, port) = addr.split_once(':').ok_or_else(bad)?;
    if ip.is_empty() || port.contains(':') || ip.contains('/') {
        return Err(bad());
    }
    let port: u16 = port.parse().map_err(|_| bad())?;
    Ok((ip, port))
}

fn effective_max_cpuload(configured: f64) -> f64 {
    if configured == -1.0 {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        (cpus * 2) as f64
    } else {
        configured
    }
}

/// Sample the host (blocking reads off the async threads) and fill a heartbeat.
async fn measure(sampler: Sampler, fmt: HeartbeatFormat) -> (Sampler, metrics::HostMetrics) {
    let with_disk = fmt == HeartbeatFormat::Fields14;
    match tokio::task::spawn_blocking(move || {
        let mut sampler = sampler;
        let m = sampler.sample(with_disk);
        (sampler, m)
    })
    .await
    {
        Ok(pair) => pair,
        Err(err) => {
            tracing::warn!(error = %err, "host metrics sampling failed");
            let unknown = metrics::HostMetrics {
                cpu_usage: -1.0,
                memory_usage: -1.0,
                load_average: -1.0,
                available_physical_memory_gib: -1.0,
                disk_available_gib: with_disk.then_some(-1.0),
            };
            (Sampler::new(), unknown)
        }
    }
}

/// Heartbeat fields that do not come from the host.
#[derive(Clone, Copy, Debug)]
struct Identity {
    startup_time: i64,
    max_cpuload_avg: f64,
    reserved_memory: f64,
    host_weight: i32,
    exec_threads: i32,
}

fn build_heartbeat(m: &metrics::HostMetrics, id: &Identity, waiting: i32) -> Heartbeat {
    let mut hb = Heartbeat {
        cpu_usage: m.cpu_usage,
        memory_usage: m.memory_usage,
        disk_available: m.disk_available_gib,
        load_average: m.load_average,
        available_physical_memory_size: m.available_physical_memory_gib,
        max_cpuload_avg: id.max_cpuload_avg,
        reserved_memory: id.reserved_memory,
        startup_time: id.startup_time,
        report_time: now_ms(),
        server_status: heartbeat::STATUS_NORMAL,
        process_id: i32::try_from(std::process::id()).unwrap_or(i32::MAX),
        worker_host_weight: id.host_weight,
        worker_exec_thread_count: id.exec_threads,
        worker_waiting_task_count: waiting,
    };
    hb.server_status = hb.compute_status();
    if hb.server_status != heartbeat::STATUS_NORMAL {
        tracing::warn!(
            load = hb.load_average,
            max_load = hb.max_cpuload_avg,
            available_gib = hb.available_physical_memory_size,
            reserved_gib = hb.reserved_memory,
            status = hb.server_status,
            "host over its configured limits"
        );
    }
    hb
}

impl Registry {
    /// Connect, create the namespace node and the persistent base nodes (`/nodes/master`,
    /// `/nodes/worker`, `/dead-servers`, create-or-set to empty as every Java
    /// `RegistryClient` does), and start the session monitor and the master/worker watches.
    pub async fn connect(opts: &Options) -> Result<Registry, Error> {
        let digest = opts.digest.as_deref().filter(|d| !d.is_empty());
        let acls = if digest.is_some() {
            zk::Acls::creator_all()
        } else {
            zk::Acls::anyone_all()
        };
        // Speak the ZooKeeper 3.4 operation set, as the Java side (ZooKeeper client 3.4.14)
        // does: plain CREATE instead of CREATE2, and nothing of 3.5+ (containers, TTL,
        // persistent watches, multi-read) is used by this module. Every server from 3.4 to
        // 3.9 accepts it, so no switch is needed; the price is that `create` returns no Stat.
        let mut connector = zk::Client::connector()
            .with_session_timeout(opts.session_timeout)
            .with_server_version(ZK_WIRE_VERSION.0, ZK_WIRE_VERSION.1, ZK_WIRE_VERSION.2);
        if !opts.connection_timeout.is_zero() {
            connector = connector.with_connection_timeout(opts.connection_timeout);
        }
        if let Some(d) = digest {
            connector = connector.with_auth("digest", d.as_bytes());
        }
        let servers = opts.servers.clone();
        let client =
            match tokio::time::timeout(opts.block_until_connected, connector.connect(&servers))
                .await
            {
                Err(_) => {
                    return Err(Error::ConnectTimeout {
                        servers,
                        waited: opts.block_until_connected,
                    })
                }
                Ok(Err(source)) => return Err(Error::Connect { servers, source }),
                Ok(Ok(client)) => client,
            };
        tracing::info!(
            servers = %opts.servers,
            session = ?client.session_id(),
            timeout_ms = client.session_timeout().as_millis() as u64,
            "connected to ZooKeeper"
        );

        // Namespace (Curator creates it on first use, persistent, empty, with our ACL).
        let namespace = opts.namespace.trim_matches('/');
        let client = if namespace.is_empty() {
            client
        } else {
            let relative = format!("/{namespace}");
            client
                .mkdir(&relative, &zk::CreateMode::Persistent.with_acls(acls))
                .await
                .map_err(zk_err("create namespace", &relative))?;
            let base = client.path().trim_end_matches('/').to_string();
            let absolute = format!("{base}/{namespace}");
            client
                .chroot(absolute)
                .map_err(|_| Error::Namespace(opts.namespace.clone()))?
        };

        let (lost_tx, _) = watch::channel(None);
        let (workers_tx, _) = watch::channel(WorkerMap::new());
        let (masters_tx, _) = watch::channel(Vec::new());
        let (slot_tx, _) = watch::channel(None);
        let (local_ip_tx, _) = watch::channel(None);
        let shared = Arc::new(Shared {
            client,
            opts: opts.clone(),
            acls,
            lost_tx,
            workers_tx,
            masters_tx,
            slot_tx,
            local_ip_tx,
            reconnected: Notify::new(),
            fence: Fence::unarmed(),
        });
        for path in [MASTERS_PATH, WORKERS_PATH, DEAD_SERVERS_PATH] {
            put_persistent(&shared, path, b"").await?;
        }

        let state_watcher = shared.client.state_watcher();
        let tasks = vec![
            tokio::spawn(watch_session(shared.clone(), state_watcher)).abort_handle(),
            tokio::spawn(slot::watch_masters(shared.clone())).abort_handle(),
            tokio::spawn(workers::watch_workers(
                shared.client.clone(),
                shared.workers_tx.clone(),
            ))
            .abort_handle(),
        ];
        Ok(Registry {
            inner: Arc::new(Inner {
                shared,
                tasks,
                master: tokio::sync::Mutex::new(None),
                workers: Mutex::new(Vec::new()),
                local_ip: Mutex::new(None),
            }),
        })
    }

    /// The namespaced ZooKeeper client (paths relative to the namespace), for operations this
    /// module does not wrap yet (dead-server entries, failover bookkeeping).
    ///
    /// It declares server version [`ZK_WIRE_VERSION`] (3.4): `create` sends CREATE and its
    /// returned `Stat` is invalid; stick to the 3.4 operation set (no containers, TTL nodes,
    /// persistent watches or multi with create) so that ZooKeeper 3.4 servers keep working.
    /// Records a vanished server as every Java master does when it handles the REMOVE of its
    /// node: persistent `/dead-servers/<kind>_<ip:port>` holding the same text (`kind` is
    /// `master` or `worker`). The server deletes it when it registers again. Idempotent.
    pub async fn mark_dead(&self, kind: &str, addr: &str) -> Result<(), Error> {
        let name = format!("{kind}_{addr}");
        put_persistent(
            &self.inner.shared,
            &format!("{DEAD_SERVERS_PATH}/{name}"),
            name.as_bytes(),
        )
        .await
    }

    pub fn client(&self) -> &zk::Client {
        &self.inner.shared.client
    }

    /// ACL used for every node we create.
    pub fn acls(&self) -> zk::Acls<'static> {
        self.inner.shared.acls
    }

    /// The options this registry was connected with.
    pub fn options(&self) -> &Options {
        &self.inner.shared.opts
    }

    /// IP of our registered master, if any.
    pub fn local_ip(&self) -> Option<String> {
        self.inner.local_ip.lock().ok().and_then(|g| g.clone())
    }

    /// Live worker view (see [`workers`]).
    pub fn workers(&self) -> watch::Receiver<WorkerMap> {
        self.inner.shared.workers_tx.subscribe()
    }

    /// Live raw children of `/nodes/master`, sorted descending (Java `children()` order);
    /// FailoverExecuteThread-style "is host alive" checks use substring matches on these.
    pub fn masters(&self) -> watch::Receiver<Vec<String>> {
        self.inner.shared.masters_tx.subscribe()
    }

    /// Our slot, recomputed on membership changes of `/nodes/master` like Java's
    /// `ServerNodeManager` (see [`slot`]); `None` until our node is seen, and whenever no
    /// decodable entry carries our IP.
    pub fn master_slot(&self) -> watch::Receiver<Option<MasterSlot>> {
        self.inner.shared.slot_tx.subscribe()
    }

    /// Resolves when this master must stop processing: session expired/closed, disconnected
    /// for the session timeout, our node vanished, or a dead-server entry names us. Resolves
    /// immediately if that already happened. Does not resolve after [`Registry::deregister`].
    pub async fn lost(&self) -> LostReason {
        let mut rx = self.inner.shared.lost_tx.subscribe();
        loop {
            if let Some(reason) = *rx.borrow_and_update() {
                return reason;
            }
            if rx.changed().await.is_err() {
                // Sender lives in `Shared`, owned by us: unreachable, but never spin.
                return LostReason::SessionClosed;
            }
        }
    }

    /// The reason, if the registry is already lost.
    /// This session's fence (see [`fence`]): it refuses until [`Registry::register_master`]
    /// has created our node, then holds while the session is proven alive.
    pub fn fence(&self) -> Fence {
        self.inner.shared.fence.clone()
    }

    pub fn lost_reason(&self) -> Option<LostReason> {
        self.inner.shared.is_lost()
    }

    /// Register this master as `addr` (`ip:port`, the Netty listen address), in Java 2.0.5
    /// order: take `/lock/failover/startup-masters`; delete a stale `/nodes/master/<addr>`;
    /// create it EPHEMERAL with the full heartbeat; wait until a child of `/nodes/master`
    /// contains our IP; sleep 1 s; delete `/dead-servers/master_<addr>*`; start the heartbeat
    /// (fixed rate, first tick after one interval) and the self-fencing watches; release the lock.
    pub async fn register_master(&self, addr: &str) -> Result<MasterRegistration, Error> {
        let (ip, _port) = split_addr(addr)?;
        let shared = &self.inner.shared;
        let mut own = self.inner.master.lock().await;
        if let Some(existing) = own.as_ref() {
            return Err(Error::AlreadyRegistered {
                addr: existing.registration.addr.clone(),
            });
        }
        if let Some(reason) = shared.is_lost() {
            return Err(Error::Lost(reason));
        }
        let startup_time = now_ms();
        let lock = self
            .lock_with_data(lock::STARTUP_MASTERS_LOCK, ip.as_bytes())
            .await?;
        let result = self.register_master_locked(addr, ip, startup_time).await;
        if let Err(err) = lock.release().await {
            tracing::warn!(error = %err, "releasing the startup lock failed (released when the session ends)");
        }
        let (registration, tasks) = result?;
        *own = Some(OwnMaster {
            registration: registration.clone(),
            tasks,
        });
        if let Ok(mut g) = self.inner.local_ip.lock() {
            *g = Some(ip.to_string());
        }
        shared.local_ip_tx.send_replace(Some(ip.to_string()));
        tracing::info!(%addr, path = %registration.path, "master registered");
        Ok(registration)
    }

    async fn register_master_locked(
        &self,
        addr: &str,
        ip: &str,
        startup_time: i64,
    ) -> Result<(MasterRegistration, Vec<AbortHandle>), Error> {
        let shared = &self.inner.shared;
        let client = &shared.client;
        let path = format!("{MASTERS_PATH}/{addr}");
        delete_if_present(client, &path, "stale master node").await?;

        let identity = Identity {
            startup_time,
            max_cpuload_avg: effective_max_cpuload(shared.opts.max_cpuload_avg),
            reserved_memory: shared.opts.reserved_memory,
            host_weight: 0,
            exec_threads: 0,
        };
        let (sampler, m) = measure(Sampler::new(), shared.opts.heartbeat).await;
        let text = build_heartbeat(&m, &identity, 0).encode(shared.opts.heartbeat);
        let sent = tokio::time::Instant::now();
        client
            .create(
                &path,
                text.as_bytes(),
                &zk::CreateMode::Ephemeral.with_acls(shared.acls),
            )
            .await
            .map_err(zk_err("create", &path))?;
        tracing::info!(%path, heartbeat = %text, "master node created");
        let fence = shared.fence.clone();
        fence.arm(client.session_timeout(), sent);

        // Wait until the node is visible (Java polls for a child containing our IP).
        let deadline = tokio::time::Instant::now() + VISIBILITY_LIMIT;
        loop {
            let children = client
                .list_children(MASTERS_PATH)
                .await
                .map_err(zk_err("list", MASTERS_PATH))?;
            if children.iter().any(|c| c.contains(ip)) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::NotVisible {
                    path,
                    waited: VISIBILITY_LIMIT,
                });
            }
            tokio::time::sleep(RETRY_DELAY).await;
        }
        tokio::time::sleep(DEAD_SERVER_PURGE_DELAY).await;
        purge_dead_servers(client, &format!("master_{addr}")).await?;

        let dead_path = format!("{DEAD_SERVERS_PATH}/master_{addr}");
        let tasks = vec![
            tokio::spawn(master_heartbeat(
                shared.clone(),
                path.clone(),
                dead_path.clone(),
                identity,
                sampler,
            ))
            .abort_handle(),
            tokio::spawn(watch_fence(shared.clone(), path.clone(), dead_path)).abort_handle(),
            tokio::spawn(renew_lease(shared.clone(), path.clone(), fence)).abort_handle(),
        ];
        Ok((
            MasterRegistration {
                addr: addr.to_string(),
                path,
                startup_time,
            },
            tasks,
        ))
    }

    /// Register a (stand-in) worker under `/nodes/worker/<group>/<addr>` (group trimmed,
    /// lower-cased, blank → `default`) with a worker heartbeat (weight, exec threads), and tick
    /// it every `heartbeat_interval`. Like a Java worker: stale node deleted first, parents
    /// created persistent, `/dead-servers/worker_<addr>*` purged; the tick stops (with an error
    /// log) when the node is gone or a dead-server entry names it.
    pub async fn register_worker(
        &self,
        group: &str,
        addr: &str,
        host_weight: i32,
        exec_threads: i32,
    ) -> Result<WorkerRegistration, Error> {
        split_addr(addr)?;
        let shared = &self.inner.shared;
        if let Some(reason) = shared.is_lost() {
            return Err(Error::Lost(reason));
        }
        let client = &shared.client;
        let group = workers::normalize_group(group);
        let dir = format!("{WORKERS_PATH}/{group}");
        let path = format!("{dir}/{addr}");
        let startup_time = now_ms();
        delete_if_present(client, &path, "stale worker node").await?;
        client
            .mkdir(&dir, &zk::CreateMode::Persistent.with_acls(shared.acls))
            .await
            .map_err(zk_err("create", &dir))?;
        let identity = Identity {
            startup_time,
            max_cpuload_avg: effective_max_cpuload(shared.opts.max_cpuload_avg),
            reserved_memory: shared.opts.reserved_memory,
            host_weight,
            exec_threads,
        };
        let (sampler, m) = measure(Sampler::new(), shared.opts.heartbeat).await;
        let text = build_heartbeat(&m, &identity, 0).encode(shared.opts.heartbeat);
        client
            .create(
                &path,
                text.as_bytes(),
                &zk::CreateMode::Ephemeral.with_acls(shared.acls),
            )
            .await
            .map_err(zk_err("create", &path))?;
        purge_dead_servers(client, &format!("worker_{addr}")).await?;
        let waiting = Arc::new(AtomicI32::new(0));
        let dead_path = format!("{DEAD_SERVERS_PATH}/worker_{addr}");
        let task = tokio::spawn(worker_heartbeat(
            shared.clone(),
            path.clone(),
            dead_path,
            identity,
            sampler,
            waiting.clone(),
        ))
        .abort_handle();
        if let Ok(mut list) = self.inner.workers.lock() {
            // A re-registration of the same path replaces (and stops) the old heartbeat.
            list.retain(|w| w.path != path);
            list.push(OwnWorker {
                path: path.clone(),
                task,
            });
        }
        tracing::info!(%path, "worker registered");
        Ok(WorkerRegistration {
            registry: self.clone(),
            group,
            addr: addr.to_string(),
            path,
            startup_time,
            waiting,
        })
    }

    async fn deregister_worker(&self, path: &str) -> Result<(), Error> {
        if let Ok(mut list) = self.inner.workers.lock() {
            list.retain(|w| w.path != path);
        }
        delete_if_present(&self.inner.shared.client, path, "worker node").await
    }

    /// Graceful stop: stop the heartbeat and fencing watches, then delete our master node
    /// (peers fail our running workflows over, as after a Java master's `close`), and likewise
    /// every worker node registered through this registry. A no-op when nothing is
    /// registered. The session stays open until the last handle drops.
    pub async fn deregister(&self) -> Result<(), Error> {
        let mut paths = Vec::new();
        if let Some(own) = self.inner.master.lock().await.take() {
            paths.push(own.registration.path.clone());
            drop(own); // aborts the heartbeat and fencing tasks
            if let Ok(mut g) = self.inner.local_ip.lock() {
                *g = None;
            }
            self.inner.shared.local_ip_tx.send_replace(None);
        }
        if let Ok(mut list) = self.inner.workers.lock() {
            paths.extend(list.drain(..).map(|w| w.path.clone()));
        }
        let mut first_error = None;
        for path in paths {
            if let Err(err) = delete_if_present(&self.inner.shared.client, &path, "own node").await
            {
                tracing::warn!(error = %err, "deregistration incomplete");
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Java `ZookeeperRegistry.put(path, data, persistent)`: create with persistent parents; if
/// the node exists, overwrite its data.
async fn put_persistent(shared: &Shared, path: &str, data: &[u8]) -> Result<(), Error> {
    let client = &shared.client;
    let options = zk::CreateMode::Persistent.with_acls(shared.acls);
    match client.create(path, data, &options).await {
        Ok(_) => return Ok(()),
        Err(zk::Error::NodeExists) => {}
        Err(zk::Error::NoNode) => {
            if let Some((parent, _)) = path.rsplit_once('/').filter(|(p, _)| !p.is_empty()) {
                client
                    .mkdir(parent, &options)
                    .await
                    .map_err(zk_err("create", parent))?;
            }
            match client.create(path, data, &options).await {
                Ok(_) => return Ok(()),
                Err(zk::Error::NodeExists) => {}
                Err(source) => {
                    return Err(Error::Zk {
                        op: "create",
                        path: path.to_string(),
                        source,
                    })
                }
            }
        }
        Err(source) => {
            return Err(Error::Zk {
                op: "create",
                path: path.to_string(),
                source,
            })
        }
    }
    client
        .set_data(path, data, None)
        .await
        .map_err(zk_err("set", path))?;
    Ok(())
}

async fn delete_if_present(client: &zk::Client, path: &str, what: &str) -> Result<(), Error> {
    match client.delete(path, None).await {
        Ok(()) => {
            tracing::info!(%path, "deleted {what}");
            Ok(())
        }
        Err(zk::Error::NoNode) => Ok(()),
        Err(source) => Err(Error::Zk {
            op: "delete",
            path: path.to_string(),
            source,
        }),
    }
}

/// Delete every `/dead-servers` child whose name starts with `prefix` (`master_<ip:port>`).
async fn purge_dead_servers(client: &zk::Client, prefix: &str) -> Result<(), Error> {
    let children = client
        .list_children(DEAD_SERVERS_PATH)
        .await
        .map_err(zk_err("list", DEAD_SERVERS_PATH))?;
    for child in children.iter().filter(|c| c.starts_with(prefix)) {
        let path = format!("{DEAD_SERVERS_PATH}/{child}");
        delete_if_present(client, &path, "dead-server entry").await?;
    }
    Ok(())
}

/// How late the client can report a silent connection as `Disconnected`: its idle limit
/// (zookeeper-client 0.11: the configured connection timeout when that is at most 3/5 of the
/// session timeout, else 2/5 of the session timeout) plus one of its check ticks (1/8 of the
/// idle limit).
fn disconnect_detection_lag(connection_timeout: Duration, session_timeout: Duration) -> Duration {
    let idle = if connection_timeout.is_zero() || connection_timeout > session_timeout * 3 / 5 {
        session_timeout * 2 / 5
    } else {
        connection_timeout
    };
    idle + idle / 8
}

/// How long after the client reports `Disconnected` we may keep processing. The server
/// expires the session one session timeout after it last heard from us, and in a silent
/// partition the client notices only after its idle limit: counting the whole timeout from
/// the report (as Curator does) would leave us running while peers already fail us over.
fn disconnect_grace(connection_timeout: Duration, session_timeout: Duration) -> Duration {
    session_timeout.saturating_sub(disconnect_detection_lag(
        connection_timeout,
        session_timeout,
    ))
}

/// When a disconnection that began at `since` makes the session count as lost.
///
/// A master (armed fence) knows when its session was last proven alive: a request sent at
/// `P` was answered, so the server cannot expire the session before `P + timeout`, and peers
/// cannot fail us over earlier. Writes and sends are held by the lease long before that, so
/// the master waits until then: a ZooKeeper server that restarts within the session timeout
/// (a rolling upgrade, a crash and restart) keeps the session and the master keeps working.
/// A registration with nothing to fence (a worker, or a master before its node exists, whose
/// writes the unarmed fence refuses anyway) gives up one session timeout after the
/// disconnection, as Curator does.
fn disconnect_deadline(
    fence: &Fence,
    since: tokio::time::Instant,
    grace: Duration,
    timeout: Duration,
) -> tokio::time::Instant {
    match (fence.lease(), fence.expires_at()) {
        (Some(lease), Some(until)) if !lease.is_zero() && !fence.is_lost() => {
            let proven = until.checked_sub(lease).unwrap_or(until);
            (since + grace).max(proven + timeout)
        }
        _ => since + timeout,
    }
}

/// Session monitor: maps client states onto [`LostReason`]s and wakes the heartbeat on
/// reconnect.
async fn watch_session(shared: Arc<Shared>, mut states: zk::StateWatcher) {
    let timeout = shared.client.session_timeout();
    let grace = disconnect_grace(shared.opts.connection_timeout, timeout);
    let mut disconnected_at: Option<tokio::time::Instant> = None;
    loop {
        let state = match disconnected_at {
            None => states.changed().await,
            Some(since) => tokio::select! {
                state = states.changed() => state,
                _ = tokio::time::sleep_until(disconnect_deadline(&shared.fence, since, grace, timeout)) => {
                    shared.signal_lost(LostReason::DisconnectedTooLong);
                    return;
                }
            },
        };
        match state {
            zk::SessionState::Disconnected => {
                let since = *disconnected_at.get_or_insert_with(tokio::time::Instant::now);
                let stop_in = disconnect_deadline(&shared.fence, since, grace, timeout)
                    .saturating_duration_since(tokio::time::Instant::now());
                tracing::warn!(
                    timeout_ms = timeout.as_millis() as u64,
                    stop_in_ms = stop_in.as_millis() as u64,
                    "disconnected from ZooKeeper"
                );
            }
            zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => {
                if disconnected_at.take().is_some() {
                    tracing::info!("reconnected to ZooKeeper with the same session");
                    shared.reconnected.notify_one();
                }
            }
            zk::SessionState::Expired => {
                shared.signal_lost(LostReason::SessionExpired);
                return;
            }
            zk::SessionState::Closed => {
                shared.signal_lost(LostReason::SessionClosed);
                return;
            }
            zk::SessionState::AuthFailed => {
                shared.signal_lost(LostReason::AuthFailed);
                return;
            }
        }
    }
}

fn session_ended(err: &zk::Error) -> Option<LostReason> {
    match err {
        zk::Error::SessionExpired => Some(LostReason::SessionExpired),
        zk::Error::ClientClosed => Some(LostReason::SessionClosed),
        zk::Error::AuthFailed => Some(LostReason::AuthFailed),
        _ => None,
    }
}

/// The heartbeat tick's self-check: our node missing or a dead-server entry present.
async fn fence_check(
    client: &zk::Client,
    path: &str,
    dead_path: &str,
) -> Result<Option<LostReason>, zk::Error> {
    if client.check_stat(path).await?.is_none() {
        return Ok(Some(LostReason::NodeRemoved));
    }
    if client.check_stat(dead_path).await?.is_some() {
        return Ok(Some(LostReason::DeclaredDead));
    }
    Ok(None)
}

/// Master heartbeat: fixed rate, first tick one interval after registration, plus an
/// immediate tick after a reconnect (Java writes `""` then; we write the full text).
async fn master_heartbeat(
    shared: Arc<Shared>,
    path: String,
    dead_path: String,
    identity: Identity,
    mut sampler: Sampler,
) {
    let period = shared
        .opts
        .heartbeat_interval
        .max(Duration::from_millis(100));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let fmt = shared.opts.heartbeat;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shared.reconnected.notified() => {
                tracing::info!(%path, "rewriting heartbeat after reconnect");
            }
        }
        if shared.is_lost().is_some() {
            return;
        }
        match fence_check(&shared.client, &path, &dead_path).await {
            Ok(Some(reason)) => {
                shared.signal_lost(reason);
                return;
            }
            Ok(None) => {}
            Err(err) => {
                if let Some(reason) = session_ended(&err) {
                    shared.signal_lost(reason);
                    return;
                }
                tracing::warn!(%path, error = %err, "heartbeat check failed; will retry next tick");
                continue;
            }
        }
        let (s, m) = measure(sampler, fmt).await;
        sampler = s;
        let text = build_heartbeat(&m, &identity, 0).encode(fmt);
        match shared.client.set_data(&path, text.as_bytes(), None).await {
            Ok(_) => tracing::trace!(%path, heartbeat = %text, "heartbeat written"),
            Err(zk::Error::NoNode) => {
                shared.signal_lost(LostReason::NodeRemoved);
                return;
            }
            Err(err) => {
                if let Some(reason) = session_ended(&err) {
                    shared.signal_lost(reason);
                    return;
                }
                tracing::warn!(%path, error = %err, "heartbeat write failed; will retry next tick");
            }
        }
    }
}

/// Immediate self-fencing between ticks: an exists-watch on our node and on our dead-server
/// path. Peers start failing us over as soon as they see our node go, so waiting for the next
/// tick (as Java does) would let both sides run the same workflows for up to an interval.
///
/// Each watch is kept until it fires and only then re-armed: dropping an unfired one-shot
/// watcher makes the client send REMOVE_WATCHES (ZooKeeper 3.5+), on which a 3.4 server
/// closes the connection — with our own heartbeat firing the node watch every tick, that
/// would cut the connection every interval.
/// Keeps the fence's lease fresh: reads our own node every sixth of the session timeout and
/// counts an answer showing the node owned by this session as proof of life from the moment
/// the request left. Without any proof for a whole session timeout the session is treated as
/// lost (the server has expired it, or will before anyone could tell).
async fn renew_lease(shared: Arc<Shared>, path: String, fence: Fence) {
    let client = shared.client.clone();
    let timeout = client.session_timeout();
    let session = client.session_id().0;
    let period = (timeout / 6).max(Duration::from_millis(100));
    let mut last_proof = tokio::time::Instant::now();
    loop {
        let sent = tokio::time::Instant::now();
        if sent.saturating_duration_since(last_proof) >= timeout {
            shared.signal_lost(LostReason::Unconfirmed);
            return;
        }
        match tokio::time::timeout(period, client.check_stat(&path)).await {
            Ok(Ok(Some(stat))) if stat.ephemeral_owner == session => {
                last_proof = sent;
                fence.renew(sent);
            }
            Ok(Ok(Some(_))) | Ok(Ok(None)) => {
                shared.signal_lost(LostReason::NodeRemoved);
                return;
            }
            Ok(Err(err)) => {
                if let Some(reason) = session_ended(&err) {
                    shared.signal_lost(reason);
                    return;
                }
                tracing::debug!(error = %err, "lease renewal failed; retrying");
            }
            Err(_) => tracing::debug!("lease renewal unanswered; retrying"),
        }
        // Sleep until the next period, but wake at once if our wait overslept (a freeze):
        // the check at the loop top then decides.
        tokio::time::sleep_until(sent + period).await;
    }
}

async fn watch_fence(shared: Arc<Shared>, path: String, dead_path: String) {
    type Fired = std::pin::Pin<Box<dyn std::future::Future<Output = zk::WatchedEvent> + Send>>;
    let client = shared.client.clone();
    let mut own: Option<Fired> = None;
    let mut dead: Option<Fired> = None;
    loop {
        let armed = async {
            if own.is_none() {
                let (stat, watcher) = client.check_and_watch_stat(&path).await?;
                own = Some(Box::pin(watcher.changed()));
                if stat.is_none() {
                    return Ok(Some(LostReason::NodeRemoved));
                }
            }
            if dead.is_none() {
                let (stat, watcher) = client.check_and_watch_stat(&dead_path).await?;
                dead = Some(Box::pin(watcher.changed()));
                if stat.is_some() {
                    return Ok(Some(LostReason::DeclaredDead));
                }
            }
            Ok::<_, zk::Error>(None)
        }
        .await;
        match armed {
            Ok(None) => {}
            Ok(Some(reason)) => {
                shared.signal_lost(reason);
                return;
            }
            Err(err) => {
                if let Some(reason) = session_ended(&err) {
                    shared.signal_lost(reason);
                    return;
                }
                tracing::warn!(%path, error = %err, "fencing watch failed; retrying");
                tokio::time::sleep(RETRY_DELAY).await;
                continue;
            }
        }
        let (Some(own_fired), Some(dead_fired)) = (own.as_mut(), dead.as_mut()) else {
            continue;
        };
        let event = tokio::select! {
            e = own_fired => {
                own = None;
                e
            }
            e = dead_fired => {
                dead = None;
                e
            }
        };
        if event.event_type == zk::EventType::Session && event.session_state.is_terminated() {
            // The session monitor reports the reason.
            return;
        }
        // Data changes (our own heartbeat) and deletions alike: re-check the fired one.
    }
}

/// Stand-in worker heartbeat: like the master's, with worker fields; stops when judged dead.
async fn worker_heartbeat(
    shared: Arc<Shared>,
    path: String,
    dead_path: String,
    identity: Identity,
    mut sampler: Sampler,
    waiting: Arc<AtomicI32>,
) {
    let period = shared
        .opts
        .heartbeat_interval
        .max(Duration::from_millis(100));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let fmt = shared.opts.heartbeat;
    loop {
        ticks.tick().await;
        match fence_check(&shared.client, &path, &dead_path).await {
            Ok(Some(reason)) => {
                tracing::error!(%path, %reason, "worker judged dead; heartbeat stopped");
                return;
            }
            Ok(None) => {}
            Err(err) if session_ended(&err).is_some() => return,
            Err(err) => {
                tracing::warn!(%path, error = %err, "worker heartbeat check failed");
                continue;
            }
        }
        let (s, m) = measure(sampler, fmt).await;
        sampler = s;
        let text = build_heartbeat(&m, &identity, waiting.load(Ordering::Relaxed)).encode(fmt);
        if let Err(err) = shared.client.set_data(&path, text.as_bytes(), None).await {
            tracing::warn!(%path, error = %err, "worker heartbeat write failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(split_addr("10.0.0.1:5678").ok(), Some(("10.0.0.1", 5678)));
        for bad in [
            "10.0.0.1",
            ":5678",
            "10.0.0.1:",
            "10.0.0.1:x",
            "::1:5678",
            "a/b:1",
            "1.2.3.4:70000",
        ] {
            assert!(split_addr(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_master_waits_for_its_last_proof_plus_the_timeout_before_it_gives_up() {
        let timeout = Duration::from_secs(15);
        let grace = disconnect_grace(Duration::from_millis(7500), timeout);
        let proven = tokio::time::Instant::now();
        let fence = Fence::for_session(timeout, proven);
        tokio::time::advance(Duration::from_secs(2)).await;
        let since = tokio::time::Instant::now();
        // A ZooKeeper restart noticed at once: the session lives until proven + timeout.
        assert_eq!(
            disconnect_deadline(&fence, since, grace, timeout),
            proven + timeout
        );
        // Nothing to fence (a worker): one session timeout, as Curator.
        assert_eq!(
            disconnect_deadline(&Fence::unarmed(), since, grace, timeout),
            since + timeout
        );
        // A proof younger than the disconnection cannot shorten the grace either.
        let late = Fence::for_session(timeout, since + Duration::from_secs(10));
        assert!(disconnect_deadline(&late, since, grace, timeout) >= since + grace);
    }

    #[test]
    fn disconnect_grace_ends_before_the_server_can_expire_us() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        // Defaults: 7.5 s idle limit (+ 1/8 tick) before the report.
        assert_eq!(
            disconnect_grace(ms(7500), s(30)),
            us(30_000_000 - 7_500_000 - 937_500)
        );
        // Connection timeout above 3/5 of the session timeout, or unset: 2/5 of it.
        assert_eq!(disconnect_grace(s(20), s(30)), ms(30_000 - 12_000 - 1500));
        assert_eq!(disconnect_grace(Duration::ZERO, s(30)), ms(16_500));
        assert_eq!(
            disconnect_grace(ms(1500), s(4)),
            us(4_000_000 - 1_500_000 - 187_500)
        );
        for (conn, session) in [(ms(7500), s(30)), (s(40), s(30)), (ms(100), s(4))] {
            let lag = disconnect_detection_lag(conn, session);
            assert!(disconnect_grace(conn, session) + lag <= session);
        }
    }

    #[test]
    fn defaults_match_upstream() {
        let o = Options::default();
        assert_eq!(o.namespace, "dolphinscheduler");
        assert_eq!(o.session_timeout, Duration::from_secs(30));
        assert_eq!(o.block_until_connected, Duration::from_millis(600));
        assert_eq!(o.heartbeat_interval, Duration::from_secs(10));
        assert_eq!(o.heartbeat, HeartbeatFormat::Fields13);
    }

    #[test]
    fn master_heartbeat_fields() {
        let m = metrics::HostMetrics {
            cpu_usage: 0.12,
            memory_usage: 0.43,
            load_average: 1.5,
            available_physical_memory_gib: 5.82,
            disk_available_gib: None,
        };
        let id = Identity {
            startup_time: 1_700_000_000_000,
            max_cpuload_avg: 32.0,
            reserved_memory: 0.3,
            host_weight: 0,
            exec_threads: 0,
        };
        let hb = build_heartbeat(&m, &id, 0);
        let text = hb.encode(HeartbeatFormat::Fields13);
        let parts: Vec<&str> = text.split(',').collect();
        assert_eq!(parts.len(), 13);
        assert_eq!(
            &parts[..7],
            &[
                "0.12",
                "0.43",
                "1.5",
                "5.82",
                "32.0",
                "0.3",
                "1700000000000"
            ]
        );
        assert_eq!(parts[8], "0");
        assert_eq!(parts[9], std::process::id().to_string());
        assert_eq!(&parts[10..], &["0", "0", "0"]);
        assert_eq!(effective_max_cpuload(5.0), 5.0);
        assert!(effective_max_cpuload(-1.0) >= 2.0);
    }
}
