//! Keeping image last-used times current from the daemon's event stream.
//!
//! While `swab daemon` runs, every container create/start/die/destroy and image
//! pull/tag/untag records a use of the image involved. The stream reconnects with backoff
//! after the daemon restarts or its socket disappears, and each (re)connection starts with a
//! fresh snapshot of the two lists, so nothing that happened while disconnected is missed for
//! images still in use.
//!
//! A stream can also die without closing: a daemon that hangs, or a `tcp://` connection that
//! a NAT or proxy dropped for idleness, delivers nothing and never ends. Silence alone proves
//! nothing on a quiet host, so [`Liveness`] checks it: a ping after a quiet spell, and a fresh
//! subscription after a long one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::{Stream, StreamExt};
use rustc_hash::FxHashMap;
use swab_docker::models::Event;
use swab_docker::{Docker, EventsOptions, Filters};
use tokio::sync::watch;

use crate::gather::{self, LocalFilesystem};
use crate::state::State;

/// How the tracker tells a silent stream from a dead one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// After this long without an event the daemon is pinged; if it does not answer, the
    /// stream is given up and reopened with the usual backoff.
    pub quiet: Duration,
    /// After this long without an event the stream is reopened even though pings succeed,
    /// replaying from where it went quiet (`since`). A connection dropped on the way leaves
    /// the daemon answering pings on new connections while the old one never delivers again.
    pub renew: Duration,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            quiet: Duration::from_secs(60),
            renew: Duration::from_secs(15 * 60),
        }
    }
}

/// Replayed events overlap what was already recorded by this much, in case the daemon's
/// clock is behind ours; recording a use twice is harmless.
const REPLAY_MARGIN: Duration = Duration::from_secs(60);

/// Why one subscription ended.
enum Ended {
    /// It broke, closed, or the daemon stopped answering: reconnect after a backoff.
    Broken,
    /// It was silent for [`Liveness::renew`]: reopen at once, replaying from this time.
    Renew(SystemTime),
    Shutdown,
}

/// Follows events until `shutdown` turns true, recording uses into `memory`. `connected`
/// reports whether the stream is up (for metrics).
pub async fn track(
    docker: Docker,
    memory: Arc<Mutex<State>>,
    mut shutdown: watch::Receiver<bool>,
    connected: watch::Sender<bool>,
    liveness: Liveness,
) {
    let filters = Filters::new()
        .with("type", "container")
        .with("type", "image")
        .with("event", "create")
        .with("event", "start")
        .with("event", "die")
        .with("event", "destroy")
        .with("event", "pull")
        .with("event", "tag")
        .with("event", "untag");
    let mut backoff = Duration::from_secs(1);
    let mut names: FxHashMap<String, String> = FxHashMap::default();
    let mut since = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let opened = SystemTime::now();
        let stream = docker
            .events(&EventsOptions {
                filters: filters.clone(),
                since: since.take(),
                ..EventsOptions::default()
            })
            .await;
        match stream {
            Ok(stream) => {
                let _ = connected.send(true);
                resync(&docker, &memory).await;
                backoff = Duration::from_secs(1);
                let tracker = Tracker {
                    docker: &docker,
                    memory: &memory,
                    names: &mut names,
                    liveness,
                };
                match tracker.follow(stream, opened, &mut shutdown).await {
                    Ended::Shutdown => return,
                    Ended::Renew(from) => {
                        since = Some(from);
                        continue;
                    }
                    Ended::Broken => {}
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, retry_in = ?backoff, "cannot follow Docker events");
            }
        }
        let _ = connected.send(false);
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// One subscription's worth of following.
struct Tracker<'a> {
    docker: &'a Docker,
    memory: &'a Arc<Mutex<State>>,
    names: &'a mut FxHashMap<String, String>,
    liveness: Liveness,
}

impl Tracker<'_> {
    /// Records events until the stream ends, goes dead, is due for renewal, or `shutdown`.
    /// `opened` is when the subscription was asked for: the stream is known good from then.
    async fn follow(
        self,
        stream: impl Stream<Item = swab_docker::Result<Event>>,
        opened: SystemTime,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Ended {
        let mut stream = std::pin::pin!(stream);
        let mut last = opened;
        let mut silent = Duration::ZERO;
        loop {
            tokio::select! {
                item = stream.next() => match item {
                    Some(Ok(event)) => {
                        record(self.docker, self.memory, self.names, &event).await;
                        last = SystemTime::now();
                        silent = Duration::ZERO;
                    }
                    Some(Err(err)) => {
                        tracing::warn!(error = %err, "event stream broke; reconnecting");
                        return Ended::Broken;
                    }
                    None => {
                        tracing::warn!("event stream ended; reconnecting");
                        return Ended::Broken;
                    }
                },
                () = tokio::time::sleep(self.liveness.quiet) => {
                    silent += self.liveness.quiet;
                    let ping = tokio::select! {
                        ping = self.docker.ping() => ping,
                        _ = shutdown.changed() => return Ended::Shutdown,
                    };
                    if let Err(err) = ping {
                        tracing::warn!(error = %err, silent_for = ?silent,
                            "Docker does not answer while the event stream is silent; reconnecting");
                        return Ended::Broken;
                    }
                    if silent >= self.liveness.renew {
                        tracing::debug!(silent_for = ?silent, "renewing a silent event stream");
                        return Ended::Renew(last.checked_sub(REPLAY_MARGIN).unwrap_or(last));
                    }
                }
                _ = shutdown.changed() => return Ended::Shutdown,
            }
        }
    }
}

async fn resync(docker: &Docker, memory: &Arc<Mutex<State>>) {
    match gather::gather(
        docker,
        &[],
        &swab_rules::Protect::default(),
        &LocalFilesystem,
        1,
    )
    .await
    {
        Ok((snapshot, _)) => {
            if let Ok(mut state) = memory.lock() {
                // Only mark uses here: pruning records of vanished images is the runs' job.
                for c in &snapshot.containers {
                    if c.is_active() {
                        state.images.mark(&c.image_id, SystemTime::now());
                    }
                }
            }
        }
        Err(err) => tracing::warn!(error = %err, "cannot resynchronise after connecting to events"),
    }
}

async fn record(
    docker: &Docker,
    memory: &Arc<Mutex<State>>,
    names: &mut FxHashMap<String, String>,
    event: &Event,
) {
    let image = match event.kind.as_str() {
        "container" => event.actor.attributes.get("image").cloned(),
        "image" => Some(event.actor.id.clone()),
        _ => None,
    };
    let Some(image) = image.filter(|i| !i.is_empty()) else {
        return;
    };
    // A pull or tag may have moved a name to another image: resolve it afresh.
    if event.kind == "image" {
        names.remove(&image);
    }
    let id = if image.starts_with("sha256:") {
        image
    } else if let Some(id) = names.get(&image) {
        id.clone()
    } else {
        match docker.inspect_image(&image).await {
            Ok(inspect) => {
                names.insert(image, inspect.id.clone());
                inspect.id
            }
            // Untagged or deleted meanwhile: nothing to record.
            Err(_) => return,
        }
    };
    let at = u64::try_from(event.time_nano / 1_000_000_000).map_or_else(
        |_| SystemTime::now(),
        |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s),
    );
    if let Ok(mut state) = memory.lock() {
        state.images.mark(&id, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderMap, StatusCode};
    use std::sync::atomic::{AtomicBool, Ordering};
    use swab_docker::transport::{BoxFuture, Request, Response};
    use swab_docker::{ClientOptions, Transport};

    /// A daemon whose event stream opens and then never says anything nor closes; its pings
    /// answer or fail as the test says. It records every request.
    #[derive(Debug, Default)]
    struct Silent {
        pings_fail: AtomicBool,
        seen: Mutex<Vec<String>>,
    }

    impl Silent {
        fn count(&self, path: &str) -> usize {
            let seen = self.seen.lock().unwrap();
            seen.iter().filter(|p| p.contains(path)).count()
        }

        fn last(&self, path: &str) -> String {
            let seen = self.seen.lock().unwrap();
            seen.iter()
                .rev()
                .find(|p| p.contains(path))
                .cloned()
                .unwrap_or_default()
        }
    }

    impl Transport for Silent {
        fn send(&self, request: Request) -> BoxFuture<'_, swab_docker::Result<Response>> {
            Box::pin(async move {
                let path = request.path_and_query;
                self.seen.lock().unwrap().push(path.clone());
                let mut headers = HeaderMap::new();
                let (status, body): (u16, swab_docker::transport::ByteStream) =
                    if path.ends_with("/_ping") {
                        if self.pings_fail.load(Ordering::SeqCst) {
                            return Err(swab_docker::Error::Transport {
                                endpoint: "silent://".to_owned(),
                                source: "connection reset".into(),
                            });
                        }
                        headers.insert("api-version", "1.43".parse().unwrap());
                        (200, once("OK"))
                    } else if path.contains("/events") {
                        (200, Box::pin(futures_util::stream::pending()))
                    } else if path.contains("/containers/json") || path.contains("/images/json") {
                        (200, once("[]"))
                    } else {
                        (404, once(r#"{"message":"not here"}"#))
                    };
                Ok(Response {
                    status: StatusCode::from_u16(status).unwrap(),
                    headers,
                    body,
                })
            })
        }

        fn endpoint(&self) -> &'static str {
            "silent://"
        }
    }

    fn once(body: &'static str) -> swab_docker::transport::ByteStream {
        Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(
            body.as_bytes(),
        ))]))
    }

    struct Running {
        daemon: Arc<Silent>,
        connected: watch::Receiver<bool>,
        shutdown: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    }

    fn start(liveness: Liveness) -> Running {
        let daemon = Arc::new(Silent::default());
        let docker = Docker::with_transport(daemon.clone(), &ClientOptions::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (connected_tx, connected) = watch::channel(false);
        let task = tokio::spawn(track(
            docker,
            Arc::new(Mutex::new(State::new())),
            shutdown_rx,
            connected_tx,
            liveness,
        ));
        Running {
            daemon,
            connected,
            shutdown,
            task,
        }
    }

    const LIVENESS: Liveness = Liveness {
        quiet: Duration::from_secs(60),
        renew: Duration::from_secs(300),
    };

    /// A stream that says nothing while its daemon stops answering is given up and opened
    /// again; a quiet stream whose daemon answers is left alone until renewal.
    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_whose_daemon_stops_answering_is_reopened() {
        let mut run = start(LIVENESS);
        tokio::time::sleep(Duration::from_secs(150)).await;
        // Two quiet spells, two pings answered: still the first subscription.
        assert_eq!(run.daemon.count("/events"), 1);
        assert!(run.daemon.count("/_ping") >= 3, "{:?}", run.daemon.seen);
        assert!(*run.connected.borrow_and_update());

        let pings = run.daemon.count("/_ping");
        run.daemon.pings_fail.store(true, Ordering::SeqCst);
        // The next quiet spell ends at 180 s; its ping fails three times (the client's
        // retries), the stream is given up and, after a second of backoff, opened again.
        tokio::time::sleep(Duration::from_secs(35)).await;
        assert_eq!(run.daemon.count("/_ping"), pings + 3);
        assert_eq!(run.daemon.count("/events"), 2, "{:?}", run.daemon.seen);
        assert!(
            run.connected.has_changed().unwrap(),
            "the loss is reported to the metrics"
        );
        // A reconnection after a failure starts afresh: resynchronised, no replay.
        assert_eq!(run.daemon.count("/containers/json"), 2);
        assert!(!run.daemon.last("/events").contains("since="));

        run.shutdown.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(1), run.task)
            .await
            .expect("the tracker stops at shutdown")
            .unwrap();
    }

    /// A stream that stays silent for `renew` is reopened even though the daemon answers,
    /// replaying from before it went quiet so nothing in between is missed.
    #[tokio::test(start_paused = true)]
    async fn a_long_silent_stream_is_renewed_with_a_replay() {
        let run = start(LIVENESS);
        tokio::time::sleep(Duration::from_secs(290)).await;
        assert_eq!(run.daemon.count("/events"), 1, "{:?}", run.daemon.seen);
        let before = SystemTime::now();
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(run.daemon.count("/events"), 2, "{:?}", run.daemon.seen);
        let renewed = run.daemon.last("/events");
        let since = renewed
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("since="))
            .unwrap_or_else(|| panic!("a renewal replays with since=: {renewed}"));
        let secs: f64 = since.parse().unwrap();
        let before = before
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        // From when the first stream opened (wall clock, which the paused tokio clock does
        // not move), less the margin.
        assert!(
            secs <= before - 59.0 && secs > before - 120.0,
            "since={since}"
        );
        run.shutdown.send(true).unwrap();
        run.task.await.unwrap();
    }
}
