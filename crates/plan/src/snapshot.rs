//! What the planner knows about the host: plain data, no IO. The engine's `gather` fills
//! it; this module must never depend on the planner (the planner depends on it).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use swab_rules::{ContainerStatus, ImageRef};

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
    /// The containers swab itself may run in (see [`crate::own`]): never stopped,
    /// restarted or recreated by a run. Usually none or one.
    pub own_containers: Vec<String>,
    /// Swarm services, when a rule updates services and this node is the Swarm leader.
    pub services: Vec<crate::services::Service>,
    /// This node's place in a Swarm (all `false` outside one).
    pub swarm: crate::services::SwarmRole,
}

impl Snapshot {
    /// Whether `c` is the container swab runs in.
    pub fn is_own(&self, c: &Container) -> bool {
        self.own_containers.contains(&c.id)
    }

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
    /// Whether it is a Swarm task: its service decides what it runs and when it goes, so
    /// container rules never act on it.
    pub fn is_swarm_task(&self) -> bool {
        self.labels
            .contains_key(crate::services::TASK_SERVICE_LABEL)
    }

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

    /// A container `id` named `name`, created from `image` (its reference as written; see
    /// [`Container::set_image`]) whose ID is `image_id`; everything else empty. What test
    /// snapshots and benchmarks start from.
    pub fn new(id: &str, name: &str, image_id: &str, image: &str) -> Container {
        let mut c = Container {
            id: id.to_owned(),
            name: name.to_owned(),
            image_id: image_id.to_owned(),
            ..Container::default()
        };
        c.set_image(image);
        c
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

    /// An image `id` with `tags` and `digests`, and the [`Image::refs`] they make (every one
    /// that parses), so the three never disagree; everything else empty. The snapshot's
    /// images are made this way, and so are test snapshots'.
    pub fn new<T: AsRef<str>, D: AsRef<str>>(id: &str, tags: &[T], digests: &[D]) -> Image {
        let tags: Vec<String> = tags.iter().map(|t| t.as_ref().to_owned()).collect();
        let digests: Vec<String> = digests.iter().map(|d| d.as_ref().to_owned()).collect();
        let refs = tags
            .iter()
            .chain(&digests)
            .filter_map(|r| ImageRef::parse(r).ok())
            .collect();
        Image {
            id: id.to_owned(),
            tags,
            digests,
            refs,
            ..Image::default()
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
