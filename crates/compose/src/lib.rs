//! Docker Compose files, read the way Compose reads them, for updating
//! Compose-created containers without the compose CLI.
//!
//! When swab moves a Compose service to a new image tag it has to do two
//! things Compose would otherwise do: rewrite the service's `image:` in the
//! user's compose file ([`set_image`]), and give the replacement container the
//! `com.docker.compose.config-hash` label Compose would compute for the edited
//! file ([`service_hash`]). Compose recreates any container whose label differs
//! from the hash it computes, so a wrong label would make the user's next
//! `docker compose up -d` recreate the container that swab just updated.
//!
//! # Design: a verified reconstruction
//!
//! Compose hashes the JSON of its normalized service model (compose-go's
//! `types.ServiceConfig`, see `hash.rs`). swab rebuilds that JSON for a
//! subset of keys, exactly, and refuses everything else with an
//! [`Unsupported`] error naming the key: `build`, `extends`, `env_file`,
//! `include`, `${VAR}` interpolation (its value depends on Compose's
//! environment), YAML aliases, merge keys and tags, services split across
//! several files, and any key not listed below. The caller first computes the
//! hash for the container's *current* image and compares it with the
//! container's existing label; only when they match does it trust the hash
//! for the new image. A normalization swab gets wrong therefore shows up at
//! run time as "cannot reproduce the label" rather than as a wrong label.
//!
//! Everything here is pure (text in, values out): no file access, no processes.
//!
//! # Supported service keys
//!
//! `image`, `command`, `entrypoint` (string, split like go-shellwords, or
//! list), `environment`, `labels` (list or mapping), `container_name`,
//! `hostname`, `domainname`, `user`, `working_dir`, `restart`, `stop_signal`,
//! `stop_grace_period`, `ipc`, `pid`, `network_mode`, `networks` (list or
//! mapping with `aliases`, `ipv4_address`, `ipv6_address`, `priority`),
//! `ports` (short and long syntax), `volumes` (short syntax with named
//! volumes and bind mounts, long syntax for `volume`, `bind`, `tmpfs`),
//! `healthcheck`, `depends_on`, `profiles`, `pull_policy` (the last three are
//! cleared by Compose's hash), `tty`, `stdin_open`, `init`, `read_only`,
//! `privileged`, `cap_add`, `cap_drop`, `security_opt`, `group_add`,
//! `extra_hosts`, `dns`, `dns_search`, `dns_opt`, `tmpfs`, `ulimits`,
//! `logging`, `mem_limit`, `shm_size`, `deploy` (`replicas` and
//! `resources.limits`/`reservations` with `cpus`, `memory`, `pids`), and
//! `x-*` extensions (which Compose leaves out of the hash).
//!
//! # Where things live
//!
//! `yaml.rs` parses text into a value tree that keeps byte spans; `hash.rs`
//! rebuilds the service JSON; `json.rs` writes it with Go's `encoding/json`
//! conventions; `shell.rs` splits command strings; `edit.rs` rewrites and
//! verifies an `image:` value.

#![deny(missing_docs)]

mod edit;
mod hash;
mod json;
mod shell;
mod yaml;

pub use edit::{EditError, set_image};
pub use hash::{ComposeFile, Project, Unsupported, service_hash, service_json};
