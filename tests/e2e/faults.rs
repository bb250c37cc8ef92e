//! swab between itself and the daemon a proxy that fails calls (`swab_testkit::fault_proxy`):
//! each fault mode on each kind of call a prune run makes, one at a time. After each run:
//! nothing running, in use or protected was removed, the JSON report parses, and a clean
//! rerun converges. Plus what a fatal error looks like in JSON, and a daemon gone silent.

use crate::harness::swab;

/// `--format json` on a daemon that cannot be reached: one parseable document with
/// `error`, exit 3, for every command that reports.
#[test]
fn an_unreachable_daemon_still_gets_a_json_report() {
    for args in [
        &["plan", "--format", "json"][..],
        &["run", "--format", "json"],
        &["updates", "--format", "json"],
        &["rollback", "web", "--format", "json"],
    ] {
        let out = swab()
            .args(["-H", "unix:///nonexistent/swab-e2e.sock"])
            .args(args.iter().copied())
            .run();
        out.code(3);
        let report = out.json();
        assert_eq!(report["command"], args[0], "{report}");
        assert_eq!(report["error"]["kind"], "docker_unreachable", "{report}");
        assert!(
            report["error"]["message"]
                .as_str()
                .unwrap()
                .contains("/nonexistent/swab-e2e.sock"),
            "{report}"
        );
        assert_eq!(report["exit_code"], 3);
    }
}

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use serde_json::Value;
    use swab_testkit::fault_proxy::{Fault, FaultProxy, Mode};
    use swab_testkit::{env, unique};

    use crate::harness::{Outcome, swab};

    /// One prune scene: a stopped container and an unused image to remove; a running
    /// container, the image it uses and a protected stopped container that must stay. The
    /// rules ask for ages (`older_than`, `unused_for`), so the run inspects the candidates.
    struct Scene {
        test_id: String,
        stopped: String,
        running: String,
        protected: String,
        unused_image: String,
        used_image: String,
    }

    impl Scene {
        fn new() -> Scene {
            let test_id = unique("fault");
            let label = format!("swab-test={test_id}");
            let used = format!("swab-fault-used-{test_id}:1");
            let unused = format!("swab-fault-unused-{test_id}:1");
            env().import_image(&used, &[("swab-test", &test_id)]);
            env().import_image(&unused, &[("swab-test", &test_id)]);
            let run = |name: &str, extra: &[&str], cmd: &[&str]| {
                let mut args = vec![
                    "run",
                    "--name",
                    name,
                    "--label",
                    &label,
                    "--network",
                    "none",
                ];
                args.extend_from_slice(extra);
                args.push(&used);
                args.extend_from_slice(cmd);
                env().cli(&args);
            };
            let stopped = unique("swab-fault-stopped");
            run(&stopped, &[], &["true"]);
            let protected = unique("swab-fault-protected");
            run(&protected, &["--label", "swab.protect=true"], &["true"]);
            let running = unique("swab-fault-running");
            run(&running, &["-d"], &["sleep", "300"]);
            Scene {
                test_id,
                stopped,
                running,
                protected,
                unused_image: unused,
                used_image: used,
            }
        }

        fn rules(&self) -> String {
            let id = &self.test_id;
            format!(
                "version: 1\nrules:\n  - name: stopped\n    action: prune-containers\n    match:\n      labels: [\"swab-test={id}\"]\n      older_than: 0s\n  - name: images\n    action: prune-images\n    match:\n      labels: [\"swab-test={id}\"]\n      unused_for: 0s\n"
            )
        }

        /// `swab run --format json` against `host`.
        fn run(&self, host: &str) -> Outcome {
            swab()
                .home_file("r.yaml", &self.rules())
                .in_home()
                .env(
                    "SWAB_STATE",
                    env()
                        .dir
                        .join(format!("{}.json", self.test_id))
                        .display()
                        .to_string(),
                )
                .args(["-H", host, "run", "--rules", "r.yaml", "--format", "json"])
                .run()
        }

        fn exists(kind: &str, name: &str) -> bool {
            env().try_cli(&[kind, "inspect", name]).success
        }

        /// Nothing running, in use or protected is gone.
        fn assert_safe(&self, case: &str) {
            assert!(
                Self::exists("container", &self.running),
                "{case}: running container removed"
            );
            assert!(
                Self::exists("container", &self.protected),
                "{case}: protected container removed"
            );
            assert!(
                Self::exists("image", &self.used_image),
                "{case}: image in use removed"
            );
        }

        /// The things to remove are gone.
        fn assert_converged(&self, case: &str) {
            assert!(
                !Self::exists("container", &self.stopped),
                "{case}: stopped container left"
            );
            assert!(
                !Self::exists("image", &self.unused_image),
                "{case}: unused image left"
            );
            self.assert_safe(case);
        }
    }

    impl Drop for Scene {
        fn drop(&mut self) {
            for c in [&self.stopped, &self.running, &self.protected] {
                env().try_cli(&["rm", "-f", c]);
            }
            for i in [&self.unused_image, &self.used_image] {
                env().try_cli(&["rmi", "-f", i]);
            }
        }
    }

    fn proxy(test_id: &str, faults: Vec<Fault>) -> FaultProxy {
        let upstream = env().docker_host.trim_start_matches("unix://").to_owned();
        FaultProxy::start(
            &env().dir.join(format!("{test_id}.sock")),
            Path::new(&upstream),
            faults,
        )
    }

    fn err500() -> Mode {
        Mode::Answer {
            status: 500,
            message: "injected fault".to_owned(),
        }
    }

    /// Each read a prune run makes fails once (a 500, or the connection dropped): the read
    /// is tried again and the run does all it would have done.
    #[test]
    fn a_failed_read_is_tried_again_and_the_run_goes_on() {
        let reads = [
            ("/_ping", 0),
            ("/containers/json", 0),
            ("/images/json", 0),
            // The first inspect of a stopped container, and of an image.
            ("/containers/", 1),
            ("/images/sha256", 0),
        ];
        for (path, skip) in reads {
            for mode in [err500(), Mode::Drop] {
                let case = format!("{mode:?} on GET {path} (after {skip})");
                let scene = Scene::new();
                let fault = Fault::new("GET", path, mode).after(skip);
                let proxy = proxy(&scene.test_id, vec![fault]);
                let out = scene.run(&proxy.host());
                assert_eq!(
                    proxy.pending(),
                    0,
                    "{case}: the fault fired; requests: {:#?}",
                    proxy.seen()
                );
                out.code(0);
                let report = out.json();
                assert_eq!(report["summary"]["failed"], 0, "{case}: {report}");
                assert_eq!(report["retries"]["docker"], 1, "{case}: {report}");
                scene.assert_converged(&case);
            }
        }
    }

    /// Each removal meets each fault: answered 500, dropped before the daemon saw it,
    /// done by the daemon with the answer lost, or slow. Nothing it must keep is removed,
    /// the report parses, a lost answer of a removal that happened counts as done (the
    /// object is looked up again), and a clean rerun finishes the job.
    #[test]
    fn faults_on_removals_never_remove_the_wrong_thing_and_a_rerun_converges() {
        for path in ["/containers/", "/images/"] {
            for mode in [
                err500(),
                Mode::Drop,
                Mode::LoseAnswer,
                Mode::Delay(Duration::from_secs(1)),
            ] {
                let case = format!("{mode:?} on DELETE {path}");
                let scene = Scene::new();
                let proxy = proxy(
                    &scene.test_id,
                    vec![Fault::new("DELETE", path, mode.clone())],
                );
                let out = scene.run(&proxy.host());
                assert_eq!(proxy.pending(), 0, "{case}: the fault fired");
                let report: Value = out.json();
                scene.assert_safe(&case);
                let failed = report["summary"]["failed"].as_u64().unwrap();
                match mode {
                    Mode::LoseAnswer | Mode::Delay(_) => {
                        out.code(0);
                        assert_eq!(failed, 0, "{case}: {report}");
                        scene.assert_converged(&case);
                    }
                    _ => {
                        out.code(1);
                        assert_eq!(failed, 1, "{case}: {report}");
                    }
                }
                // Without faults, the next run finishes what is left.
                scene.run(&env().docker_host).code(0);
                scene.assert_converged(&case);
            }
        }
    }

    /// A daemon that accepts the connection and never answers: `swab plan` exits 3 within
    /// the default timeout (60s), with the JSON report saying so.
    #[test]
    fn a_silent_daemon_fails_within_the_default_timeout() {
        let test_id = unique("fault-silent");
        let proxy = proxy(&test_id, vec![Fault::new("GET", "/_ping", Mode::Hang)]);
        let started = Instant::now();
        let out = swab()
            .args(["-H", &proxy.host(), "plan", "--format", "json"])
            .run();
        let took = started.elapsed();
        out.code(3);
        let report = out.json();
        assert_eq!(report["error"]["kind"], "docker_timeout", "{report}");
        assert!(
            took >= Duration::from_secs(60) && took < Duration::from_secs(75),
            "{took:?}"
        );
    }
}
