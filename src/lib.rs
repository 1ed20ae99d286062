//! # dsmaster: a drop-in Rust master for Apache DolphinScheduler 2.0.x
//!
//! The Java master's job, done by one process that keeps each workflow instance's state in
//! memory and writes the database only where others (API server, workers, a restarted master)
//! must see it. Where to find each behaviour:
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | reading an existing `conf/` dir (master/registry/common properties, datasource yaml or properties) plus environment overrides into validated options |
//! | [`model`] | DolphinScheduler's vocabulary: integer-coded enums (ExecutionStatus, CommandType, ...) with explicit codes and Java names |
//! | [`protocol`] | the Netty command wire protocol: frames, the three CommandType dialects, typed command bodies, server and client connections |
//! | [`registry`] | ZooKeeper: our master node and heartbeat text, worker discovery, master list and slot, Curator-compatible locks |
//! | [`store`] | every SQL statement against the 2.0.x schema on MySQL or PostgreSQL: typed rows, the handle-command transaction, minimal writes |
//! | [`dispatch`] | picking a worker for a task and keeping one live connection per worker (worker replies reach the owning workflow through [`engine`]'s router) |
//! | [`engine`] | command intake, the router of worker replies, and one actor per workflow instance: the DAG, task state transitions, the instance's end |
//! | [`schedule`] | cron schedules (Quartz tables) |
//! | [`failover`] | taking over instances and tasks of dead masters and workers |
//! | [`server`] | wiring: options to services, started in order and shut down in reverse; the metrics and health HTTP endpoint |
//! | [`metrics`] | the names, help text and buckets of every exported figure, and the Prometheus recorder |
//! | [`testkit`] | private MariaDB, PostgreSQL and ZooKeeper servers, upstream's schema, a stand-in worker, upstream's Java servers as peers, network namespaces and chaos drills: used by `tests/`, `dsmaster demo` and `dsmaster bench` |
//! | [`bench`] | the `dsmaster bench` figures (chain, failover, statements per task), beside the Java master where it can run |
//!
//! Data flows one way: inputs (commands, worker frames, registry events, timers) become events
//! on the channel of the single task that owns a workflow instance; it decides, then writes the
//! store and sends frames. See `docs/architecture.md` for the path of one task hop.

#![forbid(unsafe_code)]
#![warn(rust_2018_idioms)]

pub mod bench;
pub mod config;
pub mod dispatch;
pub mod engine;
pub mod failover;
pub mod metrics;
pub mod model;
pub mod protocol;
pub mod registry;
pub mod schedule;
pub mod server;
pub mod store;
pub mod testkit;
