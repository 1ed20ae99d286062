//! The drill's own processes: each master (`dsmaster run`) and each stand-in worker
//! (`dsmaster standin-worker`) is a child process in a network namespace of its own, so a
//! fault hits exactly one of them: SIGKILL, SIGSTOP, or its link cut like a real partition.
//! Every incarnation appends to the same log file; a worker's incarnation also names its
//! record file, so a run is tied to the process that did it.

use crate::testkit::netns::{PeerNs, TestNet};
use crate::testkit::process::{signal_process, Signal};
use crate::testkit::Error;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Child;

/// The line `dsmaster run` logs once it is registered and taking commands.
const MASTER_SERVING: &str = "master registered and serving";
/// The line `dsmaster standin-worker` prints once it is registered.
pub const WORKER_SERVING: &str = "stand-in worker serving at";
const START_DEADLINE: Duration = Duration::from_secs(60);

/// One supervised child in its namespace.
struct Supervised {
    name: String,
    ns: PeerNs,
    binary: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
    /// Where the current incarnation's output starts in the log.
    log_offset: u64,
    incarnation: u32,
}

impl Supervised {
    fn spawn(&mut self, extra: &[String]) -> Result<(), Error> {
        self.incarnation += 1;
        self.log_offset = std::fs::metadata(&self.log).map_or(0, |m| m.len());
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| Error::io(format!("opening {}", self.log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::io("duplicating a log handle", e))?;
        let mut cmd = self.ns.command(&self.binary);
        cmd.args(&self.args)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|source| Error::Spawn {
            binary: self.binary.display().to_string(),
            source,
        })?;
        tracing::info!(name = self.name, incarnation = self.incarnation, pid = ?child.id(), "chaos: started");
        self.child = Some(child);
        Ok(())
    }

    /// Whether the current incarnation is still alive (reaps it when not).
    fn alive(&mut self) -> bool {
        match &mut self.child {
            Some(c) => match c.try_wait() {
                Ok(None) => true,
                Ok(Some(status)) => {
                    tracing::info!(name = self.name, %status, "chaos: exited");
                    self.child = None;
                    false
                }
                Err(_) => false,
            },
            None => false,
        }
    }

    fn signal(&self, sig: Signal) -> bool {
        self.child
            .as_ref()
            .and_then(Child::id)
            .is_some_and(|pid| signal_process(pid, sig))
    }

    async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id() {
                // A stopped process dies of SIGKILL too.
                signal_process(pid, Signal::Kill);
            }
            let _ = c.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), c.wait()).await;
        }
    }

    /// This incarnation's output so far.
    fn current_log(&self) -> String {
        let bytes = std::fs::read(&self.log).unwrap_or_default();
        let from = usize::try_from(self.log_offset)
            .unwrap_or(0)
            .min(bytes.len());
        String::from_utf8_lossy(&bytes[from..]).into_owned()
    }

    async fn wait_for_line(&mut self, line: &str) -> Result<String, Error> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let text = self.current_log();
            if let Some(at) = text.find(line) {
                return Ok(text[at..].lines().next().unwrap_or_default().to_string());
            }
            if !self.alive() {
                let whole = String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default())
                    .into_owned();
                return Err(Error::Fixture(format!(
                    "{} exited while starting; the end of {}:\n{}",
                    self.name,
                    self.log.display(),
                    tail(&whole, 30)
                )));
            }
            if Instant::now() >= deadline {
                return Err(Error::Fixture(format!(
                    "{} not serving after {START_DEADLINE:?}:\n{}",
                    self.name,
                    tail(&text, 30)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The last `lines` lines of `text`, leaving out backtrace frames (indented lines).
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.trim().is_empty())
        .collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Copies the cluster's conf dir to `dir` for one process at `ip`: its own listen port and
/// address, the drill's session timeout, and no Quartz member (the drill schedules nothing).
/// Returns the master listen port it chose.
pub fn conf_for(
    cluster_conf: &Path,
    dir: &Path,
    ip: std::net::Ipv4Addr,
    session_timeout: Duration,
) -> Result<u16, Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let port = crate::testkit::free_port()?;
    let entries = std::fs::read_dir(cluster_conf)
        .map_err(|e| Error::io(format!("reading {}", cluster_conf.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("reading the conf dir", e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        let text = std::fs::read_to_string(entry.path())
            .map_err(|e| Error::io(format!("reading {name}"), e))?;
        let drop_keys: &[&str] = match name.as_str() {
            "master.properties" => &["master.listen.port"],
            "registry.properties" => &["registry.session.timeout.ms"],
            "dsmaster.properties" => &[
                "dsmaster.host",
                "dsmaster.listen.host",
                "dsmaster.schedule.enabled",
            ],
            _ => &[],
        };
        let mut out: String = text
            .lines()
            .filter(|l| !drop_keys.iter().any(|k| l.starts_with(k)))
            .map(|l| format!("{l}\n"))
            .collect();
        match name.as_str() {
            "master.properties" => out.push_str(&format!("master.listen.port={port}\n")),
            "registry.properties" => out.push_str(&format!(
                "registry.session.timeout.ms={}\n",
                session_timeout.as_millis()
            )),
            "dsmaster.properties" => out.push_str(&format!(
                "dsmaster.host={ip}\ndsmaster.listen.host={ip}\ndsmaster.schedule.enabled=false\n"
            )),
            _ => {}
        }
        std::fs::write(dir.join(&name), out)
            .map_err(|e| Error::io(format!("writing {name}"), e))?;
    }
    Ok(port)
}

/// Which master a drill slot runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKind {
    /// `dsmaster run`.
    Dsmaster,
    /// Upstream's Java master (the 2.0.3 server jar over the 2.0.5 libraries, see
    /// compat/upstream), in a fresh namespace at each start.
    Java,
}

impl MasterKind {
    pub fn name(self) -> &'static str {
        match self {
            MasterKind::Dsmaster => "dsmaster",
            MasterKind::Java => "java",
        }
    }
}

impl std::str::FromStr for MasterKind {
    type Err = String;
    fn from_str(s: &str) -> Result<MasterKind, String> {
        match s {
            "dsmaster" => Ok(MasterKind::Dsmaster),
            "java" => Ok(MasterKind::Java),
            _ => Err(format!("unknown master kind {s:?}; dsmaster or java")),
        }
    }
}

// Two of these exist per drill: their size does not matter.
#[allow(clippy::large_enum_variant)]
enum Body {
    Ours(Supervised),
    Java {
        session_timeout: Duration,
        current: Option<crate::testkit::java::JavaMaster>,
    },
}

/// A master process of either kind.
pub struct MasterProc {
    name: String,
    body: Body,
    /// `ip:port`, as in `host` columns and `/nodes/master` (a Java master's changes with
    /// each start: every start gets a fresh namespace).
    pub addr: String,
}

impl MasterProc {
    pub fn new(
        net: &'static TestNet,
        kind: MasterKind,
        name: &str,
        cluster_conf: &Path,
        dir: &Path,
        binary: &Path,
        session_timeout: Duration,
    ) -> Result<MasterProc, Error> {
        if kind == MasterKind::Java {
            return Ok(MasterProc {
                name: name.to_string(),
                body: Body::Java {
                    session_timeout,
                    current: None,
                },
                addr: String::new(),
            });
        }
        let ns = net.peer(name)?;
        let conf = dir.join("conf");
        let port = conf_for(cluster_conf, &conf, ns.ip(), session_timeout)?;
        let addr = format!("{}:{port}", ns.ip());
        Ok(MasterProc {
            name: name.to_string(),
            body: Body::Ours(Supervised {
                name: name.to_string(),
                ns,
                binary: binary.to_path_buf(),
                args: vec![
                    "run".into(),
                    "--conf-dir".into(),
                    conf.display().to_string(),
                ],
                log: dir.join("master.log"),
                child: None,
                log_offset: 0,
                incarnation: 0,
            }),
            addr,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> MasterKind {
        match self.body {
            Body::Ours(_) => MasterKind::Dsmaster,
            Body::Java { .. } => MasterKind::Java,
        }
    }

    /// Starts an incarnation: ours without waiting for it to serve, a Java master until it
    /// is registered.
    pub async fn spawn(
        &mut self,
        cluster: &crate::testkit::cluster::LocalCluster,
    ) -> Result<(), Error> {
        match &mut self.body {
            Body::Ours(s) => s.spawn(&[]),
            Body::Java {
                session_timeout,
                current,
            } => {
                let m = crate::testkit::java::JavaMaster::start_with_session(
                    cluster,
                    "2.0.5",
                    *session_timeout,
                )
                .await?;
                self.addr = m.addr().to_string();
                tracing::info!(
                    name = self.name,
                    addr = self.addr,
                    "chaos: Java master started"
                );
                *current = Some(m);
                Ok(())
            }
        }
    }

    pub async fn wait_serving(&mut self) -> Result<(), Error> {
        match &mut self.body {
            Body::Ours(s) => s.wait_for_line(MASTER_SERVING).await.map(|_| ()),
            Body::Java { .. } => Ok(()),
        }
    }

    pub fn alive(&mut self) -> bool {
        match &mut self.body {
            Body::Ours(s) => s.alive(),
            Body::Java { current, .. } => {
                if current.as_mut().is_some_and(|m| m.exited()) {
                    tracing::info!(name = self.name, "chaos: Java master exited");
                    *current = None;
                }
                current.is_some()
            }
        }
    }

    pub(crate) fn signal(&self, sig: Signal) -> bool {
        match &self.body {
            Body::Ours(s) => s.signal(sig),
            Body::Java { current, .. } => current
                .as_ref()
                .and_then(|m| m.pid())
                .is_some_and(|pid| signal_process(pid, sig)),
        }
    }

    pub async fn kill(&mut self) {
        match &mut self.body {
            Body::Ours(s) => s.kill().await,
            Body::Java { current, .. } => {
                if let Some(m) = current.take() {
                    m.kill().await;
                }
            }
        }
    }

    /// Cuts the master's link (ZooKeeper, database and workers all unreachable: a partition
    /// of this master alone); its process keeps running.
    pub fn cut(&self) -> Result<(), Error> {
        match &self.body {
            Body::Ours(s) => s.ns.cut(),
            Body::Java { current, .. } => match current {
                Some(m) => m.namespace().cut(),
                None => Ok(()),
            },
        }
    }

    /// Undoes [`MasterProc::cut`].
    pub fn heal(&self) -> Result<(), Error> {
        match &self.body {
            Body::Ours(s) => s.ns.heal(),
            Body::Java { current, .. } => match current {
                Some(m) => m.namespace().heal(),
                None => Ok(()),
            },
        }
    }

    /// Stops the master the operator's way (SIGTERM, as `dolphinscheduler-daemon.sh stop`
    /// sends) and waits for it; SIGKILL after 60 s. Returns whether it exited by itself.
    pub async fn terminate(&mut self) -> bool {
        match &mut self.body {
            Body::Ours(_) => {
                self.signal(Signal::Term);
                if self.wait_exit(Duration::from_secs(60)).await {
                    true
                } else {
                    self.kill().await;
                    false
                }
            }
            Body::Java { current, .. } => {
                if let Some(m) = current.take() {
                    m.stop().await;
                }
                true
            }
        }
    }

    /// Waits up to `within` for the current incarnation to exit by itself.
    pub async fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if !self.alive() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        !self.alive()
    }
}

/// A stand-in worker process that records what it ran.
pub struct WorkerProc {
    inner: Supervised,
    records: PathBuf,
    /// `ip:port` of the current incarnation.
    pub addr: Option<String>,
}

impl WorkerProc {
    pub fn new(
        net: &'static TestNet,
        name: &str,
        cluster_conf: &Path,
        dir: &Path,
        binary: &Path,
        session_timeout: Duration,
        resend_every: Duration,
    ) -> Result<WorkerProc, Error> {
        let ns = net.peer(name)?;
        let conf = dir.join("conf");
        conf_for(cluster_conf, &conf, ns.ip(), session_timeout)?;
        let records = dir.join("records");
        std::fs::create_dir_all(&records)
            .map_err(|e| Error::io(format!("creating {}", records.display()), e))?;
        let ip = ns.ip().to_string();
        Ok(WorkerProc {
            inner: Supervised {
                name: name.to_string(),
                ns,
                binary: binary.to_path_buf(),
                args: vec![
                    "standin-worker".into(),
                    "--conf-dir".into(),
                    conf.display().to_string(),
                    "--ip".into(),
                    ip,
                    "--resend-ms".into(),
                    resend_every.as_millis().to_string(),
                ],
                log: dir.join("worker.log"),
                child: None,
                log_offset: 0,
                incarnation: 0,
            },
            records,
            addr: None,
        })
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The current incarnation's id: `<name>-<n>`, also its record file's stem.
    pub fn incarnation_id(&self) -> String {
        format!("{}-{}", self.inner.name, self.inner.incarnation)
    }

    /// Where every incarnation's record file is.
    pub fn records_dir(&self) -> &Path {
        &self.records
    }

    /// Starts an incarnation and waits until it is registered.
    pub async fn start(&mut self) -> Result<(), Error> {
        let record = self.records.join(format!(
            "{}-{}.rec",
            self.inner.name,
            self.inner.incarnation + 1
        ));
        self.inner
            .spawn(&["--record".into(), record.display().to_string()])?;
        let line = self.inner.wait_for_line(WORKER_SERVING).await?;
        self.addr = line.split_whitespace().last().map(str::to_string);
        Ok(())
    }

    pub fn alive(&mut self) -> bool {
        self.inner.alive()
    }

    pub async fn kill(&mut self) {
        self.inner.kill().await;
    }

    /// Cuts the worker's link: its connections to masters and ZooKeeper stall.
    pub fn cut(&self) -> Result<(), Error> {
        self.inner.ns.cut()
    }

    pub fn heal(&self) -> Result<(), Error> {
        self.inner.ns.heal()
    }
}

/// Starts the two stand-in workers every drill and benchmark uses (`worker-1`, `worker-2`),
/// each in its own namespace with its conf dir, log and records under `dir`.
pub async fn start_two_workers(
    net: &'static TestNet,
    cluster_conf: &Path,
    dir: &Path,
    binary: &Path,
    session_timeout: Duration,
    resend_every: Duration,
) -> Result<Vec<WorkerProc>, Error> {
    let mut workers = Vec::new();
    for name in ["worker-1", "worker-2"] {
        let mut w = WorkerProc::new(
            net,
            name,
            cluster_conf,
            &dir.join(name),
            binary,
            session_timeout,
            resend_every,
        )?;
        w.start().await?;
        workers.push(w);
    }
    Ok(workers)
}
