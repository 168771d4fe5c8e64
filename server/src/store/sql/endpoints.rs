//! [`EndpointStore`] in the SQL both backends speak.

use super::rows::EndpointRow;
use super::{map_constraint, missing, Backend};
use crate::store::{
    EndpointRecord, EndpointStore, EndpointUser, EndpointUserKind, EndpointWrite, StoreResult,
    StoredText,
};

const ENDPOINT_COLUMNS: &str = "endpoints.id, endpoints.project_id, projects.name AS project_name, \
     endpoints.name, endpoints.description, endpoints.kind, endpoints.url, endpoints.settings, \
     endpoints.sealed_secrets, endpoints.last_validation, endpoints.created_at, endpoints.updated_at";
const ENDPOINT_FROM: &str = "endpoints JOIN projects ON projects.id = endpoints.project_id";

#[async_trait::async_trait]
impl EndpointStore for Backend {
    async fn list_endpoints(&self, member: Option<i64>) -> StoreResult<Vec<EndpointRecord>> {
        // With no member (`$1` NULL), the endpoints of every project.
        self.records_by::<EndpointRow>(
            &format!(
                "SELECT {ENDPOINT_COLUMNS} FROM {ENDPOINT_FROM} WHERE $1 IS NULL OR endpoints.project_id IN \
                 (SELECT project_id FROM memberships WHERE user_id = $1) ORDER BY projects.name, endpoints.name"
            ),
            member,
        )
        .await
    }

    async fn endpoint_by_id(&self, id: i64) -> StoreResult<Option<EndpointRecord>> {
        self.record_by::<EndpointRow>(
            &format!("SELECT {ENDPOINT_COLUMNS} FROM {ENDPOINT_FROM} WHERE endpoints.id = $1"),
            id,
        )
        .await
    }

    async fn endpoints_by_name(&self, name: &str) -> StoreResult<Vec<EndpointRecord>> {
        self.records_by::<EndpointRow>(
            &format!("SELECT {ENDPOINT_COLUMNS} FROM {ENDPOINT_FROM} WHERE endpoints.name = $1"),
            name,
        )
        .await
    }

    async fn create_endpoint(&self, endpoint: EndpointWrite<'_>) -> StoreResult<EndpointRecord> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO endpoints (project_id, name, description, kind, url, settings, sealed_secrets, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(endpoint.project_id)
        .bind(endpoint.name)
        .bind(endpoint.description)
        .bind(endpoint.kind.text())
        .bind(endpoint.url)
        .bind(endpoint.settings)
        .bind(endpoint.sealed_secrets)
        .bind(endpoint.now)
        .fetch_one(&mut *self.write_connection().await?)
        .await
        .map_err(map_constraint)?;
        self.endpoint_by_id(id).await?.ok_or_else(missing)
    }

    async fn update_endpoint(
        &self,
        id: i64,
        endpoint: EndpointWrite<'_>,
    ) -> StoreResult<EndpointRecord> {
        // A changed endpoint has not been validated in its new form.
        sqlx::query(
            "UPDATE endpoints SET project_id = $1, name = $2, description = $3, kind = $4, url = $5, \
             settings = $6, sealed_secrets = $7, last_validation = NULL, updated_at = $8 WHERE id = $9",
        )
        .bind(endpoint.project_id)
        .bind(endpoint.name)
        .bind(endpoint.description)
        .bind(endpoint.kind.text())
        .bind(endpoint.url)
        .bind(endpoint.settings)
        .bind(endpoint.sealed_secrets)
        .bind(endpoint.now)
        .bind(id)
        .execute(&mut *self.write_connection().await?)
        .await
        .map_err(map_constraint)?;
        self.endpoint_by_id(id).await?.ok_or_else(missing)
    }

    async fn delete_endpoint(&self, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM endpoints WHERE id = $1")
            .bind(id)
            .execute(&mut *self.write_connection().await?)
            .await?;
        Ok(())
    }

    async fn set_endpoint_validation(&self, id: i64, validation_json: &str) -> StoreResult<()> {
        sqlx::query("UPDATE endpoints SET last_validation = $1 WHERE id = $2")
            .bind(validation_json)
            .bind(id)
            .execute(&mut *self.write_connection().await?)
            .await?;
        Ok(())
    }

    async fn endpoint_users(&self, id: i64) -> StoreResult<Vec<EndpointUser>> {
        let pipelines: Vec<String> = sqlx::query_scalar(
            "SELECT pipelines.name FROM pipeline_endpoints \
             JOIN pipelines ON pipelines.id = pipeline_endpoints.pipeline_id \
             WHERE pipeline_endpoints.endpoint_id = $1 ORDER BY pipelines.name",
        )
        .bind(id)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        let webhooks: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM docker_webhooks WHERE endpoint_id = $1 ORDER BY name",
        )
        .bind(id)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        let user = |kind| move |name| EndpointUser { kind, name };
        Ok(pipelines
            .into_iter()
            .map(user(EndpointUserKind::Pipeline))
            .chain(webhooks.into_iter().map(user(EndpointUserKind::Webhook)))
            .collect())
    }
}
