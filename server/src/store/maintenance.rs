//! Records of background maintenance (retention), and the
//! [`MaintenanceStore`] part of the store: a lease one replica at a time
//! holds, batches of old rows pruned under it, and how the last pass went.

use app::execution::ExecutionStatus;
use app::model::Millis;

use super::StoreResult;

/// The lease of the retention job.
pub const RETENTION_LEASE: &str = "retention";

/// The statuses of a run still going, which the prune never takes. The prune
/// says `status NOT IN` this list rather than `status IN` the final ones: an
/// `IN` list of equalities is what a planner without statistics (SQLite, as
/// Slipway never runs `ANALYZE`) reads through the status index, then sorts
/// every finished run for each batch; `NOT IN` leaves it the range scan of
/// `executions_finished_idx` (migration 0016).
pub const UNFINISHED_STATUSES_SQL: &str = "('QUEUED', 'RUNNING', 'WAITING')";

/// The statuses of runs still going, from the enum: what
/// [`UNFINISHED_STATUSES_SQL`] must list.
pub fn unfinished_statuses() -> Vec<ExecutionStatus> {
    ExecutionStatus::ALL
        .into_iter()
        .filter(|status| !status.is_final())
        .collect()
}

/// A named lease as one replica holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaintenanceLease<'a> {
    pub name: &'a str,
    /// The replica id.
    pub holder: &'a str,
}

/// What one prune batch deletes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PruneTarget {
    /// Finished runs (with their tasks, log lines and notifications, which
    /// cascade) that finished before the horizon, except each pipeline's
    /// newest run.
    Runs,
    /// Activity rows received before the horizon, except those that link to
    /// a run still kept, head a tag or repository (push order) or hold a
    /// dedupe key.
    Activity,
    /// Dedupe keys claimed before the horizon (their window has passed).
    DedupeKeys,
    /// Push-order heads (of a tag or a repository) whose push arrived before
    /// the horizon: a tag not pushed for that long forgets its order. Each
    /// head keeps its Activity row, so without this every tag pushed once
    /// (CI's commit tags) would pin a row forever.
    PushHeads,
}

/// One batch: at most `limit` rows of `target` older than `before`, deleted
/// in one transaction that also renews `lease` until `lease_until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PruneBatch<'a> {
    pub lease: MaintenanceLease<'a>,
    pub target: PruneTarget,
    pub before: Millis,
    pub limit: i64,
    pub lease_until: Millis,
}

/// How many rows a pass pruned, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrunedCounts {
    pub runs: u64,
    pub events: u64,
    pub dedupe_keys: u64,
    pub push_heads: u64,
}

/// A lease as stored: who holds (or last held) it and how its last pass went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaintenanceRecord {
    pub name: String,
    pub holder: String,
    pub expires_at: Millis,
    pub last_started_at: Millis,
    /// None until a pass finished.
    pub last_finished_at: Option<Millis>,
    /// What the last finished pass pruned.
    pub last_pruned: PrunedCounts,
}

#[async_trait::async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Takes `lease` until `until` if nobody holds it at `now` (never taken,
    /// or expired), in one conditional statement: of replicas racing, exactly
    /// one gets true.
    async fn take_maintenance_lease(
        &self,
        lease: MaintenanceLease<'_>,
        now: Millis,
        until: Millis,
    ) -> StoreResult<bool>;
    /// Deletes one batch; answers how many rows went, or None (and deletes
    /// nothing) when the lease is no longer the batch's holder's.
    async fn prune_batch(&self, batch: PruneBatch<'_>) -> StoreResult<Option<u64>>;
    /// Ends a pass: records when and what it pruned, and frees the lease.
    /// False when the lease was no longer `lease.holder`'s.
    async fn finish_maintenance(
        &self,
        lease: MaintenanceLease<'_>,
        now: Millis,
        pruned: PrunedCounts,
    ) -> StoreResult<bool>;
    /// The lease and its last pass (an operator's "last prune"); None before
    /// any pass started.
    async fn maintenance_status(&self, name: &str) -> StoreResult<Option<MaintenanceRecord>>;
}
