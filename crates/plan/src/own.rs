//! Which container swab itself runs in, if any. swab is often run as a container with the
//! Docker socket mounted; a rule that selects that container must not make swab stop,
//! restart or recreate itself half-way through a run (Watchtower's self-update left
//! orphaned copies behind). The snapshot records it ([`Snapshot::own_container`]), and
//! the deciders keep it with the reason [`OWN_CONTAINER`].
//!
//! [`Snapshot::own_container`]: crate::snapshot::Snapshot::own_container

/// Why swab's own container is never acted on.
pub const OWN_CONTAINER: &str = "swab's own container: update it by redeploying";

/// What swab can see of its surroundings, read by the engine.
#[derive(Debug, Clone, Default)]
pub struct Surroundings<'a> {
    /// `/proc/self/mountinfo`.
    pub mountinfo: &'a str,
    /// The host name (Docker sets it to the short container ID unless told otherwise).
    pub hostname: &'a str,
    /// Whether `/.dockerenv` exists (Docker creates it in every container).
    pub dockerenv: bool,
}

/// The ID of the container swab runs in, among `container_ids` (the daemon's containers,
/// so a container of another daemon is never taken for it):
/// - Docker bind-mounts the container's own `hostname`, `hosts` and `resolv.conf` from
///   `<data-root>/containers/<id>/`, which `/proc/self/mountinfo` shows;
/// - failing that, inside a container (`/.dockerenv`), the host name as a container ID
///   prefix, when exactly one container has it.
pub fn own_container<'a>(
    around: &Surroundings<'_>,
    container_ids: impl Iterator<Item = &'a str> + Clone,
) -> Option<String> {
    let from_mounts = around.mountinfo.lines().find_map(|line| {
        let root = line.split(' ').nth(3)?;
        let (_, rest) = root.split_once("/containers/")?;
        let (id, file) = rest.split_once('/')?;
        let ours = matches!(file, "hostname" | "hosts" | "resolv.conf");
        (ours && id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
    });
    if let Some(id) = from_mounts {
        return container_ids.clone().find(|c| *c == id).map(str::to_owned);
    }
    let host = around.hostname.trim();
    if !around.dockerenv || host.len() < 12 || !host.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut matching = container_ids.filter(|c| c.starts_with(host));
    match (matching.next(), matching.next()) {
        (Some(id), None) => Some(id.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";

    #[test]
    fn found_from_the_mounts_docker_makes_or_the_host_name_and_only_on_this_daemon() {
        let mountinfo = format!(
            "1 0 0:1 / / rw - overlay overlay rw\n\
             2 1 8:1 /var/lib/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw - ext4 /dev/sda1 rw\n"
        );
        let ids = [ID, "aaaa"];
        let around = Surroundings {
            mountinfo: &mountinfo,
            ..Surroundings::default()
        };
        assert_eq!(
            own_container(&around, ids.iter().copied()).as_deref(),
            Some(ID)
        );
        // Another daemon's container: not ours to protect (and not this daemon's).
        assert_eq!(own_container(&around, ["aaaa"].iter().copied()), None);
        // Custom data root, containerd store: the same layout.
        let custom =
            format!("9 1 8:1 /srv/docker/containers/{ID}/hostname /etc/hostname rw - ext4 x rw\n");
        let around = Surroundings {
            mountinfo: &custom,
            ..Surroundings::default()
        };
        assert_eq!(
            own_container(&around, ids.iter().copied()).as_deref(),
            Some(ID)
        );

        let by_name = Surroundings {
            mountinfo: "",
            hostname: &ID[..12],
            dockerenv: true,
        };
        assert_eq!(
            own_container(&by_name, ids.iter().copied()).as_deref(),
            Some(ID)
        );
        // On a host (no /.dockerenv) a host name that looks like an ID means nothing.
        let host = Surroundings {
            dockerenv: false,
            ..by_name.clone()
        };
        assert_eq!(own_container(&host, ids.iter().copied()), None);
        let plain = Surroundings {
            hostname: "build-01",
            ..by_name
        };
        assert_eq!(own_container(&plain, ids.iter().copied()), None);
    }
}
