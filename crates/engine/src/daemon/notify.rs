//! Notifications after a run: a generic webhook (the JSON report) or a Slack-compatible
//! text message. A failing webhook is logged and never fails the run.

use std::time::Duration;

use swab_rules::{Notify, NotifyFormat, NotifyOn};

use crate::report::Report;

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
                tracing::warn!(url = %redact(&notify.url), error = %err, "notification failed");
            }
        }
    }
}

/// The URL without its path and query, which for Slack-style webhooks are the secret.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split('/').next().unwrap_or(rest);
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
    }
}
