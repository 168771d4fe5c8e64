//! The Docker Hub twin of a webhook: created, updated and deleted with it
//! through the Hub's `webhook_pipeline` API. A refusal never fails the save:
//! the webhook shows "not synced" with the Hub's answer.

use app::endpoint::{EndpointKind, RegistryServerType};
use app::error::AppError;
use app::webhook::HubSyncState;

use super::{Refusal, Slipway};
use crate::connect::DockerHubClient;
use crate::store::WebhookRecord;

impl Slipway {
    /// Creates or updates the Docker Hub side of a webhook; a refusal is
    /// recorded as "not synced" with the Hub's reason, never as a failed save.
    pub(crate) async fn sync_hub(
        &self,
        record: &WebhookRecord,
        previous_name: Option<&str>,
        hook_url: &str,
    ) -> Result<(), AppError> {
        let (state, message) = match self.push_to_hub(record, previous_name, hook_url).await? {
            HubOutcome::NotHub => (HubSyncState::NotApplicable, String::new()),
            HubOutcome::Synced => (HubSyncState::Synced, String::new()),
            HubOutcome::NotSynced(reason) => (HubSyncState::NotSynced, reason),
        };
        if state == HubSyncState::NotSynced {
            tracing::warn!(webhook = %record.name, reason = %message, "Docker Hub webhook not synced");
        }
        self.store.set_hub_sync(record.id, state, &message).await?;
        Ok(())
    }

    /// A signed-in Docker Hub session for the webhook's repository; `None`
    /// when its endpoint is not Docker Hub. A [`Refusal::Reason`] is what the
    /// webhook shows as "not synced".
    async fn hub_session(
        &self,
        record: &WebhookRecord,
    ) -> Result<Option<(crate::connect::HubSession, String, String)>, Refusal> {
        let (endpoint, secrets) = self
            .endpoint_in_project(
                record.project_id,
                &record.endpoint_id.to_string(),
                EndpointKind::DockerRegistry,
            )
            .await?;
        if endpoint.settings.server_type != Some(RegistryServerType::DockerHub) {
            return Ok(None);
        }
        let (namespace, repo) = literal_repository(&record.image_pattern).ok_or_else(|| {
            Refusal::Reason("the image pattern must name one repository (namespace/name) to create the Docker Hub webhook".to_string())
        })?;
        let client = DockerHubClient::new(&self.outbound, endpoint.settings.cloud_proxy)
            .map_err(|error| Refusal::Reason(error.to_string()))?;
        let username = endpoint.settings.username.clone().unwrap_or_default();
        let session = client
            .login(&username, secrets.password.as_deref().unwrap_or_default())
            .await
            .map_err(|error| Refusal::Reason(format!("Docker Hub login: {error}")))?;
        Ok(Some((session, namespace, repo)))
    }

    async fn push_to_hub(
        &self,
        record: &WebhookRecord,
        previous_name: Option<&str>,
        hook_url: &str,
    ) -> Result<HubOutcome, AppError> {
        let (session, namespace, repo) = match self.hub_session(record).await {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(HubOutcome::NotHub),
            Err(refusal) => return Ok(HubOutcome::NotSynced(refusal.reason()?)),
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
        Ok(match result {
            Ok(_) => HubOutcome::Synced,
            Err(error) => HubOutcome::NotSynced(error.to_string()),
        })
    }

    /// Deletes the Docker Hub side; answers a reason when it could not, and
    /// fails only on an internal error (the webhook is then left as it is).
    pub(crate) async fn delete_from_hub(
        &self,
        record: &WebhookRecord,
    ) -> Result<Option<String>, AppError> {
        let (session, namespace, repo) = match self.hub_session(record).await {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(None),
            Err(refusal) => return refusal.reason().map(Some),
        };
        // Docker Hub deletes by its own slug of the name: ask it rather than guess.
        let existing = match session.list_webhooks(&namespace, &repo).await {
            Ok(existing) => existing,
            Err(error) => return Ok(Some(error.to_string())),
        };
        let Some(found) = existing
            .into_iter()
            .find(|webhook| webhook.name == record.name)
        else {
            return Ok(None);
        };
        Ok(session
            .delete_webhook(&namespace, &repo, &found.slug)
            .await
            .err()
            .map(|error| error.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;

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
