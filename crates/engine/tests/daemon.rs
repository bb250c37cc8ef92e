//! The engine against the private test daemon: snapshot, plan and execute for real.
//! Every test selects only objects carrying its own `swab-test=<id>` label, because tests
//! run in parallel against one daemon.
//!
//! The tests live in `with_daemon` (`scripts/test.sh` runs every `with_daemon` test on each
//! test engine, and the pure tests once).
#![cfg(feature = "docker-tests")]

#[path = "daemon/with_daemon.rs"]
mod with_daemon;
