//! `swab doctor`: which daemon, why, and what it looks like.
//!
//! The report is built first (one struct, serialisable) and rendered second, so the text
//! table and `--format json` can never disagree.

use std::fmt::Write as _;

use serde::Serialize;
use swab_docker::models::{DiskUsage, ImageStore};
use swab_docker::{ApiVersion, Docker, Error};

use crate::args::{DoctorArgs, GlobalArgs, OutputFormat};
use crate::exit;
use crate::fleet::{HostError, Section};
use crate::output::{bytes, print};

#[derive(Debug, Serialize)]
struct Report {
    swab_version: &'static str,
    endpoint: String,
    endpoint_source: String,
    reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    daemon: Option<Daemon>,
    /// What the operator should know even when the daemon works (an API outside swab's range).
    warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Daemon {
    server_version: String,
    api_version: Versions,
    os: String,
    os_type: String,
    arch: String,
    kernel: String,
    storage_driver: String,
    image_store: ImageStore,
    docker_root_dir: String,
    containers: Containers,
    images: u64,
    reclaimable: Option<Reclaimable>,
}

#[derive(Debug, Serialize)]
struct Versions {
    server: String,
    server_min: String,
    negotiated: String,
    client_min: String,
    client_max: String,
}

#[derive(Debug, Serialize)]
struct Containers {
    total: u64,
    running: u64,
    paused: u64,
    stopped: u64,
}

/// Bytes that removing unused objects would free, from `/system/df`.
#[derive(Debug, Serialize)]
struct Reclaimable {
    images: i64,
    images_total: i64,
    containers: i64,
    volumes: i64,
    build_cache: i64,
}

impl From<&DiskUsage> for Reclaimable {
    fn from(df: &DiskUsage) -> Self {
        Reclaimable {
            images: df.images.reclaimable,
            images_total: df.images.total_size,
            containers: df.containers.reclaimable,
            volumes: df.volumes.reclaimable,
            build_cache: df.build_cache.reclaimable,
        }
    }
}

pub async fn run(global: &GlobalArgs, args: &DoctorArgs) -> anyhow::Result<u8> {
    if let Some(path) = &args.rules {
        let rules = crate::rules_cmd::load(Some(path))?;
        crate::fleet::refuse_host_flag(global, &rules)?;
        if !rules.hosts.is_empty() {
            return run_fleet(global, args, &rules).await;
        }
    }
    let resolved = crate::connect::resolve(global)?;
    let docker = crate::connect::client(global, &resolved)?;
    let (report, code) = examine(
        &docker,
        resolved.endpoint.to_string(),
        resolved.source.to_string(),
    )
    .await;
    let text = match args.format {
        OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&report)?),
        OutputFormat::Text => render(&report),
    };
    print(&text)?;
    for warning in &report.warnings {
        eprintln!("swab: warning: {warning}");
    }
    if let Some(error) = &report.error {
        eprintln!("swab: error: {error}");
    }
    Ok(code)
}

/// `swab doctor --rules FILE` with `hosts:`: every host examined, several at once.
async fn run_fleet(
    global: &GlobalArgs,
    args: &DoctorArgs,
    rules: &swab_rules::RuleSet,
) -> anyhow::Result<u8> {
    let all: Vec<&swab_rules::Rule> = rules.rules.iter().collect();
    let targets = crate::fleet::targets(rules, &all, &global.on)?;
    let env = swab_docker::Environment::from_process();
    let sections = crate::fleet::each(&targets, usize::from(global.host_concurrency), |target| {
        let env = &env;
        async move {
            let host = target.host;
            let docker = crate::fleet::endpoint(host, env)
                .map_err(anyhow::Error::new)
                .and_then(|endpoint| crate::connect::client_for(global, &endpoint));
            let docker = match docker {
                Ok(docker) => docker,
                Err(err) => return Section::new(host, None, Err(HostError::of(&err))),
            };
            let source = format!("host {} in {}", host.name, rules.source_name);
            let (report, code) = examine(&docker, docker.endpoint().to_owned(), source).await;
            // The doctor report goes under its own key: its `endpoint` and `error` would
            // clash with the section's.
            let error = report.error.clone().map(|message| HostError {
                kind: if code == exit::UNREACHABLE {
                    "docker_unreachable"
                } else {
                    "failed"
                },
                message,
                exit_code: code,
            });
            let mut section = Section::new(host, None, Ok((Examined { doctor: report }, code)));
            section.error = error;
            section
        }
    })
    .await;
    let code = crate::fleet::worst(sections.iter().map(|s| s.exit_code));
    let text = match args.format {
        OutputFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "swab_version": env!("CARGO_PKG_VERSION"),
                "hosts": sections,
                "exit_code": code,
            }))?
        ),
        OutputFormat::Text => {
            crate::fleet::render_text(&targets, &sections, |_, report| render(&report.doctor))
        }
    };
    print(&text)?;
    Ok(code)
}

/// A host's doctor report inside its section of `swab doctor --rules` (with `hosts:`).
#[derive(Debug, Serialize)]
struct Examined {
    doctor: Report,
}

/// What one daemon looks like, and the exit code that goes with it.
async fn examine(docker: &Docker, endpoint: String, source: String) -> (Report, u8) {
    let mut report = Report {
        swab_version: env!("CARGO_PKG_VERSION"),
        endpoint,
        endpoint_source: source,
        reachable: false,
        error: None,
        daemon: None,
        warnings: Vec::new(),
    };
    let code = match inspect(docker).await {
        Ok(daemon) => {
            report.reachable = true;
            report.warnings.extend(
                daemon
                    .api_version
                    .server
                    .parse()
                    .ok()
                    .and_then(ApiVersion::support_warning),
            );
            report.daemon = Some(daemon);
            exit::SUCCESS
        }
        Err(err) => {
            if let Error::UnsupportedVersion { server, .. } = &err {
                report.warnings.extend(ApiVersion::support_warning(*server));
            }
            report.reachable = !err.is_unreachable();
            report.error = Some(err.to_string());
            if err.is_unreachable() {
                exit::UNREACHABLE
            } else {
                exit::FAILURE
            }
        }
    };
    (report, code)
}

async fn inspect(docker: &Docker) -> Result<Daemon, Error> {
    let ping = docker.ping().await?;
    let negotiated = docker.api_version().await?;
    let (version, info) = tokio::try_join!(docker.version(), docker.info())?;
    // Disk usage can take a while on big hosts and is informational: a failure here is
    // reported as missing numbers, not as an unhealthy daemon.
    let reclaimable = match docker.disk_usage(false).await {
        Ok(df) => Some(Reclaimable::from(&df)),
        Err(err) => {
            tracing::warn!(error = %err, "cannot read /system/df");
            None
        }
    };
    let image_store = info.image_store();
    Ok(Daemon {
        image_store,
        server_version: version.version,
        api_version: Versions {
            server: ping.api_version.unwrap_or(version.api_version),
            server_min: version.min_api_version,
            negotiated: negotiated.to_string(),
            client_min: ApiVersion::MIN.to_string(),
            client_max: ApiVersion::MAX.to_string(),
        },
        os: info.operating_system,
        os_type: version.os,
        arch: version.arch,
        kernel: info.kernel_version,
        storage_driver: info.driver,
        docker_root_dir: info.docker_root_dir,
        containers: Containers {
            total: info.containers,
            running: info.containers_running,
            paused: info.containers_paused,
            stopped: info.containers_stopped,
        },
        images: info.images,
        reclaimable,
    })
}

fn render(report: &Report) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("endpoint", report.endpoint.clone()),
        ("chosen by", report.endpoint_source.clone()),
        (
            "reachable",
            if report.reachable { "yes" } else { "no" }.to_owned(),
        ),
    ];
    if let Some(d) = &report.daemon {
        let v = &d.api_version;
        rows.extend([
            ("daemon", format!("Docker Engine {}", d.server_version)),
            (
                "API version",
                format!(
                    "{} negotiated (daemon {}, min {}; swab {}-{})",
                    v.negotiated, v.server, v.server_min, v.client_min, v.client_max
                ),
            ),
            (
                "OS/arch",
                format!("{}/{} ({}, kernel {})", d.os_type, d.arch, d.os, d.kernel),
            ),
            ("storage driver", d.storage_driver.clone()),
            (
                "image store",
                match d.image_store {
                    ImageStore::Classic => "classic",
                    ImageStore::Containerd => "containerd",
                }
                .to_owned(),
            ),
            ("root dir", d.docker_root_dir.clone()),
            (
                "containers",
                format!(
                    "{} ({} running, {} stopped, {} paused)",
                    d.containers.total,
                    d.containers.running,
                    d.containers.stopped,
                    d.containers.paused
                ),
            ),
            ("images", d.images.to_string()),
        ]);
        rows.push((
            "reclaimable",
            d.reclaimable.as_ref().map_or_else(
                || "unknown (/system/df failed; see the log)".to_owned(),
                |r| {
                    format!(
                        "images {} of {}, containers {}, volumes {}, build cache {}",
                        bytes(r.images),
                        bytes(r.images_total),
                        bytes(r.containers),
                        bytes(r.volumes),
                        bytes(r.build_cache)
                    )
                },
            ),
        ));
    }
    rows.extend(report.warnings.iter().map(|w| ("warning", w.clone())));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in rows {
        let _ = writeln!(out, "{key:<width$}  {value}");
    }
    out
}
