//! `swab validate` and `swab rules show-default`, and rule loading for the other commands.

use std::path::Path;

use swab_rules::{LoadError, RuleSet};

use anyhow::Context as _;
use std::fmt::Write as _;

use crate::args::{GlobalArgs, ValidateArgs};
use crate::exit::{self, UsageError};
use crate::output::print;

/// Loads one rule file (`-` is stdin), or the built-in default set when `path` is `None`.
/// Invalid rules are a usage error (exit 2) that lists every located problem.
pub fn load(path: Option<&Path>) -> anyhow::Result<RuleSet> {
    match path {
        None => Ok(swab_rules::default_rules()),
        Some(path) => swab_rules::load_file(path).map_err(|err| match err {
            LoadError::Invalid(diags) => UsageError(format!("invalid rules:\n{diags}")).into(),
            LoadError::Read { path, source } => {
                UsageError(format!("cannot read rule file {path}: {source}")).into()
            }
            other => anyhow::Error::from(other),
        }),
    }
}

/// `swab validate [--rules FILE]... [--check-host]`: every file is checked and every error
/// printed; with `--check-host`, protect patterns are checked against the daemon's objects.
pub async fn validate(global: &GlobalArgs, args: &ValidateArgs) -> anyhow::Result<u8> {
    let files = &args.rules;
    let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    let mut code = exit::SUCCESS;
    let mut reports = Vec::new();
    let sources: Vec<Option<&Path>> = if files.is_empty() {
        vec![None]
    } else {
        files.iter().map(|f| Some(f.as_path())).collect()
    };
    for source in sources {
        let loaded = match source {
            None => Ok(swab_rules::default_rules()),
            Some(path) => swab_rules::load_file(path),
        };
        match loaded {
            Ok(set) => {
                let mut text = swab_rules::render_validation(&set, now);
                if args.check_host {
                    for warning in host_warnings(global, &set).await? {
                        let _ = writeln!(text, "warning: {warning}");
                    }
                }
                reports.push(text);
            }
            Err(LoadError::Invalid(diags)) => {
                code = exit::USAGE;
                let n = diags.len();
                eprintln!("{diags}");
                eprintln!(
                    "{}: {n} error{}",
                    display_name(source),
                    if n == 1 { "" } else { "s" }
                );
            }
            Err(LoadError::Read { path, source }) => {
                code = exit::USAGE;
                eprintln!("swab: error: cannot read rule file {path}: {source}");
            }
            Err(other) => return Err(other.into()),
        }
    }
    print(&reports.join("\n"))?;
    Ok(code)
}

/// Protect patterns of `set` that match nothing on the daemon.
async fn host_warnings(global: &GlobalArgs, set: &RuleSet) -> anyhow::Result<Vec<String>> {
    let resolved = crate::connect::resolve(global)?;
    let docker = crate::connect::client(global, &resolved)?;
    // A rule-less snapshot: just the container and image lists, plus volumes and networks
    // when the protect section names some.
    let (mut snapshot, _) = swab_engine::gather::gather(
        &docker,
        &[],
        &set.protect,
        &swab_engine::gather::LocalFilesystem,
        1,
    )
    .await
    .with_context(|| {
        format!(
            "cannot read the objects of the Docker host at {}",
            resolved.endpoint
        )
    })?;
    if !set.protect.volumes.is_empty() {
        let list = docker.list_volumes(&swab_docker::Filters::new()).await?;
        snapshot.volumes = Some(
            list.volumes
                .into_iter()
                .map(|v| swab_engine::snapshot::Volume {
                    name: v.name,
                    ..Default::default()
                })
                .collect(),
        );
    }
    if !set.protect.networks.is_empty() {
        let list = docker.list_networks(&swab_docker::Filters::new()).await?;
        snapshot.networks = Some(
            list.into_iter()
                .map(|n| swab_engine::snapshot::Network {
                    name: n.name,
                    ..Default::default()
                })
                .collect(),
        );
    }
    Ok(swab_engine::plan::unmatched_protect_patterns(
        &snapshot,
        &set.protect,
    ))
}

/// `swab rules show-default`: the embedded default rule set, verbatim.
pub fn show_default() -> anyhow::Result<u8> {
    print(swab_rules::DEFAULT_RULES_YAML)?;
    Ok(exit::SUCCESS)
}

fn display_name(source: Option<&Path>) -> String {
    match source {
        None => swab_rules::DEFAULT_RULES_NAME.to_owned(),
        Some(p) if p.as_os_str() == "-" => swab_rules::STDIN_NAME.to_owned(),
        Some(p) => p.display().to_string(),
    }
}
