//! Comparing two container inspects field by field: what a recreated container must keep.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// What may differ between a container and its replacement on a new image, with why; the
/// fields of `network` (the one user network the tests attach) included. Callers add what
/// their scenario changes on top (e.g. `Config.Image` when the reference itself changes).
pub fn replacement_differences(network: &str) -> Vec<String> {
    [
        // identity and lifetime
        "/Id",
        "/Created",
        "/State/",
        "/RestartCount",
        "/ExecIDs",
        // the image, and what the daemon derived from the new image's config
        "/Image",
        // containerd image store (API 1.48+): the descriptor of the image's manifest
        "/ImageManifestDescriptor/",
        "/Config/Env",
        "/Config/Cmd",
        "/Path",
        "/Args",
        "/Config/Labels/from",
        // per-container files and layers, named after the ID
        "/ResolvConfPath",
        "/HostnamePath",
        "/HostsPath",
        "/LogPath",
        "/GraphDriver/",
        // default hostname is the short ID
        "/Config/Hostname",
        // the anonymous volume is now bound by name; Docker reports the default relabel mode
        // `z` for volumes given by name (only meaningful under SELinux, where named volumes
        // get it too)
        "/HostConfig/Binds",
        "/Mounts//data/Mode",
        // runtime network state: sandbox, endpoint, assigned address, MAC, random host port
        "/NetworkSettings/SandboxID",
        "/NetworkSettings/SandboxKey",
        "/NetworkSettings/Ports/",
        "/NetworkSettings/Networks/{net}/EndpointID",
        "/NetworkSettings/Networks/{net}/IPAddress",
        "/NetworkSettings/Networks/{net}/MacAddress",
    ]
    .iter()
    .map(|p| p.replace("{net}", network))
    .collect()
}

/// `path -> scalar` for every leaf of an inspect; an empty object or list is a leaf too
/// (so `{"/data": {}}` turning into `{}` or `null` shows). `Mounts` is keyed by
/// destination, since its order is not meaningful.
pub fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) if map.is_empty() => {
            out.insert(prefix.to_owned(), value.clone());
        }
        Value::Array(items) if items.is_empty() => {
            out.insert(prefix.to_owned(), value.clone());
        }
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}/{k}"), v, out);
            }
        }
        Value::Array(items) if prefix == "/Mounts" => {
            for m in items {
                let dest = m["Destination"].as_str().unwrap();
                flatten(&format!("{prefix}/{dest}"), m, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}/{i}"), v, out);
            }
        }
        leaf => {
            out.insert(prefix.to_owned(), leaf.clone());
        }
    }
}

/// The inspect without the automatic network alias and DNS name that are the container's
/// own short ID (each container has its own), with those lists sorted.
pub fn without_own_short_id(inspect: &Value) -> Value {
    let mut value = inspect.clone();
    let short = inspect["Id"].as_str().unwrap()[..12].to_owned();
    if let Some(networks) = value["NetworkSettings"]["Networks"].as_object_mut() {
        for endpoint in networks.values_mut() {
            for key in ["Aliases", "DNSNames"] {
                if let Some(list) = endpoint.get_mut(key).and_then(Value::as_array_mut) {
                    list.retain(|a| a.as_str() != Some(short.as_str()));
                    list.sort_by_key(ToString::to_string);
                }
            }
        }
    }
    value
}

/// The paths where two inspects differ that no entry of `allowed` covers (an entry
/// ending in `/` covers itself and everything below it; any entry covers its
/// sub-paths), and the allowed entries that did differ.
pub fn differences(
    old: &Value,
    new: &Value,
    allowed: &[String],
) -> (Vec<String>, BTreeSet<String>) {
    let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &without_own_short_id(old), &mut before);
    flatten("", &without_own_short_id(new), &mut after);
    let paths: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut unexpected = Vec::new();
    let mut differing = BTreeSet::new();
    for path in paths {
        if before.get(path) == after.get(path) {
            continue;
        }
        let covered = allowed.iter().find(|p| {
            path == *p
                || path == p.trim_end_matches('/')
                || (p.ends_with('/') && path.starts_with(p.as_str()))
                || path.starts_with(&format!("{p}/"))
        });
        match covered {
            Some(p) => {
                differing.insert(p.clone());
            }
            None => unexpected.push(format!(
                "{path}: {:?} -> {:?}",
                before.get(path),
                after.get(path)
            )),
        }
    }
    (unexpected, differing)
}
