//! [`MaintenanceStore`] in the SQL both backends speak: the lease of a
//! background job and the retention's prune batches.
//!
//! Each batch is one short transaction: it renews the lease first (so only
//! the holder deletes, and on PostgreSQL the lease row's lock keeps batches
//! of two replicas from interleaving), then deletes at most `limit` rows
//! found by a range scan of an index of migrations 0014 and 0016.

use std::borrow::Cow;

use app::model::Millis;

use super::Backend;
use crate::store::{
    MaintenanceLease, MaintenanceRecord, MaintenanceStore, PruneBatch, PruneTarget, PrunedCounts,
    StoreResult, UNFINISHED_STATUSES_SQL,
};

/// A batch of finished runs: the oldest to have finished before `$1`, each
/// with a newer run of its pipeline (so the newest run of every pipeline is
/// never one of them). A range scan of `executions_finished_idx` in
/// `finished_at` order, whatever statistics the database has (see
/// [`UNFINISHED_STATUSES_SQL`]). Their tasks, log lines and outbox rows go with them
/// (ON DELETE CASCADE); their Activity rows lose the link (SET NULL).
fn prune_runs_sql() -> String {
    format!(
        "DELETE FROM executions WHERE id IN ( \
             SELECT old.id FROM executions AS old \
             WHERE old.finished_at < $1 AND old.status NOT IN {UNFINISHED_STATUSES_SQL} \
             AND EXISTS (SELECT 1 FROM executions AS newer \
                 WHERE newer.pipeline_id = old.pipeline_id AND newer.id > old.id) \
             ORDER BY old.finished_at LIMIT $2)"
    )
}

/// A batch of Activity rows received before `$1` that nothing kept needs:
/// none links to a run (runs are pruned first, so a link left is to a run
/// that is kept), heads a tag or repository (push order compares new pushes
/// with it) or holds a dedupe key (a re-delivery names it). The unary `+` keeps
/// `execution_id IS NULL` off the `execution_id` index: a planner that reads
/// it as "a few rows per value" would fetch every unlinked row, young ones
/// included, and sort them for each batch, where the `received_at` range
/// scan stops at the batch's last row.
const PRUNE_EVENTS_SQL: &str = "DELETE FROM docker_events WHERE id IN ( \
         SELECT old.id FROM docker_events AS old \
         WHERE old.received_at < $1 AND +old.execution_id IS NULL \
         AND NOT EXISTS (SELECT 1 FROM push_heads WHERE push_heads.event_id = old.id) \
         AND NOT EXISTS (SELECT 1 FROM delivery_keys WHERE delivery_keys.event_id = old.id) \
         ORDER BY old.received_at LIMIT $2)";

/// A batch of dedupe keys claimed before `$1`: past their window a key only
/// waits to be taken over by the same push again, which may never come.
const PRUNE_DEDUPE_KEYS_SQL: &str = "DELETE FROM delivery_keys \
     WHERE (webhook_id, dedupe_key) IN ( \
         SELECT webhook_id, dedupe_key FROM delivery_keys WHERE claimed_at < $1 \
         ORDER BY claimed_at LIMIT $2)";

/// The statement deleting one batch of `target`: `$1` the horizon, `$2` the
/// batch size.
pub(super) fn prune_sql(target: PruneTarget) -> Cow<'static, str> {
    match target {
        PruneTarget::Runs => Cow::Owned(prune_runs_sql()),
        PruneTarget::Activity => Cow::Borrowed(PRUNE_EVENTS_SQL),
        PruneTarget::DedupeKeys => Cow::Borrowed(PRUNE_DEDUPE_KEYS_SQL),
        PruneTarget::PushHeads => Cow::Borrowed(PRUNE_PUSH_HEADS_SQL),
    }
}

/// A batch of push-order heads whose push arrived before `$1`: found by
/// the `received_at` range scan of their Activity rows (the server's clock,
/// not the registry's `pushed_at`). Rows older than the horizon that are
/// still there are few: what the earlier targets of the pass left, each
/// still needed by a kept run or a head. A row heading both its tag and its
/// repository counts once against `$2` and deletes two heads.
const PRUNE_PUSH_HEADS_SQL: &str = "DELETE FROM push_heads WHERE event_id IN ( \
         SELECT old.id FROM docker_events AS old \
         WHERE old.received_at < $1 \
         AND EXISTS (SELECT 1 FROM push_heads AS head WHERE head.event_id = old.id) \
         ORDER BY old.received_at LIMIT $2)";

/// A count as the database stores it (BIGINT): saturates, never wraps.
fn stored_count(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A stored count; a negative one (never written) reads as none.
fn read_count(count: i64) -> u64 {
    u64::try_from(count).unwrap_or_default()
}

#[async_trait::async_trait]
impl MaintenanceStore for Backend {
    async fn take_maintenance_lease(
        &self,
        lease: MaintenanceLease<'_>,
        now: Millis,
        until: Millis,
    ) -> StoreResult<bool> {
        // One statement: the first replica inserts the row; later ones update
        // it only where it has expired. PostgreSQL locks the conflicting row
        // and re-checks the condition on its newest version, SQLite writes
        // one statement at a time: two replicas never both get a row back.
        let taken: Option<String> = sqlx::query_scalar(
            "INSERT INTO maintenance_leases (name, holder, expires_at, last_started_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at, last_started_at = excluded.last_started_at \
             WHERE maintenance_leases.expires_at <= $4 \
             RETURNING name",
        )
        .bind(lease.name)
        .bind(lease.holder)
        .bind(until)
        .bind(now)
        .fetch_optional(&mut *self.write_connection().await?)
        .await?;
        Ok(taken.is_some())
    }

    async fn prune_batch(&self, batch: PruneBatch<'_>) -> StoreResult<Option<u64>> {
        let mut transaction = self.begin_write().await?;
        let renewed = sqlx::query(
            "UPDATE maintenance_leases SET expires_at = $1 WHERE name = $2 AND holder = $3",
        )
        .bind(batch.lease_until)
        .bind(batch.lease.name)
        .bind(batch.lease.holder)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if renewed != 1 {
            transaction.rollback().await?;
            return Ok(None);
        }
        let pruned = sqlx::query(&prune_sql(batch.target))
            .bind(batch.before)
            .bind(batch.limit)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        transaction.commit().await?;
        Ok(Some(pruned))
    }

    async fn finish_maintenance(
        &self,
        lease: MaintenanceLease<'_>,
        now: Millis,
        pruned: PrunedCounts,
    ) -> StoreResult<bool> {
        let finished = sqlx::query(
            "UPDATE maintenance_leases SET expires_at = $1, last_finished_at = $1, \
                 last_pruned_runs = $2, last_pruned_events = $3, last_pruned_keys = $4, \
                 last_pruned_heads = $5 \
             WHERE name = $6 AND holder = $7",
        )
        .bind(now)
        .bind(stored_count(pruned.runs))
        .bind(stored_count(pruned.events))
        .bind(stored_count(pruned.dedupe_keys))
        .bind(stored_count(pruned.push_heads))
        .bind(lease.name)
        .bind(lease.holder)
        .execute(&mut *self.write_connection().await?)
        .await?
        .rows_affected();
        Ok(finished == 1)
    }

    async fn maintenance_status(&self, name: &str) -> StoreResult<Option<MaintenanceRecord>> {
        type LeaseRow = (String, String, i64, i64, Option<i64>, i64, i64, i64, i64);
        let row: Option<LeaseRow> = sqlx::query_as(
            "SELECT name, holder, expires_at, last_started_at, last_finished_at, \
                 last_pruned_runs, last_pruned_events, last_pruned_keys, last_pruned_heads \
             FROM maintenance_leases WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        Ok(row.map(
            |(
                name,
                holder,
                expires_at,
                last_started_at,
                last_finished_at,
                runs,
                events,
                keys,
                heads,
            )| {
                MaintenanceRecord {
                    name,
                    holder,
                    expires_at,
                    last_started_at,
                    last_finished_at,
                    last_pruned: PrunedCounts {
                        runs: read_count(runs),
                        events: read_count(events),
                        dedupe_keys: read_count(keys),
                        push_heads: read_count(heads),
                    },
                }
            },
        ))
    }
}
