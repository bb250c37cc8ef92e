//! Human one-line descriptions of rules and the `swab validate` report.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::model::{
    Action, ContainerStatus, Host, HostEndpoint, Rule, RuleSet, Target, Trigger, VolumeScope,
};
use crate::units::{format_duration, format_size};

fn list<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("|")
}

impl Rule {
    /// One line saying what the rule selects and does, e.g.
    /// "containers with status exited|dead, exited more than 2h ago, named ci-*".
    pub fn describe(&self) -> String {
        let m = &self.matcher;
        let mut parts: Vec<String> = Vec::new();
        let subject = match self.action {
            Action::PruneContainers => {
                parts.push(format!(
                    "with status {}",
                    list(&m.status.iter().map(|s| s.as_str()).collect::<Vec<_>>())
                ));
                if let Some(age) = m.older_than {
                    let only_created = m.status == [ContainerStatus::Created];
                    let any_created = m.status.contains(&ContainerStatus::Created);
                    let verb = if only_created {
                        "created"
                    } else if any_created {
                        "exited (or created, if never started)"
                    } else {
                        "exited"
                    };
                    parts.push(format!("{verb} more than {} ago", format_duration(age)));
                }
                "containers"
            }
            Action::PruneImages => {
                match m.dangling {
                    Some(true) => parts.push("dangling".to_owned()),
                    Some(false) => parts.push("tagged".to_owned()),
                    None => {}
                }
                if let Some(idle) = m.unused_for {
                    parts.push(format!("unused for {}", format_duration(idle)));
                }
                "images"
            }
            Action::Update => "containers to update",
            Action::Restart => {
                if let Some(age) = m.older_than {
                    parts.push(format!("up for more than {}", format_duration(age)));
                }
                "running containers to restart"
            }
            Action::PruneVolumes => {
                if let Some(age) = m.older_than {
                    parts.push(format!("created more than {} ago", format_duration(age)));
                }
                match self.volumes {
                    Some(VolumeScope::NamedSelected) => "unused volumes (named ones included)",
                    _ => "unused anonymous volumes",
                }
            }
            Action::PruneNetworks => {
                if let Some(age) = m.older_than {
                    parts.push(format!("created more than {} ago", format_duration(age)));
                }
                "unused networks"
            }
            Action::PruneBuildCache => {
                if let Some(idle) = m.unused_for {
                    parts.push(format!("unused for {}", format_duration(idle)));
                }
                if let Some(age) = m.older_than {
                    parts.push(format!("created more than {} ago", format_duration(age)));
                }
                "build cache"
            }
        };
        if !m.names.is_empty() {
            parts.push(format!("named {}", list(&m.names)));
        }
        if !m.images.is_empty() {
            let what = if self.action == Action::PruneImages {
                "matching"
            } else {
                "running image"
            };
            parts.push(format!("{what} {}", list(&m.images)));
        }
        if !m.labels.is_empty() {
            let labels: Vec<String> = m.labels.iter().map(ToString::to_string).collect();
            parts.push(format!("labelled {}", labels.join(" and ")));
        }
        if let Some(keep) = self.keep_latest {
            parts.push(format!("keeping the {keep} newest per repository"));
        }
        let mut line = subject.to_owned();
        if !parts.is_empty() {
            line.push(' ');
            line.push_str(&parts.join(", "));
        }
        self.describe_effects(&mut line);
        line
    }

    /// Appends what the rule does beyond selecting: update options, the
    /// trigger and target, the removal cap.
    fn describe_effects(&self, line: &mut String) {
        if let Some(update) = &self.update {
            describe_update(update, line);
        }
        if !self.windows.is_empty() {
            let windows: Vec<String> = self
                .windows
                .iter()
                .map(|w| {
                    format!(
                        "{} for {}",
                        w.start.expression(),
                        format_duration(w.duration)
                    )
                })
                .collect();
            let _ = write!(
                line,
                "; applies only in its window ({})",
                windows.join(", ")
            );
        }
        if let Some(trigger) = self.when {
            let _ = match trigger {
                Trigger::DiskUsageAbove(p) => write!(line, "; only when disk usage is above {p}"),
                Trigger::ImagesSizeAbove(s) => {
                    write!(line, "; only when images take more than {}", format_size(s))
                }
            };
            let _ = match self.target {
                Some(Target::DiskUsageBelow(p)) => {
                    write!(line, ", least recently used first until below {p}")
                }
                Some(Target::ImagesSizeBelow(s)) => {
                    write!(
                        line,
                        ", least recently used first until below {}",
                        format_size(s)
                    )
                }
                None => Ok(()),
            };
        }
        if let Some(max) = self.max_removals {
            let _ = write!(line, "; at most {max}");
        }
    }
}

/// The report `swab validate` prints for a valid rule set: per rule its
/// name, action, description and the next three fire times (in the rule
/// set's time zone), then the hosts (when the file has `hosts:`) and the
/// protection summary. `now` is passed in so the output is reproducible.
pub fn render_validation(set: &RuleSet, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let count = set.rules.len();
    let hosts = match set.hosts.len() {
        0 => String::new(),
        1 => ", 1 host".to_owned(),
        n => format!(", {n} hosts"),
    };
    let _ = writeln!(
        out,
        "{}: OK, {count} rule{}{hosts} (time zone {})",
        set.source_name,
        if count == 1 { "" } else { "s" },
        set.timezone.name()
    );
    for rule in &set.rules {
        let _ = writeln!(out, "\n{} ({})", rule.name, rule.action);
        let _ = writeln!(out, "  {}", rule.describe());
        match &rule.schedule {
            None => {
                let _ = writeln!(out, "  schedule: none (runs only when invoked)");
            }
            Some(schedule) => {
                let jitter = rule
                    .jitter
                    .map(|j| format!(", plus up to {} jitter", format_duration(j)))
                    .unwrap_or_default();
                let _ = writeln!(out, "  schedule: {}{jitter}", schedule.expression());
                let times = schedule.next_fire_times(now, 3);
                if times.is_empty() {
                    let _ = writeln!(out, "  next: never");
                }
                for time in times {
                    let local = time.with_timezone(&set.timezone);
                    let _ = writeln!(out, "  next: {}", local.format("%Y-%m-%d %H:%M:%S %Z"));
                }
            }
        }
    }
    if !set.hosts.is_empty() {
        let _ = writeln!(out, "\nhosts:");
        for host in &set.hosts {
            let _ = writeln!(out, "  {}", describe_host(host));
        }
    }
    let p = &set.protect;
    let mut protected = vec!["label swab.protect".to_owned()];
    for (what, items) in [
        (
            "images",
            p.images.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ),
        (
            "containers",
            p.containers.iter().map(ToString::to_string).collect(),
        ),
        (
            "volumes",
            p.volumes.iter().map(ToString::to_string).collect(),
        ),
        (
            "networks",
            p.networks.iter().map(ToString::to_string).collect(),
        ),
        ("labels", p.labels.iter().map(ToString::to_string).collect()),
    ] {
        if !items.is_empty() {
            protected.push(format!("{what} {}", items.join(", ")));
        }
    }
    let _ = writeln!(out, "\nprotected: {}", protected.join("; "));
    out
}

/// What an `update` rule's options add to its description.
fn describe_update(update: &crate::model::UpdateOptions, line: &mut String) {
    let _ = write!(
        line,
        "; pull newer images and recreate, healthy within {}",
        format_duration(update.health_timeout)
    );
    match &update.rollback_tag {
        Some(tag) => {
            let _ = write!(line, ", keep previous as {}", tag.template());
        }
        None => line.push_str(", no rollback tag"),
    }
    if update.cleanup {
        line.push_str(", remove old image");
    }
    if update.notify_only {
        line.push_str(", notify only (never applied)");
    }
    if let Some(min_age) = update.min_age {
        let _ = write!(
            line,
            ", new digests only once known for {}",
            format_duration(min_age)
        );
    }
    let hooks = &update.hooks;
    let phases: Vec<&str> = [
        ("pre_check", &hooks.pre_check),
        ("post_check", &hooks.post_check),
        ("pre_update", &hooks.pre_update),
        ("post_update", &hooks.post_update),
    ]
    .into_iter()
    .filter_map(|(phase, command)| command.as_ref().map(|_| phase))
    .collect();
    if !phases.is_empty() {
        let _ = write!(
            line,
            ", hooks {} (each within {})",
            phases.join(", "),
            format_duration(hooks.timeout)
        );
    }
    let namespaces: Vec<&str> = hooks
        .labels
        .iter()
        .map(|n| match n {
            crate::model::HookLabels::Swab => "swab.hooks.*",
            crate::model::HookLabels::Watchtower => "Watchtower lifecycle",
        })
        .collect();
    if namespaces != ["swab.hooks.*"] {
        if namespaces.is_empty() {
            line.push_str(", no hook labels");
        } else {
            let _ = write!(line, ", hook labels {}", namespaces.join(" and "));
        }
    }
}

/// One line per host for `swab validate`: name, endpoint with its TLS, labels, rules.
fn describe_host(host: &Host) -> String {
    let mut line = format!("{}: {}", host.name, host.endpoint);
    if let HostEndpoint::Url { url, tls } = &host.endpoint
        && url.starts_with("tcp://")
    {
        match tls {
            None => line.push_str(" without TLS"),
            Some(tls) => {
                line.push_str(" with TLS");
                if !tls.verify {
                    line.push_str(", daemon certificate not verified");
                } else if let Some(ca) = &tls.ca {
                    let _ = write!(line, ", CA {}", ca.display());
                } else {
                    line.push_str(", system CA roots");
                }
                if let Some(cert) = &tls.cert {
                    let _ = write!(line, ", client certificate {}", cert.display());
                }
            }
        }
    }
    if !host.labels.is_empty() {
        let labels: Vec<String> = host
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = write!(line, "; labels {}", labels.join(", "));
    }
    match &host.rules {
        None => line.push_str("; every rule"),
        Some(rules) => {
            let _ = write!(line, "; rules {}", rules.join(", "));
        }
    }
    line
}
