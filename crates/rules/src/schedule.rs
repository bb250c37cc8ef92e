//! Cron schedules evaluated in a time zone, with exact DST rules.
//!
//! Parsing and field matching are croner's (POSIX 5 fields, optional leading
//! seconds, `@daily` style macros, and crontab's rule that a restricted
//! day-of-month and day-of-week are ORed). Croner is asked only about *wall
//! clock* times (`NaiveDateTime`); this module maps them onto real instants
//! itself so that DST has one simple, documented rule for every schedule:
//!
//! * a wall-clock time that a spring-forward skips fires once, at the first
//!   instant after the gap (02:30 in Europe/Berlin on the last Sunday of
//!   March fires at 03:00 CEST); several skipped times collapse into that one
//!   firing;
//! * a wall-clock time that a fall-back repeats fires once, at its first
//!   occurrence (the summer-time one).
//!
//! This holds for interval schedules too (`0 * * * *` does not fire twice at
//! 02:00 on the fall-back day, leaving a two-hour pause instead). Croner's own
//! zoned search fires interval jobs on both occurrences; swab's contract is
//! "a time skipped or repeated by a DST change fires exactly once", and for a
//! janitor one run less in a repeated hour is harmless while a doubled run is
//! surprising.
//!
//! Everything is pure: callers pass "now", nothing reads the clock.

use std::fmt;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// Upper bound on wall-clock candidates examined by one search. A candidate
/// is only rejected when it lies in the second pass of a repeated
/// (fall-back) range; this bound covers a full day of them at one-second
/// resolution, far more than any real time zone repeats.
const MAX_CANDIDATES: usize = 100_000;

/// A parsed cron expression bound to a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    cron: Cron,
    timezone: Tz,
}

/// Why a schedule expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// Croner rejected the expression; the text is croner's reason.
    #[error("{0}")]
    Invalid(String),
    /// The expression parses but no date ever matches (e.g. `0 0 30 2 *`).
    #[error("no date ever matches it")]
    NeverFires(String),
}

impl Schedule {
    /// Parses a crontab expression: 5 fields (`0 3 * * *`), 6 fields with
    /// leading seconds (`*/5 * * * * *`), or a macro (`@hourly`, `@daily`,
    /// `@weekly`, `@monthly`, `@yearly`, `@annually`).
    ///
    /// Fails on anything croner rejects, on 7 fields (years are not part of
    /// swab's language), and on expressions that can never fire.
    pub fn parse(expression: &str, timezone: Tz) -> Result<Self, ScheduleError> {
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .dom_and_dow(false)
            .alternative_weekdays(false)
            .build();
        let cron = parser
            .parse(expression)
            .map_err(|error| ScheduleError::Invalid(cron_reason(&error)))?;
        let reference = DateTime::from_timestamp(946_684_800, 0)
            .unwrap_or_default()
            .naive_utc();
        if cron.find_next_occurrence(&reference, false).is_err() {
            return Err(ScheduleError::NeverFires(expression.to_owned()));
        }
        Ok(Self {
            expression: expression.trim().to_owned(),
            cron,
            timezone,
        })
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone the expression is evaluated in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The first firing strictly after `after`, or `None` if there is none
    /// before croner's search limit (year 5000).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let tz = self.timezone;
        let local = after.with_timezone(&tz).naive_local();
        let mut cursor = local.with_nanosecond(0).unwrap_or(local);
        for _ in 0..MAX_CANDIDATES {
            let wall = self.cron.find_next_occurrence(&cursor, false).ok()?;
            let instant = match tz.from_local_datetime(&wall) {
                LocalResult::Single(instant) => instant.with_timezone(&Utc),
                LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
                LocalResult::None => first_instant_after_gap(tz, wall)?,
            };
            if instant > after {
                return Some(instant);
            }
            cursor = wall;
        }
        None
    }

    /// The next `count` firings after `from`, in order.
    pub fn next_fire_times(&self, from: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let mut times = Vec::with_capacity(count);
        let mut current = from;
        while times.len() < count {
            match self.next_after(current) {
                Some(next) => {
                    times.push(next);
                    current = next;
                }
                None => break,
            }
        }
        times
    }

    /// Croner's English description of the expression.
    pub fn describe(&self) -> String {
        self.cron.describe()
    }
}

/// Croner's reason in swab's words: croner's messages are terse
/// ("Component error: Number out of bounds."), so the common ones are
/// replaced by something a user can act on.
fn cron_reason(error: &croner::errors::CronError) -> String {
    use croner::errors::CronError;
    match error {
        CronError::EmptyPattern => "the expression is empty".to_owned(),
        CronError::ComponentError(message) if message.contains("out of bounds") => {
            "a value is out of range (second/minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7)"
                .to_owned()
        }
        other => other.to_string().trim_end_matches('.').to_owned(),
    }
}

/// The first real instant after the DST gap that swallowed `wall`.
///
/// Walks the wall clock forward a minute at a time to the first time that
/// exists, then back second by second to the exact end of the gap (gaps of
/// historic offsets need not end on a whole minute). Gives up after two days.
fn first_instant_after_gap(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    let exists = |time: NaiveDateTime| !matches!(tz.from_local_datetime(&time), LocalResult::None);
    let mut probe = wall;
    let mut found = false;
    for _ in 0..(2 * 24 * 60) {
        probe += TimeDelta::minutes(1);
        if exists(probe) {
            found = true;
            break;
        }
    }
    if !found {
        return None;
    }
    for _ in 0..60 {
        let earlier = probe - TimeDelta::seconds(1);
        if earlier <= wall || !exists(earlier) {
            break;
        }
        probe = earlier;
    }
    tz.from_local_datetime(&probe)
        .earliest()
        .map(|instant| instant.with_timezone(&Utc))
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression)
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression && self.timezone == other.timezone
    }
}

impl Eq for Schedule {}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::Berlin;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .with_timezone(&Utc)
    }

    fn fires(expr: &str, tz: Tz, from: &str, count: usize) -> Vec<String> {
        Schedule::parse(expr, tz)
            .unwrap()
            .next_fire_times(utc(from), count)
            .into_iter()
            .map(|t| t.with_timezone(&tz).to_rfc3339())
            .collect()
    }

    /// All firings in `[from, to)`.
    fn fires_between(expr: &str, tz: Tz, from: &str, to: &str) -> Vec<String> {
        let schedule = Schedule::parse(expr, tz).unwrap();
        let end = utc(to);
        let mut out = Vec::new();
        let mut current = utc(from) - TimeDelta::seconds(1);
        while let Some(next) = schedule.next_after(current) {
            if next >= end {
                break;
            }
            out.push(next.with_timezone(&tz).to_rfc3339());
            current = next;
        }
        out
    }

    #[test]
    fn five_fields_daily() {
        assert_eq!(
            fires("0 3 * * *", Tz::UTC, "2024-05-01T10:00:00Z", 2),
            ["2024-05-02T03:00:00+00:00", "2024-05-03T03:00:00+00:00"]
        );
        // Strictly after: a firing exactly at `from` is not repeated.
        assert_eq!(
            fires("0 3 * * *", Tz::UTC, "2024-05-02T03:00:00Z", 1),
            ["2024-05-03T03:00:00+00:00"]
        );
    }

    #[test]
    fn six_fields_with_seconds() {
        assert_eq!(
            fires("*/5 * * * * *", Tz::UTC, "2024-05-01T10:00:01Z", 3),
            [
                "2024-05-01T10:00:05+00:00",
                "2024-05-01T10:00:10+00:00",
                "2024-05-01T10:00:15+00:00"
            ]
        );
    }

    #[test]
    fn sub_second_now() {
        let schedule = Schedule::parse("* * * * * *", Tz::UTC).unwrap();
        let now = utc("2024-05-01T10:00:00.500Z");
        assert_eq!(schedule.next_after(now), Some(utc("2024-05-01T10:00:01Z")));
    }

    #[test]
    fn macros() {
        let cases = [
            ("@hourly", "2024-05-01T11:00:00+00:00"),
            ("@daily", "2024-05-02T00:00:00+00:00"),
            ("@weekly", "2024-05-05T00:00:00+00:00"),
            ("@monthly", "2024-06-01T00:00:00+00:00"),
            ("@yearly", "2025-01-01T00:00:00+00:00"),
            ("@annually", "2025-01-01T00:00:00+00:00"),
        ];
        for (expr, expected) in cases {
            assert_eq!(
                fires(expr, Tz::UTC, "2024-05-01T10:30:00Z", 1),
                [expected],
                "{expr}"
            );
        }
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // Crontab rule: both restricted means either matches. September
        // 2023 has Fridays 1, 8, 15, 22, 29 and the 13th is a Wednesday.
        let days: Vec<String> = fires("0 0 13 * 5", Tz::UTC, "2023-08-31T12:00:00Z", 6)
            .into_iter()
            .map(|t| t[..10].to_owned())
            .collect();
        assert_eq!(
            days,
            [
                "2023-09-01",
                "2023-09-08",
                "2023-09-13",
                "2023-09-15",
                "2023-09-22",
                "2023-09-29"
            ]
        );
        // Only one restricted: plain AND with `*`.
        assert_eq!(
            fires("0 0 13 * *", Tz::UTC, "2023-08-31T12:00:00Z", 1)[0][..10],
            *"2023-09-13"
        );
    }

    #[test]
    fn rejects_bad_expressions() {
        for expr in [
            "",
            "* * * *",
            "0 0 0 1 1 * 2030",
            "61 * * * *",
            "* * * * 8",
            "@reboot",
            "every day",
            "0/10 * * * *",
        ] {
            assert!(
                Schedule::parse(expr, Tz::UTC).is_err(),
                "{expr:?} should fail"
            );
        }
        assert_eq!(
            Schedule::parse("0 0 30 2 *", Tz::UTC),
            Err(ScheduleError::NeverFires("0 0 30 2 *".into()))
        );
    }

    #[test]
    fn spring_forward_daily_fires_once_after_the_gap() {
        // Berlin: 2024-03-31 02:00 CET -> 03:00 CEST. 02:30 does not exist.
        assert_eq!(
            fires_between(
                "30 2 * * *",
                Berlin,
                "2024-03-30T00:00:00Z",
                "2024-04-02T00:00:00Z"
            ),
            [
                "2024-03-30T02:30:00+01:00",
                "2024-03-31T03:00:00+02:00",
                "2024-04-01T02:30:00+02:00"
            ]
        );
        // New York: 2024-03-10 02:00 EST -> 03:00 EDT.
        assert_eq!(
            fires_between(
                "30 2 * * *",
                New_York,
                "2024-03-09T12:00:00Z",
                "2024-03-11T12:00:00Z"
            ),
            ["2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"]
        );
    }

    #[test]
    fn spring_forward_interval_collapses_skipped_times() {
        // Every 30 minutes: 02:00 and 02:30 are skipped and fire once at
        // 03:00, which is also a regular firing; no double 03:00.
        assert_eq!(
            fires_between(
                "*/30 * * * *",
                Berlin,
                "2024-03-31T00:00:00Z",
                "2024-03-31T02:00:00Z"
            ),
            [
                "2024-03-31T01:00:00+01:00",
                "2024-03-31T01:30:00+01:00",
                "2024-03-31T03:00:00+02:00",
                "2024-03-31T03:30:00+02:00"
            ]
        );
        // Hourly at :00 -- 02:00 is skipped and lands on 03:00 exactly once.
        assert_eq!(
            fires_between(
                "0 * * * *",
                New_York,
                "2024-03-10T05:00:00Z",
                "2024-03-10T09:00:00Z"
            ),
            [
                "2024-03-10T00:00:00-05:00",
                "2024-03-10T01:00:00-05:00",
                "2024-03-10T03:00:00-04:00",
                "2024-03-10T04:00:00-04:00"
            ]
        );
    }

    #[test]
    fn fall_back_fires_once() {
        // Berlin: 2024-10-27 03:00 CEST -> 02:00 CET; 02:xx happens twice.
        assert_eq!(
            fires_between(
                "30 2 * * *",
                Berlin,
                "2024-10-26T00:00:00Z",
                "2024-10-29T00:00:00Z"
            ),
            [
                "2024-10-26T02:30:00+02:00",
                "2024-10-27T02:30:00+02:00",
                "2024-10-28T02:30:00+01:00"
            ]
        );
        // New York: 2024-11-03 02:00 EDT -> 01:00 EST; 01:xx happens twice.
        assert_eq!(
            fires_between(
                "30 1 * * *",
                New_York,
                "2024-11-02T12:00:00Z",
                "2024-11-04T12:00:00Z"
            ),
            ["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"]
        );
    }

    #[test]
    fn fall_back_hourly_does_not_repeat_the_hour() {
        assert_eq!(
            fires_between(
                "0 * * * *",
                Berlin,
                "2024-10-26T22:30:00Z",
                "2024-10-27T03:30:00Z"
            ),
            [
                "2024-10-27T01:00:00+02:00",
                "2024-10-27T02:00:00+02:00",
                "2024-10-27T03:00:00+01:00",
                "2024-10-27T04:00:00+01:00"
            ]
        );
        assert_eq!(
            fires_between(
                "*/20 * * * *",
                New_York,
                "2024-11-03T05:00:00Z",
                "2024-11-03T07:30:00Z"
            ),
            [
                "2024-11-03T01:00:00-04:00",
                "2024-11-03T01:20:00-04:00",
                "2024-11-03T01:40:00-04:00",
                "2024-11-03T02:00:00-05:00",
                "2024-11-03T02:20:00-05:00"
            ]
        );
    }

    #[test]
    fn starting_inside_the_repeated_hour() {
        let schedule = Schedule::parse("*/15 * * * *", Berlin).unwrap();
        // 02:10 CET, the second pass: 02:15..02:45 already fired in CEST.
        let now = utc("2024-10-27T01:10:00Z");
        assert_eq!(
            schedule
                .next_after(now)
                .map(|t| t.with_timezone(&Berlin).to_rfc3339()),
            Some("2024-10-27T03:00:00+01:00".to_owned())
        );
        // 02:10 CEST, the first pass: 02:15 CEST is next.
        let now = utc("2024-10-27T00:10:00Z");
        assert_eq!(
            schedule
                .next_after(now)
                .map(|t| t.with_timezone(&Berlin).to_rfc3339()),
            Some("2024-10-27T02:15:00+02:00".to_owned())
        );
        // Every second, from inside the second pass, is still fast.
        let every_second = Schedule::parse("* * * * * *", Berlin).unwrap();
        assert_eq!(
            every_second.next_after(utc("2024-10-27T01:00:30Z")),
            Some(utc("2024-10-27T02:00:00Z"))
        );
    }

    #[test]
    fn gap_end_is_exact() {
        let wall = NaiveDate::from_ymd_opt(2024, 3, 31)
            .unwrap()
            .and_hms_opt(2, 17, 42)
            .unwrap();
        assert_eq!(
            first_instant_after_gap(Berlin, wall),
            Some(utc("2024-03-31T01:00:00Z"))
        );
    }
}
