//! `swab updates`: monitor-only. For each reference the `update` rules keep fresh, asks the
//! registry for its current digest (one request per distinct reference, HEAD where
//! possible; through the daemon's distribution endpoint for a registry swab cannot reach) and
//! compares it with the local image's digests. Pulls and changes nothing: the only Docker
//! calls are the container and image lists, `/info` and, for that fallback, the read-only
//! `/distribution/{name}/json`.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde::Serialize;
use std::time::Duration;

use swab_engine::gather::{self, LocalFilesystem};
use swab_engine::lock::{HostLock, default_lock_path};
use swab_engine::{state, updates, window};
use swab_registry::CredentialStore;
use swab_rules::{Action, Rule, RuleSet};

use crate::args::{GlobalArgs, OutputFormat, UpdatesArgs};
use crate::exit;
use crate::fleet::{HostError, Section};
use crate::output::print;

#[derive(Debug, Serialize)]
struct Report {
    host: String,
    platform: String,
    /// Pull rate limits the registries reported (Docker Hub), by registry.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    rate_limits: std::collections::BTreeMap<String, swab_registry::RateLimit>,
    references: Vec<Row>,
    pinned: Vec<Pinned>,
    /// Swarm services (rules with `services:`), on the Swarm leader.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    services: Vec<ServiceRow>,
    /// Why services rules have nothing to do here (not the Swarm leader).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ServiceRow {
    service: String,
    rule: String,
    reference: String,
    /// The digest the service's spec pins.
    pinned_digest: Option<String>,
    remote_digest: Option<String>,
    /// `up_to_date`, `update_available`, `held_back`, `not_followed` or `error`.
    status: &'static str,
    /// Why it is held back or not followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eligible_at: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Row {
    reference: String,
    status: &'static str,
    rules: Vec<String>,
    containers: Vec<String>,
    local_image: Option<String>,
    local_digests: Vec<String>,
    remote_digest: Option<String>,
    remote_platform_digest: Option<String>,
    /// Tag tracking: the newer tag the update would move to (`remote_digest` is its).
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    /// Tag tracking: newer releases outside the rule's constraint, highest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    not_allowed: Vec<String>,
    /// For `held_back`: why (cooldown, back-off) and when the next run may update it.
    #[serde(skip_serializing_if = "Option::is_none")]
    held_back: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eligible_at: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Pinned {
    reference: String,
    containers: Vec<String>,
}

pub async fn run(global: &GlobalArgs, args: &UpdatesArgs) -> anyhow::Result<u8> {
    let state_path = args.state.clone().unwrap_or_else(state::default_path);
    let rules = crate::rules_cmd::load(args.rules.as_deref())?;
    crate::fleet::refuse_host_flag(global, &rules)?;
    if let Some(reference) = &args.forget {
        if rules.hosts.is_empty() {
            return forget(&state_path, reference).await;
        }
        // The record is in the state file of one host: --on must pick it.
        let all: Vec<&Rule> = rules.rules.iter().collect();
        let targets = crate::fleet::targets(&rules, &all, &global.on)?;
        let [target] = targets.as_slice() else {
            return Err(exit::UsageError(
                "with `hosts:`, --forget needs --on NAME: the record is in one host's state"
                    .to_owned(),
            )
            .into());
        };
        let connected = crate::fleet::connect(global, target.host).await?;
        let host_state = crate::fleet::state_path(&state_path, &connected.daemon_id);
        return forget(&host_state, reference).await;
    }
    let all: Vec<&Rule> = rules.rules.iter().collect();
    if !rules.hosts.is_empty() {
        return run_fleet(global, args, &rules, &all, &state_path).await;
    }
    let resolved = crate::connect::resolve(global)?;
    let docker = crate::connect::client(global, &resolved)?;
    let host = resolved.endpoint.to_string();
    let (report, code) = check(&docker, host, &rules, &all, &state_path).await?;
    match args.format {
        OutputFormat::Json => print(&format!("{}\n", serde_json::to_string_pretty(&report)?))?,
        OutputFormat::Text => print(&render(&report, !has_update_rules(&all)))?,
    }
    Ok(code)
}

fn has_update_rules(rules: &[&Rule]) -> bool {
    rules.iter().any(|r| r.action == Action::Update)
}

/// `swab updates` over a rule file's hosts: each host checked with its own rules and
/// state, several at once; one report with a section per host.
async fn run_fleet(
    global: &GlobalArgs,
    args: &UpdatesArgs,
    rules: &RuleSet,
    all: &[&Rule],
    state: &std::path::Path,
) -> anyhow::Result<u8> {
    let targets = crate::fleet::targets(rules, all, &global.on)?;
    let jobs = crate::fleet::connect_all(global, &targets).await;
    let sections = crate::fleet::each(
        &jobs,
        usize::from(global.host_concurrency),
        |(target, connected)| async move {
            let connected = match connected {
                Ok(connected) => connected,
                Err(error) => return Section::new(target.host, None, Err(error.clone())),
            };
            let state_path = crate::fleet::state_path(state, &connected.daemon_id);
            let host = connected.docker.endpoint().to_owned();
            let result = check(&connected.docker, host, rules, &target.rules, &state_path)
                .await
                .map_err(|err| HostError::of(&err));
            Section::new(target.host, Some(connected.daemon_id.clone()), result)
        },
    )
    .await;
    let code = crate::fleet::worst(sections.iter().map(|s| s.exit_code));
    match args.format {
        OutputFormat::Json => {
            let document = serde_json::json!({"hosts": sections, "exit_code": code});
            print(&format!("{}\n", serde_json::to_string_pretty(&document)?))?;
        }
        OutputFormat::Text => {
            let out = crate::fleet::render_text(&targets, &sections, |target, report| {
                render(report, !has_update_rules(&target.rules))
            });
            print(&out)?;
        }
    }
    Ok(code)
}

/// The check of one daemon: the report and its exit code (1 when a look-up failed).
async fn check(
    docker: &swab_docker::Docker,
    host: String,
    rules: &RuleSet,
    selected: &[&Rule],
    state_path: &std::path::Path,
) -> anyhow::Result<(Report, u8)> {
    let update_rules: Vec<&Rule> = selected
        .iter()
        .copied()
        .filter(|r| r.action == Action::Update)
        .collect();
    let context = || format!("cannot read the state of the Docker host at {host}");
    // A rule-less snapshot: the two lists, nothing else.
    let (snapshot, _) = gather::gather(docker, &[], &rules.protect, &LocalFilesystem, 4)
        .await
        .with_context(context)?;
    let mut snapshot = snapshot;
    let mut notes = Vec::new();
    if update_rules
        .iter()
        .any(|r| r.update.as_ref().is_some_and(|u| u.services.is_some()))
    {
        gather::add_services(docker, &mut snapshot)
            .await
            .with_context(context)?;
    }
    let (service_checks, mut service_kept, service_notes) =
        swab_engine::services::collect(&snapshot, &update_rules);
    notes.extend(service_notes);
    let mut checks = updates::collect(&snapshot, &update_rules, &rules.protect);
    let mut for_services = swab_engine::run::service_lookups(&service_checks, &checks.checks);
    let credentials = CredentialStore::from_environment()?;
    let swab_engine::run::Lookup {
        platform,
        answers,
        rate_limits,
        ..
    } = swab_engine::run::lookup_digests(
        docker,
        &credentials,
        &mut checks
            .checks
            .iter_mut()
            .chain(for_services.iter_mut())
            .collect::<Vec<_>>(),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    // Read only: `swab updates` never starts a cooldown; `swab run` does.
    let remembered = state::State::load(state_path)
        .with_context(|| format!("cannot read the state file {}", state_path.display()))?;
    let memory = updates::UpdateMemory {
        rolled_back: &remembered.rolled_back,
        first_seen: &remembered.first_seen,
        noticed: &remembered.noticed,
        now: std::time::SystemTime::now(),
    };
    let mut rows = Vec::new();
    for check in checks.checks {
        let rule = check
            .rules
            .first()
            .and_then(|name| update_rules.iter().find(|r| &r.name == name));
        let options = rule.map(|rule| (updates::options_of(rule), rule.windows.as_slice()));
        let wanted = updates::wanted(&check, &answers);
        rows.push(row_for(&check, wanted, options.as_ref(), &memory));
    }
    let service_plan =
        swab_engine::services::plan(&service_checks, &answers, &update_rules, &memory);
    service_kept.extend(service_plan.kept.iter().cloned());
    let services = service_rows(&service_checks, &service_plan, &service_kept, &answers);
    let failures = rows.iter().filter(|r| r.error.is_some()).count()
        + services.iter().filter(|r| r.error.is_some()).count();
    let report = Report {
        host,
        platform: platform.to_string(),
        rate_limits,
        references: rows,
        pinned: checks
            .pinned
            .into_iter()
            .map(|(reference, containers)| Pinned {
                reference,
                containers,
            })
            .collect(),
        services,
        notes: notes.into_iter().map(|n| n.message).collect(),
    };
    let code = if failures > 0 {
        exit::FAILURE
    } else {
        exit::SUCCESS
    };
    Ok((report, code))
}

/// One row per selected service: the digest its spec pins, the registry's, and what a run
/// would do (the same decision as `swab run`'s).
fn service_rows(
    checks: &[swab_engine::services::ServiceCheck],
    plan: &swab_engine::services::ServicePlan,
    kept: &[swab_engine::plan::Kept],
    answers: &updates::Answers,
) -> Vec<ServiceRow> {
    checks
        .iter()
        .map(|check| {
            let name = &check.service.name;
            let mut row = ServiceRow {
                service: name.clone(),
                rule: check.rule.clone(),
                reference: check.reference.familiar(),
                pinned_digest: check.pinned.clone(),
                remote_digest: answers
                    .digest(&check.reference)
                    .ok()
                    .map(|r| r.digest.clone()),
                status: "update_available",
                why: None,
                eligible_at: None,
                error: None,
            };
            if let Some((_, _, error)) = plan.failed.iter().find(|(_, s, _)| s == name) {
                row.status = "error";
                row.error = Some(error.clone());
            } else if let Some(k) = kept.iter().find(|k| &k.name == name) {
                row.status = if k.reason.starts_with("up to date") {
                    "up_to_date"
                } else if k.eligible_at.is_some() {
                    "held_back"
                } else {
                    "not_followed"
                };
                if row.status != "up_to_date" {
                    row.why = Some(k.reason.clone());
                }
                row.eligible_at.clone_from(&k.eligible_at);
            }
            row
        })
        .collect()
}

/// One reference's row: what the registry said against the local image (or, for tag
/// tracking, the newer tag it found), and, for an outdated one, whether a cooldown,
/// back-off or window holds it back.
fn row_for(
    check: &updates::UpdateCheck,
    wanted: Result<updates::Wanted<'_>, String>,
    options: Option<&(swab_rules::UpdateOptions, &[swab_rules::Window])>,
    memory: &updates::UpdateMemory<'_>,
) -> Row {
    let mut row = Row {
        reference: check.reference.familiar(),
        status: "error",
        rules: check.rules.clone(),
        containers: check.containers.clone(),
        local_image: check.local_image.clone(),
        local_digests: check.local_digests.clone(),
        remote_digest: None,
        remote_platform_digest: None,
        target: None,
        not_allowed: Vec::new(),
        held_back: None,
        eligible_at: None,
        error: None,
    };
    let remote = match wanted {
        Err(err) => {
            row.error = Some(err);
            return row;
        }
        Ok(updates::Wanted::Keep(why)) => {
            row.status = "not_followed";
            row.held_back = Some(why);
            return row;
        }
        Ok(updates::Wanted::Tag(target, remote, not_allowed)) => {
            row.target = Some(target.familiar());
            row.not_allowed = not_allowed;
            remote
        }
        Ok(updates::Wanted::Digest(remote, not_allowed)) => {
            row.not_allowed = not_allowed;
            remote
        }
    };
    let outdated = row.target.is_some() || check.is_outdated_by(remote);
    row.status = if row.local_image.is_none() {
        "not_local"
    } else if row.local_digests.is_empty() {
        // Built or loaded here (`swab run` never replaces it).
        "local_build"
    } else if outdated {
        let held = options
            .as_ref()
            .and_then(|(o, _)| updates::held_back(&row.reference, remote, o, memory));
        let pending = options.and_then(|(_, windows)| window::closed_reason(windows, memory.now));
        match (held, pending) {
            (Some((why, at)), _) => {
                row.held_back = Some(why);
                row.eligible_at = at.map(updates::rfc3339);
                "held_back"
            }
            (None, Some(why)) => {
                row.held_back = Some(why);
                "pending"
            }
            (None, None) => "outdated",
        }
    } else {
        "up_to_date"
    };
    row.remote_digest = Some(remote.digest.clone());
    row.remote_platform_digest
        .clone_from(&remote.platform_digest);
    row
}

/// `swab updates --forget REF`: drops the failed-update record of REF under the host lock.
async fn forget(state_path: &std::path::Path, reference: &str) -> anyhow::Result<u8> {
    let _lock = HostLock::acquire(&default_lock_path(state_path), Duration::ZERO).await?;
    let mut found = None;
    state::State::edit_file(state_path, |s| found = s.rolled_back.remove(reference))
        .with_context(|| format!("cannot write the state file {}", state_path.display()))?;
    match found {
        Some(failed) => {
            print(&format!(
                "forgot the failed update of {reference} to {} ({} attempt{}): the next run tries it\n",
                short(Some(&failed.digest)),
                failed.attempts,
                if failed.attempts == 1 { "" } else { "s" }
            ))?;
            Ok(exit::SUCCESS)
        }
        None => {
            eprintln!(
                "swab: no failed update of {reference} is recorded in {}",
                state_path.display()
            );
            Ok(exit::USAGE)
        }
    }
}

fn short(digest: Option<&str>) -> String {
    digest.map_or_else(
        || "-".to_owned(),
        |d| {
            let hex = d.rsplit_once('@').map_or(d, |(_, h)| h);
            let hex = hex.strip_prefix("sha256:").unwrap_or(hex);
            format!("sha256:{}", &hex[..hex.len().min(12)])
        },
    )
}

fn render(report: &Report, no_rules: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "swab updates {} ({}): monitor only, nothing pulled or changed",
        report.host, report.platform
    );
    if no_rules {
        let _ = writeln!(out, "\nno update rules in this rule set");
        return out;
    }
    for (registry, limit) in &report.rate_limits {
        let _ = writeln!(out, "{registry}: {limit}");
    }
    for note in &report.notes {
        let _ = writeln!(out, "{note}");
    }
    if report.references.is_empty() && report.services.is_empty() {
        let _ = writeln!(
            out,
            "\nno running container or local image is selected by the update rules"
        );
    }
    for row in &report.references {
        let status = row.status.replace('_', " ");
        let _ = writeln!(out, "\n{}  {status}", row.reference);
        let local = row.local_digests.first().map(String::as_str);
        let _ = writeln!(out, "  local   {}", short(local));
        let remote = row
            .remote_platform_digest
            .as_deref()
            .or(row.remote_digest.as_deref());
        let _ = writeln!(out, "  remote  {}", short(remote));
        if let Some(target) = &row.target {
            let _ = writeln!(out, "  newer   {target}");
        }
        if !row.not_allowed.is_empty() {
            let _ = writeln!(
                out,
                "  available, not allowed: {}",
                row.not_allowed.join(", ")
            );
        }
        if !row.containers.is_empty() {
            let _ = writeln!(out, "  used by {}", row.containers.join(", "));
        }
        if let Some(why) = &row.held_back {
            let _ = writeln!(out, "  held    {why}");
        }
        if let Some(error) = &row.error {
            let _ = writeln!(out, "  error   {error}");
        }
    }
    for row in &report.services {
        let status = row.status.replace('_', " ");
        let _ = writeln!(
            out,
            "\nservice {} ({})  {status}",
            row.service, row.reference
        );
        let _ = writeln!(out, "  pinned  {}", short(row.pinned_digest.as_deref()));
        let _ = writeln!(out, "  remote  {}", short(row.remote_digest.as_deref()));
        if let Some(why) = &row.why {
            let _ = writeln!(out, "  held    {why}");
        }
        if let Some(error) = &row.error {
            let _ = writeln!(out, "  error   {error}");
        }
    }
    for pinned in &report.pinned {
        let _ = writeln!(
            out,
            "\n{}  pinned by digest, never updated (used by {})",
            pinned.reference,
            pinned.containers.join(", ")
        );
    }
    out
}

/// The check `swab updates --format json` prints, over every rule of `rules`: what the
/// daemon's API answers on `GET /api/v1/updates`.
pub(crate) async fn check_json(
    docker: &swab_docker::Docker,
    host: String,
    rules: &RuleSet,
    state_path: &std::path::Path,
) -> anyhow::Result<serde_json::Value> {
    let all: Vec<&Rule> = rules.rules.iter().collect();
    let (report, _) = check(docker, host, rules, &all, state_path).await?;
    Ok(serde_json::to_value(report)?)
}
