//! `dry_run`: every write goes to the API server with `dryRun=All`, so it is
//! defaulted, validated, admitted and answered as if stored, and nothing
//! changes. The answers are compared with the live objects ([`super::diff`]).

use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::Value;

use super::actions::fetch_if_present;
use super::diff::{self, Change, ObjectDiff};
use super::report::{self, ObjectReport, ObjectResult};
use super::target::Target;
use super::{DeployError, KubernetesAction, Run};

/// Runs the task's writes as dry runs and answers the usual output plus
/// `"dry_run": true` and `"diff"`.
pub(crate) async fn preview(run: &Run<'_>, targets: &[Target]) -> Result<Value, DeployError> {
    let mut reports = Vec::with_capacity(targets.len());
    let mut diffs = Vec::with_capacity(targets.len());
    for target in targets {
        run.check_canceled()?;
        let live = fetch_if_present(run, target).await?;
        let would_be = would_be(run, target, live.as_ref()).await?;
        let diff = diff::object_diff(
            &target.resource.kind,
            target.name(),
            target.namespace.as_deref(),
            live.as_ref().map(as_json).as_ref(),
            would_be.as_ref().map(as_json).as_ref(),
        );
        log_diff(run, target, &diff);
        diffs.push(diff);
        reports.push(ObjectReport {
            target,
            result: ObjectResult::DryRun,
            live: would_be.or(live),
        });
    }
    if run.task.wait_for_rollout {
        run.log("dry run: no rollout to wait for".into());
    }
    let mut output = report::output(run.task.action, &reports);
    output["dry_run"] = Value::Bool(true);
    output["diff"] = diff::output(&diffs);
    Ok(output)
}

/// The object as the action would leave it (`None`: deleted or absent).
async fn would_be(
    run: &Run<'_>,
    target: &Target,
    live: Option<&DynamicObject>,
) -> Result<Option<DynamicObject>, DeployError> {
    let api = target.api(&run.client);
    let object = target.describe();
    match run.task.action {
        KubernetesAction::Apply => {
            let params = PatchParams::apply(run.task.field_manager())
                .force()
                .dry_run();
            let patch = Patch::Apply(&target.object);
            run.request(&object, api.patch(target.name(), &params, &patch))
                .await
                .map(Some)
        }
        KubernetesAction::Create => {
            let params = PostParams {
                dry_run: true,
                field_manager: Some(run.task.field_manager().to_string()),
            };
            match run
                .unless_canceled(api.create(&params, &target.object))
                .await?
            {
                Ok(created) => Ok(Some(created)),
                // As the real CREATE would: an existing object is no change, or a failure.
                Err(kube::Error::Api(status))
                    if status.is_already_exists() && run.task.continue_on_conflict =>
                {
                    Ok(live.cloned())
                }
                Err(error) => Err(DeployError::from_kube(&object, error)),
            }
        }
        KubernetesAction::Delete => {
            if live.is_some() {
                let params = DeleteParams {
                    dry_run: true,
                    ..DeleteParams::background()
                };
                // Asked anyway, so a DELETE the account may not do fails here too.
                run.request(&object, api.delete(target.name(), &params))
                    .await?;
            }
            Ok(None)
        }
        // Validation refuses dry_run for these; reading changes nothing anyway.
        KubernetesAction::Get | KubernetesAction::Rollback => Ok(live.cloned()),
    }
}

/// The whole object (metadata and all) as JSON, as the diff compares it.
fn as_json(object: &DynamicObject) -> Value {
    // A DynamicObject is JSON to begin with; this cannot fail.
    serde_json::to_value(object).unwrap_or(Value::Null)
}

fn log_diff(run: &Run<'_>, target: &Target, diff: &ObjectDiff) {
    let title = target.title();
    match diff.change {
        Change::None => run.log(format!("DRY RUN {title}: no change")),
        Change::Create => run.log(format!("DRY RUN {title}: would be created")),
        Change::Delete => run.log(format!("DRY RUN {title}: would be deleted")),
        Change::Update => {
            run.log(format!("DRY RUN {title}: would change"));
            for field in &diff.fields {
                run.log(format!(
                    "  {}: {} → {}",
                    field.path,
                    field.before.as_deref().unwrap_or("(none)"),
                    field.after.as_deref().unwrap_or("(none)")
                ));
            }
            if diff.omitted_fields > 0 {
                run.log(format!("  … and {} more field(s)", diff.omitted_fields));
            }
        }
    }
}
