//! Every endpoint against the private test daemon started by `scripts/test-env.sh`.
//! Run with `scripts/test.sh` (or `scripts/test-env.sh cargo test --all-features`).
//!
//! The tests live in `with_daemon` (`scripts/test.sh` runs every `with_daemon` test on each
//! test engine, and the pure tests once).
#![cfg(feature = "docker-tests")]

#[path = "daemon/with_daemon.rs"]
mod with_daemon;
