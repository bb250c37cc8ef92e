//! End-to-end tests of the `swab` binary. Tests that need the private test daemon are
//! behind the `docker-tests` feature; the others run anywhere.

mod doctor;
mod harness;
mod validate;
