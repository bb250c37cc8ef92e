//! `swab validate` and `swab rules show-default`. No daemon needed.

use std::path::PathBuf;

use crate::harness::swab;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_shipped_rule_file_validates() {
    let mut checked = 0;
    for dir in ["rules", "examples"] {
        let Ok(entries) = std::fs::read_dir(repo_root().join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let is_rules = if dir == "rules" {
                path.extension().is_some_and(|e| e == "yaml")
            } else {
                name.ends_with(".rules.yaml")
            };
            if !is_rules {
                continue;
            }
            swab()
                .args(["validate", "--rules", path.to_str().unwrap()])
                .run()
                .code(0)
                .stdout_contains(": OK, ");
            checked += 1;
        }
    }
    assert!(
        checked >= 4,
        "expected the shipped rule sets, found {checked}"
    );
}

#[test]
fn three_mistakes_give_three_located_errors_and_exit_2() {
    let out = swab()
        .home_file(
            "bad.yaml",
            "version: 1\n\
             rules:\n\
             \x20 - name: stopped\n\
             \x20   action: prune-containers\n\
             \x20   match:\n\
             \x20     older_then: 2h\n\
             \x20 - name: images\n\
             \x20   action: prune-images\n\
             \x20   keep_latest: 3\n\
             \x20   schedule: \"61 * * * *\"\n\
             \x20   match:\n\
             \x20     unused_for: seven days\n",
        )
        .args(["validate", "--rules", "bad.yaml"])
        .in_home()
        .run();
    out.code(2);
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| {
            l.strip_prefix("bad.yaml:")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    assert_eq!(errors.len(), 3, "{}", out.stderr);
    assert!(
        errors[0].starts_with("bad.yaml:6:7: rule 'stopped': unknown key `older_then`"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("did you mean `older_than`?"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with("bad.yaml:10:15: rule 'images': invalid schedule"),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].starts_with("bad.yaml:12:19: rule 'images':"),
        "{}",
        errors[2]
    );
    out.stderr_contains("bad.yaml: 3 errors");
}

#[test]
fn stdin_is_read_with_dash() {
    swab()
        .args(["validate", "--rules", "-"])
        .stdin("version: 1\nrules: []\n")
        .run()
        .code(2)
        .stderr_contains("<stdin>:2:");
}

#[test]
fn binary_and_oversized_files_are_rejected_cleanly() {
    let big = "#".repeat(1024 * 1024 + 10);
    swab()
        .home_file("big.yaml", &big)
        .args(["validate", "--rules", "big.yaml"])
        .in_home()
        .run()
        .code(2)
        .stderr_contains("big.yaml");
    swab()
        .home_file("bin.yaml", "version: 1\n\0\0\0")
        .args(["validate", "--rules", "bin.yaml"])
        .in_home()
        .run()
        .code(2)
        .stderr_contains("bin.yaml:2:1");
    swab()
        .args(["validate", "--rules", "/nonexistent/rules.yaml"])
        .run()
        .code(2)
        .stderr_contains("cannot read rule file /nonexistent/rules.yaml");
}

#[test]
fn default_rules_validate_and_show_default_prints_the_shipped_file() {
    swab()
        .args(["validate"])
        .run()
        .code(0)
        .stdout_contains("<default rules>: OK")
        .stdout_contains("next: ");
    let out = swab().args(["rules", "show-default"]).run();
    out.code(0);
    let shipped = std::fs::read_to_string(repo_root().join("rules/default.yaml")).unwrap();
    assert_eq!(out.stdout, shipped);
}

#[cfg(feature = "docker-tests")]
mod with_daemon {
    use crate::harness::swab;

    #[test]
    fn check_host_warns_about_protect_patterns_that_match_nothing() {
        use swab_testkit::env;
        let out = swab()
            .home_file(
                "r.yaml",
                "version: 1\nprotect:\n  images: [\"swab-test/busybox\", \"swab-test/busyboxx\"]\nrules:\n  - name: s\n    action: prune-containers\n",
            )
            .in_home()
            .args(["-H", &env().docker_host, "validate", "--rules", "r.yaml", "--check-host"])
            .run();
        out.code(0).stdout_contains(
            "warning: protect.images pattern \"swab-test/busyboxx\" matches no image on this host",
        );
        assert!(
            !out.stdout.contains("pattern \"swab-test/busybox\" matches"),
            "{}",
            out.stdout
        );
    }
}
