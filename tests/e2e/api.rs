//! The daemon's HTTP API: flags, auth on every route, runs started through it, 409 on a
//! held lock, the rate limit on wrong tokens, and the routes `docs/api.yaml` documents.

use crate::harness::swab;

#[test]
fn the_api_needs_the_metrics_listener_and_a_real_token() {
    swab()
        .args(["-H", "unix:///nonexistent.sock", "daemon", "--api"])
        .run()
        .code(2)
        .stderr_contains("--metrics-addr");
    swab()
        .home_file("token", "short\n")
        .in_home()
        .args([
            "-H",
            "unix:///nonexistent.sock",
            "daemon",
            "--metrics-addr",
            "127.0.0.1:0",
            "--api",
            "--api-token-file",
            "token",
        ])
        .run()
        .code(2)
        .stderr_contains("at least 16 characters");
}

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use rustix::process::Signal;
    use swab_testkit::{env, unique};

    use crate::harness::{Running, swab};
    use crate::http::{free_port, request, wait_run};

    const TOKEN: &str = "e2e-token-5f1c0a9b7d3e4f21";

    /// A daemon with `--api` on loopback `port`, the token in a file, `rules` in r.yaml,
    /// logging at -vvv; `env` extra environment.
    fn api_daemon(rules: &str, port: u16, extra: &[&str], envs: &[(&str, String)]) -> Running {
        let mut cmd = swab()
            .home_file("r.yaml", rules)
            .home_file("token", &format!("{TOKEN}\n"));
        for (k, v) in envs {
            cmd = cmd.env(k, v);
        }
        let mut args = vec![
            "-vvv".to_owned(),
            "-H".to_owned(),
            env().docker_host.clone(),
            "daemon".to_owned(),
            "--rules".to_owned(),
            "r.yaml".to_owned(),
            "--state".to_owned(),
            "state.json".to_owned(),
            "--metrics-addr".to_owned(),
            format!("127.0.0.1:{port}"),
            "--api".to_owned(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let daemon = cmd.args(args).spawn();
        daemon.wait_for_log("swab daemon started", Duration::from_secs(10));
        daemon.wait_for_log("API on http://", Duration::from_secs(10));
        daemon
    }

    /// A prune rule over containers labelled `label`, scheduled once a year (it never fires
    /// during the test).
    fn rules(label: &str) -> String {
        format!(
            "version: 1\nrules:\n  - name: sweep\n    action: prune-containers\n    schedule: \"0 0 1 1 *\"\n    match:\n      labels: [\"{label}\"]\n"
        )
    }

    /// Every (METHOD, path template, concrete path) `docs/api.yaml` documents.
    fn documented_routes() -> Vec<(String, String, String)> {
        let doc: serde_json::Value =
            serde_saphyr::from_str(include_str!("../../docs/api.yaml")).unwrap();
        let mut routes = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let concrete = path
                .replace("{id}", "20261129T000000Z-0000")
                .replace("{name}", "x");
            for method in item.as_object().unwrap().keys() {
                routes.push((method.to_uppercase(), path.clone(), concrete.clone()));
            }
        }
        routes
    }

    fn exited(label: &str) -> String {
        let name = unique("swab-e2e-api");
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

    /// Auth on every route; a run started through the API removes what `swab run` would
    /// and is in the history; the documented routes are the served ones; the token is never
    /// logged; and wrong tokens are rate-limited.
    #[test]
    fn every_route_with_auth_a_run_through_the_api_and_the_rate_limit() {
        let label = format!("swab-test={}", unique("e2e-api"));
        let port = free_port();
        let mut daemon = api_daemon(&rules(&label), port, &["--api-token-file", "token"], &[]);
        let victim = exited(&label);

        // Reads on loopback need no token, but a wrong one is refused.
        let status = request(port, "GET", "/api/v1/status", None, None);
        assert_eq!(status.status, 200, "{}", status.body);
        let status = status.json();
        assert_eq!(status["docker_up"], true);
        assert_eq!(status["rules"][0]["name"], "sweep");
        assert!(status["rules"][0]["next_fire"].as_str().is_some());
        let wrong = request(
            port,
            "GET",
            "/api/v1/status",
            Some("nope-nope-nope-nope"),
            None,
        );
        assert_eq!(wrong.status, 401);
        assert_eq!(
            wrong.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(
            wrong.header("www-authenticate"),
            Some("Bearer realm=\"swab\"")
        );

        // Every POST needs the token.
        for path in [
            "/api/v1/runs",
            "/api/v1/containers/x/update",
            "/api/v1/containers/x/rollback",
        ] {
            let answer = request(port, "POST", path, None, Some("{}"));
            assert_eq!(answer.status, 401, "{path}: {}", answer.body);
            assert_eq!(answer.json()["status"], 401);
        }
        assert!(
            env().try_cli(&["inspect", &victim]).success,
            "nothing ran without the token"
        );

        // A run through the API: 202 with its id, then its report.
        let started = request(
            port,
            "POST",
            "/api/v1/runs",
            Some(TOKEN),
            Some(r#"{"rules": ["sweep"]}"#),
        );
        assert_eq!(started.status, 202, "{}", started.body);
        let id = started.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(
            started.header("location"),
            Some(format!("/api/v1/runs/{id}").as_str())
        );
        let run = wait_run(port, None, &id, Duration::from_secs(30));
        assert_eq!(run["state"], "done", "{run:#}");
        assert_eq!(run["trigger"], "api");
        assert_eq!(run["report"]["actions"][0]["name"], victim.as_str());
        assert_eq!(run["report"]["actions"][0]["status"], "done");
        assert!(!env().try_cli(&["inspect", &victim]).success);
        // In the history, which `GET /runs` and `swab history` read.
        let runs = request(port, "GET", "/api/v1/runs?limit=5", None, None).json();
        assert_eq!(runs[0]["id"], id.as_str());
        let status = request(port, "GET", "/api/v1/status", None, None).json();
        assert_eq!(status["rules"][0]["last_run"]["id"], id.as_str());

        // Errors are problem objects.
        let bad = request(
            port,
            "POST",
            "/api/v1/runs",
            Some(TOKEN),
            Some(r#"{"rules": ["nope"]}"#),
        );
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert!(bad.json()["detail"].as_str().unwrap().contains("nope"));
        let bad = request(port, "POST", "/api/v1/runs", Some(TOKEN), Some("{not json"));
        assert_eq!(bad.status, 400);
        let missing = request(
            port,
            "POST",
            "/api/v1/containers/no-such-container/update",
            Some(TOKEN),
            None,
        );
        assert_eq!(missing.status, 404, "{}", missing.body);
        assert_eq!(request(port, "GET", "/api/v1/nope", None, None).status, 404);
        let wrong_method = request(port, "DELETE", "/api/v1/runs", Some(TOKEN), None);
        assert_eq!(wrong_method.status, 405);
        assert_eq!(wrong_method.header("allow"), Some("GET, POST"));

        // Every documented route is served (the router's own 404 says "not found").
        let mut documented = BTreeSet::new();
        for (method, path, concrete) in documented_routes() {
            let body = if path.contains("/containers/") {
                "{}"
            } else {
                r#"{"dry_run": true}"#
            };
            let answer = request(port, &method, &concrete, Some(TOKEN), Some(body));
            assert_ne!(answer.status, 405, "{method} {path}: {}", answer.body);
            if answer.status == 404 {
                assert_ne!(
                    answer.json()["title"],
                    "not found",
                    "{method} {path} is not served"
                );
            }
            documented.insert((method, path));
        }
        assert_eq!(documented.len(), 8, "{documented:?}");

        // The token is never logged, even at -vvv.
        let log = daemon.log();
        assert!(!log.contains(TOKEN), "the token is in the log");
        assert!(log.contains("API request refused"), "{log}");

        // Five wrong tokens (one was sent above), then this address waits, even with the
        // right one.
        for _ in 0..4 {
            let answer = request(
                port,
                "POST",
                "/api/v1/runs",
                Some("wrong-wrong-wrong-wrong"),
                None,
            );
            assert_eq!(answer.status, 401);
        }
        let limited = request(port, "POST", "/api/v1/runs", Some(TOKEN), None);
        assert_eq!(limited.status, 429, "{}", limited.body);
        let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        // /metrics is never limited.
        assert_eq!(request(port, "GET", "/metrics", None, None).status, 200);

        daemon.signal(Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(20)), 0);
    }

    /// A run that must not wait answers 409 while another swab holds the host lock, and runs
    /// once the lock is free; a run that may wait starts when it is free.
    #[test]
    fn a_run_that_must_not_wait_is_a_409_while_the_lock_is_held() {
        let label = format!("swab-test={}", unique("e2e-api-409"));
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("swab.lock");
        let mut daemon = api_daemon(
            &rules(&label),
            port,
            &["--api-token-file", "token", "--wait-lock", "30s"],
            &[("SWAB_LOCK", lock.display().to_string())],
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let held = runtime
            .block_on(swab_engine::lock::HostLock::acquire(&lock, Duration::ZERO))
            .unwrap();
        let victim = exited(&label);
        let refused = request(
            port,
            "POST",
            "/api/v1/runs",
            Some(TOKEN),
            Some(r#"{"wait": false}"#),
        );
        assert_eq!(refused.status, 409, "{}", refused.body);
        assert_eq!(refused.json()["title"], "a run is in progress");
        // Waiting: accepted now, run when the lock is let go.
        let queued = request(port, "POST", "/api/v1/runs", Some(TOKEN), Some("{}"));
        assert_eq!(queued.status, 202, "{}", queued.body);
        let id = queued.json()["id"].as_str().unwrap().to_owned();
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(
            request(port, "GET", &format!("/api/v1/runs/{id}"), None, None).json()["state"],
            "running"
        );
        assert!(
            env().try_cli(&["inspect", &victim]).success,
            "not before the lock is free"
        );
        drop(held);
        let run = wait_run(port, None, &id, Duration::from_secs(30));
        assert_eq!(run["state"], "done", "{run:#}");
        assert!(!env().try_cli(&["inspect", &victim]).success);
        let free = request(
            port,
            "POST",
            "/api/v1/runs",
            Some(TOKEN),
            Some(r#"{"wait": false}"#),
        );
        assert_eq!(free.status, 202, "{}", free.body);
        let id = free.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(
            wait_run(port, None, &id, Duration::from_secs(30))["state"],
            "done"
        );
        daemon.signal(Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(20)), 0);
    }

    /// Bound beyond loopback with no token: every API route and the page answer 403 saying
    /// how to set a token, the daemon warns at start, and /metrics stays open. With a token:
    /// every documented route answers 401 without it or with a wrong one.
    #[test]
    fn beyond_loopback_without_a_token_everything_but_metrics_is_403() {
        let label = format!("swab-test={}", unique("e2e-api-open"));
        let port = free_port();
        let mut daemon = swab()
            .home_file("r.yaml", &rules(&label))
            .args([
                "-H",
                &env().docker_host,
                "daemon",
                "--rules",
                "r.yaml",
                "--state",
                "state.json",
                "--metrics-addr",
                &format!("0.0.0.0:{port}"),
                "--api",
            ])
            .spawn();
        daemon.wait_for_log("swab daemon started", Duration::from_secs(10));
        assert!(daemon.log().contains("no token"), "{}", daemon.log());
        for (method, path) in [
            ("GET", "/"),
            ("GET", "/api/v1/status"),
            ("GET", "/api/v1/runs"),
            ("POST", "/api/v1/runs"),
        ] {
            let answer = request(port, method, path, None, Some("{}"));
            assert_eq!(answer.status, 403, "{method} {path}");
            assert!(
                answer.json()["detail"]
                    .as_str()
                    .unwrap()
                    .contains("--api-token-file")
            );
        }
        assert_eq!(request(port, "GET", "/metrics", None, None).status, 200);
        daemon.signal(Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(20)), 0);

        // With a token, beyond loopback: every documented route needs it, reads too.
        let port = free_port();
        let mut daemon = swab()
            .home_file("r.yaml", &rules(&label))
            .home_file("token", TOKEN)
            .args([
                "-H",
                &env().docker_host,
                "daemon",
                "--rules",
                "r.yaml",
                "--state",
                "state.json",
                "--metrics-addr",
                &format!("0.0.0.0:{port}"),
                "--api",
                "--api-token-file",
                "token",
            ])
            .spawn();
        daemon.wait_for_log("API on http://", Duration::from_secs(10));
        let mut wrong_tokens = 0;
        for (method, path, concrete) in documented_routes() {
            let none = request(port, &method, &concrete, None, Some("{}"));
            assert_eq!(none.status, 401, "{method} {path}: {}", none.body);
            // Four wrong tokens: the fifth would lock this address out (tested above).
            if wrong_tokens < 4 {
                wrong_tokens += 1;
                let wrong = request(
                    port,
                    &method,
                    &concrete,
                    Some("not-the-token-at-all"),
                    Some("{}"),
                );
                assert_eq!(wrong.status, 401, "{method} {path}: {}", wrong.body);
            }
            if method == "GET" {
                let right = request(port, &method, &concrete, Some(TOKEN), None);
                assert!(
                    [200, 404].contains(&right.status)
                        && !right.body.contains("\"title\":\"not found\""),
                    "{method} {path}: {} {}",
                    right.status,
                    right.body
                );
            }
        }
        // A browser opens the page with HTTP Basic, the token as the password.
        let page = request(port, "GET", "/", None, None);
        assert_eq!(
            page.header("www-authenticate"),
            Some("Basic realm=\"swab\", charset=\"UTF-8\"")
        );
        let basic = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{TOKEN}"))
        };
        let page = crate::http::send(port, "GET", "/", Some(&format!("Basic {basic}")), None);
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("data-rule=\"sweep\""), "{}", page.body);
        assert_eq!(request(port, "GET", "/metrics", None, None).status, 200);
        daemon.signal(Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(20)), 0);
    }
}
