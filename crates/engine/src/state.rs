//! swab's memory between runs: when each image was last used.
//!
//! Docker does not record when an image was last used, and an image's `Created` is its build
//! time, which says nothing about use (an image built two years ago and pulled a minute ago is
//! not unused). swab keeps its own record: at every snapshot, images referenced by containers
//! are marked used, and the daemon mode adds event-stream observations (pull, tag, container
//! create/start/stop). The record lives in a small JSON file written atomically (temp file in
//! the same directory, fsync, rename), so a crash never leaves a truncated file.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::snapshot::Snapshot;

/// The on-disk format version.
pub const STATE_VERSION: u32 = 1;

/// What swab remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Format version.
    pub version: u32,
    /// Per image ID.
    #[serde(default)]
    pub images: BTreeMap<String, ImageRecord>,
    /// Updates that failed and were rolled back, per reference (familiar form): the
    /// registry digest that failed is not tried again until the registry has another one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rolled_back: BTreeMap<String, RolledBack>,
    /// Updates under way: the journal that lets the next start finish or undo an update a
    /// crash interrupted. Empty between runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_flight: Vec<InFlight>,
}

/// A digest whose update was rolled back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolledBack {
    /// The registry digest that failed.
    pub digest: String,
    /// When, unix seconds.
    pub at: u64,
    /// Why, in words.
    pub reason: String,
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
    /// The containers being swapped, in order.
    pub containers: Vec<Swap>,
    /// Containers swab stopped that are not swapped (yet): dependents, started again by
    /// recovery.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopped: Vec<Stopped>,
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
}

/// What swab remembers about one image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Last time the image was seen in use or pulled/tagged, unix seconds.
    pub last_used: u64,
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

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl State {
    /// An empty state.
    pub fn new() -> State {
        State {
            version: STATE_VERSION,
            ..State::default()
        }
    }

    /// When `image_id` was last recorded as used.
    pub fn last_used(&self, image_id: &str) -> Option<SystemTime> {
        self.images
            .get(image_id)
            .filter(|r| r.last_used > 0)
            .map(|r| SystemTime::UNIX_EPOCH + Duration::from_secs(r.last_used))
    }

    /// Records a use of `image_id` at `at` (keeps the newer of old and new).
    pub fn mark_used(&mut self, image_id: &str, at: SystemTime) {
        let at = unix(at);
        let record = self.images.entry(image_id.to_owned()).or_default();
        record.last_used = record.last_used.max(at);
    }

    /// Folds a snapshot in: images referenced by running containers are used *now*;
    /// images referenced by stopped containers were used when those containers last ran
    /// (their exit time when known, else their creation time); tag times known from
    /// inspects count as use; and an image swab has never seen before counts as used *now*.
    /// That last rule is what makes a freshly pulled image safe without the daemon's event
    /// stream: Docker records no pull time (`Metadata.LastTagTime` is set by `docker tag`
    /// only), and an image's `Created` is its build time. The price is that `unused_for`
    /// counts from swab's first sighting for images that predate swab. Records of images
    /// that no longer exist are dropped.
    pub fn observe(&mut self, snapshot: &Snapshot, now: SystemTime) {
        for image in &snapshot.images {
            if !self.images.contains_key(&image.id) {
                self.mark_used(&image.id, now);
            }
        }
        for c in &snapshot.containers {
            let at = if c.is_active() {
                Some(now)
            } else {
                c.finished_at.or(c.created)
            };
            if let Some(at) = at {
                self.mark_used(&c.image_id, at);
            }
        }
        for image in &snapshot.images {
            if let Some(at) = image.last_tagged {
                self.mark_used(&image.id, at);
            }
        }
        let present: std::collections::HashSet<&str> =
            snapshot.images.iter().map(|i| i.id.as_str()).collect();
        self.images.retain(|id, _| present.contains(id.as_str()));
    }

    /// Folds another record in, keeping the newer time for every image: used to write back
    /// without losing what another swab recorded in the meantime.
    pub fn merge(&mut self, other: &State) {
        for (id, record) in &other.images {
            let mine = self.images.entry(id.clone()).or_default();
            mine.last_used = mine.last_used.max(record.last_used);
        }
    }

    /// Merges this record into the file at `path` (re-reading it, so what another swab wrote
    /// meanwhile is kept) and writes it back. With `prune`, only images this record knows
    /// are kept: a run's record holds every image on the host, and without pruning the file
    /// would grow forever with deleted images. The daemon's event record holds only the
    /// images it saw used, so it merges without pruning.
    pub fn merge_into_file(&self, path: &Path, prune: bool) -> Result<(), StateError> {
        let mut on_disk = State::load(path)?;
        on_disk.merge(self);
        if prune {
            on_disk.images.retain(|id, _| self.images.contains_key(id));
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
        let io = |action, source| StateError::Io {
            action,
            path: path.to_owned(),
            source,
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io("create", e))?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| io("encode", e.into()))?;
        tmp.write_all(&json).map_err(|e| io("write", e))?;
        tmp.as_file().sync_all().map_err(|e| io("sync", e))?;
        tmp.persist(path).map_err(|e| io("replace", e.error))?;
        // The rename is only durable once the directory is: the update journal must survive
        // a power loss.
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// The default state file: `$SWAB_STATE` if set; for root `/var/lib/swab/state.json`;
/// otherwise `$XDG_STATE_HOME/swab/state.json` (default `~/.local/state/swab/state.json`).
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
    use crate::snapshot::{Container, Image};

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn observe_marks_running_now_and_stopped_at_their_exit() {
        let snapshot = Snapshot {
            containers: vec![
                Container {
                    id: "c1".into(),
                    image_id: "sha256:run".into(),
                    state: "running".into(),
                    created: Some(at(10)),
                    ..Container::default()
                },
                Container {
                    id: "c2".into(),
                    image_id: "sha256:stop".into(),
                    state: "exited".into(),
                    created: Some(at(10)),
                    finished_at: Some(at(500)),
                    ..Container::default()
                },
            ],
            images: vec![
                Image {
                    id: "sha256:run".into(),
                    ..Image::default()
                },
                Image {
                    id: "sha256:stop".into(),
                    ..Image::default()
                },
                Image {
                    id: "sha256:pulled".into(),
                    last_tagged: Some(at(700)),
                    ..Image::default()
                },
            ],
            ..Snapshot::default()
        };
        let mut state = State::new();
        state.mark_used("sha256:gone", at(5));
        state.observe(&snapshot, at(1000));
        assert_eq!(state.last_used("sha256:run"), Some(at(1000)));
        // Never seen before: the first sighting counts as a use (Docker records no pull
        // time), so the exit time does not make it look older.
        assert_eq!(state.last_used("sha256:stop"), Some(at(1000)));
        assert_eq!(state.last_used("sha256:pulled"), Some(at(1000)));
        // Known images keep their recorded use: a later snapshot does not refresh them.
        state.observe(&snapshot, at(5000));
        assert_eq!(state.last_used("sha256:stop"), Some(at(1000)));
        assert_eq!(
            state.last_used("sha256:gone"),
            None,
            "records of deleted images are dropped"
        );
        // The running container's image was used at the second snapshot too, and a record
        // never moves backwards.
        assert_eq!(state.last_used("sha256:run"), Some(at(5000)));
        state.mark_used("sha256:run", at(1));
        assert_eq!(state.last_used("sha256:run"), Some(at(5000)));
    }

    #[test]
    fn save_and_load_round_trip_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.json");
        assert_eq!(State::load(&path).unwrap(), State::new());
        let mut state = State::new();
        state.mark_used("sha256:a", at(42));
        state.save(&path).unwrap();
        assert_eq!(State::load(&path).unwrap(), state);
        // Only the state file is left in the directory: no temp files.
        let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
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
