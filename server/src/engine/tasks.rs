//! Running one task: precondition, bindings, the task itself, and its record
//! (status, resolved inputs, output, log lines, error).

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use app::endpoint::EndpointKind;
use app::execution::{LogLine, TaskStatus};
use app::expression::{self, ExpressionContext};
use app::live::LiveEvent;
use app::model::Millis;
use app::pipeline::{
    binding_text, lookup_json, Binding, KubernetesTask, PollTask, RestTask, Stage, Task, TaskSpec,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::run::Outputs;
use super::{supervised, Engine, EngineContext, PANIC_REASON};
use crate::clock::now_millis;
use crate::errors::{Refusal, INTERNAL_FAILURE};
use crate::store::{ExecutionRecord, LogAppend, WaitingTask};
use crate::{connect, deploy, endpoints};

/// How much of a response body a REST or Poll task keeps in its output.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// The most of a response a REST or Poll task reads: a larger answer fails
/// the attempt ("the response was larger than … bytes") without being read.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Requests of REST and Poll tasks give up after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct TaskContext<'a> {
    pub execution: &'a ExecutionRecord,
    pub stage_index: usize,
    pub stage: &'a Stage,
    pub inputs: &'a BTreeMap<String, String>,
    pub outputs: &'a Outputs,
    pub cancel: &'a CancellationToken,
    /// The first line of each task's log when the run was taken over from
    /// another replica ("taken over from replica X").
    pub takeover_note: Option<&'a str>,
}

pub(super) enum TaskEnd {
    Completed(Value),
    Skipped,
    Failed(String),
    /// Failed, with the output the task still has (a failed rollout: what it rolled back).
    FailedWithOutput(String, Value),
    Canceled,
    /// An approval task asks for a decision: its run is parked WAITING once
    /// the other tasks of the stage have ended.
    Waiting(WaitingTask),
}

/// How a Kubernetes task's deploy did not complete.
pub(super) enum DeployEnd {
    Failed {
        reason: String,
        output: Option<Value>,
    },
    Canceled,
}

/// Why a REST or Poll request gave no usable answer. A Poll task tries again
/// after a `Retry` (a peer may come up) but fails at once on a `Final` one (no
/// HTTP method, private egress denied, an answer over [`MAX_RESPONSE_BYTES`]).
enum RequestFailure {
    Retry(String),
    Final(String),
}

impl RequestFailure {
    fn into_reason(self) -> String {
        match self {
            RequestFailure::Retry(reason) | RequestFailure::Final(reason) => reason,
        }
    }
}

/// What bindings and expressions read: the run's inputs, earlier outputs and,
/// for Poll conditions, the response.
struct Values<'a> {
    inputs: &'a BTreeMap<String, String>,
    outputs: &'a Outputs,
    response: Option<&'a Value>,
}

impl ExpressionContext for Values<'_> {
    fn resolve(&self, binding: &Binding) -> Option<String> {
        match binding {
            Binding::Input(name) => self.inputs.get(name).cloned(),
            Binding::Output { stage, task, key } => self
                .outputs
                .get(&(stage.clone(), task.clone()))
                .and_then(|output| lookup_json(output, key.split('.')))
                .map(binding_text),
        }
    }

    fn response(&self) -> Option<&Value> {
        self.response
    }
}

/// Log lines one write stores at most: a task that logs a burst (a diff, a
/// response body) has it stored in a few statements, not one per line, so it
/// does not queue a write per line for the one SQLite writer.
const LOG_LINES_PER_WRITE: usize = 256;

/// Writes log lines in order, off the task's path, every line waiting at that
/// moment in one statement, and announces each one stored to the run's live
/// readers; `finish` waits until all are stored.
struct LogWriter {
    sender: mpsc::UnboundedSender<(Millis, String)>,
    writer: tokio::task::JoinHandle<()>,
}

impl LogWriter {
    fn start(context: &EngineContext, task: TaskOf) -> Self {
        let (sender, mut lines) = mpsc::unbounded_channel::<(Millis, String)>();
        let store = context.store.clone();
        let live = context.live.clone();
        let writer = tokio::spawn(async move {
            let mut waiting = Vec::new();
            while lines.recv_many(&mut waiting, LOG_LINES_PER_WRITE).await > 0 {
                let appends: Vec<LogAppend<'_>> = waiting
                    .iter()
                    .map(|(at, line)| LogAppend { at: *at, line })
                    .collect();
                match store.append_logs(task.task_run_id, &appends).await {
                    Ok(ids) => {
                        for (id, (at, line)) in ids.into_iter().zip(waiting.drain(..)) {
                            live.publish(LiveEvent::Log {
                                execution_id: task.execution_id,
                                project_id: task.project_id,
                                task_run_id: task.task_run_id,
                                line: LogLine { id, at, line },
                            });
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, lines = waiting.len(), "storing log lines failed");
                        waiting.clear();
                    }
                }
            }
        });
        LogWriter { sender, writer }
    }

    /// Queues a line, stamped with the time it was written, not stored.
    fn line(&self, line: impl Into<String>) {
        queue_line(&self.sender, line.into());
    }

    /// The same, for a caller that keeps its log beyond a borrow of this one.
    fn detached(&self) -> impl Fn(String) + Send + Sync + 'static {
        let sender = self.sender.clone();
        move |line| queue_line(&sender, line)
    }

    async fn finish(self) {
        drop(self.sender);
        let _ = self.writer.await;
    }
}

/// Stamps a line with the time it was written and hands it to the writer; a
/// line sent after the writer finished (the task is over) has nowhere to go.
fn queue_line(sender: &mpsc::UnboundedSender<(Millis, String)>, line: String) {
    let _ = sender.send((now_millis(), line));
}

/// Which task run of which run (and project) an announcement is about.
#[derive(Clone, Copy)]
struct TaskOf {
    execution_id: i64,
    project_id: i64,
    task_run_id: i64,
}

impl TaskOf {
    fn event(self, status: TaskStatus) -> LiveEvent {
        LiveEvent::Task {
            execution_id: self.execution_id,
            project_id: self.project_id,
            task_run_id: self.task_run_id,
            status,
        }
    }
}

impl Engine {
    pub(super) async fn run_task(
        &self,
        context: &TaskContext<'_>,
        task_index: usize,
        task: &Task,
    ) -> TaskEnd {
        let store = &self.context.store;
        let values = Values {
            inputs: context.inputs,
            outputs: context.outputs,
            response: None,
        };
        let resolved = task.spec.resolved(|binding| values.resolve(binding));
        let inputs_json = match &resolved {
            Ok(spec) => serde_json::to_string(spec).ok(),
            Err(_) => None,
        };
        let task_run_id = match store
            .start_task(crate::store::TaskStart {
                execution_id: context.execution.id,
                stage_index: context.stage_index as i64,
                stage_name: &context.stage.name,
                task_index: task_index as i64,
                task_name: &task.name,
                task_type: task.spec.kind(),
                inputs: inputs_json.as_deref(),
                now: now_millis(),
            })
            .await
        {
            Ok(id) => id,
            Err(error) => return TaskEnd::Failed(format!("recording the task failed: {error}")),
        };
        let task_of = TaskOf {
            execution_id: context.execution.id,
            project_id: context.execution.project_id,
            task_run_id,
        };
        self.context
            .live
            .publish(task_of.event(TaskStatus::Running));
        let log = LogWriter::start(&self.context, task_of);
        if let Some(note) = context.takeover_note {
            log.line(format!("{note}: the task starts here"));
        }

        let work = async {
            match (&task.precondition, resolved) {
                (_, Err(error)) => TaskEnd::Failed(error.to_string()),
                (Some(precondition), Ok(spec)) => {
                    match expression::evaluate(precondition, &values) {
                        Ok(true) => self.execute(context, &spec, &values, &log).await,
                        Ok(false) => {
                            log.line(format!("precondition `{precondition}` is false: skipped"));
                            TaskEnd::Skipped
                        }
                        Err(error) => TaskEnd::Failed(format!("precondition: {error}")),
                    }
                }
                (None, Ok(spec)) => self.execute(context, &spec, &values, &log).await,
            }
        };
        let started = std::time::Instant::now();
        // A panic ends this task FAILED (and so its run), never the worker.
        let end = supervised("a task", work)
            .await
            .unwrap_or_else(|| TaskEnd::Failed(PANIC_REASON.into()));

        if let TaskEnd::Failed(reason) | TaskEnd::FailedWithOutput(reason, _) = &end {
            log.line(format!("failed: {reason}"));
        }
        log.finish().await;
        let (status, output, error) = match &end {
            TaskEnd::Completed(output) => (TaskStatus::Completed, Some(output.to_string()), None),
            TaskEnd::Skipped => (TaskStatus::Skipped, None, None),
            TaskEnd::Failed(reason) => (TaskStatus::Failed, None, Some(reason.as_str())),
            TaskEnd::FailedWithOutput(reason, output) => (
                TaskStatus::Failed,
                Some(output.to_string()),
                Some(reason.as_str()),
            ),
            TaskEnd::Canceled => (TaskStatus::Canceled, None, Some("canceled")),
            TaskEnd::Waiting(waiting) => {
                // Recorded WAITING with its run, once the stage has ended.
                return TaskEnd::Waiting(WaitingTask {
                    task_run_id,
                    ..*waiting
                });
            }
        };
        self.context
            .metrics
            .task_finished(task.spec.kind(), status, started.elapsed());
        if let Err(error) = store
            .finish_task(task_run_id, status, output.as_deref(), error, now_millis())
            .await
        {
            tracing::error!(%error, "recording the end of a task failed");
        }
        self.context.live.publish(task_of.event(status));
        end
    }

    async fn execute(
        &self,
        context: &TaskContext<'_>,
        spec: &TaskSpec,
        values: &Values<'_>,
        log: &LogWriter,
    ) -> TaskEnd {
        match spec {
            TaskSpec::Kubernetes(task) => self.kubernetes(context, task, log).await,
            TaskSpec::Rest(task) => self.rest(context, task, log).await,
            TaskSpec::Poll(task) => self.poll(context, task, values, log).await,
            TaskSpec::Approval(task) => {
                let expires_at =
                    now_millis().saturating_add(task.expires_after_seconds.saturating_mul(1000));
                log.line(format!(
                    "waiting for approval by {}; it expires at {}",
                    app::approval::who_decides(&task.approvers, &task.approver_roles),
                    crate::clock::rfc3339(expires_at)
                ));
                TaskEnd::Waiting(WaitingTask {
                    task_run_id: 0,
                    expires_at,
                })
            }
            TaskSpec::Condition(task) => match expression::evaluate(&task.expression, values) {
                Ok(true) => {
                    log.line(format!("condition `{}` holds", task.expression));
                    TaskEnd::Completed(json!({ "result": true }))
                }
                Ok(false) => TaskEnd::Failed(format!("condition `{}` is false", task.expression)),
                Err(error) => TaskEnd::Failed(format!("condition: {error}")),
            },
        }
    }

    async fn kubernetes(
        &self,
        context: &TaskContext<'_>,
        task: &KubernetesTask,
        log: &LogWriter,
    ) -> TaskEnd {
        // The deploy module wants a log it may keep.
        let step_log = log.detached();
        match self
            .deploy(
                context.execution.project_id,
                task,
                &step_log,
                context.cancel.clone(),
            )
            .await
        {
            Ok(output) => TaskEnd::Completed(output),
            Err(DeployEnd::Canceled) => TaskEnd::Canceled,
            Err(DeployEnd::Failed {
                reason,
                output: Some(output),
            }) => TaskEnd::FailedWithOutput(reason, output),
            Err(DeployEnd::Failed { reason, .. }) => TaskEnd::Failed(reason),
        }
    }

    /// A Kubernetes task from its endpoint to its output: connects to the
    /// endpoint of the run's project and runs the task there.
    pub(super) async fn deploy(
        &self,
        project_id: i64,
        task: &KubernetesTask,
        step_log: &deploy::StepLog,
        cancel: CancellationToken,
    ) -> Result<Value, DeployEnd> {
        let failed = |reason: String| DeployEnd::Failed {
            reason,
            output: None,
        };
        let (endpoint, secrets) = endpoints::in_project(
            &self.context.store,
            &self.context.secret_box,
            project_id,
            &task.endpoint,
            EndpointKind::Kubernetes,
        )
        .await
        .map_err(|refusal| match refusal {
            Refusal::Reason(reason) => failed(reason),
            Refusal::Internal => failed(INTERNAL_FAILURE.into()),
        })?;
        let action = deploy::KubernetesAction::from_str(task.action.as_str())
            .map_err(|error| failed(error.to_string()))?;
        if let Err(denied) = self.context.outbound.check_egress(&endpoint.url).await {
            return Err(failed(format!(
                "connecting to endpoint '{}': {denied}",
                endpoint.name
            )));
        }
        let client = connect::kube_client(
            &endpoint,
            &secrets,
            connect::KubeTimeouts::for_requests(REQUEST_TIMEOUT),
            &self.context.outbound.kube_requests,
        )
        .await
        .map_err(|error| {
            failed(format!(
                "connecting to endpoint '{}': {error}",
                endpoint.name
            ))
        })?;
        let deployment = deploy::KubernetesTask {
            action,
            yaml: task.yaml.clone(),
            continue_on_conflict: task.continue_on_conflict,
            wait_for_rollout: task.wait_for_rollout,
            rollout_timeout: Duration::from_secs(task.rollout_timeout_seconds),
            field_manager: deploy::DEFAULT_FIELD_MANAGER.to_string(),
            to_revision: task.to_revision.filter(|revision| *revision > 0),
            rollback_on_failure: task.rollback_on_failure,
            dry_run: task.dry_run,
            stuck_pod_grace: deploy::DEFAULT_STUCK_POD_GRACE,
        };
        step_log(format!(
            "{}{} on {} ({})",
            action.as_str(),
            if task.dry_run { " (dry run)" } else { "" },
            endpoint.name,
            endpoint.url
        ));
        let namespace = endpoint.settings.namespace.clone().unwrap_or_default();
        deploy::run(client, &namespace, &deployment, step_log, cancel)
            .await
            .map_err(|error| match error {
                deploy::DeployError::Canceled => DeployEnd::Canceled,
                // What a failed rollout rolled back stays in the task's output.
                error => DeployEnd::Failed {
                    output: error.rolled_back_output(),
                    reason: error.to_string(),
                },
            })
    }

    /// What the Kubernetes tasks of `stage` (the one after an approval)
    /// would change, by server-side dry runs, for the approver to see:
    /// `[{"task": "stage.task", "diff": …} | {"task", "error"}]`. Bindings
    /// are resolved with what the run has now; a task whose text needs the
    /// approval's own output cannot be previewed and says so. Its log goes
    /// to the server's log, not to a task's.
    pub(super) async fn preview_stage(
        &self,
        execution: &ExecutionRecord,
        stage: &Stage,
        inputs: &BTreeMap<String, String>,
        outputs: &Outputs,
        cancel: &CancellationToken,
    ) -> Vec<Value> {
        let values = Values {
            inputs,
            outputs,
            response: None,
        };
        let mut previews = Vec::new();
        for task in &stage.tasks {
            let TaskSpec::Kubernetes(kubernetes) = &task.spec else {
                continue;
            };
            let place = format!("{}.{}", stage.name, task.name);
            if !matches!(
                kubernetes.action,
                app::pipeline::KubernetesAction::Apply | app::pipeline::KubernetesAction::Create
            ) {
                continue;
            }
            let resolved = match task.spec.resolved(|binding| values.resolve(binding)) {
                Ok(TaskSpec::Kubernetes(resolved)) => resolved,
                Ok(_) => continue,
                Err(error) => {
                    previews.push(json!({
                        "task": place,
                        "error": format!("not previewed: {error}"),
                    }));
                    continue;
                }
            };
            let dry_run = KubernetesTask {
                dry_run: true,
                wait_for_rollout: false,
                rollback_on_failure: false,
                ..resolved
            };
            let step_log = |line: String| tracing::debug!(%line, "approval preview");
            let answer = self
                .deploy(execution.project_id, &dry_run, &step_log, cancel.clone())
                .await;
            previews.push(match answer {
                Ok(output) => json!({ "task": place, "diff": output.get("diff") }),
                Err(DeployEnd::Failed { reason, .. }) => {
                    json!({ "task": place, "error": format!("the dry run failed: {reason}") })
                }
                Err(DeployEnd::Canceled) => break,
            });
        }
        previews
    }

    /// Sends the request of a REST or Poll task; the answer is (status, body as JSON or text).
    async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &BTreeMap<String, String>,
        body: Option<&str>,
        cancel: &CancellationToken,
    ) -> Result<Option<(u16, Value)>, RequestFailure> {
        let method = reqwest::Method::from_str(&method.to_ascii_uppercase())
            .map_err(|_| RequestFailure::Final(format!("'{method}' is not an HTTP method")))?;
        let outbound = &self.context.outbound;
        outbound.check_egress(url).await.map_err(|denied| {
            RequestFailure::Final(format!("the request to {url} was not sent: {denied}"))
        })?;
        let client = outbound
            .task_client()
            .map_err(|error| RequestFailure::Final(error.to_string()))?;
        let mut request = client.request(method, url).timeout(REQUEST_TIMEOUT);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = tokio::select! {
            response = request.send() => response.map_err(|error| {
                let cause = connect::describe_transport_failure(&error, REQUEST_TIMEOUT);
                let reason = format!("the request to {url} failed: {cause}");
                // Refused by --deny-private-egress (a name or a redirect): asking again won't help.
                if cause.starts_with(connect::EGRESS_DENIED_PREFIX) {
                    RequestFailure::Final(reason)
                } else {
                    RequestFailure::Retry(reason)
                }
            })?,
            _ = cancel.cancelled() => return Ok(None),
        };
        let status = response.status().as_u16();
        let bytes = tokio::select! {
            bytes = connect::read_capped(response, MAX_RESPONSE_BYTES) => bytes.map_err(|error| {
                let reason = format!("{url} answered {status}, but {error}");
                match error {
                    connect::ReadError::TooLarge { .. } => RequestFailure::Final(reason),
                    connect::ReadError::Failed(_) => RequestFailure::Retry(reason),
                }
            })?,
            _ = cancel.cancelled() => return Ok(None),
        };
        let kept = &bytes[..bytes.len().min(MAX_BODY_BYTES)];
        let body = serde_json::from_slice::<Value>(kept)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(kept).into_owned()));
        Ok(Some((status, body)))
    }

    async fn rest(&self, context: &TaskContext<'_>, task: &RestTask, log: &LogWriter) -> TaskEnd {
        log.line(format!("{} {}", task.method.to_ascii_uppercase(), task.url));
        match self
            .request(
                &task.method,
                &task.url,
                &task.headers,
                task.body.as_deref(),
                context.cancel,
            )
            .await
        {
            Err(failure) => TaskEnd::Failed(failure.into_reason()),
            Ok(None) => TaskEnd::Canceled,
            Ok(Some((status, body))) => {
                log.line(format!("answered {status}"));
                if task.accepts_status(status) {
                    TaskEnd::Completed(json!({ "status": status, "body": body }))
                } else {
                    TaskEnd::Failed(format!(
                        "{} answered {status}, which is not an expected status",
                        task.url
                    ))
                }
            }
        }
    }

    async fn poll(
        &self,
        context: &TaskContext<'_>,
        task: &PollTask,
        values: &Values<'_>,
        log: &LogWriter,
    ) -> TaskEnd {
        let started = Instant::now();
        let timeout = Duration::from_secs(task.timeout_seconds);
        let interval = Duration::from_secs(task.interval_seconds.max(1));
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let answer = self
                .request(
                    &task.method,
                    &task.url,
                    &task.headers,
                    task.body.as_deref(),
                    context.cancel,
                )
                .await;
            match answer {
                Ok(None) => return TaskEnd::Canceled,
                Err(RequestFailure::Final(reason)) => return TaskEnd::Failed(reason),
                Err(RequestFailure::Retry(reason)) => {
                    log.line(format!("attempt {attempt}: {reason}"))
                }
                Ok(Some((status, body))) => {
                    let with_response = Values {
                        inputs: values.inputs,
                        outputs: values.outputs,
                        response: Some(&body),
                    };
                    match expression::evaluate(&task.condition, &with_response) {
                        Ok(true) => {
                            log.line(format!("attempt {attempt}: {status}, condition holds"));
                            return TaskEnd::Completed(
                                json!({ "status": status, "body": body, "attempts": attempt }),
                            );
                        }
                        Ok(false) => log.line(format!(
                            "attempt {attempt}: {status}, condition not yet true"
                        )),
                        Err(error) => return TaskEnd::Failed(format!("condition: {error}")),
                    }
                }
            }
            if task.max_attempts.is_some_and(|limit| attempt >= limit) {
                return TaskEnd::Failed(format!(
                    "the condition did not hold after {attempt} attempts"
                ));
            }
            // Saturating: an interval near u64::MAX seconds must fail the task, not panic.
            if started.elapsed().saturating_add(interval) > timeout {
                return TaskEnd::Failed(format!(
                    "the condition did not hold within {} s",
                    task.timeout_seconds
                ));
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = context.cancel.cancelled() => return TaskEnd::Canceled,
            }
        }
    }
}
