//! Records of endpoints, and the [`EndpointStore`] part of the store.

use app::endpoint::EndpointKind;
use app::model::Millis;

use super::StoreResult;

/// An endpoint row; `settings` and `last_validation` are JSON text and
/// `sealed_secrets` is ciphertext (see `crate::crypto`).
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    pub id: i64,
    pub project_id: i64,
    pub project_name: String,
    pub name: String,
    pub description: String,
    pub kind: EndpointKind,
    pub url: String,
    pub settings: String,
    pub sealed_secrets: Option<String>,
    pub last_validation: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

app::redacted_debug!(EndpointRecord {
    id, project_id, project_name, name, description, kind, url, settings,
    last_validation, created_at, updated_at
} secret { sealed_secrets });

/// What a create or an update of an endpoint writes.
pub struct EndpointWrite<'a> {
    pub project_id: i64,
    pub name: &'a str,
    pub description: &'a str,
    pub kind: EndpointKind,
    pub url: &'a str,
    pub settings: &'a str,
    pub sealed_secrets: Option<&'a str>,
    pub now: Millis,
}

/// What kind of thing uses an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointUserKind {
    Pipeline,
    Webhook,
}

/// Something that uses an endpoint, so the endpoint cannot be deleted under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointUser {
    pub kind: EndpointUserKind,
    pub name: String,
}

#[async_trait::async_trait]
pub trait EndpointStore: Send + Sync {
    /// Endpoints of the member's projects, or of all projects for `None`.
    async fn list_endpoints(&self, member: Option<i64>) -> StoreResult<Vec<EndpointRecord>>;
    async fn endpoint_by_id(&self, id: i64) -> StoreResult<Option<EndpointRecord>>;
    /// Endpoints of that name in any project (names are unique per project only).
    async fn endpoints_by_name(&self, name: &str) -> StoreResult<Vec<EndpointRecord>>;
    async fn create_endpoint(&self, endpoint: EndpointWrite<'_>) -> StoreResult<EndpointRecord>;
    async fn update_endpoint(
        &self,
        id: i64,
        endpoint: EndpointWrite<'_>,
    ) -> StoreResult<EndpointRecord>;
    async fn delete_endpoint(&self, id: i64) -> StoreResult<()>;
    async fn set_endpoint_validation(&self, id: i64, validation_json: &str) -> StoreResult<()>;
    /// What still uses the endpoint: its pipelines by name, then its webhooks by name.
    async fn endpoint_users(&self, id: i64) -> StoreResult<Vec<EndpointUser>>;
}
