//! The notification outbox, and the [`NotificationStore`] part of the store.
//!
//! Rows are written by the run's own changes (the claim, the end, a cancel
//! in the queue), in the same transaction, by each backend's
//! `enqueue_run_notifications`; this trait is what the delivery worker and
//! the run's page use.

use app::execution::NotificationState;
use app::model::Millis;
use app::pipeline::RunEvent;

use super::StoreResult;

/// One notification of one run's change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRecord {
    pub id: i64,
    pub execution_id: i64,
    pub event: RunEvent,
    /// What tells two events of one kind in one run apart (for `waiting`,
    /// the approval task, `stage.task`); empty for most events.
    pub occasion: String,
    /// Its place in the run's `notifications`.
    pub notification_index: i64,
    /// The target as JSON (an `app::pipeline::NotificationTarget`).
    pub target: String,
    pub state: NotificationState,
    /// Deliveries tried, counting one in progress.
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub sent_at: Option<Millis>,
    pub created_at: Millis,
}

/// How a delivery attempt ended, recorded by the worker that holds the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome<'a> {
    Sent,
    /// Failed; tried again from `retry_at`.
    Retry {
        error: &'a str,
        retry_at: Millis,
    },
    /// Failed for good.
    GaveUp {
        error: &'a str,
    },
}

#[async_trait::async_trait]
pub trait NotificationStore: Send + Sync {
    /// Takes up to `limit` PENDING notifications due at `now` (whose last
    /// claim, if any, lapsed) for `owner` until `lease_until`, counting an
    /// attempt on each; concurrent claimers never take the same row.
    async fn claim_due_notifications(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: i64,
    ) -> StoreResult<Vec<NotificationRecord>>;

    /// Records how an attempt ended, if `owner` still holds the row (false
    /// when its lease lapsed and another worker took it over).
    async fn record_delivery(
        &self,
        id: i64,
        owner: &str,
        outcome: DeliveryOutcome<'_>,
        now: Millis,
    ) -> StoreResult<bool>;

    /// A run's notifications, in the order they were made.
    async fn execution_notifications(
        &self,
        execution_id: i64,
    ) -> StoreResult<Vec<NotificationRecord>>;
}
