//! Builders for the generated statements of MyBatis-Plus: INSERT of the non-null fields and
//! UPDATE ... SET of the changed, non-null fields WHERE id = ?.

use super::db::{Dialect, Value};

/// Columns and values of one INSERT; `None` values are left out so column defaults apply.
#[derive(Default)]
pub(crate) struct Insert {
    cols: Vec<&'static str>,
    vals: Vec<Value>,
}

impl Insert {
    pub(crate) fn val(mut self, col: &'static str, v: impl Into<Value>) -> Self {
        self.cols.push(col);
        self.vals.push(v.into());
        self
    }

    pub(crate) fn opt<V: Into<Value>>(self, col: &'static str, v: Option<V>) -> Self {
        match v {
            Some(v) => self.val(col, v),
            None => self,
        }
    }

    pub(crate) fn build(self, table: &str) -> (String, Vec<Value>) {
        let marks = vec!["?"; self.cols.len()].join(", ");
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({marks})",
            self.cols.join(", ")
        );
        (sql, self.vals)
    }

    /// The same INSERT, applied only while process instance `process_instance_id` names
    /// `host` (a task row for an instance this master runs).
    ///
    /// PostgreSQL types a bare parameter in a SELECT list as text, which an integer or
    /// timestamp column refuses, so there each mark carries the cast of its value (an
    /// assignment cast then narrows `bigint` to the column's own type, as for a literal).
    pub(crate) fn build_if_owned(
        mut self,
        table: &str,
        process_instance_id: i32,
        host: &str,
        dialect: Dialect,
    ) -> (String, Vec<Value>) {
        let (marks, from) = match dialect {
            Dialect::Mysql => (vec!["?"; self.cols.len()].join(", "), " FROM DUAL"),
            Dialect::Postgres => (
                self.vals
                    .iter()
                    .map(|v| match v {
                        Value::Int(_) => "?::bigint",
                        Value::Float(_) => "?::float8",
                        Value::Bool(_) => "?::boolean",
                        Value::Bytes(_) => "?::bytea",
                        Value::DateTime(_) => "?::timestamp",
                        Value::Text(_) | Value::Null => "?::text",
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                "",
            ),
        };
        let sql = format!(
            "INSERT INTO {table} ({}) SELECT {marks}{from} WHERE EXISTS \
             (SELECT 1 FROM t_ds_process_instance WHERE id = ? AND host = ?)",
            self.cols.join(", ")
        );
        self.vals.push(process_instance_id.into());
        self.vals.push(host.into());
        (sql, self.vals)
    }
}

/// SET list of one UPDATE by id; `None` values are left out so no column is ever set to NULL.
#[derive(Default)]
pub(crate) struct Update {
    sets: Vec<&'static str>,
    vals: Vec<Value>,
}

impl Update {
    pub(crate) fn val(mut self, col: &'static str, v: impl Into<Value>) -> Self {
        self.sets.push(col);
        self.vals.push(v.into());
        self
    }

    pub(crate) fn opt<V: Into<Value>>(self, col: &'static str, v: Option<V>) -> Self {
        match v {
            Some(v) => self.val(col, v),
            None => self,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    pub(crate) fn build(mut self, table: &str, id: i32) -> (String, Vec<Value>) {
        let sets: Vec<String> = self.sets.iter().map(|c| format!("{c} = ?")).collect();
        let sql = format!("UPDATE {table} SET {} WHERE id = ?", sets.join(", "));
        self.vals.push(id.into());
        (sql, self.vals)
    }

    /// The same UPDATE, applied only while the process instance (the row itself, or the one
    /// a task row belongs to) names `host`.
    pub(crate) fn build_if_owned(
        mut self,
        table: &str,
        id: i32,
        host: &str,
    ) -> (String, Vec<Value>) {
        let sets: Vec<String> = self.sets.iter().map(|c| format!("{c} = ?")).collect();
        let guard = if table == "t_ds_process_instance" {
            "host = ?".to_string()
        } else {
            format!(
                "EXISTS (SELECT 1 FROM t_ds_process_instance p WHERE p.id = {table}.process_instance_id AND p.host = ?)"
            )
        };
        let sql = format!(
            "UPDATE {table} SET {} WHERE id = ? AND {guard}",
            sets.join(", ")
        );
        self.vals.push(id.into());
        self.vals.push(host.into());
        (sql, self.vals)
    }
}

#[cfg(test)]
mod owned_tests {
    use super::*;

    #[test]
    fn owned_writes_carry_the_host_guard() {
        let (sql, params) = Update::default().val("state", 7).build_if_owned(
            "t_ds_process_instance",
            5,
            "10.0.0.1:5678",
        );
        assert_eq!(
            sql,
            "UPDATE t_ds_process_instance SET state = ? WHERE id = ? AND host = ?"
        );
        assert_eq!(params.len(), 3);
        let (sql, _) =
            Update::default()
                .val("state", 7)
                .build_if_owned("t_ds_task_instance", 9, "h:1");
        assert!(sql.ends_with(
            "WHERE id = ? AND EXISTS (SELECT 1 FROM t_ds_process_instance p WHERE p.id = t_ds_task_instance.process_instance_id AND p.host = ?)"
        ));
        let (sql, params) = Insert::default()
            .val("name", "a")
            .val("task_code", 3)
            .build_if_owned("t_ds_task_instance", 4, "h:1", Dialect::Mysql);
        assert_eq!(
            sql,
            "INSERT INTO t_ds_task_instance (name, task_code) SELECT ?, ? FROM DUAL WHERE EXISTS (SELECT 1 FROM t_ds_process_instance WHERE id = ? AND host = ?)"
        );
        assert_eq!(params.len(), 4);
        let (sql, _) = Insert::default()
            .val("name", "a")
            .val("task_code", 3)
            .build_if_owned("t_ds_task_instance", 4, "h:1", Dialect::Postgres);
        assert_eq!(
            sql,
            "INSERT INTO t_ds_task_instance (name, task_code) SELECT ?::text, ?::bigint WHERE EXISTS (SELECT 1 FROM t_ds_process_instance WHERE id = ? AND host = ?)"
        );
    }
}
