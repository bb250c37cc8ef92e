//! The client against a tiny hand-written HTTP/1.1 server on 127.0.0.1, for what the
//! private test registries cannot do: bearer token auth, 429 with `Retry-After`, registries
//! that omit `Docker-Content-Digest`, broken answers, hangs.
//!
//! Each test starts its own server on a free port; the server task is aborted when the test
//! drops it, and every connection is closed after one answer.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use swab_reference::ImageRef;
use swab_registry::{
    AuthFailure, CredentialStore, Credentials, Platform, RegistryClient, RegistryError,
    RegistryOptions, media_type,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// Path and query.
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn line(&self) -> String {
        format!("{} {}", self.method, self.target)
    }
}

#[derive(Debug, Clone, Default)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Never answer (until the client gives up).
    hang: bool,
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        ..Reply::default()
    }
}

impl Reply {
    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }
}

type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync;

struct Server {
    addr: String,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Starts a server; `handler` gets each request and how many came before it.
    async fn start(handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = requests.clone();
        let task = tokio::spawn(async move {
            // Bounded: no test makes anywhere near this many requests.
            for _ in 0..200 {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &*handler, &log).await;
                });
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    fn lines(&self) -> Vec<String> {
        self.requests().iter().map(Request::line).collect()
    }

    fn reference(&self, rest: &str) -> ImageRef {
        ImageRef::parse(&format!("{}/{rest}", self.addr)).unwrap()
    }
}

async fn serve(
    mut stream: tokio::net::TcpStream,
    handler: &Handler,
    log: &Mutex<Vec<Request>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        assert!(buf.len() < 64 * 1024, "request head too large");
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap().split(' ');
    let method = first.next().unwrap().to_owned();
    let target = first.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let request = Request {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let n = {
        let mut log = log.lock().unwrap();
        log.push(request.clone());
        log.len() - 1
    };
    let reply = handler(&request, n);
    if reply.hang {
        tokio::time::sleep(Duration::from_secs(30)).await;
        return Ok(());
    }
    let mut out = format!("HTTP/1.1 {} X\r\n", reply.status);
    for (name, value) in &reply.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    let _ = write!(
        out,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        reply.body.len()
    );
    let mut bytes = out.into_bytes();
    if request.method != "HEAD" {
        bytes.extend_from_slice(&reply.body);
    }
    stream.write_all(&bytes).await?;
    stream.shutdown().await
}

fn sha256(body: &[u8]) -> String {
    let hash = Sha256::digest(body);
    hash.iter().fold("sha256:".to_owned(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

const MANIFEST: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{},"layers":[]}"#;

fn options() -> RegistryOptions {
    RegistryOptions {
        request_timeout: Duration::from_secs(5),
        ..RegistryOptions::default()
    }
}

fn client(credentials: CredentialStore) -> RegistryClient {
    RegistryClient::new(credentials, options()).unwrap()
}

fn linux_amd64() -> Platform {
    Platform::new("linux", "amd64", None)
}

fn manifest_reply() -> Reply {
    reply(200)
        .header("Docker-Content-Digest", &sha256(MANIFEST))
        .header("Content-Type", media_type::DOCKER_MANIFEST)
        .body(MANIFEST)
}

/// A registry with bearer auth: its token server (same address, `/token`) hands out
/// `good-token` for `u:p` and `anon-token` without credentials, 401 for other credentials.
/// The registry accepts `good-token` only, and for `app` only.
async fn bearer_registry() -> Server {
    let realm = Arc::new(Mutex::new(String::new()));
    let realm2 = realm.clone();
    let server = Server::start(move |req, _| {
        if req.target.starts_with("/token?") {
            let good = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("u:p")
            );
            return match req.header("authorization") {
                None => reply(200).body(br#"{"token":"anon-token"}"#),
                Some(a) if a == good => {
                    reply(200).body(br#"{"access_token":"good-token","expires_in":300}"#)
                }
                Some(_) => reply(401).body(br#"{"details":"incorrect username or password"}"#),
            };
        }
        let authorized = req.header("authorization") == Some("Bearer good-token");
        if authorized && req.target == "/v2/app/manifests/v1" {
            return manifest_reply();
        }
        let path = req.target.trim_start_matches("/v2/");
        let repo = path.split("/manifests/").next().unwrap_or_default();
        reply(401)
            .header(
                "WWW-Authenticate",
                &format!(
                    r#"Bearer realm="{}",service="fake registry",scope="repository:{repo}:pull""#,
                    realm2.lock().unwrap()
                ),
            )
            .header("Content-Type", "application/json")
            .body(br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#)
    })
    .await;
    *realm.lock().unwrap() = format!("http://{}/token", server.addr);
    server
}

#[tokio::test]
async fn bearer_token_flow_caches_the_token_per_scope() {
    let server = bearer_registry().await;
    let client = client(
        CredentialStore::anonymous().with_credentials(&server.addr, Credentials::basic("u", "p")),
    );
    let remote = client
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap();
    assert_eq!(remote.digest, sha256(MANIFEST));
    assert_eq!(remote.media_type, media_type::DOCKER_MANIFEST);
    assert_eq!(remote.platform_digest, None);
    assert_eq!(
        server.lines(),
        [
            "HEAD /v2/app/manifests/v1",
            "GET /token?service=fake+registry&scope=repository%3Aapp%3Apull",
            "HEAD /v2/app/manifests/v1",
        ]
    );
    let requests = server.requests();
    assert_eq!(requests[0].header("authorization"), None);
    assert_eq!(requests[1].header("authorization"), Some("Basic dTpw"));
    assert_eq!(
        requests[2].header("authorization"),
        Some("Bearer good-token")
    );
    assert!(
        requests[0]
            .header("accept")
            .unwrap()
            .contains(media_type::OCI_INDEX)
    );

    // The token is cached: one more HEAD, no token request, no anonymous round trip.
    client
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap();
    assert_eq!(server.lines().len(), 4);
    assert_eq!(server.lines()[3], "HEAD /v2/app/manifests/v1");

    // Another repository: a new scope, asked for up front since the registry is known.
    let err = client
        .manifest_digest(&server.reference("other:v1"), &linux_amd64())
        .await
        .unwrap_err();
    assert_eq!(
        server.lines()[4..],
        [
            "GET /token?service=fake+registry&scope=repository%3Aother%3Apull",
            "HEAD /v2/other/manifests/v1",
            "GET /token?service=fake+registry&scope=repository%3Aother%3Apull",
            "HEAD /v2/other/manifests/v1",
        ]
    );
    // Credentials were fine (the token server accepted them), the repository is not ours.
    assert!(
        matches!(
            &err,
            RegistryError::Unauthorized { reason: AuthFailure::Denied, registry, repository }
                if *registry == server.addr && repository == "other"
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn bearer_with_wrong_credentials_is_rejected_clearly() {
    let server = bearer_registry().await;
    let client = client(
        CredentialStore::anonymous()
            .with_credentials(&server.addr, Credentials::basic("u", "wrong")),
    );
    let err = client
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Unauthorized {
                reason: AuthFailure::CredentialsRejected,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the configured credentials were rejected (repository app)",
            server.addr
        )
    );
    assert!(!format!("{err:?}").contains("wrong"));
}

#[tokio::test]
async fn bearer_without_credentials_needs_them() {
    let server = bearer_registry().await;
    let client = client(CredentialStore::anonymous());
    let err = client
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Unauthorized {
                reason: AuthFailure::CredentialsRequired,
                ..
            }
        ),
        "{err:?}"
    );
    // The anonymous token was tried once, not in a loop.
    assert_eq!(server.lines().len(), 3);
    assert_eq!(
        server.requests()[2].header("authorization"),
        Some("Bearer anon-token")
    );
}

#[tokio::test]
async fn unusable_token_realms_get_no_credentials() {
    let cases = [
        // Relative: not a URL.
        ("/token", "token realm"),
        // Plain HTTP to a host that is neither loopback nor insecure: refused before
        // connecting, so nothing leaves this machine.
        ("http://192.0.2.1/token", "refusing to send credentials"),
        ("ftp://127.0.0.1/token", "unsupported scheme ftp"),
    ];
    for (realm, expected) in cases {
        let challenge = format!("Bearer realm=\"{realm}\"");
        let server =
            Server::start(move |_, _| reply(401).header("WWW-Authenticate", &challenge)).await;
        let client = client(
            CredentialStore::anonymous()
                .with_credentials(&server.addr, Credentials::basic("u", "p")),
        );
        let err = client
            .manifest_digest(&server.reference("app:v1"), &linux_amd64())
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegistryError::InvalidResponse { .. }),
            "{realm}: {err:?}"
        );
        assert!(err.to_string().contains(expected), "{realm}: {err}");
        assert_eq!(server.lines(), ["HEAD /v2/app/manifests/v1"], "{realm}");
    }
}

#[tokio::test]
async fn identity_token_flow() {
    let realm = Arc::new(Mutex::new(String::new()));
    let realm2 = realm.clone();
    let server = Server::start(move |req, _| {
        if req.target == "/token" {
            return if req.method == "POST"
                && req.body.contains("grant_type=refresh_token")
                && req.body.contains("refresh_token=id-tok")
                && req.body.contains("scope=repository%3Aapp%3Apull")
                && req.body.contains("service=svc")
            {
                reply(200).body(br#"{"access_token":"good-token"}"#)
            } else {
                reply(400)
            };
        }
        if req.header("authorization") == Some("Bearer good-token") {
            return manifest_reply();
        }
        reply(401).header(
            "WWW-Authenticate",
            &format!(
                "Bearer realm=\"{}\",service=\"svc\"",
                realm2.lock().unwrap()
            ),
        )
    })
    .await;
    *realm.lock().unwrap() = format!("http://{}/token", server.addr);
    let store = CredentialStore::from_docker_config_json(
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"id-tok"}}}}}}"#,
            server.addr
        )
        .as_bytes(),
        std::path::Path::new("config.json"),
    )
    .unwrap();
    let remote = client(store)
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap();
    assert_eq!(remote.digest, sha256(MANIFEST));
    assert_eq!(
        server.lines(),
        [
            "HEAD /v2/app/manifests/v1",
            "POST /token",
            "HEAD /v2/app/manifests/v1"
        ]
    );
}

#[tokio::test]
async fn basic_challenge_then_basic_up_front() {
    let server = Server::start(|req, _| {
        if req.header("authorization") == Some("Basic dTpw") {
            manifest_reply()
        } else {
            reply(401).header("WWW-Authenticate", r#"Basic realm="fake, with comma""#)
        }
    })
    .await;
    let client = client(
        CredentialStore::anonymous().with_credentials(&server.addr, Credentials::basic("u", "p")),
    );
    for tag in ["app:v1", "other:v2"] {
        let remote = client
            .manifest_digest(&server.reference(tag), &linux_amd64())
            .await
            .unwrap();
        assert_eq!(remote.digest, sha256(MANIFEST));
    }
    assert_eq!(
        server.lines(),
        [
            "HEAD /v2/app/manifests/v1",
            "HEAD /v2/app/manifests/v1",
            "HEAD /v2/other/manifests/v2",
        ]
    );
}

#[tokio::test]
async fn rate_limit_honours_retry_after_then_succeeds() {
    let server = Server::start(|_, n| {
        if n < 2 {
            reply(429).header("Retry-After", "1")
        } else {
            manifest_reply()
        }
    })
    .await;
    let started = Instant::now();
    let remote = client(CredentialStore::anonymous())
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(remote.digest, sha256(MANIFEST));
    assert_eq!(server.lines().len(), 3);
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

/// A registry that answers 5xx is asked again (three tries in all, a short back-off); one
/// that keeps failing gives its error; a 404 is an answer and is not asked again.
#[tokio::test]
async fn server_errors_are_retried_three_times_in_all() {
    let server = Server::start(|_, n| if n < 2 { reply(503) } else { manifest_reply() }).await;
    let registry = client(CredentialStore::anonymous());
    let started = Instant::now();
    let remote = registry
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap();
    assert_eq!(remote.digest, sha256(MANIFEST));
    assert_eq!(server.lines().len(), 3);
    assert_eq!(registry.retries(), 2);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    let server = Server::start(|_, _| reply(500)).await;
    let registry = client(CredentialStore::anonymous());
    let err = registry
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("500"), "{err}");
    assert_eq!(server.lines().len(), 3);

    let server = Server::start(|_, _| reply(404)).await;
    let registry = client(CredentialStore::anonymous());
    registry
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap_err();
    assert_eq!((server.lines().len(), registry.retries()), (1, 0));
}

#[tokio::test]
async fn rate_limit_gives_up_after_bounded_retries() {
    let server = Server::start(|_, _| reply(429).header("Retry-After", "0")).await;
    let options = RegistryOptions {
        max_retries: 2,
        ..options()
    };
    let client = RegistryClient::new(CredentialStore::anonymous(), options).unwrap();
    let err = client
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::RateLimited {
                attempts: 3,
                retry_after: Some(Duration::ZERO),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.lines().len(), 3);
    assert_eq!(
        err.to_string(),
        format!(
            "{} is rate limiting requests (HTTP 429 after 3 attempt(s), asked to retry after 0s)",
            server.addr
        )
    );
}

#[tokio::test]
async fn rate_limit_with_a_long_retry_after_fails_at_once() {
    let server =
        Server::start(|_, _| reply(429).header("Retry-After", "Wed, 21 Oct 2099 07:28:00 GMT"))
            .await;
    let started = Instant::now();
    let err = client(CredentialStore::anonymous())
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    let RegistryError::RateLimited {
        attempts,
        retry_after,
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(attempts, 1);
    assert!(retry_after.unwrap() > Duration::from_secs(365 * 24 * 3600));
    assert_eq!(server.lines().len(), 1);
}

#[tokio::test]
async fn missing_digest_header_falls_back_to_get_and_sha256() {
    // Neither the HEAD nor the GET answer has a digest.
    let server = Server::start(|_, _| {
        reply(200)
            .header("Content-Type", media_type::OCI_MANIFEST)
            .body(MANIFEST)
    })
    .await;
    let remote = client(CredentialStore::anonymous())
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap();
    assert_eq!(remote.digest, sha256(MANIFEST));
    assert_eq!(remote.media_type, media_type::OCI_MANIFEST);
    assert_eq!(
        server.lines(),
        ["HEAD /v2/app/manifests/v1", "GET /v2/app/manifests/v1"]
    );
}

#[tokio::test]
async fn digest_that_does_not_match_the_body_is_invalid() {
    let server = Server::start(|_, _| {
        reply(200)
            .header("Content-Type", media_type::OCI_MANIFEST)
            .header("Docker-Content-Digest", &sha256(b"something else"))
            .body(MANIFEST)
    })
    .await;
    // HEAD says a non-index with a digest: accepted as is, no body to check.
    client(CredentialStore::anonymous())
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap();

    let server = Server::start(|req, _| {
        let r = reply(200)
            .header("Content-Type", media_type::OCI_MANIFEST)
            .body(MANIFEST);
        if req.method == "GET" {
            r.header("Docker-Content-Digest", &sha256(b"something else"))
        } else {
            r
        }
    })
    .await;
    let err = client(CredentialStore::anonymous())
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::InvalidResponse { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&format!(
            "has digest {} but the registry says",
            sha256(MANIFEST)
        )),
        "{err}"
    );
}

fn index_body() -> Vec<u8> {
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaa","size":1,"platform":{"os":"linux","architecture":"amd64"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bbbb","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}
    ]}"#
    .to_vec()
}

async fn index_registry() -> Server {
    Server::start(|_, _| {
        let body = index_body();
        reply(200)
            .header("Content-Type", media_type::OCI_INDEX)
            .header("Docker-Content-Digest", &sha256(&body))
            .body(&body)
    })
    .await
}

#[tokio::test]
async fn index_resolves_the_platform_entry() {
    let server = index_registry().await;
    let client = client(CredentialStore::anonymous());
    let reference = server.reference("app:v1");
    let index_digest = sha256(&index_body());

    let amd64 = client
        .manifest_digest(&reference, &linux_amd64())
        .await
        .unwrap();
    assert_eq!(amd64.digest, index_digest);
    assert_eq!(amd64.media_type, media_type::OCI_INDEX);
    assert_eq!(amd64.platform_digest.as_deref(), Some("sha256:aaaa"));
    let arm64 = client
        .manifest_digest(&reference, &Platform::parse("linux/arm64/v8").unwrap())
        .await
        .unwrap();
    assert_eq!(arm64.platform_digest.as_deref(), Some("sha256:bbbb"));
    // The local image was pulled by platform digest; the index changed, its entry did not.
    assert!(!amd64.is_update_of(&[format!("{}/app@sha256:aaaa", server.addr)]));
    assert!(amd64.is_update_of(&[format!("{}/app@sha256:bbbb", server.addr)]));

    let err = client
        .manifest_digest(&reference, &Platform::parse("linux/s390x").unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}/app:v1 has no image for platform linux/s390x (the index offers: linux/amd64, linux/arm64)",
            server.addr
        )
    );
    assert_eq!(server.lines().len(), 6, "HEAD + GET per look-up");

    // Already current by index digest: HEAD only.
    let current = client
        .manifest_digest_unless_current(
            &reference,
            &linux_amd64(),
            &[format!("{}/app@{index_digest}", server.addr)],
        )
        .await
        .unwrap();
    assert_eq!(current.digest, index_digest);
    assert_eq!(current.platform_digest, None);
    assert_eq!(server.lines().len(), 7);
    assert_eq!(server.lines()[6], "HEAD /v2/app/manifests/v1");
}

#[tokio::test]
async fn not_found_and_registry_errors_are_surfaced() {
    let server = Server::start(|req, _| {
        if req.target.contains("missing") {
            return reply(404)
                .body(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#);
        }
        if req.method == "HEAD" {
            return reply(200).header("Content-Type", media_type::OCI_MANIFEST);
        }
        reply(503).body(
            br#"{"errors":[{"code":"UNAVAILABLE","message":"read-only mode for maintenance"}]}"#,
        )
    })
    .await;
    let client = client(CredentialStore::anonymous());
    let err = client
        .manifest_digest(&server.reference("app:missing"), &linux_amd64())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::NotFound { reference, .. } if *reference == format!("{}/app:missing", server.addr)),
        "{err:?}"
    );
    let err = client
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{0} answered HTTP 503 for http://{0}/v2/app/manifests/v1: UNAVAILABLE read-only mode for maintenance",
            server.addr
        )
    );
}

#[tokio::test]
async fn a_hung_registry_times_out() {
    let server = Server::start(|_, _| Reply {
        hang: true,
        ..Reply::default()
    })
    .await;
    let options = RegistryOptions {
        request_timeout: Duration::from_millis(300),
        ..options()
    };
    let started = Instant::now();
    let err = RegistryClient::new(CredentialStore::anonymous(), options)
        .unwrap()
        .manifest_digest(&server.reference("app:v1"), &linux_amd64())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    let RegistryError::Transport { source, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(source.is_timeout(), "{source:?}");
}

#[tokio::test]
async fn pinned_references_are_never_asked_about() {
    let server = Server::start(|_, _| manifest_reply()).await;
    let reference = server.reference(&format!("app:v1@{}", sha256(MANIFEST)));
    let err = client(CredentialStore::anonymous())
        .manifest_digest(&reference, &linux_amd64())
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::PinnedByDigest { .. }),
        "{err:?}"
    );
    assert!(server.lines().is_empty());
}

#[tokio::test]
async fn batch_asks_once_per_distinct_reference() {
    let server = Server::start(|_, _| manifest_reply()).await;
    let a = server.reference("a:1");
    let b = server.reference("b:1");
    let results = client(CredentialStore::anonymous())
        .manifest_digests([&b, &a, &b, &a], &linux_amd64())
        .await;
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].0, a);
    assert_eq!(results[1].0, b);
    assert!(results.iter().all(|(_, r)| r.is_ok()));
    let mut lines = server.lines();
    lines.sort();
    assert_eq!(lines, ["HEAD /v2/a/manifests/1", "HEAD /v2/b/manifests/1"]);
}

/// A registry that caps a tag-list page at 100 whatever `n` asks (as Docker Hub caps it),
/// and links each page to the next: 1,200 tags come back whole, in 12 pages.
#[tokio::test]
async fn a_capped_tag_list_is_followed_page_by_page() {
    let all: Vec<String> = (0..1200).map(|i| format!("1.{i}.0")).collect();
    let server = Server::start(move |req, _| {
        let query = req.target.split_once('?').map_or("", |(_, q)| q);
        let last = query
            .split('&')
            .find_map(|p| p.strip_prefix("last="))
            .map(str::to_owned);
        let start = last.map_or(0, |l| all.iter().position(|t| *t == l).map_or(0, |i| i + 1));
        let page: Vec<&String> = all[start..].iter().take(100).collect();
        let body = serde_json::json!({"name": "app", "tags": page}).to_string();
        let mut answer = reply(200)
            .header("Content-Type", "application/json")
            .body(body.as_bytes());
        if start + page.len() < all.len() {
            let next = format!(
                "</v2/app/tags/list?last={}&n=1000>; rel=\"next\"",
                page.last().unwrap()
            );
            answer = answer.header("Link", &next);
        }
        answer
    })
    .await;
    let tags = client(CredentialStore::anonymous())
        .tags(&server.reference("app:1.0.0"), 1000)
        .await
        .unwrap();
    assert_eq!(tags.len(), 1200);
    assert_eq!(tags[1199], "1.1199.0");
    let lines = server.lines();
    assert_eq!(lines.len(), 12, "{lines:?}");
    assert_eq!(lines[0], "GET /v2/app/tags/list?n=1000");
    assert_eq!(lines[1], "GET /v2/app/tags/list?last=1.99.0&n=1000");
}
