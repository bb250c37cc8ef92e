//! The HTTP side: requests, auth challenges, token cache, 429 retries, digests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt as _;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use swab_reference::ImageRef;
use swab_reference::manifest::{RemoteDigest, media_type};
use tokio::sync::Semaphore;

use crate::challenge::{Challenge, parse_challenges};
use crate::credentials::{CredentialStore, Credentials, Secret, normalize_registry_key};
use crate::error::{AuthFailure, RegistryError, parse_error_body};
use crate::platform::{Platform, Selection, select_entry};
use crate::ratelimit::RateLimit;

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// Registries must not serve manifests over 4 MiB (distribution spec), so a bigger body is
/// a broken or hostile server, not a manifest.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// The most tags read from one repository: past it the list is refused, not truncated.
pub const MAX_TAGS: usize = 100_000;

/// The target of a `Link` header's `rel="next"` entry (RFC 8288, as the distribution spec
/// uses it: `</v2/name/tags/list?last=x&n=100>; rel="next"`). Targets are read between `<`
/// and `>`, so one holding `,` or `;` (legal in a URL) is whole; parameters are split
/// outside quotes; `rel` is matched without regard to case and may list several relations
/// (`rel="next last"`).
pub(crate) fn next_link(link: &str) -> Option<String> {
    let mut rest = link;
    loop {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        // The parameters run to the next entry: a `,` outside quotes.
        let after = &rest[close + 1..];
        let mut quoted = false;
        let end = after
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    quoted = !quoted;
                }
                c == ',' && !quoted
            })
            .map_or(after.len(), |(i, _)| i);
        let is_next = after[..end].split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = &after[end..];
    }
}

/// Token answers are a few kilobytes.
const MAX_TOKEN_BYTES: usize = 1024 * 1024;
/// Error bodies are only read to surface a message.
const MAX_ERROR_BYTES: usize = 64 * 1024;
/// A cached token is dropped this long before it expires, so that it does not expire
/// between the check and the request.
const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// What the token spec says to assume when `expires_in` is missing.
const DEFAULT_TOKEN_LIFETIME: u64 = 60;

/// Tunables of a [`RegistryClient`].
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Registries reached over plain HTTP besides loopback ones, as `host:port` or `host`
    /// (a bare host matches any port), like the daemon's `insecure-registries`. Unlike the
    /// daemon, no HTTPS attempt comes first.
    pub insecure_registries: Vec<String>,
    /// Time to establish a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Total time for one request including its body; registry answers are small.
    pub request_timeout: Duration,
    /// Retries after HTTP 429 before giving up with [`RegistryError::RateLimited`].
    pub max_retries: u32,
    /// Longest wait between retries. A `Retry-After` asking for more fails at once: waiting
    /// minutes inside a janitor run helps nobody.
    pub max_retry_delay: Duration,
    /// Look-ups in flight at once to one registry, across all clones of the client:
    /// polite to each registry, while several registries are asked side by side.
    pub max_concurrent_per_registry: usize,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            insecure_registries: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            max_retry_delay: Duration::from_secs(60),
            max_concurrent_per_registry: 16,
            user_agent: concat!("swab/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// A registry client: "what digest does the registry have for this tag, for this
/// platform?".
///
/// Cheap to clone; clones share the connection pool, the token cache and the concurrency
/// limit. `Debug` never shows credentials or tokens.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    options: RegistryOptions,
    credentials: CredentialStore,
    state: Mutex<AuthState>,
    /// One concurrency limit per registry host, made on first use.
    limiters: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
    /// The last pull rate limit each registry reported (Docker Hub does).
    rate_limits: std::sync::Mutex<BTreeMap<String, RateLimit>>,
    /// Requests tried again after a 5xx, a broken connection or a timeout.
    retries: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("options", &self.inner.options)
            .field("credentials", &self.inner.credentials)
            .finish_non_exhaustive()
    }
}

/// What the client learned about registries during its lifetime. Never holds the lock
/// across an await.
#[derive(Default)]
struct AuthState {
    /// Bearer tokens by (registry, scope).
    tokens: HashMap<(String, String), CachedToken>,
    /// How each registry asked to authenticate, so the next repository on it skips the
    /// anonymous round trip.
    schemes: HashMap<String, Scheme>,
    /// Credentials already looked up (helpers are slow), by registry.
    credentials: HashMap<String, Option<Credentials>>,
}

struct CachedToken {
    token: Secret,
    expires: Instant,
    with_credentials: bool,
}

#[derive(Clone)]
enum Scheme {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// What a request carried in `Authorization`.
#[derive(Clone)]
enum Authorization {
    Bearer {
        token: Secret,
        with_credentials: bool,
    },
    Basic {
        username: String,
        password: Secret,
    },
}

impl Authorization {
    fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Self::Bearer { token, .. } => request.bearer_auth(token.expose()),
            Self::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
        }
    }
}

/// The repository a request is about.
struct Target<'a> {
    reference: &'a ImageRef,
    /// `repository:<path>:pull`.
    scope: String,
}

impl<'a> Target<'a> {
    /// Pull access to `reference`'s repository: every request this client makes.
    fn pull(reference: &'a ImageRef) -> Target<'a> {
        Target {
            reference,
            scope: format!("repository:{}:pull", reference.path()),
        }
    }

    fn registry(&self) -> &str {
        self.reference.registry()
    }
}

/// The host part of `host[:port]` or `[v6]:port`.
fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match registry.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => registry,
    }
}

/// Whether `registry` may be spoken to over plain HTTP: loopback (127.0.0.0/8, `::1`,
/// `localhost`, as the Docker daemon treats them) or listed as insecure.
pub(crate) fn plain_http_allowed(registry: &str, insecure: &[String]) -> bool {
    let host = host_of(registry);
    if host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    {
        return true;
    }
    let registry = normalize_registry_key(registry);
    let host = host.to_ascii_lowercase();
    insecure.iter().any(|entry| {
        let entry = normalize_registry_key(entry);
        entry == registry || entry == host
    })
}

/// The host that serves a registry's API: Docker Hub's is not `docker.io`.
fn api_host(registry: &str) -> &str {
    if registry == "docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    }
}

/// Parses `Retry-After`: delay seconds or an HTTP date (relative to `now`; a date in the
/// past means "now"). `None` when unreadable.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        SystemTime::from(date)
            .duration_since(now)
            .unwrap_or(Duration::ZERO),
    )
}

/// Tries a registry request gets in all when it meets a 5xx, a broken connection or a
/// timeout ([`RegistryClient::retries`] counts the extra ones).
pub const FAULT_TRIES: usize = 3;
/// The waits before the 2nd and 3rd try, before jitter.
const FAULT_BACKOFF: [Duration; FAULT_TRIES - 1] =
    [Duration::from_millis(250), Duration::from_secs(1)];

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

/// Exponential backoff without `Retry-After`: 1 s, 2 s, 4 s, ...
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(10))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn sha256_digest(body: &[u8]) -> String {
    let hash = Sha256::digest(body);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash {
        use fmt::Write as _;
        let _ = write!(out, "{byte:02x}");
    }
    out
}

impl RegistryClient {
    /// A client with the given credentials and options. Fails only if the TLS backend
    /// cannot be set up.
    pub fn new(
        credentials: CredentialStore,
        options: RegistryOptions,
    ) -> Result<Self, RegistryError> {
        // reqwest drops `Authorization` on redirects to another host; on top of that, never
        // follow a redirect from HTTPS down to plain HTTP, and follow few.
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let downgrade = attempt.url().scheme() == "http"
                && attempt.previous().iter().any(|u| u.scheme() == "https");
            if downgrade {
                attempt.error("refusing to follow a redirect from HTTPS to plain HTTP")
            } else if attempt.previous().len() > 5 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(options.user_agent.clone())
            .redirect(redirects)
            .build()
            .map_err(RegistryError::ClientSetup)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                limiters: std::sync::Mutex::default(),
                rate_limits: std::sync::Mutex::default(),
                retries: std::sync::atomic::AtomicU64::default(),
                options,
                credentials,
                state: Mutex::default(),
            }),
        })
    }

    /// The current digest of a tag, and for a multi-platform index the digest of the entry
    /// for `platform`.
    ///
    /// One `HEAD` of the manifest; a `GET` follows only when the tag is an index (to find the
    /// platform entry) or the registry sent no `Docker-Content-Digest` (the digest is then
    /// the sha256 of the body). Fails with [`RegistryError::PinnedByDigest`] for
    /// `name@sha256:...` references without asking anything.
    pub async fn manifest_digest(
        &self,
        reference: &ImageRef,
        platform: &Platform,
    ) -> Result<RemoteDigest, RegistryError> {
        self.lookup(reference, platform, &[] as &[&str]).await
    }

    /// Like [`manifest_digest`](Self::manifest_digest), but skips the `GET` of an index whose
    /// digest is already among the local image's `RepoDigests`. Docker Hub counts manifest
    /// `GET`s against its pull rate limit and `HEAD`s not, so this keeps the common
    /// "nothing changed" check free. The answer then has no
    /// [`platform_digest`](RemoteDigest::platform_digest), and
    /// [`is_update_of`](RemoteDigest::is_update_of) with the same digests is `false`.
    pub async fn manifest_digest_unless_current<S: AsRef<str>>(
        &self,
        reference: &ImageRef,
        platform: &Platform,
        local_repo_digests: &[S],
    ) -> Result<RemoteDigest, RegistryError> {
        self.lookup(reference, platform, local_repo_digests).await
    }

    /// Whether the registry has the manifest `digest` in `reference`'s repository: one `HEAD`
    /// of `/v2/<name>/manifests/<digest>`. On the containerd image store every tagged image
    /// carries a `RepoDigest` made from its name, pushed or not; this is how a caller tells a
    /// local build from an image that came from the registry.
    ///
    /// `Ok(false)` only for a 404; every other failure is an error.
    pub async fn manifest_exists(
        &self,
        reference: &ImageRef,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let _permit = self.permit(reference.registry()).await;
        let target = Target::pull(reference);
        let url = self.manifest_url(reference, digest)?;
        let head = self.send(&target, &Method::HEAD, &url).await?;
        match self.check_status(&target, &url, head).await {
            Ok(_) => Ok(true),
            Err(RegistryError::NotFound { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The config digest of the single-platform manifest `digest` in `reference`'s
    /// repository: one `GET` of `/v2/<name>/manifests/<digest>`, its body checked against
    /// the digest. On the classic image store an image's ID is its config digest, and a pull
    /// by tag records only the index digest; this is how a caller tells whether a changed
    /// index still has the local image as its entry for this platform.
    pub async fn manifest_config_digest(
        &self,
        reference: &ImageRef,
        digest: &str,
    ) -> Result<String, RegistryError> {
        let _permit = self.permit(reference.registry()).await;
        let target = Target::pull(reference);
        let url = self.manifest_url(reference, digest)?;
        let get = self.send(&target, &Method::GET, &url).await?;
        let get = self.check_status(&target, &url, get).await?;
        let body = self
            .read_body(target.registry(), get, MAX_MANIFEST_BYTES)
            .await?;
        if digest.starts_with("sha256:") && sha256_digest(&body) != digest {
            return Err(self.invalid(
                &target,
                format!("the manifest {digest} of {reference} does not have that digest"),
            ));
        }
        #[derive(serde::Deserialize)]
        struct Config {
            digest: String,
        }
        #[derive(serde::Deserialize)]
        struct Manifest {
            config: Config,
        }
        serde_json::from_slice::<Manifest>(&body)
            .map(|m| m.config.digest)
            .map_err(|e| {
                self.invalid(
                    &target,
                    format!("the manifest {digest} of {reference} has no config digest: {e}"),
                )
            })
    }

    /// [`manifest_digest`](Self::manifest_digest) for many references: each distinct
    /// reference is asked about once, at most
    /// [`max_concurrent_per_registry`](RegistryOptions::max_concurrent_per_registry) at a
    /// time per registry. Results are sorted by reference.
    pub async fn manifest_digests<'a>(
        &self,
        references: impl IntoIterator<Item = &'a ImageRef>,
        platform: &Platform,
    ) -> Vec<(ImageRef, Result<RemoteDigest, RegistryError>)> {
        let distinct: BTreeSet<&ImageRef> = references.into_iter().collect();
        let mut results: Vec<_> = futures_util::stream::iter(distinct)
            .map(|reference| async move {
                (
                    reference.clone(),
                    self.manifest_digest(reference, platform).await,
                )
            })
            // Each registry's own limit applies inside; this only bounds the futures alive.
            .buffer_unordered(self.inner.options.max_concurrent_per_registry.max(1) * 8)
            .collect()
            .await;
        results.sort_by(|a, b| a.0.cmp(&b.0));
        results
    }

    async fn lookup<S: AsRef<str>>(
        &self,
        reference: &ImageRef,
        platform: &Platform,
        local_repo_digests: &[S],
    ) -> Result<RemoteDigest, RegistryError> {
        let (None, Some(tag)) = (reference.digest(), reference.tag()) else {
            return Err(RegistryError::PinnedByDigest {
                reference: reference.to_string(),
            });
        };
        let _permit = self.permit(reference.registry()).await;
        let target = Target::pull(reference);
        let url = self.manifest_url(reference, tag)?;

        let head = self.send(&target, &Method::HEAD, &url).await?;
        let head = self.check_status(&target, &url, head).await?;
        let head_digest = header_str(head.headers(), "docker-content-digest").map(str::to_owned);
        let head_type = header_str(head.headers(), header::CONTENT_TYPE.as_str())
            .map(|t| t.split(';').next().unwrap_or(t).trim().to_owned());
        if let Some(limit) = RateLimit::from_headers(
            header_str(head.headers(), "ratelimit-limit"),
            header_str(head.headers(), "ratelimit-remaining"),
        ) {
            self.inner
                .rate_limits
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(reference.registry().to_owned(), limit);
        }
        drop(head);
        match (&head_digest, &head_type) {
            (Some(digest), Some(media_type)) if !media_type::is_index(media_type) => {
                return Ok(RemoteDigest {
                    digest: digest.clone(),
                    media_type: media_type.clone(),
                    platform_digest: None,
                });
            }
            (Some(digest), Some(media_type))
                if local_repo_digests.iter().any(|d| {
                    d.as_ref().rsplit_once('@').map_or(d.as_ref(), |(_, d)| d) == digest
                }) =>
            {
                return Ok(RemoteDigest {
                    digest: digest.clone(),
                    media_type: media_type.clone(),
                    platform_digest: None,
                });
            }
            _ => {}
        }

        let get = self.send(&target, &Method::GET, &url).await?;
        let get = self.check_status(&target, &url, get).await?;
        let get_digest = header_str(get.headers(), "docker-content-digest").map(str::to_owned);
        let get_type = header_str(get.headers(), header::CONTENT_TYPE.as_str())
            .map(|t| t.split(';').next().unwrap_or(t).trim().to_owned());
        let body = self
            .read_body(target.registry(), get, MAX_MANIFEST_BYTES)
            .await?;
        let computed = sha256_digest(&body);
        let digest = match get_digest {
            Some(d) if d.starts_with("sha256:") && d != computed => {
                return Err(self.invalid(
                    &target,
                    format!(
                        "the manifest of {reference} has digest {computed} but the registry \
                         says {d}"
                    ),
                ));
            }
            // Another algorithm cannot be checked here; trust the registry's name for it.
            Some(d) => d,
            None => computed,
        };
        if head_digest.as_ref().is_some_and(|h| *h != digest) {
            tracing::debug!(%reference, "tag moved between HEAD and GET; using the GET answer");
        }
        let media_type = match get_type.filter(|t| t != "application/json") {
            Some(t) => t,
            None => sniff_media_type(&body)
                .ok_or_else(|| self.invalid(&target, "the manifest has no media type".into()))?,
        };
        let platform_digest = if media_type::is_index(&media_type) {
            match select_entry(&body, platform).map_err(|e| self.invalid(&target, e))? {
                Selection::Found(d) => Some(d),
                Selection::Missing(available) => {
                    return Err(RegistryError::PlatformNotFound {
                        reference: reference.to_string(),
                        platform: platform.to_string(),
                        available,
                    });
                }
            }
        } else {
            None
        };
        Ok(RemoteDigest {
            digest,
            media_type,
            platform_digest,
        })
    }

    /// How many requests this client (and its clones) tried again after a 5xx, a broken
    /// connection or a timeout (three tries in all, at most).
    pub fn retries(&self) -> u64 {
        self.inner
            .retries
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The pull rate limit each registry last reported (only Docker Hub reports one), by
    /// registry host.
    pub fn rate_limits(&self) -> BTreeMap<String, RateLimit> {
        self.inner
            .rate_limits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A place among the look-ups allowed at once to `registry`.
    async fn permit(&self, registry: &str) -> tokio::sync::OwnedSemaphorePermit {
        let limiter = {
            let mut limiters = self
                .inner
                .limiters
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            limiters
                .entry(registry.to_owned())
                .or_insert_with(|| {
                    Arc::new(Semaphore::new(
                        self.inner.options.max_concurrent_per_registry.max(1),
                    ))
                })
                .clone()
        };
        limiter
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Every tag of `reference`'s repository: `GET /v2/<name>/tags/list?n=<page>`, following
    /// the `Link: <...>; rel="next"` pages the registry sends (registries cap a page, Docker
    /// Hub at 100 or 1,000), up to [`MAX_TAGS`] tags.
    pub async fn tags(
        &self,
        reference: &ImageRef,
        page: usize,
    ) -> Result<Vec<String>, RegistryError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let _permit = self.permit(reference.registry()).await;
        let target = Target::pull(reference);
        let first = self.manifest_url(reference, "x")?;
        let mut url = first.clone();
        url.set_path(&format!("/v2/{}/tags/list", reference.path()));
        url.set_query(Some(&format!("n={}", page.max(1))));
        let mut tags: Vec<String> = Vec::new();
        loop {
            let response = self.send(&target, &Method::GET, &url).await?;
            let response = self.check_status(&target, &url, response).await?;
            let next = header_str(response.headers(), "link").and_then(next_link);
            let body = self
                .read_body(target.registry(), response, MAX_MANIFEST_BYTES)
                .await?;
            let page: Page = serde_json::from_slice(&body).map_err(|e| {
                self.invalid(
                    &target,
                    format!("the tag list of {reference} is not JSON: {e}"),
                )
            })?;
            tags.extend(page.tags.unwrap_or_default());
            if tags.len() > MAX_TAGS {
                return Err(self.invalid(
                    &target,
                    format!("{reference}'s repository has more than {MAX_TAGS} tags"),
                ));
            }
            match next {
                Some(next) => {
                    url = url.join(&next).map_err(|e| {
                        self.invalid(&target, format!("a bad next-page link `{next}`: {e}"))
                    })?;
                }
                None => break,
            }
        }
        Ok(tags)
    }

    fn manifest_url(&self, reference: &ImageRef, tag: &str) -> Result<Url, RegistryError> {
        let registry = reference.registry();
        let scheme = if plain_http_allowed(registry, &self.inner.options.insecure_registries) {
            "http"
        } else {
            "https"
        };
        let text = format!(
            "{scheme}://{}/v2/{}/manifests/{tag}",
            api_host(registry),
            reference.path()
        );
        Url::parse(&text).map_err(|e| RegistryError::InvalidResponse {
            registry: registry.to_owned(),
            reason: format!("cannot build a URL for {reference}: {e}"),
        })
    }

    fn invalid(&self, target: &Target<'_>, reason: String) -> RegistryError {
        let _ = self;
        RegistryError::InvalidResponse {
            registry: target.registry().to_owned(),
            reason,
        }
    }

    /// Sends a request, answering one auth challenge: anonymous (or with what is known about
    /// the registry) first; on 401, the challenge's scheme with the configured credentials,
    /// once.
    async fn send(
        &self,
        target: &Target<'_>,
        method: &Method,
        url: &Url,
    ) -> Result<Response, RegistryError> {
        let mut authorization = self.known_authorization(target).await?;
        let mut answered = false;
        loop {
            let response = self
                .send_with_retries(target.registry(), url, || {
                    let request = self
                        .inner
                        .http
                        .request(method.clone(), url.clone())
                        .header(header::ACCEPT, ACCEPT);
                    match &authorization {
                        Some(a) => a.apply(request),
                        None => request,
                    }
                })
                .await?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            if answered {
                self.forget_token(target);
                return Err(RegistryError::Unauthorized {
                    registry: target.registry().to_owned(),
                    repository: target.reference.path().to_owned(),
                    reason: match &authorization {
                        None
                        | Some(Authorization::Bearer {
                            with_credentials: false,
                            ..
                        }) => AuthFailure::CredentialsRequired,
                        Some(Authorization::Basic { .. }) => AuthFailure::CredentialsRejected,
                        Some(Authorization::Bearer { .. }) => AuthFailure::Denied,
                    },
                });
            }
            let challenges: Vec<Challenge> = response
                .headers()
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(parse_challenges)
                .collect();
            authorization = Some(self.answer(target, &challenges).await?);
            answered = true;
        }
    }

    /// Authorization to send without waiting for a challenge: a cached token, or what the
    /// registry asked for last time.
    async fn known_authorization(
        &self,
        target: &Target<'_>,
    ) -> Result<Option<Authorization>, RegistryError> {
        let scheme = {
            let state = self.lock();
            let key = (target.registry().to_owned(), target.scope.clone());
            if let Some(token) = state.tokens.get(&key)
                && token.expires > Instant::now()
            {
                return Ok(Some(Authorization::Bearer {
                    token: token.token.clone(),
                    with_credentials: token.with_credentials,
                }));
            }
            state.schemes.get(target.registry()).cloned()
        };
        match scheme {
            None => Ok(None),
            Some(Scheme::Basic) => match self.credentials(target.registry()).await? {
                Some(Credentials::Basic { username, password }) => {
                    Ok(Some(Authorization::Basic { username, password }))
                }
                _ => Ok(None),
            },
            Some(Scheme::Bearer { realm, service }) => self
                .bearer_token(target, &realm, service.as_deref())
                .await
                .map(Some),
        }
    }

    async fn answer(
        &self,
        target: &Target<'_>,
        challenges: &[Challenge],
    ) -> Result<Authorization, RegistryError> {
        let registry = target.registry();
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let realm = bearer
                .param("realm")
                .filter(|r| !r.is_empty())
                .ok_or_else(|| self.invalid(target, "a Bearer challenge without realm".into()))?;
            let service = bearer.param("service").filter(|s| !s.is_empty());
            self.lock().schemes.insert(
                registry.to_owned(),
                Scheme::Bearer {
                    realm: realm.to_owned(),
                    service: service.map(str::to_owned),
                },
            );
            return self.bearer_token(target, realm, service).await;
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            self.lock()
                .schemes
                .insert(registry.to_owned(), Scheme::Basic);
            let reason = match self.credentials(registry).await? {
                Some(Credentials::Basic { username, password }) => {
                    return Ok(Authorization::Basic { username, password });
                }
                Some(_) => AuthFailure::IdentityTokenNotUsable,
                None => AuthFailure::CredentialsRequired,
            };
            return Err(RegistryError::Unauthorized {
                registry: registry.to_owned(),
                repository: target.reference.path().to_owned(),
                reason,
            });
        }
        let offered: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        Err(self.invalid(
            target,
            format!(
                "HTTP 401 without a Bearer or Basic challenge (schemes offered: {})",
                if offered.is_empty() {
                    "none".to_owned()
                } else {
                    offered.join(", ")
                }
            ),
        ))
    }

    async fn credentials(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some(c) = self.lock().credentials.get(registry) {
            return Ok(c.clone());
        }
        let credentials = self.inner.credentials.get(registry).await?;
        self.lock()
            .credentials
            .insert(registry.to_owned(), credentials.clone());
        Ok(credentials)
    }

    /// Gets a token from the token server (`realm`) for the target's scope and caches it.
    async fn bearer_token(
        &self,
        target: &Target<'_>,
        realm: &str,
        service: Option<&str>,
    ) -> Result<Authorization, RegistryError> {
        let registry = target.registry();
        let credentials = self.credentials(registry).await?;
        let url = Url::parse(realm)
            .map_err(|e| self.invalid(target, format!("the token realm {realm:?}: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" => {
                let host = url.host_str().unwrap_or_default();
                let host_port = url
                    .port()
                    .map_or_else(|| host.to_owned(), |p| format!("{host}:{p}"));
                if credentials.is_some()
                    && !plain_http_allowed(&host_port, &self.inner.options.insecure_registries)
                {
                    return Err(self.invalid(
                        target,
                        format!(
                            "the token server {realm} uses plain HTTP; refusing to send \
                             credentials to it"
                        ),
                    ));
                }
            }
            other => {
                return Err(self.invalid(
                    target,
                    format!("the token realm has the unsupported scheme {other}"),
                ));
            }
        }
        let response = self
            .request_token(registry, &target.scope, url, service, credentials.as_ref())
            .await?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(RegistryError::Unauthorized {
                registry: registry.to_owned(),
                repository: target.reference.path().to_owned(),
                reason: if credentials.is_some() {
                    AuthFailure::CredentialsRejected
                } else {
                    AuthFailure::CredentialsRequired
                },
            });
        }
        if !status.is_success() {
            let body = self
                .read_body(registry, response, MAX_ERROR_BYTES)
                .await
                .unwrap_or_default();
            return Err(RegistryError::Http {
                registry: registry.to_owned(),
                status: status.as_u16(),
                url: realm.to_owned(),
                errors: parse_error_body(&body),
            });
        }
        let body = self.read_body(registry, response, MAX_TOKEN_BYTES).await?;
        #[derive(Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            self.invalid(
                target,
                format!("the token server's answer is not JSON: {e}"),
            )
        })?;
        let token = answer
            .token
            .filter(|t| !t.is_empty())
            .or(answer.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| self.invalid(target, "the token server sent no token".into()))?;
        let token = Secret::new(token);
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME));
        let with_credentials = credentials.is_some();
        if let Some(valid) = lifetime.checked_sub(TOKEN_EXPIRY_MARGIN) {
            self.lock().tokens.insert(
                (registry.to_owned(), target.scope.clone()),
                CachedToken {
                    token: token.clone(),
                    expires: Instant::now() + valid,
                    with_credentials,
                },
            );
        }
        Ok(Authorization::Bearer {
            token,
            with_credentials,
        })
    }

    /// Asks the token server for a pull token: a GET with basic credentials (or none), or
    /// the OAuth2 refresh-token grant for identity tokens.
    async fn request_token(
        &self,
        registry: &str,
        scope: &str,
        mut url: Url,
        service: Option<&str>,
        credentials: Option<&Credentials>,
    ) -> Result<Response, RegistryError> {
        match credentials {
            Some(Credentials::IdentityToken { token }) => {
                // OAuth2 refresh-token grant, as the docker CLI does with identity tokens.
                // In a block of its own: the serializer is not Send, and must not live
                // across the await (the daemon's API runs checks on other threads).
                let body = {
                    let mut form = form_body();
                    form.append_pair("grant_type", "refresh_token")
                        .append_pair("client_id", "swab")
                        .append_pair("scope", scope)
                        .append_pair("refresh_token", token.expose());
                    if let Some(service) = service {
                        form.append_pair("service", service);
                    }
                    form.finish()
                };
                self.send_with_retries(registry, &url, || {
                    self.inner
                        .http
                        .post(url.clone())
                        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(body.clone())
                })
                .await
            }
            other => {
                {
                    let mut query = url.query_pairs_mut();
                    if let Some(service) = service {
                        query.append_pair("service", service);
                    }
                    query.append_pair("scope", scope);
                }
                self.send_with_retries(registry, &url, || {
                    let request = self.inner.http.get(url.clone());
                    match other {
                        Some(Credentials::Basic { username, password }) => {
                            request.basic_auth(username, Some(password.expose()))
                        }
                        _ => request,
                    }
                })
                .await
            }
        }
    }

    fn forget_token(&self, target: &Target<'_>) {
        self.lock()
            .tokens
            .remove(&(target.registry().to_owned(), target.scope.clone()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AuthState> {
        // The state is a cache; one left half-updated by a panic is still usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `build()` (a read: every registry request swab makes is), retrying on 429 as
    /// [`RegistryOptions`] allow, and up to [`FAULT_TRIES`] tries in all after a 5xx, a
    /// connection that broke or a timeout, with a short jittered back-off. A connection that
    /// cannot be made is not retried: the caller asks through the daemon instead.
    async fn send_with_retries(
        &self,
        registry: &str,
        url: &Url,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let options = &self.inner.options;
        let mut attempt = 0u32;
        let mut faults = 0usize;
        loop {
            attempt += 1;
            let sent = build().send().await;
            let fault = match &sent {
                Err(e) => (!e.is_connect()).then(|| e.to_string()),
                Ok(r) if r.status().is_server_error() => Some(format!("HTTP {}", r.status())),
                Ok(_) => None,
            };
            if let Some(fault) = fault
                && faults + 1 < FAULT_TRIES
            {
                faults += 1;
                let wait = jittered(FAULT_BACKOFF[faults - 1]);
                tracing::debug!(registry, url = %url, fault, tries = faults, wait_ms = wait.as_millis(), "registry request failed; trying again");
                self.inner
                    .retries
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(wait).await;
                continue;
            }
            let response = sent.map_err(|source| RegistryError::Transport {
                registry: registry.to_owned(),
                url: url.to_string(),
                source,
            })?;
            if response.status() != StatusCode::TOO_MANY_REQUESTS {
                return Ok(response);
            }
            let retry_after = header_str(response.headers(), header::RETRY_AFTER.as_str())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let delay = retry_after
                .unwrap_or_else(|| backoff(attempt))
                .min(options.max_retry_delay.max(Duration::ZERO));
            if attempt > options.max_retries
                || retry_after.is_some_and(|r| r > options.max_retry_delay)
            {
                return Err(RegistryError::RateLimited {
                    registry: registry.to_owned(),
                    retry_after,
                    attempts: attempt,
                });
            }
            tracing::warn!(
                registry,
                delay_ms = delay.as_millis(),
                attempt,
                "registry answered HTTP 429; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Maps an unsuccessful answer to the matching error, surfacing the registry's message.
    async fn check_status(
        &self,
        target: &Target<'_>,
        url: &Url,
        response: Response,
    ) -> Result<Response, RegistryError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = self
            .read_body(target.registry(), response, MAX_ERROR_BYTES)
            .await
            .unwrap_or_default();
        let errors = parse_error_body(&body);
        Err(match status {
            StatusCode::NOT_FOUND => RegistryError::NotFound {
                reference: target.reference.to_string(),
                registry: target.registry().to_owned(),
                message: errors
                    .first()
                    .map(|e| e.message.clone())
                    .filter(|m| !m.is_empty()),
            },
            StatusCode::FORBIDDEN => RegistryError::Unauthorized {
                registry: target.registry().to_owned(),
                repository: target.reference.path().to_owned(),
                reason: AuthFailure::Denied,
            },
            _ => RegistryError::Http {
                registry: target.registry().to_owned(),
                status: status.as_u16(),
                url: url.to_string(),
                errors,
            },
        })
    }

    async fn read_body(
        &self,
        registry: &str,
        mut response: Response,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let too_big = || RegistryError::InvalidResponse {
            registry: registry.to_owned(),
            reason: format!(
                "the answer to {} is larger than {limit} bytes",
                response_url(&response)
            ),
        };
        if response
            .content_length()
            .is_some_and(|len| usize::try_from(len).map_or(true, |len| len > limit))
        {
            return Err(too_big());
        }
        let url = response.url().to_string();
        let mut body = Vec::new();
        while let Some(chunk) =
            response
                .chunk()
                .await
                .map_err(|source| RegistryError::Transport {
                    registry: registry.to_owned(),
                    url: url.clone(),
                    source,
                })?
        {
            if body.len() + chunk.len() > limit {
                return Err(RegistryError::InvalidResponse {
                    registry: registry.to_owned(),
                    reason: format!("the answer to {url} is larger than {limit} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        let _ = self;
        Ok(body)
    }
}

fn response_url(response: &Response) -> String {
    response.url().to_string()
}

fn form_body() -> form_urlencoded::Serializer<'static, String> {
    form_urlencoded::Serializer::new(String::new())
}

/// The media type of a manifest served without a usable `Content-Type`.
fn sniff_media_type(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Sniff {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let sniff: Sniff = serde_json::from_slice(body).ok()?;
    match sniff {
        Sniff {
            media_type: Some(t),
            ..
        } if !t.is_empty() => Some(t),
        Sniff {
            manifests: Some(_), ..
        } => Some(media_type::OCI_INDEX.to_owned()),
        Sniff {
            config: Some(_), ..
        } => Some(media_type::OCI_MANIFEST.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_page_links() {
        use super::next_link;
        assert_eq!(
            next_link("</v2/a/tags/list?last=t99&n=100>; rel=\"next\"").as_deref(),
            Some("/v2/a/tags/list?last=t99&n=100")
        );
        assert_eq!(next_link("<https://r/x>; rel=\"prev\""), None);
        assert_eq!(
            next_link("<https://r/p>; rel=\"prev\", <https://r/n>; rel=\"next\"").as_deref(),
            Some("https://r/n")
        );
        // `,` and `;` inside the target, several relations, any case, quoted commas.
        assert_eq!(
            next_link("<https://r/t?last=a,b;c&n=1>; rel=\"next\"").as_deref(),
            Some("https://r/t?last=a,b;c&n=1")
        );
        assert_eq!(
            next_link(
                "<https://r/1>; title=\"x, y\"; rel=\"prev\", <https://r/2>; REL=\"Next Last\""
            )
            .as_deref(),
            Some("https://r/2")
        );
        assert_eq!(next_link("<https://r/3>; rel=nextpage"), None);
        assert_eq!(next_link("https://r/4; rel=next"), None);
    }

    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_insecure() {
        let insecure = vec![
            "registry.lan:5000".to_owned(),
            "http://other.lan/".to_owned(),
        ];
        let cases = [
            ("127.0.0.1:5000", true),
            ("127.1.2.3", true),
            ("localhost:5000", true),
            ("LOCALHOST", true),
            ("[::1]:5000", true),
            ("registry.lan:5000", true),
            ("registry.lan:5001", false),
            ("registry.lan", false),
            ("other.lan:8080", true),
            ("128.0.0.1:5000", false),
            ("10.0.0.1:5000", false),
            ("[::2]:5000", false),
            ("docker.io", false),
            ("localhost.example.com", false),
            ("ghcr.io", false),
        ];
        for (registry, expected) in cases {
            assert_eq!(
                plain_http_allowed(registry, &insecure),
                expected,
                "{registry}"
            );
        }
    }

    #[test]
    fn retry_after() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        let cases = [
            ("120", Some(Duration::from_secs(120))),
            (" 0 ", Some(Duration::ZERO)),
            (
                "Sun, 06 Nov 1994 08:50:07 GMT",
                Some(Duration::from_secs(30)),
            ),
            ("Sun, 06 Nov 1994 08:49:00 GMT", Some(Duration::ZERO)),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_retry_after(value, now), expected, "{value:?}");
        }
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(1024));
    }

    #[test]
    fn api_host_and_urls() {
        let client =
            RegistryClient::new(CredentialStore::anonymous(), RegistryOptions::default()).unwrap();
        let url = |r: &str| {
            let r = ImageRef::parse(r).unwrap();
            client
                .manifest_url(&r, r.tag().unwrap())
                .unwrap()
                .to_string()
        };
        assert_eq!(
            url("nginx"),
            "https://registry-1.docker.io/v2/library/nginx/manifests/latest"
        );
        assert_eq!(
            url("127.0.0.1:5000/a/b:v1"),
            "http://127.0.0.1:5000/v2/a/b/manifests/v1"
        );
        assert_eq!(
            url("ghcr.io/o/app:1.2"),
            "https://ghcr.io/v2/o/app/manifests/1.2"
        );
    }

    #[test]
    fn sha256_of_body() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn sniffs_media_types() {
        assert_eq!(
            sniff_media_type(
                br#"{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json"}"#
            )
            .as_deref(),
            Some(media_type::DOCKER_MANIFEST_LIST)
        );
        assert_eq!(
            sniff_media_type(br#"{"schemaVersion":2,"manifests":[]}"#).as_deref(),
            Some(media_type::OCI_INDEX)
        );
        assert_eq!(
            sniff_media_type(br#"{"schemaVersion":2,"config":{},"layers":[]}"#).as_deref(),
            Some(media_type::OCI_MANIFEST)
        );
        assert_eq!(sniff_media_type(b"[]"), None);
    }

    #[test]
    fn debug_shows_no_secrets() {
        let store = CredentialStore::anonymous()
            .with_credentials("r.example", Credentials::basic("u", "hunter2"));
        let client = RegistryClient::new(store, RegistryOptions::default()).unwrap();
        let text = format!("{client:?}");
        assert!(text.contains("r.example"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
