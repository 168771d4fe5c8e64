//! The operators' status: what `/metrics` reports, gathered for the status
//! page and `GET /api/v1/status` (global admins).

use app::backend::{Actor, StatusApi};
use app::error::AppError;
use app::status::{PruneStatus, ReplicaStatus, ServerStatus, REPLICA_SEEN_WITHIN_SECONDS};

use crate::clock::now_millis;
use crate::service::Slipway;
use crate::store::RETENTION_LEASE;

#[async_trait::async_trait]
impl StatusApi for Slipway {
    async fn server_status(&self, actor: &Actor) -> Result<ServerStatus, AppError> {
        Self::require_admin(actor, "reading the server's status")?;
        let now = now_millis();
        let since = now.saturating_sub(REPLICA_SEEN_WITHIN_SECONDS * 1000);
        let (replicas, work, size, last_prune) = tokio::try_join!(
            self.store.replicas_seen_since(since),
            self.store.work_in_progress(),
            self.store.database_size_bytes(),
            self.store.maintenance_status(RETENTION_LEASE),
        )?;
        Ok(ServerStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            replica_id: self.replica_id.clone(),
            replicas: replicas
                .into_iter()
                .map(|replica| ReplicaStatus {
                    replica_id: replica.replica_id,
                    version: replica.version,
                    started_at: replica.started_at,
                    last_seen_at: replica.last_seen_at,
                })
                .collect(),
            database_backend: self.store.backend_name().to_string(),
            database_size_bytes: size,
            runs_queued: work.queued,
            runs_running: work.running,
            runs_waiting: work.waiting,
            oldest_queued_at: work.oldest_queued_at,
            outbox_pending: work.outbox_pending,
            outbox_failed: work.outbox_failed,
            live_streams: self.live.open_streams() as u64,
            last_prune: last_prune.and_then(|lease| {
                Some(PruneStatus {
                    finished_at: lease.last_finished_at?,
                    runs_pruned: lease.last_pruned.runs,
                    activity_pruned: lease.last_pruned.events,
                    dedupe_keys_pruned: lease.last_pruned.dedupe_keys,
                    push_heads_pruned: lease.last_pruned.push_heads,
                })
            }),
            keep_days: self.keep_days,
            now,
        })
    }
}
