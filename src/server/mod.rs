//! Wiring: resolved settings become running services, started in dependency order and
//! stopped in reverse.
//!
//! Start: database (retried with back-off until the startup deadline, naming host:port) →
//! schema check and wire dialect choice (configuration first, else `t_ds_version`; logged) →
//! ZooKeeper (retried likewise) → the command port → dispatcher → our master node with its
//! full heartbeat → command intake → Quartz cluster member (timed schedules). Stop (signal, or registry session lost): intake stops,
//! our node is removed, in-flight frames get a moment to flush, the pool closes. Instances
//! still running are left as rows; a restarted master (or a peer's failover) picks them up.

pub mod http;

use crate::dispatch::Dispatcher;
use crate::engine::{self, Engine};
use crate::protocol::{self, Connector, Dialect, LinkOptions};
use crate::registry::{self, HeartbeatFormat, Registry};
use crate::store::{self, Store};
use std::future::Future;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{error, info, warn};

/// Everything the master needs to start, resolved from the conf dir (see `from_options`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen_port: u16,
    /// Local address of the command port (`dsmaster.listen.host`; upstream binds every one).
    pub listen_host: std::net::IpAddr,
    /// The IP peers know us by; with `listen_port` it forms our `ip:port` identity.
    pub advertised_ip: String,
    pub datasource: store::ConnectOptions,
    /// Human-readable `host:port` of the database for log lines (no credentials).
    pub datasource_label: String,
    pub registry: registry::Options,
    /// Configured dialect; `None` = from `t_ds_version`.
    pub wire_dialect: Option<Dialect>,
    /// Configured heartbeat field count; `None` = follows the dialect.
    pub heartbeat_format: Option<HeartbeatFormat>,
    pub startup_timeout: Duration,
    /// `dsmaster.command.poll.interval`: command intake's idle wait.
    pub command_poll_interval: Duration,
    /// `master.fetch.command.num`: commands one intake look takes.
    pub fetch_command_num: usize,
    pub link: LinkOptions,
    /// `master.failover.interval`: period of the failover sweep.
    pub failover_interval: Duration,
    /// `quartz.properties` (timed schedules; a started master is a Quartz cluster member).
    pub quartz: crate::schedule::Options,
    /// `dsmaster.metrics.host:port`: the metrics and health endpoint; `None` = off. Port 0
    /// picks a free port ([`Running::metrics_addr`] tells which).
    pub metrics: Option<std::net::SocketAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database at {at} unreachable for {waited:?}: {source}")]
    Database {
        at: String,
        waited: Duration,
        #[source]
        source: store::Error,
    },
    #[error("{0}")]
    Schema(store::Error),
    #[error("ZooKeeper at {at} unreachable for {waited:?}: {source}")]
    Registry {
        at: String,
        waited: Duration,
        #[source]
        source: registry::Error,
    },
    #[error("registering our master node {addr}: {source}")]
    Register {
        addr: String,
        #[source]
        source: registry::Error,
    },
    #[error("cannot listen on port {port}: {source}")]
    Listen {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    /// The registry session was lost while running: the master stopped without writing or
    /// sending anything more and exits; a supervisor restarts it as a new incarnation.
    #[error("registry session lost ({0}): this master stopped; peers fail its workflows over")]
    RegistryLost(registry::LostReason),
    #[error("{0}")]
    Http(#[from] http::Error),
}

/// A running master, for tests and the demo that embed one.
pub struct Running {
    pub addr: String,
    pub dialect: Dialect,
    /// Where the metrics and health endpoint listens, when it is on.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub engine_instances: engine::Instances,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
    /// Set when the master stopped because its registry session was lost.
    lost: std::sync::Arc<std::sync::OnceLock<registry::LostReason>>,
}

impl Running {
    /// Why the master stopped by itself, if its registry session was lost.
    pub fn lost(&self) -> Option<registry::LostReason> {
        self.lost.get().copied()
    }

    /// Stops the master and waits for its shutdown sequence.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.done.await {
            error!(error = %e, "shutdown task failed");
        }
    }
}

/// Starts a master and returns once it serves; it runs until `shutdown` completes,
/// `Running::shutdown` is called, or its registry session is lost.
pub async fn start(settings: Settings) -> Result<Running, Error> {
    let deadline = Instant::now() + settings.startup_timeout;
    // The endpoint comes first, so "live, not ready" is visible while we wait for the
    // database and ZooKeeper; it stops with the master (or here, if the start fails).
    let probe = std::sync::Arc::new(http::Probe::default());
    let http_stop = tokio_util::sync::CancellationToken::new();
    let http_guard = http_stop.clone().drop_guard();
    let metrics_addr = match settings.metrics {
        Some(addr) => Some(http::start(addr, probe.clone(), http_stop.clone()).await?),
        None => None,
    };
    let store = retry("database", &settings.datasource_label, deadline, || {
        Store::connect(&settings.datasource)
    })
    .await
    .map_err(|(waited, source)| Error::Database {
        at: settings.datasource_label.clone(),
        waited,
        source,
    })?;
    probe.set_store(store.clone());
    let schema = store.schema_version().await.map_err(Error::Schema)?;
    let from_version = Dialect::for_version(&schema.version);
    let dialect = match settings.wire_dialect {
        Some(d) => {
            info!(dialect = d.label(), schema = %schema.version, "wire dialect from configuration");
            d
        }
        None => {
            // t_ds_version can be stale after an upgrade; the peers' heartbeats cannot.
            let peers = peer_heartbeat_fields(&settings.registry, deadline).await;
            let d = choose_dialect(from_version, peers);
            info!(
                dialect = d.label(),
                schema = %schema.version,
                peer_heartbeat_fields = ?peers,
                "wire dialect detected from t_ds_version and the peers' heartbeats"
            );
            if from_version.is_some_and(|v| v != d) {
                warn!(
                    schema = %schema.version,
                    chosen = d.label(),
                    "t_ds_version disagrees with the running peers; following the peers (set dsmaster.wire.dialect to override)"
                );
            }
            d
        }
    };
    let heartbeat = settings.heartbeat_format.unwrap_or(match dialect {
        Dialect::C => HeartbeatFormat::Fields14,
        _ => HeartbeatFormat::Fields13,
    });
    let mut registry_options = settings.registry.clone();
    registry_options.heartbeat = heartbeat;
    let registry = retry("ZooKeeper", &registry_options.servers, deadline, || {
        Registry::connect(&registry_options)
    })
    .await
    .map_err(|(waited, source)| Error::Registry {
        at: registry_options.servers.clone(),
        waited,
        source,
    })?;

    let listener = tokio::net::TcpListener::bind((settings.listen_host, settings.listen_port))
        .await
        .map_err(|source| Error::Listen {
            port: settings.listen_port,
            source,
        })?;
    let port = listener
        .local_addr()
        .map(|a| a.port())
        .unwrap_or(settings.listen_port);
    let addr = format!("{}:{}", settings.advertised_ip, port);
    let mut link = settings.link.clone();
    link.dialect = dialect;
    // Nothing reaches a worker unless this session's fence holds (see registry::fence).
    link.fence = Some(registry.fence());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (inbound_tx, inbound_rx) = mpsc::channel(65536);
    let links_stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(protocol::serve(
        listener,
        link.clone(),
        inbound_tx.clone(),
        links_stop.clone(),
    ));
    let connector = Connector::new(link, inbound_tx);
    let dispatcher = Dispatcher::start(connector.clone(), registry.workers(), Some(store.clone()));
    {
        // Upstream re-reads t_ds_worker_group every 10 s; so do we.
        let store = store.clone();
        let dispatcher = dispatcher.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                match store.worker_groups().await {
                    Ok(rows) => dispatcher.set_db_groups(
                        rows.into_iter()
                            .filter(|g| !g.addr_list.is_empty())
                            .map(|g| (g.name, g.addr_list))
                            .collect(),
                    ),
                    Err(e) => warn!(error = %e, "reading t_ds_worker_group"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        });
    }

    let registration = registry
        .register_master(&addr)
        .await
        .map_err(|source| Error::Register {
            addr: addr.clone(),
            source,
        })?;
    info!(%addr, dialect = dialect.label(), heartbeat = ?heartbeat, "master registered and serving");
    metrics::gauge!(
        crate::metrics::INFO,
        "version" => env!("CARGO_PKG_VERSION"),
        "wire_dialect" => dialect.label(),
        "database" => store.dialect().name(),
    )
    .set(1.0);
    // From here on every statement checks the fence, and a workflow's own rows are written
    // only while its instance names us as host.
    store.install_fence(registry.fence(), &addr);

    let instances = engine::Instances::default();
    probe.set_registered(registry.fence(), registry.master_slot(), instances.clone());
    let sweeper = crate::failover::Sweeper {
        store: store.clone(),
        registry: registry.clone(),
        own_addr: addr.clone(),
        own_startup_ms: registration.startup_time,
        interval: settings.failover_interval,
        running: instances.clone(),
    };
    // Before intake: hand over what our previous incarnation (or a master that died while
    // nobody watched) left unfinished, so intake can take it back through recovery commands.
    match sweeper.sweep(true).await {
        Ok(0) => {}
        Ok(n) => info!(instances = n, "startup failover handed instances over"),
        Err(e) => error!(error = %e, "startup failover failed; the periodic sweep retries"),
    }
    let (_engine, intake) = Engine::start(
        engine::Deps {
            store: store.clone(),
            dispatcher,
            host: addr.clone(),
            slot: registry.master_slot(),
            workers: registry.workers(),
            registry: registry.clone(),
            resources: crate::registry::metrics::ResourceCheck::new(
                settings.registry.max_cpuload_avg,
                settings.registry.reserved_memory,
            ),
            jvm_zone: settings.quartz.jvm_zone,
            command_poll_interval: settings.command_poll_interval,
            fetch_command_num: settings.fetch_command_num,
        },
        instances.clone(),
        inbound_rx,
        stop_rx.clone(),
    );
    let sweep = tokio::spawn(sweeper.run(stop_rx.clone()));
    // Like MasterServer, Quartz starts last: from here on this master fires schedules.
    let quartz = if settings.quartz.enabled {
        Some(crate::schedule::start(store.clone(), settings.quartz.clone()).await)
    } else {
        info!("timed schedules disabled (dsmaster.schedule.enabled=false)");
        None
    };
    let stop_for_loss = stop_tx.clone();
    let lost_registry = registry.clone();
    let mut stop_wait = stop_rx.clone();
    let lost = std::sync::Arc::new(std::sync::OnceLock::new());
    let lost_in_task = lost.clone();
    let done = tokio::spawn(async move {
        tokio::select! {
            reason = lost_registry.lost() => {
                // The fence is already closed: no statement and no frame leaves from here on.
                error!(%reason, "registry session lost: this master stops at once and writes nothing more (peers fail its workflows over)");
                let _ = lost_in_task.set(reason);
                let _ = stop_for_loss.send(true);
            }
            _ = stop_wait.wait_for(|s| *s) => {}
        }
        probe.set_stopping();
        if let Some(q) = quartz {
            q.shutdown().await;
        }
        info!("shutting down: command intake stops");
        let _ = intake.await;
        let _ = sweep.await;
        if let Err(e) = registry.deregister().await {
            warn!(error = %e, "removing our master node");
        }
        drop(registration);
        // Let queued replies to workers reach the wire before the links close.
        tokio::time::sleep(Duration::from_millis(200)).await;
        links_stop.cancel();
        connector.shutdown();
        store.close().await;
        drop(http_guard);
        info!("master stopped");
    });
    Ok(Running {
        addr,
        dialect,
        metrics_addr,
        engine_instances: instances,
        stop: stop_tx,
        done,
        lost,
    })
}

/// Runs a master until `shutdown` resolves or the registry session is lost.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let running = start(settings).await?;
    let mut stopped = running.stop.subscribe();
    tokio::select! {
        _ = shutdown => info!("stop signal received"),
        _ = stopped.wait_for(|s| *s) => {}
    }
    let lost = running.lost.clone();
    running.shutdown().await;
    match lost.get() {
        Some(reason) => Err(Error::RegistryLost(*reason)),
        None => Ok(()),
    }
}

/// How many heartbeat fields the registered workers write (14 from 2.0.6 on, 13 before),
/// when they agree; `None` without workers or on a mix. A short look with its own session.
async fn peer_heartbeat_fields(options: &registry::Options, deadline: Instant) -> Option<u8> {
    // One attempt: the connection that matters is made (and retried) right after this.
    let registry = tokio::time::timeout_at(deadline, Registry::connect(options))
        .await
        .ok()?
        .ok()?;
    let mut workers = registry.workers();
    // The view is published after its first scan; with no workers there is no change to wait for.
    let _ = tokio::time::timeout(Duration::from_millis(700), workers.changed()).await;
    let counts: Vec<u8> = workers
        .borrow()
        .values()
        .flat_map(|g| g.values())
        .flatten()
        .map(|hb| if hb.disk_available.is_some() { 14 } else { 13 })
        .collect();
    match counts.first() {
        Some(first) if counts.iter().all(|c| c == first) => Some(*first),
        _ => None,
    }
}

/// `t_ds_version`'s dialect, corrected by the peers' heartbeat field count: 14 fields means
/// 2.0.6+ (dialect C) whatever the table says; 13 fields rules C out (2.0.3-2.0.5 assumed when
/// the table claims C, as A and B cannot be told apart by heartbeats).
fn choose_dialect(from_version: Option<Dialect>, peer_fields: Option<u8>) -> Dialect {
    match (from_version, peer_fields) {
        (_, Some(14)) => Dialect::C,
        (Some(Dialect::C), Some(13)) => Dialect::B,
        (Some(d), _) => d,
        (None, _) => Dialect::B,
    }
}

/// Retries `attempt` with exponential back-off (0.5 s doubling to 10 s) until `deadline`.
async fn retry<T, E, F, Fut>(
    what: &str,
    at: &str,
    deadline: Instant,
    mut attempt: F,
) -> Result<T, (Duration, E)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(500);
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                if Instant::now() + pause > deadline {
                    return Err((started.elapsed(), e));
                }
                warn!(%at, error = %e, retry_in = ?pause, "{what} not reachable yet");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// A setting that cannot be turned into a running master.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot determine this host's address: {0}")]
    Address(crate::config::Error),
    #[error("dsmaster.heartbeat.fields must be 13 or 14, not {0}")]
    HeartbeatFields(u8),
    #[error("quartz settings: {0}")]
    Quartz(#[from] crate::schedule::options::Error),
}

impl Settings {
    /// Resolves a loaded conf dir into what `start` needs: our address as upstream computes
    /// it (unless `dsmaster.host` overrides it), the pool URL, registry and link options.
    pub fn from_options(o: &crate::config::Options) -> Result<Settings, SettingsError> {
        let advertised_ip = match &o.ours.host {
            Some(h) => h.clone(),
            None => crate::config::local_ip(o.common.network_interface_preferred.as_deref())
                .map_err(SettingsError::Address)?
                .to_string(),
        };
        let heartbeat_format = match o.ours.heartbeat_fields {
            None => None,
            Some(13) => Some(HeartbeatFormat::Fields13),
            Some(14) => Some(HeartbeatFormat::Fields14),
            Some(n) => return Err(SettingsError::HeartbeatFields(n)),
        };
        let wire_dialect = o.ours.wire_dialect.map(|d| match d {
            crate::config::WireDialect::A => Dialect::A,
            crate::config::WireDialect::B => Dialect::B,
            crate::config::WireDialect::C => Dialect::C,
        });
        let ds = &o.datasource;
        let quartz = crate::schedule::Options::load(&o.conf_dir)?;
        let registry = registry::Options {
            servers: o.registry.servers.clone(),
            namespace: o.registry.namespace.clone(),
            session_timeout: o.registry.session_timeout,
            connection_timeout: o.registry.connection_timeout,
            block_until_connected: o.registry.block_until_connected_wait,
            digest: o.registry.digest.clone(),
            heartbeat: heartbeat_format.unwrap_or(HeartbeatFormat::Fields13),
            heartbeat_interval: o.master.heartbeat_interval,
            max_cpuload_avg: o.master.max_cpuload_avg,
            reserved_memory: o.master.reserved_memory,
        };
        Ok(Settings {
            listen_port: o.master.listen_port,
            listen_host: o
                .ours
                .listen_host
                .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            advertised_ip,
            datasource: store::ConnectOptions {
                dialect: ds.dialect(),
                url: ds.connect_url(),
                max_connections: ds.max_pool_size.max(1) as usize,
                min_idle: ds.min_idle as usize,
                server_timezone: ds.server_timezone.clone(),
                jvm_offset_seconds: Some(
                    quartz
                        .jvm_zone
                        .offset_at_utc(chrono::Utc::now().timestamp_millis())
                        / 1000,
                ),
            },
            datasource_label: format!(
                "{} {}:{}/{}",
                ds.dialect().name(),
                ds.host,
                ds.port,
                ds.database
            ),
            registry,
            wire_dialect,
            heartbeat_format,
            startup_timeout: o.ours.startup_timeout,
            command_poll_interval: o.ours.command_poll_interval,
            fetch_command_num: o.master.fetch_command_num as usize,
            link: LinkOptions::default(),
            failover_interval: o.master.failover_interval,
            quartz,
            metrics: o
                .ours
                .metrics_port
                .map(|port| std::net::SocketAddr::new(o.ours.metrics_host, port)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_correct_a_stale_version_table() {
        assert_eq!(choose_dialect(Some(Dialect::B), Some(14)), Dialect::C);
        assert_eq!(choose_dialect(Some(Dialect::C), Some(13)), Dialect::B);
        assert_eq!(choose_dialect(Some(Dialect::A), Some(13)), Dialect::A);
        assert_eq!(choose_dialect(Some(Dialect::A), None), Dialect::A);
        assert_eq!(choose_dialect(None, None), Dialect::B);
        assert_eq!(choose_dialect(None, Some(14)), Dialect::C);
    }
}
