//! [`NotificationStore`] in the SQL both backends speak, and
//! [`enqueue_run_notifications`], which the run's own changes call inside
//! their transactions. The claim's row lock is the one backend difference
//! (`CLAIM_ROW_LOCK` in each backend's module).

use app::execution::ExecutionStatus;
use app::model::Millis;
use app::pipeline::{Notification, RunEvent};
use serde::Deserialize;

use super::rows::NotificationRow;
use super::{Backend, WriteTransaction, CLAIM_ROW_LOCK};
use crate::store::notifications::*;
use crate::store::{StoreError, StoreResult, StoredText};

const NOTIFICATION_COLUMNS: &str =
    "id, execution_id, event, occasion, notification_index, target, state, \
     attempts, next_attempt_at, last_error, sent_at, created_at";

/// What a run's stored spec says of notifications; the rest of the spec is
/// not read here.
#[derive(Deserialize)]
struct RunNotifications {
    #[serde(default)]
    notifications: Vec<Notification>,
}

/// Writes the outbox rows of `event` of run `execution_id`: one for each of
/// the notifications of the spec the run was queued with whose `on` names
/// the event. Call it inside the transaction that makes the change, so the
/// change and its notifications commit together; an event already written
/// (the same change recorded twice) adds nothing. Answers the rows added.
///
/// ```ignore
/// enqueue_run_notifications(&mut transaction, id, RunEvent::Canceled, now).await?;
/// ```
pub(crate) async fn enqueue_run_notifications(
    transaction: &mut WriteTransaction,
    execution_id: i64,
    event: RunEvent,
    now: Millis,
) -> StoreResult<u64> {
    enqueue_notifications_of(transaction, execution_id, event, "", now).await
}

/// As [`enqueue_run_notifications`], for an event that can happen more
/// than once in a run: `occasion` tells them apart (for `waiting`, the
/// approval task that waits, `stage.task`), so each is notified once.
///
/// ```ignore
/// enqueue_notifications_of(&mut transaction, id, RunEvent::Waiting, "prod.approve", now).await?;
/// ```
pub(crate) async fn enqueue_notifications_of(
    transaction: &mut WriteTransaction,
    execution_id: i64,
    event: RunEvent,
    occasion: &str,
    now: Millis,
) -> StoreResult<u64> {
    let spec: Option<String> = sqlx::query_scalar("SELECT spec FROM executions WHERE id = $1")
        .bind(execution_id)
        .fetch_optional(&mut **transaction)
        .await?;
    let Some(spec) = spec else {
        return Ok(0);
    };
    enqueue_for_spec(transaction, execution_id, &spec, event, occasion, now).await
}

/// [`enqueue_run_notifications`] for a change that already read the run's
/// stored spec (its statement's `RETURNING spec`): the engine's claim and a
/// run's end, one round trip fewer inside their transactions.
pub(crate) async fn enqueue_run_notifications_of_spec(
    transaction: &mut WriteTransaction,
    execution_id: i64,
    spec: &str,
    event: RunEvent,
    now: Millis,
) -> StoreResult<u64> {
    enqueue_for_spec(transaction, execution_id, spec, event, "", now).await
}

/// The outbox rows of `event` for the notifications `spec` asks for.
async fn enqueue_for_spec(
    transaction: &mut WriteTransaction,
    execution_id: i64,
    spec: &str,
    event: RunEvent,
    occasion: &str,
    now: Millis,
) -> StoreResult<u64> {
    // Fail closed: a spec that does not read is an error, never "no notifications".
    let wanted: RunNotifications =
        serde_json::from_str(spec).map_err(|error| sqlx::Error::ColumnDecode {
            index: "spec".into(),
            source: Box::new(error),
        })?;
    let mut added = 0;
    for (index, notification) in wanted.notifications.iter().enumerate() {
        if !notification.on.contains(&event) {
            continue;
        }
        let target = serde_json::to_string(&notification.target)
            .map_err(|error| StoreError::Database(sqlx::Error::Encode(Box::new(error))))?;
        added += sqlx::query(
            "INSERT INTO notification_outbox (execution_id, event, occasion, notification_index, target, \
             state, attempts, next_attempt_at, created_at) VALUES ($1, $2, $6, $3, $4, 'PENDING', 0, $5, $5) \
             ON CONFLICT (execution_id, event, occasion, notification_index) DO NOTHING",
        )
        .bind(execution_id)
        .bind(event.text())
        .bind(index as i64)
        .bind(target)
        .bind(now)
        .bind(occasion)
        .execute(&mut **transaction)
        .await?
        .rows_affected();
    }
    Ok(added)
}

/// The event of a run's end, for an end status.
pub(crate) fn run_end_event(status: ExecutionStatus) -> Option<RunEvent> {
    match status {
        ExecutionStatus::Completed => Some(RunEvent::Completed),
        ExecutionStatus::Failed => Some(RunEvent::Failed),
        ExecutionStatus::Canceled => Some(RunEvent::Canceled),
        ExecutionStatus::Queued | ExecutionStatus::Running | ExecutionStatus::Waiting => None,
    }
}

#[async_trait::async_trait]
impl NotificationStore for Backend {
    async fn claim_due_notifications(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: i64,
    ) -> StoreResult<Vec<NotificationRecord>> {
        let rows: Vec<NotificationRow> = sqlx::query_as(&format!(
            "UPDATE notification_outbox SET lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1 \
             WHERE id IN ( \
                 SELECT id FROM notification_outbox WHERE state = 'PENDING' AND next_attempt_at <= $3 \
                 AND (lease_expires_at IS NULL OR lease_expires_at < $3) \
                 ORDER BY next_attempt_at, id LIMIT $4{CLAIM_ROW_LOCK} \
             ) AND state = 'PENDING' RETURNING {NOTIFICATION_COLUMNS}"
        ))
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *self.write_connection().await?)
        .await?;
        Ok(rows.into_iter().map(|row| row.0).collect())
    }

    async fn record_delivery(
        &self,
        id: i64,
        owner: &str,
        outcome: DeliveryOutcome<'_>,
        now: Millis,
    ) -> StoreResult<bool> {
        let (state, error, next_attempt_at, sent_at) = match outcome {
            DeliveryOutcome::Sent => ("SENT", None, None, Some(now)),
            DeliveryOutcome::Retry { error, retry_at } => {
                ("PENDING", Some(error), Some(retry_at), None)
            }
            DeliveryOutcome::GaveUp { error } => ("FAILED", Some(error), None, None),
        };
        let recorded = sqlx::query(
            "UPDATE notification_outbox SET state = $1, last_error = $2, \
                 next_attempt_at = COALESCE($3, next_attempt_at), sent_at = $4, \
                 lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $5 AND lease_owner = $6 AND state = 'PENDING'",
        )
        .bind(state)
        .bind(error)
        .bind(next_attempt_at)
        .bind(sent_at)
        .bind(id)
        .bind(owner)
        .execute(&mut *self.write_connection().await?)
        .await?;
        Ok(recorded.rows_affected() == 1)
    }

    async fn execution_notifications(
        &self,
        execution_id: i64,
    ) -> StoreResult<Vec<NotificationRecord>> {
        self.records_by::<NotificationRow>(
            &format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notification_outbox WHERE execution_id = $1 ORDER BY id"
            ),
            execution_id,
        )
        .await
    }
}
