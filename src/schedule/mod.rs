//! Timed (cron) schedules: the master's part in DolphinScheduler's Quartz 2.3 JDBC cluster.
//!
//! - [`calendar`]: Java time-zone ids and the lenient Gregorian calendar Quartz computes on;
//! - [`cron`]: Quartz cron expressions and cron-trigger arithmetic (next fire times).
//!
//! See `shared/spec/schedules.md` for the protocol this module follows.

pub mod calendar;
pub mod cron;

pub use calendar::JavaZone;
pub use cron::{CronError, CronExpression, CronTrigger, MisfireInstruction};
