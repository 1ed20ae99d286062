//! The metrics and health endpoint against real servers: readiness while starting, serving,
//! with the database frozen and with ZooKeeper gone; the figures after a workflow run.
//! One test in its own binary: the Prometheus recorder is process-wide.

use dsmaster::server::http::check;
use dsmaster::testkit::cluster::{init_test_logging, LocalCluster};
use dsmaster::testkit::worker::Behaviour;
use dsmaster::testkit::{free_port, SchemaVersion};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// `name{labels} value` lines of a scrape, by the text before the value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn value(s: &BTreeMap<String, f64>, key: &str) -> f64 {
    *s.get(key)
        .unwrap_or_else(|| panic!("{key} missing from the scrape: {:#?}", s.keys()))
}

/// Polls `path` until `want` says yes about (ok, body), or panics after `within`.
async fn wait_health(
    port: u16,
    path: &str,
    within: Duration,
    want: impl Fn(bool, &str) -> bool,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (ok, body) = match check(port, path).await {
            Ok(b) => (true, b),
            Err(b) => (false, b),
        };
        if want(ok, &body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never reached the expected answer; last: ok={ok} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_database_and_zookeeper_and_metrics_count_a_run() {
    init_test_logging();
    let mut c = LocalCluster::start_on_test_db(SchemaVersion::V2_0_5)
        .await
        .expect("cluster");
    let port = free_port().expect("port");
    let conf = c.conf_dir.path();
    let mut ours = std::fs::read_to_string(conf.join("dsmaster.properties")).unwrap();
    ours.push_str(&format!(
        "dsmaster.metrics.port={port}\ndsmaster.metrics.host=127.0.0.1\n"
    ));
    std::fs::write(conf.join("dsmaster.properties"), ours).unwrap();
    // A short session, so ZooKeeper's absence shows within seconds.
    let registry = std::fs::read_to_string(conf.join("registry.properties"))
        .unwrap()
        .replace(
            "registry.session.timeout.ms=30000",
            "registry.session.timeout.ms=4000",
        );
    std::fs::write(conf.join("registry.properties"), registry).unwrap();

    let running = c.start_master().await.expect("master");
    assert_eq!(
        running.metrics_addr.map(|a| a.port()),
        Some(port),
        "the endpoint listens where configured"
    );
    check(port, "/health/live").await.expect("live");
    let ready = wait_health(port, "/health/ready", Duration::from_secs(10), |ok, _| ok).await;
    assert!(ready.contains("database: ok"), "{ready}");
    assert!(ready.contains("registry: session held"), "{ready}");
    assert!(ready.contains("slot: 0 of 1"), "{ready}");

    c.start_worker(Behaviour::RunShell).await.expect("worker");
    let state = c
        .run_to_end(
            Path::new("fixtures/workflows/demo-a-b.json"),
            Duration::from_secs(60),
        )
        .await
        .expect("demo-a-b runs");
    assert_eq!(state, dsmaster::model::ExecutionStatus::SUCCESS);

    let text = check(port, "/metrics").await.expect("scrape");
    let s = samples(&text);
    assert!(value(&s, "dsmaster_commands_taken_total") >= 1.0);
    assert!(value(&s, "dsmaster_command_pickup_seconds_count") >= 1.0);
    assert!(value(&s, "dsmaster_workflows_started_total") >= 1.0);
    assert_eq!(
        value(&s, "dsmaster_workflows_finished_total{state=\"SUCCESS\"}"),
        1.0
    );
    assert_eq!(value(&s, "dsmaster_workflows_running"), 0.0);
    assert_eq!(value(&s, "dsmaster_commands_waiting"), 0.0);
    assert!(value(&s, "dsmaster_tasks_dispatched_total") >= 2.0);
    assert!(value(&s, "dsmaster_tasks_acked_total") >= 2.0);
    assert_eq!(
        value(&s, "dsmaster_tasks_finished_total{state=\"SUCCESS\"}"),
        2.0
    );
    // A -> B: one hop, released by A's result.
    assert_eq!(value(&s, "dsmaster_task_hop_seconds_count"), 1.0);
    assert!(value(&s, "dsmaster_task_hop_seconds_bucket{le=\"+Inf\"}") >= 1.0);
    assert!(value(&s, "dsmaster_db_statement_seconds_count{op=\"commit\"}") >= 1.0);
    assert!(value(&s, "dsmaster_db_statement_seconds_count{op=\"query\"}") >= 1.0);
    assert!(value(&s, "dsmaster_links_open{direction=\"out\"}") >= 1.0);
    assert!(value(&s, "dsmaster_links_open{direction=\"in\"}") >= 1.0);
    assert_eq!(value(&s, "dsmaster_registry_session_up"), 1.0);
    assert_eq!(value(&s, "dsmaster_master_slot"), 0.0);
    assert_eq!(value(&s, "dsmaster_masters"), 1.0);
    assert!(
        s.keys().any(|k| k.starts_with("dsmaster_info{")),
        "info gauge: {text}"
    );
    assert!(text.contains("# HELP dsmaster_task_hop_seconds"), "{text}");

    // The database frozen: not ready (an answer, not an error page) within two seconds,
    // and ready again once it is back.
    c.db.suspend();
    let down = wait_health(port, "/health/ready", Duration::from_secs(5), |ok, _| !ok).await;
    c.db.resume();
    assert!(down.contains("503"), "{down}");
    assert!(down.contains("database: down"), "{down}");
    wait_health(port, "/health/ready", Duration::from_secs(10), |ok, _| ok).await;

    // ZooKeeper gone: not ready once the session can no longer be held.
    c.zookeeper.suspend();
    let gone = wait_health(port, "/health/ready", Duration::from_secs(15), |ok, _| !ok).await;
    c.zookeeper.resume();
    assert!(
        gone.contains("registry: session not held") || gone.contains("stopping"),
        "{gone}"
    );
    c.stop().await;
}
