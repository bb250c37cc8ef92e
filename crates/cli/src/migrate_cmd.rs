//! `swab migrate watchtower [CONTAINER]`: reads a Watchtower container through the API and
//! prints the equivalent rule file (`swab_rules::watchtower`). Read-only: Watchtower keeps
//! running until you stop it.

use anyhow::Context as _;
use swab_docker::{Filters, ListContainersOptions};
use swab_rules::watchtower::{Settings, rule_file};

use crate::args::{GlobalArgs, MigrateWatchtowerArgs};
use crate::exit;

/// Images Watchtower is published as.
const IMAGES: &[&str] = &["containrrr/watchtower", "nickfedor/watchtower"];

pub async fn watchtower(global: &GlobalArgs, args: &MigrateWatchtowerArgs) -> anyhow::Result<u8> {
    let resolved = crate::connect::resolve(global)?;
    let docker = crate::connect::client(global, &resolved)?;
    let host = resolved.endpoint.to_string();
    let name = match &args.container {
        Some(name) => name.clone(),
        None => {
            let running = docker
                .list_containers(&ListContainersOptions {
                    all: false,
                    size: false,
                    filters: Filters::new(),
                })
                .await
                .with_context(|| format!("cannot list the containers at {host}"))?;
            let found: Vec<String> = running
                .iter()
                .filter(|c| is_watchtower(&c.image))
                .map(|c| c.name().to_owned())
                .collect();
            match found.as_slice() {
                [one] => one.clone(),
                [] => {
                    eprintln!(
                        "swab: no running Watchtower container ({}) at {host}; name it: \
                         swab migrate watchtower CONTAINER",
                        IMAGES.join(" or ")
                    );
                    return Ok(exit::FAILURE);
                }
                many => {
                    eprintln!(
                        "swab: several Watchtower containers at {host} ({}); name the one to \
                         migrate from",
                        many.join(", ")
                    );
                    return Ok(exit::USAGE);
                }
            }
        }
    };
    let inspect = docker
        .inspect_container(&name)
        .await
        .with_context(|| format!("cannot inspect container {name} at {host}"))?;
    let settings = Settings::read(&inspect.config.env, &inspect.config.cmd);
    print!("{}", rule_file(&settings, inspect.name()));
    Ok(exit::SUCCESS)
}

/// Whether an image reference (as the container list shows it) is Watchtower's.
fn is_watchtower(image: &str) -> bool {
    let image = image.strip_prefix("docker.io/").unwrap_or(image);
    IMAGES.iter().any(|w| {
        image == *w
            || image
                .strip_prefix(w)
                .is_some_and(|rest| rest.starts_with([':', '@']))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn watchtower_images() {
        for yes in [
            "containrrr/watchtower",
            "containrrr/watchtower:1.7.1",
            "docker.io/nickfedor/watchtower:latest",
            "nickfedor/watchtower@sha256:abc",
        ] {
            assert!(super::is_watchtower(yes), "{yes}");
        }
        for no in ["containrrr/watchtowerx", "me/watchtower", "watchtower"] {
            assert!(!super::is_watchtower(no), "{no}");
        }
    }
}
