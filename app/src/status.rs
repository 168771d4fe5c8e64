//! The operators' status page (global admins) and `GET /api/v1/status`:
//! the numbers `/metrics` reports, for people without Prometheus.

use serde::{Deserialize, Serialize};

use crate::model::Millis;

/// How this Slipway stands, across its replicas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServerStatus {
    /// The version of the replica that answered.
    pub version: String,
    /// The replica that answered (`--replica-id`).
    pub replica_id: String,
    /// Replicas that said they were alive in the last [`REPLICA_SEEN_WITHIN_SECONDS`].
    pub replicas: Vec<ReplicaStatus>,
    /// `sqlite` or `postgresql`.
    pub database_backend: String,
    pub database_size_bytes: i64,
    pub runs_queued: i64,
    pub runs_running: i64,
    pub runs_waiting: i64,
    /// When the run longest in the queue was queued; `None` when none waits.
    pub oldest_queued_at: Option<Millis>,
    /// Notifications still to send (first tries and retries).
    pub outbox_pending: i64,
    /// Notifications given up on.
    pub outbox_failed: i64,
    /// Live update streams open on the replica that answered.
    pub live_streams: u64,
    /// The last pass of the retention job, on any replica; `None` before the first.
    pub last_prune: Option<PruneStatus>,
    /// `--keep-days`: finished runs older than this are pruned (0: kept forever).
    pub keep_days: u32,
    /// When the answer was made, to read the ages against.
    pub now: Millis,
}

/// One replica, as it last said it was alive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReplicaStatus {
    pub replica_id: String,
    pub version: String,
    pub started_at: Millis,
    pub last_seen_at: Millis,
}

/// What the retention job last did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PruneStatus {
    pub finished_at: Millis,
    pub runs_pruned: u64,
    pub activity_pruned: u64,
    pub dedupe_keys_pruned: u64,
    /// Tags and repositories not pushed within `--keep-days`, whose push
    /// order was forgotten.
    pub push_heads_pruned: u64,
}

/// How recently a replica must have said it was alive to be listed.
pub const REPLICA_SEEN_WITHIN_SECONDS: i64 = 60;
/// How often each replica says it is alive.
pub const HEARTBEAT_SECONDS: u64 = 10;
