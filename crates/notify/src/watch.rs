//! The Docker outage watcher: one `docker_down` message per outage to each target that
//! wants it, once Docker has been unreachable for the target's `docker_down_after`, and one
//! when Docker is back (only to the targets that were told it was down).

use std::time::Duration;

use swab_rules::{Notify, NotifyOn};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::event::docker_event;
use crate::send::Notifier;

/// Follows `up` (true while the daemon's event stream is connected) until its sender is
/// gone. A daemon that starts without Docker counts as down from the start.
pub async fn watch_docker(
    notifier: Notifier,
    targets: Vec<Notify>,
    host: String,
    mut up: watch::Receiver<bool>,
) {
    let targets: Vec<Notify> = targets
        .into_iter()
        .filter(|t| t.on.contains(&NotifyOn::DockerDown))
        .collect();
    if targets.is_empty() {
        return;
    }
    loop {
        // Wait for an outage.
        while *up.borrow_and_update() {
            if up.changed().await.is_err() {
                return;
            }
        }
        let since = Instant::now();
        let mut told = vec![false; targets.len()];
        loop {
            let next = targets
                .iter()
                .zip(&told)
                .filter(|(_, told)| !**told)
                .map(|(t, _)| since + t.docker_down_after)
                .min();
            let due = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = up.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if *up.borrow_and_update() {
                        let back: Vec<Notify> = targets
                            .iter()
                            .zip(&told)
                            .filter(|(_, told)| **told)
                            .map(|(t, _)| t.clone())
                            .collect();
                        if !back.is_empty() {
                            let event = docker_event(&host, true, since.elapsed().as_secs());
                            notifier.send(&back, &event).await;
                        }
                        break;
                    }
                }
                () = due => {
                    let now = Instant::now();
                    let mut now_due = Vec::new();
                    for (t, told) in targets.iter().zip(told.iter_mut()) {
                        if !*told && since + t.docker_down_after <= now {
                            *told = true;
                            now_due.push(t.clone());
                        }
                    }
                    let secs = now.duration_since(since).as_secs();
                    let event = docker_event(&host, false, secs.max(1));
                    notifier.send(&now_due, &event).await;
                }
            }
        }
    }
}

/// The shortest `docker_down_after` of the targets that want `docker_down`, if any.
pub fn shortest_wait(targets: &[Notify]) -> Option<Duration> {
    targets
        .iter()
        .filter(|t| t.on.contains(&NotifyOn::DockerDown))
        .map(|t| t.docker_down_after)
        .min()
}
