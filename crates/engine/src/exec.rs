//! The executor: carries out a [`Plan`] through the narrow [`Engine`] trait.
//!
//! The Docker client implements [`Engine`]; [`DryRun`] implements it by recording calls and
//! succeeding, so `--dry-run` runs exactly the code path of a real run and reports what a
//! real run on the same state would do.
//!
//! Safety rules enforced here, because the world may change between plan and execution:
//! - nothing is ever forced; a conflict (the daemon's 409: in use, running again) or a
//!   vanished object makes the action `skipped` with the daemon's own reason;
//! - containers go first, then restarts, then images children-before-parents, then volumes,
//!   networks and build cache; a parent image is skipped when one of its children was not
//!   removed, since removing the parent's tag would only strip the tag;
//! - images are deleted by ID, never by a tag that may have moved to another image since
//!   planning; an image with several tags is checked for containers created since planning
//!   and for its current tags before any tag is removed, and if the final removal still
//!   meets a conflict, the removed tags are put back; a dangling image is checked for tags
//!   added since planning. No tag is ever lost, and no unplanned image is ever touched.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use swab_docker::models::ImageDeleteItem;
use swab_docker::transport::BoxFuture;
use swab_docker::{
    Docker, Error, Filters, ListContainersOptions, RemoveContainerOptions, RemoveImageOptions,
};

use crate::cancel::Cancel;
use crate::plan::{Op, Plan, PlannedAction};
use crate::report::{ActionReport, Status};

/// The operations the executor needs. Deliberately small: every method is one API call.
pub trait Engine: Send + Sync {
    /// Whether this engine only records (dry run).
    fn is_dry_run(&self) -> bool;
    /// Removes a stopped container, keeping its volumes. Never forced.
    fn remove_container(&self, id: &str) -> BoxFuture<'_, Result<(), Error>>;
    /// Restarts a container.
    fn restart_container(
        &self,
        id: &str,
        timeout: Option<Duration>,
    ) -> BoxFuture<'_, Result<(), Error>>;
    /// Whether a container is running now (a restart must not start one that was stopped
    /// since planning: `POST /restart` starts stopped containers too).
    fn is_running(&self, id: &str) -> BoxFuture<'_, Result<bool, Error>>;
    /// Names of containers (any state) created from `image_id` or its descendants.
    fn containers_using(&self, image_id: &str) -> BoxFuture<'_, Result<Vec<String>, Error>>;
    /// Current tags of an image.
    fn image_tags(&self, image_id: &str) -> BoxFuture<'_, Result<Vec<String>, Error>>;
    /// `DELETE /images/{reference}` without force.
    fn remove_image(&self, reference: &str) -> BoxFuture<'_, Result<Vec<ImageDeleteItem>, Error>>;
    /// Tags an image (to restore a tag).
    fn tag_image(&self, image_id: &str, tag: &str) -> BoxFuture<'_, Result<(), Error>>;
    /// Removes a volume. Never forced.
    fn remove_volume(&self, name: &str) -> BoxFuture<'_, Result<(), Error>>;
    /// Removes a network.
    fn remove_network(&self, id: &str) -> BoxFuture<'_, Result<(), Error>>;
    /// Prunes build cache; returns bytes freed.
    fn prune_build_cache(&self, unused_for: Option<Duration>) -> BoxFuture<'_, Result<u64, Error>>;
}

impl Engine for Docker {
    fn is_dry_run(&self) -> bool {
        false
    }

    fn remove_container(&self, id: &str) -> BoxFuture<'_, Result<(), Error>> {
        let id = id.to_owned();
        Box::pin(async move {
            self.remove_container(
                &id,
                RemoveContainerOptions {
                    volumes: false,
                    force: false,
                },
            )
            .await
        })
    }

    fn restart_container(
        &self,
        id: &str,
        timeout: Option<Duration>,
    ) -> BoxFuture<'_, Result<(), Error>> {
        let id = id.to_owned();
        Box::pin(async move { Docker::restart_container(self, &id, timeout).await })
    }

    fn is_running(&self, id: &str) -> BoxFuture<'_, Result<bool, Error>> {
        let id = id.to_owned();
        Box::pin(async move { Ok(self.inspect_container(&id).await?.state.running) })
    }

    fn containers_using(&self, image_id: &str) -> BoxFuture<'_, Result<Vec<String>, Error>> {
        let image_id = image_id.to_owned();
        Box::pin(async move {
            let list = self
                .list_containers(&ListContainersOptions {
                    all: true,
                    size: false,
                    filters: Filters::new().with("ancestor", image_id),
                })
                .await?;
            Ok(list.iter().map(|c| c.name().to_owned()).collect())
        })
    }

    fn image_tags(&self, image_id: &str) -> BoxFuture<'_, Result<Vec<String>, Error>> {
        let image_id = image_id.to_owned();
        Box::pin(async move {
            let image = self.inspect_image(&image_id).await?;
            Ok(image
                .repo_tags
                .into_iter()
                .filter(|t| t != "<none>:<none>")
                .collect())
        })
    }

    fn remove_image(&self, reference: &str) -> BoxFuture<'_, Result<Vec<ImageDeleteItem>, Error>> {
        let reference = reference.to_owned();
        Box::pin(async move {
            Docker::remove_image(
                self,
                &reference,
                RemoveImageOptions {
                    force: false,
                    noprune: false,
                },
            )
            .await
        })
    }

    fn tag_image(&self, image_id: &str, tag: &str) -> BoxFuture<'_, Result<(), Error>> {
        let image_id = image_id.to_owned();
        let (repo, tag) = swab_docker::split_reference(tag);
        let (repo, tag) = (repo.to_owned(), tag.to_owned());
        Box::pin(async move { Docker::tag_image(self, &image_id, &repo, &tag).await })
    }

    fn remove_volume(&self, name: &str) -> BoxFuture<'_, Result<(), Error>> {
        let name = name.to_owned();
        Box::pin(async move { Docker::remove_volume(self, &name, false).await })
    }

    fn remove_network(&self, id: &str) -> BoxFuture<'_, Result<(), Error>> {
        let id = id.to_owned();
        Box::pin(async move { Docker::remove_network(self, &id).await })
    }

    fn prune_build_cache(&self, unused_for: Option<Duration>) -> BoxFuture<'_, Result<u64, Error>> {
        Box::pin(async move {
            let mut filters = Filters::new();
            if let Some(d) = unused_for {
                filters = filters.with("until", format!("{}s", d.as_secs()));
            }
            Ok(Docker::prune_build_cache(self, &filters)
                .await?
                .space_reclaimed)
        })
    }
}

/// An engine that records every mutating call, in order, as `method argument...`, and
/// passes it on to `E`: the dry run ([`DryRun`]), the unit tests' scripted engine and the
/// daemon tests' real one all record the same way.
#[derive(Debug, Default)]
pub struct Recording<E> {
    inner: E,
    calls: Mutex<Vec<String>>,
}

impl<E: Engine> Recording<E> {
    /// Records the calls made to `inner`.
    pub fn new(inner: E) -> Recording<E> {
        Recording {
            inner,
            calls: Mutex::default(),
        }
    }

    /// The mutating calls made so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The engine calls are passed on to.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    fn record(&self, call: String) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
    }
}

impl<E: Engine> Engine for Recording<E> {
    fn is_dry_run(&self) -> bool {
        self.inner.is_dry_run()
    }

    fn remove_container(&self, id: &str) -> BoxFuture<'_, Result<(), Error>> {
        self.record(format!("remove_container {id}"));
        self.inner.remove_container(id)
    }

    fn restart_container(
        &self,
        id: &str,
        timeout: Option<Duration>,
    ) -> BoxFuture<'_, Result<(), Error>> {
        self.record(format!("restart_container {id}"));
        self.inner.restart_container(id, timeout)
    }

    fn is_running(&self, id: &str) -> BoxFuture<'_, Result<bool, Error>> {
        self.inner.is_running(id)
    }

    fn containers_using(&self, image_id: &str) -> BoxFuture<'_, Result<Vec<String>, Error>> {
        self.inner.containers_using(image_id)
    }

    fn image_tags(&self, image_id: &str) -> BoxFuture<'_, Result<Vec<String>, Error>> {
        self.inner.image_tags(image_id)
    }

    fn remove_image(&self, reference: &str) -> BoxFuture<'_, Result<Vec<ImageDeleteItem>, Error>> {
        self.record(format!("remove_image {reference}"));
        self.inner.remove_image(reference)
    }

    fn tag_image(&self, image_id: &str, tag: &str) -> BoxFuture<'_, Result<(), Error>> {
        self.record(format!("tag_image {image_id} {tag}"));
        self.inner.tag_image(image_id, tag)
    }

    fn remove_volume(&self, name: &str) -> BoxFuture<'_, Result<(), Error>> {
        self.record(format!("remove_volume {name}"));
        self.inner.remove_volume(name)
    }

    fn remove_network(&self, id: &str) -> BoxFuture<'_, Result<(), Error>> {
        self.record(format!("remove_network {id}"));
        self.inner.remove_network(id)
    }

    fn prune_build_cache(&self, unused_for: Option<Duration>) -> BoxFuture<'_, Result<u64, Error>> {
        self.record("prune_build_cache".to_owned());
        self.inner.prune_build_cache(unused_for)
    }
}

/// The dry-run engine: records every call a real run would make (see [`Recording`]) and
/// succeeds, answering the executor's questions from the plan's own view of the world.
pub type DryRun = Recording<Pretend>;

impl DryRun {
    /// A recorder for `plan`.
    pub fn for_plan(plan: &Plan) -> DryRun {
        let tags = plan
            .actions
            .iter()
            .filter_map(|a| match &a.op {
                Op::RemoveImage { id, tags, .. } => Some((id.clone(), tags.clone())),
                _ => None,
            })
            .collect();
        Recording::new(Pretend { tags })
    }
}

/// Succeeds at everything and answers as the plan saw the world (no new users, the
/// planned tags), so a dry run makes exactly the calls a real run on unchanged state
/// would make.
#[derive(Debug, Default)]
pub struct Pretend {
    tags: HashMap<String, Vec<String>>,
}

impl Engine for Pretend {
    fn is_dry_run(&self) -> bool {
        true
    }

    fn remove_container(&self, _id: &str) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }

    fn restart_container(
        &self,
        _id: &str,
        _timeout: Option<Duration>,
    ) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }

    fn is_running(&self, _id: &str) -> BoxFuture<'_, Result<bool, Error>> {
        Box::pin(async { Ok(true) })
    }

    fn containers_using(&self, _image_id: &str) -> BoxFuture<'_, Result<Vec<String>, Error>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn image_tags(&self, image_id: &str) -> BoxFuture<'_, Result<Vec<String>, Error>> {
        let tags = self.tags.get(image_id).cloned().unwrap_or_default();
        Box::pin(async move { Ok(tags) })
    }

    fn remove_image(&self, _reference: &str) -> BoxFuture<'_, Result<Vec<ImageDeleteItem>, Error>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn tag_image(&self, _image_id: &str, _tag: &str) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }

    fn remove_volume(&self, _name: &str) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }

    fn remove_network(&self, _id: &str) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }

    fn prune_build_cache(
        &self,
        _unused_for: Option<Duration>,
    ) -> BoxFuture<'_, Result<u64, Error>> {
        Box::pin(async { Ok(0) })
    }
}

/// Executes `plan` with at most `parallel` operations in flight, calling `progress` after each
/// action. Returns one report entry per planned action, in plan order.
/// Once `cancel` is set, actions not yet begun are skipped; those in flight finish.
pub async fn execute(
    plan: &Plan,
    engine: &dyn Engine,
    parallel: usize,
    cancel: &Cancel,
    progress: &(dyn Fn(&ActionReport) + Sync),
) -> Vec<ActionReport> {
    let parallel = parallel.max(1);
    let mut results: HashMap<usize, ActionReport> = HashMap::new();
    let indexed: Vec<(usize, &PlannedAction)> = plan.actions.iter().enumerate().collect();
    let of = |pred: fn(&Op) -> bool| -> Vec<(usize, &PlannedAction)> {
        indexed
            .iter()
            .copied()
            .filter(|(_, a)| pred(&a.op))
            .collect()
    };

    // Containers first, so the images, volumes and networks they used are free afterwards.
    let before_images: [fn(&Op) -> bool; 2] = [
        |op| matches!(op, Op::RemoveContainer { .. }),
        |op| matches!(op, Op::RestartContainer { .. }),
    ];
    for wave in before_images {
        run_wave(of(wave), engine, parallel, cancel, progress, &mut results).await;
    }

    // Images in waves: an image goes once none of its planned children is still pending.
    let mut pending: Vec<(usize, &PlannedAction)> = of(|op| matches!(op, Op::RemoveImage { .. }));
    let parent_of = |a: &PlannedAction| match &a.op {
        Op::RemoveImage { parent, .. } => parent.clone(),
        _ => None,
    };
    let mut outcome: HashMap<String, Status> = HashMap::new();
    while !pending.is_empty() {
        let waiting_parents: HashSet<String> =
            pending.iter().filter_map(|(_, a)| parent_of(a)).collect();
        let (mut ready, rest): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|(_, a)| !waiting_parents.contains(a.op.id()));
        pending = rest;
        if ready.is_empty() {
            // Only possible with a parent cycle, which Docker cannot produce; never spin.
            ready = std::mem::take(&mut pending);
        }
        // Children that did not go strand their parents: skip those without a call.
        let children_failed: HashSet<String> = plan
            .actions
            .iter()
            .filter(|a| matches!(outcome.get(a.op.id()), Some(s) if !matches!(s, Status::Done | Status::Planned)))
            .filter_map(parent_of)
            .collect();
        let (blocked, ready): (Vec<_>, Vec<_>) = ready
            .into_iter()
            .partition(|(_, a)| children_failed.contains(a.op.id()));
        for (index, action) in blocked {
            let report = ActionReport::from_action(
                action,
                Status::Skipped,
                Some("a child image was not removed, so this parent stays".to_owned()),
                None,
            );
            progress(&report);
            outcome.insert(action.op.id().to_owned(), report.status);
            results.insert(index, report);
        }
        let before: HashSet<usize> = results.keys().copied().collect();
        run_wave(ready, engine, parallel, cancel, progress, &mut results).await;
        for (index, report) in &results {
            if !before.contains(index) {
                outcome.insert(report.id.clone(), report.status);
            }
        }
    }

    let after_images: [fn(&Op) -> bool; 3] = [
        |op| matches!(op, Op::RemoveVolume { .. }),
        |op| matches!(op, Op::RemoveNetwork { .. }),
        |op| matches!(op, Op::PruneBuildCache { .. }),
    ];
    for wave in after_images {
        run_wave(of(wave), engine, parallel, cancel, progress, &mut results).await;
    }

    let mut ordered: Vec<(usize, ActionReport)> = results.into_iter().collect();
    ordered.sort_by_key(|(i, _)| *i);
    ordered.into_iter().map(|(_, r)| r).collect()
}

async fn run_wave(
    wave: Vec<(usize, &PlannedAction)>,
    engine: &dyn Engine,
    parallel: usize,
    cancel: &Cancel,
    progress: &(dyn Fn(&ActionReport) + Sync),
    results: &mut HashMap<usize, ActionReport>,
) {
    let done: Vec<(usize, ActionReport)> = stream::iter(wave)
        .map(|(index, action)| async move {
            let report = if cancel.is_cancelled() {
                ActionReport::from_action(
                    action,
                    Status::Skipped,
                    Some(format!("{} before it began", cancel.why())),
                    None,
                )
            } else {
                run_one(action, engine).await
            };
            progress(&report);
            (index, report)
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    results.extend(done);
}

/// The status for a successful call.
fn success(engine: &dyn Engine) -> Status {
    if engine.is_dry_run() {
        Status::Planned
    } else {
        Status::Done
    }
}

/// Turns a daemon error into skipped (the world changed: in use, gone, running again) or
/// failed (anything else).
fn classify(err: &Error) -> Status {
    match err {
        // Removing a network with endpoints answers 403 Forbidden.
        Error::NotFound { .. } | Error::Conflict { .. } | Error::Daemon { status: 403, .. } => {
            Status::Skipped
        }
        _ => Status::Failed,
    }
}

async fn run_one(action: &PlannedAction, engine: &dyn Engine) -> ActionReport {
    let result: Result<Option<u64>, Error> = match &action.op {
        Op::RemoveContainer { id } => engine.remove_container(id).await.map(|()| action.bytes),
        Op::RestartContainer { id, timeout } => match engine.is_running(id).await {
            Ok(true) => engine.restart_container(id, *timeout).await.map(|()| None),
            Ok(false) => {
                return ActionReport::from_action(
                    action,
                    Status::Skipped,
                    Some("stopped since planning; not started again".to_owned()),
                    None,
                );
            }
            Err(err) => Err(err),
        },
        Op::RemoveVolume { id } => engine.remove_volume(id).await.map(|()| action.bytes),
        Op::RemoveNetwork { id } => engine.remove_network(id).await.map(|()| None),
        Op::PruneBuildCache { unused_for, .. } => {
            engine.prune_build_cache(*unused_for).await.map(Some)
        }
        Op::RemoveImage { id, tags, .. } => {
            return remove_image(action, id, tags, engine).await;
        }
    };
    match result {
        Ok(bytes) => ActionReport::from_action(action, success(engine), None, bytes),
        Err(err) => ActionReport::from_action(action, classify(&err), Some(err.to_string()), None),
    }
}

/// Removes an image without ever losing a tag or touching another image: see the module
/// docs.
///
/// Images are deleted by ID, never by tag: a tag may have moved to another image since
/// planning (a `docker pull`), and deleting it by name would untag, or delete, an image no
/// rule selected. By ID, the daemon removes the image's one tag with it; if the tag moved
/// away, the planned image is dangling now and goes while the other image keeps its tag;
/// a second tag added since planning, or a new container, makes the daemon refuse (409),
/// and the action is skipped.
async fn remove_image(
    action: &PlannedAction,
    id: &str,
    tags: &[String],
    engine: &dyn Engine,
) -> ActionReport {
    let skipped = |why: String| ActionReport::from_action(action, Status::Skipped, Some(why), None);
    let refused = |err: &Error, note: &str| {
        ActionReport::from_action(action, classify(err), Some(format!("{err}{note}")), None)
    };
    let done = || ActionReport::from_action(action, success(engine), None, action.bytes);

    if tags.len() <= 1 {
        if tags.is_empty() {
            // Deleting by ID would also delete a tag added since planning: look first.
            match engine.image_tags(id).await {
                Ok(now) if !now.is_empty() => {
                    return skipped(format!("tagged {} since planning", now.join(", ")));
                }
                Ok(_) => {}
                Err(err) => return refused(&err, ""),
            }
        }
        return match engine.remove_image(id).await {
            Ok(_) => done(),
            Err(err) => refused(&err, ""),
        };
    }

    // Several tags. Untagging succeeds even while a container uses the image, as long as
    // another tag remains: check for users before touching any tag.
    match engine.containers_using(id).await {
        Ok(users) if !users.is_empty() => {
            return skipped(format!(
                "in use by container {} (created since planning)",
                users.join(", ")
            ));
        }
        Ok(_) => {}
        Err(err) => {
            return ActionReport::from_action(action, Status::Failed, Some(err.to_string()), None);
        }
    }
    // Untag only what points at this image now, then delete it by ID with its last tag.
    let current = match engine.image_tags(id).await {
        Ok(current) => current,
        Err(err) => return refused(&err, ""),
    };
    // A tag added since planning may be protected or wanted: never remove what no rule saw.
    let added: Vec<&str> = current
        .iter()
        .filter(|t| !tags.contains(t))
        .map(String::as_str)
        .collect();
    if !added.is_empty() {
        return skipped(format!("tagged {} since planning", added.join(", ")));
    }
    let mut untagged: Vec<&str> = Vec::new();
    for tag in current.iter().skip(1) {
        match engine.remove_image(tag).await {
            Ok(_) => untagged.push(tag),
            // Someone else removed the tag already: nothing to restore.
            Err(err) if err.is_not_found() => {}
            Err(err) => {
                let restored = restore_tags(engine, id, &untagged).await;
                return refused(&err, &restored);
            }
        }
    }
    match engine.remove_image(id).await {
        Ok(_) => done(),
        Err(err) => {
            let restored = restore_tags(engine, id, &untagged).await;
            refused(&err, &restored)
        }
    }
}

/// Puts back tags removed before a conflict. Returns a note for the report.
async fn restore_tags(engine: &dyn Engine, id: &str, tags: &[&str]) -> String {
    if tags.is_empty() {
        return String::new();
    }
    let mut failed = Vec::new();
    for tag in tags {
        if let Err(err) = engine.tag_image(id, tag).await {
            tracing::error!(image = id, tag, error = %err, "could not restore a removed tag");
            failed.push(format!("{tag} ({err})"));
        }
    }
    if failed.is_empty() {
        format!("; restored tags {}", tags.join(", "))
    } else {
        format!("; COULD NOT restore tags {}", failed.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Summary;

    /// An engine whose answers come from a script: a reference listed in `conflicts`
    /// gets a 409, one in `failures` a 500. Wrapped in [`Recording`] for the call log.
    #[derive(Default)]
    struct Scripted {
        conflicts: Vec<&'static str>,
        failures: Vec<&'static str>,
        users: Vec<String>,
        tags: Vec<String>,
        /// Containers that are not running (any more).
        stopped: Vec<&'static str>,
    }

    impl Scripted {
        fn answer(&self, reference: &str) -> Result<(), Error> {
            if self.conflicts.contains(&reference) {
                return Err(Error::Conflict {
                    message: format!("{reference} is in use"),
                });
            }
            if self.failures.contains(&reference) {
                return Err(Error::Daemon {
                    status: 500,
                    what: "DELETE".into(),
                    message: "disk on fire".into(),
                });
            }
            Ok(())
        }
    }

    impl Engine for Scripted {
        fn is_dry_run(&self) -> bool {
            false
        }
        fn remove_container(&self, id: &str) -> BoxFuture<'_, Result<(), Error>> {
            let r = self.answer(id);
            Box::pin(async move { r })
        }
        fn restart_container(
            &self,
            id: &str,
            _: Option<Duration>,
        ) -> BoxFuture<'_, Result<(), Error>> {
            let r = self.answer(id);
            Box::pin(async move { r })
        }
        fn is_running(&self, id: &str) -> BoxFuture<'_, Result<bool, Error>> {
            let running = !self.stopped.contains(&id);
            Box::pin(async move { Ok(running) })
        }
        fn containers_using(&self, _: &str) -> BoxFuture<'_, Result<Vec<String>, Error>> {
            let users = self.users.clone();
            Box::pin(async move { Ok(users) })
        }
        fn image_tags(&self, _: &str) -> BoxFuture<'_, Result<Vec<String>, Error>> {
            let tags = self.tags.clone();
            Box::pin(async move { Ok(tags) })
        }
        fn remove_image(
            &self,
            reference: &str,
        ) -> BoxFuture<'_, Result<Vec<ImageDeleteItem>, Error>> {
            let r = self.answer(reference).map(|()| Vec::new());
            Box::pin(async move { r })
        }
        fn tag_image(&self, _: &str, tag: &str) -> BoxFuture<'_, Result<(), Error>> {
            let r = self.answer(tag);
            Box::pin(async move { r })
        }
        fn remove_volume(&self, name: &str) -> BoxFuture<'_, Result<(), Error>> {
            let r = self.answer(name);
            Box::pin(async move { r })
        }
        fn remove_network(&self, id: &str) -> BoxFuture<'_, Result<(), Error>> {
            let r = self.answer(id);
            Box::pin(async move { r })
        }
        fn prune_build_cache(&self, _: Option<Duration>) -> BoxFuture<'_, Result<u64, Error>> {
            Box::pin(async { Ok(7) })
        }
    }

    fn image(id: &str, tags: &[&str], parent: Option<&str>) -> PlannedAction {
        PlannedAction {
            rule: "r".into(),
            op: Op::RemoveImage {
                id: id.into(),
                tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                parent: parent.map(str::to_owned),
            },
            name: id.into(),
            reason: "test".into(),
            bytes: Some(10),
        }
    }

    fn container(id: &str) -> PlannedAction {
        PlannedAction {
            rule: "r".into(),
            op: Op::RemoveContainer { id: id.into() },
            name: id.into(),
            reason: "test".into(),
            bytes: None,
        }
    }

    async fn run(actions: Vec<PlannedAction>, engine: &dyn Engine) -> Vec<ActionReport> {
        let plan = Plan {
            actions,
            ..Plan::default()
        };
        execute(&plan, engine, 4, &Cancel::new(), &|_| {}).await
    }

    /// A signal between actions: what ran stays done, everything not yet begun (in this
    /// wave and the later ones) is skipped without a call, and says why.
    #[tokio::test]
    async fn a_signal_skips_every_action_not_yet_begun() {
        let engine = Recording::new(Scripted::default());
        let plan = Plan {
            actions: vec![
                container("c1"),
                container("c2"),
                container("c3"),
                image("sha256:i", &[], None),
            ],
            ..Plan::default()
        };
        let cancel = Cancel::new();
        let seen = std::sync::atomic::AtomicUsize::new(0);
        // The signal arrives as the second action reports.
        let progress = |_: &ActionReport| {
            if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                cancel.cancel();
            }
        };
        let reports = execute(&plan, &engine, 1, &cancel, &progress).await;
        let statuses: Vec<Status> = reports.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            [Status::Done, Status::Done, Status::Skipped, Status::Skipped]
        );
        for r in &reports[2..] {
            assert_eq!(
                r.error.as_deref(),
                Some("interrupted by a signal before it began")
            );
        }
        assert_eq!(
            engine.calls(),
            ["remove_container c1", "remove_container c2"]
        );
    }

    #[tokio::test]
    async fn a_late_conflict_on_the_last_tag_restores_the_removed_tags() {
        let engine = Recording::new(Scripted {
            conflicts: vec!["sha256:i"],
            tags: vec!["app:1".into(), "app:2".into(), "app:3".into()],
            ..Scripted::default()
        });
        let reports = run(
            vec![image("sha256:i", &["app:1", "app:2", "app:3"], None)],
            &engine,
        )
        .await;
        assert_eq!(reports[0].status, Status::Skipped);
        let error = reports[0].error.as_deref().unwrap();
        assert!(error.contains("restored tags app:2, app:3"), "{error}");
        assert_eq!(
            engine.calls(),
            [
                "remove_image app:2",
                "remove_image app:3",
                "remove_image sha256:i",
                "tag_image sha256:i app:2",
                "tag_image sha256:i app:3"
            ]
        );
    }

    #[tokio::test]
    async fn a_tag_added_since_planning_skips_without_touching_any_tag() {
        let engine = Recording::new(Scripted {
            tags: vec!["app:1".into(), "release:7".into(), "app:2".into()],
            ..Scripted::default()
        });
        let reports = run(vec![image("sha256:i", &["app:1", "app:2"], None)], &engine).await;
        assert_eq!(reports[0].status, Status::Skipped);
        assert!(
            reports[0]
                .error
                .as_deref()
                .unwrap()
                .contains("tagged release:7 since planning")
        );
        assert!(engine.calls().is_empty(), "{:?}", engine.calls());
    }

    #[tokio::test]
    async fn users_found_before_untagging_skip_without_touching_any_tag() {
        let engine = Recording::new(Scripted {
            users: vec!["late-comer".into()],
            ..Scripted::default()
        });
        let reports = run(vec![image("sha256:i", &["app:1", "app:2"], None)], &engine).await;
        assert_eq!(reports[0].status, Status::Skipped);
        assert!(reports[0].error.as_deref().unwrap().contains("late-comer"));
        assert!(engine.calls().is_empty());
    }

    #[tokio::test]
    async fn a_failure_is_failed_and_counted_while_conflicts_are_skips() {
        let engine = Recording::new(Scripted {
            failures: vec!["c1"],
            conflicts: vec!["c2"],
            ..Scripted::default()
        });
        let reports = run(
            vec![container("c1"), container("c2"), container("c3")],
            &engine,
        )
        .await;
        let statuses: Vec<Status> = reports.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [Status::Failed, Status::Skipped, Status::Done]);
        let summary = Summary::of(&reports);
        assert_eq!(
            (summary.failed, summary.skipped, summary.containers_removed),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn children_go_before_parents_and_a_failed_child_keeps_its_parent() {
        let engine = Recording::new(Scripted {
            failures: vec!["sha256:cb"],
            ..Scripted::default()
        });
        let actions = vec![
            image("sha256:pa", &["parent-a:1"], None),
            image("sha256:ca", &["child-a:1"], Some("sha256:pa")),
            image("sha256:pb", &["parent-b:1"], None),
            image("sha256:cb", &["child-b:1"], Some("sha256:pb")),
        ];
        let reports = run(actions, &engine).await;
        let calls = engine.calls();
        let pos = |c: &str| calls.iter().position(|x| x == c).unwrap();
        assert!(
            pos("remove_image sha256:ca") < pos("remove_image sha256:pa"),
            "{calls:?}"
        );
        assert!(
            !calls.contains(&"remove_image sha256:pb".to_owned()),
            "{calls:?}"
        );
        assert_eq!(reports[2].status, Status::Skipped);
        assert!(reports[2].error.as_deref().unwrap().contains("child image"));
        // Reports come back in plan order.
        assert_eq!(
            reports.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["sha256:pa", "sha256:ca", "sha256:pb", "sha256:cb"]
        );
    }

    #[tokio::test]
    async fn a_container_stopped_since_planning_is_not_restarted() {
        let engine = Recording::new(Scripted {
            stopped: vec!["c1"],
            ..Scripted::default()
        });
        let restart = |id: &str| PlannedAction {
            rule: "r".into(),
            op: Op::RestartContainer {
                id: id.into(),
                timeout: None,
            },
            name: id.into(),
            reason: "test".into(),
            bytes: None,
        };
        let reports = run(vec![restart("c1"), restart("c2")], &engine).await;
        assert_eq!(reports[0].status, Status::Skipped);
        assert!(
            reports[0]
                .error
                .as_deref()
                .unwrap()
                .contains("stopped since planning")
        );
        assert_eq!(reports[1].status, Status::Done);
        assert_eq!(engine.calls(), ["restart_container c2"]);
    }

    #[tokio::test]
    async fn dry_run_records_and_reports_planned() {
        let engine = DryRun::for_plan(&Plan {
            actions: vec![image("sha256:i", &["a:1", "a:2"], None)],
            ..Plan::default()
        });
        let reports = run(
            vec![container("c1"), image("sha256:i", &["a:1", "a:2"], None)],
            &engine,
        )
        .await;
        assert!(reports.iter().all(|r| r.status == Status::Planned));
        assert_eq!(
            engine.calls(),
            [
                "remove_container c1",
                "remove_image a:2",
                "remove_image sha256:i"
            ]
        );
    }
}
