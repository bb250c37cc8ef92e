//! Which image references `update` rules keep fresh, and what is local for each. Pure: the
//! registry look-ups happen in the caller (`swab updates`, later the update executor).
//!
//! A reference is checked when a running container matched by an update rule was created
//! from it, or when a local image tagged with it matches the rule's `match.images` (images
//! kept fresh without containers). Protected containers and images are left out; references
//! pinned by digest are reported as pinned and never checked; containers created from a bare
//! image ID have no reference to check.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use swab_reference::manifest::RemoteDigest;
use swab_rules::{Action, ComposeFile, ImageRef, Protect, Rule, Tracking};

use crate::hooks::{self, ContainerHooks, Hook, Phase};
use crate::memory::{FirstSeen, Noticed, RolledBackDigests};
use crate::plan::{self, Kept, Note};
use crate::snapshot::{Container, Image, Snapshot};
use crate::track::{self, Pick};
use crate::window;

/// One reference to ask the registry about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateCheck {
    /// The normalized reference.
    pub reference: ImageRef,
    /// The rules that cover it.
    pub rules: Vec<String>,
    /// Names of the running containers created from it.
    pub containers: Vec<String>,
    /// The local image the tag points to now, if any.
    pub local_image: Option<String>,
    /// That image's `RepoDigests`.
    pub local_digests: Vec<String>,
    /// The digests of its platform manifests, for a multi-platform image on the containerd
    /// store ([`Image::platform_digests`]).
    pub local_platform_digests: Vec<String>,
    /// The first rule's `track:`: newer version tags are looked for, not just a new digest
    /// of this one.
    pub track: Option<Tracking>,
}

impl UpdateCheck {
    /// Whether the registry's answer is newer than the local image: neither the index (or
    /// manifest) digest nor, for a multi-platform image, the entry for this platform is one
    /// the local image has. See [`RemoteDigest::is_update_of`].
    pub fn is_outdated_by(&self, remote: &RemoteDigest) -> bool {
        let local: Vec<&String> = self
            .local_digests
            .iter()
            .chain(&self.local_platform_digests)
            .collect();
        remote.is_update_of(&local)
    }
}

/// What the update rules cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateChecks {
    /// References to look up, sorted by their familiar name.
    pub checks: Vec<UpdateCheck>,
    /// References pinned by digest, with their containers: never updated.
    pub pinned: Vec<(String, Vec<String>)>,
}

/// Collects the references `rules` (the `update` ones among them) keep fresh.
pub fn collect(snapshot: &Snapshot, rules: &[&Rule], protect: &Protect) -> UpdateChecks {
    let mut checks: BTreeMap<String, UpdateCheck> = BTreeMap::new();
    let mut pinned: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let images_by_id: std::collections::HashMap<&str, &Image> =
        snapshot.images.iter().map(|i| (i.id.as_str(), i)).collect();
    // Rules with `services:` update Swarm services (crate::services), never containers;
    // and no container rule touches a Swarm task.
    let container_rules = rules.iter().filter(|r| {
        r.action == Action::Update && r.update.as_ref().is_none_or(|u| u.services.is_none())
    });
    for rule in container_rules {
        for c in snapshot
            .containers
            .iter()
            .filter(|c| c.is_active() && !c.is_swarm_task())
        {
            let Some(reference) = &c.image_ref else {
                continue;
            };
            let image_refs = images_by_id
                .get(c.image_id.as_str())
                .map(|i| i.refs.as_slice())
                .unwrap_or_default();
            let selected = rule.matcher.matches_name(&c.name)
                && rule.matcher.matches_labels(&c.labels)
                && (rule.matcher.images.is_empty()
                    || rule
                        .matcher
                        .matches_image(std::iter::once(reference).chain(image_refs)));
            let protected = plan::protects_container(
                protect,
                c,
                images_by_id.get(c.image_id.as_str()).copied(),
            );
            if !selected || protected {
                continue;
            }
            if reference.digest().is_some() {
                pinned
                    .entry(reference.familiar())
                    .or_default()
                    .push(c.name.clone());
                continue;
            }
            let entry = entry(&mut checks, reference, snapshot);
            push_unique(&mut entry.rules, &rule.name);
            push_unique(&mut entry.containers, &c.name);
        }
        if rule.matcher.images.is_empty() {
            continue;
        }
        for image in &snapshot.images {
            if protect.protects_image(&image.refs, &image.labels)
                || !rule.matcher.matches_labels(&image.labels)
            {
                continue;
            }
            for reference in image
                .refs
                .iter()
                .filter(|r| r.tag().is_some() && r.digest().is_none())
            {
                if rule.matcher.images.iter().any(|p| p.matches(reference)) {
                    let entry = entry(&mut checks, reference, snapshot);
                    push_unique(&mut entry.rules, &rule.name);
                }
            }
        }
    }
    let mut checks: Vec<UpdateCheck> = checks.into_values().collect();
    for check in &mut checks {
        check.track = check
            .rules
            .first()
            .and_then(|name| rules.iter().find(|r| &r.name == name))
            .and_then(|r| r.update.as_ref())
            .and_then(|u| u.track.clone());
    }
    UpdateChecks {
        checks,
        pinned: pinned.into_iter().collect(),
    }
}

/// A `pre-check` or `post-check` hook to run in a container an update rule selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckHook {
    /// The rule whose options apply (the first covering the reference).
    pub rule: String,
    /// The container's ID (at planning time).
    pub id: String,
    /// The container's name (what a post-check looks it up by: the update may have
    /// replaced it).
    pub name: String,
    /// What to run.
    pub hook: Hook,
}

/// The `phase` hooks (`pre-check` or `post-check`) of the running containers `checks`
/// selected, in reference and container order. A container whose hook labels are wrong
/// runs none (its reference is kept with why by [`plan_updates`]); swab's own container
/// runs none either.
pub fn check_hooks(
    checks: &UpdateChecks,
    snapshot: &Snapshot,
    rules: &[&Rule],
    phase: Phase,
) -> Vec<CheckHook> {
    let mut out = Vec::new();
    for check in &checks.checks {
        let Some(options) = check
            .rules
            .first()
            .and_then(|name| rules.iter().find(|r| &r.name == name))
            .and_then(|r| r.update.as_ref())
        else {
            continue;
        };
        for name in &check.containers {
            let Some(c) = snapshot.containers.iter().find(|c| &c.name == name) else {
                continue;
            };
            if !c.is_active() || snapshot.own_containers.contains(&c.id) {
                continue;
            }
            let Ok(hooks) = hooks::for_container(&options.hooks, &c.labels) else {
                continue;
            };
            if let Some(hook) = hooks.get(phase) {
                out.push(CheckHook {
                    rule: check.rules[0].clone(),
                    id: c.id.clone(),
                    name: c.name.clone(),
                    hook: hook.clone(),
                });
            }
        }
    }
    out
}

/// One reference to update: what the executor needs, decided from the snapshot, the
/// registry's answer and swab's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateGroup {
    /// The first rule covering the reference: its options apply.
    pub rule: String,
    /// The reference to pull.
    pub reference: ImageRef,
    /// The image the reference names locally now (restored on rollback).
    pub old_image: String,
    /// The registry's digest for the reference (for [`UpdateGroup::target`] when tracking).
    pub remote_digest: String,
    /// Tag tracking: the newer tag the containers move to. It is what is pulled and tagged;
    /// the reference's own tag stays on the old image. `None` for a new digest of the same
    /// tag.
    pub target: Option<ImageRef>,
    /// The image the target tag names locally before the update (it is put back on
    /// rollback); `None` when it names none (then it is removed again).
    pub target_before: Option<String>,
    /// Whether the Compose services among the containers get their compose file edited to
    /// the target tag (`compose_file: write`); tracking only.
    pub compose_write: bool,
    /// With `compose_write`: the Compose services among the units' containers, each once.
    pub compose: Vec<ComposeService>,
    /// The full rollback tag (`repo:tag-swab-previous`), unless the rule keeps none.
    pub rollback_tag: Option<String>,
    /// The image the rollback tag names now, which it is moved away from.
    pub displaced: Option<String>,
    /// With `cleanup: true`, the image to remove once the update is done and nothing uses
    /// it: the one the rollback tag moves away from, or the old image without rollback tag.
    pub cleanup: Option<String>,
    /// How long each replacement must stay healthy.
    pub health_timeout: Duration,
    /// Grace period for stops; `None` is the container's own `StopTimeout`.
    pub stop_timeout: Option<Duration>,
    /// The containers to recreate on the new image, in dependency order.
    pub units: Vec<Unit>,
    /// The lifecycle hooks of the units' containers, by container name; only containers
    /// with at least one hook are listed.
    pub hooks: Vec<(String, ContainerHooks)>,
}

impl UpdateGroup {
    /// The tag the pull moves: the target when tracking, else the reference.
    pub fn moved_tag(&self) -> &ImageRef {
        self.target.as_ref().unwrap_or(&self.reference)
    }

    /// The hook for `phase` in the container named `name`, if any.
    pub fn hook(&self, name: &str, phase: Phase) -> Option<&Hook> {
        self.hooks
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, h)| h.get(phase))
    }

    /// What a failed `post-update` hook in `name` does.
    pub fn on_hook_failure(&self, name: &str) -> swab_rules::HookFailure {
        self.hooks
            .iter()
            .find(|(n, _)| n == name)
            .map_or(swab_rules::HookFailure::Rollback, |(_, h)| h.on_failure)
    }
}

/// A Compose service, as its containers' labels name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeService {
    /// The project (`com.docker.compose.project`).
    pub project: String,
    /// The service (`com.docker.compose.service`).
    pub service: String,
    /// The compose files, in the order Compose read them
    /// (`com.docker.compose.project.config_files`).
    pub files: Vec<String>,
    /// The project directory (`com.docker.compose.project.working_dir`).
    pub working_dir: String,
}

impl ComposeService {
    /// The service a container belongs to, if Compose created it.
    pub fn of(labels: &std::collections::HashMap<String, String>) -> Option<ComposeService> {
        Some(ComposeService {
            project: labels.get(COMPOSE_PROJECT)?.clone(),
            service: labels.get(COMPOSE_SERVICE)?.clone(),
            files: labels
                .get("com.docker.compose.project.config_files")?
                .split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
            working_dir: labels
                .get("com.docker.compose.project.working_dir")
                .cloned()
                .unwrap_or_default(),
        })
    }
}

/// A container to recreate, with the containers that must move with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The container itself.
    pub container: Target,
    /// Containers sharing its network stack (`network_mode: container:<it>`): recreated
    /// (on their own image) against the replacement, since they are bound to the old ID.
    pub network_dependents: Vec<Target>,
    /// Running containers that depend on it, stopped before it and started after it:
    /// Compose services whose `com.docker.compose.depends_on` names its service, and
    /// containers whose Watchtower label `com.centurylinklabs.watchtower.depends-on` names
    /// it.
    pub compose_dependents: Vec<Target>,
}

/// A container, by ID and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Full ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Whether it is running (or paused or restarting) now.
    pub running: bool,
    /// The signal to stop it with instead of its own `StopSignal`: Watchtower's
    /// `com.centurylinklabs.watchtower.stop-signal` label, honoured for those who move over.
    pub stop_signal: Option<String>,
}

/// Watchtower's label for the signal a container is stopped with.
pub const WATCHTOWER_STOP_SIGNAL: &str = "com.centurylinklabs.watchtower.stop-signal";
/// Watchtower's label naming the containers (comma-separated) a container depends on.
pub const WATCHTOWER_DEPENDS_ON: &str = "com.centurylinklabs.watchtower.depends-on";

impl Target {
    fn of(c: &Container) -> Target {
        Target {
            id: c.id.clone(),
            name: c.name.clone(),
            running: c.is_active(),
            stop_signal: c
                .labels
                .get(WATCHTOWER_STOP_SIGNAL)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
        }
    }
}

/// The registry's answer for a reference; errors as text, so planning stays pure.
pub type Answer = Result<RemoteDigest, String>;

/// The registry's tag list for a tracked reference's repository; errors as text.
pub type TagList = Result<Vec<String>, String>;

/// What the registries said about a set of checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    /// The digest of each reference asked about: the checks' own, and the tags tracking
    /// moves to.
    pub digests: Vec<(ImageRef, Answer)>,
    /// The tag list for each tracked check's reference.
    pub tags: Vec<(ImageRef, TagList)>,
}

impl Answers {
    /// The registry's digest for `reference`, or why there is none.
    pub fn digest(&self, reference: &ImageRef) -> Result<&RemoteDigest, String> {
        match self
            .digests
            .iter()
            .find(|(r, _)| r == reference)
            .map(|(_, a)| a)
        {
            Some(Ok(remote)) => Ok(remote),
            Some(Err(why)) => Err(why.clone()),
            None => Err("the registry was not asked".to_owned()),
        }
    }

    /// The tag list asked for `reference`'s repository, if it was asked.
    pub fn tags(&self, reference: &ImageRef) -> Option<&TagList> {
        self.tags
            .iter()
            .find(|(r, _)| r == reference)
            .map(|(_, t)| t)
    }
}

/// Where tag tracking moves a tracked check, given its repository's tags: the reference
/// of the highest allowed version above the current one. `None` for an untracked check,
/// one without a tag list, or one already on the highest allowed version.
pub fn tracking_target(check: &UpdateCheck, tags: &[String]) -> Option<ImageRef> {
    let track = check.track.as_ref()?;
    match track::pick(check.reference.tag()?, tags, track) {
        Pick::Newer(tag) => check.reference.with_tag(&tag),
        Pick::UpToDate | Pick::NotAVersion => None,
    }
}

/// What a check's answers ask for.
#[derive(Debug)]
pub enum Wanted<'a> {
    /// Move to another tag (tag tracking), whose digest is this; with the newer versions
    /// tracking does not allow, for the report.
    Tag(ImageRef, &'a RemoteDigest, Vec<String>),
    /// The same tag, whose digest the registry now gives as this (maybe the local one).
    /// With `newer`: newer versions tracking does not allow, for the report.
    Digest(&'a RemoteDigest, Vec<String>),
    /// Nothing to do, with why.
    Keep(String),
}

/// What `check`'s answers ask for; an error when a look-up failed.
pub fn wanted<'a>(check: &UpdateCheck, answers: &'a Answers) -> Result<Wanted<'a>, String> {
    let mut not_allowed = Vec::new();
    if let (Some(track), Some(tag)) = (&check.track, check.reference.tag()) {
        let tags = match answers.tags(&check.reference) {
            Some(Ok(tags)) => tags,
            Some(Err(why)) => return Err(format!("cannot list the repository's tags: {why}")),
            None => return Err("the registry's tags were not asked".to_owned()),
        };
        match track::pick(tag, tags, track) {
            Pick::Newer(newer) => {
                let Some(target) = check.reference.with_tag(&newer) else {
                    return Ok(Wanted::Keep(format!(
                        "the registry lists `{newer}`, not a tag"
                    )));
                };
                let remote = answers.digest(&target)?;
                let not_allowed = track::not_allowed(tag, tags, track);
                return Ok(Wanted::Tag(target, remote, not_allowed));
            }
            Pick::NotAVersion => {
                return Ok(Wanted::Keep(format!(
                    "tag `{tag}` is not a version{}: `track: semver` cannot follow it",
                    track
                        .tag_pattern
                        .as_ref()
                        .map(|p| format!(" under tag_pattern `{}`", p.0.as_str()))
                        .unwrap_or_default()
                )));
            }
            Pick::UpToDate => not_allowed = track::not_allowed(tag, tags, track),
        }
    }
    Ok(Wanted::Digest(
        answers.digest(&check.reference)?,
        not_allowed,
    ))
}

/// What to update, and what not and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdatePlan {
    /// References to update, in reference order.
    pub groups: Vec<UpdateGroup>,
    /// References checked and left alone, with why.
    pub kept: Vec<Kept>,
    /// References that could not be checked: `(rule, reference, error)`. A failure of the run.
    pub failed: Vec<(String, String, String)>,
    /// Rule-level remarks (the `max_removals` cap).
    pub notes: Vec<Note>,
    /// New digests `notify_only` rules tell about (each once).
    pub notices: Vec<Notice>,
    /// Pull rate limits the registries reported while checking, by registry host.
    pub rate_limits: BTreeMap<String, crate::report::RegistryLimit>,
    /// Registry requests tried again while checking.
    pub registry_retries: u64,
    /// Swarm services (rules with `services:`).
    pub services: crate::services::ServicePlan,
}

/// A new image a `notify_only` rule tells about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Notice {
    /// The rule.
    pub rule: String,
    /// The reference (familiar form).
    pub reference: String,
    /// Tag tracking: the newer tag (familiar form) the digest is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The registry's new digest.
    pub digest: String,
    /// The containers running the reference that the rule selects.
    pub containers: Vec<String>,
    /// When a cooldown or back-off would let an update rule adopt it (RFC 3339).
    pub eligible_at: Option<String>,
    /// The whole notice in words.
    pub text: String,
}

/// Decides the updates: for each checked reference, the registry's answer against the
/// local image, the `rolled_back` digests, and the rule's cap.
///
/// A reference is updated when the registry has a digest the local image does not carry,
/// the digest is not one whose update was rolled back, and the local image came from a
/// registry at all (an image without `RepoDigests` was built or loaded here: replacing it
/// with whatever the registry has could throw away a local build, so it is kept).
pub fn plan_updates(
    checks: &UpdateChecks,
    answers: &Answers,
    snapshot: &Snapshot,
    rules: &[&Rule],
    protect: &Protect,
    memory: &UpdateMemory<'_>,
) -> UpdatePlan {
    let mut out = UpdatePlan::default();
    let mut used: BTreeMap<&str, u64> = BTreeMap::new();
    for check in &checks.checks {
        let Some(rule) = check
            .rules
            .first()
            .and_then(|name| rules.iter().find(|r| &r.name == name))
        else {
            continue;
        };
        let familiar = check.reference.familiar();
        let Some(old_image) = replaceable(&mut out, &rule.name, check) else {
            continue;
        };
        let Some((target, remote)) = newer(&mut out, &rule.name, check, answers) else {
            continue;
        };
        let options = options_of(rule);
        if options.notify_only {
            notice(
                &mut out,
                rule,
                (&options, target.as_ref()),
                check,
                remote,
                memory,
            );
            continue;
        }
        if let Some((why, at)) = held_back(&familiar, remote, &options, memory) {
            keep(&mut out, &rule.name, check, why).eligible_at = at.map(rfc3339);
            continue;
        }
        let units = units(snapshot, &check.containers);
        let Some(units) = leave_own_container(&rule.name, units, snapshot, &mut out.kept) else {
            continue;
        };
        if let Some(why) = protected_dependent(&units, snapshot, protect) {
            keep(&mut out, &rule.name, check, why);
            continue;
        }
        if let Some(target) = &target
            && options.compose_file == ComposeFile::Refuse
            && let Some(why) = compose_refusal(&units, snapshot, target)
        {
            keep(&mut out, &rule.name, check, why);
            continue;
        }
        let count = units
            .iter()
            .map(|u| 1 + u.network_dependents.len() as u64)
            .sum::<u64>();
        let so_far = used.entry(rule.name.as_str()).or_default();
        if let Some(cap) = rule.max_removals
            && *so_far + count > cap
            && count > 0
        {
            keep(
                &mut out,
                &rule.name,
                check,
                format!("max_removals ({cap}) reached: left for the next run"),
            );
            continue;
        }
        let group = match group_for(rule, check, (old_image, target), remote, units, snapshot) {
            Ok(group) => group,
            Err(why) => {
                let why = format!("not updated, a hook label is wrong: {why}");
                keep(&mut out, &rule.name, check, why);
                continue;
            }
        };
        let needs = worst_case(&group);
        if let Some((why, at)) = window::hold_update(&rule.windows, memory.now, needs) {
            keep(&mut out, &rule.name, check, why).eligible_at = at.map(rfc3339);
            continue;
        }
        *so_far += count;
        out.kept.extend(left_on_the_old_image(
            &rule.name,
            check,
            &group.units,
            snapshot,
        ));
        out.groups.push(group);
    }
    out
}

/// Why a tag-tracking update leaves `units` alone when the rule keeps compose files as they
/// are: a Compose service among them would go back to the tag its file names on the next
/// `compose up`.
fn compose_refusal(units: &[Unit], snapshot: &Snapshot, target: &ImageRef) -> Option<String> {
    let services: Vec<String> = units
        .iter()
        .filter_map(|u| snapshot.containers.iter().find(|c| c.id == u.container.id))
        .filter_map(|c| {
            let project = c.labels.get(COMPOSE_PROJECT)?;
            let service = c.labels.get(COMPOSE_SERVICE).map_or("?", String::as_str);
            Some(format!("{project}/{service}"))
        })
        .collect();
    let first = services.first()?;
    Some(format!(
        "{} is available, but {first} is a Compose service whose compose file names the \
         current tag: the next `compose up` would go back to it. Not updated; set \
         `compose_file: write` on the rule to let swab edit the file",
        target.familiar()
    ))
}

/// The label Compose names a container's project in.
pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
/// The label Compose names a container's service in.
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";

/// The local image `check`'s tag names, if it came from a registry; otherwise kept, with
/// why (none here, or built or loaded here: replacing a local build with whatever the
/// registry has could throw it away).
fn replaceable<'a>(out: &mut UpdatePlan, rule: &str, check: &'a UpdateCheck) -> Option<&'a String> {
    let Some(old_image) = &check.local_image else {
        let why = "no local image has this tag; pull it first";
        keep(out, rule, check, why.to_owned());
        return None;
    };
    if check.local_digests.is_empty() {
        let why = "the local image was built or loaded here (no registry digest); not replaced";
        keep(out, rule, check, why.to_owned());
        return None;
    }
    Some(old_image)
}

/// What is newer than the local image for `check`: the tag tracking moves to, or a new
/// digest of the same tag, with its registry digest. `None` when there is nothing (up to
/// date, or not followed: kept with why) or the look-up failed (recorded as failed).
fn newer<'a>(
    out: &mut UpdatePlan,
    rule: &str,
    check: &UpdateCheck,
    answers: &'a Answers,
) -> Option<(Option<ImageRef>, &'a RemoteDigest)> {
    match wanted(check, answers) {
        Ok(Wanted::Tag(target, remote, _)) => Some((Some(target), remote)),
        Ok(Wanted::Digest(remote, not_allowed)) if !check.is_outdated_by(remote) => {
            let mut why = "up to date".to_owned();
            if let (Some(newest), Some(track)) = (not_allowed.first(), &check.track) {
                let _ = write!(
                    why,
                    " within {}; {newest} is available, not allowed",
                    track.constraint
                );
            }
            keep(out, rule, check, why);
            None
        }
        Ok(Wanted::Digest(remote, _)) => Some((None, remote)),
        Ok(Wanted::Keep(why)) => {
            keep(out, rule, check, why);
            None
        }
        Err(why) => {
            out.failed
                .push((rule.to_owned(), check.reference.familiar(), why));
            None
        }
    }
}

/// Takes swab's own container out of `units`, keeping it with why; `None` when it was the
/// only one (then nothing is pulled for it either).
fn leave_own_container(
    rule: &str,
    units: Vec<Unit>,
    snapshot: &Snapshot,
    kept: &mut Vec<Kept>,
) -> Option<Vec<Unit>> {
    let (own, units): (Vec<Unit>, Vec<Unit>) = units
        .into_iter()
        .partition(|u| snapshot.own_containers.contains(&u.container.id));
    for unit in &own {
        kept.push(Kept {
            eligible_at: None,
            rule: rule.to_owned(),
            id: unit.container.id.clone(),
            name: unit.container.name.clone(),
            reason: crate::own::reason(snapshot).to_owned(),
        });
    }
    (own.is_empty() || !units.is_empty()).then_some(units)
}

/// The longest `group` can take once started (see [`window::worst_case`]): each container
/// and network dependent stopped and gated, each hook run to its timeout.
fn worst_case(group: &UpdateGroup) -> Duration {
    let containers = group
        .units
        .iter()
        .map(|u| 1 + u.network_dependents.len())
        .sum::<usize>();
    let hooks = group
        .hooks
        .iter()
        .flat_map(|(_, h)| [h.get(Phase::PreUpdate), h.get(Phase::PostUpdate)])
        .flatten()
        .map(|h| h.timeout)
        .sum::<Duration>();
    let stop = group.stop_timeout.unwrap_or(Duration::from_secs(10));
    window::worst_case(containers, stop, group.health_timeout, hooks)
}

/// A `notify_only` rule's outdated reference: kept, and told about once per digest, with
/// when the rule's cooldown, back-off or window would let an update rule adopt it.
pub(crate) fn notice(
    out: &mut UpdatePlan,
    rule: &Rule,
    (options, target): (&swab_rules::UpdateOptions, Option<&ImageRef>),
    check: &UpdateCheck,
    remote: &RemoteDigest,
    memory: &UpdateMemory<'_>,
) {
    let familiar = check.reference.familiar();
    let held = held_back(&familiar, remote, options, memory);
    let pending = window::closed_reason(&rule.windows, memory.now);
    let what = match target {
        Some(target) => format!("{} ({})", target.familiar(), short_digest(&remote.digest)),
        None => short_digest(&remote.digest),
    };
    let reason = match target {
        Some(_) => format!("{what}: notify_only, never applied"),
        None => format!("new digest {what}: notify_only, never applied"),
    };
    let eligible_at = held.as_ref().and_then(|(_, at)| *at).map(rfc3339);
    keep(out, &rule.name, check, reason)
        .eligible_at
        .clone_from(&eligible_at);
    if memory.noticed.has(&familiar, &remote.digest) {
        return;
    }
    let mut text = format!("new image for {familiar}: {what} on the registry");
    if let Some(local) = check.local_digests.first() {
        let _ = write!(text, " (here: {})", short_digest(local));
    }
    if !check.containers.is_empty() {
        let _ = write!(text, ", used by {}", check.containers.join(", "));
    }
    match (held, pending) {
        (Some((why, _)), _) => {
            let _ = write!(text, "; held back: {why}");
        }
        (None, Some(why)) => {
            let _ = write!(text, "; {why}");
        }
        (None, None) => text.push_str("; eligible now"),
    }
    out.notices.push(Notice {
        rule: rule.name.clone(),
        reference: familiar,
        target: target.map(ImageRef::familiar),
        digest: remote.digest.clone(),
        containers: check.containers.clone(),
        eligible_at,
        text,
    });
}

/// Keeps a checked reference, with why; returns the entry.
fn keep<'a>(
    out: &'a mut UpdatePlan,
    rule: &str,
    check: &UpdateCheck,
    reason: String,
) -> &'a mut Kept {
    out.kept.push(Kept {
        rule: rule.to_owned(),
        id: check.reference.familiar(),
        name: check.reference.familiar(),
        reason,
        eligible_at: None,
    });
    let last = out.kept.len() - 1;
    &mut out.kept[last]
}

/// What swab remembers that update decisions read, and the time they are made at.
#[derive(Debug, Clone, Copy)]
pub struct UpdateMemory<'a> {
    /// Digests whose update failed, with their attempts.
    pub rolled_back: &'a RolledBackDigests,
    /// When each reference's newer digest was first seen (the cooldown's start).
    pub first_seen: &'a FirstSeen,
    /// The digests notices were sent for.
    pub noticed: &'a Noticed,
    /// Now.
    pub now: SystemTime,
}

/// A rule's update options (the defaults for a rule that has none, which only tests make).
pub fn options_of(rule: &Rule) -> swab_rules::UpdateOptions {
    rule.update.clone().unwrap_or(swab_rules::UpdateOptions {
        rollback_tag: Some(swab_rules::RollbackTag::default_template()),
        health_timeout: Duration::from_secs(60),
        cleanup: false,
        hooks: swab_rules::Hooks::default(),
        min_age: None,
        retry_after: swab_rules::default_retry_after(),
        max_attempts: None,
        notify_only: false,
        track: None,
        compose_file: swab_rules::ComposeFile::Refuse,
        services: None,
    })
}

/// Why the registry's digest is not adopted now, and when it will be (if ever): its update
/// failed before and the back-off has not run out (or `max_attempts` were used up), or it
/// is younger than the rule's cooldown.
pub fn held_back(
    reference: &str,
    remote: &RemoteDigest,
    options: &swab_rules::UpdateOptions,
    memory: &UpdateMemory<'_>,
) -> Option<(String, Option<SystemTime>)> {
    let now = memory.now;
    if let Some(bad) = memory.rolled_back.get(reference) {
        let new = remote.platform_digest.as_deref().unwrap_or(&remote.digest);
        if bad.digest == remote.digest || bad.digest == new {
            let failed = format!(
                "update to {} failed {} and was rolled back ({})",
                short_digest(&bad.digest),
                times(bad.attempts),
                bad.reason
            );
            match bad.retry_at(&options.retry_after, options.max_attempts) {
                None if bad.by_hand => {
                    return Some((
                        format!(
                            "{} was rolled back by hand ({}): waiting for a newer digest",
                            short_digest(&bad.digest),
                            bad.reason
                        ),
                        None,
                    ));
                }
                None => {
                    return Some((
                        format!("{failed}; not retried (max_attempts): waiting for a newer digest"),
                        None,
                    ));
                }
                Some(at) if now < at => {
                    let wait = at.duration_since(now).unwrap_or_default();
                    return Some((format!("{failed}; retried in {}", in_words(wait)), Some(at)));
                }
                Some(_) => {}
            }
        }
    }
    let min_age = options.min_age?;
    let first = memory
        .first_seen
        .get(reference, &remote.digest)
        .unwrap_or(now);
    let eligible = first + min_age;
    (now < eligible).then(|| {
        let wait = eligible.duration_since(now).unwrap_or_default();
        (
            format!(
                "new digest {}, eligible in {} (min_age {}, first seen {})",
                short_digest(&remote.digest),
                in_words(wait),
                swab_rules::units::format_duration(min_age),
                rfc3339(first)
            ),
            Some(eligible),
        )
    })
}

/// `once`, `2 times`.
fn times(n: u32) -> String {
    if n == 1 {
        "once".to_owned()
    } else {
        format!("{n} times")
    }
}

/// A wait in words, rounded up to the minute: `2d 4h 1m`.
fn in_words(wait: Duration) -> String {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    swab_rules::units::format_duration(Duration::from_secs(minutes * 60))
}

/// RFC 3339 in UTC, to the second.
pub fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What a check's answers mean for the cooldown's record: `(reference, Some(digest))` for a
/// reference whose registry digest is newer than the local image, or whose tracking found
/// a newer tag (that tag's digest), `(reference, None)` for one that is up to date. Failed
/// look-ups say nothing.
pub fn observations(checks: &UpdateChecks, answers: &Answers) -> Vec<(String, Option<String>)> {
    checks
        .checks
        .iter()
        .filter(|c| c.local_image.is_some() && !c.local_digests.is_empty())
        .filter_map(|check| {
            let digest = match wanted(check, answers).ok()? {
                Wanted::Tag(_, remote, _) => Some(remote.digest.clone()),
                Wanted::Digest(remote, _) => {
                    check.is_outdated_by(remote).then(|| remote.digest.clone())
                }
                Wanted::Keep(_) => None,
            };
            Some((check.reference.familiar(), digest))
        })
        .collect()
}

/// Running containers of an updated reference that no rule selected (and that do not move
/// with a selected one): they stay on the old image, and the report says so. A Compose
/// service among them is recreated by Compose's next `up`, since the tag it names has moved.
fn left_on_the_old_image(
    rule: &str,
    check: &UpdateCheck,
    units: &[Unit],
    snapshot: &Snapshot,
) -> Vec<Kept> {
    let moved = |id: &str| {
        units.iter().any(|u| {
            u.container.id == id
                || u.network_dependents.iter().any(|d| d.id == id)
                || u.compose_dependents.iter().any(|d| d.id == id)
        })
    };
    snapshot
        .containers
        .iter()
        .filter(|c| c.is_active() && c.image_ref.as_ref() == Some(&check.reference))
        .filter(|c| !check.containers.contains(&c.name) && !moved(&c.id))
        .map(|c| {
            let mut reason = format!(
                "runs {} too, but no update rule selects it: left on the old image",
                check.reference.familiar()
            );
            if c.labels.contains_key("com.docker.compose.project") {
                reason.push_str(
                    "; Compose will recreate it on its next `up`, as the tag names the new image",
                );
            }
            Kept {
                eligible_at: None,
                rule: rule.to_owned(),
                id: c.id.clone(),
                name: c.name.clone(),
                reason,
            }
        })
        .collect()
}

/// The group for an outdated reference: the rule's options resolved against the snapshot.
fn group_for(
    rule: &Rule,
    check: &UpdateCheck,
    (old_image, target): (&str, Option<ImageRef>),
    remote: &RemoteDigest,
    units: Vec<Unit>,
    snapshot: &Snapshot,
) -> Result<UpdateGroup, String> {
    let familiar = check.reference.familiar();
    let options = options_of(rule);
    let hooks = units
        .iter()
        .filter_map(|u| {
            let c = snapshot
                .containers
                .iter()
                .find(|c| c.id == u.container.id)?;
            Some((c, u))
        })
        .map(|(c, u)| {
            hooks::for_container(&options.hooks, &c.labels)
                .map(|h| (u.container.name.clone(), h))
                .map_err(|why| format!("{}: {why}", u.container.name))
        })
        .filter(|h| h.as_ref().map_or(true, |(_, h)| !h.is_empty()))
        .collect::<Result<Vec<_>, String>>()?;
    let rollback_tag = options.rollback_tag.as_ref().and_then(|t| {
        let tag = check.reference.tag()?;
        let repo = familiar.strip_suffix(&format!(":{tag}"))?;
        Some(format!("{repo}:{}", t.render(tag)?))
    });
    // `None` means the rollback tag names nothing now (a rollback removes it again);
    // it may name the old image already (after `swab rollback`), which is not "nothing".
    let displaced = rollback_tag.as_ref().and_then(|tag| {
        snapshot
            .images
            .iter()
            .find(|i| i.tags.iter().any(|t| t == tag))
            .map(|i| i.id.clone())
    });
    let cleanup = if !options.cleanup {
        None
    } else if rollback_tag.is_some() {
        displaced.clone().filter(|id| id != old_image)
    } else {
        Some(old_image.to_owned())
    };
    let compose_write = target.is_some() && options.compose_file == ComposeFile::Write;
    let mut compose: Vec<ComposeService> = Vec::new();
    if compose_write {
        for u in &units {
            let service = snapshot
                .containers
                .iter()
                .find(|c| c.id == u.container.id)
                .and_then(|c| ComposeService::of(&c.labels));
            if let Some(service) = service.filter(|s| !compose.contains(s)) {
                compose.push(service);
            }
        }
    }
    let target_before = target.as_ref().and_then(|target| {
        snapshot
            .images
            .iter()
            .find(|i| i.refs.iter().any(|r| r == target))
            .map(|i| i.id.clone())
    });
    Ok(UpdateGroup {
        rule: rule.name.clone(),
        reference: check.reference.clone(),
        old_image: old_image.to_owned(),
        remote_digest: remote.digest.clone(),
        compose_write,
        compose,
        target_before,
        target,
        rollback_tag,
        displaced,
        cleanup,
        health_timeout: options.health_timeout,
        stop_timeout: rule.stop_timeout,
        units,
        hooks,
    })
}

/// `sha256:0123456789ab`.
pub fn short_digest(digest: &str) -> String {
    let hex = digest.rsplit_once('@').map_or(digest, |(_, d)| d);
    let hex = hex.strip_prefix("sha256:").unwrap_or(hex);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

/// The containers named `names`, each with what must move with it, ordered so that a
/// Compose service comes after the services it depends on. A container that shares the
/// network stack of another one in the list is moved as that one's dependent, not on its own.
pub fn units(snapshot: &Snapshot, names: &[String]) -> Vec<Unit> {
    let mut selected: Vec<&Container> = names
        .iter()
        .filter_map(|n| snapshot.containers.iter().find(|c| &c.name == n))
        .collect();
    // Replicas of a scaled Compose service in their number order (`web-1` before `web-2`),
    // whatever order the daemon listed them in; other containers keep theirs.
    selected.sort_by_key(|c| {
        let label = |key: &str| c.labels.get(key).cloned();
        (
            label("com.docker.compose.project"),
            label("com.docker.compose.service"),
            label("com.docker.compose.container-number").and_then(|n| n.parse::<u64>().ok()),
        )
    });
    let mut units: Vec<Unit> = selected
        .iter()
        .filter(|c| {
            !selected
                .iter()
                .any(|host| host.id != c.id && shares_network_of(c, host))
        })
        .map(|c| {
            let network_dependents = network_dependents(snapshot, c);
            // A service in another's network stack moves as that one's network dependent.
            let compose_dependents = compose_dependents(snapshot, c)
                .into_iter()
                .filter(|d| !network_dependents.iter().any(|n| n.id == d.id))
                .collect();
            Unit {
                container: Target::of(c),
                network_dependents,
                compose_dependents,
            }
        })
        .collect();
    // Dependencies first: a stable pass that moves each unit after those it depends on.
    let mut ordered: Vec<Unit> = Vec::with_capacity(units.len());
    while !units.is_empty() {
        let ready = units
            .iter()
            .position(|u| {
                !units.iter().any(|other| {
                    other.container.id != u.container.id
                        && other
                            .compose_dependents
                            .iter()
                            .any(|d| d.id == u.container.id)
                })
            })
            .unwrap_or(0);
        ordered.push(units.remove(ready));
    }
    ordered
}

/// Why the units cannot move, if a container that would have to move with them (stopped,
/// or recreated) is protected: `protect:` always wins.
pub fn protected_dependent(
    units: &[Unit],
    snapshot: &Snapshot,
    protect: &Protect,
) -> Option<String> {
    for unit in units {
        for d in unit
            .network_dependents
            .iter()
            .chain(&unit.compose_dependents)
        {
            let Some(c) = snapshot.containers.iter().find(|c| c.id == d.id) else {
                continue;
            };
            if snapshot.is_own(c) {
                return Some(format!(
                    "{} depends on {} and is swab's own container; updating would stop it",
                    c.name, unit.container.name
                ));
            }
            let image = snapshot.images.iter().find(|i| i.id == c.image_id);
            if plan::protects_container(protect, c, image) {
                return Some(format!(
                    "{} depends on {} and is protected; updating would stop it",
                    c.name, unit.container.name
                ));
            }
        }
    }
    None
}

/// Whether `c` runs in the network stack of `host` (`network_mode: container:<id or name>`).
fn shares_network_of(c: &Container, host: &Container) -> bool {
    c.network_mode
        .strip_prefix("container:")
        .is_some_and(|x| x == host.id || x == host.name || host.id.starts_with(x) && x.len() >= 12)
}

/// Every container, in any state, bound to `host`'s network stack.
pub fn network_dependents(snapshot: &Snapshot, host: &Container) -> Vec<Target> {
    snapshot
        .containers
        .iter()
        .filter(|c| c.id != host.id && shares_network_of(c, host))
        .map(Target::of)
        .collect()
}

/// Running containers that depend on `c`: those of the same Compose project whose
/// `depends_on` names `c`'s service, and those whose Watchtower `depends-on` label names
/// `c` (comma-separated container names, a leading `/` allowed, as Watchtower reads them).
pub fn compose_dependents(snapshot: &Snapshot, c: &Container) -> Vec<Target> {
    const PROJECT: &str = "com.docker.compose.project";
    const SERVICE: &str = "com.docker.compose.service";
    const DEPENDS_ON: &str = "com.docker.compose.depends_on";
    let service = c.labels.get(PROJECT).zip(c.labels.get(SERVICE));
    let by_compose = |d: &Container| {
        let Some((project, service)) = service else {
            return false;
        };
        // `service:condition:restart`, comma-separated (Compose v2); older versions wrote
        // bare service names.
        d.labels.get(PROJECT) == Some(project)
            && d.labels.get(DEPENDS_ON).is_some_and(|deps| {
                deps.split(',')
                    .filter_map(|entry| entry.split(':').next())
                    .any(|name| name.trim() == service)
            })
    };
    let by_watchtower = |d: &Container| {
        d.labels.get(WATCHTOWER_DEPENDS_ON).is_some_and(|deps| {
            deps.split(',')
                .any(|name| name.trim().trim_start_matches('/') == c.name)
        })
    };
    snapshot
        .containers
        .iter()
        .filter(|d| d.id != c.id && d.is_active())
        .filter(|d| by_compose(d) || by_watchtower(d))
        .map(Target::of)
        .collect()
}

fn entry<'a>(
    checks: &'a mut BTreeMap<String, UpdateCheck>,
    reference: &ImageRef,
    snapshot: &Snapshot,
) -> &'a mut UpdateCheck {
    checks.entry(reference.familiar()).or_insert_with(|| {
        let local = snapshot.images.iter().find(|i| {
            i.refs
                .iter()
                .any(|r| r.digest().is_none() && r == reference)
        });
        UpdateCheck {
            reference: reference.clone(),
            rules: Vec::new(),
            containers: Vec::new(),
            local_image: local.map(|i| i.id.clone()),
            local_digests: local.map(|i| i.digests.clone()).unwrap_or_default(),
            local_platform_digests: local
                .map(|i| i.platform_digests.clone())
                .unwrap_or_default(),
            track: None,
        }
    })
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|x| x == item) {
        list.push(item.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn container(name: &str, image: &str, state: &str, labels: &[(&str, &str)]) -> Container {
        testing::container(name)
            .image(image, image)
            .state(state)
            .labels(labels)
            .build()
    }

    fn image(tags: &[&str], digests: &[&str]) -> Image {
        let id = tags.first().copied().unwrap_or("none");
        testing::image(id).tags(tags).digests(digests).build()
    }

    #[test]
    fn running_labelled_containers_and_image_patterns_are_collected_pinned_and_protected_are_not() {
        let set = swab_rules::load_str(
            "t.yaml",
            "version: 1\nprotect:\n  containers: [\"db\"]\nrules:\n  - name: u\n    action: update\n    match:\n      labels: [\"autoupdate=true\"]\n  - name: fresh\n    action: update\n    match:\n      images: [\"myorg/base\"]\n",
        )
        .unwrap();
        let snapshot = Snapshot {
            containers: vec![
                container("web", "myorg/web:1", "running", &[("autoupdate", "true")]),
                container("web2", "myorg/web:1", "running", &[("autoupdate", "true")]),
                container(
                    "stopped",
                    "myorg/other:1",
                    "exited",
                    &[("autoupdate", "true")],
                ),
                container("manual", "myorg/manual:1", "running", &[]),
                container("db", "postgres:16", "running", &[("autoupdate", "true")]),
                container(
                    "pinned",
                    "myorg/pin@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                    "running",
                    &[("autoupdate", "true")],
                ),
            ],
            images: vec![
                image(&["myorg/web:1"], &["myorg/web@sha256:aaaa"]),
                image(&["myorg/base:latest"], &[]),
            ],
            ..Snapshot::default()
        };
        let rules: Vec<_> = set.rules.iter().collect();
        let got = collect(&snapshot, &rules, &set.protect);
        let names: Vec<String> = got.checks.iter().map(|c| c.reference.familiar()).collect();
        assert_eq!(names, ["myorg/base:latest", "myorg/web:1"]);
        let web = &got.checks[1];
        assert_eq!(web.containers, ["web", "web2"]);
        assert_eq!(web.rules, ["u"]);
        assert_eq!(web.local_image.as_deref(), Some("sha256:myorg/web:1"));
        assert_eq!(web.local_digests, ["myorg/web@sha256:aaaa"]);
        assert_eq!(got.checks[0].rules, ["fresh"]);
        assert!(got.checks[0].containers.is_empty());
        assert_eq!(got.pinned.len(), 1);
        assert_eq!(got.pinned[0].1, ["pinned"]);
    }

    fn remote(digest: &str) -> RemoteDigest {
        RemoteDigest {
            digest: digest.to_owned(),
            media_type: swab_reference::manifest::media_type::DOCKER_MANIFEST.to_owned(),
            platform_digest: None,
        }
    }

    fn web_snapshot() -> Snapshot {
        let mut side = container("side", "sidecar:1", "running", &[]);
        side.network_mode = "container:id-web".to_owned();
        let mut stopped_side = container("stopped-side", "sidecar:1", "exited", &[]);
        stopped_side.network_mode = "container:web".to_owned();
        Snapshot {
            containers: vec![
                container("web", "myorg/web:1", "running", &[("u", "1")]),
                side,
                stopped_side,
                container("other", "myorg/web:1", "running", &[]),
            ],
            images: vec![
                image(&["myorg/web:1"], &["myorg/web@sha256:aaaa"]),
                image(&["myorg/web:1-swab-previous"], &["myorg/web@sha256:0000"]),
            ],
            ..Snapshot::default()
        }
    }

    /// The plan for rule `u` (updating containers labelled `u=1`, with `protect` and
    /// `yaml_extra` rule lines) on `snapshot`, when the registry answers `answer` for
    /// `myorg/web:1`.
    fn plan_on(
        snapshot: &Snapshot,
        protect: &str,
        yaml_extra: &str,
        answer: Answer,
        rolled_back: &RolledBackDigests,
    ) -> UpdatePlan {
        let memory = UpdateMemory {
            rolled_back,
            first_seen: &FirstSeen::default(),
            noticed: &Noticed::default(),
            now: now(),
        };
        plan_remembering(snapshot, protect, yaml_extra, answer, &memory)
    }

    /// Now, in these tests: 2027-01-15T08:00:00Z.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    /// [`plan_on`] with what swab remembers.
    fn plan_remembering(
        snapshot: &Snapshot,
        protect: &str,
        yaml_extra: &str,
        answer: Answer,
        memory: &UpdateMemory<'_>,
    ) -> UpdatePlan {
        let set = swab_rules::load_str(
            "t.yaml",
            &format!(
                "version: 1\n{protect}rules:\n  - name: u\n    action: update\n    match:\n      labels: [\"u=1\"]\n{yaml_extra}"
            ),
        )
        .unwrap();
        let rules: Vec<&Rule> = set.rules.iter().collect();
        let checks = collect(snapshot, &rules, &set.protect);
        let answers = Answers {
            digests: vec![(ImageRef::parse("myorg/web:1").unwrap(), answer)],
            tags: Vec::new(),
        };
        plan_updates(&checks, &answers, snapshot, &rules, &set.protect, memory)
    }

    /// Tag tracking: rule `u` with `track: semver` and `constraint`, on a `web` container
    /// running `myorg/web:1.25.1` (`labels` added), when the registry lists `tags` and
    /// answers `digests` (by tag; the local image is `sha256:aaaa`).
    fn plan_tracking(
        constraint: &str,
        extra: &str,
        labels: &[(&str, &str)],
        tags: TagList,
        digests: &[(&str, &str)],
    ) -> UpdatePlan {
        let mut labels = labels.to_vec();
        labels.push(("u", "1"));
        let snapshot = Snapshot {
            containers: vec![container("web", "myorg/web:1.25.1", "running", &labels)],
            images: vec![
                image(&["myorg/web:1.25.1"], &["myorg/web@sha256:aaaa"]),
                image(&["myorg/web:1.26.0"], &["myorg/web@sha256:1260"]),
            ],
            ..Snapshot::default()
        };
        let set = swab_rules::load_str(
            "t.yaml",
            &format!(
                "version: 1\nrules:\n  - name: u\n    action: update\n    match:\n      labels: [\"u=1\"]\n    track: semver\n    constraint: \"{constraint}\"\n{extra}"
            ),
        )
        .unwrap();
        let rules: Vec<&Rule> = set.rules.iter().collect();
        let checks = collect(&snapshot, &rules, &set.protect);
        let web = ImageRef::parse("myorg/web:1.25.1").unwrap();
        let answers = Answers {
            digests: digests
                .iter()
                .map(|(tag, digest)| (web.with_tag(tag).unwrap(), Ok(remote(digest))))
                .collect(),
            tags: vec![(web, tags)],
        };
        let memory = UpdateMemory {
            rolled_back: &RolledBackDigests::new(),
            first_seen: &FirstSeen::default(),
            noticed: &Noticed::default(),
            now: now(),
        };
        plan_updates(&checks, &answers, &snapshot, &rules, &set.protect, &memory)
    }

    const PUBLISHED: [&str; 5] = ["1.25.1", "1.25.3", "1.26.0", "2.0.0-rc1", "latest"];

    #[allow(clippy::unnecessary_wraps)] // a registry's answer, which may be an error
    fn published() -> TagList {
        Ok(PUBLISHED.map(str::to_owned).to_vec())
    }

    #[test]
    fn tracking_moves_to_the_highest_allowed_tag_and_keeps_the_old_tag_for_rollback() {
        let plan = plan_tracking(
            "~1.25",
            "",
            &[],
            published(),
            &[("1.25.1", "sha256:aaaa"), ("1.25.3", "sha256:1253")],
        );
        let [group] = plan.groups.as_slice() else {
            panic!("{plan:?}")
        };
        assert_eq!(group.reference.familiar(), "myorg/web:1.25.1");
        assert_eq!(group.moved_tag().familiar(), "myorg/web:1.25.3");
        assert_eq!(group.remote_digest, "sha256:1253");
        assert_eq!(group.old_image, "sha256:myorg/web:1.25.1");
        assert_eq!(
            group.rollback_tag.as_deref(),
            Some("myorg/web:1.25.1-swab-previous")
        );
        assert_eq!(group.target_before, None);
        assert!(!group.compose_write);

        // `^1` goes to 1.26.0, which is here already under that tag.
        let plan = plan_tracking("^1", "", &[], published(), &[("1.26.0", "sha256:1260")]);
        let [group] = plan.groups.as_slice() else {
            panic!("{plan:?}")
        };
        assert_eq!(group.moved_tag().familiar(), "myorg/web:1.26.0");
        assert_eq!(
            group.target_before.as_deref(),
            Some("sha256:myorg/web:1.26.0")
        );
    }

    #[test]
    fn tracking_on_the_highest_allowed_tag_follows_its_digest_and_names_what_is_not_allowed() {
        let only = Ok(["1.25.1", "1.26.0"].map(str::to_owned).to_vec());
        let plan = plan_tracking("~1.25", "", &[], only.clone(), &[("1.25.1", "sha256:aaaa")]);
        assert!(plan.groups.is_empty(), "{plan:?}");
        assert_eq!(
            plan.kept[0].reason,
            "up to date within ~1.25; 1.26.0 is available, not allowed"
        );
        let plan = plan_tracking("~1.25", "", &[], only, &[("1.25.1", "sha256:bbbb")]);
        let [group] = plan.groups.as_slice() else {
            panic!("{plan:?}")
        };
        assert_eq!(group.target, None);
        assert_eq!(group.remote_digest, "sha256:bbbb");
    }

    #[test]
    fn tracking_fails_without_tags_and_keeps_a_tag_that_is_no_version() {
        let plan = plan_tracking("~1.25", "", &[], Err("401".to_owned()), &[]);
        assert_eq!(
            plan.failed,
            [(
                "u".to_owned(),
                "myorg/web:1.25.1".to_owned(),
                "cannot list the repository's tags: 401".to_owned()
            )]
        );
        let plan = plan_tracking(
            "~1.25",
            "    tag_pattern: \"^(\\\\d+\\\\.\\\\d+\\\\.\\\\d+)-alpine$\"\n",
            &[],
            published(),
            &[],
        );
        assert!(plan.groups.is_empty(), "{plan:?}");
        assert!(
            plan.kept[0]
                .reason
                .starts_with("tag `1.25.1` is not a version under tag_pattern"),
            "{plan:?}"
        );
    }

    #[test]
    fn a_compose_service_moves_to_another_tag_only_when_its_file_may_be_written() {
        let compose = [(COMPOSE_PROJECT, "shop"), (COMPOSE_SERVICE, "web")];
        let digests = [("1.25.3", "sha256:1253")];
        let plan = plan_tracking("~1.25", "", &compose, published(), &digests);
        assert!(plan.groups.is_empty(), "{plan:?}");
        assert!(
            plan.kept[0]
                .reason
                .starts_with("myorg/web:1.25.3 is available, but shop/web is a Compose service"),
            "{plan:?}"
        );
        let plan = plan_tracking(
            "~1.25",
            "    compose_file: write\n",
            &compose,
            published(),
            &digests,
        );
        let [group] = plan.groups.as_slice() else {
            panic!("{plan:?}")
        };
        assert!(group.compose_write);
        // A new digest of the same tag needs no edit: the file names that tag already.
        let only = Ok(vec!["1.25.1".to_owned()]);
        let plan = plan_tracking("~1.25", "", &compose, only, &[("1.25.1", "sha256:bbbb")]);
        assert_eq!(plan.groups.len(), 1, "{plan:?}");
        assert!(!plan.groups[0].compose_write);
    }

    /// The plan for `snapshot` when the registry has a newer `myorg/web:1`.
    fn outdated(snapshot: &Snapshot) -> UpdatePlan {
        plan_on(
            snapshot,
            "",
            "",
            Ok(remote("sha256:bbbb")),
            &RolledBackDigests::new(),
        )
    }

    fn plan_with(yaml_extra: &str, answer: Answer, rolled_back: &RolledBackDigests) -> UpdatePlan {
        plan_on(&web_snapshot(), "", yaml_extra, answer, rolled_back)
    }

    #[test]
    fn swabs_own_container_is_kept_and_the_others_on_its_tag_still_update() {
        let mut snapshot = web_snapshot();
        snapshot.containers[3]
            .labels
            .insert("u".to_owned(), "1".to_owned());
        snapshot.own_containers = vec!["id-other".to_owned()];
        let plan = outdated(&snapshot);
        let kept: Vec<(&str, &str)> = plan
            .kept
            .iter()
            .map(|k| (k.name.as_str(), k.reason.as_str()))
            .collect();
        assert_eq!(kept, [("other", crate::own::OWN_CONTAINER)]);
        let [group] = plan.groups.as_slice() else {
            panic!("{plan:?}")
        };
        let names: Vec<&str> = group
            .units
            .iter()
            .map(|u| u.container.name.as_str())
            .collect();
        assert_eq!(names, ["web"]);

        // Alone on its tag: nothing is pulled for it.
        snapshot.containers[0].labels.clear();
        let plan = outdated(&snapshot);
        assert!(plan.groups.is_empty(), "{plan:?}");
        assert_eq!(plan.kept.last().unwrap().reason, crate::own::OWN_CONTAINER);

        // In the network stack of an updated container: that update would stop it.
        let mut snapshot = web_snapshot();
        snapshot.own_containers = vec!["id-side".to_owned()];
        let plan = outdated(&snapshot);
        assert!(plan.groups.is_empty(), "{plan:?}");
        assert!(
            plan.kept.iter().any(|k| k
                .reason
                .contains("is swab's own container; updating would stop it")),
            "{plan:?}"
        );
    }

    #[test]
    fn a_group_carries_its_containers_hooks_and_a_bad_hook_label_keeps_the_reference() {
        let hooks = "    hooks:\n      post_update: /bin/check\n      on_failure: warn\n";
        let mut snapshot = web_snapshot();
        snapshot.containers[0]
            .labels
            .insert("swab.hooks.pre-update".to_owned(), "dump".to_owned());
        let plan = plan_on(
            &snapshot,
            "",
            hooks,
            Ok(remote("sha256:bbbb")),
            &RolledBackDigests::new(),
        );
        let [group] = plan.groups.as_slice() else {
            panic!("{plan:?}")
        };
        let pre = group.hook("web", Phase::PreUpdate).unwrap();
        assert_eq!(
            (pre.command.as_str(), pre.source.as_str()),
            ("dump", "label swab.hooks.pre-update")
        );
        let post = group.hook("web", Phase::PostUpdate).unwrap();
        assert_eq!(post.source, "rule hooks.post_update");
        assert_eq!(group.on_hook_failure("web"), swab_rules::HookFailure::Warn);
        // Dependents run no hooks of the group.
        assert!(group.hook("side", Phase::PreUpdate).is_none());

        snapshot.containers[0]
            .labels
            .insert("swab.hooks.timeout".to_owned(), "forever".to_owned());
        let plan = plan_on(
            &snapshot,
            "",
            hooks,
            Ok(remote("sha256:bbbb")),
            &RolledBackDigests::new(),
        );
        assert!(plan.groups.is_empty(), "{plan:?}");
        let reason = &plan.kept.last().unwrap().reason;
        assert!(
            reason.starts_with(
                "not updated, a hook label is wrong: web: label swab.hooks.timeout: `forever` is not a duration"
            ),
            "{reason}"
        );
    }

    #[test]
    fn check_hooks_run_in_selected_running_containers_only() {
        let set = swab_rules::load_str(
            "t.yaml",
            "version: 1\nrules:\n  - name: u\n    action: update\n    match:\n      labels: [\"u=1\"]\n    hooks:\n      pre_check: notify-start\n",
        )
        .unwrap();
        let rules: Vec<&Rule> = set.rules.iter().collect();
        let mut snapshot = web_snapshot();
        snapshot
            .containers
            .push(container("down", "myorg/web:1", "exited", &[("u", "1")]));
        snapshot.containers.push(container(
            "labelled",
            "myorg/other:1",
            "running",
            &[("u", "1"), ("swab.hooks.post-check", "notify-done")],
        ));
        let checks = collect(&snapshot, &rules, &set.protect);
        let pre = check_hooks(&checks, &snapshot, &rules, Phase::PreCheck);
        let pre: Vec<(&str, &str)> = pre
            .iter()
            .map(|h| (h.name.as_str(), h.hook.command.as_str()))
            .collect();
        assert_eq!(pre, [("labelled", "notify-start"), ("web", "notify-start")]);
        let post = check_hooks(&checks, &snapshot, &rules, Phase::PostCheck);
        assert_eq!(post.len(), 1);
        assert_eq!(post[0].name, "labelled");
        assert_eq!(post[0].hook.source, "label swab.hooks.post-check");

        snapshot.own_containers = vec!["id-web".to_owned()];
        let pre = check_hooks(&checks, &snapshot, &rules, Phase::PreCheck);
        assert_eq!(pre.len(), 1, "swab's own container runs no hooks: {pre:?}");
    }

    #[test]
    fn replicas_of_a_scaled_service_go_in_their_number_order() {
        let replica = |n: &str| {
            container(
                &format!("p-web-{n}"),
                "myorg/web:1",
                "running",
                &[
                    ("com.docker.compose.project", "p"),
                    ("com.docker.compose.service", "web"),
                    ("com.docker.compose.container-number", n),
                ],
            )
        };
        let snapshot = Snapshot {
            containers: vec![replica("10"), replica("2"), replica("1")],
            ..Snapshot::default()
        };
        let names: Vec<String> = ["p-web-10", "p-web-2", "p-web-1"]
            .iter()
            .map(|n| (*n).to_owned())
            .collect();
        let order: Vec<String> = units(&snapshot, &names)
            .into_iter()
            .map(|u| u.container.name)
            .collect();
        assert_eq!(order, ["p-web-1", "p-web-2", "p-web-10"]);
    }

    #[test]
    fn an_unselected_compose_service_on_the_updated_tag_is_kept_with_why() {
        let mut snapshot = web_snapshot();
        snapshot.containers[3]
            .labels
            .insert("com.docker.compose.project".to_owned(), "p".to_owned());
        let plan = outdated(&snapshot);
        assert_eq!(plan.groups.len(), 1);
        assert_eq!(plan.kept.len(), 1, "{plan:?}");
        assert_eq!(plan.kept[0].id, "id-other");
        assert!(
            plan.kept[0].reason.ends_with(
                "Compose will recreate it on its next `up`, as the tag names the new image"
            ),
            "{plan:?}"
        );
        // Up to date: nothing to say about it.
        let plan = plan_on(
            &snapshot,
            "",
            "",
            Ok(remote("sha256:aaaa")),
            &RolledBackDigests::new(),
        );
        assert!(plan.kept.iter().all(|k| k.name != "other"), "{plan:?}");
    }

    #[test]
    fn an_outdated_reference_is_planned_with_its_rollback_tag_and_network_dependents() {
        let plan = plan_with(
            "    cleanup: true\n",
            Ok(remote("sha256:bbbb")),
            &RolledBackDigests::new(),
        );
        assert!(plan.failed.is_empty(), "{plan:?}");
        // `other` runs the same tag but no rule selects it: it stays, and the report says so.
        let kept: Vec<(&str, &str)> = plan
            .kept
            .iter()
            .map(|k| (k.name.as_str(), k.reason.as_str()))
            .collect();
        assert_eq!(
            kept,
            [(
                "other",
                "runs myorg/web:1 too, but no update rule selects it: left on the old image"
            )]
        );
        let [group] = plan.groups.as_slice() else {
            panic!("{plan:?}")
        };
        assert_eq!(group.old_image, "sha256:myorg/web:1");
        assert_eq!(
            group.rollback_tag.as_deref(),
            Some("myorg/web:1-swab-previous")
        );
        // The rollback tag moves off the image that had it; with cleanup, that one goes.
        assert_eq!(
            group.displaced.as_deref(),
            Some("sha256:myorg/web:1-swab-previous")
        );
        assert_eq!(group.cleanup, group.displaced);
        let [unit] = group.units.as_slice() else {
            panic!("{group:?}")
        };
        assert_eq!(unit.container.name, "web");
        let dependents: Vec<(&str, bool)> = unit
            .network_dependents
            .iter()
            .map(|d| (d.name.as_str(), d.running))
            .collect();
        assert_eq!(dependents, [("side", true), ("stopped-side", false)]);
    }

    #[test]
    fn a_failed_digest_is_retried_after_its_back_off_until_max_attempts() {
        let failed = |attempts: u32, ago: u64| {
            let mut rolled_back = RolledBackDigests::new();
            rolled_back.insert(
                "myorg/web:1".to_owned(),
                crate::memory::RolledBack {
                    digest: "sha256:bbbb".to_owned(),
                    at: crate::memory::unix(now()) - ago,
                    reason: "web: exited".to_owned(),
                    attempts,
                    by_hand: attempts == 0,
                },
            );
            rolled_back
        };
        let hour = 3600;
        // (attempts so far, failed this long ago, rule lines, retried now?)
        let cases = [
            (1, hour - 60, "", false),
            (1, hour, "", true),
            (2, 5 * hour, "", false),
            (2, 6 * hour, "", true),
            (3, 23 * hour, "", false),
            (9, 24 * hour, "", true),
            (1, 90, "    retry_after: 1m\n", true),
            (3, 400 * hour, "    max_attempts: 3\n", false),
            // Zero attempts stands for a rollback by hand here: never retried.
            (0, 400 * hour, "", false),
        ];
        for (attempts, ago, extra, retried) in cases {
            let plan = plan_with(extra, Ok(remote("sha256:bbbb")), &failed(attempts, ago));
            assert_eq!(
                plan.groups.len(),
                usize::from(retried),
                "{attempts} attempts, {ago}s ago, {extra:?}: {plan:?}"
            );
        }
        let plan = plan_with(
            "    max_attempts: 3\n",
            Ok(remote("sha256:bbbb")),
            &failed(3, 400 * hour),
        );
        assert_eq!(
            plan.kept[0].reason,
            "update to sha256:bbbb failed 3 times and was rolled back (web: exited); not retried (max_attempts): waiting for a newer digest"
        );
        assert_eq!(plan.kept[0].eligible_at, None);
    }

    #[test]
    fn outside_its_window_an_update_is_pending_and_inside_it_is_planned() {
        // now() is Friday 2027-01-15 08:00 UTC.
        let closed = plan_with(
            "    window: {start: \"0 2 * * 6\", for: 3h}\n",
            Ok(remote("sha256:bbbb")),
            &RolledBackDigests::new(),
        );
        assert!(closed.groups.is_empty(), "{closed:?}");
        let kept = closed.kept.last().unwrap();
        assert_eq!(
            kept.reason,
            "pending: outside its maintenance window; the next opens Sat 2027-01-16 02:00 UTC"
        );
        assert_eq!(kept.eligible_at.as_deref(), Some("2027-01-16T02:00:00Z"));
        let open = plan_with(
            "    window:\n      - {start: \"0 2 * * 6\", for: 3h}\n      - {start: \"0 7 * * 5\", for: 2h}\n",
            Ok(remote("sha256:bbbb")),
            &RolledBackDigests::new(),
        );
        assert_eq!(open.groups.len(), 1, "{open:?}");
        // Open, but closing before web and its two dependents could be gated (3 x 70s + 1m).
        let short = plan_with(
            "    window: {start: \"50 7 * * 5\", for: 13m}\n",
            Ok(remote("sha256:bbbb")),
            &RolledBackDigests::new(),
        );
        assert!(short.groups.is_empty(), "{short:?}");
        assert!(
            short.kept.last().unwrap().reason.starts_with(
                "pending: could not finish before its maintenance window closes at Fri 2027-01-15 08:03 UTC (needs up to 4m 30s)"
            ),
            "{short:?}"
        );
    }

    #[test]
    fn a_watcher_tells_about_each_new_digest_once_and_applies_nothing() {
        let rule = "    notify_only: true\n    min_age: 1h\n";
        let rolled_back = RolledBackDigests::new();
        let first_seen = FirstSeen::default();
        let plan = |noticed: &Noticed, digest: &str| {
            let memory = UpdateMemory {
                rolled_back: &rolled_back,
                first_seen: &first_seen,
                noticed,
                now: now(),
            };
            let set = "notify:\n  - url: http://127.0.0.1:9/hook\n";
            plan_remembering(&web_snapshot(), set, rule, Ok(remote(digest)), &memory)
        };
        let mut noticed = Noticed::default();
        let first = plan(&noticed, "sha256:bbbb");
        assert!(first.groups.is_empty(), "{first:?}");
        let [notice] = first.notices.as_slice() else {
            panic!("{first:?}")
        };
        assert_eq!(
            notice.text,
            "new image for myorg/web:1: sha256:bbbb on the registry (here: sha256:aaaa), used by web; held back: new digest sha256:bbbb, eligible in 1h (min_age 1h, first seen 2027-01-15T08:00:00Z)"
        );
        assert_eq!(notice.eligible_at.as_deref(), Some("2027-01-15T09:00:00Z"));
        assert_eq!(
            first.kept.last().unwrap().reason,
            "new digest sha256:bbbb: notify_only, never applied"
        );
        noticed.record("myorg/web:1", "sha256:bbbb");
        assert!(
            plan(&noticed, "sha256:bbbb").notices.is_empty(),
            "never repeated"
        );
        assert_eq!(
            plan(&noticed, "sha256:cccc").notices.len(),
            1,
            "a newer digest"
        );
    }

    #[test]
    fn a_cooldown_counts_from_when_swab_first_saw_the_digest() {
        let rule = "    min_age: 1h\n";
        let rolled_back = RolledBackDigests::new();
        let plan = |first_seen: &FirstSeen, digest: &str| {
            let memory = UpdateMemory {
                rolled_back: &rolled_back,
                first_seen,
                noticed: &Noticed::default(),
                now: now(),
            };
            plan_remembering(&web_snapshot(), "", rule, Ok(remote(digest)), &memory)
        };
        // Never seen before: it is seen now, and waits the whole hour. The snapshot's images
        // have no creation time at all: the cooldown cannot be fooled by one.
        let mut seen = FirstSeen::default();
        let fresh = plan(&seen, "sha256:bbbb");
        assert!(fresh.groups.is_empty(), "{fresh:?}");
        assert_eq!(
            fresh.kept[0].reason,
            "new digest sha256:bbbb, eligible in 1h (min_age 1h, first seen 2027-01-15T08:00:00Z)"
        );
        assert_eq!(
            fresh.kept[0].eligible_at.as_deref(),
            Some("2027-01-15T09:00:00Z")
        );
        // Seen 61 minutes ago: adopted.
        seen.observe(
            "myorg/web:1",
            Some("sha256:bbbb"),
            now() - Duration::from_secs(61 * 60),
        );
        assert_eq!(plan(&seen, "sha256:bbbb").groups.len(), 1);
        // The registry moved on to another digest: the clock restarts for it.
        let moved = plan(&seen, "sha256:cccc");
        assert!(moved.groups.is_empty(), "{moved:?}");
        seen.observe("myorg/web:1", Some("sha256:cccc"), now());
        assert_eq!(
            seen.get("myorg/web:1", "sha256:cccc"),
            Some(now()),
            "a new digest replaces the record"
        );
        // Up to date: forgotten.
        seen.observe("myorg/web:1", None, now());
        assert!(seen.is_empty());
    }

    #[test]
    fn up_to_date_rolled_back_local_and_failed_references_are_not_planned() {
        let up_to_date = plan_with("", Ok(remote("sha256:aaaa")), &RolledBackDigests::new());
        assert!(up_to_date.groups.is_empty());
        assert_eq!(up_to_date.kept[0].reason, "up to date");

        // Failed ten minutes ago: the first retry comes an hour after the failure.
        let mut rolled_back = RolledBackDigests::new();
        rolled_back.insert(
            "myorg/web:1".to_owned(),
            crate::memory::RolledBack {
                digest: "sha256:bbbb".to_owned(),
                at: crate::memory::unix(now()) - 600,
                reason: "web: exited".to_owned(),
                attempts: 1,
                by_hand: false,
            },
        );
        let same = plan_with("", Ok(remote("sha256:bbbb")), &rolled_back);
        assert!(same.groups.is_empty());
        assert_eq!(
            same.kept[0].reason,
            "update to sha256:bbbb failed once and was rolled back (web: exited); retried in 50m",
            "{same:?}"
        );
        assert_eq!(
            same.kept[0].eligible_at.as_deref(),
            Some("2027-01-15T08:50:00Z")
        );
        // A newer digest is tried at once.
        let newer = plan_with("", Ok(remote("sha256:cccc")), &rolled_back);
        assert_eq!(newer.groups.len(), 1);

        let failed = plan_with(
            "",
            Err("unauthorized".to_owned()),
            &RolledBackDigests::new(),
        );
        assert!(failed.groups.is_empty());
        assert_eq!(
            failed.failed,
            [(
                "u".to_owned(),
                "myorg/web:1".to_owned(),
                "unauthorized".to_owned()
            )]
        );

        let capped = plan_with(
            "    max_removals: 1\n",
            Ok(remote("sha256:bbbb")),
            &RolledBackDigests::new(),
        );
        assert!(
            capped.groups.is_empty(),
            "web and its two dependents are 3 > 1"
        );
        assert!(capped.kept[0].reason.contains("max_removals"));

        let no_rollback_tag = plan_with(
            "    rollback_tag: null\n    cleanup: true\n",
            Ok(remote("sha256:bbbb")),
            &RolledBackDigests::new(),
        );
        let group = &no_rollback_tag.groups[0];
        assert_eq!(group.rollback_tag, None);
        assert_eq!(group.cleanup.as_deref(), Some("sha256:myorg/web:1"));
    }

    /// Asserts that, with `protect`, the update of web on `snapshot` is held back because its
    /// dependent `side` (not `stopped-side`) is protected.
    #[track_caller]
    fn assert_kept_for_protected_side(snapshot: &Snapshot, protect: &str) {
        let plan = plan_on(
            snapshot,
            protect,
            "",
            Ok(remote("sha256:bbbb")),
            &RolledBackDigests::new(),
        );
        assert!(plan.groups.is_empty(), "{plan:?}");
        assert!(
            plan.kept[0]
                .reason
                .starts_with("side depends on web and is protected"),
            "{plan:?}"
        );
    }

    #[test]
    fn a_protected_dependent_keeps_the_reference_from_being_updated() {
        assert_kept_for_protected_side(&web_snapshot(), "protect:\n  containers: [\"side\"]\n");
    }

    /// A dependent whose image tag moved on (a re-pull): the daemon reports its image as a
    /// bare ID, and only the image's remaining references show what it is. Protection must
    /// see them, as the planner's does.
    #[test]
    fn a_dependent_protected_through_its_images_references_keeps_the_reference() {
        let mut snapshot = web_snapshot();
        let side = snapshot
            .containers
            .iter_mut()
            .find(|c| c.name == "side")
            .unwrap();
        side.set_image("sha256:0ldside");
        side.image_id = "sha256:0ldside".to_owned();
        // Only this image's digest names the repository `vault`: no other container of
        // the snapshot refers to it.
        let mut old_sidecar = image(&[], &["vault@sha256:1111"]);
        old_sidecar.id = "sha256:0ldside".to_owned();
        snapshot.images.push(old_sidecar);
        assert_kept_for_protected_side(&snapshot, "protect:\n  images: [\"vault\"]\n");
    }

    #[test]
    fn locally_built_images_are_never_replaced() {
        let mut snapshot = web_snapshot();
        snapshot.images[0].digests.clear();
        let plan = outdated(&snapshot);
        assert!(plan.groups.is_empty());
        assert!(plan.kept[0].reason.contains("built or loaded here"));
    }

    #[test]
    fn watchtower_depends_on_and_stop_signal_labels_are_honoured() {
        let snapshot = Snapshot {
            containers: vec![
                container(
                    "app",
                    "myorg/web:1",
                    "running",
                    &[(WATCHTOWER_DEPENDS_ON, "/db, cache"), ("u", "1")],
                ),
                container(
                    "db",
                    "myorg/db:1",
                    "running",
                    &[(WATCHTOWER_STOP_SIGNAL, "SIGINT"), ("u", "1")],
                ),
                container(
                    "stopped",
                    "myorg/web:1",
                    "exited",
                    &[(WATCHTOWER_DEPENDS_ON, "db")],
                ),
                container("cache", "myorg/cache:1", "running", &[]),
            ],
            ..Snapshot::default()
        };
        let names = ["app", "db"].map(str::to_owned).to_vec();
        let units = units(&snapshot, &names);
        let order: Vec<&str> = units.iter().map(|u| u.container.name.as_str()).collect();
        assert_eq!(order, ["db", "app"], "dependencies first");
        let around_db: Vec<&str> = units[0]
            .compose_dependents
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(around_db, ["app"], "a stopped dependent is not started");
        assert_eq!(units[0].container.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(units[1].container.stop_signal, None);
        assert!(units[1].compose_dependents.is_empty());
    }

    #[test]
    fn compose_dependencies_come_first_and_dependents_are_stopped_around() {
        let compose = |service: &str, depends: &str| {
            let mut labels = vec![
                ("com.docker.compose.project", "shop"),
                ("com.docker.compose.service", service),
                ("u", "1"),
            ];
            if !depends.is_empty() {
                labels.push(("com.docker.compose.depends_on", depends));
            }
            container(
                &format!("shop-{service}-1"),
                "myorg/web:1",
                "running",
                &labels,
            )
        };
        let snapshot = Snapshot {
            containers: vec![
                compose("app", "db:service_healthy:false,cache:service_started:true"),
                compose("db", ""),
                compose("worker", "app:service_started:false"),
            ],
            ..Snapshot::default()
        };
        let names: Vec<String> = ["shop-app-1", "shop-db-1", "shop-worker-1"]
            .map(str::to_owned)
            .to_vec();
        let units = units(&snapshot, &names);
        let order: Vec<&str> = units.iter().map(|u| u.container.name.as_str()).collect();
        assert_eq!(order, ["shop-db-1", "shop-app-1", "shop-worker-1"]);
        let around_db: Vec<&str> = units[0]
            .compose_dependents
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(around_db, ["shop-app-1"]);
    }
}
