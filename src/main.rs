//! The `dsmaster` binary: `run` starts a master from a DolphinScheduler conf dir, `demo`
//! brings up a throw-away cluster on this machine and runs a sample workflow to SUCCESS.

mod demo;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "dsmaster",
    version,
    about = "A drop-in Rust master server for Apache DolphinScheduler 2.0.x",
    long_about = "A drop-in Rust master server for Apache DolphinScheduler 2.0.x.\n\n\
        Stop the Java master and start this one with the same conf/ directory: the Java workers, \
        API server and alert server keep working unchanged."
)]
struct Cli {
    /// Log format: human-readable lines, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true, env = "DSMASTER_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a master with an existing DolphinScheduler 2.0.x conf dir (master.properties,
    /// registry.properties, common.properties, application-mysql.yaml or datasource.properties).
    Run {
        /// The conf dir of the DolphinScheduler installation.
        #[arg(long, env = "DSMASTER_CONF_DIR")]
        conf_dir: PathBuf,
    },
    /// `run` under the name upstream's image and daemon script use (`master-server`); the conf
    /// dir defaults to the image's `/opt/dolphinscheduler/conf`.
    MasterServer {
        #[arg(
            long,
            env = "DSMASTER_CONF_DIR",
            default_value = "/opt/dolphinscheduler/conf"
        )]
        conf_dir: PathBuf,
    },
    /// Asks the local metrics and health endpoint whether this master is ready (or, with
    /// --live, alive): exit 0 on 200, 1 otherwise. For container health checks.
    Health {
        /// The endpoint's port (`dsmaster.metrics.port`).
        #[arg(long, env = "DSMASTER_METRICS_PORT", default_value_t = 5679)]
        port: u16,
        /// Check liveness (the process serves) instead of readiness.
        #[arg(long)]
        live: bool,
    },
    /// Start a private MariaDB and ZooKeeper, load upstream's 2.0.5 schema, start this master
    /// and a stand-in worker, run the sample workflow (two shell tasks A -> B), print task
    /// states as they change and the final state, then clean everything up.
    Demo {
        /// The workflow export file to run (API server export format).
        #[arg(long, default_value = "fixtures/workflows/demo-a-b.json")]
        workflow: PathBuf,
    },
    /// Benchmarks that print figures (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCmd),
    /// The chaos drill (see RELIABILITY.md): two masters and two stand-in workers as
    /// processes in network namespaces of their own (needs root), rounds of workflows with
    /// one fault each, and the row check after every round. Prints a table per fault; exits
    /// non-zero when a round was not clean.
    Chaos {
        /// Rounds of each fault.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// Workflows started per round (3- and 5-task shell workflows, 1 s per task).
        #[arg(long, default_value_t = 200)]
        workflows: usize,
        /// Faults to inject, in turn (default: all but replace). One of master-kill-restart,
        /// master-frozen, master-down, master-cut, worker-killed, worker-cut, db-frozen, db-killed,
        /// zk-restarted, and replace (stop one master with SIGTERM and start one of the other
        /// kind in its place: with --masters java,java and 4 rounds, a migration and its
        /// rollback).
        #[arg(long = "fault")]
        faults: Vec<dsmaster::testkit::chaos::Fault>,
        /// The two masters: dsmaster,dsmaster (default), dsmaster,java (a mixed cluster, as
        /// in a migration) or java,java (upstream alone, the bar).
        #[arg(long, value_delimiter = ',', default_value = "dsmaster,dsmaster")]
        masters: Vec<dsmaster::testkit::chaos::MasterKind>,
        /// Seconds over which each round's workflows are started.
        #[arg(long, default_value_t = 20)]
        spread_secs: u64,
        /// registry.session.timeout.ms of every master and worker.
        #[arg(long, default_value_t = 15000)]
        session_timeout_ms: u64,
        /// Seed of the random moments and targets.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// A stand-in worker as its own process (used by `chaos`).
    #[command(hide = true)]
    StandinWorker {
        #[arg(long)]
        conf_dir: PathBuf,
        /// The address to listen on and register.
        #[arg(long)]
        ip: std::net::Ipv4Addr,
        /// File that every task request and result is appended to.
        #[arg(long)]
        record: PathBuf,
        #[arg(long, default_value_t = 2000)]
        resend_ms: u64,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Failover time: a master running N workflows is killed; how long until the survivor
    /// owns them all, and whether any task ran twice (needs root: processes in namespaces).
    Failover {
        /// Workflows running on the master that dies.
        #[arg(long, default_value_t = 1000)]
        instances: usize,
        /// Seconds each workflow's first task runs.
        #[arg(long, default_value_t = 60)]
        task_secs: u64,
        /// registry.session.timeout.ms of the masters and workers.
        #[arg(long, default_value_t = 5000)]
        session_timeout_ms: u64,
        /// Run it with two Java masters instead (upstream, the bar).
        #[arg(long)]
        java: bool,
    },
    /// Task-hop latency, throughput, command pickup, memory and CPU of our master on a private
    /// cluster, with stand-in workers that answer at once.
    Chain {
        /// Tasks per workflow (a linear chain).
        #[arg(long, default_value_t = 100)]
        tasks: usize,
        /// Workflows started at once.
        #[arg(long, default_value_t = 1)]
        workflows: usize,
        /// Stand-in workers.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Also run the same benchmark with upstream's Java master (from Maven Central, see
        /// compat/upstream) on a fresh cluster and print both columns with the ratio.
        #[arg(long)]
        compare_java: bool,
        /// Run the tasks on upstream's Java worker instead of stand-ins that answer at once.
        #[arg(long)]
        java_worker: bool,
        /// The database server of the benchmark cluster: mysql (MariaDB) or postgresql.
        #[arg(long, default_value = "mysql")]
        database: BenchDatabase,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum BenchDatabase {
    Mysql,
    Postgresql,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colour codes only for a terminal: log files and `docker logs` stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli.command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole chain of causes (a supervisor's log shows why), never
            // a backtrace, whatever RUST_BACKTRACE says.
            tracing::error!("{e:#}");
            eprintln!("dsmaster: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Cmd) -> anyhow::Result<()> {
    match command {
        Cmd::Health { port, live } => {
            let path = if live {
                "/health/live"
            } else {
                "/health/ready"
            };
            match dsmaster::server::http::check(port, path).await {
                Ok(body) => {
                    print!("{body}");
                    Ok(())
                }
                Err(why) => {
                    eprintln!(
                        "not {}: {}",
                        if live { "live" } else { "ready" },
                        why.trim_end()
                    );
                    std::process::exit(1);
                }
            }
        }
        Cmd::Run { conf_dir } | Cmd::MasterServer { conf_dir } => {
            let options = dsmaster::config::Options::load(&conf_dir)
                .with_context(|| format!("loading configuration from {}", conf_dir.display()))?;
            let settings =
                dsmaster::server::Settings::from_options(&options).context("resolving settings")?;
            dsmaster::server::run(settings, shutdown_signal())
                .await
                .context("master failed")?;
            Ok(())
        }
        Cmd::Demo { workflow } => demo::run(&workflow).await,
        Cmd::Chaos {
            rounds,
            workflows,
            faults,
            masters,
            spread_secs,
            session_timeout_ms,
            seed,
        } => {
            use dsmaster::testkit::chaos;
            let mut options =
                chaos::Options::new(std::env::current_exe().context("locating this executable")?);
            options.rounds_per_fault = rounds;
            options.workflows = workflows;
            options.spread = std::time::Duration::from_secs(spread_secs);
            options.masters = match masters[..] {
                [a, b] => [a, b],
                _ => anyhow::bail!("--masters takes two kinds, e.g. dsmaster,java"),
            };
            if !faults.is_empty() {
                options.faults = faults;
            }
            options.session_timeout = std::time::Duration::from_millis(session_timeout_ms);
            options.seed = seed;
            let report = chaos::run(&options).await.map_err(|e| anyhow::anyhow!(e))?;
            println!("{}", report.table());
            let problems = report.problems();
            if !problems.is_empty() {
                println!("{problems}");
            }
            if !report.clean() {
                anyhow::bail!("the chaos drill found problems (see above)");
            }
            Ok(())
        }
        Cmd::StandinWorker {
            conf_dir,
            ip,
            record,
            resend_ms,
        } => {
            let code = dsmaster::testkit::chaos::standin_worker_main(
                &conf_dir,
                ip,
                &record,
                std::time::Duration::from_millis(resend_ms),
            )
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
            std::process::exit(code);
        }
        Cmd::Bench(BenchCmd::Failover {
            instances,
            task_secs,
            session_timeout_ms,
            java,
        }) => {
            use dsmaster::bench::failover;
            use dsmaster::testkit::chaos::MasterKind;
            let options = failover::Options {
                instances,
                task_secs,
                session_timeout: std::time::Duration::from_millis(session_timeout_ms),
                binary: std::env::current_exe().context("locating this executable")?,
                masters: if java {
                    MasterKind::Java
                } else {
                    MasterKind::Dsmaster
                },
            };
            let report = failover::run(&options)
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            report.print(&options);
            Ok(())
        }
        Cmd::Bench(BenchCmd::Chain {
            tasks,
            workflows,
            workers,
            compare_java,
            java_worker,
            database,
        }) => {
            use dsmaster::bench::chain;
            let mut options = chain::Options {
                tasks,
                workflows,
                workers,
                master_binary: std::env::current_exe().context("locating this executable")?,
                master: chain::MasterKind::Dsmaster,
                java_worker,
                database: match database {
                    BenchDatabase::Mysql => dsmaster::store::Dialect::Mysql,
                    BenchDatabase::Postgresql => dsmaster::store::Dialect::Postgres,
                },
            };
            let ours = chain::run(&options).await.map_err(|e| anyhow::anyhow!(e))?;
            if compare_java {
                options.master = chain::MasterKind::Java;
                let java = chain::run(&options).await.map_err(|e| anyhow::anyhow!(e))?;
                chain::print_comparison(&options, &ours, &java);
            } else {
                ours.print(&options);
            }
            Ok(())
        }
    }
}
