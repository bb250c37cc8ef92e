//! What differs between the classic and the containerd image store, and what swab must do the
//! same on both. These run on every engine; where the daemon itself answers differently, the
//! test pins each store's answer, so a change in Docker shows up here first.

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use serde_json::Value;
    use swab_testkit::registry::put_index;
    use swab_testkit::{env, unique};

    use crate::harness::{Outcome, swab};

    fn inspect_image(reference: &str) -> Value {
        let json = env().cli(&["image", "inspect", reference]);
        serde_json::from_str::<Value>(&json).unwrap()[0].clone()
    }

    fn repo_digests(image: &Value) -> Vec<String> {
        image["RepoDigests"]
            .as_array()
            .map(|a| a.iter().map(|d| d.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }

    fn swab_rules(rules: &str, args: &[&str]) -> Outcome {
        swab()
            .home_file("r.yaml", rules)
            .in_home()
            .args(["-H", &env().docker_host])
            .args(args)
            .args(["--rules", "r.yaml", "--format", "json"])
            .run()
    }

    fn update_rule(test_id: &str) -> String {
        format!(
            "version: 1\nrules:\n  - name: u\n    action: update\n    health_timeout: 1s\n    match:\n      labels: [\"swab-test={test_id}\"]\n"
        )
    }

    /// A running container of `reference` labelled `swab-test=<test_id>`, without a network.
    fn run_labelled(name: &str, test_id: &str, reference: &str) {
        env().cli(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            "--label",
            &format!("swab-test={test_id}"),
            reference,
            "sleep",
            "300",
        ]);
    }

    fn container_image(name: &str) -> String {
        env().cli(&["inspect", "--format", "{{.Image}}", name])
    }

    /// `status` of the one reference `swab updates` reports.
    #[track_caller]
    fn updates_status(rules: &str) -> String {
        let out = swab_rules(rules, &["updates"]);
        out.code(0);
        let report = out.json();
        let rows = report["references"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{report}");
        rows[0]["status"].as_str().unwrap().to_owned()
    }

    /// An image built (here: imported) on the host under a tag the registry also has is never
    /// replaced by the registry's. On the classic store such an image has no `RepoDigests`; on
    /// the containerd store it has one made from its name, so swab asks the registry whether
    /// it knows that digest.
    #[test]
    fn a_local_build_under_a_registry_tag_is_never_replaced() {
        let test_id = unique("store-local");
        let repo = format!("{}/{}", env().registry, unique("swab/local-build"));
        let reference = format!("{repo}:v1");
        env().import_image(&reference, &[("swab-test", &test_id), ("v", "upstream")]);
        env().cli(&["push", &reference]);
        // The host's own build replaces the pulled one under the same tag.
        let local = env().import_image(&reference, &[("swab-test", &test_id), ("v", "local")]);
        let image = inspect_image(&reference);
        assert_eq!(image["Id"], local.as_str());
        if env().engine.containerd_store() {
            // The ID is the manifest digest, and a RepoDigest is derived from the name
            // although this image never was in the registry.
            assert_eq!(repo_digests(&image), [format!("{repo}@{local}")]);
        } else {
            assert_eq!(repo_digests(&image), Vec::<String>::new());
        }
        let name = unique("swab-local-build");
        run_labelled(&name, &test_id, &reference);
        let id = env().cli(&["inspect", "--format", "{{.Id}}", &name]);
        let rules = update_rule(&test_id);

        assert_eq!(updates_status(&rules), "local_build");
        // The same when only the daemon can reach the registry: swab's own requests go to a
        // proxy nobody listens on, and the digest is asked through the daemon.
        let out = swab()
            .home_file("r.yaml", &rules)
            .in_home()
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("http_proxy", "http://127.0.0.1:9")
            .args(["-H", &env().docker_host, "updates", "--rules", "r.yaml"])
            .args(["--format", "json"])
            .run();
        out.code(0);
        assert_eq!(out.json()["references"][0]["status"], "local_build");
        let out = swab_rules(&rules, &["run"]);
        out.code(0);
        let report = out.json();
        assert_eq!(report["actions"], serde_json::json!([]), "{report}");
        let kept = report["kept"].as_array().unwrap();
        assert!(
            kept.iter().any(|k| k["reason"]
                .as_str()
                .unwrap()
                .contains("built or loaded here")),
            "{report}"
        );
        assert_eq!(env().cli(&["inspect", "--format", "{{.Id}}", &name]), id);
        assert_eq!(container_image(&name), local);
        env().cli(&["rm", "-f", &name]);
    }

    /// A multi-platform index built through the registry API from two single-platform images,
    /// then pulled: swab judges updates by this platform's entry, and prunes the index as one
    /// image, never while a container uses it.
    #[test]
    fn a_multi_platform_index_is_checked_for_this_platform_and_pruned_as_one_image() {
        let test_id = unique("store-index");
        let path = unique("swab/multi");
        let repo = format!("{}/{path}", env().registry);
        let publish = |entry: &str, version: &str| {
            let tag = format!("{repo}:{entry}");
            env().import_image(&tag, &[("swab-test", &test_id), ("v", version)]);
            env().cli(&["push", &tag]);
            env().cli(&["rmi", &tag]);
        };
        let index =
            |entries: &[(&str, &str, &str)]| put_index(&env().registry, &path, "multi", entries);
        publish("amd", "amd-1");
        publish("arm", "arm-1");
        let platforms = [("amd", "linux", "amd64"), ("arm", "linux", "arm64")];
        let first = index(&platforms);
        let reference = format!("{repo}:multi");
        env().cli(&["pull", &reference]);
        let image = inspect_image(&reference);
        let image_id = image["Id"].as_str().unwrap().to_owned();
        assert!(
            repo_digests(&image).contains(&format!("{repo}@{first}")),
            "{image}"
        );
        if env().engine.containerd_store() {
            // The image is the index itself.
            assert_eq!(image_id, first);
        } else {
            // The image is the amd64 entry's config; the index is only a RepoDigest.
            assert_ne!(image_id, first);
        }
        let rules = update_rule(&test_id);
        let name = unique("swab-multi");
        run_labelled(&name, &test_id, &reference);
        // The container is recorded against the image's ID on both stores (the index
        // digest on containerd), which is what tells the planner the image is in use.
        assert_eq!(container_image(&name), image_id);
        assert_eq!(updates_status(&rules), "up_to_date");

        // Only the arm64 entry changes: a new index, but nothing new for this host.
        publish("arm", "arm-2");
        let second = index(&platforms);
        assert_ne!(second, first);
        assert_eq!(updates_status(&rules), "up_to_date");

        // The amd64 entry changes: an update.
        publish("amd", "amd-2");
        index(&platforms);
        assert_eq!(updates_status(&rules), "outdated");

        // Pruning: in use (stopped, even) means kept; unused, it goes as one image.
        env().cli(&["stop", "-t", "0", &name]);
        if env().engine.containerd_store() {
            // The containerd store counts the containers of each image in the list; the
            // classic one leaves `Containers` at -1 (shown as N/A).
            assert_eq!(
                env().cli(&["images", "--format", "{{.Containers}}", &reference]),
                "1"
            );
        }
        let prune = format!(
            "version: 1\nrules:\n  - name: p\n    action: prune-images\n    match:\n      images: [\"{repo}:*\"]\n"
        );
        let out = swab_rules(&prune, &["plan"]);
        out.code(0);
        let report = out.json();
        assert_eq!(report["actions"], serde_json::json!([]), "{report}");
        env().cli(&["rm", &name]);
        let out = swab_rules(&prune, &["run"]);
        out.code(0);
        let report = out.json();
        let actions = report["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 1, "one image, all platforms: {report}");
        assert_eq!(actions[0]["action"], "remove_image");
        assert_eq!(actions[0]["id"], image_id.as_str());
        assert_eq!(actions[0]["status"], "done", "{report}");
        assert!(!env().try_cli(&["image", "inspect", &reference]).success);
        assert_eq!(
            env().cli(&["images", "-q", &repo]),
            "",
            "nothing of the index is left"
        );
    }

    /// A tag moved to a new image leaves the old one dangling on both stores: no tags, no
    /// digests, and a `dangling: true` rule removes it and nothing else.
    #[test]
    fn an_image_whose_tag_moved_is_dangling_and_pruned_as_such() {
        let test_id = unique("store-dangling");
        let repo = unique("swab-dangling");
        let reference = format!("{repo}:t");
        let old = env().import_image(&reference, &[("swab-test", &test_id), ("v", "1")]);
        let new = env().import_image(&reference, &[("swab-test", &test_id), ("v", "2")]);
        let image = inspect_image(&old);
        assert_eq!(image["RepoTags"], serde_json::json!([]), "{image}");
        assert_eq!(repo_digests(&image), Vec::<String>::new());
        let listed = env().cli(&[
            "images",
            "-q",
            "--no-trunc",
            "--filter",
            "dangling=true",
            "--filter",
            &format!("label=swab-test={test_id}"),
        ]);
        assert_eq!(listed, old);
        let rules = format!(
            "version: 1\nrules:\n  - name: d\n    action: prune-images\n    match:\n      dangling: true\n      labels: [\"swab-test={test_id}\"]\n"
        );
        let out = swab_rules(&rules, &["run"]);
        out.code(0);
        let report = out.json();
        let actions = report["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 1, "{report}");
        assert_eq!(actions[0]["id"], old.as_str());
        assert_eq!(actions[0]["status"], "done", "{report}");
        assert!(!env().try_cli(&["image", "inspect", &old]).success);
        assert_eq!(inspect_image(&reference)["Id"], new.as_str());
        env().cli(&["rmi", &reference]);
    }
}
