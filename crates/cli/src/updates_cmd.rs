//! `swab updates`: monitor-only. For each reference the `update` rules keep fresh, asks the
//! registry for its current digest (one request per distinct reference, HEAD where
//! possible; through the daemon's distribution endpoint for a registry swab cannot reach) and
//! compares it with the local image's digests. Pulls and changes nothing: the only Docker
//! calls are the container and image lists, `/info` and, for that fallback, the read-only
//! `/distribution/{name}/json`.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde::Serialize;
use swab_engine::gather::{self, LocalFilesystem};
use swab_engine::updates;
use swab_registry::CredentialStore;
use swab_rules::{Action, Rule};

use crate::args::{GlobalArgs, OutputFormat, UpdatesArgs};
use crate::exit;
use crate::output::print;

#[derive(Debug, Serialize)]
struct Report {
    host: String,
    platform: String,
    references: Vec<Row>,
    pinned: Vec<Pinned>,
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
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Pinned {
    reference: String,
    containers: Vec<String>,
}

pub async fn run(global: &GlobalArgs, args: &UpdatesArgs) -> anyhow::Result<u8> {
    let rules = crate::rules_cmd::load(args.rules.as_deref())?;
    let update_rules: Vec<&Rule> = rules
        .rules
        .iter()
        .filter(|r| r.action == Action::Update)
        .collect();
    let resolved = crate::connect::resolve(global)?;
    let docker = crate::connect::client(&resolved)?;
    let host = resolved.endpoint.to_string();
    let context = || format!("cannot read the state of the Docker host at {host}");
    // A rule-less snapshot: the two lists, nothing else.
    let (snapshot, _) = gather::gather(&docker, &[], &rules.protect, &LocalFilesystem, 4)
        .await
        .with_context(context)?;
    let mut checks = updates::collect(&snapshot, &update_rules, &rules.protect);
    let credentials = CredentialStore::from_environment()?;
    let swab_engine::run::Lookup {
        platform,
        mut answers,
    } = swab_engine::run::lookup_digests(
        &docker,
        &credentials,
        &mut checks.checks.iter_mut().collect::<Vec<_>>(),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let mut rows = Vec::new();
    let mut failures = 0;
    for check in checks.checks {
        let answer = answers
            .iter()
            .position(|(r, _)| *r == check.reference)
            .map(|i| answers.swap_remove(i).1);
        let outdated = answer
            .as_ref()
            .and_then(|a| a.as_ref().ok())
            .is_some_and(|remote| check.is_outdated_by(remote));
        let mut row = Row {
            reference: check.reference.familiar(),
            status: "error",
            rules: check.rules,
            containers: check.containers,
            local_image: check.local_image,
            local_digests: check.local_digests,
            remote_digest: None,
            remote_platform_digest: None,
            error: None,
        };
        match answer {
            Some(Ok(remote)) => {
                row.status = if row.local_image.is_none() {
                    "not_local"
                } else if row.local_digests.is_empty() {
                    // Built or loaded here (`swab run` never replaces it).
                    "local_build"
                } else if outdated {
                    "outdated"
                } else {
                    "up_to_date"
                };
                row.remote_digest = Some(remote.digest);
                row.remote_platform_digest = remote.platform_digest;
            }
            Some(Err(err)) => {
                failures += 1;
                row.error = Some(err);
            }
            None => {
                failures += 1;
                row.error = Some("no answer for this reference".to_owned());
            }
        }
        rows.push(row);
    }
    let report = Report {
        host,
        platform: platform.to_string(),
        references: rows,
        pinned: checks
            .pinned
            .into_iter()
            .map(|(reference, containers)| Pinned {
                reference,
                containers,
            })
            .collect(),
    };
    match args.format {
        OutputFormat::Json => print(&format!("{}\n", serde_json::to_string_pretty(&report)?))?,
        OutputFormat::Text => print(&render(&report, update_rules.is_empty()))?,
    }
    Ok(if failures > 0 {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
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
    if report.references.is_empty() {
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
        if !row.containers.is_empty() {
            let _ = writeln!(out, "  used by {}", row.containers.join(", "));
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
