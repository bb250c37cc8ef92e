//! What swab remembers between runs that decisions read: when each image was last used, and
//! which update digests were rolled back. Plain data; the engine's state file stores it.
//!
//! Docker does not record when an image was last used, and an image's `Created` is its build
//! time, which says nothing about use (an image built two years ago and pulled a minute ago is
//! not unused). swab keeps its own record: at every snapshot, images referenced by containers
//! are marked used, and the daemon mode adds event-stream observations (pull, tag, container
//! create/start/stop).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::snapshot::Snapshot;

/// When each image was last used, per image ID: the planner's view of swab's memory (the
/// planner reads this, never the whole state file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LastUsed(BTreeMap<String, ImageRecord>);

/// What swab remembers about one image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Last time the image was seen in use or pulled/tagged, unix seconds.
    pub last_used: u64,
}

/// A digest whose update was rolled back: not tried again until the registry has another.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolledBack {
    /// The registry digest that failed.
    pub digest: String,
    /// When, unix seconds.
    pub at: u64,
    /// Why, in words.
    pub reason: String,
}

/// Rolled-back update digests per reference (familiar form).
pub type RolledBackDigests = BTreeMap<String, RolledBack>;

/// Seconds since the epoch; 0 for times before it.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl LastUsed {
    /// When `image_id` was last recorded as used.
    pub fn get(&self, image_id: &str) -> Option<SystemTime> {
        self.0
            .get(image_id)
            .filter(|r| r.last_used > 0)
            .map(|r| SystemTime::UNIX_EPOCH + Duration::from_secs(r.last_used))
    }

    /// Whether anything is recorded for `image_id`.
    pub fn knows(&self, image_id: &str) -> bool {
        self.0.contains_key(image_id)
    }

    /// Records a use of `image_id` at `at` (keeps the newer of old and new).
    pub fn mark(&mut self, image_id: &str, at: SystemTime) {
        let at = unix(at);
        let record = self.0.entry(image_id.to_owned()).or_default();
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
            if !self.knows(&image.id) {
                self.mark(&image.id, now);
            }
        }
        for c in &snapshot.containers {
            let at = if c.is_active() {
                Some(now)
            } else {
                c.finished_at.or(c.created)
            };
            if let Some(at) = at {
                self.mark(&c.image_id, at);
            }
        }
        for image in &snapshot.images {
            if let Some(at) = image.last_tagged {
                self.mark(&image.id, at);
            }
        }
        let present: HashSet<&str> = snapshot.images.iter().map(|i| i.id.as_str()).collect();
        self.0.retain(|id, _| present.contains(id.as_str()));
    }

    /// Folds another record in, keeping the newer time for every image: used to write back
    /// without losing what another swab recorded in the meantime.
    pub fn merge(&mut self, other: &LastUsed) {
        for (id, record) in &other.0 {
            let mine = self.0.entry(id.clone()).or_default();
            mine.last_used = mine.last_used.max(record.last_used);
        }
    }

    /// Keeps only the images `other` knows.
    pub fn retain_known_to(&mut self, other: &LastUsed) {
        self.0.retain(|id, _| other.knows(id));
    }

    /// How many images are recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no image is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, container, image, snapshot};

    #[test]
    fn observe_marks_running_now_and_stopped_at_their_exit() {
        let snapshot = snapshot(
            [
                container("run").image("run", "run").created(at(10)),
                container("stop")
                    .image("stop", "stop")
                    .state("exited")
                    .created(at(10))
                    .finished(at(500)),
            ],
            [
                image("run").tags(&["run"]),
                image("stop").tags(&["stop"]),
                image("pulled").tags(&["pulled"]).last_tagged(at(700)),
            ],
        );
        let mut used = LastUsed::default();
        used.mark("sha256:gone", at(5));
        used.observe(&snapshot, at(1000));
        assert_eq!(used.get("sha256:run"), Some(at(1000)));
        // Never seen before: the first sighting counts as a use (Docker records no pull
        // time), so the exit time does not make it look older.
        assert_eq!(used.get("sha256:stop"), Some(at(1000)));
        assert_eq!(used.get("sha256:pulled"), Some(at(1000)));
        // Known images keep their recorded use: a later snapshot does not refresh them.
        used.observe(&snapshot, at(5000));
        assert_eq!(used.get("sha256:stop"), Some(at(1000)));
        assert_eq!(
            used.get("sha256:gone"),
            None,
            "records of deleted images are dropped"
        );
        // The running container's image was used at the second snapshot too, and a record
        // never moves backwards.
        assert_eq!(used.get("sha256:run"), Some(at(5000)));
        used.mark("sha256:run", at(1));
        assert_eq!(used.get("sha256:run"), Some(at(5000)));
    }

    #[test]
    fn merge_keeps_the_newer_time_and_retain_drops_the_unknown() {
        let mut mine = LastUsed::default();
        mine.mark("sha256:a", at(10));
        mine.mark("sha256:b", at(50));
        let mut theirs = LastUsed::default();
        theirs.mark("sha256:a", at(20));
        theirs.mark("sha256:c", at(5));
        mine.merge(&theirs);
        assert_eq!(mine.get("sha256:a"), Some(at(20)));
        assert_eq!(mine.get("sha256:b"), Some(at(50)));
        assert_eq!(mine.get("sha256:c"), Some(at(5)));
        mine.retain_known_to(&theirs);
        assert!(!mine.knows("sha256:b"));
        assert_eq!(mine.len(), 2);
    }
}
