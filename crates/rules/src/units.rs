//! Small value parsers: durations, byte sizes and percentages.
//!
//! Each parser returns a plain `Result<_, String>` whose error text completes
//! the sentence "expected ..." so the resolver can wrap it with a location.

use std::fmt;
use std::time::Duration;

/// Longest duration string handed to `humantime`.
///
/// `humantime` 2.4.0 panics on overflowing input such as
/// `18446744073709551615s1000ms`; bounding the length and every number token
/// keeps the sum far below `u64::MAX` seconds, so it can never overflow.
const MAX_DURATION_LEN: usize = 32;
/// Longest run of digits allowed in one number of a duration or size.
const MAX_DIGITS: usize = 10;

/// Parses a human duration such as `7d`, `1w 2d`, `90s` or `0s`.
///
/// Fails on empty input, a number without unit, unknown units, and input that
/// is longer than 32 characters or has a number of more than 10 digits
/// (guards against an overflow panic inside `humantime`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the duration is empty".to_owned());
    }
    if text.len() > MAX_DURATION_LEN {
        return Err(format!(
            "the duration is longer than {MAX_DURATION_LEN} characters"
        ));
    }
    if longest_digit_run(text) > MAX_DIGITS {
        return Err(format!("a number has more than {MAX_DIGITS} digits"));
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("`{text}` has no unit"));
    }
    humantime::parse_duration(text).map_err(|error| error.to_string())
}

/// Renders a duration compactly for descriptions: `2h`, `7d`, `1h 30m`,
/// `1m 30s`, `250ms`. Sub-millisecond parts are dropped.
pub fn format_duration(duration: Duration) -> String {
    const UNITS: [(&str, u64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let mut seconds = duration.as_secs();
    let mut parts = Vec::new();
    for (unit, size) in UNITS {
        if seconds >= size {
            parts.push(format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    let millis = duration.subsec_millis();
    if millis > 0 {
        parts.push(format!("{millis}ms"));
    }
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.join(" ")
    }
}

fn longest_digit_run(text: &str) -> usize {
    let mut longest = 0;
    let mut current = 0;
    for byte in text.bytes() {
        if byte.is_ascii_digit() {
            current += 1;
            longest = longest.max(current);
        } else {
            current = 0;
        }
    }
    longest
}

/// Parses a byte size: `500MB`, `20GB`, `1.5GiB`, `512B`, `10 kB`.
///
/// `KB`/`MB`/`GB`/`TB`/`PB` are decimal (powers of 1000, as Docker prints
/// them), `KiB`/`MiB`/`GiB`/`TiB`/`PiB` binary (powers of 1024). Units are
/// case-insensitive except that the `i` marks binary. A bare number is
/// rejected: a missing unit is far more often a mistake than "bytes".
/// Fractions are rounded down to whole bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim_start();
    if number.is_empty() {
        return Err(format!("`{text}` does not start with a number"));
    }
    if unit.is_empty() {
        return Err(format!("`{text}` has no unit"));
    }
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "b" => 1,
        "kb" | "k" => 1_000,
        "mb" | "m" => 1_000_000,
        "gb" | "g" => 1_000_000_000,
        "tb" | "t" => 1_000_000_000_000,
        "pb" | "p" => 1_000_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "pib" => 1 << 50,
        _ => return Err(format!("unknown unit `{unit}`")),
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    if whole.is_empty() || fraction.contains('.') || (number.contains('.') && fraction.is_empty()) {
        return Err(format!("`{number}` is not a number"));
    }
    if whole.len() > 20 || fraction.len() > 9 {
        return Err("the number is too long".to_owned());
    }
    let whole: u128 = whole
        .parse()
        .map_err(|_| format!("`{number}` is not a number"))?;
    let mut bytes = whole * u128::from(multiplier);
    if !fraction.is_empty() {
        let digits = u32::try_from(fraction.len()).unwrap_or(9);
        let numerator: u128 = fraction
            .parse()
            .map_err(|_| format!("`{number}` is not a number"))?;
        bytes += numerator * u128::from(multiplier) / 10u128.pow(digits);
    }
    u64::try_from(bytes).map_err(|_| "the size does not fit in 64 bits".to_owned())
}

/// Renders a byte count with the largest decimal unit that keeps it exact
/// enough for a description (`20GB`, `1.5GB`, `512B`).
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("PB", 1_000_000_000_000_000),
        ("TB", 1_000_000_000_000),
        ("GB", 1_000_000_000),
        ("MB", 1_000_000),
        ("kB", 1_000),
    ];
    for (unit, size) in UNITS {
        if bytes >= size {
            let tenths = u128::from(bytes) * 10 / u128::from(size);
            return if tenths % 10 == 0 {
                format!("{}{unit}", tenths / 10)
            } else {
                format!("{}.{}{unit}", tenths / 10, tenths % 10)
            };
        }
    }
    format!("{bytes}B")
}

/// A percentage between 0 and 100 with up to two decimals (`85%`, `92.5%`).
///
/// Stored in hundredths of a percent so comparisons are exact integer maths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(u16);

impl Percent {
    /// The percentage in hundredths of a percent (`85%` is 8500).
    pub fn hundredths(self) -> u16 {
        self.0
    }

    /// The percentage as a fraction between 0.0 and 1.0.
    pub fn as_fraction(self) -> f64 {
        f64::from(self.0) / 10_000.0
    }

    /// Builds a percentage from hundredths; `None` above 100%.
    pub fn from_hundredths(hundredths: u16) -> Option<Self> {
        (hundredths <= 10_000).then_some(Self(hundredths))
    }

    /// Whether `used` out of `total` is strictly more than this percentage.
    /// A zero `total` never exceeds anything.
    pub fn is_exceeded_by(self, used: u64, total: u64) -> bool {
        total != 0 && u128::from(used) * 10_000 > u128::from(total) * u128::from(self.0)
    }

    /// Whether `used` out of `total` is strictly less than this percentage.
    /// A zero `total` counts as below any percentage.
    pub fn is_undercut_by(self, used: u64, total: u64) -> bool {
        total == 0 || u128::from(used) * 10_000 < u128::from(total) * u128::from(self.0)
    }

    /// Parses `85%`, `85.5%` or `0%`; the `%` sign is required.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let Some(number) = text.strip_suffix('%') else {
            return Err(format!("`{text}` has no `%` sign"));
        };
        let number = number.trim_end();
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || whole.len() > 3
            || fraction.len() > 2
            || !digits_only(whole)
            || !digits_only(fraction)
            || (number.contains('.') && fraction.is_empty())
        {
            return Err(format!(
                "`{number}` is not a number with at most two decimals"
            ));
        }
        let whole: u16 = whole
            .parse()
            .map_err(|_| format!("`{number}` is not a number"))?;
        let mut fraction_value: u16 = if fraction.is_empty() {
            0
        } else {
            fraction
                .parse()
                .map_err(|_| format!("`{number}` is not a number"))?
        };
        if fraction.len() == 1 {
            fraction_value *= 10;
        }
        let hundredths = u32::from(whole) * 100 + u32::from(fraction_value);
        u16::try_from(hundredths)
            .ok()
            .and_then(Self::from_hundredths)
            .ok_or_else(|| format!("{number}% is more than 100%"))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 100;
        let fraction = self.0 % 100;
        if fraction == 0 {
            write!(f, "{whole}%")
        } else if fraction.is_multiple_of(10) {
            write!(f, "{whole}.{}%", fraction / 10)
        } else {
            write!(f, "{whole}.{fraction:02}%")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases: &[(&str, u64)] = &[
            ("7d", 7 * 86_400),
            ("1w 2d", 9 * 86_400),
            ("90s", 90),
            ("0s", 0),
            ("2h", 7_200),
            ("1h30m", 5_400),
            ("24h", 86_400),
        ];
        for (text, seconds) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(*seconds)),
                "{text}"
            );
        }
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1_500)));
    }

    #[test]
    fn bad_durations_are_errors_not_panics() {
        for text in [
            "",
            "   ",
            "7",
            "1.5",
            "7 dayz",
            "d",
            "-1s",
            "18446744073709551615s1000ms",
            "9999999999999999999999999h",
            "99999999999y 99999999999y",
            "1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s1s",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?} should fail");
        }
        // Ten digits in several tokens still fit comfortably.
        assert!(parse_duration("9999999999y 9999999999y").is_ok());
    }

    #[test]
    fn duration_formatting() {
        assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(format_duration(Duration::from_secs(5_400)), "1h 30m");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m 30s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn sizes() {
        let cases: &[(&str, u64)] = &[
            ("500MB", 500_000_000),
            ("20GB", 20_000_000_000),
            ("1.5GiB", 1_610_612_736),
            ("512B", 512),
            ("0B", 0),
            ("10 kB", 10_000),
            ("1KiB", 1_024),
            ("2TB", 2_000_000_000_000),
            ("1.25MB", 1_250_000),
            ("1tib", 1 << 40),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text), Ok(*bytes), "{text}");
        }
    }

    #[test]
    fn bad_sizes() {
        for text in [
            "",
            "20",
            "GB",
            "20XB",
            "1.2.3GB",
            "1.GB",
            ".5GB",
            "-1GB",
            "20 G B",
            "99999999999999999999PB",
            "18446744073709551616B",
        ] {
            assert!(parse_size(text).is_err(), "{text:?} should fail");
        }
        assert_eq!(parse_size("18446744073709551615B"), Ok(u64::MAX));
    }

    #[test]
    fn size_formatting() {
        assert_eq!(format_size(20_000_000_000), "20GB");
        assert_eq!(format_size(1_500_000_000), "1.5GB");
        assert_eq!(format_size(512), "512B");
    }

    #[test]
    fn percentages() {
        assert_eq!(Percent::parse("85%").map(Percent::hundredths), Ok(8_500));
        assert_eq!(Percent::parse("0%").map(Percent::hundredths), Ok(0));
        assert_eq!(Percent::parse("100%").map(Percent::hundredths), Ok(10_000));
        assert_eq!(Percent::parse("92.5%").map(Percent::hundredths), Ok(9_250));
        assert_eq!(
            Percent::parse("92.25 %").map(Percent::hundredths),
            Ok(9_225)
        );
        for text in [
            "85", "101%", "100.01%", "-5%", "%", "abc%", "1.234%", "1000%", "5.%",
        ] {
            assert!(Percent::parse(text).is_err(), "{text:?} should fail");
        }
        assert_eq!(Percent::parse("92.5%").unwrap().to_string(), "92.5%");
        assert_eq!(Percent::parse("92.25%").unwrap().to_string(), "92.25%");
    }

    #[test]
    fn percent_comparisons() {
        let p = Percent::parse("85%").unwrap();
        assert!(p.is_exceeded_by(86, 100));
        assert!(!p.is_exceeded_by(85, 100));
        assert!(!p.is_exceeded_by(1, 0));
        assert!(p.is_undercut_by(84, 100));
        assert!(!p.is_undercut_by(85, 100));
        assert!(p.is_exceeded_by(u64::MAX, u64::MAX - 1));
    }
}
