//! Each HTTP channel's requests for a rendered message, as the service's API documents
//! them, each text cut to the service's limit. Pure: no client, no network.

use base64::Engine as _;
use serde_json::{Value, json};
use swab_rules::channel::{Auth, Channel, Generic, Ntfy, Telegram};
use swab_rules::{Notify, NotifyFormat};

use crate::event::Event;
use crate::render::{Limit, Rendered, fit, joined};

/// Discord's limit on `content`.
pub const DISCORD_LIMIT: Limit = Limit::Chars(2000);
/// Telegram's limit on `text`.
pub const TELEGRAM_LIMIT: Limit = Limit::Chars(4096);
/// ntfy's limit on a message body (longer ones become attachments).
pub const NTFY_LIMIT: Limit = Limit::Bytes(4096);
/// Teams: a card's payload must stay under 28 KB; the text gets most of it.
pub const TEAMS_LIMIT: Limit = Limit::Bytes(24_000);
/// Slack: `text` is cut by Slack at 40,000 characters.
pub const SLACK_LIMIT: Limit = Limit::Chars(39_000);
/// Gotify, generic webhooks and mail have no documented limit; swab keeps messages sane.
pub const OTHER_LIMIT: Limit = Limit::Bytes(64 * 1024);

/// One HTTP request, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `POST`, `PUT` or `PATCH`.
    pub method: String,
    /// The full URL (holds secrets: never log it).
    pub url: String,
    /// Headers, `Content-Type` included.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Telegram answers 200 with `"ok": false` on some errors: check the body.
    pub check_ok_field: bool,
}

impl HttpRequest {
    fn post_json(url: String, body: &Value) -> HttpRequest {
        HttpRequest {
            method: "POST".to_owned(),
            url,
            headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
            body: body.to_string().into_bytes(),
            check_ok_field: false,
        }
    }
}

/// The requests that deliver `event` (rendered as `r`) to `notify`; empty for SMTP,
/// which is not HTTP.
pub fn requests(notify: &Notify, event: &Event, r: &Rendered) -> Vec<HttpRequest> {
    match &notify.channel {
        Channel::Webhook { url } => match notify.format {
            NotifyFormat::Json => vec![HttpRequest::post_json(url.clone(), &event.json)],
            NotifyFormat::Slack => vec![slack(url, r)],
            NotifyFormat::Teams => vec![teams(url, r)],
        },
        Channel::Slack { url } => vec![slack(url, r)],
        Channel::Teams { url } => vec![teams(url, r)],
        Channel::Ntfy(n) => vec![ntfy(n, r)],
        Channel::Gotify(g) => {
            let mut body = json!({
                "title": g.title.as_deref().unwrap_or(&r.title),
                "message": fit(if r.body.is_empty() { &r.title } else { &r.body }, OTHER_LIMIT),
            });
            if let Some(p) = g.priority {
                body["priority"] = json!(p);
            }
            vec![HttpRequest::post_json(
                format!("{}/message?token={}", g.base, g.token),
                &body,
            )]
        }
        Channel::Discord(d) => {
            let mut body = json!({ "content": fit(&joined(r), DISCORD_LIMIT) });
            if let Some(name) = &d.username {
                body["username"] = json!(name);
            }
            vec![HttpRequest::post_json(
                format!("{}/api/webhooks/{}/{}", d.api, d.id, d.token),
                &body,
            )]
        }
        Channel::Telegram(t) => telegram(t, r),
        Channel::Generic(g) => vec![generic(g, r)],
        // Not HTTP; and channels a newer swab-rules may add.
        _ => Vec::new(),
    }
}

fn ntfy(n: &Ntfy, r: &Rendered) -> HttpRequest {
    let mut headers = vec![
        (
            "Content-Type".to_owned(),
            "text/plain; charset=utf-8".to_owned(),
        ),
        (
            "Title".to_owned(),
            header_text(n.title.as_deref().unwrap_or(&r.title)),
        ),
    ];
    if let Some(p) = n.priority {
        headers.push(("Priority".to_owned(), p.to_string()));
    }
    if let Some(tags) = &n.tags {
        headers.push(("Tags".to_owned(), header_text(tags)));
    }
    match &n.auth {
        Some(Auth::Basic { user, password }) => {
            let pair =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            headers.push(("Authorization".to_owned(), format!("Basic {pair}")));
        }
        Some(Auth::Bearer(token)) => {
            headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
        }
        None => {}
    }
    let body = if r.body.is_empty() { &r.title } else { &r.body };
    HttpRequest {
        method: "POST".to_owned(),
        url: format!("{}/{}", n.base, n.topic),
        headers,
        body: fit(body, NTFY_LIMIT).into_bytes(),
        check_ok_field: false,
    }
}

/// One `sendMessage` per chat.
fn telegram(t: &Telegram, r: &Rendered) -> Vec<HttpRequest> {
    let text = if t.parse_mode.as_deref() == Some("HTML") {
        // The values are text, not markup.
        joined(r)
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    } else {
        joined(r)
    };
    let text = fit(&text, TELEGRAM_LIMIT);
    t.chats
        .iter()
        .map(|chat| {
            let mut body = json!({ "chat_id": chat, "text": text });
            if let Some(mode) = &t.parse_mode {
                body["parse_mode"] = json!(mode);
            }
            let mut request =
                HttpRequest::post_json(format!("{}/bot{}/sendMessage", t.api, t.token), &body);
            request.check_ok_field = true;
            request
        })
        .collect()
}

fn generic(g: &Generic, r: &Rendered) -> HttpRequest {
    let body = if g.json {
        let mut object = serde_json::Map::new();
        for (key, value) in &g.extra {
            object.insert(key.clone(), json!(value));
        }
        object.insert(g.title_key.clone(), json!(r.title));
        object.insert(g.message_key.clone(), json!(fit(&r.body, OTHER_LIMIT)));
        Value::Object(object).to_string()
    } else {
        fit(&joined(r), OTHER_LIMIT)
    };
    let mut headers = vec![("Content-Type".to_owned(), g.content_type.clone())];
    headers.extend(g.headers.iter().cloned());
    HttpRequest {
        method: g.method.clone(),
        url: g.url.clone(),
        headers,
        body: body.into_bytes(),
        check_ok_field: false,
    }
}

fn slack(url: &str, r: &Rendered) -> HttpRequest {
    HttpRequest::post_json(
        url.to_owned(),
        &json!({ "text": fit(&joined(r), SLACK_LIMIT) }),
    )
}

/// A Teams Workflows webhook's Adaptive Card: the title in bold, the body below.
fn teams(url: &str, r: &Rendered) -> HttpRequest {
    let mut blocks = vec![json!({
        "type": "TextBlock",
        "text": fit(&r.title, Limit::Chars(500)),
        "weight": "Bolder",
        "size": "Medium",
        "wrap": true,
    })];
    if !r.body.is_empty() {
        blocks.push(json!({
            "type": "TextBlock",
            "text": fit(&r.body, TEAMS_LIMIT),
            "wrap": true,
        }));
    }
    HttpRequest::post_json(
        url.to_owned(),
        &json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.2",
                    "body": blocks,
                },
            }],
        }),
    )
}

/// A header value: ASCII as is; anything else as an RFC 2047 encoded word, which ntfy
/// decodes.
fn header_text(text: &str) -> String {
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    if text.is_ascii() {
        text
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swab_rules::{MessageForm, NotifyOn};

    fn target(url: &str) -> Notify {
        Notify {
            channel: swab_rules::channel::parse(url).unwrap(),
            url: url.to_owned(),
            on: NotifyOn::DEFAULT.to_vec(),
            format: NotifyFormat::Json,
            message: MessageForm::Long,
            title: None,
            body: None,
            docker_down_after: std::time::Duration::from_secs(300),
        }
    }

    fn rendered(body: &str) -> Rendered {
        Rendered {
            title: "swab on h: Docker unreachable".to_owned(),
            body: body.to_owned(),
        }
    }

    fn json_of(r: &HttpRequest) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn each_channel_is_cut_to_its_limit() {
        let e = crate::event::docker_event("h", false, 1);
        let long = "é".repeat(50_000);
        let r = rendered(&long);
        let discord = &requests(&target("discord://t@1"), &e, &r)[0];
        assert_eq!(
            json_of(discord)["content"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            2000
        );
        let telegram = &requests(&target("telegram://1:x@telegram?chats=5"), &e, &r)[0];
        let text = json_of(telegram)["text"].as_str().unwrap().to_owned();
        assert_eq!(text.chars().count(), 4096);
        assert!(text.ends_with('…'));
        let ntfy = &requests(&target("ntfy://h/t"), &e, &r)[0];
        assert!(ntfy.body.len() <= 4096 && ntfy.body.len() > 4090);
        assert!(String::from_utf8(ntfy.body.clone()).unwrap().ends_with('…'));
        let teams = &requests(&target("teams://?host=https%3A%2F%2Fh%2Fw"), &e, &r)[0];
        assert!(teams.body.len() < 28_000);
    }

    #[test]
    fn ntfy_headers_encode_non_ascii_titles() {
        assert_eq!(header_text("plain"), "plain");
        assert_eq!(header_text("Grüße"), "=?UTF-8?B?R3LDvMOfZQ==?=");
    }
}
