//! What is worth a message: the events of a run report, a new-image notice, a Docker
//! outage. Pure: built from values, no clock, no IO.

use std::fmt::Write as _;

use serde_json::json;
use swab_plan::plan::{ActionKind, NoteScope};
use swab_plan::report::{Report, Status};
use swab_plan::updates::Notice;
use swab_rules::NotifyOn;

/// One thing that happened, with the values its templates can use.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The events a target may want this message for; it is sent once when the target
    /// wants any of them (a run with changes and failures is one message).
    pub kinds: Vec<NotifyOn>,
    /// The Docker endpoint or host name (`{host}`).
    pub host: String,
    /// A few words (`{title}`): `run with changes`, `updated web`, ...
    pub title: String,
    /// One line (`{summary}`).
    pub summary: String,
    /// More lines, possibly empty (`{details}`).
    pub details: String,
    /// The rule, when one rule caused it (`{rule}`).
    pub rule: String,
    /// The container or service (`{name}`).
    pub name: String,
    /// The image reference (`{image}`).
    pub image: String,
    /// The error, if any (`{error}`).
    pub error: String,
    /// The JSON a `format: json` webhook receives.
    pub json: serde_json::Value,
}

impl Event {
    /// The event's name (`{event}`): the first of its kinds.
    pub fn name(&self) -> &'static str {
        self.kinds.first().map_or("", |k| k.as_str())
    }

    /// Whether a target listening for `on` gets this event.
    pub fn wanted(&self, on: &[NotifyOn]) -> bool {
        self.kinds.iter().any(|k| on.contains(k))
    }

    fn new(kind: NotifyOn, host: &str, title: String, summary: String) -> Event {
        Event {
            kinds: vec![kind],
            host: host.to_owned(),
            title,
            summary,
            details: String::new(),
            rule: String::new(),
            name: String::new(),
            image: String::new(),
            error: String::new(),
            json: serde_json::Value::Null,
        }
    }

    /// The JSON of a non-report event: `{"event": ..., "host": ..., "title": ..., ...}`.
    fn with_json(mut self) -> Event {
        self.json = json!({
            "event": self.name(),
            "host": self.host,
            "title": self.title,
            "summary": self.summary,
            "details": self.details,
            "rule": self.rule,
            "name": self.name,
            "image": self.image,
            "error": self.error,
        });
        self
    }
}

/// The events of a run report, in this order: the run itself (changes, failures), each
/// update done, each rollback, each recovery note. A dry run has none.
pub fn report_events(report: &Report) -> Vec<Event> {
    if report.dry_run {
        return Vec::new();
    }
    let mut events = Vec::new();
    let s = &report.summary;
    let changed = s.containers_removed
        + s.images_removed
        + s.volumes_removed
        + s.networks_removed
        + s.containers_restarted
        + s.containers_recreated
        + s.services_updated
        > 0
        || s.bytes_reclaimed > 0;
    let failed = s.failed > 0;
    if changed || failed {
        let mut kinds = Vec::new();
        if failed {
            kinds.push(NotifyOn::Failures);
        }
        if changed {
            kinds.push(NotifyOn::Changes);
        }
        let title = if failed {
            "run with failures"
        } else {
            "run with changes"
        };
        let mut event = Event::new(
            kinds[0],
            &report.host,
            title.to_owned(),
            report.summary_line(),
        );
        event.kinds = kinds;
        event.details = run_details(report);
        if let Some(error) = report
            .actions
            .iter()
            .find_map(|a| a.error.as_deref().filter(|_| a.status == Status::Failed))
        {
            error.clone_into(&mut event.error);
        }
        // The generic webhook's JSON stays the whole report, as before.
        event.json = serde_json::to_value(report).unwrap_or_default();
        events.push(event);
    }
    for a in &report.actions {
        let update = matches!(
            a.action,
            ActionKind::RecreateContainer | ActionKind::UpdateService
        );
        let (kind, title) = match a.status {
            Status::Done if update => (NotifyOn::Update, format!("updated {}", a.name)),
            Status::RolledBack => (NotifyOn::Rollback, format!("rolled back {}", a.name)),
            _ => continue,
        };
        let mut event = Event::new(kind, &report.host, title, a.reason.clone());
        event.rule.clone_from(&a.rule);
        event.name.clone_from(&a.name);
        event.error = a.error.clone().unwrap_or_default();
        if !event.error.is_empty() {
            event.details.clone_from(&event.error);
        }
        events.push(event.with_json());
    }
    for note in &report.notes {
        if note.scope == NoteScope::Recovery {
            let event = Event::new(
                NotifyOn::Recovery,
                &report.host,
                "recovered an interrupted update".to_owned(),
                note.message.clone(),
            );
            events.push(event.with_json());
        }
    }
    events
}

/// One line per action that did something or failed, then the run's notes.
fn run_details(report: &Report) -> String {
    let mut out = String::new();
    for a in &report.actions {
        if matches!(a.status, Status::Planned | Status::Skipped) {
            continue;
        }
        let _ = write!(
            out,
            "- {} {} {}",
            a.status.as_str(),
            a.action.as_str(),
            a.name
        );
        if let Some(error) = &a.error {
            let _ = write!(out, ": {error}");
        }
        out.push('\n');
    }
    for note in &report.notes {
        let scope = match &note.scope {
            NoteScope::Rule(rule) => rule.as_str(),
            NoteScope::Protect => "protect",
            NoteScope::Recovery => "recovery",
        };
        let _ = writeln!(out, "- note ({scope}): {}", note.message);
    }
    out.trim_end().to_owned()
}

/// The event of a new image (`notify_only` rules). Its JSON is the one swab always sent.
pub fn notice_event(host: &str, notice: &Notice) -> Event {
    let mut event = Event::new(
        NotifyOn::NewImage,
        host,
        format!("new image for {}", notice.reference),
        notice.text.clone(),
    );
    event.rule.clone_from(&notice.rule);
    event.image.clone_from(&notice.reference);
    event.name = notice.containers.join(", ");
    event.json = json!({
        "event": "new_image",
        "host": host,
        "rule": notice.rule,
        "reference": notice.reference,
        "digest": notice.digest,
        "containers": notice.containers,
        "eligible_at": notice.eligible_at,
        "text": notice.text,
    });
    event
}

/// Docker unreachable for `for_secs` seconds (`back: false`), or reachable again.
pub fn docker_event(host: &str, back: bool, for_secs: u64) -> Event {
    let (title, summary) = if back {
        (
            "Docker reachable again".to_owned(),
            format!("the Docker daemon answers again after {for_secs}s"),
        )
    } else {
        (
            "Docker unreachable".to_owned(),
            format!("the Docker daemon has not answered for {for_secs}s; runs wait for it"),
        )
    };
    let mut event = Event::new(NotifyOn::DockerDown, host, title, summary).with_json();
    event.json["reachable"] = json!(back);
    event
}
