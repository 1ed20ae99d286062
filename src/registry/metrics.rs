//! Host figures for the heartbeat, read from `/proc` (Linux), rounded like Java's
//! `OSUtils` (two decimals HALF_UP, `-1.0` when a figure is unavailable).
//!
//! Owned here so the heartbeat text in [`super::heartbeat`] stays a pure format: this file
//! is the only place that touches the operating system. Peers use these figures (LowerWeight
//! worker selection, ABNORMAL status) and the API shows them, so they must mean what the Java
//! figures mean:
//!
//! * `cpu_usage`: busy fraction of all CPUs since the previous sample (`/proc/stat`), like
//!   OSHI's `getSystemCpuLoad` between calls; the first sample measures since boot;
//! * `memory_usage`: `(MemTotal − MemAvailable) / MemTotal` (`/proc/meminfo`);
//! * `available_physical_memory_gib`: `MemAvailable` in GiB;
//! * `load_average`: first field of `/proc/loadavg`;
//! * `disk_available_gib` (14-field heartbeats only): free bytes (`f_bfree × f_frsize`, Java
//!   `File.getFreeSpace`) of the filesystem holding the working directory, in GiB. The crate
//!   forbids `unsafe`, so `statvfs` is read through `stat -f` (coreutils).

use std::path::Path;

use super::heartbeat::round_half_up_2;

/// One sample of the host figures, already rounded to two decimals.
#[derive(Clone, Debug, PartialEq)]
pub struct HostMetrics {
    pub cpu_usage: f64,
    pub memory_usage: f64,
    pub load_average: f64,
    pub available_physical_memory_gib: f64,
    pub disk_available_gib: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

/// Keeps the previous `/proc/stat` reading so CPU usage is a delta between samples.
#[derive(Debug, Default)]
pub struct Sampler {
    previous: Option<CpuTimes>,
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

impl Sampler {
    pub fn new() -> Sampler {
        Sampler {
            previous: read_cpu_times(),
        }
    }

    /// Measure now. `with_disk` adds the disk figure (spawns `stat -f`; only needed for the
    /// 14-field heartbeat). Blocking but short: call from `spawn_blocking` or accept ~1 ms.
    pub fn sample(&mut self, with_disk: bool) -> HostMetrics {
        let cpu_usage = self.cpu_usage();
        let (memory_usage, available_physical_memory_gib) = match read_meminfo() {
            Some((total, available)) if total > 0 => (
                round_half_up_2((total - available.min(total)) as f64 / total as f64),
                round_half_up_2(available as f64 * 1024.0 / GIB),
            ),
            _ => (-1.0, -1.0),
        };
        let load_average = read_loadavg().map(round_half_up_2).unwrap_or(-1.0);
        let disk_available_gib = with_disk.then(|| {
            disk_free_bytes(Path::new("."))
                .map(|bytes| round_half_up_2(bytes as f64 / GIB))
                .unwrap_or(-1.0)
        });
        HostMetrics {
            cpu_usage,
            memory_usage,
            load_average,
            available_physical_memory_gib,
            disk_available_gib,
        }
    }

    fn cpu_usage(&mut self) -> f64 {
        let Some(now) = read_cpu_times() else {
            return -1.0;
        };
        let base = self
            .previous
            .replace(now)
            .unwrap_or(CpuTimes { busy: 0, total: 0 });
        let (busy, total) = if now.total > base.total {
            (now.busy.saturating_sub(base.busy), now.total - base.total)
        } else {
            // No time elapsed between samples: fall back to the figure since boot.
            (now.busy, now.total)
        };
        if total == 0 {
            return -1.0;
        }
        round_half_up_2((busy as f64 / total as f64).clamp(0.0, 1.0))
    }
}

/// Upstream's `OSUtils.checkResource` for command intake: a master whose one-minute load
/// average is above `master.max.cpuload.avg`, or whose available memory is below
/// `master.reserved.memory` GiB, takes no new commands until that passes (2.0.5
/// `MasterSchedulerService`). Figures are read at most once a second, so intake at full speed
/// does not read `/proc` per command.
#[derive(Debug)]
pub struct ResourceCheck {
    max_load: f64,
    reserved_memory_gib: f64,
    /// The last verdict and when it may be re-read.
    last: Option<(Overload, tokio::time::Instant)>,
}

/// Why intake pauses (`None` fields: that figure is fine or unavailable).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Overload {
    pub load: Option<f64>,
    pub available_memory_gib: Option<f64>,
}

impl Overload {
    pub fn is_overloaded(&self) -> bool {
        self.load.is_some() || self.available_memory_gib.is_some()
    }
}

impl ResourceCheck {
    pub fn new(max_load: f64, reserved_memory_gib: f64) -> ResourceCheck {
        ResourceCheck {
            max_load,
            reserved_memory_gib,
            last: None,
        }
    }

    /// The verdict for now. An unavailable figure (`-1`) never pauses intake.
    pub fn check(&mut self) -> Overload {
        let now = tokio::time::Instant::now();
        if let Some((verdict, until)) = self.last {
            if now < until {
                return verdict;
            }
        }
        let load = read_loadavg().map(round_half_up_2);
        let memory =
            read_meminfo().map(|(_, available)| round_half_up_2(available as f64 * 1024.0 / GIB));
        let verdict = self.judge(load, memory);
        self.last = Some((verdict, now + std::time::Duration::from_secs(1)));
        verdict
    }

    fn judge(&self, load: Option<f64>, available_memory_gib: Option<f64>) -> Overload {
        Overload {
            load: load.filter(|l| *l > self.max_load),
            available_memory_gib: available_memory_gib.filter(|m| *m < self.reserved_memory_gib),
        }
    }
}

fn read_cpu_times() -> Option<CpuTimes> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu_line(text.lines().next()?)
}

/// `cpu  user nice system idle iowait irq softirq steal guest guest_nice` (guest time is
/// already included in user/nice).
fn parse_cpu_line(line: &str) -> Option<CpuTimes> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let values: Vec<u64> = fields.take(8).filter_map(|f| f.parse().ok()).collect();
    if values.len() < 4 {
        return None;
    }
    let total: u64 = values.iter().sum();
    let idle = values[3] + values.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
    })
}

/// `(MemTotal, MemAvailable)` in kB; without `MemAvailable` (kernels < 3.14) use
/// `MemFree + Buffers + Cached`.
fn read_meminfo() -> Option<(u64, u64)> {
    parse_meminfo(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    let total = field("MemTotal")?;
    let available = field("MemAvailable").or_else(|| {
        Some(field("MemFree")? + field("Buffers").unwrap_or(0) + field("Cached").unwrap_or(0))
    })?;
    Some((total, available))
}

fn read_loadavg() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn disk_free_bytes(path: &Path) -> Option<u64> {
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%f %S"])
        .arg(path)
        .output()
        .ok()?;
    if !out.status.success() {
        tracing::debug!(status = %out.status, "stat -f failed; disk figure unavailable");
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let free_blocks: u64 = it.next()?.parse().ok()?;
    let block_size: u64 = it.next()?.parse().ok()?;
    free_blocks.checked_mul(block_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_check_judges_as_upstream() {
        let c = ResourceCheck::new(4.0, 0.3);
        assert!(
            !c.judge(Some(4.0), Some(0.3)).is_overloaded(),
            "limits are inclusive"
        );
        assert_eq!(c.judge(Some(4.01), Some(1.0)).load, Some(4.01));
        assert_eq!(
            c.judge(Some(0.5), Some(0.29)).available_memory_gib,
            Some(0.29)
        );
        assert!(
            !c.judge(None, None).is_overloaded(),
            "unreadable figures never pause"
        );
    }

    #[tokio::test]
    async fn resource_check_reads_the_host() {
        let mut c = ResourceCheck::new(f64::MAX, 0.0);
        assert!(!c.check().is_overloaded());
        let mut c = ResourceCheck::new(-1.0, f64::MAX);
        let v = c.check();
        assert!(
            v.load.is_some() && v.available_memory_gib.is_some(),
            "{v:?}"
        );
    }

    #[test]
    fn parses_proc_formats() {
        let t = parse_cpu_line("cpu  14758 0 4378 98591 520 0 152 49 0 0").expect("cpu line");
        assert_eq!(t.total, 14758 + 4378 + 98591 + 520 + 152 + 49);
        assert_eq!(t.busy, 14758 + 4378 + 152 + 49);
        assert_eq!(parse_cpu_line("cpu0 1 2 3 4"), None);
        let m = "MemTotal:       24683656 kB\nMemFree: 1 kB\nMemAvailable:   24244736 kB\n";
        assert_eq!(parse_meminfo(m), Some((24683656, 24244736)));
        let old = "MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n";
        assert_eq!(parse_meminfo(old), Some((100, 35)));
    }

    #[test]
    fn live_sample_is_in_range() {
        let mut s = Sampler::new();
        let m = s.sample(true);
        assert!(
            m.cpu_usage == -1.0 || (0.0..=1.0).contains(&m.cpu_usage),
            "{m:?}"
        );
        assert!((0.0..=1.0).contains(&m.memory_usage), "{m:?}");
        assert!(m.available_physical_memory_gib >= 0.0, "{m:?}");
        assert!(m.load_average >= 0.0, "{m:?}");
        assert!(m.disk_available_gib.is_some());
        // Two decimals at most.
        for x in [
            m.memory_usage,
            m.available_physical_memory_gib,
            m.load_average,
        ] {
            assert_eq!(round_half_up_2(x), x);
        }
    }
}
