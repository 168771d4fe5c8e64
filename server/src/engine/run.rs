//! One run from claim to its final state.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use app::execution::{ExecutionStatus, TaskStatus, Trigger};
use app::pipeline::{PipelineSpec, Stage, Task};
use futures::future::join_all;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::tasks::{TaskContext, TaskEnd};
use super::{supervised, Engine, PANIC_REASON};
use crate::clock::now_millis;
use crate::errors::INTERNAL_FAILURE;
use crate::pinning::{self, PushedTag};
use crate::store::{ExecutionRecord, LeaseRelease, ParkOutcome, RunEndRecord, WaitingTask};
use app::live::LiveEvent;

/// Outputs of finished tasks by (stage, task), for `${stage.task.output.key}`.
pub type Outputs = HashMap<(String, String), Value>;

enum RunEnd {
    Completed,
    Failed(String),
    Canceled(String),
    /// WAITING for approvals, held by no replica: a decision (on any
    /// replica) or the expiry hands it to a worker again.
    Parked,
    /// The lease passed to another replica, which records the end.
    LeaseLost,
}

/// How a worker came to run a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum RunStart {
    /// Claimed from the queue.
    Fresh,
    /// Its approvals were decided: it goes on after them.
    Resumed,
    /// Its lease ran out at the named replica: the task cut off starts again.
    TakenOver(String),
}

impl RunStart {
    /// A run that ran before keeps what its tasks finished.
    fn ran_before(&self) -> bool {
        !matches!(self, RunStart::Fresh)
    }
}

impl Engine {
    /// Runs `execution` to its end, or until it is handed back (`hand_back`,
    /// at shutdown), parked for approvals or its lease is lost.
    #[tracing::instrument(skip_all, fields(execution = execution.id, pipeline = %execution.pipeline_name, run = execution.run_number))]
    pub(super) async fn run(
        self: &Arc<Self>,
        execution: ExecutionRecord,
        start: RunStart,
        hand_back: CancellationToken,
    ) {
        let cancel = CancellationToken::new();
        let lease_lost = CancellationToken::new();
        self.context
            .signals
            .lock()
            .insert(execution.id, cancel.clone());
        let heartbeat = tokio::spawn(Arc::clone(self).keep_lease(
            execution.id,
            cancel.clone(),
            lease_lost.clone(),
        ));
        let on_hand_back = {
            let cancel = cancel.clone();
            let hand_back = hand_back.clone();
            tokio::spawn(async move {
                hand_back.cancelled().await;
                cancel.cancel();
            })
        };

        match &start {
            RunStart::TakenOver(replica) => tracing::warn!(from = %replica, "run taken over"),
            RunStart::Resumed => tracing::info!("run resumed after its approvals"),
            RunStart::Fresh => tracing::info!("run started"),
        }
        self.context.live.publish(crate::live::execution_event(
            &execution,
            ExecutionStatus::Running,
        ));
        // Tasks catch their own panics (see run_task); this catches the rest,
        // so the worker, the lease and the pipeline's slot are freed either way.
        let stages = self.run_stages(&execution, &start, &cancel);
        let end = supervised("a run", stages)
            .await
            .unwrap_or_else(|| RunEnd::Failed(PANIC_REASON.into()));
        heartbeat.abort();
        on_hand_back.abort();
        self.context.signals.lock().remove(&execution.id);

        let (status, error) = match end {
            RunEnd::Parked => {
                tracing::info!("run waiting for approval");
                self.context.live.publish(crate::live::execution_event(
                    &execution,
                    ExecutionStatus::Waiting,
                ));
                return;
            }
            RunEnd::LeaseLost => {
                tracing::warn!("run stopped: its lease had passed to another replica");
                return;
            }
            RunEnd::Completed => (ExecutionStatus::Completed, None),
            RunEnd::Failed(reason) => (ExecutionStatus::Failed, Some(reason)),
            RunEnd::Canceled(_) if lease_lost.is_cancelled() => {
                tracing::warn!("run stopped: its lease ran out and another replica took it over");
                return;
            }
            RunEnd::Canceled(_) if hand_back.is_cancelled() => {
                self.hand_back(&execution).await;
                return;
            }
            RunEnd::Canceled(reason) => (ExecutionStatus::Canceled, Some(reason)),
        };
        tracing::info!(
            status = status.as_str(),
            error = error.as_deref().unwrap_or(""),
            "run ended"
        );
        let recorded = self
            .context
            .store
            .finish_execution(
                execution.id,
                &self.owner,
                RunEndRecord {
                    status,
                    error: error.as_deref(),
                    now: now_millis(),
                },
            )
            .await;
        match recorded {
            Ok(true) => self.context.metrics.run_finished(status),
            Ok(false) => {
                // Another replica holds the run now and records its end.
                tracing::warn!(
                    "the run's end was not recorded: its lease had passed to another replica"
                );
                return;
            }
            Err(error) => {
                // The lease runs out and another replica (or this one)
                // takes the run over and runs what did not finish.
                tracing::error!(%error, "recording the end of a run failed");
                return;
            }
        }
        self.context
            .live
            .publish(crate::live::execution_event(&execution, status));
        // Off the worker's path: a slow callback host must not hold up the queue.
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let context = &engine.context;
            super::callback::report_run_end(
                &context.secret_box,
                &context.outbound,
                &context.public_url,
                &execution,
                status,
                error.as_deref(),
            )
            .await;
        });
    }

    /// Gives a run this replica stops (shutdown) to the other replicas at
    /// once: its lease ends now instead of running out.
    async fn hand_back(&self, execution: &ExecutionRecord) {
        match self
            .context
            .store
            .release_leases(
                LeaseRelease::Run {
                    id: execution.id,
                    owner: &self.owner,
                },
                now_millis(),
            )
            .await
        {
            Ok(_) => tracing::info!("run handed back for another replica to continue"),
            Err(error) => {
                tracing::warn!(%error, "handing a run back failed; another replica takes it over when its lease runs out")
            }
        }
        self.context.live.publish(crate::live::execution_event(
            execution,
            ExecutionStatus::Running,
        ));
    }

    /// Renews the lease while the run goes on; a cancel requested anywhere
    /// stops the run, and so does a lost lease (`lease_lost` tells which).
    async fn keep_lease(
        self: Arc<Self>,
        execution_id: i64,
        cancel: CancellationToken,
        lease_lost: CancellationToken,
    ) {
        loop {
            tokio::time::sleep(self.heartbeat).await;
            let lease_until = self.lease_until(now_millis());
            match self
                .context
                .store
                .renew_lease(execution_id, &self.owner, lease_until)
                .await
            {
                Ok(Some(false)) => {}
                Ok(Some(true)) => {
                    cancel.cancel();
                    return;
                }
                Ok(None) => {
                    lease_lost.cancel();
                    cancel.cancel();
                    return;
                }
                Err(error) => tracing::warn!(%error, "renewing a run's lease failed"),
            }
        }
    }

    async fn run_stages(
        &self,
        execution: &ExecutionRecord,
        start: &RunStart,
        cancel: &CancellationToken,
    ) -> RunEnd {
        // Stored data that does not read fails the run rather than running
        // with a default: an empty input set could deploy the wrong thing.
        let stored = serde_json::from_str::<PipelineSpec>(&execution.spec).and_then(|spec| {
            serde_json::from_str::<BTreeMap<String, String>>(&execution.inputs)
                .map(|inputs| (spec, inputs))
        });
        let (spec, mut inputs) = match stored {
            Ok(stored) => stored,
            Err(error) => {
                tracing::error!(%error, "a run's stored pipeline or inputs could not be read");
                return RunEnd::Failed(format!(
                    "the stored pipeline or inputs could not be read: {INTERNAL_FAILURE}"
                ));
            }
        };
        if let Err(reason) = self.pin_pushed_image(execution, &mut inputs).await {
            return RunEnd::Failed(reason);
        }
        // A run taken over or resumed keeps what its tasks finished before.
        let mut finished = if start.ran_before() {
            match self.finished_tasks(execution.id).await {
                Ok(finished) => finished,
                Err(reason) => return RunEnd::Failed(reason),
            }
        } else {
            HashMap::new()
        };
        // Said in the log of each task the new replica starts first.
        let mut takeover_note = match start {
            RunStart::TakenOver(replica) => Some(format!("taken over from replica {replica}")),
            RunStart::Fresh | RunStart::Resumed => None,
        };
        let mut outputs = Outputs::new();
        for (stage_index, stage) in spec.stages.iter().enumerate() {
            if cancel.is_cancelled() {
                return RunEnd::Canceled(CANCELED_BY_A_USER.into());
            }
            let kept: Vec<Option<TaskEnd>> = (0..stage.tasks.len())
                .map(|task_index| finished.remove(&(stage_index, task_index)))
                .collect();
            let note = if kept.iter().any(Option::is_none) {
                takeover_note.take()
            } else {
                None
            };
            let context = TaskContext {
                execution,
                stage_index,
                stage,
                inputs: &inputs,
                outputs: &outputs,
                cancel,
                takeover_note: note.as_deref(),
            };
            let context = &context;
            let ends = join_all(stage.tasks.iter().zip(kept).enumerate().map(
                |(task_index, (task, kept))| async move {
                    match kept {
                        Some(end) => end,
                        None => self.run_task(context, task_index, task).await,
                    }
                },
            ))
            .await;
            let mut failure = None;
            let mut canceled = false;
            let mut waiting = Vec::new();
            for (task, end) in stage.tasks.iter().zip(ends) {
                match end {
                    TaskEnd::Completed(output) => {
                        outputs.insert((stage.name.clone(), task.name.clone()), output);
                    }
                    TaskEnd::Skipped => {}
                    TaskEnd::Failed(_) | TaskEnd::FailedWithOutput(..)
                        if task.continue_on_failure => {}
                    TaskEnd::Failed(reason) | TaskEnd::FailedWithOutput(reason, _) => {
                        failure.get_or_insert_with(|| {
                            format!("{}: {}", task_place(stage, task), reason)
                        });
                    }
                    TaskEnd::Canceled => canceled = true,
                    TaskEnd::Waiting(task) => waiting.push(task),
                }
            }
            let end = if canceled {
                Some(RunEnd::Canceled(CANCELED_BY_A_USER.into()))
            } else {
                failure.map(RunEnd::Failed)
            };
            if let Some(end) = end {
                // Approvals of a stage that failed are asked for nothing.
                self.end_unasked_approvals(execution, &waiting).await;
                return end;
            }
            if !waiting.is_empty() {
                // The approver approves a concrete change, not a name.
                let preview = match spec.stages.get(stage_index + 1) {
                    Some(next) => {
                        self.preview_stage(execution, next, &inputs, &outputs, cancel)
                            .await
                    }
                    None => Vec::new(),
                };
                let output = (!preview.is_empty())
                    .then(|| serde_json::json!({ "preview": preview }).to_string());
                return self.park(execution, &waiting, output.as_deref()).await;
            }
        }
        RunEnd::Completed
    }

    /// Parks the run WAITING for the approvals of its stage; a cancel asked
    /// for meanwhile ends it instead. `preview` is the waiting tasks' output
    /// meanwhile: what the next stage would change.
    async fn park(
        &self,
        execution: &ExecutionRecord,
        waiting: &[WaitingTask],
        preview: Option<&str>,
    ) -> RunEnd {
        let store = &self.context.store;
        match store
            .park_execution(execution.id, &self.owner, waiting, preview, now_millis())
            .await
        {
            Ok(ParkOutcome::Parked) => {
                for task in waiting {
                    self.context.live.publish(LiveEvent::Task {
                        execution_id: execution.id,
                        project_id: execution.project_id,
                        task_run_id: task.task_run_id,
                        status: TaskStatus::Waiting,
                    });
                }
                RunEnd::Parked
            }
            Ok(ParkOutcome::CancelRequested) => {
                self.end_unasked_approvals(execution, waiting).await;
                RunEnd::Canceled(CANCELED_BY_A_USER.into())
            }
            Ok(ParkOutcome::NotOwner) => RunEnd::LeaseLost,
            Err(error) => {
                // The lease runs out and a takeover asks for the approval again.
                tracing::error!(%error, "parking a run for its approvals failed");
                RunEnd::LeaseLost
            }
        }
    }

    /// Approval tasks whose run ends before it waits for them end CANCELED.
    async fn end_unasked_approvals(&self, execution: &ExecutionRecord, waiting: &[WaitingTask]) {
        for task in waiting {
            let recorded = self
                .context
                .store
                .finish_task(
                    task.task_run_id,
                    TaskStatus::Canceled,
                    None,
                    Some("not asked: the run ended before its approvals"),
                    now_millis(),
                )
                .await;
            if let Err(error) = recorded {
                tracing::warn!(%error, "recording an approval that was not asked failed");
            }
            self.context.live.publish(LiveEvent::Task {
                execution_id: execution.id,
                project_id: execution.project_id,
                task_run_id: task.task_run_id,
                status: TaskStatus::Canceled,
            });
        }
    }

    /// A Docker-triggered run whose push was accepted without a digest (its
    /// registry did not answer then, or it is a re-run of such a run) asks
    /// the registry again before its first task, and keeps the answer with
    /// its inputs; a tag that still cannot be resolved fails the run with
    /// the registry's answer.
    async fn pin_pushed_image(
        &self,
        execution: &ExecutionRecord,
        inputs: &mut BTreeMap<String, String>,
    ) -> Result<(), String> {
        if pinning::is_pinned(inputs) {
            return Ok(());
        }
        let Ok(trigger) = serde_json::from_str::<Trigger>(&execution.trigger) else {
            return Ok(());
        };
        let (Some(endpoint_id), Some(pushed)) =
            (trigger.registry_endpoint_id, PushedTag::of_inputs(inputs))
        else {
            return Ok(());
        };
        let context = &self.context;
        let resolved = pinning::resolve(
            &context.store,
            &context.secret_box,
            &context.outbound,
            execution.project_id,
            endpoint_id,
            &pushed,
        )
        .await
        .map_err(|answer| {
            format!(
                "the pushed image {}:{} could not be resolved to a digest: {answer}",
                pushed.image, pushed.tag
            )
        })?;
        let image = pushed.image.to_string();
        pinning::pin(inputs, &resolved.registry_host, &image, &resolved.digest);
        if let Some(event_id) = trigger.event_id {
            // The Activity row shows what was deployed; a failure here is
            // the page's loss, not the run's.
            if let Err(error) = context
                .store
                .set_event_digest(event_id, &resolved.digest)
                .await
            {
                tracing::warn!(%error, "recording the resolved digest on the Activity row failed");
            }
        }
        let stored = serde_json::to_string(inputs).map_err(|_| INTERNAL_FAILURE.to_string())?;
        match context
            .store
            .set_execution_inputs(execution.id, &self.owner, &stored)
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::error!(%error, "keeping a run's resolved digest failed");
                Err(INTERNAL_FAILURE.to_string())
            }
        }
    }

    /// The ends of the tasks a run finished before it was taken over, by
    /// (stage, task) index. Tasks cut off (RUNNING, or CANCELED by a
    /// hand-back) are left out: they start again.
    async fn finished_tasks(
        &self,
        execution_id: i64,
    ) -> Result<HashMap<(usize, usize), TaskEnd>, String> {
        let records = self
            .context
            .store
            .task_runs(execution_id)
            .await
            .map_err(|error| {
                tracing::error!(%error, "reading the tasks of a run taken over failed");
                format!("reading the tasks of the run failed: {INTERNAL_FAILURE}")
            })?;
        let mut finished = HashMap::new();
        for record in records {
            let end = match record.status {
                TaskStatus::Completed => TaskEnd::Completed(
                    record
                        .output
                        .as_deref()
                        .and_then(|output| serde_json::from_str(output).ok())
                        .unwrap_or(Value::Null),
                ),
                TaskStatus::Skipped => TaskEnd::Skipped,
                TaskStatus::Failed => TaskEnd::Failed(record.error.unwrap_or_default()),
                TaskStatus::Running | TaskStatus::Waiting | TaskStatus::Canceled => continue,
            };
            let (Ok(stage), Ok(task)) = (
                usize::try_from(record.stage_index),
                usize::try_from(record.task_index),
            ) else {
                continue;
            };
            finished.insert((stage, task), end);
        }
        Ok(finished)
    }
}

/// Why a run ends CANCELED: a cancel made on any replica (a hand-back or a
/// lost lease end the run here without recording it).
const CANCELED_BY_A_USER: &str = "canceled by a user";

fn task_place(stage: &Stage, task: &Task) -> String {
    format!("{}.{}", stage.name, task.name)
}
