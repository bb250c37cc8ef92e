//! The optional Prometheus endpoint of `swab daemon` (`--metrics-addr`, off by default).

use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use swab_engine::report::{ActionKind, Report, Status};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
    status: String,
}

/// The daemon's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    runs: Family<RunLabels, Counter>,
    actions: Family<ActionLabels, Counter>,
    bytes: Counter,
    updates: Family<RunLabels, Counter>,
    last_run: Family<RuleLabels, Gauge>,
    last_duration_ms: Family<RuleLabels, Gauge>,
    docker_up: Gauge,
    rate_limit_remaining: Family<RegistryLabels, Gauge>,
    rate_limit_limit: Family<RegistryLabels, Gauge>,
    retries: Family<PeerLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegistryLabels {
    registry: String,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("swab");
        let m = Metrics {
            registry: Arc::new(Mutex::new(Registry::default())),
            runs: Family::default(),
            actions: Family::default(),
            bytes: Counter::default(),
            updates: Family::default(),
            last_run: Family::default(),
            last_duration_ms: Family::default(),
            docker_up: Gauge::default(),
            rate_limit_remaining: Family::default(),
            rate_limit_limit: Family::default(),
            retries: Family::default(),
        };
        registry.register(
            "runs",
            "Runs, by result (ok, failed, unreachable)",
            m.runs.clone(),
        );
        registry.register("actions", "Actions, by kind and status", m.actions.clone());
        registry.register(
            "reclaimed_bytes",
            "Bytes reclaimed (estimated for images)",
            m.bytes.clone(),
        );
        registry.register(
            "updates",
            "Containers updated, by result (applied, rolled_back, failed)",
            m.updates.clone(),
        );
        registry.register(
            "rule_last_run_timestamp_seconds",
            "Unix time of each rule's last run",
            m.last_run.clone(),
        );
        registry.register(
            "rule_last_run_duration_milliseconds",
            "Duration of each rule's last run",
            m.last_duration_ms.clone(),
        );
        registry.register(
            "docker_up",
            "1 when the Docker daemon answered last time, else 0",
            m.docker_up.clone(),
        );
        registry.register(
            "registry_ratelimit_remaining",
            "Pulls left in the registry's rate-limit window, as it last reported (Docker Hub)",
            m.rate_limit_remaining.clone(),
        );
        registry.register(
            "registry_ratelimit_limit",
            "Pulls the registry allows per rate-limit window, as it last reported",
            m.rate_limit_limit.clone(),
        );
        registry.register(
            "retries",
            "Requests tried again after a 5xx, a broken connection or a timeout, by peer (docker, registry)",
            m.retries.clone(),
        );
        *m.registry.lock().expect("fresh mutex") = registry;
        m
    }

    /// Records a run of `rules` that produced `report`.
    pub fn record_run(&self, rules: &[String], report: &Report, duration_ms: i64, unix_now: i64) {
        let result = if report.has_failures() {
            "failed"
        } else {
            "ok"
        };
        self.runs
            .get_or_create(&RunLabels {
                result: result.to_owned(),
            })
            .inc();
        for a in &report.actions {
            let status = a.status.as_str();
            self.actions
                .get_or_create(&ActionLabels {
                    action: a.action.as_str().to_owned(),
                    status: status.to_owned(),
                })
                .inc();
            let result = match a.status {
                Status::Done => Some("applied"),
                Status::RolledBack => Some("rolled_back"),
                Status::Failed => Some("failed"),
                Status::Planned | Status::Skipped => None,
            };
            if a.action == ActionKind::RecreateContainer
                && let Some(result) = result
            {
                self.updates
                    .get_or_create(&RunLabels {
                        result: result.to_owned(),
                    })
                    .inc();
            }
        }
        self.bytes.inc_by(report.summary.bytes_reclaimed);
        for (peer, n) in [
            ("docker", report.retries.docker),
            ("registry", report.retries.registry),
        ] {
            self.retries
                .get_or_create(&PeerLabels {
                    peer: peer.to_owned(),
                })
                .inc_by(n);
        }
        for (registry, limit) in &report.rate_limits {
            let labels = RegistryLabels {
                registry: registry.clone(),
            };
            let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            self.rate_limit_remaining
                .get_or_create(&labels)
                .set(gauge(limit.remaining));
            self.rate_limit_limit
                .get_or_create(&labels)
                .set(gauge(limit.limit));
        }
        for rule in rules {
            let labels = RuleLabels { rule: rule.clone() };
            self.last_run.get_or_create(&labels).set(unix_now);
            self.last_duration_ms
                .get_or_create(&labels)
                .set(duration_ms);
        }
        self.docker_up.set(1);
    }

    /// Records a run that could not reach the daemon.
    pub fn record_unreachable(&self) {
        self.runs
            .get_or_create(&RunLabels {
                result: "unreachable".to_owned(),
            })
            .inc();
        self.docker_up.set(0);
    }

    /// Sets daemon reachability from the event stream.
    pub fn set_docker_up(&self, up: bool) {
        self.docker_up.set(i64::from(up));
    }

    /// Whether Docker answered last time (the `swab_docker_up` gauge).
    pub fn docker_up(&self) -> bool {
        self.docker_up.get() == 1
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use swab_engine::report::{RegistryLimit, Report, Summary};

    use super::Metrics;

    #[test]
    fn a_registrys_rate_limit_and_the_retries_are_exported() {
        let metrics = Metrics::new();
        let mut rate_limits = BTreeMap::new();
        rate_limits.insert(
            "docker.io".to_owned(),
            RegistryLimit {
                limit: 100,
                remaining: 76,
            },
        );
        let report = Report {
            swab_version: "test",
            dry_run: false,
            host: "unix:///x".to_owned(),
            started_at: String::new(),
            finished_at: String::new(),
            actions: Vec::new(),
            kept: Vec::new(),
            notes: Vec::new(),
            summary: Summary::default(),
            rate_limits,
            retries: swab_engine::report::Retries {
                docker: 2,
                registry: 1,
            },
        };
        metrics.record_run(&[], &report, 1, 1);
        metrics.record_run(&[], &report, 1, 1);
        let text = metrics.encode();
        assert!(
            text.contains("swab_retries_total{peer=\"docker\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("swab_retries_total{peer=\"registry\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("swab_registry_ratelimit_remaining{registry=\"docker.io\"} 76"),
            "{text}"
        );
        assert!(
            text.contains("swab_registry_ratelimit_limit{registry=\"docker.io\"} 100"),
            "{text}"
        );
    }
}

/// The exposition of a fresh [`Metrics`], for tests elsewhere in the crate that check names
/// against what swab really exports (examples/grafana-dashboard.json and the alert rules).
#[cfg(test)]
pub(crate) mod exposition {
    use swab_engine::report::{
        ActionKind, ActionReport, RegistryLimit, Report, Retries, Status, Summary,
    };

    /// Every sample name a scrape can show: gauges under their own name, counters with
    /// `_total`, read from the `# TYPE` lines of the text encoding. A labelled family is
    /// encoded only once it has a sample, so this records a run that gives each one a sample
    /// (an update applied, a registry's rate limit, a retry, a rule) and an unreachable one.
    pub(crate) fn exported_names() -> std::collections::BTreeSet<String> {
        let metrics = super::Metrics::new();
        let report = Report {
            swab_version: "test",
            dry_run: false,
            host: "unix:///x".to_owned(),
            started_at: String::new(),
            finished_at: String::new(),
            actions: vec![ActionReport {
                rule: "r".to_owned(),
                action: ActionKind::RecreateContainer,
                id: "c".to_owned(),
                name: "c".to_owned(),
                reason: String::new(),
                status: Status::Done,
                error: None,
                bytes: None,
            }],
            kept: Vec::new(),
            notes: Vec::new(),
            summary: Summary::default(),
            rate_limits: [(
                "docker.io".to_owned(),
                RegistryLimit {
                    limit: 100,
                    remaining: 1,
                },
            )]
            .into(),
            retries: Retries {
                docker: 1,
                registry: 1,
            },
        };
        metrics.record_run(&["r".to_owned()], &report, 1, 1);
        metrics.record_unreachable();
        let text = metrics.encode();
        let names: std::collections::BTreeSet<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| {
                let mut words = l.split_whitespace();
                let (name, kind) = (words.next().unwrap(), words.next().unwrap());
                match kind {
                    "counter" => format!("{name}_total"),
                    "gauge" => name.to_owned(),
                    other => panic!("a {other} metric: teach exported_names its sample names"),
                }
            })
            .collect();
        assert!(names.len() >= 10, "{text}");
        names
    }
}
