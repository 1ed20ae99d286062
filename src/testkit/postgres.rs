//! A private PostgreSQL server with upstream's DolphinScheduler schema.
//!
//! Each [`Postgres`] gets a fresh cluster from `initdb` and a `postgres` started directly
//! as our child (no `pg_ctl`, no `pg_ctlcluster`), bound to 127.0.0.1 on a free port with
//! its socket in its own temp dir, so that Debian's system cluster (its config under
//! `/etc/postgresql`, its socket in `/var/run/postgresql`, port 5432) cannot leak in.
//!
//! `fsync` is off: a killed *server* still loses nothing it acknowledged (commits are
//! written to the kernel before the client hears of them, and `synchronous_commit` stays
//! on), only a crash of the machine would, and the data is thrown away after the test.
//! That is why there is no `set_durable` here, unlike MariaDB.
//!
//! PostgreSQL refuses to run as root. When the tests do, the kit runs `initdb` and
//! `postgres` through `setpriv` as the `postgres` account (made by Debian's package), or
//! `nobody` where that does not exist, and hands that account the temp dir; root keeps
//! full access to it for logs and cleanup.
//!
//! The superuser (`postgres`) is trusted on loopback, as MariaDB's root is; the DS user
//! ([`DS_USER`], created at start) logs in with its password (SCRAM) from anywhere, as
//! the master and the Java peers do.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::process::Command;

use super::mariadb::{binary, running_as_root, DS_PASSWORD, DS_USER};
use super::ports::free_port;
use super::process::{log_tail, run_checked, ServerProcess, Signal};
use super::schema::{schema_sql_for, SchemaVersion, SqlFlavour};
use super::Error;

const SERVER: &str = "PostgreSQL";
/// The cluster's superuser, whatever the OS account running the server.
const SUPERUSER: &str = "postgres";
/// Generous because a cold CI machine may first page in the binaries.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(30);
/// How long `Drop` waits for an immediate shutdown before killing.
const DROP_QUIT_GRACE: Duration = Duration::from_secs(3);
/// One readiness probe; a frozen or still-recovering server must not stall the loop.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// PostgreSQL's limit on identifiers (NAMEDATALEN - 1).
const MAX_IDENTIFIER: usize = 63;

/// Written over `initdb`'s: the superuser without a password on loopback only, every
/// other role with its password from any address the server listens on.
const PG_HBA: &str = "\
# Written by dsmaster's test kit.
local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
host all all 0.0.0.0/0 scram-sha-256
";

/// A running private PostgreSQL; shut down (immediately, else killed) and its directory
/// deleted on drop.
pub struct Postgres {
    // Field order matters: the process must be gone before the directory is
    // removed.
    process: ServerProcess,
    port: u16,
    /// Where servers in network namespaces reach it (`127.0.0.1` unless started with a
    /// peer address); it listens on loopback either way.
    peer_ip: Ipv4Addr,
    /// Where `initdb`, `postgres` and `psql` come from (empty: a PATH lookup).
    bin_dir: PathBuf,
    /// The OS account the server runs as when we are root.
    account: Option<Account>,
    dir: TempDir,
}

/// An unprivileged OS account for the server when the tests run as root.
#[derive(Clone, Debug)]
struct Account {
    name: String,
    uid: u32,
    gid: u32,
}

impl Postgres {
    /// Initialises a cluster and starts a server on a free loopback port.
    pub async fn start() -> Result<Postgres, Error> {
        Self::start_for_peers(Ipv4Addr::LOCALHOST).await
    }

    /// As [`Postgres::start`], also listening on `peer_ip` (the host side of the test
    /// network) for servers in network namespaces.
    pub async fn start_for_peers(peer_ip: Ipv4Addr) -> Result<Postgres, Error> {
        super::process::start_with_one_retry(SERVER, || Self::start_once(peer_ip)).await
    }

    async fn start_once(peer_ip: Ipv4Addr) -> Result<Postgres, Error> {
        let started = Instant::now();
        let bin_dir = bin_dir();
        let account = if running_as_root() {
            Some(server_account().await?)
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("dsmaster-postgres-")
            .tempdir()
            .map_err(|e| Error::io("creating PostgreSQL temp dir", e))?;
        if let Some(account) = &account {
            std::os::unix::fs::chown(dir.path(), Some(account.uid), Some(account.gid)).map_err(
                |e| {
                    Error::io(
                        format!("handing {} to {}", dir.path().display(), account.name),
                        e,
                    )
                },
            )?;
        }
        let data = dir.path().join("data");

        let mut initdb = as_account(account.as_ref(), &bin_dir.join("initdb"), dir.path());
        initdb
            .arg(format!("--pgdata={}", data.display()))
            .arg(format!("--username={SUPERUSER}"))
            .arg("--auth=trust")
            .arg("--encoding=UTF8")
            .arg("--locale=C")
            .arg("--no-sync")
            .arg("--no-instructions");
        run_checked(initdb, "initialising PostgreSQL data directory").await?;
        let hba = data.join("pg_hba.conf");
        std::fs::write(&hba, PG_HBA)
            .map_err(|e| Error::io(format!("writing {}", hba.display()), e))?;

        let port = free_port()?;
        let process = spawn_server(&bin_dir, account.as_ref(), dir.path(), port, peer_ip)?;
        let mut db = Postgres {
            process,
            port,
            peer_ip,
            bin_dir,
            account,
            dir,
        };
        db.wait_ready().await?;
        db.psql(
            "postgres",
            &format!("CREATE ROLE {DS_USER} LOGIN PASSWORD '{DS_PASSWORD}'"),
        )
        .await?;
        tracing::info!(
            "started PostgreSQL on 127.0.0.1:{port} in {:.1}s ({}{})",
            started.elapsed().as_secs_f64(),
            db.dir.path().display(),
            db.account
                .as_ref()
                .map(|a| format!(", as {}", a.name))
                .unwrap_or_default()
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
            match tokio::time::timeout(PROBE_TIMEOUT, self.psql("postgres", "SELECT 1")).await {
                Ok(Ok(_)) => return Ok(()),
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

    /// The temp directory holding data, socket and log; gone after stop/drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log (its stderr), worth printing when a test fails.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// libpq / tokio-postgres URL for [`DS_USER`] on `db`, i.e. what the master sees.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://{DS_USER}:{DS_PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// libpq URL for the superuser on `db` (no password; loopback only).
    pub fn superuser_url(&self, db: &str) -> String {
        format!("postgresql://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
    }

    /// The URL in upstream's `spring.datasource.url` form, for writing
    /// upstream-style configuration files (at the peer address, which every process of
    /// the test, in a namespace or not, can reach).
    pub fn jdbc_url(&self, db: &str) -> String {
        format!("jdbc:postgresql://{}:{}/{db}", self.peer_ip, self.port)
    }

    /// Runs `sql` (one statement, or several run as one implicit transaction) as the
    /// superuser through `psql` over TCP, and returns what it printed: rows one a line,
    /// columns separated by tabs, no headers.
    pub async fn psql(&self, db: &str, sql: &str) -> Result<String, Error> {
        self.run_psql(db, SUPERUSER, sql).await
    }

    /// As [`Postgres::psql`], logged in as [`DS_USER`] with its password, as the master
    /// and the Java servers are.
    pub async fn ds_psql(&self, db: &str, sql: &str) -> Result<String, Error> {
        self.run_psql(db, DS_USER, sql).await
    }

    async fn run_psql(&self, db: &str, user: &str, sql: &str) -> Result<String, Error> {
        let mut cmd = self.psql_command(db, user);
        cmd.arg("--tuples-only")
            .arg("--no-align")
            .arg("--field-separator=\t")
            .arg("--command")
            .arg(sql);
        let output =
            run_checked(cmd, &format!("psql on 127.0.0.1:{} as {user}", self.port)).await?;
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(text.trim_end_matches('\n').to_string())
    }

    /// `psql` on `db` as `user` over TCP, with nothing from `~/.psqlrc` or the PG*
    /// environment that could change what it does, stopping at the first error.
    fn psql_command(&self, db: &str, user: &str) -> Command {
        let conninfo = format!(
            "host=127.0.0.1 port={} dbname={db} user={user} sslmode=disable connect_timeout=5 \
             client_encoding=UTF8 application_name=dsmaster-testkit \
             options='-c client_min_messages=warning'",
            self.port
        );
        let mut cmd = Command::new(self.bin_dir.join("psql"));
        cmd.arg("--no-psqlrc")
            .arg("--quiet")
            .arg("--set=ON_ERROR_STOP=1")
            .arg(format!("--dbname={conninfo}"))
            .env_remove("PGSERVICE")
            .env_remove("PGSERVICEFILE");
        if user == DS_USER {
            cmd.env("PGPASSWORD", DS_PASSWORD);
        } else {
            cmd.env_remove("PGPASSWORD");
        }
        cmd
    }

    /// Sets up a database the way upstream's installation guide does (a database owned
    /// by the DS user, upstream's own PostgreSQL DDL and default rows, loaded as that
    /// user so it owns every table) and returns its JDBC URL.
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
        let ddl = schema_sql_for(version, SqlFlavour::PostgreSql).await?;

        self.psql(
            "postgres",
            &format!("CREATE DATABASE \"{name}\" OWNER {DS_USER} ENCODING 'UTF8'"),
        )
        .await?;

        let mut client = self.psql_command(name, DS_USER);
        client.arg("--single-transaction").arg("--file").arg(&ddl);
        run_checked(client, &format!("loading {} into {name}", ddl.display())).await?;

        tracing::info!(
            "created DolphinScheduler {version} database {name} on 127.0.0.1:{} in {:.1}s",
            self.port,
            started.elapsed().as_secs_f64()
        );
        Ok(self.jdbc_url(name))
    }

    /// Freezes the server (SIGSTOP to the postmaster and every backend) to simulate a
    /// hung database; connections stay open but nothing answers.
    pub fn suspend(&self) {
        self.process.signal(Signal::Stop);
    }

    /// Undoes [`Postgres::suspend`].
    pub fn resume(&self) {
        self.process.signal(Signal::Cont);
    }

    /// Stops the server (SIGKILL to every process with `crash`, as a machine losing power
    /// or the OOM killer would; else a fast shutdown) and starts it again on the same port
    /// and data, as an operator's restart or a supervisor would. Clients see their
    /// connections drop and connects refused until the server is back (after crash
    /// recovery, when `crash`).
    pub async fn restart(&mut self, crash: bool) -> Result<(), Error> {
        let started = Instant::now();
        if crash {
            self.process.kill().await;
        } else {
            self.process.stop_with(Signal::Int, STOP_GRACE).await;
        }
        // After a SIGKILL the old backends may take a moment to be gone; until then a new
        // postmaster refuses the data directory ("shared memory block is still in use").
        let mut attempt = 1;
        loop {
            self.process = spawn_server(
                &self.bin_dir,
                self.account.as_ref(),
                self.dir.path(),
                self.port,
                self.peer_ip,
            )?;
            match self.wait_ready().await {
                Err(Error::Exited { .. }) if crash && attempt < 3 => {
                    tracing::warn!("PostgreSQL exited right after a crash restart; retrying");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => break other?,
            }
        }
        tracing::info!(
            "restarted PostgreSQL on 127.0.0.1:{} in {:.1}s",
            self.port,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Shuts the server down (fast: open sessions are ended) and deletes its directory.
    pub async fn stop(mut self) {
        self.process.stop_with(Signal::Int, STOP_GRACE).await;
        let path = self.dir.path().to_path_buf();
        if let Err(e) = std::fs::remove_dir_all(&path) {
            tracing::warn!("could not remove {}: {e}", path.display());
        }
        tracing::info!("stopped PostgreSQL on 127.0.0.1:{}", self.port);
        // Drop finds the server gone and the directory removed.
    }
}

impl Drop for Postgres {
    /// An immediate shutdown (SIGQUIT) before the kill: it takes milliseconds and, unlike a
    /// SIGKILL, lets the postmaster remove its SysV interlock segment, which would
    /// otherwise outlive every test that drops a running server.
    fn drop(&mut self) {
        self.process
            .signal_and_wait_blocking(Signal::Quit, DROP_QUIT_GRACE);
    }
}

/// Starts `postgres` on the cluster under `dir` (already initialised), with the socket
/// in `dir` and every setting the kit relies on given on the command line.
fn spawn_server(
    bin_dir: &Path,
    account: Option<&Account>,
    dir: &Path,
    port: u16,
    peer_ip: Ipv4Addr,
) -> Result<ServerProcess, Error> {
    let log = dir.join("postgres.log");
    let listen = if peer_ip == Ipv4Addr::LOCALHOST {
        "127.0.0.1".to_string()
    } else {
        format!("127.0.0.1,{peer_ip}")
    };
    let mut cmd = as_account(account, &bin_dir.join("postgres"), dir);
    cmd.arg("-D")
        .arg(dir.join("data"))
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(dir)
        .arg("-h")
        .arg(listen);
    for setting in [
        "fsync=off",
        "full_page_writes=off",
        "synchronous_commit=on",
        "wal_level=minimal",
        "max_wal_senders=0",
        "shared_buffers=32MB",
        "max_connections=300",
        // Parallel workers want /dev/shm, which containers keep tiny.
        "max_parallel_workers_per_gather=0",
        "huge_pages=off",
        "logging_collector=off",
        "log_destination=stderr",
    ] {
        cmd.arg("-c").arg(setting);
    }
    // Statement counts for the benchmarks (tests/bench_statements.rs), where the contrib
    // module is installed (Debian's server package carries it).
    if bin_dir.join("../lib/pg_stat_statements.so").exists() {
        cmd.arg("-c")
            .arg("shared_preload_libraries=pg_stat_statements");
    }
    ServerProcess::spawn(SERVER, cmd, &log, dir)
}

/// `program` run as `account` (through `setpriv`, which execs it, so the server stays
/// our direct child and its pid the one we signal), or as ourselves without one.
fn as_account(account: Option<&Account>, program: &Path, dir: &Path) -> Command {
    let mut cmd = match account {
        Some(account) => {
            let mut cmd = Command::new(binary("setpriv", &["/usr/bin", "/bin"]));
            cmd.arg(format!("--reuid={}", account.uid))
                .arg(format!("--regid={}", account.gid))
                .arg("--clear-groups")
                .arg("--")
                .arg(program);
            cmd
        }
        None => Command::new(program),
    };
    // The account may not be able to enter our working directory.
    cmd.current_dir(dir);
    cmd
}

/// The account to run the server as when we are root: Debian's `postgres`, else
/// `nobody`.
async fn server_account() -> Result<Account, Error> {
    let mut tried = Vec::new();
    for name in ["postgres", "nobody"] {
        match (id_of(name, "-u").await, id_of(name, "-g").await) {
            (Ok(uid), Ok(gid)) if uid != 0 => {
                return Ok(Account {
                    name: name.to_string(),
                    uid,
                    gid,
                })
            }
            (Ok(_), Ok(_)) => tried.push(format!("{name}: uid 0")),
            (Err(e), _) | (_, Err(e)) => tried.push(format!("{name}: {e}")),
        }
    }
    Err(Error::Fixture(format!(
        "PostgreSQL will not run as root and no unprivileged account was found ({})",
        tried.join("; ")
    )))
}

/// `id -u name` or `id -g name`, parsed.
async fn id_of(name: &str, flag: &str) -> Result<u32, Error> {
    let mut id = Command::new("id");
    id.arg(flag).arg(name);
    let output = run_checked(id, &format!("looking up account {name}")).await?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .map_err(|e| Error::Fixture(format!("`id {flag} {name}` printed {text:?}: {e}")))
}

/// Debian's newest `/usr/lib/postgresql/<major>/bin` that has a server, else
/// `/usr/local/bin` if it has one, else nothing (a PATH lookup).
fn bin_dir() -> PathBuf {
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin);
    newest
        .or_else(|| {
            let local = PathBuf::from("/usr/local/bin");
            local.join("postgres").is_file().then_some(local)
        })
        .unwrap_or_default()
}

/// Letters, digits and underscores only, so the name needs no escaping in SQL, URLs or
/// JDBC URLs.
fn validate_identifier(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= MAX_IDENTIFIER
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "database name {name:?} must be 1-{MAX_IDENTIFIER} ASCII letters, digits or underscores"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked() {
        assert!(validate_identifier("ds_205").is_ok());
        assert!(validate_identifier(&"a".repeat(MAX_IDENTIFIER)).is_ok());
        assert!(validate_identifier(&"a".repeat(MAX_IDENTIFIER + 1)).is_err());
        for bad in ["", "bad-name", "x\"y", "a b"] {
            assert!(validate_identifier(bad).is_err(), "{bad:?}");
        }
    }
}
