//! Why a container's swap failed, typed: callers branch on the kind (whose fault, was the
//! daemon reachable), and the Docker error keeps its source chain.

use std::fmt;

use super::recreate::RecreateError;
use crate::state::StateError;

/// The step of a swap that failed, as the message names it ("cannot {step}: ...").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Listing the host's containers to find the group's containers again.
    List,
    /// Inspecting the container (or a dependent).
    Inspect,
    /// Inspecting the image the old container was created from.
    ReadImage,
    /// Negotiating the API version the create body is written for.
    ApiVersion,
    /// Stopping the old container (or a dependent).
    Stop,
    /// Setting the old container's restart policy to `no`.
    DisableRestart,
    /// Renaming the old container out of the way.
    Rename,
    /// Creating the replacement.
    Create,
    /// Starting the replacement.
    Start,
    /// Starting a Compose dependent again.
    StartAgain,
    /// Copying the files Compose put into the old container into the replacement.
    CopyFiles,
    /// Inspecting the replacement during its health gate.
    InspectReplacement,
    /// Looking at the replacement again just before the commit.
    Recheck,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::List => "list containers",
            Step::Inspect => "inspect",
            Step::ReadImage => "read its image",
            Step::ApiVersion => "negotiate the API version",
            Step::Stop => "stop",
            Step::DisableRestart => "turn off its restart policy",
            Step::Rename => "rename",
            Step::Create => "create the replacement",
            Step::Start => "start the replacement",
            Step::StartAgain => "start again",
            Step::CopyFiles => "copy Compose's configs and secrets into the replacement",
            Step::InspectReplacement => "inspect the replacement",
            Step::Recheck => "find the replacement",
        })
    }
}

/// Why a container's swap failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// A Docker call failed.
    #[error("cannot {step}: {source}")]
    Docker {
        /// Which step.
        step: Step,
        /// The daemon's error.
        #[source]
        source: swab_docker::Error,
    },
    /// The old container's inspect does not have the shape the API specifies.
    #[error("cannot derive the replacement: {0}")]
    Derive(#[source] RecreateError),
    /// The journal could not be written: an update never goes on without it.
    #[error("cannot write the update journal: {0}")]
    Journal(#[source] StateError),
    /// The replacement failed its health gate.
    #[error("{0}")]
    Gate(GateFailure),
    /// A replacement that passed its gate went down before the commit.
    #[error("the replacement went down after its gate ({status})")]
    WentDown {
        /// Its `State.Status`.
        status: String,
    },
    /// Something of the group must not be stopped (AutoRemove, a protected dependent).
    #[error("{0}")]
    Refused(String),
    /// A `post-update` hook failed (exit code, timeout, or it could not run), with its
    /// last lines of output.
    #[error("{0}")]
    Hook(String),
    /// SIGINT or SIGTERM.
    #[error("interrupted by a signal")]
    Interrupted,
}

impl UpdateError {
    /// A Docker error at `step`.
    pub fn docker(step: Step) -> impl FnOnce(swab_docker::Error) -> UpdateError {
        move |source| UpdateError::Docker { step, source }
    }

    /// Whether the daemon could not be reached (the run stops instead of going on).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, UpdateError::Docker { source, .. } if source.is_unreachable())
    }

    /// Whether the change that failed may still take effect: its request got no answer
    /// ([`swab_docker::Error::is_outcome_unknown`]). A rollback after it cannot know it
    /// undid everything.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, UpdateError::Docker { source, .. } if source.is_outcome_unknown())
    }

    /// The step that failed, for a Docker error.
    pub fn step(&self) -> Option<Step> {
        match self {
            UpdateError::Docker { step, .. } => Some(*step),
            _ => None,
        }
    }
}

/// Whether the daemon's refusal to create or start a replacement says the new image (or
/// the configuration with it) is at fault, rather than the daemon or the connection: a
/// `400` (the configuration is refused), or a `500` from the runtime that names the
/// image's entrypoint (`OCI runtime create failed: ... executable file not found`).
/// Anything else (another `5xx`, a dropped connection, a timeout) is transient: the update
/// is rolled back and tried again by the next run, with nothing recorded.
pub(crate) fn is_image_fault(err: &swab_docker::Error) -> bool {
    const RUNTIME: [&str; 5] = [
        "OCI runtime",
        "exec format error",
        "executable file not found",
        "no such file or directory",
        "permission denied",
    ];
    match err {
        swab_docker::Error::Daemon { status: 400, .. } => true,
        swab_docker::Error::Daemon {
            status: 500,
            message,
            ..
        } => RUNTIME.iter().any(|m| message.contains(m)),
        _ => false,
    }
}

/// How a replacement failed its health gate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateFailure {
    /// It exited and its restart policy restarted it.
    #[error("the replacement exited with code {code} and was restarted by its restart policy")]
    Restarted {
        /// Its exit code.
        code: i64,
    },
    /// It exited.
    #[error("the replacement exited with code {code}{}{}", if *.oom_killed { " (out of memory)" } else { "" }, if .error.is_empty() { String::new() } else { format!(": {}", .error) })]
    Exited {
        /// Its exit code.
        code: i64,
        /// Killed for lack of memory.
        oom_killed: bool,
        /// The daemon's `State.Error`.
        error: String,
    },
    /// Its HEALTHCHECK said unhealthy.
    #[error("the replacement is unhealthy: {last_output}")]
    Unhealthy {
        /// The last check's output.
        last_output: String,
    },
    /// Its HEALTHCHECK did not say healthy in time.
    #[error("not healthy within {} (health: {status})", humantime::format_duration(*.timeout))]
    NotHealthyInTime {
        /// The gate's length.
        timeout: std::time::Duration,
        /// The last health status.
        status: String,
    },
}

#[cfg(test)]
mod fault_tests {
    use super::is_image_fault;
    use swab_docker::Error;

    #[test]
    fn only_refusals_that_name_the_image_blame_it() {
        let daemon = |status: u16, message: &str| Error::Daemon {
            status,
            what: "POST /containers/x/start".to_owned(),
            message: message.to_owned(),
        };
        let cases = [
            (daemon(400, "invalid mount config"), true),
            (
                daemon(
                    500,
                    "failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"/app\": stat /app: no such file or directory: unknown",
                ),
                true,
            ),
            (daemon(500, "injected fault"), false),
            (daemon(503, "busy"), false),
            (
                Error::Conflict {
                    message: "name in use".to_owned(),
                },
                false,
            ),
            (
                Error::NotFound {
                    message: "No such image".to_owned(),
                },
                false,
            ),
        ];
        for (err, blamed) in cases {
            assert_eq!(is_image_fault(&err), blamed, "{err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_step_and_keep_the_daemon_source() {
        let err = UpdateError::docker(Step::Rename)(swab_docker::Error::Conflict {
            message: "name in use".into(),
        });
        assert_eq!(err.to_string(), "cannot rename: conflict: name in use");
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(err.step(), Some(Step::Rename));
        assert!(!err.is_unreachable());
        let exited = GateFailure::Exited {
            code: 137,
            oom_killed: true,
            error: String::new(),
        };
        assert_eq!(
            exited.to_string(),
            "the replacement exited with code 137 (out of memory)"
        );
        let timeout = GateFailure::NotHealthyInTime {
            timeout: std::time::Duration::from_secs(60),
            status: "starting".into(),
        };
        assert_eq!(
            timeout.to_string(),
            "not healthy within 1m (health: starting)"
        );
    }
}
