//! `swab plan` and `swab run`: snapshot, plan, execute (or record), report.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use tracing::Instrument as _;

use swab_engine::cancel::Cancel;
use swab_engine::format_bytes;
use swab_engine::plan::NoteScope;
use swab_engine::report::{ActionReport, Report, Status, Summary};
use swab_engine::run::{Observer, RunOptions, run_rules};
use swab_engine::state;
use swab_rules::{Rule, RuleSet};

use crate::args::{GlobalArgs, OutputFormat, RunArgs};
use crate::exit::{self, UsageError};
use crate::fleet::{self, HostError, Section, Target};
use crate::output::print;

/// Runs the selected rules now; `dry_run` records instead of acting.
pub async fn run(global: &GlobalArgs, args: &RunArgs, dry_run: bool) -> anyhow::Result<u8> {
    let rules = crate::rules_cmd::load(args.rules.as_deref())?;
    let selected = select(&rules, &args.rule)?;
    fleet::refuse_host_flag(global, &rules)?;
    if !rules.hosts.is_empty() {
        return run_fleet(global, args, dry_run, &rules, &selected).await;
    }
    let resolved = crate::connect::resolve(global)?;
    let docker = crate::connect::client(global, &resolved)?;
    let state_path = args.state.clone().unwrap_or_else(state::default_path);
    // Signals set `signalled`; a lost lease sets only `cancel`, its child, which stops the
    // run the same way but is reported as what it is.
    let signalled = Cancel::new();
    let cancel = signalled.child();
    let signals = cancel_on_signals(signalled)?;
    let retries = docker.retries();
    // Real runs take the locks, so a daemon, a CI job and a fleet controller never act on
    // one daemon at the same time.
    let lock = if dry_run {
        None
    } else {
        let wait = args.wait_lock.map_or(Duration::ZERO, Into::into);
        let file = crate::locks::file_lock_for(&resolved.endpoint, &state_path);
        let held = crate::locks::take(&docker, file.as_deref(), wait, cancel.clone()).await;
        if held.is_err() {
            signals.abort();
        }
        Some(held?)
    };
    let bar = Progress::new(args.format, dry_run);
    let started = std::time::Instant::now();
    let options = RunOptions {
        dry_run,
        parallel: usize::from(args.parallel),
        cancel: cancel.clone(),
    };
    let report = run_rules(
        &docker,
        &rules,
        &selected,
        &state_path,
        options,
        lock.as_ref().map(crate::locks::Held::lease),
        Observer {
            action: &|report: &ActionReport| {
                log_action(report);
                bar.tick(report);
            },
            status: &|status: &str| bar.status(status),
        },
    )
    .await;
    signals.abort();
    if let Some(lock) = lock {
        lock.release().await;
    }
    let mut report = report?;
    // Retries taking and releasing the lock count too: they are this run's.
    report.retries.docker = docker.retries() - retries;
    bar.finish();
    if !dry_run {
        crate::history_cmd::record_run(
            &state_path,
            args.keep_history,
            names(&selected),
            started.elapsed(),
            &report,
        );
    }
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
    Ok(if report.has_failures() || cancel.is_lost_lock() {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
}

/// `swab plan`/`run` over a rule file's hosts: each host is the single-host run with its
/// own state file and lease, several at once; one report with a section per host.
async fn run_fleet(
    global: &GlobalArgs,
    args: &RunArgs,
    dry_run: bool,
    rules: &RuleSet,
    selected: &[&Rule],
) -> anyhow::Result<u8> {
    let targets = fleet::targets(rules, selected, &global.on)?;
    let state = args.state.clone().unwrap_or_else(state::default_path);
    let cancel = Cancel::new();
    let signals = cancel_on_signals(cancel.clone())?;
    let started = SystemTime::now();
    let jobs = fleet::connect_all(global, &targets).await;
    let (state, cancel) = (&state, &cancel);
    let sections = fleet::each(
        &jobs,
        usize::from(global.host_concurrency),
        |(target, connected)| {
            let span = tracing::info_span!("host", name = %target.host.name);
            let run = async move {
                match connected {
                    Ok(connected) => {
                        Box::pin(run_host(
                            args, dry_run, rules, target, connected, state, cancel,
                        ))
                        .await
                    }
                    Err(error) => Section::new(target.host, None, Err(error.clone())),
                }
            };
            run.instrument(span)
        },
    )
    .await;
    signals.abort();
    let code = fleet::worst(sections.iter().map(|s| s.exit_code));
    let actions: Vec<ActionReport> = sections
        .iter()
        .filter_map(|s| s.report.as_ref())
        .flat_map(|r| r.actions.iter().cloned())
        .collect();
    let summary = Summary::of(&actions);
    match args.format {
        OutputFormat::Json => {
            let document = serde_json::json!({
                "swab_version": env!("CARGO_PKG_VERSION"),
                "dry_run": dry_run,
                "started_at": humantime::format_rfc3339_seconds(started).to_string(),
                "finished_at": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                "hosts": sections,
                "summary": summary,
                "exit_code": code,
            });
            print(&format!("{}\n", serde_json::to_string_pretty(&document)?))?;
        }
        OutputFormat::Text => {
            let mut out = crate::fleet::render_text(&targets, &sections, |target, report| {
                render(report, &target.rules, args.show_kept)
            });
            let failed = sections.iter().filter(|s| s.error.is_some()).count();
            let _ = writeln!(
                out,
                "{} host{}, {failed} without a result: {}",
                sections.len(),
                if sections.len() == 1 { "" } else { "s" },
                summary.line(dry_run)
            );
            print(&out)?;
        }
    }
    Ok(code)
}

/// One host of a fleet run: connect, take its lease (real runs), run its rules.
async fn run_host(
    args: &RunArgs,
    dry_run: bool,
    rules: &RuleSet,
    target: &Target<'_>,
    connected: &fleet::Connected,
    state: &Path,
    cancel: &Cancel,
) -> Section<Report> {
    let docker = &connected.docker;
    let state_path = fleet::state_path(state, &connected.daemon_id);
    let cancel = cancel.child();
    let retries = docker.retries();
    let started = std::time::Instant::now();
    let result = async {
        let lock = if dry_run {
            None
        } else {
            let wait = args.wait_lock.map_or(Duration::ZERO, Into::into);
            Some(crate::locks::take(docker, None, wait, cancel.clone()).await?)
        };
        let options = RunOptions {
            dry_run,
            parallel: usize::from(args.parallel),
            cancel: cancel.clone(),
        };
        let report = run_rules(
            docker,
            rules,
            &target.rules,
            &state_path,
            options,
            lock.as_ref().map(crate::locks::Held::lease),
            Observer {
                action: &log_action,
                status: &|status: &str| tracing::debug!("{status}"),
            },
        )
        .await;
        if let Some(lock) = lock {
            lock.release().await;
        }
        let mut report = report?;
        report.retries.docker = docker.retries() - retries;
        if !dry_run {
            crate::history_cmd::record_run(
                &state_path,
                args.keep_history,
                names(&target.rules),
                started.elapsed(),
                &report,
            );
        }
        let code = if report.has_failures() || cancel.is_lost_lock() {
            exit::FAILURE
        } else {
            exit::SUCCESS
        };
        anyhow::Ok((report, code))
    }
    .await
    .map_err(|err| HostError::of(&err));
    Section::new(target.host, Some(connected.daemon_id.clone()), result)
}

/// SIGINT/SIGTERM during a run set `cancel` instead of killing the process: actions in
/// flight finish, an update in flight rolls back, the rest is skipped and reported. A
/// second signal ends the process at once.
pub fn cancel_on_signals(cancel: Cancel) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::spawn(async move {
        for _ in 0..2 {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            if cancel.is_cancelled() {
                std::process::exit(130);
            }
            tracing::warn!(
                "signal: finishing or rolling back what is in flight, skipping the rest (again to abort)"
            );
            cancel.cancel();
        }
    }))
}

/// The names of `rules`, as the history records them.
pub fn names(rules: &[&Rule]) -> Vec<String> {
    rules.iter().map(|r| r.name.clone()).collect()
}

/// The rules named with `--rule`, in file order; all rules when none are named.
pub fn select<'a>(rules: &'a RuleSet, names: &[String]) -> anyhow::Result<Vec<&'a Rule>> {
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

pub fn log_action(report: &ActionReport) {
    let status = report.status.as_str();
    match report.status {
        Status::Failed | Status::RolledBack => tracing::error!(
            rule = %report.rule, action = report.action.as_str(), object = %report.name, id = %report.id,
            status, error = report.error.as_deref().unwrap_or(""), "action failed"
        ),
        _ => tracing::info!(
            rule = %report.rule, action = report.action.as_str(), object = %report.name, id = %report.id,
            status, error = report.error.as_deref().unwrap_or(""), "action"
        ),
    }
}

/// A progress bar on stderr, only for real runs on a terminal with text output.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// The number of actions is only known once the plan exists, inside the shared run, so
    /// this counts up with a spinner.
    fn new(format: OutputFormat, dry_run: bool) -> Progress {
        let show = format == OutputFormat::Text && !dry_run && std::io::stderr().is_terminal();
        Progress(show.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {pos} done {wide_msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar
        }))
    }

    fn tick(&self, report: &ActionReport) {
        if let Some(bar) = &self.0 {
            bar.set_message(format!(
                "{} {}",
                report.action.as_str().replace('_', " "),
                report.name
            ));
            bar.inc(1);
        }
    }

    /// What a long step is doing now (a pull, a health gate).
    fn status(&self, message: &str) {
        match &self.0 {
            Some(bar) => bar.set_message(message.to_owned()),
            None => tracing::debug!("{message}"),
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
    for note in report
        .notes
        .iter()
        .filter(|n| n.scope == NoteScope::Protect)
    {
        let _ = writeln!(out, "warning: {}", note.message);
    }
    for note in report
        .notes
        .iter()
        .filter(|n| n.scope == NoteScope::Recovery)
    {
        let _ = writeln!(out, "recovery: {}", note.message);
    }
    for rule in rules {
        let actions: Vec<&ActionReport> = report
            .actions
            .iter()
            .filter(|a| a.rule == rule.name)
            .collect();
        let kept: Vec<_> = report.kept.iter().filter(|k| k.rule == rule.name).collect();
        let _ = writeln!(out, "\nrule {} ({})", rule.name, rule.action);
        for note in report.notes.iter().filter(|n| n.is_about_rule(&rule.name)) {
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
                        a.status.as_str().to_owned(),
                        a.action.as_str().replace('_', " "),
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
    let _ = writeln!(out, "\n{}", report.summary_line());
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
