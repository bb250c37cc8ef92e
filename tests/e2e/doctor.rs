//! `swab doctor`.

use crate::harness::swab;

#[test]
fn missing_socket_exits_3_and_names_the_path() {
    let out = swab()
        .args([
            "--host",
            "unix:///nonexistent/swab-e2e/docker.sock",
            "doctor",
        ])
        .run();
    out.code(3)
        .stdout_contains("reachable  no")
        .stderr_contains("/nonexistent/swab-e2e/docker.sock")
        .stderr_contains("is the Docker daemon running?");
}

#[test]
fn no_daemon_anywhere_falls_back_to_the_system_socket_or_finds_one() {
    // With a hermetic HOME and no DOCKER_HOST, resolution ends at a known socket location.
    // An empty DOCKER_HOST counts as unset, as in the docker CLI. doctor only reads.
    let out = swab()
        .env("DOCKER_HOST", "")
        .args(["doctor", "--format", "json"])
        .run();
    let json = out.json();
    let source = json["endpoint_source"].as_str().unwrap();
    assert!(
        source.starts_with("default") || source.starts_with("first existing socket"),
        "{source}"
    );
    if json["reachable"] == false {
        out.code(3);
    }
}

#[test]
fn unsupported_host_scheme_is_a_usage_error() {
    swab()
        .args(["-H", "ssh://user@host", "doctor"])
        .run()
        .code(2)
        .stderr_contains("ssh:// hosts are not supported");
}

#[test]
fn unknown_flag_is_a_usage_error() {
    swab().args(["doctor", "--bogus"]).run().code(2);
}

#[test]
fn bad_docker_api_version_is_a_usage_error() {
    swab()
        .args(["-H", "unix:///nonexistent.sock", "doctor"])
        .env("DOCKER_API_VERSION", "one.forty")
        .run()
        .code(2)
        .stderr_contains("DOCKER_API_VERSION");
}

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use super::*;
    use crate::harness::insta_filters;
    use swab_testkit::env;

    #[test]
    fn text_report_against_the_private_daemon() {
        let engine = env().engine;
        let out = swab().args(["-H", &env().docker_host, "doctor"]).run();
        let api = engine.api_version();
        out.code(0)
            .stdout_contains("reachable       yes")
            .stdout_contains(&format!("{api} negotiated (daemon {api}"))
            .stdout_contains(&format!("image store     {}\n", engine.image_store()));
        // A daemon inside swab's API range gets no warning.
        assert!(!out.stdout.contains("warning"), "{}", out.stdout);
        assert!(!out.stderr.contains("warning"), "{}", out.stderr);
        // One snapshot per engine: each pins its own API line, driver and image store.
        insta::with_settings!({ filters => insta_filters(), snapshot_suffix => engine.name() }, {
            insta::assert_snapshot!(out.stdout);
        });
    }

    #[test]
    fn json_report_and_docker_host_env() {
        let out = swab()
            .args(["doctor", "--format", "json"])
            .env("DOCKER_HOST", &env().docker_host)
            .run();
        out.code(0);
        let json = out.json();
        assert_eq!(json["reachable"], true);
        assert_eq!(json["endpoint_source"], "DOCKER_HOST environment variable");
        let engine = env().engine;
        assert_eq!(
            json["daemon"]["api_version"]["negotiated"],
            engine.api_version()
        );
        assert_eq!(json["daemon"]["storage_driver"], engine.storage_driver());
        // On Docker 28 with the containerd store this says `containerd`; on 20.10 `classic`.
        assert_eq!(json["daemon"]["image_store"], engine.image_store());
        assert_eq!(json["warnings"], serde_json::json!([]));
        let root = json["daemon"]["docker_root_dir"].as_str().unwrap();
        assert!(root.starts_with(&env().dir.display().to_string()), "{root}");
        assert!(
            json["daemon"]["reclaimable"]["images_total"]
                .as_i64()
                .unwrap()
                > 0
        );
    }

    #[test]
    fn current_docker_context_from_config_json() {
        let name = "swab-e2e";
        let hash = swab_docker::endpoint::context_dir_name(name);
        let meta = format!(
            r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{}","SkipTLSVerify":false}}}}}}"#,
            env().docker_host
        );
        let out = swab()
            .env("DOCKER_HOST", "")
            .home_file(
                ".docker/config.json",
                &format!(r#"{{"currentContext":"{name}"}}"#),
            )
            .home_file(&format!(".docker/contexts/meta/{hash}/meta.json"), &meta)
            .args(["doctor", "--format", "json"])
            .run();
        out.code(0);
        let json = out.json();
        assert!(
            json["endpoint_source"]
                .as_str()
                .unwrap()
                .starts_with("docker context \"swab-e2e\""),
            "{json}"
        );
        assert_eq!(
            json["daemon"]["api_version"]["negotiated"],
            env().engine.api_version()
        );
    }

    #[test]
    fn tls_endpoint_from_docker_tls_verify() {
        let out = swab()
            .args(["doctor", "--format", "json"])
            .env("DOCKER_HOST", &env().tls_host)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", env().tls_dir.display().to_string())
            .run();
        out.code(0);
        let json = out.json();
        assert!(
            json["endpoint"].as_str().unwrap().ends_with("(TLS)"),
            "{json}"
        );
        assert_eq!(
            json["daemon"]["api_version"]["negotiated"],
            env().engine.api_version()
        );
    }

    #[test]
    fn a_closed_stdout_is_not_an_error() {
        let out = swab()
            .args(["-H", &env().docker_host, "doctor", "--format", "json"])
            .closed_stdout()
            .run();
        out.code(0);
        assert!(!out.stderr.contains("Broken pipe"), "{}", out.stderr);
    }
}
