//! What operators watch that only the database knows: the work waiting and
//! in progress, the notification outbox, the replicas' heartbeats, the
//! database's size and its connection pools. The status page and `/metrics`
//! read the same numbers from here.

use app::model::Millis;

use super::StoreResult;

/// One replica as it last said it was alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaHeartbeat {
    /// `--replica-id` (or the host name and process id it defaults to).
    pub replica_id: String,
    /// The Slipway version it runs.
    pub version: String,
    pub started_at: Millis,
    pub last_seen_at: Millis,
}

/// The runs and notifications not done yet, across every replica.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkInProgress {
    pub queued: i64,
    pub running: i64,
    pub waiting: i64,
    /// When the run longest in the queue was queued.
    pub oldest_queued_at: Option<Millis>,
    /// Notifications still to be sent (first tries and retries).
    pub outbox_pending: i64,
    /// Notifications given up on after their last attempt.
    pub outbox_failed: i64,
}

/// One connection pool of this process, as sqlx counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolUse {
    /// `read`, `write` (SQLite's one writer) or `shared` (PostgreSQL).
    pub pool: &'static str,
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

#[async_trait::async_trait]
pub trait OperationsStore: Send + Sync {
    /// Records that `heartbeat.replica_id` is alive, and forgets replicas
    /// not seen since `forget_before`.
    async fn record_heartbeat(
        &self,
        heartbeat: &ReplicaHeartbeat,
        forget_before: Millis,
    ) -> StoreResult<()>;
    /// Replicas seen at `since` or later, the most recently seen first.
    async fn replicas_seen_since(&self, since: Millis) -> StoreResult<Vec<ReplicaHeartbeat>>;
    /// Counts of unfinished runs and notifications.
    async fn work_in_progress(&self) -> StoreResult<WorkInProgress>;
    /// The database's size on disk, in bytes.
    async fn database_size_bytes(&self) -> StoreResult<i64>;
    /// `sqlite` or `postgresql`.
    fn backend_name(&self) -> &'static str;
    /// This process's connection pools.
    fn pool_use(&self) -> Vec<PoolUse>;
}
