//! End-to-end tests of the `swab` binary. Tests that need the private test daemon are
//! behind the `docker-tests` feature; the others run anywhere.
// A scenario test reads best as one story.
#![allow(clippy::too_many_lines)]

mod api;
mod compose;
mod daemon;
mod doctor;
mod faults;
mod fleet;
mod harness;
mod history;
mod http;
mod image;
mod image_store;
mod migrate;
mod notify;
mod page;
mod run;
mod secrets;
mod swarm;
mod update_apply;
mod updates;
mod validate;
