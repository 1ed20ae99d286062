//! SUB_PROCESS wiring as other components see it (master-lifecycle.md 5): the child's
//! command and its `command_param`, the `fatherParams`, and what the child's master writes
//! when it builds the child (`setSubProcessParam`). Pure functions over JSON text.

use crate::model::{CommandType, TaskDependType};
use crate::store::json::{parse_properties, Property};
use crate::store::{NewCommand, ProcessInstance, ProcessInstanceMap, TaskInstance};
use chrono::NaiveDateTime;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The child's command type (`getSubCommandType`): the parent's current command type when the
/// child exists, else the first command of the parent's history.
pub fn child_command_type(parent: &ProcessInstance, child_exists: bool) -> CommandType {
    let current = parent.command_type.unwrap_or(CommandType::START_PROCESS);
    if child_exists {
        return current;
    }
    parent
        .history_cmd
        .as_deref()
        .and_then(|h| h.split(',').next())
        .and_then(|first| CommandType::from_name(first.trim()).ok())
        .unwrap_or(current)
}

/// `fatherParams`: for every local param of the SUB_PROCESS task, the parent's global value
/// of the same name (null when the parent has none). Sorted by name for a stable text.
pub fn father_params(
    task_params: Option<&str>,
    parent_globals: Option<&str>,
) -> BTreeMap<String, Option<String>> {
    let locals: Vec<Property> = crate::store::TaskParams::parse(task_params)
        .ok()
        .and_then(|p| p.local_params().ok())
        .unwrap_or_default();
    let globals = parse_properties(parent_globals).unwrap_or_default();
    locals
        .iter()
        .map(|l| {
            let value = globals
                .iter()
                .find(|g| g.prop == l.prop)
                .and_then(|g| g.value.clone());
            (l.prop.clone(), value)
        })
        .collect()
}

/// The child command's `command_param` (`getSubWorkFlowParam`): the relation row as Jackson
/// writes the entity (numbers), or, once complement dates or father params are added, as a
/// `Map<String, String>` (every value a string).
pub fn child_command_param(
    map: &ProcessInstanceMap,
    parent: &ProcessInstance,
    father: &BTreeMap<String, Option<String>>,
) -> String {
    let complement = super::complement::is_complement(parent.history_cmd.as_deref());
    if !complement && father.is_empty() {
        let mut m = Map::new();
        m.insert("id".into(), map.id.into());
        m.insert(
            "parentProcessInstanceId".into(),
            map.parent_process_instance_id.into(),
        );
        m.insert(
            "parentTaskInstanceId".into(),
            map.parent_task_instance_id.into(),
        );
        m.insert("processInstanceId".into(), map.process_instance_id.into());
        return Value::Object(m).to_string();
    }
    let mut m = Map::new();
    m.insert("id".into(), map.id.to_string().into());
    m.insert(
        "parentProcessInstanceId".into(),
        map.parent_process_instance_id.to_string().into(),
    );
    m.insert(
        "parentTaskInstanceId".into(),
        map.parent_task_instance_id.to_string().into(),
    );
    m.insert(
        "processInstanceId".into(),
        map.process_instance_id.to_string().into(),
    );
    if complement {
        let p =
            crate::store::CommandParam::parse(parent.command_param.as_deref()).unwrap_or_default();
        let text = |k: &str| p.get(k).map(Value::String).unwrap_or(Value::Null);
        m.insert("complementEndDate".into(), text("complementEndDate"));
        m.insert("complementStartDate".into(), text("complementStartDate"));
    }
    if !father.is_empty() {
        let f: Map<String, Value> = father
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.clone().map(Value::String).unwrap_or(Value::Null),
                )
            })
            .collect();
        m.insert(
            "fatherParams".into(),
            Value::String(Value::Object(f).to_string()),
        );
    }
    Value::Object(m).to_string()
}

/// The child command (`createSubProcessCommand`).
pub fn child_command(
    parent: &ProcessInstance,
    task: &TaskInstance,
    child_definition: (i64, i32),
    child: Option<i32>,
    command_param: String,
    now: NaiveDateTime,
) -> NewCommand {
    NewCommand {
        command_type: child_command_type(parent, child.is_some()),
        process_definition_code: child_definition.0,
        process_definition_version: child_definition.1,
        process_instance_id: child.unwrap_or(0),
        command_param: Some(command_param),
        task_depend_type: Some(TaskDependType::TASK_POST),
        failure_strategy: parent.failure_strategy,
        warning_type: parent.warning_type,
        warning_group_id: parent.warning_group_id,
        schedule_time: parent.schedule_time,
        start_time: now,
        update_time: now,
        executor_id: parent.executor_id,
        process_instance_priority: parent.process_instance_priority,
        worker_group: task.worker_group.clone(),
        environment_code: task.environment_code,
        dry_run: parent.dry_run,
    }
}

/// What a sub-process command asks of the instance it builds (`setSubProcessParam`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubLink {
    /// The relation row to point at the child (`None` when the param names no parent).
    pub map: Option<ProcessInstanceMap>,
    pub parent_instance_id: Option<i32>,
    /// `processInstanceId` is `"0"`: the child is new and its id goes into the param.
    pub fills_child_id: bool,
}

/// Reads the sub-process keys of a command's `command_param`; `None` when it is not a
/// sub-process command.
pub fn sub_link(command_param: Option<&str>) -> Option<SubLink> {
    let p = crate::store::CommandParam::parse(command_param).ok()?;
    let child = p.get("processInstanceId")?;
    let parent = p
        .get_i64("parentProcessInstanceId")
        .and_then(|v| i32::try_from(v).ok());
    let map = match parent {
        Some(pid) if pid != 0 => Some(ProcessInstanceMap {
            id: p
                .get_i64("id")
                .and_then(|v| i32::try_from(v).ok())
                .unwrap_or(0),
            parent_process_instance_id: pid,
            parent_task_instance_id: p
                .get_i64("parentTaskInstanceId")
                .and_then(|v| i32::try_from(v).ok())
                .unwrap_or(0),
            process_instance_id: 0,
        }),
        _ => None,
    };
    Some(SubLink {
        map,
        parent_instance_id: parent.filter(|p| *p != 0),
        fills_child_id: child == "0",
    })
}

/// The child's `command_param` once its id is known: upstream re-serialises the param as a
/// `Map<String, String>` and moves `processInstanceId` (now the child id) to the end.
pub fn child_param_with_id(command_param: Option<&str>, child_id: i32) -> String {
    let mut out = crate::store::json::java_string_map(command_param, "processInstanceId");
    out.insert(
        "processInstanceId".into(),
        Value::String(child_id.to_string()),
    );
    Value::Object(out).to_string()
}

/// `joinGlobalParams` (2.0.3+): the parent's globals, then the child's whose names the parent
/// lacks (the parent wins on a clash). Always a JSON list, `[]` when both are empty.
pub fn join_global_params(parent: Option<&str>, child: Option<&str>) -> String {
    let mut list = parse_properties(parent).unwrap_or_default();
    let extra: Vec<Property> = parse_properties(child)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !list.iter().any(|p| p.prop == c.prop))
        .collect();
    list.extend(extra);
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parent(history: &str, ct: CommandType) -> ProcessInstance {
        ProcessInstance {
            id: 3,
            history_cmd: Some(history.into()),
            command_type: Some(ct),
            global_params: Some(
                r#"[{"prop":"x","direct":"IN","type":"VARCHAR","value":"from-parent"}]"#.into(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn command_type_follows_the_parent() {
        let p = parent(
            "SCHEDULER,RECOVER_SUSPENDED_PROCESS",
            CommandType::RECOVER_SUSPENDED_PROCESS,
        );
        assert_eq!(child_command_type(&p, false), CommandType::SCHEDULER);
        assert_eq!(
            child_command_type(&p, true),
            CommandType::RECOVER_SUSPENDED_PROCESS
        );
    }

    #[test]
    fn param_shapes() {
        let map = ProcessInstanceMap {
            id: 5,
            parent_process_instance_id: 3,
            parent_task_instance_id: 7,
            process_instance_id: 0,
        };
        let p = parent("START_PROCESS", CommandType::START_PROCESS);
        assert_eq!(
            child_command_param(&map, &p, &BTreeMap::new()),
            r#"{"id":5,"parentProcessInstanceId":3,"parentTaskInstanceId":7,"processInstanceId":0}"#
        );
        let father = father_params(
            Some(
                r#"{"localParams":[{"prop":"x","direct":"IN","type":"VARCHAR","value":""},{"prop":"y","direct":"IN","type":"VARCHAR","value":""}],"processDefinitionCode":9}"#,
            ),
            p.global_params.as_deref(),
        );
        assert_eq!(father["x"].as_deref(), Some("from-parent"));
        assert_eq!(father["y"], None);
        assert_eq!(
            child_command_param(&map, &p, &father),
            r#"{"id":"5","parentProcessInstanceId":"3","parentTaskInstanceId":"7","processInstanceId":"0","fatherParams":"{\"x\":\"from-parent\",\"y\":null}"}"#
        );
        let mut c = parent("COMPLEMENT_DATA", CommandType::COMPLEMENT_DATA);
        c.command_param = Some(
            r#"{"complementStartDate":"2024-01-01 00:00:00","complementEndDate":"2024-01-03 00:00:00"}"#
                .into(),
        );
        assert_eq!(
            child_command_param(&map, &c, &BTreeMap::new()),
            r#"{"id":"5","parentProcessInstanceId":"3","parentTaskInstanceId":"7","processInstanceId":"0","complementEndDate":"2024-01-03 00:00:00","complementStartDate":"2024-01-01 00:00:00"}"#
        );
    }

    #[test]
    fn child_side() {
        let raw = r#"{"id":5,"parentProcessInstanceId":3,"parentTaskInstanceId":7,"processInstanceId":0}"#;
        let link = sub_link(Some(raw)).unwrap();
        assert!(link.fills_child_id);
        assert_eq!(link.parent_instance_id, Some(3));
        assert_eq!(
            link.map,
            Some(ProcessInstanceMap {
                id: 5,
                parent_process_instance_id: 3,
                parent_task_instance_id: 7,
                process_instance_id: 0
            })
        );
        assert_eq!(
            child_param_with_id(Some(raw), 12),
            r#"{"id":"5","parentProcessInstanceId":"3","parentTaskInstanceId":"7","processInstanceId":"12"}"#
        );
        assert_eq!(sub_link(Some(r#"{"StartParams":"{}"}"#)), None);
        assert!(
            !sub_link(Some(
                r#"{"processInstanceId":"12","parentProcessInstanceId":"3"}"#
            ))
            .unwrap()
            .fills_child_id
        );
    }

    #[test]
    fn globals_join_parent_first() {
        let parent = r#"[{"prop":"x","direct":"IN","type":"VARCHAR","value":"p"}]"#;
        let child = r#"[{"prop":"x","direct":"IN","type":"VARCHAR","value":"c"},{"prop":"z","direct":"IN","type":"VARCHAR","value":"cz"}]"#;
        assert_eq!(
            join_global_params(Some(parent), Some(child)),
            r#"[{"prop":"x","direct":"IN","type":"VARCHAR","value":"p"},{"prop":"z","direct":"IN","type":"VARCHAR","value":"cz"}]"#
        );
        assert_eq!(join_global_params(None, None), "[]");
    }
}
