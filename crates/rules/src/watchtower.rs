//! Moving over from Watchtower: its settings (the `WATCHTOWER_*` environment and the
//! command-line flags of its container) translated into an equivalent swab rule file, with
//! a comment for every setting that has no equivalent yet, and why. Pure: the caller reads
//! the container.
//!
//! Flag and variable names are those of containrrr/watchtower (`internal/flags/flags.go`),
//! which the nickfedor fork keeps. The output is meant to be read and checked
//! (`swab validate`), not applied blindly; where Watchtower's behaviour cannot be kept
//! exactly, the safer reading wins (a monitor-only Watchtower gives a rule without a
//! schedule, which the daemon never applies and `swab updates` reports on).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The labels Watchtower reads on the containers it watches.
pub const LABEL_PREFIX: &str = "com.centurylinklabs.watchtower";

/// Watchtower's settings, as its flags and environment give them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `--interval`/`WATCHTOWER_POLL_INTERVAL`, seconds.
    pub interval: Option<u64>,
    /// `--schedule`/`WATCHTOWER_SCHEDULE` (6 fields, seconds first).
    pub schedule: Option<String>,
    /// Every boolean flag that was set, by flag name (`cleanup`, `label-enable`, ...).
    pub flags: BTreeMap<String, bool>,
    /// `--stop-timeout`/`WATCHTOWER_TIMEOUT`, as written (`30s`).
    pub stop_timeout: Option<String>,
    /// `--scope`/`WATCHTOWER_SCOPE`.
    pub scope: Option<String>,
    /// `TZ`: the time zone Watchtower's schedule runs in.
    pub timezone: Option<String>,
    /// The shoutrrr notification URLs (`--notification-url`, repeatable; or
    /// `WATCHTOWER_NOTIFICATION_URL`, space-separated). They hold secrets: the rule file
    /// carries them, and nothing else prints them.
    pub notification_urls: Vec<String>,
    /// Whether a flag set the URLs (flags win over the environment).
    urls_from_flags: bool,
    /// Positional container names.
    pub names: Vec<String>,
    /// Flags and variables this translator does not know.
    pub unknown: Vec<String>,
}

/// Boolean flags and the variables that set them.
const BOOLS: &[(&str, &str)] = &[
    ("cleanup", "WATCHTOWER_CLEANUP"),
    ("label-enable", "WATCHTOWER_LABEL_ENABLE"),
    ("monitor-only", "WATCHTOWER_MONITOR_ONLY"),
    ("include-stopped", "WATCHTOWER_INCLUDE_STOPPED"),
    ("include-restarting", "WATCHTOWER_INCLUDE_RESTARTING"),
    ("rolling-restart", "WATCHTOWER_ROLLING_RESTART"),
    ("http-api-update", "WATCHTOWER_HTTP_API_UPDATE"),
    ("no-pull", "WATCHTOWER_NO_PULL"),
    ("no-restart", "WATCHTOWER_NO_RESTART"),
    ("remove-volumes", "WATCHTOWER_REMOVE_VOLUMES"),
    ("revive-stopped", "WATCHTOWER_REVIVE_STOPPED"),
    ("run-once", "WATCHTOWER_RUN_ONCE"),
    ("enable-lifecycle-hooks", "WATCHTOWER_LIFECYCLE_HOOKS"),
];

/// Single-letter forms of the flags.
const SHORT: &[(char, &str)] = &[
    ('i', "interval"),
    ('s', "schedule"),
    ('t', "stop-timeout"),
    ('c', "cleanup"),
    ('e', "label-enable"),
    ('m', "monitor-only"),
    ('S', "include-stopped"),
    ('R', "run-once"),
];

/// Flags that only change Watchtower's own logging or connection: nothing to carry over.
const IGNORED: &[&str] = &[
    "debug",
    "trace",
    "no-color",
    "no-startup-message",
    "log-format",
    "log-level",
    "porcelain",
    "host",
    "tlsverify",
    "api-version",
    "notifications-level",
    "notifications-hostname",
    "notification-report",
    "notification-template",
    "http-api-token",
    "http-api-metrics",
    "http-api-periodic-polls",
];

impl Settings {
    /// Reads Watchtower's environment (`KEY=value`) and command line (flags after the
    /// entrypoint). Flags win over the environment, as in Watchtower.
    pub fn read<E: AsRef<str>, C: AsRef<str>>(env: &[E], cmd: &[C]) -> Settings {
        let mut s = Settings::default();
        for entry in env {
            let Some((key, value)) = entry.as_ref().split_once('=') else {
                continue;
            };
            s.set_env(key, value);
        }
        let mut args = cmd.iter().map(AsRef::as_ref).peekable();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.strip_prefix("--") {
                Some(long) => match long.split_once('=') {
                    Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                    None => (long.to_owned(), None),
                },
                None => match arg.strip_prefix('-').and_then(|a| a.chars().next()) {
                    Some(c) => match SHORT.iter().find(|(s, _)| *s == c) {
                        Some((_, long)) => ((*long).to_owned(), None),
                        None => {
                            s.unknown.push(arg.to_owned());
                            continue;
                        }
                    },
                    None => {
                        s.names.push(arg.to_owned());
                        continue;
                    }
                },
            };
            let takes_value = matches!(
                name.as_str(),
                "interval" | "schedule" | "stop-timeout" | "scope" | "notification-url"
            ) || IGNORED.contains(&name.as_str()) && !is_bool_ignored(&name);
            let value = if takes_value {
                inline.or_else(|| args.next().map(str::to_owned))
            } else {
                inline
            };
            s.set_flag(&name, value.as_deref());
        }
        s
    }

    fn set_env(&mut self, key: &str, value: &str) {
        match key {
            "WATCHTOWER_POLL_INTERVAL" => self.interval = value.trim().parse().ok(),
            "WATCHTOWER_SCHEDULE" => self.schedule = Some(value.to_owned()),
            "WATCHTOWER_TIMEOUT" => self.stop_timeout = Some(value.to_owned()),
            "WATCHTOWER_SCOPE" => self.scope = Some(value.to_owned()),
            "TZ" if !value.is_empty() => self.timezone = Some(value.to_owned()),
            "WATCHTOWER_NOTIFICATION_URL" if !self.urls_from_flags => {
                self.notification_urls = value.split_whitespace().map(str::to_owned).collect();
            }
            _ => match BOOLS.iter().find(|(_, var)| *var == key) {
                Some((flag, _)) => {
                    self.flags.insert((*flag).to_owned(), go_bool(value));
                }
                None if key.starts_with("WATCHTOWER_") => self.unknown.push(key.to_owned()),
                None => {}
            },
        }
    }

    fn set_flag(&mut self, name: &str, value: Option<&str>) {
        match name {
            "interval" => self.interval = value.and_then(|v| v.trim().parse().ok()),
            "schedule" => self.schedule = value.map(str::to_owned),
            "stop-timeout" => self.stop_timeout = value.map(str::to_owned),
            "scope" => self.scope = value.map(str::to_owned),
            "notification-url" => {
                if !self.urls_from_flags {
                    self.notification_urls.clear();
                    self.urls_from_flags = true;
                }
                self.notification_urls.extend(
                    value
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_owned),
                );
            }
            _ if BOOLS.iter().any(|(flag, _)| *flag == name) => {
                self.flags
                    .insert(name.to_owned(), value.is_none_or(go_bool));
            }
            _ if IGNORED.contains(&name) => {}
            _ => self.unknown.push(format!("--{name}")),
        }
    }

    fn on(&self, flag: &str) -> bool {
        self.flags.get(flag).copied().unwrap_or(false)
    }
}

/// A boolean as Watchtower reads it (Go's `strconv.ParseBool`): `1`, `t`, `true`, `TRUE`,
/// `True`, ...; anything else is false.
fn go_bool(value: &str) -> bool {
    matches!(value.trim(), "1" | "t" | "T" | "true" | "TRUE" | "True")
}

fn is_bool_ignored(name: &str) -> bool {
    matches!(
        name,
        "debug"
            | "trace"
            | "no-color"
            | "no-startup-message"
            | "tlsverify"
            | "notification-report"
            | "http-api-metrics"
            | "http-api-periodic-polls"
    )
}

/// A crontab line for an interval, when one fires at the same rate (Watchtower counts from
/// its start, cron from the clock): `(schedule, exact)`.
fn interval_schedule(seconds: u64) -> (String, bool) {
    match seconds {
        0 => ("@daily".to_owned(), false),
        s if s % 86_400 == 0 => ("@daily".to_owned(), s == 86_400),
        s if s % 3600 == 0 && 24 % (s / 3600) == 0 => (format!("0 */{} * * *", s / 3600), true),
        s if s % 60 == 0 && 60 % (s / 60) == 0 => (format!("*/{} * * * *", s / 60), true),
        s if s < 60 && 60 % s == 0 => (format!("*/{s} * * * * *"), true),
        // The nearest rate cron can keep, rounded up (checking less often, never more).
        s if s < 3600 => {
            let m = (1..=60).find(|m| 60 % m == 0 && m * 60 >= s).unwrap_or(60);
            (format!("*/{m} * * * *"), false)
        }
        s => {
            let h = [1, 2, 3, 4, 6, 8, 12, 24]
                .into_iter()
                .find(|h| h * 3600 >= s)
                .unwrap_or(24);
            (format!("0 */{h} * * *"), false)
        }
    }
}

/// The rule's `schedule:` line (none for monitor-only and run-once), from `--schedule`,
/// `--interval` or Watchtower's default.
fn schedule(s: &Settings, rule: &mut String, notes: &mut Vec<String>) {
    if s.on("monitor-only") {
        rule.push_str(
            "    # --monitor-only: no schedule, so the daemon never applies this rule; run\n    \
             # `swab updates --rules FILE` to see what is outdated.\n",
        );
        notes.push(
            "--monitor-only: Watchtower only reported new images. The rule has no schedule: \
             the daemon never applies it, `swab updates` reports on it, and `swab run` would \
             apply it. Add a schedule once you want updates applied."
                .to_owned(),
        );
    } else if s.on("run-once") {
        notes.push(
            "--run-once: the rule has no schedule; run it with `swab run --rules FILE`.".to_owned(),
        );
    } else if let Some(schedule) = &s.schedule {
        let _ = writeln!(
            rule,
            "    schedule: \"{schedule}\"  # --schedule (6 fields, seconds first, as in Watchtower)"
        );
    } else {
        let seconds = s.interval.unwrap_or(86_400);
        let (schedule, exact) = interval_schedule(seconds);
        let why = if s.interval.is_some() {
            format!("--interval {seconds}")
        } else {
            "Watchtower's default interval, 24h".to_owned()
        };
        let _ = writeln!(rule, "    schedule: \"{schedule}\"  # {why}");
        if !exact {
            notes.push(format!(
                "--interval {seconds}: cron cannot fire every {seconds}s; the schedule checks \
                 at the nearest rate that is not more often."
            ));
        }
    }
}

/// The label selectors that keep Watchtower's choice of containers.
fn selectors(s: &Settings, notes: &mut Vec<String>) -> Vec<(String, &'static str)> {
    let mut labels: Vec<(String, &'static str)> = Vec::new();
    if s.on("label-enable") {
        labels.push((format!("{LABEL_PREFIX}.enable=true"), "--label-enable"));
    } else {
        labels.push((
            format!("{LABEL_PREFIX}.enable!=false"),
            "containers labelled enable=false are left alone",
        ));
    }
    match s.scope.as_deref() {
        None | Some("") => {}
        Some("none") => notes.push(
            "--scope none: swab cannot select \"no scope label or scope none\" in one rule; \
             containers with a scope label are updated too."
                .to_owned(),
        ),
        Some(scope) => labels.push((format!("{LABEL_PREFIX}.scope={scope}"), "--scope")),
    }
    labels.push((
        format!("{LABEL_PREFIX}.monitor-only!=true"),
        "containers labelled monitor-only are not updated",
    ));
    labels.push((
        format!("{LABEL_PREFIX}.no-pull!=true"),
        "no-pull containers are not updated from a registry",
    ));
    labels
}

/// Notes for the settings swab keeps as is or cannot keep.
fn unmapped(s: &Settings, notes: &mut Vec<String>) {
    if s.on("include-restarting") {
        notes.push(
            "--include-restarting: swab counts restarting containers as running; kept as is."
                .to_owned(),
        );
    }
    if s.on("rolling-restart") {
        notes.push(
            "--rolling-restart: swab always updates one container at a time, each behind its \
             health gate; kept as is."
                .to_owned(),
        );
    }
    for (flag, why) in [
        (
            "include-stopped",
            "swab updates running containers only: a stopped one is not recreated.",
        ),
        (
            "revive-stopped",
            "swab never starts a container that was stopped.",
        ),
        (
            "http-api-update",
            "swab has no HTTP trigger yet; run `swab run` from your CI instead.",
        ),
        (
            "no-pull",
            "swab always pulls the digest it checked; there is no local-only mode.",
        ),
        (
            "no-restart",
            "swab recreates the containers it updates; there is no pull-only mode.",
        ),
        (
            "remove-volumes",
            "swab never removes volumes when it replaces a container (the replacement uses them).",
        ),
    ] {
        if s.on(flag) {
            notes.push(format!("--{flag}: {why}"));
        }
    }
    for unknown in &s.unknown {
        notes.push(format!(
            "{unknown}: not known to this translator; check it by hand."
        ));
    }
}

/// The `notify:` section for Watchtower's notification URLs, which swab reads as they are
/// (shoutrrr's forms). A URL swab cannot read is left out with a note that does not repeat
/// it (it holds secrets).
fn notify(s: &Settings, out: &mut String, notes: &mut Vec<String>) {
    let mut entries = String::new();
    for (i, url) in s.notification_urls.iter().enumerate() {
        match crate::channel::parse(url) {
            Ok(_) => {
                let _ = writeln!(entries, "  - url: \"{}\"", url.replace('\\', "\\\\").replace('"', "\\\""));
            }
            Err(why) => notes.push(format!(
                "--notification-url {} ({}): not copied, swab cannot read it: {why}; add it to `notify:` by hand (docs/rules.md, Notifications).",
                i + 1,
                crate::channel::redact(url)
            )),
        }
    }
    if !entries.is_empty() {
        out.push_str(
            "# --notification-url: the URLs hold secrets; keep this file private (chmod 600).\n\
             # Each entry sends on runs with changes or failures, new images and Docker outages\n\
             # (`on:` picks; docs/rules.md, Notifications).\nnotify:\n",
        );
        out.push_str(&entries);
    }
}

/// The rule file for `settings`, read from the container `source`.
pub fn rule_file(settings: &Settings, source: &str) -> String {
    let s = settings;
    let mut out = String::new();
    let mut notes: Vec<String> = Vec::new();
    let _ = writeln!(
        out,
        "# Generated by `swab migrate watchtower` from the Watchtower container {source}."
    );
    out.push_str(
        "# Check it with `swab validate --rules FILE`; docs/migrating-from-watchtower.md has the\n\
         # full mapping and when to stop Watchtower.\n",
    );
    out.push_str("version: 1\n");
    if let Some(tz) = &s.timezone {
        let _ = writeln!(
            out,
            "timezone: {tz}  # TZ: Watchtower's schedule runs in it"
        );
    }
    out.push_str("rules:\n");
    let mut rule = String::new();
    rule.push_str("  - name: watchtower\n    action: update\n");
    schedule(s, &mut rule, &mut notes);
    let labels = selectors(s, &mut notes);
    rule.push_str("    match:\n");
    if !s.names.is_empty() {
        let names: Vec<String> = s.names.iter().map(|n| format!("\"{n}\"")).collect();
        let _ = writeln!(
            rule,
            "      names: [{}]  # positional names",
            names.join(", ")
        );
    }
    rule.push_str("      labels:\n");
    for (selector, why) in &labels {
        let _ = writeln!(rule, "        - \"{selector}\"  # {why}");
    }
    if s.on("cleanup") {
        rule.push_str("    cleanup: true  # --cleanup\n");
    }
    if let Some(timeout) = &s.stop_timeout {
        let _ = writeln!(rule, "    stop_timeout: {timeout}  # --stop-timeout");
    }
    if s.on("enable-lifecycle-hooks") {
        rule.push_str(
            "    hooks:\n      labels: [swab, watchtower]  # --enable-lifecycle-hooks: runs the lifecycle.* labels\n",
        );
    }
    out.push_str(&rule);
    notify(s, &mut out, &mut notes);
    unmapped(s, &mut notes);
    notes.push(
        "Labels depends-on and stop-signal on your containers are read by swab as Watchtower \
         read them (stop-signal needs Docker 23 or later, API 1.42); lifecycle.* hooks only \
         with `hooks: labels: [watchtower]`, as Watchtower needed --enable-lifecycle-hooks."
            .to_owned(),
    );
    out.push_str("\n# The other settings:\n");
    for note in notes {
        let _ = writeln!(out, "# - {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_environment_and_short_forms_are_read() {
        let s = Settings::read(
            &[
                "WATCHTOWER_POLL_INTERVAL=600",
                "WATCHTOWER_CLEANUP=true",
                "WATCHTOWER_SCOPE=prod",
                "PATH=/bin",
                "WATCHTOWER_SOMETHING_NEW=1",
            ],
            &[
                "-i",
                "300",
                "--label-enable",
                "--stop-timeout=30s",
                "--debug",
                "web",
                "db",
            ],
        );
        assert_eq!(s.interval, Some(300));
        assert!(s.on("cleanup") && s.on("label-enable"));
        assert_eq!(s.stop_timeout.as_deref(), Some("30s"));
        assert_eq!(s.scope.as_deref(), Some("prod"));
        assert_eq!(s.names, ["web", "db"]);
        assert_eq!(s.unknown, ["WATCHTOWER_SOMETHING_NEW"]);
    }

    #[test]
    fn intervals_become_schedules_that_never_check_more_often() {
        let cases = [
            (86_400, "@daily", true),
            (3600, "0 */1 * * *", true),
            (21_600, "0 */6 * * *", true),
            (300, "*/5 * * * *", true),
            (30, "*/30 * * * * *", true),
            (420, "*/10 * * * *", false),
            (18_000, "0 */6 * * *", false),
        ];
        for (seconds, schedule, exact) in cases {
            assert_eq!(
                interval_schedule(seconds),
                (schedule.to_owned(), exact),
                "{seconds}"
            );
        }
    }

    #[test]
    fn the_generated_file_loads_and_a_monitor_only_watchtower_updates_nothing() {
        let s = Settings::read(
            &["WATCHTOWER_SCHEDULE=0 0 4 * * *", "WATCHTOWER_CLEANUP=true"],
            &["--scope", "prod"],
        );
        let text = rule_file(&s, "wt");
        let set =
            crate::load_str("watchtower.yaml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(set.rules.len(), 1);
        assert_eq!(set.rules[0].name, "watchtower");
        let hooks = &set.rules[0].update.as_ref().unwrap().hooks;
        assert_eq!(hooks.labels, [crate::HookLabels::Swab], "{text}");

        let hooked = Settings::read(&["WATCHTOWER_LIFECYCLE_HOOKS=1"], &[] as &[&str]);
        let text = rule_file(&hooked, "wt");
        let set =
            crate::load_str("watchtower.yaml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let hooks = &set.rules[0].update.as_ref().unwrap().hooks;
        assert_eq!(
            hooks.labels,
            [crate::HookLabels::Swab, crate::HookLabels::Watchtower],
            "{text}"
        );

        let monitor = Settings::read(&["WATCHTOWER_MONITOR_ONLY=true"], &[] as &[&str]);
        let text = rule_file(&monitor, "wt");
        let set =
            crate::load_str("watchtower.yaml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(set.rules[0].schedule.is_none(), "{text}");
    }

    #[test]
    fn notification_urls_are_carried_into_notify_entries() {
        let s = Settings::read(
            &[
                "WATCHTOWER_NOTIFICATION_URL=ntfy://:tk_one@ntfy.example.com/swab  discord://tok@123 ftp://SECRET@x",
            ],
            &["--schedule", "0 0 4 * * *"],
        );
        assert_eq!(s.notification_urls.len(), 3);
        let file = rule_file(&s, "wt");
        assert!(file.contains("notify:\n  - url: \"ntfy://:tk_one@ntfy.example.com/swab\"\n  - url: \"discord://tok@123\"\n"), "{file}");
        assert!(!file.contains("SECRET"), "{file}");
        assert!(
            file.contains("--notification-url 3 (ftp://x/...): not copied"),
            "{file}"
        );
        let set = crate::load_str("wt.yaml", &file).expect("the file validates");
        assert_eq!(set.notify.len(), 2);

        // A flag wins over the variable, and repeats.
        let s = Settings::read(
            &["WATCHTOWER_NOTIFICATION_URL=ntfy://h/env"],
            &[
                "--notification-url",
                "ntfy://h/a",
                "--notification-url=ntfy://h/b",
            ],
        );
        assert_eq!(s.notification_urls, ["ntfy://h/a", "ntfy://h/b"]);
    }
}
