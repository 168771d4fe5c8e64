//! Activity: the rows that say what became of every delivery, the runs they
//! start, and re-running an event whose run failed.

use std::collections::BTreeMap;

use app::audit::AuditAction;
use app::backend::*;
use app::error::AppError;
use app::execution::Trigger;
use app::model::ProjectRole;
use app::webhook::*;

use super::executions::{run_event, run_name, summary_view};
use super::{Refusal, Slipway};
use crate::clock::now_millis;
use crate::errors::internal;
use crate::store::{EventRecord, NewEvent, PipelineRecord, WebhookRecord};

impl Slipway {
    /// What a run of the webhook's pipeline for an event needs, checked but
    /// not written: the token is active, the pipeline exists and is enabled,
    /// the inputs are its own. A [`Refusal::Reason`] says why it cannot run
    /// and may be shown as the event's reason; an internal failure is logged
    /// and [`Refusal::Internal`]. The trigger names no event yet.
    pub(crate) async fn event_run(
        &self,
        webhook: &WebhookRecord,
        inputs: BTreeMap<String, String>,
        repository: &str,
        tag: &str,
        callback_url: Option<&str>,
    ) -> Result<EventRun, Refusal> {
        let active = self
            .store
            .api_token_by_id(webhook.api_token_id, now_millis())
            .await?;
        if !active {
            return Err(Refusal::Reason(
                "the webhook's API token was revoked or has expired; choose another one".into(),
            ));
        }
        let pipeline = self
            .store
            .pipeline_by_id(webhook.pipeline_id)
            .await?
            .ok_or_else(|| Refusal::Reason("the webhook's pipeline no longer exists".into()))?;
        let inputs = self.checked_run_inputs(&pipeline, inputs)?;
        let trigger = Trigger {
            kind: "docker".into(),
            user: Some(webhook.run_as_username.clone()),
            event_id: None,
            repository: Some(repository.to_string()),
            tag: Some(tag.to_string()),
            registry_endpoint_id: Some(webhook.endpoint_id),
            callback: callback_url
                .filter(|url| self.outbound.allows_callback(url))
                .map(|url| self.secret_box.seal(url)),
        };
        Ok(EventRun {
            pipeline,
            inputs,
            trigger,
        })
    }

    /// Queues the webhook's pipeline for an event as the webhook's token user
    /// (see [`Slipway::event_run`] for the refusals).
    pub(crate) async fn start_event_run(
        &self,
        webhook: &WebhookRecord,
        event_id: i64,
        inputs: BTreeMap<String, String>,
        repository: &str,
        tag: &str,
    ) -> Result<i64, Refusal> {
        let mut run = self
            .event_run(webhook, inputs, repository, tag, None)
            .await?;
        run.trigger.event_id = Some(event_id);
        let queued = self
            .queue_run(
                &run.pipeline,
                run.inputs,
                &run.trigger,
                Some(webhook.run_as_user_id),
            )
            .await?;
        self.store.link_event(event_id, queued.id).await?;
        // Open Activity pages may have read the row before it had its run,
        // and follow only runs their rows show: tell them again.
        self.announce_activity(webhook, event_id);
        Ok(queued.id)
    }

    /// Records an Activity row and announces it to open Activity pages.
    pub(crate) async fn record_activity(
        &self,
        webhook: &WebhookRecord,
        event: NewEvent,
    ) -> Result<i64, crate::store::StoreError> {
        let id = self.store.record_event(event).await?;
        self.announce_activity(webhook, id);
        Ok(id)
    }

    pub(crate) fn announce_activity(&self, webhook: &WebhookRecord, event_id: i64) {
        self.live.publish(app::live::LiveEvent::Activity {
            event_id,
            project_id: webhook.project_id,
            webhook_id: webhook.id,
        });
    }

    /// Re-runs a stored event whose run ended: a new run with the same
    /// inputs. For a run that failed or was canceled that is trying again;
    /// for one that COMPLETED it deploys that same digest again (rolling
    /// back to a version known to be good).
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
        // A disabled webhook runs nothing, re-runs included.
        if !webhook.enabled {
            return Err(AppError::conflict(
                "the webhook is disabled; enable it to re-run",
            ));
        }
        let ended = event
            .execution_status
            .is_some_and(|status| status.is_final());
        let inputs: BTreeMap<String, String> = match (&event.inputs, ended) {
            (Some(inputs), true) => serde_json::from_str(inputs).map_err(internal)?,
            _ => return Err(AppError::conflict(
                "only an event whose run has ended (completed, failed or canceled) can be re-run",
            )),
        };
        let rerun_id = self
            .record_activity(
                &webhook,
                NewEvent {
                    webhook_id: webhook.id,
                    received_at: now_millis(),
                    source: event.source,
                    repository: event.repository.clone(),
                    tag: event.tag.clone(),
                    owner: event.owner.clone(),
                    status: EventStatus::Triggered,
                    reason: format!("re-run of event {event_id} by {}", actor.user.username),
                    dedupe_key: None,
                    inputs: event.inputs.clone(),
                    // Out of the push order: a re-run is asked for by a person.
                    pushed_at: None,
                    digest: event.digest.clone(),
                },
            )
            .await?;
        // Docker Hub's callback belongs to the original push: a re-run does not report.
        let execution_id = self
            .start_event_run(&webhook, rerun_id, inputs, &event.repository, &event.tag)
            .await
            .map_err(|refusal| refusal.into_app_error(AppError::conflict))?;
        let run = summary_view(
            self.store
                .execution_by_id(execution_id)
                .await?
                .ok_or(AppError::Internal)?,
        )?;
        let name = run_name(&run);
        self.audit(
            run_event(actor, AuditAction::RunStarted, &run, &name)
                .detail("rerun_of_event", event_id)
                .detail("webhook", webhook.name.as_str()),
        )
        .await;
        let created = self
            .store
            .event_by_id(rerun_id)
            .await?
            .ok_or(AppError::Internal)?;
        Ok(event_view(created))
    }
}

/// The Activity row as pages and the API show it.
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
        deliveries: record.deliveries,
        digest: record.digest,
        execution_id: record.execution_id,
        execution_status: record.execution_status,
    }
}

/// The status an Activity filter names; empty (or none) is every status.
fn status_filter(text: Option<&str>) -> Result<Option<EventStatus>, AppError> {
    match text.filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => EventStatus::parse(text).map(Some).ok_or_else(|| {
            let allowed: Vec<&str> = EventStatus::ALL
                .iter()
                .map(|status| status.as_str())
                .collect();
            AppError::bad_request(format!(
                "unknown status '{text}': use one of {}",
                allowed.join(", ")
            ))
        }),
    }
}

/// The source (registry format) an Activity filter names; empty (or none) is every source.
fn source_filter(text: Option<&str>) -> Result<Option<DeliverySource>, AppError> {
    match text.filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => DeliverySource::parse(text).map(Some).ok_or_else(|| {
            let allowed: Vec<&str> = DeliverySource::ALL
                .iter()
                .map(|source| source.as_str())
                .collect();
            AppError::bad_request(format!(
                "unknown source '{text}': use one of {}",
                allowed.join(", ")
            ))
        }),
    }
}

#[async_trait::async_trait]
impl ActivityApi for Slipway {
    async fn list_activity(
        &self,
        actor: &Actor,
        filter: ActivityFilter,
    ) -> Result<Vec<DockerEvent>, AppError> {
        if let Some(webhook) = filter.webhook {
            self.visible_webhook(actor, &webhook.to_string(), None)
                .await?;
        }
        let query = crate::store::EventQuery {
            member: (!actor.user.is_admin).then_some(actor.user.id),
            webhook_id: filter.webhook,
            status: status_filter(filter.status.as_deref())?,
            source: source_filter(filter.source.as_deref())?,
            before_id: filter.before,
            limit: i64::from(filter.limit.unwrap_or(50).clamp(1, 500)),
        };
        let events = self.store.list_events(&query).await?;
        Ok(events.into_iter().map(event_view).collect())
    }

    #[tracing::instrument(skip(self, actor), fields(user = %actor.user.username))]
    async fn rerun_event(&self, actor: &Actor, event_id: i64) -> Result<DockerEvent, AppError> {
        self.rerun_event_as(actor, event_id).await
    }
}

/// A run of a webhook's pipeline for an event, checked and not yet queued.
pub(crate) struct EventRun {
    pub pipeline: PipelineRecord,
    pub inputs: BTreeMap<String, String>,
    pub trigger: Trigger,
}
