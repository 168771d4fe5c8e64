//! Runs: queueing them with their inputs, listing, following and canceling
//! them, and the views of runs and their tasks.

use crate::engine::replica_of;
use std::collections::BTreeMap;

use app::audit::{AuditAction, AuditTargetKind};
use app::backend::*;
use app::error::AppError;
use app::execution::*;
use app::model::ProjectRole;
use app::pipeline::PipelineSpec;

use super::audit::AuditEvent;
use super::Slipway;
use crate::clock::now_millis;
use crate::errors::internal;
use crate::store::{
    CancelOutcome, ExecutionRecord, LogRecord, NewExecution, NotificationRecord, PipelineRecord,
    TaskRunRecord,
};

/// Runs listed per page unless asked otherwise, and at most.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

impl Slipway {
    /// The inputs of a run: given values, else defaults; required ones must have a value.
    fn run_inputs(
        spec: &PipelineSpec,
        given: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, AppError> {
        let declared = spec.effective_inputs();
        if let Some(unknown) = given
            .keys()
            .find(|name| !declared.iter().any(|input| &input.name == *name))
        {
            // A Docker event's inputs reach only a pipeline that takes them:
            // say how, since that is what a push to such a pipeline hits.
            let how = if app::pipeline::is_docker_parameter(unknown) {
                "; turn on “Inject Docker parameters” on its Input tab to take the Docker event's inputs"
            } else {
                ""
            };
            return Err(AppError::Invalid {
                field: format!("inputs.{unknown}"),
                message: format!("the pipeline has no input '{unknown}'{how}"),
            });
        }
        let mut inputs = BTreeMap::new();
        for input in declared {
            let value = given.get(&input.name).cloned().or(input.default.clone());
            match value {
                Some(value) => {
                    inputs.insert(input.name, value);
                }
                None if input.required => {
                    return Err(AppError::Invalid {
                        field: format!("inputs.{}", input.name),
                        message: format!("input '{}' is required", input.name),
                    })
                }
                None => {
                    inputs.insert(input.name, String::new());
                }
            }
        }
        Ok(inputs)
    }

    /// Queues a run of a pipeline the caller may execute; wakes a worker.
    pub(crate) async fn queue_run(
        &self,
        record: &PipelineRecord,
        inputs: BTreeMap<String, String>,
        trigger: &Trigger,
        created_by: Option<i64>,
    ) -> Result<ExecutionSummary, AppError> {
        let inputs = self.checked_run_inputs(record, inputs)?;
        let queued = self
            .store
            .queue_execution(NewExecution {
                pipeline_id: record.id,
                project_id: record.project_id,
                inputs: &serde_json::to_string(&inputs).map_err(internal)?,
                trigger: &serde_json::to_string(trigger).map_err(internal)?,
                spec: &record.spec,
                created_by,
                now: now_millis(),
            })
            .await?;
        self.run_queued(queued.id, record);
        summary_view(queued)
    }

    /// The inputs a run of the pipeline starts with, when it may run: the
    /// pipeline is enabled and the inputs are its own, required ones given.
    pub(crate) fn checked_run_inputs(
        &self,
        record: &PipelineRecord,
        inputs: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, AppError> {
        let pipeline = self.pipeline_view(record.clone())?;
        if !pipeline.spec.enabled {
            return Err(AppError::conflict(format!(
                "pipeline '{}' is disabled; enable it to run it",
                record.name
            )));
        }
        Self::run_inputs(&pipeline.spec, inputs)
    }

    /// Wakes a worker for a committed QUEUED run and tells open pages.
    pub(crate) fn run_queued(&self, execution_id: i64, pipeline: &PipelineRecord) {
        self.signals.run_queued();
        self.live.publish(app::live::LiveEvent::Execution {
            id: execution_id,
            project_id: pipeline.project_id,
            pipeline_id: pipeline.id,
            status: ExecutionStatus::Queued,
        });
        tracing::info!(execution = execution_id, pipeline = %pipeline.name, "run queued");
    }

    pub(crate) async fn visible_execution(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(ExecutionRecord, Option<ProjectRole>), AppError> {
        let not_found = || {
            AppError::not_found(format!(
                "no execution {id} exists (or you are not a member of its project)"
            ))
        };
        let record = self
            .store
            .execution_by_id(id)
            .await?
            .ok_or_else(not_found)?;
        let role = self
            .store
            .membership(record.project_id, actor.user.id)
            .await?;
        if role.is_none() && !actor.user.is_admin {
            return Err(not_found());
        }
        Ok((record, role))
    }

    pub(crate) async fn execution_view(
        &self,
        record: ExecutionRecord,
    ) -> Result<Execution, AppError> {
        let tasks = self.store.task_runs(record.id).await?;
        let mut logs = self.store.task_logs(record.id).await?;
        let spec: PipelineSpec = serde_json::from_str(&record.spec).map_err(internal)?;
        let inputs = serde_json::from_str(&record.inputs).map_err(internal)?;
        let mut stages = Vec::with_capacity(spec.stages.len());
        for (stage_index, stage) in spec.stages.iter().enumerate() {
            let runs = tasks
                .iter()
                .filter(|task| task.stage_index == stage_index as i64)
                .map(|task| task_view(task, &mut logs))
                .collect::<Result<Vec<TaskRun>, AppError>>()?;
            stages.push(stage_view(&stage.name, runs));
        }
        let notifications = self
            .store
            .execution_notifications(record.id)
            .await?
            .into_iter()
            .map(notification_view)
            .collect();
        Ok(Execution {
            summary: summary_view(record)?,
            inputs,
            stages,
            can_execute: false,
            notifications,
        })
    }

    pub(crate) fn page_query(
        actor: &Actor,
        filter: &ExecutionFilter,
    ) -> Result<crate::store::ExecutionQuery, AppError> {
        if let Some(trigger) = &filter.trigger {
            if !TRIGGER_KINDS.contains(&trigger.as_str()) {
                return Err(AppError::bad_request(format!(
                    "unknown trigger '{trigger}': use one of {}",
                    TRIGGER_KINDS.join(", ")
                )));
            }
        }
        Ok(crate::store::ExecutionQuery {
            member: (!actor.user.is_admin).then_some(actor.user.id),
            project_id: filter.project,
            pipeline_id: filter.pipeline,
            status: filter.status,
            trigger: filter.trigger.clone(),
            before_id: filter.before,
            limit: i64::from(filter.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)),
        })
    }
}

/// How the audit trail names a run: `deploy #12`.
pub(crate) fn run_name(run: &ExecutionSummary) -> String {
    format!("{} #{}", run.pipeline, run.run_number)
}

/// A run started or canceled by `actor`, in its project; `name` is [`run_name`].
pub(crate) fn run_event<'a>(
    actor: &'a Actor,
    action: AuditAction,
    run: &'a ExecutionSummary,
    name: &'a str,
) -> AuditEvent<'a> {
    AuditEvent::by(actor, action)
        .project(run.project_id, &run.project)
        .target(AuditTargetKind::Execution, run.id, name)
        .detail("pipeline", run.pipeline.as_str())
        .detail("run_number", run.run_number)
}

pub(crate) fn summary_view(record: ExecutionRecord) -> Result<ExecutionSummary, AppError> {
    Ok(ExecutionSummary {
        id: record.id,
        pipeline_id: record.pipeline_id,
        pipeline: record.pipeline_name,
        project_id: record.project_id,
        project: record.project_name,
        run_number: record.run_number,
        status: record.status,
        trigger: Trigger {
            callback: None,
            ..serde_json::from_str(&record.trigger).map_err(internal)?
        },
        error: record.error,
        created_at: record.created_at,
        started_at: record.started_at,
        finished_at: record.finished_at,
        replica: record
            .lease_owner
            .filter(|_| !record.status.is_final())
            .map(|owner| replica_of(&owner).to_string()),
    })
}

/// A notification of the run as its page shows it: the target without
/// the webhook URL's query string, which may hold a token.
fn notification_view(record: NotificationRecord) -> NotificationDelivery {
    let (target, format) = crate::notify::target_view(&record.target);
    NotificationDelivery {
        event: record.event,
        target,
        format,
        state: record.state,
        attempts: record.attempts,
        last_error: record.last_error,
        sent_at: record.sent_at,
    }
}

/// A task run with its log lines (taken out of `logs`, which is in order).
/// Its stored JSON is read strictly: bad data is an internal error.
fn task_view(task: &TaskRunRecord, logs: &mut Vec<LogRecord>) -> Result<TaskRun, AppError> {
    let parse = |json: &Option<String>| {
        json.as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(internal)
    };
    let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(logs)
        .into_iter()
        .partition(|log| log.task_run_id == task.id);
    *logs = rest;
    Ok(TaskRun {
        id: task.id,
        name: task.task_name.clone(),
        task_type: task.task_type.clone(),
        status: task.status,
        inputs: parse(&task.inputs)?,
        output: parse(&task.output)?,
        error: task.error.clone(),
        started_at: task.started_at,
        finished_at: task.finished_at,
        approval: super::approvals::approval_view(task),
        log: mine
            .into_iter()
            .map(|log| LogLine {
                id: log.id,
                at: log.at,
                line: log.line,
            })
            .collect(),
    })
}

/// A stage's state follows its tasks: running while one runs, failed when one
/// failed (and did not continue), completed when all ended well.
fn stage_view(name: &str, tasks: Vec<TaskRun>) -> StageRun {
    let status = if tasks.is_empty() {
        None
    } else if tasks.iter().any(|task| task.status == TaskStatus::Running) {
        Some(TaskStatus::Running)
    } else if tasks.iter().any(|task| task.status == TaskStatus::Waiting) {
        Some(TaskStatus::Waiting)
    } else if tasks.iter().any(|task| task.status == TaskStatus::Canceled) {
        Some(TaskStatus::Canceled)
    } else if tasks.iter().any(|task| task.status == TaskStatus::Failed) {
        Some(TaskStatus::Failed)
    } else {
        Some(TaskStatus::Completed)
    };
    StageRun {
        name: name.to_string(),
        status,
        started_at: tasks.iter().filter_map(|task| task.started_at).min(),
        finished_at: if matches!(status, Some(TaskStatus::Running | TaskStatus::Waiting)) {
            None
        } else {
            tasks.iter().filter_map(|task| task.finished_at).max()
        },
        tasks,
    }
}

#[async_trait::async_trait]
impl ExecutionsApi for Slipway {
    #[tracing::instrument(skip(self, actor, inputs), fields(user = %actor.user.username))]
    async fn run_pipeline(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        inputs: BTreeMap<String, String>,
    ) -> Result<ExecutionSummary, AppError> {
        let (record, role) = self.visible_pipeline(actor, reference, project).await?;
        Self::require_role(actor, role, ProjectRole::Executor, "running pipelines")?;
        let trigger = Trigger {
            kind: "manual".into(),
            user: Some(actor.user.username.clone()),
            ..Trigger::default()
        };
        let queued = self
            .queue_run(&record, inputs, &trigger, Some(actor.user.id))
            .await?;
        let name = run_name(&queued);
        self.audit(run_event(actor, AuditAction::RunStarted, &queued, &name))
            .await;
        Ok(queued)
    }

    async fn list_executions(
        &self,
        actor: &Actor,
        filter: ExecutionFilter,
    ) -> Result<Vec<ExecutionSummary>, AppError> {
        let records = self
            .store
            .list_executions(&Self::page_query(actor, &filter)?)
            .await?;
        records.into_iter().map(summary_view).collect()
    }

    async fn get_execution(&self, actor: &Actor, id: i64) -> Result<Execution, AppError> {
        let (record, role) = self.visible_execution(actor, id).await?;
        let mut execution = self.execution_view(record.clone()).await?;
        execution.can_execute =
            Self::require_role(actor, role, ProjectRole::Executor, "running").is_ok();
        Self::mark_approval_rights(actor, role, &record, &mut execution)?;
        Ok(execution)
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn cancel_execution(&self, actor: &Actor, id: i64) -> Result<ExecutionSummary, AppError> {
        let (record, role) = self.visible_execution(actor, id).await?;
        Self::require_role(actor, role, ProjectRole::Executor, "canceling runs")?;
        match self.store.request_cancel(record.id, now_millis()).await? {
            CancelOutcome::Requested => self.signals.cancel(record.id),
            CancelOutcome::CanceledInQueue | CancelOutcome::CanceledWhileWaiting => {
                let canceled = app::execution::ExecutionStatus::Canceled;
                self.metrics.run_finished(canceled);
                self.live
                    .publish(crate::live::execution_event(&record, canceled))
            }
            CancelOutcome::AlreadyFinished => {
                return Err(AppError::conflict(format!(
                    "execution {id} has already finished"
                )))
            }
        }
        let current = self
            .store
            .execution_by_id(id)
            .await?
            .ok_or(AppError::Internal)?;
        let canceled = summary_view(current)?;
        let name = run_name(&canceled);
        self.audit(run_event(actor, AuditAction::RunCanceled, &canceled, &name))
            .await;
        Ok(canceled)
    }
}
