//! Stage two: the located value tree to a typed [`RuleSet`], collecting
//! every error with its position instead of stopping at the first.
//!
//! Each section is read through [`Resolver::entries`], which reports unknown
//! and duplicate keys; each value through a typed reader (`duration`,
//! `size`, ...) that reports the value's own position. A rule is only built
//! when it produced no error, and the set only when the whole file did not.
//! The `hosts:` section lives in the `hosts` submodule.

mod hosts;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono_tz::Tz;

use crate::channel;
use crate::diag::{Diagnostics, ErrorKind, Position, RuleError, RuleRef};
use crate::image::ImagePattern;
use crate::model::{
    Action, ComposeFile, ContainerStatus, FailureAction, HookFailure, HookLabels, Hooks, Match,
    MessageForm, Notify, NotifyFormat, NotifyOn, RollbackTag, Rule, RuleSet, ServiceSelector,
    TagPattern, Target, Tracking, Trigger, UpdateOptions, VolumeScope, Window,
};
use crate::node::{Kind, Node};
use crate::schedule::Schedule;
use crate::select::{LabelSelector, NamePattern, Protect};
use crate::units::{self, Percent};
use hosts::{ENDPOINT_KEYS, TLS_KEYS};

const TOP_KEYS: &[&str] = &["version", "timezone", "protect", "rules", "notify", "hosts"];
const PROTECT_KEYS: &[&str] = &["images", "containers", "volumes", "networks", "labels"];
const RULE_KEYS: &[&str] = &[
    "name",
    "action",
    "schedule",
    "match",
    "keep_latest",
    "when",
    "target",
    "rollback_tag",
    "health_timeout",
    "stop_timeout",
    "cleanup",
    "hooks",
    "min_age",
    "retry_after",
    "max_attempts",
    "window",
    "notify_only",
    "track",
    "constraint",
    "tag_pattern",
    "compose_file",
    "services",
    "max_removals",
    "jitter",
];
const MATCH_KEYS: &[&str] = &[
    "status",
    "older_than",
    "unused_for",
    "dangling",
    "names",
    "images",
    "labels",
];
const SERVICE_KEYS: &[&str] = &[
    "names",
    "labels",
    "stacks",
    "failure_action",
    "monitor",
    "timeout",
];
/// How long swab waits for Swarm to finish a service update unless `services.timeout` says.
pub const DEFAULT_SERVICE_TIMEOUT: Duration = Duration::from_secs(600);
/// Keys of an `update` rule that are about containers, refused next to `services:`.
const CONTAINER_UPDATE_KEYS: &[&str] = &[
    "match",
    "rollback_tag",
    "health_timeout",
    "stop_timeout",
    "cleanup",
    "hooks",
    "track",
    "constraint",
    "tag_pattern",
    "compose_file",
];
const WHEN_KEYS: &[&str] = &["disk_usage_above", "images_size_above"];
const TARGET_KEYS: &[&str] = &["disk_usage_below", "images_size_below"];
const NOTIFY_KEYS: &[&str] = &[
    "url",
    "on",
    "format",
    "message",
    "title",
    "body",
    "docker_down_after",
];

/// The placeholders of notification templates (documented in docs/rules.md).
pub const PLACEHOLDERS: &[&str] = &[
    "host", "event", "title", "summary", "details", "rule", "name", "image", "error",
];
const WINDOW_KEYS: &[&str] = &["start", "for"];
/// Longest maintenance window: a week (a longer one is no window).
const MAX_WINDOW: Duration = Duration::from_secs(7 * 86_400);
const HOOK_KEYS: &[&str] = &[
    "pre_update",
    "post_update",
    "pre_check",
    "post_check",
    "timeout",
    "on_failure",
    "labels",
];
/// Longest hook `timeout`: swab never waits unbounded for a command in a container.
pub const MAX_HOOK_TIMEOUT: Duration = Duration::from_secs(3600);

/// Default `health_timeout` of `update` rules.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest rule name accepted.
const MAX_RULE_NAME: usize = 64;

/// Which actions take a key that is not valid everywhere; `None` for keys
/// every action takes.
fn applicable_actions(key: &str) -> Option<&'static [Action]> {
    use Action::{
        PruneBuildCache, PruneContainers, PruneImages, PruneNetworks, PruneVolumes, Restart, Update,
    };
    Some(match key {
        "status" => &[PruneContainers],
        "older_than" => &[
            PruneContainers,
            Restart,
            PruneVolumes,
            PruneNetworks,
            PruneBuildCache,
        ],
        "unused_for" => &[PruneImages, PruneBuildCache],
        // `target` too: only image removals come with a size estimate; a target elsewhere
        // could never be reached and the rule would remove everything it matches.
        "dangling" | "keep_latest" | "target" => &[PruneImages],
        "names" => &[
            PruneContainers,
            Update,
            Restart,
            PruneVolumes,
            PruneNetworks,
        ],
        "images" => &[PruneContainers, PruneImages, Update, Restart],
        "labels" => &[
            PruneContainers,
            PruneImages,
            Update,
            Restart,
            PruneVolumes,
            PruneNetworks,
        ],
        "when" => &[PruneContainers, PruneImages, PruneVolumes, PruneBuildCache],
        "rollback_tag" | "health_timeout" | "cleanup" | "hooks" | "min_age" | "retry_after"
        | "max_attempts" | "notify_only" | "track" | "constraint" | "tag_pattern"
        | "compose_file" | "services" => &[Update],
        "stop_timeout" | "window" => &[Update, Restart],
        _ => return None,
    })
}

fn join_backticked<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|item| format!("`{}`", item.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The closest known word, if it is close enough to be a plausible typo.
fn suggest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase().replace('-', "_");
    known
        .into_iter()
        .map(|candidate| {
            let normalized = candidate.to_ascii_lowercase().replace('-', "_");
            (strsim::damerau_levenshtein(&word, &normalized), candidate)
        })
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// One key of a mapping that passed the unknown/duplicate checks.
struct Entry<'n> {
    key: &'n str,
    key_pos: Position,
    value: &'n Node,
}

/// The checked entries of one mapping.
struct Entries<'n> {
    items: Vec<Entry<'n>>,
}

impl<'n> Entries<'n> {
    fn get(&self, key: &str) -> Option<&Entry<'n>> {
        self.items.iter().find(|entry| entry.key == key)
    }
}

struct Resolver<'a> {
    source_name: &'a str,
    errors: Vec<RuleError>,
    rule: Option<RuleRef>,
    timezone: Tz,
}

impl Resolver<'_> {
    fn error(&mut self, pos: Position, kind: ErrorKind) {
        self.errors.push(RuleError {
            source_name: self.source_name.to_owned(),
            position: Some(pos),
            rule: self.rule.clone(),
            kind,
        });
    }

    fn wrong_type(&mut self, key: &str, node: &Node, expected: &str) {
        self.error(
            node.pos,
            ErrorKind::WrongType {
                key: key.to_owned(),
                found: node.kind.describe().to_owned(),
                expected: expected.to_owned(),
            },
        );
    }

    /// Reads a mapping, reporting non-string, duplicate and unknown keys.
    /// A null value (`protect:` with nothing under it) is an empty mapping.
    fn entries<'n>(
        &mut self,
        key: &str,
        node: &'n Node,
        known: &[&str],
        section: &str,
    ) -> Option<Entries<'n>> {
        let pairs: &[(Node, Node)] = match &node.kind {
            Kind::Map(pairs) => pairs,
            Kind::Null => &[],
            _ => {
                self.wrong_type(key, node, "a mapping");
                return None;
            }
        };
        let mut items: Vec<Entry<'n>> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (key_node, value) in pairs {
            let Kind::Str(name) = &key_node.kind else {
                self.wrong_type(&format!("a key in {section}"), key_node, "a string key");
                continue;
            };
            if seen.contains(&name.as_str()) {
                self.error(key_node.pos, ErrorKind::DuplicateKey { key: name.clone() });
                continue;
            }
            seen.push(name);
            if !known.contains(&name.as_str()) {
                let hint = unknown_key_hint(name, known, section);
                self.error(
                    key_node.pos,
                    ErrorKind::UnknownKey {
                        key: name.clone(),
                        section: section.to_owned(),
                        hint,
                    },
                );
                continue;
            }
            items.push(Entry {
                key: name,
                key_pos: key_node.pos,
                value,
            });
        }
        Some(Entries { items })
    }

    fn string<'n>(&mut self, key: &str, node: &'n Node, expected: &str) -> Option<&'n str> {
        if let Kind::Str(text) = &node.kind {
            Some(text)
        } else {
            self.wrong_type(key, node, expected);
            None
        }
    }

    /// A list of strings; a single string counts as a list of one.
    fn strings<'n>(
        &mut self,
        key: &str,
        node: &'n Node,
        expected: &str,
    ) -> Option<Vec<(&'n str, Position)>> {
        match &node.kind {
            Kind::Str(text) => Some(vec![(text.as_str(), node.pos)]),
            Kind::Seq(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for (index, item) in items.iter().enumerate() {
                    if let Kind::Str(text) = &item.kind {
                        out.push((text.as_str(), item.pos));
                    } else {
                        self.wrong_type(&format!("{key}[{index}]"), item, expected);
                        ok = false;
                    }
                }
                ok.then_some(out)
            }
            _ => {
                self.wrong_type(key, node, &format!("a list of {expected}"));
                None
            }
        }
    }

    fn duration(&mut self, key: &str, node: &Node) -> Option<Duration> {
        let text = self.string(
            key,
            node,
            "a duration with a unit, such as `90s`, `2h` or `7d`",
        )?;
        match units::parse_duration(text) {
            Ok(duration) => Some(duration),
            Err(reason) => {
                self.error(
                    node.pos,
                    ErrorKind::InvalidDuration {
                        key: key.to_owned(),
                        value: text.to_owned(),
                        reason,
                    },
                );
                None
            }
        }
    }

    fn size(&mut self, key: &str, node: &Node) -> Option<u64> {
        let text = self.string(key, node, "a size with a unit, such as `500MB` or `20GB`")?;
        match units::parse_size(text) {
            Ok(size) => Some(size),
            Err(reason) => {
                self.error(
                    node.pos,
                    ErrorKind::InvalidSize {
                        key: key.to_owned(),
                        value: text.to_owned(),
                        reason,
                    },
                );
                None
            }
        }
    }

    fn percent(&mut self, key: &str, node: &Node) -> Option<Percent> {
        let text = self.string(key, node, "a percentage such as `85%`")?;
        match Percent::parse(text) {
            Ok(percent) => Some(percent),
            Err(reason) => {
                self.error(
                    node.pos,
                    ErrorKind::InvalidPercent {
                        key: key.to_owned(),
                        value: text.to_owned(),
                        reason,
                    },
                );
                None
            }
        }
    }

    /// One duration or a non-empty list of them, each more than zero.
    fn durations(&mut self, key: &str, node: &Node) -> Option<Vec<Duration>> {
        let expected = "durations such as `1h`";
        let before = self.errors.len();
        let items = self.strings(key, node, expected)?;
        if items.is_empty() {
            self.error(
                node.pos,
                ErrorKind::OutOfRange {
                    key: key.to_owned(),
                    value: "an empty list".to_owned(),
                    expected: "at least one duration".to_owned(),
                },
            );
            return None;
        }
        let mut out = Vec::new();
        for (text, pos) in items {
            match units::parse_duration(text) {
                Ok(d) if !d.is_zero() => out.push(d),
                Ok(_) => self.error(
                    pos,
                    ErrorKind::OutOfRange {
                        key: key.to_owned(),
                        value: text.to_owned(),
                        expected: "more than 0s".to_owned(),
                    },
                ),
                Err(reason) => self.error(
                    pos,
                    ErrorKind::InvalidDuration {
                        key: key.to_owned(),
                        value: text.to_owned(),
                        reason,
                    },
                ),
            }
        }
        (self.errors.len() == before).then_some(out)
    }

    fn boolean(&mut self, key: &str, node: &Node) -> Option<bool> {
        if let Kind::Bool(value) = node.kind {
            Some(value)
        } else {
            self.wrong_type(key, node, "`true` or `false`");
            None
        }
    }

    fn integer(&mut self, key: &str, node: &Node, min: u64, max: u64) -> Option<u64> {
        let expected = format!("a whole number from {min} to {max}");
        let Kind::Int(value) = node.kind else {
            self.wrong_type(key, node, &expected);
            return None;
        };
        match u64::try_from(value) {
            Ok(value) if (min..=max).contains(&value) => Some(value),
            _ => {
                self.error(
                    node.pos,
                    ErrorKind::OutOfRange {
                        key: key.to_owned(),
                        value: value.to_string(),
                        expected,
                    },
                );
                None
            }
        }
    }

    /// A list of strings, each parsed by `parse`; every failure is reported at its item.
    fn parsed_list<T, E: std::fmt::Display>(
        &mut self,
        key: &str,
        node: &Node,
        expected: &str,
        parse: impl Fn(&str) -> Result<T, E>,
        error: impl Fn(String, String) -> ErrorKind,
    ) -> Option<Vec<T>> {
        let items = self.strings(key, node, expected)?;
        let mut out = Vec::new();
        let mut ok = true;
        for (text, pos) in items {
            match parse(text) {
                Ok(value) => out.push(value),
                Err(reason) => {
                    ok = false;
                    self.error(pos, error(text.to_owned(), reason.to_string()));
                }
            }
        }
        ok.then_some(out)
    }

    fn image_patterns(&mut self, key: &str, node: &Node) -> Option<Vec<ImagePattern>> {
        self.parsed_list(
            key,
            node,
            "image patterns such as `nginx:1.*`",
            ImagePattern::parse,
            |value, reason| ErrorKind::InvalidPattern {
                key: key.to_owned(),
                value,
                reason,
            },
        )
    }

    fn name_patterns(&mut self, key: &str, node: &Node) -> Option<Vec<NamePattern>> {
        self.parsed_list(
            key,
            node,
            "name patterns such as `ci-*`",
            NamePattern::parse,
            |value, reason| ErrorKind::InvalidPattern {
                key: key.to_owned(),
                value,
                reason,
            },
        )
    }

    fn label_selectors(&mut self, key: &str, node: &Node) -> Option<Vec<LabelSelector>> {
        self.parsed_list(
            key,
            node,
            "label selectors such as `ci=true`",
            LabelSelector::parse,
            |value, reason| ErrorKind::InvalidLabelSelector { value, reason },
        )
    }

    fn rule_set(&mut self, root: &Node) -> Option<RuleSet> {
        if root.kind == Kind::Null {
            self.error(Position::new(1, 1), ErrorKind::EmptyDocument);
            return None;
        }
        let top = self.entries("the file", root, TOP_KEYS, "the top level")?;
        let version = self.version(root, &top);
        if let Some(entry) = top.get("timezone") {
            self.timezone(entry.value);
        }

        let protect = match top.get("protect") {
            Some(entry) => self.protect(entry.value),
            None => Some(Protect::default()),
        };

        let notify = match top.get("notify") {
            Some(entry) => self.notify(entry.value),
            None => Some(Vec::new()),
        };

        let rules = match top.get("rules") {
            None => {
                self.error(
                    root.pos,
                    ErrorKind::MissingKey {
                        key: "rules".to_owned(),
                        expected: "a list of rules".to_owned(),
                    },
                );
                None
            }
            Some(entry) if entry.value.kind == Kind::Null => {
                self.error(entry.key_pos, ErrorKind::EmptyRules);
                None
            }
            Some(entry) => self.rules(entry.value),
        };

        let hosts = match top.get("hosts") {
            Some(entry) => {
                let names = hosts::declared_rule_names(top.get("rules").map(|e| e.value));
                self.hosts(entry, &names)
            }
            None => Some(Vec::new()),
        };

        let (rules, notify) = (rules?, notify?);
        // A watcher with nowhere to send its notices would watch for nobody.
        if notify.is_empty()
            && let Some(watcher) = rules
                .iter()
                .find(|r| r.update.as_ref().is_some_and(|u| u.notify_only))
        {
            self.rule = Some(RuleRef::Named(watcher.name.clone()));
            self.error(watcher.position, ErrorKind::NotifyOnlyWithoutTargets);
            self.rule = None;
            return None;
        }
        Some(RuleSet {
            source_name: self.source_name.to_owned(),
            version: version?,
            timezone: self.timezone,
            protect: protect?,
            rules,
            notify,
            hosts: hosts?,
        })
    }

    /// The top-level `version`: present and 1.
    fn version(&mut self, root: &Node, top: &Entries<'_>) -> Option<u32> {
        let Some(entry) = top.get("version") else {
            self.error(
                root.pos,
                ErrorKind::MissingKey {
                    key: "version".to_owned(),
                    expected: "`version: 1` at the top of the file".to_owned(),
                },
            );
            return None;
        };
        match &entry.value.kind {
            Kind::Int(1) => Some(1),
            Kind::Int(other) => {
                let found = other.to_string();
                self.error(entry.value.pos, ErrorKind::UnsupportedVersion { found });
                None
            }
            Kind::Float(other) => {
                let found = other.to_string();
                self.error(entry.value.pos, ErrorKind::UnsupportedVersion { found });
                None
            }
            _ => {
                self.wrong_type("version", entry.value, "the number 1");
                None
            }
        }
    }

    /// The top-level `timezone`, which every schedule read after it uses.
    fn timezone(&mut self, node: &Node) {
        let Some(name) = self.string("timezone", node, "an IANA time zone name") else {
            return;
        };
        if let Ok(tz) = Tz::from_str(name) {
            self.timezone = tz;
        } else {
            let hint = timezone_hint(name);
            self.error(
                node.pos,
                ErrorKind::UnknownTimezone {
                    value: name.to_owned(),
                    hint,
                },
            );
        }
    }

    fn protect(&mut self, node: &Node) -> Option<Protect> {
        let entries = self.entries("protect", node, PROTECT_KEYS, "`protect`")?;
        let mut protect = Protect::default();
        let mut ok = true;
        for entry in &entries.items {
            let value = entry.value;
            let done = match entry.key {
                "images" => self
                    .image_patterns("images", value)
                    .map(|v| protect.images = v),
                "containers" => self
                    .name_patterns("containers", value)
                    .map(|v| protect.containers = v),
                "volumes" => self
                    .name_patterns("volumes", value)
                    .map(|v| protect.volumes = v),
                "networks" => self
                    .name_patterns("networks", value)
                    .map(|v| protect.networks = v),
                _ => self
                    .label_selectors("labels", value)
                    .map(|v| protect.labels = v),
            };
            ok &= done.is_some();
        }
        ok.then_some(protect)
    }

    fn notify(&mut self, node: &Node) -> Option<Vec<Notify>> {
        let Kind::Seq(items) = &node.kind else {
            self.wrong_type("notify", node, "a list of {url, on, format} entries");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match self.notify_entry(item) {
                Some(entry) => out.push(entry),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn notify_entry(&mut self, node: &Node) -> Option<Notify> {
        let before = self.errors.len();
        let entries = self.entries("notify entry", node, NOTIFY_KEYS, "a `notify` entry")?;
        let url = match entries.get("url") {
            None => {
                self.error(
                    node.pos,
                    ErrorKind::MissingKey {
                        key: "url".to_owned(),
                        expected:
                            "an http(s) webhook or a notification URL such as `ntfy://host/topic`"
                                .to_owned(),
                    },
                );
                None
            }
            Some(entry) => self
                .string("url", entry.value, "a notification URL")
                .and_then(|url| match channel::parse(url) {
                    Ok(parsed) => Some((url.to_owned(), parsed)),
                    Err(reason) => {
                        self.error(
                            entry.value.pos,
                            ErrorKind::InvalidNotifyUrl {
                                shown: channel::redact(url),
                                reason,
                            },
                        );
                        None
                    }
                }),
        };
        let on = self.notify_on(&entries, before);
        let mut format = NotifyFormat::Json;
        if let Some(entry) = entries.get("format")
            && let Some(text) = self.string("format", entry.value, "`json`, `slack` or `teams`")
        {
            match text {
                "json" => format = NotifyFormat::Json,
                "slack" => format = NotifyFormat::Slack,
                "teams" => format = NotifyFormat::Teams,
                _ => self.error(
                    entry.value.pos,
                    ErrorKind::UnknownValue {
                        key: "format".to_owned(),
                        value: text.to_owned(),
                        expected: "`json`, `slack` or `teams`".to_owned(),
                    },
                ),
            }
        }
        let mut message = MessageForm::Long;
        if let Some(entry) = entries.get("message")
            && let Some(text) = self.string("message", entry.value, "`short` or `long`")
        {
            match text {
                "short" => message = MessageForm::Short,
                "long" => message = MessageForm::Long,
                _ => self.error(
                    entry.value.pos,
                    ErrorKind::UnknownValue {
                        key: "message".to_owned(),
                        value: text.to_owned(),
                        expected: "`short` or `long`".to_owned(),
                    },
                ),
            }
        }
        let title = self.template(&entries, "title");
        let body = self.template(&entries, "body");
        let docker_down_after = entries
            .get("docker_down_after")
            .and_then(|entry| self.duration("docker_down_after", entry.value))
            .unwrap_or(Duration::from_secs(300));
        let (url, channel) = url?;
        (self.errors.len() == before).then_some(Notify {
            url,
            channel,
            on,
            format,
            message,
            title,
            body,
            docker_down_after,
        })
    }

    /// `on:`, a list of events; [`NotifyOn::DEFAULT`] when not written. A list of the old
    /// events only (`changes`, `failures`) keeps getting new-image notices, as before.
    fn notify_on(&mut self, entries: &Entries<'_>, before: usize) -> Vec<NotifyOn> {
        let Some(entry) = entries.get("on") else {
            return NotifyOn::DEFAULT.to_vec();
        };
        let expected = NotifyOn::ALL
            .iter()
            .map(|on| format!("`{}`", on.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let Some(items) = self.strings("on", entry.value, "event names") else {
            return Vec::new();
        };
        let mut on = Vec::new();
        for (text, pos) in items {
            match NotifyOn::ALL.iter().find(|e| e.as_str() == text) {
                Some(event) if !on.contains(event) => on.push(*event),
                Some(_) => {}
                None => self.error(
                    pos,
                    ErrorKind::UnknownValue {
                        key: "on".to_owned(),
                        value: text.to_owned(),
                        expected: format!("one of {expected}"),
                    },
                ),
            }
        }
        if on.is_empty() && self.errors.len() == before {
            self.error(
                entry.value.pos,
                ErrorKind::OutOfRange {
                    key: "on".to_owned(),
                    value: "an empty list".to_owned(),
                    expected: format!("some of {expected}"),
                },
            );
        }
        if !on.is_empty()
            && on
                .iter()
                .all(|e| matches!(e, NotifyOn::Changes | NotifyOn::Failures))
        {
            on.push(NotifyOn::NewImage);
        }
        on
    }

    /// A `title` or `body` template, its placeholders checked.
    fn template(&mut self, entries: &Entries<'_>, key: &str) -> Option<String> {
        let entry = entries.get(key)?;
        let text = self.string(
            key,
            entry.value,
            "a template such as `swab on {host}: {summary}`",
        )?;
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else { break };
            let name = &after[..close];
            if !PLACEHOLDERS.contains(&name) {
                self.error(
                    entry.value.pos,
                    ErrorKind::UnknownPlaceholder {
                        key: key.to_owned(),
                        name: name.to_owned(),
                        expected: PLACEHOLDERS
                            .iter()
                            .map(|p| format!("`{{{p}}}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    },
                );
                return None;
            }
            rest = &after[close + 1..];
        }
        Some(text.to_owned())
    }

    /// `track`, `constraint` and `tag_pattern`; `None` when the rule does not track tags
    /// or they are wrong (reported).
    fn rule_track(&mut self, entries: &Entries<'_>) -> Option<Tracking> {
        let Some(track) = entries.get("track") else {
            for key in ["constraint", "tag_pattern"] {
                if let Some(entry) = entries.get(key) {
                    self.error(
                        entry.key_pos,
                        ErrorKind::MissingKey {
                            key: "track".to_owned(),
                            expected: format!("`track: semver` for `{key}` to mean anything"),
                        },
                    );
                }
            }
            return None;
        };
        let before = self.errors.len();
        match self.string("track", track.value, "`semver`") {
            Some("semver") | None => {}
            Some(other) => self.error(
                track.value.pos,
                ErrorKind::UnknownValue {
                    key: "track".to_owned(),
                    value: other.to_owned(),
                    expected: "`semver`".to_owned(),
                },
            ),
        }
        let constraint = match entries.get("constraint") {
            Some(entry) => self.constraint(entry.value),
            None => {
                self.error(
                    track.key_pos,
                    ErrorKind::MissingKey {
                        key: "constraint".to_owned(),
                        expected:
                            "the versions to follow, such as `~1.25` (swab never leaves them)"
                                .to_owned(),
                    },
                );
                None
            }
        };
        let tag_pattern = entries
            .get("tag_pattern")
            .map(|entry| self.tag_pattern(entry.value));
        if self.errors.len() != before {
            return None;
        }
        Some(Tracking {
            constraint: constraint?,
            tag_pattern: tag_pattern.flatten(),
        })
    }

    /// `services:` of an `update` rule: which Swarm services, and how Swarm rolls them out.
    /// The container keys make no sense next to it and are refused, located.
    fn rule_services(&mut self, entries: &Entries<'_>) -> Option<ServiceSelector> {
        let entry = entries.get("services")?;
        for key in CONTAINER_UPDATE_KEYS {
            if let Some(other) = entries.get(key) {
                self.error(
                    other.key_pos,
                    ErrorKind::NotForServices {
                        key: (*key).to_owned(),
                    },
                );
            }
        }
        let before = self.errors.len();
        let mut selector = ServiceSelector {
            names: Vec::new(),
            labels: Vec::new(),
            stacks: Vec::new(),
            failure_action: None,
            monitor: None,
            timeout: DEFAULT_SERVICE_TIMEOUT,
        };
        // `services: {}` (or `services: all`) selects every service.
        if let Kind::Str(text) = &entry.value.kind
            && text == "all"
        {
            return Some(selector);
        }
        let items = self.entries("services", entry.value, SERVICE_KEYS, "`services`")?;
        for item in &items.items {
            let value = item.value;
            match item.key {
                "names" => selector.names = self.name_patterns("names", value).unwrap_or_default(),
                "labels" => {
                    selector.labels = self.label_selectors("labels", value).unwrap_or_default();
                }
                "stacks" => {
                    selector.stacks = self
                        .strings("stacks", value, "stack names")
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(s, _)| s.to_owned())
                        .collect();
                }
                "failure_action" => {
                    let expected = "`rollback`, `pause` or `continue`";
                    selector.failure_action =
                        match self.string("failure_action", value, expected)? {
                            "rollback" => Some(FailureAction::Rollback),
                            "pause" => Some(FailureAction::Pause),
                            "continue" => Some(FailureAction::Continue),
                            other => {
                                self.error(
                                    value.pos,
                                    ErrorKind::UnknownValue {
                                        key: "failure_action".to_owned(),
                                        value: other.to_owned(),
                                        expected: expected.to_owned(),
                                    },
                                );
                                None
                            }
                        };
                }
                "monitor" => selector.monitor = self.duration("monitor", value),
                _ => {
                    if let Some(timeout) = self.duration("timeout", value) {
                        selector.timeout = timeout;
                    }
                }
            }
        }
        (self.errors.len() == before).then_some(selector)
    }

    /// `compose_file: refuse | write`: whether tag tracking may edit the compose file of a
    /// Compose service it moves to another tag. Only with `track`.
    fn rule_compose_file(&mut self, entries: &Entries<'_>, tracked: bool) -> Option<ComposeFile> {
        let Some(entry) = entries.get("compose_file") else {
            return Some(ComposeFile::Refuse);
        };
        if !tracked && entries.get("track").is_none() {
            self.error(
                entry.key_pos,
                ErrorKind::MissingKey {
                    key: "track".to_owned(),
                    expected: "`track: semver` for `compose_file` to mean anything".to_owned(),
                },
            );
            return None;
        }
        let expected = "`refuse` or `write`";
        match self.string("compose_file", entry.value, expected)? {
            "refuse" => Some(ComposeFile::Refuse),
            "write" => Some(ComposeFile::Write),
            other => {
                self.error(
                    entry.value.pos,
                    ErrorKind::UnknownValue {
                        key: "compose_file".to_owned(),
                        value: other.to_owned(),
                        expected: expected.to_owned(),
                    },
                );
                None
            }
        }
    }

    /// `constraint`: a semver requirement.
    fn constraint(&mut self, node: &Node) -> Option<semver::VersionReq> {
        let text = self.string("constraint", node, "a version requirement such as `~1.25`")?;
        semver::VersionReq::parse(text)
            .map_err(|e| {
                self.error(
                    node.pos,
                    ErrorKind::OutOfRange {
                        key: "constraint".to_owned(),
                        value: format!("`{text}` ({e})"),
                        expected: "a version requirement such as `~1.25`, `^2` or `>=1.2, <2`"
                            .to_owned(),
                    },
                );
            })
            .ok()
    }

    /// `tag_pattern`: a regex with exactly one capture group.
    fn tag_pattern(&mut self, node: &Node) -> Option<TagPattern> {
        let text = self.string("tag_pattern", node, "a regex with one capture group")?;
        let (value, expected) = match regex::Regex::new(text) {
            Ok(re) if re.captures_len() == 2 => return Some(TagPattern(re)),
            Ok(_) => (
                format!("`{text}`"),
                "exactly one capture group, around the version",
            ),
            Err(e) => (format!("`{text}` ({e})"), "a regex with one capture group"),
        };
        self.error(
            node.pos,
            ErrorKind::OutOfRange {
                key: "tag_pattern".to_owned(),
                value,
                expected: expected.to_owned(),
            },
        );
        None
    }

    /// `window:`, one `{start, for}` mapping or a list of them.
    fn windows(&mut self, node: &Node) -> Option<Vec<Window>> {
        let before = self.errors.len();
        let items: Vec<&Node> = match &node.kind {
            Kind::Seq(items) if !items.is_empty() => items.iter().collect(),
            Kind::Map(_) => vec![node],
            _ => {
                self.wrong_type(
                    "window",
                    node,
                    "a mapping `{start: CRON, for: DURATION}` or a list of them",
                );
                return None;
            }
        };
        let mut windows = Vec::new();
        for item in items {
            let Some(entries) = self.entries("window", item, WINDOW_KEYS, "`window`") else {
                continue;
            };
            let start = match entries.get("start") {
                Some(entry) => self.schedule("start", entry.value, "`0 2 * * 6`"),
                None => {
                    self.error(
                        item.pos,
                        ErrorKind::MissingKey {
                            key: "start".to_owned(),
                            expected: "a crontab expression for when the window opens".to_owned(),
                        },
                    );
                    None
                }
            };
            let duration = match entries.get("for") {
                Some(entry) => self.duration("for", entry.value).and_then(|d| {
                    if d.is_zero() || d > MAX_WINDOW {
                        self.error(
                            entry.value.pos,
                            ErrorKind::OutOfRange {
                                key: "for".to_owned(),
                                value: units::format_duration(d),
                                expected: "more than 0s and at most 7d".to_owned(),
                            },
                        );
                        None
                    } else {
                        Some(d)
                    }
                }),
                None => {
                    self.error(
                        item.pos,
                        ErrorKind::MissingKey {
                            key: "for".to_owned(),
                            expected: "how long the window stays open, such as `3h`".to_owned(),
                        },
                    );
                    None
                }
            };
            if let (Some(start), Some(duration)) = (start, duration) {
                windows.push(Window { start, duration });
            }
        }
        (self.errors.len() == before).then_some(windows)
    }

    /// An update rule's `hooks:` mapping.
    fn hooks(&mut self, node: &Node) -> Option<Hooks> {
        let before = self.errors.len();
        let entries = self.entries("hooks", node, HOOK_KEYS, "`hooks`")?;
        let mut hooks = Hooks::default();
        for (key, slot) in [
            ("pre_update", &mut hooks.pre_update),
            ("post_update", &mut hooks.post_update),
            ("pre_check", &mut hooks.pre_check),
            ("post_check", &mut hooks.post_check),
        ] {
            let Some(entry) = entries.get(key) else {
                continue;
            };
            let Some(command) = self.string(key, entry.value, "a shell command (run with `sh -c`)")
            else {
                continue;
            };
            if command.trim().is_empty() {
                self.error(
                    entry.value.pos,
                    ErrorKind::OutOfRange {
                        key: key.to_owned(),
                        value: "an empty command".to_owned(),
                        expected: "a shell command (run with `sh -c`)".to_owned(),
                    },
                );
                continue;
            }
            *slot = Some(command.to_owned());
        }
        if let Some(entry) = entries.get("timeout")
            && let Some(timeout) = self.duration("timeout", entry.value)
        {
            if timeout.is_zero() || timeout > MAX_HOOK_TIMEOUT {
                self.error(
                    entry.value.pos,
                    ErrorKind::OutOfRange {
                        key: "timeout".to_owned(),
                        value: units::format_duration(timeout),
                        expected: "more than 0s and at most 1h".to_owned(),
                    },
                );
            }
            hooks.timeout = timeout;
        }
        if let Some(entry) = entries.get("on_failure")
            && let Some(text) = self.string("on_failure", entry.value, "`rollback` or `warn`")
        {
            match text {
                "rollback" => hooks.on_failure = HookFailure::Rollback,
                "warn" => hooks.on_failure = HookFailure::Warn,
                _ => self.error(
                    entry.value.pos,
                    ErrorKind::UnknownValue {
                        key: "on_failure".to_owned(),
                        value: text.to_owned(),
                        expected: "`rollback` or `warn`".to_owned(),
                    },
                ),
            }
        }
        if let Some(entry) = entries.get("labels") {
            let expected = "`swab` or `watchtower`";
            // `labels: []` reads no hook labels at all.
            if let Some(items) = self.strings("labels", entry.value, expected) {
                hooks.labels.clear();
                for (text, pos) in items {
                    let namespace = match text {
                        "swab" => HookLabels::Swab,
                        "watchtower" => HookLabels::Watchtower,
                        _ => {
                            self.error(
                                pos,
                                ErrorKind::UnknownValue {
                                    key: "labels".to_owned(),
                                    value: text.to_owned(),
                                    expected: expected.to_owned(),
                                },
                            );
                            continue;
                        }
                    };
                    if !hooks.labels.contains(&namespace) {
                        hooks.labels.push(namespace);
                    }
                }
            }
        }
        (self.errors.len() == before).then_some(hooks)
    }

    fn rules(&mut self, node: &Node) -> Option<Vec<Rule>> {
        let Kind::Seq(items) = &node.kind else {
            if node.kind == Kind::Null {
                self.error(node.pos, ErrorKind::EmptyRules);
            } else {
                self.wrong_type("rules", node, "a list of rules");
            }
            return None;
        };
        if items.is_empty() {
            self.error(node.pos, ErrorKind::EmptyRules);
            return None;
        }
        let mut names: HashMap<String, u32> = HashMap::new();
        let mut rules = Vec::new();
        let mut ok = true;
        for (index, item) in items.iter().enumerate() {
            let rule = self.rule(index, item, &mut names);
            self.rule = None;
            match rule {
                Some(rule) => rules.push(rule),
                None => ok = false,
            }
        }
        ok.then_some(rules)
    }

    #[allow(clippy::too_many_lines)] // one linear pass over the rule's keys
    fn rule(
        &mut self,
        index: usize,
        node: &Node,
        names: &mut HashMap<String, u32>,
    ) -> Option<Rule> {
        let before = self.errors.len();
        self.rule = Some(rule_ref(index, node));
        let entries = self.entries("rule", node, RULE_KEYS, "a rule")?;

        let name = self.rule_name(node, &entries, names);

        let action_entry = entries.get("action");
        let action = self.rule_action(node, action_entry);

        // Keys that do not fit the action, at the key's position.
        if let Some(action) = action {
            for entry in &entries.items {
                self.check_applicable(entry.key, entry.key_pos, action);
            }
        }

        let schedule = self.rule_schedule(&entries);

        let matcher = match entries.get("match") {
            Some(entry) => self.matcher(entry.value, action),
            None => Some(Match::default()),
        };
        let mut matcher = matcher.unwrap_or_default();
        if action == Some(Action::PruneContainers) && matcher.status.is_empty() {
            matcher.status = vec![ContainerStatus::Exited, ContainerStatus::Dead];
        }

        let keep_latest = entries
            .get("keep_latest")
            .and_then(|entry| self.integer("keep_latest", entry.value, 1, 10_000))
            .and_then(|value| u32::try_from(value).ok());
        let max_removals = entries
            .get("max_removals")
            .and_then(|entry| self.integer("max_removals", entry.value, 1, 1_000_000_000));

        let (when, target) = self.rule_when_and_target(&entries);

        let rollback_tag = self.rule_rollback_tag(&entries);
        let health_timeout = entries
            .get("health_timeout")
            .and_then(|entry| self.duration("health_timeout", entry.value));
        let stop_timeout = entries
            .get("stop_timeout")
            .and_then(|entry| self.duration("stop_timeout", entry.value));
        let cleanup = entries
            .get("cleanup")
            .and_then(|entry| self.boolean("cleanup", entry.value));
        let min_age = entries
            .get("min_age")
            .and_then(|entry| self.duration("min_age", entry.value));
        let retry_after = entries
            .get("retry_after")
            .and_then(|entry| self.durations("retry_after", entry.value));
        let max_attempts = entries
            .get("max_attempts")
            .and_then(|entry| self.integer("max_attempts", entry.value, 1, 1000))
            .and_then(|value| u32::try_from(value).ok());
        let track = self.rule_track(&entries);
        let compose_file = self.rule_compose_file(&entries, track.is_some());
        let services = self.rule_services(&entries);
        let notify_only = entries
            .get("notify_only")
            .and_then(|entry| self.boolean("notify_only", entry.value));
        let windows = entries
            .get("window")
            .map_or(Some(Vec::new()), |entry| self.windows(entry.value));
        let hooks = match entries.get("hooks") {
            Some(entry) => self.hooks(entry.value),
            None => Some(Hooks::default()),
        };
        let jitter = entries
            .get("jitter")
            .and_then(|entry| self.duration("jitter", entry.value));
        if let Some(entry) = entries.get("jitter")
            && entries.get("schedule").is_none()
        {
            self.error(entry.key_pos, ErrorKind::JitterWithoutSchedule);
        }

        if action == Some(Action::Restart)
            && matcher.names.is_empty()
            && matcher.images.is_empty()
            && matcher.labels.is_empty()
            && let Some(entry) = action_entry
        {
            self.error(entry.value.pos, ErrorKind::RestartWithoutSelector);
        }

        if self.errors.len() != before {
            return None;
        }
        let action = action?;
        let update = (action == Action::Update).then(|| UpdateOptions {
            rollback_tag,
            health_timeout: health_timeout.unwrap_or(DEFAULT_HEALTH_TIMEOUT),
            cleanup: cleanup.unwrap_or(false),
            hooks: hooks.unwrap_or_default(),
            min_age,
            retry_after: retry_after.unwrap_or_else(crate::model::default_retry_after),
            max_attempts,
            notify_only: notify_only.unwrap_or(false),
            track,
            compose_file: compose_file.unwrap_or(ComposeFile::Refuse),
            services,
        });
        let volumes = (action == Action::PruneVolumes).then_some(
            if matcher.names.is_empty() && matcher.labels.is_empty() {
                VolumeScope::AnonymousOnly
            } else {
                VolumeScope::NamedSelected
            },
        );
        Some(Rule {
            name: name?,
            action,
            schedule,
            matcher,
            keep_latest,
            when,
            target,
            update,
            stop_timeout,
            max_removals,
            jitter,
            volumes,
            windows: windows.unwrap_or_default(),
            position: node.pos,
        })
    }

    /// The rule's `name`: present, well-formed and not used by an earlier rule (`names` holds
    /// the names seen so far, with their lines).
    fn rule_name(
        &mut self,
        node: &Node,
        entries: &Entries<'_>,
        names: &mut HashMap<String, u32>,
    ) -> Option<String> {
        match entries.get("name") {
            None => {
                self.error(
                    node.pos,
                    ErrorKind::MissingKey {
                        key: "name".to_owned(),
                        expected: "a unique rule name such as `stopped-ci-containers`".to_owned(),
                    },
                );
                None
            }
            Some(entry) => {
                let value = entry.value;
                self.string("name", value, "a rule name such as `stopped-ci-containers`")
                    .and_then(|name| {
                        if !is_rule_name(name) {
                            self.error(
                                value.pos,
                                ErrorKind::InvalidRuleName {
                                    value: name.to_owned(),
                                },
                            );
                            return None;
                        }
                        if let Some(&first_line) = names.get(name) {
                            self.error(
                                value.pos,
                                ErrorKind::DuplicateRuleName {
                                    name: name.to_owned(),
                                    first_line,
                                },
                            );
                            return None;
                        }
                        names.insert(name.to_owned(), value.pos.line);
                        Some(name.to_owned())
                    })
            }
        }
    }

    /// The rule's `action`: present and one swab knows, with a suggestion when it is close.
    fn rule_action(&mut self, node: &Node, entry: Option<&Entry<'_>>) -> Option<Action> {
        match entry {
            None => {
                self.error(
                    node.pos,
                    ErrorKind::MissingKey {
                        key: "action".to_owned(),
                        expected: format!(
                            "one of {}",
                            join_backticked(Action::ALL.map(Action::as_str))
                        ),
                    },
                );
                None
            }
            Some(entry) => self
                .string(
                    "action",
                    entry.value,
                    "an action such as `prune-containers`",
                )
                .and_then(|text| {
                    let action = Action::parse(text);
                    if action.is_none() {
                        let hint = match suggest(text, Action::ALL.map(Action::as_str)) {
                            Some(close) => format!("did you mean `{close}`?"),
                            None => format!(
                                "expected one of {}",
                                join_backticked(Action::ALL.map(Action::as_str))
                            ),
                        };
                        self.error(
                            entry.value.pos,
                            ErrorKind::UnknownAction {
                                value: text.to_owned(),
                                hint,
                            },
                        );
                    }
                    action
                }),
        }
    }

    /// The rule's `schedule`, parsed in the rule set's time zone.
    fn rule_schedule(&mut self, entries: &Entries<'_>) -> Option<Schedule> {
        entries
            .get("schedule")
            .and_then(|entry| self.schedule("schedule", entry.value, "`0 3 * * *`"))
    }

    /// A crontab expression in the rule set's time zone (`example` for the message).
    fn schedule(&mut self, key: &str, node: &Node, example: &str) -> Option<Schedule> {
        let expected = format!("a crontab expression such as {example}");
        let text = self.string(key, node, &expected)?;
        match Schedule::parse(text, self.timezone) {
            Ok(schedule) => Some(schedule),
            Err(error) => {
                self.error(
                    node.pos,
                    ErrorKind::InvalidSchedule {
                        value: text.to_owned(),
                        reason: error.to_string(),
                    },
                );
                None
            }
        }
    }

    /// The rule's `when` trigger and `target`, checked against each other: a target needs a
    /// trigger and must lie below it.
    fn rule_when_and_target(&mut self, entries: &Entries<'_>) -> (Option<Trigger>, Option<Target>) {
        let when = entries
            .get("when")
            .and_then(|entry| self.trigger(entry.value));
        let target = entries.get("target").and_then(|entry| {
            let target = self.target(entry.value)?;
            if entries.get("when").is_none() {
                self.error(entry.key_pos, ErrorKind::TargetWithoutWhen);
            }
            Some((target, entry.value.pos))
        });
        if let (Some(trigger), Some((target, pos))) = (when, target) {
            check_target_below(self, trigger, target, pos);
        }
        let target = target.map(|(target, _)| target);
        (when, target)
    }

    /// The rule's `rollback_tag`: the default template when absent, none for `null`.
    fn rule_rollback_tag(&mut self, entries: &Entries<'_>) -> Option<RollbackTag> {
        match entries.get("rollback_tag") {
            None => Some(RollbackTag::default_template()),
            Some(entry) => match &entry.value.kind {
                Kind::Null => None,
                Kind::Str(text) => {
                    if let Err(reason) = check_rollback_template(text) {
                        self.error(
                            entry.value.pos,
                            ErrorKind::InvalidRollbackTag {
                                value: text.clone(),
                                reason,
                            },
                        );
                    }
                    Some(RollbackTag(text.clone()))
                }
                Kind::Map(_) => {
                    self.wrong_type(
                    "rollback_tag",
                    entry.value,
                    "a quoted tag template such as \"{tag}-swab-previous\" (unquoted `{` starts a YAML mapping)",
                );
                    None
                }
                _ => {
                    self.wrong_type("rollback_tag", entry.value, "a tag template string or null");
                    None
                }
            },
        }
    }

    fn check_applicable(&mut self, key: &str, pos: Position, action: Action) {
        if let Some(actions) = applicable_actions(key)
            && !actions.contains(&action)
        {
            let applies_to = if actions.len() == 1 {
                format!("`{}` only", actions[0])
            } else {
                join_backticked(actions.iter().map(|a| a.as_str()))
            };
            self.error(
                pos,
                ErrorKind::NotApplicable {
                    key: key.to_owned(),
                    action: action.to_string(),
                    applies_to,
                },
            );
        }
    }

    fn matcher(&mut self, node: &Node, action: Option<Action>) -> Option<Match> {
        let before = self.errors.len();
        let entries = self.entries("match", node, MATCH_KEYS, "`match`")?;
        let mut matcher = Match::default();
        for entry in &entries.items {
            if let Some(action) = action {
                self.check_applicable(entry.key, entry.key_pos, action);
            }
            let value = entry.value;
            match entry.key {
                "status" => {
                    if let Some(items) = self.strings("status", value, "container states") {
                        for (text, pos) in items {
                            match ContainerStatus::parse(text) {
                                Some(status) if !matcher.status.contains(&status) => {
                                    matcher.status.push(status);
                                }
                                Some(_) => {}
                                None => self.error(
                                    pos,
                                    ErrorKind::UnknownValue {
                                        key: "status".to_owned(),
                                        value: text.to_owned(),
                                        expected: "`exited`, `dead` or `created` (running containers are never pruned)"
                                            .to_owned(),
                                    },
                                ),
                            }
                        }
                        if matcher.status.is_empty() && self.errors.len() == before {
                            self.error(
                                value.pos,
                                ErrorKind::OutOfRange {
                                    key: "status".to_owned(),
                                    value: "an empty list".to_owned(),
                                    expected: "at least one of `exited`, `dead`, `created`"
                                        .to_owned(),
                                },
                            );
                        }
                    }
                }
                "older_than" => matcher.older_than = self.duration("older_than", value),
                "unused_for" => matcher.unused_for = self.duration("unused_for", value),
                "dangling" => matcher.dangling = self.boolean("dangling", value),
                "names" => matcher.names = self.name_patterns("names", value).unwrap_or_default(),
                "images" => {
                    matcher.images = self.image_patterns("images", value).unwrap_or_default();
                }
                _ => matcher.labels = self.label_selectors("labels", value).unwrap_or_default(),
            }
        }
        (self.errors.len() == before).then_some(matcher)
    }

    fn trigger(&mut self, node: &Node) -> Option<Trigger> {
        let entries = self.entries("when", node, WHEN_KEYS, "`when`")?;
        let [entry] = entries.items.as_slice() else {
            self.error(
                node.pos,
                ErrorKind::ConditionCount {
                    key: "when".to_owned(),
                    expected: join_backticked(WHEN_KEYS),
                },
            );
            return None;
        };
        if entry.key == "disk_usage_above" {
            self.percent(entry.key, entry.value)
                .map(Trigger::DiskUsageAbove)
        } else {
            self.size(entry.key, entry.value)
                .map(Trigger::ImagesSizeAbove)
        }
    }

    fn target(&mut self, node: &Node) -> Option<Target> {
        let entries = self.entries("target", node, TARGET_KEYS, "`target`")?;
        let [entry] = entries.items.as_slice() else {
            self.error(
                node.pos,
                ErrorKind::ConditionCount {
                    key: "target".to_owned(),
                    expected: join_backticked(TARGET_KEYS),
                },
            );
            return None;
        };
        if entry.key == "disk_usage_below" {
            self.percent(entry.key, entry.value)
                .map(Target::DiskUsageBelow)
        } else {
            self.size(entry.key, entry.value)
                .map(Target::ImagesSizeBelow)
        }
    }
}

fn check_target_below(
    resolver: &mut Resolver<'_>,
    trigger: Trigger,
    target: Target,
    pos: Position,
) {
    let conflict = match (trigger, target) {
        (Trigger::DiskUsageAbove(above), Target::DiskUsageBelow(below)) => {
            (below >= above).then(|| (below.to_string(), above.to_string()))
        }
        (Trigger::ImagesSizeAbove(above), Target::ImagesSizeBelow(below)) => {
            (below >= above).then(|| (units::format_size(below), units::format_size(above)))
        }
        _ => None,
    };
    if let Some((target, trigger)) = conflict {
        resolver.error(pos, ErrorKind::TargetNotBelowTrigger { target, trigger });
    }
}

/// `[a-z0-9_-]+`, at most 64 characters.
fn is_rule_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_RULE_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn rule_ref(index: usize, node: &Node) -> RuleRef {
    if let Kind::Map(pairs) = &node.kind {
        for (key, value) in pairs {
            if let (Kind::Str(key), Kind::Str(name)) = (&key.kind, &value.kind)
                && key == "name"
            {
                return RuleRef::Named(name.clone());
            }
        }
    }
    RuleRef::Index(index + 1)
}

fn unknown_key_hint(key: &str, known: &[&str], section: &str) -> String {
    if let Some(close) = suggest(key, known.iter().copied()) {
        return format!("did you mean `{close}`?");
    }
    let placed = |list: &[&str]| list.contains(&key);
    match section {
        "a rule" if placed(MATCH_KEYS) => return format!("`{key}` belongs under `match:`"),
        "a rule" if placed(WHEN_KEYS) => return format!("`{key}` belongs under `when:`"),
        "a rule" if placed(TARGET_KEYS) => return format!("`{key}` belongs under `target:`"),
        "`match`" if placed(RULE_KEYS) => {
            return format!("`{key}` belongs to the rule itself, not under `match:`");
        }
        "the top level" if placed(RULE_KEYS) => {
            return format!("`{key}` belongs inside a rule under `rules:`");
        }
        "the top level" if placed(ENDPOINT_KEYS) => {
            return format!("`{key}` belongs inside a host under `hosts:`");
        }
        "a host" if placed(TLS_KEYS) => return format!("`{key}` belongs under `tls:`"),
        "a host" if placed(&["url", "host", "address", "docker_host"]) => {
            return format!("the daemon's address goes in `endpoint`, not `{key}`");
        }
        _ => {}
    }
    format!("expected one of {}", join_backticked(known))
}

fn timezone_hint(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    if let Some(exact) = names
        .clone()
        .find(|candidate| candidate.to_ascii_lowercase() == lower)
    {
        return format!("did you mean `{exact}`? (names are case-sensitive)");
    }
    match suggest(name, names) {
        Some(close) => format!("did you mean `{close}`?"),
        None => {
            "expected an IANA name such as `Europe/Berlin`, `America/New_York` or `UTC`".to_owned()
        }
    }
}

fn check_rollback_template(template: &str) -> Result<(), String> {
    let rendered = template.replace("{tag}", "x");
    if rendered.contains(['{', '}']) {
        return Err("the only placeholder is `{tag}`".to_owned());
    }
    // Without `{tag}`, every tag of a repository would share one rollback tag; `{tag}` alone
    // is the reference's own tag, which a rollback would then delete.
    if !template.contains("{tag}") || template == "{tag}" {
        return Err("it must contain `{tag}` and more".to_owned());
    }
    if rendered.is_empty() || rendered.len() > 128 {
        return Err("a tag must be 1 to 128 characters".to_owned());
    }
    let first_ok = rendered
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if !first_ok
        || !rendered
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err("tags may only contain letters, digits, `_`, `.` and `-`, and not start with `.` or `-`".to_owned());
    }
    Ok(())
}

/// Resolves a parsed tree into a rule set, or every error found.
pub(crate) fn resolve(source_name: &str, root: &Node) -> Result<RuleSet, Diagnostics> {
    let mut resolver = Resolver {
        source_name,
        errors: Vec::new(),
        rule: None,
        timezone: Tz::UTC,
    };
    let set = resolver.rule_set(root);
    match set {
        Some(set) if resolver.errors.is_empty() => Ok(set),
        _ => Err(Diagnostics::from_errors(resolver.errors)),
    }
}
