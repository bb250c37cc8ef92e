//! Notifications after a run: a generic webhook (the JSON report) or a Slack-compatible
//! text message. A failing webhook is logged and never fails the run.

use std::time::Duration;

use swab_rules::{Notify, NotifyFormat, NotifyOn};

use crate::report::Report;

/// The HTTP client notifications go out with. An error, never a panic, when it cannot be
/// set up: a host (or a minimal image) without CA certificates still prunes and updates,
/// and says why nothing is sent.
///
/// # Errors
///
/// When TLS cannot be set up (no CA certificates on the system, say).
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder().build().map_err(|e| {
        format!("cannot set up HTTPS for notifications ({e}); install CA certificates")
    })
}

/// Whether `notify` wants to hear about `report`.
pub fn wanted(notify: &Notify, report: &Report) -> bool {
    let s = &report.summary;
    let changed = s.containers_removed
        + s.images_removed
        + s.volumes_removed
        + s.networks_removed
        + s.containers_restarted
        + s.containers_recreated
        > 0
        || s.bytes_reclaimed > 0;
    let failed = s.failed > 0;
    notify.on.iter().any(|on| match on {
        NotifyOn::Changes => changed,
        NotifyOn::Failures => failed,
    })
}

/// Sends the report to every webhook that wants it. Errors are logged, not returned.
pub async fn send_all(client: &reqwest::Client, notifies: &[Notify], report: &Report) {
    for notify in notifies.iter().filter(|n| wanted(n, report)) {
        let request = match notify.format {
            NotifyFormat::Json => client.post(&notify.url).json(report),
            NotifyFormat::Slack => client
                .post(&notify.url)
                .json(&serde_json::json!({ "text": report.headline() })),
        };
        match request.timeout(Duration::from_secs(10)).send().await {
            Ok(response) if response.status().is_success() => {
                tracing::info!(url = %redact(&notify.url), "notification sent");
            }
            Ok(response) => {
                tracing::warn!(url = %redact(&notify.url), status = %response.status(), "notification refused");
            }
            Err(err) => {
                // reqwest's message ends with the whole URL, path and query included.
                let err = err.without_url();
                tracing::warn!(url = %redact(&notify.url), error = %err, "notification failed");
            }
        }
    }
}

/// Sends one notice of a new image to every target: JSON (`{"event": "new_image", ...}`)
/// or a Slack text. Returns the error of each target that did not take it; empty when all
/// did (then the notice counts as sent and is never repeated).
pub async fn send_notice(
    client: &reqwest::Client,
    notifies: &[Notify],
    host: &str,
    notice: &crate::updates::Notice,
) -> Vec<String> {
    let mut problems = Vec::new();
    for notify in notifies {
        let request = match notify.format {
            NotifyFormat::Json => client.post(&notify.url).json(&serde_json::json!({
                "event": "new_image",
                "host": host,
                "rule": notice.rule,
                "reference": notice.reference,
                "digest": notice.digest,
                "containers": notice.containers,
                "eligible_at": notice.eligible_at,
                "text": notice.text,
            })),
            NotifyFormat::Slack => client
                .post(&notify.url)
                .json(&serde_json::json!({ "text": format!("swab on {host}: {}", notice.text) })),
        };
        let url = redact(&notify.url);
        match request.timeout(Duration::from_secs(10)).send().await {
            Ok(response) if response.status().is_success() => {
                tracing::info!(%url, reference = %notice.reference, "notice sent");
            }
            Ok(response) => problems.push(format!("{url} answered {}", response.status())),
            Err(err) => problems.push(format!("{url}: {}", err.without_url())),
        }
    }
    problems
}

/// The URL without its path and query, which for Slack-style webhooks are the secret.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            // `user:token@host`: only the host is shown.
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}/...")
        }
        None => "<invalid url>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_secrets_are_not_logged() {
        assert_eq!(
            redact("https://hooks.slack.com/services/T000/B000/XXXXSECRET"),
            "https://hooks.slack.com/..."
        );
        assert_eq!(
            redact("https://user:t0ken@example.com:8443?key=SECRET"),
            "https://example.com:8443/..."
        );
    }
}
