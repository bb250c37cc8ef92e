//! swab's engine: the IO side. It gathers a snapshot of the host, asks `swab-plan` what to
//! do, carries it out through narrow traits, and remembers what it must between runs.
//!
//! The decisions live in `swab-plan` (pure, re-exported here as [`plan`], [`updates`], [`own`],
//! [`timetable`], [`snapshot`], [`memory`] and [`report`] so callers name one crate). This
//! crate holds what talks to Docker, the registry, the clock and the disk, in the order a
//! run uses them:
//! - [`gather`]: fills a snapshot with as few API calls as possible (two lists, then
//!   inspects only for the candidates the planner names);
//! - [`state`]: the state file (last-used record, rolled-back digests, update journal),
//!   written atomically;
//! - [`exec`]: the prune executor, through the narrow [`exec::Engine`] trait. The Docker
//!   client implements it; [`exec::DryRun`] records instead, so a dry run walks the exact
//!   path of a real run;
//! - [`update`]: the update executor (swap, health gate, commit, rollback, crash recovery,
//!   `swab rollback`), through the narrow [`update::UpdateEngine`] trait, with the create
//!   request for a replacement in [`update::recreate`];
//! - [`run`]: one whole run (snapshot, plan, execute, state, report), shared by `swab run`
//!   and the daemon; [`lock`]: the host-wide lock around real runs, and [`lease`]: the lock
//!   held on the daemon itself, which keeps swab processes on other machines out too;
//! - [`daemon`]: the daemon's loop, with the clock, the runner, reloads and shutdown
//!   passed in (unit-tested with a paused tokio clock), with [`daemon::events`] (last-used
//!   tracking from the event stream) and [`daemon::notify`] (webhooks);
//! - [`swarm`]: Swarm service updates and rollbacks, through Swarm's own rolling update;
//! - [`cancel`]: the flag a signal sets, shared by both executors and the CLI.
//!
//! Module dependencies form a DAG: [`cancel`], [`state`], [`lock`] and [`gather`] depend
//! on nothing here but [`lease`] (its label, which the snapshot leaves out), which depends
//! on [`cancel`]; the executors ([`exec`], [`update`]) on those; [`run`]
//! on the executors; [`daemon`] on [`timetable`] and its own traits, its `events` on
//! [`gather`] and [`state`]. `swab-plan` never depends on this crate.
//!
//! Safety lives in two places only: the planner decides what may go, the executor makes
//! sure nothing changed in a way that would make going wrong (never forcing, never losing a
//! tag, skipping what the daemon refuses).

#![deny(missing_docs)]

pub mod cancel;
pub mod daemon;
pub mod exec;
pub mod gather;
pub mod history;
pub mod lease;
pub mod lock;
pub mod run;
pub mod state;
pub mod swarm;
mod tar;
pub mod update;

// The pure deciders, re-exported so callers name one crate.
pub use swab_plan::{
    format_bytes, hooks, memory, own, plan, report, services, snapshot, timetable, updates, window,
};
