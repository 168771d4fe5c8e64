//! The engine of the pipeline's Kubernetes task: takes a multi-document YAML
//! definition (bindings already substituted) and GETs, CREATEs, APPLYs (server-side
//! apply), DELETEs or ROLLs BACK its objects on one cluster, optionally waiting for
//! Deployment rollouts, and answers the task's output as JSON.
//!
//! A run goes in three phases so that a mistake found late does not leave the
//! cluster half-changed: parse every document, resolve every kind through API
//! discovery, and only then act on the objects in the order they were written.
//! With `wait_for_rollout`, the Deployments are awaited after all writes, under
//! one deadline (`rollout_timeout`) shared by the whole wait; a rollout that
//! cannot succeed ends the wait early (see [`rollout`]). With
//! `rollback_on_failure`, a failed rollout puts each Deployment the task moved
//! to a new revision back on the revision it had before. With `dry_run`, the
//! writes are server-side dry runs and the output's `diff` says what would change.

mod actions;
pub(crate) mod definition;
mod diff;
mod dry_run;
mod error;
mod report;
mod rollback;
mod rollout;
mod target;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use kube::Client;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use error::{DeployError, RolledBackWorkload};

use report::ObjectReport;

/// The field manager named in writes when the task names none.
pub const DEFAULT_FIELD_MANAGER: &str = "slipway";

/// How long `wait_for_rollout` waits when the task sets no timeout.
pub const DEFAULT_ROLLOUT_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a container of the revision being rolled out may stay in
/// `ImagePullBackOff`, `CrashLoopBackOff` and the like before the rollout
/// counts as failed: long enough for one pull retry to heal a blip.
pub const DEFAULT_STUCK_POD_GRACE: Duration = Duration::from_secs(10);

/// The longest wait for the rollout of a rollback after a failed rollout (the
/// task's own timeout, when shorter, applies instead).
pub const ROLLBACK_WAIT_LIMIT: Duration = Duration::from_secs(120);

/// What the task does with the objects of its definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KubernetesAction {
    /// Read each object; a missing one fails the task.
    Get,
    /// Create each object; an existing one fails the task unless `continue_on_conflict`.
    Create,
    /// Server-side apply each object (creates or updates; idempotent).
    Apply,
    /// Delete each object; a missing one is reported as absent.
    Delete,
    /// Put each Deployment back on the pod template of an earlier revision.
    Rollback,
}

impl KubernetesAction {
    pub const ALL: [Self; 5] = [
        Self::Get,
        Self::Create,
        Self::Apply,
        Self::Delete,
        Self::Rollback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Create => "CREATE",
            Self::Apply => "APPLY",
            Self::Delete => "DELETE",
            Self::Rollback => "ROLLBACK",
        }
    }

    /// Whether the action can start a rollout worth waiting for.
    fn starts_rollouts(self) -> bool {
        matches!(self, Self::Create | Self::Apply | Self::Rollback)
    }
}

impl fmt::Display for KubernetesAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action name that is none of GET, CREATE, APPLY, DELETE, ROLLBACK.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Kubernetes action {0:?} (expected GET, CREATE, APPLY, DELETE or ROLLBACK)")]
pub struct UnknownAction(pub String);

impl FromStr for KubernetesAction {
    type Err = UnknownAction;

    /// Case-insensitive, so `apply` from a hand-written pipeline works too.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim();
        Self::ALL
            .into_iter()
            .find(|action| action.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownAction(text.to_string()))
    }
}

/// One Kubernetes task as the pipeline engine hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesTask {
    pub action: KubernetesAction,
    /// Multi-document YAML, bindings already substituted.
    pub yaml: String,
    /// CREATE: an object that already exists is reported as `exists`, not a failure.
    pub continue_on_conflict: bool,
    /// CREATE, APPLY, ROLLBACK: wait until every Deployment has rolled out.
    pub wait_for_rollout: bool,
    pub rollout_timeout: Duration,
    /// Field manager for writes; empty means [`DEFAULT_FIELD_MANAGER`].
    pub field_manager: String,
    /// ROLLBACK: the revision to go back to; `None` means the previous one.
    pub to_revision: Option<i64>,
    /// CREATE, APPLY with `wait_for_rollout`: when a rollout fails, put each
    /// Deployment the task moved to a new revision back on its earlier one.
    pub rollback_on_failure: bool,
    /// CREATE, APPLY, DELETE: server-side dry run; the output's `diff` says what would change.
    pub dry_run: bool,
    /// How long a container may be stuck (see [`DEFAULT_STUCK_POD_GRACE`]).
    pub stuck_pod_grace: Duration,
}

impl KubernetesTask {
    /// A task with the defaults: no conflict tolerance, no waiting, manager "slipway".
    pub fn new(action: KubernetesAction, yaml: impl Into<String>) -> Self {
        Self {
            action,
            yaml: yaml.into(),
            continue_on_conflict: false,
            wait_for_rollout: false,
            rollout_timeout: DEFAULT_ROLLOUT_TIMEOUT,
            field_manager: DEFAULT_FIELD_MANAGER.to_string(),
            to_revision: None,
            rollback_on_failure: false,
            dry_run: false,
            stuck_pod_grace: DEFAULT_STUCK_POD_GRACE,
        }
    }

    fn field_manager(&self) -> &str {
        match self.field_manager.trim() {
            "" => DEFAULT_FIELD_MANAGER,
            manager => manager,
        }
    }
}

/// Receives one human-readable line per step of a run. `Send + Sync` so that the
/// future of [`run`] is `Send` and can be spawned.
pub type StepLog = dyn Fn(String) + Send + Sync;

/// Runs one Kubernetes task against the cluster behind `client`.
///
/// Namespaced objects without `metadata.namespace` go to `default_namespace`
/// (empty means `default`, as in kubectl). On success, answers
/// `{"action": "APPLY", "objects": [{"kind", "apiVersion", "name", "namespace",
/// "uid", "resourceVersion", "generation"?, "result", "image"?, "replicas"?,
/// "readyReplicas"?}], "image"?}`, where `result` is one of `created`, `applied`,
/// `exists`, `deleted`, `absent`, `found`, `rolled-back`, and the top-level
/// `image` is the first Deployment's. Fields other than `result` describe the
/// object as the API last answered it. Canceling `cancel` stops any request or
/// wait in progress and answers [`DeployError::Canceled`].
pub async fn run(
    client: Client,
    default_namespace: &str,
    task: &KubernetesTask,
    log: &StepLog,
    cancel: CancellationToken,
) -> Result<serde_json::Value, DeployError> {
    let run = Run {
        client,
        task,
        log,
        cancel,
    };
    let definitions = definition::parse(&task.yaml)?;
    let default_namespace = match default_namespace.trim() {
        "" => "default",
        namespace => namespace,
    };
    let targets = target::resolve_all(&run, definitions, default_namespace).await?;
    if task.action == KubernetesAction::Rollback {
        rollback::check_all_are_deployments(&targets)?;
    }
    run.log(format!(
        "{} {} object(s): {}",
        task.action,
        targets.len(),
        targets
            .iter()
            .map(|target| target.title())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    if task.dry_run {
        return dry_run::preview(&run, &targets).await;
    }
    // Read before anything is written, to know afterwards what the task moved.
    let revisions_before = if task.rollback_on_failure && task.wait_for_rollout {
        Some(revisions_of_deployments(&run, &targets).await?)
    } else {
        None
    };

    let mut reports = Vec::with_capacity(targets.len());
    for target in &targets {
        run.check_canceled()?;
        let report = match task.action {
            KubernetesAction::Get => actions::get(&run, target).await?,
            KubernetesAction::Create => actions::create(&run, target).await?,
            KubernetesAction::Apply => actions::apply(&run, target).await?,
            KubernetesAction::Delete => actions::delete(&run, target).await?,
            KubernetesAction::Rollback => rollback::rollback(&run, target).await?,
        };
        reports.push(report);
    }

    if task.wait_for_rollout && task.action.starts_rollouts() {
        match (
            wait_for_rollouts(&run, &mut reports).await,
            revisions_before,
        ) {
            (
                Err(
                    failure @ (DeployError::RolloutTimeout { .. }
                    | DeployError::RolloutFailed { .. }),
                ),
                Some(before),
            ) => {
                return Err(roll_back_after(&run, &targets, &before, failure).await);
            }
            (result, _) => result?,
        }
    }
    Ok(report::output(task.action, &reports))
}

/// Waits for every Deployment written by the run, under one shared deadline, and
/// keeps the final state of each for the output.
async fn wait_for_rollouts(
    run: &Run<'_>,
    reports: &mut [ObjectReport<'_>],
) -> Result<(), DeployError> {
    let timeout = run.task.rollout_timeout;
    let deadline = rollout::deadline_after(timeout);
    for report in reports
        .iter_mut()
        .filter(|report| report.target.is_deployment())
    {
        let live = rollout::wait_until_rolled_out(run, report.target, deadline, timeout).await?;
        report.live = Some(live);
    }
    Ok(())
}

/// The revision each Deployment target is on (`None`: absent, no revision yet,
/// or not a Deployment), in the order of the targets.
async fn revisions_of_deployments(
    run: &Run<'_>,
    targets: &[target::Target],
) -> Result<Vec<Option<i64>>, DeployError> {
    let mut revisions = Vec::with_capacity(targets.len());
    for target in targets {
        let revision = match target.is_deployment() {
            true => actions::fetch_if_present(run, target)
                .await?
                .as_ref()
                .and_then(rollback::deployment_revision),
            false => None,
        };
        revisions.push(revision);
    }
    Ok(revisions)
}

/// After the rollout `failure`, puts every Deployment the task moved off the
/// revision it had before back on that revision, awaits those rollouts
/// (bounded by [`ROLLBACK_WAIT_LIMIT`]), and answers the error that says both.
async fn roll_back_after(
    run: &Run<'_>,
    targets: &[target::Target],
    revisions_before: &[Option<i64>],
    failure: DeployError,
) -> DeployError {
    run.log(format!("{failure}; rolling back"));
    let mut rolled_back = Vec::new();
    let mut not_rolled_back = Vec::new();
    let timeout = run.task.rollout_timeout.min(ROLLBACK_WAIT_LIMIT);
    let deadline = rollout::deadline_after(timeout);
    for (target, before) in targets.iter().zip(revisions_before) {
        if !target.is_deployment() {
            continue;
        }
        let Some(before) = *before else {
            not_rolled_back.push(format!(
                "{} had no earlier revision (the task created it)",
                target.describe()
            ));
            continue;
        };
        let outcome = async {
            let now = actions::fetch(run, target).await?;
            if rollback::deployment_revision(&now) == Some(before) {
                return Ok(None);
            }
            let (_, revision) = rollback::rollback_to(run, target, Some(before)).await?;
            let live = rollout::wait_until_rolled_out(run, target, deadline, timeout).await?;
            Ok::<_, DeployError>(Some(RolledBackWorkload {
                kind: target.resource.kind.clone(),
                name: target.name().to_string(),
                namespace: target.namespace.clone(),
                revision,
                image: report::first_container_image(&target.resource.kind, &live.data)
                    .map(str::to_string),
            }))
        };
        match outcome.await {
            Ok(Some(workload)) => {
                run.log(format!("{}: {workload}", target.describe()));
                rolled_back.push(workload);
            }
            Ok(None) => {}
            Err(DeployError::Canceled) => return DeployError::Canceled,
            Err(error) => not_rolled_back.push(error.to_string()),
        }
    }
    DeployError::RolledBack {
        failure: Box::new(failure),
        rolled_back,
        not_rolled_back,
    }
}

/// What every step of a run needs: the cluster, the task, the log and the cancel switch.
struct Run<'a> {
    client: Client,
    task: &'a KubernetesTask,
    log: &'a StepLog,
    cancel: CancellationToken,
}

impl Run<'_> {
    fn log(&self, line: String) {
        tracing::debug!(target: "slipway::deploy", "{line}");
        (self.log)(line);
    }

    fn check_canceled(&self) -> Result<(), DeployError> {
        if self.cancel.is_cancelled() {
            Err(DeployError::Canceled)
        } else {
            Ok(())
        }
    }

    /// Awaits `work` unless the run is canceled first.
    async fn unless_canceled<T>(&self, work: impl Future<Output = T>) -> Result<T, DeployError> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(DeployError::Canceled),
            output = work => Ok(output),
        }
    }

    /// Awaits an API request unless the run is canceled first; a failure names `object`.
    async fn request<T>(
        &self,
        object: &str,
        request: impl Future<Output = kube::Result<T>>,
    ) -> Result<T, DeployError> {
        self.unless_canceled(request)
            .await?
            .map_err(|error| DeployError::from_kube(object, error))
    }
}
