//! A stand-in for the scheduler and kubelet of a Deployment's pods: each
//! ReplicaSet the Deployment controller scales up gets its pods, with the
//! container statuses a real kubelet reports.
//!
//! Images are never pulled. An image reference that contains [`BROKEN_IMAGE_MARKER`]
//! cannot be pulled (the container waits in `ImagePullBackOff`), and one whose
//! tag is [`CRASHLOOP_TAG`] starts and exits with code 1 again and again
//! (`CrashLoopBackOff`); either way the rollout never becomes available.

use serde_json::{json, Value};

use super::resources::{self, ResourceType};
use super::store::{owner_uids, Cluster, ObjectKey, StoredObject};

/// An image reference containing this cannot be pulled, e.g. `nginx:broken`
/// or `registry.test/broken-app:1`.
pub(crate) const BROKEN_IMAGE_MARKER: &str = "broken";
/// An image with this tag crashes right after it starts, e.g. `nginx:crashloop`.
pub(crate) const CRASHLOOP_TAG: &str = "crashloop";
/// The node every pod is "scheduled" on.
const NODE_NAME: &str = "standin-node";
const POD_TEMPLATE_HASH: &str = "pod-template-hash";

fn pods() -> &'static ResourceType {
    resources::find("", "v1", "pods").expect("pods are served")
}

/// What becomes of a pod template's containers on the stand-in's kubelet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PodFate {
    /// Every container starts (once the rollout delay has passed).
    Starts,
    /// Some image cannot be pulled.
    PullFails,
    /// Some container exits right after starting.
    Crashes,
}

impl PodFate {
    /// The fate of the pods of `template`: the worst of its containers'.
    pub fn of_template(template: &Value) -> Self {
        let mut fate = PodFate::Starts;
        for image in images(template) {
            match image_fate(image) {
                PodFate::PullFails => return PodFate::PullFails,
                PodFate::Crashes => fate = PodFate::Crashes,
                PodFate::Starts => {}
            }
        }
        fate
    }
}

fn image_fate(image: &str) -> PodFate {
    if image.contains(BROKEN_IMAGE_MARKER) {
        return PodFate::PullFails;
    }
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_segment = without_digest.rsplit('/').next().unwrap_or(without_digest);
    match last_segment.split_once(':') {
        Some((_, tag)) if tag == CRASHLOOP_TAG => PodFate::Crashes,
        _ => PodFate::Starts,
    }
}

fn containers(template: &Value) -> impl Iterator<Item = &Value> {
    template
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn images(template: &Value) -> impl Iterator<Item = &str> {
    containers(template).filter_map(|container| container.get("image").and_then(Value::as_str))
}

/// Gives the deployment's current ReplicaSet `replicas` pods (each `ready` once
/// its containers could start). The pods of its other ReplicaSets keep serving
/// until the rollout is `ready`, then go, as in a rolling update.
pub(crate) fn sync(
    cluster: &mut Cluster,
    deployment: &Value,
    current_replica_set: &ObjectKey,
    replicas: i64,
    ready: bool,
    now: &str,
) {
    let deployment_uid = deployment
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let namespace = current_replica_set.namespace.clone();
    let Some(replica_set) = cluster
        .get(current_replica_set)
        .map(|stored| stored.object.clone())
    else {
        return;
    };
    let current_uid = replica_set
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let sibling_uids: Vec<String> = cluster
        .dependents_of(deployment_uid)
        .into_iter()
        .filter_map(|key| cluster.get(&key).map(|stored| stored.uid().to_string()))
        .collect();
    let mut mine = Vec::new();
    let mut others = Vec::new();
    for (key, pod) in cluster.list(pods(), Some(&namespace)) {
        let mut owners = owner_uids(&pod.object);
        if owners.any(|owner| owner == current_uid) {
            mine.push(key.clone());
        } else if owner_uids(&pod.object).any(|owner| sibling_uids.iter().any(|uid| uid == owner)) {
            others.push(key.clone());
        }
    }
    if ready {
        for key in &others {
            cluster.remove(key);
        }
    }
    let wanted = usize::try_from(replicas.max(0)).unwrap_or(0);
    for key in mine.iter().skip(wanted) {
        cluster.remove(key);
    }
    let template = replica_set
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let fate = PodFate::of_template(&template);
    for index in 0..wanted {
        let (key, mut pod) = match mine.get(index) {
            Some(key) => match cluster.get(key) {
                Some(stored) => (key.clone(), stored.object.clone()),
                None => continue,
            },
            None => {
                let pod = new_pod(&replica_set, &template, now);
                let name = pod["metadata"]["name"].as_str().unwrap_or_default();
                (ObjectKey::new(pods(), Some(&namespace), name), pod)
            }
        };
        let name = key.name.clone();
        let status = pod_status(&template, &name, fate, ready, now);
        if pod.get("status") != Some(&status) {
            pod["status"] = status;
            let managed_fields = cluster
                .get(&key)
                .map(|stored| stored.managed_fields.clone())
                .unwrap_or_default();
            cluster.put(
                key,
                StoredObject {
                    object: pod,
                    managed_fields,
                },
            );
        }
    }
}

fn new_pod(replica_set: &Value, template: &Value, now: &str) -> Value {
    let replica_set_name = replica_set
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = format!("{replica_set_name}-{}", random_suffix());
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(hash) = replica_set.pointer(&format!("/metadata/labels/{POD_TEMPLATE_HASH}")) {
        labels[POD_TEMPLATE_HASH] = hash.clone();
    }
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    spec["nodeName"] = json!(NODE_NAME);
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": replica_set.pointer("/metadata/namespace"),
            "uid": uuid::Uuid::new_v4().to_string(),
            "creationTimestamp": now,
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": replica_set_name,
                "uid": replica_set.pointer("/metadata/uid"),
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": spec,
    })
}

/// Five characters of the vowel-free alphabet Kubernetes uses for generated names.
fn random_suffix() -> String {
    const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|byte| SAFE_ALPHABET[usize::from(*byte) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// The pod's status as the kubelet writes it, in the words of containerd and
/// the kubelet (`kubectl describe pod` shows the same reasons and messages).
fn pod_status(template: &Value, pod: &str, fate: PodFate, ready: bool, now: &str) -> Value {
    let running = fate == PodFate::Starts && ready;
    let statuses: Vec<Value> = containers(template)
        .map(|container| {
            let name = container.get("name").and_then(Value::as_str).unwrap_or("");
            let image = container.get("image").and_then(Value::as_str).unwrap_or("");
            container_status(name, image, pod, fate, ready, now)
        })
        .collect();
    let phase = match fate {
        PodFate::Crashes => "Running",
        PodFate::Starts if ready => "Running",
        _ => "Pending",
    };
    let condition = |kind: &str, holds: bool| {
        let mut condition = json!({
            "type": kind,
            "status": if holds { "True" } else { "False" },
            "lastTransitionTime": now,
        });
        if !holds {
            condition["reason"] = json!("ContainersNotReady");
        }
        condition
    };
    json!({
        "phase": phase,
        "conditions": [
            condition("PodScheduled", true),
            condition("Initialized", true),
            condition("ContainersReady", running),
            condition("Ready", running),
        ],
        "hostIP": "10.0.0.1",
        "podIP": "10.244.0.10",
        "startTime": now,
        "qosClass": "BestEffort",
        "containerStatuses": statuses,
    })
}

fn container_status(
    name: &str,
    image: &str,
    pod: &str,
    fate: PodFate,
    ready: bool,
    now: &str,
) -> Value {
    let mut status = json!({
        "name": name,
        "image": image,
        "imageID": "",
        "ready": false,
        "started": false,
        "restartCount": 0,
    });
    let waiting =
        |reason: &str, message: String| json!({"waiting": {"reason": reason, "message": message}});
    match image_fate(image) {
        PodFate::PullFails => {
            status["state"] = waiting(
                "ImagePullBackOff",
                format!(
                    "Back-off pulling image \"{image}\": ErrImagePull: failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found"
                ),
            );
        }
        PodFate::Crashes => {
            status["state"] = waiting(
                "CrashLoopBackOff",
                format!("back-off 10s restarting failed container={name} pod={pod}"),
            );
            status["lastState"] = json!({"terminated": {
                "exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now,
            }});
            status["restartCount"] = json!(1);
        }
        // A container that could start waits while the pod's other containers cannot.
        PodFate::Starts if ready && fate == PodFate::Starts => {
            status["state"] = json!({"running": {"startedAt": now}});
            status["ready"] = json!(true);
            status["started"] = json!(true);
            status["imageID"] = json!(format!("{image}@sha256:{}", "0".repeat(64)));
        }
        PodFate::Starts => {
            status["state"] = waiting("ContainerCreating", String::new());
            if let Some(state) = status["state"]["waiting"].as_object_mut() {
                state.remove("message");
            }
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_judged_by_marker_and_tag() {
        assert_eq!(image_fate("nginx:1.27"), PodFate::Starts);
        assert_eq!(image_fate("nginx:broken"), PodFate::PullFails);
        assert_eq!(image_fate("registry.test/broken-app:1"), PodFate::PullFails);
        assert_eq!(image_fate("nginx:crashloop"), PodFate::Crashes);
        assert_eq!(image_fate("registry.test:5000/crashloop"), PodFate::Starts);
        let template = json!({"spec": {"containers": [
            {"name": "a", "image": "app:crashloop"}, {"name": "b", "image": "x:broken"},
        ]}});
        assert_eq!(PodFate::of_template(&template), PodFate::PullFails);
    }
}
