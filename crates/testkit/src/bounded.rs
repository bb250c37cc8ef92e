//! Docker CLI calls with a time limit, and what to say when a daemon stops answering.
//!
//! A hung daemon (seen on 20.10: containers stuck in `runc init` / `libnetwork-setkey` for
//! over ten minutes) must fail a test fast and say what is stuck, not hold CI until its limit.
//! So every setup call has a deadline, and a call that runs past it is killed and reported
//! with the containers the host's `runc init` processes belong to.

use std::fmt::{self, Write as _};
use std::io::{Read, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Output, SETUP_TIMEOUT, env};

/// One docker CLI invocation against a daemon, bounded in time.
#[derive(Debug, Clone)]
pub struct Cli {
    program: PathBuf,
    host: String,
    timeout: Duration,
    stdin: Option<String>,
}

/// A setup call that did not complete.
#[derive(Debug)]
pub enum SetupError {
    /// The call ran past its deadline and was killed.
    Timeout {
        /// What was called, as a shell would show it.
        call: String,
        /// The daemon address.
        host: String,
        /// The deadline.
        after: Duration,
        /// [`hung_report`] at the moment of the timeout.
        report: String,
    },
    /// The CLI could not be started at all.
    Spawn(std::io::Error),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Timeout {
                call,
                host,
                after,
                report,
            } => write!(
                f,
                "setup call `{call}` did not finish within {}s: the daemon at {host} looks hung \
                 (SWAB_TEST_SETUP_TIMEOUT sets the limit)\n{report}",
                after.as_secs_f32()
            ),
            SetupError::Spawn(e) => write!(f, "cannot run the docker CLI: {e}"),
        }
    }
}

impl std::error::Error for SetupError {}

impl Cli {
    /// The test environment's CLI against `host`, with the default [`SETUP_TIMEOUT`].
    pub fn new(host: &str) -> Cli {
        Cli {
            program: env().docker_cli.clone(),
            host: host.to_owned(),
            timeout: *SETUP_TIMEOUT,
            stdin: None,
        }
    }

    /// A different deadline for this call.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Cli {
        self.timeout = timeout;
        self
    }

    /// Text to feed on stdin.
    #[must_use]
    pub fn stdin(mut self, text: Option<&str>) -> Cli {
        self.stdin = text.map(str::to_owned);
        self
    }

    /// Runs `docker -H HOST ARGS...`. The CLI's config lives in the test dir, so logins never
    /// touch the developer's `~/.docker`. A call past the deadline is killed and returned as
    /// [`SetupError::Timeout`], with the hung-daemon report.
    pub fn run(&self, args: &[&str]) -> Result<Output, SetupError> {
        self.run_bounded(args)?.ok_or_else(|| SetupError::Timeout {
            call: format!("docker {}", args.join(" ")),
            host: self.host.clone(),
            after: self.timeout,
            report: hung_report(&self.host),
        })
    }

    /// The call itself: `Ok(None)` when it ran past the deadline and was killed.
    fn run_bounded(&self, args: &[&str]) -> Result<Option<Output>, SetupError> {
        let mut child = Command::new(&self.program)
            .arg("-H")
            .arg(&self.host)
            .args(args)
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_CONFIG", env().dir.join("docker-cli-config"))
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(SetupError::Spawn)?;
        if let (Some(text), Some(mut pipe)) = (&self.stdin, child.stdin.take()) {
            // A CLI that exits before reading all of it is its own error, reported below.
            let _ = pipe.write_all(text.as_bytes());
        }
        // Read both pipes on threads, so a chatty CLI never blocks on a full pipe while we
        // wait for it to exit.
        let stdout = reader(child.stdout.take());
        let stderr = reader(child.stderr.take());
        let Some(status) = wait_until(&mut child, Instant::now() + self.timeout) else {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        };
        Ok(Some(Output {
            success: status.success(),
            stdout: stdout.join().unwrap_or_default().trim().to_owned(),
            stderr: stderr.join().unwrap_or_default().trim().to_owned(),
        }))
    }
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The child's exit status, or `None` once `deadline` passed.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    let mut pause = Duration::from_millis(2);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// What a hung daemon is stuck on: each `runc init` process on this host (a container stuck in
/// its setup) with the container it belongs to (its parent `runc create`'s last argument) and,
/// where the daemon still answers within 10 s, that container's name and status.
pub fn hung_report(host: &str) -> String {
    // Bounded, and never itself reported: a daemon that does not answer this is the news.
    let containers = Cli::new(host)
        .timeout(Duration::from_secs(10))
        .run_bounded(&[
            "ps",
            "-a",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Names}} {{.Status}}",
        ])
        .ok()
        .flatten()
        .filter(|o| o.success)
        .map(|o| o.stdout);
    let mut out = String::from("--- hung daemon report ---\n");
    for (pid, id) in runc_inits() {
        let known = containers
            .as_deref()
            .and_then(|list| list.lines().find(|l| !id.is_empty() && l.starts_with(&id)));
        let _ = writeln!(
            out,
            "stuck in runc init: pid {pid}, container {}{}",
            if id.is_empty() { "?" } else { &id },
            known.map(|l| format!(" ({l})")).unwrap_or_default()
        );
    }
    match containers {
        Some(list) => {
            out.push_str("containers:\n");
            for line in list.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        None => out.push_str("containers: the daemon did not list them within 10s\n"),
    }
    out.push_str("---");
    out
}

/// `(pid, container id)` of every `runc init` process; the ID is empty when the parent is gone.
fn runc_inits() -> Vec<(u32, String)> {
    let cmdline = |pid: &str| -> Vec<String> {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                b.split(|&c| c == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        let args = cmdline(&name);
        let is_runc_init = args.len() >= 2 && args[0].ends_with("runc") && args[1] == "init";
        if !is_runc_init {
            continue;
        }
        // /proc/PID/stat: "pid (comm) state ppid ..."; comm may contain spaces, so split
        // after the closing parenthesis.
        let parent = std::fs::read_to_string(format!("/proc/{name}/stat"))
            .ok()
            .and_then(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned))
            });
        let id = parent
            .map(|ppid| cmdline(&ppid).last().cloned().unwrap_or_default())
            .unwrap_or_default();
        found.push((pid, id));
    }
    found
}
