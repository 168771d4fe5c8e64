//! SQLite implementation of [`RunStore`]. SQLite runs one writer at a time,
//! which is what makes the claim below atomic; the PostgreSQL store will use
//! `FOR UPDATE SKIP LOCKED` for the same contract.

use app::model::Millis;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::runs::*;
use super::sqlite::{map_constraint, SqliteStore};
use super::{StoreError, StoreResult};

const PIPELINE_COLUMNS: &str = "pipelines.id, pipelines.project_id, projects.name AS project_name, pipelines.name, \
     pipelines.description, pipelines.enabled, pipelines.concurrency, pipelines.spec, pipelines.created_at, pipelines.updated_at";
const PIPELINE_FROM: &str = "pipelines JOIN projects ON projects.id = pipelines.project_id";
const EXECUTION_COLUMNS: &str = "executions.id, executions.pipeline_id, pipelines.name AS pipeline_name, \
     executions.project_id, projects.name AS project_name, executions.run_number, executions.status, executions.inputs, \
     executions.trigger, executions.spec, executions.error, executions.created_at, executions.started_at, \
     executions.finished_at, executions.cancel_requested";
const EXECUTION_FROM: &str = "executions JOIN pipelines ON pipelines.id = executions.pipeline_id \
     JOIN projects ON projects.id = executions.project_id";
const TASK_COLUMNS: &str =
    "id, execution_id, stage_index, stage_name, task_index, task_name, task_type, status, \
     inputs, output, error, started_at, finished_at";

fn pipeline_from(row: &SqliteRow) -> PipelineRecord {
    PipelineRecord {
        id: row.get("id"),
        project_id: row.get("project_id"),
        project_name: row.get("project_name"),
        name: row.get("name"),
        description: row.get("description"),
        enabled: row.get("enabled"),
        concurrency: row.get("concurrency"),
        spec: row.get("spec"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

fn execution_from(row: &SqliteRow) -> ExecutionRecord {
    ExecutionRecord {
        id: row.get("id"),
        pipeline_id: row.get("pipeline_id"),
        pipeline_name: row.get("pipeline_name"),
        project_id: row.get("project_id"),
        project_name: row.get("project_name"),
        run_number: row.get("run_number"),
        status: row.get("status"),
        inputs: row.get("inputs"),
        trigger: row.get("trigger"),
        spec: row.get("spec"),
        error: row.get("error"),
        created_at: row.get("created_at"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
        cancel_requested: row.get("cancel_requested"),
    }
}

fn task_from(row: &SqliteRow) -> TaskRunRecord {
    TaskRunRecord {
        id: row.get("id"),
        execution_id: row.get("execution_id"),
        stage_index: row.get("stage_index"),
        stage_name: row.get("stage_name"),
        task_index: row.get("task_index"),
        task_name: row.get("task_name"),
        task_type: row.get("task_type"),
        status: row.get("status"),
        inputs: row.get("inputs"),
        output: row.get("output"),
        error: row.get("error"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
    }
}

impl SqliteStore {
    async fn write_pipeline_endpoints(
        transaction: &mut sqlx::Transaction<'_, Sqlite>,
        pipeline_id: i64,
        endpoint_ids: &[i64],
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM pipeline_endpoints WHERE pipeline_id = ?")
            .bind(pipeline_id)
            .execute(&mut **transaction)
            .await?;
        for endpoint_id in endpoint_ids {
            sqlx::query(
                "INSERT OR IGNORE INTO pipeline_endpoints (pipeline_id, endpoint_id) VALUES (?, ?)",
            )
            .bind(pipeline_id)
            .bind(endpoint_id)
            .execute(&mut **transaction)
            .await?;
        }
        Ok(())
    }

    async fn pipeline_or_missing(&self, id: i64) -> StoreResult<PipelineRecord> {
        self.pipeline_by_id(id)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }
}

#[async_trait::async_trait]
impl RunStore for SqliteStore {
    async fn list_pipelines(&self, member: Option<i64>) -> StoreResult<Vec<PipelineRecord>> {
        let mut query =
            QueryBuilder::<Sqlite>::new(format!("SELECT {PIPELINE_COLUMNS} FROM {PIPELINE_FROM}"));
        if let Some(user_id) = member {
            query
                .push(" JOIN memberships ON memberships.project_id = pipelines.project_id AND memberships.user_id = ")
                .push_bind(user_id);
        }
        query.push(" ORDER BY projects.name, pipelines.name");
        let rows = query.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(pipeline_from).collect())
    }

    async fn pipeline_by_id(&self, id: i64) -> StoreResult<Option<PipelineRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {PIPELINE_COLUMNS} FROM {PIPELINE_FROM} WHERE pipelines.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(pipeline_from))
    }

    async fn pipelines_by_name(&self, name: &str) -> StoreResult<Vec<PipelineRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {PIPELINE_COLUMNS} FROM {PIPELINE_FROM} WHERE pipelines.name = ?"
        ))
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(pipeline_from).collect())
    }

    async fn create_pipeline(&self, pipeline: PipelineWrite<'_>) -> StoreResult<PipelineRecord> {
        let mut transaction = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO pipelines (project_id, name, description, enabled, concurrency, spec, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(pipeline.project_id)
        .bind(pipeline.name)
        .bind(pipeline.description)
        .bind(pipeline.enabled)
        .bind(pipeline.concurrency)
        .bind(pipeline.spec)
        .bind(pipeline.now)
        .bind(pipeline.now)
        .fetch_one(&mut *transaction)
        .await
        .map_err(map_constraint)?;
        Self::write_pipeline_endpoints(&mut transaction, id, pipeline.endpoint_ids).await?;
        transaction.commit().await?;
        self.pipeline_or_missing(id).await
    }

    async fn update_pipeline(
        &self,
        id: i64,
        pipeline: PipelineWrite<'_>,
    ) -> StoreResult<PipelineRecord> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "UPDATE pipelines SET project_id = ?, name = ?, description = ?, enabled = ?, concurrency = ?, spec = ?, \
             updated_at = ? WHERE id = ?",
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
        self.pipeline_or_missing(id).await
    }

    async fn delete_pipeline(&self, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM pipelines WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn queue_execution(&self, execution: NewExecution<'_>) -> StoreResult<ExecutionRecord> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO executions (pipeline_id, project_id, run_number, status, inputs, trigger, spec, created_by, created_at) \
             SELECT ?, ?, COALESCE(MAX(run_number), 0) + 1, 'QUEUED', ?, ?, ?, ?, ? FROM executions WHERE pipeline_id = ? \
             RETURNING id",
        )
        .bind(execution.pipeline_id)
        .bind(execution.project_id)
        .bind(execution.inputs)
        .bind(execution.trigger)
        .bind(execution.spec)
        .bind(execution.created_by)
        .bind(execution.now)
        .bind(execution.pipeline_id)
        .fetch_one(&self.pool)
        .await?;
        self.execution_by_id(id)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    async fn claim_execution(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> StoreResult<Option<ExecutionRecord>> {
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE executions SET status = 'RUNNING', lease_owner = ?, lease_expires_at = ?, \
                 started_at = COALESCE(started_at, ?) \
             WHERE id = ( \
                 SELECT queued.id FROM executions AS queued JOIN pipelines ON pipelines.id = queued.pipeline_id \
                 WHERE queued.status = 'QUEUED' AND ( \
                     SELECT COUNT(*) FROM executions AS active \
                     WHERE active.pipeline_id = queued.pipeline_id AND active.status IN ('RUNNING', 'WAITING') \
                 ) < pipelines.concurrency \
                 ORDER BY queued.id LIMIT 1 \
             ) AND status = 'QUEUED' RETURNING id",
        )
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        match id {
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
            "UPDATE executions SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? \
             AND status IN ('RUNNING', 'WAITING') RETURNING cancel_requested",
        )
        .bind(lease_until)
        .bind(id)
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        Ok(cancel)
    }

    async fn finish_execution(
        &self,
        id: i64,
        status: &str,
        error: Option<&str>,
        now: Millis,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE executions SET status = ?, error = ?, finished_at = ?, lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = ? AND status NOT IN ('COMPLETED', 'FAILED', 'CANCELED')",
        )
        .bind(status)
        .bind(error)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn request_cancel(&self, id: i64, now: Millis) -> StoreResult<CancelOutcome> {
        let queued = sqlx::query(
            "UPDATE executions SET status = 'CANCELED', error = 'canceled before it started', finished_at = ? \
             WHERE id = ? AND status = 'QUEUED'",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if queued.rows_affected() == 1 {
            return Ok(CancelOutcome::CanceledInQueue);
        }
        let running = sqlx::query(
            "UPDATE executions SET cancel_requested = 1 WHERE id = ? AND status IN ('RUNNING', 'WAITING')",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(if running.rows_affected() == 1 {
            CancelOutcome::Requested
        } else {
            CancelOutcome::AlreadyFinished
        })
    }

    async fn fail_abandoned_executions(
        &self,
        now: Millis,
        reason: &str,
        expired_only: bool,
    ) -> StoreResult<u64> {
        let mut transaction = self.pool.begin().await?;
        let lease_rule = if expired_only {
            "AND lease_expires_at < ?"
        } else {
            "AND ? IS NOT NULL"
        };
        let abandoned: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM executions WHERE status IN ('RUNNING', 'WAITING') {lease_rule}"
        ))
        .bind(now)
        .fetch_all(&mut *transaction)
        .await?;
        for id in &abandoned {
            sqlx::query(
                "UPDATE task_runs SET status = 'FAILED', error = ?, finished_at = ? \
                 WHERE execution_id = ? AND status = 'RUNNING'",
            )
            .bind(reason)
            .bind(now)
            .bind(id)
            .execute(&mut *transaction)
            .await?;
            sqlx::query(
                "UPDATE executions SET status = 'FAILED', error = ?, finished_at = ?, lease_owner = NULL, \
                 lease_expires_at = NULL WHERE id = ?",
            )
            .bind(reason)
            .bind(now)
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(abandoned.len() as u64)
    }

    async fn execution_by_id(&self, id: i64) -> StoreResult<Option<ExecutionRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM {EXECUTION_FROM} WHERE executions.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(execution_from))
    }

    async fn list_executions(&self, filter: &ExecutionQuery) -> StoreResult<Vec<ExecutionRecord>> {
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {EXECUTION_COLUMNS} FROM {EXECUTION_FROM}"
        ));
        if let Some(user_id) = filter.member {
            query
                .push(" JOIN memberships ON memberships.project_id = executions.project_id AND memberships.user_id = ")
                .push_bind(user_id);
        }
        query.push(" WHERE 1 = 1");
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
        if let Some(status) = &filter.status {
            query
                .push(" AND executions.status = ")
                .push_bind(status.clone());
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
        let rows = query.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(execution_from).collect())
    }

    async fn start_task(&self, task: TaskStart<'_>) -> StoreResult<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO task_runs (execution_id, stage_index, stage_name, task_index, task_name, task_type, status, inputs, started_at) \
             VALUES (?, ?, ?, ?, ?, ?, 'RUNNING', ?, ?) \
             ON CONFLICT (execution_id, stage_index, task_index) DO UPDATE SET status = 'RUNNING', \
                 inputs = excluded.inputs, started_at = excluded.started_at, finished_at = NULL, error = NULL, output = NULL \
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
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn finish_task(
        &self,
        id: i64,
        status: &str,
        output: Option<&str>,
        error: Option<&str>,
        now: Millis,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE task_runs SET status = ?, output = ?, error = ?, finished_at = ? WHERE id = ?",
        )
        .bind(status)
        .bind(output)
        .bind(error)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn append_log(&self, task_run_id: i64, at: Millis, line: &str) -> StoreResult<i64> {
        let id = sqlx::query("INSERT INTO task_logs (task_run_id, at, line) VALUES (?, ?, ?)")
            .bind(task_run_id)
            .bind(at)
            .bind(line)
            .execute(&self.pool)
            .await?
            .last_insert_rowid();
        Ok(id)
    }

    async fn task_runs(&self, execution_id: i64) -> StoreResult<Vec<TaskRunRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM task_runs WHERE execution_id = ? ORDER BY stage_index, task_index"
        ))
        .bind(execution_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(task_from).collect())
    }

    async fn task_logs(&self, execution_id: i64) -> StoreResult<Vec<LogRecord>> {
        let rows = sqlx::query(
            "SELECT task_logs.id, task_logs.task_run_id, task_logs.at, task_logs.line FROM task_logs \
             JOIN task_runs ON task_runs.id = task_logs.task_run_id WHERE task_runs.execution_id = ? ORDER BY task_logs.id",
        )
        .bind(execution_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| LogRecord {
                id: row.get("id"),
                task_run_id: row.get("task_run_id"),
                at: row.get("at"),
                line: row.get("line"),
            })
            .collect())
    }
}
