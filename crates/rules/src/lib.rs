//! swab's rule language. Pure: turns YAML text into validated, typed rules.
//!
//! Parsing has two stages. `node` turns text into a tree of YAML values
//! that remember their line and column (serde-saphyr's `Spanned`); the
//! resolver (`resolve`) walks that tree, checks every key and value and
//! builds the typed [`RuleSet`]. The split exists so that all mistakes in a
//! file are reported at once, each as `FILE:LINE:COLUMN: rule 'NAME': what
//! is wrong; what is expected` (see [`Diagnostics`]), instead of serde
//! stopping at the first.
//!
//! The typed layer holds everything the engine asks about: [`ImageRef`] and
//! [`ImagePattern`] (normalized Docker references and globs),
//! [`NamePattern`], [`LabelSelector`], [`Protect`] (the global safety net,
//! with the built-in `swab.protect` label), [`Schedule`] (croner in a time
//! zone with exact DST rules), [`Host`] (the `hosts:` a file acts on, checked
//! by syntax only: no file is opened, no daemon contacted), and the value
//! parsers in [`units`], and the notification targets of `notify:` ([`channel`]: http(s)
//! webhooks and shoutrrr-style URLs, parsed with errors that never repeat a secret). Nothing
//! here reads the clock or talks to Docker; the only IO is reading the rule
//! file itself, size-capped.
//!
//! Among swab's crates it depends on `swab-reference` only (and re-exports
//! its [`ImageRef`]); it must never depend on the Docker client, the registry
//! client, the planner or the engine.
#![deny(missing_docs)]

pub mod channel;
mod describe;
mod diag;
mod glob;
pub mod image;
mod model;
mod node;
mod resolve;
pub mod schedule;
pub mod select;
pub mod units;
pub mod watchtower;

use std::io::Read;
use std::path::Path;

pub use channel::Channel;
pub use describe::render_validation;
pub use diag::{Diagnostics, ErrorKind, Position, RuleError, RuleRef};
pub use image::{ImagePattern, ImageRef, ImageRefError};
pub use model::{
    Action, ComposeFile, ContainerStatus, FailureAction, HookFailure, HookLabels, Hooks, Host,
    HostEndpoint, HostTls, Match, MessageForm, Notify, NotifyFormat, NotifyOn, RollbackTag, Rule,
    RuleSet, ServiceSelector, TagPattern, Target, Tracking, Trigger, UpdateOptions, VolumeScope,
    Window, default_retry_after,
};
pub use resolve::{
    DEFAULT_HEALTH_TIMEOUT, DEFAULT_SERVICE_TIMEOUT, MAX_HOOK_TIMEOUT, PLACEHOLDERS,
};
pub use schedule::{Schedule, ScheduleError};
pub use select::{LabelSelector, NamePattern, PROTECT_LABEL, Protect, has_protect_label};
pub use units::Percent;

/// Largest rule file accepted: 1 MiB. Rule files are hand-written; anything
/// bigger is a wrong path or an attack, and capping keeps parsing cheap.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// The built-in rule set used when no rule file is given. The single source
/// of truth is `rules/default.yaml` at the repository root.
pub const DEFAULT_RULES_YAML: &str = include_str!("../../../rules/default.yaml");

/// The display name of [`DEFAULT_RULES_YAML`] in messages.
pub const DEFAULT_RULES_NAME: &str = "<default rules>";

/// The display name used for standard input.
pub const STDIN_NAME: &str = "<stdin>";

/// Why a rule file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read rule file {path}")]
    Read {
        /// The path as given.
        path: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid rule set.
    #[error("{0}")]
    Invalid(#[from] Diagnostics),
}

/// The validated built-in rule set.
///
/// # Panics
/// Never in a released build: a test asserts the embedded file validates.
pub fn default_rules() -> RuleSet {
    match load_str(DEFAULT_RULES_NAME, DEFAULT_RULES_YAML) {
        Ok(set) => set,
        Err(errors) => panic!("the built-in rules/default.yaml is invalid:\n{errors}"),
    }
}

/// Validates already-read bytes (a file, stdin, an HTTP body).
///
/// Rejects input over 1 MiB, with a NUL byte (binary) or that is not UTF-8,
/// each as one located error, before any YAML parsing.
pub fn load_bytes(source_name: &str, bytes: &[u8]) -> Result<RuleSet, Diagnostics> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(Diagnostics::single(
            source_name,
            None,
            ErrorKind::TooLarge {
                size: bytes.len() as u64,
            },
        ));
    }
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(Diagnostics::single(
            source_name,
            Some(position_of(bytes, offset)),
            ErrorKind::Binary,
        ));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => load_str(source_name, text),
        Err(error) => Err(Diagnostics::single(
            source_name,
            Some(position_of(bytes, error.valid_up_to())),
            ErrorKind::NotUtf8,
        )),
    }
}

/// Line and column (in characters) of a byte offset, counting only the valid
/// UTF-8 before it.
fn position_of(bytes: &[u8], offset: usize) -> Position {
    let before = &bytes[..offset.min(bytes.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.split(|&b| b == b'\n').count();
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    Position::new(
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// Validates YAML text. `source_name` is what error lines start with.
pub fn load_str(source_name: &str, text: &str) -> Result<RuleSet, Diagnostics> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(Diagnostics::single(
            source_name,
            None,
            ErrorKind::TooLarge {
                size: text.len() as u64,
            },
        ));
    }
    if text.contains('\0') {
        return load_bytes(source_name, text.as_bytes());
    }
    let root = node::parse(source_name, text)?;
    resolve::resolve(source_name, &root)
}

/// Reads at most 1 MiB (plus one byte, to detect larger input) from a
/// reader and validates it.
pub fn load_reader(source_name: &str, reader: impl Read) -> Result<RuleSet, LoadError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| LoadError::Read {
            path: source_name.to_owned(),
            source,
        })?;
    Ok(load_bytes(source_name, &bytes)?)
}

/// Reads and validates a rule file; `-` reads standard input (named
/// `<stdin>` in messages).
pub fn load_file(path: impl AsRef<Path>) -> Result<RuleSet, LoadError> {
    let path = path.as_ref();
    if path.as_os_str() == "-" {
        return load_reader(STDIN_NAME, std::io::stdin().lock());
    }
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| LoadError::Read {
        path: name.clone(),
        source,
    })?;
    load_reader(&name, file)
}
