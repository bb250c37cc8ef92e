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

/// A digest whose update failed because of the new image and was rolled back: retried
/// after a back-off (the rule's `retry_after`), up to `max_attempts`, or once the registry
/// has another digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolledBack {
    /// The registry digest that failed.
    pub digest: String,
    /// When it last failed, unix seconds.
    pub at: u64,
    /// Why, in words.
    pub reason: String,
    /// How many updates to this digest failed so far (state files from before back-off
    /// have none: one).
    #[serde(default = "one")]
    pub attempts: u32,
    /// Rolled back by hand (`swab rollback`): never retried, whatever the back-off says.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_hand: bool,
}

fn one() -> u32 {
    1
}

impl Default for RolledBack {
    fn default() -> RolledBack {
        RolledBack {
            digest: String::new(),
            at: 0,
            reason: String::new(),
            attempts: 1,
            by_hand: false,
        }
    }
}

impl RolledBack {
    /// When the digest may be tried again after `attempts` failures, with the waits of
    /// `retry_after` (the last repeating); `None` once `max_attempts` were used up, or for
    /// a rollback by hand.
    pub fn retry_at(
        &self,
        retry_after: &[Duration],
        max_attempts: Option<u32>,
    ) -> Option<SystemTime> {
        if self.by_hand || max_attempts.is_some_and(|max| self.attempts >= max) {
            return None;
        }
        let i = (self.attempts.max(1) - 1) as usize;
        let wait = retry_after
            .get(i)
            .or(retry_after.last())
            .copied()
            .unwrap_or(Duration::from_secs(86_400));
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(self.at) + wait)
    }
}

/// Rolled-back update digests per reference (familiar form).
pub type RolledBackDigests = BTreeMap<String, RolledBack>;

/// Records that the update of `reference` to `digest` was rolled back at `at` (unix
/// seconds). Another failure of the digest already recorded counts as its next attempt;
/// a rollback by hand is final (never retried), whatever came before.
pub fn record_rollback(
    rolled_back: &mut RolledBackDigests,
    (reference, digest): (&str, &str),
    at: u64,
    reason: String,
    by_hand: bool,
) {
    let attempts = rolled_back
        .get(reference)
        .filter(|r| r.digest == digest && !by_hand)
        .map_or(1, |r| r.attempts + 1);
    rolled_back.insert(
        reference.to_owned(),
        RolledBack {
            digest: digest.to_owned(),
            at,
            reason,
            attempts,
            by_hand,
        },
    );
}

/// The last digest a notice was sent for, per reference: one notice per (reference,
/// digest), never repeated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Noticed(BTreeMap<String, String>);

impl Noticed {
    /// Whether a notice about `digest` of `reference` was sent.
    pub fn has(&self, reference: &str, digest: &str) -> bool {
        self.0.get(reference).is_some_and(|d| d == digest)
    }

    /// Records that a notice about `digest` of `reference` was sent.
    pub fn record(&mut self, reference: &str, digest: &str) {
        self.0.insert(reference.to_owned(), digest.to_owned());
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// When swab first saw a reference's current registry digest, while the local image is
/// older: what a cooldown (`min_age`) counts from. One entry per reference; a new digest
/// replaces it, so the clock restarts. The image's `Created` time is never used: it is
/// build time, old for an image built long ago and pushed today, and can be set to anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FirstSeen(BTreeMap<String, Seen>);

/// A digest and when swab first saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The registry digest.
    pub digest: String,
    /// Unix seconds.
    pub at: u64,
}

impl FirstSeen {
    /// When `digest` was first seen for `reference`, if it is the one recorded.
    pub fn get(&self, reference: &str, digest: &str) -> Option<SystemTime> {
        self.0
            .get(reference)
            .filter(|s| s.digest == digest)
            .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s.at))
    }

    /// Records what a check saw: `Some(digest)` for a reference the registry has a newer
    /// digest for (kept if it is the one recorded, else recorded as seen `now`), `None` for
    /// one that is up to date (forgotten).
    pub fn observe(&mut self, reference: &str, digest: Option<&str>, now: SystemTime) {
        match digest {
            Some(digest) if self.get(reference, digest).is_some() => {}
            Some(digest) => {
                self.0.insert(
                    reference.to_owned(),
                    Seen {
                        digest: digest.to_owned(),
                        at: unix(now),
                    },
                );
            }
            None => {
                self.0.remove(reference);
            }
        }
    }

    /// Forgets a reference.
    pub fn forget(&mut self, reference: &str) -> bool {
        self.0.remove(reference).is_some()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

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

#[cfg(test)]
mod record_tests {
    use super::*;

    /// The same digest failing again is its next attempt; a new digest starts at one; a
    /// rollback by hand is final and starts at one.
    #[test]
    fn a_rollback_counts_attempts_per_digest() {
        let mut map = RolledBackDigests::new();
        let attempts = |map: &RolledBackDigests| (map["app:1"].attempts, map["app:1"].by_hand);
        record_rollback(&mut map, ("app:1", "sha256:a"), 1, "x".into(), false);
        record_rollback(&mut map, ("app:1", "sha256:a"), 2, "x".into(), false);
        assert_eq!(attempts(&map), (2, false));
        record_rollback(&mut map, ("app:1", "sha256:b"), 3, "x".into(), false);
        assert_eq!(attempts(&map), (1, false));
        record_rollback(&mut map, ("app:1", "sha256:b"), 4, "x".into(), true);
        assert_eq!(attempts(&map), (1, true));
        assert_eq!(map["app:1"].at, 4);
    }
}
