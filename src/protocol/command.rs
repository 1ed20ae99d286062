//! Typed command bodies (spec §6) and [`Command`], the decoded form of a frame.
//!
//! Each body is a plain struct whose field order is upstream's declaration order at 2.0.5, so
//! `serde_json` writes the same bytes as Jackson with upstream's `JSONUtils` settings (spec §5):
//! camelCase names, every property written (`null` included), enums by name, annotated dates
//! as GMT+8 strings (see [`super::date`]). Reading is as forgiving as Jackson: unknown keys are
//! ignored, missing keys take Java's defaults, integers also come as numeric strings or floats,
//! and an unknown enum name reads as `None`.
//!
//! Two bodies changed shape between releases, so they serialize per [`Dialect`]:
//! `TASK_EXECUTE_RESPONSE` (2.0.6 added four always-null keys in the middle) and
//! `TASK_KILL_RESPONSE` (2.0.3 added `processInstanceId`). Readers accept every shape.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use chrono::{DateTime, Utc};

use super::context::TaskExecutionContext;
use super::date;
use super::dialect::{CommandType, Dialect};
use super::escape;
use super::frame::{Frame, FrameKind};
use crate::model::ExecutionStatus;

/// `status` value of the acks that stop a worker's resend loop (`ExecutionStatus.SUCCESS`).
pub const STATUS_SUCCESS: i32 = 7;
/// `status` value upstream writes into acks when persisting failed (`ExecutionStatus.FAILURE`).
pub const STATUS_FAILURE: i32 = 6;
/// Body of every `HEART_BEAT` frame, as Java clients write it (10 ASCII bytes).
pub const HEART_BEAT_BODY: &[u8] = b"heart_beat";

/// Why a frame's body could not be turned into a [`Command`] or a command into a frame.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("malformed {command} body: {source}")]
    Json {
        command: CommandType,
        #[source]
        source: serde_json::Error,
    },
    #[error("malformed task execution context inside TASK_EXECUTE_REQUEST: {0}")]
    Context(#[source] serde_json::Error),
    #[error("type byte {0} is not a command of this dialect")]
    UnknownType(u8),
    #[error("{command} does not exist in dialect {dialect} and must not be sent to such a peer")]
    NotInDialect {
        command: CommandType,
        dialect: Dialect,
    },
}

use super::json::{jackson, lenient};
use lenient::JavaEnum;

/// Declares a Java enum carried by name inside a body.
macro_rules! java_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every constant, in Java declaration (ordinal) order.
            pub const VARIANTS: &'static [$name] = &[$($name::$variant),+];

            /// The Java constant name.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }
        }

        impl JavaEnum for $name {
            fn from_java_name(name: &str) -> Option<Self> {
                Self::VARIANTS.iter().copied().find(|v| v.name() == name)
            }
            fn from_ordinal(ordinal: i64) -> Option<Self> {
                usize::try_from(ordinal).ok().and_then(|i| Self::VARIANTS.get(i).copied())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        /// Strict: an unknown name is an error (fields use [`lenient::java_enum`] instead).
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::from_java_name(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown {} {s:?}", stringify!($name)))
                })
            }
        }
    };
}

java_enum! {
    /// `common.enums.CacheType` (2.0.3+): which Spring cache a `CACHE_EXPIRE` evicts from.
    CacheType {
        TENANT,
        USER,
        QUEUE,
        PROCESS_DEFINITION,
        PROCESS_TASK_RELATION,
        TASK_DEFINITION,
        WORKER_GROUP,
        SCHEDULE,
    }
}

java_enum! {
    /// `common.enums.Event`: the kind of a task event; on the wire only in `TASK_RECALL`.
    Event { ACK, RESULT, ACTION_STOP, WORKER_REJECT, REALLOCATE }
}

/// A typed body: its frame type and its JSON, possibly per dialect.
pub trait Body: Serialize + DeserializeOwned {
    const TYPE: CommandType;

    /// The body bytes as the given dialect's Java classes write them.
    fn to_json(&self, _dialect: Dialect) -> Result<Vec<u8>, serde_json::Error> {
        jackson::to_vec(self)
    }

    /// Parses a body of any dialect.
    fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

/// Re-lays out a serialized object: `edit` sees each key in order and returns the entries to
/// write in its place. (serde_json's `Map::remove` would reorder, so rebuild instead.)
fn relayout(value: Value, mut edit: impl FnMut(String, Value, &mut Map<String, Value>)) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len() + 4);
            for (k, v) in map {
                edit(k, v, &mut out);
            }
            Value::Object(out)
        }
        other => other,
    }
}

/// Declares the `{taskInstanceId, status}` replies, identical in shape.
macro_rules! status_reply {
    ($(#[$meta:meta])* $name:ident => $ty:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase", default)]
        pub struct $name {
            #[serde(deserialize_with = "lenient::int")]
            pub task_instance_id: i32,
            /// ExecutionStatus code; 7 (SUCCESS) stops the worker's resend of the answered message.
            #[serde(deserialize_with = "lenient::int")]
            pub status: i32,
        }

        impl $name {
            pub fn new(task_instance_id: i32, status: i32) -> Self {
                Self { task_instance_id, status }
            }

            /// The reply that makes the worker drop its cached message.
            pub fn success(task_instance_id: i32) -> Self {
                Self::new(task_instance_id, STATUS_SUCCESS)
            }

            pub fn is_success(&self) -> bool {
                self.status == STATUS_SUCCESS
            }
        }

        impl Body for $name {
            const TYPE: CommandType = CommandType::$ty;
        }
    };
}

/// `TASK_EXECUTE_REQUEST` (10), M → W: the task execution context as a JSON *string* inside
/// the JSON body (double-encoded, spec §6.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskExecuteRequestCommand {
    pub task_execution_context: String,
}

impl TaskExecuteRequestCommand {
    /// Wraps `ctx` laid out as 2.0.0–2.0.5 write it (no `endTime`); readers of every release
    /// accept it. Use [`Self::for_dialect`] for byte-exact 2.0.6+ output.
    pub fn new(ctx: &TaskExecutionContext) -> Result<Self, BodyError> {
        Self::for_dialect(ctx, Dialect::B)
    }

    /// Wraps `ctx` laid out as `dialect`'s `TaskExecutionContext` class writes it.
    pub fn for_dialect(ctx: &TaskExecutionContext, dialect: Dialect) -> Result<Self, BodyError> {
        Ok(Self {
            task_execution_context: ctx.to_json(dialect).map_err(BodyError::Context)?,
        })
    }

    /// Parses the inner context.
    pub fn context(&self) -> Result<TaskExecutionContext, BodyError> {
        TaskExecutionContext::from_json(&self.task_execution_context).map_err(BodyError::Context)
    }
}

/// Everything of a `TASK_EXECUTE_REQUEST` body before the escaped context.
const EXECUTE_REQUEST_HEAD: &[u8] = b"{\"taskExecutionContext\":\"";
/// ... and after it.
const EXECUTE_REQUEST_TAIL: &[u8] = b"\"}";

impl TaskExecuteRequestCommand {
    /// The body [`Body::to_json`] writes for `Self::for_dialect(ctx, dialect)`, built in one
    /// pass: the context is serialized straight into the outer string, already escaped,
    /// without the intermediate JSON text. Send it as
    /// `Command::Other(CommandType::TaskExecuteRequest, body)`.
    pub fn body_for(ctx: &TaskExecutionContext, dialect: Dialect) -> Result<Bytes, BodyError> {
        let hint = ctx.json_size_hint();
        let mut out = Vec::with_capacity(hint + hint / 4);
        out.extend_from_slice(EXECUTE_REQUEST_HEAD);
        ctx.write_escaped_json(dialect, &mut out)
            .map_err(BodyError::Context)?;
        out.extend_from_slice(EXECUTE_REQUEST_TAIL);
        Ok(Bytes::from(out))
    }
}

impl Body for TaskExecuteRequestCommand {
    const TYPE: CommandType = CommandType::TaskExecuteRequest;

    /// Same bytes as the derived serialization, escaped by hand in one go.
    fn to_json(&self, _dialect: Dialect) -> Result<Vec<u8>, serde_json::Error> {
        let inner = self.task_execution_context.as_bytes();
        let mut out = Vec::with_capacity(
            EXECUTE_REQUEST_HEAD.len() + inner.len() + inner.len() / 4 + EXECUTE_REQUEST_TAIL.len(),
        );
        out.extend_from_slice(EXECUTE_REQUEST_HEAD);
        escape::escape_into(&mut out, inner);
        out.extend_from_slice(EXECUTE_REQUEST_TAIL);
        Ok(out)
    }

    /// Bodies shaped exactly as every 2.0.x master writes them are unescaped directly; any
    /// other shape (whitespace, more keys, `null`, odd escapes, errors) goes through
    /// serde_json, so what is accepted and what is refused does not change.
    fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        if let Some(rest) = body.strip_prefix(EXECUTE_REQUEST_HEAD) {
            if let Some((context, quote)) = escape::unescape(rest) {
                if rest.get(quote..) == Some(EXECUTE_REQUEST_TAIL) {
                    return Ok(Self {
                        task_execution_context: context,
                    });
                }
            }
        }
        serde_json::from_slice(body)
    }
}

/// `TASK_EXECUTE_ACK` (11), W → M: the worker accepted (RUNNING_EXECUTION) or delayed
/// (DELAY_EXECUTION) a task. Answer with [`DbTaskAckCommand`] on the same connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskExecuteAckCommand {
    #[serde(deserialize_with = "lenient::int")]
    pub task_instance_id: i32,
    /// 0 in the "now running" ack of delayed tasks (upstream quirk, spec §6.2).
    #[serde(deserialize_with = "lenient::int")]
    pub process_instance_id: i32,
    #[serde(with = "date::gmt8")]
    pub start_time: Option<DateTime<Utc>>,
    /// The worker's own `ip:port`.
    pub host: Option<String>,
    /// ExecutionStatus code: 1 RUNNING_EXECUTION or 12 DELAY_EXECUTION.
    #[serde(deserialize_with = "lenient::int")]
    pub status: i32,
    pub log_path: Option<String>,
    pub execute_path: Option<String>,
}

impl Body for TaskExecuteAckCommand {
    const TYPE: CommandType = CommandType::TaskExecuteAck;
}

/// `TASK_EXECUTE_RESPONSE` (12), W → M: the task's final state. Answer with
/// [`DbTaskResponseCommand`] on the same connection.
///
/// The derived `Serialize` writes the 2.0.0–2.0.5 layout; [`Body::to_json`] with
/// [`Dialect::C`] writes the 2.0.6+ layout, which inserts `startTime` (epoch millis, no
/// `@JsonFormat`), `host`, `logPath` and `executePath` after `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskExecuteResponseCommand {
    #[serde(deserialize_with = "lenient::int")]
    pub task_instance_id: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub process_instance_id: i32,
    /// ExecutionStatus code of the final state (7 SUCCESS, 6 FAILURE, 9 KILL, ...).
    #[serde(deserialize_with = "lenient::int")]
    pub status: i32,
    /// 2.0.6+ only, never set by upstream.
    #[serde(with = "date::epoch_millis", skip_serializing)]
    pub start_time: Option<DateTime<Utc>>,
    /// 2.0.6+ only, never set by upstream.
    #[serde(skip_serializing)]
    pub host: Option<String>,
    /// 2.0.6+ only, never set by upstream.
    #[serde(skip_serializing)]
    pub log_path: Option<String>,
    /// 2.0.6+ only, never set by upstream.
    #[serde(skip_serializing)]
    pub execute_path: Option<String>,
    #[serde(with = "date::gmt8")]
    pub end_time: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "lenient::int")]
    pub process_id: i32,
    /// Comma-separated YARN application ids (a plain string here, unlike the kill response).
    pub app_ids: Option<String>,
    /// JSON array of `Property`, as a string.
    pub var_pool: Option<String>,
}

impl Body for TaskExecuteResponseCommand {
    const TYPE: CommandType = CommandType::TaskExecuteResponse;

    fn to_json(&self, dialect: Dialect) -> Result<Vec<u8>, serde_json::Error> {
        if dialect != Dialect::C {
            return jackson::to_vec(self);
        }
        let start_time = match self.start_time {
            Some(t) => Value::from(t.timestamp_millis()),
            None => Value::Null,
        };
        let extra = [
            ("startTime", start_time),
            ("host", Value::from(self.host.clone())),
            ("logPath", Value::from(self.log_path.clone())),
            ("executePath", Value::from(self.execute_path.clone())),
        ];
        let mut extra = Some(extra);
        let v = relayout(serde_json::to_value(self)?, |k, v, out| {
            let after_status = k == "status";
            out.insert(k, v);
            if after_status {
                for (ek, ev) in extra.take().into_iter().flatten() {
                    out.insert(ek.to_string(), ev);
                }
            }
        });
        jackson::to_vec(&v)
    }
}

status_reply! {
    /// `DB_TASK_ACK` (13), M → W on the connection the ack arrived on.
    DbTaskAckCommand => DbTaskAck
}

status_reply! {
    /// `DB_TASK_RESPONSE` (14), M → W on the connection the result arrived on.
    DbTaskResponseCommand => DbTaskResponse
}

/// `TASK_KILL_REQUEST` (15), M → W.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskKillRequestCommand {
    #[serde(deserialize_with = "lenient::int")]
    pub task_instance_id: i32,
}

impl Body for TaskKillRequestCommand {
    const TYPE: CommandType = CommandType::TaskKillRequest;
}

/// `TASK_KILL_RESPONSE` (16), W → M. Dialect A has no `processInstanceId` (reads as 0).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskKillResponseCommand {
    #[serde(deserialize_with = "lenient::int")]
    pub task_instance_id: i32,
    pub host: Option<String>,
    /// 7 if process and YARN kill succeeded, else 6.
    #[serde(deserialize_with = "lenient::int")]
    pub status: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub process_id: i32,
    /// 2.0.3+.
    #[serde(deserialize_with = "lenient::int")]
    pub process_instance_id: i32,
    /// A JSON array here (a `List<String>` upstream).
    pub app_ids: Option<Vec<String>>,
}

impl Body for TaskKillResponseCommand {
    const TYPE: CommandType = CommandType::TaskKillResponse;

    fn to_json(&self, dialect: Dialect) -> Result<Vec<u8>, serde_json::Error> {
        if dialect != Dialect::A {
            return jackson::to_vec(self);
        }
        let v = relayout(serde_json::to_value(self)?, |k, v, out| {
            if k != "processInstanceId" {
                out.insert(k, v);
            }
        });
        jackson::to_vec(&v)
    }
}

status_reply! {
    /// `TASK_KILL_RESPONSE_ACK` (17, 2.0.3+), M → W on the connection the kill response
    /// arrived on (`TaskKillAckCommand` upstream).
    TaskKillAckCommand => TaskKillResponseAck
}

/// `TASK_RECALL` (18, 2.0.6+), W → M: the worker rejected a dispatched task (queue full).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskRecallCommand {
    #[serde(deserialize_with = "lenient::int")]
    pub task_instance_id: i32,
    pub host: Option<String>,
    #[serde(deserialize_with = "lenient::int")]
    pub process_instance_id: i32,
    /// Always `WORKER_REJECT` from 2.0.6–2.0.9 workers.
    #[serde(deserialize_with = "lenient::java_enum")]
    pub event: Option<Event>,
    #[serde(deserialize_with = "lenient::int")]
    pub status: i32,
}

impl Body for TaskRecallCommand {
    const TYPE: CommandType = CommandType::TaskRecall;
}

status_reply! {
    /// `TASK_RECALL_ACK` (19, 2.0.6+), M → W; must carry the opaque of the recall it answers.
    TaskRecallAckCommand => TaskRecallAck
}

/// `PROCESS_HOST_UPDATE_REQUEST`, M → W: rebinds the task's callback channel to the
/// connection this arrives on (the worker ignores `processHost`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HostUpdateCommand {
    #[serde(deserialize_with = "lenient::int")]
    pub task_instance_id: i32,
    /// The sending master's `ip:port`.
    pub process_host: Option<String>,
}

impl HostUpdateCommand {
    pub fn new(task_instance_id: i32, process_host: impl Into<String>) -> Self {
        Self {
            task_instance_id,
            process_host: Some(process_host.into()),
        }
    }
}

impl Body for HostUpdateCommand {
    const TYPE: CommandType = CommandType::ProcessHostUpdateRequest;
}

/// `STATE_EVENT_REQUEST`, API → M and M → M: a stop/pause request or a sub-process finishing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StateEventChangeCommand {
    /// `"<srcProcess>-<srcTask>-<destProcess>-<destTask>"`.
    pub key: Option<String>,
    /// Unknown names (e.g. dev-branch `SERIAL_WAIT`) read as `None`, as Jackson reads null.
    #[serde(deserialize_with = "lenient::java_enum")]
    pub source_status: Option<ExecutionStatus>,
    #[serde(deserialize_with = "lenient::int")]
    pub source_process_instance_id: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub source_task_instance_id: i32,
    #[serde(deserialize_with = "lenient::int")]
    pub dest_process_instance_id: i32,
    /// 0 for a process-level event.
    #[serde(deserialize_with = "lenient::int")]
    pub dest_task_instance_id: i32,
}

impl StateEventChangeCommand {
    /// Builds the event and its key as upstream's constructor does.
    pub fn new(
        source_process_instance_id: i32,
        source_task_instance_id: i32,
        source_status: ExecutionStatus,
        dest_process_instance_id: i32,
        dest_task_instance_id: i32,
    ) -> Self {
        Self {
            key: Some(format!(
                "{source_process_instance_id}-{source_task_instance_id}-{dest_process_instance_id}-{dest_task_instance_id}"
            )),
            source_status: Some(source_status),
            source_process_instance_id,
            source_task_instance_id,
            dest_process_instance_id,
            dest_task_instance_id,
        }
    }
}

impl Body for StateEventChangeCommand {
    const TYPE: CommandType = CommandType::StateEventRequest;
}

/// `CACHE_EXPIRE` (2.0.3+), API → every master: evict one key of one cache.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CacheExpireCommand {
    #[serde(deserialize_with = "lenient::java_enum")]
    pub cache_type: Option<CacheType>,
    pub cache_key: Option<String>,
}

impl Body for CacheExpireCommand {
    const TYPE: CommandType = CommandType::CacheExpire;
}

/// A decoded frame. Types the master never needs to understand (log, alert, worker/master
/// request, host-update response) stay raw in [`Command::Other`].
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    TaskExecuteRequest(TaskExecuteRequestCommand),
    TaskExecuteAck(TaskExecuteAckCommand),
    TaskExecuteResponse(TaskExecuteResponseCommand),
    DbTaskAck(DbTaskAckCommand),
    DbTaskResponse(DbTaskResponseCommand),
    TaskKillRequest(TaskKillRequestCommand),
    TaskKillResponse(TaskKillResponseCommand),
    TaskKillResponseAck(TaskKillAckCommand),
    TaskRecall(TaskRecallCommand),
    TaskRecallAck(TaskRecallAckCommand),
    HostUpdate(HostUpdateCommand),
    StateEvent(StateEventChangeCommand),
    CacheExpire(CacheExpireCommand),
    HeartBeat,
    Ping,
    Pong,
    Other(CommandType, Bytes),
}

fn parse<B: Body>(body: &[u8]) -> Result<B, BodyError> {
    B::from_json(body).map_err(|source| BodyError::Json {
        command: B::TYPE,
        source,
    })
}

impl Command {
    /// The frame type this command travels as.
    pub fn command_type(&self) -> CommandType {
        match self {
            Command::TaskExecuteRequest(_) => CommandType::TaskExecuteRequest,
            Command::TaskExecuteAck(_) => CommandType::TaskExecuteAck,
            Command::TaskExecuteResponse(_) => CommandType::TaskExecuteResponse,
            Command::DbTaskAck(_) => CommandType::DbTaskAck,
            Command::DbTaskResponse(_) => CommandType::DbTaskResponse,
            Command::TaskKillRequest(_) => CommandType::TaskKillRequest,
            Command::TaskKillResponse(_) => CommandType::TaskKillResponse,
            Command::TaskKillResponseAck(_) => CommandType::TaskKillResponseAck,
            Command::TaskRecall(_) => CommandType::TaskRecall,
            Command::TaskRecallAck(_) => CommandType::TaskRecallAck,
            Command::HostUpdate(_) => CommandType::ProcessHostUpdateRequest,
            Command::StateEvent(_) => CommandType::StateEventRequest,
            Command::CacheExpire(_) => CommandType::CacheExpire,
            Command::HeartBeat => CommandType::HeartBeat,
            Command::Ping => CommandType::Ping,
            Command::Pong => CommandType::Pong,
            Command::Other(t, _) => *t,
        }
    }

    /// Parses a frame's body according to its type. `dialect` is the connection's; bodies of
    /// every dialect are accepted, so it only matters for future shape differences.
    pub fn decode(frame: &Frame, _dialect: Dialect) -> Result<Command, BodyError> {
        let ty = match frame.kind {
            FrameKind::Known(t) => t,
            FrameKind::Unknown(b) => return Err(BodyError::UnknownType(b)),
        };
        let b = &frame.body[..];
        Ok(match ty {
            CommandType::TaskExecuteRequest => Command::TaskExecuteRequest(parse(b)?),
            CommandType::TaskExecuteAck => Command::TaskExecuteAck(parse(b)?),
            CommandType::TaskExecuteResponse => Command::TaskExecuteResponse(parse(b)?),
            CommandType::DbTaskAck => Command::DbTaskAck(parse(b)?),
            CommandType::DbTaskResponse => Command::DbTaskResponse(parse(b)?),
            CommandType::TaskKillRequest => Command::TaskKillRequest(parse(b)?),
            CommandType::TaskKillResponse => Command::TaskKillResponse(parse(b)?),
            CommandType::TaskKillResponseAck => Command::TaskKillResponseAck(parse(b)?),
            CommandType::TaskRecall => Command::TaskRecall(parse(b)?),
            CommandType::TaskRecallAck => Command::TaskRecallAck(parse(b)?),
            CommandType::ProcessHostUpdateRequest => Command::HostUpdate(parse(b)?),
            CommandType::StateEventRequest => Command::StateEvent(parse(b)?),
            CommandType::CacheExpire => Command::CacheExpire(parse(b)?),
            CommandType::HeartBeat => Command::HeartBeat,
            CommandType::Ping => Command::Ping,
            CommandType::Pong => Command::Pong,
            other => Command::Other(other, frame.body.clone()),
        })
    }

    /// Builds the frame for `dialect`. Fails, before anything is written, if the dialect has
    /// no such type (a Java peer would close the connection on it).
    pub fn encode(&self, opaque: i64, dialect: Dialect) -> Result<Frame, BodyError> {
        let ty = self.command_type();
        if dialect.ordinal(ty).is_none() {
            return Err(BodyError::NotInDialect {
                command: ty,
                dialect,
            });
        }
        fn json<B: Body>(b: &B, d: Dialect) -> Result<Bytes, BodyError> {
            b.to_json(d)
                .map(Bytes::from)
                .map_err(|source| BodyError::Json {
                    command: B::TYPE,
                    source,
                })
        }
        let body = match self {
            Command::TaskExecuteRequest(c) => json(c, dialect)?,
            Command::TaskExecuteAck(c) => json(c, dialect)?,
            Command::TaskExecuteResponse(c) => json(c, dialect)?,
            Command::DbTaskAck(c) => json(c, dialect)?,
            Command::DbTaskResponse(c) => json(c, dialect)?,
            Command::TaskKillRequest(c) => json(c, dialect)?,
            Command::TaskKillResponse(c) => json(c, dialect)?,
            Command::TaskKillResponseAck(c) => json(c, dialect)?,
            Command::TaskRecall(c) => json(c, dialect)?,
            Command::TaskRecallAck(c) => json(c, dialect)?,
            Command::HostUpdate(c) => json(c, dialect)?,
            Command::StateEvent(c) => json(c, dialect)?,
            Command::CacheExpire(c) => json(c, dialect)?,
            Command::HeartBeat => Bytes::from_static(HEART_BEAT_BODY),
            Command::Ping | Command::Pong => Bytes::new(),
            Command::Other(_, body) => body.clone(),
        };
        Ok(Frame {
            kind: FrameKind::Known(ty),
            opaque,
            body,
        })
    }
}

macro_rules! from_body {
    ($($body:ident => $variant:ident),+ $(,)?) => {
        $(impl From<$body> for Command {
            fn from(b: $body) -> Command { Command::$variant(b) }
        })+
    };
}

from_body! {
    TaskExecuteRequestCommand => TaskExecuteRequest,
    TaskExecuteAckCommand => TaskExecuteAck,
    TaskExecuteResponseCommand => TaskExecuteResponse,
    DbTaskAckCommand => DbTaskAck,
    DbTaskResponseCommand => DbTaskResponse,
    TaskKillRequestCommand => TaskKillRequest,
    TaskKillResponseCommand => TaskKillResponse,
    TaskKillAckCommand => TaskKillResponseAck,
    TaskRecallCommand => TaskRecall,
    TaskRecallAckCommand => TaskRecallAck,
    HostUpdateCommand => HostUpdate,
    StateEventChangeCommand => StateEvent,
    CacheExpireCommand => CacheExpire,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<B: Body>(b: &B, d: Dialect) -> String {
        String::from_utf8(b.to_json(d).unwrap()).unwrap()
    }

    #[test]
    fn execute_request_fast_paths_match_serde_json() {
        let contexts = [
            "{\"a\":\"q\\\"\\\\ \\n\"}",
            "",
            "\u{1}\u{1f}\u{7f}\t\n\"\\/é😀\u{2028}",
        ];
        for inner in contexts {
            let cmd = TaskExecuteRequestCommand {
                task_execution_context: inner.to_string(),
            };
            let derived = jackson::to_vec(&cmd).unwrap();
            assert_eq!(cmd.to_json(Dialect::B).unwrap(), derived);
            assert_eq!(TaskExecuteRequestCommand::from_json(&derived).unwrap(), cmd);
        }
        // Other shapes still read (or fail) as serde_json reads them.
        for (body, want) in [
            (&br#"{ "taskExecutionContext" : "x" }"#[..], Some("x")),
            (br#"{"taskExecutionContext":"x","other":1}"#, Some("x")),
            (
                br#"{"taskExecutionContext":"\u0041\ud83d\ude00"}"#,
                Some("A😀"),
            ),
            (br#"{"taskExecutionContext":null}"#, None),
            (br#"{"taskExecutionContext":"x"} "#, Some("x")),
            (br#"{}"#, Some("")),
        ] {
            let ours = TaskExecuteRequestCommand::from_json(body).ok();
            let theirs: Option<TaskExecuteRequestCommand> = serde_json::from_slice(body).ok();
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(body));
            assert_eq!(ours.map(|c| c.task_execution_context).as_deref(), want);
        }
        for bad in [
            &br#"{"taskExecutionContext":"x"}}"#[..],
            br#"{"taskExecutionContext":"x"#,
            b"{\"taskExecutionContext\":\"a\nb\"}",
            br#"{"taskExecutionContext":"\ud800"}"#,
            b"{\"taskExecutionContext\":\"\xff\"}",
        ] {
            assert!(TaskExecuteRequestCommand::from_json(bad).is_err());
        }
    }

    #[test]
    fn execute_request_body_in_one_pass() {
        let mut ctx = TaskExecutionContext {
            task_name: Some("a\"b,\\".into()),
            task_params: Some("{\"rawScript\":\"echo \\\"1\\\"\\n\u{1}\"}".into()),
            end_time: date::from_epoch_millis(1_700_000_000_000),
            ..Default::default()
        };
        for _ in 0..2 {
            for d in [Dialect::A, Dialect::B, Dialect::C] {
                let two_pass = TaskExecuteRequestCommand::for_dialect(&ctx, d)
                    .unwrap()
                    .to_json(d)
                    .unwrap();
                assert_eq!(
                    &TaskExecuteRequestCommand::body_for(&ctx, d).unwrap()[..],
                    &two_pass[..]
                );
            }
            ctx.end_time = None;
        }
    }

    #[test]
    fn execute_response_layout_per_dialect() {
        let r = TaskExecuteResponseCommand {
            task_instance_id: 101,
            process_instance_id: 7,
            status: 9,
            ..Default::default()
        };
        let b = r#"{"taskInstanceId":101,"processInstanceId":7,"status":9,"endTime":null,"processId":0,"appIds":null,"varPool":null}"#;
        assert_eq!(json(&r, Dialect::B), b);
        assert_eq!(json(&r, Dialect::A), b);
        let c = r#"{"taskInstanceId":101,"processInstanceId":7,"status":9,"startTime":null,"host":null,"logPath":null,"executePath":null,"endTime":null,"processId":0,"appIds":null,"varPool":null}"#;
        assert_eq!(json(&r, Dialect::C), c);
        assert_eq!(
            TaskExecuteResponseCommand::from_json(c.as_bytes()).unwrap(),
            r
        );
        assert_eq!(
            TaskExecuteResponseCommand::from_json(b.as_bytes()).unwrap(),
            r
        );
    }

    #[test]
    fn execute_response_spec_example() {
        let s = r#"{"taskInstanceId":101,"processInstanceId":7,"status":7,"endTime":"2023-11-15 06:13:20","processId":4242,"appIds":"application_1_2","varPool":"[{\"prop\":\"x\",\"direct\":\"OUT\",\"type\":\"VARCHAR\",\"value\":\"1\"}]"}"#;
        let r = TaskExecuteResponseCommand::from_json(s.as_bytes()).unwrap();
        assert_eq!(
            r.end_time.map(|t| t.timestamp_millis()),
            Some(1_700_000_000_000)
        );
        assert_eq!(r.process_id, 4242);
        assert_eq!(json(&r, Dialect::B), s);
    }

    #[test]
    fn kill_response_layout_per_dialect() {
        let s = r#"{"taskInstanceId":101,"host":"192.168.1.20:1234","status":7,"processId":4242,"processInstanceId":7,"appIds":["application_1_2"]}"#;
        let k = TaskKillResponseCommand::from_json(s.as_bytes()).unwrap();
        assert_eq!(
            k.app_ids.as_deref(),
            Some(&["application_1_2".to_string()][..])
        );
        assert_eq!(json(&k, Dialect::B), s);
        assert_eq!(json(&k, Dialect::C), s);
        assert_eq!(
            json(&k, Dialect::A),
            r#"{"taskInstanceId":101,"host":"192.168.1.20:1234","status":7,"processId":4242,"appIds":["application_1_2"]}"#
        );
    }

    #[test]
    fn recall_example() {
        let s = r#"{"taskInstanceId":101,"host":null,"processInstanceId":7,"event":"WORKER_REJECT","status":0}"#;
        let r = TaskRecallCommand::from_json(s.as_bytes()).unwrap();
        assert_eq!(r.event, Some(Event::WORKER_REJECT));
        assert_eq!(json(&r, Dialect::C), s);
    }

    #[test]
    fn lenient_reading() {
        let a: TaskExecuteAckCommand = serde_json::from_str(
            r#"{"taskInstanceId":"101","processInstanceId":7.0,"status":" 1 ","bogus":[1,2],"startTime":null}"#,
        )
        .unwrap();
        assert_eq!(
            (a.task_instance_id, a.process_instance_id, a.status),
            (101, 7, 1)
        );
        let a: TaskExecuteAckCommand = serde_json::from_str(r#"{"taskInstanceId":null}"#).unwrap();
        assert_eq!(a, TaskExecuteAckCommand::default());
        assert!(
            serde_json::from_str::<TaskExecuteAckCommand>(r#"{"taskInstanceId":"x"}"#).is_err()
        );
        assert!(
            serde_json::from_str::<TaskExecuteAckCommand>(r#"{"taskInstanceId":3000000000}"#)
                .is_err()
        );
        let e: StateEventChangeCommand =
            serde_json::from_str(r#"{"sourceStatus":"SERIAL_WAIT","destProcessInstanceId":7}"#)
                .unwrap();
        assert_eq!(e.source_status, None);
        assert_eq!(e.dest_process_instance_id, 7);
        let e: StateEventChangeCommand = serde_json::from_str(r#"{"sourceStatus":4}"#).unwrap();
        assert_eq!(e.source_status, Some(ExecutionStatus::READY_STOP));
        let c: CacheExpireCommand =
            serde_json::from_str(r#"{"cacheType":"NOPE","cacheKey":"1"}"#).unwrap();
        assert_eq!(c.cache_type, None);
    }

    #[test]
    fn state_event_key() {
        let e = StateEventChangeCommand::new(7, 0, ExecutionStatus::READY_STOP, 7, 0);
        assert_eq!(e.key.as_deref(), Some("7-0-7-0"));
    }

    #[test]
    fn missing_types_are_refused() {
        let c = Command::TaskRecallAck(TaskRecallAckCommand::success(1));
        assert!(matches!(
            c.encode(1, Dialect::B),
            Err(BodyError::NotInDialect { .. })
        ));
        assert!(c.encode(1, Dialect::C).is_ok());
        let c = Command::CacheExpire(CacheExpireCommand::default());
        assert!(c.encode(1, Dialect::A).is_err());
    }

    #[test]
    fn heartbeat_and_other() {
        let f = Command::HeartBeat.encode(5, Dialect::A).unwrap();
        assert_eq!(&f.body[..], b"heart_beat");
        assert_eq!(Command::decode(&f, Dialect::A).unwrap(), Command::HeartBeat);
        let f = Frame::new(
            CommandType::ViewWholeLogRequest,
            9,
            &b"{\"path\":\"/x\"}"[..],
        );
        let c = Command::decode(&f, Dialect::B).unwrap();
        assert_eq!(c.command_type(), CommandType::ViewWholeLogRequest);
        assert_eq!(c.encode(9, Dialect::B).unwrap(), f);
        let bad = Frame::new(CommandType::DbTaskAck, 1, &b"not json"[..]);
        assert!(matches!(
            Command::decode(&bad, Dialect::B),
            Err(BodyError::Json {
                command: CommandType::DbTaskAck,
                ..
            })
        ));
        let unknown = Frame {
            kind: FrameKind::Unknown(99),
            opaque: 1,
            body: Bytes::new(),
        };
        assert!(matches!(
            Command::decode(&unknown, Dialect::B),
            Err(BodyError::UnknownType(99))
        ));
    }
}
