//! swab next to real Compose v2 projects (the engines that have Compose: Docker 28).

#[cfg(feature = "docker-tests")]
pub(crate) mod with_daemon {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use swab_testkit::{env, skip, unique};

    use crate::harness::swab;

    /// `docker-compose` (v2, the standalone binary) against the private daemon, in `dir`.
    pub(crate) fn compose(binary: &Path, dir: &Path, args: &[&str]) -> String {
        let out = Command::new(binary)
            .args(args)
            .current_dir(dir)
            .env("DOCKER_HOST", &env().docker_host)
            .env("DOCKER_CONFIG", env().dir.join("docker-cli-config"))
            .env_remove("DOCKER_CONTEXT")
            .output()
            .expect("cannot run docker-compose");
        assert!(
            out.status.success(),
            "docker-compose {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A prune rule never touches a running Compose service, removes it once stopped, and
    /// Compose brings the project back afterwards as if nothing happened.
    #[test]
    fn compose_services_are_pruned_only_when_stopped_and_compose_recovers() {
        let Some(binary) = env().compose.clone() else {
            skip(
                "compose_services_are_pruned_only_when_stopped_and_compose_recovers",
                "this engine's packages have no Compose v2",
            );
            return;
        };
        let project = unique("swabcompose");
        let dir: PathBuf = env().dir.join(&project);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("compose.yaml"),
            format!(
                "name: {project}\nservices:\n  web:\n    image: {}\n    command: [\"sleep\", \"300\"]\n    network_mode: none\n    pull_policy: never\n",
                env().image
            ),
        )
        .unwrap();
        compose(&binary, &dir, &["up", "-d"]);
        let running = compose(&binary, &dir, &["ps", "-q"]);
        assert_eq!(running.lines().count(), 1, "{running}");
        let rules = format!(
            "version: 1\nrules:\n  - name: c\n    action: prune-containers\n    match:\n      labels: [\"com.docker.compose.project={project}\"]\n"
        );
        let run = || {
            let out = swab()
                .home_file("r.yaml", &rules)
                .in_home()
                .args(["-H", &env().docker_host, "run", "--rules", "r.yaml"])
                .args(["--format", "json"])
                .run();
            out.code(0);
            out.json()
        };
        let report = run();
        assert_eq!(report["actions"], serde_json::json!([]), "{report}");
        assert_eq!(compose(&binary, &dir, &["ps", "-q"]), running);

        compose(&binary, &dir, &["stop", "-t", "0"]);
        let report = run();
        let actions = report["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 1, "{report}");
        assert_eq!(actions[0]["id"], running.as_str());
        assert_eq!(actions[0]["status"], "done");
        assert_eq!(compose(&binary, &dir, &["ps", "-a", "-q"]), "");

        compose(&binary, &dir, &["up", "-d"]);
        assert_eq!(compose(&binary, &dir, &["ps", "-q"]).lines().count(), 1);
        compose(&binary, &dir, &["down", "-t", "0"]);
        assert_eq!(compose(&binary, &dir, &["ps", "-a", "-q"]), "");
    }
}
