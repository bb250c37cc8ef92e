//! `swab history`: what `swab run` records, rotation, and a history that cannot be written.

use crate::harness::swab;

#[test]
fn an_empty_history_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    swab()
        .args(["history", "--state", state.to_str().unwrap()])
        .run()
        .code(0)
        .stdout_contains("no runs recorded in")
        .stdout_contains("state.history");
    swab()
        .args([
            "history",
            "--state",
            state.to_str().unwrap(),
            "--id",
            "nope",
        ])
        .run()
        .code(2)
        .stderr_contains("no run nope");
}

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use crate::harness::swab;
    use swab_testkit::{env, unique};

    /// One exited container with `label`, for a prune rule to remove.
    fn stopped(label: &str) -> String {
        let name = unique("swab-e2e-history");
        env().cli(&[
            "run",
            "--name",
            &name,
            "--label",
            label,
            "--network",
            "none",
            &env().image,
            "true",
        ]);
        name
    }

    fn run(rules: &std::path::Path, state: &std::path::Path, extra: &[&str]) -> i32 {
        let mut args = vec![
            "-H",
            &env().docker_host,
            "run",
            "--rules",
            rules.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        swab().args(args).run().code
    }

    #[test]
    fn three_runs_are_listed_newest_first_and_the_oldest_rotate_out() {
        let label = format!("swab-test={}", unique("e2e-history"));
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("r.yaml");
        std::fs::write(
            &rules,
            format!(
                "version: 1\nrules:\n  - name: stopped\n    action: prune-containers\n    match:\n      labels: [\"{label}\"]\n"
            ),
        )
        .unwrap();
        let state = dir.path().join("state.json");
        let mut removed = Vec::new();
        for _ in 0..3 {
            removed.push(stopped(&label));
            assert_eq!(run(&rules, &state, &[]), 0);
        }
        // A dry run changes nothing and is not recorded.
        assert_eq!(run(&rules, &state, &["--dry-run"]), 0);

        let listed = swab()
            .args([
                "history",
                "--state",
                state.to_str().unwrap(),
                "--format",
                "json",
            ])
            .run();
        let runs = listed.code(0).json();
        let runs = runs.as_array().unwrap();
        assert_eq!(runs.len(), 3, "{runs:#?}");
        // Newest first: each run removed the container made just before it.
        for (run, name) in runs.iter().zip(removed.iter().rev()) {
            assert_eq!(run["trigger"], "cli");
            assert_eq!(run["rules"], serde_json::json!(["stopped"]));
            let actions = run["report"]["actions"].as_array().unwrap();
            assert_eq!(actions.len(), 1, "{run:#}");
            assert_eq!(actions[0]["name"], name.as_str());
            assert_eq!(actions[0]["status"], "done");
        }
        // One run's whole report, by id.
        let id = runs[1]["id"].as_str().unwrap();
        let one = swab()
            .args([
                "history",
                "--state",
                state.to_str().unwrap(),
                "--id",
                id,
                "--format",
                "json",
            ])
            .run();
        assert_eq!(one.code(0).json(), runs[1]);
        let text = swab()
            .args(["history", "--state", state.to_str().unwrap()])
            .run();
        text.code(0)
            .stdout_contains(id)
            .stdout_contains("reclaimed");

        // Keeping 2: the next run's append removes the two oldest.
        let newest = stopped(&label);
        assert_eq!(run(&rules, &state, &["--keep-history", "2"]), 0);
        let runs = swab()
            .args([
                "history",
                "--state",
                state.to_str().unwrap(),
                "--format",
                "json",
            ])
            .run()
            .json();
        let runs = runs.as_array().unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0]["report"]["actions"][0]["name"], newest.as_str());
        assert_eq!(runs[1]["report"]["actions"][0]["name"], removed[2].as_str());
        let files = std::fs::read_dir(dir.path().join("state.history"))
            .unwrap()
            .count();
        assert_eq!(files, 2);
    }

    /// A history that cannot be written (a file where its directory should be) is a
    /// warning: the run still removes what it should and exits 0.
    #[test]
    fn a_history_that_cannot_be_written_never_fails_the_run() {
        let label = format!("swab-test={}", unique("e2e-history-broken"));
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("r.yaml");
        std::fs::write(
            &rules,
            format!(
                "version: 1\nrules:\n  - name: stopped\n    action: prune-containers\n    match:\n      labels: [\"{label}\"]\n"
            ),
        )
        .unwrap();
        let state = dir.path().join("state.json");
        std::fs::write(dir.path().join("state.history"), b"not a directory").unwrap();
        let name = stopped(&label);
        let out = swab()
            .args([
                "-H",
                &env().docker_host,
                "run",
                "--rules",
                rules.to_str().unwrap(),
                "--state",
                state.to_str().unwrap(),
                "--format",
                "json",
            ])
            .run();
        out.code(0)
            .stderr_contains("the run is not recorded in the history");
        assert_eq!(out.json()["summary"]["containers_removed"], 1);
        assert!(!env().try_cli(&["inspect", &name]).success);
    }
}
