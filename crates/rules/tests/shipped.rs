//! Every shipped rule file validates, and the built-in set is the file.

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `rules/*.yaml`, plus `examples/*.rules.yaml` (the naming convention that
/// marks an example as a rule file; other examples are systemd units,
/// compose files and the like).
fn rule_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let root = repo_root();
    for (dir, suffix) in [("rules", ".yaml"), ("examples", ".rules.yaml")] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable directory").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.ends_with(suffix) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_shipped_rule_file_validates() {
    let files = rule_files();
    assert!(
        files.len() >= 4,
        "expected the shipped rule files, found {files:?}"
    );
    for file in &files {
        if let Err(error) = swab_rules::load_file(file) {
            panic!("{} does not validate:\n{error}", file.display());
        }
    }
}

#[test]
fn default_rules_are_rules_default_yaml() {
    let on_disk = std::fs::read_to_string(repo_root().join("rules/default.yaml")).unwrap();
    assert_eq!(swab_rules::DEFAULT_RULES_YAML, on_disk);
    let set = swab_rules::default_rules();
    let names: Vec<&str> = set.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["old-stopped-containers", "dangling-images"]);
    // Conservative: never volumes, never updates or restarts.
    assert!(set.rules.iter().all(|r| matches!(
        r.action,
        swab_rules::Action::PruneContainers | swab_rules::Action::PruneImages
    )));
}
