//! Updating Swarm services through Swarm's own rolling update and rollback.
//!
//! swab changes one thing in a service's spec, the image (and, if the rule says, the
//! update's failure action and monitor period), sends it back with the version it read,
//! and waits for Swarm to say how the update ended. Swarm does the rest: rolling the tasks
//! out on every node, watching them, and going back to the previous spec on failure. A
//! spec someone else changed meanwhile is never overwritten: the daemon refuses the stale
//! version, and swab re-reads it and tries once more only if the image is still the one it
//! decided on.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swab_docker::{Docker, Filters, RegistryAuth};

use crate::cancel::Cancel;
use crate::report::{ActionKind, ActionReport, Status};
use crate::services::ServiceUpdate;

/// How often the service is read while Swarm updates it.
const POLL: Duration = Duration::from_secs(1);

/// How a service update or rollback ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Swarm finished it (`completed`, or `rollback_completed` for an asked-for rollback).
    Completed,
    /// Swarm rolled it back by itself (its failure action).
    RolledBack(String),
    /// Paused, refused, timed out or interrupted: why.
    Failed(String),
}

/// The image of a service spec, `Spec.TaskTemplate.ContainerSpec.Image`.
fn spec_image(spec: &Value) -> &str {
    spec["TaskTemplate"]["ContainerSpec"]["Image"]
        .as_str()
        .unwrap_or_default()
}

/// `spec` with `update`'s image, and its failure action and monitor if the rule sets them;
/// everything else exactly as read.
pub fn updated_spec(spec: &Value, update: &ServiceUpdate) -> Value {
    let mut spec = spec.clone();
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = json!(update.image);
    if update.failure_action.is_some() || update.monitor.is_some() {
        if !spec["UpdateConfig"].is_object() {
            spec["UpdateConfig"] = json!({});
        }
        if let Some(action) = update.failure_action {
            spec["UpdateConfig"]["FailureAction"] = json!(action.as_str());
        }
        if let Some(monitor) = update.monitor {
            let nanos = u64::try_from(monitor.as_nanos()).unwrap_or(u64::MAX);
            spec["UpdateConfig"]["Monitor"] = json!(nanos);
        }
    }
    spec
}

/// Whether the daemon refused an update because the version was stale.
fn out_of_sequence(err: &swab_docker::Error) -> bool {
    err.is_conflict()
        || matches!(err, swab_docker::Error::Daemon { message, .. } if message.contains("out of sequence"))
}

/// The `UpdateStatus` of a service as `(State, StartedAt)`, empty when it has none.
fn update_status(service: &Value) -> (String, String) {
    let status = &service["UpdateStatus"];
    (
        status["State"].as_str().unwrap_or_default().to_owned(),
        status["StartedAt"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The report entry of a service update, with the plan's reason.
pub fn entry(update: &ServiceUpdate, status: Status, error: Option<String>) -> ActionReport {
    ActionReport {
        rule: update.rule.clone(),
        action: ActionKind::UpdateService,
        id: update.id.clone(),
        name: update.name.clone(),
        reason: crate::services::reason(update),
        status,
        error,
        bytes: None,
    }
}

/// Applies one planned service update and reports it. `auth` goes with the update so that
/// every node can pull. Waits at most the rule's timeout for Swarm to finish.
pub async fn apply(
    docker: &Docker,
    update: &ServiceUpdate,
    auth: Option<&RegistryAuth>,
    cancel: &Cancel,
    status: &(dyn Fn(&str) + Sync),
) -> ActionReport {
    let mut report = entry(update, Status::Done, None);
    let started = Instant::now();
    let outcome = send_update(docker, update, auth).await;
    let before = match outcome {
        Ok(before) => before,
        Err((status_now, why)) => {
            report.status = status_now;
            report.error = Some(why);
            return report;
        }
    };
    status(&format!(
        "Swarm is updating service {} (at most {})",
        update.name,
        humantime::format_duration(update.timeout)
    ));
    match wait(docker, &update.id, &before, update.timeout, cancel, false).await {
        Ended::Completed => {
            let tasks = tasks_on(docker, &update.id, &update.image).await;
            report.reason = format!(
                "{}; {tasks} running on it after {}",
                report.reason,
                humantime::format_duration(Duration::from_secs(started.elapsed().as_secs()))
            );
        }
        Ended::RolledBack(why) => {
            report.status = Status::RolledBack;
            report.error = Some(why);
        }
        Ended::Failed(why) => {
            report.status = Status::Failed;
            report.error = Some(why);
        }
    }
    report
}

/// Sends the update on the spec as read now; once more on a fresh read if the version went
/// stale meanwhile and the image is still the one decided on. Returns the `UpdateStatus`
/// from before, to tell this update's end from an earlier one's.
async fn send_update(
    docker: &Docker,
    update: &ServiceUpdate,
    auth: Option<&RegistryAuth>,
) -> Result<(String, String), (Status, String)> {
    for attempt in 0..2 {
        let service = docker
            .inspect_service(&update.id)
            .await
            .map_err(|e| (Status::Failed, format!("cannot read the service: {e}")))?;
        let spec = &service["Spec"];
        if spec_image(spec) != update.from {
            return Err((
                Status::Skipped,
                format!(
                    "the service changed since the check (its image is now {}); left for the next run",
                    spec_image(spec)
                ),
            ));
        }
        let version = service["Version"]["Index"].as_u64().unwrap_or_default();
        let before = update_status(&service);
        match docker
            .update_service(
                &update.id,
                version,
                &updated_spec(spec, update),
                auth,
                false,
            )
            .await
        {
            Ok(warnings) => {
                for warning in warnings {
                    tracing::warn!(service = %update.name, "{warning}");
                }
                return Ok(before);
            }
            Err(err) if attempt == 0 && out_of_sequence(&err) => {
                tracing::info!(service = %update.name, "the service changed meanwhile; reading it again");
            }
            Err(err) => return Err((Status::Failed, format!("cannot update the service: {err}"))),
        }
    }
    Err((
        Status::Skipped,
        "the service keeps changing under swab; left for the next run".to_owned(),
    ))
}

/// Asks Swarm to put a service back on its previous spec (`swab rollback SERVICE`) and
/// waits for it.
///
/// # Errors
///
/// When the service cannot be read or the daemon refuses (no previous spec).
pub async fn roll_back(
    docker: &Docker,
    service: &str,
    timeout: Duration,
    cancel: &Cancel,
) -> Result<Ended, String> {
    let current = docker
        .inspect_service(service)
        .await
        .map_err(|e| format!("cannot read service {service}: {e}"))?;
    if current["PreviousSpec"].is_null() {
        return Err(format!(
            "service {service} has no previous spec to go back to"
        ));
    }
    let id = current["ID"].as_str().unwrap_or(service).to_owned();
    let version = current["Version"]["Index"].as_u64().unwrap_or_default();
    let before = update_status(&current);
    docker
        .update_service(&id, version, &current["Spec"], None, true)
        .await
        .map_err(|e| format!("cannot roll service {service} back: {e}"))?;
    Ok(wait(docker, &id, &before, timeout, cancel, true).await)
}

/// Waits for the update started after `before` to end. For an asked-for rollback,
/// `rollback_completed` is the success.
async fn wait(
    docker: &Docker,
    id: &str,
    before: &(String, String),
    timeout: Duration,
    cancel: &Cancel,
    asked_rollback: bool,
) -> Ended {
    let deadline = Instant::now() + timeout;
    loop {
        if Instant::now() >= deadline {
            return Ended::Failed(format!(
                "Swarm did not finish within {}; it goes on by itself",
                humantime::format_duration(timeout)
            ));
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = cancel.cancelled() => {
                return Ended::Failed("interrupted by a signal; Swarm goes on with the update by itself".to_owned());
            }
        }
        let service = match docker.inspect_service(id).await {
            Ok(service) => service,
            Err(err) => return Ended::Failed(format!("cannot read the service: {err}")),
        };
        let now = update_status(&service);
        // Still the status of an earlier update: this one has not started yet.
        if now == *before || now.0.is_empty() {
            continue;
        }
        let message = service["UpdateStatus"]["Message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match now.0.as_str() {
            "completed" => return Ended::Completed,
            "rollback_completed" if asked_rollback => return Ended::Completed,
            "rollback_completed" => {
                return Ended::RolledBack(format!("Swarm rolled the update back: {message}"));
            }
            "paused" | "rollback_paused" => {
                return Ended::Failed(format!("Swarm paused the update ({}): {message}", now.0));
            }
            _ => {}
        }
    }
}

/// How many of the service's tasks meant to run do run `image`, in words.
async fn tasks_on(docker: &Docker, id: &str, image: &str) -> String {
    let filters = Filters::new()
        .with("service", id)
        .with("desired-state", "running");
    match docker.list_tasks(&filters).await {
        Ok(tasks) => {
            let on = tasks
                .iter()
                .filter(|t| {
                    t["Spec"]["ContainerSpec"]["Image"] == image
                        && t["Status"]["State"] == "running"
                })
                .count();
            format!("{on} of {} tasks", tasks.len())
        }
        Err(err) => format!("tasks unknown ({err})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swab_rules::FailureAction;

    fn update(failure_action: Option<FailureAction>, monitor: Option<Duration>) -> ServiceUpdate {
        ServiceUpdate {
            rule: "r".to_owned(),
            id: "svc".to_owned(),
            name: "web".to_owned(),
            version: 3,
            from: "r.example/web:1@sha256:old".to_owned(),
            image: "r.example/web:1@sha256:new".to_owned(),
            reference: "r.example/web:1".to_owned(),
            digest: "sha256:new".to_owned(),
            failure_action,
            monitor,
            timeout: Duration::from_secs(60),
        }
    }

    /// Only the image changes unless the rule sets the failure action or monitor; every
    /// other field, known or not, is sent back as read.
    #[test]
    fn the_spec_keeps_everything_but_what_the_rule_sets() {
        let spec = json!({
            "Name": "web",
            "Labels": {"a": "b"},
            "TaskTemplate": {"ContainerSpec": {"Image": "r.example/web:1@sha256:old", "Args": ["sleep", "1"]}, "ForceUpdate": 0, "Future": {"x": 1}},
            "Mode": {"Replicated": {"Replicas": 2}},
            "UpdateConfig": {"Parallelism": 1, "FailureAction": "pause"},
        });
        let plain = updated_spec(&spec, &update(None, None));
        let mut expected = spec.clone();
        expected["TaskTemplate"]["ContainerSpec"]["Image"] = json!("r.example/web:1@sha256:new");
        assert_eq!(plain, expected);

        let ruled = updated_spec(
            &spec,
            &update(Some(FailureAction::Rollback), Some(Duration::from_secs(20))),
        );
        expected["UpdateConfig"]["FailureAction"] = json!("rollback");
        expected["UpdateConfig"]["Monitor"] = json!(20_000_000_000_u64);
        assert_eq!(ruled, expected);

        // A spec without UpdateConfig gets one only when the rule sets something.
        let bare = json!({"TaskTemplate": {"ContainerSpec": {"Image": "x"}}});
        assert!(updated_spec(&bare, &update(None, None))["UpdateConfig"].is_null());
        assert_eq!(
            updated_spec(&bare, &update(Some(FailureAction::Pause), None))["UpdateConfig"],
            json!({"FailureAction": "pause"})
        );
    }

    /// A daemon that answers from a script, in order, and records what it was asked.
    #[derive(Debug, Default)]
    struct Scripted {
        answers: std::sync::Mutex<Vec<(u16, String)>>,
        seen: std::sync::Mutex<Vec<String>>,
    }

    impl swab_docker::Transport for Scripted {
        fn send(
            &self,
            request: swab_docker::transport::Request,
        ) -> swab_docker::transport::BoxFuture<
            '_,
            swab_docker::Result<swab_docker::transport::Response>,
        > {
            Box::pin(async move {
                let mut line = format!("{} {}", request.method, request.path_and_query);
                if let Some(body) = &request.body {
                    let spec: Value = serde_json::from_slice(body).unwrap();
                    line = format!("{line} image={}", spec_image(&spec));
                }
                self.seen.lock().unwrap().push(line);
                let (status, body) = self.answers.lock().unwrap().remove(0);
                let mut headers = http::HeaderMap::new();
                headers.insert("api-version", "1.51".parse().unwrap());
                Ok(swab_docker::transport::Response {
                    status: http::StatusCode::from_u16(status).unwrap(),
                    headers,
                    body: Box::pin(futures_util::stream::iter([Ok(bytes::Bytes::from(body))])),
                })
            })
        }

        fn endpoint(&self) -> &'static str {
            "scripted://"
        }
    }

    fn service(version: u64, image: &str, state: Option<&str>) -> (u16, String) {
        let status = state.map_or(
            Value::Null,
            |s| json!({"State": s, "StartedAt": format!("t{version}"), "Message": "m"}),
        );
        let body = json!({
            "ID": "svc",
            "Version": {"Index": version},
            "Spec": {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": image}}},
            "UpdateStatus": status,
        });
        (200, body.to_string())
    }

    async fn apply_scripted(answers: Vec<(u16, String)>) -> (ActionReport, Vec<String>) {
        let daemon = std::sync::Arc::new(Scripted::default());
        let mut all = vec![(200, "OK".to_owned())]; // the version negotiation's _ping
        all.extend(answers);
        *daemon.answers.lock().unwrap() = all;
        let docker = Docker::with_transport(daemon.clone(), &swab_docker::ClientOptions::default());
        let report = apply(&docker, &update(None, None), None, &Cancel::new(), &|_| {}).await;
        let seen = daemon.seen.lock().unwrap().clone();
        (report, seen)
    }

    /// A version gone stale between read and write: the spec is read again and, its image
    /// still the one decided on, sent once more on the new version.
    #[tokio::test(start_paused = true)]
    async fn a_stale_version_is_read_again_and_sent_once_more() {
        let old = "r.example/web:1@sha256:old";
        let new = "r.example/web:1@sha256:new";
        let (report, seen) = apply_scripted(vec![
            service(3, old, None),
            (500, r#"{"message":"update out of sequence"}"#.to_owned()),
            service(4, old, None),
            (200, r#"{"Warnings":null}"#.to_owned()),
            service(5, new, Some("updating")),
            service(5, new, Some("completed")),
            (200, "[]".to_owned()),
        ])
        .await;
        assert_eq!(report.status, Status::Done, "{report:?}");
        let posts: Vec<&String> = seen.iter().filter(|s| s.starts_with("POST")).collect();
        assert_eq!(posts.len(), 2, "{seen:?}");
        assert!(posts[0].contains("version=3") && posts[0].ends_with(&format!("image={new}")));
        assert!(posts[1].contains("version=4"), "{seen:?}");
    }

    /// Someone else changed the image meanwhile: nothing is sent over their change.
    #[tokio::test(start_paused = true)]
    async fn a_spec_changed_by_someone_else_is_never_overwritten() {
        let (report, seen) = apply_scripted(vec![
            service(3, "r.example/web:1@sha256:old", None),
            (500, r#"{"message":"update out of sequence"}"#.to_owned()),
            service(4, "r.example/web:2@sha256:theirs", None),
        ])
        .await;
        assert_eq!(report.status, Status::Skipped, "{report:?}");
        assert!(
            report
                .error
                .as_deref()
                .unwrap()
                .contains("changed since the check"),
            "{report:?}"
        );
        assert_eq!(seen.iter().filter(|s| s.starts_with("POST")).count(), 1);
    }

    /// Swarm's own rollback is `rolled_back`, with Swarm's message; an earlier update's
    /// `completed` is not taken for this one's.
    #[tokio::test(start_paused = true)]
    async fn swarms_rollback_is_reported_and_an_earlier_status_is_not_this_ones() {
        let old = "r.example/web:1@sha256:old";
        let new = "r.example/web:1@sha256:new";
        let (report, _) = apply_scripted(vec![
            service(3, old, Some("completed")),
            (200, "{}".to_owned()),
            service(3, new, Some("completed")),
            service(5, new, Some("rollback_started")),
            service(6, old, Some("rollback_completed")),
        ])
        .await;
        assert_eq!(report.status, Status::RolledBack, "{report:?}");
        assert!(
            report.error.as_deref().unwrap().contains("Swarm rolled"),
            "{report:?}"
        );
    }

    #[test]
    fn a_stale_version_is_recognised_by_status_or_message() {
        let conflict = swab_docker::Error::Conflict {
            message: "x".to_owned(),
        };
        let sequence = swab_docker::Error::Daemon {
            status: 500,
            what: "POST".to_owned(),
            message: "rpc error: code = Unknown desc = update out of sequence".to_owned(),
        };
        let other = swab_docker::Error::Daemon {
            status: 500,
            what: "POST".to_owned(),
            message: "boom".to_owned(),
        };
        assert!(out_of_sequence(&conflict));
        assert!(out_of_sequence(&sequence));
        assert!(!out_of_sequence(&other));
    }
}
