//! A whole throw-away cluster on this machine: private MariaDB (or PostgreSQL) with
//! upstream's schema, private ZooKeeper, a conf dir in the Java master's layout pointing at
//! them, our master started from that conf dir (the drop-in path an operator uses), and a
//! stand-in worker. Shared by `dsmaster demo` and the end-to-end tests.

use super::fixtures::{self, ImportedWorkflow};
use super::netns::TestNet;
use super::worker::{Behaviour, StandInWorker};
use super::{Error, MariaDb, Postgres, SchemaVersion, ZooKeeper};
use crate::model::ExecutionStatus;
use crate::params;
use crate::server::{self, Running};
use crate::store::db::{self, Dialect};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// The cluster's database server: MariaDB (upstream's MySQL deployments) or PostgreSQL
/// (upstream's docker default).
pub enum ClusterDb {
    Maria(MariaDb),
    Postgres(Postgres),
}

impl ClusterDb {
    pub fn dialect(&self) -> Dialect {
        match self {
            ClusterDb::Maria(_) => Dialect::Mysql,
            ClusterDb::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The MariaDB server, for the checks that speak MySQL's own protocol.
    pub fn mariadb(&self) -> Result<&MariaDb, Error> {
        match self {
            ClusterDb::Maria(m) => Ok(m),
            ClusterDb::Postgres(_) => Err(Error::Fixture(
                "this cluster runs on PostgreSQL, not MariaDB".into(),
            )),
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            ClusterDb::Maria(m) => m.port(),
            ClusterDb::Postgres(p) => p.port(),
        }
    }

    /// The store's URL for the ds user on `db`.
    pub fn ds_url(&self, db: &str) -> String {
        match self {
            ClusterDb::Maria(m) => m.ds_url(db),
            ClusterDb::Postgres(p) => p.url(db),
        }
    }

    /// `spring.datasource.url` for `db` at the peer address.
    pub fn jdbc_url(&self, db: &str) -> String {
        match self {
            ClusterDb::Maria(m) => m.jdbc_url(db),
            ClusterDb::Postgres(p) => p.jdbc_url(db),
        }
    }

    /// `spring.datasource.driver-class-name` of upstream's own configuration.
    pub fn driver_class(&self) -> &'static str {
        match self {
            ClusterDb::Maria(_) => "com.mysql.cj.jdbc.Driver",
            ClusterDb::Postgres(_) => "org.postgresql.Driver",
        }
    }

    pub fn suspend(&self) {
        match self {
            ClusterDb::Maria(m) => m.suspend(),
            ClusterDb::Postgres(p) => p.suspend(),
        }
    }

    pub fn resume(&self) {
        match self {
            ClusterDb::Maria(m) => m.resume(),
            ClusterDb::Postgres(p) => p.resume(),
        }
    }

    /// Commits survive a crash of the server process (MariaDB's test default trades that
    /// away; PostgreSQL's WAL reaches the OS at every commit already).
    pub async fn set_durable(&mut self) -> Result<(), Error> {
        match self {
            ClusterDb::Maria(m) => m.set_durable().await,
            ClusterDb::Postgres(_) => Ok(()),
        }
    }

    pub async fn restart(&mut self, crash: bool) -> Result<(), Error> {
        match self {
            ClusterDb::Maria(m) => m.restart(crash).await,
            ClusterDb::Postgres(p) => p.restart(crash).await,
        }
    }

    pub async fn stop(self) {
        match self {
            ClusterDb::Maria(m) => m.stop().await,
            ClusterDb::Postgres(p) => p.stop().await,
        }
    }
}

pub struct LocalCluster {
    pub db: ClusterDb,
    pub zookeeper: ZooKeeper,
    /// The test network when the cluster was started for upstream's Java servers
    /// ([`LocalCluster::start_with_java_peers`]); `None` for a loopback-only cluster.
    pub net: Option<&'static TestNet>,
    pub conf_dir: tempfile::TempDir,
    pub database: String,
    pub master: Option<Running>,
    pub worker: Option<StandInWorker>,
}

type TaskRow = (i32, Option<String>, Option<i32>, Option<String>);

/// One task instance row as the UI would show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    pub id: i32,
    pub name: String,
    pub state: i32,
    pub host: Option<String>,
}

impl LocalCluster {
    /// Starts MariaDB and ZooKeeper on loopback, loads the schema and writes the conf dir.
    pub async fn start(schema: SchemaVersion) -> Result<LocalCluster, Error> {
        Self::start_at(schema, None, Dialect::Mysql).await
    }

    /// [`LocalCluster::start`] on the server `DSMASTER_TEST_DB` names (`mysql`, the default,
    /// or `postgresql`): the suites that call this run on both servers, the second time from
    /// `scripts/test.sh` with `DSMASTER_TEST_DB=postgresql`.
    pub async fn start_on_test_db(schema: SchemaVersion) -> Result<LocalCluster, Error> {
        Self::start_at(schema, None, test_db_dialect()?).await
    }

    /// As [`LocalCluster::start`], on PostgreSQL with upstream's PostgreSQL DDL.
    pub async fn start_postgres(schema: SchemaVersion) -> Result<LocalCluster, Error> {
        Self::start_at(schema, None, Dialect::Postgres).await
    }

    /// As [`LocalCluster::start`], for a cluster that upstream's Java servers join: they run
    /// in network namespaces of the [`TestNet`], so ZooKeeper, MariaDB, our master and the
    /// stand-in workers listen on (and advertise) the test network's host address, which
    /// the namespaces reach. Fails with [`Error::NoNetworkNamespaces`] where namespaces
    /// cannot be made; callers skip their test then.
    pub async fn start_with_java_peers(schema: SchemaVersion) -> Result<LocalCluster, Error> {
        Self::start_with_java_peers_on(schema, Dialect::Mysql).await
    }

    /// [`LocalCluster::start_with_java_peers`] on the given database server.
    pub async fn start_with_java_peers_on(
        schema: SchemaVersion,
        dialect: Dialect,
    ) -> Result<LocalCluster, Error> {
        let net = TestNet::shared()?;
        Self::start_at(schema, Some(net), dialect).await
    }

    async fn start_at(
        schema: SchemaVersion,
        net: Option<&'static TestNet>,
        dialect: Dialect,
    ) -> Result<LocalCluster, Error> {
        let ip = net.map_or(Ipv4Addr::LOCALHOST, TestNet::host_ip);
        let database = "dolphinscheduler".to_string();
        let (db, zookeeper) = match dialect {
            Dialect::Mysql => {
                let (m, z) =
                    tokio::try_join!(MariaDb::start_for_peers(ip), ZooKeeper::start_on(ip))?;
                m.create_ds_database(&database, schema).await?;
                (ClusterDb::Maria(m), z)
            }
            Dialect::Postgres => {
                let (p, z) =
                    tokio::try_join!(Postgres::start_for_peers(ip), ZooKeeper::start_on(ip))?;
                p.create_ds_database(&database, schema).await?;
                (ClusterDb::Postgres(p), z)
            }
        };
        let jdbc = db.jdbc_url(&database);
        let conf_dir = tempfile::tempdir().map_err(|e| Error::Fixture(format!("conf dir: {e}")))?;
        write_conf_dir_for(
            conf_dir.path(),
            &jdbc,
            db.driver_class(),
            &zookeeper.connect_string(),
            ip,
        )?;
        Ok(LocalCluster {
            db,
            zookeeper,
            net,
            conf_dir,
            database,
            master: None,
            worker: None,
        })
    }

    /// Where the host-side servers listen for peers: the test network's host address, or
    /// `127.0.0.1` for a loopback-only cluster.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.net.map_or(Ipv4Addr::LOCALHOST, TestNet::host_ip)
    }

    /// Starts our master from the conf dir, as `dsmaster run --conf-dir` does.
    pub async fn start_master(&mut self) -> Result<&Running, Error> {
        let options = crate::config::Options::load(self.conf_dir.path())
            .map_err(|e| Error::Fixture(format!("loading the generated conf dir: {e}")))?;
        let settings = server::Settings::from_options(&options)
            .map_err(|e| Error::Fixture(format!("settings: {e}")))?;
        let running = server::start(settings)
            .await
            .map_err(|e| Error::Fixture(format!("starting the master: {e}")))?;
        Ok(self.master.insert(running))
    }

    /// Starts a stand-in worker in group `default`.
    pub async fn start_worker(&mut self, behaviour: Behaviour) -> Result<&StandInWorker, Error> {
        let options = crate::config::Options::load(self.conf_dir.path())
            .map_err(|e| Error::Fixture(format!("loading the generated conf dir: {e}")))?;
        let settings = server::Settings::from_options(&options)
            .map_err(|e| Error::Fixture(format!("settings: {e}")))?;
        let mut link = settings.link.clone();
        if let Some(m) = &self.master {
            link.dialect = m.dialect;
        }
        let worker = StandInWorker::start_on(
            self.host_ip(),
            &settings.registry,
            "default",
            link,
            behaviour,
            Duration::from_secs(2),
        )
        .await?;
        Ok(self.worker.insert(worker))
    }

    /// A root connection in MySQL's own protocol (MariaDB clusters only).
    pub async fn conn(&self) -> Result<mysql_async::Conn, Error> {
        self.db.mariadb()?.root_conn(Some(&self.database)).await
    }

    /// A connection behind the store's dialect-neutral interface, on either server (what
    /// the fixtures take).
    pub async fn db_conn(&self) -> Result<db::Conn, Error> {
        match &self.db {
            ClusterDb::Maria(_) => Ok(db::Conn::Mysql(self.conn().await?)),
            ClusterDb::Postgres(p) => db::Pool::new(
                Dialect::Postgres,
                &db::PoolOptions {
                    url: p.url(&self.database),
                    max_connections: 1,
                    min_idle: 0,
                },
            )
            .map_err(Error::Fixture)?
            .conn()
            .await
            .map_err(|e| Error::Fixture(format!("connecting to PostgreSQL: {e}"))),
        }
    }

    /// Imports a workflow export file (tenant `default`).
    pub async fn import(&self, file: &Path) -> Result<Vec<ImportedWorkflow>, Error> {
        let mut conn = self.db_conn().await?;
        fixtures::import_file(&mut conn, file, "default").await
    }

    pub async fn start_workflow(&self, wf: &ImportedWorkflow) -> Result<i32, Error> {
        let mut conn = self.db_conn().await?;
        fixtures::insert_start_command(&mut conn, wf).await
    }

    /// Imports the export file, starts its first workflow and waits up to `timeout` for the
    /// instance to end; returns its final state.
    pub async fn run_to_end(
        &self,
        file: &Path,
        timeout: Duration,
    ) -> Result<ExecutionStatus, Error> {
        let wf = self
            .import(file)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Fixture(format!("{}: no workflow in it", file.display())))?;
        self.start_workflow(&wf).await?;
        let (_, state) = self
            .wait_for_end(wf.definition_code, timeout, |_| {})
            .await?;
        Ok(state)
    }

    /// Waits for the workflow started by `command_id`'s definition to finish, calling
    /// `on_change` with the task rows whenever one changes. Returns the final state code.
    pub async fn wait_for_end(
        &self,
        definition_code: i64,
        timeout: Duration,
        mut on_change: impl FnMut(&[TaskView]),
    ) -> Result<(i32, ExecutionStatus), Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut conn = self.db_conn().await?;
        let mut last: Vec<TaskView> = Vec::new();
        loop {
            let instance: Option<(i32, Option<i32>)> = conn
                .first(
                    "SELECT id, state FROM t_ds_process_instance WHERE process_definition_code = ? ORDER BY id DESC LIMIT 1",
                    params![definition_code],
                )
                .await
                .map_err(|e| Error::Fixture(e.to_string()))?;
            if let Some((id, state)) = instance {
                let rows: Vec<TaskRow> = conn
                    .all(
                        "SELECT id, name, state, host FROM t_ds_task_instance WHERE process_instance_id = ? ORDER BY id",
                        params![id],
                    )
                    .await
                    .map_err(|e| Error::Fixture(e.to_string()))?;
                let views: Vec<TaskView> = rows
                    .into_iter()
                    .map(|(id, name, state, host)| TaskView {
                        id,
                        name: name.unwrap_or_default(),
                        state: state.unwrap_or(-1),
                        host,
                    })
                    .collect();
                if views != last {
                    on_change(&views);
                    last = views;
                }
                if let Some(s) = state.and_then(|s| ExecutionStatus::from_code(i64::from(s)).ok()) {
                    if s.is_finished() {
                        return Ok((id, s));
                    }
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Fixture(format!(
                    "workflow of definition {definition_code} did not finish within {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every address in the cluster's registry (node names and data under the namespace)
    /// and in the `host` columns of instance and task rows that is neither loopback nor on
    /// this process's test network, each with where it was seen. Empty is the guard's pass:
    /// upstream's Java servers and ours advertised nothing but the kit's own addresses.
    pub async fn addresses_outside_test_network(&self) -> Result<Vec<String>, Error> {
        let mut seen: Vec<(String, String)> = Vec::new();
        let zk = zookeeper_client::Client::connect(&self.zookeeper.connect_string())
            .await
            .map_err(|e| Error::Fixture(format!("guard: connecting to ZooKeeper: {e}")))?;
        let mut stack = vec!["/dolphinscheduler".to_string()];
        while let Some(path) = stack.pop() {
            match zk.get_data(&path).await {
                Ok((data, _)) => seen.push((path.clone(), String::from_utf8_lossy(&data).into())),
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(e) => return Err(Error::Fixture(format!("guard: reading {path}: {e}"))),
            }
            seen.push((format!("registry node name {path}"), path.clone()));
            match zk.list_children(&path).await {
                Ok(children) => stack.extend(children.into_iter().map(|c| format!("{path}/{c}"))),
                Err(zookeeper_client::Error::NoNode) => {}
                Err(e) => return Err(Error::Fixture(format!("guard: listing {path}: {e}"))),
            }
        }
        let mut conn = self.db_conn().await?;
        for table in ["t_ds_process_instance", "t_ds_task_instance"] {
            let hosts: Vec<Option<String>> = conn
                .all(&format!("SELECT DISTINCT host FROM {table}"), params![])
                .await
                .map_err(|e| Error::Fixture(format!("guard: reading {table}.host: {e}")))?;
            seen.extend(
                hosts
                    .into_iter()
                    .flatten()
                    .map(|h| (format!("{table}.host"), h)),
            );
        }
        let mut foreign = Vec::new();
        for (place, text) in seen {
            for ip in super::netns::ipv4_in(&text) {
                if !super::netns::is_test_address(std::net::IpAddr::V4(ip)) {
                    foreign.push(format!("{ip} in {place}"));
                }
            }
        }
        foreign.sort();
        foreign.dedup();
        Ok(foreign)
    }

    /// Stops the worker, the master, then the servers.
    pub async fn stop(mut self) {
        if let Some(w) = self.worker.take() {
            w.stop().await;
        }
        if let Some(m) = self.master.take() {
            m.shutdown().await;
        }
        self.zookeeper.stop().await;
        self.db.stop().await;
    }
}

/// The server `DSMASTER_TEST_DB` names: `mysql` (the default) or `postgresql`.
pub fn test_db_dialect() -> Result<Dialect, Error> {
    match std::env::var("DSMASTER_TEST_DB").as_deref() {
        Ok("postgresql") | Ok("postgres") => Ok(Dialect::Postgres),
        Ok("mysql") | Ok("") | Err(_) => Ok(Dialect::Mysql),
        Ok(other) => Err(Error::Invalid(format!(
            "DSMASTER_TEST_DB={other:?}: expected mysql or postgresql"
        ))),
    }
}

/// Writes a conf dir in the layout of a 2.0.5 installation, pointing at the private servers;
/// the master advertises and listens on 127.0.0.1 only.
pub fn write_conf_dir(dir: &Path, jdbc_url: &str, zk: &str) -> Result<(), Error> {
    write_conf_dir_at(dir, jdbc_url, zk, Ipv4Addr::LOCALHOST)
}

/// [`write_conf_dir`] for a master that advertises and listens on `host` alone.
pub fn write_conf_dir_at(
    dir: &Path,
    jdbc_url: &str,
    zk: &str,
    host: Ipv4Addr,
) -> Result<(), Error> {
    write_conf_dir_for(dir, jdbc_url, "com.mysql.jdbc.Driver", zk, host)
}

/// [`write_conf_dir_at`] for either server. A PostgreSQL datasource goes where an operator of
/// upstream's tarball puts it: `application-postgresql.yaml`, chosen by `DATABASE_TYPE`, and
/// (for a conf dir without that variable) the same settings in `application.yaml`.
pub fn write_conf_dir_for(
    dir: &Path,
    jdbc_url: &str,
    driver_class: &str,
    zk: &str,
    host: Ipv4Addr,
) -> Result<(), Error> {
    let master_port = super::free_port()?;
    let mut files: BTreeMap<&str, String> = BTreeMap::new();
    files.insert(
        "master.properties",
        format!(
            "# generated by dsmaster's test kit\nmaster.listen.port={master_port}\nmaster.heartbeat.interval=2\nmaster.max.cpuload.avg=100\nmaster.reserved.memory=0.01\n"
        ),
    );
    files.insert(
        "registry.properties",
        format!("registry.plugin.name=zookeeper\nregistry.servers={zk}\nregistry.namespace=dolphinscheduler\nregistry.session.timeout.ms=30000\n"),
    );
    files.insert(
        "common.properties",
        "data.basedir.path=/tmp/dolphinscheduler\n".to_string(),
    );
    let datasource = format!(
        "spring:\n  datasource:\n    driver-class-name: {driver_class}\n    url: {jdbc_url}\n    username: {}\n    password: {}\n",
        super::DS_USER,
        super::DS_PASSWORD
    );
    if jdbc_url.starts_with("jdbc:postgresql:") {
        files.insert("application-postgresql.yaml", datasource.clone());
        files.insert("application.yaml", datasource);
    } else {
        files.insert("application-mysql.yaml", datasource);
    }
    files.insert(
        "dsmaster.properties",
        format!(
            "# keys only dsmaster reads\ndsmaster.host={host}\ndsmaster.listen.host={host}\ndsmaster.startup.timeout=30\n"
        ),
    );
    for (name, body) in files {
        std::fs::write(dir.join(name), body)
            .map_err(|e| Error::Fixture(format!("writing {name}: {e}")))?;
    }
    Ok(())
}

/// Sends `tracing` output of tests to the test harness's captured output (shown for failing
/// tests), at `RUST_LOG` level or `info`. Safe to call from every test.
pub fn init_test_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
