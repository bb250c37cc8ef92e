//! The create request for a container's replacement, derived from the old container.
//!
//! `update` keeps a container on the newest image for its tag by recreating it. Doing that
//! naively (copy `Config` and `HostConfig`, swap `Image`) is how other tools lose data and
//! behaviour: the old image's `Entrypoint`, `Cmd` and `Env` get frozen into the new
//! container, anonymous volumes are replaced by fresh empty ones, and the automatic network
//! alias and hostname of the old container are pinned onto the new one.
//!
//! [`create_body`] is pure: it takes the old container's raw inspect and the old image's
//! `Config`, and returns a [`CreateSpec`] for `POST /containers/create`. The daemon merges the
//! new image's config into whatever the body leaves unset, so the rule throughout is: keep what
//! the user set, leave unset what came from the old image. A value equal to the old image's
//! is taken to be image-derived; when a user set exactly the image's value, the two cannot be
//! told apart, and following the new image is the better guess for an update.
//!
//! Orchestration (stop, rename, create, start, health, rollback) is the caller's.

use serde_json::{Map, Value};
use swab_docker::ApiVersion;

/// From this API version, the MAC address is set per endpoint (`EndpointSettings.MacAddress`);
/// before it, only container-wide through `Config.MacAddress`, which API 1.52 dropped.
const ENDPOINT_MAC_ADDRESS: ApiVersion = ApiVersion::new(1, 44);

/// What the orchestrator needs to create the replacement container.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateSpec {
    /// The old container's name without the leading `/`: the replacement takes it over once
    /// the old one is renamed out of the way.
    pub name: String,
    /// The body for `POST /containers/create`. Every `Config` and `HostConfig` field this code
    /// does not know is carried over verbatim.
    pub body: Value,
    /// Anonymous volumes re-attached by name. The old container must therefore be removed
    /// without `v=true`, or Docker would try to delete volumes the new container uses.
    pub anonymous_volumes: Vec<AnonymousVolume>,
    /// The networks in `NetworkingConfig.EndpointsConfig`, the primary one (named by
    /// `HostConfig.NetworkMode`) first. Before API 1.44 only one can be given at create;
    /// `Docker::create_container` connects the others itself.
    pub networks: Vec<String>,
    /// The MAC address the user pinned, if one could be recognised as user-set. Where it went
    /// depends on the API version (see [`create_body`]).
    pub mac_address: Option<String>,
}

/// An anonymous volume of the old container, re-attached by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymousVolume {
    /// The volume's name (64 hex digits).
    pub name: String,
    /// Where it is mounted.
    pub destination: String,
}

/// The inspect data does not have the shape the Engine API specifies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecreateError {
    /// A field the derivation cannot do without is absent or null.
    #[error("{field} is missing")]
    Missing {
        /// Path of the field, e.g. `HostConfig`.
        field: String,
    },
    /// A field has another JSON type than the API specifies.
    #[error("{field} should be {expected}")]
    WrongType {
        /// Path of the field, e.g. `Config.Env`.
        field: String,
        /// What the spec says it is.
        expected: &'static str,
    },
}

type Result<T> = std::result::Result<T, RecreateError>;

/// Derives the replacement's create request.
///
/// - `old`: the raw `GET /containers/{id}/json` of the container to replace;
/// - `old_image`: the `Config` object of the image the old container was created from
///   (`null` is read as an empty config). Only the old image is needed: the daemon merges
///   the new image's config into the body at create;
/// - `new_reference`: the image reference for the replacement;
/// - `api`: the negotiated API version, which decides where a user-set MAC address goes.
///
/// # Errors
///
/// [`RecreateError`] when a field is missing (`Id`, `Name`, `Config`, `HostConfig`) or
/// has another type than the Engine API specifies. Unknown fields are never an error.
pub fn create_body(
    old: &Value,
    old_image: &Value,
    new_reference: &str,
    api: ApiVersion,
) -> Result<CreateSpec> {
    let old = object(old, "container inspect")?.ok_or_else(|| missing("container inspect"))?;
    let image = object(old_image, "image Config")?
        .cloned()
        .unwrap_or_default();
    let id = required_str(old, "Id")?;
    let short_id = id.get(..12).unwrap_or(id);
    let name = required_str(old, "Name")?
        .trim_start_matches('/')
        .to_owned();
    if name.is_empty() {
        return Err(missing("Name"));
    }
    let mut config = object(old.get("Config").unwrap_or(&Value::Null), "Config")?
        .ok_or_else(|| missing("Config"))?
        .clone();
    let mut host = object(old.get("HostConfig").unwrap_or(&Value::Null), "HostConfig")?
        .ok_or_else(|| missing("HostConfig"))?
        .clone();

    let network_mode = optional_str(&host, "NetworkMode", "HostConfig.NetworkMode")?
        .unwrap_or("default")
        .to_owned();
    let container_mode = network_mode.starts_with("container:");

    config.insert("Image".to_owned(), Value::String(new_reference.to_owned()));
    hostname(&mut config, short_id, container_mode)?;
    env(&mut config, &image)?;
    labels(&mut config, &image)?;
    command(&mut config, &image)?;
    for field in ["ExposedPorts", "Volumes"] {
        key_set_difference(&mut config, &image, field)?;
    }
    for field in ["User", "WorkingDir", "StopSignal", "StopTimeout", "Shell"] {
        drop_if_image_value(&mut config, &image, field);
    }
    healthcheck(&mut config, &image)?;
    // ONBUILD triggers only mean something when building on top of an image.
    config.remove("OnBuild");
    let mac_address = optional_str(&config, "MacAddress", "Config.MacAddress")?
        .filter(|mac| !mac.is_empty())
        .map(str::to_owned);
    if api >= ENDPOINT_MAC_ADDRESS || mac_address.is_none() {
        config.remove("MacAddress");
    }

    host_config(&mut host)?;
    let anonymous_volumes = anonymous_volumes(old, &image, &mut host)?;

    let (endpoints, networks) = endpoints(
        old,
        &network_mode,
        short_id,
        mac_address
            .as_deref()
            .filter(|_| api >= ENDPOINT_MAC_ADDRESS),
    )?;

    let mut body = config;
    body.insert("HostConfig".to_owned(), Value::Object(host));
    if !endpoints.is_empty() {
        let mut networking = Map::new();
        networking.insert("EndpointsConfig".to_owned(), Value::Object(endpoints));
        body.insert("NetworkingConfig".to_owned(), Value::Object(networking));
    }
    Ok(CreateSpec {
        name,
        body: Value::Object(body),
        anonymous_volumes,
        networks,
        mac_address,
    })
}

/// Docker sets `Hostname` to the short ID when none is given, and in `container:<x>` network
/// mode copies the other container's name into it (and the create would fail with one set).
/// Only a hostname that is neither is the user's. In `host` mode Docker fills in the host's
/// hostname when none is given; that cannot be told from a user-set one and is kept (which
/// pins the host's name as it was when the old container was created).
fn hostname(config: &mut Map<String, Value>, short_id: &str, container_mode: bool) -> Result<()> {
    let hostname = optional_str(config, "Hostname", "Config.Hostname")?.unwrap_or("");
    if container_mode || hostname.is_empty() || hostname == short_id {
        config.remove("Hostname");
    }
    let domainname = optional_str(config, "Domainname", "Config.Domainname")?.unwrap_or("");
    if container_mode || domainname.is_empty() {
        config.remove("Domainname");
    }
    Ok(())
}

/// Docker builds the container's `Env` from the user's entries plus the image's for keys the
/// user did not set. An entry identical to one of the old image's is the image's: drop it, so
/// the new image supplies its own value. Anything else (an extra variable, or an override of
/// an image variable) is the user's and is kept, overriding the new image.
fn env(config: &mut Map<String, Value>, image: &Map<String, Value>) -> Result<()> {
    let Some(env) = string_array(config, "Env", "Config.Env")? else {
        return Ok(());
    };
    let image_env = string_array(image, "Env", "image Config.Env")?.unwrap_or_default();
    let user: Vec<Value> = env
        .into_iter()
        .filter(|entry| !image_env.contains(entry))
        .map(Value::String)
        .collect();
    if user.is_empty() {
        config.remove("Env");
    } else {
        config.insert("Env".to_owned(), Value::Array(user));
    }
    Ok(())
}

/// Docker adds the image's labels to the container's where the container has no such key. A
/// label equal (key and value) to an old image label is the image's: drop it so the new
/// image's labels apply. If the user set exactly the image's value and the new image drops
/// the label, it is lost; the two cases look the same.
fn labels(config: &mut Map<String, Value>, image: &Map<String, Value>) -> Result<()> {
    let Some(labels) = object(
        config.get("Labels").unwrap_or(&Value::Null),
        "Config.Labels",
    )?
    .cloned() else {
        return Ok(());
    };
    let image_labels = object(
        image.get("Labels").unwrap_or(&Value::Null),
        "image Config.Labels",
    )?
    .cloned()
    .unwrap_or_default();
    let user: Map<String, Value> = labels
        .into_iter()
        .filter(|(key, value)| image_labels.get(key) != Some(value))
        .collect();
    if user.is_empty() {
        config.remove("Labels");
    } else {
        config.insert("Labels".to_owned(), Value::Object(user));
    }
    Ok(())
}

/// Docker's merge at create: when the request has no (or an empty) `Entrypoint`, the image's
/// `Entrypoint` applies, and the image's `Cmd` too if the request has no `Cmd`; a request
/// that sets an `Entrypoint` gets none of the image's `Cmd`.
///
/// So the `Entrypoint` came from the image when it equals the old image's, unless the
/// container has no `Cmd` although the image has one: with an image entrypoint, Docker would
/// have filled in the image's `Cmd`, so the user must have passed the entrypoint (and it is
/// kept, which also keeps the new image's `Cmd` out). The `Cmd` came from the image when the
/// entrypoint did and it equals the old image's `Cmd`. With a user entrypoint, the `Cmd` is
/// always the user's, even when it equals the image's, because Docker did not merge it.
/// `ArgsEscaped` (Windows) travels with the command it describes.
fn command(config: &mut Map<String, Value>, image: &Map<String, Value>) -> Result<()> {
    let entrypoint = string_array(config, "Entrypoint", "Config.Entrypoint")?.unwrap_or_default();
    let cmd = string_array(config, "Cmd", "Config.Cmd")?.unwrap_or_default();
    let image_entrypoint =
        string_array(image, "Entrypoint", "image Config.Entrypoint")?.unwrap_or_default();
    let image_cmd = string_array(image, "Cmd", "image Config.Cmd")?.unwrap_or_default();

    let user_entrypoint = entrypoint != image_entrypoint
        || (!entrypoint.is_empty() && cmd.is_empty() && !image_cmd.is_empty());
    let user_cmd = user_entrypoint || cmd != image_cmd;
    if !user_entrypoint {
        config.remove("Entrypoint");
    }
    if !user_cmd || cmd.is_empty() {
        config.remove("Cmd");
    }
    if !user_entrypoint && !user_cmd {
        config.remove("ArgsEscaped");
    }
    Ok(())
}

/// `ExposedPorts` and `Volumes` are sets (objects with empty values) that Docker unions with
/// the image's. Keys the old image also has are the image's; the rest are the user's.
fn key_set_difference(
    config: &mut Map<String, Value>,
    image: &Map<String, Value>,
    field: &str,
) -> Result<()> {
    let Some(set) = object(
        config.get(field).unwrap_or(&Value::Null),
        &format!("Config.{field}"),
    )?
    .cloned() else {
        return Ok(());
    };
    let image_set = object(
        image.get(field).unwrap_or(&Value::Null),
        &format!("image Config.{field}"),
    )?
    .cloned()
    .unwrap_or_default();
    let user: Map<String, Value> = set
        .into_iter()
        .filter(|(key, _)| !image_set.contains_key(key))
        .collect();
    if user.is_empty() {
        config.remove(field);
    } else {
        config.insert(field.to_owned(), Value::Object(user));
    }
    Ok(())
}

/// Scalars the daemon takes from the image when the request leaves them empty: equal to the
/// old image's (absent, null and `""` being the same) means image-derived.
fn drop_if_image_value(config: &mut Map<String, Value>, image: &Map<String, Value>, field: &str) {
    let is_empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    };
    let value = config.get(field);
    let image_value = image.get(field);
    // An empty container value with a non-empty image value cannot come from Docker's merge;
    // either way the container had nothing of its own to keep.
    if is_empty(value) || value == image_value {
        config.remove(field);
    }
}

/// Docker fills each unset (empty or zero) `Healthcheck` field from the image's. Fields equal
/// to the old image's are dropped so the new image's apply; the user's own fields (a
/// different `Test`, `["NONE"]` to disable, a different interval) are kept.
fn healthcheck(config: &mut Map<String, Value>, image: &Map<String, Value>) -> Result<()> {
    let Some(check) = object(
        config.get("Healthcheck").unwrap_or(&Value::Null),
        "Config.Healthcheck",
    )?
    .cloned() else {
        config.remove("Healthcheck");
        return Ok(());
    };
    let image_check = object(
        image.get("Healthcheck").unwrap_or(&Value::Null),
        "image Config.Healthcheck",
    )?
    .cloned()
    .unwrap_or_default();
    let user: Map<String, Value> = check
        .into_iter()
        .filter(|(key, value)| image_check.get(key) != Some(value))
        .collect();
    if user.is_empty() {
        config.remove("Healthcheck");
    } else {
        config.insert("Healthcheck".to_owned(), Value::Object(user));
    }
    Ok(())
}

/// `HostConfig` is the user's (images have none), so it is copied whole, except:
/// - `ContainerIDFile`: the CLI's own bookkeeping, naming a file that holds the old ID;
/// - `MaskedPaths` / `ReadonlyPaths`: inspect reports the daemon's defaults, which would then
///   be frozen; they are dropped so the daemon's current defaults apply. An empty list is kept:
///   that is `--security-opt systempaths=unconfined`. A custom list set through the API is
///   indistinguishable from the defaults and is replaced by them.
fn host_config(host: &mut Map<String, Value>) -> Result<()> {
    host.remove("ContainerIDFile");
    for field in ["MaskedPaths", "ReadonlyPaths"] {
        let keep = match host.get(field) {
            None | Some(Value::Null) => false,
            Some(Value::Array(paths)) => paths.is_empty(),
            Some(_) => {
                return Err(wrong_type(format!("HostConfig.{field}"), "an array"));
            }
        };
        if !keep {
            host.remove(field);
        }
    }
    Ok(())
}

/// Re-attaches the old container's anonymous volumes by name, where they were declared:
/// a `HostConfig.Mounts` volume entry without `Source` gets the name as `Source`; a `Binds`
/// entry without a source (`/data` or `/data:ro`) becomes `name:/data[:ro]`; a path from
/// `Config.Volumes` (the user's `-v /data`, or the old image's `VOLUME`) gets a
/// `name:/path` bind. Binding the path means the daemon creates no fresh anonymous volume for
/// it. Volumes mounted through `VolumesFrom` are not declared by this container and stay
/// with `VolumesFrom`.
fn anonymous_volumes(
    old: &Map<String, Value>,
    image: &Map<String, Value>,
    host: &mut Map<String, Value>,
) -> Result<Vec<AnonymousVolume>> {
    let mounts = match old.get("Mounts") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(mounts)) => mounts,
        Some(_) => return Err(wrong_type("Mounts", "an array")),
    };
    // The paths this container declared as volumes: its own `Config.Volumes` as inspected
    // (the user's `-v /path` plus the image's `VOLUME`s) and the old image's.
    let mut declared: Vec<String> = Vec::new();
    let own = match old.get("Config") {
        Some(Value::Object(config)) => config.get("Volumes").unwrap_or(&Value::Null),
        _ => &Value::Null,
    };
    for (volumes, what) in [
        (own, "Config.Volumes"),
        (
            image.get("Volumes").unwrap_or(&Value::Null),
            "image Config.Volumes",
        ),
    ] {
        if let Some(volumes) = object(volumes, what)? {
            declared.extend(volumes.keys().cloned());
        }
    }

    let mut found = Vec::new();
    for (i, mount) in mounts.iter().enumerate() {
        let what = format!("Mounts[{i}]");
        let mount = object(mount, &what)?.ok_or_else(|| missing(&what))?;
        if optional_str(mount, "Type", &format!("{what}.Type"))? != Some("volume") {
            continue;
        }
        let name = optional_str(mount, "Name", &format!("{what}.Name"))?.unwrap_or("");
        if !is_anonymous_name(name) {
            continue;
        }
        let destination =
            optional_str(mount, "Destination", &format!("{what}.Destination"))?.unwrap_or("");
        if destination.is_empty() {
            return Err(missing(&format!("{what}.Destination")));
        }
        let read_only = mount.get("RW") == Some(&Value::Bool(false));
        if attach(host, name, destination, read_only, &declared)? {
            found.push(AnonymousVolume {
                name: name.to_owned(),
                destination: destination.to_owned(),
            });
        }
    }
    Ok(found)
}

/// Points the declaration of `destination` at the volume `name`; false when this container
/// did not declare it anonymously (a named volume or bind, or `VolumesFrom`).
fn attach(
    host: &mut Map<String, Value>,
    name: &str,
    destination: &str,
    read_only: bool,
    declared: &[String],
) -> Result<bool> {
    if let Some(Value::Array(mounts)) = host.get_mut("Mounts") {
        for (i, mount) in mounts.iter_mut().enumerate() {
            let what = format!("HostConfig.Mounts[{i}]");
            let Value::Object(mount) = mount else {
                return Err(wrong_type(what, "an object"));
            };
            if mount.get("Target").and_then(Value::as_str) != Some(destination) {
                continue;
            }
            let anonymous = mount.get("Type").and_then(Value::as_str) == Some("volume")
                && mount
                    .get("Source")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty);
            if anonymous {
                mount.insert("Source".to_owned(), Value::String(name.to_owned()));
            }
            return Ok(anonymous);
        }
    }
    let binds = match host.get_mut("Binds") {
        None | Some(Value::Null) => None,
        Some(Value::Array(binds)) => Some(binds),
        Some(_) => return Err(wrong_type("HostConfig.Binds", "an array")),
    };
    if let Some(binds) = binds {
        for (i, bind) in binds.iter_mut().enumerate() {
            let spec = bind
                .as_str()
                .ok_or_else(|| wrong_type(format!("HostConfig.Binds[{i}]"), "a string"))?;
            let parts: Vec<&str> = spec.split(':').collect();
            let (anonymous, mode) = match parts.as_slice() {
                [dest] if *dest == destination => (true, None),
                [dest, mode] if *dest == destination && is_mode(mode) => (true, Some(*mode)),
                [_, dest] | [_, dest, _] if *dest == destination => (false, None),
                _ => continue,
            };
            if anonymous {
                let mut new = format!("{name}:{destination}");
                if let Some(mode) = mode {
                    new = format!("{new}:{mode}");
                }
                *bind = Value::String(new);
            }
            return Ok(anonymous);
        }
    }
    if !declared.iter().any(|path| path == destination) {
        return Ok(false);
    }
    let mut bind = format!("{name}:{destination}");
    if read_only {
        bind.push_str(":ro");
    }
    match host.get_mut("Binds") {
        Some(Value::Array(binds)) => binds.push(Value::String(bind)),
        _ => {
            host.insert("Binds".to_owned(), Value::Array(vec![Value::String(bind)]));
        }
    }
    Ok(true)
}

/// Bind/volume mode options as Docker's Linux parser accepts them after a destination.
fn is_mode(mode: &str) -> bool {
    mode.split(',').all(|option| {
        matches!(
            option,
            "ro" | "rw"
                | "z"
                | "Z"
                | "nocopy"
                | "private"
                | "rprivate"
                | "shared"
                | "rshared"
                | "slave"
                | "rslave"
        )
    })
}

/// Docker names anonymous volumes with a random 256-bit ID in hex.
fn is_anonymous_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `NetworkingConfig.EndpointsConfig` from `NetworkSettings.Networks`, keeping only the
/// user-settable fields: `Aliases` (without the automatic short-ID alias, which Docker adds
/// for the new container itself), `IPAMConfig` (static addresses), `Links`, `DriverOpts`,
/// `GwPriority`. Runtime fields (`NetworkID`, `EndpointID`, `IPAddress`, `Gateway`,
/// `DNSNames`, ...) are left out. An endpoint `MacAddress` is the assigned one unless the user
/// pinned it; inspect cannot tell, so the only MAC kept is `Config.MacAddress` (`mac`), on the
/// primary network. `host`, `none` and `container:<x>` modes have no endpoints.
fn endpoints(
    old: &Map<String, Value>,
    network_mode: &str,
    short_id: &str,
    mac: Option<&str>,
) -> Result<(Map<String, Value>, Vec<String>)> {
    let mut endpoints = Map::new();
    let mut names = Vec::new();
    if matches!(network_mode, "host" | "none") || network_mode.starts_with("container:") {
        return Ok((endpoints, names));
    }
    let settings = object(
        old.get("NetworkSettings").unwrap_or(&Value::Null),
        "NetworkSettings",
    )?;
    let Some(networks) = settings
        .map(|s| {
            object(
                s.get("Networks").unwrap_or(&Value::Null),
                "NetworkSettings.Networks",
            )
        })
        .transpose()?
        .flatten()
    else {
        return Ok((endpoints, names));
    };
    let primary_name = if network_mode == "default" {
        "bridge"
    } else {
        network_mode
    };
    for (network, endpoint) in networks {
        let what = format!("NetworkSettings.Networks.{network}");
        let endpoint = object(endpoint, &what)?.cloned().unwrap_or_default();
        let mut out = Map::new();
        if let Some(aliases) = string_array(&endpoint, "Aliases", &format!("{what}.Aliases"))? {
            let aliases: Vec<Value> = aliases
                .into_iter()
                .filter(|alias| !alias.is_empty() && alias != short_id)
                .map(Value::String)
                .collect();
            if !aliases.is_empty() {
                out.insert("Aliases".to_owned(), Value::Array(aliases));
            }
        }
        if let Some(ipam) = object(
            endpoint.get("IPAMConfig").unwrap_or(&Value::Null),
            &format!("{what}.IPAMConfig"),
        )? {
            let ipam: Map<String, Value> = ipam
                .iter()
                .filter(|(_, v)| !is_empty_value(v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !ipam.is_empty() {
                out.insert("IPAMConfig".to_owned(), Value::Object(ipam));
            }
        }
        for field in ["Links", "DriverOpts", "GwPriority"] {
            if let Some(value) = endpoint.get(field).filter(|v| !is_empty_value(v)) {
                out.insert(field.to_owned(), value.clone());
            }
        }
        let id = endpoint
            .get("NetworkID")
            .and_then(Value::as_str)
            .unwrap_or("");
        let primary = network == primary_name || (!network_mode.is_empty() && id == network_mode);
        if primary {
            if let Some(mac) = mac {
                out.insert("MacAddress".to_owned(), Value::String(mac.to_owned()));
            }
            names.insert(0, network.clone());
        } else {
            names.push(network.clone());
        }
        endpoints.insert(network.clone(), Value::Object(out));
    }
    Ok((endpoints, names))
}

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(_) => false,
    }
}

fn missing(field: &str) -> RecreateError {
    RecreateError::Missing {
        field: field.to_owned(),
    }
}

fn wrong_type(field: impl Into<String>, expected: &'static str) -> RecreateError {
    RecreateError::WrongType {
        field: field.into(),
        expected,
    }
}

/// An object, or `None` for null; anything else is a type error.
fn object<'a>(value: &'a Value, what: &str) -> Result<Option<&'a Map<String, Value>>> {
    match value {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(Some(map)),
        _ => Err(wrong_type(what, "an object")),
    }
}

fn required_str<'a>(map: &'a Map<String, Value>, field: &str) -> Result<&'a str> {
    optional_str(map, field, field)?.ok_or_else(|| missing(field))
}

fn optional_str<'a>(
    map: &'a Map<String, Value>,
    field: &str,
    what: &str,
) -> Result<Option<&'a str>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong_type(what, "a string")),
    }
}

/// An array of strings; `null` or absent is `None`.
fn string_array(map: &Map<String, Value>, field: &str, what: &str) -> Result<Option<Vec<String>>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| wrong_type(what, "an array of strings"))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => Err(wrong_type(what, "an array of strings")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ID: &str = "0123456789ab0123456789ab0123456789ab0123456789ab0123456789abcdef";
    const SHORT: &str = "0123456789ab";
    const ANON: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const ANON2: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const OLD_API: ApiVersion = ApiVersion::new(1, 41);
    const NEW_API: ApiVersion = ApiVersion::new(1, 44);

    /// The old image's `Config`, as `GET /images/{name}/json` reports it.
    fn image() -> Value {
        json!({
            "Env": ["PATH=/usr/bin:/bin", "A=1", "B=2"],
            "Cmd": ["serve", "--port", "80"],
            "Entrypoint": ["/entry.sh"],
            "Labels": {"from": "image", "version": "1"},
            "ExposedPorts": {"80/tcp": {}},
            "Volumes": {"/var/lib/app": {}},
            "WorkingDir": "/app",
            "User": "app",
            "StopSignal": "SIGQUIT",
            "Healthcheck": {"Test": ["CMD", "/check"], "Interval": 30_000_000_000_i64},
            "OnBuild": ["RUN true"]
        })
    }

    /// A container created from [`image`] by
    /// `docker run -e B=user -e C=3 -l owner=me -v /data -v named:/named -v /host:/host:ro
    ///  -p 127.0.0.1:8080:80 --restart unless-stopped --network app --network-alias web
    ///  --cap-add NET_ADMIN --ip 10.1.0.5 --name web img`, as a Docker 20.10 inspect shows it.
    fn inspect() -> Value {
        json!({
            "Id": ID,
            "Name": "/web",
            "Image": "sha256:1111",
            "State": {"Status": "exited"},
            "Config": {
                "Hostname": SHORT,
                "Domainname": "",
                "User": "app",
                "AttachStdin": false,
                "AttachStdout": false,
                "AttachStderr": false,
                "ExposedPorts": {"80/tcp": {}},
                "Tty": true,
                "OpenStdin": true,
                "StdinOnce": false,
                "Env": ["B=user", "C=3", "PATH=/usr/bin:/bin", "A=1"],
                "Cmd": ["serve", "--port", "80"],
                "Healthcheck": {"Test": ["CMD", "/check"], "Interval": 30_000_000_000_i64},
                "Image": "img:latest",
                "Volumes": {"/data": {}, "/var/lib/app": {}},
                "WorkingDir": "/app",
                "Entrypoint": ["/entry.sh"],
                "OnBuild": null,
                "Labels": {"from": "image", "version": "1", "owner": "me"},
                "StopSignal": "SIGQUIT",
                "FutureField": {"kept": true}
            },
            "HostConfig": {
                "Binds": ["named:/named", "/host:/host:ro"],
                "ContainerIDFile": "/tmp/web.cid",
                "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}},
                "NetworkMode": "app",
                "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
                "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
                "AutoRemove": false,
                "CapAdd": ["NET_ADMIN"],
                "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                "Memory": 268_435_456,
                "Tmpfs": {"/run": "size=1m"},
                "SecurityOpt": ["no-new-privileges"],
                "MaskedPaths": ["/proc/kcore", "/proc/keys"],
                "ReadonlyPaths": ["/proc/bus", "/proc/sys"],
                "FutureHostField": 7
            },
            "Mounts": [
                {"Type": "volume", "Name": ANON, "Source": "/var/lib/docker/volumes/a/_data",
                 "Destination": "/data", "Driver": "local", "Mode": "", "RW": true},
                {"Type": "volume", "Name": ANON2, "Source": "/var/lib/docker/volumes/b/_data",
                 "Destination": "/var/lib/app", "Driver": "local", "Mode": "", "RW": true},
                {"Type": "volume", "Name": "named", "Source": "/var/lib/docker/volumes/named/_data",
                 "Destination": "/named", "Driver": "local", "Mode": "z", "RW": true},
                {"Type": "bind", "Source": "/host", "Destination": "/host", "Mode": "ro", "RW": false}
            ],
            "NetworkSettings": {
                "Networks": {
                    "app": {
                        "IPAMConfig": {"IPv4Address": "10.1.0.5"},
                        "Links": null,
                        "Aliases": ["web", SHORT],
                        "NetworkID": "net1",
                        "EndpointID": "ep1",
                        "Gateway": "10.1.0.1",
                        "IPAddress": "10.1.0.5",
                        "IPPrefixLen": 24,
                        "IPv6Gateway": "",
                        "GlobalIPv6Address": "",
                        "GlobalIPv6PrefixLen": 0,
                        "MacAddress": "02:42:0a:01:00:05",
                        "DriverOpts": null
                    }
                }
            }
        })
    }

    fn derive(old: &Value) -> CreateSpec {
        create_body(old, &image(), "img:v2", OLD_API).unwrap()
    }

    /// Sets the field at `pointer`, adding it when only the last segment is new.
    fn set(value: &mut Value, pointer: &str, new: Value) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = value.pointer_mut(parent).unwrap();
        match parent {
            Value::Object(map) => {
                map.insert(key.to_owned(), new);
            }
            Value::Array(items) => items[key.parse::<usize>().unwrap()] = new,
            _ => panic!("{pointer}: parent is neither object nor array"),
        }
    }

    #[test]
    fn image_is_the_new_reference_and_the_name_loses_its_slash() {
        let spec = derive(&inspect());
        assert_eq!(spec.body["Image"], "img:v2");
        assert_eq!(spec.name, "web");
    }

    #[test]
    fn host_config_is_copied_whole_except_runtime_and_default_fields() {
        let old = inspect();
        let spec = derive(&old);
        let host = spec.body["HostConfig"].as_object().unwrap();
        for field in [
            "LogConfig",
            "NetworkMode",
            "PortBindings",
            "RestartPolicy",
            "AutoRemove",
            "CapAdd",
            "Ulimits",
            "Memory",
            "Tmpfs",
            "SecurityOpt",
            "FutureHostField",
        ] {
            assert_eq!(host[field], old["HostConfig"][field], "{field}");
        }
        assert_eq!(
            host["PortBindings"]["80/tcp"][0]["HostIp"], "127.0.0.1",
            "the host IP of a published port survives"
        );
        for dropped in ["ContainerIDFile", "MaskedPaths", "ReadonlyPaths"] {
            assert!(!host.contains_key(dropped), "{dropped}");
        }
    }

    #[test]
    fn empty_masked_paths_mean_unconfined_and_are_kept() {
        let mut old = inspect();
        set(&mut old, "/HostConfig/MaskedPaths", json!([]));
        set(&mut old, "/HostConfig/ReadonlyPaths", json!(null));
        let spec = derive(&old);
        assert_eq!(spec.body["HostConfig"]["MaskedPaths"], json!([]));
        assert!(spec.body["HostConfig"].get("ReadonlyPaths").is_none());
    }

    #[test]
    fn anonymous_volumes_are_bound_by_name_and_named_ones_stay() {
        let spec = derive(&inspect());
        assert_eq!(
            spec.body["HostConfig"]["Binds"],
            json!([
                "named:/named",
                "/host:/host:ro",
                format!("{ANON}:/data"),
                format!("{ANON2}:/var/lib/app"),
            ])
        );
        assert_eq!(
            spec.anonymous_volumes,
            vec![
                AnonymousVolume {
                    name: ANON.into(),
                    destination: "/data".into()
                },
                AnonymousVolume {
                    name: ANON2.into(),
                    destination: "/var/lib/app".into()
                },
            ]
        );
        // The user's `-v /data` stays declared (it is bound by name, so no fresh volume);
        // the image's VOLUME is left to the new image.
        assert_eq!(spec.body["Volumes"], json!({"/data": {}}));
    }

    #[test]
    fn anonymous_volume_without_binds_creates_the_binds_list() {
        let mut old = inspect();
        set(&mut old, "/HostConfig/Binds", json!(null));
        let mounts = old["Mounts"].as_array().unwrap()[..2].to_vec();
        set(&mut old, "/Mounts", Value::Array(mounts));
        let spec = derive(&old);
        assert_eq!(
            spec.body["HostConfig"]["Binds"],
            json!([format!("{ANON}:/data"), format!("{ANON2}:/var/lib/app")])
        );
    }

    #[test]
    fn read_only_anonymous_volume_stays_read_only() {
        let mut old = inspect();
        set(&mut old, "/Mounts/0/RW", json!(false));
        let spec = derive(&old);
        assert!(
            spec.body["HostConfig"]["Binds"]
                .as_array()
                .unwrap()
                .contains(&json!(format!("{ANON}:/data:ro")))
        );
    }

    #[test]
    fn anonymous_mount_entry_gets_the_volume_name_as_source() {
        let mut old = inspect();
        set(&mut old, "/Config/Volumes", json!({"/var/lib/app": {}}));
        set(
            &mut old,
            "/HostConfig/Mounts",
            json!([{"Type": "volume", "Target": "/data", "VolumeOptions": {}}]),
        );
        let spec = derive(&old);
        assert_eq!(
            spec.body["HostConfig"]["Mounts"],
            json!([{"Type": "volume", "Target": "/data", "Source": ANON, "VolumeOptions": {}}])
        );
        let binds = spec.body["HostConfig"]["Binds"].as_array().unwrap();
        assert!(
            !binds
                .iter()
                .any(|b| b.as_str().unwrap().ends_with(":/data"))
        );
        assert_eq!(spec.anonymous_volumes.len(), 2);
    }

    #[test]
    fn anonymous_bind_entry_with_mode_is_rewritten_in_place() {
        let mut old = inspect();
        set(&mut old, "/Config/Volumes", json!({"/var/lib/app": {}}));
        set(
            &mut old,
            "/HostConfig/Binds",
            json!(["/data:ro", "named:/named"]),
        );
        let spec = derive(&old);
        assert_eq!(
            spec.body["HostConfig"]["Binds"],
            json!([
                format!("{ANON}:/data:ro"),
                "named:/named",
                format!("{ANON2}:/var/lib/app")
            ])
        );
    }

    #[test]
    fn volumes_from_another_container_are_not_rebound() {
        let mut old = inspect();
        set(&mut old, "/Config/Volumes", json!({"/var/lib/app": {}}));
        set(&mut old, "/HostConfig/VolumesFrom", json!(["other"]));
        let spec = derive(&old);
        assert_eq!(
            spec.anonymous_volumes.len(),
            1,
            "{:?}",
            spec.anonymous_volumes
        );
        assert_eq!(spec.anonymous_volumes[0].destination, "/var/lib/app");
        assert_eq!(spec.body["HostConfig"]["VolumesFrom"], json!(["other"]));
    }

    #[test]
    fn a_named_volume_with_a_hex_name_is_not_anonymous() {
        let mut old = inspect();
        set(
            &mut old,
            "/HostConfig/Binds/0",
            json!(format!("{ANON}:/data")),
        );
        let spec = derive(&old);
        let binds = spec.body["HostConfig"]["Binds"].as_array().unwrap();
        assert_eq!(
            binds
                .iter()
                .filter(|b| b.as_str().unwrap().ends_with(":/data"))
                .count(),
            1
        );
        assert!(spec.anonymous_volumes.iter().all(|v| v.name != ANON));
    }

    #[test]
    fn endpoints_keep_user_settings_only() {
        let mut old = inspect();
        set(
            &mut old,
            "/NetworkSettings/Networks/app/Links",
            json!(["db:database"]),
        );
        set(
            &mut old,
            "/NetworkSettings/Networks/app/DriverOpts",
            json!({"com.example.opt": "x"}),
        );
        let spec = derive(&old);
        assert_eq!(
            spec.body["NetworkingConfig"],
            json!({"EndpointsConfig": {"app": {
                "Aliases": ["web"],
                "IPAMConfig": {"IPv4Address": "10.1.0.5"},
                "Links": ["db:database"],
                "DriverOpts": {"com.example.opt": "x"}
            }}})
        );
        assert_eq!(spec.networks, vec!["app".to_owned()]);
        assert_eq!(spec.mac_address, None);
    }

    #[test]
    fn primary_network_comes_first() {
        let mut old = inspect();
        set(&mut old, "/HostConfig/NetworkMode", json!("net1"));
        let app = old["NetworkSettings"]["Networks"]["app"].clone();
        old["NetworkSettings"]["Networks"]["aaa-other"] =
            json!({"Aliases": [SHORT], "NetworkID": "net0", "IPAddress": "10.2.0.2"});
        old["NetworkSettings"]["Networks"]["app"] = app;
        let spec = derive(&old);
        assert_eq!(
            spec.networks,
            vec!["app".to_owned(), "aaa-other".to_owned()]
        );
        assert_eq!(
            spec.body["NetworkingConfig"]["EndpointsConfig"]["aaa-other"],
            json!({})
        );
    }

    #[test]
    fn host_none_and_container_modes_have_no_endpoints() {
        for mode in ["host", "none", "container:abc"] {
            let mut old = inspect();
            set(&mut old, "/HostConfig/NetworkMode", json!(mode));
            set(&mut old, "/Config/Hostname", json!("other-host"));
            set(&mut old, "/Config/Domainname", json!("example.org"));
            let spec = derive(&old);
            assert!(spec.body.get("NetworkingConfig").is_none(), "{mode}");
            assert!(spec.networks.is_empty(), "{mode}");
            let container_mode = mode.starts_with("container:");
            assert_eq!(
                spec.body.get("Hostname").is_none(),
                container_mode,
                "{mode}: in container mode the hostname is the other container's"
            );
            assert_eq!(
                spec.body.get("Domainname").is_none(),
                container_mode,
                "{mode}"
            );
        }
    }

    #[test]
    fn default_mode_uses_the_bridge_endpoint_without_the_short_id_alias() {
        let mut old = inspect();
        set(&mut old, "/HostConfig/NetworkMode", json!("default"));
        let mut bridge = old["NetworkSettings"]["Networks"]["app"].clone();
        bridge["Aliases"] = json!(null);
        bridge["IPAMConfig"] = json!(null);
        old["NetworkSettings"]["Networks"] = json!({"bridge": bridge});
        let spec = derive(&old);
        assert_eq!(
            spec.body["NetworkingConfig"],
            json!({"EndpointsConfig": {"bridge": {}}})
        );
    }

    #[test]
    fn assigned_mac_addresses_are_not_copied() {
        for api in [OLD_API, NEW_API] {
            let spec = create_body(&inspect(), &image(), "img:v2", api).unwrap();
            assert!(spec.body.get("MacAddress").is_none());
            assert!(
                spec.body["NetworkingConfig"]["EndpointsConfig"]["app"]
                    .get("MacAddress")
                    .is_none()
            );
            assert_eq!(spec.mac_address, None);
        }
    }

    #[test]
    fn user_mac_address_goes_where_the_api_version_wants_it() {
        let mut old = inspect();
        old["Config"]["MacAddress"] = json!("02:00:00:00:00:01");
        let spec = create_body(&old, &image(), "img:v2", OLD_API).unwrap();
        assert_eq!(spec.body["MacAddress"], "02:00:00:00:00:01");
        assert!(
            spec.body["NetworkingConfig"]["EndpointsConfig"]["app"]
                .get("MacAddress")
                .is_none()
        );
        let spec = create_body(&old, &image(), "img:v2", NEW_API).unwrap();
        assert!(spec.body.get("MacAddress").is_none());
        assert_eq!(
            spec.body["NetworkingConfig"]["EndpointsConfig"]["app"]["MacAddress"],
            "02:00:00:00:00:01"
        );
        assert_eq!(spec.mac_address.as_deref(), Some("02:00:00:00:00:01"));
    }

    #[test]
    fn hostname_is_kept_only_when_not_the_short_id() {
        let spec = derive(&inspect());
        assert!(spec.body.get("Hostname").is_none());
        assert!(spec.body.get("Domainname").is_none());
        let mut old = inspect();
        set(&mut old, "/Config/Hostname", json!("web-1"));
        set(&mut old, "/Config/Domainname", json!("example.org"));
        let spec = derive(&old);
        assert_eq!(spec.body["Hostname"], "web-1");
        assert_eq!(spec.body["Domainname"], "example.org");
    }

    #[test]
    fn env_keeps_user_entries_and_overrides_only() {
        let spec = derive(&inspect());
        assert_eq!(spec.body["Env"], json!(["B=user", "C=3"]));
        let mut old = inspect();
        set(
            &mut old,
            "/Config/Env",
            json!(["PATH=/usr/bin:/bin", "A=1", "B=2"]),
        );
        assert!(derive(&old).body.get("Env").is_none());
    }

    #[test]
    fn labels_equal_to_the_old_image_are_dropped() {
        let mut old = inspect();
        set(&mut old, "/Config/Labels/version", json!("pinned"));
        let spec = derive(&old);
        assert_eq!(
            spec.body["Labels"],
            json!({"owner": "me", "version": "pinned"})
        );
    }

    #[test]
    fn entrypoint_and_cmd_follow_dockers_merge() {
        let image_cmd = json!(["serve", "--port", "80"]);
        // (container Entrypoint, container Cmd) -> (body Entrypoint, body Cmd)
        let cases = [
            // both from the image: the new image's apply
            (json!(["/entry.sh"]), image_cmd.clone(), None, None),
            // `docker run img other args`: the user's Cmd with the image's entrypoint
            (
                json!(["/entry.sh"]),
                json!(["other"]),
                None,
                Some(json!(["other"])),
            ),
            // `--entrypoint /bin/sh img -c x`: both the user's
            (
                json!(["/bin/sh"]),
                json!(["-c", "x"]),
                Some(json!(["/bin/sh"])),
                Some(json!(["-c", "x"])),
            ),
            // `--entrypoint /bin/sh img`: Docker did not take the image Cmd
            (
                json!(["/bin/sh"]),
                json!(null),
                Some(json!(["/bin/sh"])),
                None,
            ),
            // a user entrypoint's Cmd is the user's even when equal to the image's
            (
                json!(["/bin/sh"]),
                image_cmd.clone(),
                Some(json!(["/bin/sh"])),
                Some(image_cmd.clone()),
            ),
            // `--entrypoint /entry.sh img`: same entrypoint, but an image entrypoint
            // would have brought the image Cmd, so the user passed it
            (
                json!(["/entry.sh"]),
                json!(null),
                Some(json!(["/entry.sh"])),
                None,
            ),
            // `--entrypoint ""`: cleared on purpose, and kept cleared
            (
                json!([""]),
                image_cmd.clone(),
                Some(json!([""])),
                Some(image_cmd),
            ),
        ];
        for (entrypoint, cmd, want_entrypoint, want_cmd) in cases {
            let mut old = inspect();
            set(&mut old, "/Config/Entrypoint", entrypoint.clone());
            set(&mut old, "/Config/Cmd", cmd.clone());
            let spec = derive(&old);
            assert_eq!(
                spec.body.get("Entrypoint").cloned(),
                want_entrypoint,
                "{entrypoint} {cmd}"
            );
            assert_eq!(
                spec.body.get("Cmd").cloned(),
                want_cmd,
                "{entrypoint} {cmd}"
            );
        }
    }

    #[test]
    fn args_escaped_travels_with_the_command() {
        let mut old = inspect();
        old["Config"]["ArgsEscaped"] = json!(true);
        assert!(derive(&old).body.get("ArgsEscaped").is_none());
        set(&mut old, "/Config/Cmd", json!(["other"]));
        assert_eq!(derive(&old).body["ArgsEscaped"], true);
    }

    #[test]
    fn image_without_entrypoint_treats_a_null_one_as_the_images() {
        let image = json!({"Cmd": ["sh"]});
        let mut old = inspect();
        set(&mut old, "/Config/Entrypoint", json!(null));
        set(&mut old, "/Config/Cmd", json!(["sh"]));
        let spec = create_body(&old, &image, "img:v2", OLD_API).unwrap();
        assert!(spec.body.get("Entrypoint").is_none());
        assert!(spec.body.get("Cmd").is_none());
    }

    #[test]
    fn image_defaults_are_left_to_the_new_image() {
        let spec = derive(&inspect());
        for field in ["User", "WorkingDir", "StopSignal", "Healthcheck", "OnBuild"] {
            assert!(spec.body.get(field).is_none(), "{field}");
        }
        assert!(spec.body.get("ExposedPorts").is_none());
        for field in [
            "Tty",
            "OpenStdin",
            "StdinOnce",
            "AttachStdout",
            "FutureField",
        ] {
            assert_eq!(spec.body[field], inspect()["Config"][field], "{field}");
        }
    }

    #[test]
    fn user_values_differing_from_the_image_are_kept() {
        let mut old = inspect();
        set(&mut old, "/Config/User", json!("root"));
        set(&mut old, "/Config/WorkingDir", json!("/srv"));
        set(&mut old, "/Config/StopSignal", json!("SIGTERM"));
        old["Config"]["StopTimeout"] = json!(30);
        set(
            &mut old,
            "/Config/ExposedPorts",
            json!({"80/tcp": {}, "9000/udp": {}}),
        );
        set(
            &mut old,
            "/Config/Healthcheck",
            json!({"Test": ["CMD", "/check"], "Interval": 5_000_000_000_i64}),
        );
        let spec = derive(&old);
        assert_eq!(spec.body["User"], "root");
        assert_eq!(spec.body["WorkingDir"], "/srv");
        assert_eq!(spec.body["StopSignal"], "SIGTERM");
        assert_eq!(spec.body["StopTimeout"], 30);
        assert_eq!(spec.body["ExposedPorts"], json!({"9000/udp": {}}));
        // Only the user's interval: the new image's test command applies.
        assert_eq!(
            spec.body["Healthcheck"],
            json!({"Interval": 5_000_000_000_i64})
        );
        set(&mut old, "/Config/Healthcheck", json!({"Test": ["NONE"]}));
        assert_eq!(derive(&old).body["Healthcheck"], json!({"Test": ["NONE"]}));
    }

    #[test]
    fn null_image_config_keeps_everything_the_container_has() {
        let spec = create_body(&inspect(), &Value::Null, "img:v2", OLD_API).unwrap();
        assert_eq!(spec.body["Env"], inspect()["Config"]["Env"]);
        assert_eq!(spec.body["Cmd"], inspect()["Config"]["Cmd"]);
        assert_eq!(spec.body["Entrypoint"], inspect()["Config"]["Entrypoint"]);
        // Without the image, only the user's `-v /data` is known as declared.
        assert_eq!(spec.anonymous_volumes.len(), 2, "Config.Volumes has both");
    }

    #[test]
    fn missing_and_ill_typed_fields_are_named() {
        let cases: [(&str, Value, RecreateError); 7] = [
            ("/HostConfig", json!(null), missing("HostConfig")),
            ("/Config", json!(null), missing("Config")),
            ("/Id", json!(null), missing("Id")),
            ("/Name", json!("/"), missing("Name")),
            (
                "/Config/Env",
                json!("A=1"),
                wrong_type("Config.Env", "an array of strings"),
            ),
            ("/Mounts", json!({}), wrong_type("Mounts", "an array")),
            (
                "/NetworkSettings/Networks/app/Aliases",
                json!([1]),
                wrong_type(
                    "NetworkSettings.Networks.app.Aliases",
                    "an array of strings",
                ),
            ),
        ];
        for (pointer, value, want) in cases {
            let mut old = inspect();
            set(&mut old, pointer, value);
            assert_eq!(derive_err(&old, &image()), want, "{pointer}");
        }
        assert_eq!(
            derive_err(&inspect(), &json!([])),
            wrong_type("image Config", "an object")
        );
        assert_eq!(
            derive_err(&json!("junk"), &image()),
            wrong_type("container inspect", "an object")
        );
        assert_eq!(
            derive_err(&json!(null), &image()).to_string(),
            "container inspect is missing"
        );
    }

    fn derive_err(old: &Value, image: &Value) -> RecreateError {
        create_body(old, image, "img:v2", OLD_API).unwrap_err()
    }
}
