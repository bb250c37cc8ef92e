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
use std::sync::{Arc, Mutex};
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
/// The holder process as `MACHINE_ID/HOST_NAME/BOOT_ID/PID_NAMESPACE/PID`: a swab on the
/// same machine (same boot, same PID namespace) that finds that process gone takes the lock
/// over at once, instead of waiting out the lease of a run that was killed.
pub const PROCESS_LABEL: &str = "swab.lock.process";
/// On a beat: the lock's name (several setups may share a daemon, see [`lock_name`]).
pub const NAME_LABEL: &str = "swab.lock.name";
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
    name: String,
    /// The lock container's ID; the renewer replaces it when it makes the lock again after
    /// someone removed it (a `docker container prune`).
    id: Arc<Mutex<String>>,
    renewer: Option<tokio::task::JoinHandle<()>>,
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
        // A name the daemon reports taken but cannot show (its own race, or a leaked name
        // reservation) is tried again a few times, never in a tight loop.
        let mut vanished = 0;
        loop {
            match create(docker, &options.name, &lock_labels(options)).await {
                Ok(id) => {
                    let id = Arc::new(Mutex::new(id));
                    let renewer =
                        tokio::spawn(renew(docker.clone(), options.clone(), id.clone(), lost));
                    return Ok(Lease {
                        docker: docker.clone(),
                        name: options.name.clone(),
                        id,
                        renewer: Some(renewer),
                    });
                }
                Err(err) if err.is_conflict() => {}
                Err(err) => return Err(fail(err)),
            }
            let busy = |holder: String, until: SystemTime| LeaseError::Busy {
                endpoint: docker.endpoint().to_owned(),
                holder,
                until: humantime::format_rfc3339_seconds(until).to_string(),
            };
            let pause = match look(docker, &options.name).await? {
                Holder::Gone => {
                    vanished += 1;
                    if vanished > 20 {
                        return Err(busy(
                            format!(
                                "the daemon reports the name {} taken but shows no container by it",
                                options.name
                            ),
                            SystemTime::now(),
                        ));
                    }
                    Duration::from_millis(100)
                }
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
                        Ok(()) => Duration::ZERO,
                        Err(err) if err.is_not_found() || err.is_conflict() => {
                            Duration::from_millis(100)
                        }
                        Err(err) => return Err(fail(err)),
                    }
                }
                Holder::Until { holder, until } => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(busy(holder, until));
                    }
                    if !logged {
                        tracing::info!(
                            endpoint = docker.endpoint(),
                            holder,
                            "waiting for another swab to finish"
                        );
                        logged = true;
                    }
                    Duration::from_secs(1)
                }
            };
            if !pause.is_zero() {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                tokio::time::sleep(pause.min(left.max(Duration::from_millis(100)))).await;
            }
        }
    }

    /// The lock container's ID.
    pub fn id(&self) -> String {
        self.id.lock().map(|id| id.clone()).unwrap_or_default()
    }

    /// Stops renewing and removes the lock and its beats, and beats that holders of this
    /// lock before it left behind (killed between a beat and its cleanup). A failure is
    /// logged: the lease then runs out by itself.
    pub async fn release(mut self) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
            // A beat on its way when the renewer stopped lands before the cleanup below.
            let _ = renewer.await;
        }
        let id = self.id();
        remove_beats(&self.docker, &id).await;
        remove_stale_beats(&self.docker, &self.name, &id).await;
        match self
            .docker
            .remove_container(&id, RemoveContainerOptions::default())
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
        if let Some(renewer) = &self.renewer {
            renewer.abort();
        }
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
    // At most a day: a lease label someone wrote by hand never overflows the clock.
    let lease = labels
        .get(LEASE_LABEL)
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(DEFAULT_LEASE, |secs| Duration::from_secs(secs.min(86_400)));
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
    // The machine ID and host name too: clones of one running VM share a boot ID, and
    // every host's initial PID namespace has the same inode number.
    let machine = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    let uname = rustix::system::uname();
    Some(format!(
        "{}/{}/{}/{}/{}",
        machine.trim(),
        uname.nodename().to_string_lossy(),
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
        // The list gives whole seconds: a beat counts from the end of its second, so the
        // lease is never judged over early.
        .filter_map(|c| from_unix(c.created).map(|t| (c.id, t + Duration::from_secs(1))))
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

/// Beats of the lock named `name` that belong to no lock `ours` (holders killed between a
/// beat and its cleanup). Only while holding that lock: no other holder of it can exist.
async fn remove_stale_beats(docker: &Docker, name: &str, ours: &str) {
    let options = ListContainersOptions {
        all: true,
        size: false,
        filters: Filters::new().with("label", format!("{NAME_LABEL}={name}")),
    };
    let Ok(beats) = docker.list_containers(&options).await else {
        return;
    };
    for beat in beats {
        if beat.labels.get(BEAT_OF_LABEL).is_some_and(|of| of != ours) {
            let _ = docker
                .remove_container(&beat.id, RemoveContainerOptions::default())
                .await;
        }
    }
}

/// Another swab holds the lock now (it took over a lease that ran out, or made the lock
/// again after it was removed): this run stops.
fn taken_over(docker: &Docker, lost: &Cancel) {
    tracing::error!(
        endpoint = docker.endpoint(),
        "another swab took the lock on this daemon: stopping the run"
    );
    lost.cancel_because("stopped: another swab took the lock on the daemon");
}

/// Renews the lease every `lease / 3`: checks that the lock is still ours, then creates a
/// new beat and removes the one before. Sets `lost` when the lock is no longer ours, and
/// also when no renewal succeeded for two thirds of the lease (the daemon does not answer):
/// by then another swab may judge the lease over, so this one must stop acting first.
async fn renew(docker: Docker, options: LeaseOptions, id: Arc<Mutex<String>>, lost: Cancel) {
    let every = (options.lease / 3).max(Duration::from_secs(1));
    // Each call bounded well inside the lease, whatever --timeout says.
    let docker = docker.with_timeout(every.min(docker.timeout()));
    let current = || id.lock().map(|id| id.clone()).unwrap_or_default();
    let mut renewed = tokio::time::Instant::now();
    let mut previous: Option<String> = None;
    let mut seq = 0u64;
    let mut failed = false;
    loop {
        // After a failure, again soon: the deadline below comes before the lease's end.
        tokio::time::sleep(if failed { every / 4 } else { every }).await;
        failed = true;
        if renewed.elapsed() > options.lease * 2 / 3 {
            tracing::error!(
                endpoint = docker.endpoint(),
                "could not renew the lock on this daemon in time: stopping the run"
            );
            lost.cancel_because("stopped: the lock on the daemon could not be renewed");
            return;
        }
        let attempt = tokio::time::Instant::now();
        match docker.inspect_container(&options.name).await {
            Ok(lock) if lock.id == current() => {}
            Ok(_) => return taken_over(&docker, &lost),
            Err(err) if err.is_not_found() => {
                // Removed by hand or by a prune: make it again. If someone else made it
                // first, it is theirs.
                match create(&docker, &options.name, &lock_labels(&options)).await {
                    Ok(new) => {
                        tracing::warn!(
                            endpoint = docker.endpoint(),
                            "the lock container was removed while held (a prune?); made it again"
                        );
                        if let Ok(mut id) = id.lock() {
                            *id = new;
                        }
                        renewed = attempt;
                        failed = false;
                    }
                    Err(_) => return taken_over(&docker, &lost),
                }
                continue;
            }
            // Not answering now: tried again next time, within the deadline above.
            Err(_) => continue,
        }
        seq += 1;
        let short: String = current().chars().take(12).collect();
        let labels = json!({
            LOCK_LABEL: "beat",
            BEAT_OF_LABEL: current(),
            NAME_LABEL: options.name,
            "swab.protect": "true",
        });
        match create(&docker, &format!("{}-{short}-{seq}", options.name), &labels).await {
            Ok(beat) => {
                renewed = attempt;
                failed = false;
                if let Some(old) = previous.replace(beat) {
                    let _ = docker
                        .remove_container(&old, RemoveContainerOptions::default())
                        .await;
                }
            }
            Err(err) => tracing::warn!(
                endpoint = docker.endpoint(), error = %err,
                "cannot renew the lock's lease"
            ),
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
