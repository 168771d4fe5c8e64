//! Pipeline rules: saving a definition (validated, its endpoints resolved in
//! its project).

use app::audit::{AuditAction, AuditTargetKind};
use app::backend::*;
use app::endpoint::{Endpoint, EndpointKind, EndpointSecrets};
use app::error::AppError;
use app::execution::*;
use app::model::ProjectRole;
use app::pipeline::{bindings_in, validate, NotificationTarget, PipelineSpec, TaskSpec};

use super::audit::AuditEvent;
use super::{Refusal, Slipway};
use crate::clock::now_millis;
use crate::errors::internal;
use crate::store::{constraint, PipelineDeletion, PipelineRecord, PipelineWrite, ResultExt};

fn pipeline_event<'a>(
    actor: &'a Actor,
    action: AuditAction,
    record: &'a PipelineRecord,
) -> AuditEvent<'a> {
    AuditEvent::by(actor, action)
        .project(record.project_id, &record.project_name)
        .target(AuditTargetKind::Pipeline, record.id, &record.name)
}

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

    /// An endpoint of the project by id or name, with its secrets, for a task
    /// or a webhook. No such endpoint of that kind is a [`Refusal::Reason`];
    /// a failure to read or unseal it is [`Refusal::Internal`].
    pub(crate) async fn endpoint_in_project(
        &self,
        project_id: i64,
        reference: &str,
        kind: EndpointKind,
    ) -> Result<(Endpoint, EndpointSecrets), Refusal> {
        crate::endpoints::in_project(&self.store, &self.secret_box, project_id, reference, kind)
            .await
    }

    /// An approval task's approvers must be users (project membership can
    /// come later: a user added to the project then may decide).
    async fn check_approvers(
        &self,
        stage_index: usize,
        task_index: usize,
        approvers: &[String],
    ) -> Result<(), AppError> {
        for (index, name) in approvers.iter().enumerate() {
            if self.store.user_by_name(name.trim()).await?.is_none() {
                return Err(AppError::Invalid {
                    field: format!("stages[{stage_index}].tasks[{task_index}].approvers[{index}]"),
                    message: format!("there is no user '{name}': name an existing user"),
                });
            }
        }
        Ok(())
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
        self.check_email_notifications(spec)?;
        let mut endpoint_ids = Vec::new();
        for (stage_index, stage) in spec.stages.iter().enumerate() {
            for (task_index, task) in stage.tasks.iter().enumerate() {
                if let TaskSpec::Approval(approval) = &task.spec {
                    self.check_approvers(stage_index, task_index, &approval.approvers)
                        .await?;
                    continue;
                }
                let TaskSpec::Kubernetes(kubernetes) = &task.spec else {
                    continue;
                };
                // An endpoint chosen by a binding is resolved when the task runs.
                if !bindings_in(&kubernetes.endpoint).is_empty() {
                    continue;
                }
                let (endpoint, _) = self
                    .endpoint_in_project(project_id, &kubernetes.endpoint, EndpointKind::Kubernetes)
                    .await
                    .map_err(|refusal| {
                        refusal.into_app_error(|message| AppError::Invalid {
                            field: format!("stages[{stage_index}].tasks[{task_index}].endpoint"),
                            message,
                        })
                    })?;
                endpoint_ids.push(endpoint.id);
            }
        }
        Ok(endpoint_ids)
    }

    /// An email notification needs a mail server this server can use.
    fn check_email_notifications(&self, spec: &PipelineSpec) -> Result<(), AppError> {
        if self.email_configured {
            return Ok(());
        }
        let email = spec
            .notifications
            .iter()
            .position(|notification| matches!(notification.target, NotificationTarget::Email(_)));
        match email {
            Some(index) => Err(AppError::Invalid {
                field: format!("notifications[{index}].email"),
                message:
                    "this server cannot send email: start it with --smtp-url smtp://HOST:PORT \
                          and --smtp-from ADDRESS, or notify a webhook instead"
                        .to_string(),
            }),
            None => Ok(()),
        }
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
        let action = match existing {
            Some(_) => AuditAction::PipelineChanged,
            None => AuditAction::PipelineCreated,
        };
        self.audit(
            pipeline_event(actor, action, &saved)
                .detail("enabled", saved.enabled)
                .detail("stages", spec.stages.len()),
        )
        .await;
        self.pipeline_view(saved)
    }
}

#[async_trait::async_trait]
impl PipelinesApi for Slipway {
    async fn list_pipelines(&self, actor: &Actor) -> Result<Vec<Pipeline>, AppError> {
        let member = (!actor.user.is_admin).then_some(actor.user.id);
        self.store
            .list_pipelines(member)
            .await?
            .into_iter()
            .map(|record| self.pipeline_view(record))
            .collect()
    }

    async fn get_pipeline(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<Pipeline, AppError> {
        let (record, _) = self.visible_pipeline(actor, reference, project).await?;
        self.pipeline_view(record)
    }

    #[tracing::instrument(skip(self, actor, spec), fields(user = %actor.user.username, pipeline = %spec.name))]
    async fn create_pipeline(
        &self,
        actor: &Actor,
        spec: PipelineSpec,
    ) -> Result<Pipeline, AppError> {
        self.save_pipeline(actor, None, spec).await
    }

    #[tracing::instrument(skip(self, actor, spec), fields(user = %actor.user.username))]
    async fn update_pipeline(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        mut spec: PipelineSpec,
    ) -> Result<Pipeline, AppError> {
        let found = self.visible_pipeline(actor, reference, project).await?;
        let record = Self::to_edit(actor, found, "editing pipelines", &mut spec.project)?;
        self.save_pipeline(actor, Some(&record), spec).await
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn delete_pipeline(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        delete_runs: bool,
    ) -> Result<(), AppError> {
        let (record, role) = self.visible_pipeline(actor, reference, project).await?;
        Self::require_role(actor, role, ProjectRole::Developer, "deleting pipelines")?;
        let name = &record.name;
        match self.store.delete_pipeline(record.id, delete_runs).await? {
            PipelineDeletion::Deleted => {
                tracing::info!(pipeline = %name, delete_runs, "pipeline deleted");
                self.audit(
                    pipeline_event(actor, AuditAction::PipelineDeleted, &record)
                        .detail("delete_runs", delete_runs),
                )
                .await;
                Ok(())
            }
            PipelineDeletion::StartedByWebhooks(webhooks) => Err(AppError::conflict(format!(
                "pipeline '{name}' is started by these webhooks: {}. Delete them or point them \
                 at another pipeline first",
                webhooks.join(", ")
            ))),
            PipelineDeletion::HasActiveRuns(active) => Err(AppError::conflict(format!(
                "pipeline '{name}' has unfinished runs (queued, running or waiting: {active}); \
                 cancel them or let them finish, then delete it"
            ))),
            PipelineDeletion::HasRuns(runs) => Err(AppError::conflict(format!(
                "pipeline '{name}' has finished runs ({runs}); deleting it deletes their history \
                 too. Confirm that with delete_runs=true (in the page: tick \"also delete its runs\")"
            ))),
        }
    }

    fn pipeline_from_text(&self, text: &str) -> Result<PipelineSpec, AppError> {
        crate::pipeline_text::parse_pipeline(text, None)
            .map_err(|error| AppError::bad_request(error.to_string()))
    }

    fn pipeline_to_yaml(&self, spec: &PipelineSpec) -> String {
        crate::pipeline_text::to_yaml(spec)
    }
}
