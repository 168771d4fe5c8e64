//! The one storage interface the rest of the server calls. Each database
//! backend is one module implementing [`Store`]; SQL dialect details stay
//! inside those modules.
//!
//! The interface is split by domain ([`IdentityStore`], [`ProjectStore`],
//! [`EndpointStore`], [`RunStore`], [`HookStore`], [`AuditStore`],
//! [`NotificationStore`], [`MaintenanceStore`], [`OperationsStore`]) so each
//! backend can keep one file per domain; callers only ever hold a [`SharedStore`].

pub mod audit;
pub mod endpoints;
pub mod hooks;
pub mod identity;
pub mod maintenance;
pub mod notifications;
pub mod operations;
mod postgres;
pub mod projects;
pub mod runs;
mod sqlite;
pub mod states;

use std::sync::Arc;

use app::error::AppError;

pub use audit::*;
pub use endpoints::*;
pub use hooks::*;
pub use identity::*;
pub use maintenance::*;
pub use notifications::*;
pub use operations::*;
pub use postgres::PostgresStore;
pub use projects::*;
pub use runs::*;
pub use sqlite::SqliteStore;
pub use states::StoredText;

pub type SharedStore = Arc<dyn Store>;

/// The names of the unique constraints the service reacts to. Every backend
/// reports a refused write under these names (the ones the PostgreSQL
/// migrations declare), whatever its own error text.
pub mod constraint {
    pub const PROJECT_NAME: &str = "projects_name_key";
    pub const ENDPOINT_NAME: &str = "endpoints_project_id_name_key";
    pub const PIPELINE_NAME: &str = "pipelines_project_id_name_key";
    pub const WEBHOOK_NAME: &str = "docker_webhooks_project_id_name_key";
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; carries the constraint's name
    /// (see [`constraint`]).
    #[error("constraint {0} refused the write")]
    Constraint(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migration(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Turns the refusal of one named constraint into the service's own error;
/// every other store error converts as usual.
///
/// ```ignore
/// store.create_project(..).await
///     .on_constraint(constraint::PROJECT_NAME, |_| AppError::conflict("that name is taken"))?;
/// ```
pub trait ResultExt<T> {
    fn on_constraint(
        self,
        name: &str,
        map: impl FnOnce(StoreError) -> AppError,
    ) -> Result<T, AppError>;
}

impl<T> ResultExt<T> for StoreResult<T> {
    fn on_constraint(
        self,
        name: &str,
        map: impl FnOnce(StoreError) -> AppError,
    ) -> Result<T, AppError> {
        self.map_err(|error| match error {
            StoreError::Constraint(ref refused) if refused == name => map(error),
            other => other.into(),
        })
    }
}

#[async_trait::async_trait]
pub trait Store:
    IdentityStore
    + ProjectStore
    + EndpointStore
    + RunStore
    + HookStore
    + AuditStore
    + NotificationStore
    + MaintenanceStore
    + OperationsStore
    + Send
    + Sync
    + 'static
{
    /// Applies the embedded migrations not yet applied.
    async fn migrate(&self) -> StoreResult<()>;
    /// Answers once the database answers a trivial query (`/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    /// Whether one server process owns the database (SQLite): no other
    /// replica can hold a lease, so a restart takes every run over at once.
    fn is_single_process(&self) -> bool;
    /// How many transactions gain from writing at once: SQLite writes one at
    /// a time, PostgreSQL takes several, each waiting on its own round trips.
    fn concurrent_writers(&self) -> usize;
}

/// Opens the store a database URL names (`sqlite:PATH` or
/// `postgres://USER:PASS@HOST:PORT/DB`) and applies migrations.
pub async fn open(database_url: &str) -> anyhow::Result<SharedStore> {
    let store: SharedStore = if database_url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(database_url).await?)
    } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        Arc::new(PostgresStore::connect(database_url).await?)
    } else {
        anyhow::bail!(
            "unsupported --database-url scheme: use sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE"
        );
    };
    store.migrate().await?;
    Ok(store)
}
