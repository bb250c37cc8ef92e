//! Typed views of the daemon's JSON, holding only what swab uses.
//!
//! Every struct ignores unknown fields and defaults missing ones, and every collection
//! accepts `null` (the daemon sends `"Labels": null` for an empty map), so a newer or older
//! daemon never makes decoding fail. Where swab must hand a structure back to the daemon
//! unchanged — a container's `HostConfig` when it is recreated — the raw JSON is kept as a
//! [`serde_json::Value`] instead of a lossy typed copy.

use std::collections::HashMap;
use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize};

/// Deserializes `null` as the type's default.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Parses the daemon's RFC 3339 timestamps (nanosecond precision). The zero time
/// `0001-01-01T00:00:00Z`, which the daemon uses for "never", and anything before 1970 yield
/// `None`.
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    if text.is_empty() || text.starts_with("0001-") {
        return None;
    }
    // humantime's weak parser takes any `+HH:MM` after a fraction for `+00:00` and ignores
    // it, so a numeric offset never reaches it.
    if offset_sign(text).is_some() {
        return parse_offset_timestamp(text);
    }
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .ok()
        .or_else(|| humantime::parse_rfc3339(text).ok())
}

/// Where a numeric offset starts: a `+`, or a `-` past the date's own.
fn offset_sign(text: &str) -> Option<usize> {
    text.rfind('+')
        .or_else(|| text.rfind('-').filter(|&i| i > 10))
}

/// Timestamps with a numeric offset (`2024-01-02T03:04:05.1+01:00`), which humantime does
/// not accept: shift to UTC by hand. Offsets beyond a day are not offsets (and their
/// arithmetic would overflow): `None`.
fn parse_offset_timestamp(text: &str) -> Option<SystemTime> {
    let i = offset_sign(text)?;
    let (base, sign, offset) = (&text[..i], &text[i..=i], &text[i + 1..]);
    let (h, m) = offset.split_once(':')?;
    let (h, m) = (h.parse::<u64>().ok()?, m.parse::<u64>().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    let t = humantime::parse_rfc3339_weak(base).ok()?;
    let shift = std::time::Duration::from_secs(h * 3600 + m * 60);
    if sign == "+" {
        t.checked_sub(shift)
    } else {
        t.checked_add(shift)
    }
}

/// Unix seconds as a `SystemTime`; non-positive values are "unknown".
pub fn from_unix(secs: i64) -> Option<SystemTime> {
    u64::try_from(secs)
        .ok()
        .filter(|&s| s > 0)
        .map(|s| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s))
}

/// `GET /_ping`: the daemon is there and tells its API version in a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// The `Api-Version` header, if present.
    pub api_version: Option<String>,
    /// The `OSType` header.
    pub os_type: Option<String>,
}

/// `GET /version`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Version {
    /// Engine version, e.g. `20.10.24`.
    pub version: String,
    /// Highest API version the daemon speaks.
    pub api_version: String,
    /// Lowest API version the daemon accepts.
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    /// `linux`, `windows`.
    pub os: String,
    /// `amd64`, `arm64`.
    pub arch: String,
    /// Kernel version.
    pub kernel_version: String,
}

/// `GET /info`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Info {
    /// The daemon's own ID: a UUID (an older `XXXX:XXXX:...` key on engines before 23),
    /// stable across restarts; what swab keys a host's state by.
    #[serde(rename = "ID")]
    pub id: String,
    /// Daemon host name.
    pub name: String,
    /// The daemon's clock now (RFC 3339 with nanoseconds): leases on the daemon are timed by
    /// it, not by the clocks of the swab processes that share the daemon.
    pub system_time: String,
    /// Engine version.
    pub server_version: String,
    /// All containers.
    pub containers: u64,
    /// Running containers.
    pub containers_running: u64,
    /// Paused containers.
    pub containers_paused: u64,
    /// Stopped containers.
    pub containers_stopped: u64,
    /// Images (top-level).
    pub images: u64,
    /// Storage driver, e.g. `overlay2` (classic store) or `overlayfs` (a containerd snapshotter).
    pub driver: String,
    /// The driver's `[label, value]` pairs, as `docker info` prints them; with the containerd
    /// image store they include `["driver-type", "io.containerd.snapshotter.v1"]`.
    #[serde(deserialize_with = "null_default")]
    pub driver_status: Vec<Vec<String>>,
    /// The daemon's data root, e.g. `/var/lib/docker`.
    pub docker_root_dir: String,
    /// Human OS name.
    pub operating_system: String,
    /// `linux` or `windows`.
    #[serde(rename = "OSType")]
    pub os_type: String,
    /// `x86_64`, `aarch64`.
    pub architecture: String,
    /// Kernel version.
    pub kernel_version: String,
    /// CPUs.
    #[serde(rename = "NCPU")]
    pub ncpu: u64,
    /// Memory in bytes.
    pub mem_total: u64,
    /// The node's Swarm membership.
    pub swarm: SwarmInfo,
}

/// `Info.Swarm`: whether the daemon is in a Swarm, and as what.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SwarmInfo {
    /// This node's ID in the Swarm; empty outside one.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// `inactive`, `pending`, `active`, `error`, `locked`.
    pub local_node_state: String,
    /// Whether this node is a manager (can answer the service API).
    pub control_available: bool,
}

/// Where the daemon keeps images. The API has no field for it; the storage driver's status says
/// `driver-type: io.containerd.snapshotter.v1` for the containerd store, which is also how the
/// docker CLI's `docker info` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageStore {
    /// The graph-driver store (overlay2, ...): image IDs are config digests, `RepoDigests`
    /// are only recorded by a pull or push.
    Classic,
    /// containerd's content store (the default of fresh Docker 29 installs): image IDs are
    /// manifest or index digests, images can be multi-platform, and `RepoDigests` are derived
    /// from the image's names, registry or not.
    Containerd,
}

impl Info {
    /// Which image store the daemon uses (see [`ImageStore`]).
    pub fn image_store(&self) -> ImageStore {
        let containerd = self.driver_status.iter().any(|pair| {
            pair.first().is_some_and(|k| k == "driver-type")
                && pair
                    .get(1)
                    .is_some_and(|v| v.starts_with("io.containerd.snapshotter"))
        });
        if containerd {
            ImageStore::Containerd
        } else {
            ImageStore::Classic
        }
    }
}

/// One entry of `GET /containers/json`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerSummary {
    /// Full container ID.
    pub id: String,
    /// Names, each with a leading `/`.
    #[serde(deserialize_with = "null_default")]
    pub names: Vec<String>,
    /// The image as the user named it (or an ID).
    pub image: String,
    /// The image ID.
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// The command line.
    pub command: String,
    /// Creation time, unix seconds.
    pub created: i64,
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited`, `dead`.
    pub state: String,
    /// Human status, e.g. `Exited (0) 3 hours ago`.
    pub status: String,
    /// Labels.
    #[serde(deserialize_with = "null_default")]
    pub labels: HashMap<String, String>,
    /// Size of the writable layer, when requested with `size=true`.
    pub size_rw: Option<i64>,
    /// Mounts.
    #[serde(deserialize_with = "null_default")]
    pub mounts: Vec<MountPoint>,
    /// Network attachments by network name.
    pub network_settings: NetworkSettings,
    /// The part of the host config the list reports.
    pub host_config: SummaryHostConfig,
}

/// `HostConfig` as reported by the container list.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SummaryHostConfig {
    /// `default`, `bridge`, `host`, `none`, `container:<id>` or a network name.
    pub network_mode: String,
}

impl ContainerSummary {
    /// The primary name without the leading `/`.
    pub fn name(&self) -> &str {
        self.names
            .first()
            .map_or("", |n| n.strip_prefix('/').unwrap_or(n))
    }
}

/// A mount of a container (`Mounts` in list and inspect).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct MountPoint {
    /// `bind`, `volume`, `tmpfs`, `npipe`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Volume name, for volume mounts.
    pub name: String,
    /// Source path on the host.
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// Volume driver.
    pub driver: String,
    /// Whether the mount is writable.
    #[serde(rename = "RW")]
    pub rw: bool,
}

/// `GET /containers/{id}/json`. `Config`, `HostConfig` and `NetworkSettings` are typed where
/// swab reads them and also kept raw, so a container can be recreated without losing any
/// setting this client does not model.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerInspect {
    /// Full ID.
    pub id: String,
    /// Name with a leading `/`.
    pub name: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Image ID.
    pub image: String,
    /// Runtime state.
    pub state: ContainerState,
    /// Container configuration.
    pub config: ContainerConfig,
    /// Host configuration, raw.
    pub host_config: serde_json::Value,
    /// Network attachments.
    pub network_settings: NetworkSettings,
    /// Mounts.
    #[serde(deserialize_with = "null_default")]
    pub mounts: Vec<MountPoint>,
    /// How often the daemon restarted it under its restart policy.
    pub restart_count: i64,
}

impl ContainerInspect {
    /// The name without the leading `/`.
    pub fn name(&self) -> &str {
        self.name.strip_prefix('/').unwrap_or(&self.name)
    }
}

/// `State` of an inspected container.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerState {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited`, `dead`.
    pub status: String,
    /// Running (also true while paused).
    pub running: bool,
    /// Paused.
    pub paused: bool,
    /// Restarting under its restart policy.
    pub restarting: bool,
    /// Killed by the OOM killer.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Dead.
    pub dead: bool,
    /// Exit code of the last run.
    pub exit_code: i64,
    /// Error of the last start attempt.
    pub error: String,
    /// Last start, RFC 3339 (zero time if never).
    pub started_at: String,
    /// Last exit, RFC 3339 (zero time if never).
    pub finished_at: String,
    /// Health, for containers with a healthcheck.
    pub health: Option<Health>,
}

impl ContainerState {
    /// When the container last exited; `None` if it never has.
    pub fn finished_at(&self) -> Option<SystemTime> {
        parse_timestamp(&self.finished_at)
    }

    /// When it was last started; `None` if never.
    pub fn started_at(&self) -> Option<SystemTime> {
        parse_timestamp(&self.started_at)
    }
}

/// Healthcheck state.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy`, `unhealthy`, `none`.
    pub status: String,
    /// Consecutive failures.
    pub failing_streak: i64,
    /// The last few probes, oldest first.
    #[serde(deserialize_with = "null_default")]
    pub log: Vec<HealthcheckResult>,
}

/// One healthcheck probe.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HealthcheckResult {
    /// The probe's exit code: 0 healthy, 1 unhealthy.
    pub exit_code: i64,
    /// What the probe printed (truncated by the daemon).
    pub output: String,
}

/// `Config` of a container (also the body of a create request, together with `HostConfig`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// Image reference.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// Command.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cmd: Vec<String>,
    /// Entrypoint.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub entrypoint: Vec<String>,
    /// Environment, `KEY=value`.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<String>,
    /// Labels.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "HashMap::is_empty"
    )]
    pub labels: HashMap<String, String>,
    /// User.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Working directory.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// Stop signal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Stop timeout, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    /// Every field this struct does not model, kept verbatim.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// `NetworkSettings` of an inspected container.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworkSettings {
    /// Attached networks by name.
    #[serde(deserialize_with = "null_default")]
    pub networks: HashMap<String, EndpointSettings>,
}

/// One network attachment.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, rename_all = "PascalCase")]
pub struct EndpointSettings {
    /// DNS aliases.
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aliases: Vec<String>,
    /// Network ID.
    #[serde(rename = "NetworkID", skip_serializing_if = "String::is_empty")]
    pub network_id: String,
    /// Assigned IPv4 address.
    #[serde(rename = "IPAddress", skip_serializing_if = "String::is_empty")]
    pub ip_address: String,
    /// MAC address.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    /// Every field this struct does not model (IPAMConfig, Links, DriverOpts...), verbatim.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// `POST /containers/create` answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreatedContainer {
    /// The new container's ID.
    pub id: String,
    /// Warnings from the daemon.
    #[serde(deserialize_with = "null_default")]
    pub warnings: Vec<String>,
}

/// `POST /containers/{id}/wait` answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct WaitResponse {
    /// Exit code.
    pub status_code: i64,
    /// Error waiting, if any.
    pub error: Option<WaitError>,
}

/// Error inside a wait answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct WaitError {
    /// Message.
    pub message: String,
}

/// One entry of `GET /images/json`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImageSummary {
    /// Image ID, `sha256:...`.
    pub id: String,
    /// Parent ID (locally built images only); empty otherwise.
    pub parent_id: String,
    /// Tags. Old daemons report `<none>:<none>` for untagged images.
    #[serde(deserialize_with = "null_default")]
    pub repo_tags: Vec<String>,
    /// `repo@sha256:...` digests.
    #[serde(deserialize_with = "null_default")]
    pub repo_digests: Vec<String>,
    /// Creation time, unix seconds.
    pub created: i64,
    /// Size in bytes (including shared layers).
    pub size: i64,
    /// Bytes shared with other images; -1 when not computed.
    pub shared_size: i64,
    /// Labels.
    #[serde(deserialize_with = "null_default")]
    pub labels: HashMap<String, String>,
    /// Number of containers using it; -1 when not computed (the classic store computes it
    /// only for `/system/df`; the containerd store always does).
    pub containers: i64,
    /// The image's manifests (API 1.47+, when asked for; containerd image store only): for a
    /// multi-platform image, one per platform entry of its index, with what is present.
    #[serde(deserialize_with = "null_default")]
    pub manifests: Vec<ImageManifestSummary>,
}

/// One entry of an image's `Manifests` (`ImageManifestSummary` in the API spec).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImageManifestSummary {
    /// The manifest's digest, `sha256:...`.
    #[serde(rename = "ID")]
    pub id: String,
    /// Whether its content is present locally (a pull fetches only the host's platform).
    pub available: bool,
    /// `image`, `attestation` or `unknown`.
    pub kind: String,
}

impl ImageSummary {
    /// Tags without the `<none>:<none>` placeholder of older daemons.
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.repo_tags
            .iter()
            .map(String::as_str)
            .filter(|t| *t != "<none>:<none>")
    }

    /// Digests without the `<none>@<none>` placeholder.
    pub fn digests(&self) -> impl Iterator<Item = &str> {
        self.repo_digests
            .iter()
            .map(String::as_str)
            .filter(|d| *d != "<none>@<none>")
    }
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImageInspect {
    /// Image ID.
    pub id: String,
    /// Tags.
    #[serde(deserialize_with = "null_default")]
    pub repo_tags: Vec<String>,
    /// Digests.
    #[serde(deserialize_with = "null_default")]
    pub repo_digests: Vec<String>,
    /// Parent ID.
    pub parent: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Image configuration: defaults for containers created from it.
    pub config: ContainerConfig,
    /// CPU architecture.
    pub architecture: String,
    /// Architecture variant (`v8`).
    pub variant: Option<String>,
    /// OS.
    pub os: String,
    /// Size in bytes.
    pub size: i64,
    /// Local metadata.
    pub metadata: ImageMetadata,
}

/// `Metadata` of an inspected image.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImageMetadata {
    /// When a tag was last added locally (pull or tag), RFC 3339.
    pub last_tag_time: Option<String>,
}

/// One entry of a `DELETE /images/{name}` answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImageDeleteItem {
    /// A reference that was untagged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untagged: Option<String>,
    /// An image ID (or layer) that was deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

/// One line of pull progress from `POST /images/create`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PullProgress {
    /// `Pulling fs layer`, `Downloading`, `Digest: sha256:...`, `Status: Downloaded newer image ...`.
    pub status: Option<String>,
    /// Layer ID the line is about.
    pub id: Option<String>,
    /// Progress bar text.
    pub progress: Option<String>,
    /// Bytes done and total.
    pub progress_detail: Option<ProgressDetail>,
    /// Set on failure; turned into an error by the client.
    pub error: Option<String>,
    /// Structured error.
    pub error_detail: Option<ErrorDetail>,
}

impl PullProgress {
    /// The failure the daemon reported in this line, if any (inside a 200 answer).
    pub fn failure(&self) -> Option<String> {
        self.error
            .clone()
            .or_else(|| self.error_detail.as_ref().and_then(|d| d.message.clone()))
    }
}

/// Bytes of a layer transfer.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ProgressDetail {
    /// Done.
    pub current: Option<u64>,
    /// Total.
    pub total: Option<u64>,
}

/// Structured stream error.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ErrorDetail {
    /// Code, if any.
    pub code: Option<i64>,
    /// Message.
    pub message: Option<String>,
}

/// `GET /distribution/{name}/json`: what the registry says a reference points to.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DistributionInspect {
    /// The manifest or index descriptor.
    pub descriptor: Descriptor,
    /// Platforms available (for an index).
    #[serde(deserialize_with = "null_default")]
    pub platforms: Vec<Platform>,
}

/// An OCI descriptor.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type.
    pub media_type: String,
    /// `sha256:...`.
    pub digest: String,
    /// Size in bytes.
    pub size: i64,
}

/// An OCI platform.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct Platform {
    /// CPU architecture.
    pub architecture: String,
    /// OS.
    pub os: String,
    /// Variant.
    pub variant: Option<String>,
}

/// One entry of `GET /networks`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Network {
    /// Name.
    pub name: String,
    /// ID.
    pub id: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// `local`, `swarm`, `global`.
    pub scope: String,
    /// Driver.
    pub driver: String,
    /// Internal network.
    pub internal: bool,
    /// Labels.
    #[serde(deserialize_with = "null_default")]
    pub labels: HashMap<String, String>,
    /// Attached containers by ID (inspect only; the list leaves it empty).
    #[serde(deserialize_with = "null_default")]
    pub containers: HashMap<String, NetworkContainer>,
}

/// A container attached to a network.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworkContainer {
    /// Container name.
    pub name: String,
    /// IPv4 address with prefix.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
}

/// `POST /networks/create` answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreatedNetwork {
    /// Network ID.
    pub id: String,
}

/// A volume.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Volume {
    /// Name (a 64-hex name for anonymous volumes).
    pub name: String,
    /// Driver.
    pub driver: String,
    /// Host path.
    pub mountpoint: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Labels. Anonymous volumes carry `com.docker.volume.anonymous` from Docker 23 on.
    #[serde(deserialize_with = "null_default")]
    pub labels: HashMap<String, String>,
    /// Usage, from `/system/df`.
    pub usage_data: Option<VolumeUsage>,
}

/// Volume usage.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeUsage {
    /// Bytes; -1 when not computed.
    pub size: i64,
    /// Containers referencing it; -1 when not computed.
    pub ref_count: i64,
}

/// `GET /volumes`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeList {
    /// Volumes.
    #[serde(deserialize_with = "null_default")]
    pub volumes: Vec<Volume>,
    /// Warnings.
    #[serde(deserialize_with = "null_default")]
    pub warnings: Vec<String>,
}

/// A build cache record from `/system/df`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct BuildCacheRecord {
    /// ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Bytes.
    pub size: i64,
    /// In use by a running build.
    pub in_use: bool,
    /// Shared with other records.
    pub shared: bool,
    /// Last use, RFC 3339.
    pub last_used_at: Option<String>,
}

/// `GET /system/df`, normalised across API versions: per-type totals are always filled in,
/// computed from the item lists on daemons older than API 1.52.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DiskUsage {
    /// Images.
    pub images: UsageTotals,
    /// Containers.
    pub containers: UsageTotals,
    /// Volumes.
    pub volumes: UsageTotals,
    /// Build cache.
    pub build_cache: UsageTotals,
    /// Image items (old daemons, or `verbose`).
    pub image_items: Vec<ImageSummary>,
    /// Container items, with `SizeRw`.
    pub container_items: Vec<ContainerSummary>,
    /// Volume items, with usage data.
    pub volume_items: Vec<Volume>,
    /// Build cache items.
    pub build_cache_items: Vec<BuildCacheRecord>,
}

/// Totals for one object type.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, rename_all = "PascalCase")]
pub struct UsageTotals {
    /// Objects in use.
    pub active_count: i64,
    /// All objects.
    pub total_count: i64,
    /// Bytes that pruning unused objects would free.
    pub reclaimable: i64,
    /// Bytes used.
    pub total_size: i64,
}

/// The raw `/system/df` answer, old and new shapes together.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct RawDiskUsage {
    pub layers_size: i64,
    #[serde(deserialize_with = "null_default")]
    pub images: Vec<ImageSummary>,
    #[serde(deserialize_with = "null_default")]
    pub containers: Vec<ContainerSummary>,
    #[serde(deserialize_with = "null_default")]
    pub volumes: Vec<Volume>,
    #[serde(deserialize_with = "null_default")]
    pub build_cache: Vec<BuildCacheRecord>,
    #[serde(alias = "ImagesUsage")]
    pub image_usage: Option<RawUsage<ImageSummary>>,
    #[serde(alias = "ContainersUsage")]
    pub container_usage: Option<RawUsage<ContainerSummary>>,
    #[serde(alias = "VolumesUsage")]
    pub volume_usage: Option<RawUsage<Volume>>,
    pub build_cache_usage: Option<RawUsage<BuildCacheRecord>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(
    default,
    rename_all = "PascalCase",
    bound(deserialize = "T: Deserialize<'de> + Default")
)]
pub(crate) struct RawUsage<T> {
    #[serde(flatten)]
    pub totals: UsageTotals,
    #[serde(deserialize_with = "null_default")]
    pub items: Vec<T>,
}

impl RawDiskUsage {
    /// Normalises either shape. For the old shape, totals follow the docker CLI's
    /// definitions of "active" and "reclaimable".
    pub(crate) fn normalise(self) -> DiskUsage {
        let mut out = DiskUsage::default();
        match self.image_usage {
            Some(u) => {
                out.images = u.totals;
                out.image_items = u.items;
            }
            None => {
                let active: Vec<&ImageSummary> =
                    self.images.iter().filter(|i| i.containers > 0).collect();
                out.images = UsageTotals {
                    active_count: len_i64(active.len()),
                    total_count: len_i64(self.images.len()),
                    total_size: self.layers_size,
                    reclaimable: self.layers_size.saturating_sub(saturating_sum(
                        active
                            .iter()
                            .map(|i| i.size.saturating_sub(i.shared_size.max(0))),
                    )),
                };
                out.image_items = self.images;
            }
        }
        match self.container_usage {
            Some(u) => {
                out.containers = u.totals;
                out.container_items = u.items;
            }
            None => {
                let size = |c: &ContainerSummary| c.size_rw.unwrap_or(0).max(0);
                let running = |c: &&ContainerSummary| c.state == "running";
                out.containers = UsageTotals {
                    active_count: len_i64(self.containers.iter().filter(running).count()),
                    total_count: len_i64(self.containers.len()),
                    total_size: saturating_sum(self.containers.iter().map(size)),
                    reclaimable: saturating_sum(
                        self.containers.iter().filter(|c| !running(c)).map(size),
                    ),
                };
                out.container_items = self.containers;
            }
        }
        match self.volume_usage {
            Some(u) => {
                out.volumes = u.totals;
                out.volume_items = u.items;
            }
            None => {
                let usage = |v: &Volume| v.usage_data.unwrap_or_default();
                out.volumes = UsageTotals {
                    active_count: len_i64(
                        self.volumes
                            .iter()
                            .filter(|v| usage(v).ref_count > 0)
                            .count(),
                    ),
                    total_count: len_i64(self.volumes.len()),
                    total_size: saturating_sum(self.volumes.iter().map(|v| usage(v).size.max(0))),
                    reclaimable: saturating_sum(
                        self.volumes
                            .iter()
                            .filter(|v| usage(v).ref_count == 0)
                            .map(|v| usage(v).size.max(0)),
                    ),
                };
                out.volume_items = self.volumes;
            }
        }
        match self.build_cache_usage {
            Some(u) => {
                out.build_cache = u.totals;
                out.build_cache_items = u.items;
            }
            None => {
                out.build_cache = UsageTotals {
                    active_count: len_i64(self.build_cache.iter().filter(|b| b.in_use).count()),
                    total_count: len_i64(self.build_cache.len()),
                    total_size: saturating_sum(self.build_cache.iter().map(|b| b.size)),
                    reclaimable: saturating_sum(
                        self.build_cache
                            .iter()
                            .filter(|b| !b.in_use && !b.shared)
                            .map(|b| b.size),
                    ),
                };
                out.build_cache_items = self.build_cache;
            }
        }
        out
    }
}

/// Sums sizes the daemon reported. A broken daemon or proxy can send any `i64`; the total
/// stops at the bounds instead of overflowing (a panic in debug builds, a wrapped, absurd
/// total in release builds).
fn saturating_sum(sizes: impl Iterator<Item = i64>) -> i64 {
    sizes.fold(0, i64::saturating_add)
}

fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One event from `GET /events`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Event {
    /// `container`, `image`, `volume`, `network`, `daemon`, ...
    #[serde(rename = "Type")]
    pub kind: String,
    /// `create`, `start`, `die`, `destroy`, `pull`, `tag`, `untag`, `delete`, ...
    #[serde(rename = "Action")]
    pub action: String,
    /// The object.
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    /// `local` or `swarm`.
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

/// The object an event is about.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct EventActor {
    /// ID (for images: the reference or ID).
    #[serde(rename = "ID")]
    pub id: String,
    /// Attributes: `name`, `image`, labels...
    #[serde(rename = "Attributes", deserialize_with = "null_default")]
    pub attributes: HashMap<String, String>,
}

/// `POST /containers/prune` answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainersPruned {
    /// Removed container IDs.
    #[serde(deserialize_with = "null_default")]
    pub containers_deleted: Vec<String>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

/// `POST /images/prune` answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImagesPruned {
    /// What was untagged and deleted.
    #[serde(deserialize_with = "null_default")]
    pub images_deleted: Vec<ImageDeleteItem>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

/// `POST /volumes/prune` answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumesPruned {
    /// Removed volume names.
    #[serde(deserialize_with = "null_default")]
    pub volumes_deleted: Vec<String>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

/// `POST /networks/prune` answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworksPruned {
    /// Removed network names.
    #[serde(deserialize_with = "null_default")]
    pub networks_deleted: Vec<String>,
}

/// `POST /build/prune` answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct BuildCachePruned {
    /// Removed cache record IDs.
    #[serde(deserialize_with = "null_default")]
    pub caches_deleted: Vec<String>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let t = parse_timestamp("2026-11-22T11:16:30.416107434Z").unwrap();
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_795_346_190);
        assert_eq!(parse_timestamp("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp(""), None);
        let offset = parse_timestamp("2026-11-22T12:16:30+01:00").unwrap();
        assert_eq!(
            offset.duration_since(SystemTime::UNIX_EPOCH).unwrap(),
            Duration::from_secs(1_795_346_190)
        );
        assert_eq!(from_unix(0), None);
        assert_eq!(from_unix(-5), None);
    }

    /// Found by `fuzz::timestamps_never_panic` and `fuzz::timestamps_round_trip`: an
    /// offset of any size overflowed the shift (a panic in debug builds), and a `+` offset
    /// after a fraction was ignored (networks report their creation time that way).
    #[test]
    fn offsets_are_bounded_and_never_ignored() {
        assert_eq!(
            parse_timestamp("1969-00-00T00:00:00-0:200000000000000000"),
            None
        );
        assert_eq!(
            parse_timestamp("2026-11-22T11:16:30+9999999999999999:00"),
            None
        );
        assert_eq!(parse_timestamp("2026-11-22T11:16:30+24:00"), None);
        assert_eq!(
            parse_timestamp("1970-01-02T00:01:00.000000000+00:01"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400))
        );
        assert_eq!(
            parse_timestamp("2026-11-22T12:16:30.5+01:00"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_346_190_500))
        );
        assert_eq!(
            parse_timestamp("2026-11-22T10:46:30.5-00:30"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_346_190_500))
        );
    }

    #[test]
    fn image_store_from_driver_status() {
        // What `/info` says on each engine the tests run (Docker 28.5 and 20.10).
        let containerd: Info = serde_json::from_str(
            r#"{"Driver":"overlayfs","DriverStatus":[["driver-type","io.containerd.snapshotter.v1"]]}"#,
        )
        .unwrap();
        assert_eq!(containerd.image_store(), ImageStore::Containerd);
        let classic: Info = serde_json::from_str(
            r#"{"Driver":"overlay2","DriverStatus":[["Backing Filesystem","extfs"],["Supports d_type","true"]]}"#,
        )
        .unwrap();
        assert_eq!(classic.image_store(), ImageStore::Classic);
        let null: Info = serde_json::from_str(r#"{"Driver":"vfs","DriverStatus":null}"#).unwrap();
        assert_eq!(null.image_store(), ImageStore::Classic);
    }

    #[test]
    fn nulls_and_unknown_fields_are_tolerated() {
        let c: ContainerSummary = serde_json::from_str(
            r#"{"Id":"abc","Names":null,"Labels":null,"Mounts":null,"NewField":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(c.id, "abc");
        assert!(c.names.is_empty() && c.labels.is_empty());
        assert_eq!(c.name(), "");
        let i: ImageSummary = serde_json::from_str(
            r#"{"Id":"sha256:1","RepoTags":["<none>:<none>"],"RepoDigests":null}"#,
        )
        .unwrap();
        assert_eq!(i.tags().count(), 0);
    }

    #[test]
    fn container_config_keeps_unmodelled_fields() {
        let json = r#"{"Image":"x","Cmd":null,"Healthcheck":{"Test":["CMD","true"]},"Tty":true}"#;
        let c: ContainerConfig = serde_json::from_str(json).unwrap();
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["Healthcheck"]["Test"][1], "true");
        assert_eq!(back["Tty"], true);
        assert!(back.get("Cmd").is_none());
    }

    /// Found by `fuzz::models_from_near_valid_answers_never_panic`: without serde_json's
    /// `float_roundtrip`, a float in an unmodelled field came back one unit in the last place
    /// off, so a recreated container would not get exactly the settings it had.
    #[test]
    fn unmodelled_floats_are_sent_back_exactly() {
        let json = r#"{"Image":"x","Links":[6.5927982563011475e+84]}"#;
        let c: ContainerConfig = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), json);
    }

    #[test]
    fn disk_usage_old_shape_computes_totals() {
        let raw: RawDiskUsage = serde_json::from_str(
            r#"{"LayersSize":300,
                "Images":[{"Id":"a","Size":100,"SharedSize":0,"Containers":1},
                          {"Id":"b","Size":200,"SharedSize":0,"Containers":0}],
                "Containers":[{"Id":"c1","State":"running","SizeRw":5},
                              {"Id":"c2","State":"exited","SizeRw":7}],
                "Volumes":[{"Name":"v","UsageData":{"Size":9,"RefCount":0}}],
                "BuildCache":null}"#,
        )
        .unwrap();
        let df = raw.normalise();
        assert_eq!(
            df.images,
            UsageTotals {
                active_count: 1,
                total_count: 2,
                reclaimable: 200,
                total_size: 300
            }
        );
        assert_eq!(df.containers.reclaimable, 7);
        assert_eq!(df.containers.active_count, 1);
        assert_eq!(df.volumes.reclaimable, 9);
        assert_eq!(df.build_cache.total_count, 0);
    }

    /// Found by `fuzz::disk_usage_totals_never_panic`: extreme sizes overflowed the totals
    /// computed for old daemons.
    #[test]
    fn disk_usage_totals_saturate() {
        let raw: RawDiskUsage = serde_json::from_str(
            r#"{"LayersSize":0,
                "Images":[{"Id":"a","Size":-9223372036854775808,"SharedSize":0,"Containers":1}],
                "Containers":[{"State":"exited","SizeRw":9223372036854775807},
                              {"State":"exited","SizeRw":1}],
                "Volumes":[{"UsageData":{"Size":9223372036854775807,"RefCount":0}},
                           {"UsageData":{"Size":9223372036854775807,"RefCount":0}}],
                "BuildCache":[{"Size":-9223372036854775808},{"Size":-1}]}"#,
        )
        .unwrap();
        let df = raw.normalise();
        assert_eq!(df.images.reclaimable, i64::MAX);
        assert_eq!(df.containers.total_size, i64::MAX);
        assert_eq!(df.volumes.reclaimable, i64::MAX);
        assert_eq!(df.build_cache.total_size, i64::MIN);
    }

    #[test]
    fn disk_usage_new_shape_from_api_1_52() {
        // Shape from the v1.56 spec: per-type usage objects, no flat lists.
        let raw: RawDiskUsage = serde_json::from_str(
            r#"{"ImageUsage":{"ActiveCount":1,"TotalCount":4,"Reclaimable":12345678,"TotalSize":98765432},
                "ContainerUsage":{"ActiveCount":1,"TotalCount":2,"Reclaimable":10,"TotalSize":20},
                "VolumeUsage":{"ActiveCount":0,"TotalCount":0,"Reclaimable":0,"TotalSize":0},
                "BuildCacheUsage":{"ActiveCount":0,"TotalCount":1,"Reclaimable":5,"TotalSize":5}}"#,
        )
        .unwrap();
        let df = raw.normalise();
        assert_eq!(df.images.total_count, 4);
        assert_eq!(df.images.reclaimable, 12_345_678);
        assert_eq!(df.containers.reclaimable, 10);
        assert_eq!(df.build_cache.reclaimable, 5);
    }
}
