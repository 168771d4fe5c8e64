//! A stand-in for the Deployment controller: ReplicaSets per pod template,
//! revision annotations, and a rollout that becomes available after a delay.
//!
//! ReplicaSet and Deployment status are written directly with the numbers and
//! conditions `kubectl rollout status` (and `kube::runtime::conditions`) read;
//! the current ReplicaSet's pods come from [`super::pods`], and an image that
//! cannot start there keeps the rollout from ever becoming available.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::fields::ManagedFields;
use super::pods::{self, PodFate};
use super::resources::{self, ResourceType};
use super::store::{owner_uids, Cluster, ObjectKey, StoredObject};

pub(crate) const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// Per-deployment override of the rollout delay, in milliseconds, or `never` to
/// keep the rollout in progress forever (for timeout tests).
pub(crate) const ROLLOUT_DELAY_ANNOTATION: &str = "standin.slipway.dev/rollout-delay-ms";
const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// Something the controller will do later, unless the deployment changes first.
#[derive(Debug, Clone)]
pub(crate) struct RolloutTimer {
    pub key: ObjectKey,
    pub generation: i64,
    pub after: Duration,
    pub outcome: RolloutOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RolloutOutcome {
    /// All replicas of the new ReplicaSet became available.
    Available,
    /// `spec.progressDeadlineSeconds` passed first.
    DeadlineExceeded,
}

pub(crate) fn is_deployment(key: &ObjectKey) -> bool {
    key.group == "apps" && key.plural == "deployments"
}

fn replica_sets() -> &'static ResourceType {
    resources::find("apps", "v1", "replicasets").expect("replicasets are served")
}

/// Brings the deployment's ReplicaSets and status in line with its spec, after a
/// write to it. A new generation starts a rollout; returns the timers to run.
pub(crate) fn reconcile(
    cluster: &mut Cluster,
    key: &ObjectKey,
    default_delay: Duration,
    now: &str,
) -> Vec<RolloutTimer> {
    let Some(stored) = cluster.get(key) else {
        return Vec::new();
    };
    let mut deployment = stored.object.clone();
    let generation = stored.generation();
    let (replica_set_name, template_changed, revision) =
        ensure_replica_set(cluster, &deployment, now);

    deployment["metadata"]["annotations"][REVISION_ANNOTATION] = json!(revision.to_string());
    let observed = deployment
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    let mut timers = Vec::new();
    if observed != Some(generation) {
        let desired = desired_replicas(&deployment);
        deployment["status"] = rollout_started_status(
            &deployment,
            desired,
            template_changed,
            &replica_set_name,
            now,
        );
        // Pods that cannot start never make the rollout available.
        let template = deployment.pointer("/spec/template").unwrap_or(&Value::Null);
        let delay = match PodFate::of_template(template) {
            PodFate::Starts => rollout_delay(&deployment, default_delay),
            PodFate::PullFails | PodFate::Crashes => None,
        };
        let ready = delay == Some(Duration::ZERO);
        if ready {
            deployment["status"] =
                rollout_complete_status(&deployment, desired, &replica_set_name, now);
            mark_replica_set_ready(cluster, key, &replica_set_name, desired);
        } else {
            timers = rollout_timers(key, generation, delay, &deployment);
        }
        let replica_set_key = replica_set_key(key, &replica_set_name);
        pods::sync(cluster, &deployment, &replica_set_key, desired, ready, now);
    }
    if Some(&deployment) != cluster.get(key).map(|stored| &stored.object) {
        replace_object(cluster, key.clone(), deployment);
    }
    timers
}

/// Runs a timer set by [`reconcile`]; stale timers (the deployment changed or is gone) do nothing.
pub(crate) fn fire(cluster: &mut Cluster, timer: &RolloutTimer, now: &str) {
    let Some(stored) = cluster.get(&timer.key) else {
        return;
    };
    if stored.generation() != timer.generation {
        return;
    }
    let mut deployment = stored.object.clone();
    let replica_set_name = current_replica_set_name(&deployment);
    match timer.outcome {
        RolloutOutcome::Available => {
            let desired = desired_replicas(&deployment);
            deployment["status"] =
                rollout_complete_status(&deployment, desired, &replica_set_name, now);
            mark_replica_set_ready(cluster, &timer.key, &replica_set_name, desired);
            let replica_set_key = replica_set_key(&timer.key, &replica_set_name);
            pods::sync(cluster, &deployment, &replica_set_key, desired, true, now);
        }
        RolloutOutcome::DeadlineExceeded => {
            if condition_reason(&deployment, "Progressing") == Some("NewReplicaSetAvailable") {
                return;
            }
            let message = format!("ReplicaSet {replica_set_name:?} has timed out progressing.");
            set_condition(
                &mut deployment["status"],
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &message,
                now,
            );
        }
    }
    replace_object(cluster, timer.key.clone(), deployment);
}

fn rollout_timers(
    key: &ObjectKey,
    generation: i64,
    delay: Option<Duration>,
    deployment: &Value,
) -> Vec<RolloutTimer> {
    let deadline = Duration::from_secs(
        deployment
            .pointer("/spec/progressDeadlineSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(600),
    );
    let timer = |after, outcome| RolloutTimer {
        key: key.clone(),
        generation,
        after,
        outcome,
    };
    let mut timers = Vec::new();
    if let Some(delay) = delay {
        timers.push(timer(delay, RolloutOutcome::Available));
    }
    if delay.is_none_or(|delay| delay > deadline) {
        timers.push(timer(deadline, RolloutOutcome::DeadlineExceeded));
    }
    timers
}

/// `None` means the rollout never completes.
fn rollout_delay(deployment: &Value, default_delay: Duration) -> Option<Duration> {
    let annotation = deployment
        .pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(ROLLOUT_DELAY_ANNOTATION))
        .and_then(Value::as_str);
    match annotation.map(str::trim) {
        Some("never") => None,
        Some(millis) => Some(
            millis
                .parse()
                .map(Duration::from_millis)
                .unwrap_or(default_delay),
        ),
        None => Some(default_delay),
    }
}

fn desired_replicas(deployment: &Value) -> i64 {
    deployment
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn current_replica_set_name(deployment: &Value) -> String {
    let name = deployment
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let template = deployment
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    format!("{name}-{}", pod_template_hash(&template))
}

/// Finds or creates the ReplicaSet for the current pod template and scales the
/// others to zero. Returns its name, whether the template differs from the one
/// that was running, and its revision.
fn ensure_replica_set(cluster: &mut Cluster, deployment: &Value, now: &str) -> (String, bool, u64) {
    let uid = deployment
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let namespace = deployment
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let desired = desired_replicas(deployment);
    let name = current_replica_set_name(deployment);

    let owned: Vec<(ObjectKey, Value)> = cluster
        .list(replica_sets(), Some(&namespace))
        .filter(|(_, stored)| owner_uids(&stored.object).any(|owner| owner == uid))
        .map(|(key, stored)| (key.clone(), stored.object.clone()))
        .collect();
    let max_revision = owned
        .iter()
        .map(|(_, replica_set)| revision_of(replica_set))
        .max()
        .unwrap_or(0);
    let previously_scaled_up = owned
        .iter()
        .find(|(_, replica_set)| {
            replica_set
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                > 0
        })
        .map(|(key, _)| key.name.clone());

    let key = ObjectKey::new(replica_sets(), Some(&namespace), &name);
    let revision = match owned.iter().find(|(owned_key, _)| *owned_key == key) {
        Some((_, existing)) => {
            // Going back to an older template (a rollback) makes it the newest revision.
            let revision = if revision_of(existing) < max_revision {
                max_revision + 1
            } else {
                revision_of(existing)
            };
            let mut updated = existing.clone();
            updated["metadata"]["annotations"][REVISION_ANNOTATION] = json!(revision.to_string());
            updated["spec"]["replicas"] = json!(desired);
            if updated != *existing {
                replace_object(cluster, key.clone(), updated);
            }
            revision
        }
        None => {
            let revision = max_revision + 1;
            let replica_set = new_replica_set(deployment, &name, revision, now);
            cluster.put(
                key.clone(),
                StoredObject {
                    object: replica_set,
                    managed_fields: ManagedFields::default(),
                },
            );
            revision
        }
    };
    for (old_key, old) in owned.iter().filter(|(owned_key, _)| *owned_key != key) {
        if old.pointer("/spec/replicas").and_then(Value::as_i64) != Some(0) {
            let mut scaled_down = old.clone();
            scaled_down["spec"]["replicas"] = json!(0);
            scaled_down["status"] =
                json!({"replicas": 0, "observedGeneration": old.pointer("/metadata/generation")});
            replace_object(cluster, old_key.clone(), scaled_down);
        }
    }
    let template_changed = previously_scaled_up.is_some_and(|previous| previous != name);
    (name, template_changed, revision)
}

fn new_replica_set(deployment: &Value, name: &str, revision: u64, now: &str) -> Value {
    let hash = name.rsplit('-').next().unwrap_or_default();
    let mut template = deployment
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    template["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(hash);
    let mut selector = deployment
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    selector["matchLabels"][POD_TEMPLATE_HASH] = json!(hash);
    let desired = desired_replicas(deployment);
    let metadata = |field: &str| {
        deployment
            .pointer(&format!("/metadata/{field}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": metadata("namespace"),
            "uid": uuid::Uuid::new_v4().to_string(),
            "generation": 1,
            "creationTimestamp": now,
            "labels": template["metadata"]["labels"].clone(),
            "annotations": {
                REVISION_ANNOTATION: revision.to_string(),
                "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                "deployment.kubernetes.io/max-replicas": (desired + 1).to_string(),
            },
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": metadata("name"),
                "uid": metadata("uid"),
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": {"replicas": desired, "selector": selector, "template": template},
        "status": {"replicas": desired, "fullyLabeledReplicas": desired, "observedGeneration": 1},
    })
}

fn replica_set_key(deployment_key: &ObjectKey, name: &str) -> ObjectKey {
    ObjectKey::new(replica_sets(), Some(&deployment_key.namespace), name)
}

fn mark_replica_set_ready(
    cluster: &mut Cluster,
    deployment_key: &ObjectKey,
    name: &str,
    replicas: i64,
) {
    let key = replica_set_key(deployment_key, name);
    let Some(stored) = cluster.get(&key) else {
        return;
    };
    let mut replica_set = stored.object.clone();
    replica_set["status"] = json!({
        "replicas": replicas,
        "fullyLabeledReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "observedGeneration": replica_set.pointer("/metadata/generation"),
    });
    replace_object(cluster, key, replica_set);
}

/// Writes a controller-made change, keeping the object's field managers.
fn replace_object(cluster: &mut Cluster, key: ObjectKey, object: Value) {
    let managed_fields = cluster
        .get(&key)
        .map(|stored| stored.managed_fields.clone())
        .unwrap_or_default();
    cluster.put(
        key,
        StoredObject {
            object,
            managed_fields,
        },
    );
}

fn revision_of(object: &Value) -> u64 {
    object
        .pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(REVISION_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|revision| revision.parse().ok())
        .unwrap_or(0)
}

/// Status while new pods start: old pods (if any) stay available meanwhile.
fn rollout_started_status(
    deployment: &Value,
    desired: i64,
    template_changed: bool,
    replica_set: &str,
    now: &str,
) -> Value {
    let previously_available = deployment
        .pointer("/status/availableReplicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let (replicas, available) = if template_changed {
        (desired + previously_available, previously_available)
    } else {
        (desired, previously_available.min(desired))
    };
    let mut status = json!({
        "observedGeneration": deployment.pointer("/metadata/generation"),
        "replicas": replicas,
        "updatedReplicas": desired,
        "readyReplicas": available,
        "availableReplicas": available,
        // As the controller counts it: every replica of every ReplicaSet, less the available ones.
        "unavailableReplicas": (replicas - available).max(0),
        "conditions": deployment.pointer("/status/conditions").cloned().unwrap_or_else(|| json!([])),
    });
    if available > 0 {
        set_condition(
            &mut status,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            now,
        );
    } else {
        set_condition(
            &mut status,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
        );
    }
    let message = format!("ReplicaSet {replica_set:?} is progressing.");
    set_condition(
        &mut status,
        "Progressing",
        "True",
        "ReplicaSetUpdated",
        &message,
        now,
    );
    status
}

/// Status once every replica of the new ReplicaSet is available.
fn rollout_complete_status(
    deployment: &Value,
    desired: i64,
    replica_set: &str,
    now: &str,
) -> Value {
    let mut status = json!({
        "observedGeneration": deployment.pointer("/metadata/generation"),
        "replicas": desired,
        "updatedReplicas": desired,
        "readyReplicas": desired,
        "availableReplicas": desired,
        "conditions": deployment.pointer("/status/conditions").cloned().unwrap_or_else(|| json!([])),
    });
    set_condition(
        &mut status,
        "Available",
        "True",
        "MinimumReplicasAvailable",
        "Deployment has minimum availability.",
        now,
    );
    let message = format!("ReplicaSet {replica_set:?} has successfully progressed.");
    set_condition(
        &mut status,
        "Progressing",
        "True",
        "NewReplicaSetAvailable",
        &message,
        now,
    );
    status
}

fn condition_reason<'a>(object: &'a Value, condition_type: &str) -> Option<&'a str> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|condition| condition.get("type").and_then(Value::as_str) == Some(condition_type))?
        .get("reason")
        .and_then(Value::as_str)
}

/// Sets a condition in `status.conditions`, keeping `lastTransitionTime` when
/// the condition's status did not change, as controllers do.
fn set_condition(
    status_object: &mut Value,
    condition_type: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) {
    if !status_object["conditions"].is_array() {
        status_object["conditions"] = json!([]);
    }
    let Some(conditions) = status_object["conditions"].as_array_mut() else {
        return;
    };
    let existing = conditions.iter().position(|condition| {
        condition.get("type").and_then(Value::as_str) == Some(condition_type)
    });
    let transition_time = existing
        .map(|index| &conditions[index])
        .filter(|condition| condition.get("status").and_then(Value::as_str) == Some(status))
        .and_then(|condition| condition.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now));
    let condition = json!({
        "type": condition_type,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": transition_time,
        "reason": reason,
        "message": message,
    });
    match existing {
        Some(index) => conditions[index] = condition,
        None => conditions.push(condition),
    }
}

/// The `pod-template-hash` label: FNV-1a of the template, spelled with the same
/// vowel-free alphabet Kubernetes uses so it never forms words.
pub(crate) fn pod_template_hash(template: &Value) -> String {
    const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut template = template.clone();
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    let mut hash: u32 = 0x811c_9dc5;
    for byte in canonical_json(&template).bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash.to_string()
        .bytes()
        .map(|digit| SAFE_ALPHABET[usize::from(digit) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// JSON with object keys sorted, so equal templates hash equally whatever the
/// key order the client sent.
fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|key| {
                    format!(
                        "{}:{}",
                        Value::String(key.clone()),
                        canonical_json(&object[key])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

/// Fields the API server fills in when a client leaves them out, for the kinds
/// whose defaults matter to rollouts. Container-level defaults are skipped on
/// purpose: containers are an atomic list here (see `fields`), and defaulting
/// inside it would make identical applies look different.
pub(crate) fn apply_workload_defaults(resource: &ResourceType, object: &mut Value) {
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let mut default = |field: &str, value: Value| {
        spec.entry(field.to_string()).or_insert(value);
    };
    match resource.kind {
        "Deployment" => {
            default("replicas", json!(1));
            default("revisionHistoryLimit", json!(10));
            default("progressDeadlineSeconds", json!(600));
            default(
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
        }
        "ReplicaSet" | "StatefulSet" => default("replicas", json!(1)),
        _ => {}
    }
    if let Some(pod_spec) = spec
        .get_mut("template")
        .and_then(|template| template.get_mut("spec"))
        .and_then(Value::as_object_mut)
    {
        default_pod_spec(pod_spec, resource.kind != "Job");
    }
}

fn default_pod_spec(pod_spec: &mut Map<String, Value>, restart_always: bool) {
    if restart_always {
        pod_spec.entry("restartPolicy").or_insert(json!("Always"));
    }
    pod_spec.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    pod_spec
        .entry("terminationGracePeriodSeconds")
        .or_insert(json!(30));
    pod_spec
        .entry("schedulerName")
        .or_insert(json!("default-scheduler"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_hash_ignores_key_order_and_the_hash_label() {
        let one = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": 1}});
        let other = json!({"spec": {"x": 1}, "metadata": {"labels": {"b": "2", "a": "1", POD_TEMPLATE_HASH: "zzz"}}});
        assert_eq!(pod_template_hash(&one), pod_template_hash(&other));
        assert_ne!(
            pod_template_hash(&one),
            pod_template_hash(&json!({"spec": {"x": 2}}))
        );
    }
}
