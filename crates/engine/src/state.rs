//! The state file: swab's memory between runs, read and written atomically.
//!
//! It holds the last-used record and the rolled-back digests (the pure types live in
//! `swab_plan::memory`, which the deciders read) and the update journal ([`InFlight`]),
//! which only the update executor reads. The file is small JSON written atomically (temp
//! file in the same directory, fsync, rename, directory fsync), so a crash never leaves a
//! truncated file and the journal survives a power loss.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use swab_plan::memory::{FirstSeen, LastUsed, Noticed, RolledBack, RolledBackDigests};

/// The on-disk format version.
pub const STATE_VERSION: u32 = 1;

/// What swab remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Format version.
    pub version: u32,
    /// When each image was last used.
    #[serde(default)]
    pub images: LastUsed,
    /// Updates that failed and were rolled back, per reference (familiar form): the
    /// registry digest that failed is not tried again until the registry has another one.
    #[serde(default, skip_serializing_if = "RolledBackDigests::is_empty")]
    pub rolled_back: RolledBackDigests,
    /// When swab first saw each reference's newer registry digest: the cooldown's start.
    #[serde(default, skip_serializing_if = "FirstSeen::is_empty")]
    pub first_seen: FirstSeen,
    /// The digest each reference's last notice was about (`notify_only` rules).
    #[serde(default, skip_serializing_if = "Noticed::is_empty")]
    pub noticed: Noticed,
    /// Updates under way: the journal that lets the next start finish or undo an update a
    /// crash interrupted. Empty between runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_flight: Vec<InFlight>,
}

/// One update under way, written before the first container is stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    /// The reference being updated (familiar form); the key of the entry.
    pub reference: String,
    /// The image the reference named before the pull, restored on rollback.
    pub old_image: String,
    /// The rollback tag and the image it named before this update (restored on rollback).
    pub rollback_tag: Option<String>,
    /// The image `rollback_tag` named before, if any.
    pub displaced: Option<String>,
    /// Set once every container passed its health gate: from then on, recovery finishes
    /// (removes the old containers) instead of rolling back.
    pub committed: bool,
    /// Set when replicas of a scaled service stay updated while the rest roll back: the
    /// rollback tag then stays on the old image (their way back) instead of going back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_rollback_tag: bool,
    /// Tag tracking: the reference the containers move to (familiar form); for `swab
    /// rollback` of a tracked update, the one they go back to. `None`: they stay on their
    /// own reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The image `target` named before: the tag goes back to it on rollback, or is
    /// removed when it named none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_before: Option<String>,
    /// The reference the replacements record as where tracking moved them from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracked_from: Option<String>,
    /// Compose files edited for tag tracking, each restored from its backup on rollback.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compose_edits: Vec<ComposeEdit>,
    /// The containers being swapped, in order.
    pub containers: Vec<Swap>,
    /// Containers swab stopped that are not swapped (yet): dependents, started again by
    /// recovery.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopped: Vec<Stopped>,
}

/// A compose file swab edits, and how to undo it: journalled before the write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComposeEdit {
    /// The file.
    pub path: String,
    /// The copy of the file as it was, beside it.
    pub backup: String,
    /// The Compose project.
    pub project: String,
    /// The services whose `image:` was changed, with the config hash Compose computes
    /// for each after the edit.
    pub services: std::collections::BTreeMap<String, String>,
    /// SHA-256 of the file's text before the edit: a file still holding it needs no
    /// restoring (the write never happened).
    pub before: String,
    /// SHA-256 of the text swab writes: only a file holding it is restored from the
    /// backup (one edited since is left alone).
    pub after: String,
}

impl InFlight {
    /// The reference the container with `labels` (its inspect's `Config.Labels`) moves to
    /// and what its replacement records; `None` when it stays on its reference.
    pub(crate) fn moved(&self, labels: &serde_json::Value) -> Option<crate::update::Moved> {
        let target = self.target.clone()?;
        let project = labels["com.docker.compose.project"].as_str();
        let service = labels["com.docker.compose.service"].as_str();
        let config_hash = self
            .compose_edits
            .iter()
            .filter(|e| Some(e.project.as_str()) == project)
            .find_map(|e| e.services.get(service?))
            .cloned();
        Some(crate::update::Moved {
            reference: target,
            from: self.tracked_from.clone(),
            config_hash,
        })
    }
}

/// A container swab stopped and must start again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    /// Its ID.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// One container being replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swap {
    /// Its name, which the replacement takes over.
    pub name: String,
    /// The old container's ID.
    pub old_id: String,
    /// The name the old container is parked under (`<name>-swab-old-<short id>`).
    pub parked_name: String,
    /// Whether the old container was running (started again on rollback).
    pub was_running: bool,
    /// The replacement's ID, once created.
    pub new_id: Option<String>,
    /// The image the replacement is created from (`Config.Image`): a container under the
    /// name with another image is never taken for the replacement.
    #[serde(default)]
    pub image: String,
    /// The old container's restart policy, set to `no` while it is parked (so a daemon
    /// restart does not run it next to its replacement) and restored on rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<serde_json::Value>,
    /// When this entry was written, unix seconds: a container found under the name that
    /// was not created shortly after is not the replacement.
    #[serde(default)]
    pub journalled_at: u64,
    /// The grace period of the stop that follows the entry, in seconds: a stop a killed
    /// run sent may still be under way for that long (dockerd finishes it without the
    /// client). `0` in journals from before it was recorded (then Docker's 10 s counts).
    #[serde(default)]
    pub stop_timeout: u64,
}

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading, writing or renaming failed.
    #[error("cannot {action} state file {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape.
    #[error("state file {path} is corrupt (move it away to start afresh)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The file was written by a newer swab.
    #[error(
        "state file {path} has format version {found}, newer than this swab understands ({STATE_VERSION})"
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
}

impl State {
    /// An empty state.
    pub fn new() -> State {
        State {
            version: STATE_VERSION,
            ..State::default()
        }
    }

    /// Merges this record into the file at `path` (re-reading it, so what another swab wrote
    /// meanwhile is kept) and writes it back. With `prune`, only images this record knows
    /// are kept: a run's record holds every image on the host, and without pruning the file
    /// would grow forever with deleted images. The daemon's event record holds only the
    /// images it saw used, so it merges without pruning.
    pub fn merge_into_file(&self, path: &Path, prune: bool) -> Result<(), StateError> {
        let mut on_disk = State::load(path)?;
        on_disk.images.merge(&self.images);
        if prune {
            on_disk.images.retain_known_to(&self.images);
        }
        on_disk.save(path)
    }

    /// Re-reads the file at `path`, applies `change` and writes it back at once: for the
    /// update journal and rolled-back digests, which must be on disk before the next step,
    /// not at the end of the run. Callers hold the host lock.
    pub fn edit_file(path: &Path, change: impl FnOnce(&mut State)) -> Result<(), StateError> {
        let mut on_disk = State::load(path)?;
        change(&mut on_disk);
        on_disk.save(path)
    }

    /// Reads the state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<State, StateError> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::new()),
            Err(source) => {
                return Err(StateError::Io {
                    action: "read",
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let state: State = serde_json::from_slice(&text).map_err(|source| StateError::Corrupt {
            path: path.to_owned(),
            source,
        })?;
        if state.version > STATE_VERSION {
            return Err(StateError::TooNew {
                path: path.to_owned(),
                found: state.version,
            });
        }
        Ok(state)
    }

    /// Writes the state file atomically, creating its directory.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| StateError::Io {
            action: "encode",
            path: path.to_owned(),
            source: e.into(),
        })?;
        write_atomic(path, &json).map_err(|(action, source)| StateError::Io {
            action,
            path: path.to_owned(),
            source,
        })
    }
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new one, never half
/// of one: a temporary file in the same directory, fsync, rename, directory fsync. Creates
/// the directory; mode 0640, group `swab` when root writes and that group exists. The error
/// says which step failed.
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
) -> Result<(), (&'static str, std::io::Error)> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| ("create the directory of", e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".swab-")
        .tempfile_in(dir)
        .map_err(|e| ("create", e))?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::Permissions::from_mode(STATE_MODE);
        tmp.as_file()
            .set_permissions(mode)
            .map_err(|e| ("set the mode of", e))?;
    }
    if rustix::process::geteuid().is_root()
        && let Some(gid) = swab_group()
    {
        // Best effort: the file stays root's alone if this fails.
        let _ = rustix::fs::fchown(tmp.as_file(), None, Some(rustix::fs::Gid::from_raw(gid)));
    }
    tmp.write_all(bytes).map_err(|e| ("write", e))?;
    tmp.as_file().sync_all().map_err(|e| ("sync", e))?;
    tmp.persist(path).map_err(|e| ("replace", e.error))?;
    // The rename is only durable once the directory is: the update journal must survive
    // a power loss.
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// The host's shared state file: the daemon's record (it runs as root), which every swab
/// on the host reads. Written only by root, mode 0640, group `swab` when that group exists:
/// members read it, nobody else does.
pub const SHARED_PATH: &str = "/var/lib/swab/state.json";

/// The shared state file: `$SWAB_SHARED_STATE` if set (tests), else [`SHARED_PATH`].
pub fn shared_path() -> PathBuf {
    std::env::var_os("SWAB_SHARED_STATE")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(SHARED_PATH), PathBuf::from)
}

impl State {
    /// Folds the last-used records of the shared state file at `shared` into this state,
    /// when this state is another file (`own`): a CI user's `swab plan` then knows what the
    /// daemon saw used, and is as careful as the daemon. Read only: the shared file is never
    /// written here. One that cannot be read (missing, no permission, corrupt) adds nothing.
    pub fn read_shared(&mut self, own: &Path, shared: &Path) {
        if own == shared {
            return;
        }
        match State::load(shared) {
            Ok(shared_state) => {
                tracing::debug!(file = %shared.display(), images = shared_state.images.len(), "read the shared last-used records");
                self.images.merge(&shared_state.images);
            }
            Err(err) => {
                let why = std::error::Error::source(&err)
                    .map_or_else(|| err.to_string(), |cause| format!("{err}: {cause}"));
                tracing::debug!(error = %why, "no shared last-used records");
            }
        }
    }
}

/// The mode of state files: the owner writes, the group (`swab`) reads.
const STATE_MODE: u32 = 0o640;

/// The group state files get when root writes them and a group `swab` exists (from
/// `/etc/group`).
fn swab_group() -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == "swab").then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}

/// The default state file: `$SWAB_STATE` if set; for root `/var/lib/swab/state.json` (the
/// shared one); otherwise `$XDG_STATE_HOME/swab/state.json` (default
/// `~/.local/state/swab/state.json`), which a run reads together with the shared file's
/// last-used records.
pub fn default_path() -> PathBuf {
    if let Some(path) = std::env::var_os("SWAB_STATE").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/var/lib/swab/state.json");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("swab/state.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn save_and_load_round_trip_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.json");
        assert_eq!(State::load(&path).unwrap(), State::new());
        let mut state = State::new();
        state.images.mark("sha256:a", at(42));
        state.save(&path).unwrap();
        assert_eq!(State::load(&path).unwrap(), state);
        // Only the state file is left in the directory: no temp files.
        let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn state_files_are_0640_and_the_shared_records_are_read_not_written() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared.json");
        let own = dir.path().join("own.json");
        let mut daemon = State::new();
        daemon.images.mark("sha256:used", at(1_000));
        daemon.save(&shared).unwrap();
        let mode = std::fs::metadata(&shared).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);

        let mut mine = State::new();
        mine.images.mark("sha256:mine", at(5));
        mine.read_shared(&own, &shared);
        assert_eq!(mine.images.get("sha256:used"), Some(at(1_000)));
        assert_eq!(mine.images.get("sha256:mine"), Some(at(5)));
        assert_eq!(
            State::load(&shared).unwrap(),
            daemon,
            "the shared file is not written"
        );
        // The same file, or none at all: nothing changes.
        let before = mine.clone();
        mine.read_shared(&shared, &shared);
        mine.read_shared(&own, &dir.path().join("missing.json"));
        assert_eq!(mine, before);
    }

    #[test]
    fn corrupt_and_future_files_are_errors_not_silently_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            State::load(&path),
            Err(StateError::Corrupt { .. })
        ));
        std::fs::write(&path, r#"{"version": 99, "images": {}}"#).unwrap();
        assert!(matches!(
            State::load(&path),
            Err(StateError::TooNew { found: 99, .. })
        ));
    }
}
