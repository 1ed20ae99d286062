//! Reading an existing DolphinScheduler 2.0.x `conf/` directory into validated [`Options`].
//!
//! dsmaster replaces the Java master in place: the operator stops the JVM and starts us
//! with the same conf dir, so every value must mean what it meant to the Java master —
//! same key names, same defaults, same units (seconds for the heartbeat, **minutes** for
//! the failover interval, milliseconds for registry timeouts). This module owns that
//! mapping; the submodules own the pieces:
//!
//! * [`properties`]: the `java.util.Properties` text format;
//! * [`datasource`]: the database connection (yaml, legacy properties, environment) and
//!   the JDBC URL parser;
//! * [`net`]: the IP address upstream would advertise for this machine.
//!
//! Files read from the conf dir (all optional except where a required key has no default):
//!
//! | file | section | notes |
//! |---|---|---|
//! | `master.properties` | [`MasterOptions`] | every key has a default |
//! | `registry.properties` | [`RegistryOptions`] | `registry.servers` is required |
//! | `common.properties` | [`CommonOptions`] | when absent, the values shipped in upstream's jar apply |
//! | `application-<DATABASE_TYPE>.yaml`, `application.yaml`, `datasource.properties` | [`DataSourceOptions`] | see [`datasource`] |
//! | `dsmaster.properties` | [`DsmasterOptions`] | keys only dsmaster has |
//!
//! Environment overrides: a variable named like the key in upper case with `.` and `-`
//! replaced by `_` (`MASTER_LISTEN_PORT`, `REGISTRY_SERVERS`, `SUDO_ENABLE`,
//! `DSMASTER_HOST`, …) beats the file. That is Spring's relaxed binding for
//! `master.properties`, and for `registry.properties` / `common.properties` it is what
//! upstream's Docker image achieves by rendering those variables into the files at start.
//! Empty values (in a file or the environment) count as "not set". JVM `-D` overrides have
//! no equivalent here. Unknown keys are logged at debug level; a value that does not
//! parse is an [`Error::BadValue`] naming the file (or variable), the key and the value.
//! `docs/configuration.md` lists every key.

pub mod datasource;
pub mod net;
pub mod properties;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use datasource::{parse_jdbc_url, DataSourceOptions, JdbcScheme, JdbcUrl};
pub use net::{
    choose_address, list_interfaces, local_ip, local_ip_with, Interface, NetworkPriority,
};

/// Everything that can go wrong while loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The conf dir itself is missing or unreadable.
    #[error("configuration directory {}: {source}", path.display())]
    ConfDir {
        /// The directory given.
        path: PathBuf,
        /// Why it could not be listed.
        source: std::io::Error,
    },
    /// A file exists but could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file could not be parsed at all (malformed `\u` escape, invalid yaml).
    #[error("{file}: {message}")]
    Syntax {
        /// File name.
        file: String,
        /// Parser message (with line number where known).
        message: String,
    },
    /// A value that does not mean anything for its key.
    #[error("{origin}: {key} = {value:?}: {reason}")]
    BadValue {
        /// File name, or `environment VAR`.
        origin: String,
        /// The key (or variable) name.
        key: String,
        /// The offending value (passwords redacted).
        value: String,
        /// What was expected.
        reason: String,
    },
    /// A required key has no value anywhere.
    #[error("{file}: {key} is not set{note}")]
    Missing {
        /// File where it belongs.
        file: String,
        /// The key.
        key: String,
        /// Extra explanation, starting with a space or empty.
        note: String,
    },
    /// The datasource cannot be used (nothing configured, no user, …).
    #[error("datasource: {0}")]
    Datasource(String),
}

/// All configuration of one dsmaster process.
#[derive(Debug, Clone)]
pub struct Options {
    /// The conf dir everything was read from.
    pub conf_dir: PathBuf,
    /// `master.properties`.
    pub master: MasterOptions,
    /// `registry.properties`.
    pub registry: RegistryOptions,
    /// Database connection.
    pub datasource: DataSourceOptions,
    /// `common.properties` keys the master reads.
    pub common: CommonOptions,
    /// `dsmaster.properties`: keys only dsmaster has.
    pub ours: DsmasterOptions,
}

/// Worker selection strategy (`master.host.selector`, case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostSelector {
    /// `LowerWeight` (default): the worker with the lowest computed load weight.
    #[default]
    LowerWeight,
    /// `Random`: weighted random.
    Random,
    /// `RoundRobin`: weighted round robin.
    RoundRobin,
}

impl HostSelector {
    /// Upstream's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HostSelector::LowerWeight => "LowerWeight",
            HostSelector::Random => "Random",
            HostSelector::RoundRobin => "RoundRobin",
        }
    }
}

/// `master.properties` (2.0.0–2.0.9) plus the two keys of the dev line's yaml.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterOptions {
    /// `master.listen.port` (5678): our TCP port and the port half of our identity.
    pub listen_port: u16,
    /// `master.fetch.command.num` (10). Not a 2.0.x key (dev line only); 2.0.x pages
    /// commands by the number of masters. Accepted for dsmaster's command query.
    pub fetch_command_num: u32,
    /// `master.pre.exec.threads` (10). Not a 2.0.x key (dev line only).
    pub pre_exec_threads: u32,
    /// `master.exec.threads` (100): size of the workflow start and event pools upstream.
    pub exec_threads: u32,
    /// `master.exec.task.num` (20): read by upstream, never used.
    pub exec_task_num: i32,
    /// `master.dispatch.task.num` (3): tasks taken from the priority queue per round.
    pub dispatch_task_number: u32,
    /// `master.host.selector` (`LowerWeight`).
    pub host_selector: HostSelector,
    /// `master.heartbeat.interval` (10, seconds): registry heartbeat period.
    pub heartbeat_interval: Duration,
    /// `master.state.wheel.interval` (5, seconds): timeout/retry check period.
    pub state_wheel_interval: Duration,
    /// `master.task.commit.retryTimes` (5): attempts to persist a task instance.
    pub task_commit_retry_times: u32,
    /// `master.task.commit.interval` (1000, milliseconds): pause between those attempts.
    pub task_commit_interval: Duration,
    /// `master.max.cpuload.avg` (-1) *as used*: `-1` is already replaced by
    /// 2 × available CPUs, like upstream's getter. Command intake pauses above it.
    pub max_cpuload_avg: f64,
    /// `master.reserved.memory` (0.3, GiB): intake pauses when less memory is available.
    pub reserved_memory: f64,
    /// `master.failover.interval` (10, **minutes**; 2.0.2+): failover check period.
    pub failover_interval: Duration,
    /// `master.kill.yarn.job.when.handle.failover` (true; 2.0.2+).
    pub kill_yarn_job_when_handle_failover: bool,
    /// `master.persist.event.state.threads` (10; 2.0.2+).
    pub persist_event_state_threads: u32,
    /// `master.cache.process.definition` (true; 2.0.0–2.0.2 only).
    pub cache_process_definition: bool,
}

/// Upstream's `DEFAULT_MASTER_CPU_LOAD`: twice the number of usable CPUs.
pub fn default_max_cpuload_avg() -> f64 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus * 2) as f64
}

impl Default for MasterOptions {
    fn default() -> Self {
        MasterOptions {
            listen_port: 5678,
            fetch_command_num: 10,
            pre_exec_threads: 10,
            exec_threads: 100,
            exec_task_num: 20,
            dispatch_task_number: 3,
            host_selector: HostSelector::LowerWeight,
            heartbeat_interval: Duration::from_secs(10),
            state_wheel_interval: Duration::from_secs(5),
            task_commit_retry_times: 5,
            task_commit_interval: Duration::from_millis(1000),
            max_cpuload_avg: default_max_cpuload_avg(),
            reserved_memory: 0.3,
            failover_interval: Duration::from_secs(10 * 60),
            kill_yarn_job_when_handle_failover: true,
            persist_event_state_threads: 10,
            cache_process_definition: true,
        }
    }
}

/// `registry.properties`. `Debug` hides the digest's password.
#[derive(Clone, PartialEq)]
pub struct RegistryOptions {
    /// `registry.plugin.name` (only `zookeeper` exists).
    pub plugin_name: String,
    /// `registry.servers`: ZooKeeper connect string `host:port[,host:port…]` (required).
    pub servers: String,
    /// `registry.namespace` (`dolphinscheduler`): the root znode, without slashes.
    pub namespace: String,
    /// `registry.base.sleep.time.ms` (60 ms): retry back-off base.
    pub base_sleep_time: Duration,
    /// `registry.max.retries` (5).
    pub max_retries: u32,
    /// `registry.session.timeout.ms` (30 000 ms): requested session timeout.
    pub session_timeout: Duration,
    /// `registry.connection.timeout.ms` (7 500 ms).
    pub connection_timeout: Duration,
    /// `registry.block.until.connected.wait` (600, milliseconds): first-connect deadline.
    pub block_until_connected_wait: Duration,
    /// `registry.digest` (`user:password`; empty = none): ZooKeeper digest auth + ACLs.
    pub digest: Option<String>,
}

impl RegistryOptions {
    /// Curator's maximum back-off as upstream computes it: base × retries
    /// (`registry.max.sleep.ms` is never read upstream).
    pub fn max_sleep(&self) -> Duration {
        self.base_sleep_time * self.max_retries
    }

    /// The connect string split at commas, blanks trimmed, empties dropped.
    pub fn server_list(&self) -> Vec<&str> {
        self.servers
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }
}

impl Default for RegistryOptions {
    /// The values of upstream's shipped template (servers `127.0.0.1:2181`).
    fn default() -> Self {
        RegistryOptions {
            plugin_name: "zookeeper".into(),
            servers: "127.0.0.1:2181".into(),
            namespace: "dolphinscheduler".into(),
            base_sleep_time: Duration::from_millis(60),
            max_retries: 5,
            session_timeout: Duration::from_millis(30_000),
            connection_timeout: Duration::from_millis(7_500),
            block_until_connected_wait: Duration::from_millis(600),
            digest: None,
        }
    }
}

impl fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digest = self
            .digest
            .as_ref()
            .map(|d| format!("{}:***", d.split(':').next().unwrap_or("")));
        f.debug_struct("RegistryOptions")
            .field("plugin_name", &self.plugin_name)
            .field("servers", &self.servers)
            .field("namespace", &self.namespace)
            .field("base_sleep_time", &self.base_sleep_time)
            .field("max_retries", &self.max_retries)
            .field("session_timeout", &self.session_timeout)
            .field("connection_timeout", &self.connection_timeout)
            .field(
                "block_until_connected_wait",
                &self.block_until_connected_wait,
            )
            .field("digest", &digest)
            .finish()
    }
}

/// `resource.storage.type` (upper-cased by upstream before use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResourceStorageType {
    /// `NONE` (shipped default): no resource centre.
    #[default]
    None,
    /// `HDFS`.
    Hdfs,
    /// `S3`.
    S3,
}

/// The `common.properties` keys the master (or code it shares with tasks) reads.
/// `Debug` hides the encryption salt.
#[derive(Clone, PartialEq)]
pub struct CommonOptions {
    /// `data.basedir.path` (`/tmp/dolphinscheduler`): local scratch directory.
    pub data_basedir_path: PathBuf,
    /// `resource.storage.type` (`NONE`).
    pub resource_storage_type: ResourceStorageType,
    /// `resource.upload.path` (`/dolphinscheduler`).
    pub resource_upload_path: String,
    /// `dolphin.scheduler.network.interface.preferred` (none): interface to advertise.
    pub network_interface_preferred: Option<String>,
    /// `dolphin.scheduler.network.priority.strategy` (`default`).
    pub network_priority_strategy: NetworkPriority,
    /// `sudo.enable` (true): run tenant commands through `sudo -u` (YARN kill on failover).
    pub sudo_enable: bool,
    /// `development.state` (false as shipped; true when the key is missing from a file).
    pub development_state: bool,
    /// `dolphinscheduler.env.path` (none): env script sourced by task commands.
    pub env_path: Option<String>,
    /// `hadoop.security.authentication.startup.state` (false): Kerberos for YARN calls.
    pub hadoop_security_authentication_startup_state: bool,
    /// `java.security.krb5.conf.path`.
    pub java_security_krb5_conf_path: Option<String>,
    /// `login.user.keytab.username`.
    pub login_user_keytab_username: Option<String>,
    /// `login.user.keytab.path`.
    pub login_user_keytab_path: Option<String>,
    /// `resource.manager.httpaddress.port` (8088).
    pub resource_manager_httpaddress_port: u16,
    /// `yarn.resourcemanager.ha.rm.ids` (empty = no HA).
    pub yarn_resourcemanager_ha_rm_ids: String,
    /// `yarn.application.status.address` (`http://ds1:%s/ws/v1/cluster/apps/%s`).
    pub yarn_application_status_address: String,
    /// `yarn.job.history.status.address`.
    pub yarn_job_history_status_address: String,
    /// `datasource.encryption.enable` (false): datasource passwords stored encoded.
    pub datasource_encryption_enable: bool,
    /// `datasource.encryption.salt` (`!@#$%^&*`).
    pub datasource_encryption_salt: String,
}

impl Default for CommonOptions {
    /// The values of the `common.properties` shipped in upstream's jar.
    fn default() -> Self {
        CommonOptions {
            data_basedir_path: PathBuf::from("/tmp/dolphinscheduler"),
            resource_storage_type: ResourceStorageType::None,
            resource_upload_path: "/dolphinscheduler".into(),
            network_interface_preferred: None,
            network_priority_strategy: NetworkPriority::Default,
            sudo_enable: true,
            development_state: false,
            env_path: None,
            hadoop_security_authentication_startup_state: false,
            java_security_krb5_conf_path: None,
            login_user_keytab_username: None,
            login_user_keytab_path: None,
            resource_manager_httpaddress_port: 8088,
            yarn_resourcemanager_ha_rm_ids: String::new(),
            yarn_application_status_address: "http://ds1:%s/ws/v1/cluster/apps/%s".into(),
            yarn_job_history_status_address: "http://ds1:19888/ws/v1/history/mapreduce/jobs/%s"
                .into(),
            datasource_encryption_enable: false,
            datasource_encryption_salt: "!@#$%^&*".into(),
        }
    }
}

impl fmt::Debug for CommonOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommonOptions")
            .field("data_basedir_path", &self.data_basedir_path)
            .field("resource_storage_type", &self.resource_storage_type)
            .field("resource_upload_path", &self.resource_upload_path)
            .field(
                "network_interface_preferred",
                &self.network_interface_preferred,
            )
            .field("network_priority_strategy", &self.network_priority_strategy)
            .field("sudo_enable", &self.sudo_enable)
            .field("development_state", &self.development_state)
            .field("env_path", &self.env_path)
            .field(
                "hadoop_security_authentication_startup_state",
                &self.hadoop_security_authentication_startup_state,
            )
            .field(
                "java_security_krb5_conf_path",
                &self.java_security_krb5_conf_path,
            )
            .field(
                "login_user_keytab_username",
                &self.login_user_keytab_username,
            )
            .field("login_user_keytab_path", &self.login_user_keytab_path)
            .field(
                "resource_manager_httpaddress_port",
                &self.resource_manager_httpaddress_port,
            )
            .field(
                "yarn_resourcemanager_ha_rm_ids",
                &self.yarn_resourcemanager_ha_rm_ids,
            )
            .field(
                "yarn_application_status_address",
                &self.yarn_application_status_address,
            )
            .field(
                "yarn_job_history_status_address",
                &self.yarn_job_history_status_address,
            )
            .field(
                "datasource_encryption_enable",
                &self.datasource_encryption_enable,
            )
            .field("datasource_encryption_salt", &"***")
            .finish()
    }
}

/// The Netty command-type numbering of the cluster we join (it cannot be negotiated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireDialect {
    /// 2.0.0–2.0.2 (and the dev seed).
    A,
    /// 2.0.3–2.0.5.
    B,
    /// 2.0.6–2.0.9.
    C,
}

impl WireDialect {
    /// Parses `A`/`B`/`C` (any case) or a release number `2.0.0` … `2.0.9`.
    pub fn parse(text: &str) -> Option<WireDialect> {
        let t = text.trim();
        match t.to_ascii_uppercase().as_str() {
            "A" => return Some(WireDialect::A),
            "B" => return Some(WireDialect::B),
            "C" => return Some(WireDialect::C),
            _ => {}
        }
        let patch: u32 = t.strip_prefix("2.0.")?.parse().ok()?;
        match patch {
            0..=2 => Some(WireDialect::A),
            3..=5 => Some(WireDialect::B),
            6..=9 => Some(WireDialect::C),
            _ => None,
        }
    }
}

/// Log output style (`dsmaster.log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// Keys only dsmaster has (`dsmaster.properties` in the conf dir, or `DSMASTER_*` env).
#[derive(Debug, Clone, PartialEq)]
pub struct DsmasterOptions {
    /// `dsmaster.wire.dialect`: `A`|`B`|`C` or a release like `2.0.5`; `None` = detect.
    pub wire_dialect: Option<WireDialect>,
    /// `dsmaster.heartbeat.fields`: 13 (≤2.0.5) or 14 (2.0.6+); `None` = detect.
    pub heartbeat_fields: Option<u8>,
    /// `dsmaster.host`: advertised host instead of the computed address.
    pub host: Option<String>,
    /// `dsmaster.listen.host`: the local address the command port binds; `None` = every
    /// address (`0.0.0.0`), as upstream's Netty server binds.
    pub listen_host: Option<std::net::IpAddr>,
    /// `dsmaster.startup.timeout` (60, seconds): how long to retry the DB and ZooKeeper
    /// at start before giving up.
    pub startup_timeout: Duration,
    /// `dsmaster.command.poll.interval` (100, milliseconds): how long command intake waits
    /// before looking at `t_ds_command` again after a look found nothing. Commands this
    /// process inserts itself are taken at once; work found means the next look is at once.
    pub command_poll_interval: Duration,
    /// `dsmaster.log.format` (`human`|`json`).
    pub log_format: LogFormat,
    /// `dsmaster.metrics.port`: the HTTP port of `/metrics` (Prometheus text) and
    /// `/health/live`, `/health/ready`; `None` (unset or 0) = no HTTP server. The image sets
    /// 5679, the port of the 3.x master's own HTTP server.
    pub metrics_port: Option<u16>,
    /// `dsmaster.metrics.host` (`0.0.0.0`): the local address that port binds.
    pub metrics_host: std::net::IpAddr,
}

impl Default for DsmasterOptions {
    fn default() -> Self {
        DsmasterOptions {
            wire_dialect: None,
            heartbeat_fields: None,
            host: None,
            listen_host: None,
            startup_timeout: Duration::from_secs(60),
            command_poll_interval: Duration::from_millis(100),
            log_format: LogFormat::Human,
            metrics_port: None,
            metrics_host: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        }
    }
}

impl Options {
    /// Loads `conf_dir` with overrides from this process's environment.
    pub fn load(conf_dir: &Path) -> Result<Options, Error> {
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Options::load_with_env(conf_dir, &env)
    }

    /// Loads `conf_dir` with overrides from `env` (the process environment is not read).
    pub fn load_with_env(
        conf_dir: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<Options, Error> {
        std::fs::read_dir(conf_dir).map_err(|source| Error::ConfDir {
            path: conf_dir.to_path_buf(),
            source,
        })?;
        let master_file = FileProps::read(conf_dir, "master.properties")?;
        let registry_file = FileProps::read(conf_dir, "registry.properties")?;
        let common_file = FileProps::read(conf_dir, "common.properties")?;
        let ours_file = FileProps::read(conf_dir, "dsmaster.properties")?;

        let master = load_master(&Reader::new(&master_file, env))?;
        let registry = load_registry(&Reader::new(&registry_file, env), conf_dir)?;
        let common = load_common(&Reader::new(&common_file, env))?;
        let ours = load_ours(&Reader::new(&ours_file, env))?;
        let datasource = datasource::load(conf_dir, env)?;

        master_file.log_unknown(KNOWN_MASTER, &[]);
        registry_file.log_unknown(KNOWN_REGISTRY, IGNORED_REGISTRY);
        common_file.log_unknown(KNOWN_COMMON, IGNORED_COMMON);
        ours_file.log_unknown(KNOWN_OURS, &[]);

        Ok(Options {
            conf_dir: conf_dir.to_path_buf(),
            master,
            registry,
            datasource,
            common,
            ours,
        })
    }

    /// The host part of our identity: `dsmaster.host` if set, else the address upstream
    /// would compute ([`local_ip_with`] with the common.properties network keys).
    pub fn advertised_host(&self) -> Result<String, Error> {
        if let Some(h) = &self.ours.host {
            return Ok(h.clone());
        }
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
            && std::env::var_os("KUBERNETES_SERVICE_PORT").is_some()
        {
            tracing::warn!(
                "running under Kubernetes: upstream advertises a DNS name here, dsmaster an IP; set dsmaster.host (DSMASTER_HOST) to match the Java servers"
            );
        }
        let ip = local_ip_with(
            self.common.network_interface_preferred.as_deref(),
            &self.common.network_priority_strategy,
        )?;
        Ok(ip.to_string())
    }

    /// Our identity `host:port` as written to the registry and `t_ds_process_instance.host`.
    pub fn advertised_address(&self) -> Result<String, Error> {
        Ok(format!(
            "{}:{}",
            self.advertised_host()?,
            self.master.listen_port
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Key lists

const KNOWN_MASTER: &[&str] = &[
    "master.listen.port",
    "master.fetch.command.num",
    "master.pre.exec.threads",
    "master.exec.threads",
    "master.exec.task.num",
    "master.dispatch.task.num",
    "master.host.selector",
    "master.heartbeat.interval",
    "master.state.wheel.interval",
    "master.task.commit.retryTimes",
    "master.task.commit.interval",
    "master.max.cpuload.avg",
    "master.reserved.memory",
    "master.failover.interval",
    "master.kill.yarn.job.when.handle.failover",
    "master.persist.event.state.threads",
    "master.cache.process.definition",
];

const KNOWN_REGISTRY: &[&str] = &[
    "registry.plugin.name",
    "registry.servers",
    "registry.namespace",
    "registry.base.sleep.time.ms",
    "registry.max.retries",
    "registry.session.timeout.ms",
    "registry.connection.timeout.ms",
    "registry.block.until.connected.wait",
    "registry.digest",
];

/// Keys upstream knows but that change nothing for us (not worth a debug line).
const IGNORED_REGISTRY: &[&str] = &[
    "registry.max.sleep.ms",
    "registry.plugin.dir",
    "registry.plugin.binding",
    "maven.local.repository",
    "session.timeout.ms",
];

const KNOWN_COMMON: &[&str] = &[
    "data.basedir.path",
    "resource.storage.type",
    "resource.upload.path",
    "dolphin.scheduler.network.interface.preferred",
    "dolphin.scheduler.network.priority.strategy",
    "sudo.enable",
    "development.state",
    "dolphinscheduler.env.path",
    "hadoop.security.authentication.startup.state",
    "java.security.krb5.conf.path",
    "login.user.keytab.username",
    "login.user.keytab.path",
    "resource.manager.httpaddress.port",
    "yarn.resourcemanager.ha.rm.ids",
    "yarn.application.status.address",
    "yarn.job.history.status.address",
    "datasource.encryption.enable",
    "datasource.encryption.salt",
];

const IGNORED_COMMON: &[&str] = &[
    "kerberos.expire.time",
    "resource.view.suffixs",
    "hdfs.root.user",
    "fs.defaultFS",
    "fs.s3a.endpoint",
    "fs.s3a.access.key",
    "fs.s3a.secret.key",
    "support.hive.oneSession",
    "datasource.plugin.dir",
];

const KNOWN_OURS: &[&str] = &[
    "dsmaster.wire.dialect",
    "dsmaster.heartbeat.fields",
    "dsmaster.host",
    "dsmaster.listen.host",
    "dsmaster.startup.timeout",
    "dsmaster.log.format",
    "dsmaster.command.poll.interval",
    "dsmaster.metrics.port",
    "dsmaster.metrics.host",
    // Read by `schedule::Options` (timed schedules).
    "dsmaster.schedule.enabled",
    "dsmaster.jvm.timezone",
];

// ---------------------------------------------------------------------------------------
// Reading

/// One properties file of the conf dir (empty if absent).
struct FileProps {
    name: &'static str,
    present: bool,
    map: BTreeMap<String, String>,
}

impl FileProps {
    fn read(conf_dir: &Path, name: &'static str) -> Result<FileProps, Error> {
        let path = conf_dir.join(name);
        let text = match std::fs::read(&path) {
            Ok(bytes) => properties::decode_bytes(&bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(FileProps {
                    name,
                    present: false,
                    map: BTreeMap::new(),
                })
            }
            Err(source) => return Err(Error::Read { path, source }),
        };
        let map = properties::parse(&text).map_err(|e| Error::Syntax {
            file: name.to_string(),
            message: e.to_string(),
        })?;
        Ok(FileProps {
            name,
            present: true,
            map,
        })
    }

    fn log_unknown(&self, known: &[&str], ignored: &[&str]) {
        let known: BTreeSet<&str> = known.iter().chain(ignored).copied().collect();
        for key in self.map.keys().filter(|k| !known.contains(k.as_str())) {
            tracing::debug!(file = self.name, key = %key, "configuration key not used by dsmaster");
        }
    }
}

/// A value and where it came from.
struct Sourced {
    origin: String,
    key: String,
    value: String,
}

impl Sourced {
    fn bad(&self, reason: impl Into<String>) -> Error {
        Error::BadValue {
            origin: self.origin.clone(),
            key: self.key.clone(),
            value: self.value.clone(),
            reason: reason.into(),
        }
    }
}

/// The environment variable that overrides `key`.
fn env_name(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '.' | '-' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

struct Reader<'a> {
    file: &'a FileProps,
    env: &'a BTreeMap<String, String>,
}

impl<'a> Reader<'a> {
    fn new(file: &'a FileProps, env: &'a BTreeMap<String, String>) -> Self {
        Reader { file, env }
    }

    /// The raw value: environment first (also under `aliases`), then the file. Values
    /// that are empty after trimming count as unset.
    fn raw_with_aliases(&self, key: &str, aliases: &[&str]) -> Option<Sourced> {
        let primary = env_name(key);
        for var in std::iter::once(primary.as_str()).chain(aliases.iter().copied()) {
            if let Some(v) = self.env.get(var) {
                if v.trim().is_empty() {
                    continue;
                }
                return Some(Sourced {
                    origin: format!("environment {var}"),
                    key: key.to_string(),
                    value: v.clone(),
                });
            }
        }
        let v = self.file.map.get(key)?;
        if v.trim().is_empty() {
            tracing::debug!(file = self.file.name, key, "empty value, using the default");
            return None;
        }
        Some(Sourced {
            origin: self.file.name.to_string(),
            key: key.to_string(),
            value: v.clone(),
        })
    }

    fn raw(&self, key: &str) -> Option<Sourced> {
        self.raw_with_aliases(key, &[])
    }

    fn parsed<T>(
        &self,
        key: &str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, Error> {
        match self.raw(key) {
            None => Ok(default),
            Some(s) => parse(s.value.trim()).map_err(|reason| s.bad(reason)),
        }
    }

    fn string(&self, key: &str) -> Option<String> {
        self.raw(key).map(|s| s.value.trim().to_string())
    }

    fn string_or(&self, key: &str, default: &str) -> String {
        self.string(key).unwrap_or_else(|| default.to_string())
    }
}

fn java_int(s: &str) -> Result<i32, String> {
    s.parse::<i32>()
        .map_err(|_| "not an integer (Java int)".to_string())
}

fn port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err("not a port number".into()),
    }
}

fn positive(s: &str) -> Result<u32, String> {
    let n = java_int(s)?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| "must be a positive integer".to_string())
}

fn non_negative(s: &str) -> Result<u32, String> {
    let n = java_int(s)?;
    u32::try_from(n).map_err(|_| "must not be negative".to_string())
}

/// Java `Double.parseDouble` for finite values (a trailing `d`/`f` is accepted).
fn java_double(s: &str) -> Result<f64, String> {
    let t = s.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(s);
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && !t.to_ascii_lowercase().contains("inf") => Ok(v),
        _ => Err("not a finite number".into()),
    }
}

/// Spring's boolean conversion (`master.properties`).
fn spring_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err("not a boolean (true/false)".into()),
    }
}

fn seconds(s: &str) -> Result<Duration, String> {
    positive(s).map(|n| Duration::from_secs(u64::from(n)))
}

fn millis(s: &str) -> Result<Duration, String> {
    non_negative(s).map(|n| Duration::from_millis(u64::from(n)))
}

fn positive_millis(s: &str) -> Result<Duration, String> {
    positive(s).map(|n| Duration::from_millis(u64::from(n)))
}

fn load_master(r: &Reader<'_>) -> Result<MasterOptions, Error> {
    let d = MasterOptions::default();
    let host_selector = r.parsed("master.host.selector", d.host_selector, |s| {
        [
            HostSelector::LowerWeight,
            HostSelector::Random,
            HostSelector::RoundRobin,
        ]
        .into_iter()
        .find(|h| h.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| "not one of Random, RoundRobin, LowerWeight".to_string())
    })?;
    let max_cpuload_avg =
        match r.raw_with_aliases("master.max.cpuload.avg", &["MASTER_MAX_CPU_LOAD_AVG"]) {
            None => d.max_cpuload_avg,
            Some(s) => {
                let v = java_double(s.value.trim()).map_err(|reason| s.bad(reason))?;
                if v == -1.0 {
                    default_max_cpuload_avg()
                } else {
                    v
                }
            }
        };
    Ok(MasterOptions {
        listen_port: r.parsed("master.listen.port", d.listen_port, port)?,
        fetch_command_num: r.parsed("master.fetch.command.num", d.fetch_command_num, positive)?,
        pre_exec_threads: r.parsed("master.pre.exec.threads", d.pre_exec_threads, positive)?,
        exec_threads: r.parsed("master.exec.threads", d.exec_threads, positive)?,
        exec_task_num: r.parsed("master.exec.task.num", d.exec_task_num, java_int)?,
        dispatch_task_number: r.parsed(
            "master.dispatch.task.num",
            d.dispatch_task_number,
            positive,
        )?,
        host_selector,
        heartbeat_interval: r.parsed("master.heartbeat.interval", d.heartbeat_interval, seconds)?,
        state_wheel_interval: r.parsed(
            "master.state.wheel.interval",
            d.state_wheel_interval,
            seconds,
        )?,
        task_commit_retry_times: r.parsed(
            "master.task.commit.retryTimes",
            d.task_commit_retry_times,
            non_negative,
        )?,
        task_commit_interval: r.parsed(
            "master.task.commit.interval",
            d.task_commit_interval,
            millis,
        )?,
        max_cpuload_avg,
        reserved_memory: r.parsed("master.reserved.memory", d.reserved_memory, java_double)?,
        failover_interval: r.parsed("master.failover.interval", d.failover_interval, |s| {
            positive(s).map(|m| Duration::from_secs(u64::from(m) * 60))
        })?,
        kill_yarn_job_when_handle_failover: r.parsed(
            "master.kill.yarn.job.when.handle.failover",
            d.kill_yarn_job_when_handle_failover,
            spring_bool,
        )?,
        persist_event_state_threads: r.parsed(
            "master.persist.event.state.threads",
            d.persist_event_state_threads,
            positive,
        )?,
        cache_process_definition: r.parsed(
            "master.cache.process.definition",
            d.cache_process_definition,
            spring_bool,
        )?,
    })
}

fn load_registry(r: &Reader<'_>, conf_dir: &Path) -> Result<RegistryOptions, Error> {
    let d = RegistryOptions::default();
    let absent_note = |key: &str| {
        if r.file.present {
            format!(" (nor {} in the environment)", env_name(key))
        } else {
            format!(
                " ({} does not exist in {} and {} is not in the environment)",
                r.file.name,
                conf_dir.display(),
                env_name(key)
            )
        }
    };
    let plugin_name = match r.raw("registry.plugin.name") {
        None => {
            tracing::warn!("registry.plugin.name is not set; assuming zookeeper");
            d.plugin_name
        }
        Some(s) if s.value.trim().eq_ignore_ascii_case("zookeeper") => "zookeeper".to_string(),
        Some(s) => return Err(s.bad("only the zookeeper registry plugin exists")),
    };
    let servers = match r.raw("registry.servers") {
        Some(s) => {
            let servers = s.value.trim().to_string();
            let list: Vec<&str> = servers.split(',').map(str::trim).collect();
            if list.iter().any(|h| h.is_empty()) {
                return Err(s.bad("expected host:port[,host:port…]"));
            }
            servers
        }
        None => {
            return Err(Error::Missing {
                file: r.file.name.to_string(),
                key: "registry.servers".into(),
                note: absent_note("registry.servers"),
            })
        }
    };
    let namespace = r.parsed("registry.namespace", d.namespace, |s| {
        let ns = s.trim_matches('/');
        if ns.is_empty() {
            Err("the namespace must name a znode".to_string())
        } else {
            Ok(ns.to_string())
        }
    })?;
    let digest = match r.raw("registry.digest") {
        None => None,
        Some(s) if s.value.trim().contains(':') => Some(s.value.trim().to_string()),
        Some(s) => {
            return Err(Error::BadValue {
                origin: s.origin,
                key: s.key,
                value: "***".into(),
                reason: "expected user:password".into(),
            })
        }
    };
    Ok(RegistryOptions {
        plugin_name,
        servers,
        namespace,
        base_sleep_time: r.parsed("registry.base.sleep.time.ms", d.base_sleep_time, millis)?,
        max_retries: r.parsed("registry.max.retries", d.max_retries, non_negative)?,
        session_timeout: r.parsed(
            "registry.session.timeout.ms",
            d.session_timeout,
            positive_millis,
        )?,
        connection_timeout: r.parsed(
            "registry.connection.timeout.ms",
            d.connection_timeout,
            positive_millis,
        )?,
        block_until_connected_wait: r.parsed(
            "registry.block.until.connected.wait",
            d.block_until_connected_wait,
            millis,
        )?,
        digest,
    })
}

fn load_common(r: &Reader<'_>) -> Result<CommonOptions, Error> {
    let d = CommonOptions::default();
    // Java `Boolean.parseBoolean`: only "true" is true; anything else is false.
    let java_bool = |key: &str, default: bool| -> bool {
        match r.raw(key) {
            None => default,
            Some(s) => {
                let v = s.value.trim();
                if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                    tracing::warn!(origin = %s.origin, key, value = v, "not true/false; read as false, as upstream does");
                }
                v.eq_ignore_ascii_case("true")
            }
        }
    };
    // A conf-dir common.properties replaces the jar's copy entirely, so a key missing from
    // it takes the code default; without the file the shipped values apply.
    let development_default = if r.file.present {
        true
    } else {
        d.development_state
    };
    Ok(CommonOptions {
        data_basedir_path: PathBuf::from(r.string_or("data.basedir.path", "/tmp/dolphinscheduler")),
        resource_storage_type: r.parsed("resource.storage.type", d.resource_storage_type, |s| {
            match s.to_ascii_uppercase().as_str() {
                "NONE" => Ok(ResourceStorageType::None),
                "HDFS" => Ok(ResourceStorageType::Hdfs),
                "S3" => Ok(ResourceStorageType::S3),
                _ => Err("not one of HDFS, S3, NONE".to_string()),
            }
        })?,
        resource_upload_path: r.string_or("resource.upload.path", &d.resource_upload_path),
        network_interface_preferred: r.string("dolphin.scheduler.network.interface.preferred"),
        network_priority_strategy: r
            .string("dolphin.scheduler.network.priority.strategy")
            .map_or(NetworkPriority::Default, |s| NetworkPriority::parse(&s)),
        sudo_enable: java_bool("sudo.enable", true),
        development_state: java_bool("development.state", development_default),
        env_path: r.string("dolphinscheduler.env.path"),
        hadoop_security_authentication_startup_state: java_bool(
            "hadoop.security.authentication.startup.state",
            false,
        ),
        java_security_krb5_conf_path: r.string("java.security.krb5.conf.path"),
        login_user_keytab_username: r.string("login.user.keytab.username"),
        login_user_keytab_path: r.string("login.user.keytab.path"),
        resource_manager_httpaddress_port: r.parsed(
            "resource.manager.httpaddress.port",
            d.resource_manager_httpaddress_port,
            port,
        )?,
        yarn_resourcemanager_ha_rm_ids: r.string_or("yarn.resourcemanager.ha.rm.ids", ""),
        yarn_application_status_address: r.string_or(
            "yarn.application.status.address",
            &d.yarn_application_status_address,
        ),
        yarn_job_history_status_address: r.string_or(
            "yarn.job.history.status.address",
            &d.yarn_job_history_status_address,
        ),
        datasource_encryption_enable: java_bool("datasource.encryption.enable", false),
        datasource_encryption_salt: r
            .raw("datasource.encryption.salt")
            .map_or(d.datasource_encryption_salt, |s| s.value),
    })
}

fn load_ours(r: &Reader<'_>) -> Result<DsmasterOptions, Error> {
    let d = DsmasterOptions::default();
    Ok(DsmasterOptions {
        wire_dialect: r.parsed("dsmaster.wire.dialect", None, |s| {
            if s.eq_ignore_ascii_case("detect") || s.eq_ignore_ascii_case("auto") {
                return Ok(None);
            }
            WireDialect::parse(s)
                .map(Some)
                .ok_or_else(|| "expected A, B, C, a release like 2.0.5, or detect".to_string())
        })?,
        heartbeat_fields: r.parsed("dsmaster.heartbeat.fields", None, |s| match s {
            "13" => Ok(Some(13)),
            "14" => Ok(Some(14)),
            s if s.eq_ignore_ascii_case("detect") || s.eq_ignore_ascii_case("auto") => Ok(None),
            _ => Err("expected 13 (2.0.0-2.0.5), 14 (2.0.6+) or detect".to_string()),
        })?,
        host: r.parsed("dsmaster.host", None, |s| {
            if s.contains([':', ',', '/', ' ']) {
                Err("expected an IPv4 address or host name (no port, no commas)".to_string())
            } else {
                Ok(Some(s.to_string()))
            }
        })?,
        listen_host: r.parsed("dsmaster.listen.host", None, |s| {
            s.parse::<std::net::IpAddr>()
                .map(Some)
                .map_err(|_| "expected an IP address such as 127.0.0.1 or 0.0.0.0".to_string())
        })?,
        startup_timeout: r.parsed("dsmaster.startup.timeout", d.startup_timeout, |s| {
            non_negative(s)
                .map(|n| Duration::from_secs(u64::from(n)))
                .map_err(|_| "expected a whole number of seconds".to_string())
        })?,
        command_poll_interval: r.parsed(
            "dsmaster.command.poll.interval",
            d.command_poll_interval,
            |s| match s.trim().parse::<u64>() {
                Ok(n) if (1..=60_000).contains(&n) => Ok(Duration::from_millis(n)),
                _ => Err("expected milliseconds between 1 and 60000".to_string()),
            },
        )?,
        log_format: r.parsed("dsmaster.log.format", d.log_format, |s| {
            match s.to_ascii_lowercase().as_str() {
                "human" | "text" => Ok(LogFormat::Human),
                "json" => Ok(LogFormat::Json),
                _ => Err("expected human or json".to_string()),
            }
        })?,
        metrics_port: r.parsed("dsmaster.metrics.port", d.metrics_port, |s| {
            match s.trim().parse::<u16>() {
                Ok(0) => Ok(None),
                Ok(n) => Ok(Some(n)),
                Err(_) => {
                    Err("expected a port number (0 = no metrics and health server)".to_string())
                }
            }
        })?,
        metrics_host: r.parsed("dsmaster.metrics.host", d.metrics_host, |s| {
            s.trim()
                .parse::<std::net::IpAddr>()
                .map_err(|_| "expected an IP address such as 127.0.0.1 or 0.0.0.0".to_string())
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(version: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/conf")
            .join(version)
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).expect("write");
    }

    /// A conf dir with the minimum needed: registry servers and a datasource.
    fn minimal_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "registry.properties",
            "registry.plugin.name=zookeeper\nregistry.servers=zk:2181\n",
        );
        write(
            dir.path(),
            "application-mysql.yaml",
            "spring:\n  datasource:\n    url: jdbc:mysql://db:3306/ds\n    username: u\n    password: pw-in-yaml\n",
        );
        dir
    }

    #[test]
    fn fixture_2_0_5_loads() {
        let o = Options::load_with_env(&fixture("2.0.5"), &BTreeMap::new()).expect("loads");
        assert_eq!(o.master.listen_port, 5678);
        assert_eq!(o.master.exec_threads, 100);
        assert_eq!(o.master.dispatch_task_number, 3);
        assert_eq!(o.master.host_selector, HostSelector::LowerWeight);
        assert_eq!(o.master.heartbeat_interval, Duration::from_secs(10));
        assert_eq!(o.master.failover_interval, Duration::from_secs(600));
        assert_eq!(o.master.max_cpuload_avg, default_max_cpuload_avg());
        assert_eq!(o.registry.servers, "127.0.0.1:2181");
        assert_eq!(o.registry.namespace, "dolphinscheduler");
        assert_eq!(
            o.registry.block_until_connected_wait,
            Duration::from_millis(600)
        );
        assert_eq!(o.registry.digest, None);
        assert_eq!(o.registry.max_sleep(), Duration::from_millis(300));
        assert_eq!(o.datasource.host, "127.0.0.1");
        assert_eq!(o.datasource.port, 3306);
        assert_eq!(o.datasource.database, "dolphinscheduler");
        assert_eq!(o.datasource.username, "ds_user");
        assert_eq!(o.datasource.max_pool_size, 50);
        assert_eq!(o.datasource.min_idle, 5);
        assert_eq!(o.datasource.connection_timeout, Duration::from_secs(30));
        assert_eq!(o.common.resource_storage_type, ResourceStorageType::None);
        assert!(!o.common.development_state);
        assert_eq!(o.common.network_interface_preferred, None);
        assert_eq!(o.ours, DsmasterOptions::default());
    }

    #[test]
    fn fixture_2_0_0_loads() {
        let o = Options::load_with_env(&fixture("2.0.0"), &BTreeMap::new()).expect("loads");
        assert!(o.master.cache_process_definition);
        assert_eq!(o.master.exec_task_num, 20);
        assert_eq!(o.registry.plugin_name, "zookeeper");
        assert_eq!(o.registry.session_timeout, Duration::from_millis(30_000));
        assert_eq!(o.datasource.url_origin, "datasource.properties");
        assert_eq!(o.datasource.max_pool_size, 50);
        assert_eq!(o.datasource.port, 3306);
        assert_eq!(
            o.datasource
                .params
                .get("allowMultiQueries")
                .map(String::as_str),
            Some("true")
        );
    }

    #[test]
    fn missing_conf_dir_names_the_path() {
        let err = Options::load_with_env(Path::new("/no/such/conf-dir"), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("/no/such/conf-dir"), "{err}");
    }

    #[test]
    fn bad_value_error_text() {
        let dir = minimal_dir();
        write(dir.path(), "master.properties", "master.listen.port=abc\n");
        let err = Options::load_with_env(dir.path(), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "master.properties: master.listen.port = \"abc\": not a port number"
        );

        write(
            dir.path(),
            "master.properties",
            "master.host.selector=Fastest\n",
        );
        let err = Options::load_with_env(dir.path(), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "master.properties: master.host.selector = \"Fastest\": not one of Random, RoundRobin, LowerWeight"
        );

        write(dir.path(), "master.properties", "");
        let err = Options::load_with_env(dir.path(), &env(&[("MASTER_HEARTBEAT_INTERVAL", "0")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "environment MASTER_HEARTBEAT_INTERVAL: master.heartbeat.interval = \"0\": must be a positive integer"
        );
    }

    #[test]
    fn env_overrides_files() {
        let dir = minimal_dir();
        write(
            dir.path(),
            "master.properties",
            "master.listen.port=5679\nmaster.heartbeat.interval=3\nmaster.reserved.memory=0.5\nmaster.host.selector=random\n",
        );
        write(
            dir.path(),
            "common.properties",
            "sudo.enable=true\ndolphin.scheduler.network.interface.preferred=eth9\n",
        );
        let e = env(&[
            ("MASTER_LISTEN_PORT", "6000"),
            ("MASTER_MAX_CPULOAD_AVG", "100"),
            ("REGISTRY_SERVERS", "zk1:2181,zk2:2181"),
            ("REGISTRY_NAMESPACE", "/test-ns/"),
            ("SUDO_ENABLE", "false"),
            ("MASTER_RESERVED_MEMORY", ""),
            ("DSMASTER_WIRE_DIALECT", "2.0.9"),
            ("DSMASTER_HOST", "10.1.2.3"),
        ]);
        let o = Options::load_with_env(dir.path(), &e).expect("loads");
        assert_eq!(o.master.listen_port, 6000);
        assert_eq!(o.master.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(o.master.max_cpuload_avg, 100.0);
        assert_eq!(o.master.reserved_memory, 0.5, "empty env value = unset");
        assert_eq!(o.master.host_selector, HostSelector::Random);
        assert_eq!(o.registry.server_list(), vec!["zk1:2181", "zk2:2181"]);
        assert_eq!(o.registry.namespace, "test-ns");
        assert!(!o.common.sudo_enable);
        assert!(
            o.common.development_state,
            "missing from a present file = code default"
        );
        assert_eq!(
            o.common.network_interface_preferred.as_deref(),
            Some("eth9")
        );
        assert_eq!(o.ours.wire_dialect, Some(WireDialect::C));
        assert_eq!(o.advertised_address().expect("host"), "10.1.2.3:6000");
        let o = Options::load_with_env(dir.path(), &env(&[("MASTER_MAX_CPU_LOAD_AVG", "7.5")]))
            .expect("loads");
        assert_eq!(o.master.max_cpuload_avg, 7.5);
        // The upstream image and daemon script set JVM options under the same prefix; they
        // name no key of ours and must never turn into a bad-value error.
        let jvm = env(&[
            ("MASTER_SERVER_OPTS", "-Xms1g -Xmx1g -Xmn512m"),
            ("MASTER_SERVER_JVM_OPTS", "-XX:+UseG1GC"),
            ("DSMASTER_OPTS", "--log-format json"),
        ]);
        let o = Options::load_with_env(dir.path(), &jvm).expect("JVM options are not ours");
        assert_eq!(o.master.listen_port, 5679);
    }

    #[test]
    fn dsmaster_properties() {
        let dir = minimal_dir();
        write(
            dir.path(),
            "dsmaster.properties",
            "dsmaster.wire.dialect=b\ndsmaster.heartbeat.fields=14\ndsmaster.startup.timeout=5\ndsmaster.log.format=JSON\nsomething.else=1\n",
        );
        let o = Options::load_with_env(dir.path(), &BTreeMap::new()).expect("loads");
        assert_eq!(o.ours.wire_dialect, Some(WireDialect::B));
        assert_eq!(o.ours.heartbeat_fields, Some(14));
        assert_eq!(o.ours.startup_timeout, Duration::from_secs(5));
        assert_eq!(o.ours.log_format, LogFormat::Json);
        let err = Options::load_with_env(dir.path(), &env(&[("DSMASTER_HEARTBEAT_FIELDS", "15")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "environment DSMASTER_HEARTBEAT_FIELDS: dsmaster.heartbeat.fields = \"15\""
            ),
            "{err}"
        );
        let err = Options::load_with_env(dir.path(), &env(&[("DSMASTER_HOST", "1.2.3.4:5678")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no port"), "{err}");
        assert_eq!(o.ours.command_poll_interval, Duration::from_millis(100));
        let o = Options::load_with_env(
            dir.path(),
            &env(&[("DSMASTER_COMMAND_POLL_INTERVAL", "250")]),
        )
        .expect("loads");
        assert_eq!(o.ours.command_poll_interval, Duration::from_millis(250));
        for bad in ["0", "-1", "1s", "60001"] {
            let err = Options::load_with_env(
                dir.path(),
                &env(&[("DSMASTER_COMMAND_POLL_INTERVAL", bad)]),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("milliseconds"), "{bad}: {err}");
        }
    }

    #[test]
    fn registry_requirements() {
        let dir = minimal_dir();
        write(
            dir.path(),
            "registry.properties",
            "registry.plugin.name=etcd\nregistry.servers=x:1\n",
        );
        let err = Options::load_with_env(dir.path(), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("only the zookeeper"), "{err}");

        std::fs::remove_file(dir.path().join("registry.properties")).expect("rm");
        let err = Options::load_with_env(dir.path(), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("registry.properties: registry.servers is not set"),
            "{err}"
        );
        assert!(err.contains("REGISTRY_SERVERS"), "{err}");
        let o = Options::load_with_env(dir.path(), &env(&[("REGISTRY_SERVERS", "zk:2181")]))
            .expect("loads");
        assert_eq!(o.registry.plugin_name, "zookeeper");

        write(
            dir.path(),
            "registry.properties",
            "registry.plugin.name=zookeeper\nregistry.servers=zk:2181\nregistry.digest=admin:s3cret\nregistry.block.until.connected.wait=15000\n",
        );
        let o = Options::load_with_env(dir.path(), &BTreeMap::new()).expect("loads");
        assert_eq!(o.registry.digest.as_deref(), Some("admin:s3cret"));
        assert_eq!(
            o.registry.block_until_connected_wait,
            Duration::from_secs(15)
        );
        let dbg = format!("{o:?}");
        assert!(!dbg.contains("s3cret"), "{dbg}");
        assert!(!dbg.contains("pw-in-yaml"), "{dbg}");
        assert!(dbg.contains("admin:***"), "{dbg}");
    }

    #[test]
    fn common_without_file_uses_shipped_values() {
        let dir = minimal_dir();
        let o = Options::load_with_env(dir.path(), &BTreeMap::new()).expect("loads");
        assert_eq!(o.common, CommonOptions::default());
        assert!(o.common.sudo_enable);
        assert!(!o.common.development_state);
        write(
            dir.path(),
            "common.properties",
            "resource.storage.type=hdfs\ndolphin.scheduler.network.priority.strategy=OUTER\n",
        );
        let o = Options::load_with_env(dir.path(), &BTreeMap::new()).expect("loads");
        assert_eq!(o.common.resource_storage_type, ResourceStorageType::Hdfs);
        assert_eq!(o.common.network_priority_strategy, NetworkPriority::Outer);
        write(
            dir.path(),
            "common.properties",
            "resource.storage.type=ftp\n",
        );
        let err = Options::load_with_env(dir.path(), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "common.properties: resource.storage.type = \"ftp\": not one of HDFS, S3, NONE"
        );
    }

    #[test]
    fn master_value_rules() {
        let dir = minimal_dir();
        write(
            dir.path(),
            "master.properties",
            "master.max.cpuload.avg=-1\nmaster.failover.interval=2\nmaster.task.commit.interval=0\nmaster.kill.yarn.job.when.handle.failover=off\nmaster.listen.port = 5680 \nmaster.state.wheel.interval=\n",
        );
        let o = Options::load_with_env(dir.path(), &BTreeMap::new()).expect("loads");
        assert_eq!(o.master.max_cpuload_avg, default_max_cpuload_avg());
        assert_eq!(o.master.failover_interval, Duration::from_secs(120));
        assert_eq!(o.master.task_commit_interval, Duration::ZERO);
        assert!(!o.master.kill_yarn_job_when_handle_failover);
        assert_eq!(o.master.listen_port, 5680);
        assert_eq!(o.master.state_wheel_interval, Duration::from_secs(5));
        for bad in [
            "master.reserved.memory=NaN",
            "master.reserved.memory=inf",
            "master.exec.threads=-1",
            "master.exec.threads=99999999999",
            "master.listen.port=0",
            "master.listen.port=70000",
        ] {
            write(dir.path(), "master.properties", bad);
            assert!(
                Options::load_with_env(dir.path(), &BTreeMap::new()).is_err(),
                "{bad}"
            );
        }
        write(
            dir.path(),
            "master.properties",
            "master.reserved.memory=0.5d\n",
        );
        let o = Options::load_with_env(dir.path(), &BTreeMap::new()).expect("loads");
        assert_eq!(o.master.reserved_memory, 0.5);
    }

    #[test]
    fn syntax_error_names_the_file() {
        let dir = minimal_dir();
        write(dir.path(), "master.properties", "a=1\nb=\\uZZZZ\n");
        let err = Options::load_with_env(dir.path(), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("master.properties: line 2: malformed"),
            "{err}"
        );
    }

    #[test]
    fn wire_dialect_parsing() {
        assert_eq!(WireDialect::parse("2.0.0"), Some(WireDialect::A));
        assert_eq!(WireDialect::parse("2.0.2"), Some(WireDialect::A));
        assert_eq!(WireDialect::parse("2.0.3"), Some(WireDialect::B));
        assert_eq!(WireDialect::parse("2.0.5"), Some(WireDialect::B));
        assert_eq!(WireDialect::parse("2.0.6"), Some(WireDialect::C));
        assert_eq!(WireDialect::parse("c"), Some(WireDialect::C));
        assert_eq!(WireDialect::parse("3.0.0"), None);
    }
}
