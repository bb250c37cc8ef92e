//! Who may use the API: a bearer token compared in constant time, failed attempts limited
//! per client address, and nothing open beyond loopback without a token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

/// Failed attempts a client may make in [`WINDOW`] before it is refused outright.
pub const MAX_FAILURES: u32 = 5;
/// How long failed attempts are remembered, and how long a client that made too many waits.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What the API checks requests against.
#[derive(Debug)]
pub struct Auth {
    /// SHA-256 of the token: compared digests have equal length, so the comparison time
    /// says nothing about the token's length either.
    token: Option<[u8; 32]>,
    /// Whether the listener is bound to a loopback address only.
    loopback: bool,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 403: the API is bound beyond loopback with no token, or a POST came with no token
    /// configured.
    Forbidden(&'static str),
    /// 401: no token, or the wrong one.
    Unauthorized(&'static str),
    /// 429: too many failed attempts; try again after this long.
    TooMany(Duration),
}

impl Auth {
    /// `token`: the configured token, if any; `loopback`: whether the listener is only on
    /// loopback.
    pub fn new(token: Option<&str>, loopback: bool) -> Auth {
        Auth {
            token: token.map(digest),
            loopback,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether every route is closed for want of a token (bound beyond loopback).
    pub fn closed(&self) -> bool {
        !self.loopback && self.token.is_none()
    }

    /// Lets a request through or says why not. `write`: a POST; `bearer`: the token the
    /// request carries, if any. Reads on loopback need no token, but a token that is sent
    /// must be right.
    pub fn check(
        &self,
        peer: IpAddr,
        write: bool,
        bearer: Option<&str>,
        now: Instant,
    ) -> Result<(), Refusal> {
        if self.closed() {
            return Err(Refusal::Forbidden(
                "the API listens beyond loopback and no token is set: start the daemon with --api-token-file FILE (a file holding a long random token), and send it as `Authorization: Bearer TOKEN`",
            ));
        }
        let needed = write || !self.loopback;
        let Some(expected) = &self.token else {
            if needed {
                return Err(Refusal::Forbidden(
                    "changes through the API need a token: start the daemon with --api-token-file FILE, and send it as `Authorization: Bearer TOKEN`",
                ));
            }
            return Ok(());
        };
        if !needed && bearer.is_none() {
            return Ok(());
        }
        if let Some(wait) = self.blocked(peer, now) {
            return Err(Refusal::TooMany(wait));
        }
        let Some(given) = bearer else {
            return Err(Refusal::Unauthorized(
                "this needs the API token: send `Authorization: Bearer TOKEN`",
            ));
        };
        if equal(&digest(given), expected) {
            Ok(())
        } else {
            self.failed(peer, now);
            Err(Refusal::Unauthorized("wrong API token"))
        }
    }

    /// How long `peer` must still wait, when it made too many failed attempts.
    fn blocked(&self, peer: IpAddr, now: Instant) -> Option<Duration> {
        let failures = self.failures.lock().ok()?;
        let (since, count) = failures.get(&peer)?;
        let elapsed = now.saturating_duration_since(*since);
        if *count < MAX_FAILURES {
            return None;
        }
        WINDOW.checked_sub(elapsed).filter(|left| !left.is_zero())
    }

    fn failed(&self, peer: IpAddr, now: Instant) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        // Forget windows that ended, so the map cannot grow without bound.
        failures.retain(|_, (since, _)| now.saturating_duration_since(*since) < WINDOW);
        let entry = failures.entry(peer).or_insert((now, 0));
        entry.1 += 1;
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares without an early exit: the time taken does not depend on where they differ.
fn equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The token a request carries: `Authorization: Bearer TOKEN`, or HTTP Basic with the
/// token as the password (any user name), which is what a browser sends for the status
/// page once its login dialog was answered.
pub fn token_of(header: Option<&str>) -> Option<String> {
    use base64::Engine as _;
    if let Some(token) = bearer(header) {
        return Some(token.to_owned());
    }
    let (scheme, encoded) = header?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    (!password.is_empty()).then(|| password.to_owned())
}

/// The token from `Authorization: Bearer TOKEN`, if the header is that.
fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Reads the token file: its first line, trimmed. Refuses an empty or short token, and
/// warns when other users can read the file.
pub fn read_token(path: &std::path::Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the API token file {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.len() < 16 {
        return Err(format!(
            "the API token in {} is {}; use at least 16 characters (e.g. `openssl rand -hex 32 > {}`)",
            path.display(),
            if token.is_empty() {
                "empty".to_owned()
            } else {
                format!("{} characters", token.len())
            },
            path.display()
        ));
    }
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o004 != 0
    {
        tracing::warn!(path = %path.display(), "the API token file can be read by every user; chmod 600 it");
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123";

    fn peer(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn who_gets_in() {
        let now = Instant::now();
        let loopback = Auth::new(Some(TOKEN), true);
        let open = Auth::new(None, true);
        let exposed = Auth::new(Some(TOKEN), false);
        let closed = Auth::new(None, false);
        let p = peer(1);
        // (auth, write, bearer, let in)
        let table: [(&Auth, bool, Option<&str>, bool); 12] = [
            (&loopback, false, None, true),
            (&loopback, false, Some(TOKEN), true),
            (&loopback, false, Some("wrong"), false),
            (&loopback, true, None, false),
            (&loopback, true, Some(TOKEN), true),
            (&loopback, true, Some("wrong"), false),
            (&open, false, None, true),
            (&open, true, Some(TOKEN), false),
            (&exposed, false, None, false),
            (&exposed, false, Some(TOKEN), true),
            (&closed, false, Some(TOKEN), false),
            (&closed, true, None, false),
        ];
        for (i, (auth, write, bearer, expected)) in table.into_iter().enumerate() {
            assert_eq!(
                auth.check(p, write, bearer, now).is_ok(),
                expected,
                "row {i}"
            );
        }
        assert!(
            matches!(closed.check(p, false, None, now), Err(Refusal::Forbidden(m)) if m.contains("--api-token-file"))
        );
    }

    #[test]
    fn failed_attempts_are_limited_per_client_and_forgotten_after_the_window() {
        let auth = Auth::new(Some(TOKEN), true);
        let start = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert_eq!(
                auth.check(peer(1), true, Some("nope"), start),
                Err(Refusal::Unauthorized("wrong API token"))
            );
        }
        // Even the right token waits now; another client does not.
        let later = start + Duration::from_secs(10);
        assert_eq!(
            auth.check(peer(1), true, Some(TOKEN), later),
            Err(Refusal::TooMany(Duration::from_secs(50)))
        );
        assert_eq!(auth.check(peer(2), true, Some(TOKEN), later), Ok(()));
        let after = start + WINDOW + Duration::from_secs(1);
        assert_eq!(auth.check(peer(1), true, Some(TOKEN), after), Ok(()));
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
        // Basic: the password is the token ("swab:tok" and ":tok").
        assert_eq!(token_of(Some("Basic c3dhYjp0b2s=")), Some("tok".to_owned()));
        assert_eq!(token_of(Some("basic OnRvaw==")), Some("tok".to_owned()));
        assert_eq!(token_of(Some("Basic c3dhYjo=")), None);
        assert_eq!(token_of(Some("Basic !!!")), None);
        assert_eq!(token_of(Some("Bearer abc")), Some("abc".to_owned()));
    }

    #[test]
    fn short_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, "short\n").unwrap();
        assert!(read_token(&path).unwrap_err().contains("5 characters"));
        std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
        assert_eq!(read_token(&path).unwrap(), TOKEN);
    }
}
