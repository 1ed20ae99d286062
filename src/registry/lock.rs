//! Curator `InterProcessMutex`-compatible locks (spec `registry.md` §7), so that a Rust master
//! and Java masters exclude each other on the same lock directories
//! (`/lock/failover/startup-masters`, `/lock/failover/masters/<ip:port>`, `/lock/masters`).
//!
//! The protocol itself is implemented by `zookeeper-client`'s `Client::lock` with
//! `LockPrefix::new_curator(dir, "lock-")`: contender `<dir>/_c_<uuid>-lock-<seq10>`,
//! ephemeral-sequential, lowest sequence holds, others watch their predecessor. This file adds
//! what DolphinScheduler's usage needs on top: persistent (not container) parent directories
//! with our ACL, the local IP as contender data (Curator's default node data), a retry when the
//! crate reports our contender node vanished (Curator retries silently), and an explicit,
//! awaited release.

use zookeeper_client as zk;

use super::{Error, Registry};

/// Lock directory serialising master registration.
pub const STARTUP_MASTERS_LOCK: &str = "/lock/failover/startup-masters";
/// Lock directory taken around master-list recomputation by Java masters.
pub const MASTERS_LOCK: &str = "/lock/masters";
/// Parent of the per-host failover lock directories.
pub const FAILOVER_MASTERS_LOCK_PREFIX: &str = "/lock/failover/masters";

/// Per-host master failover lock directory: `/lock/failover/masters/<ip:port>`.
pub fn failover_master_lock(host: &str) -> String {
    format!("{FAILOVER_MASTERS_LOCK_PREFIX}/{host}")
}

/// A held lock. Dropping it releases the lock in the background; prefer
/// [`RegistryLock::release`], which waits for the contender node to be gone.
#[derive(Debug)]
pub struct RegistryLock {
    dir: String,
    guard: Option<zk::OwnedLockClient>,
}

impl RegistryLock {
    /// The lock directory, e.g. `/lock/failover/startup-masters`.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// Our contender node (relative to the namespace).
    pub fn node(&self) -> &str {
        self.guard.as_ref().map(|g| g.lock_path()).unwrap_or("")
    }

    /// Delete our contender node and wait for the deletion.
    pub async fn release(mut self) -> Result<(), Error> {
        let Some(guard) = self.guard.take() else {
            return Ok(());
        };
        let path = guard.lock_path().to_string();
        let client = guard.client().clone();
        let result = match client.delete(&path, None).await {
            Ok(()) | Err(zk::Error::NoNode) => Ok(()),
            Err(source) => Err(Error::Zk {
                op: "delete lock node",
                path: path.clone(),
                source,
            }),
        };
        // Dropping the guard issues a background delete as well; it finds nothing (or retries
        // the deletion that just failed).
        drop(guard);
        tracing::debug!(dir = %self.dir, node = %path, "lock released");
        result
    }
}

impl Registry {
    /// Take the Curator-compatible mutex on `dir` (relative to the namespace), waiting
    /// without limit like DolphinScheduler does. Fails only when the session ends.
    pub async fn lock(&self, dir: &str) -> Result<RegistryLock, Error> {
        let data = self.local_ip().unwrap_or_default();
        self.lock_with_data(dir, data.as_bytes()).await
    }

    pub(super) async fn lock_with_data(
        &self,
        dir: &str,
        data: &[u8],
    ) -> Result<RegistryLock, Error> {
        let client = self.client();
        let acls = self.acls();
        let ancestors = zk::CreateMode::Persistent.with_acls(acls);
        loop {
            let prefix = zk::LockPrefix::new_curator(dir, "lock-").map_err(|source| Error::Zk {
                op: "lock",
                path: dir.to_string(),
                source,
            })?;
            let options = zk::LockOptions::new(acls)
                .with_ancestor_options(ancestors.clone())
                .map_err(|source| Error::Zk {
                    op: "lock",
                    path: dir.to_string(),
                    source,
                })?;
            tracing::debug!(%dir, "acquiring lock");
            match client.lock(prefix, data, options).await {
                Ok(guard) => {
                    let guard = guard.into_owned();
                    tracing::debug!(%dir, node = %guard.lock_path(), "lock acquired");
                    return Ok(RegistryLock {
                        dir: dir.to_string(),
                        guard: Some(guard),
                    });
                }
                Err(zk::Error::RuntimeInconsistent) => {
                    tracing::warn!(%dir, "lock contender node vanished while waiting; retrying");
                    continue;
                }
                Err(source) => {
                    return Err(Error::Zk {
                        op: "lock",
                        path: dir.to_string(),
                        source,
                    });
                }
            }
        }
    }
}
