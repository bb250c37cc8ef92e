//! The report of one update group, by role: the executor fills in each entry as its step
//! ends, instead of walking a flat list by index.

use std::fmt::Write as _;

use crate::hooks::Phase;
use crate::report::{ActionKind, ActionReport, Status};
use crate::snapshot::short_id;
use crate::updates::{UpdateGroup, short_digest};

/// The entries of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupReport {
    /// The rollback tag on the old image, unless the rule keeps none.
    pub tag: Option<ActionReport>,
    /// The pull; `None` for `swab rollback`, which pulls nothing.
    pub pull: Option<ActionReport>,
    /// The `pre-update` hooks, run after the pull and before the first container stops.
    pub pre_hooks: Vec<ActionReport>,
    /// Tag tracking with `compose_file: write`: one per Compose service whose compose file
    /// is edited, after the hooks and before the first container stops.
    pub compose: Vec<ActionReport>,
    /// One per container recreated: each unit's container, then its network dependents.
    pub recreates: Vec<ActionReport>,
    /// The `post-update` hooks, each listed after its container's recreate entry.
    pub post_hooks: Vec<ActionReport>,
    /// The optional cleanup of the image the rollback tag moved away from.
    pub cleanup: Option<ActionReport>,
}

/// Why the group's image is pulled.
fn pull_reason(group: &UpdateGroup) -> String {
    let digest = short_digest(&group.remote_digest);
    match &group.target {
        Some(_) => format!(
            "the newest version rule `{}` allows ({digest}); {} stays on the old image",
            group.rule,
            group.reference.familiar()
        ),
        None => format!("the registry has {digest}, not the local image"),
    }
}

/// The planned recreate entries: each unit's container, then its network dependents.
fn recreate_entries(
    group: &UpdateGroup,
    entry: &dyn Fn(ActionKind, &str, &str, String) -> ActionReport,
) -> Vec<ActionReport> {
    let reference = group.reference.familiar();
    let pulled = group.moved_tag().familiar();
    let mut recreates = Vec::new();
    for unit in &group.units {
        let mut reason = match &group.target {
            Some(_) => format!("runs {reference}: moves to {pulled}"),
            None => format!("runs {reference}, which has a new image"),
        };
        if !unit.compose_dependents.is_empty() {
            let names: Vec<&str> = unit
                .compose_dependents
                .iter()
                .map(|d| d.name.as_str())
                .collect();
            let _ = write!(
                reason,
                "; stops and starts {} around it (they depend on it)",
                names.join(", ")
            );
        }
        recreates.push(entry(
            ActionKind::RecreateContainer,
            &unit.container.id,
            &unit.container.name,
            reason,
        ));
        for dependent in &unit.network_dependents {
            recreates.push(entry(
                ActionKind::RecreateContainer,
                &dependent.id,
                &dependent.name,
                format!(
                    "shares the network stack of {}, which is recreated",
                    unit.container.name
                ),
            ));
        }
    }
    recreates
}

impl GroupReport {
    /// Every entry planned, with its reason.
    pub fn planned(group: &UpdateGroup) -> GroupReport {
        let entry = |action: ActionKind, id: &str, name: &str, reason: String| ActionReport {
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
        let tag = group.rollback_tag.as_ref().map(|tag| {
            entry(
                ActionKind::TagImage,
                &group.old_image,
                tag,
                format!(
                    "keep the image {reference} names now ({}) for rollback",
                    short_id(&group.old_image)
                ),
            )
        });
        let pulled = group.moved_tag().familiar();
        let pull = Some(entry(
            ActionKind::PullImage,
            &pulled,
            &pulled,
            pull_reason(group),
        ));
        let hook_entry = |unit: &crate::updates::Unit, phase: Phase| {
            let hook = group.hook(&unit.container.name, phase)?;
            Some(entry(
                ActionKind::RunHook,
                &unit.container.id,
                &unit.container.name,
                hook.reason(),
            ))
        };
        let pre_hooks = group
            .units
            .iter()
            .filter_map(|u| hook_entry(u, Phase::PreUpdate))
            .collect();
        let post_hooks = group
            .units
            .iter()
            .filter_map(|u| hook_entry(u, Phase::PostUpdate))
            .collect();
        let compose = group
            .compose
            .iter()
            .map(|s| {
                let files = s.files.join(", ");
                entry(
                    ActionKind::EditComposeFile,
                    &s.project,
                    &format!("{}/{}", s.project, s.service),
                    format!(
                        "set the service's image to {pulled} in {files} (the file before \
                         it kept as <file>.swab-previous)"
                    ),
                )
            })
            .collect();
        let recreates = recreate_entries(group, &entry);
        let cleanup = group.cleanup.as_ref().map(|image| {
            entry(
                ActionKind::RemoveImage,
                image,
                &format!("{} (previous)", short_id(image)),
                "cleanup: the image the rollback tag moves away from, once unused".to_owned(),
            )
        });
        GroupReport {
            tag,
            pull,
            pre_hooks,
            compose,
            recreates,
            post_hooks,
            cleanup,
        }
    }

    /// The hook entry of `phase` for the container `name`.
    pub fn hook_mut(&mut self, name: &str, phase: Phase) -> Option<&mut ActionReport> {
        let entries = match phase {
            Phase::PreUpdate => &mut self.pre_hooks,
            Phase::PostUpdate => &mut self.post_hooks,
            Phase::PreCheck | Phase::PostCheck => return None,
        };
        entries.iter_mut().find(|a| a.name == name)
    }

    /// Every entry, in the order the executor goes.
    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut ActionReport> {
        self.tag
            .iter_mut()
            .chain(self.pull.iter_mut())
            .chain(self.pre_hooks.iter_mut())
            .chain(self.compose.iter_mut())
            .chain(self.recreates.iter_mut())
            .chain(self.post_hooks.iter_mut())
            .chain(self.cleanup.iter_mut())
    }

    /// The entries, in the order the executor goes: a `post-update` hook right after its
    /// container's recreate.
    pub fn into_actions(self) -> Vec<ActionReport> {
        let mut post_hooks = self.post_hooks;
        let mut recreates = Vec::new();
        for recreate in self.recreates {
            let name = recreate.name.clone();
            recreates.push(recreate);
            if let Some(i) = post_hooks.iter().position(|h| h.name == name) {
                recreates.push(post_hooks.remove(i));
            }
        }
        self.tag
            .into_iter()
            .chain(self.pull)
            .chain(self.pre_hooks)
            .chain(self.compose)
            .chain(recreates)
            .chain(post_hooks)
            .chain(self.cleanup)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use swab_rules::ImageRef;

    use super::*;
    use crate::updates::{Target, Unit};

    fn target(name: &str) -> Target {
        Target {
            id: format!("id-{name}"),
            name: name.to_owned(),
            running: true,
            stop_signal: None,
        }
    }

    #[test]
    fn entries_come_in_the_order_the_executor_goes_with_their_reasons() {
        let group = UpdateGroup {
            rule: "u".to_owned(),
            reference: ImageRef::parse("r.example/app:1").unwrap(),
            old_image: "sha256:0123456789abcdef".to_owned(),
            remote_digest: "sha256:feedfacefeedface".to_owned(),
            target: None,
            target_before: None,
            compose_write: false,
            compose: Vec::new(),
            rollback_tag: Some("r.example/app:1-swab-previous".to_owned()),
            displaced: Some("sha256:aaaa".to_owned()),
            cleanup: Some("sha256:aaaa".to_owned()),
            health_timeout: Duration::from_secs(30),
            stop_timeout: None,
            units: vec![Unit {
                container: target("web"),
                network_dependents: vec![target("sidecar")],
                compose_dependents: vec![target("worker")],
            }],
            hooks: vec![(
                "web".to_owned(),
                crate::hooks::for_container(
                    &swab_rules::Hooks {
                        pre_update: Some("dump".to_owned()),
                        post_update: Some("migrate".to_owned()),
                        ..swab_rules::Hooks::default()
                    },
                    &std::collections::HashMap::new(),
                )
                .unwrap(),
            )],
        };
        let actions = GroupReport::planned(&group).into_actions();
        let summary: Vec<(ActionKind, &str)> = actions
            .iter()
            .map(|a| (a.action, a.name.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (ActionKind::TagImage, "r.example/app:1-swab-previous"),
                (ActionKind::PullImage, "r.example/app:1"),
                (ActionKind::RunHook, "web"),
                (ActionKind::RecreateContainer, "web"),
                (ActionKind::RunHook, "web"),
                (ActionKind::RecreateContainer, "sidecar"),
                (ActionKind::RemoveImage, "aaaa (previous)"),
            ]
        );
        assert_eq!(
            actions[2].reason,
            "pre-update hook from rule hooks.pre_update: `dump`"
        );
        assert_eq!(
            actions[3].reason,
            "runs r.example/app:1, which has a new image; stops and starts worker around it (they depend on it)"
        );
        assert_eq!(
            actions[4].reason,
            "post-update hook from rule hooks.post_update: `migrate`"
        );
        assert_eq!(
            actions[5].reason,
            "shares the network stack of web, which is recreated"
        );
        assert!(actions.iter().all(|a| a.status == Status::Planned));
    }
}
