//! `swab daemon` against the private test daemon.

use crate::harness::swab;

#[test]
fn check_config_validates_flags_and_rules_without_docker() {
    swab()
        .args(["daemon", "--check-config"])
        .run()
        .code(0)
        .stdout_contains("configuration OK: 2 rules, 2 scheduled");
    swab()
        .home_file("r.yaml", "version: 1\nrules:\n  - name: x\n    action: prune-images\n    schedule: \"99 * * * *\"\n")
        .in_home()
        .args(["daemon", "--rules", "r.yaml", "--check-config"])
        .run()
        .code(2)
        .stderr_contains("r.yaml:5:15");
}

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use std::time::{Duration, Instant};

    use rustix::process::Signal;
    use swab_testkit::{env, unique};

    use crate::harness::{Running, Swab, swab};

    /// Starts `swab daemon` with the run's `r.yaml` and a state file in its temp HOME, plus
    /// `extra` flags, and waits until it says it started.
    fn start_daemon(swab: Swab, host: &str, extra: &[&str]) -> Running {
        let mut args = vec![
            "-H",
            host,
            "daemon",
            "--rules",
            "r.yaml",
            "--state",
            "state.json",
        ];
        args.extend_from_slice(extra);
        let daemon = swab.args(args).spawn();
        daemon.wait_for_log("swab daemon started", Duration::from_secs(10));
        daemon
    }

    fn gone(name: &str) -> bool {
        !env().try_cli(&["inspect", name]).success
    }

    #[track_caller]
    fn wait_gone(name: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if gone(name) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{name} was not removed within {timeout:?}");
    }

    fn rule(name: &str, label: &str) -> String {
        format!(
            "version: 1\nrules:\n  - name: {name}\n    action: prune-containers\n    schedule: \"*/2 * * * * *\"\n    match:\n      labels: [\"{label}\"]\n"
        )
    }

    fn stopped(label: &str) -> String {
        let name = unique("swab-daemon-c");
        env().cli(&[
            "run",
            "--name",
            &name,
            "--label",
            label,
            &env().image,
            "true",
        ]);
        name
    }

    #[test]
    fn a_two_second_rule_removes_matches_within_seconds_and_sigterm_exits_0() {
        let test_id = unique("d-fire");
        let junk = format!("swab-test={test_id}-junk");
        let keep = format!("swab-test={test_id}-keep");
        let mut daemon = start_daemon(
            swab().home_file("r.yaml", &rule("fast", &junk)),
            &env().docker_host,
            &[],
        );
        let victim = stopped(&junk);
        let survivor = stopped(&keep);
        wait_gone(&victim, Duration::from_secs(8));
        std::thread::sleep(Duration::from_secs(3));
        assert!(!gone(&survivor), "a non-matching container must stay");
        let before = Instant::now();
        daemon.signal(Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), 0);
        assert!(
            before.elapsed() < Duration::from_secs(5),
            "SIGTERM took {:?}",
            before.elapsed()
        );
        assert!(daemon.log().contains("swab daemon stopped"));
        env().cli(&["rm", &survivor]);
    }

    #[test]
    fn sighup_applies_a_changed_file_and_keeps_the_old_rules_when_it_is_broken() {
        let test_id = unique("d-hup");
        let a = format!("swab-test={test_id}-a");
        let b = format!("swab-test={test_id}-b");
        let home = swab().home_file("r.yaml", &rule("first", &a));
        let rules_path = home.home_path().join("r.yaml");
        let mut daemon = start_daemon(home, &env().docker_host, &[]);
        let b1 = stopped(&b);
        std::thread::sleep(Duration::from_secs(3));
        assert!(!gone(&b1), "rule `first` does not select label b");

        std::fs::write(&rules_path, rule("second", &b)).unwrap();
        daemon.signal(Signal::HUP);
        daemon.wait_for_log("rules reloaded", Duration::from_secs(5));
        wait_gone(&b1, Duration::from_secs(8));

        std::fs::write(
            &rules_path,
            "version: 1\nrules:\n  - name: Broken Name\n    action: prune-containers\n",
        )
        .unwrap();
        daemon.signal(Signal::HUP);
        daemon.wait_for_log("rules not reloaded", Duration::from_secs(5));
        assert!(
            daemon.log().contains("r.yaml:3:11: rule 'Broken Name'"),
            "{}",
            daemon.log()
        );
        // The previous rules (`second`) keep firing.
        let b2 = stopped(&b);
        wait_gone(&b2, Duration::from_secs(8));

        daemon.signal(Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), 0);
    }

    #[test]
    fn two_runs_at_once_take_turns_and_nothing_is_acted_on_twice() {
        let test_id = unique("d-lock");
        let label = format!("swab-test={test_id}");
        let names: Vec<String> = (0..6).map(|_| stopped(&label)).collect();
        let rules = format!(
            "version: 1\nrules:\n  - name: c\n    action: prune-containers\n    match:\n      labels: [\"{label}\"]\n"
        );
        let state_dir = tempfile::tempdir().unwrap();
        let state = state_dir.path().join("state.json").display().to_string();
        // One lock shared by the holder and both runs.
        let lock = state_dir.path().join("swab.lock").display().to_string();

        // While another swab holds the lock, a run without --wait-lock refuses at once.
        let held = {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(swab_engine::lock::HostLock::acquire(
                std::path::Path::new(&lock),
                Duration::ZERO,
            ))
            .unwrap()
        };
        swab()
            .home_file("r.yaml", &rules)
            .in_home()
            .env("SWAB_LOCK", &lock)
            .args([
                "-H",
                &env().docker_host,
                "run",
                "--rules",
                "r.yaml",
                "--state",
                &state,
            ])
            .run()
            .code(1)
            .stderr_contains("another swab is acting on this host")
            .stderr_contains(&format!("pid {}", std::process::id()));
        assert!(
            names.iter().all(|n| !gone(n)),
            "the refused run must not act"
        );
        drop(held);

        // Two runs started together with --wait-lock: one acts, the other waits, then finds
        // nothing left. Every container is removed exactly once.
        let start = |_| {
            let rules = rules.clone();
            let state = state.clone();
            let lock = lock.clone();
            std::thread::spawn(move || {
                swab()
                    .home_file("r.yaml", &rules)
                    .in_home()
                    .env("SWAB_LOCK", &lock)
                    .args([
                        "-H",
                        &env().docker_host,
                        "run",
                        "--rules",
                        "r.yaml",
                        "--state",
                        &state,
                        "--wait-lock",
                        "60s",
                        "--format",
                        "json",
                    ])
                    .run()
            })
        };
        let runs: Vec<_> = (0..2).map(start).collect();
        let outs: Vec<_> = runs.into_iter().map(|t| t.join().unwrap()).collect();
        let mut removed = 0;
        for out in &outs {
            out.code(0);
            let report = out.json();
            assert_eq!(report["summary"]["failed"], 0, "{report}");
            assert_eq!(report["summary"]["skipped"], 0, "{report}");
            removed += report["summary"]["containers_removed"].as_u64().unwrap();
        }
        assert_eq!(removed, 6);
        assert!(names.iter().all(|n| gone(n)));
    }

    #[test]
    fn notifications_post_the_report_and_a_dead_webhook_never_fails_the_run() {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let receiver = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            reader
                .get_mut()
                .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .unwrap();
            String::from_utf8(body).unwrap()
        });
        let test_id = unique("d-notify");
        let label = format!("swab-test={test_id}");
        let victim = stopped(&label);
        let rules = format!(
            "version: 1\nnotify:\n  - url: http://127.0.0.1:{port}/hook\n  - url: http://127.0.0.1:1/dead\n    format: slack\nrules:\n  - name: c\n    action: prune-containers\n    schedule: \"*/2 * * * * *\"\n    match:\n      labels: [\"{label}\"]\n"
        );
        let mut daemon = start_daemon(swab().home_file("r.yaml", &rules), &env().docker_host, &[]);
        let body = receiver.join().unwrap();
        let report: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(report["summary"]["containers_removed"], 1, "{report}");
        assert_eq!(report["actions"][0]["name"], victim.as_str());
        daemon.wait_for_log("notification not delivered", Duration::from_secs(30));
        daemon.signal(Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), 0);
        assert!(gone(&victim));
    }

    #[test]
    fn the_daemon_reconnects_after_dockerd_restarts_and_keeps_firing() {
        let mut extra = swab_testkit::PrivateDaemon::start();
        let label = "swab-test=restart";
        let run_stopped = |extra: &swab_testkit::PrivateDaemon| {
            let name = unique("swab-restart-c");
            extra.cli(&[
                "run",
                "--name",
                &name,
                "--label",
                label,
                &env().image,
                "true",
            ]);
            name
        };
        let wait_gone_on = |extra: &swab_testkit::PrivateDaemon, name: &str| {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if !extra.try_cli(&["inspect", name]).success {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            panic!("{name} was not removed after the restart");
        };
        let mut daemon = start_daemon(
            swab().home_file("r.yaml", &rule("fast", label)),
            &extra.host,
            &[],
        );
        let first = run_stopped(&extra);
        wait_gone_on(&extra, &first);

        extra.restart();
        let second = run_stopped(&extra);
        wait_gone_on(&extra, &second);
        let log = daemon.log();
        assert!(
            log.contains("event stream") || log.contains("cannot follow Docker events"),
            "the event stream noticed the restart:\n{log}"
        );
        daemon.signal(Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), 0);
    }

    #[test]
    fn metrics_endpoint_and_json_logs() {
        use std::io::{Read, Write};
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let test_id = unique("d-metrics");
        let label = format!("swab-test={test_id}");
        let victim = stopped(&label);
        let mut daemon = start_daemon(
            swab().home_file("r.yaml", &rule("fast", &label)),
            &env().docker_host,
            &[
                "--log-format",
                "json",
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
            ],
        );
        wait_gone(&victim, Duration::from_secs(10));
        daemon.wait_for_log("remove_container", Duration::from_secs(5));
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response.contains("swab_runs_total{result=\"ok\"}"),
            "{response}"
        );
        assert!(
            response.contains("swab_actions_total{action=\"remove_container\",status=\"done\"} 1"),
            "{response}"
        );
        assert!(
            response.contains("swab_rule_last_run_timestamp_seconds{rule=\"fast\"}"),
            "{response}"
        );
        assert!(response.contains("swab_docker_up 1"), "{response}");
        // Every log line is a JSON object, and the action line carries rule, object, status.
        let log = daemon.log();
        for line in log.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(v.get("level").is_some(), "{line}");
        }
        let action = log
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["fields"]["action"] == "remove_container")
            .expect("an action line");
        assert_eq!(action["fields"]["rule"], "fast");
        assert_eq!(action["fields"]["object"], victim.as_str());
        assert_eq!(action["fields"]["status"], "done");
        daemon.signal(Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), 0);
    }

    #[test]
    fn sigterm_while_waiting_for_the_host_lock_exits_promptly_without_acting() {
        let test_id = unique("d-lockwait");
        let label = format!("swab-test={test_id}");
        let victim = stopped(&label);
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("swab.lock");
        let held = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(swab_engine::lock::HostLock::acquire(&lock, Duration::ZERO))
            .unwrap();
        let mut daemon = start_daemon(
            swab()
                .home_file("r.yaml", &rule("fast", &label))
                .env("SWAB_LOCK", lock.display().to_string()),
            &env().docker_host,
            &["-vv", "--run-on-start"],
        );
        daemon.wait_for_log(
            "waiting for another swab to finish",
            Duration::from_secs(10),
        );
        let before = Instant::now();
        daemon.signal(Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), 0);
        assert!(
            before.elapsed() < Duration::from_secs(3),
            "took {:?}",
            before.elapsed()
        );
        assert!(
            daemon
                .log()
                .contains("stopping while waiting for the host lock"),
            "{}",
            daemon.log()
        );
        assert!(!gone(&victim), "nothing may be acted on without the lock");
        drop(held);
        env().cli(&["rm", &victim]);
    }
}
