//! Many hosts from one rule file (`hosts:`): the shared test daemon over TCP+TLS and a
//! private daemon of the test's own over its unix socket, cleaned by one `swab run` with a
//! report section each; a host that is down; and the lock on a remote daemon shared by two
//! runs.

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use std::time::{Duration, Instant};

    use serde_json::Value;
    use swab_testkit::{PrivateDaemon, env, unique};

    use crate::harness::swab;

    /// A `hosts:` rule file: `tls` is the shared daemon over TCP+TLS, `local` the private
    /// daemon at `socket`; one rule removes the test's exited containers.
    fn rules(test_id: &str, socket: &str) -> String {
        let tls = env().tls_dir.display();
        format!(
            r#"version: 1
rules:
  - name: exited
    action: prune-containers
    match:
      status: [exited]
      labels: ["swab-test={test_id}"]
hosts:
  - name: tls
    endpoint: {tcp}
    tls:
      ca: {tls}/ca.pem
      cert: {tls}/cert.pem
      key: {tls}/key.pem
    labels: {{site: shared}}
  - name: local
    endpoint: {socket}
    labels: {{site: private}}
"#,
            tcp = env().tls_host,
        )
    }

    /// Creates `n` exited containers labelled `test_id` through `cli`.
    fn exited(cli: &dyn Fn(&[&str]) -> String, test_id: &str, n: usize) {
        let label = format!("swab-test={test_id}");
        for i in 0..n {
            let name = format!("{test_id}-{i}");
            cli(&[
                "run",
                "--name",
                &name,
                "--label",
                &label,
                &env().image,
                "true",
            ]);
        }
    }

    fn count(cli: &dyn Fn(&[&str]) -> String, test_id: &str) -> usize {
        cli(&[
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("label=swab-test={test_id}"),
        ])
        .lines()
        .count()
    }

    fn section<'a>(report: &'a Value, name: &str) -> &'a Value {
        report["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .unwrap_or_else(|| panic!("no section {name}: {report:#}"))
    }

    #[test]
    fn one_run_cleans_two_hosts_one_over_tls_and_a_host_that_is_down_fails_alone() {
        let mut private = PrivateDaemon::start();
        let test_id = unique("fleet");
        let shared_cli = |args: &[&str]| env().cli(args);
        let private_cli = |args: &[&str]| private.cli(args);
        exited(&shared_cli, &test_id, 3);
        exited(&private_cli, &test_id, 2);
        let state = tempfile::tempdir().unwrap();
        let state_file = state.path().join("state.json");
        let private_host = private.host.clone();
        let run = || {
            swab()
                .home_file("r.yaml", &rules(&test_id, &private_host))
                .in_home()
                .args(["run", "--rules", "r.yaml", "--format", "json", "--state"])
                .args([state_file.display().to_string()])
                .run()
        };

        let out = run();
        out.code(0);
        let report = out.json();
        assert_eq!(report["hosts"].as_array().unwrap().len(), 2, "{report:#}");
        let (tls, local) = (section(&report, "tls"), section(&report, "local"));
        assert_eq!(tls["summary"]["containers_removed"], 3, "{report:#}");
        assert_eq!(local["summary"]["containers_removed"], 2, "{report:#}");
        assert_eq!(report["summary"]["containers_removed"], 5);
        assert_eq!(tls["labels"]["site"], "shared");
        assert!(tls["error"].is_null() && local["error"].is_null());
        let ids = [
            tls["daemon_id"].as_str().unwrap(),
            local["daemon_id"].as_str().unwrap(),
        ];
        assert!(!ids[0].is_empty() && ids[0] != ids[1], "{ids:?}");
        assert_eq!(
            (count(&shared_cli, &test_id), count(&private_cli, &test_id)),
            (0, 0)
        );
        // State is kept per daemon, keyed by its ID, each with its run history beside it.
        let hosts_dir = state.path().join("hosts");
        let mut names: Vec<String> = std::fs::read_dir(&hosts_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        // File names keep letters and digits of the ID; the rest becomes `-`.
        let mut expected: Vec<String> = ids
            .iter()
            .map(|id| {
                id.chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect::<String>()
            })
            .flat_map(|id| [format!("{id}.history"), format!("{id}.json")])
            .collect();
        expected.sort();
        assert_eq!(
            names,
            expected,
            "one state file and one history per host in {}",
            hosts_dir.display()
        );
        // No lock is left behind.
        assert!(
            private
                .cli(&["ps", "-a", "-q", "--filter", "label=swab.lock"])
                .trim()
                .is_empty(),
            "the private daemon keeps no lock container"
        );

        // One host down: its section says why, the other is still cleaned, exit 3.
        exited(&shared_cli, &test_id, 2);
        private.stop();
        let out = run();
        out.code(3);
        let report = out.json();
        let (tls, local) = (section(&report, "tls"), section(&report, "local"));
        assert_eq!(tls["summary"]["containers_removed"], 2, "{report:#}");
        assert_eq!(local["error"]["kind"], "docker_unreachable", "{report:#}");
        assert_eq!(local["exit_code"], 3);
        assert!(
            local["summary"].is_null(),
            "no report for a host that is down"
        );
        assert_eq!(report["exit_code"], 3);
        assert_eq!(count(&shared_cli, &test_id), 0);

        // The text report has a section per host, the error in its own.
        exited(&shared_cli, &test_id, 1);
        let out = swab()
            .home_file("r.yaml", &rules(&test_id, &private_host))
            .in_home()
            .args(["plan", "--rules", "r.yaml"])
            .run();
        out.code(3);
        out.stdout_contains("=== host tls (")
            .stdout_contains("=== host local (")
            .stdout_contains("error: cannot reach host local")
            .stdout_contains("2 hosts, 1 without a result: would reclaim");
        // --on picks hosts by name or label; -H is refused next to `hosts:`.
        swab()
            .home_file("r.yaml", &rules(&test_id, &private_host))
            .in_home()
            .args(["plan", "--rules", "r.yaml", "--on", "site=shared"])
            .run()
            .code(0)
            .stdout_contains("=== host tls (");
        swab()
            .home_file("r.yaml", &rules(&test_id, &private_host))
            .in_home()
            .args(["plan", "--rules", "r.yaml", "-H", &env().docker_host])
            .run()
            .code(2)
            .stderr_contains("pick hosts with --on NAME");
        env().cli(&["rm", &format!("{test_id}-0")]);

        // One daemon listed twice is acted on once: the second entry is refused.
        private.restart();
        let twice = format!(
            "version: 1\nrules:\n  - {{name: exited, action: prune-containers, match: {{labels: [\"swab-test={test_id}\"]}}}}\nhosts:\n  - {{name: a, endpoint: \"{private_host}\"}}\n  - {{name: b, endpoint: \"{private_host}\"}}\n"
        );
        let out = swab()
            .home_file("r.yaml", &twice)
            .in_home()
            .args(["plan", "--rules", "r.yaml", "--format", "json"])
            .run();
        out.code(1);
        let report = out.json();
        assert!(section(&report, "a")["error"].is_null(), "{report:#}");
        let refused = section(&report, "b")["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            refused.contains("is the same daemon as host a"),
            "{refused}"
        );
    }

    /// Two controllers on one remote daemon: the lock is on the daemon, so the second waits
    /// for the first (or, without --wait-lock, reports who holds it); every container is
    /// removed exactly once.
    #[test]
    fn two_runs_on_one_remote_host_one_acts_and_the_other_waits_or_names_the_holder() {
        let test_id = unique("fleet-lock");
        let shared_cli = |args: &[&str]| env().cli(args);
        exited(&shared_cli, &test_id, 20);
        let lock_name = unique("swab-lock-fleet");
        let file = rules(&test_id, "unix:///nonexistent/unused.sock");
        let controller = |extra: &[&str]| {
            swab()
                .home_file("r.yaml", &file)
                .in_home()
                .env("SWAB_LOCK_NAME", &lock_name)
                .args([
                    "run", "--rules", "r.yaml", "--format", "json", "--on", "tls",
                ])
                .args(extra.iter().copied())
        };
        // A holder the test controls: a lock with a long lease, as a live swab elsewhere has.
        env().cli(&[
            "create",
            "--name",
            &lock_name,
            "--label",
            "swab.lock=lock",
            "--label",
            "swab.lock.holder=swab on ci-runner-7 pid 4242",
            "--label",
            "swab.lock.lease=3600",
            &env().image,
            "true",
        ]);
        let out = controller(&[]).run();
        out.code(1);
        let report = out.json();
        let tls = section(&report, "tls");
        let message = tls["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("another swab is acting on")
                && message.contains("swab on ci-runner-7 pid 4242"),
            "{message}"
        );
        assert_eq!(
            count(&shared_cli, &test_id),
            20,
            "the refused run acts on nothing"
        );
        env().cli(&["rm", &lock_name]);

        // Two runs at once, both willing to wait: one acts, the other waits for it and finds
        // nothing left.
        let started = Instant::now();
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let run = controller(&["--wait-lock", "2m", "-v"]);
                std::thread::spawn(move || run.run())
            })
            .collect();
        let outs: Vec<_> = runs.into_iter().map(|r| r.join().unwrap()).collect();
        let mut removed: Vec<u64> = outs
            .iter()
            .map(|o| {
                o.code(0);
                section(&o.json(), "tls")["summary"]["containers_removed"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        removed.sort_unstable();
        assert_eq!(removed, [0, 20], "one acted, the other found nothing left");
        assert!(
            outs.iter()
                .any(|o| o.stderr.contains("waiting for another swab to finish")),
            "one of them waited"
        );
        assert_eq!(count(&shared_cli, &test_id), 0);
        assert!(started.elapsed() < Duration::from_secs(120));
        let left = env().cli(&["ps", "-a", "-q", "--filter", &format!("name=^/{lock_name}")]);
        assert!(left.trim().is_empty(), "no lock or beat left: {left}");
    }

    /// The daemon fires each rule on each of its hosts, each host with its own loop: the
    /// hosts' containers go on the first fire, and a host that is down at start is reached
    /// once it is up, without holding up the other.
    #[test]
    fn the_daemon_fires_each_rule_on_each_host_and_waits_for_a_host_that_is_down() {
        let mut private = PrivateDaemon::start();
        let test_id = unique("fleet-daemon");
        let shared_cli = |args: &[&str]| env().cli(args);
        exited(&shared_cli, &test_id, 2);
        exited(&|args: &[&str]| private.cli(args), &test_id, 2);
        private.stop();
        let file = rules(&test_id, &private.host).replace(
            "    action: prune-containers\n",
            "    action: prune-containers\n    schedule: \"*/2 * * * * *\"\n",
        );
        let mut daemon = swab()
            .home_file("r.yaml", &file)
            .in_home()
            .args([
                "daemon",
                "--rules",
                "r.yaml",
                "--state",
                "state.json",
                "--run-on-start",
            ])
            .spawn();
        daemon.wait_for_log("swab daemon started", Duration::from_secs(10));
        daemon.wait_for_log("host unreachable", Duration::from_secs(20));
        let deadline = Instant::now() + Duration::from_secs(30);
        while count(&shared_cli, &test_id) > 0 {
            assert!(
                Instant::now() < deadline,
                "shared host not cleaned:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        // The private host comes up: its loop starts and cleans it.
        private.restart();
        let deadline = Instant::now() + Duration::from_secs(60);
        while count(&|args: &[&str]| private.cli(args), &test_id) > 0 {
            assert!(
                Instant::now() < deadline,
                "private host not cleaned:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        daemon.signal(rustix::process::Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(30)), 0);
        let log = daemon.log();
        assert!(log.contains("host reached"), "{log}");
    }

    /// `swab doctor --rules` and `swab updates` report per host too; a host that is down has
    /// its section and makes the exit code 3.
    #[test]
    fn doctor_and_updates_have_a_section_per_host() {
        let test_id = unique("fleet-doctor");
        let mut file = rules(&test_id, "unix:///nonexistent/swab-fleet-down.sock");
        file = file.replace(
            "rules:\n",
            &format!(
                "rules:\n  - name: fresh\n    action: update\n    match:\n      labels: [\"swab-test={test_id}\"]\n"
            ),
        );
        let out = swab()
            .home_file("r.yaml", &file)
            .in_home()
            .args(["doctor", "--rules", "r.yaml", "--format", "json"])
            .run();
        out.code(3);
        let report = out.json();
        let tls = section(&report, "tls");
        assert_eq!(tls["doctor"]["reachable"], true, "{report:#}");
        assert_eq!(tls["exit_code"], 0);
        assert!(tls["doctor"]["daemon"]["server_version"].is_string());
        assert!(tls["error"].is_null());
        let local = section(&report, "local");
        assert_eq!(local["doctor"]["reachable"], false, "{report:#}");
        assert_eq!(local["error"]["kind"], "docker_unreachable", "{report:#}");
        assert_eq!(local["exit_code"], 3);

        let out = swab()
            .home_file("r.yaml", &file)
            .in_home()
            .args([
                "updates",
                "--rules",
                "r.yaml",
                "--format",
                "json",
                "--state",
                "state.json",
            ])
            .run();
        out.code(3);
        let report = out.json();
        let tls = section(&report, "tls");
        assert!(tls["error"].is_null(), "{report:#}");
        assert_eq!(tls["references"], serde_json::json!([]), "{report:#}");
        assert_eq!(
            section(&report, "local")["error"]["kind"],
            "docker_unreachable"
        );
        let out = swab()
            .home_file("r.yaml", &file)
            .in_home()
            .args(["updates", "--rules", "r.yaml", "--on", "tls"])
            .run();
        out.code(0);
        out.stdout_contains("=== host tls (");
    }
}
