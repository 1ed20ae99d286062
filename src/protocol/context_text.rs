//! The JSON text of a [`TaskExecutionContext`], written and read by hand: the dispatch hot
//! path.
//!
//! Every dispatch sends the whole context as a JSON string inside `{"taskExecutionContext":
//! "..."}` (spec §6.1), so the text is escaped twice and the task's own `taskParams` (JSON in
//! a string in a string) three times. Going through serde_json means a generic serializer,
//! a formatter call per token and escape, and on the way back two parsers over the same
//! bytes. Here the layout is fixed in code (keys written as constants, already escaped for
//! the level they go to) and the reader takes the body's escaped text straight to the typed
//! context in one pass.
//!
//! Exactness is kept by construction and checked by tests:
//! * the writer produces the bytes serde_json with the Jackson formatter produces (field
//!   order as declared in [`super::context`], `endTime` after `startTime` in [`Dialect::C`]
//!   only, Jackson's escapes);
//! * the reader accepts only the text Jackson writes (no whitespace, known keys once each,
//!   plain numbers, the usual escapes) and answers `None` for anything else, so the caller
//!   falls back to serde_json and every other input, odd or wrong, is judged exactly as
//!   before. Whatever it accepts it reads as serde_json does (a property test mutates bodies
//!   and compares both readers).

use chrono::{DateTime, Utc};

use super::command::{self, BodyError, TaskExecuteRequestCommand};
use super::context::{
    DataxTaskExecutionContext, DependenceTaskExecutionContext, OrderedMap,
    ProcedureTaskExecutionContext, Property, SqlTaskExecutionContext, TaskExecutionContext,
};
use super::date;
use super::dialect::Dialect;
use super::escape::{escape_content, special_mask, ESCAPE_ONCE, ESCAPE_TWICE, UNESCAPE};
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

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// Reads the context's JSON text as it appears escaped inside the request body. Every method
/// answers `None` when the text is not what Jackson writes; nothing is reported, since the
/// caller then hands the body to serde_json, which explains the error if there is one.
struct Reader<'a> {
    s: &'a [u8],
    i: usize,
    /// Unescaped string bytes land here before being copied into their own `String`:
    /// unescaping never lengthens, so `s.len() + 8` bytes hold any string with 8-byte stores.
    scratch: Vec<u8>,
}

/// One of the keys of an object that may come at most once (serde refuses duplicates).
fn first_time(seen: &mut u64, field: u32) -> Option<()> {
    let bit = 1u64 << field;
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
}

impl<'a> Reader<'a> {
    fn eat(&mut self, lit: &[u8]) -> Option<()> {
        if self.s.get(self.i..self.i + lit.len())? == lit {
            self.i += lit.len();
            Some(())
        } else {
            None
        }
    }

    /// Consumes `null` if it comes next.
    fn null(&mut self) -> bool {
        self.eat(b"null").is_some()
    }

    /// A key, `\"name\"` then `:`; names never contain escapes.
    fn key(&mut self) -> Option<&'a [u8]> {
        self.eat(b"\\\"")?;
        let start = self.i;
        let len = self.s.get(start..)?.iter().position(|&b| b == b'\\')?;
        self.i += len;
        self.eat(b"\\\":")?;
        Some(&self.s[start..start + len])
    }

    /// An object's entries: `{}` or `{k:v,...}`, `entry` reading each value.
    fn object(&mut self, mut entry: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.eat(b"{")?;
        if self.eat(b"}").is_some() {
            return Some(());
        }
        loop {
            let k = self.key()?;
            entry(self, k)?;
            match self.s.get(self.i)? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A JSON integer (no fraction, no exponent, no leading zero, not `-0`), or `null`.
    fn opt_long(&mut self) -> Option<Option<i64>> {
        if self.null() {
            return Some(None);
        }
        let negative = self.eat(b"-").is_some();
        let digits = self.s.get(self.i..)?;
        let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || (digits[0] == b'0' && (n > 1 || negative)) {
            return None;
        }
        let mut v: i64 = 0;
        for &d in &digits[..n] {
            let d = i64::from(d - b'0');
            v = v.checked_mul(10)?;
            v = if negative {
                v.checked_sub(d)?
            } else {
                v.checked_add(d)?
            };
        }
        self.i += n;
        Some(Some(v))
    }

    /// A Java `long`: null reads as 0 (`lenient::long`).
    fn long(&mut self) -> Option<i64> {
        Some(self.opt_long()?.unwrap_or(0))
    }

    /// A Java `int`: null reads as 0; out of range is an error (`lenient::int`).
    fn int(&mut self) -> Option<i32> {
        i32::try_from(self.long()?).ok()
    }

    /// A string value (quotes included), escaped twice: once by the context's JSON, once by
    /// the body's string.
    fn str(&mut self) -> Option<String> {
        self.eat(b"\\\"")?;
        let s = self.s;
        let mut i = self.i;
        let mut pos = 0;
        loop {
            // Plain bytes, eight at a time, up to the next `"`, `\` or control byte.
            while let Some(chunk) = s.get(i..i + 8) {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                self.scratch.get_mut(pos..pos + 8)?.copy_from_slice(&word);
                let mask = special_mask(u64::from_le_bytes(word));
                if mask == 0 {
                    pos += 8;
                    i += 8;
                } else {
                    let plain = (mask.trailing_zeros() / 8) as usize;
                    pos += plain;
                    i += plain;
                    break;
                }
            }
            match *s.get(i)? {
                b'\\' => {}
                // A raw quote ends the body's string; a raw control byte is invalid there.
                b'"' | 0..=0x1F => return None,
                b => {
                    // Fewer than 8 bytes are left.
                    *self.scratch.get_mut(pos)? = b;
                    pos += 1;
                    i += 1;
                    continue;
                }
            }
            let byte = match *s.get(i + 1)? {
                // `\"`: the context's quote, the end of this string.
                b'"' => {
                    self.i = i + 2;
                    let text = std::str::from_utf8(self.scratch.get(..pos)?).ok()?;
                    return Some(text.to_owned());
                }
                // `\\`: an escape of the context's text, its letter escaped once more if
                // it is `"` or `\`.
                b'\\' => match *s.get(i + 2)? {
                    b'\\' => {
                        let c = *s.get(i + 3)?;
                        if c != b'"' && c != b'\\' {
                            return None;
                        }
                        i += 4;
                        c
                    }
                    b'u' => {
                        let c = char::from_u32(hex4(s.get(i + 3..i + 7)?)?)?;
                        i += 7;
                        let mut utf8 = [0u8; 4];
                        let utf8 = c.encode_utf8(&mut utf8).as_bytes();
                        self.scratch
                            .get_mut(pos..pos + utf8.len())?
                            .copy_from_slice(utf8);
                        pos += utf8.len();
                        continue;
                    }
                    letter => {
                        let c = UNESCAPE[usize::from(letter)];
                        if c == 0 || letter == b'"' || letter == b'\\' {
                            return None;
                        }
                        i += 3;
                        c
                    }
                },
                // `\/`: a plain `/` in the context's text.
                b'/' => {
                    i += 2;
                    b'/'
                }
                // Any other escape of the body stands for a raw control character (invalid
                // inside the context's string) or for `\u` text: left to serde_json.
                _ => return None,
            };
            *self.scratch.get_mut(pos)? = byte;
            pos += 1;
        }
    }

    fn opt_str(&mut self) -> Option<Option<String>> {
        if self.null() {
            return Some(None);
        }
        self.str().map(Some)
    }

    /// `date::gmt8`'s reading of a string or null (numbers are left to serde_json).
    fn date(&mut self) -> Option<Option<DateTime<Utc>>> {
        match self.opt_str()? {
            None => Some(None),
            Some(s) if s.trim().is_empty() => Some(None),
            Some(s) => date::parse_gmt8(&s).ok().map(Some),
        }
    }

    /// `lenient::java_enum` on a name or null: unknown names read as `None`.
    fn name<T>(&mut self, from_name: impl Fn(&str) -> Option<T>) -> Option<Option<T>> {
        Some(self.opt_str()?.and_then(|n| from_name(&n)))
    }

    /// A map with string keys (`OrderedMap::insert`: a repeated key replaces the value in
    /// place, as when serde_json reads it), or null.
    fn map<V>(
        &mut self,
        mut value: impl FnMut(&mut Self) -> Option<V>,
    ) -> Option<Option<OrderedMap<V>>> {
        if self.null() {
            return Some(None);
        }
        let mut m = OrderedMap::new();
        self.eat(b"{")?;
        if self.eat(b"}").is_some() {
            return Some(Some(m));
        }
        loop {
            let k = self.str()?;
            self.eat(b":")?;
            let v = value(self)?;
            m.insert(k, v);
            match self.s.get(self.i)? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(Some(m));
                }
                _ => return None,
            }
        }
    }

    fn property(&mut self) -> Option<Property> {
        let mut p = Property::default();
        let mut seen = 0;
        self.object(|r, k| {
            let (field, slot) = match k {
                b"prop" => (0, &mut p.prop),
                b"direct" => (1, &mut p.direct),
                b"type" => (2, &mut p.r#type),
                b"value" => (3, &mut p.value),
                _ => return None,
            };
            first_time(&mut seen, field)?;
            *slot = r.opt_str()?;
            Some(())
        })?;
        Some(p)
    }

    fn datax(&mut self) -> Option<Option<DataxTaskExecutionContext>> {
        if self.null() {
            return Some(None);
        }
        let mut c = DataxTaskExecutionContext::default();
        let mut seen = 0;
        self.object(|r, k| {
            match k {
                b"dataSourceId" => {
                    first_time(&mut seen, 0)?;
                    c.data_source_id = r.int()?;
                }
                b"sourcetype" => {
                    first_time(&mut seen, 1)?;
                    c.source_type = r.int()?;
                }
                b"sourceConnectionParams" => {
                    first_time(&mut seen, 2)?;
                    c.source_connection_params = r.opt_str()?;
                }
                b"dataTargetId" => {
                    first_time(&mut seen, 3)?;
                    c.data_target_id = r.int()?;
                }
                b"targetType" => {
                    first_time(&mut seen, 4)?;
                    c.target_type = r.int()?;
                }
                b"targetConnectionParams" => {
                    first_time(&mut seen, 5)?;
                    c.target_connection_params = r.opt_str()?;
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(Some(c))
    }

    fn sql(&mut self) -> Option<Option<SqlTaskExecutionContext>> {
        if self.null() {
            return Some(None);
        }
        let mut c = SqlTaskExecutionContext::default();
        let mut seen = 0;
        self.object(|r, k| {
            match k {
                b"warningGroupId" => {
                    first_time(&mut seen, 0)?;
                    c.warning_group_id = r.int()?;
                }
                b"connectionParams" => {
                    first_time(&mut seen, 1)?;
                    c.connection_params = r.opt_str()?;
                }
                b"udfFuncTenantCodeMap" => {
                    first_time(&mut seen, 2)?;
                    c.udf_func_tenant_code_map = r.map(Self::str)?;
                }
                b"defaultFS" => {
                    first_time(&mut seen, 3)?;
                    c.default_fs = r.opt_str()?;
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(Some(c))
    }

    /// An object whose only key holds an optional string (the procedure and dependence
    /// sub-contexts).
    fn one_string(&mut self, name: &[u8]) -> Option<Option<Option<String>>> {
        if self.null() {
            return Some(None);
        }
        let mut value = None;
        let mut seen = 0;
        self.object(|r, k| {
            if k != name {
                return None;
            }
            first_time(&mut seen, 0)?;
            value = r.opt_str()?;
            Some(())
        })?;
        Some(Some(value))
    }

    fn context(&mut self) -> Option<TaskExecutionContext> {
        let mut c = TaskExecutionContext::default();
        let mut seen = 0;
        self.object(|r, k| {
            let field = match k {
                b"taskInstanceId" => {
                    c.task_instance_id = r.int()?;
                    0
                }
                b"taskName" => {
                    c.task_name = r.opt_str()?;
                    1
                }
                b"firstSubmitTime" => {
                    c.first_submit_time = r.date()?;
                    2
                }
                b"startTime" => {
                    c.start_time = r.date()?;
                    3
                }
                b"endTime" => {
                    c.end_time = r.date()?;
                    4
                }
                b"taskType" => {
                    c.task_type = r.opt_str()?;
                    5
                }
                b"host" => {
                    c.host = r.opt_str()?;
                    6
                }
                b"executePath" => {
                    c.execute_path = r.opt_str()?;
                    7
                }
                b"logPath" => {
                    c.log_path = r.opt_str()?;
                    8
                }
                b"taskJson" => {
                    c.task_json = r.opt_str()?;
                    9
                }
                b"processId" => {
                    c.process_id = r.int()?;
                    10
                }
                b"processDefineCode" => {
                    c.process_define_code = r.opt_long()?;
                    11
                }
                b"processDefineVersion" => {
                    c.process_define_version = r.int()?;
                    12
                }
                b"appIds" => {
                    c.app_ids = r.opt_str()?;
                    13
                }
                b"processInstanceId" => {
                    c.process_instance_id = r.int()?;
                    14
                }
                b"scheduleTime" => {
                    c.schedule_time = r.date()?;
                    15
                }
                b"globalParams" => {
                    c.global_params = r.opt_str()?;
                    16
                }
                b"executorId" => {
                    c.executor_id = r.int()?;
                    17
                }
                b"cmdTypeIfComplement" => {
                    c.cmd_type_if_complement = r.int()?;
                    18
                }
                b"tenantCode" => {
                    c.tenant_code = r.opt_str()?;
                    19
                }
                b"queue" => {
                    c.queue = r.opt_str()?;
                    20
                }
                b"projectCode" => {
                    c.project_code = r.long()?;
                    21
                }
                b"taskParams" => {
                    c.task_params = r.opt_str()?;
                    22
                }
                b"envFile" => {
                    c.env_file = r.opt_str()?;
                    23
                }
                b"environmentConfig" => {
                    c.environment_config = r.opt_str()?;
                    24
                }
                b"definedParams" => {
                    c.defined_params = r.map(Self::str)?;
                    25
                }
                b"taskAppId" => {
                    c.task_app_id = r.opt_str()?;
                    26
                }
                b"taskTimeoutStrategy" => {
                    c.task_timeout_strategy = r.name(|n| TaskTimeoutStrategy::from_name(n).ok())?;
                    27
                }
                b"taskTimeout" => {
                    c.task_timeout = r.int()?;
                    28
                }
                b"workerGroup" => {
                    c.worker_group = r.opt_str()?;
                    29
                }
                b"delayTime" => {
                    c.delay_time = r.int()?;
                    30
                }
                b"currentExecutionStatus" => {
                    c.current_execution_status = r.name(|n| ExecutionStatus::from_name(n).ok())?;
                    31
                }
                b"resources" => {
                    c.resources = r.map(Self::str)?;
                    32
                }
                b"sqlTaskExecutionContext" => {
                    c.sql_task_execution_context = r.sql()?;
                    33
                }
                b"dataxTaskExecutionContext" => {
                    c.datax_task_execution_context = r.datax()?;
                    34
                }
                b"dependenceTaskExecutionContext" => {
                    c.dependence_task_execution_context = r
                        .one_string(b"dependence")?
                        .map(|dependence| DependenceTaskExecutionContext { dependence });
                    35
                }
                b"sqoopTaskExecutionContext" => {
                    c.sqoop_task_execution_context = r.datax()?;
                    36
                }
                b"varPool" => {
                    c.var_pool = r.opt_str()?;
                    37
                }
                b"dryRun" => {
                    c.dry_run = r.int()?;
                    38
                }
                b"paramsMap" => {
                    c.params_map = r.map(Self::property)?;
                    39
                }
                b"procedureTaskExecutionContext" => {
                    c.procedure_task_execution_context =
                        r.one_string(b"connectionParams")?.map(|connection_params| {
                            ProcedureTaskExecutionContext { connection_params }
                        });
                    40
                }
                _ => return None,
            };
            first_time(&mut seen, field)
        })?;
        Some(c)
    }
}

/// Reads the context from the part of a `TASK_EXECUTE_REQUEST` body after
/// `{"taskExecutionContext":"`, which must end with the context's closing brace and `"}`.
/// `None`: not exactly what Jackson writes; parse the body with serde_json instead.
pub(crate) fn read_escaped_json(rest: &[u8]) -> Option<TaskExecutionContext> {
    let mut r = Reader {
        s: rest,
        i: 0,
        scratch: vec![0u8; rest.len() + 8],
    };
    let ctx = r.context()?;
    (rest.get(r.i..)? == b"\"}").then_some(ctx)
}

fn hex4(s: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in s {
        v = v << 4 | char::from(c).to_digit(16)?;
    }
    Some(v)
}

impl TaskExecuteRequestCommand {
    /// Reads the context out of a `TASK_EXECUTE_REQUEST` body in one pass: what
    /// `Command::decode` followed by [`Self::context`] gives, without the intermediate JSON
    /// text. A body that is not exactly what Jackson writes takes that two-step path, so
    /// the result and the errors are the same either way.
    pub fn context_from_body(body: &[u8]) -> Result<TaskExecutionContext, BodyError> {
        if let Some(rest) = body.strip_prefix(command::EXECUTE_REQUEST_HEAD) {
            if let Some(ctx) = read_escaped_json(rest) {
                return Ok(ctx);
            }
        }
        command::parse::<Self>(body)?.context()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::command::TaskExecuteRequestCommand;
    use crate::protocol::escape::EscapedFormatter;
    use crate::protocol::json::jackson;
    use proptest::prelude::*;

    /// serde_json's reading of a whole request body: the reference for the one-pass reader.
    fn serde_read(body: &[u8]) -> Option<TaskExecutionContext> {
        let cmd: TaskExecuteRequestCommand = serde_json::from_slice(body).ok()?;
        TaskExecutionContext::from_json(&cmd.task_execution_context).ok()
    }

    fn body(ctx: &TaskExecutionContext, d: Dialect) -> Vec<u8> {
        let mut out = b"{\"taskExecutionContext\":\"".to_vec();
        write_escaped_json(ctx, d, &mut out);
        out.extend_from_slice(b"\"}");
        out
    }

    fn fast_read(body: &[u8]) -> Option<TaskExecutionContext> {
        read_escaped_json(body.strip_prefix(b"{\"taskExecutionContext\":\"")?)
    }

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

    /// Edits that keep most of a body and hit the places the reader judges.
    fn mutate(body: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
        const BYTES: &[u8] = b"\\\"{}:,0123456789-.eEnulr tu/ \n\x01\xc3\xa9\xff";
        let mut b = body.to_vec();
        for &(at, what, byte) in edits {
            if b.is_empty() {
                break;
            }
            let at = at % b.len();
            let byte = BYTES[usize::from(byte) % BYTES.len()];
            match what % 3 {
                0 => b[at] = byte,
                1 => b.insert(at, byte),
                _ => {
                    b.remove(at);
                }
            }
        }
        b
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

        #[test]
        fn reads_what_it_writes_as_serde_json_does(ctx in context(), d in dialect()) {
            let body = body(&ctx, d);
            let want = serde_read(&body);
            let got = fast_read(&body);
            if want.is_some() {
                // Everything Jackson writes is taken by the fast path, except dates beyond
                // the year 9999 (left to serde_json).
                let far = [ctx.first_submit_time, ctx.start_time, ctx.end_time, ctx.schedule_time]
                    .iter().flatten().any(|t| date::write_gmt8(*t, &mut [0; 19]).is_none());
                prop_assert!(got.is_some() || far);
            }
            if let Some(got) = got {
                prop_assert_eq!(Some(got), want);
            }
        }

        #[test]
        fn whatever_the_fast_path_accepts_serde_json_reads_the_same(
            ctx in context(), d in dialect(),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
        ) {
            let body = mutate(&body(&ctx, d), &edits);
            if let Some(got) = fast_read(&body) {
                prop_assert_eq!(Some(got), serde_read(&body));
            }
        }
    }

    #[test]
    fn odd_but_valid_bodies_fall_back_and_read_the_same() {
        let mut ctx = TaskExecutionContext {
            task_name: Some("a\"b\\c\u{1}\n/é".into()),
            ..Default::default()
        };
        ctx.resources = Some([("k\"", "v".to_string())].into_iter().collect());
        let good = body(&ctx, Dialect::B);
        let text = String::from_utf8(good.clone()).unwrap();
        for odd in [
            text.replace("{\\\"taskInstanceId", "{ \\\"taskInstanceId"),
            text.replace(
                "\\\"taskInstanceId\\\":0",
                "\\\"taskInstanceId\\\":\\\"0\\\"",
            ),
            text.replace("\\\"taskInstanceId\\\":0", "\\\"taskInstanceId\\\":0.0"),
            text.replace("\\\"dryRun\\\":0", "\\\"dryRun\\\":0,\\\"extra\\\":1"),
            text.replace("\\\"dryRun\\\":0", "\\\"dryRun\\\":0,\\\"dryRun\\\":1"),
            text.replace(
                "\\\"taskType\\\":null",
                "\\\"taskType\\\":\\\"\\\\ud83d\\\\ude00\\\"",
            ),
            text.replace("\"}", "\"} "),
        ] {
            let odd = odd.into_bytes();
            assert_ne!(odd, good);
            assert_eq!(fast_read(&odd), None, "{}", String::from_utf8_lossy(&odd));
            let via = TaskExecuteRequestCommand::context_from_body(&odd).ok();
            assert_eq!(via, serde_read(&odd));
        }
        assert_eq!(fast_read(&good), Some(ctx.clone()));
        let u = text.replace(
            "\\\"taskType\\\":null",
            "\\\"taskType\\\":\\\"\\\\u0041\\\"",
        );
        let read = fast_read(u.as_bytes()).unwrap();
        assert_eq!(read.task_type.as_deref(), Some("A"));
        assert_eq!(Some(read), serde_read(u.as_bytes()));
        assert_eq!(
            TaskExecuteRequestCommand::context_from_body(&good).unwrap(),
            ctx
        );
    }
}
