//! Typed views of the JSON held in text columns (shared/spec/database.md section 4).
//!
//! Java reads these with a lenient Jackson mapper: unknown keys are ignored, unknown enum
//! names become null, numbers and strings are coerced into each other. The readers here are
//! just as lenient where Java is (so rows the API server wrote always read) and strict where a
//! wrong shape would silently change behaviour (a `command_param` that is not an object is an
//! error, not an empty map). Writers keep the shapes Java readers expect: properties with all
//! four keys in Java's order, and on task *instance* rows `dependence`, `conditionResult` and
//! `switchResult` as JSON strings that contain JSON.
//!
//! Task parameters stay a `serde_json::Value` behind typed accessors: the master reads a
//! handful of keys and must pass every other key through to the worker unchanged.

use super::rows::{ProcessDefinition, ProcessInstance, TaskDefinition, TaskInstance};
use super::{Error, Result};
use crate::model::ExecutionStatus;
use crate::protocol::json::lenient::{self, value_long};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JSON column that does not have the shape its readers need. [`JsonError::at`] turns it
/// into a store error naming table, row and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(pub String);

impl JsonError {
    fn new(what: impl Into<String>) -> JsonError {
        JsonError(what.into())
    }

    /// The error as a [`Error::BadValue`] of `table`, row `id`, `column`.
    pub fn at(self, table: &'static str, id: i64, column: &'static str) -> Error {
        Error::BadValue {
            table,
            id,
            column,
            reason: self.0,
        }
    }
}

fn parse_value(raw: &str) -> std::result::Result<Value, JsonError> {
    serde_json::from_str(raw).map_err(|e| JsonError::new(format!("not JSON ({e})")))
}

/// The text of a nullable JSON column, `None` when it is NULL, blank or the text `null`
/// (what Java's `toJsonString(null)` writes).
fn present(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|s| !s.is_empty() && *s != "null")
}

/// `Direct` of a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum Direct {
    IN,
    OUT,
}

/// `DataType` of a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum DataType {
    VARCHAR,
    INTEGER,
    LONG,
    FLOAT,
    DOUBLE,
    DATE,
    TIME,
    TIMESTAMP,
    BOOLEAN,
    LIST,
}

/// One `Property` (global params, var pools, `localParams`). Serialises with Java's key
/// order and nulls included, as the Java master writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Property {
    /// The parameter name (a JSON null reads as empty).
    #[serde(default, deserialize_with = "lenient::text_or_empty")]
    pub prop: String,
    #[serde(default, deserialize_with = "lenient::enum_by_name")]
    pub direct: Option<Direct>,
    #[serde(rename = "type", default, deserialize_with = "lenient::enum_by_name")]
    pub data_type: Option<DataType>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub value: Option<String>,
}

impl Property {
    pub fn new(prop: &str, direct: Direct, data_type: DataType, value: &str) -> Property {
        Property {
            prop: prop.to_string(),
            direct: Some(direct),
            data_type: Some(data_type),
            value: Some(value.to_string()),
        }
    }
}

/// A property list column: NULL, blank, `null` and `[]` are all the empty list.
pub fn parse_properties(raw: Option<&str>) -> std::result::Result<Vec<Property>, JsonError> {
    let Some(raw) = present(raw) else {
        return Ok(Vec::new());
    };
    properties_from_value(parse_value(raw)?)
}

fn properties_from_value(v: Value) -> std::result::Result<Vec<Property>, JsonError> {
    match v {
        Value::Null => Ok(Vec::new()),
        v @ Value::Array(_) => serde_json::from_value(v)
            .map_err(|e| JsonError::new(format!("not a list of properties ({e})"))),
        other => Err(JsonError::new(format!(
            "expected a list of properties, found {}",
            kind(&other)
        ))),
    }
}

/// A `command_param` object as Java re-serialises it after reading it into a
/// `Map<String, String>`: every value a string (null stays null), key order kept, without
/// `drop`. Unreadable text or a non-object gives an empty map, as upstream's lenient read.
pub fn java_string_map(command_param: Option<&str>, drop: &str) -> Map<String, Value> {
    let map: Map<String, Value> = command_param
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    map.into_iter()
        .filter(|(k, _)| k != drop)
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => Value::String(s),
                Value::Null => Value::Null,
                other => Value::String(other.to_string()),
            };
            (k, v)
        })
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `command_param` of a command or instance: a JSON object whose values are strings or
/// numbers (Jackson coerces both into `Map<String, String>`). Key order and value types are
/// kept, so re-serialising an unchanged map gives back what was read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandParam(Map<String, Value>);

impl CommandParam {
    /// NULL, blank and `null` are the empty map; anything but an object is an error.
    pub fn parse(raw: Option<&str>) -> std::result::Result<CommandParam, JsonError> {
        let Some(raw) = present(raw) else {
            return Ok(CommandParam::default());
        };
        match parse_value(raw)? {
            Value::Object(map) => Ok(CommandParam(map)),
            Value::Null => Ok(CommandParam::default()),
            other => Err(JsonError::new(format!(
                "expected a JSON object, found {}",
                kind(&other)
            ))),
        }
    }

    /// A value as Java's `Map<String, String>` sees it (numbers as their text; null absent).
    pub fn get(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    /// A numeric value, written either as a JSON number or as a string.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.0.get(key).and_then(value_long)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_string(), value.into());
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }
}

/// A value that may be JSON or a string holding JSON (the task-instance quirk). `None` for
/// absent, null, blank, and the text `null`.
fn embedded(v: Option<&Value>) -> std::result::Result<Option<Value>, JsonError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match present(Some(s)) {
            None => Ok(None),
            Some(text) => match parse_value(text)? {
                Value::Null => Ok(None),
                v => Ok(Some(v)),
            },
        },
        Some(other) => Ok(Some(other.clone())),
    }
}

/// `AND` / `OR` of dependent items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum DependentRelation {
    AND,
    OR,
}

/// `dependence` of DEPENDENT and CONDITIONS tasks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct DependentParameters {
    #[serde(default, deserialize_with = "lenient::enum_by_name")]
    pub relation: Option<DependentRelation>,
    #[serde(rename = "dependTaskList", default)]
    pub depend_task_list: Vec<DependentTaskModel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct DependentTaskModel {
    #[serde(default, deserialize_with = "lenient::enum_by_name")]
    pub relation: Option<DependentRelation>,
    #[serde(rename = "dependItemList", default)]
    pub depend_item_list: Vec<DependentItem>,
}

/// One dependency: a workflow (`dep_task_code` 0) or one of its tasks, over a date range
/// (DEPENDENT), or a predecessor's state (CONDITIONS).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct DependentItem {
    #[serde(
        rename = "projectCode",
        default,
        deserialize_with = "lenient::long_or_zero"
    )]
    pub project_code: i64,
    #[serde(
        rename = "definitionCode",
        default,
        deserialize_with = "lenient::long_or_zero"
    )]
    pub definition_code: i64,
    #[serde(
        rename = "depTaskCode",
        default,
        deserialize_with = "lenient::long_or_zero"
    )]
    pub dep_task_code: i64,
    #[serde(default, deserialize_with = "lenient::text")]
    pub cycle: Option<String>,
    #[serde(rename = "dateValue", default, deserialize_with = "lenient::text")]
    pub date_value: Option<String>,
    #[serde(default, deserialize_with = "lenient::enum_by_name")]
    pub status: Option<ExecutionStatus>,
}

/// `conditionResult` of CONDITIONS tasks: the branches by task code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct ConditionResult {
    #[serde(rename = "successNode", default, deserialize_with = "lenient::codes")]
    pub success_node: Vec<i64>,
    #[serde(rename = "failedNode", default, deserialize_with = "lenient::codes")]
    pub failed_node: Vec<i64>,
}

/// `switchResult` of SWITCH tasks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct SwitchResult {
    #[serde(rename = "dependTaskList", default)]
    pub depend_task_list: Vec<SwitchCondition>,
    /// The default branch.
    #[serde(rename = "nextNode", default, deserialize_with = "lenient::codes")]
    pub next_node: Vec<i64>,
    /// Set by the master once the branch is chosen (index into `depend_task_list`).
    #[serde(rename = "resultConditionLocation", default)]
    pub result_condition_location: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct SwitchCondition {
    #[serde(default, deserialize_with = "lenient::text")]
    pub condition: Option<String>,
    #[serde(rename = "nextNode", default, deserialize_with = "lenient::codes")]
    pub next_node: Vec<i64>,
}

/// `task_params` of a task definition or task instance: the JSON object, with typed access
/// to the keys the master reads.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskParams(Map<String, Value>);

impl TaskParams {
    /// Parses the column text; it must be a JSON object (blank/`null` is the empty object).
    pub fn parse(raw: Option<&str>) -> std::result::Result<TaskParams, JsonError> {
        let Some(raw) = present(raw) else {
            return Ok(TaskParams(Map::new()));
        };
        match parse_value(raw)? {
            Value::Object(map) => Ok(TaskParams(map)),
            other => Err(JsonError::new(format!(
                "expected a JSON object, found {}",
                kind(&other)
            ))),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    pub fn set(&mut self, key: &str, value: Value) {
        self.0.insert(key.to_string(), value);
    }

    /// `localParams`; absent or null is the empty list.
    pub fn local_params(&self) -> std::result::Result<Vec<Property>, JsonError> {
        match self.0.get("localParams") {
            None => Ok(Vec::new()),
            Some(v) => properties_from_value(v.clone())
                .map_err(|e| JsonError::new(format!("localParams: {}", e.0))),
        }
    }

    pub fn raw_script(&self) -> Option<&str> {
        self.0.get("rawScript").and_then(Value::as_str)
    }

    /// `dependence`, whether stored as an object (definition) or a string (instance).
    pub fn dependence(&self) -> std::result::Result<Option<DependentParameters>, JsonError> {
        self.embedded_typed("dependence")
    }

    pub fn condition_result(&self) -> std::result::Result<Option<ConditionResult>, JsonError> {
        self.embedded_typed("conditionResult")
    }

    pub fn switch_result(&self) -> std::result::Result<Option<SwitchResult>, JsonError> {
        self.embedded_typed("switchResult")
    }

    fn embedded_typed<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> std::result::Result<Option<T>, JsonError> {
        let v = embedded(self.0.get(key)).map_err(|e| JsonError::new(format!("{key}: {}", e.0)))?;
        v.map(|v| serde_json::from_value(v).map_err(|e| JsonError::new(format!("{key}: {e}"))))
            .transpose()
    }

    /// SQL/PROCEDURE `datasource` id (a number or a numeric string).
    pub fn datasource(&self) -> Option<i32> {
        self.0
            .get("datasource")
            .and_then(value_long)
            .and_then(|i| i32::try_from(i).ok())
    }

    /// SUB_PROCESS `processDefinitionCode`.
    pub fn process_definition_code(&self) -> Option<i64> {
        self.0.get("processDefinitionCode").and_then(value_long)
    }

    /// The form the master stores on a task *instance* row: `dependence`,
    /// `conditionResult` and `switchResult` as JSON text (`"null"` when absent) and
    /// `waitStartTimeout` null, because Java readers cast those keys to `String`. Values that
    /// are already strings are kept, so converting twice changes nothing.
    pub fn to_instance_form(&self) -> TaskParams {
        // Upstream (`TaskNode.getTaskParams`, 2.0.5) removes conditionResult and dependence,
        // then puts conditionResult, dependence, switchResult, waitStartTimeout into the
        // ordered map: the first two land at the end, the last two keep their place if they
        // were there and are appended otherwise. Readers ignore order; golden rows do not.
        let as_text = |v: Option<Value>| match v {
            Some(Value::String(s)) => Value::String(s),
            Some(v) => Value::String(v.to_string()),
            None => Value::String("null".into()),
        };
        let mut map = self.0.clone();
        let condition = as_text(map.remove("conditionResult"));
        let dependence = as_text(map.remove("dependence"));
        let switch = as_text(map.get("switchResult").cloned());
        map.insert("conditionResult".into(), condition);
        map.insert("dependence".into(), dependence);
        map.insert("switchResult".into(), switch);
        map.insert("waitStartTimeout".into(), Value::Null);
        TaskParams(map)
    }

    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }

    /// Upstream's task-instance `task_params` for a definition's text (`TaskNode.
    /// getTaskParams` after `transformTask`): text that is not a JSON object counts as the
    /// empty object, so the row always holds an object with the three logic keys as strings
    /// and `waitStartTimeout` null. `None` only when the definition has no text at all.
    pub fn instance_text(definition: Option<&str>) -> Option<String> {
        let definition = definition?;
        let params = TaskParams::parse(Some(definition)).unwrap_or(TaskParams(Map::new()));
        Some(params.to_instance_form().to_json())
    }
}

impl ProcessDefinition {
    /// `global_params` as properties (errors name the definition's code).
    pub fn global_param_list(&self) -> Result<Vec<Property>> {
        parse_properties(self.global_params.as_deref())
            .map_err(|e| e.at("t_ds_process_definition", self.code, "global_params"))
    }
}

impl ProcessInstance {
    pub fn global_param_list(&self) -> Result<Vec<Property>> {
        parse_properties(self.global_params.as_deref())
            .map_err(|e| e.at("t_ds_process_instance", self.id.into(), "global_params"))
    }

    pub fn var_pool_list(&self) -> Result<Vec<Property>> {
        parse_properties(self.var_pool.as_deref())
            .map_err(|e| e.at("t_ds_process_instance", self.id.into(), "var_pool"))
    }

    pub fn command_params(&self) -> Result<CommandParam> {
        CommandParam::parse(self.command_param.as_deref())
            .map_err(|e| e.at("t_ds_process_instance", self.id.into(), "command_param"))
    }
}

impl super::rows::CommandRow {
    pub fn command_params(&self) -> Result<CommandParam> {
        CommandParam::parse(self.command_param.as_deref())
            .map_err(|e| e.at("t_ds_command", self.id.into(), "command_param"))
    }
}

impl TaskDefinition {
    /// `task_params` of the definition (errors name the task code as the row).
    pub fn params(&self) -> Result<TaskParams> {
        TaskParams::parse(self.task_params.as_deref())
            .map_err(|e| e.at("t_ds_task_definition_log", self.code, "task_params"))
    }
}

impl TaskInstance {
    pub fn params(&self) -> Result<TaskParams> {
        TaskParams::parse(self.task_params.as_deref())
            .map_err(|e| e.at("t_ds_task_instance", self.id.into(), "task_params"))
    }

    pub fn var_pool_list(&self) -> Result<Vec<Property>> {
        parse_properties(self.var_pool.as_deref())
            .map_err(|e| e.at("t_ds_task_instance", self.id.into(), "var_pool"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_round_trip_in_java_order() {
        let raw = r#"[{"prop":"dt","direct":"IN","type":"VARCHAR","value":"$[yyyyMMdd-1]"},{"prop":"n","direct":"OUT","type":"INTEGER","value":null}]"#;
        let list = parse_properties(Some(raw)).unwrap();
        assert_eq!(
            list[0],
            Property::new("dt", Direct::IN, DataType::VARCHAR, "$[yyyyMMdd-1]")
        );
        assert_eq!(list[1].value, None);
        for empty in [None, Some(""), Some("null"), Some("[]"), Some("  ")] {
            assert!(parse_properties(empty).unwrap().is_empty());
        }
        assert!(parse_properties(Some("{")).is_err());
        assert!(parse_properties(Some(r#"{"a":1}"#)).is_err());
    }

    #[test]
    fn properties_are_lenient_like_jackson() {
        let list = parse_properties(Some(
            r#"[{"prop":"x","direct":"SIDEWAYS","type":"NOPE","value":5,"extra":true}]"#,
        ))
        .unwrap();
        assert_eq!(list[0].direct, None);
        assert_eq!(list[0].data_type, None);
        assert_eq!(list[0].value.as_deref(), Some("5"));
    }

    #[test]
    fn command_param_values_are_strings_or_numbers() {
        let p = CommandParam::parse(Some(
            r#"{"StartNodeList":"1,2","ProcessInstanceId":7,"StartParams":"{\"a\":\"b\",\"n\":3}"}"#,
        ))
        .unwrap();
        assert_eq!(p.get("ProcessInstanceId").as_deref(), Some("7"));
        assert_eq!(p.get_i64("ProcessInstanceId"), Some(7));
        assert_eq!(
            p.to_json(),
            r#"{"StartNodeList":"1,2","ProcessInstanceId":7,"StartParams":"{\"a\":\"b\",\"n\":3}"}"#
        );
        assert!(CommandParam::parse(Some("[1]")).is_err());
        assert!(CommandParam::parse(Some("{oops")).is_err());
        assert!(CommandParam::parse(None).unwrap().is_empty());
        assert!(CommandParam::parse(Some("null")).unwrap().is_empty());
    }

    #[test]
    fn logic_keys_read_from_objects_and_strings() {
        let def = TaskParams::parse(Some(
            r#"{"localParams":[],"resourceList":[{"id":3,"res":"a.sh","resourceName":"/a.sh"}],"rawScript":"echo 1",
                "dependence":{"relation":"AND","dependTaskList":[{"relation":"OR","dependItemList":[{"projectCode":1,"definitionCode":"2","depTaskCode":0,"cycle":"day","dateValue":"today"}]}]},
                "conditionResult":{"successNode":["11"],"failedNode":[12, ""]},
                "switchResult":{"dependTaskList":[{"condition":"${x} > 1","nextNode":21}],"nextNode":"22"},
                "waitStartTimeout":{}}"#,
        ))
        .unwrap();
        let inst = TaskParams::parse(Some(&def.to_instance_form().to_json())).unwrap();
        for p in [&def, &inst] {
            let d = p.dependence().unwrap().unwrap();
            assert_eq!(d.relation, Some(DependentRelation::AND));
            assert_eq!(d.depend_task_list[0].depend_item_list[0].definition_code, 2);
            let c = p.condition_result().unwrap().unwrap();
            assert_eq!((c.success_node, c.failed_node), (vec![11], vec![12]));
            let s = p.switch_result().unwrap().unwrap();
            assert_eq!(s.depend_task_list[0].next_node, vec![21]);
            assert_eq!(s.next_node, vec![22]);
            assert_eq!(p.raw_script(), Some("echo 1"));
        }
        assert!(inst.get("dependence").unwrap().is_string());
        assert!(inst.get("waitStartTimeout").unwrap().is_null());
        // Converting an instance form again is a no-op.
        assert_eq!(inst.to_instance_form(), inst);
        // Absent keys become the text "null" and read back as absent.
        let bare = TaskParams::parse(Some(r#"{"rawScript":"x"}"#))
            .unwrap()
            .to_instance_form();
        assert_eq!(bare.get("dependence"), Some(&Value::String("null".into())));
        assert_eq!(bare.dependence().unwrap(), None);
        // A string that is not JSON is an error naming the key.
        let broken = TaskParams::parse(Some(r#"{"dependence":"{nope"}"#)).unwrap();
        assert!(broken
            .dependence()
            .unwrap_err()
            .0
            .starts_with("dependence:"));
    }

    #[test]
    fn sql_keys() {
        let p =
            TaskParams::parse(Some(r#"{"type":"HIVE","datasource":"4","udfs":"1,2"}"#)).unwrap();
        assert_eq!(p.datasource(), Some(4));
        assert!(TaskParams::parse(Some("[]")).is_err());
    }

    #[test]
    fn instance_text_replaces_bad_json_with_an_empty_object() {
        let text = TaskParams::instance_text(Some("not json")).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["dependence"], "null");
        assert_eq!(v["switchResult"], "null");
        assert!(v["waitStartTimeout"].is_null());
        assert_eq!(TaskParams::instance_text(None), None);
    }
}
