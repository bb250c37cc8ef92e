//! Replacing one container: what the replacement is (pure, from the old container's
//! inspect), then the IO around it (journal, park, create, start).

use std::time::Duration;

use serde_json::{Value, json};
use swab_docker::{ApiVersion, Error};
use swab_rules::ImageRef;

use super::error::is_image_fault;
use super::recreate::{self, CreateSpec, RecreateError};
use super::{Failure, Step, Swapped, UpdateError, Updater, compose, unix_now};
use crate::snapshot::short_id;
use crate::state::{InFlight, Swap};
use crate::updates::{Target, UpdateGroup};

/// Which container of a unit is replaced.
#[derive(Debug, Clone)]
pub(super) enum Role<'a> {
    /// The container whose image is updated: its create and start failures blame the new
    /// image, whose ID is `image_id`.
    Main {
        /// The ID of the image the replacement runs.
        image_id: &'a str,
        /// Tag tracking, and `swab rollback` of it: the container moves to another
        /// reference. `None`: created from the reference it spelt.
        moved: Option<Moved>,
    },
    /// A container in the network stack of `host` (the main container's replacement): it
    /// joins the replacement's stack; its failures are not the new image's. Created from
    /// its own image as it spelt it: if that is the updated `reference`, that now names
    /// `image_id`.
    NetworkDependent {
        /// The replacement's ID.
        host: &'a str,
        /// The reference being updated.
        reference: &'a ImageRef,
        /// The image it names now.
        image_id: &'a str,
    },
}

/// A main container that changes reference (tag tracking), from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Moved {
    /// The reference the replacement is created from (its `Config.Image`).
    pub(crate) reference: String,
    /// The reference it was on, recorded in [`TRACKED_FROM_LABEL`] for `swab rollback`;
    /// `None` when going back (the label goes).
    pub(crate) from: Option<String>,
    /// The `com.docker.compose.config-hash` Compose computes for the edited compose file,
    /// for a Compose container whose file swab edited.
    pub(crate) config_hash: Option<String>,
}

/// The label on a replacement that tag tracking moved to another tag, naming the reference
/// it came from: `swab rollback` goes back to that reference's rollback tag. A digest update
/// removes it (the rollback tag is then the current tag's).
pub const TRACKED_FROM_LABEL: &str = "swab.tracked-from";

/// Compose's label for the hash of a service's configuration; it changes with the image a
/// compose file names.
pub(super) const COMPOSE_CONFIG_HASH_LABEL: &str = "com.docker.compose.config-hash";

/// Everything replacing a container needs, decided before anything changes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Replacement {
    /// The create request.
    pub spec: CreateSpec,
    /// The journal entry, written before the old container is stopped.
    pub swap: Swap,
    /// The grace period for the stop.
    pub stop_timeout: Duration,
    /// The old container's restart policy, turned off while it is parked.
    pub policy: Value,
}

/// The replacement of the container `raw` (its inspect as the daemon sent it), created
/// from the image as the container spelt it (`Config.Image`: after the pull, that
/// reference names the new image; a dependent's names its own). Pure: `now` is the
/// journal time in unix seconds.
pub(super) fn derive_replacement(
    raw: &Value,
    old_image_config: &Value,
    api: ApiVersion,
    target: &Target,
    role: Role<'_>,
    stop_timeout: Option<Duration>,
    now: u64,
) -> Result<Replacement, RecreateError> {
    let moved = match &role {
        Role::Main { moved, .. } => moved.as_ref(),
        Role::NetworkDependent { .. } => None,
    };
    let image = match moved {
        Some(moved) => moved.reference.clone(),
        None => raw["Config"]["Image"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    let mut spec = recreate::create_body(raw, old_image_config, &image, api)?;
    let was_running = match role {
        Role::Main { image_id, moved } => {
            compose_image_label(&mut spec.body, image_id);
            track_labels(&mut spec.body, moved.as_ref());
            raw["State"]["Running"] == true
        }
        // A dependent was stopped by swab a moment ago: whether it ran is what it was then.
        Role::NetworkDependent {
            host,
            reference,
            image_id,
        } => {
            spec.body["HostConfig"]["NetworkMode"] = json!(format!("container:{host}"));
            if ImageRef::parse(&image).is_ok_and(|r| r == *reference) {
                compose_image_label(&mut spec.body, image_id);
            }
            target.running
        }
    };
    // The container's own grace period unless the rule sets one; given explicitly, so the
    // client waits long enough for it.
    let stop_timeout = stop_timeout.unwrap_or_else(|| {
        raw["Config"]["StopTimeout"]
            .as_u64()
            .map_or(super::DEFAULT_STOP_GRACE, Duration::from_secs)
    });
    let policy = raw["HostConfig"]["RestartPolicy"].clone();
    let swap = Swap {
        name: target.name.clone(),
        old_id: target.id.clone(),
        parked_name: format!("{}-swab-old-{}", target.name, short_id(&target.id)),
        was_running,
        new_id: None,
        image,
        restart_policy: Some(policy.clone()),
        journalled_at: now,
        stop_timeout: stop_timeout.as_secs(),
    };
    Ok(Replacement {
        spec,
        swap,
        stop_timeout,
        policy,
    })
}

/// The label Compose records the image a container was created from in: the ID
/// `docker image inspect <service image>` gives. Compose recreates a container whose label
/// differs from the ID its image reference names now, so a replacement on a new image must
/// carry the new ID, or the next `docker compose up -d` recreates it again. Every other
/// Compose label (the config hash among them) does not depend on the image and is kept.
/// Only a container that has the label (one Compose created) gets it.
pub(super) const COMPOSE_IMAGE_LABEL: &str = "com.docker.compose.image";

fn compose_image_label(body: &mut Value, image_id: &str) {
    if let Some(label) = body
        .get_mut("Labels")
        .and_then(|labels| labels.get_mut(COMPOSE_IMAGE_LABEL))
    {
        *label = json!(image_id);
    }
}

/// The labels of a main container's replacement that say where tag tracking moved it
/// from: set when it moves, removed otherwise; and Compose's config hash for the file swab
/// edited, on a container that has one.
fn track_labels(body: &mut Value, moved: Option<&Moved>) {
    let from = moved.and_then(|m| m.from.as_deref());
    let Some(labels) = body.get_mut("Labels").and_then(Value::as_object_mut) else {
        if let Some(from) = from {
            body["Labels"] = json!({ TRACKED_FROM_LABEL: from });
        }
        return;
    };
    match from {
        Some(from) => {
            labels.insert(TRACKED_FROM_LABEL.to_owned(), json!(from));
        }
        None => {
            labels.remove(TRACKED_FROM_LABEL);
        }
    }
    if let (Some(hash), Some(label)) = (
        moved.and_then(|m| m.config_hash.as_deref()),
        labels.get_mut(COMPOSE_CONFIG_HASH_LABEL),
    ) {
        *label = json!(hash);
    }
}

impl Updater<'_> {
    /// Journals, stops, parks and replaces one container; returns the replacement's ID.
    /// The old container is in `mine` before it is touched, so the unit's undo always
    /// knows it.
    pub(super) async fn replace(
        &self,
        target: &Target,
        role: Role<'_>,
        group: &UpdateGroup,
        journal: &mut InFlight,
        mine: &mut Vec<Swapped>,
    ) -> Result<String, Failure> {
        let main = matches!(role, Role::Main { .. });
        let fail = |error: UpdateError| Failure::new(&target.name, error);
        let raw = self
            .engine
            .inspect_container_raw(&target.id)
            .await
            .map_err(|e| fail(UpdateError::docker(Step::Inspect)(e)))?;
        let old_image_id = raw["Image"].as_str().unwrap_or_default().to_owned();
        let old_image_config = match self.engine.inspect_image(&old_image_id).await {
            Ok(image) => serde_json::to_value(image.config).unwrap_or(Value::Null),
            Err(e) => return Err(fail(UpdateError::docker(Step::ReadImage)(e))),
        };
        let api = self
            .engine
            .api_version()
            .await
            .map_err(|e| fail(UpdateError::docker(Step::ApiVersion)(e)))?;
        // A main container follows the journal's target (tag tracking), if any.
        let role = match role {
            Role::Main { image_id, .. } => Role::Main {
                image_id,
                moved: journal.moved(&raw["Config"]["Labels"]),
            },
            dependent @ Role::NetworkDependent { .. } => dependent,
        };
        let Replacement {
            spec,
            swap,
            stop_timeout,
            policy,
        } = derive_replacement(
            &raw,
            &old_image_config,
            api,
            target,
            role,
            group.stop_timeout,
            unix_now(),
        )
        .map_err(|e| fail(UpdateError::Derive(e)))?;

        // Journal before the stop: from here on, recovery knows the container.
        let before = journal.clone();
        journal.containers.push(swap.clone());
        journal.stopped.retain(|s| s.id != target.id);
        if let Err(err) = self.write_journal(journal) {
            *journal = before;
            return Err(fail(err));
        }
        let mut old = Swapped::of(&swap);
        old.main = main;
        // In the unit's list before parking: whatever happens next, the unit's undo puts it
        // back in order (a dependent after its network host).
        mine.push(old);
        tracing::info!(container = %target.name, "stopping");
        let signal = target.stop_signal.as_deref();
        self.park(
            &target.id,
            &swap.parked_name,
            (stop_timeout, signal),
            &policy,
        )
        .await
        .map_err(fail)?;

        let created = match self.engine.create_container(&spec.name, &spec.body).await {
            Ok(created) => created,
            Err(e) => {
                // A name conflict means someone else's container has the name: never take
                // it for ours, and not the new image's fault.
                let conflict = matches!(e, Error::Conflict { .. });
                if conflict && let Some(last) = mine.last_mut() {
                    last.created_window = None;
                }
                let blame = main && !conflict && is_image_fault(&e);
                return Err(fail(UpdateError::docker(Step::Create)(e)).blamed(blame));
            }
        };
        if let Some(last) = mine.last_mut() {
            last.new_id = Some(created.clone());
        }
        if let Some(last) = journal.containers.last_mut() {
            last.new_id = Some(created.clone());
        }
        self.write_journal(journal).map_err(fail)?;
        self.carry_over_files(&raw, &target.id, &created)
            .await
            .map_err(fail)?;
        if swap.was_running {
            tracing::info!(container = %target.name, id = %short_id(&created), "starting the replacement");
            self.engine.start_container(&created).await.map_err(|e| {
                let blame = main && is_image_fault(&e);
                fail(UpdateError::docker(Step::Start)(e)).blamed(blame)
            })?;
        }
        Ok(created)
    }

    /// Copies what Compose put into the old container after creating it (configs and
    /// secrets with `content:` or `environment:`) into the replacement, before it starts,
    /// as Compose does. Compose files swab cannot read fail the swap (the update checks
    /// them before it stops anything, so this only happens if they went away since).
    async fn carry_over_files(&self, raw: &Value, old: &str, new: &str) -> Result<(), UpdateError> {
        let name = raw["Name"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('/');
        let (service, documents) = match compose::documents(&raw["Config"]["Labels"]) {
            None => return Ok(()),
            Some(Ok(found)) => found,
            Some(Err(why)) => return Err(UpdateError::Refused(why)),
        };
        let paths = compose::injected_paths(&documents, &service).map_err(UpdateError::Refused)?;
        for path in paths {
            match self.engine.copy_path(old, new, &path).await {
                Ok(true) => {
                    tracing::debug!(container = %name, %path, "copied into the replacement");
                }
                Ok(false) => {
                    tracing::warn!(container = %name, %path, "not in the old container; not copied");
                }
                Err(err) => return Err(UpdateError::docker(Step::CopyFiles)(err)),
            }
        }
        Ok(())
    }

    /// Stops a container (within `stop_timeout`, with the signal given or its own), turns
    /// its restart policy off (so a daemon restart does not run it next to its
    /// replacement) and renames it out of the way.
    async fn park(
        &self,
        id: &str,
        parked_name: &str,
        (stop_timeout, signal): (Duration, Option<&str>),
        policy: &Value,
    ) -> Result<(), UpdateError> {
        if let Err(err) = self
            .engine
            .stop_container(id, Some(stop_timeout), signal)
            .await
        {
            if err.is_outcome_unknown() {
                super::undo::settle_stop(self.engine, id, parked_name, stop_timeout).await;
            }
            return Err(UpdateError::docker(Step::Stop)(err));
        }
        if super::restarts(policy) {
            let off = json!({"RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}});
            self.engine
                .update_container(id, &off)
                .await
                .map_err(UpdateError::docker(Step::DisableRestart))?;
        }
        self.engine
            .rename_container(id, parked_name)
            .await
            .map_err(UpdateError::docker(Step::Rename))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(running: bool, stop_timeout: Option<u64>) -> Value {
        json!({
            "Id": "0123456789abcdef0123",
            "Name": "/web",
            "Image": "sha256:old",
            "Config": {"Image": "r.example/app:1", "StopTimeout": stop_timeout},
            "HostConfig": {
                "NetworkMode": "default",
                "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
            },
            "State": {"Running": running},
        })
    }

    fn target(running: bool) -> Target {
        Target {
            id: "0123456789abcdef0123".to_owned(),
            name: "web".to_owned(),
            running,
            stop_signal: None,
        }
    }

    fn api() -> ApiVersion {
        "1.51".parse().unwrap()
    }

    /// [`derive_replacement`] of `raw` for `target` in `role`, with an empty image config.
    fn derive(
        raw: &Value,
        target: &Target,
        role: Role<'_>,
        stop_timeout: Option<Duration>,
        now: u64,
    ) -> Result<Replacement, RecreateError> {
        derive_replacement(raw, &Value::Null, api(), target, role, stop_timeout, now)
    }

    #[test]
    fn the_main_container_is_journalled_as_it_is_with_its_own_grace_period() {
        let r = derive(
            &raw(true, Some(42)),
            &target(false),
            Role::Main {
                image_id: "sha256:new",
                moved: None,
            },
            None,
            1000,
        )
        .unwrap();
        assert_eq!(r.spec.name, "web");
        assert_eq!(r.spec.body["Image"], "r.example/app:1");
        assert_eq!(r.swap.parked_name, "web-swab-old-0123456789ab");
        assert!(
            r.swap.was_running,
            "whether it runs is read from its inspect"
        );
        assert_eq!(r.swap.image, "r.example/app:1");
        assert_eq!(r.swap.journalled_at, 1000);
        assert_eq!(r.swap.new_id, None);
        assert_eq!(r.stop_timeout, Duration::from_secs(42));
        assert_eq!(r.policy["Name"], "unless-stopped");
        assert_eq!(r.swap.restart_policy.as_ref(), Some(&r.policy));
        assert_eq!(r.spec.body["HostConfig"]["NetworkMode"], "default");
    }

    #[test]
    fn a_network_dependent_joins_the_replacement_and_keeps_what_it_was() {
        let r = derive(
            &raw(false, None),
            &target(true),
            Role::NetworkDependent {
                host: "newid",
                reference: &ImageRef::parse("other:1").unwrap(),
                image_id: "sha256:new",
            },
            Some(Duration::from_secs(5)),
            0,
        )
        .unwrap();
        assert_eq!(r.spec.body["HostConfig"]["NetworkMode"], "container:newid");
        assert!(
            r.swap.was_running,
            "swab stopped it a moment ago: it ran before that"
        );
        assert_eq!(
            r.stop_timeout,
            Duration::from_secs(5),
            "the rule's grace period"
        );
        let r = derive(
            &raw(true, None),
            &target(true),
            Role::Main {
                image_id: "sha256:new",
                moved: None,
            },
            None,
            0,
        )
        .unwrap();
        assert_eq!(r.stop_timeout, Duration::from_secs(10), "Docker's default");
    }

    #[test]
    fn a_compose_container_records_the_new_image_and_keeps_its_other_labels() {
        let mut compose = raw(true, None);
        compose["Config"]["Labels"] = json!({
            "com.docker.compose.project": "p",
            "com.docker.compose.service": "web",
            "com.docker.compose.config-hash": "abc123",
            "com.docker.compose.image": "sha256:old",
            "owner": "me",
        });
        let r = derive(
            &compose,
            &target(true),
            Role::Main {
                image_id: "sha256:new",
                moved: None,
            },
            None,
            0,
        )
        .unwrap();
        assert_eq!(
            r.spec.body["Labels"],
            json!({
                "com.docker.compose.project": "p",
                "com.docker.compose.service": "web",
                "com.docker.compose.config-hash": "abc123",
                "com.docker.compose.image": "sha256:new",
                "owner": "me",
            })
        );
        // A dependent on its own image keeps its label; one on the updated reference runs
        // the new image too, and says so.
        let dependent = |reference: &str| {
            derive(
                &compose,
                &target(true),
                Role::NetworkDependent {
                    host: "x",
                    reference: &ImageRef::parse(reference).unwrap(),
                    image_id: "sha256:new",
                },
                None,
                0,
            )
            .unwrap()
            .spec
            .body["Labels"][COMPOSE_IMAGE_LABEL]
                .clone()
        };
        assert_eq!(dependent("other:1"), "sha256:old");
        assert_eq!(dependent("r.example/app:1"), "sha256:new");
        // Not created by Compose: no label is added.
        let r = derive(
            &raw(true, None),
            &target(true),
            Role::Main {
                image_id: "sha256:new",
                moved: None,
            },
            None,
            0,
        )
        .unwrap();
        assert_eq!(r.spec.body.get("Labels"), None);
    }

    #[test]
    fn an_inspect_without_host_config_is_an_error_not_a_guess() {
        let mut broken = raw(true, None);
        broken["HostConfig"] = Value::Null;
        let err = derive(
            &broken,
            &target(true),
            Role::Main {
                image_id: "sha256:new",
                moved: None,
            },
            None,
            0,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "HostConfig is missing");
    }
}
