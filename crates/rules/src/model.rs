//! Stage two's output: the typed, validated rule set the engine consumes.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;

use crate::channel::Channel;
use crate::diag::Position;
use crate::image::{ImagePattern, ImageRef};
use crate::schedule::Schedule;
use crate::select::{LabelSelector, NamePattern, Protect};
use crate::units::Percent;

/// A validated rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    /// Where it came from (file name, `<stdin>`, `<default>`).
    pub source_name: String,
    /// The schema version; always 1 today.
    pub version: u32,
    /// The time zone schedules are evaluated in (default UTC).
    pub timezone: Tz,
    /// The global protection list.
    pub protect: Protect,
    /// The rules, in file order (at least one).
    pub rules: Vec<Rule>,
    /// Where to report runs; empty when not configured.
    pub notify: Vec<Notify>,
    /// The Docker hosts the file acts on, in file order. Empty when the file has no
    /// `hosts:`; swab then acts on the one host from `--host`, `DOCKER_HOST` or the
    /// current docker context, as a file without `hosts:` always did.
    pub hosts: Vec<Host>,
}

impl RuleSet {
    /// Looks a rule up by name.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|rule| rule.name == name)
    }

    /// The rules that apply on `host`, in the order of the file's `rules:` (not the order
    /// of the host's own list, so every host runs its rules in one predictable order);
    /// every rule when the host has no `rules:`.
    ///
    /// Validation guarantees that each name in a host's `rules` names a rule of the file;
    /// a name that does not (a [`Host`] built by hand) selects nothing.
    pub fn rules_for(&self, host: &Host) -> Vec<&Rule> {
        match &host.rules {
            None => self.rules.iter().collect(),
            Some(names) => self
                .rules
                .iter()
                .filter(|rule| names.contains(&rule.name))
                .collect(),
        }
    }
}

/// One Docker host a rule file acts on (the `hosts:` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Unique within the file; `[A-Za-z0-9._-]`, 1..=64 chars. Names the host's report
    /// section and its state, so it must be stable and safe in a file name.
    pub name: String,
    /// How to reach the host's Docker daemon.
    pub endpoint: HostEndpoint,
    /// Free labels (string -> string), shown in reports and used to pick hosts on the
    /// command line (see [`Host::matches`]).
    pub labels: BTreeMap<String, String>,
    /// Names of the rules that apply on this host, in the order written (each once);
    /// `None`: every rule. Each names a rule of the file; [`RuleSet::rules_for`] turns
    /// them into rules.
    pub rules: Option<Vec<String>>,
    /// Where the entry starts in the file.
    pub position: Position,
}

impl Host {
    /// Whether a host selector from the command line picks this host: `key=value` holds
    /// when the host's label `key` is exactly `value` (`key=` picks an empty value);
    /// anything else is compared with the host's name. Both compare exactly (host names
    /// cannot contain `=`, so the two forms never overlap).
    pub fn matches(&self, selector: &str) -> bool {
        match selector.split_once('=') {
            Some((key, value)) => self.labels.get(key).is_some_and(|v| v == value),
            None => self.name == selector,
        }
    }
}

/// Where a host's Docker daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEndpoint {
    /// `unix:///abs/path` or `tcp://host[:port]` as written (trimmed), with TLS files for tcp.
    Url {
        /// The endpoint, validated: `unix://` and an absolute path, or `tcp://` and
        /// `host[:port]` (an IPv6 host in brackets).
        url: String,
        /// TLS settings; `Some` only for a `tcp://` endpoint with `tls:`. `None` on tcp
        /// means plain TCP, which anyone on the network can use to control the daemon.
        tls: Option<HostTls>,
    },
    /// A docker CLI context name (resolved later from ~/.docker/contexts), which carries
    /// its own endpoint and TLS material.
    Context(String),
}

impl fmt::Display for HostEndpoint {
    /// The URL as written, or `context NAME`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url { url, .. } => f.write_str(url),
            Self::Context(name) => write!(f, "context {name}"),
        }
    }
}

/// TLS settings of a `tcp://` host (the `tls:` mapping). The files are only named here;
/// validation never opens them, so a rule file can be checked on another machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTls {
    /// CA certificate to verify the daemon with; `None`: the system roots.
    pub ca: Option<PathBuf>,
    /// Client certificate (both or neither with `key`); `None`: no client certificate.
    pub cert: Option<PathBuf>,
    /// Client private key (both or neither with `cert`).
    pub key: Option<PathBuf>,
    /// Verify the daemon's certificate (default true).
    pub verify: bool,
}

impl Default for HostTls {
    /// No files, verification on: TLS checked against the system roots.
    fn default() -> Self {
        Self {
            ca: None,
            cert: None,
            key: None,
            verify: true,
        }
    }
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Remove stopped containers.
    PruneContainers,
    /// Remove images no container uses.
    PruneImages,
    /// Pull newer images and recreate the containers using them.
    Update,
    /// Restart running containers.
    Restart,
    /// Remove volumes no container uses (anonymous only, unless selected by
    /// name or label; see [`VolumeScope`]).
    PruneVolumes,
    /// Remove networks no container uses.
    PruneNetworks,
    /// Remove BuildKit build cache.
    PruneBuildCache,
}

impl Action {
    /// Every action, in documentation order.
    pub const ALL: [Self; 7] = [
        Self::PruneContainers,
        Self::PruneImages,
        Self::Update,
        Self::Restart,
        Self::PruneVolumes,
        Self::PruneNetworks,
        Self::PruneBuildCache,
    ];

    /// The YAML spelling, e.g. `prune-containers`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PruneContainers => "prune-containers",
            Self::PruneImages => "prune-images",
            Self::Update => "update",
            Self::Restart => "restart",
            Self::PruneVolumes => "prune-volumes",
            Self::PruneNetworks => "prune-networks",
            Self::PruneBuildCache => "prune-build-cache",
        }
    }

    /// Parses the YAML spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == text)
    }

    /// Whether the action deletes things (as opposed to update/restart).
    pub fn removes(self) -> bool {
        !matches!(self, Self::Update | Self::Restart)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container state a `prune-containers` rule may remove. Running, paused
/// and restarting containers are never pruned, so they are not expressible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContainerStatus {
    /// Created but never started; age counts from `Created`.
    Created,
    /// Exited; age counts from `State.FinishedAt`.
    Exited,
    /// Dead; age counts from `State.FinishedAt`.
    Dead,
}

impl ContainerStatus {
    /// The Docker spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Exited => "exited",
            Self::Dead => "dead",
        }
    }

    /// Parses Docker's `State.Status` spelling; `None` for states swab never
    /// prunes (`running`, `paused`, `restarting`, `removing`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "created" => Some(Self::Created),
            "exited" => Some(Self::Exited),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// Which volumes a `prune-volumes` rule may touch.
///
/// Named volumes usually hold data someone cares about, so they are only
/// eligible when the rule selects them explicitly by name or label; the
/// engine must enforce this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VolumeScope {
    /// Only anonymous volumes (64-hex names created for `VOLUME` lines).
    AnonymousOnly,
    /// Named volumes too, because `match.names` or `match.labels` selects them.
    NamedSelected,
}

/// The `match:` section. Every given condition must hold (AND); within
/// `names` and `images` any pattern may match (OR); every `labels`
/// selector must hold (AND). Empty lists and `None` mean "no condition".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    /// Container states to prune; `[exited, dead]` by default for
    /// `prune-containers`, empty (meaning "not applicable") otherwise.
    pub status: Vec<ContainerStatus>,
    /// Minimum age; what "age" means depends on the action (see docs).
    pub older_than: Option<Duration>,
    /// Images: time since last used; build cache: time since last used.
    pub unused_for: Option<Duration>,
    /// Images: `Some(true)` only dangling, `Some(false)` only tagged.
    pub dangling: Option<bool>,
    /// Container, volume or network name globs (any may match).
    pub names: Vec<NamePattern>,
    /// Image reference globs (any may match).
    pub images: Vec<ImagePattern>,
    /// Label selectors (all must match).
    pub labels: Vec<LabelSelector>,
}

impl Match {
    /// Whether `status` allows this container state.
    pub fn matches_status(&self, status: ContainerStatus) -> bool {
        self.status.is_empty() || self.status.contains(&status)
    }

    /// Whether `names` allows this name (true when `names` is empty).
    pub fn matches_name(&self, name: &str) -> bool {
        self.names.is_empty() || self.names.iter().any(|pattern| pattern.matches(name))
    }

    /// Whether `images` allows any of these references (true when empty).
    pub fn matches_image<'a>(&self, references: impl IntoIterator<Item = &'a ImageRef>) -> bool {
        if self.images.is_empty() {
            return true;
        }
        let references: Vec<&ImageRef> = references.into_iter().collect();
        self.images
            .iter()
            .any(|pattern| pattern.matches_any(references.iter().copied()))
    }

    /// Whether every label selector holds (true when empty).
    pub fn matches_labels<S: BuildHasher>(&self, labels: &HashMap<String, String, S>) -> bool {
        LabelSelector::all_match(&self.labels, labels)
    }

    /// Whether `older_than` allows this age (true when unset).
    pub fn is_old_enough(&self, age: Duration) -> bool {
        self.older_than.is_none_or(|minimum| age >= minimum)
    }

    /// Whether `unused_for` allows this idle time (true when unset).
    pub fn is_unused_long_enough(&self, idle: Duration) -> bool {
        self.unused_for.is_none_or(|minimum| idle >= minimum)
    }
}

/// The `when:` condition: the rule only acts while it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Usage of the filesystem holding Docker's root dir is above this
    /// (needs a local daemon).
    DiskUsageAbove(Percent),
    /// The sum of image sizes from `/system/df` is above this many bytes.
    ImagesSizeAbove(u64),
}

/// The `target:` of a triggered rule: remove least-recently-used first until
/// this holds, then stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Stop once disk usage is below this.
    DiskUsageBelow(Percent),
    /// Stop once the images' total size is below this many bytes.
    ImagesSizeBelow(u64),
}

/// A rollback tag template; `{tag}` is replaced by the old image's tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackTag(pub(crate) String);

impl RollbackTag {
    /// The default, `{tag}-swab-previous`.
    pub fn default_template() -> Self {
        Self("{tag}-swab-previous".to_owned())
    }

    /// The template as written.
    pub fn template(&self) -> &str {
        &self.0
    }

    /// The tag for a previous image tagged `tag`; `None` when the result
    /// would exceed Docker's 128-character limit.
    pub fn render(&self, tag: &str) -> Option<String> {
        let rendered = self.0.replace("{tag}", tag);
        (rendered.len() <= 128).then_some(rendered)
    }
}

/// Options only `update` rules have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateOptions {
    /// Tag to keep the previous image under; `None` when `rollback_tag: null`.
    pub rollback_tag: Option<RollbackTag>,
    /// How long a recreated container must stay healthy (or running, without
    /// a health check) before the update counts as done. Default 60s.
    pub health_timeout: Duration,
    /// Remove the old image once nothing uses it (never the rollback tag).
    pub cleanup: bool,
    /// Commands run inside the selected containers around the check and the update.
    pub hooks: Hooks,
    /// Cooldown: a new registry digest is adopted only once swab has known it this long
    /// (from the first run that saw it, never the image's build time).
    pub min_age: Option<Duration>,
    /// Back-off after an update whose new image failed: the waits before the 1st, 2nd,
    /// ... retry of that digest; the last one repeats. Default 1h, 6h, 24h.
    pub retry_after: Vec<Duration>,
    /// After this many failed attempts a digest is not retried; `None`: no limit.
    pub max_attempts: Option<u32>,
    /// A watcher: the rule checks and sends one notice per new digest through the rule
    /// set's `notify:` targets, and applies nothing.
    pub notify_only: bool,
    /// `track: semver`: follow newer version tags within a constraint, not just the digest
    /// of the same tag.
    pub track: Option<Tracking>,
    /// Whether tag tracking may edit a Compose service's compose file (`compose_file:
    /// write`); by default such a service is left on its tag, since the next `compose up`
    /// would go back to the tag its file names.
    pub compose_file: ComposeFile,
    /// `services:`: the rule updates Swarm services (through Swarm's own rolling update and
    /// rollback) instead of containers.
    pub services: Option<ServiceSelector>,
}

/// Which Swarm services an `update` rule selects, and how Swarm is to roll them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSelector {
    /// Service name globs (any may match; empty: every service).
    pub names: Vec<NamePattern>,
    /// Service label selectors (all must match).
    pub labels: Vec<LabelSelector>,
    /// Stack names (`com.docker.stack.namespace`; any may match; empty: any).
    pub stacks: Vec<String>,
    /// `UpdateConfig.FailureAction` to set; `None` leaves the service's own.
    pub failure_action: Option<FailureAction>,
    /// `UpdateConfig.Monitor` to set; `None` leaves the service's own.
    pub monitor: Option<Duration>,
    /// How long swab waits for Swarm to finish (or roll back) an update.
    pub timeout: Duration,
}

/// What Swarm does when a task of an update fails (`UpdateConfig.FailureAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// Go back to the previous spec (Swarm's own rollback).
    Rollback,
    /// Stop the update where it is.
    Pause,
    /// Go on with the next tasks.
    Continue,
}

impl FailureAction {
    /// The API's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureAction::Rollback => "rollback",
            FailureAction::Pause => "pause",
            FailureAction::Continue => "continue",
        }
    }
}

/// What tag tracking does with a Compose service's compose file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ComposeFile {
    /// Leave the service on its tag, with a note saying why.
    #[default]
    Refuse,
    /// Edit the service's `image:` line (comments and formatting kept, a backup beside
    /// it), so that `compose up` agrees with the update.
    Write,
}

/// How an update rule follows version tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracking {
    /// The versions allowed (`~1.25`, `^2`, `>=1.2, <2`). Pre-releases only when the
    /// constraint names one.
    pub constraint: semver::VersionReq,
    /// A regex with one capture group that holds the version (`^v?(\d+\.\d+\.\d+)-alpine$`);
    /// without it a tag is a version as is (a leading `v` allowed).
    pub tag_pattern: Option<TagPattern>,
}

/// A compiled `tag_pattern`.
#[derive(Debug, Clone)]
pub struct TagPattern(pub regex::Regex);

impl PartialEq for TagPattern {
    fn eq(&self, other: &TagPattern) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for TagPattern {}

/// The default `retry_after`: 1h, 6h, then daily.
pub fn default_retry_after() -> Vec<Duration> {
    [1, 6, 24].map(|h| Duration::from_secs(h * 3600)).to_vec()
}

/// The `hooks:` of an update rule. Each command runs inside the container with `sh -c`,
/// through the exec API, for at most `timeout`; a container's own hook labels (from the
/// namespaces in `labels`) take the place of the rule's command for the same phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hooks {
    /// Runs in the old container before it is stopped; a non-zero exit vetoes the update
    /// (75, `EX_TEMPFAIL`: skip this time, quietly).
    pub pre_update: Option<String>,
    /// Runs in the replacement once it started, before the health gate.
    pub post_update: Option<String>,
    /// Runs in each selected container before its image is checked.
    pub pre_check: Option<String>,
    /// Runs in each selected container after the check (and the update, if any).
    pub post_check: Option<String>,
    /// How long one hook may run before it is killed; default 60s, at most 1h.
    pub timeout: Duration,
    /// What a failed `post_update` does.
    pub on_failure: HookFailure,
    /// Which hook labels on containers are read.
    pub labels: Vec<HookLabels>,
}

impl Default for Hooks {
    fn default() -> Hooks {
        Hooks {
            pre_update: None,
            post_update: None,
            pre_check: None,
            post_check: None,
            timeout: Duration::from_secs(60),
            on_failure: HookFailure::Rollback,
            labels: vec![HookLabels::Swab],
        }
    }
}

/// What a failed `post_update` hook does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookFailure {
    /// Roll the update back, as a failed health gate does (the default).
    Rollback,
    /// Keep the new container and report the failure.
    Warn,
}

/// A namespace of hook labels on containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookLabels {
    /// `swab.hooks.pre-update`, `.post-update`, `.pre-check`, `.post-check`, and
    /// `swab.hooks.timeout` (a duration).
    Swab,
    /// Watchtower's `com.centurylinklabs.watchtower.lifecycle.*`, with its
    /// `pre-update-timeout` and `post-update-timeout` in minutes.
    Watchtower,
}

/// What a notification is sent for. Each target sends exactly one message per event it
/// wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyOn {
    /// A run changed something (removed, updated or restarted): one message per run.
    Changes,
    /// A run had failures: one message per run (the same one as `Changes` when both).
    Failures,
    /// A container or service was updated: one message per update.
    Update,
    /// An update failed and was rolled back: one message per rollback.
    Rollback,
    /// A new image is available (`notify_only` rules): one message per new digest.
    NewImage,
    /// A run recovered an interrupted update: one message per recovery note.
    Recovery,
    /// The daemon could not reach Docker for longer than `docker_down_after`: one message
    /// per outage, and one when Docker is back.
    DockerDown,
}

impl NotifyOn {
    /// Every event, in the order of the docs.
    pub const ALL: [NotifyOn; 7] = [
        NotifyOn::Changes,
        NotifyOn::Failures,
        NotifyOn::Update,
        NotifyOn::Rollback,
        NotifyOn::NewImage,
        NotifyOn::Recovery,
        NotifyOn::DockerDown,
    ];

    /// The events a target without `on:` hears about: runs with changes or failures, new
    /// images and Docker outages (updates, rollbacks and recoveries are in the run's message).
    pub const DEFAULT: [NotifyOn; 4] = [
        NotifyOn::Changes,
        NotifyOn::Failures,
        NotifyOn::NewImage,
        NotifyOn::DockerDown,
    ];

    /// The name in rule files: `changes`, `new_image`, `docker_down`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyOn::Changes => "changes",
            NotifyOn::Failures => "failures",
            NotifyOn::Update => "update",
            NotifyOn::Rollback => "rollback",
            NotifyOn::NewImage => "new_image",
            NotifyOn::Recovery => "recovery",
            NotifyOn::DockerDown => "docker_down",
        }
    }
}

/// The payload format of an `http(s)://` notification URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyFormat {
    /// swab's JSON run report.
    Json,
    /// A Slack incoming-webhook message.
    Slack,
    /// A Microsoft Teams Workflows webhook (an Adaptive Card).
    Teams,
}

/// Which default message body a target gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageForm {
    /// One line.
    Short,
    /// The line and then what was done, one line each (the default).
    Long,
}

/// One `notify:` entry. Its `Debug` leaves the URL's secrets out.
#[derive(Clone, PartialEq, Eq)]
pub struct Notify {
    /// The URL as written: an http(s) webhook or a shoutrrr-style URL. It holds secrets:
    /// log [`crate::channel::redact`] of it, never the URL.
    pub url: String,
    /// The parsed URL.
    pub channel: Channel,
    /// What to send; [`NotifyOn::DEFAULT`] when not written.
    pub on: Vec<NotifyOn>,
    /// Payload format for http(s) URLs; JSON by default.
    pub format: NotifyFormat,
    /// The default body's form.
    pub message: MessageForm,
    /// A title template, replacing the default.
    pub title: Option<String>,
    /// A body template, replacing the default.
    pub body: Option<String>,
    /// How long Docker must be unreachable before a `docker_down` message (5 minutes).
    pub docker_down_after: Duration,
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify")
            .field("url", &crate::channel::redact(&self.url))
            .field("on", &self.on)
            .field("format", &self.format)
            .field("message", &self.message)
            .field("title", &self.title)
            .field("body", &self.body)
            .field("docker_down_after", &self.docker_down_after)
            .finish_non_exhaustive()
    }
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique name, `[a-z0-9_-]+`.
    pub name: String,
    /// What it does.
    pub action: Action,
    /// When it runs by itself; `None` means only when invoked.
    pub schedule: Option<Schedule>,
    /// Which objects it selects.
    pub matcher: Match,
    /// `prune-images`: keep this many newest image IDs per repository.
    pub keep_latest: Option<u32>,
    /// Only act while this holds.
    pub when: Option<Trigger>,
    /// With `when`: stop removing once this holds.
    pub target: Option<Target>,
    /// `update` options; `Some` exactly for `update` rules.
    pub update: Option<UpdateOptions>,
    /// `update`/`restart`: stop timeout; `None` means the container's own
    /// `StopTimeout`, else 10s.
    pub stop_timeout: Option<Duration>,
    /// Stop the rule (and report) beyond this many removals, updates or
    /// restarts.
    pub max_removals: Option<u64>,
    /// Random delay of up to this much before each scheduled run.
    pub jitter: Option<Duration>,
    /// `prune-volumes`: whether named volumes are eligible; `Some` exactly
    /// for `prune-volumes` rules.
    pub volumes: Option<VolumeScope>,
    /// `update`/`restart`: when the rule may apply anything; empty means any time. Outside
    /// them a run checks and reports what it would do, and applies nothing.
    pub windows: Vec<Window>,
    /// Where the rule starts in its file.
    pub position: Position,
}

/// A maintenance window: it opens at each fire time of `start` (in the rule set's time
/// zone) and stays open for `duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// When it opens.
    pub start: Schedule,
    /// How long it stays open.
    pub duration: Duration,
}
