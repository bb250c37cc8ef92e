use base64::Engine as _;
use futures_util::StreamExt as _;
use swab_reference::ImageRef;
use swab_registry::{
    AuthFailure, CredentialStore, Platform, RegistryClient, RegistryError, RegistryOptions,
    media_type,
};
use swab_testkit::{TestEnv, env, unique};

fn client(credentials: CredentialStore) -> RegistryClient {
    RegistryClient::new(credentials, RegistryOptions::default()).unwrap()
}

fn platform() -> Platform {
    Platform::current()
}

/// The daemon's `RepoDigests` of an image.
fn repo_digests(env: &TestEnv, reference: &str) -> Vec<String> {
    let json = env.cli(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        reference,
    ]);
    serde_json::from_str(&json).unwrap()
}

/// The digest the push recorded for `repository`.
fn pushed_digest(env: &TestEnv, reference: &str, repository: &str) -> String {
    let digests = repo_digests(env, reference);
    digests
        .iter()
        .find_map(|d| d.strip_prefix(&format!("{repository}@")))
        .unwrap_or_else(|| panic!("no RepoDigest for {repository} in {digests:?}"))
        .to_owned()
}

/// Imports a fresh image as `reference` and pushes it.
fn push_new_image(env: &TestEnv, reference: &str) {
    env.import_image(reference, &[("swab-test", &unique("registry"))]);
    env.cli(&["push", reference]);
}

fn login(env: &TestEnv) {
    env.login_auth_registry();
}

/// A temp docker config dir whose `auths` has `user:password` for `registry`.
fn docker_config(registry: &str, user: &str, password: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"auths":{{"http://{registry}/":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn digest_follows_pushes_to_the_same_tag() {
    let env = env();
    let repository = format!("{}/{}", env.registry, unique("swab/registry"));
    let tag = format!("{repository}:v1");
    push_new_image(env, &tag);
    let first = pushed_digest(env, &tag, &repository);
    let first_repo_digests = repo_digests(env, &tag);
    let client = client(CredentialStore::anonymous());
    let reference = ImageRef::parse(&tag).unwrap();

    let remote = client
        .manifest_digest(&reference, &platform())
        .await
        .unwrap();
    assert_eq!(remote.digest, first);
    assert!(
        [
            media_type::DOCKER_MANIFEST,
            media_type::OCI_MANIFEST,
            media_type::OCI_INDEX
        ]
        .contains(&remote.media_type.as_str()),
        "{}",
        remote.media_type
    );
    assert!(!remote.is_update_of(&first_repo_digests));

    // A different image under the same tag.
    push_new_image(env, &tag);
    let second = pushed_digest(env, &tag, &repository);
    assert_ne!(first, second);
    let remote = client
        .manifest_digest(&reference, &platform())
        .await
        .unwrap();
    assert_eq!(remote.digest, second);
    assert!(remote.is_update_of(&first_repo_digests));
    assert!(!remote.is_update_of(&repo_digests(env, &tag)));
}

#[tokio::test]
async fn missing_tag_and_repository_are_not_found() {
    let env = env();
    let repository = format!("{}/{}", env.registry, unique("swab/registry"));
    push_new_image(env, &format!("{repository}:v1"));
    let client = client(CredentialStore::anonymous());
    for reference in [
        format!("{repository}:missing"),
        format!("{}/{}:v1", env.registry, unique("swab/never-pushed")),
    ] {
        let err = client
            .manifest_digest(&ImageRef::parse(&reference).unwrap(), &platform())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RegistryError::NotFound { reference: r, registry, .. }
                if *r == reference && *registry == env.registry),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("{reference} was not found on {}", env.registry)),
            "{err}"
        );
    }
}

#[tokio::test]
async fn digest_pinned_reference_is_refused() {
    let env = env();
    let repository = format!("{}/{}", env.registry, unique("swab/registry"));
    let tag = format!("{repository}:v1");
    push_new_image(env, &tag);
    let digest = pushed_digest(env, &tag, &repository);
    for pinned in [
        format!("{repository}@{digest}"),
        format!("{repository}:v1@{digest}"),
    ] {
        let err = client(CredentialStore::anonymous())
            .manifest_digest(&ImageRef::parse(&pinned).unwrap(), &platform())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RegistryError::PinnedByDigest { reference } if *reference == pinned),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn auth_registry_with_right_wrong_and_no_credentials() {
    let env = env();
    login(env);
    let repository = format!("{}/{}", env.auth_registry, unique("swab/registry-auth"));
    let tag = format!("{repository}:v1");
    push_new_image(env, &tag);
    let digest = pushed_digest(env, &tag, &repository);
    let reference = ImageRef::parse(&tag).unwrap();

    let right = docker_config(
        &env.auth_registry,
        &env.registry_user,
        &env.registry_password,
    );
    let store =
        CredentialStore::from_docker_config_file(&right.path().join("config.json")).unwrap();
    let remote = client(store)
        .manifest_digest(&reference, &platform())
        .await
        .unwrap();
    assert_eq!(remote.digest, digest);

    let wrong = docker_config(&env.auth_registry, &env.registry_user, "not-the-password");
    let store =
        CredentialStore::from_docker_config_file(&wrong.path().join("config.json")).unwrap();
    let err = client(store)
        .manifest_digest(&reference, &platform())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Unauthorized { registry, reason: AuthFailure::CredentialsRejected, .. }
            if *registry == env.auth_registry),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the configured credentials were rejected (repository {})",
            env.auth_registry,
            reference.path()
        )
    );
    assert!(!format!("{err:?}").contains("not-the-password"));

    let none = tempfile::tempdir().unwrap();
    let store = CredentialStore::from_docker_config_file(&none.path().join("config.json")).unwrap();
    let err = client(store)
        .manifest_digest(&reference, &platform())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Unauthorized { registry, reason: AuthFailure::CredentialsRequired, .. }
            if *registry == env.auth_registry),
        "{err:?}"
    );
}

/// Pushes a fresh image as `repository:tag` and returns its digest and an index entry
/// for it claiming the given platform.
async fn index_entry(
    env: &TestEnv,
    http: &reqwest::Client,
    repository: &str,
    tag: &str,
    arch: &str,
    variant: Option<&str>,
) -> (String, serde_json::Value) {
    let name = repository.split_once('/').unwrap().1;
    let reference = format!("{repository}:{tag}");
    push_new_image(env, &reference);
    let digest = pushed_digest(env, &reference, repository);
    let response = http
        .get(format!(
            "http://{}/v2/{name}/manifests/{digest}",
            env.registry
        ))
        .header(
            "Accept",
            format!(
                "{}, {}",
                media_type::DOCKER_MANIFEST,
                media_type::OCI_MANIFEST
            ),
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let size = response.bytes().await.unwrap().len();
    let mut platform = serde_json::json!({"os": "linux", "architecture": arch});
    if let Some(variant) = variant {
        platform["variant"] = variant.into();
    }
    let entry = serde_json::json!({
        "mediaType": content_type, "digest": digest, "size": size, "platform": platform
    });
    (digest, entry)
}

/// Builds a multi-platform manifest list from two pushed single-platform manifests with a
/// raw `PUT`, then checks that each platform gets its own entry.
#[tokio::test]
async fn multi_platform_index_resolves_the_platform_entry() {
    let env = env();
    let repository = format!("{}/{}", env.registry, unique("swab/registry-multi"));
    let name = repository.split_once('/').unwrap().1;
    let http = reqwest::Client::new();
    let entries = [
        index_entry(env, &http, &repository, "amd", "amd64", None).await,
        index_entry(env, &http, &repository, "arm", "arm64", Some("v8")).await,
    ];
    let list_type = if entries[0].1["mediaType"] == media_type::OCI_MANIFEST {
        media_type::OCI_INDEX
    } else {
        media_type::DOCKER_MANIFEST_LIST
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": list_type,
        "manifests": [entries[0].1, entries[1].1],
    });
    let body = serde_json::to_vec(&index).unwrap();
    let response = http
        .put(format!("http://{}/v2/{name}/manifests/multi", env.registry))
        .header("Content-Type", list_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}: {}",
        response.status(),
        response.text().await.unwrap()
    );
    let index_digest = response.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned();

    let client = client(CredentialStore::anonymous());
    let reference = ImageRef::parse(&format!("{repository}:multi")).unwrap();
    let amd64 = client
        .manifest_digest(&reference, &Platform::new("linux", "x86_64", None))
        .await
        .unwrap();
    assert_eq!(amd64.digest, index_digest);
    assert_eq!(amd64.media_type, list_type);
    assert_eq!(
        amd64.platform_digest.as_deref(),
        Some(entries[0].0.as_str())
    );
    let arm64 = client
        .manifest_digest(&reference, &Platform::new("linux", "aarch64", None))
        .await
        .unwrap();
    assert_eq!(
        arm64.platform_digest.as_deref(),
        Some(entries[1].0.as_str())
    );
    // A host that pulled its platform's entry by digest is current even though the index
    // digest is new to it.
    assert!(!amd64.is_update_of(&[format!("{repository}@{}", entries[0].0)]));
    assert!(amd64.is_update_of(&[format!("{repository}@{}", entries[1].0)]));
    let err = client
        .manifest_digest(&reference, &Platform::new("linux", "s390x", None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::PlatformNotFound { available, .. }
            if *available == ["linux/amd64", "linux/arm64"]),
        "{err:?}"
    );
}

#[tokio::test]
async fn credentials_from_the_cli_login_config() {
    // The docker CLI config the test environment logs in with: what `docker login` wrote.
    let env = env();
    login(env);
    let repository = format!("{}/{}", env.auth_registry, unique("swab/registry-login"));
    let tag = format!("{repository}:v1");
    push_new_image(env, &tag);
    let store = CredentialStore::from_docker_config_file(
        &env.dir.join("docker-cli-config").join("config.json"),
    )
    .unwrap();
    let remote = client(store)
        .manifest_digest(&ImageRef::parse(&tag).unwrap(), &platform())
        .await
        .unwrap();
    assert_eq!(remote.digest, pushed_digest(env, &tag, &repository));
}

/// 1,200 tags (one manifest `PUT` under each name), read back whole: distribution 2.8
/// ignores `n` and answers in one page (paging through `Link` headers is tested against the
/// fake registry, which caps its pages as Docker Hub does).
#[tokio::test]
async fn a_long_tag_list_is_read_page_by_page() {
    let env = env();
    let repository = format!("{}/{}", env.registry, unique("swab/registry-tags"));
    let name = repository.split_once('/').unwrap().1.to_owned();
    let first = format!("{repository}:t0000");
    push_new_image(env, &first);
    let http = reqwest::Client::new();
    let response = http
        .get(format!("http://{}/v2/{name}/manifests/t0000", env.registry))
        .header(
            "Accept",
            format!(
                "{}, {}",
                media_type::DOCKER_MANIFEST,
                media_type::OCI_MANIFEST
            ),
        )
        .send()
        .await
        .unwrap();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let manifest = response.bytes().await.unwrap();
    let puts = (1..1200).map(|i| {
        let (http, manifest, content_type) = (&http, manifest.clone(), content_type.clone());
        let url = format!("http://{}/v2/{name}/manifests/t{i:04}", env.registry);
        async move {
            let response = http
                .put(url)
                .header("Content-Type", content_type)
                .body(manifest)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
        }
    });
    futures_util::stream::iter(puts)
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;

    let client = client(CredentialStore::anonymous());
    let tags = client
        .tags(&ImageRef::parse(&first).unwrap(), 100)
        .await
        .unwrap();
    assert_eq!(tags.len(), 1200);
    let mut unique_tags = tags.clone();
    unique_tags.sort();
    unique_tags.dedup();
    assert_eq!(unique_tags.len(), 1200, "no tag twice");
    assert_eq!(unique_tags[0], "t0000");
    assert_eq!(unique_tags[1199], "t1199");
}
