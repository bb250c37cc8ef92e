//! Image references and the glob patterns that match them.
//!
//! Docker accepts several spellings of one image: `nginx`,
//! `library/nginx:latest` and `docker.io/library/nginx:latest` all name the
//! same thing. Rules must not depend on which spelling the daemon or the user
//! happened to use, so both references and patterns are normalized to the
//! full form before they are compared.

use std::fmt;

use crate::glob;

/// The registry Docker uses when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// Longest tag Docker accepts.
const MAX_TAG_LEN: usize = 128;

/// A normalized image reference: `registry/path[:tag][@digest]`.
///
/// A reference without tag and digest gets the tag `latest`, like `docker
/// pull`. A digest (`@sha256:...`) is kept separately and never mistaken for a
/// tag, so `nginx@sha256:abc` has no tag at all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    registry: String,
    path: String,
    /// `registry/path`, computed once: patterns match against it for every object on the
    /// host, so building it per match would allocate hundreds of thousands of times.
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageRefError {
    /// The string was empty.
    #[error("the image reference is empty")]
    Empty,
    /// A character Docker never allows in references (whitespace, `<`, ...);
    /// Docker's own placeholder `<none>:<none>` lands here.
    #[error("`{0}` contains characters that are not allowed in image references")]
    InvalidCharacter(String),
    /// Repository names must be lowercase in Docker.
    #[error("repository `{0}` has uppercase letters; Docker repository names are lowercase")]
    Uppercase(String),
    /// A path component was empty (`a//b`, trailing `/`).
    #[error("`{0}` has an empty path component")]
    EmptyComponent(String),
    /// The tag has characters other than letters, digits, `_`, `.` and `-`,
    /// or is longer than 128 characters.
    #[error("`{0}` is not a valid tag")]
    InvalidTag(String),
    /// The digest is not `algorithm:hex`.
    #[error("`{0}` is not a valid digest; expected `sha256:<hex>`")]
    InvalidDigest(String),
    /// A bare image ID such as `sha256:abc...` is not a reference.
    #[error("`{0}` is an image ID, not a reference")]
    ImageId(String),
}

/// Splits `name[:tag][@digest]`; the tag separator is the last `:` after the
/// last `/`, so the port in `localhost:5000/x` is not a tag.
fn split_reference(text: &str) -> (&str, Option<&str>, Option<&str>) {
    let (name_and_tag, digest) = match text.split_once('@') {
        Some((left, right)) => (left, Some(right)),
        None => (text, None),
    };
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    match name_and_tag[last_slash..].rfind(':') {
        Some(colon) => {
            let colon = last_slash + colon;
            (
                &name_and_tag[..colon],
                Some(&name_and_tag[colon + 1..]),
                digest,
            )
        }
        None => (name_and_tag, None, digest),
    }
}

/// Whether a first path component names a registry host: it has a `.` or a
/// port `:`, or is `localhost` (Docker's own rule).
fn is_registry(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost"
}

/// Maps the legacy Docker Hub host names to `docker.io`.
fn canonical_registry(registry: &str) -> &str {
    match registry {
        "index.docker.io" | "registry-1.docker.io" => DEFAULT_REGISTRY,
        other => other,
    }
}

fn valid_tag_chars(tag: &str, allow_wildcards: bool) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_TAG_LEN
        && tag.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '.' | '-')
                || (allow_wildcards && matches!(c, '*' | '?'))
        })
}

fn valid_digest(digest: &str, allow_wildcards: bool) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return allow_wildcards
            && !digest.is_empty()
            && digest.chars().all(|c| c == '*' || c == '?');
    };
    let ok = |c: char, extra: &[char]| {
        c.is_ascii_alphanumeric()
            || extra.contains(&c)
            || (allow_wildcards && matches!(c, '*' | '?'))
    };
    !algorithm.is_empty()
        && !hex.is_empty()
        && algorithm.chars().all(|c| ok(c, &['+', '.', '_', '-']))
        && hex.chars().all(|c| ok(c, &['=', '_', '-']))
}

fn valid_path_chars(path: &str, allow_wildcards: bool) -> Result<(), ImageRefError> {
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            return Err(ImageRefError::Uppercase(path.to_owned()));
        }
        let ok = c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(c, '.' | '_' | '-' | '/' | ':')
            || (allow_wildcards && matches!(c, '*' | '?'));
        if !ok {
            return Err(ImageRefError::InvalidCharacter(path.to_owned()));
        }
    }
    if path.split('/').any(str::is_empty) {
        return Err(ImageRefError::EmptyComponent(path.to_owned()));
    }
    Ok(())
}

fn is_image_id(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl ImageRef {
    /// Parses and normalizes a reference as Docker would.
    ///
    /// `nginx` becomes `docker.io/library/nginx:latest`, `myorg/app` becomes
    /// `docker.io/myorg/app:latest`, `localhost:5000/x` keeps its registry.
    /// Fails on empty input, Docker's `<none>:<none>` placeholder, uppercase
    /// repository names, bad tags or digests, and bare image IDs.
    pub fn parse(text: &str) -> Result<Self, ImageRefError> {
        if text.is_empty() {
            return Err(ImageRefError::Empty);
        }
        if is_image_id(text) {
            return Err(ImageRefError::ImageId(text.to_owned()));
        }
        let (name, tag, digest) = split_reference(text);
        if name.is_empty() {
            return Err(ImageRefError::Empty);
        }
        valid_path_chars(name, false)?;
        if let Some(tag) = tag
            && !valid_tag_chars(tag, false)
        {
            return Err(ImageRefError::InvalidTag(tag.to_owned()));
        }
        if let Some(digest) = digest
            && !valid_digest(digest, false)
        {
            return Err(ImageRefError::InvalidDigest(digest.to_owned()));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest)) if is_registry(first) => (canonical_registry(first), rest),
            _ => (DEFAULT_REGISTRY, name),
        };
        if path.contains(':') {
            return Err(ImageRefError::InvalidCharacter(name.to_owned()));
        }
        let path = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        let tag = match (tag, digest) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, None) => Some("latest".to_owned()),
            (None, Some(_)) => None,
        };
        Ok(Self {
            repository: format!("{registry}/{path}"),
            registry: registry.to_owned(),
            path,
            tag,
            digest: digest.map(str::to_owned),
        })
    }

    /// The registry host, e.g. `docker.io` or `localhost:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry, e.g. `library/nginx`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any; `None` only for digest-only references.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:...`), if the reference pinned one.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The full repository name without tag or digest,
    /// e.g. `docker.io/library/nginx`. `keep_latest` groups images by this.
    pub fn repository(&self) -> String {
        self.repository.clone()
    }

    /// [`ImageRef::repository`] without allocating.
    pub fn repository_str(&self) -> &str {
        &self.repository
    }

    /// The short form `docker` prints: `nginx:1.25`, `myorg/app:latest`,
    /// `localhost:5000/x:1`.
    pub fn familiar(&self) -> String {
        let mut name = if self.registry == DEFAULT_REGISTRY {
            self.path
                .strip_prefix("library/")
                .filter(|rest| !rest.contains('/'))
                .unwrap_or(&self.path)
                .to_owned()
        } else {
            self.repository()
        };
        if let Some(tag) = &self.tag {
            name.push(':');
            name.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            name.push('@');
            name.push_str(digest);
        }
        name
    }
}

impl fmt::Display for ImageRef {
    /// The full normalized form: `docker.io/library/nginx:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ImageRef {
    type Err = ImageRefError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

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
        let (name, tag, digest) = split_reference(text);
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
    fn normalization() {
        let cases = [
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.25", "docker.io/library/nginx:1.25"),
            ("library/nginx", "docker.io/library/nginx:latest"),
            ("docker.io/nginx", "docker.io/library/nginx:latest"),
            (
                "docker.io/library/nginx:latest",
                "docker.io/library/nginx:latest",
            ),
            (
                "index.docker.io/library/nginx",
                "docker.io/library/nginx:latest",
            ),
            ("myorg/app", "docker.io/myorg/app:latest"),
            ("myorg/team/app:2", "docker.io/myorg/team/app:2"),
            ("localhost/x", "localhost/x:latest"),
            ("localhost:5000/x", "localhost:5000/x:latest"),
            ("localhost:5000/x:1.0", "localhost:5000/x:1.0"),
            (
                "registry.example.com/prod/api:v1",
                "registry.example.com/prod/api:v1",
            ),
            ("ghcr.io/owner/app", "ghcr.io/owner/app:latest"),
            (
                "nginx@sha256:abcdef0123456789",
                "docker.io/library/nginx@sha256:abcdef0123456789",
            ),
            (
                "nginx:1.25@sha256:abcdef0123456789",
                "docker.io/library/nginx:1.25@sha256:abcdef0123456789",
            ),
            (
                "localhost:5000/x@sha256:abcd",
                "localhost:5000/x@sha256:abcd",
            ),
        ];
        for (input, normalized) in cases {
            assert_eq!(image(input).to_string(), normalized, "{input}");
        }
        assert_eq!(image("nginx"), image("docker.io/library/nginx:latest"));
        assert_eq!(image("myorg/app"), image("docker.io/myorg/app:latest"));
    }

    #[test]
    fn digests_are_never_tags() {
        let pinned = image("nginx@sha256:abcdef0123456789");
        assert_eq!(pinned.tag(), None);
        assert_eq!(pinned.digest(), Some("sha256:abcdef0123456789"));
        let both = image("localhost:5000/x:1@sha256:abcd");
        assert_eq!(both.registry(), "localhost:5000");
        assert_eq!(both.tag(), Some("1"));
        assert_eq!(both.digest(), Some("sha256:abcd"));
    }

    #[test]
    fn familiar_form() {
        assert_eq!(image("docker.io/library/nginx:1").familiar(), "nginx:1");
        assert_eq!(image("myorg/app").familiar(), "myorg/app:latest");
        assert_eq!(
            image("localhost:5000/x").familiar(),
            "localhost:5000/x:latest"
        );
    }

    #[test]
    fn invalid_references() {
        for text in [
            "",
            "<none>:<none>",
            "<none>",
            "Nginx",
            "nginx:",
            "a//b",
            "nginx/",
            "nginx:bad tag",
            "nginx@",
            "nginx@sha256",
            "with space",
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(ImageRef::parse(text).is_err(), "{text:?} should fail");
        }
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
