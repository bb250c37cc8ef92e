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
