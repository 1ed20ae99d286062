//! The chaos drill (`dsmaster chaos`, and a short run in `tests/chaos.rs`): two masters and
//! two stand-in workers as separate processes, each in a network namespace of its own, on a
//! private MariaDB and ZooKeeper; rounds of a load of workflows with one fault injected at
//! a random moment of each, then the full row check of [`check`].
//!
//! The driver acts as the supervisor a real deployment has (systemd, Kubernetes): a master
//! or worker that exits is started again a second later, except the one a fault holds down.
//!
//! | file | owns |
//! |------|------|
//! | `mod.rs` | [`Options`], [`Fault`], the rounds, the report table |
//! | `procs.rs` | the master and worker processes, their namespaces, logs and signals |
//! | `check.rs` | the row check after a round ([`check::RoundCheck`]) |

pub mod check;
pub mod procs;

use self::check::RoundCheck;
pub use self::procs::MasterKind;
use self::procs::{MasterProc, WorkerProc};
use super::cluster::LocalCluster;
use super::fixtures::ImportedWorkflow;
use super::netns::TestNet;
use super::process::Signal;
use super::{Error, SchemaVersion};
use mysql_async::prelude::Queryable;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// One kind of fault a round injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// SIGKILL one master, start it again two seconds later.
    MasterKillRestart,
    /// SIGSTOP one master past its session timeout, then SIGCONT (a long GC pause, a VM
    /// stall): its peer fails it over; the resumed master must not act again.
    MasterFrozen,
    /// SIGKILL one master and keep it down for the rest of the round.
    MasterDown,
    /// Cut one master's link past its session timeout, then heal it: the master is
    /// partitioned from ZooKeeper, the database and the workers while it keeps running.
    MasterCut,
    /// SIGKILL one worker, start a fresh one two seconds later.
    WorkerKilled,
    /// Cut one worker's link past the session timeout, then heal it (a real partition: the
    /// worker keeps running its tasks).
    WorkerCut,
    /// SIGSTOP MariaDB for ten seconds.
    DbFrozen,
    /// SIGKILL mariadbd and start it again on the same data.
    DbKilled,
    /// SIGKILL ZooKeeper and start it again on the same data.
    ZkRestarted,
    /// An operator's migration step: stop one master the usual way (SIGTERM) and start a
    /// master of the other kind in its place (Java to dsmaster, or back: a rollback). The
    /// two masters are replaced in turn.
    Replace,
}

impl Fault {
    /// The faults `dsmaster chaos` runs by default ([`Fault::Replace`] is asked for).
    pub const ALL: [Fault; 9] = [
        Fault::MasterKillRestart,
        Fault::MasterFrozen,
        Fault::MasterDown,
        Fault::MasterCut,
        Fault::WorkerKilled,
        Fault::WorkerCut,
        Fault::DbFrozen,
        Fault::DbKilled,
        Fault::ZkRestarted,
    ];

    /// Whether the fault is aimed at one of the two masters (which one is the round's
    /// choice).
    pub fn hits_a_master(self) -> bool {
        matches!(
            self,
            Fault::MasterKillRestart | Fault::MasterFrozen | Fault::MasterDown | Fault::MasterCut
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Fault::MasterKillRestart => "master-kill-restart",
            Fault::MasterFrozen => "master-frozen",
            Fault::MasterDown => "master-down",
            Fault::MasterCut => "master-cut",
            Fault::WorkerKilled => "worker-killed",
            Fault::WorkerCut => "worker-cut",
            Fault::DbFrozen => "db-frozen",
            Fault::DbKilled => "db-killed",
            Fault::ZkRestarted => "zk-restarted",
            Fault::Replace => "replace",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Fault, String> {
        let all = Fault::ALL.into_iter().chain([Fault::Replace]);
        all.clone().find(|f| f.name() == s).ok_or_else(|| {
            let names: Vec<&str> = all.map(|f| f.name()).collect();
            format!("unknown fault {s:?}; one of {}", names.join(", "))
        })
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// What the two masters are: both dsmaster, mixed (the migration), or both Java (the bar).
    pub masters: [MasterKind; 2],
    /// Rounds of each fault; the faults take turns.
    pub rounds_per_fault: usize,
    pub faults: Vec<Fault>,
    /// Workflows started in each round, evenly over [`Options::spread`] (a cluster keeps
    /// receiving work while it is faulted).
    pub workflows: usize,
    /// How long each round keeps starting workflows; the fault lands at a random moment
    /// in the first two thirds of it.
    pub spread: Duration,
    /// `registry.session.timeout.ms` of every process.
    pub session_timeout: Duration,
    /// How often a stand-in resends an unacknowledged ack or result.
    pub resend_every: Duration,
    /// An instance not final this long after the heal counts as stuck.
    pub stuck_after: Duration,
    /// The `dsmaster` binary the masters and workers run.
    pub binary: PathBuf,
    pub seed: u64,
}

impl Options {
    pub fn new(binary: PathBuf) -> Options {
        Options {
            masters: [MasterKind::Dsmaster; 2],
            rounds_per_fault: 1,
            faults: Fault::ALL.to_vec(),
            workflows: 200,
            spread: Duration::from_secs(20),
            session_timeout: Duration::from_secs(15),
            resend_every: Duration::from_secs(2),
            stuck_after: Duration::from_secs(120),
            binary,
            seed: 1,
        }
    }
}

/// One round's outcome.
#[derive(Debug, Clone)]
pub struct Round {
    pub fault: Fault,
    /// The fault and, in a mixed cluster, the kind of master it hit (`master-down [java]`).
    pub label: String,
    pub check: RoundCheck,
    /// From the heal (the restart, SIGCONT, link up, server ready) to every instance final.
    pub heal_to_final: Option<Duration>,
    /// Anything the driver noticed (a frozen master that did not exit, a target missing).
    pub notes: Vec<String>,
    /// What the supervisor saw: starts that failed and were tried again, workers that
    /// exited though the fault was not aimed at them (the drill's and the stand-ins' own
    /// trouble, not the masters': reported, not counted against the round).
    pub failed_starts: Vec<String>,
}

impl Round {
    /// Clean rows and nothing odd noticed.
    pub fn clean(&self) -> bool {
        self.check.clean() && self.notes.is_empty()
    }
}

/// Every round, in order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub rounds: Vec<Round>,
}

impl Report {
    /// Whether every round was clean.
    pub fn clean(&self) -> bool {
        self.rounds.iter().all(Round::clean)
    }

    /// The per-fault table (Markdown), as RELIABILITY.md records it.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| fault | rounds | workflows started (+ unconfirmed) | SUCCESS | other final | stuck | lost | executed twice | re-run after worker loss | open task rows under final instances | commands left | error commands | heal to all final p50 / max |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        );
        let mut labels: Vec<(Fault, &str)> = self
            .rounds
            .iter()
            .map(|r| (r.fault, r.label.as_str()))
            .collect();
        labels.sort();
        labels.dedup();
        for (_, label) in labels {
            let rounds: Vec<&Round> = self.rounds.iter().filter(|r| r.label == label).collect();
            let sum = |f: &dyn Fn(&RoundCheck) -> usize| -> usize {
                rounds.iter().map(|r| f(&r.check)).sum()
            };
            let mut times: Vec<Duration> = rounds.iter().filter_map(|r| r.heal_to_final).collect();
            times.sort();
            let p50 = times.get(times.len() / 2).copied();
            let max = times.last().copied();
            let secs = |d: Option<Duration>| {
                d.map_or("-".to_string(), |d| format!("{:.1} s", d.as_secs_f64()))
            };
            let unconfirmed = sum(&|c| c.uncertain);
            let started = if unconfirmed > 0 {
                format!("{} (+{unconfirmed})", sum(&|c| c.expected))
            } else {
                sum(&|c| c.expected).to_string()
            };
            out.push_str(&format!(
                "| {label} | {} | {started} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |\n",
                rounds.len(),
                sum(&|c| c.success),
                sum(&|c| c.other_final.len()),
                sum(&|c| c.not_final.len()),
                sum(&|c| c.lost()),
                sum(&|c| c.twice.len()),
                sum(&|c| c.reruns_worker_lost),
                sum(&|c| c.orphan_rows.len()),
                sum(&|c| c.leftover_commands),
                sum(&|c| c.error_commands),
                secs(p50),
                secs(max),
            ));
        }
        out
    }

    /// What went wrong, round by round (empty when clean).
    pub fn problems(&self) -> String {
        let mut out = String::new();
        for (i, r) in self.rounds.iter().enumerate() {
            let c = &r.check;
            if r.clean() && r.failed_starts.is_empty() {
                continue;
            }
            out.push_str(&format!("round {} ({}):\n", i + 1, r.label));
            for n in &r.notes {
                out.push_str(&format!("  note: {n}\n"));
            }
            for f in &r.failed_starts {
                out.push_str(&format!("  supervisor: {f}\n"));
            }
            if c.instances != c.expected {
                out.push_str(&format!(
                    "  {} instances for {} workflows\n",
                    c.instances, c.expected
                ));
            }
            if !c.not_final.is_empty() {
                out.push_str(&format!("  not final: {:?}\n", c.not_final));
            }
            if !c.other_final.is_empty() {
                out.push_str(&format!(
                    "  ended other than SUCCESS: {:?}\n",
                    c.other_final
                ));
            }
            for t in &c.twice {
                out.push_str(&format!("  executed twice: {t}\n"));
            }
            if !c.orphan_rows.is_empty() {
                out.push_str(&format!(
                    "  open task rows under final instances: {:?}\n",
                    c.orphan_rows
                ));
            }
            if c.leftover_commands > 0 || c.error_commands > 0 {
                out.push_str(&format!(
                    "  commands left: {}, error commands: {}\n",
                    c.leftover_commands, c.error_commands
                ));
            }
        }
        out
    }
}

/// A small deterministic generator (SplitMix64): the drill's random moments and targets
/// come from one seed, so a round can be replayed.
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
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// The running drill: the cluster and its four processes.
struct Drill {
    opts: Options,
    cluster: LocalCluster,
    masters: Vec<MasterProc>,
    workers: Vec<WorkerProc>,
    workflows: Vec<ImportedWorkflow>,
    rng: Rng,
    /// The master the next [`Fault::Replace`] replaces, and how many replacements so far.
    replaced: usize,
    /// Master faults so far in a mixed cluster.
    master_faults: usize,
    /// Where the processes' conf dirs, logs and records are.
    root: PathBuf,
    /// Removes [`Drill::root`] on drop; taken (and the directory kept) for a failing run.
    guard: Option<tempfile::TempDir>,
    /// Starts that failed (the supervisor tries again); reported with the round.
    start_failures: Vec<String>,
    /// Worker incarnations found dead by the supervisor (a session lost to a fault that was
    /// not aimed at them): their tasks are re-run, as upstream re-runs a dead worker's.
    exited_workers: HashSet<String>,
}

/// Runs the drill; the report says what every round found. `Err` only when the drill itself
/// cannot run (no namespaces, a server that does not start).
pub async fn run(opts: &Options) -> Result<Report, Error> {
    let net = TestNet::shared()?;
    let mut cluster = LocalCluster::start_with_java_peers(SchemaVersion::V2_0_5).await?;
    cluster.db.set_durable().await?;
    let dir = tempfile::Builder::new()
        .prefix("dsmaster-chaos-")
        .tempdir()
        .map_err(|e| Error::io("creating the chaos dir", e))?;
    let fixtures_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/workflows");
    let mut workflows = Vec::new();
    for f in ["chain-3-slow.json", "chaos-diamond-5.json"] {
        workflows.extend(cluster.import(&fixtures_dir.join(f)).await?);
    }
    let mut masters = Vec::new();
    for (name, kind) in ["master-a", "master-b"].into_iter().zip(opts.masters) {
        let mut m = MasterProc::new(
            net,
            kind,
            name,
            cluster.conf_dir.path(),
            &dir.path().join(name),
            &opts.binary,
            opts.session_timeout,
        )?;
        m.spawn(&cluster).await?;
        m.wait_serving().await?;
        masters.push(m);
    }
    let workers = procs::start_two_workers(
        net,
        cluster.conf_dir.path(),
        dir.path(),
        &opts.binary,
        opts.session_timeout,
        opts.resend_every,
    )
    .await?;
    let mut drill = Drill {
        opts: opts.clone(),
        cluster,
        masters,
        workers,
        workflows,
        rng: Rng(opts.seed),
        replaced: 0,
        master_faults: 0,
        root: dir.path().to_path_buf(),
        guard: Some(dir),
        start_failures: Vec::new(),
        exited_workers: HashSet::new(),
    };
    let mut report = Report::default();
    let total = opts.rounds_per_fault * opts.faults.len();
    for i in 0..total {
        let fault = opts.faults[i % opts.faults.len()];
        let round = match drill.round(fault).await {
            Ok(r) => r,
            Err(e) => {
                if let Some(dir) = drill.guard.take() {
                    let _ = dir.keep();
                }
                let kept = drill.root.display().to_string();
                drill.finish(false).await;
                return Err(Error::Fixture(format!(
                    "chaos round {} ({fault}) could not run: {e} (logs kept in {kept})",
                    i + 1
                )));
            }
        };
        eprintln!(
            "chaos round {}/{total} {}: {} of {} SUCCESS, {} twice, {} re-run after worker loss, heal to final {}",
            i + 1,
            round.label,
            round.check.success,
            round.check.expected,
            round.check.twice.len(),
            round.check.reruns_worker_lost,
            round
                .heal_to_final
                .map_or("never".into(), |d| format!("{:.1} s", d.as_secs_f64()))
        );
        report.rounds.push(round);
    }
    drill.finish(report.clean()).await;
    Ok(report)
}

impl Drill {
    /// Starts whatever is down (except `held`, a master a fault keeps down). A start that fails is noted and tried again
    /// at the next call; with `wait`, tries up to five times and then fails the drill.
    async fn supervise(&mut self, held: Option<usize>, wait: bool) -> Result<(), Error> {
        let attempts = if wait { 5 } else { 1 };
        for attempt in 1..=attempts {
            let mut failures = Vec::new();
            for (i, m) in self.masters.iter_mut().enumerate() {
                if Some(i) == held || m.alive() {
                    continue;
                }
                let started = match m.spawn(&self.cluster).await {
                    Ok(()) if wait => m.wait_serving().await,
                    other => other,
                };
                if let Err(e) = started {
                    failures.push(format!("{}: {e}", m.name()));
                }
            }
            for w in &mut self.workers {
                if !w.alive() {
                    self.exited_workers.insert(w.incarnation_id());
                    if let Err(e) = w.start().await {
                        failures.push(format!("{}: {e}", w.name()));
                    }
                }
            }
            if failures.is_empty() {
                return Ok(());
            }
            for f in &failures {
                tracing::warn!(attempt, "chaos: a start failed: {f}");
            }
            self.start_failures.extend(failures.iter().cloned());
            if attempt == attempts && wait {
                return Err(Error::Fixture(format!(
                    "could not start: {}",
                    failures.join("; ")
                )));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Ok(())
    }

    async fn conn(&self) -> Result<mysql_async::Conn, Error> {
        self.cluster.conn().await
    }

    async fn round(&mut self, fault: Fault) -> Result<Round, Error> {
        self.supervise(None, true).await?;
        self.exited_workers.clear();
        let mut conn = self.conn().await?;
        let first: Option<i32> = conn
            .query_first("SELECT COALESCE(MAX(id), 0) FROM t_ds_process_instance")
            .await
            .map_err(|e| Error::Fixture(format!("chaos: {e}")))?;
        let first = first.unwrap_or(0);
        let errors: Option<i64> = conn
            .query_first("SELECT COUNT(*) FROM t_ds_error_command")
            .await
            .map_err(|e| Error::Fixture(format!("chaos: {e}")))?;
        let errors_before = usize::try_from(errors.unwrap_or(0)).unwrap_or(0);
        drop(conn);
        let inserter = tokio::spawn(insert_spread(
            self.cluster.db.mariadb()?.root_url(&self.cluster.database),
            self.workflows.clone(),
            self.opts.workflows,
            self.opts.spread,
        ));
        let window = u64::try_from(self.opts.spread.as_millis() * 2 / 3).unwrap_or(1000);
        let delay = Duration::from_millis(1000 + self.rng.below(window.saturating_sub(1000)));
        tokio::time::sleep(delay).await;

        let mut notes = Vec::new();
        let mut restarts: Vec<String> = std::mem::take(&mut self.start_failures)
            .into_iter()
            .map(|f| format!("before the round: {f}"))
            .collect();
        let mut lost_workers = HashSet::new();
        let mut held = None;
        let mut label = None;
        // In a mixed cluster master faults alternate between the two kinds (and the round's
        // label names the kind hit); otherwise the target is random.
        let per_kind = self.masters[0].kind() != self.masters[1].kind() && fault.hits_a_master();
        let mut m = usize::try_from(self.rng.below(2)).unwrap_or(0);
        if per_kind {
            m = self.master_faults % 2;
            self.master_faults += 1;
        }
        let w = usize::try_from(self.rng.below(2)).unwrap_or(0);
        let session = self.opts.session_timeout;
        match fault {
            Fault::MasterKillRestart => {
                self.masters[m].kill().await;
                tokio::time::sleep(Duration::from_secs(2)).await;
                self.masters[m].spawn(&self.cluster).await?;
            }
            Fault::MasterFrozen => {
                if !self.masters[m].signal(Signal::Stop) {
                    notes.push(format!(
                        "{} was not running to freeze",
                        self.masters[m].name()
                    ));
                }
                tokio::time::sleep(session + Duration::from_secs(6)).await;
                self.masters[m].signal(Signal::Cont);
                if !self.masters[m].wait_exit(Duration::from_secs(30)).await {
                    notes.push(format!(
                        "{} still running 30 s after it resumed past its session",
                        self.masters[m].name()
                    ));
                    self.masters[m].kill().await;
                }
            }
            Fault::MasterDown => {
                self.masters[m].kill().await;
                held = Some(m);
            }
            Fault::MasterCut => {
                self.masters[m].cut()?;
                tokio::time::sleep(session + Duration::from_secs(3)).await;
                self.masters[m].heal()?;
            }
            Fault::WorkerKilled => {
                lost_workers.insert(self.workers[w].incarnation_id());
                self.workers[w].kill().await;
                tokio::time::sleep(Duration::from_secs(2)).await;
                self.workers[w].start().await?;
            }
            Fault::WorkerCut => {
                lost_workers.insert(self.workers[w].incarnation_id());
                self.workers[w].cut()?;
                tokio::time::sleep(session + Duration::from_secs(3)).await;
                self.workers[w].heal()?;
            }
            Fault::DbFrozen => {
                self.cluster.db.suspend();
                tokio::time::sleep(Duration::from_secs(10)).await;
                self.cluster.db.resume();
            }
            Fault::DbKilled => {
                self.cluster.db.restart(true).await?;
            }
            Fault::ZkRestarted => {
                self.cluster.zookeeper.restart(true).await?;
            }
            Fault::Replace => {
                m = self.replaced % 2;
                self.replaced += 1;
                let old = self.masters[m].kind();
                let new = match old {
                    MasterKind::Dsmaster => MasterKind::Java,
                    MasterKind::Java => MasterKind::Dsmaster,
                };
                label = Some(format!("replace [{} to {}]", old.name(), new.name()));
                if !self.masters[m].terminate().await {
                    notes.push(format!(
                        "{} did not stop within 60 s of SIGTERM",
                        self.masters[m].name()
                    ));
                }
                let name = format!("master-{}{}", ["a", "b"][m], self.replaced);
                let mut fresh = MasterProc::new(
                    TestNet::shared()?,
                    new,
                    &name,
                    self.cluster.conf_dir.path(),
                    &self.root.join(&name),
                    &self.opts.binary,
                    self.opts.session_timeout,
                )?;
                fresh.spawn(&self.cluster).await?;
                fresh.wait_serving().await?;
                self.masters[m] = fresh;
            }
        }
        let healed = Instant::now();
        let (started, uncertain) = inserter
            .await
            .map_err(|e| Error::Fixture(format!("chaos: the command inserter failed: {e}")))?;

        // Wait for every instance of the round to be final, supervising meanwhile.
        let deadline = healed + self.opts.stuck_after;
        let mut heal_to_final = None;
        loop {
            self.supervise(held, false).await?;
            if let Ok(true) = self.all_final(first, started).await {
                heal_to_final = Some(healed.elapsed());
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        restarts.extend(
            std::mem::take(&mut self.start_failures)
                .into_iter()
                .map(|f| format!("during the round: {f}")),
        );
        for w in self.workers.iter_mut() {
            if !w.alive() {
                self.exited_workers.insert(w.incarnation_id());
            }
        }
        if !self.exited_workers.is_empty()
            && !matches!(fault, Fault::WorkerKilled | Fault::WorkerCut)
        {
            let mut exited: Vec<&String> = self.exited_workers.iter().collect();
            exited.sort();
            restarts.push(format!(
                "workers exited during the round (their tasks count as re-run after worker loss): {exited:?}"
            ));
        }
        lost_workers.extend(self.exited_workers.iter().cloned());
        let mut conn = self.conn().await?;
        let dirs: Vec<&Path> = self.workers.iter().map(|w| w.records_dir()).collect();
        let check = check::check_round(
            &mut conn,
            first,
            started,
            uncertain,
            errors_before,
            &dirs,
            &lost_workers,
        )
        .await?;
        if let Some(m) = held {
            self.masters[m].spawn(&self.cluster).await?;
            self.masters[m].wait_serving().await?;
        }
        let label = if let Some(label) = label {
            label
        } else if per_kind {
            format!("{fault} [{}]", self.masters[m].kind().name())
        } else {
            fault.to_string()
        };
        Ok(Round {
            fault,
            label,
            check,
            heal_to_final,
            notes,
            failed_starts: restarts,
        })
    }

    /// Whether every workflow of the round has an instance, all of them are final and no
    /// command waits.
    async fn all_final(&self, first: i32, started: usize) -> Result<bool, Error> {
        let mut conn = self.conn().await?;
        let row: Option<(i64, i64)> = conn
            .exec_first(
                format!(
                    "SELECT COUNT(*), COALESCE(SUM(state IN ({})), 0) FROM t_ds_process_instance WHERE id > ?",
                    check::NOT_FINAL
                ),
                (first,),
            )
            .await
            .map_err(|e| Error::Fixture(format!("chaos: {e}")))?;
        let (total, open) = row.unwrap_or((0, 0));
        let waiting: Option<i64> = conn
            .query_first("SELECT COUNT(*) FROM t_ds_command")
            .await
            .map_err(|e| Error::Fixture(format!("chaos: {e}")))?;
        Ok(usize::try_from(total).unwrap_or(0) >= started && open == 0 && waiting == Some(0))
    }

    /// Stops everything; keeps the logs (and says where) unless the run was clean and
    /// `DSMASTER_CHAOS_KEEP=1` is not set.
    async fn finish(self, clean: bool) {
        let Drill {
            cluster,
            mut masters,
            mut workers,
            guard,
            root,
            ..
        } = self;
        for m in &mut masters {
            m.kill().await;
        }
        for w in &mut workers {
            w.kill().await;
        }
        let asked = std::env::var("DSMASTER_CHAOS_KEEP").is_ok_and(|v| v == "1");
        if !clean || asked {
            if let Some(dir) = guard {
                let _ = dir.keep();
            }
            eprintln!("chaos: logs and worker records kept in {}", root.display());
        }
        drop(masters);
        drop(workers);
        cluster.stop().await;
    }
}

/// Inserts `count` start commands evenly over `spread`, as users and schedules would, on
/// its own connection (reconnecting through database faults). Returns how many inserts
/// were confirmed, and how many failed without knowing whether the row was written (the
/// API server would have answered those users with an error).
async fn insert_spread(
    url: String,
    workflows: Vec<ImportedWorkflow>,
    count: usize,
    spread: Duration,
) -> (usize, usize) {
    let began = tokio::time::Instant::now();
    let mut conn: Option<crate::store::db::Conn> = None;
    let (mut confirmed, mut uncertain) = (0, 0);
    for i in 0..count {
        let at = spread.mul_f64(i as f64 / count.max(1) as f64);
        tokio::time::sleep_until(began + at).await;
        if conn.is_none() {
            conn = mysql_async::Conn::from_url(url.as_str())
                .await
                .ok()
                .map(crate::store::db::Conn::Mysql);
        }
        let Some(c) = conn.as_mut() else {
            uncertain += 1;
            continue;
        };
        let wf = &workflows[i % workflows.len()];
        match super::fixtures::insert_start_command(c, wf).await {
            Ok(_) => confirmed += 1,
            Err(e) => {
                tracing::warn!(error = %e, "chaos: a start command failed (counted as uncertain)");
                uncertain += 1;
                conn = None;
            }
        }
    }
    (confirmed, uncertain)
}

/// `dsmaster standin-worker`: a stand-in worker as its own process, recording every task it
/// runs to a file. It exits (status 3) when its registry session is lost; the drill's
/// supervisor starts a fresh one, as a real deployment restarts a worker.
pub async fn standin_worker_main(
    conf_dir: &Path,
    ip: std::net::Ipv4Addr,
    record: &Path,
    resend_every: Duration,
) -> Result<i32, Error> {
    let options = crate::config::Options::load(conf_dir)
        .map_err(|e| Error::Fixture(format!("loading {}: {e}", conf_dir.display())))?;
    let settings = crate::server::Settings::from_options(&options)
        .map_err(|e| Error::Fixture(format!("settings: {e}")))?;
    // Started again right after its link came back, the first connection may not go
    // through yet (a real worker's Curator client retries the same way).
    let mut attempt = 0;
    let worker = loop {
        attempt += 1;
        match super::worker::StandInWorker::start_recording(
            ip,
            &settings.registry,
            "default",
            settings.link.clone(),
            super::worker::Behaviour::RunShell,
            resend_every,
            Some(record),
        )
        .await
        {
            Ok(w) => break w,
            Err(e) if attempt < 10 => {
                tracing::warn!(error = %e, attempt, "stand-in worker: start failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    };
    println!("{} {}", procs::WORKER_SERVING, worker.addr());
    let reason = worker.lost().await;
    tracing::error!(%reason, "stand-in worker: registry session lost; exiting");
    Ok(3)
}
