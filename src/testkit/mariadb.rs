//! A private MariaDB server with upstream's DolphinScheduler schema.
//!
//! Each [`MariaDb`] gets a fresh data directory from `mariadb-install-db` and
//! a `mariadbd` bound to 127.0.0.1 on a free port, started with
//! `--no-defaults` so that the machine's `/etc/mysql` configuration (and any
//! system server on 3306) cannot leak in. Durability settings are relaxed and
//! memory kept small because the data is thrown away and CI boxes are tiny.
//!
//! Root has no password over TCP: the server is reachable only from loopback
//! and lives for one test. The DS user mirrors upstream's installation guide
//! so that configuration written for a real cluster works unchanged.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use tempfile::TempDir;
use tokio::process::Command;

use super::ports::free_port;
use super::process::{log_tail, run_checked, ServerProcess, Signal};
use super::schema::{schema_sql, SchemaVersion};
use super::Error;

/// Database user that [`MariaDb::create_ds_database`] grants access to, as
/// in upstream's installation guide.
pub const DS_USER: &str = "ds_user";
/// Password of [`DS_USER`].
pub const DS_PASSWORD: &str = "dolphinscheduler";

const SERVER: &str = "MariaDB";
/// Generous because a cold CI machine may first page in the binaries.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(30);

/// A running private MariaDB; killed and its directory deleted on drop.
pub struct MariaDb {
    // Field order matters: the process must be gone before the directory is
    // removed.
    process: ServerProcess,
    port: u16,
    /// Where servers in network namespaces reach it (`127.0.0.1` unless started with a
    /// peer address); it listens on loopback either way.
    peer_ip: Ipv4Addr,
    /// Whether commits are flushed at once (see [`MariaDb::set_durable`]).
    durable: bool,
    dir: TempDir,
}

impl MariaDb {
    /// Initialises a data directory and starts a server on a free loopback port.
    pub async fn start() -> Result<MariaDb, Error> {
        Self::start_for_peers(Ipv4Addr::LOCALHOST).await
    }

    /// As [`MariaDb::start`], also listening on `peer_ip` (the host side of the test
    /// network) for servers in network namespaces.
    pub async fn start_for_peers(peer_ip: Ipv4Addr) -> Result<MariaDb, Error> {
        super::process::start_with_one_retry(SERVER, || Self::start_once(peer_ip)).await
    }

    async fn start_once(peer_ip: Ipv4Addr) -> Result<MariaDb, Error> {
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("dsmaster-mariadb-")
            .tempdir()
            .map_err(|e| Error::io("creating MariaDB temp dir", e))?;
        let data = dir.path().join("data");

        let mut install = Command::new(binary("mariadb-install-db", &["/usr/bin"]));
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            // Creates root@127.0.0.1 instead of root@<hostname>.
            .arg("--skip-name-resolve");
        if running_as_root() {
            install.arg("--user=root");
        }
        run_checked(install, "initialising MariaDB data directory").await?;

        let port = free_port()?;
        let process = spawn_server(dir.path(), port, peer_ip, false)?;
        let mut db = MariaDb {
            process,
            port,
            peer_ip,
            durable: false,
            dir,
        };
        db.wait_ready().await?;
        tracing::info!(
            "started MariaDB on 127.0.0.1:{port} in {:.1}s ({})",
            started.elapsed().as_secs_f64(),
            db.dir.path().display()
        );
        Ok(db)
    }

    async fn wait_ready(&mut self) -> Result<(), Error> {
        let started = Instant::now();
        let mut last_error;
        loop {
            if let Some(status) = self.process.exited() {
                return Err(Error::Exited {
                    server: SERVER,
                    port: self.port,
                    status: status.to_string(),
                    log_tail: log_tail(&self.log_path(), 30),
                });
            }
            match tokio::time::timeout(Duration::from_secs(2), self.root_conn(None)).await {
                Ok(Ok(conn)) => {
                    let _ = conn.disconnect().await;
                    return Ok(());
                }
                Ok(Err(e)) => last_error = e.to_string(),
                Err(_) => last_error = "connect timed out".into(),
            }
            if started.elapsed() >= STARTUP_DEADLINE {
                return Err(Error::NotReady {
                    server: SERVER,
                    port: self.port,
                    waited: started.elapsed(),
                    last_error,
                    log_tail: log_tail(&self.log_path(), 30),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The temp directory holding data, socket and logs; gone after stop/drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's error log, worth printing when a test fails.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("error.log")
    }

    /// mysql_async URL for root on `db` (empty for no default database).
    pub fn root_url(&self, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.port)
    }

    /// mysql_async URL for [`DS_USER`] on `db`, i.e. what the master sees.
    pub fn ds_url(&self, db: &str) -> String {
        format!(
            "mysql://{DS_USER}:{DS_PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// The URL in upstream's `spring.datasource.url` form, for writing
    /// upstream-style configuration files (at the peer address, which every process of
    /// the test, in a namespace or not, can reach).
    pub fn jdbc_url(&self, db: &str) -> String {
        format!(
            "jdbc:mysql://{}:{}/{db}?useUnicode=true&characterEncoding=UTF-8",
            self.peer_ip, self.port
        )
    }

    /// An admin connection; `prefer_socket` is off so that tests exercise the
    /// same TCP path as the master.
    pub async fn root_conn(&self, db: Option<&str>) -> Result<mysql_async::Conn, Error> {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some("root"))
            .db_name(db)
            .prefer_socket(false);
        mysql_async::Conn::new(opts)
            .await
            .map_err(|source| Error::Sql {
                port: self.port,
                what: "connecting as root".into(),
                source,
            })
    }

    /// Sets up a database the way upstream's installation guide does (utf8
    /// database, upstream's own DDL and default rows, a dedicated user) and
    /// returns its JDBC URL.
    ///
    /// Fails if the database already exists, because reloading the DDL would
    /// silently wipe its tables.
    pub async fn create_ds_database(
        &self,
        name: &str,
        version: SchemaVersion,
    ) -> Result<String, Error> {
        validate_identifier(name)?;
        let started = Instant::now();
        let ddl = schema_sql(version).await?;

        let mut conn = self.root_conn(None).await?;
        let sql_err = |what: String| {
            let port = self.port;
            move |source| Error::Sql { port, what, source }
        };
        conn.query_drop(format!(
            "CREATE DATABASE `{name}` DEFAULT CHARACTER SET utf8 DEFAULT COLLATE utf8_general_ci"
        ))
        .await
        .map_err(sql_err(format!("creating database {name}")))?;

        let file = std::fs::File::open(&ddl)
            .map_err(|e| Error::io(format!("opening {}", ddl.display()), e))?;
        let mut client = Command::new(binary("mariadb", &["/usr/bin"]));
        client
            .arg("--no-defaults")
            .arg("--protocol=TCP")
            .arg("--host=127.0.0.1")
            .arg(format!("--port={}", self.port))
            .arg("--user=root")
            .arg("--default-character-set=utf8mb4")
            .arg("--batch")
            .arg(name)
            .stdin(Stdio::from(file));
        run_checked(client, &format!("loading {} into {name}", ddl.display())).await?;

        conn.query_drop(format!(
            "CREATE USER IF NOT EXISTS '{DS_USER}'@'%' IDENTIFIED BY '{DS_PASSWORD}'"
        ))
        .await
        .map_err(sql_err(format!("creating user {DS_USER}")))?;
        conn.query_drop(format!(
            "GRANT ALL PRIVILEGES ON `{name}`.* TO '{DS_USER}'@'%'"
        ))
        .await
        .map_err(sql_err(format!("granting {DS_USER} access to {name}")))?;
        let _ = conn.disconnect().await;

        tracing::info!(
            "created DolphinScheduler {version} database {name} on 127.0.0.1:{} in {:.1}s",
            self.port,
            started.elapsed().as_secs_f64()
        );
        Ok(self.jdbc_url(name))
    }

    /// Freezes the server (SIGSTOP) to simulate a hung database; connections
    /// stay open but nothing answers.
    pub fn suspend(&self) {
        self.process.signal(Signal::Stop);
    }

    /// Undoes [`MariaDb::suspend`].
    pub fn resume(&self) {
        self.process.signal(Signal::Cont);
    }

    /// Flushes every commit from now on (and after [`MariaDb::restart`]), so that killing
    /// the server loses nothing it acknowledged, as on a production server; the kit's
    /// default flushes once a second.
    pub async fn set_durable(&mut self) -> Result<(), Error> {
        let mut conn = self.root_conn(None).await?;
        conn.query_drop("SET GLOBAL innodb_flush_log_at_trx_commit = 1")
            .await
            .map_err(|e| Error::Fixture(format!("making MariaDB durable: {e}")))?;
        let _ = conn.disconnect().await;
        self.durable = true;
        Ok(())
    }

    /// Stops the server (SIGKILL with `crash`, as a machine losing power or the OOM killer
    /// would; else a clean shutdown) and starts it again on the same port and data, as
    /// an operator's restart or a supervisor would. Clients see their connections drop and
    /// connects refused until the server is back.
    pub async fn restart(&mut self, crash: bool) -> Result<(), Error> {
        let started = Instant::now();
        if crash {
            self.process.kill().await;
        } else {
            self.process.stop(STOP_GRACE).await;
        }
        self.process = spawn_server(self.dir.path(), self.port, self.peer_ip, self.durable)?;
        self.wait_ready().await?;
        tracing::info!(
            "restarted MariaDB on 127.0.0.1:{} in {:.1}s",
            self.port,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Shuts the server down cleanly and deletes its directory.
    pub async fn stop(self) {
        let MariaDb {
            mut process,
            port,
            dir,
            ..
        } = self;
        process.stop(STOP_GRACE).await;
        drop(process);
        let path = dir.path().to_path_buf();
        if let Err(e) = dir.close() {
            tracing::warn!("could not remove {}: {e}", path.display());
        }
        tracing::info!("stopped MariaDB on 127.0.0.1:{port}");
    }
}

/// Starts `mariadbd` on the data directory under `dir` (already initialised).
/// `durable`: every commit flushed to the log (a SIGKILL then loses nothing committed);
/// otherwise once a second, which is faster and fine for data thrown away after a test.
fn spawn_server(
    dir: &Path,
    port: u16,
    peer_ip: Ipv4Addr,
    durable: bool,
) -> Result<ServerProcess, Error> {
    let data = dir.join("data");
    let log = dir.join("error.log");
    let mut cmd = Command::new(binary("mariadbd", &["/usr/sbin", "/usr/bin"]));
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", dir.join("mariadb.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mariadb.pid").display()))
        .arg(format!("--log-error={}", log.display()))
        .arg(format!("--port={port}"))
        // MariaDB 10.11 takes a list; loopback stays first for the kit's own clients.
        .arg(if peer_ip.is_loopback() {
            "--bind-address=127.0.0.1".to_string()
        } else {
            format!("--bind-address=127.0.0.1,{peer_ip}")
        })
        .arg("--skip-name-resolve")
        .arg("--skip-log-bin")
        .arg("--performance-schema=OFF")
        .arg("--innodb-buffer-pool-size=64M")
        .arg("--innodb-log-file-size=16M")
        .arg(format!(
            "--innodb-flush-log-at-trx-commit={}",
            if durable { 1 } else { 0 }
        ))
        .arg("--innodb-doublewrite=0")
        .arg("--character-set-server=utf8mb4")
        .arg("--collation-server=utf8mb4_general_ci")
        .arg("--max-connections=500");
    if running_as_root() {
        // mariadbd refuses to run as root unless told explicitly.
        cmd.arg("--user=root");
    }
    ServerProcess::spawn(SERVER, cmd, &log, dir)
}

fn validate_identifier(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "database name {name:?} must be 1-64 ASCII letters, digits or underscores"
        )))
    }
}

/// The owner of `/proc/self` is the effective uid, which avoids `unsafe`
/// (forbidden in this crate) for `geteuid`.
pub(crate) fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Prefers the Debian install location so that a non-root PATH without
/// `/usr/sbin` still works, falling back to a PATH lookup.
pub(crate) fn binary(name: &str, dirs: &[&str]) -> PathBuf {
    dirs.iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}
