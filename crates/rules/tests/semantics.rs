//! What a valid file resolves to: defaults, typed values, descriptions.

use std::collections::HashMap;
use std::time::Duration;

use chrono::DateTime;
use swab_rules::{
    Action, ContainerStatus, ImageRef, NotifyFormat, NotifyOn, Target, Trigger, VolumeScope,
    load_str,
};

const FULL: &str = r#"
version: 1
timezone: Europe/Berlin
protect:
  images: ["postgres:*", "registry.example.com/prod/*"]
  containers: ["db-*"]
  labels: ["com.example.keep"]
rules:
  - name: stopped-ci-containers
    action: prune-containers
    schedule: "*/30 * * * *"
    jitter: 5m
    match:
      older_than: 2h
      names: ["ci-*"]
      labels: ["ci=true", "!keep", "tier!=prod", "owner"]
    max_removals: 500
  - name: old-images
    action: prune-images
    match:
      unused_for: 7d
      dangling: false
      images: ["myorg/*", "nginx:1.*"]
    keep_latest: 3
    when:
      images_size_above: 20GB
    target:
      images_size_below: 10GB
  - name: nightly-update
    action: update
    schedule: "0 3 * * *"
    match:
      labels: ["swab.update=true"]
    rollback_tag: null
    stop_timeout: 10s
  - name: anonymous-volumes
    action: prune-volumes
  - name: named-volumes
    action: prune-volumes
    match:
      names: ["tmp-*"]
  - name: disk
    action: prune-build-cache
    when: {disk_usage_above: 85%}
notify:
  - url: https://hooks.example.com/x
  - url: http://localhost:8080/swab
    on: [failures]
    format: slack
"#;

#[test]
fn full_example_resolves() {
    let set = load_str("full.yaml", FULL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.version, 1);
    assert_eq!(set.timezone, chrono_tz::Europe::Berlin);
    assert_eq!(set.rules.len(), 6);

    let ci = set.rule("stopped-ci-containers").unwrap();
    assert_eq!(ci.action, Action::PruneContainers);
    assert_eq!(
        ci.matcher.status,
        [ContainerStatus::Exited, ContainerStatus::Dead]
    );
    assert_eq!(ci.matcher.older_than, Some(Duration::from_secs(7_200)));
    assert_eq!(ci.jitter, Some(Duration::from_secs(300)));
    assert_eq!(ci.max_removals, Some(500));
    assert!(ci.matcher.matches_name("/ci-42"));
    assert!(!ci.matcher.matches_name("web"));
    let labels: HashMap<String, String> = [("ci", "true"), ("owner", "me")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    assert!(ci.matcher.matches_labels(&labels));
    assert_eq!(ci.update, None);
    assert_eq!(ci.volumes, None);
    assert_eq!(
        ci.describe(),
        "containers with status exited|dead, exited more than 2h ago, named ci-*, labelled ci=true and !keep and tier!=prod and owner; at most 500"
    );

    let images = set.rule("old-images").unwrap();
    assert_eq!(images.keep_latest, Some(3));
    assert_eq!(images.when, Some(Trigger::ImagesSizeAbove(20_000_000_000)));
    assert_eq!(images.target, Some(Target::ImagesSizeBelow(10_000_000_000)));
    assert!(
        images
            .matcher
            .matches_image([&ImageRef::parse("nginx:1.25").unwrap()])
    );
    assert!(
        !images
            .matcher
            .matches_image([&ImageRef::parse("nginx:2").unwrap()])
    );
    assert!(images.matcher.status.is_empty());
    assert_eq!(
        images.describe(),
        "images tagged, unused for 7d, matching myorg/*|nginx:1.*, keeping the 3 newest per repository; only when images take more than 20GB, least recently used first until below 10GB"
    );

    let update = set.rule("nightly-update").unwrap();
    let options = update.update.as_ref().unwrap();
    assert_eq!(options.rollback_tag, None);
    assert_eq!(options.health_timeout, swab_rules::DEFAULT_HEALTH_TIMEOUT);
    assert!(!options.cleanup);
    assert_eq!(update.stop_timeout, Some(Duration::from_secs(10)));

    assert_eq!(
        set.rule("anonymous-volumes").unwrap().volumes,
        Some(VolumeScope::AnonymousOnly)
    );
    assert_eq!(
        set.rule("named-volumes").unwrap().volumes,
        Some(VolumeScope::NamedSelected)
    );

    let disk = set.rule("disk").unwrap();
    assert!(matches!(disk.when, Some(Trigger::DiskUsageAbove(p)) if p.hundredths() == 8_500));

    assert_eq!(set.notify.len(), 2);
    assert_eq!(set.notify[0].on, NotifyOn::DEFAULT);
    assert_eq!(set.notify[0].format, NotifyFormat::Json);
    // An old-style list keeps the new-image notices it always had.
    assert_eq!(set.notify[1].on, [NotifyOn::Failures, NotifyOn::NewImage]);
    assert_eq!(set.notify[1].format, NotifyFormat::Slack);

    let none = HashMap::new();
    let postgres = ImageRef::parse("postgres:16").unwrap();
    assert!(set.protect.protects_image([&postgres], &none));
    assert!(set.protect.protects_container("db-main", None, &none));
    assert!(
        set.protect
            .protects_container("app", Some(&postgres), &none)
    );
}

#[test]
fn default_update_options() {
    let set = load_str(
        "u.yaml",
        "version: 1\nrules:\n  - name: u\n    action: update\n",
    )
    .unwrap();
    let options = set.rules[0].update.as_ref().unwrap();
    assert_eq!(
        options.rollback_tag.as_ref().map(|t| t.render("1.25")),
        Some(Some("1.25-swab-previous".to_owned()))
    );
    assert_eq!(options.health_timeout, Duration::from_secs(60));
    assert_eq!(set.rules[0].stop_timeout, None);
}

#[test]
fn update_hooks() {
    let set = load_str(
        "u.yaml",
        "version: 1\nrules:\n  - name: u\n    action: update\n    hooks:\n      pre_update: pg_dump -f /backup/db.sql\n      post_update: /bin/migrate\n      timeout: 5m\n      on_failure: warn\n      labels: [watchtower, swab, watchtower]\n",
    )
    .unwrap();
    let hooks = &set.rules[0].update.as_ref().unwrap().hooks;
    assert_eq!(
        hooks.pre_update.as_deref(),
        Some("pg_dump -f /backup/db.sql")
    );
    assert_eq!(hooks.post_update.as_deref(), Some("/bin/migrate"));
    assert_eq!(hooks.pre_check, None);
    assert_eq!(hooks.timeout, Duration::from_secs(300));
    assert_eq!(hooks.on_failure, swab_rules::HookFailure::Warn);
    assert_eq!(
        hooks.labels,
        [
            swab_rules::HookLabels::Watchtower,
            swab_rules::HookLabels::Swab
        ]
    );
    assert_eq!(
        set.rules[0].describe(),
        "containers to update; pull newer images and recreate, healthy within 1m, keep previous as {tag}-swab-previous, hooks pre_update, post_update (each within 5m), hook labels Watchtower lifecycle and swab.hooks.*"
    );

    let defaults = load_str(
        "u.yaml",
        "version: 1\nrules:\n  - name: u\n    action: update\n    hooks:\n      labels: []\n",
    )
    .unwrap();
    let options = defaults.rules[0].update.as_ref().unwrap();
    assert_eq!(options.min_age, None);
    assert_eq!(options.retry_after, swab_rules::default_retry_after());
    assert_eq!(options.max_attempts, None);
    let hooks = &options.hooks;
    assert!(hooks.labels.is_empty());
    assert_eq!(hooks.timeout, Duration::from_secs(60));
    assert_eq!(hooks.on_failure, swab_rules::HookFailure::Rollback);
}

#[test]
fn cooldown_and_back_off() {
    let set = load_str(
        "u.yaml",
        "version: 1\nrules:\n  - name: u\n    action: update\n    min_age: 3d\n    retry_after: 2h\n    max_attempts: 4\n",
    )
    .unwrap();
    let options = set.rules[0].update.as_ref().unwrap();
    assert_eq!(options.min_age, Some(Duration::from_secs(3 * 86_400)));
    assert_eq!(options.retry_after, [Duration::from_secs(7200)]);
    assert_eq!(options.max_attempts, Some(4));
    assert!(
        set.rules[0]
            .describe()
            .contains(", new digests only once known for 3d"),
        "{}",
        set.rules[0].describe()
    );
}

#[test]
fn validation_report() {
    let set = load_str("full.yaml", FULL).unwrap();
    // 2024-03-30 23:10 UTC: the night Berlin springs forward.
    let now = DateTime::parse_from_rfc3339("2024-03-30T23:10:00Z")
        .unwrap()
        .to_utc();
    let report = swab_rules::render_validation(&set, now);
    let expected_start = "\
full.yaml: OK, 6 rules (time zone Europe/Berlin)

stopped-ci-containers (prune-containers)
  containers with status exited|dead, exited more than 2h ago, named ci-*, labelled ci=true and !keep and tier!=prod and owner; at most 500
  schedule: */30 * * * *, plus up to 5m jitter
  next: 2024-03-31 00:30:00 CET
  next: 2024-03-31 01:00:00 CET
  next: 2024-03-31 01:30:00 CET

old-images (prune-images)
";
    assert!(report.starts_with(expected_start), "{report}");
    assert!(report.contains(
        "nightly-update (update)\n  containers to update labelled swab.update=true; pull newer images and recreate, healthy within 1m, no rollback tag\n  schedule: 0 3 * * *\n  next: 2024-03-31 03:00:00 CEST\n  next: 2024-04-01 03:00:00 CEST\n  next: 2024-04-02 03:00:00 CEST\n"
    ), "{report}");
    assert!(report.contains("anonymous-volumes (prune-volumes)\n  unused anonymous volumes\n  schedule: none (runs only when invoked)\n"), "{report}");
    assert!(report.ends_with(
        "\nprotected: label swab.protect; images postgres:*, registry.example.com/prod/*; containers db-*; labels com.example.keep\n"
    ), "{report}");
}

const HOSTS: &str = "\
version: 1
rules:
  - name: prune-ci
    action: prune-containers
  - name: old-images
    action: prune-images
  - name: nightly-update
    action: update
hosts:
  - name: build-1
    endpoint: tcp://build-1.internal:2376
    tls:
      ca: /etc/swab/tls/ca.pem
      cert: /etc/swab/tls/cert.pem
      key: /etc/swab/tls/key.pem
      # verify: true
    labels: {role: ci, site: ber}
    rules: [old-images, prune-ci, old-images]
  - name: local
    endpoint: \" unix:///var/run/docker.sock \"
  - name: prod
    context: prod
    labels:
      role: prod
      empty: \"\"
  - name: lab.v6
    endpoint: tcp://[::1]
    tls:
";

#[test]
fn hosts_resolve() {
    use swab_rules::{Host, HostEndpoint, HostTls, Position};
    let set = load_str("hosts.yaml", HOSTS).unwrap_or_else(|e| panic!("{e}"));
    let labels = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        set.hosts,
        [
            Host {
                name: "build-1".to_owned(),
                endpoint: HostEndpoint::Url {
                    url: "tcp://build-1.internal:2376".to_owned(),
                    tls: Some(HostTls {
                        ca: Some("/etc/swab/tls/ca.pem".into()),
                        cert: Some("/etc/swab/tls/cert.pem".into()),
                        key: Some("/etc/swab/tls/key.pem".into()),
                        verify: true,
                    }),
                },
                labels: labels(&[("role", "ci"), ("site", "ber")]),
                // As written, each once.
                rules: Some(vec!["old-images".to_owned(), "prune-ci".to_owned()]),
                position: Position::new(10, 5),
            },
            Host {
                name: "local".to_owned(),
                endpoint: HostEndpoint::Url {
                    url: "unix:///var/run/docker.sock".to_owned(),
                    tls: None,
                },
                labels: labels(&[]),
                rules: None,
                position: Position::new(19, 5),
            },
            Host {
                name: "prod".to_owned(),
                endpoint: HostEndpoint::Context("prod".to_owned()),
                labels: labels(&[("role", "prod"), ("empty", "")]),
                rules: None,
                position: Position::new(21, 5),
            },
            Host {
                name: "lab.v6".to_owned(),
                // An empty `tls:` is TLS against the system roots.
                endpoint: HostEndpoint::Url {
                    url: "tcp://[::1]".to_owned(),
                    tls: Some(HostTls::default()),
                },
                labels: labels(&[]),
                rules: None,
                position: Position::new(26, 5),
            },
        ]
    );
    assert!(HostTls::default().verify);
    assert_eq!(set.hosts[2].endpoint.to_string(), "context prod");

    // A host's rules come in the file's order, whatever order the host lists them in.
    let names = |host: &Host| -> Vec<String> {
        set.rules_for(host).iter().map(|r| r.name.clone()).collect()
    };
    assert_eq!(names(&set.hosts[0]), ["prune-ci", "old-images"]);
    assert_eq!(
        names(&set.hosts[1]),
        ["prune-ci", "old-images", "nightly-update"]
    );
    // A single name is a list of one.
    let one = load_str(
        "one.yaml",
        "version: 1\nrules:\n  - name: a\n    action: prune-images\n  - name: b\n    action: prune-images\nhosts:\n  - name: h\n    context: c\n    rules: b\n",
    )
    .unwrap();
    assert_eq!(one.hosts[0].rules, Some(vec!["b".to_owned()]));
    assert_eq!(one.rules_for(&one.hosts[0]).len(), 1);
    let mut unknown = set.hosts[1].clone();
    unknown.rules = Some(vec!["not-in-the-file".to_owned()]);
    assert!(set.rules_for(&unknown).is_empty());

    let [build, local, prod, _] = &set.hosts[..] else {
        panic!("four hosts");
    };
    assert!(build.matches("build-1"));
    assert!(!build.matches("build"));
    assert!(!build.matches("BUILD-1"));
    assert!(build.matches("role=ci"));
    assert!(build.matches("site=ber"));
    assert!(!build.matches("role=prod"));
    assert!(!build.matches("role=c"));
    assert!(!build.matches("role"));
    assert!(!local.matches("role=ci"));
    assert!(prod.matches("empty="));
    assert!(!build.matches("empty="));
    assert!(!build.matches("=ci"));
}

#[test]
fn a_file_without_hosts_has_none() {
    let set = load_str(
        "r.yaml",
        "version: 1\nrules:\n  - name: r\n    action: prune-images\n",
    )
    .unwrap();
    assert!(set.hosts.is_empty());
    let now = DateTime::parse_from_rfc3339("2024-03-30T23:10:00Z")
        .unwrap()
        .to_utc();
    assert!(!swab_rules::render_validation(&set, now).contains("host"));
}

#[test]
fn validation_report_lists_hosts() {
    let set = load_str("hosts.yaml", HOSTS).unwrap();
    let now = DateTime::parse_from_rfc3339("2024-03-30T23:10:00Z")
        .unwrap()
        .to_utc();
    let report = swab_rules::render_validation(&set, now);
    assert!(
        report.starts_with("hosts.yaml: OK, 3 rules, 4 hosts (time zone UTC)\n"),
        "{report}"
    );
    assert!(
        report.ends_with(
            "
hosts:
  build-1: tcp://build-1.internal:2376 with TLS, CA /etc/swab/tls/ca.pem, client certificate /etc/swab/tls/cert.pem; labels role=ci, site=ber; rules old-images, prune-ci
  local: unix:///var/run/docker.sock; every rule
  prod: context prod; labels empty=, role=prod; every rule
  lab.v6: tcp://[::1] with TLS, system CA roots; every rule

protected: label swab.protect
"
        ),
        "{report}"
    );
}
