//! One run: snapshot, plan, execute (or record), report. Shared by `swab run` and the
//! daemon so both take exactly the same path.

use std::path::Path;
use std::time::SystemTime;

use swab_docker::Docker;
use swab_rules::{Rule, RuleSet};

use crate::exec::{self, DryRun, Engine};
use crate::lock::HostLock;
use crate::plan;
use crate::report::{ActionReport, Report, Summary};
use crate::snapshot::{self, LocalFilesystem};
use crate::state::{State, StateError};

/// How to run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Record instead of acting.
    pub dry_run: bool,
    /// Operations in flight at once.
    pub parallel: usize,
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
}

impl RunError {
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
    progress: &(dyn Fn(&ActionReport) + Sync),
) -> Result<Report, RunError> {
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

    let recorder = DryRun::for_plan(&plan);
    let engine: &dyn Engine = if options.dry_run { &recorder } else { docker };
    let actions = exec::execute(&plan, engine, options.parallel, progress).await;

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
        kept: plan.kept,
        notes: plan.notes,
    })
}
