//! `swab daemon`: fires each scheduled rule at its time, until SIGTERM/SIGINT.
//!
//! The loop itself is [`swab_engine::daemon::run`] (when to run, back-off, reloads,
//! shutdown); this module wires it to the outside: signals, the rule file (SIGHUP and
//! `--watch`), and a [`Runner`] that runs a batch under the host lock, logs it, updates the
//! metrics and sends notifications. A signal that arrives during a run ends it early: actions
//! in flight finish, actions not begun are skipped, and an update in flight is rolled back
//! unless its containers already passed the health gate.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use swab_docker::{Docker, Endpoint};
use swab_engine::cancel::Cancel;
use swab_engine::daemon::{self as schedule, Reload, RunOutcome, Runner, SystemClock};
use swab_engine::daemon::{events, notify};
use swab_engine::history::Trigger;
use swab_engine::lock::HostLock;
use swab_engine::plan::NoteScope;
use swab_engine::run::{Observer, RunOptions, run_rules};
use swab_engine::state::{self, State};
use swab_rules::{Rule, RuleSet};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use crate::api::auth::Auth;
use crate::args::{DaemonArgs, GlobalArgs};
use crate::locks;
use crate::metrics::Metrics;

/// Everything a run needs that does not change between runs. Cloned into the API's tasks:
/// they run through the same locks, logging, metrics, history and notifications.
#[derive(Clone)]
pub(crate) struct Daemon {
    docker: Docker,
    state_path: PathBuf,
    file_lock: Option<PathBuf>,
    options: RunOptions,
    wait_lock: Duration,
    /// How many runs the history keeps.
    keep_history: usize,
    metrics: Metrics,
    /// `None` when HTTPS cannot be set up: the daemon runs, notifications are not sent.
    http: Option<notify::Notifier>,
    memory: Arc<Mutex<State>>,
    /// Turns true on SIGTERM/SIGINT.
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// How a run came to be, for its history record.
pub(crate) struct Job {
    /// The run id, chosen before the run (the API answers with it).
    pub id: Option<String>,
    pub trigger: Trigger,
    pub dry_run: bool,
}

pub async fn run(global: &GlobalArgs, args: &DaemonArgs) -> anyhow::Result<u8> {
    let rules = crate::rules_cmd::load(args.rules.as_deref())?;
    let scheduled = rules.rules.iter().filter(|r| r.schedule.is_some()).count();
    crate::fleet::refuse_host_flag(global, &rules)?;
    if !rules.hosts.is_empty() {
        // --on must pick some host, and some host must have a rule.
        let all: Vec<&Rule> = rules.rules.iter().collect();
        crate::fleet::targets(&rules, &all, &global.on)?;
    }
    if args.check_config {
        return check_config(&rules, scheduled);
    }
    let state_path = args.state.clone().unwrap_or_else(state::default_path);
    let metrics = Metrics::new();
    if args.api && !rules.hosts.is_empty() {
        return Err(crate::exit::UsageError(
            "--api serves one Docker host; a rule file with `hosts:` has several (run a daemon with --api per host)".to_owned(),
        )
        .into());
    }
    let listener = match &args.metrics_addr {
        Some(addr) => Some(listen(addr, args).await?),
        None => None,
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let cancel = Cancel::new();
    let signals = stop_on_signals(shutdown_tx.clone(), cancel.clone())?;
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let reloads = watch_rules(args.rules.clone(), args.watch, reload_tx)?;
    let shared = Shared {
        metrics,
        http: notify::client()
            .inspect_err(|why| tracing::warn!("{why}; notifications are not sent"))
            .ok(),
        shutdown: shutdown_rx,
        cancel,
    };
    let mut code = crate::exit::SUCCESS;
    if rules.hosts.is_empty() {
        let resolved = crate::connect::resolve(global)?;
        let docker = crate::connect::client(global, &resolved)?;
        let resolved_host = resolved.endpoint.to_string();
        tracing::info!(
            endpoint = %resolved.endpoint,
            rules = rules.rules.len(),
            scheduled,
            "swab daemon started"
        );
        let (up_tx, up_rx) = watch::channel(false);
        let docker_up = tokio::spawn(follow_docker_up(vec![up_rx], shared.metrics.clone()));
        let host = HostDaemon {
            file_lock: locks::file_lock_for(&resolved.endpoint, &state_path),
            docker,
            endpoint: resolved.endpoint,
            state_path,
            seed: host_seed(),
        };
        let listener = listener.map(|(listener, auth)| (listener, auth, resolved_host.clone()));
        Box::pin(serve(
            host, rules, args, &shared, reload_rx, up_tx, listener,
        ))
        .await;
        docker_up.abort();
    } else {
        if let Some((listener, _)) = listener {
            crate::api::serve(listener, shared.metrics.clone(), None);
        }
        if Box::pin(serve_fleet(
            global,
            args,
            rules,
            &state_path,
            &shared,
            reload_rx,
        ))
        .await
        {
            code = crate::exit::FAILURE;
        }
    }
    let _ = shutdown_tx.send(true);
    signals.abort();
    reloads.abort();
    tracing::info!("swab daemon stopped");
    Ok(code)
}

/// What every host's loop shares.
struct Shared {
    metrics: Metrics,
    /// `None` when HTTPS cannot be set up: the daemon runs, notifications are not sent.
    http: Option<notify::Notifier>,
    /// Turns true on SIGTERM/SIGINT.
    shutdown: watch::Receiver<bool>,
    /// Set on SIGTERM/SIGINT: runs in flight end early.
    cancel: Cancel,
}

/// One daemon the loop acts on.
struct HostDaemon {
    docker: Docker,
    endpoint: Endpoint,
    state_path: PathBuf,
    /// The machine-wide file lock a run takes besides the lease: only a single-host
    /// daemon on a local socket (a fleet's hosts each have their own lease and state).
    file_lock: Option<PathBuf>,
    /// The jitter seed.
    seed: u64,
}

/// The schedule loop for one host, with its event tracker, until shutdown; then its
/// event-stream records are saved.
async fn serve(
    host: HostDaemon,
    rules: RuleSet,
    args: &DaemonArgs,
    shared: &Shared,
    reloads: mpsc::Receiver<Reload>,
    up: watch::Sender<bool>,
    listener: Option<(tokio::net::TcpListener, Option<Auth>, String)>,
) {
    let memory = Arc::new(Mutex::new(State::new()));
    // `docker_down` messages follow the event stream's connection (the targets of the rule
    // set at start).
    let outages = shared.http.clone().map(|notifier| {
        tokio::spawn(notify::watch_docker(
            notifier,
            rules.notify.clone(),
            host.docker.endpoint().to_owned(),
            up.subscribe(),
        ))
    });
    let tracker = tokio::spawn(events::track(
        host.docker.clone(),
        memory.clone(),
        shared.shutdown.clone(),
        up,
        events::Liveness::default(),
    ));
    let mut daemon = Daemon {
        docker: host.docker,
        file_lock: host.file_lock,
        state_path: host.state_path,
        options: RunOptions {
            dry_run: false,
            parallel: usize::from(args.parallel),
            cancel: shared.cancel.clone(),
        },
        wait_lock: args.wait_lock.into(),
        keep_history: args.keep_history,
        metrics: shared.metrics.clone(),
        http: shared.http.clone(),
        memory,
        shutdown: shared.shutdown.clone(),
    };
    let config = schedule::Config {
        seed: host.seed,
        run_on_start: args.run_on_start,
    };
    // The API sees the rules the loop runs: each good reload passes through here first.
    let current = Arc::new(Mutex::new(rules.clone()));
    let (reloads, forwarder) = keep_current(reloads, current.clone());
    let mut api_tasks = Vec::new();
    if let Some((listener, auth, endpoint)) = listener {
        let api = auth.map(|auth| {
            Arc::new(crate::api::Api::new(
                daemon.clone(),
                current,
                auth,
                endpoint,
                shared.metrics.clone(),
            ))
        });
        if let Some(api) = &api {
            api_tasks.push(tokio::task::spawn_local(api.clone().follow_updates()));
        }
        crate::api::serve(listener, shared.metrics.clone(), api);
    }
    // Boxed: the loop holds a whole run's future (large) across its awaits.
    Box::pin(schedule::run(
        config,
        rules,
        &mut daemon,
        &SystemClock,
        reloads,
        shared.shutdown.clone(),
    ))
    .await;
    forwarder.abort();
    for task in api_tasks {
        task.abort();
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), tracker).await;
    if let Some(outages) = outages {
        outages.abort();
    }
    // Save the uses the event stream saw, but never hold up a shutdown for the lock: if
    // another swab holds it, these few records are lost, which only makes swab keep images
    // a little longer.
    match &daemon.file_lock {
        Some(path) => match HostLock::acquire(path, Duration::ZERO).await {
            Ok(_lock) => daemon.flush_memory(),
            Err(err) => tracing::info!(error = %err, "event-stream records not saved"),
        },
        // A fleet host's state file is this daemon's alone.
        None => daemon.flush_memory(),
    }
}

/// The daemon over a rule file's hosts: one schedule loop per host (its own timetable,
/// back-off, event tracker, lease and state file), each firing the rules that apply there.
/// A host that is down at start is waited for, without holding up the others.
async fn serve_fleet(
    global: &GlobalArgs,
    args: &DaemonArgs,
    rules: RuleSet,
    state: &Path,
    shared: &Shared,
    mut reloads: mpsc::Receiver<Reload>,
) -> bool {
    let names: Vec<String> = rules
        .hosts
        .iter()
        .filter(|h| global.on.is_empty() || global.on.iter().any(|s| h.matches(s)))
        .map(|h| h.name.clone())
        .collect();
    tracing::info!(
        hosts = names.len(),
        rules = rules.rules.len(),
        "swab daemon started"
    );
    let mut senders = Vec::new();
    let mut ups = Vec::new();
    // Which host reached each daemon ID first (see `fleet::connect_all`).
    let claimed: Mutex<HashMap<String, String>> = Mutex::new(HashMap::new());
    let claimed = &claimed;
    let mut loops = Vec::new();
    for name in &names {
        let (tx, rx) = mpsc::channel(4);
        let (up_tx, up_rx) = watch::channel(false);
        senders.push((name.clone(), tx));
        ups.push(up_rx);
        let host_rules = rules_of_host(&rules, name).unwrap_or_else(|_| rules.clone());
        let host = rules.hosts.iter().find(|h| &h.name == name).cloned();
        loops.push(async move {
            let Some(host) = host else { return };
            let span = tracing::info_span!("host", name = %host.name);
            let serve_host = async {
                let Some(connected) = reach(global, &host, shared).await else {
                    return;
                };
                if let Ok(mut claimed) = claimed.lock() {
                    if let Some(other) = claimed.get(&connected.daemon_id) {
                        tracing::error!(
                            id = %connected.daemon_id,
                            "host {} is the same daemon as host {other} (listed twice, or cloned with one ID); left out",
                            host.name
                        );
                        return;
                    }
                    claimed.insert(connected.daemon_id.clone(), host.name.clone());
                }
                let daemon = HostDaemon {
                    file_lock: None,
                    endpoint: connected.endpoint,
                    state_path: crate::fleet::state_path(state, &connected.daemon_id),
                    seed: host_seed() ^ seed_of(&host.name),
                    docker: connected.docker,
                };
                tracing::info!(endpoint = %daemon.endpoint, rules = host_rules.rules.len(), "host reached");
                Box::pin(serve(daemon, host_rules, args, shared, rx, up_tx, None)).await;
            };
            tracing::Instrument::instrument(serve_host, span).await;
        });
    }
    let docker_up = tokio::spawn(follow_docker_up(ups, shared.metrics.clone()));
    // Each new rule set goes to every host's loop, cut to that host's rules, through a
    // forwarder per host that keeps only the newest: a host that is busy (or not reached
    // yet) gets it when it can, and never holds up the others.
    let mut latest = Vec::new();
    let mut forwarders = Vec::new();
    for (name, tx) in senders {
        let (newest, mut changes) = watch::channel(None::<Reload>);
        latest.push((name, newest));
        forwarders.push(tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let reload = changes.borrow_and_update().clone();
                if let Some(reload) = reload
                    && tx.send(reload).await.is_err()
                {
                    return;
                }
            }
        }));
    }
    let fan_out = async {
        while let Some(reload) = reloads.recv().await {
            for (name, newest) in &latest {
                let cut = match &reload {
                    Ok(set) => rules_of_host(set, name),
                    Err(errors) => Err(errors.clone()),
                };
                let _ = newest.send(Some(cut));
            }
        }
        std::future::pending::<()>().await;
    };
    let all_ended = tokio::select! {
        _ = futures_util::future::join_all(loops) => !*shared.shutdown.borrow(),
        () = fan_out => false,
    };
    if all_ended {
        tracing::error!("no host left to act on (each was left out, see above); stopping");
    }
    for forwarder in forwarders {
        forwarder.abort();
    }
    docker_up.abort();
    all_ended
}

/// `rules` cut to what host `name` runs; an error when the host is no longer in them.
fn rules_of_host(rules: &RuleSet, name: &str) -> Reload {
    let Some(host) = rules.hosts.iter().find(|h| h.name == name) else {
        return Err(format!(
            "host {name} is no longer in {}; restart the daemon to stop acting on it",
            rules.source_name
        ));
    };
    let mut cut = rules.clone();
    cut.rules = rules.rules_for(host).into_iter().cloned().collect();
    cut.hosts.clear();
    Ok(cut)
}

/// Connects to `host`, trying again with back-off (5 s doubling to 5 min) while it does
/// not answer; `None` on shutdown or when its entry cannot work (logged).
async fn reach(
    global: &GlobalArgs,
    host: &swab_rules::Host,
    shared: &Shared,
) -> Option<crate::fleet::Connected> {
    let mut wait = Duration::from_secs(5);
    let mut shutdown = shared.shutdown.clone();
    loop {
        match crate::fleet::connect(global, host).await {
            Ok(connected) => return Some(connected),
            // An entry that cannot work (a context that does not exist) stays broken.
            Err(err) if crate::exit::code_for(&err) == crate::exit::USAGE => {
                tracing::error!(error = %format!("{err:#}"), "host left out");
                return None;
            }
            // Unreachable, or answering with an error (a daemon still starting): again later.
            Err(err) => {
                shared.metrics.record_unreachable();
                tracing::warn!(error = %format!("{err:#}"), retry_in = ?wait, "host unreachable");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return None,
        }
        wait = (wait * 2).min(Duration::from_secs(300));
    }
}

fn seed_of(name: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    name.hash(&mut hasher);
    hasher.finish()
}

impl Runner for Daemon {
    async fn run(&mut self, rules: &RuleSet, names: &[String]) -> RunOutcome {
        Box::pin(self.run_batch(rules, names)).await
    }
}

impl Daemon {
    /// Runs the named rules together, under the host lock.
    async fn run_batch(&mut self, rules: &RuleSet, names: &[String]) -> RunOutcome {
        if *self.shutdown.borrow() {
            return RunOutcome::NotRun;
        }
        // A lost lease stops this run only; a signal stops it and the daemon.
        let cancel = self.options.cancel.child();
        let lock = match self.take_locks(names, cancel.clone()).await {
            Ok(lock) => lock,
            Err(outcome) => return outcome,
        };
        let job = Job {
            id: None,
            trigger: Trigger::Schedule,
            dry_run: false,
        };
        Box::pin(self.execute(rules, names, Some(lock), cancel, job))
            .await
            .0
    }

    /// The docker client runs go through.
    pub(crate) fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Runs the named rules with the locks `lock` (`None` only for a dry run), then logs,
    /// counts, records and notifies what happened. The run's history record comes back too.
    pub(crate) async fn execute(
        &self,
        rules: &RuleSet,
        names: &[String],
        lock: Option<locks::Held>,
        cancel: Cancel,
        job: Job,
    ) -> (RunOutcome, Option<swab_engine::history::Record>) {
        let selected: Vec<&Rule> = rules
            .rules
            .iter()
            .filter(|r| names.contains(&r.name))
            .collect();
        if lock.is_some() {
            self.flush_memory();
        }
        let started = Instant::now();
        let options = RunOptions {
            cancel,
            dry_run: job.dry_run,
            ..self.options.clone()
        };
        let result = run_rules(
            &self.docker,
            rules,
            &selected,
            &self.state_path,
            options,
            lock.as_ref().map(locks::Held::lease),
            Observer {
                action: &crate::run_cmd::log_action,
                status: &|status: &str| tracing::debug!("{status}"),
            },
        )
        .await;
        if let Some(lock) = lock {
            lock.release().await;
        }
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
                if !job.dry_run {
                    self.metrics.record_run(names, &report, elapsed, unix);
                }
                let record = self.record(names, &job, started.elapsed(), &report).await;
                if !job.dry_run
                    && let Some(http) = &self.http
                {
                    notify::send_all(http, &rules.notify, &report).await;
                }
                (RunOutcome::Ran, record)
            }
            Err(err) if err.is_unreachable() => {
                self.metrics.record_unreachable();
                tracing::warn!(rules = ?names, error = %format!("{err:#}"), "Docker daemon unreachable; will retry");
                (RunOutcome::Unreachable, None)
            }
            Err(err) => {
                tracing::error!(rules = ?names, error = %format!("{err:#}"), "run failed");
                (RunOutcome::NotRun, None)
            }
        }
    }

    /// Writes the run into the history, with what the daemon's disk holds now.
    pub(crate) async fn record(
        &self,
        names: &[String],
        job: &Job,
        elapsed: Duration,
        report: &swab_engine::report::Report,
    ) -> Option<swab_engine::history::Record> {
        let mut record =
            crate::history_cmd::record_of(names.to_vec(), job.trigger, elapsed, report)?;
        if let Some(id) = &job.id {
            record.id.clone_from(id);
        }
        record.disk_used_bytes = self.disk_used().await;
        crate::history_cmd::record(&self.state_path, self.keep_history, &record);
        Some(record)
    }

    /// Bytes the daemon's images, containers, volumes and build cache take (`/system/df`),
    /// or `None` when it does not answer within 10 s.
    async fn disk_used(&self) -> Option<u64> {
        let usage = tokio::time::timeout(Duration::from_secs(10), self.docker.disk_usage(false))
            .await
            .ok()?
            .ok()?;
        let total = [
            usage.images,
            usage.containers,
            usage.volumes,
            usage.build_cache,
        ]
        .iter()
        .map(|t| u64::try_from(t.total_size).unwrap_or(0))
        .sum();
        Some(total)
    }

    /// The locks of a run, waiting up to `wait` for another swab: what the API takes.
    pub(crate) async fn lock(&self, wait: Duration, cancel: Cancel) -> anyhow::Result<locks::Held> {
        locks::take(&self.docker, self.file_lock.as_deref(), wait, cancel).await
    }

    /// How long a run waits for the locks (`--wait-lock`).
    pub(crate) fn wait_lock(&self) -> Duration {
        self.wait_lock
    }

    /// A fresh cancel flag for one run: a signal still ends it.
    pub(crate) fn cancel(&self) -> Cancel {
        self.options.cancel.child()
    }

    /// The state file.
    pub(crate) fn state_path(&self) -> &Path {
        &self.state_path
    }

    /// Both locks for a run, or (logged) why the run cannot happen: the lock is held
    /// elsewhere, the daemon is unreachable (counted, retried), or a shutdown came first.
    async fn take_locks(
        &mut self,
        names: &[String],
        cancel: Cancel,
    ) -> Result<locks::Held, RunOutcome> {
        let mut shutdown = self.shutdown.clone();
        let held = locks::take(
            &self.docker,
            self.file_lock.as_deref(),
            self.wait_lock,
            cancel,
        );
        tokio::select! {
            lock = held => match lock {
                Ok(lock) => Ok(lock),
                // The signal also ends the wait itself (see `locks::take`).
                Err(_) if *self.shutdown.borrow() => {
                    tracing::info!(rules = ?names, "stopping while waiting for the host lock; run skipped");
                    Err(RunOutcome::NotRun)
                }
                Err(err) => {
                    if crate::exit::code_for(&err) == crate::exit::UNREACHABLE {
                        self.metrics.record_unreachable();
                        tracing::warn!(rules = ?names, error = %format!("{err:#}"), "Docker daemon unreachable; will retry");
                        return Err(RunOutcome::Unreachable);
                    }
                    tracing::warn!(rules = ?names, error = %format!("{err:#}"), "run skipped");
                    Err(RunOutcome::NotRun)
                }
            },
            _ = shutdown.changed() => {
                tracing::info!(rules = ?names, "stopping while waiting for the host lock; run skipped");
                Err(RunOutcome::NotRun)
            }
        }
    }

    /// Writes the uses the event stream recorded into the state file (merging with it). Only
    /// under a lock: the host lock, or both locks of a run.
    fn flush_memory(&self) {
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

/// Binds the `--metrics-addr` listener (an error here stops the daemon before it starts)
/// and, with `--api`, reads the token: `Some(auth)` when the API is on.
async fn listen(
    addr: &str,
    args: &DaemonArgs,
) -> anyhow::Result<(tokio::net::TcpListener, Option<Auth>)> {
    let addr = metrics_addr(addr)?;
    let loopback = addr.ip().is_loopback();
    let auth = if args.api {
        let token = match &args.api_token_file {
            Some(path) => {
                Some(crate::api::auth::read_token(path).map_err(crate::exit::UsageError)?)
            }
            None => None,
        };
        let auth = Auth::new(token.as_deref(), loopback);
        if auth.closed() {
            tracing::warn!(%addr, "the API listens beyond loopback with no token: every /api/ route and the status page answer 403 until --api-token-file is given");
        }
        Some(auth)
    } else {
        None
    };
    if !loopback {
        tracing::warn!(%addr, "the metrics endpoint is reachable from other hosts");
    }
    let listener = crate::api::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    tracing::info!("metrics on http://{bound}/metrics");
    if auth.is_some() {
        tracing::info!(
            token = args.api_token_file.is_some(),
            "API on http://{bound}/api/v1/, status page on http://{bound}/"
        );
    }
    Ok((listener, auth))
}

/// Passes reloads on to the loop, keeping `current` at the newest good rule set.
fn keep_current(
    mut reloads: mpsc::Receiver<Reload>,
    current: Arc<Mutex<RuleSet>>,
) -> (mpsc::Receiver<Reload>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(4);
    let task = tokio::spawn(async move {
        while let Some(reload) = reloads.recv().await {
            if let (Ok(set), Ok(mut current)) = (&reload, current.lock()) {
                *current = set.clone();
            }
            if tx.send(reload).await.is_err() {
                return;
            }
        }
    });
    (rx, task)
}

/// `--check-config`: the flags parsed and the rules loaded; say so and stop.
fn check_config(rules: &RuleSet, scheduled: usize) -> anyhow::Result<u8> {
    let hosts = match rules.hosts.len() {
        0 => String::new(),
        1 => ", 1 host".to_owned(),
        n => format!(", {n} hosts"),
    };
    crate::output::print(&format!(
        "swab daemon: configuration OK: {} rules, {scheduled} scheduled{hosts} ({})\n",
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
        // Shutdown first: a run that sees its wait for the lock end then knows why.
        let _ = shutdown.send(true);
        cancel.cancel();
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

/// Keeps the `swab_docker_up` metric in step with the event streams' connections: 1 when
/// every host's stream is up.
async fn follow_docker_up(mut ups: Vec<watch::Receiver<bool>>, metrics: Metrics) {
    while !ups.is_empty() {
        let waits = ups.iter_mut().map(|up| Box::pin(up.changed()));
        let (result, index, _) = futures_util::future::select_all(waits).await;
        if result.is_err() {
            // A host left out (or shut down): the others still count.
            ups.remove(index);
        }
        metrics.set_docker_up(!ups.is_empty() && ups.iter().all(|up| *up.borrow()));
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
