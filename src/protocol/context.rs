//! `TaskExecutionContext`: everything a worker needs to run one task instance, carried as a
//! JSON string inside `TASK_EXECUTE_REQUEST` (spec §6.1).
//!
//! Field order is upstream's declaration order (`service/queue/entity/TaskExecutionContext.java`
//! at 2.0.5), which is Jackson's output order. 2.0.6 declared one more field, `endTime`,
//! directly after `startTime`; [`TaskExecutionContext::to_json`] writes it only for
//! [`Dialect::C`]. The sub-contexts are the SPI request classes (`spi/task/request/*`), which
//! the Java master always fills with objects (zero/null members for tasks that do not need
//! them); [`Default`] reproduces that, so a SHELL task needs no extra work.
//!
//! Java maps (`resources`, `definedParams`, `paramsMap`, `udfFuncTenantCodeMap`) are
//! [`OrderedMap`]s: written in insertion order, so whoever builds the context decides the order
//! (to mimic a Java `HashMap`'s iteration order, insert in that order).

use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
#[cfg(test)]
use serde_json::ser::Formatter;

use super::date;
#[cfg(test)]
use super::dialect::Dialect;
#[cfg(test)]
use super::json::jackson;
use super::json::lenient;
use crate::model::{ExecutionStatus, TaskTimeoutStrategy};

/// A JSON object with string keys whose entry order is kept as inserted (or as read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<V> OrderedMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key`, replacing an existing entry in place (like a Java map's `put`).
    pub fn insert(&mut self, key: impl Into<String>, value: V) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V> FromIterator<(K, V)> for OrderedMap<V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = OrderedMap::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V_<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut m = OrderedMap::new();
                while let Some((k, v)) = a.next_entry::<String, V>()? {
                    m.insert(k, v);
                }
                Ok(m)
            }
        }
        d.deserialize_map(V_(PhantomData))
    }
}

/// `common.process.Property`: one parameter of a var pool or of `paramsMap`.
/// `direct` (`IN`/`OUT`) and `type` (`VARCHAR`, `INTEGER`, ...) are kept as the names upstream
/// wrote, so values this master does not interpret pass through unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Property {
    pub prop: Option<String>,
    pub direct: Option<String>,
    pub r#type: Option<String>,
    pub value: Option<String>,
}

/// `spi.task.request.UdfFuncRequest`; its JSON text is a *key* of
/// [`SqlTaskExecutionContext::udf_func_tenant_code_map`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UdfFuncRequest {
    #[serde(deserialize_with = "lenient::int")]
    pub id: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub user_id: i32,
    pub func_name: Option<String>,
    pub class_name: Option<String>,
    pub arg_types: Option<String>,
    pub database: Option<String>,
    pub description: Option<String>,
    #[serde(deserialize_with = "lenient::int")]
    pub resource_id: i32,
    pub resource_name: Option<String>,
    /// `HIVE` or `SPARK`.
    pub r#type: Option<String>,
    #[serde(with = "date::gmt8")]
    pub create_time: Option<DateTime<Utc>>,
    #[serde(with = "date::gmt8")]
    pub update_time: Option<DateTime<Utc>>,
}

/// `spi.task.request.SQLTaskExecutionContext`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SqlTaskExecutionContext {
    /// Always 0 from a 2.0.x master.
    #[serde(deserialize_with = "lenient::int")]
    pub warning_group_id: i32,
    pub connection_params: Option<String>,
    /// Key: JSON text of a [`UdfFuncRequest`]; value: tenant code.
    pub udf_func_tenant_code_map: Option<OrderedMap<String>>,
    #[serde(rename = "defaultFS")]
    pub default_fs: Option<String>,
}

/// `spi.task.request.DataxTaskExecutionContext`; `SqoopTaskExecutionContext` has the same keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataxTaskExecutionContext {
    #[serde(deserialize_with = "lenient::int")]
    pub data_source_id: i32,
    /// DbType code (spelled `sourcetype` upstream).
    #[serde(rename = "sourcetype", deserialize_with = "lenient::int")]
    pub source_type: i32,
    pub source_connection_params: Option<String>,
    #[serde(deserialize_with = "lenient::int")]
    pub data_target_id: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub target_type: i32,
    pub target_connection_params: Option<String>,
}

/// `spi.task.request.SqoopTaskExecutionContext`.
pub type SqoopTaskExecutionContext = DataxTaskExecutionContext;

/// `spi.task.request.ProcedureTaskExecutionContext`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProcedureTaskExecutionContext {
    pub connection_params: Option<String>,
}

/// `service.queue.entity.DependenceTaskExecutionContext`; never set by a 2.0.x master.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DependenceTaskExecutionContext {
    pub dependence: Option<String>,
}

/// The task execution context (spec §6.1 lists what the master fills each key from).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskExecutionContext {
    #[serde(deserialize_with = "lenient::int")]
    pub task_instance_id: i32,
    pub task_name: Option<String>,
    #[serde(with = "date::gmt8")]
    pub first_submit_time: Option<DateTime<Utc>>,
    #[serde(with = "date::gmt8")]
    pub start_time: Option<DateTime<Utc>>,
    /// 2.0.6+ only (declared right after `startTime`); written by `to_json(Dialect::C)`.
    #[serde(with = "date::gmt8", skip_serializing)]
    pub end_time: Option<DateTime<Utc>>,
    pub task_type: Option<String>,
    pub host: Option<String>,
    pub execute_path: Option<String>,
    pub log_path: Option<String>,
    pub task_json: Option<String>,
    #[serde(deserialize_with = "lenient::int")]
    pub process_id: i32,
    #[serde(deserialize_with = "lenient::opt_long")]
    pub process_define_code: Option<i64>,
    #[serde(deserialize_with = "lenient::int")]
    pub process_define_version: i32,
    pub app_ids: Option<String>,
    #[serde(deserialize_with = "lenient::int")]
    pub process_instance_id: i32,
    #[serde(with = "date::gmt8")]
    pub schedule_time: Option<DateTime<Utc>>,
    /// JSON list of [`Property`], as text.
    pub global_params: Option<String>,
    #[serde(deserialize_with = "lenient::int")]
    pub executor_id: i32,
    /// Code of the instance's (common) `CommandType`.
    #[serde(deserialize_with = "lenient::int")]
    pub cmd_type_if_complement: i32,
    pub tenant_code: Option<String>,
    pub queue: Option<String>,
    #[serde(deserialize_with = "lenient::long")]
    pub project_code: i64,
    /// The task definition's `task_params` JSON, as text.
    pub task_params: Option<String>,
    pub env_file: Option<String>,
    pub environment_config: Option<String>,
    pub defined_params: Option<OrderedMap<String>>,
    pub task_app_id: Option<String>,
    #[serde(deserialize_with = "lenient::java_enum")]
    pub task_timeout_strategy: Option<TaskTimeoutStrategy>,
    /// Seconds; `i32::MAX` unless the timeout is OPEN with a FAILED/WARNFAILED strategy.
    #[serde(deserialize_with = "lenient::int")]
    pub task_timeout: i32,
    pub worker_group: Option<String>,
    /// Minutes.
    #[serde(deserialize_with = "lenient::int")]
    pub delay_time: i32,
    #[serde(deserialize_with = "lenient::java_enum")]
    pub current_execution_status: Option<ExecutionStatus>,
    /// Resource full name → tenant code of its owner.
    pub resources: Option<OrderedMap<String>>,
    pub sql_task_execution_context: Option<SqlTaskExecutionContext>,
    pub datax_task_execution_context: Option<DataxTaskExecutionContext>,
    pub dependence_task_execution_context: Option<DependenceTaskExecutionContext>,
    pub sqoop_task_execution_context: Option<SqoopTaskExecutionContext>,
    /// JSON list of [`Property`], as text.
    pub var_pool: Option<String>,
    /// 1 → the worker reports SUCCESS without running anything.
    #[serde(deserialize_with = "lenient::int")]
    pub dry_run: i32,
    pub params_map: Option<OrderedMap<Property>>,
    pub procedure_task_execution_context: Option<ProcedureTaskExecutionContext>,
}

impl Default for TaskExecutionContext {
    /// A context as the Java master leaves it before filling task-specific values: no
    /// timeout (`Integer.MAX_VALUE`), an empty resource map and the four SPI sub-contexts
    /// present with zero/null members.
    fn default() -> Self {
        TaskExecutionContext {
            task_instance_id: 0,
            task_name: None,
            first_submit_time: None,
            start_time: None,
            end_time: None,
            task_type: None,
            host: None,
            execute_path: None,
            log_path: None,
            task_json: None,
            process_id: 0,
            process_define_code: None,
            process_define_version: 0,
            app_ids: None,
            process_instance_id: 0,
            schedule_time: None,
            global_params: None,
            executor_id: 0,
            cmd_type_if_complement: 0,
            tenant_code: None,
            queue: None,
            project_code: 0,
            task_params: None,
            env_file: None,
            environment_config: None,
            defined_params: None,
            task_app_id: None,
            task_timeout_strategy: None,
            task_timeout: i32::MAX,
            worker_group: None,
            delay_time: 0,
            current_execution_status: None,
            resources: Some(OrderedMap::new()),
            sql_task_execution_context: Some(SqlTaskExecutionContext::default()),
            datax_task_execution_context: Some(DataxTaskExecutionContext::default()),
            dependence_task_execution_context: None,
            sqoop_task_execution_context: Some(SqoopTaskExecutionContext::default()),
            var_pool: None,
            dry_run: 0,
            params_map: None,
            procedure_task_execution_context: Some(ProcedureTaskExecutionContext::default()),
        }
    }
}

impl TaskExecutionContext {
    /// A capacity that holds the JSON text (and its escaped form) of usual contexts, so that
    /// serializing allocates once: the fixed keys take ~1.4 KB, free text grows when escaped.
    pub(crate) fn json_size_hint(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let free_text = text(&self.task_params)
            + text(&self.global_params)
            + text(&self.var_pool)
            + text(&self.environment_config)
            + text(&self.task_json);
        2048 + free_text + free_text / 2
    }

    /// The serde path the hand-written writer replaced, kept as its reference in tests:
    /// serializes with `formatter`, then for [`Dialect::C`] inserts the `endTime` entry
    /// before `taskType` (the key after `startTime`). The first `,"taskType":` in the output
    /// is that key: before it there are only numbers, dates and `taskName`, whose quotes are
    /// escaped; the only quote there that can follow a comma is `taskName`'s closing one,
    /// which is followed by `,"firstSubmitTime"`. (The same holds escaped once more.)
    #[cfg(test)]
    pub(crate) fn write_json_serde<F: Formatter + Copy>(
        &self,
        dialect: Dialect,
        out: &mut Vec<u8>,
        formatter: F,
    ) -> Result<(), serde_json::Error> {
        let start = out.len();
        self.serialize(&mut serde_json::Serializer::with_formatter(
            &mut *out, formatter,
        ))?;
        if dialect != Dialect::C {
            return Ok(());
        }
        let mut marker = b",".to_vec();
        marker.extend(json_with(formatter, "taskType")?);
        marker.push(b':');
        let at = out[start..]
            .windows(marker.len())
            .position(|w| w == marker)
            .map(|p| start + p)
            .ok_or_else(|| {
                <serde_json::Error as serde::ser::Error>::custom("no taskType key written")
            })?;
        let mut entry = b",".to_vec();
        entry.extend(json_with(formatter, "endTime")?);
        entry.push(b':');
        entry.extend(json_with(formatter, &Gmt8(self.end_time))?);
        out.splice(at..at, entry);
        Ok(())
    }

    /// Parses the context of any 2.0.x release; unknown keys are ignored. Keys absent from
    /// the text take this type's [`Default`] values.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// `value` as `formatter` writes it.
#[cfg(test)]
fn json_with<F: Formatter>(
    formatter: F,
    value: &(impl Serialize + ?Sized),
) -> Result<Vec<u8>, serde_json::Error> {
    let mut buf = Vec::with_capacity(32);
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut buf, formatter,
    ))?;
    Ok(buf)
}

/// A date serialized as [`date::gmt8`] writes it.
#[cfg(test)]
struct Gmt8(Option<DateTime<Utc>>);

#[cfg(test)]
impl Serialize for Gmt8 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        date::gmt8::serialize(&self.0, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::command::{Body, TaskExecuteRequestCommand};

    /// The SHELL example of spec §6.1, byte for byte.
    const SHELL_EXAMPLE: &str = r#"{"taskExecutionContext":"{\"taskInstanceId\":101,\"taskName\":\"t1\",\"firstSubmitTime\":\"2023-11-15 06:13:20\",\"startTime\":null,\"taskType\":\"SHELL\",\"host\":null,\"executePath\":null,\"logPath\":null,\"taskJson\":null,\"processId\":0,\"processDefineCode\":5678901234567,\"processDefineVersion\":1,\"appIds\":null,\"processInstanceId\":7,\"scheduleTime\":null,\"globalParams\":null,\"executorId\":1,\"cmdTypeIfComplement\":0,\"tenantCode\":\"ds\",\"queue\":\"default\",\"projectCode\":1234567890123,\"taskParams\":\"{\\\"rawScript\\\":\\\"echo 1\\\",\\\"localParams\\\":[],\\\"resourceList\\\":[]}\",\"envFile\":null,\"environmentConfig\":null,\"definedParams\":null,\"taskAppId\":null,\"taskTimeoutStrategy\":null,\"taskTimeout\":2147483647,\"workerGroup\":\"default\",\"delayTime\":0,\"currentExecutionStatus\":null,\"resources\":{},\"sqlTaskExecutionContext\":{\"warningGroupId\":0,\"connectionParams\":null,\"udfFuncTenantCodeMap\":null,\"defaultFS\":null},\"dataxTaskExecutionContext\":{\"dataSourceId\":0,\"sourcetype\":0,\"sourceConnectionParams\":null,\"dataTargetId\":0,\"targetType\":0,\"targetConnectionParams\":null},\"dependenceTaskExecutionContext\":null,\"sqoopTaskExecutionContext\":{\"dataSourceId\":0,\"sourcetype\":0,\"sourceConnectionParams\":null,\"dataTargetId\":0,\"targetType\":0,\"targetConnectionParams\":null},\"varPool\":null,\"dryRun\":0,\"paramsMap\":null,\"procedureTaskExecutionContext\":{\"connectionParams\":null}}"}"#;

    pub(crate) fn shell_context() -> TaskExecutionContext {
        TaskExecutionContext {
            task_instance_id: 101,
            task_name: Some("t1".into()),
            first_submit_time: date::from_epoch_millis(1_700_000_000_000),
            task_type: Some("SHELL".into()),
            process_define_code: Some(5_678_901_234_567),
            process_define_version: 1,
            process_instance_id: 7,
            executor_id: 1,
            tenant_code: Some("ds".into()),
            queue: Some("default".into()),
            project_code: 1_234_567_890_123,
            task_params: Some(
                r#"{"rawScript":"echo 1","localParams":[],"resourceList":[]}"#.into(),
            ),
            worker_group: Some("default".into()),
            ..Default::default()
        }
    }

    #[test]
    fn shell_example_is_byte_identical() {
        let cmd = TaskExecuteRequestCommand::new(&shell_context()).unwrap();
        let body = String::from_utf8(cmd.to_json(Dialect::B).unwrap()).unwrap();
        assert_eq!(body, SHELL_EXAMPLE);
        let back = TaskExecuteRequestCommand::from_json(SHELL_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(back.context().unwrap(), shell_context());
    }

    #[test]
    fn dialect_c_adds_end_time_after_start_time() {
        let ctx = TaskExecutionContext {
            end_time: date::from_epoch_millis(1_700_000_000_000),
            ..shell_context()
        };
        let c = ctx.to_json(Dialect::C).unwrap();
        assert!(
            c.contains(r#""startTime":null,"endTime":"2023-11-15 06:13:20","taskType":"SHELL""#)
        );
        let b = ctx.to_json(Dialect::B).unwrap();
        assert!(!b.contains("endTime"));
        assert_eq!(TaskExecutionContext::from_json(&c).unwrap(), ctx);
    }

    /// The layout as first written: the derived serialization re-laid out through a
    /// `serde_json::Value` (kept as the reference for the spliced `endTime`).
    fn reference_json(ctx: &TaskExecutionContext, dialect: Dialect) -> String {
        use serde_json::{Map, Value};
        if dialect != Dialect::C {
            return jackson::to_string(ctx).unwrap();
        }
        let end_time = match ctx.end_time {
            Some(t) => Value::from(date::format_gmt8(t)),
            None => Value::Null,
        };
        let mut end_time = Some(end_time);
        let Value::Object(map) = serde_json::to_value(ctx).unwrap() else {
            unreachable!()
        };
        let mut out = Map::with_capacity(map.len() + 1);
        for (k, v) in map {
            let after = k == "startTime";
            out.insert(k, v);
            if after {
                if let Some(e) = end_time.take() {
                    out.insert("endTime".to_string(), e);
                }
            }
        }
        jackson::to_string(&Value::Object(out)).unwrap()
    }

    fn awkward_contexts() -> Vec<TaskExecutionContext> {
        let mut v = vec![shell_context(), TaskExecutionContext::default()];
        for name in [
            ",\"taskType\":",
            "x,",
            "\\\",\"taskType\":\"",
            "\u{1}\u{1f}\n\t é😀",
        ] {
            v.push(TaskExecutionContext {
                task_name: Some(name.into()),
                start_time: date::from_epoch_millis(1_700_000_123_000),
                end_time: date::from_epoch_millis(1_700_000_999_000),
                task_params: Some(format!("{{\"rawScript\":\"{name}\\n\"}}")),
                ..shell_context()
            });
        }
        v
    }

    #[test]
    fn layouts_match_the_reference_in_every_dialect() {
        for ctx in awkward_contexts() {
            for d in [Dialect::A, Dialect::B, Dialect::C] {
                let want = reference_json(&ctx, d);
                assert_eq!(ctx.to_json(d).unwrap(), want, "{d:?}");
                let mut escaped = Vec::new();
                ctx.write_escaped_json(d, &mut escaped).unwrap();
                let outer = jackson::to_string(&want).unwrap();
                assert_eq!(
                    String::from_utf8(escaped).unwrap(),
                    outer[1..outer.len() - 1],
                    "{d:?}"
                );
                assert_eq!(
                    TaskExecutionContext::from_json(&want).unwrap().task_name,
                    ctx.task_name
                );
            }
        }
    }

    #[test]
    fn maps_keep_order_and_properties_round_trip() {
        let mut ctx = shell_context();
        ctx.resources = Some(
            [("z.sh", "ds"), ("a.sh", "ds")]
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect(),
        );
        let mut pm = OrderedMap::new();
        pm.insert(
            "x",
            Property {
                prop: Some("x".into()),
                direct: Some("IN".into()),
                r#type: Some("VARCHAR".into()),
                value: Some("1".into()),
            },
        );
        ctx.params_map = Some(pm);
        ctx.task_timeout_strategy = Some(TaskTimeoutStrategy::WARNFAILED);
        let j = ctx.to_json(Dialect::B).unwrap();
        assert!(j.contains(r#""resources":{"z.sh":"ds","a.sh":"ds"}"#));
        assert!(j.contains(
            r#""paramsMap":{"x":{"prop":"x","direct":"IN","type":"VARCHAR","value":"1"}}"#
        ));
        assert!(j.contains(r#""taskTimeoutStrategy":"WARNFAILED""#));
        assert_eq!(TaskExecutionContext::from_json(&j).unwrap(), ctx);
    }
}
