//! The two locks a real run holds: the file lock, for swab processes on this machine
//! (the kernel releases it however the process ends), and the lease on the daemon itself,
//! for swab processes anywhere ([`swab_engine::lease`]): a fleet controller acting over TCP
//! and the host's own swab exclude each other through the daemon.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use swab_docker::{Docker, Endpoint};
use swab_engine::cancel::Cancel;
use swab_engine::lease::{Lease, LeaseOptions};
use swab_engine::lock::{HostLock, default_lock_path};

/// Both locks, held; [`Held::release`] lets go of them.
#[derive(Debug)]
pub struct Held {
    file: Option<HostLock>,
    lease: Lease,
}

impl Held {
    /// The lease on the daemon.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Removes the lease's lock container, then drops the file lock.
    pub async fn release(self) {
        self.lease.release().await;
        drop(self.file);
    }
}

/// The file lock a run on the daemon at `endpoint` takes besides the lease: the host-wide
/// one when the daemon is this machine's (a unix socket), none for a remote daemon.
pub fn file_lock_for(endpoint: &Endpoint, state_path: &Path) -> Option<PathBuf> {
    match endpoint {
        Endpoint::Unix(_) => Some(default_lock_path(state_path)),
        Endpoint::Tcp { .. } => None,
    }
}

/// Takes the locks for acting on `docker`, waiting up to `wait` in all: the file lock
/// `file` first, if any, so local waiters queue in the kernel rather than polling the
/// daemon, then the lease. `lost` is set if the lease is lost while held.
pub async fn take(
    docker: &Docker,
    file: Option<&Path>,
    wait: Duration,
    lost: Cancel,
) -> anyhow::Result<Held> {
    let started = Instant::now();
    let stop = lost.clone();
    let take = async {
        let file = match file {
            Some(path) => Some(HostLock::acquire(path, wait).await?),
            None => None,
        };
        let left = wait.saturating_sub(started.elapsed());
        let lease = Lease::acquire(docker, &LeaseOptions::for_this_process(left), lost).await?;
        anyhow::Ok(Held { file, lease })
    };
    // A signal ends the wait: nothing was done yet.
    tokio::select! {
        held = take => held,
        () = stop.cancelled() => Err(anyhow::anyhow!("{} while waiting for the lock", stop.why())),
    }
}
