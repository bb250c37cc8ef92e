// One container's whole replacement reads best in one piece.
#![allow(clippy::too_many_lines)]

use std::collections::BTreeSet;

use serde_json::Value;
use swab_docker::endpoint::parse_host;
use swab_docker::{ClientOptions, Docker};
use swab_engine::update::recreate::{AnonymousVolume, create_body};
use swab_testkit::inspect::{differences, replacement_differences};
use swab_testkit::{env, unique};

fn docker() -> Docker {
    let endpoint = parse_host(&env().docker_host, "SWAB_TEST_DOCKER_HOST", None).unwrap();
    Docker::connect(&endpoint, &ClientOptions::default()).unwrap()
}

/// Removes what the test made, also when an assertion fails half-way.
struct Cleanup {
    containers: Vec<String>,
    volumes: Vec<String>,
    networks: Vec<String>,
    images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            env().try_cli(&["rm", "-f", "-v", c]);
        }
        for v in &self.volumes {
            env().try_cli(&["volume", "rm", "-f", v]);
        }
        for n in &self.networks {
            env().try_cli(&["network", "rm", n]);
        }
        for i in &self.images {
            env().try_cli(&["rmi", "-f", i]);
        }
    }
}

fn import(reference: &str, test_id: &str, changes: &[&str]) {
    let label = format!("LABEL swab-test={test_id}");
    let rootfs = env().rootfs.display().to_string();
    let mut args = vec!["import"];
    for change in changes.iter().chain([&label.as_str()]) {
        args.extend(["-c", change]);
    }
    args.extend([rootfs.as_str(), reference]);
    env().cli(&args);
}

fn volumes() -> BTreeSet<String> {
    env()
        .cli(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn recreated_container_keeps_user_settings_data_and_network_identity() {
    let docker = docker();
    let test_id = unique("recreate");
    let repo = format!("swab-test/{test_id}");
    let (v1, v2) = (format!("{repo}:v1"), format!("{repo}:v2"));
    let name = unique("recreate-web");
    let network = unique("recreate-net");
    let old_name = format!("{name}-old");
    let mut cleanup = Cleanup {
        containers: vec![name.clone(), old_name.clone()],
        volumes: Vec::new(),
        networks: vec![network.clone()],
        images: vec![v1.clone(), v2.clone()],
    };

    import(
        &v1,
        &test_id,
        &[
            "ENV A=1",
            "ENV B=2",
            r#"CMD ["sleep","300"]"#,
            "LABEL from=image",
            "LABEL version=1",
        ],
    );
    import(
        &v2,
        &test_id,
        &[
            "ENV A=10",
            "ENV B=20",
            r#"CMD ["sleep","301"]"#,
            "LABEL from=image-v2",
            "LABEL version=2",
        ],
    );
    env().cli(&[
        "network",
        "create",
        "--label",
        &format!("swab-test={test_id}"),
        &network,
    ]);

    let label = format!("swab-test={test_id}");
    let mut args = vec![
        "create",
        "--name",
        &name,
        "--label",
        &label,
        "--label",
        "owner=me",
        "--label",
        "version=pinned",
        "-e",
        "B=user",
        "-e",
        "C=3",
        "--restart",
        "unless-stopped",
        "--network",
        &network,
        "--network-alias",
        "web-alias",
        "-v",
        "/data",
        "--cap-add",
        "NET_ADMIN",
        "-p",
        "127.0.0.1::80",
        &v1,
    ];
    // Publishing on a user network works with `--bridge none` and `--iptables=false` (the
    // daemon only records the binding); fail loudly if that ever changes.
    let created = env().try_cli(&args);
    assert!(created.success, "docker create: {}", created.stderr);
    env().cli(&["start", &name]);
    env().cli(&["exec", &name, "sh", "-c", "echo hi > /data/f"]);
    env().cli(&["stop", "-t", "1", &name]);
    args.clear();

    let old = docker.inspect_container_raw(&name).await.unwrap();
    let old_volume = old["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/data")
        .unwrap()["Name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(old_volume.len(), 64, "an anonymous volume: {old_volume}");
    cleanup.volumes.push(old_volume.clone());
    let volumes_before = volumes();

    let v1_config = serde_json::to_value(docker.inspect_image(&v1).await.unwrap().config).unwrap();
    let api = docker.api_version().await.unwrap();
    let spec = create_body(&old, &v1_config, &v2, api).unwrap();
    assert_eq!(spec.name, name);
    assert_eq!(
        spec.anonymous_volumes,
        vec![AnonymousVolume {
            name: old_volume.clone(),
            destination: "/data".into()
        }]
    );
    assert_eq!(spec.networks, vec![network.clone()]);

    docker.rename_container(&name, &old_name).await.unwrap();
    let created = docker
        .create_container(Some(&spec.name), &spec.body)
        .await
        .unwrap();
    docker.start_container(&created.id).await.unwrap();
    let new = docker.inspect_container_raw(&created.id).await.unwrap();

    assert_eq!(new["Name"], format!("/{name}"));
    let env_of = |inspect: &Value| -> BTreeSet<String> {
        inspect["Config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_owned())
            .collect()
    };
    let new_env = env_of(&new);
    for want in ["A=10", "B=user", "C=3"] {
        assert!(new_env.contains(want), "{want} in {new_env:?}");
    }
    assert!(
        !new_env.contains("B=20"),
        "v2's B overrode the user's: {new_env:?}"
    );
    assert!(!new_env.contains("A=1"), "v1's A was frozen: {new_env:?}");
    assert_eq!(new["Config"]["Cmd"], serde_json::json!(["sleep", "301"]));
    assert_eq!(new["Config"]["Image"], v2);
    let labels = &new["Config"]["Labels"];
    assert_eq!(labels["owner"], "me");
    assert_eq!(
        labels["version"], "pinned",
        "a user override of an image label"
    );
    assert_eq!(labels["from"], "image-v2");
    assert_eq!(labels["swab-test"], test_id.as_str());
    for field in ["RestartPolicy", "PortBindings", "CapAdd", "NetworkMode"] {
        assert_eq!(
            new["HostConfig"][field], old["HostConfig"][field],
            "{field}"
        );
    }
    assert_eq!(
        new["HostConfig"]["PortBindings"]["80/tcp"][0]["HostIp"],
        "127.0.0.1"
    );
    let aliases = &new["NetworkSettings"]["Networks"][&network]["Aliases"];
    assert!(
        aliases
            .as_array()
            .unwrap()
            .contains(&Value::from("web-alias")),
        "{aliases}"
    );
    let new_short = &created.id[..12];
    let old_short = &old["Id"].as_str().unwrap()[..12];
    assert_eq!(new["Config"]["Hostname"], new_short);
    assert!(
        !aliases
            .as_array()
            .unwrap()
            .contains(&Value::from(old_short)),
        "the old short ID alias was pinned: {aliases}"
    );

    // Same volume, same data, and no volume came or went.
    let new_volume = new["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/data")
        .unwrap()["Name"]
        .clone();
    assert_eq!(new_volume, old_volume.as_str());
    assert_eq!(env().cli(&["exec", &name, "cat", "/data/f"]), "hi");
    assert_eq!(volumes(), volumes_before);

    // Everything else equal, field by field (the automatic short-ID alias and DNS name,
    // each container's own, left out). Differences allowed and why:
    let mut expected_to_differ = replacement_differences(&network);
    expected_to_differ.extend([
        // the body names v2, where the old container named v1
        "/Config/Image".to_owned(),
        // cleared when the old one stopped; set on the running new one
        format!("/NetworkSettings/Networks/{network}/Gateway"),
        format!("/NetworkSettings/Networks/{network}/IPPrefixLen"),
    ]);
    let (unexpected, differing) = differences(&old, &new, &expected_to_differ);
    assert!(
        unexpected.is_empty(),
        "unexpected differences:\n{}",
        unexpected.join("\n")
    );
    // The list is not a blanket: the things that must change did.
    for must in [
        "/Id",
        "/Config/Env",
        "/Config/Cmd",
        "/Config/Labels/from",
        "/HostConfig/Binds",
    ] {
        assert!(differing.contains(must), "{must} did not change");
    }

    // The old container goes without `-v`: the volume stays with the new one.
    env().cli(&["rm", &old_name]);
    assert_eq!(env().cli(&["exec", &name, "cat", "/data/f"]), "hi");
    env().cli(&["rm", "-f", &name]);
    env().cli(&["volume", "rm", &old_volume]);
    cleanup.containers.clear();
    cleanup.volumes.clear();
}
