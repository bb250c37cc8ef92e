//! `swab plan` and `swab run` through the binary.

use crate::harness::swab;

#[test]
fn unreachable_daemon_exits_3() {
    swab()
        .args(["-H", "unix:///nonexistent/swab-e2e.sock", "plan"])
        .run()
        .code(3)
        .stderr_contains("/nonexistent/swab-e2e.sock");
}

#[test]
fn invalid_rules_exit_2_before_touching_docker() {
    swab()
        .home_file("r.yaml", "version: 2\nrules: []\n")
        .in_home()
        .args(["-H", "unix:///nonexistent.sock", "run", "--rules", "r.yaml"])
        .run()
        .code(2)
        .stderr_contains("r.yaml:1:10");
}

#[test]
fn unknown_rule_name_exits_2_and_lists_the_rules() {
    swab()
        .args(["-H", "unix:///nonexistent.sock", "plan", "--rule", "nope"])
        .run()
        .code(2)
        .stderr_contains("no rule named nope")
        .stderr_contains("old-stopped-containers");
}

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use crate::harness::{insta_filters, swab};
    use swab_testkit::{env, unique};

    fn rules_for(test_id: &str) -> String {
        format!(
            "version: 1\nrules:\n  - name: stopped\n    action: prune-containers\n    match:\n      labels: [\"swab-test={test_id}\"]\n  - name: images\n    action: prune-images\n    match:\n      labels: [\"swab-test={test_id}\"]\n"
        )
    }

    /// The daemon (root) records what it saw used in the shared state file, 0640; a user in
    /// the file's group reads those records in its `swab plan`; a user outside it reads
    /// none; neither writes the file. (`nogroup` stands in for the `swab` group.)
    #[test]
    fn a_non_root_plan_reads_the_daemons_last_used_records() {
        use std::os::unix::fs::PermissionsExt as _;
        let test_id = unique("e2e-shared");
        let name = unique("swab-e2e-shared");
        let label = format!("swab-test={test_id}");
        env().cli(&[
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            &label,
            "--network",
            "none",
            &env().image,
            "sleep",
            "300",
        ]);
        let rules = format!(
            "version: 1\nrules:\n  - name: images\n    action: prune-images\n    match:\n      labels: [\"{label}\"]\n      unused_for: 1h\n"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let shared = dir.path().join("shared.json");
        let rules_file = dir.path().join("r.yaml");
        std::fs::write(&rules_file, &rules).unwrap();
        // The daemon's run, as root: it records the running container's image as used.
        swab()
            .env("SWAB_STATE", shared.display().to_string())
            .env("SWAB_SHARED_STATE", shared.display().to_string())
            .args([
                "-H",
                &env().docker_host,
                "run",
                "--rules",
                rules_file.to_str().unwrap(),
            ])
            .run()
            .code(0);
        let mode = std::fs::metadata(&shared).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let written = std::fs::read(&shared).unwrap();

        // `nobody` reaches the private daemon over its TLS listener, with a copy of the
        // client certificate it can read.
        let certs = dir.path().join("certs");
        std::fs::create_dir(&certs).unwrap();
        for file in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::copy(env().tls_dir.join(file), certs.join(file)).unwrap();
            std::fs::set_permissions(certs.join(file), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        let plan_as_nobody = || {
            let out = std::process::Command::new("setpriv")
                .args([
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "env",
                    "-i",
                ])
                .arg(format!("HOME={}", dir.path().display()))
                .arg(format!("SWAB_SHARED_STATE={}", shared.display()))
                .arg(format!("DOCKER_HOST={}", env().tls_host))
                .arg("DOCKER_TLS_VERIFY=1")
                .arg(format!("DOCKER_CERT_PATH={}", certs.display()))
                .arg(env!("CARGO_BIN_EXE_swab"))
                .args(["-vv", "plan", "--rules", rules_file.to_str().unwrap()])
                .output()
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let chgrp = |group: &str| {
            let ok = std::process::Command::new("chgrp")
                .args([group, shared.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(ok.success());
        };
        chgrp("nogroup");
        let (in_group, in_group_log) = plan_as_nobody();
        chgrp("root");
        let (outside, outside_log) = plan_as_nobody();
        env().try_cli(&["rm", "-f", &name]);

        assert_eq!(in_group, Some(0), "{in_group_log}");
        assert!(
            in_group_log.contains("read the shared last-used records"),
            "{in_group_log}"
        );
        assert!(!in_group_log.contains("images=0"), "{in_group_log}");
        assert_eq!(outside, Some(0), "{outside_log}");
        assert!(
            outside_log.contains("no shared last-used records")
                && outside_log.contains("ermission denied"),
            "{outside_log}"
        );
        assert_eq!(
            std::fs::read(&shared).unwrap(),
            written,
            "never written by them"
        );
    }

    #[test]
    fn plan_changes_nothing_and_run_removes_with_a_json_report() {
        let test_id = unique("e2e-run");
        let name = unique("swab-e2e-stopped");
        env().cli(&[
            "run",
            "--name",
            &name,
            "--label",
            &format!("swab-test={test_id}"),
            &env().image,
            "true",
        ]);
        let repo = unique("swab-e2e-img");
        env().import_image(&format!("{repo}:1"), &[("swab-test", &test_id)]);
        let rules = rules_for(&test_id);

        let plan = swab()
            .home_file("rules.yaml", &rules)
            .in_home()
            .args([
                "-H",
                &env().docker_host,
                "plan",
                "--rules",
                "rules.yaml",
                "--format",
                "json",
            ])
            .run();
        plan.code(0);
        let report = plan.json();
        assert_eq!(report["dry_run"], true);
        assert_eq!(report["actions"].as_array().unwrap().len(), 2);
        assert!(
            report["actions"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["status"] == "planned")
        );
        assert!(
            env().try_cli(&["inspect", &name]).success,
            "plan must not remove anything"
        );

        let out = swab()
            .home_file("rules.yaml", &rules)
            .in_home()
            .env(
                "SWAB_STATE",
                env()
                    .dir
                    .join(format!("{test_id}.json"))
                    .display()
                    .to_string(),
            )
            .args([
                "-H",
                &env().docker_host,
                "run",
                "--rules",
                "rules.yaml",
                "--format",
                "json",
            ])
            .run();
        out.code(0);
        let report = out.json();
        for key in [
            "swab_version",
            "dry_run",
            "host",
            "started_at",
            "finished_at",
            "actions",
            "kept",
            "summary",
        ] {
            assert!(report.get(key).is_some(), "report lacks {key}: {report}");
        }
        assert_eq!(report["dry_run"], false);
        let actions = report["actions"].as_array().unwrap();
        let kinds: Vec<&str> = actions
            .iter()
            .map(|a| a["action"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["remove_container", "remove_image"]);
        for a in actions {
            for key in [
                "rule", "action", "id", "name", "reason", "status", "error", "bytes",
            ] {
                assert!(a.get(key).is_some(), "action lacks {key}: {a}");
            }
            assert_eq!(a["status"], "done");
        }
        let summary = &report["summary"];
        for key in [
            "containers_removed",
            "images_removed",
            "volumes_removed",
            "networks_removed",
            "images_pulled",
            "images_tagged",
            "containers_recreated",
            "containers_restarted",
            "bytes_reclaimed",
            "skipped",
            "failed",
        ] {
            assert!(summary.get(key).is_some(), "summary lacks {key}");
        }
        assert_eq!(summary["containers_removed"], 1);
        assert_eq!(summary["images_removed"], 1);
        assert!(summary["bytes_reclaimed"].as_u64().unwrap() > 0);
        assert!(!env().try_cli(&["inspect", &name]).success);
        assert!(
            env().dir.join(format!("{test_id}.json")).exists(),
            "state file written"
        );
    }

    #[test]
    fn text_report_snapshot() {
        let test_id = unique("e2e-text");
        // Fixed width, so the table's column padding does not depend on the PID.
        let name = format!("swab-e2e-text-{:07}", std::process::id());
        env().cli(&[
            "run",
            "--name",
            &name,
            "--label",
            &format!("swab-test={test_id}"),
            &env().image,
            "true",
        ]);
        let out = swab()
            .home_file("rules.yaml", &rules_for(&test_id))
            .in_home()
            .args([
                "-H",
                &env().docker_host,
                "run",
                "--dry-run",
                "--rules",
                "rules.yaml",
            ])
            .run();
        out.code(0);
        let mut filters = insta_filters();
        filters.push((r"swab-e2e-text-[0-9]+", "[NAME]"));
        filters.push((r"exited [0-9]+s ago", "exited [AGE] ago"));
        insta::with_settings!({ filters => filters }, {
            insta::assert_snapshot!(out.stdout);
        });
        env().cli(&["rm", &name]);
    }
}
