//! Every deployment example in `examples/` is exercised here, so none can rot: each `swab`
//! command line in them must parse with the real flag definitions, and every rule file they
//! name from this repository must validate.

use std::path::{Path, PathBuf};

use clap::Parser as _;

use crate::args::Cli;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(examples().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn yaml(name: &str) -> serde_json::Value {
    serde_saphyr::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The words of a shell command up to the first redirection or pipe.
fn words(command: &str) -> Vec<String> {
    command
        .split_whitespace()
        .take_while(|w| !w.starts_with('>') && !w.starts_with("2>") && *w != "|")
        .map(str::to_owned)
        .collect()
}

/// Parses a `swab ...` command line with the real CLI, and validates repo rule files it names.
#[track_caller]
fn check(source: &str, mut args: Vec<String>) {
    args[0] = "swab".to_owned();
    if let Err(err) = Cli::try_parse_from(&args) {
        panic!("{source}: `{}` does not parse:\n{err}", args.join(" "));
    }
    if let Some(i) = args.iter().position(|a| a == "--rules") {
        let path = &args[i + 1];
        if path.starts_with("rules/") {
            let full = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(path);
            swab_rules::load_file(&full).unwrap_or_else(|e| panic!("{source}: {path}: {e}"));
        }
    }
}

/// Every string in a YAML document that is a `swab` command.
fn swab_commands(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if s.trim_start().starts_with("swab ") => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| swab_commands(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| swab_commands(v, out)),
        _ => {}
    }
}

#[test]
fn systemd_unit() {
    let unit = read("swab.service");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    check("swab.service", words(exec));
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    // ProtectSystem=strict makes /run read-only: the host lock's directory must be opened up.
    let writable = unit
        .lines()
        .find_map(|l| l.strip_prefix("ReadWritePaths="))
        .expect("ReadWritePaths");
    let lock_dir =
        swab_engine::lock::default_lock_path(std::path::Path::new("/var/lib/swab/state.json"));
    if lock_dir.starts_with("/run/lock") {
        assert!(
            writable.split_whitespace().any(|p| p == "/run/lock"),
            "{writable}"
        );
    }
}

#[test]
fn crontab_line() {
    let crontab = read("crontab");
    let line = crontab
        .lines()
        .find(|l| !l.starts_with('#') && l.contains(" swab "))
        .expect("a swab line");
    // Five time fields and the user, then the command.
    let command: Vec<String> = words(line).into_iter().skip(6).collect();
    check("crontab", command);
}

#[test]
fn ci_jobs() {
    for name in ["github-actions.yml", "gitlab-ci.yml"] {
        let mut commands = Vec::new();
        swab_commands(&yaml(name), &mut commands);
        assert!(commands.len() >= 2, "{name}: {commands:?}");
        for command in commands {
            check(name, words(&command));
        }
    }
}

#[test]
fn compose_files_and_dockerfile() {
    for name in ["compose.yaml", "compose.socket-proxy.yaml"] {
        let doc = yaml(name);
        let command: Vec<String> = doc["services"]["swab"]["command"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: services.swab.command"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let mut args = vec!["swab".to_owned()];
        args.extend(command);
        check(name, args);
        assert_eq!(
            doc["services"]["swab"]["labels"]["swab.protect"], "true",
            "{name}"
        );
    }
    // The Swarm stack: its command parses, the rules its config carries validate, and swab
    // protects its own service and tasks.
    let doc = yaml("swarm-stack.yaml");
    let swab = &doc["services"]["swab"];
    let mut args = vec!["swab".to_owned()];
    args.extend(
        swab["command"]
            .as_array()
            .expect("swarm-stack.yaml: services.swab.command")
            .iter()
            .map(|v| v.as_str().unwrap().to_owned()),
    );
    check("swarm-stack.yaml", args);
    let rules = doc["configs"]["swab-rules"]["file"].as_str().unwrap();
    swab_rules::load_file(examples().join(rules))
        .unwrap_or_else(|e| panic!("swarm-stack.yaml: {rules}: {e}"));
    assert_eq!(swab["deploy"]["mode"], "global");
    assert_eq!(swab["labels"]["swab.protect"], "true");
    assert_eq!(swab["deploy"]["labels"]["swab.protect"], "true");
    let dockerfile = read("Dockerfile");
    let cmd = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("CMD");
    let mut args = vec!["swab".to_owned()];
    args.extend(serde_json::from_str::<Vec<String>>(cmd).unwrap());
    check("Dockerfile", args);
}
