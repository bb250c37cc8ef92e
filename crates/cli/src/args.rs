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
    /// Check rule files: print each rule, what it matches and its next fire times, or every
    /// error with its file, line and column (exit 2).
    Validate(ValidateArgs),
    /// Work with rule sets.
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Rule file to check; repeatable; `-` reads stdin. Default: the built-in rules.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Print the built-in rule set that commands use without --rules.
    ShowDefault,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}
