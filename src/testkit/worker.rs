//! A stand-in for the Java worker, for tests and the demo: it registers under
//! `/nodes/worker/<group>/<ip:port>` with a worker heartbeat, accepts TASK_EXECUTE_REQUEST,
//! answers on the connection the task arrived on (as a real worker does), runs the SHELL
//! task's `rawScript` with `sh -c` (or just succeeds), and resends its ack and result until
//! the master replies DB_TASK_ACK / DB_TASK_RESPONSE with status 7, as 2.0.5 workers do.

use crate::protocol::{
    serve, Command, Inbound, Link, LinkOptions, TaskExecuteAckCommand, TaskExecuteResponseCommand,
};
use crate::registry::{self, Registry};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What the stand-in does with a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Run the SHELL `rawScript` with `sh -c`; exit 0 is SUCCESS.
    RunShell,
    /// Report SUCCESS at once without running anything (benchmarks).
    Succeed,
}

/// Unacknowledged ack (false) / result (true) per task, resent until the master confirms.
type Pending = Arc<Mutex<HashMap<(i32, bool), Command>>>;
/// The connection each task answers on: the one its request arrived on, replaced by the
/// connection of a later PROCESS_HOST_UPDATE or TASK_KILL_REQUEST (as the Java worker does).
type Bindings = Arc<Mutex<HashMap<i32, Link>>>;
/// What the stand-in saw and did, with when (for benchmarks: hop latency is the time from a
/// task's result leaving the worker to the next task's request arriving).
#[derive(Debug, Clone, Copy)]
pub struct WorkerEvent {
    pub at: tokio::time::Instant,
    pub process_instance_id: i32,
    pub task_instance_id: i32,
    /// true: result sent; false: request received.
    pub result: bool,
}

/// What the stand-in saw, in memory and optionally in a file: a stand-in run as its own
/// process (`dsmaster standin-worker`, used by the chaos drill) appends one line per event
/// and flushes it at once, so the record survives a SIGKILL of the worker.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<WorkerEvent>>,
    file: Option<Mutex<std::fs::File>>,
}

type Events = Arc<Recorder>;

/// One line of a record file: `<unix ms> <R|D> <process instance id> <task instance id>`,
/// R when a request arrived, D when its result left.
pub fn record_line(
    unix_ms: i64,
    result: bool,
    process_instance_id: i32,
    task_instance_id: i32,
) -> String {
    let kind = if result { 'D' } else { 'R' };
    format!("{unix_ms} {kind} {process_instance_id} {task_instance_id}\n")
}

/// Parses a [`record_line`]; `None` for a torn or foreign line.
pub fn parse_record_line(line: &str) -> Option<(i64, bool, i32, i32)> {
    let mut parts = line.split_ascii_whitespace();
    let at = parts.next()?.parse().ok()?;
    let result = match parts.next()? {
        "R" => false,
        "D" => true,
        _ => return None,
    };
    let process_instance_id = parts.next()?.parse().ok()?;
    let task_instance_id = parts.next()?.parse().ok()?;
    Some((at, result, process_instance_id, task_instance_id))
}

fn record(events: &Events, process_instance_id: i32, task_instance_id: i32, result: bool) {
    if let Ok(mut e) = events.events.lock() {
        e.push(WorkerEvent {
            at: tokio::time::Instant::now(),
            process_instance_id,
            task_instance_id,
            result,
        });
    }
    if let Some(file) = &events.file {
        use std::io::Write;
        let line = record_line(
            chrono::Utc::now().timestamp_millis(),
            result,
            process_instance_id,
            task_instance_id,
        );
        if let Ok(mut f) = file.lock() {
            if let Err(e) = f.write_all(line.as_bytes()) {
                tracing::warn!(error = %e, "stand-in worker: cannot append to its record file");
            }
        }
    }
}

/// Kill switches of running tasks.
type Running = Arc<Mutex<HashMap<i32, (tokio::sync::oneshot::Sender<()>, i32)>>>;

pub struct StandInWorker {
    addr: String,
    registry: Registry,
    stop: watch::Sender<bool>,
    links_stop: Mutex<tokio_util::sync::CancellationToken>,
    inbound: mpsc::Sender<Inbound>,
    link_options: LinkOptions,
    events: Events,
}

impl StandInWorker {
    /// Starts listening on a free loopback port and registers in the registry.
    pub async fn start(
        registry_options: &registry::Options,
        group: &str,
        link_options: LinkOptions,
        behaviour: Behaviour,
        resend_every: Duration,
    ) -> Result<StandInWorker, super::Error> {
        Self::start_on(
            std::net::Ipv4Addr::LOCALHOST,
            registry_options,
            group,
            link_options,
            behaviour,
            resend_every,
        )
        .await
    }

    /// As [`StandInWorker::start`], listening on and registering `ip` (the test network's
    /// host address when a Java master must reach it).
    pub async fn start_on(
        ip: std::net::Ipv4Addr,
        registry_options: &registry::Options,
        group: &str,
        link_options: LinkOptions,
        behaviour: Behaviour,
        resend_every: Duration,
    ) -> Result<StandInWorker, super::Error> {
        Self::start_recording(
            ip,
            registry_options,
            group,
            link_options,
            behaviour,
            resend_every,
            None,
        )
        .await
    }

    /// As [`StandInWorker::start_on`], also appending every event to `record` (see
    /// [`record_line`]).
    pub async fn start_recording(
        ip: std::net::Ipv4Addr,
        registry_options: &registry::Options,
        group: &str,
        link_options: LinkOptions,
        behaviour: Behaviour,
        resend_every: Duration,
        record: Option<&std::path::Path>,
    ) -> Result<StandInWorker, super::Error> {
        let file = match record {
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| super::Error::io(format!("opening {}", path.display()), e))?,
            )),
            None => None,
        };
        let events: Events = Arc::new(Recorder {
            events: Mutex::default(),
            file,
        });
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.map_err(|e| {
            super::Error::Fixture(format!("binding the stand-in worker on {ip}: {e}"))
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| super::Error::Fixture(e.to_string()))?
            .port();
        let addr = format!("{ip}:{port}");
        let (stop, stop_rx) = watch::channel(false);
        let (tx, rx) = mpsc::channel(1024);
        let links_stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(serve(
            listener,
            link_options.clone(),
            tx.clone(),
            links_stop.clone(),
        ));
        let pending: Pending = Arc::default();
        let bindings: Bindings = Arc::default();
        tokio::spawn(handle(
            rx,
            addr.clone(),
            behaviour,
            pending.clone(),
            bindings.clone(),
            events.clone(),
        ));
        tokio::spawn(resend(pending, bindings, resend_every, stop_rx));
        // A stand-in must never report itself ABNORMAL: a loaded two-core test machine easily
        // exceeds the default load limit (2 x cores), and dispatch skips ABNORMAL workers.
        let mut registry_options = registry_options.clone();
        registry_options.max_cpuload_avg = 10_000.0;
        registry_options.reserved_memory = 0.0;
        let registry = Registry::connect(&registry_options)
            .await
            .map_err(|e| super::Error::Fixture(format!("stand-in worker registry: {e}")))?;
        registry
            .register_worker(group, &addr, 100, 100)
            .await
            .map_err(|e| super::Error::Fixture(format!("registering the stand-in worker: {e}")))?;
        tracing::info!(%addr, group, "stand-in worker started");
        Ok(StandInWorker {
            addr,
            registry,
            stop,
            links_stop: Mutex::new(links_stop),
            inbound: tx,
            link_options,
            events,
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Everything recorded so far (requests received, results sent).
    pub fn events(&self) -> Vec<WorkerEvent> {
        self.events
            .events
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// Resolves when the stand-in's registry session is gone for good (its node is or will
    /// be removed, and masters fail its tasks over).
    pub async fn lost(&self) -> registry::LostReason {
        self.registry.lost().await
    }

    /// Closes every connection (as a network blip would) and listens again on the same port.
    /// Tasks keep running; their results wait in the resend cache until a master rebinds them.
    pub async fn drop_connections(&self) -> Result<(), super::Error> {
        let fresh = tokio_util::sync::CancellationToken::new();
        if let Ok(mut t) = self.links_stop.lock() {
            t.cancel();
            *t = fresh.clone();
        }
        let mut last = None;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            match tokio::net::TcpListener::bind(self.addr.as_str()).await {
                Ok(listener) => {
                    tokio::spawn(serve(
                        listener,
                        self.link_options.clone(),
                        self.inbound.clone(),
                        fresh,
                    ));
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(super::Error::Fixture(format!(
            "stand-in worker could not listen again on {}: {last:?}",
            self.addr
        )))
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Ok(t) = self.links_stop.lock() {
            t.cancel();
        }
        if let Err(e) = self.registry.deregister().await {
            tracing::debug!(error = %e, "stand-in worker deregistration");
        }
    }
}

async fn handle(
    mut rx: mpsc::Receiver<Inbound>,
    addr: String,
    behaviour: Behaviour,
    pending: Pending,
    bindings: Bindings,
    events: Events,
) {
    let running: Running = Arc::default();
    while let Some(Inbound { link, command, .. }) = rx.recv().await {
        match command {
            Command::TaskExecuteRequest(req) => {
                let ctx = match req.context() {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "stand-in worker got an unreadable context");
                        continue;
                    }
                };
                let id = ctx.task_instance_id;
                let pid = ctx.process_instance_id;
                record(&events, pid, id, false);
                let dir =
                    std::env::temp_dir().join(format!("dsmaster-standin-{}", std::process::id()));
                let log_path = dir.join(format!("{id}.log"));
                let ack = Command::TaskExecuteAck(TaskExecuteAckCommand {
                    task_instance_id: id,
                    process_instance_id: pid,
                    start_time: Some(chrono::Utc::now()),
                    host: Some(addr.clone()),
                    status: 1,
                    log_path: Some(log_path.display().to_string()),
                    execute_path: Some(dir.display().to_string()),
                });
                bind(&bindings, id, &link);
                send_cached(&pending, &bindings, (id, false), ack);
                let pending = pending.clone();
                let bindings = bindings.clone();
                let (kill_tx, kill_rx) = tokio::sync::oneshot::channel();
                if let Ok(mut r) = running.lock() {
                    r.insert(id, (kill_tx, pid));
                }
                let running = running.clone();
                let events = events.clone();
                tokio::spawn(async move {
                    let (status, process_id) = match behaviour {
                        Behaviour::Succeed => (7, 0),
                        Behaviour::RunShell => {
                            run_shell(ctx.task_params.as_deref(), &dir, &log_path, kill_rx).await
                        }
                    };
                    if let Ok(mut r) = running.lock() {
                        r.remove(&id);
                    }
                    let result = Command::TaskExecuteResponse(TaskExecuteResponseCommand {
                        task_instance_id: id,
                        process_instance_id: pid,
                        status,
                        end_time: Some(chrono::Utc::now()),
                        process_id,
                        app_ids: None,
                        var_pool: Some("[]".into()),
                        ..Default::default()
                    });
                    record(&events, pid, id, true);
                    send_cached(&pending, &bindings, (id, true), result);
                });
            }
            Command::DbTaskAck(a) if a.status == 7 => {
                if let Ok(mut p) = pending.lock() {
                    p.remove(&(a.task_instance_id, false));
                }
            }
            Command::DbTaskResponse(a) if a.status == 7 => {
                if let Ok(mut p) = pending.lock() {
                    p.remove(&(a.task_instance_id, true));
                }
            }
            Command::HostUpdate(h) => bind(&bindings, h.task_instance_id, &link),
            Command::TaskKillRequest(k) => {
                bind(&bindings, k.task_instance_id, &link);
                let switch = running
                    .lock()
                    .ok()
                    .and_then(|mut r| r.remove(&k.task_instance_id));
                if let Some((switch, process_instance_id)) = switch {
                    let _ = switch.send(());
                    let _ = link.send(Command::TaskKillResponse(
                        crate::protocol::TaskKillResponseCommand {
                            task_instance_id: k.task_instance_id,
                            host: Some(addr.clone()),
                            status: 7,
                            process_id: 0,
                            process_instance_id,
                            app_ids: Some(Vec::new()),
                        },
                    ));
                }
                tracing::info!(
                    task_instance_id = k.task_instance_id,
                    "stand-in worker: kill request (tasks here end on their own)"
                );
            }
            _ => {}
        }
    }
}

fn bind(bindings: &Bindings, id: i32, link: &Link) {
    if let Ok(mut b) = bindings.lock() {
        b.insert(id, link.clone());
    }
}

fn bound(bindings: &Bindings, id: i32) -> Option<Link> {
    bindings.lock().ok().and_then(|b| b.get(&id).cloned())
}

fn send_cached(pending: &Pending, bindings: &Bindings, key: (i32, bool), command: Command) {
    if let Some(link) = bound(bindings, key.0) {
        if let Err(e) = link.send(command.clone()) {
            tracing::debug!(error = %e, "stand-in worker send failed; will resend");
        }
    }
    if let Ok(mut p) = pending.lock() {
        p.insert(key, command);
    }
}

async fn resend(
    pending: Pending,
    bindings: Bindings,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let items: Vec<((i32, bool), Command)> = match pending.lock() {
            Ok(p) => p.iter().map(|(k, c)| (*k, c.clone())).collect(),
            Err(_) => return,
        };
        for ((id, _), command) in items {
            if let Some(link) = bound(&bindings, id) {
                let _ = link.send(command);
            }
        }
    }
}

async fn run_shell(
    task_params: Option<&str>,
    dir: &std::path::Path,
    log: &std::path::Path,
    kill: tokio::sync::oneshot::Receiver<()>,
) -> (i32, i32) {
    let script = task_params
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        .and_then(|v| {
            v.get("rawScript")
                .and_then(|s| s.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    if let Err(e) = tokio::fs::create_dir_all(dir).await {
        tracing::warn!(error = %e, "stand-in worker: cannot create its work dir");
        return (6, 0);
    }
    let log_file = match std::fs::File::create(log) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "stand-in worker: cannot create the task log");
            return (6, 0);
        }
    };
    let err_file = match log_file.try_clone() {
        Ok(f) => f,
        Err(_) => return (6, 0),
    };
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .stdout(log_file)
        .stderr(err_file)
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "stand-in worker: cannot run sh");
            return (6, 0);
        }
    };
    let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
    tokio::select! {
        status = child.wait() => match status {
            Ok(s) if s.success() => (7, pid),
            _ => (6, pid),
        },
        _ = kill => {
            let _ = child.kill().await;
            (9, pid)
        }
    }
}
