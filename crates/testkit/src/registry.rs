//! Raw registry API calls for test setup: what the docker CLI cannot do, such as building a
//! multi-platform index out of single-platform images already pushed.
//!
//! Plain HTTP/1.1 over a `TcpStream` to the loopback registries of `scripts/test-env.sh`
//! (no auth), one connection per request, with the same deadline as every setup call.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;

use crate::SETUP_TIMEOUT;

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

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn request(
    registry: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(registry)
        .unwrap_or_else(|e| panic!("cannot connect to the registry {registry}: {e}"));
    stream.set_read_timeout(Some(*SETUP_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(*SETUP_TIMEOUT)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {registry}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{method} {registry}{path}: no answer: {e}"));
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {registry}{path}: not an HTTP answer: {head}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        // The registry answers this client with Content-Length bodies (no chunking: the
        // request is HTTP/1.1 with `Connection: close`, and its answers are small JSON).
        body: body.to_owned(),
    }
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
