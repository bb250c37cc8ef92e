//! Registry credentials, read the way the docker CLI stores them.
//!
//! The docker CLI keeps credentials in `$DOCKER_CONFIG/config.json` (default
//! `~/.docker/config.json`): inline in `auths` (base64 `auth` of `user:password`, or
//! `username`/`password`, or an `identitytoken`), or in an external helper program named by
//! `credHelpers` (per registry) or `credsStore` (all registries). A helper is
//! `docker-credential-<name>`: it reads the server address on stdin for `get` and prints
//! `{"Username","Secret"}`; the user name `<token>` means the secret is an identity token.
//!
//! Look-ups are lazy: the client only asks for credentials when a registry answers 401, so
//! a broken or slow helper never affects anonymous pulls from public registries.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

use crate::RegistryError;

/// The key the docker CLI uses for Docker Hub in `auths` and for helpers.
pub const DOCKER_HUB_CONFIG_KEY: &str = "https://index.docker.io/v1/";

/// A secret string whose `Debug` never shows it and that has no `Display`, so it cannot end
/// up in a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Credentials for one registry. `Debug` shows the user name only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// User name and password (or a personal access token used as a password).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// An identity token (OAuth2 refresh token) from `docker login` against a registry
    /// that issues them; exchanged for bearer tokens at the registry's token server.
    IdentityToken {
        /// The token.
        token: Secret,
    },
}

impl Credentials {
    /// User name and password.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            username: username.into(),
            password: Secret::new(password),
        }
    }
}

/// Normalizes a registry name or docker config key for comparison: no scheme, no path, no
/// trailing slash, lowercase, and every Docker Hub spelling as `docker.io`.
pub(crate) fn normalize_registry_key(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_owned()
        }
        _ => host,
    }
}

/// The server address a credential helper is asked about: Docker Hub's legacy key, or the
/// registry host, as the docker CLI does.
fn helper_server_address(registry: &str) -> String {
    if normalize_registry_key(registry) == "docker.io" {
        DOCKER_HUB_CONFIG_KEY.to_owned()
    } else {
        registry.to_owned()
    }
}

/// The entry of `map` for `registry`: an exact key first, then Docker Hub's canonical key,
/// then the first (sorted) key that normalizes to the same registry.
fn lookup<'a, V>(map: &'a BTreeMap<String, V>, registry: &str) -> Option<&'a V> {
    if let Some(v) = map.get(registry) {
        return Some(v);
    }
    let wanted = normalize_registry_key(registry);
    if wanted == "docker.io"
        && let Some(v) = map.get(DOCKER_HUB_CONFIG_KEY)
    {
        return Some(v);
    }
    map.iter()
        .find(|(k, _)| normalize_registry_key(k) == wanted)
        .map(|(_, v)| v)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, RawAuth>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct RawAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl RawAuth {
    fn credentials(&self) -> Result<Option<Credentials>, String> {
        if let Some(token) = self.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::IdentityToken {
                token: Secret::new(token),
            }));
        }
        if let Some(auth) = self.auth.as_deref().filter(|a| !a.is_empty()) {
            let trimmed = auth.trim().trim_end_matches('=');
            let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(trimmed)
                .map_err(|_| "an `auth` entry is not valid base64".to_owned())?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| "an `auth` entry is not valid UTF-8".to_owned())?;
            let (user, password) = decoded
                .split_once(':')
                .ok_or_else(|| "an `auth` entry is not `user:password`".to_owned())?;
            return Ok(Some(Credentials::basic(user, password)));
        }
        match (&self.username, &self.password) {
            (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credentials::basic(u, p))),
            _ => Ok(None),
        }
    }
}

/// Why a docker config could not be read, by kind and position only. serde_json's own message
/// quotes the value it did not expect (`invalid type: string "..."`), and in this file that
/// value can be a password or a token.
fn config_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let (line, column) = (e.line(), e.column());
    match e.classify() {
        Category::Data => format!(
            "not valid JSON: a value of the wrong type or shape at line {line}, column {column}"
        ),
        Category::Eof => format!("not valid JSON: it ends early, at line {line}, column {column}"),
        Category::Syntax | Category::Io => {
            format!("not valid JSON: a syntax error at line {line}, column {column}")
        }
    }
}

/// Where credentials come from: explicit ones given in code, then the docker CLI config.
///
/// Cheap to clone. `Debug` lists registries and helper names, never secrets.
#[derive(Clone, Default)]
pub struct CredentialStore {
    explicit: BTreeMap<String, Credentials>,
    config: Option<std::sync::Arc<LoadedConfig>>,
    helper_dir: Option<PathBuf>,
    helper_timeout: Option<Duration>,
}

struct LoadedConfig {
    path: PathBuf,
    raw: RawConfig,
}

impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("CredentialStore");
        s.field("explicit", &self.explicit.keys().collect::<Vec<_>>());
        if let Some(config) = &self.config {
            s.field("config", &config.path)
                .field("auths", &config.raw.auths.keys().collect::<Vec<_>>())
                .field("creds_store", &config.raw.creds_store)
                .field("cred_helpers", &config.raw.cred_helpers);
        }
        s.field("helper_dir", &self.helper_dir)
            .field("helper_timeout", &self.helper_timeout())
            .finish()
    }
}

/// How long a credential helper may run before it is killed. Helpers may talk to a
/// keychain or a cloud API; ten seconds is generous for that and short enough that a hung
/// helper does not stall a run.
pub const DEFAULT_HELPER_TIMEOUT: Duration = Duration::from_secs(10);

impl CredentialStore {
    /// No credentials: every request is anonymous.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// The docker CLI config of this process's environment: `$DOCKER_CONFIG/config.json`,
    /// else `$HOME/.docker/config.json`. A missing file means no credentials; a file that
    /// cannot be parsed is an error, because silently going anonymous would turn a typo
    /// into confusing 401s later.
    pub fn from_environment() -> Result<Self, RegistryError> {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
        match dir {
            Some(dir) => Self::from_docker_config_file(&dir.join("config.json")),
            None => Ok(Self::anonymous()),
        }
    }

    /// A docker CLI `config.json`. A missing file means no credentials.
    pub fn from_docker_config_file(path: &Path) -> Result<Self, RegistryError> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::anonymous()),
            Err(e) => {
                return Err(RegistryError::Config {
                    path: path.to_owned(),
                    reason: e.to_string(),
                });
            }
        };
        Self::from_docker_config_json(&text, path)
    }

    /// A docker CLI config from its text; `path` is only used in error messages.
    pub fn from_docker_config_json(text: &[u8], path: &Path) -> Result<Self, RegistryError> {
        let raw: RawConfig = serde_json::from_slice(text).map_err(|e| RegistryError::Config {
            path: path.to_owned(),
            reason: config_json_error(&e),
        })?;
        Ok(Self {
            config: Some(std::sync::Arc::new(LoadedConfig {
                path: path.to_owned(),
                raw,
            })),
            ..Self::default()
        })
    }

    /// Adds credentials for one registry that take precedence over the config file.
    #[must_use]
    pub fn with_credentials(mut self, registry: &str, credentials: Credentials) -> Self {
        self.explicit
            .insert(normalize_registry_key(registry), credentials);
        self
    }

    /// Looks up `docker-credential-<name>` helpers in this directory instead of `PATH`.
    /// Tests use it so they need not change `PATH`, which all threads share.
    #[must_use]
    pub fn with_helper_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.helper_dir = Some(dir.into());
        self
    }

    /// Overrides [`DEFAULT_HELPER_TIMEOUT`].
    #[must_use]
    pub fn with_helper_timeout(mut self, timeout: Duration) -> Self {
        self.helper_timeout = Some(timeout);
        self
    }

    fn helper_timeout(&self) -> Duration {
        self.helper_timeout.unwrap_or(DEFAULT_HELPER_TIMEOUT)
    }

    /// The credentials for `registry` (as named in an image reference, e.g. `docker.io` or
    /// `127.0.0.1:5000`), or `None` for anonymous access.
    ///
    /// Order, as in the docker CLI: explicit credentials; then a helper from `credHelpers`
    /// for this registry, else the `credsStore` helper; then the `auths` entry. A helper that
    /// answers "credentials not found" falls through to `auths` (the CLI would stop there;
    /// falling through only ever finds credentials the user wrote into the file).
    pub async fn get(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some(c) = self.explicit.get(&normalize_registry_key(registry)) {
            return Ok(Some(c.clone()));
        }
        let Some(config) = &self.config else {
            return Ok(None);
        };
        let raw = &config.raw;
        let helper = lookup(&raw.cred_helpers, registry)
            .or(raw.creds_store.as_ref())
            .filter(|h| !h.is_empty());
        if let Some(helper) = helper
            && let Some(credentials) = self.run_helper(helper, registry).await?
        {
            return Ok(Some(credentials));
        }
        match lookup(&raw.auths, registry) {
            Some(entry) => entry.credentials().map_err(|reason| RegistryError::Config {
                path: config.path.clone(),
                reason: format!("{reason} (registry {registry})"),
            }),
            None => Ok(None),
        }
    }

    /// Runs `docker-credential-<helper> get` with the server address on stdin.
    async fn run_helper(
        &self,
        helper: &str,
        registry: &str,
    ) -> Result<Option<Credentials>, RegistryError> {
        let fail = |reason: String| RegistryError::CredentialHelper {
            helper: helper.to_owned(),
            registry: registry.to_owned(),
            reason,
        };
        // The name comes from a file; never let it become a path.
        if !helper
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || helper.starts_with('.')
        {
            return Err(fail(
                "the helper name has characters that are not allowed".into(),
            ));
        }
        let program = format!("docker-credential-{helper}");
        let program = match &self.helper_dir {
            Some(dir) => dir.join(program),
            None => PathBuf::from(program),
        };
        let mut child = tokio::process::Command::new(&program)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    fail(format!("{} is not installed", program.display()))
                } else {
                    fail(format!("cannot run {}: {e}", program.display()))
                }
            })?;
        let address = helper_server_address(registry);
        let run = async {
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(address.as_bytes()).await?;
                // Dropping stdin closes it, which is how the helper knows the input ended.
            }
            child.wait_with_output().await
        };
        let output = tokio::time::timeout(self.helper_timeout(), run)
            .await
            .map_err(|_| {
                fail(format!(
                    "timed out after {}s",
                    self.helper_timeout().as_secs_f32()
                ))
            })?
            .map_err(|e| fail(format!("cannot talk to the helper: {e}")))?;
        read_helper_output(&output).map_err(fail)
    }
}

/// Reads what a credential helper printed for `get`. Kept apart from running the helper so
/// that any output, however broken, can be tested without a process: it must end in an answer
/// or a reason, never a panic. The reason does not name the helper; the caller adds that.
pub(crate) fn read_helper_output(
    output: &std::process::Output,
) -> Result<Option<Credentials>, String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        if stdout.contains("credentials not found")
            || String::from_utf8_lossy(&output.stderr).contains("credentials not found")
        {
            return Ok(None);
        }
        // The helper's own message helps; cap it so a chatty helper cannot flood logs.
        let mut message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if message.is_empty() {
            stdout.trim().clone_into(&mut message);
        }
        if let Some((cut, _)) = message.char_indices().nth(300) {
            message.truncate(cut);
        }
        return Err(format!("failed ({}): {message}", output.status));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        #[serde(default)]
        username: String,
        #[serde(default)]
        secret: String,
    }
    let answer: Answer = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("printed something that is not its JSON answer: {e}"))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if answer.username == "<token>" {
        Credentials::IdentityToken {
            token: Secret::new(answer.secret),
        }
    } else {
        Credentials::Basic {
            username: answer.username,
            password: Secret::new(answer.secret),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(json: &str) -> CredentialStore {
        CredentialStore::from_docker_config_json(json.as_bytes(), Path::new("config.json")).unwrap()
    }

    fn basic(user: &str, password: &str) -> Credentials {
        Credentials::basic(user, password)
    }

    #[test]
    fn normalizes_registry_keys() {
        let cases = [
            ("https://index.docker.io/v1/", "docker.io"),
            ("index.docker.io", "docker.io"),
            ("registry-1.docker.io", "docker.io"),
            ("docker.io", "docker.io"),
            ("https://ghcr.io", "ghcr.io"),
            ("ghcr.io/", "ghcr.io"),
            ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
            ("Registry.Example.COM:443", "registry.example.com:443"),
            ("127.0.0.1:5000", "127.0.0.1:5000"),
        ];
        for (key, expected) in cases {
            assert_eq!(normalize_registry_key(key), expected, "{key}");
        }
    }

    #[tokio::test]
    async fn reads_auths() {
        // "user:pa:ss" - a colon in the password is kept.
        let store = store(
            r#"{
              "auths": {
                "https://index.docker.io/v1/": {"auth": "aHViOmh1YnBhc3M="},
                "ghcr.io": {"auth": "dXNlcjpwYTpzcw"},
                "https://quay.io/": {"username": "q", "password": "qpass"},
                "token.example": {"auth": "", "identitytoken": "id-token"},
                "empty.example": {}
              },
              "HttpHeaders": {"User-Agent": "x"}
            }"#,
        );
        assert_eq!(
            store.get("docker.io").await.unwrap(),
            Some(basic("hub", "hubpass"))
        );
        assert_eq!(
            store.get("ghcr.io").await.unwrap(),
            Some(basic("user", "pa:ss"))
        );
        assert_eq!(
            store.get("quay.io").await.unwrap(),
            Some(basic("q", "qpass"))
        );
        assert_eq!(
            store.get("token.example").await.unwrap(),
            Some(Credentials::IdentityToken {
                token: Secret::new("id-token")
            })
        );
        assert_eq!(store.get("empty.example").await.unwrap(), None);
        assert_eq!(store.get("other.example").await.unwrap(), None);
    }

    #[tokio::test]
    async fn broken_auth_entry_is_a_config_error_without_the_secret() {
        let store = store(r#"{"auths": {"r.example": {"auth": "bm9jb2xvbg=="}}}"#);
        let err = store.get("r.example").await.unwrap_err();
        assert!(matches!(err, RegistryError::Config { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "cannot use docker config config.json: an `auth` entry is not `user:password` \
             (registry r.example)"
        );
    }

    #[test]
    fn invalid_json_is_a_config_error() {
        let err = CredentialStore::from_docker_config_json(b"{\"auths\": [", Path::new("/c.json"))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot use docker config /c.json: not valid JSON")
        );
    }

    /// Found by `fuzz::docker_config_lookups_never_panic_or_leak`: serde_json's message
    /// quoted the password that stood where an `auths` entry belongs.
    #[test]
    fn config_errors_never_quote_the_file() {
        let err = CredentialStore::from_docker_config_json(
            br#"{"auths": {"r.example": "s3cr3t0A+a+"}}"#,
            Path::new("/c.json"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot use docker config /c.json: not valid JSON: a value of the wrong type or \
             shape at line 1, column 37"
        );
        let err = CredentialStore::from_docker_config_json(
            br#"{"auths": {"r.example": {"auth": "s3cr3t"#,
            Path::new("/c.json"),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn missing_config_file_means_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            CredentialStore::from_docker_config_file(&dir.path().join("none.json")).unwrap();
        assert!(store.config.is_none());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let store = store(r#"{"auths": {"r.example": {"auth": "dTpzM2NyM3Q="}}}"#)
            .with_credentials("x.example", Credentials::basic("u", "s3cr3t"));
        let credentials = Credentials::basic("u", "s3cr3t");
        let token = Credentials::IdentityToken {
            token: Secret::new("s3cr3t"),
        };
        for text in [
            format!("{store:?}"),
            format!("{credentials:?}"),
            format!("{token:?}"),
        ] {
            assert!(!text.contains("s3cr3t"), "{text}");
            assert!(!text.contains("dTpzM2NyM3Q"), "{text}");
        }
        assert!(format!("{credentials:?}").contains("username: \"u\""));
    }

    /// A fake helper in a temp dir that logs the address it was asked about and answers
    /// per registry.
    fn helper_dir() -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            r#"#!/bin/sh
[ "$1" = get ] || exit 3
read -r address
echo "$address" >> "{log}"
case "$address" in
  https://index.docker.io/v1/) echo '{{"ServerURL":"x","Username":"hubuser","Secret":"hubsecret"}}' ;;
  helper.example) echo '{{"Username":"<token>","Secret":"idtok"}}' ;;
  slow.example) sleep 5 ;;
  bad.example) echo 'not json' ;;
  broken.example) echo 'keychain locked' >&2; exit 1 ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
"#,
            log = dir.path().join("log").display()
        );
        let path = dir.path().join("docker-credential-swabtest");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[tokio::test]
    async fn creds_store_helper() {
        let dir = helper_dir();
        let store = store(
            r#"{"credsStore": "swabtest",
                "auths": {"https://index.docker.io/v1/": {}, "fallback.example": {"auth": "Zjpw"}}}"#,
        )
        .with_helper_dir(dir.path())
        .with_helper_timeout(Duration::from_millis(500));
        assert_eq!(
            store.get("docker.io").await.unwrap(),
            Some(basic("hubuser", "hubsecret"))
        );
        assert_eq!(
            store.get("helper.example").await.unwrap(),
            Some(Credentials::IdentityToken {
                token: Secret::new("idtok")
            })
        );
        // Not in the helper: the auths entry, else anonymous.
        assert_eq!(
            store.get("fallback.example").await.unwrap(),
            Some(basic("f", "p"))
        );
        assert_eq!(store.get("127.0.0.1:5000").await.unwrap(), None);
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
        assert_eq!(
            log,
            "https://index.docker.io/v1/\nhelper.example\nfallback.example\n127.0.0.1:5000\n"
        );

        let err = store.get("broken.example").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "credential helper docker-credential-swabtest for broken.example: \
             failed (exit status: 1): keychain locked"
        );
        let err = store.get("bad.example").await.unwrap_err();
        assert!(
            err.to_string()
                .contains("printed something that is not its JSON answer"),
            "{err}"
        );
        let started = std::time::Instant::now();
        let err = store.get("slow.example").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "credential helper docker-credential-swabtest for slow.example: timed out after 0.5s"
        );
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[tokio::test]
    async fn cred_helpers_select_per_registry() {
        let dir = helper_dir();
        let store = store(
            r#"{"credsStore": "missing",
                "credHelpers": {"https://index.docker.io/v1/": "swabtest", "helper.example": "swabtest"},
                "auths": {"other.example": {"auth": "bzpw"}}}"#,
        )
        .with_helper_dir(dir.path());
        // Docker Hub matched through its legacy key.
        assert_eq!(
            store.get("docker.io").await.unwrap(),
            Some(basic("hubuser", "hubsecret"))
        );
        assert!(matches!(
            store.get("helper.example").await.unwrap(),
            Some(Credentials::IdentityToken { .. })
        ));
        // Everything else goes to credsStore, whose helper is not installed.
        let err = store.get("other.example").await.unwrap_err();
        assert!(
            matches!(err, RegistryError::CredentialHelper { ref helper, .. } if helper == "missing")
        );
        assert!(
            err.to_string()
                .contains("docker-credential-missing is not installed"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn explicit_credentials_win_and_helper_names_cannot_be_paths() {
        let store = store(r#"{"credsStore": "../../bin/sh"}"#)
            .with_credentials("https://index.docker.io/v1/", Credentials::basic("e", "p"));
        assert_eq!(store.get("docker.io").await.unwrap(), Some(basic("e", "p")));
        let err = store.get("x.example").await.unwrap_err();
        assert!(err.to_string().contains("not allowed"), "{err}");
    }
}
