//! The [`Docker`] client: addressing, version negotiation, timeouts and error mapping.
//! Endpoint methods live in one module per resource (`containers`, `images`, ...).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, Method, StatusCode};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::models::{Ping, Version};
use crate::stream::{DEFAULT_MAX_LINE, json_lines};
use crate::transport::{self, ByteStream, Request, Response, Transport};
use crate::version::ApiVersion;

/// Knobs for a client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// How long to wait for the daemon to start answering a request (response headers, and
    /// the whole body for plain JSON answers). Never applied to streams.
    pub timeout: Duration,
    /// How long to wait for a TCP connection.
    pub connect_timeout: Duration,
    /// The longest line accepted in a streamed response.
    pub max_line: usize,
    /// Skip negotiation and speak this version (like `DOCKER_API_VERSION`).
    pub api_version: Option<ApiVersion>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            max_line: DEFAULT_MAX_LINE,
            api_version: None,
        }
    }
}

/// A Docker Engine API client. Cheap to clone; clones share the connection pool and the
/// negotiated version.
#[derive(Clone)]
pub struct Docker {
    transport: Arc<dyn Transport>,
    /// Requests sent by this client and its clones, for run reports and benchmarks.
    requests: Arc<std::sync::atomic::AtomicU64>,
    version: Arc<OnceCell<ApiVersion>>,
    timeout: Duration,
    max_line: usize,
}

impl fmt::Debug for Docker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Docker")
            .field("endpoint", &self.transport.endpoint())
            .field("version", &self.version.get())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Docker {
    /// A client for `endpoint`. Nothing is contacted until the first call.
    pub fn connect(endpoint: &Endpoint, options: &ClientOptions) -> Result<Docker> {
        let transport = transport::for_endpoint(endpoint, options.connect_timeout)?;
        Ok(Docker::with_transport(Arc::from(transport), options))
    }

    /// A client over any transport, e.g. a fake in tests.
    pub fn with_transport(transport: Arc<dyn Transport>, options: &ClientOptions) -> Docker {
        let version = OnceCell::new_with(options.api_version);
        Docker {
            transport,
            requests: Arc::default(),
            version: Arc::new(version),
            timeout: options.timeout,
            max_line: options.max_line,
        }
    }

    /// The same client with another response timeout, for calls known to be slow (stopping
    /// a container with a long grace period) or that must be quick (a health probe).
    #[must_use]
    pub fn with_timeout(&self, timeout: Duration) -> Docker {
        Docker {
            timeout,
            ..self.clone()
        }
    }

    /// The response timeout in force.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many requests this client (and its clones) has sent, version negotiation
    /// included.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The endpoint, for messages.
    pub fn endpoint(&self) -> &str {
        self.transport.endpoint()
    }

    /// The API version in use, negotiating it on first use: the lower of the daemon's
    /// version and [`ApiVersion::MAX`]; daemons older than [`ApiVersion::MIN`] are refused.
    pub async fn api_version(&self) -> Result<ApiVersion> {
        self.version
            .get_or_try_init(|| self.negotiate())
            .await
            .copied()
    }

    async fn negotiate(&self) -> Result<ApiVersion> {
        let ping = self.ping().await?;
        let server = match ping.api_version.as_deref().map(str::parse::<ApiVersion>) {
            Some(Ok(v)) => v,
            _ => {
                let version: Version = self.unversioned_json(Method::GET, "/version").await?;
                version.api_version.parse().map_err(|_| Error::Daemon {
                    status: 200,
                    what: "GET /version".to_owned(),
                    message: format!("unparseable ApiVersion {:?}", version.api_version),
                })?
            }
        };
        let chosen = ApiVersion::negotiate(server)?;
        tracing::debug!(%server, %chosen, endpoint = self.endpoint(), "negotiated API version");
        Ok(chosen)
    }

    /// `GET /_ping`, unversioned: proves the daemon answers and reports its API version.
    pub async fn ping(&self) -> Result<Ping> {
        let response = self
            .send(
                Request {
                    method: Method::GET,
                    path_and_query: "/_ping".to_owned(),
                    headers: HeaderMap::new(),
                    body: None,
                },
                "GET /_ping",
            )
            .await?;
        let header = |name: &str| {
            response
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Ping {
            api_version: header("api-version"),
            os_type: header("ostype"),
        })
    }

    /// `GET /version` (versioned once negotiated).
    pub async fn version(&self) -> Result<Version> {
        self.get_json("/version", Query::new()).await
    }

    async fn unversioned_json<T: DeserializeOwned>(&self, method: Method, path: &str) -> Result<T> {
        let what = format!("{method} {path}");
        let request = Request {
            method,
            path_and_query: path.to_owned(),
            headers: HeaderMap::new(),
            body: None,
        };
        self.timed(async {
            let response = self.send(request, &what).await?;
            read_json(response, &what).await
        })
        .await
    }

    /// Sends a versioned request and returns the response once its headers arrived.
    /// Non-success statuses (other than 304, which Docker uses for "already started/stopped")
    /// become errors carrying Docker's message.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        query: Query,
        body: Option<Bytes>,
        headers: HeaderMap,
    ) -> Result<Response> {
        let version = self.api_version().await?;
        let encoded = query.encode();
        let path_and_query = if encoded.is_empty() {
            format!("/v{version}{path}")
        } else {
            format!("/v{version}{path}?{encoded}")
        };
        let what = format!("{method} {path}");
        self.send(
            Request {
                method,
                path_and_query,
                headers,
                body,
            },
            &what,
        )
        .await
    }

    async fn send(&self, request: Request, what: &str) -> Result<Response> {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = tokio::time::timeout(self.timeout, self.transport.send(request))
            .await
            .map_err(|_| Error::Timeout {
                endpoint: self.endpoint().to_owned(),
                what: what.to_owned(),
                after: self.timeout,
            })??;
        if response.status.is_success() || response.status == StatusCode::NOT_MODIFIED {
            Ok(response)
        } else {
            Err(status_error(response, what).await)
        }
    }

    /// Runs `fut` under the response timeout: for plain JSON answers, where a stalled body
    /// is as much a hang as stalled headers.
    pub(crate) async fn timed<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        let what = "the request";
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| Error::Timeout {
                endpoint: self.endpoint().to_owned(),
                what: what.to_owned(),
                after: self.timeout,
            })?
    }

    /// A request whose answer is a JSON document.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: Query,
        body: Option<Bytes>,
        headers: HeaderMap,
    ) -> Result<T> {
        let what = format!("{method} {path}");
        self.timed(async {
            let response = self.request(method, path, query, body, headers).await?;
            read_json(response, &what).await
        })
        .await
    }

    /// `GET` a JSON document.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: Query,
    ) -> Result<T> {
        self.json(Method::GET, path, query, None, HeaderMap::new())
            .await
    }

    /// A request whose answer body does not matter (204, 201, 304). Returns the status.
    pub(crate) async fn empty(
        &self,
        method: Method,
        path: &str,
        query: Query,
        body: Option<Bytes>,
    ) -> Result<StatusCode> {
        self.timed(async {
            let response = self
                .request(method, path, query, body, HeaderMap::new())
                .await?;
            let status = response.status;
            // Drain so the connection can be reused.
            read_limited(response.body, 1024 * 1024).await?;
            Ok(status)
        })
        .await
    }

    /// A request whose answer streams newline-delimited JSON. Only the wait for headers is
    /// timed.
    pub(crate) async fn json_stream<T>(
        &self,
        method: Method,
        path: &str,
        query: Query,
        headers: HeaderMap,
    ) -> Result<impl Stream<Item = Result<T>> + Send + use<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let response = self
            .request(method.clone(), path, query, None, headers)
            .await?;
        Ok(json_lines(
            response.body,
            self.max_line,
            format!("{method} {path}"),
        ))
    }
}

/// Serialises a request body.
pub(crate) fn to_body(value: &impl Serialize) -> Result<Bytes> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| Error::InvalidRequest(format!("cannot encode request body: {e}")))
}

async fn read_json<T: DeserializeOwned>(response: Response, what: &str) -> Result<T> {
    let body = read_limited(response.body, 512 * 1024 * 1024).await?;
    serde_json::from_slice(&body).map_err(|source| Error::Decode {
        what: what.to_owned(),
        source,
    })
}

/// Reads a whole body, refusing more than `limit` bytes.
pub(crate) async fn read_limited(mut body: ByteStream, limit: usize) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if buf.len() + chunk.len() > limit {
            return Err(Error::LineTooLong { max: limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

async fn status_error(response: Response, what: &str) -> Error {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: String,
    }
    let status = response.status;
    let body = read_limited(response.body, 64 * 1024)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<ErrorBody>(&body).map_or_else(
        |_| String::from_utf8_lossy(&body).trim().to_owned(),
        |e| e.message,
    );
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("no message").to_owned()
    } else {
        message
    };
    match status {
        StatusCode::NOT_FOUND => Error::NotFound { message },
        StatusCode::CONFLICT => Error::Conflict { message },
        _ => Error::Daemon {
            status: status.as_u16(),
            what: what.to_owned(),
            message,
        },
    }
}

/// Characters escaped in a path segment. `/` and `:` stay: image names contain them and
/// the daemon routes `/images/{name:.*}/json`.
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Escapes an object name or ID for use in a path.
pub(crate) fn segment(name: &str) -> String {
    utf8_percent_encode(name, PATH_SEGMENT).to_string()
}

/// A query string under construction.
#[derive(Debug, Default, Clone)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn new() -> Query {
        Query::default()
    }

    pub(crate) fn add(mut self, key: &str, value: impl std::fmt::Display) -> Query {
        self.0.push((key.to_owned(), value.to_string()));
        self
    }

    pub(crate) fn add_opt(self, key: &str, value: Option<impl std::fmt::Display>) -> Query {
        match value {
            Some(v) => self.add(key, v),
            None => self,
        }
    }

    pub(crate) fn filters(self, filters: &Filters) -> Query {
        if filters.is_empty() {
            self
        } else {
            let json = serde_json::to_string(&filters.0).unwrap_or_default();
            self.add("filters", json)
        }
    }

    fn encode(&self) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            ser.append_pair(k, v);
        }
        ser.finish()
    }
}

/// Docker list filters: `map[string][]string`, e.g. `label=["a=b"]`, `status=["exited"]`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// No filter.
    pub fn new() -> Filters {
        Filters::default()
    }

    /// Adds a value for a key (values of one key are ORed by the daemon, keys are ANDed).
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Filters {
        self.0.entry(key.to_owned()).or_default().push(value.into());
        self
    }

    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::BoxFuture;
    use std::sync::Mutex;

    /// One scripted answer: status, headers, body.
    type Answer = (u16, Vec<(&'static str, &'static str)>, &'static str);

    /// A transport that answers from a script and records what it was asked.
    #[derive(Debug, Default)]
    struct Scripted {
        answers: Mutex<Vec<Answer>>,
        seen: Mutex<Vec<String>>,
        hang: bool,
    }

    impl Transport for Scripted {
        fn send(&self, request: Request) -> BoxFuture<'_, Result<Response>> {
            Box::pin(async move {
                self.seen
                    .lock()
                    .unwrap()
                    .push(format!("{} {}", request.method, request.path_and_query));
                if self.hang {
                    std::future::pending::<()>().await;
                }
                let (status, headers, body) = self.answers.lock().unwrap().remove(0);
                let mut map = HeaderMap::new();
                for (k, v) in headers {
                    map.insert(http::HeaderName::from_static(k), v.parse().unwrap());
                }
                Ok(Response {
                    status: StatusCode::from_u16(status).unwrap(),
                    headers: map,
                    body: Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(
                        body.as_bytes(),
                    ))])),
                })
            })
        }

        fn endpoint(&self) -> &'static str {
            "scripted://"
        }
    }

    fn client(answers: Vec<Answer>) -> (Docker, Arc<Scripted>) {
        let t = Arc::new(Scripted {
            answers: Mutex::new(answers),
            ..Scripted::default()
        });
        (
            Docker::with_transport(t.clone(), &ClientOptions::default()),
            t,
        )
    }

    #[tokio::test]
    async fn negotiates_once_from_ping_header_and_prefixes_paths() {
        let (docker, t) = client(vec![
            (200, vec![("api-version", "1.43")], "OK"),
            (200, vec![], r#"{"Version":"24.0.0","ApiVersion":"1.43"}"#),
            (200, vec![], r#"{"Version":"24.0.0","ApiVersion":"1.43"}"#),
        ]);
        docker.version().await.unwrap();
        docker.version().await.unwrap();
        assert_eq!(docker.requests_sent(), 3);
        assert_eq!(
            *t.seen.lock().unwrap(),
            ["GET /_ping", "GET /v1.43/version", "GET /v1.43/version"]
        );
    }

    #[tokio::test]
    async fn newer_daemon_gets_the_clients_highest_version() {
        let (docker, _) = client(vec![(200, vec![("api-version", "1.99")], "OK")]);
        assert_eq!(docker.api_version().await.unwrap(), ApiVersion::MAX);
    }

    #[tokio::test]
    async fn falls_back_to_version_endpoint_without_header() {
        let (docker, t) = client(vec![
            (200, vec![], "OK"),
            (200, vec![], r#"{"ApiVersion":"1.41"}"#),
        ]);
        assert_eq!(docker.api_version().await.unwrap(), ApiVersion::new(1, 41));
        assert_eq!(*t.seen.lock().unwrap(), ["GET /_ping", "GET /version"]);
    }

    #[tokio::test]
    async fn refuses_old_daemons() {
        let (docker, _) = client(vec![(200, vec![("api-version", "1.40")], "OK")]);
        let err = docker.api_version().await.unwrap_err();
        assert!(matches!(err, Error::UnsupportedVersion { .. }), "{err}");
    }

    #[tokio::test]
    async fn maps_status_codes_and_keeps_docker_message() {
        let (docker, _) = client(vec![
            (200, vec![("api-version", "1.41")], "OK"),
            (404, vec![], r#"{"message":"No such container: x"}"#),
            (409, vec![], r#"{"message":"conflict: unable to delete"}"#),
            (500, vec![], "plain text failure"),
        ]);
        let e = docker.version().await.unwrap_err();
        assert!(
            e.is_not_found() && e.to_string().contains("No such container: x"),
            "{e}"
        );
        let e = docker.version().await.unwrap_err();
        assert!(e.is_conflict(), "{e}");
        let e = docker.version().await.unwrap_err();
        assert!(
            matches!(&e, Error::Daemon { status: 500, message, .. } if message == "plain text failure"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn header_timeout_is_reported_as_unreachable() {
        let t = Arc::new(Scripted {
            hang: true,
            ..Scripted::default()
        });
        let docker = Docker::with_transport(t, &ClientOptions::default())
            .with_timeout(Duration::from_millis(50));
        let err = docker.ping().await.unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(err.is_unreachable());
        assert!(err.to_string().contains("GET /_ping"), "{err}");
    }

    #[test]
    fn query_and_filters_encoding() {
        let q = Query::new()
            .add("all", true)
            .filters(&Filters::new().with("label", "a=b").with("status", "exited"));
        assert_eq!(
            q.encode(),
            "all=true&filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%2C%22status%22%3A%5B%22exited%22%5D%7D"
        );
        assert_eq!(segment("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000/a/b:1");
        assert_eq!(segment("a b?#"), "a%20b%3F%23");
    }
}
