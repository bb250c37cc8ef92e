//! `recreate::create_body` against the private test daemon: a container made by the docker
//! CLI with user settings on top of image v1 is recreated from v2 through the derived body,
//! and the two inspects are compared field by field.
//!
//! The tests live in `with_daemon` (`scripts/test.sh` runs every `with_daemon` test on each
//! test engine, and the pure tests once).
#![cfg(feature = "docker-tests")]

#[path = "recreate/with_daemon.rs"]
mod with_daemon;
