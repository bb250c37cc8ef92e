//! Docker Hub's pull rate limit, as its `ratelimit-limit` and `ratelimit-remaining` headers
//! tell it (`100;w=21600`: 100 pulls per 6 hours). Hub sends them on manifest requests,
//! `HEAD` included, which itself does not count as a pull; other registries send none.

use std::fmt;

/// What a registry said about its pull rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RateLimit {
    /// Pulls allowed per window.
    pub limit: u64,
    /// Pulls left in the current window.
    pub remaining: u64,
    /// The window, in seconds, when the registry says.
    pub window_seconds: Option<u64>,
}

impl RateLimit {
    /// Reads the two headers; `None` unless both are there and well-formed.
    pub fn from_headers(limit: Option<&str>, remaining: Option<&str>) -> Option<RateLimit> {
        let (limit, window) = parse(limit?)?;
        let (remaining, remaining_window) = parse(remaining?)?;
        Some(RateLimit {
            limit,
            remaining,
            window_seconds: window.or(remaining_window),
        })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {} pulls left", self.remaining, self.limit)?;
        if let Some(w) = self.window_seconds {
            write!(f, " per {}h", w.div_ceil(3600))?;
        }
        Ok(())
    }
}

/// `100;w=21600` to `(100, Some(21600))`.
fn parse(value: &str) -> Option<(u64, Option<u64>)> {
    let mut parts = value.split(';');
    let count = parts.next()?.trim().parse().ok()?;
    let window = parts
        .filter_map(|p| p.trim().strip_prefix("w="))
        .find_map(|w| w.trim().parse().ok());
    Some((count, window))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_headers() {
        let cases = [
            (
                Some("100;w=21600"),
                Some("76;w=21600"),
                Some(RateLimit {
                    limit: 100,
                    remaining: 76,
                    window_seconds: Some(21_600),
                }),
            ),
            (
                Some("200"),
                Some("0"),
                Some(RateLimit {
                    limit: 200,
                    remaining: 0,
                    window_seconds: None,
                }),
            ),
            (Some("100;w=21600"), None, None),
            (Some("lots"), Some("3"), None),
        ];
        for (limit, remaining, expected) in cases {
            assert_eq!(
                RateLimit::from_headers(limit, remaining),
                expected,
                "{limit:?}"
            );
        }
        assert_eq!(
            RateLimit::from_headers(Some("100;w=21600"), Some("7;w=21600"))
                .unwrap()
                .to_string(),
            "7 of 100 pulls left per 6h"
        );
    }
}
