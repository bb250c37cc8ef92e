//! The daemon's HTTP listener (`--metrics-addr`): `/metrics` always, and with `--api` the
//! HTTP API under `/api/v1/` and the status page at `/`.
//!
//! Runs the API starts go through the daemon's own runner ([`Daemon::execute`]): the same
//! locks as scheduled runs, the same logs, metrics, history and notifications, and for one
//! container the same update path (health gate, rollback, journal, hooks). A run answers
//! `202` with its id at once; `GET /api/v1/runs/{id}` follows it to its report.
//!
//! Who may do what is [`auth`]'s job; errors are RFC 9457 problem objects
//! (`application/problem+json`); the routes are one table ([`routes`]) that `docs/api.yaml`
//! is checked against.

pub mod auth;
pub mod routes;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use swab_engine::gather::{self, LocalFilesystem};
use swab_engine::history::{self, History, Trigger};
use swab_rules::{Action, Rule, RuleSet};

use crate::daemon_cmd::{Daemon, Job};
use crate::metrics::Metrics;
use auth::{Auth, Refusal};
use routes::{Found, Route};

/// How many API runs the daemon remembers in memory (their records stay in the history).
const JOBS_KEPT: usize = 100;
/// How often the daemon checks the registries on its own, for the status page.
const UPDATES_EVERY: Duration = Duration::from_secs(15 * 60);
/// The largest request body the API reads.
const MAX_BODY: usize = 64 * 1024;

/// The API's side of the daemon.
pub struct Api {
    daemon: Daemon,
    rules: Arc<Mutex<RuleSet>>,
    auth: Auth,
    host: String,
    started_at: String,
    metrics: Metrics,
    jobs: Mutex<BTreeMap<String, JobState>>,
    /// The last registry check: `{"checked_at": ..., "report": ...}`.
    updates: tokio::sync::Mutex<Option<Value>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// An API run the daemon knows of.
#[derive(Debug, Clone)]
enum JobState {
    /// Waiting for the lock, or running.
    Running { rules: Vec<String> },
    /// Finished: its history record (also when the history keeps none).
    Done(Box<history::Record>),
    /// It never ran, or did not finish: why.
    Failed(String),
}

/// What an API run does.
enum Work {
    /// Run these rules of this rule set.
    Rules {
        rules: Box<RuleSet>,
        names: Vec<String>,
    },
    /// Roll this container back.
    Rollback { container: String },
}

impl Api {
    pub fn new(
        daemon: Daemon,
        rules: Arc<Mutex<RuleSet>>,
        auth: Auth,
        host: String,
        metrics: Metrics,
    ) -> Api {
        Api {
            daemon,
            rules,
            auth,
            host,
            started_at: rfc3339(SystemTime::now()),
            metrics,
            jobs: Mutex::new(BTreeMap::new()),
            updates: tokio::sync::Mutex::new(None),
        }
    }

    fn rules(&self) -> RuleSet {
        match self.rules.lock() {
            Ok(rules) => rules.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn history(&self) -> History {
        History::new(history::dir_for(self.daemon.state_path()), usize::MAX)
    }

    /// Checks the registries now and keeps the result.
    async fn refresh_updates(&self) -> Result<Value, String> {
        let rules = self.rules();
        let checked = crate::updates_cmd::check_json(
            self.daemon.docker(),
            self.host.clone(),
            &rules,
            self.daemon.state_path(),
        )
        .await
        .map_err(|e| format!("{e:#}"))?;
        let value = json!({ "checked_at": rfc3339(SystemTime::now()), "report": checked });
        *self.updates.lock().await = Some(value.clone());
        Ok(value)
    }

    /// Checks the registries at start and every [`UPDATES_EVERY`] while some rule updates,
    /// so the status page has pending updates without anybody asking.
    pub async fn follow_updates(self: Arc<Self>) {
        loop {
            let wanted = self
                .rules()
                .rules
                .iter()
                .any(|r| r.action == Action::Update);
            if wanted && let Err(err) = self.refresh_updates().await {
                tracing::info!(error = %err, "update check for the API failed");
            }
            tokio::time::sleep(UPDATES_EVERY).await;
        }
    }

    /// Answers one request.
    async fn handle(
        self: Arc<Self>,
        peer: IpAddr,
        req: Request<hyper::body::Incoming>,
    ) -> Response<Full<Bytes>> {
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or("").to_owned();
        let (route, param) = match routes::find(&method, &path) {
            Found::Route(route, param) => (route, param),
            Found::WrongMethod(allowed) => {
                let mut r = problem(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method not allowed",
                    format!("{path} takes {}", allowed.join(", ")),
                );
                if let Ok(v) = allowed.join(", ").parse() {
                    r.headers_mut().insert("allow", v);
                }
                return r;
            }
            Found::Nothing => {
                return problem(
                    StatusCode::NOT_FOUND,
                    "not found",
                    format!("no route {path}; the API is under /api/v1/ (docs/api.yaml)"),
                );
            }
        };
        let header = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let token = auth::token_of(header);
        if let Err(refusal) =
            self.auth
                .check(peer, method == "POST", token.as_deref(), Instant::now())
        {
            tracing::info!(%peer, %method, %path, "API request refused");
            return refused(&refusal, route == Route::Page);
        }
        let body = if method == "POST" {
            match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(body) => body.to_bytes(),
                Err(_) => {
                    return problem(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "request too large",
                        format!("bodies are at most {MAX_BODY} bytes"),
                    );
                }
            }
        } else {
            Bytes::new()
        };
        let param = param.unwrap_or_default();
        match route {
            Route::Page => self.page(),
            Route::Status => ok(&self.status(&self.recent_runs())),
            Route::Runs => self.runs(&query),
            Route::Run => self.run(&param),
            Route::Updates => self.updates(&query).await,
            Route::StartRun => self.start_run(&body).await,
            Route::UpdateContainer => self.update_container(&param, &body).await,
            Route::RollBackContainer => self.roll_back(&param, &body).await,
        }
    }

    /// `GET /`.
    fn page(&self) -> Response<Full<Bytes>> {
        // One read of the history serves both the rules' last runs and the run list.
        let runs = self.recent_runs();
        let html = crate::page::render(&self.status(&runs), &runs[..runs.len().min(50)]);
        Response::builder()
            .header("content-type", "text/html; charset=utf-8")
            .header("cache-control", "no-store")
            .body(Full::new(Bytes::from(html)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    }

    /// The newest runs, where the status looks for each rule's last one.
    fn recent_runs(&self) -> Vec<history::Record> {
        self.history().list(200).unwrap_or_default()
    }

    /// `GET /api/v1/status`, with each rule's last run from `runs`.
    fn status(&self, runs: &[history::Record]) -> Value {
        let rules = self.rules();
        let now = SystemTime::now();
        let updates = self.updates.try_lock().ok().and_then(|u| u.clone());
        let rows: Vec<Value> = rules
            .rules
            .iter()
            .map(|rule| rule_status(rule, now, runs, updates.as_ref()))
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "started_at": self.started_at,
            "now": rfc3339(now),
            "host": self.host,
            "docker_up": self.metrics.docker_up(),
            "updates_checked_at": updates.as_ref().map(|u| u["checked_at"].clone()),
            "rules": rows,
        })
    }

    /// `GET /api/v1/runs?limit=N`: the newest runs, newest first.
    fn runs(&self, query: &str) -> Response<Full<Bytes>> {
        let limit = match param(query, "limit") {
            None => 20,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=history::DEFAULT_KEEP * 10).contains(&n) => n,
                _ => {
                    return problem(
                        StatusCode::BAD_REQUEST,
                        "bad limit",
                        format!("limit={text}: expected a number from 1 to 5000"),
                    );
                }
            },
        };
        match self.history().list(limit) {
            Ok(records) => ok(&json!(records)),
            Err(err) => problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the history",
                format!("{:#}", anyhow::Error::from(err)),
            ),
        }
    }

    /// `GET /api/v1/runs/{id}`: a run in flight, or a finished one's record.
    fn run(&self, id: &str) -> Response<Full<Bytes>> {
        let known = self.jobs.lock().ok().and_then(|j| j.get(id).cloned());
        match known {
            Some(JobState::Running { rules }) => {
                return ok(&json!({ "id": id, "state": "running", "rules": rules }));
            }
            Some(JobState::Failed(error)) => {
                return ok(&json!({ "id": id, "state": "failed", "error": error }));
            }
            Some(JobState::Done(record)) => return ok(&done(&record)),
            None => {}
        }
        match self.history().get(id) {
            Ok(Some(record)) => ok(&done(&record)),
            Ok(None) => problem(
                StatusCode::NOT_FOUND,
                "no such run",
                format!("no run {id}; GET /api/v1/runs lists them"),
            ),
            Err(err) => problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the history",
                format!("{:#}", anyhow::Error::from(err)),
            ),
        }
    }

    /// `GET /api/v1/updates[?refresh=true]`.
    async fn updates(&self, query: &str) -> Response<Full<Bytes>> {
        let refresh = match param(query, "refresh").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "bad refresh",
                    format!("refresh={other}: expected true or false"),
                );
            }
        };
        let cached = self.updates.lock().await.clone();
        match cached {
            Some(value) if !refresh => ok(&value),
            _ => match self.refresh_updates().await {
                Ok(value) => ok(&value),
                Err(err) => problem(StatusCode::BAD_GATEWAY, "the update check failed", err),
            },
        }
    }

    /// `POST /api/v1/runs`, body `{"rules": [...], "dry_run": false, "wait": true}`.
    async fn start_run(self: &Arc<Self>, body: &[u8]) -> Response<Full<Bytes>> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            #[serde(default)]
            rules: Vec<String>,
            #[serde(default)]
            dry_run: bool,
            #[serde(default = "yes")]
            wait: bool,
        }
        let body: Body = match parse_body(body) {
            Ok(body) => body,
            Err(response) => return *response,
        };
        let rules = self.rules();
        let names = match crate::run_cmd::select(&rules, &body.rules) {
            Ok(selected) => crate::run_cmd::names(&selected),
            Err(err) => {
                return problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown rule",
                    err.to_string(),
                );
            }
        };
        self.start(
            Work::Rules {
                rules: Box::new(rules),
                names,
            },
            body.dry_run,
            body.wait,
        )
        .await
    }

    /// `POST /api/v1/containers/{name}/update`, body `{"force_policies": false, "wait":
    /// true}`: the first `update` rule that selects the container, narrowed to it, run now.
    /// Its cooldown and windows hold unless `force_policies`; `notify_only` does not (the
    /// caller asked for the update).
    async fn update_container(self: &Arc<Self>, name: &str, body: &[u8]) -> Response<Full<Bytes>> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            #[serde(default)]
            force_policies: bool,
            #[serde(default = "yes")]
            wait: bool,
        }
        let body: Body = match parse_body(body) {
            Ok(body) => body,
            Err(response) => return *response,
        };
        let rules = self.rules();
        let snapshot = match gather::gather(
            self.daemon.docker(),
            &[],
            &rules.protect,
            &LocalFilesystem,
            4,
        )
        .await
        {
            Ok((snapshot, _)) => snapshot,
            Err(err) => {
                return problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Docker did not answer",
                    format!("{:#}", anyhow::Error::from(err)),
                );
            }
        };
        let name = name.trim_start_matches('/');
        if !snapshot.containers.iter().any(|c| c.name == name) {
            return problem(
                StatusCode::NOT_FOUND,
                "no such container",
                format!("no container named {name} on {}", self.host),
            );
        }
        let rule = rules
            .rules
            .iter()
            .filter(|r| r.action == Action::Update)
            .find(|r| {
                swab_engine::updates::collect(&snapshot, &[*r], &rules.protect)
                    .checks
                    .iter()
                    .any(|c| c.containers.iter().any(|n| n == name))
            });
        let Some(rule) = rule else {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no update rule selects this container",
                format!(
                    "no `update` rule of {} selects container {name} (or it is protected)",
                    rules.source_name
                ),
            );
        };
        let narrowed = match narrow(rule, name, body.force_policies) {
            Ok(rule) => rule,
            Err(why) => return problem(StatusCode::UNPROCESSABLE_ENTITY, "cannot select", why),
        };
        let names = vec![narrowed.name.clone()];
        let mut one = rules.clone();
        one.rules = vec![narrowed];
        self.start(
            Work::Rules {
                rules: Box::new(one),
                names,
            },
            false,
            body.wait,
        )
        .await
    }

    /// `POST /api/v1/containers/{name}/rollback`, body `{"wait": true}`.
    async fn roll_back(self: &Arc<Self>, name: &str, body: &[u8]) -> Response<Full<Bytes>> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            #[serde(default = "yes")]
            wait: bool,
        }
        let body: Body = match parse_body(body) {
            Ok(body) => body,
            Err(response) => return *response,
        };
        let container = name.trim_start_matches('/').to_owned();
        self.start(Work::Rollback { container }, false, body.wait)
            .await
    }

    /// Starts `work` in the background and answers `202` with its id; `409` when another
    /// run holds the lock and `wait` is false.
    async fn start(
        self: &Arc<Self>,
        work: Work,
        dry_run: bool,
        wait: bool,
    ) -> Response<Full<Bytes>> {
        if *self.daemon.shutdown.borrow() {
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "stopping",
                "the daemon is stopping; nothing new starts",
            );
        }
        let cancel = self.daemon.cancel();
        // Not waiting: take the lock now, so a held lock is a 409 in this answer.
        let held = if dry_run || wait {
            None
        } else {
            match self.daemon.lock(Duration::ZERO, cancel.clone()).await {
                Ok(held) => Some(held),
                Err(err) if crate::exit::code_for(&err) == crate::exit::UNREACHABLE => {
                    return problem(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Docker did not answer",
                        format!("{err:#}"),
                    );
                }
                Err(err) => {
                    return problem(
                        StatusCode::CONFLICT,
                        "a run is in progress",
                        format!("{err:#}; send \"wait\": true to queue behind it"),
                    );
                }
            }
        };
        let id = history::id_now();
        let rules = match &work {
            Work::Rules { names, .. } => names.clone(),
            Work::Rollback { .. } => vec!["rollback".to_owned()],
        };
        self.remember(&id, JobState::Running { rules });
        let api = Arc::clone(self);
        let job_id = id.clone();
        tokio::task::spawn_local(async move {
            let state = Box::pin(api.work(work, &job_id, dry_run, held, cancel)).await;
            api.remember(&job_id, state);
        });
        let url = format!("/api/v1/runs/{id}");
        let mut response = json_response(
            StatusCode::ACCEPTED,
            &json!({ "id": id, "state": "running", "url": url }),
        );
        if let Ok(location) = url.parse() {
            response.headers_mut().insert("location", location);
        }
        response
    }

    /// Runs `work` (taking the lock first unless `held`) and says how it ended.
    async fn work(
        &self,
        work: Work,
        id: &str,
        dry_run: bool,
        held: Option<crate::locks::Held>,
        cancel: swab_engine::cancel::Cancel,
    ) -> JobState {
        let lock = match held {
            Some(held) => Some(held),
            None if dry_run => None,
            None => match self
                .daemon
                .lock(self.daemon.wait_lock(), cancel.clone())
                .await
            {
                Ok(held) => Some(held),
                Err(err) => {
                    tracing::warn!(run = id, error = %format!("{err:#}"), "API run not started");
                    return JobState::Failed(format!("{err:#}"));
                }
            },
        };
        let job = Job {
            id: Some(id.to_owned()),
            trigger: Trigger::Api,
            dry_run,
        };
        match work {
            Work::Rules { rules, names } => {
                match Box::pin(self.daemon.execute(&rules, &names, lock, cancel, job)).await {
                    (_, Some(record)) => JobState::Done(Box::new(record)),
                    (outcome, None) => JobState::Failed(format!(
                        "the run did not finish ({outcome:?}); the daemon's log says why"
                    )),
                }
            }
            Work::Rollback { container } => {
                let started = Instant::now();
                let started_at = rfc3339(SystemTime::now());
                let rules = self.rules();
                let rolled = crate::rollback_cmd::roll_back(
                    &container,
                    &rules,
                    self.daemon.docker(),
                    &self.host,
                    self.daemon.state_path(),
                    cancel,
                )
                .await;
                if let Some(lock) = lock {
                    lock.release().await;
                }
                match rolled {
                    Ok(rolled) => {
                        let report = swab_engine::report::Report {
                            swab_version: env!("CARGO_PKG_VERSION"),
                            dry_run: false,
                            host: rolled.host,
                            started_at,
                            finished_at: rfc3339(SystemTime::now()),
                            summary: swab_engine::report::Summary::of(&rolled.actions),
                            actions: rolled.actions,
                            kept: Vec::new(),
                            notes: Vec::new(),
                            rate_limits: BTreeMap::new(),
                            retries: swab_engine::report::Retries::default(),
                        };
                        let names = ["rollback".to_owned()];
                        match self
                            .daemon
                            .record(&names, &job, started.elapsed(), &report)
                            .await
                        {
                            Some(record) => JobState::Done(Box::new(record)),
                            None => JobState::Failed(
                                "the rollback's report could not be recorded".to_owned(),
                            ),
                        }
                    }
                    Err(err) => {
                        tracing::warn!(run = id, %container, error = %format!("{err:#}"), "rollback failed");
                        JobState::Failed(format!("{err:#}"))
                    }
                }
            }
        }
    }

    fn remember(&self, id: &str, state: JobState) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.insert(id.to_owned(), state);
            while jobs.len() > JOBS_KEPT {
                // Ids sort by time: the first is the oldest.
                let Some(oldest) = jobs.keys().next().cloned() else {
                    break;
                };
                jobs.remove(&oldest);
            }
        }
    }
}

fn yes() -> bool {
    true
}

/// `rule` cut down to the one container `name`; `force_policies` also drops its cooldown and
/// windows.
fn narrow(rule: &Rule, name: &str, force_policies: bool) -> Result<Rule, String> {
    let mut rule = rule.clone();
    let pattern =
        swab_rules::NamePattern::parse(name).map_err(|e| format!("container name {name}: {e}"))?;
    rule.matcher.names = vec![pattern];
    if let Some(update) = &mut rule.update {
        update.notify_only = false;
        if force_policies {
            update.min_age = None;
        }
    }
    if force_policies {
        rule.windows.clear();
    }
    Ok(rule)
}

/// One rule's line of the status: schedule, next fire, window, last run, pending updates.
fn rule_status(
    rule: &Rule,
    now: SystemTime,
    runs: &[history::Record],
    updates: Option<&Value>,
) -> Value {
    let chrono_now = chrono::DateTime::<chrono::Utc>::from(now);
    let last = runs.iter().find(|r| r.rules.contains(&rule.name)).map(|r| {
        json!({
            "id": r.id,
            "at": r.report["started_at"],
            "result": crate::history_cmd::result_of(r),
            "duration_ms": r.duration_ms,
            "summary": crate::history_cmd::summary_of(r),
        })
    });
    let window = (!rule.windows.is_empty()).then(|| {
        let closed = swab_engine::window::closed_reason(&rule.windows, now);
        json!({ "open": closed.is_none(), "detail": closed.unwrap_or_else(|| "open now".to_owned()) })
    });
    let pending: Vec<Value> = updates
        .and_then(|u| u["report"]["references"].as_array())
        .into_iter()
        .flatten()
        .filter(|row| {
            matches!(
                row["status"].as_str(),
                // Containers' rows say `outdated` (or `pending` while a window is
                // closed), services' `update_available`.
                Some("update_available" | "outdated" | "held_back" | "pending")
            ) && row["rules"]
                .as_array()
                .is_some_and(|r| r.iter().any(|n| n == rule.name.as_str()))
        })
        .map(|row| {
            json!({
                "reference": row["reference"],
                "containers": row["containers"],
                "status": row["status"],
                "held_back": row["held_back"],
                "eligible_at": row["eligible_at"],
            })
        })
        .collect();
    json!({
        "name": rule.name,
        "action": rule.action.to_string(),
        "schedule": rule.schedule.as_ref().map(ToString::to_string),
        "next_fire": rule.schedule.as_ref().and_then(|s| s.next_after(chrono_now)).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "window": window,
        "last_run": last,
        "pending_updates": pending,
    })
}

/// A finished run as `GET /api/v1/runs/{id}` shows it: its record, with `"state": "done"`.
fn done(record: &history::Record) -> Value {
    let mut value = json!(record);
    if let Some(object) = value.as_object_mut() {
        object.insert("state".to_owned(), json!("done"));
    }
    value
}

fn parse_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, Box<Response<Full<Bytes>>>> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        Box::new(problem(
            StatusCode::BAD_REQUEST,
            "bad request body",
            format!("{e}"),
        ))
    })
}

/// The value of `key` in a query string, percent-decoded.
fn param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn ok(value: &Value) -> Response<Full<Bytes>> {
    json_response(StatusCode::OK, value)
}

fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// An RFC 9457 problem object.
fn problem(status: StatusCode, title: &str, detail: impl Into<String>) -> Response<Full<Bytes>> {
    let body = json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail.into(),
    });
    let mut response = json_response(status, &body);
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// The answer to a refused request. For the status page, a 401 asks for HTTP Basic
/// credentials (the token as the password), so a browser opens its login dialog and then
/// sends them with the page's own refreshes.
fn refused(refusal: &Refusal, page: bool) -> Response<Full<Bytes>> {
    match refusal {
        Refusal::Forbidden(why) => problem(StatusCode::FORBIDDEN, "forbidden", *why),
        Refusal::Unauthorized(why) => {
            let mut r = problem(StatusCode::UNAUTHORIZED, "unauthorized", *why);
            let challenge = if page {
                "Basic realm=\"swab\", charset=\"UTF-8\""
            } else {
                "Bearer realm=\"swab\""
            };
            r.headers_mut().insert(
                "www-authenticate",
                hyper::header::HeaderValue::from_static(challenge),
            );
            r
        }
        Refusal::TooMany(wait) => {
            let secs = wait.as_secs().max(1);
            let mut r = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed attempts",
                format!("too many wrong tokens from this address; try again in {secs} s"),
            );
            r.headers_mut().insert("retry-after", secs.into());
            r
        }
    }
}

/// Serves `/metrics` (always) and, with `api`, the API and the status page on `listener`,
/// until the process ends.
///
/// Its tasks are local to the daemon's thread (a [`tokio::task::LocalSet`]): a run's future
/// is not `Send`, and the API's runs are the daemon's own.
pub fn serve(listener: tokio::net::TcpListener, metrics: Metrics, api: Option<Arc<Api>>) {
    tokio::task::spawn_local(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            let api = api.clone();
            tokio::task::spawn_local(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let metrics = metrics.clone();
                    let api = api.clone();
                    async move {
                        let response = if req.uri().path() == "/metrics" {
                            Response::builder()
                                .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                                .body(Full::new(Bytes::from(metrics.encode())))
                                .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
                        } else if let Some(api) = api {
                            api.handle(peer.ip(), req).await
                        } else {
                            problem(
                                StatusCode::NOT_FOUND,
                                "not found",
                                "only /metrics here; start the daemon with --api for the API and the status page",
                            )
                        };
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// Binds `addr`; the error names it.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}
