//! Gathering a [`Snapshot`] with few API calls.
//!
//! One container list, one image list (with digests and, from API 1.47, each image's
//! manifests), the volume and network lists only when a rule prunes those, `/system/df` and
//! the filesystem figures only when a rule has a disk-pressure trigger, and inspects only for
//! *candidates*: exited containers a rule would remove if they were old enough (their exit
//! time is not in the list), and images a rule would remove if unused long enough (their
//! last tag time is not in the list). Never one inspect per object on the host. Which
//! objects are candidates is the planner's pure decision ([`crate::plan::containers_to_inspect`],
//! [`crate::plan::images_to_inspect`]); this module does the IO around it.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use futures_util::{StreamExt, TryStreamExt, stream};
use swab_docker::models::{ContainerSummary, ImageSummary, from_unix, parse_timestamp};
use swab_docker::{Docker, Filters, ListContainersOptions, ListImagesOptions};
use swab_rules::{Action, ImageRef, Protect, Rule, Trigger};

use crate::lease::is_lock_object;
use crate::snapshot::{
    Container, Disk, Filesystem, Image, Network, Snapshot, Volume, is_anonymous_volume_name,
};

/// What [`gather`] did, for the report and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatherStats {
    /// API calls made.
    pub api_calls: usize,
    /// Containers inspected.
    pub container_inspects: usize,
    /// Images inspected.
    pub image_inspects: usize,
}

/// Where the disk figures come from when a trigger needs them.
pub trait FilesystemProbe: Send + Sync {
    /// Size and use of the filesystem holding `path`, if it is local.
    fn probe(&self, path: &str) -> Option<Filesystem>;
}

/// Reads the figures with `statvfs`, for daemons on this machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalFilesystem;

impl FilesystemProbe for LocalFilesystem {
    fn probe(&self, path: &str) -> Option<Filesystem> {
        let stat = rustix::fs::statvfs(path).ok()?;
        let block = stat.f_frsize;
        let total = stat.f_blocks.saturating_mul(block);
        let free = stat.f_bfree.saturating_mul(block);
        Some(Filesystem {
            total,
            used: total.saturating_sub(free),
        })
    }
}

/// Gathers a snapshot for `rules`. `concurrency` bounds parallel inspects.
pub async fn gather(
    docker: &Docker,
    rules: &[&Rule],
    protect: &Protect,
    probe: &dyn FilesystemProbe,
    concurrency: usize,
) -> swab_docker::Result<(Snapshot, GatherStats)> {
    let mut stats = GatherStats::default();
    let needs = |action: Action| rules.iter().any(|r| r.action == action);
    let container_options = ListContainersOptions {
        all: true,
        ..ListContainersOptions::default()
    };
    // Unfiltered: a `reference` filter would drop digests. With the manifests of each image
    // (API 1.47+; the containerd store fills them), for multi-platform update checks.
    let image_options = ListImagesOptions {
        manifests: true,
        ..ListImagesOptions::default()
    };
    let containers = docker.list_containers(&container_options);
    let images = docker.list_images(&image_options);
    let (containers, images) = tokio::try_join!(containers, images)?;
    stats.api_calls += 2;
    let mut snapshot = Snapshot {
        // The lock on the daemon (a container, its beats and its image) is swab's own and
        // no rule's business: left out here, it can never be kept, listed or removed.
        containers: containers
            .iter()
            .filter(|c| !is_lock_object(&c.labels))
            .map(container_from_summary)
            .collect(),
        images: images
            .iter()
            .filter(|i| !is_lock_object(&i.labels))
            .map(image_from_summary)
            .collect(),
        ..Snapshot::default()
    };
    // The daemon's order is not stable for objects created in the same second; plans and
    // reports should be the same for the same state.
    snapshot
        .containers
        .sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    snapshot
        .images
        .sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    snapshot.own_containers = own_containers(&snapshot);

    if needs(Action::PruneImages) {
        fetch_hidden_parents(docker, &mut snapshot, &mut stats).await?;
    }

    if needs(Action::PruneVolumes) {
        let list = docker.list_volumes(&Filters::new()).await?;
        stats.api_calls += 1;
        snapshot.volumes = Some(
            list.volumes
                .into_iter()
                .map(|v| Volume {
                    anonymous: is_anonymous_volume_name(&v.name)
                        || v.labels.contains_key("com.docker.volume.anonymous"),
                    created: parse_timestamp(&v.created_at),
                    name: v.name,
                    labels: v.labels,
                })
                .collect(),
        );
    }
    if needs(Action::PruneNetworks) {
        let list = docker.list_networks(&Filters::new()).await?;
        stats.api_calls += 1;
        snapshot.networks = Some(
            list.into_iter()
                .map(|n| Network {
                    created: parse_timestamp(&n.created),
                    id: n.id,
                    name: n.name,
                    labels: n.labels,
                    scope: n.scope,
                })
                .collect(),
        );
    }
    if rules.iter().any(|r| r.when.is_some()) {
        gather_disk(docker, &mut snapshot, &mut stats, rules, probe).await?;
    }
    let updates_services = rules
        .iter()
        .any(|r| r.update.as_ref().is_some_and(|u| u.services.is_some()));
    if updates_services {
        gather_services(docker, &mut snapshot, &mut stats).await?;
    }

    inspect_candidates(
        docker,
        &mut snapshot,
        &mut stats,
        rules,
        protect,
        concurrency,
    )
    .await?;
    Ok((snapshot, stats))
}

/// Disk figures for triggers: `/system/df` (per-image shared sizes too when a rule has a
/// target) and the filesystem of Docker's root dir for `disk_usage_*`.
async fn gather_disk(
    docker: &Docker,
    snapshot: &mut Snapshot,
    stats: &mut GatherStats,
    rules: &[&Rule],
    probe: &dyn FilesystemProbe,
) -> swab_docker::Result<()> {
    // With a target, removals are counted in bytes: ask for the per-image figures, whose
    // `SharedSize` (always -1 in the image list) says what removing an image frees.
    let sized = rules.iter().any(|r| r.target.is_some());
    let df = docker.disk_usage(sized).await?;
    stats.api_calls += 1;
    if sized {
        let shared: HashMap<&str, i64> = df
            .image_items
            .iter()
            .filter(|i| i.shared_size >= 0)
            .map(|i| (i.id.as_str(), i.shared_size))
            .collect();
        for image in &mut snapshot.images {
            if let Some(&bytes) = shared.get(image.id.as_str()) {
                image.unique_size = image.size.saturating_sub(u64::try_from(bytes).unwrap_or(0));
            }
        }
    }
    let wants_fs = rules
        .iter()
        .any(|r| matches!(r.when, Some(Trigger::DiskUsageAbove(_))));
    let filesystem = if wants_fs {
        let info = docker.info().await?;
        stats.api_calls += 1;
        probe.probe(&info.docker_root_dir)
    } else {
        None
    };
    snapshot.disk = Some(Disk {
        images_size: u64::try_from(df.images.total_size).unwrap_or(0),
        filesystem,
    });
    Ok(())
}

/// A parent the top-level list does not show is an intermediate image: fetches the links
/// (one more list, only on hosts with locally built images).
async fn fetch_hidden_parents(
    docker: &Docker,
    snapshot: &mut Snapshot,
    stats: &mut GatherStats,
) -> swab_docker::Result<()> {
    let listed: HashSet<&str> = snapshot.images.iter().map(|i| i.id.as_str()).collect();
    let hidden = snapshot
        .images
        .iter()
        .filter_map(|i| i.parent_id.as_deref())
        .any(|p| !listed.contains(p));
    if hidden {
        let all = docker
            .list_images(&ListImagesOptions {
                all: true,
                ..ListImagesOptions::default()
            })
            .await?;
        stats.api_calls += 1;
        snapshot.hidden_parents = all
            .into_iter()
            .filter(|i| !listed.contains(i.id.as_str()) && !i.parent_id.is_empty())
            .map(|i| (i.id, i.parent_id))
            .collect();
    }

    Ok(())
}

/// Fills in the timestamps the lists lack, for candidates only.
async fn inspect_candidates(
    docker: &Docker,
    snapshot: &mut Snapshot,
    stats: &mut GatherStats,
    rules: &[&Rule],
    protect: &Protect,
    concurrency: usize,
) -> swab_docker::Result<()> {
    // Inspect only the candidates whose missing timestamps decide their fate.
    let container_ids = crate::plan::containers_to_inspect(snapshot, rules, protect);
    let image_ids = crate::plan::images_to_inspect(snapshot, rules, protect);
    stats.container_inspects = container_ids.len();
    stats.image_inspects = image_ids.len();
    stats.api_calls += container_ids.len() + image_ids.len();

    type Times = (Option<SystemTime>, Option<SystemTime>);
    let times: HashMap<String, Times> = stream::iter(container_ids)
        .map(|id| async move {
            match docker.inspect_container(&id).await {
                Ok(c) => Ok(Some((id, (c.state.finished_at(), c.state.started_at())))),
                // Removed since the list: nothing to decide about.
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await?;
    for c in &mut snapshot.containers {
        if let Some((finished, started)) = times.get(&c.id) {
            c.finished_at = *finished;
            c.started_at = *started;
        }
    }

    let tagged: HashMap<String, Option<SystemTime>> = stream::iter(image_ids)
        .map(|id| async move {
            match docker.inspect_image(&id).await {
                Ok(i) => Ok(Some((
                    id,
                    i.metadata
                        .last_tag_time
                        .as_deref()
                        .and_then(parse_timestamp),
                ))),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await?;
    for image in &mut snapshot.images {
        if let Some(at) = tagged.get(&image.id) {
            image.last_tagged = *at;
        }
    }
    Ok(())
}

/// The container swab runs in, if it is one of this daemon's: read from this process's
/// mounts, host name and `/.dockerenv` (see `swab_plan::own`). No API call.
fn own_containers(snapshot: &Snapshot) -> Vec<String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let around = swab_plan::own::Surroundings {
        mountinfo: &mountinfo,
        hostname: &hostname,
        dockerenv: std::path::Path::new("/.dockerenv").exists(),
    };
    let own = swab_plan::own::own_containers(&around, &snapshot.containers);
    if !own.is_empty() {
        tracing::debug!(containers = ?own, "swab runs in (one of) these containers: never stopped or recreated");
    }
    own
}

/// A listed container as the planner sees it (exit and start times come from inspects).
fn container_from_summary(c: &ContainerSummary) -> Container {
    Container {
        id: c.id.clone(),
        name: c.name().to_owned(),
        image_id: c.image_id.clone(),
        image: c.image.clone(),
        image_ref: ImageRef::parse(&c.image).ok(),
        state: c.state.clone(),
        created: from_unix(c.created),
        finished_at: None,
        started_at: None,
        labels: c.labels.clone(),
        volumes: c
            .mounts
            .iter()
            .filter(|m| m.kind == "volume" && !m.name.is_empty())
            .map(|m| m.name.clone())
            .collect(),
        networks: c
            .network_settings
            .networks
            .values()
            .map(|n| n.network_id.clone())
            .filter(|id| !id.is_empty())
            .collect(),
        network_mode: c.host_config.network_mode.clone(),
    }
}

/// A listed image as the planner sees it (the last tag time comes from inspects).
fn image_from_summary(i: &ImageSummary) -> Image {
    let tags: Vec<&str> = i.tags().collect();
    let digests: Vec<&str> = i.digests().collect();
    let size = u64::try_from(i.size).unwrap_or(0);
    let shared = u64::try_from(i.shared_size).unwrap_or(0);
    Image {
        parent_id: Some(i.parent_id.clone()).filter(|p| !p.is_empty()),
        platform_digests: i
            .manifests
            .iter()
            .filter(|m| m.available && m.kind == "image" && m.id != i.id)
            .map(|m| m.id.clone())
            .collect(),
        created: from_unix(i.created),
        size,
        unique_size: size.saturating_sub(shared),
        labels: i.labels.clone(),
        ..Image::new(&i.id, &tags, &digests)
    }
}

/// Adds this node's Swarm role and, on the leader, its services to a snapshot taken
/// without rules (`swab updates`, `swab rollback`).
///
/// # Errors
///
/// When the daemon cannot be asked.
pub async fn add_services(docker: &Docker, snapshot: &mut Snapshot) -> swab_docker::Result<()> {
    gather_services(docker, snapshot, &mut GatherStats::default()).await
}

/// This node's place in a Swarm and, on the leader, the services. Outside a Swarm, or on a
/// node that is not the leader, there are no services to update here (the plan says why).
async fn gather_services(
    docker: &Docker,
    snapshot: &mut Snapshot,
    stats: &mut GatherStats,
) -> swab_docker::Result<()> {
    let info = docker.info().await?;
    stats.api_calls += 1;
    let swarm = &info.swarm;
    if swarm.local_node_state != "active" || !swarm.control_available {
        return Ok(());
    }
    snapshot.swarm.manager = true;
    let node = docker.inspect_node(&swarm.node_id).await?;
    stats.api_calls += 1;
    snapshot.swarm.leader = node["ManagerStatus"]["Leader"] == true;
    if !snapshot.swarm.leader {
        return Ok(());
    }
    let services = docker.list_services().await?;
    stats.api_calls += 1;
    snapshot.services = services.iter().map(service_from_json).collect();
    Ok(())
}

/// The plan's view of one service from `GET /services`.
pub(crate) fn service_from_json(raw: &serde_json::Value) -> crate::services::Service {
    let spec = &raw["Spec"];
    crate::services::Service {
        id: raw["ID"].as_str().unwrap_or_default().to_owned(),
        name: spec["Name"].as_str().unwrap_or_default().to_owned(),
        version: raw["Version"]["Index"].as_u64().unwrap_or_default(),
        image: spec["TaskTemplate"]["ContainerSpec"]["Image"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        labels: serde_json::from_value(spec["Labels"].clone()).unwrap_or_default(),
    }
}
