//! Maintenance windows: whether a rule may apply anything now, and whether an update would
//! finish before its window closes. Pure: the time is passed in.
//!
//! A window opens at each fire time of its `start` schedule (in the rule set's time zone,
//! so DST is handled as schedules handle it) and stays open for its duration. A rule with
//! several windows is open while any of them is.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use swab_rules::Window;

/// Whether a rule's windows let it apply something now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    /// The rule has no windows: any time.
    Always,
    /// A window is open until then.
    Open {
        /// When the (last-closing) open window closes.
        until: SystemTime,
    },
    /// No window is open; the next one opens then (`None`: no schedule fires again).
    Closed {
        /// When the next window opens.
        next: Option<SystemTime>,
    },
}

/// The state of `windows` at `now`.
pub fn state(windows: &[Window], now: SystemTime) -> WindowState {
    if windows.is_empty() {
        return WindowState::Always;
    }
    let now_utc = DateTime::<Utc>::from(now);
    let mut until: Option<SystemTime> = None;
    let mut next: Option<SystemTime> = None;
    for w in windows {
        // The last opening at or before now is the first one after (now - duration); a
        // window is open if that opening is not in the future.
        let Ok(duration) = chrono::Duration::from_std(w.duration) else {
            continue;
        };
        let since = now_utc - duration;
        if let Some(opened) = w.start.next_after(since)
            && opened <= now_utc
        {
            let closes = SystemTime::from(opened) + w.duration;
            if closes > now {
                until = Some(until.map_or(closes, |u| u.max(closes)));
            }
        }
        if let Some(opens) = w.start.next_after(now_utc) {
            let opens = SystemTime::from(opens);
            next = Some(next.map_or(opens, |n| n.min(opens)));
        }
    }
    match until {
        Some(until) => WindowState::Open { until },
        None => WindowState::Closed { next },
    }
}

/// Why nothing is applied now, if the windows are closed: `pending: outside its maintenance
/// window; the next opens Sat 2026-12-05 02:00 UTC`.
pub fn closed_reason(windows: &[Window], now: SystemTime) -> Option<String> {
    match state(windows, now) {
        WindowState::Closed { next } => Some(pending_until(windows, next)),
        WindowState::Always | WindowState::Open { .. } => None,
    }
}

/// `pending: outside its maintenance window; the next opens ...`.
fn pending_until(windows: &[Window], next: Option<SystemTime>) -> String {
    match next {
        Some(next) => format!(
            "pending: outside its maintenance window; the next opens {}",
            describe_time(windows, next)
        ),
        None => "pending: outside its maintenance window, which never opens again".to_owned(),
    }
}

/// Whether an update that may take up to `needs` can start now: `None` if so, else why not
/// and when the next window opens.
pub fn hold_update(
    windows: &[Window],
    now: SystemTime,
    needs: Duration,
) -> Option<(String, Option<SystemTime>)> {
    match state(windows, now) {
        WindowState::Always => None,
        WindowState::Closed { next } => Some((pending_until(windows, next), next)),
        WindowState::Open { until } if now + needs <= until => None,
        WindowState::Open { until } => {
            let next = match state(windows, until + Duration::from_secs(1)) {
                WindowState::Closed { next } => next,
                WindowState::Always | WindowState::Open { .. } => None,
            };
            let mut why = format!(
                "pending: could not finish before its maintenance window closes at {} (needs up to {})",
                describe_time(windows, until),
                swab_rules::units::format_duration(needs)
            );
            if let Some(next) = next {
                let _ = write!(why, "; the next opens {}", describe_time(windows, next));
            }
            Some((why, next))
        }
    }
}

/// `Sat 02:00 CET`: a window's opening as people read it, in its own time zone.
pub fn describe_time(windows: &[Window], at: SystemTime) -> String {
    let tz = windows
        .first()
        .map_or(chrono_tz::UTC, |w| w.start.timezone());
    DateTime::<Utc>::from(at)
        .with_timezone(&tz)
        .format("%a %Y-%m-%d %H:%M %Z")
        .to_string()
}

/// The longest an update of `containers` containers can take once started: for each, its
/// stop grace period and its health gate; then all its hooks' timeouts (`hooks`), and a
/// minute for the pull and the tags. An update that could not finish before its window
/// closes is not started.
pub fn worst_case(
    containers: usize,
    stop: Duration,
    health: Duration,
    hooks: Duration,
) -> Duration {
    let per_container = stop + health;
    Duration::from_secs(60) + per_container * u32::try_from(containers).unwrap_or(u32::MAX) + hooks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: &str, hours: u64, tz: chrono_tz::Tz) -> Window {
        Window {
            start: swab_rules::Schedule::parse(start, tz).unwrap(),
            duration: Duration::from_secs(hours * 3600),
        }
    }

    fn at(text: &str) -> SystemTime {
        SystemTime::from(DateTime::parse_from_rfc3339(text).unwrap())
    }

    #[test]
    fn open_closed_and_the_next_opening() {
        let saturday = [window("0 2 * * 6", 3, chrono_tz::UTC)];
        // 2026-11-28 is a Saturday.
        let cases = [
            (
                "2026-11-28T01:59:00Z",
                WindowState::Closed {
                    next: Some(at("2026-11-28T02:00:00Z")),
                },
            ),
            (
                "2026-11-28T02:00:00Z",
                WindowState::Open {
                    until: at("2026-11-28T05:00:00Z"),
                },
            ),
            (
                "2026-11-28T04:59:59Z",
                WindowState::Open {
                    until: at("2026-11-28T05:00:00Z"),
                },
            ),
            (
                "2026-11-28T05:00:00Z",
                WindowState::Closed {
                    next: Some(at("2026-12-05T02:00:00Z")),
                },
            ),
            (
                "2026-12-01T12:00:00Z",
                WindowState::Closed {
                    next: Some(at("2026-12-05T02:00:00Z")),
                },
            ),
        ];
        for (now, expected) in cases {
            assert_eq!(state(&saturday, at(now)), expected, "{now}");
        }
        assert_eq!(state(&[], at("2026-12-01T12:00:00Z")), WindowState::Always);
        // Two windows: open while either is; the later close wins.
        let two = [
            window("0 2 * * 6", 3, chrono_tz::UTC),
            window("0 4 * * 6", 2, chrono_tz::UTC),
        ];
        assert_eq!(
            state(&two, at("2026-11-28T04:30:00Z")),
            WindowState::Open {
                until: at("2026-11-28T06:00:00Z")
            }
        );
    }

    #[test]
    fn windows_follow_their_time_zone_across_dst() {
        // 02:30 in Berlin: on 2027-03-28 (spring forward) the clock skips 02:00-03:00, and
        // the schedule fires as schedules do there; in winter 02:30 CET is 01:30 UTC.
        let berlin = [window("30 2 * * *", 1, chrono_tz::Europe::Berlin)];
        assert_eq!(
            state(&berlin, at("2026-12-01T01:45:00Z")),
            WindowState::Open {
                until: at("2026-12-01T02:30:00Z")
            }
        );
        assert_eq!(
            describe_time(&berlin, at("2026-12-01T01:30:00Z")),
            "Tue 2026-12-01 02:30 CET"
        );
        let WindowState::Closed { next: Some(next) } = state(&berlin, at("2027-03-27T23:00:00Z"))
        else {
            panic!("closed before the DST night");
        };
        let next_schedule = berlin[0]
            .start
            .next_after(DateTime::<Utc>::from(at("2027-03-27T23:00:00Z")))
            .unwrap();
        assert_eq!(
            next,
            SystemTime::from(next_schedule),
            "the schedule's own DST rule"
        );
    }

    #[test]
    fn an_update_that_would_cross_the_windows_end_is_not_started() {
        let saturday = [window("0 2 * * 6", 3, chrono_tz::UTC)];
        let ten_minutes = Duration::from_secs(600);
        assert_eq!(
            hold_update(&saturday, at("2026-11-28T04:40:00Z"), ten_minutes),
            None,
            "fits: 04:40 + 10m <= 05:00"
        );
        let (why, next) = hold_update(&saturday, at("2026-11-28T04:55:00Z"), ten_minutes).unwrap();
        assert_eq!(
            why,
            "pending: could not finish before its maintenance window closes at Sat 2026-11-28 05:00 UTC (needs up to 10m); the next opens Sat 2026-12-05 02:00 UTC"
        );
        assert_eq!(next, Some(at("2026-12-05T02:00:00Z")));
        let (why, _) = hold_update(&saturday, at("2026-11-28T06:00:00Z"), ten_minutes).unwrap();
        assert_eq!(
            why,
            "pending: outside its maintenance window; the next opens Sat 2026-12-05 02:00 UTC"
        );
        assert_eq!(
            hold_update(&[], at("2026-11-28T06:00:00Z"), ten_minutes),
            None
        );
    }

    #[test]
    fn the_worst_case_counts_every_container() {
        let d = |s| Duration::from_secs(s);
        assert_eq!(worst_case(1, d(10), d(60), d(0)), d(130));
        assert_eq!(worst_case(3, d(10), d(60), d(120)), d(60 + 3 * 70 + 120));
    }
}
