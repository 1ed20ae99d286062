//! Quartz settings of the master, read from the conf dir's `quartz.properties` with the
//! defaults DolphinScheduler 2.0.x applies (`QuartzExecutors` + Quartz's own defaults).
//!
//! Every Java process of a cluster reads the same file, so honouring it keeps our member in
//! step with Java members (same scheduler name, table prefix and thresholds). Two keys are
//! ours, in `dsmaster.properties`: `dsmaster.schedule.enabled` (default true) and
//! `dsmaster.jvm.timezone`, the zone the Java processes run in (used for triggers whose
//! `TIME_ZONE_ID` is empty, as Quartz falls back to the JVM zone).

use super::calendar::JavaZone;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Effective Quartz settings for our cluster member.
#[derive(Debug, Clone)]
pub struct Options {
    /// Run the scheduler at all (a master without it never fires schedules).
    pub enabled: bool,
    /// `org.quartz.scheduler.instanceName`: `SCHED_NAME` of every row.
    pub scheduler_name: String,
    /// `org.quartz.scheduler.instanceId`; `AUTO` = host name + start millis.
    pub instance_id: String,
    /// `org.quartz.jobStore.tablePrefix`.
    pub table_prefix: String,
    /// `org.quartz.jobStore.misfireThreshold`.
    pub misfire_threshold: Duration,
    /// `org.quartz.jobStore.clusterCheckinInterval`.
    pub checkin_interval: Duration,
    /// `org.quartz.threadPool.threadCount`: concurrent fires.
    pub thread_count: usize,
    /// `org.quartz.scheduler.batchTriggerAcquisitionMaxCount`.
    pub batch_max_count: usize,
    /// `org.quartz.scheduler.batchTriggerAcquisitionFireAheadTimeWindow`.
    pub batch_time_window: Duration,
    /// `org.quartz.scheduler.idleWaitTime`: acquisition look-ahead and idle sleep.
    pub idle_wait: Duration,
    /// Random amount taken off each idle sleep (7 s by default, 20 % when configured).
    pub idle_wait_jitter: Duration,
    /// `org.quartz.jobStore.dbRetryInterval`.
    pub db_retry_interval: Duration,
    /// `org.quartz.jobStore.maxMisfiresToHandleAtATime`.
    pub max_misfires_per_pass: usize,
    /// The Java processes' default zone (`user.timezone`).
    pub jvm_zone: JavaZone,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            enabled: true,
            scheduler_name: "DolphinScheduler".into(),
            instance_id: "AUTO".into(),
            table_prefix: "QRTZ_".into(),
            misfire_threshold: Duration::from_millis(60_000),
            checkin_interval: Duration::from_millis(5_000),
            thread_count: 25,
            batch_max_count: 100,
            batch_time_window: Duration::ZERO,
            idle_wait: Duration::from_millis(30_000),
            idle_wait_jitter: Duration::from_millis(7_000),
            db_retry_interval: Duration::from_millis(15_000),
            max_misfires_per_pass: 20,
            jvm_zone: default_jvm_zone(),
        }
    }
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key} = '{value}': {reason}")]
pub struct Error {
    pub file: String,
    pub key: String,
    pub value: String,
    pub reason: String,
}

impl Options {
    /// Reads `quartz.properties` and `dsmaster.properties` from the conf dir (both optional).
    pub fn load(conf_dir: &Path) -> Result<Options, Error> {
        let mut o = Options::default();
        let quartz = read_props(&conf_dir.join("quartz.properties"))?;
        let file = "quartz.properties";
        let text = |k: &str| {
            quartz
                .get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let ms = |k: &str| -> Result<Option<Duration>, Error> {
            match text(k) {
                None => Ok(None),
                Some(v) => v
                    .parse::<u64>()
                    .map(|n| Some(Duration::from_millis(n)))
                    .map_err(|e| Error {
                        file: file.into(),
                        key: k.into(),
                        value: v.clone(),
                        reason: e.to_string(),
                    }),
            }
        };
        let count = |k: &str| -> Result<Option<usize>, Error> {
            match text(k) {
                None => Ok(None),
                Some(v) => match v.parse::<usize>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    Ok(_) => Err(Error {
                        file: file.into(),
                        key: k.into(),
                        value: v.clone(),
                        reason: "must be at least 1".into(),
                    }),
                    Err(e) => Err(Error {
                        file: file.into(),
                        key: k.into(),
                        value: v.clone(),
                        reason: e.to_string(),
                    }),
                },
            }
        };
        if let Some(v) = text("org.quartz.scheduler.instanceName") {
            o.scheduler_name = v;
        }
        if let Some(v) = text("org.quartz.scheduler.instanceId") {
            o.instance_id = v;
        }
        if let Some(v) = text("org.quartz.jobStore.tablePrefix") {
            o.table_prefix = v;
        }
        if let Some(v) = ms("org.quartz.jobStore.misfireThreshold")? {
            o.misfire_threshold = v;
        }
        if let Some(v) = ms("org.quartz.jobStore.clusterCheckinInterval")? {
            o.checkin_interval = v;
        }
        if let Some(v) = count("org.quartz.threadPool.threadCount")? {
            o.thread_count = v;
        }
        if let Some(v) = count("org.quartz.scheduler.batchTriggerAcquisitionMaxCount")? {
            o.batch_max_count = v;
        }
        if let Some(v) = ms("org.quartz.scheduler.batchTriggerAcquisitionFireAheadTimeWindow")? {
            o.batch_time_window = v;
        }
        if let Some(v) = ms("org.quartz.scheduler.idleWaitTime")? {
            o.idle_wait = v;
            o.idle_wait_jitter = v / 5;
        }
        if let Some(v) = ms("org.quartz.jobStore.dbRetryInterval")? {
            o.db_retry_interval = v;
        }
        if let Some(v) = count("org.quartz.jobStore.maxMisfiresToHandleAtATime")? {
            o.max_misfires_per_pass = v;
        }
        let ours = read_props(&conf_dir.join("dsmaster.properties"))?;
        if let Some(v) = ours.get("dsmaster.schedule.enabled").map(|v| v.trim()) {
            o.enabled = !matches!(v, "false" | "FALSE" | "False" | "0" | "no");
        }
        if let Some(v) = ours.get("dsmaster.jvm.timezone").map(|v| v.trim()) {
            if !v.is_empty() {
                o.jvm_zone = JavaZone::try_resolve(v).ok_or_else(|| Error {
                    file: "dsmaster.properties".into(),
                    key: "dsmaster.jvm.timezone".into(),
                    value: v.into(),
                    reason: "not a time-zone id Java knows".into(),
                })?;
            }
        }
        Ok(o)
    }

    /// The instance id to use for one scheduler start: the configured one, or for `AUTO`
    /// Quartz's `SimpleInstanceIdGenerator` shape (host name + current epoch millis).
    pub fn resolve_instance_id(&self, now_ms: i64) -> String {
        if self.instance_id != "AUTO" {
            return self.instance_id.clone();
        }
        let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|s| s.trim().to_string())
            .find(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let mut id = format!("{host}{now_ms}");
        // INSTANCE_NAME and ENTRY_ID (id + counter) are VARCHAR(200).
        id.truncate(170);
        id
    }
}

fn read_props(path: &Path) -> Result<BTreeMap<String, String>, Error> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => {
            return Err(Error {
                file: path.display().to_string(),
                key: String::new(),
                value: String::new(),
                reason: e.to_string(),
            })
        }
    };
    let text = crate::config::properties::decode_bytes(&bytes);
    crate::config::properties::parse(&text).map_err(|e| Error {
        file: path.display().to_string(),
        key: String::new(),
        value: String::new(),
        reason: e.to_string(),
    })
}

/// The JVM's default zone as Java derives it on Linux: `TZ`, else `/etc/timezone`, else
/// the `/etc/localtime` link target, else UTC.
fn default_jvm_zone() -> JavaZone {
    let from_env = std::env::var("TZ")
        .ok()
        .map(|v| v.trim_start_matches(':').to_string());
    let from_file = || {
        std::fs::read_to_string("/etc/timezone")
            .ok()
            .map(|s| s.trim().to_string())
    };
    let from_link = || {
        std::fs::read_link("/etc/localtime").ok().and_then(|p| {
            let s = p.to_string_lossy().to_string();
            s.split_once("zoneinfo/").map(|(_, z)| z.to_string())
        })
    };
    [from_env, from_file(), from_link()]
        .into_iter()
        .flatten()
        .find_map(|id| JavaZone::try_resolve(id.trim()))
        .unwrap_or(JavaZone::Named(chrono_tz::Tz::UTC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_dolphinschedulers() {
        let dir = tempfile::tempdir().unwrap();
        let o = Options::load(dir.path()).unwrap();
        assert_eq!(o.scheduler_name, "DolphinScheduler");
        assert_eq!(o.table_prefix, "QRTZ_");
        assert_eq!(o.misfire_threshold, Duration::from_secs(60));
        assert_eq!(o.checkin_interval, Duration::from_secs(5));
        assert_eq!(o.batch_max_count, 100);
        assert_eq!(o.idle_wait_jitter, Duration::from_secs(7));
        assert!(o
            .resolve_instance_id(1_795_490_523_558)
            .ends_with("1795490523558"));
    }

    #[test]
    fn file_values_win() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("quartz.properties"),
            "org.quartz.scheduler.batchTriggerAcquisitionMaxCount=1\norg.quartz.scheduler.idleWaitTime=10000\n#org.quartz.jobStore.tablePrefix=X_\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("dsmaster.properties"),
            "dsmaster.jvm.timezone=Asia/Shanghai\n",
        )
        .unwrap();
        let o = Options::load(dir.path()).unwrap();
        assert_eq!(o.batch_max_count, 1);
        assert_eq!(o.idle_wait, Duration::from_secs(10));
        assert_eq!(o.idle_wait_jitter, Duration::from_secs(2));
        assert_eq!(o.table_prefix, "QRTZ_");
        assert_eq!(o.jvm_zone, JavaZone::Named(chrono_tz::Tz::Asia__Shanghai));
    }
}
