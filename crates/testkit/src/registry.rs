//! Raw registry API calls for test setup: what the docker CLI cannot do, such as building a
//! multi-platform index out of single-platform images already pushed.
//!
//! Plain HTTP/1.1 ([`crate::http`]) to the loopback registries of `scripts/test-env.sh`
//! (no auth).

use crate::http::request;

/// Media types a manifest HEAD accepts (Docker's and OCI's, single and multi-platform).
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest as a registry describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// `sha256:...`.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its length in bytes.
    pub size: u64,
}

/// What the registry has under `repository:reference` (a tag or a digest); `repository` is
/// the path without the registry (`swab/app`).
pub fn head_manifest(registry: &str, repository: &str, reference: &str) -> Descriptor {
    let path = format!("/v2/{repository}/manifests/{reference}");
    let r = request(registry, "HEAD", &path, &[("Accept", ACCEPT)], b"");
    assert_eq!(r.status, 200, "HEAD {registry}{path}: {}", r.status);
    Descriptor {
        digest: r
            .header("Docker-Content-Digest")
            .expect("no Docker-Content-Digest")
            .to_owned(),
        media_type: r
            .header("Content-Type")
            .expect("no Content-Type")
            .to_owned(),
        size: r
            .header("Content-Length")
            .and_then(|l| l.parse().ok())
            .expect("no Content-Length"),
    }
}

/// Puts a multi-platform index under `repository:tag` whose entries are the manifests
/// already pushed under the given tags, each with the platform given (`("amd", "linux",
/// "amd64")`). The index is OCI when the entries are OCI manifests (what the containerd
/// store pushes), a Docker manifest list otherwise (the classic store). Returns its digest.
pub fn put_index(
    registry: &str,
    repository: &str,
    tag: &str,
    entries: &[(&str, &str, &str)],
) -> String {
    let mut manifests = Vec::new();
    let mut oci = true;
    for (source, os, arch) in entries {
        let d = head_manifest(registry, repository, source);
        oci &= d.media_type.contains("oci");
        manifests.push(serde_json::json!({
            "mediaType": d.media_type,
            "digest": d.digest,
            "size": d.size,
            "platform": {"os": os, "architecture": arch},
        }));
    }
    let media_type = if oci {
        "application/vnd.oci.image.index.v1+json"
    } else {
        "application/vnd.docker.distribution.manifest.list.v2+json"
    };
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": manifests,
    }))
    .unwrap();
    let path = format!("/v2/{repository}/manifests/{tag}");
    let r = request(
        registry,
        "PUT",
        &path,
        &[("Content-Type", media_type)],
        &body,
    );
    assert_eq!(
        r.status, 201,
        "PUT {registry}{path}: {}: {}",
        r.status, r.body
    );
    r.header("Docker-Content-Digest")
        .expect("no Docker-Content-Digest")
        .to_owned()
}
