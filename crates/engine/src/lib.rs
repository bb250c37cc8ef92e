//! swab's engine: turns a Docker snapshot and a rule set into a plan, and executes plans.
//!
//! The pieces, in the order a run uses them:
//! - [`snapshot`]: plain data about the host; [`gather`] fills it with as few API calls as
//!   possible (two lists, then inspects only for candidates the planner names);
//! - [`state`]: the last-used record that survives between runs (atomic JSON file);
//! - [`plan`]: the pure planner, `plan(&Snapshot, &[&Rule], &Protect, &State, now) -> Plan`.
//!   No IO and no clock: every "would it delete X?" question is a unit test;
//! - [`exec`]: the executor, which runs a plan through the narrow [`exec::Engine`] trait. The
//!   Docker client implements it; [`exec::DryRun`] records instead, so a dry run walks the
//!   exact path of a real run;
//! - [`report`]: the JSON report that CI jobs read;
//! - [`run`]: one whole run (snapshot, plan, execute, state, report), shared by `swab run`
//!   and the daemon; [`lock`]: the host-wide lock around real runs;
//! - [`timetable`]: when scheduled rules fire next (pure; the daemon only sleeps);
//!   [`daemon`]: the daemon's loop around it, with the clock, the runner, reloads and
//!   shutdown passed in (unit-tested with a paused tokio clock); [`events`]: last-used
//!   tracking from the event stream; [`notify`]: webhooks;
//! - [`updates`]: which references `update` rules keep fresh (pure; look-ups are the
//!   caller's); [`recreate`]: the create request for an updated container's replacement.
//!
//! - [`cancel`]: the flag a signal sets, shared by both executors and the CLI.
//!
//! Module dependencies form a DAG: the model ([`snapshot`], and [`state`] on it) depends on
//! nothing else here; the pure deciders ([`plan`], [`updates`], [`timetable`]) on the model;
//! the IO ([`gather`], [`exec`], [`apply`], [`daemon`], [`run`]) on the deciders, never the
//! reverse.
//!
//! Safety lives in two places only: the planner decides what may go, the executor makes
//! sure nothing changed in a way that would make going wrong (never forcing, never losing a
//! tag, skipping what the daemon refuses).

#![deny(missing_docs)]

pub mod apply;
pub mod cancel;
pub mod daemon;
pub mod events;
pub mod exec;
pub mod gather;
pub mod lock;
pub mod notify;
pub mod plan;
pub mod recreate;
pub mod report;
pub mod run;
pub mod snapshot;
pub mod state;
pub mod timetable;
pub mod updates;

/// Bytes as a short decimal size (`1.2 GB`), the unit Docker's own CLI uses.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    #[allow(clippy::cast_precision_loss)] // display only
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::format_bytes(0), "0 B");
        assert_eq!(super::format_bytes(999), "999 B");
        assert_eq!(super::format_bytes(1_000), "1.0 kB");
        assert_eq!(super::format_bytes(1_234_567_890), "1.2 GB");
    }
}
