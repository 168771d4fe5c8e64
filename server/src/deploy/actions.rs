//! GET, CREATE, APPLY and DELETE of one object.

use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};

use super::report::{ObjectReport, ObjectResult};
use super::target::Target;
use super::{DeployError, Run};

pub(crate) async fn get<'t>(
    run: &Run<'_>,
    target: &'t Target,
) -> Result<ObjectReport<'t>, DeployError> {
    let live = fetch(run, target).await?;
    Ok(finish(run, target, ObjectResult::Found, Some(live)))
}

pub(crate) async fn create<'t>(
    run: &Run<'_>,
    target: &'t Target,
) -> Result<ObjectReport<'t>, DeployError> {
    let params = PostParams {
        field_manager: Some(run.task.field_manager().to_string()),
        ..PostParams::default()
    };
    let api = target.api(&run.client);
    match run
        .unless_canceled(api.create(&params, &target.object))
        .await?
    {
        Ok(live) => Ok(finish(run, target, ObjectResult::Created, Some(live))),
        Err(kube::Error::Api(status))
            if status.is_already_exists() && run.task.continue_on_conflict =>
        {
            // Report the object as it is in the cluster, not as defined.
            let live = fetch(run, target).await?;
            Ok(finish(run, target, ObjectResult::Exists, Some(live)))
        }
        Err(error) => Err(DeployError::from_kube(&target.describe(), error)),
    }
}

/// Server-side apply with `force`: Slipway's definition wins over other field
/// managers, as the pipeline is the source of truth for what it deploys.
pub(crate) async fn apply<'t>(
    run: &Run<'_>,
    target: &'t Target,
) -> Result<ObjectReport<'t>, DeployError> {
    let params = PatchParams::apply(run.task.field_manager()).force();
    let api = target.api(&run.client);
    let live = run
        .request(
            &target.describe(),
            api.patch(target.name(), &params, &Patch::Apply(&target.object)),
        )
        .await?;
    Ok(finish(run, target, ObjectResult::Applied, Some(live)))
}

/// Deletes in the background, as kubectl does, so a Deployment's ReplicaSets
/// and pods go with it.
pub(crate) async fn delete<'t>(
    run: &Run<'_>,
    target: &'t Target,
) -> Result<ObjectReport<'t>, DeployError> {
    let api = target.api(&run.client);
    let deleted = run
        .unless_canceled(api.delete(target.name(), &DeleteParams::background()))
        .await?;
    match deleted {
        // The API answers the object (still being finalized) or just a Status.
        Ok(answer) => Ok(finish(run, target, ObjectResult::Deleted, answer.left())),
        Err(kube::Error::Api(status)) if status.is_not_found() => {
            Ok(finish(run, target, ObjectResult::Absent, None))
        }
        Err(error) => Err(DeployError::from_kube(&target.describe(), error)),
    }
}

/// Reads the object as it is in the cluster.
pub(crate) async fn fetch(run: &Run<'_>, target: &Target) -> Result<DynamicObject, DeployError> {
    let api = target.api(&run.client);
    run.request(&target.describe(), api.get(target.name()))
        .await
}

/// Reads the object as it is in the cluster; `None` when there is none.
pub(crate) async fn fetch_if_present(
    run: &Run<'_>,
    target: &Target,
) -> Result<Option<DynamicObject>, DeployError> {
    let api = target.api(&run.client);
    run.request(&target.describe(), api.get_opt(target.name()))
        .await
}

/// Logs the step's outcome and makes its report.
fn finish<'t>(
    run: &Run<'_>,
    target: &'t Target,
    result: ObjectResult,
    live: Option<DynamicObject>,
) -> ObjectReport<'t> {
    let report = ObjectReport {
        target,
        result,
        live,
    };
    run.log(format!(
        "{} {} → {}",
        run.task.action,
        target.title(),
        report.summary()
    ));
    report
}
