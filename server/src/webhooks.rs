//! Docker webhooks: the trigger, its Docker Hub twin, the receivers' rules
//! and the Activity rows.

use std::collections::BTreeMap;
use std::net::IpAddr;

use app::backend::Actor;
use app::endpoint::{EndpointKind, RegistryServerType};
use app::error::AppError;
use app::execution::{ExecutionStatus, Trigger};
use app::model::ProjectRole;
use app::webhook::*;

use crate::backend::{internal, now_millis, Slipway};
use crate::connect::DockerHubClient;
use crate::receive::matching::Pattern;
use crate::receive::payload::PushEvent;
use crate::secrets;
use crate::store::{
    constraint, EventRecord, NewEvent, PushRecorded, ResultExt, StoreError, WebhookRecord,
    WebhookWrite,
};

/// A re-delivery of the same push within this window starts no second run.
const DEDUPE_WINDOW_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// Which receiver a webhook's hook URL points at.
pub fn hook_path(server_type: RegistryServerType) -> &'static str {
    match server_type {
        RegistryServerType::DockerHub => "/pipelines/api/docker-hub-webhooks",
        RegistryServerType::Registry => "/pipelines/api/registry-webhooks",
    }
}

/// A source allow-list entry: an address with a prefix length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = text.trim().split_once('/').unwrap_or((text.trim(), ""));
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("'{text}' is not an IP address or CIDR"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            bits
        } else {
            prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= bits)
                .ok_or_else(|| format!("'{text}' has an invalid prefix length"))?
        };
        Ok(Cidr { network, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let to_bits = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
            IpAddr::V6(v6) => u128::from(v6),
        };
        let address = match address {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        if address.is_ipv4() != self.network.is_ipv4() {
            return false;
        }
        let shift = if self.network.is_ipv4() {
            32 - u32::from(self.prefix) + 96
        } else {
            128 - u32::from(self.prefix)
        };
        let mask = if shift >= 128 { 0 } else { u128::MAX << shift };
        to_bits(address) & mask == to_bits(self.network) & mask
    }
}

/// Where a delivery came from and what it carried.
pub struct Delivery<'a> {
    pub secure_token: Option<&'a str>,
    pub source: &'a str,
    pub peer: Option<IpAddr>,
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
}

/// How a receiver answers, besides the contract's 202.
#[derive(Debug)]
pub enum DeliveryRefusal {
    /// 401, the same whatever was wrong with the token.
    Unauthorized,
    /// A status with a one-line reason (400, 403, 415), recorded as REJECTED.
    Rejected {
        status: u16,
        reason: String,
    },
    Internal,
}

impl From<StoreError> for DeliveryRefusal {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "storing a delivery failed");
        DeliveryRefusal::Internal
    }
}

impl Slipway {
    fn hook_url(&self, server_type: RegistryServerType, token: &str) -> String {
        format!(
            "{}{}?secureToken={token}",
            self.public_url,
            hook_path(server_type)
        )
    }

    pub(crate) async fn webhook_view(
        &self,
        record: WebhookRecord,
        hook_url: Option<String>,
    ) -> Result<DockerWebhook, AppError> {
        let last_event = match self.store.last_event(record.id).await? {
            Some(event) => Some(event_view(event)),
            None => None,
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
            inputs: serde_json::from_str(&record.inputs).unwrap_or_default(),
            enabled: record.enabled,
            source_cidrs: serde_json::from_str(&record.source_cidrs).unwrap_or_default(),
            hub_sync: HubSync {
                state: record.hub_sync_state,
                message: record.hub_sync_message,
            },
            last_event,
            hook_url,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
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
                .find(|token| token.id == id && token.revoked_at.is_none())
                .map(|token| (token.id, actor.user.id))
                .ok_or_else(|| invalid("is not one of your active API tokens"))?,
            Err(_) => self
                .store
                .active_api_token(&secrets::token_hash(given.trim()))
                .await?
                .ok_or_else(|| invalid("is not an active API token"))?,
        };
        let (token_id, user_id) = token;
        let role = self.store.membership(project_id, user_id).await?;
        let is_admin = self.store.user_is_admin(user_id).await?;
        if !is_admin && !role.is_some_and(|role| role >= ProjectRole::Executor) {
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
            .project_endpoint(project.id, &input.endpoint, EndpointKind::DockerRegistry)
            .await
            .map_err(|message| AppError::invalid("endpoint", &message))?;
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
        Pattern::parse(&input.image).map_err(|message| AppError::invalid("image", &message))?;
        Pattern::parse(&input.tag).map_err(|message| AppError::invalid("tag", &message))?;
        for (index, cidr) in input.source_cidrs.iter().enumerate() {
            Cidr::parse(cidr).map_err(|message| {
                AppError::invalid(&format!("source_cidrs[{index}]"), &message)
            })?;
        }
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
                .unwrap_or_else(|| existing.map_or(true, |record| record.enabled)),
            source_cidrs: &cidrs_json,
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
        // The secure token is shown once: in the answer that created it.
        let shown = existing
            .is_none()
            .then(|| self.hook_url(server_type, &token));
        self.webhook_view(record, shown).await
    }

    /// Creates or updates the Docker Hub side of a webhook; a refusal is
    /// recorded as "not synced" with the Hub's reason, never as a failed save.
    pub(crate) async fn sync_hub(
        &self,
        record: &WebhookRecord,
        previous_name: Option<&str>,
        hook_url: &str,
    ) -> Result<(), AppError> {
        let (state, message) = match self.push_to_hub(record, previous_name, hook_url).await {
            HubOutcome::NotHub => ("not_applicable", String::new()),
            HubOutcome::Synced => ("synced", String::new()),
            HubOutcome::NotSynced(reason) => ("not_synced", reason),
        };
        if state == "not_synced" {
            tracing::warn!(webhook = %record.name, reason = %message, "Docker Hub webhook not synced");
        }
        self.store.set_hub_sync(record.id, state, &message).await?;
        Ok(())
    }

    async fn hub_session(
        &self,
        record: &WebhookRecord,
    ) -> Result<Option<(crate::connect::HubSession, String, String)>, String> {
        let (endpoint, secrets) = self
            .project_endpoint(
                record.project_id,
                &record.endpoint_id.to_string(),
                EndpointKind::DockerRegistry,
            )
            .await?;
        if endpoint.settings.server_type != Some(RegistryServerType::DockerHub) {
            return Ok(None);
        }
        let (namespace, repo) = literal_repository(&record.image_pattern).ok_or_else(|| {
            "the image pattern must name one repository (namespace/name) to create the Docker Hub webhook".to_string()
        })?;
        let client = DockerHubClient::new(&self.outbound, endpoint.settings.cloud_proxy)
            .map_err(|error| error.to_string())?;
        let username = endpoint.settings.username.clone().unwrap_or_default();
        let session = client
            .login(&username, secrets.password.as_deref().unwrap_or_default())
            .await
            .map_err(|error| format!("Docker Hub login: {error}"))?;
        Ok(Some((session, namespace, repo)))
    }

    async fn push_to_hub(
        &self,
        record: &WebhookRecord,
        previous_name: Option<&str>,
        hook_url: &str,
    ) -> HubOutcome {
        let (session, namespace, repo) = match self.hub_session(record).await {
            Ok(Some(found)) => found,
            Ok(None) => return HubOutcome::NotHub,
            Err(reason) => return HubOutcome::NotSynced(reason),
        };
        let result = match previous_name {
            Some(previous) => match session
                .update_webhook(&namespace, &repo, previous, &record.name, hook_url)
                .await
            {
                Err(error) if error.is_not_found() => {
                    session
                        .create_webhook(&namespace, &repo, &record.name, hook_url)
                        .await
                }
                other => other,
            },
            None => {
                session
                    .create_webhook(&namespace, &repo, &record.name, hook_url)
                    .await
            }
        };
        match result {
            Ok(_) => HubOutcome::Synced,
            Err(error) => HubOutcome::NotSynced(error.to_string()),
        }
    }

    /// Deletes the Docker Hub side; answers a reason when it could not.
    pub(crate) async fn delete_from_hub(&self, record: &WebhookRecord) -> Option<String> {
        let (session, namespace, repo) = match self.hub_session(record).await {
            Ok(Some(found)) => found,
            Ok(None) => return None,
            Err(reason) => return Some(reason),
        };
        // Docker Hub deletes by its own slug of the name: ask it rather than guess.
        let existing = match session.list_webhooks(&namespace, &repo).await {
            Ok(existing) => existing,
            Err(error) => return Some(error.to_string()),
        };
        let slug = existing
            .into_iter()
            .find(|webhook| webhook.name == record.name)?
            .slug;
        session
            .delete_webhook(&namespace, &repo, &slug)
            .await
            .err()
            .map(|error| error.to_string())
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

    /// Handles one delivery to a receiver: checks, records, queues; answers
    /// before the run starts.
    #[tracing::instrument(skip_all, fields(source = delivery.source))]
    pub async fn receive(&self, delivery: Delivery<'_>) -> Result<DeliveryAnswer, DeliveryRefusal> {
        let token = delivery
            .secure_token
            .filter(|token| !token.is_empty())
            .ok_or(DeliveryRefusal::Unauthorized)?;
        // Looked up by hash: the stored value reveals nothing, and the lookup
        // time does not depend on how much of a guessed token is right.
        let webhook = self
            .store
            .webhook_by_token_hash(&secrets::token_hash(token))
            .await?
            .ok_or(DeliveryRefusal::Unauthorized)?;
        let received_at = now_millis();
        let webhook = &webhook;
        let reject = |status: u16, reason: String| async move {
            self.record(
                webhook,
                delivery.source,
                received_at,
                None,
                "REJECTED",
                &reason,
            )
            .await?;
            Err::<DeliveryAnswer, _>(DeliveryRefusal::Rejected { status, reason })
        };

        let cidrs: Vec<String> = serde_json::from_str(&webhook.source_cidrs).unwrap_or_default();
        if !cidrs.is_empty() {
            let allowed = delivery.peer.is_some_and(|peer| {
                cidrs
                    .iter()
                    .filter_map(|cidr| Cidr::parse(cidr).ok())
                    .any(|cidr| cidr.contains(peer))
            });
            if !allowed {
                return reject(
                    403,
                    "the sender's address is not on the webhook's source allow-list".into(),
                )
                .await;
            }
        }
        if let Some(content_type) = delivery.content_type {
            let essence = content_type
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if !(essence == "application/json" || essence.ends_with("+json")) {
                return reject(
                    415,
                    format!("content type '{essence}' is not JSON; send application/json"),
                )
                .await;
            }
        }
        let events = if delivery.source == "registry" {
            crate::receive::payload::parse_registry_envelope(delivery.body)
        } else {
            crate::receive::payload::parse_docker_hub(delivery.body).map(|event| vec![event])
        };
        let events = match events {
            Ok(events) => events,
            Err(error) => return reject(400, error.to_string()).await,
        };
        // Layer pushes, pulls and untagged pushes carry nothing to deploy: no Activity row.
        let mut answer = DeliveryAnswer {
            event_id: None,
            status: "IGNORED".into(),
            execution_id: None,
        };
        for (index, event) in events.iter().enumerate() {
            let handled = self
                .handle_event(&webhook, delivery.source, received_at, event)
                .await?;
            if index == 0 {
                answer = handled;
            }
        }
        Ok(answer)
    }

    async fn handle_event(
        &self,
        webhook: &WebhookRecord,
        source: &str,
        received_at: i64,
        event: &PushEvent,
    ) -> Result<DeliveryAnswer, DeliveryRefusal> {
        let ignored = |reason: String| async move {
            let id = self
                .record(
                    webhook,
                    source,
                    received_at,
                    Some(event),
                    "IGNORED",
                    &reason,
                )
                .await?;
            Ok::<_, DeliveryRefusal>(DeliveryAnswer {
                event_id: Some(id),
                status: "IGNORED".into(),
                execution_id: None,
            })
        };
        if !webhook.enabled {
            return ignored("disabled".into()).await;
        }
        // Patterns were checked on save; should a stored one not parse, fail
        // closed: a broken filter must not let every push through.
        let (image, tag) = match (
            Pattern::parse(&webhook.image_pattern),
            Pattern::parse(&webhook.tag_pattern),
        ) {
            (Ok(image), Ok(tag)) => (image, tag),
            (Err(problem), _) | (_, Err(problem)) => {
                return ignored(format!("the webhook's pattern is invalid: {problem}")).await
            }
        };
        if !image.matches_image(event) {
            return ignored(format!(
                "image '{}' does not match '{}'",
                event.image, webhook.image_pattern
            ))
            .await;
        }
        if !tag.matches_tag(event) {
            return ignored(format!(
                "tag '{}' does not match '{}'",
                event.tag, webhook.tag_pattern
            ))
            .await;
        }
        let mut inputs: BTreeMap<String, String> =
            serde_json::from_str(&webhook.inputs).unwrap_or_default();
        inputs.extend(event.docker_inputs());
        let inputs_json = serde_json::to_string(&inputs).map_err(|_| DeliveryRefusal::Internal)?;
        // One claim per push: of concurrent re-deliveries exactly one is TRIGGERED.
        let recorded = self
            .store
            .record_push(
                NewEvent {
                    webhook_id: webhook.id,
                    received_at,
                    source,
                    repository: &event.image,
                    tag: &event.tag,
                    owner: &event.owner,
                    status: "TRIGGERED",
                    reason: "",
                    dedupe_key: Some(&event.dedupe_key),
                    inputs: Some(&inputs_json),
                },
                received_at - DEDUPE_WINDOW_MILLIS,
                &|first| format!("the same push already started a run (event {first})"),
            )
            .await?;
        let event_id = match recorded {
            PushRecorded::First(event_id) => event_id,
            PushRecorded::Duplicate { event_id, .. } => {
                self.announce_activity(webhook, event_id);
                return Ok(DeliveryAnswer {
                    event_id: Some(event_id),
                    status: "DUPLICATE".into(),
                    execution_id: None,
                });
            }
        };
        self.announce_activity(webhook, event_id);
        match self
            .start_event_run(
                webhook,
                event_id,
                inputs,
                &event.image,
                &event.tag,
                event.callback_url.as_deref(),
            )
            .await
        {
            Ok(execution_id) => Ok(DeliveryAnswer {
                event_id: Some(event_id),
                status: "TRIGGERED".into(),
                execution_id: Some(execution_id),
            }),
            Err(reason) => {
                // The event is known; it just cannot run (disabled pipeline, revoked token…).
                self.store.mark_event(event_id, "REJECTED", &reason).await?;
                self.announce_activity(webhook, event_id);
                Ok(DeliveryAnswer {
                    event_id: Some(event_id),
                    status: "REJECTED".into(),
                    execution_id: None,
                })
            }
        }
    }

    /// Queues the webhook's pipeline for an event as the webhook's token user.
    pub(crate) async fn start_event_run(
        &self,
        webhook: &WebhookRecord,
        event_id: i64,
        inputs: BTreeMap<String, String>,
        repository: &str,
        tag: &str,
        callback_url: Option<&str>,
    ) -> Result<i64, String> {
        let active = self
            .store
            .api_token_by_id(webhook.api_token_id)
            .await
            .map_err(|error| error.to_string())?;
        if !active {
            return Err("the webhook's API token was revoked; choose another one".into());
        }
        let pipeline = self
            .store
            .pipeline_by_id(webhook.pipeline_id)
            .await
            .map_err(|error| error.to_string())?
            .ok_or("the webhook's pipeline no longer exists")?;
        let trigger = Trigger {
            kind: "docker".into(),
            user: Some(webhook.run_as_username.clone()),
            event_id: Some(event_id),
            repository: Some(repository.to_string()),
            tag: Some(tag.to_string()),
            callback: callback_url
                .filter(|url| crate::receive::callback::allowed(&self.outbound, url))
                .map(|url| self.secret_box.seal(url)),
        };
        let queued = self
            .queue_run(&pipeline, inputs, &trigger, Some(webhook.run_as_user_id))
            .await
            .map_err(|error| error.to_string())?;
        self.store
            .link_event(event_id, queued.id)
            .await
            .map_err(|error| error.to_string())?;
        Ok(queued.id)
    }

    async fn record(
        &self,
        webhook: &WebhookRecord,
        source: &str,
        received_at: i64,
        event: Option<&PushEvent>,
        status: &str,
        reason: &str,
    ) -> Result<i64, DeliveryRefusal> {
        Ok(self
            .record_activity(
                webhook,
                NewEvent {
                    webhook_id: webhook.id,
                    received_at,
                    source,
                    repository: event.map_or("", |event| event.image.as_str()),
                    tag: event.map_or("", |event| event.tag.as_str()),
                    owner: event.map_or("", |event| event.owner.as_str()),
                    status,
                    reason,
                    dedupe_key: event.map(|event| event.dedupe_key.as_str()),
                    inputs: None,
                },
            )
            .await?)
    }

    /// Records an Activity row and announces it to open Activity pages.
    async fn record_activity(
        &self,
        webhook: &WebhookRecord,
        event: NewEvent<'_>,
    ) -> Result<i64, crate::store::StoreError> {
        let id = self.store.record_event(event).await?;
        self.announce_activity(webhook, id);
        Ok(id)
    }

    fn announce_activity(&self, webhook: &WebhookRecord, event_id: i64) {
        self.live.publish(app::live::LiveEvent::Activity {
            event_id,
            project_id: webhook.project_id,
            webhook_id: webhook.id,
        });
    }

    /// Re-runs a stored event whose run failed: a new run with the same inputs.
    pub(crate) async fn rerun_event_as(
        &self,
        actor: &Actor,
        event_id: i64,
    ) -> Result<DockerEvent, AppError> {
        let not_found = || {
            AppError::not_found(format!(
                "no Activity row {event_id} exists (or you are not a member of its project)"
            ))
        };
        let event = self
            .store
            .event_by_id(event_id)
            .await?
            .ok_or_else(not_found)?;
        let (webhook, role) = self
            .visible_webhook(actor, &event.webhook_id.to_string(), None)
            .await
            .map_err(|_| not_found())?;
        Self::require_role(actor, role, ProjectRole::Executor, "re-running events")?;
        let failed = matches!(
            event.execution_status.as_deref(),
            Some("FAILED") | Some("CANCELED")
        );
        let inputs: BTreeMap<String, String> = match (&event.inputs, failed) {
            (Some(inputs), true) => serde_json::from_str(inputs).map_err(internal)?,
            _ => {
                return Err(AppError::conflict(
                    "only an event whose run failed or was canceled can be re-run",
                ))
            }
        };
        let rerun_id = self
            .record_activity(
                &webhook,
                NewEvent {
                    webhook_id: webhook.id,
                    received_at: now_millis(),
                    source: &event.source,
                    repository: &event.repository,
                    tag: &event.tag,
                    owner: &event.owner,
                    status: "TRIGGERED",
                    reason: &format!("re-run of event {event_id} by {}", actor.user.username),
                    dedupe_key: None,
                    inputs: event.inputs.as_deref(),
                },
            )
            .await?;
        // Docker Hub's callback belongs to the original push: a re-run does not report.
        self.start_event_run(
            &webhook,
            rerun_id,
            inputs,
            &event.repository,
            &event.tag,
            None,
        )
        .await
        .map_err(|reason| AppError::conflict(reason))?;
        let created = self
            .store
            .event_by_id(rerun_id)
            .await?
            .ok_or(AppError::Internal)?;
        Ok(event_view(created))
    }
}

enum HubOutcome {
    NotHub,
    Synced,
    NotSynced(String),
}

/// `namespace/name` when the image pattern names exactly one repository.
fn literal_repository(pattern: &str) -> Option<(String, String)> {
    if pattern.contains(['*', '?', '[']) || pattern.starts_with("re:") || pattern.starts_with('/') {
        return None;
    }
    let (namespace, name) = pattern.trim().split_once('/')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains('/'))
        .then(|| (namespace.to_string(), name.to_string()))
}

pub(crate) fn event_view(record: EventRecord) -> DockerEvent {
    DockerEvent {
        id: record.id,
        webhook_id: record.webhook_id,
        webhook: record.webhook_name,
        project_id: record.project_id,
        received_at: record.received_at,
        source: record.source,
        repository: record.repository,
        tag: record.tag,
        owner: record.owner,
        status: record.status,
        reason: record.reason,
        execution_id: record.execution_id,
        execution_status: record
            .execution_status
            .as_deref()
            .and_then(ExecutionStatus::parse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_contain_what_they_should() {
        let loopback = Cidr::parse("127.0.0.0/8").unwrap();
        assert!(loopback.contains("127.0.0.1".parse().unwrap()));
        assert!(loopback.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!loopback.contains("10.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("10.1.2.3")
            .unwrap()
            .contains("10.1.2.3".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("fd00::/8")
            .unwrap()
            .contains("fd12::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("not-an-ip").is_err());
    }

    #[test]
    fn only_literal_repositories_get_a_hub_twin() {
        assert_eq!(
            literal_repository("svendowideit/testhook"),
            Some(("svendowideit".into(), "testhook".into()))
        );
        assert_eq!(literal_repository("svendowideit/*"), None);
        assert_eq!(literal_repository("re:^a/b$"), None);
        assert_eq!(literal_repository("testhook"), None);
    }
}
