//! Requests to the daemon's listener (on [`swab_testkit::http`]).
#![cfg_attr(not(feature = "docker-tests"), allow(dead_code))]

use std::time::{Duration, Instant};

/// An answer: status, headers and body.
pub type Answer = swab_testkit::http::Response;

/// Sends `method path` to 127.0.0.1:`port`, with a bearer `token` and a JSON `body`.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    send(port, method, path, auth.as_deref(), body)
}

/// Sends `method path` with `authorization` as the whole `Authorization` header.
pub fn send(
    port: u16,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let mut headers = Vec::new();
    if let Some(value) = authorization {
        headers.push(("Authorization", value));
    }
    if method == "POST" {
        headers.push(("Content-Type", "application/json"));
    }
    swab_testkit::http::request(
        &format!("127.0.0.1:{port}"),
        method,
        path,
        &headers,
        body.unwrap_or("").as_bytes(),
    )
}

/// A free port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `GET /api/v1/runs/{id}` until the run is no longer running; returns it.
#[track_caller]
pub fn wait_run(port: u16, token: Option<&str>, id: &str, timeout: Duration) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let answer = request(port, "GET", &format!("/api/v1/runs/{id}"), token, None);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let run = answer.json();
        if run["state"] != "running" {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "run {id} still running after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
