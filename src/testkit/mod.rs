//! Throw-away infrastructure for integration tests and `dsmaster demo`.
//!
//! The master cannot be tested meaningfully against mocks: its contract is
//! the exact MySQL (or PostgreSQL) schema and ZooKeeper layout that upstream
//! DolphinScheduler uses. So this module starts *private* MariaDB, PostgreSQL and
//! ZooKeeper servers — each on a free loopback port with its own temporary
//! directory — and loads upstream's own fresh-install DDL. Nothing here ever
//! talks to a server it did not start (a system MariaDB on port 3306 or
//! PostgreSQL on 5432 is deliberately ignored).
//!
//! It lives in the library rather than under `tests/` because the `demo`
//! subcommand needs the same servers.
//!
//! | file | owns |
//! |------|------|
//! | `mariadb.rs` | [`MariaDb`]: `mariadb-install-db` + `mariadbd`, DS database creation |
//! | `postgres.rs` | [`Postgres`]: `initdb` + `postgres` (as an unprivileged account under root), DS database creation with upstream's PostgreSQL DDL |
//! | `zookeeper.rs` | [`ZooKeeper`]: standalone `ZooKeeperServerMain` from the Debian jars |
//! | `schema.rs` | [`SchemaVersion`], [`schema_sql`], [`schema_sql_for`]: upstream DDL (MySQL or PostgreSQL, [`SqlFlavour`]) extracted from Maven Central sources jars into a user cache |
//! | `process.rs` | process-group handling, the cleanup watchdog and graceful/forced stop shared by the servers |
//! | `ports.rs` | picking a free loopback port |
//! | `chaos/` | [`chaos`]: the chaos drill (`dsmaster chaos`): masters and workers as processes in namespaces, faults, the row check |
//! | `netns.rs` | [`netns::TestNet`]: network namespaces for upstream's Java servers, so test traffic stays on loopback and links the kit made |
//!
//! Binaries come from Debian packages; `scripts/install-deps.sh` installs them.
//! Nothing fetched from upstream is stored in the repository: the DDL is
//! pulled from the local Maven repository (downloading it with `mvn` if
//! needed) at run time.
//!
//! Cleanup is layered because tests panic and get interrupted: an explicit
//! async `stop()`, a synchronous `Drop` that kills and reaps the process group
//! before the temp dir goes, and a tiny shell watchdog that kills the server
//! and removes its directory if the test process itself dies (Ctrl-C, SIGKILL).

// Test support times real child processes (MariaDB, ZooKeeper, Java), which paused tokio
// time does not govern, so std's Instant is the right clock here.
#![allow(clippy::disallowed_types)]

pub mod api;
pub mod chaos;
pub mod cluster;
pub mod fixtures;
pub mod java;
pub mod netns;
pub mod scenario;
pub mod worker;

mod mariadb;
mod ports;
mod postgres;
mod process;
mod schema;
mod zookeeper;

use std::time::Duration;

pub use mariadb::{MariaDb, DS_PASSWORD, DS_USER};
pub use ports::free_port;
pub use postgres::Postgres;
pub use process::{signal_process, Signal};
pub use schema::{schema_sql, schema_sql_for, SchemaVersion, SqlFlavour};
pub use zookeeper::ZooKeeper;

/// Everything that can go wrong while standing up the test servers.
///
/// Variants carry enough context (binary, port, log tail) that a failing CI
/// run can be diagnosed from the test output alone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Fixtures, the stand-in worker or the local cluster (test support above the servers).
    #[error("{0}")]
    Fixture(String),

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot run `{binary}` ({source}); run scripts/install-deps.sh")]
    Spawn {
        binary: String,
        #[source]
        source: std::io::Error,
    },

    #[error("`{command}` failed ({status}):\n{output}")]
    Command {
        command: String,
        status: String,
        output: String,
    },

    #[error(
        "{server} on 127.0.0.1:{port} exited during startup ({status}); log tail:\n{log_tail}"
    )]
    Exited {
        server: &'static str,
        port: u16,
        status: String,
        log_tail: String,
    },

    #[error(
        "{server} on 127.0.0.1:{port} not ready after {waited:?} (last error: {last_error}); log tail:\n{log_tail}"
    )]
    NotReady {
        server: &'static str,
        port: u16,
        waited: Duration,
        last_error: String,
        log_tail: String,
    },

    #[error("MariaDB on 127.0.0.1:{port}: {what}: {source}")]
    Sql {
        port: u16,
        what: String,
        #[source]
        source: mysql_async::Error,
    },

    #[error("ZooKeeper on 127.0.0.1:{port}: {message}")]
    ZooKeeper { port: u16, message: String },

    #[error("upstream schema {version}: {message}")]
    Schema { version: String, message: String },

    /// This machine cannot make network namespaces (no `CAP_NET_ADMIN`); tests that need
    /// upstream's Java servers skip themselves on this error.
    #[error("network namespaces unavailable: {0}")]
    NoNetworkNamespaces(String),

    #[error("invalid argument: {0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
