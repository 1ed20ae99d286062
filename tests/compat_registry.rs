//! The registry against upstream's own Java classes (`compat/registry`, built and run by
//! `compat/registry/run.sh`):
//!
//! * **slots**: Java's master order and slot (sorted children → `java.util.HashMap` →
//!   upstream `HeartBeat.decodeHeartBeat` → upstream `MasterPriorityQueue` from
//!   dolphinscheduler-service 2.0.5) against [`master_order`] / [`compute_slot`] /
//!   [`slot_of`] on ≥ 10 000 seeded random master lists (seed printed; set
//!   `DSMASTER_COMPAT_SEED` to replay);
//! * **heartbeats**: our 13-field text read by upstream `HeartBeat` 2.0.0 and 2.0.5, our
//!   14-field text by 2.0.6 (= 2.0.9's HeartBeat source), field by field, bit for bit; and
//!   upstream `encodeHeartBeat` texts read by our decoder and re-encoded byte for byte;
//! * **locks**: Curator 4.3.0 `InterProcessMutex` over the ZooKeeper 3.4.14 client and
//!   [`Registry::lock`] fighting for the DolphinScheduler lock paths, thousands of rounds,
//!   with an in-ZooKeeper "inside" marker and a versioned counter proving exclusion; and the
//!   contender node shape (`_c_<uuid>-lock-<10 digits>`, data = IP) compared with Curator's;
//! * **session loss**: a really expired session (killed through a second connection with the
//!   same session id/password, or expired by the server during a partition) resolves
//!   [`Registry::lost`] and stops our heartbeat;
//! * **ZooKeeper 3.4**: registration, heartbeat, watches and locks against a real 3.4.14
//!   server (from Maven Central), next to a Curator peer.
//!
//! Needs `java` (17+) and `mvn` with Maven Central (first run) or a warm `~/.m2`; missing
//! prerequisites fail loudly. The first build of the peer prints its duration.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dsmaster::registry::slot::{compute_slot, NodeData};
use dsmaster::registry::{
    lock, master_order, slot_of, Heartbeat, HeartbeatFormat, LostReason, MasterSlot, Options,
    Registry,
};
use dsmaster::testkit::ZooKeeper;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::OnceCell;
use tokio::time::Instant;
use zookeeper_client as zk;

const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// The Java peer
// ---------------------------------------------------------------------------------------

fn run_sh() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compat/registry/run.sh")
}

/// Builds the peer once per test binary (run.sh caches across runs) and reports the time.
async fn ensure_built() {
    static BUILT: OnceCell<()> = OnceCell::const_new();
    BUILT
        .get_or_init(|| async {
            let started = Instant::now();
            let out = Command::new(run_sh())
                .arg("--build")
                .stdin(Stdio::null())
                .output()
                .await
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", run_sh().display()));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "compat/registry/run.sh --build failed ({}):\n{stderr}",
                out.status
            );
            if stderr.trim().is_empty() {
                eprintln!(
                    "compat/registry peer: cached ({:.1}s check)",
                    started.elapsed().as_secs_f64()
                );
            } else {
                eprintln!("{}", stderr.trim());
            }
        })
        .await;
}

/// A running peer: stdin for requests, stdout lines for answers, stderr inherited.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    what: String,
}

impl Peer {
    async fn start(args: &[&str]) -> Peer {
        ensure_built().await;
        let mut child = Command::new(run_sh())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the Java peer {args:?}: {e}"));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        Peer {
            child,
            stdin,
            stdout,
            what: args.join(" "),
        }
    }

    async fn line(&mut self) -> String {
        match tokio::time::timeout(Duration::from_secs(120), self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => panic!("Java peer `{}` ended its output early", self.what),
            Ok(Err(e)) => panic!("reading from Java peer `{}`: {e}", self.what),
            Err(_) => panic!("Java peer `{}` silent for 120 s", self.what),
        }
    }

    /// Next line starting with `tag` + TAB (other lines are echoed), without the tag.
    async fn expect(&mut self, tag: &str) -> String {
        loop {
            let line = self.line().await;
            if let Some(rest) = line.strip_prefix(tag) {
                if let Some(rest) = rest.strip_prefix('\t') {
                    return rest.to_string();
                }
                if rest.is_empty() {
                    return String::new();
                }
            }
            eprintln!("java peer: {line}");
        }
    }

    async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("peer stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to Java peer");
        stdin.flush().await.expect("flush to Java peer");
    }

    /// Feed all `lines` (concurrently with reading, so neither pipe fills up) and return one
    /// answer line per request.
    async fn exchange(mut self, lines: Vec<String>) -> Vec<String> {
        let mut stdin = self.stdin.take().expect("peer stdin open");
        let n = lines.len();
        let writer = tokio::spawn(async move {
            let mut buf = Vec::with_capacity(1 << 20);
            for line in lines {
                buf.extend_from_slice(line.as_bytes());
                buf.push(b'\n');
                if buf.len() >= 1 << 20 {
                    stdin.write_all(&buf).await.expect("write to Java peer");
                    buf.clear();
                }
            }
            stdin.write_all(&buf).await.expect("write to Java peer");
            stdin.shutdown().await.expect("close Java peer stdin");
        });
        let mut answers = Vec::with_capacity(n);
        while answers.len() < n {
            answers.push(self.line().await);
        }
        writer.await.expect("writer task");
        self.finish().await;
        answers
    }

    async fn finish(mut self) {
        drop(self.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("Java peer `{}` did not exit", self.what))
            .expect("wait for Java peer");
        assert!(
            status.success(),
            "Java peer `{}` exited {status}",
            self.what
        );
    }
}

// ---------------------------------------------------------------------------------------
// Deterministic randomness (SplitMix64)
// ---------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn two_decimals(&mut self, max: u64) -> f64 {
        (self.below(max * 100) as f64) / 100.0
    }
}

fn seed() -> u64 {
    std::env::var("DSMASTER_COMPAT_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(42)
        })
}

// ---------------------------------------------------------------------------------------
// 1. Slot differential
// ---------------------------------------------------------------------------------------

const SLOT_LISTS: usize = 12_000;

struct SlotCase {
    version: &'static str,
    fmt: HeartbeatFormat,
    local_ip: String,
    /// In "ZooKeeper" (random) order.
    children: Vec<(String, String)>,
}

fn random_ip(rng: &mut Rng) -> String {
    let o = |rng: &mut Rng| rng.below(256);
    match rng.below(5) {
        0 => format!("10.{}.{}.{}", o(rng), o(rng), o(rng)),
        1 => format!("192.168.{}.{}", o(rng), o(rng)),
        2 => format!("172.{}.{}.{}", 16 + rng.below(16), o(rng), o(rng)),
        // small clusters on consecutive addresses: many shared prefixes and hash collisions
        3 => format!("10.0.0.{}", 1 + rng.below(40)),
        _ => format!("{}.{}.{}.{}", 1 + rng.below(223), o(rng), o(rng), o(rng)),
    }
}

fn random_heartbeat(rng: &mut Rng, fmt: HeartbeatFormat) -> String {
    let hb = Heartbeat {
        cpu_usage: rng.two_decimals(1),
        memory_usage: rng.two_decimals(1),
        disk_available: Some(rng.two_decimals(5000)),
        load_average: rng.two_decimals(64),
        available_physical_memory_size: rng.two_decimals(512),
        max_cpuload_avg: (2 * (1 + rng.below(64))) as f64,
        reserved_memory: 0.3,
        startup_time: 1_600_000_000_000 + rng.below(200_000_000_000) as i64,
        report_time: 1_800_000_000_000 + rng.below(1_000_000) as i64,
        server_status: rng.below(2) as i32,
        process_id: 1 + rng.below(4_000_000) as i32,
        worker_host_weight: 0,
        worker_exec_thread_count: 0,
        worker_waiting_task_count: 0,
    };
    hb.encode(fmt)
}

fn random_slot_case(rng: &mut Rng) -> SlotCase {
    let (version, fmt) = match rng.below(3) {
        0 => ("2.0.0", HeartbeatFormat::Fields13),
        1 => ("2.0.5", HeartbeatFormat::Fields13),
        _ => ("2.0.6", HeartbeatFormat::Fields14),
    };
    let other = match fmt {
        HeartbeatFormat::Fields13 => HeartbeatFormat::Fields14,
        HeartbeatFormat::Fields14 => HeartbeatFormat::Fields13,
    };
    let size = 1 + rng.below(40) as usize;
    // Few IPs for many masters now and then: several masters per IP.
    let spread = 1 + rng.below(3);
    let pool_size = 1 + rng.below(size as u64 / spread + 1) as usize;
    let pool: Vec<String> = (0..pool_size).map(|_| random_ip(rng)).collect();
    let mut names = HashSet::new();
    let mut children = Vec::with_capacity(size);
    let mut attempts = 0;
    while children.len() < size && attempts < size * 20 {
        attempts += 1;
        let ip = &pool[rng.below(pool.len() as u64) as usize];
        let port = match rng.below(10) {
            0..=4 => 5678,
            5..=7 => 5679 + rng.below(12),
            _ => 1 + rng.below(65535),
        };
        let name = format!("{ip}:{port}");
        if !names.insert(name.clone()) {
            continue;
        }
        let data = match rng.below(100) {
            0..=84 => random_heartbeat(rng, fmt),
            85..=92 => random_heartbeat(rng, other),
            93..=96 => String::new(),
            _ => "0.1,0.2,0.3".to_string(),
        };
        children.push((name, data));
    }
    let local_ip = if rng.chance(85) {
        pool[rng.below(pool.len() as u64) as usize].clone()
    } else {
        random_ip(rng)
    };
    SlotCase {
        version,
        fmt,
        local_ip,
        children,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_order_matches_java_master_priority_queue() {
    let seed = seed();
    eprintln!("slot differential: seed {seed} (DSMASTER_COMPAT_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let cases: Vec<SlotCase> = (0..SLOT_LISTS)
        .map(|_| random_slot_case(&mut rng))
        .collect();
    let requests: Vec<String> = cases
        .iter()
        .map(|c| {
            let mut line = format!("{}\t{}", c.version, c.local_ip);
            for (name, data) in &c.children {
                line.push('\t');
                line.push_str(name);
                line.push('\t');
                line.push_str(data);
            }
            line
        })
        .collect();
    let started = Instant::now();
    let answers = Peer::start(&["slots"]).await.exchange(requests).await;
    eprintln!(
        "slot differential: {} lists through one JVM in {:.1}s",
        answers.len(),
        started.elapsed().as_secs_f64()
    );

    let mut failures = Vec::new();
    let mut with_slot = 0;
    let mut shared_ip = 0;
    for (i, (case, answer)) in cases.iter().zip(&answers).enumerate() {
        let parts: Vec<&str> = answer.split('\t').collect();
        assert_eq!(parts.len(), 4, "case {i}: malformed answer {answer:?}");
        let split = |s: &str| -> Vec<String> {
            if s.is_empty() {
                Vec::new()
            } else {
                s.split(',').map(str::to_string).collect()
            }
        };
        let java_map_order = split(parts[0]);
        let java_queue = split(parts[1]);
        let java_index: i64 = parts[2].parse().expect("index");

        let names: Vec<String> = case.children.iter().map(|(n, _)| n.clone()).collect();
        let ours_order = master_order(&names);
        let nodes: Vec<(String, NodeData)> = case
            .children
            .iter()
            .map(|(n, d)| (n.clone(), NodeData::Read(d.clone())))
            .collect();
        let ours = compute_slot(&nodes, case.fmt, &case.local_ip);
        let ours_index = ours.slot.map_or(-1, |s| s.index as i64);
        if ours.slot.is_some() {
            with_slot += 1;
        }
        let mut problems = Vec::new();
        if java_map_order != ours_order {
            problems.push(format!(
                "HashMap order\n    java: {java_map_order:?}\n    ours: {ours_order:?}"
            ));
        }
        if java_queue != ours.servers {
            problems.push(format!(
                "MasterPriorityQueue order\n    java: {java_queue:?}\n    ours: {:?}",
                ours.servers
            ));
        }
        if java_index != ours_index {
            problems.push(format!(
                "slot of {}: java {java_index}, ours {ours_index}",
                case.local_ip
            ));
        }
        if let Some(s) = ours.slot {
            if s.size != case.children.len() {
                problems.push(format!("size {} != {}", s.size, case.children.len()));
            }
        }
        let mut hosts_seen = HashSet::new();
        for pair in split(parts[3]) {
            let (host, idx) = pair.split_once('=').expect("host=index");
            let idx: usize = idx.parse().expect("index");
            if slot_of(&ours.servers, host) != Some(idx) {
                problems.push(format!(
                    "index of {host}: java {idx}, ours {:?}",
                    slot_of(&ours.servers, host)
                ));
            }
            hosts_seen.insert(host.to_string());
        }
        if hosts_seen.len() < java_queue.len() {
            shared_ip += 1;
        }
        if !problems.is_empty() {
            failures.push(format!(
                "case {i} (HeartBeat {}, local {}, children {:?}):\n  {}",
                case.version,
                case.local_ip,
                names,
                problems.join("\n  ")
            ));
        }
    }
    eprintln!(
        "slot differential: {} lists compared ({} with our IP present, {} with several masters on one IP), {} mismatches",
        cases.len(),
        with_slot,
        shared_ip,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {} lists differ from Java; first ones:\n{}",
        failures.len(),
        cases.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// 2. Heartbeat texts
// ---------------------------------------------------------------------------------------

const HB13_VERSIONS: [&str; 2] = ["2.0.0", "2.0.5"];
const HB14_VERSION: &str = "2.0.6";

fn hb(values: [f64; 7], longs: [i64; 2], ints: [i32; 5]) -> Heartbeat {
    Heartbeat {
        cpu_usage: values[0],
        memory_usage: values[1],
        disk_available: Some(values[2]),
        load_average: values[3],
        available_physical_memory_size: values[4],
        max_cpuload_avg: values[5],
        reserved_memory: values[6],
        startup_time: longs[0],
        report_time: longs[1],
        server_status: ints[0],
        process_id: ints[1],
        worker_host_weight: ints[2],
        worker_exec_thread_count: ints[3],
        worker_waiting_task_count: ints[4],
    }
}

fn heartbeat_samples(rng: &mut Rng) -> Vec<Heartbeat> {
    let nan = f64::NAN;
    let mut v = vec![
        // realistic master and worker
        hb(
            [0.12, 0.43, 37.25, 1.5, 5.82, 32.0, 0.3],
            [1_700_000_000_000, 1_700_000_050_012],
            [0, 4242, 0, 0, 0],
        ),
        hb(
            [0.97, 0.88, 512.5, 17.25, 0.21, 16.0, 0.3],
            [1_700_000_000_000, 1_700_000_050_012],
            [2, 31337, 100, 100, 250],
        ),
        // zeros
        hb([0.0; 7], [0, 0], [0; 5]),
        hb([-0.0; 7], [0, 0], [0; 5]),
        // large memory / disk, around and above Double.toString's 1e7 switch to E notation
        hb(
            [0.5, 0.5, 1.0e7, 2.5, 1_048_576.0, 64.0, 9_999_999.99],
            [1_700_000_000_000, 1_700_000_000_001],
            [0, 1, 0, 0, 0],
        ),
        hb(
            [0.5, 0.5, 12_345_678.9, 2.5, 3.0e12, 1.0e7, 1.0e7],
            [1, 2],
            [1, 2, 3, 4, 5],
        ),
        // unknown figures: NaN / infinities are written as -1.0
        hb(
            [nan, 0.5, nan, nan, f64::INFINITY, f64::NEG_INFINITY, 0.3],
            [1_700_000_000_000, 1_700_000_000_000],
            [0, 7, 0, 0, 0],
        ),
        hb([-1.0; 7], [-1, -1], [-1; 5]),
        // small values, below Double.toString's 1e-3 switch
        hb(
            [0.001, 0.000_999, 1.0e-4, 1.5e-7, 0.01, 0.05, 1.0e-300],
            [1, 1],
            [0, 1, 0, 0, 0],
        ),
        // integer extremes
        hb(
            [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
            [i64::MAX, i64::MIN],
            [i32::MAX, i32::MIN, i32::MAX, i32::MIN, i32::MAX],
        ),
        hb(
            [
                f64::MAX,
                f64::MIN_POSITIVE,
                5e-324,
                -f64::MAX,
                0.1 + 0.2,
                1.0 / 3.0,
                2.0f64.sqrt(),
            ],
            [-1_700_000_000_000, 0],
            [1, i32::MAX, 0, 0, 0],
        ),
    ];
    // Two-decimal figures as OSUtils produces them, and arbitrary finite doubles (our
    // Double.toString emulation must round-trip through Double.parseDouble).
    for i in 0..3000 {
        let mut d = [0.0; 7];
        for x in d.iter_mut() {
            *x = if i % 2 == 0 {
                rng.two_decimals(100_000)
            } else {
                loop {
                    let f = f64::from_bits(rng.next());
                    if f.is_finite() {
                        break f;
                    }
                }
            };
        }
        let l = [rng.next() as i64, rng.next() as i64];
        let n = [
            rng.next() as i32,
            rng.next() as i32,
            rng.next() as i32,
            rng.next() as i32,
            rng.next() as i32,
        ];
        v.push(hb(d, l, n));
    }
    v
}

/// The value a Java reader must see for a double we wrote.
fn written(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        -1.0
    }
}

/// Our struct as the 14 Java fields (`None` = field absent in this generation).
fn expected_fields(h: &Heartbeat, fmt: HeartbeatFormat) -> [Option<i64>; 14] {
    let d = |x: f64| Some(written(x).to_bits() as i64);
    [
        d(h.cpu_usage),
        d(h.memory_usage),
        match fmt {
            HeartbeatFormat::Fields13 => None,
            HeartbeatFormat::Fields14 => d(h.disk_available.unwrap_or(-1.0)),
        },
        d(h.load_average),
        d(h.available_physical_memory_size),
        d(h.max_cpuload_avg),
        d(h.reserved_memory),
        Some(h.startup_time),
        Some(h.report_time),
        Some(h.server_status.into()),
        Some(h.process_id.into()),
        Some(h.worker_host_weight.into()),
        Some(h.worker_exec_thread_count.into()),
        Some(h.worker_waiting_task_count.into()),
    ]
}

/// Java's printed fields: doubles as raw bits, integers in decimal, `-` for absent.
fn parse_java_fields(s: &str) -> [Option<i64>; 14] {
    let parts: Vec<&str> = s.split('\t').collect();
    assert_eq!(parts.len(), 14, "Java fields: {s:?}");
    let mut out = [None; 14];
    for (o, p) in out.iter_mut().zip(parts) {
        *o = if p == "-" {
            None
        } else {
            Some(p.parse().unwrap_or_else(|_| panic!("field {p:?} in {s:?}")))
        };
    }
    out
}

fn ours_as_fields(h: &Heartbeat, fmt: HeartbeatFormat) -> [Option<i64>; 14] {
    // What we decoded, in the same representation (no NaN mapping: compare raw).
    let d = |x: f64| Some(x.to_bits() as i64);
    [
        d(h.cpu_usage),
        d(h.memory_usage),
        match fmt {
            HeartbeatFormat::Fields13 => None,
            HeartbeatFormat::Fields14 => h.disk_available.and_then(d),
        },
        d(h.load_average),
        d(h.available_physical_memory_size),
        d(h.max_cpuload_avg),
        d(h.reserved_memory),
        Some(h.startup_time),
        Some(h.report_time),
        Some(h.server_status.into()),
        Some(h.process_id.into()),
        Some(h.worker_host_weight.into()),
        Some(h.worker_exec_thread_count.into()),
        Some(h.worker_waiting_task_count.into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_heartbeats_decode_in_upstream_java() {
    let seed = seed();
    eprintln!("heartbeat texts: seed {seed}");
    let mut rng = Rng(seed);
    let samples = heartbeat_samples(&mut rng);
    // (version, fmt, sample index, text)
    let mut requests = Vec::new();
    let mut meta = Vec::new();
    for (i, h) in samples.iter().enumerate() {
        for v in HB13_VERSIONS {
            requests.push(format!("{v}\t{}", h.encode(HeartbeatFormat::Fields13)));
            meta.push((v, HeartbeatFormat::Fields13, i, true));
        }
        requests.push(format!(
            "{HB14_VERSION}\t{}",
            h.encode(HeartbeatFormat::Fields14)
        ));
        meta.push((HB14_VERSION, HeartbeatFormat::Fields14, i, true));
        if i < 20 {
            // The wrong generation is ignored by Java (null), never misread.
            requests.push(format!(
                "{HB14_VERSION}\t{}",
                h.encode(HeartbeatFormat::Fields13)
            ));
            meta.push((HB14_VERSION, HeartbeatFormat::Fields13, i, false));
            requests.push(format!("2.0.5\t{}", h.encode(HeartbeatFormat::Fields14)));
            meta.push(("2.0.5", HeartbeatFormat::Fields14, i, false));
        }
    }
    let answers = Peer::start(&["heartbeat-decode"])
        .await
        .exchange(requests.clone())
        .await;
    let mut failures = Vec::new();
    for ((answer, (version, fmt, i, readable)), request) in answers.iter().zip(&meta).zip(&requests)
    {
        if !readable {
            if answer != "NULL" {
                failures.push(format!("{version} must ignore {request:?}, got {answer:?}"));
            }
            continue;
        }
        match answer.strip_prefix("OK\t") {
            Some(fields) => {
                let java = parse_java_fields(fields);
                let want = expected_fields(&samples[*i], *fmt);
                if java != want {
                    failures.push(format!(
                        "{version} read {request:?}\n    java: {java:?}\n    want: {want:?}"
                    ));
                }
            }
            None => failures.push(format!("{version} cannot read {request:?}: {answer}")),
        }
    }
    eprintln!(
        "heartbeat texts: {} of ours read by upstream HeartBeat {} (13 fields) and {HB14_VERSION} (14 fields), {} mismatches",
        answers.len(),
        HB13_VERSIONS.join("/"),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "seed {seed}: {} heartbeat mismatches; first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_heartbeats_decode_here() {
    let mut checked = 0;
    for (version, fmt) in [
        ("2.0.0", HeartbeatFormat::Fields13),
        ("2.0.5", HeartbeatFormat::Fields13),
        (HB14_VERSION, HeartbeatFormat::Fields14),
    ] {
        let mut peer = Peer::start(&["heartbeat-encode", version, "35"]).await;
        for _ in 0..35 {
            let line = peer.expect("TEXT").await;
            let (text, fields) = line.split_once('\t').expect("text TAB fields");
            let java = parse_java_fields(fields);
            let strict = Heartbeat::decode_as(text, fmt)
                .unwrap_or_else(|e| panic!("{version} text {text:?} rejected: {e}"));
            assert_eq!(
                ours_as_fields(&strict, fmt),
                java,
                "{version} text {text:?}: fields differ"
            );
            let lenient = Heartbeat::decode(text).expect("lenient decode");
            assert_eq!(lenient, strict, "{version} text {text:?}");
            // Byte parity: our encoder writes exactly what upstream wrote.
            assert_eq!(
                strict.encode(fmt),
                text,
                "{version}: re-encoded text differs"
            );
            let wrong = match fmt {
                HeartbeatFormat::Fields13 => HeartbeatFormat::Fields14,
                HeartbeatFormat::Fields14 => HeartbeatFormat::Fields13,
            };
            assert!(Heartbeat::decode_as(text, wrong).is_err());
            checked += 1;
        }
        peer.finish().await;
    }
    eprintln!("upstream encodeHeartBeat: {checked} texts (2.0.0, 2.0.5, {HB14_VERSION}) decoded and re-encoded identically");
}

// ---------------------------------------------------------------------------------------
// 3. Curator locks
// ---------------------------------------------------------------------------------------

fn options(servers: String) -> Options {
    Options {
        servers,
        block_until_connected: Duration::from_secs(10),
        heartbeat_interval: Duration::from_millis(500),
        max_cpuload_avg: 1000.0,
        reserved_memory: 0.0,
        ..Options::default()
    }
}

async fn raw_client(servers: &str) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .with_server_version(3, 4, 14)
        .connect(servers)
        .await
        .expect("raw ZooKeeper client connects")
}

fn marker_base(dir: &str) -> String {
    format!(
        "/compat-lock/{}",
        dir.trim_start_matches('/').replace('/', "_")
    )
}

const LOCK_DIRS: [&str; 3] = [
    "/lock/failover/masters/10.0.0.9:5678",
    "/lock/failover/startup-masters",
    "/lock/masters",
];

/// Our critical section (the Java peer's `Locks.inside`): create the "inside" marker (must
/// not exist), bump the counter with a versioned write, remove the marker.
async fn inside(client: &zk::Client, dir: &str, who: &str) -> Option<String> {
    let base = marker_base(dir);
    let marker = format!("{base}/inside");
    let counter = format!("{base}/counter");
    match client
        .create(
            &marker,
            who.as_bytes(),
            &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all()),
        )
        .await
    {
        Ok(_) => {}
        Err(zk::Error::NodeExists) => {
            let other = client
                .get_data(&marker)
                .await
                .map(|(d, _)| String::from_utf8_lossy(&d).into_owned())
                .unwrap_or_else(|_| "?".into());
            return Some(format!("{dir}: {who} entered while {other} was inside"));
        }
        Err(e) => panic!("creating {marker}: {e}"),
    }
    let (data, stat) = client.get_data(&counter).await.expect("read counter");
    let n: u64 = String::from_utf8_lossy(&data)
        .trim()
        .parse()
        .expect("counter");
    let problem = match client
        .set_data(&counter, (n + 1).to_string().as_bytes(), Some(stat.version))
        .await
    {
        Ok(_) => None,
        Err(zk::Error::BadVersion) => Some(format!("{dir}: counter changed under {who}")),
        Err(e) => panic!("writing {counter}: {e}"),
    };
    client.delete(&marker, None).await.expect("delete marker");
    problem
}

/// Returns the two registries used, still connected (dropping them tears their watches down).
async fn lock_contention(
    servers: String,
    java_rounds: usize,
    rust_rounds: usize,
) -> (Registry, Registry) {
    let a = Registry::connect(&options(servers.clone()))
        .await
        .expect("registry a connects");
    let b = Registry::connect(&options(servers.clone()))
        .await
        .expect("registry b connects");
    a.register_master("127.0.0.1:45701")
        .await
        .expect("a registers");
    // Counters and marker parents, persistent.
    for dir in LOCK_DIRS {
        let base = marker_base(dir);
        a.client()
            .mkdir(
                &base,
                &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
            )
            .await
            .expect("marker dir");
        a.client()
            .create(
                &format!("{base}/counter"),
                b"0",
                &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
            )
            .await
            .expect("counter");
    }

    let java_threads = 2;
    let mut java = Peer::start(&[
        "lock",
        &servers,
        &java_rounds.to_string(),
        &java_threads.to_string(),
        &LOCK_DIRS.join(","),
    ])
    .await;
    java.expect("READY").await;
    let started = Instant::now();
    java.send("GO").await;

    let violations = Arc::new(AtomicU64::new(0));
    let per_dir: Arc<Vec<AtomicU64>> =
        Arc::new(LOCK_DIRS.iter().map(|_| AtomicU64::new(0)).collect());
    let mut tasks = Vec::new();
    for (id, reg) in [a.clone(), b.clone(), a.clone()].into_iter().enumerate() {
        let violations = violations.clone();
        let per_dir = per_dir.clone();
        tasks.push(tokio::spawn(async move {
            let who = format!("rust-{id}");
            for i in 0..rust_rounds {
                let d = (i + id) % LOCK_DIRS.len();
                let dir = LOCK_DIRS[d];
                let held = reg.lock(dir).await.expect("lock");
                if let Some(problem) = inside(reg.client(), dir, &who).await {
                    eprintln!("VIOLATION {problem}");
                    violations.fetch_add(1, Ordering::Relaxed);
                }
                held.release().await.expect("release");
                per_dir[d].fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let rust_done = async {
        for t in tasks {
            t.await.expect("rust contender");
        }
    };
    let java_done = async {
        let mut java_violations = Vec::new();
        loop {
            let line = java.line().await;
            if let Some(v) = line.strip_prefix("VIOLATION\t") {
                java_violations.push(v.to_string());
            } else if let Some(done) = line.strip_prefix("DONE\t") {
                return (done.to_string(), java_violations, java);
            } else if line.starts_with("FAILED") {
                panic!("Java contender failed: {line}");
            }
        }
    };
    let ((), (done, java_violations, java)) =
        tokio::time::timeout(Duration::from_secs(150), async {
            tokio::join!(rust_done, java_done)
        })
        .await
        .expect("no deadlock: all rounds finish in bounded time");
    java.finish().await;
    let elapsed = started.elapsed();

    // Java contenders hit dir (i + id) % 3 as well.
    let mut expected = [0u64; 3];
    for (d, count) in per_dir.iter().enumerate() {
        expected[d] += count.load(Ordering::Relaxed);
    }
    for id in 0..java_threads {
        for i in 0..java_rounds {
            expected[(i + id) % LOCK_DIRS.len()] += 1;
        }
    }
    let raw = raw_client(&servers).await;
    for (d, dir) in LOCK_DIRS.iter().enumerate() {
        let path = format!("/dolphinscheduler{}/counter", marker_base(dir));
        let (data, _) = raw.get_data(&path).await.expect("counter");
        let n: u64 = String::from_utf8_lossy(&data).parse().expect("counter");
        assert_eq!(n, expected[d], "{dir}: increments lost");
        // Every contender node is gone.
        let left = raw
            .list_children(&format!("/dolphinscheduler{dir}"))
            .await
            .expect("lock dir");
        assert!(
            left.is_empty(),
            "{dir}: contender nodes left behind: {left:?}"
        );
    }
    let total: u64 = expected.iter().sum();
    eprintln!(
        "lock contention on {servers}: {total} rounds ({} Java Curator 4.3.0/ZK 3.4.14 in {java_threads} threads, {} Rust in 3 tasks over 2 sessions) in {:.1}s; java {done}; rust violations {}",
        java_threads * java_rounds,
        3 * rust_rounds,
        elapsed.as_secs_f64(),
        violations.load(Ordering::Relaxed)
    );
    assert!(
        java_violations.is_empty(),
        "Java saw mutual exclusion broken: {java_violations:?}"
    );
    assert_eq!(
        violations.load(Ordering::Relaxed),
        0,
        "we saw mutual exclusion broken"
    );
    assert!(done.contains("violations=0"), "{done}");
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn curator_and_rust_locks_exclude_each_other() {
    let server = ZooKeeper::start().await.expect("private ZooKeeper starts");
    let registries = lock_contention(server.connect_string(), 500, 350).await;
    drop(registries);
    server.stop().await;
}

fn is_curator_lock_node(name: &str) -> bool {
    // _c_ + uuid v4 (36) + "-lock-" + 10 digits
    let Some(rest) = name.strip_prefix("_c_") else {
        return false;
    };
    if rest.len() != 36 + 6 + 10 {
        return false;
    }
    let (uuid, tail) = rest.split_at(36);
    let groups: Vec<&str> = uuid.split('-').collect();
    let uuid_ok = groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        && groups[2].starts_with('4')
        && matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b');
    uuid_ok
        && tail.starts_with("-lock-")
        && tail[6..].len() == 10
        && tail[6..].bytes().all(|b| b.is_ascii_digit())
}

async fn wait_children(raw: &zk::Client, dir: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let children = raw.list_children(dir).await.unwrap_or_default();
        if children.len() == n {
            return children;
        }
        assert!(
            Instant::now() < deadline,
            "{dir}: expected {n} contenders, have {children:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Returns the registry used, still connected.
async fn lock_node_shape(servers: String) -> Registry {
    let registry = Registry::connect(&options(servers.clone()))
        .await
        .expect("registry connects");
    registry
        .register_master("127.0.0.1:45702")
        .await
        .expect("registers");
    let raw = raw_client(&servers).await;
    let persistent_empty = |stat: &zk::Stat, path: &str| {
        assert_eq!(stat.ephemeral_owner, 0, "{path} must be persistent");
        assert_eq!(stat.data_length, 0, "{path} must be empty");
    };

    // Java first: Curator creates the lock dir; we queue behind it.
    let dir = lock::failover_master_lock("10.0.0.77:5678");
    let abs = format!("/dolphinscheduler{dir}");
    let mut java = Peer::start(&["hold", &servers, &dir]).await;
    let java_data = java.expect("DATA").await;
    java.expect("HELD").await;
    let r = registry.clone();
    let d = dir.clone();
    let ours = tokio::spawn(async move { r.lock(&d).await });
    let children = wait_children(&raw, &abs, 2).await;
    let mut by_seq: Vec<(String, String)> = children
        .iter()
        .map(|c| (c[c.len() - 10..].to_string(), c.clone()))
        .collect();
    by_seq.sort();
    let (java_node, our_node) = (&by_seq[0].1, &by_seq[1].1);
    for name in [java_node, our_node] {
        assert!(is_curator_lock_node(name), "not Curator-shaped: {name}");
    }
    let (jd, js) = raw
        .get_data(&format!("{abs}/{java_node}"))
        .await
        .expect("java node");
    let (od, os) = raw
        .get_data(&format!("{abs}/{our_node}"))
        .await
        .expect("our node");
    assert_eq!(
        String::from_utf8_lossy(&jd),
        java_data,
        "Curator data = its default data"
    );
    assert_eq!(
        String::from_utf8_lossy(&od),
        "127.0.0.1",
        "our data = our IP"
    );
    assert_ne!(js.ephemeral_owner, 0, "Curator node ephemeral");
    assert_ne!(os.ephemeral_owner, 0, "our node ephemeral");
    assert_eq!(os.ephemeral_owner, registry.client().session_id().0);
    // Curator-created directory chain: persistent and empty (3.4 client: no containers).
    let mut p = String::from("/dolphinscheduler");
    for seg in dir.trim_start_matches('/').split('/') {
        p = format!("{p}/{seg}");
        let stat = raw.check_stat(&p).await.expect("stat").expect("exists");
        persistent_empty(&stat, &p);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!ours.is_finished(), "we must wait behind Curator's holder");
    java.send("release").await;
    java.expect("RELEASED").await;
    java.finish().await;
    let held = tokio::time::timeout(WAIT, ours)
        .await
        .expect("we get the lock after Curator releases")
        .expect("task")
        .expect("lock");
    assert_eq!(held.node(), format!("{dir}/{our_node}"));

    // Us first, in a directory we create: Curator queues behind us.
    let dir2 = lock::failover_master_lock("10.0.0.78:5678");
    let abs2 = format!("/dolphinscheduler{dir2}");
    let ours2 = registry.lock(&dir2).await.expect("lock");
    let stat = raw.check_stat(&abs2).await.expect("stat").expect("dir");
    persistent_empty(&stat, &abs2);
    let mut java2 = Peer::start(&["hold", &servers, &dir2]).await;
    java2.expect("DATA").await;
    let children = wait_children(&raw, &abs2, 2).await;
    assert!(
        children.iter().all(|c| is_curator_lock_node(c)),
        "{children:?}"
    );
    let early = tokio::time::timeout(Duration::from_millis(500), java2.expect("HELD")).await;
    assert!(early.is_err(), "Curator must wait while we hold the lock");
    ours2.release().await.expect("release");
    tokio::time::timeout(WAIT, java2.expect("HELD"))
        .await
        .expect("Curator gets the lock after our release");
    java2.send("release").await;
    java2.expect("RELEASED").await;
    java2.finish().await;
    held.release().await.expect("release");
    eprintln!("lock nodes on {servers}: Curator {java_node} (data {java_data:?}), ours {our_node} (data \"127.0.0.1\")");
    registry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_nodes_look_like_curators() {
    let server = ZooKeeper::start().await.expect("private ZooKeeper starts");
    let registry = lock_node_shape(server.connect_string()).await;
    drop(registry);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// 4. Session loss
// ---------------------------------------------------------------------------------------

async fn wait_gone(raw: &zk::Client, path: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while raw.check_stat(path).await.expect("stat").is_some() {
        assert!(
            Instant::now() < deadline,
            "{path} still there after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// After loss: the heartbeat does not bring the node back and no new registration is taken.
async fn assert_stays_stopped(registry: &Registry, raw: &zk::Client, node: &str) {
    tokio::time::sleep(Duration::from_millis(1500)).await; // three heartbeat intervals
    assert!(
        raw.check_stat(node).await.expect("stat").is_none(),
        "a lost master must not re-create its node"
    );
    assert!(registry.lost_reason().is_some());
    let again = registry.register_master("127.0.0.1:45799").await;
    assert!(again.is_err(), "registration on a lost registry must fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_session_expires_and_means_lost() {
    let server = ZooKeeper::start().await.expect("private ZooKeeper starts");
    let servers = server.connect_string();
    let proxy = Partition::start(servers.clone()).await;
    let registry = Registry::connect(&options(proxy.connect_string()))
        .await
        .expect("registry connects");
    registry
        .register_master("127.0.0.1:45703")
        .await
        .expect("registers");
    let raw = raw_client(&servers).await;
    let node = "/dolphinscheduler/nodes/master/127.0.0.1:45703";
    assert!(raw.check_stat(node).await.expect("stat").is_some());

    // Kill the session the way Curator's test utilities do: a second connection presents our
    // session id and password and closes the session. Our own connection is cut meanwhile
    // (briefly, far below the 30 s session timeout), otherwise it reconnects at once and the
    // two connections keep displacing each other.
    let session = registry.client().session().clone();
    let started = Instant::now();
    proxy.set(Link::Reset);
    let impostor = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .with_session(session)
        .connect(&servers)
        .await
        .expect("second connection with our session");
    assert_eq!(impostor.session_id(), registry.client().session_id());
    drop(impostor); // closes the session: the server drops its ephemeral nodes
    wait_gone(&raw, node, WAIT).await;
    assert_eq!(
        registry.lost_reason(),
        None,
        "nothing to notice before reconnecting"
    );
    proxy.set(Link::Up);

    let reason = tokio::time::timeout(WAIT, registry.lost())
        .await
        .expect("lost() resolves once the server reports the session gone");
    assert_eq!(reason, LostReason::SessionExpired);
    eprintln!(
        "killed session: lost() = {reason:?} {:.1}s after the kill; ephemeral node removed by the server",
        started.elapsed().as_secs_f64()
    );
    assert_stays_stopped(&registry, &raw, node).await;
    drop(registry);
    server.stop().await;
}

/// How [`Partition`] treats traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Forward everything.
    Up,
    /// Close every connection and refuse new ones (the client notices at once).
    Reset,
    /// Keep connections open but drop every byte, new connections included (a silent
    /// partition: the client notices only through its own idle timeout).
    Blackhole,
}

/// A loopback TCP proxy between a client and a server that keeps running, to partition them.
struct Partition {
    port: u16,
    link: Arc<tokio::sync::watch::Sender<Link>>,
    task: tokio::task::JoinHandle<()>,
}

/// Copy `from` → `to` while the link is up; drop bytes while blackholed; stop on reset.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut link: tokio::sync::watch::Receiver<Link>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = link.wait_for(|l| *l == Link::Reset) => return,
        };
        match *link.borrow() {
            Link::Up => {}
            Link::Blackhole => continue,
            Link::Reset => return,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Partition {
    async fn start(upstream: String) -> Partition {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let (link, _) = tokio::sync::watch::channel(Link::Up);
        let link = Arc::new(link);
        let link2 = link.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                let rx = link2.subscribe();
                if *rx.borrow() == Link::Reset {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (ir, iw) = inbound.into_split();
                    let (or, ow) = outbound.into_split();
                    tokio::join!(pump(ir, ow, rx.clone()), pump(or, iw, rx));
                });
            }
        });
        Partition { port, link, task }
    }

    fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A partition past the session timeout: the server (still running) expires the session and
/// removes our node; [`Registry::lost`] must resolve no later than that, and once the network
/// is back the client learns the session is gone for good.
async fn partition_until_expired(link: Link) {
    let server = ZooKeeper::start().await.expect("private ZooKeeper starts");
    let proxy = Partition::start(server.connect_string()).await;
    let opts = Options {
        // The server's minimum (2 × tickTime 2000 ms), so the server expires us quickly.
        session_timeout: Duration::from_secs(4),
        connection_timeout: Duration::from_millis(1500),
        ..options(proxy.connect_string())
    };
    let registry = Registry::connect(&opts).await.expect("registry connects");
    registry
        .register_master("127.0.0.1:45704")
        .await
        .expect("registers");
    let raw = raw_client(&server.connect_string()).await;
    let node = "/dolphinscheduler/nodes/master/127.0.0.1:45704";
    let (_, stat) = raw.get_data(node).await.expect("node");
    let session = stat.ephemeral_owner;

    let started = Instant::now();
    proxy.set(link);
    let lost = async {
        let reason = registry.lost().await;
        (reason, started.elapsed())
    };
    let expired = async {
        wait_gone(&raw, node, WAIT).await;
        started.elapsed()
    };
    let ((reason, lost_after), expired_after) =
        tokio::time::timeout(WAIT, async { tokio::join!(lost, expired) })
            .await
            .expect("lost() resolves and the server expires the session");
    eprintln!(
        "{link:?} partition: lost() = {reason:?} after {:.2}s; server expired session {session:#x} after {:.2}s",
        lost_after.as_secs_f64(),
        expired_after.as_secs_f64()
    );
    assert!(
        lost_after <= expired_after,
        "we must stop no later than the server expires us (peers fail over from then on): lost after {lost_after:?}, expired after {expired_after:?}"
    );
    proxy.set(Link::Up);
    let deadline = Instant::now() + WAIT;
    while registry.client().state() != zk::SessionState::Expired {
        assert!(
            Instant::now() < deadline,
            "client never saw its session expired: {:?}",
            registry.client().state()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_stays_stopped(&registry, &raw, node).await;
    drop(registry);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_partition_past_the_session_timeout_means_lost_before_expiry() {
    partition_until_expired(Link::Reset).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_partition_past_the_session_timeout_means_lost_before_expiry() {
    partition_until_expired(Link::Blackhole).await;
}

// ---------------------------------------------------------------------------------------
// 5. ZooKeeper 3.4.14 server
// ---------------------------------------------------------------------------------------

/// ZooKeeper 3.4.14's `ZooKeeperServerMain` from Maven Central (through run.sh).
struct Zk34 {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Zk34 {
    async fn start() -> Zk34 {
        ensure_built().await;
        let dir = tempfile::Builder::new()
            .prefix("dsmaster-zk34-")
            .tempdir()
            .expect("temp dir");
        let port = dsmaster::testkit::free_port().expect("free port");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data dir");
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\n",
                data.display()
            ),
        )
        .expect("zoo.cfg");
        let log = std::fs::File::create(dir.path().join("zookeeper.log")).expect("log");
        let child = Command::new(run_sh())
            .arg("zk34-server")
            .arg(&cfg)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start ZooKeeper 3.4.14");
        let zk = Zk34 { child, port, dir };
        // `ruok` answers before the server serves; `srvr` only once it does.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let srvr = zk.four_letter("srvr").await.unwrap_or_default();
            if srvr.starts_with("Zookeeper version:") {
                assert!(srvr.contains("3.4.14"), "not a 3.4.14 server: {srvr}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "ZooKeeper 3.4.14 not ready ({srvr:?}); log:\n{}",
                zk.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        zk
    }

    fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("zookeeper.log")).unwrap_or_default()
    }

    async fn four_letter(&self, cmd: &str) -> std::io::Result<String> {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        s.write_all(cmd.as_bytes()).await?;
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
            .await
            .map_err(|_| std::io::Error::other("timeout"))??;
        Ok(out)
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

impl Drop for Zk34 {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let keep = std::env::temp_dir().join(format!("dsmaster-zk34-{}.log", self.port));
            if std::fs::write(&keep, &log).is_ok() {
                eprintln!("ZooKeeper 3.4.14 log kept at {}", keep.display());
            }
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "--- ZooKeeper 3.4.14 log (last 60 lines) ---\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zookeeper_3_4_server() {
    let zk34 = Zk34::start().await;
    let servers = zk34.connect_string();
    let registry = Registry::connect(&options(servers.clone()))
        .await
        .expect("registry connects to ZooKeeper 3.4.14");
    let raw = raw_client(&servers).await;

    // Registration (startup lock, ephemeral create with the heartbeat, dead-server purge).
    let reg = registry
        .register_master("127.0.0.1:45705")
        .await
        .expect("master registers on 3.4");
    let node = "/dolphinscheduler/nodes/master/127.0.0.1:45705";
    let (data, stat) = raw.get_data(node).await.expect("master node");
    assert_ne!(stat.ephemeral_owner, 0);
    let first = Heartbeat::decode_as(&String::from_utf8_lossy(&data), HeartbeatFormat::Fields13)
        .expect("13-field heartbeat");
    assert_eq!(first.startup_time, reg.startup_time);

    // Slot through the one-shot child watch, then a second master joins (watch fires).
    let mut slot = registry.master_slot();
    tokio::time::timeout(
        WAIT,
        slot.wait_for(|s| *s == Some(MasterSlot { index: 0, size: 1 })),
    )
    .await
    .expect("slot on 3.4")
    .expect("slot channel");
    let peer = Registry::connect(&options(servers.clone()))
        .await
        .expect("second registry");
    peer.register_master("127.0.0.2:45705")
        .await
        .expect("second master registers");
    tokio::time::timeout(WAIT, slot.wait_for(|s| s.is_some_and(|s| s.size == 2)))
        .await
        .expect("membership change seen through the 3.4 watch")
        .expect("slot channel");

    // Heartbeat ticks (setData).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (data, _) = raw.get_data(node).await.expect("master node");
    let later = Heartbeat::decode(&String::from_utf8_lossy(&data)).expect("decodes");
    assert!(
        later.report_time > first.report_time,
        "heartbeat not ticking on 3.4"
    );

    // Worker discovery through watches.
    let mut workers = registry.workers();
    let _worker = peer
        .register_worker("default", "127.0.0.3:41234", 100, 8)
        .await
        .expect("worker registers on 3.4");
    tokio::time::timeout(
        WAIT,
        workers.wait_for(|m| {
            m.get("default")
                .is_some_and(|g| g.contains_key("127.0.0.3:41234"))
        }),
    )
    .await
    .expect("worker seen through 3.4 watches")
    .expect("workers channel");

    // Locks next to Curator, with more heartbeats meanwhile.
    let shape_registry = lock_node_shape(servers.clone()).await;
    let contenders = lock_contention(servers.clone(), 100, 70).await;

    // In all that steady-state traffic nothing of 3.5+ reached the server (a 3.4 server
    // closes the connection on an unknown request) and no connection was dropped.
    let log = zk34.log();
    let unknown = log.matches("unknown type").count();
    let renewals = log.matches("attempting to renew session").count();
    assert_eq!(unknown, 0, "3.5+ requests sent to a 3.4 server");
    assert_eq!(renewals, 0, "connections dropped and re-established on 3.4");
    assert_eq!(registry.lost_reason(), None);

    // Self-fencing on a deleted node.
    raw.delete(node, None).await.expect("delete our node");
    let reason = tokio::time::timeout(WAIT, registry.lost())
        .await
        .expect("lost() on 3.4");
    assert_eq!(reason, LostReason::NodeRemoved);
    eprintln!(
        "ZooKeeper 3.4.14: registration, heartbeat, slot and worker watches, Curator locks and fencing work; no unknown requests, no reconnects"
    );
    drop((shape_registry, contenders, peer));
    drop(registry);
    zk34.stop().await;
}
