//! Which image references `update` rules keep fresh, and what is local for each. Pure: the
//! registry look-ups happen in the caller (`swab updates`, later the update executor).
//!
//! A reference is checked when a running container matched by an update rule was created
//! from it, or when a local image tagged with it matches the rule's `match.images` (images
//! kept fresh without containers). Protected containers and images are left out; references
//! pinned by digest are reported as pinned and never checked; containers created from a bare
//! image ID have no reference to check.

use std::collections::BTreeMap;

use swab_rules::{Action, ImageRef, Protect, Rule};

use crate::snapshot::{Image, Snapshot};

/// One reference to ask the registry about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateCheck {
    /// The normalized reference.
    pub reference: ImageRef,
    /// The rules that cover it.
    pub rules: Vec<String>,
    /// Names of the running containers created from it.
    pub containers: Vec<String>,
    /// The local image the tag points to now, if any.
    pub local_image: Option<String>,
    /// That image's `RepoDigests`.
    pub local_digests: Vec<String>,
}

/// What the update rules cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateChecks {
    /// References to look up, sorted by their familiar name.
    pub checks: Vec<UpdateCheck>,
    /// References pinned by digest, with their containers: never updated.
    pub pinned: Vec<(String, Vec<String>)>,
}

/// Collects the references `rules` (the `update` ones among them) keep fresh.
pub fn collect(snapshot: &Snapshot, rules: &[&Rule], protect: &Protect) -> UpdateChecks {
    let mut checks: BTreeMap<String, UpdateCheck> = BTreeMap::new();
    let mut pinned: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let images_by_id: std::collections::HashMap<&str, &Image> =
        snapshot.images.iter().map(|i| (i.id.as_str(), i)).collect();
    for rule in rules.iter().filter(|r| r.action == Action::Update) {
        for c in snapshot.containers.iter().filter(|c| c.is_active()) {
            let Some(reference) = &c.image_ref else {
                continue;
            };
            let image_refs = images_by_id
                .get(c.image_id.as_str())
                .map(|i| i.refs.as_slice())
                .unwrap_or_default();
            let selected = rule.matcher.matches_name(&c.name)
                && rule.matcher.matches_labels(&c.labels)
                && (rule.matcher.images.is_empty()
                    || rule
                        .matcher
                        .matches_image(std::iter::once(reference).chain(image_refs)));
            let protected = protect.protects_container(&c.name, Some(reference), &c.labels)
                || protect.images.iter().any(|p| p.matches_any(image_refs));
            if !selected || protected {
                continue;
            }
            if reference.digest().is_some() {
                pinned
                    .entry(reference.familiar())
                    .or_default()
                    .push(c.name.clone());
                continue;
            }
            let entry = entry(&mut checks, reference, snapshot);
            push_unique(&mut entry.rules, &rule.name);
            push_unique(&mut entry.containers, &c.name);
        }
        if rule.matcher.images.is_empty() {
            continue;
        }
        for image in &snapshot.images {
            if protect.protects_image(&image.refs, &image.labels)
                || !rule.matcher.matches_labels(&image.labels)
            {
                continue;
            }
            for reference in image
                .refs
                .iter()
                .filter(|r| r.tag().is_some() && r.digest().is_none())
            {
                if rule.matcher.images.iter().any(|p| p.matches(reference)) {
                    let entry = entry(&mut checks, reference, snapshot);
                    push_unique(&mut entry.rules, &rule.name);
                }
            }
        }
    }
    UpdateChecks {
        checks: checks.into_values().collect(),
        pinned: pinned.into_iter().collect(),
    }
}

fn entry<'a>(
    checks: &'a mut BTreeMap<String, UpdateCheck>,
    reference: &ImageRef,
    snapshot: &Snapshot,
) -> &'a mut UpdateCheck {
    checks.entry(reference.familiar()).or_insert_with(|| {
        let local = snapshot.images.iter().find(|i| {
            i.refs
                .iter()
                .any(|r| r.digest().is_none() && r == reference)
        });
        UpdateCheck {
            reference: reference.clone(),
            rules: Vec::new(),
            containers: Vec::new(),
            local_image: local.map(|i| i.id.clone()),
            local_digests: local.map(|i| i.digests.clone()).unwrap_or_default(),
        }
    })
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|x| x == item) {
        list.push(item.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Container;

    fn container(name: &str, image: &str, state: &str, labels: &[(&str, &str)]) -> Container {
        let mut c = Container {
            id: format!("id-{name}"),
            name: name.to_owned(),
            image_id: format!("sha256:{image}"),
            state: state.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Container::default()
        };
        c.set_image(image);
        c
    }

    fn image(tags: &[&str], digests: &[&str]) -> Image {
        Image {
            id: format!("sha256:{}", tags.first().copied().unwrap_or("none")),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            digests: digests.iter().map(|d| (*d).to_owned()).collect(),
            refs: tags
                .iter()
                .chain(digests)
                .filter_map(|t| ImageRef::parse(t).ok())
                .collect(),
            ..Image::default()
        }
    }

    #[test]
    fn running_labelled_containers_and_image_patterns_are_collected_pinned_and_protected_are_not() {
        let set = swab_rules::load_str(
            "t.yaml",
            "version: 1\nprotect:\n  containers: [\"db\"]\nrules:\n  - name: u\n    action: update\n    match:\n      labels: [\"autoupdate=true\"]\n  - name: fresh\n    action: update\n    match:\n      images: [\"myorg/base\"]\n",
        )
        .unwrap();
        let snapshot = Snapshot {
            containers: vec![
                container("web", "myorg/web:1", "running", &[("autoupdate", "true")]),
                container("web2", "myorg/web:1", "running", &[("autoupdate", "true")]),
                container(
                    "stopped",
                    "myorg/other:1",
                    "exited",
                    &[("autoupdate", "true")],
                ),
                container("manual", "myorg/manual:1", "running", &[]),
                container("db", "postgres:16", "running", &[("autoupdate", "true")]),
                container(
                    "pinned",
                    "myorg/pin@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                    "running",
                    &[("autoupdate", "true")],
                ),
            ],
            images: vec![
                image(&["myorg/web:1"], &["myorg/web@sha256:aaaa"]),
                image(&["myorg/base:latest"], &[]),
            ],
            ..Snapshot::default()
        };
        let rules: Vec<_> = set.rules.iter().collect();
        let got = collect(&snapshot, &rules, &set.protect);
        let names: Vec<String> = got.checks.iter().map(|c| c.reference.familiar()).collect();
        assert_eq!(names, ["myorg/base:latest", "myorg/web:1"]);
        let web = &got.checks[1];
        assert_eq!(web.containers, ["web", "web2"]);
        assert_eq!(web.rules, ["u"]);
        assert_eq!(web.local_image.as_deref(), Some("sha256:myorg/web:1"));
        assert_eq!(web.local_digests, ["myorg/web@sha256:aaaa"]);
        assert_eq!(got.checks[0].rules, ["fresh"]);
        assert!(got.checks[0].containers.is_empty());
        assert_eq!(got.pinned.len(), 1);
        assert_eq!(got.pinned[0].1, ["pinned"]);
    }
}
