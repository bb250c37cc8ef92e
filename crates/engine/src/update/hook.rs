//! Running a lifecycle hook in a container: `sh -c` through the exec API, bounded by the
//! hook's timeout, and killed when it runs past it.
//!
//! The exec API has no way to stop a command it started. So each hook runs with a marker in
//! its environment (`SWAB_HOOK=<nonce>`), which every process it starts inherits; on timeout
//! a second exec kills every process in the container that carries the marker. That needs
//! `sh` and `cat` in the image, as the hook itself needs `sh`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use swab_docker::{Demux, Docker, Error};

use crate::cancel::Cancel;
use crate::hooks::{Hook, SKIP_THIS_TIME};

/// How much of a hook's output is kept (its end): enough for the last lines in a report.
const OUTPUT_LIMIT: usize = 8 * 1024;
/// Lines of output a report quotes.
const QUOTED_LINES: usize = 5;
/// How long killing a hook that ran past its timeout may take.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// Kills every process whose environment carries the marker given as `$1`; prints how many.
/// Only `sh` and `cat` are needed: the shell drops the NUL bytes between the variables,
/// and the marker is still found in what remains.
const KILL_SCRIPT: &str = r#"n=0
for p in /proc/[0-9]*; do
  case "$(cat "$p/environ" 2>/dev/null)" in
    *"SWAB_HOOK=$1"*) kill -9 "${p#/proc/}" 2>/dev/null && n=$((n+1)) ;;
  esac
done
echo "$n""#;

/// How a hook ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookRun {
    /// Its exit code; `None` when it timed out (or the daemon never said).
    pub exit_code: Option<i64>,
    /// The end of what it printed, stdout and stderr as they came.
    pub output: String,
    /// It ran past its timeout.
    pub timed_out: bool,
    /// After a timeout or a signal: the hook's command is no longer running once the
    /// processes carrying its marker were killed.
    pub killed: bool,
    /// SIGINT or SIGTERM came while it ran: it was killed (as after a timeout).
    pub interrupted: bool,
}

/// What a hook's run means for the update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Passed,
    /// Exit 75 (`EX_TEMPFAIL`) from a `pre-update`: skip this time, quietly.
    SkipThisTime,
    /// Any other exit, or a timeout.
    Failed,
}

impl HookRun {
    /// What the run means: only a `pre-update` hook can ask to skip.
    pub fn outcome(&self, hook: &Hook) -> Outcome {
        let ended = !self.timed_out && !self.interrupted;
        match self.exit_code {
            Some(0) if ended => Outcome::Passed,
            Some(SKIP_THIS_TIME) if ended && hook.phase == crate::hooks::Phase::PreUpdate => {
                Outcome::SkipThisTime
            }
            _ => Outcome::Failed,
        }
    }

    /// `pre-update hook exited 1: <last lines>`, `... timed out after 2s and was killed`.
    pub fn describe(&self, hook: &Hook) -> String {
        let mut text = format!("{} hook ", hook.phase);
        if self.timed_out || self.interrupted {
            if self.interrupted {
                text.push_str("was interrupted by a signal");
            } else {
                let _ = write!(
                    text,
                    "timed out after {}",
                    humantime::format_duration(hook.timeout)
                );
            }
            text.push_str(if self.killed {
                " and was killed"
            } else {
                "; swab could not kill it, it may still run in the container"
            });
        } else {
            match self.exit_code {
                Some(SKIP_THIS_TIME) if hook.phase == crate::hooks::Phase::PreUpdate => {
                    text.push_str("asked to skip the update this time (exit 75)");
                }
                Some(code) => {
                    let _ = write!(text, "exited {code}");
                }
                None => text.push_str("ended without an exit code"),
            }
        }
        let quoted = last_lines(&self.output, QUOTED_LINES);
        if !quoted.is_empty() {
            text.push_str(": ");
            text.push_str(&quoted);
        }
        text
    }
}

/// The last `n` non-empty lines of `output`, joined with ` | ` to fit on one line.
fn last_lines(output: &str, n: usize) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// A marker no other process in the container carries.
fn marker() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{:x}-{nanos:x}-{:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `command` with `sh -c` in the running container `id` for at most `timeout`; past
/// it, or once `cancel` is set, kills the command and what it started.
pub(crate) async fn run(
    docker: &Docker,
    id: &str,
    command: &str,
    timeout: Duration,
    cancel: &Cancel,
) -> Result<HookRun, Error> {
    let marker = marker();
    let cmd = ["sh", "-c", command].map(str::to_owned);
    let exec = docker
        .create_exec(id, &cmd, &[format!("SWAB_HOOK={marker}")])
        .await?;
    let mut demux = Demux::new(OUTPUT_LIMIT);
    let ran = tokio::select! {
        ran = tokio::time::timeout(timeout, docker.run_exec_into(&exec, &mut demux)) => ran.ok(),
        () = cancelled(cancel) => None,
    };
    let output = String::from_utf8_lossy(&demux.combined).into_owned();
    if let Some(exit_code) = ran {
        return Ok(HookRun {
            exit_code: exit_code?,
            output,
            ..HookRun::default()
        });
    }
    let killed = tokio::time::timeout(KILL_TIMEOUT, kill(docker, id, &exec, &marker))
        .await
        .is_ok_and(|killed| killed.unwrap_or(false));
    if !killed {
        tracing::warn!(container = %id, "a hook that had to stop could not be killed");
    }
    let interrupted = cancel.is_cancelled();
    Ok(HookRun {
        exit_code: None,
        output,
        timed_out: !interrupted,
        killed,
        interrupted,
    })
}

/// Resolves once `cancel` is set (it is a flag, so it is polled).
async fn cancelled(cancel: &Cancel) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Kills the processes carrying `marker`; whether the hook's exec `exec` then no longer
/// runs (children that dropped the marker from their environment may survive it).
async fn kill(docker: &Docker, id: &str, exec: &str, marker: &str) -> Result<bool, Error> {
    let cmd = ["sh", "-c", KILL_SCRIPT, "swab-kill", marker].map(str::to_owned);
    let killer = docker.create_exec(id, &cmd, &[]).await?;
    let out = docker.run_exec(&killer, 64).await?;
    if out.exit_code != Some(0) {
        return Ok(false);
    }
    for _ in 0..20 {
        if !docker.inspect_exec(exec).await?.running {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::Phase;

    fn hook(phase: Phase) -> Hook {
        Hook {
            phase,
            command: "x".to_owned(),
            timeout: Duration::from_secs(2),
            source: "rule hooks.pre_update".to_owned(),
        }
    }

    #[test]
    fn outcomes_and_descriptions() {
        let ran = |code: Option<i64>, output: &str, timed_out: bool, killed: bool| HookRun {
            exit_code: code,
            output: output.to_owned(),
            timed_out,
            killed,
            interrupted: false,
        };
        let pre = hook(Phase::PreUpdate);
        let post = hook(Phase::PostUpdate);
        let cases = [
            (
                &pre,
                ran(Some(0), "", false, false),
                Outcome::Passed,
                "pre-update hook exited 0",
            ),
            (
                &pre,
                ran(Some(1), "a\n\nb\nc\nd\ne\nf\n", false, false),
                Outcome::Failed,
                "pre-update hook exited 1: b | c | d | e | f",
            ),
            (
                &pre,
                ran(Some(75), "busy\n", false, false),
                Outcome::SkipThisTime,
                "pre-update hook asked to skip the update this time (exit 75): busy",
            ),
            (
                &post,
                ran(Some(75), "", false, false),
                Outcome::Failed,
                "post-update hook exited 75",
            ),
            (
                &post,
                ran(None, "waiting\n", true, true),
                Outcome::Failed,
                "post-update hook timed out after 2s and was killed: waiting",
            ),
            (
                &post,
                ran(None, "", true, false),
                Outcome::Failed,
                "post-update hook timed out after 2s; swab could not kill it, it may still run in the container",
            ),
            (
                &pre,
                HookRun {
                    interrupted: true,
                    killed: true,
                    ..HookRun::default()
                },
                Outcome::Failed,
                "pre-update hook was interrupted by a signal and was killed",
            ),
        ];
        for (hook, run, outcome, text) in cases {
            assert_eq!(run.outcome(hook), outcome, "{text}");
            assert_eq!(run.describe(hook), text);
        }
    }

    #[test]
    fn markers_differ() {
        assert_ne!(marker(), marker());
    }
}
