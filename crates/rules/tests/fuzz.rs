//! `load_str` and the value parsers never panic, whatever the input.
//!
//! Runs a bounded number of cases in the normal suite; raise it with
//! `PROPTEST_CASES=200000` for a long run (see FUZZING.md).

use proptest::prelude::*;

/// Fragments that exercise the interesting paths: valid keys, values of the
/// right and wrong types, YAML syntax (anchors, aliases, flow, tags,
/// block scalars), and known panic triggers of dependencies.
const FRAGMENTS: &[&str] = &[
    "version: 1\n",
    "version: 2\n",
    "timezone: Europe/Berlin\n",
    "timezone: Mars/Base\n",
    "rules:\n",
    "rules: []\n",
    "protect:\n  images: [\"postgres:*\"]\n",
    "  - name: r\n",
    "  - name: r\n    action: prune-containers\n",
    "    action: prune-images\n",
    "    action: update\n",
    "    action: restart\n",
    "    action: prune-volumes\n",
    "    schedule: \"*/5 * * * * *\"\n",
    "    schedule: \"0 0 30 2 *\"\n",
    "    schedule: \"@hourly\"\n",
    "    match:\n",
    "      older_than: 18446744073709551615s1000ms\n",
    "      older_than: 2h\n",
    "      unused_for: 99999999999999999999y\n",
    "      status: [exited, dead, created]\n",
    "      names: [\"ci-*\"]\n",
    "      images: [\"nginx:1.*\", \"localhost:5000/x@sha256:ab\"]\n",
    "      labels: [\"a=b\", \"!c\", \"d!=e\", \"f\"]\n",
    "      dangling: true\n",
    "    keep_latest: 18446744073709551616\n",
    "    keep_latest: -1\n",
    "    when: {disk_usage_above: 85%}\n",
    "    when: {images_size_above: 99999999999999999999PiB}\n",
    "    target: {disk_usage_below: 100.001%}\n",
    "    rollback_tag: \"{tag}-swab-previous\"\n",
    "    rollback_tag: {tag}\n",
    "    jitter: 5m\n",
    "    max_removals: 1e308\n",
    "notify:\n  - url: https://x\n    on: [changes]\n    format: slack\n",
    "hosts:\n",
    "  - name: h\n    endpoint: tcp://[::1]:99999\n",
    "    endpoint: unix:///var/run/docker.sock\n",
    "    context: prod\n",
    "    tls: {ca: /ca.pem, cert: \"\", verify: 1}\n",
    "    labels: {\"\": x, a: [b]}\n",
    "    rules: [r, r, 7]\n",
    "a: &a [*a]\n",
    "b: &b {x: 1}\nc: *b\n",
    "<<: {version: 1}\n",
    "? [complex, key]\n: value\n",
    "!!binary aGVsbG8=\n",
    "x: |\n  block\n",
    "x: >-\n  folded\n",
    "---\n",
    "...\n",
    "\t\n",
    "'unterminated\n",
    "[[[[[[[[[[[[[[[[[[[[\n",
    "{{{{{{{{{{{{{{{{{{{{\n",
    "- - - - - - - - - -\n",
    "\u{feff}",
    "é: ü\n",
    ": :\n",
];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_strings_never_panic(text in ".{0,400}") {
        let _ = swab_rules::load_str("fuzz.yaml", &text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = swab_rules::load_bytes("fuzz.yaml", &bytes);
    }

    #[test]
    fn yaml_like_mutations_never_panic(
        picks in proptest::collection::vec(0..FRAGMENTS.len(), 0..24),
        indents in proptest::collection::vec(0usize..6, 0..24),
        noise in proptest::collection::vec((0usize..2000, any::<char>()), 0..4),
    ) {
        let mut text = String::new();
        for (i, pick) in picks.iter().enumerate() {
            let indent = indents.get(i).copied().unwrap_or(0);
            for line in FRAGMENTS[*pick].split_inclusive('\n') {
                text.push_str(&" ".repeat(indent));
                text.push_str(line);
            }
        }
        for (at, c) in noise {
            let mut index = at.min(text.len());
            while !text.is_char_boundary(index) {
                index -= 1;
            }
            text.insert(index, c);
        }
        if let Ok(set) = swab_rules::load_str("fuzz.yaml", &text) {
            // A valid set must also describe and render without panicking.
            let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
            let _ = swab_rules::render_validation(&set, now);
        }
    }

    #[test]
    fn value_parsers_never_panic(text in "[0-9a-zA-Z .%:*/@?!=_-]{0,40}") {
        let _ = swab_rules::units::parse_duration(&text);
        let _ = swab_rules::units::parse_size(&text);
        let _ = swab_rules::Percent::parse(&text);
        let _ = swab_rules::ImageRef::parse(&text);
        let _ = swab_rules::ImagePattern::parse(&text);
        let _ = swab_rules::NamePattern::parse(&text);
        let _ = swab_rules::LabelSelector::parse(&text);
        let _ = swab_rules::Schedule::parse(&text, chrono_tz::Tz::UTC);
    }

    #[test]
    fn schedules_never_panic_and_are_ordered(
        minute in prop_oneof![Just("*".to_owned()), (0u32..60).prop_map(|m| m.to_string()), (1u32..30).prop_map(|s| format!("*/{s}"))],
        hour in prop_oneof![Just("*".to_owned()), (0u32..24).prop_map(|h| h.to_string())],
        zone in prop_oneof![Just(chrono_tz::Europe::Berlin), Just(chrono_tz::America::New_York), Just(chrono_tz::Australia::Lord_Howe), Just(chrono_tz::UTC)],
        start in 1_600_000_000i64..1_800_000_000,
    ) {
        let schedule = swab_rules::Schedule::parse(&format!("{minute} {hour} * * *"), zone).unwrap();
        let from = chrono::DateTime::from_timestamp(start, 0).unwrap();
        let times = schedule.next_fire_times(from, 5);
        prop_assert_eq!(times.len(), 5);
        prop_assert!(times[0] > from);
        for pair in times.windows(2) {
            prop_assert!(pair[0] < pair[1]);
        }
    }
}

#[test]
fn humantime_overflow_regression() {
    // humantime 2.4.0 panics on this input; swab must reject it instead.
    let text = "version: 1\nrules:\n  - name: r\n    action: prune-containers\n    match:\n      older_than: 18446744073709551615s1000ms\n";
    let diagnostics = swab_rules::load_str("t.yaml", text).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
    assert!(swab_rules::units::parse_duration("18446744073709551615s1000ms").is_err());
}
