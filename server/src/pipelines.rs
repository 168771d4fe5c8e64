//! Pipeline rules: saving a definition (validated, its endpoints resolved in
//! its project), queueing runs with their inputs, and the views of runs.

use std::collections::BTreeMap;

use app::backend::Actor;
use app::endpoint::{Endpoint, EndpointKind, EndpointSecrets};
use app::error::AppError;
use app::execution::*;
use app::model::ProjectRole;
use app::pipeline::{bindings_in, validate, PipelineSpec, TaskSpec};

use crate::backend::{internal, now_millis, Slipway};
use crate::store::{
    constraint, ExecutionRecord, LogRecord, NewExecution, PipelineRecord, PipelineWrite, ResultExt,
    TaskRunRecord,
};

/// Runs listed per page unless asked otherwise, and at most.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

impl Slipway {
    pub(crate) fn pipeline_view(&self, record: PipelineRecord) -> Result<Pipeline, AppError> {
        let mut spec: PipelineSpec = serde_json::from_str(&record.spec).map_err(internal)?;
        spec.project = record.project_name;
        spec.name = record.name;
        Ok(Pipeline {
            id: record.id,
            project_id: record.project_id,
            spec,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }

    pub(crate) async fn visible_pipeline(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<(PipelineRecord, Option<ProjectRole>), AppError> {
        let candidates = match reference.parse::<i64>() {
            Ok(id) => self.store.pipeline_by_id(id).await?.into_iter().collect(),
            Err(_) => self.store.pipelines_by_name(reference).await?,
        };
        self.pick_visible(actor, reference, project, candidates, "pipeline")
            .await
    }

    /// An endpoint of the project by id or name, with its secrets, for a task.
    pub(crate) async fn project_endpoint(
        &self,
        project_id: i64,
        reference: &str,
        kind: EndpointKind,
    ) -> Result<(Endpoint, EndpointSecrets), String> {
        let candidates = match reference.parse::<i64>() {
            Ok(id) => self
                .store
                .endpoint_by_id(id)
                .await
                .map(|found| found.into_iter().collect()),
            Err(_) => self.store.endpoints_by_name(reference).await,
        }
        .map_err(|error| error.to_string())?;
        let record = candidates
            .into_iter()
            .find(|record| record.project_id == project_id && record.kind == kind.as_str())
            .ok_or_else(|| format!("the project has no {} endpoint '{reference}'", kind.label()))?;
        let secrets = self
            .endpoint_secrets(&record)
            .map_err(|error| error.to_string())?;
        let endpoint = self
            .endpoint_view(record)
            .map_err(|error| error.to_string())?;
        Ok((endpoint, secrets))
    }

    /// Validates a definition for its project; answers the ids of the endpoints it uses.
    async fn checked_pipeline(
        &self,
        project_id: i64,
        spec: &PipelineSpec,
    ) -> Result<Vec<i64>, AppError> {
        app::model::validate_name("name", &spec.name)?;
        app::model::validate_description("description", &spec.description)?;
        if let Err(errors) = validate(spec) {
            let first = &errors[0];
            let mut message = first.message.clone();
            if errors.len() > 1 {
                message.push_str(&format!(" (and {} more problems)", errors.len() - 1));
            }
            return Err(AppError::Invalid {
                field: first.path.clone(),
                message,
            });
        }
        let mut endpoint_ids = Vec::new();
        for (stage_index, stage) in spec.stages.iter().enumerate() {
            for (task_index, task) in stage.tasks.iter().enumerate() {
                let TaskSpec::Kubernetes(kubernetes) = &task.spec else {
                    continue;
                };
                // An endpoint chosen by a binding is resolved when the task runs.
                if !bindings_in(&kubernetes.endpoint).is_empty() {
                    continue;
                }
                let (endpoint, _) = self
                    .project_endpoint(project_id, &kubernetes.endpoint, EndpointKind::Kubernetes)
                    .await
                    .map_err(|message| AppError::Invalid {
                        field: format!("stages[{stage_index}].tasks[{task_index}].endpoint"),
                        message,
                    })?;
                endpoint_ids.push(endpoint.id);
            }
        }
        Ok(endpoint_ids)
    }

    pub(crate) async fn save_pipeline(
        &self,
        actor: &Actor,
        existing: Option<&PipelineRecord>,
        spec: PipelineSpec,
    ) -> Result<Pipeline, AppError> {
        let (project, role) =
            self.visible_project(actor, &spec.project)
                .await
                .map_err(|error| match error {
                    AppError::NotFound { message } => AppError::invalid("project", &message),
                    other => other,
                })?;
        Self::require_role(actor, role, ProjectRole::Developer, "editing pipelines")?;
        let endpoint_ids = self.checked_pipeline(project.id, &spec).await?;
        let spec_json = serde_json::to_string(&spec).map_err(internal)?;
        let write = PipelineWrite {
            project_id: project.id,
            name: &spec.name,
            description: &spec.description,
            enabled: spec.enabled,
            concurrency: i64::from(spec.concurrency),
            spec: &spec_json,
            endpoint_ids: &endpoint_ids,
            now: now_millis(),
        };
        let saved = match existing {
            Some(record) => self.store.update_pipeline(record.id, write).await,
            None => self.store.create_pipeline(write).await,
        }
        .on_constraint(constraint::PIPELINE_NAME, |_| {
            AppError::conflict(format!(
                "project '{}' already has a pipeline named '{}'; choose another name",
                project.name, spec.name
            ))
        })?;
        tracing::info!(pipeline = %saved.name, project = %project.name, "pipeline saved");
        self.pipeline_view(saved)
    }

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
            return Err(AppError::Invalid {
                field: format!("inputs.{unknown}"),
                message: format!("the pipeline has no input '{unknown}'"),
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
        let pipeline = self.pipeline_view(record.clone())?;
        if !pipeline.spec.enabled {
            return Err(AppError::conflict(format!(
                "pipeline '{}' is disabled; enable it to run it",
                record.name
            )));
        }
        let inputs = Self::run_inputs(&pipeline.spec, inputs)?;
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
        self.signals.run_queued();
        self.live.publish(crate::live::execution_event(
            &queued,
            ExecutionStatus::Queued,
        ));
        tracing::info!(execution = queued.id, pipeline = %record.name, run = queued.run_number, "run queued");
        summary_view(queued)
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
        let inputs = serde_json::from_str(&record.inputs).unwrap_or_default();
        let stages = spec
            .stages
            .iter()
            .enumerate()
            .map(|(stage_index, stage)| {
                let runs: Vec<TaskRun> = tasks
                    .iter()
                    .filter(|task| task.stage_index == stage_index as i64)
                    .map(|task| task_view(task, &mut logs))
                    .collect();
                stage_view(&stage.name, runs)
            })
            .collect();
        Ok(Execution {
            summary: summary_view(record)?,
            inputs,
            stages,
            can_execute: false,
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
            status: filter.status.map(|status| status.as_str().to_string()),
            trigger: filter.trigger.clone(),
            before_id: filter.before,
            limit: i64::from(filter.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)),
        })
    }
}

pub(crate) fn summary_view(record: ExecutionRecord) -> Result<ExecutionSummary, AppError> {
    Ok(ExecutionSummary {
        id: record.id,
        pipeline_id: record.pipeline_id,
        pipeline: record.pipeline_name,
        project_id: record.project_id,
        project: record.project_name,
        run_number: record.run_number,
        status: ExecutionStatus::parse(&record.status)
            .ok_or_else(|| internal("unknown execution status in the database"))?,
        trigger: Trigger {
            callback: None,
            ..serde_json::from_str(&record.trigger).unwrap_or_default()
        },
        error: record.error,
        created_at: record.created_at,
        started_at: record.started_at,
        finished_at: record.finished_at,
    })
}

/// A task run with its log lines (taken out of `logs`, which is in order).
fn task_view(task: &TaskRunRecord, logs: &mut Vec<LogRecord>) -> TaskRun {
    let parse = |json: &Option<String>| {
        json.as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
    };
    let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(logs)
        .into_iter()
        .partition(|log| log.task_run_id == task.id);
    *logs = rest;
    TaskRun {
        id: task.id,
        name: task.task_name.clone(),
        task_type: task.task_type.clone(),
        status: TaskStatus::parse(&task.status).unwrap_or(TaskStatus::Failed),
        inputs: parse(&task.inputs),
        output: parse(&task.output),
        error: task.error.clone(),
        started_at: task.started_at,
        finished_at: task.finished_at,
        log: mine
            .into_iter()
            .map(|log| LogLine {
                id: log.id,
                at: log.at,
                line: log.line,
            })
            .collect(),
    }
}

/// A stage's state follows its tasks: running while one runs, failed when one
/// failed (and did not continue), completed when all ended well.
fn stage_view(name: &str, tasks: Vec<TaskRun>) -> StageRun {
    let status = if tasks.is_empty() {
        None
    } else if tasks.iter().any(|task| task.status == TaskStatus::Running) {
        Some(TaskStatus::Running)
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
        finished_at: if status == Some(TaskStatus::Running) {
            None
        } else {
            tasks.iter().filter_map(|task| task.finished_at).max()
        },
        tasks,
    }
}
