//! Swarm services: which ones `update` rules with `services:` select, and what each needs.
//!
//! Swarm rolls a service out and back itself (rolling update, failure action, monitor,
//! previous spec). swab only decides whether to ask and with what image: the tag's current
//! registry digest, pinned as `repo:tag@sha256:…` the way Swarm pins images itself.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use swab_rules::{Action, FailureAction, ImageRef, Rule};

use crate::plan::{Kept, Note};
use crate::snapshot::Snapshot;
use crate::updates::{self, Answers, UpdateMemory};
use crate::window;

/// The label Docker stacks put on their services.
pub const STACK_LABEL: &str = "com.docker.stack.namespace";
/// The label on a container that is a Swarm task: its service decides what it runs.
pub const TASK_SERVICE_LABEL: &str = "com.docker.swarm.service.id";

/// A Swarm service as the plan sees it (from `GET /services`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Service {
    /// Service ID.
    pub id: String,
    /// Service name.
    pub name: String,
    /// `Version.Index`: an update must name it, so a spec changed meanwhile is refused.
    pub version: u64,
    /// `Spec.TaskTemplate.ContainerSpec.Image`, usually `repo:tag@sha256:…`.
    pub image: String,
    /// `Spec.Labels`.
    pub labels: HashMap<String, String>,
}

impl Service {
    /// Its stack (`com.docker.stack.namespace`), if a stack deployed it.
    pub fn stack(&self) -> Option<&str> {
        self.labels.get(STACK_LABEL).map(String::as_str)
    }
}

/// Whether this node can update services, and whether it should.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwarmRole {
    /// A manager answers the service API.
    pub manager: bool,
    /// Only the leader's swab updates services, so a global deployment updates each once.
    pub leader: bool,
}

/// A service a rule selects, and the tag it follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCheck {
    /// The first rule that selects it.
    pub rule: String,
    /// The service.
    pub service: Service,
    /// Its image without the digest: what the registry is asked about.
    pub reference: ImageRef,
    /// The digest its spec pins now, if any.
    pub pinned: Option<String>,
}

/// What `rules` (those with `services:`) select among the snapshot's services, and the
/// services left alone with why (an image without a tag has nothing to follow). A node
/// that cannot or should not update services gets a note per rule instead.
pub fn collect(snapshot: &Snapshot, rules: &[&Rule]) -> (Vec<ServiceCheck>, Vec<Kept>, Vec<Note>) {
    let mut checks = Vec::new();
    let mut kept = Vec::new();
    let mut notes = Vec::new();
    let service_rules: Vec<(&Rule, &swab_rules::ServiceSelector)> = rules
        .iter()
        .filter(|r| r.action == Action::Update)
        .filter_map(|r| Some((*r, r.update.as_ref()?.services.as_ref()?)))
        .collect();
    for (rule, _) in &service_rules {
        let why = if !snapshot.swarm.manager {
            "this node is not a Swarm manager: services are updated by a manager's swab"
        } else if !snapshot.swarm.leader {
            "this node is not the Swarm leader: the leader's swab updates services, so each is updated once"
        } else {
            continue;
        };
        notes.push(Note::rule(&rule.name, why.to_owned()));
    }
    if !snapshot.swarm.leader {
        return (checks, kept, notes);
    }
    for service in &snapshot.services {
        let Some((rule, _)) = service_rules.iter().find(|(_, s)| selects(s, service)) else {
            continue;
        };
        let keep = |reason: String| Kept {
            rule: rule.name.clone(),
            id: service.id.clone(),
            name: service.name.clone(),
            reason,
            eligible_at: None,
        };
        if swab_rules::has_protect_label(&service.labels) {
            let why = format!("protected (label `{}`)", swab_rules::PROTECT_LABEL);
            kept.push(keep(why));
            continue;
        }
        let parsed = match ImageRef::parse(&service.image) {
            Ok(parsed) => parsed,
            Err(err) => {
                kept.push(keep(format!(
                    "its image `{}` is not a reference: {err}",
                    service.image
                )));
                continue;
            }
        };
        let Some(reference) = parsed.tag().and_then(|tag| parsed.with_tag(tag)) else {
            kept.push(keep(format!(
                "its image `{}` is pinned by digest alone: no tag to follow",
                service.image
            )));
            continue;
        };
        checks.push(ServiceCheck {
            rule: rule.name.clone(),
            service: service.clone(),
            reference,
            pinned: parsed.digest().map(str::to_owned),
        });
    }
    (checks, kept, notes)
}

fn selects(selector: &swab_rules::ServiceSelector, service: &Service) -> bool {
    (selector.names.is_empty() || selector.names.iter().any(|p| p.matches(&service.name)))
        && swab_rules::LabelSelector::all_match(&selector.labels, &service.labels)
        && (selector.stacks.is_empty()
            || service
                .stack()
                .is_some_and(|stack| selector.stacks.iter().any(|s| s == stack)))
}

/// One service update to ask Swarm for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUpdate {
    /// The rule.
    pub rule: String,
    /// Service ID.
    pub id: String,
    /// Service name.
    pub name: String,
    /// The spec version the decision was made on.
    pub version: u64,
    /// The image the spec names now.
    pub from: String,
    /// The image to put in: `repo:tag@sha256:…`.
    pub image: String,
    /// The tag followed (familiar form): the key of cooldown and back-off records.
    pub reference: String,
    /// The registry's digest for it.
    pub digest: String,
    /// `UpdateConfig.FailureAction` to set, if the rule says.
    pub failure_action: Option<FailureAction>,
    /// `UpdateConfig.Monitor` to set, if the rule says.
    pub monitor: Option<Duration>,
    /// How long to wait for Swarm to finish.
    pub timeout: Duration,
}

/// What to do about the selected services.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePlan {
    /// Updates to ask Swarm for, in service-name order.
    pub updates: Vec<ServiceUpdate>,
    /// Services left alone, with why.
    pub kept: Vec<Kept>,
    /// Services whose tag could not be looked up: `(rule, service, error)`.
    pub failed: Vec<(String, String, String)>,
    /// New digests `notify_only` rules tell about (each once), as for containers.
    pub notices: Vec<updates::Notice>,
}

/// Decides each check against the registry's answer and the rule's policies (back-off
/// after a rollback, cooldown, windows), as container updates are decided.
pub fn plan(
    checks: &[ServiceCheck],
    answers: &Answers,
    rules: &[&Rule],
    memory: &UpdateMemory<'_>,
) -> ServicePlan {
    let mut out = ServicePlan::default();
    let mut checks: Vec<&ServiceCheck> = checks.iter().collect();
    checks.sort_by(|a, b| a.service.name.cmp(&b.service.name));
    for check in checks {
        let Some(rule) = rules.iter().find(|r| r.name == check.rule) else {
            continue;
        };
        let Some(selector) = rule.update.as_ref().and_then(|u| u.services.as_ref()) else {
            continue;
        };
        let familiar = check.reference.familiar();
        let mut keep = |reason: String, eligible_at: Option<String>| {
            out.kept.push(Kept {
                rule: rule.name.clone(),
                id: check.service.id.clone(),
                name: check.service.name.clone(),
                reason,
                eligible_at,
            });
        };
        let remote = match answers.digest(&check.reference) {
            Ok(remote) => remote,
            Err(why) => {
                out.failed
                    .push((rule.name.clone(), check.service.name.clone(), why));
                continue;
            }
        };
        if check.pinned.as_deref() == Some(remote.digest.as_str()) {
            keep(format!("up to date ({familiar})"), None);
            continue;
        }
        let options = updates::options_of(rule);
        if options.notify_only {
            // The notice machinery of container updates, with the service for containers.
            let as_check = updates::UpdateCheck {
                reference: check.reference.clone(),
                rules: vec![rule.name.clone()],
                containers: vec![format!("service {}", check.service.name)],
                local_image: None,
                local_digests: check
                    .pinned
                    .iter()
                    .map(|d| format!("{}@{d}", check.reference.familiar()))
                    .collect(),
                local_platform_digests: Vec::new(),
                track: None,
            };
            let mut told = updates::UpdatePlan::default();
            updates::notice(&mut told, rule, (&options, None), &as_check, remote, memory);
            out.notices.extend(told.notices);
            for mut k in told.kept {
                k.id.clone_from(&check.service.id);
                k.name.clone_from(&check.service.name);
                out.kept.push(k);
            }
            continue;
        }
        if let Some((why, at)) = updates::held_back(&familiar, remote, &options, memory) {
            keep(why, at.map(updates::rfc3339));
            continue;
        }
        if let Some((why, at)) = window::hold_update(&rule.windows, memory.now, selector.timeout) {
            keep(why, at.map(updates::rfc3339));
            continue;
        }
        out.updates.push(ServiceUpdate {
            rule: rule.name.clone(),
            id: check.service.id.clone(),
            name: check.service.name.clone(),
            version: check.service.version,
            from: check.service.image.clone(),
            image: format!("{familiar}@{}", remote.digest),
            reference: familiar,
            digest: remote.digest.clone(),
            failure_action: selector.failure_action,
            monitor: selector.monitor,
            timeout: selector.timeout,
        });
    }
    out
}

/// What the registries said, for the cooldown's record: `(reference, Some(digest))` for a
/// service whose tag has a digest other than the pinned one, `(reference, None)` for one
/// up to date.
pub fn observations(checks: &[ServiceCheck], answers: &Answers) -> Vec<(String, Option<String>)> {
    checks
        .iter()
        .filter_map(|check| {
            let remote = answers.digest(&check.reference).ok()?;
            let newer = check.pinned.as_deref() != Some(remote.digest.as_str());
            Some((
                check.reference.familiar(),
                newer.then(|| remote.digest.clone()),
            ))
        })
        .collect()
}

/// The reason an update entry gives: what the service runs and what it will.
pub fn reason(update: &ServiceUpdate) -> String {
    let mut why = format!(
        "runs {}; the registry has {}",
        update.from,
        updates::short_digest(&update.digest)
    );
    if let Some(action) = update.failure_action {
        let _ = write!(why, " (failure_action {})", action.as_str());
    }
    why
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use swab_reference::manifest::RemoteDigest;

    use super::*;
    use crate::memory::{FirstSeen, Noticed, RolledBackDigests};
    use crate::testing;

    const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn service(name: &str, image: &str, labels: &[(&str, &str)]) -> Service {
        Service {
            id: format!("id-{name}"),
            name: name.to_owned(),
            version: 7,
            image: image.to_owned(),
            labels: testing::labels(labels),
        }
    }

    fn leader(services: Vec<Service>) -> Snapshot {
        Snapshot {
            services,
            swarm: SwarmRole {
                manager: true,
                leader: true,
            },
            ..Snapshot::default()
        }
    }

    fn rules(yaml: &str) -> swab_rules::RuleSet {
        swab_rules::load_str("t.yaml", &format!("version: 1\nrules:\n{yaml}")).unwrap()
    }

    fn answers(reference: &str, digest: &str) -> Answers {
        Answers {
            digests: vec![(
                ImageRef::parse(reference).unwrap(),
                Ok(RemoteDigest {
                    digest: digest.to_owned(),
                    media_type: "application/vnd.oci.image.index.v1+json".to_owned(),
                    platform_digest: None,
                }),
            )],
            tags: Vec::new(),
        }
    }

    fn plan_at(
        set: &swab_rules::RuleSet,
        snapshot: &Snapshot,
        answers: &Answers,
        first_seen: &FirstSeen,
        now: SystemTime,
    ) -> (ServicePlan, Vec<Kept>) {
        let rules: Vec<&Rule> = set.rules.iter().collect();
        let (checks, kept, _) = collect(snapshot, &rules);
        let memory = UpdateMemory {
            rolled_back: &RolledBackDigests::default(),
            first_seen,
            noticed: &Noticed::default(),
            now,
        };
        (plan(&checks, answers, &rules, &memory), kept)
    }

    /// Names, labels and stacks select (each any-of, all together); the first rule that
    /// selects a service is its rule; a service pinned by digest alone is kept, with why.
    #[test]
    fn rules_select_services_by_name_label_and_stack() {
        let set = rules(concat!(
            "  - name: front\n    action: update\n    services:\n      names: [\"web*\"]\n      labels: [\"tier=front\"]\n",
            "  - name: shop\n    action: update\n    services:\n      stacks: [shop]\n",
        ));
        let snapshot = leader(vec![
            service(
                "web",
                &format!("r.example/web:1@{OLD}"),
                &[("tier", "front")],
            ),
            service("web-admin", "r.example/web:1", &[("tier", "back")]),
            service("cart", "r.example/cart:2", &[(STACK_LABEL, "shop")]),
            service("db", "r.example/db:16", &[(STACK_LABEL, "other")]),
            service(
                "pin",
                &format!("r.example/pin@{OLD}"),
                &[(STACK_LABEL, "shop")],
            ),
            service(
                "swab",
                "r.example/swab:1",
                &[(STACK_LABEL, "shop"), ("swab.protect", "true")],
            ),
        ]);
        let rules: Vec<&Rule> = set.rules.iter().collect();
        let (checks, kept, notes) = collect(&snapshot, &rules);
        let picked: Vec<(&str, &str, String, Option<&str>)> = checks
            .iter()
            .map(|c| {
                (
                    c.service.name.as_str(),
                    c.rule.as_str(),
                    c.reference.familiar(),
                    c.pinned.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            picked,
            [
                ("web", "front", "r.example/web:1".to_owned(), Some(OLD)),
                ("cart", "shop", "r.example/cart:2".to_owned(), None),
            ]
        );
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].name, "pin");
        assert!(kept[0].reason.contains("no tag to follow"), "{kept:?}");
        assert_eq!(kept[1].name, "swab");
        assert!(kept[1].reason.starts_with("protected"), "{kept:?}");
        assert!(notes.is_empty());
    }

    /// Only the leader decides: a worker and a follower manager say why, and select nothing.
    #[test]
    fn only_the_swarm_leader_updates_services() {
        let set = rules("  - name: all\n    action: update\n    services: all\n");
        let rules: Vec<&Rule> = set.rules.iter().collect();
        for (manager, leader, says) in [
            (false, false, "not a Swarm manager"),
            (true, false, "not the Swarm leader"),
        ] {
            let snapshot = Snapshot {
                services: vec![service("web", "r.example/web:1", &[])],
                swarm: SwarmRole { manager, leader },
                ..Snapshot::default()
            };
            let (checks, _, notes) = collect(&snapshot, &rules);
            assert!(checks.is_empty());
            assert_eq!(notes.len(), 1);
            assert!(notes[0].message.contains(says), "{notes:?}");
        }
    }

    /// A new digest of the tag becomes `repo:tag@digest` on the spec version read; the
    /// pinned digest is up to date; a cooldown holds a digest first seen too recently.
    #[test]
    fn a_new_digest_is_pinned_and_policies_hold_it_like_a_containers() {
        let set = rules(concat!(
            "  - name: all\n    action: update\n    min_age: 1h\n",
            "    services:\n      failure_action: rollback\n      monitor: 20s\n      timeout: 5m\n",
        ));
        let snapshot = leader(vec![service("web", &format!("r.example/web:1@{OLD}"), &[])]);
        let now = testing::at(1_000_000);
        let mut seen = FirstSeen::default();

        let (plan, _) = plan_at(
            &set,
            &snapshot,
            &answers("r.example/web:1", OLD),
            &seen,
            now,
        );
        assert!(plan.updates.is_empty());
        assert!(plan.kept[0].reason.starts_with("up to date"), "{plan:?}");

        // Seen just now: the cooldown holds it, and says until when.
        seen.observe("r.example/web:1", Some(NEW), now);
        let new = answers("r.example/web:1", NEW);
        let (plan, _) = plan_at(&set, &snapshot, &new, &seen, now);
        assert!(plan.updates.is_empty());
        assert!(plan.kept[0].eligible_at.is_some(), "{plan:?}");

        // An hour on, it goes.
        let later = now + Duration::from_secs(3600);
        let (plan, _) = plan_at(&set, &snapshot, &new, &seen, later);
        assert_eq!(
            plan.updates,
            [ServiceUpdate {
                rule: "all".to_owned(),
                id: "id-web".to_owned(),
                name: "web".to_owned(),
                version: 7,
                from: format!("r.example/web:1@{OLD}"),
                image: format!("r.example/web:1@{NEW}"),
                reference: "r.example/web:1".to_owned(),
                digest: NEW.to_owned(),
                failure_action: Some(FailureAction::Rollback),
                monitor: Some(Duration::from_secs(20)),
                timeout: Duration::from_secs(300),
            }]
        );
        assert_eq!(
            observations(
                &collect(&snapshot, &set.rules.iter().collect::<Vec<_>>()).0,
                &new
            ),
            [("r.example/web:1".to_owned(), Some(NEW.to_owned()))]
        );
    }

    /// A `notify_only` rule tells about a service's new digest once, and applies nothing.
    #[test]
    fn a_watcher_rule_sends_one_notice_per_new_digest_of_a_service() {
        let set = swab_rules::load_str(
            "t.yaml",
            "version: 1\nnotify:\n  - url: https://hooks.example/x\nrules:\n  - name: watch\n    action: update\n    notify_only: true\n    services: all\n",
        )
        .unwrap();
        let snapshot = leader(vec![service("web", &format!("r.example/web:1@{OLD}"), &[])]);
        let new = answers("r.example/web:1", NEW);
        let (plan, _) = plan_at(&set, &snapshot, &new, &FirstSeen::default(), testing::at(1));
        assert!(plan.updates.is_empty());
        assert_eq!(plan.notices.len(), 1, "{plan:?}");
        assert!(
            plan.notices[0].text.contains("used by service web"),
            "{plan:?}"
        );
        assert_eq!(plan.notices[0].digest, NEW);
        assert_eq!(plan.kept[0].name, "web");
        assert!(plan.kept[0].reason.contains("notify_only"), "{plan:?}");
    }

    /// Container rules never select Swarm tasks: not for updates (a rule with `services:`
    /// selects no container at all), not for restarts or removals.
    #[test]
    fn container_rules_never_touch_swarm_tasks() {
        let set = rules(concat!(
            "  - name: u\n    action: update\n",
            "  - name: s\n    action: update\n    services: all\n",
            "  - name: gone\n    action: prune-containers\n",
            "  - name: bounce\n    action: restart\n    match:\n      names: [\"web*\"]\n",
        ));
        let task = testing::container("web.1.abc")
            .image("r.example/web:1", "sha256:i1")
            .state("running")
            .labels(&[(TASK_SERVICE_LABEL, "svc")])
            .build();
        let exited_task = testing::container("web.2.def")
            .image("r.example/web:1", "sha256:i1")
            .state("exited")
            .finished(testing::at(1))
            .labels(&[(TASK_SERVICE_LABEL, "svc")])
            .build();
        let snapshot = Snapshot {
            containers: vec![task, exited_task],
            images: vec![
                testing::image("sha256:i1")
                    .tags(&["r.example/web:1"])
                    .digests(&[format!("r.example/web@{OLD}")])
                    .build(),
            ],
            ..Snapshot::default()
        };
        let rules: Vec<&Rule> = set.rules.iter().collect();
        let checks = updates::collect(&snapshot, &rules, &swab_rules::Protect::default());
        assert!(
            checks.checks.is_empty() && checks.pinned.is_empty(),
            "{checks:?}"
        );
        let plan = crate::plan::plan(
            &snapshot,
            &rules,
            &swab_rules::Protect::default(),
            &crate::memory::LastUsed::default(),
            testing::at(1_000_000),
        );
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        assert_eq!(plan.kept.len(), 2, "{:?}", plan.kept);
        assert!(
            plan.kept
                .iter()
                .all(|k| k.reason == crate::plan::SWARM_TASK)
        );
    }
}
