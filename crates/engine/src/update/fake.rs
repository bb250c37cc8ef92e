//! A simulated Docker daemon and an in-memory state store for the update executor's unit
//! tests.
//!
//! The daemon keeps a small world (containers as the raw inspect JSON Docker sends, images
//! with their tags, what a pull of each reference brings) and changes it the way dockerd
//! does for the calls an update makes: names are unique, a running container cannot be
//! removed without force, a tag names one image, a started container behaves as its
//! image says (runs, exits, turns healthy or unhealthy). Tests inject faults per call and
//! target, read the call log, and compare the world before and after.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use swab_docker::models::{ContainerInspect, ImageInspect, PullProgress};
use swab_docker::transport::BoxFuture;
use swab_docker::{ApiVersion, Error, RegistryAuth};

use super::engine::{StateStore, UpdateEngine};
use super::hook::HookRun;
use crate::snapshot::{Container, Image, Snapshot};
use crate::state::{State, StateError};

/// What a container started from an image does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Keeps running, no healthcheck.
    Runs,
    /// Exits at once with this code.
    Exits(i64),
    /// Has a healthcheck that passes.
    Healthy,
    /// Has a healthcheck that fails.
    Unhealthy,
}

#[derive(Debug, Clone)]
pub(crate) struct FakeImage {
    pub id: String,
    pub tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub behaviour: Behaviour,
}

/// How an injected fault answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FaultKind {
    /// An HTTP error: the status and message given, or 500 "injected fault".
    Fail(Option<(u16, String)>),
    /// Never answers: the caller's future is dropped from outside (a crash).
    Hang,
}

#[derive(Debug, Clone)]
pub(crate) struct Fault {
    method: &'static str,
    /// Matches the call's argument or the name of the container it resolves to.
    target: Option<String>,
    /// Calls matching method and target to let through before this one fires (once).
    skip: usize,
    /// The daemon's answer, if not 500 "injected fault".
    answer: Option<(u16, String)>,
}

#[derive(Debug, Default)]
pub(crate) struct World {
    /// Raw inspects, in creation order.
    pub containers: Vec<Value>,
    pub images: Vec<FakeImage>,
    /// Reference (as pulled) -> the image a pull brings.
    pub registry: HashMap<String, FakeImage>,
    /// Every call, as `method target`.
    pub calls: Vec<String>,
    pub(crate) faults: Vec<Fault>,
    /// Mutating calls so far (for [`FakeDocker::hang_at_mutation`]).
    mutations: usize,
    hang_at: Option<usize>,
    /// Command -> how a hook running it ends (exit 0 with no output when not listed).
    hooks: HashMap<String, HookRun>,
    /// Every hook run, as `container: command`.
    pub hook_runs: Vec<String>,
    /// Every stop with a signal, as `container: signal`.
    pub stop_signals: Vec<String>,
    next_id: u64,
    starts: u64,
}

/// The simulated daemon.
#[derive(Debug, Default)]
pub(crate) struct FakeDocker {
    world: Mutex<World>,
}

fn err500(what: &str) -> Error {
    Error::Daemon {
        status: 500,
        what: what.to_owned(),
        message: "injected fault".to_owned(),
    }
}

fn not_found(what: &str) -> Error {
    Error::NotFound {
        message: format!("No such object: {what}"),
    }
}

fn conflict(message: String) -> Error {
    Error::Conflict { message }
}

/// The name without its leading `/`.
pub(crate) fn name_of(c: &Value) -> &str {
    c["Name"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/')
}

impl World {
    fn container_index(&self, key: &str) -> Option<usize> {
        self.containers
            .iter()
            .position(|c| c["Id"] == key || name_of(c) == key)
            .or_else(|| {
                (key.len() >= 12)
                    .then(|| {
                        self.containers
                            .iter()
                            .position(|c| c["Id"].as_str().unwrap_or("").starts_with(key))
                    })
                    .flatten()
            })
    }

    fn image_index(&self, key: &str) -> Option<usize> {
        self.images.iter().position(|i| {
            i.id == key
                || i.tags.iter().any(|t| t == key)
                || i.repo_digests.iter().any(|d| d == key)
        })
    }

    /// The container by ID or name.
    pub fn container(&self, key: &str) -> Option<&Value> {
        self.container_index(key).map(|i| &self.containers[i])
    }

    /// The image a tag names.
    pub fn tagged(&self, tag: &str) -> Option<&str> {
        self.images
            .iter()
            .find(|i| i.tags.iter().any(|t| t == tag))
            .map(|i| i.id.as_str())
    }

    /// The name of the container `key` resolves to, else `key`.
    fn label(&self, key: &str) -> String {
        self.container(key).map_or(key, name_of).to_owned()
    }

    fn fault(&mut self, method: &'static str, key: &str, mutating: bool) -> Option<FaultKind> {
        let label = self.label(key);
        self.calls
            .push(format!("{method} {label}").trim_end().to_owned());
        if mutating {
            self.mutations += 1;
            if self.hang_at == Some(self.mutations) {
                return Some(FaultKind::Hang);
            }
        }
        let hit = self.faults.iter_mut().position(|f| {
            f.method == method && f.target.as_deref().is_none_or(|t| t == key || t == label)
        })?;
        let fault = &mut self.faults[hit];
        if fault.skip > 0 {
            fault.skip -= 1;
            return None;
        }
        let fault = self.faults.remove(hit);
        Some(FaultKind::Fail(fault.answer))
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:064x}", 0xc0de_0000_u64 + self.next_id)
    }

    fn start(&mut self, i: usize) {
        let image = self.containers[i]["Image"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let behaviour = self
            .image_index(&image)
            .map_or(Behaviour::Runs, |j| self.images[j].behaviour);
        self.starts += 1;
        let state = &mut self.containers[i]["State"];
        state["StartedAt"] = json!(format!("2026-01-01T00:00:{:02}Z", self.starts % 60));
        state["ExitCode"] = json!(0);
        match behaviour {
            Behaviour::Exits(code) => {
                state["Running"] = json!(false);
                state["Status"] = json!("exited");
                state["ExitCode"] = json!(code);
            }
            Behaviour::Runs | Behaviour::Healthy | Behaviour::Unhealthy => {
                state["Running"] = json!(true);
                state["Status"] = json!("running");
            }
        }
        match behaviour {
            Behaviour::Healthy => state["Health"] = json!({"Status": "healthy", "Log": []}),
            Behaviour::Unhealthy => {
                state["Health"] = json!({"Status": "unhealthy", "Log": [{"ExitCode": 1, "Output": "check failed\n"}]});
            }
            _ => {}
        }
    }

    fn set_tag(&mut self, image: usize, tag: &str) {
        for i in &mut self.images {
            i.tags.retain(|t| t != tag);
        }
        self.images[image].tags.push(tag.to_owned());
    }
}

impl FakeDocker {
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Adds an image.
    pub(crate) fn image(&self, id: &str, tags: &[&str], repo_digests: &[&str], b: Behaviour) {
        self.with(|w| {
            w.images.push(FakeImage {
                id: id.to_owned(),
                tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                repo_digests: repo_digests.iter().map(|t| (*t).to_owned()).collect(),
                behaviour: b,
            });
        });
    }

    /// What a pull of `repo_digest` (`repo@sha256:...`) brings.
    pub(crate) fn publish(&self, id: &str, repo_digest: &str, b: Behaviour) {
        self.publish_at(repo_digest, id, repo_digest, b);
    }

    /// What a pull of `key` (a tag or `repo@sha256:...`) brings: image `id`, whose repo
    /// digest is `repo_digest`.
    pub(crate) fn publish_at(&self, key: &str, id: &str, repo_digest: &str, b: Behaviour) {
        self.with(|w| {
            w.registry.insert(
                key.to_owned(),
                FakeImage {
                    id: id.to_owned(),
                    tags: Vec::new(),
                    repo_digests: vec![repo_digest.to_owned()],
                    behaviour: b,
                },
            );
        });
    }

    /// Adds a running container `name` created from `reference`, with `extra` merged into
    /// its raw inspect (`{"HostConfig": {...}, "Config": {"Labels": ...}}`).
    pub(crate) fn container(&self, name: &str, reference: &str, extra: &Value) -> String {
        self.with(|w| {
            let id = w.new_id();
            let image = w
                .image_index(reference)
                .map(|i| w.images[i].id.clone())
                .unwrap_or_default();
            let mut raw = json!({
                "Id": id,
                "Name": format!("/{name}"),
                "Created": "2026-01-01T00:00:00Z",
                "Image": image,
                "Config": {"Image": reference, "Cmd": ["serve"], "Labels": {}},
                "HostConfig": {
                    "NetworkMode": "default",
                    "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                },
                "State": {"Status": "created", "Running": false},
                "RestartCount": 0,
                "NetworkSettings": {"Networks": {}},
                "Mounts": [],
            });
            merge(&mut raw, extra);
            w.containers.push(raw);
            let i = w.containers.len() - 1;
            w.start(i);
            id
        })
    }

    /// Fails `method` on `target` (ID or name; any when `None`) once, after letting `skip`
    /// matching calls through.
    pub(crate) fn fail_once(&self, method: &'static str, target: Option<&str>, skip: usize) {
        self.with(|w| {
            w.faults.push(Fault {
                method,
                target: target.map(str::to_owned),
                skip,
                answer: None,
            });
        });
    }

    /// Lets `method` on `target` time out once, without carrying it out (the test decides
    /// whether and when it happens after all).
    pub(crate) fn time_out_once(&self, method: &'static str, target: &str) {
        self.with(|w| {
            w.faults.push(Fault {
                method,
                target: Some(target.to_owned()),
                skip: 0,
                // Status 0: no answer at all.
                answer: Some((0, String::new())),
            });
        });
    }

    /// Fails `method` on `target` once, answering `status` with `message`.
    pub(crate) fn fail_once_with(
        &self,
        method: &'static str,
        target: &str,
        status: u16,
        message: &str,
    ) {
        self.with(|w| {
            w.faults.push(Fault {
                method,
                target: Some(target.to_owned()),
                skip: 0,
                answer: Some((status, message.to_owned())),
            });
        });
    }

    /// The `n`th mutating call (1-based) never answers: the update is "killed" there.
    pub(crate) fn hang_at_mutation(&self, n: usize) {
        self.with(|w| w.hang_at = Some(n));
    }

    /// A hook running `command` ends as `run` says.
    pub(crate) fn hook_answers(&self, command: &str, run: HookRun) {
        self.with(|w| w.hooks.insert(command.to_owned(), run));
    }

    /// Removes every fault and hang.
    pub(crate) fn heal(&self) {
        self.with(|w| {
            w.faults.clear();
            w.hang_at = None;
        });
    }

    /// Mutating calls made so far.
    pub(crate) fn mutations(&self) -> usize {
        self.with(|w| w.mutations)
    }

    /// The call log, taken.
    pub(crate) fn take_calls(&self) -> Vec<String> {
        self.with(|w| std::mem::take(&mut w.calls))
    }

    /// A mutating call that changes nothing past this point: the caller's future stays
    /// pending forever (the executor is "killed" here).
    async fn hang() -> ! {
        std::future::pending::<()>().await;
        unreachable!()
    }
}

fn merge(into: &mut Value, extra: &Value) {
    match (into, extra) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// Runs `$body` on the world unless a fault answers first.
macro_rules! call {
    ($self:ident, $method:literal, $key:expr, $mutating:expr, |$w:ident| $body:expr) => {{
        let fault = $self.with(|w| w.fault($method, $key, $mutating));
        match fault {
            Some(FaultKind::Hang) => FakeDocker::hang().await,
            Some(FaultKind::Fail(None)) => Err(err500($method)),
            Some(FaultKind::Fail(Some((0, _)))) => Err(Error::Timeout {
                endpoint: "fake://".to_owned(),
                what: $method.to_owned(),
                after: std::time::Duration::from_secs(60),
            }),
            Some(FaultKind::Fail(Some((status, message)))) => Err(Error::Daemon {
                status,
                what: $method.to_owned(),
                message,
            }),
            None => $self.with(|$w| $body),
        }
    }};
}

impl UpdateEngine for FakeDocker {
    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, Error>> {
        Box::pin(async move {
            call!(self, "list", "", false, |w| {
                let containers = w
                    .containers
                    .iter()
                    .map(|c| {
                        let labels: HashMap<String, String> =
                            serde_json::from_value(c["Config"]["Labels"].clone())
                                .unwrap_or_default();
                        Container {
                            state: c["State"]["Status"].as_str().unwrap_or("").to_owned(),
                            labels,
                            network_mode: c["HostConfig"]["NetworkMode"]
                                .as_str()
                                .unwrap_or("")
                                .to_owned(),
                            ..Container::new(
                                c["Id"].as_str().unwrap_or(""),
                                name_of(c),
                                c["Image"].as_str().unwrap_or(""),
                                c["Config"]["Image"].as_str().unwrap_or(""),
                            )
                        }
                    })
                    .collect();
                let images = w
                    .images
                    .iter()
                    .map(|i| Image::new(&i.id, &i.tags, &i.repo_digests))
                    .collect();
                Ok(Snapshot {
                    containers,
                    images,
                    ..Snapshot::default()
                })
            })
        })
    }

    fn inspect_container(&self, id: &str) -> BoxFuture<'_, Result<ContainerInspect, Error>> {
        let id = id.to_owned();
        Box::pin(async move {
            let raw = self.inspect_container_raw(&id).await?;
            Ok(serde_json::from_value(raw).expect("the fake's inspect parses"))
        })
    }

    fn inspect_container_raw(&self, id: &str) -> BoxFuture<'_, Result<Value, Error>> {
        let id = id.to_owned();
        Box::pin(async move {
            call!(self, "inspect", &id, false, |w| w
                .container(&id)
                .cloned()
                .ok_or_else(|| not_found(&id)))
        })
    }

    fn inspect_image(&self, name: &str) -> BoxFuture<'_, Result<ImageInspect, Error>> {
        let name = name.to_owned();
        Box::pin(async move {
            call!(self, "inspect_image", &name, false, |w| {
                let i = w.image_index(&name).ok_or_else(|| not_found(&name))?;
                let image = &w.images[i];
                Ok(ImageInspect {
                    id: image.id.clone(),
                    repo_tags: image.tags.clone(),
                    repo_digests: image.repo_digests.clone(),
                    ..ImageInspect::default()
                })
            })
        })
    }

    fn api_version(&self) -> BoxFuture<'_, Result<ApiVersion, Error>> {
        Box::pin(async { Ok("1.51".parse().expect("a version")) })
    }

    fn create_container(&self, name: &str, body: &Value) -> BoxFuture<'_, Result<String, Error>> {
        let (name, body) = (name.to_owned(), body.clone());
        Box::pin(async move {
            call!(self, "create", &name, true, |w| {
                if w.container(&name).is_some() {
                    return Err(conflict(format!("the name {name} is already in use")));
                }
                let reference = body["Image"].as_str().unwrap_or("");
                let image = w
                    .image_index(reference)
                    .map(|i| w.images[i].id.clone())
                    .ok_or_else(|| not_found(reference))?;
                let mut config = body.clone();
                let host = config
                    .as_object_mut()
                    .and_then(|o| {
                        o.remove("NetworkingConfig");
                        o.remove("HostConfig")
                    })
                    .unwrap_or(Value::Null);
                let id = w.new_id();
                w.containers.push(json!({
                    "Id": id,
                    "Name": format!("/{name}"),
                    "Created": chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now()).to_rfc3339(),
                    "Image": image,
                    "Config": config,
                    "HostConfig": host,
                    "State": {"Status": "created", "Running": false},
                    "RestartCount": 0,
                    "NetworkSettings": {"Networks": {}},
                    "Mounts": [],
                }));
                Ok(id)
            })
        })
    }

    fn start_container(&self, id: &str) -> BoxFuture<'_, Result<(), Error>> {
        let id = id.to_owned();
        Box::pin(async move {
            call!(self, "start", &id, true, |w| {
                let i = w.container_index(&id).ok_or_else(|| not_found(&id))?;
                if w.containers[i]["State"]["Running"] != true {
                    w.start(i);
                }
                Ok(())
            })
        })
    }

    fn stop_container<'a>(
        &'a self,
        id: &'a str,
        _timeout: Option<Duration>,
        signal: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            call!(self, "stop", id, true, |w| {
                let i = w.container_index(id).ok_or_else(|| not_found(id))?;
                if let Some(signal) = signal {
                    let name = name_of(&w.containers[i]).to_owned();
                    w.stop_signals.push(format!("{name}: {signal}"));
                }
                let state = &mut w.containers[i]["State"];
                state["Running"] = json!(false);
                state["Status"] = json!("exited");
                Ok(())
            })
        })
    }

    fn update_container(&self, id: &str, body: &Value) -> BoxFuture<'_, Result<(), Error>> {
        let (id, body) = (id.to_owned(), body.clone());
        Box::pin(async move {
            call!(self, "update", &id, true, |w| {
                let i = w.container_index(&id).ok_or_else(|| not_found(&id))?;
                w.containers[i]["HostConfig"]["RestartPolicy"] = body["RestartPolicy"].clone();
                Ok(())
            })
        })
    }

    fn rename_container(&self, id: &str, name: &str) -> BoxFuture<'_, Result<(), Error>> {
        let (id, name) = (id.to_owned(), name.to_owned());
        Box::pin(async move {
            call!(self, "rename", &id, true, |w| {
                let i = w.container_index(&id).ok_or_else(|| not_found(&id))?;
                if w.container_index(&name).is_some_and(|j| j != i) {
                    return Err(conflict(format!("the name {name} is already in use")));
                }
                w.containers[i]["Name"] = json!(format!("/{name}"));
                Ok(())
            })
        })
    }

    fn remove_container(&self, id: &str, force: bool) -> BoxFuture<'_, Result<(), Error>> {
        let id = id.to_owned();
        Box::pin(async move {
            call!(self, "remove", &id, true, |w| {
                let i = w.container_index(&id).ok_or_else(|| not_found(&id))?;
                if w.containers[i]["State"]["Running"] == true && !force {
                    return Err(conflict("stop the container before removing".to_owned()));
                }
                w.containers.remove(i);
                Ok(())
            })
        })
    }

    fn tag_image(&self, image: &str, reference: &str) -> BoxFuture<'_, Result<(), Error>> {
        let (image, reference) = (image.to_owned(), reference.to_owned());
        Box::pin(async move {
            call!(self, "tag", &reference, true, |w| {
                let i = w.image_index(&image).ok_or_else(|| not_found(&image))?;
                w.set_tag(i, &reference);
                Ok(())
            })
        })
    }

    fn remove_image(&self, name: &str, untag_only: bool) -> BoxFuture<'_, Result<(), Error>> {
        let name = name.to_owned();
        Box::pin(async move {
            call!(self, "remove_image", &name, true, |w| {
                let i = w.image_index(&name).ok_or_else(|| not_found(&name))?;
                let by_tag = w.images[i].id != name;
                if by_tag {
                    w.images[i].tags.retain(|t| *t != name);
                    if untag_only || !w.images[i].tags.is_empty() {
                        return Ok(());
                    }
                } else if !w.images[i].tags.is_empty() {
                    return Err(conflict("image is tagged".to_owned()));
                }
                let id = w.images[i].id.clone();
                if w.containers.iter().any(|c| c["Image"] == id.as_str()) {
                    return Err(conflict(format!("image {id} is used by a container")));
                }
                w.images.remove(i);
                Ok(())
            })
        })
    }

    fn copy_path(&self, from: &str, to: &str, path: &str) -> BoxFuture<'_, Result<bool, Error>> {
        let (from, to, path) = (from.to_owned(), to.to_owned(), path.to_owned());
        Box::pin(async move {
            call!(self, "copy", &to, true, |w| {
                let i = w.container_index(&from).ok_or_else(|| not_found(&from))?;
                let content = w.containers[i]["Files"][&path].clone();
                if content.is_null() {
                    return Ok(false);
                }
                let j = w.container_index(&to).ok_or_else(|| not_found(&to))?;
                w.containers[j]["Files"][&path] = content;
                Ok(true)
            })
        })
    }

    fn run_hook<'a>(
        &'a self,
        id: &'a str,
        command: &'a str,
        _timeout: Duration,
        cancel: &'a crate::cancel::Cancel,
    ) -> BoxFuture<'a, Result<HookRun, Error>> {
        Box::pin(async move {
            call!(self, "hook", id, false, |w| {
                let i = w.container_index(id).ok_or_else(|| not_found(id))?;
                if w.containers[i]["State"]["Running"] != true {
                    return Err(conflict(format!("container {id} is not running")));
                }
                let name = name_of(&w.containers[i]).to_owned();
                w.hook_runs.push(format!("{name}: {command}"));
                // A hook scripted to be interrupted stands for a signal arriving meanwhile.
                let run = w.hooks.get(command).cloned().unwrap_or(HookRun {
                    exit_code: Some(0),
                    ..HookRun::default()
                });
                if run.interrupted {
                    cancel.cancel();
                }
                Ok(run)
            })
        })
    }

    fn pull_image<'a>(
        &'a self,
        reference: &'a str,
        _auth: Option<&'a RegistryAuth>,
        progress: &'a (dyn Fn(&PullProgress) + Sync),
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            call!(self, "pull", reference, true, |w| {
                let image = w
                    .registry
                    .get(reference)
                    .cloned()
                    .ok_or_else(|| not_found(reference))?;
                let i = match w.image_index(&image.id) {
                    Some(i) => i,
                    None => {
                        w.images.push(image);
                        w.images.len() - 1
                    }
                };
                // By digest, the image is known under that digest; by tag, the tag moves.
                if !reference.contains('@') {
                    w.set_tag(i, reference);
                }
                Ok(())
            })?;
            progress(&PullProgress {
                status: Some(format!("Status: Downloaded newer image for {reference}")),
                ..PullProgress::default()
            });
            Ok(())
        })
    }
}

/// Says which states a write must not store.
type Refusal = Box<dyn Fn(&State) -> bool + Send>;

/// The state in memory; writes can be made to fail.
#[derive(Default)]
pub(crate) struct MemoryState {
    state: Mutex<State>,
    /// A write whose result this says no to fails (and is not stored).
    refuse: Mutex<Option<Refusal>>,
}

impl std::fmt::Debug for MemoryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryState").finish_non_exhaustive()
    }
}

impl MemoryState {
    pub(crate) fn get(&self) -> State {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set(&self, state: State) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }

    /// Writes that would store a state `refuse` matches fail.
    pub(crate) fn refuse_writes(&self, refuse: impl Fn(&State) -> bool + Send + 'static) {
        *self.refuse.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(refuse));
    }
}

impl StateStore for MemoryState {
    fn load(&self) -> Result<State, StateError> {
        Ok(self.get())
    }

    fn edit(&self, change: &mut dyn FnMut(&mut State)) -> Result<(), StateError> {
        let mut next = self.get();
        change(&mut next);
        let refused = self
            .refuse
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|refuse| refuse(&next));
        if refused {
            return Err(StateError::Io {
                action: "write",
                path: "memory".into(),
                source: std::io::Error::other("injected fault"),
            });
        }
        self.set(next);
        Ok(())
    }
}
