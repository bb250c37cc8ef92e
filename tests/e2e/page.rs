//! The daemon's status page (`GET /`) in a real browser: headless chromium against a
//! `swab daemon --api` on the private test daemon.

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use std::time::Duration;

    use rustix::process::Signal;
    use swab_testkit::browser::{self, Scheme};
    use swab_testkit::{env, unique};

    use crate::harness::swab;
    use crate::http::{free_port, request, wait_run};

    const TOKEN: &str = "e2e-page-token-8c2d4e6f0a1b3c5d";

    /// A rule set with a yearly prune (it never fires during the test; a run through the
    /// API puts it in the history) and an on-demand update rule.
    fn rules(prune_label: &str, test_id: &str) -> String {
        format!(
            "version: 1\nrules:\n  - name: sweep\n    action: prune-containers\n    schedule: \"0 0 1 1 *\"\n    match:\n      labels: [\"{prune_label}\"]\n  - name: upd\n    action: update\n    match:\n      labels: [\"swab-test={test_id}\"]\n"
        )
    }

    /// A running container of `reference` whose registry has a newer image under the same
    /// tag: a pending update.
    fn outdated_container(reference: &str, test_id: &str) -> String {
        let v1 = env().import_image(reference, &[("swab-test", test_id), ("v", "1")]);
        env().cli(&["push", reference]);
        let name = unique("swab-page-web");
        env().cli(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "--label",
            &format!("swab-test={test_id}"),
            reference,
            "sleep",
            "300",
        ]);
        env().import_image(reference, &[("swab-test", test_id), ("v", "2")]);
        env().cli(&["push", reference]);
        env().cli(&["tag", &v1, reference]);
        name
    }

    #[test]
    fn the_status_page_shows_rules_a_pending_update_and_a_run_in_chromium() {
        const TEST: &str =
            "page::the_status_page_shows_rules_a_pending_update_and_a_run_in_chromium";
        if browser::chromium().is_none() {
            swab_testkit::skip(TEST, "chromium is not installed");
            return;
        }
        let test_id = unique("e2e-page");
        let prune_label = format!("swab-page-prune={test_id}");
        let reference = format!("{}/{}:v1", env().registry, unique("swab/page"));
        let web = outdated_container(&reference, &test_id);
        let exited = unique("swab-page-exited");
        env().cli(&[
            "run",
            "--name",
            &exited,
            "--label",
            &prune_label,
            "--network",
            "none",
            &env().image,
            "true",
        ]);

        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut daemon = swab()
            .home_file("r.yaml", &rules(&prune_label, &test_id))
            .home_file("token", &format!("{TOKEN}\n"))
            .args([
                "-H",
                &env().docker_host,
                "daemon",
                "--rules",
                "r.yaml",
                "--state",
                "state.json",
                "--metrics-addr",
                &addr,
                "--api",
                "--api-token-file",
                "token",
            ])
            .spawn();
        daemon.wait_for_log("API on http://", Duration::from_secs(10));

        // A run in the history, and a fresh update check.
        let started = request(
            port,
            "POST",
            "/api/v1/runs",
            Some(TOKEN),
            Some(r#"{"rules": ["sweep"]}"#),
        );
        assert_eq!(started.status, 202, "{}", started.body);
        let run = started.json()["id"].as_str().unwrap().to_owned();
        wait_run(port, Some(TOKEN), &run, Duration::from_secs(60));
        let updates = request(port, "GET", "/api/v1/updates?refresh=true", None, None);
        assert_eq!(updates.status, 200, "{}", updates.body);

        let url = format!("http://{addr}/");
        let dom = browser::dump_dom(&url);
        assert!(dom.contains("data-rule=\"sweep\""), "{dom}");
        assert!(dom.contains("data-rule=\"upd\""), "{dom}");
        assert!(
            dom.contains(&format!("data-pending=\"{reference}\"")),
            "the check: {}\n{dom}",
            updates.body
        );
        // The script ran: the container's "update now" button is shown.
        assert!(
            dom.contains(&format!("data-update=\"{web}\">update now")),
            "{dom}"
        );
        let item = &dom[dom.find(&format!("data-run=\"{run}\"")).expect(&dom)..];
        let item = &item[..item.find("</details>").unwrap()];
        assert!(
            item.contains(&exited),
            "the run lists what it removed: {item}"
        );
        assert!(item.contains("data-status=\"done\""), "{item}");
        // The daemon measured the disk after the run: the chart has a point.
        let disk = &dom[dom.find("id=\"chart-disk\"").unwrap()..];
        assert!(
            disk[..disk.find("</figure>").unwrap()].contains("class=\"dot\""),
            "{disk}"
        );

        for (name, width, height, scheme) in [
            ("status-page-daemon-wide-light", 1280, 1000, Scheme::Light),
            ("status-page-daemon-wide-dark", 1280, 1000, Scheme::Dark),
            ("status-page-daemon-phone-light", 390, 1500, Scheme::Light),
            ("status-page-daemon-phone-dark", 390, 1500, Scheme::Dark),
        ] {
            let path = browser::screenshot(&url, name, width, height, scheme);
            eprintln!("screenshot: {}", path.display());
        }

        daemon.signal(Signal::TERM);
        assert_eq!(daemon.wait_exit(Duration::from_secs(20)), 0);
        env().cli(&["rm", "-f", &web]);
    }
}
