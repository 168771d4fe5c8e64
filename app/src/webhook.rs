//! Docker webhooks (triggers) and the events they receive (Activity).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::execution::ExecutionStatus;
use crate::model::Millis;

/// How many deliveries a minute a webhook takes unless it says otherwise: a
/// burst of this many at once, then this many a minute. Well above a real
/// registry (a monorepo's CI pushing fifty images, a replication of a few
/// thousand tags) and above the ingest benchmark (4,000 deliveries to one
/// webhook as fast as 32 clients can send them), so only a flood meets it.
pub const DEFAULT_MAX_DELIVERIES_PER_MINUTE: i64 = 6_000;

/// The least and the most a webhook's `max_deliveries_per_minute` may be. There
/// is no "unlimited": a webhook's URL is a bearer secret that registries,
/// CI logs and proxies see, and a leaked one must not be able to flood the
/// database.
pub const DELIVERIES_PER_MINUTE_RANGE: std::ops::RangeInclusive<i64> = 1..=100_000;

/// Checks a webhook's `max_deliveries_per_minute` (422 naming the field and
/// the range otherwise).
pub fn validate_delivery_limit(per_minute: i64) -> Result<(), crate::error::AppError> {
    if DELIVERIES_PER_MINUTE_RANGE.contains(&per_minute) {
        return Ok(());
    }
    Err(crate::error::AppError::invalid(
        "max_deliveries_per_minute",
        &format!(
            "must be between {} and {} deliveries a minute (the default is {}); {per_minute} is not",
            DELIVERIES_PER_MINUTE_RANGE.start(),
            DELIVERIES_PER_MINUTE_RANGE.end(),
            DEFAULT_MAX_DELIVERIES_PER_MINUTE
        ),
    ))
}

/// A delivery limit in words: "1 delivery a minute", "6000 deliveries a minute".
pub fn per_minute_text(per_minute: i64) -> String {
    if per_minute == 1 {
        "1 delivery a minute".into()
    } else {
        format!("{per_minute} deliveries a minute")
    }
}

/// Which receiver a delivery was sent to and, for the registry receiver,
/// which registry's format its body was in (detected from its headers and
/// body: `server::receive::payload::parse_registry_delivery`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum DeliverySource {
    /// `docker-hub`: Docker Hub's push webhook body.
    DockerHub,
    /// `registry`: a CNCF distribution notification envelope.
    Registry,
    /// `harbor`: Harbor's webhook, default or CloudEvents payload format.
    Harbor,
    /// `ghcr`: a GitHub `package` event (GitHub Container Registry).
    Ghcr,
    /// `quay`: a Quay repository notification (`repo_push`).
    Quay,
    /// `acr`: an Azure Container Registry webhook.
    Acr,
    /// `ecr`: an Amazon ECR event delivered by EventBridge.
    Ecr,
    /// `gar`: a Google Artifact Registry Pub/Sub push message.
    Gar,
    /// `gitlab`: the distribution envelope as GitLab's container registry sends it.
    Gitlab,
    /// `jfrog`: a JFrog Artifactory webhook.
    Jfrog,
}

impl DeliverySource {
    pub const ALL: [DeliverySource; 10] = [
        DeliverySource::DockerHub,
        DeliverySource::Registry,
        DeliverySource::Harbor,
        DeliverySource::Ghcr,
        DeliverySource::Quay,
        DeliverySource::Acr,
        DeliverySource::Ecr,
        DeliverySource::Gar,
        DeliverySource::Gitlab,
        DeliverySource::Jfrog,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliverySource::DockerHub => "docker-hub",
            DeliverySource::Registry => "registry",
            DeliverySource::Harbor => "harbor",
            DeliverySource::Ghcr => "ghcr",
            DeliverySource::Quay => "quay",
            DeliverySource::Acr => "acr",
            DeliverySource::Ecr => "ecr",
            DeliverySource::Gar => "gar",
            DeliverySource::Gitlab => "gitlab",
            DeliverySource::Jfrog => "jfrog",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|source| source.as_str() == text)
    }

    /// The product's name, as pages show it.
    pub fn label(self) -> &'static str {
        match self {
            DeliverySource::DockerHub => "Docker Hub",
            DeliverySource::Registry => "Registry",
            DeliverySource::Harbor => "Harbor",
            DeliverySource::Ghcr => "GitHub",
            DeliverySource::Quay => "Quay",
            DeliverySource::Acr => "Azure ACR",
            DeliverySource::Ecr => "AWS ECR",
            DeliverySource::Gar => "Artifact Registry",
            DeliverySource::Gitlab => "GitLab",
            DeliverySource::Jfrog => "JFrog",
        }
    }
}

/// What became of a delivered push: the status of its Activity row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum EventStatus {
    /// A run was queued for it.
    Triggered,
    /// The webhook is disabled, or the push does not match its patterns
    /// (also the answer for a delivery that held no tag push).
    Ignored,
    /// The delivery was refused, or its run could not start.
    Rejected,
    /// The same push already started a run.
    Duplicate,
}

impl EventStatus {
    pub const ALL: [EventStatus; 4] = [
        EventStatus::Triggered,
        EventStatus::Ignored,
        EventStatus::Rejected,
        EventStatus::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Triggered => "TRIGGERED",
            EventStatus::Ignored => "IGNORED",
            EventStatus::Rejected => "REJECTED",
            EventStatus::Duplicate => "DUPLICATE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// Whether the Docker Hub side of a webhook exists as configured.
///
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum HubSyncState {
    /// Docker Hub has the webhook.
    Synced,
    /// Docker Hub refused it; [`HubSync::message`] has its answer.
    NotSynced,
    /// The endpoint is not Docker Hub: there is nothing to sync.
    #[default]
    NotApplicable,
}

impl HubSyncState {
    pub const ALL: [HubSyncState; 3] = [
        HubSyncState::Synced,
        HubSyncState::NotSynced,
        HubSyncState::NotApplicable,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            HubSyncState::Synced => "synced",
            HubSyncState::NotSynced => "not_synced",
            HubSyncState::NotApplicable => "not_applicable",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

/// Whether the Docker Hub side of a webhook exists as configured.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HubSync {
    pub state: HubSyncState,
    /// Docker Hub's answer when `state` is `not_synced`.
    pub message: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// Ignore a push whose version (semver tag) or push time is not newer
    /// than the last one the webhook TRIGGERED for that repository.
    #[serde(default)]
    pub newer_only: bool,
    pub source_cidrs: Vec<String>,
    /// Deliveries a minute the webhook takes (a token bucket: this many at
    /// once, then this many a minute); beyond it the receiver answers 429.
    pub max_deliveries_per_minute: i64,
    pub hub_sync: HubSync,
    pub last_event: Option<DockerEvent>,
    /// Only in the answer that created (or regenerated) the secure token: the one time it is shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_url: Option<String>,
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub created_at: Millis,
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub updated_at: Millis,
}

// The hook URL carries the secure token.
crate::redacted_debug!(DockerWebhook {
    id, project, project_id, name, description, endpoint, endpoint_id, pipeline,
    pipeline_id, api_token, api_token_id, run_as, image, tag, inputs, enabled, newer_only,
    source_cidrs, max_deliveries_per_minute, hub_sync, last_event, created_at, updated_at,
} secret { hook_url });

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// Left out: the current setting on an edit, off on create.
    pub newer_only: Option<bool>,
    pub source_cidrs: Vec<String>,
    /// Left out: the current limit on an edit,
    /// [`DEFAULT_MAX_DELIVERIES_PER_MINUTE`] on create.
    pub max_deliveries_per_minute: Option<i64>,
}

// `api_token` may be the token itself.
crate::redacted_debug!(DockerWebhookInput {
    project, name, description, endpoint, pipeline, image, tag, inputs, enabled,
    newer_only, source_cidrs, max_deliveries_per_minute,
} secret { api_token });

/// One event received by a webhook: a row of the Activity tab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DockerEvent {
    pub id: i64,
    pub webhook_id: i64,
    pub webhook: String,
    pub project_id: i64,
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub received_at: Millis,
    pub source: DeliverySource,
    pub repository: String,
    pub tag: String,
    pub owner: String,
    /// An [`EventStatus`] as text (TRIGGERED, IGNORED, REJECTED or
    /// DUPLICATE); the pages still take it as a string.
    pub status: EventStatus,
    pub reason: String,
    /// How many deliveries the row stands for: 1, or for the counted row of
    /// deliveries refused in one window (over the webhook's limit, or from a
    /// sender off its allow-list) how many were refused.
    #[serde(default = "one_delivery")]
    pub deliveries: i64,
    /// The digest the push deployed (`sha256:…`), when known.
    #[serde(default)]
    pub digest: Option<String>,
    pub execution_id: Option<i64>,
    /// The linked run's own state, once there is one.
    pub execution_status: Option<ExecutionStatus>,
}

fn one_delivery() -> i64 {
    1
}

/// A tag tried against a webhook's patterns before they are saved (the
/// form's "Try a tag", `POST /api/v1/webhooks/docker/try`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TagTrial {
    /// The image pattern, as typed.
    pub image: String,
    /// The tag pattern, as typed.
    pub tag: String,
    pub newer_only: bool,
    /// The repository a push would name, e.g. `acme/shop-api`.
    pub repository: String,
    /// The tag a push would name, e.g. `v1.5.0`.
    pub candidate_tag: String,
    /// A saved webhook (name or id), whose last TRIGGERED push `newer_only` compares with.
    pub webhook: Option<String>,
}

/// Whether a tried push would start a run, and why (not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TagTrialAnswer {
    pub matches: bool,
    pub reason: String,
}

/// What a receiver answers for an accepted delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeliveryAnswer {
    pub event_id: Option<i64>,
    pub status: EventStatus,
    pub execution_id: Option<i64>,
}

/// Filters of the Activity tab.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct ActivityFilter {
    pub webhook: Option<i64>,
    pub status: Option<String>,
    /// A [`DeliverySource`] as text: which registry's format.
    pub source: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value (all of `all`) is written as `text` in JSON and by `as_str`,
    /// and both read back.
    fn spelled<T>(
        all: &[T],
        pairs: &[(T, &str)],
        as_str: fn(&T) -> &'static str,
        parse: fn(&str) -> Option<T>,
    ) where
        T: std::fmt::Debug + PartialEq + Serialize + serde::de::DeserializeOwned,
    {
        assert_eq!(all.len(), pairs.len());
        for (value, text) in pairs {
            assert!(all.contains(value), "{value:?} is missing from ALL");
            assert_eq!(as_str(value), *text);
            assert_eq!(
                serde_json::to_value(value).expect("serializes"),
                serde_json::Value::from(*text)
            );
            let read: T = serde_json::from_value(serde_json::Value::from(*text)).expect("reads");
            assert_eq!(&read, value);
            assert_eq!(parse(text).as_ref(), Some(value));
        }
        assert_eq!(parse("unknown"), None);
    }

    #[test]
    fn states_are_written_as_the_contract_spells_them() {
        use DeliverySource::*;
        use EventStatus::*;
        use HubSyncState::*;
        spelled(
            &DeliverySource::ALL,
            &[
                (DockerHub, "docker-hub"),
                (Registry, "registry"),
                (Harbor, "harbor"),
                (Ghcr, "ghcr"),
                (Quay, "quay"),
                (Acr, "acr"),
                (Ecr, "ecr"),
                (Gar, "gar"),
                (Gitlab, "gitlab"),
                (Jfrog, "jfrog"),
            ],
            |source| source.as_str(),
            DeliverySource::parse,
        );
        spelled(
            &EventStatus::ALL,
            &[
                (Triggered, "TRIGGERED"),
                (Ignored, "IGNORED"),
                (Rejected, "REJECTED"),
                (Duplicate, "DUPLICATE"),
            ],
            |status| status.as_str(),
            EventStatus::parse,
        );
        spelled(
            &HubSyncState::ALL,
            &[
                (Synced, "synced"),
                (NotSynced, "not_synced"),
                (NotApplicable, "not_applicable"),
            ],
            HubSyncState::as_str,
            HubSyncState::parse,
        );
    }

    #[test]
    fn delivery_limits_are_checked_and_told_in_words() {
        assert!(validate_delivery_limit(1).is_ok());
        assert!(validate_delivery_limit(100_000).is_ok());
        for wrong in [0, -1, 100_001, i64::MAX] {
            let error = validate_delivery_limit(wrong).unwrap_err();
            assert_eq!(
                error.for_field("max_deliveries_per_minute"),
                Some(format!(
                    "must be between 1 and 100000 deliveries a minute (the default is 6000); {wrong} is not"
                ))
            );
        }
        assert_eq!(per_minute_text(1), "1 delivery a minute");
        assert_eq!(per_minute_text(6000), "6000 deliveries a minute");
        // A row stored before counted rows existed reads as one delivery.
        let event: DockerEvent = serde_json::from_value(serde_json::json!({
            "id": 1, "webhook_id": 1, "webhook": "w", "project_id": 1, "received_at": 0,
            "source": "registry", "repository": "", "tag": "", "owner": "",
            "status": "REJECTED", "reason": "", "execution_id": null, "execution_status": null
        }))
        .expect("reads");
        assert_eq!(event.deliveries, 1);
    }

    #[test]
    fn answers_and_hub_sync_keep_their_json() {
        let answer = DeliveryAnswer {
            event_id: Some(7),
            status: EventStatus::Duplicate,
            execution_id: None,
        };
        assert_eq!(
            serde_json::to_string(&answer).expect("serializes"),
            r#"{"event_id":7,"status":"DUPLICATE","execution_id":null}"#
        );
        let sync = HubSync {
            state: HubSyncState::NotSynced,
            message: "denied".into(),
        };
        assert_eq!(
            serde_json::to_string(&sync).expect("serializes"),
            r#"{"state":"not_synced","message":"denied"}"#
        );
        assert_eq!(HubSync::default().state, HubSyncState::NotApplicable);
    }
}
