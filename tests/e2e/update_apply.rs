//! Acceptance tests of `update` rules applied: `swab run` pulls a newer image for a running
//! container's reference and recreates the container on it (keeping a rollback tag), `swab
//! plan` only says so, a new version that does not stay up is rolled back and not retried,
//! and `swab rollback` goes back to the previous image. All against the private daemon and
//! registries of `scripts/test-env.sh`.
//!
//! Every test publishes its own repository, so upstream can move a tag without touching
//! another test, and gives swab a state file of its own (`--state`) for all its runs.

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, MutexGuard, PoisonError};
    use std::time::Duration;

    use serde_json::Value;
    use swab_testkit::inspect::{differences, replacement_differences};
    use swab_testkit::{env, unique};

    use crate::compose::with_daemon::compose;
    use crate::harness::{Outcome, swab};

    /// These tests take turns: each compares the daemon's volume list before and after, which
    /// another test making anonymous volumes meanwhile would disturb, and each waits out a
    /// health timeout, which is steadier without the others competing for the CPUs.
    static SERIAL: Mutex<()> = Mutex::new(());

    /// Image versions upstream publishes under one tag. Each also gets the test's
    /// `swab-test` label (in [`import`]), so every test has image IDs of its own.
    const V1: &[&str] = &[
        "ENV A=1",
        "ENV B=2",
        r#"CMD ["sleep","300"]"#,
        "LABEL from=image",
        "LABEL version=1",
    ];
    const V2: &[&str] = &[
        "ENV A=10",
        "ENV B=20",
        r#"CMD ["sleep","301"]"#,
        "LABEL from=image-v2",
        "LABEL version=2",
    ];
    const V3: &[&str] = &[
        "ENV A=100",
        r#"CMD ["sleep","302"]"#,
        "LABEL from=image-v3",
        "LABEL version=3",
    ];
    /// A version whose container exits at once: it never stays up for the health timeout.
    const V3_BROKEN: &[&str] = &[
        r#"CMD ["sh","-c","exit 3"]"#,
        "LABEL from=image-v3-broken",
        "LABEL version=3",
    ];

    /// Removes what a test made, also when an assertion fails half-way: every container
    /// carrying one of `labels` (swab's `-swab-old-` and replacement containers included) or
    /// named in `containers`, their volumes, the networks, and the images.
    struct Cleanup {
        labels: Vec<String>,
        containers: Vec<String>,
        volumes: Vec<String>,
        networks: Vec<String>,
        images: Vec<String>,
        repo: String,
    }

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let mut containers = self.containers.clone();
            for label in &self.labels {
                let listed = env().try_cli(&[
                    "ps",
                    "-aq",
                    "--no-trunc",
                    "--filter",
                    &format!("label={label}"),
                ]);
                containers.extend(listed.stdout.lines().map(str::to_owned));
            }
            let mut volumes = self.volumes.clone();
            for c in &containers {
                let mounts = env().try_cli(&[
                    "container",
                    "inspect",
                    "-f",
                    r#"{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}"#,
                    c,
                ]);
                if mounts.success {
                    volumes.extend(mounts.stdout.split_whitespace().map(str::to_owned));
                }
            }
            // Without `-v`: the volumes go below, by name. Twice, in case a container that
            // shares another's network namespace held the first attempt up.
            for _ in 0..2 {
                for c in containers.iter().rev() {
                    env().try_cli(&["rm", "-f", c]);
                }
            }
            for v in &volumes {
                env().try_cli(&["volume", "rm", "-f", v]);
            }
            for n in &self.networks {
                env().try_cli(&["network", "rm", n]);
            }
            let mut images = self.images.clone();
            if !self.repo.is_empty() {
                let listed = env().try_cli(&["images", "-q", "--no-trunc", &self.repo]);
                images.extend(listed.stdout.lines().map(str::to_owned));
            }
            for i in &images {
                env().try_cli(&["rmi", "-f", i]);
            }
        }
    }

    /// One test's repository, rule file, state file and leftovers.
    struct Update {
        test_id: String,
        /// `127.0.0.1:PORT/swab/NAME`.
        repo: String,
        /// `swab/NAME`, as the registry's access log spells it.
        repo_path: String,
        /// `{repo}:live`: the reference the containers run, and upstream moves.
        reference: String,
        /// The access log of the registry the repository lives in.
        registry_log: PathBuf,
        rules: String,
        state: tempfile::TempDir,
        cleanup: Cleanup,
        // Last: released after the cleanup above ran.
        _serial: MutexGuard<'static, ()>,
    }

    impl Update {
        /// A repository on `registry` and the rule `u` updating containers labelled
        /// `swab-test=<test id>`, with `extra` rule lines (indented by 4).
        fn new(prefix: &str, registry: &str, extra: &str) -> Update {
            let serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
            let test_id = unique(prefix);
            let repo_path = format!("swab/{test_id}");
            let repo = format!("{registry}/{repo_path}");
            let log = if registry == env().auth_registry {
                "registry-auth.log"
            } else {
                "registry.log"
            };
            let rules = format!(
                "version: 1\nrules:\n  - name: u\n    action: update\n    match:\n      labels: [\"swab-test={test_id}\"]\n    health_timeout: 2s\n    stop_timeout: 1s\n{extra}"
            );
            Update {
                cleanup: Cleanup {
                    labels: vec![format!("swab-test={test_id}")],
                    containers: Vec::new(),
                    volumes: Vec::new(),
                    networks: Vec::new(),
                    images: Vec::new(),
                    repo: repo.clone(),
                },
                reference: format!("{repo}:live"),
                registry_log: env().dir.join(log),
                rules,
                state: tempfile::tempdir().unwrap(),
                test_id,
                repo,
                repo_path,
                _serial: serial,
            }
        }

        fn label(&self) -> String {
            format!("swab-test={}", self.test_id)
        }

        /// A Compose project named after the test, in its own directory with `compose.yaml`
        /// and `files`; its volumes are cleaned up with the test. `None` (the test is
        /// skipped) on an engine without Compose.
        fn compose_project(
            &mut self,
            test: &str,
            yaml: &str,
            files: &[(&str, &str)],
            volumes: &[&str],
        ) -> Option<(PathBuf, PathBuf)> {
            let Some(binary) = env().compose.clone() else {
                swab_testkit::skip(test, "this engine's packages have no Compose v2");
                return None;
            };
            let dir = env().dir.join(&self.test_id);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("compose.yaml"), yaml).unwrap();
            for (name, text) in files {
                std::fs::write(dir.join(name), text).unwrap();
            }
            for volume in volumes {
                self.cleanup
                    .volumes
                    .push(format!("{}_{volume}", self.test_id));
            }
            Some((binary, dir))
        }

        /// Where the default rollback tag puts the previous image.
        fn previous_tag(&self) -> String {
            format!("{}-swab-previous", self.reference)
        }

        /// Imports a new version under the reference and pushes it; returns its image ID.
        fn publish(&mut self, changes: &[&str]) -> String {
            let id = import(&self.reference, &self.test_id, changes);
            self.cleanup.images.push(id.clone());
            env().cli(&["push", &self.reference]);
            id
        }

        /// Upstream publishes a new version under the same tag that this host has not
        /// pulled: the local tag names `local` again and the new image is not here (so
        /// swab's pull is a real one). Returns the new version's image ID, which is also
        /// the ID it has once pulled.
        fn publish_upstream(&mut self, changes: &[&str], local: &str) -> String {
            let id = self.publish(changes);
            env().cli(&["tag", local, &self.reference]);
            env().cli(&["rmi", &id]);
            assert!(
                !env().try_cli(&["image", "inspect", &id]).success,
                "setup: the new version is still here"
            );
            id
        }

        /// `docker run -d` of the reference, labelled for the rule, on network `none`
        /// (`--bridge none` leaves the default network without a sandbox), plus `extra`
        /// flags. Returns the name.
        fn run_container(&mut self, prefix: &str, extra: &[&str]) -> String {
            let name = unique(prefix);
            self.cleanup.containers.push(name.clone());
            let label = self.label();
            let mut args = vec!["run", "-d", "--name", &name, "--label", &label];
            if !extra.iter().any(|a| a.starts_with("--network")) {
                args.extend(["--network", "none"]);
            }
            args.extend_from_slice(extra);
            args.push(&self.reference);
            env().cli(&args);
            name
        }

        /// `swab -H <daemon> ARGS --state <this test's state file>`, with `r.yaml` (the
        /// rules) in the working directory and `envs` set.
        fn swab_with(&self, args: &[&str], envs: &[(&str, &Path)]) -> Outcome {
            let state = self.state.path().join("state.json");
            let mut cmd = swab().home_file("r.yaml", &self.rules).in_home();
            for (key, value) in envs {
                cmd = cmd.env(key, value.to_str().unwrap());
            }
            cmd.args(["-H", &env().docker_host])
                .args(args)
                .args(["--state", state.to_str().unwrap()])
                .run()
        }

        fn swab(&self, args: &[&str]) -> Outcome {
            self.swab_with(args, &[])
        }

        /// A fault proxy in front of the private daemon, for this test, holding every call
        /// for `each` and applying `faults`.
        fn fault_proxy(
            &self,
            faults: Vec<swab_testkit::fault_proxy::Fault>,
            each: Duration,
        ) -> swab_testkit::fault_proxy::FaultProxy {
            let upstream = env().docker_host.trim_start_matches("unix://").to_owned();
            swab_testkit::fault_proxy::FaultProxy::start_slow(
                &env().dir.join(format!("{}.sock", self.test_id)),
                Path::new(&upstream),
                faults,
                each,
            )
        }

        /// [`Update::run`] against `host` (a fault proxy) instead of the daemon, with
        /// `global` flags (e.g. `--timeout`).
        fn run_via(&self, host: &str, global: &[&str]) -> Outcome {
            let state = self.state.path().join("state.json");
            swab()
                .home_file("r.yaml", &self.rules)
                .in_home()
                .args(["-H", host])
                .args(global)
                .args(["run", "--rules", "r.yaml", "--format", "json"])
                .args(["--state", state.to_str().unwrap()])
                .run()
        }

        /// `swab run --rules r.yaml --format json`.
        fn run(&self) -> Outcome {
            self.swab(&["run", "--rules", "r.yaml", "--format", "json"])
        }

        /// The images of the repository (tags and digests) and the test's containers.
        fn daemon_state(&self) -> String {
            let images = env().cli(&[
                "images",
                "--no-trunc",
                "--digests",
                "--format",
                "{{.ID}} {{.Repository}}:{{.Tag}} {{.Digest}}",
                &self.repo,
            ]);
            let containers = env().cli(&[
                "ps",
                "-a",
                "--no-trunc",
                "--filter",
                &format!("label={}", self.label()),
                "--format",
                "{{.ID}} {{.Image}} {{.State}} {{.Names}}",
            ]);
            let mut lines: Vec<&str> = images.lines().chain(containers.lines()).collect();
            lines.sort_unstable();
            lines.join("\n")
        }

        /// Names of the containers labelled for this test.
        fn labelled_containers(&self) -> BTreeSet<String> {
            env()
                .cli(&[
                    "ps",
                    "-a",
                    "--filter",
                    &format!("label={}", self.label()),
                    "--format",
                    "{{.Names}}",
                ])
                .lines()
                .map(str::to_owned)
                .collect()
        }

        /// Asserts that the test's containers are exactly `names` and that no container
        /// named `*-swab-old-*` is left on the daemon.
        #[track_caller]
        fn assert_only_containers(&self, names: &[&str]) {
            let want: BTreeSet<String> = names.iter().map(|n| (*n).to_owned()).collect();
            assert_eq!(self.labelled_containers(), want, "containers left over");
            let all = env().cli(&["ps", "-a", "--format", "{{.Names}}"]);
            let old: Vec<&str> = all.lines().filter(|n| n.contains("-swab-old-")).collect();
            assert!(old.is_empty(), "old containers left: {old:?}");
        }

        /// A mark in the registry's access log, to look at the requests made after it.
        fn log_mark(&self) -> LogMark {
            LogMark {
                path: self.registry_log.clone(),
                offset: std::fs::read(&self.registry_log).unwrap().len(),
            }
        }
    }

    /// `docker import` of the busybox rootfs with `changes` and the test's label; returns
    /// the image ID.
    fn import(reference: &str, test_id: &str, changes: &[&str]) -> String {
        let label = format!("LABEL swab-test={test_id}");
        let rootfs = env().rootfs.display().to_string();
        let mut args = vec!["import"];
        for change in changes.iter().chain([&label.as_str()]) {
            args.extend(["-c", change]);
        }
        args.extend([rootfs.as_str(), reference]);
        env().cli(&args)
    }

    fn inspect(container: &str) -> Value {
        let text = env().cli(&["container", "inspect", container]);
        serde_json::from_str::<Value>(&text).unwrap()[0].clone()
    }

    fn image_id(reference: &str) -> String {
        env().cli(&["image", "inspect", "-f", "{{.Id}}", reference])
    }

    /// The registry digest (`sha256:...`) the image `id` was pulled at.
    fn image_digest(id: &str) -> String {
        let digests = env().cli(&["image", "inspect", "-f", "{{json .RepoDigests}}", id]);
        let digests: Vec<String> = serde_json::from_str(&digests).unwrap();
        let first = digests
            .first()
            .unwrap_or_else(|| panic!("{id} has no digest"));
        first.rsplit_once('@').unwrap().1.to_owned()
    }

    fn image_exists(reference: &str) -> bool {
        env().try_cli(&["image", "inspect", reference]).success
    }

    fn volumes() -> BTreeSet<String> {
        env()
            .cli(&["volume", "ls", "-q"])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The name of the volume mounted at `/data`.
    fn data_volume(inspect: &Value) -> String {
        inspect["Mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Destination"] == "/data")
            .unwrap_or_else(|| panic!("no /data mount: {}", inspect["Mounts"]))["Name"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn actions(report: &Value) -> &[Value] {
        report["actions"]
            .as_array()
            .unwrap_or_else(|| panic!("no actions: {report}"))
    }

    fn kinds(report: &Value) -> Vec<&str> {
        actions(report)
            .iter()
            .map(|a| a["action"].as_str().unwrap())
            .collect()
    }

    /// The only action of `kind` in the report.
    #[track_caller]
    fn single<'a>(report: &'a Value, kind: &str) -> &'a Value {
        let found: Vec<&Value> = actions(report)
            .iter()
            .filter(|a| a["action"] == kind)
            .collect();
        assert_eq!(found.len(), 1, "one {kind} in {report}");
        found[0]
    }

    /// Asserts that the report pulls and recreates nothing.
    #[track_caller]
    fn assert_no_update(report: &Value) {
        for kind in kinds(report) {
            assert!(
                !["tag_image", "pull_image", "recreate_container"].contains(&kind),
                "{kind} in a run that should change nothing: {report}"
            );
        }
    }

    /// One line of the registry's access log (combined log format), e.g.
    /// `127.0.0.1 - - [22/Nov/2026:13:19:02 +0000] "HEAD /v2/swab/x/manifests/live HTTP/1.1" 200 527 "" "swab/0.1.0"`.
    #[derive(Debug)]
    #[allow(dead_code)] // read through Debug in assertion messages
    struct Request {
        method: String,
        path: String,
        status: String,
        agent: String,
    }

    impl Request {
        fn parse(line: &str) -> Option<Request> {
            // Other lines are the registry's own log (`time="..." level=...`).
            let parts: Vec<&str> = line.split('"').collect();
            if parts.len() < 6 || !parts[0].ends_with("] ") {
                return None;
            }
            let mut request = parts[1].split(' ');
            Some(Request {
                method: request.next()?.to_owned(),
                path: request.next()?.to_owned(),
                status: parts[2].split_whitespace().next()?.to_owned(),
                agent: parts[5].to_owned(),
            })
        }
    }

    struct LogMark {
        path: PathBuf,
        offset: usize,
    }

    impl LogMark {
        /// Requests for manifests of `repo_path` since the mark: those of swab (User-Agent
        /// `swab/...`) and those of the daemon (`docker/...`).
        fn manifest_requests(&self, repo_path: &str) -> (Vec<Request>, Vec<Request>) {
            // The registry writes the line once it has answered; let it catch up.
            std::thread::sleep(Duration::from_millis(500));
            let text = std::fs::read(&self.path).unwrap();
            let prefix = format!("/v2/{repo_path}/manifests/");
            let (mut by_swab, mut by_daemon) = (Vec::new(), Vec::new());
            for request in String::from_utf8_lossy(&text[self.offset..])
                .lines()
                .filter_map(Request::parse)
                .filter(|r| r.path.starts_with(&prefix))
            {
                if request.agent.starts_with("swab/") {
                    by_swab.push(request);
                } else if request.agent.starts_with("docker/") {
                    by_daemon.push(request);
                } else {
                    panic!("a request from neither swab nor the daemon: {request:?}");
                }
            }
            (by_swab, by_daemon)
        }
    }

    /// Standard base64, as in the docker CLI's `config.json`.
    fn base64(input: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in input.chunks(3) {
            let byte = |i: usize| usize::from(chunk.get(i).copied().unwrap_or(0));
            let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) & 63]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// A `DOCKER_CONFIG` directory whose `config.json` holds `user:password` for `registry`.
    fn docker_config(registry: &str, user: &str, password: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let config = serde_json::json!({
            "auths": {registry: {"auth": base64(format!("{user}:{password}").as_bytes())}}
        });
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        dir
    }

    #[test]
    fn run_updates_a_container_keeping_its_settings_data_and_network_identity() {
        let mut t = Update::new("upd-apply", &env().registry, "");
        let v1 = t.publish(V1);
        let network = unique("swab-upd-net");
        env().cli(&["network", "create", "--label", &t.label(), &network]);
        t.cleanup.networks.push(network.clone());
        let net_flag = format!("--network={network}");
        let name = t.run_container(
            "swab-upd-web",
            &[
                "--label",
                "owner=me",
                "--label",
                "version=pinned",
                "-e",
                "B=user",
                "-e",
                "C=3",
                "--restart",
                "unless-stopped",
                &net_flag,
                "--network-alias",
                "web-alias",
                "-p",
                "127.0.0.1::80",
                "-v",
                "/data",
            ],
        );
        env().cli(&["exec", &name, "sh", "-c", "echo hi > /data/f"]);
        let v2 = t.publish_upstream(V2, &v1);
        let old = inspect(&name);
        let old_id = old["Id"].as_str().unwrap().to_owned();
        assert_eq!(old["Image"], v1.as_str(), "setup: the container runs v1");
        assert_eq!(old["State"]["Running"], true);
        let volume = data_volume(&old);
        t.cleanup.volumes.push(volume.clone());
        assert_eq!(volume.len(), 64, "setup: an anonymous volume: {volume}");
        let volumes_before = volumes();

        let log = t.log_mark();
        let out = t.run();
        out.code(0);
        let report = out.json();
        assert_eq!(report["dry_run"], false);
        assert_eq!(
            kinds(&report),
            ["tag_image", "pull_image", "recreate_container"],
            "{report}"
        );
        let actions = actions(&report);
        for a in actions {
            assert_eq!(a["rule"], "u", "{a}");
            assert_eq!(a["status"], "done", "{a}");
            assert_eq!(a["error"], Value::Null, "{a}");
        }
        assert_eq!(actions[0]["name"], t.previous_tag().as_str(), "{report}");
        assert_eq!(actions[0]["id"], v1.as_str(), "{report}");
        assert_eq!(actions[1]["name"], t.reference.as_str(), "{report}");
        assert_eq!(actions[2]["name"], name.as_str(), "{report}");
        assert_eq!(actions[2]["id"], old_id.as_str(), "the old container's ID");
        let summary = &report["summary"];
        assert_eq!(summary["containers_recreated"], 1, "{report}");
        assert_eq!(summary["images_pulled"], 1, "{report}");
        assert_eq!(summary["images_tagged"], 1, "{report}");
        assert_eq!(summary["failed"], 0, "{report}");
        // The daemon asked for the digest swab checked, never the tag (which could have
        // moved in between). Check plus pull on the classic store: one HEAD by swab, one
        // GET by the daemon. The containerd store adds one HEAD on each side: swab's check
        // that the local image came from the registry (not a local build), and containerd's
        // resolver, which HEADs a manifest before it GETs it even by digest.
        let (by_swab, by_daemon) = log.manifest_requests(&t.repo_path);
        let (swab_max, daemon_max) = if env().engine.containerd_store() {
            (2, 2)
        } else {
            (1, 1)
        };
        assert!(
            !by_swab.is_empty() && by_swab.len() <= swab_max,
            "swab's manifest requests: {by_swab:?}"
        );
        assert!(
            !by_daemon.is_empty() && by_daemon.len() <= daemon_max,
            "the daemon's manifest requests: {by_daemon:?}"
        );
        let checked = image_digest(&v2);
        for request in &by_daemon {
            assert!(
                request.path.ends_with(&format!("/manifests/{checked}")),
                "the daemon pulled by the checked digest {checked}: {by_daemon:?}"
            );
        }

        // Same name, the new image, running; the old container and nothing else is gone.
        let new = inspect(&name);
        assert_ne!(new["Id"], old_id.as_str());
        assert_eq!(new["Image"], v2.as_str(), "runs v2");
        assert_eq!(new["Config"]["Image"], t.reference.as_str());
        assert_eq!(new["State"]["Running"], true);
        assert!(
            !env().try_cli(&["container", "inspect", &old_id]).success,
            "the old container is gone"
        );
        t.assert_only_containers(&[&name]);
        assert_eq!(image_id(&t.previous_tag()), v1, "rollback tag on v1");
        assert_eq!(image_id(&t.reference), v2);

        // The user's settings over v2's defaults.
        let env_of = |inspect: &Value| -> BTreeSet<String> {
            inspect["Config"]["Env"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_owned())
                .collect()
        };
        let new_env = env_of(&new);
        for want in ["A=10", "B=user", "C=3"] {
            assert!(new_env.contains(want), "{want} in {new_env:?}");
        }
        assert!(!new_env.contains("A=1"), "v1's A was frozen: {new_env:?}");
        assert_eq!(new["Config"]["Cmd"], serde_json::json!(["sleep", "301"]));
        let labels = &new["Config"]["Labels"];
        assert_eq!(labels["owner"], "me");
        assert_eq!(
            labels["version"], "pinned",
            "a user override of an image label"
        );
        assert_eq!(labels["from"], "image-v2");
        assert_eq!(labels["swab-test"], t.test_id.as_str());
        for field in ["RestartPolicy", "PortBindings", "NetworkMode"] {
            assert_eq!(
                new["HostConfig"][field], old["HostConfig"][field],
                "{field}"
            );
        }
        assert_eq!(new["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
        assert_eq!(
            new["HostConfig"]["PortBindings"]["80/tcp"][0]["HostIp"],
            "127.0.0.1"
        );
        let aliases = &new["NetworkSettings"]["Networks"][&network]["Aliases"];
        assert!(
            aliases
                .as_array()
                .is_some_and(|a| a.contains(&Value::from("web-alias"))),
            "{aliases}"
        );

        // Same volume, same data, and no volume came or went.
        assert_eq!(data_volume(&new), volume);
        assert_eq!(env().cli(&["exec", &name, "cat", "/data/f"]), "hi");
        assert_eq!(volumes(), volumes_before, "volumes came or went");

        // Everything else equal, field by field; `Config.Image`, the reference, stays.
        let allowed = replacement_differences(&network);
        let (unexpected, differing) = differences(&old, &new, &allowed);
        assert!(
            unexpected.is_empty(),
            "unexpected differences:\n{}",
            unexpected.join("\n")
        );
        // The list is not a blanket: the things that must change did.
        for must in [
            "/Id",
            "/Image",
            "/Config/Env",
            "/Config/Cmd",
            "/Config/Labels/from",
        ] {
            assert!(differing.contains(must), "{must} did not change");
        }

        // Right after, nothing to do: one look at the registry, no pull.
        let log = t.log_mark();
        let again = t.run();
        again.code(0);
        let report = again.json();
        assert_no_update(&report);
        assert_eq!(inspect(&name)["Id"], new["Id"]);
        let (by_swab, by_daemon) = log.manifest_requests(&t.repo_path);
        assert_eq!(
            by_swab.len(),
            1,
            "one manifest request by swab: {by_swab:?}"
        );
        assert!(by_daemon.is_empty(), "the daemon pulled: {by_daemon:?}");
    }

    #[test]
    fn plan_and_updates_report_the_update_and_change_nothing() {
        let mut t = Update::new("upd-plan", &env().registry, "");
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-plan", &["-v", "/data"]);
        let old_id = inspect(&name)["Id"].as_str().unwrap().to_owned();
        t.publish_upstream(V2, &v1);
        let before = t.daemon_state();
        let volumes_before = volumes();

        let log = t.log_mark();
        let out = t.swab(&["plan", "--rules", "r.yaml", "--format", "json"]);
        out.code(0);
        let report = out.json();
        assert_eq!(report["dry_run"], true);
        assert_eq!(
            kinds(&report),
            ["tag_image", "pull_image", "recreate_container"],
            "{report}"
        );
        let actions = actions(&report);
        for a in actions {
            assert_eq!(a["status"], "planned", "{a}");
        }
        assert_eq!(actions[0]["name"], t.previous_tag().as_str(), "{report}");
        assert_eq!(actions[0]["id"], v1.as_str(), "{report}");
        assert_eq!(actions[1]["name"], t.reference.as_str(), "{report}");
        assert_eq!(actions[2]["name"], name.as_str(), "{report}");
        assert_eq!(actions[2]["id"], old_id.as_str(), "{report}");
        assert_eq!(report["summary"]["containers_recreated"], 1, "{report}");
        assert_eq!(report["summary"]["images_pulled"], 1, "{report}");

        assert_eq!(
            t.daemon_state(),
            before,
            "swab plan must not change anything"
        );
        assert_eq!(volumes(), volumes_before);
        assert!(!image_exists(&t.previous_tag()));
        let (_, by_daemon) = log.manifest_requests(&t.repo_path);
        assert!(by_daemon.is_empty(), "the daemon pulled: {by_daemon:?}");

        // The monitor agrees, and changes nothing either.
        let log = t.log_mark();
        let out = swab()
            .home_file("r.yaml", &t.rules)
            .in_home()
            .args([
                "-H",
                &env().docker_host,
                "updates",
                "--rules",
                "r.yaml",
                "--format",
                "json",
            ])
            .run();
        out.code(0);
        let report = out.json();
        assert_eq!(report["references"][0]["reference"], t.reference.as_str());
        assert_eq!(report["references"][0]["status"], "outdated", "{report}");
        assert_eq!(
            t.daemon_state(),
            before,
            "swab updates must not change anything"
        );
        let (_, by_daemon) = log.manifest_requests(&t.repo_path);
        assert!(by_daemon.is_empty(), "the daemon pulled: {by_daemon:?}");
    }

    #[test]
    fn a_new_version_that_does_not_stay_up_is_rolled_back_and_held_back() {
        let mut t = Update::new("upd-rollback", &env().registry, "");
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-rb", &["-v", "/data"]);
        env().cli(&["exec", &name, "sh", "-c", "echo hi > /data/f"]);
        let old = inspect(&name);
        let old_id = old["Id"].as_str().unwrap().to_owned();
        t.cleanup.volumes.push(data_volume(&old));
        t.publish_upstream(V3_BROKEN, &v1);

        let out = t.run();
        out.code(1);
        let report = out.json();
        let recreate = single(&report, "recreate_container");
        assert_eq!(recreate["name"], name.as_str(), "{report}");
        assert_eq!(recreate["status"], "rolled_back", "{report}");
        assert!(
            recreate["error"].as_str().is_some_and(|e| !e.is_empty()),
            "a rollback says why: {report}"
        );
        assert_eq!(report["summary"]["failed"], 1, "{report}");

        // The original container is back, with its data; the tag names v1 again.
        let now = inspect(&name);
        assert_eq!(now["Id"], old_id.as_str(), "the original container");
        assert_eq!(now["State"]["Running"], true, "{}", now["State"]);
        assert_eq!(now["Image"], v1.as_str());
        assert_eq!(env().cli(&["exec", &name, "cat", "/data/f"]), "hi");
        assert_eq!(image_id(&t.reference), v1, "the tag names v1 again");
        t.assert_only_containers(&[&name]);

        // While the registry still has the broken version, swab leaves it alone.
        let log = t.log_mark();
        let again = t.run();
        again.code(0);
        let report = again.json();
        assert_no_update(&report);
        let kept = report["kept"].as_array().unwrap();
        assert!(
            kept.iter().any(|k| k["reason"]
                .as_str()
                .is_some_and(|r| r.to_lowercase().contains("rolled back"))),
            "a kept entry says the reference was rolled back: {report}"
        );
        assert_eq!(inspect(&name)["Id"], old_id.as_str());
        let (_, by_daemon) = log.manifest_requests(&t.repo_path);
        assert!(by_daemon.is_empty(), "the daemon pulled: {by_daemon:?}");
    }

    #[test]
    fn registry_credentials_come_from_docker_config() {
        env().login_auth_registry();
        let registry = env().auth_registry.clone();
        let mut t = Update::new("upd-auth", &registry, "");
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-auth", &[]);
        let old_id = inspect(&name)["Id"].as_str().unwrap().to_owned();
        let v2 = t.publish_upstream(V2, &v1);

        let right = docker_config(&registry, &env().registry_user, &env().registry_password);
        // Setup check: the file says what `docker login` says.
        let cli_config: Value = serde_json::from_str(
            &std::fs::read_to_string(env().dir.join("docker-cli-config/config.json")).unwrap(),
        )
        .unwrap();
        let ours: Value = serde_json::from_str(
            &std::fs::read_to_string(right.path().join("config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            ours["auths"][&registry]["auth"],
            cli_config["auths"][&registry]["auth"]
        );

        // A wrong password: the run fails, says why, and changes nothing.
        let wrong = docker_config(&registry, &env().registry_user, "not-the-password");
        let before = t.daemon_state();
        let out = t.swab_with(
            &["run", "--rules", "r.yaml", "--format", "json"],
            &[("DOCKER_CONFIG", wrong.path())],
        );
        out.code(1);
        let said = out.stdout.to_lowercase();
        assert!(
            said.contains(&registry)
                || said.contains("unauthorized")
                || said.contains("authentication"),
            "the report names the registry or the authentication failure:\n{}",
            out.stdout
        );
        assert_eq!(t.daemon_state(), before, "a failed run changed something");
        assert_eq!(inspect(&name)["Id"], old_id.as_str());

        // The right one: updated.
        let out = t.swab_with(
            &["run", "--rules", "r.yaml", "--format", "json"],
            &[("DOCKER_CONFIG", right.path())],
        );
        out.code(0);
        let report = out.json();
        assert_eq!(
            single(&report, "recreate_container")["status"],
            "done",
            "{report}"
        );
        let new = inspect(&name);
        assert_ne!(new["Id"], old_id.as_str());
        assert_eq!(new["Image"], v2.as_str());
        assert_eq!(new["State"]["Running"], true);
    }

    #[test]
    fn a_container_in_the_network_namespace_of_an_updated_one_follows_it() {
        let mut t = Update::new("upd-netns", &env().registry, "");
        let v1 = t.publish(V1);
        let a = t.run_container("swab-upd-a", &[]);
        // B is not the rule's: another label, another (local) image.
        let b = unique("swab-upd-b");
        let b_label = format!("swab-test={}-b", t.test_id);
        t.cleanup.labels.push(b_label.clone());
        t.cleanup.containers.push(b.clone());
        env().cli(&[
            "run",
            "-d",
            "--name",
            &b,
            "--label",
            &b_label,
            "--network",
            &format!("container:{a}"),
            &env().image,
            "sleep",
            "300",
        ]);
        let old_a = inspect(&a)["Id"].as_str().unwrap().to_owned();
        assert_eq!(
            inspect(&b)["HostConfig"]["NetworkMode"],
            format!("container:{old_a}"),
            "setup: the daemon records the ID"
        );
        let v2 = t.publish_upstream(V2, &v1);

        let out = t.run();
        out.code(0);
        let report = out.json();
        let recreated: BTreeSet<&str> = actions(&report)
            .iter()
            .filter(|x| x["action"] == "recreate_container")
            .map(|x| {
                assert_eq!(x["status"], "done", "{x}");
                x["name"].as_str().unwrap()
            })
            .collect();
        assert_eq!(
            recreated,
            BTreeSet::from([a.as_str(), b.as_str()]),
            "{report}"
        );

        let new_a = inspect(&a);
        let new_a_id = new_a["Id"].as_str().unwrap();
        assert_ne!(new_a_id, old_a);
        assert_eq!(new_a["Image"], v2.as_str());
        assert_eq!(new_a["State"]["Running"], true);
        let new_b = inspect(&b);
        assert_eq!(new_b["State"]["Running"], true, "{}", new_b["State"]);
        assert_eq!(
            new_b["HostConfig"]["NetworkMode"],
            format!("container:{new_a_id}")
        );
        t.assert_only_containers(&[&a]);
    }

    #[test]
    fn rollback_command_puts_the_previous_image_back() {
        let mut t = Update::new("upd-rbcmd", &env().registry, "");
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-rbcmd", &[]);
        let v2 = t.publish_upstream(V2, &v1);
        t.run().code(0);
        assert_eq!(inspect(&name)["Image"], v2.as_str(), "updated to v2");

        t.swab(&["rollback", &name]).code(0);
        let now = inspect(&name);
        assert_eq!(now["Image"], v1.as_str(), "back on v1");
        assert_eq!(now["State"]["Running"], true, "{}", now["State"]);
        t.assert_only_containers(&[&name]);
    }

    /// The update `t` is about to make, interrupted in its health gate by `signal`: a
    /// v1 container with a file in an anonymous volume, v2 upstream, and a gate long
    /// enough to be caught in. Returns the container's name, its ID and the v1 image ID.
    fn interrupt_in_health_gate(
        t: &mut Update,
        prefix: &str,
        signal: rustix::process::Signal,
    ) -> (String, String, String) {
        let v1 = t.publish(V1);
        let name = t.run_container(prefix, &["-v", "/data", "--restart", "always"]);
        env().cli(&["exec", &name, "sh", "-c", "echo hi > /data/f"]);
        let old = inspect(&name);
        t.cleanup.volumes.push(data_volume(&old));
        t.publish_upstream(V2, &v1);
        let state = t.state.path().join("state.json");
        let mut running = swab()
            .home_file(
                "r.yaml",
                &t.rules
                    .replace("health_timeout: 2s", "health_timeout: 120s"),
            )
            .in_home()
            .args(["-H", &env().docker_host, "-v", "run", "--rules", "r.yaml"])
            .args(["--state", state.to_str().unwrap()])
            .spawn();
        running.wait_for_log("health gate", Duration::from_secs(60));
        running.signal(signal);
        let code = running.wait_exit(Duration::from_secs(60));
        let log = running.log();
        if signal == rustix::process::Signal::TERM {
            assert_eq!(code, 1, "a rolled-back update fails the run:\n{log}");
            assert!(log.contains("rolled_back"), "{log}");
            assert!(log.contains("interrupted by a signal"), "{log}");
        }
        (name, old["Id"].as_str().unwrap().to_owned(), v1)
    }

    /// The container `name` is the original one again, running v1 with its data, and the
    /// tag names v1.
    #[track_caller]
    fn assert_original_back(t: &Update, name: &str, old_id: &str, v1: &str) {
        let now = inspect(name);
        assert_eq!(now["Id"], old_id, "the original container");
        assert_eq!(now["State"]["Running"], true, "{}", now["State"]);
        assert_eq!(now["Image"], v1);
        assert_eq!(
            now["HostConfig"]["RestartPolicy"]["Name"], "always",
            "the restart policy, off while parked, is back"
        );
        assert_eq!(env().cli(&["exec", name, "cat", "/data/f"]), "hi");
        assert_eq!(image_id(&t.reference), v1, "the tag names v1 again");
        assert!(
            !image_exists(&t.previous_tag()),
            "the rollback tag, new in this update, is gone again"
        );
        t.assert_only_containers(&[name]);
    }

    #[test]
    fn sigterm_in_the_health_gate_rolls_back_and_the_digest_is_tried_again() {
        let mut t = Update::new("upd-sigterm", &env().registry, "");
        let (name, old_id, v1) =
            interrupt_in_health_gate(&mut t, "swab-upd-term", rustix::process::Signal::TERM);
        assert_original_back(&t, &name, &old_id, &v1);
        let state = std::fs::read_to_string(t.state.path().join("state.json")).unwrap();
        assert!(!state.contains("in_flight"), "journal cleared: {state}");

        // A signal says nothing about the new image: the next run updates.
        let out = t.run();
        out.code(0);
        assert_eq!(single(&out.json(), "recreate_container")["status"], "done");
        assert_ne!(inspect(&name)["Id"], old_id.as_str());
    }

    #[test]
    fn an_update_killed_half_way_is_undone_by_the_next_run() {
        let mut t = Update::new("upd-crash", &env().registry, "");
        let (name, old_id, v1) =
            interrupt_in_health_gate(&mut t, "swab-upd-crash", rustix::process::Signal::KILL);
        // The crash left the replacement under the name and the original parked.
        let parked = format!("{name}-swab-old-{}", &old_id[..12]);
        assert_ne!(
            inspect(&name)["Id"],
            old_id.as_str(),
            "the replacement runs"
        );
        let parked_inspect = inspect(&parked);
        assert_eq!(
            parked_inspect["Id"],
            old_id.as_str(),
            "the original is parked"
        );
        assert_eq!(
            parked_inspect["HostConfig"]["RestartPolicy"]["Name"], "no",
            "a parked container must not be started by a daemon restart"
        );
        let state = t.state.path().join("state.json");
        let journal = std::fs::read_to_string(&state).unwrap();
        assert!(journal.contains("in_flight"), "journal written: {journal}");

        // Any real run recovers first; this one has no update rule at all.
        let nothing = "version: 1\nrules:\n  - name: nothing\n    action: prune-containers\n    match:\n      names: [\"no-such-container-*\"]\n";
        let out = swab()
            .home_file("none.yaml", nothing)
            .in_home()
            .args([
                "-H",
                &env().docker_host,
                "run",
                "--rules",
                "none.yaml",
                "--format",
                "json",
            ])
            .args(["--state", state.to_str().unwrap()])
            .run();
        out.code(0);
        let report = out.json();
        let recovery: Vec<&Value> = report["notes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["scope"] == "recovery" && n["rule"] == "recovery")
            .collect();
        assert!(
            recovery.iter().any(|n| n["message"]
                .as_str()
                .is_some_and(|m| m.contains("rolled back the interrupted update"))),
            "{report}"
        );
        assert_original_back(&t, &name, &old_id, &v1);
        let journal = std::fs::read_to_string(&state).unwrap();
        assert!(!journal.contains("in_flight"), "journal cleared: {journal}");
    }

    #[test]
    fn a_health_check_decides_the_gate_healthy_at_once_unhealthy_rolled_back() {
        // Healthy while A is not 100: v1 (A=1) and v2 (A=10) are, v3 (A=100) is not.
        let mut t = Update::new("upd-health", &env().registry, "");
        t.rules = t.rules.replace("health_timeout: 2s", "health_timeout: 60s");
        let v1 = t.publish(V1);
        let name = t.run_container(
            "swab-upd-health",
            &[
                "--health-cmd",
                r#"test "$A" != 100"#,
                "--health-interval",
                "1s",
                "--health-retries",
                "1",
            ],
        );
        let v2 = t.publish_upstream(V2, &v1);
        let started = std::time::Instant::now();
        let out = t.run();
        out.code(0);
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "a healthy replacement ends the gate, not the 60s timeout: {:?}",
            started.elapsed()
        );
        let now = inspect(&name);
        assert_eq!(now["Image"], v2.as_str());
        assert_eq!(now["State"]["Health"]["Status"], "healthy");
        let updated_id = now["Id"].as_str().unwrap().to_owned();

        t.publish_upstream(V3, &v2);
        let out = t.run();
        out.code(1);
        let report = out.json();
        let recreate = single(&report, "recreate_container");
        assert_eq!(recreate["status"], "rolled_back", "{report}");
        assert!(
            recreate["error"]
                .as_str()
                .is_some_and(|e| e.contains("unhealthy")),
            "{report}"
        );
        assert_eq!(
            inspect(&name)["Id"],
            updated_id.as_str(),
            "v2 container back"
        );
        assert_eq!(image_id(&t.reference), v2);
        t.assert_only_containers(&[&name]);
    }

    /// `POST /api/v1/containers/{name}/update` on the daemon takes the path `swab run`
    /// takes: a healthy new image is kept; an unhealthy one fails the health gate and is
    /// rolled back. `POST .../rollback` then puts the container on the rollback tag's image.
    #[test]
    fn an_update_through_the_api_has_the_gate_and_the_rollback_of_a_run() {
        use crate::http::{free_port, request, wait_run};
        const TOKEN: &str = "e2e-api-update-token-0123456789";
        let mut t = Update::new("upd-api", &env().registry, "");
        t.rules = t.rules.replace("health_timeout: 2s", "health_timeout: 60s");
        let v1 = t.publish(V1);
        let name = t.run_container(
            "swab-upd-api",
            &[
                "--health-cmd",
                r#"test "$A" != 100"#,
                "--health-interval",
                "1s",
                "--health-retries",
                "1",
            ],
        );
        let v2 = t.publish_upstream(V2, &v1);
        let port = free_port();
        let state = t.state.path().join("state.json");
        let mut daemon = swab()
            .home_file("r.yaml", &t.rules)
            .home_file("token", TOKEN)
            .args([
                "-H",
                &env().docker_host,
                "daemon",
                "--rules",
                "r.yaml",
                "--state",
                state.to_str().unwrap(),
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
                "--api",
                "--api-token-file",
                "token",
            ])
            .spawn();
        daemon.wait_for_log("API on http://", Duration::from_secs(10));
        let update = || {
            let answer = request(
                port,
                "POST",
                &format!("/api/v1/containers/{name}/update"),
                Some(TOKEN),
                None,
            );
            assert_eq!(answer.status, 202, "{}", answer.body);
            let id = answer.json()["id"].as_str().unwrap().to_owned();
            let run = wait_run(port, None, &id, Duration::from_secs(120));
            assert_eq!(run["state"], "done", "{run:#}");
            run["report"].clone()
        };

        let report = update();
        assert_eq!(
            single(&report, "recreate_container")["status"],
            "done",
            "{report:#}"
        );
        let now = inspect(&name);
        assert_eq!(now["Image"], v2.as_str());
        assert_eq!(now["State"]["Health"]["Status"], "healthy");
        let updated_id = now["Id"].as_str().unwrap().to_owned();

        t.publish_upstream(V3, &v2);
        let report = update();
        let recreate = single(&report, "recreate_container");
        assert_eq!(recreate["status"], "rolled_back", "{report:#}");
        assert!(
            recreate["error"]
                .as_str()
                .is_some_and(|e| e.contains("unhealthy")),
            "{report:#}"
        );
        assert_eq!(
            inspect(&name)["Id"],
            updated_id.as_str(),
            "v2 container back"
        );
        assert_eq!(image_id(&t.reference), v2);

        let previous = image_id(&t.previous_tag());
        let answer = request(
            port,
            "POST",
            &format!("/api/v1/containers/{name}/rollback"),
            Some(TOKEN),
            None,
        );
        assert_eq!(answer.status, 202, "{}", answer.body);
        let id = answer.json()["id"].as_str().unwrap().to_owned();
        let run = wait_run(port, None, &id, Duration::from_secs(120));
        assert_eq!(run["state"], "done", "{run:#}");
        assert_eq!(run["rules"], serde_json::json!(["rollback"]));
        assert_eq!(inspect(&name)["Image"], previous.as_str(), "{run:#}");
        t.assert_only_containers(&[&name]);
        daemon.signal(rustix::process::Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(20)), 0);
    }

    /// A real Compose project: swab updates `web`; then `docker compose up -d` on the
    /// unchanged project recreates nothing, the named volume's data and every config and
    /// secret (from a file and inline) are there, `ps` shows both services running, and
    /// `down` leaves nothing behind.
    #[test]
    fn a_compose_service_updated_by_swab_is_left_alone_by_compose_up() {
        let mut t = Update::new("upd-cup", &env().registry, "");
        let project = t.test_id.clone();
        let yaml = format!(
            r#"name: {project}
services:
  web:
    image: {reference}
    network_mode: none
    labels: ["{label}"]
    volumes: ["data:/data"]
    configs:
      - source: inline
        target: /opt/app/inline.conf
      - filecfg
    secrets: [token]
  worker:
    image: {base}
    command: ["sleep", "300"]
    network_mode: none
    pull_policy: never
    depends_on: [web]
configs:
  inline:
    content: "inline config"
  filecfg:
    file: ./cfg.txt
secrets:
  token:
    file: ./token.txt
volumes:
  data: {{}}
"#,
            reference = t.reference,
            label = t.label(),
            base = env().image,
        );
        let Some((binary, dir)) = t.compose_project(
            "a_compose_service_updated_by_swab_is_left_alone_by_compose_up",
            &yaml,
            &[("cfg.txt", "from a file\n"), ("token.txt", "s3cret\n")],
            &["data"],
        ) else {
            return;
        };
        let v1 = t.publish(V1);
        let web = format!("{project}-web-1");
        let worker = format!("{project}-worker-1");
        t.cleanup.containers.extend([web.clone(), worker.clone()]);
        compose(&binary, &dir, &["up", "-d"]);
        env().cli(&["exec", &web, "sh", "-c", "echo kept > /data/f"]);
        let worker_id = inspect(&worker)["Id"].as_str().unwrap().to_owned();
        let v2 = t.publish_upstream(V2, &v1);

        let out = t.run();
        out.code(0);
        let report = out.json();
        assert_eq!(
            single(&report, "recreate_container")["status"],
            "done",
            "{report}"
        );
        let updated = inspect(&web);
        assert_eq!(updated["Image"], v2.as_str());
        assert_eq!(
            updated["Config"]["Labels"]["com.docker.compose.image"],
            v2.as_str(),
            "the label Compose compares names the new image"
        );

        compose(&binary, &dir, &["up", "-d"]);
        assert_eq!(
            inspect(&web)["Id"],
            updated["Id"],
            "compose up recreated web"
        );
        assert_eq!(inspect(&worker)["Id"], worker_id.as_str(), "worker kept");
        let running = compose(&binary, &dir, &["ps", "--status", "running", "-q"]);
        assert_eq!(running.lines().count(), 2, "both services run: {running}");
        for (path, content) in [
            ("/data/f", "kept"),
            // In a directory the image does not have: swab makes it, as Compose did.
            ("/opt/app/inline.conf", "inline config"),
            ("/filecfg", "from a file"),
            ("/run/secrets/token", "s3cret"),
        ] {
            assert_eq!(env().cli(&["exec", &web, "cat", path]), content, "{path}");
        }

        compose(&binary, &dir, &["down", "-v", "-t", "0"]);
        assert_eq!(compose(&binary, &dir, &["ps", "-a", "-q"]), "");
        t.assert_only_containers(&[]);
        assert!(
            !volumes().contains(&format!("{project}_data")),
            "the project's volume is gone"
        );
    }

    /// A Compose service scaled to 2: the replicas are updated one at a time, each
    /// gated. The new version runs once and exits on the second start (a marker in a
    /// volume the replicas share), so replica 1 passes and replica 2 fails: replica 1 stays
    /// updated, replica 2 is rolled back, and the report says exactly that.
    #[test]
    fn a_scaled_compose_service_keeps_the_replicas_that_passed() {
        let mut t = Update::new("upd-scale", &env().registry, "");
        let project = t.test_id.clone();
        let yaml = format!(
            "name: {project}\nservices:\n  web:\n    image: {}\n    network_mode: none\n    labels: [\"{}\"]\n    volumes: [\"shared:/shared\"]\nvolumes:\n  shared: {{}}\n",
            t.reference,
            t.label()
        );
        let Some((binary, dir)) = t.compose_project(
            "a_scaled_compose_service_keeps_the_replicas_that_passed",
            &yaml,
            &[],
            &["shared"],
        ) else {
            return;
        };
        let v1 = t.publish(V1);
        let (one, two) = (format!("{project}-web-1"), format!("{project}-web-2"));
        t.cleanup.containers.extend([one.clone(), two.clone()]);
        compose(&binary, &dir, &["up", "-d", "--scale", "web=2"]);
        let two_before = inspect(&two)["Id"].as_str().unwrap().to_owned();
        let runs_once = r#"CMD ["sh","-c","if [ -e /shared/ran ]; then exit 3; fi; touch /shared/ran; sleep 300"]"#;
        let v2 = t.publish_upstream(&["ENV A=10", runs_once], &v1);

        let out = t.run();
        out.code(1);
        let report = out.json();
        let recreates: Vec<(&str, &str)> = actions(&report)
            .iter()
            .filter(|a| a["action"] == "recreate_container")
            .map(|a| (a["name"].as_str().unwrap(), a["status"].as_str().unwrap()))
            .collect();
        assert_eq!(
            recreates,
            [(one.as_str(), "done"), (two.as_str(), "rolled_back")],
            "{report}"
        );
        assert_eq!(
            inspect(&one)["Image"],
            v2.as_str(),
            "replica 1 stays updated"
        );
        assert_eq!(inspect(&one)["State"]["Running"], true);
        let second = inspect(&two);
        assert_eq!(
            second["Id"],
            two_before.as_str(),
            "replica 2 is the old container"
        );
        assert_eq!(second["Image"], v1.as_str());
        assert_eq!(second["State"]["Running"], true);
        t.assert_only_containers(&[&one, &two]);
        compose(&binary, &dir, &["down", "-v", "-t", "0"]);
    }

    /// swab run as a container with the socket mounted, by an update rule that selects
    /// that very container: the container is untouched (same ID, still running, still on
    /// the old image) and the report keeps it with the reason.
    #[test]
    fn swab_in_a_container_never_recreates_itself() {
        let Some(socket) = env().docker_host.strip_prefix("unix://").map(str::to_owned) else {
            panic!("the test daemon listens on a unix socket");
        };
        let mut t = Update::new("upd-self", &env().registry, "");
        let v1 = t.publish(V1);
        let conf = tempfile::tempdir().unwrap();
        std::fs::write(conf.path().join("r.yaml"), &t.rules).unwrap();
        let binary = env!("CARGO_BIN_EXE_swab");
        let mounts = [
            format!("{socket}:/var/run/docker.sock"),
            format!("{binary}:/swab:ro"),
            format!("{}:/conf:ro", conf.path().display()),
            // The binary links glibc and its TLS client wants the system's CA certificates;
            // the test image is a static busybox.
            "/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro".to_owned(),
            "/lib64:/lib64:ro".to_owned(),
            "/etc/ssl/certs:/etc/ssl/certs:ro".to_owned(),
        ];
        let mut args: Vec<&str> = Vec::new();
        for m in &mounts {
            args.extend(["-v", m.as_str()]);
        }
        let name = t.run_container("swab-self", &args);
        let before = inspect(&name);
        t.publish_upstream(V2, &v1);

        let out = env().try_cli(&[
            "exec",
            &name,
            "/swab",
            "-H",
            "unix:///var/run/docker.sock",
            "run",
            "--rules",
            "/conf/r.yaml",
            "--state",
            "/tmp/state.json",
            "--format",
            "json",
        ]);
        assert!(out.success, "swab in the container failed: {}", out.stderr);
        let report: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(report["actions"], serde_json::json!([]), "{report}");
        let kept = report["kept"].as_array().unwrap();
        assert!(
            kept.iter().any(|k| k["name"] == name.as_str()
                && k["reason"] == "swab's own container: update it by redeploying"),
            "{report}"
        );
        let after = inspect(&name);
        assert_eq!(after["Id"], before["Id"], "the container was not recreated");
        assert_eq!(after["Image"], v1.as_str());
        assert_eq!(after["State"]["Running"], true);
        assert_eq!(
            after["State"]["StartedAt"], before["State"]["StartedAt"],
            "nor restarted"
        );
    }

    #[test]
    fn compose_services_that_depend_on_an_updated_one_are_stopped_and_started_around_it() {
        let mut t = Update::new("upd-compose", &env().registry, "");
        let project = format!("com.docker.compose.project={}", t.test_id);
        let v1 = t.publish(V1);
        let db = t.run_container(
            "swab-upd-db",
            &[
                "--label",
                &project,
                "--label",
                "com.docker.compose.service=db",
            ],
        );
        // The dependent is not selected by the rule (no test label): it only moves along.
        let app = unique("swab-upd-app");
        t.cleanup.containers.push(app.clone());
        env().cli(&[
            "run",
            "-d",
            "--name",
            &app,
            "--network",
            "none",
            "--label",
            &project,
            "--label",
            "com.docker.compose.service=app",
            "--label",
            "com.docker.compose.depends_on=db:service_started:false",
            &env().image,
            "sleep",
            "300",
        ]);
        let before = inspect(&app);
        let v2 = t.publish_upstream(V2, &v1);

        let out = t.run();
        out.code(0);
        let report = out.json();
        let recreate = single(&report, "recreate_container");
        assert!(
            recreate["reason"].as_str().unwrap().contains(&app),
            "the report names the dependent: {report}"
        );
        assert_eq!(inspect(&db)["Image"], v2.as_str());
        let after = inspect(&app);
        assert_eq!(after["Id"], before["Id"], "the dependent is not recreated");
        assert_eq!(after["State"]["Running"], true, "{}", after["State"]);
        assert_ne!(
            after["State"]["StartedAt"], before["State"]["StartedAt"],
            "the dependent was stopped and started around the update"
        );
    }

    #[test]
    fn a_registry_swab_cannot_reach_is_asked_through_the_daemon() {
        let mut t = Update::new("upd-via-daemon", &env().registry, "");
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-via", &[]);
        let v2 = t.publish_upstream(V2, &v1);
        // swab's own requests go to a proxy nobody listens on; the daemon's do not.
        let dead_proxy = Path::new("http://127.0.0.1:9");
        let log = t.log_mark();
        let out = t.swab_with(
            &["run", "--rules", "r.yaml", "--format", "json"],
            &[("HTTP_PROXY", dead_proxy), ("http_proxy", dead_proxy)],
        );
        out.code(0);
        let report = out.json();
        assert_eq!(
            single(&report, "recreate_container")["status"],
            "done",
            "{report}"
        );
        assert_eq!(inspect(&name)["Image"], v2.as_str());
        let (by_swab, by_daemon) = log.manifest_requests(&t.repo_path);
        assert!(
            by_swab.is_empty(),
            "swab reached the registry itself: {by_swab:?}"
        );
        assert!(!by_daemon.is_empty(), "the daemon was asked");
    }

    #[test]
    fn a_container_with_auto_remove_is_left_alone_not_lost() {
        let mut t = Update::new("upd-rm", &env().registry, "");
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-rm", &["--rm"]);
        let old_id = inspect(&name)["Id"].as_str().unwrap().to_owned();
        t.publish_upstream(V2, &v1);
        let out = t.run();
        out.code(1);
        let report = out.json();
        let recreate = single(&report, "recreate_container");
        assert_eq!(recreate["status"], "rolled_back", "{report}");
        assert!(
            recreate["error"].as_str().unwrap().contains("AutoRemove"),
            "{report}"
        );
        let now = inspect(&name);
        assert_eq!(
            now["Id"],
            old_id.as_str(),
            "never stopped, so never deleted"
        );
        assert_eq!(now["State"]["Running"], true);
        assert_eq!(image_id(&t.reference), v1, "the tag names v1 again");
        // Not the new image's fault: nothing recorded against its digest.
        let state = std::fs::read_to_string(t.state.path().join("state.json")).unwrap();
        assert!(!state.contains("rolled_back"), "{state}");
    }

    #[test]
    fn cleanup_removes_the_image_that_lost_the_rollback_tag() {
        let mut t = Update::new(
            "upd-cleanup",
            &env().registry,
            "    cleanup: true\n    rollback_tag: \"{tag}-old\"\n",
        );
        let previous = format!("{}-old", t.reference);
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-clean", &[]);
        let v2 = t.publish_upstream(V2, &v1);

        // v1 gets the rollback tag: nothing lost it yet.
        let out = t.run();
        out.code(0);
        let report = out.json();
        assert_eq!(
            kinds(&report),
            ["tag_image", "pull_image", "recreate_container"],
            "{report}"
        );
        assert_eq!(actions(&report)[0]["name"], previous.as_str());
        assert_eq!(image_id(&previous), v1);
        assert!(!image_exists(&t.previous_tag()), "the default tag was used");

        // v2 takes the rollback tag over, and v1, unused and untagged, goes.
        let v3 = t.publish_upstream(V3, &v2);
        let out = t.run();
        out.code(0);
        let report = out.json();
        assert_eq!(
            kinds(&report),
            [
                "tag_image",
                "pull_image",
                "recreate_container",
                "remove_image"
            ],
            "{report}"
        );
        let actions = actions(&report);
        for a in actions {
            assert_eq!(a["status"], "done", "{a}");
        }
        assert_eq!(actions[0]["name"], previous.as_str());
        assert_eq!(actions[0]["id"], v2.as_str());
        assert_eq!(actions[3]["id"], v1.as_str(), "{report}");
        assert!(!image_exists(&v1), "v1 removed");
        assert_eq!(image_id(&previous), v2);
        assert_eq!(inspect(&name)["Image"], v3.as_str());
        t.assert_only_containers(&[&name]);
    }

    #[test]
    fn stopped_containers_are_not_updated() {
        let mut t = Update::new("upd-stopped", &env().registry, "");
        let v1 = t.publish(V1);
        let name = unique("swab-upd-stopped");
        t.cleanup.containers.push(name.clone());
        env().cli(&[
            "create",
            "--name",
            &name,
            "--label",
            &t.label(),
            "--network",
            "none",
            &t.reference,
        ]);
        let old_id = inspect(&name)["Id"].as_str().unwrap().to_owned();
        t.publish_upstream(V2, &v1);

        let out = t.run();
        out.code(0);
        let report = out.json();
        assert!(
            !kinds(&report).contains(&"recreate_container"),
            "a stopped container was recreated: {report}"
        );
        let now = inspect(&name);
        assert_eq!(now["Id"], old_id.as_str());
        assert_eq!(now["Image"], v1.as_str());
        assert_eq!(now["State"]["Status"], "created");
    }

    /// What `name` holds in `/data/log` (what its hooks wrote), and whether anything a hook
    /// started still runs in it (a process with swab's hook marker in its environment).
    fn hook_trace(name: &str) -> (String, bool) {
        let log = env()
            .try_cli(&["exec", name, "sh", "-c", "cat /data/log 2>/dev/null"])
            .stdout;
        let script = r#"for p in /proc/[0-9]*; do case "$(cat $p/environ 2>/dev/null)" in *SWAB_HOOK=*) echo "$p";; esac; done"#;
        let left = env().cli(&["exec", name, "sh", "-c", script]);
        (log.trim().replace('\n', ","), !left.trim().is_empty())
    }

    #[test]
    fn lifecycle_hooks_veto_skip_time_out_and_roll_back() {
        // Each hook reads what to do from the container's volume, so one container goes
        // through every case.
        let hooks = "    hooks:\n      pre_update: 'echo pre >> /data/log; sleep $(cat /data/pre-sleep 2>/dev/null || echo 0); echo vetoing; exit $(cat /data/code 2>/dev/null || echo 0)'\n      post_update: 'echo post >> /data/log; echo migration failed; exit $(cat /data/post-code 2>/dev/null || echo 0)'\n      timeout: 3s\n";
        let mut t = Update::new("upd-hooks", &env().registry, hooks);
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-hooks", &["-v", "/data"]);
        let old = inspect(&name);
        let old_id = old["Id"].as_str().unwrap().to_owned();
        t.cleanup.volumes.push(data_volume(&old));
        t.publish_upstream(V2, &v1);
        let set = |file: &str, value: &str| {
            env().cli(&[
                "exec",
                &name,
                "sh",
                "-c",
                &format!("echo {value} > /data/{file}"),
            ]);
        };

        // The dry run lists the hooks in order and runs none.
        let out = t.swab(&["run", "--rules", "r.yaml", "--format", "json", "--dry-run"]);
        out.code(0);
        let report = out.json();
        assert_eq!(
            kinds(&report),
            [
                "tag_image",
                "pull_image",
                "run_hook",
                "recreate_container",
                "run_hook"
            ],
            "{report}"
        );
        let reasons: Vec<&str> = actions(&report)
            .iter()
            .filter(|a| a["action"] == "run_hook")
            .map(|a| a["reason"].as_str().unwrap())
            .collect();
        assert!(reasons[0].starts_with("pre-update hook from rule hooks.pre_update: `echo pre"));
        assert!(reasons[1].starts_with("post-update hook from rule hooks.post_update: `echo post"));
        assert_eq!(hook_trace(&name), (String::new(), false), "nothing ran");

        // Exit 75: skipped quietly (not a failure), nothing changed.
        set("code", "75");
        let out = t.run();
        out.code(0);
        let report = out.json();
        let hook = &actions(&report)[2];
        assert_eq!(hook["action"], "run_hook", "{report}");
        assert_eq!(hook["status"], "skipped", "{report}");
        assert_eq!(
            hook["error"], "pre-update hook asked to skip the update this time (exit 75): vetoing",
            "{report}"
        );
        assert_eq!(single(&report, "recreate_container")["status"], "skipped");
        assert_eq!(inspect(&name)["Id"], old_id.as_str());
        assert_eq!(image_id(&t.reference), v1, "the tag names v1 again");
        assert_eq!(report["summary"]["failed"], 0, "{report}");

        // Exit 1: a veto, reported as a failed hook with its output; nothing changed.
        set("code", "1");
        let out = t.run();
        out.code(1);
        let report = out.json();
        let hook = &actions(&report)[2];
        assert_eq!(hook["status"], "failed", "{report}");
        assert_eq!(
            hook["error"], "pre-update hook exited 1: vetoing",
            "{report}"
        );
        let recreate = single(&report, "recreate_container");
        assert_eq!(recreate["status"], "skipped", "{report}");
        assert!(
            recreate["error"].as_str().unwrap().contains("held back"),
            "{report}"
        );
        assert_eq!(inspect(&name)["Id"], old_id.as_str());
        assert_eq!(image_id(&t.reference), v1);

        // Past its timeout the hook is killed, with what it started, and vetoes.
        set("code", "0");
        set("pre-sleep", "30");
        let out = t.run();
        out.code(1);
        let report = out.json();
        let hook = &actions(&report)[2];
        assert_eq!(hook["status"], "failed", "{report}");
        assert_eq!(
            hook["error"], "pre-update hook timed out after 3s and was killed",
            "{report}"
        );
        assert_eq!(inspect(&name)["Id"], old_id.as_str());
        let (log, sleeping) = hook_trace(&name);
        assert_eq!(log, "pre,pre,pre");
        assert!(!sleeping, "the hook's sleep was killed");

        // A failing post-update hook, in the replacement, rolls the update back.
        set("pre-sleep", "0");
        set("post-code", "4");
        let out = t.run();
        out.code(1);
        let report = out.json();
        assert_eq!(
            kinds(&report),
            [
                "tag_image",
                "pull_image",
                "run_hook",
                "recreate_container",
                "run_hook"
            ],
            "{report}"
        );
        let post = &actions(&report)[4];
        assert_eq!(post["status"], "failed", "{report}");
        assert_eq!(
            post["error"], "post-update hook exited 4: migration failed",
            "{report}"
        );
        assert_eq!(actions(&report)[3]["status"], "rolled_back", "{report}");
        let now = inspect(&name);
        assert_eq!(now["Id"], old_id.as_str(), "the original container is back");
        assert_eq!(now["State"]["Running"], true);
        assert_eq!(image_id(&t.reference), v1);
        // The post-update hook ran in the replacement, which had the same volume.
        assert_eq!(hook_trace(&name).0, "pre,pre,pre,pre,post");
        t.assert_only_containers(&[&name]);
    }

    #[test]
    fn watchtower_lifecycle_labels_run_when_the_rule_reads_them() {
        let mut t = Update::new(
            "upd-wt-hooks",
            &env().registry,
            "    hooks:\n      labels: [watchtower]\n",
        );
        let v1 = t.publish(V1);
        let wt = "com.centurylinklabs.watchtower.lifecycle";
        let name = t.run_container(
            "swab-upd-wt-hooks",
            &[
                "-v",
                "/data",
                "--label",
                &format!("{wt}.pre-update=echo wt-pre >> /data/log"),
                "--label",
                &format!("{wt}.post-update=echo wt-post >> /data/log"),
                "--label",
                &format!("{wt}.pre-update-timeout=1"),
                "--label",
                &format!("{wt}.pre-check=echo wt-pre-check >> /data/log"),
                "--label",
                &format!("{wt}.post-check=echo wt-post-check >> /data/log"),
                "--label",
                "swab.hooks.pre-update=echo swab-pre >> /data/log",
            ],
        );
        let old = inspect(&name);
        t.cleanup.volumes.push(data_volume(&old));
        let v2 = t.publish_upstream(V2, &v1);

        let out = t.run();
        out.code(0);
        let report = out.json();
        // pre-check before the registry is asked, post-check after the update, in the
        // replacement.
        assert_eq!(
            kinds(&report),
            [
                "run_hook",
                "tag_image",
                "pull_image",
                "run_hook",
                "recreate_container",
                "run_hook",
                "run_hook"
            ],
            "{report}"
        );
        let last = actions(&report).last().unwrap();
        assert_eq!(last["status"], "done", "{report}");
        assert_eq!(last["id"], inspect(&name)["Id"], "{report}");
        assert_eq!(
            actions(&report)[3]["reason"],
            format!("pre-update hook from label {wt}.pre-update: `echo wt-pre >> /data/log`")
                .as_str()
        );
        assert_eq!(inspect(&name)["Image"], v2.as_str());
        // Only the namespace the rule lists: swab.hooks.* did not run.
        assert_eq!(
            hook_trace(&name).0,
            "wt-pre-check,wt-pre,wt-post,wt-post-check"
        );
    }

    #[test]
    fn watchtower_stop_signal_and_depends_on_labels_are_honoured() {
        let mut t = Update::new("upd-wt-labels", &env().registry, "");
        // Writes which signal stopped it into its volume.
        let traps = [
            r#"CMD ["sh","-c","trap 'echo usr1 > /data/sig; exit 0' USR1; trap 'echo term > /data/sig; exit 0' TERM; sleep 300 & wait"]"#,
            "LABEL version=1",
        ];
        let v1 = t.publish(&traps);
        let name = t.run_container(
            "swab-upd-wt-sig",
            &[
                "-v",
                "/data",
                "--label",
                "com.centurylinklabs.watchtower.stop-signal=SIGUSR1",
            ],
        );
        let old = inspect(&name);
        t.cleanup.volumes.push(data_volume(&old));
        // Not selected by the rule, but labelled as depending on the updated container.
        let dependent = unique("swab-upd-wt-dep");
        t.cleanup.containers.push(dependent.clone());
        env().cli(&[
            "run",
            "-d",
            "--name",
            &dependent,
            "--network",
            "none",
            "--label",
            &format!("com.centurylinklabs.watchtower.depends-on={name}"),
            &env().image,
            "sleep",
            "300",
        ]);
        let dependent_before = inspect(&dependent);
        let v2 = t.publish_upstream(V2, &v1);

        let out = t.run();
        out.code(0);
        let report = out.json();
        let recreate = single(&report, "recreate_container");
        assert!(
            recreate["reason"]
                .as_str()
                .unwrap()
                .contains(&format!("stops and starts {dependent} around it")),
            "{report}"
        );
        assert_eq!(inspect(&name)["Image"], v2.as_str());
        // API 1.42 added the stop signal; Docker 20.10 (1.41) stops with the container's own.
        let expected = if env().engine.api_version() == "1.41" {
            "term"
        } else {
            "usr1"
        };
        assert_eq!(
            env().cli(&["exec", &name, "cat", "/data/sig"]).trim(),
            expected
        );
        // The dependent is the same container, running again, started after the update.
        let dependent_now = inspect(&dependent);
        assert_eq!(dependent_now["Id"], dependent_before["Id"]);
        assert_eq!(dependent_now["State"]["Running"], true);
        assert_ne!(
            dependent_now["State"]["StartedAt"], dependent_before["State"]["StartedAt"],
            "it was stopped and started around the update"
        );
    }

    #[test]
    fn sigterm_during_a_post_update_hook_kills_it_and_rolls_back() {
        let hooks = "    hooks:\n      post_update: 'echo started >> /data/log; sleep $(cat /data/sleep)'\n      timeout: 10m\n";
        let mut t = Update::new("upd-hook-term", &env().registry, hooks);
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-hook-term", &["-v", "/data"]);
        let old = inspect(&name);
        let old_id = old["Id"].as_str().unwrap().to_owned();
        t.cleanup.volumes.push(data_volume(&old));
        env().cli(&["exec", &name, "sh", "-c", "echo 30 > /data/sleep"]);
        t.publish_upstream(V2, &v1);
        let state = t.state.path().join("state.json");
        let mut running = swab()
            .home_file("r.yaml", &t.rules)
            .in_home()
            .args(["-H", &env().docker_host, "-v", "run", "--rules", "r.yaml"])
            .args(["--state", state.to_str().unwrap()])
            .spawn();
        running.wait_for_log("running hook", Duration::from_secs(60));
        // The hook has started (it wrote its line) before the signal comes.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while hook_trace(&name).0 != "started" {
            assert!(
                std::time::Instant::now() < deadline,
                "the hook never started"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let signalled = std::time::Instant::now();
        running.signal(rustix::process::Signal::TERM);
        let code = running.wait_exit(Duration::from_secs(60));
        let log = running.log();
        assert_eq!(code, 1, "a rolled-back update fails the run:\n{log}");
        assert!(
            signalled.elapsed() < Duration::from_secs(20),
            "swab waited for the hook instead of killing it:\n{log}"
        );
        assert!(log.contains("interrupted by a signal"), "{log}");
        let now = inspect(&name);
        assert_eq!(now["Id"], old_id.as_str(), "the original container is back");
        assert_eq!(now["State"]["Running"], true);
        assert_eq!(image_id(&t.reference), v1);
        t.assert_only_containers(&[&name]);
        // Not the image's fault: the next run updates.
        env().cli(&["exec", &name, "sh", "-c", "echo 0 > /data/sleep"]);
        let out = t.run();
        out.code(0);
        assert_eq!(single(&out.json(), "recreate_container")["status"], "done");
    }

    /// Moves every time of `key` (`first_seen` or `rolled_back`) in the test's state file
    /// back by `by`: what waiting would do, without the wait.
    fn age_state(t: &Update, key: &str, by: Duration) {
        let path = t.state.path().join("state.json");
        let mut state: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let shown = state.to_string();
        let entries = state[key]
            .as_object_mut()
            .unwrap_or_else(|| panic!("no {key} in {shown}"));
        for entry in entries.values_mut() {
            let at = entry["at"].as_u64().unwrap();
            entry["at"] = (at - by.as_secs()).into();
        }
        std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    }

    #[test]
    fn a_cooldown_holds_a_new_digest_until_swab_has_known_it_long_enough() {
        let mut t = Update::new("upd-cooldown", &env().registry, "    min_age: 1h\n");
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-cool", &[]);
        let old_id = inspect(&name)["Id"].as_str().unwrap().to_owned();
        t.publish_upstream(V2, &v1);

        // Pushed "now" (the image itself was built seconds ago too; swab never reads it).
        let out = t.run();
        out.code(0);
        let report = out.json();
        assert_no_update(&report);
        let kept = report["kept"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == t.reference.as_str())
            .unwrap_or_else(|| panic!("the reference is kept: {report}"));
        let reason = kept["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("new digest sha256:") && reason.contains("eligible in 1h"),
            "{report}"
        );
        assert!(kept["eligible_at"].is_string(), "{report}");
        assert_eq!(inspect(&name)["Id"], old_id.as_str());

        // `swab updates` says the same, and records nothing.
        let out = t.swab(&["updates", "--rules", "r.yaml", "--format", "json"]);
        out.code(0);
        let updates = out.json();
        assert_eq!(updates["references"][0]["status"], "held_back", "{updates}");

        // Known for over an hour: adopted.
        age_state(&t, "first_seen", Duration::from_secs(2 * 3600));
        let out = t.run();
        out.code(0);
        assert_eq!(single(&out.json(), "recreate_container")["status"], "done");
        let updated_id = inspect(&name)["Id"].as_str().unwrap().to_owned();

        // Another digest: its own clock, from now.
        let v2 = image_id(&t.reference);
        t.publish_upstream(V3, &v2);
        let out = t.run();
        out.code(0);
        assert_no_update(&out.json());
        assert_eq!(inspect(&name)["Id"], updated_id.as_str());
        let state: Value =
            serde_json::from_slice(&std::fs::read(t.state.path().join("state.json")).unwrap())
                .unwrap();
        let seen = &state["first_seen"][t.reference.as_str()];
        let age = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - seen["at"].as_u64().unwrap();
        assert!(age < 600, "the clock restarted for the new digest: {state}");
    }

    #[test]
    fn a_failed_digest_is_retried_after_its_back_off_and_can_be_forgotten() {
        let mut t = Update::new("upd-backoff", &env().registry, "");
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-backoff", &[]);
        let old_id = inspect(&name)["Id"].as_str().unwrap().to_owned();
        t.publish_upstream(V3_BROKEN, &v1);

        t.run().code(1);
        let attempts = |t: &Update| {
            let state: Value =
                serde_json::from_slice(&std::fs::read(t.state.path().join("state.json")).unwrap())
                    .unwrap();
            state["rolled_back"][t.reference.as_str()]["attempts"].as_u64()
        };
        assert_eq!(attempts(&t), Some(1));
        // Within the first back-off (1h): held back, with when.
        let out = t.run();
        out.code(0);
        let report = out.json();
        assert_no_update(&report);
        let out = t.swab(&["updates", "--rules", "r.yaml", "--format", "json"]);
        let row = &out.json()["references"][0];
        assert_eq!(row["status"], "held_back", "{row}");
        assert!(
            row["held_back"].as_str().is_some_and(|r| r
                .contains("failed once and was rolled back")
                && r.contains("retried in")),
            "{row}"
        );
        // Past it: tried again, failing again, attempt 2.
        age_state(&t, "rolled_back", Duration::from_secs(2 * 3600));
        t.run().code(1);
        assert_eq!(attempts(&t), Some(2));
        assert_eq!(inspect(&name)["Id"], old_id.as_str());
        // `--forget` drops the record: the next run tries at once.
        let out = t.swab(&["updates", "--forget", &t.reference]);
        out.code(0);
        assert_eq!(attempts(&t), None);
        let out = t.run();
        out.code(1);
        assert_eq!(
            single(&out.json(), "recreate_container")["status"],
            "rolled_back"
        );
        assert_eq!(attempts(&t), Some(1));
        // Forgetting what is not recorded is a usage error.
        t.swab(&["updates", "--forget", "example.com/nothing:1"])
            .code(2);
    }

    /// A daily window (UTC) opening `from_now` from now (negative: already open), as rule
    /// lines.
    fn daily_window(from_now: i64, hours: u32) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let start = (i64::try_from(now).unwrap() + from_now).rem_euclid(86_400);
        let (hour, minute) = (start / 3600, (start % 3600) / 60);
        format!("    window: {{start: \"{minute} {hour} * * *\", for: {hours}h}}\n")
    }

    #[test]
    fn outside_its_window_an_update_is_only_planned_inside_it_is_applied() {
        let closed = daily_window(3 * 3600, 1);
        let mut t = Update::new("upd-window", &env().registry, &closed);
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-window", &[]);
        let old_id = inspect(&name)["Id"].as_str().unwrap().to_owned();
        let v2 = t.publish_upstream(V2, &v1);

        let out = t.run();
        out.code(0);
        let report = out.json();
        assert_no_update(&report);
        let kept = report["kept"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == t.reference.as_str())
            .unwrap_or_else(|| panic!("{report}"));
        assert!(
            kept["reason"]
                .as_str()
                .unwrap()
                .starts_with("pending: outside its maintenance window; the next opens "),
            "{report}"
        );
        assert!(kept["eligible_at"].is_string(), "{report}");
        assert_eq!(inspect(&name)["Id"], old_id.as_str());
        let out = t.swab(&["updates", "--rules", "r.yaml", "--format", "json"]);
        assert_eq!(out.json()["references"][0]["status"], "pending");

        // The same rule with a window open since 10 minutes: applied.
        t.rules = t.rules.replace(&closed, &daily_window(-600, 2));
        let out = t.run();
        out.code(0);
        assert_eq!(single(&out.json(), "recreate_container")["status"], "done");
        assert_eq!(inspect(&name)["Image"], v2.as_str());
    }

    /// A local webhook receiver: every POST body it gets arrives on the channel.
    fn webhook_receiver() -> (u16, std::sync::mpsc::Receiver<Value>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut reader = BufReader::new(stream);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let _ = reader
                    .get_mut()
                    .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
                if send
                    .send(serde_json::from_slice(&body).unwrap_or(Value::Null))
                    .is_err()
                {
                    return;
                }
            }
        });
        (port, receive)
    }

    #[test]
    fn a_watcher_sends_one_notice_per_new_digest_and_applies_nothing() {
        let (port, notices) = webhook_receiver();
        let mut t = Update::new(
            "upd-notice",
            &env().registry,
            &format!("    notify_only: true\nnotify:\n  - url: http://127.0.0.1:{port}/hook\n"),
        );
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-notice", &[]);
        let old_id = inspect(&name)["Id"].as_str().unwrap().to_owned();
        t.publish_upstream(V2, &v1);

        let out = t.run();
        out.code(0);
        let report = out.json();
        assert_no_update(&report);
        assert_eq!(single(&report, "notify")["status"], "done", "{report}");
        let notice = notices
            .recv_timeout(Duration::from_secs(10))
            .expect("a notice");
        assert_eq!(notice["event"], "new_image", "{notice}");
        assert_eq!(notice["reference"], t.reference.as_str(), "{notice}");
        assert_eq!(notice["containers"][0], name.as_str(), "{notice}");
        let first_digest = notice["digest"].as_str().unwrap().to_owned();
        assert!(
            notice["text"].as_str().unwrap().ends_with("; eligible now"),
            "{notice}"
        );
        assert_eq!(inspect(&name)["Id"], old_id.as_str(), "nothing applied");

        // The same digest: no notice again.
        let out = t.run();
        out.code(0);
        assert!(!kinds(&out.json()).contains(&"notify"), "{}", out.json());
        assert!(
            notices.recv_timeout(Duration::from_secs(2)).is_err(),
            "a notice is never repeated"
        );

        // A newer digest: one more.
        t.publish_upstream(V3, &v1);
        t.run().code(0);
        let notice = notices
            .recv_timeout(Duration::from_secs(10))
            .expect("a notice for the newer digest");
        assert_ne!(notice["digest"], first_digest.as_str(), "{notice}");
        assert_eq!(inspect(&name)["Id"], old_id.as_str());
    }

    #[test]
    fn a_daemon_500_on_the_replacements_start_records_nothing_and_the_next_run_updates() {
        use swab_testkit::fault_proxy::Fault;
        let mut t = Update::new("upd-fault", &env().registry, "");
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-fault", &[]);
        let old_id = inspect(&name)["Id"].as_str().unwrap().to_owned();
        let v2 = t.publish_upstream(V2, &v1);
        let state = t.state.path().join("state.json");
        // The first start of the run is the replacement's (the old container is stopped).
        let proxy = t.fault_proxy(
            vec![Fault::answer(
                "POST",
                "/start",
                500,
                "injected fault: the daemon is having a bad day",
            )],
            Duration::ZERO,
        );
        let out = t.run_via(&proxy.host(), &[]);
        out.code(1);
        let report = out.json();
        let recreate = single(&report, "recreate_container");
        assert_eq!(recreate["status"], "rolled_back", "{report}");
        assert!(
            recreate["error"]
                .as_str()
                .unwrap()
                .contains("injected fault: the daemon is having a bad day"),
            "{report}"
        );
        assert_eq!(proxy.pending(), 0, "the fault fired: {:?}", proxy.seen());
        assert_eq!(inspect(&name)["Id"], old_id.as_str(), "rolled back");
        let written = std::fs::read_to_string(&state).unwrap();
        assert!(
            !written.contains("rolled_back"),
            "a daemon error is not held against the image: {written}"
        );
        // The next run (straight to the daemon) updates.
        let out = t.run();
        out.code(0);
        assert_eq!(single(&out.json(), "recreate_container")["status"], "done");
        assert_eq!(inspect(&name)["Image"], v2.as_str());
    }

    /// Each call an update makes meets each fault in turn (answered 500, dropped before the
    /// daemon saw it, done by the daemon with the answer lost, done by the daemon after swab
    /// timed out): the JSON report parses, the container is never lost (it runs, old or new, with its data, and nothing is left
    /// parked once the next run recovered), and a clean rerun ends updated.
    #[test]
    fn faults_during_an_update_never_lose_the_container_and_a_rerun_converges() {
        use swab_testkit::fault_proxy::{Fault, Mode};
        const LATE: Duration = Duration::from_secs(3);
        let calls = [
            ("POST", "/images/create"),
            ("POST", "/tag"),
            ("POST", "/stop"),
            ("POST", "/update"),
            ("POST", "/rename"),
            ("POST", "/containers/create"),
            ("POST", "/start"),
            ("DELETE", "/containers/"),
        ];
        let modes = [
            Mode::Answer {
                status: 500,
                message: "injected fault".to_owned(),
            },
            Mode::Drop,
            Mode::LoseAnswer,
            // Past swab's `--timeout` below: swab gives up, and the daemon acts a second
            // later, while swab rolls back or after it has exited.
            Mode::Delay(LATE),
        ];
        for (method, path) in calls {
            for mode in modes.clone() {
                let case = format!("{mode:?} on {method} {path}");
                eprintln!("case: {case}");
                let mut t = Update::new("upd-faults", &env().registry, "");
                let v1 = t.publish(V1);
                let name =
                    t.run_container("swab-upd-faults", &["-v", "/data", "--restart", "always"]);
                env().cli(&["exec", &name, "sh", "-c", "echo kept > /data/f"]);
                let old = inspect(&name);
                let old_id = old["Id"].as_str().unwrap().to_owned();
                t.cleanup.volumes.push(data_volume(&old));
                let v2 = t.publish_upstream(V2, &v1);
                let fault = Fault::new(method, path, mode.clone());
                let proxy = t.fault_proxy(vec![fault], Duration::ZERO);
                let late = matches!(mode, Mode::Delay(_));
                let global: &[&str] = if late { &["--timeout", "2s"] } else { &[] };
                let out = t.run_via(&proxy.host(), global);
                if late {
                    // Let the late call land before judging what it left.
                    std::thread::sleep(LATE);
                }
                assert_eq!(
                    proxy.pending(),
                    0,
                    "{case}: the fault fired: {:?}",
                    proxy.seen()
                );
                let report = out.json();
                assert!(
                    report.get("actions").is_some() || report.get("error").is_some(),
                    "{case}: {report}"
                );
                // Whatever happened, the container is there and runs, with its data: under
                // its name, or, when a rename landed after swab gave up on it, as the old
                // container under the name it was to be parked under (the next run's
                // recovery renames it back: the journal stays after an unanswered change).
                let by_name = env().try_cli(&["container", "inspect", &name]).success;
                let holder = if by_name || !late { &name } else { &old_id };
                let now = inspect(holder);
                assert_eq!(now["State"]["Running"], true, "{case}: {report}");
                assert_eq!(
                    env().cli(&["exec", holder, "cat", "/data/f"]),
                    "kept",
                    "{case}"
                );

                // A clean rerun recovers what is left and ends updated, with the restart
                // policy it had (a late policy change undone too).
                let out = t.run();
                out.code(0);
                let now = inspect(&name);
                assert_eq!(now["Image"], v2.as_str(), "{case}: {}", out.json());
                assert_eq!(now["State"]["Running"], true, "{case}");
                assert_eq!(
                    now["HostConfig"]["RestartPolicy"]["Name"], "always",
                    "{case}"
                );
                assert_eq!(
                    env().cli(&["exec", &name, "cat", "/data/f"]),
                    "kept",
                    "{case}"
                );
                t.assert_only_containers(&[&name]);
            }
        }
    }

    /// SIGINT while the pull hangs: swab returns within 2 s, and nothing changed: the
    /// container, the tag, no rollback tag left, no journal.
    #[test]
    fn a_signal_during_a_slow_pull_returns_at_once_and_changes_nothing() {
        use swab_testkit::fault_proxy::{Fault, FaultProxy, Mode};
        let mut t = Update::new("upd-pull-int", &env().registry, "");
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-pull-int", &[]);
        let old_id = inspect(&name)["Id"].as_str().unwrap().to_owned();
        let v2 = t.publish_upstream(V2, &v1);
        let upstream = env().docker_host.trim_start_matches("unix://").to_owned();
        let proxy = FaultProxy::start(
            &env().dir.join(format!("{}.sock", t.test_id)),
            Path::new(&upstream),
            vec![Fault::new("POST", "/images/create", Mode::Hang)],
        );
        let state = t.state.path().join("state.json");
        let mut running = swab()
            .home_file("r.yaml", &t.rules)
            .in_home()
            .args(["-H", &proxy.host(), "-v", "run", "--rules", "r.yaml"])
            .args(["--state", state.to_str().unwrap()])
            .spawn();
        running.wait_for_log("pulling", Duration::from_secs(60));
        // The request is on its way to the (silent) daemon.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while proxy.pending() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            proxy.pending(),
            0,
            "the pull reached the proxy: {:?}",
            proxy.seen()
        );
        let signalled = std::time::Instant::now();
        running.signal(rustix::process::Signal::INT);
        let code = running.wait_exit(Duration::from_secs(30));
        let took = signalled.elapsed();
        let log = running.log();
        assert!(took < Duration::from_secs(2), "took {took:?}:\n{log}");
        assert_eq!(code, 1, "the pull failed:\n{log}");
        assert!(
            log.contains("interrupted by a signal during the pull"),
            "{log}"
        );
        assert_eq!(inspect(&name)["Id"], old_id.as_str());
        assert_eq!(image_id(&t.reference), v1, "the tag did not move");
        assert!(!image_exists(&t.previous_tag()), "no rollback tag left");
        assert!(!image_exists(&v2), "nothing pulled");
        let written = std::fs::read_to_string(&state).unwrap_or_default();
        assert!(!written.contains("in_flight"), "no journal left: {written}");
    }

    /// Loads an image "built" on 2001-01-01 (its config's `created`) as `reference`, from
    /// the busybox rootfs, with `docker load` of a hand-made archive; returns its ID.
    fn load_image_built_long_ago(reference: &str, test_id: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let sha256 = |path: &Path| {
            let out = std::process::Command::new("sha256sum")
                .arg(path)
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()[..64].to_owned()
        };
        std::fs::copy(&env().rootfs, dir.path().join("layer.tar")).unwrap();
        let diff_id = sha256(&dir.path().join("layer.tar"));
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        let config = serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "created": "2001-01-01T00:00:00Z",
            "config": {"Cmd": ["sleep", "303"], "Labels": {"swab-test": test_id, "built": "2001"}},
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
        });
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        let config_name = format!("{}.json", sha256(&dir.path().join("config.json")));
        std::fs::rename(
            dir.path().join("config.json"),
            dir.path().join(&config_name),
        )
        .unwrap();
        let manifest = serde_json::json!([
            {"Config": config_name, "RepoTags": [reference], "Layers": ["layer.tar"]}
        ]);
        std::fs::write(dir.path().join("manifest.json"), manifest.to_string()).unwrap();
        let archive = dir.path().join("image.tar");
        let status = std::process::Command::new("tar")
            .arg("-cf")
            .arg(&archive)
            .arg("-C")
            .arg(dir.path())
            .args(["manifest.json", &config_name, "layer.tar"])
            .status()
            .unwrap();
        assert!(status.success());
        env().cli(&["load", "-q", "-i", archive.to_str().unwrap()]);
        let created = env().cli(&["image", "inspect", "-f", "{{.Created}}", reference]);
        assert!(
            created.starts_with("2001-01-01"),
            "setup: created {created}"
        );
        image_id(reference)
    }

    #[test]
    fn an_image_built_long_ago_but_pushed_now_still_waits_out_the_cooldown() {
        let mut t = Update::new("upd-cool-old", &env().registry, "    min_age: 1h\n");
        let v1 = t.publish(V1);
        let name = t.run_container("swab-upd-cool-old", &[]);
        let old_id = inspect(&name)["Id"].as_str().unwrap().to_owned();
        // Upstream pushes, today, an image whose `created` says 2001.
        let old_build = load_image_built_long_ago(&t.reference, &t.test_id);
        t.cleanup.images.push(old_build.clone());
        env().cli(&["push", &t.reference]);
        env().cli(&["tag", &v1, &t.reference]);
        env().cli(&["rmi", &old_build]);

        let out = t.run();
        out.code(0);
        let report = out.json();
        assert_no_update(&report);
        assert!(
            report["kept"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("new digest") && r.contains("eligible in 1h"))),
            "held back despite its 2001 build date: {report}"
        );
        assert_eq!(inspect(&name)["Id"], old_id.as_str());
    }

    impl Update {
        /// Upstream publishes `tag` of the repository (not pulled here); returns its image ID.
        fn publish_tag(&mut self, tag: &str, changes: &[&str]) -> String {
            let reference = format!("{}:{tag}", self.repo);
            let id = import(&reference, &self.test_id, changes);
            self.cleanup.images.push(id.clone());
            env().cli(&["push", &reference]);
            env().cli(&["rmi", &reference]);
            id
        }

        /// Tag tracking rule lines with `constraint`.
        fn track(&mut self, constraint: &str) {
            let base = self
                .rules
                .split("    track: semver")
                .next()
                .unwrap()
                .to_owned();
            self.rules = format!("{base}    track: semver\n    constraint: \"{constraint}\"\n");
        }
    }

    fn version(v: &str) -> Vec<String> {
        vec![
            format!("ENV VERSION={v}"),
            r#"CMD ["sleep","300"]"#.to_owned(),
        ]
    }

    fn published(t: &mut Update, tags: &[&str]) -> Vec<String> {
        tags.iter()
            .map(|tag| {
                let changes = version(tag);
                let changes: Vec<&str> = changes.iter().map(String::as_str).collect();
                t.publish_tag(tag, &changes)
            })
            .collect()
    }

    /// With tags 1.25.1 (running), 1.25.3, 1.26.0 and 2.0.0-rc1 on the registry: `~1.25`
    /// moves the container to 1.25.3 (the old tag stays on the old image, the rollback
    /// tag keeps it), `^1` then to 1.26.0, `>=1` finds nothing newer (never the rc), and
    /// `swab rollback` goes back one step.
    #[test]
    fn tag_tracking_moves_within_the_constraint_and_never_to_a_pre_release() {
        let mut t = Update::new("upd-track", &env().registry, "");
        t.reference = format!("{}:1.25.1", t.repo);
        let changes = version("1.25.1");
        let changes: Vec<&str> = changes.iter().map(String::as_str).collect();
        let v1 = t.publish(&changes);
        let name = t.run_container("swab-upd-track", &[]);
        let ids = published(&mut t, &["1.25.3", "1.26.0", "2.0.0-rc1"]);
        let repo = t.repo.clone();
        let tag = |tag: &str| format!("{repo}:{tag}");
        t.track("~1.25");

        let out = t.swab(&["updates", "--rules", "r.yaml", "--format", "json"]);
        out.code(0);
        let updates = out.json();
        let row = &updates["references"][0];
        assert_eq!(row["status"], "outdated", "{updates}");
        assert_eq!(row["target"], tag("1.25.3").as_str(), "{updates}");
        assert_eq!(
            row["not_allowed"],
            serde_json::json!(["1.26.0"]),
            "{updates}"
        );

        let out = t.run();
        out.code(0);
        let report = out.json();
        assert_eq!(
            kinds(&report),
            ["tag_image", "pull_image", "recreate_container"],
            "{report}"
        );
        assert_eq!(
            single(&report, "pull_image")["name"],
            tag("1.25.3").as_str()
        );
        let now = inspect(&name);
        assert_eq!(now["Config"]["Image"], tag("1.25.3").as_str());
        assert_eq!(now["Image"], ids[0].as_str());
        assert_eq!(now["State"]["Running"], true);
        assert_eq!(
            now["Config"]["Labels"]["swab.tracked-from"],
            t.reference.as_str()
        );
        assert_eq!(image_id(&t.reference), v1, "the old tag never moves");
        assert_eq!(image_id(&t.previous_tag()), v1, "the rollback tag keeps it");

        // Tracked again, the next run has nothing newer within ~1.25.
        let out = t.run();
        out.code(0);
        assert_no_update(&out.json());

        t.track("^1");
        t.run().code(0);
        let now = inspect(&name);
        assert_eq!(
            now["Config"]["Image"],
            tag("1.26.0").as_str(),
            "^1 picks 1.26.0"
        );
        assert_eq!(now["Image"], ids[1].as_str());

        t.track(">=1");
        let out = t.run();
        out.code(0);
        assert_no_update(&out.json());
        assert_eq!(
            inspect(&name)["Config"]["Image"],
            tag("1.26.0").as_str(),
            "never the rc"
        );

        // Back one step: to 1.25.3, where it came from.
        t.swab(&["rollback", &name]).code(0);
        let now = inspect(&name);
        assert_eq!(now["Config"]["Image"], tag("1.25.3").as_str());
        assert_eq!(now["Image"], ids[0].as_str());
        assert_eq!(now["State"]["Running"], true);
        assert_eq!(now["Config"]["Labels"].get("swab.tracked-from"), None);
        t.assert_only_containers(&[&name]);
        // Rolled back by hand: 1.26.0 is not brought straight back.
        let out = t.run();
        out.code(0);
        assert_no_update(&out.json());
        assert_eq!(inspect(&name)["Config"]["Image"], tag("1.25.3").as_str());
    }

    /// `tag_pattern` keeps the variant: from 1.25.1-alpine, `~1.25` with
    /// `^(\d+\.\d+\.\d+)-alpine$` picks 1.25.3-alpine, not the plain 1.25.4.
    #[test]
    fn a_tag_pattern_keeps_the_variant() {
        let mut t = Update::new(
            "upd-track-alpine",
            &env().registry,
            "    track: semver\n    constraint: \"~1.25\"\n    tag_pattern: '^(\\d+\\.\\d+\\.\\d+)-alpine$'\n",
        );
        t.reference = format!("{}:1.25.1-alpine", t.repo);
        let changes = version("1.25.1-alpine");
        let changes: Vec<&str> = changes.iter().map(String::as_str).collect();
        t.publish(&changes);
        let name = t.run_container("swab-upd-track-alpine", &[]);
        let ids = published(&mut t, &["1.25.3-alpine", "1.25.4", "1.26.0-alpine"]);
        t.run().code(0);
        let now = inspect(&name);
        assert_eq!(
            now["Config"]["Image"],
            format!("{}:1.25.3-alpine", t.repo).as_str()
        );
        assert_eq!(now["Image"], ids[0].as_str());
    }

    /// Tag tracking on a Compose service: refused by default (the file would take it back),
    /// and with `compose_file: write` the file is edited (comments and layout kept, a backup
    /// beside it), `compose config` accepts it, the replacement carries Compose's new config
    /// hash so `compose up -d` leaves it alone, and `swab rollback` puts file and container
    /// back the same way.
    #[test]
    fn tag_tracking_edits_a_compose_file_only_when_told_and_compose_up_agrees() {
        let mut t = Update::new("upd-track-cup", &env().registry, "");
        t.reference = format!("{}:1.25.1", t.repo);
        let project = t.test_id.clone();
        let yaml = format!(
            r#"# The shop: web is kept fresh by swab.
name: {project}
services:
  web:
    # pinned by hand until swab tracked it
    image: "{reference}"   # tracked
    command: ["sleep", "300"]
    network_mode: none
    labels: ["{label}"]
    volumes: ["data:/data"]
  worker:
    image: {base}
    command: ["sleep", "300"]
    network_mode: none
    pull_policy: never
    depends_on: [web]
volumes:
  data: {{}}
"#,
            reference = t.reference,
            label = t.label(),
            base = env().image,
        );
        let Some((binary, dir)) = t.compose_project(
            "tag_tracking_edits_a_compose_file_only_when_told_and_compose_up_agrees",
            &yaml,
            &[],
            &["data"],
        ) else {
            return;
        };
        let file = dir.join("compose.yaml");
        let changes = version("1.25.1");
        let changes: Vec<&str> = changes.iter().map(String::as_str).collect();
        let v1 = t.publish(&changes);
        let web = format!("{project}-web-1");
        let worker = format!("{project}-worker-1");
        t.cleanup.containers.extend([web.clone(), worker.clone()]);
        compose(&binary, &dir, &["up", "-d"]);
        env().cli(&["exec", &web, "sh", "-c", "echo kept > /data/f"]);
        let old_id = inspect(&web)["Id"].as_str().unwrap().to_owned();
        let ids = published(&mut t, &["1.25.3"]);
        let new_ref = format!("{}:1.25.3", t.repo);
        t.track("~1.25");

        // Refused: the file names 1.25.1.
        let out = t.run();
        out.code(0);
        let report = out.json();
        assert_no_update(&report);
        let kept = report["kept"].to_string();
        assert!(
            kept.contains("is a Compose service") && kept.contains("compose_file: write"),
            "{report}"
        );
        assert_eq!(inspect(&web)["Id"], old_id.as_str());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), yaml);

        // Allowed: the file is edited and the container moved.
        t.rules.push_str("    compose_file: write\n");
        let out = t.run();
        out.code(0);
        let report = out.json();
        assert_eq!(
            kinds(&report),
            [
                "tag_image",
                "pull_image",
                "edit_compose_file",
                "recreate_container"
            ],
            "{report}"
        );
        assert_eq!(
            single(&report, "edit_compose_file")["status"],
            "done",
            "{report}"
        );
        let edited = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            edited,
            yaml.replace(
                &format!("\"{}\"   # tracked", t.reference),
                &format!("\"{new_ref}\"   # tracked")
            ),
            "only the image value changed"
        );
        assert_ne!(edited, yaml);
        assert_eq!(
            std::fs::read_to_string(dir.join("compose.yaml.swab-previous")).unwrap(),
            yaml,
            "the backup is the file as it was"
        );
        compose(&binary, &dir, &["config", "--quiet"]);
        let moved = inspect(&web);
        assert_eq!(moved["Config"]["Image"], new_ref.as_str());
        assert_eq!(moved["Image"], ids[0].as_str());
        let hash = compose(&binary, &dir, &["config", "--hash", "web"]);
        assert_eq!(
            hash,
            format!(
                "web {}",
                moved["Config"]["Labels"]["com.docker.compose.config-hash"]
                    .as_str()
                    .unwrap()
            ),
            "the replacement carries the hash Compose computes for the edited file"
        );

        compose(&binary, &dir, &["up", "-d"]);
        assert_eq!(inspect(&web)["Id"], moved["Id"], "compose up -d is a no-op");
        assert_eq!(env().cli(&["exec", &web, "cat", "/data/f"]), "kept");

        // Back: container and file.
        t.swab(&["rollback", &web]).code(0);
        let back = inspect(&web);
        assert_eq!(back["Config"]["Image"], t.reference.as_str());
        assert_eq!(back["Image"], v1.as_str());
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            yaml,
            "the file is as it was"
        );
        compose(&binary, &dir, &["up", "-d"]);
        assert_eq!(
            inspect(&web)["Id"],
            back["Id"],
            "compose up -d is a no-op after the rollback too"
        );
        assert_eq!(env().cli(&["exec", &web, "cat", "/data/f"]), "kept");

        compose(&binary, &dir, &["down", "-v", "-t", "0"]);
        t.assert_only_containers(&[]);
    }

    /// The kill -9 campaign (`scripts/chaos.sh --tries N`, which sets `SWAB_CHAOS_TRIES`;
    /// ignored in the ordinary runs). Each try: a v1 container with data in a volume and
    /// v2 upstream; `swab run` through a proxy that holds every call 20-60 ms, killed with
    /// SIGKILL at a random moment of the update; then a normal run. Afterwards the
    /// container runs v2 with its data, nothing is left parked, and no other container
    /// exists. The seed is printed (`SWAB_CHAOS_SEED` repeats a campaign).
    #[test]
    #[ignore = "the kill -9 campaign: scripts/chaos.sh --tries N"]
    fn chaos_kill_9_at_random_moments_of_an_update() {
        use swab_testkit::fault_proxy::FaultProxy;
        let tries: usize = std::env::var("SWAB_CHAOS_TRIES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(10);
        let seed: u64 = std::env::var("SWAB_CHAOS_SEED")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| {
                use std::hash::{BuildHasher as _, Hasher as _};
                std::collections::hash_map::RandomState::new()
                    .build_hasher()
                    .finish()
                    % 1_000_000
            });
        eprintln!("chaos: {tries} tries, SWAB_CHAOS_SEED={seed}");
        // xorshift: reproducible from the seed.
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move |below: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % below.max(1)
        };
        let upstream = env().docker_host.trim_start_matches("unix://").to_owned();
        let (mut killed, mut finished_before) = (0, 0);
        for attempt in 1..=tries {
            let mut t = Update::new("upd-chaos", &env().registry, "");
            let v1 = t.publish(V1);
            let name = t.run_container("swab-upd-chaos", &["-v", "/data", "--restart", "always"]);
            env().cli(&["exec", &name, "sh", "-c", "echo kept > /data/f"]);
            t.cleanup.volumes.push(data_volume(&inspect(&name)));
            let v2 = t.publish_upstream(V2, &v1);
            let delay = Duration::from_millis(20 + next(40));
            let proxy = FaultProxy::start_slow(
                &env().dir.join(format!("{}.sock", t.test_id)),
                Path::new(&upstream),
                Vec::new(),
                delay,
            );
            let state = t.state.path().join("state.json");
            let mut running = swab()
                .home_file("r.yaml", &t.rules)
                .in_home()
                .args(["-H", &proxy.host(), "-v", "run", "--rules", "r.yaml"])
                .args(["--state", state.to_str().unwrap()])
                .spawn();
            // An update through this proxy takes a few seconds: kill within them.
            let at = Duration::from_millis(next(6000));
            std::thread::sleep(at);
            let code = running.child_exit();
            if code.is_none() {
                running.signal(rustix::process::Signal::KILL);
                killed += 1;
            } else {
                finished_before += 1;
            }
            let _ = running.wait_exit(Duration::from_secs(30));
            drop(proxy);

            let out = t.run();
            let what = format!(
                "try {attempt} (seed {seed}, kill at {at:?}, {delay:?} per call):\n{}",
                running.log()
            );
            out.code(0);
            let now = inspect(&name);
            assert_eq!(now["Image"], v2.as_str(), "{what}\n{}", out.json());
            assert_eq!(now["State"]["Running"], true, "{what}");
            assert_eq!(
                env().cli(&["exec", &name, "cat", "/data/f"]),
                "kept",
                "{what}"
            );
            t.assert_only_containers(&[&name]);
            eprintln!("chaos: try {attempt} passed (kill at {at:?}, {delay:?} per call)");
        }
        eprintln!(
            "chaos: {tries} tries passed ({killed} killed mid-run, {finished_before} finished before the kill)"
        );
    }
}
