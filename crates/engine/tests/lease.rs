//! The lock on the daemon ([`swab_engine::lease`]) against the private test daemon: the
//! race between takers, renewal, takeover of an expired lease, and a holder learning that
//! it lost the lock. Each test uses a lock name of its own: tests run in parallel on one
//! daemon.
//!
//! The tests live in `with_daemon` (`scripts/test.sh` runs every `with_daemon` test on each
//! test engine).
#![cfg(feature = "docker-tests")]

#[path = "lease/with_daemon.rs"]
mod with_daemon;
