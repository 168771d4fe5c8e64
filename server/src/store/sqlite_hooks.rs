//! SQLite implementation of [`HookStore`].

use app::model::Millis;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::hooks::*;
use super::sqlite::{map_constraint, SqliteStore};
use super::{StoreError, StoreResult};

const WEBHOOK_COLUMNS: &str = "docker_webhooks.id, docker_webhooks.project_id, projects.name AS project_name, \
     docker_webhooks.name, docker_webhooks.description, docker_webhooks.endpoint_id, endpoints.name AS endpoint_name, \
     docker_webhooks.pipeline_id, pipelines.name AS pipeline_name, docker_webhooks.api_token_id, \
     api_tokens.name AS api_token_name, users.id AS run_as_user_id, users.username AS run_as_username, \
     docker_webhooks.image_pattern, docker_webhooks.tag_pattern, docker_webhooks.inputs, docker_webhooks.enabled, \
     docker_webhooks.source_cidrs, docker_webhooks.secure_token_sealed, docker_webhooks.hub_sync_state, \
     docker_webhooks.hub_sync_message, docker_webhooks.created_at, docker_webhooks.updated_at";
const WEBHOOK_FROM: &str =
    "docker_webhooks JOIN projects ON projects.id = docker_webhooks.project_id \
     JOIN endpoints ON endpoints.id = docker_webhooks.endpoint_id \
     JOIN pipelines ON pipelines.id = docker_webhooks.pipeline_id \
     JOIN api_tokens ON api_tokens.id = docker_webhooks.api_token_id \
     JOIN users ON users.id = api_tokens.user_id";
const EVENT_COLUMNS: &str = "docker_events.id, docker_events.webhook_id, docker_webhooks.name AS webhook_name, \
     docker_webhooks.project_id, docker_events.received_at, docker_events.source, docker_events.repository, \
     docker_events.tag, docker_events.owner, docker_events.status, docker_events.reason, docker_events.dedupe_key, \
     docker_events.inputs, docker_events.execution_id, executions.status AS execution_status";
const EVENT_FROM: &str =
    "docker_events JOIN docker_webhooks ON docker_webhooks.id = docker_events.webhook_id \
     LEFT JOIN executions ON executions.id = docker_events.execution_id";

fn webhook_from(row: &SqliteRow) -> WebhookRecord {
    WebhookRecord {
        id: row.get("id"),
        project_id: row.get("project_id"),
        project_name: row.get("project_name"),
        name: row.get("name"),
        description: row.get("description"),
        endpoint_id: row.get("endpoint_id"),
        endpoint_name: row.get("endpoint_name"),
        pipeline_id: row.get("pipeline_id"),
        pipeline_name: row.get("pipeline_name"),
        api_token_id: row.get("api_token_id"),
        api_token_name: row.get("api_token_name"),
        run_as_user_id: row.get("run_as_user_id"),
        run_as_username: row.get("run_as_username"),
        image_pattern: row.get("image_pattern"),
        tag_pattern: row.get("tag_pattern"),
        inputs: row.get("inputs"),
        enabled: row.get("enabled"),
        source_cidrs: row.get("source_cidrs"),
        secure_token_sealed: row.get("secure_token_sealed"),
        hub_sync_state: row.get("hub_sync_state"),
        hub_sync_message: row.get("hub_sync_message"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

fn event_from(row: &SqliteRow) -> EventRecord {
    EventRecord {
        id: row.get("id"),
        webhook_id: row.get("webhook_id"),
        webhook_name: row.get("webhook_name"),
        project_id: row.get("project_id"),
        received_at: row.get("received_at"),
        source: row.get("source"),
        repository: row.get("repository"),
        tag: row.get("tag"),
        owner: row.get("owner"),
        status: row.get("status"),
        reason: row.get("reason"),
        dedupe_key: row.get("dedupe_key"),
        inputs: row.get("inputs"),
        execution_id: row.get("execution_id"),
        execution_status: row.get("execution_status"),
    }
}

impl SqliteStore {
    async fn webhook_where(
        &self,
        condition: &str,
        value: impl ToString,
    ) -> StoreResult<Option<WebhookRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM {WEBHOOK_FROM} WHERE {condition} = ?"
        ))
        .bind(value.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(webhook_from))
    }

    async fn webhook_or_missing(&self, id: i64) -> StoreResult<WebhookRecord> {
        self.webhook_by_id(id)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }
}

#[async_trait::async_trait]
impl HookStore for SqliteStore {
    async fn list_webhooks(&self, member: Option<i64>) -> StoreResult<Vec<WebhookRecord>> {
        let mut query =
            QueryBuilder::<Sqlite>::new(format!("SELECT {WEBHOOK_COLUMNS} FROM {WEBHOOK_FROM}"));
        if let Some(user_id) = member {
            query
                .push(" JOIN memberships ON memberships.project_id = docker_webhooks.project_id AND memberships.user_id = ")
                .push_bind(user_id);
        }
        query.push(" ORDER BY projects.name, docker_webhooks.name");
        let rows = query.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(webhook_from).collect())
    }

    async fn webhook_by_id(&self, id: i64) -> StoreResult<Option<WebhookRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM {WEBHOOK_FROM} WHERE docker_webhooks.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(webhook_from))
    }

    async fn webhooks_by_name(&self, name: &str) -> StoreResult<Vec<WebhookRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM {WEBHOOK_FROM} WHERE docker_webhooks.name = ?"
        ))
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(webhook_from).collect())
    }

    async fn webhook_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<WebhookRecord>> {
        self.webhook_where("docker_webhooks.secure_token_hash", token_hash)
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
             image_pattern, tag_pattern, inputs, enabled, source_cidrs, secure_token_hash, secure_token_sealed, \
             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
        .bind(token_hash)
        .bind(token_sealed)
        .bind(webhook.now)
        .bind(webhook.now)
        .fetch_one(&self.pool)
        .await
        .map_err(map_constraint)?;
        self.webhook_or_missing(id).await
    }

    async fn update_webhook(
        &self,
        id: i64,
        webhook: WebhookWrite<'_>,
    ) -> StoreResult<WebhookRecord> {
        sqlx::query(
            "UPDATE docker_webhooks SET project_id = ?, name = ?, description = ?, endpoint_id = ?, pipeline_id = ?, \
             api_token_id = ?, image_pattern = ?, tag_pattern = ?, inputs = ?, enabled = ?, source_cidrs = ?, \
             updated_at = ? WHERE id = ?",
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
        .bind(webhook.now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(map_constraint)?;
        self.webhook_or_missing(id).await
    }

    async fn set_webhook_enabled(&self, id: i64, enabled: bool, now: Millis) -> StoreResult<()> {
        sqlx::query("UPDATE docker_webhooks SET enabled = ?, updated_at = ? WHERE id = ?")
            .bind(enabled)
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
            "UPDATE docker_webhooks SET secure_token_hash = ?, secure_token_sealed = ?, updated_at = ? WHERE id = ?",
        )
        .bind(token_hash)
        .bind(token_sealed)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_hub_sync(&self, id: i64, state: &str, message: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE docker_webhooks SET hub_sync_state = ?, hub_sync_message = ? WHERE id = ?",
        )
        .bind(state)
        .bind(message)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_webhook(&self, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM docker_webhooks WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_event(&self, event: NewEvent<'_>) -> StoreResult<i64> {
        let id = sqlx::query_scalar(
            "INSERT INTO docker_events (webhook_id, received_at, source, repository, tag, owner, status, reason, \
             dedupe_key, inputs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(event.webhook_id)
        .bind(event.received_at)
        .bind(event.source)
        .bind(event.repository)
        .bind(event.tag)
        .bind(event.owner)
        .bind(event.status)
        .bind(event.reason)
        .bind(event.dedupe_key)
        .bind(event.inputs)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn mark_event(&self, event_id: i64, status: &str, reason: &str) -> StoreResult<()> {
        sqlx::query("UPDATE docker_events SET status = ?, reason = ? WHERE id = ?")
            .bind(status)
            .bind(reason)
            .bind(event_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn link_event(&self, event_id: i64, execution_id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE docker_events SET execution_id = ? WHERE id = ?")
            .bind(execution_id)
            .bind(event_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn triggered_event_with_key(
        &self,
        webhook_id: i64,
        dedupe_key: &str,
        since: Millis,
    ) -> StoreResult<Option<i64>> {
        let id = sqlx::query_scalar(
            "SELECT id FROM docker_events WHERE webhook_id = ? AND dedupe_key = ? AND received_at >= ? \
             AND status = 'TRIGGERED' ORDER BY id LIMIT 1",
        )
        .bind(webhook_id)
        .bind(dedupe_key)
        .bind(since)
        .fetch_optional(&self.pool)
        .await?;
        Ok(id)
    }

    async fn event_by_id(&self, id: i64) -> StoreResult<Option<EventRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE docker_events.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(event_from))
    }

    async fn list_events(&self, filter: &EventQuery) -> StoreResult<Vec<EventRecord>> {
        let mut query =
            QueryBuilder::<Sqlite>::new(format!("SELECT {EVENT_COLUMNS} FROM {EVENT_FROM}"));
        if let Some(user_id) = filter.member {
            query
                .push(" JOIN memberships ON memberships.project_id = docker_webhooks.project_id AND memberships.user_id = ")
                .push_bind(user_id);
        }
        query.push(" WHERE 1 = 1");
        if let Some(webhook_id) = filter.webhook_id {
            query
                .push(" AND docker_events.webhook_id = ")
                .push_bind(webhook_id);
        }
        if let Some(status) = &filter.status {
            query
                .push(" AND docker_events.status = ")
                .push_bind(status.clone());
        }
        if let Some(before_id) = filter.before_id {
            query.push(" AND docker_events.id < ").push_bind(before_id);
        }
        query
            .push(" ORDER BY docker_events.id DESC LIMIT ")
            .push_bind(filter.limit);
        let rows = query.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(event_from).collect())
    }

    async fn last_event(&self, webhook_id: i64) -> StoreResult<Option<EventRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE docker_events.webhook_id = ? ORDER BY docker_events.id DESC LIMIT 1"
        ))
        .bind(webhook_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(event_from))
    }
}
