//! The run report: the JSON contract for CI jobs, and the data behind the text output.
//!
//! ```json
//! {"swab_version", "dry_run", "host", "started_at", "finished_at",
//!  "actions": [{"rule","action","id","name","reason","status","error","bytes"}],
//!  "kept": [{"rule","id","name","reason"}],
//!  "notes": [{"rule","message"}],
//!  "summary": {"containers_removed", ..., "bytes_reclaimed", "skipped", "failed"}}
//! ```
//! `status` is one of `planned` (dry run), `done`, `skipped`, `failed`, `rolled_back`.

use serde::Serialize;

pub use crate::plan::ActionKind;
use crate::plan::{Kept, Note, PlannedAction};

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Dry run: would be done.
    Planned,
    /// Done.
    Done,
    /// Not done because the world changed (in use, gone, running again), with the daemon's
    /// reason. Not a failure.
    Skipped,
    /// Tried and failed.
    Failed,
    /// An update that failed and was undone.
    RolledBack,
}

impl Status {
    /// The name used in the JSON report, logs and metrics (`rolled_back`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Planned => "planned",
            Status::Done => "done",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::RolledBack => "rolled_back",
        }
    }
}

/// One action's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionReport {
    /// The rule.
    pub rule: String,
    /// What it does.
    pub action: ActionKind,
    /// Object ID.
    pub id: String,
    /// Readable name.
    pub name: String,
    /// Why it was planned.
    pub reason: String,
    /// How it ended.
    pub status: Status,
    /// The error or skip reason, if any.
    pub error: Option<String>,
    /// Bytes freed (estimated for images, measured for build cache), when known.
    pub bytes: Option<u64>,
}

impl ActionReport {
    /// A report entry for a planned action.
    pub fn from_action(
        action: &PlannedAction,
        status: Status,
        error: Option<String>,
        bytes: Option<u64>,
    ) -> ActionReport {
        ActionReport {
            rule: action.rule.clone(),
            action: action.op.kind(),
            id: action.op.id().to_owned(),
            name: action.name.clone(),
            reason: action.reason.clone(),
            status,
            error,
            bytes,
        }
    }
}

/// Totals. Also read back from recorded reports (the run history), so every field has a
/// default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Summary {
    /// Containers removed (dry run: that would be).
    pub containers_removed: u64,
    /// Images removed.
    pub images_removed: u64,
    /// Volumes removed.
    pub volumes_removed: u64,
    /// Networks removed.
    pub networks_removed: u64,
    /// Images pulled by updates.
    pub images_pulled: u64,
    /// Images tagged by updates.
    pub images_tagged: u64,
    /// Containers recreated by updates.
    pub containers_recreated: u64,
    /// Containers restarted.
    pub containers_restarted: u64,
    /// Swarm services updated (only in reports of runs with `services:` rules).
    #[serde(skip_serializing_if = "is_zero")]
    pub services_updated: u64,
    /// Bytes freed (estimated where the daemon does not say).
    pub bytes_reclaimed: u64,
    /// Actions skipped.
    pub skipped: u64,
    /// Actions failed.
    pub failed: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Summary {
    /// What the run did, in words: `reclaimed 1.2 GB (3 containers, 1 image); 0 skipped,
    /// 0 failed` (`would reclaim` for a dry run). Also the totals of many hosts.
    pub fn line(&self, dry_run: bool) -> String {
        let s = self;
        let mut parts = Vec::new();
        for (n, what) in [
            (s.containers_removed, "container"),
            (s.images_removed, "image"),
            (s.volumes_removed, "volume"),
            (s.networks_removed, "network"),
            (s.containers_restarted, "restart"),
            (s.containers_recreated, "update"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}{}", if n == 1 { "" } else { "s" }));
            }
        }
        let what = if parts.is_empty() {
            "nothing".to_owned()
        } else {
            parts.join(", ")
        };
        let verb = if dry_run {
            "would reclaim"
        } else {
            "reclaimed"
        };
        format!(
            "{verb} {} ({what}); {} skipped, {} failed",
            crate::format_bytes(s.bytes_reclaimed),
            s.skipped,
            s.failed
        )
    }

    /// Totals of `actions`. Planned (dry-run) actions count as what they would do.
    pub fn of(actions: &[ActionReport]) -> Summary {
        let mut s = Summary::default();
        for a in actions {
            match a.status {
                Status::Skipped => s.skipped += 1,
                Status::Failed | Status::RolledBack => s.failed += 1,
                Status::Done | Status::Planned => {
                    match a.action {
                        ActionKind::RemoveContainer => s.containers_removed += 1,
                        ActionKind::RemoveImage => s.images_removed += 1,
                        ActionKind::RemoveVolume => s.volumes_removed += 1,
                        ActionKind::RemoveNetwork => s.networks_removed += 1,
                        ActionKind::PullImage => s.images_pulled += 1,
                        ActionKind::TagImage => s.images_tagged += 1,
                        ActionKind::RecreateContainer => s.containers_recreated += 1,
                        ActionKind::RestartContainer => s.containers_restarted += 1,
                        ActionKind::UpdateService => s.services_updated += 1,
                        ActionKind::PruneBuildCache
                        | ActionKind::CheckImage
                        | ActionKind::RunHook
                        | ActionKind::Notify
                        | ActionKind::EditComposeFile => {}
                    }
                    s.bytes_reclaimed += a.bytes.unwrap_or(0);
                }
            }
        }
        s
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// swab's version.
    pub swab_version: &'static str,
    /// Dry run: nothing was changed.
    pub dry_run: bool,
    /// The daemon endpoint.
    pub host: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// Every action, in plan order.
    pub actions: Vec<ActionReport>,
    /// Objects considered and kept.
    pub kept: Vec<Kept>,
    /// Rule-level remarks.
    pub notes: Vec<Note>,
    /// Totals.
    pub summary: Summary,
    /// Pull rate limits registries reported during the run's checks (Docker Hub), by
    /// registry host.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub rate_limits: std::collections::BTreeMap<String, RegistryLimit>,
    /// Reads tried again during the run after a 5xx, a broken connection or a timeout.
    #[serde(skip_serializing_if = "Retries::is_none")]
    pub retries: Retries,
}

/// How many requests a run tried again, by whom they went to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Retries {
    /// To the Docker daemon.
    pub docker: u64,
    /// To registries.
    pub registry: u64,
}

impl Retries {
    /// No retries at all.
    pub fn is_none(&self) -> bool {
        self.docker == 0 && self.registry == 0
    }
}

/// A registry's pull rate limit, as it reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RegistryLimit {
    /// Pulls allowed per window.
    pub limit: u64,
    /// Pulls left in the current window.
    pub remaining: u64,
}

impl Report {
    /// What the run did, in words: `reclaimed 1.2 GB (3 containers, 1 image); 0 skipped,
    /// 0 failed` (`would reclaim` for a dry run).
    pub fn summary_line(&self) -> String {
        self.summary.line(self.dry_run)
    }

    /// One line for logs and chat: the host and [`Report::summary_line`].
    pub fn headline(&self) -> String {
        format!("swab on {}: {}", self.host, self.summary_line())
    }

    /// True when some action failed (exit code 1).
    pub fn has_failures(&self) -> bool {
        self.summary.failed > 0
    }
}
