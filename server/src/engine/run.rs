//! One run from claim to its final state.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use app::execution::ExecutionStatus;
use app::pipeline::{PipelineSpec, Stage, Task};
use futures::future::join_all;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::tasks::{TaskContext, TaskEnd};
use super::{supervised, Engine, HEARTBEAT, LEASE, PANIC_REASON};
use crate::clock::now_millis;
use crate::errors::INTERNAL_FAILURE;
use crate::store::ExecutionRecord;

/// Outputs of finished tasks by (stage, task), for `${stage.task.output.key}`.
pub type Outputs = HashMap<(String, String), Value>;

enum RunEnd {
    Completed,
    Failed(String),
    Canceled(String),
}

impl Engine {
    #[tracing::instrument(skip_all, fields(execution = execution.id, pipeline = %execution.pipeline_name, run = execution.run_number))]
    pub(super) async fn run(
        self: &Arc<Self>,
        execution: ExecutionRecord,
        shutdown: CancellationToken,
    ) {
        let cancel = CancellationToken::new();
        self.context
            .signals
            .lock()
            .insert(execution.id, cancel.clone());
        let heartbeat = tokio::spawn(Arc::clone(self).keep_lease(execution.id, cancel.clone()));
        let on_shutdown = {
            let cancel = cancel.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                cancel.cancel();
            })
        };

        tracing::info!("run started");
        self.context.live.publish(crate::live::execution_event(
            &execution,
            ExecutionStatus::Running,
        ));
        // Tasks catch their own panics (see run_task); this catches the rest,
        // so the worker, the lease and the pipeline's slot are freed either way.
        let end = supervised("a run", self.run_stages(&execution, &cancel, &shutdown))
            .await
            .unwrap_or_else(|| RunEnd::Failed(PANIC_REASON.into()));
        heartbeat.abort();
        on_shutdown.abort();
        self.context.signals.lock().remove(&execution.id);

        let (status, error) = match end {
            RunEnd::Completed => (ExecutionStatus::Completed, None),
            RunEnd::Failed(reason) => (ExecutionStatus::Failed, Some(reason)),
            RunEnd::Canceled(reason) => (ExecutionStatus::Canceled, Some(reason)),
        };
        tracing::info!(
            status = status.as_str(),
            error = error.as_deref().unwrap_or(""),
            "run ended"
        );
        if let Err(error) = self
            .context
            .store
            .finish_execution(execution.id, status, error.as_deref(), now_millis())
            .await
        {
            // The run stays RUNNING until the next start fails it (a sweep of
            // expired leases while the server runs is not yet built).
            tracing::error!(%error, "recording the end of a run failed");
            return;
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

    /// Renews the lease while the run goes on; a cancel requested anywhere
    /// (or a lost lease) stops the run.
    async fn keep_lease(self: Arc<Self>, execution_id: i64, cancel: CancellationToken) {
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            let lease_until = now_millis() + LEASE.as_millis() as i64;
            match self
                .context
                .store
                .renew_lease(execution_id, &self.owner, lease_until)
                .await
            {
                Ok(Some(false)) => {}
                Ok(Some(true)) | Ok(None) => {
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
        cancel: &CancellationToken,
        shutdown: &CancellationToken,
    ) -> RunEnd {
        // Stored data that does not read fails the run rather than running
        // with a default: an empty input set could deploy the wrong thing.
        let stored = serde_json::from_str::<PipelineSpec>(&execution.spec).and_then(|spec| {
            serde_json::from_str::<BTreeMap<String, String>>(&execution.inputs)
                .map(|inputs| (spec, inputs))
        });
        let (spec, inputs) = match stored {
            Ok(stored) => stored,
            Err(error) => {
                tracing::error!(%error, "a run's stored pipeline or inputs could not be read");
                return RunEnd::Failed(format!(
                    "the stored pipeline or inputs could not be read: {INTERNAL_FAILURE}"
                ));
            }
        };
        let mut outputs = Outputs::new();
        for (stage_index, stage) in spec.stages.iter().enumerate() {
            if cancel.is_cancelled() {
                return canceled(shutdown);
            }
            let context = TaskContext {
                execution,
                stage_index,
                stage,
                inputs: &inputs,
                outputs: &outputs,
                cancel,
            };
            let ends = join_all(
                stage
                    .tasks
                    .iter()
                    .enumerate()
                    .map(|(task_index, task)| self.run_task(&context, task_index, task)),
            )
            .await;
            let mut failure = None;
            for (task, end) in stage.tasks.iter().zip(ends) {
                match end {
                    TaskEnd::Completed(output) => {
                        outputs.insert((stage.name.clone(), task.name.clone()), output);
                    }
                    TaskEnd::Skipped => {}
                    TaskEnd::Failed(_) if task.continue_on_failure => {}
                    TaskEnd::Failed(reason) => {
                        failure.get_or_insert_with(|| {
                            format!("{}: {}", task_place(stage, task), reason)
                        });
                    }
                    TaskEnd::Canceled => return canceled(shutdown),
                }
            }
            if let Some(reason) = failure {
                return RunEnd::Failed(reason);
            }
        }
        RunEnd::Completed
    }
}

fn canceled(shutdown: &CancellationToken) -> RunEnd {
    if shutdown.is_cancelled() {
        RunEnd::Failed("interrupted by server shutdown".into())
    } else {
        RunEnd::Canceled("canceled by a user".into())
    }
}

fn task_place(stage: &Stage, task: &Task) -> String {
    format!("{}.{}", stage.name, task.name)
}
