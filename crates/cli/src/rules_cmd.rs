//! `swab validate` and `swab rules show-default`, and rule loading for the other commands.

use std::path::{Path, PathBuf};

use swab_rules::{LoadError, RuleSet};

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

/// `swab validate [--rules FILE]...`: every file is checked and every error printed.
pub fn validate(files: &[PathBuf]) -> anyhow::Result<u8> {
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
            Ok(set) => reports.push(swab_rules::render_validation(&set, now)),
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
