//! Keeping image last-used times current from the daemon's event stream.
//!
//! While `swab daemon` runs, every container create/start/die/destroy and image
//! pull/tag/untag records a use of the image involved. The stream reconnects with backoff
//! after the daemon restarts or its socket disappears, and each (re)connection starts with a
//! fresh snapshot of the two lists, so nothing that happened while disconnected is missed for
//! images still in use.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use rustc_hash::FxHashMap;
use swab_docker::models::Event;
use swab_docker::{Docker, EventsOptions, Filters};
use tokio::sync::watch;

use crate::gather::{self, LocalFilesystem};
use crate::state::State;

/// Follows events until `shutdown` turns true, recording uses into `memory`. `connected`
/// reports whether the stream is up (for metrics).
pub async fn track(
    docker: Docker,
    memory: Arc<Mutex<State>>,
    mut shutdown: watch::Receiver<bool>,
    connected: watch::Sender<bool>,
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
    loop {
        if *shutdown.borrow() {
            return;
        }
        let stream = docker
            .events(&EventsOptions {
                filters: filters.clone(),
                ..EventsOptions::default()
            })
            .await;
        match stream {
            Ok(stream) => {
                let _ = connected.send(true);
                resync(&docker, &memory).await;
                backoff = Duration::from_secs(1);
                let mut stream = Box::pin(stream);
                loop {
                    tokio::select! {
                        item = stream.next() => match item {
                            Some(Ok(event)) => record(&docker, &memory, &mut names, &event).await,
                            Some(Err(err)) => {
                                tracing::warn!(error = %err, "event stream broke; reconnecting");
                                break;
                            }
                            None => {
                                tracing::warn!("event stream ended; reconnecting");
                                break;
                            }
                        },
                        _ = shutdown.changed() => return,
                    }
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
