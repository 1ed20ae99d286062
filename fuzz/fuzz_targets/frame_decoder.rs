//! Fuzz target `frame_decoder`: the wire decoder (`FrameCodec` + `Command::decode`) on
//! arbitrary bytes delivered in arbitrary pieces.
//!
//! Input layout: byte 0 picks the dialect, byte 1 the frame cap (0 → the 64 MiB default,
//! else `byte·97` bytes), byte 2 seeds the chunking; the rest is the byte stream a peer sends.
//!
//! Invariants checked (any violation panics, which libFuzzer reports):
//! * nothing panics, whatever the bytes;
//! * decoding the stream in one buffer and in pseudo-random pieces yields the same frames and
//!   the same terminal error (the decoder's outcome depends only on the bytes, not on TCP
//!   segmentation);
//! * no single allocation made while decoding exceeds what the buffered bytes justify: a peer
//!   announcing a 2 GiB frame must not make us reserve it (bound: twice the input plus the
//!   codec's bounded read-ahead);
//! * no returned frame is larger than the cap;
//! * body encoding is a fixpoint after one pass: `encode(decode(encode(decode(b))))` equals
//!   `encode(decode(b))` (the first pass may legitimately normalise, e.g. drop milliseconds
//!   of a date or turn `"5"` into `5`).

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::BytesMut;
use dsmaster::protocol::{Command, Dialect, Frame, FrameCodec, DEFAULT_MAX_FRAME};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

/// Records the largest single allocation while [`TRACK`] is on.
struct Tracking;

static TRACK: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

fn note(size: usize) {
    if TRACK.load(Ordering::Relaxed) {
        LARGEST.fetch_max(size, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// The codec's read-ahead bound (`frame.rs`, `MAX_RESERVE_AHEAD`).
const READ_AHEAD: usize = 256 * 1024;

/// What decoding a stream produced: the frames, then the error that ended it (if any).
#[derive(Debug, PartialEq)]
struct Outcome {
    frames: Vec<Frame>,
    error: Option<String>,
}

fn drain(codec: &mut FrameCodec, buf: &mut BytesMut, out: &mut Outcome) -> bool {
    loop {
        match codec.decode(buf) {
            Ok(Some(f)) => out.frames.push(f),
            Ok(None) => return true,
            Err(e) => {
                out.error = Some(format!("{e:?}"));
                return false;
            }
        }
    }
}

fn decode_whole(codec: &mut FrameCodec, stream: &[u8]) -> Outcome {
    let mut out = Outcome {
        frames: Vec::new(),
        error: None,
    };
    let mut buf = BytesMut::from(stream);
    drain(codec, &mut buf, &mut out);
    out
}

fn decode_split(codec: &mut FrameCodec, stream: &[u8], seed: u8) -> Outcome {
    let mut out = Outcome {
        frames: Vec::new(),
        error: None,
    };
    let mut buf = BytesMut::new();
    let mut state = u32::from(seed) | 1;
    let mut rest = stream;
    while !rest.is_empty() {
        // xorshift: piece sizes 1..=64, sometimes a whole frame's worth.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = if state % 7 == 0 {
            512
        } else {
            (state % 64) as usize + 1
        }
        .min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        if !drain(codec, &mut buf, &mut out) {
            break;
        }
    }
    out
}

fn reencode(cmd: &Command, opaque: i64, d: Dialect) -> Option<Frame> {
    // A body serde cannot write back (e.g. a date beyond year 9999 read from epoch millis)
    // is a refusal, not a crash; anything that encodes must be a fixpoint.
    cmd.encode(opaque, d).ok()
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let dialect = Dialect::ALL[usize::from(data[0]) % 3];
    let max_frame = match data[1] {
        0 => DEFAULT_MAX_FRAME,
        b => usize::from(b) * 97,
    };
    let seed = data[2];
    let stream = &data[3..];

    LARGEST.store(0, Ordering::Relaxed);
    TRACK.store(true, Ordering::Relaxed);
    let whole = decode_whole(&mut FrameCodec::new(dialect, max_frame), stream);
    let split = decode_split(&mut FrameCodec::new(dialect, max_frame), stream, seed);
    TRACK.store(false, Ordering::Relaxed);
    let largest = LARGEST.load(Ordering::Relaxed);
    let bound = 2 * (stream.len() + READ_AHEAD) + 4096;
    assert!(
        largest <= bound,
        "allocated {largest} bytes for a {}-byte stream",
        stream.len()
    );
    assert_eq!(whole, split, "outcome depends on segmentation");

    let mut codec = FrameCodec::new(dialect, max_frame);
    for frame in &whole.frames {
        assert!(
            frame.body.len() <= max_frame,
            "frame above the cap was returned"
        );
        let Ok(cmd) = Command::decode(frame, dialect) else {
            continue;
        };
        if let Command::TaskExecuteRequest(req) = &cmd {
            let _ = req.context();
        }
        let Some(once) = reencode(&cmd, frame.opaque, dialect) else {
            continue;
        };
        let again = Command::decode(&once, dialect).expect("our own encoding decodes");
        let twice = reencode(&again, frame.opaque, dialect).expect("our own decoding re-encodes");
        assert_eq!(once, twice, "encoding is not a fixpoint for {cmd:?}");
        let mut bytes = BytesMut::new();
        if codec.encode(once.clone(), &mut bytes).is_ok() {
            let back = codec
                .decode(&mut bytes)
                .expect("own frame decodes")
                .expect("whole frame");
            assert_eq!(back, once);
        }
    }
});
