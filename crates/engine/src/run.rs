//! One run: snapshot, plan, execute (or record), report. Shared by `swab run` and the
//! daemon so both take exactly the same path.

use std::path::Path;
use std::time::SystemTime;

use swab_docker::Docker;
use swab_registry::{CredentialStore, Platform, RegistryClient, RegistryError, RegistryOptions};
use swab_rules::{Action, ImageRef, Protect, Rule, RuleSet};

use crate::apply::{self, Cancel, Recovery, Updater};
use crate::exec::{self, DryRun, Engine};
use crate::lock::HostLock;
use crate::plan::{self, Note};
use crate::report::{ActionReport, Report, Status, Summary};
use crate::snapshot::{self, LocalFilesystem, Snapshot};
use crate::state::{State, StateError};
use crate::updates::{self, Answer, UpdatePlan};

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

/// The `rule` of notes about updates a crash interrupted.
pub const RECOVERY_NOTE: &str = "recovery";

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
/// are kept). `_lock` proves the caller holds the host lock for real runs.
pub async fn run_rules(
    docker: &Docker,
    rules: &RuleSet,
    selected: &[&Rule],
    state_path: &Path,
    options: RunOptions,
    _lock: Option<&HostLock>,
    observer: Observer<'_>,
) -> Result<Report, RunError> {
    let progress = observer.action;
    // An update a crash interrupted is finished or undone before anything else looks.
    // Until that worked, nothing else runs: a parked old container must not meet a prune.
    let recovered = if options.dry_run {
        Recovery::default()
    } else {
        apply::recover(docker, state_path).await
    };
    if !recovered.problems.is_empty() {
        return Err(RunError::recovery(&recovered, state_path));
    }
    let mut state = State::load(state_path)?;
    let started = SystemTime::now();
    let (snapshot, gathered) = snapshot::gather(
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
    tracing::info!(
        containers = snapshot.containers.len(),
        images = snapshot.images.len(),
        api_calls = gathered.api_calls,
        container_inspects = gathered.container_inspects,
        image_inspects = gathered.image_inspects,
        "snapshot taken"
    );
    state.observe(&snapshot, started);
    let plan = plan::plan(&snapshot, selected, &rules.protect, &state, started);
    let update_rules: Vec<&Rule> = selected
        .iter()
        .copied()
        .filter(|r| r.action == Action::Update)
        .collect();
    let (update_plan, credentials) = if update_rules.is_empty() {
        (UpdatePlan::default(), None)
    } else {
        check_updates(docker, &snapshot, &update_rules, rules, &state).await
    };

    let recorder = DryRun::for_plan(&plan);
    let engine: &dyn Engine = if options.dry_run { &recorder } else { docker };
    let mut actions =
        exec::execute(&plan, engine, options.parallel, &options.cancel, progress).await;

    actions.extend(
        run_updates(
            docker,
            &update_plan,
            credentials,
            &rules.protect,
            state_path,
            &options,
            observer,
        )
        .await,
    );
    let mut notes = plan.notes;
    notes.extend(update_plan.notes);
    notes.extend(recovered.notes.into_iter().map(|message| Note {
        rule: RECOVERY_NOTE.to_owned(),
        message,
    }));
    let mut kept = plan.kept;
    kept.extend(update_plan.kept);

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
        actions,
        kept,
        notes,
    })
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
    protect: &Protect,
    state_path: &Path,
    options: &RunOptions,
    observer: Observer<'_>,
) -> Vec<ActionReport> {
    let progress = observer.action;
    let mut actions = Vec::new();
    for (rule, reference, error) in &update_plan.failed {
        let report = ActionReport {
            rule: rule.clone(),
            action: "check_image",
            id: reference.clone(),
            name: reference.clone(),
            reason: "asked the registry for the current digest".to_owned(),
            status: Status::Failed,
            error: Some(error.clone()),
            bytes: None,
        };
        progress(&report);
        actions.push(report);
    }
    let credentials = credentials.unwrap_or_else(CredentialStore::anonymous);
    let updater = Updater {
        docker,
        credentials: &credentials,
        protect,
        state_path,
        cancel: &options.cancel,
        progress,
        status: observer.status,
    };
    for group in &update_plan.groups {
        if options.dry_run {
            let planned = apply::planned_actions(group);
            planned.iter().for_each(progress);
            actions.extend(planned);
        } else {
            actions.extend(updater.apply(group).await);
        }
    }
    actions
}

/// Asks the registries about every reference the update rules keep fresh (one request per
/// distinct reference, `HEAD` where that suffices; the daemon's distribution endpoint when
/// a registry cannot be reached directly) and plans the updates. Also returns the
/// credentials, for the pulls.
async fn check_updates(
    docker: &Docker,
    snapshot: &Snapshot,
    update_rules: &[&Rule],
    rules: &RuleSet,
    state: &State,
) -> (UpdatePlan, Option<CredentialStore>) {
    let checks = updates::collect(snapshot, update_rules, &rules.protect);
    let fail_all = |why: String| UpdatePlan {
        failed: checks
            .checks
            .iter()
            .map(|c| {
                let rule = c.rules.first().cloned().unwrap_or_default();
                (rule, c.reference.familiar(), why.clone())
            })
            .collect(),
        ..UpdatePlan::default()
    };
    // Images without registry digests are never replaced: do not ask about them.
    let asked: Vec<&ImageRef> = checks
        .checks
        .iter()
        .filter(|c| c.local_image.is_some() && !c.local_digests.is_empty())
        .map(|c| &c.reference)
        .collect();
    if asked.is_empty() {
        let plan =
            updates::plan_updates(&checks, &[], snapshot, update_rules, &rules.protect, state);
        return (plan, None);
    }
    let credentials = match CredentialStore::from_environment() {
        Ok(c) => c,
        Err(err) => return (fail_all(err.to_string()), None),
    };
    let answers = match lookup_digests(docker, &credentials, asked).await {
        Ok((_, answers)) => answers,
        Err(err) => return (fail_all(err), None),
    };
    let plan = updates::plan_updates(
        &checks,
        &answers,
        snapshot,
        update_rules,
        &rules.protect,
        state,
    );
    (plan, Some(credentials))
}

/// The registries' current digest for each distinct reference, for the daemon's platform:
/// one request per reference (`HEAD` where that suffices), at most a few at a time; for a
/// registry swab cannot reach itself (DNS, connect, TLS), the daemon is asked instead
/// (`GET /distribution/{name}/json`), which uses its own proxy, mirrors and certificates.
/// Returns the platform too. Fails only when the look-ups cannot start (TLS setup, `/info`).
///
/// # Errors
///
/// As text, for the report.
pub async fn lookup_digests(
    docker: &Docker,
    credentials: &CredentialStore,
    references: Vec<&ImageRef>,
) -> Result<(Platform, Vec<(ImageRef, Answer)>), String> {
    let registry = RegistryClient::new(credentials.clone(), RegistryOptions::default())
        .map_err(|e| e.to_string())?;
    let platform = docker
        .info()
        .await
        .map(|info| Platform::new(&info.os_type, &info.architecture, None))
        .map_err(|e| format!("cannot read the host's platform: {e}"))?;
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
    Ok((platform, answers))
}

/// The digest a tag names, asked through the daemon (`GET /distribution/{name}/json`):
/// for registries only the daemon can reach (its proxy, mirrors or certificates).
async fn daemon_lookup(
    docker: &Docker,
    credentials: &CredentialStore,
    reference: &ImageRef,
) -> Result<swab_registry::RemoteDigest, String> {
    let auth = credentials
        .get(reference.registry())
        .await
        .map_err(|e| e.to_string())?
        .map(|c| c.to_docker_auth(&apply::auth_server(reference)));
    let answer = docker
        .distribution_inspect(&reference.familiar(), auth.as_ref())
        .await
        .map_err(|e| e.to_string())?;
    Ok(swab_registry::RemoteDigest {
        digest: answer.descriptor.digest,
        media_type: answer.descriptor.media_type,
        platform_digest: None,
    })
}
