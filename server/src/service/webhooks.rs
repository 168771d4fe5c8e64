//! Docker webhooks: the trigger's settings, its secure token and hook URL.

use std::collections::BTreeMap;

use app::audit::{AuditAction, AuditTargetKind};
use app::backend::*;
use app::endpoint::{EndpointKind, RegistryServerType};
use app::error::AppError;
use app::model::ProjectRole;
use app::webhook::*;

use super::activity::event_view;
use super::audit::AuditEvent;
use super::Slipway;
use crate::clock::now_millis;
use crate::errors::internal;
use crate::receive::cidr::Cidr;
use crate::receive::matching::Pattern;
use crate::secrets;
use crate::store::{constraint, ResultExt, StoreError, WebhookRecord, WebhookWrite};

/// Which receiver a webhook's hook URL points at.
pub fn hook_path(server_type: RegistryServerType) -> &'static str {
    match server_type {
        RegistryServerType::DockerHub => "/pipelines/api/docker-hub-webhooks",
        RegistryServerType::Registry => "/pipelines/api/registry-webhooks",
    }
}

fn webhook_event<'a>(
    actor: &'a Actor,
    action: AuditAction,
    record: &'a WebhookRecord,
) -> AuditEvent<'a> {
    AuditEvent::by(actor, action)
        .project(record.project_id, &record.project_name)
        .target(AuditTargetKind::Webhook, record.id, &record.name)
}

impl Slipway {
    fn hook_url(&self, server_type: RegistryServerType, token: &str) -> String {
        format!(
            "{}{}?secureToken={token}",
            self.public_url,
            hook_path(server_type)
        )
    }

    /// The webhook's own values for its pipeline's inputs. Saving stored them
    /// as JSON: anything else is bad data, an internal error (logged), never
    /// "no inputs".
    pub(crate) fn stored_inputs(
        record: &WebhookRecord,
    ) -> Result<BTreeMap<String, String>, AppError> {
        serde_json::from_str(&record.inputs)
            .map_err(|error| internal(format!("webhook {}: bad stored inputs: {error}", record.id)))
    }

    pub(crate) async fn webhook_view(
        &self,
        record: WebhookRecord,
        hook_url: Option<String>,
    ) -> Result<DockerWebhook, AppError> {
        let last_event = self.store.last_event(record.id).await?.map(event_view);
        let inputs = Self::stored_inputs(&record)?;
        let source_cidrs = serde_json::from_str(&record.source_cidrs).map_err(|error| {
            internal(format!(
                "webhook {}: bad stored source allow-list: {error}",
                record.id
            ))
        })?;
        let hub_sync = HubSync {
            state: record.hub_sync_state,
            message: record.hub_sync_message,
        };
        Ok(DockerWebhook {
            id: record.id,
            project: record.project_name,
            project_id: record.project_id,
            name: record.name,
            description: record.description,
            endpoint: record.endpoint_name,
            endpoint_id: record.endpoint_id,
            pipeline: record.pipeline_name,
            pipeline_id: record.pipeline_id,
            api_token: record.api_token_name,
            api_token_id: record.api_token_id,
            run_as: record.run_as_username,
            image: record.image_pattern,
            tag: record.tag_pattern,
            inputs,
            enabled: record.enabled,
            newer_only: record.newer_only,
            source_cidrs,
            max_deliveries_per_minute: record.max_deliveries_per_minute,
            hub_sync,
            last_event,
            hook_url,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }

    /// A visible webhook the actor may change (developer role in its project).
    async fn webhook_to_change(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        doing: &str,
    ) -> Result<WebhookRecord, AppError> {
        let (record, role) = self.visible_webhook(actor, reference, project).await?;
        Self::require_role(actor, role, ProjectRole::Developer, doing)?;
        Ok(record)
    }

    pub(crate) async fn visible_webhook(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<(WebhookRecord, Option<ProjectRole>), AppError> {
        let candidates = match reference.parse::<i64>() {
            Ok(id) => self.store.webhook_by_id(id).await?.into_iter().collect(),
            Err(_) => self.store.webhooks_by_name(reference).await?,
        };
        self.pick_visible(actor, reference, project, candidates, "Docker webhook")
            .await
    }

    /// The API token runs are attributed to: the token itself (any user's) or
    /// the id of one of the actor's tokens. Its user must be able to run pipelines here.
    async fn run_as_token(
        &self,
        actor: &Actor,
        project_id: i64,
        given: &str,
    ) -> Result<i64, AppError> {
        let invalid = |message: &str| AppError::invalid("api_token", message);
        let token = match given.trim().parse::<i64>() {
            Ok(id) => self
                .store
                .list_api_tokens(actor.user.id)
                .await?
                .into_iter()
                .find(|token| token.id == id && token.is_active_at(now_millis()))
                .map(|token| (token.id, actor.user.id))
                .ok_or_else(|| invalid("is not one of your active API tokens"))?,
            Err(_) => self
                .store
                .active_api_token(&secrets::token_hash(given.trim()), now_millis())
                .await?
                .ok_or_else(|| invalid("is not an active API token"))?,
        };
        let (token_id, user_id) = token;
        let role = self.store.membership(project_id, user_id).await?;
        let is_admin = self.store.user_is_admin(user_id).await?;
        if !is_admin && role.is_none_or(|role| role < ProjectRole::Executor) {
            return Err(invalid(
                "belongs to a user who cannot run pipelines in this project (executor role needed)",
            ));
        }
        Ok(token_id)
    }

    pub(crate) async fn save_webhook(
        &self,
        actor: &Actor,
        existing: Option<&WebhookRecord>,
        input: DockerWebhookInput,
    ) -> Result<DockerWebhook, AppError> {
        let (project, role) =
            self.visible_project(actor, &input.project)
                .await
                .map_err(|error| match error {
                    AppError::NotFound { message } => AppError::invalid("project", &message),
                    other => other,
                })?;
        Self::require_role(actor, role, ProjectRole::Developer, "editing webhooks")?;
        app::model::validate_name("name", &input.name)?;
        app::model::validate_description("description", &input.description)?;
        let (endpoint, _) = self
            .endpoint_in_project(project.id, &input.endpoint, EndpointKind::DockerRegistry)
            .await
            .map_err(|refusal| {
                refusal.into_app_error(|message| AppError::invalid("endpoint", &message))
            })?;
        let (pipeline_record, _) = self
            .visible_pipeline(actor, &input.pipeline, Some(&project.id.to_string()))
            .await
            .map_err(|_| {
                AppError::invalid(
                    "pipeline",
                    &format!("the project has no pipeline '{}'", input.pipeline),
                )
            })?;
        let pipeline = self.pipeline_view(pipeline_record.clone())?;
        let declared: Vec<String> = pipeline
            .spec
            .inputs
            .iter()
            .map(|input| input.name.clone())
            .collect();
        if let Some(unknown) = input.inputs.keys().find(|name| !declared.contains(name)) {
            return Err(AppError::Invalid {
                field: format!("inputs.{unknown}"),
                message: format!(
                    "pipeline '{}' has no input '{unknown}' (DOCKER_* inputs come from the event)",
                    pipeline.spec.name
                ),
            });
        }
        let image =
            Pattern::parse(&input.image).map_err(|message| AppError::invalid("image", &message))?;
        if image.is_semver() {
            return Err(AppError::invalid(
                "image",
                "a semver: range applies to tags only; write the image as a name or a glob",
            ));
        }
        Pattern::parse(&input.tag).map_err(|message| AppError::invalid("tag", &message))?;
        for (index, cidr) in input.source_cidrs.iter().enumerate() {
            Cidr::parse(cidr).map_err(|message| {
                AppError::invalid(&format!("source_cidrs[{index}]"), &message)
            })?;
        }
        let max_deliveries_per_minute = input.max_deliveries_per_minute.unwrap_or_else(|| {
            existing.map_or(DEFAULT_MAX_DELIVERIES_PER_MINUTE, |record| {
                record.max_deliveries_per_minute
            })
        });
        validate_delivery_limit(max_deliveries_per_minute)?;
        let api_token_id = match (existing, input.api_token.trim().is_empty()) {
            (Some(record), true) => record.api_token_id,
            (None, true) => {
                return Err(AppError::invalid(
                    "api_token",
                    "is required: the runs are attributed to its user",
                ))
            }
            (_, false) => {
                self.run_as_token(actor, project.id, &input.api_token)
                    .await?
            }
        };
        let inputs_json = serde_json::to_string(&input.inputs).map_err(internal)?;
        let cidrs_json = serde_json::to_string(&input.source_cidrs).map_err(internal)?;
        let write = WebhookWrite {
            project_id: project.id,
            name: &input.name,
            description: &input.description,
            endpoint_id: endpoint.id,
            pipeline_id: pipeline_record.id,
            api_token_id,
            image_pattern: input.image.trim(),
            tag_pattern: input.tag.trim(),
            inputs: &inputs_json,
            enabled: input
                .enabled
                .unwrap_or_else(|| existing.is_none_or(|record| record.enabled)),
            newer_only: input
                .newer_only
                .unwrap_or_else(|| existing.is_some_and(|record| record.newer_only)),
            source_cidrs: &cidrs_json,
            max_deliveries_per_minute,
            now: now_millis(),
        };
        let server_type = endpoint.settings.server_type.unwrap_or_default();
        let name_taken = |_: StoreError| {
            AppError::conflict(format!(
                "project '{}' already has a webhook named '{}'; choose another name",
                project.name, input.name
            ))
        };
        let (record, token) = match existing {
            Some(record) => {
                let token = self
                    .secret_box
                    .open(&record.secure_token_sealed)
                    .map_err(internal)?;
                let updated = self
                    .store
                    .update_webhook(record.id, write)
                    .await
                    .on_constraint(constraint::WEBHOOK_NAME, name_taken)?;
                self.webhook_tokens.forget_all();
                (updated, token)
            }
            None => {
                let token = secrets::random_token("");
                let created = self
                    .store
                    .create_webhook(
                        write,
                        &secrets::token_hash(&token),
                        &self.secret_box.seal(&token),
                    )
                    .await
                    .on_constraint(constraint::WEBHOOK_NAME, name_taken)?;
                (created, token)
            }
        };
        self.sync_hub(
            &record,
            existing.map(|old| old.name.as_str()),
            &self.hook_url(server_type, &token),
        )
        .await?;
        tracing::info!(webhook = %record.name, project = %project.name, "webhook saved");
        let record = self
            .store
            .webhook_by_id(record.id)
            .await?
            .ok_or(AppError::Internal)?;
        let action = match existing {
            Some(_) => AuditAction::WebhookChanged,
            None => AuditAction::WebhookCreated,
        };
        self.audit(
            webhook_event(actor, action, &record)
                .detail("pipeline", record.pipeline_name.as_str())
                .detail("endpoint", record.endpoint_name.as_str())
                .detail("run_as", record.run_as_username.as_str())
                .detail("enabled", record.enabled)
                .detail("allow_list", input.source_cidrs.clone()),
        )
        .await;
        // The secure token is shown once: in the answer that created it.
        let shown = existing
            .is_none()
            .then(|| self.hook_url(server_type, &token));
        self.webhook_view(record, shown).await
    }

    pub(crate) async fn regenerate_token(
        &self,
        record: &WebhookRecord,
    ) -> Result<DockerWebhook, AppError> {
        let token = secrets::random_token("");
        self.store
            .set_webhook_token(
                record.id,
                &secrets::token_hash(&token),
                &self.secret_box.seal(&token),
                now_millis(),
            )
            .await?;
        self.webhook_tokens.forget_all();
        let server_type = self.webhook_server_type(record).await?;
        let hook_url = self.hook_url(server_type, &token);
        self.sync_hub(record, Some(&record.name), &hook_url).await?;
        let record = self
            .store
            .webhook_by_id(record.id)
            .await?
            .ok_or(AppError::Internal)?;
        self.webhook_view(record, Some(hook_url)).await
    }

    pub(crate) async fn retry_hub_sync(
        &self,
        record: &WebhookRecord,
    ) -> Result<DockerWebhook, AppError> {
        let token = self
            .secret_box
            .open(&record.secure_token_sealed)
            .map_err(internal)?;
        let hook_url = self.hook_url(self.webhook_server_type(record).await?, &token);
        self.sync_hub(record, Some(&record.name), &hook_url).await?;
        let record = self
            .store
            .webhook_by_id(record.id)
            .await?
            .ok_or(AppError::Internal)?;
        self.webhook_view(record, None).await
    }

    async fn webhook_server_type(
        &self,
        record: &WebhookRecord,
    ) -> Result<RegistryServerType, AppError> {
        let endpoint = self
            .store
            .endpoint_by_id(record.endpoint_id)
            .await?
            .ok_or(AppError::Internal)?;
        Ok(self
            .endpoint_view(endpoint)?
            .settings
            .server_type
            .unwrap_or_default())
    }
}

#[async_trait::async_trait]
impl WebhooksApi for Slipway {
    async fn try_tag(&self, actor: &Actor, trial: TagTrial) -> Result<TagTrialAnswer, AppError> {
        self.try_tag_as(actor, trial).await
    }

    async fn list_webhooks(&self, actor: &Actor) -> Result<Vec<DockerWebhook>, AppError> {
        let member = (!actor.user.is_admin).then_some(actor.user.id);
        let mut webhooks = Vec::new();
        for record in self.store.list_webhooks(member).await? {
            webhooks.push(self.webhook_view(record, None).await?);
        }
        Ok(webhooks)
    }

    async fn get_webhook(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<DockerWebhook, AppError> {
        let (record, _) = self.visible_webhook(actor, reference, project).await?;
        self.webhook_view(record, None).await
    }

    #[tracing::instrument(skip(self, actor, input), fields(user = %actor.user.username, webhook = %input.name))]
    async fn create_webhook(
        &self,
        actor: &Actor,
        input: DockerWebhookInput,
    ) -> Result<DockerWebhook, AppError> {
        self.save_webhook(actor, None, input).await
    }

    #[tracing::instrument(skip(self, actor, input), fields(user = %actor.user.username))]
    async fn update_webhook(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        mut input: DockerWebhookInput,
    ) -> Result<DockerWebhook, AppError> {
        let found = self.visible_webhook(actor, reference, project).await?;
        let record = Self::to_edit(actor, found, "editing webhooks", &mut input.project)?;
        self.save_webhook(actor, Some(&record), input).await
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn set_webhook_enabled(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        enabled: bool,
    ) -> Result<DockerWebhook, AppError> {
        let record = self
            .webhook_to_change(actor, reference, project, "enabling or disabling webhooks")
            .await?;
        self.store
            .set_webhook_enabled(record.id, enabled, now_millis())
            .await?;
        self.webhook_tokens.forget_all();
        tracing::info!(webhook = %record.name, enabled, "webhook toggled");
        self.audit(
            webhook_event(actor, AuditAction::WebhookToggled, &record).detail("enabled", enabled),
        )
        .await;
        let record = self
            .store
            .webhook_by_id(record.id)
            .await?
            .ok_or(AppError::Internal)?;
        self.webhook_view(record, None).await
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn set_webhook_delivery_limit(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
        max_deliveries_per_minute: i64,
    ) -> Result<DockerWebhook, AppError> {
        let record = self
            .webhook_to_change(
                actor,
                reference,
                project,
                "changing a webhook's delivery limit",
            )
            .await?;
        validate_delivery_limit(max_deliveries_per_minute)?;
        self.store
            .set_webhook_delivery_limit(record.id, max_deliveries_per_minute, now_millis())
            .await?;
        self.webhook_tokens.forget_all();
        tracing::info!(webhook = %record.name, max_deliveries_per_minute, "webhook delivery limit changed");
        let record = self
            .store
            .webhook_by_id(record.id)
            .await?
            .ok_or(AppError::Internal)?;
        self.webhook_view(record, None).await
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn delete_webhook(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<Option<String>, AppError> {
        let record = self
            .webhook_to_change(actor, reference, project, "deleting webhooks")
            .await?;
        let hub_problem = self.delete_from_hub(&record).await?;
        self.store.delete_webhook(record.id).await?;
        self.webhook_tokens.forget_all();
        tracing::info!(webhook = %record.name, hub_problem = hub_problem.as_deref().unwrap_or(""), "webhook deleted");
        self.audit(
            webhook_event(actor, AuditAction::WebhookDeleted, &record)
                .detail("hub_side_left", hub_problem.is_some()),
        )
        .await;
        Ok(hub_problem)
    }

    async fn regenerate_webhook_token(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<DockerWebhook, AppError> {
        let record = self
            .webhook_to_change(actor, reference, project, "regenerating a webhook's token")
            .await?;
        let regenerated = self.regenerate_token(&record).await?;
        self.audit(webhook_event(
            actor,
            AuditAction::WebhookTokenRegenerated,
            &record,
        ))
        .await;
        Ok(regenerated)
    }

    async fn retry_webhook_sync(
        &self,
        actor: &Actor,
        reference: &str,
        project: Option<&str>,
    ) -> Result<DockerWebhook, AppError> {
        let record = self
            .webhook_to_change(actor, reference, project, "syncing webhooks")
            .await?;
        let synced = self.retry_hub_sync(&record).await?;
        self.audit(
            webhook_event(actor, AuditAction::WebhookSyncRetried, &record)
                .detail("hub_sync", synced.hub_sync.state.as_str()),
        )
        .await;
        Ok(synced)
    }
}
