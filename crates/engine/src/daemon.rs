//! The daemon's loop: sleep until a rule is due, run it, repeat; reload rules on request;
//! stop on shutdown. In the shape of mini-redis' `server::run(listener, shutdown)`:
//! everything the loop touches outside itself comes in as an argument, so it is unit-tested
//! with a paused tokio clock and a scripted [`Runner`].
//!
//! - The [`Timetable`] (pure) says when the next rule is due; the loop only sleeps until then.
//!   Rules due at the same moment run together in one run, one run at a time, so a rule still
//!   running when it is due again is not started twice (its missed fires are logged and
//!   skipped, never replayed).
//! - A run that finds Docker unreachable is retried with back-off (5 s doubling up to 5 min)
//!   until the rule's next regular fire; retries are extra runs, the schedule is kept.
//! - A reload brings a new rule set or the located errors of a broken one: the old rules keep
//!   running on a broken file.
//! - Shutdown is only looked at between runs: a run in flight is the runner's to end early
//!   (its cancel flag), and the loop waits for it.
//!
//! Beside the loop: [`events`] keeps the last-used record from the event stream, and
//! [`notify`] posts reports to webhooks.

pub mod events;
pub mod notify;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use swab_rules::{Rule, RuleSet};
use tokio::sync::{mpsc, watch};

use crate::timetable::Timetable;

/// The first wait after Docker was unreachable; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The wall clock as the loop sees it.
pub trait Clock {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from(std::time::SystemTime::now())
    }
}

/// How a run ended, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// It ran (whatever its actions' results).
    Ran,
    /// Docker could not be reached: retry with back-off.
    Unreachable,
    /// It did not run or failed otherwise (lock not had, shutdown while waiting for it, an
    /// error the runner logged); wait for the next regular fire.
    NotRun,
}

/// Carries out one run of the named rules of `rules`.
pub trait Runner {
    /// Runs the rules named in `names` together.
    fn run(&mut self, rules: &RuleSet, names: &[String]) -> impl Future<Output = RunOutcome>;
}

/// A new rule set, or why the file could not be read (every located error, for the log).
pub type Reload = Result<RuleSet, String>;

/// What does not change while the loop runs.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Per-host seed for the rules' jitter.
    pub seed: u64,
    /// Run every scheduled rule once before the first sleep.
    pub run_on_start: bool,
}

/// Runs the daemon loop until `shutdown` turns true (or its sender is dropped). Returns the
/// rule set in force at the end.
pub async fn run(
    config: Config,
    mut rules: RuleSet,
    runner: &mut impl Runner,
    clock: &impl Clock,
    mut reloads: mpsc::Receiver<Reload>,
    mut shutdown: watch::Receiver<bool>,
) -> RuleSet {
    let mut table = Timetable::new(&all(&rules), clock.now(), config.seed);
    let mut backoff: HashMap<String, Duration> = HashMap::new();
    tracing::info!(rules = rules.rules.len(), next = ?table.next_wakeup(), "schedule loaded");
    if config.run_on_start && !*shutdown.borrow() {
        let names: Vec<String> = rules
            .rules
            .iter()
            .filter(|r| r.schedule.is_some())
            .map(|r| r.name.clone())
            .collect();
        batch(runner, &rules, &names, &mut table, &mut backoff, clock).await;
    }
    loop {
        if *shutdown.borrow() {
            break;
        }
        let wait = table
            .next_wakeup()
            .map(|at| (at - clock.now()).to_std().unwrap_or(Duration::ZERO));
        tokio::select! {
            () = sleep(wait) => {
                let due = table.take_due(&all(&rules), clock.now());
                for d in due.iter().filter(|d| d.skipped > 0) {
                    tracing::warn!(rule = %d.rule, skipped = d.skipped, "fires skipped while busy or down");
                }
                let names: Vec<String> = due.into_iter().map(|d| d.rule).collect();
                if !names.is_empty() {
                    batch(runner, &rules, &names, &mut table, &mut backoff, clock).await;
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            Some(reload) = reloads.recv() => match reload {
                Ok(new) => {
                    rules = new;
                    table = Timetable::new(&all(&rules), clock.now(), config.seed);
                    backoff.clear();
                    tracing::info!(rules = rules.rules.len(), next = ?table.next_wakeup(), "rules reloaded");
                }
                Err(errors) => tracing::error!(
                    "rules not reloaded; the previous rules keep running: {errors}"
                ),
            },
        }
    }
    rules
}

/// One run of `names`, and what it means for their schedule.
async fn batch(
    runner: &mut impl Runner,
    rules: &RuleSet,
    names: &[String],
    table: &mut Timetable,
    backoff: &mut HashMap<String, Duration>,
    clock: &impl Clock,
) {
    match runner.run(rules, names).await {
        RunOutcome::Ran => {
            for name in names {
                backoff.remove(name);
            }
        }
        RunOutcome::Unreachable => {
            let now = clock.now();
            for name in names {
                let wait = backoff
                    .get(name)
                    .map_or(FIRST_BACKOFF, |b| (*b * 2).min(MAX_BACKOFF));
                backoff.insert(name.clone(), wait);
                table.retry_at(
                    name,
                    now + chrono::TimeDelta::from_std(wait).unwrap_or_default(),
                );
            }
        }
        RunOutcome::NotRun => {}
    }
}

fn all(rules: &RuleSet) -> Vec<&Rule> {
    rules.rules.iter().collect()
}

async fn sleep(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Wall time that follows tokio's (paused) clock from a fixed start.
    struct PausedClock {
        start: DateTime<Utc>,
        origin: tokio::time::Instant,
    }

    impl PausedClock {
        fn new() -> PausedClock {
            PausedClock {
                // A Saturday, 10:00:00 UTC.
                start: "2026-11-28T10:00:00Z".parse().unwrap(),
                origin: tokio::time::Instant::now(),
            }
        }

        /// Seconds since the start.
        fn secs(&self) -> u64 {
            self.origin.elapsed().as_secs()
        }
    }

    impl Clock for PausedClock {
        fn now(&self) -> DateTime<Utc> {
            self.start + chrono::TimeDelta::from_std(self.origin.elapsed()).unwrap()
        }
    }

    /// Each run the loop asked for: seconds since the start, and the rules.
    type Calls = Arc<Mutex<Vec<(u64, Vec<String>)>>>;

    /// Records each run (seconds since start, rule names) and answers from a script;
    /// each run takes `takes` of (virtual) time.
    struct Scripted {
        clock: Arc<PausedClock>,
        calls: Calls,
        answers: Vec<RunOutcome>,
        takes: Duration,
        finished: Arc<Mutex<Vec<u64>>>,
    }

    impl Scripted {
        fn new(clock: &Arc<PausedClock>, answers: Vec<RunOutcome>) -> Scripted {
            Scripted {
                clock: clock.clone(),
                calls: Arc::default(),
                answers,
                takes: Duration::ZERO,
                finished: Arc::default(),
            }
        }
    }

    impl Runner for Scripted {
        async fn run(&mut self, _rules: &RuleSet, names: &[String]) -> RunOutcome {
            self.calls
                .lock()
                .unwrap()
                .push((self.clock.secs(), names.to_vec()));
            tokio::time::sleep(self.takes).await;
            self.finished.lock().unwrap().push(self.clock.secs());
            if self.answers.is_empty() {
                RunOutcome::Ran
            } else {
                self.answers.remove(0)
            }
        }
    }

    fn rules(yaml_rules: &str) -> RuleSet {
        swab_rules::load_str(
            "t.yaml",
            &format!("version: 1\ntimezone: UTC\nrules:\n{yaml_rules}"),
        )
        .unwrap()
    }

    fn every(name: &str, schedule: &str) -> String {
        format!("  - name: {name}\n    action: prune-containers\n    schedule: \"{schedule}\"\n")
    }

    const CONFIG: Config = Config {
        seed: 0,
        run_on_start: false,
    };

    /// Starts the loop on its own task; returns the handles the test drives it with.
    fn start(
        set: RuleSet,
        mut runner: Scripted,
        clock: Arc<PausedClock>,
        config: Config,
    ) -> (
        mpsc::Sender<Reload>,
        watch::Sender<bool>,
        tokio::task::JoinHandle<RuleSet>,
    ) {
        let (reload_tx, reload_rx) = mpsc::channel(4);
        let (stop_tx, stop_rx) = watch::channel(false);
        let handle = tokio::spawn(async move {
            run(config, set, &mut runner, clock.as_ref(), reload_rx, stop_rx).await
        });
        (reload_tx, stop_tx, handle)
    }

    #[tokio::test(start_paused = true)]
    async fn rules_fire_at_their_times_and_rules_due_together_run_together() {
        let clock = Arc::new(PausedClock::new());
        let runner = Scripted::new(&clock, Vec::new());
        let calls = runner.calls.clone();
        // Every minute, and every 2 minutes (with seconds field: at second 0).
        let set = rules(&(every("a", "* * * * *") + &every("b", "*/2 * * * *")));
        let (_reload, stop, handle) = start(set, runner, clock.clone(), CONFIG);
        tokio::time::sleep(Duration::from_secs(5 * 60 + 1)).await;
        stop.send(true).unwrap();
        handle.await.unwrap();
        let calls = calls.lock().unwrap().clone();
        let ab = vec!["a".to_owned(), "b".to_owned()];
        let a = vec!["a".to_owned()];
        assert_eq!(
            calls,
            [
                (60, a.clone()),
                (120, ab.clone()),
                (180, a.clone()),
                (240, ab),
                (300, a)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_broken_reload_keeps_the_old_rules_and_a_good_one_replaces_them() {
        let clock = Arc::new(PausedClock::new());
        let runner = Scripted::new(&clock, Vec::new());
        let calls = runner.calls.clone();
        let (reload, stop, handle) = start(
            rules(&every("old", "* * * * *")),
            runner,
            clock.clone(),
            CONFIG,
        );
        tokio::time::sleep(Duration::from_secs(30)).await;
        reload
            .send(Err("r.yaml:3:7: unknown key `schedul`".to_owned()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        // At 90 s: the old rule fired at 60 s despite the broken reload.
        reload
            .send(Ok(rules(&every("new", "*/2 * * * *"))))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(90)).await;
        stop.send(true).unwrap();
        let kept = handle.await.unwrap();
        assert_eq!(kept.rules[0].name, "new");
        let calls = calls.lock().unwrap().clone();
        assert_eq!(
            calls,
            [(60, vec!["old".to_owned()]), (120, vec!["new".to_owned()])]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_during_a_run_waits_for_it_and_starts_nothing_after() {
        let clock = Arc::new(PausedClock::new());
        let mut runner = Scripted::new(&clock, Vec::new());
        runner.takes = Duration::from_secs(45);
        let calls = runner.calls.clone();
        let finished = runner.finished.clone();
        let (_reload, stop, handle) = start(
            rules(&every("a", "* * * * *")),
            runner,
            clock.clone(),
            CONFIG,
        );
        tokio::time::sleep(Duration::from_secs(70)).await;
        // The run started at 60 s and takes until 105 s.
        stop.send(true).unwrap();
        handle.await.unwrap();
        assert_eq!(clock.secs(), 105, "the loop ended when the run did");
        assert_eq!(*finished.lock().unwrap(), [105]);
        assert_eq!(calls.lock().unwrap().len(), 1, "nothing started after");
    }

    #[tokio::test(start_paused = true)]
    async fn unreachable_docker_is_retried_with_doubling_back_off_until_the_next_fire() {
        let clock = Arc::new(PausedClock::new());
        let runner = Scripted::new(&clock, vec![RunOutcome::Unreachable; 5]);
        let calls = runner.calls.clone();
        let (_reload, stop, handle) = start(
            rules(&every("a", "0 * * * *")),
            runner,
            clock.clone(),
            CONFIG,
        );
        // Hourly at :00; the clock starts at 10:00:00, so the first fire is 11:00 (3600 s).
        tokio::time::sleep(Duration::from_secs(3600 + 5 + 10 + 20 + 40 + 80 + 1)).await;
        stop.send(true).unwrap();
        handle.await.unwrap();
        let times: Vec<u64> = calls.lock().unwrap().iter().map(|(t, _)| *t).collect();
        // Five unreachable runs, each retried after 5, 10, 20, 40, 80 s; the sixth ran.
        assert_eq!(times, [3600, 3605, 3615, 3635, 3675, 3755]);
    }

    #[tokio::test(start_paused = true)]
    async fn run_on_start_runs_every_scheduled_rule_once_before_sleeping() {
        let clock = Arc::new(PausedClock::new());
        let runner = Scripted::new(&clock, Vec::new());
        let calls = runner.calls.clone();
        let set =
            rules(&(every("a", "0 * * * *") + "  - name: manual\n    action: prune-containers\n"));
        let config = Config {
            run_on_start: true,
            ..CONFIG
        };
        let (_reload, stop, handle) = start(set, runner, clock.clone(), config);
        tokio::time::sleep(Duration::from_secs(10)).await;
        stop.send(true).unwrap();
        handle.await.unwrap();
        assert_eq!(*calls.lock().unwrap(), [(0, vec!["a".to_owned()])]);
    }
}
