//! The client against the private registries of `scripts/test-env.sh`: images pushed with
//! the docker CLI, digests compared with what the daemon recorded.
//!
//! The tests live in `with_daemon` (`scripts/test.sh` runs every `with_daemon` test on each
//! test engine, and the pure tests once).
#![cfg(feature = "docker-tests")]

#[path = "registry/with_daemon.rs"]
mod with_daemon;
