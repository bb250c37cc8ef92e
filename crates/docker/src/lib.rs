//! Docker Engine API client for swab.
//!
//! The crate is layered so each concern lives in one place:
//! - [`endpoint`] decides *where* the daemon is (flag, `DOCKER_HOST`, docker context,
//!   default sockets) and records why;
//! - [`transport`] moves bytes: a small [`Transport`] trait with a unix-socket implementation
//!   (hyper + hyperlocal) and a TCP/TLS one (reqwest + rustls), and room for test fakes;
//! - [`Docker`] (in `client`) negotiates the API version once, addresses requests as
//!   `/v1.NN/...`, times out only the wait for response headers, and maps statuses to
//!   [`Error`] variants that keep Docker's own message;
//! - one module per resource adds the endpoint methods (`containers`, `images`,
//!   `networks`, `volumes`, `system`);
//! - [`models`] holds serde types for just the fields swab reads, tolerant of unknown and
//!   null fields; [`stream`] decodes newline-delimited JSON streams (events, pull progress)
//!   incrementally and safely across chunk boundaries.
//!
//! Nothing here decides what to delete: that is the engine's job. This crate never sets
//! `force` on a removal unless its caller does.
//!
//! Among swab's crates it depends on `swab-reference` only, and must never depend on the
//! rule language, the registry client, the planner or the engine: it is the Engine API,
//! nothing more.

#![deny(missing_docs)]

mod client;
mod containers;
pub mod endpoint;
mod error;
mod exec;
#[cfg(test)]
mod fuzz;
mod images;
pub mod models;
mod networks;
mod services;
pub mod stream;
mod system;
pub mod transport;
mod version;
mod volumes;

pub use client::{ClientOptions, Docker, Filters};
pub use containers::{ListContainersOptions, RemoveContainerOptions, WaitCondition};
pub use endpoint::{Endpoint, EndpointSource, Environment, ResolvedEndpoint};
pub use error::{BoxError, Error, Result};
pub use exec::{Demux, ExecInspect, ExecOutput};
pub use images::{ListImagesOptions, RegistryAuth, RemoveImageOptions, split_reference};
pub use networks::CreateNetwork;
pub use system::EventsOptions;
pub use transport::Transport;
pub use version::{ApiVersion, ParseApiVersionError};
