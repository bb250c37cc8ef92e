//! `swab daemon`: fires each scheduled rule at its time, until SIGTERM/SIGINT.
//!
//! The loop itself is [`swab_engine::daemon::run`] (when to run, back-off, reloads,
//! shutdown); this module wires it to the outside: signals, the rule file (SIGHUP and
//! `--watch`), and a [`Runner`] that runs a batch under the host lock, logs it, updates the
//! metrics and sends notifications. A signal that arrives during a run ends it early: actions
//! in flight finish, actions not begun are skipped, and an update in flight is rolled back
//! unless its containers already passed the health gate.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use swab_engine::cancel::Cancel;

use anyhow::Context as _;
use swab_docker::Docker;
use swab_engine::daemon::{self as schedule, Reload, RunOutcome, Runner, SystemClock};
use swab_engine::daemon::{events, notify};
use swab_engine::lock::{HostLock, default_lock_path};
use swab_engine::plan::NoteScope;
use swab_engine::run::{Observer, RunOptions, run_rules};
use swab_engine::state::{self, State};
use swab_rules::{Rule, RuleSet};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use crate::args::{DaemonArgs, GlobalArgs};
use crate::metrics::Metrics;

/// Everything a run needs that does not change between runs.
struct Daemon {
    docker: Docker,
    state_path: PathBuf,
    lock_path: PathBuf,
    options: RunOptions,
    wait_lock: Duration,
    metrics: Metrics,
    /// `None` when HTTPS cannot be set up: the daemon runs, notifications are not sent.
    http: Option<reqwest::Client>,
    memory: Arc<Mutex<State>>,
    /// Turns true on SIGTERM/SIGINT.
    shutdown: watch::Receiver<bool>,
}

pub async fn run(global: &GlobalArgs, args: &DaemonArgs) -> anyhow::Result<u8> {
    let rules = crate::rules_cmd::load(args.rules.as_deref())?;
    let scheduled = rules.rules.iter().filter(|r| r.schedule.is_some()).count();
    if args.check_config {
        return check_config(&rules, scheduled);
    }
    let resolved = crate::connect::resolve(global)?;
    let docker = crate::connect::client(global, &resolved)?;
    let state_path = args.state.clone().unwrap_or_else(state::default_path);
    let metrics = Metrics::new();
    if let Some(addr) = &args.metrics_addr {
        start_metrics(&metrics, addr).await?;
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let cancel = Cancel::new();
    let signals = stop_on_signals(shutdown_tx.clone(), cancel.clone())?;
    let (up_tx, up_rx) = watch::channel(false);
    let memory = Arc::new(Mutex::new(State::new()));
    let tracker = tokio::spawn(events::track(
        docker.clone(),
        memory.clone(),
        shutdown_rx.clone(),
        up_tx,
        events::Liveness::default(),
    ));
    let docker_up = tokio::spawn(follow_docker_up(up_rx, metrics.clone()));
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let reloads = watch_rules(args.rules.clone(), args.watch, reload_tx)?;

    let mut daemon = Daemon {
        docker,
        lock_path: default_lock_path(&state_path),
        state_path,
        options: RunOptions {
            dry_run: false,
            parallel: usize::from(args.parallel),
            cancel,
        },
        wait_lock: args.wait_lock.into(),
        metrics,
        http: notify::client()
            .inspect_err(|why| tracing::warn!("{why}; notifications are not sent"))
            .ok(),
        memory,
        shutdown: shutdown_rx.clone(),
    };
    tracing::info!(
        endpoint = %resolved.endpoint,
        rules = rules.rules.len(),
        scheduled,
        "swab daemon started"
    );
    let config = schedule::Config {
        seed: host_seed(),
        run_on_start: args.run_on_start,
    };
    // Boxed: the loop holds a whole run's future (large) across its awaits.
    Box::pin(schedule::run(
        config,
        rules,
        &mut daemon,
        &SystemClock,
        reload_rx,
        shutdown_rx,
    ))
    .await;

    let _ = shutdown_tx.send(true);
    signals.abort();
    reloads.abort();
    docker_up.abort();
    let _ = tokio::time::timeout(Duration::from_secs(2), tracker).await;
    // Save the uses the event stream saw, but never hold up a shutdown for the lock: if
    // another swab holds it, these few records are lost, which only makes swab keep images
    // a little longer.
    match HostLock::acquire(&daemon.lock_path, Duration::ZERO).await {
        Ok(lock) => daemon.flush_memory(&lock),
        Err(err) => tracing::info!(error = %err, "event-stream records not saved"),
    }
    tracing::info!("swab daemon stopped");
    Ok(crate::exit::SUCCESS)
}

impl Runner for Daemon {
    async fn run(&mut self, rules: &RuleSet, names: &[String]) -> RunOutcome {
        self.run_batch(rules, names).await
    }
}

impl Daemon {
    /// Runs the named rules together, under the host lock.
    async fn run_batch(&mut self, rules: &RuleSet, names: &[String]) -> RunOutcome {
        let selected: Vec<&Rule> = rules
            .rules
            .iter()
            .filter(|r| names.contains(&r.name))
            .collect();
        let mut shutdown = self.shutdown.clone();
        if *shutdown.borrow() {
            return RunOutcome::NotRun;
        }
        let lock = tokio::select! {
            lock = HostLock::acquire(&self.lock_path, self.wait_lock) => match lock {
                Ok(lock) => lock,
                Err(err) => {
                    tracing::warn!(rules = ?names, error = %err, "run skipped");
                    return RunOutcome::NotRun;
                }
            },
            _ = shutdown.changed() => {
                tracing::info!(rules = ?names, "stopping while waiting for the host lock; run skipped");
                return RunOutcome::NotRun;
            }
        };
        self.flush_memory(&lock);
        let started = Instant::now();
        let result = run_rules(
            &self.docker,
            rules,
            &selected,
            &self.state_path,
            self.options.clone(),
            Some(&lock),
            Observer {
                action: &crate::run_cmd::log_action,
                status: &|status: &str| tracing::debug!("{status}"),
            },
        )
        .await;
        drop(lock);
        match result {
            Ok(report) => {
                if report.actions.is_empty() {
                    tracing::debug!(rules = ?names, "{}", report.headline());
                } else {
                    tracing::info!(rules = ?names, "{}", report.headline());
                }
                for note in &report.notes {
                    match &note.scope {
                        NoteScope::Rule(rule) => tracing::warn!(%rule, "{}", note.message),
                        NoteScope::Protect => tracing::warn!("protect: {}", note.message),
                        NoteScope::Recovery => tracing::warn!("recovery: {}", note.message),
                    }
                }
                let elapsed = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
                let unix = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
                self.metrics.record_run(names, &report, elapsed, unix);
                if let Some(http) = &self.http {
                    notify::send_all(http, &rules.notify, &report).await;
                }
                RunOutcome::Ran
            }
            Err(err) if err.is_unreachable() => {
                self.metrics.record_unreachable();
                tracing::warn!(rules = ?names, error = %format!("{err:#}"), "Docker daemon unreachable; will retry");
                RunOutcome::Unreachable
            }
            Err(err) => {
                tracing::error!(rules = ?names, error = %format!("{err:#}"), "run failed");
                RunOutcome::NotRun
            }
        }
    }

    /// Writes the uses the event stream recorded into the state file (merging with it).
    fn flush_memory(&self, _lock: &HostLock) {
        let Ok(memory) = self.memory.lock() else {
            return;
        };
        if memory.images.is_empty() {
            return;
        }
        if let Err(err) = memory.merge_into_file(&self.state_path, false) {
            tracing::warn!(error = %err, "cannot save swab's state");
        }
    }
}

async fn start_metrics(metrics: &Metrics, addr: &str) -> anyhow::Result<()> {
    let addr = metrics_addr(addr)?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the metrics endpoint is reachable from other hosts");
    }
    let bound = metrics
        .clone()
        .serve(addr)
        .await
        .with_context(|| format!("cannot serve metrics on {addr}"))?;
    tracing::info!("metrics on http://{bound}/metrics");
    Ok(())
}

/// `--check-config`: the flags parsed and the rules loaded; say so and stop.
fn check_config(rules: &RuleSet, scheduled: usize) -> anyhow::Result<u8> {
    crate::output::print(&format!(
        "swab daemon: configuration OK: {} rules, {scheduled} scheduled ({})\n",
        rules.rules.len(),
        rules.source_name
    ))?;
    Ok(crate::exit::SUCCESS)
}

/// SIGTERM/SIGINT flip the shutdown flag from their own task, so a run that is waiting for
/// the host lock notices them too, and set `cancel`, which ends a run in flight early.
fn stop_on_signals(
    shutdown: watch::Sender<bool>,
    cancel: Cancel,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
        }
        cancel.cancel();
        let _ = shutdown.send(true);
    }))
}

/// Reads the rule file again on SIGHUP and, with `--watch`, when its modification time
/// changes (checked every 2 s), and hands the result to the loop: a new rule set, or every
/// located error of a broken one (the loop then keeps the old rules).
fn watch_rules(
    path: Option<PathBuf>,
    watch: bool,
    reloads: mpsc::Sender<Reload>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut hup = signal(SignalKind::hangup())?;
    let file = path.clone().filter(|p| p.as_os_str() != "-");
    let polling = watch && file.is_some();
    Ok(tokio::spawn(async move {
        let mut mtime_seen = file.as_deref().and_then(mtime);
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            let why = tokio::select! {
                _ = hup.recv() => "SIGHUP",
                _ = tick.tick(), if polling => {
                    let now = file.as_deref().and_then(mtime);
                    if now == mtime_seen {
                        continue;
                    }
                    mtime_seen = now;
                    "rule file changed"
                }
            };
            tracing::info!(why, "reading the rules again");
            let reload = crate::rules_cmd::load(path.as_deref()).map_err(|e| format!("{e:#}"));
            if reloads.send(reload).await.is_err() {
                return;
            }
        }
    }))
}

/// Keeps the `swab_docker_up` metric in step with the event stream's connection.
async fn follow_docker_up(mut up: watch::Receiver<bool>, metrics: Metrics) {
    while up.changed().await.is_ok() {
        metrics.set_docker_up(*up.borrow());
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// A seed that is stable for this host and differs between hosts, for jitter.
fn host_seed() -> u64 {
    let id = std::fs::read_to_string("/etc/machine-id")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| {
            rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned()
        });
    let mut hasher = DefaultHasher::new();
    id.trim().hash(&mut hasher);
    hasher.finish()
}

/// `host:port`, `[v6]:port`, or `:port` (loopback).
fn metrics_addr(text: &str) -> anyhow::Result<SocketAddr> {
    let full = if text.starts_with(':') {
        format!("127.0.0.1{text}")
    } else {
        text.to_owned()
    };
    full.parse().map_err(|_| {
        crate::exit::UsageError(format!(
            "--metrics-addr {text:?}: expected host:port such as 127.0.0.1:9847 or :9847"
        ))
        .into()
    })
}
