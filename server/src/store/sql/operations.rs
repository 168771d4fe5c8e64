//! [`OperationsStore`] in the SQL both backends speak. The database's size
//! and the pools are each backend's own (`database_size_bytes`,
//! `pool_use` in each backend's module).

use app::model::Millis;

use super::{Backend, BACKEND_NAME};
use crate::store::operations::*;
use crate::store::StoreResult;

#[async_trait::async_trait]
impl OperationsStore for Backend {
    async fn record_heartbeat(
        &self,
        heartbeat: &ReplicaHeartbeat,
        forget_before: Millis,
    ) -> StoreResult<()> {
        let mut transaction = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO replicas (replica_id, version, started_at, last_seen_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (replica_id) DO UPDATE SET version = excluded.version, \
                 started_at = excluded.started_at, last_seen_at = excluded.last_seen_at",
        )
        .bind(&heartbeat.replica_id)
        .bind(&heartbeat.version)
        .bind(heartbeat.started_at)
        .bind(heartbeat.last_seen_at)
        .execute(&mut *transaction)
        .await?;
        sqlx::query("DELETE FROM replicas WHERE last_seen_at < $1")
            .bind(forget_before)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn replicas_seen_since(&self, since: Millis) -> StoreResult<Vec<ReplicaHeartbeat>> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT replica_id, version, started_at, last_seen_at FROM replicas \
             WHERE last_seen_at >= $1 ORDER BY last_seen_at DESC, replica_id",
        )
        .bind(since)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(replica_id, version, started_at, last_seen_at)| ReplicaHeartbeat {
                    replica_id,
                    version,
                    started_at,
                    last_seen_at,
                },
            )
            .collect())
    }

    /// Each count is an index range scan (`executions_status_idx`,
    /// `notification_outbox_due_idx`), however many finished runs there are.
    async fn work_in_progress(&self) -> StoreResult<WorkInProgress> {
        let (queued, running, waiting, oldest_queued_at, outbox_pending, outbox_failed): (
            i64,
            i64,
            i64,
            Option<i64>,
            i64,
            i64,
        ) = sqlx::query_as(
            "SELECT \
                 (SELECT COUNT(*) FROM executions WHERE status = 'QUEUED'), \
                 (SELECT COUNT(*) FROM executions WHERE status = 'RUNNING'), \
                 (SELECT COUNT(*) FROM executions WHERE status = 'WAITING'), \
                 (SELECT created_at FROM executions WHERE status = 'QUEUED' ORDER BY id LIMIT 1), \
                 (SELECT COUNT(*) FROM notification_outbox WHERE state = 'PENDING'), \
                 (SELECT COUNT(*) FROM notification_outbox WHERE state = 'FAILED')",
        )
        .fetch_one(&mut *self.reader().await?)
        .await?;
        Ok(WorkInProgress {
            queued,
            running,
            waiting,
            oldest_queued_at,
            outbox_pending,
            outbox_failed,
        })
    }

    async fn database_size_bytes(&self) -> StoreResult<i64> {
        self.size_on_disk().await
    }

    fn backend_name(&self) -> &'static str {
        BACKEND_NAME
    }

    fn pool_use(&self) -> Vec<PoolUse> {
        self.pools()
    }
}
