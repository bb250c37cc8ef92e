//! Notification targets written as shoutrrr-style URLs (what Watchtower's
//! `WATCHTOWER_NOTIFICATION_URL` holds): `ntfy://`, `gotify://`, `discord://`, `telegram://`,
//! `teams://`, `smtp://`, `slack://`, `generic://`, plus plain `http(s)://` webhooks.
//!
//! [`parse`] turns one URL into a typed [`Channel`]; its errors never contain the URL's
//! secret parts (tokens, passwords, webhook paths, chat IDs), only what is wrong. Each
//! channel that talks to a fixed public service (Discord, Telegram, Slack) takes an `api`
//! query parameter naming another base URL, for a proxy or a test receiver.

use std::fmt::Write as _;

use percent_encoding::percent_decode_str;

/// Where and how a notification is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Channel {
    /// An `http(s)://` URL: swab's JSON, a Slack text or a Teams card, by `format`.
    Webhook {
        /// The URL as written.
        url: String,
    },
    /// ntfy: `POST {base}/{topic}`, the message as the body.
    Ntfy(Ntfy),
    /// Gotify: `POST {base}/message?token=`.
    Gotify(Gotify),
    /// Discord: `POST {api}/api/webhooks/{id}/{token}`.
    Discord(Discord),
    /// Telegram: `POST {api}/bot{token}/sendMessage`, once per chat.
    Telegram(Telegram),
    /// A Microsoft Teams Workflows webhook: an Adaptive Card.
    Teams {
        /// The full webhook URL.
        url: String,
    },
    /// Slack, from `slack://`: an incoming webhook.
    Slack {
        /// The full webhook URL.
        url: String,
    },
    /// Email over SMTP.
    Smtp(Smtp),
    /// Any HTTP endpoint, from `generic://` or `generic+https://`.
    Generic(Generic),
}

/// An ntfy topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ntfy {
    /// `https://host[:port]` (or `http` with `scheme=http`).
    pub base: String,
    /// The topic (the path).
    pub topic: String,
    /// How to authenticate, if at all.
    pub auth: Option<Auth>,
    /// The `Title` header; swab's title when unset.
    pub title: Option<String>,
    /// `Priority`, 1 to 5.
    pub priority: Option<u8>,
    /// `Tags`, comma-separated.
    pub tags: Option<String>,
}

/// HTTP authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `user:password`.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// An access token (`:token@host`).
    Bearer(String),
}

/// A Gotify server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gotify {
    /// `https://host[:port][/path]`.
    pub base: String,
    /// The application token.
    pub token: String,
    /// The message priority.
    pub priority: Option<i64>,
    /// The title; swab's title when unset.
    pub title: Option<String>,
}

/// A Discord webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discord {
    /// `https://discord.com`, or the `api` parameter.
    pub api: String,
    /// The webhook ID.
    pub id: String,
    /// The webhook token.
    pub token: String,
    /// The `username` the message is posted as.
    pub username: Option<String>,
}

/// A Telegram bot and its chats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telegram {
    /// `https://api.telegram.org`, or the `api` parameter.
    pub api: String,
    /// The bot token (`123456:ABC...`).
    pub token: String,
    /// Chat IDs or `@channel` names; one message each.
    pub chats: Vec<String>,
    /// `parse_mode`: `HTML`, `Markdown` or `MarkdownV2`; plain text when unset.
    pub parse_mode: Option<String>,
}

/// How an SMTP connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// TLS from the start on port 465, else STARTTLS when the server offers it.
    Auto,
    /// None (a local relay only).
    None,
    /// STARTTLS, required.
    ExplicitTls,
    /// TLS from the start (SMTPS).
    ImplicitTls,
}

/// An SMTP server and the mail's envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    /// Host name (also the name TLS checks).
    pub host: String,
    /// Port; 25 unless written.
    pub port: u16,
    /// User and password, if the server wants a login.
    pub credentials: Option<(String, String)>,
    /// The sender address.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// The subject; swab's title when unset.
    pub subject: Option<String>,
    /// How the connection is encrypted.
    pub encryption: Encryption,
}

/// A generic HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generic {
    /// The URL requests go to, with the query parameters swab did not consume.
    pub url: String,
    /// `template=json`: a JSON object with title and message; otherwise the message as
    /// plain text.
    pub json: bool,
    /// The JSON key of the title (`title`).
    pub title_key: String,
    /// The JSON key of the message (`message`).
    pub message_key: String,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The HTTP method (`POST`).
    pub method: String,
    /// Extra headers, from `@Name=value`.
    pub headers: Vec<(String, String)>,
    /// Extra JSON fields, from `$key=value`.
    pub extra: Vec<(String, String)>,
}

/// The parts of a URL, split by hand: shoutrrr URLs are not all valid URLs (a Telegram
/// token has a `:` in its user part, a Teams webhook is a URL inside a parameter).
struct Parts<'a> {
    scheme: &'a str,
    user: Option<String>,
    password: Option<String>,
    host: &'a str,
    port: Option<u16>,
    path: &'a str,
    query: Vec<(String, String)>,
}

fn split(url: &str) -> Result<Parts<'_>, String> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains spaces or control characters".to_owned());
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "it has no `scheme://`".to_owned())?;
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (Some(decode(user)), Some(decode(pass))),
            None => (Some(decode(u)), None),
        },
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
            let port = p
                .parse::<u16>()
                .map_err(|_| "its port is not a number from 1 to 65535".to_owned())?;
            (h, Some(port))
        }
        _ => (hostport, None),
    };
    let query = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Ok(Parts {
        scheme,
        user,
        password,
        host,
        port,
        path,
        query,
    })
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

impl Parts<'_> {
    /// Removes and returns the parameter `key` (case-insensitive, as in shoutrrr).
    fn take(&mut self, key: &str) -> Option<String> {
        let i = self
            .query
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(key))?;
        Some(self.query.remove(i).1)
    }

    fn host_port(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.to_owned(),
        }
    }

    fn require_host(&self, what: &str) -> Result<(), String> {
        if self.host.is_empty() {
            Err(format!("it has no host; expected {what}"))
        } else {
            Ok(())
        }
    }

    /// The parameters nobody took: an error, so a typo does not go unnoticed.
    fn done(&self, known: &str) -> Result<(), String> {
        match self.query.first() {
            None => Ok(()),
            Some((key, _)) => Err(format!(
                "unknown parameter `{}`; expected {known}",
                key.chars().take(40).collect::<String>()
            )),
        }
    }

    /// `scheme=http` or `disabletls=yes` pick plain HTTP; HTTPS otherwise.
    fn http_scheme(&mut self) -> Result<&'static str, String> {
        let mut scheme = "https";
        if let Some(value) = self.take("disabletls")
            && yes(&value, "disabletls")?
        {
            scheme = "http";
        }
        if let Some(value) = self.take("scheme") {
            scheme = match value.as_str() {
                "http" => "http",
                "https" => "https",
                _ => return Err("`scheme` must be `http` or `https`".to_owned()),
            };
        }
        Ok(scheme)
    }

    /// An `api` base URL for a test receiver or a proxy, else `default`.
    fn api(&mut self, default: &str) -> Result<String, String> {
        match self.take("api") {
            Some(api) if api.starts_with("http://") || api.starts_with("https://") => {
                Ok(api.trim_end_matches('/').to_owned())
            }
            Some(_) => Err("`api` must be an http:// or https:// base URL".to_owned()),
            None => Ok(default.to_owned()),
        }
    }
}

fn yes(value: &str, key: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Ok(true),
        "no" | "false" | "0" => Ok(false),
        _ => Err(format!("`{key}` must be yes or no")),
    }
}

/// Parses a notification URL. The error says what is wrong without repeating the URL.
///
/// # Errors
///
/// An unknown scheme, a missing part (host, token, topic, chat, recipient), an unknown
/// or malformed parameter.
pub fn parse(url: &str) -> Result<Channel, String> {
    let p = split(url)?;
    let scheme = p.scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "http" | "https" => {
            p.require_host("an http:// or https:// URL with a host")?;
            Ok(Channel::Webhook {
                url: url.to_owned(),
            })
        }
        "ntfy" => ntfy(p),
        "gotify" => gotify(p),
        "discord" => discord(p),
        "telegram" => telegram(p),
        "teams" => teams(p),
        "slack" => slack(p),
        "smtp" => smtp(p),
        "generic" | "generic+http" | "generic+https" => generic(p, &scheme),
        other => Err(format!(
            "unknown scheme `{}`; expected one of http, https, ntfy, gotify, discord, telegram, teams, slack, smtp, generic",
            other.chars().take(20).collect::<String>()
        )),
    }
}

fn ntfy(mut p: Parts<'_>) -> Result<Channel, String> {
    p.require_host("`ntfy://[user:password@]host[:port]/topic`")?;
    let topic = p.path.trim_matches('/');
    if topic.is_empty() || topic.contains('/') {
        return Err("expected one topic as the path: `ntfy://host/topic`".to_owned());
    }
    let scheme = p.http_scheme()?;
    let auth = match (p.user.take(), p.password.take()) {
        (Some(user), Some(password)) if user.is_empty() => Some(Auth::Bearer(password)),
        (Some(user), Some(password)) => Some(Auth::Basic { user, password }),
        (Some(token), None) if token.starts_with("tk_") => Some(Auth::Bearer(token)),
        (Some(_), None) => {
            return Err(
                "a user without a password; expected `user:password@` or `:token@`".to_owned(),
            );
        }
        _ => None,
    };
    let priority = match p.take("priority") {
        None => None,
        Some(value) => Some(match value.to_ascii_lowercase().as_str() {
            "min" | "1" => 1,
            "low" | "2" => 2,
            "default" | "3" => 3,
            "high" | "4" => 4,
            "max" | "urgent" | "5" => 5,
            _ => return Err("`priority` must be 1 to 5 or min, low, default, high, max".to_owned()),
        }),
    };
    let title = p.take("title");
    let tags = p.take("tags");
    p.done("title, priority, tags, scheme")?;
    Ok(Channel::Ntfy(Ntfy {
        base: format!("{scheme}://{}", p.host_port()),
        topic: decode(topic),
        auth,
        title,
        priority,
        tags,
    }))
}

fn gotify(mut p: Parts<'_>) -> Result<Channel, String> {
    p.require_host("`gotify://host[:port][/path]/token`")?;
    let path = p.path.trim_end_matches('/');
    let (prefix, token) = path.rsplit_once('/').unwrap_or(("", ""));
    if token.is_empty() {
        return Err("no application token; expected `gotify://host/token`".to_owned());
    }
    let scheme = p.http_scheme()?;
    let priority = match p.take("priority") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| "`priority` must be a whole number".to_owned())?,
        ),
    };
    let title = p.take("title");
    p.done("title, priority, disabletls")?;
    Ok(Channel::Gotify(Gotify {
        base: format!("{scheme}://{}{prefix}", p.host_port()),
        token: decode(token),
        priority,
        title,
    }))
}

fn discord(mut p: Parts<'_>) -> Result<Channel, String> {
    let token = p.user.take().filter(|t| !t.is_empty());
    let (Some(token), false) = (token, p.host.is_empty()) else {
        return Err("expected `discord://token@id`".to_owned());
    };
    if !p.host.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the webhook ID (after `@`) must be a number".to_owned());
    }
    let api = p.api("https://discord.com")?;
    let username = p.take("username");
    // shoutrrr's presentation options, with no effect on a plain text message.
    for ignored in [
        "avatar",
        "avatarurl",
        "color",
        "colordebug",
        "colorerror",
        "colorinfo",
        "colorwarn",
        "json",
        "splitlines",
        "title",
    ] {
        p.take(ignored);
    }
    p.done("username, api")?;
    Ok(Channel::Discord(Discord {
        api,
        id: p.host.to_owned(),
        token,
        username,
    }))
}

fn telegram(mut p: Parts<'_>) -> Result<Channel, String> {
    let token = match (p.user.take(), p.password.take()) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
            format!("{id}:{secret}")
        }
        _ => {
            return Err(
                "expected `telegram://token@telegram?chats=...` with a bot token `id:secret`"
                    .to_owned(),
            );
        }
    };
    let api = p.api("https://api.telegram.org")?;
    let chats: Vec<String> = p
        .take("chats")
        .or_else(|| p.take("channels"))
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    if chats.is_empty() {
        return Err("no chats; expected `?chats=@channel,123456`".to_owned());
    }
    let parse_mode = match p.take("parsemode") {
        None => None,
        Some(mode) => match mode.to_ascii_lowercase().as_str() {
            "none" | "" => None,
            "html" => Some("HTML".to_owned()),
            "markdown" => Some("Markdown".to_owned()),
            "markdownv2" => Some("MarkdownV2".to_owned()),
            _ => return Err("`parsemode` must be None, HTML, Markdown or MarkdownV2".to_owned()),
        },
    };
    for ignored in ["notification", "preview", "title"] {
        p.take(ignored);
    }
    p.done("chats, parsemode, api")?;
    Ok(Channel::Telegram(Telegram {
        api,
        token,
        chats,
        parse_mode,
    }))
}

fn teams(mut p: Parts<'_>) -> Result<Channel, String> {
    let url = p.take("host").or_else(|| p.take("webhook"));
    match url {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            p.done("host (the Workflows webhook URL, URL-encoded)")?;
            Ok(Channel::Teams { url })
        }
        _ => Err("expected `teams://?host=` and the URL-encoded Workflows webhook URL".to_owned()),
    }
}

fn slack(mut p: Parts<'_>) -> Result<Channel, String> {
    let api = p.api("https://hooks.slack.com")?;
    // `slack://hook:T000-B000-XXX@webhook` (shoutrrr 0.5+) or `slack://T000/B000/XXX`.
    let tokens: Vec<String> = if p.user.as_deref() == Some("hook") {
        p.password
            .take()
            .unwrap_or_default()
            .split('-')
            .map(str::to_owned)
            .collect()
    } else {
        std::iter::once(p.host)
            .chain(p.path.split('/'))
            .filter(|s| !s.is_empty())
            .map(decode)
            .collect()
    };
    if tokens.len() != 3 || tokens.iter().any(String::is_empty) {
        return Err(
            "expected `slack://hook:T000-B000-XXXX@webhook` (a webhook's three tokens)".to_owned(),
        );
    }
    for ignored in ["botname", "color", "icon", "thread_ts", "title"] {
        p.take(ignored);
    }
    p.done("api")?;
    Ok(Channel::Slack {
        url: format!("{api}/services/{}", tokens.join("/")),
    })
}

fn smtp(mut p: Parts<'_>) -> Result<Channel, String> {
    p.require_host("`smtp://[user:password@]host[:port]/?from=...&to=...`")?;
    let credentials = match (p.user.take(), p.password.take()) {
        (Some(user), Some(pass)) if !user.is_empty() => Some((user, pass)),
        (None, None) => None,
        (Some(user), None) if user.is_empty() => None,
        _ => return Err("a login needs both `user:password@`".to_owned()),
    };
    let from = p
        .take("from")
        .filter(|f| f.contains('@'))
        .ok_or_else(|| "no sender; expected `from=swab@example.com`".to_owned())?;
    let to: Vec<String> = p
        .take("to")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if to.is_empty() || to.iter().any(|t| !t.contains('@')) {
        return Err("no recipients; expected `to=a@example.com,b@example.com`".to_owned());
    }
    let mut encryption = match p.take("encryption").map(|e| e.to_ascii_lowercase()) {
        None => Encryption::Auto,
        Some(e) => match e.as_str() {
            "auto" => Encryption::Auto,
            "none" => Encryption::None,
            "explicittls" | "starttls" => Encryption::ExplicitTls,
            "implicittls" | "tls" => Encryption::ImplicitTls,
            _ => {
                return Err(
                    "`encryption` must be Auto, None, ExplicitTLS or ImplicitTLS".to_owned(),
                );
            }
        },
    };
    if let Some(v) = p.take("usestarttls")
        && !yes(&v, "usestarttls")?
        && encryption == Encryption::ExplicitTls
    {
        encryption = Encryption::None;
    }
    let subject = p.take("subject").or_else(|| p.take("title"));
    for ignored in ["auth", "fromname", "usehtml", "clienthost"] {
        p.take(ignored);
    }
    p.done("from, to, subject, encryption, usestarttls")?;
    Ok(Channel::Smtp(Smtp {
        host: p.host.to_owned(),
        port: p.port.unwrap_or(25),
        credentials,
        from,
        to,
        subject,
        encryption,
    }))
}

fn generic(mut p: Parts<'_>, scheme: &str) -> Result<Channel, String> {
    p.require_host("`generic://host/path` or `generic+https://host/path`")?;
    let mut http = match scheme {
        "generic+http" => "http",
        _ => "https",
    };
    if scheme == "generic"
        && p.take("disabletls")
            .is_some_and(|v| yes(&v, "disabletls") == Ok(true))
    {
        http = "http";
    }
    let json = match p.take("template").map(|t| t.to_ascii_lowercase()) {
        None => false,
        Some(t) if t == "json" => true,
        Some(_) => return Err("`template` must be `json` (or left out for plain text)".to_owned()),
    };
    let title_key = p.take("titlekey").unwrap_or_else(|| "title".to_owned());
    let message_key = p.take("messagekey").unwrap_or_else(|| "message".to_owned());
    let content_type = p.take("contenttype").unwrap_or_else(|| {
        if json {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        }
        .to_owned()
    });
    let method = p
        .take("requestmethod")
        .map_or_else(|| "POST".to_owned(), |m| m.to_ascii_uppercase());
    if !["POST", "PUT", "PATCH"].contains(&method.as_str()) {
        return Err("`requestmethod` must be POST, PUT or PATCH".to_owned());
    }
    p.take("title");
    let mut headers = Vec::new();
    let mut extra = Vec::new();
    let mut rest = Vec::new();
    for (key, value) in std::mem::take(&mut p.query) {
        if let Some(name) = key.strip_prefix('@') {
            headers.push((name.to_owned(), value));
        } else if let Some(name) = key.strip_prefix('$') {
            extra.push((name.to_owned(), value));
        } else {
            rest.push((key, value));
        }
    }
    let mut url = format!("{http}://");
    if let Some(user) = &p.user {
        url.push_str(user);
        if let Some(password) = &p.password {
            let _ = write!(url, ":{password}");
        }
        url.push('@');
    }
    url.push_str(&p.host_port());
    url.push_str(p.path);
    if !rest.is_empty() {
        url.push('?');
        url.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .extend_pairs(rest)
                .finish(),
        );
    }
    Ok(Channel::Generic(Generic {
        url,
        json,
        title_key,
        message_key,
        content_type,
        method,
        headers,
        extra,
    }))
}

/// A URL with its secrets left out: the scheme and the host only (for logs and errors).
/// For Discord and Telegram, whose host part is itself a secret or meaningless, the
/// service's name.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<invalid url>".to_owned();
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "discord" | "telegram" | "slack" | "teams" => format!("{scheme}://..."),
        _ => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}/...")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> Channel {
        parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn ntfy_urls() {
        assert_eq!(
            ok(
                "ntfy://alice:s3cret@ntfy.example.com:8443/updates?title=Hi&priority=high&tags=whale,swab"
            ),
            Channel::Ntfy(Ntfy {
                base: "https://ntfy.example.com:8443".into(),
                topic: "updates".into(),
                auth: Some(Auth::Basic {
                    user: "alice".into(),
                    password: "s3cret".into()
                }),
                title: Some("Hi".into()),
                priority: Some(4),
                tags: Some("whale,swab".into()),
            })
        );
        let Channel::Ntfy(n) = ok("ntfy://:tk_abc@127.0.0.1:8080/t?scheme=http") else {
            panic!()
        };
        assert_eq!(n.base, "http://127.0.0.1:8080");
        assert_eq!(n.auth, Some(Auth::Bearer("tk_abc".into())));
    }

    #[test]
    fn service_urls() {
        assert_eq!(
            ok("gotify://gotify.example.com/sub/AbCdEf?priority=7"),
            Channel::Gotify(Gotify {
                base: "https://gotify.example.com/sub".into(),
                token: "AbCdEf".into(),
                priority: Some(7),
                title: None,
            })
        );
        assert_eq!(
            ok("discord://tok-en@123456789"),
            Channel::Discord(Discord {
                api: "https://discord.com".into(),
                id: "123456789".into(),
                token: "tok-en".into(),
                username: None,
            })
        );
        assert_eq!(
            ok("telegram://110201543:AAHdqTcv@telegram?chats=@swab,-100123&parsemode=HTML"),
            Channel::Telegram(Telegram {
                api: "https://api.telegram.org".into(),
                token: "110201543:AAHdqTcv".into(),
                chats: vec!["@swab".into(), "-100123".into()],
                parse_mode: Some("HTML".into()),
            })
        );
        assert_eq!(
            ok(
                "teams://?host=https%3A%2F%2Fprod.westus.logic.azure.com%2Fworkflows%2Fabc%3Fsig%3Dx"
            ),
            Channel::Teams {
                url: "https://prod.westus.logic.azure.com/workflows/abc?sig=x".into()
            }
        );
        assert_eq!(
            ok("slack://hook:T000-B000-XXXX@webhook"),
            Channel::Slack {
                url: "https://hooks.slack.com/services/T000/B000/XXXX".into()
            }
        );
        assert_eq!(
            ok("slack://T000/B000/XXXX"),
            Channel::Slack {
                url: "https://hooks.slack.com/services/T000/B000/XXXX".into()
            }
        );
    }

    #[test]
    fn smtp_and_generic_urls() {
        assert_eq!(
            ok(
                "smtp://bob:pa%40ss@mail.example.com:587/?from=swab@example.com&to=a@example.com,b@example.com&subject=Swab&encryption=ExplicitTLS"
            ),
            Channel::Smtp(Smtp {
                host: "mail.example.com".into(),
                port: 587,
                credentials: Some(("bob".into(), "pa@ss".into())),
                from: "swab@example.com".into(),
                to: vec!["a@example.com".into(), "b@example.com".into()],
                subject: Some("Swab".into()),
                encryption: Encryption::ExplicitTls,
            })
        );
        assert_eq!(
            ok(
                "generic+http://127.0.0.1:9/hook?template=json&titlekey=t&@X-Key=k1&$env=prod&keep=1"
            ),
            Channel::Generic(Generic {
                url: "http://127.0.0.1:9/hook?keep=1".into(),
                json: true,
                title_key: "t".into(),
                message_key: "message".into(),
                content_type: "application/json".into(),
                method: "POST".into(),
                headers: vec![("X-Key".into(), "k1".into())],
                extra: vec![("env".into(), "prod".into())],
            })
        );
        let Channel::Generic(g) = ok("generic://example.com/x") else {
            panic!()
        };
        assert_eq!(g.url, "https://example.com/x");
        assert!(!g.json);
    }

    #[test]
    fn bad_urls_say_why_without_the_secret() {
        for (url, why) in [
            ("ftp://example.com", "unknown scheme `ftp`"),
            ("ntfy://u:SECRET@host", "expected one topic"),
            ("ntfy://u:SECRET@host/t?prio=1", "unknown parameter `prio`"),
            ("ntfy://host/t?priority=9", "`priority` must be"),
            ("gotify://host", "no application token"),
            ("discord://SECRET@notanumber", "must be a number"),
            ("discord://123", "expected `discord://token@id`"),
            ("telegram://1:SECRET@telegram", "no chats"),
            ("telegram://SECRET@telegram?chats=1", "bot token"),
            ("teams://SECRET", "expected `teams://?host="),
            ("slack://SECRET", "three tokens"),
            ("smtp://u:SECRET@host/?to=a@b.c", "no sender"),
            ("smtp://u:SECRET@host/?from=a@b.c", "no recipients"),
            ("smtp://u:SECRET@host:99999/?from=a@b.c", "port"),
            ("generic://host/p?template=xml", "`template` must be"),
            ("https://SECRET host", "spaces"),
            ("https:///path", "no host"),
        ] {
            let err = parse(url).expect_err(url);
            assert!(err.contains(why), "{url}: {err}");
            assert!(!err.contains("SECRET"), "{url}: {err}");
        }
    }

    #[test]
    fn redacted_urls_keep_scheme_and_host() {
        assert_eq!(
            redact("https://hooks.slack.com/services/T/B/SECRET"),
            "https://hooks.slack.com/..."
        );
        assert_eq!(
            redact("ntfy://u:SECRET@ntfy.sh/topic"),
            "ntfy://ntfy.sh/..."
        );
        assert_eq!(
            redact("smtp://u:SECRET@mail:587/?to=x"),
            "smtp://mail:587/..."
        );
        assert_eq!(redact("discord://SECRET@123"), "discord://...");
        assert_eq!(
            redact("telegram://1:SECRET@telegram?chats=1"),
            "telegram://..."
        );
    }
}
