//! Swarm services, updated through Swarm's own rolling update and rollback, on a
//! single-node Swarm of the test's own (a private dockerd: a Swarm on the shared one would
//! put its networks and task containers in every other test's way).

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use serde_json::Value;
    use swab_testkit::{PrivateDaemon, env, unique};

    use crate::harness::{Outcome, swab};

    /// Images upstream publishes (pushed from the shared daemon to the shared registry;
    /// the Swarm pulls them from there). Each gets the test's label, so its own IDs.
    const V1: &[&str] = &["ENV VERSION=1", r#"CMD ["sleep","600"]"#];
    const V2: &[&str] = &["ENV VERSION=2", r#"CMD ["sleep","601"]"#];
    /// Its tasks exit at once, whatever the service's arguments.
    const BROKEN: &[&str] = &["ENV VERSION=3", r#"ENTRYPOINT ["false"]"#];

    struct Story {
        swarm: PrivateDaemon,
        test_id: String,
        repo: String,
        state: tempfile::TempDir,
    }

    impl Story {
        /// Imports `changes` as `repo:tag`, pushes it, and returns its registry digest.
        fn publish(&self, tag: &str, changes: &[&str]) -> String {
            let reference = format!("{}:{tag}", self.repo);
            let label = format!("LABEL swab-test={}", self.test_id);
            let rootfs = env().rootfs.display().to_string();
            let mut args = vec!["import"];
            for change in changes.iter().chain([&label.as_str()]) {
                args.extend(["-c", change]);
            }
            args.extend([rootfs.as_str(), reference.as_str()]);
            env().cli(&args);
            env().cli(&["push", &reference]);
            let digests = env().cli(&[
                "image",
                "inspect",
                "-f",
                "{{json .RepoDigests}}",
                &reference,
            ]);
            let digests: Vec<String> = serde_json::from_str(&digests).unwrap();
            let digest = digests[0].rsplit_once('@').unwrap().1.to_owned();
            env().cli(&["rmi", &reference]);
            digest
        }

        fn service(&self, name: &str) -> Value {
            let text = self.swarm.cli(&["service", "inspect", name]);
            serde_json::from_str::<Value>(&text).unwrap()[0].clone()
        }

        /// The images the service's running task containers were created from
        /// (`Config.Image`: `repo:tag@sha256:…`, as Swarm pins it).
        fn task_images(&self, name: &str) -> Vec<String> {
            let filter = format!("label=com.docker.swarm.service.name={name}");
            let ids = self.swarm.cli(&["ps", "-q", "--filter", &filter]);
            let mut images: Vec<String> = ids
                .lines()
                .map(|id| self.swarm.cli(&["inspect", "-f", "{{.Config.Image}}", id]))
                .collect();
            images.sort();
            images
        }

        fn run(&self, rules: &str) -> Outcome {
            let state = self.state.path().join("state.json");
            swab()
                .home_file("r.yaml", rules)
                .in_home()
                .args([
                    "-H",
                    &self.swarm.host,
                    "run",
                    "--rules",
                    "r.yaml",
                    "--format",
                    "json",
                ])
                .args(["--state", state.to_str().unwrap()])
                .run()
        }

        fn state(&self) -> Value {
            let text = std::fs::read_to_string(self.state.path().join("state.json")).unwrap();
            serde_json::from_str(&text).unwrap()
        }
    }

    fn actions<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
        report["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["action"] == kind)
            .collect()
    }

    /// The spec without its image, to compare everything else.
    fn without_image(spec: &Value) -> Value {
        let mut spec = spec.clone();
        spec["TaskTemplate"]["ContainerSpec"]["Image"] = Value::Null;
        spec
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// The whole story on one single-node Swarm: a replicated service (2 tasks) and a
    /// global one, both from the local registry.
    /// 1. A new digest of each tag updates both through the service API: every task runs
    ///    the new digest, and the specs are otherwise unchanged. Container rules in the same
    ///    run (prune every exited container, restart `web*`) leave the task containers alone,
    ///    the old tasks' exited containers included.
    /// 2. `swab rollback web` puts the previous spec back, and the next run does not bring
    ///    the digest straight back.
    /// 3. An image whose tasks exit at once, with `failure_action: rollback`: Swarm rolls it
    ///    back, swab reports `rolled_back`, exits 1 and records the attempt.
    #[test]
    fn swarm_services_update_through_swarm_and_their_tasks_are_left_alone() {
        let test_id = unique("swarm");
        let story = Story {
            swarm: PrivateDaemon::start(),
            repo: format!("{}/swab/{test_id}", env().registry),
            test_id,
            state: tempfile::tempdir().unwrap(),
        };
        let listen = format!("127.0.0.1:{}", free_port());
        story.swarm.cli(&[
            "swarm",
            "init",
            "--advertise-addr",
            "127.0.0.1",
            "--listen-addr",
            &listen,
        ]);
        let web_v1 = story.publish("web", V1);
        let agent_v1 = story.publish("agent", V1);
        for (name, mode) in [("web", "replicated"), ("agent", "global")] {
            let image = format!("{}:{name}", story.repo);
            let mut args = vec!["service", "create", "--detach=false", "--name", name];
            args.extend(["--mode", mode, "--update-monitor", "1s"]);
            args.extend(["--rollback-monitor", "1s", "--restart-delay", "1s"]);
            if mode == "replicated" {
                args.extend(["--replicas", "2"]);
            }
            args.extend([image.as_str(), "sleep", "600"]);
            story.swarm.cli(&args);
        }
        let web_before = story.service("web");
        let agent_before = story.service("agent");
        assert!(
            web_before["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
                .as_str()
                .unwrap()
                .ends_with(&web_v1),
            "Swarm pins the digest: {web_before}"
        );
        assert_eq!(story.task_images("web").len(), 2);

        // 1. New digests upstream; one run updates both services.
        let web_v2 = story.publish("web", V2);
        let agent_v2 = story.publish("agent", V2);
        let rules = "version: 1\nrules:\n  - name: services\n    action: update\n    services: all\n  - name: gone\n    action: prune-containers\n  - name: bounce\n    action: restart\n    match:\n      names: [\"web*\", \"agent*\"]\n";
        let out = story.run(rules);
        out.code(0);
        let report = out.json();
        let updated = actions(&report, "update_service");
        assert_eq!(updated.len(), 2, "{report}");
        for a in &updated {
            assert_eq!(a["status"], "done", "{report}");
        }
        assert!(
            updated[1]["reason"]
                .as_str()
                .unwrap()
                .contains("2 of 2 tasks"),
            "{report}"
        );
        assert!(actions(&report, "remove_container").is_empty(), "{report}");
        assert!(actions(&report, "restart_container").is_empty(), "{report}");
        let task_kept = report["kept"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["reason"].as_str().unwrap().starts_with("a Swarm task"))
            .count();
        // The 3 running tasks, for the restart rule (the snapshot was taken before the update).
        assert_eq!(task_kept, 3, "{report}");
        for (name, before, new) in [
            ("web", &web_before, &web_v2),
            ("agent", &agent_before, &agent_v2),
        ] {
            let after = story.service(name);
            let image = format!("{}:{name}@{new}", story.repo);
            assert_eq!(
                after["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"],
                image.as_str()
            );
            assert_eq!(
                without_image(&after["Spec"]),
                without_image(&before["Spec"]),
                "only the image changed"
            );
            for task in story.task_images(name) {
                assert_eq!(task, image, "every task runs the new digest");
            }
        }
        let exited = story.swarm.cli(&[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}}",
        ]);
        assert_eq!(
            exited.lines().count(),
            3,
            "the old tasks' containers: {exited}"
        );
        // The old tasks' exited containers are Swarm's task history: a prune leaves them.
        let out = story.run("version: 1\nrules:\n  - name: gone\n    action: prune-containers\n");
        out.code(0);
        let report = out.json();
        assert!(actions(&report, "remove_container").is_empty(), "{report}");
        assert_eq!(report["kept"].as_array().unwrap().len(), 3, "{report}");
        let still = story.swarm.cli(&[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}}",
        ]);
        assert_eq!(still, exited);

        // 2. By hand, back to the previous spec; the next run keeps it there.
        let out = swab()
            .args([
                "-H",
                &story.swarm.host,
                "rollback",
                "web",
                "--format",
                "json",
            ])
            .args([
                "--state",
                story.state.path().join("state.json").to_str().unwrap(),
            ])
            .run();
        out.code(0);
        assert_eq!(out.json()["actions"][0]["status"], "done", "{}", out.stdout);
        let back = story.service("web");
        assert_eq!(
            back["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"],
            web_before["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        );
        assert_eq!(
            story.state()["rolled_back"][format!("{}:web", story.repo)]["digest"],
            web_v2.as_str()
        );
        let out = story.run("version: 1\nrules:\n  - name: services\n    action: update\n    services:\n      names: [web]\n");
        out.code(0);
        let report = out.json();
        assert!(actions(&report, "update_service").is_empty(), "{report}");
        assert!(
            report["kept"].to_string().contains("rolled back by hand"),
            "{report}"
        );

        // 3. A broken image: Swarm rolls it back by itself.
        let broken = story.publish("agent", BROKEN);
        let rules = "version: 1\nrules:\n  - name: services\n    action: update\n    services:\n      names: [agent]\n      failure_action: rollback\n      monitor: 3s\n      timeout: 2m\n";
        let out = story.run(rules);
        out.code(1);
        let report = out.json();
        let updated = actions(&report, "update_service");
        assert_eq!(updated.len(), 1, "{report}");
        assert_eq!(updated[0]["status"], "rolled_back", "{report}");
        let after = story.service("agent");
        assert_eq!(
            after["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"],
            format!("{}:agent@{agent_v2}", story.repo).as_str(),
            "Swarm went back to the spec before"
        );
        let record = &story.state()["rolled_back"][format!("{}:agent", story.repo)];
        assert_eq!(record["digest"], broken.as_str(), "the attempt is recorded");
        assert_eq!(record["attempts"], 1);
        drop(agent_v1);

        // 4. swab itself as a global service, from examples/swarm-stack.yaml: one task on
        //    this one node, which answers `swab doctor` from inside.
        deploy_the_example_stack(&story);
    }

    /// An image of the swab binary under test: the binary (stripped of debug info when
    /// `strip` is there) and the shared libraries `ldd` names, nothing else.
    fn swab_image(story: &Story) -> String {
        let binary = env!("CARGO_BIN_EXE_swab");
        let root = tempfile::tempdir().unwrap();
        let put = |from: &str, to: &str| {
            let target = root.path().join(to.trim_start_matches('/'));
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(from, &target).unwrap_or_else(|e| panic!("{from}: {e}"));
        };
        put(binary, "/usr/local/bin/swab");
        let _ = std::process::Command::new("strip")
            .args(["--strip-debug"])
            .arg(root.path().join("usr/local/bin/swab"))
            .status();
        let ldd = std::process::Command::new("ldd")
            .arg(binary)
            .output()
            .unwrap();
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or `/lib64/ld-linux... (0x...)`
            let path = line
                .split("=>")
                .last()
                .and_then(|p| p.split_whitespace().next())
                .filter(|p| p.starts_with('/'));
            if let Some(path) = path {
                put(path, path);
            }
        }
        let tar = root.path().join("image.tar");
        let status = std::process::Command::new("tar")
            .arg("-C")
            .arg(root.path())
            .args(["-cf"])
            .arg(&tar)
            .args(
                ["usr", "lib", "lib64"]
                    .iter()
                    .filter(|d| root.path().join(d).exists()),
            )
            .status()
            .unwrap();
        assert!(status.success());
        let reference = format!("{}:swab", story.repo);
        env().cli(&[
            "import",
            "-c",
            r#"ENTRYPOINT ["/usr/local/bin/swab"]"#,
            &tar.display().to_string(),
            &reference,
        ]);
        env().cli(&["push", &reference]);
        env().cli(&["rmi", &reference]);
        reference
    }

    fn deploy_the_example_stack(story: &Story) {
        let image = swab_image(story);
        let socket = story.swarm.host.trim_start_matches("unix://");
        let stack = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/swarm-stack.yaml"
        );
        // Do not wait for convergence (the loop below does, with a deadline); older CLIs
        // (20.10) never wait and have no `--detach`.
        let help = story.swarm.try_cli(&["stack", "deploy", "--help"]);
        let detach: &[&str] = if help.stdout.contains("--detach") {
            &["--detach=true"]
        } else {
            &[]
        };
        let deployed = std::process::Command::new(&env().docker_cli)
            .args(["-H", &story.swarm.host, "stack", "deploy"])
            .args(detach)
            .args(["-c", stack, "swab"])
            .env("SWAB_IMAGE", &image)
            .env("DOCKER_SOCKET", socket)
            .output()
            .unwrap();
        assert!(
            deployed.status.success(),
            "stack deploy: {}",
            String::from_utf8_lossy(&deployed.stderr)
        );
        let filter = "label=com.docker.swarm.service.name=swab_swab";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let task = loop {
            let ids = story.swarm.cli(&["ps", "-q", "--filter", filter]);
            if let Some(id) = ids.lines().next() {
                break id.to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no swab task runs: {}",
                story
                    .swarm
                    .cli(&["service", "ps", "--no-trunc", "swab_swab"])
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        };
        std::thread::sleep(std::time::Duration::from_secs(2));
        let running = story.swarm.cli(&["ps", "-q", "--filter", filter]);
        if running.lines().count() != 1 {
            let logs = story.swarm.try_cli(&["logs", &task]);
            panic!(
                "the swab task did not stay up: {}\n--- its logs\n{}\n{}",
                story
                    .swarm
                    .cli(&["service", "ps", "--no-trunc", "swab_swab"]),
                logs.stdout,
                logs.stderr
            );
        }
        let doctor = story.swarm.try_cli(&["exec", &task, "swab", "doctor"]);
        assert!(
            doctor.success,
            "swab doctor in the task:\n{}\n{}",
            doctor.stdout, doctor.stderr
        );
        let mode = story.service("swab_swab")["Spec"]["Mode"].clone();
        assert!(mode.get("Global").is_some(), "{mode}");
        // Its daemon started, with the rules from the Swarm config.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let logs = story.swarm.try_cli(&["logs", &task]);
            let text = format!("{}\n{}", logs.stdout, logs.stderr);
            if text.contains("swab daemon started") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{text}");
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}
