//! Pipeline definitions as data: what the API accepts (as JSON or YAML, read by
//! the server), what the editor in the browser shows and checks, and what the
//! engine runs. Pure logic on serde only, because this module is also compiled
//! to wasm.
//!
//! A pipeline has input parameters and stages that run in order; the tasks of
//! a stage run in parallel. Task texts refer to values through bindings:
//! `${input.NAME}` (an input parameter) and `${STAGE.TASK.output.KEY}` (the
//! output of a task in an earlier stage). `$${` writes a literal `${`.

//!
//! The definition's types are here; the task types and what the editor
//! reads and writes of them are in `tasks`, bindings in `bindings`, and the
//! checks in `validate`.

mod bindings;
mod tasks;
mod validate;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub use bindings::{
    binding_text, bindings_in, lookup_json, substitute, substitute_in, Binding, Placement,
    UnresolvedBinding,
};
pub(crate) use bindings::{percent_encoded, pieces, Piece};
pub use tasks::{
    headers_text, parse_headers, parse_statuses, statuses_text, ApprovalTask, ConditionTask,
    KubernetesAction, KubernetesTask, PollTask, RestTask, Task, TaskRequest, TaskRequestMut,
    TaskSpec,
};
pub use validate::{validate, SpecError, MAX_CONCURRENCY, MAX_DURATION_SECONDS, MAX_POLL_ATTEMPTS};

/// The input parameters a Docker trigger fills from the push event, when a
/// pipeline asks for them with `inject_docker_parameters`. The one table of
/// them: the trigger, the editor and the validation all read it.
pub const DOCKER_PARAMETERS: &[(&str, &str)] = &[
    (
        "DOCKER_OWNER_NAME",
        "Owner of the repository the image was pushed to (Docker Hub user or organization)",
    ),
    (
        "DOCKER_IMAGE",
        "Image repository without the tag, e.g. svendowideit/testhook",
    ),
    (
        "DOCKER_REPO_NAME",
        "Repository name without its namespace, e.g. testhook",
    ),
    (
        "DOCKER_REPO_NAMESPACE",
        "Repository namespace, e.g. svendowideit",
    ),
    ("DOCKER_TAG", "The pushed tag, e.g. latest"),
    (
        "DOCKER_DIGEST",
        "Manifest digest (sha256:…) of the pushed image: from the push, else resolved from the registry when the push is accepted",
    ),
    (
        "DOCKER_IMAGE_REF",
        "The pushed image pinned by digest, e.g. docker.io/svendowideit/testhook@sha256:…: deploy this, not the tag",
    ),
    (
        "DOCKER_REGISTRY",
        "Registry the image was pushed to, e.g. docker.io",
    ),
    (
        "DOCKER_PUSHED_AT",
        "When the image was pushed, as reported by the registry",
    ),
    (
        "DOCKER_EVENT_ID",
        "Id of the push event as the registry sent it (registry notifications; empty for Docker Hub)",
    ),
];

/// Whether `name` is one of the [`DOCKER_PARAMETERS`].
pub fn is_docker_parameter(name: &str) -> bool {
    DOCKER_PARAMETERS.iter().any(|(docker, _)| *docker == name)
}

/// A pipeline as written by its author.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PipelineSpec {
    /// Name or id of the project the pipeline belongs to.
    pub project: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A disabled pipeline is kept but starts no runs.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// How many runs of this pipeline may be active at once; later ones queue.
    #[serde(default = "one_run_at_a_time")]
    pub concurrency: u32,
    #[serde(default)]
    pub inputs: Vec<InputParameter>,
    /// Adds the [`DOCKER_PARAMETERS`] to the inputs, filled by Docker triggers.
    #[serde(default)]
    pub inject_docker_parameters: bool,
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// Who hears of the run's changes, and how.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Notification>,
}

/// The changes of a run a notification is sent on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum RunEvent {
    Started,
    Waiting,
    Completed,
    Failed,
    Canceled,
}

impl RunEvent {
    pub const ALL: [RunEvent; 5] = [
        RunEvent::Started,
        RunEvent::Waiting,
        RunEvent::Completed,
        RunEvent::Failed,
        RunEvent::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunEvent::Started => "started",
            RunEvent::Waiting => "waiting",
            RunEvent::Completed => "completed",
            RunEvent::Failed => "failed",
            RunEvent::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.as_str() == text)
    }
}

/// One notification of a pipeline: the events it is sent on, and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Notification {
    pub on: Vec<RunEvent>,
    #[serde(flatten)]
    pub target: NotificationTarget,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum NotificationTarget {
    Webhook(WebhookNotification),
    Email(EmailNotification),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookNotification {
    pub url: String,
    #[serde(default)]
    pub format: WebhookFormat,
}

/// `json`: the run's facts as an object; `slack`: `{"text": …}`, which
/// Slack, Teams and Mattermost incoming webhooks all read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum WebhookFormat {
    #[default]
    Json,
    Slack,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EmailNotification {
    pub to: Vec<String>,
}

fn enabled_by_default() -> bool {
    true
}

fn one_run_at_a_time() -> u32 {
    1
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InputParameter {
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scalar_as_text"
    )]
    pub default: Option<String>,
    #[serde(default)]
    pub description: String,
    /// A run cannot start without a value (given, or the default).
    #[serde(default)]
    pub required: bool,
}

/// Input defaults are text, but YAML authors write `default: 3` or
/// `default: true` unquoted; those are read as their text. Decimal numbers
/// are refused because YAML has already turned `1.10` into `1.1`.
fn scalar_as_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    use serde::de::Error;
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(Value::Bool(flag)) => Ok(Some(flag.to_string())),
        Some(Value::Number(number)) if !number.is_f64() => Ok(Some(number.to_string())),
        Some(Value::Number(number)) => Err(D::Error::custom(format!(
            "write the decimal number {number} in quotes: unquoted, YAML reads it as a number and may drop digits"
        ))),
        Some(_) => Err(D::Error::custom(
            "expected a text, a whole number or true/false as default",
        )),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Stage {
    pub name: String,
    /// Run in parallel; the stage ends when all of them have ended.
    #[serde(default)]
    pub tasks: Vec<Task>,
}

impl PipelineSpec {
    /// The declared inputs, then (with `inject_docker_parameters`) the Docker
    /// ones not declared already: declaring one is how an author gives it a
    /// default or a description of their own.
    pub fn effective_inputs(&self) -> Vec<InputParameter> {
        let mut inputs = self.inputs.clone();
        if self.inject_docker_parameters {
            let injected = DOCKER_PARAMETERS
                .iter()
                .filter(|(name, _)| !self.inputs.iter().any(|input| input.name == *name))
                .map(|(name, description)| InputParameter {
                    name: name.to_string(),
                    default: None,
                    description: description.to_string(),
                    required: false,
                });
            inputs.extend(injected);
        }
        inputs
    }
    /// `stage-N` with the first N no stage is named yet: the name of a new stage.
    pub fn unused_stage_name(&self) -> String {
        unused_name("stage", self.stages.iter().map(|stage| stage.name.as_str()))
    }
}

impl Stage {
    /// `task-N` with the first N no task of this stage is named yet: the
    /// name of a new task (names must differ within a stage only).
    pub fn unused_task_name(&self) -> String {
        unused_name("task", self.tasks.iter().map(|task| task.name.as_str()))
    }
}

/// `prefix-N` with the smallest N that none of `taken` is.
fn unused_name<'n>(prefix: &str, taken: impl Iterator<Item = &'n str> + Clone) -> String {
    (1..)
        .map(|n| format!("{prefix}-{n}"))
        .find(|name| !taken.clone().any(|taken| taken == name))
        .unwrap_or_else(|| prefix.to_string())
}
