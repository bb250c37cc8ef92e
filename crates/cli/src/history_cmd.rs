//! `swab history`, and the one place runs are written into the history.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use swab_engine::history::{self, History, Record, Trigger};
use swab_engine::report::Report;

use crate::args::{HistoryArgs, OutputFormat};
use crate::output::print;

/// The history record of a finished run (`None`, logged, when its report cannot be encoded).
pub fn record_of(
    rules: Vec<String>,
    trigger: Trigger,
    elapsed: std::time::Duration,
    report: &Report,
) -> Option<Record> {
    let json = serde_json::to_value(report)
        .inspect_err(|err| tracing::warn!(error = %err, "the run is not recorded in the history"))
        .ok()?;
    let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let started = std::time::SystemTime::now()
        .checked_sub(elapsed)
        .unwrap_or(std::time::UNIX_EPOCH);
    Some(Record::new(rules, trigger, started, duration_ms, json))
}

/// Writes `record` into the history next to `state_path`, keeping `keep` runs. A history
/// that cannot be written is logged, never an error: the run happened either way.
pub fn record(state_path: &Path, keep: usize, record: &Record) {
    let history = History::new(history::dir_for(state_path), keep);
    if let Err(err) = history.append(record) {
        tracing::warn!(error = %format!("{:#}", anyhow::Error::from(err)), "the run is not recorded in the history");
    }
}

/// [`record_of`] and [`record`] in one: what `swab run` does after a real run.
pub fn record_run(
    state_path: &Path,
    keep: usize,
    rules: Vec<String>,
    elapsed: std::time::Duration,
    report: &Report,
) {
    if keep > 0
        && let Some(r) = record_of(rules, Trigger::Cli, elapsed, report)
    {
        record(state_path, keep, &r);
    }
}

pub fn run(args: &HistoryArgs) -> anyhow::Result<u8> {
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(swab_engine::state::default_path);
    let history = History::new(history::dir_for(&state_path), usize::MAX);
    if let Some(id) = &args.id {
        let record = history
            .get(id)
            .context("cannot read the history")?
            .ok_or_else(|| {
                crate::exit::UsageError(format!(
                    "no run {id} in {}; `swab history` lists them",
                    history.dir().display()
                ))
            })?;
        match args.format {
            OutputFormat::Json => print(&format!("{}\n", serde_json::to_string_pretty(&record)?))?,
            OutputFormat::Text => print(&format!(
                "{}\n",
                serde_json::to_string_pretty(&record.report)?
            ))?,
        }
        return Ok(crate::exit::SUCCESS);
    }
    let records = history
        .list(args.limit)
        .context("cannot read the history")?;
    match args.format {
        OutputFormat::Json => {
            print(&format!("{}\n", serde_json::to_string_pretty(&records)?))?;
        }
        OutputFormat::Text => print(&render(&records, history.dir()))?,
    }
    Ok(crate::exit::SUCCESS)
}

/// A run's result in one word: `failed` when an action failed, `ok` otherwise (`dry-run`
/// for runs that changed nothing on purpose).
pub fn result_of(record: &Record) -> &'static str {
    let failed = record.report["summary"]["failed"].as_u64().unwrap_or(0);
    if failed > 0 {
        "failed"
    } else if record.report["dry_run"].as_bool() == Some(true) {
        "dry-run"
    } else {
        "ok"
    }
}

/// The summary line of a recorded report (`reclaimed 1.2 GB (...)`), rebuilt from its JSON.
pub fn summary_of(record: &Record) -> String {
    let summary: swab_engine::report::Summary =
        serde_json::from_value(record.report["summary"].clone()).unwrap_or_default();
    summary.line(record.report["dry_run"].as_bool() == Some(true))
}

fn render(records: &[Record], dir: &Path) -> String {
    let mut out = String::new();
    if records.is_empty() {
        let _ = writeln!(out, "no runs recorded in {}", dir.display());
        return out;
    }
    for r in records {
        let trigger = match r.trigger {
            Trigger::Schedule => "schedule",
            Trigger::Cli => "cli",
            Trigger::Api => "api",
        };
        let started = r.report["started_at"].as_str().unwrap_or("?");
        let _ = writeln!(
            out,
            "{}  {started}  {trigger:<8}  {:<7}  {:>6}  {}: {}",
            r.id,
            result_of(r),
            humantime::format_duration(std::time::Duration::from_millis(r.duration_ms / 100 * 100)),
            r.rules.join(","),
            summary_of(r)
        );
    }
    out
}
