//! `swab rollback CONTAINER`: puts a container back on the image its last update replaced,
//! the one the rollback tag names. The options (rollback tag, health timeout, stop timeout)
//! come from the first `update` rule in `--rules` that selects the container, else the
//! defaults (`{tag}-swab-previous`, 60 s).

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use swab_engine::cancel::Cancel;
use swab_engine::gather::{self, LocalFilesystem};
use swab_engine::report::{ActionReport, Status};
use swab_engine::run::RunError;
use swab_engine::update::Updater;
use swab_engine::{state, updates};
use swab_registry::CredentialStore;
use swab_rules::{Action, RollbackTag, Rule};

use crate::args::{GlobalArgs, OutputFormat, RollbackArgs};
use crate::exit;
use crate::output::print;

pub async fn run(global: &GlobalArgs, args: &RollbackArgs) -> anyhow::Result<u8> {
    let rules = crate::rules_cmd::load(args.rules.as_deref())?;
    crate::fleet::refuse_host_flag(global, &rules)?;
    let state_path = args.state.clone().unwrap_or_else(state::default_path);
    let wait = args.wait_lock.map_or(Duration::ZERO, Into::into);
    // Signals set `signalled`; a lost lease only `cancel`, its child (see `swab run`).
    let signalled = Cancel::new();
    let cancel = signalled.child();
    let signals = crate::run_cmd::cancel_on_signals(signalled)?;
    let result = Box::pin(under_lock(global, args, &rules, &state_path, wait, &cancel)).await;
    signals.abort();
    let rolled = result?;
    match args.format {
        OutputFormat::Json => print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "host": rolled.host,
                rolled.kind: rolled.name,
                "actions": rolled.actions,
            }))?
        ))?,
        OutputFormat::Text => print(&render(&rolled.actions))?,
    }
    Ok(if rolled.failed() || cancel.is_lost_lock() {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
}

/// What a rollback did.
pub(crate) struct Rolled {
    /// The daemon's endpoint.
    pub host: String,
    /// `container` or `service`.
    pub kind: &'static str,
    /// The container's or service's name.
    pub name: String,
    pub actions: Vec<ActionReport>,
}

impl Rolled {
    /// Whether the rollback did not happen (it failed, or was itself undone).
    pub fn failed(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a.status, Status::Failed | Status::RolledBack))
    }
}

/// Takes the locks of the daemon the rollback acts on, rolls back, lets go.
async fn under_lock(
    global: &GlobalArgs,
    args: &RollbackArgs,
    rules: &swab_rules::RuleSet,
    state_path: &std::path::Path,
    wait: Duration,
    cancel: &Cancel,
) -> anyhow::Result<Rolled> {
    let cancel = cancel.clone();
    if !rules.hosts.is_empty() {
        // One container on one host: --on must pick exactly one.
        let all: Vec<&Rule> = rules.rules.iter().collect();
        let targets = crate::fleet::targets(rules, &all, &global.on)?;
        let [target] = targets.as_slice() else {
            let names: Vec<&str> = targets.iter().map(|t| t.host.name.as_str()).collect();
            return Err(exit::UsageError(format!(
                "swab rollback acts on one host: pick it with --on NAME (hosts: {})",
                names.join(", ")
            ))
            .into());
        };
        let connected = crate::fleet::connect(global, target.host).await?;
        let docker = connected.docker;
        let state_path = crate::fleet::state_path(state_path, &connected.daemon_id);
        let host = docker.endpoint().to_owned();
        let lock = crate::locks::take(&docker, None, wait, cancel.clone()).await?;
        let result = roll_back(&args.container, rules, &docker, &host, &state_path, cancel).await;
        lock.release().await;
        return result;
    }
    let resolved = crate::connect::resolve(global)?;
    let docker = crate::connect::client(global, &resolved)?;
    let host = resolved.endpoint.to_string();
    let file = crate::locks::file_lock_for(&resolved.endpoint, state_path);
    let lock = crate::locks::take(&docker, file.as_deref(), wait, cancel.clone()).await?;
    let result = roll_back(&args.container, rules, &docker, &host, state_path, cancel).await;
    lock.release().await;
    result
}

/// The rollback of `container` (or, on a Swarm manager, of the service of that name), under
/// both locks: also what the daemon's API runs.
pub(crate) async fn roll_back(
    container: &str,
    rules: &swab_rules::RuleSet,
    docker: &swab_docker::Docker,
    host: &str,
    state_path: &std::path::Path,
    cancel: Cancel,
) -> anyhow::Result<Rolled> {
    let state_file = swab_engine::update::StateFile::new(state_path);
    let recovery = swab_engine::update::recover(docker, &state_file).await;
    for line in &recovery.notes {
        eprintln!("swab: recovery: {line}");
    }
    if !recovery.problems.is_empty() {
        return Err(RunError::recovery(&recovery, state_path).into());
    }
    let (snapshot, _) = gather::gather(docker, &[], &rules.protect, &LocalFilesystem, 4)
        .await
        .with_context(|| format!("cannot read the state of the Docker host at {host}"))?;
    let name = container.trim_start_matches('/');
    if !snapshot
        .containers
        .iter()
        .any(|c| c.name == name || c.id.starts_with(name))
        && let Ok(service) = docker.inspect_service(name).await
    {
        return roll_back_service(
            docker, &service, container, rules, state_path, host, &cancel,
        )
        .await;
    }

    // The options of the first update rule that selects the container.
    let update_rules: Vec<&Rule> = rules
        .rules
        .iter()
        .filter(|r| r.action == Action::Update)
        .collect();
    let rule = update_rules.iter().find(|r| {
        updates::collect(&snapshot, &[**r], &rules.protect)
            .checks
            .iter()
            .any(|c| c.containers.iter().any(|n| n == name))
    });
    let options = rule.and_then(|r| r.update.clone());
    let template = match &options {
        Some(o) => o.rollback_tag.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "rule {} keeps no rollback tag (rollback_tag: null): nothing to roll back to",
                rule.map_or("", |r| r.name.as_str())
            )
        })?,
        None => RollbackTag::default_template(),
    };
    let health_timeout = options
        .as_ref()
        .map_or(Duration::from_secs(60), |o| o.health_timeout);
    let stop_timeout = rule.and_then(|r| r.stop_timeout);

    let credentials = CredentialStore::anonymous();
    let updater = Updater {
        engine: docker,
        credentials: &credentials,
        protect: &rules.protect,
        state: &state_file,
        cancel: &cancel,
        progress: &crate::run_cmd::log_action,
        status: &|status: &str| tracing::info!("{status}"),
    };
    let actions = updater
        .rollback(
            container,
            &template,
            health_timeout,
            stop_timeout,
            &snapshot,
        )
        .await
        .map_err(anyhow::Error::msg);
    Ok(Rolled {
        host: host.to_owned(),
        kind: "container",
        name: name.to_owned(),
        actions: actions?,
    })
}

/// `swab rollback SERVICE`: Swarm goes back to the service's previous spec; swab waits
/// (the timeout of the first `services:` rule, else 10 minutes) and records the digest
/// rolled away from, like a container's, so the next update run does not bring it back.
async fn roll_back_service(
    docker: &swab_docker::Docker,
    service: &serde_json::Value,
    given: &str,
    rules: &swab_rules::RuleSet,
    state_path: &std::path::Path,
    host: &str,
    cancel: &Cancel,
) -> anyhow::Result<Rolled> {
    let name = service["Spec"]["Name"].as_str().unwrap_or(given).to_owned();
    let image = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let timeout = rules
        .rules
        .iter()
        .find_map(|r| r.update.as_ref()?.services.as_ref())
        .map_or(swab_rules::DEFAULT_SERVICE_TIMEOUT, |s| s.timeout);
    let ended = swab_engine::swarm::roll_back(docker, &name, timeout, cancel).await;
    let (status, error) = match ended {
        Ok(swab_engine::swarm::Ended::Completed) => (Status::Done, None),
        Ok(swab_engine::swarm::Ended::RolledBack(why) | swab_engine::swarm::Ended::Failed(why))
        | Err(why) => (Status::Failed, Some(why)),
    };
    if status == Status::Done
        && let Ok(reference) = swab_rules::ImageRef::parse(&image)
        && let (Some(digest), Some(tagged)) = (
            reference.digest(),
            reference.tag().and_then(|t| reference.with_tag(t)),
        )
    {
        let record = |state: &mut state::State| {
            swab_engine::memory::record_rollback(
                &mut state.rolled_back,
                (&tagged.familiar(), digest),
                swab_engine::memory::unix(std::time::SystemTime::now()),
                format!("service {name} rolled back by hand"),
                true,
            );
        };
        if let Err(err) = state::State::edit_file(state_path, record) {
            tracing::warn!(error = %err, "cannot record the rolled-back digest");
        }
    }
    let action = ActionReport {
        rule: "rollback".to_owned(),
        action: swab_engine::report::ActionKind::UpdateService,
        id: service["ID"].as_str().unwrap_or_default().to_owned(),
        name: name.clone(),
        reason: format!("back to the previous spec (from {image})"),
        status,
        error,
        bytes: None,
    };
    crate::run_cmd::log_action(&action);
    Ok(Rolled {
        host: host.to_owned(),
        kind: "service",
        name,
        actions: vec![action],
    })
}

fn render(actions: &[ActionReport]) -> String {
    let mut out = String::new();
    for a in actions {
        let status = a.status.as_str();
        let _ = write!(
            out,
            "{status:<12} {:<19} {}: {}",
            a.action.as_str().replace('_', " "),
            a.name,
            a.reason
        );
        if let Some(error) = &a.error {
            let _ = write!(out, " -- {error}");
        }
        out.push('\n');
    }
    out
}
