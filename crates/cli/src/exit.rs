//! Exit codes, as documented in the README, and how errors map to them.

use std::process::ExitCode;

/// Everything asked for was done (skipped actions included).
pub const SUCCESS: u8 = 0;
/// Some action failed.
pub const FAILURE: u8 = 1;
/// Bad usage or invalid rules. clap uses 2 for usage errors too.
pub const USAGE: u8 = 2;
/// The Docker daemon could not be reached.
pub const UNREACHABLE: u8 = 3;

/// Marks an error as the user's input being wrong (exit 2) rather than an operation failing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit code for an error: 3 when the daemon is unreachable anywhere in the chain, 2
/// for usage errors and bad endpoints, 1 otherwise.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(docker) = cause.downcast_ref::<swab_docker::Error>() {
            if docker.is_unreachable() {
                return UNREACHABLE;
            }
            if matches!(docker, swab_docker::Error::Endpoint(_)) {
                return USAGE;
            }
        }
        if cause
            .downcast_ref::<swab_docker::endpoint::EndpointError>()
            .is_some()
            || cause.downcast_ref::<UsageError>().is_some()
        {
            return USAGE;
        }
    }
    FAILURE
}

/// Prints the error chain on one line and returns its exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("swab: error: {err:#}");
    ExitCode::from(code_for(err))
}

/// What kind of fatal error `err` is, for the JSON report: `docker_unreachable`,
/// `docker_timeout`, `usage` or `failed`.
pub fn kind_of(err: &anyhow::Error) -> &'static str {
    let timeout = err.chain().any(|c| {
        c.downcast_ref::<swab_docker::Error>()
            .is_some_and(|d| matches!(d, swab_docker::Error::Timeout { .. }))
    });
    match code_for(err) {
        UNREACHABLE if timeout => "docker_timeout",
        UNREACHABLE => "docker_unreachable",
        USAGE => "usage",
        _ => "failed",
    }
}

/// Prints the JSON document a command reporting in JSON ends with when it fails before its
/// report: `{"swab_version", "command", "error": {"kind", "message"}, "exit_code"}`.
pub fn print_json_error(command: &str, err: &anyhow::Error) {
    let document = serde_json::json!({
        "swab_version": env!("CARGO_PKG_VERSION"),
        "command": command,
        "error": {
            "kind": kind_of(err),
            "message": format!("{err:#}"),
        },
        "exit_code": code_for(err),
    });
    let _ = crate::output::print(&format!("{document:#}\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_errors_have_a_kind() {
        let unreachable = anyhow::Error::new(swab_docker::Error::Connect {
            endpoint: "unix:///x".to_owned(),
            reason: "connection refused".to_owned(),
            hint: None,
            source: None,
        })
        .context("cannot read the state of the Docker host");
        assert_eq!(kind_of(&unreachable), "docker_unreachable");
        assert_eq!(code_for(&unreachable), UNREACHABLE);
        let timeout = anyhow::Error::new(swab_docker::Error::Timeout {
            endpoint: "unix:///x".to_owned(),
            what: "GET /_ping".to_owned(),
            after: std::time::Duration::from_secs(1),
        });
        assert_eq!(kind_of(&timeout), "docker_timeout");
        assert_eq!(
            kind_of(&anyhow::Error::new(UsageError("bad".to_owned()))),
            "usage"
        );
        assert_eq!(kind_of(&anyhow::anyhow!("disk full")), "failed");
    }
}
