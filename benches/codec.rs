//! Codec throughput: TASK_EXECUTE_REQUEST frames encoded and decoded per second on one core,
//! ours against upstream's Java codec (`compat/codec/run.sh bench`) in the same run.
//!
//! Per frame, both sides do the whole path a dispatch takes between master and worker minus
//! the socket: serialize the task execution context, wrap it in the request body (the
//! context travels as a JSON string inside JSON), frame it, deframe it, parse the body and the
//! inner context back. Both use the same context (the spec's SHELL example with a 1 KiB
//! script); the first frames are compared byte for byte so the figures are comparable. The
//! context is built once, outside the timed loop, on both sides; both warm up with
//! `max(frames / 5, 20 000)` unmeasured frames.
//!
//! A second table measures what a master does with the codec for one task, the figure that
//! matters for a task hop: encode the TASK_EXECUTE_REQUEST (ours: `TaskExecuteRequestCommand::
//! body_for`, the context written straight into the escaped body, as `dispatch` sends it);
//! decode the worker's TASK_EXECUTE_ACK and encode the DB_TASK_ACK answer; decode its
//! TASK_EXECUTE_RESPONSE and encode the DB_TASK_RESPONSE answer. The worker's two frames are
//! the ones upstream's encoder wrote (taken from the Java peer's output, so both sides decode
//! the same bytes; made by our encoder with `--no-java`). A master never decodes a request, so
//! no one-pass request reader is measured.
//!
//! ```text
//! cargo bench --bench codec                      # 200k frames each side
//! cargo bench --bench codec -- --frames 500000 --release-version 2.0.6
//! cargo bench --bench codec -- --no-java
//! cargo bench --bench codec -- --breakdown       # µs per stage, Rust only
//! ```
//!
//! Results are recorded in `BENCHMARKS.md`.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command as Process;
use tokio::time::Instant;

use bytes::BytesMut;
use dsmaster::protocol::date::from_epoch_millis;
use dsmaster::protocol::{
    Command, CommandType, DbTaskAckCommand, DbTaskResponseCommand, Dialect, Frame, FrameCodec,
    TaskExecuteAckCommand, TaskExecuteRequestCommand, TaskExecuteResponseCommand,
    TaskExecutionContext, DEFAULT_MAX_FRAME,
};
use tokio_util::codec::{Decoder, Encoder};

/// The benchmark context, built exactly as `compat/codec`'s `Bench.context()` builds it.
fn context() -> TaskExecutionContext {
    let mut script = String::new();
    let mut i = 0;
    while script.len() < 1024 {
        script.push_str(&format!("echo \\\"step {i}\\\" && sleep 0\\n"));
        i += 1;
    }
    TaskExecutionContext {
        task_instance_id: 101,
        task_name: Some("t1".into()),
        first_submit_time: from_epoch_millis(1_700_000_000_000),
        task_type: Some("SHELL".into()),
        process_define_code: Some(5_678_901_234_567),
        process_define_version: 1,
        process_instance_id: 7,
        executor_id: 1,
        tenant_code: Some("ds".into()),
        queue: Some("default".into()),
        project_code: 1_234_567_890_123,
        task_params: Some(format!(
            r#"{{"rawScript":"{script}","localParams":[],"resourceList":[]}}"#
        )),
        worker_group: Some("default".into()),
        ..Default::default()
    }
}

type Error = Box<dyn std::error::Error>;

/// One frame through our codec, the way `dispatch` sends it today: the context to its JSON
/// text (`TaskExecuteRequestCommand::for_dialect`), the command to a frame; then back.
/// Returns something derived from the result.
fn round_trip(
    ctx: &TaskExecutionContext,
    codec: &mut FrameCodec,
    buf: &mut BytesMut,
    opaque: i64,
) -> Result<usize, Error> {
    let d = codec.dialect();
    let cmd = Command::TaskExecuteRequest(TaskExecuteRequestCommand::for_dialect(ctx, d)?);
    codec.encode(cmd.encode(opaque, d)?, buf)?;
    decode(codec, buf)
}

/// The worker's two frames for the benchmark task, as bytes on the wire.
struct Replies {
    ack: Vec<u8>,
    response: Vec<u8>,
}

/// The same frames the Java peer writes (`Bench.ack()` / `Bench.response()`), by our encoder.
fn our_replies(d: Dialect) -> Result<Replies, Error> {
    let mut codec = FrameCodec::new(d, DEFAULT_MAX_FRAME);
    let ack = Command::TaskExecuteAck(TaskExecuteAckCommand {
        task_instance_id: 101,
        process_instance_id: 7,
        start_time: from_epoch_millis(1_700_000_001_000),
        host: Some("192.168.7.2:1234".into()),
        status: 1,
        log_path: Some("/opt/dolphinscheduler/logs/20231114/5678901234567_1/7/101.log".into()),
        execute_path: Some(
            "/tmp/dolphinscheduler/exec/process/1234567890123/5678901234567_1/7/101".into(),
        ),
    });
    let response = Command::TaskExecuteResponse(TaskExecuteResponseCommand {
        task_instance_id: 101,
        process_instance_id: 7,
        status: 7,
        end_time: from_epoch_millis(1_700_000_002_000),
        process_id: 4242,
        app_ids: Some(String::new()),
        var_pool: Some("[]".into()),
        ..Default::default()
    });
    let mut wire = |c: Command, opaque: i64| -> Result<Vec<u8>, Error> {
        let mut buf = BytesMut::new();
        codec.encode(c.encode(opaque, d)?, &mut buf)?;
        Ok(buf.to_vec())
    };
    Ok(Replies {
        ack: wire(ack, 2)?,
        response: wire(response, 3)?,
    })
}

/// One task's codec work on a master: the request encoded as `dispatch` does it, the ack
/// decoded and answered, the result decoded and answered. `buf` is the outgoing buffer,
/// `inbound` the incoming one.
fn master_hop(
    ctx: &TaskExecutionContext,
    codec: &mut FrameCodec,
    replies: &Replies,
    out: &mut BytesMut,
    inbound: &mut BytesMut,
    opaque: i64,
) -> Result<usize, Error> {
    let d = codec.dialect();
    let body = TaskExecuteRequestCommand::body_for(ctx, d)?;
    codec.encode(
        Frame::new(CommandType::TaskExecuteRequest, opaque, body),
        out,
    )?;

    inbound.extend_from_slice(&replies.ack);
    let frame = codec.decode(inbound)?.ok_or("incomplete ack frame")?;
    let Command::TaskExecuteAck(ack) = Command::decode(&frame, d)? else {
        return Err("the ack decoded as another command".into());
    };
    let answer = Command::DbTaskAck(DbTaskAckCommand {
        task_instance_id: ack.task_instance_id,
        status: 7,
    });
    codec.encode(answer.encode(opaque + 1, d)?, out)?;

    inbound.extend_from_slice(&replies.response);
    let frame = codec.decode(inbound)?.ok_or("incomplete response frame")?;
    let Command::TaskExecuteResponse(result) = Command::decode(&frame, d)? else {
        return Err("the response decoded as another command".into());
    };
    let answer = Command::DbTaskResponse(DbTaskResponseCommand {
        task_instance_id: result.task_instance_id,
        status: 7,
    });
    codec.encode(answer.encode(opaque + 2, d)?, out)?;

    let n = out.len() + (result.status + ack.status) as usize;
    out.clear();
    Ok(n)
}

/// The receiving half: deframe, parse the body, parse the inner context.
fn decode(codec: &mut FrameCodec, buf: &mut BytesMut) -> Result<usize, Error> {
    let d = codec.dialect();
    let frame = codec.decode(buf)?.ok_or("incomplete frame")?;
    let Command::TaskExecuteRequest(req) = Command::decode(&frame, d)? else {
        return Err("decoded as another command".into());
    };
    let back = req.context()?;
    Ok(back.task_instance_id as usize + frame.body.len())
}

struct Run {
    frames: u64,
    seconds: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.frames as f64 / self.seconds
    }
}

/// Runs `f` `max(n / 5, 20 000)` times unmeasured, then `n` times measured.
fn timed(n: u64, mut f: impl FnMut(i64) -> Result<usize, Error>) -> Result<Run, Error> {
    let mut sink = 0usize;
    for i in 0..(n / 5).max(20_000) {
        sink += f(i as i64)?;
    }
    let start = Instant::now();
    for i in 0..n {
        sink += f(i as i64)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    black_box(sink);
    Ok(Run { frames: n, seconds })
}

/// The request round trip, timed; returns the run and the first frame's bytes, after
/// checking that `body_for` (what dispatch sends) writes the same frame as the two steps.
fn rust(frames: u64, d: Dialect) -> Result<(Run, Vec<u8>), Error> {
    let ctx = context();
    let mut codec = FrameCodec::new(d, DEFAULT_MAX_FRAME);
    let mut first = BytesMut::new();
    let cmd = Command::TaskExecuteRequest(TaskExecuteRequestCommand::for_dialect(&ctx, d)?);
    codec.encode(cmd.encode(1, d)?, &mut first)?;
    let mut check = BytesMut::new();
    codec.encode(
        Frame::new(
            CommandType::TaskExecuteRequest,
            1,
            TaskExecuteRequestCommand::body_for(&ctx, d)?,
        ),
        &mut check,
    )?;
    if check != first {
        return Err("body_for and for_dialect + encode wrote different frames".into());
    }
    let mut buf = BytesMut::with_capacity(8192);
    let run = timed(frames, |i| {
        round_trip(black_box(&ctx), &mut codec, &mut buf, i)
    })?;
    Ok((run, first.to_vec()))
}

/// The master's codec work per task, timed.
fn rust_hops(hops: u64, d: Dialect, replies: &Replies) -> Result<Run, Error> {
    let ctx = context();
    let mut codec = FrameCodec::new(d, DEFAULT_MAX_FRAME);
    let mut out = BytesMut::with_capacity(8192);
    let mut inbound = BytesMut::with_capacity(1024);
    timed(hops, |i| {
        master_hop(
            black_box(&ctx),
            &mut codec,
            replies,
            &mut out,
            &mut inbound,
            i,
        )
    })
}

struct JavaRun {
    run: Run,
    hops: Run,
    frame_hex: String,
    ack_hex: String,
    response_hex: String,
    jvm: String,
}

fn java(frames: u64, release: &str) -> Result<JavaRun, Error> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compat/codec/run.sh");
    let out = Process::new(script)
        .args(["bench", &frames.to_string(), "--version", release])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "run.sh bench failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let text = String::from_utf8(out.stdout)?;
    let mut request = None;
    let mut hop = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line.trim())?;
        match v["event"].as_str() {
            Some("bench") => request = Some(v),
            Some("bench-hop") => hop = Some(v),
            _ => {}
        }
    }
    let request = request.ok_or_else(|| format!("no bench line in {text}"))?;
    let hop = hop.ok_or_else(|| format!("no bench-hop line in {text}"))?;
    let num =
        |v: &serde_json::Value, k: &str| v[k].as_f64().ok_or_else(|| format!("no {k} in {v}"));
    let text_of = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    Ok(JavaRun {
        run: Run {
            frames: num(&request, "frames")? as u64,
            seconds: num(&request, "seconds")?,
        },
        hops: Run {
            frames: num(&hop, "hops")? as u64,
            seconds: num(&hop, "seconds")?,
        },
        frame_hex: text_of(&request, "frameHex"),
        ack_hex: text_of(&hop, "ackHex"),
        response_hex: text_of(&hop, "responseHex"),
        jvm: request["java"].as_str().unwrap_or("java").to_string(),
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, Error> {
    if s.len() % 2 != 0 {
        return Err("odd-length hex".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| Ok(u8::from_str_radix(&s[i..i + 2], 16)?))
        .collect()
}

/// `--breakdown`: each stage of [`round_trip`] and [`master_hop`] timed on its own (µs each).
fn breakdown(frames: u64, d: Dialect) -> Result<(), Error> {
    let ctx = context();
    let mut codec = FrameCodec::new(d, DEFAULT_MAX_FRAME);
    let cmd = Command::TaskExecuteRequest(TaskExecuteRequestCommand::for_dialect(&ctx, d)?);
    let frame = cmd.encode(1, d)?;
    let mut wire = BytesMut::new();
    codec.encode(frame.clone(), &mut wire)?;
    let Command::TaskExecuteRequest(req) = Command::decode(&frame, d)? else {
        return Err("decoded as another command".into());
    };
    let replies = our_replies(d)?;
    fn time(
        name: &str,
        frames: u64,
        mut f: impl FnMut() -> Result<usize, Error>,
    ) -> Result<(), Error> {
        let run = timed(frames, |_| f())?;
        println!("| {name} | {:.2} |", run.seconds * 1e6 / frames as f64);
        Ok(())
    }
    println!("| stage | µs each |");
    println!("|---|---:|");
    time("context → inner JSON (`for_dialect`)", frames, || {
        Ok(TaskExecuteRequestCommand::for_dialect(black_box(&ctx), d)?
            .task_execution_context
            .len())
    })?;
    time("inner JSON → body (`Command::encode`)", frames, || {
        Ok(black_box(&cmd).encode(1, d)?.body.len())
    })?;
    time("context → body in one pass (`body_for`)", frames, || {
        Ok(TaskExecuteRequestCommand::body_for(black_box(&ctx), d)?.len())
    })?;
    time("frame encode + decode (`FrameCodec`)", frames, || {
        let mut buf = BytesMut::with_capacity(8192);
        codec.encode(black_box(frame.clone()), &mut buf)?;
        Ok(codec.decode(&mut buf)?.ok_or("incomplete")?.body.len())
    })?;
    time(
        "body → inner JSON (`Command::decode`)",
        frames,
        || match Command::decode(black_box(&frame), d)? {
            Command::TaskExecuteRequest(r) => Ok(r.task_execution_context.len()),
            _ => Err("other".into()),
        },
    )?;
    time("inner JSON → context (`.context()`)", frames, || {
        Ok(black_box(&req).context()?.task_instance_id as usize)
    })?;
    time(
        "whole request round trip, two steps each way",
        frames,
        || round_trip(black_box(&ctx), &mut codec, &mut wire, 1),
    )?;
    let (mut out, mut inbound) = (BytesMut::new(), BytesMut::new());
    time(
        "master's hop: request out, ack and result in, two answers out",
        frames,
        || {
            master_hop(
                black_box(&ctx),
                &mut codec,
                &replies,
                &mut out,
                &mut inbound,
                1,
            )
        },
    )?;
    Ok(())
}

fn row(name: &str, run: &Run, unit_rate: &str, vs: Option<f64>) {
    let ratio = vs
        .map(|j| format!("{:.1}×", run.rate() / j))
        .unwrap_or_else(|| "–".into());
    println!(
        "| {name} | {} | {:.3} | {:.0} {unit_rate} | {ratio} |",
        run.frames,
        run.seconds,
        run.rate()
    );
}

fn main() -> Result<(), Error> {
    let mut frames: u64 = 200_000;
    let mut release = "2.0.5".to_string();
    let mut with_java = true;
    let mut stages = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--frames" => frames = args.next().ok_or("--frames N")?.parse()?,
            "--release-version" => release = args.next().ok_or("--release-version V")?,
            "--no-java" => with_java = false,
            "--breakdown" => stages = true,
            _ => {} // cargo passes --bench
        }
    }
    let d = Dialect::for_version(&release).ok_or("unknown release")?;
    if stages {
        return breakdown(frames, d);
    }

    let java = if with_java {
        match java(frames, &release) {
            Ok(j) => Some(j),
            Err(e) => {
                eprintln!("Java peer unavailable: {e}");
                None
            }
        }
    } else {
        None
    };
    let ours_replies = our_replies(d)?;
    let upstream_replies = match &java {
        Some(j) => Some(Replies {
            ack: unhex(&j.ack_hex)?,
            response: unhex(&j.response_hex)?,
        }),
        None => None,
    };
    let replies = upstream_replies.as_ref().unwrap_or(&ours_replies);

    let (ours, first) = rust(frames, d)?;
    let hops = rust_hops(frames, d, replies)?;
    let jvm = java.as_ref().map(|j| j.jvm.clone()).unwrap_or_default();

    println!(
        "TASK_EXECUTE_REQUEST encode+decode, one thread, {}-byte frames, dialect {d}",
        first.len()
    );
    println!();
    println!("| codec | frames | seconds | rate | vs Java |");
    println!("|---|---:|---:|---:|---:|");
    row(
        "dsmaster (Rust): two steps each way, as Java",
        &ours,
        "frames/s",
        java.as_ref().map(|j| j.run.rate()),
    );
    if let Some(j) = &java {
        row(
            &format!("upstream {release} (NettyEncoder/NettyDecoder + JSONUtils, {jvm})"),
            &j.run,
            "frames/s",
            Some(j.run.rate()),
        );
    }
    println!();
    println!(
        "A master's codec work per task: request out, TASK_EXECUTE_ACK and TASK_EXECUTE_RESPONSE \
         in ({} + {} bytes), DB_TASK_ACK and DB_TASK_RESPONSE out",
        replies.ack.len(),
        replies.response.len()
    );
    println!();
    println!("| master | tasks | seconds | rate | vs Java |");
    println!("|---|---:|---:|---:|---:|");
    row(
        "dsmaster (Rust): `body_for`, `Command::decode`, `Command::encode`",
        &hops,
        "tasks/s",
        java.as_ref().map(|j| j.hops.rate()),
    );
    if let Some(j) = &java {
        row(
            &format!("upstream {release} master's codec path ({jvm})"),
            &j.hops,
            "tasks/s",
            Some(j.hops.rate()),
        );
        if j.frame_hex != hex(&first) {
            return Err(
                "the two sides did not encode the same request frame; figures not comparable"
                    .into(),
            );
        }
        println!();
        println!(
            "(both sides produced the identical {}-byte request frame; the worker's frames \
             were upstream's{})",
            first.len(),
            if hex(&ours_replies.ack) == j.ack_hex && hex(&ours_replies.response) == j.response_hex
            {
                ", and ours encode them byte for byte"
            } else {
                "; ours encode them differently (see compat_codec)"
            }
        );
    }
    Ok(())
}
