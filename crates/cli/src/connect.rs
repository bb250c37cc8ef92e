//! From global flags to a connected client.

use anyhow::Context as _;
use swab_docker::endpoint::{self, Environment, ResolvedEndpoint};
use swab_docker::{ApiVersion, ClientOptions, Docker, Endpoint};

use crate::args::GlobalArgs;

/// Resolves the endpoint from `--host`, the environment and docker contexts.
pub fn resolve(global: &GlobalArgs) -> anyhow::Result<ResolvedEndpoint> {
    endpoint::resolve(global.host.as_deref(), &Environment::from_process())
        .context("cannot determine which Docker daemon to use")
}

/// A client for a resolved endpoint, with the global `--timeout` and `--stall-timeout`.
/// `DOCKER_API_VERSION` pins the API version, as with the docker CLI.
pub fn client(global: &GlobalArgs, resolved: &ResolvedEndpoint) -> anyhow::Result<Docker> {
    client_for(global, &resolved.endpoint)
}

/// A client for `endpoint` (one of a rule file's hosts), with the global options.
pub fn client_for(global: &GlobalArgs, endpoint: &Endpoint) -> anyhow::Result<Docker> {
    let mut options = ClientOptions {
        timeout: *global.timeout,
        stall_timeout: *global.stall_timeout,
        ..ClientOptions::default()
    };
    if let Ok(pinned) = std::env::var("DOCKER_API_VERSION")
        && !pinned.is_empty()
    {
        let version: ApiVersion = pinned
            .parse()
            .map_err(|e| crate::exit::UsageError(format!("DOCKER_API_VERSION: {e}")))?;
        options.api_version = Some(version);
    }
    Docker::connect(endpoint, &options)
        .with_context(|| format!("cannot set up a client for {endpoint}"))
}
