//! Templates and limits: a target's title and body for an event, and cutting a text to a
//! service's limit.

use swab_rules::{MessageForm, Notify};

use crate::event::Event;

/// The default title template.
pub const DEFAULT_TITLE: &str = "swab on {host}: {title}";
/// The default body of `message: short`.
pub const DEFAULT_SHORT: &str = "{summary}";
/// The default body of `message: long`.
pub const DEFAULT_LONG: &str = "{summary}\n{details}";

/// The marker at the end of a text that was cut.
pub const CUT: &str = "…";

/// A title and a body, rendered for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line.
    pub title: String,
    /// Possibly several lines.
    pub body: String,
}

/// Renders `notify`'s templates (or the defaults) for `event`.
pub fn render(notify: &Notify, event: &Event) -> Rendered {
    let title = notify.title.as_deref().unwrap_or(DEFAULT_TITLE);
    let body = notify.body.as_deref().unwrap_or(match notify.message {
        MessageForm::Short => DEFAULT_SHORT,
        MessageForm::Long => DEFAULT_LONG,
    });
    Rendered {
        title: fill(title, event)
            .replace(['\n', '\r'], " ")
            .trim()
            .to_owned(),
        body: fill(body, event).trim().to_owned(),
    }
}

/// Replaces each known `{placeholder}` (swab_rules::PLACEHOLDERS) by its value; other
/// braces stay as written.
pub fn fill(template: &str, event: &Event) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let value = match &after[..close] {
                "host" => event.host.as_str(),
                "event" => event.name(),
                "title" => &event.title,
                "summary" => &event.summary,
                "details" => &event.details,
                "rule" => &event.rule,
                "name" => &event.name,
                "image" => &event.image,
                "error" => &event.error,
                _ => return None,
            };
            Some((value, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A service's size limit on a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// At most this many characters (Unicode scalar values).
    Chars(usize),
    /// At most this many bytes of UTF-8.
    Bytes(usize),
}

/// `text` cut to `limit` on a character boundary, ending in [`CUT`] when it was cut.
pub fn fit(text: &str, limit: Limit) -> String {
    match limit {
        Limit::Chars(max) => {
            if text.chars().count() <= max {
                return text.to_owned();
            }
            let keep: String = text.chars().take(max.saturating_sub(1)).collect();
            keep + CUT
        }
        Limit::Bytes(max) => {
            if text.len() <= max {
                return text.to_owned();
            }
            let mut end = max.saturating_sub(CUT.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}{CUT}", &text[..end])
        }
    }
}

/// Title and body as one text: the title, a blank line, the body (or the title alone).
pub fn joined(r: &Rendered) -> String {
    if r.body.is_empty() {
        r.title.clone()
    } else {
        format!("{}\n\n{}", r.title, r.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swab_rules::NotifyOn;

    fn event() -> Event {
        crate::event::docker_event("unix:///run/docker.sock", false, 300)
    }

    fn target(title: Option<&str>, body: Option<&str>, message: MessageForm) -> Notify {
        let url = "ntfy://ntfy.sh/t".to_owned();
        Notify {
            channel: swab_rules::channel::parse(&url).unwrap(),
            url,
            on: NotifyOn::DEFAULT.to_vec(),
            format: swab_rules::NotifyFormat::Json,
            message,
            title: title.map(str::to_owned),
            body: body.map(str::to_owned),
            docker_down_after: std::time::Duration::from_secs(300),
        }
    }

    #[test]
    fn defaults_and_templates() {
        let e = event();
        let r = render(&target(None, None, MessageForm::Long), &e);
        assert_eq!(
            r.title,
            "swab on unix:///run/docker.sock: Docker unreachable"
        );
        assert_eq!(
            r.body,
            "the Docker daemon has not answered for 300s; runs wait for it"
        );
        let r = render(
            &target(
                Some("[{event}] {host}"),
                Some("{title}: {summary} {unknown} {"),
                MessageForm::Short,
            ),
            &e,
        );
        assert_eq!(r.title, "[docker_down] unix:///run/docker.sock");
        assert_eq!(
            r.body,
            "Docker unreachable: the Docker daemon has not answered for 300s; runs wait for it {unknown} {"
        );
    }

    #[test]
    fn fit_cuts_on_a_char_boundary_with_a_marker() {
        assert_eq!(fit("short", Limit::Chars(10)), "short");
        assert_eq!(fit("abcdef", Limit::Chars(4)), "abc…");
        assert_eq!(fit("ééééé", Limit::Chars(5)), "ééééé");
        assert_eq!(fit("éééééé", Limit::Chars(5)), "éééé…");
        // 'é' is 2 bytes, '…' 3: 10 bytes leave room for 3 'é' and the marker.
        let cut = fit("éééééééé", Limit::Bytes(10));
        assert_eq!(cut, "ééé…");
        assert!(cut.len() <= 10);
        let long = "x".repeat(5000);
        assert_eq!(fit(&long, Limit::Chars(2000)).chars().count(), 2000);
        assert_eq!(fit(&long, Limit::Bytes(4096)).len(), 4096);
        assert!(fit(&long, Limit::Bytes(4096)).ends_with(CUT));
    }
}
