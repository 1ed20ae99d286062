//! A whole throw-away cluster on this machine: private MariaDB with upstream's schema,
//! private ZooKeeper, a conf dir in the Java master's layout pointing at them, our master
//! started from that conf dir (the drop-in path an operator uses), and a stand-in worker.
//! Shared by `dsmaster demo` and the end-to-end tests.

use super::fixtures::{self, ImportedWorkflow};
use super::netns::TestNet;
use super::worker::{Behaviour, StandInWorker};
use super::{Error, MariaDb, SchemaVersion, ZooKeeper};
use crate::model::ExecutionStatus;
use crate::server::{self, Running};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

pub struct LocalCluster {
    pub mariadb: MariaDb,
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
        Self::start_at(schema, None).await
    }

    /// As [`LocalCluster::start`], for a cluster that upstream's Java servers join: they run
    /// in network namespaces of the [`TestNet`], so ZooKeeper, MariaDB, our master and the
    /// stand-in workers listen on (and advertise) the test network's host address, which
    /// the namespaces reach. Fails with [`Error::NoNetworkNamespaces`] where namespaces
    /// cannot be made; callers skip their test then.
    pub async fn start_with_java_peers(schema: SchemaVersion) -> Result<LocalCluster, Error> {
        let net = TestNet::shared()?;
        Self::start_at(schema, Some(net)).await
    }

    async fn start_at(
        schema: SchemaVersion,
        net: Option<&'static TestNet>,
    ) -> Result<LocalCluster, Error> {
        let ip = net.map_or(Ipv4Addr::LOCALHOST, TestNet::host_ip);
        let (mariadb, zookeeper) =
            tokio::try_join!(MariaDb::start_for_peers(ip), ZooKeeper::start_on(ip))?;
        let database = "dolphinscheduler".to_string();
        let jdbc = mariadb.create_ds_database(&database, schema).await?;
        let conf_dir = tempfile::tempdir().map_err(|e| Error::Fixture(format!("conf dir: {e}")))?;
        write_conf_dir_at(conf_dir.path(), &jdbc, &zookeeper.connect_string(), ip)?;
        Ok(LocalCluster {
            mariadb,
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

    pub async fn conn(&self) -> Result<mysql_async::Conn, Error> {
        self.mariadb.root_conn(Some(&self.database)).await
    }

    /// The same connection behind the store's dialect-neutral interface (what the fixtures
    /// take, so they serve MySQL and PostgreSQL clusters alike).
    pub async fn db_conn(&self) -> Result<crate::store::db::Conn, Error> {
        Ok(crate::store::db::Conn::Mysql(self.conn().await?))
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

    /// Waits for the workflow started by `command_id`'s definition to finish, calling
    /// `on_change` with the task rows whenever one changes. Returns the final state code.
    pub async fn wait_for_end(
        &self,
        definition_code: i64,
        timeout: Duration,
        mut on_change: impl FnMut(&[TaskView]),
    ) -> Result<(i32, ExecutionStatus), Error> {
        use mysql_async::prelude::*;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut conn = self.conn().await?;
        let mut last: Vec<TaskView> = Vec::new();
        loop {
            let instance: Option<(i32, Option<i32>)> = conn
                .exec_first(
                    "SELECT id, state FROM t_ds_process_instance WHERE process_definition_code = ? ORDER BY id DESC LIMIT 1",
                    (definition_code,),
                )
                .await
                .map_err(|e| Error::Fixture(e.to_string()))?;
            if let Some((id, state)) = instance {
                let rows: Vec<TaskRow> = conn
                    .exec(
                        "SELECT id, name, state, host FROM t_ds_task_instance WHERE process_instance_id = ? ORDER BY id",
                        (id,),
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
        use mysql_async::prelude::*;
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
        let mut conn = self.conn().await?;
        for table in ["t_ds_process_instance", "t_ds_task_instance"] {
            let hosts: Vec<Option<String>> = conn
                .query(format!("SELECT DISTINCT host FROM {table}"))
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
        self.mariadb.stop().await;
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
    files.insert(
        "application-mysql.yaml",
        format!(
            "spring:\n  datasource:\n    driver-class-name: com.mysql.jdbc.Driver\n    url: {jdbc_url}\n    username: {}\n    password: {}\n",
            super::DS_USER,
            super::DS_PASSWORD
        ),
    );
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
