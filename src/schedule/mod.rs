//! Timed (cron) schedules: the master's part in DolphinScheduler's Quartz 2.3 JDBC cluster.
//!
//! Only masters run Quartz; the API server just writes `QRTZ_*` rows. A started master is
//! therefore one member of the Quartz cluster `DolphinScheduler`, and must follow Quartz's
//! row protocol exactly so that Java masters and we never fire a trigger twice.
//!
//! - [`calendar`]: Java time-zone ids and the lenient Gregorian calendar Quartz computes on;
//! - [`cron`]: Quartz cron expressions and cron-trigger arithmetic (next fire times);
//! - [`complement`]: the complement-data date list (`CronUtils.getSelfFireDateList`);
//! - [`golden`]: reader for the recorded QRTZ row dumps the tests compare with;
//! - [`options`]: `quartz.properties` with DolphinScheduler's defaults;
//! - [`jobstore`]: the clustered JDBC job-store protocol (SQL in `store::quartz`);
//! - [`job`]: the fire handler (`ProcessScheduleJob`: SCHEDULER command or self-deletion);
//! - [`scheduler`]: the running member (trigger loop, check-in, misfire handler).
//!
//! See `shared/spec/schedules.md` for the protocol this module follows.

pub mod calendar;
pub mod complement;
pub mod cron;
pub mod golden;
pub mod job;
pub mod jobstore;
pub mod options;
pub mod scheduler;

pub use calendar::JavaZone;
pub use cron::{CronError, CronExpression, CronTrigger, MisfireInstruction};
pub use options::Options;
pub use scheduler::{start, Running};
