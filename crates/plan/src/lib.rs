//! swab's decisions: what the host looks like, and what swab would do about it. Pure: no IO,
//! no clock, no async runtime, no Docker client. Cargo enforces it: this crate depends on
//! neither tokio, hyper nor `swab-docker`, and must never. Every "would swab touch X?"
//! question is answered by a function here and pinned by a unit test.
//!
//! The modules, each depending only on those above it:
//! - [`snapshot`]: the model of one host at one moment (containers, images, volumes,
//!   networks, disk). The engine's `gather` fills it.
//! - [`memory`]: what swab remembers between runs that decisions read: the [`LastUsed`]
//!   record and rolled-back update digests. The engine's state file stores them.
//! - [`plan`]: the prune planner, `plan(&Snapshot, &[&Rule], &Protect, &LastUsed, now) ->
//!   Plan`, with the one protection predicate and the choice of what to inspect; and the
//!   vocabulary of plans (typed [`plan::ActionKind`], [`plan::NoteScope`]).
//! - [`updates`]: which references `update` rules keep fresh, from the registry's answers;
//!   what each update group swaps.
//! - [`hooks`]: which lifecycle hook runs in which container, from rules and labels.
//! - [`own`]: which container swab itself runs in (never stopped, restarted or recreated).
//! - [`timetable`]: when scheduled rules fire next.
//! - [`track`]: which version tag a tracked container moves to (not wired in yet).
//! - [`window`]: whether a rule's maintenance windows let it apply anything now.
//! - [`report`]: the JSON report CI jobs read, built from a plan and its outcomes.
//!
//! [`LastUsed`]: memory::LastUsed

#![deny(missing_docs)]

pub mod hooks;
pub mod memory;
pub mod own;
pub mod plan;
pub mod report;
pub mod services;
pub mod snapshot;
pub mod timetable;
pub mod track;
pub mod updates;
pub mod window;

#[cfg(feature = "test-support")]
pub mod testing;

/// Bytes as a short decimal size (`1.2 GB`), the unit Docker's own CLI uses.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    #[allow(clippy::cast_precision_loss)] // display only
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::format_bytes(0), "0 B");
        assert_eq!(super::format_bytes(999), "999 B");
        assert_eq!(super::format_bytes(1_000), "1.0 kB");
        assert_eq!(super::format_bytes(1_234_567_890), "1.2 GB");
    }
}
