//! The error type of every client call.
//!
//! Callers branch on the variant, not on message text: a janitor must tell "the object is
//! gone" (fine, someone else removed it) from "the object is in use" (skip it) from "the
//! daemon is down" (stop everything). Docker's own `message` is kept verbatim in each
//! daemon-side variant because it is usually the most precise explanation there is.

use std::time::Duration;

use crate::version::ApiVersion;

/// Boxed error source, for transport errors from hyper or reqwest.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong talking to the Docker daemon.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The daemon could not be reached: no socket, connection refused, permission denied,
    /// TLS handshake failure. `hint` says what the user can do about it.
    #[error("cannot connect to the Docker daemon at {endpoint}: {reason}{}", hint_suffix(.hint.as_deref()))]
    Connect {
        /// The socket path or URL that was tried.
        endpoint: String,
        /// A short description of the failure, e.g. "permission denied".
        reason: String,
        /// What to do about it, when there is a likely fix.
        hint: Option<String>,
        /// The underlying transport error.
        #[source]
        source: Option<BoxError>,
    },

    /// The daemon did not send response headers in time. Streamed bodies (events, pull
    /// progress, wait) are never timed out; only the wait for the response to start is.
    #[error("the Docker daemon at {endpoint} did not answer {what} within {}", humantime::format_duration(*.after))]
    Timeout {
        /// The socket path or URL.
        endpoint: String,
        /// The request, as `METHOD /path`.
        what: String,
        /// The timeout that expired.
        after: Duration,
    },

    /// A streamed answer that must keep moving (a pull's progress) sent nothing for too
    /// long: the work behind it is stuck, however long it might take in all.
    #[error("{what} on the Docker daemon at {endpoint} made no progress for {}", humantime::format_duration(*.after))]
    Stalled {
        /// The socket path or URL.
        endpoint: String,
        /// The request, as `METHOD /path`.
        what: String,
        /// The silence that was too long.
        after: Duration,
    },

    /// HTTP 404: the container, image, network or volume does not exist (any more).
    #[error("not found: {message}")]
    NotFound {
        /// Docker's `message`.
        message: String,
    },

    /// HTTP 409: the object is in use or in a conflicting state (an image used by a
    /// container, a name already taken, a container already being removed).
    #[error("conflict: {message}")]
    Conflict {
        /// Docker's `message`.
        message: String,
    },

    /// Any other non-success status from the daemon.
    #[error("the Docker daemon refused {what} (HTTP {status}): {message}")]
    Daemon {
        /// HTTP status code.
        status: u16,
        /// The request, as `METHOD /path`.
        what: String,
        /// Docker's `message`, or the raw body when it was not JSON.
        message: String,
    },

    /// An error reported inside a 200 streamed response, e.g. a pull that failed half-way:
    /// `{"error": "...", "errorDetail": {...}}`.
    #[error("{message}")]
    Stream {
        /// Docker's error message from the stream.
        message: String,
    },

    /// The daemon speaks an API older than the oldest this client supports.
    #[error(
        "the Docker daemon speaks API {server}, but swab needs at least {min} (Docker 20.10); upgrade the daemon"
    )]
    UnsupportedVersion {
        /// The daemon's API version.
        server: ApiVersion,
        /// The minimum this client supports.
        min: ApiVersion,
    },

    /// The daemon's response could not be decoded into the expected shape.
    #[error("unexpected response to {what}: {source}")]
    Decode {
        /// The request, as `METHOD /path`.
        what: String,
        /// The JSON error, which says where decoding failed.
        #[source]
        source: serde_json::Error,
    },

    /// A streamed response had a line longer than the decoder accepts; the stream is abandoned
    /// rather than buffering without bound.
    #[error("a streamed response line exceeded {max} bytes")]
    LineTooLong {
        /// The limit.
        max: usize,
    },

    /// A connection that was established broke while a response was read.
    #[error(
        "connection to the Docker daemon at {endpoint} failed while reading the response: {source}"
    )]
    Transport {
        /// The socket path or URL.
        endpoint: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },

    /// The endpoint could not be determined or is malformed.
    #[error(transparent)]
    Endpoint(#[from] crate::endpoint::EndpointError),

    /// A request was malformed before it was sent (e.g. a reference that is not a valid
    /// image name); nothing was sent to the daemon.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

fn hint_suffix(hint: Option<&str>) -> String {
    hint.map(|h| format!(" ({h})")).unwrap_or_default()
}

impl Error {
    /// True when the object the request named does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// True when the daemon refused because of a conflict (in use, name taken, ...).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }

    /// True when a request may have reached the daemon and may still take effect, though no
    /// answer came: it timed out, or the connection broke after it was sent. A change sent
    /// like that must be checked, not assumed done or undone.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Error::Timeout { .. } | Error::Transport { .. })
    }

    /// True when the daemon could not be reached, did not answer in time, or the connection
    /// broke (a daemon restarting mid-request), as opposed to answering with an error. The
    /// CLI maps this to exit code 3 and the daemon retries.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::Timeout { .. } | Error::Transport { .. }
        )
    }
}

/// Result alias for client calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
