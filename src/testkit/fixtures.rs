//! Stands in for the API server when a test or the demo needs a workflow in the database:
//! reads a definition in the API server's 2.0.x export format (`fixtures/workflows/*.json`:
//! `processDefinition`, `processTaskRelationList`, `taskDefinitionList`) and writes the rows the
//! API server writes when such a definition is created and released, current and `_log`
//! tables alike, plus a tenant, the project, and START_PROCESS commands.
//!
//! This is test support, not the product: the master itself never writes definitions.

use super::Error;
use crate::params;
use crate::store::db::{Conn, Value as Sql};
use serde_json::Value;
use std::path::Path;

/// What one imported workflow is called by.
#[derive(Debug, Clone)]
pub struct ImportedWorkflow {
    pub project_code: i64,
    pub definition_code: i64,
    pub definition_version: i32,
    pub name: String,
    pub task_codes: Vec<i64>,
}

fn bad(what: &str) -> Error {
    Error::Fixture(format!(
        "fixture field missing or of the wrong type: {what}"
    ))
}

fn int(v: &Value, key: &str) -> Result<i64, Error> {
    v.get(key).and_then(Value::as_i64).ok_or_else(|| bad(key))
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    }
}

/// Enum names of the export format to the column codes the API server stores.
fn enum_code(v: &Value, key: &str, names: &[&str]) -> Option<i64> {
    match v.get(key) {
        Some(Value::String(s)) => names.iter().position(|n| n == s).map(|p| p as i64),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    }
}

const FLAG: &[&str] = &["NO", "YES"];
const PRIORITY: &[&str] = &["HIGHEST", "HIGH", "MEDIUM", "LOW", "LOWEST"];
const TIMEOUT_FLAG: &[&str] = &["CLOSE", "OPEN"];
const TIMEOUT_STRATEGY: &[&str] = &["WARN", "FAILED", "WARNFAILED"];
const RELEASE: &[&str] = &["OFFLINE", "ONLINE"];
const CONDITION_TYPE: &[&str] = &["NONE", "JUDGE", "DELAY"];

async fn exec(conn: &mut Conn, sql: &str, params: Vec<Sql>) -> Result<(), Error> {
    conn.exec(sql, params)
        .await
        .map(|_| ())
        .map_err(|e| Error::Fixture(format!("{e} in: {sql}")))
}

/// An INSERT; returns the new id.
async fn insert(conn: &mut Conn, sql: &str, params: Vec<Sql>) -> Result<i32, Error> {
    let (_, id) = conn
        .insert(sql, params)
        .await
        .map_err(|e| Error::Fixture(format!("{e} in: {sql}")))?;
    Ok(id.and_then(|id| i32::try_from(id).ok()).unwrap_or(0))
}

/// Creates a tenant (queue `default`, id 1 in upstream's DDL) if missing; returns its id.
pub async fn ensure_tenant(conn: &mut Conn, tenant_code: &str) -> Result<i32, Error> {
    let existing: Option<i32> = conn
        .first(
            "SELECT id FROM t_ds_tenant WHERE tenant_code = ?",
            params![tenant_code],
        )
        .await
        .map_err(|e| Error::Fixture(e.to_string()))?;
    if let Some(id) = existing {
        return Ok(id);
    }
    insert(
        conn,
        "INSERT INTO t_ds_tenant (tenant_code, description, queue_id, create_time, update_time) VALUES (?, '', 1, NOW(), NOW())",
        vec![tenant_code.into()],
    )
    .await
}

/// Imports every workflow of an export file, owned by the admin user, run as `tenant_code`.
pub async fn import_file(
    conn: &mut Conn,
    path: &Path,
    tenant_code: &str,
) -> Result<Vec<ImportedWorkflow>, Error> {
    let text_ = std::fs::read_to_string(path)
        .map_err(|e| Error::Fixture(format!("reading {}: {e}", path.display())))?;
    let all: Value = serde_json::from_str(&text_)
        .map_err(|e| Error::Fixture(format!("parsing {}: {e}", path.display())))?;
    let list = all
        .as_array()
        .ok_or_else(|| bad("top level must be a list"))?;
    let tenant_id = ensure_tenant(conn, tenant_code).await?;
    let mut out = Vec::new();
    for wf in list {
        out.push(import_one(conn, wf, tenant_id).await?);
    }
    Ok(out)
}

async fn import_one(
    conn: &mut Conn,
    wf: &Value,
    tenant_id: i32,
) -> Result<ImportedWorkflow, Error> {
    let def = wf
        .get("processDefinition")
        .ok_or_else(|| bad("processDefinition"))?;
    let project_code = int(def, "projectCode")?;
    let code = int(def, "code")?;
    let version = int(def, "version")? as i32;
    let name = text(def, "name").ok_or_else(|| bad("processDefinition.name"))?;
    let user_id = def.get("userId").and_then(Value::as_i64).unwrap_or(1);

    let project: Option<i32> = conn
        .first(
            "SELECT id FROM t_ds_project WHERE code = ?",
            params![project_code],
        )
        .await
        .map_err(|e| Error::Fixture(e.to_string()))?;
    if project.is_none() {
        let pname = text(def, "projectName").unwrap_or_else(|| format!("project-{project_code}"));
        exec(
            conn,
            "INSERT INTO t_ds_project (name, code, description, user_id, flag, create_time, update_time) VALUES (?, ?, '', ?, 1, NOW(), NOW())",
            vec![pname.into(), project_code.into(), user_id.into()],
        )
        .await?;
    }

    let def_values = |extra: bool| -> Vec<Sql> {
        let mut v: Vec<Sql> = vec![
            code.into(),
            name.clone().into(),
            version.into(),
            text(def, "description").unwrap_or_default().into(),
            project_code.into(),
            code_or(def, "releaseState", RELEASE, 1).into(),
            user_id.into(),
            text(def, "globalParams")
                .unwrap_or_else(|| "[]".into())
                .into(),
            code_or(def, "flag", FLAG, 1).into(),
            text(def, "locations").into(),
            def.get("warningGroupId")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .into(),
            def.get("timeout")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .into(),
            i64::from(tenant_id).into(),
        ];
        if extra {
            v.push(user_id.into());
        }
        v
    };
    exec(
        conn,
        "INSERT INTO t_ds_process_definition (code, name, version, description, project_code, release_state, user_id, global_params, flag, locations, warning_group_id, timeout, tenant_id, create_time, update_time) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(), NOW())",
        def_values(false),
    )
    .await?;
    exec(
        conn,
        "INSERT INTO t_ds_process_definition_log (code, name, version, description, project_code, release_state, user_id, global_params, flag, locations, warning_group_id, timeout, tenant_id, operator, operate_time, create_time, update_time) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(), NOW(), NOW())",
        def_values(true),
    )
    .await?;

    let mut task_codes = Vec::new();
    for t in wf
        .get("taskDefinitionList")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("taskDefinitionList"))?
    {
        let tcode = int(t, "code")?;
        task_codes.push(tcode);
        let params = match t.get("taskParams") {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "{}".into(),
        };
        let values = |extra: bool| -> Vec<Sql> {
            let mut v: Vec<Sql> = vec![
                tcode.into(),
                text(t, "name").unwrap_or_default().into(),
                t.get("version").and_then(Value::as_i64).unwrap_or(1).into(),
                text(t, "description").unwrap_or_default().into(),
                project_code.into(),
                user_id.into(),
                text(t, "taskType").unwrap_or_else(|| "SHELL".into()).into(),
                params.clone().into(),
                code_or(t, "flag", FLAG, 1).into(),
                code_or(t, "taskPriority", PRIORITY, 2).into(),
                text(t, "workerGroup")
                    .unwrap_or_else(|| "default".into())
                    .into(),
                t.get("environmentCode")
                    .and_then(Value::as_i64)
                    .unwrap_or(-1)
                    .into(),
                t.get("failRetryTimes")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .into(),
                t.get("failRetryInterval")
                    .and_then(Value::as_i64)
                    .unwrap_or(1)
                    .into(),
                code_or(t, "timeoutFlag", TIMEOUT_FLAG, 0).into(),
                enum_code(t, "timeoutNotifyStrategy", TIMEOUT_STRATEGY).into(),
                t.get("timeout").and_then(Value::as_i64).unwrap_or(0).into(),
                t.get("delayTime")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .into(),
                text(t, "resourceIds").unwrap_or_default().into(),
            ];
            if extra {
                v.push(user_id.into());
            }
            v
        };
        let cols = "code, name, version, description, project_code, user_id, task_type, task_params, flag, task_priority, worker_group, environment_code, fail_retry_times, fail_retry_interval, timeout_flag, timeout_notify_strategy, timeout, delay_time, resource_ids";
        exec(
            conn,
            &format!("INSERT INTO t_ds_task_definition ({cols}, create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(), NOW())"),
            values(false),
        )
        .await?;
        exec(
            conn,
            &format!("INSERT INTO t_ds_task_definition_log ({cols}, operator, operate_time, create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(), NOW(), NOW())"),
            values(true),
        )
        .await?;
    }

    for r in wf
        .get("processTaskRelationList")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("processTaskRelationList"))?
    {
        let values = |extra: bool| -> Vec<Sql> {
            let mut v: Vec<Sql> = vec![
                text(r, "name").unwrap_or_default().into(),
                project_code.into(),
                code.into(),
                version.into(),
                r.get("preTaskCode")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .into(),
                r.get("preTaskVersion")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .into(),
                r.get("postTaskCode")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .into(),
                r.get("postTaskVersion")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .into(),
                code_or(r, "conditionType", CONDITION_TYPE, 0).into(),
                r.get("conditionParams")
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "{}".into())
                    .into(),
            ];
            if extra {
                v.push(user_id.into());
            }
            v
        };
        let cols = "name, project_code, process_definition_code, process_definition_version, pre_task_code, pre_task_version, post_task_code, post_task_version, condition_type, condition_params";
        exec(
            conn,
            &format!("INSERT INTO t_ds_process_task_relation ({cols}, create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(), NOW())"),
            values(false),
        )
        .await?;
        exec(
            conn,
            &format!("INSERT INTO t_ds_process_task_relation_log ({cols}, operator, operate_time, create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(), NOW(), NOW())"),
            values(true),
        )
        .await?;
    }
    Ok(ImportedWorkflow {
        project_code,
        definition_code: code,
        definition_version: version,
        name,
        task_codes,
    })
}

fn code_or(v: &Value, key: &str, names: &[&str], default: i64) -> i64 {
    enum_code(v, key, names).unwrap_or(default)
}

/// Inserts a START_PROCESS command as the API server's "run" button does (2.0.5
/// `ExecutorServiceImpl.createCommand`); returns the command id.
pub async fn insert_start_command(conn: &mut Conn, wf: &ImportedWorkflow) -> Result<i32, Error> {
    insert_start_command_with(conn, wf, crate::model::FailureStrategy::CONTINUE).await
}

/// [`insert_start_command`] with the failure strategy the user picked in the run dialog.
pub async fn insert_start_command_with(
    conn: &mut Conn,
    wf: &ImportedWorkflow,
    failure_strategy: crate::model::FailureStrategy,
) -> Result<i32, Error> {
    insert(
        conn,
        "INSERT INTO t_ds_command (command_type, process_definition_code, process_definition_version, process_instance_id, command_param, task_depend_type, failure_strategy, warning_type, warning_group_id, start_time, executor_id, update_time, process_instance_priority, worker_group, environment_code, dry_run) \
         VALUES (0, ?, ?, 0, '{}', 2, ?, 0, 0, NOW(), 1, NOW(), 2, 'default', -1, 0)",
        vec![
            wf.definition_code.into(),
            wf.definition_version.into(),
            failure_strategy.code().into(),
        ],
    )
    .await
}
