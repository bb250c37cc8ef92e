//! System endpoints: info, disk usage, events and the daemon's own prune endpoints.

use std::time::SystemTime;

use futures_util::Stream;
use http::{HeaderMap, Method};

use crate::client::{Docker, Filters, Query};
use crate::error::Result;
use crate::models::{
    BuildCachePruned, ContainersPruned, DiskUsage, Event, ImagesPruned, Info, NetworksPruned,
    RawDiskUsage, VolumesPruned,
};
use crate::version::ApiVersion;

/// Options for [`Docker::events`].
#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    /// Replay events from this time (the daemon keeps a bounded backlog).
    pub since: Option<SystemTime>,
    /// Stop at this time; without it the stream stays open.
    pub until: Option<SystemTime>,
    /// Filters, e.g. `type=container`, `event=die`.
    pub filters: Filters,
}

fn unix_secs(t: SystemTime) -> String {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => format!("{}.{:09}", d.as_secs(), d.subsec_nanos()),
        Err(_) => "0".to_owned(),
    }
}

impl Docker {
    /// `GET /info`.
    pub async fn info(&self) -> Result<Info> {
        self.get_json("/info", Query::new()).await
    }

    /// `GET /system/df`, normalised across API versions. `verbose` asks daemons from API
    /// 1.52 on for item lists too (older daemons always send them); it is slow on big hosts.
    pub async fn disk_usage(&self, verbose: bool) -> Result<DiskUsage> {
        let version = self.api_version().await?;
        let query = if verbose && version >= ApiVersion::DF_USAGE_SUMMARIES {
            Query::new().add("verbose", true)
        } else {
            Query::new()
        };
        let raw: RawDiskUsage = self.get_json("/system/df", query).await?;
        Ok(raw.normalise())
    }

    /// `GET /events`: a stream of events, open until `until` or until dropped. Only the
    /// wait for the response to start is timed.
    pub async fn events(
        &self,
        options: &EventsOptions,
    ) -> Result<impl Stream<Item = Result<Event>> + Send + use<>> {
        let query = Query::new()
            .add_opt("since", options.since.map(unix_secs))
            .add_opt("until", options.until.map(unix_secs))
            .filters(&options.filters);
        self.json_stream(Method::GET, "/events", query, HeaderMap::new())
            .await
    }

    /// `POST /containers/prune`: the daemon removes all stopped containers matching
    /// `filters` (`until`, `label`).
    pub async fn prune_containers(&self, filters: &Filters) -> Result<ContainersPruned> {
        self.prune("/containers/prune", filters).await
    }

    /// `POST /images/prune`: dangling images, or with `dangling=false` every unused image.
    pub async fn prune_images(&self, filters: &Filters) -> Result<ImagesPruned> {
        self.prune("/images/prune", filters).await
    }

    /// `POST /volumes/prune`: unused volumes (anonymous only from API 1.42 unless
    /// `all=true`).
    pub async fn prune_volumes(&self, filters: &Filters) -> Result<VolumesPruned> {
        self.prune("/volumes/prune", filters).await
    }

    /// `POST /networks/prune`: unused user networks.
    pub async fn prune_networks(&self, filters: &Filters) -> Result<NetworksPruned> {
        self.prune("/networks/prune", filters).await
    }

    /// `POST /build/prune`: build cache.
    pub async fn prune_build_cache(&self, filters: &Filters) -> Result<BuildCachePruned> {
        self.prune("/build/prune", filters).await
    }

    async fn prune<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        filters: &Filters,
    ) -> Result<T> {
        self.json(
            Method::POST,
            path,
            Query::new().filters(filters),
            None,
            HeaderMap::new(),
        )
        .await
    }
}
