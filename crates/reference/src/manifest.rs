//! What a registry says a tag names: the manifest digest, its media type and, for a
//! multi-platform index, the entry for this host's platform; and the one rule that decides
//! whether that is an update of a local image.
//!
//! Plain data, so the registry client fills it and the pure update planner judges it
//! without either depending on the other.

/// The manifest media types swab understands.
pub mod media_type {
    /// OCI image index (multi-platform).
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// Docker manifest list v2 (multi-platform).
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// OCI image manifest (one platform).
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// Docker image manifest v2 schema 2 (one platform).
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

    /// Whether a media type is a multi-platform index.
    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
    }
}

/// What a registry currently has for a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteDigest {
    /// The digest of the manifest the tag points to (an index for multi-platform images).
    pub digest: String,
    /// Its media type, see [`media_type`].
    pub media_type: String,
    /// For an index: the digest of the entry for the requested platform. `None` for a
    /// single-platform manifest, and when the registry client's `manifest_digest_unless_current`
    /// skipped reading an index that was already current.
    pub platform_digest: Option<String>,
}

impl RemoteDigest {
    /// Whether the tag points to a multi-platform index.
    pub fn is_index(&self) -> bool {
        media_type::is_index(&self.media_type)
    }

    /// Whether the registry has something newer than a local image, given the image's
    /// `RepoDigests` (`repo@sha256:...`, or bare digests).
    ///
    /// Multi-arch: a changed index whose entry for the host's platform is unchanged is NOT
    /// an update. An index changes whenever any platform is rebuilt, so the local image
    /// counts as current when it matches EITHER the index digest (what `docker pull` by tag
    /// records) or the digest of the entry for its platform (what a pull of that entry
    /// records). An image without `RepoDigests` (built or loaded locally) matches nothing
    /// and so always counts as outdated; callers decide whether such images are updated.
    pub fn is_update_of<S: AsRef<str>>(&self, local_repo_digests: &[S]) -> bool {
        !local_repo_digests.iter().any(|repo_digest| {
            let repo_digest = repo_digest.as_ref();
            let digest = repo_digest.rsplit_once('@').map_or(repo_digest, |(_, d)| d);
            digest == self.digest || self.platform_digest.as_deref() == Some(digest)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_decision_accepts_index_or_platform_entry() {
        let remote = RemoteDigest {
            digest: "sha256:index2".into(),
            media_type: media_type::OCI_INDEX.into(),
            platform_digest: Some("sha256:amd64-1".into()),
        };
        // Index changed (another platform rebuilt), our entry did not: not an update.
        assert!(!remote.is_update_of(&["r.example/app@sha256:amd64-1"]));
        // Index unchanged.
        assert!(!remote.is_update_of(&["r.example/app@sha256:index2", "x@sha256:other"]));
        assert!(!remote.is_update_of(&["sha256:index2"]));
        // Both changed.
        assert!(remote.is_update_of(&["r.example/app@sha256:index1"]));
        // Nothing known about the local image.
        assert!(remote.is_update_of::<&str>(&[]));
        let single = RemoteDigest {
            digest: "sha256:m2".into(),
            media_type: media_type::DOCKER_MANIFEST.into(),
            platform_digest: None,
        };
        assert!(!single.is_update_of(&["a@sha256:m2"]));
        assert!(single.is_update_of(&["a@sha256:m1"]));
        assert!(!single.is_index());
        assert!(remote.is_index());
    }
}
