//! Container endpoints.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;

use crate::client::{Docker, Filters, Query, read_limited, segment, to_body};
use crate::error::{Error, Result};
use crate::models::{ContainerInspect, ContainerSummary, CreatedContainer, WaitResponse};
use crate::version::ApiVersion;

/// Options for [`Docker::list_containers`].
#[derive(Debug, Clone, Default)]
pub struct ListContainersOptions {
    /// Include stopped containers (the daemon lists only running ones otherwise).
    pub all: bool,
    /// Compute `SizeRw` (slow on big hosts: the daemon walks each writable layer).
    pub size: bool,
    /// Filters, e.g. `status=exited`, `label=a=b`, `ancestor=image`.
    pub filters: Filters,
}

/// Options for [`Docker::remove_container`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveContainerOptions {
    /// Also remove the container's anonymous volumes. Named volumes are never removed.
    pub volumes: bool,
    /// Kill a running container first. swab never sets this for prune actions.
    pub force: bool,
}

/// What [`Docker::wait_container`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// Returns at once if the container is not running.
    NotRunning,
    /// Waits for the next exit.
    NextExit,
    /// Waits until the container is removed.
    Removed,
}

impl WaitCondition {
    fn as_str(self) -> &'static str {
        match self {
            WaitCondition::NotRunning => "not-running",
            WaitCondition::NextExit => "next-exit",
            WaitCondition::Removed => "removed",
        }
    }
}

impl Docker {
    /// `GET /containers/json`.
    pub async fn list_containers(
        &self,
        options: &ListContainersOptions,
    ) -> Result<Vec<ContainerSummary>> {
        let query = Query::new()
            .add("all", options.all)
            .add("size", options.size)
            .filters(&options.filters);
        self.get_json("/containers/json", query).await
    }

    /// `GET /containers/{id}/json`, typed.
    pub async fn inspect_container(&self, id: &str) -> Result<ContainerInspect> {
        self.get_json(&format!("/containers/{}/json", segment(id)), Query::new())
            .await
    }

    /// `GET /containers/{id}/json` as raw JSON, for recreating a container with every
    /// setting intact, including ones this client does not model.
    pub async fn inspect_container_raw(&self, id: &str) -> Result<Value> {
        self.get_json(&format!("/containers/{}/json", segment(id)), Query::new())
            .await
    }

    /// `POST /containers/create`. `body` is the create configuration (`Image`, `Cmd`, ...,
    /// `HostConfig`, `NetworkingConfig`).
    ///
    /// Daemons before API 1.44 accept only one entry in `NetworkingConfig.EndpointsConfig`;
    /// for those, the container is created on its primary network (the one named by
    /// `HostConfig.NetworkMode`, else the first) and connected to the others before this
    /// returns, so callers can pass the same body to any daemon. If a connect fails, the
    /// just-created container is removed again and the error returned.
    pub async fn create_container(
        &self,
        name: Option<&str>,
        body: &Value,
    ) -> Result<CreatedContainer> {
        let version = self.api_version().await?;
        let (body, deferred) = split_networks(body, version);
        let query = Query::new().add_opt("name", name);
        let created: CreatedContainer = self
            .json(
                Method::POST,
                "/containers/create",
                query,
                Some(to_body(&body)?),
                HeaderMap::new(),
            )
            .await?;
        for (network, config) in deferred {
            if let Err(err) = self
                .connect_network(&network, &created.id, Some(&config))
                .await
            {
                let cleanup = RemoveContainerOptions {
                    volumes: true,
                    force: true,
                };
                if let Err(cleanup_err) = self.remove_container(&created.id, cleanup).await {
                    tracing::warn!(container = %created.id, error = %cleanup_err,
                        "could not remove half-created container");
                }
                return Err(err);
            }
        }
        Ok(created)
    }

    /// `POST /containers/{id}/start`. Starting a running container is not an error.
    pub async fn start_container(&self, id: &str) -> Result<()> {
        self.empty(
            Method::POST,
            &format!("/containers/{}/start", segment(id)),
            Query::new(),
            None,
        )
        .await
        .map(drop)
    }

    /// `POST /containers/{id}/stop`: the container's stop signal, then SIGKILL after
    /// `timeout` (the container's own `StopTimeout`, else 10 s, when `None`). Stopping a
    /// stopped container is not an error. The response timeout is extended by the grace
    /// period, since the daemon answers only once the container is down.
    pub async fn stop_container(&self, id: &str, timeout: Option<Duration>) -> Result<()> {
        self.stop(id, timeout, None).await
    }

    /// `POST /containers/{id}/stop` with `signal` instead of the container's `StopSignal`
    /// (SIGKILL still follows after the grace period). The parameter came with API 1.42;
    /// an older daemon stops with the container's own `StopSignal` and this returns
    /// `Ok(false)`. (A `kill` with the signal instead would not mark the container as
    /// stopped by hand, and its restart policy could start it again.)
    pub async fn stop_container_with_signal(
        &self,
        id: &str,
        timeout: Option<Duration>,
        signal: &str,
    ) -> Result<bool> {
        let honoured = self.api_version().await? >= ApiVersion::STOP_SIGNAL;
        self.stop(id, timeout, honoured.then_some(signal)).await?;
        Ok(honoured)
    }

    /// The one `POST /containers/{id}/stop` request, with an optional `signal`.
    async fn stop(&self, id: &str, timeout: Option<Duration>, signal: Option<&str>) -> Result<()> {
        let query = Query::new()
            .add_opt("t", timeout.map(whole_seconds))
            .add_opt("signal", signal);
        self.for_grace(timeout)
            .empty(
                Method::POST,
                &format!("/containers/{}/stop", segment(id)),
                query,
                None,
            )
            .await
            .map(drop)
    }

    /// `POST /containers/{id}/restart`, with the same grace period rules as stop.
    pub async fn restart_container(&self, id: &str, timeout: Option<Duration>) -> Result<()> {
        let query = Query::new().add_opt("t", timeout.map(whole_seconds));
        self.for_grace(timeout)
            .empty(
                Method::POST,
                &format!("/containers/{}/restart", segment(id)),
                query,
                None,
            )
            .await
            .map(drop)
    }

    /// `POST /containers/{id}/kill` with `signal` (default SIGKILL).
    pub async fn kill_container(&self, id: &str, signal: Option<&str>) -> Result<()> {
        let query = Query::new().add_opt("signal", signal);
        self.empty(
            Method::POST,
            &format!("/containers/{}/kill", segment(id)),
            query,
            None,
        )
        .await
        .map(drop)
    }

    /// `POST /containers/{id}/update`: changes resources or the restart policy of a
    /// container, running or not (`body` as in the API, e.g. `{"RestartPolicy": {...}}`).
    pub async fn update_container(&self, id: &str, body: &Value) -> Result<()> {
        self.empty(
            Method::POST,
            &format!("/containers/{}/update", segment(id)),
            Query::new(),
            Some(to_body(body)?),
        )
        .await
        .map(drop)
    }

    /// `GET /containers/{id}/archive?path=`: a tar of the file or directory at `path` in the
    /// container, at most `limit` bytes (a larger one is an error, not a truncated tar).
    pub async fn get_archive(&self, id: &str, path: &str, limit: usize) -> Result<Bytes> {
        let what = format!("GET /containers/{id}/archive");
        self.retrying(&what, || {
            self.timed(async {
                let response = self
                    .request(
                        Method::GET,
                        &format!("/containers/{}/archive", segment(id)),
                        Query::new().add("path", path),
                        None,
                        HeaderMap::new(),
                    )
                    .await?;
                read_limited(response.body, limit).await
            })
        })
        .await
    }

    /// `PUT /containers/{id}/archive?path=`: extracts the tar `archive` into the directory
    /// `dir` of the container (which may be created and not yet started).
    pub async fn put_archive(&self, id: &str, dir: &str, archive: Bytes) -> Result<()> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-tar"),
        );
        self.timed(async {
            let response = self
                .request(
                    Method::PUT,
                    &format!("/containers/{}/archive", segment(id)),
                    Query::new().add("path", dir),
                    Some(archive),
                    headers,
                )
                .await?;
            read_limited(response.body, 1024 * 1024).await?;
            Ok(())
        })
        .await
    }

    /// `POST /containers/{id}/rename`.
    pub async fn rename_container(&self, id: &str, new_name: &str) -> Result<()> {
        self.empty(
            Method::POST,
            &format!("/containers/{}/rename", segment(id)),
            Query::new().add("name", new_name),
            None,
        )
        .await
        .map(drop)
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove_container(&self, id: &str, options: RemoveContainerOptions) -> Result<()> {
        let query = Query::new()
            .add("v", options.volumes)
            .add("force", options.force);
        let path = format!("/containers/{}", segment(id));
        let result = self
            .empty(Method::DELETE, &path, query, None)
            .await
            .map(drop);
        self.confirm_gone(result, &format!("{path}/json"), || ())
            .await
    }

    /// `POST /containers/{id}/wait`. The daemon sends headers at once and the body when
    /// the condition is met, so only the header wait is timed; the body may take as long
    /// as the container runs.
    pub async fn wait_container(&self, id: &str, condition: WaitCondition) -> Result<WaitResponse> {
        use futures_util::StreamExt;
        let path = format!("/containers/{}/wait", segment(id));
        let stream = self
            .json_stream::<WaitResponse>(
                Method::POST,
                &path,
                Query::new().add("condition", condition.as_str()),
                HeaderMap::new(),
            )
            .await?;
        let mut stream = Box::pin(stream);
        match stream.next().await {
            Some(answer) => answer,
            None => Err(Error::Stream {
                message: format!("POST {path}: the daemon closed the connection without a status"),
            }),
        }
    }

    /// A client whose response timeout also covers a stop grace period.
    fn for_grace(&self, grace: Option<Duration>) -> Docker {
        // Without an explicit grace the container's StopTimeout applies, which may be long;
        // allow a generous default.
        let grace = grace.unwrap_or(Duration::from_secs(300));
        self.with_timeout(self.timeout() + grace)
    }
}

/// The API takes whole seconds; a grace period is rounded up, so `500ms` never becomes an
/// immediate SIGKILL.
fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Splits the `EndpointsConfig` of a create body for daemons that accept only one network at
/// create time. Returns the body to send and the networks to connect afterwards.
fn split_networks(body: &Value, version: ApiVersion) -> (Value, Vec<(String, Value)>) {
    let mut body = body.clone();
    if version >= ApiVersion::MULTI_NETWORK_CREATE {
        return (body, Vec::new());
    }
    let primary = body
        .pointer("/HostConfig/NetworkMode")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(endpoints) = body
        .pointer_mut("/NetworkingConfig/EndpointsConfig")
        .and_then(Value::as_object_mut)
    else {
        return (body, Vec::new());
    };
    if endpoints.len() <= 1 {
        return (body, Vec::new());
    }
    let keep = primary
        .filter(|p| endpoints.contains_key(p))
        .or_else(|| endpoints.keys().next().cloned())
        .unwrap_or_default();
    let mut deferred = Vec::new();
    endpoints.retain(|name, config| {
        if *name == keep {
            true
        } else {
            deferred.push((name.clone(), config.clone()));
            false
        }
    });
    (body, deferred)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn networks_split_only_before_1_44() {
        let body = json!({
            "Image": "x",
            "HostConfig": {"NetworkMode": "b"},
            "NetworkingConfig": {"EndpointsConfig": {"a": {"Aliases": ["x"]}, "b": {}, "c": {}}}
        });
        let (same, none) = split_networks(&body, ApiVersion::new(1, 44));
        assert_eq!(same, body);
        assert!(none.is_empty());

        let (sent, deferred) = split_networks(&body, ApiVersion::new(1, 41));
        let kept: Vec<_> = sent["NetworkingConfig"]["EndpointsConfig"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(kept, ["b"]);
        let names: Vec<_> = deferred.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(deferred[0].1["Aliases"][0], "x");
    }
}
