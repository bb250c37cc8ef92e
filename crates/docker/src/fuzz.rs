//! Property tests that throw arbitrary and near-valid input at everything this crate reads
//! from the daemon: the JSON models (and the helpers that interpret them: timestamps, disk
//! usage totals, names, image stores, API versions), the newline-delimited JSON stream reader
//! behind `/events` and pulls, and the exec output demultiplexer.
//!
//! A janitor talks to whatever answers on the socket: a daemon of another version, a socket
//! proxy, a half-written answer after a crash. Whatever comes back must decode to a value or
//! fail with an [`Error`], never panic and take the run down with it. The near-valid inputs
//! start from realistic daemon answers and damage them (wrong types, nulls, extreme numbers,
//! deep nesting, odd timestamps, truncation, invalid UTF-8), because that is where decoding
//! code has branches; arbitrary bytes alone rarely get past the first brace.
//!
//! The runs are deterministic for CI: a fixed seed and 256 cases per property unless
//! `PROPTEST_RNG_SEED` or `PROPTEST_CASES` say otherwise (see [`config`]), and no failure
//! persistence files are written into the checkout. Properties live in the crate (not in
//! `tests/`) because the disk usage normalisation is crate-private.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{FutureExt as _, StreamExt as _, stream};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, RngSeed};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::exec::{Demux, ExecInspect};
use crate::models::{
    BuildCachePruned, ContainerConfig, ContainerInspect, ContainerSummary, ContainersPruned,
    CreatedContainer, CreatedNetwork, DistributionInspect, EndpointSettings, Event,
    ImageDeleteItem, ImageInspect, ImageSummary, ImagesPruned, Info, Network, NetworksPruned,
    PullProgress, RawDiskUsage, Version, Volume, VolumeList, VolumesPruned, WaitResponse,
    from_unix, parse_timestamp,
};
use crate::stream::{DEFAULT_MAX_LINE, LineSplitter, json_lines};
use crate::transport::ByteStream;
use crate::{ApiVersion, Error, split_reference};

/// The seed CI runs with, so a failure there reproduces on any machine.
const SEED: u64 = 0x5357_4142_4655_5a5a;

/// 256 cases from [`SEED`], no persistence files; `PROPTEST_CASES` and `PROPTEST_RNG_SEED`
/// override the count and the seed for a longer or different exploration. XorShift, because
/// ChaCha (proptest's other seeded generator) costs more than the tests themselves in an
/// unoptimized build.
fn config() -> ProptestConfig {
    let env = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            env.cases
        } else {
            256
        },
        rng_algorithm: RngAlgorithm::XorShift,
        rng_seed: match env.rng_seed {
            RngSeed::Random => RngSeed::Fixed(SEED),
            fixed @ RngSeed::Fixed(_) => fixed,
        },
        failure_persistence: None,
        ..env
    }
}

/// Realistic answers, one per model, from Docker 20.10 to 29 (trimmed): what the mutations
/// start from, so that damage lands inside the nested structures the models read.
const FIXTURES: &[(&str, &str)] = &[
    (
        "version",
        r#"{"Version":"28.5.1","ApiVersion":"1.51","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64","KernelVersion":"6.8.0"}"#,
    ),
    (
        "info",
        r#"{"Name":"host","ServerVersion":"28.5.1","Containers":3,"ContainersRunning":1,"ContainersPaused":0,"ContainersStopped":2,"Images":7,"Driver":"overlayfs","DriverStatus":[["driver-type","io.containerd.snapshotter.v1"]],"DockerRootDir":"/var/lib/docker","OperatingSystem":"Ubuntu","OSType":"linux","Architecture":"x86_64","KernelVersion":"6.8.0","NCPU":2,"MemTotal":8000000000}"#,
    ),
    (
        "containers",
        r#"[{"Id":"abc","Names":["/web"],"Image":"nginx:1.25","ImageID":"sha256:1","Command":"nginx -g","Created":1700000000,"State":"exited","Status":"Exited (0) 3 hours ago","Labels":{"a":"b"},"SizeRw":12,"Mounts":[{"Type":"volume","Name":"v","Source":"/s","Destination":"/d","Driver":"local","RW":true}],"NetworkSettings":{"Networks":{"bridge":{"Aliases":null,"NetworkID":"n1","IPAddress":"172.17.0.2","MacAddress":"02:42","IPAMConfig":null}}},"HostConfig":{"NetworkMode":"bridge"}}]"#,
    ),
    (
        "container_inspect",
        r#"{"Id":"abc","Name":"/web","Created":"2026-11-22T11:16:30.416107434Z","Image":"sha256:1","State":{"Status":"exited","Running":false,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"ExitCode":137,"Error":"","StartedAt":"2026-11-22T11:16:31.1Z","FinishedAt":"2026-11-22T12:16:30.416107434+01:00","Health":{"Status":"unhealthy","FailingStreak":3,"Log":[{"ExitCode":1,"Output":"curl: (7)"}]}},"Config":{"Image":"nginx:1.25","Cmd":["nginx"],"Entrypoint":null,"Env":["A=1"],"Labels":{"x":"y"},"User":"","WorkingDir":"/","StopSignal":"SIGQUIT","StopTimeout":10,"Healthcheck":{"Test":["CMD","true"]},"Tty":false},"HostConfig":{"RestartPolicy":{"Name":"always"}},"NetworkSettings":{"Networks":{"bridge":{"Aliases":["web"],"NetworkID":"n1","IPAddress":"172.17.0.2","MacAddress":"02:42","Links":null}}},"Mounts":[],"RestartCount":2}"#,
    ),
    (
        "images",
        r#"[{"Id":"sha256:1","ParentId":"","RepoTags":["nginx:1.25","<none>:<none>"],"RepoDigests":["nginx@sha256:2","<none>@<none>"],"Created":1700000000,"Size":190000000,"SharedSize":-1,"Labels":null,"Containers":-1,"Manifests":[{"ID":"sha256:3","Available":true,"Kind":"image"}]}]"#,
    ),
    (
        "image_inspect",
        r#"{"Id":"sha256:1","RepoTags":["nginx:1.25"],"RepoDigests":["nginx@sha256:2"],"Parent":"","Created":"2024-01-02T03:04:05.1-05:30","Config":{"Image":"","Cmd":["nginx"],"Labels":null,"ExposedPorts":{"80/tcp":{}}},"Architecture":"arm64","Variant":"v8","Os":"linux","Size":190000000,"Metadata":{"LastTagTime":"0001-01-01T00:00:00Z"}}"#,
    ),
    (
        "image_delete",
        r#"[{"Untagged":"nginx:1.25"},{"Deleted":"sha256:1"}]"#,
    ),
    (
        "pull_progress",
        r#"{"status":"Downloading","id":"a1","progress":"[==>  ]","progressDetail":{"current":1024,"total":4096},"error":null,"errorDetail":{"code":500,"message":"boom"}}"#,
    ),
    (
        "distribution",
        r#"{"Descriptor":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:4","size":1234},"Platforms":[{"architecture":"amd64","os":"linux"},{"architecture":"arm","os":"linux","variant":"v7"}]}"#,
    ),
    (
        "network",
        r#"{"Name":"n","Id":"n1","Created":"2026-01-01T00:00:00Z","Scope":"local","Driver":"bridge","Internal":false,"Labels":{},"Containers":{"abc":{"Name":"web","IPv4Address":"172.18.0.2/16"}}}"#,
    ),
    ("created_network", r#"{"Id":"n2","Warning":""}"#),
    (
        "volumes",
        r#"{"Volumes":[{"Name":"v","Driver":"local","Mountpoint":"/var/lib/docker/volumes/v/_data","CreatedAt":"2026-01-01T00:00:00+00:00","Labels":{"com.docker.volume.anonymous":""},"UsageData":{"Size":-1,"RefCount":-1}}],"Warnings":null}"#,
    ),
    (
        "system_df_old",
        r#"{"LayersSize":300,"Images":[{"Id":"a","Size":100,"SharedSize":0,"Containers":1},{"Id":"b","Size":200,"SharedSize":-1,"Containers":0}],"Containers":[{"Id":"c1","State":"running","SizeRw":5},{"Id":"c2","State":"exited","SizeRw":7}],"Volumes":[{"Name":"v","UsageData":{"Size":9,"RefCount":0}}],"BuildCache":[{"ID":"b1","Size":50,"InUse":false,"Shared":false,"LastUsedAt":"2026-01-01T00:00:00Z"}]}"#,
    ),
    (
        "system_df_new",
        r#"{"ImageUsage":{"ActiveCount":1,"TotalCount":4,"Reclaimable":12345678,"TotalSize":98765432,"Items":[{"Id":"a"}]},"ContainerUsage":{"ActiveCount":1,"TotalCount":2,"Reclaimable":10,"TotalSize":20},"VolumeUsage":{"ActiveCount":0,"TotalCount":0,"Reclaimable":0,"TotalSize":0,"Items":null},"BuildCacheUsage":{"ActiveCount":0,"TotalCount":1,"Reclaimable":5,"TotalSize":5}}"#,
    ),
    (
        "event",
        r#"{"Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"name":"web","image":"nginx:1.25","exitCode":"137"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}"#,
    ),
    (
        "containers_pruned",
        r#"{"ContainersDeleted":["abc"],"SpaceReclaimed":1024}"#,
    ),
    (
        "images_pruned",
        r#"{"ImagesDeleted":[{"Untagged":"x:1"},{"Deleted":"sha256:1"}],"SpaceReclaimed":18446744073709551615}"#,
    ),
    (
        "volumes_pruned",
        r#"{"VolumesDeleted":null,"SpaceReclaimed":0}"#,
    ),
    ("networks_pruned", r#"{"NetworksDeleted":["n"]}"#),
    (
        "build_cache_pruned",
        r#"{"CachesDeleted":["b1"],"SpaceReclaimed":50}"#,
    ),
    ("created_container", r#"{"Id":"abc","Warnings":null}"#),
    (
        "wait",
        r#"{"StatusCode":137,"Error":{"Message":"container rm'd"}}"#,
    ),
    ("exec_inspect", r#"{"Running":false,"ExitCode":0,"Pid":0}"#),
];

/// Keys the models read, for inserting where they may matter.
const KEYS: &[&str] = &[
    "Id",
    "Names",
    "Name",
    "Labels",
    "Created",
    "State",
    "Status",
    "StartedAt",
    "FinishedAt",
    "Health",
    "Log",
    "Config",
    "Cmd",
    "Networks",
    "Mounts",
    "RepoTags",
    "RepoDigests",
    "Size",
    "SharedSize",
    "SizeRw",
    "Containers",
    "LayersSize",
    "Images",
    "Volumes",
    "UsageData",
    "RefCount",
    "BuildCache",
    "InUse",
    "ImageUsage",
    "ImagesUsage",
    "Items",
    "Reclaimable",
    "DriverStatus",
    "Attributes",
    "timeNano",
    "progressDetail",
    "errorDetail",
    "Platforms",
    "Manifests",
];

/// JSON scalars with the awkward values: nulls, extreme and fractional numbers, text that
/// looks like a timestamp or a placeholder, long text.
fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(-1i64),
            Just(0i64),
            any::<i64>()
        ]
        .prop_map(Value::from),
        prop_oneof![Just(u64::MAX), any::<u64>()].prop_map(Value::from),
        prop_oneof![
            Just(1e308),
            Just(-1e308),
            Just(5e-324),
            Just(0.5),
            Just(-0.0),
            any::<f64>()
        ]
        .prop_map(Value::from),
        timestamp_text().prop_map(Value::String),
        prop_oneof![
            Just("<none>:<none>".to_owned()),
            Just("/".to_owned()),
            Just("running".to_owned()),
            Just("driver-type".to_owned()),
            Just("io.containerd.snapshotter.v1".to_owned()),
            "\\PC{0,20}",
            (0usize..5000).prop_map(|n| "x".repeat(n)),
        ]
        .prop_map(Value::String),
    ]
}

/// Arbitrary JSON a few levels deep, keys mostly the ones the models read.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        3 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => "\\PC{0,8}",
    ];
    json_scalar().prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value nested `depth` arrays deep: past serde_json's recursion limit at the deep end.
fn deep(depth: usize) -> Value {
    (0..depth).fold(Value::Null, |inner, _| Value::Array(vec![inner]))
}

/// Text shaped like the daemon's RFC 3339 timestamps, every part possibly out of range:
/// the zero time, fractions of any length, `Z`, no zone, or numeric offsets of any size.
fn timestamp_text() -> impl Strategy<Value = String> {
    let zone = prop_oneof![
        Just(String::new()),
        Just("Z".to_owned()),
        Just("+".to_owned()),
        Just("+:".to_owned()),
        Just("-:".to_owned()),
        (any::<bool>(), "[0-9]{1,20}", "[0-9]{0,20}")
            .prop_map(|(plus, h, m)| format!("{}{h}:{m}", if plus { '+' } else { '-' })),
        (any::<bool>(), 0u32..24, 0u32..60)
            .prop_map(|(plus, h, m)| format!("{}{h:02}:{m:02}", if plus { '+' } else { '-' })),
    ];
    (
        prop_oneof![
            Just(1u64),
            Just(1969),
            Just(1970),
            Just(2026),
            Just(9999),
            0u64..100_000
        ],
        0u32..14,
        0u32..33,
        0u32..26,
        0u32..61,
        0u32..62,
        prop_oneof![Just(String::new()), "\\.[0-9]{0,12}"],
        zone,
    )
        .prop_map(|(y, mo, d, h, mi, s, frac, zone)| {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{zone}")
        })
}

/// One change to a document: what to do at the node picked by the index.
#[derive(Debug, Clone)]
enum Edit {
    /// Replace the node.
    Replace(Value),
    /// Replace the node with arrays nested this deep.
    Deep(usize),
    /// Remove the `n`-th entry of an object or array (nothing for a scalar).
    Remove(usize),
    /// Add a key to an object or an element to an array (replaces a scalar).
    Insert(String, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => json_value().prop_map(Edit::Replace),
        1 => prop_oneof![1usize..20, 120usize..140, 500usize..600].prop_map(Edit::Deep),
        2 => any::<usize>().prop_map(Edit::Remove),
        2 => (proptest::sample::select(KEYS).prop_map(str::to_owned), json_value())
            .prop_map(|(k, v)| Edit::Insert(k, v)),
    ]
}

/// JSON pointers of every node of `value`, in document order.
fn pointers(value: &Value, at: &str, out: &mut Vec<String>) {
    out.push(at.to_owned());
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, &format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(v, &format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

fn apply(doc: &mut Value, at: usize, edit: Edit) {
    let mut all = Vec::new();
    pointers(doc, "", &mut all);
    let Some(node) = doc.pointer_mut(&all[at % all.len()]) else {
        return;
    };
    match (edit, node) {
        (Edit::Remove(n), Value::Object(map)) if !map.is_empty() => {
            let key = map.keys().nth(n % map.len()).cloned().unwrap_or_default();
            map.remove(&key);
        }
        (Edit::Remove(n), Value::Array(items)) if !items.is_empty() => {
            items.remove(n % items.len());
        }
        (Edit::Remove(_), _) => {}
        (Edit::Insert(k, v), Value::Object(map)) => {
            map.insert(k, v);
        }
        (Edit::Insert(_, v), Value::Array(items)) => items.push(v),
        (Edit::Insert(_, v) | Edit::Replace(v), node) => *node = v,
        (Edit::Deep(depth), node) => *node = deep(depth),
    }
}

/// Damages serialized JSON: cut short, or a byte (often invalid UTF-8) put somewhere.
fn damage(mut bytes: Vec<u8>, cut: Option<usize>, insert: Option<(usize, u8)>) -> Vec<u8> {
    if let Some((at, byte)) = insert {
        let at = at % (bytes.len() + 1);
        bytes.insert(at, byte);
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}

/// A fixture damaged by a few edits, as (model name, bytes).
fn near_valid_answer() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    (
        0..FIXTURES.len(),
        vec((any::<usize>(), edit()), 0..4),
        proptest::option::weighted(0.2, any::<usize>()),
        proptest::option::weighted(0.2, (any::<usize>(), any::<u8>())),
    )
        .prop_map(|(which, edits, cut, insert)| {
            let (name, text) = FIXTURES[which];
            let mut doc: Value = serde_json::from_str(text).expect("fixtures are JSON");
            for (at, edit) in edits {
                apply(&mut doc, at, edit);
            }
            let bytes = serde_json::to_vec(&doc).expect("a Value serializes");
            (name, damage(bytes, cut, insert))
        })
}

/// Decodes `bytes` as `T` the way the client does; a decoded value must serialize again
/// (swab prints models as JSON and sends some back).
fn decode<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(bytes).ok()?;
    serde_json::to_vec(&value).expect("a decoded model serializes");
    Some(value)
}

/// What swab hands back to the daemon when it recreates a container must survive the trip
/// through the model unchanged.
fn round_trips<T>(value: &T) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let text = serde_json::to_vec(value).expect("serializes");
    let back: T = serde_json::from_slice(&text).expect("what was written reads back");
    prop_assert_eq!(&back, value);
    Ok(())
}

fn check_summary(c: &ContainerSummary) {
    let _ = (c.name(), split_reference(&c.image), from_unix(c.created));
}

fn check_image(i: &ImageSummary) {
    let _ = (i.tags().count(), i.digests().count(), from_unix(i.created));
    for tag in i.tags() {
        let _ = split_reference(tag);
    }
}

/// Decodes `bytes` as the model `name` names and calls what swab calls on it.
fn exercise(name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    match name {
        "version" => {
            if let Some(v) = decode::<Version>(bytes)
                && let Ok(api) = v.api_version.parse::<ApiVersion>()
            {
                let _ = (ApiVersion::negotiate(api), ApiVersion::support_warning(api));
            }
        }
        "info" => {
            if let Some(info) = decode::<Info>(bytes) {
                let _ = info.image_store();
            }
        }
        "containers" => {
            for c in decode::<Vec<ContainerSummary>>(bytes).unwrap_or_default() {
                check_summary(&c);
                for endpoint in c.network_settings.networks.values() {
                    round_trips::<EndpointSettings>(endpoint)?;
                }
            }
        }
        "container_inspect" => {
            if let Some(c) = decode::<ContainerInspect>(bytes) {
                let _ = (c.name(), c.state.finished_at(), c.state.started_at());
                let _ = parse_timestamp(&c.created);
                round_trips::<ContainerConfig>(&c.config)?;
                for endpoint in c.network_settings.networks.values() {
                    round_trips::<EndpointSettings>(endpoint)?;
                }
            }
        }
        "images" => {
            for i in decode::<Vec<ImageSummary>>(bytes).unwrap_or_default() {
                check_image(&i);
            }
        }
        "image_inspect" => {
            if let Some(i) = decode::<ImageInspect>(bytes) {
                let _ = parse_timestamp(&i.created);
                let _ = i.metadata.last_tag_time.as_deref().map(parse_timestamp);
                round_trips::<ContainerConfig>(&i.config)?;
            }
        }
        "image_delete" => drop(decode::<Vec<ImageDeleteItem>>(bytes)),
        "pull_progress" => drop(decode::<PullProgress>(bytes)),
        "distribution" => drop(decode::<DistributionInspect>(bytes)),
        "network" => {
            if let Some(n) = decode::<Network>(bytes) {
                let _ = parse_timestamp(&n.created);
            }
        }
        "created_network" => drop(decode::<CreatedNetwork>(bytes)),
        "volumes" => {
            for v in decode::<VolumeList>(bytes).unwrap_or_default().volumes {
                let _ = parse_timestamp(&v.created_at);
            }
            drop(decode::<Volume>(bytes));
        }
        "system_df_old" | "system_df_new" => {
            if let Ok(raw) = serde_json::from_slice::<RawDiskUsage>(bytes) {
                let df = raw.normalise();
                serde_json::to_vec(&df).expect("disk usage serializes");
                df.image_items.iter().for_each(check_image);
                df.container_items.iter().for_each(check_summary);
                for b in &df.build_cache_items {
                    let _ = b.last_used_at.as_deref().map(parse_timestamp);
                }
            }
        }
        "event" => drop(decode::<Event>(bytes)),
        "containers_pruned" => drop(decode::<ContainersPruned>(bytes)),
        "images_pruned" => drop(decode::<ImagesPruned>(bytes)),
        "volumes_pruned" => drop(decode::<VolumesPruned>(bytes)),
        "networks_pruned" => drop(decode::<NetworksPruned>(bytes)),
        "build_cache_pruned" => drop(decode::<BuildCachePruned>(bytes)),
        "created_container" => drop(decode::<CreatedContainer>(bytes)),
        "wait" => drop(decode::<WaitResponse>(bytes)),
        "exec_inspect" => drop(serde_json::from_slice::<ExecInspect>(bytes)),
        other => prop_assert!(false, "no decoder for fixture {other}"),
    }
    Ok(())
}

/// The lines a correct splitter yields for `input` with limit `max`, and whether it then
/// fails because a line is too long. `at_end`: the input is complete, so a last line
/// without a newline counts too.
fn model_lines(input: &[u8], max: usize, at_end: bool) -> (Vec<Vec<u8>>, bool) {
    let mut lines = Vec::new();
    let mut rest = input;
    while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
        if pos > max {
            return (lines, true);
        }
        let line = &rest[..pos];
        lines.push(line.strip_suffix(b"\r").unwrap_or(line).to_vec());
        rest = &rest[pos + 1..];
    }
    if rest.len() > max {
        return (lines, true);
    }
    if at_end && !rest.is_empty() {
        lines.push(rest.to_vec());
    }
    (lines, false)
}

/// `input` cut at the given points (taken modulo its length), so chunks end anywhere: inside
/// a JSON string, between `\r` and `\n`, inside a UTF-8 sequence.
fn chunks(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    at.push(0);
    at.push(input.len());
    at.sort_unstable();
    at.windows(2).map(|w| input[w[0]..w[1]].to_vec()).collect()
}

/// Line content: bytes that make splitting interesting (`\r`, spaces, braces, the halves of
/// multi-byte UTF-8 sequences) or any byte but a newline.
fn line_bytes(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            Just(b'\r'),
            Just(b' '),
            Just(b'{'),
            Just(b'"'),
            Just(0xC3),
            Just(0xA9),
            Just(0xE2),
            Just(0x82),
            Just(0xAC),
            Just(0xF0),
            any::<u8>().prop_filter("a line has no newline", |&b| b != b'\n'),
        ],
        0..max_len,
    )
}

/// One line of a stream: a JSON document, a blank line or garbage.
fn stream_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => json_value().prop_map(|v| serde_json::to_vec(&v).expect("a Value serializes")),
        2 => near_valid_answer().prop_map(|(_, bytes)| bytes)
            .prop_filter("a line has no newline", |b| !b.contains(&b'\n')),
        1 => "[ \t\r]{0,3}".prop_map(String::into_bytes),
        1 => line_bytes(40),
    ]
}

fn join_lines(lines: &[Vec<u8>], crlf: bool, final_newline: bool) -> Vec<u8> {
    let sep: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut input = lines.join(sep);
    if final_newline && !lines.is_empty() {
        input.extend_from_slice(sep);
    }
    input
}

/// What `json_lines` yields, compared by value and error kind.
#[derive(Debug, PartialEq)]
enum Item {
    Value(Value),
    TooLong,
    Decode,
    Body(String),
}

fn item(result: Result<Value, Error>) -> Item {
    match result {
        Ok(v) => Item::Value(v),
        Err(Error::LineTooLong { .. }) => Item::TooLong,
        Err(Error::Decode { .. }) => Item::Decode,
        Err(Error::Stream { message }) => Item::Body(message),
        Err(other) => Item::Body(format!("unexpected: {other}")),
    }
}

/// Runs `json_lines` over `chunks` (an `Err` after the first `failing_after` chunks, if
/// given) and collects everything; the body never waits, so neither does the stream.
fn run_json_lines<T>(
    chunks: Vec<Vec<u8>>,
    failing_after: Option<usize>,
    max: usize,
) -> Vec<Result<T, Error>>
where
    T: DeserializeOwned + Send + 'static,
{
    let mut parts: Vec<Result<Bytes, Error>> =
        chunks.into_iter().map(|c| Ok(Bytes::from(c))).collect();
    if let Some(n) = failing_after {
        parts.truncate(n);
        parts.push(Err(Error::Stream {
            message: "connection reset".to_owned(),
        }));
    }
    let body: ByteStream = Box::pin(stream::iter(parts));
    let mut items = Box::pin(json_lines::<T>(body, max, "GET /events".to_owned()));
    let mut out = Vec::new();
    while let Some(next) = items
        .next()
        .now_or_never()
        .expect("a ready body makes a ready stream")
    {
        out.push(next);
    }
    out
}

/// What `json_lines` must yield for `input`: the values of the non-blank lines, stopping at
/// the first line that is too long or not JSON.
fn model_items(input: &[u8], max: usize, at_end: bool) -> Vec<Item> {
    let (lines, too_long) = model_lines(input, max, at_end);
    let mut items = Vec::new();
    for line in lines {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(&line) {
            Ok(v) => items.push(Item::Value(v)),
            Err(_) => {
                items.push(Item::Decode);
                return items;
            }
        }
    }
    if too_long {
        items.push(Item::TooLong);
    }
    items
}

/// A size or count as `/system/df` reports it: usually small, `-1`, or an extreme.
fn size() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => -1i64..1_000_000,
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
        1 => any::<i64>(),
    ]
}

/// A multiplexed exec stream: frames of (stream byte, payload).
fn frames() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    vec((0u8..4, vec(any::<u8>(), 0..40)), 0..8)
}

fn last(bytes: &[u8], limit: usize) -> Vec<u8> {
    bytes[bytes.len().saturating_sub(limit)..].to_vec()
}

proptest! {
    #![proptest_config(config())]

    /// Every model, from arbitrary bytes: no panic.
    #[test]
    fn models_from_arbitrary_bytes_never_panic(
        which in 0..FIXTURES.len(),
        bytes in vec(any::<u8>(), 0..200),
    ) {
        exercise(FIXTURES[which].0, &bytes)?;
    }

    /// Every model, from a realistic answer with wrong types, nulls, extreme numbers, deep
    /// nesting, odd timestamps, truncation or a stray byte: decodes or fails, and what
    /// decodes can be used (names, timestamps, disk usage totals, image store, API version)
    /// and, for the configs swab hands back to the daemon, written back unchanged.
    #[test]
    fn models_from_near_valid_answers_never_panic((name, bytes) in near_valid_answer()) {
        exercise(name, &bytes)?;
    }

    /// `/system/df` in both shapes with counts and sizes anywhere in `i64` (the daemon's
    /// `-1` for "not computed", and what a broken daemon or proxy might send): the totals
    /// swab computes for old daemons never overflow.
    #[test]
    fn disk_usage_totals_never_panic(
        layers in size(),
        images in vec((size(), size(), size()), 0..4),
        containers in vec((size(), any::<bool>()), 0..4),
        volumes in vec((size(), size()), 0..4),
        build_cache in vec((size(), any::<bool>(), any::<bool>()), 0..4),
        usage in proptest::option::of((size(), size(), size(), size())),
    ) {
        let mut df = serde_json::json!({
            "LayersSize": layers,
            "Images": images.iter().map(|(s, shared, c)| serde_json::json!({"Size": s, "SharedSize": shared, "Containers": c})).collect::<Vec<_>>(),
            "Containers": containers.iter().map(|(s, running)| serde_json::json!({"SizeRw": s, "State": if *running { "running" } else { "exited" }})).collect::<Vec<_>>(),
            "Volumes": volumes.iter().map(|(s, refs)| serde_json::json!({"UsageData": {"Size": s, "RefCount": refs}})).collect::<Vec<_>>(),
            "BuildCache": build_cache.iter().map(|(s, in_use, shared)| serde_json::json!({"Size": s, "InUse": in_use, "Shared": shared})).collect::<Vec<_>>(),
        });
        if let Some((active, total, reclaimable, size)) = usage {
            df["ImageUsage"] = serde_json::json!({"ActiveCount": active, "TotalCount": total, "Reclaimable": reclaimable, "TotalSize": size});
        }
        let raw: RawDiskUsage = serde_json::from_value(df).unwrap();
        let computed = raw.image_usage.is_none();
        let df = raw.normalise();
        // Counts computed from the lists are consistent; the daemon's own are taken as sent.
        for (totals, from_lists) in [
            (df.images, computed),
            (df.containers, true),
            (df.volumes, true),
            (df.build_cache, true),
        ] {
            if from_lists {
                prop_assert!(totals.active_count <= totals.total_count, "{:?}", totals);
            }
        }
    }

    /// The daemon's timestamps, any text: no panic.
    #[test]
    fn timestamps_never_panic(
        text in prop_oneof![timestamp_text(), "(?s).{0,40}"],
        unix in any::<i64>(),
    ) {
        let _ = parse_timestamp(&text);
        let t = from_unix(unix);
        prop_assert_eq!(t.is_some(), unix > 0);
    }

    /// A time written as the daemon writes it (UTC with nanoseconds, or a numeric offset)
    /// reads back as that time.
    #[test]
    fn timestamps_round_trip(
        secs in 86_400u64..253_000_000_000,
        nanos in 0u32..1_000_000_000,
        offset_minutes in -(23 * 60 + 59)..=(23i64 * 60 + 59),
    ) {
        let t = SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
        let utc = humantime::format_rfc3339_nanos(t).to_string();
        prop_assert_eq!(parse_timestamp(&utc), Some(t), "{}", utc);
        let shift = Duration::from_secs(offset_minutes.unsigned_abs() * 60);
        let local = if offset_minutes >= 0 { t + shift } else { t - shift };
        let local = humantime::format_rfc3339_nanos(local).to_string();
        let offset = format!(
            "{}{}{:02}:{:02}",
            local.trim_end_matches('Z'),
            if offset_minutes >= 0 { '+' } else { '-' },
            offset_minutes.unsigned_abs() / 60,
            offset_minutes.unsigned_abs() % 60
        );
        prop_assert_eq!(parse_timestamp(&offset), Some(t), "{}", offset);
    }

    /// The splitter yields exactly the complete lines, wherever the chunks end, and fails
    /// at the first line longer than the limit.
    #[test]
    fn line_splitter_is_independent_of_chunk_boundaries(
        lines in vec(line_bytes(48), 0..8),
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
        cuts in vec(any::<usize>(), 0..12),
        max in 1usize..64,
    ) {
        let input = join_lines(&lines, crlf, final_newline);
        let (want, want_too_long) = model_lines(&input, max, true);
        let mut splitter = LineSplitter::new(max);
        let mut got = Vec::new();
        let mut too_long = false;
        'chunks: for chunk in chunks(&input, &cuts) {
            splitter.push(&chunk);
            loop {
                match splitter.next_line() {
                    Ok(Some(line)) => got.push(line.to_vec()),
                    Ok(None) => break,
                    Err(Error::LineTooLong { max: m }) => {
                        prop_assert_eq!(m, max);
                        too_long = true;
                        break 'chunks;
                    }
                    Err(other) => prop_assert!(false, "unexpected error {other}"),
                }
            }
        }
        if !too_long {
            got.extend(splitter.finish().map(|b| b.to_vec()));
            prop_assert!(splitter.is_empty());
        }
        prop_assert_eq!(got, want);
        prop_assert_eq!(too_long, want_too_long);
    }

    /// `json_lines` over JSON documents, blank lines and garbage, chunked anywhere, with a
    /// limit that some lines exceed and sometimes a body that breaks: the same items as the
    /// whole text decoded line by line, ending at the first error.
    #[test]
    fn json_lines_is_independent_of_chunk_boundaries(
        lines in vec(stream_line(), 0..6),
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
        cuts in vec(any::<usize>(), 0..12),
        max in prop_oneof![Just(16usize), Just(256), Just(DEFAULT_MAX_LINE)],
        failing_after in proptest::option::weighted(0.2, 0usize..14),
    ) {
        let input = join_lines(&lines, crlf, final_newline);
        let chunks = chunks(&input, &cuts);
        let failing_after = failing_after.map(|n| n.min(chunks.len()));
        let got: Vec<Item> = run_json_lines::<Value>(chunks.clone(), failing_after, max)
            .into_iter()
            .map(item)
            .collect();
        let want = match failing_after {
            None => model_items(&input, max, true),
            Some(n) => {
                let prefix = chunks[..n].concat();
                let mut want = model_items(&prefix, max, false);
                if !matches!(want.last(), Some(Item::TooLong | Item::Decode)) {
                    want.push(Item::Body("connection reset".to_owned()));
                }
                want
            }
        };
        prop_assert_eq!(got, want);
    }

    /// Event and pull-progress streams of damaged answers, chunked anywhere: decoded into
    /// the typed models without a panic, at most one item per line.
    #[test]
    fn typed_streams_never_panic(
        lines in vec(stream_line(), 0..6),
        cuts in vec(any::<usize>(), 0..12),
    ) {
        let input = join_lines(&lines, false, true);
        let events = run_json_lines::<Event>(chunks(&input, &cuts), None, 256);
        prop_assert!(events.len() <= lines.len());
        let pulls = run_json_lines::<PullProgress>(chunks(&input, &cuts), None, 256);
        prop_assert!(pulls.len() <= lines.len());
    }

    /// Exec output frames split anywhere come back per stream, bounded to the limit.
    #[test]
    fn demux_is_independent_of_chunk_boundaries(
        frames in frames(),
        cuts in vec(any::<usize>(), 0..12),
        limit in 0usize..100,
        trailing in vec(any::<u8>(), 0..7),
    ) {
        let mut input = Vec::new();
        let (mut stdout, mut stderr, mut combined) = (Vec::new(), Vec::new(), Vec::new());
        for (stream, payload) in &frames {
            input.push(*stream);
            input.extend_from_slice(&[0, 0, 0]);
            input.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
            input.extend_from_slice(payload);
            let out = if *stream == 2 { &mut stderr } else { &mut stdout };
            out.extend_from_slice(payload);
            combined.extend_from_slice(payload);
        }
        // Fewer than 8 bytes can never complete a frame header.
        input.extend_from_slice(&trailing);
        let mut demux = Demux::new(limit);
        for chunk in chunks(&input, &cuts) {
            demux.push(&chunk);
        }
        prop_assert_eq!(demux.stdout, last(&stdout, limit));
        prop_assert_eq!(demux.stderr, last(&stderr, limit));
        prop_assert_eq!(demux.combined, last(&combined, limit));
    }

    #[test]
    fn demux_from_arbitrary_bytes_never_panics(
        bytes in vec(any::<u8>(), 0..300),
        cuts in vec(any::<usize>(), 0..6),
        limit in 0usize..64,
    ) {
        let mut demux = Demux::new(limit);
        for chunk in chunks(&bytes, &cuts) {
            demux.push(&chunk);
        }
        prop_assert!(demux.stdout.len() <= limit && demux.stderr.len() <= limit);
    }

    /// The `Api-Version` header and `/version`'s `ApiVersion`, any text: no panic, and
    /// `MAJOR.MINOR` reads back.
    #[test]
    fn api_versions_never_panic(text in "(?s).{0,20}", major in any::<u16>(), minor in any::<u16>()) {
        let _ = text.parse::<ApiVersion>();
        let v = ApiVersion::new(major, minor);
        prop_assert_eq!(v.to_string().parse::<ApiVersion>(), Ok(v));
    }
}
