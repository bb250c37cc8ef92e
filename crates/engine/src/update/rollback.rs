//! `swab rollback`: an update in reverse, under the same journal and health gate.

use swab_rules::ImageRef;

use super::compose_edit::{Planned, ServiceNow};
use super::replace::{COMPOSE_CONFIG_HASH_LABEL, TRACKED_FROM_LABEL};
use super::undo::restore_tag;
use super::{GroupReport, RollbackTarget, Updater, unix_now, with_problems};
use crate::report::{ActionKind, ActionReport, Status};
use crate::snapshot::short_id;
use crate::state::InFlight;
use crate::updates::ComposeService;
use crate::updates::UpdateGroup;
use std::time::Duration;

impl Updater<'_> {
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
            back_to,
            familiar,
            repo,
            rollback_tag,
            previous,
            running_image,
        } = self.rollback_target(container, template).await?;
        refuse_own(snapshot, &name)?;
        let tracked = back_to != reference;
        let running = reference.familiar();
        let current = self.engine.inspect_image(&running).await.ok();
        let old_image = current.as_ref().map_or(running_image, |c| c.id.clone());
        // What the tag going back names now: put back if the rollback fails (a tracked
        // container's old tag may be gone: then it is removed again).
        let before = if tracked {
            self.engine
                .inspect_image(&familiar)
                .await
                .ok()
                .map(|i| i.id)
        } else {
            Some(old_image.clone())
        };
        let units = crate::updates::units(snapshot, std::slice::from_ref(&name));
        (!units.is_empty())
            .then_some(())
            .ok_or_else(|| format!("{name} is not in the snapshot (created meanwhile?)"))?;
        // A Compose service moved by tracking goes back in its compose file too.
        let (compose, planned) = if tracked {
            self.compose_back(&name, &reference, &back_to).await?
        } else {
            (Vec::new(), Vec::new())
        };
        let group = UpdateGroup {
            rule: "rollback".to_owned(),
            reference: reference.clone(),
            old_image,
            remote_digest: String::new(),
            // A tracked container goes back to the tag it came from.
            target: tracked.then(|| back_to.clone()),
            target_before: before.clone(),
            compose_write: !compose.is_empty(),
            compose,
            rollback_tag: None,
            displaced: None,
            cleanup: None,
            health_timeout,
            stop_timeout,
            units,
            // A rollback runs no hooks: a `post-update` (a migration, say) was written for
            // the way forward.
            hooks: Vec::new(),
        };
        let (mut report, mut tagged) = rollback_report(&group, &rollback_tag, &previous.id);
        // The journal first: a crash after the tag move is undone by recovery. A tracked
        // container's replacement is created from the tag it came from, without the label.
        let mut journal = InFlight {
            reference: running.clone(),
            old_image: group.old_image.clone(),
            target: group.target.as_ref().map(ImageRef::familiar),
            target_before: before.clone(),
            ..InFlight::default()
        };
        self.write_journal(&journal).map_err(|e| e.to_string())?;
        if let Err(e) = self.engine.tag_image(&previous.id, &familiar).await {
            self.clear_journal(&running);
            return Err(format!("cannot tag {familiar}: {e}"));
        }
        self.done(&mut tagged);
        if let Err(why) = self.write_compose_files(&planned, &mut journal) {
            let _ = restore_tag(self.engine, Some(&familiar), before.as_deref()).await;
            self.clear_journal(&running);
            return Err(why);
        }
        for entry in &mut report.compose {
            self.done(entry);
        }
        let (swapped, failure) = match self.fresh_units(&group).await {
            Ok((units, _)) => {
                let (swapped, failure) = self
                    .swap_all(&units, &group, &previous.id, &mut journal, &mut report)
                    .await;
                (swapped, failure.map(|(failure, _)| failure))
            }
            Err(failure) => (Vec::new(), Some(failure)),
        };
        let failure = match failure {
            None => self.recheck(&swapped).await.err(),
            some => some,
        };
        if let Some(failure) = failure {
            self.leave_as_it_was(&failure, &swapped, &journal, before.as_deref(), &mut report)
                .await;
        } else if self.commit(&group, journal, &swapped, &mut report).await {
            self.remember_rolled_back(current.as_ref(), &repo, &familiar, &group.old_image);
        }
        let mut actions = vec![tagged];
        actions.extend(report.into_actions());
        Ok(actions)
    }

    /// A rollback that failed: the swaps are undone, stopped dependents started, and the
    /// tag that went back (`journal.target`, else the reference) returns to `before`.
    async fn leave_as_it_was(
        &self,
        failure: &super::Failure,
        swapped: &[super::Swapped],
        journal: &InFlight,
        before: Option<&str>,
        report: &mut GroupReport,
    ) {
        let mut problems = failure.undo_problems.clone();
        problems.extend(self.undo(swapped).await);
        problems.extend(self.start_stopped(journal).await);
        problems.extend(self.restore_compose_files(journal, report));
        let tag = journal.target.as_deref().unwrap_or(&journal.reference);
        if let Err(e) = restore_tag(self.engine, Some(tag), before).await {
            problems.push(e);
        }
        if problems.is_empty() {
            self.clear_journal(&journal.reference);
        }
        let error = with_problems(
            format!("{}: {}; left as it was", failure.who, failure.error),
            &problems,
        );
        for a in &mut report.recreates {
            a.status = Status::RolledBack;
            a.error = Some(error.clone());
            (self.progress)(a);
        }
    }

    /// For a Compose container tag tracking moved from `back_to` to `reference`: its
    /// service, and the edit of its compose file back to `back_to` (see `compose_edit`).
    /// Nothing for a container Compose did not create. An error when the file cannot be
    /// put back exactly: the rollback then changes nothing, and says how to do it by hand.
    async fn compose_back(
        &self,
        name: &str,
        reference: &ImageRef,
        back_to: &ImageRef,
    ) -> Result<(Vec<ComposeService>, Vec<Planned>), String> {
        let c = self
            .engine
            .inspect_container(name)
            .await
            .map_err(|e| format!("cannot inspect container {name}: {e}"))?;
        let Some(service) = ComposeService::of(&c.config.labels) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let (Some(from), Some(to)) = (reference.tag(), back_to.tag()) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let now = ServiceNow {
            config_hash: c
                .config
                .labels
                .get(COMPOSE_CONFIG_HASH_LABEL)
                .cloned()
                .unwrap_or_default(),
            image: c.config.image.clone(),
            service: service.clone(),
        };
        let planned =
            super::compose_edit::plan(std::slice::from_ref(&now), from, to).map_err(|why| {
                format!(
                    "{why}. To roll back by hand, set its image to {} in its compose file and run \
                 `docker compose up -d`",
                    back_to.familiar()
                )
            })?;
        Ok((vec![service], planned))
    }

    /// What `swab rollback` needs to know before it changes anything.
    async fn rollback_target(
        &self,
        container: &str,
        template: &swab_rules::RollbackTag,
    ) -> Result<RollbackTarget, String> {
        let inspect = self
            .engine
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
        // Moved by tag tracking: back to the tag it came from, whose rollback tag holds the
        // image it ran there.
        let back_to = match inspect.config.labels.get(TRACKED_FROM_LABEL) {
            Some(from) => ImageRef::parse(from)
                .ok()
                .filter(|r| r.repository_str() == reference.repository_str())
                .ok_or_else(|| {
                    format!("{name} has label {TRACKED_FROM_LABEL}={from:?}, not a tag of its repository")
                })?,
            None => reference.clone(),
        };
        let familiar = back_to.familiar();
        let (Some(tag), None) = (back_to.tag(), back_to.digest()) else {
            return Err(format!(
                "{name} runs {familiar}, which is pinned by digest: nothing to roll back to"
            ));
        };
        let rendered = template.render(tag).ok_or_else(|| {
            format!("the rollback tag for {familiar} would be over 128 characters")
        })?;
        let repo = familiar
            .strip_suffix(&format!(":{tag}"))
            .unwrap_or(&familiar)
            .to_owned();
        let rollback_tag = format!("{repo}:{rendered}");
        let previous = self.engine.inspect_image(&rollback_tag).await.map_err(|e| {
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
            repo,
            name,
            reference,
            back_to,
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
                crate::memory::record_rollback(
                    &mut state.rolled_back,
                    (familiar, &digest),
                    unix_now(),
                    format!("rolled back by hand from {}", short_id(old_image)),
                    true,
                );
            });
        }
    }
}

/// The entries of a rollback: the swaps (nothing is pulled) and the tag moving back.
fn rollback_report(
    group: &UpdateGroup,
    rollback_tag: &str,
    previous: &str,
) -> (GroupReport, ActionReport) {
    let mut report = GroupReport {
        tag: None,
        pull: None,
        ..GroupReport::planned(group)
    };
    for a in &mut report.recreates {
        a.reason = format!("back to {rollback_tag} ({})", short_id(previous));
    }
    let familiar = group.moved_tag().familiar();
    let tagged = ActionReport {
        rule: group.rule.clone(),
        action: ActionKind::TagImage,
        id: previous.to_owned(),
        reason: format!("move {familiar} back to {rollback_tag}"),
        name: familiar,
        status: Status::Planned,
        error: None,
        bytes: None,
    };
    (report, tagged)
}

/// `swab rollback` never recreates the container swab runs in.
fn refuse_own(snapshot: &crate::snapshot::Snapshot, name: &str) -> Result<(), String> {
    match snapshot
        .containers
        .iter()
        .find(|c| c.name == name && snapshot.is_own(c))
    {
        Some(own) => Err(format!("{}: {}", own.name, crate::own::reason(snapshot))),
        None => Ok(()),
    }
}
