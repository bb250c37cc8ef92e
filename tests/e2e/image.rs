//! The container image: `scripts/build-image.sh` builds `examples/Dockerfile` on the private
//! daemon from the static release binary, with no internet (the daemon has no network at
//! all), and `swab doctor` runs in a container of it against that daemon's mounted socket.
//!
//! The release binary comes from `SWAB_TEST_RELEASE_BIN`, which `scripts/test.sh` sets after
//! building it once (`scripts/build-image.sh --binary-only`): a release build inside a test
//! would take minutes per engine. Without it the test is skipped with that reason, except in
//! CI (`CI` set), where it fails.

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use std::path::Path;
    use std::process::Command;
    use std::time::{Duration, Instant};

    use swab_testkit::{env, skip, unique};

    const TEST: &str =
        "image::with_daemon::the_image_builds_offline_and_runs_doctor_against_the_mounted_socket";

    /// Removes the test's image even when an assertion fails.
    struct RemoveImage(String);

    impl Drop for RemoveImage {
        fn drop(&mut self) {
            let _ = env().try_cli(&["rmi", "--force", &self.0]);
        }
    }

    #[test]
    fn the_image_builds_offline_and_runs_doctor_against_the_mounted_socket() {
        let Some(binary) = std::env::var_os("SWAB_TEST_RELEASE_BIN").filter(|v| !v.is_empty())
        else {
            assert!(
                std::env::var_os("CI").is_none(),
                "SWAB_TEST_RELEASE_BIN is not set: in CI, scripts/test.sh builds the static \
                 release binary and sets it, so the image test must run"
            );
            skip(
                TEST,
                "SWAB_TEST_RELEASE_BIN is not set (scripts/test.sh builds the static release binary and sets it)",
            );
            return;
        };
        let env = env();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let tag = format!("{}:test", unique("swab-image"));
        let _cleanup = RemoveImage(tag.clone());

        // The documented script, as a user runs it, against the private daemon's CLI.
        let config = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let build = Command::new("timeout")
            .arg("300")
            .arg(root.join("scripts/build-image.sh"))
            .arg("--binary")
            .arg(&binary)
            .arg("--docker")
            .arg(&env.docker_cli)
            .args(["-H", &env.docker_host, "--tag", &tag])
            .env("PATH", &env.engine_path)
            .env("DOCKER_CONFIG", config.path())
            .current_dir(&root)
            .output()
            .expect("cannot run scripts/build-image.sh");
        let stderr = String::from_utf8_lossy(&build.stderr);
        assert!(
            build.status.success(),
            "scripts/build-image.sh failed ({}):\n{stderr}",
            build.status
        );
        eprintln!("image built in {:?}", started.elapsed());

        // Small, labelled, and run as the daemon by default.
        let size: u64 = env
            .cli(&["image", "inspect", "-f", "{{.Size}}", &tag])
            .parse()
            .unwrap();
        eprintln!("image size: {size} bytes");
        assert!(size < 40_000_000, "the image is {size} bytes");
        let labels: serde_json::Value = serde_json::from_str(&env.cli(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.Labels}}",
            &tag,
        ]))
        .unwrap();
        for key in [
            "title",
            "description",
            "source",
            "licenses",
            "version",
            "revision",
            "created",
        ] {
            let value = labels[format!("org.opencontainers.image.{key}")]
                .as_str()
                .unwrap_or_default();
            assert!(!value.is_empty(), "label {key} missing: {labels}");
        }
        assert_eq!(
            labels["org.opencontainers.image.version"],
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(
            env.cli(&[
                "image",
                "inspect",
                "-f",
                "{{json .Config.Entrypoint}} {{json .Config.Cmd}}",
                &tag
            ]),
            r#"["/swab"] ["daemon","--rules","/etc/swab/rules.yaml"]"#
        );

        // `swab doctor` in a container, on no network, against the daemon's own socket
        // mounted where swab looks by default.
        let socket = env
            .docker_host
            .strip_prefix("unix://")
            .expect("a unix socket");
        let mount = format!("{socket}:/var/run/docker.sock");
        let run = |args: &[&str]| {
            let mut all = vec!["run", "--rm", "--network", "none", "-v", &mount, &tag];
            all.extend_from_slice(args);
            swab_testkit::Cli::new(&env.docker_host)
                .timeout(Duration::from_secs(120))
                .run(&all)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let out = run(&["doctor"]);
        assert!(
            out.success,
            "doctor failed:\n{}\n{}",
            out.stdout, out.stderr
        );
        let server = env.cli(&["version", "-f", "{{.Server.Version}}"]);
        for line in [
            "endpoint        unix:///var/run/docker.sock".to_owned(),
            "reachable       yes".to_owned(),
            format!("daemon          Docker Engine {server}"),
            format!("image store     {}", env.engine.image_store()),
        ] {
            assert!(
                out.stdout.contains(&line),
                "no `{line}` in:\n{}",
                out.stdout
            );
        }

        // A tcp:// host name resolves in the empty image (static glibc reads /etc/hosts,
        // which Docker writes into every container): the error is the connection's, not DNS.
        let out = run(&["-H", "tcp://localhost:9", "doctor"]);
        assert!(!out.success);
        assert!(
            out.stderr.contains("refused") && !out.stderr.contains("lookup"),
            "{}\n{}",
            out.stdout,
            out.stderr
        );
    }
}
