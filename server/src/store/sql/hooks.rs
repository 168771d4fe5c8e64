//! [`HookStore`] in the SQL both backends speak.

use app::model::Millis;
use app::webhook::{EventStatus, HubSyncState};
use sqlx::QueryBuilder;

use super::rows::{EventRow, WebhookRow};
use super::{map_constraint, missing, Backend, Db, DbConnection};
use crate::store::hooks::*;
use crate::store::{StoreResult, StoredText};

const WEBHOOK_COLUMNS: &str = "docker_webhooks.id, docker_webhooks.project_id, projects.name AS project_name, \
     docker_webhooks.name, docker_webhooks.description, docker_webhooks.endpoint_id, endpoints.name AS endpoint_name, \
     docker_webhooks.pipeline_id, pipelines.name AS pipeline_name, docker_webhooks.api_token_id, \
     api_tokens.name AS api_token_name, users.id AS run_as_user_id, users.username AS run_as_username, \
     docker_webhooks.image_pattern, docker_webhooks.tag_pattern, docker_webhooks.inputs, docker_webhooks.enabled, \
     docker_webhooks.source_cidrs, docker_webhooks.max_deliveries_per_minute, docker_webhooks.secure_token_sealed, docker_webhooks.hub_sync_state, \
     docker_webhooks.hub_sync_message, docker_webhooks.created_at, docker_webhooks.updated_at";
const WEBHOOK_FROM: &str =
    "docker_webhooks JOIN projects ON projects.id = docker_webhooks.project_id \
     JOIN endpoints ON endpoints.id = docker_webhooks.endpoint_id \
     JOIN pipelines ON pipelines.id = docker_webhooks.pipeline_id \
     JOIN api_tokens ON api_tokens.id = docker_webhooks.api_token_id \
     JOIN users ON users.id = api_tokens.user_id";
const EVENT_COLUMNS: &str = "docker_events.id, docker_events.webhook_id, docker_webhooks.name AS webhook_name, \
     docker_webhooks.project_id, docker_events.received_at, docker_events.source, docker_events.repository, \
     docker_events.tag, docker_events.owner, docker_events.status, docker_events.reason, docker_events.deliveries, docker_events.dedupe_key, \
     docker_events.inputs, docker_events.execution_id, executions.status AS execution_status";
const EVENT_FROM: &str =
    "docker_events JOIN docker_webhooks ON docker_webhooks.id = docker_events.webhook_id \
     LEFT JOIN executions ON executions.id = docker_events.execution_id";

impl Backend {
    /// Inserts an Activity row standing for `deliveries` deliveries (1 but
    /// for a counted row of refusals).
    async fn insert_event(
        connection: &mut DbConnection,
        event: &NewEvent<'_>,
        deliveries: i64,
    ) -> StoreResult<i64> {
        let id = sqlx::query_scalar(
            "INSERT INTO docker_events (webhook_id, received_at, source, repository, tag, owner, status, reason, \
             dedupe_key, inputs, deliveries) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(event.webhook_id)
        .bind(event.received_at)
        .bind(event.source.text())
        .bind(event.repository)
        .bind(event.tag)
        .bind(event.owner)
        .bind(event.status.text())
        .bind(event.reason)
        .bind(event.dedupe_key)
        .bind(event.inputs)
        .bind(deliveries)
        .fetch_one(connection)
        .await?;
        Ok(id)
    }
}

#[async_trait::async_trait]
impl HookStore for Backend {
    async fn list_webhooks(&self, member: Option<i64>) -> StoreResult<Vec<WebhookRecord>> {
        let mut query =
            QueryBuilder::<Db>::new(format!("SELECT {WEBHOOK_COLUMNS} FROM {WEBHOOK_FROM}"));
        if let Some(user_id) = member {
            query
                .push(" JOIN memberships ON memberships.project_id = docker_webhooks.project_id AND memberships.user_id = ")
                .push_bind(user_id);
        }
        query.push(" ORDER BY projects.name, docker_webhooks.name");
        let rows: Vec<WebhookRow> = query.build_query_as().fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|row| row.0).collect())
    }

    async fn webhook_by_id(&self, id: i64) -> StoreResult<Option<WebhookRecord>> {
        self.record_by::<WebhookRow>(
            &format!("SELECT {WEBHOOK_COLUMNS} FROM {WEBHOOK_FROM} WHERE docker_webhooks.id = $1"),
            id,
        )
        .await
    }

    async fn webhooks_by_name(&self, name: &str) -> StoreResult<Vec<WebhookRecord>> {
        self.records_by::<WebhookRow>(
            &format!(
                "SELECT {WEBHOOK_COLUMNS} FROM {WEBHOOK_FROM} WHERE docker_webhooks.name = $1"
            ),
            name,
        )
        .await
    }

    async fn webhook_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<WebhookRecord>> {
        self.record_by::<WebhookRow>(
            &format!(
                "SELECT {WEBHOOK_COLUMNS} FROM {WEBHOOK_FROM} WHERE docker_webhooks.secure_token_hash = $1"
            ),
            token_hash,
        )
        .await
    }

    async fn create_webhook(
        &self,
        webhook: WebhookWrite<'_>,
        token_hash: &str,
        token_sealed: &str,
    ) -> StoreResult<WebhookRecord> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO docker_webhooks (project_id, name, description, endpoint_id, pipeline_id, api_token_id, \
             image_pattern, tag_pattern, inputs, enabled, source_cidrs, max_deliveries_per_minute, \
             secure_token_hash, secure_token_sealed, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) RETURNING id",
        )
        .bind(webhook.project_id)
        .bind(webhook.name)
        .bind(webhook.description)
        .bind(webhook.endpoint_id)
        .bind(webhook.pipeline_id)
        .bind(webhook.api_token_id)
        .bind(webhook.image_pattern)
        .bind(webhook.tag_pattern)
        .bind(webhook.inputs)
        .bind(webhook.enabled)
        .bind(webhook.source_cidrs)
        .bind(webhook.max_deliveries_per_minute)
        .bind(token_hash)
        .bind(token_sealed)
        .bind(webhook.now)
        .fetch_one(&self.pool)
        .await
        .map_err(map_constraint)?;
        self.webhook_by_id(id).await?.ok_or_else(missing)
    }

    async fn update_webhook(
        &self,
        id: i64,
        webhook: WebhookWrite<'_>,
    ) -> StoreResult<WebhookRecord> {
        sqlx::query(
            "UPDATE docker_webhooks SET project_id = $1, name = $2, description = $3, endpoint_id = $4, \
             pipeline_id = $5, api_token_id = $6, image_pattern = $7, tag_pattern = $8, inputs = $9, \
             enabled = $10, source_cidrs = $11, max_deliveries_per_minute = $12, updated_at = $13 \
             WHERE id = $14",
        )
        .bind(webhook.project_id)
        .bind(webhook.name)
        .bind(webhook.description)
        .bind(webhook.endpoint_id)
        .bind(webhook.pipeline_id)
        .bind(webhook.api_token_id)
        .bind(webhook.image_pattern)
        .bind(webhook.tag_pattern)
        .bind(webhook.inputs)
        .bind(webhook.enabled)
        .bind(webhook.source_cidrs)
        .bind(webhook.max_deliveries_per_minute)
        .bind(webhook.now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(map_constraint)?;
        self.webhook_by_id(id).await?.ok_or_else(missing)
    }

    async fn set_webhook_enabled(&self, id: i64, enabled: bool, now: Millis) -> StoreResult<()> {
        sqlx::query("UPDATE docker_webhooks SET enabled = $1, updated_at = $2 WHERE id = $3")
            .bind(enabled)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_webhook_delivery_limit(
        &self,
        id: i64,
        max_deliveries_per_minute: i64,
        now: Millis,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE docker_webhooks SET max_deliveries_per_minute = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(max_deliveries_per_minute)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_webhook_token(
        &self,
        id: i64,
        token_hash: &str,
        token_sealed: &str,
        now: Millis,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE docker_webhooks SET secure_token_hash = $1, secure_token_sealed = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(token_hash)
        .bind(token_sealed)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(map_constraint)?;
        Ok(())
    }

    async fn set_hub_sync(&self, id: i64, state: HubSyncState, message: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE docker_webhooks SET hub_sync_state = $1, hub_sync_message = $2 WHERE id = $3",
        )
        .bind(state.text())
        .bind(message)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_webhook(&self, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM docker_webhooks WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_event(&self, event: NewEvent<'_>) -> StoreResult<i64> {
        let mut connection = self.pool.acquire().await?;
        Self::insert_event(&mut connection, &event, 1).await
    }

    async fn record_counted_event(&self, event: NewEvent<'_>, deliveries: i64) -> StoreResult<i64> {
        let mut connection = self.pool.acquire().await?;
        Self::insert_event(&mut connection, &event, deliveries).await
    }

    async fn update_counted_event(
        &self,
        event_id: i64,
        deliveries: i64,
        reason: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE docker_events SET deliveries = $1, reason = $2 WHERE id = $3")
            .bind(deliveries)
            .bind(reason)
            .bind(event_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_push(
        &self,
        event: NewEvent<'_>,
        window_start: Millis,
        duplicate_reason: &(dyn Fn(i64) -> String + Sync),
    ) -> StoreResult<PushRecorded> {
        // Write first, under the write lock: the event row, then the claim on
        // its key. Whichever delivery's claim lands decides; the others find
        // the key held and turn their row into a DUPLICATE, all before commit.
        let mut transaction = self.begin_write().await?;
        let event_id = Self::insert_event(&mut transaction, &event, 1).await?;
        let Some(dedupe_key) = event.dedupe_key else {
            transaction.commit().await?;
            return Ok(PushRecorded::First(event_id));
        };
        // A new key, or one whose claim is older than the window, is taken.
        let claimed = sqlx::query(
            "INSERT INTO delivery_keys (webhook_id, dedupe_key, event_id, claimed_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (webhook_id, dedupe_key) DO UPDATE \
                 SET event_id = excluded.event_id, claimed_at = excluded.claimed_at \
                 WHERE delivery_keys.claimed_at < $5",
        )
        .bind(event.webhook_id)
        .bind(dedupe_key)
        .bind(event_id)
        .bind(event.received_at)
        .bind(window_start)
        .execute(&mut *transaction)
        .await?
        .rows_affected()
            == 1;
        let recorded = if claimed {
            PushRecorded::First(event_id)
        } else {
            let first_event_id: i64 = sqlx::query_scalar(
                "SELECT event_id FROM delivery_keys WHERE webhook_id = $1 AND dedupe_key = $2",
            )
            .bind(event.webhook_id)
            .bind(dedupe_key)
            .fetch_one(&mut *transaction)
            .await?;
            sqlx::query(
                "UPDATE docker_events SET status = 'DUPLICATE', reason = $1, inputs = NULL WHERE id = $2",
            )
            .bind(duplicate_reason(first_event_id))
            .bind(event_id)
            .execute(&mut *transaction)
            .await?;
            PushRecorded::Duplicate {
                event_id,
                first_event_id,
            }
        };
        transaction.commit().await?;
        Ok(recorded)
    }

    async fn mark_event(
        &self,
        event_id: i64,
        status: EventStatus,
        reason: &str,
    ) -> StoreResult<()> {
        let mut transaction = self.begin_write().await?;
        sqlx::query("UPDATE docker_events SET status = $1, reason = $2 WHERE id = $3")
            .bind(status.text())
            .bind(reason)
            .bind(event_id)
            .execute(&mut *transaction)
            .await?;
        if status != EventStatus::Triggered {
            // It started no run: the next delivery of its push may.
            sqlx::query("DELETE FROM delivery_keys WHERE event_id = $1")
                .bind(event_id)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn link_event(&self, event_id: i64, execution_id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE docker_events SET execution_id = $1 WHERE id = $2")
            .bind(execution_id)
            .bind(event_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn event_by_id(&self, id: i64) -> StoreResult<Option<EventRecord>> {
        self.record_by::<EventRow>(
            &format!("SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE docker_events.id = $1"),
            id,
        )
        .await
    }

    async fn list_events(&self, filter: &EventQuery) -> StoreResult<Vec<EventRecord>> {
        let mut query =
            QueryBuilder::<Db>::new(format!("SELECT {EVENT_COLUMNS} FROM {EVENT_FROM}"));
        if let Some(user_id) = filter.member {
            query
                .push(" JOIN memberships ON memberships.project_id = docker_webhooks.project_id AND memberships.user_id = ")
                .push_bind(user_id);
        }
        query.push(" WHERE TRUE");
        if let Some(webhook_id) = filter.webhook_id {
            query
                .push(" AND docker_events.webhook_id = ")
                .push_bind(webhook_id);
        }
        if let Some(status) = filter.status {
            query
                .push(" AND docker_events.status = ")
                .push_bind(status.text());
        }
        if let Some(before_id) = filter.before_id {
            query.push(" AND docker_events.id < ").push_bind(before_id);
        }
        query
            .push(" ORDER BY docker_events.id DESC LIMIT ")
            .push_bind(filter.limit);
        let rows: Vec<EventRow> = query.build_query_as().fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|row| row.0).collect())
    }

    async fn last_event(&self, webhook_id: i64) -> StoreResult<Option<EventRecord>> {
        self.record_by::<EventRow>(
            &format!(
                "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE docker_events.webhook_id = $1 \
             ORDER BY docker_events.id DESC LIMIT 1"
            ),
            webhook_id,
        )
        .await
    }
}
