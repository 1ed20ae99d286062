//! Upstream DolphinScheduler Java servers (WorkerServer, ApiApplicationServer, MasterServer)
//! run unmodified next to a [`LocalCluster`], for compatibility and differential tests.
//!
//! The jars are never stored in this repository: `compat/upstream/classpath.sh` resolves
//! them by Maven coordinates from Maven Central into `~/.m2` and caches the classpath under
//! `target/compat/`; `compat/upstream/run.sh` starts a component from that classpath with a
//! conf dir placed first, as upstream's `conf/` is. Everything in the conf dir is generated
//! here from the documented key lists (no upstream file is copied). See `compat/README.md`.
//!
//! Each server runs in a network namespace of its own ([`super::netns`]): upstream never
//! advertises a loopback address, and inside the namespace the only other address is the
//! one the kit gave it, so the server registers that address and all test traffic stays on
//! the kit's links. The cluster must come from [`LocalCluster::start_with_java_peers`].
//! Each start checks that the server registered its namespace's address.
//!
//! Each server gets a private base directory (`conf/`, `logs/`, `data/`) that is deleted on
//! stop unless `DSMASTER_KEEP_JAVA_DIRS=1`. The JVM runs in its own process group, killed
//! on [`stop`](JavaWorker::stop), on drop, and by a watchdog if the test process dies.
//!
//! Version note: `dolphinscheduler-server` (Master/Worker) 2.0.5 is not on Maven Central;
//! version "2.0.5" means the 2.0.3 server jar over the 2.0.5 libraries (see
//! `compat/upstream/classpath.sh`). [`server_jar_version`] says which jar was used.

use super::cluster::LocalCluster;
use super::netns::PeerNs;
use super::process::{log_tail, run_checked, ServerProcess};
use super::{free_port, Error, DS_PASSWORD, DS_USER};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::time::Instant;

/// Spring on a loaded 2-core box: resolution is cached, JVM + context take 15–60 s.
const STARTUP_DEADLINE: Duration = Duration::from_secs(240);
/// Upstream's `close()` sleeps up to 60 s before halting; tests do not wait for that.
const STOP_GRACE: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(250);
const ZK_NAMESPACE: &str = "dolphinscheduler";

/// Directory holding `pom.xml`, `classpath.sh` and `run.sh`.
pub fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("compat/upstream")
}

/// The `dolphinscheduler-server` jar version `classpath.sh` uses for a release
/// (`DS_SERVER_VERSION` overrides, as in the script).
pub fn server_jar_version(version: &str) -> String {
    if let Ok(v) = std::env::var("DS_SERVER_VERSION") {
        if !v.is_empty() {
            return v;
        }
    }
    match version {
        "2.0.4" | "2.0.5" => "2.0.3".to_string(),
        other => other.to_string(),
    }
}

/// Resolves (first call: Maven, minutes; later: cached, milliseconds) the runtime classpath
/// of `component` (`worker`, `master`, `logger`, `api`) and returns it.
pub async fn classpath(component: &str, version: &str) -> Result<String, Error> {
    let mut cmd = Command::new(compat_dir().join("classpath.sh"));
    cmd.arg(component).arg(version);
    let started = Instant::now();
    let out = run_checked(
        cmd,
        &format!("resolving the upstream {component} {version} classpath with Maven (needs mvn and Maven Central)"),
    )
    .await?;
    let cp = String::from_utf8_lossy(&out.stdout).trim().to_string();
    tracing::info!(
        "upstream {component} {version} classpath: {} entries in {:.1}s",
        cp.split(':').count(),
        started.elapsed().as_secs_f64()
    );
    Ok(cp)
}

/// The OS user this process (and so every Java server it starts) runs as.
///
/// Use it as the tenant code of workflows run by the Java worker: 2.0.x workers fail every
/// task whose tenant is not a user in `/etc/passwd` ("tenantCode: X does not exist",
/// `TaskExecuteThread.run`), whatever `sudo.enable` says; with `sudo.enable=false` the task
/// then runs as the worker's own user.
pub async fn os_user() -> Result<String, Error> {
    let mut id = Command::new("id");
    id.arg("-un");
    let out = run_checked(id, "finding the current OS user").await?;
    let user = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if user.is_empty() {
        return Err(Error::Fixture("`id -un` printed nothing".into()));
    }
    Ok(user)
}

/// Settings shared by every generated conf dir.
struct ClusterRefs {
    zk: String,
    jdbc_url: String,
    driver_class: &'static str,
}

/// A namespace of the cluster's test network for one Java server.
fn peer_namespace(cluster: &LocalCluster, label: &str) -> Result<PeerNs, Error> {
    let net = cluster.net.ok_or_else(|| {
        Error::Fixture(format!(
            "{label}: the cluster has no test network; start it with LocalCluster::start_with_java_peers so the Java server runs in a namespace"
        ))
    })?;
    net.peer(label)
}

/// Fails unless `addr` (`ip:port` as registered) is the namespace's own address: the guard
/// that a Java server never advertised an address outside the test network.
fn check_registered(label: &str, addr: &str, ns: &PeerNs) -> Result<(), Error> {
    let ip = addr.rsplit_once(':').map_or(addr, |(ip, _)| ip);
    if ip == ns.ip().to_string() {
        Ok(())
    } else {
        Err(Error::Fixture(format!(
            "{label} registered as {addr}, not on its namespace's address {}",
            ns.ip()
        )))
    }
}

impl ClusterRefs {
    fn of(cluster: &LocalCluster) -> ClusterRefs {
        let jdbc_url = match &cluster.db {
            // Connector/J 8 against a private MariaDB without TLS.
            crate::testkit::cluster::ClusterDb::Maria(m) => format!(
                "{}&useSSL=false&allowPublicKeyRetrieval=true",
                m.jdbc_url(&cluster.database)
            ),
            crate::testkit::cluster::ClusterDb::Postgres(p) => p.jdbc_url(&cluster.database),
        };
        ClusterRefs {
            zk: cluster.zookeeper.connect_string(),
            jdbc_url,
            driver_class: cluster.db.driver_class(),
        }
    }

    fn registry_properties(&self) -> String {
        self.registry_properties_with(Duration::from_secs(30))
    }

    fn registry_properties_with(&self, session_timeout: Duration) -> String {
        format!(
            "# generated by dsmaster's test kit\n\
             registry.plugin.name=zookeeper\n\
             registry.servers={}\n\
             registry.namespace={ZK_NAMESPACE}\n\
             registry.base.sleep.time.ms=60\n\
             registry.max.sleep.ms=300\n\
             registry.max.retries=5\n\
             registry.session.timeout.ms={}\n\
             registry.connection.timeout.ms=7500\n\
             registry.block.until.connected.wait=15000\n",
            self.zk,
            session_timeout.as_millis()
        )
    }

    /// Spring Boot datasource (found as `classpath:application.properties`, conf dir first).
    fn application_properties(&self, extra: &str) -> String {
        format!(
            "# generated by dsmaster's test kit\n\
             spring.datasource.driver-class-name={}\n\
             spring.datasource.url={}\n\
             spring.datasource.username={DS_USER}\n\
             spring.datasource.password={DS_PASSWORD}\n\
             spring.datasource.hikari.maximum-pool-size=10\n\
             spring.datasource.hikari.minimum-idle=1\n\
             spring.datasource.hikari.connection-test-query=select 1\n\
             {extra}",
            self.driver_class, self.jdbc_url
        )
    }
}

/// The `common.properties` keys (upstream's `PropertyUtils` copies every JVM system property
/// over the file it loaded, so the jar's own file stays the base and these win).
fn common_jvm_options(data_dir: &Path, env_file: &Path) -> String {
    format!(
        "-Ddata.basedir.path={}\n\
         -Dresource.storage.type=NONE\n\
         -Dsudo.enable=false\n\
         -Ddevelopment.state=true\n\
         -Dhadoop.security.authentication.startup.state=false\n\
         -Ddatasource.encryption.enable=false\n\
         -Ddolphinscheduler.env.path={}\n",
        data_dir.display(),
        env_file.display()
    )
}

/// A logback configuration with the structure the worker's (and master's) `LogUtils`
/// expects for task logs: a ROOT-attached `SiftingAppender` named `TASKLOGFILE` keyed by
/// `TaskLogDiscriminator`, plus a plain server log file.
fn logback_with_task_logs(log_dir: &Path, server_log: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by dsmaster's test kit -->
<configuration>
  <property name="log.base" value="{base}"/>
  <conversionRule conversionWord="messsage" converterClass="org.apache.dolphinscheduler.server.log.SensitiveDataConverter"/>
  <appender name="TASKLOGFILE" class="ch.qos.logback.classic.sift.SiftingAppender">
    <filter class="org.apache.dolphinscheduler.server.log.TaskLogFilter"/>
    <Discriminator class="org.apache.dolphinscheduler.server.log.TaskLogDiscriminator">
      <key>taskAppId</key>
      <logBase>${{log.base}}</logBase>
    </Discriminator>
    <sift>
      <appender name="TASK-${{taskAppId}}" class="ch.qos.logback.core.FileAppender">
        <file>${{log.base}}/${{taskAppId}}.log</file>
        <append>true</append>
        <encoder>
          <pattern>%date{{yyyy-MM-dd HH:mm:ss.SSS}} %-5level %logger{{60}}:%line - %messsage%n</pattern>
          <charset>UTF-8</charset>
        </encoder>
      </appender>
    </sift>
  </appender>
  <appender name="SERVERLOG" class="ch.qos.logback.core.FileAppender">
    <file>${{log.base}}/{server_log}</file>
    <append>true</append>
    <encoder>
      <pattern>%date{{HH:mm:ss.SSS}} %-5level [%thread] %logger{{60}}:%line - %msg%n</pattern>
      <charset>UTF-8</charset>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="TASKLOGFILE"/>
    <appender-ref ref="SERVERLOG"/>
  </root>
</configuration>
"#,
        base = log_dir.display()
    )
}

fn logback_plain(log_dir: &Path, server_log: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by dsmaster's test kit -->
<configuration>
  <appender name="SERVERLOG" class="ch.qos.logback.core.FileAppender">
    <file>{base}/{server_log}</file>
    <append>true</append>
    <encoder>
      <pattern>%date{{HH:mm:ss.SSS}} %-5level [%thread] %logger{{60}}:%line - %msg%n</pattern>
      <charset>UTF-8</charset>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="SERVERLOG"/>
  </root>
</configuration>
"#,
        base = log_dir.display()
    )
}

/// One running upstream JVM with its private base dir.
struct JavaProcess {
    label: &'static str,
    port: u16,
    // The process must die before the directory and the namespace go.
    process: ServerProcess,
    ns: PeerNs,
    base: Option<tempfile::TempDir>,
    base_path: PathBuf,
    stdout_log: PathBuf,
    server_log: PathBuf,
    started: Instant,
}

/// Layout of a base dir before the JVM starts.
struct Layout {
    base: tempfile::TempDir,
    conf: PathBuf,
    logs: PathBuf,
    data: PathBuf,
}

impl Layout {
    fn new(prefix: &str) -> Result<Layout, Error> {
        let base = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .map_err(|e| Error::io("creating a Java server base dir", e))?;
        let conf = base.path().join("conf");
        let logs = base.path().join("logs");
        let data = base.path().join("data");
        for d in [&conf, &logs, &data] {
            std::fs::create_dir_all(d)
                .map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
        }
        Ok(Layout {
            base,
            conf,
            logs,
            data,
        })
    }

    fn write(&self, name: &str, body: &str) -> Result<(), Error> {
        let path = self.conf.join(name);
        std::fs::write(&path, body).map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    /// The env file every shell task sources (upstream's `dolphinscheduler_env.sh` role).
    fn env_file(&self) -> Result<PathBuf, Error> {
        let path = self.conf.join("dolphinscheduler_env.sh");
        std::fs::write(
            &path,
            "# generated by dsmaster's test kit: no extra environment\n",
        )
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        Ok(path)
    }
}

impl JavaProcess {
    async fn spawn(
        label: &'static str,
        component: &str,
        version: &str,
        port: u16,
        layout: Layout,
        server_log: &str,
        ns: PeerNs,
    ) -> Result<JavaProcess, Error> {
        // Resolve first so that a Maven problem is reported as such, not as a dead JVM.
        classpath(component, version).await?;
        let stdout_log = layout.logs.join(format!("{component}.out"));
        let mut cmd = ns.command(compat_dir().join("run.sh"));
        cmd.arg(component)
            .arg(version)
            .arg(&layout.conf)
            .arg(layout.base.path());
        let process = ServerProcess::spawn(label, cmd, &stdout_log, layout.base.path())?;
        Ok(JavaProcess {
            label,
            port,
            process,
            ns,
            base_path: layout.base.path().to_path_buf(),
            server_log: layout.logs.join(server_log),
            base: Some(layout.base),
            stdout_log,
            started: Instant::now(),
        })
    }

    fn tail(&self) -> String {
        format!(
            "--- {} ---\n{}\n--- {} ---\n{}",
            self.stdout_log.display(),
            log_tail(&self.stdout_log, 30),
            self.server_log.display(),
            log_tail(&self.server_log, 60)
        )
    }

    fn exited_error(&mut self) -> Option<Error> {
        self.process.exited().map(|status| Error::Exited {
            server: self.label,
            port: self.port,
            status: status.to_string(),
            log_tail: self.tail(),
        })
    }

    fn not_ready(&self, last_error: String) -> Error {
        Error::NotReady {
            server: self.label,
            port: self.port,
            waited: self.started.elapsed(),
            last_error,
            log_tail: self.tail(),
        }
    }

    fn server_log_contains(&self, needle: &str) -> bool {
        std::fs::read_to_string(&self.server_log)
            .map(|s| s.contains(needle))
            .unwrap_or(false)
    }

    async fn stop(mut self) {
        self.process.stop(STOP_GRACE).await;
        self.keep_dir_if_asked();
    }

    fn keep_dir_if_asked(&mut self) {
        if std::env::var("DSMASTER_KEEP_JAVA_DIRS").is_ok_and(|v| v == "1") {
            if let Some(base) = self.base.take() {
                let kept = base.keep();
                eprintln!("kept {} base dir {}", self.label, kept.display());
            }
        }
    }
}

impl Drop for JavaProcess {
    fn drop(&mut self) {
        // ServerProcess' own Drop kills the group; the base dir goes after it (field order
        // is not enough because `base` is declared after `process` but we may keep it).
        self.keep_dir_if_asked();
    }
}

/// Polls `/dolphinscheduler/<parent>` for a child `*:<port>`; returns its name.
async fn zk_child_with_port(
    client: &mut Option<zookeeper_client::Client>,
    zk: &str,
    parent: &str,
    port: u16,
) -> Result<Option<String>, String> {
    if client.is_none() {
        let c = zookeeper_client::Client::connect(zk)
            .await
            .map_err(|e| format!("connecting to ZooKeeper {zk}: {e}"))?;
        *client = Some(c);
    }
    let c = client.as_ref().expect("connected above");
    let path = format!("/{ZK_NAMESPACE}/{parent}");
    match c.list_children(&path).await {
        Ok(children) => Ok(children
            .into_iter()
            .find(|c| c.rsplit(':').next() == Some(port.to_string().as_str()))),
        Err(zookeeper_client::Error::NoNode) => Ok(None),
        Err(e) => {
            *client = None;
            Err(format!("listing {path}: {e}"))
        }
    }
}

/// The upstream 2.0.x `WorkerServer`, registered in group `default` of a [`LocalCluster`].
pub struct JavaWorker {
    proc: JavaProcess,
    addr: String,
    version: String,
    logs: PathBuf,
    data: PathBuf,
}

/// What a [`JavaWorker`] registers as: its worker group and `worker.exec.threads`.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub group: String,
    pub exec_threads: u32,
}

impl Default for WorkerSpec {
    fn default() -> Self {
        WorkerSpec {
            group: "default".into(),
            exec_threads: 20,
        }
    }
}

impl JavaWorker {
    /// Starts the worker against the cluster's MariaDB and ZooKeeper and waits until it is
    /// registered under `/nodes/worker/default/` *and* has loaded the SHELL task plugin
    /// (upstream registers before loading plugins). Fails with the log tail otherwise.
    pub async fn start(cluster: &LocalCluster, version: &str) -> Result<JavaWorker, Error> {
        Self::start_as(cluster, version, &WorkerSpec::default()).await
    }

    /// [`JavaWorker::start`] in worker group `spec.group` with `spec.exec_threads` task
    /// threads (a worker with one thread queues a second task until the first ends).
    pub async fn start_as(
        cluster: &LocalCluster,
        version: &str,
        spec: &WorkerSpec,
    ) -> Result<JavaWorker, Error> {
        let group = spec.group.as_str();
        if group.is_empty() || group.contains(['/', ',', ' ']) {
            return Err(Error::Fixture(format!("bad worker group name {group:?}")));
        }
        let threads = spec.exec_threads.max(1);
        let refs = ClusterRefs::of(cluster);
        let ns = peer_namespace(cluster, "Java WorkerServer")?;
        let layout = Layout::new("dsmaster-java-worker-")?;
        let port = free_port()?;
        let env_file = layout.env_file()?;
        layout.write("registry.properties", &refs.registry_properties())?;
        layout.write("application.properties", &refs.application_properties(""))?;
        layout.write(
            "worker.properties",
            &format!(
                "# generated by dsmaster's test kit\n\
                 worker.listen.port={port}\n\
                 worker.groups={group}\n\
                 worker.exec.threads={threads}\n\
                 worker.heartbeat.interval=2\n\
                 worker.host.weight=100\n\
                 worker.tenant.auto.create=false\n\
                 worker.max.cpuload.avg=100\n\
                 worker.reserved.memory=0.01\n\
                 worker.retry.report.task.statues.interval=10\n\
                 alert.listen.host=127.0.0.1\n"
            ),
        )?;
        layout.write(
            "logback-worker.xml",
            &logback_with_task_logs(&layout.logs, "worker.log"),
        )?;
        layout.write("jvm.options", &common_jvm_options(&layout.data, &env_file))?;
        let logs = layout.logs.clone();
        let data = layout.data.clone();
        let mut proc = JavaProcess::spawn(
            "Java WorkerServer",
            "worker",
            version,
            port,
            layout,
            "worker.log",
            ns,
        )
        .await?;

        let deadline = Instant::now() + STARTUP_DEADLINE;
        let mut zk = None;
        let mut last_error = "not registered yet".to_string();
        let mut addr = None;
        loop {
            if let Some(e) = proc.exited_error() {
                return Err(e);
            }
            if addr.is_none() {
                let parent = format!("nodes/worker/{group}");
                match zk_child_with_port(&mut zk, &refs.zk, &parent, port).await {
                    Ok(Some(a)) => {
                        check_registered("Java WorkerServer", &a, &proc.ns)?;
                        addr = Some(a)
                    }
                    Ok(None) => last_error = format!("no /{parent} node yet"),
                    Err(e) => last_error = e,
                }
            }
            if let Some(a) = &addr {
                if proc.server_log_contains("Registered task plugin: SHELL") {
                    // Our master dials exactly this address.
                    match tokio::net::TcpStream::connect(a.as_str()).await {
                        Ok(_) => break,
                        Err(e) => last_error = format!("registered as {a} but not reachable: {e}"),
                    }
                } else {
                    last_error = format!("registered as {a}; SHELL task plugin not loaded yet");
                }
            }
            if Instant::now() > deadline {
                return Err(proc.not_ready(last_error));
            }
            tokio::time::sleep(POLL).await;
        }
        let addr = addr.expect("loop exits with an address");
        tracing::info!(
            "Java WorkerServer {version} (server jar {}) ready as {addr} in {:.1}s ({})",
            server_jar_version(version),
            proc.started.elapsed().as_secs_f64(),
            proc.base_path.display()
        );
        Ok(JavaWorker {
            proc,
            addr,
            version: version.to_string(),
            logs,
            data,
        })
    }

    /// The registry address `ip:port` (upstream `NetUtils.getHost()`), as task rows show it.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn port(&self) -> u16 {
        self.proc.port
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// How long the JVM took from spawn to ready (classpath resolution excluded).
    pub fn startup_time(&self) -> Duration {
        self.proc.started.elapsed()
    }

    /// The worker's network namespace: [`PeerNs::cut`] / [`PeerNs::heal`] partition it.
    pub fn namespace(&self) -> &PeerNs {
        &self.proc.ns
    }

    /// The worker's private base dir (`conf/`, `logs/`, `data/`).
    pub fn base_dir(&self) -> &Path {
        &self.proc.base_path
    }

    /// Server log, stdout and task logs (`<defCode>_<ver>/<instanceId>/<taskId>.log`).
    pub fn log_dir(&self) -> &Path {
        &self.logs
    }

    /// `data.basedir.path`: task exec dirs live under `exec/process/...`.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The worker's own log (`logs/worker.log`) and stdout, last lines.
    pub fn log_tail(&self) -> String {
        self.proc.tail()
    }

    /// SIGTERM, a short grace period, then SIGKILL of the whole process group.
    pub async fn stop(self) {
        self.proc.stop().await;
    }
}

/// The upstream 2.0.x `ApiApplicationServer` with its REST API on a free port.
pub struct JavaApiServer {
    proc: JavaProcess,
    /// Its namespace's address, where the REST port listens.
    ip: std::net::Ipv4Addr,
    port: u16,
}

/// Admin credentials seeded by upstream's DDL.
pub const ADMIN_USER: &str = "admin";
pub const ADMIN_PASSWORD: &str = "dolphinscheduler123";

impl JavaApiServer {
    /// Starts the API server against the cluster and waits until `POST /login` as admin
    /// answers code 0.
    pub async fn start(cluster: &LocalCluster, version: &str) -> Result<JavaApiServer, Error> {
        let refs = ClusterRefs::of(cluster);
        let ns = peer_namespace(cluster, "Java ApiApplicationServer")?;
        let layout = Layout::new("dsmaster-java-api-")?;
        let port = free_port()?;
        let env_file = layout.env_file()?;
        layout.write("registry.properties", &refs.registry_properties())?;
        layout.write("application.properties", &refs.application_properties(""))?;
        layout.write(
            "quartz.properties",
            "# generated by dsmaster's test kit: Quartz defaults\n",
        )?;
        layout.write("logback-api.xml", &logback_plain(&layout.logs, "api.log"))?;
        // The api jar's application-api.properties (profile `api`) sets server.port=12345
        // and beats application.properties; a system property beats both.
        layout.write(
            "jvm.options",
            &format!(
                "{}-Dserver.port={port}\n",
                common_jvm_options(&layout.data, &env_file)
            ),
        )?;
        let proc = JavaProcess::spawn(
            "Java ApiApplicationServer",
            "api",
            version,
            port,
            layout,
            "api.log",
            ns,
        )
        .await?;
        let deadline = Instant::now() + STARTUP_DEADLINE;
        let ip = proc.ns.ip();
        let mut api = JavaApiServer { proc, ip, port };
        loop {
            if let Some(e) = api.proc.exited_error() {
                return Err(e);
            }
            let last_error = match api.login(ADMIN_USER, ADMIN_PASSWORD).await {
                Ok(_) => break,
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                return Err(api.proc.not_ready(last_error));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tracing::info!(
            "Java ApiApplicationServer {version} ready on {ip}:{port} in {:.1}s",
            api.proc.started.elapsed().as_secs_f64()
        );
        Ok(api)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The REST port's address (in the server's namespace).
    pub fn ip(&self) -> std::net::Ipv4Addr {
        self.ip
    }

    /// `http://<namespace ip>:<port>/dolphinscheduler`
    pub fn base_url(&self) -> String {
        format!("http://{}:{}/dolphinscheduler", self.ip, self.port)
    }

    pub fn log_dir(&self) -> PathBuf {
        self.proc.base_path.join("logs")
    }

    pub fn log_tail(&self) -> String {
        self.proc.tail()
    }

    /// `POST /login`; returns the session id.
    pub async fn login(&self, user: &str, password: &str) -> Result<String, Error> {
        let v = self
            .request(
                "POST",
                "/login",
                &[("userName", user), ("userPassword", password)],
                None,
            )
            .await?;
        if v["code"].as_i64() != Some(0) {
            return Err(Error::Fixture(format!("login as {user} refused: {v}")));
        }
        v["data"]["sessionId"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::Fixture(format!("login answer without sessionId: {v}")))
    }

    /// `GET path?query` with the `sessionId` header; returns the JSON envelope.
    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        session: &str,
    ) -> Result<serde_json::Value, Error> {
        self.request("GET", path, query, Some(session)).await
    }

    /// `POST path` with a form body and the `sessionId` header; returns the JSON envelope.
    pub async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        session: &str,
    ) -> Result<serde_json::Value, Error> {
        self.request("POST", path, form, Some(session)).await
    }

    /// Minimal HTTP/1.1 client (one request per connection), enough for the REST API.
    async fn request(
        &self,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
        session: Option<&str>,
    ) -> Result<serde_json::Value, Error> {
        let encoded = params
            .iter()
            .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let full_path = format!("/dolphinscheduler{path}");
        let (target, body) = if method == "GET" && !encoded.is_empty() {
            (format!("{full_path}?{encoded}"), String::new())
        } else if method == "GET" {
            (full_path, String::new())
        } else {
            (full_path, encoded)
        };
        let content_type = (method != "GET").then_some("application/x-www-form-urlencoded");
        self.exchange(method, &target, content_type, body.as_bytes(), session)
            .await
    }

    /// `POST path` as `multipart/form-data` with one file part named `field` (the UI's
    /// upload dialogs, e.g. `process-definition/import`) and the `sessionId` header.
    pub async fn post_multipart(
        &self,
        path: &str,
        field: &str,
        file_name: &str,
        content: &[u8],
        session: &str,
    ) -> Result<serde_json::Value, Error> {
        let boundary = "----dsmaster-testkit-boundary-7d1f3a";
        let mut body = Vec::with_capacity(content.len() + 256);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/json\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        self.exchange(
            "POST",
            &format!("/dolphinscheduler{path}"),
            Some(&content_type),
            &body,
            Some(session),
        )
        .await
    }

    /// One HTTP/1.1 exchange on a fresh connection; returns the JSON body of a 200 answer.
    async fn exchange(
        &self,
        method: &str,
        target: &str,
        content_type: Option<&str>,
        body: &[u8],
        session: Option<&str>,
    ) -> Result<serde_json::Value, Error> {
        let mut req = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nAccept: application/json\r\n",
            self.ip, self.port
        );
        if let Some(s) = session {
            req.push_str(&format!("sessionId: {s}\r\n"));
        }
        if let Some(ct) = content_type {
            req.push_str(&format!(
                "Content-Type: {ct}\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        let mut raw_req = req.into_bytes();
        raw_req.extend_from_slice(body);
        let what = format!("{method} {target}");
        let io = |e: std::io::Error| Error::Fixture(format!("{what}: {e}"));
        let mut stream = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::net::TcpStream::connect((self.ip, self.port)),
        )
        .await
        .map_err(|_| Error::Fixture(format!("{what}: connect timeout")))?
        .map_err(io)?;
        stream.write_all(&raw_req).await.map_err(io)?;
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut raw))
            .await
            .map_err(|_| Error::Fixture(format!("{what}: response timeout")))?
            .map_err(io)?;
        let text = String::from_utf8_lossy(&raw);
        let (head, rest) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| Error::Fixture(format!("{what}: malformed response {text:?}")))?;
        let status_line = head.lines().next().unwrap_or_default();
        // 200, or 201 for the endpoints annotated `@ResponseStatus(CREATED)` (tenants, users…).
        let status = status_line.split_whitespace().nth(1).unwrap_or_default();
        if !(status.len() == 3 && status.starts_with('2')) {
            return Err(Error::Fixture(format!("{what}: {status_line}")));
        }
        let body = if head.lines().any(|l| {
            l.to_ascii_lowercase()
                .starts_with("transfer-encoding: chunked")
        }) {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        serde_json::from_str(&body)
            .map_err(|e| Error::Fixture(format!("{what}: not JSON ({e}): {body:?}")))
    }

    pub async fn stop(self) {
        self.proc.stop().await;
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size_line, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// The upstream 2.0.x `MasterServer` (reference runs only: a Java and a Rust master on one
/// IP collide on slots, so start it *instead of* ours).
pub struct JavaMaster {
    proc: JavaProcess,
    addr: String,
}

impl JavaMaster {
    /// Starts the master and waits for `/nodes/master/<ip>:<port>`.
    pub async fn start(cluster: &LocalCluster, version: &str) -> Result<JavaMaster, Error> {
        Self::start_with_session(cluster, version, Duration::from_secs(30)).await
    }

    /// As [`JavaMaster::start`], with `registry.session.timeout.ms` set to `session_timeout`.
    pub async fn start_with_session(
        cluster: &LocalCluster,
        version: &str,
        session_timeout: Duration,
    ) -> Result<JavaMaster, Error> {
        let refs = ClusterRefs::of(cluster);
        let ns = peer_namespace(cluster, "Java MasterServer")?;
        let layout = Layout::new("dsmaster-java-master-")?;
        let port = free_port()?;
        let env_file = layout.env_file()?;
        layout.write(
            "registry.properties",
            &refs.registry_properties_with(session_timeout),
        )?;
        // 2.0.3+ masters enable Spring caching; upstream ships it off.
        layout.write(
            "application.properties",
            &refs.application_properties("spring.cache.type=none\n"),
        )?;
        layout.write(
            "quartz.properties",
            "# generated by dsmaster's test kit: Quartz defaults\n",
        )?;
        layout.write(
            "master.properties",
            &format!(
                "# generated by dsmaster's test kit\n\
                 master.listen.port={port}\n\
                 master.exec.threads=20\n\
                 master.exec.task.num=20\n\
                 master.dispatch.task.num=3\n\
                 master.host.selector=LowerWeight\n\
                 master.heartbeat.interval=2\n\
                 master.task.commit.retryTimes=5\n\
                 master.task.commit.interval=1000\n\
                 master.max.cpuload.avg=100\n\
                 master.reserved.memory=0.01\n\
                 master.failover.interval=10\n"
            ),
        )?;
        layout.write(
            "logback-master.xml",
            &logback_with_task_logs(&layout.logs, "master.log"),
        )?;
        layout.write("jvm.options", &common_jvm_options(&layout.data, &env_file))?;
        let mut proc = JavaProcess::spawn(
            "Java MasterServer",
            "master",
            version,
            port,
            layout,
            "master.log",
            ns,
        )
        .await?;
        let deadline = Instant::now() + STARTUP_DEADLINE;
        let mut zk = None;
        let mut last_error;
        let addr = loop {
            if let Some(e) = proc.exited_error() {
                return Err(e);
            }
            match zk_child_with_port(&mut zk, &refs.zk, "nodes/master", port).await {
                Ok(Some(a)) => {
                    check_registered("Java MasterServer", &a, &proc.ns)?;
                    break a;
                }
                Ok(None) => last_error = "no /nodes/master node yet".into(),
                Err(e) => last_error = e,
            }
            if Instant::now() > deadline {
                return Err(proc.not_ready(last_error));
            }
            tokio::time::sleep(POLL).await;
        };
        tracing::info!(
            "Java MasterServer {version} (server jar {}) ready as {addr} in {:.1}s",
            server_jar_version(version),
            proc.started.elapsed().as_secs_f64()
        );
        Ok(JavaMaster { proc, addr })
    }

    /// Registry address `ip:port`; what it writes into `t_ds_process_instance.host`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The master's network namespace: [`PeerNs::cut`] / [`PeerNs::heal`] partition it.
    pub fn namespace(&self) -> &PeerNs {
        &self.proc.ns
    }

    /// The JVM's process id (benchmarks read its memory and CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.proc.process.pid()
    }

    /// Whether the JVM has exited (by itself or killed).
    pub fn exited(&mut self) -> bool {
        self.proc.process.exited().is_some()
    }

    /// SIGKILL, as a crash or the OOM killer would; the directory goes with the value.
    pub async fn kill(mut self) {
        self.proc.process.kill().await;
    }

    pub fn log_dir(&self) -> PathBuf {
        self.proc.base_path.join("logs")
    }

    pub fn log_tail(&self) -> String {
        self.proc.tail()
    }

    pub async fn stop(self) {
        self.proc.stop().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_and_dechunking() {
        assert_eq!(url_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }

    #[test]
    fn server_jar_substitution() {
        if std::env::var("DS_SERVER_VERSION").is_err() {
            assert_eq!(server_jar_version("2.0.5"), "2.0.3");
            assert_eq!(server_jar_version("2.0.3"), "2.0.3");
        }
    }
}
