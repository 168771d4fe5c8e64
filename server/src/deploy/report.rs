//! The task's output: what became of each object, in a shape later tasks bind to
//! (`${stage.task.output.image}`).

use kube::api::DynamicObject;
use serde_json::{json, Map, Value};

use super::target::Target;
use super::KubernetesAction;

/// What the task did with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjectResult {
    Created,
    Applied,
    /// CREATE with `continue_on_conflict` met an existing object.
    Exists,
    Deleted,
    /// DELETE found nothing to delete.
    Absent,
    Found,
    RolledBack,
    /// A dry run: the object as the write would have made it (or, for DELETE, as it is).
    DryRun,
}

impl ObjectResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Applied => "applied",
            Self::Exists => "exists",
            Self::Deleted => "deleted",
            Self::Absent => "absent",
            Self::Found => "found",
            Self::RolledBack => "rolled-back",
            Self::DryRun => "dry-run",
        }
    }
}

/// One object's outcome, with its state in the cluster when there is one.
#[derive(Debug, Clone)]
pub(crate) struct ObjectReport<'t> {
    pub target: &'t Target,
    pub result: ObjectResult,
    /// The object as the API last answered it; `None` when it is absent or the
    /// deletion answered only a Status.
    pub live: Option<DynamicObject>,
}

impl ObjectReport<'_> {
    /// The outcome for a log line, e.g. `applied, generation 2`.
    pub fn summary(&self) -> String {
        let result = match self.result {
            ObjectResult::Exists => "already exists (continue_on_conflict)",
            ObjectResult::Absent => "already absent",
            other => other.as_str(),
        };
        match self.live.as_ref().and_then(|live| live.metadata.generation) {
            Some(generation) if self.result != ObjectResult::Deleted => {
                format!("{result}, generation {generation}")
            }
            _ => result.to_string(),
        }
    }

    /// The first container's image, for kinds that run containers.
    fn image(&self) -> Option<&str> {
        let live = self.live.as_ref()?;
        first_container_image(&self.target.resource.kind, &live.data)
    }

    fn to_json(&self) -> Value {
        let target = self.target;
        let metadata = self.live.as_ref().map(|live| &live.metadata);
        let mut entry = Map::new();
        entry.insert("kind".into(), json!(target.resource.kind));
        entry.insert("apiVersion".into(), json!(target.resource.api_version));
        entry.insert("name".into(), json!(target.name()));
        entry.insert("namespace".into(), json!(target.namespace));
        entry.insert("uid".into(), json!(metadata.and_then(|m| m.uid.as_ref())));
        entry.insert(
            "resourceVersion".into(),
            json!(metadata.and_then(|m| m.resource_version.as_ref())),
        );
        if let Some(generation) = metadata.and_then(|m| m.generation) {
            entry.insert("generation".into(), json!(generation));
        }
        entry.insert("result".into(), json!(self.result.as_str()));
        if let Some(image) = self.image() {
            entry.insert("image".into(), json!(image));
        }
        if let Some(live) = &self.live {
            if let Some(replicas) = live.data.pointer("/spec/replicas").and_then(Value::as_i64) {
                let ready = live
                    .data
                    .pointer("/status/readyReplicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                entry.insert("replicas".into(), json!(replicas));
                entry.insert("readyReplicas".into(), json!(ready));
            }
        }
        Value::Object(entry)
    }
}

/// `{"action", "objects": [...]}` plus `"image"`: the first Deployment's image.
pub(crate) fn output(action: KubernetesAction, reports: &[ObjectReport<'_>]) -> Value {
    let objects: Vec<Value> = reports.iter().map(ObjectReport::to_json).collect();
    let mut output = json!({ "action": action.as_str(), "objects": objects });
    let first_deployment = reports.iter().find(|report| report.target.is_deployment());
    if let Some(image) = first_deployment.and_then(ObjectReport::image) {
        output["image"] = json!(image);
    }
    output
}

/// The image of the first container of a workload or pod, for the kinds that
/// run containers.
pub(crate) fn first_container_image<'a>(kind: &str, data: &'a Value) -> Option<&'a str> {
    let pod_spec = match kind {
        "Pod" => "/spec",
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => "/spec/template/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => return None,
    };
    data.pointer(&format!("{pod_spec}/containers/0/image"))?
        .as_str()
}
