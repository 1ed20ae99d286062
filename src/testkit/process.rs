//! Lifecycle of one private server process, shared by MariaDB, PostgreSQL and ZooKeeper.
//!
//! Each server runs in its own process group so that a terminal Ctrl-C aimed
//! at `cargo test` does not race our orderly shutdown, and so that one signal
//! reaches everything the server may have forked. The price is that the
//! server no longer dies with the test process by itself, hence the watchdog:
//! a tiny `sh` loop (in yet another group) that notices when the test process
//! is gone, kills the server's group and deletes its temp dir.
//!
//! `Drop` is synchronous and must work during a panic unwind, so it signals
//! and then polls `try_wait` for a bounded time instead of awaiting.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use super::Error;

/// How long `Drop` waits for a SIGKILLed server to be reaped before giving
/// up; the kernel normally needs milliseconds.
const DROP_REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// Polls once a second so that an abandoned server is gone shortly after the
/// test process dies, then waits (at most five seconds) for the leader to be
/// dead before removing the directory, since a live server would recreate
/// files. "Dead" includes zombie: in containers whose PID 1 does not reap,
/// orphans (the test process as well as the server) stay zombies for good.
const WATCHDOG_SCRIPT: &str = r#"parent=$1; pgid=$2; dir=$3
alive() {
  state=$(sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | cut -c1)
  case "$state" in ''|Z|X) return 1 ;; esac
}
while alive "$parent"; do sleep 1; done
kill -KILL -"$pgid" 2>/dev/null
i=0
while alive "$pgid" && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done
rm -rf "$dir"
"#;

pub(crate) struct ServerProcess {
    name: &'static str,
    child: Child,
    /// The server's process group, cleared once the leader is reaped so that
    /// a recycled id is never signalled.
    pgid: Option<i32>,
    watchdog: Option<Child>,
}

impl ServerProcess {
    /// The server's OS process id (for memory and CPU figures), while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Starts `cmd` in a fresh process group with stdout and stderr appended
    /// to `log`, plus a watchdog that removes `cleanup_dir` if this process
    /// dies without dropping the server.
    pub(crate) fn spawn(
        name: &'static str,
        mut cmd: Command,
        log: &Path,
        cleanup_dir: &Path,
    ) -> Result<Self, Error> {
        let binary = format!("{:?}", cmd.as_std().get_program());
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| Error::io(format!("opening {name} log {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::io(format!("duplicating {name} log handle"), e))?;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|source| Error::Spawn { binary, source })?;
        let pgid = child.id().and_then(|p| i32::try_from(p).ok());
        let watchdog = pgid.and_then(|pgid| match spawn_watchdog(pgid, cleanup_dir) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(server = name, error = %e, "no cleanup watchdog; an interrupted test may leave the server running");
                None
            }
        });
        Ok(ServerProcess {
            name,
            child,
            pgid,
            watchdog,
        })
    }

    /// The exit status if the server has already died; used while waiting for
    /// readiness so that a crash fails fast instead of running into the
    /// deadline.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.pgid = None;
                Some(status)
            }
            _ => None,
        }
    }

    /// Sends `sig` to the whole group; false if the server is already gone.
    pub(crate) fn signal(&self, sig: Signal) -> bool {
        match self.pgid {
            Some(pgid) => signal_group(pgid, sig),
            None => false,
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; always reaps the leader.
    pub(crate) async fn stop(&mut self, grace: Duration) {
        self.stop_with(Signal::Term, grace).await;
    }

    /// As [`ServerProcess::stop`] with the server's own shutdown signal (PostgreSQL shuts
    /// down fast on SIGINT but waits for every client on SIGTERM).
    pub(crate) async fn stop_with(&mut self, shutdown: Signal, grace: Duration) {
        if self.pgid.is_some() {
            self.signal(shutdown);
            // A suspended server would sit on the pending signal forever.
            self.signal(Signal::Cont);
            match tokio::time::timeout(grace, self.child.wait()).await {
                Ok(Ok(_)) => {}
                _ => {
                    tracing::warn!(server = self.name, "did not stop within {grace:?}; killing");
                    self.signal(Signal::Kill);
                    let _ = self.child.start_kill();
                    let _ = tokio::time::timeout(DROP_REAP_TIMEOUT, self.child.wait()).await;
                }
            }
            self.pgid = None;
        }
        self.kill_watchdog();
    }

    /// SIGKILL without ceremony; the async counterpart of `Drop`, used to
    /// simulate a crash.
    pub(crate) async fn kill(&mut self) {
        if self.pgid.is_some() {
            self.signal(Signal::Kill);
            let _ = self.child.start_kill();
            let _ = tokio::time::timeout(DROP_REAP_TIMEOUT, self.child.wait()).await;
            self.pgid = None;
        }
        self.kill_watchdog();
    }

    /// Sends `sig` (then SIGCONT, in case the server is suspended) and waits up to
    /// `timeout` for the leader to exit, synchronously because `Drop` uses it; true if it
    /// did. Lets a server that leaves state behind when killed (PostgreSQL's SysV
    /// segment) tidy up before `Drop` kills whatever is left.
    pub(crate) fn signal_and_wait_blocking(&mut self, sig: Signal, timeout: Duration) -> bool {
        if self.pgid.is_none() || !self.signal(sig) {
            return false;
        }
        self.signal(Signal::Cont);
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => {
                    self.pgid = None;
                    return true;
                }
                Err(_) => return false,
                Ok(None) if Instant::now() >= deadline => return false,
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    fn kill_blocking(&mut self) {
        if self.pgid.is_some() {
            self.signal(Signal::Kill);
            // Covers a missing kill(1); the servers do not fork, so the
            // leader is all that matters.
            let _ = self.child.start_kill();
            let deadline = Instant::now() + DROP_REAP_TIMEOUT;
            loop {
                match self.child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        tracing::warn!(server = self.name, "not reaped after SIGKILL");
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            self.pgid = None;
        }
        self.kill_watchdog();
    }

    fn kill_watchdog(&mut self) {
        let Some(mut watchdog) = self.watchdog.take() else {
            return;
        };
        if let Some(pgid) = watchdog.id().and_then(|p| i32::try_from(p).ok()) {
            // The group signal also takes the watchdog's `sleep` child.
            signal_group(pgid, Signal::Kill);
        }
        let _ = watchdog.start_kill();
        let deadline = Instant::now() + Duration::from_secs(1);
        while let Ok(None) = watchdog.try_wait() {
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_blocking();
    }
}

/// The signals the harness needs; a closed set keeps callers from sending
/// something the cleanup logic does not expect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Term,
    Int,
    Quit,
    Kill,
    Stop,
    Cont,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Term => "TERM",
            Signal::Int => "INT",
            Signal::Quit => "QUIT",
            Signal::Kill => "KILL",
            Signal::Stop => "STOP",
            Signal::Cont => "CONT",
        }
    }
}

/// Signals a process group through kill(1): the crate forbids `unsafe`, and
/// std can only signal single children. Synchronous because `Drop` uses it;
/// the helper exits in about a millisecond.
fn signal_group(pgid: i32, sig: Signal) -> bool {
    send_signal(&format!("-{pgid}"), sig)
}

/// Signals one process (not its group), as [`signal_group`] does a group.
pub fn signal_process(pid: u32, sig: Signal) -> bool {
    send_signal(&pid.to_string(), sig)
}

/// `kill -s <sig> -- <target>`: a pid, or `-<pgid>` for a group.
fn send_signal(target: &str, sig: Signal) -> bool {
    std::process::Command::new("kill")
        .args(["-s", sig.name(), "--", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn spawn_watchdog(server_pgid: i32, dir: &Path) -> Result<Child, Error> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(WATCHDOG_SCRIPT)
        .arg("dsmaster-testkit-watchdog")
        .arg(std::process::id().to_string())
        .arg(server_pgid.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        // Its own group, so the Ctrl-C that kills the test leaves it alive
        // to clean up.
        .process_group(0);
    cmd.spawn().map_err(|source| Error::Spawn {
        binary: "sh".into(),
        source,
    })
}

/// Last `max_lines` lines of a log file, for error messages; never fails
/// because it only decorates another error.
pub(crate) fn log_tail(path: &Path, max_lines: usize) -> String {
    const MAX_BYTES: usize = 16 * 1024;
    match std::fs::read(path) {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(MAX_BYTES);
            let text = String::from_utf8_lossy(&bytes[start..]);
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(max_lines);
            lines[from..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Runs a short-lived helper to completion, turning a non-zero exit into an
/// error that carries its output.
pub(crate) async fn run_checked(
    mut cmd: Command,
    what: &str,
) -> Result<std::process::Output, Error> {
    let std_cmd = cmd.as_std();
    let program = std_cmd.get_program().to_string_lossy().into_owned();
    let described = std::iter::once(program.clone())
        .chain(std_cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    cmd.kill_on_drop(true);
    let output = cmd.output().await.map_err(|source| Error::Spawn {
        binary: program,
        source,
    })?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !stdout.trim().is_empty() {
            text.push('\n');
            text.push_str(&stdout);
        }
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        return Err(Error::Command {
            command: format!("{what}: {described}"),
            status: output.status.to_string(),
            output: lines[from..].join("\n"),
        });
    }
    Ok(output)
}

/// Starts a server, trying once more on any failure: a lost port race, or a start-up that
/// outlived its deadline on a loaded two-core CI machine, should not fail a whole test run.
pub(crate) async fn start_with_one_retry<T, F, Fut>(server: &str, attempt: F) -> Result<T, Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    match attempt().await {
        Err(e) => {
            tracing::warn!(error = %e, "{server} did not start; retrying once");
            attempt().await
        }
        ok => ok,
    }
}
