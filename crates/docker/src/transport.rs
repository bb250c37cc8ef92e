//! How bytes reach the daemon.
//!
//! [`Transport`] is deliberately small — send one request, get status, headers and a body
//! stream — so the client logic above it (versioning, error mapping, JSON, streams) is the
//! same for every transport, and a test can inject a fake. Two real transports exist:
//! [`UnixTransport`] (hyper + hyperlocal, the default) and [`HttpTransport`] (reqwest with
//! rustls, for `tcp://` with or without TLS).
//!
//! Transports never time out a response body: event and pull streams may legitimately stay
//! open for hours. The client wraps only the wait for response headers in a timeout.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyperlocal::UnixConnector;

use crate::endpoint::{Endpoint, TlsFiles};
use crate::error::{BoxError, Error, Result};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A response body as a stream of chunks. Chunk boundaries are arbitrary.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// One HTTP request to the daemon, already addressed (`/v1.41/containers/json?all=1`).
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method.
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path_and_query: String,
    /// Extra headers (e.g. `X-Registry-Auth`); `Content-Type` is `application/json` for a
    /// body unless given here.
    pub headers: HeaderMap,
    /// A JSON body, if any.
    pub body: Option<Bytes>,
}

/// The daemon's answer: status and headers have arrived, the body streams.
pub struct Response {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body, chunk by chunk.
    pub body: ByteStream,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// Sends requests to one daemon.
pub trait Transport: Send + Sync + fmt::Debug {
    /// Sends `request` and resolves once response headers have arrived.
    fn send(&self, request: Request) -> BoxFuture<'_, Result<Response>>;

    /// The endpoint, for messages: `unix:///var/run/docker.sock`, `tcp://host:2376 (TLS)`.
    fn endpoint(&self) -> &str;
}

/// Builds the transport for an endpoint.
pub fn for_endpoint(endpoint: &Endpoint, connect_timeout: Duration) -> Result<Box<dyn Transport>> {
    Ok(match endpoint {
        Endpoint::Unix(path) => Box::new(UnixTransport::new(path.clone())),
        Endpoint::Tcp { addr, tls } => Box::new(HttpTransport::new(
            addr,
            tls.as_ref(),
            connect_timeout,
            endpoint.to_string(),
        )?),
    })
}

/// HTTP/1.1 over a unix domain socket.
pub struct UnixTransport {
    path: PathBuf,
    label: String,
    client: HyperClient<UnixConnector, Full<Bytes>>,
}

impl fmt::Debug for UnixTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixTransport")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl UnixTransport {
    /// A transport for the socket at `path`. Nothing is connected until the first request.
    pub fn new(path: PathBuf) -> UnixTransport {
        let client = HyperClient::builder(hyper_util::rt::TokioExecutor::new())
            // Idle connections to a local socket are cheap to re-open; holding them long
            // only produces stale-connection errors after a daemon restart.
            .pool_idle_timeout(Duration::from_secs(30))
            .build(UnixConnector);
        UnixTransport {
            label: format!("unix://{}", path.display()),
            path,
            client,
        }
    }
}

impl Transport for UnixTransport {
    fn send(&self, request: Request) -> BoxFuture<'_, Result<Response>> {
        Box::pin(async move {
            let uri: hyper::Uri = hyperlocal::Uri::new(&self.path, &request.path_and_query).into();
            let mut builder = http::Request::builder().method(request.method).uri(uri);
            if let Some(headers) = builder.headers_mut() {
                *headers = request.headers;
                if request.body.is_some() && !headers.contains_key(header::CONTENT_TYPE) {
                    headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                }
            }
            let http_request = builder
                .body(Full::new(request.body.unwrap_or_default()))
                .map_err(|e| Error::InvalidRequest(e.to_string()))?;
            let response = self.client.request(http_request).await.map_err(|e| {
                if e.is_connect() {
                    connect_error(&self.label, Some(self.path.display().to_string()), e)
                } else {
                    Error::Transport {
                        endpoint: self.label.clone(),
                        source: Box::new(e),
                    }
                }
            })?;
            let (parts, body) = response.into_parts();
            let label = self.label.clone();
            let body = body.into_data_stream().map_err(move |e| Error::Transport {
                endpoint: label.clone(),
                source: Box::new(e),
            });
            Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body: Box::pin(body),
            })
        })
    }

    fn endpoint(&self) -> &str {
        &self.label
    }
}

/// HTTP or HTTPS over TCP, via reqwest with rustls.
#[derive(Debug)]
pub struct HttpTransport {
    base: String,
    label: String,
    client: reqwest::Client,
}

impl HttpTransport {
    /// A transport for `addr` (`host:port`). With `tls`, the CA bundle replaces the system
    /// roots (a Docker daemon's certificate is signed by its own CA) and the client
    /// certificate is presented; without, plain HTTP.
    pub fn new(
        addr: &str,
        tls: Option<&TlsFiles>,
        connect_timeout: Duration,
        label: String,
    ) -> Result<HttpTransport> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .http1_only()
            .no_proxy();
        let scheme = if let Some(tls) = tls {
            let tls_err = |what: &str, path: &std::path::Path, e: &dyn fmt::Display| {
                Error::Connect {
                    endpoint: label.clone(),
                    reason: format!("cannot load TLS {what} {}: {e}", path.display()),
                    hint: Some(
                        "check DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem) or the context's TLS files"
                            .to_owned(),
                    ),
                    source: None,
                }
            };
            if let Some(ca) = &tls.ca {
                let pem = std::fs::read(ca).map_err(|e| tls_err("CA bundle", ca, &e))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| tls_err("CA bundle", ca, &e))?;
                builder = builder.tls_certs_only(certs);
            }
            if let Some((cert, key)) = &tls.client {
                let mut pem = std::fs::read(cert).map_err(|e| tls_err("certificate", cert, &e))?;
                pem.push(b'\n');
                pem.extend(std::fs::read(key).map_err(|e| tls_err("key", key, &e))?);
                let identity = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| tls_err("certificate/key pair", cert, &e))?;
                builder = builder.identity(identity);
            }
            if !tls.verify {
                builder = builder.tls_danger_accept_invalid_certs(true);
            }
            "https"
        } else {
            "http"
        };
        let client = builder.build().map_err(|e| Error::Connect {
            endpoint: label.clone(),
            reason: format!("cannot set up the HTTP client: {}", describe_chain(&e)),
            hint: None,
            source: Some(Box::new(e)),
        })?;
        Ok(HttpTransport {
            base: format!("{scheme}://{addr}"),
            label,
            client,
        })
    }
}

impl Transport for HttpTransport {
    fn send(&self, request: Request) -> BoxFuture<'_, Result<Response>> {
        Box::pin(async move {
            let url = format!("{}{}", self.base, request.path_and_query);
            let typed = request.headers.contains_key(header::CONTENT_TYPE);
            let mut builder = self
                .client
                .request(request.method, url)
                .headers(request.headers);
            if let Some(body) = request.body {
                if !typed {
                    builder = builder.header(header::CONTENT_TYPE, "application/json");
                }
                builder = builder.body(body);
            }
            let response = builder.send().await.map_err(|e| {
                if e.is_connect() {
                    connect_error(&self.label, None, e)
                } else {
                    Error::Transport {
                        endpoint: self.label.clone(),
                        source: Box::new(e),
                    }
                }
            })?;
            let status = response.status();
            let headers = response.headers().clone();
            let label = self.label.clone();
            let body = response.bytes_stream().map(move |chunk| {
                chunk.map_err(|e| Error::Transport {
                    endpoint: label.clone(),
                    source: Box::new(e),
                })
            });
            Ok(Response {
                status,
                headers,
                body: Box::pin(body),
            })
        })
    }

    fn endpoint(&self) -> &str {
        &self.label
    }
}

/// Turns a failed connection into an error that says what to do about it.
fn connect_error(
    label: &str,
    socket: Option<String>,
    err: impl StdError + Send + Sync + 'static,
) -> Error {
    let kind = io_error_kind(&err);
    let (reason, hint) = match (kind, socket) {
        (Some(io::ErrorKind::NotFound), Some(path)) => (
            format!("no socket at {path}"),
            Some(
                "is the Docker daemon running? Point swab at it with --host or DOCKER_HOST"
                    .to_owned(),
            ),
        ),
        (Some(io::ErrorKind::PermissionDenied), Some(path)) => (
            format!("permission denied on {path}"),
            Some(
                "add your user to the docker group and log in again, run as root, or use rootless Docker ($XDG_RUNTIME_DIR/docker.sock)"
                    .to_owned(),
            ),
        ),
        (Some(io::ErrorKind::ConnectionRefused), Some(path)) => (
            format!("connection refused on {path}"),
            Some("the socket exists but no daemon is listening; start or restart dockerd".to_owned()),
        ),
        (Some(io::ErrorKind::ConnectionRefused), None) => (
            "connection refused".to_owned(),
            Some("is dockerd listening on this address (dockerd -H tcp://...)?".to_owned()),
        ),
        _ => (describe_chain(&err), None),
    };
    Error::Connect {
        endpoint: label.to_owned(),
        reason,
        hint,
        source: Some(Box::new(err) as BoxError),
    }
}

/// The kind of the first `io::Error` in an error's source chain.
fn io_error_kind(err: &(dyn StdError + 'static)) -> Option<io::ErrorKind> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        current = e.source();
    }
    None
}

/// An error and its sources on one line: hyper and reqwest put the useful part at the end.
pub(crate) fn describe_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut current = err.source();
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}
