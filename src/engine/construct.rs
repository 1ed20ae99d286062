//! Pure construction of rows from definitions, as upstream's `ProcessService` does it:
//! a new process instance from a command (`generateNewProcessInstance`), global parameter
//! curing, and a task instance from a DAG node (`createTaskInstance`, task_params rewrite).
//! No I/O here, so every rule is unit-tested.

use crate::model::{CommandType, ExecutionStatus, Flag, TaskDependType};
use crate::schedule::calendar::JavaZone;
use crate::store::{CommandRow, ProcessDefinition, ProcessInstance, TaskDefinition, TaskInstance};
use chrono::{Duration, NaiveDateTime};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// Why a command cannot become an instance; the text goes to `t_ds_error_command.message`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConstructError {
    #[error("command_param is not a JSON object: {0}")]
    BadCommandParam(String),
    #[error("task_depend_type {0} needs a non-empty StartNodeList")]
    MissingStartNodes(TaskDependType),
    #[error("global_params of the definition are not a JSON list of properties: {0}")]
    BadGlobalParams(String),
    #[error("global parameter {0} has no value")]
    NullGlobalParam(String),
    #[error("global parameter {0} is defined twice")]
    DuplicateGlobalParam(String),
    #[error("circular placeholder reference '{0}' in global parameters")]
    CircularPlaceholder(String),
    #[error("global parameter {name}: {source}")]
    TimeExpression {
        name: String,
        #[source]
        source: super::timeexpr::Error,
    },
}

/// `command_param` as upstream reads it: a map whose values may be strings or numbers.
pub fn parse_command_param(raw: Option<&str>) -> Result<HashMap<String, String>, ConstructError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(HashMap::new());
    };
    let v: Value =
        serde_json::from_str(raw).map_err(|e| ConstructError::BadCommandParam(e.to_string()))?;
    let Value::Object(map) = v else {
        return Err(ConstructError::BadCommandParam(
            raw.chars().take(80).collect(),
        ));
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            Value::Null => None,
            other => Some((k, other.to_string())),
        })
        .collect())
}

/// Comma-separated codes of `StartNodeList` (unparseable entries are dropped with a warning).
pub fn start_codes(params: &HashMap<String, String>) -> Vec<i64> {
    params
        .get("StartNodeList")
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .filter_map(|x| match x.parse() {
                    Ok(c) => Some(c),
                    Err(_) => {
                        tracing::warn!(code = x, "StartNodeList entry is not a task code");
                        None
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Upstream `setGlobalParamIfCommanded`: the start-up parameters of a command
/// (`StartParams`), then a sub-process's `fatherParams` over them; null values override
/// nothing. Both are JSON objects embedded as strings in `command_param`.
pub fn start_overrides(params: &HashMap<String, String>) -> HashMap<String, String> {
    let embedded = |key: &str| {
        params
            .get(key)
            .and_then(|s| serde_json::from_str::<HashMap<String, Value>>(s).ok())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                Value::Null => None,
                other => Some((k, other.to_string())),
            })
    };
    let mut overrides: HashMap<String, String> = embedded("StartParams").collect();
    overrides.extend(embedded("fatherParams"));
    overrides
}

/// Upstream `generateNewProcessInstance` plus the common steps of `constructProcessInstance`
/// for commands that create a new instance (START_PROCESS, START_CURRENT_TASK_PROCESS,
/// SCHEDULER).
pub fn new_process_instance(
    cmd: &CommandRow,
    def: &ProcessDefinition,
    host: &str,
    now: NaiveDateTime,
    now_millis_text: &str,
    zone: JavaZone,
) -> Result<ProcessInstance, ConstructError> {
    let params = parse_command_param(cmd.command_param.as_deref())?;
    if let Some(t @ (TaskDependType::TASK_ONLY | TaskDependType::TASK_PRE)) = cmd.task_depend_type {
        if start_codes(&params).is_empty() {
            return Err(ConstructError::MissingStartNodes(t));
        }
    }
    let global_params = cure_global_params(
        def.global_params.as_deref(),
        &start_overrides(&params),
        cmd.command_type,
        cmd.schedule_time,
        now,
        zone,
    )?;
    let worker_group = cmd
        .worker_group
        .clone()
        .filter(|g| !g.trim().is_empty())
        .unwrap_or_else(|| "default".to_string());
    Ok(ProcessInstance {
        id: 0,
        name: Some(format!("{}-{}-{}", def.name, def.version, now_millis_text)),
        process_definition_code: def.code,
        process_definition_version: def.version,
        state: Some(ExecutionStatus::RUNNING_EXECUTION),
        recovery: Some(Flag::NO),
        start_time: Some(now),
        end_time: None,
        run_times: 1,
        host: Some(host.to_string()),
        command_type: Some(cmd.command_type),
        command_param: cmd.command_param.clone(),
        task_depend_type: Some(cmd.task_depend_type.unwrap_or(TaskDependType::TASK_POST)),
        max_try_times: 0,
        failure_strategy: Some(cmd.failure_strategy),
        warning_type: Some(cmd.warning_type),
        warning_group_id: Some(cmd.warning_group_id.unwrap_or(0)),
        schedule_time: cmd.schedule_time,
        command_start_time: cmd.start_time,
        global_params,
        is_sub_process: Some(Flag::NO),
        executor_id: cmd.executor_id.unwrap_or(0),
        history_cmd: Some(cmd.command_type.name().to_string()),
        process_instance_priority: cmd.process_instance_priority,
        worker_group: Some(worker_group),
        environment_code: Some(cmd.environment_code),
        timeout: def.timeout,
        tenant_id: def.tenant_id,
        var_pool: None,
        dry_run: cmd.dry_run,
        restart_time: Some(now),
    })
}

/// Upstream `ParameterUtils.curingGlobalParams` (2.0.5): the instance's `global_params`
/// from the definition's list, as the Java master writes them (master-lifecycle §3.7).
///
/// `overrides` replace the values of names the definition has (start-up and father params).
/// Every value that starts with `$` is resolved against the built-ins
/// (`system.biz.date`, `system.biz.curdate`, `system.datetime`) and the (overridden) globals: first `${name}` (Spring-style, recursive,
/// unknown names left as they are, a cycle is an error), then the `$[...]` time expressions
/// ([`super::timeexpr`]) relative to `system.datetime` (the schedule time, or `now` when a
/// complement has none; a `system.datetime` global that does not read as `yyyyMMddHHmmss`
/// leaves them unresolved, as upstream). Other values stay verbatim (`a_${x}` is the
/// worker's to resolve). `zone` is the JVM zone the Java processes run in. Errors are what
/// upstream throws out of `handleCommand`: the command goes to the error table.
pub fn cure_global_params(
    raw: Option<&str>,
    overrides: &HashMap<String, String>,
    cmd_type: CommandType,
    schedule_time: Option<NaiveDateTime>,
    now: NaiveDateTime,
    zone: JavaZone,
) -> Result<Option<String>, ConstructError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let mut list: Vec<Map<String, Value>> =
        serde_json::from_str(raw).map_err(|e| ConstructError::BadGlobalParams(e.to_string()))?;
    if list.is_empty() {
        return Ok(None);
    }
    let prop = |p: &Map<String, Value>| {
        p.get("prop")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    // `ProcessDefinition.getGlobalParamMap`: a stream `toMap`, which rejects nulls and
    // duplicate names.
    let mut values: HashMap<String, String> = HashMap::new();
    for p in &list {
        let name = prop(p);
        let value = match p.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => return Err(ConstructError::NullGlobalParam(name)),
            Some(other) => other.to_string(),
        };
        if values.insert(name.clone(), value).is_some() {
            return Err(ConstructError::DuplicateGlobalParam(name));
        }
    }
    for (k, v) in overrides {
        if let Some(slot) = values.get_mut(k) {
            slot.clone_from(v);
        }
    }
    let mut all = business_time(cmd_type, schedule_time, now);
    all.extend(values.clone());
    let time_base = match all.get("system.datetime") {
        Some(text) => super::timeexpr::read_parameter_time(text),
        None => Some(now),
    };
    for p in &mut list {
        let name = prop(p);
        let Some(v) = values.get(&name) else { continue };
        let cured = if v.starts_with('$') {
            let text = resolve_placeholders(v, &all)?;
            match time_base {
                Some(base) => super::timeexpr::replace(&text, base, zone)
                    .map_err(|source| ConstructError::TimeExpression { name, source })?,
                None => text,
            }
        } else {
            v.clone()
        };
        p.insert("value".into(), Value::String(cured));
    }
    serde_json::to_string(&list)
        .map(Some)
        .map_err(|e| ConstructError::BadGlobalParams(e.to_string()))
}

/// Upstream `BusinessTimeUtils.getBusinessTime` (2.0.4+ rules).
fn business_time(
    cmd_type: CommandType,
    schedule_time: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> HashMap<String, String> {
    if cmd_type == CommandType::COMPLEMENT_DATA && schedule_time.is_none() {
        return HashMap::new();
    }
    let base = schedule_time.unwrap_or(now);
    let mut m = HashMap::new();
    m.insert(
        "system.biz.date".into(),
        (base - Duration::days(1)).format("%Y%m%d").to_string(),
    );
    m.insert(
        "system.biz.curdate".into(),
        base.format("%Y%m%d").to_string(),
    );
    m.insert(
        "system.datetime".into(),
        base.format("%Y%m%d%H%M%S").to_string(),
    );
    m
}

/// `${name}` replacement as upstream's Spring-derived `PropertyPlaceholderHelper` does it
/// (`dolphinscheduler-common/.../utils/placeholder/PropertyPlaceholderHelper.java`, 2.0.5):
/// names and values are resolved recursively, unknown names stay as they are, a name met again
/// while it is being resolved is an error, and `{` inside a placeholder nests.
fn resolve_placeholders(
    text: &str,
    values: &HashMap<String, String>,
) -> Result<String, ConstructError> {
    resolve_nested(text, values, &mut HashSet::new())
}

fn resolve_nested(
    text: &str,
    values: &HashMap<String, String>,
    visiting: &mut HashSet<String>,
) -> Result<String, ConstructError> {
    let find_from = |s: &str, from: usize| s.get(from..)?.find("${").map(|i| i + from);
    let mut result = text.to_string();
    let mut start = find_from(&result, 0);
    while let Some(at) = start {
        let Some(end) = placeholder_end(&result, at) else {
            break;
        };
        let original = result[at + 2..end].to_string();
        if !visiting.insert(original.clone()) {
            return Err(ConstructError::CircularPlaceholder(original));
        }
        let name = resolve_nested(&original, values, visiting)?;
        start = match values.get(&name) {
            Some(v) => {
                let v = resolve_nested(v, values, visiting)?;
                result.replace_range(at..=end, &v);
                find_from(&result, at + v.len())
            }
            None => find_from(&result, end + 1),
        };
        visiting.remove(&original);
    }
    Ok(result)
}

/// The `}` closing the placeholder opened at `start`, counting nested `{`.
fn placeholder_end(text: &str, start: usize) -> Option<usize> {
    let mut nested = 0usize;
    for (i, b) in text.bytes().enumerate().skip(start + 2) {
        match b {
            b'}' if nested == 0 => return Some(i),
            b'}' => nested -= 1,
            b'{' => nested += 1,
            _ => {}
        }
    }
    None
}

/// The task instance's `task_params`: the definition's object with `conditionResult`,
/// `dependence` and `switchResult` stored as JSON *strings* (`"null"` when absent) and
/// `waitStartTimeout` null, because Java readers of the instance row cast those to String.
pub fn instance_task_params(definition_params: Option<&str>) -> Option<String> {
    // Text that is not a JSON object counts as the empty object, as upstream's parse does.
    crate::store::json::TaskParams::instance_text(definition_params)
}

/// Upstream `createTaskInstance`: a fresh row for a DAG node (not yet inserted).
pub fn new_task_instance(
    node: &TaskDefinition,
    instance: &ProcessInstance,
    environment_config: Option<String>,
) -> TaskInstance {
    let process_group = instance
        .worker_group
        .clone()
        .filter(|g| !g.trim().is_empty())
        .unwrap_or_else(|| "default".into());
    let process_env = instance.environment_code.unwrap_or(-1);
    let task_group = node
        .worker_group
        .clone()
        .filter(|g| !g.trim().is_empty())
        .unwrap_or_else(|| process_group.clone());
    let (worker_group, environment_code) = if process_group != "default" && task_group == "default"
    {
        (process_group, process_env)
    } else {
        (task_group, node.environment_code)
    };
    TaskInstance {
        id: 0,
        name: Some(node.name.clone()),
        task_type: node.task_type.to_ascii_uppercase(),
        task_code: node.code,
        task_definition_version: node.version,
        process_instance_id: instance.id,
        state: Some(ExecutionStatus::SUBMITTED_SUCCESS),
        alert_flag: Some(Flag::NO),
        retry_times: 0,
        pid: 0,
        task_params: instance_task_params(node.task_params.as_deref()),
        flag: Some(Flag::YES),
        retry_interval: node.fail_retry_interval,
        max_retry_times: node.fail_retry_times,
        task_instance_priority: Some(node.task_priority),
        worker_group: Some(worker_group),
        environment_code: Some(environment_code),
        environment_config,
        executor_id: instance.executor_id,
        delay_time: node.delay_time,
        dry_run: instance.dry_run,
        ..TaskInstance::default()
    }
}

/// Upstream `getPreVarPool`: the predecessors' var pools merged, every property forced to
/// `IN`; on a name clash the predecessor that ended later wins and empty values lose.
pub fn merge_var_pools(preds: &[(Option<NaiveDateTime>, &str)]) -> Option<String> {
    let mut sorted: Vec<&(Option<NaiveDateTime>, &str)> = preds.iter().collect();
    sorted.sort_by_key(|(end, _)| *end);
    let mut merged: Vec<Map<String, Value>> = Vec::new();
    for (_, pool) in sorted {
        let Ok(list) = serde_json::from_str::<Vec<Map<String, Value>>>(pool) else {
            continue;
        };
        for mut p in list {
            p.insert("direct".into(), Value::String("IN".into()));
            let name = p.get("prop").cloned();
            let empty = matches!(p.get("value"), None | Some(Value::Null))
                || p.get("value").and_then(Value::as_str) == Some("");
            match merged.iter_mut().find(|q| q.get("prop") == name.as_ref()) {
                Some(existing) if !empty => *existing = p,
                Some(_) => {}
                None => merged.push(p),
            }
        }
    }
    if merged.is_empty() {
        return None;
    }
    serde_json::to_string(&merged).ok()
}

/// Instance name suffix: `yyyyMMddHHmmssSSS` of the creation instant.
pub fn name_suffix(now_millis: chrono::NaiveDateTime) -> String {
    now_millis.format("%Y%m%d%H%M%S%3f").to_string()
}

/// Upstream `ProcessService.changeOutParam` (2.0.5): after a result with a non-empty var
/// pool, every local OUT parameter of the task row takes the var pool's OUT value of the same
/// name (null when there is none) and the list is written back as Java re-serialises it
/// (`prop, direct, type, value`). `None` when nothing changes.
pub fn change_out_params(task_params: Option<&str>, var_pool: Option<&str>) -> Option<String> {
    let pool: Vec<Map<String, Value>> = serde_json::from_str(var_pool?).ok()?;
    if pool.is_empty() {
        return None;
    }
    let out: HashMap<String, Value> = pool
        .iter()
        .filter(|p| p.get("direct").and_then(Value::as_str) == Some("OUT"))
        .filter_map(|p| {
            let name = p.get("prop")?.as_str()?.to_string();
            Some((name, p.get("value").cloned().unwrap_or(Value::Null)))
        })
        .collect();
    let Ok(Value::Object(mut params)) = serde_json::from_str::<Value>(task_params?) else {
        return None;
    };
    let locals = params.get("localParams")?.as_array()?.clone();
    let rewritten: Vec<Value> = locals
        .into_iter()
        .map(|p| {
            let field = |k: &str| p.get(k).cloned().unwrap_or(Value::Null);
            let is_out = p.get("direct").and_then(Value::as_str) == Some("OUT");
            let value = if is_out {
                p.get("prop")
                    .and_then(Value::as_str)
                    .and_then(|name| out.get(name).cloned())
                    .unwrap_or(Value::Null)
            } else {
                field("value")
            };
            let mut m = Map::new();
            m.insert("prop".into(), field("prop"));
            m.insert("direct".into(), field("direct"));
            m.insert("type".into(), field("type"));
            m.insert("value".into(), value);
            Value::Object(m)
        })
        .collect();
    params.insert("localParams".into(), Value::Array(rewritten));
    Some(Value::Object(params).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn task_params_keep_logic_keys_as_strings() {
        let out = instance_task_params(Some(
            r#"{"localParams":[],"rawScript":"echo 1","resourceList":[],"dependence":{},"switchResult":{}}"#,
        ))
        .unwrap();
        assert_eq!(
            out,
            r#"{"localParams":[],"rawScript":"echo 1","resourceList":[],"switchResult":"{}","conditionResult":"null","dependence":"{}","waitStartTimeout":null}"#
        );
        // Keys the definition lacks are appended in upstream's put order.
        assert_eq!(
            instance_task_params(Some(r#"{"rawScript":"x","waitStartTimeout":{},"y":1}"#)).unwrap(),
            r#"{"rawScript":"x","waitStartTimeout":null,"y":1,"conditionResult":"null","dependence":"null","switchResult":"null"}"#
        );
        assert_eq!(
            instance_task_params(Some("not json")).unwrap(),
            r#"{"conditionResult":"null","dependence":"null","switchResult":"null","waitStartTimeout":null}"#
        );
    }

    #[test]
    fn global_params_resolve_builtins_and_overrides() {
        let raw = r#"[{"prop":"d","direct":"IN","type":"VARCHAR","value":"${system.biz.date}"},{"prop":"x","direct":"IN","type":"VARCHAR","value":"a"},{"prop":"y","direct":"IN","type":"VARCHAR","value":"a_${system.biz.date}"}]"#;
        let mut over = HashMap::new();
        over.insert("x".to_string(), "b".to_string());
        let cured = cure_global_params(
            Some(raw),
            &over,
            CommandType::START_PROCESS,
            Some(t("2024-03-01 00:00:00")),
            t("2025-01-01 00:00:00"),
            utc(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            cured,
            r#"[{"prop":"d","direct":"IN","type":"VARCHAR","value":"20240229"},{"prop":"x","direct":"IN","type":"VARCHAR","value":"b"},{"prop":"y","direct":"IN","type":"VARCHAR","value":"a_${system.biz.date}"}]"#
        );
        assert_eq!(
            cure_global_params(
                Some("[]"),
                &HashMap::new(),
                CommandType::START_PROCESS,
                None,
                t("2025-01-01 00:00:00"),
                utc()
            ),
            Ok(None)
        );
        assert!(matches!(
            cure_global_params(
                Some("{"),
                &HashMap::new(),
                CommandType::START_PROCESS,
                None,
                t("2025-01-01 00:00:00"),
                utc()
            ),
            Err(ConstructError::BadGlobalParams(_))
        ));
    }

    fn utc() -> JavaZone {
        JavaZone::resolve("UTC")
    }

    fn globals(pairs: &[(&str, &str)]) -> String {
        let list: Vec<Value> = pairs
            .iter()
            .map(|(k, v)| serde_json::json!({"prop": k, "direct": "IN", "type": "VARCHAR", "value": v}))
            .collect();
        Value::Array(list).to_string()
    }

    /// name -> cured value
    fn cure(
        pairs: &[(&str, &str)],
        over: &[(&str, &str)],
        cmd: CommandType,
        schedule: Option<&str>,
    ) -> Result<HashMap<String, String>, ConstructError> {
        let over = over
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let raw = globals(pairs);
        let cured = cure_global_params(
            Some(&raw),
            &over,
            cmd,
            schedule.map(t),
            t("2026-12-05 08:09:10"),
            utc(),
        )?
        .unwrap();
        let list: Vec<Map<String, Value>> = serde_json::from_str(&cured).unwrap();
        Ok(list
            .into_iter()
            .map(|p| {
                (
                    p["prop"].as_str().unwrap().to_string(),
                    p["value"].as_str().unwrap().to_string(),
                )
            })
            .collect())
    }

    #[test]
    fn time_expressions_are_cured_from_the_schedule_time_or_now() {
        let defs = [
            ("d", "$[yyyyMMdd-1]"),
            ("m", "$[add_months(yyyyMM,-1)]"),
            ("w", "$[week_begin(yyyy-MM-dd,0)]"),
            ("h", "$[yyyyMMddHH+1/24]"),
            ("one", "$[1]"),
            ("mixed", "${system.biz.date}_$[MMdd]"),
            ("via", "${d}x"),
            ("late", "x_$[yyyyMMdd]"),
        ];
        let on_schedule = cure(
            &defs,
            &[],
            CommandType::SCHEDULER,
            Some("2024-03-01 00:00:00"),
        )
        .unwrap();
        assert_eq!(on_schedule["d"], "20240229");
        assert_eq!(on_schedule["m"], "202402");
        assert_eq!(on_schedule["w"], "2024-02-26");
        assert_eq!(on_schedule["h"], "2024030101");
        assert_eq!(on_schedule["one"], "$[1]");
        assert_eq!(on_schedule["mixed"], "20240229_0301");
        // `${d}` takes d's raw text, whose time expression is then cured in place.
        assert_eq!(on_schedule["via"], "20240229x");
        // Values that do not start with `$` are the worker's.
        assert_eq!(on_schedule["late"], "x_$[yyyyMMdd]");
        // No schedule time: now.
        let manual = cure(&defs, &[], CommandType::START_PROCESS, None).unwrap();
        assert_eq!(manual["d"], "20261204");
        assert_eq!(manual["h"], "2026120509");
        // A complement without a date has no built-ins, and still cures against now.
        let bare = cure(&defs, &[], CommandType::COMPLEMENT_DATA, None).unwrap();
        assert_eq!(bare["d"], "20261204");
        assert_eq!(bare["mixed"], "${system.biz.date}_1205");
        let dated = cure(
            &defs,
            &[],
            CommandType::COMPLEMENT_DATA,
            Some("2024-01-02 00:00:00"),
        )
        .unwrap();
        assert_eq!(dated["d"], "20240101");
        // Start-up params replace the definition's text before curing.
        let started = cure(
            &defs,
            &[("d", "$[yyyy]"), ("nope", "x")],
            CommandType::START_PROCESS,
            Some("2024-03-01 00:00:00"),
        )
        .unwrap();
        assert_eq!(started["d"], "2024");
        assert_eq!(started["via"], "2024x");
        assert!(!started.contains_key("nope"));
    }

    #[test]
    fn a_system_datetime_global_moves_or_disables_the_time_base() {
        let moved = cure(
            &[("system.datetime", "20200102030405"), ("d", "$[yyyyMMdd]")],
            &[],
            CommandType::START_PROCESS,
            Some("2024-03-01 00:00:00"),
        )
        .unwrap();
        assert_eq!(moved["d"], "20200102");
        let unreadable = cure(
            &[
                ("system.datetime", "soon"),
                ("d", "$[yyyyMMdd]_${system.biz.date}"),
            ],
            &[],
            CommandType::START_PROCESS,
            Some("2024-03-01 00:00:00"),
        )
        .unwrap();
        assert_eq!(unreadable["d"], "$[yyyyMMdd]_20240229");
    }

    #[test]
    fn placeholders_resolve_recursively() {
        let got = cure(
            &[
                ("a", "${b}-${c}"),
                ("b", "${c}"),
                ("c", "$[yyyy]"),
                ("u", "${unknown}/${c}"),
                ("n", "${${k}}"),
                ("k", "c"),
                ("open", "${c"),
            ],
            &[],
            CommandType::START_PROCESS,
            Some("2024-03-01 00:00:00"),
        )
        .unwrap();
        assert_eq!(got["a"], "2024-2024");
        assert_eq!(got["b"], "2024");
        assert_eq!(got["u"], "${unknown}/2024");
        assert_eq!(got["n"], "2024");
        assert_eq!(got["open"], "${c");
    }

    #[test]
    fn curing_errors_reject_the_command() {
        let err = |pairs: &[(&str, &str)]| {
            cure(
                pairs,
                &[],
                CommandType::START_PROCESS,
                Some("2024-03-01 00:00:00"),
            )
            .unwrap_err()
        };
        // a -> b -> a: the name met twice is b.
        assert_eq!(
            err(&[("a", "${b}"), ("b", "${a}")]),
            ConstructError::CircularPlaceholder("b".into())
        );
        assert_eq!(
            err(&[("a", "${a}")]),
            ConstructError::CircularPlaceholder("a".into())
        );
        assert!(matches!(
            err(&[("a", "$[add_months(yyyyMMdd)]")]),
            ConstructError::TimeExpression { ref name, .. } if name == "a"
        ));
        assert!(matches!(
            err(&[("a", "$[this_day(yyyyMMdd)]")]),
            ConstructError::TimeExpression { .. }
        ));
        assert_eq!(
            err(&[("a", "x"), ("a", "y")]),
            ConstructError::DuplicateGlobalParam("a".into())
        );
        // A value that does not start with `$` is not evaluated, however broken.
        assert!(cure(
            &[("a", "x$[add_months(yyyyMMdd)]")],
            &[],
            CommandType::START_PROCESS,
            None
        )
        .is_ok());
    }

    #[test]
    fn out_params_take_the_result_values() {
        let params = r#"{"localParams":[{"prop":"x","direct":"OUT","type":"VARCHAR","value":""},{"direct":"IN","prop":"l","type":"VARCHAR","value":"v"},{"prop":"z","direct":"OUT","type":"VARCHAR","value":"old"}],"rawScript":"x"}"#;
        let pool = r#"[{"prop":"x","direct":"OUT","type":"VARCHAR","value":"from-A"}]"#;
        assert_eq!(
            change_out_params(Some(params), Some(pool)).unwrap(),
            r#"{"localParams":[{"prop":"x","direct":"OUT","type":"VARCHAR","value":"from-A"},{"prop":"l","direct":"IN","type":"VARCHAR","value":"v"},{"prop":"z","direct":"OUT","type":"VARCHAR","value":null}],"rawScript":"x"}"#
        );
        assert_eq!(change_out_params(Some(params), Some("[]")), None);
        assert_eq!(change_out_params(Some(params), None), None);
    }

    #[test]
    fn command_param_accepts_numbers_and_strings() {
        let p =
            parse_command_param(Some(r#"{"StartNodeList":"1,2","ProcessInstanceId":7}"#)).unwrap();
        assert_eq!(p["ProcessInstanceId"], "7");
        assert_eq!(start_codes(&p), vec![1, 2]);
        assert!(parse_command_param(Some("[1]")).is_err());
        assert!(parse_command_param(None).unwrap().is_empty());
    }

    #[test]
    fn var_pools_merge_later_wins() {
        let a = r#"[{"prop":"x","direct":"OUT","type":"VARCHAR","value":"1"}]"#;
        let b = r#"[{"prop":"x","direct":"OUT","type":"VARCHAR","value":"2"},{"prop":"y","direct":"OUT","type":"VARCHAR","value":""}]"#;
        let d1 = NaiveDate::from_ymd_opt(2024, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 1)
            .unwrap();
        let d2 = NaiveDate::from_ymd_opt(2024, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 2)
            .unwrap();
        let merged = merge_var_pools(&[(Some(d2), b), (Some(d1), a)]).unwrap();
        assert_eq!(
            merged,
            r#"[{"prop":"x","direct":"IN","type":"VARCHAR","value":"2"},{"prop":"y","direct":"IN","type":"VARCHAR","value":""}]"#
        );
    }
}
