//! Glob patterns over image references, as written in `match.images` and `protect.images`.
//!
//! References themselves ([`ImageRef`]) and Docker's grammar live in `swab-reference`; a
//! pattern is normalized like a reference before it is compared, so rules do not depend on
//! which spelling the daemon or the user happened to use.

use std::fmt;

use swab_reference::grammar::{
    canonical_registry, is_registry, split, valid_digest, valid_path_chars, valid_tag_chars,
};
pub use swab_reference::{DEFAULT_REGISTRY, ImageRef, ImageRefError};

use crate::glob;

/// A glob over normalized image references, as written in `match.images` and
/// `protect.images`.
///
/// The pattern is normalized like a reference, so `nginx` means
/// `docker.io/library/nginx` and `myorg/*` means `docker.io/myorg/*`. Without
/// a tag it matches every tag (and digest-only references); with a tag
/// (`nginx:1.*`) the tag must match. A pattern that begins with a wildcard
/// (`*`, `*/nginx`, `*:latest`) is matched against the full name as written,
/// so it covers every registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImagePattern {
    source: String,
    name: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImagePattern {
    /// Parses a pattern; fails on the same mistakes as [`ImageRef::parse`]
    /// (uppercase repository, bad characters, empty components), with `*` and
    /// `?` allowed anywhere.
    pub fn parse(text: &str) -> Result<Self, ImageRefError> {
        if text.is_empty() {
            return Err(ImageRefError::Empty);
        }
        let (name, tag, digest) = split(text);
        if name.is_empty() {
            return Err(ImageRefError::Empty);
        }
        valid_path_chars(name, true)?;
        if let Some(tag) = tag
            && !valid_tag_chars(tag, true)
        {
            return Err(ImageRefError::InvalidTag(tag.to_owned()));
        }
        if let Some(digest) = digest
            && !valid_digest(digest, true)
        {
            return Err(ImageRefError::InvalidDigest(digest.to_owned()));
        }
        let normalized = if name.starts_with(['*', '?']) {
            name.to_owned()
        } else {
            let (registry, path) = match name.split_once('/') {
                Some((first, rest)) if is_registry(first) => (canonical_registry(first), rest),
                _ => (DEFAULT_REGISTRY, name),
            };
            if registry == DEFAULT_REGISTRY && !path.contains('/') && !path.starts_with(['*', '?'])
            {
                format!("{registry}/library/{path}")
            } else {
                format!("{registry}/{path}")
            }
        };
        Ok(Self {
            source: text.to_owned(),
            name: normalized,
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    /// Whether the reference matches: name glob, and the tag and digest
    /// globs when the pattern has them.
    pub fn matches(&self, image: &ImageRef) -> bool {
        if !glob::matches(&self.name, image.repository_str()) {
            return false;
        }
        if let Some(tag) = &self.tag {
            match image.tag() {
                Some(image_tag) if glob::matches(tag, image_tag) => {}
                _ => return false,
            }
        }
        if let Some(digest) = &self.digest {
            match image.digest() {
                Some(image_digest) if glob::matches(digest, image_digest) => {}
                _ => return false,
            }
        }
        true
    }

    /// Whether any of an image's references (an image can carry several
    /// tags and digests) matches.
    pub fn matches_any<'a>(&self, images: impl IntoIterator<Item = &'a ImageRef>) -> bool {
        images.into_iter().any(|image| self.matches(image))
    }

    /// The pattern as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The normalized name glob, e.g. `docker.io/library/nginx`.
    pub fn normalized_name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for ImagePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(text: &str) -> ImageRef {
        ImageRef::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn pattern_matching() {
        let cases = [
            ("nginx", "nginx", true),
            ("nginx", "docker.io/library/nginx:1.25", true),
            ("nginx", "nginx@sha256:abcd", true),
            ("nginx", "nginx-unprivileged", false),
            ("nginx", "myorg/nginx", false),
            ("nginx:1.*", "nginx:1.25", true),
            ("nginx:1.*", "nginx:2.0", false),
            ("nginx:1.*", "nginx@sha256:abcd", false),
            ("nginx:latest", "nginx", true),
            ("nginx*", "nginx-unprivileged:1", true),
            ("myorg/*", "docker.io/myorg/anything:anytag", true),
            ("myorg/*", "myorg/deep/path:1", true),
            ("myorg/*", "otherorg/app", false),
            ("myorg/*", "ghcr.io/myorg/app", false),
            (
                "registry.example.com/prod/*",
                "registry.example.com/prod/api:v1",
                true,
            ),
            (
                "registry.example.com/prod/*",
                "registry.example.com/prod/team/api",
                true,
            ),
            (
                "registry.example.com/prod/*",
                "registry.example.com/dev/api",
                false,
            ),
            ("postgres:*", "postgres:16", true),
            ("postgres:*", "postgres@sha256:abcd", false),
            ("*", "ghcr.io/x/y:z", true),
            ("*/nginx", "quay.io/nginx", true),
            ("*:latest", "ghcr.io/x/y", true),
            ("*:latest", "ghcr.io/x/y:1", false),
            ("docker.io/*", "redis", true),
            ("docker.io/*", "ghcr.io/x", false),
            ("localhost:5000/*", "localhost:5000/x:1", true),
            ("nginx@sha256:ab*", "nginx@sha256:abcd", true),
            ("nginx@sha256:ab*", "nginx:1", false),
            ("library/nginx", "nginx:1", true),
        ];
        for (pattern, reference, expected) in cases {
            let parsed = ImagePattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            assert_eq!(
                parsed.matches(&image(reference)),
                expected,
                "{pattern} vs {reference}"
            );
        }
    }

    #[test]
    fn invalid_patterns() {
        for text in [
            "",
            "MyOrg/*",
            "nginx:",
            "a b",
            "nginx:[1]",
            "nginx@",
            "x//y",
        ] {
            assert!(ImagePattern::parse(text).is_err(), "{text:?} should fail");
        }
    }
}
