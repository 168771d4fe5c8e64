//! Pipelines as stored, and their runs: executions with stage and task runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Millis;
use crate::pipeline::PipelineSpec;

/// A stored pipeline: its definition plus identity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Pipeline {
    pub id: i64,
    pub project_id: i64,
    #[serde(flatten)]
    pub spec: PipelineSpec,
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub created_at: Millis,
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub updated_at: Millis,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ExecutionStatus {
    Queued,
    Running,
    Waiting,
    Completed,
    Failed,
    Canceled,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 6] = [
        ExecutionStatus::Queued,
        ExecutionStatus::Running,
        ExecutionStatus::Waiting,
        ExecutionStatus::Completed,
        ExecutionStatus::Failed,
        ExecutionStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Queued => "QUEUED",
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Waiting => "WAITING",
            ExecutionStatus::Completed => "COMPLETED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::Canceled => "CANCELED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// A finished run never changes again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ExecutionStatus::Completed | ExecutionStatus::Failed | ExecutionStatus::Canceled
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum TaskStatus {
    Running,
    /// An approval task waiting for a decision.
    Waiting,
    Completed,
    Failed,
    /// Its precondition was false.
    Skipped,
    Canceled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Running => "RUNNING",
            TaskStatus::Waiting => "WAITING",
            TaskStatus::Completed => "COMPLETED",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Skipped => "SKIPPED",
            TaskStatus::Canceled => "CANCELED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            TaskStatus::Running,
            TaskStatus::Waiting,
            TaskStatus::Completed,
            TaskStatus::Failed,
            TaskStatus::Skipped,
            TaskStatus::Canceled,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// The kinds of [`Trigger`]: what the Executions list filters on.
pub const TRIGGER_KINDS: [&str; 2] = ["manual", "docker"];

/// What started a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Trigger {
    /// `manual` or `docker`.
    pub kind: String,
    /// The user the run is attributed to.
    pub user: Option<String>,
    /// For Docker triggers: the Activity row and what was pushed.
    pub event_id: Option<i64>,
    pub repository: Option<String>,
    pub tag: Option<String>,
    /// For Docker triggers: the webhook's Docker registry endpoint, where the
    /// pushed tag is resolved to a digest when the push did not name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_endpoint_id: Option<i64>,
    /// Docker Hub's callback URL for this push, sealed. Kept with the run so
    /// its end can be reported; cleared in every answer and page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ExecutionSummary {
    pub id: i64,
    pub pipeline_id: i64,
    pub pipeline: String,
    pub project_id: i64,
    pub project: String,
    pub run_number: i64,
    pub status: ExecutionStatus,
    pub trigger: Trigger,
    pub error: Option<String>,
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub created_at: Millis,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<i64>))]
    pub started_at: Option<Millis>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<i64>))]
    pub finished_at: Option<Millis>,
    /// The replica (`--replica-id`) running it, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Execution {
    #[serde(flatten)]
    pub summary: ExecutionSummary,
    pub inputs: BTreeMap<String, String>,
    pub stages: Vec<StageRun>,
    /// Whether the caller may cancel it or run it again (executor or above).
    #[serde(default)]
    pub can_execute: bool,
    /// The pipeline's notifications of this run's changes, in the order
    /// they were made (absent from older servers' answers).
    #[serde(default)]
    pub notifications: Vec<NotificationDelivery>,
}

/// Where a notification of a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum NotificationState {
    /// Not sent yet: waiting for its first attempt or its next retry.
    Pending,
    Sent,
    /// Given up: every attempt failed, or the target cannot be reached at all.
    Failed,
}

impl NotificationState {
    pub const ALL: [NotificationState; 3] = [
        NotificationState::Pending,
        NotificationState::Sent,
        NotificationState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationState::Pending => "PENDING",
            NotificationState::Sent => "SENT",
            NotificationState::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

/// One notification of a run's change and how its delivery went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NotificationDelivery {
    pub event: crate::pipeline::RunEvent,
    /// The webhook's URL without its query string (which may hold a token),
    /// or `email to a@example.com, b@example.com`.
    pub target: String,
    /// `json` or `slack` for a webhook, `email` for an email.
    pub format: String,
    pub state: NotificationState,
    /// Deliveries tried so far.
    pub attempts: i64,
    pub last_error: Option<String>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<i64>))]
    pub sent_at: Option<Millis>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StageRun {
    pub name: String,
    /// Derived from its tasks: the stage has no state of its own.
    pub status: Option<TaskStatus>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<i64>))]
    pub started_at: Option<Millis>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<i64>))]
    pub finished_at: Option<Millis>,
    pub tasks: Vec<TaskRun>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TaskRun {
    pub id: i64,
    pub name: String,
    #[serde(rename = "type")]
    pub task_type: String,
    pub status: TaskStatus,
    /// The task's definition with its bindings resolved.
    pub inputs: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<String>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<i64>))]
    pub started_at: Option<Millis>,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<i64>))]
    pub finished_at: Option<Millis>,
    /// An approval task's request, who may decide and whether the reader may.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<crate::approval::ApprovalView>,
    pub log: Vec<LogLine>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LogLine {
    /// Increases with every line stored, across tasks: a page streaming a log
    /// keeps only lines newer than those it fetched.
    #[serde(default)]
    pub id: i64,
    #[cfg_attr(feature = "ssr", schema(value_type = i64))]
    pub at: Millis,
    pub line: String,
}

/// Filters of the Executions list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct ExecutionFilter {
    pub project: Option<i64>,
    pub pipeline: Option<i64>,
    pub status: Option<ExecutionStatus>,
    /// What started the run: [`TRIGGER_KINDS`] (`manual` or `docker`).
    pub trigger: Option<String>,
    /// Executions with an id below this one (for "older" pages).
    pub before: Option<i64>,
    pub limit: Option<u32>,
}
