//! Approval tasks: who may decide them, deciding them, and what waits for
//! whom. The engine parks a run WAITING at its approval tasks; a decision
//! here ends the task and hands the run back to the engine (see
//! `engine::approvals`).

use std::collections::HashMap;

use app::approval::{
    who_decides, ApprovalView, Decision, DecisionRequest, WaitingApproval, MAX_COMMENT_CHARS,
};
use app::audit::AuditAction;
use app::backend::{Actor, ApprovalsApi};
use app::error::AppError;
use app::execution::{Execution, TaskStatus, Trigger};
use app::model::ProjectRole;
use app::pipeline::{ApprovalTask, TaskSpec};

use super::executions::{run_event, run_name, summary_view};
use super::Slipway;
use crate::clock::now_millis;
use crate::engine::{decision_end, decision_output};
use crate::errors::internal;
use crate::store::{ApprovalDecision, ExecutionRecord, TaskRunRecord};

/// The approval task a task run ran, with its bindings resolved (its stored inputs).
pub(crate) fn approval_of(task: &TaskRunRecord) -> Option<ApprovalTask> {
    match serde_json::from_str::<TaskSpec>(task.inputs.as_deref()?).ok()? {
        TaskSpec::Approval(approval) => Some(approval),
        _ => None,
    }
}

/// How an approval task looks to a reader who may not decide it (yet).
pub(crate) fn approval_view(task: &TaskRunRecord) -> Option<ApprovalView> {
    let approval = approval_of(task)?;
    Some(ApprovalView {
        summary: approval.summary,
        approvers: approval.approvers,
        approver_roles: approval.approver_roles,
        allow_self_approval: approval.allow_self_approval,
        expires_at: task
            .expires_at
            .filter(|_| task.status == TaskStatus::Waiting),
        preview: task
            .output
            .as_deref()
            .and_then(|output| serde_json::from_str::<serde_json::Value>(output).ok())
            .and_then(|output| output.get("preview").cloned()),
        can_decide: false,
        refusal: None,
    })
}

/// Who an approval task lets decide: what [`refusal`] reads of it.
#[derive(Clone, Copy)]
struct Deciders<'a> {
    approvers: &'a [String],
    approver_roles: &'a [String],
    allow_self_approval: bool,
}

impl<'a> Deciders<'a> {
    fn of(approval: &'a ApprovalTask) -> Self {
        Deciders {
            approvers: &approval.approvers,
            approver_roles: &approval.approver_roles,
            allow_self_approval: approval.allow_self_approval,
        }
    }
}

/// Why `actor` (with `role` in the run's project) may not decide, as `deciders`
/// allow, for a run started by (or running as) `started_by`; `None` when they may.
fn refusal(
    actor: &Actor,
    role: Option<ProjectRole>,
    deciders: Deciders<'_>,
    started_by: Option<&str>,
) -> Option<String> {
    let name = actor.user.username.as_str();
    let named = deciders
        .approvers
        .iter()
        .any(|approver| approver.trim() == name);
    // A role names that role and the ones above it.
    let by_role = deciders
        .approver_roles
        .iter()
        .filter_map(|role| ProjectRole::parse(role))
        .any(|needed| role.is_some_and(|role| role >= needed));
    if !named && !by_role {
        return Some(format!(
            "only {} may approve or reject this run",
            who_decides(deciders.approvers, deciders.approver_roles)
        ));
    }
    if !deciders.allow_self_approval && started_by == Some(name) {
        return Some(
            "you started this run (or it runs as you), so someone else must approve it; \
             the task's allow_self_approval lets the starter decide"
                .to_string(),
        );
    }
    None
}

/// Who a run counts as started by: the user it is attributed to.
fn started_by(record: &ExecutionRecord) -> Result<Option<String>, AppError> {
    let trigger: Trigger = serde_json::from_str(&record.trigger).map_err(internal)?;
    Ok(trigger.user)
}

/// `stage.task`, how requests and pages name a task of a run.
fn task_place(task: &TaskRunRecord) -> String {
    format!("{}.{}", task.stage_name, task.task_name)
}

impl Slipway {
    /// Fills in, on each approval task of `execution`, whether `actor` may decide it now.
    pub(crate) fn mark_approval_rights(
        actor: &Actor,
        role: Option<ProjectRole>,
        record: &ExecutionRecord,
        execution: &mut Execution,
    ) -> Result<(), AppError> {
        let started_by = started_by(record)?;
        for task in execution
            .stages
            .iter_mut()
            .flat_map(|stage| stage.tasks.iter_mut())
        {
            let waiting = task.status == TaskStatus::Waiting;
            let Some(view) = task.approval.as_mut() else {
                continue;
            };
            if !waiting {
                continue;
            }
            let deciders = Deciders {
                approvers: &view.approvers,
                approver_roles: &view.approver_roles,
                allow_self_approval: view.allow_self_approval,
            };
            view.refusal = refusal(actor, role, deciders, started_by.as_deref());
            view.can_decide = view.refusal.is_none();
        }
        Ok(())
    }

    /// The waiting approval task a decision is about: the one named, or the
    /// only one waiting.
    fn decided_task(
        execution_id: i64,
        tasks: Vec<TaskRunRecord>,
        named: Option<&str>,
    ) -> Result<TaskRunRecord, AppError> {
        let Some(named) = named.map(str::trim).filter(|named| !named.is_empty()) else {
            let mut waiting: Vec<TaskRunRecord> = tasks
                .into_iter()
                .filter(|task| task.status == TaskStatus::Waiting)
                .collect();
            return match waiting.len() {
                0 => Err(AppError::conflict(format!(
                    "execution {execution_id} has no approval waiting"
                ))),
                1 => Ok(waiting.remove(0)),
                _ => Err(AppError::invalid(
                    "task",
                    &format!(
                        "several approvals wait: name one of {}",
                        waiting
                            .iter()
                            .map(task_place)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            };
        };
        let task = tasks
            .into_iter()
            .find(|task| task_place(task) == named)
            .ok_or_else(|| {
                AppError::invalid(
                    "task",
                    &format!(
                        "execution {execution_id} has no task `{named}` that has started: \
                         write <stage>.<task>"
                    ),
                )
            })?;
        if task.task_type != "approval" {
            return Err(AppError::invalid(
                "task",
                &format!("`{named}` is a {} task, not an approval", task.task_type),
            ));
        }
        if task.status != TaskStatus::Waiting {
            return Err(AppError::conflict(format!(
                "approval `{named}` is not waiting: it is {}",
                task.status.as_str()
            )));
        }
        Ok(task)
    }
}

#[async_trait::async_trait]
impl ApprovalsApi for Slipway {
    #[tracing::instrument(skip(self, actor, request), fields(user = %actor.user.username))]
    async fn decide_approval(
        &self,
        actor: &Actor,
        execution_id: i64,
        decision: Decision,
        request: DecisionRequest,
    ) -> Result<Execution, AppError> {
        let (record, role) = self.visible_execution(actor, execution_id).await?;
        if request.comment.chars().count() > MAX_COMMENT_CHARS {
            return Err(AppError::invalid(
                "comment",
                &format!("must be at most {MAX_COMMENT_CHARS} characters"),
            ));
        }
        let tasks = self.store.task_runs(record.id).await?;
        let task = Self::decided_task(record.id, tasks, request.task.as_deref())?;
        let approval = approval_of(&task).ok_or(AppError::Internal)?;
        if let Some(why) = refusal(
            actor,
            role,
            Deciders::of(&approval),
            started_by(&record)?.as_deref(),
        ) {
            return Err(AppError::forbidden(why));
        }
        let now = now_millis();
        let name = actor.user.username.as_str();
        let comment = request.comment.trim();
        let output = decision_output(
            decision.as_str(),
            Some(name),
            comment,
            now,
            task.output.as_deref(),
        )
        .to_string();
        let (status, error) = decision_end(decision, name, comment);
        let decided = self
            .store
            .decide_approval(
                record.id,
                task.id,
                ApprovalDecision {
                    status,
                    output: &output,
                    error: error.as_deref(),
                    now,
                },
            )
            .await?;
        if !decided {
            return Err(AppError::conflict(format!(
                "approval `{}` was decided, expired or canceled meanwhile",
                task_place(&task)
            )));
        }
        tracing::info!(
            execution = record.id,
            decision = decision.as_str(),
            "approval decided"
        );
        self.live.publish(app::live::LiveEvent::Task {
            execution_id: record.id,
            project_id: record.project_id,
            task_run_id: task.id,
            status,
        });
        self.signals.run_queued();
        let summary = summary_view(record.clone())?;
        let run = run_name(&summary);
        let action = match decision {
            Decision::Approved => AuditAction::RunApproved,
            Decision::Rejected => AuditAction::RunRejected,
        };
        self.audit(run_event(actor, action, &summary, &run).detail("task", task_place(&task)))
            .await;
        let current = self
            .store
            .execution_by_id(record.id)
            .await?
            .ok_or(AppError::Internal)?;
        let mut execution = self.execution_view(current.clone()).await?;
        Self::mark_approval_rights(actor, role, &current, &mut execution)?;
        Ok(execution)
    }

    async fn waiting_approvals(&self, actor: &Actor) -> Result<Vec<WaitingApproval>, AppError> {
        let member = (!actor.user.is_admin).then_some(actor.user.id);
        let tasks = self.store.waiting_approvals(member).await?;
        let mut runs: HashMap<i64, Option<(ExecutionRecord, Option<ProjectRole>)>> = HashMap::new();
        let mut waiting = Vec::new();
        for task in tasks {
            if let std::collections::hash_map::Entry::Vacant(entry) = runs.entry(task.execution_id)
            {
                let run = match self.store.execution_by_id(task.execution_id).await? {
                    Some(record) => {
                        let role = self
                            .store
                            .membership(record.project_id, actor.user.id)
                            .await?;
                        Some((record, role))
                    }
                    None => None,
                };
                entry.insert(run);
            }
            let Some(Some((record, role))) = runs.get(&task.execution_id) else {
                continue;
            };
            let Some(approval) = approval_of(&task) else {
                continue;
            };
            if refusal(
                actor,
                *role,
                Deciders::of(&approval),
                started_by(record)?.as_deref(),
            )
            .is_some()
            {
                continue;
            }
            waiting.push(WaitingApproval {
                execution_id: record.id,
                project: record.project_name.clone(),
                pipeline: record.pipeline_name.clone(),
                run_number: record.run_number,
                task: task_place(&task),
                summary: approval.summary,
                expires_at: task.expires_at,
            });
        }
        Ok(waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::User;

    fn actor(name: &str) -> Actor {
        Actor {
            user: User {
                id: 7,
                username: name.to_string(),
                is_admin: false,
            },
            client: None,
        }
    }

    fn approval(approvers: &[&str], roles: &[&str], allow_self_approval: bool) -> ApprovalTask {
        ApprovalTask {
            approvers: approvers.iter().map(|name| name.to_string()).collect(),
            approver_roles: roles.iter().map(|role| role.to_string()).collect(),
            summary: String::new(),
            expires_after_seconds: 60,
            allow_self_approval,
        }
    }

    #[test]
    fn approvers_are_named_or_hold_a_role_at_least_as_high() {
        let gate = approval(&["alice"], &["developer"], false);
        assert_eq!(
            refusal(&actor("alice"), None, Deciders::of(&gate), None),
            None
        );
        assert_eq!(
            refusal(
                &actor("bob"),
                Some(ProjectRole::Administrator),
                Deciders::of(&gate),
                None
            ),
            None
        );
        let refused = refusal(
            &actor("bob"),
            Some(ProjectRole::Executor),
            Deciders::of(&gate),
            None,
        );
        assert_eq!(
            refused.as_deref(),
            Some("only alice or project developers may approve or reject this run")
        );
    }

    #[test]
    fn the_starter_may_not_approve_unless_allowed() {
        let gate = approval(&["alice"], &[], false);
        let refused = refusal(&actor("alice"), None, Deciders::of(&gate), Some("alice")).unwrap();
        assert!(refused.starts_with("you started this run"), "{refused}");
        let allowed = approval(&["alice"], &[], true);
        assert_eq!(
            refusal(&actor("alice"), None, Deciders::of(&allowed), Some("alice")),
            None
        );
    }
}
