//! Test helpers shared by swab's integration tests.
//!
//! Tests that touch Docker run against the private throwaway daemon and registries that
//! `scripts/test-env.sh` starts and describes in `SWAB_TEST_*` variables. [`env()`] reads them
//! and panics with instructions when they are missing, so a daemon test can never pass by
//! silently skipping. Setup that swab itself does not do (importing images, pushing to a
//! registry, creating containers in odd states) goes through the docker CLI with
//! [`TestEnv::cli`]; swab's own code never shells out.
//!
//! Every object a test creates gets a [`unique`] name and the label `swab-test=<test id>`,
//! because tests in one binary run in parallel against the same daemon.
//!
//! The same tests run on every engine the harness supports ([`Engine`]); a test that cannot
//! apply to one calls [`skip`] with the reason, which `scripts/test.sh` counts and prints.
//! Every CLI call is bounded ([`SETUP_TIMEOUT`]): a hung daemon fails the test with a report
//! of what is stuck ([`hung_report`]) instead of holding CI until its time limit.
//!
//! A dev-dependency only, and it depends on no swab crate, so any crate's tests can use
//! it. Test snapshots for pure tests come from `swab_plan::testing` instead (feature
//! `test-support`), next to the model they build.

#![deny(missing_docs)]
// Panicking with a clear message is how a test helper reports broken setup.
#![allow(clippy::missing_panics_doc)]

mod bounded;
pub mod browser;
pub mod fault_proxy;
pub mod http;
pub mod inspect;
pub mod receiver;
pub mod registry;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub use bounded::{Cli, SetupError, hung_report};

/// How long one setup call (a docker CLI invocation) may take unless a test says otherwise:
/// `SWAB_TEST_SETUP_TIMEOUT` seconds, default 120. Pulls and pushes of the tiny test images
/// take well under a second; two minutes is a hung daemon, not a slow one.
pub static SETUP_TIMEOUT: std::sync::LazyLock<Duration> = std::sync::LazyLock::new(|| {
    Duration::from_secs(
        std::env::var("SWAB_TEST_SETUP_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(120),
    )
});

/// The engine the harness started (`SWAB_TEST_ENGINE`, see `scripts/lib/dockerd.sh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Docker 20.10 (API 1.41), classic image store.
    V20_10,
    /// Docker 28 with the containerd image store.
    V28Containerd,
    /// Docker 28 with the classic image store.
    V28Classic,
}

impl Engine {
    /// Whether images live in containerd's content store: IDs are manifest or index digests,
    /// `RepoDigests` are derived from names, and images can be multi-platform.
    pub fn containerd_store(self) -> bool {
        self == Engine::V28Containerd
    }

    /// The engine's name as `SWAB_TEST_ENGINE` spells it (also a snapshot suffix).
    pub fn name(self) -> &'static str {
        match self {
            Engine::V20_10 => "20.10",
            Engine::V28Containerd => "28-containerd",
            Engine::V28Classic => "28-classic",
        }
    }

    /// The API version the engine's daemon speaks (and swab negotiates with it).
    pub fn api_version(self) -> &'static str {
        match self {
            Engine::V20_10 => "1.41",
            Engine::V28Containerd | Engine::V28Classic => "1.51",
        }
    }

    /// How the engine's version string begins (`GET /version`).
    pub fn version_prefix(self) -> &'static str {
        match self {
            Engine::V20_10 => "20.10.",
            Engine::V28Containerd | Engine::V28Classic => "28.",
        }
    }

    /// The storage driver `/info` reports.
    pub fn storage_driver(self) -> &'static str {
        match self {
            Engine::V20_10 | Engine::V28Classic => "overlay2",
            Engine::V28Containerd => "overlayfs",
        }
    }

    /// The image store's name as `swab doctor` prints it.
    pub fn image_store(self) -> &'static str {
        if self.containerd_store() {
            "containerd"
        } else {
            "classic"
        }
    }
}

/// The private test environment.
#[derive(Debug, Clone)]
pub struct TestEnv {
    /// `unix:///.../docker.sock` of the private daemon.
    pub docker_host: String,
    /// `tcp://127.0.0.1:PORT` of the same daemon, TLS with client certificates.
    pub tls_host: String,
    /// Directory with `ca.pem`, `cert.pem`, `key.pem` for [`TestEnv::tls_host`].
    pub tls_dir: PathBuf,
    /// `127.0.0.1:PORT`, a registry without auth.
    pub registry: String,
    /// `127.0.0.1:PORT`, a registry with htpasswd auth.
    pub auth_registry: String,
    /// User for [`TestEnv::auth_registry`].
    pub registry_user: String,
    /// Password for [`TestEnv::auth_registry`].
    pub registry_password: String,
    /// A small busybox image present in the daemon.
    pub image: String,
    /// The busybox rootfs tarball, for importing more images.
    pub rootfs: PathBuf,
    /// The docker CLI.
    pub docker_cli: PathBuf,
    /// The environment's temp dir.
    pub dir: PathBuf,
    /// Which engine runs.
    pub engine: Engine,
    /// The engine's dockerd, for a test's own daemons ([`PrivateDaemon`]).
    pub dockerd: PathBuf,
    /// The PATH the engine's binaries run with (its own containerd and shim come first).
    pub engine_path: String,
    /// The daemon.json the shared daemon runs with (the image store).
    pub daemon_config: PathBuf,
    /// Compose v2 (`docker-compose`), where the engine has it.
    pub compose: Option<PathBuf>,
    /// Where [`skip`] records tests that cannot apply to this engine.
    pub skipped: PathBuf,
}

/// The test environment. Panics with instructions when the tests were not started through
/// `scripts/test-env.sh` (or `scripts/test.sh`).
pub fn env() -> &'static TestEnv {
    static ENV: OnceLock<TestEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!(
                    "{name} is not set: tests with the `docker-tests` feature need the private \
                     test daemon. Run them with scripts/test.sh (or scripts/test-env.sh cargo test ...)."
                )
            })
        };
        let docker_host = var("SWAB_TEST_DOCKER_HOST");
        assert!(
            !docker_host.contains("/var/run/docker.sock"),
            "refusing to run tests against the host's daemon"
        );
        TestEnv {
            docker_host,
            tls_host: var("SWAB_TEST_TLS_HOST"),
            tls_dir: var("SWAB_TEST_TLS_DIR").into(),
            registry: var("SWAB_TEST_REGISTRY"),
            auth_registry: var("SWAB_TEST_AUTH_REGISTRY"),
            registry_user: var("SWAB_TEST_REGISTRY_USER"),
            registry_password: var("SWAB_TEST_REGISTRY_PASSWORD"),
            image: var("SWAB_TEST_IMAGE"),
            rootfs: var("SWAB_TEST_ROOTFS").into(),
            docker_cli: var("SWAB_TEST_DOCKER_CLI").into(),
            dir: var("SWAB_TEST_DIR").into(),
            engine: match var("SWAB_TEST_ENGINE").as_str() {
                "20.10" => Engine::V20_10,
                "28-containerd" => Engine::V28Containerd,
                "28-classic" => Engine::V28Classic,
                other => panic!("SWAB_TEST_ENGINE={other} is not an engine this testkit knows"),
            },
            dockerd: var("SWAB_TEST_DOCKERD").into(),
            engine_path: var("SWAB_TEST_ENGINE_PATH"),
            daemon_config: var("SWAB_TEST_DAEMON_CONFIG").into(),
            compose: Some(var("SWAB_TEST_COMPOSE"))
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            skipped: var("SWAB_TEST_SKIPPED").into(),
        }
    })
}

/// Records that the calling test does not apply to this engine, and why; the test then
/// returns (it is counted as skipped by `scripts/test.sh`, not as passed). `test` is the test's
/// name as the summary should show it.
pub fn skip(test: &str, why: &str) {
    use std::io::Write as _;
    let env = env();
    let line = format!("{test}: {why}\n");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&env.skipped)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .expect("cannot record a skipped test");
    eprintln!("skipped on {:?}: {line}", env.engine);
}

/// A name no other test in this run uses: `prefix-<pid>-<n>`. Docker names allow
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]`; image repositories must be lowercase, so this is lowercase.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}-{}",
        prefix.to_lowercase(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Output of a CLI call.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit status success.
    pub success: bool,
    /// Standard output, trimmed.
    pub stdout: String,
    /// Standard error, trimmed.
    pub stderr: String,
}

/// Runs the docker CLI against `host`, feeding `stdin` if given, bounded by
/// [`SETUP_TIMEOUT`]; a timeout panics with the hung-daemon report. The CLI's config lives in
/// the test dir, so logins never touch the developer's `~/.docker`.
fn docker_cli(host: &str, args: &[&str], stdin: Option<&str>) -> Output {
    Cli::new(host)
        .stdin(stdin)
        .run(args)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The stdout of a CLI call that must succeed.
fn succeeded(args: &[&str], out: Output) -> String {
    assert!(
        out.success,
        "docker {} failed: {}",
        args.join(" "),
        out.stderr
    );
    out.stdout
}

impl TestEnv {
    /// Runs the docker CLI against the private daemon and returns trimmed stdout. Panics on
    /// failure, showing stderr: setup that fails is a broken test, not a skipped one.
    pub fn cli(&self, args: &[&str]) -> String {
        succeeded(args, self.try_cli(args))
    }

    /// Runs the docker CLI and returns what happened, without asserting.
    pub fn try_cli(&self, args: &[&str]) -> Output {
        docker_cli(&self.docker_host, args, None)
    }

    /// Logs the docker CLI in to the htpasswd registry (for pushes to it). The credentials
    /// land in the test dir's CLI config.
    pub fn login_auth_registry(&self) {
        let args = [
            "login",
            "-u",
            &self.registry_user,
            "--password-stdin",
            &self.auth_registry,
        ];
        succeeded(
            &args,
            docker_cli(&self.docker_host, &args, Some(&self.registry_password)),
        );
    }

    /// Imports the busybox rootfs as a new image `reference` with the given labels and
    /// returns its ID. Different labels give different image IDs, so each test can have
    /// images of its own.
    pub fn import_image(&self, reference: &str, labels: &[(&str, &str)]) -> String {
        let mut args = vec![
            "import".to_owned(),
            "-c".to_owned(),
            "CMD [\"/bin/sh\"]".to_owned(),
        ];
        for (k, v) in labels {
            args.push("-c".to_owned());
            args.push(format!("LABEL {k}={v}"));
        }
        args.push(self.rootfs.display().to_string());
        args.push(reference.to_owned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.cli(&args)
    }

    /// Creates a container from the test image (not started) with a label `swab-test=<id>`
    /// and returns its ID.
    pub fn create_container(&self, name: &str, test_id: &str, extra: &[&str]) -> String {
        let label = format!("swab-test={test_id}");
        let mut args = vec!["create", "--name", name, "--label", &label];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&self.image, "sleep", "600"]);
        self.cli(&args)
    }
}

/// A second private dockerd that one test owns, for tests that must stop or restart a
/// daemon (the shared one serves every other test in parallel). The same engine, image store
/// and flags as `scripts/lib/dockerd.sh`; everything lives below the shared test dir.
#[derive(Debug)]
pub struct PrivateDaemon {
    /// Its directory.
    pub dir: PathBuf,
    /// `unix://.../docker.sock`.
    pub host: String,
    child: Option<std::process::Child>,
}

impl PrivateDaemon {
    /// Starts a daemon and imports the busybox test image into it.
    pub fn start() -> PrivateDaemon {
        let dir = env().dir.join(unique("extra-dockerd"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut daemon = PrivateDaemon {
            host: format!("unix://{}/docker.sock", dir.display()),
            dir,
            child: None,
        };
        daemon.launch();
        daemon.cli(&[
            "import",
            "-c",
            "CMD [\"/bin/sh\"]",
            &env().rootfs.display().to_string(),
            &env().image,
        ]);
        daemon
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("dockerd.log"))
            .unwrap();
        // The shared daemon's configuration, with a trust key of its own on 20.10, which
        // derives the daemon's ID from it (by default the machine's /etc/docker/key.json).
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&env().daemon_config).unwrap()).unwrap();
        if env().engine == Engine::V20_10 {
            config["deprecated-key-path"] = self.dir.join("key.json").display().to_string().into();
        }
        let config_file = self.dir.join("daemon.json");
        std::fs::write(&config_file, config.to_string()).unwrap();
        let child = Command::new(&env().dockerd)
            .env("PATH", &env().engine_path)
            .arg("--config-file")
            .arg(&config_file)
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(self.dir.join("exec"))
            .arg("--pidfile")
            .arg(self.dir.join("docker.pid"))
            .arg("--host")
            .arg(&self.host)
            .args([
                "--bridge",
                "none",
                "--iptables=false",
                "--ip-masq=false",
                "--userland-proxy=false",
            ])
            // Never share a system containerd's namespace with the host's daemon.
            .args([
                "--containerd-namespace",
                "swab-test",
                "--containerd-plugins-namespace",
                "swab-test-plugins",
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start dockerd");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if self.try_cli(&["version"]).success {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!(
            "private dockerd did not come up; see {}/dockerd.log",
            self.dir.display()
        );
    }

    /// Stops the daemon (SIGTERM, then waits).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while std::time::Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let prefix = self.dir.display().to_string();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        points.sort_unstable_by(|a, b| b.cmp(a));
        for point in points {
            let _ = Command::new("umount").args(["-l", point]).status();
        }
    }

    /// Stops and starts the daemon again on the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// The docker CLI against this daemon; panics on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        succeeded(args, self.try_cli(args))
    }

    /// The docker CLI against this daemon.
    pub fn try_cli(&self, args: &[&str]) -> Output {
        docker_cli(&self.host, args, None)
    }
}

impl Drop for PrivateDaemon {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
