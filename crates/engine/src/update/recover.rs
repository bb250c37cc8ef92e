//! Finishing or undoing updates a crash interrupted, from the journal in the state file.

use std::fmt::Write as _;

use std::time::Duration;

use super::undo::{
    remove_parked, restore_policy, restore_tag, start_stopped, stops_within, undo_all,
};
use super::{StateStore, Swapped, UpdateEngine};
use crate::state::{InFlight, Swap};

/// What recovery did and what it could not do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// What was finished or undone, in words.
    pub notes: Vec<String>,
    /// What could not be done: `(reference, problem)`. The journal entry stays, so the
    /// next run tries again; a run reports these as failures.
    pub problems: Vec<(String, String)>,
}

/// Finishes or undoes updates a crash interrupted. Runs before anything else in a real
/// run, under the host lock. An entry is cleared only once everything of it is done; with
/// problems it stays for the next run.
pub async fn recover(engine: &dyn UpdateEngine, state: &dyn StateStore) -> Recovery {
    let mut out = Recovery::default();
    let journal = match state.load() {
        Ok(state) => state.in_flight,
        Err(err) => {
            out.problems.push((
                String::new(),
                format!("cannot read the update journal: {err}"),
            ));
            return out;
        }
    };
    for entry in journal {
        let (note, problems) = if entry.committed {
            finish(engine, &entry).await
        } else {
            undo(engine, &entry).await
        };
        if problems.is_empty() {
            out.notes.push(note);
            let reference = entry.reference.clone();
            if let Err(err) = state.edit(&mut |s| {
                s.in_flight.retain(|f| f.reference != reference);
            }) {
                out.problems.push((
                    entry.reference.clone(),
                    format!("cannot clear the update journal: {err}"),
                ));
            }
        } else {
            out.problems
                .extend(problems.into_iter().map(|p| (entry.reference.clone(), p)));
        }
    }
    for line in &out.notes {
        tracing::warn!("recovery: {line}");
    }
    for (reference, problem) in &out.problems {
        tracing::error!(reference = %reference, "recovery: {problem}");
    }
    out
}

/// Every container had passed: the parked ones go, stopped dependents run again.
async fn finish(engine: &dyn UpdateEngine, entry: &InFlight) -> (String, Vec<String>) {
    // A committed parked container is meant to go: one that cannot be removed is reported,
    // not a reason to keep every later run waiting.
    let mut leftovers = Vec::new();
    for swap in entry.containers.iter().rev() {
        if let Err(err) = remove_parked(engine, &swap.old_id).await {
            leftovers.push(format!("{} could not be removed ({err})", swap.parked_name));
        }
    }
    let problems = start_stopped(engine, &entry.stopped).await;
    let mut note = format!(
        "finished the interrupted update of {}: removed the replaced containers",
        entry.reference
    );
    if !leftovers.is_empty() {
        let _ = write!(note, "; remove by hand: {}", leftovers.join(", "));
    }
    (note, problems)
}

/// Not every container had passed: everything goes back.
async fn undo(engine: &dyn UpdateEngine, entry: &InFlight) -> (String, Vec<String>) {
    let mut problems = Vec::new();
    let mut parked = Vec::new();
    for swap in &entry.containers {
        match recover_swap(engine, swap).await {
            Ok(Some(s)) => parked.push(s),
            Ok(None) => {}
            Err(problem) => problems.push(problem),
        }
    }
    problems.extend(undo_all(engine, &parked).await);
    problems.extend(start_stopped(engine, &entry.stopped).await);
    match engine.tag_image(&entry.old_image, &entry.reference).await {
        Ok(()) => {}
        // The old image was removed since: nothing to move the tag back to.
        Err(err) if err.is_not_found() => {
            tracing::warn!(reference = %entry.reference, "the old image is gone; the tag stays");
        }
        Err(err) => problems.push(format!("cannot move {} back: {err}", entry.reference)),
    }
    // Replicas that stayed updated keep the rollback tag on the image they replaced, and
    // the target tag they run.
    if !entry.keep_rollback_tag {
        problems.extend(
            entry
                .compose_edits
                .iter()
                .filter_map(|e| super::compose_edit::restore(e).err()),
        );
    }
    if !entry.keep_rollback_tag
        && let Some(target) = &entry.target
        && let Err(problem) =
            restore_tag(engine, Some(target), entry.target_before.as_deref()).await
    {
        problems.push(problem);
    }
    if !entry.keep_rollback_tag
        && let Err(problem) = restore_tag(
            engine,
            entry.rollback_tag.as_deref(),
            entry.displaced.as_deref(),
        )
        .await
    {
        problems.push(problem);
    }
    let note = format!("rolled back the interrupted update of {}", entry.reference);
    (note, problems)
}

/// Whether the old container, running at recovery, stops by itself soon after: the killed
/// run may have sent its stop, which dockerd carries out without the client, so a container
/// seen running now can be stopped a moment later and would stay stopped. Watched until the
/// stop's grace period (from the journal time, plus a margin) is over; at once `false` for
/// an entry older than that.
async fn stops_meanwhile(engine: &dyn UpdateEngine, swap: &Swap) -> bool {
    const MARGIN: u64 = 5;
    let grace = if swap.stop_timeout == 0 {
        10
    } else {
        swap.stop_timeout
    };
    let until = swap.journalled_at.saturating_add(grace + MARGIN);
    let left = until.saturating_sub(super::unix_now());
    let stopped = stops_within(engine, &swap.old_id, Duration::from_secs(left)).await;
    if stopped {
        tracing::info!(container = %swap.name, "stopped by the interrupted run's stop; starting it again");
    }
    stopped
}

/// What undoing one journalled swap needs, whatever step the crash hit: `None` when the old
/// container was never parked (it gets its restart policy back and is started again here
/// if it ran) or is gone (nothing to restore; the replacement, if any, stays).
async fn recover_swap(engine: &dyn UpdateEngine, swap: &Swap) -> Result<Option<Swapped>, String> {
    let s = Swapped::of(swap);
    let old = match engine.inspect_container(&swap.old_id).await {
        Ok(old) => old,
        Err(err) if err.is_not_found() => {
            tracing::warn!(container = %swap.name, "the old container is gone; nothing to restore");
            return Ok(None);
        }
        Err(err) => return Err(format!("cannot inspect the old {}: {err}", swap.name)),
    };
    if old.name() == swap.name {
        // A stop still under way first: dockerd refuses to update a container whose task
        // is going away ("cannot update a stopped container"), found by scripts/chaos.sh.
        let running = old.state.running && !stops_meanwhile(engine, swap).await;
        restore_policy(engine, &s).await?;
        if swap.was_running && !running {
            engine
                .start_container(&swap.old_id)
                .await
                .map_err(|e| format!("cannot start {} again: {e}", swap.name))?;
        }
        return Ok(None);
    }
    Ok(Some(s))
}
