//! The update executor: pulls, retags and recreates, with a health gate and rollback.
//!
//! One [`UpdateGroup`] (one reference) is applied all or nothing:
//!
//! 1. the tag must still name the planned image (someone may have pulled meanwhile);
//! 2. the old image gets the rollback tag, *before* the pull moves the reference's tag;
//! 3. the reference is pulled (with `X-Registry-Auth` from the docker config);
//! 4. the journal (the state file's `in_flight`) records the update, then each container
//!    is swapped: Compose dependents stopped, network dependents stopped, the container
//!    stopped and parked as `<name>-swab-old-<short id>`, the replacement created from the
//!    old one's inspect ([`crate::recreate`]) under the original name and started,
//!    network dependents recreated against it, and every replacement held to the health
//!    gate; Compose dependents are started again;
//! 5. all healthy: the journal is marked committed, the parked containers are removed
//!    (never their volumes: the replacements use them), optional cleanup, journal cleared.
//!
//! Any failure, or a signal, before the commit undoes everything of the group in reverse:
//! replacements removed, parked containers renamed back and started, the tag moved back,
//! the rollback tag put back where it was, the failed digest recorded so the next run
//! waits for a newer one. A crash between steps leaves the journal, and [`recover`] at the
//! next start finishes or undoes it the same way. No old container is removed before its
//! replacement has passed the gate, so no container is ever lost.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use swab_docker::{Docker, Error, RemoveContainerOptions, RemoveImageOptions};
use swab_registry::CredentialStore;
use swab_rules::ImageRef;

use crate::recreate;
use crate::report::{ActionReport, Status};
use crate::snapshot::short_id;
use crate::state::{InFlight, RolledBack, State, Swap};
use crate::updates::{Target, Unit, UpdateGroup, short_digest};

/// Set by a signal handler: work in flight finishes or rolls back, nothing new starts.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag that is not set.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Sets the flag.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether it is set.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How often the health gate looks at a replacement.
const POLL: Duration = Duration::from_millis(250);

/// What the updater needs besides the group.
#[allow(missing_debug_implementations)] // holds a callback
pub struct Updater<'a> {
    /// The daemon.
    pub docker: &'a Docker,
    /// Credentials for pulls.
    pub credentials: &'a CredentialStore,
    /// The state file holding the journal and rolled-back digests.
    pub state_path: &'a Path,
    /// Set on SIGINT/SIGTERM.
    pub cancel: &'a Cancel,
    /// Called after each action.
    pub progress: &'a (dyn Fn(&ActionReport) + Sync),
    /// Called with what a long step is doing now (`pulling x: 12.1 MB of 40.2 MB`,
    /// `waiting for web to stay up (60s)`), for a progress display.
    pub status: &'a (dyn Fn(&str) + Sync),
}

/// The report entries of a group, in the order the executor goes: the planned ones for a
/// dry run, the starting point for a real one.
pub fn planned_actions(group: &UpdateGroup) -> Vec<ActionReport> {
    let mut out = Vec::new();
    let entry = |action: &'static str, id: &str, name: &str, reason: String| ActionReport {
        rule: group.rule.clone(),
        action,
        id: id.to_owned(),
        name: name.to_owned(),
        reason,
        status: Status::Planned,
        error: None,
        bytes: None,
    };
    let reference = group.reference.familiar();
    if let Some(tag) = &group.rollback_tag {
        out.push(entry(
            "tag_image",
            &group.old_image,
            tag,
            format!(
                "keep the image {reference} names now ({}) for rollback",
                short_id(&group.old_image)
            ),
        ));
    }
    out.push(entry(
        "pull_image",
        &reference,
        &reference,
        format!(
            "the registry has {}, not the local image",
            short_digest(&group.remote_digest)
        ),
    ));
    for unit in &group.units {
        let mut reason = format!("runs {reference}, which has a new image");
        if !unit.compose_dependents.is_empty() {
            let names: Vec<&str> = unit
                .compose_dependents
                .iter()
                .map(|d| d.name.as_str())
                .collect();
            let _ = write!(
                reason,
                "; stops and starts {} around it (Compose depends_on)",
                names.join(", ")
            );
        }
        out.push(entry(
            "recreate_container",
            &unit.container.id,
            &unit.container.name,
            reason,
        ));
        for dependent in &unit.network_dependents {
            out.push(entry(
                "recreate_container",
                &dependent.id,
                &dependent.name,
                format!(
                    "shares the network stack of {}, which is recreated",
                    unit.container.name
                ),
            ));
        }
    }
    if let Some(image) = &group.cleanup {
        out.push(entry(
            "remove_image",
            image,
            &format!("{} (previous)", short_id(image)),
            "cleanup: the image the rollback tag moves away from, once unused".to_owned(),
        ));
    }
    out
}

/// The container `swab rollback` acts on, and the image it goes back to.
struct RollbackTarget {
    name: String,
    reference: ImageRef,
    familiar: String,
    repo: String,
    rollback_tag: String,
    previous: swab_docker::models::ImageInspect,
    running_image: String,
}

/// A container swapped (or being swapped): what undoing it needs.
#[derive(Debug, Clone)]
struct Swapped {
    target: Target,
    parked_name: String,
    new_id: Option<String>,
}

impl Updater<'_> {
    /// Applies one group; returns its report entries (see [`planned_actions`]).
    pub async fn apply(&self, group: &UpdateGroup) -> Vec<ActionReport> {
        let mut actions = planned_actions(group);
        let reference = group.reference.familiar();
        let finish = |actions: &mut Vec<ActionReport>, from: usize, status: Status, why: &str| {
            for a in actions.iter_mut().skip(from) {
                if a.status == Status::Planned {
                    a.status = status;
                    a.error = Some(why.to_owned());
                    (self.progress)(a);
                }
            }
        };
        let mut step = 0;

        // 1. Still as planned?
        match self.docker.inspect_image(&reference).await {
            Ok(image) if image.id == group.old_image => {}
            Ok(image) => {
                let why = format!(
                    "{reference} names {} since planning, not {}",
                    short_id(&image.id),
                    short_id(&group.old_image)
                );
                finish(&mut actions, 0, Status::Skipped, &why);
                return actions;
            }
            Err(err) => {
                finish(&mut actions, 0, Status::Skipped, &err.to_string());
                return actions;
            }
        }
        if self.cancel.is_cancelled() {
            finish(
                &mut actions,
                0,
                Status::Skipped,
                "interrupted before it began",
            );
            return actions;
        }

        // 2. The rollback tag, before the pull moves the reference's tag.
        if let Some(tag) = &group.rollback_tag {
            let result = tag_image(self.docker, &group.old_image, tag).await;
            if let Err(err) = result {
                let why = format!("cannot tag {tag}: {err}");
                actions[0].status = Status::Failed;
                actions[0].error = Some(err.to_string());
                (self.progress)(&actions[0]);
                finish(&mut actions, 1, Status::Skipped, &why);
                return actions;
            }
            self.done(&mut actions[step]);
            step += 1;
        }

        // 3. Pull.
        let pulled = self.pull(&group.reference).await;
        let new_image = match pulled {
            Ok(id) => id,
            Err(err) => {
                self.undo_tags(group, false).await;
                actions[step].status = Status::Failed;
                actions[step].error = Some(err.clone());
                (self.progress)(&actions[step]);
                let why = format!("the pull failed: {err}");
                finish(&mut actions, step + 1, Status::Skipped, &why);
                return actions;
            }
        };
        self.done(&mut actions[step]);
        step += 1;
        if new_image == group.old_image {
            // The registry's digest changed, but not the image for this platform.
            finish(
                &mut actions,
                step,
                Status::Skipped,
                "the pull brought the same image: nothing to recreate",
            );
            return actions;
        }

        // 4. Journal, then swap each unit.
        let mut journal = InFlight {
            reference: reference.clone(),
            old_image: group.old_image.clone(),
            rollback_tag: group.rollback_tag.clone(),
            displaced: group.displaced.clone(),
            committed: false,
            containers: Vec::new(),
        };
        self.write_journal(&journal);
        let (swapped, failure) = self.swap_all(group, &mut journal).await;
        match failure {
            Some((name, why)) => {
                let reason = format!("{name}: {why}");
                self.roll_back(group, &swapped, &new_image, &reason, &mut actions[step..])
                    .await;
            }
            None => {
                self.commit(group, journal, &swapped, &mut actions[step..])
                    .await;
            }
        }
        actions
    }

    /// Swaps the group's units in order until one fails; returns what was swapped and the
    /// failure, `(container, why)`.
    async fn swap_all(
        &self,
        group: &UpdateGroup,
        journal: &mut InFlight,
    ) -> (Vec<Swapped>, Option<(String, String)>) {
        let reference = group.reference.familiar();
        let mut swapped: Vec<Swapped> = Vec::new();
        for unit in &group.units {
            if self.cancel.is_cancelled() {
                let why = "interrupted by a signal".to_owned();
                return (swapped, Some((unit.container.name.clone(), why)));
            }
            if let Err(failure) = self
                .swap_unit(unit, &reference, group, journal, &mut swapped)
                .await
            {
                return (swapped, Some(failure));
            }
        }
        (swapped, None)
    }

    /// 5a. Undoes everything of the group and records the digest that failed.
    async fn roll_back(
        &self,
        group: &UpdateGroup,
        swapped: &[Swapped],
        new_image: &str,
        reason: &str,
        rest: &mut [ActionReport],
    ) {
        let reference = group.reference.familiar();
        let undo_errors = self.undo(swapped).await;
        self.undo_tags(group, true).await;
        let _ = remove_if_unused(self.docker, new_image).await;
        // A signal says nothing about the new image: only a real failure keeps the digest
        // from being tried again.
        let interrupted = self.cancel.is_cancelled();
        self.edit_state(|state| {
            state.in_flight.retain(|f| f.reference != reference);
            if !interrupted {
                state.rolled_back.insert(
                    reference.clone(),
                    RolledBack {
                        digest: group.remote_digest.clone(),
                        at: unix_now(),
                        reason: reason.to_owned(),
                    },
                );
            }
        });
        let mut error = format!("{reason}; rolled back to {}", short_id(&group.old_image));
        if !undo_errors.is_empty() {
            let _ = write!(error, "; rollback problems: {}", undo_errors.join("; "));
        }
        for a in rest {
            if a.action == "recreate_container" {
                a.status = Status::RolledBack;
                a.error = Some(error.clone());
            } else {
                a.status = Status::Skipped;
                a.error = Some("the update was rolled back".to_owned());
            }
            (self.progress)(a);
        }
    }

    /// 5b. Every replacement passed: the old containers go (keeping their volumes), then the
    /// optional cleanup.
    async fn commit(
        &self,
        group: &UpdateGroup,
        mut journal: InFlight,
        swapped: &[Swapped],
        rest: &mut [ActionReport],
    ) {
        let reference = group.reference.familiar();
        journal.committed = true;
        self.write_journal(&journal);
        for s in swapped {
            if let Err(err) = self
                .docker
                .remove_container(&s.target.id, keep_volumes())
                .await
            {
                tracing::warn!(container = %s.parked_name, error = %err,
                    "cannot remove the replaced container; remove it by hand");
            }
        }
        for a in rest.iter_mut() {
            if a.action == "recreate_container" {
                self.done(a);
            }
        }
        if let Some(image) = &group.cleanup
            && let Some(a) = rest.iter_mut().find(|a| a.action == "remove_image")
        {
            match remove_if_unused(self.docker, image).await {
                Ok(()) => self.done(a),
                Err(why) => {
                    a.status = Status::Skipped;
                    a.error = Some(why);
                    (self.progress)(a);
                }
            }
        }
        self.edit_state(|state| {
            state.in_flight.retain(|f| f.reference != reference);
            state.rolled_back.remove(&reference);
        });
    }

    /// `swab rollback`: puts `container` back on the image its reference's rollback tag
    /// names. The reference's tag moves back to that image, the container (with its network
    /// dependents) is swapped under the same health gate, and on success the digest rolled
    /// away from is recorded like a failed update, so the next update run does not bring it
    /// straight back. On failure the tag returns and the container is left as it was.
    ///
    /// # Errors
    ///
    /// When the container, its reference or the rollback image cannot be found: nothing
    /// was changed then.
    pub async fn rollback(
        &self,
        container: &str,
        template: &swab_rules::RollbackTag,
        health_timeout: Duration,
        stop_timeout: Option<Duration>,
        snapshot: &crate::snapshot::Snapshot,
    ) -> Result<Vec<ActionReport>, String> {
        let RollbackTarget {
            name,
            reference,
            familiar,
            repo,
            rollback_tag,
            previous,
            running_image,
        } = self.rollback_target(container, template).await?;
        let current = self.docker.inspect_image(&familiar).await.ok();
        let units = crate::updates::units(snapshot, std::slice::from_ref(&name));
        if units.is_empty() {
            return Err(format!(
                "{name} is not in the snapshot (created meanwhile?)"
            ));
        }
        let group = UpdateGroup {
            rule: "rollback".to_owned(),
            reference: reference.clone(),
            old_image: current.as_ref().map_or(running_image, |c| c.id.clone()),
            remote_digest: String::new(),
            rollback_tag: None,
            displaced: None,
            cleanup: None,
            health_timeout,
            stop_timeout,
            units,
        };
        let mut actions = planned_actions(&group);
        actions.retain(|a| a.action == "recreate_container");
        for a in &mut actions {
            a.reason = format!("back to {rollback_tag} ({})", short_id(&previous.id));
        }
        let mut tagged = ActionReport {
            rule: group.rule.clone(),
            action: "tag_image",
            id: previous.id.clone(),
            name: familiar.clone(),
            reason: format!("move {familiar} back to {rollback_tag}"),
            status: Status::Planned,
            error: None,
            bytes: None,
        };
        if let Err(e) = tag_image(self.docker, &previous.id, &familiar).await {
            return Err(format!("cannot tag {familiar}: {e}"));
        }
        self.done(&mut tagged);
        let mut journal = InFlight {
            reference: familiar.clone(),
            old_image: group.old_image.clone(),
            rollback_tag: None,
            displaced: None,
            committed: false,
            containers: Vec::new(),
        };
        self.write_journal(&journal);
        let (swapped, failure) = self.swap_all(&group, &mut journal).await;
        if let Some((who, why)) = failure {
            let problems = self.undo(&swapped).await;
            if let Err(e) = tag_image(self.docker, &group.old_image, &familiar).await {
                tracing::error!(reference = %familiar, error = %e, "cannot move the tag back");
            }
            self.edit_state(|state| state.in_flight.retain(|f| f.reference != familiar));
            let mut error = format!("{who}: {why}; left as it was");
            if !problems.is_empty() {
                let _ = write!(error, "; rollback problems: {}", problems.join("; "));
            }
            for a in &mut actions {
                a.status = Status::RolledBack;
                a.error = Some(error.clone());
                (self.progress)(a);
            }
        } else {
            self.commit(&group, journal, &swapped, &mut actions).await;
            self.remember_rolled_back(current.as_ref(), &repo, &familiar, &group.old_image);
        }
        actions.insert(0, tagged);
        Ok(actions)
    }

    /// What `swab rollback` needs to know before it changes anything.
    async fn rollback_target(
        &self,
        container: &str,
        template: &swab_rules::RollbackTag,
    ) -> Result<RollbackTarget, String> {
        let inspect = self
            .docker
            .inspect_container(container)
            .await
            .map_err(|e| format!("cannot inspect container {container}: {e}"))?;
        let name = inspect.name().to_owned();
        let reference = ImageRef::parse(&inspect.config.image).map_err(|e| {
            format!(
                "{name} was created from {:?}, not an image reference: {e}",
                inspect.config.image
            )
        })?;
        let familiar = reference.familiar();
        let (Some(tag), None) = (reference.tag(), reference.digest()) else {
            return Err(format!(
                "{name} runs {familiar}, which is pinned by digest: nothing to roll back to"
            ));
        };
        let rendered = template.render(tag).ok_or_else(|| {
            format!("the rollback tag for {familiar} would be over 128 characters")
        })?;
        let repo = familiar
            .strip_suffix(&format!(":{tag}"))
            .unwrap_or(&familiar);
        let rollback_tag = format!("{repo}:{rendered}");
        let previous = self.docker.inspect_image(&rollback_tag).await.map_err(|e| {
            if e.is_not_found() {
                format!("there is no {rollback_tag}: swab keeps the previous image under that tag when it updates {familiar}")
            } else {
                format!("cannot inspect {rollback_tag}: {e}")
            }
        })?;
        if previous.id == inspect.image {
            return Err(format!(
                "{name} already runs {rollback_tag} ({})",
                short_id(&previous.id)
            ));
        }
        Ok(RollbackTarget {
            repo: repo.to_owned(),
            name,
            reference,
            familiar,
            rollback_tag,
            previous,
            running_image: inspect.image,
        })
    }

    /// After `swab rollback`: records the digest rolled away from like a failed update, so
    /// the next update run does not bring it straight back.
    fn remember_rolled_back(
        &self,
        current: Option<&swab_docker::models::ImageInspect>,
        repo: &str,
        familiar: &str,
        old_image: &str,
    ) {
        let digest = current
            .iter()
            .flat_map(|c| c.repo_digests.iter())
            .find_map(|d| {
                d.split_once('@')
                    .filter(|(r, _)| *r == repo)
                    .map(|(_, d)| d.to_owned())
            });
        if let Some(digest) = digest {
            self.edit_state(|state| {
                state.rolled_back.insert(
                    familiar.to_owned(),
                    RolledBack {
                        digest,
                        at: unix_now(),
                        reason: format!("rolled back by hand from {}", short_id(old_image)),
                    },
                );
            });
        }
    }

    fn done(&self, action: &mut ActionReport) {
        action.status = Status::Done;
        (self.progress)(action);
    }

    /// Pulls `reference` and returns the ID of the image its tag names afterwards.
    async fn pull(&self, reference: &ImageRef) -> Result<String, String> {
        let familiar = reference.familiar();
        let auth = self
            .credentials
            .get(reference.registry())
            .await
            .map_err(|e| e.to_string())?
            .map(|c| c.to_docker_auth(&auth_server(reference)));
        tracing::info!(reference = %familiar, "pulling");
        let mut stream = Box::pin(
            self.docker
                .pull_image(&familiar, auth.as_ref())
                .await
                .map_err(|e| e.to_string())?,
        );
        // Bytes per layer, summed for one line of progress.
        let mut layers: std::collections::BTreeMap<String, (u64, u64)> =
            std::collections::BTreeMap::new();
        let mut last = String::new();
        while let Some(item) = futures_util::StreamExt::next(&mut stream).await {
            let item = item.map_err(|e| e.to_string())?;
            if let (Some(id), Some(detail)) = (&item.id, &item.progress_detail)
                && let (Some(current), Some(total)) = (detail.current, detail.total)
            {
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
            if let Some(status) = item.status {
                last = status;
            }
        }
        tracing::info!(reference = %familiar, status = %last, "pulled");
        self.docker
            .inspect_image(&familiar)
            .await
            .map(|i| i.id)
            .map_err(|e| e.to_string())
    }

    /// Swaps one unit; on failure undoes its own part and returns `(container, why)`.
    /// What was swapped is appended to `swapped` only once the unit passed.
    async fn swap_unit(
        &self,
        unit: &Unit,
        reference: &str,
        group: &UpdateGroup,
        journal: &mut InFlight,
        swapped: &mut Vec<Swapped>,
    ) -> Result<(), (String, String)> {
        let mut mine: Vec<Swapped> = Vec::new();
        let result = self
            .swap_unit_steps(unit, reference, group, journal, &mut mine)
            .await;
        match result {
            Ok(()) => {
                swapped.extend(mine);
                Ok(())
            }
            Err(err) => {
                let problems = self.undo(&mine).await;
                for p in problems {
                    tracing::error!(problem = %p, "rollback problem");
                }
                // Network dependents stopped but not yet parked run again on the old one.
                let unparked: Vec<Target> = unit
                    .network_dependents
                    .iter()
                    .filter(|d| d.running && !mine.iter().any(|m| m.target.id == d.id))
                    .cloned()
                    .collect();
                self.start_all(&unparked).await;
                self.start_all(&unit.compose_dependents).await;
                Err(err)
            }
        }
    }

    async fn swap_unit_steps(
        &self,
        unit: &Unit,
        reference: &str,
        group: &UpdateGroup,
        journal: &mut InFlight,
        mine: &mut Vec<Swapped>,
    ) -> Result<(), (String, String)> {
        let name = unit.container.name.clone();
        let fail = |who: &str, why: String| (who.to_owned(), why);
        // Compose dependents first, then network dependents, then the container.
        for d in &unit.compose_dependents {
            tracing::info!(container = %d.name, "stopping (depends on {name})");
            self.docker
                .stop_container(&d.id, group.stop_timeout)
                .await
                .map_err(|e| fail(&d.name, format!("cannot stop: {e}")))?;
        }
        for d in &unit.network_dependents {
            self.docker
                .stop_container(&d.id, group.stop_timeout)
                .await
                .map_err(|e| fail(&d.name, format!("cannot stop: {e}")))?;
        }
        let new_id = self
            .replace(&unit.container, reference, None, group, journal, mine)
            .await?;
        // Gate the container before its dependents join its network stack: a failure is
        // then reported against the container that failed.
        self.gate(&unit.container, &new_id, group).await?;
        for d in &unit.network_dependents {
            let raw = self
                .docker
                .inspect_container_raw(&d.id)
                .await
                .map_err(|e| fail(&d.name, e.to_string()))?;
            let own_image = raw["Config"]["Image"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            self.replace(d, &own_image, Some(&new_id), group, journal, mine)
                .await?;
        }
        for s in mine.iter().skip(1) {
            let id = s.new_id.clone().unwrap_or_default();
            self.gate(&s.target, &id, group).await?;
        }
        self.start_all(&unit.compose_dependents).await;
        Ok(())
    }

    /// The health gate for a replacement that is meant to run.
    async fn gate(
        &self,
        target: &Target,
        new_id: &str,
        group: &UpdateGroup,
    ) -> Result<(), (String, String)> {
        if !target.running {
            return Ok(());
        }
        let timeout = humantime::format_duration(group.health_timeout);
        tracing::info!(container = %target.name, %timeout, "health gate");
        (self.status)(&format!(
            "health gate: {} must stay up for {timeout}",
            target.name
        ));
        health_gate(self.docker, new_id, group.health_timeout, self.cancel)
            .await
            .map_err(|why| (target.name.clone(), why))
    }

    /// Stops, parks and replaces one container; the replacement runs `image` and, with
    /// `network_of`, the network stack of that container. Returns the replacement's ID.
    async fn replace(
        &self,
        target: &Target,
        image: &str,
        network_of: Option<&str>,
        group: &UpdateGroup,
        journal: &mut InFlight,
        mine: &mut Vec<Swapped>,
    ) -> Result<String, (String, String)> {
        let name = target.name.clone();
        let fail = |why: String| (name.clone(), why);
        let raw = self
            .docker
            .inspect_container_raw(&target.id)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let old_image_id = raw["Image"].as_str().unwrap_or_default().to_owned();
        let old_image_config = match self.docker.inspect_image(&old_image_id).await {
            Ok(image) => serde_json::to_value(image.config).unwrap_or(Value::Null),
            Err(e) => return Err(fail(format!("cannot read its image: {e}"))),
        };
        let api = self
            .docker
            .api_version()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut spec = recreate::create_body(&raw, &old_image_config, image, api)
            .map_err(|e| fail(format!("cannot derive the replacement: {e}")))?;
        if let Some(host) = network_of {
            spec.body["HostConfig"]["NetworkMode"] = Value::String(format!("container:{host}"));
        }

        tracing::info!(container = %name, "stopping");
        self.docker
            .stop_container(&target.id, group.stop_timeout)
            .await
            .map_err(|e| fail(format!("cannot stop: {e}")))?;
        let parked_name = format!("{name}-swab-old-{}", short_id(&target.id));
        // Journal before the rename, so a crash after it is found by the next start.
        journal.containers.push(Swap {
            name: name.clone(),
            old_id: target.id.clone(),
            parked_name: parked_name.clone(),
            was_running: target.running,
            new_id: None,
        });
        self.write_journal(journal);
        if let Err(e) = self.docker.rename_container(&target.id, &parked_name).await {
            // Not parked: only a restart to undo.
            journal.containers.pop();
            self.write_journal(journal);
            if target.running {
                let _ = self.docker.start_container(&target.id).await;
            }
            return Err(fail(format!("cannot rename: {e}")));
        }
        mine.push(Swapped {
            target: target.clone(),
            parked_name,
            new_id: None,
        });
        let created = self
            .docker
            .create_container(Some(&spec.name), &spec.body)
            .await
            .map_err(|e| fail(format!("cannot create the replacement: {e}")))?;
        if let Some(last) = mine.last_mut() {
            last.new_id = Some(created.id.clone());
        }
        if let Some(last) = journal.containers.last_mut() {
            last.new_id = Some(created.id.clone());
        }
        self.write_journal(journal);
        if target.running {
            tracing::info!(container = %name, id = %short_id(&created.id), "starting the replacement");
            self.docker
                .start_container(&created.id)
                .await
                .map_err(|e| fail(format!("cannot start the replacement: {e}")))?;
        }
        Ok(created.id)
    }

    /// Undoes swaps in reverse; returns what could not be undone.
    async fn undo(&self, swapped: &[Swapped]) -> Vec<String> {
        undo_all(self.docker, swapped).await
    }

    async fn start_all(&self, targets: &[Target]) {
        for t in targets {
            if let Err(err) = self.docker.start_container(&t.id).await {
                tracing::error!(container = %t.name, error = %err, "cannot start again");
            }
        }
    }

    /// Moves the reference's tag back to the old image (after a pull) and the rollback tag
    /// back to where it was.
    async fn undo_tags(&self, group: &UpdateGroup, pulled: bool) {
        let reference = group.reference.familiar();
        if pulled && let Err(err) = tag_image(self.docker, &group.old_image, &reference).await {
            tracing::error!(reference = %reference, error = %err, "cannot move the tag back");
        }
        restore_rollback_tag(
            self.docker,
            group.rollback_tag.as_deref(),
            group.displaced.as_deref(),
        )
        .await;
    }

    fn write_journal(&self, journal: &InFlight) {
        self.edit_state(|state| {
            state.in_flight.retain(|f| f.reference != journal.reference);
            state.in_flight.push(journal.clone());
        });
    }

    fn edit_state(&self, change: impl FnOnce(&mut State)) {
        if let Err(err) = State::edit_file(self.state_path, change) {
            tracing::error!(error = %err, "cannot write the update journal");
        }
    }
}

/// Puts the rollback tag back on `displaced`, or removes it when it named nothing before.
async fn restore_rollback_tag(docker: &Docker, tag: Option<&str>, displaced: Option<&str>) {
    let Some(tag) = tag else { return };
    let result = match displaced {
        Some(image) => tag_image(docker, image, tag).await,
        // Untag only: the old image keeps its other tag, so this never deletes it.
        None => docker
            .remove_image(
                tag,
                RemoveImageOptions {
                    force: false,
                    noprune: true,
                },
            )
            .await
            .map(drop),
    };
    if let Err(err) = result
        && !err.is_not_found()
    {
        tracing::error!(tag = %tag, error = %err, "cannot put the rollback tag back");
    }
}

/// Undoes swaps: first every replacement goes and every parked container gets its name
/// back (in reverse), then the parked containers that ran are started in their original
/// order, so a container sharing another's network stack starts after it.
async fn undo_all(docker: &Docker, swaps: &[Swapped]) -> Vec<String> {
    let mut problems = Vec::new();
    for s in swaps.iter().rev() {
        if let Some(new_id) = &s.new_id {
            let remove = RemoveContainerOptions {
                volumes: false,
                force: true,
            };
            if let Err(err) = docker.remove_container(new_id, remove).await
                && !err.is_not_found()
            {
                problems.push(format!(
                    "cannot remove the replacement of {}: {err}",
                    s.target.name
                ));
            }
        }
        if let Err(err) = docker.rename_container(&s.target.id, &s.target.name).await {
            problems.push(format!(
                "cannot rename {} back to {}: {err}",
                s.parked_name, s.target.name
            ));
        }
    }
    for s in swaps.iter().filter(|s| s.target.running) {
        if let Err(err) = docker.start_container(&s.target.id).await {
            problems.push(format!("cannot start {} again: {err}", s.target.name));
        }
    }
    problems
}

/// Waits until the container is healthy (with a HEALTHCHECK) or has kept running, without
/// a restart, for `timeout` (without one).
async fn health_gate(
    docker: &Docker,
    id: &str,
    timeout: Duration,
    cancel: &Cancel,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let first = docker
        .inspect_container(id)
        .await
        .map_err(|e| e.to_string())?;
    let started = first.state.started_at.clone();
    loop {
        let now = docker
            .inspect_container(id)
            .await
            .map_err(|e| e.to_string())?;
        let state = &now.state;
        if state.restarting
            || now.restart_count > first.restart_count
            || state.started_at != started
        {
            return Err(format!(
                "the replacement restarted (exit code {})",
                state.exit_code
            ));
        }
        if !state.running {
            let mut why = format!("the replacement exited with code {}", state.exit_code);
            if state.oom_killed {
                why.push_str(" (out of memory)");
            }
            if !state.error.is_empty() {
                let _ = write!(why, ": {}", state.error);
            }
            return Err(why);
        }
        if let Some(health) = &state.health {
            match health.status.as_str() {
                "healthy" => return Ok(()),
                "unhealthy" => {
                    let last = health
                        .log
                        .last()
                        .map(|l| l.output.trim().to_owned())
                        .unwrap_or_default();
                    return Err(format!("the replacement is unhealthy: {last}"));
                }
                _ => {}
            }
        }
        if cancel.is_cancelled() {
            return Err("interrupted by a signal".to_owned());
        }
        if Instant::now() >= deadline {
            return match &state.health {
                Some(h) => Err(format!(
                    "not healthy within {} (health: {})",
                    humantime::format_duration(timeout),
                    h.status
                )),
                None => Ok(()),
            };
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// Tags `image` as `reference` (`repo:tag`), moving the tag if it names another image.
async fn tag_image(docker: &Docker, image: &str, reference: &str) -> Result<(), Error> {
    let (repo, tag) = swab_docker::split_reference(reference);
    docker.tag_image(image, repo, tag).await
}

/// Removes an image by ID if it has no tags and no containers: never forced.
async fn remove_if_unused(docker: &Docker, image: &str) -> Result<(), String> {
    let inspect = docker
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
    docker
        .remove_image(
            image,
            RemoveImageOptions {
                force: false,
                noprune: false,
            },
        )
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

fn keep_volumes() -> RemoveContainerOptions {
    RemoveContainerOptions {
        volumes: false,
        force: false,
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `serveraddress` Docker expects for a registry's credentials.
pub(crate) fn auth_server(reference: &ImageRef) -> String {
    if reference.registry() == "docker.io" {
        swab_registry::DOCKER_HUB_CONFIG_KEY.to_owned()
    } else {
        reference.registry().to_owned()
    }
}

/// Finishes or undoes updates a crash interrupted, from the journal in the state file.
/// Runs before anything else in a real run, under the host lock. Returns what it did, in
/// words, for the report.
pub async fn recover(docker: &Docker, state_path: &Path) -> Vec<String> {
    let journal = match State::load(state_path) {
        Ok(state) => state.in_flight,
        Err(err) => return vec![format!("cannot read the update journal: {err}")],
    };
    let mut said = Vec::new();
    for entry in journal {
        if entry.committed {
            for swap in &entry.containers {
                match docker.remove_container(&swap.old_id, keep_volumes()).await {
                    Ok(()) => said.push(format!(
                        "finished the interrupted update of {}: removed the replaced container {}",
                        swap.name, swap.parked_name
                    )),
                    Err(err) if err.is_not_found() => {}
                    Err(err) => said.push(format!(
                        "cannot remove the replaced container {}: {err}",
                        swap.parked_name
                    )),
                }
            }
        } else {
            let mut parked = Vec::new();
            for swap in &entry.containers {
                match recover_swap(docker, swap).await {
                    Ok(Some(s)) => parked.push(s),
                    Ok(None) => {}
                    Err(problem) => said.push(problem),
                }
            }
            said.extend(undo_all(docker, &parked).await);
            if let Err(err) = tag_image(docker, &entry.old_image, &entry.reference).await {
                said.push(format!("cannot move {} back: {err}", entry.reference));
            }
            restore_rollback_tag(
                docker,
                entry.rollback_tag.as_deref(),
                entry.displaced.as_deref(),
            )
            .await;
            said.push(format!(
                "rolled back the interrupted update of {}",
                entry.reference
            ));
        }
        let reference = entry.reference.clone();
        if let Err(err) = State::edit_file(state_path, |s| {
            s.in_flight.retain(|f| f.reference != reference);
        }) {
            said.push(format!("cannot clear the update journal: {err}"));
        }
    }
    for line in &said {
        tracing::warn!("{line}");
    }
    said
}

/// What undoing one journalled swap needs, whatever step the crash hit: `None` when the
/// old container was never parked (it is started again here if the crash stopped it).
async fn recover_swap(docker: &Docker, swap: &Swap) -> Result<Option<Swapped>, String> {
    let old = match docker.inspect_container(&swap.old_id).await {
        Ok(old) => old,
        Err(err) if err.is_not_found() => {
            return Err(format!(
                "the old container of {} is gone; nothing to restore",
                swap.name
            ));
        }
        Err(err) => return Err(format!("cannot inspect {}: {err}", swap.parked_name)),
    };
    if old.name() == swap.name {
        if swap.was_running && !old.state.running {
            let _ = docker.start_container(&swap.old_id).await;
        }
        return Ok(None);
    }
    // The replacement: the journalled one, or whatever took the freed name.
    let replacement = match &swap.new_id {
        Some(id) => Some(id.clone()),
        None => docker
            .inspect_container(&swap.name)
            .await
            .ok()
            .filter(|c| c.id != swap.old_id)
            .map(|c| c.id),
    };
    Ok(Some(Swapped {
        target: Target {
            id: swap.old_id.clone(),
            name: swap.name.clone(),
            running: swap.was_running,
        },
        parked_name: swap.parked_name.clone(),
        new_id: replacement,
    }))
}
