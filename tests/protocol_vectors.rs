//! Conformance vectors of spec §11 (dialect B, 2.0.5) and behaviour of the frame codec and
//! the links over real loopback sockets.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use dsmaster::model::ExecutionStatus;
use dsmaster::protocol::date::from_epoch_millis;
use dsmaster::protocol::{
    serve, CacheExpireCommand, CacheType, Command, CommandType, Connector, DbTaskAckCommand,
    Dialect, Frame, FrameCodec, FrameError, FrameKind, HostUpdateCommand, Inbound, LinkOptions,
    StateEventChangeCommand, TaskExecuteAckCommand, TaskKillRequestCommand, DEFAULT_MAX_FRAME,
};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::CancellationToken;

const V1: &str = "be001300000000000000010000000c7b226974656d73223a7b7d7d00000000";
const V2: &str =
    "be001200000000000000020000000c7b226974656d73223a7b7d7d0000000a68656172745f62656174";
const V3: &str = "be000b000000000000002a0000000c7b226974656d73223a7b7d7d000000b47b227461736b496e7374616e63654964223a3130312c2270726f63657373496e7374616e63654964223a372c22737461727454696d65223a22323032332d31312d31352030363a31333a3230222c22686f7374223a223139322e3136382e312e32303a31323334222c22737461747573223a312c226c6f6750617468223a222f6f70742f64732f6c6f67732f312e6c6f67222c226578656375746550617468223a222f6f70742f64732f657865632f313031227d";
const V4: &str = "be000f000000000000002b0000000c7b226974656d73223a7b7d7d000000167b227461736b496e7374616e63654964223a3130317d";
const V5: &str = "be000d000000000000002c0000000c7b226974656d73223a7b7d7d000000217b227461736b496e7374616e63654964223a3130312c22737461747573223a377d";
const V6: &str = "be001900000000000000320000000c7b226974656d73223a7b7d7d000000937b226b6579223a22372d302d372d30222c22736f75726365537461747573223a2252454144595f53544f50222c22736f7572636550726f63657373496e7374616e63654964223a372c22736f757263655461736b496e7374616e63654964223a302c226465737450726f63657373496e7374616e63654964223a372c22646573745461736b496e7374616e63654964223a307d";
const V7: &str = "be001700000000000000330000000c7b226974656d73223a7b7d7d000000387b227461736b496e7374616e63654964223a3130312c2270726f63657373486f7374223a223139322e3136382e312e31303a35363738227d";
const V8: &str = "be001a00000000000000340000000c7b226974656d73223a7b7d7d0000003d7b22636163686554797065223a2250524f434553535f444546494e4954494f4e222c2263616368654b6579223a2235363738393031323334353637227d";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test vector is hex"))
        .collect()
}

fn codec(d: Dialect) -> FrameCodec {
    FrameCodec::new(d, DEFAULT_MAX_FRAME)
}

fn encode(cmd: &Command, opaque: i64, d: Dialect) -> Vec<u8> {
    let frame = cmd.encode(opaque, d).unwrap();
    let mut out = BytesMut::new();
    codec(d).encode(frame, &mut out).unwrap();
    out.to_vec()
}

fn decode_one(bytes: &[u8], d: Dialect) -> (Frame, Command) {
    let mut buf = BytesMut::from(bytes);
    let frame = codec(d).decode(&mut buf).unwrap().expect("a whole frame");
    assert!(buf.is_empty(), "frame consumed exactly");
    let cmd = Command::decode(&frame, d).unwrap();
    (frame, cmd)
}

/// Encodes `cmd` and checks the bytes, then decodes the vector and checks the command.
fn check_vector(vector: &str, cmd: Command, opaque: i64, d: Dialect) {
    let want = hex(vector);
    assert_eq!(
        hex_of(&encode(&cmd, opaque, d)),
        hex_of(&want),
        "encode {cmd:?}"
    );
    let (frame, back) = decode_one(&want, d);
    assert_eq!(frame.opaque, opaque);
    assert_eq!(back, cmd);
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn with_type(vector: &str, byte: u8) -> String {
    let mut v = hex(vector);
    v[2] = byte;
    hex_of(&v)
}

fn v3_ack() -> TaskExecuteAckCommand {
    TaskExecuteAckCommand {
        task_instance_id: 101,
        process_instance_id: 7,
        start_time: from_epoch_millis(1_700_000_000_000),
        host: Some("192.168.1.20:1234".into()),
        status: 1,
        log_path: Some("/opt/ds/logs/1.log".into()),
        execute_path: Some("/opt/ds/exec/101".into()),
    }
}

#[test]
fn v1_ping() {
    assert_eq!(hex(V1).len(), 31);
    check_vector(V1, Command::Ping, 1, Dialect::B);
}

#[test]
fn v2_heart_beat_in_every_dialect() {
    assert_eq!(hex(V2).len(), 41);
    check_vector(V2, Command::HeartBeat, 2, Dialect::B);
    check_vector(&with_type(V2, 0x11), Command::HeartBeat, 2, Dialect::A);
    check_vector(&with_type(V2, 0x14), Command::HeartBeat, 2, Dialect::C);
}

#[test]
fn v3_task_execute_ack() {
    assert_eq!(hex(V3).len(), 211);
    check_vector(V3, Command::TaskExecuteAck(v3_ack()), 42, Dialect::B);
}

#[test]
fn v4_task_kill_request_in_every_dialect() {
    assert_eq!(hex(V4).len(), 53);
    for d in Dialect::ALL {
        let cmd = Command::TaskKillRequest(TaskKillRequestCommand {
            task_instance_id: 101,
        });
        check_vector(V4, cmd, 43, d);
    }
}

#[test]
fn v5_status_replies() {
    assert_eq!(hex(V5).len(), 64);
    check_vector(V5, DbTaskAckCommand::success(101).into(), 44, Dialect::B);
    check_vector(
        &with_type(V5, 0x0e),
        dsmaster::protocol::DbTaskResponseCommand::success(101).into(),
        44,
        Dialect::B,
    );
    check_vector(
        &with_type(V5, 0x11),
        dsmaster::protocol::TaskKillAckCommand::success(101).into(),
        44,
        Dialect::B,
    );
}

#[test]
fn v6_state_event() {
    assert_eq!(hex(V6).len(), 178);
    let ev = StateEventChangeCommand::new(7, 0, ExecutionStatus::READY_STOP, 7, 0);
    check_vector(V6, ev.clone().into(), 50, Dialect::B);
    check_vector(&with_type(V6, 0x18), ev.clone().into(), 50, Dialect::A);
    check_vector(&with_type(V6, 0x1b), ev.into(), 50, Dialect::C);
}

#[test]
fn v7_host_update() {
    assert_eq!(hex(V7).len(), 87);
    let cmd: Command = HostUpdateCommand::new(101, "192.168.1.10:5678").into();
    check_vector(V7, cmd.clone(), 51, Dialect::B);
    check_vector(&with_type(V7, 0x16), cmd.clone(), 51, Dialect::A);
    check_vector(&with_type(V7, 0x19), cmd, 51, Dialect::C);
}

#[test]
fn v8_cache_expire() {
    assert_eq!(hex(V8).len(), 92);
    let cmd = Command::CacheExpire(CacheExpireCommand {
        cache_type: Some(CacheType::PROCESS_DEFINITION),
        cache_key: Some("5678901234567".into()),
    });
    check_vector(V8, cmd.clone(), 52, Dialect::B);
    check_vector(&with_type(V8, 0x1c), cmd.clone(), 52, Dialect::C);
    assert!(
        cmd.encode(52, Dialect::A).is_err(),
        "dialect A has no CACHE_EXPIRE"
    );
}

#[test]
fn negative_bad_magic_and_version() {
    let mut v = hex(V5);
    v[0] = 0xBA;
    let mut buf = BytesMut::from(&v[..]);
    assert!(matches!(
        codec(Dialect::B).decode(&mut buf),
        Err(FrameError::BadMagic(0xBA))
    ));
    let mut v = hex(V5);
    v[1] = 0x01;
    let mut buf = BytesMut::from(&v[..]);
    assert!(matches!(
        codec(Dialect::B).decode(&mut buf),
        Err(FrameError::BadVersion(1))
    ));
}

#[test]
fn negative_type_unknown_to_dialect_is_surfaced_not_fatal() {
    let mut buf = BytesMut::from(&hex(&with_type(V5, 0x1b))[..]);
    buf.extend_from_slice(&hex(V5));
    let mut c = codec(Dialect::B);
    let f = c.decode(&mut buf).unwrap().unwrap();
    assert_eq!(f.kind, FrameKind::Unknown(0x1b));
    assert!(Command::decode(&f, Dialect::B).is_err());
    let next = c.decode(&mut buf).unwrap().unwrap();
    assert_eq!(next.kind, FrameKind::Known(CommandType::DbTaskAck));
    // 0x1b is STATE_EVENT_REQUEST in dialect C.
    let mut buf = BytesMut::from(&hex(&with_type(V5, 0x1b))[..]);
    let f = codec(Dialect::C).decode(&mut buf).unwrap().unwrap();
    assert_eq!(f.kind, FrameKind::Known(CommandType::StateEventRequest));
}

#[test]
fn negative_context_length() {
    let mut v = hex(V5);
    v[11..15].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let mut buf = BytesMut::from(&v[..]);
    assert!(matches!(
        codec(Dialect::B).decode(&mut buf),
        Err(FrameError::NegativeLength { len: -1, .. })
    ));
    // Negative body length.
    let mut v = hex(V5);
    let at = 15 + 12;
    v[at..at + 4].copy_from_slice(&(-5i32).to_be_bytes());
    let mut buf = BytesMut::from(&v[..]);
    assert!(matches!(
        codec(Dialect::B).decode(&mut buf),
        Err(FrameError::NegativeLength {
            field: "body",
            len: -5
        })
    ));
}

#[test]
fn two_frames_in_one_buffer() {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&hex(V3));
    buf.extend_from_slice(&hex(V6));
    let mut c = codec(Dialect::B);
    let a = c.decode(&mut buf).unwrap().unwrap();
    let b = c.decode(&mut buf).unwrap().unwrap();
    assert!(c.decode(&mut buf).unwrap().is_none());
    assert_eq!(a.opaque, 42);
    assert_eq!(b.opaque, 50);
    assert_eq!(
        Command::decode(&a, Dialect::B).unwrap(),
        Command::TaskExecuteAck(v3_ack())
    );
}

#[test]
fn frame_split_byte_by_byte() {
    let bytes = hex(V3);
    let mut c = codec(Dialect::B);
    let mut buf = BytesMut::new();
    let mut got = None;
    for (i, b) in bytes.iter().enumerate() {
        buf.put_u8(*b);
        match c.decode(&mut buf).unwrap() {
            Some(f) => {
                assert_eq!(i, bytes.len() - 1, "only the last byte completes the frame");
                got = Some(f);
            }
            None => assert!(i < bytes.len() - 1),
        }
    }
    let f = got.expect("decoded");
    assert_eq!(
        Command::decode(&f, Dialect::B).unwrap(),
        Command::TaskExecuteAck(v3_ack())
    );
}

#[test]
fn context_length_zero_with_body() {
    let body = br#"{"taskInstanceId":101,"status":7}"#;
    let mut v = vec![0xBE, 0x00, 0x0D];
    v.extend_from_slice(&44i64.to_be_bytes());
    v.extend_from_slice(&0i32.to_be_bytes());
    v.extend_from_slice(&(body.len() as i32).to_be_bytes());
    v.extend_from_slice(body);
    let (frame, cmd) = decode_one(&v, Dialect::B);
    assert_eq!(frame.opaque, 44);
    assert_eq!(cmd, DbTaskAckCommand::success(101).into());
}

#[test]
fn max_frame_rejected_without_allocation() {
    let mut c = FrameCodec::new(Dialect::B, 1024);
    let mut v = hex(V5)[..27].to_vec(); // up to the body length field
    v.extend_from_slice(&2000i32.to_be_bytes());
    let mut buf = BytesMut::from(&v[..]);
    let before = buf.capacity();
    assert!(matches!(
        c.decode(&mut buf),
        Err(FrameError::TooLarge {
            field: "body",
            len: 2000,
            max: 1024
        })
    ));
    assert_eq!(
        buf.capacity(),
        before,
        "nothing reserved for the announced body"
    );

    // A frame just within the limit is fine; announcing a big one reserves only a bounded
    // amount ahead.
    let mut big = FrameCodec::new(Dialect::B, DEFAULT_MAX_FRAME);
    let mut v = hex(V5)[..27].to_vec();
    v.extend_from_slice(&((DEFAULT_MAX_FRAME - 12) as i32).to_be_bytes());
    let mut buf = BytesMut::from(&v[..]);
    assert!(big.decode(&mut buf).unwrap().is_none());
    assert!(buf.capacity() < 1024 * 1024, "capacity {}", buf.capacity());
}

#[test]
fn receive_side_date_parsing() {
    let base = r#"{"taskInstanceId":101,"processInstanceId":7,"host":"h:1","status":1,"#;
    let cases = [
        (
            r#""startTime":"2023-11-15 06:13:20"}"#,
            from_epoch_millis(1_700_000_000_000),
        ),
        (
            r#""startTime":1700000000000}"#,
            from_epoch_millis(1_700_000_000_000),
        ),
        (r#""startTime":null}"#, None),
        (
            r#""startTime":null,"unknownKey":{"a":[1]},"another":true}"#,
            None,
        ),
    ];
    for (tail, want) in cases {
        let body = format!("{base}{tail}");
        let frame = Frame::new(CommandType::TaskExecuteAck, 1, body.clone());
        match Command::decode(&frame, Dialect::B).unwrap() {
            Command::TaskExecuteAck(a) => {
                assert_eq!(a.start_time, want, "{body}");
                assert_eq!(a.task_instance_id, 101);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let frame = Frame::new(
        CommandType::StateEventRequest,
        1,
        &br#"{"key":"7-0-7-0","sourceStatus":"SERIAL_WAIT","sourceProcessInstanceId":7,"sourceTaskInstanceId":0,"destProcessInstanceId":7,"destTaskInstanceId":0}"#[..],
    );
    match Command::decode(&frame, Dialect::B).unwrap() {
        Command::StateEvent(e) => {
            assert_eq!(e.source_status, None);
            assert_eq!(e.dest_process_instance_id, 7);
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn arb_frame() -> impl Strategy<Value = (Dialect, Frame)> {
    (
        0usize..3,
        any::<u8>(),
        any::<i64>(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(d, t, opaque, body)| {
            let d = Dialect::ALL[d];
            let types = d.types();
            let ty = types[usize::from(t) % types.len()];
            (d, Frame::new(ty, opaque, Bytes::from(body)))
        })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), d in 0usize..3) {
        let mut c = codec(Dialect::ALL[d]);
        let mut buf = BytesMut::from(&bytes[..]);
        // Keep decoding until incomplete or an error; both are fine, panics are not.
        while let Ok(Some(f)) = c.decode(&mut buf) {
            let _ = Command::decode(&f, Dialect::ALL[d]);
        }
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = hex(V5)[..11].to_vec();
        bytes.extend_from_slice(&tail);
        let mut buf = BytesMut::from(&bytes[..]);
        let _ = codec(Dialect::B).decode(&mut buf);
    }

    #[test]
    fn valid_frames_survive_any_split(
        frames in proptest::collection::vec(arb_frame(), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        dialect in 0usize..3,
    ) {
        let d = Dialect::ALL[dialect];
        let frames: Vec<Frame> = frames.into_iter().map(|(_, f)| {
            // Re-map into this test's dialect.
            let ty = match f.kind { FrameKind::Known(t) if d.ordinal(t).is_some() => t, _ => CommandType::TaskExecuteAck };
            Frame::new(ty, f.opaque, f.body)
        }).collect();
        let mut c = codec(d);
        let mut wire = BytesMut::new();
        for f in &frames {
            c.encode(f.clone(), &mut wire).unwrap();
        }
        let wire = wire.freeze();
        let mut points: Vec<usize> = cuts.into_iter().map(|x| x % (wire.len() + 1)).collect();
        points.push(0);
        points.push(wire.len());
        points.sort_unstable();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for w in points.windows(2) {
            buf.extend_from_slice(&wire[w[0]..w[1]]);
            while let Some(f) = c.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, frames);
    }
}

// ---- links over loopback sockets ----

async fn start_server(opts: LinkOptions) -> (String, mpsc::Receiver<Inbound>, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel(64);
    let token = CancellationToken::new();
    tokio::spawn(serve(listener, opts, tx, token.clone()));
    (addr, rx, token)
}

async fn recv(rx: &mut mpsc::Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("delivered in time")
        .expect("channel open")
}

#[tokio::test]
async fn loopback_ack_and_reply_on_the_same_connection() {
    let (addr, mut server_rx, shutdown) = start_server(LinkOptions::default()).await;
    let (client_tx, mut client_rx) = mpsc::channel(64);
    let connector = Connector::new(LinkOptions::default(), client_tx);
    let (link, fresh) = connector.link_fresh(&addr).await.unwrap();
    assert!(fresh);
    assert!(link.is_outbound());

    link.send(v3_ack()).unwrap();
    let got = recv(&mut server_rx).await;
    assert_eq!(got.command, Command::TaskExecuteAck(v3_ack()));
    assert!(!got.link.is_outbound());
    got.link.send(DbTaskAckCommand::success(101)).unwrap();

    let reply = recv(&mut client_rx).await;
    assert_eq!(
        reply.command,
        Command::DbTaskAck(DbTaskAckCommand::success(101))
    );
    assert_eq!(reply.link, link, "reply arrives on the dialed connection");

    // Echoed opaque.
    got.link
        .send_with_opaque(DbTaskAckCommand::success(102), 777)
        .unwrap();
    let reply = recv(&mut client_rx).await;
    assert_eq!(reply.opaque, 777);

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), link.closed())
        .await
        .expect("server shutdown closes the connection");
}

#[tokio::test]
async fn server_skips_unknown_types_and_bad_bodies_but_closes_on_bad_magic() {
    let (addr, mut server_rx, shutdown) = start_server(LinkOptions::default()).await;
    let mut raw = TcpStream::connect(&addr).await.unwrap();
    let mut wire = hex(&with_type(V5, 0x60)); // unknown ordinal
    wire.extend_from_slice(&hex(V2)); // heartbeat: dropped silently
    let mut bad = BytesMut::new();
    codec(Dialect::B)
        .encode(
            Frame::new(CommandType::DbTaskAck, 9, &b"{not json"[..]),
            &mut bad,
        )
        .unwrap();
    wire.extend_from_slice(&bad);
    wire.extend_from_slice(&hex(V4)); // a good frame after all that
    raw.write_all(&wire).await.unwrap();
    let got = recv(&mut server_rx).await;
    assert_eq!(got.opaque, 43);
    assert_eq!(
        got.command,
        Command::TaskKillRequest(TaskKillRequestCommand {
            task_instance_id: 101
        })
    );

    raw.write_all(&[0xBA, 0x00]).await.unwrap();
    let mut sink = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut sink))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "bad magic closes the connection");
    shutdown.cancel();
}

#[tokio::test]
async fn client_heartbeats_while_silent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, _rx) = mpsc::channel(4);
    let opts = LinkOptions {
        client_heartbeat: Duration::from_millis(100),
        dialect: Dialect::C,
        ..LinkOptions::default()
    };
    let connector = Connector::new(opts, tx);
    let _link = connector.link(&addr).await.unwrap();
    let (mut peer, _) = listener.accept().await.unwrap();
    let mut c = codec(Dialect::C);
    let mut buf = BytesMut::new();
    let mut beats = 0;
    while beats < 2 {
        let n = tokio::time::timeout(Duration::from_secs(5), peer.read_buf(&mut buf))
            .await
            .expect("heartbeat in time")
            .unwrap();
        assert!(n > 0);
        while let Some(f) = c.decode(&mut buf).unwrap() {
            assert_eq!(f.kind, FrameKind::Known(CommandType::HeartBeat));
            assert_eq!(&f.body[..], b"heart_beat");
            beats += 1;
        }
    }
    connector.shutdown();
}

#[tokio::test]
async fn server_closes_idle_connections() {
    let opts = LinkOptions {
        server_idle: Duration::from_millis(150),
        ..LinkOptions::default()
    };
    let (addr, _rx, shutdown) = start_server(opts).await;
    let mut raw = TcpStream::connect(&addr).await.unwrap();
    let mut sink = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut sink))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0);
    shutdown.cancel();
}
