//! The planner: snapshot + rules + last-used record + "now" in, plan out. No IO, no clock.
//!
//! Every question "would swab delete X?" is answered here and nowhere else, so it is
//! answered by fast unit tests. The rules of the game:
//!
//! - Containers: running, paused, restarting and removing containers are never candidates.
//!   An exited or dead container's age counts from its exit (`State.FinishedAt`), a
//!   never-started one's from `Created`: a container created a month ago that exited five
//!   minutes ago is five minutes old.
//! - Images: an image used by *any* container (running or stopped), or an ancestor of one,
//!   is in use and never removed, unless that container is removed earlier in the same plan.
//!   A parent image is only removed together with all its children. "Last used" is the
//!   newest of build time, last pull/tag, and every use swab has recorded.
//! - Protection (the `protect:` section and the `swab.protect=true` label) always wins.
//! - Volumes: only ones no container mounts; named ones only when the rule selects them by
//!   name or label. Networks: only local, user-defined, unattached ones.
//! - `when`/`target`: act only while the trigger holds; remove least recently used first
//!   until the target is estimated to hold, and say how far it got otherwise.
//! - `max_removals` caps a rule; what the cap holds back is reported as kept.
//!
//! Rules run in phases by kind (containers, restarts, images, volumes, networks, build
//! cache) so that image and volume rules see which containers the plan already removes.
//! An object selected by several rules is acted on once, by the first.

use std::collections::{BTreeMap, HashMap, HashSet};

use rustc_hash::{FxHashMap, FxHashSet};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use swab_rules::{Action, ContainerStatus, ImageRef, Protect, Rule, Target, Trigger, VolumeScope};

use crate::memory::LastUsed;
use crate::snapshot::{Container, Disk, Image, Snapshot, age, images_in_use, short_id};

/// What to do, decided.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Actions in planning order (the executor orders them for safety).
    pub actions: Vec<PlannedAction>,
    /// Objects a rule considered and kept, with why.
    pub kept: Vec<Kept>,
    /// Rule-level remarks: trigger not met, target not reached, cap reached, unsupported.
    pub notes: Vec<Note>,
}

/// One planned operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedAction {
    /// The rule that asked for it.
    pub rule: String,
    /// What exactly to do.
    #[serde(flatten)]
    pub op: Op,
    /// A readable name for the object.
    pub name: String,
    /// Why, in words.
    pub reason: String,
    /// Estimated bytes freed, when known.
    pub bytes: Option<u64>,
}

/// An operation with what the executor needs to carry it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Op {
    /// Remove a stopped container (never forced, never its volumes).
    RemoveContainer {
        /// Container ID.
        id: String,
    },
    /// Remove an image: each tag, then the image.
    RemoveImage {
        /// Image ID.
        id: String,
        /// Its tags at planning time.
        tags: Vec<String>,
        /// Its parent, so children go first.
        parent: Option<String>,
    },
    /// Remove a volume.
    RemoveVolume {
        /// Volume name (its ID).
        id: String,
    },
    /// Remove a network.
    RemoveNetwork {
        /// Network ID.
        id: String,
    },
    /// Prune the build cache.
    PruneBuildCache {
        /// `build-cache`.
        id: String,
        /// Only records unused for this long.
        #[serde(skip)]
        unused_for: Option<Duration>,
    },
    /// Restart a running container.
    RestartContainer {
        /// Container ID.
        id: String,
        /// Grace period before SIGKILL.
        #[serde(skip)]
        timeout: Option<Duration>,
    },
}

impl Op {
    /// The object's ID.
    pub fn id(&self) -> &str {
        match self {
            Op::RemoveContainer { id }
            | Op::RemoveImage { id, .. }
            | Op::RemoveVolume { id }
            | Op::RemoveNetwork { id }
            | Op::PruneBuildCache { id, .. }
            | Op::RestartContainer { id, .. } => id,
        }
    }

    /// The report's `action` string.
    pub fn kind(&self) -> ActionKind {
        match self {
            Op::RemoveContainer { .. } => ActionKind::RemoveContainer,
            Op::RemoveImage { .. } => ActionKind::RemoveImage,
            Op::RemoveVolume { .. } => ActionKind::RemoveVolume,
            Op::RemoveNetwork { .. } => ActionKind::RemoveNetwork,
            Op::PruneBuildCache { .. } => ActionKind::PruneBuildCache,
            Op::RestartContainer { .. } => ActionKind::RestartContainer,
        }
    }
}

/// Why container rules leave a Swarm task alone.
pub const SWARM_TASK: &str =
    "a Swarm task: its service decides what it runs, and Swarm keeps or removes its history";

/// What an action does. The report, the logs, the metrics and the summary all name it by
/// [`ActionKind::as_str`], the snake_case form in the JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Remove a stopped container.
    RemoveContainer,
    /// Remove an image.
    RemoveImage,
    /// Remove a volume.
    RemoveVolume,
    /// Remove a network.
    RemoveNetwork,
    /// Prune build cache.
    PruneBuildCache,
    /// Restart a running container.
    RestartContainer,
    /// Ask a registry for a reference's digest (reported only when that failed).
    CheckImage,
    /// Tag an image (the rollback tag, or the tag moved back).
    TagImage,
    /// Pull an image.
    PullImage,
    /// Replace a container by one on the new image.
    RecreateContainer,
    /// Run a lifecycle hook in a container (the entry's reason names the phase).
    RunHook,
    /// Send a notice of a new image (`notify_only` rules).
    Notify,
    /// Edit a Compose service's `image:` in its compose file (tag tracking with
    /// `compose_file: write`).
    EditComposeFile,
    /// Update a Swarm service's image through Swarm's rolling update.
    UpdateService,
}

impl ActionKind {
    /// The snake_case name: `remove_container`, `pull_image`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::RemoveContainer => "remove_container",
            ActionKind::RemoveImage => "remove_image",
            ActionKind::RemoveVolume => "remove_volume",
            ActionKind::RemoveNetwork => "remove_network",
            ActionKind::PruneBuildCache => "prune_build_cache",
            ActionKind::RestartContainer => "restart_container",
            ActionKind::CheckImage => "check_image",
            ActionKind::TagImage => "tag_image",
            ActionKind::PullImage => "pull_image",
            ActionKind::RecreateContainer => "recreate_container",
            ActionKind::RunHook => "run_hook",
            ActionKind::Notify => "notify",
            ActionKind::EditComposeFile => "edit_compose_file",
            ActionKind::UpdateService => "update_service",
        }
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An object a rule considered and kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    /// The rule.
    pub rule: String,
    /// Object ID.
    pub id: String,
    /// Readable name.
    pub name: String,
    /// Why it was kept.
    pub reason: String,
    /// When a policy allows it (cooldown, back-off), RFC 3339; `None` when no time does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eligible_at: Option<String>,
}

/// A remark about a rule, the `protect:` section, or a recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// What it is about.
    pub scope: NoteScope,
    /// The remark.
    pub message: String,
}

/// What a [`Note`] is about. Typed, so that a rule a user named `protect` or `recovery` is
/// never confused with the section or the recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteScope {
    /// The named rule (trigger not met, target not reached, cap reached, ...).
    Rule(String),
    /// The `protect:` section (a pattern that matches nothing on the host).
    Protect,
    /// An update a crash interrupted, which this run finished or undid.
    Recovery,
}

impl Note {
    /// A note about the rule named `rule`.
    pub fn rule(rule: &str, message: String) -> Note {
        Note {
            scope: NoteScope::Rule(rule.to_owned()),
            message,
        }
    }

    /// Whether it is about the rule named `rule`.
    pub fn is_about_rule(&self, rule: &str) -> bool {
        matches!(&self.scope, NoteScope::Rule(name) if name == rule)
    }
}

impl Serialize for Note {
    /// `{"rule": ..., "scope": ..., "message": ...}`: `rule` is the rule's name, or `protect`
    /// or `recovery` as before `scope` (`rule`, `protect` or `recovery`) said which.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let (rule, scope) = match &self.scope {
            NoteScope::Rule(name) => (name.as_str(), "rule"),
            NoteScope::Protect => ("protect", "protect"),
            NoteScope::Recovery => ("recovery", "recovery"),
        };
        let mut s = serializer.serialize_struct("Note", 3)?;
        s.serialize_field("rule", rule)?;
        s.serialize_field("scope", scope)?;
        s.serialize_field("message", &self.message)?;
        s.end()
    }
}

/// Plans `rules` (in file order) against `snapshot` at `now`.
pub fn plan(
    snapshot: &Snapshot,
    rules: &[&Rule],
    protect: &Protect,
    last_used: &LastUsed,
    now: SystemTime,
) -> Plan {
    let mut planner = Planner {
        snapshot,
        protect,
        last_used,
        now,
        plan: Plan::default(),
        acted: FxHashSet::default(),
        removed: FxHashSet::default(),
        index: ImageIndex::new(snapshot),
    };
    let phases = [
        Action::PruneContainers,
        Action::Restart,
        Action::PruneImages,
        Action::PruneVolumes,
        Action::PruneNetworks,
        Action::PruneBuildCache,
        Action::Update,
    ];
    for warning in unmatched_protect_patterns(snapshot, protect) {
        planner.plan.notes.push(Note {
            scope: NoteScope::Protect,
            message: warning,
        });
    }
    for phase in phases {
        for rule in rules.iter().filter(|r| r.action == phase) {
            match phase {
                Action::PruneContainers => planner.containers(rule),
                Action::Restart => planner.restarts(rule),
                Action::PruneImages => planner.images(rule),
                Action::PruneVolumes => planner.volumes(rule),
                Action::PruneNetworks => planner.networks(rule),
                Action::PruneBuildCache => planner.build_cache(rule),
                // Updates need the registries' answers: planned by `updates::plan_updates`.
                Action::Update => {}
            }
        }
    }
    planner.plan
}

/// Which containers need an inspect for a timestamp the list lacks: exited/dead ones that
/// some prune-containers rule with an age condition or a trigger would remove otherwise (for
/// the exit time), and running ones a restart rule with `older_than` selects (for the start
/// time).
pub fn containers_to_inspect(
    snapshot: &Snapshot,
    rules: &[&Rule],
    protect: &Protect,
) -> Vec<String> {
    let restart_rules: Vec<&&Rule> = rules
        .iter()
        .filter(|r| r.action == Action::Restart && r.matcher.older_than.is_some())
        .collect();
    let rules: Vec<&&Rule> = rules
        .iter()
        .filter(|r| {
            r.action == Action::PruneContainers
                && (r.matcher.older_than.is_some() || r.when.is_some())
        })
        .collect();
    if rules.is_empty() && restart_rules.is_empty() {
        return Vec::new();
    }
    let images = ImageIndex::new(snapshot);
    snapshot
        .containers
        .iter()
        .filter(|c| {
            let protected = || protect.protects_container(&c.name, c.image_ref.as_ref(), &c.labels);
            let exited = matches!(
                c.status(),
                Some(ContainerStatus::Exited | ContainerStatus::Dead)
            );
            if exited {
                rules.iter().any(|r| container_selected(r, c, &images)) && !protected()
            } else {
                c.state == "running"
                    && restart_rules
                        .iter()
                        .any(|r| restart_selected(r, c, &images))
                    && !protected()
            }
        })
        .map(|c| c.id.clone())
        .collect()
}

/// Which images need an inspect for their last pull/tag time: those that some prune-images
/// rule with `unused_for` or a trigger selects, that are not protected and not used by a
/// running container.
pub fn images_to_inspect(snapshot: &Snapshot, rules: &[&Rule], protect: &Protect) -> Vec<String> {
    let rules: Vec<&&Rule> = rules
        .iter()
        .filter(|r| {
            r.action == Action::PruneImages && (r.matcher.unused_for.is_some() || r.when.is_some())
        })
        .collect();
    if rules.is_empty() {
        return Vec::new();
    }
    let active: HashSet<&str> = snapshot
        .containers
        .iter()
        .filter(|c| c.is_active())
        .map(|c| c.image_id.as_str())
        .collect();
    snapshot
        .images
        .iter()
        .filter(|i| !active.contains(i.id.as_str()))
        .filter(|i| !protect.protects_image(&i.refs, &i.labels))
        .filter(|i| rules.iter().any(|r| image_selected(r, i)))
        .map(|i| i.id.clone())
        .collect()
}

struct Planner<'a> {
    snapshot: &'a Snapshot,
    protect: &'a Protect,
    last_used: &'a LastUsed,
    now: SystemTime,
    plan: Plan,
    /// IDs (and volume names) an earlier rule already acted on: each object is acted on
    /// once. Borrowed from the snapshot.
    acted: FxHashSet<&'a str>,
    /// The subset that is *removed* (not restarted): what no longer uses images, volumes and
    /// networks once the plan is carried out.
    removed: FxHashSet<&'a str>,
    /// Images by ID and the parsed references of containers, computed once per plan.
    index: ImageIndex<'a>,
}

/// A candidate with what the trigger/target loop needs.
struct Candidate<'a> {
    /// The object's ID, borrowed from the snapshot.
    key: &'a str,
    action: PlannedAction,
    /// Least-recently-used ordering key: older first.
    last_used: Option<SystemTime>,
}

impl<'a> Planner<'a> {
    fn note(&mut self, rule: &Rule, message: String) {
        self.plan.notes.push(Note::rule(&rule.name, message));
    }

    fn keep(&mut self, rule: &Rule, id: &str, name: &str, reason: String) {
        self.plan.kept.push(Kept {
            eligible_at: None,
            rule: rule.name.clone(),
            id: id.to_owned(),
            name: name.to_owned(),
            reason,
        });
    }

    fn containers(&mut self, rule: &Rule) {
        let Some(budget) = self.trigger(rule) else {
            return;
        };
        let mut candidates = Vec::new();
        for c in &self.snapshot.containers {
            if self.acted.contains(c.id.as_str()) || !container_selected(rule, c, &self.index) {
                continue;
            }
            if c.is_swarm_task() {
                self.keep(rule, &c.id, &c.name, SWARM_TASK.to_owned());
                continue;
            }
            if container_protected(self.protect, c, &self.index) {
                let why = container_protection(self.protect, c, &self.index);
                self.keep(rule, &c.id, &c.name, why);
                continue;
            }
            let (since, what) = match c.status() {
                Some(ContainerStatus::Created) => (c.created, "created"),
                _ => (c.finished_at, "exited"),
            };
            if since.is_none() && (rule.matcher.older_than.is_some() || rule.when.is_some()) {
                self.keep(rule, &c.id, &c.name, format!("{what} time unknown"));
                continue;
            }
            let container_age = age(self.now, since);
            if !rule.matcher.is_old_enough(container_age) {
                let minimum = rule.matcher.older_than.unwrap_or_default();
                self.keep(
                    rule,
                    &c.id,
                    &c.name,
                    format!(
                        "{what} {} ago, not older than {}",
                        human(container_age),
                        human(minimum)
                    ),
                );
                continue;
            }
            let mut reason = match c.status() {
                Some(ContainerStatus::Created) => {
                    format!("created {} ago, never started", human(container_age))
                }
                Some(ContainerStatus::Dead) => format!("dead, exited {} ago", human(container_age)),
                _ => format!("exited {} ago", human(container_age)),
            };
            if let Some(minimum) = rule.matcher.older_than {
                let _ = write!(reason, ", older than {}", human(minimum));
            }
            candidates.push(Candidate {
                key: &c.id,
                action: PlannedAction {
                    rule: rule.name.clone(),
                    op: Op::RemoveContainer { id: c.id.clone() },
                    name: c.name.clone(),
                    reason,
                    bytes: None,
                },
                last_used: since,
            });
        }
        self.commit(rule, candidates, budget);
    }

    fn restarts(&mut self, rule: &Rule) {
        let mut candidates = Vec::new();
        let closed = crate::window::closed_reason(&rule.windows, self.now);
        for c in &self.snapshot.containers {
            if self.acted.contains(c.id.as_str()) || !restart_selected(rule, c, &self.index) {
                continue;
            }
            if c.is_swarm_task() {
                self.keep(rule, &c.id, &c.name, SWARM_TASK.to_owned());
                continue;
            }
            if let Some(why) = &closed {
                self.keep(rule, &c.id, &c.name, why.clone());
                continue;
            }
            if self.snapshot.is_own(c) {
                self.keep(
                    rule,
                    &c.id,
                    &c.name,
                    crate::own::reason(self.snapshot).to_owned(),
                );
                continue;
            }
            if container_protected(self.protect, c, &self.index) {
                let why = container_protection(self.protect, c, &self.index);
                self.keep(rule, &c.id, &c.name, why);
                continue;
            }
            let mut reason = "running, matched by the rule".to_owned();
            if let Some(minimum) = rule.matcher.older_than {
                let Some(started) = c.started_at else {
                    self.keep(rule, &c.id, &c.name, "start time unknown".to_owned());
                    continue;
                };
                let up = age(self.now, Some(started));
                if up < minimum {
                    let why = format!("up {}, not longer than {}", human(up), human(minimum));
                    self.keep(rule, &c.id, &c.name, why);
                    continue;
                }
                reason = format!("up {}, longer than {}", human(up), human(minimum));
            }
            candidates.push(Candidate {
                key: &c.id,
                action: PlannedAction {
                    rule: rule.name.clone(),
                    op: Op::RestartContainer {
                        id: c.id.clone(),
                        timeout: rule.stop_timeout,
                    },
                    name: c.name.clone(),
                    reason,
                    bytes: None,
                },
                last_used: None,
            });
        }
        self.commit(rule, candidates, Budget::Unlimited);
    }

    fn images(&mut self, rule: &Rule) {
        let Some(budget) = self.trigger(rule) else {
            return;
        };
        let in_use = images_in_use(self.snapshot, &self.removed);
        let users = self.image_users();
        let kept_by_keep_latest = rule
            .keep_latest
            .map(|n| keep_latest(&self.snapshot.images, n))
            .unwrap_or_default();

        let mut candidates: Vec<(&'a Image, Candidate<'a>)> = Vec::new();
        for image in &self.snapshot.images {
            if self.acted.contains(image.id.as_str()) || !image_selected(rule, image) {
                continue;
            }
            let name = image.display_name();
            if self.protect.protects_image(&image.refs, &image.labels) {
                let why = image_protection(self.protect, image);
                self.keep(rule, &image.id, &name, why);
                continue;
            }
            if in_use.contains(image.id.as_str()) {
                let why = match users.get(image.id.as_str()) {
                    Some(user) => format!("in use by container {user}"),
                    None => "an ancestor of an image in use".to_owned(),
                };
                self.keep(rule, &image.id, &name, why);
                continue;
            }
            if let Some(repo) = kept_by_keep_latest.get(image.id.as_str()) {
                let n = rule.keep_latest.unwrap_or_default();
                self.keep(
                    rule,
                    &image.id,
                    &name,
                    format!("one of the {n} newest images of {repo}"),
                );
                continue;
            }
            let last_used = self.last_used(image);
            let idle = age(self.now, last_used);
            if !rule.matcher.is_unused_long_enough(idle) {
                let minimum = rule.matcher.unused_for.unwrap_or_default();
                self.keep(
                    rule,
                    &image.id,
                    &name,
                    format!(
                        "last used {} ago, not unused for {}",
                        human(idle),
                        human(minimum)
                    ),
                );
                continue;
            }
            let mut reason = if image.is_dangling() {
                "dangling".to_owned()
            } else {
                "not used by any container".to_owned()
            };
            if rule.matcher.unused_for.is_some() {
                let _ = write!(reason, ", last used {} ago", human(idle));
            }
            if rule.keep_latest.is_some() {
                reason.push_str(", older than the newest kept");
            }
            candidates.push((
                image,
                Candidate {
                    key: &image.id,
                    action: PlannedAction {
                        rule: rule.name.clone(),
                        op: Op::RemoveImage {
                            id: image.id.clone(),
                            tags: image.tags.clone(),
                            parent: image.parent_id.clone(),
                        },
                        name,
                        reason,
                        bytes: Some(image.unique_size),
                    },
                    last_used,
                },
            ));
        }

        self.drop_stranded_parents(rule, &mut candidates);
        self.commit(
            rule,
            candidates.into_iter().map(|(_, c)| c).collect(),
            budget,
        );
        // The cap or the target may have held a child back after the parents were chosen:
        // a parent whose child stays must stay too.
        self.unplan_parents_of_kept_children(rule);
    }

    /// Takes back this rule's image removals whose image has a child that stays, repeating
    /// while that strands further parents.
    fn unplan_parents_of_kept_children(&mut self, rule: &Rule) {
        let children = self.children();
        loop {
            let stranded: Vec<usize> = self
                .plan
                .actions
                .iter()
                .enumerate()
                .filter(|(_, a)| a.rule == rule.name && matches!(a.op, Op::RemoveImage { .. }))
                .filter(|(_, a)| {
                    children
                        .get(a.op.id())
                        .is_some_and(|kids| kids.iter().any(|k| !self.removed.contains(k)))
                })
                .map(|(i, _)| i)
                .collect();
            if stranded.is_empty() {
                return;
            }
            for i in stranded.into_iter().rev() {
                let action = self.plan.actions.remove(i);
                self.removed.remove(action.op.id());
                self.acted.remove(action.op.id());
                let kid = children[action.op.id()]
                    .iter()
                    .find(|k| !self.removed.contains(*k))
                    .map_or_else(String::new, |k| short_id(k).to_owned());
                self.keep(
                    rule,
                    action.op.id(),
                    &action.name,
                    format!("parent of image {kid}, which stays"),
                );
            }
        }
    }

    /// A parent goes only if every child goes too (in this plan or earlier). Dropping a
    /// child may strand its parent, so this repeats until nothing changes.
    fn drop_stranded_parents(
        &mut self,
        rule: &Rule,
        candidates: &mut Vec<(&'a Image, Candidate<'a>)>,
    ) {
        let children = self.children();
        let mut going: FxHashSet<&str> = candidates.iter().map(|(i, _)| i.id.as_str()).collect();
        going.extend(self.removed.iter().copied());
        // One pass drops every parent with a child that stays; repeat only while a pass
        // dropped something (a dropped child may strand its own parent): passes are bounded
        // by the depth of the image chains, not by their number.
        loop {
            let mut stranded: Vec<(&'a Image, &'a str)> = Vec::new();
            candidates.retain(|(image, _)| {
                let kid = children
                    .get(image.id.as_str())
                    .and_then(|kids| kids.iter().find(|k| !going.contains(*k)));
                match kid {
                    Some(kid) => {
                        stranded.push((image, kid));
                        false
                    }
                    None => true,
                }
            });
            if stranded.is_empty() {
                break;
            }
            for (image, kid) in stranded {
                going.remove(image.id.as_str());
                self.keep(
                    rule,
                    &image.id,
                    &image.display_name(),
                    format!("parent of image {}, which stays", short_id(kid)),
                );
            }
        }
    }

    fn volumes(&mut self, rule: &Rule) {
        let Some(budget) = self.trigger(rule) else {
            return;
        };
        let Some(volumes) = &self.snapshot.volumes else {
            return;
        };
        let mut users: HashMap<&str, &str> = HashMap::new();
        for c in &self.snapshot.containers {
            if !self.removed.contains(c.id.as_str()) {
                for v in &c.volumes {
                    users.entry(v.as_str()).or_insert(c.name.as_str());
                }
            }
        }
        let named_ok = rule.volumes == Some(VolumeScope::NamedSelected);
        let mut candidates = Vec::new();
        for v in volumes {
            if self.acted.contains(v.name.as_str())
                || (!v.anonymous && !named_ok)
                || !rule.matcher.matches_name(&v.name)
                || !rule.matcher.matches_labels(&v.labels)
            {
                continue;
            }
            let name = if v.anonymous {
                short_id(&v.name).to_owned()
            } else {
                v.name.clone()
            };
            if self.protect.protects_volume(&v.name, &v.labels) {
                self.keep(
                    rule,
                    &v.name,
                    &name,
                    labels_or_pattern(self.protect, &v.labels, "protect.volumes"),
                );
                continue;
            }
            if let Some(user) = users.get(v.name.as_str()) {
                self.keep(rule, &v.name, &name, format!("mounted by container {user}"));
                continue;
            }
            let created = age(self.now, v.created);
            if !rule.matcher.is_old_enough(created) {
                let minimum = rule.matcher.older_than.unwrap_or_default();
                self.keep(
                    rule,
                    &v.name,
                    &name,
                    format!(
                        "created {} ago, not older than {}",
                        human(created),
                        human(minimum)
                    ),
                );
                continue;
            }
            let kind = if v.anonymous {
                "anonymous volume"
            } else {
                "named volume"
            };
            candidates.push(Candidate {
                key: &v.name,
                action: PlannedAction {
                    rule: rule.name.clone(),
                    op: Op::RemoveVolume { id: v.name.clone() },
                    name,
                    reason: format!("{kind} not mounted by any container"),
                    bytes: None,
                },
                last_used: v.created,
            });
        }
        self.commit(rule, candidates, budget);
    }

    fn networks(&mut self, rule: &Rule) {
        let Some(networks) = &self.snapshot.networks else {
            return;
        };
        let mut users: HashMap<&str, &str> = HashMap::new();
        for c in &self.snapshot.containers {
            if !self.removed.contains(c.id.as_str()) {
                for n in &c.networks {
                    users.entry(n.as_str()).or_insert(c.name.as_str());
                }
            }
        }
        let mut candidates = Vec::new();
        for n in networks {
            if self.acted.contains(n.id.as_str())
                || n.scope != "local"
                || !rule.matcher.matches_name(&n.name)
                || !rule.matcher.matches_labels(&n.labels)
            {
                continue;
            }
            if self.protect.protects_network(&n.name, &n.labels) {
                let why = if matches!(n.name.as_str(), "bridge" | "host" | "none") {
                    "a built-in network".to_owned()
                } else {
                    labels_or_pattern(self.protect, &n.labels, "protect.networks")
                };
                self.keep(rule, &n.id, &n.name, why);
                continue;
            }
            if let Some(user) = users.get(n.id.as_str()) {
                self.keep(
                    rule,
                    &n.id,
                    &n.name,
                    format!("container {user} is attached"),
                );
                continue;
            }
            let created = age(self.now, n.created);
            if !rule.matcher.is_old_enough(created) {
                let minimum = rule.matcher.older_than.unwrap_or_default();
                self.keep(
                    rule,
                    &n.id,
                    &n.name,
                    format!(
                        "created {} ago, not older than {}",
                        human(created),
                        human(minimum)
                    ),
                );
                continue;
            }
            candidates.push(Candidate {
                key: &n.id,
                action: PlannedAction {
                    rule: rule.name.clone(),
                    op: Op::RemoveNetwork { id: n.id.clone() },
                    name: n.name.clone(),
                    reason: "no container attached".to_owned(),
                    bytes: None,
                },
                last_used: n.created,
            });
        }
        self.commit(rule, candidates, Budget::Unlimited);
    }

    fn build_cache(&mut self, rule: &Rule) {
        if self.trigger(rule).is_none() || self.acted.contains("build-cache") {
            return;
        }
        let unused_for = rule.matcher.unused_for.or(rule.matcher.older_than);
        let reason = match unused_for {
            Some(d) => format!("build cache unused for {}", human(d)),
            None => "all unused build cache".to_owned(),
        };
        self.acted.insert("build-cache");
        self.plan.actions.push(PlannedAction {
            rule: rule.name.clone(),
            op: Op::PruneBuildCache {
                id: "build-cache".to_owned(),
                unused_for,
            },
            name: "build cache".to_owned(),
            reason,
            bytes: None,
        });
    }

    /// Whether the rule's trigger holds, and how much it may free. `None` means do nothing
    /// (with a note saying why).
    fn trigger(&mut self, rule: &Rule) -> Option<Budget> {
        let Some(trigger) = rule.when else {
            return Some(Budget::Unlimited);
        };
        let disk = self.snapshot.disk.unwrap_or_default();
        match evaluate_trigger(trigger, rule.target, &disk) {
            Ok(Some(budget)) => Some(budget),
            Ok(None) => {
                self.note(
                    rule,
                    format!("not triggered: {}", describe_trigger(trigger, &disk)),
                );
                None
            }
            Err(why) => {
                self.note(rule, format!("not triggered: {why}"));
                None
            }
        }
    }

    /// Applies target, order and cap, and moves candidates into the plan.
    fn commit(&mut self, rule: &Rule, mut candidates: Vec<Candidate<'a>>, budget: Budget) {
        if !matches!(budget, Budget::Unlimited) {
            // Least recently used first; unknown times count as oldest.
            candidates.sort_by(|a, b| {
                a.last_used
                    .cmp(&b.last_used)
                    .then_with(|| a.action.op.id().cmp(b.action.op.id()))
            });
        }
        let mut remaining = match budget {
            Budget::Unlimited => None,
            Budget::Free(bytes) => Some(bytes),
        };
        let cap = rule
            .max_removals
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let mut taken = 0usize;
        let mut capped = 0usize;
        for c in candidates {
            if remaining == Some(0) {
                self.keep(
                    rule,
                    c.action.op.id(),
                    &c.action.name,
                    "the target is reached without it".to_owned(),
                );
                continue;
            }
            if cap.is_some_and(|cap| taken >= cap) {
                capped += 1;
                self.keep(
                    rule,
                    c.action.op.id(),
                    &c.action.name,
                    format!("max_removals ({}) reached", cap.unwrap_or_default()),
                );
                continue;
            }
            if let Some(left) = remaining.as_mut() {
                *left = left.saturating_sub(c.action.bytes.unwrap_or(0));
            }
            taken += 1;
            self.acted.insert(c.key);
            if !matches!(c.action.op, Op::RestartContainer { .. }) {
                self.removed.insert(c.key);
            }
            self.plan.actions.push(c.action);
        }
        if capped > 0 {
            self.note(
                rule,
                format!(
                    "max_removals ({}) reached: {capped} more left for the next run",
                    cap.unwrap_or_default()
                ),
            );
        }
        if let Some(left) = remaining
            && left > 0
            && matches!(budget, Budget::Free(_))
            && rule.target.is_some()
        {
            self.note(
                rule,
                format!(
                    "target not reached: after {taken} removals about {} more would have to be freed",
                    crate::format_bytes(left)
                ),
            );
        }
    }

    fn last_used(&self, image: &Image) -> Option<SystemTime> {
        [
            image.created,
            image.last_tagged,
            self.last_used.get(&image.id),
        ]
        .into_iter()
        .flatten()
        .max()
    }

    /// A container name using each image, for reasons.
    fn image_users(&self) -> FxHashMap<&'a str, &'a str> {
        let mut users = FxHashMap::default();
        for c in &self.snapshot.containers {
            if !self.removed.contains(c.id.as_str()) {
                users.entry(c.image_id.as_str()).or_insert(c.name.as_str());
            }
        }
        users
    }

    /// Children of each image, hidden intermediates included (those never go, so their
    /// parents stay).
    fn children(&self) -> FxHashMap<&'a str, Vec<&'a str>> {
        let mut children: FxHashMap<&str, Vec<&str>> = FxHashMap::default();
        for (image, parent) in self.snapshot.parent_links() {
            children.entry(parent).or_default().push(image);
        }
        children
    }
}

/// How much a triggered rule may free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    /// No target: everything that matches.
    Unlimited,
    /// Until about this many bytes are freed.
    Free(u64),
}

/// `Ok(Some(budget))` when the trigger holds, `Ok(None)` when it does not, `Err` when it
/// cannot be evaluated.
fn evaluate_trigger(
    trigger: Trigger,
    target: Option<Target>,
    disk: &Disk,
) -> Result<Option<Budget>, String> {
    let holds = match trigger {
        Trigger::DiskUsageAbove(limit) => {
            let fs = disk.filesystem.ok_or_else(|| {
                "the disk usage of Docker's root dir is unknown (disk_usage_* needs a daemon on this machine)".to_owned()
            })?;
            limit.is_exceeded_by(fs.used, fs.total)
        }
        Trigger::ImagesSizeAbove(limit) => disk.images_size > limit,
    };
    if !holds {
        return Ok(None);
    }
    let budget = match target {
        None => Budget::Unlimited,
        Some(Target::DiskUsageBelow(goal)) => {
            let fs = disk
                .filesystem
                .ok_or_else(|| "the disk usage of Docker's root dir is unknown".to_owned())?;
            let allowed = u128::from(fs.total) * u128::from(goal.hundredths()) / 10_000;
            // Strictly below the goal: free one byte more than the excess.
            let excess = u128::from(fs.used).saturating_sub(allowed) + 1;
            Budget::Free(u64::try_from(excess).unwrap_or(u64::MAX))
        }
        Some(Target::ImagesSizeBelow(goal)) => {
            Budget::Free(disk.images_size.saturating_sub(goal) + 1)
        }
    };
    Ok(Some(budget))
}

fn describe_trigger(trigger: Trigger, disk: &Disk) -> String {
    match trigger {
        Trigger::DiskUsageAbove(limit) => {
            let fs = disk.filesystem.unwrap_or_default();
            format!(
                "disk usage {} is not above {}%",
                percent(fs.used, fs.total),
                f64::from(limit.hundredths()) / 100.0
            )
        }
        Trigger::ImagesSizeAbove(limit) => format!(
            "images take {}, not more than {}",
            crate::format_bytes(disk.images_size),
            crate::format_bytes(limit)
        ),
    }
}

fn percent(used: u64, total: u64) -> String {
    if total == 0 {
        return "unknown".to_owned();
    }
    #[allow(clippy::cast_precision_loss)] // display only
    let p = used as f64 * 100.0 / total as f64;
    format!("{p:.1}%")
}

/// Images by ID, built once per plan.
struct ImageIndex<'a> {
    by_id: FxHashMap<&'a str, &'a Image>,
}

impl<'a> ImageIndex<'a> {
    fn new(snapshot: &'a Snapshot) -> Self {
        ImageIndex {
            by_id: snapshot.images.iter().map(|i| (i.id.as_str(), i)).collect(),
        }
    }

    /// Every reference that names the container's image: what it was created with and the
    /// image's current tags and digests.
    fn container_refs<'c>(&'c self, c: &'c Container) -> impl Iterator<Item = &'c ImageRef> {
        let image = self.by_id.get(c.image_id.as_str());
        c.image_ref
            .iter()
            .chain(image.into_iter().flat_map(|image| image.refs.iter()))
    }
}

/// The selectors every container rule shares: name, labels, image.
fn container_matches(rule: &Rule, c: &Container, images: &ImageIndex<'_>) -> bool {
    rule.matcher.matches_name(&c.name)
        && rule.matcher.matches_labels(&c.labels)
        && (rule.matcher.images.is_empty() || rule.matcher.matches_image(images.container_refs(c)))
}

/// The cheap selectors of a prune-containers rule: a prunable status, then the shared ones.
fn container_selected(rule: &Rule, c: &Container, images: &ImageIndex<'_>) -> bool {
    c.status()
        .is_some_and(|status| rule.matcher.matches_status(status))
        && container_matches(rule, c, images)
}

/// The selectors of a restart rule: running, then the shared ones.
fn restart_selected(rule: &Rule, c: &Container, images: &ImageIndex<'_>) -> bool {
    c.state == "running" && container_matches(rule, c, images)
}

/// The cheap selectors of a prune-images rule: dangling, references, labels.
fn image_selected(rule: &Rule, image: &Image) -> bool {
    rule.matcher
        .dangling
        .is_none_or(|d| d == image.is_dangling())
        && (rule.matcher.images.is_empty() || rule.matcher.matches_image(&image.refs))
        && rule.matcher.matches_labels(&image.labels)
}

/// The image IDs `keep_latest: n` keeps, with the repository that keeps each.
fn keep_latest(images: &[Image], n: u32) -> FxHashMap<&str, &str> {
    let mut by_repo: BTreeMap<&str, Vec<&Image>> = BTreeMap::new();
    for image in images {
        // Tag references only (digest references have no tag): an image counts once per
        // repository however many tags it has there.
        let mut repos: Vec<&str> = image
            .refs
            .iter()
            .filter(|r| r.tag().is_some())
            .map(ImageRef::repository_str)
            .collect();
        repos.sort_unstable();
        repos.dedup();
        for repo in repos {
            by_repo.entry(repo).or_default().push(image);
        }
    }
    let mut kept = FxHashMap::default();
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    for (repo, mut list) in by_repo {
        // Newest first; ties broken by ID so the choice is deterministic.
        list.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        for image in list.into_iter().take(n) {
            kept.entry(image.id.as_str()).or_insert(repo);
        }
    }
    kept
}

fn container_protected(protect: &Protect, c: &Container, images: &ImageIndex<'_>) -> bool {
    protects_container(protect, c, images.by_id.get(c.image_id.as_str()).copied())
}

/// Whether `protect:` keeps a container from being removed, restarted, stopped or recreated:
/// by name, labels, the image it was created from, or any current reference of its image
/// (`image`, the snapshot's image with the container's image ID). The last matters after a
/// re-pull: the daemon then reports the container's image as a bare ID, and
/// `protect.images: [postgres]` must still keep the old postgres container. The one
/// predicate the planner and the update decisions share.
pub fn protects_container(protect: &Protect, c: &Container, image: Option<&Image>) -> bool {
    protect.protects_container(&c.name, c.image_ref.as_ref(), &c.labels)
        || image.is_some_and(|image| protect.images.iter().any(|p| p.matches_any(&image.refs)))
}

fn container_protection(protect: &Protect, c: &Container, images: &ImageIndex<'_>) -> String {
    if let Some(pattern) = protect.containers.iter().find(|p| p.matches(&c.name)) {
        return format!(
            "protected by protect.containers pattern {:?}",
            pattern.as_str()
        );
    }
    if let Some(pattern) = protect
        .images
        .iter()
        .find(|p| p.matches_any(images.container_refs(c)))
    {
        return format!(
            "its image is protected by protect.images pattern {:?}",
            pattern.as_str()
        );
    }
    labels_or_pattern(protect, &c.labels, "protect.containers")
}

fn image_protection(protect: &Protect, image: &Image) -> String {
    if let Some(pattern) = protect.images.iter().find(|p| p.matches_any(&image.refs)) {
        return format!("protected by protect.images pattern {:?}", pattern.as_str());
    }
    labels_or_pattern(protect, &image.labels, "protect.images")
}

fn labels_or_pattern(protect: &Protect, labels: &HashMap<String, String>, section: &str) -> String {
    if swab_rules::has_protect_label(labels) {
        return format!("protected by label {}", swab_rules::PROTECT_LABEL);
    }
    if let Some(selector) = protect.labels.iter().find(|s| s.matches(labels)) {
        return format!("protected by protect.labels selector {selector}");
    }
    format!("protected by {section}")
}

/// A duration in at most two units: `3h 12m`, `5d 2h`, `40s`.
pub fn human(d: Duration) -> String {
    const UNITS: [(u64, &str); 5] = [
        (7 * 86_400, "w"),
        (86_400, "d"),
        (3_600, "h"),
        (60, "m"),
        (1, "s"),
    ];
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut parts = Vec::new();
    for (size, unit) in UNITS {
        if secs >= size {
            parts.push(format!("{}{unit}", secs / size));
            secs %= size;
            if parts.len() == 2 {
                break;
            }
        } else if !parts.is_empty() {
            break;
        }
    }
    parts.join(" ")
}

/// Protect patterns that match nothing on the host: a typo in a safety net fails silently
/// otherwise (`postgress:*` protects nothing). Volume and network patterns are checked only
/// when the snapshot lists volumes or networks.
pub fn unmatched_protect_patterns(snapshot: &Snapshot, protect: &Protect) -> Vec<String> {
    let mut out = Vec::new();
    for pattern in &protect.images {
        let used_by_container = snapshot
            .containers
            .iter()
            .filter_map(|c| c.image_ref.as_ref())
            .any(|r| pattern.matches(r));
        if !used_by_container && !snapshot.images.iter().any(|i| pattern.matches_any(&i.refs)) {
            out.push(format!(
                "protect.images pattern {:?} matches no image on this host",
                pattern.as_str()
            ));
        }
    }
    for pattern in &protect.containers {
        if !snapshot.containers.iter().any(|c| pattern.matches(&c.name)) {
            out.push(format!(
                "protect.containers pattern {:?} matches no container on this host",
                pattern.as_str()
            ));
        }
    }
    if let Some(volumes) = &snapshot.volumes {
        for pattern in &protect.volumes {
            if !volumes.iter().any(|v| pattern.matches(&v.name)) {
                out.push(format!(
                    "protect.volumes pattern {:?} matches no volume on this host",
                    pattern.as_str()
                ));
            }
        }
    }
    if let Some(networks) = &snapshot.networks {
        for pattern in &protect.networks {
            if !networks.iter().any(|n| pattern.matches(&n.name)) {
                out.push(format!(
                    "protect.networks pattern {:?} matches no network on this host",
                    pattern.as_str()
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule a user named `protect` is a rule: its notes are its own, and the JSON says so.
    #[test]
    fn note_scopes_are_never_confused_with_rule_names() {
        let rule_named_protect = Note::rule("protect", "not triggered".to_owned());
        let section = Note {
            scope: NoteScope::Protect,
            message: "pattern matches nothing".to_owned(),
        };
        assert!(rule_named_protect.is_about_rule("protect"));
        assert!(!section.is_about_rule("protect"));
        assert_eq!(
            serde_json::to_value(&rule_named_protect).unwrap(),
            serde_json::json!({"rule": "protect", "scope": "rule", "message": "not triggered"})
        );
        assert_eq!(
            serde_json::to_value(&section).unwrap(),
            serde_json::json!({"rule": "protect", "scope": "protect", "message": "pattern matches nothing"})
        );
        let recovery = Note {
            scope: NoteScope::Recovery,
            message: "undid".to_owned(),
        };
        assert_eq!(
            serde_json::to_value(&recovery).unwrap()["scope"],
            "recovery"
        );
        assert_eq!(ActionKind::RecreateContainer.as_str(), "recreate_container");
        assert_eq!(
            serde_json::to_value(ActionKind::PruneBuildCache).unwrap(),
            "prune_build_cache"
        );
    }
}
