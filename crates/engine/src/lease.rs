//! The lock held on the Docker daemon itself, so that swab processes on different machines
//! (a fleet controller, the host's own swab) never act on one daemon at the same time. A
//! file lock ([`crate::lock`]) only reaches processes on the same machine.
//!
//! The lock is a container named `swab-lock`, created and never started. Creating a
//! container under a name that is taken fails with 409 on every engine, and the daemon
//! reserves the name atomically, so whoever creates it holds the lock. (A named volume would
//! not do: creating one that exists succeeds and keeps the first one's labels.) The
//! container runs nothing and has no network; its image is `swab-lock:1`, a 1-layer image of
//! one empty directory that swab imports once per daemon.
//!
//! **Lease.** A holder that dies leaves the container behind, so the lock is a lease: it
//! lasts `lease` after the newest of the lock's creation and its *beats*, smaller containers
//! the holder creates every `lease / 3` (and removes the one before). Labels cannot change
//! on a container, so a newer container is how a lease is renewed. All times are the
//! daemon's own (`Created`, `/info` `SystemTime`), so the clocks of the machines sharing the
//! daemon do not matter. An expired lease is taken over: the lock is removed by its ID (two
//! takers cannot both remove it and both win: the second removal finds nothing, and the
//! second create finds the new lock), and created again.
//!
//! A holder that finds its lock gone or replaced when renewing has lost it: it sets the
//! run's [`Cancel`], so actions in flight finish or roll back and nothing new starts.
//!
//! Every object carries the label `swab.lock`, and the snapshot leaves them out
//! ([`is_lock_object`]), so no rule ever sees, keeps or removes them.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde_json::json;
use swab_docker::models::{from_unix, parse_timestamp};
use swab_docker::{Docker, Filters, ListContainersOptions, RemoveContainerOptions};

use crate::cancel::Cancel;

/// The lock container's name unless `SWAB_LOCK_NAME` says otherwise (see [`lock_name`]).
pub const LOCK_NAME: &str = "swab-lock";
/// The image the lock and its beats are created from.
pub const LOCK_IMAGE: (&str, &str) = ("swab-lock", "1");
/// The label every lock object carries: `lock`, `beat` or `image`.
pub const LOCK_LABEL: &str = "swab.lock";
/// Who holds the lock: host name, PID and since when.
pub const HOLDER_LABEL: &str = "swab.lock.holder";
/// The lease in seconds.
pub const LEASE_LABEL: &str = "swab.lock.lease";
/// The holder process as `BOOT_ID/PID_NAMESPACE/PID`: a swab on the same machine (same
/// boot, same PID namespace) that finds that process gone takes the lock over at once,
/// instead of waiting out the lease of a run that was killed.
pub const PROCESS_LABEL: &str = "swab.lock.process";
/// On a beat: the ID of the lock it renews.
pub const BEAT_OF_LABEL: &str = "swab.lock.of";
/// How long a lease lasts without renewal.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The lock container's name: `$SWAB_LOCK_NAME` if set (separate swab setups sharing one
/// daemon, such as parallel test suites), else [`LOCK_NAME`].
pub fn lock_name() -> String {
    std::env::var("SWAB_LOCK_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| LOCK_NAME.to_owned())
}

/// Whether a container or image with these labels is one of the lock's own objects, which
/// no rule may see.
pub fn is_lock_object<S: std::hash::BuildHasher>(labels: &HashMap<String, String, S>) -> bool {
    labels.contains_key(LOCK_LABEL)
}

/// When a lease ends: `lease` after the newest of the lock's creation and its beats'.
pub fn expiry(created: SystemTime, beats: &[SystemTime], lease: Duration) -> SystemTime {
    beats.iter().copied().fold(created, SystemTime::max) + lease
}

/// How to take the lock.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// The lock container's name ([`lock_name`]).
    pub name: String,
    /// How long the lease lasts without renewal.
    pub lease: Duration,
    /// How long to wait for a holder to finish (zero: do not wait).
    pub wait: Duration,
    /// What the holder label says: who is acting.
    pub holder: String,
}

impl LeaseOptions {
    /// The lock for this process: the default name and lease, the holder named after this
    /// machine and process.
    pub fn for_this_process(wait: Duration) -> LeaseOptions {
        LeaseOptions {
            name: lock_name(),
            lease: DEFAULT_LEASE,
            wait,
            holder: holder_here(),
        }
    }
}

/// `swab on HOST pid PID since TIME`.
pub fn holder_here() -> String {
    let uname = rustix::system::uname();
    let host = uname.nodename().to_string_lossy();
    let since = humantime::format_rfc3339_seconds(SystemTime::now());
    format!("swab on {host} pid {} since {since}", std::process::id())
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// Another swab holds it and its lease has not run out.
    #[error(
        "another swab is acting on {endpoint} ({holder}; lease until {until}); wait for it or retry with --wait-lock"
    )]
    Busy {
        /// The daemon.
        endpoint: String,
        /// The holder label.
        holder: String,
        /// When the lease ends unless renewed (the daemon's clock).
        until: String,
    },
    /// A container with the lock's name exists that swab did not create: never removed.
    #[error(
        "a container named {name} exists on {endpoint} that swab did not make (no {LOCK_LABEL} label); swab uses that name for its lock: rename that container"
    )]
    Foreign {
        /// The daemon.
        endpoint: String,
        /// The name.
        name: String,
    },
    /// The daemon did not answer or refused.
    #[error("cannot take the lock on {endpoint}")]
    Docker {
        /// The daemon.
        endpoint: String,
        /// Why.
        #[source]
        source: swab_docker::Error,
    },
}

impl LeaseError {
    /// True when the daemon is unreachable (exit code 3).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, LeaseError::Docker { source, .. } if source.is_unreachable())
    }
}

/// A held lock. Renewed in the background until [`Lease::release`]; dropping it without
/// releasing stops the renewal and lets the lease run out.
#[derive(Debug)]
pub struct Lease {
    docker: Docker,
    id: String,
    renewer: tokio::task::JoinHandle<()>,
}

/// What a look at a taken lock found.
enum Holder {
    /// Held until then.
    Until { holder: String, until: SystemTime },
    /// Expired: remove `id` (and its beats) and try again.
    Expired { id: String, holder: String },
    /// Gone between the create and the look: try again.
    Gone,
}

impl Lease {
    /// Takes the lock on `docker`, waiting up to `options.wait` for a holder. `lost` is set
    /// if the lock is lost while held (the lease ran out and someone took it over).
    pub async fn acquire(
        docker: &Docker,
        options: &LeaseOptions,
        lost: Cancel,
    ) -> Result<Lease, LeaseError> {
        let fail = |source| LeaseError::Docker {
            endpoint: docker.endpoint().to_owned(),
            source,
        };
        let deadline = tokio::time::Instant::now() + options.wait;
        let mut logged = false;
        loop {
            match create(docker, &options.name, &lock_labels(options)).await {
                Ok(id) => {
                    let renewer =
                        tokio::spawn(renew(docker.clone(), options.clone(), id.clone(), lost));
                    return Ok(Lease {
                        docker: docker.clone(),
                        id,
                        renewer,
                    });
                }
                Err(err) if err.is_conflict() => {}
                Err(err) => return Err(fail(err)),
            }
            match look(docker, &options.name).await? {
                Holder::Gone => {}
                Holder::Expired { id, holder } => {
                    tracing::warn!(
                        endpoint = docker.endpoint(),
                        holder,
                        "taking over a lock whose lease ran out"
                    );
                    remove_beats(docker, &id).await;
                    match docker
                        .remove_container(&id, RemoveContainerOptions::default())
                        .await
                    {
                        Ok(()) => {}
                        Err(err) if err.is_not_found() || err.is_conflict() => {}
                        Err(err) => return Err(fail(err)),
                    }
                }
                Holder::Until { holder, until } => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(LeaseError::Busy {
                            endpoint: docker.endpoint().to_owned(),
                            holder,
                            until: humantime::format_rfc3339_seconds(until).to_string(),
                        });
                    }
                    if !logged {
                        tracing::info!(
                            endpoint = docker.endpoint(),
                            holder,
                            "waiting for another swab to finish"
                        );
                        logged = true;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// The lock container's ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Stops renewing and removes the lock and its beats. A failure is logged: the lease
    /// then runs out by itself.
    pub async fn release(self) {
        self.renewer.abort();
        remove_beats(&self.docker, &self.id).await;
        match self
            .docker
            .remove_container(&self.id, RemoveContainerOptions::default())
            .await
        {
            Ok(()) => {}
            Err(err) if err.is_not_found() => {}
            Err(err) => tracing::warn!(
                endpoint = self.docker.endpoint(), error = %err,
                "cannot remove the lock; it runs out with its lease"
            ),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

fn lock_labels(options: &LeaseOptions) -> serde_json::Value {
    json!({
        LOCK_LABEL: "lock",
        HOLDER_LABEL: options.holder,
        LEASE_LABEL: options.lease.as_secs().max(1).to_string(),
        PROCESS_LABEL: this_process().unwrap_or_default(),
        "swab.protect": "true",
    })
}

/// Creates a never-started container of the lock image, importing the image if the daemon
/// lacks it. Returns its ID; a taken name is the daemon's 409.
async fn create(
    docker: &Docker,
    name: &str,
    labels: &serde_json::Value,
) -> Result<String, swab_docker::Error> {
    let body = json!({
        "Image": format!("{}:{}", LOCK_IMAGE.0, LOCK_IMAGE.1),
        "Cmd": ["swab-lock"],
        "Labels": labels,
        "NetworkDisabled": true,
        "HostConfig": {"NetworkMode": "none"},
    });
    match docker.create_container(Some(name), &body).await {
        Ok(created) => Ok(created.id),
        Err(err) if err.is_not_found() => {
            import_image(docker).await?;
            docker
                .create_container(Some(name), &body)
                .await
                .map(|c| c.id)
        }
        Err(err) => Err(err),
    }
}

/// Imports `swab-lock:1`: one layer holding the empty directory `/swab-lock`.
async fn import_image(docker: &Docker) -> Result<(), swab_docker::Error> {
    let label = format!("LABEL {LOCK_LABEL}=image swab.protect=true");
    docker
        .import_image(
            LOCK_IMAGE.0,
            LOCK_IMAGE.1,
            &[&label, "CMD [\"swab-lock\"]"],
            Bytes::from(crate::tar::directory("/swab-lock")),
        )
        .await
        .map(drop)
}

/// Who holds the lock named `name`, and until when.
async fn look(docker: &Docker, name: &str) -> Result<Holder, LeaseError> {
    let fail = |source| LeaseError::Docker {
        endpoint: docker.endpoint().to_owned(),
        source,
    };
    let lock = match docker.inspect_container(name).await {
        Ok(lock) => lock,
        Err(err) if err.is_not_found() => return Ok(Holder::Gone),
        Err(err) => return Err(fail(err)),
    };
    let labels = &lock.config.labels;
    if !labels.contains_key(LOCK_LABEL) {
        return Err(LeaseError::Foreign {
            endpoint: docker.endpoint().to_owned(),
            name: name.to_owned(),
        });
    }
    let holder = labels
        .get(HOLDER_LABEL)
        .cloned()
        .unwrap_or_else(|| "holder unknown".to_owned());
    let lease = labels
        .get(LEASE_LABEL)
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(DEFAULT_LEASE, Duration::from_secs);
    if labels
        .get(PROCESS_LABEL)
        .is_some_and(|process| has_exited_here(process))
    {
        return Ok(Holder::Expired {
            id: lock.id,
            holder: format!("{holder}, which has exited"),
        });
    }
    let beats = beats_of(docker, &lock.id).await.map_err(fail)?;
    let now = docker.info().await.map_err(fail)?;
    let (Some(created), Some(now)) = (
        parse_timestamp(&lock.created),
        parse_timestamp(&now.system_time),
    ) else {
        // Without the daemon's times the lease cannot be judged: it is held.
        return Ok(Holder::Until {
            holder,
            until: SystemTime::now() + lease,
        });
    };
    let until = expiry(
        created,
        &beats.iter().map(|b| b.1).collect::<Vec<_>>(),
        lease,
    );
    Ok(if now >= until {
        Holder::Expired {
            id: lock.id,
            holder,
        }
    } else {
        Holder::Until { holder, until }
    })
}

/// This process as [`PROCESS_LABEL`] writes it; `None` without `/proc`.
fn this_process() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!(
        "{}/{}/{}",
        boot.trim(),
        namespace.display(),
        std::process::id()
    ))
}

/// Whether `process` ([`PROCESS_LABEL`]) names a process of this boot and PID namespace
/// that no longer exists. Anything else (another machine, another namespace, a PID in use,
/// perhaps by another program now) counts as alive: the lease decides.
fn has_exited_here(process: &str) -> bool {
    let Some((place, pid)) = process.rsplit_once('/') else {
        return false;
    };
    let Some(here) = this_process() else {
        return false;
    };
    let Some((here_place, _)) = here.rsplit_once('/') else {
        return false;
    };
    let Some(pid) = pid
        .parse::<i32>()
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    place == here_place && rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH)
}

/// The beats of lock `id`: their IDs and creation times.
async fn beats_of(
    docker: &Docker,
    id: &str,
) -> Result<Vec<(String, SystemTime)>, swab_docker::Error> {
    let options = ListContainersOptions {
        all: true,
        size: false,
        filters: Filters::new().with("label", format!("{BEAT_OF_LABEL}={id}")),
    };
    Ok(docker
        .list_containers(&options)
        .await?
        .into_iter()
        .filter_map(|c| from_unix(c.created).map(|t| (c.id, t)))
        .collect())
}

async fn remove_beats(docker: &Docker, id: &str) {
    if let Ok(beats) = beats_of(docker, id).await {
        for (beat, _) in beats {
            let _ = docker
                .remove_container(&beat, RemoveContainerOptions::default())
                .await;
        }
    }
}

/// Renews the lease every `lease / 3` with a new beat, then removes the one before. Sets
/// `lost` when the lock is no longer ours.
async fn renew(docker: Docker, options: LeaseOptions, id: String, lost: Cancel) {
    let every = (options.lease / 3).max(Duration::from_secs(1));
    let short = &id[..id.len().min(12)];
    let mut previous: Option<String> = None;
    for seq in 1u64.. {
        tokio::time::sleep(every).await;
        let labels = json!({
            LOCK_LABEL: "beat",
            BEAT_OF_LABEL: id,
            "swab.protect": "true",
        });
        let name = format!("{}-{short}-{seq}", options.name);
        let beat = create(&docker, &name, &labels).await;
        // The lock is ours only while the name still points at our container.
        match docker.inspect_container(&options.name).await {
            Ok(lock) if lock.id == id => {}
            Ok(_) | Err(swab_docker::Error::NotFound { .. }) => {
                tracing::error!(
                    endpoint = docker.endpoint(),
                    "lost the lock on this daemon (its lease ran out and another swab took it): stopping the run"
                );
                lost.cancel();
                if let Ok(beat) = beat {
                    let _ = docker
                        .remove_container(&beat, RemoveContainerOptions::default())
                        .await;
                }
                return;
            }
            // Unreachable for now: the lease may still be renewed in time.
            Err(_) => {}
        }
        match beat {
            Ok(beat) => {
                if let Some(old) = previous.replace(beat) {
                    let _ = docker
                        .remove_container(&old, RemoveContainerOptions::default())
                        .await;
                }
            }
            Err(err) => {
                tracing::warn!(endpoint = docker.endpoint(), error = %err, "cannot renew the lock's lease");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_lease_runs_from_the_newest_beat() {
        let lease = Duration::from_secs(60);
        assert_eq!(expiry(at(100), &[], lease), at(160));
        assert_eq!(
            expiry(at(100), &[at(120), at(140), at(130)], lease),
            at(200)
        );
        // A beat older than the lock (a clock step) never shortens the lease.
        assert_eq!(expiry(at(100), &[at(90)], lease), at(160));
    }

    #[test]
    fn only_a_gone_process_of_this_machine_has_exited() {
        let here = this_process().unwrap();
        assert!(!has_exited_here(&here), "this process is alive");
        let (place, _) = here.rsplit_once('/').unwrap();
        // A PID above the kernel's maximum never exists.
        assert!(has_exited_here(&format!("{place}/4194305")));
        assert!(!has_exited_here("another-boot/pid:[1]/4194305"));
        assert!(!has_exited_here("garbage"));
    }

    #[test]
    fn lock_objects_are_known_by_their_label() {
        let mut labels = HashMap::new();
        assert!(!is_lock_object(&labels));
        labels.insert(LOCK_LABEL.to_owned(), "beat".to_owned());
        assert!(is_lock_object(&labels));
    }
}
