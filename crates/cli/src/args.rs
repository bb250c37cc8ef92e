//! Command-line flags.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A rules-driven janitor for Docker hosts.
#[derive(Debug, Parser)]
#[command(name = "swab", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Docker daemon to talk to (unix:///path, tcp://host:port, https://host:port).
    /// Default: DOCKER_HOST, then the current docker context, then the usual sockets.
    #[arg(short = 'H', long = "host", global = true, value_name = "URL")]
    pub host: Option<String>,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More log output (-v info, -vv debug, -vvv trace). SWAB_LOG overrides, e.g.
    /// SWAB_LOG=swab_docker=debug.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// How long to wait for the Docker daemon to answer a request (its whole answer, for
    /// plain ones; the start of it, for streams). Past it, the daemon counts as unreachable
    /// (exit 3).
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub timeout: humantime::Duration,

    /// How long a pull may go without progress before it counts as stalled (it fails; the
    /// update is not made). Judged by progress, never by the pull's total time.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, default_value = "2m")]
    pub stall_timeout: humantime::Duration,

    /// With a rule file that has `hosts:`: act only on these hosts, by name or by label
    /// (`role=ci`); repeatable, a host matching any is picked. Default: every host.
    #[arg(long = "on", global = true, value_name = "HOST|KEY=VALUE")]
    pub on: Vec<String>,

    /// With `hosts:`: how many hosts are worked on at once.
    #[arg(long, global = true, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub host_concurrency: u16,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Output formats of commands that report something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A readable table.
    Text,
    /// JSON for scripts.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the connection to the Docker daemon and show what swab sees.
    Doctor(DoctorArgs),
    /// Show what `swab run` would do now, changing nothing (same as `swab run --dry-run`).
    Plan(RunArgs),
    /// Run the selected rules now (all by default), ignoring their schedules.
    Run(RunCommand),
    /// Run as a background service: fire each scheduled rule at its time until SIGTERM.
    /// SIGHUP re-reads the rules (an invalid file keeps the old rules running).
    Daemon(DaemonArgs),
    /// Monitor only: compare the images that `update` rules keep fresh with their registries.
    /// Pulls and changes nothing.
    Updates(UpdatesArgs),
    /// Put a container back on the image its last update replaced (the rollback tag), with
    /// the same health gate: if the old image does not come up, the container is left as
    /// it was.
    Rollback(RollbackArgs),
    /// Check rule files: print each rule, what it matches and its next fire times, or every
    /// error with its file, line and column (exit 2).
    Validate(ValidateArgs),
    /// List the last runs (newest first) from the history next to the state file, or show
    /// one run's whole report.
    History(HistoryArgs),
    /// Work with rule sets.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Move over from another tool: print an equivalent rule file.
    #[command(subcommand)]
    Migrate(MigrateCommand),
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Read a Watchtower container's settings (its WATCHTOWER_* environment and flags)
    /// and print an equivalent swab rule file, with a comment for every setting that has
    /// no equivalent. Changes nothing; Watchtower keeps running.
    Watchtower(MigrateWatchtowerArgs),
}

#[derive(Debug, Args)]
pub struct MigrateWatchtowerArgs {
    /// The Watchtower container (name or ID). Default: the running container of image
    /// containrrr/watchtower or nickfedor/watchtower, if there is exactly one.
    pub container: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Rule file to check; repeatable; `-` reads stdin. Default: the built-in rules.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<std::path::PathBuf>,

    /// Also connect to the Docker daemon and warn about protect patterns that match nothing
    /// on it (a misspelt safety net protects nothing).
    #[arg(long)]
    pub check_host: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// State file whose history to read (see `swab run --help`); the history is the
    /// directory beside it (`state.json` -> `state.history/`).
    #[arg(long, value_name = "PATH")]
    pub state: Option<std::path::PathBuf>,

    /// How many runs to list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,

    /// Show this run only: its whole report (as `swab run --format json` printed it).
    #[arg(long, value_name = "RUN_ID")]
    pub id: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Print the built-in rule set that commands use without --rules.
    ShowDefault,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Rule file: with a `hosts:` section, every host (or those picked with --on) is
    /// examined. Without it, the one daemon -H, DOCKER_HOST or the context name.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<std::path::PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct RunCommand {
    /// Plan and report, but change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub args: RunArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Rule file (`-` reads stdin). Default: the built-in rules (`swab rules show-default`).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<std::path::PathBuf>,

    /// Run only this rule; repeatable.
    #[arg(long = "rule", value_name = "NAME")]
    pub rule: Vec<String>,

    /// Output format; `json` is the report CI jobs read.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// Operations in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,

    /// State file with image last-used times. Default: $SWAB_STATE, else
    /// /var/lib/swab/state.json for root, else $XDG_STATE_HOME/swab/state.json.
    #[arg(long, value_name = "PATH")]
    pub state: Option<std::path::PathBuf>,

    /// List every object a rule considered and kept, with the reason.
    #[arg(long)]
    pub show_kept: bool,

    /// If another swab is acting on this host, wait this long for it (e.g. `5m`) instead of
    /// exiting at once.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait_lock: Option<humantime::Duration>,

    /// How many runs the history keeps (`swab history`; the directory beside the state
    /// file); 0 records none.
    #[arg(long, value_name = "N", default_value_t = swab_engine::history::DEFAULT_KEEP)]
    pub keep_history: usize,
}

/// A humantime duration: `90s`, `5m`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<humantime::Duration, String> {
    text.parse::<humantime::Duration>()
        .map_err(|e| format!("{e}; expected a duration such as 30s, 5m or 1h"))
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Rule file. Default: the built-in rules (`swab rules show-default`).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<std::path::PathBuf>,

    /// Run every scheduled rule once at start; otherwise the first runs wait for their
    /// schedule. Fires missed while swab was not running are never replayed.
    #[arg(long)]
    pub run_on_start: bool,

    /// Also reload the rules when the rule file changes (checked every 2 s).
    #[arg(long)]
    pub watch: bool,

    /// State file with image last-used times (see `swab run --help`).
    #[arg(long, value_name = "PATH")]
    pub state: Option<std::path::PathBuf>,

    /// Operations in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,

    /// How long a due run waits for another swab (e.g. a CI job's `swab run`) that holds the
    /// host lock before it is skipped.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub wait_lock: humantime::Duration,

    /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9847 or :9847
    /// (loopback). Off by default.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,

    /// Also serve the HTTP API (`/api/v1/`, docs/api.yaml) and the status page (`/`) on the
    /// --metrics-addr listener. Without --api-token-file only loopback reads are open.
    #[arg(long, requires = "metrics_addr")]
    pub api: bool,

    /// File holding the API's bearer token (its first line, 16 characters or more):
    /// required for every POST, and for everything when --metrics-addr is not loopback.
    #[arg(
        long,
        value_name = "FILE",
        requires = "api",
        env = "SWAB_API_TOKEN_FILE"
    )]
    pub api_token_file: Option<std::path::PathBuf>,

    /// Check the flags and the rule file, then exit.
    #[arg(long)]
    pub check_config: bool,

    /// How many runs the history keeps (`swab history`; the directory beside the state
    /// file); 0 records none.
    #[arg(long, value_name = "N", default_value_t = swab_engine::history::DEFAULT_KEEP)]
    pub keep_history: usize,
}

#[derive(Debug, Args)]
pub struct UpdatesArgs {
    /// Rule file. Default: the built-in rules (which have no update rules).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<std::path::PathBuf>,

    /// State file (see `swab run --help`), read for cooldowns and failed updates; only
    /// `--forget` writes it.
    #[arg(long, value_name = "PATH")]
    pub state: Option<std::path::PathBuf>,

    /// Forget the failed update of REFERENCE (`repo:tag`, as `swab updates` prints it), so
    /// the next run tries it without waiting for its back-off; checks nothing.
    #[arg(long, value_name = "REFERENCE")]
    pub forget: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The container (name or ID), or on a Swarm manager a service: Swarm puts the service
    /// back on its previous spec.
    pub container: String,

    /// Rule file: the first `update` rule selecting the container gives the rollback tag,
    /// health timeout and stop timeout. Default: `{tag}-swab-previous`, 60s.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<std::path::PathBuf>,

    /// State file (see `swab run --help`): the rolled-back digest is recorded there, so
    /// the next update run does not bring it straight back.
    #[arg(long, value_name = "PATH")]
    pub state: Option<std::path::PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// If another swab is acting on this host, wait this long for it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait_lock: Option<humantime::Duration>,
}
