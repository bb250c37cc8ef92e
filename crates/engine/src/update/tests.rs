//! The update executor against a simulated daemon: every step's failure rolls back, a kill
//! at any point is recovered from the journal, and `swab rollback` goes back.
//!
//! The clock is paused, so health gates of a minute take no time.

use std::time::Duration;

use serde_json::{Value, json};
use swab_registry::CredentialStore;
use swab_rules::{ImageRef, Protect, RollbackTag};

use super::fake::{Behaviour, FakeDocker, MemoryState, World, name_of};
use super::{UpdateEngine, Updater, recover};
use crate::cancel::Cancel;
use crate::report::{ActionKind, ActionReport, Status};
use crate::state::State;
use crate::updates::{self, UpdateGroup};

const REF: &str = "r.example/app:1";
const ROLLBACK_TAG: &str = "r.example/app:1-swab-previous";
const OLD: &str = "sha256:0001";
const NEW: &str = "sha256:0002";
const PREV: &str = "sha256:0000";
const NEW_DIGEST: &str = "sha256:d2";
const GATE: Duration = Duration::from_secs(30);

/// A host with `web` running `REF` (restart policy `always`) and a registry whose `REF`
/// is a new image that behaves as `new`.
struct Scene {
    docker: FakeDocker,
    state: MemoryState,
    cancel: Cancel,
    protect: Protect,
    credentials: CredentialStore,
    web: String,
    /// With dependents: the Compose service `worker` (depends on `web`) and `sidecar`
    /// (in `web`'s network stack).
    dependents: Option<(String, String)>,
}

impl Scene {
    fn new(new: Behaviour) -> Scene {
        let docker = FakeDocker::default();
        docker.image(OLD, &[REF], &["r.example/app@sha256:d1"], Behaviour::Runs);
        docker.publish(NEW, &format!("r.example/app@{NEW_DIGEST}"), new);
        let web = docker.container("web", REF, &always());
        docker.take_calls();
        Scene {
            docker,
            state: MemoryState::default(),
            cancel: Cancel::new(),
            protect: Protect::default(),
            credentials: CredentialStore::anonymous(),
            web,
            dependents: None,
        }
    }

    fn with_dependents(new: Behaviour) -> Scene {
        let mut scene = Scene::new(new);
        let compose = |service: &str, depends: &str| {
            json!({
                "com.docker.compose.project": "p",
                "com.docker.compose.service": service,
                "com.docker.compose.depends_on": depends,
            })
        };
        scene.docker.with(|w| {
            w.containers[0]["Config"]["Labels"] = compose("web", "");
        });
        scene
            .docker
            .image("sha256:0009", &["r.example/side:1"], &[], Behaviour::Runs);
        let worker = scene.docker.container(
            "worker",
            "r.example/side:1",
            &json!({"Config": {"Labels": compose("worker", "web:service_started:false")}}),
        );
        let sidecar = scene.docker.container(
            "sidecar",
            "r.example/side:1",
            &json!({"HostConfig": {"NetworkMode": format!("container:{}", scene.web)}}),
        );
        scene.docker.take_calls();
        scene.dependents = Some((worker, sidecar));
        scene
    }

    fn updater(&self) -> Updater<'_> {
        Updater {
            engine: &self.docker,
            credentials: &self.credentials,
            protect: &self.protect,
            state: &self.state,
            cancel: &self.cancel,
            progress: &|_: &ActionReport| {},
            status: &|_: &str| {},
        }
    }

    /// The group the planner would make for `names`.
    async fn group(&self, names: &[&str]) -> UpdateGroup {
        let snapshot = self.docker.snapshot().await.unwrap();
        self.docker.take_calls();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        UpdateGroup {
            rule: "u".to_owned(),
            reference: ImageRef::parse(REF).unwrap(),
            old_image: OLD.to_owned(),
            remote_digest: NEW_DIGEST.to_owned(),
            target: None,
            target_before: None,
            compose_write: false,
            compose: Vec::new(),
            rollback_tag: Some(ROLLBACK_TAG.to_owned()),
            displaced: None,
            cleanup: None,
            health_timeout: GATE,
            stop_timeout: None,
            units: updates::units(&snapshot, &names),
            hooks: Vec::new(),
        }
    }

    async fn apply(&self, group: &UpdateGroup) -> Vec<ActionReport> {
        self.updater().apply(group).await
    }

    /// Applies the update of `web`, killed at its `kill_at`th mutating call (its future
    /// dropped there, as with kill -9); whether it was killed. The daemon is healed after.
    async fn apply_killed_at(&self, kill_at: usize) -> bool {
        let group = self.group(&["web"]).await;
        self.docker.hang_at_mutation(kill_at);
        let killed = tokio::time::timeout(Duration::from_secs(3600), self.apply(&group))
            .await
            .is_err();
        self.docker.heal();
        killed
    }

    /// `swab rollback web`, on the host as it is now.
    async fn rollback(&self) -> Result<Vec<ActionReport>, String> {
        let snapshot = self.docker.snapshot().await.unwrap();
        self.docker.take_calls();
        self.updater()
            .rollback(
                "web",
                &RollbackTag::default_template(),
                GATE,
                None,
                &snapshot,
            )
            .await
    }

    /// The mutating calls since the log was last taken.
    fn mutations(&self) -> Vec<String> {
        self.docker
            .take_calls()
            .into_iter()
            .filter(|c| !c.starts_with("inspect") && c != "list")
            .collect()
    }

    /// dockerd changes the container named `name` by itself (a stop or rename it carries
    /// out late, say): `change` gets its raw inspect.
    fn dockerd_changes(&self, name: &str, change: impl FnOnce(&mut Value)) {
        self.docker.with(|w| {
            let i = w
                .containers
                .iter()
                .position(|c| name_of(c) == name)
                .unwrap_or_else(|| panic!("no container {name}"));
            change(&mut w.containers[i]);
        });
    }

    fn world<T>(&self, f: impl FnOnce(&World) -> T) -> T {
        self.docker.with(|w| f(w))
    }

    /// The host as before the update: `web` is the old container, running, with its
    /// restart policy; `REF` names the old image; nothing parked; no rollback tag.
    fn assert_restored(&self) {
        self.world(|w| {
            let web = w.container("web").expect("web exists");
            assert_eq!(web["Id"], self.web.as_str(), "web is the old container");
            assert_eq!(web["State"]["Running"], true, "web runs");
            assert_eq!(web["HostConfig"]["RestartPolicy"]["Name"], "always");
            assert_eq!(w.tagged(REF), Some(OLD));
            assert_eq!(w.tagged(ROLLBACK_TAG), None);
            assert_no_leftovers(w);
            self.assert_dependents(w, true);
        });
    }

    /// The dependents run; the worker is the same container, the sidecar shares the
    /// current `web`'s network stack (and is the same container when `web` is).
    fn assert_dependents(&self, w: &World, web_is_old: bool) {
        let Some((worker, sidecar)) = &self.dependents else {
            return;
        };
        let worker = w.container(worker).expect("worker is kept");
        assert_eq!(worker["State"]["Running"], true, "worker runs");
        let side = w.container("sidecar").expect("sidecar exists");
        assert_eq!(side["State"]["Running"], true, "sidecar runs");
        let web = w.container("web").expect("web exists");
        let mode = format!("container:{}", web["Id"].as_str().unwrap_or_default());
        assert_eq!(side["HostConfig"]["NetworkMode"], mode.as_str());
        assert_eq!(side["Id"] == sidecar.as_str(), web_is_old);
    }

    /// The host after the update: `web` is a new container on the new image, running,
    /// with the old one's restart policy; the rollback tag names the old image.
    fn assert_updated(&self) {
        self.world(|w| {
            let web = w.container("web").expect("web exists");
            assert_ne!(web["Id"], self.web.as_str(), "web is the replacement");
            assert_eq!(web["Image"], NEW);
            assert_eq!(web["State"]["Running"], true, "web runs");
            assert_eq!(web["HostConfig"]["RestartPolicy"]["Name"], "always");
            assert!(
                w.container(&self.web).is_none(),
                "the old container is gone"
            );
            assert_eq!(w.tagged(REF), Some(NEW));
            assert_eq!(w.tagged(ROLLBACK_TAG), Some(OLD));
            assert_no_leftovers(w);
            self.assert_dependents(w, false);
        });
    }

    fn journal_is_empty(&self) -> bool {
        self.state.get().in_flight.is_empty()
    }
}

fn always() -> Value {
    json!({"HostConfig": {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}}})
}

fn assert_no_leftovers(w: &World) {
    let names: Vec<&str> = w.containers.iter().map(name_of).collect();
    assert!(
        !names.iter().any(|n| n.contains("-swab-old-")),
        "nothing stays parked: {names:?}"
    );
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "names are unique: {names:?}");
}

/// That `action` failed (or was skipped) saying `needle`.
#[track_caller]
fn assert_error(action: &ActionReport, needle: &str) {
    assert!(
        action.error.as_deref().is_some_and(|e| e.contains(needle)),
        "{needle:?} not in {action:?}"
    );
}

fn statuses(actions: &[ActionReport]) -> Vec<(ActionKind, Status)> {
    actions.iter().map(|a| (a.action, a.status)).collect()
}

#[tokio::test(start_paused = true)]
async fn an_update_journals_tags_pulls_swaps_gates_and_commits_in_that_order() {
    let scene = Scene::new(Behaviour::Runs);
    let group = scene.group(&["web"]).await;
    let actions = scene.apply(&group).await;
    assert_eq!(
        statuses(&actions),
        [
            (ActionKind::TagImage, Status::Done),
            (ActionKind::PullImage, Status::Done),
            (ActionKind::RecreateContainer, Status::Done),
        ]
    );
    scene.assert_updated();
    assert!(scene.journal_is_empty());
    let mutations = scene.mutations();
    let parked = format!("web-swab-old-{}", &scene.web[..12]);
    assert_eq!(
        mutations,
        [
            format!("tag {ROLLBACK_TAG}"),
            format!("pull r.example/app@{NEW_DIGEST}"),
            format!("tag {REF}"),
            "stop web".to_owned(),
            "update web".to_owned(),
            "rename web".to_owned(),
            "create web".to_owned(),
            "start web".to_owned(),
            format!("remove {parked}"),
        ]
    );
}

/// One failure of [`a_failure_at_any_step_rolls_everything_back`].
struct Case {
    what: &'static str,
    new: Behaviour,
    fault: Option<(&'static str, usize)>,
    refuse_commit: bool,
    blames_image: bool,
    error: &'static str,
    /// The daemon's answer to the fault, if not 500 "injected fault".
    answer: Option<(u16, &'static str)>,
}

/// What dockerd answers when the runtime cannot run the image's entrypoint.
const ENTRYPOINT_MISSING: &str = "failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"/app\": stat /app: no such file or directory: unknown";

/// A fault at each step of the swap, a failed gate, and a commit that cannot be written.
fn step_failures() -> Vec<Case> {
    let case = |what, fault, blames_image, error| Case {
        what,
        new: Behaviour::Runs,
        fault: Some(fault),
        refuse_commit: false,
        blames_image,
        error,
        answer: None,
    };
    vec![
        case("list", ("list", 0), false, "web: cannot list containers"),
        case("stop", ("stop", 0), false, "web: cannot stop"),
        case(
            "restart policy",
            ("update", 0),
            false,
            "web: cannot turn off its restart policy",
        ),
        case("rename", ("rename", 0), false, "web: cannot rename"),
        // A 500 that does not name the image is the daemon's trouble: nothing recorded.
        case(
            "create",
            ("create", 0),
            false,
            "web: cannot create the replacement",
        ),
        case(
            "start",
            ("start", 0),
            false,
            "web: cannot start the replacement",
        ),
        Case {
            answer: Some((400, "invalid mount config for type \"bind\"")),
            ..case(
                "create: the configuration is refused",
                ("create", 0),
                true,
                "web: cannot create the replacement",
            )
        },
        Case {
            answer: Some((500, ENTRYPOINT_MISSING)),
            ..case(
                "start: the image's entrypoint is missing",
                ("start", 0),
                true,
                "web: cannot start the replacement",
            )
        },
        Case {
            what: "gate: exits",
            new: Behaviour::Exits(3),
            fault: None,
            refuse_commit: false,
            blames_image: true,
            error: "web: the replacement exited with code 3",
            answer: None,
        },
        Case {
            what: "gate: unhealthy",
            new: Behaviour::Unhealthy,
            fault: None,
            refuse_commit: false,
            blames_image: true,
            error: "web: the replacement is unhealthy: check failed",
            answer: None,
        },
        Case {
            what: "commit",
            new: Behaviour::Healthy,
            fault: None,
            refuse_commit: true,
            blames_image: false,
            error: "r.example/app:1: cannot write the update journal",
            answer: None,
        },
    ]
}

/// The tag moved on the registry after the check: the digest that was checked is pulled,
/// not whatever the tag names now. A registry that no longer has it fails the pull, and
/// nothing changes.
#[tokio::test(start_paused = true)]
async fn exactly_the_checked_digest_is_pulled() {
    let scene = Scene::new(Behaviour::Runs);
    scene.docker.publish_at(
        REF,
        "sha256:0003",
        "r.example/app@sha256:d3",
        Behaviour::Runs,
    );
    let group = scene.group(&["web"]).await;
    scene.apply(&group).await;
    scene.assert_updated();
    assert!(scene.world(|w| w.images.iter().all(|i| i.id != "sha256:0003")));

    let scene = Scene::new(Behaviour::Runs);
    scene.docker.with(|w| w.registry.clear());
    let group = scene.group(&["web"]).await;
    let actions = scene.apply(&group).await;
    assert_eq!(
        statuses(&actions),
        [
            (ActionKind::TagImage, Status::Done),
            (ActionKind::PullImage, Status::Failed),
            (ActionKind::RecreateContainer, Status::Skipped),
        ]
    );
    assert_error(&actions[1], "No such object: r.example/app@sha256:d2");
    scene.assert_restored();
    let state = scene.state.get();
    assert!(state.in_flight.is_empty() && state.rolled_back.is_empty());
}

/// A Compose service's configs and secrets with `content:` exist only in the container
/// (Compose copies them in before starting it): they are copied into the replacement
/// before it starts, and it records the new image for Compose.
#[tokio::test(start_paused = true)]
async fn compose_content_configs_are_copied_before_the_replacement_starts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yaml");
    std::fs::write(
        &file,
        "services:\n  web:\n    image: r.example/app:1\n    configs: [inline]\n    secrets: [token]\nconfigs:\n  inline:\n    content: hello\nsecrets:\n  token:\n    file: ./token\n",
    )
    .unwrap();
    let scene = Scene::new(Behaviour::Runs);
    scene.docker.with(|w| {
        let web = &mut w.containers[0];
        web["Config"]["Labels"] = json!({
            "com.docker.compose.project": "p",
            "com.docker.compose.service": "web",
            "com.docker.compose.project.config_files": file.display().to_string(),
            "com.docker.compose.image": OLD,
        });
        web["Files"] = json!({"/inline": "hello"});
    });
    let group = scene.group(&["web"]).await;
    scene.apply(&group).await;
    scene.assert_updated();
    scene.world(|w| {
        let web = w.container("web").unwrap();
        assert_eq!(web["Files"]["/inline"], "hello");
        assert_eq!(web["Config"]["Labels"]["com.docker.compose.image"], NEW);
    });
    let mutations = scene.mutations();
    let copy = mutations.iter().position(|c| c == "copy web").unwrap();
    let start = mutations.iter().position(|c| c == "start web").unwrap();
    assert!(copy < start, "{mutations:?}");
}

/// A scaled Compose service is updated replica by replica, each gated: when replica 2
/// fails, replica 1 (which passed) stays updated and only replica 2 is rolled back.
/// Containers that are not replicas of one service stay all or nothing.
#[tokio::test(start_paused = true)]
async fn a_failing_replica_rolls_back_alone_and_the_ones_that_passed_stay() {
    for compose in [true, false] {
        let scene = Scene::new(Behaviour::Runs);
        let labels = |n: &str| {
            if compose {
                json!({"Config": {"Labels": {
                    "com.docker.compose.project": "p",
                    "com.docker.compose.service": "web",
                    "com.docker.compose.container-number": n,
                }}})
            } else {
                json!({})
            }
        };
        scene.docker.with(|w| w.containers.clear());
        let one = scene.docker.container("p-web-1", REF, &labels("1"));
        let two = scene.docker.container("p-web-2", REF, &labels("2"));
        let group = scene.group(&["p-web-1", "p-web-2"]).await;
        scene
            .docker
            .fail_once_with("start", "p-web-2", 500, ENTRYPOINT_MISSING);
        let actions = scene.apply(&group).await;
        let recreates: Vec<(&str, Status)> = actions[2..]
            .iter()
            .map(|a| (a.name.as_str(), a.status))
            .collect();
        let first = scene.world(|w| w.container("p-web-1").unwrap().clone());
        let second = scene.world(|w| w.container("p-web-2").unwrap().clone());
        assert_eq!(second["Id"], two.as_str(), "replica 2 is back");
        assert_eq!(second["Image"], OLD);
        assert_eq!(second["State"]["Running"], true);
        if compose {
            assert_eq!(
                recreates,
                [("p-web-1", Status::Done), ("p-web-2", Status::RolledBack)]
            );
            assert!(
                actions[2]
                    .error
                    .as_deref()
                    .is_some_and(|e| e.contains("passed its gate before p-web-2 failed")),
                "{actions:?}"
            );
            assert_ne!(first["Id"], one.as_str(), "replica 1 stays updated");
            assert_eq!(first["Image"], NEW);
        } else {
            assert_eq!(
                recreates,
                [
                    ("p-web-1", Status::RolledBack),
                    ("p-web-2", Status::RolledBack)
                ]
            );
            assert_eq!(first["Id"], one.as_str());
        }
        assert_eq!(first["State"]["Running"], true);
        scene.world(|w| {
            assert_no_leftovers(w);
            assert_eq!(
                w.tagged(REF),
                Some(OLD),
                "the tag goes back: the new image failed"
            );
            // The replica that stayed can go back by hand: the rollback tag stays on OLD.
            assert_eq!(w.tagged(ROLLBACK_TAG), compose.then_some(OLD));
        });
        let state = scene.state.get();
        assert!(state.in_flight.is_empty());
        assert_eq!(state.rolled_back[REF].digest, NEW_DIGEST);
    }
}

/// Compose files swab cannot read: the container may hold configs that could not be
/// carried over, so it is not updated, and nothing is stopped.
#[tokio::test(start_paused = true)]
async fn a_compose_container_whose_files_cannot_be_read_is_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let variable = dir.path().join("compose.yaml");
    std::fs::write(
        &variable,
        "services:\n  web:\n    configs:\n      - source: app\n        target: ${CONF}/app.conf\nconfigs:\n  app:\n    content: x\n",
    )
    .unwrap();
    for (files, said) in [
        (
            "/nonexistent/compose.yaml".to_owned(),
            "cannot read the compose file /nonexistent/compose.yaml",
        ),
        (
            variable.to_str().unwrap().to_owned(),
            "with a variable (`${CONF}/app.conf`), which swab cannot fill in as Compose did",
        ),
    ] {
        let scene = Scene::new(Behaviour::Runs);
        scene.docker.with(|w| {
            w.containers[0]["Config"]["Labels"] = json!({
                "com.docker.compose.project": "p",
                "com.docker.compose.service": "web",
                "com.docker.compose.project.config_files": files,
            });
        });
        let group = scene.group(&["web"]).await;
        let actions = scene.apply(&group).await;
        assert_eq!(actions[2].status, Status::RolledBack);
        assert_error(&actions[2], said);
        assert!(
            scene.mutations().iter().all(|c| !c.starts_with("stop")),
            "nothing was stopped"
        );
        scene.assert_restored();
        assert!(
            scene.state.get().rolled_back.is_empty(),
            "not the image's fault"
        );
    }
}

/// A failure at each step of the swap (and at the commit) puts everything back; the
/// digest is recorded as bad only when the new image itself failed.
#[tokio::test(start_paused = true)]
async fn a_failure_at_any_step_rolls_everything_back() {
    for case in step_failures() {
        let scene = Scene::new(case.new);
        let group = scene.group(&["web"]).await;
        match (case.fault, case.answer) {
            (Some((method, _)), Some((status, message))) => {
                scene.docker.fail_once_with(method, "web", status, message);
            }
            (Some((method, skip)), None) => {
                let target = (method != "list").then_some("web");
                scene.docker.fail_once(method, target, skip);
            }
            (None, _) => {}
        }
        if case.refuse_commit {
            scene
                .state
                .refuse_writes(|s| s.in_flight.iter().any(|f| f.committed));
        }
        let actions = scene.apply(&group).await;
        let recreate = &actions[2];
        assert_eq!(
            recreate.status,
            Status::RolledBack,
            "{}: {actions:?}",
            case.what
        );
        let error = recreate.error.as_deref().unwrap_or_default();
        assert!(
            error.starts_with(case.error) && error.contains("rolled back to 0001"),
            "{}: {error}",
            case.what
        );
        assert!(
            !error.contains("rollback problems"),
            "{}: {error}",
            case.what
        );
        scene.assert_restored();
        let state = scene.state.get();
        assert!(state.in_flight.is_empty(), "{}: journal cleared", case.what);
        assert_eq!(
            state.rolled_back.get(REF).map(|r| r.digest.as_str()),
            case.blames_image.then_some(NEW_DIGEST),
            "{}",
            case.what
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_journal_that_cannot_be_written_stops_the_update_before_anything_changes() {
    let scene = Scene::new(Behaviour::Runs);
    let group = scene.group(&["web"]).await;
    scene.state.refuse_writes(|_| true);
    let actions = scene.apply(&group).await;
    assert!(
        actions.iter().all(|a| a.status == Status::Failed),
        "{actions:?}"
    );
    let calls = scene.docker.take_calls();
    assert_eq!(
        calls,
        [format!("inspect_image {REF}")],
        "nothing but the check"
    );
    scene.assert_restored();
}

#[tokio::test(start_paused = true)]
async fn a_failed_cleanup_keeps_the_update_and_says_why() {
    let scene = Scene::new(Behaviour::Runs);
    scene
        .docker
        .image(PREV, &[ROLLBACK_TAG], &[], Behaviour::Runs);
    let mut group = scene.group(&["web"]).await;
    group.displaced = Some(PREV.to_owned());
    group.cleanup = Some(PREV.to_owned());
    scene.docker.fail_once("remove_image", Some(PREV), 0);
    let actions = scene.apply(&group).await;
    assert_eq!(
        statuses(&actions),
        [
            (ActionKind::TagImage, Status::Done),
            (ActionKind::PullImage, Status::Done),
            (ActionKind::RecreateContainer, Status::Done),
            (ActionKind::RemoveImage, Status::Skipped),
        ]
    );
    assert_error(&actions[3], "injected fault");
    scene.assert_updated();
    assert!(scene.journal_is_empty());
    assert!(scene.world(|w| w.images.iter().any(|i| i.id == PREV)));
}

/// A parked container that cannot be removed at the commit stays in a committed journal
/// entry, and the next run's recovery removes it: nothing `-swab-old-` is left for good.
#[tokio::test(start_paused = true)]
async fn a_parked_container_that_cannot_be_removed_is_removed_by_the_next_recovery() {
    let scene = Scene::new(Behaviour::Runs);
    let group = scene.group(&["web"]).await;
    scene.docker.fail_once("remove", None, 0);
    let actions = scene.apply(&group).await;
    assert_eq!(actions[2].status, Status::Done, "{actions:?}");
    assert_error(&actions[2], "the next run tries again");
    let journal = scene.state.get().in_flight;
    assert!(journal.len() == 1 && journal[0].committed, "{journal:?}");
    assert_eq!(journal[0].containers.len(), 1);
    assert!(scene.world(|w| {
        w.containers
            .iter()
            .any(|c| name_of(c).contains("-swab-old-"))
    }));

    let recovery = recover(&scene.docker, &scene.state).await;
    assert!(recovery.problems.is_empty(), "{recovery:?}");
    assert!(scene.journal_is_empty());
    scene.assert_updated();
}

/// A run killed right after it sent the stop: dockerd finishes that stop on its own, a
/// moment after recovery looked. Recovery waits out the stop's grace period and starts the
/// container again, instead of leaving it stopped (found by `scripts/chaos.sh`).
#[tokio::test(start_paused = true)]
async fn a_stop_still_under_way_at_recovery_is_waited_for_and_the_container_runs_again() {
    let probe = Scene::new(Behaviour::Runs);
    probe.apply(&probe.group(&["web"]).await).await;
    let stop = probe
        .mutations()
        .iter()
        .position(|c| c == "stop web")
        .unwrap()
        + 1;
    let scene = Scene::new(Behaviour::Runs);
    assert!(scene.apply_killed_at(stop).await);
    assert!(scene.world(|w| w.container("web").unwrap()["State"]["Running"] == true));
    // dockerd carries out the stop 2 s after recovery began; until then it refuses to
    // update the container, as Docker 28 does while a container's task is going away.
    scene
        .docker
        .fail_once_with("update", "web", 500, "cannot update a stopped container");
    let dockerd_stops = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        scene.dockerd_changes("web", |c| c["State"]["Running"] = json!(false));
        scene.docker.with(|w| w.faults.clear());
    };
    let (recovery, ()) = tokio::join!(recover(&scene.docker, &scene.state), dockerd_stops);
    assert!(recovery.problems.is_empty(), "{recovery:?}");
    scene.assert_restored();
}

/// A stop that times out and is carried out by dockerd a moment later (a daemon slow to
/// answer, or a request that arrived late) does not leave the container stopped: the update
/// waits to see whether the stop happens before its rollback starts the container again.
#[tokio::test(start_paused = true)]
async fn a_stop_that_times_out_and_happens_later_is_waited_for_before_the_rollback() {
    let scene = Scene::new(Behaviour::Runs);
    let group = scene.group(&["web"]).await;
    scene.docker.time_out_once("stop", "web");
    let dockerd_stops = async {
        // The executor's stop call returns at once with the timeout; dockerd acts 2 s later.
        tokio::time::sleep(Duration::from_secs(2)).await;
        scene.dockerd_changes("web", |c| c["State"]["Running"] = json!(false));
    };
    let (actions, ()) = tokio::join!(scene.apply(&group), dockerd_stops);
    let error = actions.last().unwrap().error.as_deref().unwrap_or_default();
    assert!(error.contains("did not answer"), "{actions:?}");
    scene.assert_restored();
    // Unanswered, so the journal stays for the next run to check; it finds nothing to do.
    assert!(error.contains("the next run checks"), "{error}");
    assert!(!scene.journal_is_empty());
    let recovery = recover(&scene.docker, &scene.state).await;
    assert!(recovery.problems.is_empty(), "{recovery:?}");
    scene.assert_restored();
    assert!(scene.journal_is_empty());
}

/// A rename that times out and lands only after the rollback (so the rollback saw nothing
/// to rename back) is undone by the next run: the journal stayed for that.
#[tokio::test(start_paused = true)]
async fn a_change_that_lands_after_the_rollback_is_undone_by_the_next_run() {
    let scene = Scene::new(Behaviour::Runs);
    let group = scene.group(&["web"]).await;
    scene.docker.time_out_once("rename", "web");
    let actions = scene.apply(&group).await;
    assert_eq!(
        actions.last().unwrap().status,
        Status::RolledBack,
        "{actions:?}"
    );
    scene.assert_restored();
    // dockerd carries out the rename now, after swab gave up on it and rolled back.
    scene.dockerd_changes("web", |c| c["Name"] = json!("/web-swab-old-late"));
    let recovery = recover(&scene.docker, &scene.state).await;
    assert!(recovery.problems.is_empty(), "{recovery:?}");
    scene.assert_restored();
    assert!(scene.journal_is_empty());
}

/// When the undo itself fails, the journal stays, and the next run's recovery finishes it.
#[tokio::test(start_paused = true)]
async fn an_undo_that_fails_leaves_the_journal_for_recovery() {
    let scene = Scene::new(Behaviour::Runs);
    let group = scene.group(&["web"]).await;
    scene.docker.fail_once("start", Some("web"), 0);
    // The parking rename goes through; renaming back does not.
    scene.docker.fail_once("rename", None, 1);
    let actions = scene.apply(&group).await;
    let error = actions[2].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("rollback problems: cannot rename"),
        "{error}"
    );
    assert_eq!(scene.state.get().in_flight.len(), 1, "the journal stays");
    assert!(scene.world(|w| w.container("web").is_none()));

    let recovery = recover(&scene.docker, &scene.state).await;
    assert!(recovery.problems.is_empty(), "{recovery:?}");
    assert_eq!(recovery.notes.len(), 1);
    scene.assert_restored();
    assert!(scene.journal_is_empty());
}

/// Kill the executor at every mutating call of an update in turn (its future is dropped
/// there, as with kill -9), then run recovery: the host always ends up either exactly as
/// before or exactly updated, never in between, and recovery meets every journal state.
#[tokio::test(start_paused = true)]
async fn a_kill_at_any_point_is_finished_or_undone_by_recovery() {
    let mut seen = std::collections::BTreeSet::new();
    for make in [Scene::new, Scene::with_dependents] {
        let probe = make(Behaviour::Runs);
        let group = probe.group(&["web"]).await;
        probe.apply(&group).await;
        probe.assert_updated();
        let total = probe.docker.mutations();
        assert!(total >= 8, "{total}");

        for kill_at in 1..=total {
            let scene = make(Behaviour::Runs);
            let killed = scene.apply_killed_at(kill_at).await;
            assert!(killed, "kill at {kill_at} of {total}");
            let journal = scene.state.get().in_flight;
            let kind = match journal.first() {
                None => "empty",
                Some(f) if f.committed => "committed",
                Some(f) => match f.containers.last() {
                    None if !f.stopped.is_empty() => "dependent stopped",
                    None => "tags only",
                    Some(s) if s.new_id.is_some() => "replacement journalled",
                    Some(_) => "container journalled",
                },
            };
            seen.insert(kind);

            let recovery = recover(&scene.docker, &scene.state).await;
            assert!(
                recovery.problems.is_empty(),
                "kill at {kill_at}: {recovery:?}"
            );
            assert!(scene.journal_is_empty(), "kill at {kill_at}");
            let updated = scene.world(|w| w.container("web").is_some_and(|c| c["Image"] == NEW));
            if kind == "committed" {
                assert!(updated, "kill at {kill_at}: a committed update is finished");
            }
            if updated {
                scene.assert_updated();
            } else {
                scene.assert_restored();
            }
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            "committed",
            "container journalled",
            "dependent stopped",
            "replacement journalled",
            "tags only"
        ]
    );
}

/// A replacement whose create answer was lost (the kill came after the daemon created it,
/// before the journal had its ID) is found by name and removed; one made by someone else
/// under the name long after is not.
#[tokio::test(start_paused = true)]
async fn recovery_finds_an_unjournalled_replacement_by_name_and_creation_time() {
    let probe = Scene::new(Behaviour::Runs);
    let group = probe.group(&["web"]).await;
    probe.apply(&group).await;
    // Killed at the journal write right after the create, and the ID the journal got
    // forgotten, as if the create answer never arrived.
    let after_create = probe
        .mutations()
        .iter()
        .position(|c| c == "create web")
        .unwrap()
        + 2;
    let killed_after_create = |journalled_ago: u64| async move {
        let scene = Scene::new(Behaviour::Runs);
        assert!(scene.apply_killed_at(after_create).await);
        let mut state = scene.state.get();
        let swap = &mut state.in_flight[0].containers[0];
        assert!(swap.new_id.is_some());
        swap.new_id = None;
        swap.journalled_at -= journalled_ago;
        scene.state.set(state);
        assert!(
            scene.world(|w| w.container("web").is_some_and(|c| c["Image"] == NEW)),
            "the replacement exists"
        );
        scene
    };

    let scene = killed_after_create(0).await;
    let recovery = recover(&scene.docker, &scene.state).await;
    assert!(recovery.problems.is_empty(), "{recovery:?}");
    scene.assert_restored();

    // The same journal, but the container under the name was created an hour after it:
    // not ours, so it is left, and the old container stays parked until someone looks.
    let scene = killed_after_create(3600).await;
    let recovery = recover(&scene.docker, &scene.state).await;
    assert!(
        recovery
            .problems
            .iter()
            .any(|(_, p)| p.contains("cannot rename")),
        "{recovery:?}"
    );
    assert_eq!(scene.state.get().in_flight.len(), 1, "the journal stays");
    assert!(
        scene.world(|w| w.container("web").is_some_and(|c| c["Image"] == NEW)),
        "someone else's container is not removed"
    );
}

/// Dependents move with the container: a Compose service that depends on it is stopped
/// and started again; a container in its network stack is recreated against the
/// replacement. A failure on the dependent puts all three back.
#[tokio::test(start_paused = true)]
async fn dependents_move_with_the_container_and_back_on_failure() {
    for fail_sidecar in [false, true] {
        let scene = Scene::with_dependents(Behaviour::Runs);
        let group = scene.group(&["web"]).await;
        assert_eq!(group.units[0].network_dependents[0].name, "sidecar");
        assert_eq!(group.units[0].compose_dependents[0].name, "worker");
        if fail_sidecar {
            scene.docker.fail_once("create", Some("sidecar"), 0);
        }
        let actions = scene.apply(&group).await;
        if fail_sidecar {
            assert_eq!(actions[2].status, Status::RolledBack, "{actions:?}");
            let error = actions[2].error.as_deref().unwrap_or_default();
            assert!(
                error.starts_with("sidecar: cannot create the replacement"),
                "{error}"
            );
            scene.assert_restored();
            assert!(
                scene.state.get().rolled_back.is_empty(),
                "a dependent's failure is not the new image's"
            );
        } else {
            assert_eq!(actions[3].status, Status::Done, "{actions:?}");
            scene.assert_updated();
        }
        assert!(scene.journal_is_empty());
    }
}

/// `swab rollback web` after an update: the tag moves back, the container is swapped
/// back under the same gate, and the digest rolled away from is remembered.
#[tokio::test(start_paused = true)]
async fn rollback_puts_the_previous_image_back_and_remembers_the_digest() {
    let scene = Scene::new(Behaviour::Runs);
    let group = scene.group(&["web"]).await;
    scene.apply(&group).await;
    scene.assert_updated();
    let actions = scene.rollback().await.unwrap();
    assert_eq!(
        statuses(&actions),
        [
            (ActionKind::TagImage, Status::Done),
            (ActionKind::RecreateContainer, Status::Done),
        ]
    );
    let mutations = scene.mutations();
    assert_eq!(
        mutations[..6],
        [
            format!("tag {REF}"),
            "stop web".to_owned(),
            "update web".to_owned(),
            "rename web".to_owned(),
            "create web".to_owned(),
            "start web".to_owned(),
        ]
    );
    assert!(
        mutations[6].starts_with("remove web-swab-old-"),
        "{mutations:?}"
    );
    scene.world(|w| {
        let web = w.container("web").unwrap();
        assert_eq!(web["Image"], OLD);
        assert_eq!(web["State"]["Running"], true);
        assert_eq!(w.tagged(REF), Some(OLD));
        assert_no_leftovers(w);
    });
    let state = scene.state.get();
    assert!(state.in_flight.is_empty());
    assert_eq!(state.rolled_back[REF].digest, NEW_DIGEST);
}

#[tokio::test(start_paused = true)]
async fn a_failed_rollback_leaves_the_container_as_it_was() {
    let scene = Scene::new(Behaviour::Runs);
    let group = scene.group(&["web"]).await;
    scene.apply(&group).await;
    let updated_id = scene.world(|w| w.container("web").unwrap()["Id"].clone());
    scene.docker.fail_once("start", Some("web"), 0);

    let actions = scene.rollback().await.unwrap();
    assert_eq!(actions[1].status, Status::RolledBack);
    assert_error(&actions[1], "left as it was");
    scene.world(|w| {
        let web = w.container("web").unwrap();
        assert_eq!(web["Id"], updated_id);
        assert_eq!(web["State"]["Running"], true);
        assert_eq!(w.tagged(REF), Some(NEW));
        assert_no_leftovers(w);
    });
    let state = scene.state.get();
    assert!(state.in_flight.is_empty());
    assert!(!state.rolled_back.contains_key(REF));
}

#[tokio::test(start_paused = true)]
async fn rollback_refuses_without_a_rollback_image_and_changes_nothing() {
    let scene = Scene::new(Behaviour::Runs);
    let err = scene.rollback().await.unwrap_err();
    assert!(
        err.contains("there is no r.example/app:1-swab-previous"),
        "{err}"
    );
    assert_eq!(scene.mutations(), [] as [String; 0], "only looked");
    assert_eq!(scene.state.get(), State::default());
}

#[test]
fn credentials_convert_to_docker_auth() {
    use swab_registry::{Credentials, Secret};
    let auth = super::docker_auth(&Credentials::basic("u", "p"), "127.0.0.1:5000");
    assert_eq!(auth.username.as_deref(), Some("u"));
    assert_eq!(auth.password.as_deref(), Some("p"));
    assert_eq!(auth.server_address.as_deref(), Some("127.0.0.1:5000"));
    let token = Credentials::IdentityToken {
        token: Secret::new("t"),
    };
    let auth = super::docker_auth(&token, "r");
    assert_eq!(auth.identity_token.as_deref(), Some("t"));
    assert_eq!(auth.username, None);
}

/// The group for `web` with the rule's `hooks`.
async fn hooked_group(scene: &Scene, hooks: swab_rules::Hooks) -> UpdateGroup {
    let mut group = scene.group(&["web"]).await;
    let resolved = crate::hooks::for_container(&hooks, &std::collections::HashMap::new()).unwrap();
    group.hooks = vec![("web".to_owned(), resolved)];
    group
}

fn exits(code: i64, output: &str) -> super::HookRun {
    super::HookRun {
        exit_code: Some(code),
        output: output.to_owned(),
        ..super::HookRun::default()
    }
}

#[tokio::test(start_paused = true)]
async fn hooks_run_before_the_stop_and_after_the_start_in_the_right_container() {
    let scene = Scene::new(Behaviour::Runs);
    let group = hooked_group(
        &scene,
        swab_rules::Hooks {
            pre_update: Some("dump".to_owned()),
            post_update: Some("migrate".to_owned()),
            ..swab_rules::Hooks::default()
        },
    )
    .await;
    let actions = scene.apply(&group).await;
    assert_eq!(
        statuses(&actions),
        [
            (ActionKind::TagImage, Status::Done),
            (ActionKind::PullImage, Status::Done),
            (ActionKind::RunHook, Status::Done),
            (ActionKind::RecreateContainer, Status::Done),
            (ActionKind::RunHook, Status::Done),
        ]
    );
    scene.assert_updated();
    let calls: Vec<String> = scene
        .mutations()
        .into_iter()
        .filter(|c| c.starts_with("hook") || c == "stop web" || c == "start web")
        .collect();
    assert_eq!(calls, ["hook web", "stop web", "start web", "hook web"]);
    let runs = scene.world(|w| w.hook_runs.clone());
    assert_eq!(runs, ["web: dump", "web: migrate"]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_pre_update_hook_vetoes_the_update_and_exit_75_skips_it_quietly() {
    for (code, hook_status) in [(1, Status::Failed), (75, Status::Skipped)] {
        let scene = Scene::new(Behaviour::Runs);
        scene
            .docker
            .hook_answers("dump", exits(code, "checking\nbackup in progress\n"));
        let group = hooked_group(
            &scene,
            swab_rules::Hooks {
                pre_update: Some("dump".to_owned()),
                post_update: Some("migrate".to_owned()),
                ..swab_rules::Hooks::default()
            },
        )
        .await;
        let actions = scene.apply(&group).await;
        assert_eq!(
            statuses(&actions),
            [
                (ActionKind::TagImage, Status::Done),
                (ActionKind::PullImage, Status::Done),
                (ActionKind::RunHook, hook_status),
                (ActionKind::RecreateContainer, Status::Skipped),
                (ActionKind::RunHook, Status::Skipped),
            ],
            "exit {code}"
        );
        let said = if code == 75 {
            "pre-update hook asked to skip the update this time (exit 75): checking | backup in progress"
        } else {
            "pre-update hook exited 1: checking | backup in progress"
        };
        assert_eq!(actions[2].error.as_deref(), Some(said));
        assert_error(
            &actions[3],
            &format!("held back, {REF} stays on 0001: web: {said}"),
        );
        // Nothing stopped, the tags are back, the pulled image is gone, and the digest is
        // not held against the image: the next run tries again.
        scene.assert_restored();
        assert!(scene.journal_is_empty());
        assert!(scene.state.get().rolled_back.is_empty());
        scene.world(|w| {
            assert!(
                w.images.iter().all(|i| i.id != NEW),
                "the pulled image goes"
            );
            assert_eq!(w.hook_runs, ["web: dump"]);
        });
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_post_update_hook_rolls_back_unless_told_to_warn() {
    for warn in [false, true] {
        let scene = Scene::new(Behaviour::Runs);
        let timed_out = super::HookRun {
            output: "waiting for db\n".to_owned(),
            timed_out: true,
            killed: true,
            ..super::HookRun::default()
        };
        scene.docker.hook_answers("migrate", timed_out);
        let group = hooked_group(
            &scene,
            swab_rules::Hooks {
                post_update: Some("migrate".to_owned()),
                on_failure: if warn {
                    swab_rules::HookFailure::Warn
                } else {
                    swab_rules::HookFailure::Rollback
                },
                ..swab_rules::Hooks::default()
            },
        )
        .await;
        let actions = scene.apply(&group).await;
        let said = "post-update hook timed out after 1m and was killed: waiting for db";
        if warn {
            assert_eq!(
                statuses(&actions),
                [
                    (ActionKind::TagImage, Status::Done),
                    (ActionKind::PullImage, Status::Done),
                    (ActionKind::RecreateContainer, Status::Done),
                    (ActionKind::RunHook, Status::Done),
                ]
            );
            assert_eq!(
                actions[3].error.as_deref(),
                Some(format!("{said}; the new container is kept (on_failure: warn)").as_str())
            );
            scene.assert_updated();
        } else {
            assert_eq!(
                statuses(&actions),
                [
                    (ActionKind::TagImage, Status::Done),
                    (ActionKind::PullImage, Status::Done),
                    (ActionKind::RecreateContainer, Status::RolledBack),
                    (ActionKind::RunHook, Status::Failed),
                ]
            );
            assert_eq!(actions[3].error.as_deref(), Some(said));
            assert_error(&actions[2], &format!("web: {said}; rolled back to 0001"));
            scene.assert_restored();
            // Like a failed gate: the digest waits for a newer one.
            assert_eq!(
                scene.state.get().rolled_back[REF].digest,
                NEW_DIGEST,
                "the digest is remembered"
            );
        }
        assert!(scene.journal_is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn a_hook_that_cannot_run_counts_as_failed() {
    let scene = Scene::new(Behaviour::Runs);
    scene.docker.fail_once("hook", Some("web"), 0);
    let group = hooked_group(
        &scene,
        swab_rules::Hooks {
            pre_update: Some("dump".to_owned()),
            ..swab_rules::Hooks::default()
        },
    )
    .await;
    let actions = scene.apply(&group).await;
    assert_eq!(actions[2].status, Status::Failed);
    assert_error(&actions[2], "cannot run the pre-update hook: ");
    assert_eq!(actions[3].status, Status::Skipped);
    scene.assert_restored();
}

#[tokio::test(start_paused = true)]
async fn watchtower_stop_signal_and_depends_on_labels_are_honoured() {
    let scene = Scene::new(Behaviour::Runs);
    scene.docker.with(|w| {
        w.containers[0]["Config"]["Labels"] =
            json!({"com.centurylinklabs.watchtower.stop-signal": "SIGINT"});
    });
    scene
        .docker
        .image("sha256:0009", &["r.example/api:1"], &[], Behaviour::Runs);
    let api = scene.docker.container(
        "api",
        "r.example/api:1",
        &json!({"Config": {"Labels": {"com.centurylinklabs.watchtower.depends-on": "web"}}}),
    );
    let group = scene.group(&["web"]).await;
    let actions = scene.apply(&group).await;
    assert!(
        actions.iter().all(|a| a.status == Status::Done),
        "{actions:?}"
    );
    scene.assert_updated();
    let calls: Vec<String> = scene
        .mutations()
        .into_iter()
        .filter(|c| c.starts_with("stop") || c.starts_with("start"))
        .collect();
    assert_eq!(calls, ["stop api", "stop web", "start web", "start api"]);
    scene.world(|w| {
        assert_eq!(w.stop_signals, ["web: SIGINT"]);
        let api = w.container(&api).expect("api is the same container");
        assert_eq!(api["State"]["Running"], true);
    });
}

#[tokio::test(start_paused = true)]
async fn a_signal_during_a_hook_holds_back_or_rolls_back_without_blaming_the_image() {
    let interrupted = super::HookRun {
        interrupted: true,
        killed: true,
        ..super::HookRun::default()
    };
    for phase in ["pre", "post"] {
        let scene = Scene::new(Behaviour::Runs);
        scene.docker.hook_answers(phase, interrupted.clone());
        let group = hooked_group(
            &scene,
            swab_rules::Hooks {
                pre_update: Some("pre".to_owned()),
                post_update: Some("post".to_owned()),
                on_failure: swab_rules::HookFailure::Warn,
                ..swab_rules::Hooks::default()
            },
        )
        .await;
        let actions = scene.apply(&group).await;
        let recreate = actions
            .iter()
            .find(|a| a.action == ActionKind::RecreateContainer)
            .unwrap();
        if phase == "pre" {
            assert_eq!(recreate.status, Status::Skipped, "{actions:?}");
            assert_error(recreate, "held back");
        } else {
            // Even with `on_failure: warn`: the run is stopping, nothing is left ungated.
            assert_eq!(recreate.status, Status::RolledBack, "{actions:?}");
            assert_error(recreate, "interrupted by a signal");
        }
        scene.assert_restored();
        assert!(scene.journal_is_empty());
        assert!(scene.state.get().rolled_back.is_empty(), "{phase}");
    }
}

#[tokio::test(start_paused = true)]
async fn hooks_of_a_container_gone_before_the_update_are_reported_skipped() {
    let scene = Scene::new(Behaviour::Runs);
    scene.docker.container("web2", REF, &always());
    let mut group = scene.group(&["web", "web2"]).await;
    let hooks = swab_rules::Hooks {
        pre_update: Some("pre".to_owned()),
        post_update: Some("post".to_owned()),
        ..swab_rules::Hooks::default()
    };
    let resolved = crate::hooks::for_container(&hooks, &std::collections::HashMap::new()).unwrap();
    group.hooks = vec![
        ("web".to_owned(), resolved.clone()),
        ("web2".to_owned(), resolved),
    ];
    scene
        .docker
        .with(|w| w.containers.retain(|c| name_of(c) != "web2"));
    let actions = scene.apply(&group).await;
    assert!(
        actions.iter().all(|a| a.status != Status::Planned),
        "{actions:?}"
    );
    let web2: Vec<(ActionKind, Status)> = actions
        .iter()
        .filter(|a| a.name == "web2")
        .map(|a| (a.action, a.status))
        .collect();
    assert_eq!(
        web2,
        [
            (ActionKind::RunHook, Status::Skipped),
            (ActionKind::RecreateContainer, Status::Skipped),
            (ActionKind::RunHook, Status::Skipped),
        ]
    );
    scene.assert_updated();
}

#[tokio::test(start_paused = true)]
async fn containers_that_depend_on_each_other_are_each_replaced_once_and_never_run_twice() {
    let scene = Scene::new(Behaviour::Runs);
    let depends =
        |on: &str| json!({"Config": {"Labels": {"com.centurylinklabs.watchtower.depends-on": on}}});
    scene.docker.with(|w| {
        w.containers[0]["Config"]["Labels"] =
            json!({"com.centurylinklabs.watchtower.depends-on": "api"});
    });
    scene.docker.container("api", REF, &depends("web"));
    let group = scene.group(&["web", "api"]).await;
    let actions = scene.apply(&group).await;
    assert!(
        actions.iter().all(|a| a.status == Status::Done),
        "{actions:?}"
    );
    scene.world(|w| {
        assert_no_leftovers(w);
        let running: Vec<(&str, &str)> = w
            .containers
            .iter()
            .filter(|c| c["State"]["Running"] == true)
            .map(|c| (name_of(c), c["Image"].as_str().unwrap_or_default()))
            .collect();
        assert_eq!(running.len(), 2, "{running:?}");
        assert!(
            running.iter().all(|(_, image)| *image == NEW),
            "{running:?}"
        );
    });
}

const TARGET: &str = "r.example/app:2";

impl Scene {
    /// The group tag tracking makes for `web`: from `REF` to [`TARGET`] (unknown here), whose
    /// digest is `NEW_DIGEST`.
    async fn tracking_group(&self) -> UpdateGroup {
        UpdateGroup {
            target: Some(ImageRef::parse(TARGET).unwrap()),
            ..self.group(&["web"]).await
        }
    }

    /// After a tracked update: `web` is a replacement created from [`TARGET`] on the new
    /// image, saying where it came from; `REF` never moved.
    fn assert_moved(&self) {
        self.world(|w| {
            let web = w.container("web").expect("web exists");
            assert_ne!(web["Id"], self.web.as_str(), "web is the replacement");
            assert_eq!(web["Config"]["Image"], TARGET);
            assert_eq!(web["Image"], NEW);
            assert_eq!(web["Config"]["Labels"]["swab.tracked-from"], REF);
            assert_eq!(web["State"]["Running"], true, "web runs");
            assert_eq!(w.tagged(REF), Some(OLD), "the old tag never moves");
            assert_eq!(w.tagged(TARGET), Some(NEW));
            assert_eq!(w.tagged(ROLLBACK_TAG), Some(OLD));
            assert_no_leftovers(w);
        });
    }

    /// As before a tracked update: [`Scene::assert_restored`], and no [`TARGET`] tag.
    fn assert_not_moved(&self) {
        self.assert_restored();
        self.world(|w| {
            assert_eq!(w.tagged(TARGET), None, "the target tag is gone again");
            assert_eq!(w.container("web").unwrap()["Config"]["Image"], REF);
        });
    }
}

/// Tag tracking pulls the checked digest under the new tag, recreates the container on that
/// tag (the old tag stays on the old image), and `swab rollback` puts it back on the old
/// tag, without the label, remembering the digest under the old reference.
#[tokio::test(start_paused = true)]
async fn tag_tracking_moves_the_container_to_the_new_tag_and_rollback_brings_it_back() {
    let scene = Scene::new(Behaviour::Runs);
    let group = scene.tracking_group().await;
    let actions = scene.apply(&group).await;
    assert_eq!(
        statuses(&actions),
        [
            (ActionKind::TagImage, Status::Done),
            (ActionKind::PullImage, Status::Done),
            (ActionKind::RecreateContainer, Status::Done),
        ]
    );
    assert_eq!(actions[1].name, TARGET);
    scene.assert_moved();
    assert!(scene.journal_is_empty());
    let mutations = scene.mutations();
    assert_eq!(
        mutations[..3],
        [
            format!("tag {ROLLBACK_TAG}"),
            format!("pull r.example/app@{NEW_DIGEST}"),
            format!("tag {TARGET}"),
        ]
    );

    let actions = scene.rollback().await.unwrap();
    assert_eq!(
        statuses(&actions),
        [
            (ActionKind::TagImage, Status::Done),
            (ActionKind::RecreateContainer, Status::Done),
        ]
    );
    assert_eq!(actions[0].name, REF);
    scene.world(|w| {
        let web = w.container("web").unwrap();
        assert_eq!(web["Config"]["Image"], REF);
        assert_eq!(web["Image"], OLD);
        assert_eq!(web["Config"]["Labels"].get("swab.tracked-from"), None);
        assert_eq!(w.tagged(REF), Some(OLD));
        assert_no_leftovers(w);
    });
    let state = scene.state.get();
    assert!(state.in_flight.is_empty());
    assert_eq!(state.rolled_back[REF].digest, NEW_DIGEST);
    assert!(state.rolled_back[REF].by_hand);
}

/// A tracked update whose new image fails rolls back: the target tag swab made goes, the
/// digest is recorded against the old reference (the key the next check reads).
#[tokio::test(start_paused = true)]
async fn a_failed_tracked_update_removes_the_target_tag_and_blames_the_digest() {
    let scene = Scene::new(Behaviour::Exits(3));
    let group = scene.tracking_group().await;
    let actions = scene.apply(&group).await;
    assert_eq!(actions[2].status, Status::RolledBack, "{actions:?}");
    scene.assert_not_moved();
    let state = scene.state.get();
    assert!(state.in_flight.is_empty());
    assert_eq!(state.rolled_back[REF].digest, NEW_DIGEST);

    // A target tag that named an image before is put back on it.
    let scene = Scene::new(Behaviour::Exits(3));
    scene
        .docker
        .image("sha256:0005", &[TARGET], &[], Behaviour::Runs);
    let group = UpdateGroup {
        target_before: Some("sha256:0005".to_owned()),
        ..scene.tracking_group().await
    };
    scene.apply(&group).await;
    scene.world(|w| assert_eq!(w.tagged(TARGET), Some("sha256:0005")));
    // Someone moved the target tag since planning: not started.
    let scene = Scene::new(Behaviour::Runs);
    scene
        .docker
        .image("sha256:0005", &[TARGET], &[], Behaviour::Runs);
    let actions = scene.apply(&scene.tracking_group().await).await;
    assert_eq!(actions[0].status, Status::Skipped, "{actions:?}");
    assert_error(&actions[0], "r.example/app:2 names 0005 since planning");
}

/// A kill at any point of a tracked update is finished or undone by recovery: either moved,
/// or as before with no target tag left.
#[tokio::test(start_paused = true)]
async fn a_kill_during_a_tracked_update_is_finished_or_undone_by_recovery() {
    let probe = Scene::new(Behaviour::Runs);
    probe.apply(&probe.tracking_group().await).await;
    probe.assert_moved();
    let total = probe.docker.mutations();
    for kill_at in 1..=total {
        let scene = Scene::new(Behaviour::Runs);
        let group = scene.tracking_group().await;
        scene.docker.hang_at_mutation(kill_at);
        let killed = tokio::time::timeout(Duration::from_secs(3600), scene.apply(&group))
            .await
            .is_err();
        scene.docker.heal();
        assert!(killed, "kill at {kill_at} of {total}");
        let recovery = recover(&scene.docker, &scene.state).await;
        assert!(
            recovery.problems.is_empty(),
            "kill at {kill_at}: {recovery:?}"
        );
        assert!(scene.journal_is_empty(), "kill at {kill_at}");
        if scene.world(|w| w.container("web").is_some_and(|c| c["Image"] == NEW)) {
            scene.assert_moved();
        } else {
            scene.assert_not_moved();
        }
    }
}
