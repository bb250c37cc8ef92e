//! The harness's own promise: a daemon that accepts a connection and never answers fails a
//! setup call within its deadline, with a message that says so and names the call.
#![cfg(feature = "docker-tests")]

mod with_daemon {
    use std::os::unix::net::UnixListener;
    use std::time::{Duration, Instant};

    use swab_testkit::{Cli, SetupError, env, unique};

    #[test]
    fn a_silent_daemon_fails_setup_within_the_deadline() {
        let path = env().dir.join(format!("{}.sock", unique("silent")));
        let listener = UnixListener::bind(&path).unwrap();
        // Accept every connection and hold it open without a byte of answer.
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                held.push(conn);
            }
        });
        let host = format!("unix://{}", path.display());
        let started = Instant::now();
        let err = Cli::new(&host)
            .timeout(Duration::from_secs(3))
            .run(&["start", "stuck-container"])
            .expect_err("a silent daemon must not look like an answer");
        let took = started.elapsed();
        // 3 s deadline, plus the report's own bounded `docker ps` (10 s) at the most.
        assert!(took < Duration::from_secs(16), "took {took:?}");
        assert!(took >= Duration::from_secs(3), "gave up early: {took:?}");
        let SetupError::Timeout { .. } = &err else {
            panic!("expected a timeout, got {err}");
        };
        let text = err.to_string();
        assert!(
            text.contains("`docker start stuck-container` did not finish within 3s"),
            "{text}"
        );
        assert!(text.contains(&host), "{text}");
        assert!(text.contains("looks hung"), "{text}");
        assert!(
            text.contains("containers: the daemon did not list them within 10s"),
            "{text}"
        );
    }
}
