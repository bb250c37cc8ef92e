//! Many hosts from one rule file (`hosts:`): which hosts a command acts on, their
//! endpoints, their state files, the bounded concurrency, and the report that has a
//! section per host. Each host's own work is the single-host path unchanged.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt as _, stream};
use serde::Serialize;
use swab_docker::endpoint::{self, EndpointError, Environment, TlsFiles};
use swab_docker::{Docker, Endpoint};
use swab_rules::{Host, HostEndpoint, HostTls, Rule, RuleSet};

use crate::args::GlobalArgs;
use crate::exit::{self, UsageError};

/// A host a command acts on, with the rules that apply there.
#[derive(Debug)]
pub struct Target<'a> {
    /// The `hosts:` entry.
    pub host: &'a Host,
    /// The selected rules that apply on it, in file order.
    pub rules: Vec<&'a Rule>,
}

/// The hosts picked with `--on` (all without it), each with the rules of `selected` that
/// apply on it. A host none of them applies on is left out; a selection that leaves no
/// host at all is a usage error.
pub fn targets<'a>(
    rules: &'a RuleSet,
    selected: &[&'a Rule],
    on: &[String],
) -> anyhow::Result<Vec<Target<'a>>> {
    let picked: Vec<&Host> = rules
        .hosts
        .iter()
        .filter(|h| on.is_empty() || on.iter().any(|s| h.matches(s)))
        .collect();
    if picked.is_empty() {
        let names: Vec<&str> = rules.hosts.iter().map(|h| h.name.as_str()).collect();
        return Err(UsageError(format!(
            "--on {} picks none of the hosts in {} ({})",
            on.join(" --on "),
            rules.source_name,
            names.join(", ")
        ))
        .into());
    }
    let targets: Vec<Target> = picked
        .into_iter()
        .map(|host| Target {
            host,
            rules: rules
                .rules_for(host)
                .into_iter()
                .filter(|r| selected.iter().any(|s| s.name == r.name))
                .collect(),
        })
        .filter(|t| !t.rules.is_empty())
        .collect();
    if targets.is_empty() {
        return Err(UsageError(
            "none of the picked hosts has any of the selected rules (see each host's `rules:`)"
                .to_owned(),
        )
        .into());
    }
    Ok(targets)
}

/// A rule file with `hosts:` names its daemons itself: `-H` would be ambiguous.
pub fn refuse_host_flag(global: &GlobalArgs, rules: &RuleSet) -> anyhow::Result<()> {
    if rules.hosts.is_empty() {
        if !global.on.is_empty() {
            return Err(UsageError(format!(
                "--on picks hosts of a rule file's `hosts:` section, and {} has none",
                rules.source_name
            ))
            .into());
        }
        return Ok(());
    }
    if let Some(flag) = &global.host {
        return Err(UsageError(format!(
            "{} names its hosts (`hosts:`), so -H {flag} is ambiguous: pick hosts with --on NAME",
            rules.source_name
        ))
        .into());
    }
    Ok(())
}

/// The endpoint of a `hosts:` entry.
pub fn endpoint(host: &Host, env: &Environment) -> Result<Endpoint, EndpointError> {
    match &host.endpoint {
        HostEndpoint::Url { url, tls } => endpoint::parse_host(
            url,
            &format!("host {}", host.name),
            tls.as_ref().map(tls_files),
        ),
        HostEndpoint::Context(name) => endpoint::named_context(env, name),
    }
}

fn tls_files(tls: &HostTls) -> TlsFiles {
    TlsFiles {
        ca: tls.ca.clone(),
        client: tls.cert.clone().zip(tls.key.clone()),
        verify: tls.verify,
    }
}

/// A host's state file: `hosts/<daemon ID>.json` next to the state file, keyed by the
/// daemon's own ID so that a host renamed or reached another way keeps its memory.
pub fn state_path(state: &Path, daemon_id: &str) -> PathBuf {
    let id: String = daemon_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    state
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("hosts")
        .join(format!("{id}.json"))
}

/// Runs `work` for every item, at most `concurrency` at once; the results come back in
/// the order of the items.
pub async fn each<'a, I, T, F, Fut>(items: &'a [I], concurrency: usize, work: F) -> Vec<T>
where
    F: Fn(&'a I) -> Fut,
    Fut: Future<Output = T>,
{
    let mut done: Vec<(usize, T)> = stream::iter(items.iter().enumerate())
        .map(|(i, item)| {
            let fut = work(item);
            async move { (i, fut.await) }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, t)| t).collect()
}

/// Connects to every target, several at once, and pairs each with its connection or why
/// there is none. Two hosts whose daemons report the same ID are refused after the first:
/// either one daemon is listed twice (it would be acted on twice), or daemons were cloned
/// with the same ID, and their state (keyed by that ID) would mix, update journal
/// included.
pub async fn connect_all<'a>(
    global: &GlobalArgs,
    targets: &'a [Target<'a>],
) -> Vec<(&'a Target<'a>, Result<Connected, HostError>)> {
    let connections = each(
        targets,
        usize::from(global.host_concurrency),
        |target| async {
            connect(global, target.host)
                .await
                .map_err(|err| HostError::of(&err))
        },
    )
    .await;
    let mut first: BTreeMap<String, &str> = BTreeMap::new();
    targets
        .iter()
        .zip(connections)
        .map(|(target, connection)| {
            let connection = connection.and_then(|c| match first.get(&c.daemon_id) {
                Some(other) => Err(HostError {
                    kind: "failed",
                    message: format!(
                        "host {} is the same daemon as host {other} (ID {}): either it is listed twice, or the daemons were cloned with one ID (give each its own: remove /var/lib/docker/engine-id, or /etc/docker/key.json before Docker 23, and restart it); left out",
                        target.host.name, c.daemon_id
                    ),
                    exit_code: exit::FAILURE,
                }),
                None => {
                    first.insert(c.daemon_id.clone(), &target.host.name);
                    Ok(c)
                }
            });
            (target, connection)
        })
        .collect()
}

/// A connected host: its client, endpoint and daemon ID.
#[derive(Debug)]
pub struct Connected {
    /// The client.
    pub docker: Docker,
    /// Where it points.
    pub endpoint: Endpoint,
    /// The daemon's ID (`/info`).
    pub daemon_id: String,
}

/// Connects to a host and reads its ID (which also shows that it answers).
pub async fn connect(global: &GlobalArgs, host: &Host) -> anyhow::Result<Connected> {
    let env = Environment::from_process();
    let endpoint = endpoint(host, &env)?;
    let docker = crate::connect::client_for(global, &endpoint)?;
    let info = docker.info().await.map_err(|e| {
        anyhow::Error::new(e).context(format!("cannot reach host {} at {endpoint}", host.name))
    })?;
    // The state file is keyed by it: a daemon without one cannot have its own.
    if info.id.trim().is_empty() {
        anyhow::bail!(
            "host {} at {endpoint} reports no daemon ID (/info ID), which its state is kept by",
            host.name
        );
    }
    Ok(Connected {
        docker,
        endpoint,
        daemon_id: info.id,
    })
}

/// Why a host's section has no result.
#[derive(Debug, Clone, Serialize)]
pub struct HostError {
    /// `docker_unreachable`, `docker_timeout`, `usage` or `failed`.
    pub kind: &'static str,
    /// The whole message, with its causes.
    pub message: String,
    /// The exit code this host alone would have given.
    #[serde(skip)]
    pub exit_code: u8,
}

impl HostError {
    /// The section error for `err`.
    pub fn of(err: &anyhow::Error) -> HostError {
        HostError {
            kind: exit::kind_of(err),
            message: format!("{err:#}"),
            exit_code: exit::code_for(err),
        }
    }
}

/// One host's section of a report: who it is, then its own report (flattened) or error.
#[derive(Debug, Serialize)]
pub struct Section<R: Serialize> {
    /// The host's name in the rule file.
    pub name: String,
    /// Its endpoint.
    pub endpoint: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The daemon's ID, once reached.
    pub daemon_id: Option<String>,
    /// The exit code this host alone would have given.
    pub exit_code: u8,
    /// Why there is no report.
    pub error: Option<HostError>,
    /// The host's report.
    #[serde(flatten)]
    pub report: Option<R>,
}

impl<R: Serialize> Section<R> {
    /// A section for `host`, from its result.
    pub fn new(
        host: &Host,
        daemon_id: Option<String>,
        result: Result<(R, u8), HostError>,
    ) -> Section<R> {
        let (report, error, exit_code) = match result {
            Ok((report, code)) => (Some(report), None, code),
            Err(error) => (None, Some(error.clone()), error.exit_code),
        };
        Section {
            name: host.name.clone(),
            endpoint: host.endpoint.to_string(),
            labels: host.labels.clone(),
            daemon_id,
            exit_code,
            error,
            report,
        }
    }
}

/// The exit code of many hosts: the worst of theirs. An unreachable host (3) outranks a
/// usage error (2), which outranks a failure (1).
pub fn worst(codes: impl IntoIterator<Item = u8>) -> u8 {
    let rank = |code: u8| match code {
        exit::UNREACHABLE => 3,
        exit::USAGE => 2,
        exit::SUCCESS => 0,
        _ => 1,
    };
    codes
        .into_iter()
        .max_by_key(|c| rank(*c))
        .unwrap_or(exit::SUCCESS)
}

/// A text report over hosts: per host its heading, then its own report rendered by
/// `render`, or its error.
pub fn render_text<R: Serialize>(
    targets: &[Target<'_>],
    sections: &[Section<R>],
    render: impl Fn(&Target<'_>, &R) -> String,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (target, section) in targets.iter().zip(sections) {
        let _ = writeln!(out, "{}", heading(target.host));
        match (&section.report, &section.error) {
            (Some(report), _) => out.push_str(&render(target, report)),
            (None, Some(error)) => {
                let _ = writeln!(out, "error: {}", error.message);
            }
            (None, None) => {}
        }
        out.push('\n');
    }
    out
}

/// The header of a host's section in text reports.
pub fn heading(host: &Host) -> String {
    let labels: Vec<String> = host
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if labels.is_empty() {
        format!("=== host {} ({})", host.name, host.endpoint)
    } else {
        format!(
            "=== host {} ({}; {})",
            host.name,
            host.endpoint,
            labels.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_code_wins_and_unreachable_is_worst() {
        assert_eq!(worst([0, 0]), 0);
        assert_eq!(worst([0, 1, 0]), 1);
        assert_eq!(worst([1, 3, 2]), 3);
        assert_eq!(worst([2, 1]), 2);
        assert_eq!(worst([]), 0);
    }

    #[test]
    fn a_hosts_state_is_keyed_by_its_daemon_id() {
        assert_eq!(
            state_path(Path::new("/var/lib/swab/state.json"), "a50c2265-cbca-4631"),
            Path::new("/var/lib/swab/hosts/a50c2265-cbca-4631.json")
        );
        // Docker 20.10's IDs have colons.
        assert_eq!(
            state_path(Path::new("state.json"), "7TRN:IPZB/.."),
            Path::new("./hosts/7TRN-IPZB---.json")
        );
    }

    fn rules(yaml: &str) -> RuleSet {
        swab_rules::load_str("r.yaml", yaml).unwrap()
    }

    #[test]
    fn targets_follow_on_and_each_hosts_rules() {
        let set = rules(
            "version: 1\nrules:\n  - {name: a, action: prune-containers}\n  - {name: b, action: prune-images}\nhosts:\n  - {name: one, endpoint: 'unix:///x.sock', labels: {role: ci}}\n  - {name: two, endpoint: 'tcp://h:2376', rules: [b]}\n",
        );
        let all: Vec<&Rule> = set.rules.iter().collect();
        let picked = targets(&set, &all, &[]).unwrap();
        let names: Vec<(&str, usize)> = picked
            .iter()
            .map(|t| (t.host.name.as_str(), t.rules.len()))
            .collect();
        assert_eq!(names, [("one", 2), ("two", 1)]);
        let by_label = targets(&set, &all, &["role=ci".to_owned()]).unwrap();
        assert_eq!(by_label.len(), 1);
        assert_eq!(by_label[0].host.name, "one");
        // Rule a only: host two has none of it and is left out.
        let only_a = targets(&set, &all[..1], &[]).unwrap();
        assert_eq!(only_a.len(), 1);
        let err = targets(&set, &all, &["nope".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("picks none of the hosts"), "{err}");
    }
}
