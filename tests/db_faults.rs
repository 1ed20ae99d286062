//! A database connection that dies at the wrong moment must never leave an instance stuck.
//! The master reaches MariaDB through a small TCP proxy in this test that can (a) forward a
//! COMMIT and then cut the connection before the server's answer comes back (the commit
//! happened, the client cannot know), or (b) cut the connection carrying the first task
//! instance INSERT and refuse every connection for a while (the database restarting).

use dsmaster::model::ExecutionStatus;
use dsmaster::params;
use dsmaster::testkit::cluster::{init_test_logging, LocalCluster};
use dsmaster::testkit::worker::Behaviour;
use dsmaster::testkit::SchemaVersion;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

#[derive(Default)]
struct Faults {
    /// Forward the next COMMIT, then drop its connection without the answer.
    drop_after_commit: bool,
    /// Drop the connection of the next task-instance INSERT (unsent) and refuse all
    /// connections for this long.
    blackout_on_task_insert: Option<Duration>,
    blackout_until: Option<Instant>,
    commits_cut: usize,
    inserts_cut: usize,
}

type Shared = Arc<Mutex<Faults>>;

fn in_blackout(f: &Shared) -> bool {
    f.lock()
        .unwrap()
        .blackout_until
        .is_some_and(|t| Instant::now() < t)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn proxy(listener: TcpListener, upstream: u16, faults: Shared) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        if in_blackout(&faults) {
            drop(client);
            continue;
        }
        let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
            continue;
        };
        let faults = faults.clone();
        tokio::spawn(async move {
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let stop = tokio_util::sync::CancellationToken::new();
            // Set before a COMMIT is forwarded: the server's answer must not reach the client.
            let mute = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let down = {
                let stop = stop.clone();
                let faults = faults.clone();
                let mute = mute.clone();
                async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = tokio::select! {
                            r = cr.read(&mut buf) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
                            _ = stop.cancelled() => break,
                        };
                        let chunk = &buf[..n];
                        if in_blackout(&faults) {
                            break;
                        }
                        let (cut_commit, cut_insert) = {
                            let mut f = faults.lock().unwrap();
                            // MySQL: COM_QUERY "COMMIT"; PostgreSQL: a simple Query "COMMIT\0".
                            let commit = f.drop_after_commit
                                && (contains(chunk, b"\x03COMMIT")
                                    || contains(chunk, b"COMMIT\x00"));
                            if commit {
                                f.drop_after_commit = false;
                                f.commits_cut += 1;
                            }
                            let insert = f.blackout_on_task_insert.is_some()
                                && contains(chunk, b"INSERT INTO t_ds_task_instance");
                            if insert {
                                let d = f.blackout_on_task_insert.take().unwrap_or_default();
                                f.blackout_until = Some(Instant::now() + d);
                                f.inserts_cut += 1;
                            }
                            (commit, insert)
                        };
                        if cut_insert {
                            break;
                        }
                        if cut_commit {
                            mute.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                        if sw.write_all(chunk).await.is_err() {
                            break;
                        }
                        if cut_commit {
                            // Let the server commit, then vanish before its OK reaches us.
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            break;
                        }
                    }
                    stop.cancel();
                }
            };
            let up = {
                let stop = stop.clone();
                async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = tokio::select! {
                            r = sr.read(&mut buf) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
                            _ = stop.cancelled() => break,
                        };
                        if mute.load(std::sync::atomic::Ordering::SeqCst) {
                            break;
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    stop.cancel();
                }
            };
            tokio::join!(down, up);
        });
    }
}

/// A cluster whose master reaches the database through the proxy (no Quartz member, so
/// the only explicit COMMITs are intake's).
async fn cluster_behind_proxy() -> (LocalCluster, Shared) {
    let mut cluster = LocalCluster::start_on_test_db(SchemaVersion::V2_0_5)
        .await
        .expect("cluster");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy");
    let proxy_port = listener.local_addr().expect("addr").port();
    let faults = Shared::default();
    tokio::spawn(proxy(listener, cluster.db.port(), faults.clone()));
    let dir = cluster.conf_dir.path().to_path_buf();
    for name in [
        "application-mysql.yaml",
        "application-postgresql.yaml",
        "application.yaml",
    ] {
        let yaml = dir.join(name);
        let Ok(text) = std::fs::read_to_string(&yaml) else {
            continue;
        };
        let text = text.replace(
            &format!("127.0.0.1:{}", cluster.db.port()),
            &format!("127.0.0.1:{proxy_port}"),
        );
        assert!(text.contains(&proxy_port.to_string()), "{text}");
        std::fs::write(&yaml, text).expect("yaml");
    }
    let ours = dir.join("dsmaster.properties");
    let mut text = std::fs::read_to_string(&ours).expect("properties");
    text.push_str("dsmaster.schedule.enabled=false\n");
    std::fs::write(&ours, text).expect("properties");
    cluster.start_master().await.expect("master");
    cluster
        .start_worker(Behaviour::RunShell)
        .await
        .expect("worker");
    (cluster, faults)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intake_commit_cut_after_it_succeeded_still_runs_the_instance() {
    init_test_logging();
    let started = Instant::now();
    let (cluster, faults) = cluster_behind_proxy().await;
    let wf = cluster
        .import(Path::new("fixtures/workflows/shell-a-b.json"))
        .await
        .expect("import")
        .remove(0);
    faults.lock().unwrap().drop_after_commit = true;
    cluster.start_workflow(&wf).await.expect("command");
    let (id, state) = cluster
        .wait_for_end(wf.definition_code, Duration::from_secs(60), |_| {})
        .await
        .expect("the instance ends without a master restart");
    assert_eq!(faults.lock().unwrap().commits_cut, 1, "the fault fired");
    assert_eq!(state, ExecutionStatus::SUCCESS);
    let mut conn = cluster.db_conn().await.expect("conn");
    let tasks: Vec<(String, i32)> = conn
        .all(
            "SELECT name, state FROM t_ds_task_instance WHERE process_instance_id = ? AND flag = 1 ORDER BY id",
            params![id],
        )
        .await
        .unwrap();
    assert_eq!(tasks, vec![("A".to_string(), 7), ("B".to_string(), 7)]);
    let commands: Option<i64> = conn
        .first("SELECT COUNT(*) FROM t_ds_command", params![])
        .await
        .unwrap();
    assert_eq!(commands, Some(0));
    eprintln!("ambiguous commit test took {:?}", started.elapsed());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_task_insert_and_a_failed_finish_still_end_the_instance() {
    init_test_logging();
    let started = Instant::now();
    let (cluster, faults) = cluster_behind_proxy().await;
    let wf = cluster
        .import(Path::new("fixtures/workflows/shell-a-b.json"))
        .await
        .expect("import")
        .remove(0);
    faults.lock().unwrap().blackout_on_task_insert = Some(Duration::from_secs(6));
    cluster.start_workflow(&wf).await.expect("command");
    let (id, state) = cluster
        .wait_for_end(wf.definition_code, Duration::from_secs(90), |_| {})
        .await
        .expect("the instance ends without a master restart");
    assert_eq!(faults.lock().unwrap().inserts_cut, 1, "the fault fired");
    assert!(state.is_finished());
    let mut conn = cluster.db_conn().await.expect("conn");
    let open: Option<i64> = conn
        .first(
            "SELECT COUNT(*) FROM t_ds_task_instance WHERE process_instance_id = ? AND state IN (0, 1)",
            params![id],
        )
        .await
        .unwrap();
    assert_eq!(open, Some(0), "no task row left running");
    eprintln!(
        "failed insert test took {:?}, instance ended {state}",
        started.elapsed()
    );
    cluster.stop().await;
}
