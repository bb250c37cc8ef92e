//! The `com.docker.compose.config-hash` label Compose would compute.
//!
//! Compose's `ServiceHash` (docker/compose `pkg/compose/hash.go`) takes the
//! loaded, normalized compose-go `types.ServiceConfig`, clears `build`,
//! `pull_policy`, `scale`, `deploy.replicas`, `depends_on` and `profiles`,
//! `json.Marshal`s it and hashes the bytes with SHA-256. This module rebuilds
//! that JSON for a subset of keys, following compose-go's struct field order
//! (`types/types.go`), its decoders (`types/*.go`, `format/volume.go`) and its
//! defaults, checked against `docker-compose config --format json` of Compose
//! 2.40.3. Anything outside the subset is an [`Unsupported`] error naming the
//! key; a guessed hash would let swab label a container with a hash Compose
//! disagrees with, and then the user's next `docker compose up` recreates it.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use crate::json::Json;
use crate::shell;
use crate::yaml::{self, Kind, Node};

/// One compose file as Compose read it.
#[derive(Debug, Clone, Copy)]
pub struct ComposeFile<'a> {
    /// The path Compose was given (from the container label
    /// `com.docker.compose.project.config_files`); only used in messages.
    pub path: &'a str,
    /// The file's text.
    pub text: &'a str,
}

/// The inputs Compose had when it created the container, read from its labels.
#[derive(Debug, Clone, Copy)]
pub struct Project<'a> {
    /// The project name (label `com.docker.compose.project`). No key in the
    /// supported subset depends on it today; it is part of the input so that
    /// a key that does can be added without changing the API.
    pub name: &'a str,
    /// The absolute project directory (label
    /// `com.docker.compose.project.working_dir`), against which relative bind
    /// mount sources are resolved.
    pub working_dir: &'a str,
    /// The compose files in the order Compose read them.
    pub files: &'a [ComposeFile<'a>],
}

/// Why swab will not compute a service's hash: the input is outside the
/// subset it reproduces exactly (or is not valid Compose at all).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// A file is not YAML serde-saphyr accepts, or uses YAML tags (`!reset`,
    /// `!override`), whose meaning is Compose's own.
    #[error("{path}: cannot read as YAML: {message}")]
    Syntax {
        /// The file's path.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// A file-level feature that can change any service, such as `include`.
    #[error("{path}: uses `{key}`, which swab does not follow")]
    File {
        /// The file's path.
        path: String,
        /// The top-level key.
        key: String,
    },
    /// The project inputs themselves are unusable (e.g. a relative working dir).
    #[error("project: {0}")]
    Project(String),
    /// No file defines the service.
    #[error("service {service} is not defined in any compose file")]
    MissingService {
        /// The service name.
        service: String,
    },
    /// More than one file defines the service; swab does not merge overrides.
    #[error("service {service} is defined in {first} and {second}; swab does not merge overrides")]
    Merged {
        /// The service name.
        service: String,
        /// The first file that defines it.
        first: String,
        /// Another file that defines it.
        second: String,
    },
    /// The service uses a key, or a form of a key, outside the supported subset.
    #[error("service {service} uses `{key}`: {why}")]
    Key {
        /// The service name.
        service: String,
        /// The key's path inside the service, e.g. `environment.FOO` or `ports[1]`.
        key: String,
        /// What about it is unsupported.
        why: String,
    },
}

/// The `com.docker.compose.config-hash` Compose would compute for `service`
/// if its `image:` were `image`, as lowercase SHA-256 hex.
///
/// Fails with [`Unsupported`] instead of guessing whenever the service uses
/// anything outside the reproduced subset (see the crate docs), including
/// `${VAR}` interpolation, whose result depends on an environment swab does
/// not see.
pub fn service_hash(
    project: &Project<'_>,
    service: &str,
    image: &str,
) -> Result<String, Unsupported> {
    let json = service_json(project, service, image)?;
    let digest = Sha256::digest(json.as_bytes());
    Ok(digest
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
            hex
        }))
}

/// The exact JSON [`service_hash`] hashes: compose-go's `ServiceConfig` as
/// `json.Marshal` writes it, after `ServiceHash` clears the fields that do not
/// count. Exposed so that a mismatch with Compose can be debugged.
pub fn service_json(
    project: &Project<'_>,
    service: &str,
    image: &str,
) -> Result<String, Unsupported> {
    if !project.working_dir.starts_with('/')
        || clean_path(project.working_dir) != project.working_dir
    {
        return Err(Unsupported::Project(format!(
            "working dir {:?} is not a clean absolute path",
            project.working_dir
        )));
    }
    let mut found: Option<(&ComposeFile<'_>, Node)> = None;
    for file in project.files {
        let root = yaml::parse(file.text).map_err(|message| Unsupported::Syntax {
            path: file.path.to_owned(),
            message,
        })?;
        for key in ["include", "<<"] {
            if root.get(key).is_some() {
                return Err(Unsupported::File {
                    path: file.path.to_owned(),
                    key: key.to_owned(),
                });
            }
        }
        let Some(node) = root
            .get("services")
            .and_then(|services| services.get(service))
        else {
            continue;
        };
        if let Some((first, _)) = &found {
            return Err(Unsupported::Merged {
                service: service.to_owned(),
                first: first.path.to_owned(),
                second: file.path.to_owned(),
            });
        }
        found = Some((file, node.clone()));
    }
    let Some((file, node)) = found else {
        return Err(Unsupported::MissingService {
            service: service.to_owned(),
        });
    };
    let cx = Cx {
        service,
        text: file.text,
        working_dir: project.working_dir,
    };
    Ok(cx.service(&node, image)?.to_text())
}

/// ServiceConfig's JSON field names in declaration order (compose-go
/// `types/types.go`); the service object is sorted by this, not alphabetically
/// (`cgroup_parent` precedes `cgroup`, `hostname` precedes `healthcheck`).
const FIELD_ORDER: &[&str] = &[
    "profiles",
    "annotations",
    "attach",
    "build",
    "develop",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup_parent",
    "cgroup",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpuset",
    "cpu_shares",
    "command",
    "configs",
    "container_name",
    "credential_spec",
    "depends_on",
    "deploy",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "dockerfile",
    "domainname",
    "entrypoint",
    "provider",
    "environment",
    "env_file",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "group_add",
    "gpus",
    "hostname",
    "healthcheck",
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "label_file",
    "links",
    "logging",
    "log_driver",
    "log_opt",
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "mem_swappiness",
    "mac_address",
    "models",
    "net",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "privileged",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volume_driver",
    "volumes",
    "volumes_from",
    "working_dir",
    "post_start",
    "pre_stop",
];

type Res<T> = Result<T, Unsupported>;

/// The service being reconstructed, for messages and path resolution.
struct Cx<'a> {
    service: &'a str,
    text: &'a str,
    working_dir: &'a str,
}

impl Cx<'_> {
    fn err<T>(&self, key: &str, why: impl Into<String>) -> Res<T> {
        Err(Unsupported::Key {
            service: self.service.to_owned(),
            key: key.to_owned(),
            why: why.into(),
        })
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one arm per supported key keeps the subset in one place"
    )]
    fn service(&self, node: &Node, image: &str) -> Res<Json> {
        let mut fields: Vec<(&'static str, Json)> = Vec::new();
        let mut network_mode = false;
        let mut networks = None;
        for (key, value) in self.entries(node, "")? {
            let json = match key.as_str() {
                "image" => {
                    self.string(value, "image")?;
                    Some(Json::str(image))
                }
                "command" | "entrypoint" => Some(self.command(value, &key)?),
                "environment" => self.environment(value)?,
                "labels" => self.labels(value)?,
                "container_name" | "hostname" | "user" | "working_dir" | "restart"
                | "stop_signal" | "domainname" | "ipc" | "pid" => {
                    non_empty(self.string(value, &key)?)
                }
                "network_mode" => {
                    let mode = self.string(value, &key)?;
                    network_mode = !mode.is_empty();
                    non_empty(mode)
                }
                "networks" => {
                    networks = Some(self.networks(value)?);
                    None
                }
                "stop_grace_period" => Some(Json::Str(self.duration(value, &key)?)),
                "ports" => non_empty_arr(self.ports(value)?),
                "volumes" => non_empty_arr(self.volumes(value)?),
                "healthcheck" => Some(self.healthcheck(value)?),
                "tty" | "stdin_open" | "read_only" | "privileged" => {
                    self.bool(value, &key)?.then_some(Json::Bool(true))
                }
                "init" => Some(Json::Bool(self.bool(value, &key)?)),
                "cap_add" | "cap_drop" | "security_opt" | "group_add" | "dns_opt" => non_empty_arr(
                    self.string_seq(value, &key)?
                        .into_iter()
                        .map(Json::Str)
                        .collect(),
                ),
                "dns" | "dns_search" | "tmpfs" => {
                    let list = match &value.kind {
                        Kind::Str(_) => vec![self.string(value, &key)?],
                        _ => self.string_seq(value, &key)?,
                    };
                    non_empty_arr(list.into_iter().map(Json::Str).collect())
                }
                "extra_hosts" => self.extra_hosts(value)?,
                "ulimits" => self.ulimits(value)?,
                "logging" => Some(self.logging(value)?),
                "deploy" => Some(self.deploy(value)?),
                "mem_limit" | "shm_size" => {
                    let bytes = self.unit_bytes(value, &key)?;
                    (bytes != 0).then(|| Json::Str(bytes.to_string()))
                }
                // Cleared by ServiceHash; parsed so that a malformed value is not waved through.
                "depends_on" => {
                    self.depends_on(value)?;
                    None
                }
                "profiles" => {
                    self.string_seq(value, &key)?;
                    None
                }
                "pull_policy" => {
                    self.string(value, &key)?;
                    None
                }
                // `x-*` keys are compose-go `Extensions`, tagged `json:"-"`.
                k if k.starts_with("x-") => None,
                "build" | "extends" | "env_file" => {
                    return self.err(&key, "swab does not reproduce its normalization");
                }
                _ => return self.err(&key, "key not in swab's supported subset"),
            };
            if let Some(json) = json {
                let name = FIELD_ORDER
                    .iter()
                    .copied()
                    .find(|name| *name == key)
                    .unwrap_or("");
                fields.push((name, json));
            }
        }
        if !fields.iter().any(|(name, _)| *name == "image") {
            return self.err(
                "image",
                "the service has no `image:` (swab only updates image-based services)",
            );
        }
        for always in ["command", "entrypoint"] {
            if !fields.iter().any(|(name, _)| *name == always) {
                // ShellCommand is tagged `json:"command"` without omitempty: null when absent.
                fields.push((always, Json::Null));
            }
        }
        match networks {
            Some(_) if network_mode => {
                return self.err("networks", "both `network_mode` and `networks` are set");
            }
            Some(Some(map)) => fields.push(("networks", map)),
            // compose-go attaches a service with neither to the project's `default` network.
            Some(None) | None if !network_mode => fields.push((
                "networks",
                Json::Obj(vec![("default".to_owned(), Json::Null)]),
            )),
            _ => {}
        }
        fields.sort_by_key(|(name, _)| FIELD_ORDER.iter().position(|n| n == name));
        Ok(Json::Obj(
            fields
                .into_iter()
                .map(|(name, json)| (name.to_owned(), json))
                .collect(),
        ))
    }

    // ---- scalars ----

    /// A mapping's entries with string keys, refusing duplicates, aliases and
    /// merge keys (go-yaml and compose-go treat those differently from plain YAML).
    fn entries<'n>(&self, node: &'n Node, path: &str) -> Res<Vec<(String, &'n Node)>> {
        self.not_aliased(node, path)?;
        let Kind::Map(entries) = &node.kind else {
            return self.err(path_or(path, "service"), "expected a mapping");
        };
        let mut out: Vec<(String, &Node)> = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let Kind::Str(name) = &key.kind else {
                return self.err(path, "a mapping key is not a string");
            };
            let at = join(path, name);
            self.not_aliased(key, &at)?;
            if name == "<<" {
                return self.err(&at, "YAML merge keys are not supported");
            }
            if name.contains('$') {
                return self.err(&at, "a `$` in a key is not supported");
            }
            if out.iter().any(|(seen, _)| seen == name) {
                return self.err(&at, "duplicate key");
            }
            out.push((name.clone(), value));
        }
        Ok(out)
    }

    fn not_aliased(&self, node: &Node, path: &str) -> Res<()> {
        if node.aliased {
            return self.err(path_or(path, "service"), "YAML aliases are not supported");
        }
        Ok(())
    }

    fn seq<'n>(&self, node: &'n Node, path: &str) -> Res<&'n [Node]> {
        self.not_aliased(node, path)?;
        match &node.kind {
            Kind::Seq(items) => Ok(items),
            _ => self.err(path, "expected a list"),
        }
    }

    /// A YAML string after Compose's interpolation: `$$` becomes `$`; any other
    /// `$` is a variable whose value swab cannot know. A plain scalar that
    /// go-yaml would read as a number or timestamp is refused, since serde-saphyr
    /// and go-yaml disagree on those spellings.
    fn string(&self, node: &Node, path: &str) -> Res<String> {
        self.not_aliased(node, path)?;
        let Kind::Str(value) = &node.kind else {
            return self.err(path, "expected a string");
        };
        let raw = node.raw(self.text);
        let plain = !raw.starts_with(['\'', '"', '|', '>']);
        if plain && go_yaml_reads_as_non_string(value) {
            return self.err(
                path,
                "a plain scalar go-yaml reads as a number or a timestamp",
            );
        }
        self.unescape_dollars(value, path)
    }

    fn unescape_dollars(&self, value: &str, path: &str) -> Res<String> {
        let mut out = String::with_capacity(value.len());
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c == '$' {
                if chars.next() == Some('$') {
                    out.push('$');
                } else {
                    return self.err(
                        path,
                        "uses `$` interpolation, which depends on Compose's environment",
                    );
                }
            } else {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// A scalar Compose stringifies with `fmt.Sprint` (environment, labels,
    /// log options): strings, canonical decimal integers and booleans; `None`
    /// for null.
    fn stringish(&self, node: &Node, path: &str) -> Res<Option<String>> {
        self.not_aliased(node, path)?;
        match &node.kind {
            Kind::Null => Ok(None),
            Kind::Str(_) => self.string(node, path).map(Some),
            Kind::Int(_) => self.int(node, path).map(|v| Some(v.to_string())),
            Kind::Bool(v) => Ok(Some(v.to_string())),
            _ => self.err(
                path,
                "only strings, integers and booleans are supported here",
            ),
        }
    }

    /// An integer written in plain decimal (go-yaml reads `017` as octal and
    /// accepts `1_000`; serde-saphyr does not agree, so those are refused).
    fn int(&self, node: &Node, path: &str) -> Res<i128> {
        self.not_aliased(node, path)?;
        let Kind::Int(value) = node.kind else {
            return self.err(path, "expected an integer");
        };
        let raw = node.raw(self.text);
        let digits = raw.strip_prefix('-').unwrap_or(raw);
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        if !canonical {
            return self.err(path, "only plain decimal integers are supported");
        }
        Ok(value)
    }

    fn bool(&self, node: &Node, path: &str) -> Res<bool> {
        self.not_aliased(node, path)?;
        match node.kind {
            Kind::Bool(value) => Ok(value),
            _ => self.err(path, "expected a boolean"),
        }
    }

    fn string_seq(&self, node: &Node, path: &str) -> Res<Vec<String>> {
        self.seq(node, path)?
            .iter()
            .enumerate()
            .map(|(i, item)| self.string(item, &format!("{path}[{i}]")))
            .collect()
    }

    // ---- keys ----

    fn command(&self, node: &Node, path: &str) -> Res<Json> {
        match &node.kind {
            Kind::Str(_) => {
                let line = self.string(node, path)?;
                match shell::split(&line) {
                    Ok(words) => Ok(Json::strings(&words)),
                    Err(shell::Refused(why)) => self.err(path, format!("the command string {why}")),
                }
            }
            Kind::Seq(_) => Ok(Json::strings(&self.string_seq(node, path)?)),
            _ => self.err(path, "expected a string or a list of strings"),
        }
    }

    /// `MappingWithEquals`: a variable without a value is null in the model.
    /// (Compose fills it from its own environment when that has the variable;
    /// swab assumes it did not, and the caller's check against the current
    /// label catches the case where it did.)
    fn environment(&self, node: &Node) -> Res<Option<Json>> {
        let mut map = BTreeMap::new();
        match &node.kind {
            Kind::Map(_) => {
                for (key, value) in self.entries(node, "environment")? {
                    let path = join("environment", &key);
                    let value = self.stringish(value, &path)?;
                    map.insert(key, value.map_or(Json::Null, Json::Str));
                }
            }
            Kind::Seq(_) => {
                for (i, item) in self.seq(node, "environment")?.iter().enumerate() {
                    let path = format!("environment[{i}]");
                    let Some(entry) = self.stringish(item, &path)? else {
                        return self.err(&path, "a null list entry");
                    };
                    let (key, value) = match entry.split_once('=') {
                        Some((key, value)) => (key.to_owned(), Json::str(value)),
                        None => (entry.clone(), Json::Null),
                    };
                    if key.is_empty() || key.ends_with(char::is_whitespace) {
                        return self.err(&path, "an empty variable name or one ending in a space");
                    }
                    map.insert(key, value);
                }
            }
            _ => return self.err("environment", "expected a mapping or a list"),
        }
        Ok((!map.is_empty()).then(|| Json::map(map)))
    }

    /// `Labels`: a missing value is the empty string.
    fn labels(&self, node: &Node) -> Res<Option<Json>> {
        let mut map = BTreeMap::new();
        match &node.kind {
            Kind::Map(_) => {
                for (key, value) in self.entries(node, "labels")? {
                    let path = join("labels", &key);
                    let value = self.stringish(value, &path)?.unwrap_or_default();
                    map.insert(key, Json::Str(value));
                }
            }
            Kind::Seq(_) => {
                for (i, item) in self.seq(node, "labels")?.iter().enumerate() {
                    let path = format!("labels[{i}]");
                    let Some(entry) = self.stringish(item, &path)? else {
                        return self.err(&path, "a null list entry");
                    };
                    let (key, value) = entry.split_once('=').unwrap_or((&entry, ""));
                    map.insert(key.to_owned(), Json::str(value));
                }
            }
            _ => return self.err("labels", "expected a mapping or a list"),
        }
        Ok((!map.is_empty()).then(|| Json::map(map)))
    }

    /// `None` when the list or mapping is empty (compose-go then attaches the
    /// default network, as when the key is absent).
    fn networks(&self, node: &Node) -> Res<Option<Json>> {
        let mut map = BTreeMap::new();
        match &node.kind {
            Kind::Seq(_) => {
                for name in self.string_seq(node, "networks")? {
                    map.insert(name, Json::Null);
                }
            }
            Kind::Map(_) => {
                for (name, value) in self.entries(node, "networks")? {
                    let path = join("networks", &name);
                    let json = match &value.kind {
                        Kind::Null => Json::Null,
                        _ => {
                            let mut fields = Vec::new();
                            for (key, value) in self.entries(value, &path)? {
                                let at = join(&path, &key);
                                match key.as_str() {
                                    "aliases" => {
                                        let aliases = self.string_seq(value, &at)?;
                                        if !aliases.is_empty() {
                                            fields.push((0, key, Json::strings(&aliases)));
                                        }
                                    }
                                    "ipv4_address" | "ipv6_address" => {
                                        let address = self.string(value, &at)?;
                                        let order = if key == "ipv4_address" { 4 } else { 5 };
                                        if !address.is_empty() {
                                            fields.push((order, key, Json::Str(address)));
                                        }
                                    }
                                    "priority" => {
                                        let priority = self.int(value, &at)?;
                                        if priority != 0 {
                                            fields.push((8, key, Json::Int(priority)));
                                        }
                                    }
                                    _ => {
                                        return self.err(&at, "key not in swab's supported subset");
                                    }
                                }
                            }
                            fields.sort_by_key(|(order, _, _)| *order);
                            Json::Obj(fields.into_iter().map(|(_, k, v)| (k, v)).collect())
                        }
                    };
                    map.insert(name, json);
                }
            }
            _ => return self.err("networks", "expected a list or a mapping"),
        }
        Ok((!map.is_empty()).then(|| Json::map(map)))
    }

    /// A `types.Duration` rendered by Go's `time.Duration.String`.
    fn duration(&self, node: &Node, path: &str) -> Res<String> {
        let text = self.string(node, path)?;
        match parse_duration(&text) {
            Some(nanos) => Ok(go_duration_string(nanos)),
            None => self.err(
                path,
                "only durations like `10s`, `1m30s`, `1.5s`, `500ms` are supported",
            ),
        }
    }

    fn ports(&self, node: &Node) -> Res<Vec<Json>> {
        let mut out = Vec::new();
        for (i, item) in self.seq(node, "ports")?.iter().enumerate() {
            let path = format!("ports[{i}]");
            match &item.kind {
                Kind::Str(_) | Kind::Int(_) => {
                    let spec = self.stringish(item, &path)?.unwrap_or_default();
                    match parse_port_spec(&spec) {
                        Some(ports) => out.extend(ports.into_iter().map(Port::into_json)),
                        None => return self.err(&path, "a port form swab does not parse"),
                    }
                }
                Kind::Map(_) => out.push(self.long_port(item, &path)?.into_json()),
                _ => return self.err(&path, "expected a string, a number or a mapping"),
            }
        }
        Ok(out)
    }

    fn long_port(&self, node: &Node, path: &str) -> Res<Port> {
        let mut port = Port {
            mode: "ingress".to_owned(),
            protocol: "tcp".to_owned(),
            ..Port::default()
        };
        let mut have_target = false;
        for (key, value) in self.entries(node, path)? {
            let at = join(path, &key);
            match key.as_str() {
                "target" => {
                    let target = self.int(value, &at)?;
                    port.target =
                        u16::try_from(target).or_else(|_| self.err(&at, "not a port number"))?;
                    have_target = true;
                }
                "published" => port.published = self.stringish(value, &at)?.unwrap_or_default(),
                "host_ip" => port.host_ip = self.string(value, &at)?,
                "protocol" => port.protocol = self.string(value, &at)?,
                "mode" => port.mode = self.string(value, &at)?,
                "name" => port.name = self.string(value, &at)?,
                "app_protocol" => port.app_protocol = self.string(value, &at)?,
                _ => return self.err(&at, "key not in swab's supported subset"),
            }
        }
        if !have_target {
            return self.err(path, "a long-syntax port without `target`");
        }
        Ok(port)
    }

    fn volumes(&self, node: &Node) -> Res<Vec<Json>> {
        let mut out = Vec::new();
        for (i, item) in self.seq(node, "volumes")?.iter().enumerate() {
            let path = format!("volumes[{i}]");
            let volume = match &item.kind {
                Kind::Str(_) => {
                    let spec = self.string(item, &path)?;
                    match parse_volume_spec(&spec) {
                        Ok(volume) => volume,
                        Err(why) => return self.err(&path, why),
                    }
                }
                Kind::Map(_) => self.long_volume(item, &path)?,
                _ => return self.err(&path, "expected a string or a mapping"),
            };
            out.push(self.resolve_source(volume, &path)?.into_json());
        }
        Ok(out)
    }

    /// compose-go resolves a relative bind source against the working dir and
    /// cleans it (`filepath.Join`); `~` needs the home directory swab does not know.
    fn resolve_source(&self, mut volume: Mount, path: &str) -> Res<Mount> {
        if volume.kind != "bind" {
            return Ok(volume);
        }
        if volume.source.starts_with('~') {
            return self.err(
                path,
                "a `~` bind source depends on Compose's home directory",
            );
        }
        if volume.source.starts_with('/') {
            if clean_path(&volume.source) != volume.source {
                return self.err(path, "an absolute bind source that is not a clean path");
            }
        } else if volume.source.is_empty() {
            return self.err(path, "a bind mount without a source");
        } else {
            volume.source = clean_path(&format!("{}/{}", self.working_dir, volume.source));
        }
        Ok(volume)
    }

    fn long_volume(&self, node: &Node, path: &str) -> Res<Mount> {
        let mut volume = Mount::default();
        for (key, value) in self.entries(node, path)? {
            let at = join(path, &key);
            match key.as_str() {
                "type" => volume.kind = self.string(value, &at)?,
                "source" => volume.source = self.string(value, &at)?,
                "target" => volume.target = self.string(value, &at)?,
                "read_only" => volume.read_only = self.bool(value, &at)?,
                "bind" => {
                    let mut bind = Bind::default();
                    for (key, value) in self.entries(value, &at)? {
                        let at = join(&at, &key);
                        match key.as_str() {
                            "propagation" => bind.propagation = self.string(value, &at)?,
                            "selinux" => bind.selinux = self.string(value, &at)?,
                            "create_host_path" => bind.create_host_path = self.bool(value, &at)?,
                            _ => return self.err(&at, "key not in swab's supported subset"),
                        }
                    }
                    volume.bind = Some(bind);
                }
                "volume" => {
                    let mut options = VolumeOptions::default();
                    for (key, value) in self.entries(value, &at)? {
                        let at = join(&at, &key);
                        match key.as_str() {
                            "nocopy" => options.nocopy = self.bool(value, &at)?,
                            "subpath" => options.subpath = self.string(value, &at)?,
                            _ => return self.err(&at, "key not in swab's supported subset"),
                        }
                    }
                    volume.volume = Some(options);
                }
                "tmpfs" => {
                    let mut tmpfs = Tmpfs::default();
                    for (key, value) in self.entries(value, &at)? {
                        let at = join(&at, &key);
                        match key.as_str() {
                            "size" => tmpfs.size = self.unit_bytes(value, &at)?,
                            "mode" => {
                                tmpfs.mode = u32::try_from(self.int(value, &at)?)
                                    .or_else(|_| self.err(&at, "out of range"))?;
                            }
                            _ => return self.err(&at, "key not in swab's supported subset"),
                        }
                    }
                    volume.tmpfs = Some(tmpfs);
                }
                _ => return self.err(&at, "key not in swab's supported subset"),
            }
        }
        if !matches!(volume.kind.as_str(), "volume" | "bind" | "tmpfs") {
            return self.err(
                path,
                "only `volume`, `bind` and `tmpfs` long-syntax types are supported",
            );
        }
        Ok(volume)
    }

    fn healthcheck(&self, node: &Node) -> Res<Json> {
        // HealthCheckConfig field order.
        const ORDER: [&str; 7] = [
            "test",
            "timeout",
            "interval",
            "retries",
            "start_period",
            "start_interval",
            "disable",
        ];
        let mut fields = Vec::new();
        for (key, value) in self.entries(node, "healthcheck")? {
            let at = join("healthcheck", &key);
            let json = match key.as_str() {
                "test" => match &value.kind {
                    Kind::Str(_) => Some(Json::strings(&[
                        "CMD-SHELL".to_owned(),
                        self.string(value, &at)?,
                    ])),
                    _ => non_empty_arr(
                        self.string_seq(value, &at)?
                            .into_iter()
                            .map(Json::Str)
                            .collect(),
                    ),
                },
                "timeout" | "interval" | "start_period" | "start_interval" => {
                    Some(Json::Str(self.duration(value, &at)?))
                }
                "retries" => {
                    let retries = self.int(value, &at)?;
                    if retries < 0 {
                        return self.err(&at, "negative");
                    }
                    Some(Json::Int(retries))
                }
                "disable" => self.bool(value, &at)?.then_some(Json::Bool(true)),
                _ => return self.err(&at, "key not in swab's supported subset"),
            };
            if let Some(json) = json {
                fields.push((key, json));
            }
        }
        fields.sort_by_key(|(key, _)| ORDER.iter().position(|k| k == key));
        Ok(Json::Obj(fields))
    }

    fn depends_on(&self, node: &Node) -> Res<()> {
        match &node.kind {
            Kind::Seq(_) => {
                self.string_seq(node, "depends_on")?;
            }
            Kind::Map(_) => {
                for (name, value) in self.entries(node, "depends_on")? {
                    let at = join("depends_on", &name);
                    for (key, value) in self.entries(value, &at)? {
                        let at = join(&at, &key);
                        match key.as_str() {
                            "condition" => {
                                self.string(value, &at)?;
                            }
                            "restart" | "required" => {
                                self.bool(value, &at)?;
                            }
                            _ => return self.err(&at, "key not in swab's supported subset"),
                        }
                    }
                }
            }
            _ => return self.err("depends_on", "expected a list or a mapping"),
        }
        Ok(())
    }

    /// `HostsList`: `host=ip` strings, sorted; `host:ip` list entries and
    /// comma-separated addresses are split, `[...]` brackets removed.
    fn extra_hosts(&self, node: &Node) -> Res<Option<Json>> {
        let mut hosts: Vec<(String, Vec<String>)> = Vec::new();
        let mut add =
            |host: String, ips: Vec<String>| match hosts.iter_mut().find(|(h, _)| *h == host) {
                Some((_, existing)) => existing.extend(ips),
                None => hosts.push((host, ips)),
            };
        match &node.kind {
            Kind::Seq(_) => {
                for (i, entry) in self
                    .string_seq(node, "extra_hosts")?
                    .into_iter()
                    .enumerate()
                {
                    let Some((host, ip)) = entry.split_once('=').or_else(|| entry.split_once(':'))
                    else {
                        return self
                            .err(&format!("extra_hosts[{i}]"), "an entry without an address");
                    };
                    add(host.to_owned(), ip.split(',').map(str::to_owned).collect());
                }
            }
            Kind::Map(_) => {
                for (host, value) in self.entries(node, "extra_hosts")? {
                    let at = join("extra_hosts", &host);
                    let ips = match &value.kind {
                        Kind::Str(_) => vec![self.string(value, &at)?],
                        _ => self.string_seq(value, &at)?,
                    };
                    add(host, ips);
                }
            }
            _ => return self.err("extra_hosts", "expected a list or a mapping"),
        }
        let mut list = Vec::new();
        for (host, ips) in hosts {
            if host.is_empty() || host.contains([':', '=']) {
                return self.err("extra_hosts", format!("bad host name {host:?}"));
            }
            for ip in ips {
                let ip = match ip.strip_prefix('[').and_then(|ip| ip.strip_suffix(']')) {
                    Some(inner) if !inner.is_empty() => inner.to_owned(),
                    _ => ip,
                };
                list.push(format!("{host}={ip}"));
            }
        }
        list.sort();
        Ok(non_empty_arr(list.into_iter().map(Json::Str).collect()))
    }

    /// `map[string]*UlimitsConfig`, whose `MarshalJSON` writes a bare number
    /// for the single-value form (and `{}` for `0`, since Single is then unset).
    fn ulimits(&self, node: &Node) -> Res<Option<Json>> {
        let mut map = BTreeMap::new();
        for (name, value) in self.entries(node, "ulimits")? {
            let at = join("ulimits", &name);
            let json = match &value.kind {
                Kind::Int(_) => match self.int(value, &at)? {
                    0 => Json::Obj(Vec::new()),
                    single => Json::Int(single),
                },
                Kind::Map(_) => {
                    let (mut soft, mut hard) = (0, 0);
                    for (key, value) in self.entries(value, &at)? {
                        let at = join(&at, &key);
                        match key.as_str() {
                            "soft" => soft = self.int(value, &at)?,
                            "hard" => hard = self.int(value, &at)?,
                            _ => return self.err(&at, "key not in swab's supported subset"),
                        }
                    }
                    let mut fields = Vec::new();
                    if soft != 0 {
                        fields.push(("soft".to_owned(), Json::Int(soft)));
                    }
                    if hard != 0 {
                        fields.push(("hard".to_owned(), Json::Int(hard)));
                    }
                    Json::Obj(fields)
                }
                _ => return self.err(&at, "expected an integer or a mapping"),
            };
            map.insert(name, json);
        }
        Ok((!map.is_empty()).then(|| Json::map(map)))
    }

    fn logging(&self, node: &Node) -> Res<Json> {
        let mut fields = Vec::new();
        let mut options = None;
        for (key, value) in self.entries(node, "logging")? {
            let at = join("logging", &key);
            match key.as_str() {
                "driver" => {
                    let driver = self.string(value, &at)?;
                    if !driver.is_empty() {
                        fields.push(("driver".to_owned(), Json::Str(driver)));
                    }
                }
                "options" => {
                    let mut map = BTreeMap::new();
                    for (name, value) in self.entries(value, &at)? {
                        let at = join(&at, &name);
                        let Some(text) = self.stringish(value, &at)? else {
                            return self.err(&at, "a null log option");
                        };
                        map.insert(name, Json::Str(text));
                    }
                    if !map.is_empty() {
                        options = Some(Json::map(map));
                    }
                }
                _ => return self.err(&at, "key not in swab's supported subset"),
            }
        }
        if let Some(options) = options {
            fields.push(("options".to_owned(), options));
        }
        Ok(Json::Obj(fields))
    }

    /// `DeployConfig`: `resources` and `placement` are struct values, which
    /// `omitempty` never omits, so they are always written; `replicas` is
    /// cleared by ServiceHash.
    fn deploy(&self, node: &Node) -> Res<Json> {
        let mut resources = Vec::new();
        for (key, value) in self.entries(node, "deploy")? {
            let at = join("deploy", &key);
            match key.as_str() {
                "replicas" => {
                    self.int(value, &at)?;
                }
                "resources" => {
                    for (key, value) in self.entries(value, &at)? {
                        let at = join(&at, &key);
                        let order = match key.as_str() {
                            "limits" => 0,
                            "reservations" => 1,
                            _ => return self.err(&at, "key not in swab's supported subset"),
                        };
                        resources.push((order, key, self.resource(value, &at)?));
                    }
                }
                _ => return self.err(&at, "key not in swab's supported subset"),
            }
        }
        resources.sort_by_key(|(order, _, _)| *order);
        Ok(Json::Obj(vec![
            (
                "resources".to_owned(),
                Json::Obj(resources.into_iter().map(|(_, k, v)| (k, v)).collect()),
            ),
            ("placement".to_owned(), Json::Obj(Vec::new())),
        ]))
    }

    /// `Resource`: cpus (a float32), memory (UnitBytes, a quoted number), pids.
    fn resource(&self, node: &Node, path: &str) -> Res<Json> {
        let (mut cpus, mut memory, mut pids) = (None, None, None);
        for (key, value) in self.entries(node, path)? {
            let at = join(path, &key);
            match key.as_str() {
                "cpus" => {
                    let value = match &value.kind {
                        Kind::Str(_) => {
                            let text = self.string(value, &at)?;
                            if !is_plain_decimal(&text) {
                                return self
                                    .err(&at, "only plain decimal CPU counts are supported");
                            }
                            text.parse::<f64>()
                                .or_else(|_| self.err(&at, "not a number"))?
                        }
                        Kind::Int(_) => {
                            let count = self.int(value, &at)?;
                            i32::try_from(count)
                                .map(f64::from)
                                .or_else(|_| self.err(&at, "too large"))?
                        }
                        Kind::Float(f) if is_plain_decimal(value.raw(self.text)) => *f,
                        _ => return self.err(&at, "expected a number"),
                    };
                    #[allow(clippy::cast_possible_truncation)]
                    let value = value as f32;
                    if value != 0.0 {
                        if !(1e-6..1e6).contains(&value) {
                            return self.err(&at, "outside the supported range");
                        }
                        cpus = Some(Json::F32(value));
                    }
                }
                "memory" => {
                    let bytes = self.unit_bytes(value, &at)?;
                    memory = (bytes != 0).then(|| Json::Str(bytes.to_string()));
                }
                "pids" => {
                    let count = self.int(value, &at)?;
                    pids = (count != 0).then_some(Json::Int(count));
                }
                _ => return self.err(&at, "key not in swab's supported subset"),
            }
        }
        let fields = [("cpus", cpus), ("memory", memory), ("pids", pids)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect();
        Ok(Json::Obj(fields))
    }

    /// `UnitBytes`: an integer, or go-units `RAMInBytes` (`50M` is 50 MiB);
    /// only whole numbers, where go-units' float arithmetic is exact.
    fn unit_bytes(&self, node: &Node, path: &str) -> Res<i128> {
        match &node.kind {
            Kind::Int(_) => self.int(node, path),
            Kind::Str(_) => {
                let text = self.string(node, path)?;
                match ram_in_bytes(&text) {
                    Some(bytes) => Ok(bytes),
                    None => self.err(path, "only sizes like `512`, `50m`, `1GiB` are supported"),
                }
            }
            _ => self.err(path, "expected a size"),
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn path_or<'a>(path: &'a str, fallback: &'a str) -> &'a str {
    if path.is_empty() { fallback } else { path }
}

fn non_empty(value: String) -> Option<Json> {
    (!value.is_empty()).then_some(Json::Str(value))
}

fn non_empty_arr(items: Vec<Json>) -> Option<Json> {
    (!items.is_empty()).then_some(Json::Arr(items))
}

fn is_plain_decimal(text: &str) -> bool {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// Whether go-yaml v3 resolves this plain scalar to something other than a
/// string: an integer in any base `strconv.ParseInt(s, 0, 64)` accepts (after
/// dropping `_`), a float, or a timestamp (`resolve.go`).
fn go_yaml_reads_as_non_string(plain: &str) -> bool {
    let Some(first) = plain.chars().next() else {
        return false;
    };
    if first.is_ascii_digit() && looks_like_timestamp(plain) {
        return true;
    }
    if !(first.is_ascii_digit() || matches!(first, '-' | '+' | '.')) {
        return false;
    }
    let s: String = plain.chars().filter(|&c| c != '_').collect();
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(&s);
    let all =
        |digits: &str, radix: u32| !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
    let integer = if let Some(hex) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        all(hex, 16)
    } else if let Some(bin) = unsigned
        .strip_prefix("0b")
        .or_else(|| unsigned.strip_prefix("0B"))
    {
        all(bin, 2)
    } else if let Some(oct) = unsigned
        .strip_prefix("0o")
        .or_else(|| unsigned.strip_prefix("0O"))
    {
        all(oct, 8)
    } else {
        all(unsigned, 10)
    };
    integer
        || looks_like_float(unsigned)
        || matches!(
            unsigned,
            ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN"
        )
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`, sign removed.
fn looks_like_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", fraction)) => digits(fraction),
        Some((whole, fraction)) => digits(whole) && (fraction.is_empty() || digits(fraction)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// A YAML timestamp starts with `YYYY-M-D`; refusing that prefix is enough.
fn looks_like_timestamp(s: &str) -> bool {
    let mut parts = s.splitn(3, '-');
    let year = parts.next().unwrap_or("");
    let month = parts.next().unwrap_or("");
    let day: String = parts
        .next()
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && (1..=2).contains(&month.len())
        && month.bytes().all(|b| b.is_ascii_digit())
        && (1..=2).contains(&day.len())
}

/// Go's `filepath.Clean` for a Unix absolute path.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// go-str2duration's syntax (Go's `time.ParseDuration` plus `d` and `w`), for
/// non-negative values whose fractions are exact in nanoseconds.
fn parse_duration(text: &str) -> Option<u64> {
    const UNITS: [(&str, u128); 9] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
        ("d", 86_400_000_000_000),
        ("w", 604_800_000_000_000),
    ];
    if text == "0" {
        return Some(0);
    }
    let mut rest = text;
    let mut total: u128 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = UNITS.iter().find(|(name, _)| *name == unit)?.1;
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let mut nanos = whole.checked_mul(scale)?;
        if !fraction.is_empty() {
            let digits: u128 = fraction.parse().ok()?;
            let denominator = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
            let scaled = digits.checked_mul(scale)?;
            if scaled % denominator != 0 {
                return None;
            }
            nanos += scaled / denominator;
        }
        total = total.checked_add(nanos)?;
        rest = tail;
    }
    u64::try_from(total)
        .ok()
        .filter(|&t| i64::try_from(t).is_ok())
}

/// Go's `time.Duration.String`: `1h0m0s`, `1m30s`, `1.5s`, `500ms`, `0s`.
fn go_duration_string(nanos: u64) -> String {
    fn fraction(value: u64, digits: u32) -> String {
        let scale = 10u64.pow(digits);
        let (whole, frac) = (value / scale, value % scale);
        if frac == 0 {
            return whole.to_string();
        }
        let frac = format!("{frac:0width$}", width = digits as usize);
        format!("{whole}.{}", frac.trim_end_matches('0'))
    }
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fraction(nanos, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fraction(nanos, 6));
    }
    let seconds = fraction(nanos % 60_000_000_000, 9);
    let minutes = nanos / 60_000_000_000;
    if minutes == 0 {
        return format!("{seconds}s");
    }
    let (hours, minutes) = (minutes / 60, minutes % 60);
    if hours == 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{hours}h{minutes}m{seconds}s")
    }
}

/// go-units `RAMInBytes` for whole numbers: `<n>[ ][kmgtp][i][b]`, case-insensitive, 1024-based.
fn ram_in_bytes(text: &str) -> Option<i128> {
    let digits_len = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_len);
    if digits.is_empty() {
        return None;
    }
    let value: i128 = digits.parse().ok()?;
    let suffix = suffix
        .strip_prefix(' ')
        .unwrap_or(suffix)
        .to_ascii_lowercase();
    let mut chars = suffix.chars().peekable();
    let power = match chars.peek() {
        Some('k') => 1,
        Some('m') => 2,
        Some('g') => 3,
        Some('t') => 4,
        Some('p') => 5,
        _ => 0,
    };
    if power > 0 {
        chars.next();
    }
    if chars.peek() == Some(&'i') {
        chars.next();
    }
    if chars.peek() == Some(&'b') {
        chars.next();
    }
    if chars.next().is_some() {
        return None;
    }
    let bytes = value.checked_mul(1024i128.pow(power))?;
    i64::try_from(bytes).ok().map(i128::from)
}

/// A `ServicePortConfig`.
#[derive(Debug, Default, Clone, PartialEq)]
struct Port {
    name: String,
    mode: String,
    host_ip: String,
    target: u16,
    published: String,
    protocol: String,
    app_protocol: String,
}

impl Port {
    fn into_json(self) -> Json {
        let mut fields = Vec::new();
        let mut string = |key: &str, value: String| {
            if !value.is_empty() {
                fields.push((key.to_owned(), Json::Str(value)));
            }
        };
        string("name", self.name);
        string("mode", self.mode);
        string("host_ip", self.host_ip);
        if self.target != 0 {
            fields.push(("target".to_owned(), Json::Int(i128::from(self.target))));
        }
        let mut string = |key: &str, value: String| {
            if !value.is_empty() {
                fields.push((key.to_owned(), Json::Str(value)));
            }
        };
        string("published", self.published);
        string("protocol", self.protocol);
        string("app_protocol", self.app_protocol);
        Json::Obj(fields)
    }
}

/// The short port syntax as go-connections `nat.ParsePortSpecs` reads it
/// (`[ip:][published:]target[/protocol]`, ranges expanded one entry per
/// port), entries ordered by their `port/proto` key as strings, which is how
/// compose-go sorts them (`types.ParsePortConfig`).
fn parse_port_spec(spec: &str) -> Option<Vec<Port>> {
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((rest, protocol)) => (rest, protocol),
        None => (spec, "tcp"),
    };
    if !matches!(protocol, "tcp" | "udp" | "sctp") {
        return None;
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let n = parts.len();
    let (ip, published, target) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let ip = if ip.starts_with('[') {
        ip.strip_prefix('[')?.strip_suffix(']')?.to_owned()
    } else {
        if ip.contains(':') {
            return None;
        }
        ip
    };
    if !ip.is_empty()
        && !ip.contains(':')
        && ip.split('.').filter(|p| p.parse::<u8>().is_ok()).count() != 4
    {
        return None;
    }
    let range = |text: &str| -> Option<(u16, u16)> {
        let number = |t: &str| -> Option<u16> {
            if t.is_empty()
                || !t.bytes().all(|b| b.is_ascii_digit())
                || (t.len() > 1 && t.starts_with('0'))
            {
                return None;
            }
            t.parse().ok()
        };
        match text.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                (a <= b).then_some((a, b))
            }
            None => number(text).map(|a| (a, a)),
        }
    };
    let (start, end) = range(target)?;
    if start == 0 {
        return None;
    }
    let mut bindings = Vec::new();
    if published.is_empty() {
        for port in start..=end {
            bindings.push((port, String::new()));
        }
    } else {
        let (host_start, host_end) = range(published)?;
        if start == end {
            bindings.push((start, published.to_owned()));
        } else if host_end - host_start == end - start {
            for (offset, port) in (start..=end).enumerate() {
                let host = host_start + u16::try_from(offset).ok()?;
                bindings.push((port, host.to_string()));
            }
        } else {
            return None;
        }
    }
    bindings.sort_by_key(|(port, _)| format!("{port}/{protocol}"));
    Some(
        bindings
            .into_iter()
            .map(|(target, published)| Port {
                mode: "ingress".to_owned(),
                host_ip: ip.clone(),
                target,
                published,
                protocol: protocol.to_owned(),
                ..Port::default()
            })
            .collect(),
    )
}

/// A `ServiceVolumeConfig` (`type` is `kind`).
#[derive(Debug, Default, Clone, PartialEq)]
struct Mount {
    kind: String,
    source: String,
    target: String,
    read_only: bool,
    bind: Option<Bind>,
    volume: Option<VolumeOptions>,
    tmpfs: Option<Tmpfs>,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Bind {
    selinux: String,
    propagation: String,
    create_host_path: bool,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct VolumeOptions {
    nocopy: bool,
    subpath: String,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Tmpfs {
    size: i128,
    mode: u32,
}

impl Mount {
    fn into_json(self) -> Json {
        let mut fields = Vec::new();
        for (key, value) in [
            ("type", self.kind),
            ("source", self.source),
            ("target", self.target),
        ] {
            if !value.is_empty() {
                fields.push((key.to_owned(), Json::Str(value)));
            }
        }
        if self.read_only {
            fields.push(("read_only".to_owned(), Json::Bool(true)));
        }
        if let Some(bind) = self.bind {
            let mut obj = Vec::new();
            if !bind.selinux.is_empty() {
                obj.push(("selinux".to_owned(), Json::Str(bind.selinux)));
            }
            if !bind.propagation.is_empty() {
                obj.push(("propagation".to_owned(), Json::Str(bind.propagation)));
            }
            if bind.create_host_path {
                obj.push(("create_host_path".to_owned(), Json::Bool(true)));
            }
            fields.push(("bind".to_owned(), Json::Obj(obj)));
        }
        if let Some(volume) = self.volume {
            let mut obj = Vec::new();
            if volume.nocopy {
                obj.push(("nocopy".to_owned(), Json::Bool(true)));
            }
            if !volume.subpath.is_empty() {
                obj.push(("subpath".to_owned(), Json::Str(volume.subpath)));
            }
            fields.push(("volume".to_owned(), Json::Obj(obj)));
        }
        if let Some(tmpfs) = self.tmpfs {
            let mut obj = Vec::new();
            if tmpfs.size != 0 {
                obj.push(("size".to_owned(), Json::Str(tmpfs.size.to_string())));
            }
            if tmpfs.mode != 0 {
                obj.push(("mode".to_owned(), Json::Int(i128::from(tmpfs.mode))));
            }
            fields.push(("tmpfs".to_owned(), Json::Obj(obj)));
        }
        Json::Obj(fields)
    }
}

/// compose-go's `format.ParseVolume` for the subset swab accepts:
/// `[source:]target[:options]` with options `ro`, `rw`, `nocopy` (named
/// volumes), `z`, `Z` and propagation modes (binds). A source starting with
/// `.`, `/` or `~` is a bind mount (with `create_host_path`), any other is a
/// named volume (with an empty `volume: {}`).
fn parse_volume_spec(spec: &str) -> Result<Mount, &'static str> {
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err("an empty section between colons");
    }
    let (source, target, options) = match parts.as_slice() {
        [target] => ("", *target, ""),
        [source, target] => (*source, *target, ""),
        [source, target, options] => (*source, *target, *options),
        _ => return Err("too many colons"),
    };
    if source.len() == 1 && source.chars().all(char::is_alphabetic) {
        return Err("a one-letter source, which compose-go reads as a Windows drive");
    }
    let is_path = source.starts_with(['.', '/', '~']);
    let mut volume = Mount {
        kind: if is_path { "bind" } else { "volume" }.to_owned(),
        source: source.to_owned(),
        target: target.to_owned(),
        ..Mount::default()
    };
    let mut bind = Bind {
        create_host_path: true,
        ..Bind::default()
    };
    let mut options_set = VolumeOptions::default();
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => volume.read_only = true,
            "rw" => volume.read_only = false,
            "nocopy" if !is_path => options_set.nocopy = true,
            "z" | "Z" if is_path => option.clone_into(&mut bind.selinux),
            "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave" if is_path => {
                option.clone_into(&mut bind.propagation);
            }
            _ => return Err("a volume option swab does not support"),
        }
    }
    if is_path {
        volume.bind = Some(bind);
    } else {
        volume.volume = Some(options_set);
    }
    Ok(volume)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WD: &str = "/srv/app";

    fn json(yaml: &str) -> Result<String, Unsupported> {
        let files = [ComposeFile {
            path: "compose.yaml",
            text: yaml,
        }];
        let project = Project {
            name: "app",
            working_dir: WD,
            files: &files,
        };
        service_json(&project, "web", "img:2")
    }

    fn service(body: &str) -> String {
        format!("services:\n  web:\n    image: img:1\n{body}")
    }

    /// Expected JSON transcribed from `docker-compose config --format json`
    /// (Compose 2.40.3) for the same service, reordered the way
    /// `json.Marshal` writes it.
    #[test]
    #[expect(clippy::too_many_lines, reason = "a table of cases")]
    fn reconstructs_each_supported_key() {
        let base = r#""command":null,"entrypoint":null"#;
        let net = r#""networks":{"default":null}"#;
        let cases: Vec<(&str, String)> = vec![
            ("", format!(r#"{{{base},"image":"img:2",{net}}}"#)),
            (
                "    command: sh -c 'echo \"hi there\" && sleep 3' x\\ y\n",
                format!(
                    r#"{{"command":["sh","-c","echo \"hi there\" \u0026\u0026 sleep 3","x y"],"entrypoint":null,"image":"img:2",{net}}}"#
                ),
            ),
            (
                "    entrypoint: [\"/bin/sh\", \"-c\"]\n    command: []\n",
                format!(r#"{{"command":[],"entrypoint":["/bin/sh","-c"],"image":"img:2",{net}}}"#),
            ),
            (
                "    environment:\n      - FOO=bar\n      - EMPTY=\n      - NOVAL\n      - NUM=1\n",
                format!(
                    r#"{{{base},"environment":{{"EMPTY":"","FOO":"bar","NOVAL":null,"NUM":"1"}},"image":"img:2",{net}}}"#
                ),
            ),
            (
                "    environment:\n      A: 1\n      B: true\n      C:\n      D: \"x\"\n",
                format!(
                    r#"{{{base},"environment":{{"A":"1","B":"true","C":null,"D":"x"}},"image":"img:2",{net}}}"#
                ),
            ),
            (
                "    labels:\n      a: b\n      n: 1\n      t: true\n      z:\n",
                format!(
                    r#"{{{base},"image":"img:2","labels":{{"a":"b","n":"1","t":"true","z":""}},{net}}}"#
                ),
            ),
            (
                "    labels: [\"a=b\", \"c\", \"d=e=f\"]\n",
                format!(
                    r#"{{{base},"image":"img:2","labels":{{"a":"b","c":"","d":"e=f"}},{net}}}"#
                ),
            ),
            (
                "    container_name: c1\n    hostname: h\n    user: \"1000:1000\"\n    working_dir: /app\n    restart: always\n    stop_signal: SIGINT\n    stop_grace_period: 1m30s\n",
                format!(
                    r#"{{"command":null,"container_name":"c1","entrypoint":null,"hostname":"h","image":"img:2",{net},"restart":"always","stop_grace_period":"1m30s","stop_signal":"SIGINT","user":"1000:1000","working_dir":"/app"}}"#
                ),
            ),
            (
                "    network_mode: none\n",
                format!(r#"{{{base},"image":"img:2","network_mode":"none"}}"#),
            ),
            (
                "    networks: {}\n",
                format!(r#"{{{base},"image":"img:2",{net}}}"#),
            ),
            (
                "    networks:\n      front:\n        aliases: [x, y]\n      back:\n",
                format!(
                    r#"{{{base},"image":"img:2","networks":{{"back":null,"front":{{"aliases":["x","y"]}}}}}}"#
                ),
            ),
            (
                "    ports:\n      - \"8080:80\"\n      - 443\n      - \"127.0.0.1:9000-9001:9000-9001/udp\"\n      - target: 81\n        published: \"8081\"\n        mode: host\n      - \"[::1]:8082:82\"\n",
                format!(
                    r#"{{{base},"image":"img:2",{net},"ports":[{{"mode":"ingress","target":80,"published":"8080","protocol":"tcp"}},{{"mode":"ingress","target":443,"protocol":"tcp"}},{{"mode":"ingress","host_ip":"127.0.0.1","target":9000,"published":"9000","protocol":"udp"}},{{"mode":"ingress","host_ip":"127.0.0.1","target":9001,"published":"9001","protocol":"udp"}},{{"mode":"host","target":81,"published":"8081","protocol":"tcp"}},{{"mode":"ingress","host_ip":"::1","target":82,"published":"8082","protocol":"tcp"}}]}}"#
                ),
            ),
            (
                "    volumes:\n      - data:/data\n      - ./rel:/rel:ro\n      - /abs:/abs\n      - ./y:/y:z\n      - data2:/d2:nocopy\n      - type: bind\n        source: ../up\n        target: /up\n      - type: volume\n        source: data\n        target: /long\n        read_only: true\n      - type: tmpfs\n        target: /t\n        tmpfs:\n          size: 1000\n",
                format!(
                    r#"{{{base},"image":"img:2",{net},"volumes":[{{"type":"volume","source":"data","target":"/data","volume":{{}}}},{{"type":"bind","source":"/srv/app/rel","target":"/rel","read_only":true,"bind":{{"create_host_path":true}}}},{{"type":"bind","source":"/abs","target":"/abs","bind":{{"create_host_path":true}}}},{{"type":"bind","source":"/srv/app/y","target":"/y","bind":{{"selinux":"z","create_host_path":true}}}},{{"type":"volume","source":"data2","target":"/d2","volume":{{"nocopy":true}}}},{{"type":"bind","source":"/srv/up","target":"/up"}},{{"type":"volume","source":"data","target":"/long","read_only":true}},{{"type":"tmpfs","target":"/t","tmpfs":{{"size":"1000"}}}}]}}"#
                ),
            ),
            (
                "    healthcheck:\n      test: curl -f http://localhost\n      interval: 30s\n      timeout: 10s\n      retries: 3\n      start_period: 5s\n",
                format!(
                    r#"{{{base},"healthcheck":{{"test":["CMD-SHELL","curl -f http://localhost"],"timeout":"10s","interval":"30s","retries":3,"start_period":"5s"}},"image":"img:2",{net}}}"#
                ),
            ),
            (
                "    healthcheck:\n      disable: true\n",
                format!(r#"{{{base},"healthcheck":{{"disable":true}},"image":"img:2",{net}}}"#),
            ),
            (
                "    depends_on: [db]\n    tty: true\n    stdin_open: true\n    init: false\n    read_only: true\n",
                format!(
                    r#"{{{base},"image":"img:2","init":false,{net},"read_only":true,"stdin_open":true,"tty":true}}"#
                ),
            ),
            (
                "    cap_add: [NET_ADMIN]\n    cap_drop: [ALL]\n    dns: 8.8.8.8\n    tmpfs: [/a, /b]\n",
                format!(
                    r#"{{"cap_add":["NET_ADMIN"],"cap_drop":["ALL"],"command":null,"dns":["8.8.8.8"],"entrypoint":null,"image":"img:2",{net},"tmpfs":["/a","/b"]}}"#
                ),
            ),
            (
                "    extra_hosts:\n      - \"somehost:162.242.195.82\"\n      - \"other=1.2.3.4\"\n",
                format!(
                    r#"{{{base},"extra_hosts":["other=1.2.3.4","somehost=162.242.195.82"],"image":"img:2",{net}}}"#
                ),
            ),
            (
                "    extra_hosts:\n      h1: 1.2.3.4\n      h2: [\"5.6.7.8\", \"::1\"]\n",
                format!(
                    r#"{{{base},"extra_hosts":["h1=1.2.3.4","h2=5.6.7.8","h2=::1"],"image":"img:2",{net}}}"#
                ),
            ),
            (
                "    ulimits:\n      nproc: 65535\n      core: 0\n      nofile:\n        soft: 20000\n        hard: 40000\n",
                format!(
                    r#"{{{base},"image":"img:2",{net},"ulimits":{{"core":{{}},"nofile":{{"soft":20000,"hard":40000}},"nproc":65535}}}}"#
                ),
            ),
            (
                "    logging:\n      driver: json-file\n      options:\n        max-size: \"10m\"\n        max-file: 3\n",
                format!(
                    r#"{{{base},"image":"img:2","logging":{{"driver":"json-file","options":{{"max-file":"3","max-size":"10m"}}}},{net}}}"#
                ),
            ),
            (
                "    deploy:\n      replicas: 2\n      resources:\n        limits:\n          cpus: '0.5'\n          memory: 50M\n",
                format!(
                    r#"{{"command":null,"deploy":{{"resources":{{"limits":{{"cpus":0.5,"memory":"52428800"}}}},"placement":{{}}}},"entrypoint":null,"image":"img:2",{net}}}"#
                ),
            ),
            (
                "    stop_grace_period: 1h\n",
                format!(r#"{{{base},"image":"img:2",{net},"stop_grace_period":"1h0m0s"}}"#),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(json(&service(body)).unwrap(), expected, "{body}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_reproduce() {
        let cases = [
            ("    environment:\n      A: ${X}\n", "environment.A"),
            ("    command: echo $HOME\n", "command"),
            ("    command: echo a && echo b\n", "command"),
            ("    build: .\n", "build"),
            ("    env_file: .env\n", "env_file"),
            ("    extends: other\n", "extends"),
            ("    cpu_count: 2\n", "cpu_count"),
            ("    environment:\n      A: 017\n", "environment.A"),
            ("    environment:\n      A: 1.5\n", "environment.A"),
            ("    labels:\n      a: 2001-12-14\n", "labels.a"),
            ("    volumes:\n      - ~/x:/x\n", "volumes[0]"),
            ("    volumes:\n      - data:/x:cached\n", "volumes[0]"),
            ("    stop_grace_period: 10\n", "stop_grace_period"),
        ];
        for (body, key) in cases {
            match json(&service(body)) {
                Err(Unsupported::Key { key: got, .. }) => assert_eq!(got, key, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        let anchors =
            "x-env: &env\n  A: b\nservices:\n  web:\n    image: i\n    environment: *env\n";
        assert!(matches!(json(anchors), Err(Unsupported::Key { key, .. }) if key == "environment"));
        let merge = "x-env: &env\n  image: i\nservices:\n  web:\n    <<: *env\n";
        assert!(matches!(json(merge), Err(Unsupported::Key { key, .. }) if key == "<<"));
    }

    #[test]
    fn dollar_escapes_become_dollars() {
        let got = json(&service("    command: echo $$HOME\n")).unwrap();
        assert!(got.starts_with(r#"{"command":["echo","$HOME"]"#), "{got}");
    }

    #[test]
    fn hash_is_sha256_of_the_json() {
        // Verified against Compose 2.40.3: `config --hash` of this service.
        let files = [ComposeFile {
            path: "a.yml",
            text: "services:\n  db:\n    image: postgres\n    networks: [back]\nnetworks:\n  back:\n",
        }];
        let project = Project {
            name: "p",
            working_dir: "/tmp",
            files: &files,
        };
        assert_eq!(
            service_hash(&project, "db", "postgres").unwrap(),
            "1431ebaced68f0eedc1ea7f2cf7fe63b57dd655ee1158a625f51e30efee93b9d"
        );
    }

    #[test]
    fn multiple_files() {
        let files = [
            ComposeFile {
                path: "a.yml",
                text: "services:\n  web:\n    image: a\n",
            },
            ComposeFile {
                path: "b.yml",
                text: "services:\n  db:\n    image: b\n",
            },
        ];
        let project = Project {
            name: "p",
            working_dir: "/tmp",
            files: &files,
        };
        assert!(service_json(&project, "db", "b").is_ok());
        let files = [
            files[0],
            ComposeFile {
                path: "b.yml",
                text: "services:\n  web:\n    tty: true\n",
            },
        ];
        let project = Project {
            name: "p",
            working_dir: "/tmp",
            files: &files,
        };
        assert!(matches!(
            service_json(&project, "web", "a"),
            Err(Unsupported::Merged { .. })
        ));
        assert!(matches!(
            service_json(&project, "nope", "a"),
            Err(Unsupported::MissingService { .. })
        ));
    }

    #[test]
    fn durations_like_go() {
        let cases = [
            ("90s", "1m30s"),
            ("1h", "1h0m0s"),
            ("1.5s", "1.5s"),
            ("500ms", "500ms"),
            ("1m", "1m0s"),
            ("0", "0s"),
            ("2us", "2µs"),
            ("1d", "24h0m0s"),
            ("1h30m", "1h30m0s"),
            ("10ns", "10ns"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_duration(input).map(go_duration_string).as_deref(),
                Some(expected),
                "{input}"
            );
        }
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("-1s"), None);
    }

    #[test]
    fn sizes_like_go_units() {
        let cases = [
            ("1000", 1000),
            ("50M", 52_428_800),
            ("1g", 1_073_741_824),
            ("10m", 10_485_760),
            ("2 KiB", 2048),
            ("3kb", 3072),
        ];
        for (input, expected) in cases {
            assert_eq!(ram_in_bytes(input), Some(expected), "{input}");
        }
        assert_eq!(ram_in_bytes("1.5g"), None);
        assert_eq!(ram_in_bytes("x"), None);
    }

    #[test]
    fn go_yaml_numbers() {
        for s in [
            "1",
            "017",
            "0x10",
            "1_000",
            "1.5",
            ".5",
            "+1",
            "1e3",
            "0b11",
            "0o7",
            ".inf",
            "2001-12-14",
        ] {
            assert!(go_yaml_reads_as_non_string(s), "{s}");
        }
        for s in ["1.25.1", "nginx", "1a", "-", "1.2.3.4", "8080:80", "v1", ""] {
            assert!(!go_yaml_reads_as_non_string(s), "{s}");
        }
    }
}
