//! The JSON text of a [`TaskExecutionContext`], written by hand: the dispatch hot path.
//!
//! Every dispatch sends the whole context as a JSON string inside `{"taskExecutionContext":
//! "..."}` (spec §6.1), so the text is escaped twice and the task's own `taskParams` (JSON in
//! a string in a string) three times. Going through serde_json means a generic serializer, a
//! formatter call per token and escape, and a second escaping pass over the whole text. Here
//! the layout is fixed in code (keys written as constants, already escaped for the level they
//! go to) and the body is written in one pass.
//!
//! Exactness is kept by construction and checked by a property test: the writer produces
//! the bytes serde_json with the Jackson formatter produces (field order as declared in
//! [`super::context`], `endTime` after `startTime` in [`Dialect::C`] only, Jackson's
//! escapes). The master never reads a request body (workers do), so there is no reader here;
//! the serde path in [`super::command`] decodes one where a test or a stand-in worker needs
//! it.

use chrono::{DateTime, Utc};

use super::context::{DataxTaskExecutionContext, OrderedMap, Property, TaskExecutionContext};
use super::date;
use super::dialect::Dialect;
use super::escape::{escape_content, ESCAPE_ONCE, ESCAPE_TWICE};
use crate::model::{ExecutionStatus, TaskTimeoutStrategy};

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/// A key as written: `,"name":` at level 1, `,\"name\":` at level 2 (the first key of an
/// object is written without its comma).
macro_rules! key {
    ($name:literal) => {
        (
            concat!(",\"", $name, "\":").as_bytes(),
            concat!(",\\\"", $name, "\\\":").as_bytes(),
        )
    };
}

type Key = (&'static [u8], &'static [u8]);

/// Writes JSON text at one of the two levels (`ESCAPED`: as the content of a JSON string).
struct Writer<'a, const ESCAPED: bool> {
    out: &'a mut Vec<u8>,
}

impl<const ESCAPED: bool> Writer<'_, ESCAPED> {
    const QUOTE: &'static [u8] = if ESCAPED { b"\\\"" } else { b"\"" };

    fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    /// `{` and the first key.
    fn open(&mut self, k: Key) {
        self.raw(b"{");
        let k = if ESCAPED { k.1 } else { k.0 };
        self.raw(&k[1..]);
    }

    fn key(&mut self, k: Key) {
        self.raw(if ESCAPED { k.1 } else { k.0 });
    }

    fn int(&mut self, v: i64) {
        let mut buf = [0u8; 20];
        let mut at = buf.len();
        let mut n = v.unsigned_abs();
        loop {
            at -= 1;
            buf[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if v < 0 {
            self.raw(b"-");
        }
        self.raw(&buf[at..]);
    }

    fn str(&mut self, s: &str) {
        self.raw(Self::QUOTE);
        let table = if ESCAPED { &ESCAPE_TWICE } else { &ESCAPE_ONCE };
        escape_content(self.out, s.as_bytes(), table);
        self.raw(Self::QUOTE);
    }

    fn opt_str(&mut self, s: &Option<String>) {
        match s {
            Some(s) => self.str(s),
            None => self.raw(b"null"),
        }
    }

    fn opt_long(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.int(v),
            None => self.raw(b"null"),
        }
    }

    fn date(&mut self, d: &Option<DateTime<Utc>>) {
        let Some(t) = d else {
            return self.raw(b"null");
        };
        let mut buf = [0u8; 19];
        match date::write_gmt8(*t, &mut buf) {
            // Digits, dashes, colons and a space: nothing to escape.
            Some(text) => {
                self.raw(Self::QUOTE);
                self.raw(text.as_bytes());
                self.raw(Self::QUOTE);
            }
            None => self.str(&date::format_gmt8(*t)),
        }
    }

    fn name(&mut self, name: Option<&str>) {
        match name {
            Some(n) => self.str(n),
            None => self.raw(b"null"),
        }
    }

    fn entries<V>(&mut self, m: &Option<OrderedMap<V>>, mut value: impl FnMut(&mut Self, &V)) {
        let Some(m) = m else {
            return self.raw(b"null");
        };
        self.raw(b"{");
        for (i, (k, v)) in m.0.iter().enumerate() {
            if i > 0 {
                self.raw(b",");
            }
            self.str(k);
            self.raw(b":");
            value(self, v);
        }
        self.raw(b"}");
    }

    fn property(&mut self, p: &Property) {
        self.open(key!("prop"));
        self.opt_str(&p.prop);
        self.key(key!("direct"));
        self.opt_str(&p.direct);
        self.key(key!("type"));
        self.opt_str(&p.r#type);
        self.key(key!("value"));
        self.opt_str(&p.value);
        self.raw(b"}");
    }

    fn datax(&mut self, c: &Option<DataxTaskExecutionContext>) {
        let Some(c) = c else {
            return self.raw(b"null");
        };
        self.open(key!("dataSourceId"));
        self.int(c.data_source_id.into());
        self.key(key!("sourcetype"));
        self.int(c.source_type.into());
        self.key(key!("sourceConnectionParams"));
        self.opt_str(&c.source_connection_params);
        self.key(key!("dataTargetId"));
        self.int(c.data_target_id.into());
        self.key(key!("targetType"));
        self.int(c.target_type.into());
        self.key(key!("targetConnectionParams"));
        self.opt_str(&c.target_connection_params);
        self.raw(b"}");
    }

    fn context(&mut self, c: &TaskExecutionContext, dialect: Dialect) {
        self.open(key!("taskInstanceId"));
        self.int(c.task_instance_id.into());
        self.key(key!("taskName"));
        self.opt_str(&c.task_name);
        self.key(key!("firstSubmitTime"));
        self.date(&c.first_submit_time);
        self.key(key!("startTime"));
        self.date(&c.start_time);
        if dialect == Dialect::C {
            self.key(key!("endTime"));
            self.date(&c.end_time);
        }
        self.key(key!("taskType"));
        self.opt_str(&c.task_type);
        self.key(key!("host"));
        self.opt_str(&c.host);
        self.key(key!("executePath"));
        self.opt_str(&c.execute_path);
        self.key(key!("logPath"));
        self.opt_str(&c.log_path);
        self.key(key!("taskJson"));
        self.opt_str(&c.task_json);
        self.key(key!("processId"));
        self.int(c.process_id.into());
        self.key(key!("processDefineCode"));
        self.opt_long(c.process_define_code);
        self.key(key!("processDefineVersion"));
        self.int(c.process_define_version.into());
        self.key(key!("appIds"));
        self.opt_str(&c.app_ids);
        self.key(key!("processInstanceId"));
        self.int(c.process_instance_id.into());
        self.key(key!("scheduleTime"));
        self.date(&c.schedule_time);
        self.key(key!("globalParams"));
        self.opt_str(&c.global_params);
        self.key(key!("executorId"));
        self.int(c.executor_id.into());
        self.key(key!("cmdTypeIfComplement"));
        self.int(c.cmd_type_if_complement.into());
        self.key(key!("tenantCode"));
        self.opt_str(&c.tenant_code);
        self.key(key!("queue"));
        self.opt_str(&c.queue);
        self.key(key!("projectCode"));
        self.int(c.project_code);
        self.key(key!("taskParams"));
        self.opt_str(&c.task_params);
        self.key(key!("envFile"));
        self.opt_str(&c.env_file);
        self.key(key!("environmentConfig"));
        self.opt_str(&c.environment_config);
        self.key(key!("definedParams"));
        self.entries(&c.defined_params, |w, v| w.str(v));
        self.key(key!("taskAppId"));
        self.opt_str(&c.task_app_id);
        self.key(key!("taskTimeoutStrategy"));
        self.name(c.task_timeout_strategy.map(TaskTimeoutStrategy::name));
        self.key(key!("taskTimeout"));
        self.int(c.task_timeout.into());
        self.key(key!("workerGroup"));
        self.opt_str(&c.worker_group);
        self.key(key!("delayTime"));
        self.int(c.delay_time.into());
        self.key(key!("currentExecutionStatus"));
        self.name(c.current_execution_status.map(ExecutionStatus::name));
        self.key(key!("resources"));
        self.entries(&c.resources, |w, v| w.str(v));
        self.key(key!("sqlTaskExecutionContext"));
        match &c.sql_task_execution_context {
            Some(s) => {
                self.open(key!("warningGroupId"));
                self.int(s.warning_group_id.into());
                self.key(key!("connectionParams"));
                self.opt_str(&s.connection_params);
                self.key(key!("udfFuncTenantCodeMap"));
                self.entries(&s.udf_func_tenant_code_map, |w, v| w.str(v));
                self.key(key!("defaultFS"));
                self.opt_str(&s.default_fs);
                self.raw(b"}");
            }
            None => self.raw(b"null"),
        }
        self.key(key!("dataxTaskExecutionContext"));
        self.datax(&c.datax_task_execution_context);
        self.key(key!("dependenceTaskExecutionContext"));
        match &c.dependence_task_execution_context {
            Some(d) => {
                self.open(key!("dependence"));
                self.opt_str(&d.dependence);
                self.raw(b"}");
            }
            None => self.raw(b"null"),
        }
        self.key(key!("sqoopTaskExecutionContext"));
        self.datax(&c.sqoop_task_execution_context);
        self.key(key!("varPool"));
        self.opt_str(&c.var_pool);
        self.key(key!("dryRun"));
        self.int(c.dry_run.into());
        self.key(key!("paramsMap"));
        self.entries(&c.params_map, |w, p| w.property(p));
        self.key(key!("procedureTaskExecutionContext"));
        match &c.procedure_task_execution_context {
            Some(p) => {
                self.open(key!("connectionParams"));
                self.opt_str(&p.connection_params);
                self.raw(b"}");
            }
            None => self.raw(b"null"),
        }
        self.raw(b"}");
    }
}

/// Appends the context's JSON text as `dialect`'s Java class writes it.
pub(crate) fn write_json(ctx: &TaskExecutionContext, dialect: Dialect, out: &mut Vec<u8>) {
    Writer::<false> { out }.context(ctx, dialect);
}

/// Appends the same text escaped as the content of a JSON string (the inside of
/// `{"taskExecutionContext":"..."}`), in one pass.
pub(crate) fn write_escaped_json(ctx: &TaskExecutionContext, dialect: Dialect, out: &mut Vec<u8>) {
    Writer::<true> { out }.context(ctx, dialect);
}

impl TaskExecutionContext {
    /// The JSON text `dialect`'s Java class writes (2.0.6+ adds `"endTime"` after
    /// `"startTime"`).
    pub fn to_json(&self, dialect: Dialect) -> Result<String, serde_json::Error> {
        let mut out = Vec::with_capacity(self.json_size_hint());
        write_json(self, dialect, &mut out);
        String::from_utf8(out).map_err(<serde_json::Error as serde::ser::Error>::custom)
    }

    /// Appends [`Self::to_json`]'s text to `out`, escaped as the content of a JSON string:
    /// what goes between the quotes of `{"taskExecutionContext":"..."}`, in one pass.
    pub(crate) fn write_escaped_json(
        &self,
        dialect: Dialect,
        out: &mut Vec<u8>,
    ) -> Result<(), serde_json::Error> {
        write_escaped_json(self, dialect, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::context::{
        DependenceTaskExecutionContext, ProcedureTaskExecutionContext, SqlTaskExecutionContext,
    };
    use crate::protocol::escape::EscapedFormatter;
    use crate::protocol::json::jackson;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[\"\\\\\\x00-\\x1f a-z/é😀{}:,\\[\\]]{0,40}",
            Just(String::new()),
        ]
    }

    fn opt_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(text())
    }

    fn opt_date() -> impl Strategy<Value = Option<DateTime<Utc>>> {
        proptest::option::of(
            prop_oneof![
                -2_208_988_800_000i64..4_102_444_800_000,
                -70_000_000_000_000i64..-62_000_000_000_000,
                250_000_000_000_000i64..260_000_000_000_000,
            ]
            .prop_map(|ms| date::from_epoch_millis(ms / 1000 * 1000)),
        )
        .prop_map(Option::flatten)
    }

    fn string_map() -> impl Strategy<Value = Option<OrderedMap<String>>> {
        proptest::option::of(
            proptest::collection::vec((text(), text()), 0..4)
                .prop_map(|v| v.into_iter().collect::<OrderedMap<String>>()),
        )
    }

    fn datax() -> impl Strategy<Value = Option<DataxTaskExecutionContext>> {
        proptest::option::of(
            (
                any::<i32>(),
                any::<i32>(),
                opt_text(),
                any::<i32>(),
                opt_text(),
            )
                .prop_map(|(a, b, c, d, e)| DataxTaskExecutionContext {
                    data_source_id: a,
                    source_type: b,
                    source_connection_params: c,
                    data_target_id: d,
                    target_type: a ^ d,
                    target_connection_params: e,
                }),
        )
    }

    prop_compose! {
        fn context()(
            ints in (any::<i32>(), any::<i32>(), any::<i32>(), any::<i32>(), any::<i32>(),
                     any::<i32>(), any::<i32>(), any::<i32>(), any::<i32>()),
            longs in (proptest::option::of(any::<i64>()), any::<i64>()),
            dates in (opt_date(), opt_date(), opt_date(), opt_date()),
            texts1 in (opt_text(), opt_text(), opt_text(), opt_text(), opt_text(), opt_text(),
                       opt_text(), opt_text()),
            texts2 in (opt_text(), opt_text(), opt_text(), opt_text(), opt_text(), opt_text(),
                       opt_text()),
            maps in (string_map(), string_map(), string_map()),
            subs in (datax(), datax(), proptest::option::of(opt_text()),
                     proptest::option::of(opt_text()), proptest::option::of((any::<i32>(),
                     opt_text(), opt_text()))),
            enums in (0i64..4, 0i64..20),
            params in proptest::option::of(proptest::collection::vec(
                (text(), opt_text(), opt_text(), opt_text(), opt_text()), 0..3)),
        ) -> TaskExecutionContext {
            TaskExecutionContext {
                task_instance_id: ints.0,
                task_name: texts1.0,
                first_submit_time: dates.0,
                start_time: dates.1,
                end_time: dates.2,
                task_type: texts1.1,
                host: texts1.2,
                execute_path: texts1.3,
                log_path: texts1.4,
                task_json: texts1.5,
                process_id: ints.1,
                process_define_code: longs.0,
                process_define_version: ints.2,
                app_ids: texts1.6,
                process_instance_id: ints.3,
                schedule_time: dates.3,
                global_params: texts1.7,
                executor_id: ints.4,
                cmd_type_if_complement: ints.5,
                tenant_code: texts2.0,
                queue: texts2.1,
                project_code: longs.1,
                task_params: texts2.2,
                env_file: texts2.3,
                environment_config: texts2.4,
                defined_params: maps.0,
                task_app_id: texts2.5,
                task_timeout_strategy: TaskTimeoutStrategy::from_code(enums.0).ok(),
                task_timeout: ints.6,
                worker_group: texts2.6,
                delay_time: ints.7,
                current_execution_status: ExecutionStatus::from_code(enums.1).ok(),
                resources: maps.1,
                sql_task_execution_context: subs.4.map(|(w, c, f)| SqlTaskExecutionContext {
                    warning_group_id: w,
                    connection_params: c,
                    udf_func_tenant_code_map: maps.2.clone(),
                    default_fs: f,
                }),
                datax_task_execution_context: subs.0,
                dependence_task_execution_context: subs.2
                    .map(|dependence| DependenceTaskExecutionContext { dependence }),
                sqoop_task_execution_context: subs.1,
                var_pool: None,
                dry_run: ints.8,
                params_map: params.map(|v| v.into_iter().map(|(k, prop, direct, ty, value)| {
                    (k, Property { prop, direct, r#type: ty, value })
                }).collect()),
                procedure_task_execution_context: subs.3
                    .map(|connection_params| ProcedureTaskExecutionContext { connection_params }),
            }
        }
    }

    fn dialect() -> impl Strategy<Value = Dialect> {
        prop_oneof![Just(Dialect::A), Just(Dialect::B), Just(Dialect::C)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn writes_what_serde_json_and_jackson_write(ctx in context(), d in dialect()) {
            let mut plain = Vec::new();
            write_json(&ctx, d, &mut plain);
            let mut want = Vec::new();
            ctx.write_json_serde(d, &mut want, jackson::JacksonFormatter).unwrap();
            prop_assert_eq!(String::from_utf8(plain).unwrap(), String::from_utf8(want).unwrap());

            let mut escaped = Vec::new();
            write_escaped_json(&ctx, d, &mut escaped);
            let mut want = Vec::new();
            ctx.write_json_serde(d, &mut want, EscapedFormatter).unwrap();
            prop_assert_eq!(String::from_utf8(escaped).unwrap(), String::from_utf8(want).unwrap());
        }
    }
}
