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
//! Rust is measured twice: in two steps each way, as Java does it (`TaskExecuteRequestCommand::
//! for_dialect` then `Command::encode`, as Java's `new TaskExecuteRequestCommand(toJsonString
//! (ctx))`; `Command::decode` then `.context()`), and in one pass each way, the path the
//! master's dispatch and the stand-in worker take (`TaskExecuteRequestCommand::body_for`, the
//! context written straight into the escaped body; `TaskExecuteRequestCommand::
//! context_from_body`, read straight out of it).
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
    Command, CommandType, Dialect, Frame, FrameCodec, FrameKind, TaskExecuteRequestCommand,
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

/// The same in one pass each way: the body built by `TaskExecuteRequestCommand::body_for`
/// (the context written straight into the escaped outer string; same bytes on the wire), the
/// context read by `TaskExecuteRequestCommand::context_from_body`.
fn round_trip_one_pass(
    ctx: &TaskExecutionContext,
    codec: &mut FrameCodec,
    buf: &mut BytesMut,
    opaque: i64,
) -> Result<usize, Error> {
    let d = codec.dialect();
    let body = TaskExecuteRequestCommand::body_for(ctx, d)?;
    codec.encode(
        Frame::new(CommandType::TaskExecuteRequest, opaque, body),
        buf,
    )?;
    let frame = codec.decode(buf)?.ok_or("incomplete frame")?;
    if frame.kind != FrameKind::Known(CommandType::TaskExecuteRequest) {
        return Err("decoded as another command".into());
    }
    let back = TaskExecuteRequestCommand::context_from_body(&frame.body)?;
    Ok(back.task_instance_id as usize + frame.body.len())
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

type RoundTrip =
    fn(&TaskExecutionContext, &mut FrameCodec, &mut BytesMut, i64) -> Result<usize, Error>;

struct Run {
    frames: u64,
    seconds: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.frames as f64 / self.seconds
    }
}

/// Times `frames` round trips after `max(frames / 5, 20 000)` unmeasured ones; returns the
/// run and the first frame's bytes.
fn rust(frames: u64, d: Dialect, trip: RoundTrip) -> Result<(Run, Vec<u8>), Error> {
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
    let mut sink = 0usize;
    for i in 0..(frames / 5).max(20_000) {
        sink += trip(&ctx, &mut codec, &mut buf, i as i64)?;
    }
    let start = Instant::now();
    for i in 0..frames {
        sink += trip(black_box(&ctx), &mut codec, &mut buf, i as i64)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    black_box(sink);
    Ok((Run { frames, seconds }, first.to_vec()))
}

struct JavaRun {
    run: Run,
    frame_hex: String,
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
    let line = String::from_utf8(out.stdout)?;
    let v: serde_json::Value = serde_json::from_str(line.trim())?;
    let num = |k: &str| v[k].as_f64().ok_or_else(|| format!("no {k} in {line}"));
    Ok(JavaRun {
        run: Run {
            frames: num("frames")? as u64,
            seconds: num("seconds")?,
        },
        frame_hex: v["frameHex"].as_str().unwrap_or_default().to_string(),
        jvm: v["java"].as_str().unwrap_or("java").to_string(),
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `--breakdown`: each stage of [`round_trip`] timed on its own (µs per frame).
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
    fn time(
        name: &str,
        frames: u64,
        mut f: impl FnMut() -> Result<usize, Error>,
    ) -> Result<(), Error> {
        let mut sink = 0;
        for _ in 0..frames / 5 {
            sink += f()?;
        }
        let start = Instant::now();
        for _ in 0..frames {
            sink += f()?;
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / frames as f64;
        black_box(sink);
        println!("| {name} | {us:.2} |");
        Ok(())
    }
    println!("| stage | µs/frame |");
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
        "body → context in one pass (`context_from_body`)",
        frames,
        || {
            Ok(
                TaskExecuteRequestCommand::context_from_body(black_box(&frame.body))?
                    .task_instance_id as usize,
            )
        },
    )?;
    time("whole round trip, two steps each way", frames, || {
        round_trip(black_box(&ctx), &mut codec, &mut wire, 1)
    })?;
    time("whole round trip, one pass each way", frames, || {
        round_trip_one_pass(black_box(&ctx), &mut codec, &mut wire, 1)
    })?;
    Ok(())
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

    let (ours, first) = rust(frames, d, round_trip)?;
    let (one_pass, _) = rust(frames, d, round_trip_one_pass)?;
    println!(
        "TASK_EXECUTE_REQUEST encode+decode, one thread, {}-byte frames, dialect {d}",
        first.len()
    );
    println!();
    println!("| codec | frames | seconds | frames/s | vs Java |");
    println!("|---|---:|---:|---:|---:|");
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
    let ratio = |r: &Run| {
        java.as_ref()
            .map(|j| format!("{:.1}×", r.rate() / j.run.rate()))
            .unwrap_or_else(|| "–".into())
    };
    for (name, run) in [
        ("dsmaster (Rust): two steps each way, as Java", &ours),
        (
            "dsmaster (Rust): one pass each way (`body_for` / `context_from_body`)",
            &one_pass,
        ),
    ] {
        println!(
            "| {name} | {} | {:.3} | {:.0} | {} |",
            run.frames,
            run.seconds,
            run.rate(),
            ratio(run)
        );
    }
    if let Some(j) = &java {
        println!(
            "| upstream {release} (NettyEncoder/NettyDecoder + JSONUtils, {}) | {} | {:.3} | {:.0} | 1.0× |",
            j.jvm,
            j.run.frames,
            j.run.seconds,
            j.run.rate()
        );
        if j.frame_hex != hex(&first) {
            return Err(
                "the two sides did not encode the same frame; figures not comparable".into(),
            );
        }
        println!();
        println!(
            "(both sides produced the identical {}-byte frame)",
            first.len()
        );
    }
    Ok(())
}
