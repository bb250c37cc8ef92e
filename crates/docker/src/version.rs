//! Engine API versions and negotiation.
//!
//! swab never pins a low API version: Docker 29 refuses clients below 1.44, which is how
//! Watchtower broke. It asks the daemon once and then speaks the lower of the daemon's version
//! and [`ApiVersion::MAX`], the newest version whose spec this client was written against.

use std::fmt;
use std::str::FromStr;

/// An Engine API version such as `1.41`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    /// Always 1 so far.
    pub major: u16,
    /// The interesting half.
    pub minor: u16,
}

impl ApiVersion {
    /// The oldest API this client talks to: Docker 20.10.
    pub const MIN: ApiVersion = ApiVersion::new(1, 41);
    /// The newest API this client knows (Docker Engine API spec v1.56).
    pub const MAX: ApiVersion = ApiVersion::new(1, 56);
    /// From 1.42 `POST /containers/{id}/stop` and `/restart` take a `signal` that overrides
    /// the container's `StopSignal`.
    pub const STOP_SIGNAL: ApiVersion = ApiVersion::new(1, 42);
    /// From 1.44 a container can be attached to several networks at create time.
    pub const MULTI_NETWORK_CREATE: ApiVersion = ApiVersion::new(1, 44);
    /// From 1.47 `GET /images/json?manifests=1` lists the manifests of an image (its
    /// platforms, on the containerd image store).
    pub const IMAGE_MANIFESTS: ApiVersion = ApiVersion::new(1, 47);
    /// From 1.52 `/system/df` reports per-type usage summaries (`ImageUsage`, ...); from 1.53
    /// the old flat lists are only returned with `verbose=1`.
    pub const DF_USAGE_SUMMARIES: ApiVersion = ApiVersion::new(1, 52);

    /// A version from its parts.
    pub const fn new(major: u16, minor: u16) -> Self {
        ApiVersion { major, minor }
    }

    /// The version to speak with a daemon that reports `server`: the lower of the two.
    /// Fails for daemons older than [`ApiVersion::MIN`].
    pub fn negotiate(server: ApiVersion) -> Result<ApiVersion, crate::Error> {
        if server < Self::MIN {
            return Err(crate::Error::UnsupportedVersion {
                server,
                min: Self::MIN,
            });
        }
        Ok(server.min(Self::MAX))
    }

    /// What an operator should know about a daemon that speaks `server`, if anything: a
    /// daemon newer than swab's newest known API is spoken to in that older version (it works,
    /// but newer fields are not used), and one older than [`ApiVersion::MIN`] is refused.
    pub fn support_warning(server: ApiVersion) -> Option<String> {
        if server > Self::MAX {
            Some(format!(
                "the daemon speaks API {server}, newer than the newest swab knows ({}): swab \
                 speaks {} to it, which the daemon accepts, but what newer API versions added \
                 is not used; a newer swab may know it",
                Self::MAX,
                Self::MAX
            ))
        } else if server < Self::MIN {
            Some(format!(
                "the daemon speaks API {server}, older than the oldest swab supports ({}, Docker \
                 20.10): swab refuses to work with it; upgrade Docker",
                Self::MIN
            ))
        } else {
            None
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The text was not of the form `MAJOR.MINOR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an API version (expected MAJOR.MINOR, like 1.41): {0:?}")]
pub struct ParseApiVersionError(pub String);

impl FromStr for ApiVersion {
    type Err = ParseApiVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseApiVersionError(s.to_owned());
        let (major, minor) = s.trim().split_once('.').ok_or_else(err)?;
        Ok(ApiVersion {
            major: major.parse().map_err(|_| err())?,
            minor: minor.parse().map_err(|_| err())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_numerically() {
        let v: ApiVersion = "1.41".parse().unwrap();
        assert_eq!(v, ApiVersion::new(1, 41));
        // 1.9 < 1.41: compare numbers, not strings.
        assert!("1.9".parse::<ApiVersion>().unwrap() < v);
        assert!("1.x".parse::<ApiVersion>().is_err());
        assert!("141".parse::<ApiVersion>().is_err());
    }

    #[test]
    fn negotiates_the_lower_version_and_refuses_old_daemons() {
        assert_eq!(
            ApiVersion::negotiate(ApiVersion::new(1, 41)).unwrap(),
            ApiVersion::new(1, 41)
        );
        assert_eq!(
            ApiVersion::negotiate(ApiVersion::new(1, 99)).unwrap(),
            ApiVersion::MAX
        );
        let err = ApiVersion::negotiate(ApiVersion::new(1, 40)).unwrap_err();
        assert!(err.to_string().contains("1.40"), "{err}");
        assert!(err.to_string().contains("1.41"), "{err}");
    }

    #[test]
    fn warns_about_daemons_outside_the_known_range() {
        let cases = [
            (
                ApiVersion::new(1, 40),
                Some("older than the oldest swab supports (1.41"),
            ),
            (ApiVersion::MIN, None),
            (ApiVersion::new(1, 51), None),
            (ApiVersion::MAX, None),
            (
                ApiVersion::new(1, 57),
                Some("newer than the newest swab knows (1.56)"),
            ),
        ];
        for (server, expected) in cases {
            let warning = ApiVersion::support_warning(server);
            match expected {
                None => assert_eq!(warning, None, "{server}"),
                Some(text) => {
                    let warning = warning.unwrap_or_else(|| panic!("no warning for {server}"));
                    assert!(warning.contains(text), "{server}: {warning}");
                    assert!(warning.contains(&server.to_string()), "{warning}");
                }
            }
        }
    }

    #[test]
    fn negotiation_error_names_both_versions() {
        let err = ApiVersion::negotiate(ApiVersion::new(1, 40)).unwrap_err();
        assert!(err.to_string().contains("1.40"), "{err}");
        assert!(err.to_string().contains("1.41"), "{err}");
    }
}
