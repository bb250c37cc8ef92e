//! `swab`: the command-line front end. Glue only: parsing flags, wiring signals, the metrics
//! HTTP server, calling the library crates, printing results and mapping errors to the
//! documented exit codes. The top of the crate graph: it depends on every library crate,
//! and nothing depends on it. Decisions belong in `swab-plan`, IO in `swab-engine`.

mod api;
mod args;
mod connect;
mod daemon_cmd;
mod doctor;
#[cfg(test)]
mod examples_check;
mod exit;
mod fleet;
mod history_cmd;
mod locks;
mod logging;
mod metrics;
mod migrate_cmd;
mod output;
mod page;
mod rollback_cmd;
mod rules_cmd;
mod run_cmd;
mod updates_cmd;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, MigrateCommand, RulesCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A service logs one line per action by default; the other commands only warn.
    let verbose = match cli.command {
        Command::Daemon(_) => cli.global.verbose.max(1),
        _ => cli.global.verbose,
    };
    logging::init(cli.global.log_format, verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("swab: cannot start the async runtime: {err}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Doctor(args) => doctor::run(&cli.global, args).await,
            Command::Daemon(args) => {
                // The API's tasks run runs, whose futures are not Send: on this thread.
                let local = tokio::task::LocalSet::new();
                Box::pin(local.run_until(daemon_cmd::run(&cli.global, args))).await
            }
            Command::Plan(args) => Box::pin(run_cmd::run(&cli.global, args, true)).await,
            Command::Run(cmd) => Box::pin(run_cmd::run(&cli.global, &cmd.args, cmd.dry_run)).await,
            Command::Updates(args) => updates_cmd::run(&cli.global, args).await,
            Command::Rollback(args) => Box::pin(rollback_cmd::run(&cli.global, args)).await,
            Command::Validate(args) => rules_cmd::validate(&cli.global, args).await,
            Command::History(args) => history_cmd::run(args),
            Command::Rules(RulesCommand::ShowDefault) => rules_cmd::show_default(),
            Command::Migrate(MigrateCommand::Watchtower(args)) => {
                migrate_cmd::watchtower(&cli.global, args).await
            }
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if let Some(command) = json_report_of(&cli.command) {
                exit::print_json_error(command, &err);
            }
            exit::report(&err)
        }
    }
}

/// The name of a command that reports in JSON this time (`--format json`): a fatal error
/// then still prints one JSON document on stdout, for the CI job that parses it.
fn json_report_of(command: &Command) -> Option<&'static str> {
    use crate::args::OutputFormat::Json;
    match command {
        Command::Doctor(a) if a.format == Json => Some("doctor"),
        Command::Plan(a) if a.format == Json => Some("plan"),
        Command::Run(c) if c.args.format == Json => Some("run"),
        Command::Updates(a) if a.format == Json => Some("updates"),
        Command::Rollback(a) if a.format == Json => Some("rollback"),
        _ => None,
    }
}
