//! The planner's semantics, one test each. Pure: snapshots are built in code, rules parsed
//! from YAML, and "now" is a fixed instant. No Docker.
// `ago` returns an Option because snapshot timestamps are optional; `set`/`state` are fine.
#![allow(clippy::unnecessary_wraps, clippy::similar_names)]

use std::time::{Duration, SystemTime};

use swab_plan::memory::LastUsed;
use swab_plan::plan::{Op, Plan, plan};
use swab_plan::snapshot::{Container, Disk, Filesystem, Image, Network, Snapshot, Volume};
use swab_plan::testing;
use swab_rules::RuleSet;

const NOW: u64 = 1_800_000_000;
const MIN: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

fn ago(secs: u64) -> Option<SystemTime> {
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(NOW - secs))
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
}

fn rules(yaml: &str) -> RuleSet {
    swab_rules::load_str("test.yaml", yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn run(snapshot: &Snapshot, set: &RuleSet) -> Plan {
    run_with_last_used(snapshot, set, &LastUsed::default())
}

fn run_with_last_used(snapshot: &Snapshot, set: &RuleSet, last_used: &LastUsed) -> Plan {
    let selected: Vec<_> = set.rules.iter().collect();
    plan(snapshot, &selected, &set.protect, last_used, now())
}

use testing::labels;

fn container(name: &str, state: &str, created: u64, finished: Option<u64>) -> Container {
    testing::container(name)
        .state(state)
        .created(ago(created))
        .finished(finished.and_then(ago))
        .build()
}

fn image(id: &str, tags: &[&str], created: u64) -> Image {
    testing::image(id).tags(tags).created(ago(created)).build()
}

fn removed(plan: &Plan) -> Vec<String> {
    plan.actions.iter().map(|a| a.name.clone()).collect()
}

fn kept_reason<'a>(plan: &'a Plan, name: &str) -> &'a str {
    plan.kept.iter().find(|k| k.name == name).map_or_else(
        || panic!("{name} not in kept: {:?}", plan.kept),
        |k| k.reason.as_str(),
    )
}

const STOPPED_1H: &str = "
version: 1
rules:
  - name: stopped
    action: prune-containers
    match:
      older_than: 1h
";

#[test]
fn container_age_counts_from_exit_not_creation() {
    let snapshot = Snapshot {
        containers: vec![
            // Created a month ago, exited five minutes ago: five minutes old.
            container("recent-exit", "exited", 30 * DAY, Some(5 * MIN)),
            container("old-exit", "exited", 30 * DAY, Some(2 * HOUR)),
            container("dead", "dead", 3 * DAY, Some(3 * DAY)),
        ],
        ..Snapshot::default()
    };
    let plan = run(&snapshot, &rules(STOPPED_1H));
    assert_eq!(removed(&plan), ["old-exit", "dead"]);
    assert_eq!(
        kept_reason(&plan, "recent-exit"),
        "exited 5m ago, not older than 1h"
    );
    assert_eq!(plan.actions[0].reason, "exited 2h ago, older than 1h");
    assert_eq!(plan.actions[1].reason, "dead, exited 3d ago, older than 1h");
}

#[test]
fn running_paused_restarting_and_removing_are_never_candidates() {
    let snapshot = Snapshot {
        containers: ["running", "paused", "restarting", "removing"]
            .iter()
            .map(|s| container(s, s, 90 * DAY, Some(80 * DAY)))
            .collect(),
        ..Snapshot::default()
    };
    let set = rules(
        "version: 1\nrules:\n  - name: all\n    action: prune-containers\n    match:\n      status: [exited, dead, created]\n",
    );
    let plan = run(&snapshot, &set);
    assert!(plan.actions.is_empty(), "{plan:?}");
}

#[test]
fn created_never_started_counts_from_created() {
    let snapshot = Snapshot {
        containers: vec![
            container("fresh", "created", 10 * MIN, None),
            container("stale", "created", 3 * HOUR, None),
        ],
        ..Snapshot::default()
    };
    let set = rules(
        "version: 1\nrules:\n  - name: c\n    action: prune-containers\n    match:\n      status: [created]\n      older_than: 1h\n",
    );
    let plan = run(&snapshot, &set);
    assert_eq!(removed(&plan), ["stale"]);
    assert_eq!(
        kept_reason(&plan, "fresh"),
        "created 10m ago, not older than 1h"
    );
}

#[test]
fn unknown_exit_time_keeps_the_container() {
    let snapshot = Snapshot {
        containers: vec![container("uninspected", "exited", 30 * DAY, None)],
        ..Snapshot::default()
    };
    let plan = run(&snapshot, &rules(STOPPED_1H));
    assert!(plan.actions.is_empty());
    assert_eq!(kept_reason(&plan, "uninspected"), "exited time unknown");
}

#[test]
fn protection_by_label_pattern_and_image_always_wins() {
    let mut labelled = container("labelled", "exited", DAY, Some(DAY));
    labelled.labels = labels(&[("swab.protect", "true")]);
    let mut db = container("db-main", "exited", DAY, Some(DAY));
    db.set_image("postgres:16");
    let mut pg = container("pg-other", "exited", DAY, Some(DAY));
    pg.set_image("postgres:16");
    let snapshot = Snapshot {
        containers: vec![
            labelled,
            db,
            pg,
            container("victim", "exited", DAY, Some(DAY)),
        ],
        ..Snapshot::default()
    };
    let set = rules(
        "version: 1\nprotect:\n  containers: [\"db-*\"]\n  images: [\"postgres:*\"]\nrules:\n  - name: s\n    action: prune-containers\n",
    );
    let plan = run(&snapshot, &set);
    assert_eq!(removed(&plan), ["victim"]);
    assert_eq!(
        kept_reason(&plan, "labelled"),
        "protected by label swab.protect"
    );
    assert!(kept_reason(&plan, "db-main").contains("protect.containers pattern \"db-*\""));
    assert!(kept_reason(&plan, "pg-other").contains("protect.images pattern \"postgres:*\""));
}

#[test]
fn selectors_names_labels_and_images() {
    let mut ci = container("ci-123", "exited", DAY, Some(DAY));
    ci.labels = labels(&[("ci", "true")]);
    let mut ci_keep = container("ci-456", "exited", DAY, Some(DAY));
    ci_keep.labels = labels(&[("ci", "true"), ("keep", "")]);
    let other = container("web", "exited", DAY, Some(DAY));
    let snapshot = Snapshot {
        containers: vec![ci, ci_keep, other],
        ..Snapshot::default()
    };
    let set = rules(
        "version: 1\nrules:\n  - name: ci\n    action: prune-containers\n    match:\n      names: [\"ci-*\"]\n      labels: [\"ci=true\", \"!keep\"]\n      images: [\"base\"]\n",
    );
    assert_eq!(removed(&run(&snapshot, &set)), ["ci-123"]);
}

const UNUSED_IMAGES: &str = "
version: 1
rules:
  - name: images
    action: prune-images
";

#[test]
fn an_image_used_by_any_container_stays_unless_that_container_goes_first() {
    let mut stopped_user = container("old-user", "exited", 30 * DAY, Some(20 * DAY));
    stopped_user.image_id = "sha256:a".to_owned();
    let mut running_user = container("web", "running", 30 * DAY, None);
    running_user.image_id = "sha256:b".to_owned();
    let snapshot = Snapshot {
        containers: vec![stopped_user, running_user],
        images: vec![
            image("a", &["app:1"], 40 * DAY),
            image("b", &["web:1"], 40 * DAY),
            image("c", &["unused:1"], 40 * DAY),
        ],
        ..Snapshot::default()
    };
    let plan = run(&snapshot, &rules(UNUSED_IMAGES));
    assert_eq!(removed(&plan), ["unused:1"]);
    assert_eq!(kept_reason(&plan, "app:1"), "in use by container old-user");
    assert_eq!(kept_reason(&plan, "web:1"), "in use by container web");

    // With a container rule in the same plan, the stopped user goes first and its image too.
    let both = rules(&format!(
        "{STOPPED_1H}\n  - name: images\n    action: prune-images\n"
    ));
    let plan = run(&snapshot, &both);
    assert_eq!(removed(&plan), ["old-user", "app:1", "unused:1"]);
    assert!(matches!(plan.actions[0].op, Op::RemoveContainer { .. }));
}

#[test]
fn last_used_is_the_newest_of_build_pull_and_recorded_use() {
    // Built two years ago, pulled a minute ago: not unused for 7d.
    let mut pulled = image("pulled", &["fresh:1"], 730 * DAY);
    pulled.last_tagged = ago(MIN);
    let recorded = image("recorded", &["seen:1"], 730 * DAY);
    let stale = image("stale", &["stale:1"], 730 * DAY);
    let snapshot = Snapshot {
        images: vec![pulled, recorded, stale],
        ..Snapshot::default()
    };
    let mut last_used = LastUsed::default();
    last_used.mark("sha256:recorded", ago(2 * DAY).unwrap());
    let set = rules(
        "version: 1\nrules:\n  - name: i\n    action: prune-images\n    match:\n      unused_for: 7d\n",
    );
    let plan = run_with_last_used(&snapshot, &set, &last_used);
    assert_eq!(removed(&plan), ["stale:1"]);
    assert_eq!(
        kept_reason(&plan, "fresh:1"),
        "last used 1m ago, not unused for 1w"
    );
    assert_eq!(
        kept_reason(&plan, "seen:1"),
        "last used 2d ago, not unused for 1w"
    );
}

#[test]
fn dangling_selector() {
    let snapshot = Snapshot {
        images: vec![image("tagged", &["x:1"], DAY), image("dangling", &[], DAY)],
        ..Snapshot::default()
    };
    let only = |d: bool| {
        let set = rules(&format!(
            "version: 1\nrules:\n  - name: i\n    action: prune-images\n    match:\n      dangling: {d}\n"
        ));
        run(&snapshot, &set)
            .actions
            .iter()
            .map(|a| a.op.id().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(only(true), ["sha256:dangling"]);
    assert_eq!(only(false), ["sha256:tagged"]);
}

#[test]
fn protecting_any_tag_protects_the_whole_image() {
    let snapshot = Snapshot {
        images: vec![image("multi", &["scratch:1", "postgres:16"], DAY)],
        ..Snapshot::default()
    };
    let set = rules(
        "version: 1\nprotect:\n  images: [\"postgres\"]\nrules:\n  - name: i\n    action: prune-images\n",
    );
    let plan = run(&snapshot, &set);
    assert!(plan.actions.is_empty());
    assert!(kept_reason(&plan, "scratch:1").contains("protect.images pattern \"postgres\""));
}

#[test]
fn a_multi_tag_image_is_one_action_carrying_all_its_tags() {
    let snapshot = Snapshot {
        images: vec![image("multi", &["a:1", "b:2", "a:latest"], DAY)],
        ..Snapshot::default()
    };
    let plan = run(&snapshot, &rules(UNUSED_IMAGES));
    assert_eq!(plan.actions.len(), 1);
    let Op::RemoveImage { tags, .. } = &plan.actions[0].op else {
        panic!()
    };
    assert_eq!(tags, &["a:1", "b:2", "a:latest"]);
}

#[test]
fn keep_latest_keeps_n_newest_ids_per_repository_counting_multi_tag_once() {
    let snapshot = Snapshot {
        images: vec![
            image("v1", &["app:1"], 5 * DAY),
            image("v2", &["app:2"], 4 * DAY),
            // One image with two tags of the same repository counts once.
            image("v3", &["app:3", "app:latest"], 3 * DAY),
            // Same creation time: the tie is broken by ID, deterministically.
            image("v4a", &["app:4a"], 2 * DAY),
            image("v4b", &["app:4b"], 2 * DAY),
            image("other", &["other:1"], 9 * DAY),
        ],
        ..Snapshot::default()
    };
    let set =
        rules("version: 1\nrules:\n  - name: i\n    action: prune-images\n    keep_latest: 2\n");
    let plan = run(&snapshot, &set);
    assert_eq!(removed(&plan), ["app:1", "app:2", "app:3"]);
    assert!(
        kept_reason(&plan, "app:4a")
            .starts_with("one of the 2 newest images of docker.io/library/app")
    );
    assert!(kept_reason(&plan, "app:4b").starts_with("one of the 2 newest"));
    assert!(kept_reason(&plan, "other:1").starts_with("one of the 2 newest"));
}

#[test]
fn parents_go_only_with_all_their_children() {
    let mut child = image("child", &["app:2"], DAY);
    child.parent_id = Some("sha256:parent".to_owned());
    let mut kept_child = image("kept-child", &["keep:1"], DAY);
    kept_child.parent_id = Some("sha256:parent2".to_owned());
    kept_child.labels = labels(&[("swab.protect", "true")]);
    let snapshot = Snapshot {
        images: vec![
            image("parent", &["base:1"], 2 * DAY),
            child,
            image("parent2", &["base:2"], 2 * DAY),
            kept_child,
        ],
        ..Snapshot::default()
    };
    let plan = run(&snapshot, &rules(UNUSED_IMAGES));
    let names = removed(&plan);
    assert!(
        names.contains(&"app:2".to_owned()) && names.contains(&"base:1".to_owned()),
        "{names:?}"
    );
    assert!(!names.contains(&"base:2".to_owned()));
    assert!(kept_reason(&plan, "base:2").starts_with("parent of image kept-child"));
}

#[test]
fn an_object_selected_by_two_rules_is_acted_on_once() {
    let snapshot = Snapshot {
        containers: vec![container("twice", "exited", DAY, Some(DAY))],
        ..Snapshot::default()
    };
    let set = rules(
        "version: 1\nrules:\n  - name: first\n    action: prune-containers\n  - name: second\n    action: prune-containers\n",
    );
    let plan = run(&snapshot, &set);
    assert_eq!(plan.actions.len(), 1);
    assert_eq!(plan.actions[0].rule, "first");
}

#[test]
fn max_removals_caps_a_rule_and_reports_the_rest() {
    let snapshot = Snapshot {
        containers: (0..5)
            .map(|i| container(&format!("c{i}"), "exited", DAY, Some(DAY)))
            .collect(),
        ..Snapshot::default()
    };
    let set = rules(
        "version: 1\nrules:\n  - name: s\n    action: prune-containers\n    max_removals: 2\n",
    );
    let plan = run(&snapshot, &set);
    assert_eq!(plan.actions.len(), 2);
    assert_eq!(
        plan.kept
            .iter()
            .filter(|k| k.reason == "max_removals (2) reached")
            .count(),
        3
    );
    assert!(
        plan.notes[0]
            .message
            .contains("3 more left for the next run"),
        "{:?}",
        plan.notes
    );
}

fn pressure_snapshot(used_percent: u64) -> Snapshot {
    let mut images: Vec<Image> = (0..4)
        .map(|i| {
            let mut img = image(&format!("i{i}"), &[&format!("img:{i}")], 100 * DAY);
            img.unique_size = 10 * 1_000_000_000;
            img.size = img.unique_size;
            img
        })
        .collect();
    // Least recently used last in the list: ordering must come from use, not position.
    images[3].created = ago(200 * DAY);
    images[0].last_tagged = ago(DAY);
    Snapshot {
        images,
        disk: Some(Disk {
            images_size: 40 * 1_000_000_000,
            filesystem: Some(Filesystem {
                total: 100 * 1_000_000_000,
                used: used_percent * 1_000_000_000,
            }),
        }),
        ..Snapshot::default()
    }
}

const PRESSURE: &str = "
version: 1
rules:
  - name: pressure
    action: prune-images
    when:
      disk_usage_above: 85%
    target:
      disk_usage_below: 70%
";

#[test]
fn disk_pressure_not_triggered_does_nothing_and_says_why() {
    let plan = run(&pressure_snapshot(50), &rules(PRESSURE));
    assert!(plan.actions.is_empty());
    assert_eq!(
        plan.notes[0].message,
        "not triggered: disk usage 50.0% is not above 85%"
    );
}

#[test]
fn disk_pressure_removes_least_recently_used_until_the_target_holds() {
    // 90% used, target below 70%: just over 20 GB to free, 10 GB each -> three images.
    let plan = run(&pressure_snapshot(90), &rules(PRESSURE));
    assert_eq!(removed(&plan), ["img:3", "img:1", "img:2"]);
    assert_eq!(
        kept_reason(&plan, "img:0"),
        "the target is reached without it"
    );
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
}

#[test]
fn disk_pressure_target_out_of_reach_reports_how_far_it_got() {
    // 99% used, below 10% wanted: 89 GB to free, only 40 GB of candidates.
    let plan = run(
        &pressure_snapshot(99),
        &rules(&PRESSURE.replace("70%", "10%")),
    );
    assert_eq!(plan.actions.len(), 4);
    assert!(
        plan.notes[0]
            .message
            .starts_with("target not reached: after 4 removals about"),
        "{:?}",
        plan.notes
    );
}

#[test]
fn disk_trigger_without_local_figures_does_nothing() {
    let mut snapshot = pressure_snapshot(99);
    snapshot.disk = Some(Disk {
        images_size: 1,
        filesystem: None,
    });
    let plan = run(&snapshot, &rules(PRESSURE));
    assert!(plan.actions.is_empty());
    assert!(
        plan.notes[0]
            .message
            .contains("needs a daemon on this machine"),
        "{:?}",
        plan.notes
    );
}

#[test]
fn images_size_trigger() {
    let set = rules(
        "version: 1\nrules:\n  - name: p\n    action: prune-images\n    when:\n      images_size_above: 30GB\n    target:\n      images_size_below: 25GB\n",
    );
    let plan = run(&pressure_snapshot(10), &set);
    // 40 GB of images, below 25 GB: two 10 GB images.
    assert_eq!(plan.actions.len(), 2);
}

#[test]
fn volumes_anonymous_only_unless_named_ones_are_selected() {
    let anon = "a".repeat(64);
    let anon_used = "b".repeat(64);
    let mut user = container("user", "running", DAY, None);
    user.volumes = vec![anon_used.clone()];
    let vol = |name: &str, anonymous: bool| Volume {
        name: name.to_owned(),
        created: ago(DAY),
        anonymous,
        ..Volume::default()
    };
    let snapshot = Snapshot {
        containers: vec![user],
        volumes: Some(vec![
            vol(&anon, true),
            vol(&anon_used, true),
            vol("pgdata", false),
            vol("cache-1", false),
        ]),
        ..Snapshot::default()
    };
    let set = rules("version: 1\nrules:\n  - name: v\n    action: prune-volumes\n");
    let plan = run(&snapshot, &set);
    assert_eq!(
        plan.actions
            .iter()
            .map(|a| a.op.id().to_owned())
            .collect::<Vec<_>>(),
        std::slice::from_ref(&anon)
    );
    assert_eq!(
        kept_reason(&plan, &anon_used[..12]),
        "mounted by container user"
    );

    let named = rules(
        "version: 1\nrules:\n  - name: v\n    action: prune-volumes\n    match:\n      names: [\"cache-*\"]\n",
    );
    let plan = run(&snapshot, &named);
    assert_eq!(removed(&plan), ["cache-1"]);
}

#[test]
fn a_volume_of_a_container_removed_in_the_same_plan_may_go() {
    let anon = "c".repeat(64);
    let mut user = container("old", "exited", 9 * DAY, Some(8 * DAY));
    user.volumes = vec![anon.clone()];
    let snapshot = Snapshot {
        containers: vec![user],
        volumes: Some(vec![Volume {
            name: anon.clone(),
            anonymous: true,
            created: ago(9 * DAY),
            ..Volume::default()
        }]),
        ..Snapshot::default()
    };
    let set = rules(&format!(
        "{STOPPED_1H}\n  - name: v\n    action: prune-volumes\n"
    ));
    let plan = run(&snapshot, &set);
    assert_eq!(plan.actions.len(), 2);
}

#[test]
fn networks_builtin_and_attached_stay() {
    let mut user = container("user", "exited", DAY, Some(DAY));
    user.networks = vec!["net-used".to_owned()];
    let net = |id: &str, name: &str| Network {
        id: id.to_owned(),
        name: name.to_owned(),
        created: ago(DAY),
        scope: "local".to_owned(),
        ..Network::default()
    };
    let snapshot = Snapshot {
        containers: vec![user],
        networks: Some(vec![
            net("n1", "bridge"),
            net("net-used", "app_default"),
            net("n3", "old_default"),
        ]),
        ..Snapshot::default()
    };
    let set = rules("version: 1\nrules:\n  - name: n\n    action: prune-networks\n");
    let plan = run(&snapshot, &set);
    assert_eq!(removed(&plan), ["old_default"]);
    assert_eq!(kept_reason(&plan, "bridge"), "a built-in network");
    assert_eq!(
        kept_reason(&plan, "app_default"),
        "container user is attached"
    );
}

#[test]
fn restart_older_than_counts_from_start_and_skips_unknown_or_young() {
    let mut old = container("worker-old", "running", 30 * DAY, None);
    old.started_at = ago(8 * DAY);
    let mut young = container("worker-young", "running", 30 * DAY, None);
    young.started_at = ago(HOUR);
    let unknown = container("worker-unknown", "running", 30 * DAY, None);
    let stopped = container("worker-stopped", "exited", 30 * DAY, Some(9 * DAY));
    let snapshot = Snapshot {
        containers: vec![old, young, unknown, stopped],
        ..Snapshot::default()
    };
    let set = rules(
        "version: 1\nrules:\n  - name: r\n    action: restart\n    match:\n      names: [\"worker-*\"]\n      older_than: 7d\n",
    );
    let plan = run(&snapshot, &set);
    assert_eq!(removed(&plan), ["worker-old"]);
    assert!(matches!(plan.actions[0].op, Op::RestartContainer { .. }));
    assert_eq!(plan.actions[0].reason, "up 1w 1d, longer than 1w");
    assert_eq!(
        kept_reason(&plan, "worker-young"),
        "up 1h, not longer than 1w"
    );
    assert_eq!(kept_reason(&plan, "worker-unknown"), "start time unknown");
}

#[test]
fn protect_patterns_that_match_nothing_are_reported() {
    let snapshot = Snapshot {
        containers: vec![container("db-main", "running", DAY, None)],
        images: vec![image("pg", &["postgres:16"], DAY)],
        ..Snapshot::default()
    };
    let set = rules(
        "version: 1\nprotect:\n  images: [\"postgres:*\", \"postgress:*\"]\n  containers: [\"db-*\", \"dbb-*\"]\nrules:\n  - name: s\n    action: prune-containers\n",
    );
    let plan = run(&snapshot, &set);
    let warnings: Vec<&str> = plan
        .notes
        .iter()
        .filter(|n| n.scope == swab_plan::plan::NoteScope::Protect)
        .map(|n| n.message.as_str())
        .collect();
    assert_eq!(
        warnings,
        [
            "protect.images pattern \"postgress:*\" matches no image on this host",
            "protect.containers pattern \"dbb-*\" matches no container on this host",
        ]
    );
}

#[test]
fn a_restarted_container_still_uses_its_image_volume_and_network() {
    let mut web = container("web", "running", 30 * DAY, None);
    web.started_at = ago(9 * DAY);
    web.image_id = "sha256:webimg".to_owned();
    web.volumes = vec!["a".repeat(64)];
    web.networks = vec!["net-web".to_owned()];
    let snapshot = Snapshot {
        containers: vec![web],
        images: vec![image("webimg", &["web:1"], 40 * DAY)],
        volumes: Some(vec![Volume {
            name: "a".repeat(64),
            anonymous: true,
            created: ago(DAY),
            ..Volume::default()
        }]),
        networks: Some(vec![Network {
            id: "net-web".into(),
            name: "web_net".into(),
            scope: "local".into(),
            created: ago(DAY),
            ..Network::default()
        }]),
        ..Snapshot::default()
    };
    let set = rules(
        "version: 1\nrules:\n  - name: r\n    action: restart\n    match:\n      names: [\"web\"]\n  - name: i\n    action: prune-images\n  - name: v\n    action: prune-volumes\n  - name: n\n    action: prune-networks\n",
    );
    let plan = run(&snapshot, &set);
    let kinds: Vec<&str> = plan.actions.iter().map(|a| a.op.kind().as_str()).collect();
    assert_eq!(kinds, ["restart_container"], "{plan:?}");
    assert_eq!(kept_reason(&plan, "web:1"), "in use by container web");
    assert_eq!(kept_reason(&plan, "web_net"), "container web is attached");
}

#[test]
fn a_parent_stays_when_the_cap_holds_its_child_back() {
    // Parent older (less recently used) than its child: LRU order picks the parent first,
    // then the cap of one stops before the child. The parent must not go alone.
    let parent = image("base", &["base:1"], 300 * DAY);
    let mut child = image("app", &["app:1"], 100 * DAY);
    child.parent_id = Some("sha256:base".to_owned());
    let mut snapshot = pressure_snapshot(99);
    snapshot.images = vec![parent, child];
    let set = rules(
        "version: 1\nrules:\n  - name: p\n    action: prune-images\n    max_removals: 1\n    when:\n      disk_usage_above: 85%\n    target:\n      disk_usage_below: 10%\n",
    );
    let plan = run(&snapshot, &set);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(
        kept_reason(&plan, "base:1").starts_with("parent of image app"),
        "{:?}",
        plan.kept
    );
    assert_eq!(kept_reason(&plan, "app:1"), "max_removals (1) reached");
}

#[test]
fn image_protection_follows_the_image_after_a_re_pull() {
    // The tag moved: the daemon lists the old container's image as a bare ID.
    let mut backup = container("pg-backup", "exited", 30 * DAY, Some(20 * DAY));
    backup.set_image("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    backup.image_id = "sha256:oldpg".to_owned();
    let mut old_pg = image("oldpg", &[], 400 * DAY);
    old_pg.digests = vec!["postgres@sha256:aaaa".to_owned()];
    old_pg.refs = vec![
        swab_rules::ImageRef::parse(
            "postgres@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        )
        .unwrap(),
    ];
    let snapshot = Snapshot {
        containers: vec![backup],
        images: vec![old_pg],
        ..Snapshot::default()
    };
    assert!(snapshot.containers[0].image_ref.is_none());
    let set = rules(
        "version: 1\nprotect:\n  images: [\"postgres\"]\nrules:\n  - name: s\n    action: prune-containers\n",
    );
    let plan = run(&snapshot, &set);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(kept_reason(&plan, "pg-backup").contains("protect.images pattern \"postgres\""));
}

#[test]
fn a_base_image_used_through_a_hidden_intermediate_stays() {
    // base:1 <- (intermediate, untagged, not in the top-level list) <- app:1, used by web.
    let mut app = image("app", &["app:1"], 10 * DAY);
    app.parent_id = Some("sha256:inter".to_owned());
    let mut web = container("web", "running", DAY, None);
    web.image_id = "sha256:app".to_owned();
    let snapshot = Snapshot {
        containers: vec![web],
        images: vec![image("base", &["base:1"], 400 * DAY), app],
        hidden_parents: vec![("sha256:inter".to_owned(), "sha256:base".to_owned())],
        ..Snapshot::default()
    };
    let plan = run(&snapshot, &rules(UNUSED_IMAGES));
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(
        kept_reason(&plan, "base:1"),
        "an ancestor of an image in use"
    );
    assert_eq!(kept_reason(&plan, "app:1"), "in use by container web");

    // Without the link the base looked unused: the planner would have asked Docker to delete
    // it, and Docker would refuse on every run.
    let mut unlinked = snapshot.clone();
    unlinked.hidden_parents.clear();
    assert_eq!(removed(&run(&unlinked, &rules(UNUSED_IMAGES))), ["base:1"]);
}

#[test]
fn swabs_own_container_is_never_restarted() {
    let mut snapshot = Snapshot {
        containers: vec![
            container("swab", "running", DAY, None),
            container("web", "running", DAY, None),
        ],
        ..Snapshot::default()
    };
    snapshot.own_containers = vec!["id-swab".to_owned()];
    let set = rules(
        "version: 1\nrules:\n  - name: r\n    action: restart\n    match:\n      names: [\"*\"]\n",
    );
    let plan = run(&snapshot, &set);
    assert_eq!(removed(&plan), ["web"]);
    assert_eq!(kept_reason(&plan, "swab"), swab_plan::own::OWN_CONTAINER);
}
