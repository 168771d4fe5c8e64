//! Docker webhooks (triggers) and the events they receive (Activity).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::execution::ExecutionStatus;
use crate::model::Millis;

/// Whether the Docker Hub side of a webhook exists as configured.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubSync {
    /// `synced`, `not_synced` (with the Hub's answer in `message`), or
    /// `not_applicable` (the endpoint is not Docker Hub).
    pub state: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerWebhook {
    pub id: i64,
    pub project: String,
    pub project_id: i64,
    pub name: String,
    pub description: String,
    pub endpoint: String,
    pub endpoint_id: i64,
    pub pipeline: String,
    pub pipeline_id: i64,
    /// The API token runs are attributed to: its name and owner (never the token).
    pub api_token: String,
    pub api_token_id: i64,
    pub run_as: String,
    /// Image pattern (the "build image"): glob, `re:` regex, or empty for any.
    pub image: String,
    /// Tag pattern: glob, `re:` regex, or empty for any.
    pub tag: String,
    /// Values for the pipeline's own inputs (the DOCKER_* ones come from the event).
    pub inputs: BTreeMap<String, String>,
    pub enabled: bool,
    pub source_cidrs: Vec<String>,
    pub hub_sync: HubSync,
    pub last_event: Option<DockerEvent>,
    /// Only in the answer that created (or regenerated) the secure token: the one time it is shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_url: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DockerWebhookInput {
    pub project: String,
    pub name: String,
    pub description: String,
    /// A Docker registry endpoint of the project, by name or id.
    pub endpoint: String,
    /// A pipeline of the project, by name or id.
    pub pipeline: String,
    /// An API token: the token itself, or the id of one of the caller's tokens.
    /// Empty on an edit keeps the current one.
    pub api_token: String,
    pub image: String,
    pub tag: String,
    pub inputs: BTreeMap<String, String>,
    pub enabled: Option<bool>,
    pub source_cidrs: Vec<String>,
}

/// One event received by a webhook: a row of the Activity tab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerEvent {
    pub id: i64,
    pub webhook_id: i64,
    pub webhook: String,
    pub project_id: i64,
    pub received_at: Millis,
    /// `docker-hub` or `registry`.
    pub source: String,
    pub repository: String,
    pub tag: String,
    pub owner: String,
    /// TRIGGERED, IGNORED, REJECTED or DUPLICATE.
    pub status: String,
    pub reason: String,
    pub execution_id: Option<i64>,
    /// The linked run's own state, once there is one.
    pub execution_status: Option<ExecutionStatus>,
}

/// What a receiver answers for an accepted delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAnswer {
    pub event_id: Option<i64>,
    pub status: String,
    pub execution_id: Option<i64>,
}

/// Filters of the Activity tab.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActivityFilter {
    pub webhook: Option<i64>,
    pub status: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<u32>,
}
