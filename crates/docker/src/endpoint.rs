//! Where the Docker daemon is, and why swab thinks so.
//!
//! Resolution follows the docker CLI's precedence so that swab talks to the same daemon as
//! `docker` does in the same shell: the `--host` flag, then `DOCKER_HOST`, then the current
//! docker context (`DOCKER_CONTEXT`, else `currentContext` in `config.json`), then the first
//! socket that exists among the rootless, system, Docker Desktop and Colima locations.
//! Every answer carries its [`EndpointSource`] so `swab doctor` can say which rule won.
//!
//! Resolution reads files (context metadata, socket existence) but takes the environment as
//! an explicit [`Environment`] value, so tests run against a temp `HOME` without touching
//! process-wide state.

use std::fmt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The system-wide socket path of a rootful daemon.
pub const SYSTEM_SOCKET: &str = "/var/run/docker.sock";

/// A daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix domain socket.
    Unix(PathBuf),
    /// A TCP address `host:port`, optionally with TLS.
    Tcp {
        /// `host:port`, with IPv6 hosts in brackets.
        addr: String,
        /// TLS settings; `None` is plain HTTP.
        tls: Option<TlsFiles>,
    },
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp { addr, tls: None } => write!(f, "tcp://{addr}"),
            Endpoint::Tcp { addr, tls: Some(_) } => write!(f, "tcp://{addr} (TLS)"),
        }
    }
}

/// The TLS material for a TCP endpoint, as the docker CLI lays it out in a directory
/// (`ca.pem`, `cert.pem`, `key.pem`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA bundle that signed the daemon's certificate; `None` uses no custom CA.
    pub ca: Option<PathBuf>,
    /// Client certificate and key, for daemons started with `--tlsverify`.
    pub client: Option<(PathBuf, PathBuf)>,
    /// Verify the daemon's certificate. Only `DOCKER_TLS` without `DOCKER_TLS_VERIFY` or a
    /// context with `SkipTLSVerify` turns this off.
    pub verify: bool,
}

impl TlsFiles {
    /// TLS files from a directory holding the docker CLI's file names. Missing files are
    /// left out; the transport reports what it needs but lacks.
    pub fn from_dir(dir: &Path, verify: bool) -> TlsFiles {
        let ca = dir.join("ca.pem");
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        TlsFiles {
            ca: ca.is_file().then_some(ca),
            client: (cert.is_file() && key.is_file()).then_some((cert, key)),
            verify,
        }
    }
}

/// Which rule chose the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointSource {
    /// The `-H/--host` flag.
    Flag,
    /// The `DOCKER_HOST` environment variable.
    DockerHostEnv,
    /// A docker context.
    Context {
        /// The context's name.
        name: String,
        /// Where the context name came from: `DOCKER_CONTEXT` or the config file's path.
        selected_by: String,
    },
    /// The first existing socket among the known default locations.
    Socket {
        /// Which kind of installation that location belongs to.
        kind: &'static str,
    },
    /// No socket exists at any known location; the system socket is assumed so that errors
    /// name a concrete path.
    Fallback,
}

impl fmt::Display for EndpointSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointSource::Flag => f.write_str("--host flag"),
            EndpointSource::DockerHostEnv => f.write_str("DOCKER_HOST environment variable"),
            EndpointSource::Context { name, selected_by } => {
                write!(f, "docker context {name:?} (selected by {selected_by})")
            }
            EndpointSource::Socket { kind } => write!(f, "first existing socket ({kind})"),
            EndpointSource::Fallback => {
                f.write_str("default (no socket found at any known location)")
            }
        }
    }
}

/// An endpoint with the reason it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedEndpoint {
    /// Where to connect.
    pub endpoint: Endpoint,
    /// Why.
    pub source: EndpointSource,
}

/// The parts of the process environment that resolution reads. Empty variables count as
/// unset, as in the docker CLI.
#[derive(Debug, Clone)]
pub struct Environment {
    /// `DOCKER_HOST`.
    pub docker_host: Option<String>,
    /// `DOCKER_CONTEXT`.
    pub docker_context: Option<String>,
    /// `DOCKER_TLS_VERIFY`: any non-empty value turns on verified TLS for TCP hosts.
    pub docker_tls_verify: bool,
    /// `DOCKER_TLS`: TLS without verification (only when `DOCKER_TLS_VERIFY` is unset).
    pub docker_tls: bool,
    /// `DOCKER_CERT_PATH`: directory with `ca.pem`, `cert.pem`, `key.pem`.
    pub docker_cert_path: Option<PathBuf>,
    /// `DOCKER_CONFIG`: the docker CLI's config directory (default `~/.docker`).
    pub docker_config: Option<PathBuf>,
    /// `HOME`.
    pub home: Option<PathBuf>,
    /// `XDG_RUNTIME_DIR`, where rootless Docker puts its socket.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// The rootful system socket, [`SYSTEM_SOCKET`] outside tests.
    pub system_socket: PathBuf,
}

impl Environment {
    /// Reads the real process environment.
    pub fn from_process() -> Environment {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Environment {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            docker_tls_verify: var("DOCKER_TLS_VERIFY").is_some(),
            docker_tls: var("DOCKER_TLS").is_some(),
            docker_cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
            docker_config: var("DOCKER_CONFIG").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
            system_socket: PathBuf::from(SYSTEM_SOCKET),
        }
    }

    /// An environment with nothing set, for tests.
    pub fn empty(system_socket: PathBuf) -> Environment {
        Environment {
            docker_host: None,
            docker_context: None,
            docker_tls_verify: false,
            docker_tls: false,
            docker_cert_path: None,
            docker_config: None,
            home: None,
            xdg_runtime_dir: None,
            system_socket,
        }
    }

    /// The docker CLI's config directory: `DOCKER_CONFIG`, else `~/.docker`.
    pub fn config_dir(&self) -> Option<PathBuf> {
        self.docker_config
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".docker")))
    }

    /// TLS settings that `DOCKER_TLS_VERIFY`/`DOCKER_TLS`/`DOCKER_CERT_PATH` ask for, if any.
    fn env_tls(&self) -> Option<TlsFiles> {
        if !self.docker_tls_verify && !self.docker_tls {
            return None;
        }
        let dir = self
            .docker_cert_path
            .clone()
            .or_else(|| self.config_dir())?;
        Some(TlsFiles::from_dir(&dir, self.docker_tls_verify))
    }
}

/// Why no endpoint could be determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// A host string that is not a valid daemon address.
    #[error("invalid Docker host {value:?} (from {origin}): {reason}")]
    Invalid {
        /// The offending value.
        value: String,
        /// Where it came from, e.g. "DOCKER_HOST".
        origin: String,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// A docker context that is selected but cannot be read.
    #[error("docker context {name:?} (selected by {selected_by}) cannot be used: {reason}")]
    Context {
        /// The context name.
        name: String,
        /// `DOCKER_CONTEXT` or the config file.
        selected_by: String,
        /// What went wrong, naming the file.
        reason: String,
    },
    /// The docker CLI config file exists but is not valid JSON.
    #[error("cannot read docker CLI config {path}: {reason}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// The parse error.
        reason: String,
    },
}

/// Resolves the daemon endpoint. `flag` is the `--host` value, if given.
pub fn resolve(flag: Option<&str>, env: &Environment) -> Result<ResolvedEndpoint, EndpointError> {
    if let Some(host) = flag {
        return Ok(ResolvedEndpoint {
            endpoint: parse_host(host, "--host", env.env_tls())?,
            source: EndpointSource::Flag,
        });
    }
    if let Some(host) = &env.docker_host {
        return Ok(ResolvedEndpoint {
            endpoint: parse_host(host, "DOCKER_HOST", env.env_tls())?,
            source: EndpointSource::DockerHostEnv,
        });
    }
    if let Some((name, selected_by)) = current_context(env)?
        && name != "default"
    {
        let endpoint = context_endpoint(env, &name, &selected_by)?;
        return Ok(ResolvedEndpoint {
            endpoint,
            source: EndpointSource::Context { name, selected_by },
        });
    }
    for (kind, path) in socket_candidates(env) {
        if is_socket(&path) {
            return Ok(ResolvedEndpoint {
                endpoint: Endpoint::Unix(path),
                source: EndpointSource::Socket { kind },
            });
        }
    }
    Ok(ResolvedEndpoint {
        endpoint: Endpoint::Unix(env.system_socket.clone()),
        source: EndpointSource::Fallback,
    })
}

/// The default socket locations, in the order they are tried.
pub fn socket_candidates(env: &Environment) -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::with_capacity(4);
    if let Some(dir) = &env.xdg_runtime_dir {
        out.push((
            "rootless, $XDG_RUNTIME_DIR/docker.sock",
            dir.join("docker.sock"),
        ));
    }
    out.push(("system", env.system_socket.clone()));
    if let Some(home) = &env.home {
        out.push((
            "Docker Desktop, ~/.docker/run/docker.sock",
            home.join(".docker/run/docker.sock"),
        ));
        out.push((
            "Colima, ~/.colima/default/docker.sock",
            home.join(".colima/default/docker.sock"),
        ));
    }
    out
}

fn is_socket(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// The selected context name and what selected it, if any.
fn current_context(env: &Environment) -> Result<Option<(String, String)>, EndpointError> {
    if let Some(name) = &env.docker_context {
        return Ok(Some((name.clone(), "DOCKER_CONTEXT".to_owned())));
    }
    let Some(config_path) = env.config_dir().map(|d| d.join("config.json")) else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&config_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(EndpointError::Config {
                path: config_path,
                reason: e.to_string(),
            });
        }
    };
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(rename = "currentContext", default)]
        current_context: Option<String>,
    }
    let config: Config = serde_json::from_str(&text).map_err(|e| EndpointError::Config {
        path: config_path.clone(),
        reason: e.to_string(),
    })?;
    Ok(config
        .current_context
        .filter(|c| !c.is_empty())
        .map(|c| (c, config_path.display().to_string())))
}

/// The hex SHA-256 of a context name: the docker CLI's directory name for that context.
pub fn context_dir_name(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    use std::fmt::Write;
    let mut hex = String::with_capacity(64);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// The endpoint of the docker context `name` (a `context:` entry in a rule file's `hosts`).
pub fn named_context(env: &Environment, name: &str) -> Result<Endpoint, EndpointError> {
    context_endpoint(env, name, "the rule file's hosts")
}

fn context_endpoint(
    env: &Environment,
    name: &str,
    selected_by: &str,
) -> Result<Endpoint, EndpointError> {
    let err = |reason: String| EndpointError::Context {
        name: name.to_owned(),
        selected_by: selected_by.to_owned(),
        reason,
    };
    let config_dir = env
        .config_dir()
        .ok_or_else(|| err("neither DOCKER_CONFIG nor HOME is set".to_owned()))?;
    let hash = context_dir_name(name);
    let meta_path = config_dir
        .join("contexts/meta")
        .join(&hash)
        .join("meta.json");
    let text = std::fs::read_to_string(&meta_path)
        .map_err(|e| err(format!("cannot read {}: {e}", meta_path.display())))?;

    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(rename = "Endpoints", default)]
        endpoints: std::collections::HashMap<String, MetaEndpoint>,
    }
    #[derive(serde::Deserialize)]
    struct MetaEndpoint {
        #[serde(rename = "Host", default)]
        host: Option<String>,
        #[serde(rename = "SkipTLSVerify", default)]
        skip_tls_verify: bool,
    }
    let meta: Meta = serde_json::from_str(&text)
        .map_err(|e| err(format!("{} is not valid JSON: {e}", meta_path.display())))?;
    let docker = meta
        .endpoints
        .get("docker")
        .ok_or_else(|| err(format!("{} has no docker endpoint", meta_path.display())))?;
    let host = docker
        .host
        .as_deref()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            err(format!(
                "{} has no Endpoints.docker.Host",
                meta_path.display()
            ))
        })?;
    let tls_dir = config_dir.join("contexts/tls").join(&hash).join("docker");
    let tls = tls_dir
        .is_dir()
        .then(|| TlsFiles::from_dir(&tls_dir, !docker.skip_tls_verify));
    parse_host(host, &format!("context {name:?}"), tls)
}

/// Parses a docker host string such as `unix:///var/run/docker.sock`, `tcp://10.0.0.5:2376`
/// or `https://host:2376`. `tls` applies to TCP hosts (it comes from the environment or the
/// context); `https://` asks for verified TLS by itself.
pub fn parse_host(
    value: &str,
    origin: &str,
    tls: Option<TlsFiles>,
) -> Result<Endpoint, EndpointError> {
    let invalid = |reason: &str| EndpointError::Invalid {
        value: value.to_owned(),
        origin: origin.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = value.trim();
    if let Some(path) = trimmed.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(invalid(
                "a unix socket path must be absolute, e.g. unix:///var/run/docker.sock",
            ));
        }
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    if trimmed.starts_with('/') {
        return Ok(Endpoint::Unix(PathBuf::from(trimmed)));
    }
    let (rest, tls) = if let Some(rest) = trimmed.strip_prefix("tcp://") {
        (rest, tls)
    } else if let Some(rest) = trimmed.strip_prefix("http://") {
        (rest, None)
    } else if let Some(rest) = trimmed.strip_prefix("https://") {
        (
            rest,
            Some(tls.unwrap_or(TlsFiles {
                ca: None,
                client: None,
                verify: true,
            })),
        )
    } else if let Some((scheme, _)) = trimmed.split_once("://") {
        let reason = match scheme {
            "ssh" => {
                "ssh:// hosts are not supported; forward the socket with `ssh -L` and use unix:// or tcp://"
            }
            "npipe" => "npipe:// is Windows-only; swab runs on Linux and macOS hosts",
            "fd" => "fd:// is a daemon listen address, not a client address",
            _ => "unknown scheme; expected unix://, tcp://, http:// or https://",
        };
        return Err(invalid(reason));
    } else {
        // Like the docker CLI, a bare `host:port` means TCP.
        (trimmed, tls)
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return Err(invalid("expected host:port after the scheme, with no path"));
    }
    let has_port = if rest.starts_with('[') {
        rest.contains("]:")
    } else {
        rest.contains(':')
    };
    let addr = if has_port {
        let port = rest.rsplit_once(':').map_or("", |(_, p)| p);
        if port.parse::<u16>().is_err() {
            return Err(invalid("the port must be a number from 0 to 65535"));
        }
        rest.to_owned()
    } else {
        // The docker CLI's defaults: 2376 for TLS, 2375 for plain HTTP.
        format!("{rest}:{}", if tls.is_some() { 2376 } else { 2375 })
    };
    Ok(Endpoint::Tcp { addr, tls })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    struct Fixture {
        dir: tempfile::TempDir,
        env: Environment,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let mut env = Environment::empty(dir.path().join("var-run-docker.sock"));
            env.home = Some(dir.path().join("home"));
            std::fs::create_dir_all(dir.path().join("home/.docker")).unwrap();
            Fixture { dir, env }
        }

        /// Creates a real unix socket file (resolution only counts sockets).
        fn socket(path: &Path) -> UnixListener {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            UnixListener::bind(path).unwrap()
        }

        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let path = self.dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            path
        }

        fn context(&self, name: &str, host: &str) {
            let hash = context_dir_name(name);
            self.write(
                &format!("home/.docker/contexts/meta/{hash}/meta.json"),
                &format!(
                    r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
                ),
            );
        }
    }

    #[test]
    fn flag_wins_over_everything() {
        let mut f = Fixture::new();
        f.env.docker_host = Some("tcp://10.1.2.3:2375".into());
        let _s = Fixture::socket(&f.env.system_socket.clone());
        let r = resolve(Some("unix:///tmp/x.sock"), &f.env).unwrap();
        assert_eq!(r.endpoint, Endpoint::Unix("/tmp/x.sock".into()));
        assert_eq!(r.source, EndpointSource::Flag);
    }

    #[test]
    fn docker_host_env_wins_over_context_and_sockets() {
        let mut f = Fixture::new();
        f.env.docker_host = Some("tcp://127.0.0.1".into());
        f.env.docker_context = Some("remote".into());
        let r = resolve(None, &f.env).unwrap();
        assert_eq!(
            r.endpoint,
            Endpoint::Tcp {
                addr: "127.0.0.1:2375".into(),
                tls: None
            }
        );
        assert_eq!(r.source, EndpointSource::DockerHostEnv);
    }

    #[test]
    fn docker_tls_verify_uses_cert_path_and_port_2376() {
        let mut f = Fixture::new();
        let ca = f.write("certs/ca.pem", "x");
        f.write("certs/cert.pem", "x");
        f.write("certs/key.pem", "x");
        f.env.docker_host = Some("tcp://docker.example".into());
        f.env.docker_tls_verify = true;
        f.env.docker_cert_path = Some(f.dir.path().join("certs"));
        let r = resolve(None, &f.env).unwrap();
        let Endpoint::Tcp {
            addr,
            tls: Some(tls),
        } = r.endpoint
        else {
            panic!("expected TLS endpoint");
        };
        assert_eq!(addr, "docker.example:2376");
        assert_eq!(tls.ca, Some(ca));
        assert!(tls.client.is_some());
        assert!(tls.verify);
    }

    #[test]
    fn docker_context_env_reads_meta_json_by_sha256_of_name() {
        let mut f = Fixture::new();
        f.context("remote", "tcp://192.0.2.7:2375");
        f.env.docker_context = Some("remote".into());
        let r = resolve(None, &f.env).unwrap();
        assert_eq!(
            r.endpoint,
            Endpoint::Tcp {
                addr: "192.0.2.7:2375".into(),
                tls: None
            }
        );
        assert_eq!(
            r.source,
            EndpointSource::Context {
                name: "remote".into(),
                selected_by: "DOCKER_CONTEXT".into()
            }
        );
    }

    #[test]
    fn current_context_from_config_json_with_tls_dir() {
        let f = Fixture::new();
        f.context("prod", "tcp://192.0.2.8:2376");
        let hash = context_dir_name("prod");
        f.write(
            &format!("home/.docker/contexts/tls/{hash}/docker/ca.pem"),
            "x",
        );
        let config = f.write("home/.docker/config.json", r#"{"currentContext":"prod"}"#);
        let r = resolve(None, &f.env).unwrap();
        let Endpoint::Tcp { tls: Some(tls), .. } = r.endpoint else {
            panic!("expected TLS from the context's tls dir");
        };
        assert!(tls.ca.is_some() && tls.verify);
        assert_eq!(
            r.source,
            EndpointSource::Context {
                name: "prod".into(),
                selected_by: config.display().to_string()
            }
        );
    }

    #[test]
    fn known_context_hash() {
        // The docker CLI stores context "default-ish" metadata under sha256(name).
        assert_eq!(
            context_dir_name("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }

    #[test]
    fn default_context_falls_through_to_sockets() {
        let mut f = Fixture::new();
        f.env.docker_context = Some("default".into());
        let _s = Fixture::socket(&f.env.system_socket.clone());
        let r = resolve(None, &f.env).unwrap();
        assert_eq!(r.endpoint, Endpoint::Unix(f.env.system_socket.clone()));
        assert_eq!(r.source, EndpointSource::Socket { kind: "system" });
    }

    #[test]
    fn missing_context_is_an_error_naming_the_file() {
        let mut f = Fixture::new();
        f.env.docker_context = Some("nope".into());
        let err = resolve(None, &f.env).unwrap_err().to_string();
        assert!(err.contains("\"nope\""), "{err}");
        assert!(err.contains("meta.json"), "{err}");
    }

    #[test]
    fn broken_config_json_is_an_error() {
        let f = Fixture::new();
        f.write("home/.docker/config.json", "{not json");
        let err = resolve(None, &f.env).unwrap_err();
        assert!(matches!(err, EndpointError::Config { .. }), "{err}");
    }

    #[test]
    fn rootless_socket_is_tried_first() {
        let mut f = Fixture::new();
        let run = f.dir.path().join("run-user");
        f.env.xdg_runtime_dir = Some(run.clone());
        let _a = Fixture::socket(&run.join("docker.sock"));
        let _b = Fixture::socket(&f.env.system_socket.clone());
        let r = resolve(None, &f.env).unwrap();
        assert_eq!(r.endpoint, Endpoint::Unix(run.join("docker.sock")));
        assert!(
            matches!(r.source, EndpointSource::Socket { kind } if kind.starts_with("rootless"))
        );
    }

    #[test]
    fn desktop_then_colima_sockets_when_system_socket_is_missing() {
        let f = Fixture::new();
        let home = f.env.home.clone().unwrap();
        let colima = Fixture::socket(&home.join(".colima/default/docker.sock"));
        let r = resolve(None, &f.env).unwrap();
        assert_eq!(
            r.endpoint,
            Endpoint::Unix(home.join(".colima/default/docker.sock"))
        );
        let _desktop = Fixture::socket(&home.join(".docker/run/docker.sock"));
        let r = resolve(None, &f.env).unwrap();
        assert_eq!(
            r.endpoint,
            Endpoint::Unix(home.join(".docker/run/docker.sock"))
        );
        drop(colima);
    }

    #[test]
    fn regular_file_is_not_a_socket() {
        let f = Fixture::new();
        std::fs::write(&f.env.system_socket, "").unwrap();
        let r = resolve(None, &f.env).unwrap();
        assert_eq!(r.source, EndpointSource::Fallback);
        assert_eq!(r.endpoint, Endpoint::Unix(f.env.system_socket.clone()));
    }

    #[test]
    fn host_strings() {
        let ok = |s: &str| parse_host(s, "test", None).unwrap();
        assert_eq!(
            ok("unix:///run/d.sock"),
            Endpoint::Unix("/run/d.sock".into())
        );
        assert_eq!(ok("/run/d.sock"), Endpoint::Unix("/run/d.sock".into()));
        assert_eq!(
            ok("tcp://[::1]:2375"),
            Endpoint::Tcp {
                addr: "[::1]:2375".into(),
                tls: None
            }
        );
        assert_eq!(
            ok("tcp://[::1]"),
            Endpoint::Tcp {
                addr: "[::1]:2375".into(),
                tls: None
            }
        );
        assert_eq!(
            ok("localhost:2375"),
            Endpoint::Tcp {
                addr: "localhost:2375".into(),
                tls: None
            }
        );
        assert!(
            matches!(ok("https://h"), Endpoint::Tcp { addr, tls: Some(_) } if addr == "h:2376")
        );
        for bad in [
            "unix://relative.sock",
            "ssh://me@host",
            "tcp://h:notaport",
            "tcp://h:2375/path",
            "tcp://",
        ] {
            let err = parse_host(bad, "DOCKER_HOST", None)
                .unwrap_err()
                .to_string();
            assert!(err.contains("DOCKER_HOST"), "{bad}: {err}");
        }
    }
}
