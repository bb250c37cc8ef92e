//! What the planner knows about the host, and how it is gathered with few API calls.
//!
//! The snapshot is plain data. [`gather`] fills it with one container list, one image list
//! (with digests), the volume and network lists only when a rule prunes those, `/system/df`
//! and the filesystem figures only when a rule has a disk-pressure trigger, and inspects only
//! for *candidates*: exited containers a rule would remove if they were old enough (their exit
//! time is not in the list), and images a rule would remove if unused long enough (their last
//! tag time is not in the list). Never one inspect per object on the host.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use futures_util::{StreamExt, TryStreamExt, stream};
use swab_docker::models::{ContainerSummary, ImageSummary, from_unix, parse_timestamp};
use swab_docker::{Docker, Filters, ListContainersOptions, ListImagesOptions};
use swab_rules::{Action, ContainerStatus, ImageRef, Protect, Rule, Trigger};

/// Everything the planner needs about one host at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Containers, all states.
    pub containers: Vec<Container>,
    /// Top-level images.
    pub images: Vec<Image>,
    /// Volumes, when a rule prunes volumes.
    pub volumes: Option<Vec<Volume>>,
    /// Networks, when a rule prunes networks.
    pub networks: Option<Vec<Network>>,
    /// Disk figures, when a rule has a trigger.
    pub disk: Option<Disk>,
    /// `(image, parent)` links of intermediate images the top-level list hides (untagged
    /// layers of classic builds). They are never candidates, but they connect a base image
    /// to the images and containers built on it.
    pub hidden_parents: Vec<(String, String)>,
}

impl Snapshot {
    /// Every known `(image, parent)` link: listed images and hidden intermediates.
    pub fn parent_links(&self) -> impl Iterator<Item = (&str, &str)> {
        self.images
            .iter()
            .filter_map(|i| i.parent_id.as_deref().map(|p| (i.id.as_str(), p)))
            .chain(
                self.hidden_parents
                    .iter()
                    .map(|(i, p)| (i.as_str(), p.as_str())),
            )
    }
}

/// A container as the planner sees it.
#[derive(Debug, Clone, Default)]
pub struct Container {
    /// Full ID.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// ID of its image.
    pub image_id: String,
    /// The image as the user named it when creating the container.
    pub image: String,
    /// [`Container::image`] parsed and normalized, when it is a reference (not an ID).
    pub image_ref: Option<ImageRef>,
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited`, `dead`.
    pub state: String,
    /// Creation time.
    pub created: Option<SystemTime>,
    /// Last exit; only known for inspected containers.
    pub finished_at: Option<SystemTime>,
    /// Last start; only known for inspected containers.
    pub started_at: Option<SystemTime>,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// Names of the volumes it mounts.
    pub volumes: Vec<String>,
    /// IDs of the networks it is attached to.
    pub networks: Vec<String>,
    /// `HostConfig.NetworkMode`: `container:<id>` for a container sharing another's network
    /// stack, which must be recreated when that one is.
    pub network_mode: String,
}

impl Container {
    /// Sets the image reference the container was created with, parsed.
    pub fn set_image(&mut self, reference: &str) {
        reference.clone_into(&mut self.image);
        self.image_ref = ImageRef::parse(reference).ok();
    }

    /// The pruneable status, `None` for running, paused, restarting and removing containers.
    pub fn status(&self) -> Option<ContainerStatus> {
        ContainerStatus::parse(&self.state)
    }

    /// Whether the container is running (or paused or restarting): its image is in use *now*.
    pub fn is_active(&self) -> bool {
        matches!(self.state.as_str(), "running" | "paused" | "restarting")
    }

    fn from_summary(c: &ContainerSummary) -> Container {
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
}

/// An image as the planner sees it.
#[derive(Debug, Clone, Default)]
pub struct Image {
    /// `sha256:...`.
    pub id: String,
    /// Parent image ID (locally built images), if any.
    pub parent_id: Option<String>,
    /// Tags as the daemon reports them (`nginx:1.25`).
    pub tags: Vec<String>,
    /// Digests (`repo@sha256:...`).
    pub digests: Vec<String>,
    /// For a multi-platform image on the containerd store (its ID is the index digest): the
    /// digests of the platform manifests present locally. A registry index whose entry for
    /// this platform is one of these is not an update, even when the index digest changed.
    pub platform_digests: Vec<String>,
    /// Tags and digest references, normalized, for pattern matching.
    pub refs: Vec<ImageRef>,
    /// Build time.
    pub created: Option<SystemTime>,
    /// When a tag was last added locally (pull or tag); only known for inspected images.
    pub last_tagged: Option<SystemTime>,
    /// Size including shared layers.
    pub size: u64,
    /// Bytes removing it would free: its size minus layers shared with other images. The
    /// image list does not report sharing, so this is the full size unless a rule with a
    /// `target` made the snapshot read `/system/df`, which does.
    pub unique_size: u64,
    /// Labels.
    pub labels: HashMap<String, String>,
}

impl Image {
    /// Dangling: no tags.
    pub fn is_dangling(&self) -> bool {
        self.tags.is_empty()
    }

    /// A display name: the first tag, else the first digest, else the short ID.
    pub fn display_name(&self) -> String {
        self.tags
            .first()
            .or(self.digests.first())
            .cloned()
            .unwrap_or_else(|| short_id(&self.id).to_owned())
    }

    fn from_summary(i: &ImageSummary) -> Image {
        let tags: Vec<String> = i.tags().map(str::to_owned).collect();
        let digests: Vec<String> = i.digests().map(str::to_owned).collect();
        let refs = tags
            .iter()
            .chain(&digests)
            .filter_map(|r| ImageRef::parse(r).ok())
            .collect();
        let size = u64::try_from(i.size).unwrap_or(0);
        let shared = u64::try_from(i.shared_size).unwrap_or(0);
        Image {
            id: i.id.clone(),
            parent_id: Some(i.parent_id.clone()).filter(|p| !p.is_empty()),
            tags,
            digests,
            platform_digests: i
                .manifests
                .iter()
                .filter(|m| m.available && m.kind == "image" && m.id != i.id)
                .map(|m| m.id.clone())
                .collect(),
            refs,
            created: from_unix(i.created),
            last_tagged: None,
            size,
            unique_size: size.saturating_sub(shared),
            labels: i.labels.clone(),
        }
    }
}

/// A volume.
#[derive(Debug, Clone, Default)]
pub struct Volume {
    /// Name.
    pub name: String,
    /// Creation time.
    pub created: Option<SystemTime>,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// Anonymous: created for a `VOLUME` or `-v /path` without a name (64 hex characters, or
    /// the `com.docker.volume.anonymous` label of Docker 23+).
    pub anonymous: bool,
}

/// A network.
#[derive(Debug, Clone, Default)]
pub struct Network {
    /// ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Creation time.
    pub created: Option<SystemTime>,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// `local` for networks swab may prune; swarm-scoped networks are left alone.
    pub scope: String,
}

/// Disk figures for triggers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Disk {
    /// Total size of images (`/system/df`).
    pub images_size: u64,
    /// The filesystem holding Docker's root dir, when the daemon is local.
    pub filesystem: Option<Filesystem>,
}

/// Size and use of a filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filesystem {
    /// Bytes in all.
    pub total: u64,
    /// Bytes used.
    pub used: u64,
}

/// The first 12 hex digits of an ID, as `docker` prints it.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// Anonymous volume names are 64 hex characters.
pub fn is_anonymous_volume_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

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
        containers: containers.iter().map(Container::from_summary).collect(),
        images: images.iter().map(Image::from_summary).collect(),
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

/// The IDs of images some container references, and of their ancestors (a parent image is
/// needed by its children's containers too). Containers whose IDs are in `ignoring` (removed
/// earlier in the same plan) do not count.
pub fn images_in_use<'a, S: std::hash::BuildHasher>(
    snapshot: &'a Snapshot,
    ignoring: &HashSet<&str, S>,
) -> rustc_hash::FxHashSet<&'a str> {
    let parents: rustc_hash::FxHashMap<&str, &str> = snapshot.parent_links().collect();
    let mut used = rustc_hash::FxHashSet::default();
    for c in &snapshot.containers {
        if ignoring.contains(c.id.as_str()) {
            continue;
        }
        let mut id = c.image_id.as_str();
        while used.insert(id) {
            match parents.get(id) {
                Some(parent) => id = parent,
                None => break,
            }
        }
    }
    used
}

/// Saturating `now - then`; zero when `then` is in the future or unknown.
pub fn age(now: SystemTime, then: Option<SystemTime>) -> Duration {
    then.and_then(|t| now.duration_since(t).ok())
        .unwrap_or_default()
}
