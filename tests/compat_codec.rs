//! Our codec against upstream's own Java codec, per published release: 2.0.2 (dialect A),
//! 2.0.5 (B) and 2.0.6 (C; Maven Central has no 2.0.7–2.0.9 artefacts, and their remote
//! module and command bodies are identical to 2.0.6's).
//!
//! The Java side is `compat/codec` (our CLI around upstream's `NettyEncoder`/`NettyDecoder`,
//! command classes, `JSONUtils`, `NettyRemotingServer`/`NettyRemotingClient`), started once
//! per release in `session` mode. For each release:
//!
//! * (a) every Java vector decodes in our codec to the values upstream itself reads back;
//! * (b) our encoding of those values is byte-equal to upstream's frame;
//! * (c) our frames (the vectors plus Rust-built ones) fed to upstream's decoder, parsed into
//!   upstream's classes and re-encoded come back byte-equal;
//! * (d) live over loopback: upstream's client sends every vector to our `serve` and gets the
//!   replies a master owes; our `Connector` dispatches to upstream's server, which answers as
//!   a worker, and our frames (heartbeats included) arrive intact.
//!
//! Needs `java` (11+) and `mvn` with Maven Central reachable (first run) or a warm `~/.m2`;
//! missing prerequisites fail loudly. `compat/codec/run.sh` caches the build per release.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command as Process, Stdio};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use dsmaster::model::ExecutionStatus;
use dsmaster::protocol::date::from_epoch_millis;
use dsmaster::protocol::{
    serve, CacheExpireCommand, CacheType, Command, CommandType, Connector, DbTaskAckCommand,
    DbTaskResponseCommand, Dialect, Frame, FrameCodec, FrameKind, HostUpdateCommand, Inbound,
    LinkOptions, StateEventChangeCommand, TaskExecuteAckCommand, TaskExecuteRequestCommand,
    TaskExecuteResponseCommand, TaskExecutionContext, TaskKillAckCommand, TaskKillRequestCommand,
    TaskKillResponseCommand, TaskRecallAckCommand, TaskRecallCommand, DEFAULT_MAX_FRAME,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::CancellationToken;

const PEER_TIMEOUT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------------------
// The Java peer process
// ---------------------------------------------------------------------------------------

fn run_sh() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compat/codec/run.sh")
}

/// One `run.sh session` JVM; its stdout lines are JSON objects.
struct Peer {
    release: &'static str,
    child: Child,
    stdin: ChildStdin,
    lines: std_mpsc::Receiver<Value>,
    /// Lines read while waiting for something else.
    backlog: Vec<Value>,
}

impl Peer {
    fn start(release: &'static str) -> Peer {
        let t = Instant::now();
        let status = Process::new(run_sh())
            .args(["build", "--version", release])
            .status()
            .expect("run compat/codec/run.sh (needs sh, java, mvn)");
        assert!(
            status.success(),
            "building the codec peer for {release} failed"
        );
        eprintln!(
            "codec peer {release}: build/cache check {:.2}s",
            t.elapsed().as_secs_f64()
        );
        let mut child = Process::new(run_sh())
            .args(["session", "--version", release])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the codec peer");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    Err(_) => eprintln!("codec peer (not JSON): {line}"),
                }
            }
        });
        Peer {
            release,
            child,
            stdin,
            lines,
            backlog: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|_| self.stdin.write_all(b"\n"))
            .and_then(|_| self.stdin.flush())
            .expect("write to the codec peer");
    }

    /// The first line (backlog first) satisfying `pred`; other lines stay in the backlog.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i);
        }
        let deadline = Instant::now() + PEER_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if pred(&v) => return v,
                Ok(v) => {
                    if event(&v) == "error" {
                        panic!("codec peer {} reported an error: {v}", self.release);
                    }
                    self.backlog.push(v)
                }
                Err(_) => panic!(
                    "codec peer {}: no {what} within {PEER_TIMEOUT:?}",
                    self.release
                ),
            }
        }
    }

    fn wait_event(&mut self, name: &str) -> Value {
        self.wait_for(name, |v| event(v) == name)
    }

    /// Removes and returns every backlog line of event `name` (after a short drain).
    fn take_events(&mut self, name: &str) -> Vec<Value> {
        while let Ok(v) = self.lines.recv_timeout(Duration::from_millis(50)) {
            self.backlog.push(v);
        }
        let (hit, rest) = std::mem::take(&mut self.backlog)
            .into_iter()
            .partition(|v| event(v) == name);
        self.backlog = rest;
        hit
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.stdin.write_all(b"quit\n");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn event(v: &Value) -> &str {
    v["event"].as_str().unwrap_or("")
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn i64_of(v: &Value, key: &str) -> i64 {
    v[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

// ---------------------------------------------------------------------------------------
// Bytes, frames and typed values
// ---------------------------------------------------------------------------------------

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex from the peer"))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn codec(d: Dialect) -> FrameCodec {
    FrameCodec::new(d, DEFAULT_MAX_FRAME)
}

fn frame_bytes(cmd: &Command, opaque: i64, d: Dialect) -> Vec<u8> {
    let frame = cmd.encode(opaque, d).expect("our encoder");
    let mut out = BytesMut::new();
    codec(d).encode(frame, &mut out).expect("our framer");
    out.to_vec()
}

fn decode_frame(bytes: &[u8], d: Dialect) -> Result<Frame, String> {
    let mut buf = BytesMut::from(bytes);
    let frame = codec(d)
        .decode(&mut buf)
        .map_err(|e| format!("frame error: {e}"))?
        .ok_or("incomplete frame")?;
    if !buf.is_empty() {
        return Err(format!("{} bytes left after the frame", buf.len()));
    }
    Ok(frame)
}

fn command_type(name: &str) -> CommandType {
    *CommandType::ALL
        .iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("unknown command type {name}"))
}

fn typed<T: DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("typed value from {v}: {e}"))
}

/// The command with the values upstream read back from a vector's frame.
fn expected(d: Dialect, v: &Value) -> Command {
    let f = &v["fields"];
    match str_of(v, "type") {
        "HEART_BEAT" => {
            assert_eq!(f["body"], "heart_beat");
            Command::HeartBeat
        }
        "TASK_EXECUTE_REQUEST" => {
            let ctx: TaskExecutionContext = typed(&v["context"]);
            Command::TaskExecuteRequest(
                TaskExecuteRequestCommand::for_dialect(&ctx, d).expect("context serializes"),
            )
        }
        "TASK_EXECUTE_ACK" => Command::TaskExecuteAck(typed::<TaskExecuteAckCommand>(f)),
        "TASK_EXECUTE_RESPONSE" => {
            Command::TaskExecuteResponse(typed::<TaskExecuteResponseCommand>(f))
        }
        "DB_TASK_ACK" => Command::DbTaskAck(typed::<DbTaskAckCommand>(f)),
        "DB_TASK_RESPONSE" => Command::DbTaskResponse(typed::<DbTaskResponseCommand>(f)),
        "TASK_KILL_REQUEST" => Command::TaskKillRequest(typed::<TaskKillRequestCommand>(f)),
        "TASK_KILL_RESPONSE" => Command::TaskKillResponse(typed::<TaskKillResponseCommand>(f)),
        "TASK_KILL_RESPONSE_ACK" => Command::TaskKillResponseAck(typed::<TaskKillAckCommand>(f)),
        "TASK_RECALL" => Command::TaskRecall(typed::<TaskRecallCommand>(f)),
        "TASK_RECALL_ACK" => Command::TaskRecallAck(typed::<TaskRecallAckCommand>(f)),
        "PROCESS_HOST_UPDATE_REQUEST" => Command::HostUpdate(typed::<HostUpdateCommand>(f)),
        "STATE_EVENT_REQUEST" => Command::StateEvent(typed::<StateEventChangeCommand>(f)),
        "CACHE_EXPIRE" => Command::CacheExpire(typed::<CacheExpireCommand>(f)),
        other => panic!("no typed form for {other}"),
    }
}

/// Typed equality; a TASK_EXECUTE_REQUEST is compared by its parsed inner context (its
/// text is compared byte for byte by the encoding check).
fn same_values(ours: &Command, want: &Command) -> Result<(), String> {
    match (ours, want) {
        (Command::TaskExecuteRequest(a), Command::TaskExecuteRequest(b)) => {
            let a = a.context().map_err(|e| format!("our decoder: {e}"))?;
            let b = b.context().map_err(|e| format!("expected context: {e}"))?;
            if a == b {
                Ok(())
            } else {
                Err(format!("context differs:\n ours {a:?}\n want {b:?}"))
            }
        }
        _ if ours == want => Ok(()),
        _ => Err(format!("values differ:\n ours {ours:?}\n want {want:?}")),
    }
}

/// Where two byte strings first differ, with some text around it.
fn first_difference(ours: &[u8], theirs: &[u8]) -> String {
    let at = ours
        .iter()
        .zip(theirs)
        .position(|(a, b)| a != b)
        .unwrap_or(ours.len().min(theirs.len()));
    let window = |b: &[u8]| {
        let lo = at.saturating_sub(40);
        let hi = (at + 40).min(b.len());
        String::from_utf8_lossy(&b[lo..hi]).into_owned()
    };
    format!(
        "lengths ours {} / upstream {}, first difference at byte {at}:\n    ours     …{}…\n    upstream …{}…",
        ours.len(),
        theirs.len(),
        window(ours),
        window(theirs)
    )
}

/// Keys upstream wrote that our body lacks (a misnamed field would read as a default and
/// go unnoticed by value comparison alone).
fn missing_keys(fields: &Value, body: &[u8]) -> Vec<String> {
    let Ok(Value::Object(ours)) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    fields
        .as_object()
        .map(|f| {
            f.keys()
                .filter(|k| !ours.contains_key(*k))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------

/// (a) + (b): returns our frames for (c).
fn check_vectors(d: Dialect, vectors: &[Value], failures: &mut Vec<String>) -> Vec<Vec<u8>> {
    let mut ours_all = Vec::new();
    for v in vectors {
        let name = str_of(v, "name");
        let java = unhex(str_of(v, "hex"));
        let opaque = i64_of(v, "opaque");
        let ty = command_type(str_of(v, "type"));
        assert_eq!(
            d.ordinal(ty).map(i64::from),
            v["ordinal"].as_i64(),
            "{name}: ordinal of {ty} in {d}"
        );
        let want = expected(d, v);

        // (a) upstream's bytes through our decoder
        match decode_frame(&java, d) {
            Err(e) => failures.push(format!("(a) {name}: {e}")),
            Ok(frame) => {
                if frame.kind != FrameKind::Known(ty) || frame.opaque != opaque {
                    failures.push(format!(
                        "(a) {name}: header decoded as {:?} opaque {}",
                        frame.kind, frame.opaque
                    ));
                }
                match Command::decode(&frame, d) {
                    Err(e) => failures.push(format!("(a) {name}: body: {e}")),
                    Ok(cmd) => {
                        if let Err(e) = same_values(&cmd, &want) {
                            failures.push(format!("(a) {name}: {e}"));
                        }
                    }
                }
            }
        }

        // (b) the same values through our encoder
        let ours = frame_bytes(&want, opaque, d);
        if ours != java {
            failures.push(format!("(b) {name}: {}", first_difference(&ours, &java)));
        }
        let body_at = 15 + 12 + 4;
        if ty != CommandType::HeartBeat && ours.len() > body_at {
            let missing = missing_keys(&v["fields"], &ours[body_at..]);
            if !missing.is_empty() {
                failures.push(format!("(b) {name}: our body lacks keys {missing:?}"));
            }
        }
        ours_all.push(ours);
    }
    ours_all
}

/// Frames only the Rust side builds, for (c): the spec's values and odd content.
fn rust_frames(d: Dialect) -> Vec<(String, Vec<u8>)> {
    let at = from_epoch_millis(1_700_000_000_000);
    let mut cmds: Vec<(&str, Command)> = vec![
        ("ping", Command::Ping),
        ("heart_beat", Command::HeartBeat),
        (
            "ack",
            Command::TaskExecuteAck(TaskExecuteAckCommand {
                task_instance_id: 101,
                process_instance_id: 7,
                start_time: at,
                host: Some("192.168.1.20:1234".into()),
                status: 1,
                log_path: Some("/opt/ds/logs/1.log".into()),
                execute_path: Some("\u{1}\u{1f}\u{7f}\"\\/\u{2028}😀".into()),
            }),
        ),
        (
            "response",
            Command::TaskExecuteResponse(TaskExecuteResponseCommand {
                task_instance_id: 5,
                process_instance_id: 6,
                status: 9,
                app_ids: Some(String::new()),
                var_pool: Some("[]".into()),
                ..Default::default()
            }),
        ),
        (
            "kill_response",
            Command::TaskKillResponse(TaskKillResponseCommand {
                task_instance_id: 101,
                host: None,
                status: 6,
                process_id: 1,
                process_instance_id: if d == Dialect::A { 0 } else { 7 },
                app_ids: Some(vec!["a".into(), "😀".into()]),
            }),
        ),
        (
            "state_event",
            Command::StateEvent(StateEventChangeCommand::new(
                7,
                0,
                ExecutionStatus::READY_PAUSE,
                7,
                0,
            )),
        ),
        (
            "host_update",
            Command::HostUpdate(HostUpdateCommand::new(101, "192.168.1.10:5678")),
        ),
        (
            "kill_request",
            Command::TaskKillRequest(TaskKillRequestCommand {
                task_instance_id: 0,
            }),
        ),
        (
            "db_task_ack",
            Command::DbTaskAck(DbTaskAckCommand::success(1)),
        ),
    ];
    let shell = TaskExecutionContext {
        task_instance_id: 101,
        task_name: Some("t1".into()),
        first_submit_time: at,
        task_type: Some("SHELL".into()),
        process_define_code: Some(5_678_901_234_567),
        process_define_version: 1,
        process_instance_id: 7,
        executor_id: 1,
        tenant_code: Some("ds".into()),
        queue: Some("default".into()),
        project_code: 1_234_567_890_123,
        task_params: Some(r#"{"rawScript":"echo 1","localParams":[],"resourceList":[]}"#.into()),
        worker_group: Some("default".into()),
        end_time: if d == Dialect::C { at } else { None },
        ..Default::default()
    };
    cmds.push((
        "shell_request",
        Command::TaskExecuteRequest(
            TaskExecuteRequestCommand::for_dialect(&shell, d).expect("context"),
        ),
    ));
    if d != Dialect::A {
        cmds.push((
            "cache_expire",
            Command::CacheExpire(CacheExpireCommand {
                cache_type: Some(CacheType::SCHEDULE),
                cache_key: Some("1".into()),
            }),
        ));
        cmds.push((
            "kill_ack",
            Command::TaskKillResponseAck(TaskKillAckCommand::new(-1, 6)),
        ));
    }
    if d == Dialect::C {
        cmds.push((
            "recall_ack",
            Command::TaskRecallAck(TaskRecallAckCommand::success(101)),
        ));
    }
    cmds.into_iter()
        .enumerate()
        .map(|(i, (name, c))| (format!("rust.{name}"), frame_bytes(&c, 1000 + i as i64, d)))
        .collect()
}

/// (c): upstream decodes, parses and re-encodes our frames.
fn check_upstream_reads_ours(
    peer: &mut Peer,
    frames: &[(String, Vec<u8>)],
    failures: &mut Vec<String>,
) {
    for (_, f) in frames {
        peer.send(&format!("decode {}", hex(f)));
    }
    for (name, f) in frames {
        let v = peer.wait_for("decode result", |v| {
            matches!(event(v), "decoded" | "decode-error")
        });
        if event(&v) == "decode-error" {
            failures.push(format!("(c) {name}: upstream: {}", str_of(&v, "error")));
            continue;
        }
        let back = unhex(str_of(&v, "hex"));
        if &back != f {
            failures.push(format!(
                "(c) {name}: upstream re-encoded differently: {}",
                first_difference(f, &back)
            ));
        }
    }
}

/// The replies a master owes, as the Rust test's stand-in master sends them.
fn answer(d: Dialect, inbound: &Inbound) {
    let link = &inbound.link;
    let sent = match &inbound.command {
        Command::TaskExecuteAck(a) => link.send(DbTaskAckCommand::success(a.task_instance_id)),
        Command::TaskExecuteResponse(r) => {
            link.send(DbTaskResponseCommand::success(r.task_instance_id))
        }
        Command::TaskKillResponse(k) if d != Dialect::A => {
            link.send(TaskKillAckCommand::success(k.task_instance_id))
        }
        Command::TaskRecall(r) => link.send_with_opaque(
            TaskRecallAckCommand::success(r.task_instance_id),
            inbound.opaque,
        ),
        _ => Ok(()),
    };
    sent.expect("reply queued");
}

/// (d1): upstream's client → our server. Returns (frames sent, replies received) by upstream.
async fn check_upstream_client(
    peer: &mut Peer,
    d: Dialect,
    failures: &mut Vec<String>,
) -> (usize, usize) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let opts = LinkOptions {
        dialect: d,
        ..LinkOptions::default()
    };
    let (tx, mut rx) = mpsc::channel::<Inbound>(1024);
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve(listener, opts, tx, stop.clone()));
    let received: Arc<Mutex<Vec<(i64, Command)>>> = Arc::default();
    let log = received.clone();
    let master = tokio::spawn(async move {
        while let Some(inbound) = rx.recv().await {
            answer(d, &inbound);
            log.lock()
                .expect("log")
                .push((inbound.opaque, inbound.command));
        }
    });

    peer.send(&format!("client {addr}"));
    let done = peer.wait_event("client-done");
    let sent = peer.take_events("client-sent");
    let replies = peer.take_events("client-recv");
    if done["ok"] != true {
        failures.push(format!("(d) upstream client → our server: {done}"));
    }
    // Every frame upstream sent arrived with the same values and opaque (heartbeats are
    // consumed by the link layer).
    let got = received.lock().expect("log").clone();
    for s in &sent {
        let name = s["name"].as_str().unwrap_or("?");
        if str_of(s, "type") == "HEART_BEAT" {
            continue;
        }
        let opaque = i64_of(s, "opaque");
        let want = decode_frame(&unhex(str_of(s, "hex")), d)
            .and_then(|f| Command::decode(&f, d).map_err(|e| e.to_string()));
        let Ok(want) = want else {
            failures.push(format!("(d) {name}: {want:?}"));
            continue;
        };
        if !got
            .iter()
            .any(|(o, c)| *o == opaque && same_values(c, &want).is_ok())
        {
            failures.push(format!("(d) {name}: not received by our server as sent"));
        }
    }
    // Every reply is the right type for what it answers; recall acks echo the opaque.
    for r in &replies {
        let ty = str_of(r, "type");
        let id = r["fields"]["taskInstanceId"].as_i64();
        let ok = match ty {
            "DB_TASK_ACK" | "DB_TASK_RESPONSE" | "TASK_KILL_RESPONSE_ACK" => {
                r["fields"]["status"] == 7
            }
            "TASK_RECALL_ACK" => {
                let opaque = i64_of(r, "opaque");
                sent.iter().any(|s| {
                    str_of(s, "type") == "TASK_RECALL"
                        && i64_of(s, "opaque") == opaque
                        && s["fields"]["taskInstanceId"].as_i64() == id
                })
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("(d) unexpected reply to upstream's client: {r}"));
        }
    }
    stop.cancel();
    let _ = server.await;
    master.abort();
    (sent.len(), replies.len())
}

/// (d2): our connector → upstream's server (playing worker and master). Returns the number
/// of our frames upstream's server received.
async fn check_upstream_server(
    peer: &mut Peer,
    d: Dialect,
    full_context: &TaskExecutionContext,
    failures: &mut Vec<String>,
) -> usize {
    peer.send("serve");
    let port = i64_of(&peer.wait_event("listening"), "port");
    let opts = LinkOptions {
        dialect: d,
        client_heartbeat: Duration::from_millis(300),
        ..LinkOptions::default()
    };
    let (tx, mut rx) = mpsc::channel::<Inbound>(64);
    let connector = Connector::new(opts, tx);
    let link = connector
        .link(&format!("127.0.0.1:{port}"))
        .await
        .expect("dial upstream's server");

    let mut plan: Vec<(i64, Command)> = vec![
        (
            9_007_199_254_740_993,
            Command::TaskExecuteRequest(
                TaskExecuteRequestCommand::for_dialect(full_context, d).expect("context"),
            ),
        ),
        (
            -5,
            Command::TaskKillRequest(TaskKillRequestCommand {
                task_instance_id: 101,
            }),
        ),
        (
            501,
            Command::StateEvent(StateEventChangeCommand::new(
                7,
                0,
                ExecutionStatus::READY_STOP,
                7,
                0,
            )),
        ),
        (
            502,
            Command::HostUpdate(HostUpdateCommand::new(101, "127.0.0.1:5678")),
        ),
    ];
    if d != Dialect::A {
        plan.push((
            503,
            Command::CacheExpire(CacheExpireCommand {
                cache_type: Some(CacheType::PROCESS_DEFINITION),
                cache_key: Some("5678901234567".into()),
            }),
        ));
    }
    if d == Dialect::C {
        plan.push((
            504,
            Command::TaskRecallAck(TaskRecallAckCommand::success(101)),
        ));
    }
    for (opaque, cmd) in &plan {
        link.send_with_opaque(cmd.clone(), *opaque).expect("queued");
    }

    // Upstream answers the request with an ack and the kill with a kill response, on this
    // connection; we reply as a master would.
    let mut wanted: BTreeSet<&str> = ["TASK_EXECUTE_ACK", "TASK_KILL_RESPONSE"].into();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !wanted.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(inbound)) = tokio::time::timeout(left, rx.recv()).await else {
            failures.push(format!("(d) upstream's server never sent {wanted:?}"));
            break;
        };
        match &inbound.command {
            Command::TaskExecuteAck(a) => {
                wanted.remove("TASK_EXECUTE_ACK");
                if a.task_instance_id != full_context.task_instance_id
                    || a.process_instance_id != full_context.process_instance_id
                    || a.status != 1
                    || a.start_time != from_epoch_millis(1_700_000_000_000)
                {
                    failures.push(format!("(d) ack from upstream's server: {a:?}"));
                }
            }
            Command::TaskKillResponse(k) => {
                wanted.remove("TASK_KILL_RESPONSE");
                if k.task_instance_id != 101
                    || k.app_ids.as_deref() != Some(&["application_1_2".to_string()][..])
                {
                    failures.push(format!("(d) kill response from upstream's server: {k:?}"));
                }
            }
            other => failures.push(format!("(d) unexpected from upstream's server: {other:?}")),
        }
        answer(d, &inbound);
        if inbound.link != link {
            failures.push("(d) upstream's reply arrived on another connection".into());
        }
    }

    // Let heartbeats flow (300 ms without reads), then prove the connection survived them.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let last = (
        505,
        Command::HostUpdate(HostUpdateCommand::new(102, "127.0.0.1:5678")),
    );
    link.send_with_opaque(last.1.clone(), last.0)
        .expect("queued");
    plan.push(last);
    let mut replies: Vec<&str> = vec!["DB_TASK_ACK"];
    if d != Dialect::A {
        replies.push("TASK_KILL_RESPONSE_ACK");
    }

    // Upstream received exactly our frames (bytes compared), plus our replies.
    let mut received = 0;
    let mut pending: Vec<(i64, Vec<u8>)> = plan
        .iter()
        .map(|(o, c)| (*o, frame_bytes(c, *o, d)))
        .collect();
    while !pending.is_empty() || !replies.is_empty() {
        let got = peer.wait_event("server-recv");
        let ty = str_of(&got, "type").to_string();
        let bytes = unhex(str_of(&got, "hex"));
        received += 1;
        if let Some(i) = pending.iter().position(|(_, b)| *b == bytes) {
            pending.remove(i);
            if ty == "TASK_EXECUTE_REQUEST" {
                let theirs: TaskExecutionContext = typed(&got["context"]);
                if &theirs != full_context {
                    failures.push(format!(
                        "(d) upstream read our context as {theirs:?}, sent {full_context:?}"
                    ));
                }
            }
        } else if let Some(i) = replies.iter().position(|r| *r == ty) {
            replies.remove(i);
            if got["fields"]["status"] != 7 {
                failures.push(format!("(d) our reply as upstream read it: {got}"));
            }
        } else {
            failures.push(format!(
                "(d) upstream's server got an unexpected frame: {got}"
            ));
            break;
        }
    }
    let extra = peer.take_events("server-recv");
    if !extra.is_empty() {
        failures.push(format!("(d) upstream's server got extra frames: {extra:?}"));
    }
    if link.is_closed() {
        failures.push("(d) our link to upstream's server closed".into());
    }
    connector.shutdown();
    received
}

async fn check_release(release: &'static str, d: Dialect) {
    let started = Instant::now();
    let mut peer = Peer::start(release);
    let mut failures = Vec::new();

    peer.send("vectors");
    let done = peer.wait_event("vectors-done");
    let vectors = peer.take_events("vector");
    assert_eq!(
        vectors.len() as i64,
        i64_of(&done, "count"),
        "all vectors read"
    );
    // Upstream's CommandType enum is our dialect table.
    let theirs: Vec<String> = typed(&done["commandTypes"]);
    let ours: Vec<String> = d.types().iter().map(|t| t.name().to_string()).collect();
    assert_eq!(theirs, ours, "CommandType ordinals of {release} vs {d}");
    let types: BTreeSet<&str> = vectors.iter().map(|v| str_of(v, "type")).collect();
    for t in [
        "HEART_BEAT",
        "TASK_EXECUTE_REQUEST",
        "TASK_EXECUTE_ACK",
        "TASK_EXECUTE_RESPONSE",
        "DB_TASK_ACK",
        "DB_TASK_RESPONSE",
        "TASK_KILL_REQUEST",
        "TASK_KILL_RESPONSE",
        "STATE_EVENT_REQUEST",
        "PROCESS_HOST_UPDATE_REQUEST",
    ] {
        assert!(types.contains(t), "{release}: no {t} vector");
    }
    let b_plus = ["TASK_KILL_RESPONSE_ACK", "CACHE_EXPIRE"];
    let c_only = ["TASK_RECALL", "TASK_RECALL_ACK"];
    for t in b_plus {
        assert_eq!(types.contains(t), d != Dialect::A, "{release}: {t}");
    }
    for t in c_only {
        assert_eq!(types.contains(t), d == Dialect::C, "{release}: {t}");
    }
    for v in &vectors {
        assert_eq!(
            v["javaRoundTrip"], true,
            "upstream is not deterministic on {v}"
        );
    }

    // (a) + (b)
    let ours = check_vectors(d, &vectors, &mut failures);
    // (c)
    let mut frames: Vec<(String, Vec<u8>)> = vectors
        .iter()
        .map(|v| str_of(v, "name").to_string())
        .zip(ours)
        .collect();
    frames.extend(rust_frames(d));
    check_upstream_reads_ours(&mut peer, &frames, &mut failures);
    // (d)
    let (client_sent, client_replies) = check_upstream_client(&mut peer, d, &mut failures).await;
    let full = vectors
        .iter()
        .find(|v| v["name"] == "task_execute_request.full")
        .expect("full context vector");
    let full_context: TaskExecutionContext = typed(&full["context"]);
    let server_received = check_upstream_server(&mut peer, d, &full_context, &mut failures).await;

    eprintln!(
        "codec peer {release} ({d}): {} vectors; {} of our frames re-encoded by upstream; \
         upstream client sent {client_sent} frames, got {client_replies} replies; \
         upstream server got {server_received} of our frames; {:.2}s",
        vectors.len(),
        frames.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{release}: {} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_2_0_2_dialect_a() {
    check_release("2.0.2", Dialect::A).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_2_0_5_dialect_b() {
    check_release("2.0.5", Dialect::B).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_2_0_6_dialect_c() {
    check_release("2.0.6", Dialect::C).await;
}
