//! The one error type of this crate.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Why a registry look-up failed.
///
/// Every variant names the registry (and the reference where there is one) so that a
/// message printed with `{:#}` tells the user where to look without any context from the
/// caller. None of them ever contains a password, token or identity token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The reference is pinned by digest (`name@sha256:...`). Such a reference names one
    /// immutable manifest, so there is nothing newer to ask for; the caller must never
    /// update it, and this crate refuses to ask so that a mistake cannot slip through.
    #[error("{reference} is pinned by digest; digest-pinned images are never checked for updates")]
    PinnedByDigest {
        /// The reference as given.
        reference: String,
    },
    /// The registry does not know the repository or the tag (HTTP 404, `MANIFEST_UNKNOWN`,
    /// `NAME_UNKNOWN`).
    #[error("{reference} was not found on {registry}{}", detail_suffix(message.as_deref()))]
    NotFound {
        /// The reference that was asked for.
        reference: String,
        /// The registry as named in the reference (`docker.io`, `127.0.0.1:5000`).
        registry: String,
        /// The registry's own message, when it sent one.
        message: Option<String>,
    },
    /// The registry refused access; see [`AuthFailure`] for whether credentials were
    /// missing, rejected or insufficient.
    #[error("{registry}: {reason} (repository {repository})")]
    Unauthorized {
        /// The registry as named in the reference.
        registry: String,
        /// The repository path inside the registry.
        repository: String,
        /// What went wrong.
        reason: AuthFailure,
    },
    /// The registry kept answering HTTP 429 after the bounded retries, or asked to wait
    /// longer than [`RegistryOptions::max_retry_delay`](crate::RegistryOptions::max_retry_delay).
    #[error(
        "{registry} is rate limiting requests (HTTP 429 after {attempts} attempt(s){})",
        retry_after.map(|d| format!(", asked to retry after {}s", d.as_secs())).unwrap_or_default()
    )]
    RateLimited {
        /// The registry as named in the reference.
        registry: String,
        /// The last `Retry-After` the registry sent, if it sent one.
        retry_after: Option<Duration>,
        /// How many requests were made.
        attempts: u32,
    },
    /// Any other unsuccessful HTTP status, with the registry's error JSON
    /// (`{"errors":[{"code","message"}]}`) when it sent one.
    #[error("{registry} answered HTTP {status} for {url}{}", ErrorList(errors))]
    Http {
        /// The registry as named in the reference.
        registry: String,
        /// The HTTP status code.
        status: u16,
        /// The URL that failed (never contains credentials).
        url: String,
        /// The registry's error entries, possibly empty (HEAD answers have no body).
        errors: Vec<ErrorEntry>,
    },
    /// The registry could not be reached: DNS, connect, TLS, timeout. The source carries
    /// the details; print with `{:#}` to see them.
    #[error("cannot reach {registry} at {url}")]
    Transport {
        /// The registry as named in the reference.
        registry: String,
        /// The URL that failed.
        url: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered, but not in a way this client understands: a missing
    /// `Content-Type`, a digest that does not match the body, unparsable JSON, a 401
    /// without a usable challenge, a manifest over the 4 MiB limit.
    #[error("{registry} sent an invalid response: {reason}")]
    InvalidResponse {
        /// The registry as named in the reference.
        registry: String,
        /// What was wrong.
        reason: String,
    },
    /// The tag is a multi-platform index without an entry for the requested platform, so
    /// there is nothing this host could run.
    #[error(
        "{reference} has no image for platform {platform} (the index offers: {})",
        if available.is_empty() { "nothing".to_owned() } else { available.join(", ") }
    )]
    PlatformNotFound {
        /// The reference that was asked for.
        reference: String,
        /// The requested platform, `os/architecture[/variant]`.
        platform: String,
        /// The platforms the index does offer.
        available: Vec<String>,
    },
    /// A docker credential helper (`credsStore` or `credHelpers` in the docker config)
    /// is missing, failed, timed out or printed something unreadable.
    #[error("credential helper docker-credential-{helper} for {registry}: {reason}")]
    CredentialHelper {
        /// The helper's name without the `docker-credential-` prefix.
        helper: String,
        /// The registry whose credentials were asked for.
        registry: String,
        /// What went wrong.
        reason: String,
    },
    /// The HTTP client could not be built (the TLS backend failed to initialize).
    #[error("cannot set up the registry HTTP client (are CA certificates installed?): {0}")]
    ClientSetup(#[source] reqwest::Error),
    /// The docker CLI config file exists but cannot be read or parsed.
    #[error("cannot use docker config {}: {reason}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What was wrong (never the file's content: it holds secrets).
        reason: String,
    },
}

/// Why a registry refused access.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthFailure {
    /// The registry needs credentials and none are configured for it. Docker Hub also
    /// answers like this for repositories that do not exist.
    CredentialsRequired,
    /// The registry (or its token server) rejected the configured credentials.
    CredentialsRejected,
    /// The credentials were accepted, but they do not grant pull access to this repository
    /// (or the repository does not exist and the registry hides that).
    Denied,
    /// Only an identity token is configured, but the registry asks for basic auth, which
    /// needs a user name and password.
    IdentityTokenNotUsable,
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CredentialsRequired => {
                "authentication required and no credentials are configured for this registry \
                 (docker login), or the repository does not exist"
            }
            Self::CredentialsRejected => "the configured credentials were rejected",
            Self::Denied => {
                "access denied: the credentials do not grant pull access, or the repository \
                 does not exist"
            }
            Self::IdentityTokenNotUsable => {
                "the registry asks for basic auth but only an identity token is configured"
            }
        })
    }
}

/// One entry of a registry's error JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ErrorEntry {
    /// `MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `DENIED`, `TOOMANYREQUESTS`, ...
    #[serde(default)]
    pub code: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
}

/// Parses `{"errors":[...]}`; anything else gives an empty list, because an error body is
/// advisory and must not hide the status that came with it.
pub(crate) fn parse_error_body(body: &[u8]) -> Vec<ErrorEntry> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<ErrorEntry>,
    }
    serde_json::from_slice::<Body>(body)
        .map(|b| b.errors)
        .unwrap_or_default()
}

fn detail_suffix(message: Option<&str>) -> String {
    message
        .filter(|m| !m.is_empty())
        .map(|m| format!(" ({m})"))
        .unwrap_or_default()
}

struct ErrorList<'a>(&'a [ErrorEntry]);

impl fmt::Display for ErrorList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => write!(f, "{} {}", e.code, e.message)?,
                (false, true) => f.write_str(&e.code)?,
                _ => f.write_str(&e.message)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_error_surfaces_the_registry_messages() {
        let errors = parse_error_body(
            br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"},{"code":"X","message":""}]}"#,
        );
        let err = RegistryError::Http {
            registry: "r.example".into(),
            status: 403,
            url: "https://r.example/v2/a/manifests/b".into(),
            errors,
        };
        assert_eq!(
            err.to_string(),
            "r.example answered HTTP 403 for https://r.example/v2/a/manifests/b: \
             DENIED requested access to the resource is denied; X"
        );
    }

    #[test]
    fn error_body_that_is_not_json_gives_no_entries() {
        assert!(parse_error_body(b"<html>bad gateway</html>").is_empty());
        assert!(parse_error_body(b"").is_empty());
    }
}
