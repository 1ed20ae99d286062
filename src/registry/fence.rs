//! The fence: whether this master may still write the database or send a frame to a worker.
//!
//! A master owns its workflow instances only while its ZooKeeper session lives; once the
//! server expires it, peers fail the instances over. Learning of the expiry takes the client a
//! round trip, and a process that was frozen (SIGSTOP, a VM stall) resumes with sockets full of
//! worker results before any task of ours has run. So ownership is a *lease* rather than a
//! flag: every successful read of our own ephemeral node, made by the same session, proves
//! the session was alive when the request left, and the server cannot expire it earlier than
//! one session timeout after that. The fence is held while the last such proof is younger
//! than [`LEASE_SHARE`] of the timeout and no loss has been reported. Checks are one atomic
//! load plus a clock read, made at the write and send points themselves (the store before
//! every statement and commit, the link writer before every frame).
//!
//! Once lost, a fence never comes back: a master that wants to work again must register a new
//! incarnation (a new session and a new fence).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Share of the session timeout a proof of life is trusted for. The rest is the margin for a
/// check made just before the lease runs out and a write that reaches the server a little
/// later, and for clock-rate differences between us and the ZooKeeper server.
pub const LEASE_SHARE: (u32, u32) = (2, 3);

const OPEN: u64 = u64::MAX;

/// How long a write or send waits for an unconfirmed session to be confirmed: the registry
/// reports the loss within one session timeout of the last proof, so this only bounds a
/// broken registry client.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Why the fence refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Fenced {
    /// The session is gone (or our node, or peers declared us dead): never again.
    #[error("registry session lost: this master no longer owns anything")]
    Lost,
    /// No recent proof that the session lives (a disconnect, or the process was frozen).
    #[error("registry session unconfirmed for longer than the lease")]
    Unconfirmed,
}

struct Inner {
    /// Fixed origin of the nanosecond counters below.
    origin: Instant,
    /// Lease length in nanoseconds: [`OPEN`] never fences (tools, tests without a
    /// registry), 0 = not armed yet (refuses until the master has registered).
    lease: AtomicU64,
    lost: AtomicBool,
    /// Nanoseconds after `origin` until which the fence holds.
    until: AtomicU64,
    changed: Notify,
}

/// A cheap handle on one incarnation's fence; all clones see the same state.
#[derive(Clone)]
pub struct Fence {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fence")
            .field("lease", &self.inner.lease)
            .field("state", &self.check())
            .finish()
    }
}

impl Fence {
    /// A fence that always holds (no registry: tools, the test kit's own connections).
    pub fn open() -> Fence {
        Fence::build(OPEN)
    }

    /// A fence that refuses until [`Fence::arm`]ed (a registry session before our master
    /// node exists).
    pub fn unarmed() -> Fence {
        Fence::build(0)
    }

    /// A fence for a session with `session_timeout`, held until `proven + lease`.
    pub fn for_session(session_timeout: Duration, proven: Instant) -> Fence {
        let fence = Fence::unarmed();
        fence.arm(session_timeout, proven);
        fence
    }

    /// Our master node was created by a request sent at `proven`, in a session with
    /// `session_timeout`: from now on the fence holds while the lease is fresh.
    pub fn arm(&self, session_timeout: Duration, proven: Instant) {
        let lease = session_timeout * LEASE_SHARE.0 / LEASE_SHARE.1;
        let nanos = u64::try_from(lease.as_nanos()).unwrap_or(OPEN - 1).max(1);
        let _ = self
            .inner
            .lease
            .compare_exchange(0, nanos, Ordering::AcqRel, Ordering::Acquire);
        self.renew(proven);
    }

    fn build(lease: u64) -> Fence {
        Fence {
            inner: Arc::new(Inner {
                origin: Instant::now(),
                lease: AtomicU64::new(lease),
                lost: AtomicBool::new(false),
                until: AtomicU64::new(0),
                changed: Notify::new(),
            }),
        }
    }

    fn lease_len(&self) -> Option<Duration> {
        match self.inner.lease.load(Ordering::Acquire) {
            OPEN => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.inner.origin).as_nanos())
            .unwrap_or(u64::MAX)
    }

    /// The session was proven alive by a request sent at `sent`.
    pub fn renew(&self, sent: Instant) {
        let Some(lease) = self.lease_len().filter(|l| !l.is_zero()) else {
            return;
        };
        let until = self.nanos(sent + lease);
        self.inner.until.fetch_max(until, Ordering::AcqRel);
        self.inner.changed.notify_waiters();
    }

    /// The session is gone for good.
    pub fn lose(&self) {
        if !self.inner.lost.swap(true, Ordering::AcqRel) {
            self.inner.changed.notify_waiters();
        }
    }

    pub fn is_lost(&self) -> bool {
        self.inner.lost.load(Ordering::Acquire)
    }

    /// Whether we may write or send right now (never waits).
    pub fn check(&self) -> Result<(), Fenced> {
        if self.is_lost() {
            return Err(Fenced::Lost);
        }
        if self.lease_len().is_none() {
            return Ok(());
        }
        if self.nanos(Instant::now()) < self.inner.until.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(Fenced::Unconfirmed)
        }
    }

    /// Like [`Fence::check`], but while the session is merely unconfirmed waits (at most
    /// `patience`) for a renewal or the loss. The registry reports the loss within one
    /// session timeout of the last proof, so callers normally pass about that.
    pub async fn hold(&self, patience: Duration) -> Result<(), Fenced> {
        let deadline = Instant::now() + patience;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.check() {
                Err(Fenced::Unconfirmed) => {}
                other => return other,
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.check();
            }
        }
    }

    /// The lease length (`None` for an open fence, zero before arming).
    pub fn lease(&self) -> Option<Duration> {
        self.lease_len()
    }

    /// When the current proof runs out (`None` for an open fence).
    pub fn expires_at(&self) -> Option<Instant> {
        self.lease_len()?;
        let n = self.inner.until.load(Ordering::Acquire);
        Some(self.inner.origin + Duration::from_nanos(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn lease_runs_out_without_renewal() {
        let f = Fence::for_session(Duration::from_secs(6), Instant::now());
        assert_eq!(f.check(), Ok(()));
        tokio::time::advance(Duration::from_millis(3900)).await;
        assert_eq!(f.check(), Ok(()));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(f.check(), Err(Fenced::Unconfirmed));
        f.renew(Instant::now());
        assert_eq!(f.check(), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn an_older_proof_never_shortens_the_lease() {
        let start = Instant::now();
        let f = Fence::for_session(Duration::from_secs(3), start);
        tokio::time::advance(Duration::from_secs(1)).await;
        f.renew(Instant::now());
        f.renew(start);
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(f.check(), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn loss_is_final() {
        let f = Fence::for_session(Duration::from_secs(30), Instant::now());
        f.lose();
        f.renew(Instant::now());
        assert_eq!(f.check(), Err(Fenced::Lost));
        assert_eq!(f.hold(Duration::from_secs(1)).await, Err(Fenced::Lost));
    }

    #[tokio::test(start_paused = true)]
    async fn hold_waits_for_a_renewal_or_gives_up() {
        let f = Fence::for_session(Duration::from_secs(3), Instant::now());
        tokio::time::advance(Duration::from_secs(5)).await;
        let g = f.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            g.renew(Instant::now());
        });
        assert_eq!(f.hold(Duration::from_secs(2)).await, Ok(()));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(
            f.hold(Duration::from_secs(1)).await,
            Err(Fenced::Unconfirmed)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unarmed_fence_refuses_until_armed() {
        let f = Fence::unarmed();
        assert_eq!(f.check(), Err(Fenced::Unconfirmed));
        f.renew(Instant::now());
        assert_eq!(f.check(), Err(Fenced::Unconfirmed));
        f.arm(Duration::from_secs(3), Instant::now());
        assert_eq!(f.check(), Ok(()));
    }

    #[test]
    fn an_open_fence_always_holds_until_lost() {
        let f = Fence::open();
        assert_eq!(f.check(), Ok(()));
        f.lose();
        assert_eq!(f.check(), Err(Fenced::Lost));
    }
}
