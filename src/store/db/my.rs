//! The MySQL/MariaDB backend: `mysql_async` with prepared statements kept per connection.

use super::{DbError, PoolOptions, Row, Value, IDLE_TTL};
use mysql_async::prelude::*;
use mysql_async::{Opts, OptsBuilder, PoolConstraints, PoolOpts};

pub(super) fn pool(options: &PoolOptions) -> Result<mysql_async::Pool, String> {
    let opts = Opts::from_url(&options.url).map_err(|e| e.to_string())?;
    let constraints = PoolConstraints::new(
        options.min_idle.min(options.max_connections),
        options.max_connections.max(1),
    )
    .unwrap_or_default();
    let pool_opts = PoolOpts::default()
        .with_constraints(constraints)
        .with_inactive_connection_ttl(IDLE_TTL)
        // The default COM_RESET_CONNECTION on every return to the pool costs a round trip
        // and drops the connection's server-side prepared statements, so every statement
        // was prepared afresh (measured: Com_stmt_prepare == Com_stmt_execute). The store
        // leaves no session state behind (no SET, no temporary tables; an unfinished
        // transaction is rolled back by mysql_async when dropped), so skip the reset.
        .with_reset_connection(false);
    let builder = OptsBuilder::from_opts(opts)
        .pool_opts(pool_opts)
        .prefer_socket(false)
        .stmt_cache_size(256);
    Ok(mysql_async::Pool::new(builder))
}

fn bind(params: Vec<Value>) -> mysql_async::Params {
    if params.is_empty() {
        return mysql_async::Params::Empty;
    }
    mysql_async::Params::Positional(params.into_iter().map(to_mysql).collect())
}

fn to_mysql(v: Value) -> mysql_async::Value {
    use mysql_async::Value as M;
    match v {
        Value::Null => M::NULL,
        Value::Int(i) => M::Int(i),
        Value::Float(f) => M::Double(f),
        Value::Bool(b) => M::Int(i64::from(b)),
        Value::Text(s) => M::Bytes(s.into_bytes()),
        Value::Bytes(b) => M::Bytes(b),
        Value::DateTime(t) => t.into(),
    }
}

fn from_mysql(v: mysql_async::Value) -> Value {
    use chrono::{NaiveDate, NaiveTime};
    use mysql_async::Value as M;
    match v {
        M::NULL => Value::Null,
        M::Int(i) => Value::Int(i),
        M::UInt(u) => Value::from(u),
        M::Float(f) => Value::Float(f64::from(f)),
        M::Double(f) => Value::Float(f),
        M::Bytes(b) => Value::Bytes(b),
        M::Date(y, mo, d, h, mi, s, us) => {
            let date = NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(d));
            let time = NaiveTime::from_hms_micro_opt(u32::from(h), u32::from(mi), u32::from(s), us);
            match (date, time) {
                (Some(d), Some(t)) => Value::DateTime(d.and_time(t)),
                // A zero date ('0000-00-00') has no NaiveDateTime: keep its text.
                _ => Value::Text(format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")),
            }
        }
        M::Time(neg, days, h, mi, s, _) => Value::Text(format!(
            "{}{:02}:{mi:02}:{s:02}",
            if neg { "-" } else { "" },
            u32::from(h) + days * 24
        )),
    }
}

fn row(r: mysql_async::Row, names: &mut Option<std::sync::Arc<[String]>>) -> Row {
    let names = names
        .get_or_insert_with(|| {
            r.columns_ref()
                .iter()
                .map(|c| c.name_str().into_owned())
                .collect::<Vec<_>>()
                .into()
        })
        .clone();
    Row::new(names, r.unwrap().into_iter().map(from_mysql).collect())
}

/// What both a connection and a transaction offer.
pub(super) trait Session: Queryable {
    fn affected(&self) -> u64;
    fn last_id(&self) -> Option<u64>;
}

impl Session for mysql_async::Conn {
    fn affected(&self) -> u64 {
        self.affected_rows()
    }
    fn last_id(&self) -> Option<u64> {
        self.last_insert_id()
    }
}

impl Session for mysql_async::Transaction<'static> {
    fn affected(&self) -> u64 {
        self.affected_rows()
    }
    fn last_id(&self) -> Option<u64> {
        self.last_insert_id()
    }
}

pub(super) async fn exec<S: Session>(
    s: &mut S,
    sql: &str,
    params: Vec<Value>,
) -> Result<u64, DbError> {
    s.exec_drop(sql, bind(params)).await?;
    Ok(s.affected())
}

pub(super) async fn insert<S: Session>(
    s: &mut S,
    sql: &str,
    params: Vec<Value>,
) -> Result<(u64, Option<i64>), DbError> {
    s.exec_drop(sql, bind(params)).await?;
    let affected = s.affected();
    let id = s
        .last_id()
        .and_then(|id| i64::try_from(id).ok())
        .filter(|_| affected > 0);
    Ok((affected, id))
}

pub(super) async fn query<S: Session>(
    s: &mut S,
    sql: &str,
    params: Vec<Value>,
) -> Result<Vec<Row>, DbError> {
    let rows: Vec<mysql_async::Row> = s.exec(sql, bind(params)).await?;
    let mut names = None;
    Ok(rows.into_iter().map(|r| row(r, &mut names)).collect())
}

pub(super) async fn query_first<S: Session>(
    s: &mut S,
    sql: &str,
    params: Vec<Value>,
) -> Result<Option<Row>, DbError> {
    let r: Option<mysql_async::Row> = s.exec_first(sql, bind(params)).await?;
    Ok(r.map(|r| row(r, &mut None)))
}
