//! The frame: the byte layout every 2.0.x connection carries (spec §3), as a
//! `tokio_util::codec` decoder/encoder.
//!
//! ```text
//! 0xBE 0x00 <type u8> <opaque i64> <ctxLen i32> <ctx> <bodyLen i32> <body>   (big-endian)
//! ```
//!
//! The decoder follows the mini-redis shape: look at what is buffered, return `Ok(None)` while
//! the frame is incomplete (never an error), and validate each field as soon as its bytes are
//! there, so a bad magic, version or length closes the connection before anything is
//! allocated for it. Java has no size limit; we cap each frame at `max_frame` bytes of context
//! plus body, which on the Java side would be the same "close the channel" error path.
//!
//! The context (`{"items":{}}` in every 2.0.x release, nothing ever reads it) is skipped on
//! read and always written as those 12 bytes. Type bytes are mapped through the configured
//! [`Dialect`]; a byte the dialect does not know is surfaced as [`FrameKind::Unknown`] so the
//! link layer can log and skip it (Java would close the channel, which only makes its peer
//! lose messages).

use std::io;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::dialect::{CommandType, Dialect};

/// First byte of every frame: Java's `(byte) 0xbabe`.
pub const MAGIC: u8 = 0xBE;
/// Second byte of every frame.
pub const VERSION: u8 = 0;
/// The only context any 2.0.x component writes.
pub const EMPTY_CONTEXT: &[u8] = b"{\"items\":{}}";
/// Default cap on context + body of one frame. Task contexts carrying big scripts are the
/// largest legitimate frames; 64 MiB leaves ample room.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;

/// Bytes before the context: magic, version, type, opaque, context length.
const HEAD_LEN: usize = 1 + 1 + 1 + 8 + 4;
/// Most bytes reserved ahead of a partially received frame; the buffer grows as data arrives,
/// so a peer announcing a huge frame does not make us allocate it up front.
const MAX_RESERVE_AHEAD: usize = 256 * 1024;

static OPAQUE: AtomicI64 = AtomicI64::new(1);

/// A fresh request id: per process, monotonically increasing from 1, like Java's
/// `Command.REQUEST_ID`. Only `TASK_RECALL_ACK` echoes a peer's opaque instead.
pub fn next_opaque() -> i64 {
    OPAQUE.fetch_add(1, Ordering::Relaxed)
}

/// What the type byte of a frame denotes in the connection's dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    Known(CommandType),
    /// A byte with no member in the dialect's enum (kept for logging and tests).
    Unknown(u8),
}

/// One frame, with the context already discarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: FrameKind,
    pub opaque: i64,
    pub body: Bytes,
}

impl Frame {
    pub fn new(kind: CommandType, opaque: i64, body: impl Into<Bytes>) -> Frame {
        Frame {
            kind: FrameKind::Known(kind),
            opaque,
            body: body.into(),
        }
    }
}

/// Why a byte stream is not a valid frame sequence (the connection must be closed), or why a
/// frame cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("illegal magic byte {0:#04x} (expected 0xbe)")]
    BadMagic(u8),
    #[error("illegal protocol version {0} (expected 0)")]
    BadVersion(u8),
    #[error("negative {field} length {len}")]
    NegativeLength { field: &'static str, len: i32 },
    #[error("frame too large: {field} length {len} exceeds the limit of {max} bytes")]
    TooLarge {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{command} does not exist in dialect {dialect} and must not be sent to such a peer")]
    NotInDialect {
        command: CommandType,
        dialect: Dialect,
    },
    #[error("i/o error on the connection: {0}")]
    Io(#[from] io::Error),
}

/// Encoder/decoder of [`Frame`]s for one connection.
#[derive(Clone, Debug)]
pub struct FrameCodec {
    dialect: Dialect,
    max_frame: usize,
}

impl FrameCodec {
    pub fn new(dialect: Dialect, max_frame: usize) -> FrameCodec {
        FrameCodec { dialect, max_frame }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Validates a length field read from the wire against the sign and the cap.
    fn check_len(&self, field: &'static str, raw: i32) -> Result<usize, FrameError> {
        let len =
            usize::try_from(raw).map_err(|_| FrameError::NegativeLength { field, len: raw })?;
        if len > self.max_frame {
            return Err(FrameError::TooLarge {
                field,
                len,
                max: self.max_frame,
            });
        }
        Ok(len)
    }

    /// Reserves room for the rest of a frame, bounded so that announcing a big frame costs
    /// the peer the bytes it actually sends.
    fn reserve_for(src: &mut BytesMut, total: usize) {
        let missing = total.saturating_sub(src.len());
        src.reserve(missing.min(MAX_RESERVE_AHEAD));
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(Dialect::default(), DEFAULT_MAX_FRAME)
    }
}

fn read_i32(buf: &[u8], at: usize) -> i32 {
    let mut b = &buf[at..at + 4];
    b.get_i32()
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        // Check pass: validate every field whose bytes are present, without consuming.
        if let Some(&magic) = src.first() {
            if magic != MAGIC {
                return Err(FrameError::BadMagic(magic));
            }
        }
        if let Some(&version) = src.get(1) {
            if version != VERSION {
                return Err(FrameError::BadVersion(version));
            }
        }
        if src.len() < HEAD_LEN {
            return Ok(None);
        }
        let ctx_len = self.check_len("context", read_i32(src, HEAD_LEN - 4))?;
        let body_len_at = HEAD_LEN + ctx_len;
        if src.len() < body_len_at + 4 {
            Self::reserve_for(src, body_len_at + 4);
            return Ok(None);
        }
        let body_len = self.check_len("body", read_i32(src, body_len_at))?;
        if ctx_len + body_len > self.max_frame {
            return Err(FrameError::TooLarge {
                field: "context + body",
                len: ctx_len + body_len,
                max: self.max_frame,
            });
        }
        let total = body_len_at + 4 + body_len;
        if src.len() < total {
            Self::reserve_for(src, total);
            return Ok(None);
        }

        // Parse pass: the whole frame is buffered.
        let mut frame = src.split_to(total);
        frame.advance(2);
        let type_byte = frame.get_u8();
        let opaque = frame.get_i64();
        frame.advance(4 + ctx_len + 4);
        let body = frame.freeze();
        let kind = match self.dialect.command_type(type_byte) {
            Some(t) => FrameKind::Known(t),
            None => FrameKind::Unknown(type_byte),
        };
        Ok(Some(Frame { kind, opaque, body }))
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    /// Writes `frame` with the empty context. A known type the dialect lacks is refused;
    /// [`FrameKind::Unknown`] writes its raw byte (tests use it to play a misbehaving peer).
    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let type_byte = match frame.kind {
            FrameKind::Known(command) => {
                self.dialect
                    .ordinal(command)
                    .ok_or(FrameError::NotInDialect {
                        command,
                        dialect: self.dialect,
                    })?
            }
            FrameKind::Unknown(b) => b,
        };
        let body_len = frame.body.len();
        if body_len + EMPTY_CONTEXT.len() > self.max_frame {
            return Err(FrameError::TooLarge {
                field: "body",
                len: body_len,
                max: self.max_frame,
            });
        }
        let body_len_i32 = i32::try_from(body_len).map_err(|_| FrameError::TooLarge {
            field: "body",
            len: body_len,
            max: i32::MAX as usize,
        })?;
        dst.reserve(HEAD_LEN + EMPTY_CONTEXT.len() + 4 + body_len);
        dst.put_u8(MAGIC);
        dst.put_u8(VERSION);
        dst.put_u8(type_byte);
        dst.put_i64(frame.opaque);
        dst.put_i32(EMPTY_CONTEXT.len() as i32);
        dst.put_slice(EMPTY_CONTEXT);
        dst.put_i32(body_len_i32);
        dst.put_slice(&frame.body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const V2: &str =
        "be001200000000000000020000000c7b226974656d73223a7b7d7d0000000a68656172745f62656174";

    fn encode(codec: &mut FrameCodec, f: Frame) -> BytesMut {
        let mut out = BytesMut::new();
        codec.encode(f, &mut out).unwrap();
        out
    }

    #[test]
    fn heartbeat_vector_per_dialect() {
        for (d, byte) in [(Dialect::A, 0x11u8), (Dialect::B, 0x12), (Dialect::C, 0x14)] {
            let mut c = FrameCodec::new(d, DEFAULT_MAX_FRAME);
            let out = encode(
                &mut c,
                Frame::new(CommandType::HeartBeat, 2, &b"heart_beat"[..]),
            );
            let mut want = hex(V2);
            want[2] = byte;
            assert_eq!(&out[..], &want[..], "{d:?}");
            let mut buf = BytesMut::from(&want[..]);
            let f = c.decode(&mut buf).unwrap().unwrap();
            assert_eq!(f.kind, FrameKind::Known(CommandType::HeartBeat));
            assert_eq!(f.opaque, 2);
            assert_eq!(&f.body[..], b"heart_beat");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn incomplete_is_not_an_error() {
        let mut c = FrameCodec::default();
        let full = hex(V2);
        for n in 0..full.len() {
            let mut buf = BytesMut::from(&full[..n]);
            assert!(c.decode(&mut buf).unwrap().is_none(), "prefix {n}");
            assert_eq!(buf.len(), n, "nothing consumed");
        }
    }

    #[test]
    fn bad_magic_and_version_fail_fast() {
        let mut c = FrameCodec::default();
        let mut buf = BytesMut::from(&[0xBAu8][..]);
        assert!(matches!(
            c.decode(&mut buf),
            Err(FrameError::BadMagic(0xBA))
        ));
        let mut buf = BytesMut::from(&[0xBEu8, 0x01][..]);
        assert!(matches!(c.decode(&mut buf), Err(FrameError::BadVersion(1))));
    }

    #[test]
    fn huge_length_rejected_before_reserving() {
        let mut c = FrameCodec::new(Dialect::B, 1024);
        let mut head = hex("be00120000000000000002");
        head.extend_from_slice(&0x7FFF_FFFFi32.to_be_bytes());
        let mut buf = BytesMut::from(&head[..]);
        let cap = buf.capacity();
        assert!(matches!(
            c.decode(&mut buf),
            Err(FrameError::TooLarge {
                field: "context",
                ..
            })
        ));
        assert_eq!(buf.capacity(), cap);
    }

    #[test]
    fn encoder_refuses_types_missing_from_dialect() {
        let mut c = FrameCodec::new(Dialect::B, DEFAULT_MAX_FRAME);
        let mut out = BytesMut::new();
        let err = c
            .encode(
                Frame::new(CommandType::TaskRecall, 1, Bytes::new()),
                &mut out,
            )
            .unwrap_err();
        assert!(matches!(err, FrameError::NotInDialect { .. }));
        assert!(out.is_empty());
    }

    #[test]
    fn opaques_increase() {
        let a = next_opaque();
        let b = next_opaque();
        assert!(a >= 1 && b > a);
    }
}
