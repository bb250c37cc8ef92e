//! Notifications, through swab-notify: the run's events (a run with changes or failures,
//! each update, rollback and recovery) and new-image notices, to the rule set's `notify:`
//! targets. A failing target is retried, logged without its secret and never fails a run.

use swab_rules::Notify;

use crate::report::Report;

pub use swab_notify::{Notifier, watch_docker};

/// The notifier notifications go out with. An error, never a panic, when it cannot be set
/// up: a host (or a minimal image) without CA certificates still prunes and updates, and
/// says why nothing is sent.
///
/// # Errors
///
/// When TLS cannot be set up (no CA certificates on the system, say).
pub fn client() -> Result<Notifier, String> {
    Notifier::new()
}

/// Sends each event of `report` to the targets that want it, one message per event and
/// target. Errors are logged, not returned.
pub async fn send_all(notifier: &Notifier, targets: &[Notify], report: &Report) {
    let events = swab_notify::report_events(report);
    notifier.send_each(targets, &events).await;
}

/// Sends one notice of a new image to every target that wants `new_image`: JSON
/// (`{"event": "new_image", ...}`) or the target's message. Returns the error of each
/// target that did not take it; empty when all did (then the notice counts as sent and is
/// never repeated).
pub async fn send_notice(
    notifier: &Notifier,
    targets: &[Notify],
    host: &str,
    notice: &crate::updates::Notice,
) -> Vec<String> {
    notifier
        .send(targets, &swab_notify::notice_event(host, notice))
        .await
}
