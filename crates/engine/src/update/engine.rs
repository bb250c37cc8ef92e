//! The narrow interfaces the update executor works through: [`UpdateEngine`] for Docker and
//! [`StateStore`] for the state file. The real ones are the Docker client and
//! [`StateFile`]; the unit tests drive the executor through a simulated daemon and an
//! in-memory state instead, so every step's failure and every journal state is a fast test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use swab_docker::models::{ContainerInspect, ImageInspect, PullProgress};
use swab_docker::transport::BoxFuture;
use swab_docker::{
    ApiVersion, Docker, Error, RegistryAuth, RemoveContainerOptions, RemoveImageOptions,
};
use swab_rules::Protect;

use super::hook::HookRun;
use crate::cancel::Cancel;
use crate::gather::{self, LocalFilesystem};
use crate::snapshot::Snapshot;
use crate::state::{State, StateError};

/// The Docker operations an update needs; each is one API call (the pull is one streamed
/// call). Object arguments take an ID or a name, as the Engine API does.
pub trait UpdateEngine: Send + Sync {
    /// Containers and images as the planner sees them (lists only, no inspects): who
    /// depends on whom, and whether a dependent is protected.
    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, Error>>;
    /// `GET /containers/{id}/json`, typed.
    fn inspect_container(&self, id: &str) -> BoxFuture<'_, Result<ContainerInspect, Error>>;
    /// `GET /containers/{id}/json` as the daemon sent it: the replacement is derived from
    /// every field, including those the typed model does not know.
    fn inspect_container_raw(&self, id: &str) -> BoxFuture<'_, Result<Value, Error>>;
    /// `GET /images/{name}/json`.
    fn inspect_image(&self, name: &str) -> BoxFuture<'_, Result<ImageInspect, Error>>;
    /// The negotiated API version (the create body depends on it).
    fn api_version(&self) -> BoxFuture<'_, Result<ApiVersion, Error>>;
    /// `POST /containers/create?name=`; returns the new ID.
    fn create_container(&self, name: &str, body: &Value) -> BoxFuture<'_, Result<String, Error>>;
    /// `POST /containers/{id}/start`.
    fn start_container(&self, id: &str) -> BoxFuture<'_, Result<(), Error>>;
    /// `POST /containers/{id}/stop`, with the grace period given or the container's own,
    /// and `signal` instead of its `StopSignal` where the daemon can (API 1.42).
    fn stop_container<'a>(
        &'a self,
        id: &'a str,
        timeout: Option<Duration>,
        signal: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), Error>>;
    /// `POST /containers/{id}/update` (the restart policy).
    fn update_container(&self, id: &str, body: &Value) -> BoxFuture<'_, Result<(), Error>>;
    /// `POST /containers/{id}/rename`.
    fn rename_container(&self, id: &str, name: &str) -> BoxFuture<'_, Result<(), Error>>;
    /// `DELETE /containers/{id}`, never with its volumes; `force` only for a replacement
    /// swab created itself.
    fn remove_container(&self, id: &str, force: bool) -> BoxFuture<'_, Result<(), Error>>;
    /// Tags `image` as `reference` (`repo:tag`), moving the tag if it names another image.
    fn tag_image(&self, image: &str, reference: &str) -> BoxFuture<'_, Result<(), Error>>;
    /// `DELETE /images/{name}` without force. `untag_only` (`noprune`): drop the tag and
    /// keep untagged parents.
    fn remove_image(&self, name: &str, untag_only: bool) -> BoxFuture<'_, Result<(), Error>>;
    /// Copies the file at `path` from container `from` into container `to` (created, maybe
    /// not started): `GET` and `PUT /containers/{id}/archive`, keeping mode and owner, and
    /// creating its directory in `to` if the image has none. `Ok(false)`: `from` has no
    /// such file.
    fn copy_path(&self, from: &str, to: &str, path: &str) -> BoxFuture<'_, Result<bool, Error>>;
    /// Runs `command` with `sh -c` in the running container `id` (exec API) for at most
    /// `timeout`, killing it and what it started past that, or once `cancel` is set.
    fn run_hook<'a>(
        &'a self,
        id: &'a str,
        command: &'a str,
        timeout: Duration,
        cancel: &'a Cancel,
    ) -> BoxFuture<'a, Result<HookRun, Error>>;
    /// `POST /images/create`, reading the stream to its end; `progress` sees every item.
    fn pull_image<'a>(
        &'a self,
        reference: &'a str,
        auth: Option<&'a RegistryAuth>,
        progress: &'a (dyn Fn(&PullProgress) + Sync),
    ) -> BoxFuture<'a, Result<(), Error>>;
}

/// Configs and secrets are small; a bigger file is an error rather than a long copy.
const MAX_COPIED_BYTES: usize = 16 * 1024 * 1024;

impl UpdateEngine for Docker {
    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, Error>> {
        Box::pin(async move {
            let protect = Protect::default();
            let (snapshot, _) = gather::gather(self, &[], &protect, &LocalFilesystem, 4).await?;
            Ok(snapshot)
        })
    }

    fn inspect_container(&self, id: &str) -> BoxFuture<'_, Result<ContainerInspect, Error>> {
        let id = id.to_owned();
        Box::pin(async move { Docker::inspect_container(self, &id).await })
    }

    fn inspect_container_raw(&self, id: &str) -> BoxFuture<'_, Result<Value, Error>> {
        let id = id.to_owned();
        Box::pin(async move { Docker::inspect_container_raw(self, &id).await })
    }

    fn inspect_image(&self, name: &str) -> BoxFuture<'_, Result<ImageInspect, Error>> {
        let name = name.to_owned();
        Box::pin(async move { Docker::inspect_image(self, &name).await })
    }

    fn api_version(&self) -> BoxFuture<'_, Result<ApiVersion, Error>> {
        Box::pin(Docker::api_version(self))
    }

    fn create_container(&self, name: &str, body: &Value) -> BoxFuture<'_, Result<String, Error>> {
        let (name, body) = (name.to_owned(), body.clone());
        Box::pin(async move { Ok(Docker::create_container(self, Some(&name), &body).await?.id) })
    }

    fn start_container(&self, id: &str) -> BoxFuture<'_, Result<(), Error>> {
        let id = id.to_owned();
        Box::pin(async move { Docker::start_container(self, &id).await })
    }

    fn stop_container<'a>(
        &'a self,
        id: &'a str,
        timeout: Option<Duration>,
        signal: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let Some(signal) = signal else {
                return Docker::stop_container(self, id, timeout).await;
            };
            if !self.stop_container_with_signal(id, timeout, signal).await? {
                tracing::warn!(container = %id, %signal,
                    "the daemon's API is older than 1.42: stopped with its own StopSignal, not the stop-signal label's");
            }
            Ok(())
        })
    }

    fn update_container(&self, id: &str, body: &Value) -> BoxFuture<'_, Result<(), Error>> {
        let (id, body) = (id.to_owned(), body.clone());
        Box::pin(async move { Docker::update_container(self, &id, &body).await })
    }

    fn rename_container(&self, id: &str, name: &str) -> BoxFuture<'_, Result<(), Error>> {
        let (id, name) = (id.to_owned(), name.to_owned());
        Box::pin(async move { Docker::rename_container(self, &id, &name).await })
    }

    fn remove_container(&self, id: &str, force: bool) -> BoxFuture<'_, Result<(), Error>> {
        let id = id.to_owned();
        let options = RemoveContainerOptions {
            volumes: false,
            force,
        };
        Box::pin(async move { Docker::remove_container(self, &id, options).await })
    }

    fn tag_image(&self, image: &str, reference: &str) -> BoxFuture<'_, Result<(), Error>> {
        let (image, reference) = (image.to_owned(), reference.to_owned());
        Box::pin(async move {
            let (repo, tag) = swab_docker::split_reference(&reference);
            Docker::tag_image(self, &image, repo, tag).await
        })
    }

    fn remove_image(&self, name: &str, untag_only: bool) -> BoxFuture<'_, Result<(), Error>> {
        let name = name.to_owned();
        let options = RemoveImageOptions {
            force: false,
            noprune: untag_only,
        };
        Box::pin(async move { Docker::remove_image(self, &name, options).await.map(drop) })
    }

    fn copy_path(&self, from: &str, to: &str, path: &str) -> BoxFuture<'_, Result<bool, Error>> {
        let (from, to, path) = (from.to_owned(), to.to_owned(), path.to_owned());
        Box::pin(async move {
            let archive = match self.get_archive(&from, &path, MAX_COPIED_BYTES).await {
                Ok(archive) => archive,
                Err(err) if err.is_not_found() => return Ok(false),
                Err(err) => return Err(err),
            };
            let dir = super::compose::parent(&path);
            match self.put_archive(&to, dir, archive.clone()).await {
                // Compose wrote the file with its whole path; the new image may lack the
                // directory (`/run/secrets`): make it (only when missing, so no existing
                // directory's mode or owner is touched), then try again.
                Err(err) if err.is_not_found() => {
                    let mkdir = crate::tar::directory(dir);
                    self.put_archive(&to, "/", mkdir.into()).await?;
                    self.put_archive(&to, dir, archive).await?;
                }
                other => other?,
            }
            Ok(true)
        })
    }

    fn run_hook<'a>(
        &'a self,
        id: &'a str,
        command: &'a str,
        timeout: Duration,
        cancel: &'a Cancel,
    ) -> BoxFuture<'a, Result<HookRun, Error>> {
        Box::pin(super::hook::run(self, id, command, timeout, cancel))
    }

    fn pull_image<'a>(
        &'a self,
        reference: &'a str,
        auth: Option<&'a RegistryAuth>,
        progress: &'a (dyn Fn(&PullProgress) + Sync),
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let mut stream = Box::pin(Docker::pull_image(self, reference, auth).await?);
            while let Some(item) = futures_util::StreamExt::next(&mut stream).await {
                progress(&item?);
            }
            Ok(())
        })
    }
}

/// Where the update journal and the rolled-back digests are kept. Every change is read,
/// changed and written at once: the journal must be on disk before the next step.
pub trait StateStore: Send + Sync {
    /// The state as stored now.
    fn load(&self) -> Result<State, StateError>;
    /// Re-reads the state, applies `change` and stores it.
    fn edit(&self, change: &mut dyn FnMut(&mut State)) -> Result<(), StateError>;
}

/// The state file (callers hold the host lock).
#[derive(Debug, Clone)]
pub struct StateFile(PathBuf);

impl StateFile {
    /// The state file at `path`.
    pub fn new(path: &Path) -> StateFile {
        StateFile(path.to_owned())
    }
}

impl StateStore for StateFile {
    fn load(&self) -> Result<State, StateError> {
        State::load(&self.0)
    }

    fn edit(&self, change: &mut dyn FnMut(&mut State)) -> Result<(), StateError> {
        State::edit_file(&self.0, change)
    }
}
