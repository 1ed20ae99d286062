//! The PostgreSQL backend: `tokio-postgres` over a `deadpool` pool, statements prepared
//! once per connection (`prepare_cached`).
//!
//! The store's statements use `?` placeholders; they are numbered here (`$1`, `$2`, …).
//! PostgreSQL types every parameter from the statement, so a [`Value`] is encoded as the
//! type the server asked for: the same integer goes out as `int2`, `int4` or `int8`, text
//! `'1'` into a `boolean` (Quartz's columns on PostgreSQL) as `true`.

use super::{DbError, PoolOptions, Row, Value, IDLE_TTL};
use bytes::BytesMut;
use chrono::NaiveDateTime;
use std::error::Error as StdError;
use std::time::Duration;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

type BoxError = Box<dyn StdError + Sync + Send>;

pub(super) fn pool(options: &PoolOptions) -> Result<deadpool_postgres::Pool, String> {
    let mut config: tokio_postgres::Config = options.url.parse().map_err(|e| format!("{e}"))?;
    config
        .application_name("dsmaster")
        .connect_timeout(Duration::from_secs(10))
        .keepalives(true);
    let manager = deadpool_postgres::Manager::from_config(
        config,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            // Our own rule keeps transactions out of the pool (see `PgConn`'s drop), so a
            // returned connection needs no statement to be reusable.
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    let _ = IDLE_TTL;
    deadpool_postgres::Pool::builder(manager)
        .max_size(options.max_connections.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .create_timeout(Some(Duration::from_secs(15)))
        .wait_timeout(Some(Duration::from_secs(30)))
        .build()
        .map_err(|e| e.to_string())
}

/// The server's message with its SQLSTATE, or the client error.
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        ),
        None => e.to_string(),
    }
}

/// `?` placeholders numbered as `$1, $2, …`, leaving quoted text alone.
pub(crate) fn number_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut quote: Option<char> = None;
    for ch in sql.chars() {
        match quote {
            Some(q) => {
                if ch == q {
                    quote = None;
                }
                out.push(ch);
            }
            None => match ch {
                '\'' | '"' => {
                    quote = Some(ch);
                    out.push(ch);
                }
                '?' => {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                }
                _ => out.push(ch),
            },
        }
    }
    out
}

fn int_out<T: TryFrom<i64> + ToSql>(
    i: i64,
    ty: &Type,
    out: &mut BytesMut,
) -> Result<IsNull, BoxError>
where
    T::Error: StdError + Sync + Send + 'static,
{
    T::try_from(i)?.to_sql(ty, out)
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Text(s) => Some(s.clone()),
        Value::Bytes(b) => String::from_utf8(b.clone()).ok(),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        Value::DateTime(t) => Some(t.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
        Value::Null => None,
    }
}

fn mismatch(v: &Value, ty: &Type) -> BoxError {
    format!("cannot bind {v:?} as PostgreSQL {ty}").into()
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if matches!(self, Value::Null) {
            return Ok(IsNull::Yes);
        }
        match *ty {
            Type::INT2 | Type::INT4 | Type::INT8 => {
                let i = self.as_i64().ok_or_else(|| mismatch(self, ty))?;
                match *ty {
                    Type::INT2 => int_out::<i16>(i, ty, out),
                    Type::INT4 => int_out::<i32>(i, ty, out),
                    _ => i.to_sql(ty, out),
                }
            }
            Type::BOOL => {
                let b = <bool as super::FromValue>::from_value(self.clone())
                    .map_err(|v| mismatch(&v, ty))?;
                b.to_sql(ty, out)
            }
            Type::FLOAT4 | Type::FLOAT8 => {
                let f = <f64 as super::FromValue>::from_value(self.clone())
                    .map_err(|v| mismatch(&v, ty))?;
                if *ty == Type::FLOAT4 {
                    (f as f32).to_sql(ty, out)
                } else {
                    f.to_sql(ty, out)
                }
            }
            Type::TIMESTAMP => {
                let t = <NaiveDateTime as super::FromValue>::from_value(self.clone())
                    .map_err(|v| mismatch(&v, ty))?;
                t.to_sql(ty, out)
            }
            Type::BYTEA => match self {
                Value::Bytes(b) => b.to_sql(ty, out),
                Value::Text(s) => s.as_bytes().to_sql(ty, out),
                other => Err(mismatch(other, ty)),
            },
            _ => {
                // text, varchar, bpchar, name, unknown, json: the value's text.
                let s = text_of(self).ok_or_else(|| mismatch(self, ty))?;
                s.to_sql(ty, out)
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// One result cell, decoded from whatever type the server sent.
struct Cell(Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Cell(match *ty {
            Type::INT2 => Value::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => Value::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::OID => Value::Int(i64::from(u32::from_sql(ty, raw)?)),
            Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Float(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Float(f64::from_sql(ty, raw)?),
            Type::TIMESTAMP => Value::DateTime(NaiveDateTime::from_sql(ty, raw)?),
            Type::TIMESTAMPTZ => {
                Value::DateTime(chrono::DateTime::<chrono::Utc>::from_sql(ty, raw)?.naive_utc())
            }
            Type::BYTEA => Value::Bytes(raw.to_vec()),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
                Value::Text(String::from_sql(ty, raw)?)
            }
            ref other => {
                return Err(format!(
                    "PostgreSQL type {other} is not read by the store (cast it in the statement)"
                )
                .into())
            }
        }))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A pooled PostgreSQL connection. One dropped inside a transaction is taken out of the
/// pool and closed: the server rolls back, and the pool never hands out a connection
/// that is still inside someone's transaction.
pub struct PgConn {
    obj: Option<deadpool_postgres::Object>,
    in_tx: bool,
}

impl Drop for PgConn {
    fn drop(&mut self) {
        if self.in_tx {
            if let Some(obj) = self.obj.take() {
                drop(deadpool_postgres::Object::take(obj));
            }
        }
    }
}

impl PgConn {
    pub(super) async fn get(pool: &deadpool_postgres::Pool) -> Result<PgConn, DbError> {
        let obj = pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => DbError::Postgres(e),
            other => DbError::Pool(other.to_string()),
        })?;
        Ok(PgConn {
            obj: Some(obj),
            in_tx: false,
        })
    }

    fn client(&self) -> Result<&deadpool_postgres::Object, DbError> {
        self.obj
            .as_ref()
            .ok_or_else(|| DbError::Pool("connection already released".into()))
    }

    async fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, DbError> {
        Ok(self
            .client()?
            .prepare_cached(&number_placeholders(sql))
            .await?)
    }

    pub(super) async fn exec(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, DbError> {
        let st = self.statement(sql).await?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as _).collect();
        Ok(self.client()?.execute(&st, &refs).await?)
    }

    pub(super) async fn insert(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<(u64, Option<i64>), DbError> {
        let rows = self.query(&format!("{sql} RETURNING id"), params).await?;
        let id = rows
            .first()
            .and_then(|r| r.get_opt::<i64, _>(0usize))
            .and_then(Result::ok);
        Ok((rows.len() as u64, id))
    }

    pub(super) async fn query(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<Vec<Row>, DbError> {
        let st = self.statement(sql).await?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as _).collect();
        let rows = self.client()?.query(&st, &refs).await?;
        let names: std::sync::Arc<[String]> = st
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect::<Vec<_>>()
            .into();
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut cells = Vec::with_capacity(names.len());
            for i in 0..names.len() {
                cells.push(r.try_get::<_, Cell>(i)?.0);
            }
            out.push(Row::new(names.clone(), cells));
        }
        Ok(out)
    }

    pub(super) async fn query_first(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    pub(super) async fn begin(&mut self) -> Result<(), DbError> {
        self.in_tx = true;
        self.client()?.batch_execute("BEGIN").await?;
        Ok(())
    }

    pub(super) async fn commit(&mut self) -> Result<(), DbError> {
        self.client()?.batch_execute("COMMIT").await?;
        self.in_tx = false;
        Ok(())
    }

    pub(super) async fn rollback(&mut self) -> Result<(), DbError> {
        self.client()?.batch_execute("ROLLBACK").await?;
        self.in_tx = false;
        Ok(())
    }

    pub(super) async fn exec_in_savepoint(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<u64, DbError> {
        self.client()?
            .batch_execute("SAVEPOINT dsmaster_tolerant")
            .await?;
        match self.exec(sql, params).await {
            Ok(n) => {
                self.client()?
                    .batch_execute("RELEASE SAVEPOINT dsmaster_tolerant")
                    .await?;
                Ok(n)
            }
            Err(e) => {
                self.client()?
                    .batch_execute("ROLLBACK TO SAVEPOINT dsmaster_tolerant")
                    .await?;
                Err(e)
            }
        }
    }

    pub(super) async fn query_first_in_savepoint(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<Option<Row>, DbError> {
        self.client()?
            .batch_execute("SAVEPOINT dsmaster_tolerant")
            .await?;
        match self.query_first(sql, params).await {
            Ok(r) => {
                self.client()?
                    .batch_execute("RELEASE SAVEPOINT dsmaster_tolerant")
                    .await?;
                Ok(r)
            }
            Err(e) => {
                self.client()?
                    .batch_execute("ROLLBACK TO SAVEPOINT dsmaster_tolerant")
                    .await?;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            number_placeholders("SELECT a FROM t WHERE b = ? AND c = '?' AND d IN (?, ?)"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d IN ($2, $3)"
        );
        assert_eq!(
            number_placeholders("SELECT 'it''s ?' , ?"),
            "SELECT 'it''s ?' , $1"
        );
    }
}
