//! The run history: the last runs, each with its whole report, so `swab history`, the
//! daemon's API and its status page can show what happened without a log search.
//!
//! One file a run in a directory next to the state file (`state.json` keeps its history in
//! `state.history/`), named by the run's id. One file a run makes each append atomic on its
//! own (temporary file, fsync, rename: a crash leaves a run recorded or not, never half of
//! it, and never damages another), rotation a matter of removing the oldest files, and two
//! swabs appending at once harmless. Ids sort by time, so the directory listing is the
//! history's order.
//!
//! The history is a convenience: a run never fails because it cannot be written or read.
//! Callers log [`HistoryError`] and go on; unreadable files are skipped when listing.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How many runs are kept unless told otherwise.
pub const DEFAULT_KEEP: usize = 500;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The daemon's schedule.
    Schedule,
    /// `swab run`.
    Cli,
    /// The daemon's HTTP API (`POST /api/v1/runs`, `/containers/{name}/update`).
    Api,
}

/// One run as the history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `20261129T115032123Z-3fa2`: UTC start time to the millisecond, then a random part
    /// (two runs can start in the same millisecond). Sorts by start time.
    pub id: String,
    /// The rules the run ran.
    pub rules: Vec<String>,
    /// What started it.
    pub trigger: Trigger,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The report, exactly as `swab run --format json` prints it.
    pub report: serde_json::Value,
    /// What the daemon's images, containers, volumes and build cache took after the run
    /// (`/system/df`), when the daemon recorded it: the status page's disk chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_used_bytes: Option<u64>,
}

impl Record {
    /// A record of `report`, a run that started at `started`, with a new id from that time.
    pub fn new(
        rules: Vec<String>,
        trigger: Trigger,
        started: std::time::SystemTime,
        duration_ms: u64,
        report: serde_json::Value,
    ) -> Record {
        Record {
            id: new_id(chrono::DateTime::from(started)),
            rules,
            trigger,
            duration_ms,
            report,
            disk_used_bytes: None,
        }
    }
}

/// A new run id for a run starting now: the daemon's API answers with it before the run
/// has a report.
pub fn id_now() -> String {
    new_id(chrono::DateTime::from(std::time::SystemTime::now()))
}

/// A run id for a run that started at `started`.
fn new_id(started: chrono::DateTime<chrono::Utc>) -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    // RandomState is seeded randomly per process; the nanoseconds and the pid make two
    // ids of one process in one second differ too.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(started.timestamp_subsec_nanos());
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!(
        "{}-{:04x}",
        started.format("%Y%m%dT%H%M%S%3fZ"),
        hasher.finish() & 0xffff
    )
}

/// Whether `id` has the shape of a run id: letters, digits and `-` only, so it can never
/// name a file outside the history directory.
pub fn is_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Why the history could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// A file or the directory could not be written, read or listed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The history directory of the state file at `state_path`: `state.json` ->
/// `state.history`.
pub fn dir_for(state_path: &Path) -> PathBuf {
    state_path.with_extension("history")
}

/// A history directory and how many runs it keeps.
#[derive(Debug, Clone)]
pub struct History {
    dir: PathBuf,
    keep: usize,
}

impl History {
    /// The history in `dir`, keeping the newest `keep` runs (0 keeps none: [`History::append`]
    /// then writes nothing).
    pub fn new(dir: PathBuf, keep: usize) -> History {
        History { dir, keep }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records `record`, then removes the oldest runs beyond the limit.
    ///
    /// # Errors
    ///
    /// When the record cannot be written. A failed rotation is not an error (the next
    /// append tries again).
    pub fn append(&self, record: &Record) -> Result<(), HistoryError> {
        if self.keep == 0 {
            return Ok(());
        }
        let path = self.dir.join(format!("{}.json", record.id));
        let json = serde_json::to_vec(record).map_err(|e| HistoryError::Io {
            action: "encode",
            path: path.clone(),
            source: e.into(),
        })?;
        crate::state::write_atomic(&path, &json).map_err(|(action, source)| HistoryError::Io {
            action,
            path,
            source,
        })?;
        self.rotate();
        Ok(())
    }

    /// Removes the oldest runs beyond the limit, and temporary files left by a crash.
    fn rotate(&self) {
        let Ok(ids) = self.ids() else { return };
        let excess = ids.len().saturating_sub(self.keep);
        for id in &ids[..excess] {
            let path = self.dir.join(format!("{id}.json"));
            if let Err(err) = std::fs::remove_file(&path)
                && err.kind() != std::io::ErrorKind::NotFound
            {
                tracing::debug!(path = %path.display(), error = %err, "cannot rotate the history");
            }
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for entry in entries.flatten() {
            let stale = entry.file_name().to_string_lossy().starts_with(".swab-")
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < hour_ago);
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// The ids of the recorded runs, oldest first. An absent directory is an empty history.
    fn ids(&self) -> Result<Vec<String>, HistoryError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(HistoryError::Io {
                    action: "list",
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let id = name.strip_suffix(".json")?;
                is_id(id).then(|| id.to_owned())
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The newest `limit` runs, newest first. Files that cannot be read or decoded are
    /// skipped (logged).
    ///
    /// # Errors
    ///
    /// When the directory exists but cannot be listed.
    pub fn list(&self, limit: usize) -> Result<Vec<Record>, HistoryError> {
        let ids = self.ids()?;
        Ok(ids
            .iter()
            .rev()
            .filter_map(|id| match self.get(id) {
                Ok(found) => found,
                Err(err) => {
                    tracing::warn!(error = %err, "a run in the history is skipped");
                    None
                }
            })
            .take(limit)
            .collect())
    }

    /// The run `id`, or `None` when there is no such run (or `id` is not an id).
    ///
    /// # Errors
    ///
    /// When its file exists but cannot be read or decoded.
    pub fn get(&self, id: &str) -> Result<Option<Record>, HistoryError> {
        if !is_id(id) {
            return Ok(None);
        }
        let path = self.dir.join(format!("{id}.json"));
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(HistoryError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| HistoryError::Io {
                action: "decode",
                path,
                source: e.into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at: &str, rule: &str) -> Record {
        let started = chrono::DateTime::parse_from_rfc3339(at).unwrap();
        Record::new(
            vec![rule.to_owned()],
            Trigger::Cli,
            std::time::SystemTime::from(started),
            12,
            serde_json::json!({ "started_at": at, "summary": { "failed": 0 } }),
        )
    }

    #[test]
    fn runs_are_listed_newest_first_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path().join("state.history"), 10);
        let first = record("2026-11-29T10:00:00.250Z", "a");
        let second = record("2026-11-29T11:00:00.250+01:00", "b");
        let third = record("2026-11-29T10:00:00.251Z", "c");
        for r in [&first, &second, &third] {
            history.append(r).unwrap();
        }
        let listed = history.list(10).unwrap();
        let rules: Vec<&str> = listed.iter().map(|r| r.rules[0].as_str()).collect();
        // 11:00+01:00 is 10:00Z: by UTC start time, b and a share the millisecond; c is
        // a millisecond later.
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0], "c");
        assert!(first.id.starts_with("20261129T100000250Z-"), "{}", first.id);
        assert!(
            second.id.starts_with("20261129T100000250Z-"),
            "{}",
            second.id
        );
        assert_ne!(first.id, second.id);
        assert_eq!(history.get(&third.id).unwrap().as_ref(), Some(&third));
        assert_eq!(history.list(1).unwrap().len(), 1);
    }

    #[test]
    fn the_oldest_runs_beyond_the_limit_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path().to_owned(), 3);
        let ids: Vec<String> = (0..5)
            .map(|i| {
                // A millisecond apart: ids order runs to the millisecond.
                let r = record(&format!("2026-11-29T10:00:00.00{i}Z"), &format!("r{i}"));
                history.append(&r).unwrap();
                r.id
            })
            .collect();
        let listed: Vec<String> = history
            .list(100)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(listed, vec![ids[4].clone(), ids[3].clone(), ids[2].clone()]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn a_missing_or_damaged_history_is_empty_or_skipped_never_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path().join("absent"), 5);
        assert!(history.list(5).unwrap().is_empty());
        assert!(history.get("20261129T100000000Z-0000").unwrap().is_none());

        let history = History::new(dir.path().to_owned(), 5);
        let good = record("2026-11-29T10:00:00Z", "a");
        history.append(&good).unwrap();
        std::fs::write(dir.path().join("20261129T110000000Z-dead.json"), b"{ half").unwrap();
        let listed = history.list(5).unwrap();
        assert_eq!(listed, vec![good]);
    }

    #[test]
    fn ids_never_reach_outside_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.json"), b"{}").unwrap();
        let history = History::new(dir.path().join("h"), 5);
        assert!(history.get("../secret").unwrap().is_none());
        assert!(!is_id("a/b"));
        assert!(!is_id(""));
        assert!(is_id("20261129T100000123Z-3fa2"));
    }

    #[test]
    fn keeping_none_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path().join("h"), 0);
        history
            .append(&record("2026-11-29T10:00:00Z", "a"))
            .unwrap();
        assert!(!dir.path().join("h").exists());
    }

    #[test]
    fn the_history_lives_next_to_the_state_file() {
        assert_eq!(
            dir_for(Path::new("/var/lib/swab/state.json")),
            Path::new("/var/lib/swab/state.history")
        );
        assert_eq!(
            dir_for(Path::new("/s/hosts/abc.json")),
            Path::new("/s/hosts/abc.history")
        );
    }
}
