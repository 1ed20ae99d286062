//! The registry against a private ZooKeeper: what a Java peer would see of our master node
//! (ephemeral, 13-field heartbeat, persistent base nodes), worker discovery through watches,
//! the slot of a lone master, graceful deregistration, and self-fencing when our node is
//! deleted behind our back.

use std::time::Duration;

use dsmaster::registry::{
    Heartbeat, HeartbeatFormat, LostReason, MasterSlot, Options, Registry, WorkerMap,
};
use dsmaster::testkit::ZooKeeper;
use tokio::sync::watch;
use zookeeper_client as zk;

const WAIT: Duration = Duration::from_secs(20);

fn options(zk: &ZooKeeper) -> Options {
    Options {
        servers: zk.connect_string(),
        // A private server on loopback answers well within this, but CI machines stall.
        block_until_connected: Duration::from_secs(10),
        heartbeat_interval: Duration::from_millis(500),
        max_cpuload_avg: 1000.0,
        reserved_memory: 0.0,
        ..Options::default()
    }
}

/// A plain client outside the namespace, playing the part of a Java peer / an operator.
async fn raw_client(zk: &ZooKeeper) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .connect(&zk.connect_string())
        .await
        .expect("raw ZooKeeper client connects")
}

async fn wait_for<T: Clone>(rx: &mut watch::Receiver<T>, what: &str, f: impl Fn(&T) -> bool) -> T {
    match tokio::time::timeout(WAIT, rx.wait_for(|v| f(v))).await {
        Ok(Ok(v)) => v.clone(),
        Ok(Err(_)) => panic!("{what}: channel closed"),
        Err(_) => panic!("{what}: not within {WAIT:?}; last value differs"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_and_worker_lifecycle() {
    let server = ZooKeeper::start().await.expect("private ZooKeeper starts");
    let opts = options(&server);
    let registry = Registry::connect(&opts).await.expect("registry connects");
    let raw = raw_client(&server).await;

    // Base nodes exist, persistent, as every Java RegistryClient creates them.
    for path in [
        "/dolphinscheduler/nodes/master",
        "/dolphinscheduler/nodes/worker",
        "/dolphinscheduler/dead-servers",
    ] {
        let stat = raw
            .check_stat(path)
            .await
            .expect("stat")
            .unwrap_or_else(|| panic!("{path} missing"));
        assert_eq!(stat.ephemeral_owner, 0, "{path} must be persistent");
    }

    // A stale dead-server entry of ours is purged by registration.
    raw.create(
        "/dolphinscheduler/dead-servers/master_127.0.0.1:45678",
        b"master_127.0.0.1:45678",
        &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
    )
    .await
    .expect("seed dead-server entry");

    let reg = registry
        .register_master("127.0.0.1:45678")
        .await
        .expect("master registers");
    assert_eq!(reg.path, "/nodes/master/127.0.0.1:45678");
    let node = "/dolphinscheduler/nodes/master/127.0.0.1:45678";
    let (data, stat) = raw.get_data(node).await.expect("master node exists");
    assert_ne!(stat.ephemeral_owner, 0, "master node must be ephemeral");
    assert_eq!(stat.ephemeral_owner, registry.client().session_id().0);
    let text = String::from_utf8(data).expect("utf-8 heartbeat");
    assert_eq!(text.split(',').count(), 13, "{text}");
    let hb =
        Heartbeat::decode_as(&text, HeartbeatFormat::Fields13).expect("13-field heartbeat decodes");
    assert_eq!(hb.startup_time, reg.startup_time);
    assert_eq!(hb.process_id as u32, std::process::id());
    assert_eq!(
        (
            hb.worker_host_weight,
            hb.worker_exec_thread_count,
            hb.worker_waiting_task_count
        ),
        (0, 0, 0)
    );
    assert!(raw
        .check_stat("/dolphinscheduler/dead-servers/master_127.0.0.1:45678")
        .await
        .expect("stat")
        .is_none());

    // One master: slot 0 of 1.
    let mut slot = registry.master_slot();
    let s = wait_for(&mut slot, "slot of the lone master", |s| s.is_some()).await;
    assert_eq!(s, Some(MasterSlot { index: 0, size: 1 }));
    let masters = registry.masters().borrow().clone();
    assert_eq!(masters, vec!["127.0.0.1:45678".to_string()]);

    // The heartbeat ticks (setData): report time advances.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (data, _) = raw.get_data(node).await.expect("master node still there");
    let later = Heartbeat::decode(&String::from_utf8_lossy(&data)).expect("decodes");
    assert!(
        later.report_time > hb.report_time,
        "heartbeat not rewritten"
    );

    // A worker in group `default` shows up with its heartbeat.
    let mut workers = registry.workers();
    let worker = registry
        .register_worker(" Default ", "127.0.0.1:41234", 100, 8)
        .await
        .expect("worker registers");
    assert_eq!(worker.path(), "/nodes/worker/default/127.0.0.1:41234");
    let map: WorkerMap = wait_for(&mut workers, "worker visible", |m| {
        m.get("default")
            .and_then(|g| g.get("127.0.0.1:41234"))
            .is_some()
    })
    .await;
    let whb = map["default"]["127.0.0.1:41234"]
        .clone()
        .expect("worker heartbeat decodes");
    assert_eq!(whb.worker_host_weight, 100);
    assert_eq!(whb.worker_exec_thread_count, 8);

    // Heartbeat updates reach the view (data watch), and a malformed one is `None`, not a crash.
    raw.set_data(
        "/dolphinscheduler/nodes/worker/default/127.0.0.1:41234",
        b"garbage",
        None,
    )
    .await
    .expect("overwrite worker data");
    wait_for(&mut workers, "malformed heartbeat published as None", |m| {
        m.get("default").and_then(|g| g.get("127.0.0.1:41234")) == Some(&None)
    })
    .await;

    // Removing the worker node updates the view.
    raw.delete(
        "/dolphinscheduler/nodes/worker/default/127.0.0.1:41234",
        None,
    )
    .await
    .expect("delete worker node");
    wait_for(&mut workers, "worker gone", |m| {
        m.get("default").map_or(true, |g| g.is_empty())
    })
    .await;
    drop(worker);

    // A second worker group directory appears through the root watch.
    let _gpu = registry
        .register_worker("gpu", "127.0.0.1:41235", 50, 4)
        .await
        .expect("gpu worker registers");
    wait_for(&mut workers, "gpu group visible", |m| {
        m.get("gpu")
            .is_some_and(|g| g.contains_key("127.0.0.1:41235"))
    })
    .await;

    // Graceful deregistration removes our nodes and does not count as lost.
    registry.deregister().await.expect("deregister");
    assert!(
        raw.check_stat(node).await.expect("stat").is_none(),
        "master node must be gone"
    );
    assert!(raw
        .check_stat("/dolphinscheduler/nodes/worker/gpu/127.0.0.1:41235")
        .await
        .expect("stat")
        .is_none());
    wait_for(&mut slot, "slot withdrawn", |s| s.is_none()).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(registry.lost_reason(), None);

    drop(registry);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_our_node_means_lost() {
    let server = ZooKeeper::start().await.expect("private ZooKeeper starts");
    let mut opts = options(&server);
    // Long interval: the loss must come from the watch, not from the heartbeat tick.
    opts.heartbeat_interval = Duration::from_secs(60);
    let registry = Registry::connect(&opts).await.expect("registry connects");
    registry
        .register_master("127.0.0.1:45679")
        .await
        .expect("master registers");
    let raw = raw_client(&server).await;
    raw.delete("/dolphinscheduler/nodes/master/127.0.0.1:45679", None)
        .await
        .expect("delete our node behind its back");
    let reason = tokio::time::timeout(WAIT, registry.lost())
        .await
        .expect("lost() resolves");
    assert_eq!(reason, LostReason::NodeRemoved);
    // Never silently re-created.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(raw
        .check_stat("/dolphinscheduler/nodes/master/127.0.0.1:45679")
        .await
        .expect("stat")
        .is_none());
    assert!(registry.register_master("127.0.0.1:45679").await.is_err());
    drop(registry);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_server_entry_means_lost() {
    let server = ZooKeeper::start().await.expect("private ZooKeeper starts");
    let registry = Registry::connect(&options(&server))
        .await
        .expect("registry connects");
    registry
        .register_master("127.0.0.1:45680")
        .await
        .expect("master registers");
    let raw = raw_client(&server).await;
    raw.create(
        "/dolphinscheduler/dead-servers/master_127.0.0.1:45680",
        b"master_127.0.0.1:45680",
        &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
    )
    .await
    .expect("peer declares us dead");
    let reason = tokio::time::timeout(WAIT, registry.lost())
        .await
        .expect("lost() resolves");
    assert_eq!(reason, LostReason::DeclaredDead);
    drop(registry);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_error_names_the_servers() {
    let opts = Options {
        servers: "127.0.0.1:1".to_string(),
        block_until_connected: Duration::from_millis(300),
        ..Options::default()
    };
    let err = Registry::connect(&opts)
        .await
        .expect_err("nothing listens on port 1");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_lock_excludes() {
    let server = ZooKeeper::start().await.expect("private ZooKeeper starts");
    let a = Registry::connect(&options(&server))
        .await
        .expect("a connects");
    let b = Registry::connect(&options(&server))
        .await
        .expect("b connects");
    let held = a
        .lock("/lock/failover/masters/10.0.0.9:5678")
        .await
        .expect("a locks");
    assert!(
        held.node()
            .starts_with("/lock/failover/masters/10.0.0.9:5678/_c_"),
        "{}",
        held.node()
    );
    assert!(held.node().contains("-lock-"), "{}", held.node());
    let b2 = b.clone();
    let waiter = tokio::spawn(async move { b2.lock("/lock/failover/masters/10.0.0.9:5678").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiter.is_finished(), "b must wait while a holds the lock");
    held.release().await.expect("a releases");
    let got = tokio::time::timeout(WAIT, waiter)
        .await
        .expect("b gets the lock")
        .expect("task")
        .expect("lock");
    got.release().await.expect("b releases");
    drop((a, b));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_longer_than_the_session_timeout_means_lost() {
    let server = ZooKeeper::start().await.expect("private ZooKeeper starts");
    let opts = Options {
        // The server's minimum (2 × tickTime 2000 ms).
        session_timeout: Duration::from_secs(4),
        connection_timeout: Duration::from_millis(1500),
        ..options(&server)
    };
    let registry = Registry::connect(&opts).await.expect("registry connects");
    registry
        .register_master("127.0.0.1:45681")
        .await
        .expect("master registers");
    server.suspend();
    let reason = tokio::time::timeout(WAIT, registry.lost()).await;
    server.resume();
    let reason = reason.expect("lost() resolves during a partition");
    assert!(
        matches!(
            reason,
            LostReason::DisconnectedTooLong | LostReason::SessionExpired
        ),
        "{reason:?}"
    );
    drop(registry);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_server_restart_keeps_the_master() {
    let mut server = ZooKeeper::start().await.expect("private ZooKeeper starts");
    let registry = Registry::connect(&options(&server))
        .await
        .expect("registry connects");
    registry
        .register_master("127.0.0.1:45682")
        .await
        .expect("master registers");
    server.restart(false).await.expect("ZooKeeper restarts");
    let raw = raw_client(&server).await;
    let node = "/dolphinscheduler/nodes/master/127.0.0.1:45682";
    let before = tokio::time::Instant::now();
    loop {
        // The heartbeat keeps (re)writing a full, decodable text on the same session.
        let (data, stat) = raw
            .get_data(node)
            .await
            .expect("master node survives the restart");
        assert_eq!(stat.ephemeral_owner, registry.client().session_id().0);
        let hb = Heartbeat::decode_as(&String::from_utf8_lossy(&data), HeartbeatFormat::Fields13)
            .expect("full heartbeat after reconnect");
        if hb.report_time > chrono::Utc::now().timestamp_millis() - 2_000 {
            break;
        }
        assert!(
            before.elapsed() < WAIT,
            "heartbeat not resumed after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(registry.lost_reason(), None);
    drop(registry);
    server.stop().await;
}

/// A ZooKeeper server killed and started again within the session timeout keeps every
/// session, so a master must keep its own. With a 15 s session and the default 7.5 s
/// connection timeout, the pessimistic disconnect grace alone (about 6.5 s) gave up before a
/// killed server was back and the client had reconnected (seen in the chaos drill: both
/// masters and both workers stopped, and tasks ran twice); the last proof of the session
/// plus the timeout is the real limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_server_restarted_within_the_session_keeps_the_master() {
    let mut server = ZooKeeper::start().await.expect("private ZooKeeper starts");
    let opts = Options {
        session_timeout: Duration::from_secs(15),
        connection_timeout: Duration::from_millis(7500),
        ..options(&server)
    };
    let registry = Registry::connect(&opts).await.expect("registry connects");
    registry
        .register_master("127.0.0.1:45683")
        .await
        .expect("master registers");
    let down = tokio::time::Instant::now();
    server.restart(true).await.expect("ZooKeeper restarts");
    // Keep it down a while longer than the old grace would allow, as a loaded machine does.
    let outage = Duration::from_secs(7);
    if down.elapsed() < outage {
        server.suspend();
        tokio::time::sleep(outage.saturating_sub(down.elapsed())).await;
        server.resume();
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    let session = registry.client().session_id().0;
    let raw = raw_client(&server).await;
    let node = "/dolphinscheduler/nodes/master/127.0.0.1:45683";
    loop {
        assert_eq!(
            registry.lost_reason(),
            None,
            "the master gave up a live session"
        );
        if let Ok((_, stat)) = raw.get_data(node).await {
            if stat.ephemeral_owner == session && registry.fence().check().is_ok() {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session never came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(registry.lost_reason(), None);
    drop(registry);
    server.stop().await;
}
