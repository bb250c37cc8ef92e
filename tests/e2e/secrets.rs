//! Secrets never leak: a registry password, an identity token (and the bearer token it buys)
//! and the path and query of a webhook URL appear in no log (text or JSON, at trace level
//! for every crate), no report and no state file, on the success paths and on the error
//! paths (a wrong password, a webhook that refuses, one that is down).
//!
//! Each test also checks that the secret was really used (the registry took the password,
//! the token server got the identity token, the receiver got the request at the secret
//! path), so a run that never touched a secret cannot pass for one that kept it.

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::path::Path;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use serde_json::Value;
    use swab_testkit::{env, unique};

    use crate::harness::{Outcome, Swab, swab};

    /// Removes what a test made, also when an assertion fails half-way: the containers
    /// labelled for it, then its images (by repository and by ID or reference).
    struct Cleanup {
        label: String,
        repos: Vec<String>,
        images: Vec<String>,
    }

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let filter = format!("label={}", self.label);
            let listed = env().try_cli(&["ps", "-aq", "--no-trunc", "--filter", &filter]);
            for c in listed.stdout.lines() {
                env().try_cli(&["rm", "-f", c]);
            }
            let mut images = self.images.clone();
            for repo in &self.repos {
                let listed = env().try_cli(&["images", "-q", "--no-trunc", repo]);
                images.extend(listed.stdout.lines().map(str::to_owned));
            }
            for i in &images {
                env().try_cli(&["rmi", "-f", i]);
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

    /// Publishes two versions of `reference` and leaves this host on the first with the
    /// second upstream only (so an update is a real pull). Returns both image IDs.
    fn publish_two_versions(reference: &str, test_id: &str, cleanup: &mut Cleanup) -> [String; 2] {
        let v1 = import(
            reference,
            test_id,
            &[r#"CMD ["sleep","300"]"#, "LABEL version=1"],
        );
        cleanup.images.push(v1.clone());
        env().cli(&["push", reference]);
        let v2 = import(
            reference,
            test_id,
            &[r#"CMD ["sleep","301"]"#, "LABEL version=2"],
        );
        cleanup.images.push(v2.clone());
        env().cli(&["push", reference]);
        env().cli(&["tag", &v1, reference]);
        env().cli(&["rmi", &v2]);
        [v1, v2]
    }

    /// `docker run -d` of `reference` labelled `label`, on network `none`.
    fn run_container(prefix: &str, label: &str, reference: &str) -> String {
        let name = unique(prefix);
        env().cli(&[
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            label,
            "--network",
            "none",
            reference,
        ]);
        name
    }

    /// Standard base64, as in the docker CLI's `config.json` and Basic headers.
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

    /// The spellings of `secret` to look for: itself, and the part of its base64 (standard
    /// and URL-safe) that is the same whatever surrounds it, at each of the three
    /// alignments. That finds it inside any base64 text: an `auth` entry, a Basic header,
    /// an `X-Registry-Auth` header.
    fn spellings(secret: &str) -> Vec<String> {
        let mut out = vec![secret.to_owned()];
        for (skip, start) in [(0, 0), (1, 2), (2, 3)] {
            let mut bytes = vec![0; skip];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = base64(&bytes);
            let end = bytes.len() / 3 * 4;
            let stable = &encoded[start..end];
            assert!(stable.len() >= 8, "secret {secret:?} too short to look for");
            out.push(stable.to_owned());
            out.push(stable.replace('+', "-").replace('/', "_"));
        }
        out.sort();
        out.dedup();
        out
    }

    /// Every text a run left: its stdout and stderr, and every file in `dir` (the state
    /// file and whatever else swab keeps next to it).
    struct Captured {
        texts: Vec<(String, String)>,
    }

    impl Captured {
        fn new() -> Captured {
            Captured { texts: Vec::new() }
        }

        fn add(&mut self, what: &str, out: &Outcome) {
            self.texts
                .push((format!("{what}: stdout"), out.stdout.clone()));
            self.texts
                .push((format!("{what}: stderr"), out.stderr.clone()));
        }

        fn add_text(&mut self, what: &str, text: String) {
            self.texts.push((what.to_owned(), text));
        }

        fn add_files(&mut self, what: &str, dir: &Path) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    self.add_files(what, &path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    self.texts
                        .push((format!("{what}: {}", path.display()), text));
                }
            }
        }

        /// Panics naming the text and the spelling if any secret shows in any text.
        #[track_caller]
        fn assert_clean(&self, secrets: &[&str]) {
            for secret in secrets {
                for spelling in spellings(secret) {
                    for (what, text) in &self.texts {
                        if let Some(at) = text.find(&spelling) {
                            let from = text[..at].char_indices().rev().nth(300).map_or(0, |c| c.0);
                            let to = (at + spelling.len() + 300).min(text.len());
                            let to = (to..=text.len())
                                .find(|i| text.is_char_boundary(*i))
                                .unwrap();
                            panic!(
                                "{what} holds the secret {secret:?} (as {spelling:?}):\n...{}...",
                                &text[from..to]
                            );
                        }
                    }
                }
            }
        }

        /// Asserts that the capture is not empty: trace logging really was on.
        #[track_caller]
        fn assert_traced(&self, what: &str) {
            let (_, stderr) = self
                .texts
                .iter()
                .find(|(w, _)| w == &format!("{what}: stderr"))
                .unwrap();
            assert!(
                stderr.contains("TRACE") || stderr.contains("\"level\":\"TRACE\""),
                "{what} logged nothing at trace level:\n{stderr}"
            );
        }
    }

    /// One HTTP request as a fake server saw it.
    #[derive(Debug, Clone)]
    struct Request {
        method: String,
        target: String,
        authorization: Option<String>,
        body: String,
    }

    /// Reads one request (headers and a `Content-Length` body); `None` for anything that is
    /// not HTTP/1 (a TLS hello, a closed connection).
    fn read_request(stream: &TcpStream) -> Option<Request> {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let mut parts = line.split_whitespace();
        let method = parts.next()?.to_owned();
        let target = parts.next()?.to_owned();
        let (mut length, mut authorization) = (0, None);
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).ok()? == 0 || header == "\r\n" {
                break;
            }
            let (name, value) = header.split_once(':')?;
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().ok()?,
                "authorization" => authorization = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        Some(Request {
            method,
            target,
            authorization,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    fn respond(mut stream: &TcpStream, status: &str, headers: &[(&str, String)], body: &str) {
        let mut lines = vec![format!("HTTP/1.1 {status}"), "Connection: close".to_owned()];
        lines.extend(
            headers
                .iter()
                .map(|(name, value)| format!("{name}: {value}")),
        );
        if !headers.iter().any(|(n, _)| *n == "Content-Length") {
            lines.push(format!("Content-Length: {}", body.len()));
        }
        let text = format!("{}\r\n\r\n{body}", lines.join("\r\n"));
        let _ = stream.write_all(text.as_bytes());
    }

    /// Serves each connection with `answer` on a thread of its own; returns the port and
    /// every request seen.
    fn serve(
        answer: impl Fn(&TcpStream, &Request, u16) + Send + Sync + 'static,
    ) -> (u16, Arc<Mutex<Vec<Request>>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (answer, seen) = (answer.clone(), seen2.clone());
                std::thread::spawn(move || {
                    if let Some(request) = read_request(&stream) {
                        seen.lock().unwrap().push(request.clone());
                        answer(&stream, &request, port);
                    }
                });
            }
        });
        (port, seen)
    }

    /// A registry with OAuth2 token auth (which the test registries do not have): its token
    /// server (`/token`, same address) trades the refresh token `identity_token` for
    /// `bearer`, and with that the manifest of any tag has the digest `digest`.
    fn token_registry(
        identity_token: &str,
        bearer: &str,
        digest: &str,
    ) -> (u16, Arc<Mutex<Vec<Request>>>) {
        let (identity_token, bearer, digest) = (
            identity_token.to_owned(),
            bearer.to_owned(),
            digest.to_owned(),
        );
        serve(move |stream, request, port| {
            if request.target.starts_with("/token") {
                if request.method == "POST"
                    && request.body.contains("grant_type=refresh_token")
                    && request
                        .body
                        .contains(&format!("refresh_token={identity_token}"))
                {
                    let body = serde_json::json!({
                        "token": bearer, "access_token": bearer, "expires_in": 300
                    });
                    respond(
                        stream,
                        "200 OK",
                        &[("Content-Type", "application/json".to_owned())],
                        &body.to_string(),
                    );
                } else {
                    respond(stream, "401 Unauthorized", &[], "{}");
                }
                return;
            }
            if request.authorization.as_deref() != Some(&format!("Bearer {bearer}")) {
                let challenge =
                    format!(r#"Bearer realm="http://127.0.0.1:{port}/token",service="swab-fake""#);
                respond(
                    stream,
                    "401 Unauthorized",
                    &[("WWW-Authenticate", challenge)],
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                );
                return;
            }
            let manifest_by_tag = request.target.contains("/manifests/")
                && !request.target.contains("/manifests/sha256:");
            if request.method == "HEAD" && manifest_by_tag {
                respond(
                    stream,
                    "200 OK",
                    &[
                        ("Docker-Content-Digest", digest.clone()),
                        (
                            "Content-Type",
                            "application/vnd.docker.distribution.manifest.v2+json".to_owned(),
                        ),
                        ("Content-Length", "500".to_owned()),
                    ],
                    "",
                );
            } else if request.target == "/v2/" {
                respond(stream, "200 OK", &[], "{}");
            } else {
                respond(
                    stream,
                    "404 Not Found",
                    &[("Content-Type", "application/json".to_owned())],
                    r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                );
            }
        })
    }

    /// A webhook receiver: 200 for a path holding `good`, 500 for any other.
    fn webhook_receiver(good: &str) -> (u16, Arc<Mutex<Vec<Request>>>) {
        let good = good.to_owned();
        serve(move |stream, request, _| {
            if request.target.contains(&good) {
                respond(stream, "200 OK", &[], "");
            } else {
                respond(stream, "500 Internal Server Error", &[], "no");
            }
        })
    }

    /// A port nothing listens on.
    fn dead_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    /// `swab -vvv` with trace logging for every crate, `r.yaml` in the working directory,
    /// the daemon, `DOCKER_CONFIG` and the shared state file in `dir`.
    fn traced(rules: &str, docker_config: &Path, dir: &Path) -> Swab {
        swab()
            .home_file("r.yaml", rules)
            .in_home()
            .env("SWAB_LOG", "trace")
            .env("DOCKER_CONFIG", docker_config.to_str().unwrap())
            .env(
                "SWAB_SHARED_STATE",
                dir.join("shared-state.json").to_str().unwrap(),
            )
            .args(["-vvv", "-H", &env().docker_host])
    }

    fn state_arg(dir: &Path) -> [String; 2] {
        [
            "--state".to_owned(),
            dir.join("state.json").to_str().unwrap().to_owned(),
        ]
    }

    fn actions(report: &Value) -> Vec<&Value> {
        report["actions"]
            .as_array()
            .unwrap_or_else(|| panic!("no actions: {report}"))
            .iter()
            .collect()
    }

    fn inspect(container: &str) -> Value {
        let text = env().cli(&["container", "inspect", container]);
        serde_json::from_str::<Value>(&text).unwrap()[0].clone()
    }

    #[test]
    fn registry_password_and_identity_token_never_reach_logs_reports_or_state() {
        env().login_auth_registry();
        let test_id = unique("secrets-reg");
        let label = format!("swab-test={test_id}");
        let reference = format!("{}/swab/{test_id}:live", env().auth_registry);
        let mut cleanup = Cleanup {
            label: label.clone(),
            repos: vec![format!("{}/swab/{test_id}", env().auth_registry)],
            images: Vec::new(),
        };
        let [v1, v2] = publish_two_versions(&reference, &test_id, &mut cleanup);
        let web = run_container("swab-secrets-web", &label, &reference);

        // A second container, from a registry that only takes the identity token, and
        // that says its image is current. The image is one of its own (an image with two
        // names gets the registry digest of either on the containerd store), published
        // once to the plain registry so that it has a registry digest at all.
        let identity_token = format!("idtok-S3CRET-{test_id}");
        let bearer = format!("bearer-S3CRET-{test_id}");
        let published = format!("{}/swab/{test_id}-tok:live", env().registry);
        cleanup
            .repos
            .push(format!("{}/swab/{test_id}-tok", env().registry));
        let v0 = import(
            &published,
            &test_id,
            &[r#"CMD ["sleep","299"]"#, "LABEL version=0"],
        );
        cleanup.images.push(v0.clone());
        env().cli(&["push", &published]);
        let v0_digest = {
            let digests = env().cli(&["image", "inspect", "-f", "{{json .RepoDigests}}", &v0]);
            let digests: Vec<String> = serde_json::from_str(&digests).unwrap();
            digests[0].rsplit_once('@').unwrap().1.to_owned()
        };
        let (port, seen) = token_registry(&identity_token, &bearer, &v0_digest);
        let token_host = format!("127.0.0.1:{port}");
        let token_reference = format!("{token_host}/swab/{test_id}:live");
        env().cli(&["tag", &v0, &token_reference]);
        cleanup.images.push(token_reference.clone());
        let api = run_container("swab-secrets-api", &label, &token_reference);

        let password = env().registry_password.clone();
        let user_password = format!("{}:{password}", env().registry_user);
        let config = |password: &str| {
            let dir = tempfile::tempdir().unwrap();
            let config = serde_json::json!({"auths": {
                env().auth_registry.as_str(): {
                    "auth": base64(format!("{}:{password}", env().registry_user).as_bytes())
                },
                token_host.as_str(): {"identitytoken": identity_token},
            }});
            std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
            dir
        };
        let right = config(&password);
        let wrong_password = format!("pw-WRONG-S3CRET-{test_id}");
        let wrong = config(&wrong_password);
        let rules = format!(
            "version: 1\nrules:\n  - name: u\n    action: update\n    match:\n      labels: [\"{label}\"]\n    health_timeout: 2s\n    stop_timeout: 1s\n"
        );
        let state = tempfile::tempdir().unwrap();
        let wrong_state = tempfile::tempdir().unwrap();
        let mut captured = Captured::new();

        // A wrong password: the look-up fails, and says so without the password.
        let out = traced(&rules, wrong.path(), wrong_state.path())
            .args(["updates", "--rules", "r.yaml", "--format", "json"])
            .args(state_arg(wrong_state.path()))
            .run();
        captured.add("updates with a wrong password", &out);
        let said = out.stdout.to_lowercase();
        assert!(
            said.contains("credentials were rejected"),
            "the report says the credentials were refused:\n{}",
            out.stdout
        );
        let out = traced(&rules, wrong.path(), wrong_state.path())
            .args(["run", "--rules", "r.yaml", "--format", "json"])
            .args(state_arg(wrong_state.path()))
            .run();
        out.code(1);
        captured.add("run with a wrong password", &out);
        assert_eq!(inspect(&web)["Image"], v1.as_str(), "a failed run updated");

        // The right one: `updates` sees the new version and the token registry's answer.
        let out = traced(&rules, right.path(), state.path())
            .args(["updates", "--rules", "r.yaml", "--format", "json"])
            .args(state_arg(state.path()))
            .run();
        out.code(0);
        captured.add("updates", &out);
        let report = out.json();
        let references = report["references"].as_array().unwrap();
        let status = |r: &str| {
            references
                .iter()
                .find(|e| e["reference"] == r)
                .unwrap_or_else(|| panic!("{r} not in {report}"))["status"]
                .clone()
        };
        assert_eq!(status(&reference), "outdated", "{report}");
        assert_eq!(status(&token_reference), "up_to_date", "{report}");

        let out = traced(&rules, right.path(), state.path())
            .args(["plan", "--rules", "r.yaml"])
            .args(state_arg(state.path()))
            .run();
        out.code(0);
        captured.add("plan", &out);

        // The update itself, logged as JSON: the daemon pulls with the credentials.
        let out = traced(&rules, right.path(), state.path())
            .args([
                "--log-format",
                "json",
                "run",
                "--rules",
                "r.yaml",
                "--format",
                "json",
            ])
            .args(state_arg(state.path()))
            .run();
        out.code(0);
        captured.add("run", &out);
        let report = out.json();
        let recreated: Vec<&Value> = actions(&report)
            .into_iter()
            .filter(|a| a["action"] == "recreate_container")
            .collect();
        assert_eq!(recreated.len(), 1, "{report}");
        assert_eq!(recreated[0]["status"], "done", "{report}");
        assert_eq!(
            inspect(&web)["Image"],
            v2.as_str(),
            "updated with the password"
        );
        assert_eq!(inspect(&api)["Image"], v0.as_str(), "current: left alone");

        for format in ["text", "json"] {
            let out = traced(&rules, right.path(), state.path())
                .args(["doctor", "--format", format])
                .run();
            out.code(0);
            captured.add(&format!("doctor --format {format}"), &out);
        }

        // Not vacuous: every run traced, the token server got the identity token, and the
        // registry got requests with the bearer token it bought.
        for what in ["updates", "plan", "run", "run with a wrong password"] {
            captured.assert_traced(what);
        }
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.iter()
                .any(|r| r.target.starts_with("/token") && r.body.contains(&identity_token)),
            "the token server never got the identity token: {seen:#?}"
        );
        assert!(
            seen.iter().any(|r| r.target.contains("/manifests/")
                && r.authorization == Some(format!("Bearer {bearer}"))),
            "the registry never got the bearer token: {seen:#?}"
        );
        captured.add_files("state dir", state.path());
        captured.add_files("state dir of the wrong password", wrong_state.path());
        assert!(
            captured
                .texts
                .iter()
                .any(|(what, _)| what.ends_with("state.json")),
            "no state file was written"
        );
        captured.assert_clean(&[
            &password,
            &user_password,
            &wrong_password,
            &identity_token,
            &bearer,
        ]);
    }

    #[test]
    fn webhook_url_paths_never_reach_logs_reports_or_state() {
        let test_id = unique("secrets-hook");
        let label = format!("swab-test={test_id}");
        let reference = format!("{}/swab/{test_id}:live", env().registry);
        let mut cleanup = Cleanup {
            label: label.clone(),
            repos: vec![format!("{}/swab/{test_id}", env().registry)],
            images: Vec::new(),
        };
        publish_two_versions(&reference, &test_id, &mut cleanup);
        run_container("swab-secrets-watched", &label, &reference);

        let good = format!("hookpath-S3CRET-{test_id}");
        let query = format!("query-S3CRET-{test_id}");
        let refused = format!("refusedpath-S3CRET-{test_id}");
        let dead = format!("deadpath-S3CRET-{test_id}");
        let (port, seen) = webhook_receiver(&good);
        let notify = format!(
            "notify:\n  - url: http://127.0.0.1:{port}/hooks/{good}?token={query}\n  - url: http://127.0.0.1:{port}/hooks/{refused}\n    format: slack\n  - url: http://127.0.0.1:{}/hooks/{dead}\n",
            dead_port()
        );
        // A watcher: `swab run` sends a notice of the new version to every target.
        let rules = format!(
            "version: 1\n{notify}rules:\n  - name: w\n    action: update\n    notify_only: true\n    match:\n      labels: [\"{label}\"]\n"
        );
        let no_config = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let mut captured = Captured::new();

        let out = traced(&rules, no_config.path(), state.path())
            .args(["validate", "--rules", "r.yaml"])
            .run();
        out.code(0);
        captured.add("validate", &out);
        let out = traced(&rules, no_config.path(), state.path())
            .args(["plan", "--rules", "r.yaml", "--format", "json"])
            .args(state_arg(state.path()))
            .run();
        out.code(0);
        captured.add("plan", &out);

        // Two runs: a notice that a target did not take is sent again by the next one.
        for (what, log_format) in [("run", "text"), ("run with JSON logs", "json")] {
            let out = traced(&rules, no_config.path(), state.path())
                .args(["--log-format", log_format])
                .args(["run", "--rules", "r.yaml", "--format", "json"])
                .args(state_arg(state.path()))
                .run();
            out.code(0);
            captured.add(what, &out);
            let report = out.json();
            let notices: Vec<&Value> = actions(&report)
                .into_iter()
                .filter(|a| a["action"] == "notify")
                .collect();
            assert_eq!(notices.len(), 1, "{report}");
            assert_eq!(notices[0]["status"], "skipped", "{report}");
            assert!(
                notices[0]["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("not delivered")),
                "{report}"
            );
            captured.assert_traced(what);
        }

        // The daemon posts run reports: a prune rule that removes a stopped container.
        let victim = unique("swab-secrets-victim");
        env().cli(&[
            "run",
            "--name",
            &victim,
            "--label",
            &label,
            &env().image,
            "true",
        ]);
        let daemon_rules = format!(
            "version: 1\n{notify}rules:\n  - name: c\n    action: prune-containers\n    schedule: \"0 0 1 1 *\"\n    match:\n      labels: [\"{label}\"]\n"
        );
        let daemon_state = state.path().join("daemon");
        std::fs::create_dir(&daemon_state).unwrap();
        let mut daemon = traced(&daemon_rules, no_config.path(), &daemon_state)
            .args(["daemon", "--rules", "r.yaml", "--run-on-start"])
            .args(state_arg(&daemon_state))
            .spawn();
        daemon.wait_for_log("notification sent", Duration::from_secs(30));
        // The refused and the dead target, each after its retries.
        let deadline = std::time::Instant::now() + Duration::from_secs(40);
        while daemon.log().matches("notification not delivered").count() < 2 {
            assert!(std::time::Instant::now() < deadline, "{}", daemon.log());
            std::thread::sleep(Duration::from_millis(200));
        }
        daemon.signal(rustix::process::Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), 0);
        captured.add_text("daemon log", daemon.log());
        assert!(
            !env().try_cli(&["inspect", &victim]).success,
            "the daemon's run removed nothing"
        );

        // Not vacuous: the receiver got the notices and the report at the secret paths.
        let seen = seen.lock().unwrap().clone();
        let at = |secret: &str| seen.iter().filter(|r| r.target.contains(secret)).count();
        assert_eq!(
            at(&format!("/hooks/{good}?token={query}")),
            3,
            "two notices and a report: {seen:#?}"
        );
        // The same three messages to the target that answers 500, each tried 3 times.
        assert_eq!(at(&format!("/hooks/{refused}")), 9, "{seen:#?}");
        captured.add_files("state dir", state.path());
        assert!(
            captured
                .texts
                .iter()
                .any(|(what, _)| what.ends_with("state.json")),
            "no state file was written"
        );
        captured.assert_clean(&[&good, &query, &refused, &dead]);
    }
}
