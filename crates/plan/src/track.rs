//! Tag tracking: which of a repository's tags a container on `current` should move to, under
//! a rule's `constraint` (and `tag_pattern`). Pure; the registry's tag list is passed in.
//!
//! The pick is the highest version that satisfies the constraint and is above the current
//! one: never a downgrade, never outside the constraint. Pre-releases count only when the
//! constraint names one (the `semver` crate's rule: `>=2.0.0-rc1` admits `2.0.0-rc2`, `^1`
//! admits none). Without a pattern a tag is a version as written, a leading `v` allowed
//! (`1.25.3`, `v1.25.3`); with one, its single capture group is the version, and tags the
//! pattern does not match are not candidates (so `-alpine` tags stay `-alpine`).

use semver::Version;
use swab_rules::Tracking;

/// The version a tag names, under `tracking`'s pattern; `None` for other tags.
pub fn version_of(tag: &str, tracking: &Tracking) -> Option<Version> {
    let text = match &tracking.tag_pattern {
        Some(pattern) => pattern.0.captures(tag)?.get(1)?.as_str().to_owned(),
        None => tag.strip_prefix('v').unwrap_or(tag).to_owned(),
    };
    Version::parse(&text).ok()
}

/// What tracking decides for a container on `current`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// Move to this tag.
    Newer(String),
    /// Nothing allowed is above the current version.
    UpToDate,
    /// The current tag is not a version under the rule: tracking cannot start from it.
    NotAVersion,
}

/// The tag to move to from `current`, among `tags`.
pub fn pick(current: &str, tags: &[String], tracking: &Tracking) -> Pick {
    let Some(now) = version_of(current, tracking) else {
        return Pick::NotAVersion;
    };
    tags.iter()
        .filter_map(|t| Some((version_of(t, tracking)?, t)))
        .filter(|(v, _)| *v > now && tracking.constraint.matches(v))
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map_or(Pick::UpToDate, |(_, t)| Pick::Newer(t.clone()))
}

/// Newer releases outside the constraint, highest first (pre-releases left out): what
/// `swab updates` lists as "available, not allowed".
pub fn not_allowed(current: &str, tags: &[String], tracking: &Tracking) -> Vec<String> {
    let Some(now) = version_of(current, tracking) else {
        return Vec::new();
    };
    let mut out: Vec<(Version, &String)> = tags
        .iter()
        .filter_map(|t| Some((version_of(t, tracking)?, t)))
        .filter(|(v, _)| *v > now && v.pre.is_empty() && !tracking.constraint.matches(v))
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0));
    out.into_iter().map(|(_, t)| t.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracking(constraint: &str, pattern: Option<&str>) -> Tracking {
        Tracking {
            constraint: semver::VersionReq::parse(constraint).unwrap(),
            tag_pattern: pattern.map(|p| swab_rules::TagPattern(regex::Regex::new(p).unwrap())),
        }
    }

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn the_highest_allowed_version_above_the_current_one() {
        let published = tags(&[
            "1.25.1",
            "1.25.3",
            "1.26.0",
            "2.0.0-rc1",
            "latest",
            "1.24.9",
            "v1.25.2",
        ]);
        let cases = [
            (
                "~1.25 from 1.25.1",
                "1.25.1",
                "~1.25",
                Pick::Newer("1.25.3".to_owned()),
            ),
            (
                "^1 from 1.25.1",
                "1.25.1",
                "^1",
                Pick::Newer("1.26.0".to_owned()),
            ),
            ("never the rc", "1.26.0", ">=1", Pick::UpToDate),
            ("never a downgrade", "1.25.3", "~1.24", Pick::UpToDate),
            ("up to date", "1.26.0", "^1", Pick::UpToDate),
            (
                "a leading v",
                "v1.25.2",
                "~1.25",
                Pick::Newer("1.25.3".to_owned()),
            ),
            ("not a version", "latest", "^1", Pick::NotAVersion),
            (
                "a constraint naming a pre-release admits it",
                "1.26.0",
                ">=2.0.0-rc1",
                Pick::Newer("2.0.0-rc1".to_owned()),
            ),
        ];
        for (case, current, constraint, expected) in cases {
            assert_eq!(
                pick(current, &published, &tracking(constraint, None)),
                expected,
                "{case}"
            );
        }
        assert_eq!(
            not_allowed("1.25.1", &published, &tracking("~1.25", None)),
            ["1.26.0"],
            "the rc is not even offered"
        );
    }

    #[test]
    fn a_tag_pattern_keeps_the_variant() {
        let published = tags(&[
            "1.25.1-alpine",
            "1.25.3-alpine",
            "1.25.4",
            "v1.26.0-alpine",
            "1.25.9-alpine-slim",
        ]);
        let alpine = tracking("~1.25", Some(r"^v?(\d+\.\d+\.\d+)-alpine$"));
        assert_eq!(
            pick("1.25.1-alpine", &published, &alpine),
            Pick::Newer("1.25.3-alpine".to_owned())
        );
        let any_1 = tracking("^1", Some(r"^v?(\d+\.\d+\.\d+)-alpine$"));
        assert_eq!(
            pick("1.25.1-alpine", &published, &any_1),
            Pick::Newer("v1.26.0-alpine".to_owned())
        );
        assert_eq!(pick("1.25.4", &published, &alpine), Pick::NotAVersion);
    }

    #[test]
    fn twelve_hundred_tags() {
        let published: Vec<String> = (0..1200)
            .map(|i| format!("1.{}.{}", i / 100, i % 100))
            .collect();
        // From below the range, into it: the constraint is what the rule asks for.
        assert_eq!(
            pick("1.0.0", &published, &tracking("~1.3", None)),
            Pick::Newer("1.3.99".to_owned())
        );
        assert_eq!(
            pick("1.3.5", &published, &tracking("~1.3", None)),
            Pick::Newer("1.3.99".to_owned())
        );
        assert_eq!(
            pick("1.3.5", &published, &tracking("^1", None)),
            Pick::Newer("1.11.99".to_owned())
        );
    }
}
