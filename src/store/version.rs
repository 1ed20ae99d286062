//! Which 2.0.x schema the database holds.
//!
//! `t_ds_version` names the release the schema was installed or upgraded to, but upgrades
//! sometimes leave it stale (2.0.8's DDL says 2.0.7; 2.0.1's says 2.0.2), so the columns that
//! matter are checked too. The master refuses to run on anything that is not a 2.0.x schema.

use super::{Dialect, Result, SqlContext, Store};
use crate::params;

/// Tables the master reads or writes. One missing means this is not a 2.0.x schema (an
/// empty database, the wrong database name, a 1.x install): refuse before touching it.
const REQUIRED_TABLES: [&str; 14] = [
    "t_ds_version",
    "t_ds_command",
    "t_ds_error_command",
    "t_ds_process_definition",
    "t_ds_process_definition_log",
    "t_ds_process_task_relation_log",
    "t_ds_task_definition_log",
    "t_ds_process_instance",
    "t_ds_task_instance",
    "t_ds_relation_process_instance",
    "t_ds_schedules",
    "t_ds_tenant",
    "t_ds_queue",
    "t_ds_user",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaVersion {
    /// The text of `t_ds_version.version`, e.g. `2.0.5`.
    pub version: String,
    /// `t_ds_process_instance.restart_time` exists (2.0.2 and later).
    pub has_restart_time: bool,
}

impl SchemaVersion {
    /// The release as (minor, patch) when it is a 2.0.x one.
    pub fn patch(&self) -> Option<u32> {
        let rest = self.version.trim().strip_prefix("2.0.")?;
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    }
}

impl Store {
    /// Reads `t_ds_version` and probes the columns that differ between 2.0.x schemas.
    pub async fn schema_version(&self) -> Result<SchemaVersion> {
        let mut conn = self.conn().await?;
        let schema_fn = match self.dialect() {
            Dialect::Mysql => "DATABASE()",
            Dialect::Postgres => "current_schema()",
        };
        let present: Vec<String> = conn
            .all(
                &format!(
                    "SELECT LOWER(table_name) FROM information_schema.tables WHERE table_schema = {schema_fn}"
                ),
                params![],
            )
            .await
            .ctx(|| "listing the database's tables".into())?;
        let missing: Vec<&str> = REQUIRED_TABLES
            .iter()
            .copied()
            .filter(|t| !present.iter().any(|p| p == t))
            .collect();
        if !missing.is_empty() {
            return Err(super::Error::UnsupportedSchema(format!(
                "the {} database is not a DolphinScheduler 2.0.x schema: missing table(s) {}",
                self.dialect().name(),
                missing.join(", ")
            )));
        }
        let version: Option<String> = conn
            .first(
                "SELECT version FROM t_ds_version ORDER BY id LIMIT 1",
                params![],
            )
            .await
            .ctx(|| "reading t_ds_version (is this a DolphinScheduler database?)".into())?;
        let version = version.ok_or_else(|| {
            super::Error::UnsupportedSchema("t_ds_version has no row".to_string())
        })?;
        let has_restart_time: Option<i64> = conn
            .first(
                &format!(
                    "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = {schema_fn} \
                     AND table_name = 't_ds_process_instance' AND column_name = 'restart_time'"
                ),
                params![],
            )
            .await
            .ctx(|| "probing t_ds_process_instance.restart_time".into())?;
        let schema = SchemaVersion {
            version: version.trim().to_string(),
            has_restart_time: has_restart_time.unwrap_or(0) > 0,
        };
        self.restart_time.store(
            schema.has_restart_time,
            std::sync::atomic::Ordering::Relaxed,
        );
        match schema.patch() {
            Some(p) if p <= 9 => Ok(schema),
            _ => Err(super::Error::UnsupportedSchema(format!(
                "t_ds_version says {:?}; dsmaster serves DolphinScheduler 2.0.0-2.0.9 schemas only",
                schema.version
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_levels() {
        let v = |s: &str| SchemaVersion {
            version: s.into(),
            has_restart_time: true,
        };
        assert_eq!(v("2.0.5").patch(), Some(5));
        assert_eq!(v(" 2.0.9 ").patch(), Some(9));
        assert_eq!(v("3.0.0").patch(), None);
        assert_eq!(v("1.3.9").patch(), None);
    }
}
