//! swab's notifications. A rule file's `notify:` targets (parsed by swab-rules into
//! [`swab_rules::Channel`]s from http(s) or shoutrrr-style URLs) hear about events:
//!
//! - [`event`]: what is worth a message, built from a run [`Report`](swab_plan::report::Report)
//!   (a run with changes or failures, each update, rollback and recovery), a new-image
//!   notice, a Docker outage. Pure.
//! - [`render`]: a target's title and body from its templates (or the defaults), and
//!   cutting a text to a service's limit on a character boundary. Pure.
//! - [`payload`]: each HTTP channel's requests (ntfy, Gotify, Discord, Telegram, Teams,
//!   Slack, generic, swab's JSON) as the services document them. Pure.
//! - [`send`]: the IO: [`Notifier`] sends one message per event to each target that wants
//!   it, HTTP with reqwest and mail with lettre (both rustls on aws-lc-rs), retried with
//!   back-off, bounded in time, logged without secrets, never failing the caller.
//! - [`watch`]: the Docker outage watcher of the daemon.
#![deny(missing_docs)]

pub mod event;
pub mod payload;
pub mod render;
pub mod send;
pub mod watch;

pub use event::{Event, docker_event, notice_event, report_events};
pub use send::{Delivery, Notifier};
pub use watch::watch_docker;
