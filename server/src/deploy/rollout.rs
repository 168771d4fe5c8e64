//! Waiting for a Deployment's rollout, with the rule `kubectl rollout status` uses.

use std::time::Duration;

use kube::api::DynamicObject;
use serde_json::Value;
use tokio::time::Instant;

use super::target::Target;
use super::{DeployError, Run};

/// Polling starts fast (short rollouts finish quickly) and slows down to spare
/// the API server during long ones.
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(100);
const LONGEST_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Where a Deployment's rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RolloutState {
    Complete,
    /// Still in progress: what it waits for, in kubectl's words.
    Waiting(String),
    /// The controller gave up (progress deadline exceeded).
    Failed(String),
}

/// kubectl's `DeploymentStatusViewer`: the controller must have observed the
/// latest generation, every replica must be updated, no old replica may remain,
/// and every updated replica must be available.
pub(crate) fn rollout_state(deployment: &DynamicObject) -> RolloutState {
    let data = &deployment.data;
    let number = |pointer: &str| data.pointer(pointer).and_then(Value::as_i64);
    let generation = deployment.metadata.generation.unwrap_or(0);
    let observed_generation = number("/status/observedGeneration").unwrap_or(0);
    if observed_generation < generation {
        return RolloutState::Waiting("the controller has not yet observed the new spec".into());
    }
    if progressing_reason(data) == Some("ProgressDeadlineExceeded") {
        return RolloutState::Failed("it exceeded its progress deadline".into());
    }
    // The API server defaults spec.replicas to 1.
    let desired = number("/spec/replicas").unwrap_or(1);
    let replicas = number("/status/replicas").unwrap_or(0);
    let updated = number("/status/updatedReplicas").unwrap_or(0);
    let available = number("/status/availableReplicas").unwrap_or(0);
    if updated < desired {
        RolloutState::Waiting(format!(
            "{updated} of {desired} new replicas have been updated"
        ))
    } else if replicas > updated {
        RolloutState::Waiting(format!(
            "{} old replicas are pending termination",
            replicas - updated
        ))
    } else if available < updated {
        RolloutState::Waiting(format!(
            "{available} of {updated} updated replicas are available"
        ))
    } else {
        RolloutState::Complete
    }
}

fn progressing_reason(data: &Value) -> Option<&str> {
    data.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|condition| condition["type"] == "Progressing")?
        .get("reason")?
        .as_str()
}

/// `timeout` from now, or far in the future when that does not fit in an `Instant`.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(CENTURY))
        .unwrap_or(now)
}

/// Polls the Deployment until its rollout is complete (answering its final
/// state), failed, past `deadline`, or the run is canceled.
pub(crate) async fn wait_until_rolled_out(
    run: &Run<'_>,
    target: &Target,
    deadline: Instant,
) -> Result<DynamicObject, DeployError> {
    let object = target.describe();
    let api = target.api(&run.client);
    let timed_out = |waiting_for: &str| DeployError::RolloutTimeout {
        object: object.clone(),
        timeout: run.task.rollout_timeout,
        waiting_for: waiting_for.to_string(),
    };
    run.log(format!(
        "Waiting for the rollout of {object} (at most {:.0}s)",
        deadline
            .saturating_duration_since(Instant::now())
            .as_secs_f64()
            .ceil()
    ));
    let mut interval = FIRST_POLL_INTERVAL;
    let mut waiting_for = String::from("no answer from the API yet");
    loop {
        // A slow answer must not stretch the wait past its deadline.
        let Ok(answer) = run
            .unless_canceled(tokio::time::timeout_at(deadline, api.get(target.name())))
            .await?
        else {
            return Err(timed_out(&waiting_for));
        };
        let live = answer.map_err(|error| DeployError::from_kube(&object, error))?;
        match rollout_state(&live) {
            RolloutState::Complete => {
                run.log(format!("{object} rolled out ({})", replica_counts(&live)));
                return Ok(live);
            }
            RolloutState::Failed(message) => {
                return Err(DeployError::RolloutFailed { object, message });
            }
            RolloutState::Waiting(now_waiting_for) => {
                if now_waiting_for != waiting_for {
                    run.log(format!("{object}: waiting, {now_waiting_for}"));
                    waiting_for = now_waiting_for;
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(timed_out(&waiting_for));
        }
        let pause = tokio::time::sleep_until(deadline.min(Instant::now() + interval));
        run.unless_canceled(pause).await?;
        interval = (interval * 2).min(LONGEST_POLL_INTERVAL);
    }
}

fn replica_counts(deployment: &DynamicObject) -> String {
    let count = |pointer: &str| {
        deployment
            .data
            .pointer(pointer)
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    format!(
        "{} of {} replicas available",
        count("/status/availableReplicas"),
        count("/spec/replicas")
    )
}
