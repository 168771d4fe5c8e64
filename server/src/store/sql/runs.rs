//! [`RunStore`] in the SQL both backends speak. Claiming a run is the one
//! part each backend does its own way (`claim_next_queued` in its module).

use std::sync::LazyLock;

use app::execution::TaskStatus;
use app::model::Millis;
use app::pipeline::RunEvent;
use sqlx::QueryBuilder;

use super::notifications::{
    enqueue_notifications_of, enqueue_run_notifications, enqueue_run_notifications_of_spec,
    run_end_event,
};
use super::rows::{ExecutionRow, LogRow, PipelineRow, TaskRunRow};
use super::{map_constraint, missing, Backend, Db, DbConnection, WriteTransaction, QUEUED_RUNS};
use crate::store::runs::*;
use crate::store::{StoreResult, StoredText};

const PIPELINE_COLUMNS: &str = "pipelines.id, pipelines.project_id, projects.name AS project_name, pipelines.name, \
     pipelines.description, pipelines.enabled, pipelines.concurrency, pipelines.spec, pipelines.created_at, pipelines.updated_at";
const PIPELINE_FROM: &str = "pipelines JOIN projects ON projects.id = pipelines.project_id";
const EXECUTION_COLUMNS: &str = "executions.id, executions.pipeline_id, pipelines.name AS pipeline_name, \
     executions.project_id, projects.name AS project_name, executions.run_number, executions.status, executions.inputs, \
     executions.trigger, executions.spec, executions.error, executions.created_at, executions.started_at, \
     executions.finished_at, executions.cancel_requested, executions.lease_owner";
const EXECUTION_FROM: &str = "executions JOIN pipelines ON pipelines.id = executions.pipeline_id \
     JOIN projects ON projects.id = executions.project_id";
/// `WITH RECURSIVE … next_of_each (pipeline_id, id)`: the oldest QUEUED run
/// of every pipeline under its concurrency limit, for a claim to take the
/// oldest of them.
///
/// It walks the pipelines that have queued runs, not the runs: each step is
/// one search of `executions_queued_idx` for the next pipeline id (a skip
/// scan, which neither database does by itself), then one for that
/// pipeline's oldest run and a count of its RUNNING and WAITING runs. A
/// pipeline with thousands of runs waiting behind its limit costs a claim
/// three searches, not thousands of rows read.
pub(super) static NEXT_QUEUED_OF_EACH_PIPELINE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH RECURSIVE queued_pipelines (pipeline_id) AS ( \
             SELECT (SELECT pipeline_id FROM {QUEUED_RUNS} WHERE status = 'QUEUED' \
                     ORDER BY pipeline_id LIMIT 1) \
             UNION ALL \
             SELECT (SELECT pipeline_id FROM {QUEUED_RUNS} WHERE status = 'QUEUED' \
                     AND pipeline_id > previous.pipeline_id ORDER BY pipeline_id LIMIT 1) \
             FROM queued_pipelines AS previous WHERE previous.pipeline_id IS NOT NULL \
         ), next_of_each (pipeline_id, id) AS ( \
             SELECT pipelines.id, (SELECT id FROM {QUEUED_RUNS} WHERE status = 'QUEUED' \
                     AND pipeline_id = pipelines.id ORDER BY id LIMIT 1) \
             FROM queued_pipelines JOIN pipelines ON pipelines.id = queued_pipelines.pipeline_id \
             WHERE (SELECT COUNT(*) FROM executions AS active WHERE active.pipeline_id = pipelines.id \
                    AND active.status IN ('RUNNING', 'WAITING')) < pipelines.concurrency \
         ) "
    )
});
const TASK_COLUMNS: &str =
    "id, execution_id, stage_index, stage_name, task_index, task_name, task_type, status, \
     inputs, output, error, started_at, finished_at, expires_at";

/// Log lines one INSERT stores at most (three parameters each, far under
/// either database's limit on parameters per statement).
const LOG_LINES_PER_INSERT: usize = 128;

/// Why a run waiting for approvals ends CANCELED, and its waiting tasks.
const CANCELED_WHILE_WAITING: &str = "canceled by a user while waiting for approval";

impl Backend {
    /// Inserts a QUEUED run inside the caller's transaction; answers its id.
    /// The pipeline's counter hands out the number: the row update holds it
    /// until the run is inserted, so runs queued at once never share one.
    pub(super) async fn insert_queued_execution(
        transaction: &mut DbConnection,
        execution: &NewExecution<'_>,
    ) -> StoreResult<i64> {
        let run_number: i64 = sqlx::query_scalar(
            "UPDATE pipelines SET last_run_number = last_run_number + 1 WHERE id = $1 \
             RETURNING last_run_number",
        )
        .bind(execution.pipeline_id)
        .fetch_one(&mut *transaction)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO executions (pipeline_id, project_id, run_number, status, inputs, trigger, spec, \
             created_by, created_at) VALUES ($1, $2, $3, 'QUEUED', $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(execution.pipeline_id)
        .bind(execution.project_id)
        .bind(run_number)
        .bind(execution.inputs)
        .bind(execution.trigger)
        .bind(execution.spec)
        .bind(execution.created_by)
        .bind(execution.now)
        .fetch_one(&mut *transaction)
        .await
        .map_err(map_constraint)?;
        Ok(id)
    }

    /// Cancels a run parked WAITING for approvals (held by no replica): the
    /// run and its waiting tasks end CANCELED in one transaction.
    async fn cancel_waiting(
        transaction: &mut WriteTransaction,
        id: i64,
        now: Millis,
    ) -> StoreResult<bool> {
        let canceled = sqlx::query(
            "UPDATE executions SET status = 'CANCELED', error = $1, finished_at = $2 \
             WHERE id = $3 AND status = 'WAITING'",
        )
        .bind(CANCELED_WHILE_WAITING)
        .bind(now)
        .bind(id)
        .execute(&mut **transaction)
        .await?;
        if canceled.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE task_runs SET status = 'CANCELED', error = $1, finished_at = $2 \
             WHERE execution_id = $3 AND status = 'WAITING'",
        )
        .bind(CANCELED_WHILE_WAITING)
        .bind(now)
        .bind(id)
        .execute(&mut **transaction)
        .await?;
        enqueue_run_notifications(transaction, id, RunEvent::Canceled, now).await?;
        Ok(true)
    }

    async fn write_pipeline_endpoints(
        transaction: &mut WriteTransaction,
        pipeline_id: i64,
        endpoint_ids: &[i64],
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM pipeline_endpoints WHERE pipeline_id = $1")
            .bind(pipeline_id)
            .execute(&mut **transaction)
            .await?;
        for endpoint_id in endpoint_ids {
            sqlx::query(
                "INSERT INTO pipeline_endpoints (pipeline_id, endpoint_id) VALUES ($1, $2) \
                 ON CONFLICT (pipeline_id, endpoint_id) DO NOTHING",
            )
            .bind(pipeline_id)
            .bind(endpoint_id)
            .execute(&mut **transaction)
            .await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl RunStore for Backend {
    async fn list_pipelines(&self, member: Option<i64>) -> StoreResult<Vec<PipelineRecord>> {
        let mut query =
            QueryBuilder::<Db>::new(format!("SELECT {PIPELINE_COLUMNS} FROM {PIPELINE_FROM}"));
        if let Some(user_id) = member {
            query
                .push(" JOIN memberships ON memberships.project_id = pipelines.project_id AND memberships.user_id = ")
                .push_bind(user_id);
        }
        query.push(" ORDER BY projects.name, pipelines.name");
        let rows: Vec<PipelineRow> = query
            .build_query_as()
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows.into_iter().map(|row| row.0).collect())
    }

    async fn pipeline_by_id(&self, id: i64) -> StoreResult<Option<PipelineRecord>> {
        self.record_by::<PipelineRow>(
            &format!("SELECT {PIPELINE_COLUMNS} FROM {PIPELINE_FROM} WHERE pipelines.id = $1"),
            id,
        )
        .await
    }

    async fn pipelines_by_name(&self, name: &str) -> StoreResult<Vec<PipelineRecord>> {
        self.records_by::<PipelineRow>(
            &format!("SELECT {PIPELINE_COLUMNS} FROM {PIPELINE_FROM} WHERE pipelines.name = $1"),
            name,
        )
        .await
    }

    async fn create_pipeline(&self, pipeline: PipelineWrite<'_>) -> StoreResult<PipelineRecord> {
        let mut transaction = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO pipelines (project_id, name, description, enabled, concurrency, spec, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(pipeline.project_id)
        .bind(pipeline.name)
        .bind(pipeline.description)
        .bind(pipeline.enabled)
        .bind(pipeline.concurrency)
        .bind(pipeline.spec)
        .bind(pipeline.now)
        .fetch_one(&mut *transaction)
        .await
        .map_err(map_constraint)?;
        Self::write_pipeline_endpoints(&mut transaction, id, pipeline.endpoint_ids).await?;
        transaction.commit().await?;
        self.pipeline_by_id(id).await?.ok_or_else(missing)
    }

    async fn update_pipeline(
        &self,
        id: i64,
        pipeline: PipelineWrite<'_>,
    ) -> StoreResult<PipelineRecord> {
        let mut transaction = self.begin_write().await?;
        sqlx::query(
            "UPDATE pipelines SET project_id = $1, name = $2, description = $3, enabled = $4, concurrency = $5, \
             spec = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(pipeline.project_id)
        .bind(pipeline.name)
        .bind(pipeline.description)
        .bind(pipeline.enabled)
        .bind(pipeline.concurrency)
        .bind(pipeline.spec)
        .bind(pipeline.now)
        .bind(id)
        .execute(&mut *transaction)
        .await
        .map_err(map_constraint)?;
        Self::write_pipeline_endpoints(&mut transaction, id, pipeline.endpoint_ids).await?;
        transaction.commit().await?;
        self.pipeline_by_id(id).await?.ok_or_else(missing)
    }

    async fn delete_pipeline(&self, id: i64, with_runs: bool) -> StoreResult<PipelineDeletion> {
        let deleted = sqlx::query(
            "DELETE FROM pipelines WHERE id = $1 \
             AND NOT EXISTS (SELECT 1 FROM docker_webhooks WHERE pipeline_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM executions WHERE pipeline_id = $1 \
                             AND (status IN ('QUEUED', 'RUNNING', 'WAITING') OR NOT $2))",
        )
        .bind(id)
        .bind(with_runs)
        .execute(&mut *self.write_connection().await?)
        .await?;
        if deleted.rows_affected() == 1 {
            return Ok(PipelineDeletion::Deleted);
        }
        // Kept: say why (read after the refusal; only the wording can be stale).
        let webhooks: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM docker_webhooks WHERE pipeline_id = $1 ORDER BY name",
        )
        .bind(id)
        .fetch_all(&mut *self.reader().await?)
        .await?;
        if !webhooks.is_empty() {
            return Ok(PipelineDeletion::StartedByWebhooks(webhooks));
        }
        let (active, total): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE status IN ('QUEUED', 'RUNNING', 'WAITING')), COUNT(*) \
             FROM executions WHERE pipeline_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *self.reader().await?)
        .await?;
        Ok(if active > 0 {
            PipelineDeletion::HasActiveRuns(active)
        } else if total > 0 {
            PipelineDeletion::HasRuns(total)
        } else {
            // Gone meanwhile, or deleted by this call's twin: nothing is kept.
            PipelineDeletion::Deleted
        })
    }

    async fn queue_execution(&self, execution: NewExecution<'_>) -> StoreResult<ExecutionRecord> {
        let mut transaction = self.begin_write().await?;
        let id = Self::insert_queued_execution(&mut transaction, &execution).await?;
        transaction.commit().await?;
        self.execution_by_id(id).await?.ok_or_else(missing)
    }

    async fn claim_execution(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> StoreResult<Option<ExecutionRecord>> {
        match self.claim_next_queued(owner, now, lease_until).await? {
            Some(id) => self.execution_by_id(id).await,
            None => Ok(None),
        }
    }

    async fn renew_lease(
        &self,
        id: i64,
        owner: &str,
        lease_until: Millis,
    ) -> StoreResult<Option<bool>> {
        let cancel: Option<bool> = sqlx::query_scalar(
            "UPDATE executions SET lease_expires_at = $1 WHERE id = $2 AND lease_owner = $3 \
             AND status = 'RUNNING' RETURNING cancel_requested",
        )
        .bind(lease_until)
        .bind(id)
        .bind(owner)
        .fetch_optional(&mut *self.write_connection().await?)
        .await?;
        Ok(cancel)
    }

    async fn set_execution_inputs(&self, id: i64, owner: &str, inputs: &str) -> StoreResult<bool> {
        let updated = sqlx::query(
            "UPDATE executions SET inputs = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'RUNNING'",
        )
        .bind(inputs)
        .bind(id)
        .bind(owner)
        .execute(&mut *self.write_connection().await?)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    async fn finish_execution(
        &self,
        id: i64,
        owner: &str,
        end: RunEndRecord<'_>,
    ) -> StoreResult<bool> {
        let mut transaction = self.begin_write().await?;
        let finished: Option<String> = sqlx::query_scalar(
            "UPDATE executions SET status = $1, error = $2, finished_at = $3, lease_owner = NULL, \
             lease_expires_at = NULL WHERE id = $4 AND lease_owner = $5 \
             AND status NOT IN ('COMPLETED', 'FAILED', 'CANCELED') RETURNING spec",
        )
        .bind(end.status.text())
        .bind(end.error)
        .bind(end.now)
        .bind(id)
        .bind(owner)
        .fetch_optional(&mut *transaction)
        .await?;
        if let (Some(event), Some(spec)) = (run_end_event(end.status), &finished) {
            enqueue_run_notifications_of_spec(&mut transaction, id, spec, event, end.now).await?;
        }
        transaction.commit().await?;
        Ok(finished.is_some())
    }

    async fn request_cancel(&self, id: i64, now: Millis) -> StoreResult<CancelOutcome> {
        let mut transaction = self.begin_write().await?;
        let queued = sqlx::query(
            "UPDATE executions SET status = 'CANCELED', error = 'canceled before it started', finished_at = $1 \
             WHERE id = $2 AND status = 'QUEUED'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *transaction)
        .await?;
        if queued.rows_affected() == 1 {
            enqueue_run_notifications(&mut transaction, id, RunEvent::Canceled, now).await?;
            transaction.commit().await?;
            return Ok(CancelOutcome::CanceledInQueue);
        }
        if Self::cancel_waiting(&mut transaction, id, now).await? {
            transaction.commit().await?;
            return Ok(CancelOutcome::CanceledWhileWaiting);
        }
        // RUNNING (or resumed after its approvals, not yet taken up again):
        // the replica holding it, or the next to take it, ends it.
        let running = sqlx::query(
            "UPDATE executions SET cancel_requested = TRUE WHERE id = $1 AND status = 'RUNNING'",
        )
        .bind(id)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(if running.rows_affected() == 1 {
            CancelOutcome::Requested
        } else {
            CancelOutcome::AlreadyFinished
        })
    }

    async fn take_over_expired_execution(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> StoreResult<Option<TakenOver>> {
        let expired: Option<(i64, Option<String>)> = sqlx::query_as(
            "SELECT id, lease_owner FROM executions \
             WHERE status = 'RUNNING' AND (lease_expires_at IS NULL OR lease_expires_at < $1) \
             ORDER BY id LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        let Some((id, previous_owner)) = expired else {
            return Ok(None);
        };
        let previous_owner = previous_owner.unwrap_or_default();
        // Only if nobody took it or renewed it since the read: the row's
        // owner and expiry are compared in the update itself.
        let taken = sqlx::query(
            "UPDATE executions SET lease_owner = $1, lease_expires_at = $2 \
             WHERE id = $3 AND status = 'RUNNING' \
             AND COALESCE(lease_owner, '') = $4 AND (lease_expires_at IS NULL OR lease_expires_at < $5)",
        )
        .bind(owner)
        .bind(lease_until)
        .bind(id)
        .bind(&previous_owner)
        .bind(now)
        .execute(&mut *self.write_connection().await?)
        .await?;
        if taken.rows_affected() != 1 {
            return Ok(None);
        }
        Ok(self.execution_by_id(id).await?.map(|execution| TakenOver {
            execution,
            previous_owner,
        }))
    }

    async fn release_leases(&self, which: LeaseRelease<'_>, now: Millis) -> StoreResult<u64> {
        let (every, id, owner) = match which {
            LeaseRelease::Every => (true, None, None),
            LeaseRelease::Run { id, owner } => (false, Some(id), Some(owner)),
        };
        // Expired a moment ago: a takeover's `lease_expires_at < now` holds at once.
        let released = sqlx::query(
            "UPDATE executions SET lease_expires_at = $1 WHERE status = 'RUNNING' \
             AND ($2 OR (id = $3 AND lease_owner = $4))",
        )
        .bind(now - 1)
        .bind(every)
        .bind(id)
        .bind(owner)
        .execute(&mut *self.write_connection().await?)
        .await?;
        Ok(released.rows_affected())
    }

    async fn execution_by_id(&self, id: i64) -> StoreResult<Option<ExecutionRecord>> {
        self.record_by::<ExecutionRow>(
            &format!("SELECT {EXECUTION_COLUMNS} FROM {EXECUTION_FROM} WHERE executions.id = $1"),
            id,
        )
        .await
    }

    async fn list_executions(&self, filter: &ExecutionQuery) -> StoreResult<Vec<ExecutionRecord>> {
        let mut query =
            QueryBuilder::<Db>::new(format!("SELECT {EXECUTION_COLUMNS} FROM {EXECUTION_FROM}"));
        if let Some(user_id) = filter.member {
            query
                .push(" JOIN memberships ON memberships.project_id = executions.project_id AND memberships.user_id = ")
                .push_bind(user_id);
        }
        query.push(" WHERE TRUE");
        if let Some(project_id) = filter.project_id {
            query
                .push(" AND executions.project_id = ")
                .push_bind(project_id);
        }
        if let Some(pipeline_id) = filter.pipeline_id {
            query
                .push(" AND executions.pipeline_id = ")
                .push_bind(pipeline_id);
        }
        if let Some(status) = filter.status {
            query
                .push(" AND executions.status = ")
                .push_bind(status.text());
        }
        if let Some(trigger) = &filter.trigger {
            // A generated column over `trigger` (migration 0005), with its index.
            query
                .push(" AND executions.trigger_kind = ")
                .push_bind(trigger.clone());
        }
        if let Some(before_id) = filter.before_id {
            query.push(" AND executions.id < ").push_bind(before_id);
        }
        // Newest first by id: the primary key index serves it without a sort.
        query
            .push(" ORDER BY executions.id DESC LIMIT ")
            .push_bind(filter.limit);
        let rows: Vec<ExecutionRow> = query
            .build_query_as()
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows.into_iter().map(|row| row.0).collect())
    }

    async fn start_task(&self, task: TaskStart<'_>) -> StoreResult<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO task_runs (execution_id, stage_index, stage_name, task_index, task_name, task_type, \
             status, inputs, started_at) VALUES ($1, $2, $3, $4, $5, $6, 'RUNNING', $7, $8) \
             ON CONFLICT (execution_id, stage_index, task_index) DO UPDATE SET status = 'RUNNING', \
                 inputs = excluded.inputs, started_at = excluded.started_at, finished_at = NULL, error = NULL, \
                 output = NULL \
             RETURNING id",
        )
        .bind(task.execution_id)
        .bind(task.stage_index)
        .bind(task.stage_name)
        .bind(task.task_index)
        .bind(task.task_name)
        .bind(task.task_type)
        .bind(task.inputs)
        .bind(task.now)
        .fetch_one(&mut *self.write_connection().await?)
        .await?;
        Ok(id)
    }

    async fn finish_task(
        &self,
        id: i64,
        status: TaskStatus,
        output: Option<&str>,
        error: Option<&str>,
        now: Millis,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE task_runs SET status = $1, output = $2, error = $3, finished_at = $4 WHERE id = $5",
        )
        .bind(status.text())
        .bind(output)
        .bind(error)
        .bind(now)
        .bind(id)
        .execute(&mut *self.write_connection().await?)
        .await?;
        Ok(())
    }

    async fn append_logs(
        &self,
        task_run_id: i64,
        lines: &[LogAppend<'_>],
    ) -> StoreResult<Vec<i64>> {
        let mut ids = Vec::with_capacity(lines.len());
        for chunk in lines.chunks(LOG_LINES_PER_INSERT) {
            let mut query =
                QueryBuilder::<Db>::new("INSERT INTO task_logs (task_run_id, at, line) ");
            query.push_values(chunk, |mut row, line| {
                row.push_bind(task_run_id)
                    .push_bind(line.at)
                    .push_bind(line.line);
            });
            query.push(" RETURNING id");
            let mut inserted: Vec<i64> = query
                .build_query_scalar()
                .fetch_all(&mut *self.write_connection().await?)
                .await?;
            // Ids are handed out in the order of the values; RETURNING
            // promises no order, so they are sorted back into it.
            inserted.sort_unstable();
            ids.extend(inserted);
        }
        Ok(ids)
    }

    async fn task_runs(&self, execution_id: i64) -> StoreResult<Vec<TaskRunRecord>> {
        self.records_by::<TaskRunRow>(
            &format!(
                "SELECT {TASK_COLUMNS} FROM task_runs WHERE execution_id = $1 ORDER BY stage_index, task_index"
            ),
            execution_id,
        )
        .await
    }

    async fn task_logs(&self, execution_id: i64) -> StoreResult<Vec<LogRecord>> {
        self.records_by::<LogRow>(
            "SELECT task_logs.id, task_logs.task_run_id, task_logs.at, task_logs.line FROM task_logs \
             JOIN task_runs ON task_runs.id = task_logs.task_run_id WHERE task_runs.execution_id = $1 \
             ORDER BY task_logs.id",
            execution_id,
        )
        .await
    }

    async fn park_execution(
        &self,
        id: i64,
        owner: &str,
        waiting: &[WaitingTask],
        output: Option<&str>,
        now: Millis,
    ) -> StoreResult<ParkOutcome> {
        let mut transaction = self.begin_write().await?;
        let parked = sqlx::query(
            "UPDATE executions SET status = 'WAITING', lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND lease_owner = $2 AND status = 'RUNNING' AND NOT cancel_requested",
        )
        .bind(id)
        .bind(owner)
        .execute(&mut *transaction)
        .await?;
        if parked.rows_affected() != 1 {
            drop(transaction);
            let cancel_requested: Option<bool> = sqlx::query_scalar(
                "SELECT cancel_requested FROM executions WHERE id = $1 AND lease_owner = $2 AND status = 'RUNNING'",
            )
            .bind(id)
            .bind(owner)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
            return Ok(match cancel_requested {
                Some(true) => ParkOutcome::CancelRequested,
                _ => ParkOutcome::NotOwner,
            });
        }
        for task in waiting {
            sqlx::query(
                "UPDATE task_runs SET status = 'WAITING', expires_at = $1, output = $4 \
                 WHERE id = $2 AND execution_id = $3 AND status = 'RUNNING'",
            )
            .bind(task.expires_at)
            .bind(task.task_run_id)
            .bind(id)
            .bind(output)
            .execute(&mut *transaction)
            .await?;
        }
        // Each approval's wait is notified once, however often the run waits.
        let places: Vec<(String, String)> = sqlx::query_as(
            "SELECT stage_name, task_name FROM task_runs WHERE execution_id = $1 AND status = 'WAITING' \
             ORDER BY stage_index, task_index",
        )
        .bind(id)
        .fetch_all(&mut *transaction)
        .await?;
        for (stage, task) in places {
            let occasion = format!("{stage}.{task}");
            enqueue_notifications_of(&mut transaction, id, RunEvent::Waiting, &occasion, now)
                .await?;
        }
        transaction.commit().await?;
        Ok(ParkOutcome::Parked)
    }

    async fn decide_approval(
        &self,
        execution_id: i64,
        task_run_id: i64,
        decision: ApprovalDecision<'_>,
    ) -> StoreResult<bool> {
        let mut transaction = self.begin_write().await?;
        let decided = sqlx::query(
            "UPDATE task_runs SET status = $1, output = $2, error = $3, finished_at = $4 \
             WHERE id = $5 AND execution_id = $6 AND status = 'WAITING'",
        )
        .bind(decision.status.text())
        .bind(decision.output)
        .bind(decision.error)
        .bind(decision.now)
        .bind(task_run_id)
        .bind(execution_id)
        .execute(&mut *transaction)
        .await?;
        if decided.rows_affected() != 1 {
            return Ok(false);
        }
        // The last decision hands the run to whichever replica's worker
        // looks first: RUNNING with no lease is what a takeover picks up.
        sqlx::query(
            "UPDATE executions SET status = 'RUNNING', lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND status = 'WAITING' \
             AND NOT EXISTS (SELECT 1 FROM task_runs WHERE execution_id = $1 AND status = 'WAITING')",
        )
        .bind(execution_id)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(true)
    }

    async fn expired_approvals(&self, now: Millis, limit: i64) -> StoreResult<Vec<(i64, i64)>> {
        Ok(sqlx::query_as(
            "SELECT execution_id, id FROM task_runs WHERE status = 'WAITING' AND expires_at <= $1 \
             ORDER BY expires_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *self.reader().await?)
        .await?)
    }

    async fn waiting_approvals(&self, member: Option<i64>) -> StoreResult<Vec<TaskRunRecord>> {
        let columns = TASK_COLUMNS
            .split(", ")
            .map(|column| format!("task_runs.{}", column.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let mut query = QueryBuilder::<Db>::new(format!(
            "SELECT {columns} FROM task_runs JOIN executions ON executions.id = task_runs.execution_id"
        ));
        if let Some(user_id) = member {
            query
                .push(" JOIN memberships ON memberships.project_id = executions.project_id AND memberships.user_id = ")
                .push_bind(user_id);
        }
        query.push(" WHERE task_runs.status = 'WAITING' ORDER BY task_runs.expires_at LIMIT ");
        query.push_bind(MAX_WAITING_APPROVALS_LISTED);
        let rows: Vec<TaskRunRow> = query
            .build_query_as()
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows.into_iter().map(|row| row.0).collect())
    }
}

/// Most waiting approvals one list answers with (soonest to expire first).
const MAX_WAITING_APPROVALS_LISTED: i64 = 200;
