//! Registry client for swab: "what digest does the registry currently have for this
//! reference, for this host's platform?"
//!
//! swab's `update` action keeps containers on the newest image of their tag. To decide
//! that without pulling, it asks the registry for the tag's manifest digest and compares it
//! with the local image's `RepoDigests`. This crate answers that one question, speaking the
//! OCI distribution API (registry v2) directly over reqwest with rustls.
//!
//! Where things live:
//! - [`client`](RegistryClient): the requests. A `HEAD` of
//!   `/v2/<path>/manifests/<tag>` gives the digest and media type; for a multi-platform
//!   index a `GET` of it finds the entry for the requested [`Platform`]; a registry without
//!   `Docker-Content-Digest` gets a `GET` and the sha256 of the body. HTTPS with verified TLS
//!   everywhere except loopback registries and those listed as insecure. HTTP 429 is retried
//!   after `Retry-After`, a bounded number of times.
//! - Auth (also in the client): anonymous first; a `401` challenge is answered once, with a
//!   bearer token from the challenge's token server (cached per registry and scope until it
//!   expires) or with basic credentials. Registries that asked once are answered up front
//!   next time.
//! - [`credentials`](CredentialStore): credentials read as the docker CLI stores them
//!   (`config.json` `auths`, `credsStore`, `credHelpers`), looked up only when a registry
//!   asks. Secrets live in [`Secret`], whose `Debug` is redacted and which has no `Display`.
//! - `platform`: platform names and picking an index entry.
//! - [`RegistryError`]: one error enum that always names the registry.
//!
//! What counts as an update is [`RemoteDigest::is_update_of`]: multi-arch: a changed index
//! whose entry for the host's platform is unchanged is NOT an update. References pinned by
//! digest are never looked up ([`RegistryError::PinnedByDigest`]). [`RemoteDigest`] itself
//! lives in `swab-reference` (re-exported here), so the pure update planner can judge an
//! answer without depending on this crate.
//!
//! Among swab's crates it depends on `swab-reference` only, and must never depend on the
//! Docker client, the rule language or the engine (the engine turns credentials into the
//! daemon's `X-Registry-Auth`).

#![deny(missing_docs)]

mod challenge;
mod client;
mod credentials;
mod error;
#[cfg(test)]
mod fuzz;
mod platform;
mod ratelimit;

pub use client::{MAX_TAGS, RegistryClient, RegistryOptions};
pub use credentials::{
    CredentialStore, Credentials, DEFAULT_HELPER_TIMEOUT, DOCKER_HUB_CONFIG_KEY, Secret,
};
pub use error::{AuthFailure, ErrorEntry, RegistryError};
pub use platform::Platform;
pub use ratelimit::RateLimit;
pub use swab_reference::manifest::{RemoteDigest, media_type};
