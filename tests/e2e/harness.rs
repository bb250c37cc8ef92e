//! A fluent harness around the real `swab` binary.
//!
//! Every run starts from a hermetic environment: the caller's variables are removed,
//! `HOME` points at a fresh temp dir, `DOCKER_HOST` at a socket that does not exist (a test
//! that forgets `-H` fails instead of reaching the developer's daemon), and `SWAB_LOCK` at a
//! lock file of its own (tests share a lock only on purpose).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct Swab {
    args: Vec<String>,
    env: Vec<(String, String)>,
    home: tempfile::TempDir,
    close_stdout: bool,
    stdin: Option<String>,
    in_home: bool,
}

pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn swab() -> Swab {
    Swab {
        args: Vec::new(),
        env: Vec::new(),
        home: tempfile::tempdir().unwrap(),
        close_stdout: false,
        stdin: None,
        in_home: false,
    }
}

impl Swab {
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args
            .extend(args.into_iter().map(|s| s.as_ref().to_owned()));
        self
    }

    /// The lock container's name on the daemon: one per host lock, so runs that share a
    /// `SWAB_LOCK` on purpose share the daemon's lock too, and the tests running in
    /// parallel on the shared daemon do not queue behind each other. A test can set
    /// `SWAB_LOCK_NAME` itself, to make runs of different homes share one.
    fn lock_name(&self) -> String {
        let find = |key: &str| {
            self.env
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        if let Some(name) = find("SWAB_LOCK_NAME") {
            return name;
        }
        let lock = find("SWAB_LOCK")
            .unwrap_or_else(|| self.home.path().join("swab.lock").display().to_string());
        let tail: String = lock
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        format!("swab-lock-e2e{}", &tail[tail.len().saturating_sub(40)..])
    }

    pub fn env(mut self, key: &str, value: impl AsRef<str>) -> Self {
        self.env.push((key.to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Writes a file below HOME.
    pub fn home_file(self, rel: &str, text: &str) -> Self {
        let path: PathBuf = self.home.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// Feeds `text` on stdin.
    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_owned());
        self
    }

    /// The temp HOME of this run.
    #[cfg_attr(not(feature = "docker-tests"), allow(dead_code))]
    pub fn home_path(&self) -> PathBuf {
        self.home.path().to_owned()
    }

    /// Runs in the temp HOME, so relative paths name files written with `home_file`.
    pub fn in_home(mut self) -> Self {
        self.in_home = true;
        self
    }

    #[cfg_attr(not(feature = "docker-tests"), allow(dead_code))]
    /// Closes the binary's stdout right away, like `swab ... | head -0`.
    pub fn closed_stdout(mut self) -> Self {
        self.close_stdout = true;
        self
    }

    pub fn run(self) -> Outcome {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_swab"));
        cmd.args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            // Each run gets its own host lock unless a test shares one on purpose, and a test
            // that forgets -H reaches no daemon rather than the developer's.
            .env("SWAB_LOCK", self.home.path().join("swab.lock"))
            .env("DOCKER_HOST", "unix:///nonexistent/swab-e2e-default.sock")
            // Never the machine's own /var/lib/swab.
            .env(
                "SWAB_SHARED_STATE",
                self.home.path().join("shared-state.json"),
            )
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.env("SWAB_LOCK_NAME", self.lock_name());
        if self.in_home {
            cmd.current_dir(self.home.path());
        }
        let mut child = cmd.spawn().expect("cannot start swab");
        if let Some(text) = &self.stdin {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(text.as_bytes()).unwrap();
        }
        let mut stdout = String::new();
        if self.close_stdout {
            drop(child.stdout.take());
        } else {
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut stdout)
                .unwrap();
        }
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        Outcome {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }
}

/// A `swab` process left running (the daemon), with its stderr going to a file.
pub struct Running {
    child: std::process::Child,
    log: PathBuf,
    _home: tempfile::TempDir,
}

impl Swab {
    /// Starts the binary and returns at once; stderr is collected in a file.
    #[cfg_attr(not(feature = "docker-tests"), allow(dead_code))]
    pub fn spawn(self) -> Running {
        let log = self.home.path().join("swab.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_swab"));
        cmd.args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("SWAB_LOCK", self.home.path().join("swab.lock"))
            .env("DOCKER_HOST", "unix:///nonexistent/swab-e2e-default.sock")
            // Never the machine's own /var/lib/swab.
            .env(
                "SWAB_SHARED_STATE",
                self.home.path().join("shared-state.json"),
            )
            .current_dir(self.home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.env("SWAB_LOCK_NAME", self.lock_name());
        Running {
            child: cmd.spawn().expect("cannot start swab"),
            log,
            _home: self.home,
        }
    }
}

#[cfg_attr(not(feature = "docker-tests"), allow(dead_code))]
impl Running {
    /// What the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`, up to `timeout`.
    #[track_caller]
    pub fn wait_for_log(&self, needle: &str, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.log().contains(needle) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("log lacks {needle:?} after {timeout:?}:\n{}", self.log());
    }

    /// Sends a signal.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(i32::try_from(self.child.id()).unwrap()).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// The exit code if the process has exited (`-1` for a signal), without waiting.
    #[cfg_attr(not(feature = "docker-tests"), allow(dead_code))]
    pub fn child_exit(&mut self) -> Option<i32> {
        self.child
            .try_wait()
            .unwrap()
            .map(|status| status.code().unwrap_or(-1))
    }

    /// Waits for the process to exit, up to `timeout`; returns its exit code.
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> i32 {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("swab did not exit within {timeout:?}:\n{}", self.log());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Outcome {
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.stdout
        );
        self
    }

    #[track_caller]
    pub fn stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

#[cfg_attr(not(feature = "docker-tests"), allow(dead_code))]
/// Redactions for snapshots: temp paths, versions and sizes differ between machines.
pub fn insta_filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"/tmp/swab-test-[a-z0-9.-]+\.[A-Za-z0-9]+", "[TESTDIR]"),
        (r"/tmp/\.tmp[A-Za-z0-9]+", "[HOME]"),
        (r"Docker Engine [0-9][^\s]*", "Docker Engine [VERSION]"),
        (r"kernel [^)]+", "kernel [KERNEL]"),
        (r"\((Debian|Ubuntu|[A-Z])[^,]*, ", "([OS], "),
        (r"linux/[a-z0-9_]+", "linux/[ARCH]"),
        (r"[0-9]+(\.[0-9])? (B|kB|MB|GB|TB)", "[SIZE]"),
        (
            r"(containers +)[0-9]+ \([0-9]+ running, [0-9]+ stopped, [0-9]+ paused\)",
            "$1[COUNTS]",
        ),
        (r"(images +)[0-9]+\n", "$1[N]\n"),
    ]
}
