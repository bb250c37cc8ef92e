//! `swab migrate watchtower` against a container set up as a Watchtower would be (the
//! test image with Watchtower's environment and flags: no Watchtower image is needed).

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use swab_testkit::{env, unique};

    use crate::harness::swab;

    /// What `swab migrate watchtower` prints for the container below, with its name
    /// replaced by `WATCHTOWER`.
    const EXPECTED: &str = include_str!("expected/watchtower.yaml");

    #[test]
    fn a_realistic_watchtower_becomes_a_rule_file_that_validates() {
        let name = unique("swab-watchtower");
        let test_id = unique("migrate");
        env().cli(&[
            "create",
            "--name",
            &name,
            "--label",
            &format!("swab-test={test_id}"),
            "-e",
            "WATCHTOWER_CLEANUP=true",
            "-e",
            "WATCHTOWER_SCHEDULE=0 0 4 * * *",
            "-e",
            "WATCHTOWER_TIMEOUT=30s",
            "-e",
            "WATCHTOWER_NOTIFICATION_URL=ntfy://:tk_carried@ntfy.example.com/swab slack://hook-token@swab-test",
            "-e",
            "WATCHTOWER_ROLLING_RESTART=true",
            "-e",
            "WATCHTOWER_LIFECYCLE_HOOKS=1",
            "-e",
            "TZ=Europe/Berlin",
            &env().image,
            "--label-enable",
            "--include-stopped",
            "--scope",
            "prod",
            "--debug",
            "web",
            "db",
        ]);
        let out = swab()
            .args(["-H", &env().docker_host, "migrate", "watchtower", &name])
            .run();
        env().try_cli(&["rm", "-f", &name]);
        out.code(0);
        let printed = out.stdout.replace(&name, "WATCHTOWER");
        assert_eq!(
            printed.trim_end(),
            EXPECTED.trim_end(),
            "printed:\n{printed}"
        );
        assert!(
            !out.stdout.contains("hook-token"),
            "a notification URL swab cannot read is never printed"
        );
        assert!(
            out.stdout
                .contains("- url: \"ntfy://:tk_carried@ntfy.example.com/swab\""),
            "a URL swab reads is carried into `notify:`"
        );

        let validated = swab()
            .home_file("watchtower.yaml", &out.stdout)
            .in_home()
            .args(["validate", "--rules", "watchtower.yaml"])
            .run();
        validated.code(0);
    }
}
