//! Test snapshots in a line each: the one builder the planner tests, the update tests, the
//! engine's tests and the planner bench share (feature `test-support`), so a new field of the
//! model is defaulted in one place.
//!
//! ```
//! use swab_plan::testing::{at, container, image, snapshot};
//! let s = snapshot(
//!     [container("web").image("nginx:1", "sha256:n1").state("exited").finished(at(500))],
//!     [image("n1").tags(&["nginx:1"]).created(at(100))],
//! );
//! assert_eq!(s.containers[0].image_id, s.images[0].id);
//! ```

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::snapshot::{Container, Image, Snapshot};

/// `secs` after the epoch.
pub fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// A label map from pairs.
pub fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A snapshot of these containers and images; no volumes, networks or disk figures.
pub fn snapshot(
    containers: impl IntoIterator<Item = impl Into<Container>>,
    images: impl IntoIterator<Item = impl Into<Image>>,
) -> Snapshot {
    Snapshot {
        containers: containers.into_iter().map(Into::into).collect(),
        images: images.into_iter().map(Into::into).collect(),
        ..Snapshot::default()
    }
}

/// A container being built; see [`container`].
#[derive(Debug, Clone)]
pub struct ContainerBuilder(Container);

/// A running container `name` with ID `id-<name>`, created from `base:1` (image
/// `sha256:base`).
pub fn container(name: &str) -> ContainerBuilder {
    ContainerBuilder(Container {
        state: "running".to_owned(),
        ..Container::new(&format!("id-{name}"), name, "sha256:base", "base:1")
    })
}

impl ContainerBuilder {
    /// Created from `reference` (as written), whose image ID is `image_id` (`sha256:` is
    /// added when missing).
    #[must_use]
    pub fn image(mut self, reference: &str, image_id: &str) -> Self {
        self.0.image_id = full_id(image_id);
        self.0.set_image(reference);
        self
    }

    /// Its ID.
    #[must_use]
    pub fn id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.0.id);
        self
    }

    /// `running`, `exited`, `created`, ...
    #[must_use]
    pub fn state(mut self, state: &str) -> Self {
        state.clone_into(&mut self.0.state);
        self
    }

    /// Creation time.
    #[must_use]
    pub fn created(mut self, t: impl Into<Option<SystemTime>>) -> Self {
        self.0.created = t.into();
        self
    }

    /// Last exit.
    #[must_use]
    pub fn finished(mut self, t: impl Into<Option<SystemTime>>) -> Self {
        self.0.finished_at = t.into();
        self
    }

    /// Last start.
    #[must_use]
    pub fn started(mut self, t: impl Into<Option<SystemTime>>) -> Self {
        self.0.started_at = t.into();
        self
    }

    /// Adds labels.
    #[must_use]
    pub fn labels(mut self, pairs: &[(&str, &str)]) -> Self {
        self.0.labels.extend(labels(pairs));
        self
    }

    /// Mounts a named volume.
    #[must_use]
    pub fn volume(mut self, name: &str) -> Self {
        self.0.volumes.push(name.to_owned());
        self
    }

    /// Attaches to a network (by ID).
    #[must_use]
    pub fn network(mut self, id: &str) -> Self {
        self.0.networks.push(id.to_owned());
        self
    }

    /// `HostConfig.NetworkMode`, e.g. `container:<id>`.
    #[must_use]
    pub fn network_mode(mut self, mode: &str) -> Self {
        mode.clone_into(&mut self.0.network_mode);
        self
    }

    /// The container.
    pub fn build(self) -> Container {
        self.0
    }
}

impl From<ContainerBuilder> for Container {
    fn from(b: ContainerBuilder) -> Container {
        b.0
    }
}

/// An image being built; see [`image`].
#[derive(Debug, Clone)]
pub struct ImageBuilder(Image);

/// An image with ID `sha256:<id>` (or `id` as given when it has the prefix), untagged, of
/// 1000 bytes none of which are shared.
pub fn image(id: &str) -> ImageBuilder {
    ImageBuilder(Image {
        size: 1000,
        unique_size: 1000,
        ..Image::new(&full_id(id), &[] as &[&str], &[] as &[&str])
    })
}

impl ImageBuilder {
    /// Its tags (and the parsed references with them).
    #[must_use]
    pub fn tags<S: AsRef<str>>(self, tags: &[S]) -> Self {
        let digests = self.0.digests.clone();
        self.refs(tags, &digests)
    }

    /// Its repo digests, `repo@sha256:...` (and the parsed references with them).
    #[must_use]
    pub fn digests<S: AsRef<str>>(self, digests: &[S]) -> Self {
        let tags = self.0.tags.clone();
        self.refs(&tags, digests)
    }

    fn refs<T: AsRef<str>, D: AsRef<str>>(self, tags: &[T], digests: &[D]) -> Self {
        let new = Image::new(&self.0.id, tags, digests);
        ImageBuilder(Image {
            tags: new.tags,
            digests: new.digests,
            refs: new.refs,
            ..self.0
        })
    }

    /// Build time.
    #[must_use]
    pub fn created(mut self, t: impl Into<Option<SystemTime>>) -> Self {
        self.0.created = t.into();
        self
    }

    /// Last local tag (pull or tag).
    #[must_use]
    pub fn last_tagged(mut self, t: impl Into<Option<SystemTime>>) -> Self {
        self.0.last_tagged = t.into();
        self
    }

    /// Size, none of it shared.
    #[must_use]
    pub fn size(mut self, bytes: u64) -> Self {
        self.0.size = bytes;
        self.0.unique_size = bytes;
        self
    }

    /// Bytes removing it would free, when less than its size.
    #[must_use]
    pub fn unique_size(mut self, bytes: u64) -> Self {
        self.0.unique_size = bytes;
        self
    }

    /// Its parent image (`sha256:` is added when missing).
    #[must_use]
    pub fn parent(mut self, id: &str) -> Self {
        self.0.parent_id = Some(full_id(id));
        self
    }

    /// Adds labels.
    #[must_use]
    pub fn labels(mut self, pairs: &[(&str, &str)]) -> Self {
        self.0.labels.extend(labels(pairs));
        self
    }

    /// The platform manifests present locally (containerd store).
    #[must_use]
    pub fn platform_digests(mut self, digests: &[&str]) -> Self {
        self.0.platform_digests = digests.iter().map(|d| (*d).to_owned()).collect();
        self
    }

    /// The image.
    pub fn build(self) -> Image {
        self.0
    }
}

impl From<ImageBuilder> for Image {
    fn from(b: ImageBuilder) -> Image {
        b.0
    }
}

fn full_id(id: &str) -> String {
    if id.starts_with("sha256:") {
        id.to_owned()
    } else {
        format!("sha256:{id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_digests_keep_refs_in_step() {
        let i = image("a")
            .tags(&["nginx:1"])
            .digests(&["nginx@sha256:abc"])
            .build();
        assert_eq!(i.id, "sha256:a");
        assert_eq!(i.tags, ["nginx:1"]);
        assert_eq!(i.digests, ["nginx@sha256:abc"]);
        assert_eq!(i.refs.len(), 2);
        let c = container("web")
            .image("nginx:1", "a")
            .state("exited")
            .build();
        assert_eq!((c.id.as_str(), c.image_id.as_str()), ("id-web", "sha256:a"));
        assert_eq!(c.image_ref.unwrap().familiar(), "nginx:1");
    }
}
