//! Which container swab itself runs in, if any. swab is often run as a container with the
//! Docker socket mounted; a rule that selects that container must not make swab stop,
//! restart or recreate itself half-way through a run (Watchtower's self-update left
//! orphaned copies behind). The snapshot records it ([`Snapshot::own_containers`]), and
//! the deciders keep it with the reason [`OWN_CONTAINER`].
//!
//! [`Snapshot::own_containers`]: crate::snapshot::Snapshot::own_containers

/// Why swab's own container is never acted on.
pub const OWN_CONTAINER: &str = "swab's own container: update it by redeploying";

/// Why a container that shares a network stack with swab's is never acted on: they share
/// the files swab finds itself by, so swab cannot tell which of them it runs in.
pub const MAYBE_OWN_CONTAINER: &str = "shares a network stack with swab's own container, so swab \
     cannot tell them apart: update it by redeploying";

/// The reason to keep `c`, one of the snapshot's own containers.
pub fn reason(snapshot: &crate::snapshot::Snapshot) -> &'static str {
    if snapshot.own_containers.len() > 1 {
        MAYBE_OWN_CONTAINER
    } else {
        OWN_CONTAINER
    }
}

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

/// The containers swab may run in, among `containers` (the daemon's, so a container of
/// another daemon is never taken for it): one, or, when that one shares its network stack
/// with others (`network_mode: container:X`; Docker gives them all X's `hostname`, `hosts`
/// and `resolv.conf`), all of them, since swab cannot tell which it is:
/// - Docker bind-mounts the container's own `hostname`, `hosts` and `resolv.conf` from
///   `<data-root>/containers/<id>/`, which `/proc/self/mountinfo` shows;
/// - failing that, inside a container (`/.dockerenv`), the host name as a container ID
///   prefix, when exactly one container has it.
pub fn own_containers(around: &Surroundings<'_>, containers: &[Container]) -> Vec<String> {
    let Some(found) = own_container(around, containers.iter().map(|c| c.id.as_str())) else {
        return Vec::new();
    };
    let Some(host) = containers.iter().find(|c| c.id == found) else {
        return Vec::new();
    };
    let joins = |c: &Container| {
        c.network_mode.strip_prefix("container:").is_some_and(|x| {
            x == host.id || x == host.name || (x.len() >= 12 && host.id.starts_with(x))
        })
    };
    std::iter::once(found.clone())
        .chain(
            containers
                .iter()
                .filter(|c| c.id != found && joins(c))
                .map(|c| c.id.clone()),
        )
        .collect()
}

fn own_container<'a>(
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

use crate::snapshot::Container;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::container;

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

    #[test]
    fn containers_sharing_the_found_network_stack_are_all_taken() {
        let mountinfo = format!("2 1 8:1 /d/containers/{ID}/hosts /etc/hosts rw - ext4 x rw\n");
        let around = Surroundings {
            mountinfo: &mountinfo,
            ..Surroundings::default()
        };
        let vpn = container("vpn").id(ID).build();
        let app = container("app").network_mode("container:vpn").build();
        let other = container("other").build();
        let all = [vpn.clone(), app.clone(), other];
        assert_eq!(own_containers(&around, &all), [ID, app.id.as_str()]);
        assert_eq!(own_containers(&around, &[vpn]), [ID]);
    }
}
