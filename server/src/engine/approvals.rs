//! Approval tasks after their run was parked: their outputs, and the sweep
//! that fails those nobody decided in time.
//!
//! A decision (or an expiry) ends the task in the store and, once no task of
//! the run waits, makes the run RUNNING with no lease: whichever replica's
//! worker looks first takes it up, like a run whose lease ran out, keeping
//! every finished task. So a waiting run holds no worker, survives restarts
//! and can be decided on any replica.

use std::sync::Arc;
use std::time::Duration;

use app::approval::Decision;
use app::execution::TaskStatus;
use app::live::LiveEvent;
use app::model::Millis;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::clock::{now_millis, rfc3339};
use crate::store::ApprovalDecision;

/// How often each replica looks for expired approvals: an approval fails at
/// most this long after it expires.
const EXPIRY_SWEEP: Duration = Duration::from_secs(1);
/// Expired approvals ended per sweep; more wait for the next one.
const EXPIRED_PER_SWEEP: i64 = 100;
/// The failure of an approval nobody decided in time.
pub const APPROVAL_EXPIRED: &str = "approval expired";

/// The output of a decided approval task, which later tasks bind to
/// (`${stage.task.output.decision}`); the preview it waited with (what the
/// next stage would change, see `preview_stage`) stays in it.
pub fn decision_output(
    decision: &str,
    responded_by: Option<&str>,
    comment: &str,
    at: Millis,
    waiting_output: Option<&str>,
) -> Value {
    let mut output = json!({
        "decision": decision,
        "responded_by": responded_by,
        "comment": comment,
        "responded_at": rfc3339(at),
    });
    let preview = waiting_output
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|waiting| waiting.get("preview").cloned());
    if let (Some(preview), Some(fields)) = (preview, output.as_object_mut()) {
        fields.insert("preview".to_string(), preview);
    }
    output
}

/// How a decision ends its task: approved COMPLETED, rejected FAILED
/// saying who rejected it and why.
pub fn decision_end(
    decision: Decision,
    responded_by: &str,
    comment: &str,
) -> (TaskStatus, Option<String>) {
    match decision {
        Decision::Approved => (TaskStatus::Completed, None),
        Decision::Rejected if comment.trim().is_empty() => (
            TaskStatus::Failed,
            Some(format!("rejected by {responded_by}")),
        ),
        Decision::Rejected => (
            TaskStatus::Failed,
            Some(format!("rejected by {responded_by}: {}", comment.trim())),
        ),
    }
}

impl Engine {
    /// Fails expired approvals, every [`EXPIRY_SWEEP`], until `stop`. Every
    /// replica sweeps: a task ends once, by the compare-and-set of
    /// `decide_approval`, whoever gets there first.
    pub(super) async fn expire_approvals(self: Arc<Self>, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(EXPIRY_SWEEP) => {}
                _ = stop.cancelled() => return,
            }
            if let Err(error) = self.expire_due_approvals().await {
                tracing::warn!(%error, "ending expired approvals failed");
            }
        }
    }

    async fn expire_due_approvals(&self) -> crate::store::StoreResult<()> {
        let store = &self.context.store;
        let now = now_millis();
        for (execution_id, task_run_id) in store.expired_approvals(now, EXPIRED_PER_SWEEP).await? {
            let waiting_output = store
                .task_runs(execution_id)
                .await?
                .into_iter()
                .find(|task| task.id == task_run_id)
                .and_then(|task| task.output);
            let output =
                decision_output("expired", None, "", now, waiting_output.as_deref()).to_string();
            let ended = store
                .decide_approval(
                    execution_id,
                    task_run_id,
                    ApprovalDecision {
                        status: TaskStatus::Failed,
                        output: &output,
                        error: Some(APPROVAL_EXPIRED),
                        now,
                    },
                )
                .await?;
            if !ended {
                continue;
            }
            tracing::info!(execution = execution_id, "an approval expired");
            if let Some(execution) = store.execution_by_id(execution_id).await? {
                self.context.live.publish(LiveEvent::Task {
                    execution_id,
                    project_id: execution.project_id,
                    task_run_id,
                    status: TaskStatus::Failed,
                });
            }
            self.context.signals.run_queued();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_says_who_and_why() {
        assert_eq!(
            decision_end(Decision::Rejected, "bob", " not today "),
            (
                TaskStatus::Failed,
                Some("rejected by bob: not today".into())
            )
        );
        assert_eq!(
            decision_end(Decision::Rejected, "bob", ""),
            (TaskStatus::Failed, Some("rejected by bob".into()))
        );
        assert_eq!(
            decision_end(Decision::Approved, "bob", "ok"),
            (TaskStatus::Completed, None)
        );
    }

    #[test]
    fn a_decision_output_has_the_four_keys() {
        let output = decision_output("approved", Some("alice"), "ship it", 0, None);
        assert_eq!(output["decision"], "approved");
        assert_eq!(output.get("preview"), None);
        let with_preview = decision_output("approved", None, "", 0, Some(r#"{"preview":[1]}"#));
        assert_eq!(with_preview["preview"], serde_json::json!([1]));
        assert_eq!(output["responded_by"], "alice");
        assert_eq!(output["comment"], "ship it");
        assert_eq!(output["responded_at"], "1970-01-01T00:00:00Z");
    }
}
