//! Definitions and reference data the master reads: the versioned `_log` tables (as 2.0.5
//! does, never the current relation table), tenant and queue, environment.

use super::db::{Row, Value};
use super::rows::{ProcessDefinition, Relation, TaskDefinition};
use super::{Result, SqlContext, Store};
use crate::params;
use std::collections::HashMap;

const DEFINITION_COLUMNS: &str =
    "code, name, version, project_code, user_id, global_params, timeout, tenant_id, warning_group_id";

const TASK_DEFINITION_COLUMNS: &str =
    "id, code, name, version, project_code, task_type, task_params, \
     flag, task_priority, worker_group, environment_code, fail_retry_times, fail_retry_interval, \
     timeout_flag, timeout_notify_strategy, timeout, delay_time";

/// The edges and task definitions of one process definition version.
#[derive(Debug, Clone, Default)]
pub struct Dag {
    pub relations: Vec<Relation>,
    /// Task definitions by code, at the version the relations name.
    pub tasks: HashMap<i64, TaskDefinition>,
}

/// Tenant code and YARN queue for the task execution context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantQueue {
    pub tenant_code: String,
    pub queue: Option<String>,
}

impl Store {
    /// Upstream `findProcessDefinition`: the current row when its version matches, else the
    /// log row of that version. Version 0 (old command rows) means the current definition.
    pub async fn find_process_definition(
        &self,
        code: i64,
        version: i32,
    ) -> Result<Option<ProcessDefinition>> {
        let mut conn = self.conn().await?;
        let current: Option<Row> = conn
            .first(
                &format!("SELECT {DEFINITION_COLUMNS} FROM t_ds_process_definition WHERE code = ?"),
                params![code],
            )
            .await
            .ctx(|| format!("reading process definition {code}"))?;
        if let Some(row) = current {
            let def = ProcessDefinition::from_row(row, "t_ds_process_definition")?;
            if version == 0 || def.version == version {
                return Ok(Some(def));
            }
        }
        let logged: Option<Row> = conn
            .first(
                &format!(
                    "SELECT {DEFINITION_COLUMNS} FROM t_ds_process_definition_log WHERE code = ? AND version = ?"
                ),
                params![code, version],
            )
            .await
            .ctx(|| format!("reading process definition {code} version {version}"))?;
        logged
            .map(|row| ProcessDefinition::from_row(row, "t_ds_process_definition_log"))
            .transpose()
    }

    /// Relations and task definitions of a process definition version, in one round trip each.
    pub async fn load_dag(&self, code: i64, version: i32) -> Result<Dag> {
        let mut conn = self.conn().await?;
        let relations: Vec<(i64, i32, i64, i32)> = conn
            .all(
                "SELECT pre_task_code, pre_task_version, post_task_code, post_task_version \
                 FROM t_ds_process_task_relation_log \
                 WHERE process_definition_code = ? AND process_definition_version = ? ORDER BY id",
                params![code, version],
            )
            .await
            .ctx(|| format!("reading relations of process definition {code} version {version}"))?;
        let relations: Vec<Relation> = relations
            .into_iter()
            .map(|(pre, pre_v, post, post_v)| Relation {
                pre_task_code: pre,
                pre_task_version: pre_v,
                post_task_code: post,
                post_task_version: post_v,
            })
            .collect();
        // A code seen in several relations keeps the last version seen, as upstream's map does.
        let mut versions: HashMap<i64, i32> = HashMap::new();
        for r in &relations {
            if r.pre_task_code != 0 {
                versions.insert(r.pre_task_code, r.pre_task_version);
            }
            if r.post_task_code != 0 {
                versions.insert(r.post_task_code, r.post_task_version);
            }
        }
        let mut tasks = HashMap::new();
        if !versions.is_empty() {
            let mut clauses = Vec::with_capacity(versions.len());
            let mut params: Vec<Value> = Vec::with_capacity(versions.len() * 2);
            for (c, v) in &versions {
                clauses.push("(code = ? AND version = ?)");
                params.push((*c).into());
                params.push((*v).into());
            }
            let rows: Vec<Row> = conn
                .all(
                    &format!(
                        "SELECT {TASK_DEFINITION_COLUMNS} FROM t_ds_task_definition_log WHERE {}",
                        clauses.join(" OR ")
                    ),
                    params,
                )
                .await
                .ctx(|| format!("reading task definitions of process definition {code}"))?;
            for row in rows {
                let t = TaskDefinition::from_row(row)?;
                tasks.insert(t.code, t);
            }
        }
        Ok(Dag { relations, tasks })
    }

    /// Upstream `getTenantForProcess` + queue choice: the instance's tenant, else the
    /// definition owner's tenant; the executor's queue wins over the tenant's. `None` when no
    /// tenant resolves (the task then fails, as upstream).
    pub async fn tenant_for(
        &self,
        tenant_id: i32,
        owner_user_id: Option<i32>,
        executor_id: i32,
    ) -> Result<Option<TenantQueue>> {
        let mut conn = self.conn().await?;
        let tenant_query = "SELECT t.tenant_code, q.queue FROM t_ds_tenant t, t_ds_queue q \
                            WHERE t.queue_id = q.id AND t.id = ?";
        let mut tenant: Option<(Option<String>, Option<String>)> = None;
        if tenant_id >= 0 {
            tenant = conn
                .first(tenant_query, params![tenant_id])
                .await
                .ctx(|| format!("reading tenant {tenant_id}"))?;
        }
        if tenant.is_none() {
            if let Some(user) = owner_user_id.filter(|u| *u != 0) {
                let user_tenant: Option<Option<i32>> = conn
                    .first(
                        "SELECT tenant_id FROM t_ds_user WHERE id = ?",
                        params![user],
                    )
                    .await
                    .ctx(|| format!("reading user {user}"))?;
                if let Some(Some(t)) = user_tenant {
                    tenant = conn
                        .first(tenant_query, params![t])
                        .await
                        .ctx(|| format!("reading tenant {t}"))?;
                }
            }
        }
        let Some((Some(tenant_code), tenant_queue)) = tenant else {
            return Ok(None);
        };
        let user_queue: Option<Option<String>> = conn
            .first(
                "SELECT queue FROM t_ds_user WHERE id = ?",
                params![executor_id],
            )
            .await
            .ctx(|| format!("reading user {executor_id}"))?;
        let queue = user_queue
            .flatten()
            .filter(|q| !q.is_empty())
            .or(tenant_queue);
        Ok(Some(TenantQueue { tenant_code, queue }))
    }

    /// `t_ds_environment.config` of an environment code, when there is one.
    pub async fn environment_config(&self, code: i64) -> Result<Option<String>> {
        if code < 0 {
            return Ok(None);
        }
        let mut conn = self.conn().await?;
        let config: Option<Option<String>> = conn
            .first(
                "SELECT config FROM t_ds_environment WHERE code = ?",
                params![code],
            )
            .await
            .ctx(|| format!("reading environment {code}"))?;
        Ok(config.flatten().filter(|c| !c.is_empty()))
    }
}
