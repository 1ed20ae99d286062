//! The two database backends behind one small interface: MySQL/MariaDB (`mysql_async`) and
//! PostgreSQL (`tokio-postgres` with a `deadpool` pool).
//!
//! Statements are written once, with `?` placeholders, and run on either backend: the
//! PostgreSQL side numbers the placeholders and binds each [`Value`] as the type the server
//! inferred for it (an integer bound to a `smallint` column is sent as one, `'1'` bound to a
//! `boolean` Quartz column as `true`), so the store's typed operations do not care which
//! server answers. Where the two dialects really differ (`FROM DUAL`, the inserted id, the
//! session time zone, which errors are retryable) the store asks [`Dialect`] and writes the
//! statement once per backend, beside the shared one.
//!
//! Transactions own their connection ([`Tx`]); one dropped without a commit is rolled back
//! (MySQL: by `mysql_async`; PostgreSQL: the connection is taken out of the pool and closed,
//! so the server rolls back and no pooled connection is ever left inside a transaction).

mod my;
mod pg;
mod value;

pub use value::{FromRow, FromValue, Row, Value};

use std::time::Duration;

/// Which SQL dialect the cluster's database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Mysql,
    Postgres,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Mysql => "MySQL",
            Dialect::Postgres => "PostgreSQL",
        }
    }
}

/// A driver or pool failure, kept whole so the log shows the server's own message.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Mysql(#[from] mysql_async::Error),
    #[error("{}", pg::describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("connection pool: {0}")]
    Pool(String),
    #[error("column {column}: cannot convert {value:?} to {target}")]
    Convert {
        column: String,
        value: Value,
        target: &'static str,
    },
}

impl DbError {
    /// The server refused the statement itself (unknown table or column, syntax, a
    /// constraint): retrying the same text cannot help, but the connection is fine.
    pub fn is_server_error(&self) -> bool {
        match self {
            DbError::Mysql(mysql_async::Error::Server(_)) => true,
            DbError::Postgres(e) => e.as_db_error().is_some(),
            _ => false,
        }
    }

    /// A duplicate key (MySQL 1062, PostgreSQL 23505).
    pub fn is_duplicate_key(&self) -> bool {
        match self {
            DbError::Mysql(mysql_async::Error::Server(e)) => e.code == 1062,
            DbError::Postgres(e) => {
                e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }
}

/// How to open the pool.
#[derive(Clone)]
pub struct PoolOptions {
    pub url: String,
    pub max_connections: usize,
    pub min_idle: usize,
}

/// A connection pool of either backend; cheap to clone.
#[derive(Clone)]
pub enum Pool {
    Mysql(mysql_async::Pool),
    Postgres(deadpool_postgres::Pool),
}

impl Pool {
    /// Builds the pool for `dialect`; no connection is opened yet.
    pub fn new(dialect: Dialect, options: &PoolOptions) -> Result<Pool, String> {
        match dialect {
            Dialect::Mysql => my::pool(options).map(Pool::Mysql),
            Dialect::Postgres => pg::pool(options).map(Pool::Postgres),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Pool::Mysql(_) => Dialect::Mysql,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// A pooled connection in autocommit mode.
    pub async fn conn(&self) -> Result<Conn, DbError> {
        match self {
            Pool::Mysql(p) => Ok(Conn::Mysql(p.get_conn().await?)),
            Pool::Postgres(p) => Ok(Conn::Postgres(Box::new(pg::PgConn::get(p).await?))),
        }
    }

    /// A transaction on a pooled connection (REPEATABLE READ on MySQL as InnoDB's default,
    /// READ COMMITTED on PostgreSQL as its default: the levels the Java master runs at).
    pub async fn begin(&self) -> Result<Tx, DbError> {
        match self {
            Pool::Mysql(p) => Ok(Tx::Mysql(
                p.start_transaction(mysql_async::TxOpts::default()).await?,
            )),
            Pool::Postgres(p) => {
                let mut c = Box::new(pg::PgConn::get(p).await?);
                c.begin().await?;
                Ok(Tx::Postgres(c))
            }
        }
    }

    /// Closes every idle connection (graceful shutdown).
    pub async fn close(self) -> Result<(), DbError> {
        match self {
            Pool::Mysql(p) => Ok(p.disconnect().await?),
            Pool::Postgres(p) => {
                p.close();
                Ok(())
            }
        }
    }
}

/// One pooled connection in autocommit mode.
pub enum Conn {
    Mysql(mysql_async::Conn),
    Postgres(Box<pg::PgConn>),
}

/// One transaction; dropped without [`Tx::commit`] it rolls back.
pub enum Tx {
    Mysql(mysql_async::Transaction<'static>),
    Postgres(Box<pg::PgConn>),
}

/// The statement methods, identical on a connection and a transaction.
macro_rules! statements {
    ($ty:ident) => {
        impl $ty {
            pub fn dialect(&self) -> Dialect {
                match self {
                    $ty::Mysql(_) => Dialect::Mysql,
                    $ty::Postgres(_) => Dialect::Postgres,
                }
            }

            /// Runs a statement; returns the number of rows it changed.
            pub async fn exec(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, DbError> {
                timed("exec", async {
                    match self {
                        $ty::Mysql(c) => my::exec(c, sql, params).await,
                        $ty::Postgres(c) => c.exec(sql, params).await,
                    }
                })
                .await
            }

            /// Runs an INSERT into a table with an `id` key; returns the rows inserted and
            /// the new id (PostgreSQL: `RETURNING id` is appended).
            pub async fn insert(
                &mut self,
                sql: &str,
                params: Vec<Value>,
            ) -> Result<(u64, Option<i64>), DbError> {
                timed("insert", async {
                    match self {
                        $ty::Mysql(c) => my::insert(c, sql, params).await,
                        $ty::Postgres(c) => c.insert(sql, params).await,
                    }
                })
                .await
            }

            /// Every row of a query, converted.
            pub async fn all<T: FromRow>(
                &mut self,
                sql: &str,
                params: Vec<Value>,
            ) -> Result<Vec<T>, DbError> {
                let rows = timed("query", async {
                    match self {
                        $ty::Mysql(c) => my::query(c, sql, params).await,
                        $ty::Postgres(c) => c.query(sql, params).await,
                    }
                })
                .await?;
                rows.into_iter().map(T::from_row).collect()
            }

            /// The first row of a query, converted.
            pub async fn first<T: FromRow>(
                &mut self,
                sql: &str,
                params: Vec<Value>,
            ) -> Result<Option<T>, DbError> {
                let row = timed("query", async {
                    match self {
                        $ty::Mysql(c) => my::query_first(c, sql, params).await,
                        $ty::Postgres(c) => c.query_first(sql, params).await,
                    }
                })
                .await?;
                row.map(T::from_row).transpose()
            }
        }
    };
}

/// Runs one statement, recording its latency and any failure under `op`.
async fn timed<T>(
    op: &'static str,
    statement: impl std::future::Future<Output = Result<T, DbError>>,
) -> Result<T, DbError> {
    let started = tokio::time::Instant::now();
    let outcome = statement.await;
    metrics::histogram!(crate::metrics::DB_STATEMENT, "op" => op)
        .record(started.elapsed().as_secs_f64());
    if outcome.is_err() {
        metrics::counter!(crate::metrics::DB_ERRORS, "op" => op).increment(1);
    }
    outcome
}

statements!(Conn);
statements!(Tx);

impl Tx {
    pub async fn commit(self) -> Result<(), DbError> {
        timed("commit", async {
            match self {
                Tx::Mysql(t) => Ok(t.commit().await?),
                Tx::Postgres(mut c) => c.commit().await,
            }
        })
        .await
    }

    pub async fn rollback(self) -> Result<(), DbError> {
        timed("rollback", async {
            match self {
                Tx::Mysql(t) => Ok(t.rollback().await?),
                Tx::Postgres(mut c) => c.rollback().await,
            }
        })
        .await
    }

    /// Runs a statement whose failure the caller tolerates (a Quartz table an upgraded
    /// database may lack). PostgreSQL aborts the whole transaction on any error, so there
    /// the statement runs inside a savepoint that is rolled back on failure.
    pub async fn exec_tolerant(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, DbError> {
        match self {
            Tx::Mysql(c) => my::exec(c, sql, params).await,
            Tx::Postgres(c) => c.exec_in_savepoint(sql, params).await,
        }
    }

    /// [`Tx::exec_tolerant`] for a query.
    pub async fn first_tolerant<T: FromRow>(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<Option<T>, DbError> {
        let row = match self {
            Tx::Mysql(c) => my::query_first(c, sql, params).await?,
            Tx::Postgres(c) => c.query_first_in_savepoint(sql, params).await?,
        };
        row.map(T::from_row).transpose()
    }
}

/// How long an idle pooled connection lives (MySQL closes idle sessions after
/// `wait_timeout`, 8 h by default; ten minutes keeps well inside any setting).
pub(crate) const IDLE_TTL: Duration = Duration::from_secs(600);

/// `params![a, b]`: the bind values of one statement.
#[macro_export]
macro_rules! params {
    () => { Vec::<$crate::store::db::Value>::new() };
    ($($v:expr),+ $(,)?) => { vec![$($crate::store::db::Value::from($v)),+] };
}
