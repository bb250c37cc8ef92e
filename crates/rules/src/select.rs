//! Name globs, label selectors and the global protection list.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;

use crate::glob;
use crate::image::{ImagePattern, ImageRef};

/// The label that always protects a container, image, volume or network.
///
/// It is built in and cannot be switched off by any rule file, so a user can
/// always shield something by labelling it, even from a rule set they did not
/// write.
pub const PROTECT_LABEL: &str = "swab.protect";

/// Whether labels carry the built-in protection label with a value that is
/// not an explicit "no".
///
/// Errs on the side of protecting: `swab.protect=true`, `=1`, `=yes` and even
/// an empty or misspelt value protect; only `false`, `0`, `no` and `off`
/// (any case) do not.
pub fn has_protect_label<S: BuildHasher>(labels: &HashMap<String, String, S>) -> bool {
    labels.get(PROTECT_LABEL).is_some_and(|value| {
        !matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "false" | "0" | "no" | "off"
        )
    })
}

/// A glob over container, volume or network names (`ci-*`, `db-?`).
///
/// Docker reports container names with a leading `/`; it is stripped from
/// both the pattern and the name, so `/web` and `web` are the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamePattern(String);

/// Why a name pattern is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NamePatternError {
    /// The pattern was empty (or only `/`).
    #[error("the name pattern is empty")]
    Empty,
    /// A character Docker does not allow in names.
    #[error(
        "`{0}` has characters Docker does not allow in names; use letters, digits, `_`, `.`, `-` and the wildcards `*` and `?`"
    )]
    InvalidCharacter(String),
}

impl NamePattern {
    /// Parses a name glob: letters, digits, `_`, `.`, `-`, `*` and `?`.
    pub fn parse(text: &str) -> Result<Self, NamePatternError> {
        let trimmed = text.strip_prefix('/').unwrap_or(text);
        if trimmed.is_empty() {
            return Err(NamePatternError::Empty);
        }
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '*' | '?'))
        {
            return Err(NamePatternError::InvalidCharacter(text.to_owned()));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// Whether `name` matches; a leading `/` on `name` is ignored.
    pub fn matches(&self, name: &str) -> bool {
        glob::matches(&self.0, name.strip_prefix('/').unwrap_or(name))
    }

    /// The pattern without a leading `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One label condition, written `key`, `!key`, `key=value` or `key!=value`.
///
/// `key!=value` also holds when the label is absent, as in Kubernetes label
/// selectors: "not labelled tier=prod" includes "not labelled tier at all".
/// Values compare exactly (no globs, case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LabelSelector {
    /// `key`: the label is set, with any value.
    Present(String),
    /// `!key`: the label is not set.
    Absent(String),
    /// `key=value`: the label is set to exactly `value`.
    Equals(String, String),
    /// `key!=value`: the label is absent or has another value.
    NotEquals(String, String),
}

/// Why a label selector is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelSelectorError {
    /// No key given (`""`, `!`, `=x`).
    #[error("the label key is empty")]
    EmptyKey,
    /// The key has whitespace, `=`, `!` or control characters.
    #[error("label key `{0}` may not contain whitespace, `=` or `!`")]
    InvalidKey(String),
    /// Forms like `!key=value` or `key==value`.
    #[error("`{0}` mixes operators; use `key`, `!key`, `key=value` or `key!=value`")]
    MixedOperators(String),
}

pub(crate) fn check_key(key: &str) -> Result<String, LabelSelectorError> {
    if key.is_empty() {
        return Err(LabelSelectorError::EmptyKey);
    }
    if key
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '=' | '!'))
    {
        return Err(LabelSelectorError::InvalidKey(key.to_owned()));
    }
    Ok(key.to_owned())
}

impl LabelSelector {
    /// Parses `key`, `!key`, `key=value` or `key!=value`; the value may be
    /// empty (`key=` selects labels set to the empty string).
    pub fn parse(text: &str) -> Result<Self, LabelSelectorError> {
        if let Some(key) = text.strip_prefix('!') {
            if key.contains('=') {
                return Err(LabelSelectorError::MixedOperators(text.to_owned()));
            }
            return Ok(Self::Absent(check_key(key)?));
        }
        if let Some((key, value)) = text.split_once("!=") {
            if value.starts_with('=') {
                return Err(LabelSelectorError::MixedOperators(text.to_owned()));
            }
            return Ok(Self::NotEquals(check_key(key)?, value.to_owned()));
        }
        if let Some((key, value)) = text.split_once('=') {
            if value.starts_with('=') {
                return Err(LabelSelectorError::MixedOperators(text.to_owned()));
            }
            return Ok(Self::Equals(check_key(key)?, value.to_owned()));
        }
        Ok(Self::Present(check_key(text)?))
    }

    /// Whether the labels satisfy this selector.
    pub fn matches<S: BuildHasher>(&self, labels: &HashMap<String, String, S>) -> bool {
        match self {
            Self::Present(key) => labels.contains_key(key),
            Self::Absent(key) => !labels.contains_key(key),
            Self::Equals(key, value) => labels.get(key) == Some(value),
            Self::NotEquals(key, value) => labels.get(key) != Some(value),
        }
    }

    /// Whether every selector in the list holds (an empty list holds).
    pub fn all_match<S: BuildHasher>(
        selectors: &[Self],
        labels: &HashMap<String, String, S>,
    ) -> bool {
        selectors.iter().all(|selector| selector.matches(labels))
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Present(key) => f.write_str(key),
            Self::Absent(key) => write!(f, "!{key}"),
            Self::Equals(key, value) => write!(f, "{key}={value}"),
            Self::NotEquals(key, value) => write!(f, "{key}!={value}"),
        }
    }
}

/// The global safety net from the `protect:` section. No rule ever removes,
/// updates or restarts what it protects.
///
/// Every list is "any of": one matching pattern or selector protects. The
/// label `swab.protect` (see [`has_protect_label`]) protects everything it
/// is set on, even with an empty `protect:` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protect {
    /// Image reference globs; also protect containers created from them.
    pub images: Vec<ImagePattern>,
    /// Container name globs.
    pub containers: Vec<NamePattern>,
    /// Volume name globs.
    pub volumes: Vec<NamePattern>,
    /// Network name globs.
    pub networks: Vec<NamePattern>,
    /// Label selectors; any match protects the object carrying the labels.
    pub labels: Vec<LabelSelector>,
}

impl Protect {
    fn protects_labels<S: BuildHasher>(&self, labels: &HashMap<String, String, S>) -> bool {
        has_protect_label(labels) || self.labels.iter().any(|selector| selector.matches(labels))
    }

    /// Whether an image is protected: any of its references matches
    /// `protect.images`, or its labels match.
    pub fn protects_image<'a, S: BuildHasher>(
        &self,
        references: impl IntoIterator<Item = &'a ImageRef>,
        labels: &HashMap<String, String, S>,
    ) -> bool {
        if self.protects_labels(labels) {
            return true;
        }
        let references: Vec<&ImageRef> = references.into_iter().collect();
        self.images
            .iter()
            .any(|pattern| pattern.matches_any(references.iter().copied()))
    }

    /// Whether a container is protected: by its name, its labels, or the
    /// image it runs (a container of a protected image is protected too, so
    /// `protect.images: [postgres:*]` also keeps postgres containers).
    pub fn protects_container<S: BuildHasher>(
        &self,
        name: &str,
        image: Option<&ImageRef>,
        labels: &HashMap<String, String, S>,
    ) -> bool {
        self.protects_labels(labels)
            || self.containers.iter().any(|pattern| pattern.matches(name))
            || image.is_some_and(|image| self.images.iter().any(|pattern| pattern.matches(image)))
    }

    /// Whether a volume is protected by name or labels.
    pub fn protects_volume<S: BuildHasher>(
        &self,
        name: &str,
        labels: &HashMap<String, String, S>,
    ) -> bool {
        self.protects_labels(labels) || self.volumes.iter().any(|pattern| pattern.matches(name))
    }

    /// Whether a network is protected by name or labels. Docker's built-in
    /// networks `bridge`, `host` and `none` are always protected.
    pub fn protects_network<S: BuildHasher>(
        &self,
        name: &str,
        labels: &HashMap<String, String, S>,
    ) -> bool {
        matches!(name, "bridge" | "host" | "none")
            || self.protects_labels(labels)
            || self.networks.iter().any(|pattern| pattern.matches(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn selector_parsing() {
        assert_eq!(
            LabelSelector::parse("ci=true"),
            Ok(LabelSelector::Equals("ci".into(), "true".into()))
        );
        assert_eq!(
            LabelSelector::parse("!keep"),
            Ok(LabelSelector::Absent("keep".into()))
        );
        assert_eq!(
            LabelSelector::parse("tier!=prod"),
            Ok(LabelSelector::NotEquals("tier".into(), "prod".into()))
        );
        assert_eq!(
            LabelSelector::parse("owner"),
            Ok(LabelSelector::Present("owner".into()))
        );
        assert_eq!(
            LabelSelector::parse("a.b/c=x=y"),
            Ok(LabelSelector::Equals("a.b/c".into(), "x=y".into()))
        );
        assert_eq!(
            LabelSelector::parse("empty="),
            Ok(LabelSelector::Equals("empty".into(), String::new()))
        );
        for bad in [
            "", "!", "=x", "!=x", "!a=b", "a==b", "a!==b", "a b", "a b=c",
        ] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn selector_matching() {
        let set = labels(&[("ci", "true"), ("tier", "dev"), ("owner", "")]);
        let cases = [
            ("ci=true", true),
            ("ci=false", false),
            ("!keep", true),
            ("!ci", false),
            ("tier!=prod", true),
            ("tier!=dev", false),
            ("absent!=x", true),
            ("owner", true),
            ("owner=", true),
            ("missing", false),
        ];
        for (selector, expected) in cases {
            assert_eq!(
                LabelSelector::parse(selector).unwrap().matches(&set),
                expected,
                "{selector}"
            );
        }
    }

    #[test]
    fn name_patterns() {
        let pattern = NamePattern::parse("ci-*").unwrap();
        assert!(pattern.matches("ci-1"));
        assert!(pattern.matches("/ci-1"));
        assert!(!pattern.matches("web"));
        assert!(NamePattern::parse("/web").unwrap().matches("/web"));
        assert!(NamePattern::parse("").is_err());
        assert!(NamePattern::parse("/").is_err());
        assert!(NamePattern::parse("a/b").is_err());
        assert!(NamePattern::parse("a b").is_err());
    }

    #[test]
    fn protect_label_is_built_in() {
        let protect = Protect::default();
        for value in ["true", "TRUE", "1", "yes", "", "ture"] {
            assert!(
                protect.protects_container("x", None, &labels(&[(PROTECT_LABEL, value)])),
                "{value:?}"
            );
        }
        for value in ["false", "0", "no", "Off"] {
            assert!(!protect.protects_container("x", None, &labels(&[(PROTECT_LABEL, value)])));
        }
        assert!(protect.protects_image(std::iter::empty(), &labels(&[(PROTECT_LABEL, "true")])));
        assert!(protect.protects_volume("v", &labels(&[(PROTECT_LABEL, "true")])));
        assert!(protect.protects_network("n", &labels(&[(PROTECT_LABEL, "true")])));
    }

    #[test]
    fn protect_lists() {
        let protect = Protect {
            images: vec![ImagePattern::parse("postgres:*").unwrap()],
            containers: vec![NamePattern::parse("db-*").unwrap()],
            volumes: vec![NamePattern::parse("pgdata").unwrap()],
            networks: vec![],
            labels: vec![LabelSelector::parse("com.example.keep").unwrap()],
        };
        let none = HashMap::new();
        let postgres = ImageRef::parse("postgres:16").unwrap();
        let nginx = ImageRef::parse("nginx").unwrap();
        assert!(protect.protects_image([&nginx, &postgres], &none));
        assert!(!protect.protects_image([&nginx], &none));
        assert!(protect.protects_container("db-main", None, &none));
        assert!(protect.protects_container("app", Some(&postgres), &none));
        assert!(!protect.protects_container("app", Some(&nginx), &none));
        assert!(protect.protects_container("app", None, &labels(&[("com.example.keep", "")])));
        assert!(protect.protects_volume("pgdata", &none));
        assert!(!protect.protects_volume("cache", &none));
        assert!(protect.protects_network("bridge", &none));
        assert!(!protect.protects_network("ci-net", &none));
    }
}
