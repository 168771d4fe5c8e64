//! The one storage interface the rest of the server calls. Each database
//! backend is one module implementing [`Store`]; SQL dialect details stay
//! inside those modules.

pub mod hooks;
pub mod runs;
mod sqlite;
mod sqlite_hooks;
mod sqlite_runs;

use std::sync::Arc;

use app::model::{ApiTokenInfo, Millis, ProjectRole};

pub use hooks::*;
pub use runs::*;
pub use sqlite::SqliteStore;

pub type SharedStore = Arc<dyn Store>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique or check constraint refused the write; carries the constraint name.
    #[error("constraint {0} refused the write")]
    Constraint(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migration(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// An endpoint row; `settings` and `last_validation` are JSON text and
/// `sealed_secrets` is ciphertext (see `crate::crypto`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRecord {
    pub id: i64,
    pub project_id: i64,
    pub project_name: String,
    pub name: String,
    pub description: String,
    pub kind: String,
    pub url: String,
    pub settings: String,
    pub sealed_secrets: Option<String>,
    pub last_validation: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What a create or an update of an endpoint writes.
pub struct EndpointWrite<'a> {
    pub project_id: i64,
    pub name: &'a str,
    pub description: &'a str,
    pub kind: &'a str,
    pub url: &'a str,
    pub settings: &'a str,
    pub sealed_secrets: Option<&'a str>,
    pub now: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    pub user_id: i64,
    pub username: String,
    pub role: ProjectRole,
}

/// A new API token as it is stored: only the hash of the secret.
pub struct NewTokenRecord<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub prefix: &'a str,
    pub token_hash: &'a str,
    pub created_at: Millis,
}

#[async_trait::async_trait]
pub trait Store: RunStore + HookStore + Send + Sync + 'static {
    /// Applies the embedded migrations not yet applied.
    async fn migrate(&self) -> StoreResult<()>;

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    /// Creates the user, or returns the existing one of that name unchanged.
    async fn ensure_user(
        &self,
        username: &str,
        is_admin: bool,
        now: Millis,
    ) -> StoreResult<UserRecord>;
    async fn set_user_admin(&self, user_id: i64, is_admin: bool) -> StoreResult<()>;
    async fn set_password_hash(&self, user_id: i64, password_hash: &str) -> StoreResult<()>;
    async fn count_users_with_password(&self) -> StoreResult<i64>;

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: Millis,
        expires_at: Millis,
    ) -> StoreResult<()>;
    async fn user_for_session(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<UserRecord>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;

    async fn create_api_token(&self, token: NewTokenRecord<'_>) -> StoreResult<ApiTokenInfo>;
    /// The owner of an active token; records the use.
    async fn user_for_api_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<UserRecord>>;
    /// (token id, user id) of an active token.
    async fn active_api_token(&self, token_hash: &str) -> StoreResult<Option<(i64, i64)>>;
    /// Whether the token exists and is not revoked.
    async fn api_token_by_id(&self, token_id: i64) -> StoreResult<bool>;
    async fn user_is_admin(&self, user_id: i64) -> StoreResult<bool>;
    async fn list_api_tokens(&self, user_id: i64) -> StoreResult<Vec<ApiTokenInfo>>;
    /// Revokes one of the user's tokens; false when the user has no such active token.
    async fn revoke_api_token(&self, user_id: i64, token_id: i64, now: Millis)
        -> StoreResult<bool>;

    /// The user's projects with their role there; with `all`, every project
    /// (role where the user has one).
    async fn list_projects(
        &self,
        user_id: i64,
        all: bool,
    ) -> StoreResult<Vec<(ProjectRecord, Option<ProjectRole>)>>;
    async fn project_by_id(&self, id: i64) -> StoreResult<Option<ProjectRecord>>;
    async fn project_by_name(&self, name: &str) -> StoreResult<Option<ProjectRecord>>;
    async fn create_project(
        &self,
        name: &str,
        description: &str,
        now: Millis,
    ) -> StoreResult<ProjectRecord>;
    async fn update_project(
        &self,
        id: i64,
        name: &str,
        description: &str,
        now: Millis,
    ) -> StoreResult<ProjectRecord>;
    async fn delete_project(&self, id: i64) -> StoreResult<()>;
    /// What still lives in the project, as "2 endpoints"-style phrases; empty when nothing does.
    async fn project_contents(&self, id: i64) -> StoreResult<Vec<String>>;

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
    /// What still uses the endpoint, as "pipeline 'deploy'"-style phrases.
    async fn endpoint_users(&self, id: i64) -> StoreResult<Vec<String>>;

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>>;
    async fn list_members(&self, project_id: i64) -> StoreResult<Vec<MemberRecord>>;
    async fn remove_membership(&self, project_id: i64, user_id: i64) -> StoreResult<bool>;

    async fn membership(&self, project_id: i64, user_id: i64) -> StoreResult<Option<ProjectRole>>;
    async fn set_membership(
        &self,
        project_id: i64,
        user_id: i64,
        role: ProjectRole,
    ) -> StoreResult<()>;
}

/// Opens the store a database URL names (`sqlite:…`; `postgres:…` comes with
/// the PostgreSQL backend) and applies migrations.
pub async fn open(database_url: &str) -> anyhow::Result<SharedStore> {
    let store: SharedStore = if database_url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(database_url).await?)
    } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        anyhow::bail!(
            "the PostgreSQL backend is not available yet; use a sqlite: database URL (or leave --database-url unset)"
        );
    } else {
        anyhow::bail!("unsupported --database-url scheme: use sqlite:PATH");
    };
    store.migrate().await?;
    Ok(store)
}
