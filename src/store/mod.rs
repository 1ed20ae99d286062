//! Every SQL statement the master issues against the 2.0.x schema, on MySQL or PostgreSQL.
//!
//! The engine calls typed methods here; no SQL lives anywhere else. The store follows
//! upstream's write semantics where other components can see them (shared/spec/database.md):
//! inserts omit NULL fields so column defaults apply, updates name only the columns that
//! changed and never write NULL over a value, enums are stored as their integer codes and
//! JSON columns keep the shapes Java readers expect.
//!
//! DATETIME columns hold wall-clock values in the database session's time zone (what
//! Connector/J does for the Java master), so [`Clock`] converts instants using the offset
//! the server reports at connect time. On PostgreSQL the `timestamp` columns hold the wall
//! clock of the writer's own zone (pgjdbc renders a `java.util.Date` in the JVM's default
//! zone), so there the clock uses the offset of the Java master's JVM zone
//! (`dsmaster.jvm.timezone`, else this host's zone).
//!
//! Both servers are reached through [`db`]: statements are written once where the dialects
//! agree, and once per [`db::Dialect`] beside each other where they do not.

mod clock;
mod command;
pub mod db;
mod definition;
mod failover;
mod instance;
pub mod json;
mod logic;
pub mod quartz;
pub mod reference;
pub mod rows;
mod sql;
mod version;

pub use clock::Clock;
pub use command::{HandleOutcome, NextCommand};
pub use definition::{Dag, TenantQueue};
pub use failover::{TaskReset, NEEDS_OWNER};
pub use instance::{AckWrite, ResultWrite};
pub use json::{CommandParam, JsonError, Property, TaskParams};
pub use reference::*;
pub use rows::*;
pub use version::SchemaVersion;

use crate::params;
pub use db::Dialect;
use db::{DbError, Pool};

/// What went wrong in the store, with the table, row and column where that is known.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error during {context}: {source}")]
    Sql {
        context: String,
        #[source]
        source: DbError,
    },
    #[error("bad value in {table} id {id} column {column}: {reason}")]
    BadValue {
        table: &'static str,
        id: i64,
        column: &'static str,
        reason: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("unsupported schema: {0}")]
    UnsupportedSchema(String),
    #[error("bad datasource URL: {0}")]
    BadUrl(String),
    /// The registry fence refused the statement: this master may no longer write.
    #[error("write refused: {0}")]
    Fenced(crate::registry::Fenced),
    /// A conditional write found the instance owned by another master (or by nobody).
    #[error("{table} id {id} is no longer owned by {owner}; write not applied")]
    NotOwner {
        table: &'static str,
        id: i32,
        owner: String,
    },
}

impl Error {
    /// The write was refused because this master lost (or cannot confirm) its ownership:
    /// retrying cannot help, the caller must stop acting for the instance.
    pub fn is_ownership(&self) -> bool {
        matches!(self, Error::Fenced(_) | Error::NotOwner { .. })
    }
}

/// The registry fence and our address, once the master has registered.
#[derive(Clone)]
pub(crate) struct Owner {
    pub(crate) fence: crate::registry::Fence,
    pub(crate) addr: String,
}

pub type Result<T> = std::result::Result<T, Error>;

/// Adds the operation to a driver error so logs say what was being done.
pub(crate) trait SqlContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SqlContext<T> for std::result::Result<T, DbError> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Sql {
            context: context(),
            source,
        })
    }
}

/// Connection pool plus the time-zone clock; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    clock: Clock,
    /// Whether `t_ds_process_instance.restart_time` exists (2.0.2+); set by `schema_version`.
    restart_time: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Set once by [`Store::install_fence`]; shared by every clone.
    owner: std::sync::Arc<std::sync::OnceLock<Owner>>,
    /// Signalled after this process inserted a `t_ds_command` row, so command intake takes
    /// it without waiting for its next poll. Shared by every clone.
    command_signal: std::sync::Arc<tokio::sync::Notify>,
}

/// How to reach the database; built by `config` from the cluster's datasource settings.
#[derive(Clone)]
pub struct ConnectOptions {
    pub dialect: Dialect,
    /// `mysql://user:password@host:port/database` (as `mysql_async` understands it) or
    /// `postgresql://user:password@host:port/database` (as `tokio-postgres` does).
    pub url: String,
    pub max_connections: usize,
    pub min_idle: usize,
    /// The JDBC URL's `serverTimezone`: Connector/J renders DATETIME values in that zone, so
    /// our clock must too. `None` = the server session's own zone.
    pub server_timezone: Option<String>,
    /// PostgreSQL only: the UTC offset of the Java master's JVM zone (`dsmaster.jvm.timezone`,
    /// else the host's), in which pgjdbc renders timestamps. `None` = this process's zone.
    pub jvm_offset_seconds: Option<i64>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL carries the password: never print it.
        f.debug_struct("ConnectOptions")
            .field("dialect", &self.dialect)
            .field("max_connections", &self.max_connections)
            .field("min_idle", &self.min_idle)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the pool and checks the server answers; reads the session time-zone offset.
    pub async fn connect(options: &ConnectOptions) -> Result<Store> {
        let pool = Pool::new(
            options.dialect,
            &db::PoolOptions {
                url: options.url.clone(),
                max_connections: options.max_connections,
                min_idle: options.min_idle,
            },
        )
        .map_err(Error::BadUrl)?;
        let mut conn = pool
            .conn()
            .await
            .ctx(|| "connecting to the database".into())?;
        let offset = match options.dialect {
            Dialect::Mysql => mysql_offset(&mut conn, options.server_timezone.as_deref()).await?,
            Dialect::Postgres => options
                .jvm_offset_seconds
                .unwrap_or_else(|| i64::from(chrono::Local::now().offset().local_minus_utc())),
        };
        drop(conn);
        let clock = match options.dialect {
            Dialect::Mysql => Clock::from_offset_seconds(offset),
            Dialect::Postgres => Clock::from_offset_seconds(offset).with_millis(),
        };
        Ok(Store {
            pool,
            clock,
            restart_time: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
            owner: std::sync::Arc::default(),
            command_signal: std::sync::Arc::default(),
        })
    }

    /// From now on every statement (through every clone of this store) first checks the
    /// registry fence, and the writes of a workflow's own rows apply only while its process
    /// instance names `addr` as host. Installed once, right after the master registered.
    pub fn install_fence(&self, fence: crate::registry::Fence, addr: &str) {
        let _ = self.owner.set(Owner {
            fence,
            addr: addr.to_string(),
        });
    }

    /// True once the fence is lost for good: nothing this store does will write again.
    pub fn fence_lost(&self) -> bool {
        self.owner.get().is_some_and(|o| o.fence.is_lost())
    }

    pub(crate) fn owner(&self) -> Option<&Owner> {
        self.owner.get()
    }

    /// Refuses at once unless the fence holds now (the last check before a COMMIT).
    pub(crate) fn fence_check(&self) -> Result<()> {
        match self.owner.get() {
            Some(o) => o.fence.check().map_err(Error::Fenced),
            None => Ok(()),
        }
    }

    /// Waits while the session is merely unconfirmed; refuses once it is lost.
    pub(crate) async fn fence_hold(&self) -> Result<()> {
        match self.owner.get() {
            Some(o) => o
                .fence
                .hold(crate::registry::fence::PATIENCE)
                .await
                .map_err(Error::Fenced),
            None => Ok(()),
        }
    }

    /// Wakes command intake: a command row this process inserted is waiting.
    pub(crate) fn signal_command(&self) {
        self.command_signal.notify_one();
    }

    /// What command intake waits on between polls (see [`Store::signal_command`]).
    pub fn command_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.command_signal.clone()
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn has_restart_time(&self) -> bool {
        self.restart_time.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A pooled connection, once the fence allows statements (see [`Store::install_fence`]).
    pub(crate) async fn conn(&self) -> Result<db::Conn> {
        self.fence_hold().await?;
        self.pool
            .conn()
            .await
            .ctx(|| "taking a connection from the pool".into())
    }

    /// A transaction on a pooled connection, once the fence allows statements.
    pub(crate) async fn begin(&self, what: impl FnOnce() -> String) -> Result<db::Tx> {
        self.fence_hold().await?;
        self.pool.begin().await.ctx(what)
    }

    /// Which server the cluster runs on.
    pub fn dialect(&self) -> Dialect {
        self.pool.dialect()
    }

    /// Closes every pooled connection (graceful shutdown).
    pub async fn close(self) {
        if let Err(e) = self.pool.close().await {
            tracing::warn!(error = %e, "closing the database pool");
        }
    }
}

/// MySQL's session offset, or the JDBC URL's `serverTimezone` when the server knows it
/// (named zones need the server's zone tables; fixed offsets we read ourselves).
async fn mysql_offset(conn: &mut db::Conn, server_timezone: Option<&str>) -> Result<i64> {
    let session: Option<Option<i64>> = conn
        .first(
            "SELECT CAST(TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW()) AS SIGNED)",
            params![],
        )
        .await
        .ctx(|| "reading the session time zone".into())?;
    let mut offset = session.flatten().unwrap_or(0);
    if let Some(zone) = server_timezone.filter(|z| !z.trim().is_empty()) {
        let named: Option<Option<i64>> = conn
            .first(
                "SELECT CAST(TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', ?)) AS SIGNED)",
                params![zone],
            )
            .await
            .ok()
            .flatten();
        match named
            .flatten()
            .or_else(|| clock::fixed_offset_seconds(zone))
        {
            Some(o) => offset = o,
            None => tracing::warn!(
                zone,
                "serverTimezone is neither known to the database's zone tables nor a fixed offset; \
                 using the session's zone for DATETIME values"
            ),
        }
    }
    Ok(offset)
}
