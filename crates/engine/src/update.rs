//! The update executor: pulls, retags and recreates, with a health gate and rollback.
//!
//! One [`UpdateGroup`] (one reference) is applied all or nothing:
//!
//! 1. the tag must still name the planned image (someone may have pulled meanwhile);
//! 2. the journal (the state file's `in_flight`) records the update before anything
//!    changes; a journal that cannot be written stops the update there;
//! 3. the old image gets the rollback tag, *before* the pull moves the reference's tag;
//! 4. the reference is pulled at exactly the digest the check saw (`repo@sha256:...`, with
//!    `X-Registry-Auth` from the docker config), and its tag moved onto the result;
//! 5. the containers are looked up again by name (an earlier group or a prune may have
//!    replaced or removed some), then each is swapped: Compose and network dependents
//!    stopped (journalled first), the container journalled, stopped, its restart policy set
//!    to `no` and parked as `<name>-swab-old-<short id>`, the replacement created from the
//!    old one's inspect ([`recreate`]) under the original name and started, held to
//!    the health gate, network dependents recreated against it and gated, Compose
//!    dependents started again;
//! 6. every replacement looked at once more, the journal marked committed, the parked
//!    containers removed (never their volumes: the replacements use them), optional
//!    cleanup, journal cleared.
//!
//! Any failure, or a signal, before the commit undoes everything of the group:
//! replacements removed, parked containers renamed back, their restart policy restored,
//! started again in order, stopped dependents started, the tag moved back, the rollback
//! tag put back where it was. Only a failure of the new image itself (its replacement
//! could not be created or started, or failed the gate) records the digest so later runs
//! wait for a newer one. If the undo itself has problems, the journal stays, and the next
//! run's [`recover`] tries again. No old container is removed before every replacement
//! passed, so no container is ever lost.
//!
//! Everything goes through two narrow traits: [`UpdateEngine`] (the Docker calls; the
//! client implements it) and [`StateStore`] (the journal; [`StateFile`] is the state
//! file). Errors are typed ([`UpdateError`], by [`Step`]). The unit tests in `tests.rs`
//! run the executor against a simulated daemon (`fake.rs`): a fault at every step rolls
//! back, a kill at every call is finished or undone by [`recover`], and `swab rollback`
//! goes back.

mod compose;
mod compose_edit;
mod engine;
mod error;
#[cfg(test)]
mod fake;
mod gate;
mod hook;
mod recover;
pub mod recreate;
mod replace;
mod report;
mod rollback;
#[cfg(test)]
mod tests;
mod undo;

pub use engine::{StateFile, StateStore, UpdateEngine};
pub use error::{GateFailure, Step, UpdateError};
use gate::health_gate;
pub use hook::{HookRun, Outcome};
pub use recover::{Recovery, recover};
pub(crate) use replace::Moved;
use replace::Role;
use report::GroupReport;
use undo::{remove_parked, restore_tag, start_stopped, undo_all};

use std::fmt::Write as _;

use serde_json::Value;
use swab_registry::CredentialStore;
use swab_rules::{HookFailure, ImageRef, Protect};

use crate::cancel::Cancel;
use crate::hooks::{Hook, Phase};
use crate::report::{ActionReport, Status};
use crate::snapshot::{Snapshot, short_id};
use crate::state::{InFlight, State, Stopped, Swap};
use crate::updates::{self, Target, Unit, UpdateGroup};

/// Docker's stop grace period for a container that sets none (`StopTimeout`).
const DEFAULT_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// What the updater needs besides the group.
#[allow(missing_debug_implementations)] // holds callbacks
pub struct Updater<'a> {
    /// The daemon.
    pub engine: &'a dyn UpdateEngine,
    /// Credentials for pulls.
    pub credentials: &'a CredentialStore,
    /// What must never be stopped or recreated, also as a dependent.
    pub protect: &'a Protect,
    /// The state file holding the journal and rolled-back digests.
    pub state: &'a dyn StateStore,
    /// Set on SIGINT/SIGTERM.
    pub cancel: &'a Cancel,
    /// Called after each action.
    pub progress: &'a (dyn Fn(&ActionReport) + Sync),
    /// Called with what a long step is doing now (`pulling x: 12.1 MB of 40.2 MB`,
    /// `health gate: web must stay up for 60s`), for a progress display.
    pub status: &'a (dyn Fn(&str) + Sync),
}

/// The container `swab rollback` acts on, and the image it goes back to.
struct RollbackTarget {
    name: String,
    /// The reference it runs (`Config.Image`).
    reference: ImageRef,
    /// Where it goes back to: the reference tag tracking moved it from (its
    /// `swab.tracked-from` label), else `reference`.
    back_to: ImageRef,
    /// `back_to`, familiar.
    familiar: String,
    repo: String,
    rollback_tag: String,
    previous: swab_docker::models::ImageInspect,
    running_image: String,
}

/// Why a swap failed: which container, why, and whether the new image is to blame (then
/// its digest is not tried again).
#[derive(Debug)]
struct Failure {
    who: String,
    /// Boxed: the error is large and `Failure` travels in every `Result` of a swap.
    error: Box<UpdateError>,
    blame_image: bool,
    /// What undoing the failed unit could not do: the journal entry must then stay.
    undo_problems: Vec<String>,
}

impl Failure {
    fn new(who: &str, error: UpdateError) -> Failure {
        Failure {
            who: who.to_owned(),
            error: Box::new(error),
            blame_image: false,
            undo_problems: Vec::new(),
        }
    }

    fn blamed(mut self, blame: bool) -> Failure {
        self.blame_image = blame;
        self
    }
}

/// A container swapped (or being swapped): what undoing it needs.
#[derive(Debug, Clone)]
struct Swapped {
    /// The old container; `running` is whether it ran when swab stopped it.
    target: Target,
    parked_name: String,
    new_id: Option<String>,
    /// The replacement's `Config.Image`.
    image: String,
    restart_policy: Option<Value>,
    /// The container whose image is updated (not a dependent).
    main: bool,
    /// The index of its unit in the group.
    unit: usize,
    /// Earliest and latest unix second the replacement can have been created: a container
    /// under the name created outside that window is not ours. `None`: never look by name.
    created_window: Option<(u64, u64)>,
}

impl Swapped {
    fn of(swap: &Swap) -> Swapped {
        Swapped {
            target: Target {
                id: swap.old_id.clone(),
                name: swap.name.clone(),
                running: swap.was_running,
                stop_signal: None,
            },
            parked_name: swap.parked_name.clone(),
            new_id: swap.new_id.clone(),
            image: swap.image.clone(),
            restart_policy: swap.restart_policy.clone(),
            main: false,
            unit: 0,
            // The create follows the journal write within seconds; a crash can only have
            // left a replacement made then.
            created_window: Some((swap.journalled_at, swap.journalled_at + 300)),
        }
    }
}

/// The report entries of a group, in the order the executor goes: the planned ones for a
/// dry run, the starting point for a real one.
pub fn planned_actions(group: &UpdateGroup) -> Vec<ActionReport> {
    GroupReport::planned(group).into_actions()
}

impl Updater<'_> {
    /// Applies one group; returns its report entries (see [`planned_actions`]).
    pub async fn apply(&self, group: &UpdateGroup) -> Vec<ActionReport> {
        let mut report = GroupReport::planned(group);
        self.apply_to(group, &mut report).await;
        report.into_actions()
    }

    async fn apply_to(&self, group: &UpdateGroup, report: &mut GroupReport) {
        let reference = group.reference.familiar();

        // 1. Still as planned?
        let skip = match self.engine.inspect_image(&reference).await {
            Ok(image) if image.id == group.old_image => None,
            Ok(image) => Some(format!(
                "{reference} names {} since planning, not {}",
                short_id(&image.id),
                short_id(&group.old_image)
            )),
            Err(err) => Some(err.to_string()),
        };
        let skip = match (skip, &group.target) {
            (None, Some(target)) => {
                self.target_moved(target, group.target_before.as_deref())
                    .await
            }
            (skip, _) => skip,
        };
        let skip = skip.or_else(|| {
            self.cancel
                .is_cancelled()
                .then(|| format!("{} before it began", self.cancel.why()))
        });
        if let Some(why) = skip {
            self.finish(report, Status::Skipped, &why);
            return;
        }

        // 2. The journal, before anything changes.
        let journal = InFlight {
            reference: reference.clone(),
            old_image: group.old_image.clone(),
            rollback_tag: group.rollback_tag.clone(),
            displaced: group.displaced.clone(),
            target: group.target.as_ref().map(ImageRef::familiar),
            target_before: group.target_before.clone(),
            tracked_from: group.target.as_ref().map(|_| reference.clone()),
            ..InFlight::default()
        };
        if let Err(err) = self.write_journal(&journal) {
            self.finish(report, Status::Failed, &err.to_string());
            return;
        }

        // 3. The rollback tag, before the pull moves the reference's tag.
        if let (Some(tag), Some(entry)) = (&group.rollback_tag, report.tag.as_mut()) {
            if let Err(err) = self.engine.tag_image(&group.old_image, tag).await {
                self.clear_journal(&reference);
                let why = format!("cannot tag {tag}: {err}");
                self.finish(report, Status::Failed, &why);
                return;
            }
            self.done(entry);
        }

        // 4. Pull.
        let pulled = self.pull(group).await;
        let Some(entry) = report.pull.as_mut() else {
            return;
        };
        let new_image = match pulled {
            Ok(id) if id == group.old_image && group.target.is_none() => {
                // The registry's digest changed, but not the image for this platform.
                let problems = self.undo_tags(group, false).await;
                if problems.is_empty() {
                    self.clear_journal(&reference);
                } else {
                    entry.error = Some(with_problems(String::new(), &problems));
                }
                self.done(entry);
                let why = "the pull brought the image already here: nothing to recreate";
                self.finish(report, Status::Skipped, why);
                return;
            }
            Ok(id) => id,
            Err(err) => {
                let problems = self.undo_tags(group, false).await;
                if problems.is_empty() {
                    self.clear_journal(&reference);
                }
                entry.status = Status::Failed;
                entry.error = Some(with_problems(err.clone(), &problems));
                (self.progress)(entry);
                let why = format!("the pull failed: {err}");
                self.finish(report, Status::Skipped, &why);
                return;
            }
        };
        self.done(entry);

        self.swap_and_settle(group, journal, &new_image, report)
            .await;
    }

    /// 5. Swaps the group's containers, 6. commits, or rolls back what did not pass.
    async fn swap_and_settle(
        &self,
        group: &UpdateGroup,
        mut journal: InFlight,
        new_image: &str,
        report: &mut GroupReport,
    ) {
        let (units, snapshot) = match self.fresh_units(group).await {
            Ok(found) => found,
            Err(failure) => {
                self.roll_back(group, &journal, &[], new_image, &failure, report)
                    .await;
                return;
            }
        };
        if let Some(why) = self.pre_update_hooks(group, &units, report).await {
            self.hold_back(group, new_image, &why, report).await;
            return;
        }
        if group.compose_write
            && let Err(why) = self
                .edit_compose_files(group, &units, &mut journal, report)
                .await
        {
            self.hold_back(group, new_image, &why, report).await;
            return;
        }
        let (mut swapped, failure) = self
            .swap_all(&units, group, new_image, &mut journal, report)
            .await;
        let failure = match failure {
            None => self.recheck(&swapped).await.err(),
            Some((failure, failed_unit)) => {
                // Replicas of the failing one's Compose service that passed their gate stay
                // updated: a scaled service is updated replica by replica.
                let stay = replicas_that_stay(&snapshot, &units, failed_unit, &swapped);
                let (kept, rest): (Vec<Swapped>, Vec<Swapped>) =
                    swapped.into_iter().partition(|s| stay.contains(&s.unit));
                // Only replicas still up right now stay (one gated earlier may have died
                // since), and only once the journal says so; otherwise all roll back.
                let keep = !kept.is_empty()
                    && self.recheck(&kept).await.is_ok()
                    && self
                        .commit_replicas(&kept, &units[failed_unit], &mut journal, report)
                        .await;
                swapped = if keep {
                    rest
                } else {
                    kept.into_iter().chain(rest).collect()
                };
                Some(failure)
            }
        };
        match failure {
            Some(failure) => {
                self.roll_back(group, &journal, &swapped, new_image, &failure, report)
                    .await;
            }
            None => {
                self.commit(group, journal, &swapped, report).await;
            }
        }
    }

    /// Runs the `pre-update` hooks of the group's containers, in order, before any of them
    /// stops. The first that does not pass vetoes the whole group: a tag names one image,
    /// and moving it for the others would leave the vetoed container behind it (Compose's
    /// next `up` would then recreate it anyway). Returns why, for the vetoed group.
    async fn pre_update_hooks(
        &self,
        group: &UpdateGroup,
        units: &[Unit],
        report: &mut GroupReport,
    ) -> Option<String> {
        for unit in units {
            let name = &unit.container.name;
            let Some(hook) = group.hook(name, Phase::PreUpdate) else {
                continue;
            };
            if self.cancel.is_cancelled() {
                return Some(format!(
                    "{} before the pre-update hooks ended",
                    self.cancel.why()
                ));
            }
            let run = self.run_hook(&unit.container.id, name, hook).await;
            let (status, why) = match run.as_ref().map(|r| (r.outcome(hook), r)) {
                Ok((Outcome::Passed, _)) => (Status::Done, None),
                Ok((Outcome::SkipThisTime, r)) => {
                    tracing::info!(container = %name, "{}", r.describe(hook));
                    (Status::Skipped, Some(r.describe(hook)))
                }
                Ok((Outcome::Failed, r)) => {
                    tracing::warn!(container = %name, "{}; not updated", r.describe(hook));
                    (Status::Failed, Some(r.describe(hook)))
                }
                Err(err) => (Status::Failed, Some(err.clone())),
            };
            if let Some(entry) = report.hook_mut(name, Phase::PreUpdate) {
                entry.status = status;
                entry.error.clone_from(&why);
                (self.progress)(entry);
            }
            if let Some(why) = why {
                return Some(format!("{name}: {why}"));
            }
        }
        None
    }

    /// Tag tracking with `compose_file: write`: edits the compose files of the units'
    /// Compose services to name the target tag (see `compose_edit`), each journalled before
    /// it is written, before any container stops. Why not, when a service cannot be moved
    /// exactly (what was written is put back first).
    async fn edit_compose_files(
        &self,
        group: &UpdateGroup,
        units: &[Unit],
        journal: &mut InFlight,
        report: &mut GroupReport,
    ) -> Result<(), String> {
        let (Some(old_tag), Some(new_tag)) = (
            group.reference.tag(),
            group.target.as_ref().and_then(|t| t.tag()),
        ) else {
            return Ok(());
        };
        let mut services: Vec<compose_edit::ServiceNow> = Vec::new();
        for unit in units {
            let name = &unit.container.name;
            let c = self
                .engine
                .inspect_container(&unit.container.id)
                .await
                .map_err(|e| format!("cannot inspect {name}: {e}"))?;
            let Some(service) = updates::ComposeService::of(&c.config.labels) else {
                continue;
            };
            if services.iter().all(|s| s.service != service) {
                services.push(compose_edit::ServiceNow {
                    service,
                    config_hash: c
                        .config
                        .labels
                        .get(replace::COMPOSE_CONFIG_HASH_LABEL)
                        .cloned()
                        .unwrap_or_default(),
                    image: c.config.image.clone(),
                });
            }
        }
        let written = match compose_edit::plan(&services, old_tag, new_tag) {
            Ok(planned) => self.write_compose_files(&planned, journal),
            Err(why) => Err(why),
        };
        for entry in &mut report.compose {
            match &written {
                Ok(()) => entry.status = Status::Done,
                Err(why) => {
                    entry.status = Status::Failed;
                    entry.error = Some(why.clone());
                }
            }
            (self.progress)(entry);
        }
        written
    }

    /// Writes planned compose edits, each journalled first; on a failure, puts back those
    /// written and takes them out of the journal.
    fn write_compose_files(
        &self,
        planned: &[compose_edit::Planned],
        journal: &mut InFlight,
    ) -> Result<(), String> {
        for p in planned {
            journal.compose_edits.push(p.edit.clone());
            let result = self
                .write_journal(journal)
                .map_err(|e| e.to_string())
                .and_then(|()| compose_edit::write(p));
            if let Err(why) = result {
                let problems: Vec<String> = journal
                    .compose_edits
                    .drain(..)
                    .filter_map(|e| compose_edit::restore(&e).err())
                    .collect();
                let _ = self.write_journal(journal);
                return Err(with_problems(why, &problems));
            }
            tracing::info!(file = %p.edit.path, backup = %p.edit.backup, "compose file edited");
        }
        Ok(())
    }

    /// Runs `hook` in the container `id` (named `name`); an error when it could not run.
    async fn run_hook(&self, id: &str, name: &str, hook: &Hook) -> Result<HookRun, String> {
        tracing::info!(container = %name, phase = %hook.phase, command = %hook.command, "running hook");
        (self.status)(&format!(
            "{} hook in {name} (at most {})",
            hook.phase,
            humantime::format_duration(hook.timeout)
        ));
        self.engine
            .run_hook(id, &hook.command, hook.timeout, self.cancel)
            .await
            .map_err(|err| format!("cannot run the {} hook: {err}", hook.phase))
    }

    /// A `pre-update` hook vetoed the group before anything stopped: the tags go back, the
    /// pulled image goes if nothing uses it, and every container is kept, with why.
    async fn hold_back(
        &self,
        group: &UpdateGroup,
        new_image: &str,
        why: &str,
        report: &mut GroupReport,
    ) {
        let reference = group.reference.familiar();
        let problems = self.undo_tags(group, false).await;
        if problems.is_empty() {
            self.clear_journal(&reference);
        }
        let _ = remove_if_unused(self.engine, new_image).await;
        let why = with_problems(
            format!(
                "held back, {reference} stays on {}: {why}",
                short_id(&group.old_image)
            ),
            &problems,
        );
        self.finish(report, Status::Skipped, &why);
    }

    /// Finishes the replicas that stay updated while the rest of the group rolls back: the
    /// journal forgets them first (and keeps the rollback tag on the image they replaced,
    /// their way back), then their old containers go, and the report says why they stay.
    /// `false` when the journal cannot be written: then nothing stays.
    async fn commit_replicas(
        &self,
        kept: &[Swapped],
        failed: &Unit,
        journal: &mut InFlight,
        report: &mut GroupReport,
    ) -> bool {
        let before = journal.clone();
        journal
            .containers
            .retain(|j| !kept.iter().any(|k| k.target.id == j.old_id));
        journal.keep_rollback_tag = true;
        if let Err(err) = self.write_journal(journal) {
            tracing::error!(error = %err, "cannot write the update journal; rolling back every replica");
            *journal = before;
            return false;
        }
        let mut leftovers = Vec::new();
        for s in kept.iter().rev() {
            if let Err(err) = remove_parked(self.engine, &s.target.id).await {
                leftovers.push(format!("{} could not be removed: {err}", s.parked_name));
            }
        }
        for a in &mut report.recreates {
            if kept.iter().any(|k| k.target.name == a.name) {
                let mut note = format!(
                    "updated: passed its gate before {} failed; the other replicas are rolled back",
                    failed.container.name
                );
                if !leftovers.is_empty() {
                    let _ = write!(note, "; {}", leftovers.join("; "));
                }
                a.error = Some(note);
                self.done(a);
            }
        }
        true
    }

    /// Marks the entries that are still planned as `status`, with `why`.
    fn finish(&self, report: &mut GroupReport, status: Status, why: &str) {
        for a in report.all_mut() {
            if a.status == Status::Planned {
                a.status = status;
                a.error = Some(why.to_owned());
                (self.progress)(a);
            }
        }
    }

    fn done(&self, action: &mut ActionReport) {
        action.status = Status::Done;
        (self.progress)(action);
    }

    /// The group's containers as they are now, looked up by name: an earlier group or a
    /// prune in the same run may have replaced or removed some since the snapshot.
    async fn fresh_units(&self, group: &UpdateGroup) -> Result<(Vec<Unit>, Snapshot), Failure> {
        let names: Vec<String> = group
            .units
            .iter()
            .map(|u| u.container.name.clone())
            .collect();
        let who = names.first().cloned().unwrap_or_default();
        let snapshot = self
            .engine
            .snapshot()
            .await
            .map_err(|e| Failure::new(&who, UpdateError::docker(Step::List)(e)))?;
        // Still running, still created from this reference (`Config.Image`; the list shows
        // an image ID once the pull moved the tag): one re-created meanwhile on another
        // image, or stopped, is not this update's to touch.
        let mut current = Vec::new();
        for name in names {
            let Ok(c) = self.engine.inspect_container(&name).await else {
                continue;
            };
            let same = ImageRef::parse(&c.config.image).is_ok_and(|r| r == group.reference);
            if same && c.state.running {
                refuse_auto_remove(&name, &c.host_config)?;
                refuse_unreadable_compose_files(&name, &c.config.labels)?;
                current.push(name);
            }
        }
        let units = updates::units(&snapshot, &current);
        if let Some(why) = updates::protected_dependent(&units, &snapshot, self.protect) {
            return Err(Failure::new(&who, UpdateError::Refused(why)));
        }
        // Stopping a container with AutoRemove deletes it: refuse before stopping anything.
        for unit in &units {
            for d in unit
                .network_dependents
                .iter()
                .chain(&unit.compose_dependents)
            {
                let c =
                    self.engine.inspect_container(&d.id).await.map_err(|e| {
                        Failure::new(&d.name, UpdateError::docker(Step::Inspect)(e))
                    })?;
                refuse_auto_remove(&d.name, &c.host_config)?;
            }
        }
        Ok((units, snapshot))
    }

    /// Swaps the units in order until one fails; returns what was swapped and the failure.
    async fn swap_all(
        &self,
        units: &[Unit],
        group: &UpdateGroup,
        image_id: &str,
        journal: &mut InFlight,
        report: &mut GroupReport,
    ) -> (Vec<Swapped>, Option<(Failure, usize)>) {
        let mut swapped: Vec<Swapped> = Vec::new();
        for (i, unit) in units.iter().enumerate() {
            if self.cancel.is_cancelled() {
                let failure = Failure::new(&unit.container.name, UpdateError::Interrupted);
                return (swapped, Some((failure, i)));
            }
            let before = swapped.len();
            if let Err(failure) = self
                .swap_unit(unit, group, image_id, journal, &mut swapped, report)
                .await
            {
                return (swapped, Some((failure, i)));
            }
            for s in &mut swapped[before..] {
                s.unit = i;
            }
        }
        (swapped, None)
    }

    /// Swaps one unit. On failure, undoes its own part (earlier units are the caller's),
    /// starts what it stopped, and returns why.
    async fn swap_unit(
        &self,
        unit: &Unit,
        group: &UpdateGroup,
        image_id: &str,
        journal: &mut InFlight,
        swapped: &mut Vec<Swapped>,
        report: &mut GroupReport,
    ) -> Result<(), Failure> {
        let mut mine: Vec<Swapped> = Vec::new();
        let result = self
            .swap_unit_steps(unit, group, image_id, journal, &mut mine, report)
            .await;
        if let Err(mut failure) = result {
            let mut problems = self.undo(&mine).await;
            problems.extend(self.start_stopped(journal).await);
            // Kept when the undo had problems: recovery tries again. Kept too after a
            // change that got no answer: it may land after this undo (see `roll_back`).
            if problems.is_empty() && !failure.error.is_outcome_unknown() {
                journal
                    .containers
                    .retain(|s| !mine.iter().any(|m| m.target.id == s.old_id));
                journal.stopped.clear();
                if let Err(err) = self.write_journal(journal) {
                    problems.push(err.to_string());
                }
            }
            failure.undo_problems.extend(problems);
            return Err(failure);
        }
        swapped.extend(mine);
        Ok(())
    }

    async fn swap_unit_steps(
        &self,
        unit: &Unit,
        group: &UpdateGroup,
        image_id: &str,
        journal: &mut InFlight,
        mine: &mut Vec<Swapped>,
        report: &mut GroupReport,
    ) -> Result<(), Failure> {
        let name = unit.container.name.clone();
        // A dependent that an earlier unit of this group already replaced is parked (its
        // old ID): it must neither be stopped (a no-op) nor started again next to its
        // replacement. (Dependents that depend on each other can lead here.)
        let parked = |d: &&Target| journal.containers.iter().any(|s| s.old_id == d.id);
        let (compose_deps, network_deps): (Vec<Target>, Vec<Target>) = (
            unit.compose_dependents
                .iter()
                .filter(|d| !parked(d))
                .cloned()
                .collect(),
            unit.network_dependents
                .iter()
                .filter(|d| !parked(d))
                .cloned()
                .collect(),
        );
        // Dependents first: journalled, then stopped. One gone meanwhile is not in the way.
        let mut compose = Vec::new();
        for d in &compose_deps {
            if self.stop_dependent(d, group, journal).await? {
                compose.push(d.clone());
            }
        }
        let mut network = Vec::new();
        for d in &network_deps {
            if !d.running || self.stop_dependent(d, group, journal).await? {
                network.push(d.clone());
            }
        }
        let new_id = self
            .replace(
                &unit.container,
                Role::Main {
                    image_id,
                    moved: None,
                },
                group,
                journal,
                mine,
            )
            .await?;
        self.post_update_hook(unit, group, &new_id, mine.last(), report)
            .await?;
        // Gate the container before its dependents join its network stack: a failure is
        // then reported against the container that failed.
        self.gate(mine.last(), &new_id, group, true).await?;
        for d in &network {
            let id = self
                .replace(
                    d,
                    Role::NetworkDependent {
                        host: &new_id,
                        reference: group.moved_tag(),
                        image_id,
                    },
                    group,
                    journal,
                    mine,
                )
                .await?;
            self.gate(mine.last(), &id, group, false).await?;
        }
        for d in &compose {
            tracing::info!(container = %d.name, "starting again (depends on {name})");
            self.engine
                .start_container(&d.id)
                .await
                .map_err(|e| Failure::new(&d.name, UpdateError::docker(Step::StartAgain)(e)))?;
            journal.stopped.retain(|s| s.id != d.id);
        }
        self.write_journal(journal)
            .map_err(|err| Failure::new(&name, err))
    }

    /// Runs the `post-update` hook in the started replacement `new_id`. One that does not
    /// pass fails the swap (the new image is blamed, as a failed gate blames it), unless
    /// the rule says `on_failure: warn`: then the new container stays, and the report says
    /// what the hook did.
    async fn post_update_hook(
        &self,
        unit: &Unit,
        group: &UpdateGroup,
        new_id: &str,
        swapped: Option<&Swapped>,
        report: &mut GroupReport,
    ) -> Result<(), Failure> {
        let name = &unit.container.name;
        let Some(hook) = group.hook(name, Phase::PostUpdate) else {
            return Ok(());
        };
        if !swapped.is_some_and(|s| s.target.running) {
            return Ok(());
        }
        // Only the hook's own failure (an exit code, a timeout) is held against the new
        // image; one that could not run, or a signal, is not.
        let (why, blame) = match self.run_hook(new_id, name, hook).await {
            Ok(run) if run.outcome(hook) == Outcome::Passed => (None, false),
            Ok(run) => (Some(run.describe(hook)), !run.interrupted),
            Err(err) => (Some(err), false),
        };
        // A signal always rolls back: the run is stopping, the gate will not be held.
        let warn = group.on_hook_failure(name) == HookFailure::Warn && !self.cancel.is_cancelled();
        if let Some(entry) = report.hook_mut(name, Phase::PostUpdate) {
            match &why {
                None => entry.status = Status::Done,
                Some(why) if warn => {
                    entry.status = Status::Done;
                    entry.error = Some(format!(
                        "{why}; the new container is kept (on_failure: warn)"
                    ));
                }
                Some(why) => {
                    entry.status = Status::Failed;
                    entry.error = Some(why.clone());
                }
            }
            (self.progress)(entry);
        }
        match why {
            Some(why) if warn => {
                tracing::warn!(container = %name, "{why}; the new container is kept (on_failure: warn)");
                Ok(())
            }
            Some(_) if self.cancel.is_cancelled() => {
                Err(Failure::new(name, UpdateError::Interrupted))
            }
            Some(why) => Err(Failure::new(name, UpdateError::Hook(why)).blamed(blame)),
            None => Ok(()),
        }
    }

    /// Journals and stops a running dependent. `Ok(false)` when it is gone or not running.
    async fn stop_dependent(
        &self,
        d: &Target,
        group: &UpdateGroup,
        journal: &mut InFlight,
    ) -> Result<bool, Failure> {
        if !d.running {
            return Ok(false);
        }
        journal.stopped.push(Stopped {
            id: d.id.clone(),
            name: d.name.clone(),
        });
        self.write_journal(journal)
            .map_err(|err| Failure::new(&d.name, err))?;
        tracing::info!(container = %d.name, "stopping (depends on a container being updated)");
        match self
            .engine
            .stop_container(&d.id, group.stop_timeout, d.stop_signal.as_deref())
            .await
        {
            Ok(()) => Ok(true),
            Err(err) if err.is_not_found() => {
                journal.stopped.retain(|s| s.id != d.id);
                Ok(false)
            }
            Err(err) => {
                if err.is_outcome_unknown() {
                    let grace = group.stop_timeout.unwrap_or(DEFAULT_STOP_GRACE);
                    undo::settle_stop(self.engine, &d.id, &d.name, grace).await;
                }
                Err(Failure::new(&d.name, UpdateError::docker(Step::Stop)(err)))
            }
        }
    }

    /// The health gate for the replacement of `swapped`, if it is meant to run.
    async fn gate(
        &self,
        swapped: Option<&Swapped>,
        new_id: &str,
        group: &UpdateGroup,
        main: bool,
    ) -> Result<(), Failure> {
        let Some(s) = swapped.filter(|s| s.target.running) else {
            return Ok(());
        };
        let timeout = humantime::format_duration(group.health_timeout);
        tracing::info!(container = %s.target.name, %timeout, "health gate");
        (self.status)(&format!(
            "health gate: {} must stay up for {timeout}",
            s.target.name
        ));
        health_gate(self.engine, new_id, group.health_timeout, self.cancel)
            .await
            .map_err(|error| {
                let image_fault = matches!(error, UpdateError::Gate(_));
                let blame = main && image_fault && !self.cancel.is_cancelled();
                Failure::new(&s.target.name, error).blamed(blame)
            })
    }

    /// Just before the commit: every replacement that passed its gate must still be up
    /// (one gated first may have died while later ones were gated).
    async fn recheck(&self, swapped: &[Swapped]) -> Result<(), Failure> {
        for s in swapped.iter().filter(|s| s.target.running) {
            let id = s.new_id.as_deref().unwrap_or_default();
            let fail = |error: UpdateError| Failure::new(&s.target.name, error).blamed(s.main);
            let c = self
                .engine
                .inspect_container(id)
                .await
                .map_err(|e| fail(UpdateError::docker(Step::Recheck)(e)))?;
            let unhealthy = c
                .state
                .health
                .as_ref()
                .is_some_and(|h| h.status == "unhealthy");
            if !c.state.running || c.state.restarting || unhealthy {
                return Err(fail(UpdateError::WentDown {
                    status: c.state.status,
                }));
            }
        }
        Ok(())
    }

    /// Undoes everything of the group; records the digest when the new image is to blame.
    #[allow(clippy::too_many_arguments)]
    async fn roll_back(
        &self,
        group: &UpdateGroup,
        journal: &InFlight,
        swapped: &[Swapped],
        new_image: &str,
        failure: &Failure,
        report: &mut GroupReport,
    ) {
        let reference = group.reference.familiar();
        let mut problems = failure.undo_problems.clone();
        problems.extend(self.undo(swapped).await);
        problems.extend(self.start_stopped(journal).await);
        problems.extend(self.undo_tags(group, journal.keep_rollback_tag).await);
        if !journal.keep_rollback_tag {
            problems.extend(self.restore_compose_files(journal, report));
        }
        let _ = remove_if_unused(self.engine, new_image).await;
        let mut reason = format!("{}: {}", failure.who, failure.error);
        // A change that got no answer may land after the undo (dockerd acts on what it
        // received, however late): the journal stays, so the next run's recovery checks
        // the containers again and undoes whatever landed.
        let unsettled = failure.error.is_outcome_unknown();
        if unsettled && problems.is_empty() {
            reason.push_str(
                " (the change got no answer and may still land: the next run checks that it is undone)",
            );
        }
        self.edit_state(|state| {
            // With problems the journal stays: the next run's recovery tries again.
            if problems.is_empty() && !unsettled {
                state.in_flight.retain(|f| f.reference != reference);
            }
            if failure.blame_image {
                crate::memory::record_rollback(
                    &mut state.rolled_back,
                    (&reference, &group.remote_digest),
                    unix_now(),
                    reason.clone(),
                    false,
                );
            }
        });
        let error = with_problems(
            format!("{reason}; rolled back to {}", short_id(&group.old_image)),
            &problems,
        );
        for a in report
            .recreates
            .iter_mut()
            .filter(|a| a.status != Status::Done)
        {
            a.status = Status::RolledBack;
            a.error = Some(error.clone());
            (self.progress)(a);
        }
        for a in report
            .pre_hooks
            .iter_mut()
            .chain(&mut report.post_hooks)
            .chain(&mut report.cleanup)
            .filter(|a| a.status == Status::Planned)
        {
            a.status = Status::Skipped;
            a.error = Some("the update was rolled back".to_owned());
            (self.progress)(a);
        }
        // A post-update hook that failed under `on_failure: warn` said the new container
        // stays; a later failure rolled it back after all.
        let rolled_back: Vec<&str> = report
            .recreates
            .iter()
            .filter(|a| a.status == Status::RolledBack)
            .map(|a| a.name.as_str())
            .collect();
        for a in &mut report.post_hooks {
            if let Some(error) = &mut a.error
                && rolled_back.contains(&a.name.as_str())
                && error.ends_with("(on_failure: warn)")
            {
                error.push_str("; rolled back afterwards");
            }
        }
    }

    /// Every replacement passed: the old containers go (dependents first, keeping their
    /// volumes), then the optional cleanup.
    /// Returns whether it committed (`false`: it had to roll back instead).
    async fn commit(
        &self,
        group: &UpdateGroup,
        mut journal: InFlight,
        swapped: &[Swapped],
        report: &mut GroupReport,
    ) -> bool {
        let reference = group.reference.familiar();
        journal.committed = true;
        if let Err(err) = self.write_journal(&journal) {
            // Without the commit on disk a crash would be rolled back with the old
            // containers gone: roll back now instead, while they are all there.
            let failure = Failure::new(&reference, err);
            let new_image = self
                .engine
                .inspect_image(&reference)
                .await
                .map(|i| i.id)
                .unwrap_or_default();
            journal.committed = false;
            self.roll_back(group, &journal, swapped, &new_image, &failure, report)
                .await;
            return false;
        }
        let mut leftovers = Vec::new();
        let mut still_parked = Vec::new();
        for s in swapped.iter().rev() {
            if let Err(err) = remove_parked(self.engine, &s.target.id).await {
                tracing::warn!(container = %s.parked_name, error = %err,
                    "cannot remove the replaced container; the next run tries again");
                leftovers.push(format!(
                    "{} could not be removed ({err}); the next run tries again",
                    s.parked_name
                ));
                still_parked.push(s.target.id.clone());
            }
        }
        for a in &mut report.recreates {
            if swapped.iter().any(|s| s.target.name == a.name) {
                if !leftovers.is_empty() {
                    a.error = Some(format!("updated; {}", leftovers.join("; ")));
                }
                self.done(a);
            } else {
                a.status = Status::Skipped;
                a.error = Some("no longer running from this reference".to_owned());
                (self.progress)(a);
            }
        }
        for a in report
            .pre_hooks
            .iter_mut()
            .chain(&mut report.post_hooks)
            .filter(|a| a.status == Status::Planned)
        {
            a.status = Status::Skipped;
            a.error = Some("no longer running from this reference".to_owned());
            (self.progress)(a);
        }
        if let (Some(image), Some(a)) = (&group.cleanup, &mut report.cleanup) {
            match remove_if_unused(self.engine, image).await {
                Ok(()) => self.done(a),
                Err(why) => {
                    a.status = Status::Skipped;
                    a.error = Some(why);
                    (self.progress)(a);
                }
            }
        }
        // The update itself is done. A parked container that could not be removed stays
        // in a committed journal entry of its own: the next run's recovery removes it.
        journal
            .containers
            .retain(|c| still_parked.contains(&c.old_id));
        journal.stopped.clear();
        journal.compose_edits.clear();
        self.edit_state(|state| {
            state.in_flight.retain(|f| f.reference != reference);
            if !journal.containers.is_empty() {
                state.in_flight.push(journal.clone());
            }
            state.rolled_back.remove(&reference);
        });
        true
    }

    /// Pulls the group's reference (the target tag when tracking) at the digest the check
    /// saw and moves that tag onto it; returns the image ID. A registry that no longer has that digest fails
    /// the pull, and the tag has not moved.
    async fn pull(&self, group: &UpdateGroup) -> Result<String, String> {
        let reference = group.moved_tag();
        let familiar = reference.familiar();
        // Exactly the manifest the check saw, even if the tag moved since: the index for a
        // multi-platform image (the daemon picks the platform). Without a digest (never for
        // a planned update), the tag.
        let pinned = if group.remote_digest.starts_with("sha256:") {
            reference.at_digest(&group.remote_digest).familiar()
        } else {
            familiar.clone()
        };
        let auth = self
            .credentials
            .get(reference.registry())
            .await
            .map_err(|e| e.to_string())?
            .map(|c| docker_auth(&c, &auth_server(reference)));
        tracing::info!(reference = %pinned, "pulling");
        // Bytes per layer, summed for one line of progress.
        let layers: std::sync::Mutex<std::collections::BTreeMap<String, (u64, u64)>> =
            std::sync::Mutex::default();
        let last = std::sync::Mutex::new(String::new());
        let progress = |item: &swab_docker::models::PullProgress| {
            if let (Some(id), Some(detail)) = (&item.id, &item.progress_detail)
                && let (Some(current), Some(total)) = (detail.current, detail.total)
            {
                let mut layers = layers
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                layers.insert(id.clone(), (current, total));
                let (done, all) = layers
                    .values()
                    .fold((0, 0), |(d, a), (c, t)| (d + c, a + t));
                (self.status)(&format!(
                    "pulling {familiar}: {} of {}",
                    crate::format_bytes(done),
                    crate::format_bytes(all)
                ));
            }
            if let Some(status) = &item.status {
                status.clone_into(
                    &mut last
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                );
            }
        };
        // A signal ends the pull at once: dropping the request closes the connection,
        // which makes the daemon abandon the pull; the tags have not moved yet.
        tokio::select! {
            pulled = self.engine.pull_image(&pinned, auth.as_ref(), &progress) => {
                pulled.map_err(|e| e.to_string())?;
            }
            () = self.cancel.cancelled() => {
                return Err(format!("{} during the pull", self.cancel.why()));
            }
        }
        let last = last
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tracing::info!(reference = %pinned, status = %last, "pulled");
        let id = self
            .engine
            .inspect_image(&pinned)
            .await
            .map(|i| i.id)
            .map_err(|e| e.to_string())?;
        if pinned != familiar {
            self.engine
                .tag_image(&id, &familiar)
                .await
                .map_err(|e| format!("cannot tag the pulled image {familiar}: {e}"))?;
        }
        Ok(id)
    }

    /// Undoes swaps; returns what could not be undone.
    async fn undo(&self, swapped: &[Swapped]) -> Vec<String> {
        undo_all(self.engine, swapped).await
    }

    /// Starts the dependents the journal says swab stopped; returns what failed.
    async fn start_stopped(&self, journal: &InFlight) -> Vec<String> {
        start_stopped(self.engine, &journal.stopped).await
    }

    /// Moves the reference's tag back to the old image (a no-op if it never moved), the
    /// target tag (tracking) and the rollback tag back to where they were; returns what
    /// failed. With `keep_rollback_tag` (replicas stay updated) both stay.
    async fn undo_tags(&self, group: &UpdateGroup, keep_rollback_tag: bool) -> Vec<String> {
        let reference = group.reference.familiar();
        let mut problems = Vec::new();
        if let Err(err) = self.engine.tag_image(&group.old_image, &reference).await {
            problems.push(format!("cannot move {reference} back: {err}"));
        }
        if keep_rollback_tag {
            return problems;
        }
        if let Some(target) = &group.target
            && let Err(err) = restore_tag(
                self.engine,
                Some(&target.familiar()),
                group.target_before.as_deref(),
            )
            .await
        {
            problems.push(err);
        }
        if let Err(err) = restore_tag(
            self.engine,
            group.rollback_tag.as_deref(),
            group.displaced.as_deref(),
        )
        .await
        {
            problems.push(err);
        }
        problems
    }

    /// Why a tracking update does not start: its target tag names another image than at
    /// planning (someone pulled it meanwhile), or cannot be read.
    async fn target_moved(&self, target: &ImageRef, before: Option<&str>) -> Option<String> {
        let familiar = target.familiar();
        match (self.engine.inspect_image(&familiar).await, before) {
            (Ok(image), Some(before)) if image.id == before => None,
            (Err(err), None) if err.is_not_found() => None,
            (Ok(image), _) => Some(format!(
                "{familiar} names {} since planning",
                short_id(&image.id)
            )),
            (Err(err), _) => Some(err.to_string()),
        }
    }

    /// Puts back the compose files the journal says were edited; returns what failed.
    fn restore_compose_files(&self, journal: &InFlight, report: &mut GroupReport) -> Vec<String> {
        let problems: Vec<String> = journal
            .compose_edits
            .iter()
            .filter_map(|e| compose_edit::restore(e).err())
            .collect();
        for entry in &mut report.compose {
            if entry.status == Status::Done {
                entry.status = Status::RolledBack;
                (self.progress)(entry);
            }
        }
        problems
    }

    /// Writes the journal entry; an update never goes on without it.
    fn write_journal(&self, journal: &InFlight) -> Result<(), UpdateError> {
        self.state
            .edit(&mut |state| {
                state.in_flight.retain(|f| f.reference != journal.reference);
                state.in_flight.push(journal.clone());
            })
            .map_err(UpdateError::Journal)
    }

    fn clear_journal(&self, reference: &str) {
        self.edit_state(|state| state.in_flight.retain(|f| f.reference != reference));
    }

    fn edit_state(&self, change: impl FnOnce(&mut State)) {
        let mut change = Some(change);
        let mut once = |state: &mut State| {
            if let Some(change) = change.take() {
                change(state);
            }
        };
        if let Err(err) = self.state.edit(&mut once) {
            tracing::error!(error = %err, "cannot write swab's state");
        }
    }
}

/// Stopping a container with AutoRemove (`--rm`) deletes it: such a container, or one
/// that would have to stop with it, is never part of an update.
fn refuse_auto_remove(name: &str, host_config: &Value) -> Result<(), Failure> {
    if host_config["AutoRemove"] == true {
        return Err(Failure::new(
            name,
            UpdateError::Refused(
                "runs with AutoRemove (--rm): stopping it would delete it, so nothing it \
                 belongs to is updated"
                    .to_owned(),
            ),
        ));
    }
    Ok(())
}

/// The units before `failed` that are replicas of the same Compose service (project and
/// service labels, as the snapshot the units came from has them) as the failing one and
/// passed their gates: they stay updated.
fn replicas_that_stay(
    snapshot: &Snapshot,
    units: &[Unit],
    failed: usize,
    swapped: &[Swapped],
) -> Vec<usize> {
    let service_of = |id: &str| {
        let labels = &snapshot.containers.iter().find(|c| c.id == id)?.labels;
        Some((
            labels.get("com.docker.compose.project")?,
            labels.get(compose::SERVICE_LABEL)?,
        ))
    };
    let Some(service) = service_of(&units[failed].container.id) else {
        return Vec::new();
    };
    (0..failed)
        .filter(|&i| {
            swapped.iter().any(|s| s.unit == i && s.main)
                && service_of(&units[i].container.id) == Some(service)
        })
        .collect()
}

/// A Compose container whose compose files swab cannot read, or whose config or secret
/// paths hold a `${VARIABLE}`, may have configs or secrets that exist only in the
/// container (`content:`), which swab could then not carry over: such a container is not
/// updated, and nothing is stopped.
fn refuse_unreadable_compose_files(
    name: &str,
    labels: &std::collections::HashMap<String, String>,
) -> Result<(), Failure> {
    let labels = serde_json::to_value(labels).unwrap_or_default();
    let why = match compose::documents(&labels) {
        None => return Ok(()),
        Some(Err(why)) => format!(
            "{why}: swab needs the project's compose files to carry its configs and secrets \
             over (mount the project directory into swab's container at the same path)"
        ),
        Some(Ok((service, documents))) => match compose::injected_paths(&documents, &service) {
            Ok(_) => return Ok(()),
            Err(why) => format!(
                "{why}; its configs and secrets could not be carried over (write the path \
                 without a variable to let swab update it)"
            ),
        },
    };
    Err(Failure::new(name, UpdateError::Refused(why)))
}

/// `problems` appended to `why`, if any.
fn with_problems(mut why: String, problems: &[String]) -> String {
    if !problems.is_empty() {
        let _ = write!(why, "; rollback problems: {}", problems.join("; "));
    }
    why
}

/// Whether a restart policy would have the daemon start the container on its own.
fn restarts(policy: &Value) -> bool {
    !matches!(policy["Name"].as_str(), None | Some("" | "no"))
}

/// Removes an image by ID if it has no tags and no containers: never forced.
async fn remove_if_unused(engine: &dyn UpdateEngine, image: &str) -> Result<(), String> {
    let inspect = engine
        .inspect_image(image)
        .await
        .map_err(|e| e.to_string())?;
    let tags: Vec<&String> = inspect
        .repo_tags
        .iter()
        .filter(|t| *t != "<none>:<none>")
        .collect();
    if !tags.is_empty() {
        return Err(format!(
            "still tagged {}",
            tags.iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    engine
        .remove_image(image, false)
        .await
        .map_err(|e| e.to_string())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `serveraddress` Docker expects for a registry's credentials.
/// Registry credentials in the form the Docker Engine's `X-Registry-Auth` header takes, so a
/// pull after a look-up uses what the look-up used. `server_address` is the registry host.
pub(crate) fn docker_auth(
    credentials: &swab_registry::Credentials,
    server_address: &str,
) -> swab_docker::RegistryAuth {
    let mut auth = swab_docker::RegistryAuth {
        server_address: Some(server_address.to_owned()),
        ..Default::default()
    };
    match credentials {
        swab_registry::Credentials::Basic { username, password } => {
            auth.username = Some(username.clone());
            auth.password = Some(password.expose().to_owned());
        }
        swab_registry::Credentials::IdentityToken { token } => {
            auth.identity_token = Some(token.expose().to_owned());
        }
        // A kind of credentials the header cannot carry: none are sent, and the daemon's
        // pull fails with the registry's own answer.
        _ => {}
    }
    auth
}

pub(crate) fn auth_server(reference: &ImageRef) -> String {
    if reference.registry() == "docker.io" {
        swab_registry::DOCKER_HUB_CONFIG_KEY.to_owned()
    } else {
        reference.registry().to_owned()
    }
}
