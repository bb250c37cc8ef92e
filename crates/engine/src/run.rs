//! One run: snapshot, plan, execute (or record), report. Shared by `swab run` and the
//! daemon so both take exactly the same path.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use swab_docker::Docker;
use swab_docker::models::ImageStore;
use swab_registry::{
    CredentialStore, Platform, RateLimit, RegistryClient, RegistryError, RegistryOptions,
};
use swab_rules::{Action, ImageRef, Rule, RuleSet};

use crate::cancel::Cancel;
use crate::exec::{self, DryRun, Engine};
use crate::gather::{self, LocalFilesystem};
use crate::hooks::Phase;
use crate::lease::Lease;
use crate::plan::{self, Note, NoteScope};
use crate::report::{ActionKind, ActionReport, Report, Status, Summary};
use crate::services::ServiceCheck;
use crate::snapshot::Snapshot;
use crate::state::{State, StateError};
use crate::update::{self, Outcome, Recovery, UpdateEngine, Updater};
use crate::updates::{self, Answer, Answers, TagList, UpdateCheck, UpdatePlan};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Record instead of acting.
    pub dry_run: bool,
    /// Operations in flight at once.
    pub parallel: usize,
    /// Set on SIGINT/SIGTERM: actions not begun are skipped, an update in flight is
    /// finished or rolled back.
    pub cancel: Cancel,
}

/// Why a run could not happen at all (as opposed to actions failing inside it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The daemon could not be read.
    #[error("cannot read the state of the Docker host at {endpoint}")]
    Snapshot {
        /// The daemon.
        endpoint: String,
        /// Why.
        #[source]
        source: swab_docker::Error,
    },
    /// The state file could not be loaded.
    #[error(transparent)]
    State(#[from] StateError),
    /// An update a crash interrupted could not be finished or undone; nothing else ran.
    #[error(
        "an interrupted update could not be recovered, so nothing else ran (the next run tries again): {}; the journal is `in_flight` in {}: once things are put right by hand, delete that entry",
        problems.join("; "),
        state_path.display()
    )]
    Recovery {
        /// What failed.
        problems: Vec<String>,
        /// The state file holding the journal.
        state_path: std::path::PathBuf,
    },
}

impl RunError {
    /// The error for a recovery that left problems.
    pub fn recovery(recovery: &Recovery, state_path: &Path) -> RunError {
        RunError::Recovery {
            state_path: state_path.to_owned(),
            problems: recovery
                .problems
                .iter()
                .map(|(reference, problem)| format!("{reference}: {problem}"))
                .collect(),
        }
    }

    /// True when the daemon is unreachable (the CLI's exit code 3; the daemon retries).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RunError::Snapshot { source, .. } if source.is_unreachable())
    }
}

/// Runs `selected` rules of `rules` now. A real run merges its observations into the state
/// file at `state_path` (re-reading it first, so records written meanwhile by another swab
/// are kept). `_lock` proves the caller holds the lease on the daemon for real runs.
pub async fn run_rules(
    docker: &Docker,
    rules: &RuleSet,
    selected: &[&Rule],
    state_path: &Path,
    options: RunOptions,
    _lock: Option<&Lease>,
    observer: Observer<'_>,
) -> Result<Report, RunError> {
    let progress = observer.action;
    // An update a crash interrupted is finished or undone before anything else looks.
    // Until that worked, nothing else runs: a parked old container must not meet a prune.
    let recovered = if options.dry_run {
        Recovery::default()
    } else {
        update::recover(docker, &update::StateFile::new(state_path)).await
    };
    if !recovered.problems.is_empty() {
        return Err(RunError::recovery(&recovered, state_path));
    }
    let mut state = State::load(state_path)?;
    state.read_shared(state_path, &crate::state::shared_path());
    let started = SystemTime::now();
    let docker_retries = docker.retries();
    let (snapshot, gathered) = gather::gather(
        docker,
        selected,
        &rules.protect,
        &LocalFilesystem,
        options.parallel,
    )
    .await
    .map_err(|source| RunError::Snapshot {
        endpoint: docker.endpoint().to_owned(),
        source,
    })?;
    log_snapshot(&snapshot, &gathered);
    state.images.observe(&snapshot, started);
    let plan = plan::plan(&snapshot, selected, &rules.protect, &state.images, started);
    let update_rules: Vec<&Rule> = selected
        .iter()
        .copied()
        .filter(|r| r.action == Action::Update)
        .collect();
    let checks = updates::collect(&snapshot, &update_rules, &rules.protect);
    // `pre-check` hooks run before the registries are asked, `post-check` ones after the
    // updates (in the replacement, if there is one).
    let pre_check = updates::check_hooks(&checks, &snapshot, &update_rules, Phase::PreCheck);
    let post_check = updates::check_hooks(&checks, &snapshot, &update_rules, Phase::PostCheck);
    let mut actions = run_check_hooks(docker, &pre_check, &options, progress).await;
    let (update_plan, credentials) = if update_rules.is_empty() {
        (UpdatePlan::default(), None)
    } else {
        let record_to = (!options.dry_run).then_some(state_path);
        let memory = (&mut state, started, record_to);
        check_updates(docker, &snapshot, checks, &update_rules, rules, memory).await
    };

    let recorder = DryRun::for_plan(&plan);
    let engine: &dyn Engine = if options.dry_run { &recorder } else { docker };
    actions.extend(exec::execute(&plan, engine, options.parallel, &options.cancel, progress).await);

    actions.extend(
        run_updates(
            docker,
            &update_plan,
            credentials,
            rules,
            state_path,
            &options,
            observer,
        )
        .await,
    );
    actions.extend(run_check_hooks(docker, &post_check, &options, progress).await);
    let recovery_notes = recovered.notes.into_iter().map(|message| Note {
        scope: NoteScope::Recovery,
        message,
    });
    let notes = plan
        .notes
        .into_iter()
        .chain(update_plan.notes)
        .chain(recovery_notes)
        .collect();
    let kept = [plan.kept, update_plan.kept, update_plan.services.kept].concat();

    if !options.dry_run {
        // The record of use outlives this run; losing it only makes swab more cautious.
        if let Err(err) = state.merge_into_file(state_path, true) {
            tracing::warn!(error = %err, "cannot save swab's state");
        }
    }
    Ok(Report {
        swab_version: env!("CARGO_PKG_VERSION"),
        dry_run: options.dry_run,
        host: docker.endpoint().to_owned(),
        started_at: humantime::format_rfc3339_seconds(started).to_string(),
        finished_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        summary: Summary::of(&actions),
        rate_limits: update_plan.rate_limits.clone(),
        retries: crate::report::Retries {
            docker: docker.retries() - docker_retries,
            registry: update_plan.registry_retries,
        },
        actions,
        kept,
        notes,
    })
}

fn log_snapshot(snapshot: &Snapshot, gathered: &gather::GatherStats) {
    tracing::info!(
        containers = snapshot.containers.len(),
        images = snapshot.images.len(),
        api_calls = gathered.api_calls,
        container_inspects = gathered.container_inspects,
        image_inspects = gathered.image_inspects,
        "snapshot taken"
    );
}

/// Writes when new digests were first seen (the cooldowns' start) to the state file, before
/// anything is applied. (A dry run keeps it to itself.)
fn record_first_seen(state_path: &Path, seen: &[(String, Option<String>)], at: SystemTime) {
    if seen.is_empty() {
        return;
    }
    let record = |state: &mut State| {
        for (reference, digest) in seen {
            state.first_seen.observe(reference, digest.as_deref(), at);
        }
    };
    if let Err(err) = State::edit_file(state_path, record) {
        tracing::warn!(error = %err, "cannot record when new digests were first seen");
    }
}

/// What a run reports while it works.
#[derive(Clone, Copy)]
#[allow(missing_debug_implementations)] // callbacks
pub struct Observer<'a> {
    /// Called after each action.
    pub action: &'a (dyn Fn(&ActionReport) + Sync),
    /// Called with what a long update step is doing now (a pull, a health gate).
    pub status: &'a (dyn Fn(&str) + Sync),
}

/// The update part of a run: failed look-ups reported, then each group applied (or, in a
/// dry run, listed as planned).
async fn run_updates(
    docker: &Docker,
    update_plan: &UpdatePlan,
    credentials: Option<CredentialStore>,
    rules: &RuleSet,
    state_path: &Path,
    options: &RunOptions,
    observer: Observer<'_>,
) -> Vec<ActionReport> {
    let progress = observer.action;
    let protect = &rules.protect;
    let mut actions = send_notices(docker, update_plan, rules, state_path, options, progress).await;
    for (rule, reference, error) in &update_plan.failed {
        let report = failed_check(rule, reference, error);
        progress(&report);
        actions.push(report);
    }
    let credentials = credentials.unwrap_or_else(CredentialStore::anonymous);
    let state_file = update::StateFile::new(state_path);
    let updater = Updater {
        engine: docker,
        credentials: &credentials,
        protect,
        state: &state_file,
        cancel: &options.cancel,
        progress,
        status: observer.status,
    };
    for group in &update_plan.groups {
        if options.dry_run {
            let planned = update::planned_actions(group);
            planned.iter().for_each(progress);
            actions.extend(planned);
        } else {
            actions.extend(updater.apply(group).await);
        }
    }
    actions.extend(
        run_service_updates(
            docker,
            &update_plan.services,
            &credentials,
            state_path,
            options,
            observer,
        )
        .await,
    );
    actions
}

/// A registry look-up that failed, for `name` (a reference or a service).
fn failed_check(rule: &str, name: &str, error: &str) -> ActionReport {
    ActionReport {
        rule: rule.to_owned(),
        action: ActionKind::CheckImage,
        id: name.to_owned(),
        name: name.to_owned(),
        reason: "asked the registry for the current digest".to_owned(),
        status: Status::Failed,
        error: Some(error.to_owned()),
        bytes: None,
    }
}

/// The Swarm part of a run: failed look-ups reported, then each service update asked of
/// Swarm and waited for. One Swarm rolled back counts against its digest, like a
/// container update that failed its gate.
async fn run_service_updates(
    docker: &Docker,
    plan: &crate::services::ServicePlan,
    credentials: &CredentialStore,
    state_path: &Path,
    options: &RunOptions,
    observer: Observer<'_>,
) -> Vec<ActionReport> {
    let progress = observer.action;
    let mut actions = Vec::new();
    for (rule, service, error) in &plan.failed {
        let report = failed_check(rule, service, error);
        progress(&report);
        actions.push(report);
    }
    for service in &plan.updates {
        let report = if options.dry_run {
            crate::swarm::entry(service, Status::Planned, None)
        } else if options.cancel.is_cancelled() {
            let why = format!("{} before it began", options.cancel.why());
            crate::swarm::entry(service, Status::Skipped, Some(why))
        } else {
            let auth = match ImageRef::parse(&service.reference) {
                Ok(reference) => credentials
                    .get(reference.registry())
                    .await
                    .ok()
                    .flatten()
                    .map(|c| update::docker_auth(&c, &update::auth_server(&reference))),
                Err(_) => None,
            };
            let report = crate::swarm::apply(
                docker,
                service,
                auth.as_ref(),
                &options.cancel,
                observer.status,
            )
            .await;
            if report.status == Status::RolledBack {
                remember_failed_digest(state_path, service, report.error.as_deref());
            }
            report
        };
        progress(&report);
        actions.push(report);
    }
    actions
}

/// Records a digest Swarm rolled back, so the back-off holds it as for containers.
fn remember_failed_digest(
    state_path: &Path,
    service: &crate::services::ServiceUpdate,
    why: Option<&str>,
) {
    let record = |state: &mut State| {
        crate::memory::record_rollback(
            &mut state.rolled_back,
            (&service.reference, &service.digest),
            crate::memory::unix(SystemTime::now()),
            format!("service {}: {}", service.name, why.unwrap_or("rolled back")),
            false,
        );
    };
    if let Err(err) = State::edit_file(state_path, record) {
        tracing::warn!(error = %err, "cannot record the rolled-back digest");
    }
}

/// Sends the notices of `notify_only` rules, each once: a notice every target took is
/// recorded in the state file and never sent again; one that a target did not take is
/// reported `skipped` and sent again by the next run. Like notifications, a notice that
/// cannot be delivered never fails the run. A dry run lists them.
async fn send_notices(
    docker: &Docker,
    update_plan: &UpdatePlan,
    rules: &RuleSet,
    state_path: &Path,
    options: &RunOptions,
    progress: &(dyn Fn(&ActionReport) + Sync),
) -> Vec<ActionReport> {
    let client = if update_plan.notices.is_empty() {
        Err(String::new())
    } else {
        crate::daemon::notify::client()
    };
    let mut actions = Vec::new();
    for notice in &update_plan.notices {
        let mut entry = ActionReport {
            rule: notice.rule.clone(),
            action: ActionKind::Notify,
            id: notice.digest.clone(),
            name: notice.reference.clone(),
            reason: notice.text.clone(),
            status: Status::Planned,
            error: None,
            bytes: None,
        };
        if !options.dry_run {
            let problems = match &client {
                Ok(client) => {
                    crate::daemon::notify::send_notice(
                        client,
                        &rules.notify,
                        docker.endpoint(),
                        notice,
                    )
                    .await
                }
                Err(why) => vec![why.clone()],
            };
            if problems.is_empty() {
                entry.status = Status::Done;
                let record = |s: &mut State| s.noticed.record(&notice.reference, &notice.digest);
                if let Err(err) = State::edit_file(state_path, record) {
                    tracing::warn!(error = %err, "cannot record a sent notice; it may be sent again");
                }
            } else {
                tracing::warn!(reference = %notice.reference, problems = %problems.join("; "), "notice not delivered");
                entry.status = Status::Skipped;
                entry.error = Some(format!(
                    "not delivered ({}); sent again by the next run",
                    problems.join("; ")
                ));
            }
        }
        progress(&entry);
        actions.push(entry);
    }
    actions
}

/// Runs `pre-check` or `post-check` hooks (a dry run lists them). A failing one is
/// reported and changes nothing else: these hooks tell, they do not decide. For a
/// post-check, a container that no longer runs (by name: an update may have replaced it)
/// is skipped.
async fn run_check_hooks(
    docker: &Docker,
    hooks: &[updates::CheckHook],
    options: &RunOptions,
    progress: &(dyn Fn(&ActionReport) + Sync),
) -> Vec<ActionReport> {
    let mut actions = Vec::new();
    for h in hooks {
        let mut entry = ActionReport {
            rule: h.rule.clone(),
            action: ActionKind::RunHook,
            id: h.id.clone(),
            name: h.name.clone(),
            reason: h.hook.reason(),
            status: Status::Planned,
            error: None,
            bytes: None,
        };
        if options.cancel.is_cancelled() {
            entry.status = Status::Skipped;
            entry.error = Some(options.cancel.why().to_owned());
        } else if !options.dry_run {
            // A pre-check runs in the container the snapshot just saw; a post-check in the
            // one by that name now (the update may have replaced it): only that needs a look.
            let found = if h.hook.phase == Phase::PreCheck {
                Ok(Some(h.id.clone()))
            } else {
                docker
                    .inspect_container(&h.name)
                    .await
                    .map(|c| c.state.running.then_some(c.id))
            };
            let (status, error) = match found {
                Ok(Some(id)) => {
                    entry.id.clone_from(&id);
                    tracing::info!(container = %h.name, phase = %h.hook.phase, command = %h.hook.command, "running hook");
                    let (command, timeout) = (&h.hook.command, h.hook.timeout);
                    match UpdateEngine::run_hook(docker, &id, command, timeout, &options.cancel)
                        .await
                    {
                        Ok(run) if run.outcome(&h.hook) == Outcome::Passed => (Status::Done, None),
                        Ok(run) => {
                            tracing::warn!(container = %h.name, "{}", run.describe(&h.hook));
                            (Status::Failed, Some(run.describe(&h.hook)))
                        }
                        Err(err) => (
                            Status::Failed,
                            Some(format!("cannot run the {} hook: {err}", h.hook.phase)),
                        ),
                    }
                }
                Ok(None) => (Status::Skipped, Some("not running".to_owned())),
                Err(err) if err.is_not_found() => (Status::Skipped, Some("gone".to_owned())),
                Err(err) => (Status::Failed, Some(err.to_string())),
            };
            entry.status = status;
            entry.error = error;
        }
        progress(&entry);
        actions.push(entry);
    }
    actions
}

/// Asks the registries about every reference the update rules keep fresh (one request per
/// distinct reference, `HEAD` where that suffices; the daemon's distribution endpoint when
/// a registry cannot be reached directly) and plans the updates. Also returns the
/// credentials, for the pulls.
/// `memory`: the state, now, and the state file to record new digests' first sighting in
/// (none for a dry run).
async fn check_updates(
    docker: &Docker,
    snapshot: &Snapshot,
    mut checks: updates::UpdateChecks,
    update_rules: &[&Rule],
    rules: &RuleSet,
    (state, now, record_to): (&mut State, SystemTime, Option<&Path>),
) -> (UpdatePlan, Option<CredentialStore>) {
    let (service_checks, service_kept, service_notes) =
        crate::services::collect(snapshot, update_rules);
    let service_checks = service_checks.as_slice();
    let fail_all = |checks: &updates::UpdateChecks, why: String| UpdatePlan {
        failed: checks
            .checks
            .iter()
            .map(|c| {
                let rule = c.rules.first().cloned().unwrap_or_default();
                (rule, c.reference.familiar(), why.clone())
            })
            .collect(),
        services: crate::services::ServicePlan {
            failed: service_checks
                .iter()
                .map(|c| (c.rule.clone(), c.service.name.clone(), why.clone()))
                .collect(),
            ..Default::default()
        },
        ..UpdatePlan::default()
    };
    let mut for_services = service_lookups(service_checks, &checks.checks);
    // Images without registry digests are never replaced: do not ask about them.
    let mut asked: Vec<&mut UpdateCheck> = checks
        .checks
        .iter_mut()
        .filter(|c| c.local_image.is_some() && !c.local_digests.is_empty())
        .chain(for_services.iter_mut())
        .collect();
    let mut rate_limits = BTreeMap::new();
    let mut registry_retries = 0;
    let (answers, credentials) = if asked.is_empty() {
        (Answers::default(), None)
    } else {
        let credentials = match CredentialStore::from_environment() {
            Ok(c) => c,
            Err(err) => return (fail_all(&checks, err.to_string()), None),
        };
        match lookup_digests(docker, &credentials, &mut asked).await {
            Ok(lookup) => {
                rate_limits = lookup.rate_limits;
                registry_retries = lookup.retries;
                (lookup.answers, Some(credentials))
            }
            Err(err) => return (fail_all(&checks, err), None),
        }
    };
    // What the registries said starts (or keeps, or ends) each cooldown.
    let mut seen = updates::observations(&checks, &answers);
    seen.extend(crate::services::observations(service_checks, &answers));
    for (reference, digest) in &seen {
        state.first_seen.observe(reference, digest.as_deref(), now);
    }
    if let Some(path) = record_to {
        record_first_seen(path, &seen, now);
    }
    let memory = updates::UpdateMemory {
        rolled_back: &state.rolled_back,
        first_seen: &state.first_seen,
        noticed: &state.noticed,
        now,
    };
    let mut plan = updates::plan_updates(
        &checks,
        &answers,
        snapshot,
        update_rules,
        &rules.protect,
        &memory,
    );
    plan.services = crate::services::plan(service_checks, &answers, update_rules, &memory);
    plan.services.kept.splice(0..0, service_kept);
    plan.notices.append(&mut plan.services.notices);
    plan.notes.extend(service_notes);
    hold_for_rate_limits(&mut plan, &rate_limits);
    plan.registry_retries = registry_retries;
    plan.rate_limits = rate_limits
        .iter()
        .map(|(registry, l)| {
            let limit = crate::report::RegistryLimit {
                limit: l.limit,
                remaining: l.remaining,
            };
            (registry.clone(), limit)
        })
        .collect();
    (plan, credentials)
}

/// The tags services follow that `checks` do not already ask about, each once, as checks
/// to pass to [`lookup_digests`] with them.
pub fn service_lookups(
    service_checks: &[ServiceCheck],
    checks: &[UpdateCheck],
) -> Vec<UpdateCheck> {
    let mut out: Vec<UpdateCheck> = Vec::new();
    for c in service_checks {
        if !out.iter().chain(checks).any(|s| s.reference == c.reference) {
            out.push(UpdateCheck {
                reference: c.reference.clone(),
                rules: vec![c.rule.clone()],
                containers: Vec::new(),
                local_image: None,
                local_digests: Vec::new(),
                local_platform_digests: Vec::new(),
                track: None,
            });
        }
    }
    out
}

/// What the registries said about a set of update checks.
#[derive(Debug)]
pub struct Lookup {
    /// The daemon's platform, the one asked about.
    pub platform: Platform,
    /// One digest per distinct reference asked (sorted by reference), and the tag lists
    /// of tracked references.
    pub answers: Answers,
    /// The pull rate limits registries reported (Docker Hub does), by registry host.
    pub rate_limits: BTreeMap<String, RateLimit>,
    /// Registry requests tried again (a 5xx, a broken connection, a timeout).
    pub retries: u64,
}

/// Below this many pulls left in its window, swab pulls nothing more from a registry: the
/// rest is left for the host's own `docker pull`s and deployments.
pub const RATE_LIMIT_RESERVE: u64 = 10;

/// Keeps the groups whose registry reported fewer than [`RATE_LIMIT_RESERVE`] pulls left,
/// with why; the report says it and the next run tries again.
fn hold_for_rate_limits(plan: &mut UpdatePlan, limits: &BTreeMap<String, RateLimit>) {
    let (held, go): (Vec<_>, Vec<_>) =
        std::mem::take(&mut plan.groups).into_iter().partition(|g| {
            limits
                .get(g.reference.registry())
                .is_some_and(|l| l.remaining < RATE_LIMIT_RESERVE)
        });
    plan.groups = go;
    for group in held {
        let limit = limits[group.reference.registry()];
        plan.kept.push(crate::plan::Kept {
            rule: group.rule.clone(),
            id: group.reference.familiar(),
            name: group.reference.familiar(),
            reason: format!(
                "not pulled: {} reports {limit}; swab stops pulling below {RATE_LIMIT_RESERVE}",
                group.reference.registry()
            ),
            eligible_at: None,
        });
    }
}

/// The registries' current digest for each distinct reference of `checks`, for the daemon's
/// platform: one request per reference (`HEAD` where that suffices), at most a few at a time;
/// for a registry swab cannot reach itself (DNS, connect, TLS), the daemon is asked instead
/// (`GET /distribution/{name}/json`), which uses its own proxy, mirrors and certificates.
/// Fails only when the look-ups cannot start (TLS setup, `/info`).
///
/// On the containerd image store, `RepoDigests` are made from an image's names whether or
/// not it ever was in a registry, so they are no evidence that it came from one. There, for
/// each check the answer would update, the registry is asked (one `HEAD` by digest) whether
/// it has the local image's digest; when it does not, the image was built or loaded on this
/// host and the check's local digests are cleared, which keeps it from being replaced as on
/// the classic store. A failure of that question fails the check. On the classic store, a
/// changed multi-platform index is read once more for this platform's entry, which may
/// still be the local image (see `unchanged_platform_entry`).
///
/// # Errors
///
/// As text, for the report.
pub async fn lookup_digests(
    docker: &Docker,
    credentials: &CredentialStore,
    checks: &mut [&mut UpdateCheck],
) -> Result<Lookup, String> {
    let registry = RegistryClient::new(credentials.clone(), RegistryOptions::default())
        .map_err(|e| e.to_string())?;
    let info = docker
        .info()
        .await
        .map_err(|e| format!("cannot read the host's platform: {e}"))?;
    let platform = Platform::new(&info.os_type, &info.architecture, None);
    let tags = tag_lists(&registry, checks).await;
    // Each check's own tag, and the tag tracking would move it to.
    let targets: Vec<ImageRef> = checks
        .iter()
        .filter_map(|c| match tags.iter().find(|(r, _)| *r == c.reference) {
            Some((_, Ok(list))) => updates::tracking_target(c, list),
            _ => None,
        })
        .collect();
    let references: Vec<&ImageRef> = checks
        .iter()
        .map(|c| &c.reference)
        .chain(&targets)
        .collect();
    let mut answers: Vec<(ImageRef, Answer)> = Vec::new();
    for (reference, result) in registry.manifest_digests(references, &platform).await {
        let answer = match result {
            Ok(remote) => Ok(remote),
            Err(err @ RegistryError::Transport { .. }) => {
                tracing::info!(reference = %reference.familiar(), error = %err,
                    "registry not reachable directly; asking through the daemon");
                daemon_lookup(docker, credentials, &reference)
                    .await
                    .map_err(|daemon_err| {
                        format!("{err:#}; asking through the daemon failed too: {daemon_err}")
                    })
            }
            Err(err) => Err(err.to_string()),
        };
        answers.push((reference, answer));
    }
    let store = info.image_store();
    if store == ImageStore::Classic {
        for check in checks.iter_mut() {
            let Some((_, Ok(remote))) = answers.iter().find(|(r, _)| *r == check.reference) else {
                continue;
            };
            if let Some(entry) = unchanged_platform_entry(&registry, check, remote).await {
                check.local_platform_digests.push(entry);
            }
        }
    }
    if store == ImageStore::Containerd {
        for check in checks.iter_mut() {
            let Some((_, answer)) = answers.iter_mut().find(|(r, _)| *r == check.reference) else {
                continue;
            };
            let Ok(remote) = answer else {
                continue;
            };
            if check.local_image.is_none() || !check.is_outdated_by(remote) {
                continue;
            }
            match published(&registry, docker, credentials, check).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(reference = %check.reference.familiar(),
                        "the registry does not have the local image's digest: built or loaded here");
                    check.local_digests.clear();
                    check.local_platform_digests.clear();
                }
                Err(err) => {
                    *answer = Err(format!(
                        "cannot tell whether the local image came from the registry: {err}"
                    ));
                }
            }
        }
    }
    let rate_limits = registry.rate_limits();
    Ok(Lookup {
        retries: registry.retries(),
        platform,
        answers: Answers {
            digests: answers,
            tags,
        },
        rate_limits,
    })
}

/// The tag list of each tracked check's repository (one listing per repository, a few at a
/// time), keyed by the check's reference. Checks that will not be asked about (no local
/// image) are not listed.
async fn tag_lists(
    registry: &RegistryClient,
    checks: &[&mut UpdateCheck],
) -> Vec<(ImageRef, TagList)> {
    let tracked: Vec<&ImageRef> = checks
        .iter()
        .filter(|c| c.track.is_some() && c.local_image.is_some())
        .map(|c| &c.reference)
        .collect();
    let repositories: std::collections::BTreeSet<&str> =
        tracked.iter().map(|r| r.repository_str()).collect();
    let tracked_ref = &tracked;
    let listed: BTreeMap<&str, TagList> =
        futures_util::future::join_all(repositories.into_iter().map(|repository| async move {
            let reference = tracked_ref
                .iter()
                .find(|r| r.repository_str() == repository)
                .copied()
                .expect("listed from tracked");
            let list = registry
                .tags(reference, TAG_PAGE)
                .await
                .map_err(|e| e.to_string());
            if let Ok(tags) = &list {
                tracing::debug!(repository, tags = tags.len(), "listed tags");
            }
            (repository, list)
        }))
        .await
        .into_iter()
        .collect();
    tracked
        .into_iter()
        .map(|r| (r.clone(), listed[r.repository_str()].clone()))
        .collect()
}

/// Tags asked for per page of a tag list (`n=`); registries may send fewer, and the
/// `Link` header says where the rest is.
const TAG_PAGE: usize = 1000;

/// On the classic store, a pull by tag of a multi-platform image records only the index
/// digest; when the registry's index changed, its entry for this platform may still be the
/// local image. That entry's digest when it is (its config digest is the local image ID),
/// so that [`UpdateCheck::is_outdated_by`] does not count a rebuild of another platform as an
/// update. One `GET` of the entry, only when the index digest changed; a failure to read it
/// leaves the check as it was (an update).
async fn unchanged_platform_entry(
    registry: &RegistryClient,
    check: &UpdateCheck,
    remote: &swab_registry::RemoteDigest,
) -> Option<String> {
    let entry = remote.platform_digest.as_deref()?;
    let local = check.local_image.as_deref()?;
    if !remote.is_index() || !check.is_outdated_by(remote) {
        return None;
    }
    match registry
        .manifest_config_digest(&check.reference, entry)
        .await
    {
        Ok(config) if config == local => Some(entry.to_owned()),
        Ok(_) => None,
        Err(err) => {
            tracing::debug!(reference = %check.reference.familiar(), error = %err,
                "cannot read this platform's manifest; counting the new index as an update");
            None
        }
    }
}

/// Whether the registry has any of the check's local digests in the reference's repository.
/// A registry swab cannot reach itself is asked through the daemon, as for the tag.
async fn published(
    registry: &RegistryClient,
    docker: &Docker,
    credentials: &CredentialStore,
    check: &UpdateCheck,
) -> Result<bool, String> {
    let repository = check.reference.repository_str();
    for repo_digest in &check.local_digests {
        let Some((repo, digest)) = repo_digest.rsplit_once('@') else {
            continue;
        };
        if !ImageRef::parse(repo).is_ok_and(|r| r.repository_str() == repository) {
            continue;
        }
        let found = match registry.manifest_exists(&check.reference, digest).await {
            Ok(found) => found,
            Err(RegistryError::Transport { .. }) => {
                match distribution_inspect(docker, credentials, &check.reference, repo_digest).await
                {
                    Ok(_) => true,
                    Err(DistributionError::Docker(err)) if err.is_not_found() => false,
                    Err(err) => return Err(err.to_string()),
                }
            }
            Err(err) => return Err(err.to_string()),
        };
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Why asking through the daemon failed.
#[derive(Debug, thiserror::Error)]
enum DistributionError {
    #[error(transparent)]
    Credentials(#[from] RegistryError),
    #[error(transparent)]
    Docker(#[from] swab_docker::Error),
}

/// `GET /distribution/{name}/json` with the credentials for `reference`'s registry: `name`
/// is the reference itself or one of its repository's digests (`repo@sha256:...`).
async fn distribution_inspect(
    docker: &Docker,
    credentials: &CredentialStore,
    reference: &ImageRef,
    name: &str,
) -> Result<swab_docker::models::DistributionInspect, DistributionError> {
    let auth = credentials
        .get(reference.registry())
        .await?
        .map(|c| update::docker_auth(&c, &update::auth_server(reference)));
    Ok(docker.distribution_inspect(name, auth.as_ref()).await?)
}

/// The digest a tag names, asked through the daemon (`GET /distribution/{name}/json`):
/// for registries only the daemon can reach (its proxy, mirrors or certificates).
async fn daemon_lookup(
    docker: &Docker,
    credentials: &CredentialStore,
    reference: &ImageRef,
) -> Result<swab_registry::RemoteDigest, String> {
    let answer = distribution_inspect(docker, credentials, reference, &reference.familiar())
        .await
        .map_err(|e| e.to_string())?;
    Ok(swab_registry::RemoteDigest {
        digest: answer.descriptor.digest,
        media_type: answer.descriptor.media_type,
        platform_digest: None,
    })
}

#[cfg(test)]
mod rate_limit_tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use swab_registry::RateLimit;
    use swab_rules::ImageRef;

    use super::{UpdatePlan, hold_for_rate_limits};
    use crate::updates::UpdateGroup;

    fn group(reference: &str) -> UpdateGroup {
        UpdateGroup {
            rule: "u".to_owned(),
            reference: ImageRef::parse(reference).unwrap(),
            old_image: "sha256:01".to_owned(),
            remote_digest: "sha256:02".to_owned(),
            target: None,
            target_before: None,
            compose_write: false,
            compose: Vec::new(),
            rollback_tag: None,
            displaced: None,
            cleanup: None,
            health_timeout: Duration::from_secs(60),
            stop_timeout: None,
            units: Vec::new(),
            hooks: Vec::new(),
        }
    }

    #[test]
    fn a_registry_low_on_pulls_gets_no_more_and_the_others_go_on() {
        let mut plan = UpdatePlan {
            groups: vec![group("nginx:1"), group("ghcr.io/o/app:2")],
            ..UpdatePlan::default()
        };
        let mut limits = BTreeMap::new();
        let low = RateLimit::from_headers(Some("100;w=21600"), Some("9;w=21600")).unwrap();
        limits.insert("docker.io".to_owned(), low);
        hold_for_rate_limits(&mut plan, &limits);
        assert_eq!(plan.groups.len(), 1);
        assert_eq!(plan.groups[0].reference.registry(), "ghcr.io");
        assert_eq!(
            plan.kept[0].reason,
            "not pulled: docker.io reports 9 of 100 pulls left per 6h; swab stops pulling below 10"
        );
        // At the reserve itself pulls go on.
        let mut plan = UpdatePlan {
            groups: vec![group("nginx:1")],
            ..UpdatePlan::default()
        };
        let ten = RateLimit::from_headers(Some("100"), Some("10")).unwrap();
        limits.insert("docker.io".to_owned(), ten);
        hold_for_rate_limits(&mut plan, &limits);
        assert_eq!(plan.groups.len(), 1);
    }
}
