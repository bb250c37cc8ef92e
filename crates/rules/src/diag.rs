//! Located, collected validation errors.
//!
//! Every problem becomes one [`RuleError`] that renders as
//! `FILE:LINE:COLUMN: rule 'NAME': what is wrong; what is expected`.
//! The resolver keeps going after an error, so one run reports every mistake
//! it can find; they are gathered in [`Diagnostics`].

use std::fmt;

/// A 1-based line and column (in characters) inside the rule file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
}

impl Position {
    /// Builds a position from 1-based line and column.
    pub const fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Which rule an error belongs to: its name, or its 1-based index in
/// `rules:` when it has no usable name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RuleRef {
    /// The rule's `name` as written (it may itself be invalid).
    Named(String),
    /// 1-based position in the `rules` list, for rules without a name.
    Index(usize),
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Named(name) => write!(f, "rule '{name}'"),
            Self::Index(index) => write!(f, "rule #{index}"),
        }
    }
}

/// What is wrong. Each message says what was found and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input exceeds [`crate::MAX_INPUT_BYTES`].
    #[error("input is {size} bytes; rule files must be at most 1 MiB (1048576 bytes)")]
    TooLarge {
        /// Size seen (a lower bound when reading from a stream).
        size: u64,
    },
    /// The input contains a NUL byte, so it is almost certainly binary.
    #[error("input contains a NUL byte; expected a YAML text file")]
    Binary,
    /// The input is not UTF-8.
    #[error("input is not valid UTF-8; expected UTF-8 encoded YAML")]
    NotUtf8,
    /// The YAML parser rejected the text.
    #[error("invalid YAML: {message}")]
    Syntax {
        /// The parser's reason, without its location suffix.
        message: String,
    },
    /// The document is empty.
    #[error("the rule file is empty; expected a mapping with `version: 1` and `rules:`")]
    EmptyDocument,
    /// A key that the section does not know.
    #[error("unknown key `{key}` in {section}; {hint}")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where it appeared, e.g. "`match`" or "a rule".
        section: String,
        /// "did you mean ...?" or the list of known keys.
        hint: String,
    },
    /// A key given twice in one mapping (reported at the second).
    #[error("duplicate key `{key}`; each key may appear only once")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// A required key is absent (reported at the enclosing mapping).
    #[error("missing required key `{key}`; expected {expected}")]
    MissingKey {
        /// The missing key.
        key: String,
        /// What it should hold.
        expected: String,
    },
    /// A value of the wrong YAML type.
    #[error("`{key}` is {found}; expected {expected}")]
    WrongType {
        /// The key (or `key[index]`) holding the value.
        key: String,
        /// What was found: "a number", "a list", ...
        found: String,
        /// What the key takes.
        expected: String,
    },
    /// A duration that does not parse.
    #[error(
        "`{key}`: invalid duration `{value}` ({reason}); expected a duration such as `90s`, `2h`, `7d` or `1w 2d`"
    )]
    InvalidDuration {
        /// The key.
        key: String,
        /// The text as written.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A byte size that does not parse.
    #[error(
        "`{key}`: invalid size `{value}` ({reason}); expected a size such as `500MB`, `20GB` or `1.5GiB`"
    )]
    InvalidSize {
        /// The key.
        key: String,
        /// The text as written.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A percentage that does not parse or is out of range.
    #[error("`{key}`: invalid percentage `{value}` ({reason}); expected 0% to 100%, such as `85%`")]
    InvalidPercent {
        /// The key.
        key: String,
        /// The text as written.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A cron expression croner rejects or that never fires.
    #[error(
        "invalid schedule `{value}`: {reason}; expected a crontab expression such as `0 3 * * *`, `*/5 * * * * *` (with seconds) or `@daily`"
    )]
    InvalidSchedule {
        /// The expression as written.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Not an IANA time zone name.
    #[error("unknown time zone `{value}`; {hint}")]
    UnknownTimezone {
        /// The name as written.
        value: String,
        /// "did you mean ...?" or an example.
        hint: String,
    },
    /// A rule name outside `[a-z0-9_-]+`.
    #[error(
        "invalid rule name `{value}`; expected lowercase letters, digits, `-` and `_`, such as `stopped-ci-containers`"
    )]
    InvalidRuleName {
        /// The name as written.
        value: String,
    },
    /// Two rules with one name (reported at the second).
    #[error(
        "duplicate rule name `{name}` (first used on line {first_line}); rule names must be unique"
    )]
    DuplicateRuleName {
        /// The repeated name.
        name: String,
        /// Line of the first rule with that name.
        first_line: u32,
    },
    /// An action swab does not know.
    #[error("unknown action `{value}`; {hint}")]
    UnknownAction {
        /// The action as written.
        value: String,
        /// "did you mean ...?" or the list of actions.
        hint: String,
    },
    /// A key for containers on a rule that updates Swarm services.
    #[error(
        "`{key}` does not apply to a rule with `services:`, which updates Swarm services (Swarm rolls them out and back); put container updates in a rule of their own"
    )]
    NotForServices {
        /// The key.
        key: String,
    },
    /// A valid key that makes no sense for the rule's action.
    #[error("`{key}` does not apply to action `{action}`; it applies to {applies_to}")]
    NotApplicable {
        /// The key.
        key: String,
        /// The rule's action.
        action: String,
        /// The actions that take the key.
        applies_to: String,
    },
    /// `target` without `when`.
    #[error(
        "`target` needs a `when` condition; add `when:` (such as `disk_usage_above: 85%`) or remove `target`"
    )]
    TargetWithoutWhen,
    /// The target threshold is not below the trigger threshold.
    #[error(
        "`target` {target} is not below `when` {trigger}; expected a lower target so the rule can stop"
    )]
    TargetNotBelowTrigger {
        /// The target threshold.
        target: String,
        /// The trigger threshold.
        trigger: String,
    },
    /// `when` or `target` with no or several conditions.
    #[error("`{key}` needs exactly one condition; expected one of {expected}")]
    ConditionCount {
        /// `when` or `target`.
        key: String,
        /// The possible conditions.
        expected: String,
    },
    /// `rules:` holds no rule.
    #[error("`rules` is empty; expected at least one rule")]
    EmptyRules,
    /// `version` other than 1.
    #[error("unsupported version `{found}`; expected `version: 1`")]
    UnsupportedVersion {
        /// The version as written.
        found: String,
    },
    /// An image or name glob that cannot match anything valid.
    #[error("`{key}`: invalid pattern `{value}`: {reason}")]
    InvalidPattern {
        /// The key.
        key: String,
        /// The pattern as written.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A label selector that does not parse.
    #[error(
        "invalid label selector `{value}`: {reason}; expected `key`, `!key`, `key=value` or `key!=value`"
    )]
    InvalidLabelSelector {
        /// The selector as written.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A value outside a fixed set (status, notify format, ...).
    #[error("`{key}`: unknown value `{value}`; expected {expected}")]
    UnknownValue {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// The allowed values.
        expected: String,
    },
    /// A number outside its allowed range.
    #[error("`{key}` is {value}; expected {expected}")]
    OutOfRange {
        /// The key.
        key: String,
        /// The number as written.
        value: String,
        /// The allowed range.
        expected: String,
    },
    /// `jitter` on a rule without `schedule`.
    #[error("`jitter` only delays scheduled runs; add a `schedule` or remove `jitter`")]
    JitterWithoutSchedule,
    /// A `restart` rule that would restart every container.
    #[error(
        "`restart` without `match.names`, `match.images` or `match.labels` would restart every running container; expected at least one of them"
    )]
    RestartWithoutSelector,
    /// A bad `rollback_tag` template.
    #[error(
        "invalid rollback_tag `{value}`: {reason}; expected a tag template such as `{{tag}}-swab-previous`, or null"
    )]
    InvalidRollbackTag {
        /// The template as written.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A `notify_only` rule in a rule set without `notify:` targets.
    #[error(
        "`notify_only: true` sends notices through the rule set's `notify:` targets, and there are none; expected a top-level `notify:` section"
    )]
    NotifyOnlyWithoutTargets,
    /// A notification URL that does not parse. The URL is not repeated: it holds secrets.
    #[error("invalid notify url `{shown}`: {reason}")]
    InvalidNotifyUrl {
        /// The URL's scheme and host, the rest left out.
        shown: String,
        /// What is wrong.
        reason: String,
    },
    /// A message template with an unknown `{placeholder}`.
    #[error("`{key}`: unknown placeholder `{{{name}}}`; expected one of {expected}")]
    UnknownPlaceholder {
        /// `title` or `body`.
        key: String,
        /// The placeholder's name.
        name: String,
        /// The known placeholders.
        expected: String,
    },
    /// Two hosts with one name (reported at the second).
    #[error(
        "duplicate host name `{name}` (first used on line {first_line}); host names must be unique"
    )]
    DuplicateHostName {
        /// The repeated name.
        name: String,
        /// Line of the first host with that name.
        first_line: u32,
    },
    /// A host's `rules` names a rule the file does not have.
    #[error("`rules`: no rule named `{value}` in this file; {hint}")]
    UnknownRule {
        /// The name as written.
        value: String,
        /// "did you mean ...?" or the file's rule names.
        hint: String,
    },
    /// Two keys that exclude each other, both given (reported at the later one).
    #[error("`{key}` and `{other}` cannot both be given; expected exactly one of them")]
    ConflictingKeys {
        /// The key written later.
        key: String,
        /// The key written earlier.
        other: String,
    },
    /// A Docker endpoint swab cannot connect to.
    #[error(
        "invalid endpoint `{value}`: {reason}; expected `unix:///ABSOLUTE/PATH` or `tcp://HOST[:PORT]` (or `context:` with a docker context name)"
    )]
    InvalidEndpoint {
        /// The endpoint as written.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// `tls` on a host that is not reached over `tcp://`.
    #[error(
        "`tls` applies only to a `tcp://` endpoint, not to {endpoint}; remove it (a unix socket needs no TLS, a docker context carries its own)"
    )]
    TlsWithoutTcp {
        /// What the host uses instead: "a `unix://` socket" or "a docker context".
        endpoint: String,
    },
    /// A host label key that a `key=value` selector could not name.
    #[error(
        "invalid label key `{key}`; expected a non-empty key without whitespace, `=` or `!`, such as `role`"
    )]
    InvalidLabelKey {
        /// The key as written.
        key: String,
    },
}

/// One located validation error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    /// The file name (or `<stdin>`, or the name given to `load_str`).
    pub source_name: String,
    /// Where in the file; `None` for whole-input problems (too large, binary).
    pub position: Option<Position>,
    /// The rule it belongs to; `None` for top-level problems.
    pub rule: Option<RuleRef>,
    /// What is wrong.
    #[source]
    pub kind: ErrorKind,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source_name)?;
        if let Some(position) = self.position {
            write!(f, ":{}:{}", position.line, position.column)?;
        }
        f.write_str(": ")?;
        if let Some(rule) = &self.rule {
            write!(f, "{rule}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

/// Every error found in one rule file, in file order.
///
/// Displays as one error per line, ready to print to stderr.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    errors: Vec<RuleError>,
}

impl Diagnostics {
    pub(crate) fn from_errors(mut errors: Vec<RuleError>) -> Self {
        errors.sort_by_key(|error| error.position);
        Self { errors }
    }

    pub(crate) fn single(source_name: &str, position: Option<Position>, kind: ErrorKind) -> Self {
        Self {
            errors: vec![RuleError {
                source_name: source_name.to_owned(),
                position,
                rule: None,
                kind,
            }],
        }
    }

    /// The errors, sorted by position (whole-input errors first).
    pub fn errors(&self) -> &[RuleError] {
        &self.errors
    }

    /// How many errors there are (at least one when returned as an error).
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Iterates over the errors in order.
    pub fn iter(&self) -> std::slice::Iter<'_, RuleError> {
        self.errors.iter()
    }

    /// Takes the errors out.
    pub fn into_errors(self) -> Vec<RuleError> {
        self.errors
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a RuleError;
    type IntoIter = std::slice::Iter<'a, RuleError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}
