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
    /// How long a pull may go without a progress message before it counts as stalled
    /// ([`Error::Stalled`]). A pull is judged by progress, never by its total time.
    pub stall_timeout: Duration,
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
            stall_timeout: Duration::from_secs(120),
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
    /// Reads tried again after a 5xx or a broken connection, for metrics.
    retries: Arc<std::sync::atomic::AtomicU64>,
    version: Arc<OnceCell<ApiVersion>>,
    timeout: Duration,
    stall_timeout: Duration,
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
            retries: Arc::default(),
            version: Arc::new(version),
            timeout: options.timeout,
            stall_timeout: options.stall_timeout,
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

    /// How long a pull may go without progress.
    pub fn stall_timeout(&self) -> Duration {
        self.stall_timeout
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

    /// How many reads this client (and its clones) tried again (three tries in all, at most).
    pub fn retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs the idempotent read `attempt` up to [`READ_TRIES`] times while it fails in a way
    /// another try may not ([`worth_retrying`]), waiting a jittered back-off in between
    /// (about 0.25 s, then 1 s: under 2 s in all). Each retry is logged at debug and counted.
    pub(crate) async fn retrying<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut tries = 1;
        loop {
            match attempt().await {
                Err(err) if tries < READ_TRIES && worth_retrying(&err) => {
                    let wait = jittered(READ_BACKOFF[tries - 1]);
                    tracing::debug!(request = what, error = %err, tries, wait_ms = wait.as_millis(), "read failed; trying again");
                    self.retries
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                    tries += 1;
                }
                result => return result,
            }
        }
    }

    /// A delete whose answer was lost (the connection broke): the object is looked up
    /// again (`GET inspect`, itself retried), and gone means the delete happened, so it
    /// counts as done with `gone`. Otherwise the original error stands: a delete is never
    /// sent twice blindly.
    pub(crate) async fn confirm_gone<T>(
        &self,
        result: Result<T>,
        inspect: &str,
        gone: impl FnOnce() -> T,
    ) -> Result<T> {
        match result {
            Err(err @ Error::Transport { .. }) => {
                match self
                    .get_json::<serde_json::Value>(inspect, Query::new())
                    .await
                {
                    Err(e) if e.is_not_found() => {
                        tracing::debug!(inspect, error = %err, "the answer to a delete was lost; the object is gone: done");
                        Ok(gone())
                    }
                    _ => Err(err),
                }
            }
            other => other,
        }
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
            .retrying("GET /_ping", || {
                self.send(
                    Request {
                        method: Method::GET,
                        path_and_query: "/_ping".to_owned(),
                        headers: HeaderMap::new(),
                        body: None,
                    },
                    "GET /_ping",
                )
            })
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
        self.retrying(&what, || {
            self.timed(async {
                let response = self.send(request.clone(), &what).await?;
                read_json(response, &what).await
            })
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
        let read = || {
            self.timed(async {
                let response = self
                    .request(
                        method.clone(),
                        path,
                        query.clone(),
                        body.clone(),
                        headers.clone(),
                    )
                    .await?;
                read_json(response, &what).await
            })
        };
        if is_read(&method) {
            self.retrying(&what, read).await
        } else {
            read().await
        }
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

/// Tries an idempotent read gets in all ([`Docker::retrying`]).
pub const READ_TRIES: usize = 3;
/// The waits before the 2nd and 3rd try, before jitter.
const READ_BACKOFF: [Duration; READ_TRIES - 1] =
    [Duration::from_millis(250), Duration::from_secs(1)];

/// Whether `method` only reads (and may be sent again without changing anything).
pub(crate) fn is_read(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

/// Whether another try of a failed read may succeed: a 5xx from the daemon or a connection
/// that broke (a daemon restarting, a proxy dropping it). Not a 4xx (the answer will not
/// change), not a refused connection (nothing listens: exit 3 at once), and not a timeout
/// (the wait was long already: a silent daemon must fail within its timeout, not three).
pub(crate) fn worth_retrying(err: &Error) -> bool {
    match err {
        Error::Transport { .. } => true,
        Error::Daemon { status, .. } => *status >= 500,
        _ => false,
    }
}

/// `base` give or take half, so that clients failing together do not retry together.
fn jittered(base: Duration) -> Duration {
    use std::hash::{BuildHasher as _, Hasher as _};
    // A fresh `RandomState` is randomly keyed: enough randomness for a back-off.
    let noise = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let permille = u32::try_from(noise % 1000).unwrap_or(500);
    base.mul_f64(0.5 + f64::from(permille) / 1000.0)
}

/// `stream`, failing with [`Error::Stalled`] (and ending) once it yields nothing for
/// `limit`.
pub(crate) fn stall_limited<T>(
    stream: impl Stream<Item = Result<T>> + Send + 'static,
    limit: Duration,
    endpoint: String,
    what: String,
) -> impl Stream<Item = Result<T>> + Send
where
    T: Send + 'static,
{
    futures_util::stream::unfold((Box::pin(stream), false), move |(mut stream, ended)| {
        let (endpoint, what) = (endpoint.clone(), what.clone());
        async move {
            if ended {
                return None;
            }
            match tokio::time::timeout(limit, stream.next()).await {
                Ok(Some(item)) => Some((item, (stream, false))),
                Ok(None) => None,
                Err(_) => {
                    let stalled = Error::Stalled {
                        endpoint,
                        what,
                        after: limit,
                    };
                    Some((Err(stalled), (stream, true)))
                }
            }
        }
    })
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
                if status == 0 {
                    // The connection broke before an answer.
                    return Err(Error::Transport {
                        endpoint: "scripted://".to_owned(),
                        source: "connection reset".into(),
                    });
                }
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

    /// Reads are tried again after a 5xx, up to three tries; writes and 4xx never are.
    #[tokio::test(start_paused = true)]
    async fn reads_are_retried_after_a_5xx_and_writes_never() {
        let ping = (200, vec![("api-version", "1.43")], "OK");
        let (docker, t) = client(vec![
            ping.clone(),
            (500, vec![], r#"{"message":"boom"}"#),
            (503, vec![], r#"{"message":"busy"}"#),
            (200, vec![], r#"{"ApiVersion":"1.43","Version":"24.0.0"}"#),
        ]);
        docker.version().await.unwrap();
        assert_eq!(docker.retries(), 2);
        assert_eq!(t.seen.lock().unwrap().len(), 4);

        // Three 500s: the third is the answer.
        let (docker, _) = client(vec![
            ping.clone(),
            (500, vec![], r#"{"message":"one"}"#),
            (500, vec![], r#"{"message":"two"}"#),
            (500, vec![], r#"{"message":"three"}"#),
        ]);
        let err = docker.version().await.unwrap_err();
        assert!(err.to_string().contains("three"), "{err}");
        assert_eq!(docker.retries(), 2);

        // A 404 is an answer, not a fault.
        let (docker, t) = client(vec![ping.clone(), (404, vec![], r#"{"message":"no"}"#)]);
        assert!(docker.version().await.unwrap_err().is_not_found());
        assert_eq!((docker.retries(), t.seen.lock().unwrap().len()), (0, 2));

        // A write that failed is never sent again.
        let (docker, t) = client(vec![ping, (500, vec![], r#"{"message":"x"}"#)]);
        let err = docker
            .json::<serde_json::Value>(Method::POST, "/x", Query::new(), None, HeaderMap::new())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Daemon { status: 500, .. }), "{err}");
        assert_eq!((docker.retries(), t.seen.lock().unwrap().len()), (0, 2));
    }

    /// A delete whose answer was lost counts as done when the object is gone, and stays an
    /// error when it is still there; a dropped read is tried again.
    #[tokio::test(start_paused = true)]
    async fn a_lost_delete_answer_is_checked_not_repeated() {
        let ping = (200, vec![("api-version", "1.43")], "OK");
        let (docker, t) = client(vec![
            ping.clone(),
            (0, vec![], ""),
            (0, vec![], ""),
            (404, vec![], r#"{"message":"No such container"}"#),
        ]);
        docker
            .remove_container("web", crate::RemoveContainerOptions::default())
            .await
            .unwrap();
        assert_eq!(
            t.seen.lock().unwrap()[1..],
            [
                "DELETE /v1.43/containers/web?v=false&force=false",
                "GET /v1.43/containers/web/json",
                "GET /v1.43/containers/web/json",
            ]
        );
        let (docker, t) = client(vec![
            ping,
            (0, vec![], ""),
            (200, vec![], r#"{"Id":"web"}"#),
        ]);
        let err = docker
            .remove_container("web", crate::RemoveContainerOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err}");
        assert_eq!(
            t.seen.lock().unwrap().len(),
            3,
            "the delete is not sent again"
        );
    }

    /// A stream that stops moving fails as stalled once the limit passes, however long it
    /// ran before; one that keeps moving is left alone.
    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_is_stalled_and_a_moving_one_is_not() {
        let moving = futures_util::stream::iter([Ok(1), Ok(2)]).then(|x| async move {
            tokio::time::sleep(Duration::from_secs(50)).await;
            x
        });
        let items: Vec<Result<i32>> = stall_limited(
            moving,
            Duration::from_secs(60),
            "e".to_owned(),
            "w".to_owned(),
        )
        .collect()
        .await;
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(Result::is_ok));

        let silent = futures_util::stream::iter([Ok(1)]).chain(futures_util::stream::pending());
        let items: Vec<Result<i32>> = stall_limited(
            silent,
            Duration::from_secs(60),
            "unix:///d".to_owned(),
            "POST /images/create".to_owned(),
        )
        .collect()
        .await;
        assert_eq!(items.len(), 2);
        let err = items[1].as_ref().unwrap_err();
        assert!(matches!(err, Error::Stalled { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "POST /images/create on the Docker daemon at unix:///d made no progress for 1m"
        );
        assert!(!err.is_unreachable());
    }

    #[test]
    fn the_back_off_is_jittered_and_short() {
        let waits: Vec<Duration> = (0..50).map(|_| jittered(READ_BACKOFF[1])).collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= Duration::from_millis(500) && *w < Duration::from_millis(1500))
        );
        assert!(
            waits.iter().any(|w| *w != waits[0]),
            "not all equal: {waits:?}"
        );
        let worst: Duration = READ_BACKOFF.iter().map(|b| b.mul_f64(1.5)).sum();
        assert!(worst < Duration::from_secs(10));
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
            (400, vec![], "plain text failure"),
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
            matches!(&e, Error::Daemon { status: 400, message, .. } if message == "plain text failure"),
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
