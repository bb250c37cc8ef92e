//! Undoing swaps: replacements removed, parked containers given back their names and
//! restart policies and started in order, stopped dependents started, the rollback tag put
//! back. Shared by the executor's rollback and crash recovery; each returns what it could
//! not do, so the journal entry stays until everything is undone.

use std::time::Duration;

use serde_json::json;
use swab_docker::Error;

use super::{Swapped, UpdateEngine, restarts};
use crate::state::Stopped;

/// Puts a container's restart policy back (it was set to `no` while parked).
pub(super) async fn restore_policy(engine: &dyn UpdateEngine, s: &Swapped) -> Result<(), String> {
    match &s.restart_policy {
        Some(policy) if restarts(policy) => engine
            .update_container(&s.target.id, &json!({ "RestartPolicy": policy }))
            .await
            .map_err(|e| {
                format!(
                    "cannot restore the restart policy of {}: {e}",
                    s.target.name
                )
            }),
        _ => Ok(()),
    }
}

/// Undoes swaps: every replacement goes and every parked container gets its name and
/// restart policy back (in reverse), then the ones that ran are started in their original
/// order, so a container sharing another's network stack starts after it.
///
/// A replacement whose create answer was lost is found by name, and taken only if it was
/// created from the image swab created it from and is not the old container.
pub(super) async fn undo_all(engine: &dyn UpdateEngine, swaps: &[Swapped]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut back: Vec<&Swapped> = Vec::new();
    for s in swaps.iter().rev() {
        match undo_one(engine, s).await {
            Ok(()) => back.push(s),
            Err(problem) => problems.push(problem),
        }
    }
    // Started only once its replacement is gone and it has its name back: never two
    // containers on the same data.
    for s in swaps.iter().filter(|s| s.target.running) {
        if !back.iter().any(|b| b.target.id == s.target.id) {
            continue;
        }
        if let Err(err) = engine.start_container(&s.target.id).await {
            problems.push(format!("cannot start {} again: {err}", s.target.name));
        }
    }
    problems
}

/// Removes one swap's replacement and gives the old container its name and restart policy
/// back.
async fn undo_one(engine: &dyn UpdateEngine, s: &Swapped) -> Result<(), String> {
    // The old container first: if someone removed it meanwhile (a parked container is a
    // stopped one), the replacement is the only copy left and must stay.
    let old = engine.inspect_container(&s.target.id).await.map_err(|e| {
        if e.is_not_found() {
            format!(
                "the old {} is gone (removed by someone else?): its replacement is left as it is",
                s.target.name
            )
        } else {
            format!("cannot inspect the old {}: {e}", s.target.name)
        }
    })?;
    let replacement = match (&s.new_id, s.created_window) {
        (Some(id), _) => Some(id.clone()),
        (None, Some((from, to))) => engine
            .inspect_container(&s.target.name)
            .await
            .ok()
            .filter(|c| {
                let created = swab_docker::models::parse_timestamp(&c.created).map_or(0, |t| {
                    t.duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs())
                });
                c.id != s.target.id
                    && c.config.image == s.image
                    && (from.saturating_sub(1)..=to).contains(&created)
            })
            .map(|c| c.id),
        (None, None) => None,
    };
    if let Some(new_id) = replacement {
        match engine.remove_container(&new_id, true).await {
            Ok(()) => {}
            Err(err) if err.is_not_found() => {}
            Err(err) => {
                return Err(format!(
                    "cannot remove the replacement of {}, so {} stays parked: {err}",
                    s.target.name, s.parked_name
                ));
            }
        }
    }
    if old.name() != s.target.name {
        engine
            .rename_container(&s.target.id, &s.target.name)
            .await
            .map_err(|e| {
                format!(
                    "cannot rename {} back to {}: {e}",
                    s.parked_name, s.target.name
                )
            })?;
    }
    restore_policy(engine, s).await
}

/// Watches a container for up to `within` and says whether it was seen stopped (`false`
/// also when it cannot be inspected).
/// dockerd carries out a stop it received even when its client gave up on the answer or was
/// killed, so a container seen running just after such a stop may be stopped a moment
/// later, and anything that starts it again before then is undone by that stop.
pub(super) async fn stops_within(engine: &dyn UpdateEngine, id: &str, within: Duration) -> bool {
    const POLL: Duration = Duration::from_millis(250);
    // Counted in polls, not read from the clock: a paused test clock moves on.
    let polls = within.as_millis().div_ceil(POLL.as_millis());
    for _ in 0..polls {
        match engine.inspect_container(id).await {
            Ok(c) if c.state.running => tokio::time::sleep(POLL).await,
            Ok(_) => return true,
            Err(_) => return false,
        }
    }
    false
}

/// After a stop whose answer never came ([`Error::is_outcome_unknown`]), waits until it has
/// either happened or can no longer happen (its grace period and a margin are over), so the
/// rollback that follows does not start the container just before that stop lands.
pub(super) async fn settle_stop(engine: &dyn UpdateEngine, id: &str, name: &str, grace: Duration) {
    const MARGIN: Duration = Duration::from_secs(5);
    tracing::info!(container = %name, "the stop got no answer; waiting to see whether it happens");
    if stops_within(engine, id, grace + MARGIN).await {
        tracing::info!(container = %name, "the unanswered stop happened");
    }
}

/// Starts containers swab stopped; one gone meanwhile is not a problem.
pub(super) async fn start_stopped(engine: &dyn UpdateEngine, stopped: &[Stopped]) -> Vec<String> {
    let mut problems = Vec::new();
    for s in stopped {
        match engine.start_container(&s.id).await {
            Ok(()) => {}
            Err(err) if err.is_not_found() => {}
            Err(err) => problems.push(format!("cannot start {} again: {err}", s.name)),
        }
    }
    problems
}

/// Removes a replaced (parked) container, keeping its volumes; stops it first if
/// something started it meanwhile. Gone already is fine.
pub(super) async fn remove_parked(engine: &dyn UpdateEngine, id: &str) -> Result<(), Error> {
    match engine.remove_container(id, false).await {
        Err(Error::Conflict { .. }) => {
            engine.stop_container(id, None, None).await?;
            engine.remove_container(id, false).await
        }
        Err(err) if err.is_not_found() => Ok(()),
        other => other,
    }
}

/// Puts a tag swab moved (the rollback tag, or tracking's target tag) back on `displaced`,
/// or removes it when it named nothing before.
pub(super) async fn restore_tag(
    engine: &dyn UpdateEngine,
    tag: Option<&str>,
    displaced: Option<&str>,
) -> Result<(), String> {
    let Some(tag) = tag else { return Ok(()) };
    let result = match displaced {
        Some(image) => engine.tag_image(image, tag).await,
        // Untag only (`noprune`, no force): for the rollback tag the old image keeps the
        // reference's tag (moved back first), so no image goes; for a target tag the
        // pulled image goes with it if nothing else names or uses it.
        None => engine.remove_image(tag, true).await,
    };
    match result {
        Err(err) if !err.is_not_found() => Err(format!("cannot put {tag} back: {err}")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::state::Swap;
    use crate::update::fake::{Behaviour, FakeDocker};

    /// A parked container removed by someone else before the undo: its replacement is the
    /// only copy left, so it is not removed, and the undo says why.
    #[tokio::test]
    async fn a_replacement_whose_old_container_is_gone_is_left_alone() {
        let docker = FakeDocker::default();
        docker.image("sha256:1", &["r.example/app:1"], &[], Behaviour::Runs);
        let replacement = docker.container("web", "r.example/app:1", &json!({}));
        let swap = Swap {
            name: "web".to_owned(),
            old_id: "0123456789abcdef".repeat(4),
            parked_name: "web-swab-old-0123456789ab".to_owned(),
            was_running: true,
            new_id: Some(replacement.clone()),
            image: "r.example/app:1".to_owned(),
            ..Swap::default()
        };
        let problems = undo_all(&docker, &[Swapped::of(&swap)]).await;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("the old web is gone"), "{problems:?}");
        assert!(docker.with(|w| w.container(&replacement).is_some()));
    }
}
