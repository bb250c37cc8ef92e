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

#![deny(missing_docs)]
// Panicking with a clear message is how a test helper reports broken setup.
#![allow(clippy::missing_panics_doc)]

pub mod inspect;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

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
        }
    })
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

/// Runs the docker CLI against `host`, feeding `stdin` if given. The CLI's config lives
/// in the test dir, so logins never touch the developer's `~/.docker`.
fn docker_cli(host: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = Command::new(&env().docker_cli)
        .arg("-H")
        .arg(host)
        .args(args)
        .env_remove("DOCKER_CONTEXT")
        .env("DOCKER_CONFIG", env().dir.join("docker-cli-config"))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run the docker CLI");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .expect("cannot write to the docker CLI");
    }
    let out = child.wait_with_output().expect("cannot run the docker CLI");
    Output {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    }
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
/// daemon (the shared one serves every other test in parallel). Same flags as
/// `scripts/lib/dockerd.sh`; everything lives below the shared test dir.
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
        let child = Command::new("dockerd")
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
