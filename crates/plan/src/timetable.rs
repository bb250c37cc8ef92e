//! When each scheduled rule fires next. Pure: the daemon passes "now" in and sleeps until
//! [`Timetable::next_wakeup`]; nothing here reads the clock.
//!
//! Missed fires are not replayed: after a rule runs (or the daemon was busy or down), its
//! next fire is the first scheduled time after *now*. Jitter spreads a fleet's runs: each
//! fire is delayed by a pseudo-random offset below the rule's `jitter`, derived from a
//! per-host seed, the rule name and the nominal time, so it is stable for a given host but
//! differs between hosts.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use chrono::{DateTime, Utc};
use swab_rules::Rule;

/// The next fire of every scheduled rule.
#[derive(Debug, Clone, Default)]
pub struct Timetable {
    entries: Vec<Entry>,
    seed: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    rule: String,
    /// The scheduled wall-clock fire.
    nominal: DateTime<Utc>,
    /// `nominal` plus jitter: when it actually runs.
    at: DateTime<Utc>,
    /// An extra run before `at`, after the Docker daemon was unreachable. Kept apart from
    /// the schedule so a retry never uses up the next regular fire.
    retry: Option<DateTime<Utc>>,
}

impl Entry {
    fn next(&self) -> DateTime<Utc> {
        self.retry.map_or(self.at, |r| r.min(self.at))
    }
}

/// A rule that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Its name.
    pub rule: String,
    /// The scheduled time it fires for.
    pub nominal: DateTime<Utc>,
    /// Scheduled fires between that one and now that were skipped (busy or down).
    pub skipped: u32,
}

impl Timetable {
    /// The first fire after `now` of each rule with a schedule.
    pub fn new(rules: &[&Rule], now: DateTime<Utc>, seed: u64) -> Timetable {
        let mut table = Timetable {
            entries: Vec::new(),
            seed,
        };
        for rule in rules {
            if let Some(entry) = table.entry_after(rule, now) {
                table.entries.push(entry);
            }
        }
        table
    }

    fn entry_after(&self, rule: &Rule, after: DateTime<Utc>) -> Option<Entry> {
        let nominal = rule.schedule.as_ref()?.next_after(after)?;
        let at = nominal + jitter_for(self.seed, &rule.name, nominal, rule.jitter);
        Some(Entry {
            rule: rule.name.clone(),
            nominal,
            at,
            retry: None,
        })
    }

    /// When the daemon should wake up next; `None` when no rule is scheduled.
    pub fn next_wakeup(&self) -> Option<DateTime<Utc>> {
        self.entries.iter().map(Entry::next).min()
    }

    /// The rules due at `now`, in rule-file order, and advances each to its first fire
    /// after `now` (so fires missed while busy are skipped, not replayed).
    pub fn take_due(&mut self, rules: &[&Rule], now: DateTime<Utc>) -> Vec<Due> {
        let mut due = Vec::new();
        for rule in rules {
            let Some(index) = self.entries.iter().position(|e| e.rule == rule.name) else {
                continue;
            };
            if let Some(retry) = self.entries[index].retry
                && retry <= now
                && self.entries[index].at > now
            {
                // A retry, not a scheduled fire: the schedule stays as it is.
                self.entries[index].retry = None;
                due.push(Due {
                    rule: rule.name.clone(),
                    nominal: retry,
                    skipped: 0,
                });
                continue;
            }
            if self.entries[index].at > now {
                continue;
            }
            let nominal = self.entries[index].nominal;
            let mut skipped = 0u32;
            let mut next = self.entry_after(rule, nominal);
            while let Some(entry) = &next {
                if entry.at > now {
                    break;
                }
                skipped += 1;
                next = self.entry_after(rule, entry.nominal);
            }
            due.push(Due {
                rule: rule.name.clone(),
                nominal,
                skipped,
            });
            match next {
                Some(entry) => self.entries[index] = entry,
                None => {
                    self.entries.remove(index);
                }
            }
        }
        due
    }

    /// Adds an extra run of a rule at `at` (a retry after the Docker daemon was unreachable),
    /// unless its regular fire comes first. The regular schedule is unchanged.
    pub fn retry_at(&mut self, rule: &str, at: DateTime<Utc>) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.rule == rule) {
            entry.retry = (at < entry.at).then_some(at);
        }
    }
}

fn jitter_for(
    seed: u64,
    rule: &str,
    nominal: DateTime<Utc>,
    jitter: Option<Duration>,
) -> chrono::TimeDelta {
    let Some(jitter) = jitter.filter(|j| !j.is_zero()) else {
        return chrono::TimeDelta::zero();
    };
    let mut hasher = DefaultHasher::new();
    (seed, rule, nominal.timestamp()).hash(&mut hasher);
    let millis = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX).max(1);
    chrono::TimeDelta::milliseconds(i64::try_from(hasher.finish() % millis).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rules(yaml: &str) -> swab_rules::RuleSet {
        swab_rules::load_str("t.yaml", yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    const TWO: &str = "version: 1\nrules:\n  - name: nightly\n    action: prune-containers\n    schedule: \"0 3 * * *\"\n  - name: fast\n    action: prune-images\n    schedule: \"*/10 * * * * *\"\n  - name: manual\n    action: prune-images\n";

    #[test]
    fn wakes_for_the_earliest_rule_and_ignores_unscheduled_ones() {
        let set = rules(TWO);
        let rules: Vec<_> = set.rules.iter().collect();
        let now = utc(2026, 1, 1, 2, 59, 55);
        let mut table = Timetable::new(&rules, now, 1);
        assert_eq!(table.next_wakeup(), Some(utc(2026, 1, 1, 3, 0, 0)));
        let due = table.take_due(&rules, utc(2026, 1, 1, 3, 0, 0));
        let names: Vec<_> = due.iter().map(|d| d.rule.as_str()).collect();
        assert_eq!(names, ["nightly", "fast"]);
        assert_eq!(table.next_wakeup(), Some(utc(2026, 1, 1, 3, 0, 10)));
    }

    #[test]
    fn missed_fires_are_skipped_not_replayed() {
        let set = rules(TWO);
        let rules: Vec<_> = set.rules.iter().collect();
        let mut table = Timetable::new(&rules, utc(2026, 1, 1, 12, 0, 1), 1);
        // Busy for a minute: five 10-second fires passed; the rule runs once.
        let due = table.take_due(&rules, utc(2026, 1, 1, 12, 1, 5));
        assert_eq!(
            due,
            [Due {
                rule: "fast".into(),
                nominal: utc(2026, 1, 1, 12, 0, 10),
                skipped: 5
            }]
        );
        assert_eq!(table.next_wakeup(), Some(utc(2026, 1, 1, 12, 1, 10)));
        assert!(table.take_due(&rules, utc(2026, 1, 1, 12, 1, 9)).is_empty());
    }

    #[test]
    fn a_retry_runs_early_and_keeps_the_next_scheduled_fire() {
        let set = rules(TWO);
        let rules: Vec<_> = set.rules.iter().collect();
        let nightly: Vec<_> = rules
            .iter()
            .copied()
            .filter(|r| r.name == "nightly")
            .collect();
        let mut table = Timetable::new(&nightly, utc(2026, 1, 1, 2, 0, 0), 1);
        let due = table.take_due(&nightly, utc(2026, 1, 1, 3, 0, 0));
        assert_eq!(due.len(), 1);
        // Docker was down: retry five seconds later.
        table.retry_at("nightly", utc(2026, 1, 1, 3, 0, 5));
        assert_eq!(table.next_wakeup(), Some(utc(2026, 1, 1, 3, 0, 5)));
        let retried = table.take_due(&nightly, utc(2026, 1, 1, 3, 0, 5));
        assert_eq!(retried[0].rule, "nightly");
        // The next regular fire is still tomorrow at 03:00, not the day after.
        assert_eq!(table.next_wakeup(), Some(utc(2026, 1, 2, 3, 0, 0)));
    }

    #[test]
    fn jitter_is_bounded_stable_per_host_and_differs_between_hosts() {
        let set = rules(
            "version: 1\nrules:\n  - name: pull\n    action: prune-images\n    schedule: \"0 * * * *\"\n    jitter: 5m\n",
        );
        let rules: Vec<_> = set.rules.iter().collect();
        let now = utc(2026, 1, 1, 0, 30, 0);
        let hour = utc(2026, 1, 1, 1, 0, 0);
        let wakeups: Vec<_> = (0..50)
            .map(|seed| Timetable::new(&rules, now, seed).next_wakeup().unwrap())
            .collect();
        for w in &wakeups {
            assert!(
                *w >= hour && *w < hour + chrono::TimeDelta::minutes(5),
                "{w}"
            );
        }
        let distinct: std::collections::HashSet<_> = wakeups.iter().collect();
        assert!(
            distinct.len() > 40,
            "hosts spread out: {} distinct",
            distinct.len()
        );
        assert_eq!(
            Timetable::new(&rules, now, 7).next_wakeup(),
            Timetable::new(&rules, now, 7).next_wakeup()
        );
    }

    #[test]
    fn dst_daily_fire_happens_once_in_berlin_and_new_york() {
        for (tz, spring_utc, fall_utc) in [
            // Europe/Berlin: 2024-03-31 02:30 does not exist -> 03:00 CEST (01:00 UTC);
            // 2024-10-27 02:30 happens twice -> the first (CEST, 00:30 UTC).
            (
                "Europe/Berlin",
                utc(2024, 3, 31, 1, 0, 0),
                utc(2024, 10, 27, 0, 30, 0),
            ),
            // America/New_York: 2024-03-10 02:30 skipped -> 03:00 EDT (07:00 UTC);
            // 2024-11-03 02:30 is not repeated there (01:xx is), fires at 02:30 EST (07:30 UTC).
            (
                "America/New_York",
                utc(2024, 3, 10, 7, 0, 0),
                utc(2024, 11, 3, 7, 30, 0),
            ),
        ] {
            let set = rules(&format!(
                "version: 1\ntimezone: {tz}\nrules:\n  - name: d\n    action: prune-images\n    schedule: \"30 2 * * *\"\n"
            ));
            let rules: Vec<_> = set.rules.iter().collect();
            for (day_start, expected) in [(spring_utc, spring_utc), (fall_utc, fall_utc)] {
                let from = day_start - chrono::TimeDelta::hours(12);
                let mut table = Timetable::new(&rules, from, 0);
                let mut fires = Vec::new();
                let mut now = from;
                while now < from + chrono::TimeDelta::hours(24) {
                    now = table.next_wakeup().unwrap();
                    if now >= from + chrono::TimeDelta::hours(24) {
                        break;
                    }
                    fires.extend(table.take_due(&rules, now).into_iter().map(|d| d.nominal));
                }
                assert_eq!(fires, [expected], "{tz}");
            }
        }
    }
}
