//! The test network of the kit (`dsmaster::testkit::netns`): what the namespaces of
//! upstream's Java servers can reach, that a cut link partitions a peer, that nothing is
//! left behind, and that the address guard run after every Java-peer test catches an
//! address outside loopback and the kit's links.

use std::net::Ipv4Addr;
use std::time::Duration;

use dsmaster::testkit::cluster::LocalCluster;
use dsmaster::testkit::netns::{self, TestNet};
use dsmaster::testkit::SchemaVersion;
use mysql_async::prelude::Queryable;

fn ip_output(args: &[&str]) -> String {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether a TCP connection from inside `ns` to `ip:port` succeeds within 2 s.
async fn connects_from(ns: &netns::PeerNs, ip: Ipv4Addr, port: u16) -> bool {
    let mut cmd = ns.command("timeout");
    cmd.args(["2", "bash", "-c", &format!("exec 3<>/dev/tcp/{ip}/{port}")]);
    cmd.status().await.map(|s| s.success()).unwrap_or(false)
}

#[tokio::test]
async fn peers_reach_the_host_side_only_over_the_kit_links() {
    if netns::skip_java_peer_test("peers_reach_the_host_side_only_over_the_kit_links") {
        return;
    }
    let net = TestNet::shared().expect("test network");
    let host = net.host_ip();
    let listener = tokio::net::TcpListener::bind((host, 0))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            drop(s);
        }
    });

    let a = net.peer("probe A").expect("namespace A");
    let b = net.peer("probe B").expect("namespace B");
    let name = a.name().to_string();
    assert!(net.owns(a.ip().into()) && net.owns(b.ip().into()));
    assert_ne!(a.ip(), b.ip());

    // Inside: loopback and one veth with the kit's address, no route out of the /24.
    let addrs = ip_output(&["-n", &name, "-o", "-4", "addr", "show"]);
    let ips: Vec<&str> = addrs
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    assert_eq!(ips, ["127.0.0.1/8", &format!("{}/24", a.ip())], "{addrs}");
    let routes = ip_output(&["-n", &name, "-4", "route", "show"]);
    assert!(
        !routes.contains("default"),
        "a peer must have no default route: {routes}"
    );

    assert!(connects_from(&a, host, port).await, "peer → host side");
    // Peers see each other over the bridge (a Java master dials a Java worker): a listener
    // inside B (socat comes with Debian's mariadb-server) answers a connection from A.
    let mut inside_b = b.command("timeout");
    inside_b.args([
        "10",
        "socat",
        "TCP-LISTEN:4711,bind=0.0.0.0,fork",
        "EXEC:true",
    ]);
    inside_b.kill_on_drop(true);
    match inside_b.spawn() {
        Ok(_listener) => {
            let mut reached = false;
            for _ in 0..30 {
                if connects_from(&a, b.ip(), 4711).await {
                    reached = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(reached, "peer A cannot reach peer B over the bridge");
        }
        Err(e) => eprintln!("no socat ({e}); peer-to-peer reachability not checked"),
    }

    // A cut partitions the peer; heal restores it.
    a.cut().expect("cut");
    assert!(
        !connects_from(&a, host, port).await,
        "a cut link still connects"
    );
    a.heal().expect("heal");
    let mut healed = false;
    for _ in 0..20 {
        if connects_from(&a, host, port).await {
            healed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healed, "the healed link does not connect");

    drop(a);
    drop(b);
    assert!(
        !ip_output(&["netns", "list"]).contains(&name),
        "namespace {name} left behind"
    );
}

#[tokio::test]
async fn sweep_removes_what_a_dead_process_left() {
    if netns::skip_java_peer_test("sweep_removes_what_a_dead_process_left") {
        return;
    }
    // A pid that is certainly gone: a child that has exited and been reaped.
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead = child.id();
    child.wait().expect("reap");
    let ns = format!("dsmk-{dead}-1");
    let link = format!("dsmk{dead:x}h1");
    let run = |args: &[&str]| {
        assert!(std::process::Command::new("ip")
            .args(args)
            .status()
            .expect("ip")
            .success());
    };
    run(&["netns", "add", &ns]);
    let other_end = format!("dsmk{dead:x}p1");
    run(&[
        "link", "add", &link, "type", "veth", "peer", "name", &other_end,
    ]);
    netns::sweep();
    assert!(
        !ip_output(&["netns", "list"]).contains(&ns),
        "namespace kept"
    );
    assert!(
        !ip_output(&["-o", "link", "show"]).contains(&link),
        "link kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_reports_addresses_outside_the_test_network() {
    if netns::skip_java_peer_test("guard_reports_addresses_outside_the_test_network") {
        return;
    }
    let mut c = LocalCluster::start_with_java_peers(SchemaVersion::V2_0_5)
        .await
        .expect("cluster");
    c.start_master().await.expect("master");
    let foreign = c.addresses_outside_test_network().await.expect("guard");
    assert!(foreign.is_empty(), "{foreign:?}");

    // What a Java server outside a namespace would leave: its external address in a
    // dead-server node and in a task row.
    let zk = zookeeper_client::Client::connect(&c.zookeeper.connect_string())
        .await
        .expect("zk");
    zk.create(
        "/dolphinscheduler/dead-servers/worker_192.0.2.2:1234",
        b"",
        &zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all()),
    )
    .await
    .expect("create node");
    let mut conn = c.conn().await.expect("conn");
    conn.query_drop(
        "INSERT INTO t_ds_process_instance (name, process_definition_code, executor_id, state, host) VALUES ('x', 1, 1, 7, '203.0.113.9:1234')",
    )
    .await
    .expect("insert");
    drop(conn);
    let foreign = c.addresses_outside_test_network().await.expect("guard");
    assert_eq!(
        foreign,
        [
            "192.0.2.2 in registry node name /dolphinscheduler/dead-servers/worker_192.0.2.2:1234",
            "203.0.113.9 in t_ds_process_instance.host",
        ]
    );
    c.stop().await;
}
