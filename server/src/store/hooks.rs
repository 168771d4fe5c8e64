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
    /// Ignore pushes not newer than the repository's last TRIGGERED one.
    pub newer_only: bool,
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
    run_as_username, image_pattern, tag_pattern, inputs, enabled, newer_only, source_cidrs,
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
    pub newer_only: bool,
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
    /// The digest the push deployed, when known.
    pub digest: Option<String>,
    pub execution_id: Option<i64>,
    pub execution_status: Option<ExecutionStatus>,
}

/// An Activity row to record. Owned: a delivery's rows wait in the delivery
/// writer's queue (see [`HookStore::record_deliveries`]).
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub webhook_id: i64,
    pub received_at: Millis,
    pub source: DeliverySource,
    pub repository: String,
    pub tag: String,
    pub owner: String,
    pub status: EventStatus,
    pub reason: String,
    pub dedupe_key: Option<String>,
    pub inputs: Option<String>,
    /// When it was pushed (milliseconds since 1970), for ordering pushes.
    pub pushed_at: Option<Millis>,
    pub digest: Option<String>,
}

/// What [`HookStore::record_push`] stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushRecorded {
    /// The first delivery of the push: stored TRIGGERED; it starts the run.
    First(i64),
    /// The push already started a run (event `first_event_id`): stored DUPLICATE.
    Duplicate { event_id: i64, first_event_id: i64 },
    /// A newer push already started a run (`newer_event_id`): stored IGNORED.
    Stale { event_id: i64, newer_event_id: i64 },
}

/// The newest TRIGGERED push of a webhook's repository tag, or (for
/// `newer_only`) of the whole repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushHead {
    pub event_id: i64,
    pub tag: String,
    pub pushed_at: Millis,
}

/// Which head a push lost to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadScope {
    /// The same tag was pushed later (newest wins).
    Tag,
    /// The repository's last TRIGGERED push is as new or newer (`newer_only`).
    Repository,
}

/// A push that cancels the queued runs of older pushes of its tag.
pub struct SupersedingPush<'a> {
    pub webhook_id: i64,
    pub repository: &'a str,
    pub tag: &'a str,
    pub event_id: i64,
    pub pushed_at: Millis,
    pub reason: &'a str,
    pub now: Millis,
}

/// A reason written into an Activity row, made from what the store found.
pub type ReasonOf<T> = Box<dyn Fn(T) -> String + Send + Sync>;

/// Whether a push is newer than a head (`newer_only`), as the caller judges it.
pub type NewerThan = Box<dyn Fn(&PushHead) -> bool + Send + Sync>;

/// The Activity reason of a push that lost to a head.
pub type StaleReason = Box<dyn Fn(&PushHead, HeadScope) -> String + Send + Sync>;

/// How [`HookStore::record_push`] dedupes and orders a push.
pub struct PushOrder {
    /// A re-delivery claimed at or after this time is a DUPLICATE.
    pub window_start: Millis,
    /// The Activity reason of a DUPLICATE, given the first event's id.
    pub duplicate_reason: ReasonOf<i64>,
    /// With `newer_only`: whether the push is newer than the repository's head.
    pub newer_than: Option<NewerThan>,
    /// The Activity reason of a push that lost to a head.
    pub stale_reason: StaleReason,
}

/// The run a push starts when it is the first delivery of its push.
pub struct PushRun {
    pub pipeline_id: i64,
    pub project_id: i64,
    /// The run's inputs (JSON), checked against the pipeline's.
    pub inputs: String,
    /// The pipeline's spec, kept with the run.
    pub spec: String,
    pub created_by: Option<i64>,
    pub now: Millis,
    /// The run's trigger (JSON), given its Activity row's id.
    pub trigger: ReasonOf<i64>,
    /// Why the QUEUED runs of older pushes of the tag are canceled, given
    /// this push's Activity row id.
    pub superseding_reason: ReasonOf<i64>,
}

/// A push that passed the webhook's filters.
pub struct PushWrite {
    pub event: NewEvent,
    pub order: PushOrder,
    /// Its run; or why it cannot run (token revoked, pipeline disabled…),
    /// which becomes the row's reason, REJECTED, when the push is the first.
    pub run: Result<PushRun, String>,
}

/// One write of a delivery, recorded with others in one transaction by
/// [`HookStore::record_deliveries`].
pub enum DeliveryWrite {
    /// An Activity row and nothing more: an ignored push, a rejected body,
    /// events that are not pushes.
    Row(NewEvent),
    /// A push: deduped and ordered as [`HookStore::record_push`] does; the
    /// first delivery of a push also queues its run, links it to its row and
    /// cancels the QUEUED runs of older pushes of its tag
    /// ([`HookStore::supersede_queued_runs`]).
    Push(PushWrite),
}

/// What [`HookStore::record_deliveries`] recorded for one write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryRecorded {
    Row(i64),
    Push {
        recorded: PushRecorded,
        /// The run it queued: only for the first delivery of a push that can run.
        run: Option<QueuedRun>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedRun {
    pub execution_id: i64,
    /// The QUEUED runs of older pushes it canceled.
    pub superseded: Vec<i64>,
}

#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    pub member: Option<i64>,
    pub webhook_id: Option<i64>,
    pub status: Option<EventStatus>,
    pub source: Option<DeliverySource>,
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

    async fn record_event(&self, event: NewEvent) -> StoreResult<i64>;
    /// Records the counted row of refused deliveries: `event` standing for
    /// `deliveries` of them.
    async fn record_counted_event(&self, event: NewEvent, deliveries: i64) -> StoreResult<i64>;
    /// Updates a counted row in place: how many deliveries it stands for
    /// now, and its reason (which names the latest sender).
    async fn update_counted_event(
        &self,
        event_id: i64,
        deliveries: i64,
        reason: &str,
    ) -> StoreResult<()>;
    /// Records a push that passed the webhook's filters, atomically deduped by
    /// its `dedupe_key`: the first delivery since `order.window_start` claims
    /// the key; any other delivery of the same key while the claim holds is
    /// stored DUPLICATE, with the reason `duplicate_reason(first event id)` and
    /// no inputs. Concurrent deliveries of one push claim it exactly once. An
    /// event without a key claims nothing.
    ///
    /// Then it is ordered (when it has a `pushed_at`): a push older than its
    /// tag's head, or (with `newer_than`) not newer than its repository's head,
    /// is stored IGNORED with `stale_reason` and gives its claim up; otherwise
    /// it becomes the head(s) and is stored as given (TRIGGERED). Heads change
    /// by compare-and-set, and a transaction that loses a race is run again.
    async fn record_push(&self, event: NewEvent, order: &PushOrder) -> StoreResult<PushRecorded>;
    /// Records the writes of many deliveries in one transaction (group
    /// commit): each in a savepoint of its own, in order, so one write's
    /// failure is that write's answer and leaves the others. The outer error
    /// means the transaction failed and none was recorded.
    async fn record_deliveries(
        &self,
        writes: &[DeliveryWrite],
    ) -> StoreResult<Vec<StoreResult<DeliveryRecorded>>>;
    /// The newest TRIGGERED push of the webhook's repository (`newer_only`).
    async fn repository_head(
        &self,
        webhook_id: i64,
        repository: &str,
    ) -> StoreResult<Option<PushHead>>;
    /// Cancels the runs of pushes of the same webhook, repository and tag
    /// pushed before `pushed_at` that are still QUEUED (no task started), with
    /// `reason` as their error and their Activity rows' reason; answers them.
    async fn supersede_queued_runs(&self, newer: &SupersedingPush<'_>) -> StoreResult<Vec<i64>>;
    /// Changes an event's status after the fact (a TRIGGERED event whose run
    /// could not start). An event no longer TRIGGERED gives up its claim on its
    /// push, so a re-delivery is tried again.
    async fn mark_event(&self, event_id: i64, status: EventStatus, reason: &str)
        -> StoreResult<()>;
    async fn link_event(&self, event_id: i64, execution_id: i64) -> StoreResult<()>;
    /// Records the digest a TRIGGERED event's run was pinned to when it
    /// started (its push was accepted without one); a digest already
    /// recorded stays.
    async fn set_event_digest(&self, event_id: i64, digest: &str) -> StoreResult<()>;
    async fn event_by_id(&self, id: i64) -> StoreResult<Option<EventRecord>>;
    async fn list_events(&self, query: &EventQuery) -> StoreResult<Vec<EventRecord>>;
    async fn last_event(&self, webhook_id: i64) -> StoreResult<Option<EventRecord>>;
}
