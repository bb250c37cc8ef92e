//! Image and distribution endpoints.

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, HeaderValue, Method};
use serde::Serialize;

use crate::ApiVersion;
use crate::client::{Docker, Filters, Query, segment};
use crate::error::{Error, Result};
use crate::models::{
    DistributionInspect, ImageDeleteItem, ImageInspect, ImageSummary, PullProgress,
};

/// How often [`Docker::list_images`] asks again after a list raced with an image removal.
const LIST_RACE_RETRIES: u32 = 5;

/// Options for [`Docker::list_images`].
#[derive(Debug, Clone, Default)]
pub struct ListImagesOptions {
    /// Include intermediate images.
    pub all: bool,
    /// Filters, e.g. `dangling=true`, `reference=myorg/*`, `label=a`.
    pub filters: Filters,
    /// Ask for each image's `Manifests` (API 1.47+; ignored, not sent, on older daemons).
    /// Only the containerd image store fills them: one per platform of a multi-platform
    /// image, which is where the digests of its platform manifests are.
    pub manifests: bool,
}

/// Options for [`Docker::remove_image`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveImageOptions {
    /// Remove even if tagged in several repositories or used by stopped containers. Forced
    /// removal strips tags from images that are still in use; swab never sets it unless a
    /// user explicitly asks.
    pub force: bool,
    /// Keep untagged parent images.
    pub noprune: bool,
}

/// Registry credentials for pulls and distribution look-ups, sent base64url-encoded in the
/// `X-Registry-Auth` header. Never logged.
#[derive(Clone, Default, Serialize)]
pub struct RegistryAuth {
    /// User name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password or token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Identity token from a credential helper.
    #[serde(rename = "identitytoken", skip_serializing_if = "Option::is_none")]
    pub identity_token: Option<String>,
    /// Registry host.
    #[serde(rename = "serveraddress", skip_serializing_if = "Option::is_none")]
    pub server_address: Option<String>,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("server_address", &self.server_address)
            .finish_non_exhaustive()
    }
}

impl RegistryAuth {
    pub(crate) fn header(auth: Option<&RegistryAuth>) -> Result<HeaderMap> {
        let mut headers = HeaderMap::new();
        if let Some(auth) = auth {
            let json = serde_json::to_vec(auth)
                .map_err(|e| Error::InvalidRequest(format!("cannot encode credentials: {e}")))?;
            let encoded = base64::engine::general_purpose::URL_SAFE.encode(json);
            let value = HeaderValue::from_str(&encoded)
                .map_err(|e| Error::InvalidRequest(format!("cannot encode credentials: {e}")))?;
            headers.insert("x-registry-auth", value);
        }
        Ok(headers)
    }
}

/// Splits `name[:tag][@digest]` into the name and the tag or digest to ask for. A reference
/// without either means `latest`: `POST /images/create` with an empty tag would pull *every*
/// tag of the repository.
pub fn split_reference(reference: &str) -> (&str, &str) {
    // A tag before a digest is ignored by the registry; the digest is what is asked for.
    let (name, tag, digest) = swab_reference::grammar::split(reference);
    (name, digest.or(tag).unwrap_or("latest"))
}

impl Docker {
    /// `GET /images/json` with digests. Note: with a `reference` filter the daemon also
    /// drops `RepoDigests` entries that do not match the pattern; list unfiltered when
    /// digests matter.
    pub async fn list_images(&self, options: &ListImagesOptions) -> Result<Vec<ImageSummary>> {
        let mut query = Query::new()
            .add("all", options.all)
            .add("digests", true)
            .filters(&options.filters);
        if options.manifests && self.api_version().await? >= ApiVersion::IMAGE_MANIFESTS {
            query = query.add("manifests", true);
        }
        // The containerd image store answers a list with 404 ("content digest ...: not
        // found") when an image is removed while it lists: measured on Docker 28.5, 3 lists
        // of 150 failed while another client imported and removed images. A list has nothing
        // to be missing, so it is asked again; the window is short.
        let mut tries = 0;
        loop {
            match self.get_json("/images/json", query.clone()).await {
                Err(err) if err.is_not_found() && tries < LIST_RACE_RETRIES => {
                    tries += 1;
                    tracing::debug!(error = %err, tries, "image list raced with a removal; listing again");
                    tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(tries)))
                        .await;
                }
                result => return result,
            }
        }
    }

    /// `GET /images/{name}/json`.
    pub async fn inspect_image(&self, name: &str) -> Result<ImageInspect> {
        self.get_json(&format!("/images/{}/json", segment(name)), Query::new())
            .await
    }

    /// `DELETE /images/{name}`. Removing by tag untags it (and deletes the image when it
    /// was the last reference); removing by ID fails with a conflict while several tags or
    /// any container reference it, unless forced.
    pub async fn remove_image(
        &self,
        name: &str,
        options: RemoveImageOptions,
    ) -> Result<Vec<ImageDeleteItem>> {
        let query = Query::new()
            .add("force", options.force)
            .add("noprune", options.noprune);
        let path = format!("/images/{}", segment(name));
        let result = self
            .json(Method::DELETE, &path, query, None, HeaderMap::new())
            .await;
        self.confirm_gone(result, &format!("{path}/json"), Vec::new)
            .await
    }

    /// `POST /images/{name}/tag`: tags `source` as `repo:tag`.
    pub async fn tag_image(&self, source: &str, repo: &str, tag: &str) -> Result<()> {
        self.empty(
            Method::POST,
            &format!("/images/{}/tag", segment(source)),
            Query::new().add("repo", repo).add("tag", tag),
            None,
        )
        .await
        .map(drop)
    }

    /// `POST /images/create?fromImage=...`: pulls `reference` and streams progress. An
    /// error the daemon reports half-way (inside the 200 response) ends the stream with
    /// [`Error::Stream`].
    pub async fn pull_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<impl Stream<Item = Result<PullProgress>> + Send + use<>> {
        let (name, tag) = split_reference(reference);
        if name.is_empty() || tag.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "not an image reference: {reference:?}"
            )));
        }
        let query = Query::new().add("fromImage", name).add("tag", tag);
        let stream = self
            .json_stream::<PullProgress>(
                Method::POST,
                "/images/create",
                query,
                RegistryAuth::header(auth)?,
            )
            .await?;
        let stream = crate::client::stall_limited(
            stream,
            self.stall_timeout(),
            self.endpoint().to_owned(),
            "POST /images/create".to_owned(),
        );
        Ok(stream.map(|item| {
            let progress = item?;
            if let Some(message) = progress.failure() {
                return Err(Error::Stream { message });
            }
            Ok(progress)
        }))
    }

    /// Pulls `reference` to completion, returning the last status line (e.g. `Status:
    /// Downloaded newer image for ...` or `Status: Image is up to date for ...`).
    pub async fn pull_image_to_end(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<String> {
        let mut stream = Box::pin(self.pull_image(reference, auth).await?);
        let mut last = String::new();
        while let Some(item) = stream.next().await {
            if let Some(status) = item?.status {
                last = status;
            }
        }
        Ok(last)
    }

    /// `POST /images/create?fromSrc=-`: makes the image `repo:tag` from the tar `rootfs` (one
    /// layer), with Dockerfile instructions `changes` (`LABEL a=b`, `CMD ["x"]`) applied, as
    /// `docker import` does. Returns the last status line. An error the daemon reports inside
    /// its 200 answer is [`Error::Stream`].
    pub async fn import_image(
        &self,
        repo: &str,
        tag: &str,
        changes: &[&str],
        rootfs: Bytes,
    ) -> Result<String> {
        let mut query = Query::new()
            .add("fromSrc", "-")
            .add("repo", repo)
            .add("tag", tag);
        for change in changes {
            query = query.add("changes", change);
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-tar"),
        );
        self.timed(async {
            let response = self
                .request(Method::POST, "/images/create", query, Some(rootfs), headers)
                .await?;
            let body = crate::client::read_limited(response.body, 1024 * 1024).await?;
            let mut last = String::new();
            for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let Ok(progress) = serde_json::from_slice::<PullProgress>(line) else {
                    continue;
                };
                if let Some(message) = progress.failure() {
                    return Err(Error::Stream { message });
                }
                if let Some(status) = progress.status {
                    last = status;
                }
            }
            Ok(last)
        })
        .await
    }

    /// `GET /distribution/{name}/json`: asks the daemon to ask the registry what `name`
    /// currently points to, without pulling.
    pub async fn distribution_inspect(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<DistributionInspect> {
        self.json(
            Method::GET,
            &format!("/distribution/{}/json", segment(reference)),
            Query::new(),
            None,
            RegistryAuth::header(auth)?,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_name_and_tag_or_digest() {
        assert_eq!(split_reference("busybox"), ("busybox", "latest"));
        assert_eq!(split_reference("busybox:1.36"), ("busybox", "1.36"));
        assert_eq!(
            split_reference("127.0.0.1:5000/swab/app"),
            ("127.0.0.1:5000/swab/app", "latest")
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/swab/app:v2"),
            ("127.0.0.1:5000/swab/app", "v2")
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/app:v1@sha256:abc"),
            ("127.0.0.1:5000/app", "sha256:abc")
        );
    }

    #[test]
    fn auth_header_is_base64url_json_and_debug_hides_secrets() {
        let auth = RegistryAuth {
            username: Some("u".into()),
            password: Some("s3cret".into()),
            ..RegistryAuth::default()
        };
        let h = RegistryAuth::header(Some(&auth)).unwrap();
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(h["x-registry-auth"].as_bytes())
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["password"], "s3cret");
        assert!(!format!("{auth:?}").contains("s3cret"));
        assert!(RegistryAuth::header(None).unwrap().is_empty());
    }
}
