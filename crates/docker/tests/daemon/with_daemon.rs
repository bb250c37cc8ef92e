// Each test walks one object through its whole lifecycle, which reads best in one piece.
#![allow(clippy::too_many_lines)]

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;
use swab_docker::endpoint::{TlsFiles, parse_host};
use swab_docker::{
    ApiVersion, ClientOptions, CreateNetwork, Docker, Endpoint, Error, EventsOptions, Filters,
    ListContainersOptions, ListImagesOptions, RegistryAuth, RemoveContainerOptions,
    RemoveImageOptions, WaitCondition,
};
use swab_testkit::{env, unique};

fn docker() -> Docker {
    let endpoint = parse_host(&env().docker_host, "SWAB_TEST_DOCKER_HOST", None).unwrap();
    Docker::connect(&endpoint, &ClientOptions::default()).unwrap()
}

/// The API version swab negotiates with the engine under test.
fn api(engine: swab_testkit::Engine) -> ApiVersion {
    engine.api_version().parse().unwrap()
}

fn label_filter(test_id: &str) -> Filters {
    Filters::new().with("label", format!("swab-test={test_id}"))
}

#[tokio::test]
async fn ping_version_and_info_report_the_engines_api_and_store() {
    let docker = docker();
    let engine = env().engine;
    let ping = docker.ping().await.unwrap();
    assert_eq!(ping.api_version.as_deref(), Some(engine.api_version()));
    assert_eq!(docker.api_version().await.unwrap(), api(engine));
    let version = docker.version().await.unwrap();
    assert_eq!(version.api_version, engine.api_version());
    assert!(
        version.version.starts_with(engine.version_prefix()),
        "{}",
        version.version
    );
    let info = docker.info().await.unwrap();
    assert_eq!(info.driver, engine.storage_driver());
    let store = match info.image_store() {
        swab_docker::models::ImageStore::Classic => "classic",
        swab_docker::models::ImageStore::Containerd => "containerd",
    };
    assert_eq!(store, engine.image_store());
    assert!(
        info.docker_root_dir
            .starts_with(&env().dir.display().to_string()),
        "the test daemon must use a private data root, got {}",
        info.docker_root_dir
    );
    assert!(info.images >= 1);
}

#[tokio::test]
async fn tls_transport_with_client_certificate() {
    let tls = TlsFiles::from_dir(&env().tls_dir, true);
    assert!(tls.ca.is_some() && tls.client.is_some());
    let endpoint = parse_host(&env().tls_host, "test", Some(tls)).unwrap();
    let docker = Docker::connect(&endpoint, &ClientOptions::default()).unwrap();
    assert_eq!(docker.api_version().await.unwrap(), api(env().engine));
    assert!(docker.info().await.unwrap().images >= 1);

    // The daemon runs with --tlsverify: without a client certificate it must refuse.
    let no_client = TlsFiles {
        client: None,
        ..TlsFiles::from_dir(&env().tls_dir, true)
    };
    let endpoint = parse_host(&env().tls_host, "test", Some(no_client)).unwrap();
    let docker = Docker::connect(&endpoint, &ClientOptions::default()).unwrap();
    assert!(docker.ping().await.is_err());

    // And a client that does not trust the daemon's CA must refuse the daemon.
    let no_ca = TlsFiles {
        ca: None,
        ..TlsFiles::from_dir(&env().tls_dir, true)
    };
    let endpoint = parse_host(&env().tls_host, "test", Some(no_ca)).unwrap();
    let docker = Docker::connect(&endpoint, &ClientOptions::default()).unwrap();
    let err = docker.ping().await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
}

/// Plain `tcp://` against the real daemon, through a byte-for-byte forwarder to its socket
/// (the test daemon's TCP port speaks TLS only).
#[tokio::test]
async fn plain_tcp_transport_through_a_forwarder() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let socket = env().docker_host.trim_start_matches("unix://").to_owned();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let socket = socket.clone();
            tokio::spawn(async move {
                if let Ok(mut unix) = tokio::net::UnixStream::connect(socket).await {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
            });
        }
    });
    let endpoint = parse_host(&format!("tcp://{addr}"), "test", None).unwrap();
    let docker = Docker::connect(&endpoint, &ClientOptions::default()).unwrap();
    assert_eq!(docker.api_version().await.unwrap(), api(env().engine));
    assert!(
        !docker
            .list_images(&ListImagesOptions::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn missing_socket_is_unreachable_and_names_the_path() {
    let docker = Docker::connect(
        &Endpoint::Unix("/nonexistent/swab/docker.sock".into()),
        &ClientOptions::default(),
    )
    .unwrap();
    let err = docker.ping().await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    let text = err.to_string();
    assert!(text.contains("/nonexistent/swab/docker.sock"), "{text}");
    assert!(text.contains("no socket"), "{text}");
}

#[tokio::test]
async fn refused_tcp_connection_is_unreachable() {
    // Bind and drop to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = parse_host(&format!("tcp://127.0.0.1:{port}"), "test", None).unwrap();
    let docker = Docker::connect(&endpoint, &ClientOptions::default()).unwrap();
    let err = docker.ping().await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
}

#[tokio::test]
async fn container_lifecycle() {
    let docker = docker();
    let test_id = unique("lifecycle");
    let name = unique("swab-lc");
    let body = json!({
        "Image": env().image,
        "Cmd": ["sleep", "600"],
        "Env": ["GREETING=hi"],
        "Labels": {"swab-test": test_id},
        "StopTimeout": 1,
        // The test daemon runs with --bridge none: a running container on the default
        // bridge has no network sandbox, and renaming it fails with "sandbox not found".
        "HostConfig": {"RestartPolicy": {"Name": "no"}, "NetworkMode": "none"},
        "Volumes": {"/data": {}}
    });
    let created = docker.create_container(Some(&name), &body).await.unwrap();
    assert_eq!(created.id.len(), 64);

    let inspect = docker.inspect_container(&name).await.unwrap();
    assert_eq!(inspect.id, created.id);
    assert_eq!(inspect.name(), name);
    assert_eq!(inspect.state.status, "created");
    assert!(inspect.state.finished_at().is_none());
    assert!(inspect.config.env.contains(&"GREETING=hi".to_owned()));
    assert_eq!(inspect.config.labels["swab-test"], test_id);
    let raw = docker.inspect_container_raw(&name).await.unwrap();
    assert_eq!(raw["HostConfig"]["RestartPolicy"]["Name"], "no");

    let listed = docker
        .list_containers(&ListContainersOptions {
            all: true,
            filters: label_filter(&test_id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name(), name);
    assert_eq!(listed[0].state, "created");
    // Without `all`, a created container is not listed.
    let running = docker
        .list_containers(&ListContainersOptions {
            filters: label_filter(&test_id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(running.is_empty());

    docker.start_container(&name).await.unwrap();
    // Starting again is not an error (304).
    docker.start_container(&name).await.unwrap();
    assert!(docker.inspect_container(&name).await.unwrap().state.running);

    docker
        .restart_container(&name, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    let after = docker.inspect_container(&name).await.unwrap();
    assert!(after.state.running);

    let renamed = unique("swab-lc-renamed");
    docker.rename_container(&name, &renamed).await.unwrap();
    assert!(
        docker
            .inspect_container(&name)
            .await
            .unwrap_err()
            .is_not_found()
    );

    docker
        .stop_container(&renamed, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    // Stopping again is not an error (304).
    docker
        .stop_container(&renamed, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    let stopped = docker.inspect_container(&renamed).await.unwrap();
    assert!(!stopped.state.running);
    assert!(stopped.state.finished_at().is_some());

    // wait(not-running) returns at once for a stopped container.
    let waited = docker
        .wait_container(&renamed, WaitCondition::NotRunning)
        .await
        .unwrap();
    assert_eq!(waited.status_code, stopped.state.exit_code);

    // remove with volumes: the anonymous /data volume goes too.
    let volume = stopped
        .mounts
        .iter()
        .find(|m| m.destination == "/data")
        .map(|m| m.name.clone())
        .expect("anonymous volume");
    docker
        .remove_container(
            &renamed,
            RemoveContainerOptions {
                volumes: true,
                force: false,
            },
        )
        .await
        .unwrap();
    assert!(
        docker
            .inspect_container(&renamed)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        docker
            .inspect_volume(&volume)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn remove_without_volumes_keeps_them_and_running_container_is_a_conflict() {
    let docker = docker();
    let test_id = unique("rmvol");
    let name = unique("swab-rmvol");
    env().create_container(&name, &test_id, &["-v", "/keep"]);
    docker.start_container(&name).await.unwrap();
    let volume = docker.inspect_container(&name).await.unwrap().mounts[0]
        .name
        .clone();

    // Removing a running container without force is refused, never forced.
    let err = docker
        .remove_container(&name, RemoveContainerOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        err.to_string()
            .to_lowercase()
            .contains("stop the container"),
        "{err}"
    );

    docker.kill_container(&name, None).await.unwrap();
    let exit = docker
        .wait_container(&name, WaitCondition::NotRunning)
        .await
        .unwrap();
    assert_eq!(exit.status_code, 137);
    docker
        .remove_container(&name, RemoveContainerOptions::default())
        .await
        .unwrap();
    assert_eq!(docker.inspect_volume(&volume).await.unwrap().name, volume);
    docker.remove_volume(&volume, false).await.unwrap();
}

#[tokio::test]
async fn wait_next_exit_streams_until_the_container_exits() {
    let docker = docker();
    let test_id = unique("wait");
    let name = unique("swab-wait");
    let label = format!("swab-test={test_id}");
    env().cli(&[
        "create",
        "--name",
        &name,
        "--label",
        &label,
        &env().image,
        "sh",
        "-c",
        "sleep 1; exit 3",
    ]);
    let waiter = {
        let docker = docker.clone();
        let name = name.clone();
        tokio::spawn(async move { docker.wait_container(&name, WaitCondition::NextExit).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    docker.start_container(&name).await.unwrap();
    // The wait outlives a short response timeout: only headers are timed.
    let result = waiter.await.unwrap().unwrap();
    assert_eq!(result.status_code, 3);
    docker
        .remove_container(&name, RemoveContainerOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn create_with_two_networks_on_api_1_41_connects_the_second() {
    let docker = docker();
    let test_id = unique("nets");
    let net_a = unique("swab-net-a");
    let net_b = unique("swab-net-b");
    let labels: HashMap<String, String> = [("swab-test".to_owned(), test_id.clone())].into();
    for net in [&net_a, &net_b] {
        docker
            .create_network(&CreateNetwork {
                name: net.clone(),
                labels: labels.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let name = unique("swab-multinet");
    let body = json!({
        "Image": env().image,
        "Cmd": ["sleep", "600"],
        "Labels": {"swab-test": test_id},
        "HostConfig": {"NetworkMode": net_a},
        "NetworkingConfig": {"EndpointsConfig": {
            net_a.clone(): {"Aliases": ["alpha"]},
            net_b.clone(): {"Aliases": ["beta"]}
        }}
    });
    docker.create_container(Some(&name), &body).await.unwrap();
    let inspect = docker.inspect_container(&name).await.unwrap();
    let nets = &inspect.network_settings.networks;
    assert!(
        nets.contains_key(&net_a) && nets.contains_key(&net_b),
        "{nets:?}"
    );
    assert!(nets[&net_a].aliases.contains(&"alpha".to_owned()));
    assert!(nets[&net_b].aliases.contains(&"beta".to_owned()));

    // Networks: list with filters, inspect shows the attachment, disconnect, connect.
    let listed = docker.list_networks(&label_filter(&test_id)).await.unwrap();
    assert_eq!(listed.len(), 2);
    docker.start_container(&name).await.unwrap();
    let net = docker.inspect_network(&net_b).await.unwrap();
    assert!(net.containers.contains_key(&inspect.id));
    docker
        .disconnect_network(&net_b, &name, false)
        .await
        .unwrap();
    assert!(
        !docker
            .inspect_network(&net_b)
            .await
            .unwrap()
            .containers
            .contains_key(&inspect.id)
    );
    docker
        .connect_network(&net_b, &name, Some(&json!({"Aliases": ["gamma"]})))
        .await
        .unwrap();
    let again = docker.inspect_container(&name).await.unwrap();
    assert!(
        again.network_settings.networks[&net_b]
            .aliases
            .contains(&"gamma".to_owned())
    );

    docker
        .remove_container(
            &name,
            RemoveContainerOptions {
                volumes: true,
                force: true,
            },
        )
        .await
        .unwrap();
    docker.remove_network(&net_a).await.unwrap();
    docker.remove_network(&net_b).await.unwrap();
    assert!(
        docker
            .inspect_network(&net_a)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn images_list_inspect_tag_and_remove() {
    let docker = docker();
    let test_id = unique("images");
    let repo = unique("swab-img");
    let id = env().import_image(&format!("{repo}:one"), &[("swab-test", &test_id)]);
    docker.tag_image(&id, &repo, "two").await.unwrap();

    let listed = docker
        .list_images(&ListImagesOptions {
            filters: Filters::new().with("reference", format!("{repo}:*")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let mut tags: Vec<&str> = listed[0].tags().collect();
    tags.sort_unstable();
    assert_eq!(tags, [format!("{repo}:one"), format!("{repo}:two")]);
    assert_eq!(listed[0].id, id);
    assert!(listed[0].created > 0);

    let inspect = docker.inspect_image(&format!("{repo}:one")).await.unwrap();
    assert_eq!(inspect.id, id);
    assert_eq!(inspect.config.cmd, ["/bin/sh"]);
    assert_eq!(inspect.config.labels["swab-test"], test_id);

    // By ID with two tags: a conflict, never forced.
    let err = docker
        .remove_image(&id, RemoveImageOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");

    // Untag one: the image stays.
    let untagged = docker
        .remove_image(&format!("{repo}:two"), RemoveImageOptions::default())
        .await
        .unwrap();
    assert_eq!(untagged.len(), 1);
    assert_eq!(
        untagged[0].untagged.as_deref(),
        Some(format!("{repo}:two").as_str())
    );
    assert!(docker.inspect_image(&id).await.is_ok());

    // A container created from the image blocks removal of the last tag.
    let blocker = unique("swab-img-blocker");
    env().cli(&["create", "--name", &blocker, &format!("{repo}:one"), "true"]);
    let err = docker
        .remove_image(&format!("{repo}:one"), RemoveImageOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(docker.inspect_image(&format!("{repo}:one")).await.is_ok());
    env().cli(&["rm", &blocker]);

    // Last tag: untagged and deleted (noprune only keeps untagged *parents*; imported
    // images have none).
    let removed = docker
        .remove_image(
            &format!("{repo}:one"),
            RemoveImageOptions {
                force: false,
                noprune: true,
            },
        )
        .await
        .unwrap();
    assert!(
        removed
            .iter()
            .any(|r| r.deleted.as_deref() == Some(id.as_str())),
        "{removed:?}"
    );
    assert!(docker.inspect_image(&id).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn pull_from_local_registry_streams_progress_and_distribution_inspect_matches() {
    let docker = docker();
    let test_id = unique("pull");
    let repo = format!("{}/{}", env().registry, unique("swab/pull"));
    let reference = format!("{repo}:v1");
    env().import_image(&reference, &[("swab-test", &test_id)]);
    env().cli(&["push", &reference]);
    let pushed_digest = docker.inspect_image(&reference).await.unwrap().repo_digests[0].clone();

    let dist = docker.distribution_inspect(&reference, None).await.unwrap();
    assert!(
        pushed_digest.ends_with(&dist.descriptor.digest),
        "{pushed_digest} vs {}",
        dist.descriptor.digest
    );

    env().cli(&["rmi", &reference]);
    assert!(
        docker
            .inspect_image(&reference)
            .await
            .unwrap_err()
            .is_not_found()
    );

    let progress: Vec<_> = docker
        .pull_image(&reference, None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(progress.len() >= 2, "{progress:?}");
    let last = progress
        .iter()
        .rev()
        .find_map(|p| p.status.clone())
        .unwrap();
    assert!(last.contains("Downloaded newer image"), "{last}");
    let pulled = docker.inspect_image(&reference).await.unwrap();
    assert!(pulled.repo_digests.contains(&pushed_digest));
    // The unfiltered list carries digests too (swab compares them with the registry's).
    // With a `reference` filter the daemon drops digests that do not match the pattern,
    // which is why swab lists images unfiltered.
    let listed = docker
        .list_images(&ListImagesOptions {
            all: true,
            filters: Filters::new(),
            manifests: false,
        })
        .await
        .unwrap();
    let ours = listed
        .iter()
        .find(|i| i.id == pulled.id)
        .expect("pulled image listed");
    assert!(ours.digests().any(|d| d == pushed_digest), "{ours:?}");

    // Pulling again: up to date.
    let status = docker.pull_image_to_end(&reference, None).await.unwrap();
    assert!(status.contains("Image is up to date"), "{status}");

    // A tag that does not exist fails, whether the daemon says so in the status or the stream.
    let missing = format!("{repo}:does-not-exist");
    let err = match docker.pull_image(&missing, None).await {
        Err(e) => e,
        Ok(stream) => {
            let result: Result<Vec<_>, _> = stream.try_collect().await;
            result.unwrap_err()
        }
    };
    assert!(
        err.to_string().contains("not found") || err.to_string().contains("unknown"),
        "{err}"
    );
    docker
        .remove_image(&reference, RemoveImageOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn pull_with_registry_auth() {
    let docker = docker();
    let env = env();
    let repo = format!("{}/{}", env.auth_registry, unique("swab/auth"));
    let reference = format!("{repo}:v1");
    let test_id = unique("auth");
    env.import_image(&reference, &[("swab-test", &test_id)]);
    env.login_auth_registry();
    env.cli(&["push", &reference]);
    env.cli(&["rmi", &reference]);

    let wrong = RegistryAuth {
        username: Some(env.registry_user.clone()),
        password: Some("wrong".into()),
        server_address: Some(env.auth_registry.clone()),
        ..Default::default()
    };
    let err = match docker.pull_image(&reference, Some(&wrong)).await {
        Err(e) => e,
        Ok(stream) => stream.try_collect::<Vec<_>>().await.unwrap_err(),
    };
    // 20.10 says "unauthorized: authentication required"; Docker 28 with the containerd
    // store "unexpected status from HEAD request to ...: 401 Unauthorized".
    let text = err.to_string().to_lowercase();
    assert!(
        text.contains("unauthorized") || text.contains("authentication"),
        "{err}"
    );
    assert!(
        docker
            .inspect_image(&reference)
            .await
            .unwrap_err()
            .is_not_found()
    );

    let right = RegistryAuth {
        password: Some(env.registry_password.clone()),
        ..wrong
    };
    let status = docker
        .pull_image_to_end(&reference, Some(&right))
        .await
        .unwrap();
    assert!(status.contains("Downloaded newer image"), "{status}");
    let dist = docker
        .distribution_inspect(&reference, Some(&right))
        .await
        .unwrap();
    assert!(dist.descriptor.digest.starts_with("sha256:"));
    docker
        .remove_image(&reference, RemoveImageOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn volumes_create_list_inspect_remove_and_in_use_conflict() {
    let docker = docker();
    let test_id = unique("vol");
    let name = unique("swab-vol");
    let labels: HashMap<String, String> = [("swab-test".to_owned(), test_id.clone())].into();
    let created = docker.create_volume(&name, &labels).await.unwrap();
    assert_eq!(created.name, name);
    let listed = docker.list_volumes(&label_filter(&test_id)).await.unwrap();
    assert_eq!(listed.volumes.len(), 1);
    assert_eq!(
        docker.inspect_volume(&name).await.unwrap().labels["swab-test"],
        test_id
    );

    let user = unique("swab-vol-user");
    let mount = format!("{name}:/v");
    env().create_container(&user, &test_id, &["-v", &mount]);
    let err = docker.remove_volume(&name, false).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    env().cli(&["rm", &user]);
    docker.remove_volume(&name, false).await.unwrap();
    assert!(
        docker
            .inspect_volume(&name)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn events_stream_with_filters_and_since() {
    let docker = docker();
    let test_id = unique("events");
    let since = SystemTime::now();
    let events = docker
        .events(&EventsOptions {
            filters: Filters::new()
                .with("type", "container")
                .with("label", format!("swab-test={test_id}")),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut events = Box::pin(events);
    let name = unique("swab-ev");
    let id = env().create_container(&name, &test_id, &[]);
    env().cli(&["rm", &name]);
    let first = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10s")
        .unwrap()
        .unwrap();
    assert_eq!(first.kind, "container");
    assert_eq!(first.action, "create");
    assert_eq!(first.actor.id, id);
    assert_eq!(first.actor.attributes["name"], name);
    let second = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(second.action, "destroy");

    // Replay from `since` with `until`: a finite stream with the same two events.
    let replay: Vec<_> = docker
        .events(&EventsOptions {
            since: Some(since),
            until: Some(SystemTime::now()),
            filters: Filters::new().with("label", format!("swab-test={test_id}")),
        })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let actions: Vec<&str> = replay.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "destroy"]);
}

#[tokio::test]
async fn prune_endpoints_honour_label_filters() {
    let docker = docker();
    let test_id = unique("prune");
    let mine = unique("swab-prune-mine");
    let other_id = unique("prune-other");
    let other = unique("swab-prune-other");
    env().create_container(&mine, &test_id, &[]);
    env().create_container(&other, &other_id, &[]);
    let pruned = docker
        .prune_containers(&label_filter(&test_id))
        .await
        .unwrap();
    assert_eq!(pruned.containers_deleted.len(), 1);
    assert!(
        docker
            .inspect_container(&mine)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(docker.inspect_container(&other).await.is_ok());
    env().cli(&["rm", &other]);

    // Importing a second image under the same tag leaves the first one dangling.
    let repo = unique("swab-prune-img");
    let dangling = env().import_image(&format!("{repo}:y"), &[("swab-test", &test_id), ("d", "1")]);
    env().import_image(&format!("{repo}:y"), &[("swab-test", &test_id), ("d", "2")]);
    let pruned = docker
        .prune_images(&label_filter(&test_id).with("dangling", "true"))
        .await
        .unwrap();
    assert!(
        pruned
            .images_deleted
            .iter()
            .any(|d| d.deleted.as_deref() == Some(dangling.as_str())),
        "{pruned:?}"
    );
    assert!(docker.inspect_image(&format!("{repo}:y")).await.is_ok());
    docker
        .remove_image(&format!("{repo}:y"), RemoveImageOptions::default())
        .await
        .unwrap();

    let labels: HashMap<String, String> = [("swab-test".to_owned(), test_id.clone())].into();
    let vol = unique("swab-prune-vol");
    docker.create_volume(&vol, &labels).await.unwrap();
    // From API 1.42 volume prune only removes anonymous volumes unless told `all=true`
    // (which older daemons reject as an unknown filter).
    let mut filters = label_filter(&test_id);
    if docker.api_version().await.unwrap() >= ApiVersion::new(1, 42) {
        filters = filters.with("all", "true");
    }
    let pruned = docker.prune_volumes(&filters).await.unwrap();
    assert_eq!(pruned.volumes_deleted, [vol]);

    let net = unique("swab-prune-net");
    docker
        .create_network(&CreateNetwork {
            name: net.clone(),
            labels,
            ..Default::default()
        })
        .await
        .unwrap();
    let pruned = docker
        .prune_networks(&label_filter(&test_id))
        .await
        .unwrap();
    assert_eq!(pruned.networks_deleted, [net]);

    // Nothing was built on the test daemon: the build-cache prune answers and frees nothing.
    let pruned = docker.prune_build_cache(&Filters::new()).await.unwrap();
    assert_eq!(pruned.space_reclaimed, 0);
}

#[tokio::test]
async fn system_df_lists_images_and_totals() {
    let docker = docker();
    let df = docker.disk_usage(false).await.unwrap();
    assert!(df.images.total_count >= 1);
    assert!(df.images.total_size > 0);
    assert!(
        df.image_items
            .iter()
            .any(|i| i.tags().any(|t| t == env().image))
    );
    assert!(df.images.reclaimable <= df.images.total_size);
}

#[tokio::test]
async fn not_found_keeps_dockers_message() {
    let docker = docker();
    let err = docker
        .inspect_container("swab-no-such-container")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { message } if message.contains("swab-no-such-container")),
        "{err}"
    );
    let err = docker
        .inspect_image("swab-no-such-image:nope")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn response_timeout_is_per_client_and_does_not_cut_streams() {
    // A 1ms timeout cannot be met by a real request...
    let fast = docker().with_timeout(Duration::from_millis(1));
    let _ = fast.api_version().await; // may or may not negotiate in time
    let err = fast.info().await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    // ...while a long-lived stream on a client with a short timeout keeps running.
    let docker = docker();
    docker.api_version().await.unwrap();
    let short = docker.with_timeout(Duration::from_millis(500));
    let test_id = unique("streamtimeout");
    let mut events = Box::pin(
        short
            .events(&EventsOptions {
                filters: label_filter(&test_id),
                ..Default::default()
            })
            .await
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let name = unique("swab-st");
    env().create_container(&name, &test_id, &[]);
    let ev = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(ev.action, "create");
    env().cli(&["rm", &name]);
}

/// On the containerd store the daemon fails an image list with 404 when an image goes away
/// while it lists; the client lists again. Another thread imports and removes images the
/// whole time while this one lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_lists_survive_images_removed_meanwhile() {
    let docker = docker();
    let repo = unique("swab-list-race");
    let test_id = unique("list-race");
    let churn = {
        let repo = repo.clone();
        std::thread::spawn(move || {
            for n in 0..30 {
                let reference = format!("{repo}:{n}");
                env().import_image(
                    &reference,
                    &[("swab-test", &test_id), ("n", &n.to_string())],
                );
                env().cli(&["rmi", &reference]);
            }
        })
    };
    let mut lists = 0;
    while !churn.is_finished() {
        let options = ListImagesOptions {
            manifests: true,
            ..ListImagesOptions::default()
        };
        if let Err(err) = docker.list_images(&options).await {
            panic!("list {lists} failed while images were removed: {err}");
        }
        lists += 1;
    }
    churn.join().unwrap();
    assert!(lists > 30, "only {lists} lists overlapped the churn");
}

/// A command run in a container: its output, split into stdout and stderr, and its exit
/// code; a command that fails reports its code, one that is not there an error.
#[tokio::test]
async fn exec_runs_a_command_and_reports_its_output_and_exit_code() {
    let docker = docker();
    let name = unique("swab-exec");
    let label = format!("swab-test={}", unique("exec"));
    env().cli(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &label,
        "--network",
        "none",
        &env().image,
        "sleep",
        "300",
    ]);
    let cmd = |script: &str| vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()];
    let exec = docker
        .create_exec(&name, &cmd("echo out; echo err >&2; exit 7"), &[])
        .await
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), docker.run_exec(&exec, 4096))
        .await
        .expect("the exec's output ends when the command does")
        .unwrap();
    assert_eq!(out.exit_code, Some(7));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");

    let exec = docker.create_exec(&name, &cmd("true"), &[]).await.unwrap();
    let out = docker.run_exec(&exec, 4096).await.unwrap();
    assert_eq!(out.exit_code, Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());

    let missing = docker
        .create_exec(&name, &["/no/such/binary".to_owned()], &[])
        .await
        .unwrap();
    let out = docker.run_exec(&missing, 4096).await.unwrap();
    assert_ne!(out.exit_code, Some(0), "{out:?}");
    env().try_cli(&["rm", "-f", &name]);
}
