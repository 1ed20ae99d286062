//! Builders for the generated statements of MyBatis-Plus: INSERT of the non-null fields and
//! UPDATE ... SET of the changed, non-null fields WHERE id = ?.

use mysql_async::{Params, Value};

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

    pub(crate) fn build(self, table: &str) -> (String, Params) {
        let marks = vec!["?"; self.cols.len()].join(", ");
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({marks})",
            self.cols.join(", ")
        );
        (sql, Params::Positional(self.vals))
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

    pub(crate) fn build(mut self, table: &str, id: i32) -> (String, Params) {
        let sets: Vec<String> = self.sets.iter().map(|c| format!("{c} = ?")).collect();
        let sql = format!("UPDATE {table} SET {} WHERE id = ?", sets.join(", "));
        self.vals.push(id.into());
        (sql, Params::Positional(self.vals))
    }
}
