//! Records of Docker webhooks and their events, and the [`HookStore`] part of the store.

use app::execution::ExecutionStatus;
use app::model::Millis;
use app::webhook::{DeliverySource, EventStatus, HubSyncState};

use super::StoreResult;

#[derive(Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: i64,
    pub project_id: i64,
    pub project_name: String,
    pub name: String,
    pub description: String,
    pub endpoint_id: i64,
    pub endpoint_name: String,
    pub pipeline_id: i64,
    pub pipeline_name: String,
    pub api_token_id: i64,
    pub api_token_name: String,
    pub run_as_user_id: i64,
    pub run_as_username: String,
    pub image_pattern: String,
    pub tag_pattern: String,
    pub inputs: String,
    pub enabled: bool,
    pub source_cidrs: String,
    pub max_deliveries_per_minute: i64,
    pub secure_token_sealed: String,
    pub hub_sync_state: HubSyncState,
    pub hub_sync_message: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

app::redacted_debug!(WebhookRecord {
    id, project_id, project_name, name, description, endpoint_id, endpoint_name,
    pipeline_id, pipeline_name, api_token_id, api_token_name, run_as_user_id,
    run_as_username, image_pattern, tag_pattern, inputs, enabled, source_cidrs,
    max_deliveries_per_minute,
    hub_sync_state, hub_sync_message, created_at, updated_at,
} secret { secure_token_sealed });

pub struct WebhookWrite<'a> {
    pub project_id: i64,
    pub name: &'a str,
    pub description: &'a str,
    pub endpoint_id: i64,
    pub pipeline_id: i64,
    pub api_token_id: i64,
    pub image_pattern: &'a str,
    pub tag_pattern: &'a str,
    pub inputs: &'a str,
    pub enabled: bool,
    pub source_cidrs: &'a str,
    pub max_deliveries_per_minute: i64,
    pub now: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub id: i64,
    pub webhook_id: i64,
    pub webhook_name: String,
    pub project_id: i64,
    pub received_at: Millis,
    pub source: DeliverySource,
    pub repository: String,
    pub tag: String,
    pub owner: String,
    pub status: EventStatus,
    pub reason: String,
    /// 1, or how many refused deliveries a counted row stands for.
    pub deliveries: i64,
    pub dedupe_key: Option<String>,
    pub inputs: Option<String>,
    pub execution_id: Option<i64>,
    pub execution_status: Option<ExecutionStatus>,
}

pub struct NewEvent<'a> {
    pub webhook_id: i64,
    pub received_at: Millis,
    pub source: DeliverySource,
    pub repository: &'a str,
    pub tag: &'a str,
    pub owner: &'a str,
    pub status: EventStatus,
    pub reason: &'a str,
    pub dedupe_key: Option<&'a str>,
    pub inputs: Option<&'a str>,
}

/// What [`HookStore::record_push`] stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushRecorded {
    /// The first delivery of the push: stored TRIGGERED; it starts the run.
    First(i64),
    /// The push already started a run (event `first_event_id`): stored DUPLICATE.
    Duplicate { event_id: i64, first_event_id: i64 },
}

#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    pub member: Option<i64>,
    pub webhook_id: Option<i64>,
    pub status: Option<EventStatus>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

#[async_trait::async_trait]
pub trait HookStore: Send + Sync {
    async fn list_webhooks(&self, member: Option<i64>) -> StoreResult<Vec<WebhookRecord>>;
    async fn webhook_by_id(&self, id: i64) -> StoreResult<Option<WebhookRecord>>;
    async fn webhooks_by_name(&self, name: &str) -> StoreResult<Vec<WebhookRecord>>;
    async fn webhook_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<WebhookRecord>>;
    async fn create_webhook(
        &self,
        webhook: WebhookWrite<'_>,
        token_hash: &str,
        token_sealed: &str,
    ) -> StoreResult<WebhookRecord>;
    async fn update_webhook(
        &self,
        id: i64,
        webhook: WebhookWrite<'_>,
    ) -> StoreResult<WebhookRecord>;
    async fn set_webhook_enabled(&self, id: i64, enabled: bool, now: Millis) -> StoreResult<()>;
    async fn set_webhook_delivery_limit(
        &self,
        id: i64,
        max_deliveries_per_minute: i64,
        now: Millis,
    ) -> StoreResult<()>;
    async fn set_webhook_token(
        &self,
        id: i64,
        token_hash: &str,
        token_sealed: &str,
        now: Millis,
    ) -> StoreResult<()>;
    async fn set_hub_sync(&self, id: i64, state: HubSyncState, message: &str) -> StoreResult<()>;
    async fn delete_webhook(&self, id: i64) -> StoreResult<()>;

    async fn record_event(&self, event: NewEvent<'_>) -> StoreResult<i64>;
    /// Records the counted row of refused deliveries: `event` standing for
    /// `deliveries` of them.
    async fn record_counted_event(&self, event: NewEvent<'_>, deliveries: i64) -> StoreResult<i64>;
    /// Updates a counted row in place: how many deliveries it stands for
    /// now, and its reason (which names the latest sender).
    async fn update_counted_event(
        &self,
        event_id: i64,
        deliveries: i64,
        reason: &str,
    ) -> StoreResult<()>;
    /// Records a push that passed the webhook's filters, atomically deduped by
    /// its `dedupe_key`: the first delivery since `window_start` claims the key
    /// and is stored as given (TRIGGERED); any other delivery of the same key
    /// while the claim holds is stored DUPLICATE, with the reason
    /// `duplicate_reason(first event id)` and no inputs. Concurrent deliveries
    /// of one push claim it exactly once. An event without a key claims nothing.
    async fn record_push(
        &self,
        event: NewEvent<'_>,
        window_start: Millis,
        duplicate_reason: &(dyn Fn(i64) -> String + Sync),
    ) -> StoreResult<PushRecorded>;
    /// Changes an event's status after the fact (a TRIGGERED event whose run
    /// could not start). An event no longer TRIGGERED gives up its claim on its
    /// push, so a re-delivery is tried again.
    async fn mark_event(&self, event_id: i64, status: EventStatus, reason: &str)
        -> StoreResult<()>;
    async fn link_event(&self, event_id: i64, execution_id: i64) -> StoreResult<()>;
    async fn event_by_id(&self, id: i64) -> StoreResult<Option<EventRecord>>;
    async fn list_events(&self, query: &EventQuery) -> StoreResult<Vec<EventRecord>>;
    async fn last_event(&self, webhook_id: i64) -> StoreResult<Option<EventRecord>>;
}
