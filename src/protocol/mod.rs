//! The Netty command wire protocol of DolphinScheduler 2.0.x (`shared/spec/protocol.md`),
//! spoken byte for byte so Java workers, API servers and masters cannot tell us apart.
//!
//! | file | owns |
//! |---|---|
//! | [`dialect`] | the three `CommandType` enums (2.0.0–2.0.2, 2.0.3–2.0.5, 2.0.6–2.0.9) and the one ordinal table |
//! | [`frame`] | the byte layout of a frame, as a `tokio_util` codec with size limits; the opaque counter |
//! | [`command`] | typed JSON bodies (Jackson-compatible writing and lenient reading) and [`Command`] |
//! | [`context`] | `TaskExecutionContext`, the payload of `TASK_EXECUTE_REQUEST` |
//! | `context_text` | that context's JSON written and read by hand, in one pass to and from the escaped body (the dispatch hot path) |
//! | `escape` | fast JSON string (un)escaping for the double-encoded `TASK_EXECUTE_REQUEST` body |
//! | [`date`] | the GMT+8 `yyyy-MM-dd HH:mm:ss` and epoch-millis date codecs used inside bodies |
//! | [`link`] | connections: the accept loop, cached outbound links with heartbeats, [`Inbound`] delivery |
//!
//! Layering: `link` reads bytes into [`Frame`]s with [`FrameCodec`] (which knows the
//! [`Dialect`] only to map the type byte), turns them into [`Command`]s and hands each to the
//! owner of the process role together with the [`Link`] to answer on. Nothing here knows about
//! workflows or the database; deciding what a command means is `dispatch`'s and `engine`'s job.

pub mod command;
pub mod context;
mod context_text;
pub mod date;
pub mod dialect;
mod escape;
pub mod frame;
pub(crate) mod json;
pub mod link;

pub use command::{
    Body, BodyError, CacheExpireCommand, CacheType, Command, DbTaskAckCommand,
    DbTaskResponseCommand, Event, HostUpdateCommand, StateEventChangeCommand,
    TaskExecuteAckCommand, TaskExecuteRequestCommand, TaskExecuteResponseCommand,
    TaskKillAckCommand, TaskKillRequestCommand, TaskKillResponseCommand, TaskRecallAckCommand,
    TaskRecallCommand, HEART_BEAT_BODY, STATUS_FAILURE, STATUS_SUCCESS,
};
pub use context::{
    DataxTaskExecutionContext, DependenceTaskExecutionContext, OrderedMap,
    ProcedureTaskExecutionContext, Property, SqlTaskExecutionContext, SqoopTaskExecutionContext,
    TaskExecutionContext, UdfFuncRequest,
};
pub use dialect::{CommandType, Dialect, UnknownDialect};
pub use frame::{next_opaque, Frame, FrameCodec, FrameError, FrameKind, DEFAULT_MAX_FRAME};
pub use link::{serve, Connector, Inbound, Link, LinkError, LinkOptions};
