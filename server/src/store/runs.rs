//! Records of pipelines and executions, and the [`RunStore`] part of the store.

use app::execution::{ExecutionStatus, TaskStatus};
use app::model::Millis;

use super::StoreResult;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineRecord {
    pub id: i64,
    pub project_id: i64,
    pub project_name: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub concurrency: i64,
    /// The whole definition as JSON.
    pub spec: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

pub struct PipelineWrite<'a> {
    pub project_id: i64,
    pub name: &'a str,
    pub description: &'a str,
    pub enabled: bool,
    pub concurrency: i64,
    pub spec: &'a str,
    /// The endpoints its tasks use, so those cannot be deleted under it.
    pub endpoint_ids: &'a [i64],
    pub now: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionRecord {
    pub id: i64,
    pub pipeline_id: i64,
    pub pipeline_name: String,
    pub project_id: i64,
    pub project_name: String,
    pub run_number: i64,
    pub status: ExecutionStatus,
    pub inputs: String,
    pub trigger: String,
    pub spec: String,
    pub error: Option<String>,
    pub created_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    pub cancel_requested: bool,
    /// The replica's lease owner name while a replica holds the run.
    pub lease_owner: Option<String>,
}

pub struct NewExecution<'a> {
    pub pipeline_id: i64,
    pub project_id: i64,
    pub inputs: &'a str,
    pub trigger: &'a str,
    pub spec: &'a str,
    pub created_by: Option<i64>,
    pub now: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRunRecord {
    pub id: i64,
    pub execution_id: i64,
    pub stage_index: i64,
    pub stage_name: String,
    pub task_index: i64,
    pub task_name: String,
    pub task_type: String,
    pub status: TaskStatus,
    pub inputs: Option<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    /// When a WAITING approval task expires.
    pub expires_at: Option<Millis>,
}

pub struct TaskStart<'a> {
    pub execution_id: i64,
    pub stage_index: i64,
    pub stage_name: &'a str,
    pub task_index: i64,
    pub task_name: &'a str,
    pub task_type: &'a str,
    pub inputs: Option<&'a str>,
    pub now: Millis,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutionQuery {
    /// Only runs of projects this user is a member of (None: all).
    pub member: Option<i64>,
    pub project_id: Option<i64>,
    pub pipeline_id: Option<i64>,
    pub status: Option<ExecutionStatus>,
    /// The trigger's `kind` (`manual`, `docker`).
    pub trigger: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    pub id: i64,
    pub task_run_id: i64,
    pub at: Millis,
    pub line: String,
}

/// A log line to store, with when the task wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogAppend<'a> {
    pub at: Millis,
    pub line: &'a str,
}

/// How a run ended, as its worker records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunEndRecord<'a> {
    pub status: ExecutionStatus,
    pub error: Option<&'a str>,
    pub now: Millis,
}

/// Which leases [`RunStore::release_leases`] ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseRelease<'a> {
    /// Every running run's: a single server restarting (SQLite, one process).
    Every,
    /// One run's, if `owner` still holds it: a replica shutting down.
    Run { id: i64, owner: &'a str },
}

/// A run taken over from a replica whose lease on it ran out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakenOver {
    pub execution: ExecutionRecord,
    /// The lease owner it was taken from.
    pub previous_owner: String,
}

/// An approval task of a run about to wait, and when it expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitingTask {
    pub task_run_id: i64,
    pub expires_at: Millis,
}

/// What became of a request to park a run until its approvals are decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParkOutcome {
    /// The run is WAITING, held by no replica.
    Parked,
    /// A cancel was asked for: the run was not parked and ends CANCELED.
    CancelRequested,
    /// The caller no longer holds the run's lease.
    NotOwner,
}

/// How a WAITING approval task ends: COMPLETED (approved) or FAILED
/// (rejected, expired), with its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApprovalDecision<'a> {
    pub status: TaskStatus,
    pub output: &'a str,
    pub error: Option<&'a str>,
    pub now: Millis,
}

/// What a cancel request found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was waiting in the queue and is now CANCELED.
    CanceledInQueue,
    /// It was WAITING for approvals, held by no replica: CANCELED at once.
    CanceledWhileWaiting,
    /// It is running; its worker stops it.
    Requested,
    /// It had already finished.
    AlreadyFinished,
}

/// What deleting a pipeline did, or what kept it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PipelineDeletion {
    Deleted,
    /// Webhooks (their names) start it.
    StartedByWebhooks(Vec<String>),
    /// Runs of it are queued, running or waiting.
    HasActiveRuns(i64),
    /// It has finished runs and their deletion was not asked for.
    HasRuns(i64),
}

#[async_trait::async_trait]
pub trait RunStore: Send + Sync {
    async fn list_pipelines(&self, member: Option<i64>) -> StoreResult<Vec<PipelineRecord>>;
    async fn pipeline_by_id(&self, id: i64) -> StoreResult<Option<PipelineRecord>>;
    async fn pipelines_by_name(&self, name: &str) -> StoreResult<Vec<PipelineRecord>>;
    async fn create_pipeline(&self, pipeline: PipelineWrite<'_>) -> StoreResult<PipelineRecord>;
    async fn update_pipeline(
        &self,
        id: i64,
        pipeline: PipelineWrite<'_>,
    ) -> StoreResult<PipelineRecord>;
    /// Deletes the pipeline unless a webhook starts it or a run of it has not
    /// finished; with runs that finished only when `with_runs` says their
    /// history goes too. Checked in the one DELETE, so a run queued meanwhile
    /// cannot be lost.
    async fn delete_pipeline(&self, id: i64, with_runs: bool) -> StoreResult<PipelineDeletion>;

    /// Queues a run with the next run number of its pipeline; runs queued at
    /// once get distinct numbers.
    async fn queue_execution(&self, execution: NewExecution<'_>) -> StoreResult<ExecutionRecord>;
    /// Atomically takes the oldest QUEUED run whose pipeline is under its
    /// concurrency limit, marks it RUNNING and leases it to `owner`.
    async fn claim_execution(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> StoreResult<Option<ExecutionRecord>>;
    /// Extends the lease; answers whether a cancel was requested (None: lease lost).
    async fn renew_lease(
        &self,
        id: i64,
        owner: &str,
        lease_until: Millis,
    ) -> StoreResult<Option<bool>>;
    /// Records the end of a run `owner` holds the lease of; answers false
    /// (and changes nothing) when the run is not `owner`'s any more (its
    /// lease ran out and another replica took it over) or already ended.
    async fn finish_execution(
        &self,
        id: i64,
        owner: &str,
        end: RunEndRecord<'_>,
    ) -> StoreResult<bool>;
    async fn request_cancel(&self, id: i64, now: Millis) -> StoreResult<CancelOutcome>;
    /// Replaces the inputs of a run `owner` holds (the digest its image was
    /// pinned to, found when it started); false when it is not `owner`'s.
    async fn set_execution_inputs(&self, id: i64, owner: &str, inputs: &str) -> StoreResult<bool>;
    /// Takes over the oldest run whose lease ran out (its replica died or
    /// handed it back): leases it to `owner` until `lease_until` and answers
    /// it with the lease owner it was taken from. Compare-and-set on the old
    /// owner and expiry, so of replicas racing for one run exactly one wins.
    async fn take_over_expired_execution(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> StoreResult<Option<TakenOver>>;
    /// Ends leases of running runs at once, so another replica, or this
    /// server after its restart, takes them over without waiting for the
    /// lease to run out. Answers how many.
    async fn release_leases(&self, which: LeaseRelease<'_>, now: Millis) -> StoreResult<u64>;
    async fn execution_by_id(&self, id: i64) -> StoreResult<Option<ExecutionRecord>>;
    async fn list_executions(&self, query: &ExecutionQuery) -> StoreResult<Vec<ExecutionRecord>>;

    async fn start_task(&self, task: TaskStart<'_>) -> StoreResult<i64>;
    async fn finish_task(
        &self,
        id: i64,
        status: TaskStatus,
        output: Option<&str>,
        error: Option<&str>,
        now: Millis,
    ) -> StoreResult<()>;
    /// Stores a task's log lines, in order, as few statements as they fit
    /// in; answers their ids, in the same order (increasing with every line,
    /// across calls too).
    async fn append_logs(&self, task_run_id: i64, lines: &[LogAppend<'_>])
        -> StoreResult<Vec<i64>>;
    async fn task_runs(&self, execution_id: i64) -> StoreResult<Vec<TaskRunRecord>>;
    /// Log lines of all tasks of a run, in order.
    async fn task_logs(&self, execution_id: i64) -> StoreResult<Vec<LogRecord>>;

    /// Parks a RUNNING run held by `owner` until its `waiting` approval
    /// tasks are decided: they (with `output` meanwhile) and the run become
    /// WAITING and the lease ends, in one transaction.
    async fn park_execution(
        &self,
        id: i64,
        owner: &str,
        waiting: &[WaitingTask],
        output: Option<&str>,
        now: Millis,
    ) -> StoreResult<ParkOutcome>;
    /// Ends a WAITING approval task of a run; once none waits, the run is
    /// RUNNING again with no lease, for any replica to continue. False when
    /// the task was not waiting (decided, expired or canceled meanwhile).
    async fn decide_approval(
        &self,
        execution_id: i64,
        task_run_id: i64,
        decision: ApprovalDecision<'_>,
    ) -> StoreResult<bool>;
    /// WAITING approval tasks expired at `now`: (run, task run), at most `limit`.
    async fn expired_approvals(&self, now: Millis, limit: i64) -> StoreResult<Vec<(i64, i64)>>;
    /// WAITING approval tasks, in projects `member` belongs to (all for `None`).
    async fn waiting_approvals(&self, member: Option<i64>) -> StoreResult<Vec<TaskRunRecord>>;
}
