//! The PostgreSQL store, for several Slipway replicas on one database. The
//! queries are the shared ones in `../sql/`, compiled here for PostgreSQL's
//! types; this module holds what only PostgreSQL does: connecting, claiming a
//! run safely against other replicas, and naming a failed constraint.

// The shared SQL, compiled against these types. Each backend compiles the
// `sql/` files as modules of its own: a deliberate duplicate module.
#![allow(clippy::duplicate_mod)]
type Db = Postgres;
type DbRow = sqlx::postgres::PgRow;
type DbConnection = sqlx::PgConnection;
type Backend = PostgresStore;
/// A transaction that writes, as the shared SQL takes it.
pub(crate) type WriteTransaction = Transaction<'static, Postgres>;

#[path = "../sql/audit.rs"]
mod audit;
#[path = "../sql/delivery_batch.rs"]
mod delivery_batch;
#[path = "../sql/endpoints.rs"]
mod endpoints;
#[path = "../sql/hooks.rs"]
mod hooks;
#[path = "../sql/identity.rs"]
mod identity;
#[path = "../sql/lookups.rs"]
mod lookups;
#[path = "../sql/maintenance.rs"]
mod maintenance;
#[path = "../sql/notifications.rs"]
pub(crate) mod notifications;
#[path = "../sql/operations.rs"]
mod operations;
#[path = "../sql/projects.rs"]
mod projects;
#[path = "../sql/rows.rs"]
mod rows;
#[path = "../sql/runs.rs"]
mod runs;

use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use app::model::Millis;
use app::pipeline::RunEvent;
use sqlx::error::ErrorKind;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use self::lookups::missing;
use super::operations::PoolUse;
use super::{Store, StoreError, StoreResult};

/// What the status page and `/metrics` call this backend.
const BACKEND_NAME: &str = "postgresql";

/// How the notification claim's inner select locks the rows it picks:
/// replicas claiming at once skip each other's rows.
const CLAIM_ROW_LOCK: &str = " FOR UPDATE SKIP LOCKED";

/// The queued runs as the run claim reads them: PostgreSQL's planner finds
/// `executions_queued_idx` by itself.
const QUEUED_RUNS: &str = "executions";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Connections per replica: the engine's workers, live streams' re-checks
/// and the HTTP handlers share them; PostgreSQL's default limit (100) leaves
/// room for several replicas.
const MAX_CONNECTIONS: u32 = 16;
/// Write transactions worth running at once from one task kind (the
/// delivery writers): a quarter of the pool, so readers and the engine keep
/// connections of their own.
const CONCURRENT_WRITERS: usize = MAX_CONNECTIONS as usize / 4;
/// How long a request waits for a free connection before it fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pipelines a claim tries: each was under its limit when the claim read
/// them, so more than one is needed only when replicas race for the same slots.
const CLAIM_CANDIDATES: i64 = 16;

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn connect(database_url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(database_url)?.application_name("slipway");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(PostgresStore { pool })
    }

    /// PostgreSQL takes many writers at once: reads and writes share the
    /// pool, and a delivery's write waits for nothing but a connection.
    async fn write_connection(&self) -> StoreResult<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    async fn delivery_connection(&self) -> StoreResult<PoolConnection<Postgres>> {
        self.write_connection().await
    }

    /// A connection to read with.
    async fn reader(&self) -> StoreResult<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    /// The one pool, for `/metrics`.
    fn pools(&self) -> Vec<PoolUse> {
        vec![PoolUse {
            pool: "shared",
            open: self.pool.size(),
            idle: self.pool.num_idle() as u32,
            max: self.pool.options().get_max_connections(),
        }]
    }

    /// The whole database's size, as PostgreSQL counts it.
    async fn size_on_disk(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Under PostgreSQL's default isolation (read committed) every statement
    /// sees what was committed before it began; the writes that must not
    /// interleave are guarded by row locks and unique keys instead.
    async fn begin_write(&self) -> StoreResult<WriteTransaction> {
        Ok(self.pool.begin().await?)
    }

    async fn begin_delivery_write(&self) -> StoreResult<WriteTransaction> {
        self.begin_write().await
    }

    /// Marks the oldest QUEUED run whose pipeline is under its concurrency
    /// limit RUNNING for `owner`. The candidates are the pipelines with a
    /// queued run that were under their limit a moment ago
    /// ([`runs::NEXT_QUEUED_OF_EACH_PIPELINE`], oldest run first), so a
    /// pipeline with a backlog behind its limit hides no other pipeline's
    /// runs. Each pipeline's claims are serialised with a transaction-scoped
    /// advisory lock, and its running runs are counted again only once that
    /// lock is held, so the count sees every claim committed before and the
    /// limit holds across replicas. The run is locked with `SKIP LOCKED`: one
    /// that a cancel is writing is passed over for the next. Its `started`
    /// notifications are written in the same transaction.
    async fn claim_next_queued(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> StoreResult<Option<i64>> {
        let mut transaction = self.pool.begin().await?;
        let candidates: Vec<i64> = sqlx::query_scalar(&CLAIM_CANDIDATES_STATEMENT)
            .bind(CLAIM_CANDIDATES)
            .fetch_all(&mut *transaction)
            .await?;
        for pipeline_id in candidates {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('slipway.claim', $1))")
                .bind(pipeline_id)
                .execute(&mut *transaction)
                .await?;
            let under_limit: bool = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM executions \
                         WHERE pipeline_id = $1 AND status IN ('RUNNING', 'WAITING')) \
                        < concurrency \
                 FROM pipelines WHERE id = $1",
            )
            .bind(pipeline_id)
            .fetch_one(&mut *transaction)
            .await?;
            if !under_limit {
                continue;
            }
            let claimed: Option<(i64, String)> = sqlx::query_as(
                "UPDATE executions SET status = 'RUNNING', lease_owner = $1, lease_expires_at = $2, \
                     started_at = COALESCE(started_at, $3) \
                 WHERE id = (SELECT id FROM executions WHERE status = 'QUEUED' AND pipeline_id = $4 \
                             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 AND status = 'QUEUED' RETURNING id, spec",
            )
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .bind(pipeline_id)
            .fetch_optional(&mut *transaction)
            .await?;
            let Some((id, spec)) = claimed else {
                continue;
            };
            notifications::enqueue_run_notifications_of_spec(
                &mut transaction,
                id,
                &spec,
                RunEvent::Started,
                now,
            )
            .await?;
            transaction.commit().await?;
            return Ok(Some(id));
        }
        transaction.commit().await?;
        Ok(None)
    }
}

/// The pipelines a claim tries, those whose oldest queued run is oldest first.
static CLAIM_CANDIDATES_STATEMENT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} SELECT pipeline_id FROM next_of_each ORDER BY id LIMIT $1",
        *runs::NEXT_QUEUED_OF_EACH_PIPELINE
    )
});

#[async_trait::async_trait]
impl Store for PostgresStore {
    /// sqlx holds a PostgreSQL advisory lock while it migrates: replicas
    /// starting together apply each migration once, the others wait for it.
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn concurrent_writers(&self) -> usize {
        CONCURRENT_WRITERS
    }

    fn is_single_process(&self) -> bool {
        false
    }
}

/// Turns a unique-constraint failure into [`StoreError::Constraint`] with the
/// constraint's name, which PostgreSQL reports itself.
fn map_constraint(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        if db.kind() == ErrorKind::UniqueViolation {
            if let Some(name) = db.constraint() {
                return StoreError::Constraint(name.to_string());
            }
        }
    }
    StoreError::Database(error)
}
