//! The alert row a workflow's end writes (upstream `ProcessAlertManager.sendAlertProcessInstance`,
//! master-lifecycle spec 7.1): whether one is due, its title and its JSON content, which the
//! alert server forwards as it is. Dates inside the content are rendered in GMT+8 whatever the
//! server's zone (upstream's hard-coded `@JsonFormat`), null fields are left out, and the
//! 2.0.6+ layout names the project by code instead of id.

use crate::model::{CommandType, ExecutionStatus, Flag, WarningType};
use crate::store::{ProcessInstance, TaskInstance};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

/// Upstream `isNeedToSendWarning`.
pub fn is_due(instance: &ProcessInstance, state: ExecutionStatus) -> bool {
    if instance.is_sub_process == Some(Flag::YES) {
        return false;
    }
    match instance.warning_type.unwrap_or(WarningType::NONE) {
        WarningType::NONE => false,
        WarningType::ALL => state.is_finished(),
        WarningType::SUCCESS => state.is_success(),
        WarningType::FAILURE => state.is_failure(),
    }
}

/// `"<command> success"` or `"<command> failed"`.
pub fn title(command_type: Option<CommandType>, state: ExecutionStatus) -> String {
    let cmd = match command_type {
        Some(CommandType::RECOVER_TOLERANCE_FAULT_PROCESS) => "recover tolerance fault process",
        Some(CommandType::RECOVER_SUSPENDED_PROCESS) => "recover suspended process",
        Some(CommandType::START_CURRENT_TASK_PROCESS) => "start current task process",
        Some(CommandType::START_FAILURE_TASK_PROCESS) => "start failure task process",
        Some(CommandType::START_PROCESS) => "start process",
        Some(CommandType::REPEAT_RUNNING) => "repeat running",
        Some(CommandType::SCHEDULER) => "scheduler",
        Some(CommandType::COMPLEMENT_DATA) => "complement data",
        Some(CommandType::PAUSE) => "pause",
        Some(CommandType::STOP) => "stop",
        _ => "unknown type",
    };
    let outcome = if state.is_success() {
        "success"
    } else {
        "failed"
    };
    format!("{cmd} {outcome}")
}

/// Who the project is (from the project/owner query).
pub struct Project {
    pub id: i32,
    pub code: i64,
    pub name: Option<String>,
    pub owner: Option<String>,
}

/// The content column: one element for success, one per unsuccessful valid task for
/// failure, empty text for stop, kill and pause.
#[allow(clippy::too_many_arguments)]
pub fn content(
    instance: &ProcessInstance,
    state: ExecutionStatus,
    process_name: &str,
    project: &Project,
    tasks: &[&TaskInstance],
    to_utc: impl Fn(NaiveDateTime) -> DateTime<Utc>,
    project_by_code: bool,
) -> String {
    let date = |t: Option<NaiveDateTime>| {
        t.map(|t| Value::String(crate::protocol::date::format_gmt8(to_utc(t))))
    };
    let head = |m: &mut Map<String, Value>| {
        if project_by_code {
            m.insert("projectCode".into(), project.code.into());
        } else {
            m.insert("projectId".into(), project.id.into());
        }
        put(m, "projectName", project.name.clone().map(Value::String));
        put(m, "owner", project.owner.clone().map(Value::String));
        m.insert("processId".into(), instance.id.into());
        m.insert(
            "processDefinitionCode".into(),
            instance.process_definition_code.into(),
        );
        m.insert(
            "processName".into(),
            Value::String(process_name.to_string()),
        );
    };
    let elements: Vec<Value> = if state.is_success() {
        let mut m = Map::new();
        head(&mut m);
        put(
            &mut m,
            "processType",
            instance
                .command_type
                .map(|c| Value::String(c.name().into())),
        );
        m.insert("processState".into(), Value::String(state.name().into()));
        put(
            &mut m,
            "recovery",
            instance.recovery.map(|r| Value::String(r.name().into())),
        );
        m.insert("runTimes".into(), instance.run_times.into());
        put(&mut m, "processStartTime", date(instance.start_time));
        put(&mut m, "processEndTime", date(instance.end_time));
        put(
            &mut m,
            "processHost",
            instance.host.clone().map(Value::String),
        );
        vec![Value::Object(m)]
    } else if state.is_failure() {
        tasks
            .iter()
            .filter(|t| !t.state.is_some_and(|s| s.is_success()))
            .map(|t| {
                let mut m = Map::new();
                head(&mut m);
                m.insert("taskCode".into(), t.task_code.into());
                put(&mut m, "taskName", t.name.clone().map(Value::String));
                m.insert("taskType".into(), Value::String(t.task_type.clone()));
                put(
                    &mut m,
                    "taskState",
                    t.state.map(|s| Value::String(s.name().into())),
                );
                put(&mut m, "taskStartTime", date(t.start_time));
                put(&mut m, "taskEndTime", date(t.end_time));
                put(&mut m, "taskHost", t.host.clone().map(Value::String));
                put(&mut m, "logPath", t.log_path.clone().map(Value::String));
                Value::Object(m)
            })
            .collect()
    } else {
        return String::new();
    };
    Value::Array(elements).to_string()
}

fn put(m: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(key.to_string(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn instance() -> ProcessInstance {
        ProcessInstance {
            id: 7,
            process_definition_code: 43,
            command_type: Some(CommandType::START_PROCESS),
            recovery: Some(Flag::NO),
            run_times: 1,
            start_time: Some(t("2023-11-14 22:13:20")),
            end_time: Some(t("2023-11-14 22:13:21")),
            host: Some("10.0.0.5:5678".into()),
            warning_type: Some(WarningType::ALL),
            is_sub_process: Some(Flag::NO),
            ..ProcessInstance::default()
        }
    }

    #[test]
    fn due_by_warning_type() {
        let mut p = instance();
        assert!(is_due(&p, ExecutionStatus::STOP));
        p.warning_type = Some(WarningType::FAILURE);
        assert!(!is_due(&p, ExecutionStatus::SUCCESS));
        assert!(is_due(&p, ExecutionStatus::FAILURE));
        p.is_sub_process = Some(Flag::YES);
        assert!(!is_due(&p, ExecutionStatus::FAILURE));
    }

    #[test]
    fn success_content_in_gmt8_without_nulls() {
        let project = Project {
            id: 3,
            code: 42,
            name: Some("p".into()),
            owner: Some("admin".into()),
        };
        let c = content(
            &instance(),
            ExecutionStatus::SUCCESS,
            "wf-1-x",
            &project,
            &[],
            |n| n.and_utc(),
            false,
        );
        assert_eq!(
            c,
            r#"[{"projectId":3,"projectName":"p","owner":"admin","processId":7,"processDefinitionCode":43,"processName":"wf-1-x","processType":"START_PROCESS","processState":"SUCCESS","recovery":"NO","runTimes":1,"processStartTime":"2023-11-15 06:13:20","processEndTime":"2023-11-15 06:13:21","processHost":"10.0.0.5:5678"}]"#
        );
        assert_eq!(
            title(Some(CommandType::START_PROCESS), ExecutionStatus::SUCCESS),
            "start process success"
        );
        assert_eq!(
            content(
                &instance(),
                ExecutionStatus::STOP,
                "x",
                &project,
                &[],
                |n| n.and_utc(),
                false
            ),
            ""
        );
    }
}

/// The fields both timeout alerts start with (2.0.5: project fields come from the definition
/// row, so only the project code appears).
fn timeout_head(
    instance: &ProcessInstance,
    project_code: i64,
    process_name: &str,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("projectCode".into(), project_code.into());
    m.insert("processId".into(), instance.id.into());
    m.insert(
        "processDefinitionCode".into(),
        instance.process_definition_code.into(),
    );
    m.insert(
        "processName".into(),
        Value::String(process_name.to_string()),
    );
    m
}

/// Closes a timeout alert element: the event and level upstream writes, as a one-element list.
fn timeout_tail(mut m: Map<String, Value>) -> String {
    m.insert("event".into(), Value::String("TIME_OUT".into()));
    m.insert("warnLevel".into(), Value::String("MIDDLE".into()));
    Value::Array(vec![Value::Object(m)]).to_string()
}

/// `Process Timeout Warn` content.
pub fn process_timeout_content(
    instance: &ProcessInstance,
    project_code: i64,
    process_name: &str,
    to_utc: impl Fn(NaiveDateTime) -> DateTime<Utc>,
) -> String {
    let mut m = timeout_head(instance, project_code, process_name);
    put(
        &mut m,
        "processStartTime",
        instance
            .start_time
            .map(|t| Value::String(crate::protocol::date::format_gmt8(to_utc(t)))),
    );
    put(
        &mut m,
        "processHost",
        instance.host.clone().map(Value::String),
    );
    timeout_tail(m)
}

/// `Task Timeout Warn` content (2.0.5 shape).
pub fn task_timeout_content(
    instance: &ProcessInstance,
    project_code: i64,
    process_name: &str,
    task: &TaskInstance,
    to_utc: impl Fn(NaiveDateTime) -> DateTime<Utc>,
) -> String {
    let mut m = timeout_head(instance, project_code, process_name);
    m.insert("taskCode".into(), task.task_code.into());
    put(&mut m, "taskName", task.name.clone().map(Value::String));
    m.insert("taskType".into(), Value::String(task.task_type.clone()));
    put(
        &mut m,
        "taskStartTime",
        task.start_time
            .map(|t| Value::String(crate::protocol::date::format_gmt8(to_utc(t)))),
    );
    put(&mut m, "taskHost", task.host.clone().map(Value::String));
    timeout_tail(m)
}

#[cfg(test)]
mod timeout_tests {
    use super::*;

    #[test]
    fn process_timeout_content_shape() {
        let p = ProcessInstance {
            id: 7,
            process_definition_code: 43,
            start_time: NaiveDateTime::parse_from_str("2023-11-14 22:13:20", "%Y-%m-%d %H:%M:%S")
                .ok(),
            host: Some("10.0.0.5:5678".into()),
            ..ProcessInstance::default()
        };
        assert_eq!(
            process_timeout_content(&p, 42, "wf-1-x", |n| n.and_utc()),
            r#"[{"projectCode":42,"processId":7,"processDefinitionCode":43,"processName":"wf-1-x","processStartTime":"2023-11-15 06:13:20","processHost":"10.0.0.5:5678","event":"TIME_OUT","warnLevel":"MIDDLE"}]"#
        );
    }
}
