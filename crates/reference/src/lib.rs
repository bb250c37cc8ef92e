//! Docker image references: parsing, normalization and the grammar behind them.
//!
//! Docker accepts several spellings of one image: `nginx`, `library/nginx:latest` and
//! `docker.io/library/nginx:latest` all name the same thing. swab compares references from
//! the daemon, the registry and the user's rules, so each is normalized to the full form
//! ([`ImageRef`]) before it is compared.
//!
//! A leaf crate, depended on by the Docker client, the registry client, the rule language
//! and the planner; it depends on none of them and must never. [`manifest`] holds what a
//! registry answers for a tag ([`manifest::RemoteDigest`]), plain data shared by the
//! registry client that fills it and the planner that judges it. The reference grammar is Docker's,
//! not the rule language's: the rule language's image globs (`swab-rules`' `ImagePattern`)
//! reuse the checks in [`grammar`], with wildcards allowed.

#![deny(missing_docs)]

use std::fmt;

pub mod grammar;
pub mod manifest;

use grammar::{
    canonical_registry, is_image_id, is_registry, split, valid_digest, valid_path_chars,
    valid_tag_chars,
};

/// The registry Docker uses when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";

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
        let (name, tag, digest) = split(text);
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

    /// The same repository pinned to `digest`, without a tag: what pulls exactly the
    /// manifest a registry answered for the tag, even if the tag moves meanwhile.
    #[must_use]
    pub fn at_digest(&self, digest: &str) -> ImageRef {
        ImageRef {
            tag: None,
            digest: Some(digest.to_owned()),
            ..self.clone()
        }
    }

    /// The same repository under another tag, without a digest: where tag tracking moves
    /// a container. `None` for a tag Docker would refuse (a registry's tag list is not
    /// trusted to hold only valid tags).
    pub fn with_tag(&self, tag: &str) -> Option<ImageRef> {
        valid_tag_chars(tag, false).then(|| ImageRef {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        })
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
    fn another_tag_of_the_same_repository() {
        let moved = image("nginx:1.25.1").with_tag("1.25.3").unwrap();
        assert_eq!(moved, image("docker.io/library/nginx:1.25.3"));
        let pinned = image("localhost:5000/x:1@sha256:abcd")
            .with_tag("2")
            .unwrap();
        assert_eq!(pinned.familiar(), "localhost:5000/x:2");
        assert_eq!(image("x:1").with_tag("a/b"), None);
        assert_eq!(image("x:1").with_tag(""), None);
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
}
