//! The health gate: a replacement must turn healthy (with a HEALTHCHECK) or keep running
//! without a restart for the gate's length (without one). Polls the container; the clock is
//! tokio's, so tests run it on a paused clock.

use std::time::Duration;

use tokio::time::Instant;

use super::{GateFailure, Step, UpdateEngine, UpdateError};
use crate::cancel::Cancel;

/// How often the health gate looks at a replacement.
const POLL: Duration = Duration::from_millis(250);

/// Waits until the container is healthy (with a HEALTHCHECK) or has kept running, without
/// a restart, for `timeout` (without one). Only [`UpdateError::Gate`] is the image's fault.
pub(super) async fn health_gate(
    engine: &dyn UpdateEngine,
    id: &str,
    timeout: Duration,
    cancel: &Cancel,
) -> Result<(), UpdateError> {
    let deadline = Instant::now() + timeout;
    let inspect = || async {
        engine
            .inspect_container(id)
            .await
            .map_err(UpdateError::docker(Step::InspectReplacement))
    };
    let first = inspect().await?;
    let started = first.state.started_at.clone();
    loop {
        let now = inspect().await?;
        let state = &now.state;
        if state.restarting
            || now.restart_count > first.restart_count
            || state.started_at != started
        {
            return Err(UpdateError::Gate(GateFailure::Restarted {
                code: state.exit_code,
            }));
        }
        if !state.running {
            return Err(UpdateError::Gate(GateFailure::Exited {
                code: state.exit_code,
                oom_killed: state.oom_killed,
                error: state.error.clone(),
            }));
        }
        if let Some(health) = &state.health {
            match health.status.as_str() {
                "healthy" => return Ok(()),
                "unhealthy" => {
                    let last_output = health
                        .log
                        .last()
                        .map(|l| l.output.trim().to_owned())
                        .unwrap_or_default();
                    return Err(UpdateError::Gate(GateFailure::Unhealthy { last_output }));
                }
                _ => {}
            }
        }
        if cancel.is_cancelled() {
            return Err(UpdateError::Interrupted);
        }
        if Instant::now() >= deadline {
            return match &state.health {
                Some(h) => Err(UpdateError::Gate(GateFailure::NotHealthyInTime {
                    timeout,
                    status: h.status.clone(),
                })),
                None => Ok(()),
            };
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}
