//! Lifecycle hooks: which command runs in which container, at which phase, for how long.
//! Decided here from the rule's `hooks:` and the container's labels; the engine runs them
//! (through the exec API, `sh -c`) and acts on their exit codes.
//!
//! A container's own hook label wins over the rule's command for the same phase: the
//! container knows what it needs before it is stopped. The label namespaces are read in
//! the order the rule lists them (`labels: [swab]` by default; Watchtower's
//! `com.centurylinklabs.watchtower.lifecycle.*` only when the rule asks for them, as
//! Watchtower itself ran them only with `--enable-lifecycle-hooks`).

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::time::Duration;

use swab_rules::{HookFailure, HookLabels, Hooks};

/// The longest a hook may run: swab never waits unbounded for a command in a container.
pub const MAX_TIMEOUT: Duration = swab_rules::MAX_HOOK_TIMEOUT;

/// The exit code by which a `pre-update` hook asks to skip the update this time, quietly
/// (`EX_TEMPFAIL`, as Watchtower defines it).
pub const SKIP_THIS_TIME: i64 = 75;

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// In each selected container, before its image is checked.
    PreCheck,
    /// In each selected container, after the check and the update.
    PostCheck,
    /// In the old container, before it is stopped.
    PreUpdate,
    /// In the replacement, once it started, before the health gate.
    PostUpdate,
}

impl Phase {
    /// Every phase, in the order a run meets them.
    pub const ALL: [Phase; 4] = [
        Phase::PreCheck,
        Phase::PreUpdate,
        Phase::PostUpdate,
        Phase::PostCheck,
    ];

    /// `pre-update`: the name in reports and in the label keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::PreCheck => "pre-check",
            Phase::PostCheck => "post-check",
            Phase::PreUpdate => "pre-update",
            Phase::PostUpdate => "post-update",
        }
    }

    fn rule_command(self, hooks: &Hooks) -> Option<&String> {
        match self {
            Phase::PreCheck => hooks.pre_check.as_ref(),
            Phase::PostCheck => hooks.post_check.as_ref(),
            Phase::PreUpdate => hooks.pre_update.as_ref(),
            Phase::PostUpdate => hooks.post_update.as_ref(),
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One command to run in a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// When.
    pub phase: Phase,
    /// Run with `sh -c`.
    pub command: String,
    /// Killed after this long, and then counted as failed.
    pub timeout: Duration,
    /// Where it was given: `label swab.hooks.pre-update` or `rule hooks.pre_update`.
    pub source: String,
}

impl Hook {
    /// The report's reason for running it.
    pub fn reason(&self) -> String {
        format!(
            "{} hook from {}: `{}`",
            self.phase, self.source, self.command
        )
    }
}

/// A container's hooks, every phase resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerHooks {
    /// `pre-check`.
    pub pre_check: Option<Hook>,
    /// `pre-update`.
    pub pre_update: Option<Hook>,
    /// `post-update`.
    pub post_update: Option<Hook>,
    /// `post-check`.
    pub post_check: Option<Hook>,
    /// What a failed `post-update` does.
    pub on_failure: HookFailure,
}

impl ContainerHooks {
    /// The hook for `phase`, if any.
    pub fn get(&self, phase: Phase) -> Option<&Hook> {
        match phase {
            Phase::PreCheck => self.pre_check.as_ref(),
            Phase::PostCheck => self.post_check.as_ref(),
            Phase::PreUpdate => self.pre_update.as_ref(),
            Phase::PostUpdate => self.post_update.as_ref(),
        }
    }

    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        Phase::ALL.iter().all(|p| self.get(*p).is_none())
    }
}

/// Watchtower's label prefix for lifecycle hooks.
const WATCHTOWER_PREFIX: &str = "com.centurylinklabs.watchtower.lifecycle.";
/// swab's label prefix for hooks.
const SWAB_PREFIX: &str = "swab.hooks.";

/// Resolves a container's hooks from the rule's `hooks:` and its labels. An unreadable
/// timeout label is an error naming the label and the value: the container is then not
/// updated (a hook with a timeout nobody meant could hold the update, or cut it short).
pub fn for_container<S: BuildHasher>(
    hooks: &Hooks,
    labels: &HashMap<String, String, S>,
) -> Result<ContainerHooks, String> {
    let resolve = |phase: Phase| -> Result<Option<Hook>, String> {
        for namespace in &hooks.labels {
            let (key, timeout) = match namespace {
                HookLabels::Swab => (
                    format!("{SWAB_PREFIX}{phase}"),
                    swab_timeout(labels)?.unwrap_or(hooks.timeout),
                ),
                HookLabels::Watchtower => (
                    format!("{WATCHTOWER_PREFIX}{phase}"),
                    watchtower_timeout(labels, phase)?.unwrap_or(hooks.timeout),
                ),
            };
            if let Some(command) = labels.get(&key).filter(|c| !c.trim().is_empty()) {
                return Ok(Some(Hook {
                    phase,
                    command: command.clone(),
                    timeout,
                    source: format!("label {key}"),
                }));
            }
        }
        Ok(phase.rule_command(hooks).map(|command| Hook {
            phase,
            command: command.clone(),
            timeout: hooks.timeout,
            source: format!("rule hooks.{}", phase.as_str().replace('-', "_")),
        }))
    };
    Ok(ContainerHooks {
        pre_check: resolve(Phase::PreCheck)?,
        pre_update: resolve(Phase::PreUpdate)?,
        post_update: resolve(Phase::PostUpdate)?,
        post_check: resolve(Phase::PostCheck)?,
        on_failure: hooks.on_failure,
    })
}

/// `swab.hooks.timeout`: a duration such as `90s` or `5m`, at most an hour.
fn swab_timeout<S: BuildHasher>(
    labels: &HashMap<String, String, S>,
) -> Result<Option<Duration>, String> {
    let key = "swab.hooks.timeout";
    let Some(value) = labels.get(key) else {
        return Ok(None);
    };
    let timeout = swab_rules::units::parse_duration(value)
        .map_err(|why| format!("label {key}: `{value}` is not a duration ({why})"))?;
    if timeout.is_zero() || timeout > MAX_TIMEOUT {
        return Err(format!(
            "label {key}: `{value}` is out of range; expected more than 0s and at most 1h"
        ));
    }
    Ok(Some(timeout))
}

/// Watchtower's `pre-update-timeout` and `post-update-timeout`, in whole minutes. Its `0`
/// (no limit) is taken as swab's longest wait, an hour, as is anything longer.
fn watchtower_timeout<S: BuildHasher>(
    labels: &HashMap<String, String, S>,
    phase: Phase,
) -> Result<Option<Duration>, String> {
    if !matches!(phase, Phase::PreUpdate | Phase::PostUpdate) {
        return Ok(None);
    }
    let key = format!("{WATCHTOWER_PREFIX}{phase}-timeout");
    let Some(value) = labels.get(&key) else {
        return Ok(None);
    };
    let minutes: u64 = value
        .trim()
        .parse()
        .map_err(|_| format!("label {key}: `{value}` is not a whole number of minutes"))?;
    if minutes == 0 {
        return Ok(Some(MAX_TIMEOUT));
    }
    Ok(Some(
        Duration::from_secs(minutes.saturating_mul(60)).min(MAX_TIMEOUT),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn rule_hooks() -> Hooks {
        Hooks {
            pre_update: Some("rule-pre".to_owned()),
            post_update: Some("rule-post".to_owned()),
            ..Hooks::default()
        }
    }

    /// (case, rule's label namespaces, labels, phase, expected (command, timeout secs,
    /// source) or error)
    #[test]
    #[allow(clippy::type_complexity, clippy::too_many_lines)] // one table
    fn resolution() {
        let wt = "com.centurylinklabs.watchtower.lifecycle.";
        let cases: Vec<(
            &str,
            Vec<HookLabels>,
            Vec<(String, &str)>,
            Phase,
            Result<Option<(&str, u64, &str)>, &str>,
        )> = vec![
            (
                "the rule's command without labels",
                vec![HookLabels::Swab],
                vec![],
                Phase::PreUpdate,
                Ok(Some(("rule-pre", 60, "rule hooks.pre_update"))),
            ),
            (
                "no hook for the phase",
                vec![HookLabels::Swab],
                vec![],
                Phase::PreCheck,
                Ok(None),
            ),
            (
                "a swab label wins, with its timeout",
                vec![HookLabels::Swab],
                vec![
                    ("swab.hooks.pre-update".to_owned(), "dump"),
                    ("swab.hooks.timeout".to_owned(), "2m"),
                ],
                Phase::PreUpdate,
                Ok(Some(("dump", 120, "label swab.hooks.pre-update"))),
            ),
            (
                "an empty label is no hook",
                vec![HookLabels::Swab],
                vec![("swab.hooks.pre-update".to_owned(), " ")],
                Phase::PreUpdate,
                Ok(Some(("rule-pre", 60, "rule hooks.pre_update"))),
            ),
            (
                "Watchtower labels are not read unless asked for",
                vec![HookLabels::Swab],
                vec![(format!("{wt}pre-update"), "wt")],
                Phase::PreUpdate,
                Ok(Some(("rule-pre", 60, "rule hooks.pre_update"))),
            ),
            (
                "Watchtower labels, timeout in minutes",
                vec![HookLabels::Watchtower],
                vec![
                    (format!("{wt}post-update"), "wt-post"),
                    (format!("{wt}post-update-timeout"), "3"),
                ],
                Phase::PostUpdate,
                Ok(Some((
                    "wt-post",
                    180,
                    "label com.centurylinklabs.watchtower.lifecycle.post-update",
                ))),
            ),
            (
                "Watchtower's 0 (no limit) is swab's longest wait",
                vec![HookLabels::Watchtower],
                vec![
                    (format!("{wt}pre-update"), "wt"),
                    (format!("{wt}pre-update-timeout"), "0"),
                ],
                Phase::PreUpdate,
                Ok(Some((
                    "wt",
                    3600,
                    "label com.centurylinklabs.watchtower.lifecycle.pre-update",
                ))),
            ),
            (
                "the first namespace listed wins",
                vec![HookLabels::Watchtower, HookLabels::Swab],
                vec![
                    (format!("{wt}pre-check"), "wt"),
                    ("swab.hooks.pre-check".to_owned(), "swab"),
                ],
                Phase::PreCheck,
                Ok(Some((
                    "wt",
                    60,
                    "label com.centurylinklabs.watchtower.lifecycle.pre-check",
                ))),
            ),
            (
                "no label namespaces: only the rule",
                vec![],
                vec![("swab.hooks.pre-update".to_owned(), "dump")],
                Phase::PreUpdate,
                Ok(Some(("rule-pre", 60, "rule hooks.pre_update"))),
            ),
            (
                "a bad swab timeout names the label",
                vec![HookLabels::Swab],
                vec![("swab.hooks.timeout".to_owned(), "soon")],
                Phase::PreUpdate,
                Err("label swab.hooks.timeout: `soon` is not a duration"),
            ),
            (
                "a swab timeout over an hour",
                vec![HookLabels::Swab],
                vec![("swab.hooks.timeout".to_owned(), "2h")],
                Phase::PreUpdate,
                Err(
                    "label swab.hooks.timeout: `2h` is out of range; expected more than 0s and at most 1h",
                ),
            ),
            (
                "a bad Watchtower timeout",
                vec![HookLabels::Watchtower],
                vec![(format!("{wt}pre-update-timeout"), "1.5")],
                Phase::PreUpdate,
                Err(
                    "label com.centurylinklabs.watchtower.lifecycle.pre-update-timeout: `1.5` is not a whole number of minutes",
                ),
            ),
        ];
        for (case, namespaces, pairs, phase, expected) in cases {
            let hooks = Hooks {
                labels: namespaces,
                ..rule_hooks()
            };
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            let got = for_container(&hooks, &labels(&pairs));
            match expected {
                Ok(want) => {
                    let got = got.unwrap_or_else(|e| panic!("{case}: {e}"));
                    let got = got
                        .get(phase)
                        .map(|h| (h.command.as_str(), h.timeout.as_secs(), h.source.as_str()));
                    assert_eq!(got, want, "{case}");
                }
                Err(want) => {
                    let err = got.expect_err(case);
                    assert!(err.starts_with(want), "{case}: {err}");
                }
            }
        }
    }

    #[test]
    fn the_reason_names_phase_source_and_command() {
        let hooks = for_container(&rule_hooks(), &HashMap::new()).unwrap();
        assert_eq!(
            hooks.pre_update.unwrap().reason(),
            "pre-update hook from rule hooks.pre_update: `rule-pre`"
        );
        assert!(hooks.post_update.is_some());
        assert!(
            for_container(&Hooks::default(), &HashMap::new())
                .unwrap()
                .is_empty()
        );
    }
}
