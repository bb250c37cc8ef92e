use std::time::{Duration, SystemTime};

use swab_docker::endpoint::parse_host;
use swab_docker::{ClientOptions, Docker};
use swab_engine::exec::{DryRun, Engine, Recording, execute};
use swab_engine::gather::{LocalFilesystem, gather};
use swab_engine::memory::LastUsed;
use swab_engine::plan::{Op, Plan, plan};
use swab_engine::report::{ActionReport, Status};
use swab_engine::snapshot::Snapshot;
use swab_rules::RuleSet;
use swab_testkit::{env, unique};

fn docker() -> Docker {
    let endpoint = parse_host(&env().docker_host, "SWAB_TEST_DOCKER_HOST", None).unwrap();
    Docker::connect(&endpoint, &ClientOptions::default()).unwrap()
}

/// A rule set that prunes every unused image carrying the test's label.
fn prune_images_labelled(test_id: &str) -> RuleSet {
    rules(&format!(
        "version: 1\nrules:\n  - name: img\n    action: prune-images\n    match:\n      labels: [\"swab-test={test_id}\"]\n"
    ))
}

fn rules(yaml: &str) -> RuleSet {
    swab_rules::load_str("test.yaml", yaml).unwrap_or_else(|e| panic!("{e}"))
}

async fn plan_now(docker: &Docker, set: &RuleSet) -> (Snapshot, Plan) {
    let selected: Vec<_> = set.rules.iter().collect();
    let (snapshot, _) = gather(docker, &selected, &set.protect, &LocalFilesystem, 4)
        .await
        .unwrap();
    let mut last_used = LastUsed::default();
    let now = SystemTime::now();
    last_used.observe(&snapshot, now);
    let plan = plan(&snapshot, &selected, &set.protect, &last_used, now);
    (snapshot, plan)
}

async fn run_plan(plan: &Plan, engine: &dyn Engine) -> Vec<ActionReport> {
    execute(
        plan,
        engine,
        4,
        &swab_engine::cancel::Cancel::new(),
        &|_| {},
    )
    .await
}

fn label(test_id: &str) -> String {
    format!("swab-test={test_id}")
}

#[tokio::test]
async fn age_counts_from_exit_not_creation_on_a_real_daemon() {
    let docker = docker();
    let test_id = unique("age");
    let lbl = label(&test_id);
    let late = unique("swab-late-exit");
    let early = unique("swab-early-exit");
    // `late` is created first but exits last: old by creation, young by exit.
    env().cli(&[
        "create",
        "--name",
        &late,
        "--label",
        &lbl,
        &env().image,
        "true",
    ]);
    env().cli(&[
        "run",
        "--name",
        &early,
        "--label",
        &lbl,
        &env().image,
        "true",
    ]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    env().cli(&["start", "-a", &late]);

    let set = rules(&format!(
        "version: 1\nrules:\n  - name: old\n    action: prune-containers\n    match:\n      labels: [\"{lbl}\"]\n      older_than: 3s\n"
    ));
    let (_, plan) = plan_now(&docker, &set).await;
    let names: Vec<&str> = plan.actions.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, [early.as_str()], "{plan:?}");
    let kept = plan
        .kept
        .iter()
        .find(|k| k.name == late)
        .expect("late kept");
    assert!(
        kept.reason.starts_with("exited 0s ago") || kept.reason.starts_with("exited 1s ago"),
        "{}",
        kept.reason
    );

    let reports = run_plan(&plan, &docker).await;
    assert_eq!(reports[0].status, Status::Done);
    assert!(
        docker
            .inspect_container(&early)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(docker.inspect_container(&late).await.is_ok());
    env().cli(&["rm", &late]);
}

#[tokio::test]
async fn running_containers_are_never_removed_and_protection_wins() {
    let docker = docker();
    let test_id = unique("running");
    let lbl = label(&test_id);
    let live = unique("swab-live");
    let guarded = unique("swab-guarded");
    let victim = unique("swab-victim");
    env().cli(&[
        "run",
        "-d",
        "--name",
        &live,
        "--label",
        &lbl,
        &env().image,
        "sleep",
        "300",
    ]);
    env().cli(&[
        "run",
        "--name",
        &guarded,
        "--label",
        &lbl,
        "--label",
        "swab.protect=true",
        &env().image,
        "true",
    ]);
    env().cli(&[
        "run",
        "--name",
        &victim,
        "--label",
        &lbl,
        &env().image,
        "true",
    ]);
    let set = rules(&format!(
        "version: 1\nrules:\n  - name: all\n    action: prune-containers\n    match:\n      labels: [\"{lbl}\"]\n      status: [exited, dead, created]\n"
    ));
    let (_, plan) = plan_now(&docker, &set).await;
    let reports = run_plan(&plan, &docker).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].name, victim);
    assert!(docker.inspect_container(&live).await.unwrap().state.running);
    assert!(docker.inspect_container(&guarded).await.is_ok());
    env().cli(&["rm", "-f", &live, &guarded]);
}

#[tokio::test]
async fn multi_tag_image_is_removed_tag_by_tag_with_no_conflict() {
    let docker = docker();
    let test_id = unique("multitag");
    let repo = unique("swab-multi");
    let id = env().import_image(&format!("{repo}:a"), &[("swab-test", &test_id)]);
    env().cli(&["tag", &format!("{repo}:a"), &format!("{repo}:b")]);
    env().cli(&["tag", &format!("{repo}:a"), &format!("{repo}-other:c")]);
    let set = prune_images_labelled(&test_id);
    let (_, plan) = plan_now(&docker, &set).await;
    assert_eq!(plan.actions.len(), 1);
    let recording = Recording::new(docker.clone());
    let reports = run_plan(&plan, &recording).await;
    assert_eq!(reports[0].status, Status::Done, "{reports:?}");
    assert_eq!(reports[0].error, None);
    // Three DELETEs, one per tag, none forced, no conflict, and the image is gone.
    assert_eq!(recording.calls().len(), 3, "{:?}", recording.calls());
    assert!(docker.inspect_image(&id).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn parent_child_chain_is_removed_child_first() {
    let docker = docker();
    let test_id = unique("chain");
    let repo = unique("swab-chain");
    let base = format!("{repo}-base:1");
    let parent_id = env().import_image(&base, &[("swab-test", &test_id)]);
    let builder = unique("swab-chain-builder");
    env().cli(&["run", "--name", &builder, &base, "touch", "/layer"]);
    let child = format!("{repo}-child:1");
    let child_id = env().cli(&[
        "commit",
        "--change",
        &format!("LABEL swab-test={test_id}"),
        &builder,
        &child,
    ]);
    env().cli(&["rm", &builder]);
    let child_inspect = docker.inspect_image(&child_id).await.unwrap();
    assert_eq!(
        child_inspect.parent, parent_id,
        "docker commit records the parent"
    );

    let set = prune_images_labelled(&test_id);
    let (_, plan) = plan_now(&docker, &set).await;
    assert_eq!(plan.actions.len(), 2, "{plan:?}");
    let recording = Recording::new(docker.clone());
    let reports = run_plan(&plan, &recording).await;
    assert!(
        reports.iter().all(|r| r.status == Status::Done),
        "{reports:?}"
    );
    // By ID, never by tag: a tag may have moved to another image since planning.
    assert_eq!(
        recording.calls(),
        [
            format!("remove_image {child_id}"),
            format!("remove_image {parent_id}")
        ]
    );
    assert!(
        docker
            .inspect_image(&child_id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        docker
            .inspect_image(&parent_id)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn a_container_created_after_planning_makes_image_removal_skipped_and_keeps_every_tag() {
    let docker = docker();
    let test_id = unique("race");
    let single = format!("{}:1", unique("swab-race-single"));
    let multi = unique("swab-race-multi");
    let single_id = env().import_image(&single, &[("swab-test", &test_id), ("n", "1")]);
    let multi_id = env().import_image(
        &format!("{multi}:a"),
        &[("swab-test", &test_id), ("n", "2")],
    );
    env().cli(&["tag", &format!("{multi}:a"), &format!("{multi}:b")]);
    let set = prune_images_labelled(&test_id);
    let (_, plan) = plan_now(&docker, &set).await;
    assert_eq!(plan.actions.len(), 2);

    // Between plan and execution, containers appear that use both images.
    let user1 = unique("swab-race-user");
    let user2 = unique("swab-race-user");
    env().cli(&["create", "--name", &user1, &single, "true"]);
    env().cli(&["create", "--name", &user2, &format!("{multi}:b"), "true"]);

    let reports = run_plan(&plan, &docker).await;
    for r in &reports {
        assert_eq!(r.status, Status::Skipped, "{r:?}");
        assert!(r.error.is_some());
    }
    assert_eq!(
        docker.inspect_image(&single_id).await.unwrap().repo_tags,
        std::slice::from_ref(&single)
    );
    let mut tags = docker.inspect_image(&multi_id).await.unwrap().repo_tags;
    tags.sort();
    assert_eq!(tags, [format!("{multi}:a"), format!("{multi}:b")]);
    env().cli(&["rm", &user1, &user2]);
    env().cli(&["rmi", &single, &format!("{multi}:a"), &format!("{multi}:b")]);
}

#[tokio::test]
async fn a_container_started_after_planning_is_skipped_not_forced() {
    let docker = docker();
    let test_id = unique("restarted");
    let lbl = label(&test_id);
    let name = unique("swab-restarted");
    env().cli(&[
        "run",
        "--name",
        &name,
        "--label",
        &lbl,
        &env().image,
        "true",
    ]);
    // On Docker 28, under the load of the whole suite, a plan made right after this attached
    // `docker run` once found nothing to remove: wait until the daemon has the container
    // exited, since the planner only removes exited containers.
    env().cli(&["wait", &name]);
    let set = rules(&format!(
        "version: 1\nrules:\n  - name: c\n    action: prune-containers\n    match:\n      labels: [\"{lbl}\"]\n"
    ));
    let (_, plan) = plan_now(&docker, &set).await;
    assert_eq!(plan.actions.len(), 1);
    env().cli(&["start", &name]);
    // `true` exits at once; keep it running by restarting it with a long command instead.
    env().cli(&["rm", "-f", &name]);
    env().cli(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &lbl,
        &env().image,
        "sleep",
        "300",
    ]);
    // The plan names the old ID, which is gone: skipped as not found, the new one untouched.
    let reports = run_plan(&plan, &docker).await;
    assert_eq!(reports[0].status, Status::Skipped, "{reports:?}");
    assert!(docker.inspect_container(&name).await.unwrap().state.running);

    // Same ID, running again: the daemon's conflict makes it skipped.
    let (_, plan) = plan_now(&docker, &set).await;
    assert!(
        plan.actions.is_empty(),
        "running containers are not planned"
    );
    env().cli(&["stop", "-t", "0", &name]);
    let (_, plan) = plan_now(&docker, &set).await;
    assert_eq!(plan.actions.len(), 1);
    env().cli(&["start", &name]);
    let reports = run_plan(&plan, &docker).await;
    assert_eq!(reports[0].status, Status::Skipped);
    assert!(
        reports[0].error.as_deref().unwrap().contains("running"),
        "{reports:?}"
    );
    assert!(docker.inspect_container(&name).await.unwrap().state.running);
    env().cli(&["rm", "-f", &name]);
}

#[tokio::test]
async fn dry_run_makes_the_same_calls_as_the_real_run() {
    let docker = docker();
    let test_id = unique("dryrun");
    let lbl = label(&test_id);
    for _ in 0..3 {
        env().cli(&[
            "run",
            "--name",
            &unique("swab-dry"),
            "--label",
            &lbl,
            &env().image,
            "true",
        ]);
    }
    let repo = unique("swab-dry-img");
    env().import_image(&format!("{repo}:1"), &[("swab-test", &test_id), ("n", "1")]);
    env().import_image(&format!("{repo}:2"), &[("swab-test", &test_id), ("n", "2")]);
    env().cli(&["tag", &format!("{repo}:2"), &format!("{repo}:two")]);
    let anon = unique("swab-dry-vol");
    env().cli(&["volume", "create", "--label", &lbl, &anon]);
    let set = rules(&format!(
        "version: 1\nrules:\n  - name: c\n    action: prune-containers\n    match:\n      labels: [\"{lbl}\"]\n  - name: i\n    action: prune-images\n    match:\n      labels: [\"{lbl}\"]\n  - name: v\n    action: prune-volumes\n    match:\n      labels: [\"{lbl}\"]\n"
    ));
    let (_, dry_plan) = plan_now(&docker, &set).await;
    let recorder = DryRun::for_plan(&dry_plan);
    let dry = run_plan(&dry_plan, &recorder).await;
    assert!(dry.iter().all(|r| r.status == Status::Planned));
    assert_eq!(dry_plan.actions.len(), 3 + 2 + 1, "{dry_plan:?}");

    let (_, real_plan) = plan_now(&docker, &set).await;
    // Same state, same action set (reasons mention ages, which move on by the second).
    let ops = |p: &Plan| {
        p.actions
            .iter()
            .map(|a| format!("{} {:?}", a.rule, a.op))
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(ops(&real_plan), ops(&dry_plan));
    let recording = Recording::new(docker.clone());
    let real = run_plan(&real_plan, &recording).await;
    assert!(real.iter().all(|r| r.status == Status::Done), "{real:?}");
    let mut dry_calls = recorder.calls();
    let mut real_calls = recording.calls();
    dry_calls.sort();
    real_calls.sort();
    assert_eq!(dry_calls, real_calls);
}

#[tokio::test]
async fn volumes_only_by_an_explicit_rule_and_named_ones_only_when_selected() {
    let docker = docker();
    let test_id = unique("vols");
    let lbl = label(&test_id);
    let named = unique("swab-named");
    env().cli(&["volume", "create", "--label", &lbl, &named]);
    let holder = unique("swab-anon-holder");
    env().cli(&[
        "create",
        "--name",
        &holder,
        "--label",
        &lbl,
        "-v",
        "/anon",
        &env().image,
        "true",
    ]);
    let anon = docker.inspect_container(&holder).await.unwrap().mounts[0]
        .name
        .clone();

    // Pruning containers never touches their volumes.
    let containers_only = rules(&format!(
        "version: 1\nrules:\n  - name: c\n    action: prune-containers\n    match:\n      status: [created]\n      labels: [\"{lbl}\"]\n"
    ));
    let (_, plan) = plan_now(&docker, &containers_only).await;
    run_plan(&plan, &docker).await;
    assert!(
        docker
            .inspect_container(&holder)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        docker.inspect_volume(&anon).await.is_ok(),
        "removing a container keeps its volumes"
    );

    // An unselected prune-volumes rule takes the anonymous volume, never the named one.
    let anonymous_only = rules("version: 1\nrules:\n  - name: v\n    action: prune-volumes\n");
    let (_, plan) = plan_now(&docker, &anonymous_only).await;
    assert!(plan.actions.iter().all(|a| a.op.id() != named));
    assert!(plan.actions.iter().any(|a| a.op.id() == anon));
    let mine: Vec<_> = plan
        .actions
        .iter()
        .filter(|a| a.op.id() == anon)
        .cloned()
        .collect();
    let only_mine = Plan {
        actions: mine,
        ..Plan::default()
    };
    run_plan(&only_mine, &docker).await;
    assert!(
        docker
            .inspect_volume(&anon)
            .await
            .unwrap_err()
            .is_not_found()
    );

    let by_name = rules(&format!(
        "version: 1\nrules:\n  - name: v\n    action: prune-volumes\n    match:\n      names: [\"{named}\"]\n"
    ));
    let (_, plan) = plan_now(&docker, &by_name).await;
    assert_eq!(plan.actions.len(), 1);
    assert!(matches!(&plan.actions[0].op, Op::RemoveVolume { id } if *id == named));
    run_plan(&plan, &docker).await;
    assert!(
        docker
            .inspect_volume(&named)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn snapshot_uses_two_lists_and_inspects_only_candidates() {
    let docker = docker();
    let test_id = unique("calls");
    let lbl = label(&test_id);
    for _ in 0..3 {
        env().cli(&[
            "run",
            "--name",
            &unique("swab-calls"),
            "--label",
            &lbl,
            &env().image,
            "true",
        ]);
    }
    let set = rules(&format!(
        "version: 1\nrules:\n  - name: c\n    action: prune-containers\n    match:\n      labels: [\"{lbl}\"]\n      older_than: 0s\n"
    ));
    let selected: Vec<_> = set.rules.iter().collect();
    let (_, stats) = gather(&docker, &selected, &set.protect, &LocalFilesystem, 4)
        .await
        .unwrap();
    // Other tests' containers exist on the daemon, but only ours match the rule.
    assert_eq!(stats.container_inspects, 3);
    assert_eq!(stats.image_inspects, 0);
    assert_eq!(stats.api_calls, 2 + 3);
    let (_, plan) = plan_now(&docker, &set).await;
    run_plan(&plan, &docker).await;
}

#[tokio::test]
async fn restart_rule_restarts_only_long_running_matches() {
    let docker = docker();
    let test_id = unique("restart");
    let lbl = label(&test_id);
    let name = unique("swab-restart");
    env().cli(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &lbl,
        &env().image,
        "sleep",
        "300",
    ]);
    let before = docker
        .inspect_container(&name)
        .await
        .unwrap()
        .state
        .started_at;
    let young = rules(&format!(
        "version: 1\nrules:\n  - name: r\n    action: restart\n    stop_timeout: 1s\n    match:\n      labels: [\"{lbl}\"]\n      older_than: 1h\n"
    ));
    let (_, plan) = plan_now(&docker, &young).await;
    assert!(plan.actions.is_empty(), "{plan:?}");
    assert!(plan.kept[0].reason.starts_with("up "), "{:?}", plan.kept);

    let any_age = rules(&format!(
        "version: 1\nrules:\n  - name: r\n    action: restart\n    stop_timeout: 1s\n    match:\n      labels: [\"{lbl}\"]\n"
    ));
    let (_, plan) = plan_now(&docker, &any_age).await;
    let reports = run_plan(&plan, &docker).await;
    assert_eq!(reports[0].status, Status::Done, "{reports:?}");
    let after = docker.inspect_container(&name).await.unwrap().state;
    assert!(after.running);
    assert_ne!(after.started_at, before, "the container was restarted");
    env().cli(&["rm", "-f", &name]);
}

#[tokio::test]
async fn disk_pressure_triggers_use_real_df_and_filesystem_figures() {
    let docker = docker();
    let test_id = unique("pressure");
    let repo = unique("swab-pressure");
    let ids: Vec<String> = (0..2)
        .map(|n| {
            env().import_image(
                &format!("{repo}:{n}"),
                &[("swab-test", &test_id), ("n", &n.to_string())],
            )
        })
        .collect();
    let rule = |when: &str| {
        rules(&format!(
            "version: 1\nrules:\n  - name: p\n    action: prune-images\n    when:\n      {when}\n    match:\n      labels: [\"swab-test={test_id}\"]\n"
        ))
    };
    // Never true: nothing planned, and the report says why.
    for when in ["images_size_above: 1000TB", "disk_usage_above: 100%"] {
        let (_, plan) = plan_now(&docker, &rule(when)).await;
        assert!(plan.actions.is_empty(), "{when}: {plan:?}");
        assert!(
            plan.notes
                .iter()
                .any(|n| n.message.starts_with("not triggered")),
            "{when}: {:?}",
            plan.notes
        );
    }
    // Images take more than 1 byte, and the daemon's filesystem is more than 1% used: both
    // triggers hold, read from /system/df and statvfs on the daemon's root dir.
    let (snapshot, plan) = plan_now(&docker, &rule("disk_usage_above: 1%")).await;
    let fs = snapshot
        .disk
        .unwrap()
        .filesystem
        .expect("local daemon: filesystem figures");
    assert!(fs.total > 0 && fs.used > 0);
    assert_eq!(plan.actions.len(), 2, "{plan:?}");
    let (snapshot, plan) = plan_now(&docker, &rule("images_size_above: 1B")).await;
    assert!(snapshot.disk.unwrap().images_size > 0);
    assert_eq!(plan.actions.len(), 2);
    // With a target, sizes come from /system/df: these two imports share their one layer
    // with every other busybox image on the daemon, so removing one frees (almost) nothing,
    // and a target they cannot reach keeps the rule going through all candidates.
    let with_target = rules(&format!(
        "version: 1\nrules:\n  - name: p\n    action: prune-images\n    when:\n      images_size_above: 2B\n    target:\n      images_size_below: 1B\n    match:\n      labels: [\"swab-test={test_id}\"]\n"
    ));
    let (sized, sized_plan) = plan_now(&docker, &with_target).await;
    let df = docker.disk_usage(true).await.unwrap();
    for action in &sized_plan.actions {
        let image = sized
            .images
            .iter()
            .find(|i| i.id == action.op.id())
            .unwrap();
        let item = df.image_items.iter().find(|i| i.id == image.id).unwrap();
        assert_eq!(
            image.unique_size,
            u64::try_from(item.size - item.shared_size).unwrap(),
            "freed bytes are /system/df's Size - SharedSize"
        );
        // On the classic store both imports share their one layer with the other busybox
        // images. The containerd store counts each import's compressed layer blob as its own
        // (~1 MB of 3 MB here: `docker import` compresses it anew), which is what removing
        // the image frees there.
        let shared_share = if env().engine.containerd_store() {
            2
        } else {
            10
        };
        assert!(
            image.unique_size < image.size / shared_share,
            "{} of {} bytes counted as freed",
            image.unique_size,
            image.size
        );
        assert_eq!(action.bytes, Some(image.unique_size));
    }
    assert_eq!(sized_plan.actions.len(), 2);
    assert!(
        sized_plan
            .notes
            .iter()
            .any(|n| n.message.starts_with("target not reached")),
        "{:?}",
        sized_plan.notes
    );
    let reports = run_plan(&plan, &docker).await;
    assert!(
        reports.iter().all(|r| r.status == Status::Done),
        "{reports:?}"
    );
    for id in ids {
        assert!(docker.inspect_image(&id).await.unwrap_err().is_not_found());
    }
}

#[tokio::test]
async fn a_tag_moved_to_another_image_after_planning_is_never_touched() {
    let docker = docker();
    let test_id = unique("moved");
    let single = format!("{}:1", unique("swab-moved-single"));
    let multi = unique("swab-moved-multi");
    let old_single = env().import_image(&single, &[("swab-test", &test_id), ("v", "old1")]);
    let old_multi = env().import_image(
        &format!("{multi}:a"),
        &[("swab-test", &test_id), ("v", "old2")],
    );
    env().cli(&["tag", &format!("{multi}:a"), &format!("{multi}:b")]);
    let set = prune_images_labelled(&test_id);
    let (_, plan) = plan_now(&docker, &set).await;
    assert_eq!(plan.actions.len(), 2, "{plan:?}");

    // Between plan and execution, a `docker pull` moves `single` and `multi:a` to new images
    // (which no rule selected: they lack the label).
    let new_single = env().import_image(&single, &[("v", "new1")]);
    let new_multi = env().import_image(&format!("{multi}:a"), &[("v", "new2")]);

    let reports = run_plan(&plan, &docker).await;
    assert!(
        reports.iter().all(|r| r.status == Status::Done),
        "{reports:?}"
    );
    // The planned images are gone...
    assert!(
        docker
            .inspect_image(&old_single)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        docker
            .inspect_image(&old_multi)
            .await
            .unwrap_err()
            .is_not_found()
    );
    // ...and the images the tags moved to keep them.
    assert_eq!(
        docker.inspect_image(&new_single).await.unwrap().repo_tags,
        std::slice::from_ref(&single)
    );
    assert_eq!(
        docker.inspect_image(&new_multi).await.unwrap().repo_tags,
        [format!("{multi}:a")]
    );
    env().cli(&["rmi", &single, &format!("{multi}:a")]);
}

#[tokio::test]
async fn a_base_image_used_through_intermediate_build_layers_is_in_use() {
    let docker = docker();
    let test_id = unique("built");
    let base = format!("{}:1", unique("swab-built-base"));
    let app = format!("{}:1", unique("swab-built-app"));
    let base_id = env().import_image(&base, &[("swab-test", &test_id)]);
    // A classic build with two RUN steps leaves untagged intermediate images between the base
    // and the app; the top-level image list does not show them.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {base}\nRUN touch /a\nRUN touch /b\n"),
    )
    .unwrap();
    let built = std::process::Command::new(&env().docker_cli)
        .env("DOCKER_BUILDKIT", "0")
        .args(["-H", &env().docker_host, "build", "-q", "-t", &app])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let app_parent = docker.inspect_image(&app).await.unwrap().parent;
    assert_ne!(
        app_parent, base_id,
        "the app's parent is an intermediate image"
    );
    let name = unique("swab-built-web");
    env().cli(&["run", "-d", "--name", &name, &app, "sleep", "300"]);

    let set = prune_images_labelled(&test_id);
    let selected: Vec<_> = set.rules.iter().collect();
    let (snapshot, stats) = gather(&docker, &selected, &set.protect, &LocalFilesystem, 4)
        .await
        .unwrap();
    assert!(
        snapshot
            .hidden_parents
            .iter()
            .any(|(id, _)| *id == app_parent),
        "the intermediate link was fetched"
    );
    assert!(stats.api_calls >= 3, "two lists plus the all=true list");
    let (_, plan) = plan_now(&docker, &set).await;
    assert!(
        plan.actions.iter().all(|a| a.op.id() != base_id),
        "the base is in use through the app's layers: {plan:?}"
    );
    let kept = plan
        .kept
        .iter()
        .find(|k| k.id == base_id)
        .expect("base considered");
    assert_eq!(kept.reason, "an ancestor of an image in use");
    env().cli(&["rm", "-f", &name]);
    env().cli(&["rmi", &app, &base]);
}
