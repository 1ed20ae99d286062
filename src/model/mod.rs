//! DolphinScheduler's vocabulary, shared by every other module.
//!
//! Each integer-coded column of the 2.0.x schema is a Rust enum with its explicit code
//! (`@EnumValue` codes, which equal the Java ordinals in every 2.0.x tag; see
//! shared/spec/database.md section 3). Inside JSON the same enums travel by *name*, so every
//! enum here also knows its Java name. Codes that exist only on upstream's dev branch (SERIAL_WAIT
//! 14, RECOVER_SERIAL_WAIT 11) are deliberately absent: a 2.0.x Java reader fails on them.
//!
//! Unknown codes are an error ([`UnknownCode`]) carrying the enum's name and the value, so the
//! store can say which table, row and column held it.

use std::fmt;

/// A code read from a column or a frame that the enum does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} code {code}")]
pub struct UnknownCode {
    pub kind: &'static str,
    pub code: i64,
}

/// A name read from JSON that the enum does not know (Java reads these as null).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} name {name:?}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
}

/// Declares an enum with explicit integer codes and Java names, plus conversions.
/// Variants are spelled exactly as the Java constants, so `stringify!` is the JSON name.
macro_rules! coded_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant = $code),+ }

        impl $name {
            /// Every variant, in code order.
            pub const VARIANTS: &'static [$name] = &[$($name::$variant),+];

            /// The integer stored in the database column.
            pub fn code(self) -> i32 { self as i32 }

            /// The Java enum constant name, as it appears in JSON.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }

            pub fn from_code(code: i64) -> Result<Self, UnknownCode> {
                match code {
                    $($code => Ok($name::$variant),)+
                    other => Err(UnknownCode { kind: stringify!($name), code: other }),
                }
            }

            pub fn from_name(name: &str) -> Result<Self, UnknownName> {
                Self::VARIANTS
                    .iter()
                    .copied()
                    .find(|v| v.name() == name)
                    .ok_or_else(|| UnknownName { kind: stringify!($name), name: name.to_string() })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.name()) }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                Self::from_name(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

coded_enum! {
    /// `t_ds_process_instance.state`, `t_ds_task_instance.state` (`ExecutionStatus`).
    #[allow(non_camel_case_types)]
    ExecutionStatus {
        SUBMITTED_SUCCESS = 0,
        RUNNING_EXECUTION = 1,
        READY_PAUSE = 2,
        PAUSE = 3,
        READY_STOP = 4,
        STOP = 5,
        FAILURE = 6,
        SUCCESS = 7,
        NEED_FAULT_TOLERANCE = 8,
        KILL = 9,
        WAITING_THREAD = 10,
        WAITING_DEPEND = 11,
        DELAY_EXECUTION = 12,
        FORCED_SUCCESS = 13,
    }
}

impl ExecutionStatus {
    /// Upstream `typeIsRunning`: the instance or task is still in flight.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            Self::RUNNING_EXECUTION | Self::WAITING_DEPEND | Self::DELAY_EXECUTION
        )
    }

    /// Upstream `typeIsFinished`: success, failure, cancel, pause or stop.
    pub fn is_finished(self) -> bool {
        self.is_success() || self.is_failure() || self.is_cancel() || self == Self::PAUSE
    }

    /// Upstream `typeIsSuccess` (FORCED_SUCCESS counts as success).
    pub fn is_success(self) -> bool {
        matches!(self, Self::SUCCESS | Self::FORCED_SUCCESS)
    }

    /// Upstream `typeIsFailure`.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::FAILURE | Self::NEED_FAULT_TOLERANCE)
    }

    /// Upstream `typeIsCancel`.
    pub fn is_cancel(self) -> bool {
        matches!(self, Self::KILL | Self::STOP)
    }
}

coded_enum! {
    /// `t_ds_command.command_type`, `t_ds_process_instance.command_type` (`CommandType` of
    /// dolphinscheduler-common, not the wire protocol's `CommandType`).
    #[allow(non_camel_case_types)]
    CommandType {
        START_PROCESS = 0,
        START_CURRENT_TASK_PROCESS = 1,
        RECOVER_TOLERANCE_FAULT_PROCESS = 2,
        RECOVER_SUSPENDED_PROCESS = 3,
        START_FAILURE_TASK_PROCESS = 4,
        COMPLEMENT_DATA = 5,
        SCHEDULER = 6,
        REPEAT_RUNNING = 7,
        PAUSE = 8,
        STOP = 9,
        RECOVER_WAITING_THREAD = 10,
    }
}

coded_enum! {
    /// `flag`, `recovery`, `is_sub_process`, `alert_flag`.
    #[allow(non_camel_case_types)]
    Flag { NO = 0, YES = 1 }
}

coded_enum! {
    /// `process_instance_priority`, `task_instance_priority`, `task_priority`.
    #[allow(non_camel_case_types)]
    Priority { HIGHEST = 0, HIGH = 1, MEDIUM = 2, LOW = 3, LOWEST = 4 }
}

coded_enum! {
    /// `failure_strategy`.
    #[allow(non_camel_case_types)]
    FailureStrategy { END = 0, CONTINUE = 1 }
}

coded_enum! {
    /// `warning_type`.
    #[allow(non_camel_case_types)]
    WarningType { NONE = 0, SUCCESS = 1, FAILURE = 2, ALL = 3 }
}

coded_enum! {
    /// `task_depend_type`.
    #[allow(non_camel_case_types)]
    TaskDependType { TASK_ONLY = 0, TASK_PRE = 1, TASK_POST = 2 }
}

coded_enum! {
    /// `timeout_flag`.
    #[allow(non_camel_case_types)]
    TimeoutFlag { CLOSE = 0, OPEN = 1 }
}

coded_enum! {
    /// `timeout_notify_strategy`.
    #[allow(non_camel_case_types)]
    TaskTimeoutStrategy { WARN = 0, FAILED = 1, WARNFAILED = 2 }
}

coded_enum! {
    /// `release_state` of definitions and schedules.
    #[allow(non_camel_case_types)]
    ReleaseState { OFFLINE = 0, ONLINE = 1 }
}

coded_enum! {
    /// `t_ds_alert.alert_status`.
    #[allow(non_camel_case_types)]
    AlertStatus { WAIT_EXECUTION = 0, EXECUTION_SUCCESS = 1, EXECUTION_FAILURE = 2 }
}

/// Task types the master runs itself instead of dispatching to a worker
/// (upstream `TaskProcessorFactory` / `TaskConstants`).
pub fn is_master_side_task(task_type: &str) -> bool {
    matches!(
        task_type.to_ascii_uppercase().as_str(),
        "SUB_PROCESS" | "DEPENDENT" | "CONDITIONS" | "SWITCH"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for s in ExecutionStatus::VARIANTS {
            assert_eq!(ExecutionStatus::from_code(s.code() as i64), Ok(*s));
            assert_eq!(ExecutionStatus::from_name(s.name()), Ok(*s));
        }
        assert_eq!(ExecutionStatus::SUCCESS.code(), 7);
        assert_eq!(CommandType::RECOVER_WAITING_THREAD.code(), 10);
        assert!(ExecutionStatus::from_code(14).is_err());
        assert!(CommandType::from_code(11).is_err());
    }

    #[test]
    fn json_uses_names() {
        let j = serde_json::to_string(&ExecutionStatus::READY_STOP).unwrap();
        assert_eq!(j, "\"READY_STOP\"");
        let back: ExecutionStatus = serde_json::from_str(&j).unwrap();
        assert_eq!(back, ExecutionStatus::READY_STOP);
    }
}

// Enums of the reference tables the execution context reads (added with the typed rows of
// `store::reference`).

coded_enum! {
    /// `t_ds_user.user_type`.
    #[allow(non_camel_case_types)]
    UserType { ADMIN_USER = 0, GENERAL_USER = 1 }
}

coded_enum! {
    /// `t_ds_datasource.type` (dolphinscheduler-spi `DbType`).
    #[allow(non_camel_case_types)]
    DbType {
        MYSQL = 0,
        POSTGRESQL = 1,
        HIVE = 2,
        SPARK = 3,
        CLICKHOUSE = 4,
        ORACLE = 5,
        SQLSERVER = 6,
        DB2 = 7,
        PRESTO = 8,
        H2 = 9,
    }
}

coded_enum! {
    /// `t_ds_resources.type` (dolphinscheduler-spi `ResourceType`).
    #[allow(non_camel_case_types)]
    ResourceType { FILE = 0, UDF = 1 }
}

coded_enum! {
    /// `t_ds_udfs.type`.
    #[allow(non_camel_case_types)]
    UdfType { HIVE = 0, SPARK = 1 }
}
