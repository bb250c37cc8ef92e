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

/// The metric names (identifiers starting `swab_`) a PromQL expression reads.
fn metric_names(expr: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = Vec::new();
    for (i, _) in expr.match_indices("swab_") {
        if expr[..i].chars().next_back().is_some_and(ident) {
            continue;
        }
        let name: String = expr[i..].chars().take_while(|&c| ident(c)).collect();
        names.push(name);
    }
    names
}

/// Every PromQL string of a Grafana dashboard: panel targets' `expr`, and the templating
/// variables' `query`/`definition`.
fn promql_strings(value: &serde_json::Value, key: Option<&str>, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if matches!(key, Some("expr" | "query" | "definition")) => {
            out.push(s.clone());
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| promql_strings(v, key, out)),
        serde_json::Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| promql_strings(v, Some(k), out)),
        _ => {}
    }
}

/// Panics unless every metric each expression reads is one swab exports; returns how many
/// names were checked.
#[track_caller]
fn check_metric_names(source: &str, exprs: &[String]) -> usize {
    let exported = crate::metrics::exposition::exported_names();
    let mut checked = 0;
    for expr in exprs {
        for name in metric_names(expr) {
            assert!(
                exported.contains(&name),
                "{source}: `{name}` (in `{expr}`) is not a metric swab exports; it exports {exported:?}"
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn metric_names_are_found_in_promql() {
    assert_eq!(
        metric_names(
            "sum by (result) (increase(swab_runs_total{x=\"swab_no\"}[1h])) / my_swab_x + swab_docker_up"
        ),
        ["swab_runs_total", "swab_no", "swab_docker_up"]
    );
    // A misspelt name is refused.
    let wrong = std::panic::catch_unwind(|| {
        check_metric_names(
            "test",
            &["increase(swab_reclaimed_byte_total[7d])".to_owned()],
        )
    });
    assert!(wrong.is_err());
    assert_eq!(
        check_metric_names("test", &["swab_reclaimed_bytes_total".to_owned()]),
        1
    );
}

#[test]
fn grafana_dashboard_uses_only_exported_metrics() {
    let text = read("grafana-dashboard.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("grafana-dashboard.json");
    // Importable on any Grafana: the data source is an input, not one instance's UID.
    assert_eq!(doc["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert_eq!(doc["__inputs"][0]["pluginId"], "prometheus");
    assert!(text.contains("\"uid\": \"${DS_PROMETHEUS}\""));
    assert!(doc["title"].is_string() && doc["uid"].is_string());
    let panels = doc["panels"].as_array().expect("panels");
    let mut ids = std::collections::BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().expect("a panel title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("a panel id")),
            "{title}: id"
        );
        assert_eq!(
            panel["datasource"]["uid"], "${DS_PROMETHEUS}",
            "{title}: datasource"
        );
        for key in ["x", "y", "w", "h"] {
            assert!(panel["gridPos"][key].is_u64(), "{title}: gridPos.{key}");
        }
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no targets");
        for target in targets {
            let expr = target["expr"].as_str().expect("expr");
            assert!(
                !metric_names(expr).is_empty(),
                "{title}: `{expr}` reads no swab metric"
            );
        }
    }
    let mut exprs = Vec::new();
    promql_strings(&doc, None, &mut exprs);
    let checked = check_metric_names("grafana-dashboard.json", &exprs);
    assert!(checked > panels.len(), "{checked} names in {exprs:?}");
    // Every metric swab exports has a panel.
    let used: std::collections::BTreeSet<String> =
        exprs.iter().flat_map(|e| metric_names(e)).collect();
    let exported = crate::metrics::exposition::exported_names();
    let unused: Vec<_> = exported.difference(&used).collect();
    assert!(unused.is_empty(), "no panel shows {unused:?}");
}

#[test]
fn prometheus_alerts_are_rules_on_exported_metrics() {
    let doc = yaml("prometheus-alerts.yaml");
    let groups = doc["groups"].as_array().expect("groups");
    assert!(!groups.is_empty());
    let mut alerts = Vec::new();
    let mut exprs = Vec::new();
    for group in groups {
        assert!(group["name"].is_string(), "a group without a name");
        for rule in group["rules"].as_array().expect("groups[].rules") {
            let alert = rule["alert"].as_str().expect("rules[].alert").to_owned();
            let expr = rule["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{alert}: expr"));
            assert!(
                !metric_names(expr).is_empty(),
                "{alert}: reads no swab metric"
            );
            let pending = rule["for"]
                .as_str()
                .unwrap_or_else(|| panic!("{alert}: for"));
            humantime::parse_duration(pending).unwrap_or_else(|e| panic!("{alert}: for: {e}"));
            assert!(
                matches!(
                    rule["labels"]["severity"].as_str(),
                    Some("critical" | "warning" | "info")
                ),
                "{alert}: labels.severity"
            );
            for key in ["summary", "description"] {
                assert!(
                    rule["annotations"][key]
                        .as_str()
                        .is_some_and(|s| !s.is_empty()),
                    "{alert}: annotations.{key}"
                );
            }
            exprs.push(expr.to_owned());
            alerts.push(alert);
        }
    }
    check_metric_names("prometheus-alerts.yaml", &exprs);
    // What the alerts are for (issue: runs failing, rollbacks, docker down, nothing reclaimed).
    for name in [
        "SwabRunsFailing",
        "SwabUpdateRolledBack",
        "SwabDockerDown",
        "SwabNothingReclaimed",
        "SwabRuleNotRun",
    ] {
        assert!(
            alerts.iter().any(|a| a == name),
            "{name} missing: {alerts:?}"
        );
    }
}

/// The Compose and Swarm files run the image as its Dockerfile expects: the state on the
/// image's volume, the rules where its default command reads them, and (with the raw socket)
/// the socket where swab looks by default.
#[test]
fn compose_files_use_the_images_paths() {
    let dockerfile = read("Dockerfile");
    let volume = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("VOLUME "))
        .expect("VOLUME")
        .trim();
    let state = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ENV SWAB_STATE="))
        .expect("ENV SWAB_STATE=");
    assert!(
        Path::new(state).starts_with(volume),
        "{state} not on {volume}"
    );
    assert!(dockerfile.contains("ENTRYPOINT [\"/swab\"]"));
    let cmd: Vec<String> = serde_json::from_str(
        dockerfile
            .lines()
            .find_map(|l| l.strip_prefix("CMD "))
            .expect("CMD"),
    )
    .unwrap();
    let rules = &cmd[cmd.iter().position(|a| a == "--rules").expect("--rules") + 1];
    for name in [
        "compose.yaml",
        "compose.socket-proxy.yaml",
        "swarm-stack.yaml",
    ] {
        let doc = yaml(name);
        let swab = &doc["services"]["swab"];
        let targets: Vec<String> = swab["volumes"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: volumes"))
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s.split(':').nth(1).unwrap_or_default().to_owned(),
                other => other["target"].as_str().unwrap_or_default().to_owned(),
            })
            .chain(
                swab["configs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| c["target"].as_str().unwrap_or_default().to_owned()),
            )
            .collect();
        assert!(targets.iter().any(|t| t == volume), "{name}: {targets:?}");
        assert!(targets.iter().any(|t| t == rules), "{name}: {targets:?}");
        if swab["environment"]["DOCKER_HOST"].is_null() {
            assert!(
                targets.iter().any(|t| t == "/var/run/docker.sock"),
                "{name}: {targets:?}"
            );
        }
        let image = swab["image"].as_str().unwrap_or_default();
        assert!(image.contains("swab:latest"), "{name}: image {image}");
    }
}
