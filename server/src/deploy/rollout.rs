//! Waiting for a Deployment's rollout, with the rule `kubectl rollout status`
//! uses, and ending the wait early when the rollout cannot succeed: the
//! controller gave up (`ProgressDeadlineExceeded`), or a pod of the newest
//! revision has a container stuck in a state that does not heal by itself
//! ([`STUCK_REASONS`]) for longer than the task's `stuck_pod_grace`.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;
use tokio::time::Instant;

use super::rollback::{deployment_revision, is_owned_by, owned_replica_sets, revision_of};
use super::target::Target;
use super::{DeployError, Run};

/// Container waiting reasons that mean the pod will not start without a new
/// spec: the image cannot be pulled or named, the container keeps crashing, or
/// its configuration (a missing ConfigMap or Secret key) cannot be made.
pub(crate) const STUCK_REASONS: [&str; 5] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "CrashLoopBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
];

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
        let said = progressing_condition(data)
            .and_then(|condition| condition.get("message"))
            .and_then(Value::as_str)
            .map(|message| format!(" ({message})"))
            .unwrap_or_default();
        return RolloutState::Failed(format!(
            "it exceeded its progress deadline: Progressing=False, ProgressDeadlineExceeded{said}"
        ));
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
    progressing_condition(data)?.get("reason")?.as_str()
}

fn progressing_condition(data: &Value) -> Option<&Value> {
    data.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|condition| condition["type"] == "Progressing")
}

/// A container of a pod that waits for a reason in [`STUCK_REASONS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StuckContainer {
    pub pod: String,
    pub container: String,
    pub reason: String,
    /// What the kubelet said, e.g. `Back-off pulling image "nginx:broken"`.
    pub message: String,
}

impl StuckContainer {
    fn describe(&self, grace: Duration) -> String {
        let message = match self.message.trim() {
            "" => String::new(),
            message => format!(": {message}"),
        };
        format!(
            "pod {} container {} is in {} for more than {}s{message}",
            self.pod,
            self.container,
            self.reason,
            grace.as_secs_f64()
        )
    }
}

/// The containers (init containers included) of `pods` that wait for a stuck reason.
pub(crate) fn stuck_containers(pods: &[Pod]) -> Vec<StuckContainer> {
    let mut stuck = Vec::new();
    for pod in pods {
        let Some(status) = &pod.status else {
            continue;
        };
        let statuses = status
            .init_container_statuses
            .iter()
            .chain(status.container_statuses.iter())
            .flatten();
        for container in statuses {
            let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
                continue;
            };
            let reason = waiting.reason.as_deref().unwrap_or_default();
            if STUCK_REASONS.contains(&reason) {
                stuck.push(StuckContainer {
                    pod: pod.metadata.name.clone().unwrap_or_default(),
                    container: container.name.clone(),
                    reason: reason.to_string(),
                    message: waiting.message.clone().unwrap_or_default(),
                });
            }
        }
    }
    stuck
}

/// Remembers since when each container has been stuck (the kubelet gives no
/// time for a waiting state), so a brief `ErrImagePull` that heals on the next
/// pull does not fail the rollout.
#[derive(Debug)]
pub(crate) struct StuckWatch {
    grace: Duration,
    /// (pod, container) → (reason, first seen with it).
    first_seen: HashMap<(String, String), (String, Instant)>,
}

impl StuckWatch {
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            first_seen: HashMap::new(),
        }
    }

    /// Records what is stuck `now`, forgetting containers no longer stuck, and
    /// answers the first one stuck for longer than the grace. Moving between
    /// stuck reasons (`ErrImagePull` ↔ `ImagePullBackOff`) keeps the clock going.
    pub fn observe(&mut self, now: Instant, stuck: Vec<StuckContainer>) -> Option<StuckContainer> {
        let mut seen = HashMap::with_capacity(stuck.len());
        let mut overdue = None;
        for container in stuck {
            let key = (container.pod.clone(), container.container.clone());
            let since = self.first_seen.get(&key).map_or(now, |(_, since)| *since);
            if overdue.is_none() && now.saturating_duration_since(since) >= self.grace {
                overdue = Some(container.clone());
            }
            seen.insert(key, (container.reason, since));
        }
        self.first_seen = seen;
        overdue
    }
}

/// The pods of the Deployment's newest ReplicaSet (the revision being rolled out).
async fn newest_revision_pods(
    run: &Run<'_>,
    target: &Target,
    deployment: &DynamicObject,
) -> Result<Vec<Pod>, DeployError> {
    let revision = deployment_revision(deployment);
    let replica_sets = owned_replica_sets(run, target, deployment).await?;
    let newest = replica_sets
        .iter()
        .filter(|replica_set| {
            revision.is_none() || revision_of(replica_set.metadata.annotations.as_ref()) == revision
        })
        .max_by_key(|replica_set| revision_of(replica_set.metadata.annotations.as_ref()));
    let Some(newest) = newest else {
        return Ok(Vec::new());
    };
    let selector = super::rollback::workload_selector(target, deployment)?;
    let namespace = target.namespace.as_deref().unwrap_or("default");
    let pods: Api<Pod> = Api::namespaced(run.client.clone(), namespace);
    let listed = run
        .request(
            &format!("pods in {namespace}"),
            pods.list(&ListParams::default().labels_from(&selector)),
        )
        .await?;
    let newest_uid = newest.metadata.uid.as_deref();
    Ok(listed
        .items
        .into_iter()
        .filter(|pod| is_owned_by(&pod.metadata, newest_uid))
        .collect())
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
/// state), failed, past `deadline` (which is `timeout` after the wait began),
/// or the run is canceled.
pub(crate) async fn wait_until_rolled_out(
    run: &Run<'_>,
    target: &Target,
    deadline: Instant,
    timeout: Duration,
) -> Result<DynamicObject, DeployError> {
    let object = target.describe();
    let api = target.api(&run.client);
    let timed_out = |waiting_for: &str| DeployError::RolloutTimeout {
        object: object.clone(),
        timeout,
        waiting_for: waiting_for.to_string(),
    };
    let mut stuck_watch = StuckWatch::new(run.task.stuck_pod_grace);
    // Reading pods may be forbidden to the endpoint's account: then only the
    // progress deadline and the timeout end the wait.
    let mut pods_readable = true;
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
                if pods_readable {
                    match newest_revision_pods(run, target, &live).await {
                        Ok(pods) => {
                            let stuck = stuck_containers(&pods);
                            if let Some(first) = stuck.first() {
                                if !stuck_watch
                                    .first_seen
                                    .contains_key(&(first.pod.clone(), first.container.clone()))
                                {
                                    run.log(format!(
                                        "{object}: pod {} container {} waits: {} {}",
                                        first.pod, first.container, first.reason, first.message
                                    ));
                                }
                            }
                            if let Some(overdue) = stuck_watch.observe(Instant::now(), stuck) {
                                return Err(DeployError::RolloutFailed {
                                    object,
                                    message: overdue.describe(run.task.stuck_pod_grace),
                                });
                            }
                        }
                        Err(DeployError::Canceled) => return Err(DeployError::Canceled),
                        Err(error) => {
                            run.log(format!(
                                "{object}: cannot read its pods, so only the progress deadline and the timeout end the wait: {error}"
                            ));
                            pods_readable = false;
                        }
                    }
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
