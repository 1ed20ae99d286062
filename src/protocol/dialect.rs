//! The three type-byte dialects of the wire protocol and the one table mapping ordinals to
//! command types.
//!
//! Java writes `CommandType.ordinal()` as the frame's type byte, and the enum gained members
//! in 2.0.3 and in 2.0.6 (spec §4), so the same byte means different commands depending on the
//! peer's release. The dialect cannot be negotiated on the wire; the operator configures it.
//! Everything that turns a type byte into a [`CommandType`] or back goes through
//! [`Dialect::ordinal`] / [`Dialect::command_type`], which read [`ENUMS`].

use std::fmt;
use std::str::FromStr;

/// Which release family's `CommandType` enum the cluster speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Dev seed commit and 2.0.0–2.0.2 (25 types).
    A,
    /// 2.0.3–2.0.5 (27 types): adds TASK_KILL_RESPONSE_ACK and CACHE_EXPIRE.
    B,
    /// 2.0.6–2.0.9 (29 types): adds TASK_RECALL and TASK_RECALL_ACK.
    C,
}

/// Every member of upstream's `remote.command.CommandType` across 2.0.x.
///
/// Named after the Java constants ([`CommandType::name`] gives the exact spelling, including
/// upstream's `REMOVE_TAK_LOG_*` typo).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandType {
    RemoveTakLogRequest,
    RemoveTakLogResponse,
    RollViewLogRequest,
    RollViewLogResponse,
    ViewWholeLogRequest,
    ViewWholeLogResponse,
    GetLogBytesRequest,
    GetLogBytesResponse,
    WorkerRequest,
    MasterResponse,
    TaskExecuteRequest,
    TaskExecuteAck,
    TaskExecuteResponse,
    DbTaskAck,
    DbTaskResponse,
    TaskKillRequest,
    TaskKillResponse,
    /// 2.0.3+.
    TaskKillResponseAck,
    /// 2.0.6+.
    TaskRecall,
    /// 2.0.6+.
    TaskRecallAck,
    HeartBeat,
    Ping,
    Pong,
    AlertSendRequest,
    AlertSendResponse,
    ProcessHostUpdateRequest,
    ProcessHostUpdateResponse,
    StateEventRequest,
    /// 2.0.3+.
    CacheExpire,
}

use CommandType as T;

/// Ordinals 0–16, shared by every dialect.
macro_rules! common_prefix {
    () => {
        [
            T::RemoveTakLogRequest,
            T::RemoveTakLogResponse,
            T::RollViewLogRequest,
            T::RollViewLogResponse,
            T::ViewWholeLogRequest,
            T::ViewWholeLogResponse,
            T::GetLogBytesRequest,
            T::GetLogBytesResponse,
            T::WorkerRequest,
            T::MasterResponse,
            T::TaskExecuteRequest,
            T::TaskExecuteAck,
            T::TaskExecuteResponse,
            T::DbTaskAck,
            T::DbTaskResponse,
            T::TaskKillRequest,
            T::TaskKillResponse,
        ]
    };
}

const fn concat<const N: usize, const M: usize, const R: usize>(
    a: [CommandType; N],
    b: [CommandType; M],
) -> [CommandType; R] {
    let mut out = [T::HeartBeat; R];
    let mut i = 0;
    while i < N {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < M {
        out[N + j] = b[j];
        j += 1;
    }
    out
}

const DIALECT_A: [CommandType; 25] = concat(
    common_prefix!(),
    [
        T::HeartBeat,
        T::Ping,
        T::Pong,
        T::AlertSendRequest,
        T::AlertSendResponse,
        T::ProcessHostUpdateRequest,
        T::ProcessHostUpdateResponse,
        T::StateEventRequest,
    ],
);

const DIALECT_B: [CommandType; 27] = concat(
    common_prefix!(),
    [
        T::TaskKillResponseAck,
        T::HeartBeat,
        T::Ping,
        T::Pong,
        T::AlertSendRequest,
        T::AlertSendResponse,
        T::ProcessHostUpdateRequest,
        T::ProcessHostUpdateResponse,
        T::StateEventRequest,
        T::CacheExpire,
    ],
);

const DIALECT_C: [CommandType; 29] = concat(
    common_prefix!(),
    [
        T::TaskKillResponseAck,
        T::TaskRecall,
        T::TaskRecallAck,
        T::HeartBeat,
        T::Ping,
        T::Pong,
        T::AlertSendRequest,
        T::AlertSendResponse,
        T::ProcessHostUpdateRequest,
        T::ProcessHostUpdateResponse,
        T::StateEventRequest,
        T::CacheExpire,
    ],
);

/// THE ordinal table (spec §4): for each dialect, the Java enum in declaration order, so a
/// type's ordinal is its index. Indexed by [`Dialect::index`].
pub const ENUMS: [&[CommandType]; 3] = [&DIALECT_A, &DIALECT_B, &DIALECT_C];

impl Dialect {
    /// All dialects, oldest first.
    pub const ALL: [Dialect; 3] = [Dialect::A, Dialect::B, Dialect::C];

    fn index(self) -> usize {
        match self {
            Dialect::A => 0,
            Dialect::B => 1,
            Dialect::C => 2,
        }
    }

    /// The Java enum of this dialect, in ordinal order.
    pub fn types(self) -> &'static [CommandType] {
        ENUMS[self.index()]
    }

    /// The type byte for `ty`, or `None` if this dialect's enum lacks it (then it must never
    /// be sent: a Java peer closes the connection on an unknown ordinal).
    pub fn ordinal(self, ty: CommandType) -> Option<u8> {
        self.types()
            .iter()
            .position(|t| *t == ty)
            .and_then(|i| u8::try_from(i).ok())
    }

    /// The command type a received type byte denotes in this dialect, `None` if out of range.
    pub fn command_type(self, ordinal: u8) -> Option<CommandType> {
        self.types().get(usize::from(ordinal)).copied()
    }

    /// The release range, as operators write it in configuration (`"2.0.3-2.0.5"`).
    pub fn label(self) -> &'static str {
        match self {
            Dialect::A => "2.0.0-2.0.2",
            Dialect::B => "2.0.3-2.0.5",
            Dialect::C => "2.0.6-2.0.9",
        }
    }

    /// The dialect of a DolphinScheduler release (`"2.0.5"`, `"2.0.0-alpha"`), `None` for
    /// releases outside 2.0.x.
    pub fn for_version(version: &str) -> Option<Dialect> {
        let v = version.trim();
        let v = v.strip_prefix('v').unwrap_or(v);
        let rest = v.strip_prefix("2.0.")?;
        let digits: &str = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or("");
        let suffix = &rest[digits.len()..];
        // Only pre-release tails such as "-alpha" or "-SNAPSHOT"; "2.0.1-2.0.5" is a range.
        let prerelease = suffix
            .strip_prefix('-')
            .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_alphabetic()));
        if !(suffix.is_empty() || prerelease) {
            return None;
        }
        match digits.parse::<u32>().ok()? {
            0..=2 => Some(Dialect::A),
            3..=5 => Some(Dialect::B),
            6..=9 => Some(Dialect::C),
            _ => None,
        }
    }
}

impl Default for Dialect {
    /// 2.0.5 is the reference release.
    fn default() -> Self {
        Dialect::B
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A dialect name that is neither `A`/`B`/`C`, a range label nor a 2.0.x version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown wire dialect {0:?} (expected A, B, C, a range such as \"2.0.3-2.0.5\" or a 2.0.x version)")]
pub struct UnknownDialect(pub String);

impl FromStr for Dialect {
    type Err = UnknownDialect;

    /// Accepts `A`/`B`/`C` (any case), `seed`, the labels of [`Dialect::label`] and any
    /// version [`Dialect::for_version`] knows. A range must lie within one dialect.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        match t.to_ascii_uppercase().as_str() {
            "A" | "SEED" => return Ok(Dialect::A),
            "B" => return Ok(Dialect::B),
            "C" => return Ok(Dialect::C),
            _ => {}
        }
        if let Some(d) = Dialect::for_version(t) {
            return Ok(d);
        }
        if let Some((lo, hi)) = t.split_once('-').or_else(|| t.split_once("..")) {
            let (lo, hi) = (lo.trim(), hi.trim_start_matches('.').trim());
            if let (Some(a), Some(b)) = (Dialect::for_version(lo), Dialect::for_version(hi)) {
                if a == b {
                    return Ok(a);
                }
            }
        }
        Err(UnknownDialect(s.to_string()))
    }
}

impl serde::Serialize for Dialect {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label())
    }
}

impl<'de> serde::Deserialize<'de> for Dialect {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl CommandType {
    /// Every type, in dialect C's ordinal order (the superset).
    pub const ALL: &'static [CommandType] = &DIALECT_C;

    /// The Java constant name, for logs.
    pub fn name(self) -> &'static str {
        match self {
            T::RemoveTakLogRequest => "REMOVE_TAK_LOG_REQUEST",
            T::RemoveTakLogResponse => "REMOVE_TAK_LOG_RESPONSE",
            T::RollViewLogRequest => "ROLL_VIEW_LOG_REQUEST",
            T::RollViewLogResponse => "ROLL_VIEW_LOG_RESPONSE",
            T::ViewWholeLogRequest => "VIEW_WHOLE_LOG_REQUEST",
            T::ViewWholeLogResponse => "VIEW_WHOLE_LOG_RESPONSE",
            T::GetLogBytesRequest => "GET_LOG_BYTES_REQUEST",
            T::GetLogBytesResponse => "GET_LOG_BYTES_RESPONSE",
            T::WorkerRequest => "WORKER_REQUEST",
            T::MasterResponse => "MASTER_RESPONSE",
            T::TaskExecuteRequest => "TASK_EXECUTE_REQUEST",
            T::TaskExecuteAck => "TASK_EXECUTE_ACK",
            T::TaskExecuteResponse => "TASK_EXECUTE_RESPONSE",
            T::DbTaskAck => "DB_TASK_ACK",
            T::DbTaskResponse => "DB_TASK_RESPONSE",
            T::TaskKillRequest => "TASK_KILL_REQUEST",
            T::TaskKillResponse => "TASK_KILL_RESPONSE",
            T::TaskKillResponseAck => "TASK_KILL_RESPONSE_ACK",
            T::TaskRecall => "TASK_RECALL",
            T::TaskRecallAck => "TASK_RECALL_ACK",
            T::HeartBeat => "HEART_BEAT",
            T::Ping => "PING",
            T::Pong => "PONG",
            T::AlertSendRequest => "ALERT_SEND_REQUEST",
            T::AlertSendResponse => "ALERT_SEND_RESPONSE",
            T::ProcessHostUpdateRequest => "PROCESS_HOST_UPDATE_REQUEST",
            T::ProcessHostUpdateResponse => "PROCESS_HOST_UPDATE_RESPONSE",
            T::StateEventRequest => "STATE_EVENT_REQUEST",
            T::CacheExpire => "CACHE_EXPIRE",
        }
    }
}

impl fmt::Display for CommandType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_sizes_match_spec() {
        assert_eq!(Dialect::A.types().len(), 25);
        assert_eq!(Dialect::B.types().len(), 27);
        assert_eq!(Dialect::C.types().len(), 29);
    }

    #[test]
    fn ordinals_round_trip_and_are_unique() {
        for d in Dialect::ALL {
            for (i, t) in d.types().iter().enumerate() {
                assert_eq!(d.ordinal(*t), Some(i as u8), "{d:?} {t}");
                assert_eq!(d.command_type(i as u8), Some(*t));
            }
            assert_eq!(d.command_type(d.types().len() as u8), None);
            assert_eq!(d.command_type(0xFF), None);
        }
        for t in CommandType::ALL {
            assert!(Dialect::C.ordinal(*t).is_some());
        }
    }

    #[test]
    fn spec_hex_table() {
        use Dialect::*;
        let rows: [(CommandType, [Option<u8>; 3]); 11] = [
            (T::HeartBeat, [Some(0x11), Some(0x12), Some(0x14)]),
            (
                T::ProcessHostUpdateRequest,
                [Some(0x16), Some(0x17), Some(0x19)],
            ),
            (T::StateEventRequest, [Some(0x18), Some(0x19), Some(0x1B)]),
            (T::CacheExpire, [None, Some(0x1A), Some(0x1C)]),
            (T::TaskKillResponseAck, [None, Some(0x11), Some(0x11)]),
            (T::TaskRecall, [None, None, Some(0x12)]),
            (T::TaskRecallAck, [None, None, Some(0x13)]),
            (T::TaskExecuteRequest, [Some(0x0A); 3]),
            (T::TaskExecuteAck, [Some(0x0B); 3]),
            (T::DbTaskResponse, [Some(0x0E); 3]),
            (T::TaskKillResponse, [Some(0x10); 3]),
        ];
        for (t, ords) in rows {
            for (d, o) in [A, B, C].into_iter().zip(ords) {
                assert_eq!(d.ordinal(t), o, "{d:?} {t}");
            }
        }
        assert_eq!(B.command_type(19), Some(T::Ping));
        assert_eq!(C.command_type(18), Some(T::TaskRecall));
        assert_eq!(B.command_type(18), Some(T::HeartBeat));
    }

    #[test]
    fn versions_and_labels() {
        assert_eq!(Dialect::for_version("2.0.5"), Some(Dialect::B));
        assert_eq!(Dialect::for_version("2.0.0-alpha"), Some(Dialect::A));
        assert_eq!(Dialect::for_version("2.0.2"), Some(Dialect::A));
        assert_eq!(Dialect::for_version("2.0.6"), Some(Dialect::C));
        assert_eq!(Dialect::for_version("2.0.9"), Some(Dialect::C));
        assert_eq!(Dialect::for_version("2.0.10"), None);
        assert_eq!(Dialect::for_version("3.0.0"), None);
        assert_eq!(Dialect::for_version("2.0.5x"), None);
        for d in Dialect::ALL {
            assert_eq!(d.label().parse::<Dialect>(), Ok(d));
        }
        assert_eq!("b".parse::<Dialect>(), Ok(Dialect::B));
        assert_eq!("C".parse::<Dialect>(), Ok(Dialect::C));
        assert_eq!("2.0.7".parse::<Dialect>(), Ok(Dialect::C));
        assert_eq!("seed".parse::<Dialect>(), Ok(Dialect::A));
        assert!("2.0.1-2.0.5".parse::<Dialect>().is_err());
        assert!("D".parse::<Dialect>().is_err());
        assert_eq!(Dialect::B.label(), "2.0.3-2.0.5");
    }
}
