//! The host-wide lock: a CI job's `swab run` and a daemon on the same host never act at the
//! same time.
//!
//! An advisory `flock` on a file every swab process on the host finds (see
//! [`default_lock_path`]), whatever its user or `--state`. The kernel releases it when the
//! process exits, however it exits, so a crash never leaves a stale lock behind. The holder
//! writes its PID and start time into the file so a waiting process can say who holds it.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use rustix::fs::{FlockOperation, flock};

/// A held lock; dropping it releases it.
#[derive(Debug)]
pub struct HostLock {
    _file: File,
    path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another swab holds it.
    #[error(
        "another swab is acting on this host ({holder}; lock file {path}); wait for it or retry with --wait-lock"
    )]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// What the holder wrote: its PID and since when.
        holder: String,
    },
    /// The lock file could not be opened.
    #[error("cannot open the lock file {path}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The host-wide lock file: `$SWAB_LOCK` if set, else `/run/lock/swab.lock` (the FHS
/// place for lock files, shared by every user, so a root daemon and a CI job's `swab run`
/// under another user find the same lock), else `$XDG_RUNTIME_DIR/swab.lock`, else
/// `swab.lock` next to `state_path`.
pub fn default_lock_path(state_path: &Path) -> PathBuf {
    if let Some(path) = std::env::var_os("SWAB_LOCK").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let run_lock = Path::new("/run/lock");
    if run_lock.is_dir() {
        return run_lock.join("swab.lock");
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        return PathBuf::from(dir).join("swab.lock");
    }
    lock_path_for(state_path)
}

/// `swab.lock` in the directory of a state file.
pub fn lock_path_for(state_path: &Path) -> PathBuf {
    state_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("swab.lock")
}

impl HostLock {
    /// Takes the lock, waiting up to `wait` (zero: do not wait).
    pub async fn acquire(path: &Path, wait: Duration) -> Result<HostLock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // World-writable, so swab processes of other users can record themselves in it; and
        // if it is not writable for us, a read-only descriptor still takes the lock.
        let mut file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o666)
            .open(path)
        {
            Ok(file) => {
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666));
                file
            }
            Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
                File::open(path).map_err(io)?
            }
            Err(err) => return Err(io(err)),
        };
        let deadline = Instant::now() + wait;
        let mut logged = false;
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(err)
                    if err == rustix::io::Errno::WOULDBLOCK || err == rustix::io::Errno::INTR =>
                {
                    if Instant::now() >= deadline {
                        let mut holder = String::new();
                        let _ = file.read_to_string(&mut holder);
                        let holder = holder.trim();
                        return Err(LockError::Busy {
                            path: path.to_owned(),
                            holder: if holder.is_empty() {
                                "holder unknown".to_owned()
                            } else {
                                holder.to_owned()
                            },
                        });
                    }
                    if !logged {
                        tracing::info!(lock = %path.display(), "waiting for another swab to finish");
                        logged = true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => return Err(io(err.into())),
            }
        }
        let since = humantime::format_rfc3339_seconds(SystemTime::now());
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "pid {} since {since}", std::process::id());
        let _ = file.flush();
        Ok(HostLock {
            _file: file,
            path: path.to_owned(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_taker_is_refused_then_gets_it_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("swab.lock");
        let first = HostLock::acquire(&path, Duration::ZERO).await.unwrap();
        let err = HostLock::acquire(&path, Duration::from_millis(250))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        let again = HostLock::acquire(&path, Duration::ZERO).await.unwrap();
        assert_eq!(again.path(), path);
    }

    #[tokio::test]
    async fn a_waiter_gets_the_lock_when_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("swab.lock");
        let first = HostLock::acquire(&path, Duration::ZERO).await.unwrap();
        let waiter = tokio::spawn({
            let path = path.clone();
            async move { HostLock::acquire(&path, Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(first);
        assert!(waiter.await.unwrap().is_ok());
    }

    #[test]
    fn lock_file_sits_next_to_the_state_file() {
        assert_eq!(
            lock_path_for(Path::new("/var/lib/swab/state.json")),
            Path::new("/var/lib/swab/swab.lock")
        );
    }
}
