//! `swab updates` against the private daemon and registry.

use crate::harness::swab;

#[test]
fn an_unreachable_daemon_exits_3() {
    swab()
        .args(["-H", "unix:///nonexistent.sock", "updates"])
        .run()
        .code(3);
}

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use swab_testkit::{env, unique};

    use crate::harness::swab;

    /// The images of `repo` and the containers labelled `swab-test=<test_id>`: this test's
    /// objects only, since the other tests change the daemon meanwhile.
    fn daemon_state(repo: &str, test_id: &str) -> String {
        let images = env().cli(&[
            "images",
            "--no-trunc",
            "--digests",
            "--format",
            "{{.ID}} {{.Repository}}:{{.Tag}} {{.Digest}}",
            repo,
        ]);
        let containers = env().cli(&[
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            &format!("label=swab-test={test_id}"),
            "--format",
            "{{.ID}} {{.Image}} {{.State}} {{.Names}}",
        ]);
        let mut lines: Vec<&str> = images.lines().chain(containers.lines()).collect();
        lines.sort_unstable();
        lines.join("\n")
    }

    #[test]
    fn reports_up_to_date_then_outdated_and_changes_nothing() {
        let test_id = unique("upd");
        let repo = format!("{}/{}", env().registry, unique("swab/upd"));
        let reference = format!("{repo}:v1");
        let v1 = env().import_image(&reference, &[("swab-test", &test_id), ("v", "1")]);
        env().cli(&["push", &reference]);
        let name = unique("swab-upd-web");
        env().cli(&[
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            "autoupdate=true",
            "--label",
            &format!("swab-test={test_id}"),
            &reference,
            "sleep",
            "300",
        ]);
        let rules = format!(
            "version: 1\nrules:\n  - name: u\n    action: update\n    match:\n      labels: [\"swab-test={test_id}\"]\n"
        );
        let check = || {
            let out = swab()
                .home_file("r.yaml", &rules)
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
            out.json()
        };
        let report = check();
        let row = &report["references"][0];
        assert_eq!(row["reference"], reference.as_str(), "{report}");
        assert_eq!(row["status"], "up_to_date", "{report}");
        assert_eq!(row["containers"][0], name.as_str());

        // Upstream publishes v2 under the same tag; locally the tag still names v1.
        env().import_image(&reference, &[("swab-test", &test_id), ("v", "2")]);
        env().cli(&["push", &reference]);
        env().cli(&["tag", &v1, &reference]);
        let before = daemon_state(&repo, &test_id);
        let report = check();
        let row = &report["references"][0];
        assert_eq!(row["status"], "outdated", "{report}");
        assert_ne!(row["remote_digest"], serde_json::Value::Null);
        assert_eq!(
            daemon_state(&repo, &test_id),
            before,
            "swab updates must not change anything"
        );

        let text = swab()
            .home_file("r.yaml", &rules)
            .in_home()
            .args(["-H", &env().docker_host, "updates", "--rules", "r.yaml"])
            .run();
        text.code(0)
            .stdout_contains("outdated")
            .stdout_contains(&format!("used by {name}"));
        env().cli(&["rm", "-f", &name]);
    }
}
