//! ROLLBACK of a Deployment, the way `kubectl rollout undo` does it: the
//! Deployment's ReplicaSets hold the pod templates of earlier revisions; the
//! chosen one's template (minus its `pod-template-hash` label) becomes the
//! Deployment's template again, and the controller rolls out a new revision.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::Selector;
use serde_json::Value;

use super::actions::fetch;
use super::report::{ObjectReport, ObjectResult};
use super::target::Target;
use super::{DeployError, Run};

const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// ROLLBACK only knows Deployments; say so before anything is changed.
pub(crate) fn check_all_are_deployments(targets: &[Target]) -> Result<(), DeployError> {
    match targets.iter().find(|target| !target.is_deployment()) {
        None => Ok(()),
        Some(other) => Err(DeployError::InvalidDefinition {
            document: other.document,
            problem: format!(
                "ROLLBACK works on apps/v1 Deployments only, not on {} {}",
                other.resource.api_version, other.resource.kind
            ),
        }),
    }
}

/// The ROLLBACK action: to the task's `to_revision`, else the previous revision.
pub(crate) async fn rollback<'t>(
    run: &Run<'_>,
    target: &'t Target,
) -> Result<ObjectReport<'t>, DeployError> {
    rollback_to(run, target, run.task.to_revision)
        .await
        .map(|(report, _)| report)
}

/// Puts the Deployment back on the template of revision `wanted` (`None`: the
/// previous one); answers its report and the revision chosen.
pub(crate) async fn rollback_to<'t>(
    run: &Run<'_>,
    target: &'t Target,
    wanted: Option<i64>,
) -> Result<(ObjectReport<'t>, i64), DeployError> {
    let object = target.describe();
    let refuse = refusal(&object);
    let mut deployment = fetch(run, target).await?;
    if deployment.data.pointer("/spec/paused") == Some(&Value::Bool(true)) {
        return Err(refuse("the deployment is paused; resume it first".into()));
    }
    let history = revision_history(run, target, &deployment).await?;
    let current = deployment_revision(&deployment);
    let revisions: Vec<i64> = history.iter().map(|(revision, _)| *revision).collect();
    let chosen = choose_revision(&revisions, current, wanted).map_err(&refuse)?;
    let template = history
        .into_iter()
        .find(|(revision, _)| *revision == chosen)
        .map(|(_, template)| template)
        .ok_or_else(|| refuse(format!("revision {chosen} has no pod template")))?;

    // Compared as typed templates, so JSON details (e.g. a null creationTimestamp)
    // do not count as differences.
    let current_template = deployment
        .data
        .pointer("/spec/template")
        .and_then(|template| serde_json::from_value::<PodTemplateSpec>(template.clone()).ok());
    if current_template.as_ref() == Some(&template) {
        run.log(format!(
            "ROLLBACK {} → already on the template of revision {chosen}, nothing to change",
            target.title()
        ));
        return Ok((rolled_back(target, deployment), chosen));
    }
    deployment.data["spec"]["template"] = serde_json::to_value(&template)
        .map_err(|error| refuse(format!("unusable ReplicaSet template: {error}")))?;
    // Sent back as read, with its resourceVersion: if someone changed the
    // Deployment meanwhile, the API answers 409 rather than losing their change.
    deployment.metadata.managed_fields = None;
    let params = PostParams {
        field_manager: Some(run.task.field_manager().to_string()),
        ..PostParams::default()
    };
    let api = target.api(&run.client);
    let live = run
        .request(&object, api.replace(target.name(), &params, &deployment))
        .await?;
    let report = rolled_back(target, live);
    run.log(format!(
        "ROLLBACK {} → {}: template of revision {chosen}{}",
        target.title(),
        report.summary(),
        current
            .map(|current| format!(" (was revision {current})"))
            .unwrap_or_default()
    ));
    Ok((report, chosen))
}

/// Makes the error for a rollback of `object` that cannot proceed.
fn refusal(object: &str) -> impl Fn(String) -> DeployError + '_ {
    move |problem| DeployError::Rollback {
        object: object.to_string(),
        problem,
    }
}

fn rolled_back(target: &Target, live: DynamicObject) -> ObjectReport<'_> {
    ObjectReport {
        target,
        result: ObjectResult::RolledBack,
        live: Some(live),
    }
}

/// The revisions of the Deployment's ReplicaSets, each with its pod template
/// (`pod-template-hash` label removed).
async fn revision_history(
    run: &Run<'_>,
    target: &Target,
    deployment: &DynamicObject,
) -> Result<Vec<(i64, PodTemplateSpec)>, DeployError> {
    let mut history = Vec::new();
    for replica_set in owned_replica_sets(run, target, deployment).await? {
        let Some(revision) = revision_of(replica_set.metadata.annotations.as_ref()) else {
            continue;
        };
        let Some(mut template) = replica_set.spec.and_then(|spec| spec.template) else {
            continue;
        };
        if let Some(labels) = template
            .metadata
            .as_mut()
            .and_then(|meta| meta.labels.as_mut())
        {
            labels.remove(POD_TEMPLATE_HASH_LABEL);
        }
        history.push((revision, template));
    }
    Ok(history)
}

/// The workload's `spec.selector`, as a selector for list requests.
pub(crate) fn workload_selector(
    target: &Target,
    workload: &DynamicObject,
) -> Result<Selector, DeployError> {
    let object = target.describe();
    let refuse = refusal(&object);
    let selector_json = workload
        .data
        .pointer("/spec/selector")
        .cloned()
        .ok_or_else(|| refuse("it has no spec.selector".into()))?;
    serde_json::from_value::<LabelSelector>(selector_json)
        .map_err(|error| refuse(format!("unreadable spec.selector: {error}")))
        .and_then(|selector| {
            Selector::try_from(selector)
                .map_err(|error| refuse(format!("unusable spec.selector: {}", error.0)))
        })
}

/// The ReplicaSets the Deployment owns (selected by its selector, owned by its uid).
pub(crate) async fn owned_replica_sets(
    run: &Run<'_>,
    target: &Target,
    deployment: &DynamicObject,
) -> Result<Vec<ReplicaSet>, DeployError> {
    let selector = workload_selector(target, deployment)?;
    let namespace = target.namespace.as_deref().unwrap_or("default");
    let replica_sets: Api<ReplicaSet> = Api::namespaced(run.client.clone(), namespace);
    let listed = run
        .request(
            &format!("replicasets in {namespace}"),
            replica_sets.list(&ListParams::default().labels_from(&selector)),
        )
        .await?;
    let owner_uid = deployment.metadata.uid.as_deref();
    Ok(listed
        .items
        .into_iter()
        .filter(|replica_set| is_owned_by(&replica_set.metadata, owner_uid))
        .collect())
}

pub(crate) fn is_owned_by(metadata: &ObjectMeta, owner_uid: Option<&str>) -> bool {
    let owners = metadata.owner_references.iter().flatten();
    owners
        .into_iter()
        .any(|owner| Some(owner.uid.as_str()) == owner_uid)
}

/// The revision the Deployment is on (its `deployment.kubernetes.io/revision`).
pub(crate) fn deployment_revision(deployment: &DynamicObject) -> Option<i64> {
    revision_of(deployment.metadata.annotations.as_ref())
}

pub(crate) fn revision_of(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Option<i64> {
    annotations?.get(REVISION_ANNOTATION)?.trim().parse().ok()
}

/// The revision to go back to: `wanted` when given, else the highest one below
/// `current` (the previous revision); without a `current`, the newest revision
/// counts as the current one.
pub(crate) fn choose_revision(
    revisions: &[i64],
    current: Option<i64>,
    wanted: Option<i64>,
) -> Result<i64, String> {
    let mut known = revisions.to_vec();
    known.sort_unstable();
    known.dedup();
    let listed = || {
        known
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match wanted {
        Some(revision) if revision <= 0 => Err(format!(
            "to_revision must be a positive number, not {revision}"
        )),
        Some(revision) if known.contains(&revision) => Ok(revision),
        Some(revision) => Err(if known.is_empty() {
            format!("revision {revision} not found: the deployment has no revision history")
        } else {
            format!(
                "revision {revision} not found; known revisions: {}",
                listed()
            )
        }),
        None => {
            let Some(current) = current.or_else(|| known.last().copied()) else {
                return Err("no earlier revision to roll back to (no revision history)".into());
            };
            known
                .iter()
                .rev()
                .find(|revision| **revision < current)
                .copied()
                .ok_or_else(|| {
                    format!("no earlier revision to roll back to (current revision is {current})")
                })
        }
    }
}
