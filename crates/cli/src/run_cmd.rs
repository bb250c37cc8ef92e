//! `swab plan` and `swab run`: snapshot, plan, execute (or record), report.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::time::SystemTime;

use anyhow::Context as _;
use swab_engine::exec::{DryRun, Engine};
use swab_engine::plan::Plan;
use swab_engine::report::{ActionReport, Report, Status, Summary};
use swab_engine::snapshot::{GatherStats, LocalFilesystem};
use swab_engine::state::{self, State};
use swab_engine::{exec, format_bytes, plan, snapshot};
use swab_rules::{Rule, RuleSet};

use crate::args::{GlobalArgs, OutputFormat, RunArgs};
use crate::exit::{self, UsageError};
use crate::output::print;

/// Runs the selected rules now; `dry_run` records instead of acting.
pub async fn run(global: &GlobalArgs, args: &RunArgs, dry_run: bool) -> anyhow::Result<u8> {
    let rules = crate::rules_cmd::load(args.rules.as_deref())?;
    let selected = select(&rules, &args.rule)?;
    let resolved = crate::connect::resolve(global)?;
    let docker = crate::connect::client(&resolved)?;
    let state_path = args.state.clone().unwrap_or_else(state::default_path);
    let mut state = State::load(&state_path).context("cannot load swab's state")?;

    let started = SystemTime::now();
    let (snapshot, gathered) = snapshot::gather(
        &docker,
        &selected,
        &rules.protect,
        &LocalFilesystem,
        usize::from(args.parallel),
    )
    .await
    .with_context(|| {
        format!(
            "cannot read the state of the Docker host at {}",
            resolved.endpoint
        )
    })?;
    log_gather(&gathered, &snapshot);
    state.observe(&snapshot, started);
    let plan = plan::plan(&snapshot, &selected, &rules.protect, &state, started);

    let recorder = DryRun::new();
    let engine: &dyn Engine = if dry_run { &recorder } else { &docker };
    let bar = Progress::new(args.format, dry_run, plan.actions.len());
    let actions = exec::execute(
        &plan,
        engine,
        usize::from(args.parallel),
        &|report: &ActionReport| {
            log_action(report);
            bar.tick(report);
        },
    )
    .await;
    bar.finish();

    if !dry_run {
        // The record of use outlives this run; losing it only makes swab more cautious.
        if let Err(err) = state.save(&state_path) {
            tracing::warn!(error = %format!("{err:#}"), "cannot save swab's state");
        }
    }
    let report = build_report(
        &resolved.endpoint.to_string(),
        dry_run,
        started,
        plan,
        actions,
    );
    tracing::info!(
        api_calls = docker.requests_sent(),
        actions = report.actions.len(),
        failed = report.summary.failed,
        "run finished"
    );
    match args.format {
        OutputFormat::Json => print(&format!("{}\n", serde_json::to_string_pretty(&report)?))?,
        OutputFormat::Text => print(&render(&report, &selected, args.show_kept))?,
    }
    Ok(if report.has_failures() {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
}

/// The rules named with `--rule`, in file order; all rules when none are named.
fn select<'a>(rules: &'a RuleSet, names: &[String]) -> anyhow::Result<Vec<&'a Rule>> {
    if names.is_empty() {
        return Ok(rules.rules.iter().collect());
    }
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| rules.rule(n).is_none())
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = rules.rules.iter().map(|r| r.name.as_str()).collect();
        return Err(UsageError(format!(
            "no rule named {} in {}; rules there: {}",
            unknown.join(", "),
            rules.source_name,
            known.join(", ")
        ))
        .into());
    }
    Ok(rules
        .rules
        .iter()
        .filter(|r| names.contains(&r.name))
        .collect())
}

fn build_report(
    host: &str,
    dry_run: bool,
    started: SystemTime,
    plan: Plan,
    actions: Vec<ActionReport>,
) -> Report {
    Report {
        swab_version: env!("CARGO_PKG_VERSION"),
        dry_run,
        host: host.to_owned(),
        started_at: humantime::format_rfc3339_seconds(started).to_string(),
        finished_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        summary: Summary::of(&actions),
        actions,
        kept: plan.kept,
        notes: plan.notes,
    }
}

fn log_gather(stats: &GatherStats, snapshot: &snapshot::Snapshot) {
    tracing::info!(
        containers = snapshot.containers.len(),
        images = snapshot.images.len(),
        api_calls = stats.api_calls,
        container_inspects = stats.container_inspects,
        image_inspects = stats.image_inspects,
        "snapshot taken"
    );
}

fn log_action(report: &ActionReport) {
    let status = status_word(report.status);
    match report.status {
        Status::Failed | Status::RolledBack => tracing::error!(
            rule = %report.rule, action = report.action, object = %report.name, id = %report.id,
            status, error = report.error.as_deref().unwrap_or(""), "action failed"
        ),
        _ => tracing::info!(
            rule = %report.rule, action = report.action, object = %report.name, id = %report.id,
            status, error = report.error.as_deref().unwrap_or(""), "action"
        ),
    }
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Planned => "planned",
        Status::Done => "done",
        Status::Skipped => "skipped",
        Status::Failed => "failed",
        Status::RolledBack => "rolled_back",
    }
}

/// A progress bar on stderr, only for real runs on a terminal with text output.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(format: OutputFormat, dry_run: bool, total: usize) -> Progress {
        let show = format == OutputFormat::Text
            && !dry_run
            && total > 0
            && std::io::stderr().is_terminal();
        Progress(show.then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        }))
    }

    fn tick(&self, report: &ActionReport) {
        if let Some(bar) = &self.0 {
            bar.set_message(format!(
                "{} {}",
                report.action.replace('_', " "),
                report.name
            ));
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// The human report: a table per rule, notes, and totals.
fn render(report: &Report, rules: &[&Rule], show_kept: bool) -> String {
    let mut out = String::new();
    let mode = if report.dry_run {
        " (dry run: nothing was changed)"
    } else {
        ""
    };
    let _ = writeln!(out, "swab {}{mode}", report.host);
    for note in report.notes.iter().filter(|n| n.rule == plan::PROTECT_NOTE) {
        let _ = writeln!(out, "warning: {}", note.message);
    }
    for rule in rules {
        let actions: Vec<&ActionReport> = report
            .actions
            .iter()
            .filter(|a| a.rule == rule.name)
            .collect();
        let kept: Vec<_> = report.kept.iter().filter(|k| k.rule == rule.name).collect();
        let _ = writeln!(out, "\nrule {} ({})", rule.name, rule.action);
        for note in report.notes.iter().filter(|n| n.rule == rule.name) {
            let _ = writeln!(out, "  note: {}", note.message);
        }
        if actions.is_empty() {
            let _ = writeln!(out, "  nothing to do");
        } else {
            let rows: Vec<[String; 5]> = actions
                .iter()
                .map(|a| {
                    let mut why = a.reason.clone();
                    if let Some(error) = &a.error {
                        let _ = write!(why, " -- {error}");
                    }
                    [
                        status_word(a.status).to_owned(),
                        a.action.replace('_', " "),
                        a.name.clone(),
                        a.bytes.map_or_else(|| "-".to_owned(), format_bytes),
                        why,
                    ]
                })
                .collect();
            table(
                &mut out,
                &["STATUS", "ACTION", "NAME", "SIZE", "WHY"],
                &rows,
            );
        }
        if !kept.is_empty() {
            if show_kept {
                let _ = writeln!(out, "  kept:");
                for k in &kept {
                    let _ = writeln!(out, "    {}: {}", k.name, k.reason);
                }
            } else {
                let _ = writeln!(
                    out,
                    "  kept {} (--show-kept lists them with reasons)",
                    kept.len()
                );
            }
        }
    }
    let s = &report.summary;
    let verb = if report.dry_run {
        "would reclaim"
    } else {
        "reclaimed"
    };
    let mut parts = Vec::new();
    for (n, what) in [
        (s.containers_removed, "container"),
        (s.images_removed, "image"),
        (s.volumes_removed, "volume"),
        (s.networks_removed, "network"),
        (s.containers_restarted, "restart"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}{}", if n == 1 { "" } else { "s" }));
        }
    }
    let what = if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join(", ")
    };
    let _ = writeln!(
        out,
        "\n{verb} {} ({what}); {} skipped, {} failed",
        format_bytes(s.bytes_reclaimed),
        s.skipped,
        s.failed
    );
    out
}

fn table(out: &mut String, header: &[&str; 5], rows: &[[String; 5]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: [&str; 5]| {
        let _ = write!(out, "  ");
        for (i, cell) in cells.iter().enumerate() {
            if i == cells.len() - 1 {
                let _ = writeln!(out, "{cell}");
            } else {
                let _ = write!(out, "{cell:<width$}  ", width = widths[i]);
            }
        }
    };
    line(out, *header);
    for row in rows {
        line(out, [&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
}
